"""Rules R01–R18 (spec §2.1, identifiers and application): one or more tests per rule id.

Domain tests drive the ``Card`` aggregate directly; service tests drive one card through the
real service on SQLite (``story``). Every refusal also checks that nothing was recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from commands import models as m
from commands.application import CardLifecycle
from commands.errors import InputError
from lifecycle.calendar import age_on, start_of_day
from lifecycle.card import Card, Handover, PreviousCard
from lifecycle.decisions import DEFAULT_POLICIES, Policies
from lifecycle.documents import IdentityDocument, check_identity_documents, check_proxy_handover_documents
from lifecycle.errors import RuleViolation, TerminalState, UncoveredCase
from lifecycle.fees import assess_application_fee, assess_handover_fee
from lifecycle.filers import Filer, check_legal_representative_authority
from lifecycle.identifiers import (
    card_id_for,
    format_application_id,
    parse_application_id,
    validate_my_number,
)
from tests.helpers.support import (
    ALL_PINS,
    DRIVING_LICENCE,
    MY_NUMBER,
    Story,
    active_card,
    application,
    application_id,
    applied_card,
    at,
    d,
    my_number,
    produced_card,
    stamp,
    versions,
)

# ----------------------------------------------------------------------------- helpers

LICENCE = DRIVING_LICENCE
PASSPORT = IdentityDocument("passport")
HEALTH_CARD = IdentityDocument("health_insurance_card")
PENSION_BOOK = IdentityDocument("pension_book")
MEDICAL_CERTIFICATE = IdentityDocument("medical_recipient_certificate")
FACE_PHOTO_CERTIFICATE = IdentityDocument("face_photo_certificate")  # list B, with a photo
STUDENT_ID = IdentityDocument("student_id")  # list B, with a photo

HOLDER_REF = application().holder_ref
FRIEND = Filer(role="agent")
HOUSEHOLD_MEMBER = Filer(role="household_member", same_household=True)
PARENT_WAIVED = Filer(role="legal_representative", same_household=True, parent_child_on_resident_record=True)


def refused(card: Card, rule: str, command: Callable[[], Any]) -> RuleViolation:
    """The command raises a RuleViolation naming ``rule`` and records nothing on ``card``."""
    before = versions(card)
    pending_before = list(card.pending_events)
    with pytest.raises(RuleViolation) as info:
        command()
    assert info.value.rule == rule, str(info.value)
    assert versions(card) == before
    assert list(card.pending_events) == pending_before
    return info.value


def new_events(card: Card, command: Callable[[], Any]) -> list[Any]:
    """Run the command and return the events it triggered."""
    start = len(card.pending_events)
    command()
    return list(card.pending_events[start:])


def names(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def only(events: list[Any], name: str) -> Any:
    found = [e for e in events if type(e).__name__ == name]
    assert len(found) == 1, names(events)
    return found[0]


def handover(**overrides: Any) -> Handover:
    fields: dict[str, Any] = {
        "identity_documents": (LICENCE,),
        "notification_card": "collected",
        "pins": ALL_PINS,
    }
    fields.update(overrides)
    return Handover(**fields)


def previous_card(
    status: str = "abolished", expires_on: str = "2029-10-10", by_stay: bool = False
) -> PreviousCard:
    return PreviousCard(uuid4(), HOLDER_REF, status, d(expires_on), by_stay)


def submit_replacement(
    kind: str,
    on: str,
    previous: PreviousCard,
    policies: Policies = DEFAULT_POLICIES,
    **overrides: Any,
) -> Card:
    overrides.setdefault("photo_taken_on", d(on))
    return Card.submit(application(kind=kind, **overrides), stamp(on), policies, previous)


def reissue(
    reason: str, on: str = "2025-03-01", policies: Policies = DEFAULT_POLICIES, **overrides: Any
) -> Card:
    return submit_replacement("reissue", on, previous_card(), policies, reissue_reason=reason, **overrides)


def produce(card: Card, accepted: str, issued: str, policies: Policies = DEFAULT_POLICIES) -> Card:
    card.accept(stamp(accepted))
    card.produce(stamp(issued), policies)
    return card


def fee_assessments(card: Card) -> list[Any]:
    return [e for e in card.pending_events if type(e).__name__ == "FeeAssessed"]


def mynumber_check_digit(base11: str) -> int:
    """Spec §1C, verbatim: the oracle for R01."""
    total = sum(int(base11[11 - n]) * (n + 1 if n <= 6 else n - 5) for n in range(1, 12))
    r = total % 11
    return 0 if r <= 1 else 11 - r


def is_valid_my_number(text: str) -> bool:
    try:
        validate_my_number(text)
    except RuleViolation as e:
        assert e.rule == "R01"
        return False
    return True


def submit_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "actor": "clerk-1",
        "application_id": "1234 5678 9012 3456 7890 123",
        "my_number": MY_NUMBER,
        "date_of_birth": "1980-10-10",
        "photo_taken_on": "2020-04-01",
    }
    fields.update(overrides)
    return fields


def refused_by_service(story: Story, rule: str, command: type[m.Command], when: str, **fields: Any) -> None:
    """The service refuses the command with ``rule`` and the card's stored events are unchanged."""
    before = story.event_types()
    version_before = story.card.version
    with pytest.raises(RuleViolation) as info:
        story.run(command, when, **fields)
    assert info.value.rule == rule, str(info.value)
    assert story.event_types() == before
    assert story.card.version == version_before


# ============================================================================= R01 My Number


@pytest.mark.parametrize("number", ["123456789018", "000000000000"])
def test_R01_spec_examples_that_are_valid(number: str) -> None:
    assert validate_my_number(number) == number


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("123456789010", "check digit"),  # expected check digit 8
        ("12345678901", "12 digits"),  # 11 digits
        ("1234567890180", "12 digits"),  # 13 digits
        ("12345678901A", "digits"),
        ("", "digits"),
    ],
)
def test_R01_spec_examples_that_are_invalid(number: str, why: str) -> None:
    with pytest.raises(RuleViolation) as info:
        validate_my_number(number)
    assert info.value.rule == "R01"
    assert why in info.value.message
    if number:
        assert number not in str(info.value)


def test_R01_spec_worked_example_of_the_check_digit_formula() -> None:
    assert mynumber_check_digit("12345678901") == 8
    assert [c for c in range(10) if is_valid_my_number(f"12345678901{c}")] == [8]


@settings(max_examples=300, deadline=None)
@given(base=st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_R01_exactly_one_check_digit_validates_each_base(base: str) -> None:
    valid = [c for c in range(10) if is_valid_my_number(f"{base}{c}")]
    assert valid == [mynumber_check_digit(base)]


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(min_value=0, max_value=10**11 - 1))
def test_R01_support_numbers_agree_with_the_spec_formula(seed: int) -> None:
    number = my_number(seed)
    assert number[-1] == str(mynumber_check_digit(number[:11]))


def test_R01_command_model_refuses_a_bad_my_number_naming_field_and_rule() -> None:
    with pytest.raises(ValidationError) as info:
        m.SubmitApplication.model_validate(submit_fields(my_number="123456789010"))
    error = InputError.from_validation(info.value)
    assert [(i.field, i.rule) for i in error.issues] == [("my_number", "R01")]
    assert "123456789010" not in str(error)
    assert "123456789010" not in repr(error.as_dict())


def test_R01_command_model_refuses_a_bad_new_my_number_on_invalidation() -> None:
    with pytest.raises(ValidationError) as info:
        m.InvalidateCard.model_validate(
            {
                "actor": "clerk-1",
                "card": application_id(),
                "reason": "my_number_changed",
                "new_my_number": "12345678901",
            }
        )
    error = InputError.from_validation(info.value)
    assert [(i.field, i.rule) for i in error.issues] == [("new_my_number", "R01")]
    assert "12345678901" not in str(error)


