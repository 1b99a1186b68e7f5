"""Where a person stands at a moment: the cards in use and the applications in progress, judged
from the cards themselves, never from what the person's aggregate last heard. A card is *in use*
when it is active or suspended and time has not ended it by then (R19, R22, R27, R28, R30 need no
sweep to count); an application is *in progress* while it is applied, accepted or produced and
time has not voided it (R13). So a card that expired yesterday no longer blocks a ``new``
application, and a card's end needs no change to the person (ends are final).

May import: the standard library, ``lifecycle.calendar``, ``lifecycle.decisions`` and
``lifecycle.card``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from lifecycle.calendar import jst_date
from lifecycle.card import LIVE, PRE_HANDOVER, Card
from lifecycle.decisions import Policies

CardLookup = Callable[[UUID], Card | None]
"""The port through which a person's cards are read (the write side's repository)."""


@dataclass(frozen=True, slots=True)
class CardStanding:
    """One card or application of the person, as the rules across one person see it."""

    card_id: UUID
    application_id: str
    kind: str
    status: str


@dataclass(frozen=True, slots=True)
class Standing:
    """The person's cards in use and applications in progress at one moment (R62, R63)."""

    in_use: tuple[CardStanding, ...] = ()
    in_progress: tuple[CardStanding, ...] = ()

    def cards_in_use_except(self, card_id: UUID) -> list[UUID]:
        return [c.card_id for c in self.in_use if c.card_id != card_id]


def in_use_at(card: Card, at: datetime) -> bool:
    return card.status in LIVE and card.unrecorded_end(at) is None


def in_progress_at(card: Card, at: datetime, policies: Policies) -> bool:
    return card.status in PRE_HANDOVER and not card.due_lapses(jst_date(at), policies)


def standing_of(
    card_ids: Iterable[UUID], load_card: CardLookup, at: datetime, policies: Policies
) -> Standing:
    """The standing of the person whose cards are ``card_ids`` at ``at`` (the command's
    effective time)."""
    in_use: list[CardStanding] = []
    in_progress: list[CardStanding] = []
    for card_id in dict.fromkeys(card_ids):
        card = load_card(card_id)
        if card is None:
            continue
        entry = CardStanding(card.id, card.application_id, card.kind, card.status)
        if in_use_at(card, at):
            in_use.append(entry)
        elif in_progress_at(card, at, policies):
            in_progress.append(entry)
    return Standing(tuple(in_use), tuple(in_progress))
