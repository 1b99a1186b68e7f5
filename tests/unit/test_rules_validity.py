"""Card validity (有効期限): rules R19–R26 of the spec, through the aggregate (the ``Produced``,
``StayExtended`` and ``SpecialExtensionGranted`` events) and through the pure functions of
``lifecycle.calendar`` and ``lifecycle.validity``.

Conventions (spec §0): "valid until D" means valid through 23:59:59 JST on D; "the Nth birthday
after X" counts birthdays strictly after X.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import pytest

from commands import models as m
from lifecycle.calendar import birthday_in_year, nth_birthday_after, renewal_window_opens
from lifecycle.card import HOLDER, Card, PreviousCard
from lifecycle.card import events as ev
from lifecycle.decisions import DEFAULT_POLICIES, Policies
from lifecycle.errors import RuleViolation
from lifecycle.filers import Filer
from lifecycle.identifiers import card_id_for
from lifecycle.validity import (
    card_validity,
    extended_stay_expiry,
    special_extension_expiry,
    stay_cap,
)
from projections.status import card_status
from tests.helpers.support import (
    Story,
    active_card,
    application,
    applied_card,
    at,
    d,
    produced_card,
    stamp,
    versions,
)

FEB28 = Policies(feb29_birthday="feb28")
MAR1 = Policies(feb29_birthday="mar1")
PLAIN = Policies(renewed_card_validity="plain")
PLUS_ONE = Policies(renewed_card_validity="plus_one_birthday")


def new_events(card: Card, before: tuple[int, int]) -> list[Any]:
    """The events a command triggered (those pending beyond ``before``)."""
    return list(card.pending_events[before[1] :])


def produced_event(card: Card) -> ev.Produced:
    found = [e for e in card.pending_events if isinstance(e, ev.Produced)]
    assert len(found) == 1
    return found[0]


def refused(card: Card, rule: str, command: Any, *args: Any, **kwargs: Any) -> RuleViolation:
    """Run ``command``; it must be refused under ``rule`` and record nothing."""
    before = versions(card)
    status = card.status
    expires_on = card.expires_on
    with pytest.raises(RuleViolation) as info:
        command(*args, **kwargs)
    assert info.value.rule == rule
    assert versions(card) == before
    assert card.status == status
    assert card.expires_on == expires_on
    return info.value


def foreign_card(
    stay_until: str = "2026-08-31",
    residence_status: str = "engineer_humanities_international",
    date_of_birth: str = "1990-05-05",
    issued: str = "2024-01-10",
) -> Card:
    """R22's worked example: DOB 1990-05-05, issued 2024-01-10, stay until 2026-08-31."""
    return active_card(
        applied="2023-12-01",
        accepted="2023-12-10",
        issued=issued,
        handed_over="2024-01-20",
        date_of_birth=d(date_of_birth),
        photo_taken_on=d("2023-11-01"),
        residence_status=residence_status,
        stay_until=d(stay_until),
    )


# ----------------------------------------------------------------------------- R19


@pytest.mark.parametrize(
    ("issued", "expected"),
    [
        ("2020-05-15", "2029-10-10"),  # the 政府広報 example
        ("2020-10-10", "2030-10-10"),  # issued on the birthday: that birthday does not count
        ("2020-10-09", "2029-10-10"),  # the day before the birthday: it counts
        ("2020-10-11", "2030-10-10"),
    ],
)
def test_R19_adult_card_runs_to_the_10th_birthday_after_issue(issued: str, expected: str) -> None:
    card = produced_card(issued=issued, date_of_birth=d("1980-10-10"))
    produced = produced_event(card)
    assert produced.issue_date == d(issued)
    assert produced.expires_on == d(expected)
    assert produced.age_based_expires_on == d(expected)
    assert produced.adult is True
    assert produced.birthdays == 10
    assert produced.capped_by_stay is False
    assert card.expires_on == d(expected)


