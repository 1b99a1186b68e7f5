"""The command bus: how one command becomes one transaction.

``CommandBus.execute`` runs a command model through five steps:

1. stamp — the recorded time (the clock, never behind the newest recorded event: R66,
   ``ClockBehindLog``) and the effective time (at most ``CLOCK_SKEW`` ahead, D13);
2. dispatch — the handler of the command's type, from the explicit table
   ``commands.handlers.HANDLERS``;
3. consequences — the certificate policies (``commands.consequences``) on every changed card's
   new events;
4. one save — every changed aggregate and the command-log row together, so a command has all
   its effects or none;
5. retry — a transient failure (optimistic-concurrency conflict, lock wait, lost connection)
   is retried up to ``max_attempts`` times; a store that refuses writes for good (disk full,
   read only) is ``StoreUnwritable`` at once.

Idempotency: the same command id sent again answers the first result (``duplicate``; the
command log keeps its summary, the fee and card ends come from the events as the command left
them, ``commands.results``); sent again with a different payload it is ``CommandIdReused``.

The bus holds no state of its own: it reads everything from its ``WriteStore`` at each call
(the application, ``commands.application.CardLifecycle``, which constructs its bus), so a
setting changed on the application (``max_attempts``, ``clock``) applies to the next command.

May import: ``commands.handlers``, ``commands.cache``, ``commands.consequences``,
``commands.command_log``, ``commands.models``, ``commands.errors``, ``commands.config``,
``commands.idempotency``, ``commands.results``, ``lifecycle``. Never ``commands.application`` (it
imports the bus).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, OperationalError, Recording

from commands import models as m
from commands.cache import CoherentCache
from commands.consequences import CardCertificates, react
from commands.errors import CommandIdReused, ConcurrencyConflict, InputError
from commands.handlers import HANDLERS, Context, Handler, Outcome
from commands.handlers.context import CardSource
from commands.idempotency import payload_digest
from commands.results import (
    CardEnd,
    CommandResult,
    EventSource,
    FeeState,
    RecordedEvent,
    answered_again,
    command_result,
)
from lifecycle.calendar import to_jst
from lifecycle.card import Card
from lifecycle.decisions import Policies
from lifecycle.errors import RuleViolation
from lifecycle.stamp import Stamp
from storage.errors import ConfigurationError
from storage.interface import CommandLog
from storage.records import CLOCK_GUARD_KWARG, COMMAND_LOG_KWARG, CommandLogEntry

CLOCK_SKEW = timedelta(minutes=5)
"""An effective time may lie this far after the service's clock (clients' clocks drift)."""
CLOCK_TOLERANCE = timedelta(seconds=5)
"""R66: how far the clock may lag the newest recorded event (setting ``MYNACARD_CLOCK_TOLERANCE``)."""
ONE_TICK = timedelta(microseconds=1)

TRANSIENT_MARKERS = (
    "locked",
    "busy",
    "lock timeout",
    "deadlock",
    "could not serialize",
    "concurrent",
    "connection",
    "server closed",
    "terminating",
)


def _transient(error: Exception) -> bool:
    """An optimistic-concurrency conflict or a lock wait is worth another attempt; a full disk
    or a read-only store is not (issue 8 item 10)."""
    if isinstance(error, IntegrityError):
        return True
    text = str(error).lower()
    return any(marker in text for marker in TRANSIENT_MARKERS)


class StoreUnwritable(ConfigurationError):
    """The store refuses writes for a reason another attempt does not cure (disk full, read-only)."""


class ClockBehindLog(ConfigurationError):
    """R66: the service's clock is behind the newest recorded event by more than the tolerance."""


class WriteStore(CardSource, Protocol):
    """What the bus needs of the application: its cards and certificates (``CardSource``), its
    coherent cache and write lock, its settings, its command log, its event store (a duplicate's
    fee and card ends are answered from it: ``commands.results``), and ``save``."""

    cache: CoherentCache
    holder_key: bytes
    policies: Policies
    clock: Callable[[], datetime]
    clock_tolerance: timedelta | None
    max_attempts: int
    office: str | None

    @property
    def events(self) -> EventSource: ...

    @property
    def command_log(self) -> CommandLog: ...

    def save(self, *objs: Aggregate, **kwargs: Any) -> list[Recording[UUID]]: ...


