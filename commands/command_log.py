"""The command log: one row per executed command, written in the same transaction as the
command's events (the library's custom-recorder pattern, as in its searchable-timestamps
example). Its primary key is the command id, so a second execution of the same command id
fails as a whole and the service answers with the first result (idempotency).

Only the command name, a keyed digest of the payload, the actor, the time and the result are
kept: never a My Number or a PIN.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor, SQLiteDatastore
from eventsourcing.utils import retry
from psycopg import Cursor as PgCursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from commands.postgres_schema import schema_lock

COMMAND_LOG_KWARG = "command_log_entry"
"""The ``save(..., command_log_entry=...)`` keyword the recorders write in the same transaction."""


@dataclass(frozen=True, slots=True)
class CommandLogEntry:
    command_id: UUID
    command: str
    digest: str
    actor: str
    recorded_at: datetime
    result: dict[str, Any]

    def row(self) -> tuple[str, str, str, str, str, str]:
        return (
            str(self.command_id),
            self.command,
            self.digest,
            self.actor,
            self.recorded_at.isoformat(),
            json.dumps(self.result, sort_keys=True),
        )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> CommandLogEntry:
        command_id, command, digest, actor, recorded_at, result = row
        return cls(
            UUID(str(command_id)),
            command,
            digest,
            actor,
            datetime.fromisoformat(str(recorded_at)),
            json.loads(result),
        )


@dataclass(frozen=True, slots=True)
class StoreIdentity:
    """Who a store is (made once, when the store is first opened) and which holder key it was
    made with (a fingerprint, never the key)."""

    store_id: str
    created_at: str
    holder_key_fingerprint: str


class CommandLog(ABC):
    """What the application recorder offers beside the event log: the command log, and the
    store's identity with the fingerprints of its keys (issue 8 items 1 and 3)."""

    @abstractmethod
    def select_command(self, command_id: UUID) -> CommandLogEntry | None:
        """The logged execution of ``command_id``, if any."""

    @abstractmethod
    def store_identity(self) -> StoreIdentity | None:
        """The store's identity, or None for a store that has none yet."""

    @abstractmethod
    def claim_store_identity(self, identity: StoreIdentity) -> StoreIdentity:
        """Record ``identity`` unless the store has one; the identity in force either way
        (of processes opening a new store at once, the first one's)."""

    @abstractmethod
    def recorded_keys(self) -> dict[int, str]:
        """Key id → fingerprint of every encryption key the store has recorded."""

    @abstractmethod
    def record_keys(self, fingerprints: dict[int, str], at: str) -> dict[int, str]:
        """Record the fingerprints of keys not recorded yet (a recorded id is never changed);
        every recorded key afterwards."""


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
            "CREATE TABLE IF NOT EXISTS store_identity (singleton INTEGER PRIMARY KEY CHECK (singleton = 1), "
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


