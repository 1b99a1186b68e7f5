"""Crash safety (issue: a writer killed at random points loses nothing and half-writes nothing).

The harness (``python -m tests.helpers.harness stream``) runs a deterministic stream of ~200 commands
through the real wiring (encryption, command log, a durable consumer after every command, the
projections every few commands) and prints ``ACK <command id> …`` after each ``execute``. The
test SIGKILLs it at random points (seeded), many times, restarting it each time (the restart
re-sends the last commands: those already done are duplicates), then completes the stream and
checks the store:

- every command acknowledged before a kill is in the command log exactly once, and its events
  are in the store exactly once (the ones its result names, nothing more);
- positions strictly increase, versions are contiguous per aggregate, each command's events are
  one contiguous run of the log, every event belongs to a logged command;
- nothing half-written: the certificate consequences of every card event are in the same
  command (a suspension's SIG revocation and AUTH hold, a handover's certificates, …);
- the store holds, command by command, exactly the events of an uninterrupted run of the stream;
- a duplicate answers the first result;
- the projections catch up and ``verify`` finds no difference; the durable consumer resumes
  after its checkpoint and sees every later position once, in order; across the kills it saw
  every position, at least once, and again at most once per kill.

Figures (one line, quoted in the README): ``FIGURES crash[<backend>]: trials=… kills=… acked=…
events_checked=…``. Trials: 15 on SQLite, 10 on PostgreSQL (``MYNACARD_CRASH_TRIALS`` overrides).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

import pytest

from commands.config import Settings
from mynacard.bootstrap import open_checkpoints, open_read_side, open_write_side, upstream_of
from projections.chain_audit import verify_chain
from projections.subscriptions import DurableConsumer
from projections.verify import verify
from storage.keys import KEY_FILE, holder_key
from tests.helpers import harness
from tests.helpers.backend import BACKEND, POSTGRES, database_url

ROOT = Path(__file__).resolve().parents[2]
TRIALS = int(os.environ.get("MYNACARD_CRASH_TRIALS", "10" if POSTGRES else "15"))
SEED = 20250601


@dataclass
class Run:
    """What one run of the harness printed (complete lines only) and how it ended."""

    acks: list[tuple[UUID, str, str]] = field(default_factory=list)  # (command id, new|dup, digest)
    refused: list[str] = field(default_factory=list)
    done: bool = False
    returncode: int | None = None
    stderr: str = ""

    def read(self, line: str) -> None:
        parts = line.split()
        if line.endswith("\n") and len(parts) == 4 and parts[0] == "ACK" and parts[2] in {"new", "dup"}:
            self.acks.append((UUID(parts[1]), parts[2], parts[3]))
        elif parts and parts[0] == "REFUSED":
            self.refused.append(line)
        elif parts == ["DONE"]:
            self.done = True


def harness_command(data_dir: Path, url: str | None, *extra: str) -> list[str]:
    command = [sys.executable, "-m", "tests.helpers.harness", "stream", "--data-dir", str(data_dir)]
    if url:
        command += ["--database-url", url]
    return [*command, *extra]


def run_harness(data_dir: Path, url: str | None, *extra: str) -> Run:
    """One run to the end (no kill)."""
    done = subprocess.run(
        harness_command(data_dir, url, *extra),
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    run = Run(returncode=done.returncode, stderr=done.stderr)
    for line in done.stdout.splitlines(keepends=True):
        run.read(line)
    return run


def killed_run(
    data_dir: Path, url: str | None, rng: random.Random, start: int, mode: str, acks: int, *extra: str
) -> Run:
    """Start the harness and SIGKILL it, by ``mode``:

    - ``ack``: after ``acks`` ACK lines and a random few milliseconds, so the kill lands inside
      the next command, its consumer delivery or a projection batch;
    - ``ready``: a random few milliseconds after it opened the store (the re-sent duplicates);
    - ``startup``: a random delay after it was started (imports, opening the store, the first
      start's key files)."""
    proc = subprocess.Popen(
        harness_command(data_dir, url, "--start", str(start), *extra),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    run = Run()
    assert proc.stdout is not None
    if mode == "startup":
        time.sleep(rng.uniform(0.05, 0.6))
    else:
        ready = False
        while not ready or len(run.acks) < acks:
            line = proc.stdout.readline()
            if not line:
                break
            ready = ready or line == "READY\n"
            run.read(line)
            if mode == "ready" and ready:
                break
        time.sleep(rng.uniform(0, 0.03))
    proc.send_signal(signal.SIGKILL)
    rest, run.stderr = proc.communicate(timeout=60)
    for line in rest.splitlines(keepends=True):
        run.read(line)
    run.returncode = proc.returncode
    return run


def consumer_runs(path: Path) -> list[list[int]]:
    """The positions the harness's durable consumer handled, one list per harness run."""
    runs: list[list[int]] = []
    for line in path.read_text().split("\n"):
        if line == "RUN":
            runs.append([])
        elif line.isdigit():
            runs[-1].append(int(line))
    return runs


def test_sigkill_at_random_points_loses_nothing_and_half_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(SEED)
    data_dir = tmp_path / "data"
    url = database_url(tmp_path)
    consumer_log = tmp_path / "consumer.log"
    commands = harness.stream()
    total = len(commands)
    order = {c.command_id: n for n, c in enumerate(commands)}
    first_result: dict[UUID, str] = {}
    acked_before_kill: set[UUID] = set()
    in_flight_committed: set[UUID] = set()
    next_index, kills = 0, 0

    for trial in range(TRIALS):
        start = max(0, next_index - rng.randint(0, 3))
        mode = {2: "startup", 4: "ready"}.get(trial % 5, "ack")
        # Spread the kills over ~85% of the stream (the last run finishes it).
        share = max(1, int(1.6 * (0.85 * total - next_index) / (TRIALS - trial)))
        wanted = (next_index - start) + rng.randint(1, share)
        run = killed_run(data_dir, url, rng, start, mode, wanted, "--consumer-log", str(consumer_log))
        assert run.refused == [], run.refused
        assert "Traceback" not in run.stderr, run.stderr
        if run.returncode == -signal.SIGKILL:
            kills += 1  # mid-stream, or (rarely) after it printed DONE
        else:
            assert run.done and run.returncode == 0, (run.returncode, run.stderr)
        for command_id, kind, digest in run.acks:
            assert order[command_id] >= start
            if kind == "dup" and command_id not in first_result:
                in_flight_committed.add(command_id)  # committed by a killed run, never acknowledged
            assert first_result.setdefault(command_id, digest) == digest, "a duplicate answered differently"
            acked_before_kill.add(command_id)
            next_index = max(next_index, order[command_id] + 1)

    # The last run completes the stream, re-sending all of it; no consumer, no projections, so
    # both must resume on their own afterwards.
    final = run_harness(data_dir, url)
    assert final.done and final.returncode == 0, final.stderr
    assert final.refused == []
    assert [a[0] for a in final.acks] == [c.command_id for c in commands]
    for command_id, kind, digest in final.acks:
        if kind == "new":
            assert command_id not in first_result, f"{command_id} was done already, yet ran again"
        elif command_id not in first_result:
            in_flight_committed.add(command_id)
        assert first_result.setdefault(command_id, digest) == digest, "a duplicate answered differently"

    settings = harness.harness_settings(data_dir, url)
    app = open_write_side(settings)
    try:
        audit = harness.audit_store(app)
        assert audit.problems == []
        # Every acknowledged command is in the log once (the log's key) with its events once.
        assert set(audit.log) == {c.command_id for c in commands}
        assert acked_before_kill <= set(audit.log)
        assert Counter(s.command_id for s in audit.events).keys() <= set(audit.log)
        for command in commands:
            entry = audit.log[command.command_id]
            assert entry.command == command.COMMAND
            assert harness.result_digest_of_entry(entry) == first_result[command.command_id]
        # Commands in the log in stream order (each ran once, when it first ran).
        logged_order = list(dict.fromkeys(s.command_id for s in audit.events))
        assert logged_order == sorted(logged_order, key=order.__getitem__)

        # Command by command, the same events as a run that was never killed.
        reference_dir = tmp_path / "reference"
        reference_url = database_url(reference_dir, "reference")
        reference_run = run_harness(reference_dir, reference_url)
        assert reference_run.done, reference_run.stderr
        reference = open_write_side(harness.harness_settings(reference_dir, reference_url))
        try:
            expected = harness.audit_store(reference)
        finally:
            reference.close()
        assert expected.problems == []
        for command in commands:
            got = [(s.aggregate_id, s.version, s.event) for s in audit.by_command.get(command.command_id, [])]
            want = [
                (s.aggregate_id, s.version, s.event) for s in expected.by_command.get(command.command_id, [])
            ]
            assert got == want, f"command {order[command.command_id]} ({command.COMMAND})"

        # Issue 13: every event that survived the kills has its chain row, in log order, and the
        # chain walks clean (a kill never leaves an event without its link, or a link without
        # its event).
        chain_report = verify_chain(app.command_log)
        assert chain_report.ok, chain_report
        assert chain_report.events == len(app.recorder.select_notifications(1, 10**7))

        # The projections resume from their tracked positions; verify finds nothing.
        read = open_read_side(settings, upstream_of(app))
        caught_up = read.catch_up()
        report = verify(read, app.events)
        assert report.differences == []
        assert report.cards == len({s.aggregate_id for s in audit.events if s.type == "Applied"})

        # The durable consumer resumes after its checkpoint: every later position once, in order.
        positions = [s.position for s in audit.events]
        consumer = DurableConsumer(harness.CONSUMER, open_checkpoints(settings), app.recorder, app.mapper)
        checkpoint = consumer.position
        resumed: list[int] = []
        consumer.run(lambda position, event: resumed.append(position))
        assert resumed == [p for p in positions if p > checkpoint]
        assert consumer.position == positions[-1]
        # Across the killed runs: each run in order; every position up to the checkpoint was
        # handled (before its checkpoint advanced); again only where a kill fell in between.
        handled = consumer_runs(consumer_log)
        for seen in handled:
            assert seen == sorted(set(seen))
        all_handled = Counter(p for seen in handled for p in seen)
        assert {p for p in positions if p <= checkpoint} <= set(all_handled)
        assert set(all_handled) <= set(positions)
        redelivered = sum(n - 1 for n in all_handled.values())
        assert redelivered <= kills
    finally:
        app.close()

    assert kills >= TRIALS - 1, "the stream ended before the kills did: raise the stream or lower TRIALS"
    with capsys.disabled():
        print(
            "\n"
            + harness.figures(
                f"crash[{BACKEND}]",
                trials=TRIALS,
                kills=kills,
                commands=total,
                acked=len(acked_before_kill),
                in_flight_committed=len(in_flight_committed),
                events_checked=audit.events_checked,
                consequences_checked=audit.consequences_checked,
                consumer_redelivered=redelivered,
                projected_after_restart=sum(caught_up.values()),
            )
        )


def test_the_audit_notices_a_half_written_command(tmp_path: Path) -> None:
    """The checks above can fail: remove one certificate consequence of a suspension."""
    data_dir = tmp_path / "data"
    url = database_url(tmp_path)
    run = run_harness(data_dir, url, "--cards", "2")
    assert run.done, run.stderr
    app = open_write_side(harness.harness_settings(data_dir, url))
    try:
        clean = harness.audit_store(app)
        assert clean.problems == []
        suspended = next(s for s in clean.events if s.type == "Suspended")
        revoked = next(
            s
            for s in clean.by_command[suspended.command_id]
            if s.type == "CertificateRevoked"
            and s.version == max(x.version for x in clean.events if x.aggregate_id == s.aggregate_id)
        )
        harness.delete_event(app, revoked.aggregate_id, revoked.version)
        broken = harness.audit_store(app)
    finally:
        app.close()
    assert any("revoked" in p and str(suspended.command_id) in p for p in broken.problems), broken.problems
    assert any("!= its result" in p for p in broken.problems), broken.problems


def test_a_kill_while_the_holder_key_file_is_made_leaves_a_usable_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    url = database_url(tmp_path)
    killed = run_harness(data_dir, url, "--kill-in-holder-key", "--cards", "1")
    assert killed.returncode == -signal.SIGKILL
    assert killed.acks == []
    restarted = run_harness(data_dir, url, "--holder-key-file", "--cards", "1")
    assert restarted.done, restarted.stderr
    # The key the restarted service used: a real key, not an empty one.
    key = holder_key(Settings(data_dir=data_dir))
    assert len(key) == 32, f"the holder key has {len(key)} bytes ({(data_dir / KEY_FILE).read_text()!r})"
