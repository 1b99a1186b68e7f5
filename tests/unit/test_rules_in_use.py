"""The card in use: suspension (R49), lifting it (R50), loss (R51, with the filer rules of R18),
return (R52) and the card-information change (R53)."""

from __future__ import annotations

import pytest

from commands import models as m
from lifecycle.card import HOLDER, Card, PreviousCard
from lifecycle.card import events as ev
from lifecycle.decisions import DEFAULT_POLICIES
from lifecycle.errors import TerminalState, UncoveredCase
from lifecycle.filers import Filer
from projections.status import card_status
from tests.helpers.support import (
    Story,
    active_card,
    application,
    at,
    card_events,
    certificate_events,
    certificates_of,
    d,
    names,
    new_events,
    produced_card,
    refused,
    stamp,
    to_active_with_live_certificates,
    versions,
)

HOUSEHOLD_MEMBER = Filer("household_member", same_household=True)
FRIEND = Filer("agent")
AGENT_WITH_LETTER = Filer("agent", letter_of_delegation=True)


def child_card() -> Card:
    """DOB 2014-07-07, handed over 2024-05-20: under 15 until 2029-07-06."""
    return active_card(
        applied="2024-04-01",
        accepted="2024-04-10",
        issued="2024-05-01",
        handed_over="2024-05-20",
        date_of_birth=d("2014-07-07"),
        photo_taken_on=d("2024-03-01"),
    )


def suspended_card(when: str = "2025-01-05T03:15") -> Card:
    card = active_card()
    card.suspend("call_centre", stamp(when))
    return card


# ----------------------------------------------------------------------------- R49


@pytest.mark.parametrize(
    "when",
    [
        "2025-01-05T03:15",  # Sunday, small hours (the spec's example)
        "2025-01-01T00:00",  # New Year's Day, midnight
        "2025-05-03T23:59",  # Saturday in Golden Week (憲法記念日)
        "2025-12-31T12:00",  # year-end break
    ],
)
def test_R49_suspension_is_accepted_at_any_hour_on_any_day(when: str) -> None:
    card = active_card()
    before = versions(card)
    card.suspend("call_centre", stamp(when))
    (suspended,) = new_events(card, before)
    assert isinstance(suspended, ev.Suspended)
    assert suspended.channel == "call_centre"
    assert suspended.effective_at == at(when)
    assert card.status == "suspended"
    assert card.suspended_at == at(when)


def test_R49_lost_at_0310_suspended_at_0315_on_a_sunday() -> None:
    card = active_card()
    card.suspend("call_centre", stamp("2025-01-05T03:15"))
    assert card.suspended_at == at("2025-01-05T03:15")
    assert at("2025-01-05T03:15").weekday() == 6  # Sunday
    status = card_status(card, d("2025-01-05"), DEFAULT_POLICIES)
    assert (status.status_today, status.usable_today) == ("suspended", False)


def test_R49_suspension_through_the_service_on_a_sunday_night(story: Story) -> None:
    to_active_with_live_certificates(story)
    result = story.run(m.SuspendCard, "2025-01-05T03:15")
    assert card_events(story, result) == [("Suspended", at("2025-01-05T03:15"))]
    assert result.status == "suspended"
    # D05 default: SIG revoked, AUTH on hold, from the suspension's effective time, same command
    assert certificate_events(story, result) == [
        ("AUTH", "CertificatePutOnHold", at("2025-01-05T03:15")),
        ("SIG", "CertificateRevoked", at("2025-01-05T03:15")),
    ]
    auth, sig = certificates_of(story.app, story.card)
    assert (auth.kind, auth.status) == ("AUTH", "on_hold")
    assert (sig.kind, sig.status, sig.revocation_reason, sig.end_rule) == (
        "SIG",
        "revoked",
        "suspended",
        "R49",
    )
    # the spec's example: an e-Tax signature at 09:00 is rejected; neither certificate is usable
    for cert in (auth, sig):
        assert cert.is_valid(at("2025-01-05T03:14"))
        assert cert.validity(at("2025-01-05T09:00")).valid is False
        assert cert.validity(at("2025-01-05T09:00")).rule == "R49"


def test_R49_already_suspended_card_is_refused() -> None:
    card = suspended_card()
    refused(card, "R49", card.suspend, "call_centre", stamp("2025-01-05T04:00"))
    assert card.suspended_at == at("2025-01-05T03:15")


def test_R49_suspended_card_cannot_be_used() -> None:
    card = suspended_card()
    refused(card, "R49", card.change_card_information, ["address"], HOLDER, True, stamp("2025-01-05T09:00"))


