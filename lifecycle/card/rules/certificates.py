"""What certificates (電子証明書) the card may carry and who may ask for them: the plan issued
with the card (R34, R36, R40, R58), a later request (R34, R41), the signature certificate's
holder (R40, R58), a revocation request (R42), and the smartphone certificates (R45, R48).

May import: the standard library, ``lifecycle`` leaf modules (certificate_rules, errors,
filers) and ``lifecycle.card.vocabulary``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from lifecycle.certificate_rules import signature_eligibility
from lifecycle.errors import RuleViolation, UncoveredCase
from lifecycle.filers import Filer, check_legal_representative_authority
from lifecycle.pins import PIN_KINDS


def certificate_plan(
    date_of_birth: date,
    on: date,
    *,
    wants_user_certificate: bool,
    wants_signature_certificate: bool,
    adult_ward: bool,
    face_recognition_card: bool,
) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """R34: the certificates issued with the card unless declined, AUTH first (R36);
    R40/R58: a SIG withheld (rule, why) for an under-15, an adult ward or a face-recognition card."""
    plan: list[str] = []
    withheld: dict[str, tuple[str, str]] = {}
    if wants_user_certificate:
        plan.append("AUTH")
    if wants_signature_certificate:
        eligibility = signature_eligibility(
            date_of_birth, on, adult_ward=adult_ward, face_recognition_card=face_recognition_card
        )
        if eligibility.allowed:
            plan.append("SIG")
        else:
            withheld["SIG"] = (eligibility.rule, eligibility.why)
    return plan, withheld


def require_signature_eligibility(
    date_of_birth: date, on: date, *, adult_ward: bool, face_recognition_card: bool
) -> None:
    """R40, R58: a signature certificate only for a holder of 15 or more on ``on``, not an
    adult ward, on a card that is not a face-recognition card."""
    eligibility = signature_eligibility(
        date_of_birth, on, adult_ward=adult_ward, face_recognition_card=face_recognition_card
    )
    if not eligibility.allowed:
        raise RuleViolation(eligibility.rule, eligibility.why)


def check_certificate_request(
    kinds: Sequence[str],
    filer: Filer,
    juki_pin_confirmed: bool,
    *,
    renewal: bool,
    face_details_outdated: bool,
    holder_under_15: bool,
    holder_adult_ward: bool,
    face_recognition_card: bool,
    inquiry_answered: bool = False,
) -> None:
    """R34: certificates go onto a card whose face details are up to date, with the 住基 PIN;
    an agent's request goes through an inquiry letter (not the same day); a SIG is applied for
    by the holder himself (R41), an under-15's AUTH by the legal representative (R18)."""
    if not renewal and face_details_outdated:
        raise RuleViolation(
            "R34",
            "the card's face details are not up to date",
            hint="complete the card-information change (券面記載事項変更) first",
        )
    if filer.role in {"agent", "household_member"} and not inquiry_answered:
        raise RuleViolation(
            "R34",
            "a request by someone other than the holder goes through an inquiry letter (照会書) "
            "and is not done the same day",
            hint="send the inquiry letter (mynacard send-inquiry CARD --procedure certificates --subject "
            "AUTH --filed-by agent …), then come back with the holder's answer (--inquiry-answered)",
        )
    if "SIG" in kinds and filer.role != "holder":
        raise RuleViolation("R41", "a signature certificate is applied for by the holder in person")
    if filer.role == "legal_representative":
        check_legal_representative_authority(
            filer, holder_under_15=holder_under_15, holder_adult_ward=holder_adult_ward
        )
    if not renewal and not juki_pin_confirmed and not face_recognition_card:
        raise RuleViolation("R34", "the 住基 4-digit PIN must be entered to add certificates")


def check_smartphone_registration(
    device: str,
    device_has_live_certificates: bool,
    *,
    registered_device: str | None,
    face_recognition_card: bool,
) -> None:
    """R45: smartphone certificates go onto one phone; R58: not from a face-recognition card."""
    if face_recognition_card:
        raise RuleViolation("R58", "a face-recognition card has no signature certificate for a phone")
    if device == registered_device and device_has_live_certificates:
        raise RuleViolation("R45", "this phone already carries the smartphone certificates")


def check_smartphone_suspension(has_live_certificates: bool, device: str | None, suspended: bool) -> None:
    """R48: a lost phone's valid certificates are suspended (一時利用停止), once."""
    if not has_live_certificates or device is None:
        raise RuleViolation("R48", "no phone carries valid smartphone certificates of this card")
    if suspended:
        raise RuleViolation("R48", "the smartphone certificates are already suspended")


def check_smartphone_suspension_lifted(suspended: bool) -> None:
    """R48: only a suspension can be lifted."""
    if not suspended:
        raise RuleViolation("R48", "the smartphone certificates are not suspended")


INQUIRY_PROCEDURES = ("certificates", "pin_reset")


def check_agent_inquiry(procedure: str, subject: str, filer: Filer) -> None:
    """R34, R56: an inquiry letter is for an agent's or a household member's request, for AUTH (the
    SIG is the holder's own, R41) or a PIN reset of one PIN."""
    if procedure not in INQUIRY_PROCEDURES:
        raise UncoveredCase(
            "R34", f"an inquiry letter is for {' or '.join(INQUIRY_PROCEDURES)}, not {procedure!r}"
        )
    if filer.role not in {"agent", "household_member"}:
        raise RuleViolation("R34", "the holder or a legal representative applies at the counter without one")
    if procedure == "certificates" and subject != "AUTH":
        raise RuleViolation(
            "R41", "only the AUTH certificate is asked for by someone else (the SIG by the holder)"
        )
    if procedure == "pin_reset" and subject not in PIN_KINDS:
        raise UncoveredCase("R56", f"unknown PIN {subject!r}")
