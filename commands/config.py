"""Configuration: where the data lives, which database, which policies, which clock.

Everything comes from ``MYNACARD_*`` environment variables (pydantic-settings), overridable by
CLI options. Defaults: a SQLite file in the data directory (created on first use), the spec's
policies, the system clock.

| variable | default | meaning |
|---|---|---|
| ``MYNACARD_DATA_DIR`` | ``$XDG_DATA_HOME/mynacard`` (``~/.local/share/mynacard``) | data directory |
| ``MYNACARD_DATABASE_URL`` | ``sqlite:///<data dir>/mynacard.sqlite`` | the event store |
| ``MYNACARD_HOLDER_KEY`` | a key file created in the data directory | key of the holder hash (hex) |
| ``MYNACARD_CIPHER_KEYS`` | ``cipher.keys`` in the data directory (0600) | encryption key ring |
| ``MYNACARD_NOW`` | the system clock | fix the current time (reproducible scripts) |
| ``MYNACARD_ACTOR`` | the login name | who records commands |
| ``MYNACARD_POLICIES__<NAME>`` | the spec's decisions | e.g. ``MYNACARD_POLICIES__FEB29_BIRTHDAY=mar1`` |
"""

from __future__ import annotations

import getpass
import os
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from eventsourcing.utils import get_topic
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from commands.bound_mapper import BoundMapper
from commands.command_log import PostgresCommandLogRecorder, SQLiteCommandLogRecorder
from commands.crypto import (
    KeyRingCipher,
    RingKey,
    new_key,
    parse_ring,
    read_ring_file,
    ring_text,
    write_ring_file,
)
from commands.fields import InputDateTime
from commands.private_files import create_exclusively
from lifecycle.policies import Policies

KEY_FILE = "holder.key"
CIPHER_KEY_FILE = "cipher.keys"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "mynacard"


class Settings(BaseSettings):
    """mynacard's settings (see the module docstring for the variables)."""

    model_config = SettingsConfigDict(env_prefix="MYNACARD_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    holder_key: SecretStr | None = None
    cipher_keys: SecretStr | None = None
    """The encryption key ring, ``id:base64,…`` newest last (default: the ring file)."""
    now: InputDateTime | None = None
    actor: str | None = None
    policies: Policies = Field(default_factory=Policies)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'mynacard.sqlite'}"

    def default_actor(self) -> str:
        if self.actor:
            return self.actor
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"


class ConfigurationError(Exception):
    """The configuration cannot be used; the message says which setting and what to do."""


def storage_env(settings: Settings) -> dict[str, str]:
    """The eventsourcing persistence settings for the configured database URL:
    ``sqlite:///path/file.sqlite`` or
    ``postgresql://user:password@host:5432/dbname?schema=public&pool_size=5&max_overflow=10``."""
    url = settings.effective_database_url
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = Path(unquote(parsed.path))
        if url.startswith("sqlite:////"):
            path = Path("/" + unquote(parsed.path).lstrip("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(path),
            "APPLICATION_RECORDER_TOPIC": get_topic(SQLiteCommandLogRecorder),
        }
    if parsed.scheme in {"postgresql", "postgres"}:
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        unknown = set(query) - {"schema", "pool_size", "max_overflow", "lock_timeout"}
        if unknown:
            raise ConfigurationError(f"MYNACARD_DATABASE_URL: unknown parameter {sorted(unknown)[0]!r}")
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": unquote(parsed.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": parsed.hostname or "localhost",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": unquote(parsed.username or "") or getpass.getuser(),
            "POSTGRES_PASSWORD": unquote(parsed.password or ""),
            "POSTGRES_SCHEMA": query.get("schema", "public"),
            "POSTGRES_POOL_SIZE": query.get("pool_size", "5"),
            "POSTGRES_MAX_OVERFLOW": query.get("max_overflow", "10"),
            "POSTGRES_LOCK_TIMEOUT": query.get("lock_timeout", "5"),
            "APPLICATION_RECORDER_TOPIC": get_topic(PostgresCommandLogRecorder),
        }
    raise ConfigurationError(
        f"MYNACARD_DATABASE_URL: unsupported scheme {parsed.scheme!r}; use sqlite:///path/to/file.sqlite "
        "or postgresql://user@host:5432/dbname"
    )


def is_postgres(env: dict[str, str]) -> bool:
    return env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres"


