"""Creating PostgreSQL tables one process at a time.

Every recorder runs its DDL when it is constructed (``CREATE TABLE IF NOT EXISTS``, ``CREATE OR
REPLACE FUNCTION``, ``CREATE TYPE``), so every ``mynacard`` process does. PostgreSQL's catalog does
not let two sessions do that at once: the second fails with 'tuple concurrently updated' or a
duplicate ``pg_type`` row, and two CLI commands started together would exit 1. The recorders take
this lock around their DDL (a session advisory lock on a connection of its own, so it works
whatever the pool size, and closing that connection releases it even if the process dies).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from eventsourcing.postgres import PostgresDatastore

SCHEMA_LOCK_KEY = 0x6D796E6163617264  # 'mynacard'


@contextmanager
def schema_lock(datastore: PostgresDatastore) -> Iterator[None]:
    """Hold the database-wide lock under which mynacard's recorders create their tables."""
    params = datastore.pool.kwargs
    connect = params() if callable(params) else dict(params or {})
    kwargs = {k: v for k, v in connect.items() if k != "row_factory"}
    with psycopg.connect(autocommit=True, **kwargs) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        yield
