"""The SQLite staff registry: ``staff_tokens``, ``access_records`` (append-only: triggers refuse
an update or a delete) and ``access_counts``, in the event store's own file.

May import: ``eventsourcing.sqlite``, the standard library and ``storage`` (not its PostgreSQL
backend).
"""

from __future__ import annotations

from typing import Any

from eventsourcing.sqlite import SQLiteDatastore

from storage.sqlite.params import named
from storage.staff_recorder import SqlStaffRegistry

CREATE = [
    "CREATE TABLE IF NOT EXISTS staff_tokens (token_id TEXT PRIMARY KEY, token_hash TEXT NOT NULL UNIQUE, "
    "name TEXT NOT NULL, role TEXT NOT NULL, office TEXT, created_at TEXT NOT NULL, "
    "created_by TEXT NOT NULL, revoked_at TEXT, revoked_by TEXT)",
    "CREATE TABLE IF NOT EXISTS access_records (position INTEGER PRIMARY KEY AUTOINCREMENT, "
    "recorded_at TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL, office TEXT, method TEXT NOT NULL, "
    "route TEXT NOT NULL, subject_kind TEXT NOT NULL, subject TEXT NOT NULL, purpose TEXT, "
    "request_id TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS access_records_subject ON access_records (subject)",
    "CREATE TRIGGER IF NOT EXISTS access_records_no_update BEFORE UPDATE ON access_records "
    "BEGIN SELECT RAISE(ABORT, 'access records are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS access_records_no_delete BEFORE DELETE ON access_records "
    "BEGIN SELECT RAISE(ABORT, 'access records are append-only'); END",
    "CREATE TABLE IF NOT EXISTS access_counts (day TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL, "
    "route TEXT NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (day, name, role, route))",
    "CREATE TABLE IF NOT EXISTS revocation_sightings (serial TEXT NOT NULL, listed_in bigint NOT NULL, "
    "channel TEXT NOT NULL, first_at TEXT NOT NULL, PRIMARY KEY (serial, listed_in, channel))",
]


class SQLiteStaffRegistry(SqlStaffRegistry):
    """Staff tokens and access records in SQLite (see ``storage.interface.StaffRegistry``)."""

    def __init__(self, datastore: SQLiteDatastore) -> None:
        super().__init__(datastore, "", named)
        with datastore.transaction(commit=True) as c:
            for statement in CREATE:
                c.execute(statement)

    def rowcount(self, cursor: Any) -> int:
        return int(cursor.sqlite_cursor.rowcount)
