"""Issue 10 §3, clerk papercuts (part b), on a real store:

- every write's result shows the card's fee (assessed / paid / due), also when the handover
  decides it (R07, R08); a replay answers the first result; results stored before still load;
- a write that ends a card says so, with its rule (R28–R30 late move-in, R62 at a handover);
- certificates show their renewal window (R38), the same dates the refusal gives;
- application ids are spaced in every human output, JSON keeps its shapes;
- ``valid-at`` cites the rule of the validity period for a valid answer (R35, R36), and
  ``--check`` answers with the exit status;
- ``sweep`` counts the cards it looked at, also an active one with nothing due.

The command line runs in-process (``mynacard.cli.main``) on the test's data directory.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from commands import certificate_models as cm
from commands import models as m
from commands.application import CardLifecycle, CommandResult
from commands.results import ANSWERED_FROM_THE_LOG
from lifecycle.calendar import renewal_window_opens
from lifecycle.card.events import ALL_CARD_EVENTS, ENDING_EVENTS
from mynacard import output
from mynacard.bootstrap import open_read_side, open_write_side, upstream_of
from mynacard.cli import main
from projections.audit import valid_at
from projections.read_side import ReadSide
from tests.helpers import backend
from tests.helpers.support import PIN_VALUES, Clock, Story, at, certificates_of, d, my_number

HANDOVER = {"identity_documents": ["driving_licence"], "notification_card": "collected"}
STORE_V1 = Path(__file__).parents[1] / "fixtures" / "store-v1" / "mynacard.sqlite"
PLAIN_ID = re.compile(r"(?<!\d)\d{23}(?!\d)")


@dataclass
class DataDir:
    """A data directory written in-process with the CLI's own wiring (keys, cipher)."""

    path: Path
    app: CardLifecycle
    clock: Clock

    def read_side(self) -> ReadSide:
        read = open_read_side(backend.settings(self.path), upstream_of(self.app))
        read.catch_up()
        return read


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DataDir]:
    for name in [k for k in os.environ if k.startswith("MYNACARD_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MYNACARD_ACTOR", "clerk-b")
    app = open_write_side(backend.settings(tmp_path))
    clock = Clock("2020-05-01T09:00")
    app.clock = clock
    app.clock_tolerance = None  # the stories set their own recorded times, card after card
    yield DataDir(tmp_path, app, clock)
    app.close()


def cli(capsys: pytest.CaptureFixture[str], data_dir: DataDir, *args: str, now: str) -> tuple[int, str]:
    """``mynacard ARGS`` in-process on the data directory: (exit status, stdout)."""
    where = ["--data-dir", str(data_dir.path), "--database-url", backend.url_of(data_dir.path)]
    code = main([*args, *where, "--now", now])
    out, _err = capsys.readouterr()
    return code, out


def story(data_dir: DataDir, seed: int) -> Story:
    return Story(data_dir.app, data_dir.clock, my_number_=my_number(seed))


def fee(result: CommandResult) -> tuple[int, int, int]:
    assert result.fee is not None
    return result.fee.assessed_yen, result.fee.paid_yen, result.fee.due_yen


# ----------------------------------------------------------------------------- 1. the fee


def test_R07_R08_every_write_result_shows_the_fee_assessed_paid_and_due(data_dir: DataDir) -> None:
    old = story(data_dir, 10_000_001)
    assert fee(old.to_active()) == (0, 0, 0)  # R07: the first card is free
    old.run(m.ReportLoss, "2025-02-12T10:00", lost_at_home=True)
    new = story(data_dir, 10_000_001)
    applied = new.apply(
        "2025-03-10T09:00",
        kind="reissue",
        reissue_reason="loss",
        previous_card=old.application_id,
        photo_taken_on="2025-03-01",
    )
    # R07, R10: a loss reissue with certificates, ¥1,000, settled by the handover (R08, D07).
    assert fee(applied) == (1000, 0, 1000)
    assert fee(new.run(m.AcceptApplication, "2025-03-11T09:00")) == (1000, 0, 1000)
    produced = new.run(m.ProduceCard, "2025-03-12T09:00")
    assert fee(produced) == (1000, 0, 1000)
    assert "fee: ¥1,000 assessed, ¥0 paid, ¥1,000 due" in output.result_lines(produced)
    handed = new.run(m.HandOverCard, "2025-03-20T10:00", **HANDOVER, **PIN_VALUES, fee_paid_yen=1000)
    assert fee(handed) == (1000, 1000, 0)
    # The certificate commands answer it too (a command result is about one card).
    assert fee(new.run(cm.RevokeCertificate, "2025-03-21T10:00", kind="AUTH")) == (1000, 1000, 0)


def test_R07_R62_a_fee_decided_at_the_handover_is_in_its_result_with_the_old_card_it_ended(
    data_dir: DataDir,
) -> None:
    old = story(data_dir, 10_000_002)
    old.to_active()
    new = story(data_dir, 10_000_002)
    applied = new.apply(
        "2025-03-10T09:00",
        kind="reissue",
        reissue_reason="card_defect",
        previous_card=old.application_id,
        photo_taken_on="2025-03-01",
    )
    assert fee(applied) == (0, 0, 0)  # no fault: free, as long as the old card is brought
    new.run(m.AcceptApplication, "2025-03-11T09:00")
    new.run(m.ProduceCard, "2025-03-12T09:00")
    handed = new.run(
        m.HandOverCard,
        "2025-03-20T10:00",
        **HANDOVER,
        **PIN_VALUES,
        old_card_brought=False,
        fee_paid_yen=1000,
    )
    assert fee(handed) == (1000, 1000, 0)
    assert handed.ended is None
    [ended] = handed.other_cards_ended
    assert (ended.card_id, ended.status, ended.rule, ended.reason) == (
        old.card.id,
        "abolished",
        "R62",
        "not_brought",
    )
    assert ended.by_this_command and ended.at == at("2025-03-20T10:00")
    lines = output.result_lines(handed)
    assert lines[0].startswith(
        f"CARD {ended.application_id} ABOLISHED by this command: rule R62 (not_brought)"
    )


def test_a_replay_answers_the_first_result_with_its_fee_and_ends_which_the_log_keeps_out_of_clear(
    data_dir: DataDir,
) -> None:
    """The command log keeps the result's summary in clear; the fee and the ends (a rule and a
    reason: R32 would say a death) are answered again from the cards' events as the command left
    them, so a replay answers exactly the first result, also after later commands."""
    old = story(data_dir, 10_000_003)
    old.to_active()
    new = story(data_dir, 10_000_003)
    new.apply(
        "2025-03-10T09:00",
        kind="reissue",
        reissue_reason="card_defect",
        previous_card=old.application_id,
        photo_taken_on="2025-03-01",
    )
    new.run(m.AcceptApplication, "2025-03-11T09:00")
    new.run(m.ProduceCard, "2025-03-12T09:00")
    fields = {**HANDOVER, **PIN_VALUES, "old_card_brought": False, "fee_paid_yen": 1000}
    command = m.HandOverCard.model_validate({"card": new.application_id, "actor": "clerk-b", **fields})
    data_dir.clock.set("2025-03-20T10:00")
    first = data_dir.app.execute(command)
    assert first.other_cards_ended and fee(first) == (1000, 1000, 0)
    # Later commands change both cards; the replay still answers as the handover left them.
    new.run(m.InvalidateCard, "2025-04-01T10:00", reason="death")
    data_dir.clock.set("2025-04-02T09:00")
    again = data_dir.app.execute(command)
    assert again == first.model_copy(update={"duplicate": True})
    assert new.card.ended is not None and new.card.ended.rule == "R32"

    stored = data_dir.app.command_log.select_command(command.command_id)
    assert stored is not None
    assert stored.result == first.stored()
    assert ANSWERED_FROM_THE_LOG.isdisjoint(stored.result)
    assert '"reason"' not in json.dumps(stored.result) and '"rule"' not in json.dumps(stored.result)


def test_results_stored_before_the_fee_and_the_ending_still_load() -> None:
    """Every command-log row of the store written by an earlier version (tests/fixtures/store-v1)
    loads as a result, and its stored part is what the row holds."""
    with sqlite3.connect(STORE_V1) as db:
        rows = [json.loads(r[0]) for r in db.execute("SELECT result FROM command_log")]
    assert len(rows) > 10
    for row in rows:
        result = CommandResult.model_validate(row)
        assert (result.fee, result.ended, result.other_cards_ended) == (None, None, [])
        assert result.stored() == row


# ----------------------------------------------------------------------------- 3. a card ended


def test_R28_R29_a_late_move_in_says_the_card_was_invalidated_and_by_which_rule(data_dir: DataDir) -> None:
    card = story(data_dir, 10_000_004)
    card.to_active()
    moved_out = card.run(m.RecordMoveOut, "2025-04-25T10:00", planned_move_out_on="2025-05-01")
    assert moved_out.ended is None
    # R29: moved in 2025-05-03, filed 2025-05-20: more than 14 days later; invalid from 05-18.
    late = card.run(
        m.FileMoveIn, "2025-05-20T10:00", planned_move_out_on="2025-05-01", moved_in_on="2025-05-03"
    )
    assert late.status == "invalidated"
    assert late.ended is not None
    assert late.ended.model_dump(mode="json", exclude={"card_id", "application_id"}) == {
        "status": "invalidated",
        "rule": "R29",
        "at": "2025-05-18T00:00:00+09:00",
        "reason": "late_move_in",
        "by_this_command": True,
    }
    assert output.result_lines(late)[0] == (
        "CARD INVALIDATED by this command: rule R29 (late_move_in), effective 2025-05-18 00:00:00+09:00"
    )
    # A later command on the ended card says it had ended, not that it ends it now.
    handed_in = card.run(m.CollectPhysicalCard, "2025-05-21T10:00", reason="other")
    assert handed_in.ended is not None and handed_in.ended.by_this_command is False
    assert output.result_lines(handed_in)[0].startswith("the card had already ended: invalidated, rule R29")


def test_R62_a_renewal_handover_names_the_card_it_returned(data_dir: DataDir) -> None:
    old = story(data_dir, 10_000_005)
    old.to_active()
    renewal = story(data_dir, 10_000_005)
    handed = renewal.to_active(
        "2029-08-01T09:00",
        "2029-08-05",
        "2029-08-10",
        "2029-08-20T10:00",
        kind="renewal",
        previous_card=old.application_id,
        photo_taken_on="2029-07-01",
    )
    assert (handed.status, handed.ended) == ("active", None)
    assert [(e.card_id, e.status, e.rule, e.reason) for e in handed.other_cards_ended] == [
        (old.card.id, "returned", "R62", "replaced")
    ]


def test_the_ending_events_are_exactly_those_that_end_a_card() -> None:
    """``ENDING_EVENTS`` (what a result's ``by_this_command`` looks for) lists every card event
    whose ``apply_to`` ends a card, and no other."""
    ending = {
        cls
        for cls in ALL_CARD_EVENTS
        if "apply_to" in vars(cls) and "end(card" in inspect.getsource(vars(cls)["apply_to"])
    }
    assert ending == set(ENDING_EVENTS)


# ----------------------------------------------------------------------------- 2. renewal windows


def test_R38_status_and_certificate_show_each_certificate_renewal_window(
    data_dir: DataDir, capsys: pytest.CaptureFixture[str]
) -> None:
    card = story(data_dir, 10_000_006)
    card.to_active()  # DOB 1980-10-10, handed over 2020-06-20: certificates to 2024-10-10
    read = data_dir.read_side()
    report = read.card_report(card.card.id, d("2024-01-01"), at("2024-01-01T09:00"))
    assert report is not None
    windows = {c.kind: c.renewal_window for c in report.certificates}
    expected = {"opens_on": "2024-07-11", "closes_on": "2024-10-10"}
    assert windows == {"AUTH": expected, "SIG": expected}
    assert renewal_window_opens(d("2024-10-10")) == d("2024-07-11")
    assert report.as_dict()["certificates"][0]["renewal_window"] == expected

    # The refusal and the window agree: refused the day before it opens, accepted on its first day.
    with pytest.raises(Exception, match="opens on 2024-07-11") as refused:
        card.run(cm.RenewCertificates, "2024-07-10T10:00", kinds=["AUTH"])
    assert getattr(refused.value, "rule", None) == "R38"
    card.run(cm.RenewCertificates, "2024-07-11T10:00", kinds=["AUTH"])
    old_auth = next(c for c in certificates_of(data_dir.app, card.card) if c.kind == "AUTH")
    read.catch_up()
    old = read.certificate(old_auth.serial, at("2024-07-12T09:00"))
    assert old is not None and old.status == "revoked" and old.renewal_window is None
    data_dir.app.close()

    code, out = cli(capsys, data_dir, "certificate", old_auth.serial, "--json", now="2024-07-12T09:00")
    assert (code, json.loads(out)["renewal_window"]) == (0, None)
    sig = next(c for c in report.certificates if c.kind == "SIG")
    code, out = cli(capsys, data_dir, "certificate", sig.serial, now="2024-07-12T09:00")
    assert code == 0
    assert "renewal window (R38) 2024-07-11 … 2024-10-10 (after it:" in " ".join(out.split())
    code, out = cli(capsys, data_dir, "status", card.application_id, now="2024-07-12T09:00")
    assert code == 0
    assert "renewal window" in out and "2024-07-11 …" in out  # one column per certificate (folded)


# ----------------------------------------------------------------------------- 4. application ids


def test_application_ids_are_spaced_in_human_output_and_json_keeps_its_shapes(
    data_dir: DataDir, capsys: pytest.CaptureFixture[str]
) -> None:
    card = story(data_dir, 10_000_007)
    card.to_active()
    data_dir.app.close()
    spaced = " ".join(card.application_id[i : i + 4] for i in range(0, 23, 4))
    for args in (
        ("history", card.application_id),
        ("status", card.application_id),
        ("expiring", "--to", "2030-12-31"),
    ):
        code, out = cli(capsys, data_dir, *args, now="2025-01-01T09:00")
        assert code == 0, args
        assert spaced in out, args
        assert not PLAIN_ID.search(out), (args, PLAIN_ID.search(out))
    # JSON is an interface: its values keep their shapes (event data as stored, results spaced).
    code, out = cli(capsys, data_dir, "history", spaced, "--json", now="2025-01-01T09:00")
    assert json.loads(out)[0]["data"]["application_id"] == card.application_id
    code, out = cli(capsys, data_dir, "status", card.application_id, "--json", now="2025-01-01T09:00")
    assert json.loads(out)["application_id"] == spaced


# ----------------------------------------------------------------------------- 5. valid-at


def test_R35_R36_a_valid_answer_cites_the_rule_of_its_validity_period_not_a_refusal_rule(
    data_dir: DataDir, capsys: pytest.CaptureFixture[str]
) -> None:
    card = story(data_dir, 10_000_008)
    card.to_active()
    serials = {c.kind: c.serial for c in certificates_of(data_dir.app, card.card)}
    for kind, rule in (("AUTH", "R35"), ("SIG", "R36")):
        answer = valid_at(data_dir.app.events, serials[kind], at("2022-01-01T12:00"))
        assert (answer.valid, answer.reason, answer.rule) == (True, "valid", rule)
        expired = valid_at(data_dir.app.events, serials[kind], at("2024-10-11T00:00"))
        assert (expired.valid, expired.rule) == (False, rule)
    data_dir.app.close()

    sig = serials["SIG"]
    code, out = cli(
        capsys, data_dir, "valid-at", sig, "--at", "2022-01-01T12:00", "--check", now="2025-01-01T09:00"
    )
    assert code == 0
    assert "VALID (inside its validity period, R36)" in out
    code, out = cli(
        capsys,
        data_dir,
        "valid-at",
        sig,
        "--at",
        "2025-01-01T12:00",
        "--check",
        "--json",
        now="2025-01-01T09:00",
    )
    assert code == 1  # not valid: the exit status says it, the answer is printed all the same
    assert json.loads(out)["valid"] is False
    # Without --check the exit status stays 0 whatever the answer.
    code, _ = cli(capsys, data_dir, "valid-at", sig, "--at", "2025-01-01T12:00", now="2025-01-01T09:00")
    assert code == 0
    # An unknown serial is still exit 4, with or without --check.
    code, _ = cli(
        capsys, data_dir, "valid-at", "F" * 20, "--at", "2025-01-01T12:00", "--check", now="2025-01-01T09:00"
    )
    assert code == 4


def test_valid_at_help_documents_check(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["valid-at", "--help"])
    out, _ = capsys.readouterr()
    assert "--check" in out and "0 valid, 1 not valid" in " ".join(out.split())


# ----------------------------------------------------------------------------- 6. sweep


def test_sweep_counts_an_active_card_with_nothing_due_as_checked(
    data_dir: DataDir, capsys: pytest.CaptureFixture[str]
) -> None:
    card = story(data_dir, 10_000_009)
    card.to_active()  # valid until 2029-10-10; certificates to 2024-10-10
    scan = data_dir.read_side().sweep_scan(d("2022-01-01"))
    assert (scan.checked, scan.candidates) == (1, [])
    data_dir.app.close()

    code, out = cli(capsys, data_dir, "sweep", "--json", now="2022-01-01T09:00")
    report: dict[str, Any] = json.loads(out)
    assert code == 0
    assert {k: report[k] for k in ("cards_checked", "cards_swept", "commands_run", "events_recorded")} == {
        "cards_checked": 1,
        "cards_swept": 0,
        "commands_run": 0,
        "events_recorded": 0,
    }
    code, out = cli(capsys, data_dir, "sweep", now="2022-01-01T09:00")
    assert code == 0 and "1 cards checked, 0 with something possibly due" in out
