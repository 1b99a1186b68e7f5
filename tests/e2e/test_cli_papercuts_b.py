"""Issue 10 §3, clerk papercuts (part b), through the ``mynacard`` program as a clerk or a
script runs it (subprocesses): the fee in a write's output, a late move-in that says it ended the
card (R29), ``valid-at --check`` as an exit status, and ``sweep`` counting the card it checked.
The finer cases are in tests/integration/test_clerk_papercuts_b.py (in-process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mynacard.bootstrap import open_write_side
from tests.e2e.test_cli_stories import Store, clean_env
from tests.helpers.recorded_store import Run
from tests.helpers.support import Clock, Story, certificates_of, my_number


def mynacard(store: Store, *args: str, now: str) -> Run:
    """``mynacard ARGS --now NOW`` as a subprocess (human output unless ARGS say ``--json``)."""
    done = subprocess.run(
        [sys.executable, "-m", "mynacard", *args, "--now", now],
        check=False,
        env=clean_env(store),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def test_a_clerk_sees_the_fee_the_end_of_a_card_and_scripts_get_exit_statuses(tmp_path: Path) -> None:
    store = Store.new(tmp_path)
    app = open_write_side(store.settings)  # the CLI's own wiring: same keys, same encryption
    clock = Clock("2024-05-01T09:00")
    app.clock = clock
    card = Story(app, clock, my_number_=my_number(10_100_001), actor="clerk-setup")
    card.to_active(
        "2024-05-01T09:00", "2024-05-10", "2024-05-15", "2024-06-20T10:00", photo_taken_on="2024-04-01"
    )
    sig = next(c.serial for c in certificates_of(app, card.card) if c.kind == "SIG")
    app.close()

    # sweep: the active card was looked at, though nothing was due on it.
    swept = mynacard(store, "sweep", "--json", now="2025-01-06T09:00")
    assert json.loads(swept.stdout)["cards_checked"] == 1, swept.stderr

    # valid-at --check: the exit status is the answer (the SIG is usable 24 h after issue, R43).
    valid = mynacard(store, "valid-at", sig, "--at", "2024-06-22T10:00", "--check", now="2025-01-06T09:00")
    assert (valid.returncode, "VALID (inside its validity period, R36)" in valid.stdout) == (0, True)
    early = mynacard(store, "valid-at", sig, "--at", "2024-06-21T09:00", "--check", now="2025-01-06T09:00")
    assert (early.returncode, "NOT VALID" in early.stdout, "(R43)" in early.stdout) == (1, True, True)

    # A late move-in (R29: moved in 2025-01-20, filed 2025-02-10): recorded, exit 0, and said.
    out = mynacard(
        store, "move-out", card.application_id, "--planned-move-out-on", "2025-01-15", now="2025-01-10T10:00"
    )
    assert out.returncode == 0, out.stderr
    assert "fee: ¥0 assessed, ¥0 paid, ¥0 due" in out.stdout
    late = mynacard(
        store,
        "move-in",
        card.application_id,
        "--planned-move-out-on",
        "2025-01-15",
        "--moved-in-on",
        "2025-01-20",
        now="2025-02-10T10:00",
    )
    assert late.returncode == 0, late.stderr
    assert "CARD INVALIDATED by this command: rule R29 (late_move_in), effective 2025-02-04" in late.stdout
