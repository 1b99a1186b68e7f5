"""PostgreSQL implementations of the read models: the same interface as the SQLite ones, tables
prefixed by the projection's name in the configured schema, rows, tracking position and log head
in one transaction.

A view's scratch twin lives in the same schema under the prefix ``<projection>_s<8 hex>`` and is
dropped when done (a process killed meanwhile leaves those tables behind; they are never read).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Connection, Cursor
from psycopg.rows import DictRow, dict_row
from psycopg.sql import SQL, Composed, Identifier

from commands.postgres_schema import schema_lock
from projections.views import (
    CardRow,
    CertificateRow,
    Counts,
    LifecycleView,
    LogHead,
    ReadModelTable,
    RevocationChange,
    RevocationEntry,
    RevocationView,
    TrackedView,
    card_row_from,
    certificate_row_from,
    check_position,
    revocation_entry_from,
)

_LIVE = ("active", "suspended")
_PENDING = ("applied", "accepted", "produced")


class PostgresCheckpoints(PostgresTrackingRecorder):
    """Tracking rows (durable consumers' checkpoints), created under the schema lock."""

    def create_table(self) -> None:
        with schema_lock(self.datastore):
            super().create_table()


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


class _Tables(PostgresCheckpoints, TrackedView):
    """Table names ``<projection>_<suffix>`` in the datastore's schema, the log head beside the
    tracking position, consistent snapshots, a scratch twin and the atomic swap."""

    MODEL_SUFFIXES: tuple[tuple[str, tuple[str, ...], str, str | None], ...] = ()
    """(suffix, key columns, label, snapshot id column) of each table of the view's rows."""

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
    def scratch(self) -> Iterator[_Tables]:
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
        assert isinstance(scratch, _Tables)
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


class PostgresLifecycleView(_Tables, LifecycleView):
    MODEL_SUFFIXES = (
        ("cards", ("card_id",), "card", "card_id"),
        ("certificates", ("certificate_id",), "certificate", "certificate_id"),
    )

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        cards, certs = self.t("cards"), self.t("certificates")
        idx = self.prefix
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (card_id uuid PRIMARY KEY, application_id text NOT NULL, "
                "holder_ref text NOT NULL, successor_holder_ref text, status text NOT NULL, kind text NOT NULL, "
                "issue_date date, expires_on date, notice_expires_on date, version bigint NOT NULL, "
                "position bigint NOT NULL, topic text NOT NULL, state bytea NOT NULL)"
            ).format(cards),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (holder_ref)").format(
                Identifier(f"{idx}_c_holder"), cards
            ),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (successor_holder_ref)").format(
                Identifier(f"{idx}_c_successor"), cards
            ),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (expires_on)").format(
                Identifier(f"{idx}_c_expires"), cards
            ),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (status)").format(
                Identifier(f"{idx}_c_status"), cards
            ),
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (certificate_id uuid PRIMARY KEY, serial text NOT NULL UNIQUE, "
                "kind text NOT NULL, card_id uuid NOT NULL, holder_ref text NOT NULL, status text NOT NULL, "
                "expires_on date, revoked_at text, reason_name text, reason_code integer, "
                "version bigint NOT NULL, position bigint NOT NULL, topic text NOT NULL, state bytea NOT NULL)"
            ).format(certs),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (card_id)").format(Identifier(f"{idx}_q_card"), certs),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (expires_on)").format(
                Identifier(f"{idx}_q_expires"), certs
            ),
        ]
        self.upsert_card = SQL(
            "INSERT INTO {0} VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (card_id) DO UPDATE SET "
            "application_id=EXCLUDED.application_id, holder_ref=EXCLUDED.holder_ref, "
            "successor_holder_ref=EXCLUDED.successor_holder_ref, status=EXCLUDED.status, kind=EXCLUDED.kind, "
            "issue_date=EXCLUDED.issue_date, expires_on=EXCLUDED.expires_on, "
            "notice_expires_on=EXCLUDED.notice_expires_on, version=EXCLUDED.version, "
            "position=EXCLUDED.position, topic=EXCLUDED.topic, state=EXCLUDED.state"
        ).format(cards)
        self.upsert_certificate = SQL(
            "INSERT INTO {0} VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (certificate_id) "
            "DO UPDATE SET status=EXCLUDED.status, expires_on=EXCLUDED.expires_on, "
            "revoked_at=EXCLUDED.revoked_at, reason_name=EXCLUDED.reason_name, "
            "reason_code=EXCLUDED.reason_code, version=EXCLUDED.version, position=EXCLUDED.position, "
            "topic=EXCLUDED.topic, state=EXCLUDED.state"
        ).format(certs)

    def card_rows(self, card_ids: Iterable[UUID]) -> dict[UUID, CardRow]:
        ids = list(card_ids)
        if not ids:
            return {}
        rows = self._rows(SQL("SELECT * FROM {0} WHERE card_id = ANY(%s)").format(self.t("cards")), (ids,))
        return {r.card_id: r for r in map(card_row_from, rows)}

    def certificate_rows(self, certificate_ids: Iterable[UUID]) -> dict[UUID, CertificateRow]:
        ids = list(certificate_ids)
        if not ids:
            return {}
        query = SQL("SELECT * FROM {0} WHERE certificate_id = ANY(%s)").format(self.t("certificates"))
        return {r.certificate_id: r for r in map(certificate_row_from, self._rows(query, (ids,)))}

    def commit(
        self,
        cards: Sequence[CardRow],
        certificates: Sequence[CertificateRow],
        tracking: Tracking,
        since: int,
        head: LogHead,
    ) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._lock_position(curs)
            check_position(self._max_tracking_id(tracking.application_name, curs), since, tracking)
            self._upsert(curs, cards, certificates)
            self._write_head(curs, tracking.application_name, head)
            self._insert_tracking(curs, tracking)

    def _upsert(
        self, curs: Cursor[DictRow], cards: Sequence[CardRow], certificates: Sequence[CertificateRow]
    ) -> None:
        if cards:
            curs.executemany(
                self.upsert_card,
                [
                    (
                        r.card_id,
                        r.application_id,
                        r.holder_ref,
                        r.successor_holder_ref,
                        r.status,
                        r.kind,
                        r.issue_date,
                        r.expires_on,
                        r.notice_expires_on,
                        r.version,
                        r.position,
                        r.topic,
                        r.state,
                    )
                    for r in cards
                ],
            )
        if certificates:
            curs.executemany(
                self.upsert_certificate,
                [
                    (
                        q.certificate_id,
                        q.serial,
                        q.kind,
                        q.card_id,
                        q.holder_ref,
                        q.status,
                        q.expires_on,
                        q.revoked_at,
                        q.reason_name,
                        q.reason_code,
                        q.version,
                        q.position,
                        q.topic,
                        q.state,
                    )
                    for q in certificates
                ],
            )

    def certificates_of_card(self, card_id: UUID) -> list[CertificateRow]:
        query = SQL("SELECT * FROM {0} WHERE card_id=%s ORDER BY position").format(self.t("certificates"))
        return [certificate_row_from(r) for r in self._rows(query, (card_id,))]

    def certificate_by_serial(self, serial: str) -> CertificateRow | None:
        rows = self._rows(
            SQL("SELECT * FROM {0} WHERE serial=%s").format(self.t("certificates")), (serial.upper(),)
        )
        return certificate_row_from(rows[0]) if rows else None

    def cards_of_holder(self, holder_ref: str) -> list[CardRow]:
        query = SQL(
            "SELECT * FROM {0} WHERE holder_ref=%s OR successor_holder_ref=%s ORDER BY position"
        ).format(self.t("cards"))
        return [card_row_from(r) for r in self._rows(query, (holder_ref, holder_ref))]

    def cards_expiring(self, first: date, last: date, *, live_only: bool = True) -> list[CardRow]:
        where = SQL("AND status = ANY(%s)") if live_only else SQL("")
        query = SQL(
            "SELECT * FROM {0} WHERE expires_on BETWEEN %s AND %s {1} ORDER BY expires_on, card_id"
        ).format(self.t("cards"), where)
        params: list[Any] = [first, last] + ([list(_LIVE)] if live_only else [])
        return [card_row_from(r) for r in self._rows(query, params)]

    def certificates_expiring(self, first: date, last: date) -> list[CertificateRow]:
        query = SQL(
            "SELECT * FROM {0} WHERE expires_on BETWEEN %s AND %s AND status IN ('active','on_hold') "
            "ORDER BY expires_on, serial"
        ).format(self.t("certificates"))
        return [certificate_row_from(r) for r in self._rows(query, (first, last))]

    def unended_cards(self) -> list[CardRow]:
        query = SQL("SELECT * FROM {0} WHERE status = ANY(%s) ORDER BY card_id").format(self.t("cards"))
        return [card_row_from(r) for r in self._rows(query, ([*_LIVE, *_PENDING],))]

    def counts(self) -> Counts:
        cards, certs = self.t("cards"), self.t("certificates")

        def pairs(query: Composed, params: Sequence[Any] = ()) -> dict[str, int]:
            return {str(r["k"]): int(r["n"]) for r in self._rows(query, params) if r["k"] is not None}

        by_kind: dict[str, dict[str, int]] = {}
        for r in self._rows(
            SQL(
                "SELECT kind, status, COUNT(*) AS n FROM {0} GROUP BY kind, status ORDER BY kind, status"
            ).format(certs)
        ):
            by_kind.setdefault(r["kind"], {})[r["status"]] = r["n"]
        return Counts(
            cards_by_status=pairs(
                SQL("SELECT status AS k, COUNT(*) AS n FROM {0} GROUP BY k ORDER BY k").format(cards)
            ),
            cards_by_kind=pairs(
                SQL("SELECT kind AS k, COUNT(*) AS n FROM {0} GROUP BY k ORDER BY k").format(cards)
            ),
            cards_issued_by_month=pairs(
                SQL(
                    "SELECT to_char(issue_date, 'YYYY-MM') AS k, COUNT(*) AS n FROM {0} "
                    "WHERE issue_date IS NOT NULL GROUP BY k ORDER BY k"
                ).format(cards)
            ),
            cards_expiring_by_month=pairs(
                SQL(
                    "SELECT to_char(expires_on, 'YYYY-MM') AS k, COUNT(*) AS n FROM {0} "
                    "WHERE status = ANY(%s) AND expires_on IS NOT NULL GROUP BY k ORDER BY k"
                ).format(cards),
                (list(_LIVE),),
            ),
            certificates_by_kind_and_status=by_kind,
        )

    def all_card_ids(self) -> list[UUID]:
        return [
            r["card_id"]
            for r in self._rows(SQL("SELECT card_id FROM {0} ORDER BY card_id").format(self.t("cards")))
        ]

    def all_certificate_ids(self) -> list[UUID]:
        query = SQL("SELECT certificate_id FROM {0} ORDER BY certificate_id").format(self.t("certificates"))
        return [r["certificate_id"] for r in self._rows(query)]


