"""Issue 13's worked upcast through the ``mynacard`` program: ``hand-over --office`` names the
office (窓口) of the hand-over (交付, R14; R59 municipal configuration); without it the office of
the service's setting ``MYNACARD_OFFICE`` is recorded; ``history`` shows it (JSON and text)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from commands import models as m
from mynacard.bootstrap import open_write_side
from tests.e2e.test_cli_stories import Store, clean_env
from tests.helpers.support import Clock, Story, my_number

PINS = ["--sig-pin", "AB12CD", "--auth-pin", "1234", "--juki-pin", "1234", "--card-details-pin", "1234"]
NOW = "2025-06-20T10:00"


def mynacard(store: Store, *args: str, office: str | None) -> subprocess.CompletedProcess[str]:
    env = clean_env(store) | ({"MYNACARD_OFFICE": office} if office else {})
    return subprocess.run(
        [sys.executable, "-m", "mynacard", *args, "--now", NOW],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_R14_R59_hand_over_records_the_office_flag_else_MYNACARD_OFFICE_and_history_shows_it(
    tmp_path: Path,
) -> None:
    """Issue 13: ``--office`` wins over ``MYNACARD_OFFICE``; the setting fills in when the flag is
    left out; ``history`` (``--json`` data and the text table) shows the office."""
    store = Store.new(tmp_path)
    app = open_write_side(store.settings)
    clock = Clock("2025-04-01T09:00")
    app.clock = clock
    stories = [
        Story(app, clock, my_number_=my_number(s), actor="clerk-setup") for s in (13_000_001, 13_000_002)
    ]
    for minute, story in enumerate(stories):
        story.apply(f"2025-04-01T09:0{minute}", photo_taken_on="2025-03-20")
    for minute, story in enumerate(stories):
        story.run(m.AcceptApplication, f"2025-04-10T09:0{minute}")
    for minute, story in enumerate(stories):
        story.run(m.ProduceCard, f"2025-04-15T09:0{minute}")
    cards = [story.application_id for story in stories]
    app.close()

    handover = ["--identity-document", "driving_licence", "--notification-card", "collected", *PINS]
    flagged = mynacard(
        store, "hand-over", cards[0], *handover, "--office", "田無庁舎", "--json", office="保谷庁舎"
    )
    assert flagged.returncode == 0, flagged.stderr
    from_setting = mynacard(store, "hand-over", cards[1], *handover, "--json", office="保谷庁舎")
    assert from_setting.returncode == 0, from_setting.stderr

    offices = []
    for card in cards:
        done = mynacard(store, "history", card, "--json", office=None)
        assert done.returncode == 0, done.stderr
        offices += [e["data"]["office"] for e in json.loads(done.stdout) if e["type"] == "Issued"]
    assert offices == ["田無庁舎", "保谷庁舎"]
    text = mynacard(store, "history", cards[1], office=None)
    assert text.returncode == 0 and "office=保谷庁舎" in text.stdout, text.stdout
