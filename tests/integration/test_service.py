"""The write side through the real ``CardLifecycle`` on the test storage (SQLite, or PostgreSQL
with ``MYNACARD_TEST_DATABASE_URL``, see tests/helpers/backend.py): idempotency, refusals that
write nothing, optimistic concurrency and its retries, restarts, exact round trips of dates and
times, privacy of the My Number in storage and errors, and the holder key file."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError
from pydantic import ValidationError

from commands import models as m
from commands.application import CLOCK_SKEW, CardLifecycle, CommandResult
from commands.config import Settings
from commands.errors import CommandIdReused, ConcurrencyConflict, InputError, NotFound
from lifecycle.card import events as ev
from lifecycle.errors import RuleViolation
from projections.event_json import event_to_dict
from projections.status import card_status
from storage.keys import KEY_FILE, holder_key
from tests.helpers.backend import POSTGRES, raw_storage, store_env_of
from tests.helpers.support import KEY, Clock, Story, application_id, my_number

JST_OFFSET = timedelta(hours=9)
PINS = {"sig_pin": "ZQ7XK9PW", "auth_pin": "4821", "juki_pin": "4821", "card_details_pin": "4821"}


def position(app: CardLifecycle) -> int:
    return app.recorder.max_notification_id() or 0


def logged_since(app: CardLifecycle, at: int, result: CommandResult) -> list[tuple[UUID, int]]:
    """The log's notifications after position ``at`` of the aggregates ``result`` changed."""
    mine = {e.aggregate_id for e in result.events}
    return [
        (n.originator_id, n.originator_version)
        for n in app.recorder.select_notifications(at + 1, 10_000)
        if n.originator_id in mine
    ]


def state_of(card: Any) -> dict[str, Any]:
    return {k: v for k, v in card.__dict__.items() if k != "_pending_events"}


@pytest.fixture
def open_apps(app: CardLifecycle) -> Iterator[Callable[..., CardLifecycle]]:
    """Opens more applications on the test's store (the ``app`` fixture's), closes them after."""
    opened: list[CardLifecycle] = []
    store = store_env_of(app.env)

    def open_app(clock: Callable[[], datetime], **kwargs: Any) -> CardLifecycle:
        app = CardLifecycle(env=store, holder_key=KEY, clock=clock, **kwargs)
        opened.append(app)
        return app

    yield open_app
    for app in opened:
        app.close()


# ----------------------------------------------------------------------------- idempotency


@pytest.mark.parametrize(
    ("command", "fields"),
    [
        # The second run is refused by a rule (already suspended): the first result answers.
        (m.SuspendCard, {"channel": "call_centre"}),
        # The second run would succeed again, were the command id not remembered.
        (m.ChangeCardInformation, {"facts": ["name"], "pin_confirmed": True}),
    ],
)
def test_same_command_id_twice_records_once_and_answers_the_first_result(
    app: CardLifecycle, story: Story, command: type[m.Command], fields: dict[str, Any]
) -> None:
    story.to_active()
    command_id = uuid4()
    first = story.run(command, "2020-07-01T03:15", command_id=command_id, **fields)
    assert first.duplicate is False
    assert first.events
    card_events = list(app.events.get(story.card.id))
    at = position(app)

    second = story.run(command, "2020-07-02T10:00", command_id=command_id, **fields)

    assert second.duplicate is True
    assert second == first.model_copy(update={"duplicate": True})
    assert position(app) == at
    assert list(app.events.get(story.card.id)) == card_events


@pytest.mark.parametrize(
    ("command", "fields"),
    [
        # Same command, another value: its rerun is refused by a rule (already suspended).
        (m.SuspendCard, {"channel": "counter"}),
        # Another command, which would succeed on its own.
        (m.ChangeCardInformation, {"facts": ["name"], "pin_confirmed": True}),
    ],
)
def test_reused_command_id_with_another_payload_is_refused_and_writes_nothing(
    app: CardLifecycle, story: Story, command: type[m.Command], fields: dict[str, Any]
) -> None:
    story.to_active()
    command_id = uuid4()
    story.run(m.SuspendCard, "2020-07-01T03:15", command_id=command_id, channel="call_centre")
    card_events = list(app.events.get(story.card.id))
    at = position(app)

    with pytest.raises(CommandIdReused) as refused:
        story.run(command, "2020-07-02T10:00", command_id=command_id, **fields)

    assert str(command_id) in str(refused.value)
    assert position(app) == at
    assert list(app.events.get(story.card.id)) == card_events
    assert story.card.status == "suspended"