def test_R01_validation_error_never_repeats_the_my_number() -> None:
    with pytest.raises(ValidationError) as info:
        m.SubmitApplication.model_validate(submit_fields(my_number="123456789010"))
    assert "123456789010" not in str(info.value)
    assert "123456789010" not in info.value.json()


def test_R01_a_valid_number_is_kept_secret_in_the_command_model() -> None:
    command = m.SubmitApplication.model_validate(submit_fields())
    assert command.my_number.get_secret_value() == MY_NUMBER
    assert MY_NUMBER not in repr(command)
    assert MY_NUMBER not in command.model_dump_json()


def test_R01_stored_events_never_contain_the_my_number(story: Story) -> None:
    story.to_active()
    events = list(story.app.events.get(story.card.id))
    assert events
    for event in events:
        assert MY_NUMBER not in repr(vars(event))
    assert story.card.my_number_masked == "XXXX XXXX 9018"
    assert story.card.holder_ref != MY_NUMBER


# ============================================================================= R02 application id


def test_R02_grouped_application_id_is_accepted_without_spaces() -> None:
    assert parse_application_id("1234 5678 9012 3456 7890 123") == "12345678901234567890123"
    assert format_application_id("12345678901234567890123") == "1234 5678 9012 3456 7890 123"


@pytest.mark.parametrize(
    "raw",
    ["1234567890123456789012", "123456789012345678901234", "1234 5678 9012 3456 7890 12A", ""],
)
def test_R02_application_id_that_is_not_23_digits_is_rejected(raw: str) -> None:
    with pytest.raises(RuleViolation) as info:
        parse_application_id(raw)
    assert info.value.rule == "R02"


_WHITESPACE = st.sampled_from(["", "", " ", "  ", "\t", "\u3000"])


@settings(max_examples=200, deadline=None)
@given(
    digits=st.text(alphabet="0123456789", min_size=23, max_size=23),
    gaps=st.lists(_WHITESPACE, min_size=24, max_size=24),
)
def test_R02_grouping_and_whitespace_do_not_change_the_application_id(digits: str, gaps: list[str]) -> None:
    spaced = "".join(gap + digit for gap, digit in zip(gaps, digits, strict=False)) + gaps[-1]
    assert parse_application_id(spaced) == digits
    assert parse_application_id(format_application_id(digits)) == digits


@settings(max_examples=100, deadline=None)
@given(digits=st.text(alphabet="0123456789", min_size=1, max_size=40).filter(lambda s: len(s) != 23))
def test_R02_any_other_number_of_digits_is_rejected(digits: str) -> None:
    with pytest.raises(RuleViolation) as info:
        parse_application_id(digits)
    assert info.value.rule == "R02"


def test_R02_command_model_refuses_a_22_digit_application_id_naming_field_and_rule() -> None:
    with pytest.raises(ValidationError) as info:
        m.SubmitApplication.model_validate(submit_fields(application_id="1234567890123456789012"))
    error = InputError.from_validation(info.value)
    assert [(i.field, i.rule) for i in error.issues] == [("application_id", "R02")]
    assert MY_NUMBER not in str(error)
    assert MY_NUMBER not in str(info.value)


def test_R02_command_model_normalises_the_grouped_application_id() -> None:
    command = m.SubmitApplication.model_validate(submit_fields())
    assert command.application_id == "12345678901234567890123"


def test_R02_form_older_than_a_change_of_facts_cannot_be_used() -> None:
    # ID printed 2024-01, address changed 2024-03 -> "reissue application form".
    with pytest.raises(RuleViolation) as info:
        applied_card(
            "2024-04-01",
            form_printed_on=d("2024-01-15"),
            facts_changed_on=d("2024-03-01"),
            photo_taken_on=d("2024-03-20"),
        )
    assert info.value.rule == "R02"
    assert "new application form" in (info.value.hint or "")


def test_R02_form_printed_after_the_last_change_is_accepted() -> None:
    card = applied_card(
        "2024-04-01",
        form_printed_on=d("2024-03-15"),
        facts_changed_on=d("2024-03-01"),
        photo_taken_on=d("2024-03-20"),
    )
    assert card.status == "applied"


def test_R02_the_same_application_id_is_not_submitted_twice(story: Story) -> None:
    story.apply()
    before = story.event_types()
    with pytest.raises(InputError) as info:
        story.apply("2020-05-02T09:00")
    assert [(i.field, i.rule) for i in info.value.issues] == [("application_id", "R02")]
    assert story.event_types() == before


def test_R02_the_service_answers_the_grouped_application_id(story: Story) -> None:
    result = story.apply(application_id="1234 5678 9012 3456 7890 123")
    assert result.application_id == "1234 5678 9012 3456 7890 123"
    assert result.card_id == card_id_for("12345678901234567890123")


# ============================================================================= R03 counter attendance

CHILD_DOB = d("2012-03-01")


def test_R03_child_applying_at_the_counter_with_parent_is_accepted() -> None:
    assert age_on(CHILD_DOB, d("2026-02-27")) == 13
    card = applied_card(
        "2026-02-27",
        channel="counter",
        date_of_birth=CHILD_DOB,
        photo_taken_on=d("2026-02-01"),
        applicant_present=True,
        legal_representative_present=True,
        legal_representative=PARENT_WAIVED,
        identity_documents=(HEALTH_CARD, STUDENT_ID),
    )
    assert card.status == "applied"
    assert card.channel == "counter"


@pytest.mark.parametrize(
    ("applicant_present", "representative_present"),
    [(True, False), (False, True), (False, False)],
    ids=["child-alone", "parent-alone", "nobody"],
)
def test_R03_child_at_the_counter_needs_both_child_and_parent(
    applicant_present: bool, representative_present: bool
) -> None:
    with pytest.raises(RuleViolation) as info:
        applied_card(
            "2026-02-27",
            channel="counter",
            date_of_birth=CHILD_DOB,
            photo_taken_on=d("2026-02-01"),
            applicant_present=applicant_present,
            legal_representative_present=representative_present,
            legal_representative=PARENT_WAIVED if representative_present else None,
            identity_documents=(HEALTH_CARD, STUDENT_ID),
        )
    assert info.value.rule == "R03"


def test_R03_adult_ward_with_guardian_is_accepted_and_alone_is_refused() -> None:
    guardian = Filer(role="legal_representative", registry_certificate=True)
    common: dict[str, Any] = {
        "channel": "counter",
        "adult_ward": True,
        "photo_taken_on": d("2025-03-01"),
        "applicant_present": True,
        "identity_documents": (LICENCE,),
    }
    card = applied_card(
        "2025-04-01", legal_representative_present=True, legal_representative=guardian, **common
    )
    assert card.status == "applied"
    with pytest.raises(RuleViolation) as info:
        applied_card("2025-04-01", legal_representative_present=False, **common)
    assert info.value.rule == "R03"


def test_R03_adult_applying_at_the_counter_must_attend() -> None:
    with pytest.raises(RuleViolation) as info:
        applied_card(
            "2025-04-01", channel="counter", photo_taken_on=d("2025-03-01"), identity_documents=(LICENCE,)
        )
    assert info.value.rule == "R03"


def test_R03_counter_application_is_mailed_to_the_holder_only() -> None:
    card = produced_card(
        "2025-04-01",
        "2025-04-10",
        "2025-05-01",
        channel="counter",
        photo_taken_on=d("2025-03-01"),
        applicant_present=True,
        identity_documents=(LICENCE,),
    )
    refused(
        card,
        "R03",
        lambda: card.hand_over(
            handover(method="mail", recipient="proxy", proxy=FRIEND, proxy_reason="age_75_or_over"),
            stamp("2025-05-10"),
            DEFAULT_POLICIES,
        ),
    )
    events = new_events(
        card, lambda: card.hand_over(handover(method="mail"), stamp("2025-05-10"), DEFAULT_POLICIES)
    )
    issued = only(events, "Issued")
    assert (issued.method, issued.recipient) == ("mail", "holder")


def test_R03_web_application_is_not_mailed() -> None:
    card = produced_card("2025-04-01", "2025-04-10", "2025-05-01", photo_taken_on=d("2025-03-01"))
    refused(
        card, "R03", lambda: card.hand_over(handover(method="mail"), stamp("2025-05-10"), DEFAULT_POLICIES)
    )


def test_R03_service_refuses_a_counter_application_without_the_applicant(story: Story) -> None:
    with pytest.raises(RuleViolation) as info:
        story.apply(channel="counter", identity_documents=["driving_licence"])
    assert info.value.rule == "R03"
    assert story.app.load_card(card_id_for(story.application_id)) is None


# ============================================================================= R04 photo


def test_R04_photo_taken_exactly_six_months_before_is_accepted() -> None:
    card = applied_card("2024-07-10", photo_taken_on=d("2024-01-10"))
    assert card.status == "applied"


def test_R04_photo_taken_one_day_earlier_is_refused() -> None:
    with pytest.raises(RuleViolation) as info:
        applied_card("2024-07-10", photo_taken_on=d("2024-01-09"))
    assert info.value.rule == "R04"
    assert "2024-01-10" in info.value.message


def test_R04_photo_taken_after_the_application_is_refused() -> None:
    with pytest.raises(RuleViolation) as info:
        applied_card("2024-07-10", photo_taken_on=d("2024-07-11"))
    assert info.value.rule == "R04"


def test_R04_service_records_nothing_for_an_old_photo(story: Story) -> None:
    with pytest.raises(RuleViolation) as info:
        story.apply("2024-07-10T09:00", photo_taken_on="2024-01-09")
    assert info.value.rule == "R04"
    assert story.app.load_card(card_id_for(story.application_id)) is None
    story.apply("2024-07-10T09:05", photo_taken_on="2024-01-10")
    assert story.event_types()[0] == "Applied"


# ============================================================================= R05 / R06 age line


@pytest.mark.parametrize(
    ("accepted", "adult", "line", "expires"),
    [("2022-03-31", False, 20, "2026-06-01"), ("2022-04-01", True, 18, "2031-06-01")],
)
def test_R05_acceptance_date_chooses_the_adult_line(
    accepted: str, adult: bool, line: int, expires: str
) -> None:
    card = produced_card(
        "2022-03-01", accepted, "2022-04-20", date_of_birth=d("2003-06-01"), photo_taken_on=d("2022-02-01")
    )
    produced = only(list(card.pending_events), "Produced")
    assert (produced.adult, produced.age_line) == (adult, line)
    assert card.expires_on == d(expires)
    assert produced.expires_on == d(expires)


def test_R05_acceptance_cannot_precede_the_application() -> None:
    card = applied_card("2022-04-01", photo_taken_on=d("2022-03-01"))
    refused(card, "R05", lambda: card.accept(stamp("2022-03-31")))


@pytest.mark.parametrize(
    ("measured_on", "adult", "expires"),
    [("issue_date", True, "2034-05-10"), ("acceptance_date", False, "2029-05-10")],
)
def test_R06_age_measured_on_issue_or_acceptance_date(measured_on: str, adult: bool, expires: str) -> None:
    policies = Policies(age_measured_on=measured_on)  # type: ignore[arg-type]
    dob = d("2006-05-10")
    assert (age_on(dob, d("2024-04-25")), age_on(dob, d("2024-05-20"))) == (17, 18)
    card = produced_card(
        "2024-04-20", "2024-04-25", "2024-05-20", policies, date_of_birth=dob, photo_taken_on=d("2024-04-01")
    )
    assert card.adult is adult
    assert card.expires_on == d(expires)


def test_R06_default_policy_measures_age_on_the_issue_date() -> None:
    assert DEFAULT_POLICIES.age_measured_on == "issue_date"


# ============================================================================= R07 fees


@pytest.mark.parametrize(
    ("kind", "reason", "certs", "extra", "amount", "card_yen", "cert_yen", "rule"),
    [
        ("new", None, True, {}, 0, 0, 0, "R07"),
        ("reissue", "loss", True, {}, 1000, 800, 200, "R07"),
        ("reissue", "loss", False, {}, 800, 800, 0, "R07"),
        ("reissue", "damage", True, {}, 1000, 800, 200, "R07"),
        ("renewal", None, True, {}, 0, 0, 0, "R07"),
        ("reissue", "my_number_changed", True, {}, 0, 0, 0, "R07"),
        ("reissue", "card_defect", True, {}, 0, 0, 0, "R07"),
        ("reissue", "notes_field_full", True, {}, 0, 0, 0, "R33"),
        ("reissue", "disaster_noto_2024", True, {"disaster_certificate": True}, 0, 0, 0, "R07"),
    ],
)
def test_R07_application_fee_table(
    kind: str,
    reason: str | None,
    certs: bool,
    extra: dict[str, Any],
    amount: int,
    card_yen: int,
    cert_yen: int,
    rule: str,
) -> None:
    fee = assess_application_fee(kind, reissue_reason=reason, with_certificates=certs, **extra)  # type: ignore[arg-type]
    assert (fee.amount_yen, fee.card_yen, fee.certificate_yen, fee.rule) == (amount, card_yen, cert_yen, rule)
    assert fee.fault is (amount > 0)


def test_R07_noto_loss_without_the_disaster_certificate_is_charged() -> None:
    fee = assess_application_fee(
        "reissue", reissue_reason="disaster_noto_2024", with_certificates=True, disaster_certificate=False
    )
    assert (fee.amount_yen, fee.fault) == (1000, True)


def test_R07_unknown_reissue_reason_is_refused_not_guessed() -> None:
    with pytest.raises(UncoveredCase) as info:
        assess_application_fee("reissue", reissue_reason="bored", with_certificates=True)
    assert info.value.rule == "R07"
    with pytest.raises(UncoveredCase) as info:
        assess_application_fee("reissue", reissue_reason=None, with_certificates=True)
    assert info.value.rule == "R07"


@pytest.mark.parametrize(("certs", "amount"), [(True, 1000), (False, 800)])
def test_R07_no_fault_reissue_without_the_old_card_is_charged_as_fault(certs: bool, amount: int) -> None:
    free = assess_application_fee("reissue", reissue_reason="my_number_changed", with_certificates=certs)
    extra = assess_handover_fee(application_fee=free, old_card_brought=False, with_certificates=certs)
    assert extra is not None
    assert (extra.amount_yen, extra.fault, extra.rule) == (amount, True, "R07")
    assert assess_handover_fee(application_fee=free, old_card_brought=True, with_certificates=certs) is None


def test_R07_fault_reissue_is_not_charged_twice_at_handover() -> None:
    charged = assess_application_fee("reissue", reissue_reason="loss", with_certificates=True)
    assert (
        assess_handover_fee(application_fee=charged, old_card_brought=False, with_certificates=True) is None
    )


def test_R07_lost_card_reissue_with_certificates_costs_1000_yen() -> None:
    card = reissue("loss")
    fee = only(fee_assessments(card), "FeeAssessed")
    assert (fee.amount_yen, fee.card_yen, fee.certificate_yen) == (1000, 800, 200)
    assert (fee.fault, fee.rule, fee.stage, fee.reason) == (True, "R07", "application", "loss")
    assert card.outstanding_fee_yen == 1000


def test_R07_lost_card_reissue_without_certificates_costs_800_yen() -> None:
    card = reissue("loss", wants_signature_certificate=False, wants_user_certificate=False)
    fee = only(fee_assessments(card), "FeeAssessed")
    assert (fee.amount_yen, fee.certificate_yen) == (800, 0)


def test_R07_first_card_is_free() -> None:
    card = applied_card()
    fee = only(fee_assessments(card), "FeeAssessed")
    assert (fee.amount_yen, fee.reason) == (0, "first_card")
    assert card.outstanding_fee_yen == 0


def test_R07_renewal_applied_for_after_expiry_is_free() -> None:
    old = active_card()  # DOB 1980-10-10, issued 2020-05-15
    assert old.expires_on == d("2029-10-10")
    old.record_lapses(stamp("2029-10-11T01:00"), DEFAULT_POLICIES)
    assert old.status == "expired"
    previous = PreviousCard(old.id, old.holder_ref, old.status, old.expires_on, False)
    card = submit_replacement("renewal", "2030-01-15", previous)
    fee = only(fee_assessments(card), "FeeAssessed")
    assert (fee.amount_yen, fee.fault, fee.reason) == (0, False, "renewal")


def test_R07_my_number_change_reissue_without_old_card_costs_1000_yen_at_handover() -> None:
    card = produce(reissue("my_number_changed", on="2025-02-10"), "2025-02-15", "2025-03-01")
    assert card.outstanding_fee_yen == 0
    no_card = handover(old_card_brought=False)
    error = refused(card, "R08", lambda: card.hand_over(no_card, stamp("2025-03-10"), DEFAULT_POLICIES))
    assert "¥1000" in error.message
    events = new_events(
        card,
        lambda: card.hand_over(
            handover(old_card_brought=False, fee_paid_yen=1000), stamp("2025-03-10"), DEFAULT_POLICIES
        ),
    )
    assert names(events) == ["FeeAssessed", "FeePaid", "Issued", "PinsSet"]
    # the ¥200 certificate part of the fee goes with the certificates the handover plans (R10, R34)
    assert events[2].certificates == ["AUTH", "SIG"]
    assert (events[3].pins, events[3].set_by) == (sorted(ALL_PINS), "holder")
    extra = events[0]
    assert (extra.amount_yen, extra.fault, extra.stage, extra.reason) == (
        1000,
        True,
        "handover",
        "old_card_not_brought",
    )
    assert events[1].amount_yen == 1000
    assert card.outstanding_fee_yen == 0


def test_R07_my_number_change_reissue_with_old_card_stays_free() -> None:
    card = produce(reissue("my_number_changed", on="2025-02-10"), "2025-02-15", "2025-03-01")
    events = new_events(
        card, lambda: card.hand_over(handover(old_card_brought=True), stamp("2025-03-10"), DEFAULT_POLICIES)
    )
    assert names(events) == ["Issued", "PinsSet"]
    assert card.fee_assessed_yen == 0


def test_R07_no_fault_reissue_handover_must_say_whether_the_old_card_was_brought() -> None:
    card = produce(reissue("my_number_changed", on="2025-02-10"), "2025-02-15", "2025-03-01")
    refused(card, "R07", lambda: card.hand_over(handover(), stamp("2025-03-10"), DEFAULT_POLICIES))


def test_R07_noto_earthquake_loss_with_certificate_is_free() -> None:
    card = reissue("disaster_noto_2024", disaster_certificate=True)
    fee = only(fee_assessments(card), "FeeAssessed")
    assert (fee.amount_yen, fee.fault) == (0, False)


def test_R07_reissue_must_name_the_card_it_replaces() -> None:
    with pytest.raises(RuleViolation) as info:
        applied_card("2025-03-01", kind="reissue", reissue_reason="loss", photo_taken_on=d("2025-03-01"))
    assert info.value.rule == "R07"


# ============================================================================= R08 when the fee is paid


def test_R08_fee_due_at_application_is_refused_unpaid() -> None:
    policies = Policies(fee_due_by="application")
    with pytest.raises(RuleViolation) as info:
        reissue("loss", policies=policies)
    assert info.value.rule == "R08"
    assert "¥1000" in info.value.message


def test_R08_fee_paid_at_application_settles_it() -> None:
    card = reissue("loss", policies=Policies(fee_due_by="application"), fee_paid=True)
    assert names(list(card.pending_events)) == ["Applied", "FeeAssessed", "FeePaid"]
    paid = card.pending_events[-1]
    assert (paid.amount_yen, paid.stage) == (1000, "application")
    assert card.outstanding_fee_yen == 0


def test_R08_fee_due_by_handover_blocks_an_unpaid_handover() -> None:
    card = produce(reissue("loss"), "2025-03-05", "2025-03-20")
    assert card.outstanding_fee_yen == 1000
    refused(card, "R08", lambda: card.hand_over(handover(), stamp("2025-04-01"), DEFAULT_POLICIES))
    refused(
        card,
        "R08",
        lambda: card.hand_over(handover(fee_paid_yen=1200), stamp("2025-04-01"), DEFAULT_POLICIES),
    )
    events = new_events(
        card, lambda: card.hand_over(handover(fee_paid_yen=1000), stamp("2025-04-01"), DEFAULT_POLICIES)
    )
    assert names(events) == ["FeePaid", "Issued", "PinsSet"]
    assert (events[0].amount_yen, events[0].stage) == (1000, "handover")


def test_R08_fee_paid_at_the_counter_before_handover() -> None:
    card = produce(reissue("loss"), "2025-03-05", "2025-03-20")
    refused(card, "R08", lambda: card.pay_fee(1200, stamp("2025-03-25")))
    events = new_events(card, lambda: card.pay_fee(1000, stamp("2025-03-25")))
    assert names(events) == ["FeePaid"]
    refused(card, "R08", lambda: card.pay_fee(1, stamp("2025-03-26")))
    assert names(
        new_events(card, lambda: card.hand_over(handover(), stamp("2025-04-01"), DEFAULT_POLICIES))
    ) == ["Issued", "PinsSet"]


def test_R08_default_policy_settles_by_handover() -> None:
    assert DEFAULT_POLICIES.fee_due_by == "handover"


# ============================================================================= R09 stay expiry is a fee case


@pytest.mark.parametrize("reason", ["stay_expired", "missed_moving_deadline"])
def test_R09_reissue_after_stay_or_moving_deadline_is_charged(reason: str) -> None:
    fee = assess_application_fee("reissue", reissue_reason=reason, with_certificates=True)
    assert (fee.amount_yen, fee.fault, fee.rule) == (1000, True, "R09")


def test_R09_renewal_of_a_card_that_lapsed_with_the_stay_is_not_free() -> None:
    fee = assess_application_fee(
        "renewal", reissue_reason=None, with_certificates=True, previous_card_expired_by_stay=True
    )
    assert (fee.amount_yen, fee.fault, fee.rule) == (1000, True, "R09")


FOREIGN_RESIDENT: dict[str, Any] = {
    "date_of_birth": "1990-05-05",
    "residence_status": "student",
}


def _stay_capped_story(story: Story) -> None:
    story.to_active(
        applied="2024-01-05T09:00",
        accepted="2024-01-08",
        issued="2024-01-10",
        handed_over="2024-02-01T10:00",
        photo_taken_on="2023-12-01",
        stay_until="2026-08-31",
        **FOREIGN_RESIDENT,
    )
    assert story.card.expires_on == d("2026-08-31")


def _renewal_fee(app: CardLifecycle, story: Story) -> Any:
    renewal = Story(app, story.clock)
    renewal.apply(
        "2026-09-15T09:00",
        kind="renewal",
        previous_card=story.application_id,
        photo_taken_on="2026-09-01",
        stay_until="2029-08-31",
        **FOREIGN_RESIDENT,
    )
    fees = [e for e in list(app.events.get(renewal.card.id)) if type(e).__name__ == "FeeAssessed"]
    assert len(fees) == 1
    return fees[0]


def test_R09_stay_ended_and_new_application_costs_1000_yen(app: CardLifecycle, story: Story) -> None:
    _stay_capped_story(story)
    story.run(m.RecordLapses, "2026-09-01T01:00")
    assert story.card.status == "expired"
    fee = _renewal_fee(app, story)
    assert (fee.amount_yen, fee.fault, fee.rule) == (1000, True, "R09")


def test_R09_stay_expiry_is_a_fee_case_even_before_the_lapse_is_recorded(
    app: CardLifecycle, story: Story
) -> None:
    _stay_capped_story(story)
    fee = _renewal_fee(app, story)
    assert (fee.amount_yen, fee.fault, fee.rule) == (1000, True, "R09")


