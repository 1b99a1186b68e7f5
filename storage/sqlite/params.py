"""SQL shared with the PostgreSQL backend is written with pyformat parameters (``%(name)s``);
SQLite takes them named (``:name``).

May import: the standard library.
"""

from __future__ import annotations

import re

_PYFORMAT = re.compile(r"%\((\w+)\)s")


def named(sql: str) -> str:
    """``%(name)s`` → ``:name``."""
    return _PYFORMAT.sub(r":\1", sql)
