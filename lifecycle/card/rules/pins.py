"""Rules of the card's PINs (暗証番号): which are set (R54, R40), wrong entries and lockout
(R55), resets (R56) and changes (R57), and the face-recognition card that has none
(顔認証マイナンバーカード, R58). Formats and channels live in ``lifecycle.pins``.

May import: the standard library and ``lifecycle`` leaf modules (certificate_rules, errors,
filers, pins).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lifecycle.certificate_rules import SIG_MIN_AGE
from lifecycle.errors import RuleViolation
from lifecycle.filers import Filer, check_legal_representative_authority
from lifecycle.pins import CERTIFICATE_PIN, MANDATORY_PINS, check_change_channel, check_reset_channel


def check_pins_set(
    kinds: Sequence[str],
    pins: frozenset[str],
    set_by: str,
    *,
    holder_age: int,
    face_recognition_card: bool,
    with_card_pins: bool = True,
) -> None:
    """R54: the 住基 and 券面事項 PINs always, a certificate's PIN with its certificate, nothing
    else; R58: a face-recognition card has no PINs; R40: an under-15's PINs are set by the
    legal representative."""
    if face_recognition_card:
        if pins:
            raise RuleViolation("R58", "a face-recognition card has no PINs")
        return
    needed = {CERTIFICATE_PIN[k] for k in kinds if k in CERTIFICATE_PIN}
    if with_card_pins:
        needed |= MANDATORY_PINS
    missing, extra = sorted(needed - pins), sorted(pins - needed)
    if missing:
        raise RuleViolation(
            "R54",
            f"these PINs must be set: {', '.join(missing)}",
            hint="the holder enters them at the counter (values are never stored)",
        )
    if extra:
        raise RuleViolation(
            "R54",
            f"no certificate or card function needs these PINs: {', '.join(extra)}",
            hint="a certificate's PIN is set only with that certificate (R40: no SIG under 15)",
        )
    if holder_age < SIG_MIN_AGE and set_by != "legal_representative":
        raise RuleViolation("R40", "the PINs of a holder under 15 are set by the legal representative")


def pins_needed(certificate_plan: Sequence[str], face_recognition_card: bool) -> frozenset[str]:
    """R54: the PINs a handover sets: 住基 and 券面事項 always, and the PIN of each certificate
    issued with the card; none on a face-recognition card (R58)."""
    if face_recognition_card:
        return frozenset()
    return frozenset(MANDATORY_PINS | {CERTIFICATE_PIN[k] for k in certificate_plan})


def pin_failures(pins: Mapping[str, int], pin: str, rule: str, face_recognition_card: bool) -> int:
    """The consecutive wrong entries of a PIN set on the card (-1: locked); R58: none on a
    face-recognition card; R54: only a PIN that is set."""
    if face_recognition_card:
        raise RuleViolation("R58", "a face-recognition card has no PINs")
    if pin not in pins:
        raise RuleViolation(rule, f"the {pin} PIN is not set on this card (R54)")
    return pins[pin]


def check_not_locked(pin: str, failures: int) -> None:
    """R55: a locked PIN takes no entry; it is reset (R56)."""
    if failures < 0:
        raise RuleViolation("R55", f"the {pin} PIN is locked", hint="reset it (reset-pin, R56)")


def check_pin_reset(
    pin: str,
    channel: str,
    filer: Filer,
    pins: Mapping[str, int],
    *,
    forgotten: bool,
    additional_id: bool,
    other_certificate_pin_known: bool,
    holder_under_15: bool,
    holder_adult_ward: bool,
    inquiry_answered: bool = False,
) -> None:
    """R56: at the counter with ID (one more for a forgotten PIN), or at a kiosk for a SIG or
    AUTH PIN when the other one is known and not locked; never by phone; an agent goes
    through an inquiry letter; a legal representative proves authority (R18)."""
    check_reset_channel(
        pin,
        channel,
        other_certificate_pin_known=other_certificate_pin_known,
        additional_id=additional_id,
        forgotten=forgotten,
    )
    if channel == "kiosk":
        other = "auth" if pin == "sig" else "sig"
        if pins.get(other, -1) < 0:
            raise RuleViolation(
                "R56",
                f"the kiosk needs the {other} PIN, which is not usable",
                hint="reset it at the municipal counter",
            )
    if filer.role not in {"holder", "legal_representative"} and not inquiry_answered:
        raise RuleViolation(
            "R56",
            "an agent's PIN reset goes through an inquiry letter (照会書)",
            hint="send the inquiry letter (mynacard send-inquiry CARD --procedure pin_reset --subject PIN "
            "--filed-by agent …), then come back with the holder's answer (--inquiry-answered)",
        )
    if filer.role == "legal_representative":
        check_legal_representative_authority(
            filer, holder_under_15=holder_under_15, holder_adult_ward=holder_adult_ward
        )


def check_pin_change(pin: str, channel: str, failures: int) -> None:
    """R57: at the counter every PIN; at home all but the 住基 PIN; a locked PIN is reset (R56)."""
    if failures < 0:
        raise RuleViolation("R56", f"the {pin} PIN is locked: reset it instead")
    check_change_channel(pin, channel)


def check_face_recognition_switch(enabled: bool, face_recognition_card: bool, pins: frozenset[str]) -> None:
    """R58: a switch to the other mode; a face-recognition card takes no PINs."""
    if enabled == face_recognition_card:
        raise RuleViolation("R58", f"the card is {'already' if enabled else 'not'} a face-recognition card")
    if enabled and pins:
        raise RuleViolation("R58", "a face-recognition card has no PINs")
