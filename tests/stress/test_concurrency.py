"""Concurrency (issue: many writers, threads and processes, on the same card and on different
cards, on both backends): no lost update, no duplicate version, conflicts retried or reported.

Writers: threads with an application each (``open_write_side`` on the same settings), threads
sharing one application, and processes (``multiprocessing``, spawned) with an application each.
They all write at once, after a barrier, to

- one shared card: PIN entries (wrong and right), suspensions and lifts, name changes — whose
  outcome depends on the order (a rule may refuse: the card is already suspended, the PIN locked);
- one card with a ¥1,000 fee outstanding: payments of ¥100 (exactly ten can be accepted);
- a card of their own: suspend / lift alternations and PIN entries, always valid.

Then, from the store: versions 1..n per aggregate, positions strictly increasing; the command
log holds exactly the accepted commands (and the setup), each once, with exactly the events its
result named; a refused command (rule or ``ConcurrencyConflict``) recorded nothing; no update was
lost (fee payments sum up, each PIN failure counts on from the one before, suspensions and lifts
alternate); every writer's cached card equals the fold of its events.

A forced conflict storm (every writer loads, then all save at once, ``max_attempts`` 1) is
reported as ``ConcurrencyConflict`` with nothing written; the same commands sent again succeed.

Figures: ``FIGURES concurrency[<backend>]: …`` (commands per outcome).
"""

from __future__ import annotations

import json
import multiprocessing
import pickle
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

from commands import certificate_models as cm
from commands import models as m
from commands.application import CardLifecycle, CommandResult
from commands.config import Settings
from commands.errors import ConcurrencyConflict
from lifecycle.card import events as ev
from lifecycle.identifiers import card_id_for
from mynacard.bootstrap import open_write_side
from projections.chain_audit import verify_chain
from tests.helpers import harness
from tests.helpers.backend import BACKEND, database_url

OWN_APP_THREADS = 8
SHARED_APP_THREADS = 4
PROCESSES = 4
FEE_YEN = 1000
PAYMENT_YEN = 100
MODELS = {c.COMMAND: c for c in (*m.CARD_COMMANDS, *cm.CERTIFICATE_COMMANDS)}
LOCKOUT = {"sig": 5, "auth": 3, "juki": 3, "card_details": 3}
FIGURES: Counter[str] = Counter()


# ----------------------------------------------------------------------------- the world


@dataclass
class World:
    settings: Settings
    data_dir: Path
    url: str | None
    shared: str
    fee: str
    own: list[str]
    setup_ids: set[UUID] = field(default_factory=set)


def _aid(n: int) -> str:
    return f"{8_000_000 + n:023d}"


def build_world(tmp_path: Path, writers: int) -> World:
    """The store (created here, so writers only open it), a shared card, a card with a fee
    outstanding, and one card per writer, all active except the fee card (applied)."""
    data_dir = tmp_path / "data"
    url = database_url(tmp_path)
    settings = harness.harness_settings(data_dir, url)
    world = World(settings, data_dir, url, _aid(0), _aid(1), [_aid(10 + i) for i in range(writers)])
    app = open_write_side(settings)

    def run(model: type[m.Command], **fields: Any) -> None:
        command = model.model_validate({"actor": "setup", **fields})
        app.execute(command)
        world.setup_ids.add(command.command_id)

    def activate(aid: str, seed: int) -> None:
        run(
            m.SubmitApplication,
            application_id=aid,
            my_number=harness.stream_my_number(6_000_000 + seed),
            date_of_birth="1980-10-10",
            photo_taken_on="2024-12-20",
            effective_at="2025-01-06T09:00",
        )
        run(m.AcceptApplication, card=aid, effective_at="2025-01-15")
        run(m.ProduceCard, card=aid, effective_at="2025-01-20")
        run(
            m.HandOverCard,
            card=aid,
            effective_at="2025-02-01T10:00",
            identity_documents=["driving_licence"],
            notification_card="collected",
            **harness.PINS,
        )

    try:
        for n, aid in enumerate([world.shared, _aid(2), *world.own]):
            activate(aid, n)
        run(m.ReportLoss, card=_aid(2), police_report=True, effective_at="2025-04-01T10:00")
        run(
            m.SubmitApplication,
            application_id=world.fee,
            my_number=harness.stream_my_number(6_000_001),
            date_of_birth="1980-10-10",
            photo_taken_on="2025-04-01",
            kind="reissue",
            reissue_reason="loss",
            previous_card=_aid(2),
            effective_at="2025-04-05T09:00",
        )
        assert app.get_card(world.fee).outstanding_fee_yen == FEE_YEN
    finally:
        app.close()
    return world


