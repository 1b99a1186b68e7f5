"""End-to-end stories through the ``mynacard`` command line, run as a subprocess.

Every call fixes ``--now`` (reproducible) and asks for ``--json``. The data directory, the
database and the actor come from ``MYNACARD_DATA_DIR`` / ``MYNACARD_DATABASE_URL`` /
``MYNACARD_ACTOR``; the database is the test storage's (a SQLite file in the data directory, or
a fresh PostgreSQL schema with ``MYNACARD_TEST_DATABASE_URL``, see tests/helpers/backend.py). Where a
story needs a card that is already in use, it is brought there in-process through the same
settings (same database, same holder key, same key ring), so that the command line is spent on
the step under test.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

import pytest

from commands import models as m
from commands.config import Settings
from mynacard.bootstrap import open_write_side
from mynacard.cli import build_parser, main
from storage.keys import KEY_FILE
from tests.helpers.backend import POSTGRES, database_url, raw_storage
from tests.helpers.recorded_store import Run
from tests.helpers.support import Clock, Story, application_id, my_number

ACTOR = "clerk-cli-7"
NUMBER = my_number(31_415_926_535)
PHOTO = "2024-04-01"
SIG_PIN = "ZQ7XK9PW"


@dataclass(frozen=True)
class Store:
    """Where the program keeps its data: a data directory and a database of the test storage."""

    data_dir: Path
    database_url: str | None

    @classmethod
    def new(cls, data_dir: Path) -> Store:
        return cls(data_dir, database_url(data_dir))

    @property
    def settings(self) -> Settings:
        return Settings(data_dir=self.data_dir, database_url=self.database_url)


def clean_env(store: Store) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYNACARD_")}
    env.update(MYNACARD_DATA_DIR=str(store.data_dir), MYNACARD_ACTOR=ACTOR)
    if store.database_url is not None:
        env.update(MYNACARD_DATABASE_URL=store.database_url)
    return env


def cli(store: Store, *args: str, now: str | None) -> Run:
    command = [sys.executable, "-m", "mynacard", *args]
    if args and args[-1] != "--help":
        command.append("--json")
        if now is not None:
            command += ["--now", now]
    done = subprocess.run(
        command, check=False, env=clean_env(store), capture_output=True, text=True, timeout=120
    )
    return Run(done.returncode, done.stdout, done.stderr)


# ----------------------------------------------------------------------------- (a) the whole life


def test_story_from_application_to_expiry(tmp_path: Path) -> None:
    store = Store.new(tmp_path)
    card = application_id()
    applied = cli(
        store,
        "apply",
        "--application-id",
        card,
        "--my-number",
        NUMBER,
        "--date-of-birth",
        "1980-10-10",
        "--photo-taken-on",
        "2020-04-01",
        now="2020-05-01T09:00",
    ).out
    assert applied["status"] == "applied"
    assert applied["duplicate"] is False
    # The card's events, then the person's (R63: the application is filed under its person).
    assert [e["type"] for e in applied["events"]] == [
        "Applied",
        "FeeAssessed",
        "HolderOpened",
        "ApplicationFiled",
    ]
    assert NUMBER not in json.dumps(applied)
    # The first run made the holder key, readable by its owner only.
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    # It wrote to the test storage: on PostgreSQL no SQLite file appears in the data directory.
    assert (tmp_path / "mynacard.sqlite").exists() is not POSTGRES

    assert cli(store, "accept", card, now="2020-05-10T09:00").out["status"] == "accepted"
    # The issue date typed in 和暦.
    produced = cli(store, "produce", card, "--at", "令和2年5月15日", now="2020-05-15T09:00").out
    assert produced["status"] == "produced"
    assert produced["events"][0]["effective_at"] == "2020-05-15T00:00:00+09:00"

    notice_id = str(uuid4())
    noticed = cli(store, "send-notice", card, "--command-id", notice_id, now="2020-05-20T09:00").out
    again = cli(store, "send-notice", card, "--command-id", notice_id, now="2020-05-21T09:00").out
    assert noticed["duplicate"] is False
    assert again["duplicate"] is True
    assert again == {**noticed, "duplicate": True}
    # The same id for another command is a conflict (exit 5), and records nothing.
    reused = cli(store, "send-reminder", card, "--command-id", notice_id, now="2020-05-22T09:00")
    assert reused.returncode == 5
    assert reused.error["kind"] == "command_id_reused"

    handed = cli(
        store,
        "hand-over",
        card,
        "--identity-document",
        "driving_licence",
        "--notification-card",
        "collected",
        "--at",
        "2020-06-20T10:15:30",
        "--sig-pin",
        SIG_PIN,
        "--auth-pin",
        "4821",
        "--juki-pin",
        "4821",
        "--card-details-pin",
        "4821",
        now="2020-06-20T10:20",
    ).out
    assert handed["status"] == "active"
    assert handed["events"][0]["type"] == "Issued"
    assert handed["events"][0]["effective_at"] == "2020-06-20T10:15:30+09:00"
    assert SIG_PIN not in json.dumps(handed)

    status = cli(store, "status", card, now="2025-01-01T09:00").out
    assert status["status"] == status["status_today"] == "active"
    assert status["usable_today"] is True
    assert status["issue_date"] == "2020-05-15"
    assert status["expires_on"] == "2029-10-10"  # R19: the 10th birthday after the issue date
    assert status["holder"] == f"XXXX XXXX {NUMBER[-4:]}"
    assert status["ended"] is None

    # The last valid day: nothing is due yet.
    on_last_day = cli(store, "lapse", card, now="2029-10-10T23:59").out
    assert on_last_day["status"] == "active"
    # Nothing has lapsed on the last valid day; the renewal window is open, so the expiry
    # notice (R44) is recorded as due, once.
    assert [e["type"] for e in on_last_day["events"] if e["aggregate_id"] == applied["card_id"]] == [
        "ExpiryNoticeDue"
    ]
    lapsed = cli(store, "lapse", card, now="2029-10-11T09:00").out
    assert lapsed["status"] == "expired"
    card_id = applied["card_id"]
    assert [(e["type"], e["effective_at"]) for e in lapsed["events"] if e["aggregate_id"] == card_id] == [
        ("Expired", "2029-10-11T00:00:00+09:00")
    ]

    status = cli(store, "status", card, now="2029-10-12T09:00").out
    assert status["status"] == status["status_today"] == "expired"
    assert status["usable_today"] is False
    assert status["ended"] == {
        "status": "expired",
        "rule": "R19",
        "at": "2029-10-11T00:00:00+09:00",
        "reason": "age",
    }

    history = cli(store, "history", card, now="2029-10-12T09:00").out
    # Every event of the card (and of the certificates issued onto it), in the order recorded,
    # each with its effective and recorded time and the actor.
    assert [e["recorded_at"] for e in history] == sorted(e["recorded_at"] for e in history)
    assert all(e["actor"] == ACTOR and e["effective_at"] and e["recorded_at"] for e in history)
    own = [e for e in history if e["aggregate_id"] == card_id]
    assert [e["type"] for e in own] == [
        "Applied",
        "FeeAssessed",
        "Accepted",
        "Produced",
        "PickupNoticeSent",
        "Issued",
        *(e["type"] for e in own[6:-1]),
        "Expired",
    ]
    assert [e["version"] for e in own] == list(range(1, len(own) + 1))
    assert {e["type"] for e in own[6:-1]} <= {"PinsSet", "CertificateAdded", "ExpiryNoticeDue"}
    for aggregate_id in {e["aggregate_id"] for e in history}:
        versions = [e["version"] for e in history if e["aggregate_id"] == aggregate_id]
        assert versions == list(range(1, len(versions) + 1))
    recorded = {e["type"]: e["recorded_at"] for e in own}
    effective = {e["type"]: e["effective_at"] for e in own}
    assert recorded == {
        "Applied": "2020-05-01T09:00:00+09:00",
        "FeeAssessed": "2020-05-01T09:00:00+09:00",
        "Accepted": "2020-05-10T09:00:00+09:00",
        "Produced": "2020-05-15T09:00:00+09:00",
        "PickupNoticeSent": "2020-05-20T09:00:00+09:00",
        "Issued": "2020-06-20T10:20:00+09:00",
        **{t: "2020-06-20T10:20:00+09:00" for t in ("PinsSet", "CertificateAdded") if t in recorded},
        "ExpiryNoticeDue": "2029-10-10T23:59:00+09:00",
        "Expired": "2029-10-11T09:00:00+09:00",
    }
    assert effective["Produced"] == "2020-05-15T00:00:00+09:00"
    assert effective["Issued"] == "2020-06-20T10:15:30+09:00"
    assert effective["Expired"] == "2029-10-11T00:00:00+09:00"
    assert own[3]["data"]["expires_on"] == "2029-10-10"
    # No PIN value is ever stored or shown (design: only that a PIN was set).
    assert SIG_PIN not in json.dumps(history)
    assert NUMBER not in json.dumps(history)
    stored = raw_storage(store.settings)
    assert any(card_id.encode() in content for content in stored.values()), "the scan reads the rows"
    for part, content in stored.items():
        assert NUMBER.encode() not in content, part
        assert SIG_PIN.encode() not in content, part


# ----------------------------------------------------------------------------- (b) every way to end


@dataclass
class Cards:
    store: Store
    ids: dict[str, str]


@pytest.fixture
def cards(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Cards]:
    """The card a story starts from (the test's ``name``, else the ``refusals`` card), recorded
    in-process in a data directory and database of its own: R66 keeps a store's recorded time
    from going back, and each story's commands come after its own card's past, not after the
    other stories' (they end on different days)."""
    callspec = getattr(request.node, "callspec", None)
    wanted = {callspec.params["name"]} if callspec and "name" in callspec.params else {"refusals"}
    store = Store.new(tmp_path_factory.mktemp("cli-data"))
    settings = store.settings
    clock = Clock("2024-05-01T09:00")
    app = open_write_side(settings)  # the CLI's own wiring: same keys, same encryption
    app.clock = clock
    ids: dict[str, str] = {}

    def story(name: str, seed: int) -> Story:
        s = Story(app, clock, my_number_=my_number(seed), actor="clerk-setup")
        ids[name] = s.application_id
        return s

    for seed, name in enumerate(
        ["loss", "return", "death", "my_number_changed", "overseas", "refusals", "R28", "R29", "R30"], 1
    ):
        if name not in wanted:
            continue
        s = story(name, 1000 + seed)
        s.to_active("2024-05-01T09:00", "2024-05-10", "2024-05-15", "2024-06-20T10:00", photo_taken_on=PHOTO)
        if name in {"R28", "R29", "R30"}:
            s.run(m.RecordMoveOut, "2025-03-20T10:00", planned_move_out_on="2025-03-31")
        if name == "R30":
            s.run(
                m.FileMoveIn,
                "2025-04-10T10:00",
                planned_move_out_on="2025-03-31",
                moved_in_on="2025-04-05",
            )
    if "R13" in wanted:
        s = story("R13", 2001)
        s.apply("2024-05-01T09:00", photo_taken_on=PHOTO)
        s.run(m.AcceptApplication, "2024-05-10T09:00")
        s.run(m.ProduceCard, "2024-05-15T09:00")
        s.run(m.SendPickupNotice, "2024-05-20T09:00")
    if "cancel" in wanted:
        story("cancel", 2002).apply("2024-05-01T09:00", photo_taken_on=PHOTO)
    app.close()
    yield Cards(store, ids)


@pytest.mark.parametrize(
    ("name", "args", "now", "status", "rule", "reason"),
    [
        (
            "loss",
            ["report-loss", "--lost-at-home", "--at", "2025-01-05T03:10"],
            "2025-01-06T09:00",
            "abolished",
            "R51",
            "lost",
        ),
        ("return", ["return", "--reason", "voluntary"], "2025-02-01T09:00", "returned", "R52", "voluntary"),
        (
            "death",
            ["invalidate", "--reason", "death", "--at", "2025-07-03"],
            "2025-07-04T09:00",
            "invalidated",
            "R32",
            "death",
        ),
        (
            "my_number_changed",
            ["invalidate", "--reason", "my_number_changed", "--new-my-number", my_number(77_777_777_777)],
            "2025-02-01T09:00",
            "invalidated",
            "R31",
            "my_number_changed",
        ),
        # Abroad on 2025-09-01 without overseas continued use (R27), filed on the day.
        (
            "overseas",
            ["move-out", "--planned-move-out-on", "2025-09-01", "--overseas"],
            "2025-09-01T09:00",
            "invalidated",
            "R27",
            "overseas_move_out",
        ),
        # Planned out 03-31, moved in 04-20: the deadline is 04-30 (R28); filed 05-01.
        (
            "R28",
            ["move-in", "--planned-move-out-on", "2025-03-31", "--moved-in-on", "2025-04-20"],
            "2025-05-01T09:00",
            "invalidated",
            "R28",
            "late_move_in",
        ),
        # Planned out 03-31, moved in 04-01: the deadline is 04-15 (R29, D06); filed 04-16.
        (
            "R29",
            ["move-in", "--planned-move-out-on", "2025-03-31", "--moved-in-on", "2025-04-01"],
            "2025-04-16T09:00",
            "invalidated",
            "R29",
            "late_move_in",
        ),
        # Move-in filed 04-10: the card update is due by 07-09 (R30); on 07-10 it lapses.
        ("R30", ["lapse"], "2025-07-10T09:00", "invalidated", "R30", "no_card_update_90_days"),
        # Notice 2024-05-20: collectable until 2025-05-20 (R13, D11); on 05-21 it lapses.
        ("R13", ["lapse"], "2025-05-21T09:00", "voided", "R13", "not_collected"),
        ("cancel", ["cancel", "--channel", "phone"], "2024-05-20T09:00", "cancelled", "R12", None),
    ],
)
def test_every_way_a_card_ends(
    cards: Cards, name: str, args: list[str], now: str, status: str, rule: str, reason: str | None
) -> None:
    card = cards.ids[name]
    result = cli(cards.store, args[0], card, *args[1:], now=now).out
    assert result["status"] == status
    assert result["duplicate"] is False

    shown = cli(cards.store, "status", card, now=now).out
    assert shown["status"] == shown["status_today"] == status
    assert shown["usable_today"] is False
    assert shown["ended"]["status"] == status
    assert shown["ended"]["rule"] == rule
    assert shown["ended"]["reason"] == reason
    if name == "overseas":
        assert shown["ended"]["at"] == "2025-09-01T00:00:00+09:00"
    if name in {"R28", "R30", "R13"}:
        day_after = {"R28": "2025-05-01", "R30": "2025-07-10", "R13": "2025-05-21"}[name]
        assert shown["ended"]["at"] == f"{day_after}T00:00:00+09:00"
    if name == "R29":
        assert shown["ended"]["at"] == "2025-04-16T00:00:00+09:00"


# ----------------------------------------------------------------------------- (c) errors


def test_refusals_exit_codes_and_nothing_recorded(cards: Cards) -> None:
    card = cards.ids["refusals"]
    now = "2025-03-01T09:00"
    before = cli(cards.store, "history", card, now=now).out

    # A rule refusal: the card is not suspended (R50).
    refused = cli(cards.store, "lift-suspension", card, now=now)
    assert refused.returncode == 3
    assert refused.error["rule"] == "R50"
    assert refused.error["kind"] == "rule_violation"
    assert refused.error["message"]

    # Bad input: the refusal names the field.
    bad = cli(cards.store, "suspend", card, "--channel", "fax", now=now)
    assert bad.returncode == 2
    assert [issue["field"] for issue in bad.error["issues"]] == ["channel"]
    assert bad.error["issues"][0]["rule"] == "R49"

    wrong_number = NUMBER[:-1] + str((int(NUMBER[-1]) + 1) % 10)
    bad_number = cli(
        cards.store,
        "apply",
        "--application-id",
        application_id(),
        "--my-number",
        wrong_number,
        "--date-of-birth",
        "1980-10-10",
        "--photo-taken-on",
        "2025-02-01",
        now=now,
    )
    assert bad_number.returncode == 2
    assert [(i["field"], i.get("rule")) for i in bad_number.error["issues"]] == [("my_number", "R01")]
    assert wrong_number not in bad_number.stderr

    unknown = cli(cards.store, "suspend", application_id(), now=now)
    assert unknown.returncode == 4
    assert unknown.error["kind"] == "not_found"
    unknown_status = cli(cards.store, "status", application_id(), now=now)
    assert unknown_status.returncode == 4

    after = cli(cards.store, "history", card, now=now).out
    assert after == before


def subcommands() -> list[str]:
    """Every subcommand the program's parser knows."""
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices)


def test_help_for_the_program(tmp_path: Path) -> None:
    shown = cli(Store(tmp_path, None), "--help", now=None)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage: mynacard")
    for command in subcommands():
        assert command in shown.stdout
    assert {model.COMMAND for model in m.CARD_COMMANDS} <= set(subcommands())
    assert {"status", "history", "policies"} <= set(subcommands())


@pytest.mark.parametrize("subcommand", subcommands())
def test_help_for_every_subcommand(subcommand: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The same parser the program builds, called in-process (one subprocess each would be slow)."""
    with pytest.raises(SystemExit) as exited:
        main([subcommand, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: mynacard {subcommand}")
    assert "--json" in out
