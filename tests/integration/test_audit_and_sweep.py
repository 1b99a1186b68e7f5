"""Audit replay and the time sweep (issue: "Time, three ways" in design.md).

- Effective time T vs recorded time S: a loss reported on Tuesday that happened on Sunday makes
  the certificate invalid from Sunday as known now, and valid on Monday as known on Monday;
  ``status``/``history --as-known-at`` show only what was recorded by then.
- ``sweep --until DATE`` records every time-driven event due by DATE exactly once: running it
  again records nothing, a later day records only what became due since, an interrupted sweep
  resumes, a day after today is refused.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from commands import models as m
from commands.application import CardLifecycle
from commands.errors import InputError
from commands.sweep import SweepReport, sweep
from lifecycle.card import Card
from mynacard.bootstrap import open_read_side, open_write_side, upstream_of
from projections.audit import card_as_known_at, valid_at
from projections.event_json import event_to_dict
from projections.read_side import ReadSide
from tests.helpers import backend
from tests.helpers.backend import event_store_env
from tests.helpers.backend import settings as settings_for
from tests.helpers.support import KEY, Clock, Story, at, certificates_of, d, history_of, my_number

SUNDAY_LOSS = "2025-01-05T03:10"  # 2025-01-05 is a Sunday
MONDAY = "2025-01-06T12:00"
TUESDAY_REPORT = "2025-01-07T10:00"


# ----------------------------------------------------------------------------- CLI plumbing


def clean_env(data_dir: Path) -> dict[str, str]:
    return backend.cli_env(data_dir, MYNACARD_ACTOR="clerk-audit")


def cli(data_dir: Path, *args: str, now: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mynacard", *args, "--json", "--now", now],
        check=False,
        env=clean_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@dataclass
class DataDir:
    """A data directory written in-process with the CLI's own wiring (keys, cipher)."""

    path: Path
    app: CardLifecycle
    clock: Clock


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[DataDir]:
    app = open_write_side(backend.settings(tmp_path))
    clock = Clock("2024-05-01T09:00")
    app.clock = clock
    # The fixture writes stories whose recorded times it sets, card after card (each from its own
    # past), so R66's guard is off for it; the CLI calls of the tests run with it on.
    app.clock_tolerance = None
    yield DataDir(tmp_path, app, clock)
    app.close()


# ----------------------------------------------------------------------------- bitemporal


def lost_on_sunday_reported_on_tuesday(app: CardLifecycle, clock: Clock) -> tuple[Story, dict[str, str]]:
    story = Story(app, clock, my_number_=my_number(9_100_001))
    story.to_active(
        "2024-05-01T09:00", "2024-05-10", "2024-05-15", "2024-06-20T10:00", photo_taken_on="2024-04-01"
    )
    serials = {c.kind: c.serial for c in certificates_of(app, story.card)}
    story.run(m.ReportLoss, TUESDAY_REPORT, lost_at_home=True, effective_at=SUNDAY_LOSS)
    return story, serials