class CommandBus:
    """Executes command models against one ``WriteStore``, one command at a time per process."""

    def __init__(self, store: WriteStore, handlers: Mapping[type[m.Command], Handler] = HANDLERS) -> None:
        self._store = store
        self._handlers = handlers

    def execute(self, command: m.Command) -> CommandResult:
        """Run a command model through its handler; answer its result (or the first result of
        the same command id).

        Commands of one process run one at a time (writes to the log are serialized by the
        database anyway); that lets the write path use cached aggregates without copying them.
        Whatever a failed attempt loaded is dropped from the cache, so nothing half-changed is
        ever reused.
        """
        store, cache = self._store, self._store.cache
        handler = self._handlers[type(command)]
        digest = payload_digest(store.holder_key, command)
        last_error: Exception | None = None
        with cache.lock:
            for attempt in range(store.max_attempts):
                try:
                    with cache.attempt():
                        cache.ensure_current()
                        result, changed, entry = self._prepare(handler, command, digest)
                        guard = store.clock_tolerance is not None  # R66, checked again in the save
                        saved = store.save(*changed, **{COMMAND_LOG_KWARG: entry, CLOCK_GUARD_KWARG: guard})
                        cache.saw_own_writes(saved, entry.recorded_at)
                except (RuleViolation, InputError):
                    prior = self._prior_result(command.command_id, digest)
                    if prior is not None:
                        return prior
                    if attempt + 1 < store.max_attempts and cache.moved_on():
                        # Another writer recorded meanwhile: the refusal may rest on what it
                        # changed (a card state, R66's newest time); judge again on the new log.
                        continue
                    raise
                except (IntegrityError, OperationalError) as e:
                    if not _transient(e):
                        raise StoreUnwritable(
                            f"{command.COMMAND}: the event store cannot be written "
                            f"({' '.join(str(e).split())}); nothing was recorded. Free disk space, make the "
                            "store writable (MYNACARD_DATABASE_URL), then send the same command again"
                        ) from None
                    prior = self._prior_result(command.command_id, digest)
                    if prior is not None:
                        return prior
                    last_error = e
                    time.sleep(random.uniform(0, 0.01 * 2**attempt))
                    continue
                return result
        raise ConcurrencyConflict(
            f"{command.COMMAND}: the card kept changing under {store.max_attempts} attempts "
            f"({type(last_error).__name__})"
        )

    def _prepare(
        self, handler: Handler, command: m.Command, digest: str
    ) -> tuple[CommandResult, list[Aggregate], CommandLogEntry]:
        """Stamp, dispatch, apply the policies: everything but the save."""
        store = self._store
        now = self._recorded_time()
        stamp = _stamp(command, now)
        outcome = handler(Context(store, stamp, store.policies, store.holder_key, store.office), command)
        changed = self._with_consequences(outcome, stamp)
        result = command_result(command, outcome.card, changed)
        entry = CommandLogEntry(
            command.command_id, command.COMMAND, digest, command.actor, now, result.stored()
        )
        return result, changed, entry

    def _recorded_time(self) -> datetime:
        """R66: the recorded time of the next command — the clock, unless the clock is behind the
        newest recorded event: within the tolerance just after that event, beyond it refused
        (``ClockBehindLog``, nothing written). Audit replay "as known at S" relies on it."""
        store = self._store
        now = to_jst(store.clock())
        if store.clock_tolerance is None:
            return now
        newest = store.cache.newest_recorded_time()
        if newest is None or now > newest:
            return now
        if newest - now > store.clock_tolerance:
            raise ClockBehindLog(
                f"R66: the clock ({now.isoformat()}) is {(newest - now).total_seconds():.3f} s behind the "
                f"newest recorded event ({newest.isoformat()}), more than the tolerance of "
                f"{store.clock_tolerance.total_seconds():g} s; correct the system clock (NTP) or "
                "MYNACARD_NOW, or raise MYNACARD_CLOCK_TOLERANCE (nothing was written)"
            )
        return to_jst(newest + ONE_TICK)

    def _with_consequences(self, outcome: Outcome, stamp: Stamp) -> list[Aggregate]:
        """Run the certificate policies on every changed card's new events (same transaction)."""
        changed: dict[UUID, Aggregate] = {a.id: a for a in outcome.changed}
        loaded = {cc.card.id: cc for cc in outcome.certificates}
        for aggregate in list(changed.values()):
            if isinstance(aggregate, Card):
                cc = loaded.get(aggregate.id) or CardCertificates(aggregate, self._store)
                react(cc, list(aggregate.pending_events), stamp, self._store.policies)
                for cert in cc.changed.values():
                    changed.setdefault(cert.id, cert)
        return list(changed.values())

    def _prior_result(self, command_id: UUID, digest: str) -> CommandResult | None:
        """The first result of this command id, marked duplicate; ``CommandIdReused`` if the id
        was used for a different payload."""
        entry = self._store.command_log.select_command(command_id)
        if entry is None:
            return None
        if entry.digest != digest:
            raise CommandIdReused(
                f"command id {command_id} was already used for a different {entry.command} command"
            )
        result = answered_again(
            CommandResult.model_validate(entry.result), entry.recorded_at, self._store.events
        )
        return result.model_copy(update={"duplicate": True})


def _stamp(command: m.Command, now: datetime) -> Stamp:
    """Who, when recorded, and when it happened (D13: not more than ``CLOCK_SKEW`` ahead)."""
    effective_at = now if command.effective_at is None else to_jst(command.effective_at)
    if effective_at > now + CLOCK_SKEW:
        raise InputError.single(
            "effective_at",
            f"{effective_at.isoformat()} lies in the future (now is {now.isoformat()})",
            "D13",
            hint="record facts when they have happened",
        )
    return Stamp(command.command_id, command.actor, now, effective_at)


__all__ = [
    "CLOCK_SKEW",
    "CLOCK_TOLERANCE",
    "CardEnd",
    "ClockBehindLog",
    "CommandBus",
    "CommandResult",
    "FeeState",
    "RecordedEvent",
    "StoreUnwritable",
    "command_result",
]
