"""Opening the read side and the consumers' checkpoints from settings. The backend is chosen by
the settings alone (``PERSISTENCE_MODULE``: ``storage.sqlite`` or ``storage.postgres``); its
``StorageFactory`` makes each recorder, so nothing here names a backend class."""

from __future__ import annotations

from typing import Any

from eventsourcing.utils import Environment

from commands.application import CardLifecycle
from commands.config import Settings
from projections.read_side import ReadSide, UpstreamApp
from storage.interface import Checkpoints, StorageFactory
from storage.settings import view_env


def storage_factory(settings: Settings, name: str) -> StorageFactory[Any]:
    """The configured backend's factory for the recorder ``name``: its own SQLite file beside the
    event store, or its table prefix on PostgreSQL (``view_env``)."""
    return StorageFactory.construct(Environment(name=name, env=view_env(settings, name)))


def open_checkpoints(settings: Settings) -> Checkpoints:
    """Where durable consumers keep their checkpoints (one tracking row per consumer name)."""
    return storage_factory(settings, "consumers").checkpoints()


def open_read_side(settings: Settings, app: CardLifecycle) -> ReadSide:
    """The read side following ``app``'s log (views created on first use)."""
    return ReadSide(
        UpstreamApp(app.name, app.recorder, app.mapper),
        app.policies,
        storage_factory(settings, "lifecycle_view").lifecycle_view(),
        storage_factory(settings, "revocation_list").revocation_list(),
    )
