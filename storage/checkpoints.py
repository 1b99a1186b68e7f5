"""What both backends' checkpoint stores share (the durable consumers' storage, ``Checkpoints``
in ``storage.interface``): their SQL, written once with named parameters ``%(name)s`` and three
table placeholders (``{t}``: the library's tracking table, one row per consumer name; ``{f}``: the
fingerprints of the latest acknowledged events; ``{d}``: the dead letters, events a consumer's
handler failed on and which were parked; ``{a}``: when each checkpoint move was made, for the
revocation latency), the dead letter's record, and the key of a lease.

May import: the standard library only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

PARKED, DELIVERED, SKIPPED = "parked", "delivered", "skipped"
"""The states of a dead letter: open (``parked``), or settled — handled on a re-delivery
(``delivered``) or given up with a reason (``skipped``)."""

_LETTER = (
    "consumer, position, event_type, fingerprint, error, attempts, parked_at, state, redeliveries, "
    "redelivered_at, resolved_at, resolved_by, reason"
)

CHECKPOINT_SQL: dict[str, str] = {
    "create": "CREATE TABLE IF NOT EXISTS {f} (consumer TEXT NOT NULL, position BIGINT NOT NULL, "
    "fingerprint TEXT NOT NULL, PRIMARY KEY (consumer, position))",
    "create_dead_letters": "CREATE TABLE IF NOT EXISTS {d} (consumer TEXT NOT NULL, "
    "position BIGINT NOT NULL, event_type TEXT NOT NULL, fingerprint TEXT NOT NULL, error TEXT NOT NULL, "
    "attempts INTEGER NOT NULL, "
    "parked_at TEXT NOT NULL, state TEXT NOT NULL, redeliveries INTEGER NOT NULL DEFAULT 0, "
    "redelivered_at TEXT, resolved_at TEXT, resolved_by TEXT, reason TEXT, PRIMARY KEY (consumer, position))",
    "create_acks": "CREATE TABLE IF NOT EXISTS {a} (consumer TEXT NOT NULL, position BIGINT NOT NULL, "
    "acked_at TEXT NOT NULL, PRIMARY KEY (consumer, position))",
    "record_ack": "INSERT INTO {a} (consumer, position, acked_at) VALUES (%(name)s, %(position)s, %(at)s) "
    "ON CONFLICT (consumer, position) DO NOTHING",
    "acks": "SELECT position, acked_at FROM {a} WHERE consumer = %(name)s ORDER BY position",
    "position": "SELECT notification_id FROM {t} WHERE application_name = %(name)s",
    "consumers": "SELECT application_name, notification_id FROM {t} ORDER BY application_name",
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
    "park": f"INSERT INTO {{d}} ({_LETTER}) VALUES (%(consumer)s, %(position)s, %(event_type)s, "
    "%(fingerprint)s, %(error)s, %(attempts)s, %(parked_at)s, %(state)s, 0, NULL, NULL, NULL, NULL) "
    "ON CONFLICT (consumer, position) DO UPDATE SET event_type = excluded.event_type, "
    "fingerprint = excluded.fingerprint, error = excluded.error, attempts = excluded.attempts, "
    "parked_at = excluded.parked_at, state = excluded.state, redeliveries = 0, redelivered_at = NULL, "
    "resolved_at = NULL, resolved_by = NULL, reason = NULL",
    "letters": f"SELECT {_LETTER} FROM {{d}} WHERE consumer = %(name)s ORDER BY position",
    "open_letters": f"SELECT {_LETTER} FROM {{d}} WHERE consumer = %(name)s AND state = '{PARKED}' "
    "ORDER BY position",
    "letter": f"SELECT {_LETTER} FROM {{d}} WHERE consumer = %(name)s AND position = %(position)s",
    "parked_counts": f"SELECT consumer, COUNT(*) AS parked FROM {{d}} WHERE state = '{PARKED}' "
    "GROUP BY consumer",
    "settle": "UPDATE {d} SET state = %(state)s, resolved_at = %(at)s, resolved_by = %(by)s, "
    f"reason = %(reason)s WHERE consumer = %(name)s AND position = %(position)s AND state = '{PARKED}' "
    "RETURNING position",
    "redelivered": "UPDATE {d} SET redeliveries = redeliveries + 1, redelivered_at = %(at)s, "
    "attempts = attempts + %(attempts)s, error = COALESCE(%(error)s, error) WHERE consumer = %(name)s "
    f"AND position = %(position)s AND state = '{PARKED}' RETURNING position",
    "forget_parked_above": f"DELETE FROM {{d}} WHERE consumer = %(name)s AND position > %(position)s "
    f"AND state = '{PARKED}'",
}


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event a consumer's handler kept failing on, parked so the consumer could go on: which
    consumer and position, the event's type and fingerprint (to re-deliver exactly that event),
    the last error (the exception's type and message: never the event's data), how many
    deliveries were tried, when; then how it was settled (``state``: see ``PARKED``)."""

    consumer: str
    position: int
    event_type: str
    fingerprint: str
    error: str
    attempts: int
    parked_at: str
    state: str = PARKED
    redeliveries: int = 0
    redelivered_at: str | None = None
    resolved_at: str | None = None
    resolved_by: str | None = None
    reason: str | None = None

    @property
    def open(self) -> bool:
        return self.state == PARKED

    def row(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in _LETTER.split(", ")}

    @classmethod
    def from_row(cls, row: Any) -> DeadLetter:
        """From a row of either backend (a mapping by column name)."""
        values = {k: row[k] for k in _LETTER.split(", ")}
        for k in ("position", "attempts", "redeliveries"):
            values[k] = int(values[k])
        return cls(**values)


def lease_digest(store: str, name: str) -> bytes:
    """The key of consumer ``name``'s lease in checkpoint store ``store`` (a path or a schema)."""
    return hashlib.sha256(f"mynacard.consumer\0{store}\0{name}".encode()).digest()


def acked_now() -> str:
    """When an acknowledgement is recorded (UTC, ISO): the consumers' side of revocation latency."""
    return datetime.now(UTC).isoformat(timespec="microseconds")
