"""Rules across one person (spec §2.9): R62 one card in use, R63 one application in progress,
R64 person-wide causes, R65 a My Number change keeps the person. Through the real command path
(the unit tier's in-memory store): the person's aggregate changes in the same save as the cards."""

from __future__ import annotations

from typing import Any

import pytest

from commands import certificate_models as cm
from commands import models as m
from commands.application import CardLifecycle, CommandResult
from lifecycle.holder import Holder
from lifecycle.identifiers import holder_id_for, holder_reference
from tests.helpers.support import (
    KEY,
    PIN_VALUES_BY_KIND,
    Clock,
    Story,
    at,
    certificates_of,
    my_number,
    refused_by_the_service,
)

HANDOVER = {"identity_documents": ["driving_licence"], "notification_card": "collected"}
BORN = "1980-03-15"
"""Card A, handed over 2020-06-20, expires on the 10th birthday after issue: 2030-03-15 (R19)."""


def hand_over(story: Story, when: str, **fields: Any) -> CommandResult:
    needed = story.card.pins_needed_at_handover(at(when).date())
    pins = {f"{kind}_pin": v for kind, v in PIN_VALUES_BY_KIND.items() if kind in needed}
    return story.run(m.HandOverCard, when, **HANDOVER, **pins, **fields)


def produced(story: Story, day: str, **application: Any) -> CommandResult:
    result = story.apply(f"{day}T09:00", date_of_birth=BORN, photo_taken_on=day, **application)
    story.run(m.AcceptApplication, f"{day}T09:30")
    story.run(m.ProduceCard, f"{day}T09:45")
    return result


def person(app: CardLifecycle, number: str) -> Holder:
    holder = app.load_holder(holder_id_for(holder_reference(number, KEY)))
    assert holder is not None
    return holder


@pytest.fixture
def card_a(story: Story) -> Story:
    story.to_active(date_of_birth=BORN)
    assert story.card.expires_on is not None and story.card.expires_on.isoformat() == "2030-03-15"
    # Certificates end on the 5th birthday after issue (R35): renewed twice, the last run to the
    # card's expiry, 2030-03-15.
    story.run(cm.RenewCertificates, "2025-01-10T10:00", kinds=["SIG", "AUTH"])
    story.run(cm.RenewCertificates, "2029-01-10T10:00", kinds=["SIG", "AUTH"])
    return story


def renewal(app: CardLifecycle, clock: Clock, old: Story, day: str = "2029-12-20") -> Story:
    new = Story(app, clock, my_number_=old.my_number)
    produced(new, day, kind="renewal", previous_card=old.application_id)
    return new


# ============================================================================= R62


def test_R62_spec_example_renewal_handed_over_returns_card_a_and_revokes_its_auth_superseded(
    app: CardLifecycle, clock: Clock, card_a: Story
) -> None:
    b = renewal(app, clock, card_a)
    result = hand_over(b, "2030-02-01T10:00")

    a = card_a.card
    assert (a.status, b.card.status) == ("returned", "active")
    assert a.ended is not None and (a.ended.rule, a.ended.reason) == ("R62", "replaced")
    assert a.ended.at == at("2030-02-01T10:00") and a.superseded_by == b.card.id
    auth = [c for c in certificates_of(app, a) if c.kind == "AUTH"][-1]  # renewed in 2029
    assert (auth.status, auth.revocation_reason, auth.revoked_at) == (
        "revoked",
        "superseded",
        at("2030-02-01T10:00"),
    )
    # One save: the new card's handover, the old card's return, its certificates, the person.
    types = [e.type for e in result.events]
    assert {"Issued", "Returned", "CertificateRevoked", "CardTakenIntoUse"} <= set(types)
    assert person(app, card_a.my_number).card_ids == [a.id, b.card.id]


def test_R62_old_card_not_brought_to_the_handover_is_handled_as_lost(
    app: CardLifecycle, clock: Clock, card_a: Story
) -> None:
    b = renewal(app, clock, card_a)
    hand_over(b, "2030-02-01T10:00", old_card_brought=False)

    a = card_a.card
    assert a.status == "abolished"
    assert a.ended is not None and (a.ended.rule, a.ended.reason) == ("R62", "not_brought")
    for kind in ("SIG", "AUTH"):
        cert = [c for c in certificates_of(app, a) if c.kind == kind][-1]  # renewed in 2029
        assert (cert.status, cert.revocation_reason) == ("revoked", "lost")


