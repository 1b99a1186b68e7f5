"""Opening the service from settings: the one place that wires storage, keys, policies and clock.

A store is bound to its keys (issue 8 items 1 and 3). When a store is first opened it records
an identity (a random store id) with the fingerprint of its holder key, and the fingerprint of
every encryption key of the ring. Every later open compares: a missing, different or truncated
holder key, a ring key that differs from the recorded one, or a recorded key missing from the
ring is a ``ConfigurationError`` (exit 6) naming the file and the fix, and nothing is written.
A store made before this check existed records its identity on the first open after the
upgrade, from the keys found then.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from eventsourcing.persistence import MapperDeserialisationError

from commands.application import CardLifecycle, system_clock
from commands.config import (
    CIPHER_KEY_FILE,
    KEY_FILE,
    ConfigurationError,
    Settings,
    cipher_env,
    clock_for,
    configured_holder_key,
    create_holder_key,
    create_key_ring,
    ensure_data_dir,
    key_fingerprint,
    key_ring,
    prepare_storage,
    ring_file,
    ring_fingerprints,
    rotate_key,
    storage_env,
)
from commands.crypto import RingKey
from storage.integrity import TamperingDetected
from storage.interface import CommandLog
from storage.records import StoreIdentity


def open_lifecycle(settings: Settings | None = None) -> CardLifecycle:
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
        )
        try:
            bind_to_store(app.command_log, settings, key, ring)
            check_key_ring(app)
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


def check_key_ring(app: CardLifecycle) -> None:
    """Open the store's first and last events before anything is written. The keys match the
    store (``bind_to_store``), so a payload that does not open was altered: tampering (exit 7)."""
    head = app.recorder.max_notification_id()
    if not head:
        return
    for start in (1, head):
        for note in app.recorder.select_notifications(start=start, limit=1):
            try:
                app.mapper.to_domain_event(note)
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
    app = open_lifecycle(settings)  # the ring exists (or is created with an empty store), recorded
    try:
        key = rotate_key(settings, lambda: set(app.command_log.recorded_keys()))
        app.command_log.record_keys(ring_fingerprints([key]), datetime.now(UTC).isoformat())
        return key, app.recorder.max_notification_id() or 0
    finally:
        app.close()
