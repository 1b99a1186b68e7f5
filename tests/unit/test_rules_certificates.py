"""The electronic certificates (電子証明書) R34–R48 and their fee R10, with the spec's worked
examples, mostly through the real service (``CardLifecycle`` on the test storage: SQLite, or
PostgreSQL with ``MYNACARD_TEST_DATABASE_URL``) and, where the rule is
a pure computation, at the function level too.

Validity is read the way a relying party reads it: ``app.get_certificate(serial)`` and
``validity(at)`` / ``is_valid(at)`` at exact boundary instants (one second either side).
Revocations, holds and releases are checked on the stored events, with the RFC 5280 reason
name and code (against the RFC's own table below, not the code's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from commands import certificate_models as cm
from commands import models as m
from commands.application import CardLifecycle
from lifecycle.calendar import renewal_window_opens
from lifecycle.card import Card
from lifecycle.card import events as ev
from lifecycle.certificate import (
    Certificate,
    CertificateExpired,
    CertificateIssued,
    CertificatePutOnHold,
    CertificateReleased,
    CertificateRevoked,
)
from lifecycle.certificate_rules import (
    birthdays_for,
    certificate_expiry,
    signature_eligibility,
    usable_from,
)
from lifecycle.decisions import DEFAULT_POLICIES, Policies
from lifecycle.errors import RuleViolation
from storage.memory import memory_env
from tests.helpers.support import KEY, PIN_VALUES, Clock, Story, active_card, at, certificates_of, d, stamp

SECOND = timedelta(seconds=1)
DOB = d("1980-10-10")
RFC5280 = {
    "unspecified": 0,
    "keyCompromise": 1,
    "cACompromise": 2,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
    "certificateHold": 6,
    "removeFromCRL": 8,
    "privilegeWithdrawn": 9,
    "aACompromise": 10,
}
"""CRLReason, RFC 5280 §5.3.1 (value 7 is unused)."""
HANDOVER = {"identity_documents": ["driving_licence"], "notification_card": "collected"}
SIG_AND_PIN = {"kinds": ["SIG"], "juki_pin_confirmed": True, "sig_pin": "AB12CD"}
BOTH_AND_PINS = {
    "kinds": ["SIG", "AUTH"],
    "juki_pin_confirmed": True,
    "sig_pin": "AB12CD",
    "auth_pin": "1234",
}


# ----------------------------------------------------------------------------- helpers


@pytest.fixture
def make_story(clock: Clock) -> Iterator[Callable[[Policies], Story]]:
    """A story on its own service with the given policies (D04, D05, D09 …)."""
    opened: list[CardLifecycle] = []

    def make(policies: Policies) -> Story:
        app = CardLifecycle(
            env=memory_env(),
            holder_key=KEY,
            policies=policies,
            clock=clock,
        )
        opened.append(app)
        return Story(app, clock)

    yield make
    for app in opened:
        app.close()


def position(app: CardLifecycle) -> int:
    return app.recorder.max_notification_id() or 0


def current(story: Story, kind: str) -> Certificate:
    """The card's latest certificate of ``kind``, as a relying party reads it (by serial)."""
    cert_id = story.card.certificates[kind]
    loaded = story.app.load_certificate(cert_id)
    assert loaded is not None
    return story.app.get_certificate(loaded.serial)


def of_kind(story: Story, kind: str) -> list[Certificate]:
    return [c for c in certificates_of(story.app, story.card) if c.kind == kind]


def cert_events(story: Story, cert: Certificate) -> list[Any]:
    return list(story.app.events.get(cert.id))


def only(events: list[Any], cls: type) -> Any:
    found = [e for e in events if isinstance(e, cls)]
    assert len(found) == 1, [type(e).__name__ for e in events]
    return found[0]


def assert_revoked(
    story: Story, cert: Certificate, name: str, when: datetime, rule: str | None = None
) -> None:
    """Revoked from ``when`` on, with RFC 5280 ``name`` and its code on the stored event."""
    revoked = only(cert_events(story, cert), CertificateRevoked)
    assert revoked.reason_name == name
    assert revoked.reason_code == RFC5280[name]
    assert revoked.effective_at == when
    if rule is not None:
        assert revoked.rule == rule
    fresh = story.app.get_certificate(cert.serial)
    assert fresh.status == "revoked"
    assert not fresh.is_valid(when)
    assert fresh.validity(when).valid is False


def valid_until(cert: Certificate, last_instant: datetime) -> None:
    """Valid at ``last_instant`` and invalid one second later."""
    assert cert.is_valid(last_instant), cert.validity(last_instant)
    assert not cert.is_valid(last_instant + SECOND)


def valid_from(cert: Certificate, first_instant: datetime) -> None:
    """Invalid one second before ``first_instant`` and valid from it."""
    assert not cert.is_valid(first_instant - SECOND)
    assert cert.is_valid(first_instant), cert.validity(first_instant)


def refused(story: Story, rule: str, command: type[m.Command], when: str, **fields: Any) -> RuleViolation:
    """Refused under ``rule``, and nothing written."""
    before = position(story.app)
    with pytest.raises(RuleViolation) as info:
        story.run(command, when, **fields)
    assert info.value.rule == rule, info.value
    assert position(story.app) == before
    return info.value


def renewed_2024(story: Story) -> None:
    """DOB 1980-10-10, card 2020-05-15 → 2029-10-10; certificates first issued at handover
    (→ 2024-10-10) and renewed after expiry on Fri 2024-11-01 → 2029-10-10 (R35, R36, R38)."""
    story.to_active()
    story.run(cm.RenewCertificates, "2024-11-01T10:00", kinds=["SIG", "AUTH"])
    assert current(story, "AUTH").expires_on == d("2029-10-10")
    assert current(story, "SIG").expires_on == d("2029-10-10")


def issued_2022(story: Story) -> None:
    """DOB 1980-10-10, card issued and handed over 2022-11-01: card → 2032-10-10, SIG and
    AUTH → 2027-10-10 (the R39 example)."""
    story.to_active(
        applied="2022-10-01T09:00",
        accepted="2022-10-20",
        issued="2022-11-01",
        handed_over="2022-11-01T10:00",
        photo_taken_on="2022-09-01",
    )
    assert story.card.expires_on == d("2032-10-10")


CARD_PINS = {"juki_pin": "1234", "card_details_pin": "1234"}
"""R54: the two PINs every card with PINs sets; a certificate's PIN only with the certificate."""


