"""The composition root: the one place that turns settings into a running mynacard. Everything
else receives what it needs; only this module knows how storage, keys, policies and clock fit.

- ``open_write_side(settings)``: the write-side application (``commands.application``) on the
  configured store, its payloads encrypted with the key ring, bound to the store's keys.
- ``open_read_side(settings)``: the read side (``projections.read_side``) following the same
  log. It opens the log itself (its own recorder and mapper, made from the settings by the
  backend's factory) and never the write application: the two sides share nothing but the log
  (design.md). Either side can run in a process without the other.
- ``open_checkpoints(settings)``: the durable consumers' checkpoints.

A store is bound to its keys (issue 8 items 1 and 3). When a store is first opened it records
an identity (a random store id) with the fingerprint of its holder key, and the fingerprint of
every encryption key of the ring. Every later open compares: a missing, different or truncated
holder key, a ring key that differs from the recorded one, or a recorded key missing from the
ring is a ``ConfigurationError`` (exit 6) naming the file and the fix, and nothing is written.
A store made before this check existed records its identity on the first open after the
upgrade, from the keys found then. The read side checks the ring the same way (it reads, and
records nothing).

The backend is chosen by the settings alone (``PERSISTENCE_MODULE``: ``storage.sqlite`` or
``storage.postgres``); its ``StorageFactory`` makes each recorder, so nothing here names a
backend class.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper, MapperDeserialisationError
from eventsourcing.utils import Environment

from commands.application import CardLifecycle, system_clock
from commands.config import Settings, clock_for
from projections.read_side import ReadSide, UpstreamApp
from storage.chain import CHAIN_COMPLETE_MARK
from storage.crypto import RingKey
from storage.errors import ConfigurationError
from storage.integrity import TamperingDetected
from storage.interface import Checkpoints, CommandLog, StaffRegistry, StorageFactory
from storage.keys import (
    CIPHER_KEY_FILE,
    KEY_FILE,
    cipher_env,
    configured_holder_key,
    create_holder_key,
    create_key_ring,
    ensure_data_dir,
    erasable_fields,
    key_fingerprint,
    key_ring,
    ring_file,
    ring_fingerprints,
    rotate_key,
)
from storage.records import HOLDERS_FILED, StoreIdentity
from storage.serialization import log_transcoder
from storage.settings import prepare_storage, storage_env, view_env

LOG_NAME = CardLifecycle.name
"""The log both sides follow (the write application's name)."""


def open_write_side(settings: Settings | None = None) -> CardLifecycle:
    """The write-side application on the configured database (created on first use), its
    payloads compressed and encrypted with the key ring, bound to the store's keys."""
    settings = settings or Settings()
    ensure_data_dir(settings)
    env = storage_env(settings)
    prepare_storage(env)
    key = configured_holder_key(settings)
    ring = key_ring(settings)
    if key is None or ring is None:
        key, ring = _first_keys(settings, env, key, ring)
    for attempt in range(OPEN_ATTEMPTS):
        app = CardLifecycle(
            env={**env, **cipher_env(ring, ring_file(settings))},
            holder_key=key,
            policies=settings.policies,
            clock=clock_for(settings) or system_clock,
            clock_tolerance=timedelta(seconds=settings.clock_tolerance),
            office=settings.office,
        )
        try:
            bind_to_store(app.command_log, settings, key, ring)
            check_key_ring(app.recorder, app.mapper)
            app.holders_complete = holders_filed(app)
            mark_chain_at_birth(app.command_log)
        except RingBehindStore:
            app.close()
            # A rotation by another process recorded a key after this one read the ring.
            newer = key_ring(settings)
            if attempt == OPEN_ATTEMPTS - 1 or newer is None or newer == ring:
                raise
            ring = newer
            continue
        except BaseException:
            app.close()
            raise
        return app
    raise AssertionError("unreachable")


OPEN_ATTEMPTS = 10
"""Rotations racing an open: each attempt reads the ring again (it only ever grows)."""


class RingBehindStore(ConfigurationError):
    """The ring lacks a key the store recorded (lost, or added since the ring was read)."""


def _first_keys(
    settings: Settings, env: dict[str, str], key: bytes | None, ring: list[RingKey] | None
) -> tuple[bytes, list[RingKey]]:
    """Make the keys a new store lacks; refuse to make any for a store that already has events
    or an identity (its keys are lost, not new)."""
    probe = CardLifecycle(env=env, holder_key=b"")
    try:
        used = bool(probe.recorder.max_notification_id()) or probe.command_log.store_identity() is not None
    finally:
        probe.close()
    if used:
        # Another process may have just made the files for this (then new) store: read again.
        key = key or configured_holder_key(settings)
        ring = ring or key_ring(settings)
        if key is None:
            raise ConfigurationError(
                f"the holder key of this store is missing ({settings.data_dir / KEY_FILE}): without it "
                "no person can be found and command replays fail; restore the file from backup or set "
                "MYNACARD_HOLDER_KEY (nothing was written)"
            )
        if ring is None:
            raise ConfigurationError(
                "the event store holds encrypted events but no key ring was found "
                f"({settings.data_dir / CIPHER_KEY_FILE}): restore it, or set MYNACARD_CIPHER_KEYS "
                "(nothing was written)"
            )
        return key, ring
    return key or create_holder_key(settings), ring or create_key_ring(settings)


def _holder_key_source(settings: Settings) -> str:
    return "MYNACARD_HOLDER_KEY" if settings.holder_key is not None else str(settings.data_dir / KEY_FILE)


def _ring_source(settings: Settings) -> str:
    return (
        "MYNACARD_CIPHER_KEYS"
        if settings.cipher_keys is not None
        else str(settings.data_dir / CIPHER_KEY_FILE)
    )


def holders_filed(app: CardLifecycle) -> bool:
    """R62–R65 need every card filed under its person. A store that has no event yet is marked
    so now (every card it will hold is filed as it is applied for); a store written before the
    person was modelled is not, until ``mynacard migrate-holders`` files its cards."""
    log = app.command_log
    if log.store_mark(HOLDERS_FILED) is not None:
        return True
    if not app.recorder.max_notification_id():
        log.set_store_mark(HOLDERS_FILED, datetime.now(UTC).isoformat())
        return True
    return False


def mark_chain_at_birth(log: CommandLog) -> None:
    """A store with no event yet chains every event it will hold: mark it so (issue 13), and
    from then on an event without a chain row is an inserted one (``storage.chain``)."""
    if log.store_mark(CHAIN_COMPLETE_MARK) is None and not log.log_max_position():
        born = datetime.now(UTC).isoformat()
        log.set_store_mark(CHAIN_COMPLETE_MARK, f"chained since the first event ({born})")


def bind_to_store(
    log: CommandLog, settings: Settings, holder_key: bytes, ring: list[RingKey]
) -> StoreIdentity:
    """Record the store's identity and key fingerprints on first use; afterwards refuse keys that
    are not the store's own (issue 8 item 3) and a ring that lost a key (item 1)."""
    now = datetime.now(UTC).isoformat()
    held = key_fingerprint(holder_key)
    identity = log.store_identity() or log.claim_store_identity(StoreIdentity(str(uuid.uuid4()), now, held))
    if identity.holder_key_fingerprint != held:
        raise ConfigurationError(
            f"the holder key ({_holder_key_source(settings)}) is not the key this store was created with "
            f"(store {identity.store_id}, created {identity.created_at}): restore the store's own key "
            "from backup (nothing was written)"
        )
    fingerprints = ring_fingerprints(ring)
    recorded = log.recorded_keys()
    if any(i not in recorded for i in fingerprints):
        recorded = log.record_keys({i: f for i, f in fingerprints.items() if i not in recorded}, now)
    source = _ring_source(settings)
    for key_id, fingerprint in sorted(fingerprints.items()):
        if recorded.get(key_id) != fingerprint:
            raise ConfigurationError(
                f"key {key_id} of the key ring ({source}) is not the key {key_id} this store recorded: "
                "restore the ring from backup (nothing was written)"
            )
    missing = sorted(set(recorded) - set(fingerprints))
    if missing:
        raise RingBehindStore(
            f"the key ring ({source}) lacks key {', '.join(map(str, missing))}, which this store recorded "
            "(events may be encrypted with it): restore the ring from backup (nothing was written)"
        )
    return identity


def check_key_ring(recorder: ApplicationRecorder, mapper: Mapper[UUID]) -> None:
    """Open the store's first and last events before anything is written. The keys match the
    store (``bind_to_store``), so a payload that does not open was altered: tampering (exit 7)."""
    head = recorder.max_notification_id()
    if not head:
        return
    for start in (1, head):
        for note in recorder.select_notifications(start=start, limit=1):
            try:
                mapper.to_domain_event(note)
            except TamperingDetected:
                raise
            except MapperDeserialisationError as e:
                raise ConfigurationError(
                    f"the encryption key ring does not open this event store ({e.__cause__ or e}): "
                    "restore cipher.keys from backup or set MYNACARD_CIPHER_KEYS"
                ) from None


def rotate_store_key(settings: Settings) -> tuple[RingKey, int]:
    """``rotate-key``: add a key to the ring (serialised with other rotations; its id follows every
    id in the ring and every id the store recorded) and record its fingerprint in the store.
    Returns the key and the log position up to which events keep their older keys."""
    app = open_write_side(settings)  # the ring exists (or is created with an empty store), recorded
    try:
        key = rotate_key(settings, lambda: set(app.command_log.recorded_keys()))
        app.command_log.record_keys(ring_fingerprints([key]), datetime.now(UTC).isoformat())
        return key, app.recorder.max_notification_id() or 0
    finally:
        app.close()


# ---------------------------------------------------------------------- the read side


def storage_factory(settings: Settings, name: str) -> StorageFactory[Any]:
    """The configured backend's factory for the recorder ``name``: its own SQLite file beside the
    event store, or its table prefix on PostgreSQL (``view_env``)."""
    return StorageFactory.construct(Environment(name=name, env=view_env(settings, name)))


def open_checkpoints(settings: Settings) -> Checkpoints:
    """Where durable consumers keep their checkpoints (one tracking row per consumer name)."""
    return storage_factory(settings, "consumers").checkpoints()


def open_log(settings: Settings, *, open_events: bool = True) -> UpstreamApp:
    """The log as the read side reads it: the store's recorder and a mapper that decrypts with
    the key ring, made from the settings (no write application). A store never opened before is
    first set up as the write side would (keys made, identity recorded), so both sides agree.
    ``open_events=False``: the first and last events are not opened (``check_key_ring``): the
    hash chain's walk reads stored bytes only, and reports a tampered payload as a break."""
    ensure_data_dir(settings)
    env = storage_env(settings)
    prepare_storage(env)
    ring = key_ring(settings)
    if ring is None:
        open_write_side(settings).close()
        ring = key_ring(settings)
        assert ring is not None
    factory: StorageFactory[Any] = StorageFactory.construct(
        Environment(name=LOG_NAME, env={**env, **cipher_env(ring, ring_file(settings))})
    )
    recorder = factory.application_recorder()
    mapper: Mapper[UUID] = factory.mapper(transcoder=log_transcoder())
    try:
        erasable_fields(factory, mapper)  # personal fields under their person's key (issue 13)
        if isinstance(recorder, CommandLog):
            ring_matches_store(recorder, settings, ring)
        if open_events:
            check_key_ring(recorder, mapper)
    except BaseException:
        factory.close()
        raise
    return UpstreamApp(LOG_NAME, recorder, mapper, close=factory.close)


def ring_matches_store(log: CommandLog, settings: Settings, ring: list[RingKey]) -> None:
    """The read side's half of ``bind_to_store``: a ring key whose fingerprint differs from the
    one the store recorded is refused (nothing is recorded by a reader)."""
    recorded = log.recorded_keys()
    for key_id, fingerprint in sorted(ring_fingerprints(ring).items()):
        if key_id in recorded and recorded[key_id] != fingerprint:
            raise ConfigurationError(
                f"key {key_id} of the key ring ({_ring_source(settings)}) is not the key {key_id} this "
                "store recorded: restore the ring from backup (nothing was read)"
            )


def open_read_side(settings: Settings, upstream: UpstreamApp | None = None) -> ReadSide:
    """The read side (views created on first use) following the store's log (``open_log``), or
    ``upstream`` when given (tests and benchmarks that keep views apart from their log)."""
    return ReadSide(
        upstream or open_log(settings),
        settings.policies,
        storage_factory(settings, "lifecycle_view").lifecycle_view(),
        storage_factory(settings, "revocation_list").revocation_list(),
    )


def upstream_of(app: CardLifecycle) -> UpstreamApp:
    """A running write application's log, for a read side in the same process (tests, benchmarks)."""
    return UpstreamApp(app.name, app.recorder, app.mapper)


def open_staff_registry(settings: Settings) -> StaffRegistry:
    """Staff tokens and access records, in the event store's own database (its file on SQLite,
    its schema and table prefix on PostgreSQL)."""
    ensure_data_dir(settings)
    env = storage_env(settings)
    prepare_storage(env)
    factory: StorageFactory[Any] = StorageFactory.construct(Environment(name=LOG_NAME, env=env))
    return factory.staff_registry()