def test_R49_card_not_yet_handed_over_cannot_be_suspended() -> None:
    card = produced_card()
    refused(card, "R49", card.suspend, "call_centre", stamp("2020-05-20T03:15"))


def test_R49_unknown_channel_is_an_uncovered_case() -> None:
    card = active_card()
    before = versions(card)
    with pytest.raises(UncoveredCase) as info:
        card.suspend("carrier_pigeon", stamp("2025-01-05T03:15"))
    assert info.value.rule == "R49"
    assert versions(card) == before


# ----------------------------------------------------------------------------- R50


def test_R50_holder_in_person_lifts_the_suspension() -> None:
    card = suspended_card()
    before = versions(card)
    card.lift_suspension(HOLDER, True, stamp("2025-01-08T10:00"))
    (lifted,) = new_events(card, before)
    assert isinstance(lifted, ev.SuspensionLifted)
    assert lifted.effective_at == at("2025-01-08T10:00")
    assert card.status == "active"
    assert card.suspended_at is None
    assert card_status(card, d("2025-01-08"), DEFAULT_POLICIES).usable_today is True


@pytest.mark.parametrize(
    "filer",
    [
        HOUSEHOLD_MEMBER,
        AGENT_WITH_LETTER,
        Filer("legal_representative", same_household=True, family_register_copy=True),
    ],
    ids=["household_member", "agent_with_letter", "legal_representative"],
)
def test_R50_only_the_holder_may_lift(filer: Filer) -> None:
    card = suspended_card()
    refused(card, "R50", card.lift_suspension, filer, True, stamp("2025-01-08T10:00"))
    assert card.status == "suspended"


def test_R50_holder_must_come_in_person() -> None:
    card = suspended_card()
    refused(card, "R50", card.lift_suspension, HOLDER, False, stamp("2025-01-08T10:00"))


def test_R50_card_that_is_not_suspended_is_refused() -> None:
    card = active_card()
    refused(card, "R50", card.lift_suspension, HOLDER, True, stamp("2025-01-08T10:00"))


def test_R50_cannot_lift_before_the_suspension_began() -> None:
    card = suspended_card("2025-01-05T03:15")
    refused(
        card,
        "R50",
        card.lift_suspension,
        HOLDER,
        True,
        stamp("2025-01-08T10:00", effective="2025-01-05T03:00"),
    )


def test_R50_lift_is_impossible_after_abolition() -> None:
    # Suspended 2025-01-05, abolished (loss report) 2025-01-06, found 01-07, lift asked 01-08.
    card = suspended_card("2025-01-05T03:15")
    card.report_loss(False, True, HOLDER, stamp("2025-01-06T10:00"))
    assert card.status == "abolished"
    before = versions(card)
    with pytest.raises(TerminalState) as info:
        card.lift_suspension(HOLDER, True, stamp("2025-01-08T10:00"))
    assert info.value.rule == "R50"
    assert versions(card) == before
    assert card.status == "abolished"


def test_R50_lift_after_abolition_through_the_service(story: Story) -> None:
    story.to_active()
    story.run(m.SuspendCard, "2025-01-05T03:15")
    story.run(m.ReportLoss, "2025-01-06T10:00", police_report=True)
    version = story.card.version
    with pytest.raises(TerminalState) as info:
        story.run(m.LiftSuspension, "2025-01-08T10:00")
    assert info.value.rule == "R50"
    assert story.card.version == version
    assert story.event_types()[-2:] == ["Suspended", "Lost"]


# ----------------------------------------------------------------------------- R51


def test_R51_loss_outside_the_home_needs_the_police_report() -> None:
    card = active_card()
    error = refused(card, "R51", card.report_loss, False, False, HOLDER, stamp("2025-02-12"))
    assert "遺失届" in error.message


def test_R51_loss_at_home_needs_no_police_report() -> None:
    card = active_card()
    before = versions(card)
    card.report_loss(True, False, HOLDER, stamp("2025-02-12"))
    (lost,) = new_events(card, before)
    assert isinstance(lost, ev.Lost)
    assert (lost.lost_at_home, lost.police_report, lost.filed_by) == (True, False, "holder")
    assert card.status == "abolished"


