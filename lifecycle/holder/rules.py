"""The rules across one person (spec §2.9), as pure checks on a ``Standing``. Each raises
``RuleViolation`` naming its rule before anything is triggered; no message carries a My Number
or a holder reference (only application ids, which the clerk already has).

May import: the standard library, ``lifecycle.errors``, ``lifecycle.identifiers`` and
``lifecycle.holder.standing``.
"""

from __future__ import annotations

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
