"""Rules of a card's end: a loss report (紛失・廃止届, R51), a return (返納, R52), invalidation
for the causes of the resident record (失効, R31, R32), and the plastic card handed in after
the end (R51, R32).

May import: the standard library, ``lifecycle`` leaf modules (errors, validity) and
``lifecycle.card.vocabulary``.
"""

from __future__ import annotations

from datetime import date, timedelta

from lifecycle.calendar import renewal_window_opens
from lifecycle.card.vocabulary import INVALIDATION_REASONS, PRE_HANDOVER, RETURN_REASONS, Ending
from lifecycle.errors import RuleViolation, UncoveredCase
from lifecycle.validity import stay_cap


def check_loss_report(lost_at_home: bool, police_report: bool) -> None:
    """R51: a card lost outside the home needs the police 遺失届 receipt."""
    if not lost_at_home and not police_report:
        raise RuleViolation(
            "R51",
            "a card lost outside the home needs the police 遺失届 receipt",
            hint="the holder files a 遺失届 at the nearest police station first",
        )


def check_return(status: str, reason: str) -> None:
    """返納 (R52): a card that was received, for a known reason."""
    if status in PRE_HANDOVER:
        raise RuleViolation("R52", "a card not yet received is not returned: cancel the application (R12)")
    if reason not in RETURN_REASONS:
        raise UncoveredCase("R52", f"unknown return reason {reason!r}")


def invalidation_rule(
    reason: str, new_holder_ref: str | None, *, residence_status: str | None, stay_until: date | None
) -> str:
    """失効 (R31, R32): the rule that invalidates the card for ``reason``; a stay expiry only
    for a card limited by a stay; a new My Number (and only it) gives the new holder reference."""
    rule = INVALIDATION_REASONS.get(reason)
    if rule is None:
        raise UncoveredCase(
            "R31",
            f"no rule invalidates a card for {reason!r}",
            hint=f"reasons: {', '.join(INVALIDATION_REASONS)}",
        )
    if reason == "stay_expired" and stay_cap(residence_status, stay_until) is None:
        raise UncoveredCase(
            "R31", "the card is not limited by a period of stay: a stay expiry does not apply to it"
        )
    if (reason == "my_number_changed") != (new_holder_ref is not None):
        raise RuleViolation("R31", "a My Number change (and only it) gives the new My Number")
    return rule


def check_expiry_notice_sent(on: date, expires_on: date, already_sent: bool) -> None:
    """R44: an expiry notice is mailed about 3 months before the expiry, once per expiry."""
    first = renewal_window_opens(expires_on) - timedelta(days=31)
    if not first <= on <= expires_on:
        raise RuleViolation(
            "R44",
            f"the notice of an expiry on {expires_on.isoformat()} is mailed from {first.isoformat()} "
            "(about 3 months before) until the expiry",
        )
    if already_sent:
        raise RuleViolation("R44", f"the notice of the expiry on {expires_on.isoformat()} was already mailed")


def check_expiry_notice_undelivered(sent: bool, already_undelivered: bool) -> None:
    if not sent:
        raise RuleViolation("R44", "only a notice that was mailed comes back undelivered")
    if already_undelivered:
        raise RuleViolation("R44", "this notice was already recorded as undelivered")


def check_physical_collection(ended: Ending | None, physically_collected: bool) -> None:
    """R51, R32: the plastic card of a card that has ended is handed in once; a card still in use
    is returned instead (R52)."""
    if ended is None:
        raise RuleViolation("R52", "a card still in use is returned with a return (返納)")
    if physically_collected:
        raise RuleViolation("R51", "the card was already handed in")