# ============================================================================= R10 certificate fees


def test_R10_certificates_add_200_yen_to_a_fault_reissue() -> None:
    with_certs = assess_application_fee("reissue", reissue_reason="loss", with_certificates=True)
    without = assess_application_fee("reissue", reissue_reason="loss", with_certificates=False)
    assert (with_certs.certificate_yen, without.certificate_yen) == (200, 0)
    assert with_certs.amount_yen - without.amount_yen == 200
    assert with_certs.amount_yen == with_certs.card_yen + with_certs.certificate_yen == 1000


def test_R10_only_one_certificate_wanted_still_adds_200_yen() -> None:
    card = reissue("loss", wants_signature_certificate=False, wants_user_certificate=True)
    fee = only(fee_assessments(card), "FeeAssessed")
    assert (fee.amount_yen, fee.certificate_yen) == (1000, 200)


@pytest.mark.parametrize("reason", ["my_number_changed", "card_defect", "notes_field_full"])
def test_R10_no_certificate_fee_on_a_no_fault_reissue(reason: str) -> None:
    fee = assess_application_fee("reissue", reissue_reason=reason, with_certificates=True)
    assert (fee.amount_yen, fee.certificate_yen) == (0, 0)


# ============================================================================= R11 move-out voids


def test_R11_move_out_between_application_and_receipt_voids_it() -> None:
    card = produced_card("2025-04-01", "2025-04-10", "2025-05-01", photo_taken_on=d("2025-03-01"))
    events = new_events(card, lambda: card.move_out(d("2025-05-10"), False, stamp("2025-05-10")))
    assert names(events) == ["MovedOut", "ApplicationVoided"]
    assert (events[1].reason, events[1].rule) == ("moved_out", "R11")
    assert card.status == "voided"
    error = refused(card, "R11", lambda: card.hand_over(handover(), stamp("2025-05-20"), DEFAULT_POLICIES))
    assert isinstance(error, TerminalState)


def test_R11_move_out_before_production_voids_the_application() -> None:
    card = applied_card("2025-04-01", photo_taken_on=d("2025-03-01"))
    events = new_events(card, lambda: card.move_out(d("2025-04-05"), False, stamp("2025-04-05")))
    assert only(events, "ApplicationVoided").reason == "moved_out"
    refused(card, "R11", lambda: card.accept(stamp("2025-04-10")))


def test_R11_service_blocks_handover_after_move_out(story: Story) -> None:
    story.apply("2025-04-01T09:00", photo_taken_on="2025-03-01")
    story.run(m.AcceptApplication, "2025-04-10T09:00", effective_at="2025-04-10")
    story.run(m.ProduceCard, "2025-05-01T09:00", effective_at="2025-05-01")
    story.run(m.RecordMoveOut, "2025-05-10T09:00", planned_move_out_on="2025-05-10")
    assert story.event_types()[-2:] == ["MovedOut", "ApplicationVoided"]
    refused_by_service(
        story,
        "R11",
        m.HandOverCard,
        "2025-05-20T10:00",
        identity_documents=["driving_licence"],
        notification_card="collected",
    )
    assert story.card.status == "voided"


# ============================================================================= R12 cancellation


def _child_card(**overrides: Any) -> Card:
    """An applied card of a child born 2015-01-01 (10 on 2025-05-09)."""
    return applied_card(
        "2025-04-01", date_of_birth=d("2015-01-01"), photo_taken_on=d("2025-03-01"), **overrides
    )


def test_R12_cancel_before_receipt_is_accepted() -> None:
    card = produced_card("2025-04-01", "2025-04-10", "2025-05-01", photo_taken_on=d("2025-03-01"))
    events = new_events(card, lambda: card.cancel(Filer(), "counter", stamp("2025-05-09")))
    cancelled = only(events, "ApplicationCancelled")
    assert (cancelled.filed_by, cancelled.channel) == ("holder", "counter")
    assert cancelled.effective_at == start_of_day(d("2025-05-09"))
    assert card.status == "cancelled"


def test_R12_cancel_after_handover_is_refused() -> None:
    card = active_card("2025-04-01", "2025-04-10", "2025-05-01", "2025-05-08", photo_taken_on=d("2025-03-01"))
    error = refused(card, "R12", lambda: card.cancel(Filer(), "counter", stamp("2025-05-09")))
    assert "返納" in (error.hint or "")


def test_R12_phone_cancel_by_an_unrelated_agent_is_refused() -> None:
    card = applied_card("2025-04-01", photo_taken_on=d("2025-03-01"))
    agent = Filer(role="agent", letter_of_delegation=True)
    refused(card, "R12", lambda: card.cancel(agent, "phone", stamp("2025-05-09")))
    refused(card, "R12", lambda: card.cancel(HOUSEHOLD_MEMBER, "phone", stamp("2025-05-09")))


def test_R12_phone_cancel_by_the_applicant_is_accepted() -> None:
    card = applied_card("2025-04-01", photo_taken_on=d("2025-03-01"))
    events = new_events(card, lambda: card.cancel(Filer(), "phone", stamp("2025-05-09")))
    assert only(events, "ApplicationCancelled").channel == "phone"


def test_R12_phone_cancel_by_same_household_parent_of_under_15_is_accepted() -> None:
    card = _child_card()
    events = new_events(card, lambda: card.cancel(PARENT_WAIVED, "phone", stamp("2025-05-09")))
    assert only(events, "ApplicationCancelled").filed_by == "legal_representative"


def test_R12_phone_cancel_by_parent_outside_household_or_of_15_year_old_is_refused() -> None:
    child = _child_card()
    elsewhere = Filer(role="legal_representative", family_register_copy=True)
    refused(child, "R12", lambda: child.cancel(elsewhere, "phone", stamp("2025-05-09")))
    teenager = applied_card("2025-04-01", date_of_birth=d("2010-01-01"), photo_taken_on=d("2025-03-01"))
    parent = Filer(role="legal_representative", same_household=True, family_register_copy=True)
    refused(teenager, "R12", lambda: teenager.cancel(parent, "phone", stamp("2025-05-09")))


def test_R12_agent_cancels_at_the_counter_only_with_a_letter_of_delegation() -> None:
    card = applied_card("2025-04-01", photo_taken_on=d("2025-03-01"))
    refused(card, "R12", lambda: card.cancel(Filer(role="agent"), "counter", stamp("2025-05-09")))
    refused(card, "R12", lambda: card.cancel(HOUSEHOLD_MEMBER, "counter", stamp("2025-05-09")))
    events = new_events(
        card,
        lambda: card.cancel(Filer(role="agent", letter_of_delegation=True), "counter", stamp("2025-05-09")),
    )
    assert only(events, "ApplicationCancelled").filed_by == "agent"


def test_R12_a_cancelled_application_cannot_be_cancelled_again() -> None:
    card = applied_card("2025-04-01", photo_taken_on=d("2025-03-01"))
    card.cancel(Filer(), "counter", stamp("2025-05-09"))
    error = refused(card, "R12", lambda: card.cancel(Filer(), "counter", stamp("2025-05-10")))
    assert isinstance(error, TerminalState)


def test_R12_service_refuses_cancel_after_handover_and_records_nothing(story: Story) -> None:
    story.to_active(
        applied="2025-04-01T09:00",
        accepted="2025-04-10",
        issued="2025-05-01",
        handed_over="2025-05-08T10:00",
        photo_taken_on="2025-03-01",
    )
    refused_by_service(story, "R12", m.CancelApplication, "2025-05-09T10:00")
    assert story.card.status == "active"


def test_R12_service_refuses_phone_cancel_by_agent_and_records_nothing(story: Story) -> None:
    story.apply("2025-04-01T09:00", photo_taken_on="2025-03-01")
    refused_by_service(
        story,
        "R12",
        m.CancelApplication,
        "2025-05-09T10:00",
        channel="phone",
        filed_by={"role": "agent", "letter_of_delegation": True},
    )
    story.run(m.CancelApplication, "2025-05-09T10:05", channel="phone")
    assert story.event_types()[-1] == "ApplicationCancelled"


