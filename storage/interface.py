"""What every storage backend offers, as abstract recorders (the library's searchable-timestamps
pattern: one interface module, one module per backend implementing it).

- ``CommandLog``: the event store's extras beside the library's application recorder: the
  command log (one row per executed command, written in the same transaction as its events) and
  the store's identity with the fingerprints of its keys.
- ``TrackedView``: what every read model keeps beside its rows (tracking position, log head,
  snapshot, scratch twin, atomic swap); ``LifecycleView`` and ``RevocationView`` are the two.
- ``Checkpoints``: durable consumers' acknowledged positions, their fingerprints and leases, and
  their dead letters (events a handler kept failing on, parked).
- ``StaffRegistry``: staff tokens (their hashes) and the append-only access records.
- ``PersonKeys`` (``storage.person_keys``): each person's data key, wrapped by the key ring, and
  the card → person map (issue 13, erasure).
- ``ChainCheckpoints``: the signed checkpoints of the hash chain (append-only).
- ``StorageFactory``: the library's ``InfrastructureFactory`` that also makes the recorders above;
  a backend module (``storage.sqlite``, ``storage.postgres``) holds exactly one subclass, found
  by the ``PERSISTENCE_MODULE`` setting.

May import: the standard library, ``eventsourcing.persistence``, ``storage.records``,
``storage.checkpoints``, ``storage.chain``, ``storage.chain_checkpoints``, ``storage.staff`` and
``storage.person_keys``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import TypeVar
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory, Tracking, TrackingRecorder

from storage.chain import ChainLink, ChainRow, EventColumns, merge_rows
from storage.chain_checkpoints import SignedCheckpoint
from storage.checkpoints import DeadLetter
from storage.person_keys import PersonKeys
from storage.records import (
    CardRow,
    CertificateRow,
    CommandLogEntry,
    Counts,
    LogHead,
    ReadModelTable,
    RevocationEntry,
    RevocationRows,
    StoreIdentity,
    ViewSnapshot,
)
from storage.staff import AccessCount, AccessRecord, StaffToken

# ----------------------------------------------------------------------------- the event store


class EventChain(ABC):
    """The hash chain kept beside the log (issue 13, ``storage.chain``): one chain row per
    stored event, written in the event's own transaction, in log order."""

    @abstractmethod
    def chain_head(self) -> ChainLink | None:
        """The last chain row (the newest chained event), or None for an empty chain."""

    @abstractmethod
    def chain_link_at(self, position: int) -> ChainLink | None:
        """The chain row stored at ``position``, if any."""

    @abstractmethod
    def chain_batch(self, after: int, limit: int) -> tuple[list[EventColumns], list[tuple[int, bytes]]]:
        """Up to ``limit`` log events after ``after`` as ``(position, originator id, version,
        topic, state)`` in position order, and the chain rows ``(position, chain hash)`` of the
        same range, read in one snapshot. At the end of the log (fewer than ``limit`` events),
        every chain row after ``after``."""

    def chain_rows(self, after: int, limit: int) -> list[ChainRow]:
        """``chain_batch`` merged into one row per position (``storage.chain.merge_rows``)."""
        return merge_rows(*self.chain_batch(after, limit))

    @abstractmethod
    def log_max_position(self) -> int:
        """The position of the newest event in the log (0 when empty)."""

    @abstractmethod
    def version_at(self, originator_id: UUID, position: int) -> int:
        """The newest version of aggregate ``originator_id`` stored at a log position up to
        ``position`` (0: none): its events in the log's prefix up to ``position`` are its
        versions 1 to this one (validity receipts answer from such a prefix)."""

    @abstractmethod
    def extend_chain(self, links: Sequence[ChainLink], after: ChainLink | None) -> None:
        """Append chain rows for events already stored (``mynacard chain --init``), in one
        transaction that fails (``StoreIntegrityError``) unless the chain still ends at
        ``after``."""


