"""SQLite implementations of the read models (one file per projection: the library's SQLite
tracking table is not prefixed).

Writes take the file's write lock when they begin (``BEGIN IMMEDIATE``): a writer then waits
for another one up to the lock timeout, where a deferred transaction whose read snapshot went
stale meanwhile fails at once with "database is locked" (a question catching up while
``mynacard rebuild`` swaps the view in, issue 8 item 10). Reads never wait (WAL).
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteTrackingRecorder,
    SQLiteTransaction,
)

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

TRACKING = ReadModelTable("tracking", ("application_name",), "tracking")
LOG_HEAD = ReadModelTable("log_head", ("application_name",), "log head")

_LIVE_CARD = "('active','suspended')"
_PENDING_CARD = "('applied','accepted','produced')"


def _d(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _in(ids: Sequence[str]) -> str:
    return ",".join("?" * len(ids))


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


class _SQLiteView(SQLiteTrackingRecorder, TrackedView):
    """What both SQLite views share: the log head beside the tracking position, consistent
    snapshots, a scratch twin in a temporary file, and the atomic swap."""

    MODEL_TABLES: tuple[ReadModelTable, ...] = ()

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
    def scratch(self) -> Iterator[_SQLiteView]:
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
        assert isinstance(scratch, _SQLiteView)
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


class SQLiteLifecycleView(_SQLiteView, LifecycleView):
    MODEL_TABLES = (
        ReadModelTable("cards", ("card_id",), "card", snapshot_id="card_id"),
        ReadModelTable("certificates", ("certificate_id",), "certificate", snapshot_id="certificate_id"),
    )

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS cards (card_id TEXT PRIMARY KEY, application_id TEXT NOT NULL, "
            "holder_ref TEXT NOT NULL, successor_holder_ref TEXT, status TEXT NOT NULL, kind TEXT NOT NULL, "
            "issue_date TEXT, expires_on TEXT, notice_expires_on TEXT, version INTEGER NOT NULL, "
            "position INTEGER NOT NULL, topic TEXT NOT NULL, state BLOB NOT NULL)",
            "CREATE INDEX IF NOT EXISTS cards_holder ON cards (holder_ref)",
            "CREATE INDEX IF NOT EXISTS cards_successor ON cards (successor_holder_ref)",
            "CREATE INDEX IF NOT EXISTS cards_expires ON cards (expires_on)",
            "CREATE INDEX IF NOT EXISTS cards_status ON cards (status)",
            "CREATE TABLE IF NOT EXISTS certificates (certificate_id TEXT PRIMARY KEY, "
            "serial TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, card_id TEXT NOT NULL, "
            "holder_ref TEXT NOT NULL, status TEXT NOT NULL, expires_on TEXT, revoked_at TEXT, "
            "reason_name TEXT, reason_code INTEGER, "
            "version INTEGER NOT NULL, position INTEGER NOT NULL, topic TEXT NOT NULL, state BLOB NOT NULL)",
            "CREATE INDEX IF NOT EXISTS certificates_card ON certificates (card_id)",
            "CREATE INDEX IF NOT EXISTS certificates_expires ON certificates (expires_on)",
        ]

    def card_rows(self, card_ids: Iterable[UUID]) -> dict[UUID, CardRow]:
        ids = [str(i) for i in card_ids]
        if not ids:
            return {}
        rows = self._select(f"SELECT * FROM cards WHERE card_id IN ({_in(ids)})", ids)
        return {r.card_id: r for r in map(card_row_from, rows)}

    def certificate_rows(self, certificate_ids: Iterable[UUID]) -> dict[UUID, CertificateRow]:
        ids = [str(i) for i in certificate_ids]
        if not ids:
            return {}
        rows = self._select(f"SELECT * FROM certificates WHERE certificate_id IN ({_in(ids)})", ids)
        return {r.certificate_id: r for r in map(certificate_row_from, rows)}

    def commit(
        self,
        cards: Sequence[CardRow],
        certificates: Sequence[CertificateRow],
        tracking: Tracking,
        since: int,
        head: LogHead,
    ) -> None:
        with self._writing() as c:
            check_position(self._max_tracking_id(tracking.application_name, c), since, tracking)
            self._upsert(c, cards, certificates)
            self._write_head(c, tracking.application_name, head)
            self._insert_tracking(c, tracking)

    def _upsert(
        self, c: SQLiteCursor, cards: Sequence[CardRow], certificates: Sequence[CertificateRow]
    ) -> None:
        for r in cards:
            c.execute(
                "INSERT OR REPLACE INTO cards VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    str(r.card_id),
                    r.application_id,
                    r.holder_ref,
                    r.successor_holder_ref,
                    r.status,
                    r.kind,
                    _iso(r.issue_date),
                    _iso(r.expires_on),
                    _iso(r.notice_expires_on),
                    r.version,
                    r.position,
                    r.topic,
                    r.state,
                ),
            )
        for q in certificates:
            c.execute(
                "INSERT OR REPLACE INTO certificates VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    str(q.certificate_id),
                    q.serial,
                    q.kind,
                    str(q.card_id),
                    q.holder_ref,
                    q.status,
                    _iso(q.expires_on),
                    q.revoked_at,
                    q.reason_name,
                    q.reason_code,
                    q.version,
                    q.position,
                    q.topic,
                    q.state,
                ),
            )

    def certificates_of_card(self, card_id: UUID) -> list[CertificateRow]:
        rows = self._select("SELECT * FROM certificates WHERE card_id=? ORDER BY position", (str(card_id),))
        return [certificate_row_from(r) for r in rows]

    def certificate_by_serial(self, serial: str) -> CertificateRow | None:
        rows = self._select("SELECT * FROM certificates WHERE serial=?", (serial.upper(),))
        return certificate_row_from(rows[0]) if rows else None

    def cards_of_holder(self, holder_ref: str) -> list[CardRow]:
        rows = self._select(
            "SELECT * FROM cards WHERE holder_ref=? OR successor_holder_ref=? ORDER BY position",
            (holder_ref, holder_ref),
        )
        return [card_row_from(r) for r in rows]

    def cards_expiring(self, first: date, last: date, *, live_only: bool = True) -> list[CardRow]:
        where = f"AND status IN {_LIVE_CARD}" if live_only else ""
        rows = self._select(
            f"SELECT * FROM cards WHERE expires_on BETWEEN ? AND ? {where} ORDER BY expires_on, card_id",
            (first.isoformat(), last.isoformat()),
        )
        return [card_row_from(r) for r in rows]

    def certificates_expiring(self, first: date, last: date) -> list[CertificateRow]:
        rows = self._select(
            "SELECT * FROM certificates WHERE expires_on BETWEEN ? AND ? AND status IN ('active','on_hold') "
            "ORDER BY expires_on, serial",
            (first.isoformat(), last.isoformat()),
        )
        return [certificate_row_from(r) for r in rows]

    def unended_cards(self) -> list[CardRow]:
        rows = self._select(
            f"SELECT * FROM cards WHERE status IN {_PENDING_CARD} OR (status IN {_LIVE_CARD}) "
            "ORDER BY card_id",
        )
        return [card_row_from(r) for r in rows]

    def counts(self) -> Counts:
        def pairs(sql: str) -> dict[str, int]:
            return {str(k): int(n) for k, n in self._select(sql) if k is not None}

        by_kind: dict[str, dict[str, int]] = {}
        for kind, status, n in self._select(
            "SELECT kind, status, COUNT(*) FROM certificates GROUP BY kind, status ORDER BY kind, status"
        ):
            by_kind.setdefault(kind, {})[status] = n
        return Counts(
            cards_by_status=pairs("SELECT status, COUNT(*) FROM cards GROUP BY status ORDER BY status"),
            cards_by_kind=pairs("SELECT kind, COUNT(*) FROM cards GROUP BY kind ORDER BY kind"),
            cards_issued_by_month=pairs(
                "SELECT substr(issue_date,1,7) m, COUNT(*) FROM cards WHERE issue_date IS NOT NULL "
                "GROUP BY m ORDER BY m"
            ),
            cards_expiring_by_month=pairs(
                f"SELECT substr(expires_on,1,7) m, COUNT(*) FROM cards WHERE status IN {_LIVE_CARD} "
                "AND expires_on IS NOT NULL GROUP BY m ORDER BY m"
            ),
            certificates_by_kind_and_status=by_kind,
        )

    def all_card_ids(self) -> list[UUID]:
        return [UUID(r[0]) for r in self._select("SELECT card_id FROM cards ORDER BY card_id")]

    def all_certificate_ids(self) -> list[UUID]:
        return [
            UUID(r[0])
            for r in self._select("SELECT certificate_id FROM certificates ORDER BY certificate_id")
        ]


class SQLiteRevocationView(_SQLiteView, RevocationView):
    MODEL_TABLES = (
        ReadModelTable("crl_certificates", ("certificate_id",), "issued certificate"),
        ReadModelTable("crl_entries", ("serial", "added_in"), "revocation entry"),
        ReadModelTable("crl_number", ("id",), "list number row"),
    )

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            "CREATE TABLE IF NOT EXISTS crl_certificates (certificate_id TEXT PRIMARY KEY, "
            "serial TEXT NOT NULL, kind TEXT NOT NULL, expires_on TEXT)",
            "CREATE TABLE IF NOT EXISTS crl_entries (serial TEXT NOT NULL, kind TEXT NOT NULL, "
            "reason_name TEXT NOT NULL, reason_code INTEGER NOT NULL, revoked_at TEXT NOT NULL, "
            "recorded_at TEXT NOT NULL, expires_on TEXT, added_in INTEGER NOT NULL, removed_in INTEGER, "
            "PRIMARY KEY (serial, added_in))",
            "CREATE TABLE IF NOT EXISTS crl_number (id INTEGER PRIMARY KEY CHECK (id = 1), "
            "list_number INTEGER NOT NULL)",
        ]

    def certificate_facts(self, certificate_ids: Iterable[UUID]) -> dict[UUID, tuple[str, str, date | None]]:
        ids = [str(i) for i in certificate_ids]
        if not ids:
            return {}
        rows = self._select(
            f"SELECT certificate_id, serial, kind, expires_on FROM crl_certificates "
            f"WHERE certificate_id IN ({_in(ids)})",
            ids,
        )
        return {UUID(r[0]): (r[1], r[2], _d(r[3])) for r in rows}

    def commit(
        self,
        issued: Sequence[tuple[UUID, str, str, date | None]],
        changes: Sequence[RevocationChange],
        tracking: Tracking,
        since: int,
        head: LogHead,
    ) -> None:
        with self._writing() as c:
            check_position(self._max_tracking_id(tracking.application_name, c), since, tracking)
            for cert_id, serial, kind, expires_on in issued:
                c.execute(
                    "INSERT OR REPLACE INTO crl_certificates VALUES (?,?,?,?)",
                    (str(cert_id), serial, kind, _iso(expires_on)),
                )
            c.execute("SELECT list_number FROM crl_number WHERE id=1")
            row = c.fetchone()
            number = row[0] if row else 0
            for ch in changes:
                number += 1
                c.execute(
                    "UPDATE crl_entries SET removed_in=? WHERE serial=? AND removed_in IS NULL",
                    (number, ch.serial),
                )
                if ch.change == "add":
                    c.execute(
                        "INSERT INTO crl_entries VALUES (?,?,?,?,?,?,?,?,NULL)",
                        (
                            ch.serial,
                            ch.kind,
                            ch.reason_name,
                            ch.reason_code,
                            ch.revoked_at,
                            ch.recorded_at,
                            _iso(ch.expires_on),
                            number,
                        ),
                    )
            c.execute("INSERT OR REPLACE INTO crl_number VALUES (1, ?)", (number,))
            self._write_head(c, tracking.application_name, head)
            self._insert_tracking(c, tracking)

    def list_number(self) -> int:
        rows = self._select("SELECT list_number FROM crl_number WHERE id=1")
        return int(rows[0][0]) if rows else 0

    def entries(self, *, include_removed: bool = False) -> list[RevocationEntry]:
        where = "" if include_removed else "WHERE removed_in IS NULL"
        rows = self._select(f"SELECT * FROM crl_entries {where} ORDER BY added_in")
        return [revocation_entry_from(r) for r in rows]
