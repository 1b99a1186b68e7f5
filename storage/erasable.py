"""Erasable personal fields (issue 13, crypto-shredding): each personal field of an event or a
view snapshot (``lifecycle.erasure.PERSONAL_FIELDS``) is encrypted under its person's own data
key before the whole payload is encrypted under the store's key ring as before, so destroying
the person's key (``mynacard forget``) erases the field in every stored copy while the log's
bytes, and every lifecycle fact, stay as they are.

Envelope (the value a personal field has in the stored JSON, in place of its transcoded value)::

    {"__erasable__": {"v": 1, "person": "<holder reference>",
                      "ct": base64(nonce (12) + AES-256-GCM ciphertext + tag (16))}}

The plaintext is the transcoder's JSON of ``{"v": <value>}`` (so a date or a pending inquiry
keeps its transcoding); the associated data binds the ciphertext to its place::

    b"mynacard erasable/1\\x00" + b"E" (event) or b"S" (snapshot)
        + originator id (16 bytes) + originator version (8 bytes, big-endian) + field name (UTF-8)

so an envelope moved to another event, version or field fails its check (tampering). Data keys
are 32 random bytes, wrapped by the key ring (``KeyRingCipher``, associated data
``b"mynacard person key/1\\x00" + holder reference``) and kept in ``storage.person_keys``.

Reading: an envelope whose person's key was destroyed reads as ``lifecycle.erasure.ERASED``
(never an error); a field stored plainly (a store written before issue 13) reads as stored and is
not erasable. Keys are cached per process for ``KEY_CACHE_SECONDS``; the process that forgets a
person drops them at once, and so does every reader that reads the ``PersonForgotten`` event.

Which person: the event's own ``holder_ref`` (``Applied``, snapshots of a card), else the person
the card was filed under (``person_cards``; the write side files every card it saves first).

May import: ``eventsourcing``, the standard library, ``lifecycle.erasure`` and ``storage``.
"""

from __future__ import annotations

import base64
import math
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from Crypto.Cipher import AES
from eventsourcing.domain import DomainEventProtocol, Snapshot
from eventsourcing.persistence import Transcoder
from eventsourcing.utils import resolve_topic

from lifecycle.erasure import ERASED, personal_fields
from lifecycle.holder.events import PersonForgotten
from storage.crypto import KeyRingCipher, PayloadAuthenticationError
from storage.integrity import StoreIntegrityError, TamperingDetected
from storage.person_keys import PersonKeys

ENVELOPE = "__erasable__"
ENVELOPE_VERSION = 1
FIELD_AAD = b"mynacard erasable/1\x00"
WRAP_AAD = b"mynacard person key/1\x00"
DATA_KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_CACHE_SECONDS = 60.0
"""How long a process trusts a data key it read (another process's ``forget`` is seen after this)."""


class PersonForgottenError(StoreIntegrityError):
    """A personal field was to be written for a person whose data key was destroyed."""


def is_envelope(value: object) -> bool:
    return isinstance(value, dict) and set(value) == {ENVELOPE}


def field_aad(kind: bytes, originator_id: UUID, version: int, field: str) -> bytes:
    return FIELD_AAD + kind + originator_id.bytes + version.to_bytes(8, "big") + field.encode("utf-8")


