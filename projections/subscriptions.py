"""Following the event log from outside: relying parties, convenience-store issuance, the
renewal-notice mailing.

- ``follow(...)``: an iterator of ``(position, event)`` after a position, in log order, with no
  gaps (the log's positions are assigned in commit order), optionally waiting for new events.
- ``DurableConsumer``: a named consumer whose acknowledged position (its checkpoint) is stored
  beside the fingerprints of the events it acknowledged (``CheckpointStore``). Delivery is
  at-least-once and in order: the checkpoint moves only on an acknowledgement, so after a crash
  the consumer resumes after the last acknowledged position and the position is the idempotency
  key of a downstream system.

  - ``pending()`` delivers the events after the checkpoint and never moves it (the CLI's
    ``events --consumer X``); ``acknowledge(N)`` moves it forward, never back (``--ack N``);
    ``reset_to(N)`` moves it anywhere (``--reset-to N``: the recovery after a restored store).
  - ``run(handler)`` is the in-process form: the handler's return is the acknowledgement.
  - Every read first checks that the log still holds the acknowledged event at the checkpoint
    (``CheckpointNotInLog`` when an older backup of the store was restored, or the checkpoints
    belong to another store): nothing is skipped or silently not delivered.
  - ``lease()`` makes a consumer name readable by one process at a time (``ConsumerBusy``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification, TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder

from commands.errors import ConcurrencyConflict
from projections.wakeup import wakeup_for

DEFAULT_BATCH = 500
MAX_POSITION = 2**63 - 1
"""The largest position a log can have (a signed 64-bit integer on both backends)."""
MAX_CONSUMER_NAME = 100
_CONSUMER_NAME = re.compile(r"[^\W_][\w.:@/-]*")
FINGERPRINT_HISTORY = 64
"""How many of a consumer's latest acknowledgements keep their fingerprint: the candidates for
the position to resume from after a restored store."""


# ----------------------------------------------------------------------------- errors


class CheckpointNotInLog(Exception):
    """The log no longer holds the event a consumer acknowledged at its checkpoint: the log is
    shorter than the checkpoint, or holds another event there (an older backup of the event store
    was restored, or the checkpoints belong to another store). Nothing is delivered until the
    checkpoint is reset; ``resume_from`` is the newest acknowledged position the log still holds
    (0 when none)."""

    def __init__(self, consumer: str, checkpoint: int, log_head: int, reason: str, resume_from: int) -> None:
        self.consumer = consumer
        self.checkpoint = checkpoint
        self.log_head = log_head
        self.reason = reason
        self.resume_from = resume_from
        super().__init__(
            f"consumer {consumer!r} acknowledged position {checkpoint}, but {reason}: the event store "
            "was restored from an older backup, or the consumer's checkpoints belong to another store; "
            "nothing was delivered"
        )

    def advice(self) -> str:
        """What an operator does next (the command-line form)."""
        kept = (
            f"position {self.resume_from} is the newest acknowledged event this log still holds"
            if self.resume_from
            else "none of the acknowledged events this consumer remembers is in this log"
        )
        return (
            f"{kept}: tell the downstream system that positions above {self.resume_from} may now name "
            f"other events (drop what it recorded for them), then run 'mynacard events --consumer "
            f"{self.consumer} --reset-to {self.resume_from}' to resume after it (or '--reset-to "
            f"{self.log_head}' to skip to the end of the log, {self.log_head})"
        )


class PositionNotInLog(ValueError):
    """An acknowledgement or a reset names a position the log does not hold."""

    def __init__(self, position: int, log_head: int, reason: str) -> None:
        self.position = position
        self.log_head = log_head
        super().__init__(f"{reason} (the log ends at position {log_head})")


class ConsumerBusy(ConcurrencyConflict):
    """Another process is reading the same consumer name."""

    kind = "consumer_busy"

    def __init__(self, consumer: str, holder: str | None = None) -> None:
        self.consumer = consumer
        who = f" (process {holder})" if holder else ""
        super().__init__(f"consumer {consumer!r} is being read by another process{who}")

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "message": str(self),
            "hint": f"one reader per consumer name: wait for the other 'mynacard events --consumer "
            f"{self.consumer}' to end (or stop it), or read under another consumer name",
        }


def check_consumer_name(name: str) -> str:
    """A consumer name: 1–100 letters, digits and ``. _ : @ / -``, starting with a letter or
    a digit (no spaces or control characters; ``__…`` is the library's own)."""
    if not name:
        raise ValueError("give the consumer a name, e.g. 'renewal-mailing'")
    if len(name) > MAX_CONSUMER_NAME:
        raise ValueError(f"at most {MAX_CONSUMER_NAME} characters (got {len(name)})")
    if not _CONSUMER_NAME.fullmatch(name):
        raise ValueError(
            "use letters, digits and . _ : @ / - (starting with a letter or a digit; no spaces or "
            "control characters)"
        )
    return name


def event_fingerprint(notification: Notification) -> str:
    """What identifies the event at a position of one log: its aggregate, version, topic and
    stored bytes (sha256, hex). Another store, or the same position after a restore, differs."""
    digest = hashlib.sha256(b"mynacard.checkpoint/1\0")
    for part in (str(notification.originator_id), str(notification.originator_version), notification.topic):
        digest.update(part.encode() + b"\0")
    digest.update(notification.state)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- reading the log


def notifications(
    recorder: ApplicationRecorder,
    *,
    after: int = 0,
    wait: bool = False,
    poll_interval: float = 0.5,
    stop: threading.Event | None = None,
    batch_size: int = DEFAULT_BATCH,
) -> Iterator[Notification]:
    """The stored notifications after position ``after`` (see ``follow``)."""
    position = after
    wakeup = wakeup_for(recorder) if wait else None
    try:
        while stop is None or not stop.is_set():
            notes = recorder.select_notifications(start=position, limit=batch_size, inclusive_of_start=False)
            for n in notes:
                yield n
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
    for n in notifications(
        recorder, after=after, wait=wait, poll_interval=poll_interval, stop=stop, batch_size=batch_size
    ):
        yield n.id, mapper.to_domain_event(n)


def notification_at(recorder: ApplicationRecorder, position: int) -> Notification | None:
    """The stored event at exactly ``position`` (None when the log has none there)."""
    if position < 1 or position > MAX_POSITION:
        return None
    notes = recorder.select_notifications(start=position, limit=1)
    return notes[0] if notes and notes[0].id == position else None


def log_head(recorder: ApplicationRecorder) -> int:
    """The last position of the log (0 when it is empty)."""
    return recorder.max_notification_id() or 0


# ----------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True, slots=True)
class _Statements:
    """The checkpoint store's SQL for one backend, with named parameters (``str`` on SQLite,
    psycopg ``Composed`` on PostgreSQL)."""

    create: Any
    position: Any
    advance: Any
    reset: Any
    history: Any
    remember: Any
    forget_above: Any
    trim: Any


_SQL = {
    "create": "CREATE TABLE IF NOT EXISTS {f} (consumer TEXT NOT NULL, position BIGINT NOT NULL, "
    "fingerprint TEXT NOT NULL, PRIMARY KEY (consumer, position))",
    "position": "SELECT notification_id FROM {t} WHERE application_name = %(name)s",
    "advance": "INSERT INTO {t} (application_name, notification_id) VALUES (%(name)s, %(position)s) "
    "ON CONFLICT (application_name) DO UPDATE SET notification_id = %(position)s "
    "WHERE {t}.notification_id < %(position)s RETURNING notification_id",
    "reset": "INSERT INTO {t} (application_name, notification_id) VALUES (%(name)s, %(position)s) "
    "ON CONFLICT (application_name) DO UPDATE SET notification_id = %(position)s",
    "history": "SELECT position, fingerprint FROM {f} WHERE consumer = %(name)s ORDER BY position DESC",
    "remember": "INSERT INTO {f} (consumer, position, fingerprint) VALUES (%(name)s, %(position)s, "
    "%(fingerprint)s) ON CONFLICT (consumer, position) DO UPDATE SET fingerprint = excluded.fingerprint",
    "forget_above": "DELETE FROM {f} WHERE consumer = %(name)s AND position > %(position)s",
    "trim": "DELETE FROM {f} WHERE consumer = %(name)s AND position <= (SELECT position FROM {f} "
    "WHERE consumer = %(name)s ORDER BY position DESC LIMIT 1 OFFSET %(keep)s)",
}


def _sqlite_statements() -> _Statements:
    """The library's SQLite tracking table is ``tracking``; the fingerprints sit beside it."""
    text = {k: re.sub(r"%\((\w+)\)s", r":\1", v) for k, v in _SQL.items()}
    return _Statements(**{k: v.format(t="tracking", f="consumer_fingerprints") for k, v in text.items()})


def _postgres_statements(tracking: PostgresTrackingRecorder) -> _Statements:
    """``<name>_tracking`` and ``<name>_fingerprints`` in the checkpoint store's schema."""
    from psycopg.sql import SQL, Identifier

    schema = Identifier(tracking.datastore.schema)
    fingerprints = tracking.tracking_table_name.removesuffix("_tracking") + "_fingerprints"
    tracking.check_identifier_length(fingerprints)
    names = {
        "t": SQL("{0}.{1}").format(schema, Identifier(tracking.tracking_table_name)),
        "f": SQL("{0}.{1}").format(schema, Identifier(fingerprints)),
    }
    return _Statements(**{k: SQL(v).format(**names) for k, v in _SQL.items()})


class CheckpointStore:
    """Consumers' checkpoints: the library's tracking row per consumer name (the acknowledged
    position) and, in a table beside it, the fingerprints of the events at the latest
    ``FINGERPRINT_HISTORY`` acknowledged positions. A position and its fingerprint are written
    in one transaction."""

    def __init__(self, tracking: TrackingRecorder) -> None:
        self.tracking = tracking
        self.datastore: Any = getattr(tracking, "datastore")  # noqa: B009 (not on the abstract type)
        if isinstance(tracking, SQLiteTrackingRecorder):
            self.sql = _sqlite_statements()
        elif isinstance(tracking, PostgresTrackingRecorder):
            self.sql = _postgres_statements(tracking)
        else:
            raise TypeError(f"no checkpoint store on {type(tracking).__name__}")
        if not self.datastore.single_row_tracking:
            raise TypeError("consumer checkpoints need the library's single-row tracking table")
        self._create_table()

    def _create_table(self) -> None:
        if isinstance(self.tracking, PostgresTrackingRecorder):
            from commands.postgres_schema import schema_lock

            with schema_lock(self.tracking.datastore), self.datastore.transaction(commit=True) as curs:
                curs.execute(self.sql.create)
            return
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql.create)

    def position(self, name: str) -> int:
        """The acknowledged position of consumer ``name`` (0 before its first acknowledgement)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql.position, {"name": name})
            row = c.fetchone()
        return int(row["notification_id"]) if row is not None and row["notification_id"] is not None else 0

    def fingerprints(self, name: str) -> list[tuple[int, str]]:
        """The remembered (position, fingerprint) acknowledgements of ``name``, newest first."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql.history, {"name": name})
            return [(int(r["position"]), str(r["fingerprint"])) for r in c.fetchall()]

    def advance(self, name: str, position: int, fingerprint: str) -> bool:
        """Move the checkpoint forward to ``position`` (False, nothing written, when it is
        already there or beyond: acknowledgements are monotonic)."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql.advance, {"name": name, "position": position})
            if c.fetchone() is None:
                return False
            self._remember(c, name, position, fingerprint)
            c.execute(self.sql.trim, {"name": name, "keep": FINGERPRINT_HISTORY})
        return True

    def reset(self, name: str, position: int, fingerprint: str | None) -> None:
        """Move the checkpoint to ``position``, also backwards; the fingerprints remembered
        above it are forgotten (they belong to the log before the reset)."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(self.sql.reset, {"name": name, "position": position})
            c.execute(self.sql.forget_above, {"name": name, "position": position})
            if fingerprint is not None:
                self._remember(c, name, position, fingerprint)

    def _remember(self, c: Any, name: str, position: int, fingerprint: str) -> None:
        c.execute(self.sql.remember, {"name": name, "position": position, "fingerprint": fingerprint})


