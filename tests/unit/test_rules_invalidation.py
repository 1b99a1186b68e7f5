"""Card invalidation before expiry (有効期限前の失効): rules R27–R33 of the spec, and the rule that
a card that has ended refuses every further command (spec §2.3: 「失効したマイナンバーカードを
復活させることはできません」, §3: all exits are terminal).

Day counting is D12: "within N days after D" has D+N as the last good day, and the consequence
applies from 00:00 JST on D+N+1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest

from commands import models as m
from lifecycle.calendar import last_day_within
from lifecycle.card import HOLDER, Card, Handover, PreviousCard
from lifecycle.card import events as ev
from lifecycle.decisions import DEFAULT_POLICIES
from lifecycle.errors import RuleViolation, TerminalState
from lifecycle.fees import assess_application_fee
from lifecycle.filers import Filer
from lifecycle.identifiers import certificate_id_for, certificate_serial
from projections.status import card_status
from tests.helpers.support import (
    ALL_PINS,
    DRIVING_LICENCE,
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


def foreign_card() -> Card:
    return active_card(
        applied="2023-12-01",
        accepted="2023-12-10",
        issued="2024-01-10",
        handed_over="2024-01-20",
        date_of_birth=d("1990-05-05"),
        photo_taken_on=d("2023-11-01"),
        residence_status="engineer_humanities_international",
        stay_until=d("2026-08-31"),
    )


def moved_in_card(filed: str = "2025-04-10") -> Card:
    """Moved out 2025-04-01, moved in 2025-04-05, 転入届 filed on ``filed`` (in time)."""
    card = active_card()
    card.move_out(d("2025-04-01"), False, stamp("2025-03-25"))
    card.file_move_in(d("2025-04-01"), d("2025-04-05"), stamp(filed))
    return card


# ----------------------------------------------------------------------------- R27


def test_R27_continued_use_registered_the_day_before_keeps_the_card_valid() -> None:
    card = active_card()
    before = versions(card)
    card.register_overseas_continued_use(d("2025-09-01"), stamp("2025-08-31"))
    (registered,) = new_events(card, before)
    assert isinstance(registered, ev.OverseasContinuedUseRegistered)
    assert registered.planned_move_out_on == d("2025-09-01")

    before = versions(card)
    card.move_out(d("2025-09-01"), True, stamp("2025-08-31T15:00"))
    assert names(new_events(card, before)) == ["MovedOut"]
    assert card.status == "active"
    assert card.ended is None
    status = card_status(card, d("2025-09-02"), DEFAULT_POLICIES)
    assert status.usable_today is True
    assert "overseas_continued_use" in status.flags


def test_R27_registration_on_the_move_out_day_is_refused_and_the_card_ends_that_day() -> None:
    card = active_card()
    error = refused(card, "R27", card.register_overseas_continued_use, d("2025-09-01"), stamp("2025-09-01"))
    assert "2025-08-31" in error.message
    refused(card, "R27", card.register_overseas_continued_use, d("2025-09-01"), stamp("2025-09-02"))

    before = versions(card)
    card.move_out(d("2025-09-01"), True, stamp("2025-09-01T10:00"))
    moved, invalidated = new_events(card, before)
    assert isinstance(moved, ev.MovedOut)
    assert moved.overseas is True
    assert isinstance(invalidated, ev.Invalidated)
    assert (invalidated.rule, invalidated.reason) == ("R27", "overseas_move_out")
    assert invalidated.effective_at == at("2025-09-01")
    assert card.status == "invalidated"
    assert card.ended is not None
    assert (card.ended.rule, card.ended.at) == ("R27", at("2025-09-01"))


def test_R27_registration_for_another_date_does_not_protect_the_card() -> None:
    card = active_card()
    card.register_overseas_continued_use(d("2025-09-01"), stamp("2025-08-20"))
    card.move_out(d("2025-09-10"), True, stamp("2025-09-10"))
    assert card.status == "invalidated"
    assert card.ended is not None
    assert card.ended.at == at("2025-09-10")


def test_R27_foreign_resident_cannot_register_and_returns_the_card_as_a_record() -> None:
    card = foreign_card()
    refused(card, "R27", card.register_overseas_continued_use, d("2025-09-01"), stamp("2025-08-20"))
    before = versions(card)
    card.return_card("moving_abroad", HOLDER, stamp("2025-08-25"))
    (returned,) = new_events(card, before)
    assert isinstance(returned, ev.Returned)
    assert returned.reason == "moving_abroad"
    assert returned.handed_back_as_record is True
    assert card.status == "returned"


def test_R27_foreign_resident_moving_abroad_loses_the_card_on_the_move_out_day() -> None:
    card = foreign_card()
    card.move_out(d("2025-09-01"), True, stamp("2025-09-01"))
    assert card.ended is not None
    assert (card.status, card.ended.rule, card.ended.at) == ("invalidated", "R27", at("2025-09-01"))


def test_R27_card_stays_valid_until_the_planned_move_out_date() -> None:
    card = active_card()
    card.move_out(d("2025-09-01"), True, stamp("2025-08-20"))
    status = card_status(card, d("2025-08-25"), DEFAULT_POLICIES)
    assert status.status_today == "active"
    assert status.usable_today is True


def test_R27_registration_after_filing_the_move_out_but_before_the_day_before() -> None:
    card = active_card()
    card.move_out(d("2025-09-01"), True, stamp("2025-08-20"))
    card.register_overseas_continued_use(d("2025-09-01"), stamp("2025-08-25"))
    assert card_status(card, d("2025-09-02"), DEFAULT_POLICIES).usable_today is True


# ----------------------------------------------------------------------------- R28 / R29


def test_R28_move_in_deadline_is_planned_move_out_plus_30_days() -> None:
    assert Card.move_in_deadline(d("2025-03-31"), d("2025-04-20")) == (d("2025-04-30"), "R28")
    assert last_day_within(d("2025-03-31"), 30) == d("2025-04-30")


def test_R28_filing_on_the_30th_day_is_in_time() -> None:
    card = active_card()
    card.move_out(d("2025-03-31"), False, stamp("2025-03-25"))
    before = versions(card)
    card.file_move_in(d("2025-03-31"), d("2025-04-20"), stamp("2025-04-30"))
    (filed,) = new_events(card, before)
    assert isinstance(filed, ev.MoveInFiled)
    assert filed.in_time is True
    assert filed.last_day_to_file == d("2025-04-30")
    assert filed.info_change_due_by == d("2025-07-29")
    assert card.status == "active"


def test_R28_filing_on_the_31st_day_invalidates_the_card_from_that_day() -> None:
    card = active_card()
    card.move_out(d("2025-03-31"), False, stamp("2025-03-25"))
    before = versions(card)
    card.file_move_in(d("2025-03-31"), d("2025-04-20"), stamp("2025-05-01T10:00"))
    filed, invalidated = new_events(card, before)
    assert isinstance(filed, ev.MoveInFiled)
    assert filed.in_time is False
    assert isinstance(invalidated, ev.Invalidated)
    assert (invalidated.rule, invalidated.reason) == ("R28", "late_move_in")
    assert invalidated.effective_at == at("2025-05-01")
    assert card.status == "invalidated"


def test_R28_no_move_in_filed_lapses_from_the_31st_day() -> None:
    card = active_card()
    card.move_out(d("2025-03-31"), False, stamp("2025-03-25"))
    assert card.due_lapses(d("2025-04-30"), DEFAULT_POLICIES) == []
    assert card_status(card, d("2025-04-30"), DEFAULT_POLICIES).status_today == "active"
    (lapse,) = card.due_lapses(d("2025-05-01"), DEFAULT_POLICIES)
    assert (lapse.kind, lapse.rule, lapse.effective_at) == ("late_move_in", "R28", at("2025-05-01"))
    assert card_status(card, d("2025-05-01"), DEFAULT_POLICIES).status_today == "invalidated"

    before = versions(card)
    card.record_lapses(stamp("2025-05-02T09:00"), DEFAULT_POLICIES)
    (invalidated,) = new_events(card, before)
    assert isinstance(invalidated, ev.Invalidated)
    assert (invalidated.rule, invalidated.effective_at) == ("R28", at("2025-05-01"))
    assert card.status == "invalidated"


def test_R29_filing_on_day_14_after_moving_in_is_in_time() -> None:
    assert Card.move_in_deadline(d("2025-03-31"), d("2025-04-01")) == (d("2025-04-15"), "R29")
    card = active_card()
    card.move_out(d("2025-03-31"), False, stamp("2025-03-25"))
    card.file_move_in(d("2025-03-31"), d("2025-04-01"), stamp("2025-04-15"))
    assert card.status == "active"
    filed = card.pending_events[-1]
    assert isinstance(filed, ev.MoveInFiled)
    assert (filed.in_time, filed.last_day_to_file) == (True, d("2025-04-15"))


def test_R29_filing_on_day_15_after_moving_in_invalidates_the_card() -> None:
    card = active_card()
    card.move_out(d("2025-03-31"), False, stamp("2025-03-25"))
    before = versions(card)
    card.file_move_in(d("2025-03-31"), d("2025-04-01"), stamp("2025-04-16"))
    _, invalidated = new_events(card, before)
    assert isinstance(invalidated, ev.Invalidated)
    assert invalidated.rule == "R29"
    assert invalidated.effective_at == at("2025-04-16")
    assert card.ended is not None
    assert card.ended.at == at("2025-04-16")


def test_R29_deadline_is_the_earlier_of_both_limits() -> None:
    # min(2025-04-30, 2025-04-08) = 2025-04-08
    assert Card.move_in_deadline(d("2025-03-31"), d("2025-03-25")) == (d("2025-04-08"), "R29")
    in_time = active_card()
    in_time.file_move_in(d("2025-03-31"), d("2025-03-25"), stamp("2025-04-08"))
    assert in_time.status == "active"

    late = active_card()
    before = versions(late)
    late.file_move_in(d("2025-03-31"), d("2025-03-25"), stamp("2025-04-09"))
    _, invalidated = new_events(late, before)
    assert isinstance(invalidated, ev.Invalidated)
    assert (invalidated.rule, invalidated.effective_at) == ("R29", at("2025-04-09"))


def test_R29_move_in_cannot_be_filed_before_moving_in() -> None:
    card = active_card()
    refused(card, "R29", card.file_move_in, d("2025-03-31"), d("2025-04-10"), stamp("2025-04-09"))


# ----------------------------------------------------------------------------- R30


def test_R30_update_is_due_within_90_days_of_the_move_in() -> None:
    card = moved_in_card("2025-04-10")
    assert card.info_change_due_by == d("2025-07-09")
    status = card_status(card, d("2025-07-09"), DEFAULT_POLICIES)
    assert (status.status_today, status.usable_today) == ("active", True)
    assert [(x.rule, x.last_day) for x in status.deadlines] == [("R30", d("2025-07-09"))]


def test_R30_update_on_day_90_is_in_time() -> None:
    card = moved_in_card("2025-04-10")
    before = versions(card)
    card.change_card_information(["address"], HOLDER, True, stamp("2025-07-09T16:00"))
    (changed,) = new_events(card, before)
    assert isinstance(changed, ev.AddressChanged)
    assert card.info_change_due_by is None
    assert card.due_lapses(d("2025-12-01"), DEFAULT_POLICIES) == []


def test_R30_update_on_day_91_is_refused_and_the_card_lapses() -> None:
    card = moved_in_card("2025-04-10")
    refused(card, "R30", card.change_card_information, ["address"], HOLDER, True, stamp("2025-07-10"))
    assert card.due_lapses(d("2025-07-09"), DEFAULT_POLICIES) == []
    (lapse,) = card.due_lapses(d("2025-07-10"), DEFAULT_POLICIES)
    assert (lapse.kind, lapse.rule, lapse.effective_at) == ("no_update_90d", "R30", at("2025-07-10"))
    status = card_status(card, d("2025-07-10"), DEFAULT_POLICIES)
    assert (status.status, status.status_today, status.usable_today) == ("active", "invalidated", False)

    before = versions(card)
    recorded = card.record_lapses(stamp("2025-07-15T09:00"), DEFAULT_POLICIES)
    assert [x.rule for x in recorded] == ["R30"]
    (invalidated,) = new_events(card, before)
    assert isinstance(invalidated, ev.Invalidated)
    assert (invalidated.rule, invalidated.effective_at) == ("R30", at("2025-07-10"))
    assert card.status == "invalidated"
    # idempotent: nothing more is due
    before = versions(card)
    assert card.record_lapses(stamp("2025-07-16T09:00"), DEFAULT_POLICIES) == []
    assert versions(card) == before


def test_R30_lapse_recorded_through_the_service(story: Story) -> None:
    story.to_active()
    story.run(m.RecordMoveOut, "2025-03-25T09:00", planned_move_out_on="2025-04-01")
    story.run(m.FileMoveIn, "2025-04-10T09:00", planned_move_out_on="2025-04-01", moved_in_on="2025-04-05")
    nothing = story.run(m.RecordLapses, "2025-07-09T18:00")
    assert card_events(story, nothing) == []
    assert nothing.status == "active"
    # the sweep also records what time ended on the certificates: those of a card handed over
    # 2020-06-20 ran to the 5th birthday, 2024-10-10 (R35, R36), so the live ones expired 2024-10-11
    expired = certificate_events(story, nothing)
    assert ("AUTH", "CertificateExpired", at("2024-10-11")) in expired
    assert {(event, when) for _, event, when in expired} == {("CertificateExpired", at("2024-10-11"))}
    result = story.run(m.RecordLapses, "2025-07-10T09:00")
    assert card_events(story, result) == [("Invalidated", at("2025-07-10"))]
    assert certificate_events(story, result) == []  # nothing left live to end
    assert story.card.ended is not None
    assert story.card.ended.rule == "R30"


def test_R30_moving_out_again_before_the_update_invalidates_the_card() -> None:
    card = moved_in_card("2025-04-10")
    before = versions(card)
    card.move_out(d("2025-05-20"), False, stamp("2025-05-20"))
    moved, invalidated = new_events(card, before)
    assert isinstance(moved, ev.MovedOut)
    assert isinstance(invalidated, ev.Invalidated)
    assert (invalidated.rule, invalidated.reason) == ("R30", "moved_again_before_update")
    assert invalidated.effective_at == at("2025-05-20")
    assert card.status == "invalidated"


def test_R30_moving_out_after_the_update_keeps_the_card() -> None:
    card = moved_in_card("2025-04-10")
    card.change_card_information(["address"], HOLDER, True, stamp("2025-04-10T11:00"))
    card.move_out(d("2025-05-20"), False, stamp("2025-05-20"))
    assert card.status == "active"
    assert card.awaiting_move_in_since == d("2025-05-20")


def test_R30_moving_abroad_before_the_update_invalidates_even_with_continued_use() -> None:
    card = moved_in_card("2025-04-10")
    card.register_overseas_continued_use(d("2025-05-20"), stamp("2025-05-10"))
    card.move_out(d("2025-05-20"), True, stamp("2025-05-20"))
    assert card.status == "invalidated"
    assert card.ended is not None
    assert card.ended.rule == "R30"


def test_R30_move_out_after_the_lapse_does_not_move_the_end_of_the_card() -> None:
    card = moved_in_card("2025-04-10")
    try:
        card.move_out(d("2025-08-01"), False, stamp("2025-08-01"))
    except RuleViolation as error:
        assert error.rule == "R30"
        return
    assert card.ended is not None
    assert (card.ended.rule, card.ended.at) == ("R30", at("2025-07-10"))


# ----------------------------------------------------------------------------- R31 / R32


@pytest.mark.parametrize(
    ("reason", "rule", "new_holder_ref"),
    [
        ("death", "R32", None),
        ("resident_record_deleted", "R31", None),
        ("resident_code_changed", "R31", None),
        ("my_number_changed", "R31", "holder-ref-of-the-new-number"),
    ],
)
def test_R31_each_cause_invalidates_the_card(reason: str, rule: str, new_holder_ref: str | None) -> None:
    card = active_card()
    before = versions(card)
    card.invalidate(reason, stamp("2025-07-04T10:00", effective="2025-07-03"), new_holder_ref)
    (invalidated,) = new_events(card, before)
    assert isinstance(invalidated, ev.Invalidated)
    assert (invalidated.reason, invalidated.rule) == (reason, rule)
    assert invalidated.new_holder_ref == new_holder_ref
    assert invalidated.effective_at == at("2025-07-03")
    assert card.status == "invalidated"
    assert card.ended is not None
    assert (card.ended.rule, card.ended.at, card.ended.reason) == (rule, at("2025-07-03"), reason)
    assert card_status(card, d("2025-07-03"), DEFAULT_POLICIES).usable_today is False


def test_R31_stay_expiry_of_a_foreign_resident_invalidates_the_card() -> None:
    card = foreign_card()
    before = versions(card)
    card.invalidate("stay_expired", stamp("2026-03-01"))
    (invalidated,) = new_events(card, before)
    assert isinstance(invalidated, ev.Invalidated)
    assert (invalidated.reason, invalidated.rule) == ("stay_expired", "R31")
    assert card.status == "invalidated"


def test_R31_stay_expiry_is_refused_for_a_card_without_a_period_of_stay() -> None:
    card = active_card()
    refused(card, "R31", card.invalidate, "stay_expired", stamp("2025-07-03"))


def test_R31_my_number_change_names_the_new_number_and_only_it_does() -> None:
    card = active_card()
    refused(card, "R31", card.invalidate, "my_number_changed", stamp("2025-02-01"))
    refused(card, "R31", card.invalidate, "death", stamp("2025-02-01"), new_holder_ref="x")


def test_R31_my_number_change_makes_the_new_application_free() -> None:
    card = active_card()
    card.invalidate("my_number_changed", stamp("2025-02-01"), new_holder_ref="new-ref")
    fee = assess_application_fee("reissue", reissue_reason="my_number_changed", with_certificates=True)
    assert (fee.amount_yen, fee.fault) == (0, False)


def test_R31_unknown_cause_is_refused() -> None:
    card = active_card()
    error = refused(card, "R31", card.invalidate, "bad_luck", stamp("2025-02-01"))
    assert "bad_luck" in error.message


def test_R31_cause_before_receipt_voids_the_application() -> None:
    card = produced_card()
    before = versions(card)
    card.invalidate("resident_record_deleted", stamp("2020-05-20"))
    (voided,) = new_events(card, before)
    assert isinstance(voided, ev.ApplicationVoided)
    assert (voided.reason, voided.rule) == ("resident_record_deleted", "R31")
    assert card.status == "voided"


def test_R31_invalidation_through_the_service(story: Story) -> None:
    to_active_with_live_certificates(story)
    result = story.run(
        m.InvalidateCard,
        "2025-02-01T10:00",
        reason="my_number_changed",
        new_my_number="000000000000",
    )
    assert [e for e, _ in card_events(story, result)] == ["Invalidated"]
    assert result.status == "invalidated"
    # R47: every certificate ends with the card, from the same moment, in the same command
    assert certificate_events(story, result) == [
        ("AUTH", "CertificateRevoked", at("2025-02-01T10:00")),
        ("SIG", "CertificateRevoked", at("2025-02-01T10:00")),
    ]
    certificates = certificates_of(story.app, story.card)
    assert [(c.kind, c.status, c.revocation_reason, c.end_rule) for c in certificates] == [
        ("AUTH", "revoked", "my_number_changed", "R31"),
        ("SIG", "revoked", "my_number_changed", "R31"),
    ]
    assert not any(c.is_valid(at("2025-02-01T10:00")) for c in certificates)
    assert all(c.is_valid(at("2025-02-01T09:59")) for c in certificates)


def test_R47_card_ending_after_its_certificates_expired_records_their_expiry_not_a_revocation(
    story: Story,
) -> None:
    story.to_active()  # issued 2020-05-15: AUTH and SIG valid until 2024-10-10 (R35, R36)
    result = story.run(
        m.InvalidateCard, "2025-02-01T10:00", reason="my_number_changed", new_my_number="000000000000"
    )
    assert [e for e, _ in card_events(story, result)] == ["Invalidated"]
    certificates = certificates_of(story.app, story.card)
    assert [(c.kind, c.status, c.revocation_reason) for c in certificates] == [
        ("AUTH", "expired", None),
        ("SIG", "expired", None),
    ]


def test_R32_death_invalidates_the_card_and_the_family_may_bring_it_back() -> None:
    card = active_card()
    card.invalidate("death", stamp("2025-07-03T11:00", effective="2025-07-03"))
    assert card.ended is not None
    assert (card.status, card.ended.rule, card.ended.at) == ("invalidated", "R32", at("2025-07-03"))

    before = versions(card)
    card.collect_physical_card("brought_by_family_after_death", stamp("2025-08-01"))
    (collected,) = new_events(card, before)
    assert isinstance(collected, ev.PhysicalCardCollected)
    assert card.physically_collected is True
    assert card.status == "invalidated"  # no penalty, no change of state
    assert "physically_collected" in card_status(card, d("2025-08-01"), DEFAULT_POLICIES).flags


def test_R32_a_card_in_use_is_not_handed_in_but_returned() -> None:
    card = active_card()
    refused(card, "R52", card.collect_physical_card, "brought_by_family_after_death", stamp("2025-08-01"))


# ----------------------------------------------------------------------------- R33


def test_R33_full_notes_field_blocks_the_card_information_change() -> None:
    card = active_card()
    before = versions(card)
    card.record_notes_field_full(stamp("2025-10-01"))
    (full,) = new_events(card, before)
    assert isinstance(full, ev.AdditionalNotesFieldFull)
    refused(card, "R33", card.change_card_information, ["address"], HOLDER, True, stamp("2025-10-01T11:00"))
    refused(card, "R33", card.record_notes_field_full, stamp("2025-10-02"))


def test_R33_card_stays_in_use_until_the_reissue() -> None:
    card = active_card()
    card.record_notes_field_full(stamp("2025-10-01"))
    status = card_status(card, d("2025-10-02"), DEFAULT_POLICIES)
    assert (status.status_today, status.usable_today) == ("active", True)
    assert "notes_field_full" in status.flags
    card.suspend("call_centre", stamp("2025-10-03T22:00"))
    assert card.status == "suspended"


def test_R33_reissue_for_a_full_notes_field_is_free() -> None:
    fee = assess_application_fee("reissue", reissue_reason="notes_field_full", with_certificates=True)
    assert (fee.amount_yen, fee.card_yen, fee.certificate_yen, fee.rule) == (0, 0, 0, "R33")

    old = active_card()
    old.record_notes_field_full(stamp("2025-10-01"))
    new = Card.submit(
        application(kind="reissue", reissue_reason="notes_field_full", photo_taken_on=d("2025-09-01")),
        stamp("2025-10-01T11:00"),
        DEFAULT_POLICIES,
        previous=PreviousCard(old.id, old.holder_ref, old.status, old.expires_on, False),
    )
    fees = [e for e in new.pending_events if isinstance(e, ev.FeeAssessed)]
    assert [(f.amount_yen, f.rule, f.fault) for f in fees] == [(0, "R33", False)]


# ----------------------------------------------------------------------------- terminal states


def _cancelled() -> Card:
    card = produced_card()
    card.cancel(HOLDER, "counter", stamp("2020-05-20"))
    return card


def _voided() -> Card:
    card = produced_card()
    card.move_out(d("2020-05-25"), False, stamp("2020-05-20"))
    return card


def _abolished() -> Card:
    card = active_card()
    card.report_loss(True, False, HOLDER, stamp("2025-01-06"))
    return card


def _returned() -> Card:
    card = active_card()
    card.return_card("voluntary", HOLDER, stamp("2025-01-06"))
    return card


def _invalidated() -> Card:
    card = active_card()
    card.invalidate("death", stamp("2025-01-06"))
    return card


def _expired() -> Card:
    card = active_card()
    card.record_lapses(stamp("2029-10-11T09:00"), DEFAULT_POLICIES)
    return card


def _superseded() -> Card:
    """A card ended by a newer card's handover before R62 (stored logs still hold ``Superseded``)."""
    card = active_card()
    card.trigger_event(ev.Superseded, **stamp("2025-01-06").event_fields(), by_card_id=uuid4())
    return card


