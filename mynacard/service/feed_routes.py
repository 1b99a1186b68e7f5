"""The event feed for downstream systems (the ``subscriber`` role): ``GET /events`` as
server-sent events, and named consumers acknowledging over HTTP.

- ``GET /events``: one SSE event per log position — ``id:`` the position, ``event:`` the event
  type, ``data:`` the event's ``mynacard.event/1`` JSON (docs/events.md: a person is the holder
  reference, never the My Number). It resumes after ``Last-Event-ID`` (or ``?after=N``);
  ``?type=Suspended,Lost`` sends only those types (ids stay positions; the others are simply
  absent); ``?consumer=NAME`` starts after the named consumer's acknowledged position (one
  stream per name at a time, as the CLI's lease). When nothing happened for
  ``MYNACARD_FEED_HEARTBEAT`` seconds it sends the comment ``: heartbeat``. ``?follow=false``
  ends the stream at the end of the log, ``?limit=N`` after N events, ``?until_position=N``
  once the log was read through position N. Events carry their chain fields and signed
  checkpoints come among them as ``event: checkpoint`` frames (issue 13: ``projections.chain_feed``).
- ``POST /consumers/{name}/ack`` ``{"position": N}``: the consumer handled everything up to N
  (forward only; 409 when its checkpoint is not in this log, 422 beyond the end of the log);
  acknowledging exactly a parked event's position settles it. ``GET /consumers/{name}``: its
  position, lag and parked events.

Delivery is at-least-once: a named consumer's stream resumes after its last acknowledgement,
so what it received but did not acknowledge comes again; the position is the idempotency key.

The stream never blocks the event loop: the log is read (and decrypted) in the threadpool, at
most ``MYNACARD_FEED_BATCH`` events at a time; between reads it awaits either the log's NOTIFY
(PostgreSQL: one LISTEN connection per worker while any stream is open) or the poll interval
(``MYNACARD_FEED_POLL_INTERVAL``). A client that goes away cancels its stream at its next await.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from eventsourcing.persistence import ApplicationRecorder, Mapper
from fastapi import APIRouter, Body, FastAPI, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import Receive, Scope, Send

from commands.errors import InputError
from lifecycle.card.events import ALL_CARD_EVENTS
from lifecycle.certificate import CertificateEvent, CertificateIssued
from lifecycle.holder.events import ALL_HOLDER_EVENTS
from lifecycle.store_log import ALL_STORE_LOG_EVENTS
from mynacard.bootstrap import open_checkpoints
from mynacard.consumer_commands import letter_dict
from mynacard.consumers import consumer_report
from mynacard.service.checkpoint_routes import checkpoints_of
from mynacard.service.guard import require, service_of
from mynacard.service.problems import PROBLEM_JSON, PROBLEM_SCHEMA, problem
from mynacard.service.roles import Permission
from mynacard.service.state import Service
from projections.chain_feed import ChainCursor, Due
from projections.event_json import feed_event_dict
from projections.subscriptions import (
    MAX_POSITION,
    CheckpointNotInLog,
    DurableConsumer,
    PositionNotInLog,
    check_consumer_name,
    log_head,
)
from projections.wakeup import wakeup_for
from storage.errors import ConsumerBusy
from storage.interface import ChainCheckpoints, Checkpoints

EVENT_STREAM = "text/event-stream"
HEARTBEAT = b": heartbeat\n\n"
LEASE_WAIT = 5.0
"""Seconds a stream of a named consumer waits for the previous stream of that name to end (a
client reconnecting before the server saw it go) before answering 409."""

_EVENT_CLASSES: tuple[type[Any], ...] = (
    *ALL_CARD_EVENTS,
    CertificateIssued,
    *CertificateEvent.__subclasses__(),
    *ALL_HOLDER_EVENTS,
    *ALL_STORE_LOG_EVENTS,
)
EVENT_TOPICS: dict[str, str] = {
    cls.__name__: cls.TOPIC
    for cls in _EVENT_CLASSES
    if not cls.TOPIC.endswith(".Event")  # (the base classes: never stored)
}
"""Event type (``type`` of ``mynacard.event/1``) → its stored topic: what ``?type=`` names."""

PROBLEM = {"content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
RESPONSES: dict[int | str, dict[str, Any]] = dict.fromkeys((401, 403, 409, 422, 503), PROBLEM)


# ----------------------------------------------------------------------------- waking streams


class LogTicker:
    """Wakes a worker's streams when the log grows. On PostgreSQL one LISTEN connection (in a
    thread) while any stream is open; on SQLite none, and the streams poll."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder
        self.generation = 0
        self._changed = asyncio.Event()
        self._streams = 0
        self._stop: threading.Event | None = None

    def join(self) -> None:
        self._streams += 1
        if self._streams == 1:
            self._stop = threading.Event()
            loop = asyncio.get_running_loop()
            args = (self._stop, loop)
            threading.Thread(target=self._listen, args=args, name="mynacard-feed", daemon=True).start()

    def leave(self) -> None:
        self._streams -= 1
        if self._streams == 0 and self._stop is not None:
            self._stop.set()
            self._stop = None

    def _listen(self, stop: threading.Event, loop: asyncio.AbstractEventLoop) -> None:
        wakeup = wakeup_for(self.recorder)
        if wakeup is None:
            return  # SQLite: nothing pushes
        try:
            while not stop.is_set() and wakeup.error is None:
                if wakeup.wait(1.0, stop):
                    with suppress(RuntimeError):  # (the loop closed meanwhile)
                        loop.call_soon_threadsafe(self._fire)
        finally:
            wakeup.close()

    def _fire(self) -> None:
        self.generation += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, seen: int, timeout: float) -> None:
        """Until the log grew after generation ``seen`` (at once if it has), or ``timeout``."""
        if self.generation != seen or timeout <= 0:
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)


