"""The HTTP service under load: 16 concurrent clients on loopback against a real ``mynacard serve``,
with the in-process figures of ``bench.commands`` measured in the same run as the baseline.

``python -m bench.http [--clients 16] [--seconds S] [--requests N] [--cards C]
[--backend {sqlite,postgres,both}] [--postgres-url URL] [--workers W] [--baseline-cards B]
[--json]`` (repo root).

Per backend:

1. a fresh store (SQLite: a temporary directory; PostgreSQL: a fresh schema ``bench_<12 hex>`` of
   ``--postgres-url``, dropped at the end even on error), a clerk token, then ``python -m mynacard
   serve`` on a free loopback port (the service's clock fixed with ``MYNACARD_NOW``, so the
   workload is the same on every run; ``--workers W`` on PostgreSQL). ``C`` cards are built
   through the API and each client is given its own cards (untimed).
2. three timed phases, each bounded by ``--requests`` requests and ``--seconds`` seconds
   (whichever comes first), each after a short untimed warm-up, with ``--clients`` threads, each on
   its own keep-alive connection (``httpx``):
   - ``reads``: ``GET /cards/{card}`` of random cards (the route brings the read side up to the
     log, answers the status and writes the access record);
   - ``commands``: on the client's own cards, a suspension, then its lifting, with an address
     change (``change-info``) between, one in three; every command has a fresh
     ``Idempotency-Key`` and must be a 201;
   - ``mixed``: 80 % reads, 20 % commands.
   Each phase reports requests/s (all requests completed / wall time), and p50/p99 latency (ms)
   per kind; any non-2xx answer is counted as an error (there should be none).
3. the server is stopped, then the baselines are measured in this process, on the same backend:
   ``bench.commands.bench_backend`` (its workload of ~11.75 commands per card through
   ``CardLifecycle.execute``, one thread, ``--baseline-cards`` cards, one round: A, and its plain
   eventsourcing baseline B), and in-process status reads of the HTTP run's store through the
   service's own ``Service.ask(q.card)`` (what the route calls, without HTTP, authentication and
   the access record), one thread. The ratios HTTP/in-process are reported for commands (the
   ``commands`` phase against A) and reads (the ``reads`` phase against the in-process reads).

The clients run in this process (Python threads: they share one core's worth of GIL), the server
in another, on the same machine: on a small machine both compete for the cores, and the figures
say what one box does, not what the server alone could. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from time import perf_counter
from typing import Any
from uuid import UUID

import httpx

from bench import commands as bench_commands
from commands.config import Settings
from mynacard.bootstrap import open_staff_registry
from mynacard.service.identity import Role, issue_token
from mynacard.service.state import Service
from storage.errors import ConfigurationError
from storage.settings import prepare_storage, storage_env
from tests.helpers.service import Api, wait_for_health
from tests.helpers.support import my_number

NOW = "2026-04-01T09:00"
"""The service's fixed clock (``MYNACARD_NOW``): every run records the same workload."""
PHASES = ("reads", "commands", "mixed")
READ_SHARE = {"reads": 1.0, "commands": 0.0, "mixed": 0.8}
WARM_UP_PER_CLIENT = 3
SEED = 20261122


# ----------------------------------------------------------------------------- the store and the server


@dataclass
class Store:
    settings: Settings
    token: str