def activate(
    story: Story,
    pins: dict[str, str],
    applied: str = "2020-05-01T09:00",
    accepted: str = "2020-05-10",
    issued: str = "2020-05-15",
    handed_over: str = "2020-06-20T10:00",
    **application_fields: Any,
) -> None:
    """``Story.to_active`` with the PINs the card needs (``pins``), not always all four."""
    story.apply(applied, **application_fields)
    story.run(m.AcceptApplication, f"{accepted}T09:00", effective_at=accepted)
    story.run(m.ProduceCard, f"{issued}T09:00", effective_at=issued)
    story.run(m.HandOverCard, handed_over, **HANDOVER, **pins)


def declined(story: Story) -> None:
    """A card whose certificates were declined at application (R34)."""
    activate(story, CARD_PINS, wants_signature_certificate=False, wants_user_certificate=False)
    assert certificates_of(story.app, story.card) == []


# ----------------------------------------------------------------------------- R34 issued with the card


def test_R34_certificates_are_issued_with_the_card_by_default(story: Story) -> None:
    result = story.to_active()
    issued = list(certificates_of(story.app, story.card))
    assert sorted(c.kind for c in issued) == ["AUTH", "SIG"]
    for cert in issued:
        event = only(cert_events(story, cert), CertificateIssued)
        assert event.via == "card_issue"
        assert event.card_id == story.card.id
        assert event.issue_date == d("2020-06-20")
        assert event.fee_yen == 0
        assert cert.status == "active"
        assert len(cert.serial) == 20
    assert [e.type for e in result.events].count("CertificateIssued") == 2


def test_R34_declined_at_application_then_added_on_2025_05_01_free(story: Story) -> None:
    declined(story)
    assert "CertificateAdded" not in story.event_types()

    result = story.run(cm.IssueCertificates, "2025-05-01T10:00", **BOTH_AND_PINS)

    assert [e.type for e in result.events].count("CertificateIssued") == 2
    for kind in ("AUTH", "SIG"):
        cert = current(story, kind)
        event = only(cert_events(story, cert), CertificateIssued)
        assert (event.issue_date, event.via, event.fee_yen) == (d("2025-05-01"), "counter", 0)
        assert cert.card_id == story.card.id


def test_R34_card_showing_the_old_address_is_refused_until_the_card_information_change(story: Story) -> None:
    declined(story)
    story.run(m.RecordMoveOut, "2025-04-01T10:00", planned_move_out_on="2025-04-05")
    story.run(m.FileMoveIn, "2025-04-10T10:00", planned_move_out_on="2025-04-05", moved_in_on="2025-04-06")

    refused(story, "R34", cm.IssueCertificates, "2025-04-11T10:00", **BOTH_AND_PINS)

    story.run(m.ChangeCardInformation, "2025-04-20T10:00", facts=["address"], pin_confirmed=True)
    story.run(cm.IssueCertificates, "2025-05-01T10:00", **BOTH_AND_PINS)
    assert current(story, "SIG").issue_date == d("2025-05-01")


def test_R34_adding_certificates_needs_the_juki_pin(story: Story) -> None:
    declined(story)
    refused(
        story,
        "R34",
        cm.IssueCertificates,
        "2025-05-01T10:00",
        **{**BOTH_AND_PINS, "juki_pin_confirmed": False},
    )


def test_R34_agent_request_goes_through_an_inquiry_letter_and_is_not_same_day(story: Story) -> None:
    declined(story)
    agent = {"role": "agent", "letter_of_delegation": True}
    refused(
        story,
        "R34",
        cm.IssueCertificates,
        "2025-05-01T10:00",
        kinds=["AUTH"],
        juki_pin_confirmed=True,
        auth_pin="1234",
        filed_by=agent,
    )


def test_R34_a_card_already_carrying_a_valid_certificate_is_not_given_a_second(story: Story) -> None:
    story.to_active()
    refused(story, "R34", cm.IssueCertificates, "2021-05-01T10:00", **BOTH_AND_PINS)


def test_R34_certificate_pin_is_needed_with_the_certificate(story: Story) -> None:
    declined(story)
    refused(story, "R54", cm.IssueCertificates, "2025-05-01T10:00", kinds=["SIG"], juki_pin_confirmed=True)


# ----------------------------------------------------------------------------- R35 AUTH expiry


def test_R35_pure_auth_expiry_examples() -> None:
    common = {"dob": DOB, "card_expires_on": d("2029-10-10"), "policies": DEFAULT_POLICIES}
    assert certificate_expiry("AUTH", issue_date=d("2020-05-15"), **common) == d("2024-10-10")
    # The 5th birthday would be 2031-10-10: capped by the card.
    assert certificate_expiry("AUTH", issue_date=d("2027-03-01"), **common) == d("2029-10-10")
    # A birthday on the issue date does not count.
    assert certificate_expiry("AUTH", issue_date=d("2020-10-10"), **common) == d("2025-10-10")
    assert certificate_expiry("AUTH", issue_date=d("2020-10-09"), **common) == d("2024-10-10")


def test_R35_auth_issued_with_the_card_on_2020_05_15_runs_to_2024_10_10(story: Story) -> None:
    story.to_active(handed_over="2020-05-15T10:00")
    assert story.card.expires_on == d("2029-10-10")
    auth = current(story, "AUTH")
    assert (auth.issue_date, auth.expires_on) == (d("2020-05-15"), d("2024-10-10"))
    valid_until(auth, at("2024-10-10T23:59:59"))
    assert auth.validity(at("2024-10-11")).rule == "R35"


def test_R35_auth_issued_2027_03_01_is_capped_by_the_card_at_2029_10_10(story: Story) -> None:
    story.to_active(handed_over="2020-05-15T10:00")
    story.run(cm.RenewCertificates, "2027-03-01T10:00", kinds=["AUTH"])
    auth = current(story, "AUTH")
    assert (auth.issue_date, auth.expires_on) == (d("2027-03-01"), d("2029-10-10"))
    valid_until(auth, at("2029-10-10T23:59:59"))


# ----------------------------------------------------------------------------- R36 SIG capped by AUTH


def test_R36_pure_sig_expiry_is_capped_by_auth_and_card() -> None:
    common = {"dob": DOB, "card_expires_on": d("2029-10-10"), "policies": DEFAULT_POLICIES}
    issued = d("2023-01-20")
    assert certificate_expiry("SIG", issue_date=issued, auth_expires_on=d("2024-10-10"), **common) == d(
        "2024-10-10"
    )
    # Without an AUTH the AUTH term is ignored (assumption in R36).
    assert certificate_expiry("SIG", issue_date=issued, **common) == d("2027-10-10")
    # The card caps it too.
    assert certificate_expiry(
        "SIG", issue_date=issued, dob=DOB, card_expires_on=d("2026-01-31"), policies=DEFAULT_POLICIES
    ) == d("2026-01-31")


