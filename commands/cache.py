"""Cache coherence of the write side: cached cards and certificates are used only while nobody
else has written to the log.

The application keeps recently used aggregates in memory (``AGGREGATE_CACHE_MAXSIZE``, no
fast-forward). Instead of one fast-forward query per aggregate, one query per command reads
the log's last position: if it is the position this process last saw (its high-water mark), no
other process wrote since and every cached aggregate is current; otherwise the cache is dropped.
This process's own saves advance the mark. A command's attempt uses the cached objects
themselves (it runs under the write lock, so no copy is needed); whatever a failed attempt
loaded is dropped, so nothing half-changed is ever reused. Readers outside a command get copies.

It also remembers the recorded time of the event at the head of the log, for R66 (the bus's
recorded time never goes behind it), read from the store only when the head moved.

May import: ``eventsourcing``, the standard library. Nothing of the project.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, LRUCache, Repository
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import ApplicationRecorder, Mapper, Recording

from lifecycle.calendar import to_jst
from storage.interface import CommandLog


def recorded_at(event: DomainEventProtocol[UUID]) -> datetime:
    """The time an event was recorded (every mynacard event has one)."""
    timestamp = getattr(event, "timestamp", None)
    assert isinstance(timestamp, datetime), "every mynacard event has a recorded time"
    return timestamp


class CoherentCache:
    """The application's aggregate cache kept coherent with the log, and the write lock.

    ``lock`` serializes this process's commands (the database serializes writes to the log
    anyway) and guards a reader's coherence check against a command in flight.
    """

    def __init__(
        self, recorder: ApplicationRecorder, mapper: Mapper[UUID], repository: Repository[UUID]
    ) -> None:
        self._recorder = recorder
        self._mapper = mapper
        self._repository = repository
        self.lock = threading.RLock()
        self._tls = threading.local()
        self._high_water: int | None = None
        """The log position this process last saw (None: unknown, check before trusting the cache)."""
        self._newest: tuple[int, datetime] | None = None
        """(log position, recorded time of the event there): the newest recorded time (R66)."""

    def get(self, aggregate_id: UUID) -> Aggregate | None:
        """An aggregate: during a command's attempt the cached object itself (under the write
        lock, so no copy is needed), elsewhere a copy that no command can change under the reader."""
        loaded: list[UUID] | None = getattr(self._tls, "loaded", None)
        try:
            if loaded is None:
                with self.lock:
                    self.ensure_current()
                    aggregate: Aggregate = self._repository.get(aggregate_id)
            else:
                loaded.append(aggregate_id)
                aggregate = self._repository.get(aggregate_id, deepcopy_from_cache=False)
        except AggregateNotFoundError:
            return None
        return aggregate

    def ensure_current(self) -> None:
        """Cache coherence, checked under the write lock: if the log's last position is the one
        this process last saw, no other process wrote since and every cached aggregate is
        current; otherwise the cache is dropped and aggregates are read afresh."""
        current = self._recorder.max_notification_id() or 0
        if current != self._high_water:
            cache = self._repository.cache
            if cache is not None:
                cache.cache.clear()
                if isinstance(cache, LRUCache):
                    cache.clear()
                    cache.full = False
            self._high_water = current

    def invalidate(self) -> None:
        """Drop every cached aggregate at the next coherence check (after an erasure, issue 13:
        cached cards hold personal fields the store can no longer read)."""
        with self.lock:
            self._high_water = None

    def moved_on(self) -> bool:
        """Has another writer added to the log since the coherence check of this attempt? (Then
        what the attempt read may be stale.)"""
        return (self._recorder.max_notification_id() or 0) != (self._high_water or 0)

    def saw_own_writes(self, recordings: Sequence[Recording[UUID]], recorded: datetime | None = None) -> None:
        """Advance the high-water mark past this process's own save, if nothing interleaved.
        ``recorded``: the save's recorded time, which moved the store's clock row (R66) even when
        the command recorded no event — the next command is stamped after it, as a process that
        reads the clock row afresh would stamp it (a restart must not change recorded times)."""
        if self._high_water is None:
            return
        if not recordings:
            if recorded is not None:
                self._newest = (self._high_water, recorded)
            return
        ids = [r.notification.id for r in recordings]
        if ids[0] == self._high_water + 1 and ids == list(range(ids[0], ids[0] + len(ids))):
            self._high_water = ids[-1]
            self._newest = (ids[-1], recorded_at(recordings[-1].domain_event))
        else:
            self._high_water = None

    @contextlib.contextmanager
    def attempt(self) -> Iterator[None]:
        """One attempt of a command (under ``lock``): its loads use the cached objects, and if it
        fails in any way, every aggregate it loaded is dropped from the cache (it may be
        half-changed). If another writer moved the log on, the next coherence check drops the rest."""
        self._tls.loaded = []
        try:
            yield
        except BaseException:
            self._forget_loaded()
            raise
        finally:
            self._tls.loaded = None

    def _forget_loaded(self) -> None:
        cache = self._repository.cache
        for aggregate_id in self._tls.loaded or ():
            if cache is not None:
                with contextlib.suppress(KeyError):
                    cache.get(aggregate_id, evict=True)

    def newest_recorded_time(self) -> datetime | None:
        """The recorded time of the event at the head of the log as last seen (R66), read from
        the store only when the head moved since this process last saw it."""
        head = self._high_water or 0
        if not head:
            return None
        if self._newest is not None and self._newest[0] == head:
            return self._newest[1]
        newest_row = self._recorder.newest_recorded_at() if isinstance(self._recorder, CommandLog) else None
        if newest_row is not None:  # the store's clock row (R66), advanced by every save
            newest_row = to_jst(newest_row)
            self._newest = (head, newest_row)
            return newest_row
        notes = self._recorder.select_notifications(start=head, limit=1)
        if not notes:
            return None
        newest = recorded_at(self._mapper.to_domain_event(notes[0]))
        self._newest = (notes[0].id, newest)
        return newest