def test_valid_at_as_known_now_and_as_known_on_monday(data_dir: DataDir) -> None:
    app = data_dir.app
    _, serials = lost_on_sunday_reported_on_tuesday(app, data_dir.clock)
    assert set(serials) == {"SIG", "AUTH"}

    for kind, serial in serials.items():
        # As known now: invalid from the moment of the loss, Sunday 03:10.
        before = valid_at(app.events, serial, at("2025-01-05T03:09"))
        assert (before.valid, before.kind, before.as_known_at) == (True, kind, None)
        lost = valid_at(app.events, serial, at(SUNDAY_LOSS))
        assert lost.valid is False, kind
        assert "revoked" in lost.reason and lost.rule == "R51"
        assert valid_at(app.events, serial, at(MONDAY)).valid is False
        # As known on Monday: nobody had reported anything yet, so it was valid on Monday.
        monday = valid_at(app.events, serial, at(MONDAY), as_known_at=at(MONDAY))
        assert (monday.valid, monday.as_known_at) == (True, at(MONDAY))
        assert monday.events_considered < valid_at(app.events, serial, at(MONDAY)).events_considered
        # The report's recorded time is the boundary (inclusive).
        assert valid_at(app.events, serial, at(MONDAY), as_known_at=at("2025-01-07T09:59")).valid
        assert not valid_at(app.events, serial, at(MONDAY), as_known_at=at(TUESDAY_REPORT)).valid
        # Before the certificate was recorded at all, it was not known.
        unknown = valid_at(app.events, serial, at(MONDAY), as_known_at=at("2024-06-01T00:00"))
        assert (unknown.valid, unknown.reason) == (False, "not issued yet")

    sig = serials["SIG"]
    now = ok(cli(data_dir.path, "valid-at", sig, "--at", MONDAY, now="2025-02-01T09:00"))
    assert (now["serial"], now["kind"], now["valid"], now["as_known_at"]) == (sig, "SIG", False, None)
    assert now["at"] == "2025-01-06T12:00:00+09:00"
    monday = ok(
        cli(data_dir.path, "valid-at", sig, "--at", MONDAY, "--as-known-at", MONDAY, now="2025-02-01T09:00")
    )
    assert (monday["valid"], monday["as_known_at"]) == (True, "2025-01-06T12:00:00+09:00")
    sunday = ok(cli(data_dir.path, "valid-at", sig, "--at", "2025-01-05T03:09", now="2025-02-01T09:00"))
    assert sunday["valid"] is True
    missing = cli(data_dir.path, "valid-at", "0" * 20, "--at", MONDAY, now="2025-02-01T09:00")
    assert missing.returncode == 4


def test_status_and_history_as_known_at_show_only_what_was_recorded(data_dir: DataDir) -> None:
    app = data_dir.app
    story, serials = lost_on_sunday_reported_on_tuesday(app, data_dir.clock)
    card = story.application_id
    now = "2025-02-01T09:00"

    monday = ok(cli(data_dir.path, "status", card, "--as-known-at", MONDAY, now=now))
    assert (monday["status"], monday["ended"]) == ("active", None)
    assert monday["as_known_at"] == "2025-01-06T12:00:00+09:00"
    shown = {c["serial"]: (c["status"], c["valid_at"]) for c in monday["certificates"]}
    assert shown == dict.fromkeys(serials.values(), ("active", True))
    tuesday = ok(cli(data_dir.path, "status", card, "--as-known-at", TUESDAY_REPORT, now=now))
    assert tuesday["status"] == "abolished"
    assert tuesday["ended"]["at"] == "2025-01-05T03:10:00+09:00"
    assert {c["status"] for c in tuesday["certificates"]} == {"revoked"}
    before_card = cli(data_dir.path, "status", card, "--as-known-at", "2024-04-30T00:00", now=now)
    assert before_card.returncode == 4

    history_monday = ok(cli(data_dir.path, "history", card, "--as-known-at", MONDAY, now=now))
    history_now = ok(cli(data_dir.path, "history", card, now=now))
    assert history_monday == [e for e in history_now if e["recorded_at"] <= "2025-01-06T12:00:00+09:00"]
    assert "Lost" not in {e["type"] for e in history_monday}
    assert "CertificateRevoked" not in {e["type"] for e in history_monday}
    late = [e for e in history_now if e not in history_monday]
    assert {e["type"] for e in late} >= {"Lost", "CertificateRevoked"}
    assert all(e["recorded_at"] == "2025-01-07T10:00:00+09:00" for e in late)
    assert {e["effective_at"] for e in late} == {"2025-01-05T03:10:00+09:00"}

    # The same in-process: the card as known at a time folds only the events recorded by then.
    card_id = story.card.id
    known_monday = card_as_known_at(app.events, card_id, at(MONDAY))
    assert known_monday is not None and known_monday.status == "active"
    assert card_as_known_at(app.events, card_id, at("2024-04-30T00:00")) is None


# ----------------------------------------------------------------------------- the sweep


