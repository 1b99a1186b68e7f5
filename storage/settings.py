"""Where the store lives: the eventsourcing persistence settings made from ``MYNACARD_DATABASE_URL``
(``storage_env``), those of each read model and of the consumers' checkpoints (``view_env``), and
what must exist before the library connects (``prepare_storage``).

The settings select a backend by ONE name, ``PERSISTENCE_MODULE`` (``storage.sqlite`` or
``storage.postgres``), whose ``StorageFactory`` makes every recorder of that backend (see
``storage``). ``APPLICATION_RECORDER_TOPIC`` is kept as well, naming the same backend's command-log
recorder, so an application class whose ``env`` names another recorder is overridden.

SQLite URLs: ``sqlite:////absolute/path.sqlite`` (four slashes) or ``sqlite:///name.sqlite`` /
``sqlite:name.sqlite`` (relative: resolved against the data directory). In-memory databases and
URLs with a host are refused: the CLI would acknowledge commands and keep nothing.

May import: the standard library, ``eventsourcing.utils``, ``storage.errors``, ``storage.files``
and the backends (for their recorders' topics; ``storage.postgres`` and psycopg lazily, when the
URL names PostgreSQL).
"""

from __future__ import annotations

import getpass
import re
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlparse

from eventsourcing.utils import get_topic

from storage.errors import ConfigurationError
from storage.files import writable_directory
from storage.sqlite import SQLiteCommandLogRecorder

SQLITE_MODULE = "storage.sqlite"
POSTGRES_MODULE = "storage.postgres"
_POSTGRES_MODULES = frozenset({POSTGRES_MODULE, "eventsourcing.postgres"})
POSTGRES_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
POSTGRES_URL_PARAMETERS: dict[str, tuple[str, int, int, int]] = {
    # name: (eventsourcing setting, default, minimum, maximum)
    "pool_size": ("POSTGRES_POOL_SIZE", 5, 1, 100),
    "max_overflow": ("POSTGRES_MAX_OVERFLOW", 10, 0, 1000),
    "lock_timeout": ("POSTGRES_LOCK_TIMEOUT", 5, 0, 3600),
    "connect_timeout": ("POSTGRES_CONNECT_TIMEOUT", 10, 1, 600),
}


class StorageSettings(Protocol):
    """The part of ``commands.config.Settings`` storage reads."""

    @property
    def data_dir(self) -> Path: ...

    @property
    def effective_database_url(self) -> str: ...


def storage_env(settings: StorageSettings) -> dict[str, str]:
    """The eventsourcing persistence settings for the configured database URL:
    ``sqlite:////absolute/file.sqlite``, ``sqlite:///relative.sqlite`` (in the data directory) or
    ``postgresql://user:password@host:5432/dbname?schema=mynacard&pool_size=5&max_overflow=10
    &lock_timeout=5&connect_timeout=10``. Anything else is a ``ConfigurationError`` naming the fix."""
    url = settings.effective_database_url
    try:
        parsed = urlparse(url)
    except ValueError as e:
        raise ConfigurationError(f"MYNACARD_DATABASE_URL: not a URL ({e})") from None
    if parsed.scheme == "sqlite":
        path = sqlite_path(settings, url)
        writable_directory(path.parent, "MYNACARD_DATABASE_URL")
        return {
            "PERSISTENCE_MODULE": SQLITE_MODULE,
            "SQLITE_DBNAME": str(path),
            "APPLICATION_RECORDER_TOPIC": get_topic(SQLiteCommandLogRecorder),
        }
    if parsed.scheme in {"postgresql", "postgres"}:
        return _postgres_env(parsed.query, parsed)
    raise ConfigurationError(
        f"MYNACARD_DATABASE_URL: unsupported scheme {parsed.scheme!r}; use sqlite:////path/to/file.sqlite "
        "or postgresql://user@host:5432/dbname"
    )


def sqlite_path(settings: StorageSettings, url: str) -> Path:
    """The file of a ``sqlite:`` URL (issue 8 item 9): a host, an in-memory database or a URI
    filename is refused; a relative path lies in the data directory."""
    rest = url.removeprefix("sqlite:")
    fix = "use sqlite:////absolute/path.sqlite or sqlite:///name.sqlite (in the data directory)"
    if rest.startswith("//") and not rest.startswith("///"):
        raise ConfigurationError(f"MYNACARD_DATABASE_URL: a sqlite URL has no host ({url!r}); {fix}")
    if "?" in rest or "#" in rest:
        raise ConfigurationError(f"MYNACARD_DATABASE_URL: a sqlite URL takes no parameters; {fix}")
    text = unquote(rest[3:] if rest.startswith("///") else rest)
    if not text or text.endswith("/"):
        raise ConfigurationError(f"MYNACARD_DATABASE_URL: the sqlite URL names no file; {fix}")
    name = Path(text).name
    if ":memory:" in text or name.startswith("file:") or text.startswith("file:") or "mode=memory" in text:
        raise ConfigurationError(
            "MYNACARD_DATABASE_URL: an in-memory database keeps nothing after the command ends, "
            f"so the CLI refuses it; {fix}"
        )
    path = Path(text)
    return path if path.is_absolute() else settings.data_dir / path


