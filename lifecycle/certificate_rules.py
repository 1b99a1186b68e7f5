"""Rules of the electronic certificates (電子証明書): expiry (R35–R39), usability (R43), who may
hold a signature certificate (R40, R58), and revocation reasons as RFC 5280 reason codes.
Pure functions; the Certificate aggregate stores their results on its events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from lifecycle.calendar import JST, age_on, is_business_day, jst_date, next_business_day, nth_birthday_after
from lifecycle.decisions import Policies

CertificateKind = Literal["SIG", "AUTH", "SP-SIG", "SP-AUTH"]
CARD_KINDS: tuple[CertificateKind, ...] = ("SIG", "AUTH")
SMARTPHONE_KINDS: tuple[CertificateKind, ...] = ("SP-SIG", "SP-AUTH")
KINDS: tuple[CertificateKind, ...] = CARD_KINDS + SMARTPHONE_KINDS
JAPANESE = {
    "SIG": "署名用電子証明書",
    "AUTH": "利用者証明用電子証明書",
    "SP-SIG": "スマホ用署名用電子証明書",
    "SP-AUTH": "スマホ用利用者証明用電子証明書",
}
CARD_COUNTERPART: dict[str, CertificateKind] = {"SP-SIG": "SIG", "SP-AUTH": "AUTH"}
"""R46: a smartphone certificate follows the expiry of its card certificate."""

PERIOD_RULES: dict[str, str] = {"AUTH": "R35", "SIG": "R36", "SP-SIG": "R46", "SP-AUTH": "R46"}
"""The rule that sets a certificate's validity period: what a validity answer cites when the
moment falls inside it (valid) or after it (expired); a refusal rule is cited only against."""

CERTIFICATE_BIRTHDAYS = 5
"""R35/R36: a certificate runs to the 5th birthday after its issue date."""
SIG_MIN_AGE = 15
"""R40: no signature certificate for a person under 15 on its issue date."""
SIG_USABLE_AFTER = timedelta(hours=24)
"""R43: the signature certificate is usable online 24 hours after issue."""
AUTH_CONVENIENCE_STORE_TIME = time(6, 30)
"""R43: the user certificate is usable at convenience stores from 06:30."""

RFC5280_REASON_CODES: dict[str, int] = {
    "unspecified": 0,
    "keyCompromise": 1,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
    "certificateHold": 6,
    "removeFromCRL": 8,
    "privilegeWithdrawn": 9,
}
"""CRLReason (RFC 5280 §5.3.1), so relying parties consume the reason unchanged."""

REVOCATION_REASONS: dict[str, str] = {
    "card_information_changed": "affiliationChanged",  # R41: name, DOB, sex, address, 旧氏
    "moved": "affiliationChanged",  # R41: the address on the resident record changed
    "suspended": "keyCompromise",  # R49 / D05: the card may be in someone else's hands
    "lost": "keyCompromise",  # R51
    "phone_lost": "keyCompromise",  # R48
    "my_number_changed": "affiliationChanged",  # R31
    "resident_code_changed": "affiliationChanged",  # R31
    "death": "cessationOfOperation",  # R32
    "card_ended": "cessationOfOperation",  # R47: the card was invalidated, returned or expired
    "card_expired": "cessationOfOperation",  # R47
    "expired": "cessationOfOperation",  # R42: the certificate's own expiry
    "superseded": "superseded",  # a new card, a renewal, a new phone (R45)
    "request": "unspecified",  # R42: 失効申請 by the holder
    "face_recognition_card": "privilegeWithdrawn",  # R58: no signature certificate on a face card
    "signature_certificate_revoked": "affiliationChanged",  # R47 / D10: SP follows the card SIG
}
"""Domain revocation reasons → RFC 5280 reason names."""


def reason_code(reason: str) -> tuple[str, int]:
    """(RFC 5280 reason name, code) of a domain revocation reason."""
    name = REVOCATION_REASONS[reason]
    return name, RFC5280_REASON_CODES[name]


@dataclass(frozen=True, slots=True)
class SignatureEligibility:
    allowed: bool
    rule: str
    why: str


def signature_eligibility(
    dob: date, issue_date: date, *, adult_ward: bool, face_recognition_card: bool
) -> SignatureEligibility:
    """R40: no SIG under 15 on the issue date or for an adult ward; R58: none on a face card."""
    if face_recognition_card:
        return SignatureEligibility(False, "R58", "a face-recognition card carries no signature certificate")
    if adult_ward:
        return SignatureEligibility(False, "R40", "no signature certificate is issued to an adult ward")
    age = age_on(dob, issue_date)
    if age < SIG_MIN_AGE:
        return SignatureEligibility(False, "R40", f"the holder is {age}: no signature certificate under 15")
    return SignatureEligibility(True, "R40", "eligible")


def birthdays_for(renewed_in_window: bool, policies: Policies) -> int:
    """R39 / D04: a renewal inside the window runs to the 5th birthday (default) or the 6th."""
    if renewed_in_window and policies.renewed_certificate_validity == "sixth":
        return CERTIFICATE_BIRTHDAYS + 1
    return CERTIFICATE_BIRTHDAYS


def certificate_expiry(
    kind: CertificateKind,
    *,
    dob: date,
    issue_date: date,
    card_expires_on: date,
    auth_expires_on: date | None = None,
    counterpart_expires_on: date | None = None,
    birthdays: int = CERTIFICATE_BIRTHDAYS,
    policies: Policies,
) -> date:
    """The last valid day of a certificate issued on ``issue_date``.

    - AUTH: min(Nth birthday after issue, card expiry) (R35);
    - SIG: min(Nth birthday after issue, AUTH expiry if there is an AUTH, card expiry) (R36);
      a stay-limited card carries the stay cap into both (R37);
    - SP-SIG / SP-AUTH: the expiry of the card certificate they follow (R46, assumption).
    """
    if kind in SMARTPHONE_KINDS:
        if counterpart_expires_on is None:
            raise ValueError("a smartphone certificate follows a card certificate")
        return min(counterpart_expires_on, card_expires_on)
    own = nth_birthday_after(dob, issue_date, birthdays, policies.feb29_birthday)
    expiry = min(own, card_expires_on)
    if kind == "SIG" and auth_expires_on is not None:
        expiry = min(expiry, auth_expires_on)
    return expiry


def usable_from(kind: CertificateKind, issued_at: datetime) -> datetime:
    """R43 with D08: SIG 24 hours after issue; AUTH at convenience stores from 06:30 the next day,
    or, issued on a day that is not a business day, from 06:30 on the day after the next
    business day. Smartphone certificates are usable at once (assumption)."""
    if kind == "SIG":
        return issued_at + SIG_USABLE_AFTER
    if kind == "AUTH":
        day = jst_date(issued_at)
        start = (
            day + timedelta(days=1) if is_business_day(day) else next_business_day(day) + timedelta(days=1)
        )
        return datetime.combine(start, AUTH_CONVENIENCE_STORE_TIME, tzinfo=JST)
    return issued_at
