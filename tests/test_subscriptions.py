"""Subscribers (issue: "Subscribers"): ``follow()`` from a position, in order, waiting for new
events; named durable consumers whose checkpoints survive a crash and a restart (at-least-once,
in order, no gaps); ``mynacard events`` as JSON lines, also as a consumer killed with SIGKILL;
the ``mynacard.event/1`` shape and docs/events.md.
"""

from __future__ import annotations

import json
import queue
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
from commands.service import open_lifecycle
from mynacard.wiring import open_checkpoints
from projections.events import EVENT_SCHEMA, event_to_dict
from projections.subscriptions import DurableConsumer, follow
from tests import backend
from tests.backend import settings as settings_for
from tests.support import Clock, Story, my_number

DOCS = Path(__file__).parent.parent / "docs" / "events.md"
WAIT = 20.0  # seconds: an upper bound, never a synchronisation


def log_ids(app: CardLifecycle) -> list[int]:
    return [n.id for n in app.recorder.select_notifications(1, 100_000)]


def some_cards(app: CardLifecycle, clock: Clock, seed: int, n: int = 2) -> list[Story]:
    stories = [Story(app, clock, my_number_=my_number(seed + i)) for i in range(n)]
    for s in stories:
        s.to_active()
    return stories


def suspend_and_lift(story: Story, day: str) -> None:
    story.run(m.SuspendCard, f"{day}T10:00")
    story.run(m.LiftSuspension, f"{day}T15:00")


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


def _counts(items: list[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


# ----------------------------------------------------------------------------- the command line


def clean_env(data_dir: Path) -> dict[str, str]:
    return backend.cli_env(data_dir, MYNACARD_ACTOR="clerk-sub")


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[tuple[Path, CardLifecycle, Clock]]:
    app = open_lifecycle(backend.settings(tmp_path))
    clock = Clock("2020-05-01T09:00")
    app.clock = clock
    yield tmp_path, app, clock
    app.close()


class Lines:
    """A subprocess's stdout, read line by line in a thread (so reads can time out)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.queue.put(line)
        self.queue.put(None)

    def next(self) -> dict[str, Any]:
        try:
            line = self.queue.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError("no line from the consumer in time") from None
        assert line is not None, self.process.stderr.read() if self.process.stderr else "EOF"
        obj: dict[str, Any] = json.loads(line)
        return obj

    def rest(self) -> list[dict[str, Any]]:
        """Everything written before the process ended (what was in the pipe at the kill too)."""
        self.thread.join(WAIT)
        out: list[dict[str, Any]] = []
        while True:
            line = self.queue.get_nowait()
            if line is None:
                return out
            out.append(json.loads(line))


def test_a_consumer_killed_with_sigkill_resumes_in_order(data_dir: tuple[Path, CardLifecycle, Clock]) -> None:
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
        # Written while it follows; it is killed after reading two of them.
        suspend_and_lift(stories[0], "2021-01-01")
        got += [lines.next(), lines.next()]
        process.kill()  # SIGKILL: no cleanup, no last checkpoint
        assert process.wait(WAIT) == -9
        got += lines.rest()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)
    first = [e["position"] for e in got]
    assert first == sorted(set(first))
    assert first == log_ids(app)[: len(first)]

    suspend_and_lift(stories[1], "2021-02-01")
    restarted = subprocess.run(
        [*command, "--json"], env=clean_env(path), capture_output=True, text=True, check=False, timeout=120
    )
    assert restarted.returncode == 0, restarted.stderr
    second = [json.loads(line)["position"] for line in restarted.stdout.splitlines()]
    everything = log_ids(app)
    assert second == sorted(set(second))
    # In order across the kill; at most the event in flight at the kill is delivered twice.
    assert second[0] in {first[-1], everything[everything.index(first[-1]) + 1]}
    assert sorted(set(first) | set(second)) == everything
    assert set(first) & set(second) <= {first[-1]}


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
    expected = {
        n.id: event_to_dict(app.mapper.to_domain_event(n), n.id)
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
        }
        assert (e["type"], e["topic"]) in documented, e["type"]
        assert e["aggregate"] in {"card", "certificate"}
    types = {e["type"] for e in everything}
    assert {"Applied", "Issued", "Suspended", "CertificatePutOnHold", "CertificateReleased", "Lost"} <= types
    assert {"CertificateRevoked", "AddressChanged"} & types