def _postgres_env(query_text: str, parsed: Any) -> dict[str, str]:
    from storage.postgres import PostgresCommandLogRecorder  # psycopg: PostgreSQL only

    query = {k: v[-1] for k, v in parse_qs(query_text, keep_blank_values=True).items()}
    unknown = set(query) - {"schema", *POSTGRES_URL_PARAMETERS}
    if unknown:
        raise ConfigurationError(
            f"MYNACARD_DATABASE_URL: unknown parameter {sorted(unknown)[0]!r}; known: "
            f"{', '.join(['schema', *POSTGRES_URL_PARAMETERS])}"
        )
    try:
        port = parsed.port or 5432
    except ValueError:
        raise ConfigurationError(
            "MYNACARD_DATABASE_URL: the port is not a number between 1 and 65535"
        ) from None
    schema = query.get("schema", "public")
    if not POSTGRES_IDENTIFIER.fullmatch(schema):
        raise ConfigurationError(
            f"MYNACARD_DATABASE_URL: schema {schema!r} is not a plain PostgreSQL identifier; use lower-case "
            "letters, digits and '_' (at most 63, not starting with a digit)"
        )
    env = {
        "PERSISTENCE_MODULE": POSTGRES_MODULE,
        "POSTGRES_DBNAME": unquote(parsed.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": parsed.hostname or "localhost",
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": unquote(parsed.username or "") or getpass.getuser(),
        "POSTGRES_PASSWORD": unquote(parsed.password or ""),
        "POSTGRES_SCHEMA": schema,
        "APPLICATION_RECORDER_TOPIC": get_topic(PostgresCommandLogRecorder),
    }
    for name, (setting, default, low, high) in POSTGRES_URL_PARAMETERS.items():
        text = query.get(name, str(default))
        if not text.isdigit() or not low <= int(text) <= high:
            raise ConfigurationError(
                f"MYNACARD_DATABASE_URL: {name}={text!r} is not a whole number from {low} to {high}"
            )
        env[setting] = str(int(text))
    return env


def is_postgres(env: dict[str, str]) -> bool:
    """Whether ``env`` selects PostgreSQL (``storage.postgres``, or the library's own module)."""
    return env.get("PERSISTENCE_MODULE") in _POSTGRES_MODULES


def postgres_conninfo(env: dict[str, str]) -> str:
    """A libpq connection string from the eventsourcing PostgreSQL settings."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(
        host=env["POSTGRES_HOST"],
        port=env["POSTGRES_PORT"],
        dbname=env["POSTGRES_DBNAME"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"] or None,
        connect_timeout=env.get("POSTGRES_CONNECT_TIMEOUT", "10"),
    )


def prepare_storage(env: dict[str, str]) -> None:
    """Create what the library does not: the SQLite file's directory, PostgreSQL's schema. On
    PostgreSQL one connection is tried first, so an unreachable server fails within
    ``connect_timeout`` with the driver's own message (the library's pool would wait and hide it)."""
    if not is_postgres(env):
        writable_directory(Path(env["SQLITE_DBNAME"]).parent, "MYNACARD_DATABASE_URL")
        return
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(postgres_conninfo(env), autocommit=True) as conn:
            if env.get("POSTGRES_SCHEMA", "public") != "public":
                schema = sql.Identifier(env["POSTGRES_SCHEMA"])
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
    except psycopg.Error as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise ConfigurationError(
            f"MYNACARD_DATABASE_URL: cannot use PostgreSQL at {env['POSTGRES_HOST']}:{env['POSTGRES_PORT']} "
            f"(database {env['POSTGRES_DBNAME']!r}): {reason}; check that the server runs and the URL, "
            "user and password are right"
        ) from None


def view_env(settings: StorageSettings, projection: str) -> dict[str, str]:
    """Persistence settings of a projection's view (or of the consumers' checkpoints): on SQLite a
    file of its own beside the event store (the library's SQLite tracking table is not prefixed);
    on PostgreSQL the event store's database with a small pool (tables prefixed by the name)."""
    events = storage_env(settings)
    if not is_postgres(events):
        path = Path(events["SQLITE_DBNAME"])
        return {
            "PERSISTENCE_MODULE": events["PERSISTENCE_MODULE"],
            "SQLITE_DBNAME": str(path.with_name(f"{path.stem}-{projection}{path.suffix or '.sqlite'}")),
        }
    view = dict(events)
    view.pop("APPLICATION_RECORDER_TOPIC", None)
    view["POSTGRES_POOL_SIZE"] = "2"
    view["POSTGRES_MAX_OVERFLOW"] = "2"
    return view