def test_reused_command_id_for_an_application_of_another_person_is_refused(
    app: CardLifecycle, clock: Clock
) -> None:
    """The My Number is kept out of the stored payload, yet it is part of what makes two
    applications the same command (keyed digest)."""
    command_id = uuid4()
    first = Story(app, clock, my_number_=my_number(11))
    first.apply(command_id=command_id)
    at = position(app)
    assert first.apply(command_id=command_id).duplicate is True
    other = Story(app, clock, application_id_=first.application_id, my_number_=my_number(12))
    with pytest.raises(CommandIdReused):
        other.apply(command_id=command_id)
    assert position(app) == at


def test_command_refused_by_a_rule_can_be_retried_with_the_same_id(app: CardLifecycle, story: Story) -> None:
    """A refusal records nothing, not even the command id: the same command retried later,
    once the rule allows it, is executed (and only then becomes a duplicate)."""
    story.to_active()
    command_id = uuid4()
    at = position(app)
    with pytest.raises(RuleViolation) as first:
        story.run(m.LiftSuspension, "2020-07-01T09:00", command_id=command_id)
    assert first.value.rule == "R50"
    with pytest.raises(RuleViolation) as again:
        story.run(m.LiftSuspension, "2020-07-01T09:05", command_id=command_id)
    assert again.value.rule == "R50"
    assert position(app) == at

    story.run(m.SuspendCard, "2020-07-02T03:15")
    lifted = story.run(m.LiftSuspension, "2020-07-03T09:00", command_id=command_id)
    assert lifted.duplicate is False
    assert [e.type for e in lifted.events if e.aggregate_id == story.card.id] == ["SuspensionLifted"]
    assert story.card.status == "active"

    repeated = story.run(m.LiftSuspension, "2020-07-03T09:10", command_id=command_id)
    assert repeated == lifted.model_copy(update={"duplicate": True})


# ----------------------------------------------------------------------------- refusals write nothing


def test_rule_refusal_writes_nothing(app: CardLifecycle, story: Story) -> None:
    story.apply()
    card_events = list(app.events.get(story.card.id))
    at = position(app)
    with pytest.raises(RuleViolation) as refused:
        story.run(
            m.HandOverCard,
            "2020-05-02T10:00",
            identity_documents=["driving_licence"],
            notification_card="collected",
        )
    assert refused.value.rule == "R20"
    assert position(app) == at
    assert list(app.events.get(story.card.id)) == card_events


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("future_effective_time", "effective_at"),
        ("duplicate_application", "application_id"),
        ("unknown_card", "card"),
    ],
)
def test_bad_input_writes_nothing_and_names_the_field(
    app: CardLifecycle, story: Story, case: str, field: str
) -> None:
    story.to_active()
    at = position(app)
    version = story.card.version
    with pytest.raises(InputError) as refused:
        if case == "future_effective_time":
            story.run(m.SuspendCard, "2020-07-01T09:00", effective_at="2020-07-02T09:00")
        elif case == "duplicate_application":
            story.apply("2020-07-01T09:00")
        else:
            story.run(m.SuspendCard, "2020-07-01T09:00", card=application_id())
    assert [issue.field for issue in refused.value.issues] == [field]
    assert isinstance(refused.value, NotFound) == (case == "unknown_card")
    assert position(app) == at
    assert story.card.version == version


# ----------------------------------------------------------------------------- concurrency