def _returned_at_a_handover() -> Card:
    card = active_card()
    card.end_as_replaced(uuid4(), True, stamp("2025-01-06"))
    return card


def _not_brought_at_a_handover() -> Card:
    card = active_card()
    card.end_as_replaced(uuid4(), False, stamp("2025-01-06"))
    return card


TERMINAL_BUILDERS: dict[str, Callable[[], Card]] = {
    "cancelled": _cancelled,
    "voided": _voided,
    "abolished": _abolished,
    "returned": _returned,
    "invalidated": _invalidated,
    "expired": _expired,
    "superseded": _superseded,
}

REPLACED_BUILDERS: dict[str, Callable[[], Card]] = {
    "returned": _returned_at_a_handover,
    "abolished": _not_brought_at_a_handover,
}
"""R62: the status a card in use ends in when a newer card of the person is handed over."""

WHEN = "2030-03-01T10:00"
COMMANDS: dict[str, Callable[[Card], Any]] = {
    "pay_fee": lambda c: c.pay_fee(1000, stamp(WHEN)),
    "accept": lambda c: c.accept(stamp(WHEN)),
    "produce": lambda c: c.produce(stamp(WHEN), DEFAULT_POLICIES),
    "send_pickup_notice": lambda c: c.send_pickup_notice(stamp(WHEN)),
    "send_pickup_reminder": lambda c: c.send_pickup_reminder(stamp(WHEN)),
    "resend_pickup_notice": lambda c: c.resend_pickup_notice(stamp(WHEN)),
    "mail_card": lambda c: c.mail_card(True, stamp(WHEN)),
    "reserve_pickup": lambda c: c.reserve_pickup(d("2030-03-05"), None, stamp(WHEN), DEFAULT_POLICIES),
    "record_arrival_notice": lambda c: c.record_arrival_notice(stamp(WHEN)),
    "record_mail_returned": lambda c: c.record_mail_returned(stamp(WHEN)),
    "hand_over": lambda c: c.hand_over(
        Handover(identity_documents=(DRIVING_LICENCE,), notification_card="collected", pins=ALL_PINS),
        stamp(WHEN),
        DEFAULT_POLICIES,
    ),
    "cancel": lambda c: c.cancel(HOLDER, "counter", stamp(WHEN)),
    "suspend": lambda c: c.suspend("call_centre", stamp(WHEN)),
    "lift_suspension": lambda c: c.lift_suspension(HOLDER, True, stamp(WHEN)),
    "change_card_information": lambda c: c.change_card_information(["address"], HOLDER, True, stamp(WHEN)),
    "answer_inquiry": lambda c: c.answer_inquiry(True, stamp(WHEN)),
    "record_notes_field_full": lambda c: c.record_notes_field_full(stamp(WHEN)),
    "move_out": lambda c: c.move_out(d("2030-03-10"), False, stamp(WHEN)),
    "move_out_abroad": lambda c: c.move_out(d("2030-03-10"), True, stamp(WHEN)),
    "file_move_in": lambda c: c.file_move_in(d("2030-02-20"), d("2030-02-25"), stamp(WHEN)),
    "register_overseas_continued_use": lambda c: c.register_overseas_continued_use(
        d("2030-04-01"), stamp(WHEN)
    ),
    "extend_stay": lambda c: c.extend_stay(d("2032-01-01"), HOLDER, stamp(WHEN), pin_confirmed=True),
    "grant_special_extension": lambda c: c.grant_special_extension("residence_card_stamp", stamp(WHEN)),
    "report_loss": lambda c: c.report_loss(True, False, HOLDER, stamp(WHEN)),
    "return_card": lambda c: c.return_card("voluntary", HOLDER, stamp(WHEN)),
    "invalidate": lambda c: c.invalidate("death", stamp(WHEN)),
    "end_as_replaced": lambda c: c.end_as_replaced(uuid4(), True, stamp(WHEN)),
    "record_expiry_notice_due": lambda c: c.record_expiry_notice_due(stamp(WHEN)),
    "send_agent_inquiry": lambda c: c.send_agent_inquiry(
        "pin_reset", "auth", Filer(role="agent", letter_of_delegation=True), stamp(WHEN)
    ),
    "record_expiry_notice_sent": lambda c: c.record_expiry_notice_sent("card", d("2030-04-01"), stamp(WHEN)),
    "record_expiry_notice_undelivered": lambda c: c.record_expiry_notice_undelivered(
        "card", d("2030-04-01"), stamp(WHEN)
    ),
    # certificates (R34, R42, R54): the check_* guards record nothing themselves, but the service's
    # certificate commands rely on them, so they too must refuse an ended card
    "check_certificate_request": lambda c: c.check_certificate_request(
        ["AUTH", "SIG"], HOLDER, True, stamp(WHEN)
    ),
    "add_certificate": lambda c: c.add_certificate(
        "AUTH",
        certificate_serial(c.id, "AUTH", 1),
        certificate_id_for(certificate_serial(c.id, "AUTH", 1)),
        stamp(WHEN),
    ),
    "set_certificate_pins": lambda c: c.set_certificate_pins(
        ["AUTH", "SIG"], frozenset({"auth", "sig"}), "holder", stamp(WHEN)
    ),
    "check_revocation_request": lambda c: c.check_revocation_request(HOLDER, stamp(WHEN)),
    # smartphone certificates (R45, R46, R48)
    "check_smartphone_registration": lambda c: c.check_smartphone_registration("phone-1", False, stamp(WHEN)),
    "register_smartphone": lambda c: c.register_smartphone("phone-1", stamp(WHEN)),
    "suspend_smartphone": lambda c: c.suspend_smartphone(True, stamp(WHEN)),
    "lift_smartphone_suspension": lambda c: c.lift_smartphone_suspension(stamp(WHEN)),
    "require_smartphone_renewal": lambda c: c.require_smartphone_renewal(stamp(WHEN)),
    # face-recognition mode and PINs (R55–R58)
    "set_face_recognition": lambda c: c.set_face_recognition(True, frozenset(), "holder", True, stamp(WHEN)),
    "record_pin_attempt": lambda c: c.record_pin_attempt("auth", False, stamp(WHEN)),
    "reset_pin": lambda c: c.reset_pin(
        "auth",
        "counter",
        stamp(WHEN),
        filer=HOLDER,
        forgotten=False,
        additional_id=False,
        other_certificate_pin_known=False,
    ),
    "change_pin": lambda c: c.change_pin("auth", "counter", stamp(WHEN)),
}


