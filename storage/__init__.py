"""Storage: every table mynacard keeps, one interface and one package per backend (the shape of
the eventsourcing library's ``examples/searchabletimestamps``), shared by the write and read sides.

| module | holds |
|---|---|
| ``interface`` | abstract recorders (``CommandLog``, the two views, ``Checkpoints``), ``StorageFactory`` |
| ``records`` | what they keep: log rows, identity, view rows, log heads, CRL rows, columns, statuses |
| ``sqlite/`` | the SQLite recorders and ``SQLiteStorage`` (``PERSISTENCE_MODULE=storage.sqlite``) |
| ``postgres/`` | the PostgreSQL recorders, the schema lock and ``PostgresStorage`` |
| ``memory`` | the library's in-memory recorders with the command log: unit tests, never a CLI store |
| ``settings`` | persistence settings from ``MYNACARD_DATABASE_URL``; ``prepare_storage`` |
| ``serialization`` | transcodings and the topic registry: how stored events are read back |
| ``checkpoints`` | the checkpoint SQL and lease key both backends share |
| ``keys`` | the holder key and the key ring: read, made on first use (0600), rotated under a lock |
| ``crypto`` | the key ring cipher (AES-GCM, bound and legacy payloads) |
| ``bound_mapper`` | the mapper that binds each payload to its row (id, version, topic) |
| ``files`` | files made atomically (0600) and the data directory check |
| ``errors`` | ``ConfigurationError`` (exit 6), ``ConsumerBusy`` (exit 5) |
| ``integrity`` | ``TamperingDetected``, ``StoreIntegrityError`` (exit 7) |

One setting selects a backend: ``PERSISTENCE_MODULE`` names ``storage.sqlite`` or
``storage.postgres``, each holding exactly one ``InfrastructureFactory`` subclass, which the
library finds by scanning the module (as ``examples.searchabletimestamps.sqlite`` does). That
factory makes the command-log application recorder for the write side's ``Application`` and, for
the read side and the consumers, ``lifecycle_view()``, ``revocation_list()`` and
``checkpoints()``. Why not the library's module names with a recorder topic each
(``APPLICATION_RECORDER_TOPIC``, ``TRACKING_RECORDER_TOPIC``): the read side has three tracking
recorders of different classes, so topics would have to be set per recorder and kept in step per
backend by every caller, and a wrong pair (a SQLite view on a PostgreSQL factory) would only fail
at run time; with one module name the pairing is made once, here. ``storage_env`` still sets
``APPLICATION_RECORDER_TOPIC`` to the same backend's recorder, so an ``Application`` class whose
``env`` names another recorder is overridden. Nothing stored names these modules or classes:
tables, columns and topics are unchanged, and existing stores open as before.

May import: ``lifecycle`` (status sets, the event classes whose topics are registered, the
values transcoded), ``eventsourcing``, psycopg (in ``storage.postgres`` only) and the standard
library; never ``commands``, ``projections`` or ``mynacard``.
"""