def test_R19_minor_card_runs_to_the_5th_birthday_after_issue() -> None:
    card = produced_card(
        applied="2024-04-01",
        accepted="2024-04-10",
        issued="2024-05-01",
        date_of_birth=d("2014-07-07"),
        photo_taken_on=d("2024-03-01"),
    )
    produced = produced_event(card)
    assert produced.expires_on == d("2028-07-07")
    assert produced.adult is False
    assert produced.birthdays == 5
    assert produced.age_line == 18


@pytest.mark.parametrize(
    ("dob", "issued", "accepted", "expected"),
    [
        ("1980-10-10", "2020-05-15", "2020-05-10", "2029-10-10"),
        ("1980-10-10", "2020-10-10", "2020-05-10", "2030-10-10"),
        ("1980-10-10", "2020-10-09", "2020-05-10", "2029-10-10"),
        ("2014-07-07", "2024-05-01", "2024-04-10", "2028-07-07"),
    ],
)
def test_R19_pure_card_validity_reproduces_the_worked_examples(
    dob: str, issued: str, accepted: str, expected: str
) -> None:
    validity = card_validity(
        d(dob),
        issue_date=d(issued),
        accepted_on=d(accepted),
        residence_status=None,
        stay_until=None,
        renews_card_expiring_on=None,
        policies=DEFAULT_POLICIES,
    )
    assert validity.expires_on == d(expected)
    assert validity.age_based_expires_on == d(expected)
    assert validity.capped_by_stay is False
    birthdays = 10 if dob.startswith("1980") else 5
    assert validity.birthdays == birthdays
    assert nth_birthday_after(d(dob), d(issued), birthdays) == d(expected)


def test_R19_card_is_valid_through_its_last_day_and_expires_at_midnight() -> None:
    card = active_card()
    assert card.expires_on == d("2029-10-10")
    assert card.due_lapses(d("2029-10-10"), DEFAULT_POLICIES) == []
    assert card_status(card, d("2029-10-10"), DEFAULT_POLICIES).usable_today is True
    (lapse,) = card.due_lapses(d("2029-10-11"), DEFAULT_POLICIES)
    assert (lapse.kind, lapse.rule, lapse.effective_at) == ("expired", "R19", at("2029-10-11"))
    today = card_status(card, d("2029-10-11"), DEFAULT_POLICIES)
    assert (today.status, today.status_today, today.usable_today) == ("active", "expired", False)

    before = versions(card)
    card.record_lapses(stamp("2029-10-12T09:00"), DEFAULT_POLICIES)
    (expired,) = new_events(card, before)
    assert isinstance(expired, ev.Expired)
    assert expired.expired_on == d("2029-10-11")
    assert expired.basis == "age"
    assert expired.effective_at == at("2029-10-11")
    assert card.status == "expired"
    assert card.ended is not None
    assert card.ended.rule == "R19"


# ----------------------------------------------------------------------------- R20


def test_R20_handover_does_not_change_the_expiry() -> None:
    card = produced_card(issued="2020-05-15")
    assert card.expires_on == d("2029-10-10")
    card_after = active_card(issued="2020-05-15", handed_over="2020-06-20")
    issued = [e for e in card_after.pending_events if isinstance(e, ev.Issued)]
    assert len(issued) == 1
    assert issued[0].handed_over_on == d("2020-06-20")
    assert card_after.issue_date == d("2020-05-15")
    assert card_after.handed_over_on == d("2020-06-20")
    assert card_after.expires_on == d("2029-10-10")


def test_R20_handover_after_the_birthday_still_counts_from_the_production_date() -> None:
    # Produced before the 2020 birthday, handed over after it: the 2020 birthday still counts.
    card = active_card(issued="2020-09-01", handed_over="2020-10-20")
    assert card.issue_date == d("2020-09-01")
    assert card.expires_on == d("2029-10-10")


# ----------------------------------------------------------------------------- R21 (D01)

R21_EXAMPLES = [
    # dob, applied, accepted, issued, feb28 expiry, mar1 expiry
    ("1988-02-29", "2021-05-01", "2021-05-20", "2021-06-01", "2031-02-28", "2031-03-01"),
    ("1988-02-29", "2023-02-01", "2023-02-20", "2023-02-28", "2033-02-28", "2032-02-29"),
    ("2012-02-29", "2023-02-20", "2023-03-01", "2023-03-10", "2028-02-29", "2028-02-29"),
]


@pytest.mark.parametrize(("dob", "applied", "accepted", "issued", "feb28", "mar1"), R21_EXAMPLES)
@pytest.mark.parametrize("policy", ["feb28", "mar1"])
def test_R21_feb29_birthday_under_both_D01_policies_through_the_aggregate(
    dob: str, applied: str, accepted: str, issued: str, feb28: str, mar1: str, policy: str
) -> None:
    policies = FEB28 if policy == "feb28" else MAR1
    card = produced_card(
        applied=applied,
        accepted=accepted,
        issued=issued,
        policies=policies,
        date_of_birth=d(dob),
        photo_taken_on=d(applied),
    )
    expected = d(feb28 if policy == "feb28" else mar1)
    produced = produced_event(card)
    assert produced.expires_on == expected
    assert card.expires_on == expected
    assert produced.birthdays == (10 if dob.startswith("1988") else 5)


@pytest.mark.parametrize(("dob", "applied", "accepted", "issued", "feb28", "mar1"), R21_EXAMPLES)
def test_R21_feb29_birthday_under_both_D01_policies_through_the_pure_functions(
    dob: str, applied: str, accepted: str, issued: str, feb28: str, mar1: str
) -> None:
    for policies, expected in ((FEB28, feb28), (MAR1, mar1)):
        validity = card_validity(
            d(dob),
            issue_date=d(issued),
            accepted_on=d(accepted),
            residence_status=None,
            stay_until=None,
            renews_card_expiring_on=None,
            policies=policies,
        )
        assert validity.expires_on == d(expected), policies.feb29_birthday


def test_R21_birthday_in_a_common_year_follows_D01() -> None:
    dob = d("1988-02-29")
    assert birthday_in_year(dob, 2023, "feb28") == d("2023-02-28")
    assert birthday_in_year(dob, 2023, "mar1") == d("2023-03-01")
    assert birthday_in_year(dob, 2024, "feb28") == d("2024-02-29")
    assert birthday_in_year(dob, 2024, "mar1") == d("2024-02-29")
    # 2100 is not a leap year (divisible by 100, not by 400); 2000 is.
    assert birthday_in_year(dob, 2100, "feb28") == d("2100-02-28")
    assert birthday_in_year(dob, 2000, "mar1") == d("2000-02-29")


def test_R21_the_2023_birthday_on_the_issue_date_does_not_count_under_feb28() -> None:
    # feb28: the 2023 "birthday" is 2023-02-28 = the issue date -> first birthday is 2024-02-29.
    assert nth_birthday_after(d("1988-02-29"), d("2023-02-28"), 1, "feb28") == d("2024-02-29")
    # mar1: the 2023 birthday is 2023-03-01, after the issue date -> it counts.
    assert nth_birthday_after(d("1988-02-29"), d("2023-02-28"), 1, "mar1") == d("2023-03-01")


def test_R21_default_policy_is_feb28() -> None:
    assert DEFAULT_POLICIES.feb29_birthday == "feb28"
    card = produced_card(
        applied="2021-05-01",
        accepted="2021-05-20",
        issued="2021-06-01",
        date_of_birth=d("1988-02-29"),
        photo_taken_on=d("2021-05-01"),
    )
    assert card.expires_on == d("2031-02-28")


# ----------------------------------------------------------------------------- R22


def test_R22_card_of_a_foreign_resident_is_capped_by_the_stay_expiry() -> None:
    card = foreign_card()
    produced = produced_event(card)
    assert produced.expires_on == d("2026-08-31")
    assert produced.age_based_expires_on == d("2033-05-05")
    assert produced.capped_by_stay is True
    assert card.expires_on == d("2026-08-31")


@pytest.mark.parametrize(
    "status", ["permanent_resident", "highly_skilled_professional_2", "special_permanent_resident"]
)
def test_R22_exempt_statuses_are_not_capped_by_the_stay(status: str) -> None:
    card = foreign_card(residence_status=status)
    produced = produced_event(card)
    assert produced.expires_on == d("2033-05-05")
    assert produced.capped_by_stay is False
    assert stay_cap(status, d("2026-08-31")) is None


def test_R22_permanent_resident_without_a_stay_limit() -> None:
    card = active_card(
        applied="2023-12-01",
        accepted="2023-12-10",
        issued="2024-01-10",
        handed_over="2024-01-20",
        date_of_birth=d("1990-05-05"),
        photo_taken_on=d("2023-11-01"),
        residence_status="permanent_resident",
    )
    assert card.expires_on == d("2033-05-05")
    assert card.expiry_capped_by_stay is False


def test_R22_pure_functions_take_the_earlier_of_stay_and_age_limit() -> None:
    def validity(status: str | None, stay: str | None) -> tuple[date, bool]:
        v = card_validity(
            d("1990-05-05"),
            issue_date=d("2024-01-10"),
            accepted_on=d("2023-12-10"),
            residence_status=status,
            stay_until=d(stay) if stay else None,
            renews_card_expiring_on=None,
            policies=DEFAULT_POLICIES,
        )
        assert v.age_based_expires_on == d("2033-05-05")
        return v.expires_on, v.capped_by_stay

    assert validity("student", "2026-08-31") == (d("2026-08-31"), True)
    assert validity("permanent_resident", "2026-08-31") == (d("2033-05-05"), False)
    assert validity(None, None) == (d("2033-05-05"), False)
    # A stay beyond the 10th birthday never lengthens the card.
    assert validity("student", "2040-01-01") == (d("2033-05-05"), False)
    assert stay_cap("student", d("2026-08-31")) == d("2026-08-31")
    assert stay_cap(None, d("2026-08-31")) is None


def test_R22_stay_capped_card_lapses_the_day_after_the_stay_ends() -> None:
    card = foreign_card()
    assert card.due_lapses(d("2026-08-31"), DEFAULT_POLICIES) == []
    (lapse,) = card.due_lapses(d("2026-09-01"), DEFAULT_POLICIES)
    assert (lapse.kind, lapse.rule, lapse.effective_at) == ("expired", "R22", at("2026-09-01"))
    before = versions(card)
    card.record_lapses(stamp("2026-09-01T09:00"), DEFAULT_POLICIES)
    (expired,) = new_events(card, before)
    assert isinstance(expired, ev.Expired)
    assert (expired.expired_on, expired.basis) == (d("2026-09-01"), "stay")
    assert card.ended is not None
    assert card.ended.rule == "R22"


def test_R22_foreign_resident_with_a_period_of_stay_must_state_it() -> None:
    with pytest.raises(RuleViolation) as info:
        Card.submit(
            application(residence_status="student", stay_until=None),
            stamp("2020-05-01"),
            DEFAULT_POLICIES,
        )
    assert info.value.rule == "R22"


def test_R22_card_whose_stay_ends_on_the_issue_date_is_not_produced() -> None:
    card = applied_card(
        "2023-12-01",
        date_of_birth=d("1990-05-05"),
        photo_taken_on=d("2023-11-01"),
        residence_status="student",
        stay_until=d("2024-01-10"),
    )
    card.accept(stamp("2023-12-10"))
    refused(card, "R22", card.produce, stamp("2024-01-10"), DEFAULT_POLICIES)
    assert card.status == "accepted"


# ----------------------------------------------------------------------------- R23


def test_R23_stay_extension_sets_the_expiry_to_the_new_stay_end() -> None:
    card = foreign_card()
    before = versions(card)
    card.extend_stay(d("2029-08-31"), HOLDER, stamp("2026-08-20"), pin_confirmed=True)
    (extended,) = new_events(card, before)
    assert isinstance(extended, ev.StayExtended)
    assert extended.new_stay_until == d("2029-08-31")
    assert extended.expires_on == d("2029-08-31")
    assert card.expires_on == d("2029-08-31")
    assert card.stay_until == d("2029-08-31")
    assert card.due_lapses(d("2026-09-01"), DEFAULT_POLICIES) == []


