"""The SQLite ``revocation_list``: the CRL in a file of its own (``<store>-revocation_list.sqlite``):
``crl_certificates`` (what the list knows of each issued certificate), ``crl_entries`` (every entry,
with the list numbers that added and removed it) and ``crl_number``. The rows and their numbering
come ready from ``projections.revocations`` (``RevocationRows``); this module only executes them.

May import: ``eventsourcing``, the standard library, ``storage.interface``, ``storage.records``
and ``storage.sqlite.views``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from uuid import UUID

from eventsourcing.persistence import Tracking

from storage.interface import RevocationView
from storage.records import (
    CRL_ENTRY_COLUMNS,
    LogHead,
    ReadModelTable,
    RevocationEntry,
    RevocationRows,
    check_position,
    revocation_entry_from,
    values,
)
from storage.sqlite.views import SQLiteView, placeholders, sqlite_value


class SQLiteRevocationView(SQLiteView, RevocationView):
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
            f"WHERE certificate_id IN ({placeholders(len(ids))})",
            ids,
        )
        return {UUID(r[0]): (r[1], r[2], date.fromisoformat(r[3]) if r[3] else None) for r in rows}

    def commit(self, rows: RevocationRows, tracking: Tracking, since: int, head: LogHead) -> None:
        with self._writing() as c:
            check_position(self._max_tracking_id(tracking.application_name, c), since, tracking)
            for issued in rows.issued:
                c.execute(
                    "INSERT OR REPLACE INTO crl_certificates VALUES (?,?,?,?)",
                    tuple(map(sqlite_value, issued)),
                )
            c.execute("SELECT list_number FROM crl_number WHERE id=1")
            row = c.fetchone()
            closed, added, number = rows.numbered(int(row[0]) if row else 0)
            for removed_in, serial in closed:
                c.execute(
                    "UPDATE crl_entries SET removed_in=? WHERE serial=? AND removed_in IS NULL",
                    (removed_in, serial),
                )
            for entry in added:
                c.execute(
                    f"INSERT INTO crl_entries VALUES ({placeholders(len(CRL_ENTRY_COLUMNS))})",
                    tuple(map(sqlite_value, values(entry))),
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
