"""The SQLite signed checkpoints: ``chain_checkpoints`` in the event store's own file,
append-only (triggers refuse an update or a delete).

May import: ``eventsourcing.sqlite``, the standard library and ``storage`` (not its PostgreSQL
backend).
"""

from __future__ import annotations

from eventsourcing.sqlite import SQLiteDatastore

from storage.checkpoint_recorder import SqlChainCheckpoints
from storage.sqlite.params import named

CREATE = [
    "CREATE TABLE IF NOT EXISTS chain_checkpoints (position INTEGER PRIMARY KEY, chain_hash TEXT NOT NULL, "
    "signed_at TEXT NOT NULL, store_id TEXT NOT NULL, key_id TEXT NOT NULL, signature TEXT NOT NULL)",
    "CREATE TRIGGER IF NOT EXISTS chain_checkpoints_no_update BEFORE UPDATE ON chain_checkpoints "
    "BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS chain_checkpoints_no_delete BEFORE DELETE ON chain_checkpoints "
    "BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only'); END",
]


class SQLiteChainCheckpoints(SqlChainCheckpoints):
    """Signed checkpoints in SQLite (see ``storage.interface.ChainCheckpoints``)."""

    def __init__(self, datastore: SQLiteDatastore) -> None:
        super().__init__(datastore, "", named)
        with datastore.transaction(commit=True) as c:
            for statement in CREATE:
                c.execute(statement)
