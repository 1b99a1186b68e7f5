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


class CommandLog(ABC):
    """What the application recorder offers beside the event log."""

    @abstractmethod
    def select_command(self, command_id: UUID) -> CommandLogEntry | None:
        """The logged execution of ``command_id``, if any."""


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
        ]

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
