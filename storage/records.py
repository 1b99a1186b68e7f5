"""The values storage keeps and hands back: command-log rows, the store's identity, read-model
rows, log heads and the revocation list's numbered rows; plus the column orders and status sets
every backend uses (spelled here once, from the domain's own sets).

Pure data and pure functions, no I/O. May import: the standard library, ``eventsourcing.persistence``
(``StoredEvent``, ``Tracking``, ``IntegrityError``) and ``lifecycle`` (the status sets).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking

from lifecycle.card import LIVE, PRE_HANDOVER
from lifecycle.certificate import LIVE_CERTIFICATE

# ----------------------------------------------------------------------------- status sets

LIVE_CARD_STATUSES: tuple[str, ...] = tuple(sorted(LIVE))
"""Cards in use (``active``, ``suspended``): the expiry list and the expiry counts."""
UNENDED_CARD_STATUSES: tuple[str, ...] = tuple(sorted(PRE_HANDOVER | LIVE))
"""Cards waiting for pickup or in use: what the sweep looks at."""
LIVE_CERTIFICATE_STATUSES: tuple[str, ...] = tuple(sorted(LIVE_CERTIFICATE))
"""Certificates that can still be used (``active``, ``on_hold``): the certificate expiry list."""

# ----------------------------------------------------------------------------- the event store

COMMAND_LOG_KWARG = "command_log_entry"
"""The ``save(..., command_log_entry=...)`` keyword the recorders write in the same transaction."""
CLOCK_GUARD_KWARG = "clock_guard"
"""``save(..., clock_guard=True)``: the entry's recorded time must not lie before the store's
clock row (R66), else the save fails as a conflict; without it the row only moves forward."""


@dataclass(frozen=True, slots=True)
class CommandLogEntry:
    """One executed command: never a My Number or a PIN, only a keyed digest of the payload."""

    command_id: UUID
    command: str
    digest: str
    actor: str
    recorded_at: datetime
    result: dict[str, Any]

    def row(self) -> tuple[str, str, str, str, str, str]:
        return (
            str(self.command_id),
            self.command,
            self.digest,
            self.actor,
            self.recorded_at.isoformat(),
            json.dumps(self.result, sort_keys=True),
        )

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> CommandLogEntry:
        command_id, command, digest, actor, recorded_at, result = row
        return cls(
            UUID(str(command_id)),
            command,
            digest,
            actor,
            datetime.fromisoformat(str(recorded_at)),
            json.loads(result),
        )


@dataclass(frozen=True, slots=True)
class StoreIdentity:
    """Who a store is (made once, when the store is first opened) and which holder key it was
    made with (a fingerprint, never the key)."""

    store_id: str
    created_at: str
    holder_key_fingerprint: str


# ----------------------------------------------------------------------------- log heads


@dataclass(frozen=True, slots=True)
class LogHead:
    """The log event a view's tracking position stands on: its position and its fingerprint."""

    position: int
    fingerprint: str


def fingerprint(event: StoredEvent) -> str:
    """SHA-256 over a stored event's originator id, originator version, topic and stored state
    bytes (fields separated by NUL, which none of the first three contains): another event at the
    same position (a restored or replaced store) has another fingerprint."""
    digest = hashlib.sha256()
    for part in (str(event.originator_id), str(event.originator_version), event.topic):
        digest.update(part.encode("utf-8") + b"\x00")
    digest.update(bytes(event.state))
    return digest.hexdigest()


def head_of(event: Any) -> LogHead:
    """The log head of a notification (a stored event with its log position ``id``)."""
    return LogHead(int(event.id), fingerprint(event))


def check_position(current: int | None, since: int, tracking: Tracking) -> None:
    """A batch applies only on top of the position it was read after: two runners on one view
    never apply an event twice (the second one's commit fails and it re-reads)."""
    if (current or 0) != since:
        raise IntegrityError(
            f"{tracking.application_name}: the view is at position {current or 0}, not {since}: "
            "another runner applied this batch"
        )


# ----------------------------------------------------------------------------- read-model tables


