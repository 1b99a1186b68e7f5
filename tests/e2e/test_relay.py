"""``mynacard relay`` against a real NATS server with JetStream (issue 12): the stream holds one
message per log position, in log order, with the documented subjects and the ``events`` JSON as
payload (never a My Number); a second run publishes only what is new, also after a crash between
JetStream's ack and the checkpoint, and a message sent again is dropped by JetStream; a relay
SIGKILLed again and again while another process writes leaves 0 gaps and 0 duplicates; one relay
per consumer name (exit 5); an unreachable server is exit 6 and moves nothing; a server lost under
a following relay is exit 6 after the retries, and nothing is lost; a stream holding another
store's events or a foreign message is refused (exit 6).

Every relay is a real ``python -m mynacard relay`` process on the test's store (SQLite, or
PostgreSQL when ``MYNACARD_TEST_DATABASE_URL`` is set). The server is ``MYNACARD_TEST_NATS_URL``
(default ``nats://127.0.0.1:4222``, which ``.ci/run`` starts): when it does not answer the tests
FAIL, they do not skip. Each test relays into a stream and subjects of its own, deleted at the end.

Figures (one line, for the README): ``FIGURES relay[<backend>]: kills=… events=… …``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import nats
import pytest

from commands.application import CardLifecycle
from lifecycle import certificate as cert
from lifecycle.card import events as card_events
from lifecycle.holder.events import ALL_HOLDER_EVENTS
from mynacard.bootstrap import open_checkpoints, open_write_side
from mynacard.cli import main
from mynacard.relay_messages import subject_for
from projections.subscriptions import DurableConsumer
from tests.helpers import backend
from tests.helpers.consumers import events_cli, log_ids, some_cards
from tests.helpers.recorded_store import NEW_NUMBER, NUMBER, OTHER_NUMBER, cli, record_story
from tests.helpers.support import Clock

ROOT = Path(__file__).resolve().parents[2]
NATS_URL = os.environ.get("MYNACARD_TEST_NATS_URL", "nats://127.0.0.1:4222")
KILLS = int(os.environ.get("MYNACARD_RELAY_KILLS", "12"))
SEED = 20250612
WAIT = 60.0  # seconds: an upper bound, never a synchronisation
CONSUMER = "relay"


# ----------------------------------------------------------------------------- the stream


@dataclass
class Target:
    """A stream and subject prefix of one test's own."""

    stream: str
    prefix: str
    url: str = NATS_URL

    def args(self, *extra: str) -> list[str]:
        return ["relay", "--nats", self.url, "--stream", self.stream, "--subject-prefix", self.prefix, *extra]


@dataclass
class Message:
    seq: int
    subject: str
    data: bytes
    headers: dict[str, str]

    @property
    def position(self) -> int:
        return int(self.headers["Mynacard-Position"])


async def _quiet(error: Exception) -> None:
    return None


async def _connect(url: str) -> Any:
    return await nats.connect(
        url, allow_reconnect=False, max_reconnect_attempts=1, connect_timeout=2, error_cb=_quiet
    )


async def _publish_again(target: Target, message: Message) -> bool:
    """Send a message of the stream again as the relay would (same subject, payload and
    headers): whether JetStream acknowledged it as a duplicate."""
    nc = await _connect(target.url)
    try:
        headers = {k: v for k, v in message.headers.items() if not k.startswith("Nats-Expected")}
        ack = await nc.jetstream().publish(
            message.subject, message.data, stream=target.stream, headers=headers
        )
        return bool(ack.duplicate)
    finally:
        await nc.close()


async def _read(target: Target) -> tuple[list[Message], Any]:
    stream = target.stream
    nc = await _connect(target.url)
    try:
        js = nc.jetstream(timeout=10)
        info = await js.stream_info(stream)
        messages = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            m = await js.get_msg(stream, seq)
            messages.append(Message(m.seq or seq, m.subject or "", m.data or b"", dict(m.headers or {})))
        return messages, info
    finally:
        await nc.close()


