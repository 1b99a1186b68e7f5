"""Harness of the concurrency, crash-safety and fuzz tests.

1. A deterministic stream of commands (fixed command ids, fixed clock, fixed holder key) and a
   writer that runs it through the real wiring (``open_write_side``) and prints, flushed,
   ``ACK <command id> <new|dup> <digest of the result>`` after each successful ``execute``::

       python -m tests.helpers.harness stream --data-dir DIR [--database-url URL] [--start N] [--cards N]
           [--consumer-log FILE] [--holder-key-file] [--kill-in-holder-key]

   It also follows its own log while it writes: a ``DurableConsumer`` after every command (each
   delivered position is appended to ``--consumer-log``) and the projections every few commands,
   so a SIGKILL can land in any of them. Re-running it re-sends the stream from ``--start``:
   commands already done are answered from the command log (``dup``).
2. Workers for the multi-process concurrency tests: writers on one store (``process_worker``),
   processes opening one store at once (``opening_worker``) or starting a new one at once
   (``first_start_worker``).
3. Store inspection shared by the three tests: every stored event decoded with its position and
   command id, every command-log row, and ``audit_store``, which checks what every store must
   satisfy whatever ran on it (positions strictly increasing, versions contiguous per aggregate,
   one command = one contiguous run of positions, every event belongs to a logged command and
   every logged command's events are exactly the ones its result names, and the certificate
   consequences of every card event are in the same command).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import pickle
import signal
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID, uuid5

from commands import certificate_models as cm
from commands import models as m
from commands.application import CardLifecycle, CommandResult
from commands.config import Settings
from commands.results import ANSWERED_FROM_THE_LOG
from lifecycle.card import events as ev
from lifecycle.certificate import (
    CertificateExpired,
    CertificateIssued,
    CertificatePutOnHold,
    CertificateReleased,
    CertificateRevoked,
)
from lifecycle.identifiers import certificate_id_for
from storage.keys import KEY_FILE
from storage.postgres.event_store import PostgresCommandLogRecorder
from storage.records import CommandLogEntry
from storage.sqlite.event_store import SQLiteCommandLogRecorder

NOW = "2025-06-01T09:00"
"""The fixed clock of the stream (``MYNACARD_NOW``): every run records the same events."""
HOLDER_KEY_HEX = "6d796e6163617264" * 4
"""A fixed holder key (``MYNACARD_HOLDER_KEY``), so holder references do not depend on a key file."""
STREAM_NAMESPACE = UUID("0d6c2b9e-6a53-4f3e-9a0e-3c1f6f1d2a00")
STREAM_CARDS = 10
PINS = {"sig_pin": "AB12CD", "auth_pin": "1234", "juki_pin": "1234", "card_details_pin": "1234"}
CONSUMER = "crash-harness"
CATCH_UP_EVERY = 7


def harness_settings(data_dir: Path | str, database_url: str | None) -> Settings:
    return Settings(
        data_dir=Path(data_dir),
        database_url=database_url,
        now=NOW,
        holder_key=HOLDER_KEY_HEX,
        actor="harness",
    )


def stream_my_number(seed: int) -> str:
    from stdnum.jp import in_ as my_number_module

    base = f"{seed % 10**11:011d}"
    return base + my_number_module.calc_check_digit(base)


# ----------------------------------------------------------------------------- the stream


def _card_script(i: int) -> list[tuple[type[m.Command], dict[str, Any]]]:
    """One card's commands, in the order they happen (every one succeeds when run in order)."""
    aid = f"{7_000_000 + i:023d}"
    day = f"2025-02-{1 + i % 9:02d}"
    card = {"card": aid}
    steps: list[tuple[type[m.Command], dict[str, Any]]] = [
        (
            m.SubmitApplication,
            {
                "application_id": aid,
                "my_number": stream_my_number(5_000_000 + i),
                "date_of_birth": "1980-10-10" if i % 3 else "昭和55年10月10日",
                "photo_taken_on": "2024-12-20",
                "effective_at": "2025-01-06T09:00",
            },
        ),
        (m.AcceptApplication, {**card, "effective_at": "2025-01-15"}),
        (m.ProduceCard, {**card, "effective_at": "2025-01-20"}),
        (m.SendPickupNotice, {**card, "effective_at": "2025-01-21"}),
        (
            m.HandOverCard,
            {
                **card,
                "effective_at": f"{day}T10:00",
                "identity_documents": ["driving_licence"],
                "notification_card": "collected",
                **PINS,
            },
        ),
        (cm.RecordPinAttempt, {**card, "pin": "auth", "success": False, "effective_at": "2025-03-01T10:00"}),
        (cm.RecordPinAttempt, {**card, "pin": "auth", "success": True, "effective_at": "2025-03-01T10:01"}),
        # A correct entry with no failure counted records no event: a command with an empty result.
        (cm.RecordPinAttempt, {**card, "pin": "sig", "success": True, "effective_at": "2025-03-01T10:02"}),
        (m.SuspendCard, {**card, "effective_at": "2025-03-02T03:15"}),
        (m.LiftSuspension, {**card, "effective_at": "2025-03-03T10:00"}),
        (
            cm.IssueCertificates,
            {
                **card,
                "kinds": ["SIG"],
                "sig_pin": "ZQ7XK9PW",
                "juki_pin_confirmed": True,
                "effective_at": "2025-03-04T10:00",
            },
        ),
        (
            cm.IssueSmartphoneCertificates,
            {**card, "device": f"phone-{i}", "sig_pin_confirmed": True, "effective_at": "2025-03-05T10:00"},
        ),
        (cm.SuspendSmartphone, {**card, "effective_at": "2025-03-06T10:00"}),
        (cm.LiftSmartphoneSuspension, {**card, "effective_at": "2025-03-07T10:00"}),
        (
            m.ChangeCardInformation,
            {**card, "facts": ["name"], "pin_confirmed": True, "effective_at": "2025-03-10T10:00"},
        ),
        (cm.RecordPinAttempt, {**card, "pin": "juki", "success": False, "effective_at": "2025-03-11T10:00"}),
    ]
    if i % 2 == 0:
        steps += [
            (m.ReportLoss, {**card, "police_report": True, "effective_at": "2025-04-01T03:10"}),
            (m.CollectPhysicalCard, {**card, "effective_at": "2025-04-20T10:00"}),
        ]
    else:
        steps += [
            (m.SuspendCard, {**card, "channel": "counter", "effective_at": "2025-04-01T10:00"}),
            (m.RecordLapses, {**card, "effective_at": "2025-04-02T10:00"}),
        ]
    return steps


