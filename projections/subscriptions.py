"""Following the event log from outside: relying parties, convenience-store issuance, the
renewal-notice mailing.

- ``follow(...)``: an iterator of ``(position, event)`` after a position, in log order, with no
  gaps (the log's positions are assigned in commit order), optionally waiting for new events.
- ``DurableConsumer``: a named consumer whose checkpoint is stored (the library's tracking
  recorder, one row per consumer name). It hands each event to a handler, then advances the
  checkpoint: at-least-once, in order; after a crash it resumes after the last checkpoint,
  so the handler must be idempotent per position (use the position as the idempotency key).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, Tracking, TrackingRecorder

from projections.wakeup import wakeup_for

DEFAULT_BATCH = 500


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
    position = after
    wakeup = wakeup_for(recorder) if wait else None
    try:
        while stop is None or not stop.is_set():
            notes = recorder.select_notifications(start=position, limit=batch_size, inclusive_of_start=False)
            for n in notes:
                yield n.id, mapper.to_domain_event(n)
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


class DurableConsumer:
    """A named subscriber with a stored checkpoint (at-least-once, in order, resumable)."""

    def __init__(
        self,
        name: str,
        checkpoints: TrackingRecorder,
        recorder: ApplicationRecorder,
        mapper: Mapper[UUID],
    ) -> None:
        self.name = name
        self.checkpoints = checkpoints
        self.recorder = recorder
        self.mapper = mapper

    @property
    def position(self) -> int:
        return self.checkpoints.max_tracking_id(self.name) or 0

    def run(
        self,
        handler: Callable[[int, Any], None],
        *,
        wait: bool = False,
        stop: threading.Event | None = None,
        limit: int | None = None,
        poll_interval: float = 0.5,
    ) -> int:
        """Deliver events after the checkpoint to ``handler``; the checkpoint advances after each
        one returns. Returns how many were delivered."""
        delivered = 0
        for position, event in follow(
            self.recorder, self.mapper, after=self.position, wait=wait, stop=stop, poll_interval=poll_interval
        ):
            handler(position, event)
            self.checkpoints.insert_tracking(Tracking(self.name, position))
            delivered += 1
            if limit is not None and delivered >= limit:
                break
        return delivered