def stream_messages(target: Target) -> list[Message]:
    """Every message of the stream, by stream sequence."""
    return asyncio.run(_read(target))[0]


def stream_info(target: Target) -> Any:
    return asyncio.run(_read(target))[1]


async def _delete(target: Target) -> None:
    nc = await _connect(target.url)
    try:
        await nc.jetstream().delete_stream(target.stream)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await nc.close()


@pytest.fixture
def target() -> Iterator[Target]:
    """A stream of this test's own on the NATS server (deleted at the end); a server that does
    not answer fails the test: CI starts one (`nats-server -js`)."""
    try:
        asyncio.run(_delete(Target("MYNACARD_PROBE", "")))
    except Exception as e:
        pytest.fail(
            f"no NATS server with JetStream answers at {NATS_URL} ({type(e).__name__}: {e}): start one "
            "with 'nats-server -js' (.ci/run does), or set MYNACARD_TEST_NATS_URL"
        )
    name = uuid4().hex[:12]
    made = Target(stream=f"T_{name.upper()}", prefix=f"t{name}")
    yield made
    asyncio.run(_delete(made))


# ----------------------------------------------------------------------------- the store


def checkpoint(path: Path, app: CardLifecycle) -> int:
    consumer = DurableConsumer(CONSUMER, open_checkpoints(backend.settings(path)), app.recorder, app.mapper)
    return consumer.position


def events_lines(path: Path) -> dict[int, str]:
    """``mynacard events``: position → its JSON line (what every payload must equal)."""
    done = events_cli(path, timeout=120)
    assert done.returncode == 0, done.stderr
    return {json.loads(line)["position"]: line for line in done.stdout.splitlines()}


def expected_subject(prefix: str, topic: str) -> str:
    """The documented mapping, written out again: ``mynacard.Card.PinCounterReset`` →
    ``<prefix>.card.pin_counter_reset``."""
    _, aggregate, name = topic.split(".")
    return f"{prefix}.{aggregate.lower()}.{re.sub(r'(?<!^)(?=[A-Z])', '_', name).lower()}"


def assert_stream_is_the_log(
    target: Target, lines: dict[int, str], messages: list[Message] | None = None
) -> list[Message]:
    """The stream holds exactly one message per log position, in log order by stream sequence,
    each with the documented subject and headers and the ``events`` JSON line as payload."""
    messages = stream_messages(target) if messages is None else messages
    assert [m.position for m in messages] == sorted(lines)
    assert [m.seq for m in messages] == sorted(m.seq for m in messages)
    for m in messages:
        body = json.loads(lines[m.position])
        assert m.data.decode() == lines[m.position]
        assert m.subject == expected_subject(target.prefix, body["topic"])
        assert m.headers["Nats-Msg-Id"] == str(m.position)
        assert m.headers["Mynacard-Event-Type"] == body["type"]
        assert m.headers["Mynacard-Schema"] == "mynacard.event/1"
    return messages


def add_cards(path: Path, seed: int) -> None:
    app = open_write_side(backend.settings(path))
    clock = Clock("2020-05-01T09:00")
    app.clock, app.clock_tolerance = clock, None
    try:
        some_cards(app, clock, seed)
    finally:
        app.close()


# ----------------------------------------------------------------------------- once, resume


