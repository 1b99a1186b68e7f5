"""Read-side throughput and status-query latency of mynacard on SQLite and on PostgreSQL.

Each backend is measured against a raw read of the same log on that backend.

``python -m bench.readside [--backend {sqlite,postgres,both}] [--postgres-url URL] [--cards N]
[--repeat R] [--sample S] [--json] [--profile]`` (repo root).

The event log of N cards is generated with the domain directly (no command models, no command
log): applications arrive evenly over eight years, and each card goes through application,
acceptance, production, pickup notice and handover (its certificates issued by the policies'
``react``), then a mix of suspensions and lifts, name changes (by the holder, or by an agent
through an inquiry letter), moves with the address change, and losses. A discrete-event
simulation runs every card's steps in time order, so the log interleaves many cards in flight
as a service's log does, and saves the changed aggregates in batches with ``app.save(*aggs)``.
The store is configured as the service configures it (``open_write_side``: compressed, encrypted).
The log is generated once per backend, from the same seed (the same log on each).

(A) catch-up: both projections rebuilt from position 0 with ``projections.runner.catch_up``
    (views emptied first, untimed) → events/s, per projection and for both.
(B) baseline: the same notifications read with ``recorder.select_notifications`` in batches of
    the same size and decoded with ``mapper.to_domain_event`` (and once without decoding).
(C) status queries: ``ReadSide.card_report`` for a random sample of cards after a warm-up, and
    the same answer by replaying the card and its certificates from the event store
    (``projections.audit``, which never touches the aggregate cache) → p50/p99/mean ms.

Backends (``--backend``, default ``both``: SQLite first, then PostgreSQL, one after the other):

- sqlite: the event store and the two views in SQLite files in a fresh temporary directory, with
  the library's defaults (no pragma is changed); the files' sizes are reported.
- postgres: the event store and the two views in a fresh schema ``bench_<12 hex digits>`` of the
  database of ``--postgres-url`` (default ``$MYNACARD_BENCH_POSTGRES_URL``, else
  ``postgresql://127.0.0.1:5432/test``), opened through the service's settings
  (``database_url=<url>?schema=…``, pool sizes as configured by ``commands.config``); the tables'
  sizes (``pg_total_relation_size``) are reported, and the schema is dropped at the end, even
  after an error.

On each backend, A and B alternate for R rounds (A B, B A, …) after one untimed read of the whole
log (so both start with the same warm caches), and the median of each figure is reported. The
text report has one section per backend, then a side-by-side summary; ``--json`` prints one
object with a key per backend. ``--profile`` adds a cProfile of one more catch-up of each
projection per backend, with a µs/event breakdown naming that backend's classes.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import heapq
import inspect
import io
import json
import os
import platform
import pstats
import random
import resource
import statistics
import sys
import tempfile
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from importlib.metadata import version
from pathlib import Path
from time import perf_counter
from typing import Any, TextIO
from urllib.parse import urlparse, urlunparse
from uuid import UUID, uuid4

import psycopg
import psycopg.waiting
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import JSONTranscoder, Mapper
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore
from psycopg import sql

from commands.application import CardLifecycle
from commands.config import Settings
from commands.consequences import CardCertificates, react
from lifecycle.calendar import JST
from lifecycle.card import Application, Card, Handover
from lifecycle.card import events as ev
from lifecycle.certificate import Certificate, CertificateEvent, CertificateIssued
from lifecycle.decisions import DEFAULT_POLICIES, Policies
from lifecycle.documents import IdentityDocument
from lifecycle.errors import RuleViolation
from lifecycle.filers import HOLDER, Filer
from lifecycle.identifiers import card_id_for, holder_reference, mask_my_number
from lifecycle.stamp import Stamp
from mynacard.bootstrap import open_read_side, open_write_side, upstream_of
from projections.audit import card_as_known_at, certificates_as_known_at
from projections.certificates import certificate_status
from projections.read_side import CardReport, ReadSide
from projections.runner import DEFAULT_BATCH, catch_up
from projections.status import card_status
from projections.views import (
    LifecycleProjection,
    RevocationProjection,
    card_row,
    certificate_row,
    decode_snapshot,
)
from storage.crypto import KeyRingCipher
from storage.postgres.event_store import PostgresCommandLogRecorder
from storage.postgres.lifecycle_view import PostgresLifecycleView
from storage.postgres.revocation_list import PostgresRevocationView
from storage.settings import postgres_conninfo, storage_env
from storage.sqlite.event_store import SQLiteCommandLogRecorder
from storage.sqlite.lifecycle_view import SQLiteLifecycleView
from storage.sqlite.revocation_list import SQLiteRevocationView
from tests.helpers.support import KEY, my_number

BACKENDS = ("sqlite", "postgres")
DEFAULT_POSTGRES_URL = "postgresql://127.0.0.1:5432/test"
POSTGRES_URL_VARIABLE = "MYNACARD_BENCH_POSTGRES_URL"
SEED = 20240401
SAVE_EVERY = 250
"""Domain steps per ``app.save(*aggregates)`` transaction while generating the log."""
START = datetime(2016, 1, 4, 9, 0, tzinfo=JST)
APPLICATION_WINDOW = timedelta(days=8 * 365)
"""Applications arrive evenly over this window; a card's own steps span at most ~640 days, so
roughly a fifth of the cards are in flight (in memory) at any time."""
WARM_UP_QUERIES = 200
CHANNELS = ("web", "smartphone", "photo_booth", "mail")
SUSPENSION_CHANNELS = ("call_centre", "online", "counter")
DOCUMENTS = (IdentityDocument("driving_licence"), IdentityDocument("passport", expires_on=date(2099, 1, 1)))
AGENT = Filer(role="agent", letter_of_delegation=True)


# ----------------------------------------------------------------------------- the population


@dataclass(frozen=True, slots=True)
class Mix:
    """What share of the cards (after handover) does what, in its own window of days after the
    application (windows do not overlap, so no step is refused for another one)."""

    suspended: float = 0.12
    never_lifted: float = 1 / 6
    """Of the suspended cards, those still suspended at the end (they take no later step)."""
    name_by_holder: float = 0.08
    name_by_agent: float = 0.04
    moved: float = 0.20
    lost: float = 0.05


MIX = Mix()


class Certificates(dict[UUID, Certificate]):
    """A card's certificates in memory, as the policies' ``CertificateSource``."""

    def load_certificate(self, certificate_id: UUID) -> Certificate | None:
        return self.get(certificate_id)


@dataclass
class InFlight:
    """A card whose life is being simulated: the card, its certificates, its remaining steps."""

    index: int
    card: Card
    cc: CardCertificates
    steps: list[tuple[datetime, str]]
    certificates: Certificates


@dataclass
class Population:
    """What generating the log made (checked against the views after catch-up)."""

    cards: int
    events: int
    aggregates_saved: int
    transactions: int
    wall_s: float
    card_statuses: Counter[str]
    certificate_statuses: Counter[str]
    steps: Counter[str]
    refused: Counter[str]
    first_day: date
    last_day: date


def application_id(i: int) -> str:
    return f"{i + 1:023d}"


def card_id(i: int) -> UUID:
    return card_id_for(application_id(i))


def _command_id(n: int) -> UUID:
    return UUID(int=(SEED << 64) | n)


def schedule(rng: random.Random, t0: datetime) -> list[tuple[datetime, str]]:
    """A card's steps (time, name) from its application at ``t0``, in time order."""

    def day(lo: int, hi: int) -> datetime:
        return t0 + timedelta(days=rng.randint(lo, hi), minutes=rng.randint(-120, 120))

    handover = t0 + timedelta(days=55 + rng.randint(0, 30), minutes=rng.randint(0, 240))
    steps = [
        (t0, "submit"),
        (t0 + timedelta(days=9), "accept"),
        (t0 + timedelta(days=35), "produce"),
        (t0 + timedelta(days=40), "notice"),
        (handover, "hand_over"),
    ]
    if rng.random() < MIX.suspended:
        at = day(100, 180)
        steps.append((at, "suspend"))
        if rng.random() < MIX.never_lifted:
            return steps
        steps.append((at + timedelta(days=rng.randint(1, 4)), "lift"))
    r = rng.random()
    if r < MIX.name_by_holder:
        steps.append((day(200, 280), "name_by_holder"))
    elif r < MIX.name_by_holder + MIX.name_by_agent:
        at = day(200, 260)
        steps += [(at, "name_by_agent"), (at + timedelta(days=14), "answer_inquiry")]
    if rng.random() < MIX.moved:
        at = day(300, 420)
        moved_in = at + timedelta(days=rng.randint(3, 10))
        steps += [
            (at, "move_out"),
            (moved_in, "move_in"),
            (moved_in + timedelta(minutes=30), "address_change"),
        ]
    if rng.random() < MIX.lost:
        steps.append((day(450, 640), "lose"))
    return steps