class Feed:
    """What the feed keeps per worker: the consumers' checkpoints and the ticker."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.checkpoints: Checkpoints = open_checkpoints(service.settings)
        self.ticker = LogTicker(service.write.recorder)

    def consumer(self, name: str) -> DurableConsumer:
        return DurableConsumer(name, self.checkpoints, self.service.write.recorder, self.service.write.mapper)

    def close(self) -> None:
        datastore = getattr(self.checkpoints, "datastore", None)
        if datastore is not None:
            datastore.close()


_feed_lock = threading.Lock()


def feed_of(request: Request) -> Feed:
    service = service_of(request)
    with _feed_lock:
        feed: Feed | None = getattr(request.app.state, "feed", None)
        if feed is None or feed.service is not service:
            feed = request.app.state.feed = Feed(service)
    return feed


# ----------------------------------------------------------------------------- reading the log


@dataclass(frozen=True, slots=True)
class Reading:
    """What one stream reads: from where, which topics (None: all), how much per batch, until
    which position (None: no end)."""

    recorder: ApplicationRecorder
    mapper: Mapper[Any]
    topics: frozenset[str] | None
    batch: int
    until: int | None
    checkpoints: ChainCheckpoints | None = None


@dataclass(frozen=True, slots=True)
class Frame:
    """One SSE frame: an event's (``event``) or a checkpoint's, and the position it is at."""

    position: int
    event: bool
    body: bytes


def read_frames(reading: Reading, cursor: ChainCursor) -> tuple[list[Frame], int, bool]:
    """The SSE frames of the next batch after the cursor (blocking: run in the threadpool), the
    last position read, and whether the batch was full (more may be waiting)."""
    items, full = cursor.read(reading.batch, reading.until)
    frames = []
    for item in items:
        if isinstance(item, Due):
            data = json.dumps(item.checkpoint.as_dict(), separators=(",", ":"))
            body = f"id: {item.after}\nevent: checkpoint\ndata: {data}\n\n".encode()
            frames.append(Frame(item.after, False, body))
            continue
        n = item.note
        if reading.topics is not None and n.topic not in reading.topics:
            continue  # (not decrypted)
        event = reading.mapper.to_domain_event(n)
        json_ = feed_event_dict(event, n, item.chain_hash)
        data = json.dumps(json_, ensure_ascii=False, separators=(",", ":"))
        frames.append(
            Frame(n.id, True, f"id: {n.id}\nevent: {type(event).__name__}\ndata: {data}\n\n".encode())
        )
    return frames, cursor.position, full


@dataclass(frozen=True, slots=True)
class Pace:
    follow: bool
    limit: int | None
    heartbeat: float
    poll: float


async def event_stream(reading: Reading, after: int, pace: Pace, ticker: LogTicker) -> AsyncGenerator[bytes]:
    """The SSE stream after position ``after``."""
    loop = asyncio.get_running_loop()
    sent, quiet_since = 0, loop.time()
    cursor = ChainCursor(reading.recorder, reading.checkpoints, after)
    ticker.join()
    try:
        while True:
            seen = ticker.generation
            frames, position, full = await run_in_threadpool(read_frames, reading, cursor)
            last = None
            for frame in frames:
                if pace.limit is not None and sent >= pace.limit and (frame.event or frame.position != last):
                    return
                yield frame.body  # (a checkpoint right after the last event still comes)
                if frame.event:
                    sent, last = sent + 1, frame.position
            if pace.limit is not None and sent >= pace.limit:
                return
            if frames:
                quiet_since = loop.time()
            if reading.until is not None and position >= reading.until:
                return
            if full:
                continue
            if not pace.follow:
                return
            if loop.time() - quiet_since >= pace.heartbeat:
                yield HEARTBEAT
                quiet_since = loop.time()
            await ticker.wait(seen, min(pace.poll, quiet_since + pace.heartbeat - loop.time()))
    finally:
        ticker.leave()


class EventStreamResponse(StreamingResponse):
    """A ``StreamingResponse`` that closes its stream however the response ends (a client gone
    away cancels the sending while the generator waits at a ``yield``: without ``aclose`` its
    ``finally`` would wait for the garbage collector), then gives back a consumer's lease."""

    def __init__(
        self, stream: AsyncGenerator[bytes], release: Callable[[], None] | None, headers: dict[str, str]
    ) -> None:
        super().__init__(stream, media_type=EVENT_STREAM, headers=headers)
        self.stream = stream
        self.release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.stream.aclose()
                if self.release is not None:
                    await run_in_threadpool(self.release)


