"""Files only their owner may read (keys), made so that a kill or a race never leaves a partial one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def create_exclusively(path: Path, text: str) -> bool:
    """Create ``path`` (0600) holding ``text`` unless it exists, atomically: the file appears
    complete or not at all, whatever kills the process, and of several processes creating it at
    once exactly one wins (``os.link`` fails on an existing name). True when this call made it."""
    tmp = write_private_temp(path, text)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    return True


def write_private_temp(path: Path, text: str) -> Path:
    """A new uniquely named file (0600) beside ``path`` holding ``text``, flushed to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    return Path(name)
