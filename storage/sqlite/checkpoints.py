"""The SQLite checkpoint store of durable consumers, in a file of its own beside the event store
(``<store>-consumers.sqlite``): the library's ``tracking`` table (one row per consumer name),
``consumer_fingerprints`` and ``consumer_dead_letters``; a consumer's lease is a ``flock`` on a
lock file in that directory.

May import: ``eventsourcing.sqlite``, the standard library and ``storage`` (not its PostgreSQL
backend).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder

from storage.checkpoints import CHECKPOINT_SQL, DeadLetter, acked_now, lease_digest
from storage.errors import ConsumerBusy
from storage.interface import Checkpoints
from storage.sqlite.params import named

_SQL = {
    k: named(v).format(t="tracking", f="consumer_fingerprints", d="consumer_dead_letters", a="consumer_acks")
    for k, v in CHECKPOINT_SQL.items()
}
"""The library's SQLite tracking table is ``tracking``; the fingerprints and dead letters sit beside it."""


class SQLiteCheckpoints(SQLiteTrackingRecorder, Checkpoints):
    """Consumers' checkpoints in SQLite (see ``storage.interface.Checkpoints``)."""

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        if not datastore.single_row_tracking:
            raise TypeError("consumer checkpoints need the library's single-row tracking table")

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            _SQL["create"],
            _SQL["create_dead_letters"],
            _SQL["create_acks"],
        ]

    def position(self, name: str) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_SQL["position"], {"name": name})
            row = c.fetchone()
        return int(row["notification_id"]) if row is not None and row["notification_id"] is not None else 0

    def fingerprints(self, name: str) -> list[tuple[int, str]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_SQL["history"], {"name": name})
            return [(int(r["position"]), str(r["fingerprint"])) for r in c.fetchall()]

    def advance(self, name: str, position: int, fingerprint: str, *, keep: int) -> bool:
        with self.datastore.transaction(commit=True) as c:
            c.execute(_SQL["advance"], {"name": name, "position": position})
            if c.fetchone() is None:
                return False
            c.execute(_SQL["remember"], {"name": name, "position": position, "fingerprint": fingerprint})
            c.execute(_SQL["trim"], {"name": name, "keep": keep})
            c.execute(_SQL["record_ack"], {"name": name, "position": position, "at": acked_now()})
        return True

    def acks(self, name: str) -> list[tuple[int, str]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_SQL["acks"], {"name": name})
            return [(int(r["position"]), str(r["acked_at"])) for r in c.fetchall()]

    def reset(self, name: str, position: int, fingerprint: str | None) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(_SQL["reset"], {"name": name, "position": position})
            c.execute(_SQL["forget_above"], {"name": name, "position": position})
            c.execute(_SQL["forget_parked_above"], {"name": name, "position": position})
            if fingerprint is not None:
                c.execute(_SQL["remember"], {"name": name, "position": position, "fingerprint": fingerprint})

    def consumers(self) -> list[tuple[str, int]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_SQL["consumers"])
            return [(str(r["application_name"]), int(r["notification_id"] or 0)) for r in c.fetchall()]

    def park(self, letter: DeadLetter, *, keep: int) -> bool:
        name, position = letter.consumer, letter.position
        with self.datastore.transaction(commit=True) as c:
            c.execute(_SQL["advance"], {"name": name, "position": position})
            if c.fetchone() is None:
                return False  # (nothing was written)
            fingerprint = letter.fingerprint
            c.execute(_SQL["remember"], {"name": name, "position": position, "fingerprint": fingerprint})
            c.execute(_SQL["trim"], {"name": name, "keep": keep})
            c.execute(_SQL["park"], letter.row())
        return True

    def dead_letters(self, name: str, *, open_only: bool = True) -> list[DeadLetter]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_SQL["open_letters" if open_only else "letters"], {"name": name})
            return [DeadLetter.from_row(r) for r in c.fetchall()]

    def dead_letter(self, name: str, position: int) -> DeadLetter | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_SQL["letter"], {"name": name, "position": position})
            row = c.fetchone()
        return DeadLetter.from_row(row) if row is not None else None

    def parked_counts(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(_SQL["parked_counts"])
            return {str(r["consumer"]): int(r["parked"]) for r in c.fetchall()}

    def settle(
        self, name: str, position: int, state: str, *, at: str, by: str, reason: str | None = None
    ) -> bool:
        values = {"name": name, "position": position, "state": state, "at": at, "by": by, "reason": reason}
        with self.datastore.transaction(commit=True) as c:
            c.execute(_SQL["settle"], values)
            return c.fetchone() is not None

    def note_redelivery(
        self, name: str, position: int, *, at: str, attempts: int = 0, error: str | None = None
    ) -> bool:
        values = {"name": name, "position": position, "at": at, "attempts": attempts, "error": error}
        with self.datastore.transaction(commit=True) as c:
            c.execute(_SQL["redelivered"], values)
            return c.fetchone() is not None

    @contextmanager
    def lease(self, name: str) -> Iterator[None]:
        """A non-blocking ``flock`` on ``consumer-<digest>.lock`` in the checkpoint store's
        directory (the data directory); the lock file holds the holder's process id."""
        store = Path(self.datastore.pool.db_name)
        path = store.parent / f"consumer-{lease_digest(str(store.resolve()), name).hex()[:24]}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                raise ConsumerBusy(name, holder or None) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock
