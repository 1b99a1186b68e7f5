"""Durable command throughput of mynacard vs a minimal eventsourcing baseline, on SQLite and PostgreSQL.

``python -m bench.commands [--cards N] [--repeat R] [--backend {sqlite,postgres,both}]
[--postgres-url URL] [--json] [--profile]`` (from the repo root).

(A) mynacard: a realistic mix of commands for N cards through ``CardLifecycle.execute``; each
    command model is validated from raw input inside the timed loop.
(B) baseline: ``bench.baseline`` — load → modify → save of a trivial aggregate, as many times as
    (A) executed commands, over N aggregates (each created once, then modified).

Backends (``--backend``, default ``both``: SQLite first, then PostgreSQL):

- ``sqlite``: every run on a SQLite file of its own in a fresh temporary directory, with the
  library's defaults (WAL, the default ``synchronous``; no pragma is changed, they are read back
  and reported). A uses the application's ``SQLiteCommandLogRecorder``, B the library's
  ``SQLiteApplicationRecorder``.
- ``postgres``: every run (warm-up, each round's A and B, profile runs) in a fresh schema of its
  own, ``bench_<12 hex digits>``, created before the run and dropped (``CASCADE``) after it, even
  on error, in the database of ``--postgres-url`` (default ``$MYNACARD_BENCH_POSTGRES_URL``, else
  ``postgresql://127.0.0.1:5432/test``; ``pool_size``/``max_overflow``/``lock_timeout`` query
  parameters apply to both). The settings are those the service builds
  (``commands.config.storage_env``, ``prepare_storage``): A uses ``PostgresCommandLogRecorder``,
  B the library's ``PostgresApplicationRecorder``, with the same pool and lock settings. Server
  settings (``synchronous_commit``, ``fsync``, …) are read, never set, and reported.

On each backend A and B alternate for R rounds (A B, B A, …) after a short warm-up, and the
median of each figure is reported; a side-by-side summary of the backends follows. ``--profile``
profiles one more A and one more B run on each selected backend (cProfile: the top 25 functions
of A, and a per-command breakdown of A vs B); with ``--json`` it is printed to stderr.
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import io
import json
import os
import platform
import pstats
import resource
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.metadata import version
from itertools import count
from pathlib import Path
from time import perf_counter
from typing import Any, Protocol, TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import UUID, uuid4

import psycopg
from eventsourcing.application import Application, Repository
from eventsourcing.domain import CanMutateProtocol
from eventsourcing.persistence import JSONTranscoder, Mapper
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from psycopg import sql
from pydantic import BaseModel

from bench.baseline import Baseline
from commands import models as m
from commands.application import CardLifecycle
from commands.bus import command_result
from commands.config import Settings
from commands.handlers import HANDLERS
from commands.idempotency import payload_digest
from lifecycle.calendar import JST
from storage.errors import ConfigurationError
from storage.postgres.event_store import PostgresCommandLogRecorder
from storage.settings import is_postgres, postgres_conninfo, prepare_storage, storage_env
from tests.helpers.support import KEY, PIN_VALUES, Clock, my_number

TARGET_RATIO = 0.9
WARM_UP_CARDS = 10
CARD_SPACING = timedelta(seconds=20)
"""Within a phase, the clock moves this far between two cards (300 cards: 100 minutes)."""
BACKENDS = ("sqlite", "postgres")
DEFAULT_POSTGRES_URL = "postgresql://127.0.0.1:5432/test"
POSTGRES_URL_VARIABLE = "MYNACARD_BENCH_POSTGRES_URL"
POSTGRES_SETTINGS = (
    "server_version",
    "synchronous_commit",
    "fsync",
    "wal_sync_method",
    "full_page_writes",
    "commit_delay",
    "shared_buffers",
)
"""What the PostgreSQL section reports (read with ``current_setting``, never set)."""


# ----------------------------------------------------------------------------- the workload


@dataclass(frozen=True, slots=True)
class Step:
    """One command: which card, the service clock when it is sent, and the raw input."""

    card: int
    at: datetime
    model: type[m.Command]
    fields: dict[str, Any]


def application_id(card: int) -> str:
    return f"{card + 1:023d}"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=JST)


Fields = Callable[[int], dict[str, Any] | None]

HOLDER: dict[str, Any] = {"role": "holder"}
AGENT: dict[str, Any] = {"role": "agent", "letter_of_delegation": True}
DOCUMENTS: tuple[list[str], ...] = (
    ["driving_licence"],
    ["health_insurance_card", "pension_book"],
    ["passport:expires=2030-01-01"],
)
CHANNELS = ("web", "smartphone", "photo_booth", "mail")


def always(fields: dict[str, Any]) -> Fields:
    """The same input for every card."""
    return lambda _card: dict(fields)


def _apply(i: int) -> dict[str, Any]:
    return {
        "application_id": application_id(i),
        "my_number": my_number(i + 1),
        "date_of_birth": f"{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "photo_taken_on": "2024-03-01",
        "channel": CHANNELS[i % len(CHANNELS)],
    }


PHASES: tuple[tuple[str, type[m.Command], Fields], ...] = (
    # Issue: apply, accept, produce, notice, hand-over (5 commands per card).
    ("2024-04-01T09:00", m.SubmitApplication, _apply),
    ("2024-04-10T09:00", m.AcceptApplication, always({"effective_at": "2024-04-10"})),
    ("2024-05-15T09:00", m.ProduceCard, always({"effective_at": "2024-05-15"})),
    ("2024-05-20T09:00", m.SendPickupNotice, always({})),
    (
        "2024-06-10T10:00",
        m.HandOverCard,
        lambda i: {"identity_documents": DOCUMENTS[i % 3], "notification_card": "collected", **PIN_VALUES},
    ),
    # In use: a night-time suspension and its lifting at the counter (2).
    ("2024-08-01T03:15", m.SuspendCard, lambda i: {"channel": ("call_centre", "online")[i % 2]}),
    ("2024-08-03T10:00", m.LiftSuspension, always({"filed_by": HOLDER, "in_person": True})),
    # A name change: by an agent through an inquiry letter (1 in 4), or by the holder (1 in 4).
    (
        "2024-09-02T10:00",
        m.ChangeCardInformation,
        lambda i: (
            {"facts": ["name"], "filed_by": AGENT}
            if i % 4 == 0
            else {"facts": ["name"], "filed_by": HOLDER, "pin_confirmed": True}
            if i % 4 == 1
            else None
        ),
    ),
    ("2024-09-20T10:00", m.AnswerInquiry, lambda i: {"pin_confirmed": True} if i % 4 == 0 else None),
    # A move: move-out, move-in, address change on the card (3).
    ("2025-01-10T10:00", m.RecordMoveOut, always({"planned_move_out_on": "2025-01-15"})),
    (
        "2025-01-20T10:00",
        m.FileMoveIn,
        always({"planned_move_out_on": "2025-01-15", "moved_in_on": "2025-01-18"}),
    ),
    (
        "2025-01-20T10:30",
        m.ChangeCardInformation,
        always({"facts": ["address"], "filed_by": HOLDER, "pin_confirmed": True}),
    ),
    # The end (1): a loss for one card in 3; the nightly lapse run after expiry for the others.
    (
        "2025-06-01T10:00",
        m.ReportLoss,
        lambda i: {"lost_at_home": True, "filed_by": HOLDER} if i % 3 == 0 else None,
    ),
    ("2036-01-05T02:00", m.RecordLapses, lambda i: {"actor": "nightly-batch"} if i % 3 else None),
)


def plan(cards: int) -> list[Step]:
    """The commands of ``cards`` cards, phase by phase (many cards in flight, a forward clock)."""
    steps: list[Step] = []
    for when, model, fields_for in PHASES:
        start = _at(when)
        for i in range(cards):
            fields = fields_for(i)
            if fields is None:
                continue
            fields = {"actor": f"clerk-{i % 7}", **fields}
            if issubclass(model, m.CardCommand):
                fields["card"] = application_id(i)
            steps.append(Step(i, start + i * CARD_SPACING, model, fields))
    return steps


EXPECTED_STATUSES = {"abolished", "expired"}


# ----------------------------------------------------------------------------- measuring


@dataclass
class Run:
    """One measured run of A or B."""

    label: str
    commands: int
    wall_s: float
    latencies_s: list[float] = field(repr=False)
    events_stored: int
    settings: dict[str, str]
    outcome: dict[str, int]

    @property
    def rate(self) -> float:
        return self.commands / self.wall_s

    def percentile_ms(self, q: int) -> float:
        return statistics.quantiles(self.latencies_s, n=100, method="inclusive")[q - 1] * 1000


def sqlite_env(path: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}


def baseline_env(env: dict[str, str]) -> dict[str, str]:
    """The same store for B, with the library's own application recorder (no command log): on
    PostgreSQL the library's own module, as ``storage.postgres``'s factory defaults to the command
    log recorder."""
    base = {k: v for k, v in env.items() if k != "APPLICATION_RECORDER_TOPIC"}
    if is_postgres(env):
        base["PERSISTENCE_MODULE"] = "eventsourcing.postgres"
    return base


def _pragmas(recorder: SQLiteApplicationRecorder) -> dict[str, str]:
    """Read (never set) the pragmas the library left on its connection."""
    out: dict[str, str] = {}
    with recorder.datastore.transaction(commit=False) as cursor:
        for name in ("journal_mode", "synchronous"):
            cursor.execute(f"PRAGMA {name}")
            out[name] = str(cursor.fetchone()[0])
    return out


def _server_settings(recorder: PostgresApplicationRecorder) -> dict[str, str]:
    """Read (never set) the server's settings, on one of the application's own connections."""
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(
            "SELECT n AS name, current_setting(n) AS value FROM unnest(%s::text[]) AS n",
            (list(POSTGRES_SETTINGS),),
        )
        found = {row["name"]: str(row["value"]) for row in curs.fetchall()}
    return {name: found[name] for name in POSTGRES_SETTINGS}


def storage_settings(app: Application[UUID]) -> dict[str, str]:
    """What the storage runs with: SQLite pragmas, or PostgreSQL server settings."""
    recorder = app.recorder
    if isinstance(recorder, SQLiteApplicationRecorder):
        return _pragmas(recorder)
    if isinstance(recorder, PostgresApplicationRecorder):
        return _server_settings(recorder)
    return {}


def _events_stored(app: Application[UUID]) -> int:
    return app.recorder.max_notification_id() or 0


def run_mynacard(
    steps: Sequence[Step], env: dict[str, str], cards: int, profile: cProfile.Profile | None = None
) -> Run:
    clock = Clock()
    app = CardLifecycle(env=env, holder_key=KEY, clock=clock)
    latencies: list[float] = []
    try:
        if profile is not None:
            profile.enable()
        started = perf_counter()
        for step in steps:
            clock.now = step.at
            t0 = perf_counter()
            app.execute(step.model.model_validate(step.fields))
            latencies.append(perf_counter() - t0)
        wall = perf_counter() - started
        if profile is not None:
            profile.disable()
        outcome = Counter(app.get_card(application_id(i)).status for i in range(cards))
        unexpected = set(outcome) - EXPECTED_STATUSES
        if unexpected:
            raise RuntimeError(f"the workload went wrong: final statuses {dict(outcome)}")
        return Run(
            "mynacard", len(steps), wall, latencies, _events_stored(app), storage_settings(app), dict(outcome)
        )
    finally:
        app.close()


def run_baseline(
    steps: Sequence[Step], env: dict[str, str], cards: int, profile: cProfile.Profile | None = None
) -> Run:
    app = Baseline(env=baseline_env(env))
    ids: dict[int, UUID] = {}
    latencies: list[float] = []
    try:
        if profile is not None:
            profile.enable()
        started = perf_counter()
        for n, step in enumerate(steps):
            t0 = perf_counter()
            counter_id = ids.get(step.card)
            if counter_id is None:
                ids[step.card] = app.create(f"counter-{step.card}")
            else:
                app.modify(counter_id, n)
            latencies.append(perf_counter() - t0)
        wall = perf_counter() - started
        if profile is not None:
            profile.disable()
        versions = sum(app.repository.get(ids[i]).version for i in range(cards))
        if versions != len(steps):
            raise RuntimeError(f"the baseline went wrong: {versions} events for {len(steps)} commands")
        return Run("baseline", len(steps), wall, latencies, _events_stored(app), storage_settings(app), {})
    finally:
        app.close()


class Runner(Protocol):
    def __call__(
        self, steps: Sequence[Step], env: dict[str, str], cards: int, profile: cProfile.Profile | None = None
    ) -> Run: ...


RUNNERS: dict[str, Runner] = {"mynacard": run_mynacard, "baseline": run_baseline}


# ----------------------------------------------------------------------------- backends


class Backend(Protocol):
    name: str
    description: str

    def store(self) -> AbstractContextManager[dict[str, str]]:
        """A new, empty store for one run: the eventsourcing settings of A (B drops the
        recorder topic, see ``baseline_env``)."""
        ...


class SQLiteBackend:
    """A SQLite file per run, in one temporary directory."""

    name = "sqlite"
    description = "SQLite files (one per run) in a fresh temp dir, pragmas as the library left them"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._runs = count(1)

    @contextmanager
    def store(self) -> Iterator[dict[str, str]]:
        # No recorder topic: CardLifecycle's class env gives A its SQLiteCommandLogRecorder.
        yield sqlite_env(self.directory / f"run-{next(self._runs):03d}.sqlite")


def with_schema(url: str, schema: str) -> str:
    """``url`` with its ``schema`` query parameter set to ``schema`` (others kept)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "schema"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("schema", schema)])))


def postgres_settings(url: str) -> dict[str, str]:
    """The eventsourcing settings the service builds for ``url`` (raises ConfigurationError)."""
    env = storage_env(Settings(database_url=url))
    if not is_postgres(env):
        raise ConfigurationError(f"not a PostgreSQL URL: {url!r} (postgresql://user@host:5432/dbname)")
    return env


def drop_schema(env: dict[str, str]) -> None:
    with psycopg.connect(postgres_conninfo(env), autocommit=True) as conn:
        schema = sql.Identifier(env["POSTGRES_SCHEMA"])
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))


class PostgresBackend:
    """A fresh schema per run in one PostgreSQL database, dropped after the run."""

    name = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url
        env = postgres_settings(url)
        self.description = (
            f"PostgreSQL at {env['POSTGRES_USER']}@{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}/"
            f"{env['POSTGRES_DBNAME']}, a fresh schema per run (pool {env['POSTGRES_POOL_SIZE']}"
            f"+{env['POSTGRES_MAX_OVERFLOW']}), server settings (read, not set)"
        )

    def check(self) -> None:
        """Fail early (ConfigurationError) when the server cannot be reached."""
        try:
            with psycopg.connect(postgres_conninfo(postgres_settings(self.url)), autocommit=True) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as e:
            raise ConfigurationError(f"cannot connect to PostgreSQL at {self.url}: {e}") from None

    @contextmanager
    def store(self) -> Iterator[dict[str, str]]:
        env = postgres_settings(with_schema(self.url, f"bench_{uuid4().hex[:12]}"))
        prepare_storage(env)
        try:
            yield env
        finally:
            drop_schema(env)