# ============================================================================= R13 uncollected cards


def _mimata_card(policies: Policies = DEFAULT_POLICIES) -> Card:
    """Applied 2025-01-10, notice 2025-02-15, reminder 2025-05-20 (the 三股町 example)."""
    card = produced_card("2025-01-10", "2025-01-20", "2025-02-01", policies, photo_taken_on=d("2024-12-20"))
    card.send_pickup_notice(stamp("2025-02-15"))
    card.send_pickup_reminder(stamp("2025-05-20"))
    return card


def test_R13_mimata_example_collectable_through_2026_02_15() -> None:
    card = _mimata_card()
    assert card.uncollected_lapse_day(DEFAULT_POLICIES) == d("2026-02-15")
    assert card.due_lapses(d("2026-02-15"), DEFAULT_POLICIES) == []
    (lapse,) = card.due_lapses(d("2026-02-16"), DEFAULT_POLICIES)
    assert (lapse.kind, lapse.rule) == ("not_collected", "R13")
    assert lapse.effective_at == at("2026-02-16")


def test_R13_recording_the_lapse_voids_and_destroys_once() -> None:
    card = _mimata_card()
    assert card.record_lapses(stamp("2026-02-15T23:00"), DEFAULT_POLICIES) == []
    events = new_events(card, lambda: card.record_lapses(stamp("2026-02-16T01:00"), DEFAULT_POLICIES))
    assert names(events) == ["ApplicationVoided", "CardDestroyed"]
    assert (events[0].reason, events[0].rule) == ("not_collected", "R13")
    assert events[0].effective_at == at("2026-02-16")
    assert card.status == "voided"
    assert new_events(card, lambda: card.record_lapses(stamp("2026-03-01"), DEFAULT_POLICIES)) == []


def test_R13_handover_on_the_last_day_is_accepted() -> None:
    card = _mimata_card()
    events = new_events(card, lambda: card.hand_over(handover(), stamp("2026-02-15T16:00"), DEFAULT_POLICIES))
    assert names(events) == ["Issued", "PinsSet"]


def test_R13_handover_after_the_last_day_is_refused() -> None:
    card = _mimata_card()
    error = refused(
        card, "R13", lambda: card.hand_over(handover(), stamp("2026-02-16T09:00"), DEFAULT_POLICIES)
    )
    assert "2026-02-15" in error.message


def test_R13_a_late_reminder_moves_the_lapse_to_three_months_after_it() -> None:
    card = produced_card("2025-01-10", "2025-01-20", "2025-02-01", photo_taken_on=d("2024-12-20"))
    card.send_pickup_notice(stamp("2025-02-15"))
    card.send_pickup_reminder(stamp("2026-01-10"))
    assert card.uncollected_lapse_day(DEFAULT_POLICIES) == d("2026-04-10")


def test_R13_periods_are_policy() -> None:
    policies = Policies(uncollected_months_after_notice=6, uncollected_months_after_reminder=3)
    card = _mimata_card(policies)
    assert card.uncollected_lapse_day(policies) == d("2025-08-20")  # reminder + 3 > notice + 6
    assert DEFAULT_POLICIES.uncollected_months_after_notice == 12
    assert DEFAULT_POLICIES.uncollected_months_after_reminder == 3


def test_R13_a_card_that_expires_before_pickup_is_destroyed() -> None:
    card = produced_card(
        "2025-01-10",
        "2025-01-20",
        "2025-02-01",
        photo_taken_on=d("2024-12-20"),
        residence_status="student",
        stay_until=d("2025-06-30"),
    )
    card.send_pickup_notice(stamp("2025-02-15"))
    assert card.expires_on == d("2025-06-30")
    assert card.due_lapses(d("2025-06-30"), DEFAULT_POLICIES) == []
    (lapse,) = card.due_lapses(d("2025-07-01"), DEFAULT_POLICIES)
    assert (lapse.kind, lapse.rule, lapse.effective_at) == ("not_collected", "R13", at("2025-07-01"))
    refused(card, "R13", lambda: card.hand_over(handover(), stamp("2025-07-01T10:00"), DEFAULT_POLICIES))


def test_R13_service_refuses_late_pickup_then_records_the_lapse(story: Story) -> None:
    story.apply("2025-01-10T09:00", photo_taken_on="2024-12-20")
    story.run(m.AcceptApplication, "2025-01-20T09:00", effective_at="2025-01-20")
    story.run(m.ProduceCard, "2025-02-01T09:00", effective_at="2025-02-01")
    story.run(m.SendPickupNotice, "2025-02-15T09:00")
    story.run(m.SendPickupReminder, "2025-05-20T09:00")
    refused_by_service(
        story,
        "R13",
        m.HandOverCard,
        "2026-02-16T10:00",
        identity_documents=["driving_licence"],
        notification_card="collected",
    )
    story.run(m.RecordLapses, "2026-02-16T11:00")
    assert story.event_types()[-2:] == ["ApplicationVoided", "CardDestroyed"]
    assert story.card.status == "voided"


# ============================================================================= R14 proxy handover

OLD_DOB = d("1947-03-01")  # 78 on 2025-06-01


def _card_of(dob: date, **overrides: Any) -> Card:
    return produced_card(
        "2025-04-01",
        "2025-04-10",
        "2025-05-01",
        date_of_birth=dob,
        photo_taken_on=d("2025-03-01"),
        **overrides,
    )


def _proxy_handover(reason: str, proxy: Filer = FRIEND, **overrides: Any) -> Handover:
    fields: dict[str, Any] = {
        "recipient": "proxy",
        "proxy": proxy,
        "proxy_reason": reason,
        "identity_documents": (HEALTH_CARD, PENSION_BOOK, FACE_PHOTO_CERTIFICATE),
        "proxy_identity_documents": (LICENCE, HEALTH_CARD),
    }
    fields.update(overrides)
    return handover(**fields)


def test_R14_friend_collects_for_a_78_year_old_and_the_holder_is_notified() -> None:
    card = _card_of(OLD_DOB)
    assert card.age_on(d("2025-06-01")) == 78
    events = new_events(
        card, lambda: card.hand_over(_proxy_handover("age_75_or_over"), stamp("2025-06-01"), DEFAULT_POLICIES)
    )
    assert names(events) == ["Issued", "ProxyHandoverNotified", "PinsSet"]
    issued = events[0]
    assert (issued.recipient, issued.proxy_reason, issued.proxy_role) == ("proxy", "age_75_or_over", "agent")
    assert card.status == "active"


def test_R14_household_member_proxy_needs_no_notification() -> None:
    card = _card_of(OLD_DOB)
    events = new_events(
        card,
        lambda: card.hand_over(
            _proxy_handover("age_75_or_over", HOUSEHOLD_MEMBER), stamp("2025-06-01"), DEFAULT_POLICIES
        ),
    )
    assert names(events) == ["Issued", "PinsSet"]


def test_R14_busy_40_year_old_cannot_send_a_proxy() -> None:
    card = _card_of(d("1985-01-01"))
    error = refused(
        card, "R14", lambda: card.hand_over(_proxy_handover("busy"), stamp("2025-06-01"), DEFAULT_POLICIES)
    )
    assert "busy" in error.message


def test_R14_busy_is_refused_at_the_command_boundary_too() -> None:
    with pytest.raises(ValidationError) as info:
        m.HandOverCard.model_validate(
            {"actor": "clerk-1", "card": application_id(), "recipient": "proxy", "proxy_reason": "busy"}
        )
    error = InputError.from_validation(info.value)
    assert [(i.field, i.rule) for i in error.issues] == [("proxy_reason", "R14")]


