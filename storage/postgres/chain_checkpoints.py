"""The PostgreSQL signed checkpoints: ``<prefix>_chain_checkpoints`` in the event store's schema,
append-only (a trigger refuses an update, a delete or a truncate), created under the schema lock.

May import: psycopg, ``eventsourcing.postgres``, the standard library and ``storage`` (not its
SQLite backend).
"""

from __future__ import annotations

import re

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL

from storage.checkpoint_recorder import SqlChainCheckpoints
from storage.postgres.schema import schema_lock

CREATE = [
    "CREATE TABLE IF NOT EXISTS {p}chain_checkpoints (position bigint PRIMARY KEY, chain_hash text NOT NULL, "
    "signed_at text NOT NULL, store_id text NOT NULL, key_id text NOT NULL, signature text NOT NULL)",
    "CREATE OR REPLACE FUNCTION {p}chain_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'checkpoints are append-only'; END $$",
    "CREATE OR REPLACE TRIGGER {i}chain_checkpoints_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
    "ON {p}chain_checkpoints FOR EACH STATEMENT EXECUTE FUNCTION {p}chain_checkpoints_append_only()",
]


class PostgresChainCheckpoints(SqlChainCheckpoints):
    """Signed checkpoints in PostgreSQL (see ``storage.interface.ChainCheckpoints``)."""

    def __init__(self, datastore: PostgresDatastore, prefix: str) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", prefix):
            raise ValueError(f"not a plain table prefix: {prefix!r}")
        schema = '"' + datastore.schema.replace('"', '""') + '"'
        table_prefix = f"{schema}.{prefix}_"
        super().__init__(datastore, table_prefix, SQL)
        with schema_lock(datastore), datastore.transaction(commit=True) as c:
            for statement in CREATE:
                c.execute(SQL(statement.replace("{p}", table_prefix).replace("{i}", f"{prefix}_")))