def test_R36_sig_reissued_2023_01_20_after_a_move_is_capped_by_auth_at_2024_10_10(story: Story) -> None:
    story.to_active()
    story.run(m.ChangeCardInformation, "2023-01-10T10:00", facts=["address"], pin_confirmed=True)

    story.run(cm.IssueCertificates, "2023-01-20T10:00", **SIG_AND_PIN)

    sig = current(story, "SIG")
    assert sig.issue_date == d("2023-01-20")
    assert sig.expires_on == current(story, "AUTH").expires_on == d("2024-10-10")
    valid_until(sig, at("2024-10-10T23:59:59"))


def test_R36_sig_issued_together_with_auth_is_capped_by_the_new_auth(story: Story) -> None:
    story.to_active(handed_over="2020-05-15T10:00")
    story.run(cm.RenewCertificates, "2027-03-01T10:00", kinds=["SIG", "AUTH"])
    assert current(story, "SIG").expires_on == current(story, "AUTH").expires_on == d("2029-10-10")


# ----------------------------------------------------------------------------- R37 stay


def test_R37_foreign_resident_certificates_end_with_the_stay_on_2026_08_31(story: Story) -> None:
    story.to_active(
        applied="2023-12-01T09:00",
        accepted="2023-12-10",
        issued="2024-01-10",
        handed_over="2024-01-10T10:00",
        date_of_birth="1990-05-05",
        photo_taken_on="2023-11-01",
        residence_status="student",
        stay_until="2026-08-31",
    )
    assert story.card.expires_on == d("2026-08-31")
    for kind in ("SIG", "AUTH"):
        cert = current(story, kind)
        assert cert.expires_on == d("2026-08-31")
        valid_until(cert, at("2026-08-31T23:59:59"))


def test_R37_pure_stay_cap_passes_through_the_card_expiry() -> None:
    for kind in ("SIG", "AUTH"):
        assert certificate_expiry(
            kind,  # type: ignore[arg-type]
            dob=d("1990-05-05"),
            issue_date=d("2024-01-10"),
            card_expires_on=d("2026-08-31"),
            policies=DEFAULT_POLICIES,
        ) == d("2026-08-31")


# ----------------------------------------------------------------------------- R38 renewal window


@pytest.mark.parametrize(
    ("expiry", "opens"),
    [
        ("2025-04-01", "2025-01-02"),
        ("2025-05-30", "2025-03-01"),
        ("2025-05-31", "2025-03-01"),
        ("2024-05-29", "2024-03-01"),
        ("2025-12-31", "2025-10-01"),
        ("2024-10-10", "2024-07-11"),
    ],
)
def test_R38_window_opens_the_day_after_expiry_minus_3_months(expiry: str, opens: str) -> None:
    assert renewal_window_opens(d(expiry)) == d(opens)


def test_R38_renewal_refused_the_day_before_the_window_and_accepted_on_its_first_day(story: Story) -> None:
    issued_2022(story)
    old = current(story, "AUTH")
    assert old.expires_on == d("2027-10-10")
    error = refused(story, "R38", cm.RenewCertificates, "2027-07-10T10:00", kinds=["AUTH"])
    assert "2027-07-11" in error.message

    story.run(cm.RenewCertificates, "2027-07-11T10:00", kinds=["AUTH"])

    new = current(story, "AUTH")
    assert new.serial != old.serial
    assert only(cert_events(story, new), CertificateIssued).via == "renewal"
    assert_revoked(story, old, "superseded", at("2027-07-11T10:00"))


def test_R38_renewal_after_expiry_is_allowed_and_free(story: Story) -> None:
    issued_2022(story)
    story.run(cm.RenewCertificates, "2027-11-15T10:00", kinds=["SIG", "AUTH"])
    for kind in ("SIG", "AUTH"):
        cert = current(story, kind)
        event = only(cert_events(story, cert), CertificateIssued)
        assert (event.issue_date, event.fee_yen) == (d("2027-11-15"), 0)
        # Not inside the window: the 5th birthday after 2027-11-15, whatever D04 says.
        assert cert.expires_on == d("2032-10-10")


def test_R38_there_is_nothing_to_renew_without_a_certificate(story: Story) -> None:
    declined(story)
    refused(story, "R38", cm.RenewCertificates, "2025-05-01T10:00", kinds=["AUTH"])


# ------------------------------------------------------------------------ R39 renewal inside the window (D04)


def test_R39_pure_birthdays_by_policy() -> None:
    assert birthdays_for(True, DEFAULT_POLICIES) == 5
    assert birthdays_for(True, Policies(renewed_certificate_validity="sixth")) == 6
    assert birthdays_for(False, Policies(renewed_certificate_validity="sixth")) == 5


@pytest.mark.parametrize(
    ("policies", "expected"),
    [
        (DEFAULT_POLICIES, "2031-10-10"),  # D04 default: 5th birthday, as seed 002 says
        (Policies(renewed_certificate_validity="sixth"), "2032-10-10"),  # J-LIS: 6th (= card expiry)
    ],
    ids=["fifth", "sixth"],
)
def test_R39_renewed_2027_08_01_inside_the_window(
    make_story: Callable[[Policies], Story], policies: Policies, expected: str
) -> None:
    story = make_story(policies)
    issued_2022(story)
    assert current(story, "SIG").expires_on == d("2027-10-10")

    story.run(cm.RenewCertificates, "2027-08-01T10:00", kinds=["SIG", "AUTH"])

    for kind in ("SIG", "AUTH"):
        cert = current(story, kind)
        assert (cert.issue_date, cert.expires_on) == (d("2027-08-01"), d(expected))
        valid_until(cert, at(f"{expected}T23:59:59"))


def test_R39_sixth_birthday_is_still_capped_by_the_card(make_story: Callable[[Policies], Story]) -> None:
    story = make_story(Policies(renewed_certificate_validity="sixth"))
    story.to_active(handed_over="2020-05-15T10:00")  # card → 2029-10-10, AUTH → 2024-10-10
    story.run(cm.RenewCertificates, "2024-08-01T10:00", kinds=["AUTH"])
    # 6th birthday after 2024-08-01 is 2029-10-10 = the card's expiry (5th: 2028-10-10).
    assert current(story, "AUTH").expires_on == d("2029-10-10")


# --------------------------------------------------------------------------- R40 no SIG under 15 / adult ward


def child_story(story: Story) -> None:
    """DOB 2010-05-01, card issued 2023-03-15 (minor → 2027-05-01), handed over at 12 with
    PINs set by the legal representative."""
    story.apply("2023-03-01T09:00", date_of_birth="2010-05-01", photo_taken_on="2023-02-01")
    story.run(m.AcceptApplication, "2023-03-10T09:00")
    story.run(m.ProduceCard, "2023-03-15T09:00")
    story.run(
        m.HandOverCard,
        "2023-04-01T10:00",
        **HANDOVER,
        auth_pin="1234",
        juki_pin="1234",
        card_details_pin="1234",
        pins_set_by="legal_representative",
    )


