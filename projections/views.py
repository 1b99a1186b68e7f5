"""The two projections of the read side and how they fold events.

- ``lifecycle_view``: every card and certificate, current state. A batch of notifications is
  folded with the domain's own event classes (``event.mutate``) onto the aggregates' snapshots
  kept in the rows, so the view is, by construction, the fold of the events; then the changed
  rows and the batch's last position are committed in one transaction (exactly once).
- ``revocation_list``: every revoked or held certificate, kept after expiry, under a
  monotonically increasing list number (a CRL for relying parties).

Each batch also records the log head of its last event (``storage.records.head_of``). The
revocation list's changes are computed here (``revocation_changes``) and numbered by
``projections.revocations.revocation_rows``; the views only execute the rows.
An event that does not follow what the view holds for its aggregate (a version gap in the log,
or a row altered or deleted behind the view) raises ``FoldMismatch``; an event of an unknown
type raises ``storage.integrity.StoreIntegrityError`` naming its position (issue 8 item 10).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import OriginatorVersionError, Snapshot
from eventsourcing.persistence import IntegrityError, Mapper, Notification, StoredEvent, Tracking
from eventsourcing.utils import TopicError

from lifecycle.card import LIVE, Card
from lifecycle.card import events as ev
from lifecycle.certificate import (
    Certificate,
    CertificateEvent,
    CertificateIssued,
    CertificatePutOnHold,
    CertificateReleased,
    CertificateRevoked,
)
from projections.event_json import jsonable
from projections.revocations import RevocationChange, revocation_rows
from storage.integrity import StoreIntegrityError
from storage.interface import LifecycleView, RevocationView, TrackedView
from storage.records import CardRow, CertificateRow, IssuedCertificate, head_of


class ViewProjection(Protocol):
    """What the runner drives: a named view with a tracking position, and a batch fold. (Named so
    as not to shadow the library's ``eventsourcing.projection.Projection``, which this is not: ours
    folds batches of notifications into a mynacard view and verifies against a scratch twin.)"""

    name: str

    @property
    def view(self) -> LifecycleView | RevocationView: ...

    def process(self, notifications: Sequence[Notification], application_name: str, since: int) -> None: ...

    def on(self, view: TrackedView) -> ViewProjection:
        """The same projection folding into another view of its kind (a scratch twin)."""
        ...


class FoldMismatch(IntegrityError):
    """An event does not follow what the view holds for its aggregate: its version is not the
    next one, or the view has no row for it. Either another runner changed the view meanwhile
    (the runner then carries on from where that one got to), or the log has a version gap or the
    view's row was altered (the runner reports it as a ``StoreIntegrityError``)."""


def decode_event(mapper: Mapper[UUID], notification: Notification) -> Any:
    """The domain event of a notification; an unknown event type is an integrity error that
    names the position (not a crash of the topic resolver)."""
    try:
        return mapper.to_domain_event(notification)
    except TopicError as e:
        raise StoreIntegrityError(
            f"the event at position {notification.id} (aggregate {notification.originator_id}, "
            f"version {notification.originator_version}) has an unknown type {notification.topic!r}: "
            "the log holds an event this service never records (altered, or written by another "
            "program); run 'mynacard verify'"
        ) from e


def _fold_step(aggregates: dict[UUID, Any], position: int, event: Any) -> None:
    """Apply ``event`` (at log ``position``) to the aggregate the view holds for it."""
    aggregate = aggregates.get(event.originator_id)
    what = (
        f"the event at position {position} ({type(event).__name__}, aggregate {event.originator_id}, "
        f"version {event.originator_version})"
    )
    if aggregate is None:
        raise FoldMismatch(
            f"{what} has no earlier state in the view: the log lacks the aggregate's first "
            "events (a version gap) or the view's row was deleted"
        )
    try:
        event.mutate(aggregate)
    except OriginatorVersionError as e:
        raise FoldMismatch(
            f"{what} does not follow version {aggregate.version} held by the view: the log has a "
            "version gap (an event was deleted) or the view's row was altered"
        ) from e


def encode_snapshot(mapper: Mapper[UUID], aggregate: Any) -> StoredEvent:
    return mapper.to_stored_event(Snapshot.take(aggregate))


def decode_snapshot(mapper: Mapper[UUID], aggregate_id: UUID, version: int, topic: str, state: bytes) -> Any:
    snapshot = mapper.to_domain_event(StoredEvent(aggregate_id, version, topic, state))
    return snapshot.mutate(None)  # type: ignore[attr-defined]


def card_row(mapper: Mapper[UUID], card: Card, position: int) -> CardRow:
    stored = encode_snapshot(mapper, card)
    notice = card.expires_on if card.status in LIVE and not card.expiry_capped_by_stay else None
    return CardRow(
        card_id=card.id,
        application_id=card.application_id,
        holder_ref=card.holder_ref,
        successor_holder_ref=card.successor_holder_ref,
        status=card.status,
        kind=card.kind,
        issue_date=card.issue_date,
        expires_on=card.expires_on,
        notice_expires_on=notice,
        version=card.version,
        position=position,
        topic=stored.topic,
        state=stored.state,
    )


def certificate_row(mapper: Mapper[UUID], cert: Certificate, position: int) -> CertificateRow:
    stored = encode_snapshot(mapper, cert)
    assert cert.card_id is not None
    return CertificateRow(
        certificate_id=cert.id,
        serial=cert.serial,
        kind=cert.kind,
        card_id=cert.card_id,
        holder_ref=cert.holder_ref,
        status=cert.status,
        expires_on=cert.expires_on,
        revoked_at=jsonable(cert.revoked_at) if cert.revoked_at else None,
        reason_name=cert.reason_name,
        reason_code=cert.reason_code,
        version=cert.version,
        position=position,
        topic=stored.topic,
        state=stored.state,
    )