def _reissue_script(i: int) -> list[tuple[type[m.Command], dict[str, Any]]]:
    """A fault reissue of card ``i`` (lost): a fee assessed at application, paid in two parts."""
    lost = f"{7_000_000 + i:023d}"
    aid = f"{7_100_000 + i:023d}"
    card = {"card": aid}
    return [
        (
            m.SubmitApplication,
            {
                "application_id": aid,
                "my_number": stream_my_number(5_000_000 + i),
                "date_of_birth": "1980-10-10",
                "photo_taken_on": "2025-04-01",
                "kind": "reissue",
                "reissue_reason": "loss",
                "previous_card": lost,
                "effective_at": "2025-04-05T09:00",
            },
        ),
        (m.PayFee, {**card, "amount_yen": 600, "effective_at": "2025-04-05T09:05"}),
        (m.AcceptApplication, {**card, "effective_at": "2025-04-10"}),
        (m.ProduceCard, {**card, "effective_at": "2025-04-15"}),
        (m.PayFee, {**card, "amount_yen": 400, "effective_at": "2025-05-01T09:55"}),
        (
            m.HandOverCard,
            {
                **card,
                "effective_at": "2025-05-01T10:00",
                "identity_documents": ["driving_licence"],
                **PINS,
            },
        ),
    ]


