"""Driving projections: catch up from the tracked position in batches, report lag, rebuild
from position 0, and follow the log (polling on SQLite).

Each batch is one transaction of the view (rows + tracking + log head), so a crash mid-batch
leaves the view at the previous batch's position, and the next run repeats nothing and skips
nothing.

Every catch-up first checks that the log still holds, at the view's tracking position, the very
event the view applied there (its *log head*, a fingerprint kept with the position: issue 8
item 4). If the log is shorter, or holds another event there (an event store restored from a
backup, even one that has grown past the view's position since, or another store), it raises
``ViewAheadOfLog`` and shows nothing; ``rebuild`` is the way out. A view made before log heads
were kept has none: its next catch-up records the head of the event at its position (if the log
has one; if not, the view is ahead of the log all the same).

``rebuild`` builds the view afresh in a scratch twin, then swaps it in in one transaction:
readers meanwhile answer from the previous state, never from a half-built view.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from eventsourcing.domain import OriginatorVersionError
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, Notification

from projections.subscriptions import log_head, notification_at
from projections.views import FoldMismatch, ViewProjection
from projections.wakeup import wakeup_for
from storage.integrity import StoreIntegrityError
from storage.records import LogHead, head_of

DEFAULT_BATCH = 500
Progress = Callable[[str, int, int], None]
"""(projection name, position reached, log position) after each batch."""


class Upstream(Protocol):
    """The application whose log the projections follow."""

    name: str

    @property
    def recorder(self) -> ApplicationRecorder: ...


class ViewAheadOfLog(Exception):
    """A view stands on an event the log no longer holds at its tracking position: the event
    store was restored from an older backup, or replaced by another store (or the view's
    tracking was altered). Nothing is shown from it until ``mynacard rebuild``."""

    def __init__(self, projection: str, position: int, log: int, reason: str) -> None:
        self.projection = projection
        self.position = position
        self.log = log
        self.reason = reason
        super().__init__(
            f"{projection} is at position {position} of the event log, but {reason}: the event store "
            "was restored from a backup or changed under the read models"
        )


@dataclass(frozen=True, slots=True)
class HeadCheck:
    """Whether a view still stands on the log: its tracking position, the log's last position,
    and what is wrong (None: nothing)."""

    position: int
    log: int
    problem: str | None = None
    state: str = "ok"
    """Short, for ``mynacard projections``: ok, or what is wrong and to rebuild."""
    unrecorded: LogHead | None = None
    """The head to record for a view made before log heads were kept (None: nothing to record)."""

    def raise_problem(self, projection: str) -> None:
        if self.problem is not None:
            raise ViewAheadOfLog(projection, self.position, self.log, self.problem)


def position(upstream: Upstream, projection: ViewProjection) -> int:
    return projection.view.max_tracking_id(upstream.name) or 0


def event_at(upstream: Upstream, at: int) -> Notification | None:
    """The log's event at position ``at`` (None: the log holds none there)."""
    return notification_at(upstream.recorder, at)


def check_head(
    upstream: Upstream, projection: ViewProjection, tracked: tuple[int, LogHead | None] | None = None
) -> HeadCheck:
    """Does the log still hold, at the view's tracking position, the event the view applied
    there? ``tracked`` is (position, log head) when already read (e.g. in a snapshot)."""
    at, head = tracked if tracked is not None else projection.view.tracked_head(upstream.name)
    log = log_position(upstream)
    event = event_at(upstream, at) if at else None
    if at and event is None:
        where = f"the log ends at position {log}" if log < at else f"the log has no event at position {at}"
        return HeadCheck(at, log, where, "ahead of the log — rebuild")
    if head is not None and head.position != at:
        return HeadCheck(
            at,
            log,
            f"its tracking position was moved: the log head it recorded is at position {head.position}",
            "tracking altered — rebuild",
        )
    if event is None:
        return HeadCheck(at, log)
    if head is None:
        return HeadCheck(at, log, unrecorded=head_of(event))
    if head_of(event) != head:
        return HeadCheck(
            at,
            log,
            f"the log's event at position {at} is not the one the view applied there",
            "another log — rebuild",
        )
    return HeadCheck(at, log)


def checked_position(upstream: Upstream, projection: ViewProjection) -> int:
    """The view's tracking position, once the log is known to hold the event the view applied
    there (``ViewAheadOfLog`` if not); records the log head of a view made before log heads."""
    check = check_head(upstream, projection)
    check.raise_problem(projection.name)
    if check.unrecorded is not None:
        projection.view.record_head(upstream.name, check.unrecorded)
    return check.position


def log_position(upstream: Upstream) -> int:
    return log_head(upstream.recorder)


def lag(upstream: Upstream, projection: ViewProjection) -> int:
    """Log positions not yet applied to the view (events behind the log)."""
    return max(0, log_position(upstream) - position(upstream, projection))


def catch_up(
    upstream: Upstream,
    projection: ViewProjection,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    stop_after: int | None = None,
    until: int | None = None,
) -> int:
    """Apply every notification after the tracked position (up to position ``until`` when
    given); returns how many were applied. Raises ``ViewAheadOfLog`` if the view does not stand
    on this log, ``StoreIntegrityError`` if an event does not follow what the view holds."""
    applied = 0
    start = checked_position(upstream, projection)
    while stop_after is None or applied < stop_after:
        limit = batch_size if stop_after is None else min(batch_size, stop_after - applied)
        notes = upstream.recorder.select_notifications(
            start=start, limit=limit, stop=until, inclusive_of_start=False
        )
        if not notes:
            break
        try:
            projection.process(notes, upstream.name, start)
        except (IntegrityError, OriginatorVersionError) as e:
            # Another runner applied (part of) this batch first — its commit moved the position,
            # or its rows are ahead of the batch: carry on from where it got to.
            moved = position(upstream, projection)
            if moved == start:
                if isinstance(e, FoldMismatch | OriginatorVersionError):
                    raise StoreIntegrityError(f"{projection.name}: {e}") from e
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
    projection: ViewProjection,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> int:
    """Apply the whole log again into a scratch twin of the view, swap it in in one transaction,
    then apply what the log gained meanwhile. Readers answer from the previous state until the
    swap; works whatever state the view was in (ahead of the log, altered)."""
    with projection.view.scratch() as twin:
        applied = catch_up(upstream, projection.on(twin), batch_size=batch_size, progress=progress)
        projection.view.replace_with(twin, upstream.name)
    return applied + catch_up(upstream, projection, batch_size=batch_size, progress=progress)


class Poller:
    """Follows the log: catches up, then waits until the log grows — pushed by LISTEN/NOTIFY on
    PostgreSQL, polled every ``interval`` seconds on SQLite. A processing error stops it and is
    kept in ``error``; ``run`` re-raises it."""

    def __init__(
        self, upstream: Upstream, projections: Sequence[ViewProjection], interval: float = 0.5
    ) -> None:
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


__all__ = [
    "UUID",
    "HeadCheck",
    "Poller",
    "ViewAheadOfLog",
    "catch_up",
    "check_head",
    "lag",
    "position",
    "rebuild",
]