def test_R40_pure_signature_eligibility() -> None:
    dob = d("2010-05-01")
    assert not signature_eligibility(
        dob, d("2025-04-30"), adult_ward=False, face_recognition_card=False
    ).allowed
    assert signature_eligibility(dob, d("2025-05-01"), adult_ward=False, face_recognition_card=False).allowed
    ward = signature_eligibility(DOB, d("2025-05-01"), adult_ward=True, face_recognition_card=False)
    assert (ward.allowed, ward.rule) == (False, "R40")


def test_R40_child_gets_auth_only_at_handover_and_sig_is_withheld(story: Story) -> None:
    child_story(story)
    assert [c.kind for c in certificates_of(story.app, story.card)] == ["AUTH"]
    withheld = only(list(story.app.events.get(story.card.id)), ev.CertificateWithheld)
    assert (withheld.kind, withheld.rule) == ("SIG", "R40")


def test_R40_sig_refused_on_2025_04_30_at_14_and_issued_on_2025_05_01_at_15(story: Story) -> None:
    child_story(story)
    refused(story, "R40", cm.IssueCertificates, "2025-04-30T10:00", **SIG_AND_PIN)
    assert "SIG" not in story.card.certificates

    story.run(cm.IssueCertificates, "2025-05-01T10:00", **SIG_AND_PIN)

    sig = current(story, "SIG")
    assert sig.issue_date == d("2025-05-01")
    # Capped by the AUTH (and the minor's card), both 2027-05-01 (R36).
    assert sig.expires_on == current(story, "AUTH").expires_on == d("2027-05-01")


def test_R40_adult_ward_never_gets_a_sig(story: Story) -> None:
    activate(story, {**CARD_PINS, "auth_pin": "1234"}, adult_ward=True)
    assert [c.kind for c in certificates_of(story.app, story.card)] == ["AUTH"]
    withheld = only(list(story.app.events.get(story.card.id)), ev.CertificateWithheld)
    assert (withheld.kind, withheld.rule) == ("SIG", "R40")
    refused(story, "R40", cm.IssueCertificates, "2021-05-01T10:00", **SIG_AND_PIN)


# ----------------------------------------------------------------------------- R41 4-info change (D09)


def test_R41_move_within_the_city_on_2025_06_01_revokes_sig_immediately_auth_untouched(story: Story) -> None:
    renewed_2024(story)
    sig, auth = current(story, "SIG"), current(story, "AUTH")

    result = story.run(m.ChangeCardInformation, "2025-06-01T10:00", facts=["address"], pin_confirmed=True)

    assert [e.type for e in result.events] == ["AddressChanged", "CertificateRevoked"]
    assert_revoked(story, sig, "affiliationChanged", at("2025-06-01T10:00"), rule="R41")
    assert story.app.get_certificate(sig.serial).is_valid(at("2025-06-01T10:00") - SECOND)
    auth = story.app.get_certificate(auth.serial)
    assert auth.status == "active"
    assert [type(e) for e in cert_events(story, auth)] == [CertificateIssued]
    valid_until(auth, at("2029-10-10T23:59:59"))


def test_R41_next_day_policy_revokes_sig_at_2025_06_02_00_00(make_story: Callable[[Policies], Story]) -> None:
    story = make_story(Policies(signature_revocation_timing="next_day"))
    renewed_2024(story)
    sig = current(story, "SIG")

    story.run(m.ChangeCardInformation, "2025-06-01T10:00", facts=["address"], pin_confirmed=True)

    assert_revoked(story, sig, "affiliationChanged", at("2025-06-02T00:00"), rule="R41")
    valid_until(story.app.get_certificate(sig.serial), at("2025-06-01T23:59:59"))
    assert current(story, "AUTH").is_valid(at("2025-06-02T12:00"))


@pytest.mark.parametrize(
    "change",
    [
        {"facts": ["name"]},
        {"facts": ["sex"]},
        {"facts": ["date_of_birth"], "new_date_of_birth": "1980-10-11"},
        {"facts": ["former_surname"], "former_surname_action": "added"},
        {"facts": ["former_surname"], "former_surname_action": "changed"},
        {"facts": ["former_surname"], "former_surname_action": "deleted"},
        {"facts": ["name", "address"]},
    ],
    ids=["name", "sex", "dob", "kyuji-added", "kyuji-changed", "kyuji-deleted", "name+address"],
)
def test_R41_each_of_the_facts_and_the_former_surname_revoke_sig_not_auth(
    story: Story, change: dict[str, Any]
) -> None:
    renewed_2024(story)
    sig, auth = current(story, "SIG"), current(story, "AUTH")

    story.run(m.ChangeCardInformation, "2025-07-01T10:00", pin_confirmed=True, **change)

    assert_revoked(story, sig, "affiliationChanged", at("2025-07-01T10:00"), rule="R41")
    assert story.app.get_certificate(auth.serial).status == "active"
    assert story.app.get_certificate(auth.serial).is_valid(at("2025-07-02T10:00"))


def test_R41_move_between_municipalities_revokes_sig_when_the_move_in_is_accepted(story: Story) -> None:
    renewed_2024(story)
    sig, auth = current(story, "SIG"), current(story, "AUTH")
    story.run(m.RecordMoveOut, "2025-05-20T10:00", planned_move_out_on="2025-05-25")
    assert story.app.get_certificate(sig.serial).status == "active"

    story.run(m.FileMoveIn, "2025-06-01T10:00", planned_move_out_on="2025-05-25", moved_in_on="2025-05-28")

    assert_revoked(story, sig, "affiliationChanged", at("2025-06-01T10:00"), rule="R41")
    assert story.app.get_certificate(auth.serial).is_valid(at("2025-06-01T10:00"))


def test_R41_R10_new_sig_after_a_move_is_applied_for_by_the_holder_and_free(story: Story) -> None:
    renewed_2024(story)
    story.run(m.ChangeCardInformation, "2025-06-01T10:00", facts=["address"], pin_confirmed=True)
    household = {"role": "household_member", "same_household": True}
    refused(story, "R34", cm.IssueCertificates, "2025-06-02T10:00", **SIG_AND_PIN, filed_by=household)

    story.run(cm.IssueCertificates, "2025-06-02T10:00", **SIG_AND_PIN)

    event = only(cert_events(story, current(story, "SIG")), CertificateIssued)
    assert event.fee_yen == 0


# ----------------------------------------------------------------------------- R42 other revocation causes