def stream(cards: int = STREAM_CARDS) -> list[m.Command]:
    """The whole stream: the cards' scripts interleaved round-robin (so the log mixes cards and
    every command's events sit among other cards' events), then the reissues; fixed ids."""
    scripts = [_card_script(i) for i in range(cards)]
    ordered: list[tuple[type[m.Command], dict[str, Any]]] = []
    for step in range(max(len(s) for s in scripts)):
        ordered.extend(s[step] for s in scripts if step < len(s))
    for i in range(0, cards, 4):
        ordered.extend(_reissue_script(i))
    out = []
    for n, (model, fields) in enumerate(ordered):
        payload = {"command_id": str(uuid5(STREAM_NAMESPACE, f"step-{n}")), "actor": f"clerk-{n % 3}"}
        out.append(model.model_validate({**payload, **fields}))
    return out


def result_digest(result: CommandResult) -> str:
    """The result as first recorded (the ``duplicate`` flag aside), hashed: the part the command
    log keeps (the fee and the card's end are answered from the events, ``commands.results``)."""
    return stored_digest(result.model_dump(mode="json"))


def stored_digest(result: dict[str, Any]) -> str:
    """The digest of the stored part of a result as JSON (``duplicate`` aside)."""
    return digest({k: v for k, v in result.items() if k != "duplicate" and k not in ANSWERED_FROM_THE_LOG})


def result_digest_of_entry(entry: CommandLogEntry) -> str:
    """The digest of the result a command-log row keeps (what a duplicate answers)."""
    return digest({k: v for k, v in entry.result.items() if k != "duplicate"})


def digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def run_stream(args: argparse.Namespace) -> int:
    from commands.errors import CommandIdReused, ConcurrencyConflict, InputError
    from lifecycle.errors import RuleViolation
    from mynacard.bootstrap import open_checkpoints, open_read_side, open_write_side
    from projections.subscriptions import DurableConsumer

    settings = harness_settings(args.data_dir, args.database_url)
    if args.holder_key_file or args.kill_in_holder_key:
        # The holder key from the data directory's key file (made on first use), not fixed.
        settings = Settings(data_dir=Path(args.data_dir), database_url=args.database_url, now=NOW)
    if args.kill_in_holder_key:
        # SIGKILL at one exact point of the first start: the key file (or the temporary file it
        # is published from) is open, its key not yet written (what a kill or a power cut there
        # leaves behind).
        real_fdopen = os.fdopen

        def fdopen(fd: int, *a: Any, **k: Any) -> Any:
            if KEY_FILE in os.path.basename(os.readlink(f"/proc/self/fd/{fd}")):
                os.kill(os.getpid(), signal.SIGKILL)
            return real_fdopen(fd, *a, **k)

        os.fdopen = fdopen
    app = open_write_side(settings)
    consumer_log = open(args.consumer_log, "a", encoding="utf-8") if args.consumer_log else None  # noqa: SIM115
    consumer = read = None
    if consumer_log is not None:
        consumer = DurableConsumer(CONSUMER, open_checkpoints(settings), app.recorder, app.mapper)
        read = open_read_side(settings)
        consumer_log.write("\nRUN\n")  # (a new line first: a killed run may have left half of one)
        consumer_log.flush()

    def deliver(position: int, event: Any) -> None:
        assert consumer_log is not None
        consumer_log.write(f"{position}\n")
        consumer_log.flush()

    print("READY", flush=True)
    commands = stream(args.cards)
    for n, command in enumerate(commands[args.start :], start=args.start):
        try:
            result = app.execute(command)
        except (RuleViolation, InputError, CommandIdReused, ConcurrencyConflict) as e:
            print(f"REFUSED {command.command_id} {type(e).__name__} {e}", flush=True)
            continue
        print(
            f"ACK {command.command_id} {'dup' if result.duplicate else 'new'} {result_digest(result)}",
            flush=True,
        )
        if consumer is not None:
            consumer.run(deliver)
        if read is not None and n % CATCH_UP_EVERY == 0:
            read.catch_up()
    print("DONE", flush=True)
    app.close()
    return 0


# ----------------------------------------------------------------------------- process workers


