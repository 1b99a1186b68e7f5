"""Consistency check (``mynacard verify``): the read side against a fold of the event log.

Nothing is compared by hand-picked fields, so nothing can be missed (issue 8 item 5):

1. The log itself: every event's type is one this service records, and every aggregate's
   versions run on without a gap (an event deleted in the middle). Each finding names the
   position, the aggregate and what is wrong (issue 8 item 10); with any, the views are not
   compared (the fold of a broken log is undefined).
2. Each view's tracking position: the log must hold, at that position, the very event the view
   applied there (its log head, see ``projections.runner``). A view ahead of the log (an event
   store restored from a backup), on another log, with a moved tracking position, or with no log
   head recorded (a view made before log heads were kept: any query records one, e.g.
   ``mynacard counts``) is a difference.
3. Each view, read in one consistent snapshot, against a *twin*: a fresh view of the same kind,
   in temporary storage, that the projection's own code builds from the log up to the view's
   tracking position. Every table of the view (its rows, its tracking table, its log head
   table) is compared row by row and column by column, columns taken from the rows themselves,
   so a column added to a view is compared without touching this module. Rows present on one
   side only are differences. Snapshot columns (``state``) are compared decoded; a snapshot that
   cannot be decoded (e.g. ``storage.integrity.TamperingDetected``: bound to another row) is a
   difference, never a crash.

Verify repairs nothing: it writes nothing to a view before comparing it, so an altered row is
reported, not folded over. Only when every view equals the fold at its own position, and the log
has grown past it, are the views caught up (the genuinely new events) and compared once more, so
the report covers the whole log.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, MapperDeserialisationError
from eventsourcing.utils import TopicError, resolve_topic

from projections.audit import EventSource
from projections.event_json import jsonable
from projections.read_side import ReadSide
from projections.runner import Upstream, catch_up, check_head
from projections.views import ViewProjection, decode_snapshot
from storage.integrity import StoreIntegrityError, TamperingDetected
from storage.interface import LifecycleView, RevocationView, TrackedView
from storage.records import ReadModelTable, ViewSnapshot

LOG = "event_store"
"""The ``projection`` of a finding about the log itself."""
NO_COLUMN = "(no such column)"
SCAN_BATCH = 1000


@dataclass(frozen=True, slots=True)
class Difference:
    """One thing that differs: in which projection (or ``event_store``), of which subject
    (``card <id>``, ``tracking <application>``, ``position <n> (aggregate <id>)`` …), which
    field, what the log says it should be, and what is there."""

    projection: str
    subject: str
    field: str
    expected: Any
    actual: Any

    def as_dict(self) -> dict[str, Any]:
        return {k: _shown(getattr(self, k)) for k in ("projection", "subject", "field", "expected", "actual")}


def _shown(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return f"({len(bytes(value))} bytes)"
    return jsonable(value)


@dataclass
class VerifyReport:
    cards: int = 0
    certificates: int = 0
    revocation_entries: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    """The log position each view was verified at."""
    log: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "cards": self.cards,
            "certificates": self.certificates,
            "revocation_entries": self.revocation_entries,
            "positions": self.positions,
            "log": self.log,
            "differences": [d.as_dict() for d in self.differences],
            "ok": self.ok,
        }


def verify(read_side: ReadSide, source: EventSource | None = None) -> VerifyReport:  # noqa: ARG001
    """Check the log, then compare every view with the fold of the log at the view's own
    position (see the module docstring). ``source`` is not needed (the fold is recomputed from
    the read side's log by the projections' own code); it is accepted for older callers."""
    report = VerifyReport()
    report.differences.extend(check_log(read_side.upstream))
    if not report.ok:
        for projection in read_side.projections:
            report.differences.extend(_head_differences(read_side.upstream, projection))
        return report
    with ExitStack() as scratches:
        twins = _Twins(scratches)
        _compare_views(read_side, twins, report)
        if report.ok and any(report.positions[p.name] < report.log for p in read_side.projections):
            read_side.catch_up()
            report = VerifyReport()
            _compare_views(read_side, twins, report)
    return report


# ----------------------------------------------------------------------------- the log


def check_log(upstream: Upstream) -> list[Difference]:
    """Findings about the log itself: unknown event types and version gaps (in log order)."""
    findings: list[Difference] = []
    versions: dict[Any, int] = {}
    topics: dict[str, bool] = {}
    start = 0
    while True:
        notes = upstream.recorder.select_notifications(
            start=start, limit=SCAN_BATCH, inclusive_of_start=False
        )
        for n in notes:
            where = f"position {n.id} (aggregate {n.originator_id})"
            if not topics.setdefault(n.topic, _known(n.topic)):
                findings.append(
                    Difference(
                        LOG, where, "topic (not an event type of this service)", "a known event type", n.topic
                    )
                )
            follows = versions.get(n.originator_id, 0) + 1
            if n.originator_version != follows:
                findings.append(
                    Difference(
                        LOG,
                        where,
                        "originator_version (a version gap: an event of the aggregate is missing)",
                        follows,
                        n.originator_version,
                    )
                )
            versions[n.originator_id] = n.originator_version
        if len(notes) < SCAN_BATCH:
            return findings
        start = notes[-1].id


def _known(topic: str) -> bool:
    try:
        resolve_topic(topic)
    except TopicError:
        return False
    return True


# ----------------------------------------------------------------------------- tracking positions


def _head_differences(
    upstream: Upstream, projection: ViewProjection, snapshot: ViewSnapshot | None = None
) -> list[Difference]:
    """The view's tracking position against the log (``projections.runner.check_head``)."""
    tracked = (snapshot.position, snapshot.head) if snapshot is not None else None
    check = check_head(upstream, projection, tracked)
    if check.problem is not None:
        return [
            Difference(
                projection.name,
                f"tracking {upstream.name}",
                "position",
                "a position whose event in the log is the one the view applied",
                f"{check.position}: {check.problem} (run 'mynacard rebuild')",
            )
        ]
    if check.unrecorded is not None:
        return [
            Difference(
                projection.name,
                f"tracking {upstream.name}",
                "log head",
                f"the log head of position {check.position}, recorded with it",
                "none (a view made before log heads were kept: any query, e.g. 'mynacard counts', "
                "records it; or run 'mynacard rebuild')",
            )
        ]
    return []


