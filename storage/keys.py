"""The store's key files: the key of the holder hash (``holder.key``) and the encryption key ring
(``cipher.keys``), read from settings or from 0600 files in the data directory, made on first use,
rotated under a lock; and the eventsourcing cipher settings that use the ring (``cipher_env``).

Both sides need them: the write side to encrypt and to hash My Numbers, the read side to decrypt
the log it follows. ``mynacard.bootstrap`` binds them to the store.

May import: the standard library, ``eventsourcing.utils``, pydantic and ``storage``.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory, Mapper
from eventsourcing.utils import get_topic
from pydantic import SecretStr

from storage.bound_mapper import BoundMapper
from storage.crypto import (
    RING_FILE_SETTING,
    KeyRingCipher,
    RingKey,
    new_key,
    parse_ring,
    ring_text,
    write_ring_file,
)
from storage.erasable import PersonalFieldCipher
from storage.errors import ConfigurationError
from storage.files import create_exclusively, writable_directory
from storage.interface import StorageFactory

KEY_FILE = "holder.key"
CIPHER_KEY_FILE = "cipher.keys"
RING_LOCK_FILE = ".cipher.keys.lock"
MAX_KEY_ID = 2**32 - 1
"""Key ids are stored as 4 bytes in front of every ciphertext."""


class KeySettings(Protocol):
    """The part of ``commands.config.Settings`` the key files depend on."""

    @property
    def data_dir(self) -> Path: ...

    @property
    def holder_key(self) -> SecretStr | None: ...

    @property
    def cipher_keys(self) -> SecretStr | None: ...


def ensure_data_dir(settings: KeySettings) -> Path:
    """The data directory, made on first use; a file, or a directory that cannot be written, is a
    configuration error (issue 8 item 10)."""
    writable_directory(settings.data_dir, "MYNACARD_DATA_DIR")
    return settings.data_dir


def cipher_env(ring: list[RingKey], ring_file: Path | None = None) -> dict[str, str]:
    """Compress, then encrypt with the key ring (the library's mapper order); with the ring's
    file, a key another process adds later is found when a payload names it."""
    env = {
        "CIPHER_TOPIC": get_topic(KeyRingCipher),
        "CIPHER_KEY": ",".join(k.text() for k in ring),
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        "MAPPER_TOPIC": get_topic(BoundMapper),
    }
    if ring_file is not None:
        env[RING_FILE_SETTING] = str(ring_file)
    return env


def erasable_fields(factory: InfrastructureFactory[Any], mapper: Mapper[UUID]) -> PersonalFieldCipher | None:
    """Attach the person keys of the store (issue 13) to a mapper that encrypts with the key
    ring, so personal fields are kept erasable; None (nothing attached) without a key ring or on
    a backend without person keys."""
    if not isinstance(mapper, BoundMapper) or mapper.ring is None or not isinstance(factory, StorageFactory):
        return None
    personal = PersonalFieldCipher(factory.person_keys(), mapper.ring, mapper.transcoder)
    mapper.attach_personal(personal)
    return personal


def ring_file(settings: KeySettings) -> Path | None:
    """The ring's file, unless the ring comes from ``MYNACARD_CIPHER_KEYS``."""
    return None if settings.cipher_keys is not None else settings.data_dir / CIPHER_KEY_FILE


def key_fingerprint(secret: bytes) -> str:
    """What the store records of a key: a hash that identifies it and reveals nothing of it."""
    return hashlib.sha256(b"mynacard key fingerprint/1\x00" + secret).hexdigest()[:32]


def ring_fingerprints(ring: list[RingKey]) -> dict[int, str]:
    return {k.key_id: key_fingerprint(base64.b64decode(k.secret)) for k in ring}


def _read_private(path: Path) -> str | None:
    """A key file's text (None when there is none); an unreadable one is a configuration error."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) else "not text"
        raise ConfigurationError(
            f"{path}: cannot read the key file ({reason}); fix its permissions (owner read, 0600) "
            "or restore it from backup"
        ) from None


def _checked_ring(ring: list[RingKey], where: str) -> list[RingKey]:
    ids = [k.key_id for k in ring]
    if any(i > MAX_KEY_ID for i in ids):
        raise ConfigurationError(f"{where}: key ids are whole numbers below 2^32")
    if len(set(ids)) != len(ids):
        raise ConfigurationError(f"{where}: a key id appears twice; every key has its own id")
    return ring


def key_ring(settings: KeySettings) -> list[RingKey] | None:
    """The encryption key ring: ``MYNACARD_CIPHER_KEYS`` or the ring file in the data directory
    (None when neither exists yet: the caller creates it for an empty store only)."""
    if settings.cipher_keys is not None:
        try:
            ring = parse_ring(settings.cipher_keys.get_secret_value())
        except (ValueError, binascii.Error) as e:
            raise ConfigurationError(f"MYNACARD_CIPHER_KEYS: {e}") from None
        return _checked_ring(ring, "MYNACARD_CIPHER_KEYS")
    path = settings.data_dir / CIPHER_KEY_FILE
    text = _read_private(path)
    if text is None:
        return None
    try:
        ring = parse_ring(text)
    except (ValueError, binascii.Error) as e:
        raise ConfigurationError(f"{path}: {e}; restore it from backup") from None
    return _checked_ring(ring, str(path))


def create_key_ring(settings: KeySettings) -> list[RingKey]:
    """The first key ring of a new store. Processes starting the same new store at once all end
    with the ring of the first one to publish it (never one ring each)."""
    ring = [new_key([])]
    create_exclusively(settings.data_dir / CIPHER_KEY_FILE, ring_text(ring))
    found = key_ring(settings)
    assert found is not None
    return found


@contextmanager
def ring_lock(settings: KeySettings) -> Iterator[None]:
    """Serialise changes of the ring file (issue 8 item 1): an exclusive ``flock`` on a lock file
    in the data directory, released when the holder ends, however it ends."""
    path = ensure_data_dir(settings) / RING_LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def rotate_key(settings: KeySettings, recorded_ids: Callable[[], set[int]] = set) -> RingKey:
    """Add a new key to the ring file: new events use it; old ones stay readable. Rotations are
    serialised by ``ring_lock``; the new id follows every id in the ring and every id the store
    has recorded (``recorded_ids``), so an id is never reused."""
    if settings.cipher_keys is not None:
        raise ConfigurationError(
            "the key ring comes from MYNACARD_CIPHER_KEYS: append a key there ('id:base64', newest last)"
        )
    with ring_lock(settings):
        ring = key_ring(settings)
        if ring is None:
            raise ConfigurationError("there is no key ring yet: it is created with the first event")
        taken = [*ring, *(RingKey(i, "") for i in recorded_ids())]
        key = new_key(taken)
        write_ring_file(settings.data_dir / CIPHER_KEY_FILE, [*ring, key])
    return key


def configured_holder_key(settings: KeySettings) -> bytes | None:
    """The key of the holder hash from ``MYNACARD_HOLDER_KEY`` or the key file; None when
    neither exists (only a new store may then make one: ``create_holder_key``)."""
    if settings.holder_key is not None:
        try:
            key = bytes.fromhex(settings.holder_key.get_secret_value())
        except ValueError:
            raise ConfigurationError("MYNACARD_HOLDER_KEY: give the key as hex (64 hex digits)") from None
        if len(key) < 16:
            raise ConfigurationError("MYNACARD_HOLDER_KEY: the key has at least 16 bytes (32 hex digits)")
        return key
    path = settings.data_dir / KEY_FILE
    text = _read_private(path)
    if text is None:
        return None
    try:
        key = bytes.fromhex(text.strip())
    except ValueError:
        raise ConfigurationError(f"{path}: not a hex key; restore it from backup") from None
    if len(key) < 16:
        raise ConfigurationError(
            f"{path}: the key has {len(key)} bytes (at least 16); restore it from backup"
        )
    return key


def create_holder_key(settings: KeySettings) -> bytes:
    """A new holder key file (0600); of processes making it at once, the first one's wins."""
    create_exclusively(ensure_data_dir(settings) / KEY_FILE, secrets.token_hex(32) + "\n")
    key = configured_holder_key(settings)
    assert key is not None
    return key


def holder_key(settings: KeySettings) -> bytes:
    """The key of the holder hash: from configuration, else a key file made on first use (0600)."""
    return configured_holder_key(settings) or create_holder_key(settings)