def execute_resending(
    app: CardLifecycle, command: m.Command, resends: int = 3
) -> tuple[str, CommandResult | None, int]:
    """Execute, and send the same command again after a ``ConcurrencyConflict`` (what its hint
    says), at most ``resends`` times: (outcome, result, conflicts). The outcome is ``accepted``,
    the refusal's class name, or ``unexpected …`` (reported, never raised, in a writer)."""
    from commands.errors import CommandIdReused, ConcurrencyConflict, InputError
    from lifecycle.errors import RuleViolation

    conflicts = 0
    while True:
        try:
            return "accepted", app.execute(command), conflicts
        except ConcurrencyConflict:
            conflicts += 1
            if conflicts > resends:
                return "ConcurrencyConflict", None, conflicts
        except (RuleViolation, CommandIdReused, InputError) as e:
            return type(e).__name__, None, conflicts
        except Exception as e:
            return f"unexpected {type(e).__name__}: {e}", None, conflicts


def process_worker(
    data_dir: str,
    database_url: str | None,
    jobs: list[tuple[str, str, dict[str, Any]]],
    out_path: str,
    start: Any,
) -> None:
    """One writer process: its own ``open_write_side`` on the shared store; waits for ``start`` (a
    barrier) and runs ``jobs`` (label, command name, payload); writes the outcomes as JSON."""
    from mynacard.bootstrap import open_write_side

    models = {c.COMMAND: c for c in (*m.CARD_COMMANDS, *cm.CERTIFICATE_COMMANDS)}
    app = open_write_side(harness_settings(data_dir, database_url))
    app.get_card(jobs[0][2]["card"])  # warm the cache: the coherence check must catch others' writes
    start.wait(timeout=60)
    outcomes = []
    for label, name, payload in jobs:
        command = models[name].model_validate(payload)
        outcome, result, conflicts = execute_resending(app, command)
        outcomes.append(
            {
                "label": label,
                "outcome": outcome,
                "command_id": str(command.command_id),
                "conflicts": conflicts,
                "result": result.model_dump(mode="json") if result is not None else None,
            }
        )
    start.wait(timeout=60)  # every writer is done: what this process now reads must be the fold
    states = {ref: state_of(app.get_card(ref)) for ref in {p["card"] for _, _, p in jobs}}
    Path(out_path).with_suffix(".states").write_bytes(pickle.dumps(states))
    Path(out_path).write_text(json.dumps({"outcomes": outcomes}))
    app.close()


def opening_worker(data_dir: str, database_url: str | None, start: Any, rounds: int, out_path: str) -> None:
    """Opens (and closes) the store ``rounds`` times, each time together with the other processes."""
    from mynacard.bootstrap import open_write_side

    errors = []
    for _ in range(rounds):
        start.wait(timeout=60)
        try:
            open_write_side(harness_settings(data_dir, database_url)).close()
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")
    Path(out_path).write_text(json.dumps(errors))


def first_start_worker(data_dir: str, database_url: str | None, start: Any, seed: int, out_path: str) -> None:
    """Starts the service on a new store together with the other processes and records one
    application. The processes meet where each has found no key ring and is about to create
    one (and only if each got there), so the race is the same on every run."""
    import threading

    import mynacard.bootstrap as service

    real_create = service.create_key_ring

    def create_key_ring(settings: Settings) -> Any:
        # Not every process getting here (as it should be) breaks the barrier: no race to set up.
        with contextlib.suppress(threading.BrokenBarrierError):
            start.wait(timeout=5)
        return real_create(settings)

    service.create_key_ring = create_key_ring
    outcome: dict[str, Any] = {}
    try:
        app = service.open_write_side(harness_settings(data_dir, database_url))
        aid = f"{9_000_000 + seed:023d}"
        app.execute(
            m.SubmitApplication.model_validate(
                {
                    "actor": f"starter-{seed}",
                    "application_id": aid,
                    "my_number": stream_my_number(9_000_000 + seed),
                    "date_of_birth": "1980-10-10",
                    "photo_taken_on": "2025-04-01",
                }
            )
        )
        outcome["application_id"] = aid
        app.close()
    except Exception as e:
        outcome["error"] = f"{type(e).__name__}: {e}"
    Path(out_path).write_text(json.dumps(outcome))


