"""The hash-chained log (issue 13): every kind of tampering with the event table is caught by
``mynacard verify --chain`` (exit 7, the position of the first break), ``verify`` fails with it,
and ``rebuild`` refuses to build read models from the broken log (exit 7, nothing rebuilt) unless
``--accept-broken-chain --reason`` is given, which is recorded on the log with the actor.

The insider's attack that opened issue 13: deleting a card's ``Lost`` event and its two
certificate revocations, then ``rebuild`` — the card showed active again and the revocation list
was empty. Now the rebuild is refused and the views keep what the intact log said.

The rows are edited as an attacker with database access would (SQL behind the service's back),
on the test backend (SQLite file, or a PostgreSQL schema with ``MYNACARD_TEST_DATABASE_URL``),
through the real CLI in subprocesses.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import Notification

from commands import models as m
from commands.config import Settings
from mynacard.bootstrap import open_log, open_write_side
from storage import chain
from storage.interface import CommandLog
from tests.helpers.backend import POSTGRES, tamper
from tests.helpers.backend import settings as settings_for
from tests.helpers.recorded_store import cli
from tests.helpers.support import Clock, Story, my_number

EVENTS_FILE = "mynacard.sqlite"
POSITION = "notification_id" if POSTGRES else "rowid"


@pytest.fixture(autouse=True)
def only_the_settings_given(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("MYNACARD_") and name != "MYNACARD_TEST_DATABASE_URL":
            monkeypatch.delenv(name)


@dataclass
class Store:
    settings: Settings
    lost: str
    """application id of the card reported lost (its Lost event and two revocations)."""
    other: str
    """application id of an active card."""
    events_table: str
    chain_table: str

    def notes(self) -> list[Notification]:
        log = open_log(self.settings)
        try:
            return list(log.recorder.select_notifications(1, 10_000))
        finally:
            log.close()

    def sql(self, statement: str, params: tuple[object, ...] = (), table: str | None = None) -> int:
        return tamper(self.settings, EVENTS_FILE, table or self.events_table, statement, params)

    def status(self, card: str) -> str:
        found: str = cli(self.settings, "status", card).out["status"]
        return found


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Two cards through the real wiring; one of them reported lost (R27: its certificates are
    revoked in the same save), then the views caught up."""
    settings = settings_for(tmp_path)
    clock = Clock("2020-05-01T09:00")
    app = open_write_side(settings)
    app.clock = clock
    app.clock_tolerance = None  # the stories' recorded times are not in order (R66 off)
    try:
        lost = Story(app, clock, my_number_=my_number(52_873_019_466))
        other = Story(app, clock, my_number_=my_number(38_160_274_953))
        lost.to_active(applied="2020-05-01T09:00")
        other.to_active(applied="2020-05-02T09:00")
        lost.run(m.ReportLoss, "2021-03-01T10:00", police_report=True, effective_at="2021-02-28T20:00")
        other.run(m.SuspendCard, "2021-04-01T10:00")  # the loss is not the end of the log
        recorder = app.recorder
        events_table = str(recorder.events_table_name).rpartition(".")[2].strip('"')  # type: ignore[attr-defined]
    finally:
        app.close()
    chain_table = "event_chain" if not POSTGRES else events_table.removesuffix("_events") + "_event_chain"
    found = Store(settings, lost.application_id, other.application_id, events_table, chain_table)
    assert cli(settings, "rebuild").returncode == 0
    assert found.status(found.lost) in ("lost", "abolished")  # R27; abolished once the loss lapsed
    return found


def broken_at(store: Store) -> tuple[int, str]:
    """``verify --chain``: exit 7 and the first break."""
    done = cli(store.settings, "verify", "--chain")
    assert done.returncode == 7, (done.stdout, done.stderr)
    report: dict[str, Any] = __import__("json").loads(done.stdout)
    assert report["ok"] is False
    first = report["first_break"]
    return int(first["position"]), str(first["problem"])


def rebuild_refused(store: Store, position: int) -> None:
    done = cli(store.settings, "rebuild")
    assert done.returncode == 7, (done.stdout, done.stderr)
    error = done.error
    assert error["chain"]["first_break"]["position"] == position
    assert "--accept-broken-chain" in error["message"]
    verified = cli(store.settings, "verify")
    assert verified.returncode == 7


def test_issue13_an_intact_log_verifies_and_rebuilds(store: Store) -> None:
    report = cli(store.settings, "verify", "--chain").out
    assert report["ok"] is True and report["first_break"] is None
    assert report["events"] == len(store.notes())
    assert cli(store.settings, "rebuild").out["chain"] == {"ok": True}


