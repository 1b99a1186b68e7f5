"""The store's own record of what was done to its log as a whole (事務記録): the hash chain
computed for events written before it (``mynacard chain --init``), and read models rebuilt from a
log whose chain was found broken (``mynacard rebuild --accept-broken-chain``). One aggregate per
store, ``StoreLog``, with a fixed id; its events are log events like any other (chained, fed to
consumers), so the record of an operator's decision is itself tamper-evident (issue 13).

Pure: no I/O. May import: ``eventsourcing.domain`` / ``eventsourcing.utils``, the standard
library and ``lifecycle.identifiers``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate
from eventsourcing.utils import register_topic

from lifecycle.identifiers import NAMESPACE

STORE_LOG_ID: UUID = uuid5(NAMESPACE, "store-log")
"""The one ``StoreLog`` of a store."""


class StoreLogState:
    """What the store log's events build: how many times each thing was done, and the last one."""

    def __init__(self) -> None:
        self.chain_initialisations = 0
        self.broken_chains_accepted: list[int] = []
        """The break positions an operator accepted, in order."""


class StoreLogOpened(Aggregate.Created):
    """The store log was started (with the first thing it records)."""

    TOPIC = "mynacard.StoreLog.Opened"
    actor: str

    def apply(self, aggregate: Any) -> None:
        del aggregate


class StoreLogEvent(Aggregate.Event):
    """Base of every store-log event after the first."""

    TOPIC = "mynacard.StoreLog.Event"
    actor: str

    def apply(self, aggregate: Any) -> None:
        self.apply_to(aggregate)

    def apply_to(self, log: StoreLogState) -> None:
        """Mutate the store log."""


class ChainInitialised(StoreLogEvent):
    """``mynacard chain --init`` computed the hash chain of the events written before the chain
    existed: ``events_chained`` events up to ``position``, whose chain hash is ``chain_hash``."""

    TOPIC = "mynacard.StoreLog.ChainInitialised"
    events_chained: int
    position: int
    chain_hash: str

    def apply_to(self, log: StoreLogState) -> None:
        log.chain_initialisations += 1


class BrokenChainAccepted(StoreLogEvent):
    """An operator rebuilt the read models from a log whose hash chain is broken at
    ``position`` (``problem`` says how), for the ``reason`` given: the views now follow a log
    that is not the one the chain proves."""

    TOPIC = "mynacard.StoreLog.BrokenChainAccepted"
    position: int
    problem: str
    reason: str
    accepted_at: datetime

    def apply_to(self, log: StoreLogState) -> None:
        log.broken_chains_accepted.append(self.position)


class StoreLog(StoreLogState, Aggregate):
    """The store's own record (see the module docstring)."""

    TOPIC = "mynacard.StoreLog"

    class Created(Aggregate.Created):
        TOPIC = "mynacard.StoreLog.Created"

    class Event(Aggregate.Event):
        TOPIC = "mynacard.StoreLog.BaseEvent"

    @classmethod
    def open(cls, actor: str, at: datetime) -> StoreLog:
        log: StoreLog = cls._create(StoreLogOpened, id=STORE_LOG_ID, actor=actor, timestamp=at)
        return log

    def chain_initialised(
        self, actor: str, at: datetime, events_chained: int, position: int, chain_hash: str
    ) -> None:
        self.trigger_event(
            ChainInitialised,
            timestamp=at,
            actor=actor,
            events_chained=events_chained,
            position=position,
            chain_hash=chain_hash,
        )

    def broken_chain_accepted(
        self, actor: str, position: int, problem: str, reason: str, accepted_at: datetime
    ) -> None:
        self.trigger_event(
            BrokenChainAccepted,
            timestamp=accepted_at,
            actor=actor,
            position=position,
            problem=problem,
            reason=reason,
            accepted_at=accepted_at,
        )


ALL_STORE_LOG_EVENTS: tuple[type[Any], ...] = (StoreLogOpened, ChainInitialised, BrokenChainAccepted)
"""Every store-log event class, in the order docs/events.md lists them."""

for _cls in ALL_STORE_LOG_EVENTS:
    register_topic(_cls.TOPIC, _cls)
