"""Whether the card's state allows a procedure at all (spec §3): a card that has ended, or that
time has ended (a lapse not yet recorded), refuses every change; some procedures need a card
in use (handed over), some one that is not suspended (一時停止, R49).

May import: the standard library, ``lifecycle.errors`` and ``lifecycle.card.vocabulary``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from lifecycle.card.vocabulary import PRE_HANDOVER, Ending, Lapse
from lifecycle.errors import RuleViolation, TerminalState


def how_it_ended(ended: Ending) -> str:
    """``expired on 2029-10-11 (valid until 2029-10-10)``, ``was returned on 2025-04-01
    (voluntary)``: the end of a card as a clerk says it."""
    day = ended.at.date()
    if ended.status == "expired":
        # Expired takes effect at 00:00 of the day after the last valid day (spec §0).
        return f"expired on {day.isoformat()} (valid until {(day - timedelta(days=1)).isoformat()})"
    return f"was {ended.status} on {day.isoformat()}{f' ({ended.reason})' if ended.reason else ''}"


def what_next(ended: Ending) -> str:
    """What the holder does after the card ended: an expired card is renewed (free, also after
    expiry, R07/R25; charged when it lapsed with the stay, R09), a replaced one is done with, an
    application that ended is filed again, other ends lead to a reissue."""
    if ended.status == "expired":
        if ended.rule == "R22":
            return (
                "the card lapsed with the period of stay: the holder applies for a new card "
                "(apply --kind renewal --previous-card CARD; charged, R09)"
            )
        return (
            "the holder renews the card, free also after expiry (R07, R25): "
            "apply --kind renewal --previous-card CARD"
        )
    if ended.status == "superseded" or ended.reason in {"replaced", "not_brought"}:
        return "the card was replaced by a newer card: record the procedure on the card in use"
    if ended.status in {"cancelled", "voided"}:
        return "the application has ended: the holder files a new application"
    if ended.reason == "death":
        return "a card that has ended cannot change"
    return "a card that has ended cannot change; the holder applies for a reissue (apply --kind reissue)"


HANDED_IN_AFTER = frozenset({"expired", "invalidated", "abolished"})
"""Ends after which the holder may still hold the plastic card: it is handed in later (R32, R51)."""


def refuse_if_ended(ended: Ending | None, procedure: str, *, hand_in: bool = False) -> None:
    """A card that has ended cannot change (spec §3). ``hand_in``: the procedure takes the
    plastic card back (a return), which after such an end is recorded as handed in (R32, R51)."""
    if ended is not None:
        hint = what_next(ended)
        if hand_in and ended.status in HANDED_IN_AFTER:
            reason = "" if ended.status == "abolished" else f" --reason {ended.status}"
            hint += f"; to record the plastic card handed in: mynacard hand-in CARD{reason}"
        raise TerminalState(
            ended.rule, f"the card {how_it_ended(ended)}: {procedure} is impossible", hint=hint
        )


def refuse_if_lapsed(lapses: Iterable[Lapse], procedure: str, *, ignore: str = "") -> None:
    """Validity follows the stored dates: a card that time has ended (the lapse is not recorded
    yet) is refused like an ended one; ``ignore`` names the lapse the procedure itself handles."""
    for lapse in lapses:
        if lapse.kind != ignore:
            raise RuleViolation(
                lapse.rule,
                f"the card lost its effect on {lapse.effective_at.date().isoformat()} ({lapse.detail}): "
                f"{procedure} is impossible",
                hint=f"record the lapse (mynacard lapse CARD); {_after_lapse(lapse)}",
            )


def _after_lapse(lapse: Lapse) -> str:
    if lapse.kind == "expired" and lapse.rule == "R19":
        return "the holder renews the card, free also after expiry (R07, R25)"
    if lapse.kind == "expired":
        return "the card lapsed with the period of stay: the holder applies for a new card (charged, R09)"
    return "the holder applies for a reissue"


def require_handed_over(status: str, rule: str, procedure: str) -> None:
    """The procedure applies to a card in use, not to an application."""
    if status in PRE_HANDOVER:
        raise RuleViolation(
            rule,
            f"the card has not been handed over yet (status {status}): {procedure} applies to a card in use",
        )


def require_not_suspended(status: str, procedure: str) -> None:
    """R49: a suspended card cannot be used until the holder lifts the suspension (R50)."""
    if status == "suspended":
        raise RuleViolation(
            "R49",
            f"the card is suspended and cannot be used: {procedure} is impossible",
            hint="the holder lifts the suspension in person first (R50)",
        )
