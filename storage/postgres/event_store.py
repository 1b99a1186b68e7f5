"""The PostgreSQL event store's application recorder with mynacard's extras (``CommandLog``): the
``<app>_commands`` table, written in the same (pipelined) transaction as the command's events,
and the store's identity and key fingerprints (``<app>_store_identity``, ``<app>_store_keys``).

May import: psycopg, ``eventsourcing.postgres`` / ``eventsourcing.persistence``,
``storage.interface``, ``storage.records`` and ``storage.postgres.schema``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Identifier, Literal

from storage import chain
from storage.chain import ChainLink, EventColumns
from storage.integrity import StoreIntegrityError
from storage.interface import CommandLog
from storage.postgres.schema import schema_lock
from storage.records import (
    CLOCK_CONFLICT,
    CLOCK_GUARD_KWARG,
    COMMAND_LOG_KWARG,
    CommandLogEntry,
    StoreIdentity,
    clock_microseconds,
    clock_moment,
)


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
        marks = Identifier(f"{prefix}_store_marks")
        self.sql_create_statements.append(
            SQL("CREATE TABLE IF NOT EXISTS {0}.{1} (name text PRIMARY KEY, value text NOT NULL)").format(
                schema, marks
            )
        )
        self.select_mark_statement = SQL("SELECT value FROM {0}.{1} WHERE name=%s").format(schema, marks)
        self.set_mark_statement = SQL(
            "INSERT INTO {0}.{1} VALUES (%s, %s) ON CONFLICT (name) DO NOTHING"
        ).format(schema, marks)
        clock, advance = Identifier(f"{prefix}_store_clock"), Identifier(f"{prefix}_advance_clock")
        self.sql_create_statements.extend(
            [
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0}.{1} (singleton int PRIMARY KEY CHECK (singleton = 1), "
                    "newest_us bigint NOT NULL)"
                ).format(schema, clock),
                # R66 in the save's own transaction: a recorded time before the clock row fails
                # the save as a conflict (unique_violation: the bus stamps the command again).
                SQL(
                    "CREATE OR REPLACE FUNCTION {0}.{2}(moment bigint, guard boolean) RETURNS void AS $$ "
                    "BEGIN IF NOT guard THEN "
                    "INSERT INTO {0}.{1} VALUES (1, moment) ON CONFLICT (singleton) DO UPDATE "
                    "SET newest_us = GREATEST({1}.newest_us, EXCLUDED.newest_us); RETURN; END IF; "
                    "INSERT INTO {0}.{1} VALUES (1, moment) ON CONFLICT (singleton) DO UPDATE "
                    "SET newest_us = EXCLUDED.newest_us WHERE {1}.newest_us <= EXCLUDED.newest_us; "
                    "IF NOT FOUND THEN RAISE EXCEPTION {3} USING ERRCODE = 'unique_violation'; END IF; "
                    "END $$ LANGUAGE plpgsql"
                ).format(schema, clock, advance, Literal(CLOCK_CONFLICT)),
            ]
        )
        self.select_clock_statement = SQL("SELECT newest_us FROM {0}.{1}").format(schema, clock)
        self.advance_clock_statement = SQL("SELECT {0}.{1}(%s, %s)").format(schema, advance)
        self.record_key_statement = SQL(
            "INSERT INTO {0}.{1} VALUES (%s, %s, %s) ON CONFLICT (key_id) DO NOTHING"
        ).format(schema, keys)
        self.select_command_statement = SQL(
            "SELECT command_id, command, digest, actor, recorded_at, result FROM {0}.{1} WHERE command_id=%s"
        ).format(schema, table)

        links = Identifier(f"{prefix}_event_chain")
        self.check_identifier_length(f"{prefix}_event_chain")
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.{1} (position bigint PRIMARY KEY, chain_hash bytea NOT NULL)"
            ).format(schema, links)
        )
        events = Identifier(events_table_name)
        self.select_chain_head_statement = SQL(
            "SELECT position, chain_hash FROM {0}.{1} ORDER BY position DESC LIMIT 1"
        ).format(schema, links)
        self.select_chain_before_statement = SQL(
            "SELECT (SELECT max(notification_id) FROM {0}.{2} WHERE notification_id < %s) AS before, "
            "h.position, h.chain_hash FROM (SELECT 1) AS one LEFT JOIN "
            "(SELECT position, chain_hash FROM {0}.{1} ORDER BY position DESC LIMIT 1) AS h ON true"
        ).format(schema, links, events)
        self.insert_chain_statement = SQL("INSERT INTO {0}.{1} VALUES (%s, %s)").format(schema, links)
        self.select_chain_at_statement = SQL(
            "SELECT position, chain_hash FROM {0}.{1} WHERE position = %s"
        ).format(schema, links)
        self.select_log_max_statement = SQL("SELECT max(notification_id) AS m FROM {0}.{1}").format(
            schema, events
        )
        self.select_chain_events_statement = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {0}.{1} "
            "WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(schema, events)
        self.select_chain_range_statement = SQL(
            "SELECT position, chain_hash FROM {0}.{1} "
            "WHERE position > %s AND position <= %s ORDER BY position"
        ).format(schema, links)
        self.select_version_at_statement = SQL(
            "SELECT max(originator_version) AS v FROM {0}.{1} "
            "WHERE originator_id = %s AND notification_id <= %s"
        ).format(schema, events)
        self.select_chain_rest_statement = SQL(
            "SELECT position, chain_hash FROM {0}.{1} WHERE position > %s ORDER BY position"
        ).format(schema, links)

    def create_table(self) -> None:
        with schema_lock(self.datastore):
            super().create_table()

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's pipelined insert, except that a failure after the rows were written
        rolls the transaction back (eventsourcing 9.5.6 keeps the exception until after the
        transaction has committed, so a save reported as failed could be stored), and the
        events are chained (issue 13) in the same transaction, under the table lock the insert
        took, so the chain follows the insert (= commit) order. Always this path: the
        library's database functions (``enable_db_functions``) would commit unchained events."""
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
                            self._chain(curs, notification_ids, stored_events)
                        except Exception as e:
                            failure = e
                    if failure is not None:
                        raise psycopg.Rollback  # leaves the transaction rolled back, not committed
            if failure is not None:
                raise failure
        return notification_ids

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        entry: CommandLogEntry | None = kwargs.get(COMMAND_LOG_KWARG)
        if entry is not None:
            curs.execute(self.insert_command_statement, entry.row(), prepare=True)
            moment = clock_microseconds(entry.recorded_at)
            guard = bool(kwargs.get(CLOCK_GUARD_KWARG))
            curs.execute(self.advance_clock_statement, (moment, guard), prepare=True)

    def _chain(
        self, curs: Cursor[DictRow], ids: Sequence[int] | None, stored_events: Sequence[StoredEvent]
    ) -> None:
        """Chain the events just inserted at positions ``ids`` (the table lock is held)."""
        if not ids:
            return
        curs.execute(self.select_chain_before_statement, (ids[0],), prepare=True)
        row = curs.fetchone()
        assert row is not None
        before = int(row["before"] or 0)
        previous_position = int(row["position"] or 0)
        previous = bytes(row["chain_hash"]) if row["chain_hash"] is not None else chain.GENESIS
        if before != previous_position:
            raise chain.behind_error(before, previous_position)
        links = chain.chain_batch(previous, ids, stored_events)
        curs.executemany(self.insert_chain_statement, links)

    def chain_head(self) -> ChainLink | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_chain_head_statement)
            row = curs.fetchone()
        return ChainLink(int(row["position"]), bytes(row["chain_hash"])) if row else None

    def chain_link_at(self, position: int) -> ChainLink | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_chain_at_statement, (position,))
            row = curs.fetchone()
        return ChainLink(int(row["position"]), bytes(row["chain_hash"])) if row else None

    def log_max_position(self) -> int:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_log_max_statement)
            row = curs.fetchone()
        return int(row["m"] or 0) if row else 0

    def version_at(self, originator_id: UUID, position: int) -> int:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_version_at_statement, (originator_id, position), prepare=True)
            row = curs.fetchone()
        return int(row["v"] or 0) if row else 0

    def chain_batch(self, after: int, limit: int) -> tuple[list[EventColumns], list[tuple[int, bytes]]]:
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor(row_factory=tuple_row) as curs,
        ):
            curs.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            curs.execute(self.select_chain_events_statement, (after, limit), prepare=True)
            events: list[EventColumns] = curs.fetchall()
            if len(events) == limit:
                curs.execute(self.select_chain_range_statement, (after, events[-1][0]), prepare=True)
            else:
                curs.execute(self.select_chain_rest_statement, (after,), prepare=True)
            links: list[tuple[int, bytes]] = curs.fetchall()
        return events, links

    def extend_chain(self, links: Sequence[ChainLink], after: ChainLink | None) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for statement in self.lock_table_statements:
                curs.execute(statement)
            curs.execute(self.select_chain_head_statement)
            row = curs.fetchone()
            found = ChainLink(int(row["position"]), bytes(row["chain_hash"])) if row else None
            if found != after:
                raise StoreIntegrityError(
                    "the chain moved while it was being extended (another 'chain --init' or a "
                    "writer): run 'mynacard chain --init' again"
                )
            curs.executemany(self.insert_chain_statement, [(k.position, k.chain_hash) for k in links])

    def newest_recorded_at(self) -> datetime | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_clock_statement)
            row = curs.fetchone()
        return clock_moment(int(row["newest_us"])) if row else None

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

    def store_mark(self, name: str) -> str | None:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(self.select_mark_statement, (name,))
            row = curs.fetchone()
        return str(row["value"]) if row else None

    def set_store_mark(self, name: str, value: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self.set_mark_statement, (name, value))

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
