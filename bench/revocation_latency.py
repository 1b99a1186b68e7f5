"""Revocation latency: how long after a loss is recorded OCSP answers ``revoked``, the CRL lists
it and each named consumer (SSE, NATS relay) has acknowledged it, under a steady command load,
against a real ``mynacard serve`` — with the command round trip of the same run as the baseline.

``python -m bench.revocation_latency [--losses N] [--load-rate R] [--seconds S]
[--backend {sqlite,postgres,both}] [--postgres-url URL] [--nats URL] [--poll-interval P]
[--crl-interval C] [--load-cards L] [--json]`` (repo root).

Per backend:

1. a fresh store (SQLite: a temporary directory; PostgreSQL: a fresh schema ``bench_<12 hex>`` of
   ``--postgres-url``, dropped at the end even on error), tokens for a clerk, a relying party and
   a subscriber, then ``python -m mynacard serve`` on a free loopback port, on the real clock (no
   ``MYNACARD_NOW``; ``MYNACARD_FEED_HEARTBEAT=1`` so the SSE stream wakes every second and the
   bench can stop it). ``N + L`` cards are built through the API (apply … hand-over, photo taken
   today in Japan; untimed): N to be lost, L for the load.
2. untimed: the SSE consumer (``GET /events?consumer=bench-sse``, subscriber token, each event's
   position acknowledged with ``POST /consumers/bench-sse/ack``), the relay as a real process
   (``python -m mynacard relay --nats URL --stream <unique> --subject-prefix <unique> --consumer
   bench-relay``) and a NATS subscriber on the relay's subjects start, and the bench waits until
   both consumers have caught up with the log.
3. timed, ``--seconds`` S: a load of R commands/s (one thread, paced, never bursting to catch up)
   on the L load cards — alternately a correct PIN entry (``pin-attempt``) and a PIN change at
   the counter (``change-pin``), commands that revoke nothing, so the only revocations of the run
   are the losses; the N losses (``report-loss`` ``{"lost_at_home": true}``, which revokes SIG and
   AUTH: 2N revocations) spaced evenly over S; an OCSP poller (relying-party token) that sends
   ``POST /ocsp`` (DER, SHA-1 CertID) every P seconds for each serial of the cards whose loss is
   due within a second and not yet answered ``revoked``; ``GET /crl`` every C seconds. Then, load
   stopped, at most 20 s for every channel to see every revocation and both consumers to reach
   the end of the log; everything is stopped (the relay by SIGTERM: it checkpoints first).
4. ``python -m mynacard latency --json`` on the store: per channel (``ocsp``, ``crl``) and named
   consumer (``bench-sse``, ``bench-relay``) p50/p99/max seconds from a revocation's recorded
   time to its first OCSP/CRL answer or acknowledgement (the server's view); and the client's
   view, from the revocation list's recorded time (read in this process after the run) to the
   moment this process first saw it: the poller's ``revoked``, a CRL listing it, the SSE stream's
   ``CertificateRevoked`` event, the relay's message on NATS.

The baseline is the load's command round trip (HTTP, authentication, validation, one
transaction) measured in the same run: every latency is also given as a multiple of its p50. The
poll interval bounds what OCSP and CRL latency can show (a revocation is seen at the next poll);
the consumers' latency is the feed's (SQLite: ``MYNACARD_FEED_POLL_INTERVAL``, the relay's
``--interval``, 0.5 s each by default; PostgreSQL: woken by NOTIFY) plus an acknowledgement. All
clients run as threads of this process, the server and the relay as other processes, on the
same machine: they compete for its cores. Percentiles are nearest-rank, as ``mynacard latency``
computes them. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import nats
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from nats.js.errors import NotFoundError

from bench import commands as bench_commands
from commands.config import Settings
from lifecycle.identifiers import certificate_id_for
from mynacard.bootstrap import open_staff_registry
from mynacard.service.identity import Role, issue_token
from mynacard.service.state import Service
from storage.errors import ConfigurationError
from storage.settings import prepare_storage, storage_env
from tests.helpers.service import Api, wait_for_health
from tests.helpers.sse import frames
from tests.helpers.support import my_number

DEFAULT_NATS = "nats://127.0.0.1:4222"
JAPAN = ZoneInfo("Asia/Tokyo")
OFFICE = "131016"
SSE_CONSUMER = "bench-sse"
RELAY_CONSUMER = "bench-relay"
CONSUMERS = (SSE_CONSUMER, RELAY_CONSUMER)
SERVER_ENV = {"MYNACARD_FEED_HEARTBEAT": "1"}
"""The SSE stream sends a heartbeat after 1 s of quiet (default 15 s): the consumer notices the
bench's stop within a second."""
LOST_KINDS = ("SIG", "AUTH")
"""The certificates a loss revokes."""
POLL_LEAD = 1.0
"""Seconds before a loss is due that the poller starts polling its card's serials."""
CATCH_UP_SECONDS = 60.0
DRAIN_SECONDS = 20.0
CLIENT_CHANNELS = ("ocsp poller", "crl fetch", "sse stream", "nats subscriber")
"""The client's view: this process first saw the revocation as ``revoked`` in an OCSP answer, in
a fetched CRL, as the SSE stream's ``CertificateRevoked`` event, as the relay's NATS message."""
BUILDERS = 4