def test_R42_revocation_request_on_2025_02_03_invalid_from_that_moment(story: Story) -> None:
    renewed_2024(story)
    auth, sig = current(story, "AUTH"), current(story, "SIG")

    story.run(cm.RevokeCertificate, "2025-02-03T10:00", kind="AUTH", effective_at="2025-02-03")

    assert_revoked(story, auth, "unspecified", at("2025-02-03"), rule="R42")
    assert story.app.get_certificate(auth.serial).is_valid(at("2025-02-02T23:59:59"))
    assert story.app.get_certificate(sig.serial).status == "active"


def test_R42_revoking_twice_is_refused(story: Story) -> None:
    renewed_2024(story)
    story.run(cm.RevokeCertificate, "2025-02-03T10:00", kind="AUTH")
    refused(story, "R42", cm.RevokeCertificate, "2025-02-04T10:00", kind="AUTH")


def test_R42_expiry_is_recorded_once_its_last_day_has_passed(story: Story) -> None:
    story.to_active()
    auth = current(story, "AUTH")
    story.run(m.RecordLapses, "2024-10-10T23:00")
    assert story.app.get_certificate(auth.serial).status == "active"

    story.run(m.RecordLapses, "2024-10-11T09:00")

    expired = only(cert_events(story, auth), CertificateExpired)
    assert expired.effective_at == at("2024-10-11")
    assert expired.expired_on == d("2024-10-11")
    assert story.app.get_certificate(auth.serial).status == "expired"
    assert story.card.status == "active"


def test_R42_death_revokes_the_certificates_with_cessation_of_operation(story: Story) -> None:
    renewed_2024(story)
    sig, auth = current(story, "SIG"), current(story, "AUTH")
    story.run(m.InvalidateCard, "2025-07-03T10:00", reason="death")
    for cert in (sig, auth):
        assert_revoked(story, cert, "cessationOfOperation", at("2025-07-03T10:00"), rule="R32")


# ----------------------------------------------------------------------------- R43 usable from (D08)


@pytest.mark.parametrize(
    ("issued", "sig_from", "auth_from"),
    [
        ("2025-06-04T10:15", "2025-06-05T10:15", "2025-06-05T06:30"),  # Wednesday
        ("2025-06-07T10:15", "2025-06-08T10:15", "2025-06-10T06:30"),  # Saturday → Tue
        ("2025-05-03T10:15", "2025-05-04T10:15", "2025-05-08T06:30"),  # Sat, Golden Week → Thu
        ("2025-12-27T10:15", "2025-12-28T10:15", "2026-01-06T06:30"),  # Sat, year-end break
        ("2025-07-21T10:15", "2025-07-22T10:15", "2025-07-23T06:30"),  # Marine Day (Mon, D08)
        ("2025-06-06T23:59", "2025-06-07T23:59", "2025-06-07T06:30"),  # Friday late: next day
    ],
)
def test_R43_pure_usable_from(issued: str, sig_from: str, auth_from: str) -> None:
    assert usable_from("SIG", at(issued)) == at(sig_from)
    assert usable_from("AUTH", at(issued)) == at(auth_from)
    assert usable_from("SP-AUTH", at(issued)) == at(issued)


@pytest.mark.parametrize(
    ("issued", "sig_from", "auth_from"),
    [
        ("2025-06-04T10:15", "2025-06-05T10:15", "2025-06-05T06:30"),
        ("2025-06-07T10:15", "2025-06-08T10:15", "2025-06-10T06:30"),
        ("2025-05-03T10:15", "2025-05-04T10:15", "2025-05-08T06:30"),
        ("2025-12-27T10:15", "2025-12-28T10:15", "2026-01-06T06:30"),
    ],
    ids=["wed", "sat", "golden-week", "year-end"],
)
def test_R43_issued_certificates_are_usable_from_exactly_the_stated_instant(
    story: Story, issued: str, sig_from: str, auth_from: str
) -> None:
    declined(story)
    story.run(cm.IssueCertificates, issued, **BOTH_AND_PINS)
    sig, auth = current(story, "SIG"), current(story, "AUTH")
    assert (sig.usable_from, auth.usable_from) == (at(sig_from), at(auth_from))
    assert only(cert_events(story, auth), CertificateIssued).usable_from == at(auth_from)
    valid_from(sig, at(sig_from))
    valid_from(auth, at(auth_from))
    assert sig.validity(at(sig_from) - SECOND).rule == "R43"


def test_R43_renewed_certificates_have_the_same_delay(story: Story) -> None:
    issued_2022(story)
    story.run(cm.RenewCertificates, "2027-08-07T10:15", kinds=["SIG", "AUTH"])  # a Saturday
    valid_from(current(story, "SIG"), at("2027-08-08T10:15"))
    valid_from(current(story, "AUTH"), at("2027-08-10T06:30"))


# ----------------------------------------------------------------------------- R44 expiry notice


def test_R44_renewal_in_the_window_needs_no_expiry_notice(story: Story) -> None:
    """Certificate expires 2025-10-10; renewal on 2025-07-15 without any notice → ok."""
    story.to_active(
        applied="2020-10-01T09:00",
        accepted="2020-10-20",
        issued="2020-11-02",
        handed_over="2020-11-02T10:00",
        photo_taken_on="2020-09-01",
    )
    assert current(story, "AUTH").expires_on == d("2025-10-10")
    assert "ExpiryNoticeDue" not in story.event_types()

    story.run(cm.RenewCertificates, "2025-07-15T10:00", kinds=["SIG", "AUTH"])

    assert current(story, "AUTH").issue_date == d("2025-07-15")


def test_R44_expiry_notice_due_is_recorded_on_the_card_informational_only() -> None:
    """R44 is modelled only at the domain level (``Card.record_expiry_notice_due``, event
    ``ExpiryNoticeDue`` with the card's expiry); no command schedules or records it."""
    card = active_card()
    before = card.status
    card.record_expiry_notice_due(stamp("2029-07-10T09:00"))
    notice = card.pending_events[-1]
    assert isinstance(notice, ev.ExpiryNoticeDue)
    assert notice.expires_on == d("2029-10-10")
    assert card.status == before


# ----------------------------------------------------------------------------- R45 smartphone certificates


def with_phone(story: Story, device: str = "phone-A", when: str = "2025-01-05T10:00") -> None:
    story.run(cm.IssueSmartphoneCertificates, when, device=device, sig_pin_confirmed=True)


def test_R45_smartphone_certificates_are_an_sp_sig_and_an_sp_auth_on_one_phone(story: Story) -> None:
    renewed_2024(story)
    result = story.run(
        cm.IssueSmartphoneCertificates, "2025-01-05T10:00", device="phone-A", sig_pin_confirmed=True
    )
    assert "SmartphoneRegistered" in [e.type for e in result.events]
    for kind in ("SP-SIG", "SP-AUTH"):
        cert = current(story, kind)
        event = only(cert_events(story, cert), CertificateIssued)
        assert (event.device, event.via, event.fee_yen) == ("phone-A", "smartphone", 0)
        valid_from(cert, at("2025-01-05T10:00"))