class LifecycleProjection:
    """Cards and certificates, current state."""

    name = "lifecycle_view"

    def __init__(self, view: LifecycleView, mapper: Mapper[UUID]) -> None:
        self._view = view
        self.mapper = mapper

    @property
    def view(self) -> LifecycleView:
        return self._view

    def on(self, view: TrackedView) -> LifecycleProjection:
        assert isinstance(view, LifecycleView)
        return LifecycleProjection(view, self.mapper)

    def card(self, row: CardRow) -> Card:
        card: Card = decode_snapshot(self.mapper, row.card_id, row.version, row.topic, row.state)
        return card

    def certificate(self, row: CertificateRow) -> Certificate:
        cert: Certificate = decode_snapshot(
            self.mapper, row.certificate_id, row.version, row.topic, row.state
        )
        return cert

    def process(self, notifications: Sequence[Notification], application_name: str, since: int) -> None:
        """Fold the batch read after position ``since`` and commit it if the view is still there."""
        events = [(n.id, decode_event(self.mapper, n)) for n in notifications]
        card_ids = {e.originator_id for _, e in events if isinstance(e, ev.CardEvent)}
        cert_ids = {e.originator_id for _, e in events if isinstance(e, CertificateEvent)}
        cards: dict[UUID, Card] = {i: self.card(r) for i, r in self.view.card_rows(card_ids).items()}
        certs: dict[UUID, Certificate] = {
            i: self.certificate(r) for i, r in self.view.certificate_rows(cert_ids).items()
        }
        card_positions: dict[UUID, int] = {}
        cert_positions: dict[UUID, int] = {}
        for position, e in events:
            if isinstance(e, ev.Applied):
                cards[e.originator_id] = e.mutate(None)  # type: ignore[assignment]
                card_positions[e.originator_id] = position
            elif isinstance(e, ev.CardEvent):
                _fold_step(cards, position, e)
                card_positions[e.originator_id] = position
            elif isinstance(e, CertificateIssued):
                certs[e.originator_id] = e.mutate(None)  # type: ignore[assignment]
                cert_positions[e.originator_id] = position
            elif isinstance(e, CertificateEvent):
                _fold_step(certs, position, e)
                cert_positions[e.originator_id] = position
        self.view.commit(
            [card_row(self.mapper, cards[i], p) for i, p in card_positions.items()],
            [certificate_row(self.mapper, certs[i], p) for i, p in cert_positions.items()],
            Tracking(application_name, notifications[-1].id),
            since,
            head_of(notifications[-1]),
        )


class RevocationProjection:
    """The revocation list: revocations and holds added, releases removed, nothing removed at
    expiry (RFC 5280 ExpiredCertsOnCRL); each change takes the next list number."""

    name = "revocation_list"

    def __init__(self, view: RevocationView, mapper: Mapper[UUID]) -> None:
        self._view = view
        self.mapper = mapper

    @property
    def view(self) -> RevocationView:
        return self._view

    def on(self, view: TrackedView) -> RevocationProjection:
        assert isinstance(view, RevocationView)
        return RevocationProjection(view, self.mapper)

    def process(self, notifications: Sequence[Notification], application_name: str, since: int) -> None:
        """Apply the batch read after position ``since`` if the view is still there."""
        events = [decode_event(self.mapper, n) for n in notifications]
        cert_events = [e for e in events if isinstance(e, CertificateEvent | CertificateIssued)]
        facts = self.view.certificate_facts({e.originator_id for e in cert_events})
        issued, changes = revocation_changes(cert_events, facts)
        self.view.commit(
            revocation_rows(issued, changes),
            Tracking(application_name, notifications[-1].id),
            since,
            head_of(notifications[-1]),
        )


Facts = dict[UUID, tuple[str, str, Any]]


def revocation_changes(
    events: Iterable[Any], facts: Facts
) -> tuple[list[IssuedCertificate], list[RevocationChange]]:
    """The revocation list's rule, as a pure function of certificate events in log order:
    revocations and holds are added (RFC 5280 reason and effective time), a release removes the
    hold; an expiry removes nothing. ``facts`` (serial, kind, expiry) is extended by issues."""
    issued: list[IssuedCertificate] = []
    changes: list[RevocationChange] = []
    for e in events:
        if isinstance(e, CertificateIssued):
            facts[e.originator_id] = (e.serial, e.kind, e.expires_on)
            issued.append(IssuedCertificate(e.originator_id, e.serial, e.kind, e.expires_on))
            continue
        if not isinstance(e, CertificateRevoked | CertificatePutOnHold | CertificateReleased):
            continue
        if e.originator_id not in facts:
            raise FoldMismatch(
                f"certificate {e.originator_id}: {type(e).__name__} (version {e.originator_version}) "
                "but the list never saw it issued: the log lacks its issue (a version gap) or the "
                "view's row was deleted"
            )
        serial, kind, expires_on = facts[e.originator_id]
        base: dict[str, Any] = {
            "certificate_id": e.originator_id,
            "serial": serial,
            "kind": kind,
            "expires_on": expires_on,
        }
        if isinstance(e, CertificateReleased):
            changes.append(RevocationChange(**base, change="remove"))
        else:
            changes.append(
                RevocationChange(
                    **base,
                    change="add",
                    reason_name=e.reason_name,
                    reason_code=e.reason_code,
                    revoked_at=jsonable(e.effective_at),
                    recorded_at=jsonable(e.timestamp),
                )
            )
    return issued, changes
