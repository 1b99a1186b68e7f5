"""What every handler receives and answers: the ``Context`` (where cards and certificates are
read from, the command's stamp, the policies, the holder key) and the ``Outcome`` (the
aggregates to save together). Also ``resolve_card_ref``: a card reference → card id.

May import: ``commands.errors``, ``commands.consequences`` (``CardCertificates``), ``lifecycle``,
``storage.errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate

from commands.consequences import CardCertificates
from commands.errors import NotFound
from lifecycle.card import Card
from lifecycle.certificate import Certificate
from lifecycle.decisions import Policies
from lifecycle.holder import Holder, Standing, standing_of
from lifecycle.identifiers import card_id_for, holder_id_for
from lifecycle.stamp import Stamp
from storage.errors import ConfigurationError


class CardSource(Protocol):
    """Where handlers read cards, certificates and persons from (the application's repository).
    ``holders_complete`` says whether every card of the store is filed under its person (false on
    a store written before R62–R65 until ``mynacard migrate-holders`` ran)."""

    holders_complete: bool

    def load_card(self, card_id: UUID) -> Card | None: ...

    def load_certificate(self, certificate_id: UUID) -> Certificate | None: ...

    def load_holder(self, holder_id: UUID) -> Holder | None: ...


def resolve_card_ref(ref: str) -> UUID:
    """A card reference (23-digit application id or UUID text, already validated) → card id."""
    return UUID(ref) if "-" in ref else card_id_for(ref)


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler may use: a card source, the stamp, the policies, the holder key and the
    service's office (``MYNACARD_OFFICE``: the default of a hand-over's office)."""

    source: CardSource
    stamp: Stamp
    policies: Policies
    holder_key: bytes
    office: str | None = None

    @property
    def certificates(self) -> CardSource:
        return self.source

    def person(self, holder_ref: str) -> Holder | None:
        """The person's aggregate (None for a person not known yet). Refused on a store whose
        cards are not filed under their persons yet: the rules across one person would see
        only part of a person's cards."""
        if not self.source.holders_complete:
            raise ConfigurationError(
                "this store holds cards recorded before the rules across one person (R62–R65): run "
                "'mynacard migrate-holders' once to file them under their persons (nothing was written)"
            )
        return self.source.load_holder(holder_id_for(holder_ref))

    def standing(self, card_ids: Iterable[UUID]) -> Standing:
        """Where the person with these cards stands at the command's effective time (R62, R63)."""
        return standing_of(card_ids, self.source.load_card, self.stamp.effective_at, self.policies)

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