class Simulation:
    """Runs the steps of all cards in time order and saves the changed aggregates in batches."""

    def __init__(self, app: CardLifecycle, cards: int, seed: int, policies: Policies) -> None:
        self.app = app
        self.cards = cards
        self.policies = policies
        self.rng = random.Random(seed)
        self.spacing = APPLICATION_WINDOW / max(cards, 1)
        self.heap: list[tuple[datetime, int, int]] = []
        self.flights: dict[int, InFlight] = {}
        self.dirty: dict[UUID, Aggregate] = {}
        self.sequence = 0
        self.commands = 0
        self.transactions = 0
        self.aggregates_saved = 0
        self.since_save = 0
        self.card_statuses: Counter[str] = Counter()
        self.certificate_statuses: Counter[str] = Counter()
        self.steps: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.last_at = START

    def _push(self, at: datetime, index: int) -> None:
        self.sequence += 1
        heapq.heappush(self.heap, (at, self.sequence, index))

    def _stamp(self, at: datetime, index: int, effective: datetime | None = None) -> Stamp:
        self.commands += 1
        return Stamp(_command_id(self.commands), f"clerk-{index % 7}", at, effective or at)

    def run(self) -> None:
        if self.cards:
            self._push(START, 0)
        while self.heap:
            at, _, index = heapq.heappop(self.heap)
            flight = self.flights.get(index)
            if flight is None:
                flight = self._submit(index, at)
                if index + 1 < self.cards:
                    self._push(START + (index + 1) * self.spacing, index + 1)
            else:
                _, name = flight.steps.pop(0)
                self._step(flight, name, at)
            self.last_at = max(self.last_at, at)
            for cert in flight.cc.changed.values():
                flight.certificates[cert.id] = cert
                self.dirty[cert.id] = cert
            flight.cc.changed.clear()
            self.dirty[flight.card.id] = flight.card
            if flight.steps:
                self._push(flight.steps[0][0], index)
            else:
                self._retire(flight)
            self.since_save += 1
            if self.since_save >= SAVE_EVERY:
                self._save()
        self._save()

    def _save(self) -> None:
        if self.dirty:
            self.app.save(*self.dirty.values())
            self.transactions += 1
            self.aggregates_saved += len(self.dirty)
            self.dirty.clear()
        self.since_save = 0

    def _retire(self, flight: InFlight) -> None:
        del self.flights[flight.index]
        self.card_statuses[flight.card.status] += 1
        self.certificate_statuses.update(c.status for c in flight.certificates.values())

    def _submit(self, index: int, t0: datetime) -> InFlight:
        rng = self.rng
        number = my_number(index + 1)
        born = t0.date() - timedelta(days=rng.randint(180, 85 * 365))  # aged 0.5 to 85
        application = Application(
            application_id=application_id(index),
            kind="new",
            channel=CHANNELS[index % len(CHANNELS)],
            holder_ref=holder_reference(number, KEY),
            my_number_masked=mask_my_number(number),
            date_of_birth=born,
            photo_taken_on=t0.date() - timedelta(days=rng.randint(1, 150)),
            wants_signature_certificate=rng.random() < 0.9,
        )
        card = Card.submit(application, self._stamp(t0, index), self.policies)
        steps = schedule(rng, t0)[1:]
        certificates = Certificates()
        flight = InFlight(index, card, CardCertificates(card, certificates), steps, certificates)
        self.flights[index] = flight
        self.steps["submit"] += 1
        return flight

    def _step(self, flight: InFlight, name: str, at: datetime) -> None:
        card, index = flight.card, flight.index
        before = len(card.pending_events)
        stamp = self._stamp(at, index)
        try:
            self._act(card, name, stamp, index)
        except RuleViolation as e:  # TerminalState is one too; nothing was recorded
            self.refused[f"{name}: {e.rule}"] += 1
            return
        self.steps[name] += 1
        react(flight.cc, card.pending_events[before:], stamp, self.policies)

    def _act(self, card: Card, name: str, stamp: Stamp, index: int) -> None:
        p = self.policies
        if name == "accept":
            card.accept(stamp)
        elif name == "produce":
            card.produce(stamp, p)
        elif name == "notice":
            card.send_pickup_notice(stamp)
        elif name == "hand_over":
            child = card.age_on(stamp.on) < 15
            card.hand_over(
                Handover(
                    identity_documents=(DOCUMENTS[index % len(DOCUMENTS)],),
                    notification_card="collected",
                    pins=card.pins_needed_at_handover(stamp.on),
                    pins_set_by="legal_representative" if child else "holder",
                ),
                stamp,
                p,
            )
        elif name == "suspend":
            card.suspend(SUSPENSION_CHANNELS[index % len(SUSPENSION_CHANNELS)], stamp)
        elif name == "lift":
            card.lift_suspension(HOLDER, True, stamp)
        elif name == "name_by_holder":
            card.change_card_information(["name"], HOLDER, True, stamp)
        elif name == "name_by_agent":
            card.change_card_information(["name"], AGENT, False, stamp)
        elif name == "answer_inquiry":
            card.answer_inquiry(True, stamp)
        elif name == "move_out":
            card.move_out(stamp.on + timedelta(days=2), False, stamp)
        elif name == "move_in":
            assert card.awaiting_move_in_since is not None
            card.file_move_in(card.awaiting_move_in_since, stamp.on - timedelta(days=1), stamp)
        elif name == "address_change":
            card.change_card_information(["address"], HOLDER, True, stamp)
        elif name == "lose":
            lost = stamp.effective(stamp.recorded_at - timedelta(hours=20))
            card.report_loss(index % 2 == 0, index % 2 == 1, HOLDER, lost)
        else:
            raise ValueError(name)


