"""The PostgreSQL checkpoint store of durable consumers: ``consumers_tracking`` (the library's
tracking table, one row per consumer name), ``consumers_fingerprints`` and
``consumers_dead_letters`` in the configured schema; a consumer's lease is a session advisory
lock keyed on (schema, consumer name).

May import: psycopg, ``eventsourcing.postgres``, the standard library and ``storage`` (not its
SQLite backend).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Composed, Identifier

from storage.checkpoints import CHECKPOINT_SQL, DeadLetter, acked_now, lease_digest
from storage.errors import ConsumerBusy
from storage.interface import Checkpoints
from storage.postgres.schema import LockedTrackingRecorder, dedicated_connection


class PostgresCheckpoints(LockedTrackingRecorder, Checkpoints):
    """Consumers' checkpoints in PostgreSQL (see ``storage.interface.Checkpoints``):
    ``<name>_tracking``, ``<name>_fingerprints`` and ``<name>_dead_letters``, created under the
    schema lock."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        if not datastore.single_row_tracking:
            raise TypeError("consumer checkpoints need the library's single-row tracking table")
        schema = Identifier(datastore.schema)
        prefix = self.tracking_table_name.removesuffix("_tracking")
        fingerprints, dead_letters, acks = (
            f"{prefix}_fingerprints",
            f"{prefix}_dead_letters",
            f"{prefix}_acks",
        )
        self.check_identifier_length(fingerprints)
        self.check_identifier_length(dead_letters)
        names = {
            "t": SQL("{0}.{1}").format(schema, Identifier(self.tracking_table_name)),
            "f": SQL("{0}.{1}").format(schema, Identifier(fingerprints)),
            "d": SQL("{0}.{1}").format(schema, Identifier(dead_letters)),
            "a": SQL("{0}.{1}").format(schema, Identifier(acks)),
        }
        self.sql: dict[str, Composed] = {k: SQL(v).format(**names) for k, v in CHECKPOINT_SQL.items()}
        self.sql_create_statements += [
            self.sql["create"],
            self.sql["create_dead_letters"],
            self.sql["create_acks"],
        ]

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
            c.execute(self.sql["record_ack"], {"name": name, "position": position, "at": acked_now()})
        return True

    def acks(self, name: str) -> list[tuple[int, str]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql["acks"], {"name": name})
            return [(int(r["position"]), str(r["acked_at"])) for r in c.fetchall()]

    def reset(self, name: str, position: int, fingerprint: str | None) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql["reset"], {"name": name, "position": position})
            c.execute(self.sql["forget_above"], {"name": name, "position": position})
            c.execute(self.sql["forget_parked_above"], {"name": name, "position": position})
            if fingerprint is not None:
                c.execute(
                    self.sql["remember"], {"name": name, "position": position, "fingerprint": fingerprint}
                )

    def consumers(self) -> list[tuple[str, int]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql["consumers"])
            return [(str(r["application_name"]), int(r["notification_id"] or 0)) for r in c.fetchall()]

    def park(self, letter: DeadLetter, *, keep: int) -> bool:
        name, position = letter.consumer, letter.position
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql["advance"], {"name": name, "position": position})
            if c.fetchone() is None:
                return False  # (nothing was written)
            fingerprint = letter.fingerprint
            c.execute(self.sql["remember"], {"name": name, "position": position, "fingerprint": fingerprint})
            c.execute(self.sql["trim"], {"name": name, "keep": keep})
            c.execute(self.sql["park"], letter.row())
        return True

    def dead_letters(self, name: str, *, open_only: bool = True) -> list[DeadLetter]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql["open_letters" if open_only else "letters"], {"name": name})
            return [DeadLetter.from_row(r) for r in c.fetchall()]

    def dead_letter(self, name: str, position: int) -> DeadLetter | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql["letter"], {"name": name, "position": position})
            row = c.fetchone()
        return DeadLetter.from_row(row) if row is not None else None

    def parked_counts(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql["parked_counts"])
            return {str(r["consumer"]): int(r["parked"]) for r in c.fetchall()}

    def settle(
        self, name: str, position: int, state: str, *, at: str, by: str, reason: str | None = None
    ) -> bool:
        values = {"name": name, "position": position, "state": state, "at": at, "by": by, "reason": reason}
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql["settle"], values)
            return c.fetchone() is not None

    def note_redelivery(
        self, name: str, position: int, *, at: str, attempts: int = 0, error: str | None = None
    ) -> bool:
        values = {"name": name, "position": position, "at": at, "attempts": attempts, "error": error}
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql["redelivered"], values)
            return c.fetchone() is not None

    @contextmanager
    def lease(self, name: str) -> Iterator[None]:
        """``pg_try_advisory_lock`` keyed on (schema, consumer name), on a connection of its own."""
        key = int.from_bytes(lease_digest(self.datastore.schema, name)[:8], "big", signed=True)
        with dedicated_connection(self.datastore) as conn:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if row is None or not row[0]:
                raise ConsumerBusy(name)
            yield