@contextmanager
def open_backend(name: str, postgres_url: str) -> Iterator[Backend]:
    if name == "sqlite":
        with tempfile.TemporaryDirectory(prefix="mynacard-bench-") as tmp:
            yield SQLiteBackend(Path(tmp))
    else:
        yield PostgresBackend(postgres_url)


# ----------------------------------------------------------------------------- profile breakdown


def _code_key(fn: Any) -> tuple[str, int, str]:
    code = inspect.unwrap(getattr(fn, "__func__", fn)).__code__  # past the library's @retry wrappers
    return code.co_filename, code.co_firstlineno, code.co_name


def _parts(backend: str) -> dict[str, list[Any]]:
    """Named parts of a command, as functions whose cumulative profile time is summed."""
    mapper, transcoder = Mapper, JSONTranscoder
    common: dict[str, list[Any]] = {
        "pydantic: command model_validate": [BaseModel.model_validate],
        "pydantic: model_dump (payload, result, filers)": [BaseModel.model_dump],
        "idempotency: payload_digest (json+hmac)": [payload_digest],
        "idempotency: CommandResult (command_result)": [command_result],
        "load: Repository.get (select+decode+replay)": [Repository.get],
    }
    if backend == "sqlite":
        recorder: Any = SQLiteApplicationRecorder
        # SQLiteCommandLogRecorder only extends _insert_events: A and B both go through these.
        inserts: list[Any] = [recorder.insert_events]
        database: dict[str, list[Any]] = {
            "save: sqlite3 commit (fsync)": ["<method 'commit' of 'sqlite3.Connection' objects>"],
        }
    else:
        recorder = PostgresApplicationRecorder
        # A's PostgresCommandLogRecorder has its own insert_events (not calling the library's
        # unless db functions are enabled, which they are not): each run goes through one of them.
        inserts = [recorder.insert_events, PostgresCommandLogRecorder.insert_events]
        database = {"db: psycopg Connection.wait (sends + round-trips)": [psycopg.Connection.wait]}
    return {
        **common,
        "load: recorder.select_events": [recorder.select_events],
        "load: mapper.to_domain_event": [mapper.to_domain_event],
        "load: transcoder.decode (JSON)": [transcoder.decode],
        "cache check: recorder.max_notification_id": [recorder.max_notification_id],
        "domain: command handlers (incl. their load)": list(HANDLERS.values()),
        "save: Application.save": [Application.save],
        "save: mapper.to_stored_event": [mapper.to_stored_event],
        "save: transcoder.encode (JSON)": [transcoder.encode],
        "save: recorder.insert_events (incl. commit)": inserts,
        **database,
        "library: isinstance(x, runtime Protocol)": [type(CanMutateProtocol).__instancecheck__],
    }


def breakdown(profile: cProfile.Profile, parts: dict[str, list[Any]]) -> dict[str, float]:
    """Cumulative seconds of each part (parts overlap: a part includes those it calls)."""
    stats: Any = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    by_name = {key[2]: value for key, value in stats.items() if key[0] == "~"}
    out: dict[str, float] = {}
    for label, fns in parts.items():
        total = 0.0
        for fn in fns:
            entry = by_name.get(fn) if isinstance(fn, str) else stats.get(_code_key(fn))
            if entry is not None:
                total += entry[3]  # cumulative time
        out[label] = total
    return out


def calls(profile: cProfile.Profile, fn: Any) -> int:
    """How many times ``fn`` was called during the profile."""
    stats: Any = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    entry = stats.get(_code_key(fn))
    return 0 if entry is None else int(entry[1])


def profile_both(backend: Backend, steps: Sequence[Step], cards: int, out: TextIO) -> dict[str, Any]:
    """Profile one A run (top 25 by cumulative time) and one B run, each in a store of its own;
    return the breakdowns."""
    results: dict[str, Any] = {}
    for label, runner in RUNNERS.items():
        profile = cProfile.Profile()
        with backend.store() as env:
            run = runner(steps, env, cards, profile)
        if label == "mynacard":
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(25)
            print(
                f"\n=== {backend.name}: cProfile of the mynacard run (top 25 by cumulative time) ===\n"
                f"{text.getvalue()}",
                file=out,
            )
        seconds = breakdown(profile, _parts(backend.name))
        results[label] = {
            "profiled_wall_s": run.wall_s,
            "per_command_us": {k: v / run.commands * 1e6 for k, v in seconds.items()},
        }
        if backend.name == "postgres":
            waits = calls(profile, psycopg.Connection.wait)
            results[label]["connection_waits_per_command"] = waits / run.commands
    print(
        f"=== {backend.name}: per-command breakdown under cProfile "
        "(µs/command, cumulative, parts overlap) ===",
        file=out,
    )
    print(f"{'part':50} {'mynacard':>10} {'baseline':>10}", file=out)
    a, b = results["mynacard"], results["baseline"]
    for k in a["per_command_us"]:
        print(f"{k:50} {a['per_command_us'][k]:10.1f} {b['per_command_us'][k]:10.1f}", file=out)
    if "connection_waits_per_command" in a:
        waits_label = "(psycopg Connection.wait calls/command)"
        a_waits, b_waits = a["connection_waits_per_command"], b["connection_waits_per_command"]
        print(f"{waits_label:50} {a_waits:10.2f} {b_waits:10.2f}", file=out)
    print(
        f"{'(profiled wall time, µs/command)':50} "
        f"{a['profiled_wall_s'] / len(steps) * 1e6:10.1f} {b['profiled_wall_s'] / len(steps) * 1e6:10.1f}",
        file=out,
    )
    return results


