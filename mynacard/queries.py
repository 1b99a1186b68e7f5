"""The questions clerks, auditors and relying parties ask, answered as JSON-ready documents from
the read side alone (its views, and its log for audit replay): what the HTTP service and its
web page serve. Each answer is composed here once; the rules stay in ``projections.status``,
``projections.certificates`` and ``projections.audit``.

Lives with the entry points (it raises the command boundary's errors, which the read side may not
import); may import everything but the write application.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import EventStore

from commands.errors import InputError, NotFound
from lifecycle.calendar import jst_date, start_of_day, to_jst
from projections.audit import (
    card_as_known_at,
    card_history,
    certificates_as_known_at,
    recorded_at_position,
    recorded_at_version,
    valid_at,
)
from projections.certificates import certificate_status
from projections.event_json import event_to_dict, jsonable
from projections.read_side import ReadSide
from projections.status import card_status


def unknown_certificate() -> InputError:
    return NotFound.single(
        "serial", "no certificate has this serial number", hint="a card's status lists its certificates"
    )


class Questions:
    """Answers from one ``ReadSide`` (caught up by the caller) and the service's clock."""

    def __init__(self, read: ReadSide, clock: Callable[[], datetime]) -> None:
        self.read = read
        self.clock = clock
        self.events = EventStore(mapper=read.upstream.mapper, recorder=read.upstream.recorder)

    def now(self) -> datetime:
        return to_jst(self.clock())

    # ------------------------------------------------------------------ audit moments

    def known_at(
        self,
        card_id: UUID | None,
        *,
        as_known_at: datetime | None = None,
        at_position: int | None = None,
        until_version: int | None = None,
    ) -> datetime | None:
        """The recorded time an audit question is answered at (None: as known now)."""
        given = [
            name
            for name, value in (
                ("as_known_at", as_known_at),
                ("at_position", at_position),
                ("until_version", until_version),
            )
            if value is not None
        ]
        if len(given) > 1:
            raise InputError.single(given[1], f"give one of {', '.join(given)}, not several")
        if at_position is not None:
            if at_position < 1:
                raise InputError.single("at_position", "log positions start at 1")
            moment = recorded_at_position(self.read.upstream.recorder, self.read.upstream.mapper, at_position)
            if moment is None:
                raise NotFound.single("at_position", f"the log has no event at position {at_position}")
            return moment
        if until_version is not None and card_id is not None:
            moment = recorded_at_version(self.events, card_id, until_version)
            if moment is None:
                raise NotFound.single("until_version", f"the card has no version {until_version}")
            return moment
        return as_known_at

    # ------------------------------------------------------------------ a card

    def card(
        self,
        card_id: UUID,
        *,
        as_of: date | None = None,
        as_known_at: datetime | None = None,
        at_position: int | None = None,
    ) -> dict[str, Any]:
        """The card's status on ``as_of`` (default today) with its certificates, from the read
        model; as known at a recorded time (or log position) replayed from the log instead."""
        known_at = self.known_at(card_id, as_known_at=as_known_at, at_position=at_position)
        if known_at is None:
            today = as_of or jst_date(self.now())
            moment = start_of_day(today) if as_of else self.now()
            report = self.read.card_report(card_id, today, moment)
            if report is None:
                raise NotFound.single("card", "no card with this application id or card id")
            return {**report.as_dict(), "as_of": today.isoformat(), "at": moment.isoformat()}
        card = card_as_known_at(self.events, card_id, known_at)
        if card is None:
            raise NotFound.single("card", f"no card was known at {known_at.isoformat()}")
        today = as_of or jst_date(known_at)
        moment = start_of_day(today) if as_of else known_at
        status = card_status(card, today, self.read.policies)
        certs = [
            certificate_status(c, moment, card) for c in certificates_as_known_at(self.events, card, known_at)
        ]
        return {
            **status.as_dict(),
            "certificates": [c.as_dict() for c in certs],
            "as_of": today.isoformat(),
            "at": moment.isoformat(),
            "as_known_at": known_at.isoformat(),
        }

    def history(
        self,
        card_id: UUID,
        *,
        as_known_at: datetime | None = None,
        at_position: int | None = None,
        until_version: int | None = None,
    ) -> dict[str, Any]:
        """Every event of the card and its certificates (effective and recorded time, actor)."""
        known_at = self.known_at(
            card_id, as_known_at=as_known_at, at_position=at_position, until_version=until_version
        )
        card = card_as_known_at(self.events, card_id, known_at)
        if card is None:
            raise NotFound.single("card", "no card with this application id or card id")
        events = card_history(self.events, card, known_at)
        labels = {str(card.id): "card"}
        labels.update(
            {str(c.id): f"{c.kind} {c.serial}" for c in certificates_as_known_at(self.events, card, None)}
        )
        return {
            "card_id": str(card.id),
            "application_id": card.application_id,
            "as_known_at": known_at.isoformat() if known_at else None,
            "events": [
                {**event_to_dict(e), "subject": labels.get(str(e.originator_id), "certificate")}
                for e in events
            ],
        }

    # ------------------------------------------------------------------ certificates

    def certificate(self, serial: str, at: datetime | None = None) -> dict[str, Any]:
        status = self.read.certificate(serial.strip().upper(), at or self.now())
        if status is None:
            raise unknown_certificate()
        return status.as_dict()

    def valid_at(self, serial: str, at: datetime, as_known_at: datetime | None = None) -> dict[str, Any]:
        """Was the certificate valid at ``at``, as known now or at ``as_known_at`` (no personal data)."""
        answer = valid_at(self.events, serial.strip().upper(), at, as_known_at)
        if answer.kind == "?" and answer.reason == "no such certificate":
            raise unknown_certificate()
        return answer.as_dict()

    def revocations(self, *, include_removed: bool = False) -> dict[str, Any]:
        number, entries = self.read.revocation_list(include_removed=include_removed)
        return {"list_number": number, "entries": [jsonable(asdict(e)) for e in entries]}

    # ------------------------------------------------------------------ people and lists

    def cards_of_holder(self, holder_ref: str) -> dict[str, Any]:
        cards = self.read.cards_of_holder(holder_ref, jst_date(self.now()))
        return {"holder_ref": holder_ref, "cards": [c.as_dict() for c in cards]}

    def expiring(self, first: date | None, last: date) -> dict[str, Any]:
        first = first or jst_date(self.now())
        if last < first:
            raise InputError.single("to", "the range ends before it starts")
        return {"from": first.isoformat(), "to": last.isoformat(), **self.read.expiring(first, last)}

    def counts(self) -> dict[str, Any]:
        counts = self.read.counts()
        return jsonable({k: getattr(counts, k) for k in counts.__dataclass_fields__})  # type: ignore[no-any-return]