# ----------------------------------------------------------------------------- consumers


def _consumer_name(name: str, field: str) -> str:
    try:
        return check_consumer_name(name)
    except ValueError as e:
        raise InputError.single(field, str(e)) from None


async def hold_lease(consumer: DurableConsumer) -> Callable[[], None]:
    """The consumer's lease, waiting up to ``LEASE_WAIT`` seconds for a stream that is ending
    (``ConsumerBusy`` then: 409); returns its release."""
    deadline = asyncio.get_running_loop().time() + LEASE_WAIT
    while True:
        lease: AbstractContextManager[None] = consumer.lease()
        try:
            await run_in_threadpool(lease.__enter__)
        except ConsumerBusy:
            if asyncio.get_running_loop().time() >= deadline:
                raise
            await asyncio.sleep(0.1)
            continue

        def release(held: AbstractContextManager[None] = lease) -> None:
            held.__exit__(None, None, None)

        return release


def _moved_log(request: Request, e: CheckpointNotInLog) -> JSONResponse:
    return problem(request, 409, "conflict", str(e), hint=e.advice(), field="consumer")


def _types(values: list[str] | None) -> frozenset[str] | None:
    names = {t.strip() for v in values or () for t in v.split(",") if t.strip()}
    if not names:
        return None
    unknown = sorted(names - set(EVENT_TOPICS))
    if unknown:
        raise InputError.single(
            "type", f"unknown event type {', '.join(unknown)[:200]}: see docs/events.md (e.g. Suspended,Lost)"
        )
    return frozenset(EVENT_TOPICS[n] for n in names)


def _last_event_id(text: str | None) -> int | None:
    if text is None or not text.strip():
        return None
    try:
        value = int(text.strip())
    except ValueError:
        raise InputError.single(
            "Last-Event-ID", "give the id of the last event received (a position)"
        ) from None
    if not 0 <= value <= MAX_POSITION:
        raise InputError.single("Last-Event-ID", f"a position from 0 to {MAX_POSITION}")
    return value


class Acknowledgement(BaseModel):
    model_config = ConfigDict(extra="forbid")
    position: int = Field(
        ge=0, le=MAX_POSITION, description="the last position the consumer has fully handled"
    )


Position = Annotated[int | None, Query(ge=0, le=MAX_POSITION)]