class CommandLog(EventChain, ABC):
    """What the application recorder offers beside the event log: the command log, and the
    store's identity with the fingerprints of its keys (issue 8 items 1 and 3). A save given
    ``command_log_entry=`` (``storage.records.COMMAND_LOG_KWARG``) writes the entry with the
    events, in one transaction; a second entry with the same command id fails the save."""

    @abstractmethod
    def select_command(self, command_id: UUID) -> CommandLogEntry | None:
        """The logged execution of ``command_id``, if any."""

    @abstractmethod
    def store_identity(self) -> StoreIdentity | None:
        """The store's identity, or None for a store that has none yet."""

    @abstractmethod
    def claim_store_identity(self, identity: StoreIdentity) -> StoreIdentity:
        """Record ``identity`` unless the store has one; the identity in force either way
        (of processes opening a new store at once, the first one's)."""

    @abstractmethod
    def recorded_keys(self) -> dict[int, str]:
        """Key id → fingerprint of every encryption key the store has recorded."""

    @abstractmethod
    def record_keys(self, fingerprints: dict[int, str], at: str) -> dict[int, str]:
        """Record the fingerprints of keys not recorded yet (a recorded id is never changed);
        every recorded key afterwards."""

    @abstractmethod
    def store_mark(self, name: str) -> str | None:
        """A fact about the store as a whole (e.g. ``holders_filed``: every card is filed under
        its person, R62–R65), or None when it was never recorded."""

    @abstractmethod
    def set_store_mark(self, name: str, value: str) -> None:
        """Record a store mark (a recorded mark is never changed)."""

    @abstractmethod
    def newest_recorded_at(self) -> datetime | None:
        """R66: the newest recorded time of a command saved with its command-log entry (the
        store's clock row). Every such save advances it in its own transaction, and a save whose
        recorded time lies before it fails as a conflict (``IntegrityError``): whatever writers
        race, recorded time never goes backwards along the log."""


class ChainCheckpoints(ABC):
    """Signed checkpoints of the hash chain (``storage.chain_checkpoints``), in the event store's
    own database; append-only (the tables refuse an update or a delete), one per position."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def add_checkpoint(self, checkpoint: SignedCheckpoint) -> SignedCheckpoint:
        """Store ``checkpoint`` unless one is stored at its position; the one stored there."""

    @abstractmethod
    def latest_checkpoint(self) -> SignedCheckpoint | None:
        """The checkpoint at the highest position, if any."""

    @abstractmethod
    def checkpoints(
        self, after: int = 0, until: int = 2**63 - 1, limit: int = 10_000
    ) -> list[SignedCheckpoint]:
        """Up to ``limit`` checkpoints at positions after ``after`` through ``until``, by position."""


# ----------------------------------------------------------------------------- read models


class TrackedView(TrackingRecorder, ABC):
    """What every view of the read side offers besides its own rows and questions.

    Its row updates and its tracking position are written in ONE transaction; beside the position
    it keeps its *log head* (the fingerprint of the log event at that position), so a view that
    follows another log (a restored or other store) is recognised (issue 8 item 4)."""

    @abstractmethod
    def close(self) -> None:
        """Release the view's connections (a closed view is not used again)."""

    @abstractmethod
    def tracked_head(self, application_name: str) -> tuple[int, LogHead | None]:
        """The tracking position and the log head recorded with it (None: none recorded, a view
        made before log heads were kept), read together."""

    @abstractmethod
    def record_head(self, application_name: str, head: LogHead) -> None:
        """Record the log head of a view made before log heads were kept, if it still stands at
        ``head.position`` and has none (a no-op otherwise)."""

    @abstractmethod
    def read_model_tables(self) -> list[ReadModelTable]:
        """Every table of the view, its tracking table and log head table included."""

    @abstractmethod
    def snapshot(self, application_name: str) -> AbstractContextManager[ViewSnapshot]:
        """The whole view in one consistent read (nothing written meanwhile is seen)."""

    @abstractmethod
    def scratch(self) -> AbstractContextManager[TrackedView]:
        """An empty view of the same kind in temporary storage, dropped on exit."""

    @abstractmethod
    def replace_with(self, scratch: TrackedView, application_name: str) -> None:
        """Take over every row, the tracking position and the log head of ``scratch`` (made by
        ``scratch()``) in one transaction: readers see the old view or the new one, never a mix."""

    @abstractmethod
    def clear(self, application_name: str) -> None:
        """Empty the view and forget its position and log head (a rebuild starts from 0)."""


