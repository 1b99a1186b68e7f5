"""Encryption at rest: the event payloads (and the read models' snapshots, which use the same
mapper) are compressed and encrypted with AES-GCM through the eventsourcing cipher interface.

Keys form a ring: each ciphertext starts with ``MK`` and the 4-byte id of the key that made it;
the newest key encrypts, every key in the ring decrypts. ``mynacard rotate-key`` adds a key:
new events use it, old ones stay readable. A ciphertext whose key is not in the ring, or that
the key does not open, raises ``CipherKeyError`` — never garbage.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from eventsourcing.cipher import AESCipher
from eventsourcing.persistence import Cipher
from eventsourcing.utils import Environment

from commands.private_files import write_private_temp

MAGIC = b"MK"
KEY_BYTES = 32


class CipherKeyError(ValueError):
    """The key ring cannot open a stored payload (wrong or missing key)."""


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


class KeyRingCipher(Cipher):
    """AES-GCM with a ring of keys (``CIPHER_KEY`` = the ring, newest last)."""

    def __init__(self, environment: Environment) -> None:
        ring = environment.get("CIPHER_KEY")
        if not ring:
            raise CipherKeyError("no encryption key is configured (CIPHER_KEY)")
        keys = parse_ring(ring)
        self._ciphers = {k.key_id: AESCipher(Environment(env={"CIPHER_KEY": k.secret})) for k in keys}
        self._current = keys[-1].key_id

    def encrypt(self, plaintext: bytes) -> bytes:
        return MAGIC + self._current.to_bytes(4, "big") + self._ciphers[self._current].encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        if not ciphertext.startswith(MAGIC):
            raise CipherKeyError("a stored payload is not encrypted with a mynacard key ring")
        key_id = int.from_bytes(ciphertext[2:6], "big")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CipherKeyError(
                f"a stored payload was encrypted with key {key_id}, which is not in the configured key ring"
            )
        try:
            return cipher.decrypt(ciphertext[6:])
        except ValueError:
            raise CipherKeyError(
                f"key {key_id} of the ring does not open a stored payload (wrong key)"
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
