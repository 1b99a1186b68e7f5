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
  - ``run(handler)`` is the in-process form: the handler's return is the acknowledgement.
  - Every read first checks that the log still holds the acknowledged event at the checkpoint
    (``CheckpointNotInLog`` when an older backup of the store was restored, or the checkpoints
    belong to another store): nothing is skipped or silently not delivered.
  - ``lease()`` makes a consumer name readable by one process at a time (``ConsumerBusy``).

May import: ``eventsourcing.persistence``, the standard library, ``storage`` (its interface,
records and errors; never a backend) and ``projections.wakeup``.
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
    "DurableConsumer",
    "PositionNotInLog",
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

    @property
    def changed(self) -> bool:
        return self.checkpoint != self.previous


class DurableConsumer:
    """A named subscriber with a stored checkpoint (at-least-once, in order, resumable; the
    position is the idempotency key)."""

    def __init__(
        self,
        name: str,
        checkpoints: Checkpoints,
        recorder: ApplicationRecorder,
        mapper: Mapper[UUID],
    ) -> None:
        self.name = check_consumer_name(name)
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
        return follow(
            self.recorder, self.mapper, after=after, wait=wait, stop=stop, poll_interval=poll_interval
        )

    def acknowledge(self, position: int) -> CheckpointMove:
        """Everything up to ``position`` was handled: move the checkpoint forward to it. At or
        below the checkpoint nothing changes; beyond the log, or where the log has no event,
        ``PositionNotInLog``; ``CheckpointNotInLog`` when the stored checkpoint is not in this log."""
        previous = self.check()
        head = log_head(self.recorder)
        if position > head:
            raise PositionNotInLog(position, head, f"position {position} is beyond the end of the log")
        if position <= previous:
            return CheckpointMove(self.name, position, previous, previous, head)
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
    ) -> int:
        """Deliver events after the checkpoint to ``handler``; its return acknowledges the event
        (the checkpoint advances to it, with its fingerprint); an exception leaves the checkpoint
        before it. Returns how many were delivered."""
        delivered = 0
        for n in notifications(
            self.recorder, after=self.check(), wait=wait, stop=stop, poll_interval=poll_interval
        ):
            handler(n.id, self.mapper.to_domain_event(n))
            self.store.advance(self.name, n.id, event_fingerprint(n), keep=FINGERPRINT_HISTORY)
            delivered += 1
            if limit is not None and delivered >= limit:
                break
        return delivered
