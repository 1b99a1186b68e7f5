"""A store recorded through the real wiring (``open_write_side``: keys, encryption, command log)
and the CLI run against it as a subprocess: the story of two persons that the encryption, payload
binding and bootstrap tests read back (``record_story``), and ``cli`` with its ``Run`` result."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from commands import certificate_models as cm
from commands import models as m
from commands.application import CardLifecycle, CommandResult
from commands.config import Settings
from mynacard.bootstrap import open_read_side, open_write_side, upstream_of
from tests.helpers.support import Clock, Story, my_number

NUMBER = my_number(52_873_019_466)

OTHER_NUMBER = my_number(38_160_274_953)

NEW_NUMBER = my_number(61_940_385_227)
"""The holder's, another person's, and that person's new number (R31)."""

BIRTH_DATES = ("1987-03-14", "1975-11-23")

PINS = {"sig_pin": "QZ8PX7WK3M", "auth_pin": "4817", "juki_pin": "5926", "card_details_pin": "3071"}

OTHER_PINS = {"sig_pin": "HV4MT8KQ2B", "auth_pin": "6093", "juki_pin": "2748", "card_details_pin": "8315"}

NEW_SIG_PIN = "RX5T9V2NLQ"

HANDOVER = {"identity_documents": ["driving_licence"], "notification_card": "collected"}

ACTOR = "clerk-crypto-3"


def foreign_ring(key_id: int = 1) -> str:
    """A well-formed key ring that is not the store's."""
    return f"{key_id}:{base64.b64encode(secrets.token_bytes(32)).decode()}"


@dataclass
class Recorded:
    settings: Settings
    holder: str
    """application id of the holder's card (handed over, PIN changed, info changed, suspended, lost)"""
    other: str
    """application id of another person's card (invalidated: new My Number, R31)"""
    command_ids: list[UUID] = field(default_factory=list)


def hand_over(story: Story, when: str, pins: dict[str, str]) -> CommandResult:
    return story.run(m.HandOverCard, when, **HANDOVER, **pins)


def record_story(settings: Settings) -> Recorded:
    """A realistic life through the real wiring: apply with a My Number and a date of birth, hand
    over with PINs, change a PIN, change the card information, suspend, report the loss; another
    person's card handed over and invalidated for a new My Number. Then the read side catches up."""
    clock = Clock("2020-05-01T09:00")
    app = open_write_side(settings)
    app.clock = clock
    try:
        holder = Story(app, clock, my_number_=NUMBER, actor=ACTOR)
        other = Story(app, clock, my_number_=OTHER_NUMBER, actor=ACTOR)
        recorded = Recorded(settings, holder.application_id, other.application_id)
        results = [
            holder.apply("2020-05-01T09:00", date_of_birth=BIRTH_DATES[0], photo_taken_on="2020-04-01"),
            holder.run(m.AcceptApplication, "2020-05-10T09:00"),
            holder.run(m.ProduceCard, "2020-05-15T09:00"),
            hand_over(holder, "2020-06-20T10:00", PINS),
            holder.run(cm.ChangePin, "2021-01-12T10:00", pin="sig", new_pin=NEW_SIG_PIN, channel="home"),
            holder.run(
                m.ChangeCardInformation, "2021-02-01T10:00", facts=["name", "address"], pin_confirmed=True
            ),
            holder.run(m.SuspendCard, "2021-03-01T03:15"),
            holder.run(m.ReportLoss, "2021-03-02T10:00", lost_at_home=True),
            other.apply("2021-04-01T09:00", date_of_birth=BIRTH_DATES[1], photo_taken_on="2021-03-01"),
            other.run(m.AcceptApplication, "2021-04-10T09:00"),
            other.run(m.ProduceCard, "2021-04-15T09:00"),
            hand_over(other, "2021-05-20T10:00", OTHER_PINS),
            other.run(
                m.InvalidateCard, "2021-08-01T09:00", reason="my_number_changed", new_my_number=NEW_NUMBER
            ),
        ]
        recorded.command_ids = [r.command_id for r in results]
        assert holder.card.status == "abolished"
        assert other.card.status == "invalidated"
        caught_up(settings, app)
    finally:
        app.close()
    return recorded


def caught_up(settings: Settings, app: CardLifecycle) -> dict[str, int]:
    read = open_read_side(settings, upstream_of(app))
    try:
        read.catch_up()
        return {name: p["lag"] for name, p in read.positions().items()}
    finally:
        read.close()


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def out(self) -> Any:
        assert self.returncode == 0, self.stderr
        return json.loads(self.stdout)

    @property
    def error(self) -> dict[str, Any]:
        assert self.returncode != 0, self.stdout
        assert self.stdout == ""
        err: dict[str, Any] = json.loads(self.stderr)["error"]
        return err


def cli(settings: Settings, *args: str, now: str = "2022-01-10T09:00", **env: str) -> Run:
    """``python -m mynacard ... --json`` on the store of ``settings`` (data directory and database)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MYNACARD_")}
    environment.update(
        MYNACARD_DATA_DIR=str(settings.data_dir),
        MYNACARD_DATABASE_URL=settings.effective_database_url,
        MYNACARD_ACTOR=ACTOR,
        **env,
    )
    done = subprocess.run(
        [sys.executable, "-m", "mynacard", *args, "--json", "--now", now],
        check=False,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Run(done.returncode, done.stdout, done.stderr)
