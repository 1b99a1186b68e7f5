"""What both SQLite read models share (one file per projection: the library's SQLite tracking
table is not prefixed): the log head beside the tracking position, consistent snapshots, a scratch
twin in a temporary file, and the atomic swap.

Writes take the file's write lock when they begin (``BEGIN IMMEDIATE``): a writer then waits
for another one up to the lock timeout, where a deferred transaction whose read snapshot went
stale meanwhile fails at once with "database is locked" (a question catching up while
``mynacard rebuild`` swaps the view in, issue 8 item 10). Reads never wait (WAL).

May import: ``eventsourcing.sqlite``, the standard library, ``storage.interface`` and
``storage.records``.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteTrackingRecorder,
    SQLiteTransaction,
)

from storage.interface import TrackedView
from storage.records import LogHead, ReadModelTable

TRACKING = ReadModelTable("tracking", ("application_name",), "tracking")
LOG_HEAD = ReadModelTable("log_head", ("application_name",), "log head")


def sqlite_value(value: Any) -> Any:
    """A row value as the SQLite views store it: ids and dates as text, the rest as is."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def placeholders(count: int) -> str:
    """``?,?,…`` for ``count`` parameters."""
    return ",".join("?" * count)


class _ImmediateTransaction(SQLiteTransaction):
    """The library's transaction, begun with the write lock taken (``BEGIN IMMEDIATE``)."""

    def __enter__(self) -> SQLiteCursor:
        cursor = self.connection.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        return cursor


class _Snapshot:
    """A view file read in one read transaction (WAL: a consistent snapshot); rows ordered by
    their key columns as text, compared byte by byte (what ``projections.verify`` expects)."""

    def __init__(self, cursor: SQLiteCursor, position: int, head: LogHead | None) -> None:
        self._connection = cursor.sqlite_cursor.connection
        self.position = position
        self.head = head

    def rows(self, table: ReadModelTable) -> Iterator[dict[str, Any]]:
        cursor = self._connection.cursor()
        try:
            order = ", ".join(f'CAST("{k}" AS TEXT)' for k in table.key)  # as verify pairs them
            cursor.execute(f'SELECT * FROM "{table.name}" ORDER BY {order}')
            while batch := cursor.fetchmany(500):
                yield from (dict(r) for r in batch)
        finally:
            cursor.close()


class SQLiteView(SQLiteTrackingRecorder, TrackedView):
    """What both SQLite views share: the log head beside the tracking position, consistent
    snapshots, a scratch twin in a temporary file, and the atomic swap."""

    MODEL_TABLES: tuple[ReadModelTable, ...] = ()

    def close(self) -> None:
        self.datastore.close()

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS log_head (application_name TEXT PRIMARY KEY, "
            "notification_id INTEGER NOT NULL, fingerprint TEXT NOT NULL)",
        ]

    @property
    def db_name(self) -> str:
        return str(self.datastore.pool.db_name)

    @property
    def lock_timeout(self) -> float:
        return float(self.datastore.pool.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT)

    @contextmanager
    def _writing(self) -> Iterator[SQLiteCursor]:
        """A write transaction holding the write lock from its start (waits up to the lock timeout)."""
        with (
            self.datastore.get_connection(commit=True) as conn,
            _ImmediateTransaction(conn, commit=True) as curs,
            curs,
        ):
            yield curs

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return list(c.fetchall())

    def _tracked_head(self, c: SQLiteCursor, application_name: str) -> tuple[int, LogHead | None]:
        position = self._max_tracking_id(application_name, c) or 0
        c.execute(
            "SELECT notification_id, fingerprint FROM log_head WHERE application_name=?", (application_name,)
        )
        row = c.fetchone()
        return position, (LogHead(int(row[0]), str(row[1])) if row else None)

    def _write_head(self, c: SQLiteCursor, application_name: str, head: LogHead) -> None:
        c.execute(
            "INSERT OR REPLACE INTO log_head VALUES (?,?,?)",
            (application_name, head.position, head.fingerprint),
        )

    def tracked_head(self, application_name: str) -> tuple[int, LogHead | None]:
        with self.datastore.transaction(commit=False) as c:
            return self._tracked_head(c, application_name)

    def record_head(self, application_name: str, head: LogHead) -> None:
        with self._writing() as c:
            position, recorded = self._tracked_head(c, application_name)
            if recorded is None and position == head.position:
                self._write_head(c, application_name, head)

    def read_model_tables(self) -> list[ReadModelTable]:
        return [*self.MODEL_TABLES, TRACKING, LOG_HEAD]

    @contextmanager
    def snapshot(self, application_name: str) -> Iterator[_Snapshot]:
        with self.datastore.transaction(commit=False) as c:
            position, head = self._tracked_head(c, application_name)
            yield _Snapshot(c, position, head)

    @contextmanager
    def scratch(self) -> Iterator[SQLiteView]:
        """A twin in a temporary file beside the view's own (same file system), deleted on exit."""
        folder = Path(tempfile.mkdtemp(prefix=".scratch-", dir=Path(self.db_name).parent))
        datastore = SQLiteDatastore(str(folder / "view.sqlite"), lock_timeout=int(self.lock_timeout))
        try:
            twin = type(self)(datastore)
            twin.create_table()
            yield twin
        finally:
            datastore.close()
            shutil.rmtree(folder, ignore_errors=True)

    def replace_with(self, scratch: TrackedView, application_name: str) -> None:
        """Copy the twin's file into this one in one ``BEGIN IMMEDIATE`` transaction."""
        assert isinstance(scratch, SQLiteView)
        conn = sqlite3.connect(self.db_name, uri=True, timeout=self.lock_timeout, isolation_level=None)
        try:
            conn.execute("ATTACH DATABASE ? AS scratch", (scratch.db_name,))
            conn.execute("BEGIN IMMEDIATE")
            try:
                for table in self.MODEL_TABLES:
                    conn.execute(f'DELETE FROM main."{table.name}"')
                    conn.execute(f'INSERT INTO main."{table.name}" SELECT * FROM scratch."{table.name}"')
                for table in (TRACKING, LOG_HEAD):
                    where = "WHERE application_name=?"
                    conn.execute(f"DELETE FROM main.{table.name} {where}", (application_name,))
                    conn.execute(
                        f"INSERT INTO main.{table.name} SELECT * FROM scratch.{table.name} {where}",
                        (application_name,),
                    )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            conn.execute("DETACH DATABASE scratch")
        finally:
            conn.close()

    def clear(self, application_name: str) -> None:
        with self._writing() as c:
            for table in self.MODEL_TABLES:
                c.execute(f'DELETE FROM "{table.name}"')
            c.execute("DELETE FROM log_head WHERE application_name=?", (application_name,))
            c.execute("DELETE FROM tracking WHERE application_name=?", (application_name,))
