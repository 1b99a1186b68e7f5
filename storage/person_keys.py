"""The person keys (issue 13): one data key per person (holder reference), wrapped by the store's
key ring, in the event store's own database; and which person each card belongs to, so that an
event of a card that does not name its holder (a date-of-birth correction, a handover) finds
its person's key.

Tables (``{p}`` is ``""`` on SQLite and ``<schema>.mynacard_`` on PostgreSQL)::

    {p}person_keys  (holder_ref TEXT PRIMARY KEY,
                     wrapped_key BLOB/bytea NULL,   -- the data key, AES-GCM under ring key …
                     ring_key_id INTEGER NULL,      -- … this one (NULL once destroyed)
                     created_at TEXT NOT NULL,
                     forgotten_at TEXT NULL, forgotten_by TEXT NULL, forgotten_reason TEXT NULL)
    {p}person_cards (card_id TEXT PRIMARY KEY, holder_ref TEXT NOT NULL)

A key is created once (insert-or-ignore, then read again: processes creating one person's key at
once all use the first one's) and committed before any event that uses it is saved. ``destroy``
replaces the wrapped key by NULL and records who forgot the person, when and why; the backend
then scrubs what the database keeps of the old row (``scrub``: SQLite ``secure_delete`` and a
WAL checkpoint, PostgreSQL ``VACUUM FULL``). A destroyed key is never created again.

Written once over the library's datastores, as ``storage.staff_recorder``: each backend gives its
parameter style (``compose``), creates the tables and scrubs (``storage.sqlite.person_keys``,
``storage.postgres.person_keys``).

May import: the standard library.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

PERSON_KEYS_SQL: dict[str, str] = {
    "row": "SELECT holder_ref, wrapped_key, ring_key_id, created_at, forgotten_at, forgotten_by, "
    "forgotten_reason FROM {p}person_keys WHERE holder_ref = %(ref)s",
    "rows": "SELECT holder_ref, wrapped_key, ring_key_id, created_at, forgotten_at, forgotten_by, "
    "forgotten_reason FROM {p}person_keys ORDER BY holder_ref",
    "insert_key": "INSERT INTO {p}person_keys (holder_ref, wrapped_key, ring_key_id, created_at) "
    "VALUES (%(ref)s, %(wrapped)s, %(key_id)s, %(at)s) ON CONFLICT (holder_ref) DO NOTHING",
    "destroy": "UPDATE {p}person_keys SET wrapped_key = NULL, ring_key_id = NULL, forgotten_at = %(at)s, "
    "forgotten_by = %(by)s, forgotten_reason = %(reason)s WHERE holder_ref = %(ref)s",
    "tombstone": "INSERT INTO {p}person_keys (holder_ref, wrapped_key, ring_key_id, created_at, "
    "forgotten_at, forgotten_by, forgotten_reason) VALUES (%(ref)s, NULL, NULL, %(at)s, %(at)s, %(by)s, "
    "%(reason)s) ON CONFLICT (holder_ref) DO NOTHING",
    "file_card": "INSERT INTO {p}person_cards (card_id, holder_ref) VALUES (%(card)s, %(ref)s) "
    "ON CONFLICT (card_id) DO NOTHING",
    "person_of_card": "SELECT holder_ref FROM {p}person_cards WHERE card_id = %(card)s",
}


@dataclass(frozen=True, slots=True)
class PersonKeyRow:
    """One person's key row: the wrapped data key (None once destroyed) and its history."""

    holder_ref: str
    wrapped_key: bytes | None
    ring_key_id: int | None
    created_at: str
    forgotten_at: str | None = None
    forgotten_by: str | None = None
    forgotten_reason: str | None = None

    @property
    def destroyed(self) -> bool:
        return self.wrapped_key is None


def _row_of(r: Any) -> PersonKeyRow:
    wrapped = r["wrapped_key"]
    return PersonKeyRow(
        holder_ref=str(r["holder_ref"]),
        wrapped_key=bytes(wrapped) if wrapped is not None else None,
        ring_key_id=int(r["ring_key_id"]) if r["ring_key_id"] is not None else None,
        created_at=str(r["created_at"]),
        forgotten_at=r["forgotten_at"],
        forgotten_by=r["forgotten_by"],
        forgotten_reason=r["forgotten_reason"],
    )


class PersonKeys(ABC):
    """The person-key tables on one datastore (see the module docstring)."""

    def __init__(self, datastore: Any, prefix: str, compose: Callable[[str], Any]) -> None:
        self.datastore = datastore
        self.sql = {k: compose(v.replace("{p}", prefix)) for k, v in PERSON_KEYS_SQL.items()}

    @abstractmethod
    def scrub(self) -> bool:
        """Make the database forget the old versions of destroyed rows (True when it could do
        all it does; False when something, e.g. a reader holding the SQLite WAL, prevented it)."""

    def _begin(self, cursor: Any) -> None:  # noqa: B027  (a hook: most backends need nothing)
        """Per-transaction settings of a write (SQLite turns ``secure_delete`` on)."""

    def _destroyed(self, cursor: Any) -> None:  # noqa: B027  (a hook: most backends need nothing)
        """Called in the destroying transaction (PostgreSQL notes its transaction id)."""

    def row(self, holder_ref: str) -> PersonKeyRow | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql["row"], {"ref": holder_ref})
            found = c.fetchone()
        return _row_of(found) if found else None

    def rows(self) -> list[PersonKeyRow]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql["rows"], {})
            return [_row_of(r) for r in c.fetchall()]

    def insert_key(self, holder_ref: str, wrapped: bytes, ring_key_id: int, at: str) -> PersonKeyRow:
        """Store a new wrapped key unless the person has a row already; the row in force."""
        with self.datastore.transaction(commit=True) as c:
            self._begin(c)
            c.execute(
                self.sql["insert_key"],
                {"ref": holder_ref, "wrapped": wrapped, "key_id": ring_key_id, "at": at},
            )
        found = self.row(holder_ref)
        assert found is not None
        return found

    def file_cards(self, cards: Mapping[UUID, str]) -> None:
        """Record which person each card belongs to (a card filed before keeps its person)."""
        if not cards:
            return
        with self.datastore.transaction(commit=True) as c:
            for card_id, holder_ref in cards.items():
                c.execute(self.sql["file_card"], {"card": str(card_id), "ref": holder_ref})

    def person_of_card(self, card_id: UUID) -> str | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self.sql["person_of_card"], {"card": str(card_id)})
            found = c.fetchone()
        return str(found["holder_ref"]) if found else None

    def destroy(self, holder_refs: Iterable[str], at: str, by: str, reason: str) -> list[str]:
        """Destroy the data keys of ``holder_refs`` (a reference without a key gets a destroyed
        row, so none is ever made for it); the references whose key this call destroyed. The
        database's old copies are scrubbed afterwards (``scrub``)."""
        destroyed = []
        with self.datastore.transaction(commit=True) as c:
            self._begin(c)
            for ref in dict.fromkeys(holder_refs):
                c.execute(self.sql["row"], {"ref": ref})
                found = c.fetchone()
                params = {"ref": ref, "at": at, "by": by, "reason": reason}
                if found is None:
                    c.execute(self.sql["tombstone"], params)
                elif found["wrapped_key"] is not None:
                    c.execute(self.sql["destroy"], params)
                    destroyed.append(ref)
            self._destroyed(c)
        return destroyed
