"""The SQLite backend: ``PERSISTENCE_MODULE=storage.sqlite`` selects every recorder below
through the one factory this package exposes (the library finds it by scanning this module, so
no other ``InfrastructureFactory`` subclass may be imported here).

| module | holds |
|---|---|
| ``event_store`` | ``SQLiteCommandLogRecorder``: events, ``command_log``, store identity and keys |
| ``views`` | ``SQLiteView``: log head, snapshot, scratch twin and swap of a read model |
| ``lifecycle_view`` | ``SQLiteLifecycleView``: ``cards``, ``certificates`` |
| ``revocation_list`` | ``SQLiteRevocationView``: ``crl_certificates``, ``crl_entries``, ``crl_number`` |
| ``checkpoints`` | ``SQLiteCheckpoints``: consumers' ``tracking``, ``consumer_fingerprints``, file leases |
| ``factory`` | ``SQLiteStorage``, the backend's ``StorageFactory`` |

May import: ``eventsourcing.sqlite``, the standard library and ``storage``; never psycopg.
"""

from storage.sqlite.checkpoints import SQLiteCheckpoints
from storage.sqlite.event_store import SQLiteCommandLogRecorder
from storage.sqlite.factory import SQLiteStorage
from storage.sqlite.lifecycle_view import SQLiteLifecycleView
from storage.sqlite.revocation_list import SQLiteRevocationView

__all__ = [
    "SQLiteCheckpoints",
    "SQLiteCommandLogRecorder",
    "SQLiteLifecycleView",
    "SQLiteRevocationView",
    "SQLiteStorage",
]
