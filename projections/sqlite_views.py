"""SQLite implementations of the read models (one file per projection: the library's SQLite
tracking table is not prefixed)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.sqlite import SQLiteCursor, SQLiteTrackingRecorder

from projections.views import (
    CardRow,
    CertificateRow,
    Counts,
    LifecycleView,
    RevocationChange,
    RevocationEntry,
    RevocationView,
    card_row_from,
    certificate_row_from,
    check_position,
    revocation_entry_from,
)

_LIVE_CARD = "('active','suspended')"
_PENDING_CARD = "('applied','accepted','produced')"


def _d(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _in(ids: Sequence[str]) -> str:
    return ",".join("?" * len(ids))


class SQLiteLifecycleView(SQLiteTrackingRecorder, LifecycleView):
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

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return list(c.fetchall())

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
        self, cards: Sequence[CardRow], certificates: Sequence[CertificateRow], tracking: Tracking, since: int
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
            check_position(self._max_tracking_id(tracking.application_name, c), since, tracking)
            self._upsert(c, cards, certificates)
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

    def clear(self, application_name: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("DELETE FROM cards")
            c.execute("DELETE FROM certificates")
            c.execute("DELETE FROM tracking WHERE application_name=?", (application_name,))


class SQLiteRevocationView(SQLiteTrackingRecorder, RevocationView):
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

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params)
            return list(c.fetchall())

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
    ) -> None:
        with self.datastore.transaction(commit=True) as c:
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
            self._insert_tracking(c, tracking)

    def list_number(self) -> int:
        rows = self._select("SELECT list_number FROM crl_number WHERE id=1")
        return int(rows[0][0]) if rows else 0

    def entries(self, *, include_removed: bool = False) -> list[RevocationEntry]:
        where = "" if include_removed else "WHERE removed_in IS NULL"
        rows = self._select(f"SELECT * FROM crl_entries {where} ORDER BY added_in")
        return [revocation_entry_from(r) for r in rows]

    def clear(self, application_name: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute("DELETE FROM crl_certificates")
            c.execute("DELETE FROM crl_entries")
            c.execute("DELETE FROM crl_number")
            c.execute("DELETE FROM tracking WHERE application_name=?", (application_name,))
