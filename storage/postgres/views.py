"""What both PostgreSQL read models share: tables ``<projection>_<suffix>`` in the configured
schema, the log head beside the tracking position (rows, position and head in one transaction),
consistent snapshots, a scratch twin and the atomic swap.

A view's scratch twin lives in the same schema under the prefix ``<projection>_s<8 hex>`` and is
dropped when done (a process killed meanwhile leaves those tables behind; they are never read).

May import: psycopg, ``eventsourcing.postgres``, the standard library, ``storage.interface``,
``storage.records`` and ``storage.postgres.schema``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

from eventsourcing.postgres import PostgresDatastore
from psycopg import Connection, Cursor
from psycopg.rows import DictRow, dict_row
from psycopg.sql import SQL, Composed, Identifier

from storage.interface import TrackedView
from storage.postgres.schema import LockedTrackingRecorder, schema_lock
from storage.records import LogHead, ReadModelTable

_cursor_names = itertools.count(1)


class _Snapshot:
    """A view read in one ``REPEATABLE READ, READ ONLY`` transaction (a consistent snapshot);
    rows ordered by their key columns as text in byte order (what ``projections.verify`` expects)."""

    def __init__(self, conn: Connection[DictRow], schema: str, position: int, head: LogHead | None) -> None:
        self._conn = conn
        self._schema = schema
        self.position = position
        self.head = head

    def rows(self, table: ReadModelTable) -> Iterator[dict[str, Any]]:
        query = SQL("SELECT * FROM {0}.{1} ORDER BY {2}").format(
            Identifier(self._schema),
            Identifier(table.name),
            SQL(", ").join(SQL('({0})::text COLLATE "C"').format(Identifier(k)) for k in table.key),
        )
        with self._conn.cursor(f"verify_scan_{next(_cursor_names)}", row_factory=dict_row) as cursor:
            cursor.itersize = 500
            cursor.execute(query)
            yield from (dict(r) for r in cursor)


class PostgresView(LockedTrackingRecorder, TrackedView):
    """Table names ``<projection>_<suffix>`` in the datastore's schema, the log head beside the
    tracking position, consistent snapshots, a scratch twin and the atomic swap."""

    MODEL_SUFFIXES: tuple[tuple[str, tuple[str, ...], str, str | None], ...] = ()
    """(suffix, key columns, label, snapshot id column) of each table of the view's rows."""

    def close(self) -> None:
        self.datastore.close()

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.prefix = self.tracking_table_name.removesuffix("_tracking")
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (application_name text PRIMARY KEY, "
                "notification_id bigint NOT NULL, fingerprint text NOT NULL)"
            ).format(self.t("head"))
        )

    def t(self, suffix: str) -> Composed:
        return self.q(f"{self.prefix}_{suffix}")

    def q(self, name: str) -> Composed:
        self.check_identifier_length(name)
        return SQL("{0}.{1}").format(Identifier(self.datastore.schema), Identifier(name))

    def model_tables(self) -> list[ReadModelTable]:
        return [
            ReadModelTable(f"{self.prefix}_{suffix}", key, label, snapshot_id)
            for suffix, key, label, snapshot_id in self.MODEL_SUFFIXES
        ]

    def _own_tables(self) -> tuple[ReadModelTable, ReadModelTable]:
        return (
            ReadModelTable(self.tracking_table_name, ("application_name",), "tracking"),
            ReadModelTable(f"{self.prefix}_head", ("application_name",), "log head"),
        )

    def read_model_tables(self) -> list[ReadModelTable]:
        return [*self.model_tables(), *self._own_tables()]

    def _tracked_head(self, curs: Cursor[DictRow], application_name: str) -> tuple[int, LogHead | None]:
        """Position and log head in ONE statement: under READ COMMITTED two statements could see
        a runner's commit between them and pair a position with another batch's head."""
        curs.execute(
            SQL(
                "SELECT (SELECT MAX(notification_id) FROM {0}.{1} WHERE application_name=%s) AS position, "
                "h.notification_id, h.fingerprint FROM (SELECT 1) AS one "
                "LEFT JOIN {2} AS h ON h.application_name=%s"
            ).format(Identifier(self.datastore.schema), Identifier(self.tracking_table_name), self.t("head")),
            (application_name, application_name),
        )
        row = curs.fetchone()
        assert row is not None
        head = None
        if row["notification_id"] is not None:
            head = LogHead(int(row["notification_id"]), str(row["fingerprint"]))
        return int(row["position"] or 0), head

    def _write_head(self, curs: Cursor[DictRow], application_name: str, head: LogHead) -> None:
        curs.execute(
            SQL(
                "INSERT INTO {0} VALUES (%s, %s, %s) ON CONFLICT (application_name) DO UPDATE SET "
                "notification_id=EXCLUDED.notification_id, fingerprint=EXCLUDED.fingerprint"
            ).format(self.t("head")),
            (application_name, head.position, head.fingerprint),
        )

    def tracked_head(self, application_name: str) -> tuple[int, LogHead | None]:
        with self.datastore.transaction(commit=False) as curs:
            return self._tracked_head(curs, application_name)

    def record_head(self, application_name: str, head: LogHead) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._lock_position(curs)
            position, recorded = self._tracked_head(curs, application_name)
            if recorded is None and position == head.position:
                self._write_head(curs, application_name, head)

    @contextmanager
    def snapshot(self, application_name: str) -> Iterator[_Snapshot]:
        with self.datastore.get_connection() as conn, conn.transaction(force_rollback=True):
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            with conn.cursor() as curs:
                position, head = self._tracked_head(curs, application_name)
            yield _Snapshot(conn, self.datastore.schema, position, head)

    @contextmanager
    def scratch(self) -> Iterator[PostgresView]:
        """A twin under the prefix ``<projection>_s<8 hex>`` in the same schema, dropped on exit."""
        twin = type(self)(self.datastore, tracking_table_name=f"{self.prefix}_s{uuid4().hex[:8]}_tracking")
        try:
            twin.create_table()
            yield twin
        finally:
            twin.drop_tables()

    def drop_tables(self) -> None:
        """Drop every table of this view (a scratch twin's, once done with it)."""
        names = SQL(", ").join(self.q(t.name) for t in self.read_model_tables())
        with schema_lock(self.datastore), self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("DROP TABLE IF EXISTS {0}").format(names))

    def replace_with(self, scratch: TrackedView, application_name: str) -> None:
        assert isinstance(scratch, PostgresView)
        with self.datastore.transaction(commit=True) as curs:
            self._lock_position(curs)
            for mine, theirs in zip(self.model_tables(), scratch.model_tables(), strict=True):
                curs.execute(SQL("DELETE FROM {0}").format(self.q(mine.name)))
                curs.execute(
                    SQL("INSERT INTO {0} SELECT * FROM {1}").format(self.q(mine.name), self.q(theirs.name))
                )
            for mine, theirs in zip(self._own_tables(), scratch._own_tables(), strict=True):
                curs.execute(
                    SQL("DELETE FROM {0} WHERE application_name=%s").format(self.q(mine.name)),
                    (application_name,),
                )
                curs.execute(
                    SQL("INSERT INTO {0} SELECT * FROM {1} WHERE application_name=%s").format(
                        self.q(mine.name), self.q(theirs.name)
                    ),
                    (application_name,),
                )

    def clear(self, application_name: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._lock_position(curs)
            for table in self.model_tables():
                curs.execute(SQL("DELETE FROM {0}").format(self.q(table.name)))
            for table in self._own_tables():
                curs.execute(
                    SQL("DELETE FROM {0} WHERE application_name=%s").format(self.q(table.name)),
                    (application_name,),
                )

    def _lock_position(self, curs: Cursor[DictRow]) -> None:
        """Serialize runners of this view on its tracking row (or the table, before the first row)."""
        curs.execute(
            SQL("LOCK TABLE {0}.{1} IN SHARE ROW EXCLUSIVE MODE").format(
                Identifier(self.datastore.schema), Identifier(self.tracking_table_name)
            )
        )

    def _rows(self, query: Composed, params: Sequence[Any] = ()) -> list[DictRow]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query, params, prepare=True)
            return list(curs.fetchall())
