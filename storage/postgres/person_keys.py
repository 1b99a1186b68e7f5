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
from typing import Any

import psycopg
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


SCRUB_LOCK_TIMEOUT = 5
OLD_SNAPSHOTS = SQL(
    "SELECT (SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
    "AND backend_xmin IS NOT NULL AND backend_xmin::text::bigint <= mod(%(xid)s, 4294967296)) "
    "+ (SELECT count(*) FROM pg_replication_slots WHERE (xmin IS NOT NULL AND "
    "xmin::text::bigint <= mod(%(xid)s, 4294967296)) OR (catalog_xmin IS NOT NULL AND "
    "catalog_xmin::text::bigint <= mod(%(xid)s, 4294967296)))"
)
"""Sessions and replication slots whose snapshot predates the destroying transaction (xids
compared within the current epoch: a wraparound in between only makes the answer cautious)."""


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

    def _destroyed(self, cursor: Any) -> None:
        cursor.execute(SQL("SELECT pg_current_xact_id()::text AS xid"))
        row = cursor.fetchone()
        self._destroy_xid = int(row["xid"]) if row else None

    def scrub(self) -> bool:
        """``VACUUM FULL`` the key table (waiting at most ``SCRUB_LOCK_TIMEOUT`` for its lock, so
        readers never queue behind it for long), then say whether it could drop the destroyed
        keys' old row versions: not while any session or replication slot still holds a
        snapshot from before the destruction (those versions stay visible to it, and in the
        table's file): then False, and ``forget`` run again completes it."""
        xid = getattr(self, "_destroy_xid", None)
        try:
            with dedicated_connection(self.datastore) as conn:
                conn.execute(SQL(f"SET lock_timeout = '{SCRUB_LOCK_TIMEOUT}s'"))
                conn.execute(SQL(f"VACUUM FULL {self.prefix}person_keys"))
                if xid is None:
                    return True
                held = conn.execute(OLD_SNAPSHOTS, {"xid": xid}).fetchone()
        except psycopg.errors.LockNotAvailable:
            return False
        return not (held and held[0])
