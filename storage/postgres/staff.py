"""The PostgreSQL staff registry: ``<prefix>_staff_tokens``, ``<prefix>_access_records``
(append-only: a trigger refuses an update or a delete) and ``<prefix>_access_counts`` in the event
store's schema, created under the schema lock.

May import: psycopg, ``eventsourcing.postgres``, the standard library and ``storage`` (not its
SQLite backend).
"""

from __future__ import annotations

import re
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Composed

from storage.interface import StaffRegistry
from storage.postgres.schema import schema_lock
from storage.staff import STAFF_SQL, AccessCount, AccessRecord, StaffToken, access_of, access_query, token_of

CREATE = [
    "CREATE TABLE IF NOT EXISTS {p}staff_tokens (token_id text PRIMARY KEY, token_hash text NOT NULL UNIQUE, "
    "name text NOT NULL, role text NOT NULL, office text, created_at text NOT NULL, "
    "created_by text NOT NULL, revoked_at text, revoked_by text)",
    "CREATE TABLE IF NOT EXISTS {p}access_records (position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
    "recorded_at text NOT NULL, name text NOT NULL, role text NOT NULL, office text, method text NOT NULL, "
    "route text NOT NULL, subject_kind text NOT NULL, subject text NOT NULL, purpose text, "
    "request_id text NOT NULL)",
    "CREATE INDEX IF NOT EXISTS {i}access_records_subject ON {p}access_records (subject)",
    "CREATE OR REPLACE FUNCTION {p}access_records_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'access records are append-only'; END $$",
    "CREATE OR REPLACE TRIGGER {i}access_records_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
    "ON {p}access_records FOR EACH STATEMENT EXECUTE FUNCTION {p}access_records_append_only()",
    "CREATE TABLE IF NOT EXISTS {p}access_counts (day text NOT NULL, name text NOT NULL, role text NOT NULL, "
    "route text NOT NULL, count bigint NOT NULL, PRIMARY KEY (day, name, role, route))",
]


class PostgresStaffRegistry(StaffRegistry):
    """Staff tokens and access records in PostgreSQL (see ``storage.interface.StaffRegistry``)."""

    def __init__(self, datastore: PostgresDatastore, prefix: str) -> None:
        self.datastore = datastore
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", prefix):
            raise ValueError(f"not a plain table prefix: {prefix!r}")
        schema = '"' + datastore.schema.replace('"', '""') + '"'
        self._prefix, self._index_prefix = f"{schema}.{prefix}_", f"{prefix}_"
        self.sql: dict[str, Composed | SQL] = {k: self._compose(v) for k, v in STAFF_SQL.items()}
        with schema_lock(datastore), datastore.transaction(commit=True) as c:
            for statement in CREATE:
                c.execute(self._compose(statement))

    def _compose(self, text: str) -> SQL:
        return SQL(text.replace("{p}", self._prefix).replace("{i}", self._index_prefix))

    def close(self) -> None:
        self.datastore.close()

    def _one(self, key: str, params: dict[str, Any]) -> Any:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql[key], params)
            return c.fetchone()

    def add_token(self, token: StaffToken) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql["add_token"], {k: getattr(token, k) for k in token.__dataclass_fields__})

    def token_by_hash(self, token_hash: str) -> StaffToken | None:
        row = self._one("token_by_hash", {"token_hash": token_hash})
        return None if row is None else token_of(row)

    def token_by_id(self, token_id: str) -> StaffToken | None:
        row = self._one("token_by_id", {"token_id": token_id})
        return None if row is None else token_of(row)

    def tokens(self) -> list[StaffToken]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql["tokens"])
            return [token_of(r) for r in c.fetchall()]

    def revoke_token(self, token_id: str, at: str, by: str) -> bool:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql["revoke"], {"token_id": token_id, "at": at, "by": by})
            return bool(c.rowcount)

    def record_access(self, record: AccessRecord) -> None:
        params = {k: getattr(record, k) for k in record.__dataclass_fields__ if k != "position"}
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql["record_access"], params)

    def count_access(self, day: str, name: str, role: str, route: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql["count_access"], {"day": day, "name": name, "role": role, "route": route})

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
        sql = self._compose(access_query("{p}", subject=subject, name=name, since=since, until=until))
        params = {"subject": subject, "name": name, "since": since, "until": until}
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, {**params, "limit": limit, "offset": offset})
            return [access_of(r) for r in c.fetchall()]

    def access_counts(self) -> list[AccessCount]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql["access_counts"])
            return [
                AccessCount(r["day"], r["name"], r["role"], r["route"], int(r["count"])) for r in c.fetchall()
            ]