TODAY = "2025-12-01T09:00"
D1, D2, D3 = d("2025-06-01"), d("2025-07-15"), d("2025-10-11")
LAPSE_TYPES = {
    "ApplicationVoided",
    "CardDestroyed",
    "Invalidated",
    "Expired",
    "ExpiryNoticeDue",
    "CertificateExpired",
    "CertificateRevoked",
}


def cards_with_known_due_days(app: CardLifecycle, clock: Clock) -> dict[str, Story]:
    """Cards whose time-driven events fall on known days (the clock moves forward throughout)."""
    n = iter(range(9_200_001, 9_200_100))
    s: dict[str, Story] = {}

    def story(name: str) -> Story:
        s[name] = Story(app, clock, my_number_=my_number(next(n)))
        return s[name]

    # R19: issued 2016-05-15, born 1980-10-10: valid until 2025-10-10 (the 10th birthday), the
    # expiry notice is due from 2025-07-11 (R44); its certificates expired after 2020-10-10.
    story("R19").to_active(
        "2016-05-01T09:00", "2016-05-10", "2016-05-15", "2016-06-20T10:00", photo_taken_on="2016-04-01"
    )
    # R44 for certificates: born 1985-08-20, card issued 2020-09-01: the certificates expire
    # after 2025-08-20 (the 5th birthday, R35), their notices are due from 2025-05-21.
    story("R44").to_active(
        "2020-08-01T09:00",
        "2020-08-10",
        "2020-09-01",
        "2020-09-10T10:00",
        photo_taken_on="2020-07-01",
        date_of_birth="1985-08-20",
    )
    # R13 (D11): pickup notice 2024-05-20, collectable until 2025-05-20.
    r13 = story("R13")
    r13.apply("2024-05-01T09:00", photo_taken_on="2024-04-01")
    r13.run(m.AcceptApplication, "2024-05-10T09:00")
    r13.run(m.ProduceCard, "2024-05-15T09:00")
    r13.run(m.SendPickupNotice, "2024-05-20T09:00")
    for name in ("R28", "R30", "R22", "quiet"):
        extra = {"residence_status": "student", "stay_until": "2025-06-30"} if name == "R22" else {}
        story(name).to_active(
            "2024-05-21T09:00",
            "2024-05-25",
            "2024-05-30",
            "2024-06-20T10:00",
            photo_taken_on="2024-04-01",
            **extra,
        )
    # R28: planned move-out 2025-03-31, no move-in: the card lapses on 2025-05-01.
    s["R28"].run(m.RecordMoveOut, "2025-03-20T10:00", planned_move_out_on="2025-03-31")
    # R30: move-in filed 2025-04-10, no card update within 90 days: it lapses on 2025-07-10.
    s["R30"].run(m.RecordMoveOut, "2025-03-21T10:00", planned_move_out_on="2025-03-31")
    s["R30"].run(m.FileMoveIn, "2025-04-10T10:00", planned_move_out_on="2025-03-31", moved_in_on="2025-04-05")
    clock.set(TODAY)
    return s


def run_sweep(app: CardLifecycle, read: ReadSide, until: date) -> SweepReport:
    read.catch_up()
    report = sweep(app, read.sweep_candidates(until), until, "sweeper")
    read.catch_up()
    return report


def time_driven(app: CardLifecycle, story: Story) -> list[tuple[str, str | None, str]]:
    """(type, effective time, aggregate) of every event of the card and its certificates that a
    sweep recorded (the sweeps run on TODAY, after everything else was recorded)."""
    card = story.card
    out = []
    for e in history_of(app, card):
        if e.timestamp >= at(TODAY):
            assert type(e).__name__ in LAPSE_TYPES, e
            row = event_to_dict(e)
            out.append((row["type"], row["effective_at"], "card" if e.originator_id == card.id else "cert"))
    return out


def log_of(app: CardLifecycle) -> list[tuple[UUID | str, int]]:
    return [(n.originator_id, n.originator_version) for n in app.recorder.select_notifications(1, 100_000)]