@contextmanager
def fresh_store(backend: str, postgres_url: str) -> Iterator[Store]:
    """A store of its own and a clerk token (no admin: ``serve`` makes one at first start)."""
    with tempfile.TemporaryDirectory(prefix="mynacard-bench-http-") as tmp:
        data_dir = Path(tmp)
        if backend == "sqlite":
            url = f"sqlite:///{data_dir / 'mynacard.sqlite'}"
        else:
            url = bench_commands.with_schema(postgres_url, f"bench_{uuid.uuid4().hex[:12]}")
        settings = Settings(data_dir=data_dir, database_url=url, now=NOW)
        env = storage_env(settings)
        prepare_storage(env)
        try:
            registry = open_staff_registry(settings)
            try:
                _, token = issue_token(registry, "bench-clerk", Role.CLERK, "131016", "bench.http")
            finally:
                registry.close()
            yield Store(settings, token)
        finally:
            if backend == "postgres":
                bench_commands.drop_schema(env)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(settings: Settings, workers: int) -> Iterator[str]:
    """``python -m mynacard serve`` on a free loopback port until the block ends; its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYNACARD_")}
    env.update(
        MYNACARD_DATA_DIR=str(settings.data_dir),
        MYNACARD_DATABASE_URL=settings.effective_database_url,
        MYNACARD_NOW=NOW,
    )
    args = ["--port", str(port), "--log-level", "warning"]
    if workers > 1:
        args += ["--workers", str(workers)]
    log = Path(settings.data_dir) / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mynacard", "serve", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_health(process, url, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def build_cards(url: str, token: str, count: int, clients: int) -> list[str]:
    """``count`` active cards (apply … hand-over through the API), built by ``clients`` threads."""
    ids = [f"{7 * 10**22 + i:023d}" for i in range(count)]

    def build(i: int) -> None:
        with client_for(url, token) as c:
            Api(c, None).issue_card(ids[i], my_number=my_number(500_000 + i), photo_taken_on="2026-03-01")

    def builder(t: int) -> None:
        for i in range(t, count, clients):
            build(i)

    in_threads(clients, builder)
    return ids


def client_for(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"})


def in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(i)`` in ``count`` threads; their results; the first error raised again."""
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


# ----------------------------------------------------------------------------- the load


@dataclass
class Client:
    """One client's connection, cards and what it saw."""

    number: int
    http: httpx.Client
    cards: list[str]
    every_card: list[str]
    rng: random.Random
    suspended: set[str] = field(default_factory=set)
    turn: int = 0
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"read": [], "command": []})
    errors: Counter[str] = field(default_factory=Counter)

    def read(self) -> None:
        card = self.rng.choice(self.every_card)
        self.timed("read", lambda: self.http.get(f"/cards/{card}"), 200)

    def command(self) -> None:
        """Suspend, (one in three) change the address, lift: always a 201 on the client's own cards."""
        card = self.cards[self.turn % len(self.cards)]
        self.turn += 1
        if card in self.suspended:
            path, body = f"/cards/{card}/lift-suspension", {}
            self.suspended.discard(card)
        elif self.turn % 3 == 0:
            path = f"/cards/{card}/change-info"
            body = {"facts": ["address"], "filed_by": {"role": "holder"}, "pin_confirmed": True}
        else:
            path, body = f"/cards/{card}/suspend", {"channel": "call_centre"}
            self.suspended.add(card)
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        self.timed("command", lambda: self.http.post(path, json=body, headers=headers), 201)

    def timed(self, kind: str, send: Callable[[], httpx.Response], expected: int) -> None:
        t0 = perf_counter()
        r = send()
        self.latencies[kind].append(perf_counter() - t0)
        if r.status_code != expected:
            self.errors[f"{kind} {r.status_code}"] += 1


@dataclass
class Budget:
    """Requests left and a deadline, shared by the clients of a phase."""

    requests: int
    deadline: float
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> bool:
        if time.monotonic() >= self.deadline:
            return False
        with self.lock:
            if self.requests <= 0:
                return False
            self.requests -= 1
            return True


def run_phase(clients: list[Client], share: float, requests: int, seconds: float) -> dict[str, Any]:
    """The clients send until the budget is spent; the phase's figures."""

    def warm(i: int) -> None:
        client = clients[i]
        for _ in range(WARM_UP_PER_CLIENT):
            client.read() if share > 0 else client.command()
        client.latencies = {"read": [], "command": []}
        client.errors.clear()

    in_threads(len(clients), warm)
    budget = Budget(requests, time.monotonic() + seconds)

    def load(i: int) -> None:
        client = clients[i]
        while budget.take():
            if client.rng.random() < share:
                client.read()
            else:
                client.command()

    started = perf_counter()
    in_threads(len(clients), load)
    wall = perf_counter() - started
    result: dict[str, Any] = {"wall_s": wall, "clients": len(clients)}
    total = 0
    for kind in ("read", "command"):
        latencies = [x for c in clients for x in c.latencies[kind]]
        total += len(latencies)
        if latencies:
            result[kind] = {
                "requests": len(latencies),
                "per_s": len(latencies) / wall,
                **percentiles(latencies),
            }
    result["requests"] = total
    result["per_s"] = total / wall
    result["errors"] = dict(sum((c.errors for c in clients), Counter()))
    return result