def test_R51_lost_on_a_train_abolished_then_reissued_for_1000_yen_and_found() -> None:
    card = active_card()
    before = versions(card)
    card.report_loss(False, True, HOLDER, stamp("2025-02-12T10:00", effective="2025-02-10"))
    (lost,) = new_events(card, before)
    assert isinstance(lost, ev.Lost)
    assert lost.effective_at == at("2025-02-10")
    assert card.status == "abolished"
    assert card.ended is not None
    assert (card.ended.rule, card.ended.at, card.ended.reason) == ("R51", at("2025-02-10"), "lost")

    reissue = Card.submit(
        application(kind="reissue", reissue_reason="loss", photo_taken_on=d("2025-02-01")),
        stamp("2025-02-12T11:00"),
        DEFAULT_POLICIES,
        previous=PreviousCard(card.id, card.holder_ref, card.status, card.expires_on, False),
    )
    fees = [e for e in reissue.pending_events if isinstance(e, ev.FeeAssessed)]
    assert [(f.amount_yen, f.card_yen, f.certificate_yen, f.fault) for f in fees] == [(1000, 800, 200, True)]

    before = versions(card)
    card.collect_physical_card("found_after_loss", stamp("2025-03-20"))
    assert names(new_events(card, before)) == ["PhysicalCardCollected"]
    assert card.status == "abolished"
    refused(card, "R51", card.collect_physical_card, "found_after_loss", stamp("2025-03-21"))


def test_R51_abolished_card_can_never_be_reactivated() -> None:
    card = active_card()
    card.report_loss(True, False, HOLDER, stamp("2025-02-12"))
    for command in (
        lambda: card.suspend("call_centre", stamp("2025-02-13")),
        lambda: card.change_card_information(["address"], HOLDER, True, stamp("2025-02-13")),
        lambda: card.report_loss(True, False, HOLDER, stamp("2025-02-13")),
    ):
        before = versions(card)
        with pytest.raises(TerminalState):
            command()
        assert versions(card) == before
    assert card.status == "abolished"


def test_R51_suspended_card_can_be_reported_lost() -> None:
    card = suspended_card()
    card.report_loss(False, True, HOLDER, stamp("2025-01-06T10:00"))
    assert card.status == "abolished"


def test_R51_agent_needs_a_letter_of_delegation() -> None:
    card = active_card()
    error = refused(card, "R51", card.report_loss, True, False, FRIEND, stamp("2025-02-12"))
    assert "委任状" in error.message
    card.report_loss(True, False, AGENT_WITH_LETTER, stamp("2025-02-12"))
    lost = card.pending_events[-1]
    assert isinstance(lost, ev.Lost)
    assert lost.filed_by == "agent"


def test_R51_household_member_without_a_letter_may_not_file() -> None:
    card = active_card()
    refused(card, "R51", card.report_loss, True, False, HOUSEHOLD_MEMBER, stamp("2025-02-12"))


def test_R51_R18_legal_representative_of_an_adult_proves_authority() -> None:
    card = active_card()
    refused(card, "R18", card.report_loss, True, False, Filer("legal_representative"), stamp("2025-02-12"))
    card.report_loss(
        True, False, Filer("legal_representative", family_register_copy=True), stamp("2025-02-12")
    )
    lost = card.pending_events[-1]
    assert isinstance(lost, ev.Lost)
    assert lost.filed_by == "legal_representative"


def test_R51_R18_parent_in_the_household_of_an_under_15_needs_no_family_register() -> None:
    card = child_card()
    parent = Filer("legal_representative", same_household=True, parent_child_on_resident_record=True)
    card.report_loss(True, False, parent, stamp("2025-02-12"))
    assert card.status == "abolished"


def test_R51_R18_parent_in_another_household_of_an_under_15_needs_the_family_register() -> None:
    card = child_card()
    refused(card, "R18", card.report_loss, True, False, Filer("legal_representative"), stamp("2025-02-12"))
    card.report_loss(
        True, False, Filer("legal_representative", domicile_in_municipality=True), stamp("2025-02-12")
    )
    assert card.status == "abolished"


def test_R51_R18_guardian_of_an_adult_ward_needs_the_registry_certificate() -> None:
    card = active_card(adult_ward=True)
    guardian = Filer("legal_representative", family_register_copy=True)
    refused(card, "R18", card.report_loss, True, False, guardian, stamp("2025-02-12"))
    card.report_loss(
        True, False, Filer("legal_representative", registry_certificate=True), stamp("2025-02-12")
    )
    assert card.status == "abolished"


# ----------------------------------------------------------------------------- R52