class Race:
    """Makes each writer's first save wait until every writer has loaded the card and is about to
    save: all but one of them then lose the race (IntegrityError or a busy database) and retry."""

    def __init__(self, writers: dict[str, CardLifecycle]) -> None:
        self.barrier = threading.Barrier(len(writers))
        self.lost: list[str] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        for name, writer in writers.items():
            writer.save = self._racing(name, writer.save)  # type: ignore[method-assign]

    def _racing(self, name: str, save: Callable[..., Any]) -> Callable[..., Any]:
        first = [True]

        def wrapper(*objs: Any, **kwargs: Any) -> Any:
            if first[0]:
                first[0] = False
                self.barrier.wait(timeout=30)
            try:
                return save(*objs, **kwargs)
            except (IntegrityError, OperationalError):
                with self._lock:
                    self.lost.append(name)
                raise

        return wrapper

    def run(self, work: dict[str, Callable[[], None]]) -> None:
        def guarded(job: Callable[[], None]) -> None:
            try:
                job()
            except BaseException as e:
                self.errors.append(e)
                self.barrier.abort()

        threads = [threading.Thread(target=guarded, args=(job,)) for job in work.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        assert self.errors == []
        assert self.lost, "the barrier guarantees at least one lost race"


def test_two_applications_racing_on_one_card_apply_every_command_exactly_once(
    app: CardLifecycle, story: Story, open_apps: Callable[..., CardLifecycle]
) -> None:
    story.to_active()
    base_version = story.card.version
    clock = Clock("2020-07-01T09:00")
    writers = {"name": open_apps(clock, max_attempts=100), "sex": open_apps(clock, max_attempts=100)}
    per_writer = 6
    race = Race(writers)
    commands = {
        fact: [
            m.ChangeCardInformation(
                card=story.application_id, actor=f"clerk-{fact}", facts=[fact], pin_confirmed=True
            )
            for _ in range(per_writer)
        ]
        for fact in writers
    }
    results: dict[str, list[CommandResult]] = {fact: [] for fact in writers}

    def work(fact: str) -> Callable[[], None]:
        def job() -> None:
            for command in commands[fact]:
                results[fact].append(writers[fact].execute(command))

        return job

    race.run({fact: work(fact) for fact in writers})

    events = list(app.events.get(story.card.id))
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
    assert len(events) == base_version + 2 * per_writer
    changes = events[base_version:]
    for fact, expected_type in (("name", ev.NameChanged), ("sex", ev.SexChanged)):
        mine = [e for e in changes if e.command_id in {c.command_id for c in commands[fact]}]
        assert [type(e) for e in mine] == [expected_type] * per_writer
        # In the order the writer sent them, each once.
        assert [e.command_id for e in mine] == [c.command_id for c in commands[fact]]
        card_id = story.card.id
        reported = [(e.version, e.type) for r in results[fact] for e in r.events if e.aggregate_id == card_id]
        assert reported == [(e.originator_version, expected_type.__name__) for e in mine]
        assert all(not r.duplicate for r in results[fact])


def test_the_same_command_sent_to_two_applications_at_once_is_applied_once(
    app: CardLifecycle, story: Story, open_apps: Callable[..., CardLifecycle]
) -> None:
    story.to_active()
    base_version = story.card.version
    at = position(app)
    clock = Clock("2020-07-01T09:00")
    writers = {"first": open_apps(clock, max_attempts=100), "second": open_apps(clock, max_attempts=100)}
    command = m.ChangeCardInformation(
        card=story.application_id, actor="clerk-1", facts=["name"], pin_confirmed=True
    )
    results: dict[str, CommandResult] = {}

    def work(name: str) -> Callable[[], None]:
        def job() -> None:
            results[name] = writers[name].execute(command)

        return job

    race = Race(writers)
    race.run({name: work(name) for name in writers})

    assert sorted(r.duplicate for r in results.values()) == [False, True]
    original = next(r for r in results.values() if not r.duplicate)
    assert all(r == original.model_copy(update={"duplicate": r.duplicate}) for r in results.values())
    events = list(app.events.get(story.card.id))
    assert len(events) == base_version + 1
    assert isinstance(events[-1], ev.NameChanged)
    assert events[-1].command_id == command.command_id
    assert logged_since(app, at, original) == [(e.aggregate_id, e.version) for e in original.events]


def test_a_reader_never_sees_a_command_that_was_not_committed(
    app: CardLifecycle, story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a command waits to save (and then fails to), a reader of the same application sees
    the card as committed: the refused change writes nothing and shows nowhere."""
    story.to_active()
    committed = state_of(story.card)
    saving, release = threading.Event(), threading.Event()

    def stalled_save(*objs: Any, **kwargs: Any) -> Any:
        saving.set()
        assert release.wait(timeout=30)
        raise IntegrityError("simulated conflict")

    monkeypatch.setattr(app, "save", stalled_save)
    monkeypatch.setattr(app, "max_attempts", 1)
    outcome: list[BaseException] = []

    def write() -> None:
        try:
            app.execute(m.SuspendCard(card=story.application_id, actor="clerk-1"))
        except BaseException as e:
            outcome.append(e)

    seen: list[Any] = []
    read = threading.Event()

    def reader() -> None:
        seen.append(app.get_card(story.application_id))
        read.set()

    writer = threading.Thread(target=write)
    writer.start()
    reading = threading.Thread(target=reader)
    try:
        assert saving.wait(timeout=30)
        reading.start()
        # A reader either answers while the command is stalled (then from committed state) or
        # waits for the command to finish; a short bounded wait tells which, not whether it passes.
        read.wait(timeout=0.5)
    finally:
        release.set()
        writer.join(timeout=30)
        if reading.ident is not None:
            reading.join(timeout=30)
    assert not writer.is_alive()
    assert not reading.is_alive()
    assert [type(e) for e in outcome] == [ConcurrencyConflict]
    assert [state_of(card) for card in seen] == [committed]
    assert seen[0].status == "active"
    assert state_of(app.get_card(story.application_id)) == committed


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (IntegrityError, "simulated conflict"),
        (OperationalError, "database is locked"),
        (OperationalError, "canceling statement due to lock timeout"),
    ],
)
def test_a_failed_save_is_retried_and_then_succeeds(
    app: CardLifecycle, story: Story, monkeypatch: pytest.MonkeyPatch, error: type[Exception], message: str
) -> None:
    """A conflict or a lock wait is retried. (Issue 8 item 10: an OperationalError that another
    attempt cannot cure, such as a full disk, is not retried: see test_fault_store.py.)"""
    story.to_active()
    at = position(app)
    version = story.card.version
    save = app.save
    calls: list[int] = []

    def flaky_save(*objs: Any, **kwargs: Any) -> Any:
        calls.append(len(objs))
        if len(calls) == 1:
            raise error(message)
        return save(*objs, **kwargs)

    monkeypatch.setattr(app, "save", flaky_save)
    result = story.run(m.SuspendCard, "2020-07-01T03:15")

    assert len(calls) == 2
    assert result.duplicate is False
    assert [(e.type, e.version) for e in result.events if e.aggregate_id == story.card.id] == [
        ("Suspended", version + 1)
    ]
    # Written once: the card has exactly one new event, and the log grew.
    assert story.card.version == version + 1
    assert [type(e) for e in list(app.events.get(story.card.id))[version:]] == [ev.Suspended]
    assert position(app) > at
    assert story.card.status == "suspended"


def test_a_save_that_keeps_conflicting_is_reported_after_max_attempts_and_writes_nothing(
    app: CardLifecycle, story: Story, monkeypatch: pytest.MonkeyPatch
) -> None:
    story.to_active()
    at = position(app)
    version = story.card.version
    calls: list[int] = []

    def conflicting_save(*objs: Any, **kwargs: Any) -> Any:
        calls.append(len(objs))
        raise IntegrityError("simulated conflict")

    monkeypatch.setattr(app, "save", conflicting_save)
    monkeypatch.setattr(app, "max_attempts", 3)
    with pytest.raises(ConcurrencyConflict) as refused:
        story.run(m.SuspendCard, "2020-07-01T03:15")

    assert len(calls) == 3
    assert "suspend" in str(refused.value)
    assert position(app) == at
    assert story.card.version == version
    assert story.card.status == "active"


# ----------------------------------------------------------------------------- moves filed in advance

ADVANCE_MOVES = {
    # R27: abroad on 09-01 without overseas continued use: invalid from 09-01.
    "overseas": [
        (m.RecordMoveOut, "2025-08-20T09:00", {"planned_move_out_on": "2025-09-01", "overseas": True})
    ],
    # R30: moving again (planned 09-01) before the card update after the last move-in.
    "moved_again": [
        (m.RecordMoveOut, "2025-06-10T09:00", {"planned_move_out_on": "2025-06-20"}),
        (
            m.FileMoveIn,
            "2025-07-01T09:00",
            {"planned_move_out_on": "2025-06-20", "moved_in_on": "2025-06-25"},
        ),
        (m.RecordMoveOut, "2025-08-20T09:00", {"planned_move_out_on": "2025-09-01"}),
    ],
}


@pytest.mark.parametrize("case", list(ADVANCE_MOVES))
def test_a_move_out_filed_in_advance_does_not_end_the_card_before_the_move(
    app: CardLifecycle, story: Story, case: str
) -> None:
    story.to_active(
        "2024-05-01T09:00", "2024-05-10", "2024-05-15", "2024-06-20T10:00", photo_taken_on="2024-04-01"
    )
    for command, when, fields in ADVANCE_MOVES[case]:
        story.run(command, when, **fields)
    card = story.card
    # The move has not happened yet: the card is valid through 08-31 ...
    assert card_status(card, date(2025, 8, 31), app.policies).usable_today is True
    # ... and nothing recorded takes effect after it was recorded (the service refuses that from a
    # client as "record facts when they have happened").
    for event in list(app.events.get(card.id)):
        assert event.effective_at <= event.timestamp + CLOCK_SKEW, type(event).__name__
    # From the move-out date on, it is not.
    assert card_status(card, date(2025, 9, 1), app.policies).usable_today is False


def test_overseas_continued_use_can_be_registered_after_an_advance_move_out(
    app: CardLifecycle, story: Story
) -> None:
    """R27: registered by the day before the move-out, the card stays valid abroad."""
    story.to_active(
        "2024-05-01T09:00", "2024-05-10", "2024-05-15", "2024-06-20T10:00", photo_taken_on="2024-04-01"
    )
    story.run(m.RecordMoveOut, "2025-08-20T09:00", planned_move_out_on="2025-09-01", overseas=True)
    story.run(m.RegisterOverseasContinuedUse, "2025-08-31T09:00", planned_move_out_on="2025-09-01")
    assert story.card.ended is None
    assert card_status(story.card, date(2025, 9, 2), app.policies).usable_today is True
    assert story.run(m.RecordLapses, "2025-09-02T09:00").events == []


def test_a_move_in_is_judged_against_the_recorded_move_out_date(app: CardLifecycle, story: Story) -> None:
    """R28: moved out (planned) on 03-31, the 転入届 is due by 04-30; filed on 05-10 the card is
    invalid, whatever later move-out date the filing states."""
    story.to_active(
        "2024-05-01T09:00", "2024-05-10", "2024-05-15", "2024-06-20T10:00", photo_taken_on="2024-04-01"
    )
    story.run(m.RecordMoveOut, "2025-03-20T09:00", planned_move_out_on="2025-03-31")
    try:
        story.run(
            m.FileMoveIn, "2025-05-10T09:00", planned_move_out_on="2025-04-20", moved_in_on="2025-05-01"
        )
    except RuleViolation as refused:
        assert refused.rule == "R28"
    assert card_status(story.card, date(2025, 5, 10), app.policies).usable_today is False


# ----------------------------------------------------------------------------- restart, round trips


def test_everything_survives_a_restart_and_times_round_trip_exactly(
    app: CardLifecycle, story: Story, clock: Clock, open_apps: Callable[..., CardLifecycle]
) -> None:
    story.apply("2020-05-01T09:00:07")
    story.run(m.AcceptApplication, "2020-05-10T09:00", effective_at="2020-05-10T08:59:59.250000")
    story.run(m.ProduceCard, "2020-05-15T09:00", effective_at="2020-05-15")
    story.run(
        m.HandOverCard,
        "2020-06-20T10:17:41",
        identity_documents=["driving_licence:expires=2031-01-31"],
        notification_card="collected",
        **PINS,
    )
    # Reported at 09:00 JST; lost at 03:10:27 JST, typed in UTC.
    story.run(m.SuspendCard, "2020-07-01T09:00", effective_at="2020-06-30T18:10:27Z")
    lifted = story.run(m.LiftSuspension, "2020-07-02T09:30:05", command_id=(lift_id := uuid4()))
    story.run(m.RecordMoveOut, "2020-08-01T11:11:11", planned_move_out_on="令和2年8月10日")
    story.run(m.FileMoveIn, "2020-08-12T14:00", planned_move_out_on="2020-08-10", moved_in_on="2020/8/11")
    card_id = story.card.id
    before_events = list(app.events.get(card_id))
    before_state = state_of(story.card)
    before_position = position(app)
    app.close()

    reopened = open_apps(clock)
    after_events = list(reopened.events.get(card_id))
    assert after_events == before_events
    assert [event_to_dict(e) for e in after_events] == [event_to_dict(e) for e in before_events]
    for old, new in zip(before_events, after_events, strict=True):
        assert type(new) is type(old)
        for name, value in vars(old).items():
            loaded = getattr(new, name)
            assert type(loaded) is type(value), name
            if isinstance(value, datetime):
                assert loaded.isoformat() == value.isoformat(), name
                assert loaded.utcoffset() == value.utcoffset()
    assert state_of(reopened.get_card(story.application_id)) == before_state
    assert reopened.recorder.max_notification_id() == before_position

    by_type = {type(e).__name__: e for e in after_events}
    assert by_type["Accepted"].effective_at.isoformat() == "2020-05-10T08:59:59.250000+09:00"
    assert by_type["Produced"].effective_at.isoformat() == "2020-05-15T00:00:00+09:00"
    assert by_type["Issued"].timestamp.isoformat() == "2020-06-20T10:17:41+09:00"
    assert by_type["Suspended"].effective_at.isoformat() == "2020-07-01T03:10:27+09:00"
    assert by_type["Suspended"].effective_at.utcoffset() == JST_OFFSET
    assert by_type["Produced"].issue_date == date(2020, 5, 15)
    assert type(by_type["Produced"].expires_on) is date
    assert by_type["MovedOut"].planned_move_out_on == date(2020, 8, 10)
    assert by_type["MoveInFiled"].moved_in_on == date(2020, 8, 11)
    assert by_type["MoveInFiled"].info_change_due_by == date(2020, 11, 10)

    # The reopened service carries on where the first one stopped.
    reopened_story = Story(reopened, clock, story.application_id)
    result = reopened_story.run(
        m.ChangeCardInformation, "2020-08-20T09:00", facts=["address"], pin_confirmed=True
    )
    assert [e.version for e in result.events if e.aggregate_id == card_id] == [len(before_events) + 1]
    # And remembers the commands it executed before the restart.
    again = reopened_story.run(m.LiftSuspension, "2020-08-21T09:00", command_id=lift_id)
    assert again == lifted.model_copy(update={"duplicate": True})


# ----------------------------------------------------------------------------- privacy


def test_my_number_never_stored_in_clear_nor_shown_in_errors(app: CardLifecycle, clock: Clock) -> None:
    number = my_number(73_105_928_461)
    new_number = my_number(46_281_937_502)
    story = Story(app, clock, my_number_=number)
    story.to_active()
    messages: list[str] = []

    def refused(run: Callable[[], Any]) -> None:
        with pytest.raises((RuleViolation, InputError, CommandIdReused, ValidationError)) as e:
            run()
        error = e.value
        messages.extend([str(error), repr(error)])
        if isinstance(error, ValidationError):
            error = InputError.from_validation(error)
        messages.extend([str(error), repr(error), json.dumps(error.as_dict(), ensure_ascii=False)])

    command_id = uuid4()
    story.run(m.SuspendCard, "2020-07-01T03:15", command_id=command_id)
    # The same application again (bad input), an application with an old photo (a rule), and
    # a command id reused by an application carrying the number.
    refused(lambda: story.apply("2020-07-01T09:00"))
    refused(
        lambda: story.apply("2020-07-01T09:00", application_id=application_id(), photo_taken_on="2019-01-01")
    )
    refused(lambda: story.apply("2020-07-01T09:00", application_id=application_id(), command_id=command_id))
    # A wrong check digit: the error must not repeat the digits either.
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    refused(lambda: story.apply("2020-07-01T09:00", application_id=application_id(), my_number=wrong))
    story.run(m.LiftSuspension, "2020-07-02T09:00")
    story.run(m.InvalidateCard, "2020-08-01T09:00", reason="my_number_changed", new_my_number=new_number)
    assert story.card.status == "invalidated"

    for message in messages:
        assert number not in message
        assert wrong not in message
    assert story.card.my_number_masked == f"XXXX XXXX {number[-4:]}"

    masked = f"XXXX XXXX {number[-4:]}".encode()
    store = store_env_of(app.env)
    parts = raw_storage(store)
    if not POSTGRES:
        # The database file and its write-ahead log, both read.
        db = Path(store["SQLITE_DBNAME"])
        assert {db.name, f"{db.name}-wal"} <= set(parts), sorted(parts)
    for name, content in parts.items():
        for secret in (number, new_number):
            assert secret.encode() not in content, name
            assert secret.encode("utf-16-le") not in content, name
    # The check can see stored text (this store is not encrypted): the masked form is there.
    assert any(masked in content for content in parts.values()), sorted(parts)
    # And after a checkpoint on close (SQLite: the database file alone).
    app.close()
    parts = raw_storage(store)
    content = parts[Path(store["SQLITE_DBNAME"]).name] if not POSTGRES else b"\n".join(parts.values())
    assert masked in content
    assert number.encode() not in content
    assert new_number.encode() not in content


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_holder_key_file_is_created_with_mode_0600(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: int
) -> None:
    for name in list(os.environ):
        if name.startswith("MYNACARD_"):
            monkeypatch.delenv(name)
    data_dir = tmp_path / "fresh" / "data"
    settings = Settings(data_dir=data_dir)
    previous = os.umask(umask)
    try:
        key = holder_key(settings)
    finally:
        os.umask(previous)
    path = data_dir / KEY_FILE
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) == 32
    assert bytes.fromhex(path.read_text().strip()) == key
    # Read again, not replaced.
    assert holder_key(settings) == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
