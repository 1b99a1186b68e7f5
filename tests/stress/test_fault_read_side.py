"""Faults of the read side, with real processes (issue 8 items 4 and 10).

- An older backup of the event store restored under newer read models (item 4): every question
  refuses (exit 6, naming ``mynacard rebuild``) instead of showing cards whose events are gone,
  ``verify`` exits 7, ``projections`` shows the state; after ``rebuild`` everything answers from
  the restored log. Also when the restored log has grown past the views' old position since: the
  views' log head (a fingerprint of the event at their position), not the log's length, tells.
- ``mynacard rebuild`` run over and over while another process asks ``status`` and ``counts``
  (item 10): no question fails (no "database is locked", no KeyError, no unknown card): they
  answer from the previous state until the rebuilt view is swapped in.
- ``mynacard certificate UNKNOWN`` says "unknown certificate" (exit 4), not "bad input" (item 10).

The event store is backed up and restored as an operator would: on SQLite the file named by the
store URL (with SQLite's backup API, which includes what is still in the WAL); on PostgreSQL the
store's tables (``mynacard_*``) copied aside and put back, the position sequence with them.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from commands.config import Settings
from mynacard.bootstrap import open_read_side, open_write_side, upstream_of
from storage.settings import postgres_conninfo, storage_env
from tests.helpers import backend
from tests.helpers.support import Clock, Story, all_to_active, application_id, my_number

STORE_TABLES = "mynacard_"
"""The event store's tables on PostgreSQL (events, command log, store identity and keys)."""


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def out(self) -> Any:
        assert self.returncode == 0, self.stderr
        return json.loads(self.stdout)

    @property
    def error(self) -> str:
        assert self.returncode != 0, self.stdout
        message: str = json.loads(self.stderr)["error"]["message"]
        return message