NOT_COMMANDS = {
    "submit",  # creates a card: there is no ended card to refuse it
    "collect_physical_card",  # meant for an ended card (R32, R51), tested above
    "record_lapses",  # records nothing on an ended card (tested below)
    "due_lapses",
    "uncollected_lapse_day",
    "move_in_deadline",
    "age_on",
    "end",  # called by terminal events only
    "outstanding_fee_yen",
    "overseas_continued_use",  # a derived property (R27)
    "pins_needed_at_handover",  # a question (R54)
    "unrecorded_end",  # a question (R47: validity follows the stored dates)
    "belongs_to",  # a question (R31: the holder under a new My Number)
    "due_expiry_notices",  # a question (R44)
    "record_expiry_notices",  # records nothing on an ended card, like record_lapses (R44)
    "require_signature_eligibility",  # a question (R40, R58), asked after check_certificate_request
    "close_agent_inquiry",  # follows a request that the ended card already refused (R34, R56)
}


def test_R31_terminal_matrix_covers_every_public_command_of_the_card() -> None:
    # The card's commands live in its procedure classes (one per spec section) and its state
    # class: every class of the card package in the MRO counts.
    own = [k for k in Card.__mro__ if k.__module__.startswith("lifecycle.card")]
    members = {name: value for k in reversed(own) for name, value in vars(k).items()}
    public = {
        name
        for name, value in members.items()
        if not name.startswith("_")
        and name not in {"TOPIC"}
        and (callable(getattr(Card, name)) or isinstance(value, property))
    }
    public -= {"Created", "Event"}
    assert len(public) > 40, "the card's commands were not found"
    missing = public - set(COMMANDS) - NOT_COMMANDS
    assert not missing, f"add these commands to the terminal-state matrix: {sorted(missing)}"