# ----------------------------------------------------------------------------- the views


class _Twins:
    """Scratch twins of the views, built from the log up to a position (kept between the two
    rounds of ``verify``; a new one when a view's position went back meanwhile)."""

    def __init__(self, scratches: ExitStack) -> None:
        self._scratches = scratches
        self._twins: dict[str, ViewProjection] = {}

    def at(self, upstream: Upstream, projection: ViewProjection, position: int) -> ViewProjection:
        twin = self._twins.get(projection.name)
        if twin is None or (twin.view.max_tracking_id(upstream.name) or 0) > position:
            view: TrackedView = self._scratches.enter_context(projection.view.scratch())
            twin = self._twins[projection.name] = projection.on(view)
        catch_up(upstream, twin, until=position)
        return twin


def _compare_views(read_side: ReadSide, twins: _Twins, report: VerifyReport) -> None:
    upstream = read_side.upstream
    report.log = upstream.recorder.max_notification_id() or 0
    for projection in read_side.projections:
        with projection.view.snapshot(upstream.name) as actual:
            report.positions[projection.name] = actual.position
            report.differences.extend(_head_differences(upstream, projection, actual))
            try:
                twin = twins.at(upstream, projection, actual.position)
            except (StoreIntegrityError, TamperingDetected) as e:
                report.differences.append(
                    Difference(LOG, "log", "fold", "every event folds onto its aggregate", str(e))
                )
                continue
            _count(report, twin.view)
            with twin.view.snapshot(upstream.name) as expected:
                for mine, theirs in zip(
                    projection.view.read_model_tables(), twin.view.read_model_tables(), strict=True
                ):
                    report.differences.extend(
                        compare_table(
                            projection.name,
                            mine,
                            expected.rows(theirs),
                            actual.rows(mine),
                            _decoder(upstream.mapper, mine),
                        )
                    )