# ----------------------------------------------------------------------------- running


def bench_backend(
    backend: Backend, cards: int, repeat: int, profile_to: TextIO | None = None
) -> dict[str, Any]:
    """Warm up, then R alternating rounds of A and B, each run in a store of its own; today's
    result dict for one backend."""
    steps = plan(cards)
    runs: dict[str, list[Run]] = {"mynacard": [], "baseline": []}
    warm = min(cards, WARM_UP_CARDS)
    for runner in RUNNERS.values():
        with backend.store() as env:
            runner(plan(warm), env, warm)
    for r in range(repeat):
        order = ("mynacard", "baseline") if r % 2 == 0 else ("baseline", "mynacard")
        for label in order:
            with backend.store() as env:
                runs[label].append(RUNNERS[label](steps, env, cards))
    profile = profile_both(backend, steps, cards, profile_to) if profile_to is not None else None

    a, b = summarise(runs["mynacard"]), summarise(runs["baseline"])
    result: dict[str, Any] = {
        "backend": backend.name,
        "storage": backend.description,
        "settings": runs["mynacard"][0].settings,
        "cards": cards,
        "repeat": repeat,
        "warm_up_cards": warm,
        "mynacard": a,
        "baseline": b,
        "ratio": a["commands_per_s"] / b["commands_per_s"],
        "target_ratio": TARGET_RATIO,
        "round_ratios": [x.rate / y.rate for x, y in zip(runs["mynacard"], runs["baseline"], strict=True)],
        "final_statuses": runs["mynacard"][0].outcome,
        "peak_rss_mib": peak_rss_mib(),
    }
    if profile is not None:
        result["profile"] = profile
    return result


