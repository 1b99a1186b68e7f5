"""PINs (暗証番号): formats (R54), lockouts (R55), resets (R56) and changes (R57).

PIN values are checked for format and forgotten: no value is ever stored, echoed or logged;
the card records only that a PIN was set, failed, locked, reset or changed.
"""

from __future__ import annotations

import re
from typing import Literal

from lifecycle.errors import RuleViolation

PinKind = Literal["sig", "auth", "juki", "card_details"]
PIN_KINDS: tuple[PinKind, ...] = ("sig", "auth", "juki", "card_details")
JAPANESE = {
    "sig": "署名用電子証明書暗証番号",
    "auth": "利用者証明用電子証明書暗証番号",
    "juki": "住民基本台帳用暗証番号",
    "card_details": "券面事項入力補助用暗証番号",
}
MANDATORY_PINS: frozenset[str] = frozenset({"juki", "card_details"})
"""R54: the 住基 and 券面事項入力補助 PINs are always set (except on a face-recognition card, R58)."""
CERTIFICATE_PIN: dict[str, str] = {"SIG": "sig", "AUTH": "auth"}
"""R54: the SIG PIN is needed only with a SIG, the AUTH PIN only with an AUTH."""
LOCKOUT_AFTER: dict[str, int] = {"sig": 5, "auth": 3, "juki": 3, "card_details": 3}
"""R55: consecutive wrong entries that lock a PIN; a correct entry resets the count."""
HOME_CHANGEABLE: frozenset[str] = frozenset({"sig", "auth", "card_details"})
"""R57: at home (Mynaportal, JPKI client) every PIN but the 住基 PIN can be changed."""
KIOSK_RESETTABLE: frozenset[str] = frozenset({"sig", "auth"})
"""R56: a convenience-store kiosk resets one certificate PIN if the other is known."""
PIN_CHANGE_CHANNELS = ("counter", "home")
PIN_RESET_CHANNELS = ("counter", "kiosk", "phone")

_SIG_PIN = re.compile(r"(?=.*[A-Z])(?=.*[0-9])[A-Z0-9]{6,16}")
_FOUR_DIGITS = re.compile(r"[0-9]{4}")


def check_pin_format(kind: str, value: str) -> None:
    """R54: SIG PIN 6–16 of A–Z and 0–9 with at least one letter and one digit; the others
    exactly 4 digits. The error describes the rule, never the value."""
    if kind == "sig":
        if not _SIG_PIN.fullmatch(value):
            raise RuleViolation(
                "R54",
                "the signature PIN has 6–16 characters of uppercase A–Z and 0–9, with at least one "
                "letter and one digit",
            )
        return
    if kind not in PIN_KINDS:
        raise RuleViolation("R54", f"unknown PIN {kind!r}; PINs: {', '.join(PIN_KINDS)}")
    if not _FOUR_DIGITS.fullmatch(value):
        raise RuleViolation("R54", f"the {kind} PIN has exactly 4 digits")


def check_change_channel(kind: str, channel: str) -> None:
    """R57: every PIN at the counter; at home all but the 住基 PIN."""
    if channel == "counter":
        return
    if channel == "home" and kind in HOME_CHANGEABLE:
        return
    raise RuleViolation(
        "R57",
        f"the {kind} PIN cannot be changed via {channel}",
        hint="change it at the municipal counter",
    )


def check_reset_channel(
    kind: str, channel: str, *, other_certificate_pin_known: bool, additional_id: bool, forgotten: bool
) -> None:
    """R56: resets at the counter with ID (one more ID when the PIN was forgotten); a kiosk
    resets a SIG or AUTH PIN when the holder knows the other certificate PIN; never by phone."""
    if channel == "phone":
        raise RuleViolation("R56", "a PIN cannot be reset by phone", hint="come to the counter with ID")
    if channel == "kiosk":
        if kind not in KIOSK_RESETTABLE or not other_certificate_pin_known:
            raise RuleViolation(
                "R56",
                "a kiosk resets the SIG or AUTH PIN only when the holder knows the other one",
                hint="reset it at the municipal counter",
            )
        return
    if channel != "counter":
        raise RuleViolation("R56", f"unknown reset channel {channel!r}")
    if forgotten and not additional_id:
        raise RuleViolation(
            "R56", "resetting a forgotten PIN needs one more identity document besides the card"
        )
