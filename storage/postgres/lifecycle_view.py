"""The PostgreSQL ``lifecycle_view``: cards and certificates, current state, in the tables
``lifecycle_view_cards`` and ``lifecycle_view_certificates`` (the projection's name as prefix)
beside ``lifecycle_view_tracking`` and ``lifecycle_view_head``.

May import: psycopg, ``eventsourcing``, the standard library, ``storage.interface``,
``storage.records`` and ``storage.postgres.views``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from storage.interface import LifecycleView
from storage.postgres.views import PostgresView
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
    card_row_from,
    certificate_row_from,
    check_position,
    values,
)

_CERTIFICATE_FIXED = frozenset({"certificate_id", "serial", "kind", "card_id", "holder_ref"})
"""Certificate columns an upsert leaves as first written (they never change once issued)."""


def _upsert(table: Composed, columns: Sequence[str], key: str, updated: Sequence[str]) -> Composed:
    return SQL("INSERT INTO {0} VALUES ({1}) ON CONFLICT ({2}) DO UPDATE SET {3}").format(
        table,
        SQL(",").join(SQL("%s") for _ in columns),
        Identifier(key),
        SQL(", ").join(SQL("{0}=EXCLUDED.{0}").format(Identifier(c)) for c in updated),
    )


class PostgresLifecycleView(PostgresView, LifecycleView):
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
                "holder_ref text NOT NULL, successor_holder_ref text, status text NOT NULL, "
                "kind text NOT NULL, issue_date date, expires_on date, notice_expires_on date, "
                "version bigint NOT NULL, position bigint NOT NULL, topic text NOT NULL, "
                "state bytea NOT NULL)"
            ).format(cards),
            *(
                SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} ({2})").format(
                    Identifier(f"{idx}_{name}"), table, Identifier(column)
                )
                for name, table, column in (
                    ("c_holder", cards, "holder_ref"),
                    ("c_successor", cards, "successor_holder_ref"),
                    ("c_expires", cards, "expires_on"),
                    ("c_status", cards, "status"),
                )
            ),
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (certificate_id uuid PRIMARY KEY, "
                "serial text NOT NULL UNIQUE, kind text NOT NULL, card_id uuid NOT NULL, "
                "holder_ref text NOT NULL, status text NOT NULL, expires_on date, revoked_at text, "
                "reason_name text, reason_code integer, version bigint NOT NULL, position bigint NOT NULL, "
                "topic text NOT NULL, state bytea NOT NULL)"
            ).format(certs),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (card_id)").format(Identifier(f"{idx}_q_card"), certs),
            SQL("CREATE INDEX IF NOT EXISTS {0} ON {1} (expires_on)").format(
                Identifier(f"{idx}_q_expires"), certs
            ),
        ]
        self.upsert_card = _upsert(cards, CARD_COLUMNS, "card_id", CARD_COLUMNS[1:])
        self.upsert_certificate = _upsert(
            certs,
            CERTIFICATE_COLUMNS,
            "certificate_id",
            [c for c in CERTIFICATE_COLUMNS if c not in _CERTIFICATE_FIXED],
        )

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
            curs.executemany(self.upsert_card, [values(r) for r in cards])
        if certificates:
            curs.executemany(self.upsert_certificate, [values(q) for q in certificates])

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
        params: list[Any] = [first, last] + ([list(LIVE_CARD_STATUSES)] if live_only else [])
        return [card_row_from(r) for r in self._rows(query, params)]

    def certificates_expiring(self, first: date, last: date) -> list[CertificateRow]:
        query = SQL(
            "SELECT * FROM {0} WHERE expires_on BETWEEN %s AND %s AND status = ANY(%s) "
            "ORDER BY expires_on, serial"
        ).format(self.t("certificates"))
        params = (first, last, list(LIVE_CERTIFICATE_STATUSES))
        return [certificate_row_from(r) for r in self._rows(query, params)]

    def unended_cards(self) -> list[CardRow]:
        query = SQL("SELECT * FROM {0} WHERE status = ANY(%s) ORDER BY card_id").format(self.t("cards"))
        return [card_row_from(r) for r in self._rows(query, (list(UNENDED_CARD_STATUSES),))]

    def counts(self) -> Counts:
        cards, certs = self.t("cards"), self.t("certificates")

        def groups(query: Composed, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
            return [tuple(r.values()) for r in self._rows(query, params)]

        return Counts.from_groups(
            cards_by_status=groups(
                SQL("SELECT status AS k, COUNT(*) AS n FROM {0} GROUP BY k ORDER BY k").format(cards)
            ),
            cards_by_kind=groups(
                SQL("SELECT kind AS k, COUNT(*) AS n FROM {0} GROUP BY k ORDER BY k").format(cards)
            ),
            cards_issued_by_month=groups(
                SQL(
                    "SELECT to_char(issue_date, 'YYYY-MM') AS k, COUNT(*) AS n FROM {0} "
                    "WHERE issue_date IS NOT NULL GROUP BY k ORDER BY k"
                ).format(cards)
            ),
            cards_expiring_by_month=groups(
                SQL(
                    "SELECT to_char(expires_on, 'YYYY-MM') AS k, COUNT(*) AS n FROM {0} "
                    "WHERE status = ANY(%s) AND expires_on IS NOT NULL GROUP BY k ORDER BY k"
                ).format(cards),
                (list(LIVE_CARD_STATUSES),),
            ),
            certificates_by_kind_and_status=groups(
                SQL(
                    "SELECT kind, status, COUNT(*) AS n FROM {0} GROUP BY kind, status ORDER BY kind, status"
                ).format(certs)
            ),
        )

    def all_card_ids(self) -> list[UUID]:
        query = SQL("SELECT card_id FROM {0} ORDER BY card_id").format(self.t("cards"))
        return [r["card_id"] for r in self._rows(query)]

    def all_certificate_ids(self) -> list[UUID]:
        query = SQL("SELECT certificate_id FROM {0} ORDER BY certificate_id").format(self.t("certificates"))
        return [r["certificate_id"] for r in self._rows(query)]