def _count(report: VerifyReport, view: TrackedView) -> None:
    if isinstance(view, LifecycleView):
        report.cards = len(view.all_card_ids())
        report.certificates = len(view.all_certificate_ids())
    elif isinstance(view, RevocationView):
        report.revocation_entries = len(view.entries())


Decoder = Callable[[dict[str, Any]], Any]


def _decoder(mapper: Mapper[UUID], table: ReadModelTable) -> Decoder | None:
    """How to read a row's snapshot (None: the table holds none): the aggregate's state."""
    id_column = table.snapshot_id
    if id_column is None:
        return None

    def decode(row: dict[str, Any]) -> Any:
        aggregate = decode_snapshot(
            mapper, UUID(str(row[id_column])), int(row["version"]), str(row["topic"]), bytes(row["state"])
        )
        return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}

    return decode


def compare_table(
    projection: str,
    table: ReadModelTable,
    expected: Iterator[dict[str, Any]],
    actual: Iterator[dict[str, Any]],
    decode: Decoder | None,
) -> list[Difference]:
    """Every difference between a table as the fold makes it and as it is stored: rows on one
    side only, and every column of the rows on both (``state`` decoded when ``decode``)."""
    out: list[Difference] = []
    for want, have in _matched(table, expected, actual):
        if have is None:
            assert want is not None
            out.append(Difference(projection, table.subject(want), "row", "present", "missing"))
        elif want is None:
            out.append(
                Difference(projection, table.subject(have), "row", "absent (not in the fold)", "present")
            )
        else:
            out.extend(_compare_row(projection, table, want, have, decode))
    return out


def _compare_row(
    projection: str, table: ReadModelTable, want: dict[str, Any], have: dict[str, Any], decode: Decoder | None
) -> list[Difference]:
    out: list[Difference] = []
    subject = table.subject(want)
    for column in dict.fromkeys([*want, *have]):
        expected, actual = want.get(column, NO_COLUMN), have.get(column, NO_COLUMN)
        if column == "state" and decode is not None and NO_COLUMN not in (expected, actual):
            out.extend(_compare_snapshot(projection, subject, decode, want, have))
        elif expected != actual:
            out.append(Difference(projection, subject, column, expected, actual))
    return out


def _compare_snapshot(
    projection: str, subject: str, decode: Decoder, want: dict[str, Any], have: dict[str, Any]
) -> list[Difference]:
    """The stored snapshot decoded under its own row's id, version and topic, against the fold."""
    expected = decode(want)
    try:
        actual = decode(have)
    except (MapperDeserialisationError, TopicError, ValueError, TypeError, KeyError, AttributeError) as e:
        kind = "tampered" if isinstance(e, TamperingDetected) else "unreadable"
        return [Difference(projection, subject, "state", "the fold of its events", f"{kind}: {e}")]
    if actual != expected:
        return [Difference(projection, subject, "state", "the fold of its events", "a different state")]
    return []


def _matched(
    table: ReadModelTable, expected: Iterator[dict[str, Any]], actual: Iterator[dict[str, Any]]
) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    """Rows of both sides paired by key (both come ordered by their key columns as text)."""

    def key(row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(row[k]) for k in table.key)

    want, have = next(expected, None), next(actual, None)
    while want is not None or have is not None:
        if have is None or (want is not None and key(want) < key(have)):
            yield want, None
            want = next(expected, None)
        elif want is None or key(have) < key(want):
            yield None, have
            have = next(actual, None)
        else:
            yield want, have
            want, have = next(expected, None), next(actual, None)
