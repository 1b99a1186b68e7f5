"""Whether the card's state allows a procedure at all (spec §3): a card that has ended, or that
time has ended (a lapse not yet recorded), refuses every change; some procedures need a card
in use (handed over), some one that is not suspended (一時停止, R49).

May import: the standard library, ``lifecycle.errors`` and ``lifecycle.card.vocabulary``.
"""

from __future__ import annotations

from collections.abc import Iterable

from lifecycle.card.vocabulary import PRE_HANDOVER, Ending, Lapse
from lifecycle.errors import RuleViolation, TerminalState


def refuse_if_ended(ended: Ending | None, procedure: str) -> None:
    """A card that has ended cannot change (spec §3)."""
    if ended is not None:
        raise TerminalState(
            ended.rule,
            f"the card was {ended.status} on {ended.at.date().isoformat()}"
            f"{f' ({ended.reason})' if ended.reason else ''}: {procedure} is impossible",
            hint="a card that has ended cannot change; apply for a new card (kind reissue)",
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
                hint="record the lapse (mynacard lapse CARD); the holder applies for a reissue",
            )


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
