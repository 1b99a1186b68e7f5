"""What every card event shares: the base class, and how a terminal event ends the card.

Events write the card's state (``lifecycle.card.state.CardState``), never the aggregate.

May import: ``eventsourcing.domain``, the standard library, ``lifecycle.card.vocabulary`` and
``lifecycle.card.state``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from lifecycle.card.state import CardState
from lifecycle.card.vocabulary import Ending


class CardEvent(Aggregate.Event):
    """Base of every card event after the first."""

    TOPIC = "mynacard.Card.Event"
    effective_at: datetime
    actor: str
    command_id: UUID

    def apply(self, aggregate: Any) -> None:
        self.apply_to(aggregate)

    def apply_to(self, card: CardState) -> None:
        """Mutate the card; most events only add to its history."""


def end(card: CardState, status: str, rule: str, at: datetime, reason: str | None = None) -> None:
    """A terminal event ends the card: its status, and how and when it ended."""
    card.status = status
    card.ended = Ending(status, rule, at, reason)
