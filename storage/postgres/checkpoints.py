"""The PostgreSQL checkpoint store of durable consumers: ``consumers_tracking`` (the library's
tracking table, one row per consumer name) and ``consumers_fingerprints`` in the configured
schema; a consumer's lease is a session advisory lock keyed on (schema, consumer name).

May import: psycopg, ``eventsourcing.postgres``, the standard library and ``storage`` (not its
SQLite backend).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Composed, Identifier

from storage.checkpoints import CHECKPOINT_SQL, lease_digest
from storage.errors import ConsumerBusy
from storage.interface import Checkpoints
from storage.postgres.schema import LockedTrackingRecorder, dedicated_connection


class PostgresCheckpoints(LockedTrackingRecorder, Checkpoints):
    """Consumers' checkpoints in PostgreSQL (see ``storage.interface.Checkpoints``):
    ``<name>_tracking`` and ``<name>_fingerprints``, created under the schema lock."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        if not datastore.single_row_tracking:
            raise TypeError("consumer checkpoints need the library's single-row tracking table")
        schema = Identifier(datastore.schema)
        fingerprints = self.tracking_table_name.removesuffix("_tracking") + "_fingerprints"
        self.check_identifier_length(fingerprints)
        names = {
            "t": SQL("{0}.{1}").format(schema, Identifier(self.tracking_table_name)),
            "f": SQL("{0}.{1}").format(schema, Identifier(fingerprints)),
        }
        self.sql: dict[str, Composed] = {k: SQL(v).format(**names) for k, v in CHECKPOINT_SQL.items()}
        self.sql_create_statements.append(self.sql["create"])

    def position(self, name: str) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql["position"], {"name": name})
            row = c.fetchone()
        return int(row["notification_id"]) if row is not None and row["notification_id"] is not None else 0

    def fingerprints(self, name: str) -> list[tuple[int, str]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql["history"], {"name": name})
            return [(int(r["position"]), str(r["fingerprint"])) for r in c.fetchall()]

    def advance(self, name: str, position: int, fingerprint: str, *, keep: int) -> bool:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql["advance"], {"name": name, "position": position})
            if c.fetchone() is None:
                return False
            c.execute(self.sql["remember"], {"name": name, "position": position, "fingerprint": fingerprint})
            c.execute(self.sql["trim"], {"name": name, "keep": keep})
        return True

    def reset(self, name: str, position: int, fingerprint: str | None) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql["reset"], {"name": name, "position": position})
            c.execute(self.sql["forget_above"], {"name": name, "position": position})
            if fingerprint is not None:
                c.execute(
                    self.sql["remember"], {"name": name, "position": position, "fingerprint": fingerprint}
                )

    @contextmanager
    def lease(self, name: str) -> Iterator[None]:
        """``pg_try_advisory_lock`` keyed on (schema, consumer name), on a connection of its own."""
        key = int.from_bytes(lease_digest(self.datastore.schema, name)[:8], "big", signed=True)
        with dedicated_connection(self.datastore) as conn:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if row is None or not row[0]:
                raise ConsumerBusy(name)
            yield