def test_R62_a_person_never_holds_two_cards_in_use_after_any_handover(
    app: CardLifecycle, clock: Clock, card_a: Story
) -> None:
    b = renewal(app, clock, card_a)
    hand_over(b, "2030-02-01T10:00")
    live = [c for c in (card_a.card, b.card) if c.status in {"active", "suspended"}]
    assert [c.id for c in live] == [b.card.id]


# ============================================================================= R63


def test_R63_spec_example_new_application_refused_while_a_card_is_in_use(
    app: CardLifecycle, clock: Clock, card_a: Story
) -> None:
    second = Story(app, clock, my_number_=card_a.my_number)
    error = refused_by_the_service(
        second, "R63", m.SubmitApplication, "2025-01-10T09:00", photo_taken_on="2025-01-01"
    )
    assert "renewal" in (error.hint or "") and "reissue" in (error.hint or "")
    assert card_a.application_id in (error.hint or "")


def test_R63_spec_example_reissue_for_loss_refused_until_the_loss_is_reported(
    app: CardLifecycle, clock: Clock, card_a: Story
) -> None:
    reissue = Story(app, clock, my_number_=card_a.my_number)
    fields = {"kind": "reissue", "reissue_reason": "loss", "previous_card": card_a.application_id}
    error = refused_by_the_service(
        reissue, "R63", m.SubmitApplication, "2025-01-10T09:00", photo_taken_on="2025-01-01", **fields
    )
    assert "report-loss" in (error.hint or "")

    card_a.run(m.ReportLoss, "2025-01-10T10:00", lost_at_home=True)
    reissue.apply("2025-01-10T11:00", photo_taken_on="2025-01-01", **fields)
    assert reissue.card.status == "applied"


def test_R63_one_application_in_progress_until_the_first_is_cancelled(
    app: CardLifecycle, clock: Clock
) -> None:
    number = my_number(6_300_001)
    first, second = Story(app, clock, my_number_=number), Story(app, clock, my_number_=number)
    first.apply("2025-01-10T09:00", photo_taken_on="2025-01-01")
    error = refused_by_the_service(
        second, "R63", m.SubmitApplication, "2025-01-11T09:00", photo_taken_on="2025-01-01"
    )
    assert first.application_id[:4] in error.message

    first.run(m.CancelApplication, "2025-01-12T09:00")
    second.apply("2025-01-13T09:00", photo_taken_on="2025-01-01")
    assert (first.card.status, second.card.status) == ("cancelled", "applied")


def test_R63_an_application_of_another_person_does_not_count(app: CardLifecycle, clock: Clock) -> None:
    Story(app, clock, my_number_=my_number(6_300_011)).apply("2025-01-10T09:00", photo_taken_on="2025-01-01")
    other = Story(app, clock, my_number_=my_number(6_300_012))
    other.apply("2025-01-10T10:00", photo_taken_on="2025-01-01")
    assert other.card.status == "applied"


def test_R63_a_card_that_time_has_ended_is_not_in_use_even_before_the_sweep(
    app: CardLifecycle, clock: Clock, card_a: Story
) -> None:
    """Card A expired on 2030-03-15 and nobody recorded it: a new application is not refused."""
    after = Story(app, clock, my_number_=card_a.my_number)
    after.apply("2030-04-01T09:00", photo_taken_on="2030-03-20", date_of_birth=BORN)
    assert card_a.card.status == "active"  # unrecorded: validity follows the stored dates (R19)
    assert after.card.status == "applied"


def test_R63_a_reissue_for_another_reason_keeps_the_card_in_use_until_the_handover(
    app: CardLifecycle, clock: Clock, card_a: Story
) -> None:
    reissue = Story(app, clock, my_number_=card_a.my_number)
    produced(
        reissue, "2025-01-10", kind="reissue", reissue_reason="damage", previous_card=card_a.application_id
    )
    assert card_a.card.status == "active"
    hand_over(reissue, "2025-02-01T10:00", fee_paid_yen=1000)
    assert (card_a.card.status, reissue.card.status) == ("returned", "active")


# ============================================================================= R64


