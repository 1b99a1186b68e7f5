"""The SQLite person keys (issue 13): ``person_keys`` and ``person_cards`` in the event store's
own file. Every write of them runs with ``PRAGMA secure_delete = ON`` (SQLite overwrites the
content it frees with zeros, so an old version of a key row is not left in a free page), and
``scrub`` checkpoints the WAL and truncates it, so no copy of a destroyed key's old page stays in
the ``-wal`` file.

May import: ``eventsourcing.sqlite``, the standard library and ``storage`` (not its PostgreSQL
backend).
"""

from __future__ import annotations

import time
from typing import Any

from eventsourcing.sqlite import SQLiteDatastore

from storage.person_keys import PersonKeys
from storage.sqlite.params import named

CREATE = [
    "CREATE TABLE IF NOT EXISTS person_keys (holder_ref TEXT PRIMARY KEY, wrapped_key BLOB, "
    "ring_key_id INTEGER, created_at TEXT NOT NULL, forgotten_at TEXT, forgotten_by TEXT, "
    "forgotten_reason TEXT)",
    "CREATE TABLE IF NOT EXISTS person_cards (card_id TEXT PRIMARY KEY, holder_ref TEXT NOT NULL)",
]
CHECKPOINT_ATTEMPTS = 50
"""A reader in another process holds the WAL for a moment: try again for about 5 s."""


class SQLitePersonKeys(PersonKeys):
    """Person keys in SQLite (see ``storage.person_keys``)."""

    def __init__(self, datastore: SQLiteDatastore) -> None:
        super().__init__(datastore, "", named)
        with datastore.transaction(commit=True) as c:
            for statement in CREATE:
                c.execute(statement)

    def _begin(self, cursor: Any) -> None:
        cursor.execute("PRAGMA secure_delete = ON")

    def scrub(self) -> bool:
        """Checkpoint the WAL into the database file and truncate it to nothing (``TRUNCATE``):
        the freed space of the key's page was zeroed by ``secure_delete``; the WAL frames that
        held its earlier versions are gone once the checkpoint completes."""
        for _ in range(CHECKPOINT_ATTEMPTS):
            with self.datastore.get_connection(commit=True) as conn:
                cursor = conn.cursor()
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                busy, _log, _done = cursor.fetchone()
            if not busy:
                return True
            time.sleep(0.1)
        return False
