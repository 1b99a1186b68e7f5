"""Clerk papercuts (issue 10 §3) as the clerk meets them: the ``mynacard`` command line run as a
subprocess. A first card's handover without ``--notification-card`` is bad input naming the
option (R17); a time before 1888 is shown at +09:00 in tables and JSON (D13)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from commands import models as m
from mynacard.bootstrap import open_write_side
from tests.e2e.test_cli_stories import Store, clean_env
from tests.helpers.recorded_store import Run
from tests.helpers.support import Clock, Story, application_id, my_number


def run(store: Store, *args: str, now: str) -> Run:
    done = subprocess.run(
        [sys.executable, "-m", "mynacard", *args, "--now", now],
        check=False,
        env=clean_env(store),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def test_R17_hand_over_without_notification_card_exits_2_naming_the_option(tmp_path: Path) -> None:
    store = Store.new(tmp_path)
    clock = Clock("2024-05-01T09:00")
    app = open_write_side(store.settings)
    app.clock = clock
    story = Story(app, clock, my_number_=my_number(17_017), actor="clerk-setup")
    story.apply("2024-05-01T09:00", photo_taken_on="2024-04-01")
    story.run(m.AcceptApplication, "2024-05-10T09:00")
    story.run(m.ProduceCard, "2024-05-15T09:00")
    app.close()
    handover = ["hand-over", story.application_id, "--identity-document", "driving_licence"]
    handover += [
        "--sig-pin",
        "ZQ7XK9PW",
        "--auth-pin",
        "4821",
        "--juki-pin",
        "4821",
        "--card-details-pin",
        "4821",
    ]

    as_json = run(store, *handover, "--json", now="2024-06-20T10:00")
    assert as_json.returncode == 2
    error = as_json.error
    assert error["kind"] == "bad_input"
    assert error["issues"] == [
        {
            "field": "notification_card",
            "message": "required at a first card's handover: what became of the 通知カード",
            "rule": "R17",
        }
    ]
    assert "--notification-card collected" in error["hint"]

    for_people = run(store, *handover, now="2024-06-20T10:00")
    assert for_people.returncode == 2
    assert "notification_card: required at a first card's handover" in for_people.stderr
    assert "(R17)" in for_people.stderr

    done = run(store, *handover, "--notification-card", "collected", "--json", now="2024-06-20T10:00")
    assert done.out["status"] == "active"


def test_D13_a_time_before_1888_is_shown_at_plus_09_00(tmp_path: Path) -> None:
    store = Store.new(tmp_path)
    card = application_id()
    apply = ["apply", "--application-id", card, "--my-number", my_number(18_870)]
    apply += [
        "--date-of-birth",
        "明治3年1月1日",
        "--photo-taken-on",
        "1887-05-01",
        "--at",
        "1887-06-01T10:00",
    ]
    table = run(store, *apply, now="1887-06-01T11:00")
    assert table.returncode == 0, table.stderr
    assert "1887-06-01 10:00:00+09:00" in table.stdout
    assert "+09:18" not in table.stdout
    history = run(store, "history", card, "--json", now="1887-06-02T09:00").out
    assert {e["effective_at"] for e in history} == {"1887-06-01T10:00:00+09:00"}
    assert {e["recorded_at"] for e in history} == {"1887-06-01T11:00:00+09:00"}
    assert "+09:18" not in json.dumps(history)