class PostgresCommandLogRecorder(PostgresApplicationRecorder, CommandLog):
    """PostgreSQL application recorder with the ``<app>_commands`` table, written in the same
    (pipelined) transaction as the events."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.commands_table_name = events_table_name.removesuffix("_events") + "_commands"
        self.check_identifier_length(self.commands_table_name)
        schema, table = Identifier(self.datastore.schema), Identifier(self.commands_table_name)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.{1} (command_id uuid PRIMARY KEY, command text NOT NULL, "
                "digest text NOT NULL, actor text NOT NULL, recorded_at text NOT NULL, result text NOT NULL)"
            ).format(schema, table)
        )
        self.insert_command_statement = SQL("INSERT INTO {0}.{1} VALUES (%s,%s,%s,%s,%s,%s)").format(
            schema, table
        )
        prefix = events_table_name.removesuffix("_events")
        identity, keys = Identifier(f"{prefix}_store_identity"), Identifier(f"{prefix}_store_keys")
        self.sql_create_statements.extend(
            [
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0}.{1} (singleton int PRIMARY KEY CHECK (singleton = 1), "
                    "store_id text NOT NULL, created_at text NOT NULL, holder_key_fingerprint text NOT NULL)"
                ).format(schema, identity),
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0}.{1} (key_id bigint PRIMARY KEY, "
                    "fingerprint text NOT NULL, recorded_at text NOT NULL)"
                ).format(schema, keys),
            ]
        )
        self.select_identity_statement = SQL(
            "SELECT store_id, created_at, holder_key_fingerprint FROM {0}.{1}"
        ).format(schema, identity)
        self.claim_identity_statement = SQL(
            "INSERT INTO {0}.{1} VALUES (1, %s, %s, %s) ON CONFLICT (singleton) DO NOTHING"
        ).format(schema, identity)
        self.select_keys_statement = SQL("SELECT key_id, fingerprint FROM {0}.{1}").format(schema, keys)
        self.record_key_statement = SQL(
            "INSERT INTO {0}.{1} VALUES (%s, %s, %s) ON CONFLICT (key_id) DO NOTHING"
        ).format(schema, keys)
        self.select_command_statement = SQL(
            "SELECT command_id, command, digest, actor, recorded_at, result FROM {0}.{1} WHERE command_id=%s"
        ).format(schema, table)

    def create_table(self) -> None:
        with schema_lock(self.datastore):
            super().create_table()

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's pipelined insert, except that a failure after the rows were written
        rolls the transaction back (eventsourcing 9.5.6 keeps the exception until after the
        transaction has committed, so a save reported as failed could be stored)."""
        if self.datastore.enable_db_functions:
            ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
            return ids
        failure: Exception | None = None
        notification_ids: Sequence[int] | None = None
        with self.datastore.get_connection() as conn:
            with conn.pipeline() as pipeline, conn.transaction():
                with conn.cursor() as curs:
                    self._insert_events(curs, stored_events, **kwargs)
                if stored_events:
                    with conn.cursor() as curs:
                        try:
                            self._insert_stored_events(curs, stored_events, **kwargs)
                            pipeline.sync()
                            notification_ids = self._fetch_ids_after_insert_events(
                                curs, stored_events, **kwargs
                            )
                        except Exception as e:
                            failure = e
                    if failure is not None:
                        raise psycopg.Rollback  # leaves the transaction rolled back, not committed
            if failure is not None:
                raise failure
        return notification_ids

    def _insert_events(
        self, curs: PgCursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        entry: CommandLogEntry | None = kwargs.get(COMMAND_LOG_KWARG)
        if entry is not None:
            curs.execute(self.insert_command_statement, entry.row(), prepare=True)

    def store_identity(self) -> StoreIdentity | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_identity_statement)
            row = curs.fetchone()
        if row is None:
            return None
        return StoreIdentity(row["store_id"], row["created_at"], row["holder_key_fingerprint"])

    def claim_store_identity(self, identity: StoreIdentity) -> StoreIdentity:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                self.claim_identity_statement,
                (identity.store_id, identity.created_at, identity.holder_key_fingerprint),
            )
        found = self.store_identity()
        assert found is not None
        return found

    def recorded_keys(self) -> dict[int, str]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_keys_statement)
            return {int(r["key_id"]): str(r["fingerprint"]) for r in curs.fetchall()}

    def record_keys(self, fingerprints: dict[int, str], at: str) -> dict[int, str]:
        with self.datastore.transaction(commit=True) as curs:
            for key_id, fingerprint in sorted(fingerprints.items()):
                curs.execute(self.record_key_statement, (key_id, fingerprint, at))
        return self.recorded_keys()

    def select_command(self, command_id: UUID) -> CommandLogEntry | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.select_command_statement, (command_id,), prepare=True)
            row = curs.fetchone()
        if row is None:
            return None
        return CommandLogEntry.from_row(
            (
                row["command_id"],
                row["command"],
                row["digest"],
                row["actor"],
                row["recorded_at"],
                row["result"],
            )
        )