@pytest.mark.parametrize("reason", ["voluntary", "moving_abroad", "death", "other"])
def test_R52_return_abolishes_the_card_for_every_reason(reason: str) -> None:
    card = active_card()
    before = versions(card)
    card.return_card(reason, HOLDER, stamp("2025-04-01T10:00"))
    (returned,) = new_events(card, before)
    assert isinstance(returned, ev.Returned)
    assert returned.reason == reason
    assert returned.filed_by == "holder"
    assert returned.handed_back_as_record is (reason == "moving_abroad")
    assert card.status == "returned"
    assert card.ended is not None
    assert (card.ended.rule, card.ended.at) == ("R52", at("2025-04-01T10:00"))


def test_R52_returned_card_is_abolished_permanently() -> None:
    card = active_card()
    card.return_card("voluntary", HOLDER, stamp("2025-04-01"))
    before = versions(card)
    with pytest.raises(TerminalState):
        card.return_card("voluntary", HOLDER, stamp("2025-04-02"))
    with pytest.raises(TerminalState):
        card.lift_suspension(HOLDER, True, stamp("2025-04-02"))
    assert versions(card) == before


def test_R52_return_before_handover_is_refused() -> None:
    card = produced_card()
    error = refused(card, "R52", card.return_card, "voluntary", HOLDER, stamp("2020-05-20"))
    assert "R12" in error.message


def test_R52_suspended_card_may_be_returned() -> None:
    card = suspended_card()
    card.return_card("voluntary", HOLDER, stamp("2025-01-06"))
    assert card.status == "returned"


def test_R52_unknown_reason_is_an_uncovered_case() -> None:
    card = active_card()
    before = versions(card)
    with pytest.raises(UncoveredCase) as info:
        card.return_card("spring_cleaning", HOLDER, stamp("2025-04-01"))
    assert info.value.rule == "R52"
    assert versions(card) == before


def test_R52_filed_by_agent_with_letter_or_legal_representative() -> None:
    agent_card = active_card()
    refused(agent_card, "R52", agent_card.return_card, "voluntary", FRIEND, stamp("2025-04-01"))
    agent_card.return_card("voluntary", AGENT_WITH_LETTER, stamp("2025-04-01"))
    assert agent_card.status == "returned"

    household = active_card()
    refused(household, "R52", household.return_card, "voluntary", HOUSEHOLD_MEMBER, stamp("2025-04-01"))

    represented = active_card()
    represented.return_card(
        "voluntary", Filer("legal_representative", registry_certificate=True), stamp("2025-04-01")
    )
    returned = represented.pending_events[-1]
    assert isinstance(returned, ev.Returned)
    assert returned.filed_by == "legal_representative"


def test_R52_new_card_after_a_voluntary_return_costs_1000_yen() -> None:
    card = active_card()
    card.return_card("voluntary", HOLDER, stamp("2025-04-01"))
    new = Card.submit(
        application(kind="reissue", reissue_reason="voluntary_return", photo_taken_on=d("2025-04-15")),
        stamp("2025-05-01"),
        DEFAULT_POLICIES,
        previous=PreviousCard(card.id, card.holder_ref, card.status, card.expires_on, False),
    )
    fees = [e for e in new.pending_events if isinstance(e, ev.FeeAssessed)]
    assert [(f.amount_yen, f.fault) for f in fees] == [(1000, True)]


# ----------------------------------------------------------------------------- R53


def test_R53_household_member_with_the_pin_changes_the_card_the_same_day() -> None:
    card = active_card()
    before = versions(card)
    card.change_card_information(["address"], HOUSEHOLD_MEMBER, True, stamp("2025-06-01T10:00"))
    (changed,) = new_events(card, before)
    assert isinstance(changed, ev.AddressChanged)
    assert (changed.fact, changed.filed_by) == ("address", "household_member")
    assert changed.effective_at == at("2025-06-01T10:00")
    assert card.pending_inquiry is None


def test_R53_holder_with_the_pin_changes_the_card_the_same_day() -> None:
    card = active_card()
    before = versions(card)
    card.change_card_information(["name"], HOLDER, True, stamp("2025-06-01T10:00"))
    (changed,) = new_events(card, before)
    assert isinstance(changed, ev.NameChanged)
    assert changed.filed_by == "holder"


