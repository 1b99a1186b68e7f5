"""The in-memory backend: the library's plain-Python (POPO) recorders with mynacard's
``CommandLog`` beside the events, for the unit tests of the rules (which run the real command
path, once, without a database) and for benchmarks' baselines. Nothing is kept after the process
ends, so no setting of the CLI or the service selects it: only code that builds an application
directly does, with ``memory_env()``.

It keeps every promise of ``CommandLog`` that the rules rely on: the command-log row is written
under the same lock as the events (one save, all or nothing), a second row with one command id
fails the save, and R66's clock row refuses a save recorded before it (a conflict the bus retries).
``PERSISTENCE_MODULE=storage.memory`` selects it (the library finds the one factory below).

May import: ``eventsourcing.popo`` / ``eventsourcing.persistence``, ``storage.interface`` and
``storage.records``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing import popo
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent
from eventsourcing.utils import get_topic

from storage import chain
from storage.chain import ChainLink, EventColumns
from storage.interface import CommandLog
from storage.records import (
    CLOCK_CONFLICT,
    CLOCK_GUARD_KWARG,
    COMMAND_LOG_KWARG,
    CommandLogEntry,
    StoreIdentity,
    clock_microseconds,
    clock_moment,
)


class MemoryCommandLogRecorder(popo.POPOApplicationRecorder, CommandLog):
    """The library's in-memory application recorder with the command log, the store's identity,
    its key fingerprints and its clock row (R66)."""

    def __init__(self) -> None:
        super().__init__()
        self._commands: dict[UUID, tuple[str, ...]] = {}
        self._identity: StoreIdentity | None = None
        self._keys: dict[int, str] = {}
        self._newest_us: int | None = None
        self._marks: dict[str, str] = {}
        self._chain: dict[int, bytes] = {}
        """The hash chain (issue 13): position → chain hash."""

    def _assert_uniqueness(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events, **kwargs)
        entry: CommandLogEntry | None = kwargs.get(COMMAND_LOG_KWARG)
        if entry is None:
            return
        if entry.command_id in self._commands:
            raise IntegrityError(f"command {entry.command_id} is already in the command log")
        moment = clock_microseconds(entry.recorded_at)
        if kwargs.get(CLOCK_GUARD_KWARG) and self._newest_us is not None and moment < self._newest_us:
            raise IntegrityError(CLOCK_CONFLICT)

    def _update_table(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = super()._update_table(stored_events, **kwargs)
        head = self._head()
        previous = head.chain_hash if head else chain.GENESIS
        self._chain.update(chain.chain_batch(previous, ids or (), stored_events))
        entry: CommandLogEntry | None = kwargs.get(COMMAND_LOG_KWARG)
        if entry is not None:
            self._commands[entry.command_id] = entry.row()
            moment = clock_microseconds(entry.recorded_at)
            self._newest_us = moment if self._newest_us is None else max(self._newest_us, moment)
        return ids

    def select_command(self, command_id: UUID) -> CommandLogEntry | None:
        with self._database_lock:
            row = self._commands.get(command_id)
        return CommandLogEntry.from_row(row) if row else None

    def store_identity(self) -> StoreIdentity | None:
        return self._identity

    def claim_store_identity(self, identity: StoreIdentity) -> StoreIdentity:
        with self._database_lock:
            if self._identity is None:
                self._identity = identity
            return self._identity

    def store_mark(self, name: str) -> str | None:
        return self._marks.get(name)

    def set_store_mark(self, name: str, value: str) -> None:
        with self._database_lock:
            self._marks.setdefault(name, value)

    def recorded_keys(self) -> dict[int, str]:
        with self._database_lock:
            return dict(self._keys)

    def record_keys(self, fingerprints: dict[int, str], at: str) -> dict[int, str]:
        del at  # kept only by the durable backends
        with self._database_lock:
            for key_id, fingerprint in fingerprints.items():
                self._keys.setdefault(key_id, fingerprint)
            return dict(self._keys)

    def newest_recorded_at(self) -> datetime | None:
        with self._database_lock:
            return None if self._newest_us is None else clock_moment(self._newest_us)

    def _head(self) -> ChainLink | None:
        if not self._chain:
            return None
        position = max(self._chain)
        return ChainLink(position, self._chain[position])

    def chain_head(self) -> ChainLink | None:
        with self._database_lock:
            return self._head()

    def chain_link_at(self, position: int) -> ChainLink | None:
        with self._database_lock:
            found = self._chain.get(position)
        return None if found is None else ChainLink(position, found)

    def log_max_position(self) -> int:
        with self._database_lock:
            return len(self._stored_events)

    def version_at(self, originator_id: UUID, position: int) -> int:
        with self._database_lock:
            return max(
                (
                    s.originator_version
                    for s in self._stored_events[: max(position, 0)]
                    if str(s.originator_id) == str(originator_id)
                ),
                default=0,
            )

    def chain_batch(self, after: int, limit: int) -> tuple[list[EventColumns], list[tuple[int, bytes]]]:
        with self._database_lock:
            events: list[EventColumns] = [
                (i + 1, str(s.originator_id), s.originator_version, s.topic, s.state)
                for i, s in enumerate(self._stored_events[after : after + limit], start=after)
            ]
            last = events[-1][0] if len(events) == limit else None
            links = sorted(
                (p, h) for p, h in self._chain.items() if p > after and (last is None or p <= last)
            )
        return events, links

    def extend_chain(self, links: Sequence[ChainLink], after: ChainLink | None) -> None:
        with self._database_lock:
            if self._head() != after:
                raise IntegrityError("the chain moved while it was being extended")
            self._chain.update((k.position, k.chain_hash) for k in links)


class MemoryStorage(popo.POPOFactory):
    """The in-memory backend's factory: its application recorder keeps the command log."""

    def application_recorder(self) -> ApplicationRecorder:
        return MemoryCommandLogRecorder()


def memory_env() -> dict[str, str]:
    """The eventsourcing settings of an application kept in memory."""
    return {
        "PERSISTENCE_MODULE": __name__,
        "APPLICATION_RECORDER_TOPIC": get_topic(MemoryCommandLogRecorder),
    }
