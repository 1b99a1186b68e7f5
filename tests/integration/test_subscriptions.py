"""Subscribers (issue: "Subscribers"): ``follow()`` from a position, in order, waiting for new
events; named durable consumers whose checkpoints survive a crash and a restart (at-least-once,
in order, no gaps); ``mynacard events`` as JSON lines, also as a consumer killed with SIGKILL;
the ``mynacard.event/1`` shape and docs/events.md.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commands import models as m
from commands.application import CardLifecycle
from mynacard.bootstrap import open_checkpoints, open_write_side
from projections import subscriptions
from projections.event_json import EVENT_SCHEMA, feed_event_dict
from projections.subscriptions import CheckpointNotInLog, ConsumerBusy, DurableConsumer, follow
from tests.helpers import backend
from tests.helpers.backend import settings as settings_for
from tests.helpers.consumers import (
    WAIT,
    Lines,
    clean_env,
    events_cli,
    log_ids,
    positions_of,
    some_cards,
    suspend_and_lift,
)
from tests.helpers.support import KEY, Clock, Story, my_number

DOCS = Path(__file__).parents[2] / "docs" / "events.md"


# ----------------------------------------------------------------------------- follow()


def test_follow_yields_every_event_in_order_after_a_position(app: CardLifecycle, clock: Clock) -> None:
    some_cards(app, clock, 9_300_001)
    ids = log_ids(app)
    assert len(ids) > 10
    everything = list(follow(app.recorder, app.mapper, batch_size=4))
    assert [p for p, _ in everything] == ids
    stored = app.recorder.select_notifications(1, 100_000)
    assert [(e.originator_id, e.originator_version) for _, e in everything] == [
        (n.originator_id, n.originator_version) for n in stored
    ]
    after = ids[6]
    tail = list(follow(app.recorder, app.mapper, after=after, batch_size=3))
    assert [(p, e.originator_id, e.originator_version) for p, e in tail] == [
        (p, e.originator_id, e.originator_version) for p, e in everything[7:]
    ]
    assert list(follow(app.recorder, app.mapper, after=ids[-1])) == []


def test_follow_with_wait_picks_up_events_written_later_by_another_thread(
    app: CardLifecycle, clock: Clock
) -> None:
    stories = some_cards(app, clock, 9_310_001, n=1)
    start = log_ids(app)[-1]
    seen: list[int] = []
    changed = threading.Condition()
    stop = threading.Event()
    errors: list[BaseException] = []

    def follower() -> None:
        try:
            for position, _event in follow(
                app.recorder, app.mapper, after=start, wait=True, stop=stop, poll_interval=0.02
            ):
                with changed:
                    seen.append(position)
                    changed.notify_all()
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=follower, daemon=True)
    thread.start()
    # Written while the follower waits.
    suspend_and_lift(stories[0], "2021-01-01")
    stories[0].run(m.ChangeCardInformation, "2021-02-01T10:00", facts=["address"], pin_confirmed=True)
    expected = [i for i in log_ids(app) if i > start]
    assert len(expected) >= 4
    with changed:
        assert changed.wait_for(lambda: len(seen) >= len(expected), timeout=WAIT), seen
    # More, after it caught up once.
    stories[0].run(m.SuspendCard, "2021-03-01T10:00")
    expected = [i for i in log_ids(app) if i > start]
    with changed:
        assert changed.wait_for(lambda: len(seen) >= len(expected), timeout=WAIT), seen
    stop.set()
    thread.join(WAIT)
    assert not thread.is_alive(), "follow() did not stop when asked"
    assert errors == []
    assert seen == expected


# ----------------------------------------------------------------------------- durable consumers


class HandlerDied(Exception):
    pass


def test_a_durable_consumer_resumes_from_its_checkpoint_after_its_handler_died(
    app: CardLifecycle, clock: Clock, tmp_path: Path
) -> None:
    stories = some_cards(app, clock, 9_320_001)
    ids = log_ids(app)
    settings = settings_for(tmp_path)
    k = ids[9]

    first: list[int] = []

    def dies_at_k(position: int, event: Any) -> None:
        first.append(position)
        if position == k:
            raise HandlerDied(position)

    consumer = DurableConsumer("mailing", open_checkpoints(settings), app.recorder, app.mapper)
    assert consumer.position == 0
    with pytest.raises(HandlerDied):
        consumer.run(dies_at_k)
    assert first == ids[:10]
    assert consumer.position == ids[8], "the checkpoint stays before the event whose handler died"

    # A restart: a new process opens the checkpoints again.
    second: list[int] = []
    restarted = DurableConsumer("mailing", open_checkpoints(settings), app.recorder, app.mapper)
    assert restarted.position == ids[8]
    assert restarted.run(lambda p, e: second.append(p)) == len(ids) - 9
    assert second == ids[9:]
    # At least once, in order, no gaps: the in-flight event is the only one delivered twice.
    delivered = first + second
    assert sorted(set(delivered)) == ids
    assert [p for p, n in _counts(delivered).items() if n > 1] == [k]

    # New events: only those; another consumer name has its own checkpoint.
    suspend_and_lift(stories[1], "2022-01-01")
    third: list[int] = []
    reopened = DurableConsumer("mailing", open_checkpoints(settings), app.recorder, app.mapper)
    assert reopened.position == ids[-1]
    reopened.run(lambda p, e: third.append(p))
    assert third == [i for i in log_ids(app) if i > ids[-1]]
    other: list[int] = []
    DurableConsumer("crl-push", open_checkpoints(settings), app.recorder, app.mapper).run(
        lambda p, e: other.append(p), limit=5
    )
    assert other == ids[:5]
    assert (
        DurableConsumer("crl-push", open_checkpoints(settings), app.recorder, app.mapper).position == ids[4]
    )
    assert (
        DurableConsumer("mailing", open_checkpoints(settings), app.recorder, app.mapper).position
        == log_ids(app)[-1]
    )


def test_a_checkpoint_is_bound_to_the_log_it_acknowledged(
    app: CardLifecycle, clock: Clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """issue 8 item 4: a checkpoint remembers the events it acknowledged; read against another
    store (or a log that holds another event there) it is refused with ``CheckpointNotInLog``,
    nothing delivered and nothing acknowledged, until ``reset_to``. One reader per name (item 10)."""
    monkeypatch.setattr(subscriptions, "FINGERPRINT_HISTORY", 4)
    some_cards(app, clock, 9_325_001)
    ids = log_ids(app)
    settings = settings_for(tmp_path)
    consumer = DurableConsumer("mailing", open_checkpoints(settings), app.recorder, app.mapper)
    assert consumer.run(lambda p, e: None, limit=8) == 8
    assert consumer.position == consumer.check() == ids[7]
    assert [p for p, _ in consumer.store.fingerprints("mailing")] == ids[7:3:-1], "the newest 4 kept"

    other_clock = Clock()
    other = CardLifecycle(env=backend.event_store_env(tmp_path, "other"), holder_key=KEY, clock=other_clock)
    try:
        some_cards(other, other_clock, 9_326_001)
        assert log_ids(other)[-1] >= ids[7]
        elsewhere = DurableConsumer("mailing", open_checkpoints(settings), other.recorder, other.mapper)
        delivered: list[int] = []
        for attempt in (
            elsewhere.check,
            lambda: elsewhere.run(lambda p, e: delivered.append(p)),
            elsewhere.pending,
            lambda: elsewhere.acknowledge(log_ids(other)[-1]),
        ):
            with pytest.raises(CheckpointNotInLog) as info:
                attempt()
            assert info.value.reason == f"the log holds another event at position {ids[7]}"
            assert (info.value.checkpoint, info.value.resume_from) == (ids[7], 0)
        assert delivered == []
        assert elsewhere.position == ids[7]
        assert "--reset-to 0" in info.value.advice()
        elsewhere.reset_to(0)
        assert elsewhere.run(lambda p, e: delivered.append(p)) == len(log_ids(other))
        assert delivered == log_ids(other)
    finally:
        other.close()

    with consumer.lease():
        with (
            pytest.raises(ConsumerBusy),
            DurableConsumer("mailing", open_checkpoints(settings), app.recorder, app.mapper).lease(),
        ):
            pass
        with DurableConsumer("crl-push", open_checkpoints(settings), app.recorder, app.mapper).lease():
            pass
    with consumer.lease():
        pass


def _counts(items: list[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


# ----------------------------------------------------------------------------- the command line


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[tuple[Path, CardLifecycle, Clock]]:
    app = open_write_side(backend.settings(tmp_path))
    clock = Clock("2020-05-01T09:00")
    app.clock = clock
    app.clock_tolerance = None  # the stories set the clock per card (R66's guard is for the CLI)
    yield tmp_path, app, clock
    app.close()


def test_a_consumer_killed_with_sigkill_resumes_after_its_last_acknowledgement(
    data_dir: tuple[Path, CardLifecycle, Clock],
) -> None:
    """issue 8 item 2: reading never moves a consumer's checkpoint, only ``--ack`` does. A reader
    killed with SIGKILL resumes after the last acknowledged position: what it printed that nobody
    acknowledged is delivered again (at-least-once), in order, nothing skipped."""
    path, app, clock = data_dir
    stories = some_cards(app, clock, 9_330_001)
    initial = log_ids(app)

    command = [sys.executable, "-m", "mynacard", "events", "--consumer", "relying-party"]
    process = subprocess.Popen(
        [*command, "--follow", "--json", "--interval", "0.05"],
        env=clean_env(path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = Lines(process)
        got = [lines.next() for _ in initial]
        assert [e["position"] for e in got] == initial
        # The downstream acknowledges the fifth line while the reader runs (no lease needed).
        acked = events_cli(path, "--consumer", "relying-party", "--ack", str(initial[4]))
        assert acked.returncode == 0, acked.stderr
        # Written while it follows; it is killed after reading two of them.
        suspend_and_lift(stories[0], "2021-01-01")
        got += [lines.next(), lines.next()]
        process.kill()  # SIGKILL: no cleanup
        assert process.wait(WAIT) == -9
        got += lines.rest()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)
    first = [e["position"] for e in got]
    assert first == log_ids(app)[: len(first)]

    suspend_and_lift(stories[1], "2021-02-01")
    second = positions_of(events_cli(path, "--consumer", "relying-party", "--json"))
    everything = log_ids(app)
    # Everything after the acknowledged position, again, in order: nothing skipped.
    assert second == [p for p in everything if p > initial[4]]
    assert sorted(set(first) | set(second)) == everything
    # Reading did not move the checkpoint: the next reader gets the same events.
    assert positions_of(events_cli(path, "--consumer", "relying-party", "--json")) == second


def test_acknowledgements_are_monotonic_and_name_positions_of_the_log(
    data_dir: tuple[Path, CardLifecycle, Clock],
) -> None:
    """issue 8 item 2: ``--ack N`` moves the checkpoint forward only (an ack at or below it is a
    no-op that exits 0 and says so); it takes the event's JSON line too; an ack beyond the log is
    bad input (exit 2, naming ``--ack``); ``--reset-to N`` moves it anywhere in the log."""
    path, app, clock = data_dir
    some_cards(app, clock, 9_333_001)
    ids = log_ids(app)
    consumer = ("--consumer", "crl-push")

    def ack(value: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return events_cli(path, *consumer, "--ack", value, *extra)

    def moved(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
        assert done.returncode == 0, done.stderr
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    assert moved(ack(str(ids[5]), "--json")) == {
        "consumer": "crl-push",
        "action": "ack",
        "requested": ids[5],
        "previous": 0,
        "checkpoint": ids[5],
        "changed": True,
        "log_head": ids[-1],
    }
    for older in (ids[3], ids[5], 0):
        late = ack(str(older))
        assert late.returncode == 0, late.stderr
        assert "already acknowledged" in late.stdout and "nothing changed" in late.stdout
    assert moved(ack(str(ids[3]), "--json"))["checkpoint"] == ids[5]
    # Reading starts after the acknowledged position, and does not move it.
    assert positions_of(events_cli(path, *consumer, "--json")) == ids[6:]
    assert positions_of(events_cli(path, *consumer, "--json", "--limit", "2")) == ids[6:8]

    # The JSON line itself acknowledges its position.
    line = events_cli(path, "--after", str(ids[7]), "--limit", "1", "--json").stdout.strip()
    assert moved(ack(line, "--json"))["checkpoint"] == ids[8]
    assert positions_of(events_cli(path, *consumer, "--json")) == ids[9:]

    for beyond in (str(ids[-1] + 1), "99999999999999999999", "-1", "not-a-position", '{"type": "Applied"}'):
        refused = ack(beyond, "--json")
        assert refused.returncode == 2, (beyond, refused.stdout, refused.stderr)
        assert json.loads(refused.stderr)["error"]["issues"][0]["field"] == "--ack"
    assert moved(ack("0", "--json"))["checkpoint"] == ids[8]

    # --reset-to: backwards too (the recovery after a restored store), within the log.
    back = moved(events_cli(path, *consumer, "--reset-to", str(ids[2]), "--json"))
    assert (back["previous"], back["checkpoint"], back["changed"]) == (ids[8], ids[2], True)
    assert positions_of(events_cli(path, *consumer, "--json")) == ids[3:]
    for bad in (str(ids[-1] + 1), "-3"):
        refused = events_cli(path, *consumer, "--reset-to", bad)
        assert refused.returncode == 2, refused.stderr
        assert "--reset-to" in refused.stderr
    assert moved(events_cli(path, *consumer, "--reset-to", "0", "--json"))["checkpoint"] == 0
    assert positions_of(events_cli(path, *consumer, "--json")) == ids


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("--after", "99999999999999999999"), "--after"),
        (("--after", "-1"), "--after"),
        (("--follow", "--interval", "inf"), "--interval"),
        (("--follow", "--interval", "nan"), "--interval"),
        (("--follow", "--interval", "0"), "--interval"),
        (("--follow", "--interval", "-1"), "--interval"),
        (("--follow", "--interval", "1e9"), "--interval"),
        (("--limit", "0"), "--limit"),
        (("--limit", "-5"), "--limit"),
        (("--consumer", ""), "--consumer"),
        (("--consumer", "   "), "--consumer"),
        (("--consumer", "mail\x07ing"), "--consumer"),
        (("--consumer", " mailing"), "--consumer"),
        (("--consumer", "x" * 300), "--consumer"),
        (("--consumer", "__migration__"), "--consumer"),
        (("--consumer", "mailing", "--after", "3"), "--after"),
        (("--ack", "3"), "--ack"),
        (("--consumer", "mailing", "--ack", "3", "--follow"), "--ack"),
        (("--consumer", "mailing", "--reset-to", "99999999999999999999"), "--reset-to"),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, tuple) else str(v),
)
def test_bad_events_options_exit_2_naming_the_option(
    tmp_path: Path, args: tuple[str, ...], option: str
) -> None:
    """issue 8 item 10: out-of-range positions, intervals and limits, and unusable consumer names
    are bad input (exit 2, naming the option), never a traceback, a hang or a silent default."""
    done = events_cli(tmp_path, *args, "--json", timeout=30)  # (a follower that never ends: a failure)
    assert done.returncode == 2, (done.returncode, done.stdout[:300], done.stderr[-600:])
    assert "Traceback" not in done.stderr
    error = json.loads(done.stderr)["error"]
    assert error["kind"] == "bad_input"
    assert [i["field"] for i in error["issues"]] == [option]


def test_events_follow_after_a_position_prints_new_events_as_they_come(
    data_dir: tuple[Path, CardLifecycle, Clock],
) -> None:
    path, app, clock = data_dir
    stories = some_cards(app, clock, 9_335_001)
    ids = log_ids(app)
    command = [sys.executable, "-m", "mynacard", "events", "--follow", "--after", str(ids[3])]
    process = subprocess.Popen(
        [*command, "--json", "--interval", "0.05"],
        env=clean_env(path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = Lines(process)
        assert [lines.next()["position"] for _ in ids[4:]] == ids[4:]
        stories[0].run(m.SuspendCard, "2021-01-01T10:00")
        new = [i for i in log_ids(app) if i > ids[-1]]
        later = [lines.next() for _ in new]
        assert [e["position"] for e in later] == new
        assert later[0]["type"] == "Suspended"
        assert all(e["schema"] == EVENT_SCHEMA for e in later)
    finally:
        process.terminate()
        process.wait(WAIT)


def test_events_json_lines_have_the_documented_shape(data_dir: tuple[Path, CardLifecycle, Clock]) -> None:
    path, app, clock = data_dir
    number = my_number(9_340_001)
    story = Story(app, clock, my_number_=number)
    story.to_active()
    suspend_and_lift(story, "2021-01-01")
    story.run(m.ChangeCardInformation, "2021-02-01T10:00", facts=["address"], pin_confirmed=True)
    story.run(m.ReportLoss, "2021-03-02T10:00", lost_at_home=True, effective_at="2021-03-01T22:00")
    ids = log_ids(app)
    links = app.command_log
    expected = {
        n.id: feed_event_dict(app.mapper.to_domain_event(n), n, links.chain_link_at(n.id).chain_hash)  # type: ignore[union-attr]
        for n in app.recorder.select_notifications(1, 100_000)
    }

    def events(*args: str) -> list[dict[str, Any]]:
        done = subprocess.run(
            [sys.executable, "-m", "mynacard", "events", *args, "--json"],
            env=clean_env(path),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert number not in done.stdout
        lines = done.stdout.splitlines()
        out = [json.loads(line) for line in lines]
        assert all(isinstance(o, dict) for o in out)
        return out

    page = events("--after", str(ids[4]), "--limit", "6")
    assert [e["position"] for e in page] == ids[5:11]
    everything = events()
    assert [e["position"] for e in everything] == ids
    assert everything == [json.loads(json.dumps(expected[i])) for i in ids]

    documented = set(re.findall(r"^### `(\w+)` — `([\w.]+)`$", DOCS.read_text(), re.MULTILINE))
    assert "mynacard.event/1" in DOCS.read_text()
    for e in everything:
        assert e["schema"] == EVENT_SCHEMA == "mynacard.event/1"
        assert set(e) == {
            "schema",
            "position",
            "type",
            "topic",
            "aggregate",
            "aggregate_id",
            "version",
            "effective_at",
            "recorded_at",
            "actor",
            "command_id",
            "data",
            # issue 13: what a consumer needs to keep the hash chain
            "originator_id",
            "originator_version",
            "payload_sha256",
            "chain_hash",
        }
        assert (e["type"], e["topic"]) in documented, e["type"]
        assert e["aggregate"] in {"card", "certificate", "holder"}  # holder: the person (R62–R65)
    types = {e["type"] for e in everything}
    assert {"Applied", "Issued", "Suspended", "CertificatePutOnHold", "CertificateReleased", "Lost"} <= types
    assert {"CertificateRevoked", "AddressChanged"} & types
