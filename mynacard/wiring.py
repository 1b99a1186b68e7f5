"""Opening the read side from settings: which view classes, on which storage."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import InfrastructureFactory, TrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import Environment

from commands.application import CardLifecycle
from commands.config import Settings, view_env
from projections.postgres_views import PostgresCheckpoints, PostgresLifecycleView, PostgresRevocationView
from projections.read_side import ReadSide, UpstreamApp
from projections.sqlite_views import SQLiteLifecycleView, SQLiteRevocationView

CHECKPOINT_CLASSES: dict[str, type[Any]] = {
    "eventsourcing.sqlite": SQLiteTrackingRecorder,
    "eventsourcing.postgres": PostgresCheckpoints,
}
VIEW_CLASSES: dict[str, dict[str, type[Any]]] = {
    "eventsourcing.sqlite": {"lifecycle_view": SQLiteLifecycleView, "revocation_list": SQLiteRevocationView},
    "eventsourcing.postgres": {
        "lifecycle_view": PostgresLifecycleView,
        "revocation_list": PostgresRevocationView,
    },
}


def open_view(settings: Settings, name: str) -> Any:
    env = view_env(settings, name)
    factory = InfrastructureFactory[TrackingRecorder].construct(Environment(name=name, env=env))
    return factory.tracking_recorder(VIEW_CLASSES[env["PERSISTENCE_MODULE"]][name])


def open_checkpoints(settings: Settings) -> TrackingRecorder:
    """Where durable consumers keep their checkpoints (one tracking row per consumer name)."""
    env = view_env(settings, "consumers")
    factory = InfrastructureFactory[TrackingRecorder].construct(Environment(name="consumers", env=env))
    return factory.tracking_recorder(CHECKPOINT_CLASSES[env["PERSISTENCE_MODULE"]])


def open_read_side(settings: Settings, app: CardLifecycle) -> ReadSide:
    """The read side following ``app``'s log (views created on first use)."""
    return ReadSide(
        UpstreamApp(app.name, app.recorder, app.mapper),
        app.policies,
        open_view(settings, "lifecycle_view"),
        open_view(settings, "revocation_list"),
    )
