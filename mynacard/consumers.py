"""Durable consumers as the composition root makes them: the retry policy from the settings
(``MYNACARD_CONSUMER_ATTEMPTS``, ``MYNACARD_CONSUMER_BACKOFF``), a named consumer on the
configured store, and the overview ``mynacard consumers`` and ``GET /consumers/{name}`` show.

A downstream system written in Python follows the log with::

    with open_consumer(settings, "renewal-mailing") as consumer, consumer.lease():
        consumer.run(handle, wait=True, stop=stop)   # retried, then parked; never stuck

It keeps the hash chain over what it delivers and checks each signed checkpoint of the store on
the way (issue 13, ``projections.chain_follower.ChainGuard``): a log changed behind the
service stops it with a ``ChainIntegrityError`` naming the position, before the event there is
handed on. ``verify_chain=False`` leaves that out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper

from commands.config import Settings
from mynacard.bootstrap import open_checkpoints, open_log
from mynacard.integrity.checkpoints import open_chain_checkpoints
from mynacard.integrity.signing import open_log_signer
from projections.chain_follower import ChainGuard
from projections.read_side import UpstreamApp
from projections.subscriptions import CheckpointNotInLog, DurableConsumer, Retry, log_head
from storage.interface import ChainCheckpoints, Checkpoints, CommandLog


def retry_policy(settings: Settings) -> Retry:
    """How a consumer's failing handler is retried before its event is parked."""
    return Retry(attempts=settings.consumer_attempts, backoff=settings.consumer_backoff)


@contextmanager
def open_consumer(
    settings: Settings, name: str, log: UpstreamApp | None = None, *, verify_chain: bool = True
) -> Iterator[DurableConsumer]:
    """Consumer ``name`` on the configured store (or on ``log``), retrying as the settings say,
    checking the hash chain and the store's checkpoints (unless ``verify_chain`` is false); what
    is opened here is closed at the end."""
    upstream = log or open_log(settings)
    signed: ChainCheckpoints | None = None
    try:
        guard = None
        recorder = upstream.recorder
        if verify_chain and isinstance(recorder, CommandLog):
            signed = open_chain_checkpoints(settings)
            identity = recorder.store_identity()
            key = open_log_signer(settings, recorder).public_key
            guard = ChainGuard(recorder, signed, key, identity.store_id if identity else None)
        yield DurableConsumer(
            name,
            open_checkpoints(settings),
            upstream.recorder,
            upstream.mapper,
            retry=retry_policy(settings),
            chain=guard,
        )
    finally:
        if signed is not None:
            signed.close()
        if log is None:
            upstream.close()


@dataclass(frozen=True, slots=True)
class ConsumerReport:
    """A consumer's acknowledged position (``checkpoint``), how far the log is ahead of it
    (``lag``), how many of its events are parked, and whether the log holds its checkpoint
    (``on_log`` false: a restored or another store; see ``events --reset-to``)."""

    consumer: str
    checkpoint: int
    log_head: int
    lag: int
    parked: int
    on_log: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def consumer_report(
    checkpoints: Checkpoints, recorder: ApplicationRecorder, mapper: Mapper[UUID], name: str
) -> ConsumerReport:
    """Consumer ``name`` (a name never used stands at 0)."""
    return _report(
        DurableConsumer(name, checkpoints, recorder, mapper),
        checkpoints.position(name),
        log_head(recorder),
        len(checkpoints.dead_letters(name)),
    )


def consumer_reports(
    checkpoints: Checkpoints, recorder: ApplicationRecorder, mapper: Mapper[UUID]
) -> list[ConsumerReport]:
    """Every consumer with a checkpoint, by name."""
    head = log_head(recorder)
    parked = checkpoints.parked_counts()
    reports = []
    for name, position in checkpoints.consumers():
        try:
            consumer = DurableConsumer(name, checkpoints, recorder, mapper)
        except ValueError:  # a tracking row that is not a consumer's name (none is written so)
            continue
        reports.append(_report(consumer, position, head, parked.get(name, 0)))
    return reports


def _report(consumer: DurableConsumer, position: int, head: int, parked: int) -> ConsumerReport:
    try:
        consumer.check()
        on_log = True
    except CheckpointNotInLog:
        on_log = False
    return ConsumerReport(consumer.name, position, head, max(head - position, 0), parked, on_log)
