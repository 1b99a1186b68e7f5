"""Handlers of the person's own commands: filing the cards of a store written before R62–R65 under
their person (``mynacard migrate-holders``), and forgetting a person (``forget``, issue 13: the
person's aggregates record it here; the application destroys the data keys once it is saved).
The card commands that change the person (apply,
hand over, person-wide invalidation) live with the card handlers (``card``).

May import: ``commands.models``, ``commands.errors``, ``commands.handlers.context``, ``lifecycle``.
"""

from __future__ import annotations

from eventsourcing.domain import Aggregate

from commands import models as m
from commands.errors import InputError, NotFound
from commands.handlers.context import Context, Outcome
from lifecycle.card import Card
from lifecycle.certificate import LIVE_CERTIFICATE
from lifecycle.holder import Holder
from lifecycle.holder.events import PersonForgotten
from lifecycle.holder.rules import ErasureCard
from lifecycle.identifiers import holder_id_for, holder_reference


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


def person_ref(c: m.ForgetPerson, holder_key: bytes) -> str:
    """The holder reference a ``forget`` names (its My Number hashed with the holder key)."""
    if c.holder_ref is not None:
        return c.holder_ref
    assert c.my_number is not None
    return holder_reference(c.my_number.get_secret_value(), holder_key)


def linked_persons(ctx: Context, holder: Holder) -> list[Holder]:
    """The person under every reference a My Number change linked (R65), ``holder`` first."""
    found = {holder.holder_ref: holder}
    todo = holder.linked_refs()
    while todo:
        ref = todo.pop()
        if ref in found:
            continue
        other = ctx.source.load_holder(holder_id_for(ref))
        if other is not None:
            found[ref] = other
            todo.extend(other.linked_refs())
    return list(found.values())


def _judged(ctx: Context, card: Card) -> ErasureCard:
    live = 0
    for certificate_id in card.certificates.values():
        cert = ctx.source.load_certificate(certificate_id)
        if (
            cert is not None
            and cert.status in LIVE_CERTIFICATE
            and (cert.expires_on is None or cert.expires_on >= ctx.stamp.on)
        ):
            live += 1
    # The retention period runs from when the end was known, not from a backdated effective
    # time: the later of the end's effective time and the card's last recorded event.
    ended_at = max(card.ended.at, card.modified_on) if card.ended is not None else None
    return ErasureCard(card.application_id, card.status, ended_at, live)


def forget_person(ctx: Context, c: m.ForgetPerson) -> Outcome:
    holder = ctx.person(person_ref(c, ctx.holder_key))
    if holder is None:
        raise NotFound.single("person", "no person with this My Number or holder reference")
    persons = linked_persons(ctx, holder)
    card_ids = list(dict.fromkeys(card_id for person in persons for card_id in person.card_ids))
    cards = [card for card in map(ctx.source.load_card, card_ids) if card is not None]
    if holder.forgotten and cards:
        # 消去の完了: the erasure is recorded already; nothing new is recorded, and the store
        # destroys the person's keys (again) after this command (``CardLifecycle.execute``):
        # a forget interrupted between its save and the keys' destruction is completed so.
        return Outcome((), cards[0])
    holder.forget(
        [_judged(ctx, card) for card in cards],
        card_ids,
        [person.holder_ref for person in persons],
        c.reason,
        ctx.policies.forget_after_days,
        ctx.stamp,
    )
    recorded = holder.pending_events[-1]
    assert isinstance(recorded, PersonForgotten)
    for other in persons[1:]:
        other.record_forgotten(recorded, ctx.stamp)
    last = max(cards, key=lambda card: card.ended.at if card.ended is not None else recorded.last_ended_at)
    return Outcome(tuple(persons), last)
