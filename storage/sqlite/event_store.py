"""The SQLite event store's application recorder with mynacard's extras (``CommandLog``): the
``command_log`` table, written in the same transaction as the command's events (the library's
custom-recorder pattern, as in its searchable-timestamps example), and the store's identity and
key fingerprints (``store_identity``, ``store_keys``).

May import: ``eventsourcing.sqlite`` / ``eventsourcing.persistence``, ``storage.interface`` and
``storage.records`` (never psycopg).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore

from storage import chain
from storage.chain import ChainLink, EventColumns
from storage.integrity import StoreIntegrityError
from storage.interface import CommandLog
from storage.records import (
    CLOCK_CONFLICT,
    CLOCK_GUARD_KWARG,
    COMMAND_LOG_KWARG,
    CommandLogEntry,
    StoreIdentity,
    clock_microseconds,
    clock_moment,
)


class SQLiteCommandLogRecorder(SQLiteApplicationRecorder, CommandLog):
    """SQLite application recorder with the ``command_log`` table."""

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name)
        self.insert_command_statement = "INSERT INTO command_log VALUES (?,?,?,?,?,?)"
        self.select_command_statement = "SELECT * FROM command_log WHERE command_id=?"
        self.guard_clock_statement = (
            "INSERT INTO store_clock VALUES (1, ?) ON CONFLICT (singleton) DO UPDATE "
            "SET newest_us = excluded.newest_us WHERE store_clock.newest_us <= excluded.newest_us"
        )
        self.advance_clock_statement = (
            "INSERT INTO store_clock VALUES (1, ?) ON CONFLICT (singleton) DO UPDATE "
            "SET newest_us = max(store_clock.newest_us, excluded.newest_us)"
        )

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
            "CREATE TABLE IF NOT EXISTS store_clock ("
            "singleton INTEGER PRIMARY KEY CHECK (singleton = 1), newest_us INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS store_marks (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS event_chain (position INTEGER PRIMARY KEY, chain_hash BLOB NOT NULL)",
        ]

    def newest_recorded_at(self) -> datetime | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT newest_us FROM store_clock")
            row = c.fetchone()
        return clock_moment(int(row[0])) if row else None

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

    def store_mark(self, name: str) -> str | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT value FROM store_marks WHERE name=?", (name,))
            row = c.fetchone()
        return str(row[0]) if row else None

    def set_store_mark(self, name: str, value: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("INSERT OR IGNORE INTO store_marks VALUES (?, ?)", (name, value))

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
        if ids:
            self._chain(c, ids, stored_events)
        entry: CommandLogEntry | None = kwargs.get(COMMAND_LOG_KWARG)
        if entry is not None:
            c.execute(self.insert_command_statement, entry.row())
            moment = clock_microseconds(entry.recorded_at)
            if kwargs.get(CLOCK_GUARD_KWARG):
                c.execute(self.guard_clock_statement, (moment,))
                if c.sqlite_cursor.rowcount == 0:  # the clock row holds a later time (R66)
                    raise sqlite3.IntegrityError(CLOCK_CONFLICT)
            else:
                c.execute(self.advance_clock_statement, (moment,))
        return ids

    def select_command(self, command_id: UUID) -> CommandLogEntry | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.select_command_statement, (str(command_id),))
            row = c.fetchone()
        return CommandLogEntry.from_row(tuple(row)) if row else None

    # ------------------------------------------------------------------ the hash chain (issue 13)

    def _chain(self, c: SQLiteCursor, ids: Sequence[int], stored_events: Sequence[StoredEvent]) -> None:
        """Chain the events just inserted (positions ``ids``), in their own transaction: the
        insert holds SQLite's write lock, so the chain head read here is the log's."""
        c.execute("SELECT position, chain_hash FROM event_chain ORDER BY position DESC LIMIT 1")
        head = c.fetchone()
        c.execute(f"SELECT MAX(rowid) FROM {self.events_table_name} WHERE rowid < ?", (ids[0],))
        before = c.fetchone()[0] or 0
        previous_position, previous = (int(head[0]), bytes(head[1])) if head else (0, chain.GENESIS)
        if before != previous_position:
            raise chain.behind_error(before, previous_position)
        links = chain.chain_batch(previous, ids, stored_events)
        c.executemany("INSERT INTO event_chain VALUES (?, ?)", links)

    def chain_head(self) -> ChainLink | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT position, chain_hash FROM event_chain ORDER BY position DESC LIMIT 1")
            row = c.fetchone()
        return ChainLink(int(row[0]), bytes(row[1])) if row else None

    def chain_link_at(self, position: int) -> ChainLink | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT position, chain_hash FROM event_chain WHERE position = ?", (position,))
            row = c.fetchone()
        return ChainLink(int(row[0]), bytes(row[1])) if row else None

    def log_max_position(self) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT MAX(rowid) FROM {self.events_table_name}")
            return int(c.fetchone()[0] or 0)

    def version_at(self, originator_id: UUID, position: int) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT MAX(originator_version) FROM {self.events_table_name} "
                "WHERE originator_id = ? AND rowid <= ?",
                (originator_id.hex if isinstance(originator_id, UUID) else originator_id, position),
            )
            return int(c.fetchone()[0] or 0)

    def chain_batch(self, after: int, limit: int) -> tuple[list[EventColumns], list[tuple[int, bytes]]]:
        with self.datastore.transaction(commit=False) as c:
            c.sqlite_cursor.row_factory = None  # plain tuples: the walk reads millions of rows
            c.execute(
                "SELECT rowid, originator_id, originator_version, topic, state "
                f"FROM {self.events_table_name} WHERE rowid > ? ORDER BY rowid LIMIT ?",
                (after, limit),
            )
            events: list[EventColumns] = c.fetchall()
            if len(events) == limit:
                c.execute(
                    "SELECT position, chain_hash FROM event_chain WHERE position > ? AND position <= ? "
                    "ORDER BY position",
                    (after, events[-1][0]),
                )
            else:
                c.execute(
                    "SELECT position, chain_hash FROM event_chain WHERE position > ? ORDER BY position",
                    (after,),
                )
            links: list[tuple[int, bytes]] = c.fetchall()
        return events, links

    def extend_chain(self, links: Sequence[ChainLink], after: ChainLink | None) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("SELECT position, chain_hash FROM event_chain ORDER BY position DESC LIMIT 1")
            head = c.fetchone()
            found = ChainLink(int(head[0]), bytes(head[1])) if head else None
            if found != after:
                raise StoreIntegrityError(
                    "the chain moved while it was being extended (another 'chain --init' or a "
                    "writer): run 'mynacard chain --init' again"
                )
            c.executemany(
                "INSERT INTO event_chain VALUES (?, ?)", [(k.position, k.chain_hash) for k in links]
            )