# ----------------------------------------------------------------------------- leases


@contextmanager
def consumer_lease(checkpoints: TrackingRecorder, name: str) -> Iterator[None]:
    """Hold the right to read consumer ``name`` (one process at a time; ``ConsumerBusy`` when
    another holds it). SQLite: a non-blocking ``flock`` on a lock file beside the checkpoint
    store; PostgreSQL: ``pg_try_advisory_lock`` on a connection of its own. Both end with the
    process, however it ends."""
    if isinstance(checkpoints, PostgresTrackingRecorder):
        with _advisory_lease(checkpoints, name):
            yield
        return
    if isinstance(checkpoints, SQLiteTrackingRecorder):
        with _file_lease(Path(checkpoints.datastore.pool.db_name), name):
            yield
        return
    raise TypeError(f"no consumer lease on {type(checkpoints).__name__}")


def _lease_digest(store: str, name: str) -> bytes:
    return hashlib.sha256(f"mynacard.consumer\0{store}\0{name}".encode()).digest()


@contextmanager
def _file_lease(store: Path, name: str) -> Iterator[None]:
    """``consumer-<digest>.lock`` in the checkpoint store's directory (the data directory)."""
    path = store.parent / f"consumer-{_lease_digest(str(store.resolve()), name).hex()[:24]}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise ConsumerBusy(name, holder or None) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def _advisory_lease(checkpoints: PostgresTrackingRecorder, name: str) -> Iterator[None]:
    """A session advisory lock keyed on (schema, consumer name), on a dedicated connection."""
    import psycopg

    datastore = checkpoints.datastore
    key = int.from_bytes(_lease_digest(datastore.schema, name)[:8], "big", signed=True)
    params = datastore.pool.kwargs
    connect = params() if callable(params) else dict(params or {})
    kwargs = {k: v for k, v in connect.items() if k != "row_factory"}
    with psycopg.connect(autocommit=True, **kwargs) as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        if row is None or not row[0]:
            raise ConsumerBusy(name)
        yield