# ----------------------------------------------------------------------------- reporting


def summarise(runs: list[Run]) -> dict[str, Any]:
    return {
        "commands": runs[0].commands,
        "events_stored": runs[0].events_stored,
        "wall_s": statistics.median(r.wall_s for r in runs),
        "commands_per_s": statistics.median(r.rate for r in runs),
        "p50_ms": statistics.median(r.percentile_ms(50) for r in runs),
        "p99_ms": statistics.median(r.percentile_ms(99) for r in runs),
        "rounds_commands_per_s": [round(r.rate, 1) for r in runs],
    }


def peak_rss_mib() -> float:
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return kib / 1024


def report_backend(result: dict[str, Any]) -> str:
    a, b = result["mynacard"], result["baseline"]
    lines = [
        f"=== {result['backend']} ===",
        f"{result['storage']}: {result['settings']}",
        f"cards/aggregates: {result['cards']}, commands per run: {a['commands']} "
        f"({a['commands'] / result['cards']:.2f} per card), rounds: {result['repeat']} "
        f"(alternating A/B, medians), warm-up: {result['warm_up_cards']} cards, discarded",
        "",
        f"{'':14} {'commands':>9} {'events':>7} {'wall s':>8} {'cmds/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        "   rounds cmds/s",
    ]
    for label, s in (("A mynacard", a), ("B baseline", b)):
        lines.append(
            f"{label:14} {s['commands']:9d} {s['events_stored']:7d} {s['wall_s']:8.3f} "
            f"{s['commands_per_s']:9.1f} {s['p50_ms']:8.3f} {s['p99_ms']:8.3f}   "
            + " ".join(f"{x:.1f}" for x in s["rounds_commands_per_s"])
        )
    verdict = "meets" if result["ratio"] >= TARGET_RATIO else "BELOW"
    lines += [
        "",
        f"A/B throughput ratio: {result['ratio']:.3f} ({verdict} the target {TARGET_RATIO}); "
        f"per round: {', '.join(f'{x:.3f}' for x in result['round_ratios'])}",
        f"final card statuses (A): {result['final_statuses']}",
        f"peak RSS so far: {result['peak_rss_mib']:.1f} MiB",
    ]
    return "\n".join(lines)


