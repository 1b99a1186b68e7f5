"""Downstream consumers driven as real processes: ``mynacard events`` runs (``events_cli``), a
line reader with a timeout (``Lines``), a clean environment, and stores with a few cards and
suspensions to follow. Shared by the subscription and consumer fault tests."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from commands import models as m
from commands.application import CardLifecycle
from tests.helpers import backend
from tests.helpers.support import Clock, Story, my_number

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


def clean_env(data_dir: Path) -> dict[str, str]:
    return backend.cli_env(data_dir, MYNACARD_ACTOR="clerk-sub")


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


def events_cli(path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``mynacard events ARGS`` in a process of its own, on the test's store."""
    return subprocess.run(
        [sys.executable, "-m", "mynacard", "events", *args],
        env=clean_env(path),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def positions_of(done: subprocess.CompletedProcess[str]) -> list[int]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line)["position"] for line in done.stdout.splitlines()]