def test_issue13_deleting_a_loss_and_its_revocations_is_caught_and_rebuild_refused(store: Store) -> None:
    """The attack of issue 13, done thoroughly: the three events and their chain rows deleted."""
    notes = store.notes()
    before = store.status(store.lost)
    at = next(i for i, n in enumerate(notes) if n.topic == "mynacard.Card.Lost")
    targets = notes[at : at + 3]  # the loss and, in the same save, its two revocations (R27)
    assert [n.topic for n in targets[1:]] == ["mynacard.Certificate.Revoked"] * 2
    for n in targets:
        assert store.sql(f"DELETE FROM {{table}} WHERE {POSITION} = ?", (n.id,)) == 1
        assert store.sql("DELETE FROM {table} WHERE position = ?", (n.id,), store.chain_table) == 1
    position, problem = broken_at(store)
    assert position == targets[-1].id + 1, "the next event's link names the deleted one"
    assert "does not hash" in problem
    rebuild_refused(store, position)
    assert store.status(store.lost) == before != "active", "the views still say what the intact log said"


def test_issue13_deleted_event_is_caught(store: Store) -> None:
    victim = store.notes()[3]
    assert store.sql(f"DELETE FROM {{table}} WHERE {POSITION} = ?", (victim.id,)) == 1
    position, problem = broken_at(store)
    assert (position, "deleted" in problem) == (victim.id, True)
    rebuild_refused(store, victim.id)


def test_issue13_inserted_event_is_caught(store: Store) -> None:
    """A copy of an event inserted as a new row (another version of its aggregate): the log
    holds an event the chain never recorded."""
    before = store.notes()
    source = before[2]
    column_list = "originator_id, originator_version, topic, state"
    inserted = store.sql(
        f"INSERT INTO {{table}} ({column_list}) SELECT originator_id, originator_version + 1000, topic, "
        f"state FROM {{table}} WHERE {POSITION} = ?",
        (source.id,),
    )
    assert inserted == 1
    head = max(n.id for n in before)
    position, problem = broken_at(store)
    assert position > head and "inserted" in problem
    rebuild_refused(store, position)


def test_issue13_reordered_events_are_caught(store: Store) -> None:
    """Two events' contents swapped between their rows (each row's columns move together)."""
    a, b = store.notes()[2], store.notes()[5]
    columns = ("originator_id", "originator_version", "topic", "state")
    # Park a first (versions are unique per aggregate), then swap.
    store.sql(
        f"UPDATE {{table}} SET originator_version = originator_version + 100000 WHERE {POSITION} = ?", (a.id,)
    )
    store.sql(
        f"UPDATE {{table}} SET originator_version = originator_version + 200000 WHERE {POSITION} = ?", (b.id,)
    )
    for row, source in ((a, b), (b, a)):
        values = (str(source.originator_id) if POSTGRES else source.originator_id.hex,)
        values += (source.originator_version, source.topic, source.state)
        store.sql(
            f"UPDATE {{table}} SET {', '.join(f'{c} = ?' for c in columns)} WHERE {POSITION} = ?",
            (*values, row.id),
        )
    position, problem = broken_at(store)
    assert position == a.id and "does not hash" in problem
    rebuild_refused(store, a.id)


@pytest.mark.parametrize("column", ["state", "topic", "originator_version"])
def test_issue13_altered_event_is_caught(store: Store, column: str) -> None:
    victim = store.notes()[4]
    value: object
    if column == "state":
        value = bytes(victim.state[:-1]) + bytes([victim.state[-1] ^ 1])
    elif column == "topic":
        value = "mynacard.Card.Suspended"
    else:
        value = victim.originator_version + 50
    assert store.sql(f"UPDATE {{table}} SET {column} = ? WHERE {POSITION} = ?", (value, victim.id)) == 1
    position, _ = broken_at(store)
    assert position == victim.id
    rebuild_refused(store, victim.id)


def test_issue13_payload_moved_between_rows_is_caught(store: Store) -> None:
    source, target = store.notes()[1], store.notes()[6]
    assert store.sql(f"UPDATE {{table}} SET state = ? WHERE {POSITION} = ?", (source.state, target.id)) == 1
    position, _ = broken_at(store)
    assert position == target.id
    rebuild_refused(store, target.id)


def test_issue13_a_chain_row_altered_is_caught(store: Store) -> None:
    victim = store.notes()[3]
    assert (
        store.sql(
            "UPDATE {table} SET chain_hash = ? WHERE position = ?", (bytes(32), victim.id), store.chain_table
        )
        == 1
    )
    position, _ = broken_at(store)
    assert position == victim.id


