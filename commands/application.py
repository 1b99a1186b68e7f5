"""The write side's eventsourcing ``Application``: ``CardLifecycle``, the log named ``mynacard``.

It holds the configuration of the event store (``env``), loads cards and certificates
(through ``commands.cache``, which keeps the aggregate cache coherent with the log), saves,
and gives the command log. Reads belong to the read side (``projections``: views, audit
replay, a card's history). It does not decide how a command runs: ``execute`` hands the command to the
application's ``commands.bus.CommandBus`` (stamp, dispatch through the handler table,
consequences, one save with the command-log row, retry, idempotency). The application
constructs its own bus and passes itself as the bus's ``WriteStore``, so one object is both
what callers open and what the bus saves to.

Names that used to live here and moved are re-exported: ``CommandResult``, ``RecordedEvent``,
``ClockBehindLog``, ``StoreUnwritable``, ``CLOCK_SKEW``, ``CLOCK_TOLERANCE`` (``commands.bus``).

Erasure (issue 13): every card it saves is first filed under its person, whose data key is made
before any event uses it (``save``); after a ``forget`` it destroys the person's data keys
(``storage.erasable``) and drops its cached aggregates.

May import: ``commands.bus``, ``commands.cache``, ``commands.handlers``, ``commands.results``,
``commands.command_log``, ``commands.transcoding``, ``commands.models``, ``commands.errors``,
``lifecycle``, ``storage``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Recording
from eventsourcing.utils import get_topic

from commands import models as m
from commands.bus import (
    CLOCK_SKEW,
    CLOCK_TOLERANCE,
    ClockBehindLog,
    CommandBus,
    CommandResult,
    RecordedEvent,
    StoreUnwritable,
)
from commands.cache import CoherentCache
from commands.errors import NotFound
from commands.handlers.context import resolve_card_ref
from commands.handlers.person import person_ref
from commands.results import Erasure
from lifecycle.calendar import to_jst
from lifecycle.card import Card
from lifecycle.certificate import Certificate, Validity
from lifecycle.certificate_validity import certificate_validity
from lifecycle.decisions import DEFAULT_POLICIES, Policies
from lifecycle.holder import Holder
from lifecycle.identifiers import certificate_id_for, holder_id_for
from storage.bound_mapper import BoundMapper
from storage.erasable import PersonalFieldCipher, plain_personal_fields
from storage.interface import CommandLog
from storage.keys import erasable_fields
from storage.serialization import MynacardTranscodings
from storage.sqlite.event_store import SQLiteCommandLogRecorder


def system_clock() -> datetime:
    return to_jst(datetime.now().astimezone())


class CardLifecycle(MynacardTranscodings, Application[UUID]):
    """The write side of mynacard (its log is named ``mynacard``)."""

    name = "mynacard"
    env: ClassVar[dict[str, str]] = {
        # Recently used cards and certificates stay in memory; instead of one fast-forward query
        # per aggregate, one query per command checks that nobody else wrote (commands.cache).
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
        office: str | None = None,
    ) -> None:
        super().__init__(env)
        self.cache = CoherentCache(self.recorder, self.mapper, self.repository)
        """The aggregate cache kept coherent with the log, and the write lock."""
        self.clock_tolerance = clock_tolerance
        """R66's guard: None turns it off, for code that replays a history with the recorded times
        it was given (test fixtures that set the clock per story); ``open_write_side`` — the CLI,
        the service — always sets it (``MYNACARD_CLOCK_TOLERANCE``, default 5 s)."""
        self.holder_key = holder_key
        self.policies = policies
        self.clock = clock
        self.max_attempts = max_attempts
        self.office = office
        """The office recorded on a hand-over that names none (``MYNACARD_OFFICE``)."""
        self.holders_complete = True
        """Every card of the store is filed under its person (R62–R65). ``open_write_side`` sets it
        from the store: false on a store written before the person was modelled, until
        ``mynacard migrate-holders`` ran."""
        self.bus = CommandBus(self)
        self.personal: PersonalFieldCipher | None = erasable_fields(self.factory, self.mapper)
        """Personal fields under their person's data key (issue 13); None without a key ring."""

    # ------------------------------------------------------------------ writing

    def execute(self, command: m.Command) -> CommandResult:
        """Run any command model: all its effects in one save, or none (``commands.bus``).
        ``forget`` then destroys the person's data keys (again on a replay: idempotent)."""
        result = self.bus.execute(command)
        if isinstance(command, m.ForgetPerson):
            result = result.model_copy(update={"erasure": self._destroy_keys(command)})
        return result

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's save; first every card saved is filed under its person, whose data
        key is made and committed before any event uses it (issue 13)."""
        if self.personal is not None:
            self.personal.file_cards(
                {o.id: o.holder_ref for o in objs if isinstance(o, Card) and o.holder_ref}
            )
        return super().save(*objs, **kwargs)

    def _destroy_keys(self, command: m.ForgetPerson) -> Erasure:
        """消去: destroy the data keys of a person the log says was forgotten, scrub the
        database, and drop what this process holds of the person."""
        holder = self.load_holder(holder_id_for(person_ref(command, self.holder_key)))
        assert holder is not None and holder.forgotten, "forget was recorded"
        refs = holder.forgotten_refs
        destroyed: list[str] = []
        scrubbed = True
        if self.personal is not None:
            at = datetime.now(UTC).isoformat()
            destroyed, scrubbed = self.personal.forget(refs, at, command.actor, command.reason)
        self.cache.invalidate()
        card_ids = {c for ref in refs for c in getattr(self.load_holder(holder_id_for(ref)), "card_ids", [])}
        return Erasure(
            holder_refs=refs,
            keys_destroyed=len(destroyed),
            scrubbed=scrubbed,
            plain_events=self.plain_personal_events(sorted(card_ids)),
        )

    def plain_personal_events(self, card_ids: list[UUID]) -> int:
        """How many events of these cards hold personal fields stored plainly (before issue 13)."""
        mapper = self.mapper
        if not isinstance(mapper, BoundMapper):
            return 0
        return sum(
            1
            for card_id in card_ids
            for stored in self.recorder.select_events(card_id)
            if plain_personal_fields(mapper.to_sealed_event(stored))
        )

    # ------------------------------------------------------------------ loading

    def load_card(self, card_id: UUID) -> Card | None:
        card = self.cache.get(card_id)
        return card if isinstance(card, Card) else None

    def load_holder(self, holder_id: UUID) -> Holder | None:
        holder = self.cache.get(holder_id)
        return holder if isinstance(holder, Holder) else None

    def get_card(self, ref: str) -> Card:
        """A card by application id or card id (already validated text)."""
        card = self.load_card(resolve_card_ref(ref))
        if card is None:
            raise NotFound.single("card", "no card with this application id or card id")
        return card

    def load_certificate(self, certificate_id: UUID) -> Certificate | None:
        cert = self.cache.get(certificate_id)
        return cert if isinstance(cert, Certificate) else None

    def get_certificate(self, serial: str) -> Certificate:
        cert = self.load_certificate(certificate_id_for(serial.strip()))
        if cert is None:
            raise NotFound.single("serial", "no certificate with this serial number")
        return cert

    # ------------------------------------------------------------------ reading

    def certificate_validity(self, serial: str, at: datetime) -> Validity:
        """Valid at ``at``? The certificate's own history, and its card's unrecorded lapses."""
        cert = self.get_certificate(serial)
        card = self.load_card(cert.card_id) if cert.card_id else None
        return certificate_validity(cert, card, at)

    @property
    def command_log(self) -> CommandLog:
        recorder = self.recorder
        assert isinstance(recorder, CommandLog), "configure a command-log recorder (commands.command_log)"
        return recorder


__all__ = [
    "CLOCK_SKEW",
    "CLOCK_TOLERANCE",
    "CardLifecycle",
    "ClockBehindLog",
    "CommandResult",
    "RecordedEvent",
    "StoreUnwritable",
    "system_clock",
]