# ----------------------------------------------------------------------------- the store and the server


@dataclass
class Store:
    settings: Settings
    tokens: dict[Role, str]


@contextmanager
def fresh_store(backend: str, postgres_url: str) -> Iterator[Store]:
    """A store of its own (real clock) and tokens for a clerk, a relying party and a subscriber."""
    with tempfile.TemporaryDirectory(prefix="mynacard-bench-revocation-") as tmp:
        data_dir = Path(tmp)
        if backend == "sqlite":
            url = f"sqlite:///{data_dir / 'mynacard.sqlite'}"
        else:
            url = bench_commands.with_schema(postgres_url, f"bench_{uuid.uuid4().hex[:12]}")
        settings = Settings(data_dir=data_dir, database_url=url)
        env = storage_env(settings)
        prepare_storage(env)
        try:
            registry = open_staff_registry(settings)
            try:
                tokens = {
                    role: issue_token(
                        registry, f"bench-{role.value}", role, OFFICE, "bench.revocation_latency"
                    )[1]
                    for role in (Role.CLERK, Role.RELYING_PARTY, Role.SUBSCRIBER)
                }
            finally:
                registry.close()
            yield Store(settings, tokens)
        finally:
            if backend == "postgres":
                bench_commands.drop_schema(env)


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """This process's environment without any MYNACARD_ setting, then the store's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYNACARD_")}
    env.update(
        MYNACARD_DATA_DIR=str(settings.data_dir),
        MYNACARD_DATABASE_URL=settings.effective_database_url,
        **extra,
    )
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], wait: float = 20) -> None:
    """SIGTERM, then SIGKILL after ``wait`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(wait)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """``python -m mynacard serve`` on a free loopback port until the block ends; its URL."""
    port = free_port()
    log = Path(settings.data_dir) / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "mynacard", "serve", "--port", str(port), "--log-level", "warning"],
            env=process_env(settings, **SERVER_ENV),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_health(process, url, log)
            yield url
        finally:
            stop_process(process)


def client_for(url: str, token: str, timeout: float = 60) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=timeout, headers={"Authorization": f"Bearer {token}"})


def in_threads(count: int, work: Callable[[int], Any]) -> None:
    """``work(i)`` in ``count`` threads; the first error raised again."""
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def build_cards(url: str, token: str, count: int) -> list[str]:
    """``count`` active cards (apply … hand-over through the API, photo taken today in Japan)."""
    ids = [f"{8 * 10**22 + i:023d}" for i in range(count)]
    today = datetime.now(JAPAN).date().isoformat()

    def build(i: int) -> None:
        with client_for(url, token) as c:
            Api(c, None).issue_card(ids[i], my_number=my_number(700_000 + i), photo_taken_on=today)

    def builder(t: int) -> None:
        for i in range(t, count, BUILDERS):
            build(i)

    in_threads(min(BUILDERS, count), builder)
    return ids


# ----------------------------------------------------------------------------- NATS


@dataclass(frozen=True)
class Stream:
    """The run's own JetStream stream and subject prefix (deleted at the end)."""

    url: str
    name: str
    prefix: str


async def _quiet(_error: Exception) -> None:
    return None


async def _connect(url: str) -> Any:
    return await nats.connect(
        url, allow_reconnect=False, max_reconnect_attempts=1, connect_timeout=2, error_cb=_quiet
    )


async def _probe(url: str) -> None:
    nc = await _connect(url)
    try:
        await nc.jetstream(timeout=5).account_info()
    finally:
        await nc.close()


async def _delete(stream: Stream) -> None:
    nc = await _connect(stream.url)
    try:
        with suppress(NotFoundError):
            await nc.jetstream(timeout=10).delete_stream(stream.name)
    finally:
        await nc.close()


def check_nats(url: str) -> None:
    """Fail early (ConfigurationError) when no NATS server with JetStream answers at ``url``."""
    try:
        asyncio.run(_probe(url))
    except Exception as e:
        raise ConfigurationError(
            f"no NATS server with JetStream answers at {url} ({type(e).__name__}: {e}); start one with "
            "'nats-server -js'"
        ) from None


@contextmanager
def nats_stream(url: str) -> Iterator[Stream]:
    name = secrets.token_hex(6)
    stream = Stream(url, f"BENCH_{name.upper()}", f"bench{name}")
    try:
        yield stream
    finally:
        asyncio.run(_delete(stream))


@contextmanager
def relay_process(settings: Settings, stream: Stream) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m mynacard relay`` (following the log) until the block ends (SIGTERM: it
    checkpoints what JetStream acknowledged, then exits)."""
    directory = Path(settings.data_dir)
    with (directory / "relay.out").open("w") as out, (directory / "relay.err").open("w") as err:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "mynacard", "relay", "--json", "--nats", stream.url,
                "--stream", stream.name, "--subject-prefix", stream.prefix, "--consumer", RELAY_CONSUMER,
            ],
            env=process_env(settings),
            stdout=out,
            stderr=err,
        )  # fmt: skip
        try:
            yield process
        finally:
            stop_process(process)


def relay_report(settings: Settings) -> dict[str, Any] | None:
    """The relay's final report (``--json``), when it printed one."""
    text = (Path(settings.data_dir) / "relay.out").read_text().strip()
    if not text:
        return None
    try:
        report: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError:
        return None
    return report


# ----------------------------------------------------------------------------- OCSP and CRL


def ocsp_request(ca: x509.Certificate, serial: str) -> bytes:
    """A DER OCSP request for ``serial`` of the CA (SHA-1 CertID, as openssl sends)."""
    name_hash = hashes.Hash(hashes.SHA1())
    name_hash.update(ca.subject.public_bytes())
    key = ca.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise RuntimeError(f"the CA's key is a {type(key).__name__}, not an EC key")
    key_hash = hashes.Hash(hashes.SHA1())  # issuerKeyHash: the subjectPublicKey BIT STRING's contents
    key_hash.update(
        key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    builder = ocsp.OCSPRequestBuilder().add_certificate_by_hash(
        name_hash.finalize(), key_hash.finalize(), int(serial, 16), hashes.SHA1()
    )
    return builder.build().public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class Watched:
    """A certificate of a card to be lost."""

    card: str
    kind: str
    serial: str
    certificate_id: str
    request: bytes


# ----------------------------------------------------------------------------- the run


@dataclass
class Run:
    """One backend's timed run: its clients (threads of this process) and what they saw. Times
    seen are wall-clock seconds (``time.time()``), to compare with the store's recorded times."""

    url: str
    tokens: dict[Role, str]
    stream: Stream
    losses: list[str]
    load_cards: list[str]
    watched: dict[str, Watched]
    args: argparse.Namespace
    stop: threading.Event = field(default_factory=threading.Event)
    started: float = 0.0
    """``time.monotonic()`` at the start of the timed window."""
    seen: dict[str, dict[str, float]] = field(default_factory=lambda: {c: {} for c in CLIENT_CHANNELS})
    """Client channel → serial → when this process first saw it revoked."""
    reported: dict[str, float] = field(default_factory=dict)
    """Card → when its report-loss was answered."""
    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {"command": [], "report-loss": [], "ocsp": [], "crl": []}
    )
    errors: Counter[str] = field(default_factory=Counter)
    ocsp_answers: Counter[str] = field(default_factory=Counter)
    sse_events: int = 0
    sse_acked: int = 0
    nats_messages: int = 0
    load_wall: float = 0.0
    nats_ready: threading.Event = field(default_factory=threading.Event)
    failures: list[BaseException] = field(default_factory=list)

    def due(self, index: int) -> float:
        """When (monotonic) the ``index``-th loss is reported: evenly spaced over the window."""
        seconds: float = self.args.seconds
        return self.started + (index + 0.5) * seconds / len(self.losses)

    def thread(self, name: str, target: Callable[[], None]) -> threading.Thread:
        def run() -> None:
            try:
                target()
            except BaseException as e:
                self.failures.append(e)
                self.stop.set()

        t = threading.Thread(target=run, name=f"bench-{name}", daemon=True)
        t.start()
        return t

    # --- the load

    def load(self) -> None:
        """R commands/s on the load cards until the window ends: a correct PIN entry, then a PIN
        change at the counter, in turn on each card (neither revokes anything)."""
        rate, end = self.args.load_rate, self.started + self.args.seconds
        with client_for(self.url, self.tokens[Role.CLERK]) as c:
            turn, next_at = 0, self.started
            while not self.stop.is_set():
                now = time.monotonic()
                if now >= end:
                    break
                if next_at > now:
                    time.sleep(min(next_at - now, end - now))
                    continue
                card = self.load_cards[turn % len(self.load_cards)]
                rounds = turn // len(self.load_cards)
                if rounds % 2 == 0:
                    path, body = f"/cards/{card}/pin-attempt", {"pin": "auth", "success": True}
                else:
                    new_pin = "5678" if rounds % 4 == 1 else "1234"
                    path = f"/cards/{card}/change-pin"
                    body = {"pin": "auth", "channel": "counter", "new_pin": new_pin}
                turn += 1
                t0 = perf_counter()
                r = c.post(path, json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
                self.latencies["command"].append(perf_counter() - t0)
                if r.status_code != 201:
                    self.errors[f"{path.rsplit('/', 1)[1]} {r.status_code}"] += 1
                next_at = max(next_at + 1 / rate, time.monotonic() - 1 / rate)  # never a burst
        self.load_wall = time.monotonic() - self.started

    def report_losses(self) -> None:
        with client_for(self.url, self.tokens[Role.CLERK]) as c:
            for i, card in enumerate(self.losses):
                while (wait := self.due(i) - time.monotonic()) > 0:
                    if self.stop.wait(min(wait, 0.5)):
                        return
                t0 = perf_counter()
                r = c.post(
                    f"/cards/{card}/report-loss",
                    json={"lost_at_home": True},
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
                self.latencies["report-loss"].append(perf_counter() - t0)
                if r.status_code != 201:
                    raise RuntimeError(f"report-loss of {card} answered {r.status_code} {r.text}")
                self.reported[card] = time.time()

    # --- relying parties

    def poll_ocsp(self) -> None:
        """Every poll interval, ``POST /ocsp`` for each serial of the cards whose loss is due within
        ``POLL_LEAD`` seconds and that was not answered ``revoked`` yet."""
        seen = self.seen["ocsp poller"]
        due = {self.losses[i]: self.due(i) for i in range(len(self.losses))}
        headers = {"Content-Type": "application/ocsp-request"}
        with client_for(self.url, self.tokens[Role.RELYING_PARTY]) as c:
            while not self.stop.is_set() and len(seen) < len(self.watched):
                soon = time.monotonic() + POLL_LEAD
                for w in self.watched.values():
                    if w.serial in seen or due[w.card] > soon:
                        continue
                    t0 = perf_counter()
                    r = c.post("/ocsp", content=w.request, headers=headers)
                    self.latencies["ocsp"].append(perf_counter() - t0)
                    at = time.time()
                    answer = ocsp.load_der_ocsp_response(r.content)
                    if answer.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
                        self.ocsp_answers[answer.response_status.name.lower()] += 1
                        continue
                    status = answer.certificate_status
                    self.ocsp_answers[status.name.lower()] += 1
                    if status == ocsp.OCSPCertStatus.REVOKED:
                        seen[w.serial] = at
                self.stop.wait(self.args.poll_interval)

    def fetch_crl(self) -> None:
        """Every CRL interval, ``GET /crl``: which watched serials it lists."""
        seen = self.seen["crl fetch"]
        by_number = {int(w.serial, 16): w.serial for w in self.watched.values()}
        with client_for(self.url, self.tokens[Role.RELYING_PARTY]) as c:
            while not self.stop.is_set() and len(seen) < len(self.watched):
                t0 = perf_counter()
                r = c.get("/crl")
                self.latencies["crl"].append(perf_counter() - t0)
                at = time.time()
                if r.status_code != 200:
                    self.errors[f"crl {r.status_code}"] += 1
                else:
                    for entry in x509.load_der_x509_crl(r.content):
                        serial = by_number.get(entry.serial_number)
                        if serial is not None:
                            seen.setdefault(serial, at)
                self.stop.wait(self.args.crl_interval)

    # --- downstream systems

    def consume_sse(self) -> None:
        """``GET /events?consumer=bench-sse``; each event's position acknowledged as it comes."""
        seen = self.seen["sse stream"]
        ids = {w.certificate_id: w.serial for w in self.watched.values()}
        with (
            client_for(self.url, self.tokens[Role.SUBSCRIBER], timeout=30) as c,
            c.stream("GET", "/events", params={"consumer": SSE_CONSUMER}) as r,
        ):
            if r.status_code != 200:
                raise RuntimeError(f"GET /events answered {r.status_code} {r.read().decode()}")
            for frame in frames(r.iter_lines()):
                if frame.comment is None and frame.data is not None and frame.id is not None:
                    self.sse_events += 1
                    serial = ids.get(frame.data["aggregate_id"])
                    if frame.event == "CertificateRevoked" and serial is not None:
                        seen.setdefault(serial, time.time())
                    a = c.post(f"/consumers/{SSE_CONSUMER}/ack", json={"position": frame.id})
                    if a.status_code != 200:
                        raise RuntimeError(f"ack of {frame.id} answered {a.status_code} {a.text}")
                    self.sse_acked = frame.id
                if self.stop.is_set():
                    break

    def watch_nats(self) -> None:
        asyncio.run(self._watch_nats())

    async def _watch_nats(self) -> None:
        """A plain NATS subscriber on the relay's subjects: when each revocation arrives."""
        seen = self.seen["nats subscriber"]
        ids = {w.certificate_id: w.serial for w in self.watched.values()}

        async def received(msg: Any) -> None:
            self.nats_messages += 1
            if (msg.headers or {}).get("Mynacard-Event-Type") == "CertificateRevoked":
                serial = ids.get(json.loads(msg.data)["aggregate_id"])
                if serial is not None:
                    seen.setdefault(serial, time.time())

        nc = await _connect(self.stream.url)
        try:
            await nc.subscribe(f"{self.stream.prefix}.>", cb=received)
            await nc.flush()
            self.nats_ready.set()
            while not self.stop.is_set():
                await asyncio.sleep(0.05)
        finally:
            await nc.close()

    # --- waiting

    def consumers_at(self, head: int | None = None) -> bool:
        """Whether both named consumers acknowledged the log up to ``head`` (default: its end)."""
        with client_for(self.url, self.tokens[Role.SUBSCRIBER]) as c:
            for name in CONSUMERS:
                state = c.get(f"/consumers/{name}").json()
                if state["checkpoint"] < (state["log_head"] if head is None else head):
                    return False
        return True

    def wait_until(self, done: Callable[[], bool], seconds: float, relay: subprocess.Popen[bytes]) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.failures:
                raise self.failures[0]
            if relay.poll() is not None:
                raise RuntimeError(f"the relay exited {relay.returncode} during the run")
            if done():
                return True
            time.sleep(0.1)
        return False

    def all_seen(self) -> bool:
        return all(len(self.seen[c]) == len(self.watched) for c in CLIENT_CHANNELS)


def watched_certificates(url: str, token: str, cards: list[str]) -> dict[str, Watched]:
    """The SIG and AUTH certificates of the cards to be lost, with their OCSP requests."""
    with client_for(url, token) as c:
        ca = x509.load_pem_x509_certificate(c.get("/ca.pem").content)
        watched: dict[str, Watched] = {}
        for card in cards:
            for cert in c.get(f"/cards/{card}").json()["certificates"]:
                if cert["kind"] in LOST_KINDS:
                    serial = cert["serial"].upper()
                    certificate_id = str(certificate_id_for(serial))
                    watched[serial] = Watched(
                        card, cert["kind"], serial, certificate_id, ocsp_request(ca, serial)
                    )
    if len(watched) != len(LOST_KINDS) * len(cards):
        raise RuntimeError(f"expected SIG and AUTH on each of {len(cards)} cards, found {len(watched)}")
    return watched


def run_window(run: Run, relay: subprocess.Popen[bytes]) -> dict[str, Any]:
    """Consumers caught up (untimed), the timed window, then the drain; what it took."""
    background = [run.thread("sse", run.consume_sse), run.thread("nats", run.watch_nats)]
    if not run.nats_ready.wait(10):
        raise RuntimeError("the NATS subscriber did not start within 10 s")
    if not run.wait_until(run.consumers_at, CATCH_UP_SECONDS, relay):
        raise RuntimeError(f"the consumers did not catch up with the log within {CATCH_UP_SECONDS:g} s")
    run.started = time.monotonic()
    timed = [run.thread("load", run.load), run.thread("losses", run.report_losses)]
    background += [run.thread("ocsp", run.poll_ocsp), run.thread("crl", run.fetch_crl)]
    for t in timed:
        t.join()
    if run.failures:
        raise run.failures[0]
    window = time.monotonic() - run.started
    drain_started = time.monotonic()
    drained = run.wait_until(lambda: run.all_seen() and run.consumers_at(), DRAIN_SECONDS, relay)
    drain = time.monotonic() - drain_started
    run.stop.set()
    for t in background:
        t.join(30)
    if run.failures:
        raise run.failures[0]
    return {"window_s": window, "drain_s": drain, "drained": drained}


# ----------------------------------------------------------------------------- after the run


def latency_cli(settings: Settings) -> dict[str, Any]:
    """``python -m mynacard latency --json`` on the store (exit 1: an objective breached)."""
    done = subprocess.run(
        [sys.executable, "-m", "mynacard", "latency", "--json"],
        env=process_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(f"mynacard latency exited {done.returncode}: {done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def recorded_times(settings: Settings) -> dict[str, float]:
    """Serial → when its revocation was recorded (wall-clock seconds), from the revocation list."""
    service = Service(settings)
    try:
        _, entries = service.ask(lambda q: q.read.revocation_list(include_removed=True))
    finally:
        service.close()
    return {e.serial.upper(): datetime.fromisoformat(e.recorded_at).timestamp() for e in entries}


def quantile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest rank, as ``mynacard latency`` computes it."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def distribution(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50": quantile(ordered, 0.50),
        "p99": quantile(ordered, 0.99),
        "max": ordered[-1] if ordered else None,
    }


def client_view(run: Run, recorded: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    for channel in CLIENT_CHANNELS:
        seen = run.seen[channel]
        seconds = [seen[s] - recorded[s] for s in run.watched if s in seen and s in recorded]
        rows.append(
            {
                "channel": channel,
                "revocations": len(run.watched),
                "seen": len(seconds),
                **{f"{k}_s": v for k, v in distribution(seconds).items() if k != "n"},
            }
        )
    return rows


def ms(values: list[float]) -> dict[str, Any]:
    d = distribution(values)
    return {
        "requests": d["n"],
        "p50_ms": None if d["p50"] is None else d["p50"] * 1000,
        "p99_ms": None if d["p99"] is None else d["p99"] * 1000,
    }


def with_ratios(row: dict[str, Any], baseline_s: float) -> dict[str, Any]:
    """The row with ``p50_x``, ``p99_x``, ``max_x``: its seconds as multiples of the baseline."""
    for k in ("p50", "p99", "max"):
        v = row.get(f"{k}_s")
        row[f"{k}_x"] = None if v is None or baseline_s <= 0 else v / baseline_s
    return row


# ----------------------------------------------------------------------------- one backend


def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with fresh_store(backend, args.postgres_url) as store, nats_stream(args.nats) as stream:
        with serve(store.settings) as url:
            cards = build_cards(url, store.tokens[Role.CLERK], args.losses + args.load_cards)
            losses, load_cards = cards[: args.losses], cards[args.losses :]
            watched = watched_certificates(url, store.tokens[Role.CLERK], losses)
            run = Run(url, store.tokens, stream, losses, load_cards, watched, args)
            try:
                with relay_process(store.settings, stream) as relay:
                    timing = run_window(run, relay)
            finally:
                run.stop.set()
        relay_final = relay_report(store.settings)
        report = latency_cli(store.settings)
        recorded = recorded_times(store.settings)
    command = ms(run.latencies["command"])
    baseline_s = (command["p50_ms"] or 0) / 1000
    served = [
        with_ratios(
            {k: r[k] for k in ("channel", "kind", "seen", "not_seen_yet", "p50_s", "p99_s", "max_s")}
            | {"objective_s": r["objective_s"], "objective_met": r["objective_met"]},
            baseline_s,
        )
        for r in report["channels"]
    ]
    return {
        "backend": backend,
        "losses": args.losses,
        "revocations": report["revocations"],
        "load": {
            "target_per_s": args.load_rate,
            "commands": command["requests"],
            "per_s": command["requests"] / run.load_wall if run.load_wall else 0.0,
            "errors": dict(run.errors),
        },
        **timing,
        "baseline": {
            "command": command,
            "report-loss": ms(run.latencies["report-loss"]),
            "ocsp": ms(run.latencies["ocsp"]),
            "crl": ms(run.latencies["crl"]),
        },
        "ocsp_answers": dict(run.ocsp_answers),
        "served": served,
        "breaches": report["breaches"],
        "objective": report["objective"],
        "client": [with_ratios(r, baseline_s) for r in client_view(run, recorded)],
        "sse": {"events": run.sse_events, "acked_through": run.sse_acked},
        "relay": {
            "published": relay_final.get("published") if relay_final else None,
            "checkpoint": relay_final.get("checkpoint") if relay_final else None,
            "nats_messages_received": run.nats_messages,
        },
    }


# ----------------------------------------------------------------------------- reporting


def _s(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def _x(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}"


def report_backend(r: dict[str, Any]) -> str:
    load, base = r["load"], r["baseline"]
    lines = [
        f"=== {r['backend']}: {r['losses']} losses ({r['revocations']} revocations) over "
        f"{r['window_s']:.1f} s, load {load['commands']} commands at {load['per_s']:.1f}/s "
        f"(target {load['target_per_s']:g})"
        + (f", errors {load['errors']}" if load["errors"] else "")
        + f"; drained in {r['drain_s']:.1f} s"
        + ("" if r["drained"] else " (NOT complete: some revocation not seen or a consumer behind)")
        + " ===",
        f"  {'round trips (baseline: load commands)':40} {'n':>6} {'p50 ms':>8} {'p99 ms':>8}",
    ]
    for label, key in (
        ("load commands (pin-attempt / change-pin)", "command"),
        ("report-loss", "report-loss"),
        ("POST /ocsp", "ocsp"),
        ("GET /crl", "crl"),
    ):
        b = base[key]
        lines.append(f"  {label:40} {b['requests']:6d} {_ms(b['p50_ms']):>8} {_ms(b['p99_ms']):>8}")
    header = (
        f"{'seen':>5} {'not yet':>7} {'p50 s':>7} {'p99 s':>7} {'max s':>7} "
        f"{'p50 ×cmd':>9} {'p99 ×cmd':>9} {'max ×cmd':>9}"
    )
    lines += [
        "  server (mynacard latency): recorded → first served answer / consumer's ack",
        f"  {'channel':16} {'kind':9} {header} {'objective':>10}",
    ]
    for c in r["served"]:
        objective = (
            "—"
            if c["objective_s"] is None
            else f"{c['objective_s']:g} s " + ("met" if c["objective_met"] else "NOT met")
        )
        lines.append(
            f"  {c['channel']:16} {c['kind']:9} {c['seen']:5d} {c['not_seen_yet']:7d} {_s(c['p50_s']):>7} "
            f"{_s(c['p99_s']):>7} {_s(c['max_s']):>7} {_x(c['p50_x']):>9} {_x(c['p99_x']):>9} "
            f"{_x(c['max_x']):>9} {objective:>10}"
        )
    lines += [
        "  client (this process): recorded → first seen revoked",
        f"  {'channel':26} {header}",
    ]
    for c in r["client"]:
        lines.append(
            f"  {c['channel']:26} {c['seen']:5d} {c['revocations'] - c['seen']:7d} {_s(c['p50_s']):>7} "
            f"{_s(c['p99_s']):>7} {_s(c['max_s']):>7} {_x(c['p50_x']):>9} {_x(c['p99_x']):>9} "
            f"{_x(c['max_x']):>9}"
        )
    answers = ", ".join(f"{k} {v}" for k, v in sorted(r["ocsp_answers"].items()))
    lines.append(
        f"  OCSP answers: {answers}; SSE: {r['sse']['events']} events, acknowledged through "
        f"{r['sse']['acked_through']}; relay: {r['relay']['published']} published, checkpoint "
        f"{r['relay']['checkpoint']}, {r['relay']['nats_messages_received']} received by the subscriber"
        + (f"; objective breached by: {', '.join(r['breaches'])}" if r["breaches"] else "")
    )
    return "\n".join(lines)


def _channel(r: dict[str, Any], rows: str, name: str) -> dict[str, Any]:
    return next((c for c in r[rows] if c["channel"] == name), {})


def report_text(result: dict[str, Any]) -> str:
    a = result["args"]
    lines = [
        f"mynacard revocation latency: {a['losses']} losses spaced over {a['seconds']:g} s under "
        f"{a['load_rate']:g} commands/s on {a['load_cards']} cards; OCSP poll every "
        f"{a['poll_interval']:g} s, CRL every {a['crl_interval']:g} s; NATS {a['nats']}; Python "
        f"{result['python']}, {result['cpus']} CPUs",
    ]
    for name in result["backends"]:
        lines += ["", report_backend(result[name])]
    lines += [
        "",
        "=== side by side (p50 / p99 seconds, and p99 as × the p50 command round trip) ===",
        f"{'backend':9} {'cmd p50 ms':>10}"
        + "".join(f" {h:>20}" for h in ("ocsp", "crl", SSE_CONSUMER, RELAY_CONSUMER, "poller saw")),
    ]
    for name in result["backends"]:
        r = result[name]
        cells = [
            _channel(r, "served", "ocsp"),
            _channel(r, "served", "crl"),
            _channel(r, "served", SSE_CONSUMER),
            _channel(r, "served", RELAY_CONSUMER),
            _channel(r, "client", "ocsp poller"),
        ]
        lines.append(
            f"{name:9} {_ms(r['baseline']['command']['p50_ms']):>10}"
            + "".join(
                f" {_s(c.get('p50_s')) + '/' + _s(c.get('p99_s')) + ' ' + _x(c.get('p99_x')) + '×':>20}"
                for c in cells
            )
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.revocation_latency", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--losses", type=int, default=10, help="cards reported lost (default 10)")
    parser.add_argument(
        "--load-rate", type=float, default=10, help="load commands per second (default 10; at most 500)"
    )
    parser.add_argument(
        "--seconds", type=float, default=30, help="the timed window, per backend (default 30)"
    )
    parser.add_argument(
        "--backend", choices=(*bench_commands.BACKENDS, "both"), default="both", help="default: both"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(bench_commands.POSTGRES_URL_VARIABLE) or bench_commands.DEFAULT_POSTGRES_URL,
        help=f"PostgreSQL database (default: ${bench_commands.POSTGRES_URL_VARIABLE}, else "
        f"{bench_commands.DEFAULT_POSTGRES_URL}); each run makes and drops a schema of its own there",
    )
    parser.add_argument("--nats", default=DEFAULT_NATS, metavar="URL", help=f"NATS server ({DEFAULT_NATS})")
    parser.add_argument(
        "--poll-interval", type=float, default=0.05, help="seconds between OCSP polls (default 0.05)"
    )
    parser.add_argument(
        "--crl-interval", type=float, default=1.0, help="seconds between CRL fetches (default 1)"
    )
    parser.add_argument("--load-cards", type=int, default=8, help="cards the load runs on (default 8)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if min(args.losses, args.load_cards) < 1 or min(args.seconds, args.poll_interval, args.crl_interval) <= 0:
        parser.error("--losses, --load-cards, --seconds, --poll-interval and --crl-interval must be positive")
    if not 0 < args.load_rate <= 500:
        parser.error("--load-rate: from above 0 to 500 commands per second")
    backends = bench_commands.BACKENDS if args.backend == "both" else (args.backend,)
    try:
        if "postgres" in backends:
            bench_commands.PostgresBackend(args.postgres_url).check()
        check_nats(args.nats)
    except ConfigurationError as e:
        parser.error(str(e))
    result: dict[str, Any] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "args": {
            k: getattr(args, k)
            for k in ("losses", "load_rate", "seconds", "load_cards", "poll_interval", "crl_interval", "nats")
        },
        "backends": list(backends),
    }
    for name in backends:
        result[name] = bench_backend(name, args)
    print(json.dumps(result) if args.json else report_text(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
