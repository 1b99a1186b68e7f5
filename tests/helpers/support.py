"""Shared test helpers: a settable clock, valid identifiers, domain-level card builders (no I/O)
and a service-level ``Story`` that drives one card through the application."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from typing import Any
from uuid import uuid4

import pytest
from stdnum.jp import in_ as my_number_module

from commands import certificate_models as cm
from commands import models as m
from commands.application import CardLifecycle, CommandResult
from lifecycle.calendar import JST, to_jst
from lifecycle.card import Application, Card, Handover, Stamp
from lifecycle.certificate import Certificate
from lifecycle.decisions import DEFAULT_POLICIES, Policies
from lifecycle.documents import IdentityDocument
from lifecycle.errors import RuleViolation
from lifecycle.identifiers import holder_reference
from projections.audit import card_history, certificates_as_known_at

KEY = bytes(range(32))
MY_NUMBER = "123456789018"  # the spec's worked example (R01)
DRIVING_LICENCE = IdentityDocument("driving_licence")
ALL_PINS = frozenset({"sig", "auth", "juki", "card_details"})
"""R54: which PINs a handover sets (never their values); an adult with SIG and AUTH sets all four."""
PIN_VALUES_BY_KIND = {"sig": "AB12CD", "auth": "1234", "juki": "1234", "card_details": "1234"}
PIN_VALUES = {f"{kind}_pin": value for kind, value in PIN_VALUES_BY_KIND.items()}
_ids = itertools.count(1)


def at(text: str) -> datetime:
    """``2025-04-01`` (00:00 JST) or ``2025-04-01T10:15`` (JST)."""
    if "T" in text:
        return to_jst(datetime.fromisoformat(text))
    return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=JST)


def d(text: str) -> date:
    return date.fromisoformat(text)


class Clock:
    """A clock the test sets; the service reads it as 'now'."""

    def __init__(self, now: str = "2025-01-01T09:00") -> None:
        self.now = at(now)

    def __call__(self) -> datetime:
        return self.now

    def set(self, when: str | datetime) -> None:
        self.now = at(when) if isinstance(when, str) else when


def my_number(seed: int) -> str:
    """A checksum-valid My Number derived from ``seed`` (R01)."""
    base = f"{seed % 10**11:011d}"
    return base + my_number_module.calc_check_digit(base)


def application_id(seed: int | None = None) -> str:
    return f"{seed if seed is not None else next(_ids):023d}"


def stamp(when: str, effective: str | None = None, actor: str = "clerk") -> Stamp:
    return Stamp(uuid4(), actor, at(when), at(effective) if effective else at(when))


# ----------------------------------------------------------------------------- domain builders


def application(**overrides: Any) -> Application:
    base = Application(
        application_id=application_id(),
        kind="new",
        channel="web",
        holder_ref=holder_reference(MY_NUMBER, KEY),
        my_number_masked="XXXX XXXX 9018",
        date_of_birth=d("1980-10-10"),
        photo_taken_on=d("2020-04-01"),
    )
    return replace(base, **overrides)


def applied_card(
    applied: str = "2020-05-01", policies: Policies = DEFAULT_POLICIES, **overrides: Any
) -> Card:
    return Card.submit(application(**overrides), stamp(applied), policies)


def produced_card(
    applied: str = "2020-05-01",
    accepted: str = "2020-05-10",
    issued: str = "2020-05-15",
    policies: Policies = DEFAULT_POLICIES,
    **overrides: Any,
) -> Card:
    card = applied_card(applied, policies, **overrides)
    card.accept(stamp(accepted))
    card.produce(stamp(issued), policies)
    return card


def active_card(
    applied: str = "2020-05-01",
    accepted: str = "2020-05-10",
    issued: str = "2020-05-15",
    handed_over: str = "2020-06-20",
    policies: Policies = DEFAULT_POLICIES,
    **overrides: Any,
) -> Card:
    card = produced_card(applied, accepted, issued, policies, **overrides)
    on = at(handed_over).date()
    child = card.age_on(on) < 15
    pins = card.pins_needed_at_handover(on)
    card.hand_over(
        Handover(
            identity_documents=(DRIVING_LICENCE,),
            notification_card="collected",
            pins=pins,
            pins_set_by="legal_representative" if child else "holder",
        ),
        stamp(handed_over),
        policies,
    )
    return card


def versions(card: Card) -> tuple[int, int]:
    """(version, number of pending events): unchanged by a refused command."""
    return card.version, len(card.pending_events)


# ----------------------------------------------------------------------------- service story


class Story:
    """Drives one card through the service: ``story.run(m.SuspendCard, "2025-01-05T03:15")``."""

    def __init__(
        self,
        app: CardLifecycle,
        clock: Clock,
        application_id_: str | None = None,
        my_number_: str = MY_NUMBER,
        actor: str = "clerk-1",
    ) -> None:
        self.app = app
        self.clock = clock
        self.application_id = application_id_ or application_id()
        self.my_number = my_number_
        self.actor = actor

    def run(self, command: type[m.Command], when: str, **fields: Any) -> CommandResult:
        self.clock.set(when)
        fields.setdefault("actor", self.actor)
        if issubclass(command, m.CardCommand):
            fields.setdefault("card", self.application_id)
        return self.app.execute(command.model_validate(fields))

    def apply(self, when: str = "2020-05-01T09:00", **fields: Any) -> CommandResult:
        fields.setdefault("application_id", self.application_id)
        fields.setdefault("my_number", self.my_number)
        fields.setdefault("date_of_birth", "1980-10-10")
        fields.setdefault("photo_taken_on", "2020-04-01")
        return self.run(m.SubmitApplication, when, **fields)

    def to_active(
        self,
        applied: str = "2020-05-01T09:00",
        accepted: str = "2020-05-10",
        issued: str = "2020-05-15",
        handed_over: str = "2020-06-20T10:00",
        **application_fields: Any,
    ) -> CommandResult:
        self.apply(applied, **application_fields)
        self.run(m.AcceptApplication, f"{accepted}T09:00", effective_at=accepted)
        self.run(m.ProduceCard, f"{issued}T09:00", effective_at=issued)
        needed = self.card.pins_needed_at_handover(at(handed_over).date())
        return self.run(
            m.HandOverCard,
            handed_over,
            identity_documents=["driving_licence"],
            notification_card="collected",
            pins_set_by="legal_representative" if self.card.age_on(at(handed_over).date()) < 15 else "holder",
            **{f"{kind}_pin": value for kind, value in PIN_VALUES_BY_KIND.items() if kind in needed},
        )

    @property
    def card(self) -> Card:
        return self.app.get_card(self.application_id)

    def event_types(self) -> list[str]:
        return [type(e).__name__ for e in list(self.app.events.get(self.card.id))]


# ----------------------------------------------------------------------------- results of a story


def certificates_of(app: CardLifecycle, card: Card) -> list[Certificate]:
    """Every certificate ever issued onto the card, in issue order (the audit replay's answer)."""
    return certificates_as_known_at(app.events, card, None)


def history_of(app: CardLifecycle, card: Card) -> list[Any]:
    """The card's and its certificates' events in recorded order (``mynacard history``)."""
    return card_history(app.events, card)


def card_events(story: Story, result: Any) -> list[tuple[str, Any]]:
    """The card's own events of a service result (its certificates' events are separate)."""
    return [(e.type, e.effective_at) for e in result.events if e.aggregate_id == story.card.id]


def certificate_events(story: Story, result: Any) -> list[tuple[str, str, Any]]:
    """(kind, event, effective time) of the certificate events of a service result."""
    kinds = {c.id: c.kind for c in certificates_of(story.app, story.card)}
    return sorted(
        (kinds[e.aggregate_id], e.type, e.effective_at) for e in result.events if e.aggregate_id in kinds
    )


def to_active_with_live_certificates(story: Story) -> None:
    """Handed over 2024-06-20 (DOB 1980-10-10): AUTH and SIG valid until 2028-10-10 (R35, R36)."""
    story.to_active(
        applied="2024-05-01T09:00",
        accepted="2024-05-10",
        issued="2024-05-15",
        handed_over="2024-06-20T10:00",
        photo_taken_on="2024-04-01",
    )
    certificates = certificates_of(story.app, story.card)
    assert [(c.kind, c.status, c.expires_on) for c in certificates] == [
        ("AUTH", "active", d("2028-10-10")),
        ("SIG", "active", d("2028-10-10")),
    ]


# ----------------------------------------------------------------------------- a card's own commands


def new_events(card: Card, before: tuple[int, int]) -> list[Any]:
    return list(card.pending_events[before[1] :])


def names(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def refused(card: Card, rule: str, command: Callable[..., Any], *args: Any, **kwargs: Any) -> RuleViolation:
    """``command`` must be refused under ``rule`` and record nothing."""
    before = versions(card)
    status = card.status
    with pytest.raises(RuleViolation) as info:
        command(*args, **kwargs)
    assert info.value.rule == rule
    assert versions(card) == before
    assert card.status == status
    return info.value


def all_to_active(stories: list[Story]) -> None:
    """``Story.to_active`` for several cards, step by step across the cards, so that recorded
    times never go backwards (R66: a store opened from settings refuses a clock behind its log)."""
    for s in stories:
        s.apply("2020-05-01T09:00")
    for s in stories:
        s.run(m.AcceptApplication, "2020-05-10T09:00", effective_at="2020-05-10")
    for s in stories:
        s.run(m.ProduceCard, "2020-05-15T09:00", effective_at="2020-05-15")
    for s in stories:
        needed = s.card.pins_needed_at_handover(d("2020-06-20"))
        s.run(
            m.HandOverCard,
            "2020-06-20T10:00",
            identity_documents=["driving_licence"],
            notification_card="collected",
            pins_set_by="holder",
            **{f"{kind}_pin": value for kind, value in PIN_VALUES_BY_KIND.items() if kind in needed},
        )


def attempts(story: Story, pin: str, outcomes: str, when: str = "2021-01-10T10:00") -> None:
    """``outcomes``: ``x`` a wrong entry, ``o`` a right one."""
    for outcome in outcomes:
        story.run(cm.RecordPinAttempt, when, pin=pin, success=outcome == "o")


def refused_by_the_service(
    story: Story, rule: str, command: type[m.Command], when: str, **fields: Any
) -> RuleViolation:
    """The service refuses ``command`` with ``rule`` and records nothing anywhere (the log's head
    does not move). An application is filed with the story's defaults (``Story.apply``)."""
    head = story.app.recorder.max_notification_id()
    with pytest.raises(RuleViolation) as info:
        if command is m.SubmitApplication:
            story.apply(when, **fields)
        else:
            story.run(command, when, **fields)
    assert info.value.rule == rule, str(info.value)
    assert story.app.recorder.max_notification_id() == head
    return info.value
