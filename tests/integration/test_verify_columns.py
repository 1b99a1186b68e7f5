"""``mynacard verify`` compares every column of every read-model table and every tracking
position with a fold of the log (issue 8 item 5), and reports a broken log instead of crashing
(issue 8 item 10).

The tables and their columns are discovered from the database (the SQLite view files, or the
test's PostgreSQL schema), so a column added to a view is covered here without a change. Each
column of one row of each table is edited in turn behind the projections' back; ``verify`` must
report a difference (and leave the edit where it is: it repairs nothing); then the value is put
back. Each table also loses a row, and each tracking position moves +5 and -1.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from commands import models as m
from commands.application import CardLifecycle
from commands.config import Settings
from mynacard.bootstrap import open_read_side, open_write_side, upstream_of
from projections import runner
from projections.read_side import ReadSide
from projections.verify import VerifyReport, verify
from storage.integrity import StoreIntegrityError, TamperingDetected
from storage.settings import postgres_conninfo, storage_env
from tests.helpers import backend
from tests.helpers.support import Clock, Story, all_to_active, my_number

VIEWS = ("lifecycle_view", "revocation_list")
REFUSED_BY_THE_DATABASE = {("revocation_list", "id")}
"""Edits the database itself refuses (the list number table's single row has id 1, a CHECK)."""


# ----------------------------------------------------------------------------- the store


def build_store(settings: Settings) -> CardLifecycle:
    """Four cards through the service (encrypted, as the CLI stores them): three handed over,
    the second suspended and lifted (a hold and its release on the list), the third lost
    (revocations), the fourth only applied for (empty columns)."""
    app = open_write_side(settings)
    clock = Clock("2020-05-01T09:00")
    app.clock = clock
    stories = [Story(app, clock, my_number_=my_number(8_900_000 + i)) for i in range(4)]
    all_to_active(stories[:3])
    stories[1].run(m.SuspendCard, "2021-01-01T10:00")
    stories[1].run(m.LiftSuspension, "2021-01-02T10:00")
    stories[2].run(m.ReportLoss, "2021-02-02T10:00", lost_at_home=True, effective_at="2021-02-01T22:00")
    stories[3].apply("2021-03-01T09:00", photo_taken_on="2021-01-15")
    return app


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Settings, CardLifecycle, ReadSide]]:
    settings = backend.settings(tmp_path)
    app = build_store(settings)
    read = open_read_side(settings, upstream_of(app))
    read.catch_up()
    try:
        yield settings, app, read
    finally:
        app.close()


# ----------------------------------------------------------------------------- raw access


