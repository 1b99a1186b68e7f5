"""``mynacard relay``: the event log published to a NATS JetStream stream, for fan-out beyond
one machine (issue 12; the command line is ``mynacard/relay_commands.py``).

Every event after the relay's checkpoint is published, in log order, to
``<prefix>.<aggregate>.<event>`` (``mynacard.card.suspended``), its payload the JSON line of
``mynacard events``, its ``Nats-Msg-Id`` the log position (``mynacard/relay_messages.py``); the
store's signed checkpoints go in order among them (issue 13, ``<prefix>.chain.checkpoint``).

- **In order, no gaps.** One publish at a time: the next event is sent only once JetStream has
  acknowledged (stored) the previous one, so the stream holds a prefix of the log in log order.
- **The checkpoint** is a durable consumer's (``projections.subscriptions``: its position with
  the event's fingerprint, and its lease: one relay per consumer name). It moves only past
  positions JetStream acknowledged, after each batch and before the relay stops or gives up.
- **Exactly once in the stream.** A crash between JetStream's ack and the checkpoint leaves
  positions that are in the stream but not checkpointed. At start the relay reads the stream's
  last message on ``<prefix>.>``: when it is the log's event at a position P beyond the
  checkpoint (the same JSON), the checkpoint moves to P (the stream holds every position up to P,
  in order), however long the relay was down. A publish that is sent again (its ack was lost to a
  timeout or a broken connection, or the killed relay's last message reached the server only
  after the restart read the stream) carries the same ``Nats-Msg-Id``: JetStream drops it as a
  duplicate within the stream's duplicate window (``DUPLICATE_WINDOW``).
- The stream (``--stream``) is created with the subjects ``<prefix>.>`` and that window, or
  updated to include them. Nothing but the relay may publish on ``<prefix>.>``.

Only ``mynacard relay`` loads this module (and with it the NATS client).
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from eventsourcing.persistence import Notification
from nats.js.api import PubAck, StorageType, StreamConfig
from nats.js.errors import APIError, BadRequestError, NotFoundError, ServiceUnavailableError

from mynacard.relay_link import FAILURES as _FAILURES
from mynacard.relay_link import Link as _Link
from mynacard.relay_link import Unreachable as _Unreachable
from mynacard.relay_messages import (
    CHECKPOINT_KIND,
    HEADER_KIND,
    HEADER_POSITION,
    checkpoint_message_for,
    covers,
    message_for,
    same_checkpoint,
    same_event,
)
from projections.chain_feed import ChainCursor, Due
from projections.subscriptions import FINGERPRINT_HISTORY, DurableConsumer, log_head, notification_at
from projections.wakeup import wakeup_for
from storage.errors import ConfigurationError
from storage.interface import ChainCheckpoints, EventChain
from storage.records import fingerprint

DUPLICATE_WINDOW = 3600.0
"""Seconds JetStream remembers a ``Nats-Msg-Id``: far longer than a publish can be in doubt (an
ack wait, the retries of ``retry_for``, a restart); a restart after a longer outage needs no
window (the relay reads where the stream ends)."""
_BACKOFF = (0.1, 2.0)


# ----------------------------------------------------------------------------- errors


class NatsUnavailable(Exception):
    """No NATS server with JetStream answers, or it stopped acknowledging (the CLI exits 6):
    nothing more was published, and the checkpoint covers exactly what JetStream acknowledged."""

    kind = "nats_unavailable"

    def __init__(self, url: str, reason: str, checkpoint: int, position: int | None = None) -> None:
        self.url = url
        self.reason = reason
        self.checkpoint = checkpoint
        self.position = position
        where = "" if position is None else f" (position {position} was not acknowledged)"
        super().__init__(f"the NATS server at {url} {reason}{where}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": str(self),
            "hint": f"start the NATS server with JetStream (nats-server -js) or give its URL with --nats, "
            f"then run the relay again: it resumes after position {self.checkpoint}, the last one "
            "JetStream acknowledged (the checkpoint); nothing else counts as published",
            "checkpoint": self.checkpoint,
        }


class StreamConflict(ConfigurationError):
    """The stream cannot be used as the relay's (the CLI exits 6): it holds messages the relay
    did not publish, or events of another log, or the server refuses its configuration."""


# ----------------------------------------------------------------------------- options, report


@dataclass(frozen=True)
class RelayOptions:
    servers: list[str]
    stream: str
    prefix: str
    once: bool = False
    batch: int = 100
    interval: float = 0.5
    """Seconds between polls of the log when following (SQLite; PostgreSQL is woken by NOTIFY)."""
    ack_timeout: float = 5.0
    retry_for: float = 30.0
    """Seconds a publish is retried (same ``Nats-Msg-Id``) before the relay gives up (exit 6)."""

    @property
    def url(self) -> str:
        return ",".join(self.servers)

    @property
    def subjects(self) -> str:
        return f"{self.prefix}.>"


@dataclass
class RelayReport:
    """What a run did (``--json`` prints it as is)."""

    consumer: str
    stream: str
    subjects: str
    nats: str
    checkpoint_at_start: int
    checkpoint: int
    log_head: int = 0
    published: int = 0
    """Messages JetStream stored."""
    checkpoints: int = 0
    """Checkpoint messages JetStream acknowledged (issue 13)."""
    duplicates: int = 0
    """Publishes JetStream acknowledged as already stored (same ``Nats-Msg-Id``)."""
    first: int | None = None
    last: int | None = None
    stream_held_through: int | None = None
    """At start the stream already held positions up to this one, beyond the checkpoint (a
    crash after JetStream's ack): the checkpoint moved there without publishing them again."""
    warnings: list[str] = field(default_factory=list)
    stopped: str = "end of the log"
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Progress = Callable[[str, RelayReport, str], None]
"""``progress(kind, report, text)``: ``started``, ``reconciled``, ``checkpoint``, ``retrying``,
``warning``, ``following``."""


# ----------------------------------------------------------------------------- the relay


class Relay:
    def __init__(
        self,
        consumer: DurableConsumer,
        options: RelayOptions,
        progress: Progress,
        checkpoints: ChainCheckpoints | None = None,
    ) -> None:
        self.consumer = consumer
        self.checkpoints = checkpoints
        self.options = options
        self.progress = progress
        self.link = _Link(options)
        self.recorder = consumer.recorder

    async def run(self, stop: threading.Event) -> RelayReport:
        """Publish until the end of the log (``once``) or until ``stop`` is set."""
        started = time.monotonic()
        after = self.consumer.check()  # CheckpointNotInLog: nothing is published
        o = self.options
        report = RelayReport(self.consumer.name, o.stream, o.subjects, o.url, after, after)
        report.log_head = log_head(self.recorder)
        try:
            try:
                await self.link.connect()
            except _Unreachable as e:
                raise NatsUnavailable(o.url, f"does not answer ({e})", after) from None
            await self._ensure_stream(after)
            after = await self._reconcile(after, report)
            self.progress(
                "started",
                report,
                f"relaying consumer {report.consumer} (checkpoint {after}, log head {report.log_head}) "
                f"to stream {o.stream} ({o.subjects}) on {o.url}",
            )
            await self._relay(after, report, stop)
        finally:
            await self.link.close()
            report.seconds = round(time.monotonic() - started, 3)
        return report

    # -- the stream

    async def _ensure_stream(self, checkpoint: int) -> None:
        """Create the stream, or add the relay's subjects and the duplicate window to it."""
        o = self.options
        js = await self.link.connect()
        try:
            try:
                info = await js.stream_info(o.stream)
            except NotFoundError:
                await js.add_stream(
                    StreamConfig(
                        name=o.stream,
                        description="mynacard: the event log, one message per position (mynacard relay)",
                        subjects=[o.subjects],
                        storage=StorageType.FILE,
                        duplicate_window=DUPLICATE_WINDOW,
                    )
                )
                return
            config = info.config
            subjects = list(config.subjects or [])
            changes: dict[str, Any] = {}
            if not any(covers(s, o.subjects) for s in subjects):
                changes["subjects"] = [*subjects, o.subjects]
            window = min(DUPLICATE_WINDOW, config.max_age) if config.max_age else DUPLICATE_WINDOW
            if (config.duplicate_window or 0) < window:
                changes["duplicate_window"] = window
            if changes:
                await js.update_stream(config.evolve(**changes))
        except ServiceUnavailableError:
            raise NatsUnavailable(
                o.url, "has JetStream disabled (start nats-server with -js)", checkpoint
            ) from None
        except APIError as e:
            raise StreamConflict(
                f"NATS JetStream at {o.url} refuses stream {o.stream} with the subjects {o.subjects}: "
                f"{e.description or e}; give the relay a stream (--stream) and subjects (--subject-prefix) "
                "of its own (nothing was published)"
            ) from None
        except _FAILURES as e:
            raise NatsUnavailable(
                o.url,
                f"does not answer JetStream requests ({type(e).__name__}: is JetStream enabled?)",
                checkpoint,
            ) from None

    async def _reconcile(self, after: int, report: RelayReport) -> int:
        """Where the stream ends: positions the stream holds beyond the checkpoint (JetStream
        acknowledged them; the relay died before its checkpoint) are not published again."""
        o = self.options
        js = await self.link.connect()
        try:
            last = await js.get_last_msg(o.stream, o.subjects)
        except NotFoundError:
            self._behind(report, 0, after)
            return after
        except _FAILURES as e:
            raise NatsUnavailable(o.url, f"does not answer ({type(e).__name__})", after) from None
        text = (last.headers or {}).get(HEADER_POSITION, "")
        if not text.isdigit():
            raise StreamConflict(
                f"the last message on {o.subjects} in stream {o.stream} (sequence {last.seq}, subject "
                f"{last.subject}) was not published by mynacard relay (no {HEADER_POSITION} header): the "
                "relay's subjects must be its own; give it another --subject-prefix or --stream"
            )
        position = int(text)
        self._behind(report, position, after)
        if position <= after:
            return after
        note = notification_at(self.recorder, position)
        if (last.headers or {}).get(HEADER_KIND) == CHECKPOINT_KIND:
            chain = self.recorder if isinstance(self.recorder, EventChain) else None
            held = note is not None and chain is not None and same_checkpoint(last.data, chain.chain_link_at)
        else:
            held = note is not None and same_event(last.data, self._message(note, None)[1])
        if note is None or not held:
            head = log_head(self.recorder)
            found = f"the log ends at {head}" if position > head else "the log holds another event there"
            raise StreamConflict(
                f"stream {o.stream} holds position {position} (sequence {last.seq}), but {found}: the stream "
                "has events of another store, or of this store before an older backup was restored; relay "
                "into another stream (--stream), or delete this one (the relay creates it again)"
            )
        self._checkpoint(note)
        report.stream_held_through = report.checkpoint = position
        self.progress(
            "reconciled",
            report,
            f"stream {o.stream} already held positions up to {position} (acknowledged before the relay "
            f"stopped): checkpoint moved from {after} to {position}",
        )
        return position

    def _behind(self, report: RelayReport, held: int, after: int) -> None:
        """The stream ends before the checkpoint (deleted, or the consumer published elsewhere)."""
        if held >= after:
            return
        text = (
            f"stream {self.options.stream} ends at position {held} on {report.subjects}, the checkpoint "
            f"is at {after}: "
            f"positions {held + 1}–{after} are not in this stream; to publish them, stop the relay, run "
            f"'mynacard events --consumer {report.consumer} --reset-to {held}' and start it again"
        )
        report.warnings.append(text)
        self.progress("warning", report, text)

    # -- publishing

    def _message(self, note: Notification, chain_hash: bytes | None) -> tuple[str, bytes, dict[str, str]]:
        return message_for(self.options.prefix, note, self.consumer.mapper.to_domain_event(note), chain_hash)

    def _checkpoint(self, note: Notification) -> None:
        self.consumer.store.advance(self.consumer.name, note.id, fingerprint(note), keep=FINGERPRINT_HISTORY)

    async def _relay(self, after: int, report: RelayReport, stop: threading.Event) -> None:
        o = self.options
        wakeup = None if o.once else wakeup_for(self.recorder)
        acked: Notification | None = None
        cursor = ChainCursor(self.recorder, self.checkpoints, after)
        try:
            following = False
            while not stop.is_set():
                items, full = cursor.read(o.batch)
                for item in items:
                    if isinstance(item, Due):
                        message = checkpoint_message_for(o.prefix, item.checkpoint, item.after)
                        if stop.is_set() or not await self._publish(message, item.after, report, stop, True):
                            break
                        continue
                    message = self._message(item.note, item.chain_hash)
                    if stop.is_set() or not await self._publish(message, item.position, report, stop):
                        break
                    acked = item.note
                if acked is not None and acked.id > after:
                    batch_from = after + 1
                    self._checkpoint(acked)
                    after = report.checkpoint = acked.id
                    report.log_head = max(report.log_head, after)
                    self.progress(
                        "checkpoint",
                        report,
                        f"published positions {batch_from}–{after} (so far {report.published} new, "
                        f"{report.duplicates} duplicates); checkpoint {after}",
                    )
                if full:
                    continue
                if o.once:
                    break
                if not following:
                    following = True
                    self.progress(
                        "following", report, "caught up; following the log (SIGTERM or Ctrl-C stops)"
                    )
                await self._wait(wakeup, stop)
            if stop.is_set():
                report.stopped = "signal"
        except BaseException as e:
            if acked is not None and acked.id > after:  # acknowledged, then a failure: keep it
                self._checkpoint(acked)
                report.checkpoint = acked.id
            if isinstance(e, NatsUnavailable):
                e.checkpoint = report.checkpoint
            raise
        finally:
            if wakeup is not None:
                wakeup.close()
            report.log_head = max(report.checkpoint, log_head(self.recorder))

    async def _wait(self, wakeup: Any, stop: threading.Event) -> None:
        """Until the log grows (PostgreSQL: NOTIFY), ``interval`` passes (SQLite) or ``stop``."""
        if wakeup is not None and wakeup.error is None:
            await asyncio.to_thread(wakeup.wait, 30.0, stop)
        else:
            await asyncio.to_thread(stop.wait, self.options.interval)

    async def _publish(
        self,
        message: tuple[str, bytes, dict[str, str]],
        position: int,
        report: RelayReport,
        stop: threading.Event,
        checkpoint: bool = False,
    ) -> bool:
        """Publish one message (of the event at ``position``, or a checkpoint) and wait for
        JetStream's ack, retrying (same ``Nats-Msg-Id``) for ``retry_for`` seconds; False when
        ``stop`` was set meanwhile (not acknowledged)."""
        o = self.options
        subject, payload, headers = message
        deadline: float | None = None
        delay = _BACKOFF[0]
        while True:
            try:
                js = await self.link.connect()
                ack: PubAck = await js.publish(
                    subject, payload, timeout=o.ack_timeout, stream=o.stream, headers=headers
                )
                break
            except BadRequestError as e:  # e.g. the subject belongs to another stream: no retry helps
                raise NatsUnavailable(
                    o.url, f"refuses the message: {e.description or e}", report.checkpoint, position
                ) from None
            except (_Unreachable, *_FAILURES) as e:
                reason = f"{type(e).__name__}: {e}".rstrip(": ")
                now = time.monotonic()
                if deadline is None:
                    deadline = now + o.retry_for
                    self.progress(
                        "retrying",
                        report,
                        f"position {position} not acknowledged ({reason}); retrying for {o.retry_for:g} s",
                    )
                if now >= deadline:
                    raise NatsUnavailable(
                        o.url, f"stopped acknowledging ({reason})", report.checkpoint, position
                    ) from None
                await self.link.close()
                if await asyncio.to_thread(stop.wait, min(delay, max(0.0, deadline - now))):
                    return False
                delay = min(delay * 2, _BACKOFF[1])
        if checkpoint:
            report.checkpoints += 0 if ack.duplicate else 1
            return True
        if ack.duplicate:
            report.duplicates += 1
        else:
            report.published += 1
        report.first = position if report.first is None else report.first
        report.last = position
        return True


def relay(
    consumer: DurableConsumer,
    options: RelayOptions,
    progress: Progress,
    checkpoints: ChainCheckpoints | None = None,
) -> RelayReport:
    """Run the relay in this thread until the end of the log (``once``) or SIGTERM / SIGINT (a
    clean stop: the publish in flight is acknowledged or not, the checkpoint covers what was)."""
    stop = threading.Event()

    async def main() -> RelayReport:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            return await Relay(consumer, options, progress, checkpoints).run(stop)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    return asyncio.run(main())
