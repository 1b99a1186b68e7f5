"""Which storage the tests run on: SQLite files by default; PostgreSQL when
``MYNACARD_TEST_DATABASE_URL`` is set (e.g. ``postgresql://root@127.0.0.1:5432/test``). Each
test then gets a schema of its own, dropped at the end of the session, so tests never see each
other's events. CI runs the whole suite once per backend.

``raw_storage(settings_or_env)`` returns what a store holds as it lies in the database (the SQLite
files' bytes, or every row of every table of the schema), for the tests that prove that nothing
secret is stored in clear."""

from __future__ import annotations

import atexit
import os
from collections.abc import Mapping
from pathlib import Path
from uuid import uuid4

from commands.config import Settings
from storage.settings import is_postgres, postgres_conninfo, prepare_storage, storage_env

TEST_DATABASE_URL = os.environ.get("MYNACARD_TEST_DATABASE_URL", "").strip()
POSTGRES = TEST_DATABASE_URL.startswith(("postgresql://", "postgres://"))
BACKEND = "postgres" if POSTGRES else "sqlite"
_schemas: list[tuple[str, dict[str, str]]] = []


def database_url(tmp_path: Path, name: str = "mynacard") -> str:
    """A database of its own for one test: a SQLite file in ``tmp_path`` or a fresh schema."""
    if not POSTGRES:
        return f"sqlite:///{tmp_path / f'{name}.sqlite'}"
    schema = f"t_{uuid4().hex[:16]}"
    sep = "&" if "?" in TEST_DATABASE_URL else "?"
    url = f"{TEST_DATABASE_URL}{sep}schema={schema}&pool_size=2&max_overflow=3"
    env = storage_env(Settings(database_url=url, data_dir=tmp_path))
    prepare_storage(env)
    _schemas.append((schema, env))
    return url


_urls_by_dir: dict[Path, str] = {}


def url_of(data_dir: Path) -> str:
    """The database of a data directory (made once, on first use): subprocesses of the CLI get it
    as MYNACARD_DATABASE_URL so they share the test's store on either backend."""
    key = Path(data_dir).resolve()
    if key not in _urls_by_dir:
        _urls_by_dir[key] = database_url(Path(data_dir))
    return _urls_by_dir[key]


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI subprocess on a test's data directory and database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYNACARD_")}
    env.update(MYNACARD_DATA_DIR=str(data_dir), MYNACARD_DATABASE_URL=url_of(data_dir), **extra)
    return env


def settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings of a test: data directory ``tmp_path`` and its database (the same one the CLI's
    subprocesses get through ``cli_env``)."""
    values: dict[str, object] = {"data_dir": tmp_path, "database_url": url_of(tmp_path)}
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def event_store_env(tmp_path: Path, name: str = "events") -> dict[str, str]:
    """eventsourcing settings for a ``CardLifecycle`` built directly (no encryption)."""
    return storage_env(Settings(data_dir=tmp_path, database_url=database_url(tmp_path, name)))


STORAGE_KEYS = ("PERSISTENCE_MODULE", "APPLICATION_RECORDER_TOPIC", "SQLITE_", "POSTGRES_")


def store_env_of(env: Mapping[str, str]) -> dict[str, str]:
    """The storage settings of a running application's ``app.env`` (which also holds the
    process environment): to open more applications on the very same store."""
    return {k: v for k, v in env.items() if k.startswith(STORAGE_KEYS)}


def raw_storage(where: Settings | Mapping[str, str]) -> dict[str, bytes]:
    """Everything a store holds, as it lies in the database, by part.

    On SQLite: the bytes of every file of the store (the event store's file with its ``-wal`` and
    ``-shm``, and the read models' files beside it, ``<stem>-<projection>.sqlite``), by file name.
    On PostgreSQL: every row of every table in the store's schema (``bytea`` columns as stored,
    other columns as their text form, one line per row), by ``table``. ``where`` is the
    ``Settings`` of the store or the eventsourcing settings of an application (``app.env``)."""
    env = storage_env(where) if isinstance(where, Settings) else dict(where)
    if not is_postgres(env):
        db = Path(env["SQLITE_DBNAME"])
        files = sorted(
            p
            for p in db.parent.iterdir()
            if p.is_file() and (p.name.startswith(db.name) or p.name.startswith(f"{db.stem}-"))
        )
        return {p.name: p.read_bytes() for p in files}
    import psycopg
    from psycopg import sql

    schema = env.get("POSTGRES_SCHEMA", "public")
    parts: dict[str, bytes] = {}
    with psycopg.connect(postgres_conninfo(env), autocommit=True) as conn:
        columns: dict[str, list[tuple[str, str]]] = {}
        for table, column, data_type in conn.execute(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = %s AND t.table_type = 'BASE TABLE' "
            "ORDER BY c.table_name, c.ordinal_position",
            (schema,),
        ):
            columns.setdefault(table, []).append((column, data_type))
        for table, cols in columns.items():
            selected = sql.SQL(", ").join(
                sql.Identifier(name)
                if data_type == "bytea"
                else sql.SQL("{}::text").format(sql.Identifier(name))
                for name, data_type in cols
            )
            query = sql.SQL("SELECT {} FROM {}.{}").format(
                selected, sql.Identifier(schema), sql.Identifier(table)
            )
            rows = conn.execute(query).fetchall()
            parts[table] = b"".join(
                b"\x1f".join(
                    b"" if v is None else bytes(v) if isinstance(v, (bytes, memoryview)) else v.encode()
                    for v in row
                )
                + b"\n"
                for row in rows
            )
    return parts


def raw_storage_bytes(where: Settings | Mapping[str, str]) -> bytes:
    """All of ``raw_storage(where)`` in one: what a scan for secrets in clear reads."""
    return b"\n".join(raw_storage(where).values())


def drop_schemas() -> None:
    if not _schemas:
        return
    import psycopg
    from psycopg import sql

    with psycopg.connect(postgres_conninfo(_schemas[0][1]), autocommit=True) as conn:
        for schema, _ in _schemas:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    _schemas.clear()


atexit.register(drop_schemas)


def tamper(
    settings_: Settings, sqlite_file: str, table: str, statement: str, params: tuple[object, ...]
) -> int:
    """Change a view's table behind the projection's back (``{table}`` in ``statement``); returns
    the rows changed. SQLite: ``sqlite_file`` in the data directory; PostgreSQL: the projection's
    table in the test's schema."""
    if not POSTGRES:
        import sqlite3

        with sqlite3.connect(Path(settings_.data_dir) / sqlite_file) as db:
            return db.execute(statement.format(table=table), params).rowcount
    import psycopg
    from psycopg import sql

    env = storage_env(settings_)
    with psycopg.connect(postgres_conninfo(env), autocommit=True) as conn:
        name = (
            sql.SQL("{}.{}")
            .format(sql.Identifier(env["POSTGRES_SCHEMA"]), sql.Identifier(table))
            .as_string(conn)
        )
        return conn.execute(statement.format(table=name).replace("?", "%s"), params).rowcount