def postgres_conninfo(env: dict[str, str]) -> str:
    """A libpq connection string from the eventsourcing PostgreSQL settings."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        dbname=env["POSTGRES_DBNAME"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"] or None,
        connect_timeout="10",
    )


def prepare_storage(env: dict[str, str]) -> None:
    """Create what the library does not: on PostgreSQL, the configured schema."""
    if not is_postgres(env) or env.get("POSTGRES_SCHEMA", "public") == "public":
        return
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(postgres_conninfo(env), autocommit=True) as conn:
            schema = sql.Identifier(env["POSTGRES_SCHEMA"])
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
    except psycopg.OperationalError as e:
        raise ConfigurationError(f"MYNACARD_DATABASE_URL: cannot connect to PostgreSQL: {e}") from None


def cipher_env(ring: list[RingKey]) -> dict[str, str]:
    """Compress, then encrypt with the key ring (the library's mapper order)."""
    return {
        "CIPHER_TOPIC": get_topic(KeyRingCipher),
        "CIPHER_KEY": ",".join(k.text() for k in ring),
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        "MAPPER_TOPIC": get_topic(BoundMapper),
    }


def key_ring(settings: Settings) -> list[RingKey] | None:
    """The encryption key ring: ``MYNACARD_CIPHER_KEYS`` or the ring file in the data directory
    (None when neither exists yet: the caller creates it for an empty store only)."""
    if settings.cipher_keys is not None:
        try:
            return parse_ring(settings.cipher_keys.get_secret_value())
        except ValueError as e:
            raise ConfigurationError(f"MYNACARD_CIPHER_KEYS: {e}") from None
    try:
        return read_ring_file(settings.data_dir / CIPHER_KEY_FILE)
    except ValueError as e:
        raise ConfigurationError(
            f"{settings.data_dir / CIPHER_KEY_FILE}: {e}; restore it from backup"
        ) from None


def create_key_ring(settings: Settings) -> list[RingKey]:
    """The first key ring of a new store. Processes starting the same new store at once all end
    with the ring of the first one to publish it (never one ring each)."""
    ring = [new_key([])]
    create_exclusively(settings.data_dir / CIPHER_KEY_FILE, ring_text(ring))
    found = key_ring(settings)
    assert found is not None
    return found


def rotate_key(settings: Settings) -> RingKey:
    """Add a new key to the ring file: new events use it; old ones stay readable."""
    if settings.cipher_keys is not None:
        raise ConfigurationError(
            "the key ring comes from MYNACARD_CIPHER_KEYS: append a key there ('id:base64', newest last)"
        )
    ring = key_ring(settings)
    if ring is None:
        raise ConfigurationError("there is no key ring yet: it is created with the first event")
    key = new_key(ring)
    write_ring_file(settings.data_dir / CIPHER_KEY_FILE, [*ring, key])
    return key


def view_env(settings: Settings, projection: str) -> dict[str, str]:
    """Persistence settings of a projection's view: on SQLite a file of its own beside the event
    store (the library's SQLite tracking table is not prefixed)."""
    events = storage_env(settings)
    if events["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        path = Path(events["SQLITE_DBNAME"])
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(path.with_name(f"{path.stem}-{projection}{path.suffix or '.sqlite'}")),
        }
    view = dict(events)
    view.pop("APPLICATION_RECORDER_TOPIC", None)
    view["POSTGRES_POOL_SIZE"] = "2"
    view["POSTGRES_MAX_OVERFLOW"] = "2"
    return view


def holder_key(settings: Settings) -> bytes:
    """The key of the holder hash: from configuration, else a key file made on first use (0600)."""
    if settings.holder_key is not None:
        try:
            key = bytes.fromhex(settings.holder_key.get_secret_value())
        except ValueError:
            raise ConfigurationError("MYNACARD_HOLDER_KEY: give the key as hex (64 hex digits)") from None
        if len(key) < 16:
            raise ConfigurationError("MYNACARD_HOLDER_KEY: the key has at least 16 bytes (32 hex digits)")
        return key
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        create_exclusively(path, secrets.token_hex(32) + "\n")
    text = path.read_text().strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ConfigurationError(f"{path}: not a hex key; restore it from backup") from None
    if len(key) < 16:
        raise ConfigurationError(
            f"{path}: the key has {len(key)} bytes (at least 16); restore it from backup"
        )
    return key


def clock_for(settings: Settings) -> Callable[[], datetime] | None:
    """A fixed clock when ``MYNACARD_NOW`` is set, else None (the system clock)."""
    if settings.now is None:
        return None
    fixed = settings.now
    return lambda: fixed