def generate(app: CardLifecycle, cards: int, seed: int) -> Population:
    started = perf_counter()
    sim = Simulation(app, cards, seed, app.policies)
    sim.run()
    wall = perf_counter() - started
    return Population(
        cards=cards,
        events=app.recorder.max_notification_id() or 0,
        aggregates_saved=sim.aggregates_saved,
        transactions=sim.transactions,
        wall_s=wall,
        card_statuses=sim.card_statuses,
        certificate_statuses=sim.certificate_statuses,
        steps=sim.steps,
        refused=sim.refused,
        first_day=START.date(),
        last_day=sim.last_at.date(),
    )


# ----------------------------------------------------------------------------- (A) and (B)


@dataclass
class Round:
    """One round: catch-up seconds per projection, and the raw reads' seconds."""

    catch_up_s: dict[str, float] = field(default_factory=dict)
    read_decode_s: float = 0.0
    read_only_s: float = 0.0


def clear_views(read: ReadSide) -> None:
    for p in read.projections:
        p.view.clear(read.upstream.name)


def time_catch_up(read: ReadSide, events: int, out: Round) -> None:
    """Empty both views (untimed), then catch each up from position 0 (timed)."""
    clear_views(read)
    for p in read.projections:
        started = perf_counter()
        applied = catch_up(read.upstream, p, batch_size=DEFAULT_BATCH)
        out.catch_up_s[p.name] = perf_counter() - started
        if applied != events:
            raise RuntimeError(f"{p.name}: caught up {applied} notifications of {events}")


def raw_read(
    app: CardLifecycle, *, decode: bool, batch_size: int = DEFAULT_BATCH, topics: Counter[str] | None = None
) -> int:
    """The loop of ``catch_up`` without a projection: select in batches (and decode each)."""
    recorder, mapper = app.recorder, app.mapper
    read = 0
    start = 0
    while True:
        notes = recorder.select_notifications(start=start, limit=batch_size, inclusive_of_start=False)
        if not notes:
            break
        if decode:
            for n in notes:
                mapper.to_domain_event(n)
        if topics is not None:
            topics.update(n.topic for n in notes)
        read += len(notes)
        start = notes[-1].id
        if len(notes) < batch_size:
            break
    return read


def time_raw(app: CardLifecycle, events: int, out: Round) -> None:
    for decode in (False, True):
        started = perf_counter()
        n = raw_read(app, decode=decode)
        seconds = perf_counter() - started
        if n != events:
            raise RuntimeError(f"raw read: {n} notifications of {events}")
        if decode:
            out.read_decode_s = seconds
        else:
            out.read_only_s = seconds


# ----------------------------------------------------------------------------- (C) queries