def _p50_p99(summary: dict[str, Any]) -> str:
    return f"{summary['p50_ms']:.3f}/{summary['p99_ms']:.3f}"


def report_text(result: dict[str, Any]) -> str:
    lines = [
        f"mynacard command benchmark: eventsourcing {result['eventsourcing']}, "
        f"pydantic {result['pydantic']}, psycopg {result['psycopg']}, Python {result['python']}",
    ]
    for name in result["backends"]:
        lines += ["", report_backend(result[name])]
    lines += [
        "",
        "=== side by side (medians) ===",
        f"{'backend':10} {'A mynacard cmd/s':>17} {'B baseline cmd/s':>17} {'A/B':>6}"
        f" {'A p50/p99 ms':>15} {'B p50/p99 ms':>15}",
    ]
    for name in result["backends"]:
        r = result[name]
        a, b = r["mynacard"], r["baseline"]
        lines.append(
            f"{name:10} {a['commands_per_s']:17.1f} {b['commands_per_s']:17.1f} {r['ratio']:6.3f}"
            f" {_p50_p99(a):>15} {_p50_p99(b):>15}"
        )
    lines += ["", f"peak RSS: {result['peak_rss_mib']:.1f} MiB (target A/B ratio ≥ {TARGET_RATIO})"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.commands", description=__doc__.splitlines()[0])
    parser.add_argument("--cards", type=int, default=300, help="cards in (A), aggregates in (B)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of A and B (median reported)")
    parser.add_argument(
        "--backend", choices=(*BACKENDS, "both"), default="both", help="where to run (default: both)"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(POSTGRES_URL_VARIABLE) or DEFAULT_POSTGRES_URL,
        help=f"PostgreSQL database (default: ${POSTGRES_URL_VARIABLE}, else {DEFAULT_POSTGRES_URL}); "
        "each run makes and drops a schema of its own there",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--profile", action="store_true", help="also profile one run of each (cProfile)")
    args = parser.parse_args(argv)
    if args.cards < 1 or args.repeat < 1:
        parser.error("--cards and --repeat are at least 1")
    backends = BACKENDS if args.backend == "both" else (args.backend,)
    if "postgres" in backends:
        try:
            PostgresBackend(args.postgres_url).check()
        except ConfigurationError as e:
            parser.error(f"--postgres-url: {e} (or run with --backend sqlite)")

    result: dict[str, Any] = {
        "eventsourcing": version("eventsourcing"),
        "pydantic": version("pydantic"),
        "psycopg": version("psycopg"),
        "python": platform.python_version(),
        "cards": args.cards,
        "repeat": args.repeat,
        "backends": list(backends),
    }
    profile_to = (sys.stderr if args.json else sys.stdout) if args.profile else None
    for name in backends:
        with open_backend(name, args.postgres_url) as backend:
            result[name] = bench_backend(backend, args.cards, args.repeat, profile_to)
    result["peak_rss_mib"] = peak_rss_mib()
    if args.json:
        print(json.dumps(result))
    else:
        print(report_text(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
