"""Opening the service from settings: the one place that wires storage, keys, policies and clock."""

from __future__ import annotations

from eventsourcing.persistence import MapperDeserialisationError

from commands.application import CardLifecycle, system_clock
from commands.config import (
    ConfigurationError,
    Settings,
    cipher_env,
    clock_for,
    create_key_ring,
    holder_key,
    key_ring,
    prepare_storage,
    storage_env,
)


def open_lifecycle(settings: Settings | None = None) -> CardLifecycle:
    """The write-side application on the configured database (created on first use), its
    payloads compressed and encrypted with the key ring (created with an empty store only:
    a store whose ring is missing is refused, never given a new key)."""
    settings = settings or Settings()
    env = storage_env(settings)
    prepare_storage(env)
    key = holder_key(settings)
    clock = clock_for(settings) or system_clock
    ring = key_ring(settings)
    if ring is None:
        probe = CardLifecycle(env=env, holder_key=key)
        try:
            has_events = bool(probe.recorder.max_notification_id())
        finally:
            probe.close()
        if has_events:
            raise ConfigurationError(
                "the event store holds encrypted events but no key ring was found "
                f"({settings.data_dir / 'cipher.keys'}): restore it, or set MYNACARD_CIPHER_KEYS"
            )
        ring = create_key_ring(settings)
    app = CardLifecycle(
        env={**env, **cipher_env(ring)}, holder_key=key, policies=settings.policies, clock=clock
    )
    try:
        check_key_ring(app)
    except ConfigurationError:
        app.close()
        raise
    return app


def check_key_ring(app: CardLifecycle) -> None:
    """Refuse a key ring that does not open the store (the first and the last event), before
    anything is written with it: a wrong ring must never add events the store cannot read."""
    head = app.recorder.max_notification_id()
    if not head:
        return
    for start in (1, head):
        for note in app.recorder.select_notifications(start=start, limit=1):
            try:
                app.mapper.to_domain_event(note)
            except MapperDeserialisationError as e:
                raise ConfigurationError(
                    f"the encryption key ring does not open this event store ({e.__cause__ or e}): "
                    "restore cipher.keys from backup or set MYNACARD_CIPHER_KEYS"
                ) from None
