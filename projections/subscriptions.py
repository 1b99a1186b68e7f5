"""Following the event log from outside: relying parties, convenience-store issuance, the
renewal-notice mailing.

- ``follow(...)``: an iterator of ``(position, event)`` after a position, in log order, with no
  gaps (the log's positions are assigned in commit order), optionally waiting for new events.
- ``DurableConsumer``: a named consumer whose acknowledged position (its checkpoint) is stored
  beside the fingerprints of the events it acknowledged (``storage.interface.Checkpoints``, one
  implementation per backend). Delivery is
  at-least-once and in order: the checkpoint moves only on an acknowledgement, so after a crash
  the consumer resumes after the last acknowledged position and the position is the idempotency
  key of a downstream system.

  - ``pending()`` delivers the events after the checkpoint and never moves it (the CLI's
    ``events --consumer X``); ``acknowledge(N)`` moves it forward, never back (``--ack N``);
    ``reset_to(N)`` moves it anywhere (``--reset-to N``: the recovery after a restored store).
  - ``run(handler)`` is the in-process form: the handler's return is the acknowledgement. Given
    a ``Retry`` (``projections.dead_letters``), a failing handler is retried with backoff and
    then the event is parked as a dead letter while the checkpoint moves past it (one
    transaction); ``retry_parked``, ``redeliver_parked`` and ``skip`` settle parked events, and
    an acknowledgement of exactly a parked position settles it too.
  - Every read first checks that the log still holds the acknowledged event at the checkpoint
    (``CheckpointNotInLog`` when an older backup of the store was restored, or the checkpoints
    belong to another store): nothing is skipped or silently not delivered.
  - ``lease()`` makes a consumer name readable by one process at a time (``ConsumerBusy``).
  - Given ``chain`` (``projections.chain_follower.ChainGuard``), ``pending`` and ``run`` keep
    the hash chain over what they deliver and check each signed checkpoint (issue 13).

May import: ``eventsourcing.persistence``, the standard library, ``storage`` (its interface,
records and errors; never a backend), ``projections.wakeup`` and ``projections.dead_letters``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification

from projections.dead_letters import (
    DELIVERED,
    SKIPPED,
    Attempt,
    DeadLetter,
    NotParked,
    Retry,
    deliver,
    now_text,
)
from projections.wakeup import wakeup_for
from storage.errors import ConsumerBusy
from storage.interface import Checkpoints
from storage.records import fingerprint as event_fingerprint

__all__ = [  # ``ConsumerBusy`` is storage's (the lease raises it); imported from here as before
    "FINGERPRINT_HISTORY",
    "MAX_CONSUMER_NAME",
    "MAX_POSITION",
    "CheckpointMove",
    "CheckpointNotInLog",
    "ConsumerBusy",
    "DeadLetter",
    "DurableConsumer",
    "NotParked",
    "PositionNotInLog",
    "Retry",
    "check_consumer_name",
    "follow",
    "log_head",
    "notification_at",
    "notifications",
]

DEFAULT_BATCH = 500
MAX_POSITION = 2**63 - 1
"""The largest position a log can have (a signed 64-bit integer on both backends)."""
MAX_CONSUMER_NAME = 100
_CONSUMER_NAME = re.compile(r"[^\W_][\w.:@/-]*")
FINGERPRINT_HISTORY = 64
"""How many of a consumer's latest acknowledgements keep their fingerprint: the candidates for
the position to resume from after a restored store."""


# ----------------------------------------------------------------------------- errors


class CheckpointNotInLog(Exception):
    """The log no longer holds the event a consumer acknowledged at its checkpoint: the log is
    shorter than the checkpoint, or holds another event there (an older backup of the event store
    was restored, or the checkpoints belong to another store). Nothing is delivered until the
    checkpoint is reset; ``resume_from`` is the newest acknowledged position the log still holds
    (0 when none)."""

    def __init__(self, consumer: str, checkpoint: int, log_head: int, reason: str, resume_from: int) -> None:
        self.consumer = consumer
        self.checkpoint = checkpoint
        self.log_head = log_head
        self.reason = reason
        self.resume_from = resume_from
        super().__init__(
            f"consumer {consumer!r} acknowledged position {checkpoint}, but {reason}: the event store "
            "was restored from an older backup, or the consumer's checkpoints belong to another store; "
            "nothing was delivered"
        )

    def advice(self) -> str:
        """What an operator does next (the command-line form)."""
        kept = (
            f"position {self.resume_from} is the newest acknowledged event this log still holds"
            if self.resume_from
            else "none of the acknowledged events this consumer remembers is in this log"
        )
        return (
            f"{kept}: tell the downstream system that positions above {self.resume_from} may now name "
            f"other events (drop what it recorded for them), then run 'mynacard events --consumer "
            f"{self.consumer} --reset-to {self.resume_from}' to resume after it (or '--reset-to "
            f"{self.log_head}' to skip to the end of the log, {self.log_head})"
        )


class PositionNotInLog(ValueError):
    """An acknowledgement or a reset names a position the log does not hold."""

    def __init__(self, position: int, log_head: int, reason: str) -> None:
        self.position = position
        self.log_head = log_head
        super().__init__(f"{reason} (the log ends at position {log_head})")


def check_consumer_name(name: str) -> str:
    """A consumer name: 1–100 letters, digits and ``. _ : @ / -``, starting with a letter or
    a digit (no spaces or control characters; ``__…`` is the library's own)."""
    if not name:
        raise ValueError("give the consumer a name, e.g. 'renewal-mailing'")
    if len(name) > MAX_CONSUMER_NAME:
        raise ValueError(f"at most {MAX_CONSUMER_NAME} characters (got {len(name)})")
    if not _CONSUMER_NAME.fullmatch(name):
        raise ValueError(
            "use letters, digits and . _ : @ / - (starting with a letter or a digit; no spaces or "
            "control characters)"
        )
    return name


# ----------------------------------------------------------------------------- reading the log


def notifications(
    recorder: ApplicationRecorder,
    *,
    after: int = 0,
    wait: bool = False,
    poll_interval: float = 0.5,
    stop: threading.Event | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> Iterator[Notification]:
    """The stored notifications after position ``after`` (see ``follow``)."""
    position = after
    wakeup = wakeup_for(recorder) if wait else None
    try:
        while stop is None or not stop.is_set():
            notes = recorder.select_notifications(start=position, limit=batch_size, inclusive_of_start=False)
            for n in notes:
                yield n
                position = n.id
            if len(notes) == batch_size:
                continue
            if not wait:
                return
            if wakeup is not None and wakeup.error is None:
                wakeup.wait(30.0, stop)  # pushed: a NOTIFY wakes it at once
            elif stop is not None:
                stop.wait(poll_interval)
            else:
                time.sleep(poll_interval)
    finally:
        if wakeup is not None:
            wakeup.close()


def follow(
    recorder: ApplicationRecorder,
    mapper: Mapper[UUID],
    *,
    after: int = 0,
    wait: bool = False,
    poll_interval: float = 0.5,
    stop: threading.Event | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> Iterator[tuple[int, Any]]:
    """Every event after position ``after``; with ``wait``, keep waiting for new ones until
    ``stop`` is set — woken by LISTEN/NOTIFY on PostgreSQL, polling on SQLite."""
    for n in notifications(
        recorder, after=after, wait=wait, poll_interval=poll_interval, stop=stop, batch_size=batch_size
    ):
        yield n.id, mapper.to_domain_event(n)


def notification_at(recorder: ApplicationRecorder, position: int) -> Notification | None:
    """The stored event at exactly ``position`` (None when the log has none there)."""
    if position < 1 or position > MAX_POSITION:
        return None
    notes = recorder.select_notifications(start=position, limit=1)
    return notes[0] if notes and notes[0].id == position else None


def log_head(recorder: ApplicationRecorder) -> int:
    """The last position of the log (0 when it is empty)."""
    return recorder.max_notification_id() or 0


# ----------------------------------------------------------------------------- durable consumers


@dataclass(frozen=True, slots=True)
class CheckpointMove:
    """The outcome of an acknowledgement or a reset."""

    consumer: str
    requested: int
    previous: int
    checkpoint: int
    log_head: int
    settled: bool = False
    """An acknowledgement of exactly a parked event's position settled it (``delivered``)."""

    @property
    def changed(self) -> bool:
        return self.checkpoint != self.previous


class DurableConsumer:
    """A named subscriber with a stored checkpoint (at-least-once, in order, resumable; the
    position is the idempotency key). ``retry``: how ``run`` retries a failing handler before
    parking the event (None: it does not; the handler's exception ends the run)."""

    def __init__(
        self,
        name: str,
        checkpoints: Checkpoints,
        recorder: ApplicationRecorder,
        mapper: Mapper[UUID],
        *,
        retry: Retry | None = None,
        chain: Callable[[int, Iterator[Notification]], Iterator[Notification]] | None = None,
    ) -> None:
        self.name = check_consumer_name(name)
        self.retry = retry
        self.chain = chain
        self.checkpoints = checkpoints
        self.store = checkpoints
        """Where the checkpoint and its fingerprints are kept (the same object as ``checkpoints``)."""
        self.recorder = recorder
        self.mapper = mapper

    @property
    def position(self) -> int:
        """The acknowledged position (as stored; ``check()`` also proves the log holds it)."""
        return self.store.position(self.name)

    def lease(self) -> AbstractContextManager[None]:
        """A context in which this process alone reads this consumer (``ConsumerBusy`` when
        another process holds it; see ``Checkpoints.lease``)."""
        return self.checkpoints.lease(self.name)

    def check(self) -> int:
        """The acknowledged position, once the log is shown to still hold the acknowledged event
        there; ``CheckpointNotInLog`` otherwise."""
        position = self.position
        if position == 0:
            return 0
        head = log_head(self.recorder)
        remembered = self.store.fingerprints(self.name)
        if head < position:
            reason = f"the log ends at position {head}"
            raise CheckpointNotInLog(self.name, position, head, reason, self._resume_point(remembered, head))
        expected = dict(remembered).get(position)
        found = self._fingerprint_at(position) if expected is not None else None
        if expected is not None and found != expected:
            there = "has no event" if found is None else "holds another event"
            reason = f"the log {there} at position {position}"
            raise CheckpointNotInLog(self.name, position, head, reason, self._resume_point(remembered, head))
        return position

    def _fingerprint_at(self, position: int) -> str | None:
        found = notification_at(self.recorder, position)
        return event_fingerprint(found) if found is not None else None

    def _resume_point(self, remembered: list[tuple[int, str]], head: int) -> int:
        """The newest remembered acknowledgement whose event the log still holds (0: none)."""
        for position, fingerprint in remembered:
            if position <= head and self._fingerprint_at(position) == fingerprint:
                return position
        return 0

    def pending(
        self,
        *,
        wait: bool = False,
        stop: threading.Event | None = None,
        poll_interval: float = 0.5,
    ) -> Iterator[tuple[int, Any]]:
        """The events after the acknowledged position (checked first), in order; the checkpoint
        does not move: the receiver acknowledges what it has handled with ``acknowledge``."""
        after = self.check()
        notes = self._read(after, wait=wait, stop=stop, poll_interval=poll_interval)
        return ((n.id, self.mapper.to_domain_event(n)) for n in notes)

    def _read(self, after: int, **options: Any) -> Iterator[Notification]:
        notes = notifications(self.recorder, after=after, **options)
        return notes if self.chain is None else self.chain(after, notes)

    def acknowledge(self, position: int, *, by: str = "acknowledgement") -> CheckpointMove:
        """Everything up to ``position`` was handled: move the checkpoint forward to it. At or
        below the checkpoint the checkpoint does not change, but a parked event at exactly
        ``position`` is settled (``delivered``, ``by``); beyond the log, or where the log has no
        event, ``PositionNotInLog``; ``CheckpointNotInLog`` when the stored checkpoint is not in
        this log."""
        previous = self.check()
        head = log_head(self.recorder)
        if position > head:
            raise PositionNotInLog(position, head, f"position {position} is beyond the end of the log")
        if position <= previous:
            settled = position > 0 and self.store.settle(self.name, position, DELIVERED, at=now_text(), by=by)
            return CheckpointMove(self.name, position, previous, previous, head, settled)
        found = notification_at(self.recorder, position)
        if found is None:
            raise PositionNotInLog(position, head, f"the log has no event at position {position}")
        self.store.advance(self.name, position, event_fingerprint(found), keep=FINGERPRINT_HISTORY)
        return CheckpointMove(self.name, position, previous, self.position, head)

    def reset_to(self, position: int) -> CheckpointMove:
        """Move the checkpoint to ``position`` (0: the start of the log), also backwards: the
        next read starts after it. The recovery after a restored store (see ``CheckpointNotInLog``)."""
        previous = self.position
        head = log_head(self.recorder)
        if position < 0 or position > head:
            raise PositionNotInLog(position, head, f"position {position} is not in 0…{head}")
        fingerprint = None
        if position:
            found = notification_at(self.recorder, position)
            if found is None:
                raise PositionNotInLog(position, head, f"the log has no event at position {position}")
            fingerprint = event_fingerprint(found)
        self.store.reset(self.name, position, fingerprint)
        return CheckpointMove(self.name, position, previous, position, head)

    def run(
        self,
        handler: Callable[[int, Any], None],
        *,
        wait: bool = False,
        stop: threading.Event | None = None,
        limit: int | None = None,
        poll_interval: float = 0.5,
        retry: Retry | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> int:
        """Deliver events after the checkpoint to ``handler``; its return acknowledges the event
        (the checkpoint advances to it, with its fingerprint). Without a retry (``retry`` or the
        consumer's), an exception leaves the checkpoint before the event and ends the run; with
        one, the handler is called again after the backoff (``sleep`` replaces the wait), and
        after the last failed attempt the event is parked and the checkpoint moves past it, in one
        transaction. A stop asked for while waiting to retry ends the run before the event.
        Returns how many events the checkpoint moved over (handled or parked)."""
        retry = retry or self.retry
        delivered = 0
        for n in self._read(self.check(), wait=wait, stop=stop, poll_interval=poll_interval):
            event = self.mapper.to_domain_event(n)
            if retry is None:
                handler(n.id, event)
                outcome = Attempt(True, 1)
            else:
                outcome = deliver(handler, n.id, event, retry, stop=stop, sleep=sleep)
            if outcome.stopped:
                break
            fingerprint = event_fingerprint(n)
            if outcome.handled:
                self.store.advance(self.name, n.id, fingerprint, keep=FINGERPRINT_HISTORY)
            else:
                letter = DeadLetter(
                    self.name,
                    n.id,
                    type(event).__name__,
                    fingerprint,
                    outcome.error or "",
                    outcome.attempts,
                    now_text(),
                )
                self.store.park(letter, keep=FINGERPRINT_HISTORY)
            delivered += 1
            if limit is not None and delivered >= limit:
                break
        return delivered

    # ------------------------------------------------------------------------- dead letters

    def parked(self, *, open_only: bool = True) -> list[DeadLetter]:
        """This consumer's parked events (with ``open_only=False``: settled ones too), by position."""
        return self.store.dead_letters(self.name, open_only=open_only)

    def _open_letters(self, position: int | None) -> list[DeadLetter]:
        if position is None:
            return self.parked()
        letter = self.store.dead_letter(self.name, position)
        if letter is None or not letter.open:
            raise NotParked(self.name, position, letter)
        return [letter]

    def parked_events(self, position: int | None = None) -> Iterator[tuple[DeadLetter, Any]]:
        """The parked events (or the one at ``position``: ``NotParked`` when none is parked there),
        each with its dead letter, read from the log; ``PositionNotInLog`` when the log no longer
        holds the event that was parked there (a restored store)."""
        for letter in self._open_letters(position):
            found = notification_at(self.recorder, letter.position)
            if found is None or event_fingerprint(found) != letter.fingerprint:
                raise PositionNotInLog(
                    letter.position,
                    log_head(self.recorder),
                    f"the log no longer holds the event parked at position {letter.position} "
                    "(the event store was restored from an older backup?)",
                )
            yield letter, self.mapper.to_domain_event(found)

    def redeliver_parked(
        self, emit: Callable[[int, Any], None], position: int | None = None
    ) -> list[DeadLetter]:
        """Hand the parked events (or the one at ``position``) to ``emit`` once each, recording the
        re-delivery; they stay parked until acknowledged (``acknowledge`` of exactly their
        position) or skipped: the form for a downstream that acknowledges by itself (the CLI)."""
        done = []
        for letter, event in self.parked_events(position):
            emit(letter.position, event)
            self.store.note_redelivery(self.name, letter.position, at=now_text())
            done.append(letter)
        return done

    def retry_parked(
        self,
        handler: Callable[[int, Any], None],
        position: int | None = None,
        *,
        retry: Retry | None = None,
        stop: threading.Event | None = None,
        sleep: Callable[[float], None] | None = None,
        by: str = "retry",
    ) -> list[tuple[int, bool]]:
        """Deliver the parked events (or the one at ``position``) to ``handler`` again, retried as
        ``run`` retries (one attempt without a retry). One it handles is settled (``delivered``,
        ``by``); one it fails on stays parked with the new error and attempts. Returns
        (position, handled) for each."""
        policy = retry or self.retry or Retry(attempts=1)
        outcomes = []
        for letter, event in self.parked_events(position):
            outcome = deliver(handler, letter.position, event, policy, stop=stop, sleep=sleep)
            if outcome.stopped:
                break
            if outcome.handled:
                self.store.settle(self.name, letter.position, DELIVERED, at=now_text(), by=by)
            else:
                self.store.note_redelivery(
                    self.name, letter.position, at=now_text(), attempts=outcome.attempts, error=outcome.error
                )
            outcomes.append((letter.position, outcome.handled))
        return outcomes

    def skip(self, position: int, reason: str, by: str) -> DeadLetter:
        """Give up a parked event: settled as ``skipped`` with ``reason`` and who did it
        (``NotParked`` when none is parked there)."""
        self._open_letters(position)
        if not self.store.settle(self.name, position, SKIPPED, at=now_text(), by=by, reason=reason):
            raise NotParked(self.name, position, self.store.dead_letter(self.name, position))
        letter = self.store.dead_letter(self.name, position)
        assert letter is not None
        return letter
