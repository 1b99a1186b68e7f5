"""Driving projections: catch up from the tracked position in batches, report lag, rebuild
from position 0, and follow the log (polling on SQLite).

Each batch is one transaction of the view (rows + tracking), so a crash mid-batch leaves the
view at the previous batch's position, and the next run repeats nothing and skips nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Protocol
from uuid import UUID

from eventsourcing.domain import OriginatorVersionError
from eventsourcing.persistence import ApplicationRecorder, IntegrityError

from projections.projections import Projection
from projections.wakeup import wakeup_for

DEFAULT_BATCH = 500
Progress = Callable[[str, int, int], None]
"""(projection name, position reached, log position) after each batch."""


class Upstream(Protocol):
    """The application whose log the projections follow."""

    name: str

    @property
    def recorder(self) -> ApplicationRecorder: ...


def position(upstream: Upstream, projection: Projection) -> int:
    return projection.view.max_tracking_id(upstream.name) or 0


def log_position(upstream: Upstream) -> int:
    return upstream.recorder.max_notification_id() or 0


def lag(upstream: Upstream, projection: Projection) -> int:
    """Log positions not yet applied to the view (events behind the log)."""
    return max(0, log_position(upstream) - position(upstream, projection))


def catch_up(
    upstream: Upstream,
    projection: Projection,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    stop_after: int | None = None,
) -> int:
    """Apply every notification after the tracked position; returns how many were applied."""
    applied = 0
    start = position(upstream, projection)
    while stop_after is None or applied < stop_after:
        limit = batch_size if stop_after is None else min(batch_size, stop_after - applied)
        notes = upstream.recorder.select_notifications(start=start, limit=limit, inclusive_of_start=False)
        if not notes:
            break
        try:
            projection.process(notes, upstream.name, start)
        except (IntegrityError, OriginatorVersionError):
            # Another runner applied (part of) this batch first — its commit moved the position,
            # or its rows are ahead of the batch: carry on from where it got to.
            moved = position(upstream, projection)
            if moved == start:
                raise
            start = moved
            continue
        applied += len(notes)
        start = notes[-1].id
        if progress is not None:
            progress(projection.name, start, log_position(upstream))
        if len(notes) < limit:
            break
    return applied


def rebuild(
    upstream: Upstream,
    projection: Projection,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> int:
    """Empty the view, forget its position, and apply the whole log again."""
    projection.view.clear(upstream.name)
    return catch_up(upstream, projection, batch_size=batch_size, progress=progress)


class Poller:
    """Follows the log: catches up, then waits until the log grows — pushed by LISTEN/NOTIFY on
    PostgreSQL, polled every ``interval`` seconds on SQLite. A processing error stops it and is
    kept in ``error``; ``run`` re-raises it."""

    def __init__(self, upstream: Upstream, projections: Sequence[Projection], interval: float = 0.5) -> None:
        self.upstream = upstream
        self.projections = list(projections)
        self.interval = interval
        self.error: BaseException | None = None
        self.wakeup = wakeup_for(upstream.recorder)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> Poller:
        self._thread = threading.Thread(target=self._loop, name="mynacard-projections", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                for projection in self.projections:
                    catch_up(self.upstream, projection)
                self._wake.wait(self.interval)
                self._wake.clear()
        except BaseException as e:
            self.error = e

    def run(self) -> None:
        """Follow in the foreground until stopped (Ctrl-C) or a processing error."""
        self._loop()
        if self.error is not None:
            raise self.error


__all__ = ["UUID", "Poller", "catch_up", "lag", "position", "rebuild"]