class RawViews:
    """The read models' tables as they lie in the database, found from its schema: on SQLite
    every table of the view files ``<store>-<projection>.sqlite``, on PostgreSQL every table of
    the test's schema named ``<projection>_…``. Rows are dicts; ``?`` placeholders."""

    def __init__(self, settings: Settings) -> None:
        self.env = storage_env(settings)
        self.data_dir = Path(settings.data_dir)

    # -- schema

    def tables(self) -> dict[tuple[str, str], dict[str, str]]:
        """(projection, table) -> {column: declared type}, for every table of every view."""
        out: dict[tuple[str, str], dict[str, str]] = {}
        if not backend.POSTGRES:
            for view in VIEWS:
                with self._sqlite(view) as db:
                    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
                    for name in names:
                        if not name.startswith("sqlite_"):
                            info = db.execute(f'PRAGMA table_info("{name}")').fetchall()
                            out[view, name] = {r[1]: r[2].lower() for r in info}
            return out
        with self._postgres() as conn:
            for table, column, data_type in conn.execute(
                "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
                "WHERE c.table_schema = %s ORDER BY c.table_name, c.ordinal_position",
                (self.schema,),
            ):
                view = next((v for v in VIEWS if table.startswith(f"{v}_")), None)
                if view is not None:
                    out.setdefault((view, table), {})[column] = data_type
        return out

    def key(self, view: str, table: str) -> list[str]:
        """The primary key columns of a table."""
        if not backend.POSTGRES:
            with self._sqlite(view) as db:
                info = db.execute(f'PRAGMA table_info("{table}")').fetchall()
            return [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]]
        with self._postgres() as conn:
            rows = conn.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary",
                (f'"{self.schema}"."{table}"',),
            ).fetchall()
        return [r[0] for r in rows]

    # -- rows

    def rows(self, view: str, table: str) -> list[dict[str, Any]]:
        key = self.key(view, table)
        order = ", ".join(f'"{k}"' for k in key)
        return [dict(r) for r in self.query(view, f"SELECT * FROM {{table}} ORDER BY {order}", table)]

    def query(self, view: str, statement: str, table: str, params: tuple[Any, ...] = ()) -> list[Any]:
        if not backend.POSTGRES:
            with self._sqlite(view) as db:
                db.row_factory = sqlite3.Row
                return list(db.execute(statement.format(table=f'"{table}"'), params))
        from psycopg.rows import dict_row

        with self._postgres() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(statement.format(table=f'"{self.schema}"."{table}"').replace("?", "%s"), params)
            return list(cur.fetchall())

    def execute(self, view: str, statement: str, table: str, params: tuple[Any, ...] = ()) -> int:
        """Run one statement on a table (``{table}``); returns the rows changed."""
        if not backend.POSTGRES:
            with self._sqlite(view) as db:
                changed = db.execute(statement.format(table=f'"{table}"'), params).rowcount
                db.commit()
                return changed
        with self._postgres() as conn:
            statement = statement.format(table=f'"{self.schema}"."{table}"').replace("?", "%s")
            return conn.execute(statement, params).rowcount

    def set(self, view: str, table: str, where: dict[str, Any], column: str, value: Any) -> None:
        condition = " AND ".join(f'"{k}" = ?' for k in where)
        changed = self.execute(
            view, f'UPDATE {{table}} SET "{column}" = ? WHERE {condition}', table, (value, *where.values())
        )
        assert changed == 1, (table, where, column)

    def delete(self, view: str, table: str, row: dict[str, Any]) -> None:
        key = {k: row[k] for k in self.key(view, table)}
        condition = " AND ".join(f'"{k}" = ?' for k in key)
        assert self.execute(view, f"DELETE FROM {{table}} WHERE {condition}", table, tuple(key.values())) == 1

    def insert(self, view: str, table: str, row: dict[str, Any]) -> None:
        columns = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join("?" for _ in row)
        assert self.execute(
            view, f"INSERT INTO {{table}} ({columns}) VALUES ({marks})", table, tuple(row.values())
        )

    # -- connections

    @property
    def schema(self) -> str:
        return self.env["POSTGRES_SCHEMA"]

    @contextmanager
    def _sqlite(self, view: str) -> Iterator[sqlite3.Connection]:
        store = Path(self.env["SQLITE_DBNAME"])
        db = sqlite3.connect(store.with_name(f"{store.stem}-{view}{store.suffix or '.sqlite'}"))
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _postgres(self) -> Iterator[Any]:
        import psycopg

        with psycopg.connect(postgres_conninfo(self.env), autocommit=True) as conn:
            yield conn


def altered(value: Any, declared: str, others: list[Any]) -> list[Any]:
    """Values to write in place of ``value`` (a column of type ``declared``): one of the same
    kind, valid where possible, so only the comparison can tell; for a snapshot, its bytes with
    one flipped and another row's snapshot (valid, but of another aggregate)."""
    if declared in ("blob", "bytea"):
        raw = bytes(value)
        return [raw[:-1] + bytes([raw[-1] ^ 1]), *[bytes(o) for o in others if bytes(o) != raw][:1]]
    if value is None:
        by_type = {"integer": 1, "bigint": 1, "date": date(2001, 2, 3), "uuid": uuid4()}
        return [by_type.get(declared, "2001-02-03" if declared == "text" else "tampered")]
    if isinstance(value, int):
        return [value + 1]
    if isinstance(value, date):
        return [value + timedelta(days=1)]
    if isinstance(value, UUID):
        return [uuid4()]
    text = str(value)
    try:
        UUID(text)
        return [str(uuid4())]
    except ValueError:
        pass
    try:
        return [(date.fromisoformat(text) + timedelta(days=1)).isoformat()]
    except ValueError:
        return [text + "x"]


def row_for(rows: list[dict[str, Any]], column: str, application_name: str) -> dict[str, Any]:
    """The row to edit: the application's row of a tracking or log-head table, else the first
    row with a value in ``column`` (else the first)."""
    if rows and "application_name" in rows[0]:
        return next(r for r in rows if r["application_name"] == application_name)
    return next((r for r in rows if r[column] is not None), rows[0])


