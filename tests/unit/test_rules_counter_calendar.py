"""R59: the counter calendar and pickup reservations are municipal configuration (``Policies``),
not domain invariants: off by default; once configured (Niigata's, seed 002), a counter handover on
a closed day is refused, and a reservation keeps to the booking window."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commands import models as m
from commands import pickup_models as pm
from commands.application import CardLifecycle
from lifecycle.counter_calendar import closed_because, third_saturday
from lifecycle.decisions import DEFAULT_POLICIES, Policies
from lifecycle.errors import RuleViolation
from storage.memory import memory_env
from tests.helpers.support import KEY, PIN_VALUES_BY_KIND, Clock, Story, at

NIIGATA = Policies(counter_closed_new_year=True, counter_closed_day_after_third_saturday=True)


@pytest.fixture
def niigata(clock: Clock) -> Any:
    app = CardLifecycle(env=memory_env(), holder_key=KEY, policies=NIIGATA, clock=clock)
    yield Story(app, clock)
    app.close()


def produced(story: Story) -> Story:
    story.apply("2025-11-01T09:00", photo_taken_on="2025-10-20")
    story.run(m.AcceptApplication, "2025-11-10T09:00")
    story.run(m.ProduceCard, "2025-12-01T09:00")
    story.run(m.SendPickupNotice, "2025-12-02T09:00")
    return story


def hand_over(story: Story, when: str) -> Any:
    needed = story.card.pins_needed_at_handover(at(when).date())
    pins = {f"{k}_pin": v for k, v in PIN_VALUES_BY_KIND.items() if k in needed}
    return story.run(
        m.HandOverCard, when, identity_documents=["driving_licence"], notification_card="collected", **pins
    )


def test_R59_the_default_calendar_closes_no_day() -> None:
    assert all(closed_because(date(2025, 12, 29 + i), DEFAULT_POLICIES) is None for i in range(3))


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_R59_the_day_after_the_third_saturday_is_a_sunday_between_the_16th_and_the_22nd(day: date) -> None:
    saturday = third_saturday(day.year, day.month)
    assert saturday.weekday() == 5 and 15 <= saturday.day <= 21
    closed = closed_because(day, NIIGATA) is not None
    new_year = (day.month, day.day) >= (12, 29) or (day.month, day.day) <= (1, 3)
    assert closed == (new_year or (day.weekday() == 6 and 16 <= day.day <= 22))


@pytest.mark.parametrize("when", ["2025-12-29T10:00", "2026-01-03T10:00", "2025-12-21T10:00"])
def test_R59_a_counter_handover_on_a_configured_closed_day_is_refused(niigata: Story, when: str) -> None:
    produced(niigata)
    with pytest.raises(RuleViolation) as info:
        hand_over(niigata, when)
    assert info.value.rule == "R59"
    assert niigata.card.status == "produced"


def test_R59_the_same_days_are_open_without_the_configuration(story: Story) -> None:
    produced(story)
    hand_over(story, "2025-12-29T10:00")
    assert story.card.status == "active"


def test_R59_a_pickup_is_reserved_within_the_window_not_the_same_day_nor_a_closed_day(niigata: Story) -> None:
    produced(niigata)
    for when, day in (
        ("2025-12-03T09:00", "2025-12-03"),
        ("2025-12-03T09:00", "2026-01-05"),
        ("2025-12-03T09:00", "2025-12-30"),
    ):
        with pytest.raises(RuleViolation) as info:
            niigata.run(pm.ReservePickup, when, reserved_for=day)
        assert info.value.rule == "R59", day
    result = niigata.run(pm.ReservePickup, "2025-12-03T09:00", reserved_for="令和7年12月10日", office="chuo")
    assert [e.type for e in result.events] == ["PickupReserved"]
    assert (niigata.card.pickup_reserved_for, niigata.card.pickup_office) == (date(2025, 12, 10), "chuo")
    hand_over(niigata, "2025-12-10T10:00")
    assert niigata.card.status == "active"


def test_R59_the_office_that_handed_the_card_over_is_recorded(story: Story) -> None:
    produced(story)
    needed = story.card.pins_needed_at_handover(at("2025-12-10T10:00").date())
    story.run(
        m.HandOverCard,
        "2025-12-10T10:00",
        identity_documents=["driving_licence"],
        notification_card="collected",
        office="kita-ward",
        **{f"{k}_pin": v for k, v in PIN_VALUES_BY_KIND.items() if k in needed},
    )
    issued = next(e for e in story.app.events.get(story.card.id) if type(e).__name__ == "Issued")
    assert issued.office == "kita-ward"
