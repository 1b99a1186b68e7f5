"""The PostgreSQL person keys (issue 13): ``<prefix>_person_keys`` and ``<prefix>_person_cards``
in the event store's schema, created under the schema lock. ``scrub`` runs ``VACUUM FULL`` on the
key table (outside a transaction, on a connection of its own): the table is rewritten with its
live rows only, so the dead versions of a destroyed key's row leave the table's files. What the
server keeps elsewhere (WAL segments, archives, replicas, backups) is out of its reach:
docs/integrity.md, "Erasure".

May import: psycopg, ``eventsourcing.postgres``, the standard library and ``storage`` (not its
SQLite backend).
"""

from __future__ import annotations

import re

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL

from storage.person_keys import PersonKeys
from storage.postgres.schema import dedicated_connection, schema_lock

CREATE = [
    "CREATE TABLE IF NOT EXISTS {p}person_keys (holder_ref text PRIMARY KEY, wrapped_key bytea, "
    "ring_key_id bigint, created_at text NOT NULL, forgotten_at text, forgotten_by text, "
    "forgotten_reason text)",
    "CREATE TABLE IF NOT EXISTS {p}person_cards (card_id text PRIMARY KEY, holder_ref text NOT NULL)",
]


class PostgresPersonKeys(PersonKeys):
    """Person keys in PostgreSQL (see ``storage.person_keys``)."""

    def __init__(self, datastore: PostgresDatastore, prefix: str) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", prefix):
            raise ValueError(f"not a plain table prefix: {prefix!r}")
        schema = '"' + datastore.schema.replace('"', '""') + '"'
        self.prefix = f"{schema}.{prefix}_"
        super().__init__(datastore, self.prefix, SQL)
        with schema_lock(datastore), datastore.transaction(commit=True) as c:
            for statement in CREATE:
                c.execute(SQL(statement.replace("{p}", self.prefix)))

    def scrub(self) -> bool:
        with dedicated_connection(self.datastore) as conn:
            conn.execute(SQL(f"VACUUM FULL {self.prefix}person_keys"))
        return True