@pytest.fixture
def swept(
    app: CardLifecycle, clock: Clock, tmp_path: Path
) -> tuple[CardLifecycle, ReadSide, dict[str, Story]]:
    cards = cards_with_known_due_days(app, clock)
    return app, open_read_side(settings_for(tmp_path), upstream_of(app)), cards


def test_sweep_records_each_due_event_exactly_once(
    swept: tuple[CardLifecycle, ReadSide, dict[str, Story]],
) -> None:
    app, read, cards = swept
    before = {name: time_driven(app, s) for name, s in cards.items()}
    assert all(v == [] for v in before.values())

    certs = {c.kind: c for c in certificates_of(app, cards["R44"].card)}
    assert {k: c.expires_on for k, c in certs.items()} == {"SIG": d("2025-08-20"), "AUTH": d("2025-08-20")}

    first = run_sweep(app, read, D1)
    assert first.by_type == {
        "ApplicationVoided": 1,
        "CardDestroyed": 1,
        "Invalidated": 1,
        "CertificateRevoked": 2,
        "CertificateExpired": 2,
        "ExpiryNoticeDue": 2,
    }
    assert first.events_recorded == 9
    notices = [e for e in list(app.events.get(cards["R44"].card.id)) if type(e).__name__ == "ExpiryNoticeDue"]
    assert sorted((e.subject, e.expires_on) for e in notices) == [  # type: ignore[attr-defined]
        ("AUTH", d("2025-08-20")),
        ("SIG", d("2025-08-20")),
    ]
    assert time_driven(app, cards["R13"]) == [
        ("ApplicationVoided", "2025-05-21T00:00:00+09:00", "card"),
        ("CardDestroyed", "2025-05-21T00:00:00+09:00", "card"),
    ]
    assert cards["R13"].card.status == "voided"
    assert time_driven(app, cards["R28"]) == [
        ("Invalidated", "2025-05-01T00:00:00+09:00", "card"),
        ("CertificateRevoked", "2025-05-01T00:00:00+09:00", "cert"),
        ("CertificateRevoked", "2025-05-01T00:00:00+09:00", "cert"),
    ]
    assert cards["R28"].card.ended is not None and cards["R28"].card.ended.rule == "R28"
    assert time_driven(app, cards["R19"]) == [("CertificateExpired", "2020-10-11T00:00:00+09:00", "cert")] * 2
    for name in ("R30", "R22", "quiet"):
        assert time_driven(app, cards[name]) == [], name

    # The same sweep again: every card answered from the command log, nothing recorded.
    log = log_of(app)
    again = run_sweep(app, read, D1)
    assert log_of(app) == log
    assert again.cards_checked > 0
    assert (again.already_done, again.commands_run, again.events_recorded) == (again.cards_checked, 0, 0)
    assert again.by_type == {}

    # A later day records only what became due since.
    second = run_sweep(app, read, D2)
    assert second.by_type == {
        "Expired": 1,
        "CertificateExpired": 2,
        "Invalidated": 1,
        "CertificateRevoked": 1,
        "ExpiryNoticeDue": 1,
    }
    assert time_driven(app, cards["R22"]) == [
        ("Expired", "2025-07-01T00:00:00+09:00", "card"),
        ("CertificateExpired", "2025-07-01T00:00:00+09:00", "cert"),
        ("CertificateExpired", "2025-07-01T00:00:00+09:00", "cert"),
    ]
    r22 = [e for e in list(app.events.get(cards["R22"].card.id)) if type(e).__name__ == "Expired"]
    assert [e.basis for e in r22] == ["stay"]  # type: ignore[attr-defined]
    assert time_driven(app, cards["R30"])[0] == ("Invalidated", "2025-07-10T00:00:00+09:00", "card")
    assert cards["R30"].card.ended is not None and cards["R30"].card.ended.rule == "R30"
    notices = [e for e in list(app.events.get(cards["R19"].card.id)) if type(e).__name__ == "ExpiryNoticeDue"]
    assert [(e.subject, e.expires_on) for e in notices] == [("card", d("2025-10-10"))]  # type: ignore[attr-defined]
    assert time_driven(app, cards["quiet"]) == []
    assert run_sweep(app, read, D2).events_recorded == 0

    third = run_sweep(app, read, D3)
    assert third.by_type == {"Expired": 1, "CertificateExpired": 2}
    assert sorted(time_driven(app, cards["R44"])) == [
        ("CertificateExpired", "2025-08-21T00:00:00+09:00", "cert"),
        ("CertificateExpired", "2025-08-21T00:00:00+09:00", "cert"),
        ("ExpiryNoticeDue", "2025-12-01T09:00:00+09:00", "card"),
        ("ExpiryNoticeDue", "2025-12-01T09:00:00+09:00", "card"),
    ]
    assert cards["R44"].card.status == "active"
    assert sorted(time_driven(app, cards["R19"])) == [
        ("CertificateExpired", "2020-10-11T00:00:00+09:00", "cert"),
        ("CertificateExpired", "2020-10-11T00:00:00+09:00", "cert"),
        ("Expired", "2025-10-11T00:00:00+09:00", "card"),
        ("ExpiryNoticeDue", "2025-12-01T09:00:00+09:00", "card"),
    ]
    # Each time-driven event exactly once over all sweeps; recorded at the sweep's time.
    for name, story in cards.items():
        counts = Counter(
            (type(e).__name__, e.originator_id, getattr(e, "subject", None))
            for e in history_of(app, story.card)
            if type(e).__name__ in LAPSE_TYPES
        )
        assert all(n == 1 for n in counts.values()), (name, counts)
    for e in history_of(app, cards["R19"].card):
        if type(e).__name__ in LAPSE_TYPES:
            assert e.timestamp == at(TODAY)
            assert e.actor == "sweeper"
    assert time_driven(app, cards["quiet"]) == []

    # Not after today: time has not made it due yet (nothing recorded).
    log = log_of(app)
    with pytest.raises(InputError):
        sweep(app, [cards["quiet"].card.id], d("2025-12-02"), "sweeper")
    assert log_of(app) == log