@pytest.mark.parametrize(("dob", "allowed"), [("1950-06-01", True), ("1950-06-02", False)])
def test_R14_age_75_reason_holds_from_the_75th_birthday(dob: str, allowed: bool) -> None:
    card = _card_of(d(dob))

    def hand_over() -> None:
        card.hand_over(_proxy_handover("age_75_or_over"), stamp("2025-06-01"), DEFAULT_POLICIES)

    if allowed:
        assert names(new_events(card, hand_over)) == ["Issued", "ProxyHandoverNotified", "PinsSet"]
    else:
        refused(card, "R14", hand_over)


def test_R14_proxy_must_name_a_reason_and_not_be_the_holder() -> None:
    card = _card_of(OLD_DOB)
    no_reason = _proxy_handover("age_75_or_over", proxy_reason=None)
    refused(card, "R14", lambda: card.hand_over(no_reason, stamp("2025-06-01"), DEFAULT_POLICIES))
    holder_as_proxy = _proxy_handover("age_75_or_over", Filer())
    refused(card, "R14", lambda: card.hand_over(holder_as_proxy, stamp("2025-06-01"), DEFAULT_POLICIES))
    not_ward = _proxy_handover("adult_ward")
    refused(card, "R14", lambda: card.hand_over(not_ward, stamp("2025-06-01"), DEFAULT_POLICIES))


def test_R14_service_refuses_a_false_age_reason_and_records_nothing(story: Story) -> None:
    story.apply("2025-04-01T09:00", photo_taken_on="2025-03-01", date_of_birth="1985-01-01")
    story.run(m.AcceptApplication, "2025-04-10T09:00", effective_at="2025-04-10")
    story.run(m.ProduceCard, "2025-05-01T09:00", effective_at="2025-05-01")
    refused_by_service(
        story,
        "R14",
        m.HandOverCard,
        "2025-06-01T10:00",
        recipient="proxy",
        proxy_reason="age_75_or_over",
        proxy={"role": "agent"},
        identity_documents=["driving_licence", "health_insurance_card"],
        proxy_identity_documents=["passport", "pension_book"],
        notification_card="collected",
    )
    assert story.card.status == "produced"


# ============================================================================= R15 identity documents


@pytest.mark.parametrize(
    "docs",
    [(LICENCE,), (HEALTH_CARD, PENSION_BOOK), (IdentityDocument("passport", expires_on=d("2025-06-01")),)],
    ids=["licence", "health-card+pension-book", "passport-expiring-today"],
)
def test_R15_accepted_identity_documents(docs: tuple[IdentityDocument, ...]) -> None:
    check_identity_documents(docs, d("2025-06-01"))


@pytest.mark.parametrize(
    ("docs", "why"),
    [
        ((HEALTH_CARD,), "list B"),
        ((IdentityDocument("passport", expires_on=d("2025-05-31")),), "expired on 2025-05-31"),
        ((IdentityDocument("driving_licence", original=False),), "only originals"),
        ((HEALTH_CARD, IdentityDocument("clinic_card", shows="name_only")), "only the name"),
        ((), "list B"),
    ],
    ids=["health-card-alone", "expired-passport", "photocopy", "name-only-second-b", "nothing"],
)
def test_R15_refused_identity_documents(docs: tuple[IdentityDocument, ...], why: str) -> None:
    with pytest.raises(RuleViolation) as info:
        check_identity_documents(docs, d("2025-06-01"))
    assert info.value.rule == "R15"
    assert why in info.value.message


def test_R15_handover_with_a_health_card_alone_is_refused() -> None:
    card = _card_of(d("1980-10-10"))
    refused(
        card,
        "R15",
        lambda: card.hand_over(
            handover(identity_documents=(HEALTH_CARD,)), stamp("2025-06-01"), DEFAULT_POLICIES
        ),
    )
    events = new_events(
        card,
        lambda: card.hand_over(
            handover(identity_documents=(HEALTH_CARD, PENSION_BOOK)), stamp("2025-06-01"), DEFAULT_POLICIES
        ),
    )
    assert only(events, "Issued").identity_documents == ["health_insurance_card", "pension_book"]


def test_R15_counter_application_without_identity_documents_is_refused() -> None:
    with pytest.raises(RuleViolation) as info:
        applied_card(
            "2025-04-01",
            channel="counter",
            photo_taken_on=d("2025-03-01"),
            applicant_present=True,
            identity_documents=(IdentityDocument("driving_licence", original=False),),
        )
    assert info.value.rule == "R15"


def test_R15_unknown_document_kind_is_refused_at_the_command_boundary() -> None:
    with pytest.raises(ValidationError) as info:
        m.HandOverCard.model_validate(
            {"actor": "clerk-1", "card": application_id(), "identity_documents": ["library_card"]}
        )
    issues = InputError.from_validation(info.value).issues
    assert [i.rule for i in issues] == ["R15"]
    assert issues[0].field.startswith("identity_documents")


# ============================================================================= R16 proxy documents


def test_R16_holder_bbb_with_photo_and_proxy_ab_is_accepted() -> None:
    check_proxy_handover_documents(
        (HEALTH_CARD, PENSION_BOOK, FACE_PHOTO_CERTIFICATE), (LICENCE, HEALTH_CARD), d("2025-06-01")
    )
    check_proxy_handover_documents((LICENCE, PASSPORT), (LICENCE, PASSPORT), d("2025-06-01"))
    check_proxy_handover_documents((LICENCE, HEALTH_CARD), (PASSPORT, PENSION_BOOK), d("2025-06-01"))


@pytest.mark.parametrize(
    ("holder", "proxy", "whose"),
    [
        ((HEALTH_CARD, PENSION_BOOK, FACE_PHOTO_CERTIFICATE), (LICENCE,), "proxy"),
        ((HEALTH_CARD, PENSION_BOOK, MEDICAL_CERTIFICATE), (LICENCE, HEALTH_CARD), "holder"),
        ((HEALTH_CARD, FACE_PHOTO_CERTIFICATE), (LICENCE, HEALTH_CARD), "holder"),
        ((LICENCE,), (LICENCE, HEALTH_CARD), "holder"),
        ((LICENCE, HEALTH_CARD), (IdentityDocument("driving_licence", original=False), HEALTH_CARD), "proxy"),
        ((LICENCE, HEALTH_CARD), (HEALTH_CARD, PENSION_BOOK), "proxy"),
    ],
    ids=["proxy-A-alone", "holder-BBB-no-photo", "holder-BB", "holder-A-alone", "proxy-copy", "proxy-BB"],
)
def test_R16_refused_proxy_handover_documents(
    holder: tuple[IdentityDocument, ...], proxy: tuple[IdentityDocument, ...], whose: str
) -> None:
    with pytest.raises(RuleViolation) as info:
        check_proxy_handover_documents(holder, proxy, d("2025-06-01"))
    assert info.value.rule == "R16"
    assert f"the {whose}'s documents" in info.value.message


def test_R16_proxy_with_one_a_document_cannot_collect() -> None:
    card = _card_of(OLD_DOB)
    thin = _proxy_handover("age_75_or_over", proxy_identity_documents=(LICENCE,))
    refused(card, "R16", lambda: card.hand_over(thin, stamp("2025-06-01"), DEFAULT_POLICIES))
    assert card.status == "produced"


# ======================================================================== R17 notification and Juki cards


def test_R17_first_card_handover_collects_the_notification_card() -> None:
    card = _card_of(d("1980-10-10"))
    bare = handover(notification_card="not_applicable")
    refused(card, "R17", lambda: card.hand_over(bare, stamp("2025-06-01"), DEFAULT_POLICIES))
    events = new_events(card, lambda: card.hand_over(handover(), stamp("2025-06-01"), DEFAULT_POLICIES))
    assert only(events, "Issued").notification_card == "collected"


def test_R17_notification_card_lost_at_home_needs_no_police_report() -> None:
    card = _card_of(d("1980-10-10"))
    lost_home = handover(notification_card="lost", notification_card_lost_at_home=True)
    events = new_events(card, lambda: card.hand_over(lost_home, stamp("2025-06-01"), DEFAULT_POLICIES))
    assert only(events, "Issued").notification_card == "lost"