# ----------------------------------------------------------------------------- store inspection


@dataclass(frozen=True)
class Stored:
    position: int
    aggregate_id: UUID
    version: int
    topic: str
    command_id: UUID
    event: Any

    @property
    def type(self) -> str:
        return type(self.event).__name__


def stored_events(app: CardLifecycle) -> list[Stored]:
    """Every event of the log, decoded, in position order."""
    out: list[Stored] = []
    start = 0
    while True:
        notes = app.recorder.select_notifications(start=start, limit=1000, inclusive_of_start=False)
        for n in notes:
            event = app.mapper.to_domain_event(n)
            out.append(Stored(n.id, n.originator_id, n.originator_version, n.topic, event.command_id, event))  # type: ignore[arg-type]
        if len(notes) < 1000:
            return out
        start = notes[-1].id


def command_log(app: CardLifecycle) -> dict[UUID, CommandLogEntry]:
    """Every row of the command log, by command id."""
    recorder = app.recorder
    rows: list[Sequence[Any]]
    if isinstance(recorder, SQLiteCommandLogRecorder):
        with recorder.datastore.transaction(commit=False) as c:
            c.execute("SELECT command_id, command, digest, actor, recorded_at, result FROM command_log")
            rows = [tuple(r) for r in c.fetchall()]
    else:
        assert isinstance(recorder, PostgresCommandLogRecorder)
        from psycopg.sql import SQL, Identifier

        statement = SQL("SELECT command_id, command, digest, actor, recorded_at, result FROM {0}.{1}").format(
            Identifier(recorder.datastore.schema), Identifier(recorder.commands_table_name)
        )
        with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement)
            rows = [
                (r["command_id"], r["command"], r["digest"], r["actor"], r["recorded_at"], r["result"])
                for r in curs.fetchall()
            ]
    entries = [CommandLogEntry.from_row(r) for r in rows]
    by_id = {e.command_id: e for e in entries}
    assert len(by_id) == len(entries), "a command id is in the command log twice"
    return by_id


def log_mark(app: CardLifecycle) -> tuple[int, int]:
    """(last position, command-log rows), in one query: unchanged by anything refused."""
    recorder = app.recorder
    if isinstance(recorder, SQLiteCommandLogRecorder):
        with recorder.datastore.transaction(commit=False) as c:
            events = recorder.events_table_name
            c.execute(f"SELECT (SELECT MAX(rowid) FROM {events}), (SELECT COUNT(*) FROM command_log)")
            row = c.fetchone()
            return int(row[0] or 0), int(row[1])
    assert isinstance(recorder, PostgresCommandLogRecorder)
    from psycopg.sql import SQL, Identifier

    schema = Identifier(recorder.datastore.schema)
    statement = SQL(
        "SELECT (SELECT MAX(notification_id) FROM {0}.{1}) AS position, (SELECT COUNT(*) FROM {0}.{2}) AS n"
    ).format(schema, Identifier(recorder.events_table_name), Identifier(recorder.commands_table_name))
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement)
        found = curs.fetchone()
        assert found is not None
        return int(found["position"] or 0), int(found["n"])


def delete_event(app: CardLifecycle, aggregate_id: UUID, version: int) -> None:
    """Remove one stored event (to show that ``audit_store`` notices a half-written command)."""
    recorder = app.recorder
    if isinstance(recorder, SQLiteCommandLogRecorder):
        with recorder.datastore.transaction(commit=True) as c:
            c.execute(
                f"DELETE FROM {recorder.events_table_name} WHERE originator_id=? AND originator_version=?",
                (aggregate_id.hex, version),
            )
        return
    assert isinstance(recorder, PostgresCommandLogRecorder)
    from psycopg.sql import SQL, Identifier

    statement = SQL("DELETE FROM {0}.{1} WHERE originator_id=%s AND originator_version=%s").format(
        Identifier(recorder.datastore.schema), Identifier(recorder.events_table_name)
    )
    with recorder.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
        curs.execute(statement, (aggregate_id, version))