def close_feed_at_shutdown(app: FastAPI) -> None:
    """Close the worker's feed (its checkpoint store's connections) when the app shuts down,
    before the service it reads from."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            try:
                yield state
            finally:
                feed: Feed | None = getattr(app_.state, "feed", None)
                if feed is not None:
                    app_.state.feed = None
                    feed.close()

    app.router.lifespan_context = lifespan


def add_feed_routes(app: FastAPI) -> None:
    close_feed_at_shutdown(app)
    r = APIRouter(tags=["feed"], responses=RESPONSES)
    feed_role = require(Permission.FEED)

    @r.get(
        "/events",
        summary="the event log as server-sent events (id: position, event: type, data: mynacard.event/1)",
        response_class=StreamingResponse,
        responses={200: {"content": {EVENT_STREAM: {"schema": {"type": "string"}}}}},
    )
    async def events(
        request: Request,
        after: Position = None,
        type: Annotated[
            list[str] | None, Query(description="only these event types, e.g. Suspended,Lost")
        ] = None,
        consumer: Annotated[
            str | None,
            Query(max_length=200, description="a named consumer: start after its acknowledged position"),
        ] = None,
        follow: Annotated[bool, Query(description="false: end at the end of the log")] = True,
        limit: Annotated[int | None, Query(ge=1, le=MAX_POSITION, description="end after N events")] = None,
        until_position: Annotated[
            int | None, Query(ge=1, le=MAX_POSITION, description="end once the log was read through N")
        ] = None,
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
        identity: Any = feed_role,
    ) -> Any:
        service, feed = service_of(request), feed_of(request)
        topics, resume = _types(type), _last_event_id(last_event_id)
        head = await run_in_threadpool(log_head, service.write.recorder)
        release = None
        if consumer is not None:
            named = feed.consumer(_consumer_name(consumer, "consumer"))
            if after is not None:
                raise InputError.single("after", "a consumer starts after its acknowledged position")
            release = await hold_lease(named)
            try:
                start = await run_in_threadpool(named.check)
            except CheckpointNotInLog as e:
                await run_in_threadpool(release)
                return _moved_log(request, e)
            except BaseException:
                await run_in_threadpool(release)
                raise
        elif resume is not None:
            if resume > head:
                return problem(
                    request,
                    409,
                    "conflict",
                    f"Last-Event-ID {resume} is beyond the end of this log ({head}): the event store "
                    "was restored from an older backup, or this is another store",
                    field="Last-Event-ID",
                    hint="drop what was received after the last position this log holds, then resume",
                )
            start = resume
        else:
            start = after or 0
            if start > head:
                raise InputError.single("after", f"position {start} is beyond the end of the log ({head})")
        await run_in_threadpool(service.count_access, identity, "/events")
        settings = service.settings
        reading = Reading(
            service.write.recorder,
            service.write.mapper,
            topics,
            settings.feed_batch,
            until_position,
            checkpoints_of(request),
        )
        pace = Pace(follow, limit, settings.feed_heartbeat, settings.feed_poll_interval)
        return EventStreamResponse(
            event_stream(reading, start, pace, feed.ticker),
            release,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @r.post("/consumers/{name:path}/ack", summary="a named consumer acknowledges everything up to a position")
    async def acknowledge(
        request: Request,
        name: str,
        body: Annotated[Acknowledgement, Body()],
        identity: Any = feed_role,
    ) -> Any:
        consumer = feed_of(request).consumer(_consumer_name(name, "name"))
        try:
            move = await run_in_threadpool(lambda: consumer.acknowledge(body.position, by=identity.actor()))
        except PositionNotInLog as e:
            raise InputError.single("position", str(e)) from None
        except CheckpointNotInLog as e:
            return _moved_log(request, e)
        return {
            "consumer": move.consumer,
            "requested": move.requested,
            "previous": move.previous,
            "checkpoint": move.checkpoint,
            "changed": move.changed,
            "settled": move.settled,
            "log_head": move.log_head,
        }

    @r.get("/consumers/{name:path}", summary="a named consumer: position, lag and parked events")
    async def consumer_status(request: Request, name: str, identity: Any = feed_role) -> dict[str, Any]:
        feed, service = feed_of(request), service_of(request)
        consumer = _consumer_name(name, "name")

        def report() -> dict[str, Any]:
            write = service.write
            found = consumer_report(feed.checkpoints, write.recorder, write.mapper, consumer)
            parked = [letter_dict(x) for x in feed.checkpoints.dead_letters(consumer)]
            return {**found.as_dict(), "parked_events": parked}

        return await run_in_threadpool(report)

    app.include_router(r)
