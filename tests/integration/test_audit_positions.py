"""Audit as of a log position or a card version (issue 10 §2): ``status CARD --at-position N``
and ``history CARD --until-version V`` / ``--at-position N``, next to ``--as-known-at``. Through
the CLI, on the run's backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from commands import models as m
from mynacard.bootstrap import open_write_side
from tests.helpers import backend
from tests.helpers.support import Clock, Story, my_number


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = backend.cli_env(data_dir, MYNACARD_NOW="2026-01-10T09:00")
    return subprocess.run(
        [sys.executable, "-m", "mynacard", *args, "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def out(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_status_and_history_as_of_a_log_position_and_a_card_version(tmp_path: Path) -> None:
    app = open_write_side(backend.settings(tmp_path))
    clock = Clock("2025-01-05T09:00")
    app.clock = clock
    try:
        story = Story(app, clock, my_number_=my_number(9_100_001))
        story.to_active(
            "2025-01-05T09:00", "2025-01-10", "2025-01-15", "2025-02-01T10:00", photo_taken_on="2025-01-01"
        )
        before_suspension = app.recorder.max_notification_id() or 0
        card_version = story.card.version
        story.run(m.SuspendCard, "2025-03-01T10:00")
    finally:
        app.close()
    card = story.application_id

    assert out(cli(tmp_path, "status", card))["status"] == "suspended"
    then = out(cli(tmp_path, "status", card, "--at-position", str(before_suspension)))
    assert then["status"] == "active"
    assert {c["status"] for c in then["certificates"]} == {"active"}

    until = out(cli(tmp_path, "history", card, "--until-version", str(card_version)))
    assert "Suspended" not in [e["type"] for e in until]
    everything = out(cli(tmp_path, "history", card))
    assert "Suspended" in [e["type"] for e in everything]
    assert out(cli(tmp_path, "history", card, "--at-position", str(before_suspension))) == until

    missing = cli(tmp_path, "status", card, "--at-position", "999999")
    assert missing.returncode == 4, missing.stderr
    both = cli(tmp_path, "history", card, "--at-position", "1", "--until-version", "1")
    assert both.returncode == 2, both.stderr