def test_R53_one_event_per_changed_fact() -> None:
    card = active_card()
    before = versions(card)
    card.change_card_information(
        ["address", "name", "date_of_birth", "sex", "former_surname"],
        HOLDER,
        True,
        stamp("2025-06-01T10:00"),
        new_date_of_birth=d("1980-10-11"),
        former_surname_action="added",
    )
    events = new_events(card, before)
    assert names(events) == [
        "AddressChanged",
        "NameChanged",
        "DateOfBirthChanged",
        "SexChanged",
        "FormerSurnameChanged",
    ]
    assert [e.fact for e in events] == ["address", "name", "date_of_birth", "sex", "former_surname"]
    assert all(e.effective_at == at("2025-06-01T10:00") for e in events)
    assert events[2].new_date_of_birth == d("1980-10-11")
    assert events[4].action == "added"
    assert card.date_of_birth == d("1980-10-11")


def test_R53_pin_is_required() -> None:
    card = active_card()
    error = refused(
        card, "R53", card.change_card_information, ["address"], HOLDER, False, stamp("2025-06-01")
    )
    assert "PIN" in error.message
    refused(
        card, "R53", card.change_card_information, ["address"], HOUSEHOLD_MEMBER, False, stamp("2025-06-01")
    )


def test_R53_household_member_must_be_in_the_holders_household() -> None:
    card = active_card()
    refused(
        card,
        "R53",
        card.change_card_information,
        ["address"],
        Filer("household_member", same_household=False),
        True,
        stamp("2025-06-01"),
    )


def test_R53_agent_of_another_household_goes_through_an_inquiry_letter() -> None:
    card = active_card()
    before = versions(card)
    card.change_card_information(["address"], FRIEND, False, stamp("2025-06-01T10:00"))
    (letter,) = new_events(card, before)
    assert isinstance(letter, ev.InquiryLetterSent)
    assert (letter.facts, letter.filed_by) == (["address"], "agent")
    assert not any(isinstance(e, ev.CardInformationChanged) for e in card.pending_events)
    assert "inquiry_letter_pending" in card_status(card, d("2025-06-01"), DEFAULT_POLICIES).flags

    # a second change waits for the answer; the answer needs the PIN
    refused(card, "R53", card.change_card_information, ["name"], HOLDER, True, stamp("2025-06-02"))
    refused(card, "R53", card.answer_inquiry, False, stamp("2025-06-10"))

    before = versions(card)
    card.answer_inquiry(True, stamp("2025-06-10T11:00"))
    answered, changed = new_events(card, before)
    assert isinstance(answered, ev.InquiryAnswered)
    assert isinstance(changed, ev.AddressChanged)
    assert changed.filed_by == "agent"
    assert changed.effective_at == at("2025-06-10T11:00")
    assert card.pending_inquiry is None


def test_R53_inquiry_letter_through_the_service(story: Story) -> None:
    to_active_with_live_certificates(story)
    sent = story.run(
        m.ChangeCardInformation, "2025-06-01T10:00", facts=["address"], filed_by={"role": "agent"}
    )
    assert [e.type for e in sent.events] == ["InquiryLetterSent"]  # nothing changed yet: SIG intact
    answered = story.run(m.AnswerInquiry, "2025-06-10T10:00", pin_confirmed=True)
    assert [e for e, _ in card_events(story, answered)] == ["InquiryAnswered", "AddressChanged"]
    # R41 (D09 immediate): the address change revokes the SIG when it is accepted; AUTH stays
    assert certificate_events(story, answered) == [("SIG", "CertificateRevoked", at("2025-06-10T10:00"))]
    auth, sig = certificates_of(story.app, story.card)
    assert (sig.status, sig.revocation_reason, sig.end_rule) == ("revoked", "card_information_changed", "R41")
    assert (auth.kind, auth.status) == ("AUTH", "active")
    assert auth.is_valid(at("2025-06-10T10:00"))


def test_R53_answer_without_a_pending_letter_is_refused() -> None:
    card = active_card()
    refused(card, "R53", card.answer_inquiry, True, stamp("2025-06-10"))


@pytest.mark.parametrize(("facts"), [[], ["shoe_size"], ["address", "address"]])
def test_R53_facts_must_be_distinct_known_facts(facts: list[str]) -> None:
    card = active_card()
    refused(card, "R53", card.change_card_information, facts, HOLDER, True, stamp("2025-06-01"))


def test_R53_not_before_handover() -> None:
    card = produced_card()
    refused(card, "R53", card.change_card_information, ["address"], HOLDER, True, stamp("2020-05-20"))


def test_R53_same_household_parent_changes_a_childs_card_the_same_day() -> None:
    card = child_card()
    parent = Filer("legal_representative", same_household=True, parent_child_on_resident_record=True)
    before = versions(card)
    card.change_card_information(["address"], parent, True, stamp("2025-06-01T10:00"))
    assert names(new_events(card, before)) == ["AddressChanged"]