@dataclass
class Audit:
    events: list[Stored]
    log: dict[UUID, CommandLogEntry]
    by_command: dict[UUID, list[Stored]]
    consequences_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def events_checked(self) -> int:
        return len(self.events)


LIVE = {"active", "on_hold"}
ENDED = (CertificateRevoked, CertificateExpired)


def audit_store(app: CardLifecycle) -> Audit:
    """Check the invariants of the whole store; every problem found is listed in ``problems``."""
    events = stored_events(app)
    log = command_log(app)
    by_command: dict[UUID, list[Stored]] = defaultdict(list)
    for s in events:
        by_command[s.command_id].append(s)
    audit = Audit(events, log, dict(by_command))
    problem = audit.problems.append

    positions = [s.position for s in events]
    if positions != sorted(set(positions)):
        problem(f"positions are not strictly increasing: {positions}")
    versions: dict[UUID, list[int]] = defaultdict(list)
    for s in events:
        versions[s.aggregate_id].append(s.version)
    for aggregate_id, seen in versions.items():
        if seen != list(range(1, len(seen) + 1)):
            problem(f"aggregate {aggregate_id}: versions {seen} are not 1..{len(seen)}")
    index = {s.position: i for i, s in enumerate(events)}
    for command_id, mine in by_command.items():
        entry = log.get(command_id)
        if entry is None:
            problem(f"events of command {command_id} ({[s.type for s in mine]}) but no command-log row")
            continue
        at = [index[s.position] for s in mine]
        if at != list(range(at[0], at[0] + len(at))):
            problem(f"command {command_id}: its events are not one contiguous run of the log")
        stored = [(str(s.aggregate_id), s.version, s.type) for s in mine]
        named = [(e["aggregate_id"], e["version"], e["type"]) for e in entry.result["events"]]
        if sorted(stored) != sorted(named):
            problem(f"command {command_id} ({entry.command}): stored {stored} != its result {named}")
    for command_id, entry in log.items():
        if entry.result["events"] and command_id not in by_command:
            problem(f"command {command_id} ({entry.command}) is logged with events, none are stored")
    _check_consequences(audit)
    return audit