def replay_report(app: CardLifecycle, card: UUID, today: date, at: datetime) -> CardReport | None:
    """``card_report`` answered from the event store: the card and its certificates folded from
    their events (``projections.audit``, as ``mynacard status --as-known-at`` does)."""
    folded = card_as_known_at(app.events, card, None)
    if folded is None:
        return None
    certs = certificates_as_known_at(app.events, folded, None)
    return CardReport(
        card_status(folded, today, app.policies), [certificate_status(c, at, folded) for c in certs]
    )


def _comparable(report: CardReport | None) -> Any:
    if report is None:
        return None
    out = report.as_dict()
    out["certificates"] = sorted(out["certificates"], key=lambda c: c["serial"])
    return out


@dataclass
class Latencies:
    seconds: list[float]

    def summary(self) -> dict[str, float]:
        q = statistics.quantiles(self.seconds, n=100, method="inclusive")
        return {
            "queries": len(self.seconds),
            "p50_ms": q[49] * 1000,
            "p99_ms": q[98] * 1000,
            "mean_ms": statistics.fmean(self.seconds) * 1000,
            "max_ms": max(self.seconds) * 1000,
        }


def time_queries(
    ask: Callable[[UUID], CardReport | None], ids: Iterable[UUID], answers: dict[UUID, Any]
) -> Latencies:
    seconds: list[float] = []
    for i in ids:
        started = perf_counter()
        report = ask(i)
        seconds.append(perf_counter() - started)
        answers[i] = _comparable(report)
    return Latencies(seconds)


def query_latency(
    app: CardLifecycle, read: ReadSide, cards: int, sample: int, seed: int, today: date, at: datetime
) -> dict[str, Any]:
    rng = random.Random(seed + 1)
    picked = rng.sample(range(cards), min(cards, sample + WARM_UP_QUERIES))
    warm, timed = (
        [card_id(i) for i in picked[:WARM_UP_QUERIES]],
        [card_id(i) for i in picked[WARM_UP_QUERIES:]],
    )
    if not timed:  # a tiny population: time the warm-up ids again
        timed = warm

    def view(i: UUID) -> CardReport | None:
        return read.card_report(i, today, at)

    def replay(i: UUID) -> CardReport | None:
        return replay_report(app, i, today, at)

    scratch: dict[UUID, Any] = {}
    for ask in (view, replay):
        time_queries(ask, warm, scratch)
    from_view: dict[UUID, Any] = {}
    from_log: dict[UUID, Any] = {}
    a = time_queries(view, timed, from_view)
    b = time_queries(replay, timed, from_log)
    mismatches = sum(1 for i in timed if from_view[i] != from_log[i])
    missing = sum(1 for i in timed if from_view[i] is None)
    certificates = sum(len(from_view[i]["certificates"]) for i in timed if from_view[i] is not None)
    return {
        "today": today.isoformat(),
        "at": at.isoformat(),
        "warm_up_queries": len(warm),
        "read_side": a.summary(),
        "replay": b.summary(),
        "p50_speedup": b.summary()["p50_ms"] / a.summary()["p50_ms"],
        "mismatches": mismatches,
        "missing": missing,
        "certificates_per_report": certificates / len(timed),
    }


# ----------------------------------------------------------------------------- profile


def _code_key(fn: Any) -> tuple[str, int, str] | None:
    """cProfile's key of a Python function (a ``@contextmanager``'s own generator function, not
    contextlib's wrapper shared by all of them); None for a builtin."""
    code = getattr(inspect.unwrap(getattr(fn, "__func__", fn)), "__code__", None)
    if code is None:
        return None
    return code.co_filename, code.co_firstlineno, code.co_name


@dataclass(frozen=True)
class ProfileClasses:
    """The classes a backend's catch-up runs through (named in the --profile breakdown)."""

    recorder: type[Any]
    """Whose ``select_notifications`` the catch-up calls (the store's recorder inherits it)."""
    store_recorder: type[Any]
    lifecycle_view: type[Any]
    revocation_view: type[Any]
    datastore: type[Any]
    commit_label: str
    commit: list[Any]
    """The driver's COMMIT of a view's transaction (a builtin's profile name, or a function)."""
    extra: dict[str, list[Any]] = field(default_factory=dict)


PROFILE_CLASSES = {
    "sqlite": ProfileClasses(
        recorder=SQLiteApplicationRecorder,
        store_recorder=SQLiteCommandLogRecorder,
        lifecycle_view=SQLiteLifecycleView,
        revocation_view=SQLiteRevocationView,
        datastore=SQLiteDatastore,
        commit_label="  sqlite3 commit (fsync)",
        commit=["<method 'commit' of 'sqlite3.Connection' objects>"],
    ),
    "postgres": ProfileClasses(
        recorder=PostgresApplicationRecorder,
        store_recorder=PostgresCommandLogRecorder,
        lifecycle_view=PostgresLifecycleView,
        revocation_view=PostgresRevocationView,
        datastore=PostgresDatastore,
        commit_label="  psycopg COMMIT (Transaction.__exit__)",
        commit=[psycopg.Transaction.__exit__],
        extra={"psycopg waiting on the server (every query)": [psycopg.waiting.wait]},
    ),
}