def jobs_for(world: World, writer: int, rng: random.Random) -> list[tuple[str, str, dict[str, Any]]]:
    """A writer's commands: (label, command name, payload), with fresh command ids."""
    shared_choices = [
        ("pin", "pin-attempt", {"pin": "auth", "success": False}),
        ("pin", "pin-attempt", {"pin": "auth", "success": False}),
        ("pin", "pin-attempt", {"pin": "auth", "success": True}),
        ("pin", "pin-attempt", {"pin": "juki", "success": False}),
        ("pin", "pin-attempt", {"pin": "juki", "success": True}),
        ("suspend", "suspend", {}),
        ("lift", "lift-suspension", {}),
        ("name", "change-info", {"facts": ["name"], "pin_confirmed": True}),
    ]
    own = world.own[writer]
    jobs: list[tuple[str, str, dict[str, Any]]] = []
    for step in range(6):
        for _ in range(2):
            label, name, fields = rng.choice(shared_choices)
            jobs.append((f"shared-{label}", name, {"card": world.shared, **fields}))
        if step % 3 == 0:
            jobs.append(("fee", "pay-fee", {"card": world.fee, "amount_yen": PAYMENT_YEN}))
        jobs.append(("own", "suspend", {"card": own}))  # suspend or lift: set in order below
        jobs.append(("own", "pin-attempt", {"card": own, "pin": "sig", "success": step % 3 != 1}))
    rng.shuffle(jobs)
    # Shuffled, the own card's suspensions and lifts alternate, starting with a suspension.
    own_slots = [i for i, j in enumerate(jobs) if j[0] == "own" and j[1] == "suspend"]
    for n, i in enumerate(own_slots):
        jobs[i] = ("own", "suspend" if n % 2 == 0 else "lift-suspension", {"card": own})
    actor = f"writer-{writer}"
    return [
        (label, name, {**payload, "actor": actor, "command_id": str(uuid4())})
        for label, name, payload in jobs
    ]


@dataclass
class Outcome:
    label: str
    command_id: UUID
    outcome: str  # accepted, RuleViolation, ConcurrencyConflict, or "unexpected …"
    result: dict[str, Any] | None = None
    conflicts: int = 0  # ConcurrencyConflicts answered before the outcome (the command was resent)


def execute(app: CardLifecycle, label: str, name: str, payload: dict[str, Any]) -> Outcome:
    command = MODELS[name].model_validate(payload)
    outcome, result, conflicts = harness.execute_resending(app, command)
    dumped = result.model_dump(mode="json") if result is not None else None
    return Outcome(label, command.command_id, outcome, dumped, conflicts)


# ----------------------------------------------------------------------------- the checks


