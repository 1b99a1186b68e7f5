"""PostgreSQL implementations of the read models: the same interface as the SQLite ones, tables
prefixed by the projection's name in the configured schema, rows and tracking position in one
transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composed, Identifier

from commands.postgres_schema import schema_lock
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

_LIVE = ("active", "suspended")
_PENDING = ("applied", "accepted", "produced")


class PostgresCheckpoints(PostgresTrackingRecorder):
    """Tracking rows (durable consumers' checkpoints), created under the schema lock."""

    def create_table(self) -> None:
        with schema_lock(self.datastore):
            super().create_table()


class _Tables(PostgresCheckpoints):
    """Table names ``<projection>_<suffix>`` in the datastore's schema."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.prefix = self.tracking_table_name.removesuffix("_tracking")

    def t(self, suffix: str) -> Composed:
        name = f"{self.prefix}_{suffix}"
        self.check_identifier_length(name)
        return SQL("{0}.{1}").format(Identifier(self.datastore.schema), Identifier(name))

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
        self, cards: Sequence[CardRow], certificates: Sequence[CertificateRow], tracking: Tracking, since: int
    ) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._lock_position(curs)
            check_position(self._max_tracking_id(tracking.application_name, curs), since, tracking)
            self._upsert(curs, cards, certificates)
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

    def clear(self, application_name: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("DELETE FROM {0}").format(self.t("cards")))
            curs.execute(SQL("DELETE FROM {0}").format(self.t("certificates")))
            curs.execute(
                SQL("DELETE FROM {0}.{1} WHERE application_name=%s").format(
                    Identifier(self.datastore.schema), Identifier(self.tracking_table_name)
                ),
                (application_name,),
            )


class PostgresRevocationView(_Tables, RevocationView):
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
            self._insert_tracking(curs, tracking)

    def list_number(self) -> int:
        rows = self._rows(SQL("SELECT list_number FROM {0} WHERE id=1").format(self.t("number")))
        return int(rows[0]["list_number"]) if rows else 0

    def entries(self, *, include_removed: bool = False) -> list[RevocationEntry]:
        where = SQL("") if include_removed else SQL("WHERE removed_in IS NULL")
        rows = self._rows(SQL("SELECT * FROM {0} {1} ORDER BY added_in").format(self.t("entries"), where))
        return [revocation_entry_from(r) for r in rows]

    def clear(self, application_name: str) -> None:
        with self.datastore.transaction(commit=True) as curs:
            for suffix in ("certificates", "entries", "number"):
                curs.execute(SQL("DELETE FROM {0}").format(self.t(suffix)))
            curs.execute(
                SQL("DELETE FROM {0}.{1} WHERE application_name=%s").format(
                    Identifier(self.datastore.schema), Identifier(self.tracking_table_name)
                ),
                (application_name,),
            )