def differences_of(report: VerifyReport, view: str) -> list[tuple[str, str]]:
    return [(d.subject, d.field) for d in report.differences if d.projection == view]


def no_scratch_left(raw: RawViews) -> None:
    """Verify's scratch twins are gone (no temporary files or tables left behind)."""
    assert not list(raw.data_dir.glob(".scratch-*"))
    assert not [t for _, t in raw.tables() if t.startswith(tuple(f"{v}_s" for v in VIEWS))]


# ----------------------------------------------------------------------------- the tests


def test_verify_notices_an_edit_of_every_column_of_every_read_model_table(
    world: tuple[Settings, CardLifecycle, ReadSide],
) -> None:
    """issue 8 item 5: every column of every table of both views (cards, certificates, the
    revocation list's certificates, entries and number, the tracking and log-head tables), found
    from the database's schema, edited one at a time: verify reports each, repairs none."""
    settings, app, read = world
    raw = RawViews(settings)
    assert verify(read).ok
    tables = raw.tables()
    assert {t for (v, t) in tables if v == "lifecycle_view"} >= (
        {"lifecycle_view_cards", "lifecycle_view_certificates"}
        if backend.POSTGRES
        else {"cards", "certificates"}
    )
    checked: list[tuple[str, str, str]] = []
    refused: set[tuple[str, str]] = set()
    for (view, table), columns in sorted(tables.items()):
        rows = raw.rows(view, table)
        assert rows, f"{table} is empty: the store does not exercise it"
        key = raw.key(view, table)
        for column, declared in columns.items():
            row = row_for(rows, column, app.name)
            others = [r[column] for r in rows]
            for value in altered(row[column], declared, others):
                where = {k: (value if k == column else row[k]) for k in key}
                try:
                    raw.set(view, table, {k: row[k] for k in key}, column, value)
                except Exception as e:  # the database's own constraint, not the test's doing
                    if "check" not in str(e).lower():
                        raise
                    refused.add((view, column))
                    continue
                tampered = raw.rows(view, table)
                report = verify(read)
                assert not report.ok, f"{table}.{column} = {value!r} went unnoticed"
                assert differences_of(report, view), report.differences
                if column not in key and table.endswith(("cards", "certificates", "entries")):
                    assert column in {f for _, f in differences_of(report, view)}, report.differences
                assert raw.rows(view, table) == tampered, "verify changed what it checks"
                raw.set(view, table, where, column, row[column])
                assert raw.rows(view, table) == rows
                checked.append((view, table, column))
    assert refused <= REFUSED_BY_THE_DATABASE
    assert len(set(checked)) == sum(len(c) for c in tables.values()) - len(refused)
    assert verify(read).ok
    no_scratch_left(raw)


def test_verify_notices_a_deleted_row_of_every_table_and_a_moved_tracking_position(
    world: tuple[Settings, CardLifecycle, ReadSide],
) -> None:
    """issue 8 item 5: a row deleted from each table, each tracking position moved +5 and -1:
    verify reports each (exit 7 from the CLI), queries refuse a moved position (exit 6)."""
    settings, app, read = world
    raw = RawViews(settings)
    for (view, table), _ in sorted(raw.tables().items()):
        rows = raw.rows(view, table)
        row = row_for(rows, next(iter(rows[0])), app.name)
        raw.delete(view, table, row)
        report = verify(read)
        assert differences_of(report, view), f"a row deleted from {table} went unnoticed"
        raw.insert(view, table, row)
        assert raw.rows(view, table) == rows
    assert verify(read).ok

    head = app.recorder.max_notification_id() or 0
    for view in VIEWS:
        tracking = f"{view}_tracking" if backend.POSTGRES else "tracking"
        for moved, state in ((5, "ahead of the log — rebuild"), (-1, "tracking altered — rebuild")):
            raw.set(view, tracking, {"application_name": app.name}, "notification_id", head + moved)
            report = verify(read)
            assert (f"tracking {app.name}", "position") in differences_of(report, view), report.differences
            assert read.positions()[view]["state"] == state
            with pytest.raises(runner.ViewAheadOfLog):
                runner.catch_up(read.upstream, read.projection(view))
            done = cli(settings, "verify")
            assert done.returncode == 7, done.stderr
            assert json.loads(done.stdout)["ok"] is False
            status = cli(settings, "counts")
            assert status.returncode == 6, status.stderr
            assert "mynacard rebuild" in status.stderr
            raw.set(view, tracking, {"application_name": app.name}, "notification_id", head)
    assert verify(read).ok
    no_scratch_left(raw)


