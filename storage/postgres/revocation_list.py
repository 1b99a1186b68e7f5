"""The PostgreSQL ``revocation_list``: the CRL in ``revocation_list_certificates`` (what the list
knows of each issued certificate), ``revocation_list_entries`` (every entry, with the list numbers
that added and removed it) and ``revocation_list_number``. The rows and their numbering come ready
from ``projections.revocations`` (``RevocationRows``); this module only executes them.

May import: psycopg, ``eventsourcing``, the standard library, ``storage.interface``,
``storage.records`` and ``storage.postgres.views``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL

from storage.interface import RevocationView
from storage.postgres.views import PostgresView
from storage.records import (
    CRL_ENTRY_COLUMNS,
    LogHead,
    RevocationEntry,
    RevocationRows,
    check_position,
    revocation_entry_from,
    values,
)


class PostgresRevocationView(PostgresView, RevocationView):
    MODEL_SUFFIXES = (
        ("certificates", ("certificate_id",), "issued certificate", None),
        ("entries", ("serial", "added_in"), "revocation entry", None),
        ("number", ("id",), "list number row", None),
    )

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        certificates, entries, number = self.t("certificates"), self.t("entries"), self.t("number")
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (certificate_id uuid PRIMARY KEY, serial text NOT NULL, "
                "kind text NOT NULL, expires_on date)"
            ).format(certificates),
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (serial text NOT NULL, kind text NOT NULL, "
                "reason_name text NOT NULL, reason_code integer NOT NULL, revoked_at text NOT NULL, "
                "recorded_at text NOT NULL, expires_on date, added_in bigint NOT NULL, removed_in bigint, "
                "PRIMARY KEY (serial, added_in))"
            ).format(entries),
            SQL(
                "CREATE TABLE IF NOT EXISTS {0} (id integer PRIMARY KEY CHECK (id = 1), "
                "list_number bigint NOT NULL)"
            ).format(number),
        ]
        self.insert_issued = SQL(
            "INSERT INTO {0} VALUES (%s,%s,%s,%s) ON CONFLICT (certificate_id) DO NOTHING"
        ).format(certificates)
        self.select_number_for_update = SQL("SELECT list_number FROM {0} WHERE id=1 FOR UPDATE").format(
            number
        )
        self.close_entries = SQL(
            "UPDATE {0} SET removed_in=%s WHERE serial=%s AND removed_in IS NULL"
        ).format(entries)
        self.insert_entry = SQL("INSERT INTO {0} VALUES ({1})").format(
            entries, SQL(",").join(SQL("%s") for _ in CRL_ENTRY_COLUMNS)
        )
        self.write_number = SQL(
            "INSERT INTO {0} VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET list_number=EXCLUDED.list_number"
        ).format(number)

    def certificate_facts(self, certificate_ids: Iterable[UUID]) -> dict[UUID, tuple[str, str, date | None]]:
        ids = list(certificate_ids)
        if not ids:
            return {}
        query = SQL("SELECT * FROM {0} WHERE certificate_id = ANY(%s)").format(self.t("certificates"))
        return {
            r["certificate_id"]: (r["serial"], r["kind"], r["expires_on"]) for r in self._rows(query, (ids,))
        }

    def commit(self, rows: RevocationRows, tracking: Tracking, since: int, head: LogHead) -> None:
        with self.datastore.transaction(commit=True) as curs:
            self._lock_position(curs)
            check_position(self._max_tracking_id(tracking.application_name, curs), since, tracking)
            if rows.issued:
                curs.executemany(self.insert_issued, list(rows.issued))
            curs.execute(self.select_number_for_update)
            row = curs.fetchone()
            closed, added, number = rows.numbered(int(row["list_number"]) if row else 0)
            for removed_in, serial in closed:
                curs.execute(self.close_entries, (removed_in, serial))
            for entry in added:
                curs.execute(self.insert_entry, values(entry))
            curs.execute(self.write_number, (number,))
            self._write_head(curs, tracking.application_name, head)
            self._insert_tracking(curs, tracking)

    def list_number(self) -> int:
        rows = self._rows(SQL("SELECT list_number FROM {0} WHERE id=1").format(self.t("number")))
        return int(rows[0]["list_number"]) if rows else 0

    def entries(self, *, include_removed: bool = False) -> list[RevocationEntry]:
        where = SQL("") if include_removed else SQL("WHERE removed_in IS NULL")
        rows = self._rows(SQL("SELECT * FROM {0} {1} ORDER BY added_in").format(self.t("entries"), where))
        return [revocation_entry_from(r) for r in rows]
