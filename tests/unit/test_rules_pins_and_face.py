"""PINs (R54–R57), the face-recognition card (R58) and the fees as the events record them
(R07–R10), through the real service on the test storage (SQLite, or PostgreSQL with
``MYNACARD_TEST_DATABASE_URL``) and, for the PIN format, at the function level.

PIN values must never leave the command model: not in a stored event, an error, a
``CommandResult`` or a log line, and not in the raw storage (the SQLite files' bytes, or every
row of every table of the PostgreSQL schema).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from commands import certificate_models as cm
from commands import models as m
from commands.application import CardLifecycle, CommandResult
from commands.errors import InputError
from lifecycle.card import events as ev
from lifecycle.certificate import Certificate, CertificateIssued, CertificateRevoked
from lifecycle.decisions import Policies
from lifecycle.errors import RuleViolation
from lifecycle.pins import check_pin_format
from storage.memory import memory_env
from tests.helpers.support import KEY, PIN_VALUES, Clock, Story, at, attempts, certificates_of, d, my_number

RFC5280 = {"unspecified": 0, "keyCompromise": 1, "superseded": 4, "privilegeWithdrawn": 9}
HANDOVER = {"identity_documents": ["driving_licence"], "notification_card": "collected"}
CARD_PINS = {"juki_pin": "1234", "card_details_pin": "1234"}


# ----------------------------------------------------------------------------- helpers


def position(app: CardLifecycle) -> int:
    return app.recorder.max_notification_id() or 0


def refused(story: Story, rule: str, command: type[m.Command], when: str, **fields: Any) -> RuleViolation:
    before = position(story.app)
    with pytest.raises(RuleViolation) as info:
        story.run(command, when, **fields)
    assert info.value.rule == rule, info.value
    assert position(story.app) == before
    return info.value


def card_events_of(story: Story, cls: type) -> list[Any]:
    return [e for e in list(story.app.events.get(story.card.id)) if isinstance(e, cls)]


def current(story: Story, kind: str) -> Certificate:
    cert = story.app.load_certificate(story.card.certificates[kind])
    assert cert is not None
    return cert


def cert_events(story: Story, cert: Certificate) -> list[Any]:
    return list(story.app.events.get(cert.id))


def activate(
    story: Story,
    pins: dict[str, str],
    applied: str = "2020-05-01T09:00",
    handed_over: str = "2020-06-20T10:00",
    **application_fields: Any,
) -> CommandResult:
    story.apply(applied, **application_fields)
    story.run(m.AcceptApplication, "2020-05-10T09:00", effective_at="2020-05-10")
    story.run(m.ProduceCard, "2020-05-15T09:00", effective_at="2020-05-15")
    return story.run(m.HandOverCard, handed_over, **HANDOVER, **pins)


# ----------------------------------------------------------------------------- R54 formats


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("sig", "AB12CD"),
        ("sig", "A1" * 8),  # 16 characters
        ("sig", "1A2B3C4D"),
        ("auth", "1234"),
        ("juki", "0000"),
        ("card_details", "9876"),
    ],
)
def test_R54_accepted_pin_formats(kind: str, value: str) -> None:
    check_pin_format(kind, value)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("sig", "abc123"),  # lowercase
        ("sig", "ABCDEF"),  # letters only
        ("sig", "123456"),  # digits only
        ("sig", "A1B2C"),  # 5 characters
        ("sig", "A1B2C3D4E5F6G7H8I"),  # 17 characters
        ("sig", "AB12C!"),
        ("sig", "ＡＢ１２ＣＤ"),  # full-width
        ("auth", "12A4"),
        ("juki", "12A4"),
        ("card_details", "12A4"),
        ("auth", "123"),
        ("auth", "12345"),
        ("auth", "١٢٣٤"),  # non-ASCII digits
    ],
)
def test_R54_rejected_pin_formats_and_the_error_never_echoes_the_value(kind: str, value: str) -> None:
    with pytest.raises(RuleViolation) as info:
        check_pin_format(kind, value)
    assert info.value.rule == "R54"
    assert value not in str(info.value)
    assert value not in json.dumps(info.value.as_dict(), ensure_ascii=False)


@pytest.mark.parametrize(
    ("field", "value"),
    [("sig_pin", "abc123"), ("sig_pin", "A1B2C3D4E5F6G7H8I"), ("auth_pin", "12A4"), ("juki_pin", "98765")],
)
def test_R54_a_malformed_pin_is_refused_at_the_boundary_without_echoing_it(
    story: Story, field: str, value: str
) -> None:
    story.apply()
    story.run(m.AcceptApplication, "2020-05-10T09:00")
    story.run(m.ProduceCard, "2020-05-15T09:00")
    before = position(story.app)
    with pytest.raises(ValidationError) as info:
        story.run(m.HandOverCard, "2020-06-20T10:00", **HANDOVER, **{**PIN_VALUES, field: value})
    error = info.value
    texts = [str(error), repr(error), error.json(), json.dumps(InputError.from_validation(error).as_dict())]
    for text in texts:
        assert value not in text
    issues = InputError.from_validation(error).issues
    assert [(i.field, i.rule) for i in issues] == [(field, "R54")]
    assert position(story.app) == before


@pytest.mark.parametrize("missing", ["juki_pin", "card_details_pin", "auth_pin", "sig_pin"])
def test_R54_missing_pins_at_handover_are_refused(story: Story, missing: str) -> None:
    story.apply()
    story.run(m.AcceptApplication, "2020-05-10T09:00")
    story.run(m.ProduceCard, "2020-05-15T09:00")
    pins = {k: v for k, v in PIN_VALUES.items() if k != missing}
    error = refused(story, "R54", m.HandOverCard, "2020-06-20T10:00", **HANDOVER, **pins)
    assert missing.removesuffix("_pin") in error.message
    assert story.card.status == "produced"


def test_R54_pins_set_records_which_pins_never_their_values(story: Story) -> None:
    story.to_active()
    pins_set = card_events_of(story, ev.PinsSet)
    assert len(pins_set) == 1
    assert sorted(pins_set[0].pins) == ["auth", "card_details", "juki", "sig"]
    assert pins_set[0].set_by == "holder"
    assert story.card.pins == {"auth": 0, "card_details": 0, "juki": 0, "sig": 0}


# ----------------------------------------------------------------------------- R55 lockout


def test_R55_auth_wrong_wrong_right_resets_the_counter(story: Story) -> None:
    story.to_active()
    attempts(story, "auth", "xxo")
    assert story.card.pins["auth"] == 0
    failed = card_events_of(story, ev.PinFailed)
    assert [(e.pin, e.failures) for e in failed] == [("auth", 1), ("auth", 2)]
    assert [e.pin for e in card_events_of(story, ev.PinCounterReset)] == ["auth"]
    assert card_events_of(story, ev.PinLocked) == []
    # Three more wrong entries are needed to lock it now.
    attempts(story, "auth", "xx")
    assert card_events_of(story, ev.PinLocked) == []


def test_R55_auth_wrong_three_times_locks_it(story: Story) -> None:
    story.to_active()
    attempts(story, "auth", "xx")
    assert card_events_of(story, ev.PinLocked) == []
    attempts(story, "auth", "x")
    assert [e.pin for e in card_events_of(story, ev.PinLocked)] == ["auth"]
    assert story.card.pins["auth"] == -1
    refused(story, "R55", cm.RecordPinAttempt, "2021-01-10T11:00", pin="auth", success=True)


def test_R55_sig_wrong_four_times_then_right_is_ok_fifth_wrong_locks(story: Story) -> None:
    story.to_active()
    attempts(story, "sig", "xxxxo")
    assert story.card.pins["sig"] == 0
    assert card_events_of(story, ev.PinLocked) == []
    attempts(story, "sig", "xxxx")
    assert card_events_of(story, ev.PinLocked) == []
    attempts(story, "sig", "x")
    locked = card_events_of(story, ev.PinLocked)
    assert [e.pin for e in locked] == ["sig"]
    assert card_events_of(story, ev.PinFailed)[-1].failures == 5


@pytest.mark.parametrize("pin", ["juki", "card_details"])
def test_R55_juki_and_card_details_lock_after_three(story: Story, pin: str) -> None:
    story.to_active()
    attempts(story, pin, "xxx")
    assert [e.pin for e in card_events_of(story, ev.PinLocked)] == [pin]


def test_R55_no_reset_by_date_or_time(story: Story) -> None:
    story.to_active()
    attempts(story, "auth", "xx", when="2021-01-10T10:00")
    attempts(story, "auth", "x", when="2022-06-01T10:00")
    assert [e.pin for e in card_events_of(story, ev.PinLocked)] == ["auth"]


def test_R55_a_pin_the_card_does_not_have_cannot_be_tried(story: Story) -> None:
    activate(story, {**CARD_PINS, "auth_pin": "1234"}, wants_signature_certificate=False)
    refused(story, "R55", cm.RecordPinAttempt, "2021-01-10T10:00", pin="sig", success=False)


# ----------------------------------------------------------------------------- R56 reset


def locked_auth(story: Story) -> None:
    story.to_active()
    attempts(story, "auth", "xxx")
    assert story.card.pins["auth"] == -1


def test_R56_auth_locked_sig_pin_known_kiosk_reset_ok(story: Story) -> None:
    locked_auth(story)
    story.run(
        cm.ResetPin,
        "2021-01-11T10:00",
        pin="auth",
        new_pin="5678",
        channel="kiosk",
        other_certificate_pin_known=True,
    )
    reset = card_events_of(story, ev.PinReset)
    assert [(e.pin, e.channel) for e in reset] == [("auth", "kiosk")]
    assert story.card.pins["auth"] == 0
    attempts(story, "auth", "o", when="2021-01-11T11:00")


def test_R56_both_unknown_kiosk_refused_counter_only(story: Story) -> None:
    locked_auth(story)
    refused(
        story,
        "R56",
        cm.ResetPin,
        "2021-01-11T10:00",
        pin="auth",
        new_pin="5678",
        channel="kiosk",
        other_certificate_pin_known=False,
    )
    story.run(
        cm.ResetPin,
        "2021-01-11T10:00",
        pin="auth",
        new_pin="5678",
        channel="counter",
        forgotten=True,
        additional_id=True,
    )
    assert [e.channel for e in card_events_of(story, ev.PinReset)] == ["counter"]


def test_R56_kiosk_refused_when_the_other_pin_is_locked(story: Story) -> None:
    story.to_active()
    attempts(story, "auth", "xxx")
    attempts(story, "sig", "xxxxx")
    refused(
        story,
        "R56",
        cm.ResetPin,
        "2021-01-11T10:00",
        pin="auth",
        new_pin="5678",
        channel="kiosk",
        other_certificate_pin_known=True,
    )


def test_R56_kiosk_does_not_reset_the_juki_pin(story: Story) -> None:
    story.to_active()
    attempts(story, "juki", "xxx")
    refused(
        story,
        "R56",
        cm.ResetPin,
        "2021-01-11T10:00",
        pin="juki",
        new_pin="5678",
        channel="kiosk",
        other_certificate_pin_known=True,
    )


def test_R56_phone_request_is_refused(story: Story) -> None:
    locked_auth(story)
    refused(story, "R56", cm.ResetPin, "2021-01-11T10:00", pin="auth", new_pin="5678", channel="phone")


def test_R56_forgotten_pin_needs_one_more_identity_document(story: Story) -> None:
    locked_auth(story)
    refused(
        story,
        "R56",
        cm.ResetPin,
        "2021-01-11T10:00",
        pin="auth",
        new_pin="5678",
        channel="counter",
        forgotten=True,
    )
    story.run(
        cm.ResetPin,
        "2021-01-11T10:00",
        pin="auth",
        new_pin="5678",
        channel="counter",
        forgotten=True,
        additional_id=True,
    )
    assert story.card.pins["auth"] == 0


def test_R56_agent_goes_through_an_inquiry_letter(story: Story) -> None:
    locked_auth(story)
    refused(
        story,
        "R56",
        cm.ResetPin,
        "2021-01-11T10:00",
        pin="auth",
        new_pin="5678",
        filed_by={"role": "agent", "letter_of_delegation": True},
    )


def test_R56_new_pin_format_is_checked(story: Story) -> None:
    locked_auth(story)
    with pytest.raises(ValidationError) as info:
        story.run(cm.ResetPin, "2021-01-11T10:00", pin="sig", new_pin="12A4")
    assert "12A4" not in str(info.value)
    assert [i.rule for i in InputError.from_validation(info.value).issues] == ["R54"]


# ----------------------------------------------------------------------------- R57 change


def test_R57_juki_pin_via_home_refused_at_the_counter_ok(story: Story) -> None:
    story.to_active()
    refused(story, "R57", cm.ChangePin, "2021-01-11T10:00", pin="juki", new_pin="5678", channel="home")
    story.run(cm.ChangePin, "2021-01-11T10:00", pin="juki", new_pin="5678", channel="counter")
    assert [(e.pin, e.channel) for e in card_events_of(story, ev.PinChanged)] == [("juki", "counter")]


@pytest.mark.parametrize(("pin", "new_pin"), [("sig", "NEW123"), ("auth", "5678"), ("card_details", "5678")])
def test_R57_the_other_three_can_be_changed_at_home(story: Story, pin: str, new_pin: str) -> None:
    story.to_active()
    story.run(cm.ChangePin, "2021-01-11T10:00", pin=pin, new_pin=new_pin, channel="home")
    assert [(e.pin, e.channel) for e in card_events_of(story, ev.PinChanged)] == [(pin, "home")]


def test_R57_a_locked_pin_is_reset_not_changed(story: Story) -> None:
    locked_auth(story)
    refused(story, "R56", cm.ChangePin, "2021-01-11T10:00", pin="auth", new_pin="5678", channel="counter")


# ----------------------------------------------------------------------------- R58 face-recognition card


def face_card(story: Story) -> CommandResult:
    return activate(story, {}, face_recognition_card=True, wants_signature_certificate=False)


def test_R58_face_card_has_no_pins_and_no_sig_auth_is_face_only(story: Story) -> None:
    result = face_card(story)
    assert story.card.face_recognition_card
    assert story.card.pins == {}
    assert card_events_of(story, ev.PinsSet) == []
    assert [c.kind for c in certificates_of(story.app, story.card)] == ["AUTH"]
    auth = current(story, "AUTH")
    assert auth.face_only is True
    assert next(e for e in cert_events(story, auth) if isinstance(e, CertificateIssued)).face_only is True
    assert "CertificateIssued" in [e.type for e in result.events]


def test_R58_face_card_with_a_sig_is_refused_at_application(story: Story) -> None:
    before = position(story.app)
    with pytest.raises(RuleViolation) as info:
        story.apply(face_recognition_card=True)
    assert info.value.rule == "R58"
    assert position(story.app) == before


def test_R58_face_card_handover_with_pins_is_refused(story: Story) -> None:
    story.apply(face_recognition_card=True, wants_signature_certificate=False)
    story.run(m.AcceptApplication, "2020-05-10T09:00")
    story.run(m.ProduceCard, "2020-05-15T09:00")
    refused(story, "R58", m.HandOverCard, "2020-06-20T10:00", **HANDOVER, **CARD_PINS)


def test_R58_face_card_refuses_pin_use_a_sig_and_smartphone_certificates(story: Story) -> None:
    face_card(story)
    refused(story, "R58", cm.RecordPinAttempt, "2021-01-10T10:00", pin="auth", success=True)
    refused(
        story,
        "R58",
        cm.IssueCertificates,
        "2021-01-10T10:00",
        kinds=["SIG"],
        juki_pin_confirmed=True,
        sig_pin="AB12CD",
    )
    refused(
        story, "R58", cm.IssueSmartphoneCertificates, "2021-01-10T10:00", device="p", sig_pin_confirmed=True
    )
    refused(story, "R58", cm.ChangePin, "2021-01-10T10:00", pin="auth", new_pin="5678", channel="counter")


def test_R58_switching_to_face_revokes_sig_and_sp_with_privilege_withdrawn(story: Story) -> None:
    story.to_active()
    story.run(cm.RenewCertificates, "2024-11-01T10:00", kinds=["SIG", "AUTH"])
    story.run(cm.IssueSmartphoneCertificates, "2025-01-05T10:00", device="phone-A", sig_pin_confirmed=True)
    sig, auth = current(story, "SIG"), current(story, "AUTH")
    sp = [current(story, "SP-SIG"), current(story, "SP-AUTH")]

    result = story.run(cm.SetFaceRecognitionMode, "2025-03-01T10:00", enabled=True)

    assert "FaceRecognitionModeSet" in [e.type for e in result.events]
    revoked = next(e for e in cert_events(story, sig) if isinstance(e, CertificateRevoked))
    assert (revoked.reason_name, revoked.reason_code, revoked.rule) == (
        "privilegeWithdrawn",
        RFC5280["privilegeWithdrawn"],
        "R58",
    )
    assert revoked.effective_at == at("2025-03-01T10:00")
    for cert in sp:
        assert story.app.get_certificate(cert.serial).status == "revoked"
    assert story.app.get_certificate(auth.serial).is_valid(at("2025-03-02"))
    assert story.card.pins == {}
    assert story.card.face_recognition_card


def test_R58_switching_to_face_with_pins_is_refused(story: Story) -> None:
    story.to_active()
    refused(story, "R58", cm.SetFaceRecognitionMode, "2021-03-01T10:00", enabled=True, **CARD_PINS)


def test_R58_switching_back_needs_the_pins_and_gives_no_sig_back(story: Story) -> None:
    story.to_active()
    story.run(cm.SetFaceRecognitionMode, "2021-03-01T10:00", enabled=True)
    refused(story, "R54", cm.SetFaceRecognitionMode, "2021-04-01T10:00", enabled=False)
    refused(story, "R54", cm.SetFaceRecognitionMode, "2021-04-01T10:00", enabled=False, **CARD_PINS)

    story.run(cm.SetFaceRecognitionMode, "2021-04-01T10:00", enabled=False, auth_pin="1234", **CARD_PINS)

    assert not story.card.face_recognition_card
    assert sorted(story.card.pins) == ["auth", "card_details", "juki"]
    assert sorted(card_events_of(story, ev.PinsSet)[-1].pins) == ["auth", "card_details", "juki"]
    assert current(story, "SIG").status == "revoked"
    # A new SIG is applied for separately, free (R10, R34).
    story.run(
        cm.IssueCertificates, "2021-04-02T10:00", kinds=["SIG"], juki_pin_confirmed=True, sig_pin="AB12CD"
    )
    assert current(story, "SIG").status == "active"


def test_R58_switching_to_face_makes_the_auth_face_verified_only(story: Story) -> None:
    """Regression: the AUTH kept face_only=False after the switch (spec: 'AUTH pin_mode=face')."""
    story.to_active()
    story.run(cm.SetFaceRecognitionMode, "2021-03-01T10:00", enabled=True)
    auth = story.app.get_certificate(current(story, "AUTH").serial)
    assert auth.status == "active"
    assert auth.face_only is True


# ----------------------------------------------------------------------------- R07–R10 fees on the events


def reissue(
    app: CardLifecycle,
    clock: Clock,
    previous: Story,
    day: str,
    reason: str,
    *,
    number: str | None = None,
    **application_fields: Any,
) -> Story:
    new = Story(app, clock, my_number_=number or previous.my_number)
    new.apply(
        f"{day}T09:00",
        kind="reissue",
        reissue_reason=reason,
        previous_card=previous.application_id,
        photo_taken_on=day,
        **application_fields,
    )
    new.run(m.AcceptApplication, f"{day}T09:30")
    new.run(m.ProduceCard, f"{day}T09:45")
    return new


def assessed(story: Story) -> list[tuple[int, int, int, bool, str, str, str]]:
    return [
        (e.amount_yen, e.card_yen, e.certificate_yen, e.fault, e.reason, e.rule, e.stage)
        for e in card_events_of(story, ev.FeeAssessed)
    ]


def test_R07_first_card_is_free(story: Story) -> None:
    story.to_active()
    assert assessed(story) == [(0, 0, 0, False, "first_card", "R07", "application")]


def test_R07_R10_lost_card_reissued_with_certificates_1000_yen_200_on_the_certificates(
    app: CardLifecycle, story: Story, clock: Clock
) -> None:
    story.to_active()
    story.run(m.ReportLoss, "2025-02-12T10:00", lost_at_home=True)
    new = reissue(app, clock, story, "2025-03-10", "loss")
    assert assessed(new) == [(1000, 800, 200, True, "loss", "R07", "application")]
    refused(new, "R08", m.HandOverCard, "2025-03-20T10:00", **HANDOVER, **PIN_VALUES)

    new.run(m.HandOverCard, "2025-03-20T10:00", **HANDOVER, **PIN_VALUES, fee_paid_yen=1000)

    assert [(e.amount_yen, e.stage) for e in card_events_of(new, ev.FeePaid)] == [(1000, "handover")]
    fees = {
        c.kind: next(e for e in cert_events(new, c) if isinstance(e, CertificateIssued)).fee_yen
        for c in certificates_of(app, new.card)
    }
    assert sorted(fees) == ["AUTH", "SIG"]
    assert sum(fees.values()) == 200


def test_R07_lost_card_reissued_without_certificates_800_yen(
    app: CardLifecycle, story: Story, clock: Clock
) -> None:
    story.to_active()
    story.run(m.ReportLoss, "2025-02-12T10:00", lost_at_home=True)
    new = reissue(
        app,
        clock,
        story,
        "2025-03-10",
        "loss",
        wants_signature_certificate=False,
        wants_user_certificate=False,
    )
    assert assessed(new) == [(800, 800, 0, True, "loss", "R07", "application")]
    new.run(m.HandOverCard, "2025-03-20T10:00", **HANDOVER, **CARD_PINS, fee_paid_yen=800)
    assert certificates_of(app, new.card) == []


def test_R07_expiry_renewal_applied_2030_01_after_expiry_2029_10_10_is_free(
    app: CardLifecycle, story: Story, clock: Clock
) -> None:
    story.to_active()
    new = Story(app, clock)
    new.apply(
        "2030-01-10T09:00", kind="renewal", previous_card=story.application_id, photo_taken_on="2030-01-01"
    )
    assert assessed(new) == [(0, 0, 0, False, "renewal", "R07", "application")]


def test_R07_R10_renewal_after_expiry_is_handed_over_free_with_free_certificates(
    app: CardLifecycle, story: Story, clock: Clock
) -> None:
    """Regression: superseding the old card, expired without a recorded lapse, refused (R19)."""
    story.to_active()
    new = Story(app, clock)
    new.apply(
        "2030-01-10T09:00", kind="renewal", previous_card=story.application_id, photo_taken_on="2030-01-01"
    )
    new.run(m.AcceptApplication, "2030-01-15T09:00")
    new.run(m.ProduceCard, "2030-01-20T09:00")

    new.run(m.HandOverCard, "2030-02-01T10:00", **HANDOVER, **PIN_VALUES)

    assert new.card.status == "active"
    assert story.card.status != "active"
    fees = [
        next(e for e in cert_events(new, c) if isinstance(e, CertificateIssued)).fee_yen
        for c in certificates_of(app, new.card)
    ]
    assert fees == [0, 0]


def test_R07_R62_no_fault_reissue_old_card_not_brought_is_charged_1000_and_the_old_card_handled_as_lost(
    app: CardLifecycle, story: Story, clock: Clock
) -> None:
    story.to_active()
    new = reissue(app, clock, story, "2025-03-10", "card_defect")
    assert assessed(new) == [(0, 0, 0, False, "card_defect", "R07", "application")]
    refused(new, "R07", m.HandOverCard, "2025-03-20T10:00", **HANDOVER, **PIN_VALUES)

    new.run(
        m.HandOverCard,
        "2025-03-20T10:00",
        **HANDOVER,
        **PIN_VALUES,
        old_card_brought=False,
        fee_paid_yen=1000,
    )

    assert assessed(new)[-1] == (1000, 800, 200, True, "old_card_not_brought", "R07", "handover")
    # R62 (was: superseded): the old card, not brought to the handover, is handled as lost.
    assert story.card.status == "abolished"
    assert story.card.ended is not None
    assert (story.card.ended.rule, story.card.ended.reason) == ("R62", "not_brought")


def test_R07_no_fault_reissue_old_card_brought_is_free(
    app: CardLifecycle, story: Story, clock: Clock
) -> None:
    story.to_active()
    new = reissue(app, clock, story, "2025-03-10", "card_defect")
    new.run(m.HandOverCard, "2025-03-20T10:00", **HANDOVER, **PIN_VALUES, old_card_brought=True)
    assert [a[0] for a in assessed(new)] == [0]
    assert card_events_of(new, ev.FeePaid) == []


def test_R07_my_number_changed_reissue_old_card_not_brought_1000_yen(
    app: CardLifecycle, story: Story, clock: Clock
) -> None:
    """Regression: the reissue under the NEW My Number was refused ('belongs to another person')."""
    story.to_active()
    new_number = my_number(987654321)
    story.run(m.InvalidateCard, "2025-02-01T10:00", reason="my_number_changed", new_my_number=new_number)

    new = reissue(app, clock, story, "2025-02-10", "my_number_changed", number=new_number)

    assert assessed(new) == [(0, 0, 0, False, "my_number_changed", "R07", "application")]
    new.run(
        m.HandOverCard,
        "2025-02-20T10:00",
        **HANDOVER,
        **PIN_VALUES,
        old_card_brought=False,
        fee_paid_yen=1000,
    )
    assert assessed(new)[-1][0] == 1000


def test_R07_noto_loss_with_disaster_certificate_is_free_without_it_charged(
    app: CardLifecycle, story: Story, clock: Clock
) -> None:
    story.to_active()
    story.run(m.ReportLoss, "2024-01-05T10:00", lost_at_home=True)
    free = reissue(app, clock, story, "2024-02-01", "disaster_noto_2024", disaster_certificate=True)
    assert [a[0] for a in assessed(free)] == [0]
    # R63: one application in progress per person: the first is cancelled before the second.
    free.run(m.CancelApplication, "2024-02-01T16:00")
    charged = reissue(app, clock, story, "2024-02-02", "disaster_noto_2024")
    assert [a[0] for a in assessed(charged)] == [1000]


def test_R08_D07_fee_collected_at_application_policy(clock: Clock) -> None:
    app = CardLifecycle(
        env=memory_env(),
        holder_key=KEY,
        policies=Policies(fee_due_by="application"),
        clock=clock,
    )
    try:
        old = Story(app, clock)
        old.to_active()
        old.run(m.ReportLoss, "2025-02-12T10:00", lost_at_home=True)
        new = Story(app, clock)
        fields: dict[str, Any] = {
            "kind": "reissue",
            "reissue_reason": "loss",
            "previous_card": old.application_id,
            "photo_taken_on": "2025-03-01",
        }
        before = position(app)
        with pytest.raises(RuleViolation) as info:
            new.apply("2025-03-10T09:00", **fields)
        assert info.value.rule == "R08"
        assert position(app) == before
        new.apply("2025-03-10T09:00", **fields, fee_paid=True)
        assert [(e.amount_yen, e.stage) for e in card_events_of(new, ev.FeePaid)] == [(1000, "application")]
        assert new.card.outstanding_fee_yen == 0
    finally:
        app.close()


def test_R09_card_lapsed_with_the_stay_is_reissued_for_1000_yen(
    app: CardLifecycle, story: Story, clock: Clock
) -> None:
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
    story.run(m.RecordLapses, "2026-09-01T09:00")
    assert story.card.status == "expired"
    new = Story(app, clock)
    new.apply(
        "2026-09-15T09:00",
        kind="renewal",
        previous_card=story.application_id,
        photo_taken_on="2026-09-01",
        date_of_birth="1990-05-05",
        residence_status="student",
        stay_until="2029-08-31",
    )
    assert assessed(new) == [(1000, 800, 200, True, "stay_expired", "R09", "application")]


def test_R10_adding_certificates_later_is_free(story: Story) -> None:
    activate(story, CARD_PINS, wants_signature_certificate=False, wants_user_certificate=False)
    story.run(
        cm.IssueCertificates,
        "2025-05-01T10:00",
        kinds=["SIG", "AUTH"],
        juki_pin_confirmed=True,
        sig_pin="AB12CD",
        auth_pin="1234",
    )
    for cert in certificates_of(story.app, story.card):
        issued = next(e for e in cert_events(story, cert) if isinstance(e, CertificateIssued))
        assert (issued.fee_yen, issued.issue_date) == (0, d("2025-05-01"))
    assert [a[0] for a in assessed(story)] == [0]


def test_R58_an_expired_sig_is_not_renewed_onto_a_face_card(story: Story) -> None:
    """Found by the certificate state machine: the SIG had expired when the card became a face
    card (so nothing was revoked), and renewing it afterwards issued a SIG onto the face card.
    Every path that issues a SIG checks R40/R58 (Card.require_signature_eligibility)."""
    story.to_active()
    sig = current(story, "SIG")
    assert sig.expires_on is not None
    after_expiry = sig.expires_on + timedelta(days=2)
    story.run(cm.SetFaceRecognitionMode, f"{after_expiry.isoformat()}T10:00", enabled=True)
    assert story.card.face_recognition_card
    refused(story, "R58", cm.RenewCertificates, f"{after_expiry.isoformat()}T11:00", kinds=["SIG"])
    assert current(story, "SIG").serial == sig.serial
