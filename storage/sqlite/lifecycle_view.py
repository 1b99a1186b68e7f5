"""The SQLite ``lifecycle_view``: cards and certificates, current state, in a file of its own
(``<store>-lifecycle_view.sqlite``): tables ``cards`` and ``certificates`` beside the library's
``tracking`` and the ``log_head``.

May import: ``eventsourcing``, the standard library, ``storage.interface``, ``storage.records``
and ``storage.sqlite.views``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.sqlite import SQLiteCursor

from storage.interface import LifecycleView
from storage.records import (
    CARD_COLUMNS,
    CERTIFICATE_COLUMNS,
    LIVE_CARD_STATUSES,
    LIVE_CERTIFICATE_STATUSES,
    UNENDED_CARD_STATUSES,
    CardRow,
    CertificateRow,
    Counts,
    LogHead,
    ReadModelTable,
    card_row_from,
    certificate_row_from,
    check_position,
    values,
)
from storage.sqlite.views import SQLiteView, placeholders, sqlite_value

_LIVE = f"({placeholders(len(LIVE_CARD_STATUSES))})"


class SQLiteLifecycleView(SQLiteView, LifecycleView):
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
        rows = self._select(f"SELECT * FROM cards WHERE card_id IN ({placeholders(len(ids))})", ids)
        return {r.card_id: r for r in map(card_row_from, rows)}

    def certificate_rows(self, certificate_ids: Iterable[UUID]) -> dict[UUID, CertificateRow]:
        ids = [str(i) for i in certificate_ids]
        if not ids:
            return {}
        rows = self._select(
            f"SELECT * FROM certificates WHERE certificate_id IN ({placeholders(len(ids))})", ids
        )
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
        for table, columns, rows in (
            ("cards", CARD_COLUMNS, cards),
            ("certificates", CERTIFICATE_COLUMNS, certificates),
        ):
            statement = f"INSERT OR REPLACE INTO {table} VALUES ({placeholders(len(columns))})"
            for row in rows:
                c.execute(statement, tuple(map(sqlite_value, values(row))))

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
        where = f"AND status IN {_LIVE}" if live_only else ""
        rows = self._select(
            f"SELECT * FROM cards WHERE expires_on BETWEEN ? AND ? {where} ORDER BY expires_on, card_id",
            (first.isoformat(), last.isoformat(), *(LIVE_CARD_STATUSES if live_only else ())),
        )
        return [card_row_from(r) for r in rows]

    def certificates_expiring(self, first: date, last: date) -> list[CertificateRow]:
        rows = self._select(
            "SELECT * FROM certificates WHERE expires_on BETWEEN ? AND ? "
            f"AND status IN ({placeholders(len(LIVE_CERTIFICATE_STATUSES))}) ORDER BY expires_on, serial",
            (first.isoformat(), last.isoformat(), *LIVE_CERTIFICATE_STATUSES),
        )
        return [certificate_row_from(r) for r in rows]

    def unended_cards(self) -> list[CardRow]:
        rows = self._select(
            f"SELECT * FROM cards WHERE status IN ({placeholders(len(UNENDED_CARD_STATUSES))}) "
            "ORDER BY card_id",
            UNENDED_CARD_STATUSES,
        )
        return [card_row_from(r) for r in rows]

    def counts(self) -> Counts:
        return Counts.from_groups(
            cards_by_status=self._select(
                "SELECT status, COUNT(*) FROM cards GROUP BY status ORDER BY status"
            ),
            cards_by_kind=self._select("SELECT kind, COUNT(*) FROM cards GROUP BY kind ORDER BY kind"),
            cards_issued_by_month=self._select(
                "SELECT substr(issue_date,1,7) m, COUNT(*) FROM cards WHERE issue_date IS NOT NULL "
                "GROUP BY m ORDER BY m"
            ),
            cards_expiring_by_month=self._select(
                f"SELECT substr(expires_on,1,7) m, COUNT(*) FROM cards WHERE status IN {_LIVE} "
                "AND expires_on IS NOT NULL GROUP BY m ORDER BY m",
                LIVE_CARD_STATUSES,
            ),
            certificates_by_kind_and_status=self._select(
                "SELECT kind, status, COUNT(*) FROM certificates GROUP BY kind, status ORDER BY kind, status"
            ),
        )

    def all_card_ids(self) -> list[UUID]:
        return [UUID(r[0]) for r in self._select("SELECT card_id FROM cards ORDER BY card_id")]

    def all_certificate_ids(self) -> list[UUID]:
        return [
            UUID(r[0])
            for r in self._select("SELECT certificate_id FROM certificates ORDER BY certificate_id")
        ]
