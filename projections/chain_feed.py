"""What the feeds deliver so that a consumer can keep the hash chain (issue 13): every event with
its chain inputs and chain hash, and the store's signed checkpoints in order among them.

``ChainCursor.read`` reads the next batch of the log after a position, as the SSE feed, ``mynacard
events`` and the NATS relay do, and gives back, ordered by position:

- each stored event with the chain hash at its position, recomputed from the chain hash before
  the batch (``storage.chain.link``; the first one from the chain row at the start position), and
- each signed checkpoint (``storage.chain_checkpoints``) at a position up to the last one read
  and above the last one delivered: right after the event at its position, or — a checkpoint
  made after the feed had passed its position — before the batch's events (``after`` then
  names the position the feed had read through, the id a resuming reader gives back).

``chained_fields`` are the fields an event's JSON gains (``mynacard.event/1`` only grows):
``originator_id``, ``originator_version``, ``topic`` (the stored topic), ``payload_sha256``
(hex SHA-256 of the stored payload bytes) and ``chain_hash`` (hex). A recorder that keeps no
chain (``EventChain``) gives events without them.

May import: ``eventsourcing.persistence``, the standard library, ``storage`` and
``projections.wakeup``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Notification

from projections.wakeup import wakeup_for
from storage import chain
from storage.chain_checkpoints import SignedCheckpoint
from storage.interface import ChainCheckpoints, EventChain

LOOK_BACK = 1000
"""Positions searched below a start position with no event for the chain row to start from."""


def chained_fields(note: Notification, chain_hash: bytes | None) -> dict[str, Any]:
    """The chain inputs and the chain hash of a stored event, as the feeds carry them."""
    if chain_hash is None:
        return {}
    return {
        "originator_id": str(note.originator_id),
        "originator_version": note.originator_version,
        "topic": note.topic,
        "payload_sha256": hashlib.sha256(note.state).hexdigest(),
        "chain_hash": chain_hash.hex(),
    }


@dataclass(frozen=True, slots=True)
class Chained:
    """A stored event and the chain hash at its position (None: the log keeps no chain)."""

    note: Notification
    chain_hash: bytes | None

    @property
    def position(self) -> int:
        return self.note.id


@dataclass(frozen=True, slots=True)
class Due:
    """A checkpoint to deliver; ``after``: the position the feed had read through when it is
    delivered (its checkpoint's position, or beyond when it was made late)."""

    checkpoint: SignedCheckpoint
    after: int


def start_link(log: EventChain, after: int) -> bytes | None:
    """The chain hash at ``after`` (the genesis hash at 0; the nearest chain row below a position
    with no event), None when the log has no chain there."""
    if after <= 0:
        return chain.GENESIS
    found = log.chain_link_at(after)
    if found is not None:
        return found.chain_hash
    rows = [r for r in log.chain_rows(max(0, after - LOOK_BACK), LOOK_BACK) if r.position <= after]
    hashed = [r for r in rows if r.chain_hash is not None]
    return hashed[-1].chain_hash if hashed else None


class ChainCursor:
    """Reads the log after a position with chain hashes and due checkpoints (see the module)."""

    def __init__(
        self, recorder: ApplicationRecorder, checkpoints: ChainCheckpoints | None, after: int
    ) -> None:
        self.recorder = recorder
        self.checkpoints = checkpoints
        self.position = after
        """The last position read."""
        self.delivered_checkpoint = after
        """Checkpoints at or below this position are not delivered (again)."""
        self._chain: bytes | None = None
        self._started = not isinstance(recorder, EventChain)

    def _previous(self) -> bytes | None:
        if not self._started:
            self._started = True
            assert isinstance(self.recorder, EventChain)
            self._chain = start_link(self.recorder, self.position)
        return self._chain

    def read(self, limit: int, until: int | None = None) -> tuple[list[Chained | Due], bool]:
        """The next batch (at most ``limit`` events, through ``until`` if given) with the
        checkpoints due, by position; and whether the batch was full (more may be waiting)."""
        notes = self.recorder.select_notifications(
            start=self.position, limit=limit, stop=until, inclusive_of_start=False
        )
        previous = self._previous()
        events: list[Chained] = []
        for note in notes:
            if previous is not None:
                previous = chain.link(
                    previous, note.id, note.originator_id, note.originator_version, note.topic, note.state
                )
            events.append(Chained(note, previous))
        self._chain = previous
        read_from = self.position
        if notes:
            self.position = notes[-1].id
        items: list[Chained | Due] = []
        due = self._due()
        late = [Due(c, read_from) for c in due if c.position <= read_from]
        items.extend(late)
        rest = [c for c in due if c.position > read_from]
        for event in events:
            items.append(event)
            while rest and rest[0].position <= event.position:
                items.append(Due(rest.pop(0), event.position))
        items.extend(Due(c, self.position) for c in rest)
        return items, len(notes) == limit

    def _due(self) -> list[SignedCheckpoint]:
        if self.checkpoints is None or self.position <= self.delivered_checkpoint:
            return []
        found = self.checkpoints.checkpoints(after=self.delivered_checkpoint, until=self.position)
        if found:
            self.delivered_checkpoint = found[-1].position
        return found


def follow_chained(
    recorder: ApplicationRecorder,
    checkpoints: ChainCheckpoints | None,
    *,
    after: int = 0,
    wait: bool = False,
    poll_interval: float = 0.5,
    stop: threading.Event | None = None,
    batch_size: int = 500,
) -> Iterator[list[Chained | Due]]:
    """Every event after ``after`` with its chain hash, and the checkpoints due among them (see
    ``ChainCursor``), batch by batch (a batch may be empty); with ``wait``, keep following until
    ``stop`` is set (woken by NOTIFY on PostgreSQL, polling on SQLite; checkpoints made meanwhile
    come at the next look)."""
    cursor = ChainCursor(recorder, checkpoints, after)
    wakeup = wakeup_for(recorder) if wait else None
    try:
        while stop is None or not stop.is_set():
            items, full = cursor.read(batch_size)
            yield items
            if full:
                continue
            if not wait:
                return
            if wakeup is not None and wakeup.error is None:
                wakeup.wait(min(30.0, max(poll_interval, 1.0)), stop)
            elif stop is not None:
                stop.wait(poll_interval)
            else:
                time.sleep(poll_interval)
    finally:
        if wakeup is not None:
            wakeup.close()
