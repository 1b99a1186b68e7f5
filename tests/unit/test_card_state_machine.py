"""A stateful property test of the ``Card`` aggregate at the domain level (no I/O).

Hypothesis drives one card through random sequences of every card command, with the clock
moving forward (sometimes by years, so expiry and the R13/R28/R30 lapses come due) and
effective times that are sometimes backdated. Refusals (``RuleViolation``) are expected; the
invariants say what must hold whatever happens:

- a refused command changes nothing (version, every attribute, no pending events);
- once the card reaches a terminal state, its status, expiry and ``ended`` never change again
  and the only thing still recorded is that the plastic card was handed in;
- ``expires_on``, when set, lies strictly after ``issue_date``;
- ``status`` is always one of the known statuses, and ``ended`` is set exactly when it is terminal;
- the aggregate rebuilt from its own events equals the live one (pure replay every step, and
  a transcoded round trip through an in-memory event store at the end).
"""

from __future__ import annotations

import copy
import functools
import os
import re
import typing
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import Application as EventSourcedApplication
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from lifecycle.calendar import JST
from lifecycle.card import (
    CARD_FACTS,
    FORMER_SURNAME_ACTIONS,
    INVALIDATION_REASONS,
    LIVE,
    RETURN_REASONS,
    SPECIAL_EXTENSION_EVIDENCE,
    SUSPENSION_CHANNELS,
    TERMINAL,
    Application,
    Card,
    CardStatus,
    Handover,
    Stamp,
)
from lifecycle.card import events as ev
from lifecycle.decisions import DEFAULT_POLICIES
from lifecycle.errors import RuleViolation
from lifecycle.filers import Filer
from lifecycle.identifiers import holder_reference, mask_my_number
from storage.serialization import MynacardTranscodings
from tests.helpers.support import DRIVING_LICENCE, KEY, application_id, my_number

KNOWN_STATUSES = frozenset(typing.get_args(CardStatus))
RULE_ID = re.compile(r"^[RD]\d{2}$")
HOLDER = Filer()
HOUSEHOLD = Filer("household_member", same_household=True)
AGENT = Filer("agent", letter_of_delegation=True)
PARENT = Filer("legal_representative", same_household=True, family_register_copy=True)
FILERS = st.sampled_from([HOLDER, HOLDER, HOUSEHOLD, AGENT, PARENT])

# Days the clock moves before a command: mostly small, sometimes months, sometimes years.
ADVANCE_DAYS = st.sampled_from(["days", "days", "days", "days", "months", "months", "years"]).flatmap(
    lambda scale: {
        "days": st.integers(0, 20),
        "months": st.integers(20, 400),
        "years": st.integers(1000, 4000),
    }[scale]
)
ADVANCE = st.tuples(ADVANCE_DAYS, st.integers(0, 24 * 60 - 1), st.integers(0, 59))
# How far the effective time lies before the recorded time (minutes): usually not at all.
BACKDATE = st.one_of(st.just(0), st.just(0), st.integers(1, 60 * 24 * 45))
STEP = st.tuples(ADVANCE, BACKDATE)
OFFSET = st.integers(-10, 60)


class EventStoreOnly(MynacardTranscodings, EventSourcedApplication[UUID]):
    """An in-memory event store with the service's transcodings (dates), nothing else."""


def state_of(card: Card) -> dict[str, Any]:
    """Everything public and private about the card except its pending events."""
    return copy.deepcopy({k: v for k, v in card.__dict__.items() if k != "_pending_events"})


def replay(events: list[Any]) -> Card:
    card = functools.reduce(lambda aggregate, event: event.mutate(aggregate), events, None)
    assert isinstance(card, Card)
    return card


class CardMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.card: Card | None = None
        self.now = datetime.combine(date(2016, 1, 1), time(9, 0), tzinfo=JST)
        self.events: list[Any] = []
        self.ended_as: tuple[Any, ...] | None = None

    # ------------------------------------------------------------------ plumbing

    def stamp(self, step: tuple[tuple[int, int, int], int]) -> Stamp:
        (days, minutes, seconds), backdate = step
        self.now = self.now + timedelta(days=days, minutes=minutes, seconds=seconds)
        return Stamp(uuid4(), "clerk-9", self.now, self.now - timedelta(minutes=backdate))

    def attempt(self, action: Any, *args: Any, **kwargs: Any) -> None:
        card = self.card
        assert card is not None
        before = state_of(card)
        version = card.version
        was_terminal = card.status in TERMINAL
        assert card.pending_events == []
        try:
            action(*args, **kwargs)
        except RuleViolation as refusal:
            assert RULE_ID.match(refusal.rule), refusal.rule
            assert card.version == version
            assert card.pending_events == []
            assert state_of(card) == before
            event(f"refused {action.__name__} ({refusal.rule})")
            return
        new = card.collect_events()
        assert len(new) == card.version - version
        assert [e.originator_version for e in new] == list(range(version + 1, card.version + 1))
        if was_terminal:
            # A card that has ended refuses every change; only the plastic can still be handed in.
            assert all(isinstance(e, ev.PhysicalCardCollected) for e in new), new
        self.events.extend(new)
        event(f"done {action.__name__} -> {card.status}")

    # ------------------------------------------------------------------ application

    @initialize(
        applied_on=st.dates(date(2016, 1, 1), date(2030, 12, 31)),
        age_days=st.integers(0, 365 * 85),
        photo_days=st.integers(0, 180),
        channel=st.sampled_from(["web", "counter"]),
        nationality=st.sampled_from(["japanese", "japanese", "foreign", "foreign", "permanent_resident"]),
        stay_days=st.one_of(st.integers(20, 900), st.integers(900, 5000)),
        seed=st.integers(1, 10**10),
        stage=st.sampled_from(["applied", "accepted", "produced", "noticed", *["active"] * 6]),
        gaps=st.lists(st.integers(0, 40), min_size=4, max_size=4),
    )
    def submit(
        self,
        applied_on: date,
        age_days: int,
        photo_days: int,
        channel: str,
        nationality: str,
        stay_days: int,
        seed: int,
        stage: str,
        gaps: list[int],
    ) -> None:
        """Submit once, then bring the card quickly to a chosen stage by valid steps so that the
        random rules start from every stage of the life (a step the rules refuse stops early)."""
        self.now = datetime.combine(applied_on, time(9, 30), tzinfo=JST)
        number = my_number(seed)
        foreign = nationality == "foreign"
        application = Application(
            application_id=application_id(seed),
            kind="new",
            channel=channel,
            holder_ref=holder_reference(number, KEY),
            my_number_masked=mask_my_number(number),
            date_of_birth=applied_on - timedelta(days=age_days),
            photo_taken_on=applied_on - timedelta(days=photo_days),
            residence_status={"foreign": "student", "permanent_resident": "permanent_resident"}.get(
                nationality
            ),
            stay_until=applied_on + timedelta(days=stay_days) if foreign else None,
            applicant_present=channel == "counter",
            legal_representative_present=channel == "counter",
            legal_representative=PARENT if channel == "counter" else None,
            identity_documents=(DRIVING_LICENCE,) if channel == "counter" else (),
        )
        card = Card.submit(application, Stamp(uuid4(), "clerk-9", self.now, self.now), DEFAULT_POLICIES)
        assert card.status == "applied"
        self.card = card
        self.events.extend(card.collect_events())
        steps = [
            ("accepted", card.accept, ()),
            ("produced", card.produce, (DEFAULT_POLICIES,)),
            ("noticed", card.send_pickup_notice, ()),
            ("active", card.hand_over, ()),
        ]
        order = ["applied", *(name for name, _, _ in steps)]
        for (name, action, extra), gap in zip(steps, gaps, strict=True):
            if order.index(name) > order.index(stage):
                break
            version = card.version
            stamp = self.stamp(((gap, 0, 0), 0))
            if name == "active":
                self.attempt(
                    action, self.handover(channel == "counter", "collected", stamp), stamp, DEFAULT_POLICIES
                )
            else:
                self.attempt(action, stamp, *extra)
            if card.version == version:
                break

    def handover(self, by_mail: bool, notification: str, stamp: Stamp) -> Handover:
        """By mail for a counter application, else at the counter with a driving licence; the
        PINs of the card and its certificates (no SIG under 15, whose PINs the legal
        representative sets: R40, R54)."""
        assert self.card is not None
        child = self.card.age_on(stamp.on) < 15
        pins = {
            "pins": frozenset({"auth", "juki", "card_details"} | (set() if child else {"sig"})),
            "pins_set_by": "legal_representative" if child else "holder",
        }
        if by_mail and self.card.channel == "counter":
            return Handover(method="mail", notification_card=notification, **pins)
        return Handover(identity_documents=(DRIVING_LICENCE,), notification_card=notification, **pins)

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP)
    def accept(self, step: Any) -> None:
        assert self.card is not None
        self.attempt(self.card.accept, self.stamp(step))

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP)
    def produce(self, step: Any) -> None:
        assert self.card is not None
        self.attempt(self.card.produce, self.stamp(step), DEFAULT_POLICIES)

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP)
    def send_pickup_notice(self, step: Any) -> None:
        assert self.card is not None
        self.attempt(self.card.send_pickup_notice, self.stamp(step))

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP)
    def send_pickup_reminder(self, step: Any) -> None:
        assert self.card is not None
        self.attempt(self.card.send_pickup_reminder, self.stamp(step))

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP, by_mail=st.booleans(), notification=st.sampled_from(["collected", "not_applicable"]))
    def hand_over(self, step: Any, by_mail: bool, notification: str) -> None:
        assert self.card is not None
        stamp = self.stamp(step)
        self.attempt(
            self.card.hand_over, self.handover(by_mail, notification, stamp), stamp, DEFAULT_POLICIES
        )

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP, amount=st.integers(0, 1200))
    def pay_fee(self, step: Any, amount: int) -> None:
        assert self.card is not None
        self.attempt(self.card.pay_fee, amount, self.stamp(step))

    # ------------------------------------------------------------------ in use

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP, channel=st.sampled_from(SUSPENSION_CHANNELS))
    def suspend(self, step: Any, channel: str) -> None:
        assert self.card is not None
        self.attempt(self.card.suspend, channel, self.stamp(step))

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP, filer=FILERS, in_person=st.booleans())
    def lift_suspension(self, step: Any, filer: Filer, in_person: bool) -> None:
        assert self.card is not None
        self.attempt(self.card.lift_suspension, filer, in_person, self.stamp(step))

    @precondition(lambda self: self.card is not None)
    @rule(
        step=STEP,
        facts=st.lists(st.sampled_from(CARD_FACTS), min_size=1, max_size=3, unique=True),
        filer=FILERS,
        pin=st.booleans(),
        dob_shift=st.integers(-400, 400),
        surname_action=st.sampled_from(FORMER_SURNAME_ACTIONS),
        answer_after=st.one_of(st.none(), st.integers(0, 20)),
    )
    def change_card_information(
        self,
        step: Any,
        facts: list[str],
        filer: Filer,
        pin: bool,
        dob_shift: int,
        surname_action: str,
        answer_after: int | None,
    ) -> None:
        """Sometimes the holder answers an inquiry letter a few days later (R53)."""
        assert self.card is not None
        self.attempt(
            self.card.change_card_information,
            facts,
            filer,
            pin,
            self.stamp(step),
            new_date_of_birth=(
                self.card.date_of_birth + timedelta(days=dob_shift) if "date_of_birth" in facts else None
            ),
            former_surname_action=surname_action if "former_surname" in facts else None,
        )
        if self.card.pending_inquiry is not None and answer_after is not None:
            self.attempt(self.card.answer_inquiry, True, self.stamp(((answer_after, 0, 0), 0)))

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP, pin=st.booleans())
    def answer_inquiry(self, step: Any, pin: bool) -> None:
        assert self.card is not None
        self.attempt(self.card.answer_inquiry, pin, self.stamp(step))

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP)
    def record_notes_field_full(self, step: Any) -> None:
        assert self.card is not None
        self.attempt(self.card.record_notes_field_full, self.stamp(step))

    # ------------------------------------------------------------------ moves

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP, overseas=st.booleans(), planned_offset=OFFSET)
    def move_out(self, step: Any, overseas: bool, planned_offset: int) -> None:
        assert self.card is not None
        stamp = self.stamp(step)
        planned = stamp.on + timedelta(days=planned_offset)
        self.attempt(self.card.move_out, planned, overseas, stamp)

    @precondition(lambda self: self.card is not None)
    @rule(
        step=STEP,
        use_recorded=st.booleans(),
        planned_back=st.integers(-3, 60),
        moved_in_back=st.integers(-3, 30),
    )
    def file_move_in(self, step: Any, use_recorded: bool, planned_back: int, moved_in_back: int) -> None:
        assert self.card is not None
        stamp = self.stamp(step)
        recorded = self.card.awaiting_move_in_since
        planned = recorded if use_recorded and recorded else stamp.on - timedelta(days=planned_back)
        moved_in = stamp.on - timedelta(days=moved_in_back)
        self.attempt(self.card.file_move_in, planned, moved_in, stamp)

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP, planned_offset=st.integers(-2, 30), then_move=st.booleans())
    def register_overseas_continued_use(self, step: Any, planned_offset: int, then_move: bool) -> None:
        assert self.card is not None
        stamp = self.stamp(step)
        planned = stamp.on + timedelta(days=planned_offset)
        self.attempt(self.card.register_overseas_continued_use, planned, stamp)
        if then_move:
            self.attempt(self.card.move_out, planned, True, self.stamp(((max(planned_offset, 0), 0, 0), 0)))

    # ------------------------------------------------------------------ period of stay

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP, extra_days=st.integers(-30, 4000), filer=FILERS, pin=st.booleans())
    def extend_stay(self, step: Any, extra_days: int, filer: Filer, pin: bool) -> None:
        assert self.card is not None
        stamp = self.stamp(step)
        new_until = (self.card.stay_until or stamp.on) + timedelta(days=extra_days)
        self.attempt(self.card.extend_stay, new_until, filer, stamp, pin_confirmed=pin)

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP, evidence=st.sampled_from((*SPECIAL_EXTENSION_EVIDENCE, "word_of_mouth")))
    def grant_special_extension(self, step: Any, evidence: str) -> None:
        assert self.card is not None
        self.attempt(self.card.grant_special_extension, evidence, self.stamp(step))

    # ------------------------------------------------------------------ focused rules
    # The rules above run in any state (most refusals come from them); these run only where the
    # command can succeed, so that the rarer transitions are reached within a short run.

    @precondition(lambda self: self.card is not None and self.card.status == "suspended")
    @rule(days=st.integers(0, 30))
    def lift_when_suspended(self, days: int) -> None:
        assert self.card is not None
        self.attempt(self.card.lift_suspension, HOLDER, True, self.stamp(((days, 5, 0), 0)))

    @precondition(lambda self: self.card is not None and self.card.status == "active")
    @rule(
        days=st.integers(0, 30),
        facts=st.lists(st.sampled_from(CARD_FACTS), min_size=1, max_size=2, unique=True),
        filer=FILERS,
        answer_after=st.one_of(st.none(), st.integers(0, 20)),
    )
    def change_info_when_active(
        self, days: int, facts: list[str], filer: Filer, answer_after: int | None
    ) -> None:
        self.change_card_information(((days, 7, 0), 0), facts, filer, True, 1, "added", answer_after)

    @precondition(lambda self: self.card is not None and self.card.pending_inquiry is not None)
    @rule(days=st.integers(0, 30), pin=st.booleans())
    def answer_when_pending(self, days: int, pin: bool) -> None:
        assert self.card is not None
        self.attempt(self.card.answer_inquiry, pin, self.stamp(((days, 5, 0), 0)))

    @precondition(
        lambda self: (
            self.card is not None and self.card.status in LIVE and self.card.residence_status == "student"
        )
    )
    @rule(days=st.integers(0, 200), extra_days=st.integers(1, 3000), special=st.booleans())
    def extend_stay_when_live(self, days: int, extra_days: int, special: bool) -> None:
        card = self.card
        assert card is not None and card.stay_until is not None
        stamp = self.stamp(((days, 0, 0), 0))
        if special:
            self.attempt(card.grant_special_extension, "residence_card_stamp", stamp)
        else:
            new_until = card.stay_until + timedelta(days=extra_days)
            self.attempt(card.extend_stay, new_until, HOLDER, stamp, pin_confirmed=True)

    # ------------------------------------------------------------------ ends

    @precondition(lambda self: self.card is not None)
    @rule(
        step=STEP,
        which=st.sampled_from(["cancel", "report_loss", "return", "invalidate", "replace"]),
        data=st.data(),
    )
    def end_card(self, step: Any, which: str, data: st.DataObject) -> None:
        """The commands meant to end a card share one rule, so that the machine spends most of
        its steps on a card that is still alive."""
        card = self.card
        assert card is not None
        stamp = self.stamp(step)
        if which == "cancel":
            channel = data.draw(st.sampled_from(["counter", "phone"]), label="channel")
            self.attempt(card.cancel, data.draw(FILERS, label="filer"), channel, stamp)
        elif which == "report_loss":
            at_home, police = data.draw(st.booleans(), "at_home"), data.draw(st.booleans(), "police")
            self.attempt(card.report_loss, at_home, police, data.draw(FILERS, label="filer"), stamp)
        elif which == "return":
            reason = data.draw(st.sampled_from(RETURN_REASONS), label="reason")
            self.attempt(card.return_card, reason, data.draw(FILERS, label="filer"), stamp)
        elif which == "invalidate":
            reason = data.draw(st.sampled_from(tuple(INVALIDATION_REASONS)), label="reason")
            consistent = data.draw(st.integers(0, 9), label="consistent") > 0
            gives_number = (reason == "my_number_changed") == consistent
            new_ref = holder_reference(my_number(data.draw(st.integers(1, 10**10))), KEY)
            self.attempt(card.invalidate, reason, stamp, new_holder_ref=new_ref if gives_number else None)
        else:  # R62: a newer card of the person handed over
            self.attempt(card.end_as_replaced, uuid4(), data.draw(st.booleans(), label="brought"), stamp)

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP)
    def record_lapses(self, step: Any) -> None:
        assert self.card is not None
        card = self.card
        stamp = self.stamp(step)
        due = card.due_lapses(stamp.today, DEFAULT_POLICIES)
        was_ended = card.ended is not None
        self.attempt(card.record_lapses, stamp, DEFAULT_POLICIES)
        # What was due is now recorded, and nothing more is due (idempotent).
        assert card.due_lapses(stamp.today, DEFAULT_POLICIES) == []
        if due and not was_ended:
            assert card.status in TERMINAL
            assert card.ended is not None
            assert card.ended.at == due[0].effective_at

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP)
    def record_expiry_notice_due(self, step: Any) -> None:
        assert self.card is not None
        self.attempt(self.card.record_expiry_notice_due, self.stamp(step))

    @precondition(lambda self: self.card is not None)
    @rule(step=STEP, reason=st.sampled_from(["found_after_loss", "death"]))
    def collect_physical_card(self, step: Any, reason: str) -> None:
        assert self.card is not None
        self.attempt(self.card.collect_physical_card, reason, self.stamp(step))

    # ------------------------------------------------------------------ invariants

    @invariant()
    def status_is_known_and_ended_iff_terminal(self) -> None:
        if self.card is None:
            return
        assert self.card.status in KNOWN_STATUSES
        assert (self.card.ended is not None) == (self.card.status in TERMINAL)
        if self.card.ended is not None:
            assert self.card.ended.status == self.card.status
            assert RULE_ID.match(self.card.ended.rule)

    @invariant()
    def terminal_state_never_changes(self) -> None:
        card = self.card
        if card is None or card.status not in TERMINAL:
            assert self.ended_as is None
            return
        now = (card.status, card.expires_on, copy.deepcopy(card.ended))
        if self.ended_as is None:
            self.ended_as = now
        assert now == self.ended_as

    @invariant()
    def expiry_lies_after_issue(self) -> None:
        card = self.card
        if card is None or card.expires_on is None:
            return
        assert card.issue_date is not None
        assert card.expires_on > card.issue_date

    @invariant()
    def replay_equals_live(self) -> None:
        card = self.card
        if card is None:
            return
        assert card.version == len(self.events)
        assert state_of(replay(self.events)) == state_of(card)

    def teardown(self) -> None:
        """The events survive the service's transcoding (dates, times, UUIDs, nested values)."""
        if self.card is None:
            return
        app = EventStoreOnly(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        app.events.put(self.events)
        stored = list(app.events.get(self.card.id))
        assert stored == self.events
        for old, new in zip(self.events, stored, strict=True):
            assert type(old) is type(new)
            effective = getattr(old, "effective_at", None)
            if effective is not None:
                assert new.effective_at.isoformat() == effective.isoformat()
        reloaded = app.repository.get(self.card.id)
        assert state_of(reloaded) == state_of(self.card)


CardMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("MYNACARD_STATE_MACHINE_EXAMPLES", "200")),
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestCardStateMachine = CardMachine.TestCase
