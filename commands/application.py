"""The application service: an eventsourcing ``Application`` with one method per command.

Each method runs load → act → save in one transaction: the aggregates a command changed and
its ``CommandRecord`` are saved together, so a command has all its effects or none. The same
command id sent twice has one effect and returns the first result. An optimistic-concurrency
conflict (another writer saved the card first) is retried a bounded number of times.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, LRUCache
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError, OperationalError, Recording
from eventsourcing.utils import get_topic
from pydantic import BaseModel, Field

from commands import certificate_handlers as _certificate_handlers  # noqa: F401  (registers handlers)
from commands import certificate_models as cm
from commands import models as m
from commands.command_log import COMMAND_LOG_KWARG, CommandLog, CommandLogEntry, SQLiteCommandLogRecorder
from commands.config import ConfigurationError
from commands.errors import CommandIdReused, ConcurrencyConflict, InputError, NotFound
from commands.handlers import HANDLERS, Context, Outcome, resolve_card_ref
from commands.idempotency import payload_digest
from commands.policies import CardCertificates, react
from commands.transcoding import MynacardTranscodings
from lifecycle import card_events as ev
from lifecycle.calendar import to_jst
from lifecycle.card import Card, Stamp
from lifecycle.certificate import Certificate, Validity
from lifecycle.certificate_validity import certificate_validity
from lifecycle.errors import RuleViolation
from lifecycle.identifiers import certificate_id_for, format_application_id
from lifecycle.policies import DEFAULT_POLICIES, Policies

CLOCK_SKEW = timedelta(minutes=5)
"""An effective time may lie this far after the service's clock (clients' clocks drift)."""
CLOCK_TOLERANCE = timedelta(seconds=5)
"""R66: how far the clock may lag the newest recorded event (setting ``MYNACARD_CLOCK_TOLERANCE``)."""
ONE_TICK = timedelta(microseconds=1)


def _recorded_at(event: DomainEventProtocol[UUID]) -> datetime:
    timestamp = getattr(event, "timestamp", None)
    assert isinstance(timestamp, datetime), "every mynacard event has a recorded time"
    return timestamp


TRANSIENT_MARKERS = (
    "locked",
    "busy",
    "lock timeout",
    "deadlock",
    "could not serialize",
    "concurrent",
    "connection",
    "server closed",
    "terminating",
)


def _transient(error: Exception) -> bool:
    """An optimistic-concurrency conflict or a lock wait is worth another attempt; a full disk
    or a read-only store is not (issue 8 item 10)."""
    if isinstance(error, IntegrityError):
        return True
    text = str(error).lower()
    return any(marker in text for marker in TRANSIENT_MARKERS)


class StoreUnwritable(ConfigurationError):
    """The store refuses writes for a reason another attempt does not cure (disk full, read-only)."""


class ClockBehindLog(ConfigurationError):
    """R66: the service's clock is behind the newest recorded event by more than the tolerance."""


def system_clock() -> datetime:
    return to_jst(datetime.now().astimezone())


class RecordedEvent(BaseModel):
    aggregate_id: UUID
    version: int
    type: str
    effective_at: datetime | None = None


class CommandResult(BaseModel):
    """What a command answers; stored with it, and answered again for a duplicate."""

    command: str
    command_id: UUID
    card_id: UUID
    application_id: str
    status: str
    events: list[RecordedEvent] = Field(default_factory=list)
    duplicate: bool = False