def test_R17_notification_card_lost_outside_needs_a_police_report() -> None:
    card = _card_of(d("1980-10-10"))
    lost_out = handover(notification_card="lost")
    refused(card, "R17", lambda: card.hand_over(lost_out, stamp("2025-06-01"), DEFAULT_POLICIES))
    reported = handover(notification_card="lost", police_report=True)
    assert names(
        new_events(card, lambda: card.hand_over(reported, stamp("2025-06-01"), DEFAULT_POLICIES))
    ) == ["Issued", "PinsSet"]


def test_R17_R61_number_notification_letter_is_shown_and_returned() -> None:
    """R61: the 通知カード scheme ended; a 個人番号通知書 is shown and handed back."""
    card = _card_of(d("1980-10-10"))
    letter = handover(notification_card="number_letter_returned")
    events = new_events(card, lambda: card.hand_over(letter, stamp("2025-06-01"), DEFAULT_POLICIES))
    assert only(events, "Issued").notification_card == "number_letter_returned"


def test_R17_juki_card_collected_at_the_counter_application() -> None:
    card = applied_card(
        "2025-04-01",
        channel="counter",
        photo_taken_on=d("2025-03-01"),
        applicant_present=True,
        identity_documents=(LICENCE,),
        juki_card_collected=True,
    )
    assert names(list(card.pending_events)) == ["Applied", "FeeAssessed", "JukiCardCollected"]
    produce(card, "2025-04-10", "2025-05-01")
    events = new_events(card, lambda: card.hand_over(handover(), stamp("2025-06-01"), DEFAULT_POLICIES))
    assert only(events, "Issued").juki_card == "collected"


def test_R17_juki_card_collected_at_handover() -> None:
    card = _card_of(d("1980-10-10"))
    events = new_events(
        card, lambda: card.hand_over(handover(juki_card="collected"), stamp("2025-06-01"), DEFAULT_POLICIES)
    )
    assert only(events, "Issued").juki_card == "collected"


def test_R17_unknown_outcome_is_refused_at_the_command_boundary() -> None:
    with pytest.raises(ValidationError) as info:
        m.HandOverCard.model_validate({"actor": "clerk-1", "card": application_id(), "juki_card": "kept"})
    assert [(i.field, i.rule) for i in InputError.from_validation(info.value).issues] == [
        ("juki_card", "R17")
    ]


# ============================================================================= R18 legal representative


def test_R18_parent_in_same_household_of_a_10_year_old_needs_no_family_register() -> None:
    check_legal_representative_authority(PARENT_WAIVED, holder_under_15=True, holder_adult_ward=False)
    domicile = Filer(role="legal_representative", domicile_in_municipality=True)
    check_legal_representative_authority(domicile, holder_under_15=True, holder_adult_ward=False)


@pytest.mark.parametrize(
    ("filer", "under_15"),
    [
        (Filer(role="legal_representative", same_household=True), True),  # relation not on record
        (Filer(role="legal_representative", parent_child_on_resident_record=True), True),  # other household
        (PARENT_WAIVED, False),  # the waiver is for under-15s only
    ],
    ids=["no-relation-on-record", "other-household", "holder-15-or-over"],
)
def test_R18_without_waiver_a_parent_brings_the_family_register(filer: Filer, under_15: bool) -> None:
    with pytest.raises(RuleViolation) as info:
        check_legal_representative_authority(filer, holder_under_15=under_15, holder_adult_ward=False)
    assert info.value.rule == "R18"
    with_copy = Filer(**{**filer.as_dict(), "family_register_copy": True})  # type: ignore[arg-type]
    check_legal_representative_authority(with_copy, holder_under_15=under_15, holder_adult_ward=False)


def test_R18_guardian_of_an_adult_ward_needs_the_registry_certificate() -> None:
    for filer in (
        Filer(role="legal_representative", same_household=True, parent_child_on_resident_record=True),
        Filer(role="legal_representative", family_register_copy=True),
    ):
        with pytest.raises(RuleViolation) as info:
            check_legal_representative_authority(filer, holder_under_15=False, holder_adult_ward=True)
        assert info.value.rule == "R18"
    check_legal_representative_authority(
        Filer(role="legal_representative", registry_certificate=True),
        holder_under_15=False,
        holder_adult_ward=True,
    )


def test_R18_parent_cancels_for_a_10_year_old_without_family_register() -> None:
    card = _child_card()
    events = new_events(card, lambda: card.cancel(PARENT_WAIVED, "counter", stamp("2025-05-09")))
    assert only(events, "ApplicationCancelled").filed_by == "legal_representative"


def test_R18_parent_from_another_household_cancels_only_with_family_register() -> None:
    card = _child_card()
    unproved = Filer(role="legal_representative")
    refused(card, "R18", lambda: card.cancel(unproved, "counter", stamp("2025-05-09")))
    proved = Filer(role="legal_representative", family_register_copy=True)
    assert names(new_events(card, lambda: card.cancel(proved, "counter", stamp("2025-05-09")))) == [
        "ApplicationCancelled"
    ]


def test_R18_parent_collecting_for_a_child_proves_authority() -> None:
    child_docs = (HEALTH_CARD, MEDICAL_CERTIFICATE, STUDENT_ID)
    card = _card_of(d("2015-01-01"))
    unproved = _proxy_handover(
        "under_15", Filer(role="legal_representative", same_household=True), identity_documents=child_docs
    )
    refused(card, "R18", lambda: card.hand_over(unproved, stamp("2025-06-01"), DEFAULT_POLICIES))
    # R40: a child under 15 sets no PIN: the legal representative does (and no SIG, so no SIG PIN)
    child_pins = frozenset({"auth", "juki", "card_details"})
    set_by_child = _proxy_handover("under_15", PARENT_WAIVED, identity_documents=child_docs, pins=child_pins)
    refused(card, "R40", lambda: card.hand_over(set_by_child, stamp("2025-06-01"), DEFAULT_POLICIES))
    waived = _proxy_handover(
        "under_15",
        PARENT_WAIVED,
        identity_documents=child_docs,
        pins=child_pins,
        pins_set_by="legal_representative",
    )
    events = new_events(card, lambda: card.hand_over(waived, stamp("2025-06-01"), DEFAULT_POLICIES))
    # a legal representative: no notification (R14)
    assert names(events) == ["Issued", "PinsSet", "CertificateWithheld"]
    assert events[0].proxy_role == "legal_representative"
    assert events[0].certificates == ["AUTH"]
    assert (events[1].pins, events[1].set_by) == (sorted(child_pins), "legal_representative")
    assert (events[2].kind, events[2].rule) == ("SIG", "R40")


def test_R18_counter_application_by_guardian_without_registry_certificate_is_refused() -> None:
    with pytest.raises(RuleViolation) as info:
        applied_card(
            "2025-04-01",
            channel="counter",
            adult_ward=True,
            photo_taken_on=d("2025-03-01"),
            applicant_present=True,
            legal_representative_present=True,
            legal_representative=Filer(role="legal_representative", family_register_copy=True),
            identity_documents=(LICENCE,),
        )
    assert info.value.rule == "R18"


def test_R18_counter_application_with_guardian_present_must_prove_authority() -> None:
    with pytest.raises(RuleViolation) as info:
        applied_card(
            "2025-04-01",
            channel="counter",
            adult_ward=True,
            photo_taken_on=d("2025-03-01"),
            applicant_present=True,
            legal_representative_present=True,
            legal_representative=None,
            identity_documents=(LICENCE,),
        )
    assert info.value.rule == "R18"


def test_R18_service_refuses_unproved_representative_and_records_nothing(story: Story) -> None:
    story.apply("2025-04-01T09:00", photo_taken_on="2025-03-01", date_of_birth="2015-01-01")
    refused_by_service(
        story,
        "R18",
        m.CancelApplication,
        "2025-05-09T10:00",
        filed_by={"role": "legal_representative"},
    )
    assert story.card.status == "applied"
