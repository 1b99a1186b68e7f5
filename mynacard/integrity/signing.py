"""The log's signing key (署名鍵): an Ed25519 key that signs checkpoints of the hash chain and
validity receipts (issue 13), so that what the service said can be checked without its database.

- **Embedded default**: made on first use in the data directory (``log-signing.key``, PKCS#8
  PEM, 0600, created atomically: of processes making it at once, the first one's stays).
- **Production**: supplied, ``MYNACARD_SIGNING_KEY`` names a PEM (or DER) Ed25519 private key.

Either way the key is **bound to the store**: the fingerprint of its public key is recorded once
as the store mark ``log_signing_key`` and a later open with another key is a
``ConfigurationError`` naming the file (a missing key is never made anew once one was recorded:
its signatures would not verify against what relying parties hold).

``key_id`` is the first 16 hex digits of SHA-256 over the raw 32-byte public key; the full
fingerprint is all 64. Verifying needs only the public key (``public_key_pem``, served at
``GET /checkpoints/public-key``), never this module's files: ``verify_signature``.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from storage.errors import ConfigurationError
from storage.files import create_exclusively, writable_directory

SIGNING_KEY_FILE = "log-signing.key"
SIGNING_KEY_MARK = "log_signing_key"
"""The store mark that binds the signing key to the store (its public key's fingerprint)."""
KEY_ID_HEX = 16


class StoreMarks(Protocol):
    """Where the binding is recorded (``storage.interface.CommandLog``)."""

    def store_mark(self, name: str) -> str | None: ...

    def set_store_mark(self, name: str, value: str) -> None: ...


class SigningSettings(Protocol):
    """The part of ``commands.config.Settings`` the signing key depends on."""

    @property
    def data_dir(self) -> Path: ...

    @property
    def signing_key(self) -> Path | None: ...


def raw_public_key(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint_of(key: ed25519.Ed25519PublicKey) -> str:
    """SHA-256 (hex) of the raw 32-byte public key."""
    return hashlib.sha256(raw_public_key(key)).hexdigest()


@dataclass(frozen=True)
class LogSigner:
    """The store's signing key; ``source`` names its file."""

    private_key: ed25519.Ed25519PrivateKey
    source: str

    @cached_property
    def public_key(self) -> ed25519.Ed25519PublicKey:
        return self.private_key.public_key()

    @cached_property
    def fingerprint(self) -> str:
        return fingerprint_of(self.public_key)

    @property
    def key_id(self) -> str:
        return self.fingerprint[:KEY_ID_HEX]

    @cached_property
    def public_key_pem(self) -> str:
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def sign(self, message: bytes) -> str:
        """The Ed25519 signature of ``message``, base64 (standard alphabet, padded)."""
        return base64.b64encode(self.private_key.sign(message)).decode()


def load_public_key(data: bytes | str, source: str) -> ed25519.Ed25519PublicKey:
    """An Ed25519 public key from PEM (SubjectPublicKeyInfo), DER, or the raw 32 bytes as hex."""
    raw = data.encode() if isinstance(data, str) else data
    text = raw.strip()
    try:
        if len(text) == 64 and all(c in b"0123456789abcdefABCDEF" for c in text):
            return ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(text.decode()))
        if text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(text)
        else:
            key = serialization.load_der_public_key(raw)
    except (ValueError, UnsupportedAlgorithm) as e:
        raise ConfigurationError(f"{source}: not a public key ({e})") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ConfigurationError(f"{source}: not an Ed25519 public key")
    return key


def verify_signature(public_key: ed25519.Ed25519PublicKey, message: bytes, signature: str) -> bool:
    """True when ``signature`` (base64) is ``public_key``'s Ed25519 signature of ``message``."""
    try:
        public_key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def open_log_signer(settings: SigningSettings, marks: StoreMarks) -> LogSigner:
    """The store's signing key (supplied, or the data directory's, made on first use), bound to
    the store (see the module docstring)."""
    recorded = marks.store_mark(SIGNING_KEY_MARK)
    if settings.signing_key is not None:
        signer = _supplied(settings.signing_key)
    else:
        signer = _local(settings, bound=recorded is not None)
    if recorded is None:
        marks.set_store_mark(SIGNING_KEY_MARK, signer.fingerprint)
        recorded = marks.store_mark(SIGNING_KEY_MARK)
    if recorded != signer.fingerprint:
        raise ConfigurationError(
            f"the log signing key ({signer.source}) is not the one this store recorded (key id "
            f"{str(recorded)[:KEY_ID_HEX]}, this one {signer.key_id}): checkpoints and receipts already "
            f"given out verify only against the recorded key; restore {SIGNING_KEY_FILE} (data "
            "directory) or the file MYNACARD_SIGNING_KEY names from backup (nothing was signed)"
        )
    return signer


def _supplied(path: Path) -> LogSigner:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigurationError(
            f"MYNACARD_SIGNING_KEY: cannot read {path} ({e.strerror}); name a readable Ed25519 private key"
        ) from None
    return LogSigner(_private_key(data, f"MYNACARD_SIGNING_KEY ({path})"), str(path))


def _local(settings: SigningSettings, *, bound: bool) -> LogSigner:
    writable_directory(settings.data_dir, "MYNACARD_DATA_DIR")
    path = settings.data_dir / SIGNING_KEY_FILE
    if not path.exists():
        if bound:
            raise ConfigurationError(
                f"the log signing key of this store is missing ({path}): checkpoints and receipts "
                f"given out verify only against it; restore {SIGNING_KEY_FILE} from backup or set "
                "MYNACARD_SIGNING_KEY to it (nothing was signed)"
            )
        new = ed25519.Ed25519PrivateKey.generate()
        pem = new.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        create_exclusively(path, pem.decode())
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ConfigurationError(f"cannot read the log signing key {path} ({e.strerror})") from None
    return LogSigner(_private_key(data, str(path)), str(path))


def _private_key(data: bytes, source: str) -> ed25519.Ed25519PrivateKey:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise ConfigurationError(
            f"{source}: not an unencrypted private key ({e}); supply an Ed25519 key in PEM or DER"
        ) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigurationError(f"{source}: the log signing key must be an Ed25519 key")
    return key