def percentiles(latencies: list[float]) -> dict[str, float]:
    if len(latencies) < 2:
        return {"p50_ms": latencies[0] * 1000, "p99_ms": latencies[0] * 1000}
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000}


# ----------------------------------------------------------------------------- the baselines


def in_process_reads(settings: Settings, cards: list[str], count: int, seconds: float) -> dict[str, Any]:
    """Status reads through ``Service.ask`` (what ``GET /cards/{card}`` calls), one thread."""
    from mynacard.service.read_routes import card_id_of

    service = Service(settings)
    rng = random.Random(SEED)
    ids = [card_id_of(card) for card in cards]
    latencies: list[float] = []

    def read(card_id: UUID) -> None:
        service.ask(lambda q: q.card(card_id))

    try:
        for card_id in ids[:WARM_UP_PER_CLIENT]:
            read(card_id)
        deadline = time.monotonic() + seconds
        started = perf_counter()
        while len(latencies) < count and time.monotonic() < deadline:
            card_id = rng.choice(ids)
            t0 = perf_counter()
            read(card_id)
            latencies.append(perf_counter() - t0)
        wall = perf_counter() - started
    finally:
        service.close()
    return {"requests": len(latencies), "per_s": len(latencies) / wall, **percentiles(latencies)}


def in_process_commands(backend: str, postgres_url: str, cards: int) -> dict[str, Any]:
    """``bench.commands``'s measurement on the same backend: A (mynacard) and B (baseline)."""
    with bench_commands.open_backend(backend, postgres_url) as store:
        return bench_commands.bench_backend(store, cards, 1)


# ----------------------------------------------------------------------------- one backend


def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    workers = args.workers if backend == "postgres" else 1
    phases: dict[str, Any] = {}
    with fresh_store(backend, args.postgres_url) as store:
        with serve(store.settings, workers) as url:
            cards = build_cards(url, store.token, args.cards, args.clients)
            connections = [client_for(url, store.token) for _ in range(args.clients)]
            try:
                clients = [
                    Client(
                        i,
                        http,
                        cards[i :: args.clients] or [cards[i % len(cards)]],
                        cards,
                        random.Random(SEED + i),
                    )
                    for i, http in enumerate(connections)
                ]
                for phase in PHASES:
                    phases[phase] = run_phase(clients, READ_SHARE[phase], args.requests, args.seconds)
            finally:
                for http in connections:
                    http.close()
        reads = in_process_reads(store.settings, cards, args.requests, args.seconds)
    commands = in_process_commands(backend, args.postgres_url, args.baseline_cards)
    a = commands["mynacard"]
    return {
        "backend": backend,
        "workers": workers,
        "clients": args.clients,
        "cards": args.cards,
        "phases": phases,
        "in_process": {
            "reads": reads,
            "commands": {
                "commands": a["commands"],
                "per_s": a["commands_per_s"],
                "p50_ms": a["p50_ms"],
                "p99_ms": a["p99_ms"],
                "cards": args.baseline_cards,
            },
            "eventsourcing_baseline": {
                "per_s": commands["baseline"]["commands_per_s"],
                "p50_ms": commands["baseline"]["p50_ms"],
                "p99_ms": commands["baseline"]["p99_ms"],
            },
        },
        "ratios": {
            "reads": phases["reads"]["read"]["per_s"] / reads["per_s"],
            "commands": phases["commands"]["command"]["per_s"] / a["commands_per_s"],
        },
    }


# ----------------------------------------------------------------------------- reporting


def _row(label: str, figures: dict[str, Any] | None) -> str:
    if not figures:
        return f"  {label:34} {'—':>9}"
    return (
        f"  {label:34} {figures['requests'] if 'requests' in figures else figures.get('commands', 0):9d} "
        f"{figures['per_s']:9.1f} {figures['p50_ms']:9.2f} {figures['p99_ms']:9.2f}"
    )


