"""What a command answers (``CommandResult``), and what of it the command log keeps.

A result names the card, its status and every event the command recorded; it also tells the
card's fee after the command (assessed, paid, due: R07–R10), the card's end once it has ended
(``by_this_command`` when an event of this command ended it: a late move-in, R28–R30, says so),
and any other card the command ended in the same save (R62 at a handover, R64 person-wide).

The command log stores the result in clear (ids, types, versions, status: no personal data), so
a duplicate can answer it. The fee and the ends are not stored there: a card's end names its
rule and reason (a death, R32) and the payloads that say so are encrypted. A duplicate answers
them again from the cards' events as this command left them (``answered_again``: the card
folded up to the version the command reached, or as recorded by the command's time, R66), which
is what the first run answered. Results stored before these fields existed load unchanged.

May import: ``lifecycle``, ``eventsourcing``, ``pydantic``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import takewhile
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate
from pydantic import BaseModel, Field

from lifecycle.card import Card
from lifecycle.card.events import ENDING_EVENTS
from lifecycle.identifiers import format_application_id

ANSWERED_FROM_THE_LOG = frozenset({"fee", "ended", "other_cards_ended", "erasure"})
"""Fields of a result the command log does not keep: answered from the cards' events."""
_ENDING_TYPES = frozenset(cls.__name__ for cls in ENDING_EVENTS)


class RecordedEvent(BaseModel):
    aggregate_id: UUID
    version: int
    type: str
    effective_at: datetime | None = None


class FeeState(BaseModel):
    """The card's fee (手数料, R07–R10) after the command: assessed, paid and still due, in yen."""

    assessed_yen: int
    paid_yen: int
    due_yen: int


class Erasure(BaseModel):
    """What ``forget`` did to the store (issue 13): the person's references whose data keys are
    destroyed, how many this run destroyed (0 on a replay), whether the database's old copies
    were scrubbed, and how many of the person's events keep personal fields stored plainly
    (recorded before erasable fields existed: not erasable, see docs/integrity.md)."""

    holder_refs: list[str]
    keys_destroyed: int
    scrubbed: bool
    plain_events: int


class CardEnd(BaseModel):
    """How and when a card ended (``status``'s ``ended``), and whether this command ended it."""

    card_id: UUID
    application_id: str
    status: str
    rule: str
    at: datetime
    reason: str | None = None
    by_this_command: bool = False


class CommandResult(BaseModel):
    """What a command answers; its summary is stored with it, and answered again for a duplicate."""

    command: str
    command_id: UUID
    card_id: UUID
    application_id: str
    status: str
    events: list[RecordedEvent] = Field(default_factory=list)
    duplicate: bool = False
    fee: FeeState | None = None
    """The card's fee after the command (None only where the card's events cannot be read)."""
    ended: CardEnd | None = None
    """The card's end once it has ended (``by_this_command`` when an event of this command ended it)."""
    other_cards_ended: list[CardEnd] = Field(default_factory=list)
    """Other cards this command ended in the same save (R62 at a handover, R64 person-wide)."""
    erasure: Erasure | None = None
    """``forget`` only (issue 13): what the erasure did to the store."""

    def stored(self) -> dict[str, Any]:
        """What the command log keeps (in clear): the summary, without the fee and the ends."""
        return self.model_dump(mode="json", exclude=set(ANSWERED_FROM_THE_LOG))


class EventSource(Protocol):
    """An aggregate's stored events, oldest first, up to a version (the application's event store)."""

    def get(self, originator_id: UUID, *, lte: int | None = None) -> Iterable[Any]: ...


def command_result(command: Any, card: Card, changed: Sequence[Aggregate]) -> CommandResult:
    """What the command answers: the card it concerns and every event it is about to record."""
    events = [
        RecordedEvent(
            aggregate_id=e.originator_id,
            version=e.originator_version,
            type=type(e).__name__,
            effective_at=getattr(e, "effective_at", None),
        )
        for aggregate in changed
        for e in aggregate.pending_events
    ]
    result = CommandResult(
        command=command.COMMAND,
        command_id=command.command_id,
        card_id=card.id,
        application_id=format_application_id(card.application_id),
        status=card.status,
        events=events,
    )
    others = [(c, list(c.pending_events)) for c in changed if isinstance(c, Card) and c.id != card.id]
    return result.model_copy(update=card_facts(command.command_id, card, list(card.pending_events), others))


def answered_again(result: CommandResult, recorded_at: datetime, source: EventSource) -> CommandResult:
    """A stored result with its fee and ends, from the cards as the command left them."""
    reached: dict[UUID, int] = {}
    for e in result.events:
        reached[e.aggregate_id] = max(reached.get(e.aggregate_id, 0), e.version)
    card, events = _as_left(source, result.card_id, reached.get(result.card_id), recorded_at)
    if not isinstance(card, Card):
        return result
    ending = {e.aggregate_id for e in result.events if e.type in _ENDING_TYPES} - {result.card_id}
    others = []
    for aggregate_id in [i for i in reached if i in ending]:
        other, other_events = _as_left(source, aggregate_id, reached[aggregate_id], recorded_at)
        if isinstance(other, Card):
            others.append((other, other_events))
    return result.model_copy(update=card_facts(result.command_id, card, events, others))


def card_facts(
    command_id: UUID, card: Card, events: Sequence[Any], others: Sequence[tuple[Card, Sequence[Any]]]
) -> dict[str, Any]:
    """``fee``, ``ended`` and ``other_cards_ended`` of a result; ``events``: the card's events
    (those of the command among them), ``others``: the other cards the command changed."""
    return {
        "fee": FeeState(
            assessed_yen=card.fee_assessed_yen, paid_yen=card.fee_paid_yen, due_yen=card.outstanding_fee_yen
        ),
        "ended": _card_end(card, _ends(events, command_id)),
        "other_cards_ended": [
            end
            for other, other_events in others
            if _ends(other_events, command_id) and (end := _card_end(other, True)) is not None
        ],
    }


def _ends(events: Iterable[Any], command_id: UUID) -> bool:
    """An event of the command ends the card."""
    return any(isinstance(e, ENDING_EVENTS) and e.command_id == command_id for e in events)


def _card_end(card: Card, by_this_command: bool) -> CardEnd | None:
    if card.ended is None:
        return None
    return CardEnd(
        card_id=card.id,
        application_id=format_application_id(card.application_id),
        status=card.ended.status,
        rule=card.ended.rule,
        at=card.ended.at,
        reason=card.ended.reason,
        by_this_command=by_this_command,
    )


def _as_left(
    source: EventSource, aggregate_id: UUID, version: int | None, recorded_at: datetime
) -> tuple[Any, list[Any]]:
    """The aggregate as the command left it, and its events: up to the version the command
    reached; when it recorded nothing on it, as recorded by the command's time (R66)."""
    if version is not None:
        events = list(source.get(aggregate_id, lte=version))
    else:
        events = list(takewhile(lambda e: e.timestamp <= recorded_at, source.get(aggregate_id)))
    aggregate: Any = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return aggregate, events
