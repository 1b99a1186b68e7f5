"""The staff registry written once over the library's datastores (``transaction()`` cursors with
``execute``/``fetchone``/``fetchall``): each backend gives its statements in its own parameter
style (``compose``) and creates its tables (``storage.sqlite.staff``, ``storage.postgres.staff``).

May import: ``storage.interface`` and ``storage.staff``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from storage.interface import StaffRegistry
from storage.staff import STAFF_SQL, AccessCount, AccessRecord, StaffToken, access_of, access_query, token_of


class SqlStaffRegistry(StaffRegistry):
    """Staff tokens and access records on one datastore (see ``storage.interface.StaffRegistry``)."""

    def __init__(self, datastore: Any, prefix: str, compose: Callable[[str], Any]) -> None:
        self.datastore = datastore
        self._prefix = prefix
        self._compose = compose
        self.sql = {k: compose(v.replace("{p}", prefix)) for k, v in STAFF_SQL.items()}

    def rowcount(self, cursor: Any) -> int:
        return int(cursor.rowcount)

    def close(self) -> None:
        self.datastore.close()

    def _write(self, key: str, params: dict[str, Any]) -> int:
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql[key], params)
            return self.rowcount(c)

    def _rows(self, sql: Any, params: dict[str, Any] | None = None) -> list[Any]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, params or {})
            return list(c.fetchall())

    def add_token(self, token: StaffToken) -> None:
        self._write("add_token", {k: getattr(token, k) for k in token.__dataclass_fields__})

    def token_by_hash(self, token_hash: str) -> StaffToken | None:
        rows = self._rows(self.sql["token_by_hash"], {"token_hash": token_hash})
        return token_of(rows[0]) if rows else None

    def token_by_id(self, token_id: str) -> StaffToken | None:
        rows = self._rows(self.sql["token_by_id"], {"token_id": token_id})
        return token_of(rows[0]) if rows else None

    def tokens(self) -> list[StaffToken]:
        return [token_of(r) for r in self._rows(self.sql["tokens"])]

    def revoke_token(self, token_id: str, at: str, by: str) -> bool:
        return self._write("revoke", {"token_id": token_id, "at": at, "by": by}) > 0

    def record_access(self, record: AccessRecord) -> None:
        self._write(
            "record_access", {k: getattr(record, k) for k in record.__dataclass_fields__ if k != "position"}
        )

    def count_access(self, day: str, name: str, role: str, route: str) -> None:
        self._write("count_access", {"day": day, "name": name, "role": role, "route": route})

    def access_records(
        self,
        *,
        subject: str | None = None,
        name: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[AccessRecord]:
        sql = self._compose(access_query(self._prefix, subject=subject, name=name, since=since, until=until))
        params = {
            "subject": subject,
            "name": name,
            "since": since,
            "until": until,
            "limit": limit,
            "offset": offset,
        }
        return [access_of(r) for r in self._rows(sql, params)]

    def access_counts(self) -> list[AccessCount]:
        return [
            AccessCount(r["day"], r["name"], r["role"], r["route"], int(r["count"]))
            for r in self._rows(self.sql["access_counts"])
        ]

    def record_sighting(self, serial: str, listed_in: int, channel: str, at: str) -> None:
        self._write(
            "record_sighting", {"serial": serial, "listed_in": listed_in, "channel": channel, "at": at}
        )

    def sightings(self) -> dict[tuple[str, int, str], str]:
        return {
            (str(r["serial"]), int(r["listed_in"]), str(r["channel"])): str(r["first_at"])
            for r in self._rows(self.sql["sightings"])
        }
