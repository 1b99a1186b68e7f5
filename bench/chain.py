"""The hash chain's walk (``mynacard verify --chain``, issue 13) against a raw read of the same
log, on SQLite and on PostgreSQL.

``python -m bench.chain [--events N] [--repeat R] [--backend {sqlite,postgres,both}]
[--postgres-url URL] [--json]`` (repo root; defaults: 200,000 events, 3 rounds, both).

The log: N stored events written through the service's own recorder (``open_write_side``: the
event and its chain row in one transaction, batches of 500 events per save), of the shape the
service stores — 12 events per aggregate under the service's topics, payloads of random bytes
sized like the service's compressed and encrypted payloads (120–500 bytes, mean ~275, measured
on a real store). Writing is not timed.

(A) the walk: ``projections.chain_audit.verify_chain`` over the whole log, as the CLI runs it
    (batches of 5,000: both queries, the merge, the two SHA-256 per event and the comparison).
(B) baseline: the same rows read raw in batches of 5,000 (the event query only, tuples, nothing
    hashed).

A and B alternate (A B, B A, …) for R rounds after one untimed read; medians. Reported:
events/s of each, and A/B. Target (issue 13): A ≥ 100,000 events/s on SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import StoredEvent

from bench.readside import Backend, check_postgres, postgres_backend, sqlite_backend
from mynacard.bootstrap import open_log, open_write_side
from projections.chain_audit import WALK_BATCH, verify_chain
from storage.interface import CommandLog

TOPICS = (
    "mynacard.Card.Applied",
    "mynacard.Card.FeeAssessed",
    "mynacard.Card.Accepted",
    "mynacard.Card.Produced",
    "mynacard.Card.PickupNoticeSent",
    "mynacard.Card.Issued",
    "mynacard.Card.PinsSet",
    "mynacard.Card.CertificateAdded",
    "mynacard.Card.CertificateAdded",
    "mynacard.Card.Suspended",
    "mynacard.Card.SuspensionLifted",
    "mynacard.Card.AddressChanged",
)
SAVE_BATCH = 500
TARGET = 100_000


def write_log(backend: Backend, events: int, seed: int) -> None:
    rng = random.Random(seed)
    app = open_write_side(backend.settings)
    try:
        pending: list[StoredEvent] = []
        aggregate: UUID = uuid4()
        for n in range(events):
            version = n % len(TOPICS) + 1
            if version == 1:
                aggregate = UUID(int=rng.getrandbits(128), version=4)
            size = max(120, min(500, int(rng.gauss(275, 80))))
            pending.append(StoredEvent(aggregate, version, TOPICS[version - 1], rng.randbytes(size)))
            if len(pending) == SAVE_BATCH:
                app.recorder.insert_events(pending)
                pending = []
        if pending:
            app.recorder.insert_events(pending)
    finally:
        app.close()


@contextmanager
def opened_log(backend: Backend) -> Iterator[CommandLog]:
    log = open_log(backend.settings, open_events=False)
    try:
        recorder = log.recorder
        assert isinstance(recorder, CommandLog)
        yield recorder
    finally:
        log.close()


def raw_read(recorder: Any, backend: str) -> int:
    """Every event row in batches, as tuples, nothing decoded or hashed."""
    count, after = 0, 0
    if backend == "sqlite":
        statement = (
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {recorder.events_table_name} WHERE rowid > ? ORDER BY rowid LIMIT ?"
        )
        while True:
            with recorder.datastore.transaction(commit=False) as c:
                c.execute(statement, (after, WALK_BATCH))
                rows = c.fetchall()
            if not rows:
                return count
            count += len(rows)
            after = rows[-1][0]
    while True:
        with recorder.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            curs.execute(recorder.select_chain_events_statement, (after, WALK_BATCH), prepare=True)
            found = curs.fetchall()
        if not found:
            return count
        count += len(found)
        after = int(found[-1]["notification_id"])


def time_walk(recorder: CommandLog, events: int) -> float:
    started = time.perf_counter()
    report = verify_chain(recorder)
    seconds = time.perf_counter() - started
    assert report.ok and report.events == events, report
    return seconds


def time_raw(recorder: CommandLog, backend: str, events: int) -> float:
    started = time.perf_counter()
    count = raw_read(recorder, backend)
    seconds = time.perf_counter() - started
    assert count == events, (count, events)
    return seconds


def run_backend(backend: Backend, events: int, repeat: int, seed: int) -> dict[str, Any]:
    print(f"[{backend.name}] writing {events:,} events …", file=sys.stderr, flush=True)
    started = time.perf_counter()
    write_log(backend, events, seed)
    written = time.perf_counter() - started
    walks: list[float] = []
    raws: list[float] = []
    with opened_log(backend) as recorder:
        raw_read(recorder, backend.name)  # untimed: warm caches for both
        for r in range(repeat):
            order = ("walk", "raw") if r % 2 == 0 else ("raw", "walk")
            for what in order:
                if what == "walk":
                    walks.append(time_walk(recorder, events))
                else:
                    raws.append(time_raw(recorder, backend.name, events))
            print(f"[{backend.name}] round {r + 1}/{repeat} done", file=sys.stderr, flush=True)
    walk, raw = statistics.median(walks), statistics.median(raws)
    return {
        "backend": backend.name,
        "storage": backend.storage,
        "events": events,
        "write_seconds_untimed_setup": round(written, 2),
        "walk_events_per_s": round(events / walk),
        "raw_read_events_per_s": round(events / raw),
        "walk_over_raw": round(raw / walk, 3),
        "target_events_per_s": TARGET if backend.name == "sqlite" else None,
        "target_met": (events / walk >= TARGET) if backend.name == "sqlite" else None,
        "rounds": repeat,
        backend.sizes_key: backend.sizes(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chain", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("MYNACARD_BENCH_POSTGRES_URL", "postgresql://127.0.0.1:5432/test"),
    )
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json", action="store_true")
    ns = parser.parse_args(argv)
    if ns.events < 1 or ns.repeat < 1:
        parser.error("--events and --repeat must be at least 1")
    results: dict[str, Any] = {"python": platform.python_version(), "machine": platform.machine()}
    if ns.backend in ("sqlite", "both"):
        with sqlite_backend() as backend:
            results["sqlite"] = run_backend(backend, ns.events, ns.repeat, ns.seed)
    if ns.backend in ("postgres", "both"):
        problem = check_postgres(ns.postgres_url)
        if problem:
            print(problem, file=sys.stderr)
            return 2
        with postgres_backend(ns.postgres_url) as backend:
            results["postgres"] = run_backend(backend, ns.events, ns.repeat, ns.seed)
    if ns.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"hash chain walk vs raw read ({ns.events:,} events, median of {ns.repeat} rounds)")
    print(f"{'backend':<10} {'walk ev/s':>12} {'raw ev/s':>12} {'walk/raw':>9}  target")
    for name in ("sqlite", "postgres"):
        if name in results:
            r = results[name]
            target = "" if r["target_met"] is None else ("met" if r["target_met"] else "MISSED")
            print(
                f"{name:<10} {r['walk_events_per_s']:>12,} {r['raw_read_events_per_s']:>12,} "
                f"{r['walk_over_raw']:>9.3f}  {target}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
