"""Creating PostgreSQL tables one process at a time, and connections of their own.

Every recorder runs its DDL when it is constructed (``CREATE TABLE IF NOT EXISTS``, ``CREATE OR
REPLACE FUNCTION``, ``CREATE TYPE``), so every ``mynacard`` process does. PostgreSQL's catalog does
not let two sessions do that at once: the second fails with 'tuple concurrently updated' or a
duplicate ``pg_type`` row, and two CLI commands started together would exit 1. The recorders take
this lock around their DDL (a session advisory lock on a connection of its own, so it works
whatever the pool size, and closing that connection releases it even if the process dies).

May import: psycopg, ``eventsourcing.postgres`` and the standard library.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder

SCHEMA_LOCK_KEY = 0x6D796E6163617264  # 'mynacard'


def dedicated_connection(datastore: PostgresDatastore) -> psycopg.Connection[tuple[object, ...]]:
    """A new autocommit connection with the datastore's settings, outside its pool (session
    advisory locks held on it end when it closes, or when the process dies)."""
    params = datastore.pool.kwargs
    connect = params() if callable(params) else dict(params or {})
    kwargs = {k: v for k, v in connect.items() if k != "row_factory"}
    return psycopg.connect(autocommit=True, **kwargs)


@contextmanager
def schema_lock(datastore: PostgresDatastore) -> Iterator[None]:
    """Hold the database-wide lock under which mynacard's recorders create their tables."""
    with dedicated_connection(datastore) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        yield


class LockedTrackingRecorder(PostgresTrackingRecorder):
    """The library's tracking recorder, its tables created under the schema lock (the base of
    every mynacard tracking recorder on PostgreSQL)."""

    def create_table(self) -> None:
        with schema_lock(self.datastore):
            super().create_table()