def _parts(backend: str) -> dict[str, list[Any]]:
    """Named parts of a catch-up, as functions whose cumulative profile time is summed."""
    c = PROFILE_CLASSES[backend]
    mutates = {_code_key(t.mutate) for t in (ev.Applied, ev.Suspended, CertificateIssued, CertificateEvent)}
    datastore = c.datastore.__name__
    return {
        "select_notifications (SQL + Notification objects)": [c.recorder.select_notifications],
        "mapper.to_domain_event (notifications + snapshots)": [Mapper.to_domain_event],
        "  cipher decrypt (AES-GCM)": [KeyRingCipher.decrypt],
        "  zlib decompress": [ZlibCompressor.decompress],
        "  transcoder.decode (JSON)": [JSONTranscoder.decode],
        "view.card_rows + certificate_rows (SQL)": [
            c.lifecycle_view.card_rows,
            c.lifecycle_view.certificate_rows,
        ],
        "view.certificate_facts (SQL, revocation list)": [c.revocation_view.certificate_facts],
        "decode_snapshot (row → aggregate)": [decode_snapshot],
        "event.mutate (fold)": sorted(k for k in mutates if k is not None),
        "card_row + certificate_row (aggregate → row)": [card_row, certificate_row],
        "  Snapshot.take": [Snapshot.take],
        "  mapper.to_stored_event": [Mapper.to_stored_event],
        "  transcoder.encode (JSON)": [JSONTranscoder.encode],
        "  cipher encrypt (AES-GCM)": [KeyRingCipher.encrypt],
        "  zlib compress": [ZlibCompressor.compress],
        "view.commit (upserts + tracking + commit)": [
            c.lifecycle_view.commit,
            c.revocation_view.commit,
        ],
        c.commit_label: c.commit,
        "LifecycleProjection.process": [LifecycleProjection.process],
        "RevocationProjection.process": [RevocationProjection.process],
        f"{datastore}.transaction (connection, BEGIN, COMMIT)": [c.datastore.transaction],
        f"{datastore}.get_connection (every query)": [c.datastore.get_connection],
        **c.extra,
    }


def breakdown(profile: cProfile.Profile, parts: dict[str, list[Any]]) -> dict[str, float]:
    """Cumulative seconds of each part (parts overlap: a part includes those it calls)."""
    stats: Any = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    by_builtin = {key[2]: value for key, value in stats.items() if key[0] == "~"}
    out: dict[str, float] = {}
    for label, fns in parts.items():
        total = 0.0
        for fn in fns:
            if isinstance(fn, tuple):
                entry = stats.get(fn)
            elif isinstance(fn, str):
                entry = by_builtin.get(fn)
            else:
                key = _code_key(fn)
                entry = None if key is None else stats.get(key)
            if entry is not None:
                total += entry[3]
        out[label] = total
    return out


PART_WIDTH = 58


def profile_catch_up(read: ReadSide, events: int, out: TextIO, backend: str) -> dict[str, Any]:
    """One more rebuild of each projection under cProfile: top 25 and a µs/event breakdown."""
    results: dict[str, Any] = {}
    parts = _parts(backend)
    clear_views(read)
    for p in read.projections:
        profile = cProfile.Profile()
        started = perf_counter()
        profile.enable()
        catch_up(read.upstream, p, batch_size=DEFAULT_BATCH)
        profile.disable()
        wall = perf_counter() - started
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(25)
        print(
            f"\n=== [{backend}] cProfile of the {p.name} catch-up (top 25 by cumulative time) ===", file=out
        )
        print(text.getvalue(), file=out)
        seconds = breakdown(profile, parts)
        results[p.name] = {
            "profiled_wall_s": wall,
            "per_event_us": {k: v / events * 1e6 for k, v in seconds.items() if v > 0},
        }
    c = PROFILE_CLASSES[backend]
    print(
        f"=== [{backend}] catch-up breakdown under cProfile (µs/event, cumulative, parts overlap) ===",
        file=out,
    )
    print(
        f"classes: recorder {c.store_recorder.__name__} (select_notifications of {c.recorder.__name__}), "
        f"views {c.lifecycle_view.__name__} + {c.revocation_view.__name__}, {c.datastore.__name__}",
        file=out,
    )
    names = [p.name for p in read.projections]
    print(f"{'part':{PART_WIDTH}} " + " ".join(f"{n:>16}" for n in names), file=out)
    for label in parts:
        values = [results[n]["per_event_us"].get(label) for n in names]
        if any(v is not None for v in values):
            cells = " ".join(f"{v:16.1f}" if v is not None else f"{'':>16}" for v in values)
            print(f"{label:{PART_WIDTH}} {cells}", file=out)
    walls = " ".join(f"{results[n]['profiled_wall_s'] / events * 1e6:16.1f}" for n in names)
    print(f"{'(profiled wall time, µs/event)':{PART_WIDTH}} {walls}", file=out)
    return results


# ----------------------------------------------------------------------------- reporting


def peak_rss_mib() -> float:
    """Peak RSS since the last ``reset_peak_rss`` (VmHWM on Linux; else the process's peak)."""
    with suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def reset_peak_rss() -> None:
    """Start a new peak RSS for the next backend (Linux ≥ 4.0; elsewhere the peak stays the
    process's, so the second backend's figure includes the first's)."""
    gc.collect()
    with suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def file_sizes(directory: Path) -> dict[str, float]:
    """MiB of each SQLite file, its -wal and -shm separately (as the library left them)."""
    return {p.name: p.stat().st_size / 2**20 for p in sorted(directory.glob("*.sqlite*")) if p.is_file()}


def table_sizes(env: dict[str, str]) -> dict[str, float]:
    """MiB of each table of the store's PostgreSQL schema, with its indexes and TOAST
    (``pg_total_relation_size``; rows deleted by the rebuilds count until vacuumed)."""
    with psycopg.connect(postgres_conninfo(env), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname",
            (env["POSTGRES_SCHEMA"],),
        ).fetchall()
    return {str(name): int(size) / 2**20 for name, size in rows}