def test_R23_extension_is_capped_at_the_10th_birthday_after_the_original_issue() -> None:
    card = foreign_card()
    before = versions(card)
    card.extend_stay(d("2035-08-31"), HOLDER, stamp("2026-08-20"), pin_confirmed=True)
    (extended,) = new_events(card, before)
    assert isinstance(extended, ev.StayExtended)
    assert extended.expires_on == d("2033-05-05")
    assert card.expires_on == d("2033-05-05")
    assert extended_stay_expiry(d("2035-08-31"), d("2033-05-05")) == d("2033-05-05")
    assert extended_stay_expiry(d("2029-08-31"), d("2033-05-05")) == d("2029-08-31")


def test_R23_extension_on_the_last_valid_day_is_in_time() -> None:
    card = foreign_card()
    card.extend_stay(d("2029-08-31"), HOLDER, stamp("2026-08-31T16:00"), pin_confirmed=True)
    assert card.expires_on == d("2029-08-31")


def test_R23_extension_filed_after_the_expiry_is_refused() -> None:
    card = foreign_card()
    refused(card, "R23", card.extend_stay, d("2029-08-31"), HOLDER, stamp("2026-09-01"), pin_confirmed=True)
    assert card.expires_on == d("2026-08-31")


def test_R23_household_member_may_file_but_not_an_agent() -> None:
    card = foreign_card()
    refused(
        card,
        "R23",
        card.extend_stay,
        d("2029-08-31"),
        Filer("agent", letter_of_delegation=True),
        stamp("2026-08-20"),
        pin_confirmed=True,
    )
    card.extend_stay(
        d("2029-08-31"),
        Filer("household_member", same_household=True),
        stamp("2026-08-20"),
        pin_confirmed=True,
    )
    assert card.expires_on == d("2029-08-31")


def test_R23_not_for_a_card_that_no_stay_limits() -> None:
    japanese = active_card()
    refused(
        japanese,
        "R23",
        japanese.extend_stay,
        d("2029-08-31"),
        HOLDER,
        stamp("2025-01-01"),
        pin_confirmed=True,
    )
    permanent = foreign_card(residence_status="permanent_resident")
    refused(
        permanent,
        "R23",
        permanent.extend_stay,
        d("2029-08-31"),
        HOLDER,
        stamp("2025-01-01"),
        pin_confirmed=True,
    )


def test_R23_extension_needs_the_card_pin() -> None:
    card = foreign_card()
    before = versions(card)
    with pytest.raises(RuleViolation) as info:
        card.extend_stay(d("2029-08-31"), HOLDER, stamp("2026-08-20"), pin_confirmed=False)
    assert info.value.rule == "R23"
    assert versions(card) == before


# ----------------------------------------------------------------------------- R24


def test_R24_special_extension_adds_two_months() -> None:
    card = foreign_card()
    before = versions(card)
    card.grant_special_extension("residence_card_stamp", stamp("2026-08-25"))
    (granted,) = new_events(card, before)
    assert isinstance(granted, ev.SpecialExtensionGranted)
    assert granted.expires_on == d("2026-10-31")
    assert card.expires_on == d("2026-10-31")
    assert card.special_extension_used is True
    assert card.due_lapses(d("2026-10-31"), DEFAULT_POLICIES) == []
    (lapse,) = card.due_lapses(d("2026-11-01"), DEFAULT_POLICIES)
    assert (lapse.rule, lapse.effective_at) == ("R22", at("2026-11-01"))


def test_R24_special_extension_clamps_to_the_month_end() -> None:
    card = foreign_card(stay_until="2025-12-31")
    assert card.expires_on == d("2025-12-31")
    card.grant_special_extension("online_receipt_email", stamp("2025-12-20"))
    assert card.expires_on == d("2026-02-28")
    assert special_extension_expiry(d("2025-12-31")) == d("2026-02-28")
    assert special_extension_expiry(d("2026-08-31")) == d("2026-10-31")
    assert special_extension_expiry(d("2027-12-31")) == d("2028-02-29")