def test_issue13_accepting_a_broken_chain_is_recorded_with_the_actor_and_reason(store: Store) -> None:
    victim = store.notes()[3]
    store.sql(f"DELETE FROM {{table}} WHERE {POSITION} = ?", (victim.id,))
    no_reason = cli(store.settings, "rebuild", "--accept-broken-chain")
    assert no_reason.returncode == 2 and no_reason.error["issues"][0]["field"] == "--reason"
    done = cli(
        store.settings,
        "rebuild",
        "--accept-broken-chain",
        "--reason",
        "restored row lost; ticket 42",
        "--actor",
        "supervisor-7",
    ).out
    assert done["chain"]["ok"] is False and done["chain"]["accepted_by"] == "supervisor-7"
    recorded = [n for n in store.notes() if n.topic == "mynacard.StoreLog.BrokenChainAccepted"]
    assert len(recorded) == 1
    log = open_log(store.settings)
    try:
        event: Any = log.mapper.to_domain_event(recorded[0])
    finally:
        log.close()
    assert (event.actor, event.position, event.reason) == (
        "supervisor-7",
        victim.id,
        "restored row lost; ticket 42",
    )


def test_issue13_chain_rows_follow_the_log_under_concurrent_writers(tmp_path: Path) -> None:
    """Threads writing at once (each its own application, as separate processes would): the chain
    has one row per event, in log order, and walks clean."""
    import threading

    settings = settings_for(tmp_path)
    open_write_side(settings).close()
    errors: list[BaseException] = []

    def writer(seed: int) -> None:
        app = open_write_side(settings)
        clock = Clock("2020-05-01T09:00")
        app.clock = clock
        app.clock_tolerance = None
        try:
            for i in range(3):
                Story(app, clock, my_number_=my_number(seed * 100 + i)).apply("2020-05-01T09:00")
        except BaseException as e:
            errors.append(e)
        finally:
            app.close()

    threads = [threading.Thread(target=writer, args=(10_000_000 + s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    log = open_log(settings)
    try:
        recorder = log.recorder
        assert isinstance(recorder, CommandLog)
        rows = recorder.chain_rows(0, 100_000)
        assert rows and all(r.chain_hash is not None and r.state is not None for r in rows)
        walked = list(chain.walk(rows))
        assert all(isinstance(w, chain.ChainLink) for w in walked)
        assert len(walked) == recorder.log_max_position() or POSTGRES
    finally:
        log.close()


def test_issue13_the_http_rebuild_refuses_a_broken_chain_too(tmp_path: Path) -> None:
    """``POST /rebuild`` (admin) walks the chain first, like the CLI: a broken chain is a 503
    integrity problem and nothing is rebuilt; an intact one rebuilds."""
    from tests.helpers.service import Api, in_process, make_token, service_settings

    settings = service_settings(tmp_path)
    with in_process(settings) as client:
        api = Api(client, make_token(settings, "admin"))
        clerk = Api(client, make_token(settings, "clerk"))
        clerk.issue_card()
        assert api.post("/rebuild").status_code == 200
        log = open_log(settings)
        try:
            table = str(log.recorder.events_table_name).rpartition(".")[2].strip('"')  # type: ignore[attr-defined]
            victim = list(log.recorder.select_notifications(1, 100))[2]
        finally:
            log.close()
        tamper(settings, EVENTS_FILE, table, f"DELETE FROM {{table}} WHERE {POSITION} = ?", (victim.id,))
        refused = api.post("/rebuild")
        assert refused.status_code == 503, refused.text
        assert refused.json()["type"].endswith("/problems/integrity")


def test_issue13_chain_init_chains_a_store_written_before_the_chain_once(store: Store) -> None:
    """A store from before the chain (no chain rows, no mark): writes are refused (exit 6) until
    ``chain --init`` chained it, once and resumably; then it verifies, and it refuses to chain
    anything again (an event without a chain row is then an inserted one)."""
    events = len(store.notes())
    store.sql("DELETE FROM {table}", (), store.chain_table)
    marks = "store_marks" if not POSTGRES else store.events_table.removesuffix("_events") + "_store_marks"
    store.sql("DELETE FROM {table} WHERE name = ?", ("chain_complete",), marks)
    missing = cli(store.settings, "verify", "--chain")
    assert missing.returncode == 7 and __import__("json").loads(missing.stdout)["unchained"] == events
    refused = cli(store.settings, "lift-suspension", store.other)
    assert refused.returncode == 6 and "chain --init" in refused.error["message"]
    assert cli(store.settings, "chain", "--init").out["chained"] == events
    assert cli(store.settings, "verify", "--chain").out["ok"] is True
    assert cli(store.settings, "chain", "--init").out["chained"] == 0
    # From now on an unchained event is an inserted one: chain --init will not bless it.
    last = store.notes()[-1]
    store.sql("DELETE FROM {table} WHERE position = ?", (last.id,), store.chain_table)
    again = cli(store.settings, "chain", "--init")
    assert again.returncode == 7, again.stderr