@dataclass(frozen=True, slots=True)
class ReadModelTable:
    """A table a view keeps, as ``verify`` compares it: every column of every row, rows matched
    by ``key``. ``snapshot_id`` names the id column of a table whose rows hold an aggregate
    snapshot (``version``, ``topic``, ``state``): its ``state`` is compared decoded, since the
    stored bytes carry the snapshot's own timestamp and a cipher's nonce."""

    name: str
    """The table's name in the view's storage (without the schema)."""
    key: tuple[str, ...]
    label: str
    """What a row is, for reports: ``card``, ``certificate``, ``tracking`` …"""
    snapshot_id: str | None = None

    def subject(self, row: dict[str, Any]) -> str:
        return " ".join([self.label, *(str(row[k]) for k in self.key)])


class ViewSnapshot(Protocol):
    """A view read in one consistent snapshot: its tracking position, its log head and every
    row of its tables (in ``key`` order)."""

    position: int
    head: LogHead | None

    def rows(self, table: ReadModelTable) -> Iterator[dict[str, Any]]: ...


# ----------------------------------------------------------------------------- the lifecycle view


@dataclass(frozen=True, slots=True)
class CardRow:
    """A card in the view: query columns plus its snapshot (fields in the table's column order)."""

    card_id: UUID
    application_id: str
    holder_ref: str
    successor_holder_ref: str | None
    status: str
    kind: str
    issue_date: date | None
    expires_on: date | None
    notice_expires_on: date | None
    """The expiry for which an expiry notice is due (None: no notice, e.g. a stay-based expiry, R44)."""
    version: int
    position: int
    topic: str
    state: bytes


@dataclass(frozen=True, slots=True)
class CertificateRow:
    """A certificate in the view: query columns plus its snapshot (fields in column order)."""

    certificate_id: UUID
    serial: str
    kind: str
    card_id: UUID
    holder_ref: str
    status: str
    expires_on: date | None
    revoked_at: str | None
    reason_name: str | None
    reason_code: int | None
    version: int
    position: int
    topic: str
    state: bytes


CARD_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(CardRow))
"""The ``cards`` table's columns, in order (its key first)."""
CERTIFICATE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(CertificateRow))
"""The ``certificates`` table's columns, in order (its key first)."""


def values(row: CardRow | CertificateRow | RevocationEntry) -> tuple[Any, ...]:
    """A row's values in its table's column order (an insert's parameters): the row types' fields
    are their tables' columns, in order."""
    return tuple(getattr(row, f.name) for f in fields(row))


@dataclass(frozen=True, slots=True)
class Counts:
    cards_by_status: dict[str, int]
    cards_by_kind: dict[str, int]
    cards_issued_by_month: dict[str, int]
    cards_expiring_by_month: dict[str, int]
    certificates_by_kind_and_status: dict[str, dict[str, int]]

    @classmethod
    def from_groups(
        cls,
        *,
        cards_by_status: Iterable[Sequence[Any]],
        cards_by_kind: Iterable[Sequence[Any]],
        cards_issued_by_month: Iterable[Sequence[Any]],
        cards_expiring_by_month: Iterable[Sequence[Any]],
        certificates_by_kind_and_status: Iterable[Sequence[Any]],
    ) -> Counts:
        """The counts from the backend's ``GROUP BY`` rows: ``(key, n)`` pairs (a NULL key is
        left out) and ``(kind, status, n)`` triples, each in key order."""

        def pairs(rows: Iterable[Sequence[Any]]) -> dict[str, int]:
            return {str(k): int(n) for k, n in rows if k is not None}

        by_kind: dict[str, dict[str, int]] = {}
        for kind, status, n in certificates_by_kind_and_status:
            by_kind.setdefault(kind, {})[status] = n
        return cls(
            pairs(cards_by_status),
            pairs(cards_by_kind),
            pairs(cards_issued_by_month),
            pairs(cards_expiring_by_month),
            by_kind,
        )


# ----------------------------------------------------------------------------- the revocation list


@dataclass(frozen=True, slots=True)
class RevocationEntry:
    """One certificate on the revocation list (CRL)."""

    serial: str
    kind: str
    reason_name: str
    reason_code: int
    revoked_at: str
    """Effective time of the revocation or hold (ISO, JST)."""
    recorded_at: str
    expires_on: date | None
    added_in: int
    """The list number that first listed it."""
    removed_in: int | None
    """The list number that removed it (a hold released: removeFromCRL)."""