def test_R24_second_special_extension_is_refused() -> None:
    card = foreign_card()
    card.grant_special_extension("residence_card_stamp", stamp("2026-08-25"))
    refused(card, "R24", card.grant_special_extension, "residence_card_stamp", stamp("2026-10-20"))
    assert card.expires_on == d("2026-10-31")


def test_R24_special_extension_only_before_expiry() -> None:
    card = foreign_card()
    refused(card, "R24", card.grant_special_extension, "residence_card_stamp", stamp("2026-09-01"))


def test_R24_special_extension_needs_evidence_of_the_pending_renewal() -> None:
    card = foreign_card()
    refused(card, "R24", card.grant_special_extension, "word_of_mouth", stamp("2026-08-25"))


def test_R24_the_R23_change_follows_once_the_permit_is_granted() -> None:
    card = foreign_card()
    card.grant_special_extension("residence_card_stamp", stamp("2026-08-25"))
    # After the stay end (08-31) but inside the special extension: the card is still valid.
    card.extend_stay(d("2029-08-31"), HOLDER, stamp("2026-10-15"), pin_confirmed=True)
    assert card.expires_on == d("2029-08-31")


# ----------------------------------------------------------------------------- R25


def previous_card(expires_on: str, status: str = "active") -> PreviousCard:
    # positional: (card_id, holder_ref, status, expires_on, capped/expired by the stay)
    return PreviousCard(uuid4(), application().holder_ref, status, d(expires_on), False)


def test_R25_window_opens_the_day_after_expiry_less_three_months() -> None:
    assert renewal_window_opens(d("2029-10-10")) == d("2029-07-11")


def test_R25_renewal_application_before_the_window_is_refused() -> None:
    with pytest.raises(RuleViolation) as info:
        Card.submit(
            application(kind="renewal", photo_taken_on=d("2029-06-01")),
            stamp("2029-07-10T16:00"),
            DEFAULT_POLICIES,
            previous=previous_card("2029-10-10"),
        )
    assert info.value.rule == "R25"
    assert "2029-07-11" in info.value.message


def test_R25_renewal_application_on_the_first_day_of_the_window_is_accepted() -> None:
    card = Card.submit(
        application(kind="renewal", photo_taken_on=d("2029-06-01")),
        stamp("2029-07-11T09:00"),
        DEFAULT_POLICIES,
        previous=previous_card("2029-10-10"),
    )
    applied = card.pending_events[0]
    assert isinstance(applied, ev.Applied)
    assert applied.kind == "renewal"
    assert applied.renews_card_expiring_on == d("2029-10-10")
    fees = [e for e in card.pending_events if isinstance(e, ev.FeeAssessed)]
    assert [f.amount_yen for f in fees] == [0]


def test_R25_renewal_after_expiry_is_allowed() -> None:
    card = Card.submit(
        application(kind="renewal", photo_taken_on=d("2030-01-01")),
        stamp("2030-01-15"),
        DEFAULT_POLICIES,
        previous=previous_card("2029-10-10", status="expired"),
    )
    assert card.status == "applied"
    assert card.renews_card_expiring_on == d("2029-10-10")


def test_R25_renewal_window_through_the_service(story: Story) -> None:
    story.to_active()
    old_version = story.card.version
    renewal = Story(story.app, story.clock)
    with pytest.raises(RuleViolation) as info:
        renewal.apply(
            "2029-07-10T09:00",
            kind="renewal",
            previous_card=story.application_id,
            photo_taken_on="2029-06-01",
        )
    assert info.value.rule == "R25"
    assert story.app.load_card(card_id_for(renewal.application_id)) is None
    assert story.card.version == old_version

    result = renewal.apply(
        "2029-07-11T09:00",
        kind="renewal",
        previous_card=story.application_id,
        photo_taken_on="2029-06-01",
    )
    assert result.status == "applied"
    assert renewal.card.renews_card_expiring_on == d("2029-10-10")
    assert renewal.card.previous_card_id == story.card.id


