"""Read models (views) of the lifecycle: one interface, one implementation per backend.

Each view is an eventsourcing ``TrackingRecorder``: its row updates and its tracking position
(the last notification applied) are written in ONE transaction, so every event has exactly one
effect on the view, and a restart resumes from the tracked position.

Rows keep the aggregate's snapshot (encoded by the application's mapper, so encrypted and
compressed like the events when a cipher is configured) beside the columns queries need.
Queries read rows; nothing here replays the event log.

Beside its tracking position each view keeps its *log head* (issue 8 item 4): the fingerprint of
the log event at that position (``fingerprint``), written in the same transaction. A view whose
log head is no longer in the log follows another log (an event store restored from a backup, or
another store): ``projections.runner`` refuses to show it. Every view also says which tables it
keeps (``read_model_tables``), can be read whole in one consistent snapshot (``snapshot``), can
make an empty twin in temporary storage (``scratch``) and can take over a twin's content in one
transaction (``replace_with``): ``verify`` compares a view with a twin built from the log, and
``rebuild`` builds a twin and swaps it in, so readers never see a half-built view.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking, TrackingRecorder


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


class TrackedView(TrackingRecorder, ABC):
    """What every view of this read side offers besides its own rows and questions."""

    @abstractmethod
    def tracked_head(self, application_name: str) -> tuple[int, LogHead | None]:
        """The tracking position and the log head recorded with it (None: none recorded, a view
        made before log heads were kept), read together."""

    @abstractmethod
    def record_head(self, application_name: str, head: LogHead) -> None:
        """Record the log head of a view made before log heads were kept, if it still stands at
        ``head.position`` and has none (a no-op otherwise)."""

    @abstractmethod
    def read_model_tables(self) -> list[ReadModelTable]:
        """Every table of the view, its tracking table and log head table included."""

    @abstractmethod
    def snapshot(self, application_name: str) -> AbstractContextManager[ViewSnapshot]:
        """The whole view in one consistent read (nothing written meanwhile is seen)."""

    @abstractmethod
    def scratch(self) -> AbstractContextManager[TrackedView]:
        """An empty view of the same kind in temporary storage, dropped on exit."""

    @abstractmethod
    def replace_with(self, scratch: TrackedView, application_name: str) -> None:
        """Take over every row, the tracking position and the log head of ``scratch`` (made by
        ``scratch()``) in one transaction: readers see the old view or the new one, never a mix."""

    @abstractmethod
    def clear(self, application_name: str) -> None:
        """Empty the view and forget its position and log head (a rebuild starts from 0)."""


@dataclass(frozen=True, slots=True)
class CardRow:
    """A card in the view: query columns plus its snapshot."""

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
    """A certificate in the view: query columns plus its snapshot."""

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


@dataclass(frozen=True, slots=True)
class Counts:
    cards_by_status: dict[str, int]
    cards_by_kind: dict[str, int]
    cards_issued_by_month: dict[str, int]
    cards_expiring_by_month: dict[str, int]
    certificates_by_kind_and_status: dict[str, dict[str, int]]


class LifecycleView(TrackedView, ABC):
    """Cards and certificates, current state (the ``lifecycle_view`` projection)."""

    @abstractmethod
    def card_rows(self, card_ids: Iterable[UUID]) -> dict[UUID, CardRow]: ...

    @abstractmethod
    def certificate_rows(self, certificate_ids: Iterable[UUID]) -> dict[UUID, CertificateRow]: ...

    @abstractmethod
    def commit(
        self,
        cards: Sequence[CardRow],
        certificates: Sequence[CertificateRow],
        tracking: Tracking,
        since: int,
        head: LogHead,
    ) -> None:
        """Upsert the rows and advance the tracking position from ``since`` to the batch's last
        (whose log head is ``head``), in one transaction; raise ``IntegrityError`` if another
        runner moved it meanwhile."""

    @abstractmethod
    def certificates_of_card(self, card_id: UUID) -> list[CertificateRow]: ...

    @abstractmethod
    def certificate_by_serial(self, serial: str) -> CertificateRow | None: ...

    @abstractmethod
    def cards_of_holder(self, holder_ref: str) -> list[CardRow]:
        """Every card of a person: by the holder reference, or the one after a My Number change."""

    @abstractmethod
    def cards_expiring(self, first: date, last: date, *, live_only: bool = True) -> list[CardRow]: ...

    @abstractmethod
    def certificates_expiring(self, first: date, last: date) -> list[CertificateRow]: ...

    @abstractmethod
    def unended_cards(self) -> list[CardRow]:
        """Cards in use or waiting for pickup: what time makes due is for each card to say (sweep)."""

    @abstractmethod
    def counts(self) -> Counts: ...

    @abstractmethod
    def all_card_ids(self) -> list[UUID]: ...

    @abstractmethod
    def all_certificate_ids(self) -> list[UUID]: ...


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


@dataclass(frozen=True, slots=True)
class RevocationChange:
    """A change to the list: an entry added, replaced (hold → revocation) or removed."""

    certificate_id: UUID
    serial: str
    kind: str
    expires_on: date | None
    change: str  # "add" | "remove"
    reason_name: str = ""
    reason_code: int = 0
    revoked_at: str = ""
    recorded_at: str = ""


class RevocationView(TrackedView, ABC):
    """The revocation list (the ``revocation_list`` projection): every revoked or held
    certificate, kept after its expiry, under a monotonically increasing list number."""

    @abstractmethod
    def certificate_facts(self, certificate_ids: Iterable[UUID]) -> dict[UUID, tuple[str, str, date | None]]:
        """(serial, kind, expires_on) of certificates the list has seen issued."""

    @abstractmethod
    def commit(
        self,
        issued: Sequence[tuple[UUID, str, str, date | None]],
        changes: Sequence[RevocationChange],
        tracking: Tracking,
        since: int,
        head: LogHead,
    ) -> None:
        """Record issued certificates and list changes (each change: list number + 1) and the
        batch's log head, atomically, if the position is still ``since`` (else ``IntegrityError``)."""

    @abstractmethod
    def list_number(self) -> int: ...

    @abstractmethod
    def entries(self, *, include_removed: bool = False) -> list[RevocationEntry]: ...


def check_position(current: int | None, since: int, tracking: Tracking) -> None:
    """A batch applies only on top of the position it was read after: two runners on one view
    never apply an event twice (the second one's commit fails and it re-reads)."""
    if (current or 0) != since:
        raise IntegrityError(
            f"{tracking.application_name}: the view is at position {current or 0}, not {since}: "
            "another runner applied this batch"
        )


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