def _check_consequences(audit: Audit) -> None:
    """Walk the log command by command, keeping each certificate's status: the certificate
    consequences of every card event must be in the same command (nothing half-written)."""
    problem = audit.problems.append
    certs: dict[UUID, tuple[UUID, str, str]] = {}  # id -> (card id, kind, status)
    done: set[UUID] = set()
    for s in audit.events:
        if s.command_id in done:
            continue
        done.add(s.command_id)
        mine = audit.by_command[s.command_id]
        live_before: dict[UUID, list[tuple[UUID, str, str]]] = defaultdict(list)
        for cert_id, (card_id, kind, status) in certs.items():
            if status in LIVE:
                live_before[card_id].append((cert_id, kind, status))
        ended = {x.aggregate_id for x in mine if isinstance(x.event, ENDED)}
        held = {x.aggregate_id for x in mine if isinstance(x.event, CertificatePutOnHold)}
        released = {x.aggregate_id for x in mine if isinstance(x.event, CertificateReleased)}
        issued = {x.aggregate_id: x.event for x in mine if isinstance(x.event, CertificateIssued)}
        added = {x.event.certificate_id: x for x in mine if isinstance(x.event, ev.CertificateAdded)}

        def expect(ok: bool, what: str, x: Stored = s) -> None:
            audit.consequences_checked += 1
            if not ok:
                problem(f"command {x.command_id}: {x.type} on {x.aggregate_id} without {what}")

        for x in mine:
            e, card_live = x.event, live_before.get(x.aggregate_id, [])
            if isinstance(e, ev.Issued):
                kinds = sorted(c.kind for c in issued.values() if c.card_id == x.aggregate_id)
                expect(kinds == sorted(e.certificates), f"CertificateIssued for {e.certificates}", x)
            elif isinstance(e, ev.CertificateAdded):
                expect(e.certificate_id in issued, f"the CertificateIssued of {e.serial}", x)
            elif isinstance(e, CertificateIssued):
                expect(x.aggregate_id in added, "the card's CertificateAdded", x)
                expect(x.aggregate_id == certificate_id_for(e.serial), "its id derived from its serial", x)
            elif isinstance(e, ev.Suspended):
                for cert_id, kind, status in card_live:
                    if kind == "AUTH" and status == "active":
                        expect(cert_id in held or cert_id in ended, "the AUTH put on hold", x)
                    elif kind != "AUTH":
                        expect(cert_id in ended, f"the {kind} revoked", x)
            elif isinstance(e, ev.SuspensionLifted):
                for cert_id, kind, status in card_live:
                    if kind == "AUTH" and status == "on_hold":
                        expect(cert_id in released or cert_id in ended, "the AUTH released", x)
            elif isinstance(e, ev.CardInformationChanged | ev.MoveInFiled) or (
                isinstance(e, ev.MovedOut) and e.overseas
            ):
                for cert_id, kind, _ in card_live:
                    if kind != "AUTH":
                        expect(cert_id in ended, f"the {kind} revoked (R41, R47)", x)
            elif isinstance(e, ev.Lost | ev.Returned | ev.Invalidated | ev.Superseded | ev.Expired):
                for cert_id, kind, _ in card_live:
                    expect(cert_id in ended, f"the {kind} ended with the card", x)
            elif isinstance(e, ev.SmartphoneSuspended):
                for cert_id, kind, status in card_live:
                    if kind.startswith("SP-") and status == "active":
                        expect(cert_id in held or cert_id in ended, f"the {kind} put on hold", x)
            elif isinstance(e, ev.SmartphoneSuspensionLifted):
                for cert_id, kind, status in card_live:
                    if kind == "SP-AUTH" and status == "on_hold":
                        expect(cert_id in released or cert_id in ended, "the SP-AUTH released", x)
                    if kind == "SP-SIG":
                        expect(cert_id in ended, "the old SP-SIG revoked", x)
                new_sp_sig = [
                    c for c in issued.values() if c.card_id == x.aggregate_id and c.kind == "SP-SIG"
                ]
                expect(bool(new_sp_sig) or not any(k == "SP-SIG" for _, k, _ in card_live), "a new SP-SIG", x)
            elif isinstance(e, ev.FaceRecognitionModeSet) and e.enabled:
                for cert_id, kind, _ in card_live:
                    if kind != "AUTH":
                        expect(cert_id in ended, f"the {kind} revoked (R58)", x)
        for x in mine:
            e = x.event
            if isinstance(e, CertificateIssued):
                certs[x.aggregate_id] = (e.card_id, e.kind, "active")
            elif x.aggregate_id in certs:
                card_id, kind, status = certs[x.aggregate_id]
                if isinstance(e, CertificateRevoked):
                    status = "revoked"
                elif isinstance(e, CertificateExpired):
                    status = "expired"
                elif isinstance(e, CertificatePutOnHold):
                    status = "on_hold"
                elif isinstance(e, CertificateReleased):
                    status = "active"
                certs[x.aggregate_id] = (card_id, kind, status)


def fold_state(events: Iterable[Any]) -> dict[str, Any]:
    aggregate: Any = None
    for e in events:
        aggregate = e.mutate(aggregate)
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def state_of(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def figures(name: str, **values: Any) -> str:
    """One stable line for the README: ``FIGURES <name>[<backend>]: key=value ...``."""
    return f"FIGURES {name}: " + " ".join(f"{k}={v}" for k, v in values.items())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.helpers.harness")
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("stream", help="run the deterministic command stream, printing ACK lines")
    p.add_argument("--data-dir", required=True)
    p.add_argument("--database-url")
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--cards", type=int, default=STREAM_CARDS)
    p.add_argument("--consumer-log")
    p.add_argument("--holder-key-file", action="store_true", help="use the data directory's key file")
    p.add_argument("--kill-in-holder-key", action="store_true", help="SIGKILL itself creating the key file")
    args = parser.parse_args(argv)
    started = time.monotonic()
    code = run_stream(args)
    print(f"ELAPSED {time.monotonic() - started:.2f}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
