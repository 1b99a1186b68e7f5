"""Consumer retry and dead letters (issue 12, "Consumer retry and dead letters"): a failing handler
is retried with exponential backoff; one that keeps failing has its event parked (consumer,
position, type, error, attempts, when) while the checkpoint moves past it in the same transaction,
and the consumer goes on; parked events are listed, re-delivered (through a handler, or as JSON
lines by ``mynacard consumers retry`` until acknowledged) or skipped with a reason and the actor.
On the run's backend (SQLite, or PostgreSQL with ``MYNACARD_TEST_DATABASE_URL``)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from commands.application import CardLifecycle
from mynacard.bootstrap import open_checkpoints, open_write_side
from mynacard.consumers import consumer_report, consumer_reports, open_consumer
from projections.dead_letters import DELIVERED, PARKED, SKIPPED, Retry, error_text
from projections.subscriptions import DeadLetter, DurableConsumer, NotParked
from tests.helpers import backend
from tests.helpers.backend import settings as settings_for
from tests.helpers.consumers import clean_env, log_ids, some_cards, suspend_and_lift
from tests.helpers.support import Clock


class Flaky(Exception):
    pass


class Handler:
    """Records every call; fails at the positions given, ``times`` times each (None: always)."""

    def __init__(self, failing: dict[int, int | None]) -> None:
        self.failing = dict(failing)
        self.calls: list[int] = []

    def __call__(self, position: int, event: Any) -> None:
        self.calls.append(position)
        left = self.failing.get(position, 0)
        if left is None or left > 0:
            if left is not None:
                self.failing[position] = left - 1
            raise Flaky(f"downstream refused position {position}\nsecond line")


def consumer(app: CardLifecycle, tmp_path: Path, name: str = "mailing", **kwargs: Any) -> DurableConsumer:
    return DurableConsumer(name, open_checkpoints(settings_for(tmp_path)), app.recorder, app.mapper, **kwargs)


# ----------------------------------------------------------------------------- retry and park


def test_a_handler_that_succeeds_on_the_third_attempt_is_not_parked(
    app: CardLifecycle, clock: Clock, tmp_path: Path
) -> None:
    some_cards(app, clock, 9_500_001, n=1)
    ids = log_ids(app)
    k = ids[3]
    handler, waits = Handler({k: 2}), []
    c = consumer(app, tmp_path, retry=Retry(attempts=5, backoff=0.25))
    assert c.run(handler, sleep=waits.append) == len(ids)
    assert waits == [0.25, 0.5], "exponential backoff: 0.25 s, then 0.5 s"
    assert handler.calls == [*ids[:3], k, k, k, *ids[4:]]
    assert c.position == ids[-1]
    assert c.parked() == [] and c.parked(open_only=False) == []


def test_an_event_that_always_fails_is_parked_after_n_attempts_and_the_consumer_goes_on(
    app: CardLifecycle, clock: Clock, tmp_path: Path
) -> None:
    stories = some_cards(app, clock, 9_501_001, n=1)
    ids = log_ids(app)
    k, j = ids[2], ids[6]
    handler, waits = Handler({k: None, j: None}), []
    c = consumer(app, tmp_path, retry=Retry(attempts=3, backoff=0.5, max_delay=0.75))
    assert c.run(handler, sleep=waits.append) == len(ids)
    assert waits == [0.5, 0.75, 0.5, 0.75], "doubling, capped at max_delay"
    assert handler.calls.count(k) == handler.calls.count(j) == 3
    assert [p for p in handler.calls if p not in (k, j)] == [p for p in ids if p not in (k, j)]
    assert c.position == ids[-1], "the consumer went on past the parked events"

    types = {
        n.id: app.mapper.to_domain_event(n).__class__.__name__
        for n in app.recorder.select_notifications(1, 100)
    }
    # A restart: the parked rows are in the store.
    restarted = consumer(app, tmp_path)
    letters = restarted.parked()
    assert [(x.position, x.event_type, x.attempts, x.state) for x in letters] == [
        (k, types[k], 3, PARKED),
        (j, types[j], 3, PARKED),
    ]
    assert letters[0].error == f"Flaky: downstream refused position {k} second line"
    assert letters[0].parked_at.endswith("+00:00") and letters[0].consumer == "mailing"
    # New events after the parked ones are delivered as usual.
    suspend_and_lift(stories[0], "2021-01-01")
    later, new = Handler({}), [p for p in log_ids(app) if p > ids[-1]]
    assert restarted.run(later) == len(new) and later.calls == new
    report = consumer_report(restarted.store, app.recorder, app.mapper, "mailing")
    assert (report.checkpoint, report.lag, report.parked, report.on_log) == (log_ids(app)[-1], 0, 2, True)


def test_parking_moves_the_checkpoint_in_the_same_transaction_or_not_at_all(
    app: CardLifecycle, clock: Clock, tmp_path: Path
) -> None:
    some_cards(app, clock, 9_502_001, n=1)
    ids = log_ids(app)
    store = open_checkpoints(settings_for(tmp_path))
    letter = DeadLetter("crl-push", ids[4], "Applied", "f" * 64, "Flaky: x", 2, "2026-01-01T00:00:00+00:00")
    assert store.park(letter, keep=8) is True
    assert store.position("crl-push") == ids[4]
    assert store.fingerprints("crl-push") == [(ids[4], "f" * 64)]
    # At or behind the checkpoint: nothing is written (no dead letter without the move).
    behind = DeadLetter("crl-push", ids[2], "Applied", "e" * 64, "Flaky: y", 2, "2026-01-01T00:00:00+00:00")
    assert store.park(behind, keep=8) is False
    assert store.dead_letter("crl-push", ids[2]) is None
    assert store.position("crl-push") == ids[4]
    assert store.parked_counts() == {"crl-push": 1}


def test_a_stop_while_waiting_to_retry_ends_the_run_before_the_event(
    app: CardLifecycle, clock: Clock, tmp_path: Path
) -> None:
    some_cards(app, clock, 9_503_001, n=1)
    ids = log_ids(app)
    stop = threading.Event()

    def fails_then_stops(position: int, event: Any) -> None:
        if position == ids[1]:
            stop.set()
            raise Flaky("down")

    c = consumer(app, tmp_path, retry=Retry(attempts=5, backoff=30))
    assert c.run(fails_then_stops, stop=stop) == 1
    assert c.position == ids[0] and c.parked() == []


def test_the_settings_give_the_attempts_and_the_backoff(tmp_path: Path) -> None:
    settings = backend.settings(tmp_path, consumer_attempts=2, consumer_backoff=0)
    app = open_write_side(settings)
    try:
        app.clock = Clock("2020-05-01T09:00")
        app.clock_tolerance = None
        some_cards(app, app.clock, 9_504_001, n=1)
        ids = log_ids(app)
        with open_consumer(settings, "renewals") as c:
            assert c.retry == Retry(attempts=2, backoff=0)
            handler = Handler({ids[0]: None})
            with c.lease():
                c.run(handler)
            assert handler.calls[:2] == [ids[0], ids[0]] and c.position == ids[-1]
            assert [(x.position, x.attempts) for x in c.parked()] == [(ids[0], 2)]
    finally:
        app.close()


# ----------------------------------------------------------------------------- settling


def test_retry_parked_re_delivers_through_a_handler_and_settles_what_it_handles(
    app: CardLifecycle, clock: Clock, tmp_path: Path
) -> None:
    some_cards(app, clock, 9_505_001, n=1)
    ids = log_ids(app)
    k, j = ids[1], ids[5]
    c = consumer(app, tmp_path, retry=Retry(attempts=2, backoff=0))
    c.run(Handler({k: None, j: None}))
    assert [x.position for x in c.parked()] == [k, j]

    # Still failing at j: it stays parked, with the attempts added and the new error.
    still = Handler({j: None})
    assert c.retry_parked(still, by="ops") == [(k, True), (j, False)]
    assert still.calls == [k, j, j]
    [left] = c.parked()
    assert (left.position, left.attempts, left.redeliveries, left.state) == (j, 4, 1, PARKED)
    settled = c.store.dead_letter("mailing", k)
    assert settled is not None and (settled.state, settled.resolved_by) == (DELIVERED, "ops")
    # The one at a position; fixed now.
    fixed = Handler({})
    assert c.retry_parked(fixed, j) == [(j, True)] and fixed.calls == [j]
    assert c.parked() == []
    assert [x.state for x in c.parked(open_only=False)] == [DELIVERED, DELIVERED]
    with pytest.raises(NotParked) as info:
        c.retry_parked(fixed, j)
    assert info.value.letter is not None and info.value.letter.state == DELIVERED
    assert c.position == ids[-1], "re-deliveries never move the checkpoint"


def test_skip_records_the_reason_and_who_and_an_acknowledgement_settles_a_parked_event(
    app: CardLifecycle, clock: Clock, tmp_path: Path
) -> None:
    some_cards(app, clock, 9_506_001, n=1)
    ids = log_ids(app)
    k, j = ids[2], ids[3]
    c = consumer(app, tmp_path, retry=Retry(attempts=1))
    c.run(Handler({k: None, j: None}))
    letter = c.skip(k, "the mailing system no longer sends these", "ops-1")
    assert (letter.state, letter.reason, letter.resolved_by) == (
        SKIPPED,
        "the mailing system no longer sends these",
        "ops-1",
    )
    with pytest.raises(NotParked):
        c.skip(k, "again", "ops-1")
    with pytest.raises(NotParked) as unknown:
        c.skip(ids[0], "never parked", "ops-1")
    assert unknown.value.letter is None
    # An acknowledgement of exactly j settles it; the checkpoint stays.
    move = c.acknowledge(j, by="downstream")
    assert (move.settled, move.changed, move.checkpoint) == (True, False, ids[-1])
    assert c.acknowledge(j).settled is False
    assert c.acknowledge(ids[1]).settled is False
    assert c.parked() == []


def test_a_reset_backwards_forgets_the_parked_events_after_it(
    app: CardLifecycle, clock: Clock, tmp_path: Path
) -> None:
    some_cards(app, clock, 9_507_001, n=1)
    ids = log_ids(app)
    c = consumer(app, tmp_path, retry=Retry(attempts=1))
    c.run(Handler({ids[1]: None, ids[6]: None}))
    c.skip(ids[6], "not needed", "ops")
    c.reset_to(ids[3])
    # The open one before the reset point stays; after it, the settled one stays as history.
    assert [(x.position, x.state) for x in c.parked(open_only=False)] == [(ids[1], PARKED), (ids[6], SKIPPED)]
    # Failing again after the reset parks it afresh.
    c.run(Handler({ids[6]: None}))
    assert [(x.position, x.state) for x in c.parked()] == [(ids[1], PARKED), (ids[6], PARKED)]


def test_error_text_is_the_exception_type_and_message_on_one_line_and_bounded() -> None:
    assert error_text(Flaky("a\nb")) == "Flaky: a b"
    assert error_text(Flaky()) == "Flaky"
    assert len(error_text(Flaky("x" * 5000))) == 500


# ----------------------------------------------------------------------------- the command line


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Path, CardLifecycle, Clock]]:
    app = open_write_side(backend.settings(tmp_path))
    clock = Clock("2020-05-01T09:00")
    app.clock = clock
    app.clock_tolerance = None  # the stories set the clock per card (R66's guard is for the CLI)
    yield tmp_path, app, clock
    app.close()


def cli(path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mynacard", *args],
        env={**clean_env(path), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def ok_json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_consumers_list_retry_acknowledge_and_skip_from_the_command_line(
    store: tuple[Path, CardLifecycle, Clock],
) -> None:
    path, app, clock = store
    some_cards(app, clock, 9_508_001, n=1)
    ids = log_ids(app)
    k, j = ids[2], ids[4]
    settings = backend.settings(path)
    parking = DurableConsumer(
        "renewals", open_checkpoints(settings), app.recorder, app.mapper, retry=Retry(attempts=2, backoff=0)
    )
    parking.run(Handler({k: None, j: None}))
    DurableConsumer("crl-push", open_checkpoints(settings), app.recorder, app.mapper).acknowledge(ids[5])

    listed = ok_json(cli(path, "consumers", "--json"))
    assert listed == [
        {
            "consumer": "crl-push",
            "checkpoint": ids[5],
            "log_head": ids[-1],
            "lag": ids[-1] - ids[5],
            "parked": 0,
            "on_log": True,
        },
        {
            "consumer": "renewals",
            "checkpoint": ids[-1],
            "log_head": ids[-1],
            "lag": 0,
            "parked": 2,
            "on_log": True,
        },
    ]
    table = cli(path, "consumers")
    assert table.returncode == 0 and "renewals" in table.stdout and "crl-push" in table.stdout
    parked = ok_json(cli(path, "consumers", "parked", "renewals", "--json"))
    assert [(x["position"], x["attempts"], x["state"]) for x in parked] == [(k, 2, PARKED), (j, 2, PARKED)]
    assert "fingerprint" not in parked[0] and parked[0]["error"].startswith("Flaky: ")
    assert "Flaky" in cli(path, "consumers", "parked", "renewals").stdout

    # retry: the parked events as the JSON lines of 'events'; still parked until acknowledged.
    retried = cli(path, "consumers", "retry", "renewals")
    assert retried.returncode == 0, retried.stderr
    lines = [json.loads(line) for line in retried.stdout.splitlines()]
    assert [e["position"] for e in lines] == [k, j]
    assert lines[0]["schema"] == "mynacard.event/1" and "re-delivered 2" in retried.stderr
    assert lines[0] == ok_json(cli(path, "events", "--after", str(k - 1), "--limit", "1", "--json"))
    again = cli(path, "consumers", "retry", "renewals", str(j))
    assert [json.loads(line)["position"] for line in again.stdout.splitlines()] == [j]
    assert [x["redeliveries"] for x in ok_json(cli(path, "consumers", "parked", "renewals", "--json"))] == [
        1,
        2,
    ]
    acked = ok_json(
        cli(path, "events", "--consumer", "renewals", "--ack", str(k), "--json", MYNACARD_ACTOR="mailer")
    )
    assert acked["settled"] is True and acked["checkpoint"] == ids[-1] and acked["changed"] is False

    # skip, with the reason and the actor recorded.
    skipped = ok_json(
        cli(
            path,
            "consumers",
            "skip",
            "renewals",
            str(j),
            "--reason",
            "sent by hand",
            "--json",
            MYNACARD_ACTOR="ops-7",
        )
    )
    assert (skipped["state"], skipped["reason"], skipped["resolved_by"]) == (SKIPPED, "sent by hand", "ops-7")
    assert ok_json(cli(path, "consumers", "parked", "renewals", "--json")) == []
    history = ok_json(cli(path, "consumers", "parked", "renewals", "--all", "--json"))
    assert [(x["position"], x["state"], x["resolved_by"]) for x in history] == [
        (k, DELIVERED, "mailer"),
        (j, SKIPPED, "ops-7"),
    ]
    assert ok_json(cli(path, "consumers", "--json"))[1]["parked"] == 0
    assert cli(path, "consumers", "retry", "renewals").stdout == ""


@pytest.mark.parametrize(
    ("args", "code", "field"),
    [
        (("skip", "renewals", "{k}", "--reason", "  "), 2, "--reason"),
        (("skip", "renewals", "{k}", "--reason", "x" * 600), 2, "--reason"),
        (("skip", "renewals", "{first}", "--reason", "never parked"), 4, "POSITION"),
        (("skip", "renewals", "0", "--reason", "r"), 2, "POSITION"),
        (("retry", "renewals", "{first}"), 4, "POSITION"),
        (("parked", "bad name"), 2, "NAME"),
    ],
)
def test_bad_consumers_options_name_the_option(
    store: tuple[Path, CardLifecycle, Clock], args: tuple[str, ...], code: int, field: str
) -> None:
    path, app, clock = store
    some_cards(app, clock, 9_509_001, n=1)
    ids = log_ids(app)
    DurableConsumer(
        "renewals",
        open_checkpoints(backend.settings(path)),
        app.recorder,
        app.mapper,
        retry=Retry(attempts=1),
    ).run(Handler({ids[2]: None}))
    done = cli(path, "consumers", *(a.format(k=ids[2], first=ids[0]) for a in args), "--json")
    assert done.returncode == code, (done.stdout, done.stderr)
    assert json.loads(done.stderr)["error"]["issues"][0]["field"] == field
    assert [x.position for x in consumer_reports_parked(path, app)] == [ids[2]]


def consumer_reports_parked(path: Path, app: CardLifecycle) -> list[DeadLetter]:
    checkpoints = open_checkpoints(backend.settings(path))
    assert [r.consumer for r in consumer_reports(checkpoints, app.recorder, app.mapper)] == ["renewals"]
    return checkpoints.dead_letters("renewals")
