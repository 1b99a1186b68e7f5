"""The SQLite event store's application recorder with mynacard's extras (``CommandLog``): the
``command_log`` table, written in the same transaction as the command's events (the library's
custom-recorder pattern, as in its searchable-timestamps example), and the store's identity and
key fingerprints (``store_identity``, ``store_keys``).

May import: ``eventsourcing.sqlite`` / ``eventsourcing.persistence``, ``storage.interface`` and
``storage.records`` (never psycopg).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from storage.interface import CommandLog
from storage.records import COMMAND_LOG_KWARG, CommandLogEntry, StoreIdentity


class SQLiteCommandLogRecorder(SQLiteApplicationRecorder, CommandLog):
    """SQLite application recorder with the ``command_log`` table."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)
        self.insert_command_statement = "INSERT INTO command_log VALUES (?,?,?,?,?,?)"
        self.select_command_statement = "SELECT * FROM command_log WHERE command_id=?"

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS command_log ("
            "command_id TEXT PRIMARY KEY, command TEXT NOT NULL, digest TEXT NOT NULL, "
            "actor TEXT NOT NULL, recorded_at TEXT NOT NULL, result TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS store_identity ("
            "singleton INTEGER PRIMARY KEY CHECK (singleton = 1), "
            "store_id TEXT NOT NULL, created_at TEXT NOT NULL, holder_key_fingerprint TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS store_keys ("
            "key_id INTEGER PRIMARY KEY, fingerprint TEXT NOT NULL, recorded_at TEXT NOT NULL)",
        ]

    def store_identity(self) -> StoreIdentity | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT store_id, created_at, holder_key_fingerprint FROM store_identity")
            row = c.fetchone()
        return StoreIdentity(*tuple(row)) if row else None

    def claim_store_identity(self, identity: StoreIdentity) -> StoreIdentity:
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                "INSERT OR IGNORE INTO store_identity VALUES (1, ?, ?, ?)",
                (identity.store_id, identity.created_at, identity.holder_key_fingerprint),
            )
        found = self.store_identity()
        assert found is not None
        return found

    def recorded_keys(self) -> dict[int, str]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT key_id, fingerprint FROM store_keys")
            return {int(r[0]): str(r[1]) for r in c.fetchall()}

    def record_keys(self, fingerprints: dict[int, str], at: str) -> dict[int, str]:
        with self.datastore.transaction(commit=True) as c:
            for key_id, fingerprint in sorted(fingerprints.items()):
                c.execute("INSERT OR IGNORE INTO store_keys VALUES (?, ?, ?)", (key_id, fingerprint, at))
        return self.recorded_keys()

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        entry: CommandLogEntry | None = kwargs.get(COMMAND_LOG_KWARG)
        if entry is not None:
            c.execute(self.insert_command_statement, entry.row())
        return ids

    def select_command(self, command_id: UUID) -> CommandLogEntry | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.select_command_statement, (str(command_id),))
            row = c.fetchone()
        return CommandLogEntry.from_row(tuple(row)) if row else None