def summarise(rounds: list[Round], events: int, names: Sequence[str]) -> dict[str, Any]:
    def rate(seconds: Iterable[float]) -> float:
        return statistics.median(events / s for s in seconds)

    both = [sum(r.catch_up_s.values()) for r in rounds]
    out: dict[str, Any] = {
        "catch_up_events_per_s": {n: rate(r.catch_up_s[n] for r in rounds) for n in names},
        "catch_up_s": {n: statistics.median(r.catch_up_s[n] for r in rounds) for n in names},
        "both_events_per_s": rate(both),
        "both_s": statistics.median(both),
        "read_decode_events_per_s": rate(r.read_decode_s for r in rounds),
        "read_decode_s": statistics.median(r.read_decode_s for r in rounds),
        "read_only_events_per_s": rate(r.read_only_s for r in rounds),
        "read_only_s": statistics.median(r.read_only_s for r in rounds),
    }
    decode, only = out["read_decode_events_per_s"], out["read_only_events_per_s"]
    out["ratios"] = {
        **{
            n: {"vs_read_decode": v / decode, "vs_read_only": v / only}
            for n, v in out["catch_up_events_per_s"].items()
        },
        "both": {
            "vs_read_decode": out["both_events_per_s"] / decode,
            "vs_read_only": out["both_events_per_s"] / only,
        },
    }
    out["round_ratios_both_vs_read_decode"] = [r.read_decode_s / sum(r.catch_up_s.values()) for r in rounds]
    out["rounds"] = [
        {"catch_up_s": r.catch_up_s, "read_decode_s": r.read_decode_s, "read_only_s": r.read_only_s}
        for r in rounds
    ]
    return out


def _latency_row(label: str, s: dict[str, float]) -> str:
    return f"{label:34} {s['p50_ms']:8.3f} {s['p99_ms']:8.3f} {s['mean_ms']:8.3f} {s['max_ms']:8.3f}"


def report_text(result: dict[str, Any]) -> str:
    pop, t, q = result["population"], result["throughput"], result["queries"]
    names = list(t["catch_up_events_per_s"])
    lines = [
        f"=== {result['backend']} ===",
        f"mynacard read-side benchmark: eventsourcing {result['eventsourcing']}, Python {result['python']}",
        f"{result['storage']}, store as configured by open_write_side "
        f"(zlib + AES-GCM); catch-up batch {result['batch_size']}",
        "",
        f"population: {pop['cards']} cards, {pop['events']} events ({pop['events_per_card']:.2f} per card), "
        f"{pop['certificates']} certificates, applications {pop['first_day']} … last step {pop['last_day']}",
        f"  generated in {pop['wall_s']:.1f} s ({pop['events'] / pop['wall_s']:.0f} events/s, "
        f"{pop['transactions']} transactions of ≤{SAVE_EVERY} steps)",
        f"  steps: {dict(sorted(pop['steps'].items()))}",
        f"  refused steps: {pop['refused'] or 'none'}",
        f"  final card statuses: {pop['card_statuses']}",
        f"  final certificate statuses: {pop['certificate_statuses']}",
        f"  events by type: {pop['events_by_type']}",
        f"  views agree with the generator's statuses: {result['views_check']}",
        "",
        f"throughput: {result['repeat']} rounds alternating A/B, medians "
        "(one untimed read of the log before them)",
        f"{'':34} {'seconds':>9} {'events/s':>11}   rounds (s)",
    ]
    rounds = t["rounds"]
    for n in names:
        lines.append(
            f"{'A catch-up ' + n:34} {t['catch_up_s'][n]:9.2f} {t['catch_up_events_per_s'][n]:11.0f}   "
            + " ".join(f"{r['catch_up_s'][n]:.2f}" for r in rounds)
        )
    lines += [
        f"{'A catch-up, both in turn':34} {t['both_s']:9.2f} {t['both_events_per_s']:11.0f}   "
        + " ".join(f"{sum(r['catch_up_s'].values()):.2f}" for r in rounds),
        f"{'B raw read + decode':34} {t['read_decode_s']:9.2f} {t['read_decode_events_per_s']:11.0f}   "
        + " ".join(f"{r['read_decode_s']:.2f}" for r in rounds),
        f"{'B raw read only':34} {t['read_only_s']:9.2f} {t['read_only_events_per_s']:11.0f}   "
        + " ".join(f"{r['read_only_s']:.2f}" for r in rounds),
        "",
        "A/B ratios (events/s of the catch-up ÷ events/s of the raw read; each projection reads and",
        "decodes the whole log itself, so 'both' is bounded by ~0.5 of read+decode):",
    ]
    for n, r in t["ratios"].items():
        lines.append(
            f"  {n:18} vs read+decode {r['vs_read_decode']:.3f}   vs read only {r['vs_read_only']:.3f}"
        )
    lines.append(
        "  both vs read+decode per round: "
        + ", ".join(f"{x:.3f}" for x in t["round_ratios_both_vs_read_decode"])
    )
    a, b = q["read_side"], q["replay"]
    lines += [
        "",
        f"status query card_report(card, {q['today']}, {q['at']}): {a['queries']} random cards "
        f"after {q['warm_up_queries']} warm-up queries; "
        f"{q['certificates_per_report']:.2f} certificates per report",
        f"{'':34} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'max ms':>8}",
        _latency_row("read side (views)", a),
        _latency_row("replay from the event store", b),
        f"  replay p50 / read-side p50: {q['p50_speedup']:.2f}; answers differing: {q['mismatches']}, "
        f"cards not found: {q['missing']}",
        "",
        _sizes_line(result),
        f"peak RSS: {result['peak_rss_mib_after_generation']:.1f} MiB after generating the log, "
        f"{result['peak_rss_mib']:.1f} MiB at the end; total wall time {result['total_wall_s']:.1f} s",
    ]
    return "\n".join(lines)


def _sizes_line(result: dict[str, Any]) -> str:
    if "table_sizes_mib" in result:
        sizes = result["table_sizes_mib"]
        head = "PostgreSQL tables (MiB, pg_total_relation_size, dead rows of the rebuilds included): "
    else:
        sizes, head = result["file_sizes_mib"], "SQLite files (MiB): "
    return head + ", ".join(f"{k} {v:.1f}" for k, v in sizes.items()) + f"; total {sum(sizes.values()):.1f}"


