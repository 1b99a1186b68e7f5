"""Fault injection on durable consumers with real processes (issue 8 items 2, 4 and 10):
a downstream system killed in the middle of a pipe, a second reader of the same consumer, and an
event store restored from an older backup under newer checkpoints.

Every process here is a ``python -m mynacard events`` on the test's store (SQLite, or PostgreSQL
when ``MYNACARD_TEST_DATABASE_URL`` is set), as an operator's shell pipeline would run it.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from commands.application import CardLifecycle
from mynacard.bootstrap import open_checkpoints, open_write_side
from projections.subscriptions import DurableConsumer
from tests.helpers import backend, harness
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
from tests.helpers.support import Clock

CONSUMER = "relying-party"
DOWNSTREAM = r"""
import json, subprocess, sys, time

handled_path, consumer, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(handled_path, "a", encoding="utf-8") as handled:
    for n, line in enumerate(sys.stdin, 1):
        handled.write(f"{json.loads(line)['position']}\n")
        handled.flush()
        if n == count:
            ack = [sys.executable, "-m", "mynacard", "events", "--consumer", consumer, "--ack", line.strip()]
            done = subprocess.run(ack, capture_output=True, text=True)
            failed = f"ACK FAILED {done.returncode} {done.stderr!r}"
            print("ACKED" if done.returncode == 0 else failed, flush=True)
            time.sleep(3600)  # stuck: the lines after it stay in the pipe, unhandled
