"""The SQLite ``StorageFactory``: the library's ``SQLiteFactory`` whose application recorder is
the command-log recorder and which also makes the read models and the checkpoint store.

May import: ``eventsourcing.sqlite`` and ``storage`` (not its PostgreSQL backend).
"""

from __future__ import annotations

from eventsourcing.sqlite import SQLiteFactory, SQLiteTrackingRecorder

from storage.interface import StorageFactory
from storage.sqlite.chain_checkpoints import SQLiteChainCheckpoints
from storage.sqlite.checkpoints import SQLiteCheckpoints
from storage.sqlite.event_store import SQLiteCommandLogRecorder
from storage.sqlite.lifecycle_view import SQLiteLifecycleView
from storage.sqlite.person_keys import SQLitePersonKeys
from storage.sqlite.revocation_list import SQLiteRevocationView
from storage.sqlite.staff import SQLiteStaffRegistry


class SQLiteStorage(SQLiteFactory, StorageFactory[SQLiteTrackingRecorder]):
    """Every SQLite recorder of mynacard (one database file per factory: ``SQLITE_DBNAME``)."""

    application_recorder_class = SQLiteCommandLogRecorder

    def lifecycle_view(self) -> SQLiteLifecycleView:
        recorder = self.tracking_recorder(SQLiteLifecycleView)
        assert isinstance(recorder, SQLiteLifecycleView)
        return recorder

    def revocation_list(self) -> SQLiteRevocationView:
        recorder = self.tracking_recorder(SQLiteRevocationView)
        assert isinstance(recorder, SQLiteRevocationView)
        return recorder

    def checkpoints(self) -> SQLiteCheckpoints:
        recorder = self.tracking_recorder(SQLiteCheckpoints)
        assert isinstance(recorder, SQLiteCheckpoints)
        return recorder

    def staff_registry(self) -> SQLiteStaffRegistry:
        return SQLiteStaffRegistry(self.datastore)

    def person_keys(self) -> SQLitePersonKeys:
        return SQLitePersonKeys(self.datastore)

    def chain_checkpoints(self) -> SQLiteChainCheckpoints:
        return SQLiteChainCheckpoints(self.datastore)