def test_R45_sig_pin_is_needed(story: Story) -> None:
    renewed_2024(story)
    refused(
        story,
        "R45",
        cm.IssueSmartphoneCertificates,
        "2025-01-05T10:00",
        device="phone-A",
        sig_pin_confirmed=False,
    )


def test_R45_sig_revoked_by_a_move_blocks_sp_until_a_new_sig_is_issued_and_usable(story: Story) -> None:
    renewed_2024(story)
    story.run(m.ChangeCardInformation, "2025-06-01T10:00", facts=["address"], pin_confirmed=True)

    refused(
        story,
        "R45",
        cm.IssueSmartphoneCertificates,
        "2025-06-02T10:00",
        device="phone-A",
        sig_pin_confirmed=True,
    )

    story.run(cm.IssueCertificates, "2025-06-03T10:00", **SIG_AND_PIN)
    # The new SIG is usable 24 hours after issue (R43): not a valid SIG before that.
    refused(
        story,
        "R45",
        cm.IssueSmartphoneCertificates,
        "2025-06-04T09:59",
        device="phone-A",
        sig_pin_confirmed=True,
    )
    with_phone(story, when="2025-06-04T10:00")
    assert current(story, "SP-SIG").is_valid(at("2025-06-04T10:00"))


def test_R45_a_new_phone_revokes_the_old_phones_certificates(story: Story) -> None:
    renewed_2024(story)
    with_phone(story, "phone-A")
    old = {kind: current(story, kind) for kind in ("SP-SIG", "SP-AUTH")}

    with_phone(story, "phone-B", when="2025-03-01T12:00")

    for kind, cert in old.items():
        assert_revoked(story, cert, "superseded", at("2025-03-01T12:00"))
        assert cert.device == "phone-A"
        new = current(story, kind)
        assert (new.device, new.status) == ("phone-B", "active")
        assert new.serial != cert.serial
    assert story.card.smartphone_device == "phone-B"


def test_R45_the_same_phone_does_not_get_a_second_set(story: Story) -> None:
    renewed_2024(story)
    with_phone(story, "phone-A")
    refused(
        story,
        "R45",
        cm.IssueSmartphoneCertificates,
        "2025-02-01T10:00",
        device="phone-A",
        sig_pin_confirmed=True,
    )


def test_R45_suspended_card_gets_no_smartphone_certificates(story: Story) -> None:
    renewed_2024(story)
    story.run(m.SuspendCard, "2025-01-04T10:00")
    refused(
        story,
        "R49",
        cm.IssueSmartphoneCertificates,
        "2025-01-05T10:00",
        device="phone-A",
        sig_pin_confirmed=True,
    )


# ----------------------------------------------------------------------- R46 SP follows the card certificates


def test_R46_sp_issued_2025_01_05_expires_with_the_card_sig_on_2027_10_10(story: Story) -> None:
    issued_2022(story)
    with_phone(story)
    for kind in ("SP-SIG", "SP-AUTH"):
        cert = current(story, kind)
        assert cert.expires_on == d("2027-10-10")
        valid_until(cert, at("2027-10-10T23:59:59"))


def test_R46_renewing_the_card_certificates_requires_but_does_not_renew_sp(story: Story) -> None:
    issued_2022(story)
    with_phone(story)
    sp = {kind: current(story, kind) for kind in ("SP-SIG", "SP-AUTH")}

    result = story.run(cm.RenewCertificates, "2027-08-01T10:00", kinds=["SIG", "AUTH"])

    assert "SmartphoneRenewalRequired" in [e.type for e in result.events]
    for kind, cert in sp.items():
        after = current(story, kind)
        assert after.serial == cert.serial
        assert after.status == "active"
        assert after.expires_on == d("2027-10-10")
        assert [type(e) for e in cert_events(story, after)] == [CertificateIssued]
        valid_until(after, at("2027-10-10T23:59:59"))

    story.run(cm.RenewSmartphoneCertificates, "2027-08-02T10:00", sig_pin_confirmed=True)

    for kind, cert in sp.items():
        assert_revoked(story, cert, "superseded", at("2027-08-02T10:00"))
        new = current(story, kind)
        assert new.serial != cert.serial
        assert new.expires_on == d("2031-10-10")


def test_R46_no_renewal_required_without_smartphone_certificates(story: Story) -> None:
    issued_2022(story)
    result = story.run(cm.RenewCertificates, "2027-08-01T10:00", kinds=["SIG", "AUTH"])
    assert "SmartphoneRenewalRequired" not in [e.type for e in result.events]


def test_R46_pure_sp_follows_its_card_counterpart() -> None:
    assert certificate_expiry(
        "SP-SIG",
        dob=DOB,
        issue_date=d("2025-01-05"),
        card_expires_on=d("2032-10-10"),
        counterpart_expires_on=d("2027-10-10"),
        policies=DEFAULT_POLICIES,
    ) == d("2027-10-10")
    with pytest.raises(ValueError):
        certificate_expiry(
            "SP-AUTH",
            dob=DOB,
            issue_date=d("2025-01-05"),
            card_expires_on=d("2032-10-10"),
            policies=DEFAULT_POLICIES,
        )


# ------------------------------------------------------------------ R47 the card ends: every certificate ends


def all_four(story: Story) -> list[Certificate]:
    renewed_2024(story)
    with_phone(story)
    certs = [current(story, kind) for kind in ("SIG", "AUTH", "SP-SIG", "SP-AUTH")]
    assert all(c.status == "active" for c in certs)
    return certs


def test_R47_card_expiring_2029_10_10_takes_every_certificate_incl_sp_from_2029_10_11(story: Story) -> None:
    certs = all_four(story)
    for cert in certs:
        assert cert.expires_on == d("2029-10-10")
        valid_until(story.app.get_certificate(cert.serial), at("2029-10-10T23:59:59"))

    story.run(m.RecordLapses, "2029-10-11T09:00")

    assert story.card.status == "expired"
    for cert in certs:
        after = story.app.get_certificate(cert.serial)
        assert after.status in {"expired", "revoked"}
        assert not after.is_valid(at("2029-10-11"))
        ended = cert_events(story, after)[-1]
        assert isinstance(ended, (CertificateExpired, CertificateRevoked))
        assert ended.effective_at == at("2029-10-11")