def test_verify_reads_a_tampered_snapshot_as_a_difference_never_a_crash(
    world: tuple[Settings, CardLifecycle, ReadSide],
) -> None:
    """issue 8 item 5: a card's snapshot copied onto another card's row (valid bytes, the wrong
    row: rejected when snapshots are bound to their row, another state when not) is a
    difference of that row's state, from the library and from the CLI (exit 7)."""
    settings, _, read = world
    raw = RawViews(settings)
    view = "lifecycle_view"
    table = "lifecycle_view_cards" if backend.POSTGRES else "cards"
    rows = raw.rows(view, table)
    raw.set(view, table, {"card_id": rows[1]["card_id"]}, "state", rows[0]["state"])
    report = verify(read)
    subject = f"card {rows[1]['card_id']}"
    assert (subject, "state") in differences_of(report, view), report.differences
    done = cli(settings, "verify")
    assert done.returncode == 7, done.stderr
    shown = json.loads(done.stdout)["differences"]
    assert any(d["subject"] == subject and d["field"] == "state" for d in shown)


# ----------------------------------------------------------------------------- a broken log


def edit_event(app: CardLifecycle, aggregate_id: UUID, version: int, statement: str, *params: Any) -> None:
    """Change one stored event behind the service (``{events}``: the events table)."""
    recorder: Any = app.recorder
    if not backend.POSTGRES:
        with recorder.datastore.transaction(commit=True) as c:
            c.execute(
                statement.format(events=recorder.events_table_name)
                + " WHERE originator_id=? AND originator_version=?",
                (*params, aggregate_id.hex, version),
            )
        return
    table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
    sql = (
        statement.format(events=table).replace("?", "%s")
        + " WHERE originator_id=%s AND originator_version=%s"
    )
    with recorder.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
        curs.execute(sql, (*params, aggregate_id, version))


@pytest.mark.parametrize("damage", ["version gap", "unknown topic"])
def test_verify_names_a_version_gap_or_an_unknown_topic_and_exits_7(tmp_path: Path, damage: str) -> None:
    """issue 8 item 10: an event deleted in the middle of a card's events, or an event of a type
    the service does not know: verify exits 7 naming the position, the aggregate and what is
    wrong (not exit 1); a question that catches up on such a log exits 7 too."""
    settings = backend.settings(tmp_path)
    app = build_store(settings)
    try:
        card = cards_of(app)[0]
        positions = {
            n.originator_version: n.id
            for n in app.recorder.select_notifications(start=1, limit=1000)
            if n.originator_id == card
        }
        if damage == "version gap":
            edit_event(app, card, 2, "DELETE FROM {events}")
            what, position = "originator_version", positions[3]
        else:
            edit_event(app, card, 2, "UPDATE {events} SET topic=?", "mynacard.Card.Unheard")
            what, position = "topic", positions[2]
        read = open_read_side(settings, upstream_of(app))
        report = verify(read)
        finding = next(d for d in report.differences if d.projection == "event_store")
        assert finding.subject == f"position {position} (aggregate {card})"
        assert finding.field.startswith(what)
        with pytest.raises((StoreIntegrityError, TamperingDetected)):  # exit 7 both
            read.catch_up()
    finally:
        app.close()
    done = cli(settings, "verify")
    assert done.returncode == 7, done.stderr
    assert f"aggregate {card}" in done.stdout
    for question in (("counts",), ("status", str(card)), ("history", str(card))):
        asked = cli(settings, *question)
        assert asked.returncode == 7, (question, asked.stderr)
        assert "Traceback" not in asked.stderr


def cards_of(app: CardLifecycle) -> list[UUID]:
    """The card ids of the log (its Applied events), in log order."""
    return [
        n.originator_id  # type: ignore[misc]
        for n in app.recorder.select_notifications(start=1, limit=1000)
        if n.originator_version == 1 and n.topic.endswith("Applied")
    ]


# ----------------------------------------------------------------------------- CLI


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mynacard", *args, "--json"],
        check=False,
        env=backend.cli_env(Path(settings.data_dir)),
        capture_output=True,
        text=True,
        timeout=120,
    )
