"""Mail delivery of a card applied for in person (R03; seeds 000 and 002): the counter's
本人限定受取郵便(特例型), and 簡易書留 for the 申請補助サービス (``assisted``) and 出張申請
(``outreach``) channels; the steps dispatched → arrival notice → delivered, or returned to the city
(返戻); and the cases that require counter pickup instead of mail."""

from __future__ import annotations

from typing import Any

import pytest

from commands import models as m
from commands import pickup_models as pm
from commands.application import CardLifecycle
from lifecycle.errors import RuleViolation
from tests.helpers.support import PIN_VALUES_BY_KIND, Clock, Story, at, my_number, refused_by_the_service

DOCUMENTS = {"identity_documents": ["driving_licence"]}
IN_PERSON = {**DOCUMENTS, "applicant_present": True}


def produced(story: Story, channel: str, **application: Any) -> Story:
    story.apply("2025-04-01T09:00", channel=channel, photo_taken_on="2025-03-20", **IN_PERSON, **application)
    story.run(m.AcceptApplication, "2025-04-10T09:00")
    story.run(m.ProduceCard, "2025-05-01T09:00")
    return story


def deliver(story: Story, when: str, **fields: Any) -> Any:
    needed = story.card.pins_needed_at_handover(at(when).date())
    pins = {f"{k}_pin": v for k, v in PIN_VALUES_BY_KIND.items() if k in needed}
    return story.run(m.HandOverCard, when, method="mail", notification_card="collected", **pins, **fields)


@pytest.mark.parametrize(
    ("channel", "service"),
    [("assisted", "簡易書留"), ("outreach", "簡易書留"), ("counter", "本人限定受取郵便(特例型)")],
)
def test_R03_a_first_card_applied_for_in_person_is_mailed_and_delivered(
    story: Story, channel: str, service: str
) -> None:
    produced(story, channel)
    mailed = story.run(pm.MailCard, "2025-05-02T09:00")
    assert [e.type for e in mailed.events] == ["CardMailed"]
    event = list(story.app.events.get(story.card.id))[-1]
    assert (event.service, event.mailed_on.isoformat()) == (service, "2025-05-02")
    story.run(pm.RecordArrivalNotice, "2025-05-03T15:00")
    deliver(story, "2025-05-05T10:00")
    assert story.card.status == "active"
    assert "Issued" in story.event_types()


@pytest.mark.parametrize("channel", ["assisted", "outreach"])
def test_R03_assisted_and_outreach_applications_need_the_applicant_in_person(
    story: Story, channel: str
) -> None:
    with pytest.raises(RuleViolation) as info:
        story.apply(
            "2025-04-01T09:00",
            channel=channel,
            photo_taken_on="2025-03-20",
            applicant_present=False,
            **DOCUMENTS,
        )
    assert info.value.rule == "R03"


def test_R03_a_card_applied_for_online_is_not_mailed(story: Story) -> None:
    story.apply("2025-04-01T09:00", photo_taken_on="2025-03-20")
    story.run(m.AcceptApplication, "2025-04-10T09:00")
    story.run(m.ProduceCard, "2025-05-01T09:00")
    error = refused_by_the_service(story, "R03", pm.MailCard, "2025-05-02T09:00")
    assert "counter" in (error.hint or "")


def test_R03_a_card_whose_face_no_longer_matches_the_resident_record_is_not_mailed(story: Story) -> None:
    produced(story, "assisted")
    refused_by_the_service(story, "R03", pm.MailCard, "2025-05-02T09:00", face_details_current=False)


def test_R03_a_renewal_is_handed_over_at_the_counter_not_mailed(app: CardLifecycle, clock: Clock) -> None:
    number = my_number(3_000_301)
    first = Story(app, clock, my_number_=number)
    first.to_active()
    renewal = Story(app, clock, my_number_=number)
    renewal.apply(
        "2029-08-01T09:00",
        channel="assisted",
        kind="renewal",
        previous_card=first.application_id,
        photo_taken_on="2029-07-20",
        **IN_PERSON,
    )
    renewal.run(m.AcceptApplication, "2029-08-10T09:00")
    renewal.run(m.ProduceCard, "2029-09-01T09:00")
    error = refused_by_the_service(renewal, "R03", pm.MailCard, "2029-09-02T09:00")
    assert "renewal" in error.message


def test_R03_a_card_returned_undelivered_goes_to_counter_pickup(story: Story) -> None:
    produced(story, "assisted")
    story.run(pm.MailCard, "2025-05-02T09:00")
    story.run(pm.RecordMailReturned, "2025-05-20T09:00")
    assert story.card.mail_returned
    refused_by_the_service(story, "R03", pm.MailCard, "2025-05-21T09:00")
    with pytest.raises(RuleViolation) as info:
        deliver(story, "2025-05-21T10:00")
    assert info.value.rule == "R03"
    # At the counter, after the pickup notice (R13).
    story.run(m.SendPickupNotice, "2025-05-21T11:00")
    needed = story.card.pins_needed_at_handover(at("2025-05-25T10:00").date())
    story.run(
        m.HandOverCard,
        "2025-05-25T10:00",
        notification_card="collected",
        **DOCUMENTS,
        **{f"{k}_pin": v for k, v in PIN_VALUES_BY_KIND.items() if k in needed},
    )
    assert story.card.status == "active"


def test_R03_an_arrival_notice_or_a_return_follows_a_mailing(story: Story) -> None:
    produced(story, "counter")
    refused_by_the_service(story, "R03", pm.RecordArrivalNotice, "2025-05-02T09:00")
    refused_by_the_service(story, "R03", pm.RecordMailReturned, "2025-05-02T09:00")