def summary_text(results: dict[str, dict[str, Any]]) -> str:
    """The backends side by side (medians of each backend's own rounds)."""
    lines = [
        "=== side by side ===",
        f"{'backend':10} {'catch-up both':>14} {'read+decode':>12} {'ratio':>6} "
        f"{'query p50/p99 ms':>17} {'replay p50 ms':>14}",
        f"{'':10} {'events/s':>14} {'events/s':>12} {'':>6} {'(read side)':>17} {'':>14}",
    ]
    for backend, r in results.items():
        if "error" in r:
            lines.append(f"{backend:10} failed: {r['error']}")
            continue
        t, q = r["throughput"], r["queries"]
        a, b = q["read_side"], q["replay"]
        p50_p99 = f"{a['p50_ms']:.3f} / {a['p99_ms']:.3f}"
        lines.append(
            f"{backend:10} {t['both_events_per_s']:14.0f} {t['read_decode_events_per_s']:12.0f} "
            f"{t['ratios']['both']['vs_read_decode']:6.3f} {p50_p99:>17} {b['p50_ms']:14.3f}"
        )
    done = {k: r for k, r in results.items() if "error" not in r}
    if done:
        lines.append(
            "ratio: catch-up of both ÷ raw read+decode (≤ ~0.5: each projection reads and decodes the log)"
        )
        lines.extend(
            f"{k}: {r['population']['events']} events generated at "
            f"{r['population']['events'] / r['population']['wall_s']:.0f} events/s; "
            f"views check {r['views_check']}; query answers differing {r['queries']['mismatches']}; "
            f"peak RSS {r['peak_rss_mib']:.0f} MiB; wall {r['total_wall_s']:.0f} s"
            for k, r in done.items()
        )
    if len(done) > 1:
        logs = {
            json.dumps(
                [
                    r["population"]["events_by_type"],
                    r["population"]["card_statuses"],
                    r["population"]["certificate_statuses"],
                ],
                sort_keys=True,
            )
            for r in done.values()
        }
        lines.append(
            f"same log on every backend (events by type, final statuses): {'yes' if len(logs) == 1 else 'NO'}"
        )
    return "\n".join(line.rstrip() for line in lines)


def views_check(read: ReadSide, population: Population) -> str:
    counts = read.counts()
    certs: Counter[str] = Counter()
    for by_status in counts.certificates_by_kind_and_status.values():
        certs.update(by_status)
    problems = []
    if dict(counts.cards_by_status) != dict(population.card_statuses):
        problems.append(f"cards {dict(counts.cards_by_status)} != {dict(population.card_statuses)}")
    if dict(certs) != dict(population.certificate_statuses):
        problems.append(f"certificates {dict(certs)} != {dict(population.certificate_statuses)}")
    return "yes" if not problems else "NO: " + "; ".join(problems)


def store_settings(directory: Path, database_url: str) -> Settings:
    """The service's settings for a store: data directory (key ring), database, holder key."""
    return Settings(
        data_dir=directory,
        database_url=database_url,
        holder_key=KEY.hex(),
        policies=DEFAULT_POLICIES,
    )


@dataclass
class Backend:
    """Where one backend's run lives, and how to size it once it has run."""

    name: str
    settings: Settings
    storage: str
    """What the report's header says about the storage."""
    sizes_key: str
    sizes: Callable[[], dict[str, float]]
    details: dict[str, Any] = field(default_factory=dict)


@contextmanager
def sqlite_backend() -> Iterator[Backend]:
    with tempfile.TemporaryDirectory(prefix="mynacard-readside-") as tmp:
        directory = Path(tmp)
        yield Backend(
            "sqlite",
            store_settings(directory, f"sqlite:///{directory / 'mynacard.sqlite'}"),
            "SQLite files in a fresh temp dir (library defaults)",
            "file_sizes_mib",
            lambda: file_sizes(directory),
        )