def test_the_stream_holds_each_position_once_in_order_with_the_events_json_and_no_my_number(
    tmp_path: Path, target: Target
) -> None:
    settings = backend.settings(tmp_path)
    record_story(settings)
    lines = events_lines(tmp_path)

    started = time.monotonic()
    run = cli(settings, *target.args("--once"))
    seconds = time.monotonic() - started
    report = run.out
    positions = sorted(lines)
    assert report["published"] == len(lines) and report["duplicates"] == 0
    assert (report["first"], report["last"], report["checkpoint"]) == (
        positions[0],
        positions[-1],
        positions[-1],
    )
    assert report["log_head"] == positions[-1] and report["stopped"] == "end of the log"

    messages = assert_stream_is_the_log(target, lines)
    subjects = {m.subject for m in messages}
    for documented in ("card.applied", "card.suspended", "card.lost", "certificate.revoked", "holder.opened"):
        assert f"{target.prefix}.{documented}" in subjects, sorted(subjects)
    assert f"{target.prefix}.certificate.put_on_hold" in subjects
    info = stream_info(target)
    assert info.config.subjects == [f"{target.prefix}.>"]
    assert info.config.duplicate_window >= 3600

    # The holder reference, never the My Number: not in any payload, subject or header.
    everything = b"\n".join(
        m.data + m.subject.encode() + json.dumps(m.headers).encode() for m in messages
    ).decode()
    for number in (NUMBER, OTHER_NUMBER, NEW_NUMBER):
        assert number not in everything
        assert f"{number[:4]} {number[4:8]} {number[8:]}" not in everything
    applied = [json.loads(m.data) for m in messages if m.headers["Mynacard-Event-Type"] == "Applied"]
    assert len(applied) == 2 and all(a["data"]["holder_ref"] for a in applied)
    print(f"FIGURES relay-once[{backend.BACKEND}]: events={len(lines)} seconds={seconds:.2f}")


def test_every_event_class_has_its_own_subject() -> None:
    """The mapping is one-to-one over every event class, and every subject is plain tokens."""
    classes = [*card_events.ALL_CARD_EVENTS, *ALL_HOLDER_EVENTS]
    classes += [
        c for c in vars(cert).values() if isinstance(c, type) and issubclass(c, cert.CertificateEvent)
    ]
    bases = (card_events.CardEvent, cert.CertificateEvent)
    topics = {c.TOPIC for c in classes if c not in bases}
    subjects = {subject_for("mynacard", t) for t in topics}
    assert len(topics) > 60 and len(subjects) == len(topics)
    assert all(re.fullmatch(r"mynacard\.(card|certificate|holder)\.[a-z0-9_]+", s) for s in subjects)
    assert subject_for("mynacard", "mynacard.Card.Suspended") == "mynacard.card.suspended"
    assert subject_for("x.y", "mynacard.Certificate.Revoked") == "x.y.certificate.revoked"
    assert {expected_subject("mynacard", t) for t in topics} == subjects


def test_a_second_run_publishes_only_the_new_events_and_never_again_what_the_stream_holds(
    tmp_path: Path, target: Target
) -> None:
    settings = backend.settings(tmp_path)
    record_story(settings)
    first = cli(settings, *target.args("--once")).out
    before = stream_messages(target)

    add_cards(tmp_path, 9_600_001)
    lines = events_lines(tmp_path)
    new = [p for p in sorted(lines) if p > first["checkpoint"]]
    assert new
    second = cli(settings, *target.args("--once")).out
    assert second["checkpoint_at_start"] == first["checkpoint"]
    assert (second["published"], second["duplicates"]) == (len(new), 0)
    assert (second["first"], second["last"], second["checkpoint"]) == (new[0], new[-1], new[-1])
    after = assert_stream_is_the_log(target, lines)
    assert after[: len(before)] == before  # the earlier messages untouched

    again = cli(settings, *target.args("--once")).out
    assert (again["published"], again["duplicates"], again["first"]) == (0, 0, None)

    # A crash after JetStream's ack and before the checkpoint: the stream is ahead of it. The
    # next run reads where the stream ends and publishes nothing twice.
    reset = events_cli(tmp_path, "--consumer", CONSUMER, "--reset-to", str(new[1]), "--json")
    assert reset.returncode == 0, reset.stderr
    resumed = cli(settings, *target.args("--once")).out
    assert resumed["checkpoint_at_start"] == new[1]
    assert resumed["published"] == 0
    assert resumed["stream_held_through"] == resumed["checkpoint"] == new[-1]
    assert stream_messages(target) == after

    # And a message sent again (a lost ack, a killed relay's last message arriving late) is
    # dropped by JetStream: its Nats-Msg-Id is the position, within the duplicate window.
    assert asyncio.run(_publish_again(target, after[len(before)]))
    assert stream_messages(target) == after


