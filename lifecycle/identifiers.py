"""Identifiers: the My Number (個人番号, R01), the holder reference, the application id (申請書ID, R02),
and the natural-key ids of aggregates.

The My Number never appears in an id, a topic, a log line or an error message: a person is
referenced by a keyed hash of it (``holder_reference``) and shown masked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from uuid import UUID, uuid5

from stdnum import exceptions as stdnum_errors
from stdnum.jp import in_ as my_number_module

from lifecycle.errors import RuleViolation

NAMESPACE = UUID("6f0b7a52-5a3e-4a7e-9d7c-5d0c2a1e8b11")
"""uuid5 namespace of every mynacard aggregate id (natural keys collide instead of duplicating)."""

_SEPARATORS = re.compile(r"[\s\-‐‑–—―ー－]+")


def _normalise(text: str) -> str:
    """Full-width digits to ASCII (NFKC) and separators removed, as clerks type them."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text))


def validate_my_number(raw: str) -> str:
    """R01: exactly 12 ASCII digits whose last digit is the check digit of the 11 before it.

    Spaces and hyphens between groups are accepted and removed. The check digit is
    verified by python-stdnum (``stdnum.jp.in_``). The error never repeats the number.
    """
    number = _normalise(raw)
    if not number.isascii() or not number.isdigit():
        raise RuleViolation("R01", "a My Number has only the digits 0-9")
    if len(number) != 12:
        raise RuleViolation("R01", f"a My Number has exactly 12 digits, this one has {len(number)}")
    try:
        my_number_module.validate(number)
    except stdnum_errors.InvalidChecksum:
        raise RuleViolation(
            "R01", "the My Number's check digit is wrong", hint="re-read the number from the card"
        ) from None
    except stdnum_errors.ValidationError:
        raise RuleViolation("R01", "the My Number is not valid") from None
    return number


def mask_my_number(number: str) -> str:
    """Display form that hides all but the last four digits: ``XXXX XXXX 9018``."""
    return f"XXXX XXXX {number[-4:]}"


def holder_reference(number: str, key: bytes) -> str:
    """A person's reference: HMAC-SHA256 of the My Number under the service's key (design.md).

    Stable for one key, useless without it; the lookup key for "all cards of a person".
    """
    return hmac.new(key, number.encode("ascii"), hashlib.sha256).hexdigest()


def parse_application_id(raw: str) -> str:
    """R02: the 23-digit 申請書ID, possibly shown in groups (4-4-4-4-4-3). No checksum is known."""
    compact = _normalise(raw)
    if not re.fullmatch(r"[0-9]{23}", compact):
        raise RuleViolation(
            "R02",
            f"an application id has exactly 23 digits, got {len(compact)} characters",
            hint="copy the 23-digit 申請書ID from the application form",
        )
    return compact


def format_application_id(application_id: str) -> str:
    """``12345678901234567890123`` → ``1234 5678 9012 3456 7890 123`` (already spaced: the same)."""
    digits = "".join(application_id.split())
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def holder_id_for(holder_ref: str) -> UUID:
    """The id of the person's aggregate (R62–R65): derived from the holder reference (itself a
    keyed hash, so the id reveals nothing), so two clerks opening one person at once collide."""
    return uuid5(NAMESPACE, f"holder/{holder_ref}")


def card_id_for(application_id: str) -> UUID:
    """A card is identified by its application (one application, one card)."""
    return uuid5(NAMESPACE, f"card/{application_id}")


def certificate_serial(card_id: UUID, kind: str, sequence: int) -> str:
    """The serial of the ``sequence``-th certificate of ``kind`` on a card: 20 hex digits.

    Deterministic, so a retried command issues the same serial and a race collides."""
    return uuid5(NAMESPACE, f"serial/{card_id}/{kind}/{sequence}").hex[:20].upper()


def certificate_id_for(serial: str) -> UUID:
    """A certificate is identified by its serial number."""
    return uuid5(NAMESPACE, f"certificate/{serial.upper()}")
