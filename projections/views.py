"""Read models (views) of the lifecycle: one interface, one implementation per backend.

Each view is an eventsourcing ``TrackingRecorder``: its row updates and its tracking position
(the last notification applied) are written in ONE transaction, so every event has exactly one
effect on the view, and a restart resumes from the tracked position.

Rows keep the aggregate's snapshot (encoded by the application's mapper, so encrypted and
compressed like the events when a cipher is configured) beside the columns queries need.
Queries read rows; nothing here replays the event log.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder


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


class LifecycleView(TrackingRecorder, ABC):
    """Cards and certificates, current state (the ``lifecycle_view`` projection)."""

    @abstractmethod
    def card_rows(self, card_ids: Iterable[UUID]) -> dict[UUID, CardRow]: ...

    @abstractmethod
    def certificate_rows(self, certificate_ids: Iterable[UUID]) -> dict[UUID, CertificateRow]: ...

    @abstractmethod
    def commit(
        self, cards: Sequence[CardRow], certificates: Sequence[CertificateRow], tracking: Tracking, since: int
    ) -> None:
        """Upsert the rows and advance the tracking position from ``since`` to the batch's last,
        in one transaction; raise ``IntegrityError`` if another runner moved it meanwhile."""

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

    @abstractmethod
    def clear(self, application_name: str) -> None:
        """Empty the view and forget its position (a rebuild starts from position 0)."""


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


class RevocationView(TrackingRecorder, ABC):
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
    ) -> None:
        """Record issued certificates and list changes (each change: list number + 1), atomically,
        if the position is still ``since`` (else ``IntegrityError``)."""

    @abstractmethod
    def list_number(self) -> int: ...

    @abstractmethod
    def entries(self, *, include_removed: bool = False) -> list[RevocationEntry]: ...

    @abstractmethod
    def clear(self, application_name: str) -> None: ...


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
