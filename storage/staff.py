"""What both backends' staff registries share (``StaffRegistry`` in ``storage.interface``): the
records of staff tokens and of access to personal data, and their SQL, written once with named
parameters ``%(name)s`` and a table prefix ``{p}`` (the event store's: the registry lives in the
same store as the events). The tables' create statements differ per backend (identity columns,
append-only triggers) and live with the backends.

May import: the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StaffToken:
    """A bearer token of one member of staff (or a system): only the SHA-256 of the token is kept."""

    token_id: str
    token_hash: str
    name: str
    role: str
    office: str | None
    created_at: str
    created_by: str
    revoked_at: str | None = None
    revoked_by: str | None = None


@dataclass(frozen=True)
class AccessRecord:
    """One read of a person's specific personal information (個人番号法: who looked at whose
    record, when, through which route and why). Append-only: the tables refuse updates and deletes."""

    recorded_at: str
    name: str
    role: str
    office: str | None
    method: str
    route: str
    subject_kind: str
    """``card``, ``person`` (a holder reference), ``certificate`` or ``listing``."""
    subject: str
    purpose: str | None
    request_id: str
    position: int = 0
    """Its place in the access log (given by the store)."""


@dataclass(frozen=True)
class AccessCount:
    """Reads that are counted, not itemised (relying parties, subscribers): per day, caller, route."""

    day: str
    name: str
    role: str
    route: str
    count: int


STAFF_SQL: dict[str, str] = {
    "add_token": "INSERT INTO {p}staff_tokens (token_id, token_hash, name, role, office, created_at, "
    "created_by) VALUES (%(token_id)s, %(token_hash)s, %(name)s, %(role)s, %(office)s, %(created_at)s, "
    "%(created_by)s)",
    "token_by_hash": "SELECT * FROM {p}staff_tokens WHERE token_hash = %(token_hash)s",
    "tokens": "SELECT * FROM {p}staff_tokens ORDER BY created_at, token_id",
    "revoke": "UPDATE {p}staff_tokens SET revoked_at = %(at)s, revoked_by = %(by)s "
    "WHERE token_id = %(token_id)s AND revoked_at IS NULL",
    "token_by_id": "SELECT * FROM {p}staff_tokens WHERE token_id = %(token_id)s",
    "record_access": "INSERT INTO {p}access_records (recorded_at, name, role, office, method, route, "
    "subject_kind, subject, purpose, request_id) VALUES (%(recorded_at)s, %(name)s, %(role)s, %(office)s, "
    "%(method)s, %(route)s, %(subject_kind)s, %(subject)s, %(purpose)s, %(request_id)s)",
    "count_access": "INSERT INTO {p}access_counts (day, name, role, route, count) VALUES (%(day)s, %(name)s, "
    "%(role)s, %(route)s, 1) ON CONFLICT (day, name, role, route) "
    "DO UPDATE SET count = {p}access_counts.count + 1",
    "access_counts": "SELECT day, name, role, route, count FROM {p}access_counts ORDER BY day, name, route",
    "record_sighting": "INSERT INTO {p}revocation_sightings (serial, listed_in, channel, first_at) "
    "VALUES (%(serial)s, %(listed_in)s, %(channel)s, %(at)s) "
    "ON CONFLICT (serial, listed_in, channel) DO NOTHING",
    "sightings": "SELECT serial, listed_in, channel, first_at FROM {p}revocation_sightings",
}

ACCESS_COLUMNS = (
    "position, recorded_at, name, role, office, method, route, subject_kind, subject, purpose, request_id"
)


def access_query(
    prefix: str, *, subject: str | None, name: str | None, since: str | None, until: str | None
) -> str:
    """The select of access records matching the filters given (named parameters), oldest first."""
    where = [
        clause
        for clause, value in (
            ("subject = %(subject)s", subject),
            ("name = %(name)s", name),
            ("recorded_at >= %(since)s", since),
            ("recorded_at <= %(until)s", until),
        )
        if value is not None
    ]
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    return (
        f"SELECT {ACCESS_COLUMNS} FROM {prefix}access_records{condition} "
        "ORDER BY position LIMIT %(limit)s OFFSET %(offset)s"
    )


def token_of(row: Any) -> StaffToken:
    get = row.__getitem__
    return StaffToken(
        str(get("token_id")),
        str(get("token_hash")),
        str(get("name")),
        str(get("role")),
        get("office"),
        str(get("created_at")),
        str(get("created_by")),
        get("revoked_at"),
        get("revoked_by"),
    )


def access_of(row: Any) -> AccessRecord:
    get = row.__getitem__
    return AccessRecord(
        recorded_at=str(get("recorded_at")),
        name=str(get("name")),
        role=str(get("role")),
        office=get("office"),
        method=str(get("method")),
        route=str(get("route")),
        subject_kind=str(get("subject_kind")),
        subject=str(get("subject")),
        purpose=get("purpose"),
        request_id=str(get("request_id")),
        position=int(get("position")),
    )
