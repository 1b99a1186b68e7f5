"""The rules across one person (spec §2.9), as pure checks on a ``Standing``. Each raises
``RuleViolation`` naming its rule before anything is triggered; no message carries a My Number
or a holder reference (only application ids, which the clerk already has).

May import: the standard library, ``lifecycle.errors``, ``lifecycle.identifiers`` and
``lifecycle.holder.standing``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from lifecycle.errors import RuleViolation
from lifecycle.holder.standing import CardStanding, Standing
from lifecycle.identifiers import format_application_id


def _named(card: CardStanding) -> str:
    return f"application {format_application_id(card.application_id)}, {card.status}"


def check_application(standing: Standing, kind: str, *, number_replaced: bool) -> None:
    """R63: one application in progress per person; no ``new`` card while one is in use.
    R65: an application under a My Number that was replaced is filed under the new number."""
    if number_replaced:
        raise RuleViolation(
            "R65",
            "this My Number was replaced by a new one (R31): the person's cards are found under both, "
            "but a new application is filed with the new My Number",
            hint="file the application again with --my-number set to the new number",
        )
    if standing.in_progress:
        raise RuleViolation(
            "R63",
            f"an application for this person is already in progress ({_named(standing.in_progress[0])}): "
            "a person has one application in progress at a time",
            hint="cancel it (mynacard cancel, R12) or hand it over first",
        )
    if kind == "new" and standing.in_use:
        raise RuleViolation(
            "R63",
            f"this person has a card in use ({_named(standing.in_use[0])}): a new card is applied for "
            "only by a person without one",
            hint="file a renewal or a reissue instead: --kind renewal|reissue --previous-card "
            f"{standing.in_use[0].application_id}",
        )


ERASURE_RULE = "ERASURE"
"""The rule id of ``forget``'s refusals (issue 13; not in the spec's R-catalogue)."""


@dataclass(frozen=True, slots=True)
class ErasureCard:
    """One card of a person, as ``forget`` judges it: its status, when it ended (None: it has
    not), and how many of its certificates are still live at the moment of the command."""

    application_id: str
    status: str
    ended_at: datetime | None
    live_certificates: int


def check_forget(
    cards: list[ErasureCard], at: datetime, forget_after_days: int, *, already_forgotten: bool
) -> datetime:
    """Issue 13: a person is forgotten only once, only when every card of theirs has ended (none
    before handover, none in use), none has a live certificate, and the retention period
    (``forget_after_days`` after the last end) is over. Answers the last end."""
    if already_forgotten:
        raise RuleViolation(ERASURE_RULE, "this person was already forgotten: their data keys are destroyed")
    if not cards:
        raise RuleViolation(
            ERASURE_RULE, "no card was ever filed under this person: there is nothing to forget"
        )
    for card in cards:
        if card.ended_at is None:
            raise RuleViolation(
                ERASURE_RULE,
                f"the person still has {_named(_standing(card))}: a person is forgotten only when every "
                "card and application of theirs has ended",
                hint="end it first (return, cancel, invalidate) or record what time made due (sweep)",
            )
        if card.live_certificates:
            raise RuleViolation(
                ERASURE_RULE,
                f"{_named(_standing(card))} still has {card.live_certificates} live certificate(s)",
                hint="revoke them first (mynacard revoke-certificate)",
            )
    last = max(card.ended_at for card in cards if card.ended_at is not None)
    allowed = last + timedelta(days=forget_after_days)
    if at < allowed:
        raise RuleViolation(
            ERASURE_RULE,
            f"the person's last card ended on {last.date().isoformat()}: the retention period of "
            f"{forget_after_days} days (MYNACARD_POLICIES__FORGET_AFTER_DAYS) allows forgetting from "
            f"{allowed.isoformat()}",
        )
    return last


def check_not_forgotten(forgotten: bool) -> None:
    """Issue 13: nothing personal is recorded for a person who was forgotten (their data key is
    gone for good)."""
    if forgotten:
        raise RuleViolation(
            ERASURE_RULE,
            "this person was forgotten (their personal data was erased): no new application is "
            "recorded under this My Number",
        )


def _standing(card: ErasureCard) -> CardStanding:
    return CardStanding(UUID(int=0), card.application_id, "", card.status)