@pytest.mark.parametrize(
    ("command", "fields", "name", "rule"),
    [
        (m.InvalidateCard, {"reason": "death"}, "cessationOfOperation", "R32"),
        (m.InvalidateCard, {"reason": "resident_code_changed"}, "affiliationChanged", "R31"),
        (m.ReportLoss, {"lost_at_home": True}, "keyCompromise", "R51"),
        (m.ReturnCard, {"reason": "voluntary"}, "cessationOfOperation", "R52"),
    ],
    ids=["death", "resident-code", "loss", "return"],
)
def test_R47_card_invalidated_abolished_or_returned_revokes_every_certificate_incl_sp(
    story: Story, command: type[m.Command], fields: dict[str, Any], name: str, rule: str
) -> None:
    certs = all_four(story)

    result = story.run(command, "2025-07-03T10:00", **fields)

    assert [e.type for e in result.events].count("CertificateRevoked") == 4
    for cert in certs:
        if cert.kind in {"SIG", "AUTH"}:
            assert_revoked(story, cert, name, at("2025-07-03T10:00"), rule=rule)
        else:
            assert_revoked(story, cert, name, at("2025-07-03T10:00"))


def test_R47_D10_revoking_only_the_card_sig_revokes_sp_too_auth_stays(story: Story) -> None:
    sig, auth, sp_sig, sp_auth = all_four(story)

    story.run(cm.RevokeCertificate, "2025-04-01T10:00", kind="SIG")

    assert_revoked(story, sig, "unspecified", at("2025-04-01T10:00"), rule="R42")
    for cert in (sp_sig, sp_auth):
        revoked = only(cert_events(story, cert), CertificateRevoked)
        assert revoked.rule == "R47"
        assert RFC5280[revoked.reason_name] == revoked.reason_code
        assert not story.app.get_certificate(cert.serial).is_valid(at("2025-04-01T10:00"))
    assert story.app.get_certificate(auth.serial).is_valid(at("2025-04-01T10:00"))


def test_R47_suspension_revokes_sp_with_the_sig(story: Story) -> None:
    sig, _auth, sp_sig, sp_auth = all_four(story)
    story.run(m.SuspendCard, "2025-04-01T03:15")
    for cert in (sig, sp_sig, sp_auth):
        assert not story.app.get_certificate(cert.serial).is_valid(at("2025-04-01T03:15"))
        assert story.app.get_certificate(cert.serial).status == "revoked"


def reissue_story(story: Story, previous: Story, when: str, reason: str, **handover: Any) -> None:
    """A reissue of ``previous``'s card (same My Number) applied on ``when``'s date."""
    day = when[:10]
    story.apply(
        f"{day}T09:00",
        kind="reissue",
        reissue_reason=reason,
        previous_card=previous.application_id,
        photo_taken_on=day,
    )
    story.run(m.AcceptApplication, f"{day}T09:30")
    story.run(m.ProduceCard, f"{day}T09:45")
    story.run(
        m.HandOverCard,
        when,
        identity_documents=["driving_licence"],
        fee_paid_yen=story.card.outstanding_fee_yen,
        **PIN_VALUES,
        **handover,
    )


def test_R47_R62_new_card_handed_over_returns_the_old_card_and_revokes_its_certificates(
    app: CardLifecycle, story: Story, clock: Clock
) -> None:
    old = all_four(story)
    new = Story(app, clock)

    reissue_story(new, story, "2025-08-01T10:00", "card_defect", old_card_brought=True)

    # R62 (was: superseded, R47): the old card is returned at the handover, reason replaced.
    assert story.card.status == "returned"
    assert story.card.ended is not None
    assert (story.card.ended.rule, story.card.ended.reason) == ("R62", "replaced")
    assert story.card.superseded_by == new.card.id
    for cert in old:
        if cert.kind in {"SIG", "AUTH"}:
            assert_revoked(story, cert, "superseded", at("2025-08-01T10:00"), rule="R62")
        else:
            assert_revoked(story, cert, "superseded", at("2025-08-01T10:00"))
    assert sorted(c.kind for c in certificates_of(app, new.card)) == ["AUTH", "SIG"]
    assert all(c.card_id == new.card.id for c in certificates_of(app, new.card))


def test_R47_card_lapsed_by_a_missed_move_in_has_no_valid_certificate_even_before_it_is_recorded(
    story: Story,
) -> None:
    _sig, auth, _sp_sig, sp_auth = all_four(story)
    story.run(m.RecordMoveOut, "2025-03-01T10:00", planned_move_out_on="2025-03-01")
    # R28: no move-in filed by 2025-03-31 → the card is invalid from 2025-04-01.
    lapse = story.card.due_lapses(d("2025-04-01"), DEFAULT_POLICIES)
    assert [x.kind for x in lapse] == ["late_move_in"]
    for cert in (auth, sp_auth):
        # The certificate's own history knows nothing of the card's unrecorded lapse ...
        assert story.app.get_certificate(cert.serial).is_valid(at("2025-04-01"))
        # ... the relying party's question reads the card too.
        assert story.app.certificate_validity(cert.serial, at("2025-03-31T23:59:59")).valid
        refused = story.app.certificate_validity(cert.serial, at("2025-04-01"))
        assert not refused.valid
        assert refused.rule == "R28"


def test_R47_service_validity_counts_the_cards_unrecorded_lapse(story: Story) -> None:
    """``CardLifecycle.certificate_validity`` answers with the card: invalid from the lapse."""
    certs = all_four(story)
    story.run(m.RecordMoveOut, "2025-03-01T10:00", planned_move_out_on="2025-03-01")
    for cert in certs:
        assert story.app.certificate_validity(cert.serial, at("2025-03-31T23:59:59")).valid
        after = story.app.certificate_validity(cert.serial, at("2025-04-01"))
        assert (after.valid, after.rule) == (False, "R28")


def test_R47_recording_the_missed_move_in_revokes_every_certificate_from_the_lapse(story: Story) -> None:
    certs = all_four(story)
    story.run(m.RecordMoveOut, "2025-03-01T10:00", planned_move_out_on="2025-03-01")

    story.run(m.RecordLapses, "2025-04-15T09:00")

    assert story.card.status == "invalidated"
    for cert in certs:
        revoked = only(cert_events(story, cert), CertificateRevoked)
        assert revoked.effective_at == at("2025-04-01")
        assert RFC5280[revoked.reason_name] == revoked.reason_code
        assert not story.app.get_certificate(cert.serial).is_valid(at("2025-04-01"))


# ----------------------------------------------------------------------------- R48 lost phone


