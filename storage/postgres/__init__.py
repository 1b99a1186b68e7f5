"""The PostgreSQL backend: ``PERSISTENCE_MODULE=storage.postgres`` selects every recorder below
through the one factory this package exposes (the library finds it by scanning this module, so
no other ``InfrastructureFactory`` subclass may be imported here).

| module | holds |
|---|---|
| ``schema`` | ``schema_lock`` (DDL one process at a time), ``LockedTrackingRecorder`` |
| ``event_store`` | ``PostgresCommandLogRecorder``: events, ``<app>_commands``, store identity and keys |
| ``views`` | ``PostgresView``: log head, snapshot, scratch twin and swap of a read model |
| ``lifecycle_view`` | ``PostgresLifecycleView``: ``lifecycle_view_cards``, ``_certificates`` |
| ``revocation_list`` | ``PostgresRevocationView``: ``revocation_list_certificates``, ``_entries``, … |
| ``checkpoints`` | ``PostgresCheckpoints``: ``consumers_tracking``, ``_fingerprints``, advisory leases |
| ``factory`` | ``PostgresStorage``, the backend's ``StorageFactory`` |

May import: psycopg, ``eventsourcing.postgres``, the standard library and ``storage``.
"""

from storage.postgres.checkpoints import PostgresCheckpoints
from storage.postgres.event_store import PostgresCommandLogRecorder
from storage.postgres.factory import PostgresStorage
from storage.postgres.lifecycle_view import PostgresLifecycleView
from storage.postgres.revocation_list import PostgresRevocationView
from storage.postgres.schema import schema_lock

__all__ = [
    "PostgresCheckpoints",
    "PostgresCommandLogRecorder",
    "PostgresLifecycleView",
    "PostgresRevocationView",
    "PostgresStorage",
    "schema_lock",
]