class PostgresRevocationView(_Tables, RevocationView):
    MODEL_SUFFIXES = (
        ("certificates", ("certificate_id",), "issued certificate", None),
        ("entries", ("serial", "added_in"), "revocation entry", None),
        ("number", ("id",), "list number row", None),
    )

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (certificate_id uuid PRIMARY KEY, serial text NOT NULL, "
                "kind text NOT NULL, expires_on date)"
            ).format(self.t("certificates")),
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (serial text NOT NULL, kind text NOT NULL, reason_name text NOT NULL, "
                "reason_code integer NOT NULL, revoked_at text NOT NULL, recorded_at text NOT NULL, expires_on date, "
                "added_in bigint NOT NULL, removed_in bigint, PRIMARY KEY (serial, added_in))"
            ).format(self.t("entries")),
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (id integer PRIMARY KEY CHECK (id = 1), list_number bigint NOT NULL)"
            ).format(self.t("number")),
        ]

    def certificate_facts(self, certificate_ids: Iterable[UUID]) -> dict[UUID, tuple[str, str, date | None]]:
        ids = list(certificate_ids)
        if not ids:
            return {}
        query = SQL("SELECT * FROM {0} WHERE certificate_id = ANY(%s)").format(self.t("certificates"))
        return {
            r["certificate_id"]: (r["serial"], r["kind"], r["expires_on"]) for r in self._rows(query, (ids,))
        }

    def commit(
        self,
        issued: Sequence[tuple[UUID, str, str, date | None]],
        changes: Sequence[RevocationChange],
        tracking: Tracking,
        since: int,
        head: LogHead,
    ) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._lock_position(curs)
            check_position(self._max_tracking_id(tracking.application_name, curs), since, tracking)
            if issued:
                curs.executemany(
                    SQL(
                        "INSERT INTO {0} VALUES (%s,%s,%s,%s) ON CONFLICT (certificate_id) DO NOTHING"
                    ).format(self.t("certificates")),
                    list(issued),
                )
            curs.execute(SQL("SELECT list_number FROM {0} WHERE id=1 FOR UPDATE").format(self.t("number")))
            row = curs.fetchone()
            number = int(row["list_number"]) if row else 0
            for ch in changes:
                number += 1
                curs.execute(
                    SQL("UPDATE {0} SET removed_in=%s WHERE serial=%s AND removed_in IS NULL").format(
                        self.t("entries")
                    ),
                    (number, ch.serial),
                )
                if ch.change == "add":
                    curs.execute(
                        SQL("INSERT INTO {0} VALUES (%s,%s,%s,%s,%s,%s,%s,%s,NULL)").format(
                            self.t("entries")
                        ),
                        (
                            ch.serial,
                            ch.kind,
                            ch.reason_name,
                            ch.reason_code,
                            ch.revoked_at,
                            ch.recorded_at,
                            ch.expires_on,
                            number,
                        ),
                    )
            curs.execute(
                SQL(
                    "INSERT INTO {0} VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET list_number=EXCLUDED.list_number"
                ).format(self.t("number")),
                (number,),
            )
            self._write_head(curs, tracking.application_name, head)
            self._insert_tracking(curs, tracking)

    def list_number(self) -> int:
        rows = self._rows(SQL("SELECT list_number FROM {0} WHERE id=1").format(self.t("number")))
        return int(rows[0]["list_number"]) if rows else 0

    def entries(self, *, include_removed: bool = False) -> list[RevocationEntry]:
        where = SQL("") if include_removed else SQL("WHERE removed_in IS NULL")
        rows = self._rows(SQL("SELECT * FROM {0} {1} ORDER BY added_in").format(self.t("entries"), where))
        return [revocation_entry_from(r) for r in rows]