def test_R48_phone_lost_2025_03_01_found_2025_03_04(story: Story) -> None:
    sig, auth, sp_sig, sp_auth = all_four(story)

    story.run(cm.SuspendSmartphone, "2025-03-01T10:00")

    for cert in (sp_sig, sp_auth):
        hold = only(cert_events(story, cert), CertificatePutOnHold)
        assert hold.reason_code == RFC5280["certificateHold"]
        assert hold.effective_at == at("2025-03-01T10:00")
        after = story.app.get_certificate(cert.serial)
        assert after.status == "on_hold"
        valid_until(after, at("2025-03-01T09:59:59"))
    # The card's own certificates are untouched.
    assert story.app.get_certificate(sig.serial).is_valid(at("2025-03-02"))
    assert story.app.get_certificate(auth.serial).is_valid(at("2025-03-02"))

    story.run(cm.LiftSmartphoneSuspension, "2025-03-04T10:00")

    released = only(cert_events(story, sp_auth), CertificateReleased)
    assert released.reason_code == RFC5280["removeFromCRL"]
    sp_auth_after = story.app.get_certificate(sp_auth.serial)
    assert sp_auth_after.status == "active"
    valid_from(sp_auth_after, at("2025-03-04T10:00"))
    assert not sp_auth_after.is_valid(at("2025-03-02T12:00"))  # the hold stays in its history

    assert_revoked(story, sp_sig, "superseded", at("2025-03-04T10:00"), rule="R48")
    new_sp_sig = current(story, "SP-SIG")
    assert new_sp_sig.serial != sp_sig.serial
    assert new_sp_sig.device == sp_sig.device
    event = only(cert_events(story, new_sp_sig), CertificateIssued)
    assert event.replaces_serial == sp_sig.serial
    valid_from(new_sp_sig, at("2025-03-04T10:00"))


def test_R48_suspending_twice_or_lifting_without_suspension_is_refused(story: Story) -> None:
    all_four(story)
    refused(story, "R48", cm.LiftSmartphoneSuspension, "2025-03-01T10:00")
    story.run(cm.SuspendSmartphone, "2025-03-01T10:00")
    refused(story, "R48", cm.SuspendSmartphone, "2025-03-01T11:00")


def test_R48_no_phone_no_suspension(story: Story) -> None:
    renewed_2024(story)
    refused(story, "R48", cm.SuspendSmartphone, "2025-03-01T10:00")


# ----------------------------------------------------------------------------- R49/R50 with D05 (policies)


def test_R49_D05_suspension_revokes_sig_and_holds_auth_lifting_releases_auth_only(story: Story) -> None:
    renewed_2024(story)
    sig, auth = current(story, "SIG"), current(story, "AUTH")

    result = story.run(m.SuspendCard, "2025-01-05T03:15")

    assert sorted(e.type for e in result.events) == [
        "CertificatePutOnHold",
        "CertificateRevoked",
        "Suspended",
    ]
    assert_revoked(story, sig, "keyCompromise", at("2025-01-05T03:15"), rule="R49")
    hold = only(cert_events(story, auth), CertificatePutOnHold)
    assert (hold.reason_code, hold.effective_at) == (RFC5280["certificateHold"], at("2025-01-05T03:15"))
    valid_until(story.app.get_certificate(auth.serial), at("2025-01-05T03:14:59"))
    assert not story.app.get_certificate(sig.serial).is_valid(at("2025-01-05T09:00"))

    story.run(m.LiftSuspension, "2025-01-08T10:00")

    released = only(cert_events(story, auth), CertificateReleased)
    assert (released.reason_code, released.effective_at) == (RFC5280["removeFromCRL"], at("2025-01-08T10:00"))
    auth_after = story.app.get_certificate(auth.serial)
    valid_from(auth_after, at("2025-01-08T10:00"))
    assert story.app.get_certificate(sig.serial).status == "revoked"
    assert not story.app.get_certificate(sig.serial).is_valid(at("2025-01-09"))


def test_R49_D05_revoke_both_policy(make_story: Callable[[Policies], Story]) -> None:
    story = make_story(Policies(suspension_effect="revoke_both"))
    renewed_2024(story)
    sig, auth = current(story, "SIG"), current(story, "AUTH")
    story.run(m.SuspendCard, "2025-01-05T03:15")
    assert_revoked(story, sig, "keyCompromise", at("2025-01-05T03:15"))
    assert_revoked(story, auth, "keyCompromise", at("2025-01-05T03:15"))
    story.run(m.LiftSuspension, "2025-01-08T10:00")
    assert story.app.get_certificate(auth.serial).status == "revoked"


# ----------------------------------------------------------------------------- R10 certificate fees


def test_R10_adding_certificates_later_and_reissuing_sig_after_a_move_are_free(story: Story) -> None:
    declined(story)
    story.run(cm.IssueCertificates, "2025-05-01T10:00", **BOTH_AND_PINS)
    story.run(m.ChangeCardInformation, "2025-06-01T10:00", facts=["address"], pin_confirmed=True)
    story.run(cm.IssueCertificates, "2025-06-02T10:00", **SIG_AND_PIN)
    fees = [
        only(cert_events(story, c), CertificateIssued).fee_yen for c in certificates_of(story.app, story.card)
    ]
    assert fees == [0, 0, 0]


def test_R10_card_lost_and_reissued_with_certificates_carries_200_yen_of_the_1000(
    app: CardLifecycle, story: Story, clock: Clock
) -> None:
    story.to_active()
    story.run(m.ReportLoss, "2025-02-12T10:00", lost_at_home=True)
    new = Story(app, clock)

    reissue_story(new, story, "2025-03-10T10:00", "loss")

    assessed = only(list(app.events.get(new.card.id)), ev.FeeAssessed)
    assert (assessed.amount_yen, assessed.card_yen, assessed.certificate_yen) == (1000, 800, 200)
    certs = certificates_of(app, new.card)
    assert sorted(c.kind for c in certs) == ["AUTH", "SIG"]
    fees = [only(cert_events(new, c), CertificateIssued).fee_yen for c in certs]
    assert sum(fees) == 200
    assert sorted(fees) == [0, 200]


def test_R10_card_reissued_without_certificates_issues_none_and_charges_800(
    app: CardLifecycle, story: Story, clock: Clock
) -> None:
    story.to_active()
    story.run(m.ReportLoss, "2025-02-12T10:00", lost_at_home=True)
    new = Story(app, clock)
    new.apply(
        "2025-03-10T09:00",
        kind="reissue",
        reissue_reason="loss",
        previous_card=story.application_id,
        photo_taken_on="2025-03-01",
        wants_signature_certificate=False,
        wants_user_certificate=False,
    )
    assessed = only(list(app.events.get(new.card.id)), ev.FeeAssessed)
    assert (assessed.amount_yen, assessed.certificate_yen) == (800, 0)


# ----------------------------------------------------------------------------- helpers' own sanity


def test_certificate_serial_lookup_is_exact(story: Story) -> None:
    story.to_active()
    sig = current(story, "SIG")
    assert story.app.get_certificate(sig.serial.lower()).id == sig.id
    assert isinstance(story.card, Card)
    assert sig.issued_at == at("2020-06-20T10:00")
    assert isinstance(sig.issue_date, date)
