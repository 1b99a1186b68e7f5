"""The baseline of ``bench.commands``: the least an eventsourcing application can do per command.

A trivial aggregate with one ``@event`` method that sets an attribute, in a plain
``Application`` (default JSON transcoder, no snapshots, no cache), stored by the same library as
mynacard with its stock application recorder (a SQLite file or a PostgreSQL schema). Kept in
its own module so its topics do not depend on how the benchmark is started (``__main__``).
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Counter(Aggregate):
    """One attribute, changed by one event."""

    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.value = 0

    @event("Modified")
    def modify(self, value: int) -> None:
        self.value = value


class Baseline(Application[UUID]):
    """Load → modify → save, nothing else."""

    name = "baseline"

    def create(self, name: str) -> UUID:
        counter = Counter(name)
        self.save(counter)
        return counter.id

    def modify(self, counter_id: UUID, value: int) -> None:
        counter: Counter = self.repository.get(counter_id)
        counter.modify(value)
        self.save(counter)