@pytest.mark.parametrize(
    "command",
    sorted(COMMANDS),
)
@pytest.mark.parametrize("state", sorted(TERMINAL_BUILDERS))
def test_R31_terminal_state_refuses_every_command(state: str, command: str) -> None:
    """Spec §2.3: an ended card cannot be revived; §3: all exits are terminal."""
    card = TERMINAL_BUILDERS[state]()
    assert card.status == state
    assert card.ended is not None
    ended = card.ended
    before = versions(card)
    with pytest.raises(TerminalState) as info:
        COMMANDS[command](card)
    assert info.value.rule == ("R50" if command == "lift_suspension" else ended.rule)
    assert versions(card) == before
    assert card.status == state
    assert card.ended == ended


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("state", sorted(REPLACED_BUILDERS))
def test_R62_a_card_ended_at_a_newer_cards_handover_refuses_every_command(state: str, command: str) -> None:
    card = REPLACED_BUILDERS[state]()
    assert card.status == state
    assert card.ended is not None and card.ended.rule == "R62"
    assert card.ended.reason == ("replaced" if state == "returned" else "not_brought")
    assert card.superseded_by is not None
    before = versions(card)
    with pytest.raises(TerminalState) as info:
        COMMANDS[command](card)
    assert info.value.rule == ("R50" if command == "lift_suspension" else "R62")
    assert versions(card) == before
    assert card.due_lapses(d("2040-01-01"), DEFAULT_POLICIES) == []


@pytest.mark.parametrize("state", sorted(TERMINAL_BUILDERS))
def test_R31_terminal_state_has_no_lapse_left_to_record(state: str) -> None:
    card = TERMINAL_BUILDERS[state]()
    assert card.due_lapses(d("2040-01-01"), DEFAULT_POLICIES) == []
    before = versions(card)
    assert card.record_lapses(stamp("2040-01-01T09:00"), DEFAULT_POLICIES) == []
    assert versions(card) == before
    assert card.status == state
    assert card_status(card, d("2040-01-01"), DEFAULT_POLICIES).usable_today is False


def test_R31_terminal_state_is_refused_through_the_service(story: Story) -> None:
    story.to_active()
    story.run(m.InvalidateCard, "2025-07-03T10:00", reason="death")
    version = story.card.version
    with pytest.raises(TerminalState):
        story.run(m.SuspendCard, "2025-07-04T03:00")
    assert story.card.version == version
    assert story.event_types()[-1] == "Invalidated"