def check_store(world: World, outcomes: list[Outcome], apps: list[CardLifecycle]) -> harness.Audit:
    unexpected = [o for o in outcomes if o.outcome.startswith("unexpected")]
    assert unexpected == []
    # A writer's own card has one writer: only a conflict that was never resolved may refuse.
    assert {o.outcome for o in outcomes if o.label == "own"} <= {"accepted", "ConcurrencyConflict"}
    fresh = open_write_side(world.settings)
    try:
        audit = harness.audit_store(fresh)
        assert audit.problems == []
        accepted = {o.command_id: o for o in outcomes if o.outcome == "accepted"}
        refused = {o.command_id for o in outcomes if o.outcome != "accepted"}
        # The log holds the setup and every accepted command, each once; nothing refused.
        assert set(audit.log) == world.setup_ids | set(accepted)
        assert not refused & set(audit.log)
        assert not refused & set(audit.by_command)
        for command_id, o in accepted.items():
            assert o.result is not None and not o.result["duplicate"]
            assert harness.result_digest_of_entry(audit.log[command_id]) == harness.stored_digest(o.result)

        # No lost update.
        fee_events = list(fresh.events.get(card_id_for(world.fee)))
        paid = [e.amount_yen for e in fee_events if isinstance(e, ev.FeePaid)]
        fee_outcomes = Counter(o.outcome for o in outcomes if o.label == "fee")
        assert paid == [PAYMENT_YEN] * fee_outcomes["accepted"]
        assert sum(paid) <= FEE_YEN
        if fee_outcomes["RuleViolation"]:
            assert sum(paid) == FEE_YEN, "a payment was refused while the fee was not yet settled"
        check_pins_and_suspensions(list(fresh.events.get(card_id_for(world.shared))))
        for aid in world.own:
            check_pins_and_suspensions(list(fresh.events.get(card_id_for(aid))))

        # Every writer's application answers the fold of the log (its cache followed the others).
        cards = [world.shared, world.fee, *world.own]
        certificates = {s.aggregate_id for s in audit.events if s.type == "CertificateIssued"}
        for app in [*apps, fresh]:
            for aid in cards:
                expected = harness.fold_state(fresh.events.get(card_id_for(aid)))
                assert harness.state_of(app.get_card(aid)) == expected, aid
            for cert_id in certificates:
                cert = app.load_certificate(cert_id)
                assert harness.state_of(cert) == harness.fold_state(fresh.events.get(cert_id))
    finally:
        fresh.close()
    return audit


def check_pins_and_suspensions(events: list[Any]) -> None:
    """Replays the card's PIN counters and suspension: each event follows from the one before
    (a lost update would count a failure twice from the same value, or suspend twice)."""
    counters: dict[str, int] = {}
    suspended = False
    for e in events:
        if isinstance(e, ev.PinsSet):
            counters.update(dict.fromkeys(e.pins, 0))
        elif isinstance(e, ev.PinFailed):
            assert counters[e.pin] >= 0, f"a failure counted on the locked {e.pin} PIN"
            assert e.failures == counters[e.pin] + 1, f"{e.pin}: failure {e.failures} after {counters[e.pin]}"
            counters[e.pin] = e.failures
        elif isinstance(e, ev.PinLocked):
            assert counters[e.pin] == LOCKOUT[e.pin]
            counters[e.pin] = -1
        elif isinstance(e, ev.PinCounterReset):
            assert counters[e.pin] > 0
            counters[e.pin] = 0
        elif isinstance(e, ev.Suspended):
            assert not suspended, "suspended twice"
            suspended = True
        elif isinstance(e, ev.SuspensionLifted):
            assert suspended, "lifted while not suspended"
            suspended = False