CRL_ENTRY_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(RevocationEntry))
"""The ``crl_entries`` table's columns, in order."""


class IssuedCertificate(NamedTuple):
    """A ``crl_certificates`` row: what the list needs to know of a certificate once issued."""

    certificate_id: UUID
    serial: str
    kind: str
    expires_on: date | None


@dataclass(frozen=True, slots=True)
class RevocationRows:
    """What one batch writes to the revocation list, numbered from the list number the view holds
    when it commits (``base``): change ``i`` of the batch takes list number ``base + i``.

    ``closed``: ``(serial, step)``, the serial's entries listed before the batch leave the list in
    ``base + step``. ``added``: new entries (every ``crl_entries`` column) whose ``added_in`` and
    ``removed_in`` are steps. ``steps``: how many list numbers the batch takes. Made by
    ``projections.revocations.revocation_rows``; the views only execute them (``numbered``)."""

    issued: tuple[IssuedCertificate, ...] = ()
    closed: tuple[tuple[str, int], ...] = ()
    added: tuple[RevocationEntry, ...] = ()
    steps: int = 0

    def numbered(self, base: int) -> tuple[list[tuple[int, str]], list[RevocationEntry], int]:
        """``(removed_in, serial)`` updates, entries to insert and the new list number, for a
        list whose number is ``base`` before the batch."""
        closed = [(base + step, serial) for serial, step in self.closed]
        added = [
            RevocationEntry(
                serial=e.serial,
                kind=e.kind,
                reason_name=e.reason_name,
                reason_code=e.reason_code,
                revoked_at=e.revoked_at,
                recorded_at=e.recorded_at,
                expires_on=e.expires_on,
                added_in=base + e.added_in,
                removed_in=None if e.removed_in is None else base + e.removed_in,
            )
            for e in self.added
        ]
        return closed, added, base + self.steps


# ----------------------------------------------------------------------------- reading rows back


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def card_row_from(r: Any) -> CardRow:
    """A card row from a database row of either backend (SQLite gives text, PostgreSQL types)."""
    return CardRow(
        card_id=_uuid(r["card_id"]),
        application_id=r["application_id"],
        holder_ref=r["holder_ref"],
        successor_holder_ref=r["successor_holder_ref"],
        status=r["status"],
        kind=r["kind"],
        issue_date=_date(r["issue_date"]),
        expires_on=_date(r["expires_on"]),
        notice_expires_on=_date(r["notice_expires_on"]),
        version=r["version"],
        position=r["position"],
        topic=r["topic"],
        state=bytes(r["state"]),
    )


def certificate_row_from(r: Any) -> CertificateRow:
    """A certificate row from a database row of either backend."""
    return CertificateRow(
        certificate_id=_uuid(r["certificate_id"]),
        serial=r["serial"],
        kind=r["kind"],
        card_id=_uuid(r["card_id"]),
        holder_ref=r["holder_ref"],
        status=r["status"],
        expires_on=_date(r["expires_on"]),
        revoked_at=r["revoked_at"],
        reason_name=r["reason_name"],
        reason_code=r["reason_code"],
        version=r["version"],
        position=r["position"],
        topic=r["topic"],
        state=bytes(r["state"]),
    )


def revocation_entry_from(r: Any) -> RevocationEntry:
    return RevocationEntry(
        serial=r["serial"],
        kind=r["kind"],
        reason_name=r["reason_name"],
        reason_code=r["reason_code"],
        revoked_at=r["revoked_at"],
        recorded_at=r["recorded_at"],
        expires_on=_date(r["expires_on"]),
        added_in=r["added_in"],
        removed_in=r["removed_in"],
    )


HOLDERS_FILED = "holders_filed"
"""The store mark saying every card is filed under its person (R62–R65): recorded when a store is
created by code that files them, or by ``mynacard migrate-holders`` on a store written before."""

CLOCK_CONFLICT = "R66: a later event was recorded meanwhile; the command is stamped again"
"""The message of the conflict a save behind the store's clock row raises (retried by the bus)."""


def clock_microseconds(moment: datetime) -> int:
    """A recorded time as whole microseconds since the epoch (UTC): the store's clock row."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def clock_moment(microseconds: int) -> datetime:
    return EPOCH + timedelta(microseconds=microseconds)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