def redacted(url: str) -> str:
    """The URL without its password (it is printed)."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.rsplit("@", 1)[-1]
    user = parsed.username or ""
    return urlunparse(parsed._replace(netloc=f"{user}:***@{netloc}"))


def with_schema(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def check_postgres(url: str) -> str | None:
    """Why the PostgreSQL server of ``url`` cannot be used (None when it can)."""
    if urlparse(url).scheme not in {"postgresql", "postgres"}:
        return f"--postgres-url: not a postgresql:// URL: {redacted(url)}"
    try:
        env = storage_env(Settings(database_url=url))
        with psycopg.connect(postgres_conninfo(env), autocommit=True) as conn:
            conn.execute("SELECT 1")
    except Exception as e:
        return f"cannot use PostgreSQL at {redacted(url)}: {e}"
    return None


def drop_schema(env: dict[str, str]) -> None:
    schema = env["POSTGRES_SCHEMA"]
    try:
        with psycopg.connect(postgres_conninfo(env), autocommit=True) as conn:
            conn.execute("SET lock_timeout = '60s'")
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    except Exception as e:
        print(f"WARNING: could not drop schema {schema} ({e}); drop it by hand", file=sys.stderr)
    else:
        print(f"[postgres] dropped schema {schema}", file=sys.stderr, flush=True)


@contextmanager
def postgres_backend(url: str) -> Iterator[Backend]:
    """A fresh schema of its own for the event store and both views, dropped at the end."""
    schema = f"bench_{uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory(prefix="mynacard-readside-pg-") as tmp:
        settings = store_settings(Path(tmp), with_schema(url, schema))
        env = storage_env(settings)
        try:
            with psycopg.connect(postgres_conninfo(env), autocommit=True) as conn:
                server = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
            details = {
                "postgres_url": redacted(url),
                "schema": schema,
                "server_version": server,
                "psycopg": version("psycopg"),
                "libpq_wrapper": psycopg.pq.__impl__,
                "pool_size": int(env["POSTGRES_POOL_SIZE"]),
            }
            yield Backend(
                "postgres",
                settings,
                f"PostgreSQL {server} at {redacted(url)}, fresh schema {schema} "
                f"(psycopg {details['psycopg']}, libpq wrapper: {details['libpq_wrapper']})",
                "table_sizes_mib",
                lambda: table_sizes(env),
                details,
            )
        finally:
            drop_schema(env)  # IF EXISTS: also when opening the store failed


def run(backend: Backend, args: argparse.Namespace, say: TextIO) -> dict[str, Any]:
    """Generate the log on one backend, then measure (A), (B) and (C) there: today's result."""
    began = perf_counter()
    tag = f"[{backend.name}]"
    reset_peak_rss()
    app = open_write_side(backend.settings)
    try:
        read = open_read_side(backend.settings, upstream_of(app))
    except BaseException:
        app.close()
        raise
    try:
        print(f"{tag} generating {args.cards} cards …", file=sys.stderr, flush=True)
        population = generate(app, args.cards, args.seed)
        rss_after_generation = peak_rss_mib()
        events = population.events
        print(f"{tag} … {events} events in {population.wall_s:.1f} s; measuring", file=sys.stderr, flush=True)
        topics: Counter[str] = Counter()
        raw_read(app, decode=False, topics=topics)  # untimed: warms the caches for A and B
        rounds: list[Round] = []
        for r in range(args.repeat):
            one = Round()
            if r % 2 == 0:
                time_catch_up(read, events, one)
                time_raw(app, events, one)
            else:
                time_raw(app, events, one)
                time_catch_up(read, events, one)
            rounds.append(one)
            print(
                f"{tag} round {r + 1}/{args.repeat}: catch-up both {sum(one.catch_up_s.values()):.1f} s, "
                f"read+decode {one.read_decode_s:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        if args.repeat % 2 == 0:  # the views must be current for the checks and queries
            time_catch_up(read, events, Round())
        check = views_check(read, population)
        last = datetime.combine(population.last_day, time(0), tzinfo=JST)
        today = population.last_day + timedelta(days=1)
        at = last + timedelta(days=1, hours=12)
        print(f"{tag} status queries …", file=sys.stderr, flush=True)
        queries = query_latency(app, read, args.cards, args.sample, args.seed, today, at)
        profile = profile_catch_up(read, events, say, backend.name) if args.profile else None
        sizes = backend.sizes()
    finally:
        for p in read.projections:
            p.view.datastore.close()  # type: ignore[union-attr]
        app.close()

    names = [p.name for p in read.projections]
    result: dict[str, Any] = {
        "backend": backend.name,
        "storage": backend.storage,
        **backend.details,
        "eventsourcing": version("eventsourcing"),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cards": args.cards,
        "repeat": args.repeat,
        "seed": args.seed,
        "batch_size": DEFAULT_BATCH,
        "population": {
            "cards": population.cards,
            "events": events,
            "events_per_card": events / population.cards,
            "certificates": sum(population.certificate_statuses.values()),
            "aggregates_saved": population.aggregates_saved,
            "transactions": population.transactions,
            "wall_s": population.wall_s,
            "first_day": population.first_day.isoformat(),
            "last_day": population.last_day.isoformat(),
            "steps": dict(population.steps),
            "refused": dict(population.refused),
            "card_statuses": dict(population.card_statuses.most_common()),
            "certificate_statuses": dict(population.certificate_statuses.most_common()),
            "events_by_type": {k.removeprefix("mynacard."): v for k, v in topics.most_common()},
        },
        "views_check": check,
        "throughput": summarise(rounds, events, names),
        "queries": queries,
        backend.sizes_key: sizes,
        "peak_rss_mib_after_generation": rss_after_generation,
        "peak_rss_mib": peak_rss_mib(),
        "total_wall_s": perf_counter() - began,
    }
    if profile is not None:
        result["profile"] = profile
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.readside",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--backend",
        choices=[*BACKENDS, "both"],
        default="both",
        help="where the log and the views live (default: both, SQLite first)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(POSTGRES_URL_VARIABLE) or DEFAULT_POSTGRES_URL,
        help=f"PostgreSQL database to make a fresh schema in (default: ${POSTGRES_URL_VARIABLE}, "
        f"else {DEFAULT_POSTGRES_URL})",
    )
    parser.add_argument("--cards", type=int, default=100_000, help="cards in the generated log")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of A and B (median reported)")
    parser.add_argument("--sample", type=int, default=2000, help="cards queried in (C)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--json", action="store_true", help="print one JSON object (a key per backend)")
    parser.add_argument("--profile", action="store_true", help="also profile one catch-up (cProfile)")
    args = parser.parse_args(argv)
    if args.cards < 1 or args.repeat < 1 or args.sample < 1:
        parser.error("--cards, --repeat and --sample are at least 1")
    backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    if "postgres" in backends:
        problem = check_postgres(args.postgres_url)  # before hours of SQLite, not after
        if problem is not None:
            parser.error(problem)
    say = sys.stderr if args.json else sys.stdout

    results: dict[str, dict[str, Any]] = {}
    for name in backends:
        opened = sqlite_backend() if name == "sqlite" else postgres_backend(args.postgres_url)
        try:
            with opened as backend:
                results[name] = run(backend, args, say)
        except Exception as e:  # the other backend still runs; the exit status says it failed
            traceback.print_exc()
            results[name] = {"backend": name, "error": f"{type(e).__name__}: {e}"}

    if args.json:
        print(json.dumps(results))
    else:
        sections = [
            f"=== {name} ===\nFAILED: {r['error']}" if "error" in r else report_text(r)
            for name, r in results.items()
        ]
        print("\n\n".join([*sections, summary_text(results)]))
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