def seal_value(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    gcm = AES.new(key, AES.MODE_GCM, nonce=nonce)
    gcm.update(aad)
    ciphertext, tag = gcm.encrypt_and_digest(plaintext)
    return nonce + ciphertext + tag


def open_value(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """ValueError when the GCM check fails."""
    if len(sealed) < NONCE_BYTES + TAG_BYTES:
        raise ValueError("the envelope is truncated")
    gcm = AES.new(key, AES.MODE_GCM, nonce=sealed[:NONCE_BYTES])
    gcm.update(aad)
    return gcm.decrypt_and_verify(sealed[NONCE_BYTES:-TAG_BYTES], sealed[-TAG_BYTES:])


class PersonalFieldCipher:
    """Seals and opens the personal fields of events and snapshots (see the module docstring)."""

    def __init__(self, keys: PersonKeys, ring: KeyRingCipher, transcoder: Transcoder) -> None:
        self.keys = keys
        self._ring = ring
        self._transcoder = transcoder
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        self._filed: dict[UUID, str] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ keys

    def _unwrap(self, ref: str, wrapped: bytes) -> bytes:
        try:
            return self._ring.decrypt(wrapped, WRAP_AAD + ref.encode())
        except PayloadAuthenticationError as e:
            raise TamperingDetected(
                f"the data key of a person fails its check: the key table was altered ({e})"
            ) from e

    def _cached(self, ref: str) -> tuple[bool, bytes | None]:
        with self._lock:
            hit = self._cache.get(ref)
        if hit is not None and hit[0] > time.monotonic():
            return True, hit[1]
        return False, None

    def _remember(self, ref: str, key: bytes | None) -> bytes | None:
        with self._lock:
            self._cache[ref] = (time.monotonic() + KEY_CACHE_SECONDS, key)
        return key

    def key_for_reading(self, ref: str) -> bytes | None:
        """The person's data key; None when it was destroyed (or never made)."""
        hit, key = self._cached(ref)
        if hit:
            return key
        row = self.keys.row(ref)
        return self._remember(ref, self._unwrap(ref, row.wrapped_key) if row and row.wrapped_key else None)

    def key_for_writing(self, ref: str) -> bytes | None:
        """The person's data key, made (and committed) on first use; None when it was destroyed."""
        hit, key = self._cached(ref)
        if hit and key is not None:
            return key
        row = self.keys.row(ref)
        if row is None:
            fresh = os.urandom(DATA_KEY_BYTES)
            wrapped = self._ring.encrypt(fresh, WRAP_AAD + ref.encode())
            row = self.keys.insert_key(ref, wrapped, self._ring.current_key_id, datetime.now(UTC).isoformat())
        if row.wrapped_key is None:
            return self._remember(ref, None)
        return self._remember(ref, self._unwrap(ref, row.wrapped_key))

    def file_cards(self, cards: dict[UUID, str]) -> None:
        """Before a save: record each card's person and make the person's key (committed)."""
        new = {c: r for c, r in cards.items() if self._filed.get(c) != r}
        if not new:
            return
        self.keys.file_cards(new)
        for ref in set(new.values()):
            self.key_for_writing(ref)
        self._filed.update(new)

    def forget(self, holder_refs: list[str], at: str, by: str, reason: str) -> tuple[list[str], bool]:
        """Destroy the data keys of ``holder_refs`` and scrub the database; (the references
        whose key was destroyed now, whether the scrub completed)."""
        destroyed = self.keys.destroy(holder_refs, at, by, reason)
        self.mark_forgotten(holder_refs)
        return destroyed, self.keys.scrub()

    # ------------------------------------------------------------------ events

    def _person(self, event: Any, state: dict[str, Any]) -> str:
        ref = state.get("holder_ref")
        if isinstance(ref, str) and ref:
            return ref
        card_id: UUID = event.originator_id
        ref = self._filed.get(card_id) or self.keys.person_of_card(card_id)
        if ref is None:
            raise StoreIntegrityError(
                f"card {card_id} is filed under no person: its personal fields cannot be kept "
                "erasable (nothing was written)"
            )
        return ref

    def seal(self, event: DomainEventProtocol[UUID]) -> DomainEventProtocol[UUID]:
        """The event to store: a copy whose personal fields are envelopes (the event itself
        when it has none)."""
        if isinstance(event, Snapshot):
            return self._seal_snapshot(event)
        names = personal_fields(type(event))
        if not names:
            return event
        fields = dict(vars(event))
        self._seal_fields(fields, names, b"E", event, lambda: self._person(event, fields), snapshot=False)
        copy = object.__new__(type(event))
        object.__setattr__(copy, "__dict__", fields)
        return copy

    def _seal_snapshot(self, snapshot: Snapshot) -> DomainEventProtocol[UUID]:
        names = personal_fields(resolve_topic(snapshot.topic))
        if not names:
            return snapshot
        state = dict(snapshot.state)
        self._seal_fields(state, names, b"S", snapshot, lambda: self._person(snapshot, state), snapshot=True)
        copy = object.__new__(type(snapshot))
        object.__setattr__(copy, "__dict__", {**vars(snapshot), "state": state})
        copy_event: DomainEventProtocol[UUID] = copy
        return copy_event

    def _seal_fields(
        self,
        fields: dict[str, Any],
        names: tuple[str, ...],
        kind: bytes,
        event: Any,
        person: Any,
        *,
        snapshot: bool,
    ) -> None:
        todo = [n for n in names if n in fields and fields[n] is not None and fields[n] is not ERASED]
        if not todo:
            return
        ref: str = person()
        key = self.key_for_writing(ref)
        if key is None:
            if not snapshot:
                raise PersonForgottenError(
                    f"{type(event).__name__} of {event.originator_id} holds personal fields of a person "
                    "who was forgotten (their data key is destroyed): nothing was written"
                )
            for name in todo:  # a view of a forgotten person keeps nothing personal
                fields[name] = ERASED
            return
        for name in todo:
            plaintext = self._transcoder.encode({"v": fields[name]})
            aad = field_aad(kind, event.originator_id, event.originator_version, name)
            sealed = seal_value(key, plaintext, aad)
            fields[name] = {
                ENVELOPE: {"v": ENVELOPE_VERSION, "person": ref, "ct": base64.b64encode(sealed).decode()}
            }

    def open(self, event: DomainEventProtocol[UUID]) -> DomainEventProtocol[UUID]:
        """Open the envelopes of a read event in place: each becomes its value, or ``ERASED``
        when its person was forgotten."""
        if isinstance(event, Snapshot):
            names = personal_fields(resolve_topic(event.topic))
            if names:
                self._open_fields(event.state, names, b"S", event)
            return event
        if isinstance(event, PersonForgotten):
            # A reader of the log hears of the erasure at once, and for good: the keys are
            # destroyed right after this event was saved (or by the forget that completes it),
            # so a key still in the table in between is never used again by this process.
            self.mark_forgotten(event.holder_refs)
        names = personal_fields(type(event))
        if names:
            self._open_fields(vars(event), names, b"E", event)
        return event

    def mark_forgotten(self, holder_refs: list[str]) -> None:
        """These persons were forgotten: their fields read as erased, and nothing is sealed for
        them, from now on in this process (whatever the key table still holds)."""
        with self._lock:
            for ref in holder_refs:
                self._cache[ref] = (math.inf, None)

    def evict(self, holder_refs: list[str]) -> None:
        """Forget the cached keys of these persons (read again from the table when next needed)."""
        with self._lock:
            for ref in holder_refs:
                self._cache.pop(ref, None)

    def _open_fields(self, fields: dict[str, Any], names: tuple[str, ...], kind: bytes, event: Any) -> None:
        where = f"{event.originator_id} version {event.originator_version}"
        for name in names:
            value = fields.get(name)
            if not isinstance(value, dict) or not is_envelope(value):
                continue  # stored plainly (before issue 13): readable, not erasable
            envelope = value[ENVELOPE]
            try:
                ref = str(envelope["person"])
                sealed = base64.b64decode(envelope["ct"], validate=True)
            except (KeyError, TypeError, ValueError) as e:
                raise TamperingDetected(
                    f"the personal field {name!r} of {where} is malformed ({e}): the payload was altered"
                ) from e
            key = self.key_for_reading(ref)
            if key is None:
                fields[name] = ERASED
                continue
            aad = field_aad(kind, event.originator_id, event.originator_version, name)
            try:
                plaintext = open_value(key, sealed, aad)
            except ValueError as e:
                raise TamperingDetected(
                    f"the personal field {name!r} of {where} fails its check: it was altered or moved from "
                    "another event (possible tampering)"
                ) from e
            fields[name] = self._transcoder.decode(plaintext)["v"]


def plain_personal_fields(event: DomainEventProtocol[UUID]) -> list[str]:
    """The personal fields of a read event that were stored plainly (not erasable): a store
    written before issue 13. Call it on an event whose envelopes were not opened."""
    names = personal_fields(type(event))
    fields = vars(event)
    return [n for n in names if fields.get(n) is not None and not is_envelope(fields.get(n))]