def test_R64_spec_example_death_ends_the_card_and_voids_the_renewal_in_one_command(
    app: CardLifecycle, clock: Clock, card_a: Story
) -> None:
    b = renewal(app, clock, card_a, "2029-12-20")
    # The renewal is in progress; the person dies (effective 2031-01-10 would be after A's expiry,
    # so the spec's dates shift into A's validity: A active, B produced).
    result = card_a.run(m.InvalidateCard, "2030-01-10T10:00", reason="death")

    a, b_card = card_a.card, b.card
    assert (a.status, b_card.status) == ("invalidated", "voided")
    assert a.ended is not None and b_card.ended is not None
    assert a.ended.at == b_card.ended.at == at("2030-01-10T10:00")
    assert a.ended.rule == b_card.ended.rule == "R32"
    assert {e.aggregate_id for e in result.events} >= {a.id, b_card.id, holder_id_for(a.holder_ref)}
    change = next(e for e in result.events if e.type == "ResidentRecordChanged")
    assert change.aggregate_id == holder_id_for(a.holder_ref)


def test_R64_naming_the_application_in_progress_also_ends_the_card_in_use(
    app: CardLifecycle, clock: Clock, card_a: Story
) -> None:
    b = renewal(app, clock, card_a)
    b.run(m.InvalidateCard, "2030-01-10T10:00", reason="resident_record_deleted")
    assert (card_a.card.status, b.card.status) == ("invalidated", "voided")


def test_R64_a_stay_that_ended_ends_only_the_card_named(app: CardLifecycle, clock: Clock) -> None:
    """``stay_expired`` is not a person-wide cause: only the card with that stay ends."""
    number = my_number(6_400_021)
    story = Story(app, clock, my_number_=number)
    story.to_active(residence_status="engineer", stay_until="2022-06-30", date_of_birth="1990-01-01")
    story.run(m.InvalidateCard, "2021-01-10T10:00", reason="stay_expired")
    assert story.card.status == "invalidated"
    events = [type(e).__name__ for e in app.events.get(holder_id_for(story.card.holder_ref))]
    assert "ResidentRecordChanged" not in events


# ============================================================================= R65


def test_R65_a_my_number_change_links_both_numbers_to_the_person(
    app: CardLifecycle, clock: Clock, card_a: Story
) -> None:
    old, new = card_a.my_number, my_number(6_500_002)
    card_a.run(m.InvalidateCard, "2025-09-01T10:00", reason="my_number_changed", new_my_number=new)
    assert person(app, old).successor_ref == holder_reference(new, KEY)
    assert person(app, new).predecessor_refs == [holder_reference(old, KEY)]
    # Neither number is in any event of the person.
    for number in (old, new):
        for holder_ref in (holder_reference(old, KEY), holder_reference(new, KEY)):
            for event in app.events.get(holder_id_for(holder_ref)):
                assert number not in repr(event.__dict__)

    # Spec example: a new card applied the next day, under the new number.
    second = Story(app, clock, my_number_=new)
    second.apply("2025-09-02T09:00", photo_taken_on="2025-08-20", date_of_birth=BORN)
    assert person(app, new).card_ids == [second.card.id]


def test_R65_an_application_under_the_replaced_number_is_refused(
    app: CardLifecycle, clock: Clock, card_a: Story
) -> None:
    card_a.run(
        m.InvalidateCard, "2025-09-01T10:00", reason="my_number_changed", new_my_number=my_number(6_500_012)
    )
    late = Story(app, clock, my_number_=card_a.my_number)
    error = refused_by_the_service(
        late, "R65", m.SubmitApplication, "2025-09-02T09:00", photo_taken_on="2025-08-20"
    )
    assert "new My Number" in error.message


def test_R65_an_application_voided_by_a_number_change_names_the_new_reference(
    app: CardLifecycle, clock: Clock
) -> None:
    """README's former limitation: a change before the handover left the voided application
    without the new number's reference, so ``person NEW`` did not find it."""
    story = Story(app, clock, my_number_=my_number(6_500_021))
    story.apply("2025-08-01T09:00", photo_taken_on="2025-07-20")
    new = my_number(6_500_022)
    story.run(m.InvalidateCard, "2025-09-01T10:00", reason="my_number_changed", new_my_number=new)
    assert story.card.status == "voided"
    assert story.card.successor_holder_ref == holder_reference(new, KEY)
