"""The PostgreSQL staff registry: ``<prefix>_staff_tokens``, ``<prefix>_access_records``
(append-only: a trigger refuses an update or a delete) and ``<prefix>_access_counts`` in the event
store's schema, created under the schema lock.

May import: psycopg, ``eventsourcing.postgres``, the standard library and ``storage`` (not its
SQLite backend).
"""

from __future__ import annotations

import re

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL

from storage.postgres.schema import schema_lock
from storage.staff_recorder import SqlStaffRegistry

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
    "CREATE TABLE IF NOT EXISTS {p}revocation_sightings (serial text NOT NULL, listed_in bigint NOT NULL, "
    "channel text NOT NULL, first_at text NOT NULL, PRIMARY KEY (serial, listed_in, channel))",
]


class PostgresStaffRegistry(SqlStaffRegistry):
    """Staff tokens and access records in PostgreSQL (see ``storage.interface.StaffRegistry``)."""

    def __init__(self, datastore: PostgresDatastore, prefix: str) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", prefix):
            raise ValueError(f"not a plain table prefix: {prefix!r}")
        schema = '"' + datastore.schema.replace('"', '""') + '"'
        super().__init__(datastore, f"{schema}.{prefix}_", SQL)
        index_prefix = f"{prefix}_"
        with schema_lock(datastore), datastore.transaction(commit=True) as c:
            for statement in CREATE:
                c.execute(SQL(statement.replace("{p}", self._prefix).replace("{i}", index_prefix)))
