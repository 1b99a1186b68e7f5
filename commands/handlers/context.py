"""What every handler receives and answers: the ``Context`` (where cards and certificates are
read from, the command's stamp, the policies, the holder key) and the ``Outcome`` (the
aggregates to save together). Also ``resolve_card_ref``: a card reference → card id.

May import: ``commands.errors``, ``commands.consequences`` (``CardCertificates``), ``lifecycle``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate

from commands.consequences import CardCertificates
from commands.errors import NotFound
from lifecycle.card import Card
from lifecycle.certificate import Certificate
from lifecycle.decisions import Policies
from lifecycle.identifiers import card_id_for
from lifecycle.stamp import Stamp


class CardSource(Protocol):
    """Where handlers read cards and certificates from (the application's repository)."""

    def load_card(self, card_id: UUID) -> Card | None: ...

    def load_certificate(self, certificate_id: UUID) -> Certificate | None: ...


def resolve_card_ref(ref: str) -> UUID:
    """A card reference (23-digit application id or UUID text, already validated) → card id."""
    return UUID(ref) if "-" in ref else card_id_for(ref)


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler may use: a card source, the stamp, the policies and the holder key."""

    source: CardSource
    stamp: Stamp
    policies: Policies
    holder_key: bytes

    @property
    def certificates(self) -> CardSource:
        return self.source

    def card(self, ref: str, field: str = "card") -> Card:
        card = self.source.load_card(resolve_card_ref(ref))
        if card is None:
            raise NotFound.single(
                field,
                "no card with this application id or card id",
                hint="check the number; `mynacard status` lists what is known",
            )
        return card


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a command changed: the aggregates to save, the card it concerns, and the card
    certificates it already loaded (the policies reuse them)."""

    changed: tuple[Aggregate, ...]
    card: Card
    certificates: tuple[CardCertificates, ...] = ()


Handler = Callable[[Context, Any], Outcome]
"""A handler: (context, command model of its type) → outcome."""
