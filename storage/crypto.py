"""Encryption at rest: the event payloads (and the read models' snapshots, which use the same
mapper) are compressed and encrypted with AES-GCM under a ring of keys.

Keys form a ring: every ciphertext names the 4-byte id of the key that made it; the newest key
encrypts, every key in the ring decrypts. ``mynacard rotate-key`` adds a key: new events use it,
old ones stay readable.

Two forms of ciphertext are read (issue 8 item 6):

``MB`` — bound (every payload written since): ::

    b"MB" + key id (4 bytes, big-endian) + key check (4 bytes) + nonce (12 bytes)
          + AES-GCM ciphertext + tag (16 bytes)

  with associated data given by the caller: the mapper (``storage.bound_mapper``) binds each
  payload to its row, i.e. its originator id, originator version and topic. A payload copied
  onto another row, or a row whose id, version or topic was changed, fails the GCM check. The
  key check is ``SHA-256(b"mynacard key check\\x00" + key)[:4]``: it tells a wrong key
  (configuration) from an altered payload (tampering) without revealing anything about the key.

``MK`` — unbound (written before issue 8 item 6; the library ``AESCipher``'s layout): ::

    b"MK" + key id (4 bytes, big-endian) + nonce (12 bytes) + tag (16 bytes) + ciphertext

  Read as before, without associated data: such a payload is authentic but not tied to its row.

Upgrade path: nothing to migrate. A store written before the change keeps its ``MK`` events and
view snapshots, which stay readable; every event and snapshot written after it is ``MB``. The
read models' snapshots are rewritten bound by ``mynacard rebuild``; the events themselves stay
unbound until they are re-encrypted: a re-encryption command would read each ``MK`` event and
write it back as ``MB`` in place (same row; the plaintext, and so every fold, is unchanged).
Until then an old payload copied onto another old row is not caught by the cipher (only an
altered one is): re-encrypting closes that for the store's history.

Errors, never garbage:

- ``CipherKeyError`` (configuration): the key id is not in the ring, the ring's key with that id
  is not the one that made a bound payload (key check), or the payload is not a ring's at all;
- ``PayloadAuthenticationError``: the GCM check fails under the key that made the payload: the
  payload or its row was altered, or the payload was moved (the mapper reports it as
  ``storage.integrity.TamperingDetected``, naming the row). For an unbound payload this is also
  what a wrong key with the right id looks like (it has no key check).

One AES key per ring entry is decoded and checked once, when the ring is loaded; pycryptodome
sets up a GCM context per nonce, i.e. per payload, as the library's ``AESCipher`` does.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from Crypto.Cipher import AES
from eventsourcing.cipher import AESCipher
from eventsourcing.persistence import Cipher
from eventsourcing.utils import Environment

from storage.files import write_private_temp

MAGIC = b"MK"
"""Unbound payloads (before issue 8 item 6)."""
BOUND_MAGIC = b"MB"
"""Payloads bound to their row by AES-GCM associated data."""
KEY_BYTES = 32
KEY_ID_BYTES = 4
KEY_CHECK_BYTES = 4
NONCE_BYTES = 12
TAG_BYTES = 16
BOUND_HEADER_BYTES = len(BOUND_MAGIC) + KEY_ID_BYTES + KEY_CHECK_BYTES
UNBOUND_HEADER_BYTES = len(MAGIC) + KEY_ID_BYTES
KEY_CHECK_CONTEXT = b"mynacard key check\x00"


class CipherKeyError(ValueError):
    """The key ring cannot open a stored payload (wrong or missing key): a configuration problem."""


class PayloadAuthenticationError(ValueError):
    """A stored payload fails its AES-GCM check under the key that made it: it, or the row it is
    read with, was altered, or it was moved from another row."""

    def __init__(self, message: str, key_id: int | None, *, bound: bool) -> None:
        super().__init__(message)
        self.key_id = key_id
        self.bound = bound
        """False for an ``MK`` payload (no key check: a wrong key with the right id fails alike)."""


@dataclass(frozen=True, slots=True)
class RingKey:
    key_id: int
    secret: str
    """base64 of 32 random bytes."""

    def text(self) -> str:
        return f"{self.key_id}:{self.secret}"


def parse_ring(text: str) -> list[RingKey]:
    """``1:base64,2:base64`` (or one per line) → keys, oldest first."""
    keys = []
    for entry in (p.strip() for p in text.replace("\n", ",").split(",")):
        if not entry:
            continue
        key_id, _, secret = entry.partition(":")
        if not key_id.isdigit() or not secret:
            raise ValueError("a key ring entry is 'id:base64-key'")
        if len(base64.b64decode(secret)) not in AESCipher.KEY_SIZES:
            raise ValueError(f"key {key_id}: AES keys have 16, 24 or 32 bytes")
        keys.append(RingKey(int(key_id), secret))
    if not keys:
        raise ValueError("the key ring is empty")
    return keys


def new_key(after: list[RingKey]) -> RingKey:
    return RingKey(
        max((k.key_id for k in after), default=0) + 1,
        base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode(),
    )


def key_check(key: bytes) -> bytes:
    """The 4 bytes a bound payload carries to name its key: ``SHA-256(context + key)[:4]``."""
    return hashlib.sha256(KEY_CHECK_CONTEXT + key).digest()[:KEY_CHECK_BYTES]


class _RingEntry:
    """One key of the ring, decoded once: its bound header, and the GCM operations."""

    __slots__ = ("bound_header", "key", "key_id", "unbound_header")

    def __init__(self, key: RingKey) -> None:
        self.key_id = key.key_id
        self.key = base64.b64decode(key.secret)
        AESCipher.check_key_size(len(self.key))
        key_id = key.key_id.to_bytes(KEY_ID_BYTES, "big")
        self.bound_header = BOUND_MAGIC + key_id + key_check(self.key)
        self.unbound_header = MAGIC + key_id

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        gcm = AES.new(self.key, AES.MODE_GCM, nonce=nonce)
        gcm.update(aad)
        ciphertext, tag = gcm.encrypt_and_digest(plaintext)
        return self.bound_header + nonce + ciphertext + tag

    def open_bound(self, body: bytes, aad: bytes) -> bytes:
        """``body`` = nonce + ciphertext + tag; ValueError when the GCM check fails."""
        if len(body) < NONCE_BYTES + TAG_BYTES:
            raise ValueError("the payload is truncated")
        gcm = AES.new(self.key, AES.MODE_GCM, nonce=body[:NONCE_BYTES])
        gcm.update(aad)
        return gcm.decrypt_and_verify(body[NONCE_BYTES:-TAG_BYTES], body[-TAG_BYTES:])

    def seal_unbound(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        gcm = AES.new(self.key, AES.MODE_GCM, nonce=nonce)
        ciphertext, tag = gcm.encrypt_and_digest(plaintext)
        return self.unbound_header + nonce + tag + ciphertext

    def open_unbound(self, body: bytes) -> bytes:
        """``body`` = nonce + tag + ciphertext (``AESCipher``'s layout); ValueError when it fails."""
        if len(body) < NONCE_BYTES + TAG_BYTES:
            raise ValueError("the payload is truncated")
        gcm = AES.new(self.key, AES.MODE_GCM, nonce=body[:NONCE_BYTES])
        return gcm.decrypt_and_verify(
            body[NONCE_BYTES + TAG_BYTES :], body[NONCE_BYTES : NONCE_BYTES + TAG_BYTES]
        )


RING_FILE_SETTING = "MYNACARD_RING_FILE"
"""The cipher's setting naming the ring file (absent when the ring comes from the environment)."""


class KeyRingCipher(Cipher):
    """AES-GCM with a ring of keys (``CIPHER_KEY`` = the ring, newest last).

    ``encrypt(plaintext, aad)`` writes a bound ``MB`` payload; ``decrypt(ciphertext, aad)`` reads
    both forms (the ``aad`` is needed for ``MB``, ignored for ``MK``). Without ``aad``
    (the library's ``Cipher`` interface), ``encrypt`` writes the unbound ``MK`` form: the
    service's mapper (``BoundMapper``) always gives the row."""

    def __init__(self, environment: Environment) -> None:
        ring = environment.get("CIPHER_KEY")
        if not ring:
            raise CipherKeyError("no encryption key is configured (CIPHER_KEY)")
        keys = parse_ring(ring)
        self._keys = {k.key_id: _RingEntry(k) for k in keys}
        self._current = self._keys[keys[-1].key_id]
        ring_file = environment.get(RING_FILE_SETTING)
        self._ring_file = Path(ring_file) if ring_file else None
        """Where a key added by another process's ``rotate-key`` can be found (issue 8 item 1)."""

    def _entry(self, key_id: int) -> _RingEntry | None:
        """The ring's key ``key_id``; an id this process has not seen may have been added by a
        rotation since it started: the ring file is read again (known ids are never replaced)."""
        entry = self._keys.get(key_id)
        if entry is None and self._ring_file is not None:
            try:
                added = read_ring_file(self._ring_file) or []
            except (OSError, ValueError):
                added = []
            for key in added:
                self._keys.setdefault(key.key_id, _RingEntry(key))
            entry = self._keys.get(key_id)
        return entry

    @property
    def current_key_id(self) -> int:
        return self._current.key_id

    def encrypt(self, plaintext: bytes, aad: bytes | None = None) -> bytes:
        if aad is None:
            return self._current.seal_unbound(plaintext)
        return self._current.seal(plaintext, aad)

    def decrypt(self, ciphertext: bytes, aad: bytes | None = None) -> bytes:
        magic = ciphertext[:2]
        bound = magic == BOUND_MAGIC
        if not bound and magic != MAGIC:
            raise CipherKeyError("a stored payload is not encrypted with a mynacard key ring")
        header = BOUND_HEADER_BYTES if bound else UNBOUND_HEADER_BYTES
        if len(ciphertext) < header:
            raise PayloadAuthenticationError("the payload is truncated", None, bound=bound)
        key_id = int.from_bytes(ciphertext[2 : 2 + KEY_ID_BYTES], "big")
        entry = self._entry(key_id)
        if entry is None:
            raise CipherKeyError(
                f"a stored payload was encrypted with key {key_id}, which is not in the configured key ring"
            )
        if not bound:
            try:
                return entry.open_unbound(ciphertext[header:])
            except ValueError as e:
                raise PayloadAuthenticationError(
                    f"the unbound payload fails its check under key {key_id} ({e}): altered, "
                    f"or key {key_id} of the ring is not the key that made it",
                    key_id,
                    bound=False,
                ) from None
        if ciphertext[:header] != entry.bound_header:
            raise CipherKeyError(
                f"key {key_id} of the ring does not open a stored payload (wrong key: its key check differs)"
            )
        if aad is None:
            raise CipherKeyError("a bound payload is read with its row (originator id, version, topic)")
        try:
            return entry.open_bound(ciphertext[header:], aad)
        except ValueError as e:
            raise PayloadAuthenticationError(
                f"the payload fails its check under key {key_id} ({e})", key_id, bound=True
            ) from None


def read_ring_file(path: Path) -> list[RingKey] | None:
    if not path.exists():
        return None
    return parse_ring(path.read_text())


def ring_text(keys: list[RingKey]) -> str:
    return "\n".join(k.text() for k in keys) + "\n"


def write_ring_file(path: Path, keys: list[RingKey]) -> None:
    """Replace the ring, readable only by its owner (0600), atomically."""
    tmp = write_private_temp(path, ring_text(keys))
    os.replace(tmp, path)
