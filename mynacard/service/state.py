"""One process's service: the write side, the read side, the staff registry and the
authenticator, opened once per worker (``app.create_app``'s lifespan) and shared by its requests.

Writes go through the application's command bus (one at a time per process, across threads);
reads first bring the read side up to the log (read your writes, also those of other workers),
one request at a time per process; audit replays read the log itself.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from commands.application import CardLifecycle, CommandResult
from commands.config import Settings
from commands.models import Command
from mynacard.bootstrap import open_read_side, open_staff_registry, open_write_side
from mynacard.cli_support import log_integrity, views_on_this_log
from mynacard.pki.issuer import open_issuer
from mynacard.queries import Questions
from mynacard.service.identity import Authenticator, Identity, TokenAuthenticator
from mynacard.service.metrics import Metrics
from mynacard.service.roles import ITEMISED_ROLES
from projections.read_side import ReadSide
from storage.interface import StaffRegistry
from storage.staff import AccessRecord

T = TypeVar("T")


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

    def close(self) -> None:
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

    def positions(self) -> dict[str, dict[str, Any]]:
        with self._read_lock:
            return self.read.positions()


def new_request_id() -> str:
    return uuid.uuid4().hex
