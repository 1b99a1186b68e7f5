"""Issue 13 through the command line (a subprocess of this worktree's ``mynacard``): ``forget
PERSON --reason TEXT`` refuses with the right exit code and writes nothing while it may not run
(bad input 2, a card in use or the retention period 3, an unknown person 4); then it erases, and
``status``, ``history``, ``valid-at``, ``person`` and ``verify`` still answer, the personal fields
shown as erased. The same command id again answers the first result (idempotent)."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

from commands.config import Settings
from lifecycle.identifiers import holder_reference
from mynacard.bootstrap import open_write_side
from tests.helpers.backend import settings as settings_for
from tests.helpers.recorded_store import cli
from tests.helpers.support import Clock, Story, my_number

NUMBER = my_number(27_182_818_284)
DOB = "1966-08-21"


def card_in_use(settings: Settings) -> tuple[str, str, str]:
    """A card handed over in-process through the same settings: (application id, serial, holder ref)."""
    app = open_write_side(settings)
    try:
        clock = Clock()
        app.clock = clock
        story = Story(app, clock, my_number_=NUMBER)
        story.to_active(date_of_birth=DOB)
        serial = next(
            cert.serial
            for cert in (app.load_certificate(i) for i in story.card.certificates.values())
            if cert is not None
        )
        return story.application_id, serial, holder_reference(NUMBER, app.holder_key)
    finally:
        app.close()


def test_issue13_forget_from_the_command_line_refuses_then_erases_and_every_read_still_answers(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    card, serial, ref = card_in_use(settings)
    bad = cli(settings, "forget", "12345", "--reason", "request", now="2021-01-01T09:00")
    assert "invalid choice" not in bad.stderr, "the subprocess runs another checkout's mynacard"
    assert bad.returncode == 2 and bad.error["kind"] == "bad_input", bad.stderr
    unknown = cli(settings, "forget", my_number(99_999), "--reason", "request", now="2021-01-01T09:00")
    assert unknown.returncode == 4, unknown.stderr
    in_use = cli(settings, "forget", NUMBER, "--reason", "request", now="2021-01-01T09:00")
    assert in_use.returncode == 3 and in_use.error["rule"] == "ERASURE", in_use.stderr
    assert "active" in in_use.error["message"]

    assert (
        cli(settings, "return", card, "--reason", "voluntary", now="2021-02-10T10:00").out["status"]
        == "returned"
    )
    early = cli(settings, "forget", ref, "--reason", "request", now="2021-03-01T09:00")
    assert early.returncode == 3 and "retention period" in early.error["message"], early.stderr
    head = cli(settings, "status", card, now="2021-03-01T09:00").out
    assert head["holder"] == "XXXX XXXX " + NUMBER[-4:]

    command_id = str(uuid4())
    done = cli(
        settings, "forget", NUMBER, "--reason", "deceased", "--command-id", command_id, now="2021-06-01T09:00"
    ).out
    assert [e["type"] for e in done["events"]] == ["PersonForgotten"]
    assert done["erasure"] == {"holder_refs": [ref], "keys_destroyed": 1, "scrubbed": True, "plain_events": 0}
    again = cli(
        settings, "forget", NUMBER, "--reason", "deceased", "--command-id", command_id, now="2021-06-02T09:00"
    ).out
    assert again["duplicate"] is True and again["erasure"]["keys_destroyed"] == 0

    status = cli(settings, "status", card, now="2021-06-03T09:00").out
    assert status["status"] == "returned" and status["holder"] == {"erased": True}
    history = cli(settings, "history", card, now="2021-06-03T09:00").out
    applied = next(e for e in history if e["type"] == "Applied")
    assert applied["data"]["date_of_birth"] == {"erased": True}
    assert applied["data"]["my_number_masked"] == {"erased": True}
    assert applied["data"]["applied_on"] == "2020-05-01"
    assert any(e["type"] == "Returned" for e in history)
    valid = cli(settings, "valid-at", serial, "--at", "2020-12-01T00:00", now="2021-06-03T09:00").out
    assert valid["valid"] is True
    person = cli(settings, "person", NUMBER, now="2021-06-03T09:00").out
    assert [c["status"] for c in person["cards"]] == ["returned"]
    assert person["cards"][0]["holder"] == {"erased": True}
    assert cli(settings, "verify", now="2021-06-03T09:00").returncode == 0
    text = cli(settings, "history", card, now="2021-06-03T09:00")
    assert DOB not in text.stdout
    # The person takes no new application: a rule refusal, exit 3.
    again_apply = cli(
        settings,
        "apply",
        "--application-id",
        "7" * 23,
        "--my-number",
        NUMBER,
        "--date-of-birth",
        DOB,
        "--photo-taken-on",
        "2021-05-01",
        now="2021-06-04T09:00",
    )
    assert again_apply.returncode == 3 and again_apply.error["rule"] == "ERASURE", again_apply.stderr