def run_threads(work: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []

    def guarded(job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []


def tally(name: str, outcomes: list[Outcome]) -> None:
    FIGURES[f"{name}_commands"] += len(outcomes)
    FIGURES[f"{name}_conflicts_resent"] += sum(o.conflicts for o in outcomes)
    for o in outcomes:
        FIGURES[f"{name}_{o.outcome if o.outcome == 'accepted' else o.outcome.lower()}"] += 1


# ----------------------------------------------------------------------------- the tests


def test_threads_with_own_and_shared_applications_lose_no_update(tmp_path: Path) -> None:
    writers = OWN_APP_THREADS + SHARED_APP_THREADS
    world = build_world(tmp_path, writers)
    rng = random.Random(7)
    jobs = [jobs_for(world, w, rng) for w in range(writers)]
    own_apps = [open_write_side(world.settings) for _ in range(OWN_APP_THREADS)]
    shared_app = open_write_side(world.settings)
    apps = [*own_apps, *[shared_app] * SHARED_APP_THREADS]
    for app in apps:
        app.get_card(world.shared)  # cached before the others write: coherence is then tested
    barrier = threading.Barrier(writers)
    outcomes: list[list[Outcome]] = [[] for _ in range(writers)]

    def writer(w: int) -> Callable[[], None]:
        def job() -> None:
            barrier.wait(timeout=60)
            for label, name, payload in jobs[w]:
                outcomes[w].append(execute(apps[w], label, name, payload))

        return job

    try:
        run_threads([writer(w) for w in range(writers)])
        flat = [o for per in outcomes for o in per]
        check_store(world, flat, [*own_apps, shared_app])
    finally:
        for app in {id(a): a for a in apps}.values():
            app.close()
    tally("threads", flat)
    assert Counter(o.outcome for o in flat)["accepted"] > len(flat) // 3


def test_processes_writing_the_same_store_lose_no_update(tmp_path: Path) -> None:
    world = build_world(tmp_path, PROCESSES)
    rng = random.Random(11)
    jobs = [jobs_for(world, w, rng) for w in range(PROCESSES)]
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    # Applications are constructed one process at a time: opening at the same moment fails on
    # PostgreSQL (see test_processes_opening_the_same_store_at_once); what they write is concurrent.
    outputs = [tmp_path / f"writer-{w}.json" for w in range(PROCESSES)]
    processes = [
        context.Process(
            target=harness.process_worker,
            args=(str(world.data_dir), world.url, jobs[w], str(outputs[w]), start),
        )
        for w in range(PROCESSES)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * PROCESSES
    flat: list[Outcome] = []
    states: dict[str, list[dict[str, Any]]] = {}
    for path in outputs:
        data = json.loads(path.read_text())
        for o in data["outcomes"]:
            flat.append(Outcome(o["label"], UUID(o["command_id"]), o["outcome"], o["result"], o["conflicts"]))
        for ref, state in pickle.loads(path.with_suffix(".states").read_bytes()).items():
            states.setdefault(ref, []).append(state)
    check_store(world, flat, [])
    # After every writer was done, each process's (cached) cards were the fold of the log.
    fresh = open_write_side(world.settings)
    try:
        # Issue 13: writers in separate processes at once: one chain row per event, in log order.
        chain_report = verify_chain(fresh.command_log)
        assert chain_report.ok, chain_report
        assert chain_report.events == len(fresh.recorder.select_notifications(1, 10**7))
        for ref, seen in states.items():
            want = harness.fold_state(fresh.events.get(card_id_for(ref)))
            assert all(state == want for state in seen), ref
    finally:
        fresh.close()
    tally("processes", flat)


def test_a_conflict_storm_is_reported_as_a_conflict_and_writes_nothing(tmp_path: Path) -> None:
    """Every writer loads the card, then all save at once with one attempt each: one wins, the
    others are told ``ConcurrencyConflict`` (retry hint) and nothing of theirs is stored; the
    same commands sent again (same ids) are then applied once each."""
    writers = 6
    world = build_world(tmp_path, 0)
    apps = [open_write_side(world.settings) for _ in range(writers)]
    barrier = threading.Barrier(writers)
    lost: list[str] = []

    def racing(app: CardLifecycle) -> None:
        save = app.save
        first = [True]

        def wrapper(*objs: Any, **kwargs: Any) -> Any:
            if first[0]:
                first[0] = False
                barrier.wait(timeout=60)
            try:
                return save(*objs, **kwargs)
            except (IntegrityError, OperationalError) as e:
                lost.append(type(e).__name__)
                raise

        app.save = wrapper  # type: ignore[method-assign]
        app.max_attempts = 1

    for app in apps:
        racing(app)
    commands = [
        m.ChangeCardInformation(card=world.shared, actor=f"clerk-{w}", facts=["name"], pin_confirmed=True)
        for w in range(writers)
    ]
    results: dict[int, CommandResult | BaseException] = {}

    def writer(w: int) -> Callable[[], None]:
        def job() -> None:
            try:
                results[w] = apps[w].execute(commands[w])
            except ConcurrencyConflict as e:
                results[w] = e

        return job

    try:
        probe = apps[0]
        before = harness.log_mark(probe)
        version = probe.get_card(world.shared).version
        run_threads([writer(w) for w in range(writers)])
        winners = [w for w, r in results.items() if isinstance(r, CommandResult)]
        conflicts = [w for w, r in results.items() if isinstance(r, ConcurrencyConflict)]
        assert len(winners) == 1 and len(conflicts) == writers - 1, results
        assert len(lost) == writers - 1
        for w in conflicts:
            error = results[w]
            assert isinstance(error, ConcurrencyConflict)
            assert error.as_dict()["kind"] == "concurrency_conflict"
            assert "again" in error.as_dict()["hint"]
        fresh = open_write_side(world.settings)
        try:
            audit = harness.audit_store(fresh)
            assert audit.problems == []
            assert set(audit.log) == world.setup_ids | {commands[winners[0]].command_id}
            assert fresh.get_card(world.shared).version == version + 1  # one NameChanged
            assert harness.log_mark(fresh)[1] == before[1] + 1
            # Sent again, as the hint says: each applied once, in turn.
            for w in conflicts:
                apps[w].max_attempts = 5
                again = apps[w].execute(commands[w])
                assert again.duplicate is False
            audit = harness.audit_store(fresh)
            assert audit.problems == []
            assert set(audit.log) == world.setup_ids | {c.command_id for c in commands}
            names = [e for e in fresh.events.get(card_id_for(world.shared)) if isinstance(e, ev.NameChanged)]
            assert sorted(e.command_id for e in names) == sorted(c.command_id for c in commands)
        finally:
            fresh.close()
    finally:
        for app in apps:
            app.close()
    FIGURES["storm_writers"] += writers
    FIGURES["storm_conflicts_reported"] += len(conflicts)


def spawn(target: Callable[..., None], args: list[tuple[Any, ...]]) -> None:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=target, args=a) for a in args]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * len(processes)


def test_processes_opening_the_same_store_at_once(tmp_path: Path) -> None:
    world = build_world(tmp_path, 0)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    outputs = [tmp_path / f"opener-{w}.json" for w in range(PROCESSES)]
    spawn(harness.opening_worker, [(str(world.data_dir), world.url, start, 3, str(o)) for o in outputs])
    errors = [e for o in outputs for e in json.loads(o.read_text())]
    assert errors == []


def test_processes_starting_a_new_store_at_once_share_one_key_ring(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    url = database_url(tmp_path)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(PROCESSES)
    outputs = [tmp_path / f"starter-{w}.json" for w in range(PROCESSES)]
    spawn(
        harness.first_start_worker,
        [(str(data_dir), url, start, w, str(o)) for w, o in enumerate(outputs)],
    )
    outcomes = [json.loads(o.read_text()) for o in outputs]
    assert [o.get("error") for o in outcomes] == [None] * PROCESSES
    app = open_write_side(harness.harness_settings(data_dir, url))
    try:
        audit = harness.audit_store(app)  # decodes every event: each needs a key of the ring
        assert audit.problems == []
        for o in outcomes:
            assert app.get_card(o["application_id"]).status == "applied"
    finally:
        app.close()


def test_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the figures of the tests above (one line, quoted in the README)."""
    if not FIGURES:
        pytest.skip("run with the tests above")
    with capsys.disabled():
        print("\n" + harness.figures(f"concurrency[{BACKEND}]", **dict(sorted(FIGURES.items()))))