def test_R25_status_projection_shows_when_the_window_opens() -> None:
    card = active_card()
    assert card_status(card, d("2025-01-01"), DEFAULT_POLICIES).renewal_window_opens == d("2029-07-11")


# ----------------------------------------------------------------------------- R26 (D03)


def renewal_card(
    policies: Policies,
    old_expiry: str = "2029-10-10",
    applied: str = "2029-07-15",
    accepted: str = "2029-07-20",
    issued: str = "2029-08-20",
    date_of_birth: str = "1980-10-10",
    status: str = "active",
) -> Card:
    card = Card.submit(
        application(kind="renewal", photo_taken_on=d(applied), date_of_birth=d(date_of_birth)),
        stamp(applied),
        policies,
        previous=previous_card(old_expiry, status=status),
    )
    card.accept(stamp(accepted))
    card.produce(stamp(issued), policies)
    return card


def test_R26_default_plain_policy_gives_the_10th_birthday_after_the_new_issue_date() -> None:
    assert DEFAULT_POLICIES.renewed_card_validity == "plain"
    card = renewal_card(PLAIN)
    produced = produced_event(card)
    assert produced.expires_on == d("2038-10-10")
    assert produced.birthdays == 10


def test_R26_plus_one_birthday_policy_gives_the_11th_birthday() -> None:
    card = renewal_card(PLUS_ONE)
    produced = produced_event(card)
    assert produced.expires_on == d("2039-10-10")
    assert produced.birthdays == 11


def test_R26_minor_renewed_in_the_window_under_both_policies() -> None:
    # DOB 2014-07-07: first card issued 2024-05-01 expires 2028-07-07 (R19); renewed 2028-06-01.
    kwargs = {
        "old_expiry": "2028-07-07",
        "applied": "2028-04-10",
        "accepted": "2028-04-20",
        "issued": "2028-06-01",
        "date_of_birth": "2014-07-07",
    }
    assert produced_event(renewal_card(PLAIN, **kwargs)).expires_on == d("2032-07-07")
    assert produced_event(renewal_card(PLUS_ONE, **kwargs)).expires_on == d("2033-07-07")


def test_R26_renewal_produced_after_the_old_expiry_gets_the_plain_validity_under_both_policies() -> None:
    for policies in (PLAIN, PLUS_ONE):
        card = renewal_card(
            policies, applied="2030-01-10", accepted="2030-01-15", issued="2030-02-01", status="expired"
        )
        produced = produced_event(card)
        assert produced.expires_on == d("2039-10-10"), policies.renewed_card_validity
        assert produced.birthdays == 10


def test_R26_pure_card_validity_under_both_policies() -> None:
    def expiry(policies: Policies, renews: str | None) -> date:
        return card_validity(
            d("1980-10-10"),
            issue_date=d("2029-08-20"),
            accepted_on=d("2029-07-20"),
            residence_status=None,
            stay_until=None,
            renews_card_expiring_on=d(renews) if renews else None,
            policies=policies,
        ).expires_on

    assert expiry(PLAIN, "2029-10-10") == d("2038-10-10")
    assert expiry(PLUS_ONE, "2029-10-10") == d("2039-10-10")
    assert expiry(PLUS_ONE, None) == d("2038-10-10")  # a first card is never lengthened


def test_R26_a_renewal_through_the_service_uses_the_service_policy(story: Story) -> None:
    story.to_active()
    renewal = Story(story.app, story.clock)
    renewal.apply(
        "2029-07-15T09:00", kind="renewal", previous_card=story.application_id, photo_taken_on="2029-07-01"
    )
    renewal.run(m.AcceptApplication, "2029-07-20T09:00", effective_at="2029-07-20")
    renewal.run(m.ProduceCard, "2029-08-20T09:00", effective_at="2029-08-20")
    assert renewal.card.expires_on == d("2038-10-10")
