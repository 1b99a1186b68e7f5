"""What both backends' checkpoint stores share (the durable consumers' storage, ``Checkpoints``
in ``storage.interface``): their SQL, written once with named parameters ``%(name)s`` and two table
placeholders (``{t}``: the library's tracking table, one row per consumer name; ``{f}``: the
fingerprints of the latest acknowledged events), and the key of a consumer's lease.

May import: the standard library only.
"""

from __future__ import annotations

import hashlib

CHECKPOINT_SQL: dict[str, str] = {
    "create": "CREATE TABLE IF NOT EXISTS {f} (consumer TEXT NOT NULL, position BIGINT NOT NULL, "
    "fingerprint TEXT NOT NULL, PRIMARY KEY (consumer, position))",
    "position": "SELECT notification_id FROM {t} WHERE application_name = %(name)s",
    "advance": "INSERT INTO {t} (application_name, notification_id) VALUES (%(name)s, %(position)s) "
    "ON CONFLICT (application_name) DO UPDATE SET notification_id = %(position)s "
    "WHERE {t}.notification_id < %(position)s RETURNING notification_id",
    "reset": "INSERT INTO {t} (application_name, notification_id) VALUES (%(name)s, %(position)s) "
    "ON CONFLICT (application_name) DO UPDATE SET notification_id = %(position)s",
    "history": "SELECT position, fingerprint FROM {f} WHERE consumer = %(name)s ORDER BY position DESC",
    "remember": "INSERT INTO {f} (consumer, position, fingerprint) VALUES (%(name)s, %(position)s, "
    "%(fingerprint)s) ON CONFLICT (consumer, position) DO UPDATE SET fingerprint = excluded.fingerprint",
    "forget_above": "DELETE FROM {f} WHERE consumer = %(name)s AND position > %(position)s",
    "trim": "DELETE FROM {f} WHERE consumer = %(name)s AND position <= (SELECT position FROM {f} "
    "WHERE consumer = %(name)s ORDER BY position DESC LIMIT 1 OFFSET %(keep)s)",
}


def lease_digest(store: str, name: str) -> bytes:
    """The key of consumer ``name``'s lease in checkpoint store ``store`` (a path or a schema)."""
    return hashlib.sha256(f"mynacard.consumer\0{store}\0{name}".encode()).digest()
