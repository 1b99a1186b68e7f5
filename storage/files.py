"""Files of the data directory: key files only their owner may read, made so that a kill or a
race never leaves a partial one, and the check that a directory can hold the store.

May import: the standard library and ``storage.errors``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from storage.errors import ConfigurationError


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


def writable_directory(path: Path, setting: str) -> None:
    """``path`` is a directory this process can write, made if missing; else a configuration error."""
    if path.exists() and not path.is_dir():
        raise ConfigurationError(f"{setting}: {path} is a file, not a directory; choose a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigurationError(
            f"{setting}: cannot create the directory {path} ({e.strerror}); choose a writable place"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigurationError(
            f"{setting}: the directory {path} is not writable by this user; fix its permissions or "
            "choose another"
        )
