"""Audit replay: two times, two questions.

- *effective* time T: when something happened in the world (a card lost at 03:10 on Sunday);
- *recorded* time S: when the service learned it (the loss reported on Tuesday).

"Was this certificate valid at T, as known now?" folds every event; "…as known at S?" folds only
the events recorded up to S. A loss reported on Tuesday that happened on Sunday makes the
certificate invalid from Sunday as known now, and valid on Monday as known on Monday.
Each answer replays one card and its certificates, never the whole log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import takewhile
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import OriginatorIDError, OriginatorVersionError
from eventsourcing.persistence import MapperDeserialisationError
from eventsourcing.utils import TopicError

from lifecycle.card import Card
from lifecycle.card import events as ev
from lifecycle.certificate import Certificate, Validity
from lifecycle.certificate_validity import certificate_validity
from lifecycle.identifiers import certificate_id_for
from storage.integrity import StoreIntegrityError, TamperingDetected


class EventSource(Protocol):
    """An aggregate's stored events, oldest first (the application's event store)."""

    def get(self, originator_id: UUID) -> Iterable[Any]: ...


def known_events(source: EventSource, aggregate_id: UUID, known_at: datetime | None) -> list[Any]:
    """The aggregate's events recorded up to ``known_at`` (all of them when None): the longest
    run of its versions, from the first, recorded by then. R66 makes recorded times grow with
    the log; on a log written before R66 with a clock that went back, an event recorded by S
    after one recorded later is left out with it, so the fold never has a gap (issue 8 item 7)."""
    try:
        events = list(source.get(aggregate_id))
    except (TopicError, MapperDeserialisationError) as e:
        if isinstance(e, TamperingDetected):
            raise
        raise StoreIntegrityError(f"the events of aggregate {aggregate_id} cannot be read: {e}") from None
    if known_at is None:
        return events
    return list(takewhile(lambda e: e.timestamp <= known_at, events))


def recorded_at_position(recorder: Any, mapper: Any, position: int) -> datetime | None:
    """The recorded time of the log event at ``position`` (None when there is none). Recorded time
    never goes backwards along the log (R66), so "as known at" that time is the state of the
    store once the command that wrote ``position`` had committed: a command's events are saved
    together, and no state between them ever existed."""
    notes = recorder.select_notifications(start=position, limit=1)
    if not notes or notes[0].id != position:
        return None
    moment: datetime = mapper.to_domain_event(notes[0]).timestamp
    return moment


def recorded_at_version(source: EventSource, aggregate_id: UUID, version: int) -> datetime | None:
    """The recorded time of version ``version`` of the aggregate (None when it has none)."""
    for event in source.get(aggregate_id):
        if event.originator_version == version:
            moment: datetime = event.timestamp
            return moment
    return None


def fold(events: Iterable[Any]) -> Any:
    """The aggregate the events make (None before its first event). A gap or a repeat in the
    versions (a row deleted or duplicated behind the service) is a ``StoreIntegrityError``."""
    aggregate: Any = None
    for e in events:
        try:
            aggregate = e.mutate(aggregate)
        except (OriginatorVersionError, OriginatorIDError, AssertionError) as error:
            raise StoreIntegrityError(
                f"aggregate {e.originator_id}: version {e.originator_version} does not follow "
                f"version {getattr(aggregate, 'version', 0)} ({type(error).__name__}): an event was "
                "deleted, duplicated or moved; run 'mynacard verify'"
            ) from None
    return aggregate


def card_as_known_at(source: EventSource, card_id: UUID, known_at: datetime | None) -> Card | None:
    card: Card | None = fold(known_events(source, card_id, known_at))
    return card


def certificates_as_known_at(source: EventSource, card: Card, known_at: datetime | None) -> list[Certificate]:
    """The card's certificates, each folded from its events recorded up to ``known_at``."""
    ids = [
        e.certificate_id
        for e in known_events(source, card.id, known_at)
        if isinstance(e, ev.CertificateAdded)
    ]
    certs = [fold(known_events(source, i, known_at)) for i in ids]
    return [c for c in certs if c is not None]


def card_history(source: EventSource, card: Card, known_at: datetime | None = None) -> list[Any]:
    """The card's events and its certificates' events recorded up to ``known_at`` (all when
    None), in the order they were recorded (a card's event before its certificates' at the same
    instant): what ``mynacard history`` lists."""
    events = known_events(source, card.id, known_at)
    for cert in certificates_as_known_at(source, card, known_at):
        events.extend(known_events(source, cert.id, known_at))
    return sorted(events, key=lambda e: (e.timestamp, 0 if isinstance(e, ev.CardEvent | ev.Applied) else 1))


@dataclass(frozen=True, slots=True)
class ValidityAnswer:
    serial: str
    kind: str
    at: datetime
    as_known_at: datetime | None
    valid: bool
    reason: str
    rule: str
    events_considered: int

    def as_dict(self) -> dict[str, Any]:
        from projections.event_json import jsonable

        return {k: jsonable(getattr(self, k)) for k in self.__dataclass_fields__}


def valid_at(
    source: EventSource, serial: str, at: datetime, as_known_at: datetime | None = None
) -> ValidityAnswer:
    """Was the certificate ``serial`` valid at effective time ``at``, as known at ``as_known_at``
    (now when None)? The certificate's own history and its card's (R47)."""
    cert_events = known_events(source, certificate_id_for(serial), as_known_at)
    cert: Certificate | None = fold(cert_events)
    if cert is None:
        unknown = "not issued yet" if list(source.get(certificate_id_for(serial))) else "no such certificate"
        return ValidityAnswer(serial, "?", at, as_known_at, False, unknown, "R34", 0)
    card_events = known_events(source, cert.card_id, as_known_at) if cert.card_id else []
    card: Card | None = fold(card_events)
    validity: Validity = certificate_validity(cert, card, at)
    return ValidityAnswer(
        cert.serial,
        cert.kind,
        at,
        as_known_at,
        validity.valid,
        validity.reason,
        validity.rule,
        len(cert_events) + len(card_events),
    )
