"""The PostgreSQL ``StorageFactory``: the library's ``PostgresFactory`` whose application
recorder is the command-log recorder and which also makes the read models and the checkpoint
store (tables prefixed by the environment's name: ``mynacard_events``, ``lifecycle_view_*``,
``revocation_list_*``, ``consumers_*``).

May import: ``eventsourcing.postgres`` and ``storage`` (not its SQLite backend).
"""

from __future__ import annotations

from eventsourcing.postgres import PostgresFactory, PostgresTrackingRecorder

from storage.interface import StorageFactory
from storage.postgres.chain_checkpoints import PostgresChainCheckpoints
from storage.postgres.checkpoints import PostgresCheckpoints
from storage.postgres.event_store import PostgresCommandLogRecorder
from storage.postgres.lifecycle_view import PostgresLifecycleView
from storage.postgres.person_keys import PostgresPersonKeys
from storage.postgres.revocation_list import PostgresRevocationView
from storage.postgres.staff import PostgresStaffRegistry


class PostgresStorage(PostgresFactory, StorageFactory[PostgresTrackingRecorder]):
    """Every PostgreSQL recorder of mynacard (in the schema ``POSTGRES_SCHEMA``)."""

    application_recorder_class = PostgresCommandLogRecorder

    def lifecycle_view(self) -> PostgresLifecycleView:
        return self.tracking_recorder(PostgresLifecycleView)

    def revocation_list(self) -> PostgresRevocationView:
        return self.tracking_recorder(PostgresRevocationView)

    def checkpoints(self) -> PostgresCheckpoints:
        return self.tracking_recorder(PostgresCheckpoints)

    def staff_registry(self) -> PostgresStaffRegistry:
        return PostgresStaffRegistry(self.datastore, self.env.name.lower())

    def person_keys(self) -> PostgresPersonKeys:
        return PostgresPersonKeys(self.datastore, self.env.name.lower())

    def chain_checkpoints(self) -> PostgresChainCheckpoints:
        return PostgresChainCheckpoints(self.datastore, self.env.name.lower())