class LifecycleView(TrackedView, ABC):
    """Cards and certificates, current state (the ``lifecycle_view`` projection)."""

    @abstractmethod
    def card_rows(self, card_ids: Iterable[UUID]) -> dict[UUID, CardRow]: ...

    @abstractmethod
    def certificate_rows(self, certificate_ids: Iterable[UUID]) -> dict[UUID, CertificateRow]: ...

    @abstractmethod
    def commit(
        self,
        cards: Sequence[CardRow],
        certificates: Sequence[CertificateRow],
        tracking: Tracking,
        since: int,
        head: LogHead,
    ) -> None:
        """Upsert the rows and advance the tracking position from ``since`` to the batch's last
        (whose log head is ``head``), in one transaction; raise ``IntegrityError`` if another
        runner moved it meanwhile."""

    @abstractmethod
    def certificates_of_card(self, card_id: UUID) -> list[CertificateRow]: ...

    @abstractmethod
    def certificate_by_serial(self, serial: str) -> CertificateRow | None: ...

    @abstractmethod
    def cards_of_holder(self, holder_ref: str) -> list[CardRow]:
        """Every card of a person: by the holder reference, or the one after a My Number change."""

    @abstractmethod
    def cards_expiring(self, first: date, last: date, *, live_only: bool = True) -> list[CardRow]: ...

    @abstractmethod
    def certificates_expiring(self, first: date, last: date) -> list[CertificateRow]: ...

    @abstractmethod
    def unended_cards(self) -> list[CardRow]:
        """Cards in use or waiting for pickup: what time makes due is for each card to say (sweep)."""

    @abstractmethod
    def counts(self) -> Counts: ...

    @abstractmethod
    def all_card_ids(self) -> list[UUID]: ...

    @abstractmethod
    def all_certificate_ids(self) -> list[UUID]: ...


class RevocationView(TrackedView, ABC):
    """The revocation list (the ``revocation_list`` projection): every revoked or held
    certificate, kept after its expiry, under a monotonically increasing list number."""

    @abstractmethod
    def certificate_facts(self, certificate_ids: Iterable[UUID]) -> dict[UUID, tuple[str, str, date | None]]:
        """(serial, kind, expires_on) of certificates the list has seen issued."""

    @abstractmethod
    def commit(self, rows: RevocationRows, tracking: Tracking, since: int, head: LogHead) -> None:
        """Record issued certificates and the batch's numbered rows (numbered from the list
        number held now, see ``RevocationRows``) and its log head, atomically, if the position is
        still ``since`` (else ``IntegrityError``)."""

    @abstractmethod
    def list_number(self) -> int: ...

    @abstractmethod
    def entries(self, *, include_removed: bool = False) -> list[RevocationEntry]: ...


# ----------------------------------------------------------------------------- consumers


class Checkpoints(TrackingRecorder, ABC):
    """Consumers' checkpoints: the library's tracking row per consumer name (the acknowledged
    position) and, in a table beside it, the fingerprints of the events at its latest
    acknowledged positions. A position and its fingerprint are written in one transaction."""

    @abstractmethod
    def position(self, name: str) -> int:
        """The acknowledged position of consumer ``name`` (0 before its first acknowledgement)."""

    @abstractmethod
    def fingerprints(self, name: str) -> list[tuple[int, str]]:
        """The remembered (position, fingerprint) acknowledgements of ``name``, newest first."""

    @abstractmethod
    def acks(self, name: str) -> list[tuple[int, str]]:
        """(position, acknowledged at, UTC ISO) of every checkpoint move of ``name`` forward."""

    @abstractmethod
    def advance(self, name: str, position: int, fingerprint: str, *, keep: int) -> bool:
        """Move the checkpoint forward to ``position``, remembering its fingerprint and the
        newest ``keep`` ones (False, nothing written, when it is already there or beyond)."""

    @abstractmethod
    def reset(self, name: str, position: int, fingerprint: str | None) -> None:
        """Move the checkpoint to ``position``, also backwards; the fingerprints remembered
        above it are forgotten (they belong to the log before the reset), and so are the dead
        letters above it still parked (the events after the checkpoint are delivered again)."""

    @abstractmethod
    def consumers(self) -> list[tuple[str, int]]:
        """Every consumer with a checkpoint: (name, acknowledged position), by name."""

    @abstractmethod
    def park(self, letter: DeadLetter, *, keep: int) -> bool:
        """Park ``letter`` (a dead letter; one at the same position replaced) and move the
        checkpoint of ``letter.consumer`` forward to its position, remembering its fingerprint
        and the newest ``keep`` ones, in ONE transaction (False, nothing written, when the
        checkpoint is already there or beyond)."""

    @abstractmethod
    def dead_letters(self, name: str, *, open_only: bool = True) -> list[DeadLetter]:
        """Consumer ``name``'s dead letters by position: the parked ones, or every one."""

    @abstractmethod
    def dead_letter(self, name: str, position: int) -> DeadLetter | None:
        """Consumer ``name``'s dead letter at ``position`` (parked or settled), if any."""

    @abstractmethod
    def parked_counts(self) -> dict[str, int]:
        """How many dead letters each consumer has parked (consumers with none left out)."""

    @abstractmethod
    def settle(
        self, name: str, position: int, state: str, *, at: str, by: str, reason: str | None = None
    ) -> bool:
        """Settle a parked dead letter (``state``: delivered or skipped; who, when, why); False,
        nothing changed, when none is parked there."""

    @abstractmethod
    def note_redelivery(
        self, name: str, position: int, *, at: str, attempts: int = 0, error: str | None = None
    ) -> bool:
        """Record a re-delivery of a parked dead letter (it stays parked): ``attempts`` more
        deliveries were tried, ``error`` the last one's failure if any; False when none is parked."""

    @abstractmethod
    def lease(self, name: str) -> AbstractContextManager[None]:
        """Hold the right to read consumer ``name`` (one process at a time; ``ConsumerBusy``
        when another holds it), released when the process ends, however it ends."""