class CardLifecycle(MynacardTranscodings, Application[UUID]):
    """The write side of mynacard (its log is named ``mynacard``)."""

    name = "mynacard"
    env: ClassVar[dict[str, str]] = {
        # Recently used cards and certificates stay in memory; instead of one fast-forward query
        # per aggregate, one query per command checks that nobody else wrote (see _ensure_current).
        "AGGREGATE_CACHE_MAXSIZE": "5000",
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        "APPLICATION_RECORDER_TOPIC": get_topic(SQLiteCommandLogRecorder),  # storage_env sets the backend's
    }

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        holder_key: bytes,
        policies: Policies = DEFAULT_POLICIES,
        clock: Callable[[], datetime] = system_clock,
        max_attempts: int = 5,
        clock_tolerance: timedelta | None = None,
    ) -> None:
        super().__init__(env)
        self._write_lock = threading.RLock()
        self._tls = threading.local()
        self._high_water: int | None = None
        self._newest: tuple[int, datetime] | None = None
        """(log position, recorded time of the event there): the newest recorded time (R66)."""
        self.clock_tolerance = clock_tolerance
        """R66's guard: None turns it off, for code that replays a history with the recorded times
        it was given (test fixtures that set the clock per story); ``open_lifecycle`` — the CLI,
        the service — always sets it (``MYNACARD_CLOCK_TOLERANCE``, default 5 s)."""
        self.holder_key = holder_key
        self.policies = policies
        self.clock = clock
        self.max_attempts = max_attempts

    # ------------------------------------------------------------------ reading

    def _ensure_current(self) -> None:
        """Cache coherence, checked under the write lock: if the log's last position is the one
        this process last saw, no other process wrote since and every cached aggregate is
        current; otherwise the cache is dropped and aggregates are read afresh."""
        current = self.recorder.max_notification_id() or 0
        if current != self._high_water:
            cache = self.repository.cache
            if cache is not None:
                cache.cache.clear()
                if isinstance(cache, LRUCache):
                    cache.clear()
                    cache.full = False
            self._high_water = current

    def _saw_own_writes(self, recordings: Sequence[Recording[UUID]]) -> None:
        """Advance the high-water mark past this process's own save, if nothing interleaved."""
        if not recordings or self._high_water is None:
            return
        ids = [r.notification.id for r in recordings]
        if ids[0] == self._high_water + 1 and ids == list(range(ids[0], ids[0] + len(ids))):
            self._high_water = ids[-1]
            self._newest = (ids[-1], _recorded_at(recordings[-1].domain_event))
        else:
            self._high_water = None

    def _load(self, aggregate_id: UUID) -> Aggregate | None:
        """An aggregate: on the write path the cached object itself (under the write lock, so
        no copy is needed), elsewhere a copy that no command can change under the reader."""
        loaded: list[UUID] | None = getattr(self._tls, "loaded", None)
        try:
            if loaded is None:
                with self._write_lock:
                    self._ensure_current()
                    aggregate: Aggregate = self.repository.get(aggregate_id)
            else:
                loaded.append(aggregate_id)
                aggregate = self.repository.get(aggregate_id, deepcopy_from_cache=False)
        except AggregateNotFoundError:
            return None
        return aggregate

    def load_card(self, card_id: UUID) -> Card | None:
        card = self._load(card_id)
        return card if isinstance(card, Card) else None

    def get_card(self, ref: str) -> Card:
        """A card by application id or card id (already validated text)."""
        card = self.load_card(resolve_card_ref(ref))
        if card is None:
            raise NotFound.single("card", "no card with this application id or card id")
        return card

    def load_certificate(self, certificate_id: UUID) -> Certificate | None:
        cert = self._load(certificate_id)
        return cert if isinstance(cert, Certificate) else None

    def get_certificate(self, serial: str) -> Certificate:
        cert = self.load_certificate(certificate_id_for(serial.strip()))
        if cert is None:
            raise NotFound.single("serial", "no certificate with this serial number")
        return cert

    def certificate_validity(self, serial: str, at: datetime) -> Validity:
        """Valid at ``at``? The certificate's own history, and its card's unrecorded lapses."""
        cert = self.get_certificate(serial)
        card = self.load_card(cert.card_id) if cert.card_id else None
        return certificate_validity(cert, card, at)

    def card_certificates(self, card: Card) -> list[Certificate]:
        """Every certificate ever issued onto the card, in issue order."""
        out = []
        for event in self.events.get(card.id):
            if isinstance(event, ev.CertificateAdded):
                cert = self.load_certificate(event.certificate_id)
                if cert is not None:
                    out.append(cert)
        return out

    def card_events(self, card_id: UUID) -> list[DomainEventProtocol[UUID]]:
        return list(self.events.get(card_id))

    def card_history(self, card: Card) -> list[Any]:
        """The card's events and its certificates' events, in the order they were recorded."""
        events = self.card_events(card.id)
        for cert in self.card_certificates(card):
            events.extend(self.events.get(cert.id))
        return sorted(
            events, key=lambda e: (e.timestamp, 0 if isinstance(e, ev.CardEvent | ev.Applied) else 1)
        )

    # ------------------------------------------------------------------ executing

    def execute(self, command: m.Command) -> CommandResult:
        """Run any command model through its handler (the per-command methods call this).

        Commands of one process run one at a time (writes to the log are serialized by the
        database anyway); that lets the write path use cached aggregates without copying them.
        Whatever a failed attempt loaded is dropped from the cache, so nothing half-changed is
        ever reused.
        """
        handler = HANDLERS[type(command)]
        digest = self._digest(command)
        last_error: Exception | None = None
        with self._write_lock:
            for attempt in range(self.max_attempts):
                self._tls.loaded = []
                try:
                    self._ensure_current()
                    result, changed, entry = self._prepare(handler, command, digest)
                    self._saw_own_writes(self.save(*changed, **{COMMAND_LOG_KWARG: entry}))
                except (RuleViolation, InputError):
                    self._forget_loaded()
                    prior = self._prior_result(command.command_id, digest)
                    if prior is not None:
                        return prior
                    raise
                except (IntegrityError, OperationalError) as e:
                    self._forget_loaded()
                    if not _transient(e):
                        raise StoreUnwritable(
                            f"{command.COMMAND}: the event store cannot be written "
                            f"({' '.join(str(e).split())}); nothing was recorded. Free disk space, make the "
                            "store writable (MYNACARD_DATABASE_URL), then send the same command again"
                        ) from None
                    prior = self._prior_result(command.command_id, digest)
                    if prior is not None:
                        return prior
                    last_error = e
                    time.sleep(random.uniform(0, 0.01 * 2**attempt))
                    continue
                except BaseException:
                    self._forget_loaded()
                    raise
                finally:
                    self._tls.loaded = None
                return result
        raise ConcurrencyConflict(
            f"{command.COMMAND}: the card kept changing under {self.max_attempts} attempts "
            f"({type(last_error).__name__})"
        )

    def _digest(self, command: m.Command) -> str:
        return payload_digest(self.holder_key, command)

    def _prepare(
        self, handler: Any, command: m.Command, digest: str
    ) -> tuple[CommandResult, list[Aggregate], CommandLogEntry]:
        """Load, act, apply the policies: everything but the save."""
        now = self._recorded_time()
        stamp = self._stamp(command, now)
        outcome = handler(Context(self, stamp, self.policies, self.holder_key), command)
        changed = self._with_consequences(outcome, stamp)
        result = self._result(command, outcome.card, changed)
        entry = CommandLogEntry(
            command.command_id, command.COMMAND, digest, command.actor, now, result.model_dump(mode="json")
        )
        return result, changed, entry

    def _recorded_time(self) -> datetime:
        """R66: the recorded time of the next command — the clock, unless the clock is behind the
        newest recorded event: within the tolerance just after that event, beyond it refused
        (``ClockBehindLog``, nothing written). Audit replay "as known at S" relies on it."""
        now = to_jst(self.clock())
        if self.clock_tolerance is None:
            return now
        newest = self._newest_recorded_time()
        if newest is None or now > newest:
            return now
        if newest - now > self.clock_tolerance:
            raise ClockBehindLog(
                f"R66: the clock ({now.isoformat()}) is {(newest - now).total_seconds():.3f} s behind the "
                f"newest recorded event ({newest.isoformat()}), more than the tolerance of "
                f"{self.clock_tolerance.total_seconds():g} s; correct the system clock (NTP) or "
                "MYNACARD_NOW, or raise MYNACARD_CLOCK_TOLERANCE (nothing was written)"
            )
        return to_jst(newest + ONE_TICK)

    def _newest_recorded_time(self) -> datetime | None:
        """The recorded time of the event at the head of the log (read only when the head moved
        since this process last saw it)."""
        head = self._high_water or 0
        if not head:
            return None
        if self._newest is not None and self._newest[0] == head:
            return self._newest[1]
        notes = self.recorder.select_notifications(start=head, limit=1)
        if not notes:
            return None
        newest = _recorded_at(self.mapper.to_domain_event(notes[0]))
        self._newest = (notes[0].id, newest)
        return newest

    def _forget_loaded(self) -> None:
        """Drop from the cache every aggregate the failed attempt loaded (it may be half-changed).
        (If another writer moved the log on, the next coherence check drops the rest.)"""
        cache = self.repository.cache
        for aggregate_id in self._tls.loaded or ():
            if cache is not None:
                with contextlib.suppress(KeyError):
                    cache.get(aggregate_id, evict=True)

    def _with_consequences(self, outcome: Outcome, stamp: Stamp) -> list[Aggregate]:
        """Run the certificate policies on every changed card's new events (same transaction)."""
        changed: dict[UUID, Aggregate] = {a.id: a for a in outcome.changed}
        loaded = {cc.card.id: cc for cc in outcome.certificates}
        for aggregate in list(changed.values()):
            if isinstance(aggregate, Card):
                cc = loaded.get(aggregate.id) or CardCertificates(aggregate, self)
                react(cc, list(aggregate.pending_events), stamp, self.policies)
                for cert in cc.changed.values():
                    changed.setdefault(cert.id, cert)
        return list(changed.values())

    def _stamp(self, command: m.Command, now: datetime) -> Stamp:
        effective_at = now if command.effective_at is None else to_jst(command.effective_at)
        if effective_at > now + CLOCK_SKEW:
            raise InputError.single(
                "effective_at",
                f"{effective_at.isoformat()} lies in the future (now is {now.isoformat()})",
                "D13",
                hint="record facts when they have happened",
            )
        return Stamp(command.command_id, command.actor, now, effective_at)

    @property
    def command_log(self) -> CommandLog:
        recorder = self.recorder
        assert isinstance(recorder, CommandLog), "configure a command-log recorder (commands.command_log)"
        return recorder

    def _prior_result(self, command_id: UUID, digest: str) -> CommandResult | None:
        entry = self.command_log.select_command(command_id)
        if entry is None:
            return None
        if entry.digest != digest:
            raise CommandIdReused(
                f"command id {command_id} was already used for a different {entry.command} command"
            )
        result = CommandResult.model_validate(entry.result)
        return result.model_copy(update={"duplicate": True})

    @staticmethod
    def _result(command: m.Command, card: Card, changed: Sequence[Aggregate]) -> CommandResult:
        events = [
            RecordedEvent(
                aggregate_id=e.originator_id,
                version=e.originator_version,
                type=type(e).__name__,
                effective_at=getattr(e, "effective_at", None),
            )
            for aggregate in changed
            for e in aggregate.pending_events
        ]
        return CommandResult(
            command=command.COMMAND,
            command_id=command.command_id,
            card_id=card.id,
            application_id=format_application_id(card.application_id),
            status=card.status,
            events=events,
        )

    # ------------------------------------------------------------------ one method per command

    def submit_application(self, command: m.SubmitApplication) -> CommandResult:
        return self.execute(command)

    def accept_application(self, command: m.AcceptApplication) -> CommandResult:
        return self.execute(command)

    def produce_card(self, command: m.ProduceCard) -> CommandResult:
        return self.execute(command)

    def send_pickup_notice(self, command: m.SendPickupNotice) -> CommandResult:
        return self.execute(command)

    def send_pickup_reminder(self, command: m.SendPickupReminder) -> CommandResult:
        return self.execute(command)

    def hand_over_card(self, command: m.HandOverCard) -> CommandResult:
        return self.execute(command)

    def cancel_application(self, command: m.CancelApplication) -> CommandResult:
        return self.execute(command)

    def pay_fee(self, command: m.PayFee) -> CommandResult:
        return self.execute(command)

    def suspend_card(self, command: m.SuspendCard) -> CommandResult:
        return self.execute(command)

    def lift_suspension(self, command: m.LiftSuspension) -> CommandResult:
        return self.execute(command)

    def change_card_information(self, command: m.ChangeCardInformation) -> CommandResult:
        return self.execute(command)

    def answer_inquiry(self, command: m.AnswerInquiry) -> CommandResult:
        return self.execute(command)

    def record_notes_field_full(self, command: m.RecordNotesFieldFull) -> CommandResult:
        return self.execute(command)

    def record_move_out(self, command: m.RecordMoveOut) -> CommandResult:
        return self.execute(command)

    def file_move_in(self, command: m.FileMoveIn) -> CommandResult:
        return self.execute(command)

    def register_overseas_continued_use(self, command: m.RegisterOverseasContinuedUse) -> CommandResult:
        return self.execute(command)

    def extend_stay(self, command: m.ExtendStay) -> CommandResult:
        return self.execute(command)

    def grant_special_extension(self, command: m.GrantSpecialExtension) -> CommandResult:
        return self.execute(command)

    def report_loss(self, command: m.ReportLoss) -> CommandResult:
        return self.execute(command)

    def return_card(self, command: m.ReturnCard) -> CommandResult:
        return self.execute(command)

    def invalidate_card(self, command: m.InvalidateCard) -> CommandResult:
        return self.execute(command)

    def collect_physical_card(self, command: m.CollectPhysicalCard) -> CommandResult:
        return self.execute(command)

    def record_lapses(self, command: m.RecordLapses) -> CommandResult:
        return self.execute(command)

    def issue_certificates(self, command: cm.IssueCertificates) -> CommandResult:
        return self.execute(command)

    def renew_certificates(self, command: cm.RenewCertificates) -> CommandResult:
        return self.execute(command)

    def revoke_certificate(self, command: cm.RevokeCertificate) -> CommandResult:
        return self.execute(command)

    def issue_smartphone_certificates(self, command: cm.IssueSmartphoneCertificates) -> CommandResult:
        return self.execute(command)

    def suspend_smartphone(self, command: cm.SuspendSmartphone) -> CommandResult:
        return self.execute(command)

    def lift_smartphone_suspension(self, command: cm.LiftSmartphoneSuspension) -> CommandResult:
        return self.execute(command)

    def renew_smartphone_certificates(self, command: cm.RenewSmartphoneCertificates) -> CommandResult:
        return self.execute(command)

    def set_face_recognition_mode(self, command: cm.SetFaceRecognitionMode) -> CommandResult:
        return self.execute(command)

    def record_pin_attempt(self, command: cm.RecordPinAttempt) -> CommandResult:
        return self.execute(command)

    def reset_pin(self, command: cm.ResetPin) -> CommandResult:
        return self.execute(command)

    def change_pin(self, command: cm.ChangePin) -> CommandResult:
        return self.execute(command)


__all__ = ["CardLifecycle", "CommandResult", "RecordedEvent", "system_clock"]
