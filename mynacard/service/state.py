"""One process's service: the write side, the read side, the staff registry and the
authenticator, opened once per worker (``app.create_app``'s lifespan) and shared by its requests.

Writes go through the application's command bus (one at a time per process, across threads);
reads first bring the read side up to the log (read your writes, also those of other workers),
one request at a time per process; audit replays read the log itself.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from commands.application import CardLifecycle, CommandResult
from commands.config import Settings
from commands.models import Command
from mynacard.bootstrap import open_checkpoints, open_read_side, open_staff_registry, open_write_side
from mynacard.cli_support import log_integrity, views_on_this_log
from mynacard.latency import measure
from mynacard.pki.issuer import open_issuer
from mynacard.queries import Questions
from mynacard.service.identity import Authenticator, Identity, TokenAuthenticator
from mynacard.service.metrics import Metrics
from mynacard.service.roles import ITEMISED_ROLES
from projections.read_side import ReadSide
from storage.interface import Checkpoints, StaffRegistry
from storage.staff import AccessRecord

T = TypeVar("T")
LATENCY_MAX_AGE = 30.0
"""Seconds a revocation latency report is reused (``/metrics``, ``/readyz``)."""


class Service:
    """What every request of one worker process uses."""

    def __init__(self, settings: Settings, authenticator: Authenticator | None = None) -> None:
        self.settings = settings
        self.registry: StaffRegistry = open_staff_registry(settings)
        self.write: CardLifecycle = open_write_side(settings)
        self.read: ReadSide = open_read_side(settings)
        self.authenticator: Authenticator = authenticator or TokenAuthenticator(self.registry)
        self.questions = Questions(self.read, self.write.clock)
        self.issuer = open_issuer(settings, self.write.command_log)
        identity = self.write.command_log.store_identity()
        self.started_at = identity.created_at if identity else None
        """When the store began: since then no revocation was ever dropped (expiredCertsOnCRL)."""
        self.metrics = Metrics(self)
        self._read_lock = threading.Lock()
        self._sightings: set[tuple[str, int, str]] = set()
        self._latency: tuple[float, dict[str, Any]] | None = None
        self._checkpoints: Checkpoints | None = None

    def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.datastore.close()  # type: ignore[attr-defined]
        self.read.close()
        self.write.close()
        self.registry.close()

    def execute(self, command: Command) -> CommandResult:
        return self.write.execute(command)

    def ask(self, question: Callable[[Questions], T]) -> T:
        """Answer from the read side brought up to the log first."""
        with self._read_lock, views_on_this_log(), log_integrity():
            self.read.catch_up()
            return question(self.questions)

    def record_access(
        self,
        identity: Identity,
        *,
        method: str,
        route: str,
        subject_kind: str,
        subject: str,
        purpose: str | None,
        request_id: str,
    ) -> None:
        """Record a read of a person's data: itemised for staff, counted for relying parties and
        subscribers (written before the answer leaves: no read without its record)."""
        now = datetime.now(UTC)
        if identity.role in ITEMISED_ROLES:
            self.registry.record_access(
                AccessRecord(
                    recorded_at=now.isoformat(timespec="microseconds"),
                    name=identity.name,
                    role=identity.role.value,
                    office=identity.office,
                    method=method,
                    route=route,
                    subject_kind=subject_kind,
                    subject=subject,
                    purpose=purpose,
                    request_id=request_id,
                )
            )
        else:
            self.count_access(identity, route)

    def count_access(self, identity: Identity, route: str) -> None:
        self.registry.count_access(
            datetime.now(UTC).date().isoformat(), identity.name, identity.role.value, route
        )

    def seen(self, serial: str, listed_in: int, channel: str) -> None:
        """A revocation was served on ``channel``: its first time is kept (revocation latency).
        Each process remembers what it recorded, so a CRL of many entries writes only the new."""
        key = (serial, listed_in, channel)
        if key in self._sightings:
            return
        self.registry.record_sighting(
            serial, listed_in, channel, datetime.now(UTC).isoformat(timespec="microseconds")
        )
        self._sightings.add(key)

    def latency(self, max_age: float = LATENCY_MAX_AGE) -> dict[str, Any]:
        """The revocation latency report (``mynacard.latency``), measured at most every
        ``max_age`` seconds (scrapes and readiness probes share it)."""
        cached = self._latency
        if cached is not None and time.monotonic() - cached[0] < max_age:
            return cached[1]
        if self._checkpoints is None:
            self._checkpoints = open_checkpoints(self.settings)
        checkpoints = self._checkpoints
        report = self.ask(lambda q: measure(q.read, self.registry, checkpoints, self.settings, None))
        self._latency = (time.monotonic(), report)
        return report

    def positions(self) -> dict[str, dict[str, Any]]:
        with self._read_lock:
            return self.read.positions()


def new_request_id() -> str:
    return uuid.uuid4().hex