# ----------------------------------------------------------------------------- staff


class StaffRegistry(ABC):
    """Staff tokens and the access log of personal data (in the event store's own database).
    Access records are append-only: the tables refuse an update or a delete."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def add_token(self, token: StaffToken) -> None: ...

    @abstractmethod
    def token_by_hash(self, token_hash: str) -> StaffToken | None: ...

    @abstractmethod
    def token_by_id(self, token_id: str) -> StaffToken | None: ...

    @abstractmethod
    def tokens(self) -> list[StaffToken]: ...

    @abstractmethod
    def revoke_token(self, token_id: str, at: str, by: str) -> bool:
        """Revoke a live token (False: unknown or already revoked; nothing changed)."""

    @abstractmethod
    def record_access(self, record: AccessRecord) -> None: ...

    @abstractmethod
    def count_access(self, day: str, name: str, role: str, route: str) -> None: ...

    @abstractmethod
    def access_records(
        self,
        *,
        subject: str | None = None,
        name: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[AccessRecord]:
        """Access records matching every filter given, oldest first."""

    @abstractmethod
    def access_counts(self) -> list[AccessCount]: ...

    @abstractmethod
    def record_sighting(self, serial: str, listed_in: int, channel: str, at: str) -> None:
        """When a revocation (the serial's entry added in list ``listed_in``) was first served on
        ``channel`` (``ocsp``, ``crl``): kept once, the first time."""

    @abstractmethod
    def sightings(self) -> dict[tuple[str, int, str], str]:
        """(serial, listed in, channel) → first served at (UTC, ISO)."""


# ----------------------------------------------------------------------------- the factory

TTracking = TypeVar("TTracking", bound=TrackingRecorder)


class StorageFactory(InfrastructureFactory[TTracking]):
    """The library's infrastructure factory, plus mynacard's read models and checkpoints. Its
    ``application_recorder()`` is the backend's ``CommandLog`` recorder. Generic, so the
    library's module scan (``PERSISTENCE_MODULE``) never mistakes it for a backend's factory."""

    @abstractmethod
    def lifecycle_view(self) -> LifecycleView:
        """The ``lifecycle_view`` read model (tables created on first use)."""

    @abstractmethod
    def revocation_list(self) -> RevocationView:
        """The ``revocation_list`` read model (tables created on first use)."""

    @abstractmethod
    def checkpoints(self) -> Checkpoints:
        """The durable consumers' checkpoint store (tables created on first use)."""

    @abstractmethod
    def staff_registry(self) -> StaffRegistry:
        """Staff tokens and access records (tables created on first use)."""

    @abstractmethod
    def person_keys(self) -> PersonKeys:
        """The person keys and the card → person map, in the event store's own database
        (tables created on first use; issue 13)."""

    @abstractmethod
    def chain_checkpoints(self) -> ChainCheckpoints:
        """The signed checkpoints of the hash chain (table created on first use)."""
