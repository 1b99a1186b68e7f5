"""``mynacard migrate-holders``: file every card of a store written before R62–R65 under its
person, once, then mark the store (``storage.records.HOLDERS_FILED``). Until then the commands
that need a person's whole standing (apply, hand over, a person-wide invalidation) are refused
with exit 6 naming this command; reads and every other command work as before.

It reads the log once (only the ``Applied`` events: they name each card's person), groups the
cards by person in the order they were applied for, and runs one ``FileCardsUnderPerson``
command per person through the bus (so each is one save with its command-log row, idempotent:
a run killed half way is run again). A person whose My Number changed (R31) is linked to the new
number's person (R65). Persons who hold two cards in use (recorded before R62/R63 refused it) are
counted and reported, not repaired: their next handover ends the extra card (R62).

May import: ``commands.application``, ``commands.models``, ``lifecycle``, ``storage``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from commands import models as m
from commands.application import CardLifecycle
from lifecycle.card import LIVE
from lifecycle.card import events as ev
from storage.records import HOLDERS_FILED

BATCH = 500


@dataclass
class MigrationReport:
    persons: int = 0
    cards: int = 0
    commands_run: int = 0
    already_filed: int = 0
    persons_with_two_cards_in_use: int = 0
    events_recorded: int = 0
    by_type: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {**self.__dict__, "by_type": dict(sorted(self.by_type.items()))}


def cards_by_person(app: CardLifecycle) -> dict[str, list[UUID]]:
    """Every card of the log by its holder reference, in the order they were applied for."""
    persons: dict[str, list[UUID]] = {}
    start = 1
    while True:
        notes = app.recorder.select_notifications(start=start, limit=BATCH, topics=[ev.Applied.TOPIC])
        for note in notes:
            applied = app.mapper.to_domain_event(note)
            assert isinstance(applied, ev.Applied)
            persons.setdefault(applied.holder_ref, []).append(applied.originator_id)
        if len(notes) < BATCH:
            break
        start = notes[-1].id + 1
    return persons


def migrate_holders(
    app: CardLifecycle,
    actor: str,
    progress: Callable[[int], None] = lambda _n: None,
    persons: dict[str, list[UUID]] | None = None,
) -> MigrationReport:
    """File every person's cards (``persons``: ``cards_by_person`` when not given), then mark the
    store; the report counts what was done."""
    report = MigrationReport()
    persons = cards_by_person(app) if persons is None else persons
    report.persons, report.cards = len(persons), sum(len(ids) for ids in persons.values())
    for holder_ref, card_ids in persons.items():
        command = m.FileCardsUnderPerson(
            command_id=uuid5(NAMESPACE_URL, f"mynacard:file-cards-under-person/{holder_ref}/{actor}"),
            actor=actor,
            holder_ref=holder_ref,
            card_ids=card_ids,
        )
        result = app.execute(command)
        report.commands_run += 1
        if not result.events or result.duplicate:
            report.already_filed += 1
        for e in [] if result.duplicate else result.events:
            report.events_recorded += 1
            report.by_type[e.type] = report.by_type.get(e.type, 0) + 1
        live = [i for i in card_ids if (card := app.load_card(i)) is not None and card.status in LIVE]
        report.persons_with_two_cards_in_use += len(live) > 1
        progress(1)
    app.command_log.set_store_mark(HOLDERS_FILED, datetime.now(UTC).isoformat())
    app.holders_complete = True
    return report