"""
"""A downstream system: handles each line (records its position), acknowledges the
``count``-th through the CLI with the JSON line itself, then hangs until it is killed."""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Path, CardLifecycle, Clock]]:
    app = open_write_side(backend.settings(tmp_path))
    clock = Clock("2020-05-01T09:00")
    app.clock = clock
    app.clock_tolerance = None  # the stories set the clock per card (R66's guard is for the CLI)
    yield tmp_path, app, clock
    app.close()


def checkpoint(path: Path, app: CardLifecycle) -> int:
    return DurableConsumer(
        CONSUMER, open_checkpoints(backend.settings(path)), app.recorder, app.mapper
    ).position


def first_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], WAIT)
    assert ready, "no line from the downstream in time"
    return process.stdout.readline().strip()


def kill(*processes: subprocess.Popen[str]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)


def test_a_downstream_killed_after_acknowledging_three_lines_loses_nothing(
    store: tuple[Path, CardLifecycle, Clock],
) -> None:
    """issue 8 item 2: ``events --consumer X --follow | downstream``; the downstream handles 3
    lines, acknowledges the 3rd (``--ack`` with the JSON line) and is killed with SIGKILL while
    more lines sit in the pipe. The resumed consumer starts at the 4th position (at-least-once),
    twice in a row, and across all runs no position is ever skipped."""
    path, app, clock = store
    stories = some_cards(app, clock, 9_400_001)
    handled_file = path / "handled.log"
    env = clean_env(path)
    acknowledged = 0
    for round_ in range(2):
        handled_before = handled_file.read_text().split() if handled_file.exists() else []
        producer = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mynacard",
                "events",
                "--consumer",
                CONSUMER,
                "--follow",
                "--interval",
                "0.05",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert producer.stdout is not None
        downstream = subprocess.Popen(
            [sys.executable, "-c", DOWNSTREAM, str(handled_file), CONSUMER, "3"],
            env=env,
            stdin=producer.stdout,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        producer.stdout.close()  # the downstream is the pipe's only reader
        try:
            assert first_line(downstream) == "ACKED"
            downstream.kill()  # SIGKILL, with unhandled lines in its pipe
            assert downstream.wait(WAIT) == -9
            # The producer learns it only when it next writes: new events, and a broken pipe.
            suspend_and_lift(stories[round_], f"202{round_ + 1}-01-01")
            assert producer.wait(WAIT) == 0, producer.stderr.read() if producer.stderr else ""
        finally:
            kill(downstream, producer)
        handled = [int(p) for p in handled_file.read_text().split()[len(handled_before) :]]
        expected_start = [p for p in log_ids(app) if p > acknowledged]
        # The run started right after the last acknowledged position (the 4th position the
        # second time): nothing skipped; what was in the pipe was not acknowledged.
        assert handled == expected_start[:3]
        acknowledged = handled[-1]
        assert checkpoint(path, app) == acknowledged
    assert acknowledged == log_ids(app)[5]

    rest = positions_of(events_cli(path, "--consumer", CONSUMER, "--json"))
    everything = log_ids(app)
    assert rest == [p for p in everything if p > acknowledged]
    all_handled = [int(p) for p in handled_file.read_text().split()]
    assert sorted(set(all_handled) | set(rest)) == everything


def test_a_second_reader_of_the_same_consumer_exits_5(store: tuple[Path, CardLifecycle, Clock]) -> None:
    """issue 8 item 10: while ``events --consumer X --follow`` runs, a second ``events
    --consumer X`` is a conflict (exit 5, says another process reads it), not an IntegrityError;
    acknowledging needs no lease, other names are independent, and a reader killed with SIGKILL
    leaves no lease behind."""
    path, app, clock = store
    some_cards(app, clock, 9_410_001)
    ids = log_ids(app)
    first = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mynacard",
            "events",
            "--consumer",
            CONSUMER,
            "--follow",
            "--interval",
            "0.05",
        ],
        env=clean_env(path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert Lines(first).next()["position"] == ids[0]  # it holds the lease once it prints
        for args in ((), ("--follow",), ("--limit", "1")):
            second = events_cli(path, "--consumer", CONSUMER, "--json", *args, timeout=60)
            assert second.returncode == 5, (second.returncode, second.stderr)
            assert second.stdout == ""
            error = json.loads(second.stderr)["error"]
            assert error["kind"] == "consumer_busy"
            assert "another process" in error["message"] and CONSUMER in error["message"]
        assert events_cli(path, "--consumer", CONSUMER, "--ack", str(ids[1])).returncode == 0
        assert positions_of(events_cli(path, "--consumer", "crl-push", "--json")) == ids
        first.kill()  # SIGKILL: the lease ends with the process
        assert first.wait(WAIT) == -9
    finally:
        kill(first)
    assert positions_of(events_cli(path, "--consumer", CONSUMER, "--json")) == ids[2:]


def truncate_log(path: Path, app: CardLifecycle, keep_through: int) -> None:
    """What restoring an older backup of the event store does to the log: the events after
    position ``keep_through`` are gone, and so are their hash chain rows (issue 13: the backup
    holds the chain as it was)."""
    later = [n for n in app.recorder.select_notifications(1, 100_000) if n.id > keep_through]
    for n in reversed(later):
        harness.delete_event(app, n.originator_id, n.originator_version)
    assert log_ids(app)[-1] == keep_through
    chain_table = "mynacard_event_chain" if backend.POSTGRES else "event_chain"
    statement = "DELETE FROM {table} WHERE position > ?"
    backend.tamper(backend.settings(path), "mynacard.sqlite", chain_table, statement, (keep_through,))


def test_a_restored_event_store_is_refused_with_the_position_to_resume_from(
    store: tuple[Path, CardLifecycle, Clock],
) -> None:
    """issue 8 item 4: a consumer acknowledged up to the end of the log; then an older backup of
    the store is restored (the log is shorter than the checkpoint) and later written on (the
    log holds other events at the acknowledged positions). Reading or acknowledging is refused
    (exit 6, nothing delivered) with the newest acknowledged position the log still holds and
    the ``--reset-to`` that resumes after it; after the reset, delivery resumes from there."""
    path, app, clock = store
    some_cards(app, clock, 9_420_001)
    ids = log_ids(app)
    for position in (ids[4], ids[9], ids[-1]):
        assert events_cli(path, "--consumer", CONSUMER, "--ack", str(position)).returncode == 0
    truncate_log(path, app, ids[6])

    def refused(*args: str) -> str:
        done = events_cli(path, "--consumer", CONSUMER, "--json", *args)
        assert done.returncode == 6, (done.returncode, done.stdout[:300], done.stderr)
        assert done.stdout == ""
        error = json.loads(done.stderr)["error"]
        assert error["kind"] == "configuration"
        message: str = error["message"]
        assert f"acknowledged position {ids[-1]}" in message
        assert "restored" in message
        assert f"--reset-to {ids[4]}" in message
        return message

    assert f"the log ends at position {ids[6]}" in refused()
    refused("--follow", "--interval", "0.05")
    refused("--ack", str(ids[6]))

    # Written on after the restore, past the old checkpoint: other events at the same positions.
    more = 0
    while log_ids(app)[-1] <= ids[-1]:
        some_cards(app, clock, 9_421_001 + 10 * more, n=1)
        more += 1
    assert f"at position {ids[-1]}" in refused()
    assert checkpoint(path, app) == ids[-1], "refusing moved nothing"

    reset = events_cli(path, "--consumer", CONSUMER, "--reset-to", str(ids[4]))
    assert reset.returncode == 0, reset.stderr
    assert positions_of(events_cli(path, "--consumer", CONSUMER, "--json")) == [
        p for p in log_ids(app) if p > ids[4]
    ]