def report_backend(r: dict[str, Any]) -> str:
    lines = [
        f"=== {r['backend']} (serve --workers {r['workers']}; {r['clients']} clients, "
        f"{r['cards']} cards) ===",
        f"  {'':34} {'requests':>9} {'req/s':>9} {'p50 ms':>9} {'p99 ms':>9}",
    ]
    for phase in PHASES:
        p = r["phases"][phase]
        lines.append(
            f"  {phase + ' (all)':34} {p['requests']:9d} {p['per_s']:9.1f}"
            + (f"   errors: {p['errors']}" if p["errors"] else "")
        )
        for kind in ("read", "command"):
            if kind in p:
                lines.append(_row(f"  {kind}s", p[kind]))
    base = r["in_process"]
    lines += [
        "  in process, one thread (baselines):",
        _row("  status reads (Service.ask)", base["reads"]),
        _row(f"  bench.commands A ({base['commands']['cards']} cards)", base["commands"]),
        f"  {'  bench.commands B (eventsourcing)':34} {'':9} {base['eventsourcing_baseline']['per_s']:9.1f}"
        f" {base['eventsourcing_baseline']['p50_ms']:9.2f} {base['eventsourcing_baseline']['p99_ms']:9.2f}",
        f"  HTTP/in-process throughput: reads {r['ratios']['reads']:.3f}, "
        f"commands {r['ratios']['commands']:.3f}",
    ]
    return "\n".join(lines)


def report_text(result: dict[str, Any]) -> str:
    lines = [
        f"mynacard HTTP benchmark: fastapi {result['fastapi']}, uvicorn {result['uvicorn']}, httpx "
        f"{result['httpx']}, Python {result['python']}, {result['cpus']} CPUs; per phase at most "
        f"{result['requests']} requests and {result['seconds']} s",
    ]
    for name in result["backends"]:
        lines += ["", report_backend(result[name])]
    lines += [
        "",
        "=== side by side ===",
        f"{'backend':9} {'reads/s':>9} {'read p50/p99':>14} {'cmds/s':>8} {'cmd p50/p99':>14}"
        f" {'in-proc reads/s':>16} {'in-proc cmds/s':>15} {'ratio r/c':>11}",
    ]
    for name in result["backends"]:
        r = result[name]
        read, command = r["phases"]["reads"]["read"], r["phases"]["commands"]["command"]
        base = r["in_process"]
        lines.append(
            f"{name:9} {read['per_s']:9.1f} {read['p50_ms']:6.1f}/{read['p99_ms']:<7.1f}"
            f"{command['per_s']:8.1f} {command['p50_ms']:6.1f}/{command['p99_ms']:<7.1f}"
            f"{base['reads']['per_s']:16.1f} {base['commands']['per_s']:15.1f}"
            f"  {r['ratios']['reads']:.2f}/{r['ratios']['commands']:.2f}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http", description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--seconds", type=float, default=20, help="at most this long per phase (default 20)")
    parser.add_argument(
        "--requests", type=int, default=2000, help="at most this many per phase (default 2000)"
    )
    parser.add_argument("--cards", type=int, default=64, help="cards built through the API (default 64)")
    parser.add_argument(
        "--backend", choices=(*bench_commands.BACKENDS, "both"), default="both", help="default: both"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(bench_commands.POSTGRES_URL_VARIABLE) or bench_commands.DEFAULT_POSTGRES_URL,
        help=f"PostgreSQL database (default: ${bench_commands.POSTGRES_URL_VARIABLE}, else "
        f"{bench_commands.DEFAULT_POSTGRES_URL}); each run makes and drops a schema of its own there",
    )
    parser.add_argument("--workers", type=int, default=1, help="serve --workers on PostgreSQL (default 1)")
    parser.add_argument(
        "--baseline-cards", type=int, default=100, help="cards of the bench.commands baseline (default 100)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if (
        min(args.clients, args.requests, args.cards, args.workers, args.baseline_cards) < 1
        or args.seconds <= 0
    ):
        parser.error(
            "--clients, --requests, --cards, --workers, --baseline-cards and --seconds must be positive"
        )
    backends = bench_commands.BACKENDS if args.backend == "both" else (args.backend,)
    if "postgres" in backends:
        try:
            bench_commands.PostgresBackend(args.postgres_url).check()
        except ConfigurationError as e:
            parser.error(f"--postgres-url: {e} (or run with --backend sqlite)")
    result: dict[str, Any] = {
        "fastapi": version("fastapi"),
        "uvicorn": version("uvicorn"),
        "httpx": version("httpx"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "requests": args.requests,
        "seconds": args.seconds,
        "backends": list(backends),
    }
    for name in backends:
        result[name] = bench_backend(name, args)
    print(json.dumps(result) if args.json else report_text(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