# ----------------------------------------------------------------------------- durable consumers


@dataclass(frozen=True, slots=True)
class CheckpointMove:
    """The outcome of an acknowledgement or a reset."""

    consumer: str
    requested: int
    previous: int
    checkpoint: int
    log_head: int

    @property
    def changed(self) -> bool:
        return self.checkpoint != self.previous


class DurableConsumer:
    """A named subscriber with a stored checkpoint (at-least-once, in order, resumable; the
    position is the idempotency key)."""

    def __init__(
        self,
        name: str,
        checkpoints: TrackingRecorder,
        recorder: ApplicationRecorder,
        mapper: Mapper[UUID],
    ) -> None:
        self.name = check_consumer_name(name)
        self.checkpoints = checkpoints
        self.store = CheckpointStore(checkpoints)
        self.recorder = recorder
        self.mapper = mapper

    @property
    def position(self) -> int:
        """The acknowledged position (as stored; ``check()`` also proves the log holds it)."""
        return self.store.position(self.name)

    def lease(self) -> Any:
        """A context in which this process alone reads this consumer (see ``consumer_lease``)."""
        return consumer_lease(self.checkpoints, self.name)

    def check(self) -> int:
        """The acknowledged position, once the log is shown to still hold the acknowledged event
        there; ``CheckpointNotInLog`` otherwise."""
        position = self.position
        if position == 0:
            return 0
        head = log_head(self.recorder)
        remembered = self.store.fingerprints(self.name)
        if head < position:
            reason = f"the log ends at position {head}"
            raise CheckpointNotInLog(self.name, position, head, reason, self._resume_point(remembered, head))
        expected = dict(remembered).get(position)
        found = self._fingerprint_at(position) if expected is not None else None
        if expected is not None and found != expected:
            there = "has no event" if found is None else "holds another event"
            reason = f"the log {there} at position {position}"
            raise CheckpointNotInLog(self.name, position, head, reason, self._resume_point(remembered, head))
        return position

    def _fingerprint_at(self, position: int) -> str | None:
        found = notification_at(self.recorder, position)
        return event_fingerprint(found) if found is not None else None

    def _resume_point(self, remembered: list[tuple[int, str]], head: int) -> int:
        """The newest remembered acknowledgement whose event the log still holds (0: none)."""
        for position, fingerprint in remembered:
            if position <= head and self._fingerprint_at(position) == fingerprint:
                return position
        return 0

    def pending(
        self,
        *,
        wait: bool = False,
        stop: threading.Event | None = None,
        poll_interval: float = 0.5,
    ) -> Iterator[tuple[int, Any]]:
        """The events after the acknowledged position (checked first), in order; the checkpoint
        does not move: the receiver acknowledges what it has handled with ``acknowledge``."""
        after = self.check()
        return follow(
            self.recorder, self.mapper, after=after, wait=wait, stop=stop, poll_interval=poll_interval
        )

    def acknowledge(self, position: int) -> CheckpointMove:
        """Everything up to ``position`` was handled: move the checkpoint forward to it. At or
        below the checkpoint nothing changes; beyond the log, or where the log has no event,
        ``PositionNotInLog``; ``CheckpointNotInLog`` when the stored checkpoint is not in this log."""
        previous = self.check()
        head = log_head(self.recorder)
        if position > head:
            raise PositionNotInLog(position, head, f"position {position} is beyond the end of the log")
        if position <= previous:
            return CheckpointMove(self.name, position, previous, previous, head)
        found = notification_at(self.recorder, position)
        if found is None:
            raise PositionNotInLog(position, head, f"the log has no event at position {position}")
        self.store.advance(self.name, position, event_fingerprint(found))
        return CheckpointMove(self.name, position, previous, self.position, head)

    def reset_to(self, position: int) -> CheckpointMove:
        """Move the checkpoint to ``position`` (0: the start of the log), also backwards: the
        next read starts after it. The recovery after a restored store (see ``CheckpointNotInLog``)."""
        previous = self.position
        head = log_head(self.recorder)
        if position < 0 or position > head:
            raise PositionNotInLog(position, head, f"position {position} is not in 0…{head}")
        fingerprint = None
        if position:
            found = notification_at(self.recorder, position)
            if found is None:
                raise PositionNotInLog(position, head, f"the log has no event at position {position}")
            fingerprint = event_fingerprint(found)
        self.store.reset(self.name, position, fingerprint)
        return CheckpointMove(self.name, position, previous, position, head)

    def run(
        self,
        handler: Callable[[int, Any], None],
        *,
        wait: bool = False,
        stop: threading.Event | None = None,
        limit: int | None = None,
        poll_interval: float = 0.5,
    ) -> int:
        """Deliver events after the checkpoint to ``handler``; its return acknowledges the event
        (the checkpoint advances to it, with its fingerprint); an exception leaves the checkpoint
        before it. Returns how many were delivered."""
        delivered = 0
        for n in notifications(
            self.recorder, after=self.check(), wait=wait, stop=stop, poll_interval=poll_interval
        ):
            handler(n.id, self.mapper.to_domain_event(n))
            self.store.advance(self.name, n.id, event_fingerprint(n))
            delivered += 1
            if limit is not None and delivered >= limit:
                break
        return delivered
