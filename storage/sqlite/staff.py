"""The SQLite staff registry: ``staff_tokens``, ``access_records`` (append-only: triggers refuse
an update or a delete) and ``access_counts``, in the event store's own file.

May import: ``eventsourcing.sqlite``, the standard library and ``storage`` (not its PostgreSQL
backend).
"""

from __future__ import annotations

import re
from typing import Any

from eventsourcing.sqlite import SQLiteDatastore

from storage.interface import StaffRegistry
from storage.staff import STAFF_SQL, AccessCount, AccessRecord, StaffToken, access_of, access_query, token_of


def _named(sql: str) -> str:
    return re.sub(r"%\((\w+)\)s", r":\1", sql).format(p="")


_SQL = {k: _named(v) for k, v in STAFF_SQL.items()}

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
]


class SQLiteStaffRegistry(StaffRegistry):
    """Staff tokens and access records in SQLite (see ``storage.interface.StaffRegistry``)."""

    def __init__(self, datastore: SQLiteDatastore) -> None:
        self.datastore = datastore
        with datastore.transaction(commit=True) as c:
            for statement in CREATE:
                c.execute(statement)

    def close(self) -> None:
        self.datastore.close()

    def _one(self, key: str, params: dict[str, Any]) -> Any:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_SQL[key], params)
            return c.fetchone()

    def add_token(self, token: StaffToken) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(_SQL["add_token"], {k: getattr(token, k) for k in token.__dataclass_fields__})

    def token_by_hash(self, token_hash: str) -> StaffToken | None:
        row = self._one("token_by_hash", {"token_hash": token_hash})
        return None if row is None else token_of(row)

    def token_by_id(self, token_id: str) -> StaffToken | None:
        row = self._one("token_by_id", {"token_id": token_id})
        return None if row is None else token_of(row)

    def tokens(self) -> list[StaffToken]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_SQL["tokens"])
            return [token_of(r) for r in c.fetchall()]

    def revoke_token(self, token_id: str, at: str, by: str) -> bool:
        with self.datastore.transaction(commit=True) as c:
            c.execute(_SQL["revoke"], {"token_id": token_id, "at": at, "by": by})
            return bool(c.sqlite_cursor.rowcount)

    def record_access(self, record: AccessRecord) -> None:
        params = {k: getattr(record, k) for k in record.__dataclass_fields__ if k != "position"}
        with self.datastore.transaction(commit=True) as c:
            c.execute(_SQL["record_access"], params)

    def count_access(self, day: str, name: str, role: str, route: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(_SQL["count_access"], {"day": day, "name": name, "role": role, "route": route})

    def access_records(
        self,
        *,
        subject: str | None = None,
        name: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[AccessRecord]:
        sql = _named(access_query("", subject=subject, name=name, since=since, until=until))
        params = {"subject": subject, "name": name, "since": since, "until": until}
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, {**params, "limit": limit, "offset": offset})
            return [access_of(r) for r in c.fetchall()]

    def access_counts(self) -> list[AccessCount]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_SQL["access_counts"])
            return [
                AccessCount(r["day"], r["name"], r["role"], r["route"], int(r["count"])) for r in c.fetchall()
            ]
