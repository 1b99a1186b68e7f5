"""Issue 13's worked upcast, its write side: every hand-over (交付, R14–R17) records the office
(窓口, R59 municipal configuration) in ``Issued`` version 2 — the command's ``office``, else the
service's ``MYNACARD_OFFICE`` (``CardLifecycle.office``), else ``(not recorded)``; and the card's
history (``mynacard.event/1``) shows it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from commands import models as m
from commands.application import CardLifecycle
from lifecycle.card import OFFICE_NOT_RECORDED
from projections.event_json import event_to_dict
from storage.memory import memory_env
from tests.helpers.support import KEY, PIN_VALUES_BY_KIND, Clock, Story, at, history_of


@pytest.fixture
def hoya(clock: Clock) -> Iterator[CardLifecycle]:
    """A service whose ``MYNACARD_OFFICE`` is 保谷庁舎."""
    app = CardLifecycle(env=memory_env(), holder_key=KEY, clock=clock, office="保谷庁舎")
    yield app
    app.close()


def handed_over(story: Story, **fields: Any) -> dict[str, Any]:
    """Apply, accept, produce and hand over; the ``Issued`` event as ``mynacard.event/1``."""
    story.apply("2025-11-01T09:00", photo_taken_on="2025-10-20")
    story.run(m.AcceptApplication, "2025-11-10T09:00")
    story.run(m.ProduceCard, "2025-12-01T09:00")
    needed = story.card.pins_needed_at_handover(at("2025-12-10T10:00").date())
    story.run(
        m.HandOverCard,
        "2025-12-10T10:00",
        identity_documents=["driving_licence"],
        notification_card="collected",
        **{f"{k}_pin": v for k, v in PIN_VALUES_BY_KIND.items() if k in needed},
        **fields,
    )
    issued = next(e for e in history_of(story.app, story.card) if type(e).__name__ == "Issued")
    return event_to_dict(issued)


def test_R14_R59_the_office_named_by_the_command_is_recorded_before_the_setting(
    hoya: CardLifecycle, clock: Clock
) -> None:
    """Issue 13: the command's ``office`` wins over ``MYNACARD_OFFICE``."""
    issued = handed_over(Story(hoya, clock), office="田無庁舎")
    assert issued["data"]["office"] == "田無庁舎"


def test_R14_R59_without_an_office_in_the_command_the_services_office_is_recorded(
    hoya: CardLifecycle, clock: Clock
) -> None:
    """Issue 13: ``MYNACARD_OFFICE`` (``CardLifecycle(office=…)``) when the command names none."""
    issued = handed_over(Story(hoya, clock))
    assert issued["data"]["office"] == "保谷庁舎"


def test_R14_R59_with_no_office_anywhere_the_handover_records_not_recorded(story: Story) -> None:
    """Issue 13: no command field, no setting: ``(not recorded)``, the same default old
    hand-overs read with (``Issued.upcast_v1_v2``); never null in version 2."""
    issued = handed_over(story)
    assert issued["data"]["office"] == OFFICE_NOT_RECORDED == "(not recorded)"
