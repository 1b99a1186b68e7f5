"""Handler of the person's own command: filing the cards of a store written before R62–R65 under
their person (``mynacard migrate-holders``). The card commands that change the person (apply,
hand over, person-wide invalidation) live with the card handlers (``card``).

May import: ``commands.models``, ``commands.errors``, ``commands.handlers.context``, ``lifecycle``.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from commands import models as m
from commands.errors import InputError
from commands.handlers.context import Context, Outcome
from lifecycle.card import Card
from lifecycle.holder import Holder
from lifecycle.identifiers import holder_id_for


def file_cards_under_person(ctx: Context, c: m.FileCardsUnderPerson) -> Outcome:
    cards: list[Card] = []
    for card_id in c.card_ids:
        card = ctx.source.load_card(card_id)
        if card is None or card.holder_ref != c.holder_ref:
            raise InputError.single("card_ids", f"card {card_id} is not a card of this person")
        cards.append(card)
    holder = ctx.source.load_holder(holder_id_for(c.holder_ref)) or Holder.open(
        c.holder_ref, ctx.stamp, derived=True
    )
    holder.derive([card.id for card in cards], ctx.stamp)
    changed: list[Aggregate] = [holder]
    # R65: a card invalidated (or voided) for a new My Number names the person's new reference.
    successor_ref = next((card.successor_holder_ref for card in cards if card.successor_holder_ref), None)
    if successor_ref is not None and holder.successor_ref is None:
        holder.link(c.holder_ref, successor_ref, ctx.stamp)
        successor = ctx.source.load_holder(holder_id_for(successor_ref)) or Holder.open(
            successor_ref, ctx.stamp, derived=True
        )
        if c.holder_ref not in successor.predecessor_refs:
            successor.link(c.holder_ref, successor_ref, ctx.stamp)
        changed.append(successor)
    return Outcome(tuple(changed), cards[-1])