async def _publish_foreign(target: Target) -> None:
    nc = await _connect(target.url)
    try:
        await nc.jetstream().publish(f"{target.prefix}.other.thing", b"{}", stream=target.stream)
    finally:
        await nc.close()


def test_a_stream_the_relay_cannot_account_for_is_refused_with_exit_6(tmp_path: Path, target: Target) -> None:
    """Another store's events in the stream (or this store's before an older backup was
    restored), or a message the relay did not publish on its subjects: exit 6, nothing
    published, no checkpoint moved."""
    store_a, store_b = tmp_path / "a", tmp_path / "b"
    store_a.mkdir()
    store_b.mkdir()
    record_story(backend.settings(store_a))
    assert cli(backend.settings(store_a), *target.args("--once")).out["published"] > 0
    held = stream_messages(target)

    record_story(backend.settings(store_b))
    other = cli(backend.settings(store_b), *target.args("--once"))
    assert other.returncode == 6, other.stderr
    assert "has events of another store" in other.error["message"]
    assert "another stream (--stream)" in other.error["message"]

    asyncio.run(_publish_foreign(target))
    foreign = cli(backend.settings(store_a), *target.args("--once"))
    assert foreign.returncode == 6, foreign.stderr
    assert "was not published by mynacard relay" in foreign.error["message"]
    assert stream_messages(target)[: len(held)] == held and len(stream_messages(target)) == len(held) + 1
    app = open_write_side(backend.settings(store_b))
    try:
        assert checkpoint(store_b, app) == 0
    finally:
        app.close()


# ----------------------------------------------------------------------------- real processes