class Crash(Exception):
    pass


@pytest.mark.parametrize("when", ["before", "after"], ids=["crash-before-command", "crash-after-commit"])
def test_an_interrupted_sweep_resumes_with_exactly_once_results(
    swept: tuple[CardLifecycle, ReadSide, dict[str, Story]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    when: str,
) -> None:
    app, read, cards = swept
    # The reference: the same cards, swept without interruption, in a store of its own.
    ref_clock = Clock()
    ref_app = CardLifecycle(env=event_store_env(tmp_path / "ref", "ref"), holder_key=KEY, clock=ref_clock)
    try:
        ref_cards = cards_with_known_due_days(ref_app, ref_clock)
        ref_read = open_read_side(settings_for(tmp_path / "ref"), upstream_of(ref_app))
        reference = run_sweep(ref_app, ref_read, D2)
        expected = {name: time_driven(ref_app, s) for name, s in ref_cards.items()}
    finally:
        ref_app.close()
    assert reference.events_recorded > 0

    read.catch_up()
    candidates = read.sweep_candidates(D2)
    assert len(candidates) >= 4
    real_execute = app.execute
    calls: list[Any] = []

    def dying_execute(command: m.Command) -> Any:
        calls.append(command)
        if when == "before" and len(calls) == 3:
            raise Crash("the sweeper was killed")
        result = real_execute(command)
        if when == "after" and len(calls) == 3:
            raise Crash("killed after the third card's command committed")
        return result

    monkeypatch.setattr(app, "execute", dying_execute)
    with pytest.raises(Crash):
        sweep(app, candidates, D2, "sweeper")
    monkeypatch.setattr(app, "execute", real_execute)

    partial = {name: time_driven(app, s) for name, s in cards.items()}
    assert partial != expected, "the interrupted sweep left work to do"
    assert any(partial.values()), "the interrupted sweep did part of the work"

    resumed = run_sweep(app, read, D2)
    assert resumed.cards_checked == resumed.already_done + resumed.commands_run
    assert resumed.events_recorded > 0
    assert {name: time_driven(app, s) for name, s in cards.items()} == expected
    assert run_sweep(app, read, D2).events_recorded == 0
    assert {name: time_driven(app, s) for name, s in cards.items()} == expected


def test_cli_sweep(data_dir: DataDir) -> None:
    cards = cards_with_known_due_days(data_dir.app, data_dir.clock)
    r13 = cards["R13"].application_id
    data_dir.app.close()

    report = ok(cli(data_dir.path, "sweep", "--until", D1.isoformat(), now=TODAY))
    assert report["until"] == "2025-06-01"
    assert report["by_type"] == {
        "ApplicationVoided": 1,
        "CardDestroyed": 1,
        "CertificateExpired": 2,
        "CertificateRevoked": 2,
        "ExpiryNoticeDue": 2,
        "Invalidated": 1,
    }
    assert (report["commands_run"], report["already_done"]) == (report["cards_swept"], 0)
    # Every card not ended was looked at (all seven), also those with nothing due (issue 10).
    assert report["cards_checked"] == len(cards) == 7
    assert report["cards_swept"] < report["cards_checked"]
    refused = cli(data_dir.path, "sweep", "--until", "2025-12-02", now=TODAY)
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert json.loads(refused.stderr)["error"]["issues"][0]["field"] == "--until"
    # What the sweep recorded is on the read side at once.
    status = ok(cli(data_dir.path, "status", r13, now=TODAY))
    assert status["status"] == "voided"
    assert status["ended"]["rule"] == "R13"


def test_card_model_decides_what_is_due(swept: tuple[CardLifecycle, ReadSide, dict[str, Story]]) -> None:
    """The read side's candidates are a superset of the cards with something due (nothing is
    missed); the quiet card has nothing due on any of the days."""
    app, read, cards = swept
    read.catch_up()
    for until in (D1, D2, D3):
        candidates = set(read.sweep_candidates(until))
        for name, story in cards.items():
            card: Card = story.card
            if card.due_lapses(until, app.policies) or card.due_expiry_notices(until, {}):
                assert card.id in candidates, (name, until)
    assert cards["quiet"].card.id not in set(read.sweep_candidates(D3))


def test_R51_a_loss_backdated_before_an_earlier_revocation_still_answers_invalid_from_the_loss(
    data_dir: DataDir,
) -> None:
    """The SIG was revoked on Monday on the holder's request; on Tuesday the card is reported
    lost since Sunday. The CRL keeps Monday's revocation (no invalidityDate: README, known
    limitations), but an auditor asking about Sunday noon is answered from the card's loss."""
    from commands import certificate_models as cm

    app = data_dir.app
    story = Story(app, data_dir.clock, my_number_=my_number(9_100_002))
    story.to_active(
        "2024-05-01T09:00", "2024-05-10", "2024-05-15", "2024-06-20T10:00", photo_taken_on="2024-04-01"
    )
    serials = {c.kind: c.serial for c in certificates_of(app, story.card)}
    story.run(cm.RevokeCertificate, MONDAY, kind="SIG")
    story.run(m.ReportLoss, TUESDAY_REPORT, lost_at_home=True, effective_at=SUNDAY_LOSS)

    sunday_noon = at("2025-01-05T12:00")
    for kind in ("SIG", "AUTH"):
        assert valid_at(app.events, serials[kind], at("2025-01-05T03:09")).valid, kind
        answer = valid_at(app.events, serials[kind], sunday_noon)
        assert (answer.valid, answer.rule) == (False, "R51"), (kind, answer)
        assert "lost" in answer.reason
    read = open_read_side(settings_for(data_dir.path), upstream_of(app))
    read.catch_up()
    listed = read.certificate(serials["SIG"], sunday_noon)
    assert listed is not None and (listed.valid_at, listed.rule) == (False, "R51")
    # As known on Monday morning, before either record, it was valid on Sunday noon.
    assert valid_at(app.events, serials["SIG"], sunday_noon, as_known_at=at("2025-01-06T09:00")).valid
