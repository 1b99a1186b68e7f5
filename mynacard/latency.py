"""Revocation latency: for every revocation or hold on the list, how long after it was recorded
it was first served by OCSP and in a CRL (``revocation_sightings``, written by the service when it
answers), and first acknowledged by each named consumer (SSE, relay, Python: the checkpoint store
keeps when each checkpoint move was made). ``mynacard latency`` and ``/metrics`` report p50, p99
and max per channel and consumer, and the service-level objective's breaches (settings
``MYNACARD_SLO_OCSP_SECONDS`` with ``MYNACARD_SLO_OCSP_RATIO``, ``MYNACARD_SLO_CONSUMER_SECONDS``).

A revocation's log position is found from its recorded time: recorded time never goes backwards
along the log (R66), so the first position recorded at or after it is the revocation's event (or
one of its command's events, which were saved together).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper

from projections.subscriptions import check_consumer_name
from storage.interface import Checkpoints, StaffRegistry
from storage.records import RevocationEntry

SERVED_CHANNELS = ("ocsp", "crl")


@dataclass(frozen=True)
class Objective:
    """The service-level objective for revocations."""

    ocsp_seconds: float = 5.0
    ocsp_ratio: float = 0.99
    consumer_seconds: float = 60.0


@dataclass
class Channel:
    """The latencies (seconds) of one channel or consumer, and the revocations not seen on it yet."""

    name: str
    kind: str
    seconds: list[float] = field(default_factory=list)
    unseen_ages: list[float] = field(default_factory=list)
    """How long ago each revocation not seen on this channel yet was recorded."""

    def summary(self, limit: float | None, ratio: float) -> dict[str, Any]:
        """A revocation not seen yet counts against the objective once it is older than the limit
        (it can no longer be seen in time); a younger one is still pending."""
        ordered = sorted(self.seconds)
        within = sum(1 for s in ordered if limit is None or s <= limit)
        late = sum(1 for age in self.unseen_ages if limit is not None and age > limit)
        total = len(ordered) + late
        met = total == 0 or within / total >= ratio
        return {
            "channel": self.name,
            "kind": self.kind,
            "revocations": len(ordered) + len(self.unseen_ages),
            "seen": len(ordered),
            "not_seen_yet": len(self.unseen_ages),
            "late_unseen": late,
            "p50_s": _quantile(ordered, 0.50),
            "p99_s": _quantile(ordered, 0.99),
            "max_s": ordered[-1] if ordered else None,
            "objective_s": limit,
            "within_objective": within,
            "objective_met": met,
        }


def _quantile(ordered: Sequence[float], q: float) -> float | None:
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 3)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


class LogTimes:
    """The recorded time at a log position, looked up (and remembered) one event at a time."""

    def __init__(self, recorder: ApplicationRecorder, mapper: Mapper[Any]) -> None:
        self.recorder, self.mapper = recorder, mapper
        self.head = recorder.max_notification_id() or 0
        self._seen: dict[int, datetime] = {}

    def at(self, position: int) -> datetime:
        if position not in self._seen:
            notes = self.recorder.select_notifications(start=position, limit=1)
            event: Any = self.mapper.to_domain_event(notes[0])
            self._seen[position] = event.timestamp
        return self._seen[position]

    def first_position_at_or_after(self, moment: datetime) -> int | None:
        low, high = 1, self.head
        if high == 0 or self.at(high) < moment:
            return None
        while low < high:
            mid = (low + high) // 2
            if self.at(mid) < moment:
                low = mid + 1
            else:
                high = mid
        return low


def _is_consumer(name: str) -> bool:
    """A named consumer's checkpoint (not another tracking row of the store, e.g. a migration's)."""
    try:
        check_consumer_name(name)
    except ValueError:
        return False
    return True


def latency_report(
    entries: list[RevocationEntry],
    registry: StaffRegistry,
    checkpoints: Checkpoints,
    log: LogTimes,
    objective: Objective,
    now: datetime,
    since: datetime | None = None,
    consumers: Callable[[], list[str]] | None = None,
) -> dict[str, Any]:
    """Every channel's and consumer's latency over the revocations recorded since ``since``."""
    chosen = [e for e in entries if since is None or _moment(e.recorded_at) >= since]
    sightings = registry.sightings()
    channels = {name: Channel(name, "served") for name in SERVED_CHANNELS}
    for entry in chosen:
        recorded = _moment(entry.recorded_at)
        for name, channel in channels.items():
            first = sightings.get((entry.serial, entry.added_in, name))
            if first is None:
                channel.unseen_ages.append((now - recorded).total_seconds())
            else:
                channel.seconds.append(max(0.0, (_moment(first) - recorded).total_seconds()))
    names = consumers() if consumers else [name for name, _ in checkpoints.consumers() if _is_consumer(name)]
    acks = {name: checkpoints.acks(name) for name in names}
    consumer_channels = {name: Channel(name, "consumer") for name in names}
    for entry in chosen:
        recorded = _moment(entry.recorded_at)
        position = log.first_position_at_or_after(recorded)
        for name, channel in consumer_channels.items():
            moves = acks[name]
            index = bisect_left([p for p, _ in moves], position) if position is not None else len(moves)
            if index >= len(moves):
                channel.unseen_ages.append((now - recorded).total_seconds())
            else:
                channel.seconds.append(max(0.0, (_moment(moves[index][1]) - recorded).total_seconds()))
    rows = [channels["ocsp"].summary(objective.ocsp_seconds, objective.ocsp_ratio)]
    rows.append(channels["crl"].summary(None, 0.0))
    rows += [c.summary(objective.consumer_seconds, 1.0) for c in consumer_channels.values()]
    breaches = [r["channel"] for r in rows if not r["objective_met"]]
    return {
        "since": since.isoformat() if since else None,
        "revocations": len(chosen),
        "objective": vars(objective),
        "channels": rows,
        "breaches": breaches,
    }


def measure(
    read: Any, registry: StaffRegistry, checkpoints: Checkpoints, settings: Any, since: datetime | None
) -> dict[str, Any]:
    """The report from a caught-up read side (its revocation list and its log), with the
    objective of the settings."""
    from datetime import UTC

    _, entries = read.revocation_list(include_removed=True)
    objective = Objective(settings.slo_ocsp_seconds, settings.slo_ocsp_ratio, settings.slo_consumer_seconds)
    log = LogTimes(read.upstream.recorder, read.upstream.mapper)
    return latency_report(entries, registry, checkpoints, log, objective, datetime.now(UTC), since)