class Relay:
    """``mynacard relay`` following the log, as a process; its stderr (JSON progress lines)
    read in a thread."""

    def __init__(self, path: Path, target: Target, *extra: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mynacard", *target.args("--json", "--interval", "0.05", *extra)],
            cwd=ROOT,
            env=backend.cli_env(path),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.progress: list[dict[str, Any]] = []
        self.other: list[str] = []
        self.started = threading.Event()
        self.following = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                self.other.append(line)
                continue
            if not isinstance(item, dict) or "relay" not in item:
                self.other.append(line)
                continue
            self.progress.append(item)
            if item["relay"] == "started":
                self.started.set()
            if item["relay"] == "following":
                self.following.set()

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [p for p in self.progress if p["relay"] == kind]

    def wait_for(self, event: threading.Event) -> None:
        if not event.wait(WAIT):
            self.kill()
            raise AssertionError(f"the relay did not get there in time: {self.progress} {self.other}")

    def kill(self) -> int:
        if self.process.poll() is None:
            self.process.kill()
        code = self.process.wait(WAIT)
        self._thread.join(WAIT)
        return code

    def stop(self) -> tuple[int, dict[str, Any]]:
        """SIGTERM: a clean stop; its summary."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=WAIT)
        self._thread.join(WAIT)
        return self.process.returncode, json.loads(out) if out.strip() else {}


WRITER = r"""
import datetime, os, sys, time
from commands.config import Settings
from mynacard.bootstrap import open_write_side
from tests.helpers.consumers import some_cards, suspend_and_lift
from tests.helpers.support import Clock

stop_file, seed, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
app = open_write_side(Settings())
clock = Clock("2020-05-01T09:00")
app.clock, app.clock_tolerance = clock, None
stories = some_cards(app, clock, seed, n=2)
day, rounds = datetime.date(2021, 1, 4), 0
while not os.path.exists(stop_file) and rounds < 1500:
    for story in stories:
        suspend_and_lift(story, day.isoformat())
    day += datetime.timedelta(days=1)
    rounds += 1
    time.sleep(pause)
app.close()
print(rounds, flush=True)
"""
"""Another process writing: two cards suspended and lifted once a (simulated) day, until told to stop."""


def test_a_relay_killed_again_and_again_while_events_are_written_leaves_no_gap_and_no_duplicate(
    tmp_path: Path, target: Target
) -> None:
    """SIGKILL at seeded random moments (0–0.6 s after the relay reported that it started, so
    in its catch-up, between an ack and its checkpoint, or following) while a writer process
    records events; restarted each time with ``--batch 3`` (many acks not yet checkpointed).
    Then a last relay catches up and stops on SIGTERM. The stream equals the log: every position
    exactly once, in order of stream sequence, payloads as ``events`` prints them."""
    settings = backend.settings(tmp_path)
    record_story(settings)
    rng = random.Random(SEED)
    stop_file = tmp_path / "stop-writing"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(stop_file), "9700001", "0.05"],
        cwd=ROOT,
        env=backend.cli_env(tmp_path, MYNACARD_ACTOR="clerk-writer"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = time.monotonic()
    runs: list[Relay] = []
    try:
        for _ in range(KILLS):
            relay = Relay(tmp_path, target, "--batch", "3")
            runs.append(relay)
            relay.wait_for(relay.started)
            time.sleep(rng.uniform(0.0, 0.6))
            assert relay.kill() == -signal.SIGKILL, relay.other
    finally:
        stop_file.write_text("stop")
        out, err = writer.communicate(timeout=WAIT * 2)
    assert writer.returncode == 0, err
    rounds = int(out.split()[-1])

    app = open_write_side(settings)
    try:
        head = log_ids(app)[-1]
        last = Relay(tmp_path, target, "--batch", "3")
        last.wait_for(last.following)
        code, summary = last.stop()
        assert code == 0, last.other
        assert summary["stopped"] == "signal" and summary["checkpoint"] == head
        assert checkpoint(tmp_path, app) == head
        ids = log_ids(app)
    finally:
        app.close()

    lines = events_lines(tmp_path)
    assert sorted(lines) == ids
    messages = stream_messages(target)
    positions = [m.position for m in messages]
    gaps = len(set(ids) - set(positions))
    duplicates = len(positions) - len(set(positions))
    assert (gaps, duplicates) == (0, 0)
    assert positions == ids  # in log order by stream sequence, nothing else
    assert_stream_is_the_log(target, lines, messages)

    reconciled = sum(len(r.kinds("reconciled")) for r in [*runs, last])
    acked_again = sum(max((p["duplicates"] for p in r.progress), default=0) for r in [*runs, last])
    print(
        f"FIGURES relay[{backend.BACKEND}]: kills={KILLS} events={len(ids)} writer_rounds={rounds} "
        f"stream_messages={len(positions)} gaps={gaps} duplicates={duplicates} "
        f"restarts_that_found_the_stream_ahead={reconciled} duplicate_acks={acked_again} "
        f"seconds={time.monotonic() - started:.1f}"
    )


def test_a_second_relay_with_the_same_consumer_name_exits_5(tmp_path: Path, target: Target) -> None:
    """One relay per consumer name; the first stops cleanly on SIGTERM and the lease goes with it."""
    settings = backend.settings(tmp_path)
    record_story(settings)
    first = Relay(tmp_path, target)
    try:
        first.wait_for(first.following)
        for extra in (("--once",), ()):
            second = cli(settings, *target.args(*extra))
            assert second.returncode == 5, (second.returncode, second.stderr)
            error = second.error
            assert error["kind"] == "consumer_busy" and CONSUMER in error["message"]
            assert "one relay per consumer name" in error["hint"]
        other = Target(f"{target.stream}_B", f"{target.prefix}b")
        try:
            assert cli(settings, *other.args("--once", "--consumer", "relay-b")).out["published"] > 0
        finally:
            asyncio.run(_delete(other))
        code, summary = first.stop()
    finally:
        first.kill()
    assert code == 0 and summary["stopped"] == "signal"
    assert summary["checkpoint"] == max(events_lines(tmp_path))
    assert cli(settings, *target.args("--once")).out["published"] == 0


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_an_unreachable_nats_server_is_exit_6_and_moves_no_checkpoint(tmp_path: Path, target: Target) -> None:
    settings = backend.settings(tmp_path)
    record_story(settings)
    published = cli(settings, *target.args("--once")).out["checkpoint"]
    add_cards(tmp_path, 9_800_001)

    url = f"nats://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    run = cli(settings, "relay", "--nats", url, "--stream", target.stream, "--once")
    seconds = time.monotonic() - started
    assert run.returncode == 6, (run.returncode, run.stderr)
    error = run.error
    assert error["kind"] == "nats_unavailable" and url in error["message"]
    assert "nats-server -js" in error["hint"] and f"after position {published}" in error["hint"]
    assert error["checkpoint"] == published
    app = open_write_side(settings)
    try:
        assert checkpoint(tmp_path, app) == published
    finally:
        app.close()
    assert len(stream_messages(target)) == len([p for p in events_lines(tmp_path) if p <= published])
    assert seconds < 30


class PrivateServer:
    """A NATS server with JetStream of the test's own (the Debian package's binary), to stop and
    start again under a running relay; its store in ``store``."""

    def __init__(self, store: Path) -> None:
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not Path(binary).exists():
            pytest.fail("nats-server is not installed (Debian package nats-server; .ci/run installs it)")
        self.binary, self.store, self.port = binary, store, closed_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [self.binary, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                asyncio.run(_delete(Target("MYNACARD_PROBE", "", self.url)))
                return
            except Exception:
                time.sleep(0.1)
        raise AssertionError(f"the private nats-server on {self.port} did not answer")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(WAIT)


def test_a_server_lost_under_a_following_relay_is_exit_6_after_the_retries_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    """NATS dies (SIGKILL) while the relay follows; new events come: the relay retries for
    ``--retry-for`` seconds, then exits 6 with the checkpoint at what JetStream acknowledged.
    With the server back (same store), the next run publishes the rest: the stream is the log."""
    settings = backend.settings(tmp_path)
    record_story(settings)
    server = PrivateServer(tmp_path / "jetstream")
    server.start()
    name = uuid4().hex[:12]
    target = Target(f"T_{name.upper()}", f"t{name}", server.url)
    try:
        relay = Relay(tmp_path, target, "--retry-for", "2")
        relay.wait_for(relay.following)
        before = max(events_lines(tmp_path))
        server.kill()
        add_cards(tmp_path, 9_900_001)
        assert relay.process.wait(WAIT) == 6, relay.other
        relay.kill()
        error = json.loads(relay.other[-1])["error"]
        assert error["kind"] == "nats_unavailable" and server.url in error["message"]
        assert "stopped acknowledging" in error["message"] and error["checkpoint"] == before
        assert relay.kinds("retrying")
        app = open_write_side(settings)
        try:
            assert checkpoint(tmp_path, app) == before
        finally:
            app.close()

        server.start()
        lines = events_lines(tmp_path)
        report = cli(settings, *target.args("--once")).out
        assert report["first"] == min(p for p in lines if p > before) and report["published"] > 0
        assert_stream_is_the_log(target, lines)
    finally:
        server.kill()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--nats", "http://127.0.0.1:4222"], "--nats"),
        (["--nats", "nats://127.0.0.1:99999"], "--nats"),
        (["--stream", "a.b"], "--stream"),
        (["--subject-prefix", "a.>"], "--subject-prefix"),
        (["--batch", "0"], "--batch"),
        (["--consumer", "has space"], "--consumer"),
        (["--retry-for", "nan"], "--retry-for"),
    ],
)
def test_bad_relay_options_exit_2_naming_the_option(
    args: list[str], option: str, capsys: pytest.CaptureFixture[str], only_the_settings_given: None
) -> None:
    """Checked before the store or NATS is touched."""
    assert main(["relay", "--once", "--json", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert json.loads(captured.err)["error"]["issues"][0]["field"] == option