def cli(data_dir: Path, *args: str, now: str | None = None) -> Run:
    command = [sys.executable, "-m", "mynacard", *args, "--json"]
    if now is not None:
        command += ["--now", now]
    done = subprocess.run(
        command,
        check=False,
        env=backend.cli_env(data_dir, MYNACARD_ACTOR="clerk-fault"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Run(done.returncode, done.stdout, done.stderr)


class Clerk:
    """Writes through the command line, its clock moving forward a minute a command."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.minute = 0
        self.seed = 0

    def now(self) -> str:
        self.minute += 1
        return f"2025-01-06T{9 + self.minute // 60:02d}:{self.minute % 60:02d}"

    def apply(self) -> str:
        """A new application (two events); returns its application id."""
        self.seed += 1
        card = application_id()
        applied = cli(
            self.data_dir,
            "apply",
            "--application-id",
            card,
            "--my-number",
            my_number(9_100_000 + self.seed),
            "--date-of-birth",
            "1980-10-10",
            "--photo-taken-on",
            "2024-12-20",
            now=self.now(),
        )
        assert applied.out["status"] == "applied"
        return card

    def accept(self, card: str) -> None:
        assert cli(self.data_dir, "accept", card, now=self.now()).out["status"] == "accepted"


# ----------------------------------------------------------------------------- backup and restore


@contextmanager
def _postgres(settings: Settings) -> Iterator[tuple[Any, str]]:
    import psycopg

    env = storage_env(settings)
    with psycopg.connect(postgres_conninfo(env), autocommit=True) as conn:
        yield conn, env["POSTGRES_SCHEMA"]


def _store_tables(conn: Any, schema: str) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema=%s AND table_name LIKE %s",
        (schema, STORE_TABLES + "%"),
    ).fetchall()
    return [r[0] for r in rows]


def back_up(settings: Settings, backup: Path) -> None:
    """A backup of the event store as it is now (not of the read models)."""
    if not backend.POSTGRES:
        with sqlite3.connect(storage_env(settings)["SQLITE_DBNAME"]) as db, sqlite3.connect(backup) as copy:
            db.backup(copy)
        return
    from psycopg import sql

    with _postgres(settings) as (conn, schema):
        for table in _store_tables(conn, schema):
            conn.execute(
                sql.SQL("CREATE TABLE {0}.{1} AS SELECT * FROM {0}.{2}").format(
                    sql.Identifier(schema), sql.Identifier(f"backup_{table}"), sql.Identifier(table)
                )
            )


def restore(settings: Settings, backup: Path) -> None:
    """Put the backup of the event store back (no process is using the store meanwhile)."""
    if not backend.POSTGRES:
        with sqlite3.connect(backup) as copy, sqlite3.connect(storage_env(settings)["SQLITE_DBNAME"]) as db:
            copy.backup(db)
        return
    from psycopg import sql

    with _postgres(settings) as (conn, schema), conn.transaction():
        for table in _store_tables(conn, schema):
            name, saved = sql.Identifier(table), sql.Identifier(f"backup_{table}")
            conn.execute(sql.SQL("DELETE FROM {0}.{1}").format(sql.Identifier(schema), name))
            conn.execute(
                sql.SQL("INSERT INTO {0}.{1} SELECT * FROM {0}.{2}").format(
                    sql.Identifier(schema), name, saved
                )
            )
        events = f'"{schema}"."{STORE_TABLES}events"'
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), "
            f"COALESCE((SELECT MAX(notification_id) FROM {events}), 1), "
            f"(SELECT COUNT(*) > 0 FROM {events}))",
            (events,),
        )


def log_head(data_dir: Path) -> int:
    positions = cli(data_dir, "projections").out
    return int(positions["lifecycle_view"]["log"])


# ----------------------------------------------------------------------------- item 4


@pytest.mark.parametrize("grown", [False, True], ids=["restored", "restored-then-grown"])
def test_an_older_event_store_restored_under_newer_views_is_refused_until_rebuilt(
    tmp_path: Path, grown: bool
) -> None:
    """issue 8 item 4: back up the event store, write more, catch the views up, restore the
    backup (and, ``grown``, write enough after it that the log passes the views' old position
    again): every question exits 6 naming ``mynacard rebuild``, showing nothing; ``verify``
    exits 7; ``projections`` shows the state; ``rebuild`` answers from the restored log."""
    data_dir = tmp_path / "store"
    data_dir.mkdir()
    clerk = Clerk(data_dir)
    kept = [clerk.apply(), clerk.apply()]
    clerk.accept(kept[0])
    assert cli(data_dir, "counts").out["cards_by_status"] == {"accepted": 1, "applied": 1}
    back_up(backend.settings(data_dir), tmp_path / "backup.sqlite")
    backed_up = log_head(data_dir)

    lost = [clerk.apply(), clerk.apply(), clerk.apply()]
    clerk.accept(lost[0])
    assert cli(data_dir, "counts").out["cards_by_status"] == {"accepted": 2, "applied": 3}
    assert cli(data_dir, "status", lost[0]).out["status"] == "accepted"
    views_at = log_head(data_dir)
    assert views_at > backed_up

    restore(backend.settings(data_dir), tmp_path / "backup.sqlite")
    assert log_head(data_dir) == backed_up
    later: list[str] = []
    if grown:
        while log_head(data_dir) <= views_at:
            later.append(clerk.apply())
        assert log_head(data_dir) > views_at

    states = {p["state"] for p in cli(data_dir, "projections").out.values()}
    assert states == {"another log — rebuild" if grown else "ahead of the log — rebuild"}
    for question in (("status", lost[0]), ("status", kept[0]), ("counts",), ("revocations",)):
        refused = cli(data_dir, *question)
        assert refused.returncode == 6, (question, refused.stdout, refused.stderr)
        assert "mynacard rebuild" in refused.error
        assert "restored" in refused.error
    checked = cli(data_dir, "verify")
    assert checked.returncode == 7, checked.stderr
    assert {d["subject"] for d in json.loads(checked.stdout)["differences"]} >= {"tracking mynacard"}

    rebuilt = cli(data_dir, "rebuild").out
    assert {p["state"] for p in rebuilt["positions"].values()} == {"ok"}
    counts = cli(data_dir, "counts").out
    assert counts["cards_by_status"] == {"accepted": 1, "applied": 1 + len(later)}
    assert cli(data_dir, "status", lost[0]).returncode == 4, "a card whose events are gone"
    assert cli(data_dir, "status", kept[0]).out["status"] == "accepted"
    for card in later:
        assert cli(data_dir, "status", card).out["status"] == "applied"
    assert cli(data_dir, "verify").out["ok"] is True


# ----------------------------------------------------------------------------- item 10


REBUILDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from commands.config import Settings
    from mynacard.bootstrap import open_read_side

    stop, rounds = Path(sys.argv[1]), 0
    settings = Settings()
    read = open_read_side(settings)
    deadline = time.monotonic() + 120
    while not stop.exists() and time.monotonic() < deadline:
        read.rebuild()
        rounds += 1
        print(rounds, flush=True)
    """
)


def test_questions_answer_while_rebuild_runs_over_and_over(tmp_path: Path) -> None:
    """issue 8 item 10: one process rebuilds the views again and again (as ``mynacard rebuild``
    does); meanwhile another process after another asks ``status`` and ``counts``. None fails:
    no "database is locked" (SQLite), no KeyError (PostgreSQL), no card gone missing."""
    settings = backend.settings(tmp_path)
    app = open_write_side(settings)
    clock = Clock("2020-05-01T09:00")
    app.clock = clock
    try:
        stories = [Story(app, clock, my_number_=my_number(9_200_000 + i)) for i in range(60)]
        all_to_active(stories)
        card = stories[-1].application_id
        open_read_side(settings, upstream_of(app)).catch_up()
        events = app.recorder.max_notification_id() or 0
    finally:
        app.close()
    assert events > 500, "more than one batch to rebuild"
    expected = cli(tmp_path, "counts").out

    stop = tmp_path / "stop"
    rebuilder = subprocess.Popen(
        [sys.executable, "-c", REBUILDER, str(stop)],
        env=backend.cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    failures: list[str] = []
    questions = 0
    try:
        assert rebuilder.stdout is not None
        rebuilder.stdout.readline()  # the first rebuild is done: the loop is under way
        started = time.monotonic()
        while time.monotonic() - started < 20 or questions < 12:
            for question in (("status", card), ("counts",)):
                answer = cli(tmp_path, *question)
                questions += 1
                if answer.returncode != 0:
                    failures.append(f"{question}: exit {answer.returncode}: {answer.stderr}")
                elif question == ("counts",) and answer.out != expected:
                    failures.append(f"counts answered {answer.out}")
            if rebuilder.poll() is not None:
                break
    finally:
        stop.touch()
        out, err = rebuilder.communicate(timeout=120)
    assert rebuilder.returncode == 0, err
    rounds = int(out.split()[-1]) if out.split() else 1
    assert rounds >= 3, f"only {rounds} rebuilds overlapped the questions"
    assert failures == []
    assert cli(tmp_path, "verify").out["ok"] is True


def test_an_unknown_certificate_is_said_to_be_unknown(tmp_path: Path) -> None:
    """issue 8 item 10: ``certificate UNKNOWN`` exits 4 saying "unknown certificate", in text
    and in JSON, not "bad input" (and so does ``valid-at UNKNOWN``)."""
    text = subprocess.run(
        [sys.executable, "-m", "mynacard", "certificate", "0123456789ABCDEF"],
        check=False,
        env=backend.cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert text.returncode == 4
    assert "unknown certificate" in text.stderr
    assert "bad input" not in text.stderr
    for question in (
        ("certificate", "0123456789ABCDEF"),
        ("valid-at", "0123456789ABCDEF", "--at", "2025-01-06"),
    ):
        answer = cli(tmp_path, *question)
        assert answer.returncode == 4, answer.stderr
        assert json.loads(answer.stderr)["error"]["kind"] == "not_found"
        assert "unknown certificate" in answer.error
