"""What the card's current certificates allow a certificate command to do (R34, R38, R42,
R45, R46): pure checks, each raising ``RuleViolation`` or answering the certificate it
found. The card's own checks (holder, state, PINs) stay on the card; these look at the
certificates the card carries, which the caller loads and passes in.

May import: ``lifecycle`` only (no I/O, no clock, no environment).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from lifecycle.calendar import renewal_window_opens
from lifecycle.certificate import Certificate
from lifecycle.certificate_rules import SMARTPHONE_KINDS
from lifecycle.errors import RuleViolation


def require_none_live(kind: str, live: Certificate | None) -> None:
    """R34: a card carries one valid certificate of a kind; renew or revoke it first."""
    if live is not None:
        raise RuleViolation(
            "R34",
            f"the card already carries a valid {kind} certificate",
            hint="renew it (renew-certificates) or revoke it first",
        )


@dataclass(frozen=True, slots=True)
class RenewalWindow:
    """R38: a card certificate is renewed from ``opens_on`` (the day after its expiry less 3
    months, spec §1B) through ``closes_on`` (its last valid day: inside the window, R39/D04);
    after that it can still be renewed, free, at any time (R38)."""

    opens_on: date
    closes_on: date

    def as_dict(self) -> dict[str, str]:
        return {"opens_on": self.opens_on.isoformat(), "closes_on": self.closes_on.isoformat()}


def renewal_window(cert: Certificate) -> RenewalWindow | None:
    """The renewal window of a card certificate (R38); None when it is not renewed with
    ``renew-certificates``: revoked (issue a new one, R34), or a smartphone certificate (renewed
    in the app after the card's, R46)."""
    if cert.expires_on is None or cert.status == "revoked" or cert.kind in SMARTPHONE_KINDS:
        return None
    return RenewalWindow(renewal_window_opens(cert.expires_on), cert.expires_on)


def require_renewable(kind: str, current: Certificate | None, on: date) -> Certificate:
    """R38: the certificate to renew — one that exists and was not revoked, renewed from the day
    its renewal window opens (or any day after it expired). Answers that certificate."""
    window = renewal_window(current) if current is not None else None
    if current is None or window is None:
        raise RuleViolation(
            "R38",
            f"there is no {kind} certificate to renew",
            hint="issue one instead (issue-certificates, R34)",
        )
    if current.live and on < window.opens_on:
        raise RuleViolation(
            "R38",
            f"the {kind} renewal window opens on {window.opens_on.isoformat()} (through "
            f"{window.closes_on.isoformat()}, its last valid day)",
            hint="renew on or after that day",
        )
    return current


def require_live(kind: str, live: Certificate | None) -> Certificate:
    """R42: only a valid certificate can be revoked on request."""
    if live is None:
        raise RuleViolation("R42", f"the card has no valid {kind} certificate")
    return live


def require_valid_signature(signature: Certificate | None, at: datetime, sig_pin_confirmed: bool) -> None:
    """R45: smartphone certificates need the card's valid SIG and its PIN."""
    if signature is None or not signature.is_valid(at):
        raise RuleViolation(
            "R45",
            "smartphone certificates need a valid signature certificate on the card",
            hint="issue a new SIG first (issue-certificates)",
        )
    if not sig_pin_confirmed:
        raise RuleViolation("R45", "the card's signature PIN must be entered")


def require_smartphone(device: str | None) -> str:
    """R46: smartphone certificates are renewed on the phone that carries them."""
    if device is None:
        raise RuleViolation(
            "R46",
            "no phone carries smartphone certificates of this card",
            hint="issue them (issue-smartphone)",
        )
    return device
