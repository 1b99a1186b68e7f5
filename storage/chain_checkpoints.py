"""Signed checkpoints of the hash chain (issue 13): a statement, signed with the store's Ed25519
log signing key, that the chain hash at a log position was a given value at a given time. A
relying party or a consumer holding one can prove that the events it saw up to the position are
the events the store recorded, none missing, none changed; ``verify --chain`` uses them as pins,
so a log rewritten below a checkpoint (its chain recomputed) or cut short below it is caught.

The signed message, byte for byte (UTF-8, each line ending in one ``\\n``, nothing else)::

    mynacard-checkpoint/1
    <store id>                (the store identity's UUID, lower-case, with hyphens)
    <position>                (decimal, no sign, no leading zeros)
    <chain hash>              (64 lower-case hex digits: the chain hash at that position)
    <signed at>               (UTC, ``YYYY-MM-DDTHH:MM:SSZ``)

The signature is Ed25519 (RFC 8032) over those bytes, base64 (standard alphabet, padded);
``key_id`` is the first 16 hex digits of SHA-256 over the raw 32-byte public key.

Here: the record, its message and JSON form (``mynacard.checkpoint/1``, also what the feeds
carry), the check of a signature, and the SQL both backends share (named parameters
``%(name)s``, the table ``{p}chain_checkpoints``: ``storage.checkpoint_recorder``; the tables
are created, append-only, by ``storage.sqlite.chain_checkpoints`` and
``storage.postgres.chain_checkpoints``).

May import: the standard library, ``cryptography`` and ``storage.chain``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from storage.chain import ChainLink

CHECKPOINT_SCHEMA = "mynacard.checkpoint/1"
CHECKPOINT_CONTEXT = "mynacard-checkpoint/1"
_SIGNED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def signed_at_text(moment: datetime) -> str:
    """A moment as the message writes it: UTC, whole seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def checkpoint_message(store_id: str, position: int, chain_hash: str, signed_at: str) -> bytes:
    """The bytes a checkpoint's signature covers (see the module docstring)."""
    return f"{CHECKPOINT_CONTEXT}\n{store_id}\n{position}\n{chain_hash}\n{signed_at}\n".encode()


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint as stored and delivered (``mynacard.checkpoint/1``)."""

    position: int
    chain_hash: str
    """Hex (64 lower-case digits)."""
    signed_at: str
    store_id: str
    key_id: str
    signature: str
    """Base64 of the Ed25519 signature of ``message``."""

    @property
    def message(self) -> bytes:
        return checkpoint_message(self.store_id, self.position, self.chain_hash, self.signed_at)

    @property
    def link(self) -> ChainLink:
        return ChainLink(self.position, bytes.fromhex(self.chain_hash))

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": CHECKPOINT_SCHEMA,
            "type": "checkpoint",
            "position": self.position,
            "chain_hash": self.chain_hash,
            "signed_at": self.signed_at,
            "store_id": self.store_id,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignedCheckpoint:
        """A checkpoint from its JSON form (``ValueError`` naming what is malformed)."""
        try:
            position, chain_hash = data["position"], data["chain_hash"]
            signed_at, store_id = data["signed_at"], data["store_id"]
            key_id, signature = data["key_id"], data["signature"]
        except (KeyError, TypeError) as e:
            raise ValueError(f"not a {CHECKPOINT_SCHEMA} object: {e} is missing") from None
        if not isinstance(position, int) or isinstance(position, bool) or position < 1:
            raise ValueError("a checkpoint's position is a positive integer")
        if not isinstance(chain_hash, str) or not _HEX64.fullmatch(chain_hash):
            raise ValueError("a checkpoint's chain_hash is 64 lower-case hex digits")
        if not isinstance(signed_at, str) or not _SIGNED_AT.fullmatch(signed_at):
            raise ValueError("a checkpoint's signed_at is UTC as YYYY-MM-DDTHH:MM:SSZ")
        for name, value in (("store_id", store_id), ("key_id", key_id), ("signature", signature)):
            if not isinstance(value, str) or not value or "\n" in value:
                raise ValueError(f"a checkpoint's {name} is a one-line string")
        return cls(position, chain_hash, signed_at, store_id, key_id, signature)


def sign_checkpoint(
    store_id: str, head: ChainLink, moment: datetime, key_id: str, sign: Callable[[bytes], str]
) -> SignedCheckpoint:
    """The checkpoint of ``head`` signed at ``moment`` by ``sign`` (bytes → base64 signature)."""
    signed_at = signed_at_text(moment)
    chain_hash = head.chain_hash.hex()
    signature = sign(checkpoint_message(store_id, head.position, chain_hash, signed_at))
    return SignedCheckpoint(head.position, chain_hash, signed_at, store_id, key_id, signature)


def public_key_id(key: ed25519.Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def signature_holds(checkpoint: SignedCheckpoint, key: ed25519.Ed25519PublicKey) -> bool:
    """Whether ``checkpoint`` is signed by ``key`` (its key id and its signature)."""
    if checkpoint.key_id != public_key_id(key):
        return False
    try:
        key.verify(base64.b64decode(checkpoint.signature, validate=True), checkpoint.message)
    except (InvalidSignature, ValueError):
        return False
    return True


def checkpoint_problem(
    checkpoint: SignedCheckpoint, key: ed25519.Ed25519PublicKey, store_id: str | None
) -> str | None:
    """Why ``checkpoint`` is not a genuine checkpoint of the store ``store_id`` (None: it is)."""
    if store_id is not None and checkpoint.store_id != store_id:
        return f"the checkpoint at position {checkpoint.position} names another store ({checkpoint.store_id})"
    if not signature_holds(checkpoint, key):
        return (
            f"the checkpoint at position {checkpoint.position} is not signed by the store's log signing "
            f"key (key id {public_key_id(key)}): it was altered or forged"
        )
    return None


# ----------------------------------------------------------------------------- both backends

CHECKPOINT_COLUMNS = "position, chain_hash, signed_at, store_id, key_id, signature"
CHECKPOINT_SQL: dict[str, str] = {
    "add": f"INSERT INTO {{p}}chain_checkpoints ({CHECKPOINT_COLUMNS}) VALUES (%(position)s, "
    "%(chain_hash)s, %(signed_at)s, %(store_id)s, %(key_id)s, %(signature)s) "
    "ON CONFLICT (position) DO NOTHING",
    "at": f"SELECT {CHECKPOINT_COLUMNS} FROM {{p}}chain_checkpoints WHERE position = %(position)s",
    "latest": f"SELECT {CHECKPOINT_COLUMNS} FROM {{p}}chain_checkpoints ORDER BY position DESC LIMIT 1",
    "range": f"SELECT {CHECKPOINT_COLUMNS} FROM {{p}}chain_checkpoints "
    "WHERE position > %(after)s AND position <= %(until)s ORDER BY position LIMIT %(limit)s",
}
