"""The HTTP service as a real ``mynacard serve`` process on a free port (``tests.helpers.service.
live_server``), on the run's backend (SQLite, or PostgreSQL with ``MYNACARD_TEST_DATABASE_URL``):

- a card built through the API reads back (status, certificates, the timeline with the
  authenticated identity as the actor of every event);
- ``Idempotency-Key``: the same key and body again is 200 with ``Idempotent-Replayed: true`` and
  the first result (even after the card moved on); the same key with another body, command or
  card is 409 problem+json and records nothing;
- the admin token ``serve`` prints at first start makes tokens (``POST /tokens``); a restart on
  the same store prints none;
- a SIGKILL of the server amid a stream of commands, then a restart: every acknowledged command
  (a 201 received) is kept once (its key answers the first result), the commands in flight at
  the kill took effect once or not at all, and the store passes its audit and ``verify``;
- ``serve --workers 2`` on SQLite exits 6 naming PostgreSQL.

On PostgreSQL only (CI's PostgreSQL pass), ``serve --workers 3``: 16 threads sending the same key
and body at once get one 201 and replays, one set of events; concurrent commands on one card from
many connections lose no update (every acknowledged fee payment counted, suspensions and lifts
strictly alternating); ``/metrics`` adds up the counters of every worker.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from commands.config import Settings
from mynacard.bootstrap import open_read_side, open_write_side, upstream_of
from projections.verify import verify
from tests.helpers import harness
from tests.helpers.backend import BACKEND, POSTGRES
from tests.helpers.service import (
    Api,
    LiveServer,
    free_port,
    live_server,
    make_token,
    new_application_id,
    service_settings,
)
from tests.helpers.support import my_number

ADMIN_LINE = re.compile(r"first start: an admin token was made .*: (\S+)$", re.MULTILINE)
REPLAYED = "Idempotent-Replayed"
NEEDS_POSTGRES = pytest.mark.skipif(
    not POSTGRES,
    reason="serve --workers N runs on PostgreSQL only (SQLite has one writer process); "
    "CI's PostgreSQL pass runs this",
)


def admin_token_of(server: LiveServer) -> str:
    found = ADMIN_LINE.search(server.log.read_text())
    assert found, f"serve printed no admin token at first start: {server.log.read_text()}"
    return found.group(1)


def without_duplicate(result: dict[str, Any]) -> dict[str, Any]:
    """A command result but its ``duplicate`` flag (the one field a replay changes)."""
    return {k: v for k, v in result.items() if k != "duplicate"}


def history(api: Api, card: str) -> list[dict[str, Any]]:
    r = api.get(f"/cards/{card}/history")
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["events"]
    return events


def card_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["aggregate"] == "card"]


_people = itertools.count(1)


def new_card(api: Api) -> str:
    """An active card of a person of its own (the module's tests share one store)."""
    return api.issue_card(my_number=my_number(next(_people)))


def fee_card(api: Api, seed: int) -> tuple[str, set[str]]:
    """A reissue after a loss, applied for: 1,000 yen assessed (R07), none paid yet; and the
    command ids that made it (the first card's and the reissue's)."""
    number = my_number(seed)
    old = api.issue_card(my_number=number)
    r = api.command("report-loss", old, lost_at_home=True)
    assert r.status_code == 201, r.text
    card = api.apply(kind="reissue", reissue_reason="loss", previous_card=old, my_number=number)
    assert api.get(f"/cards/{card}").json()["fee_assessed_yen"] == 1000
    keys = {e["command_id"] for c in (old, card) for e in history(api, c)}
    return card, keys


# ----------------------------------------------------------------------------- one server, one store


@dataclass
class Served:
    settings: Settings
    server: LiveServer
    clerk: Api


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = service_settings(tmp_path_factory.mktemp("served"))
    clerk_token = make_token(settings, "clerk")  # not an admin: serve makes one at first start
    # Without PYTHONUNBUFFERED: the token line must reach a file or pipe before uvicorn runs.
    with live_server(settings, PYTHONUNBUFFERED="") as server, server.client() as client:
        yield Served(settings, server, Api(client, clerk_token))


def test_a_card_built_through_the_api_reads_back(served: Served) -> None:
    api = served.clerk
    number = my_number(next(_people))
    card = api.issue_card(my_number=number)
    r = api.get(f"/cards/{card}")
    assert r.status_code == 200, r.text
    status = r.json()
    assert status["status"] == "active"
    assert status["application_id"].replace(" ", "") == card
    assert status["holder"] == f"XXXX XXXX {number[-4:]}"  # masked: the number never leaves
    assert number not in r.text
    assert sorted(c["kind"] for c in status["certificates"]) == ["AUTH", "SIG"], status["certificates"]
    # The card id reads the same card.
    by_id = api.get(f"/cards/{status['card_id']}").json()
    assert by_id["application_id"] == status["application_id"]
    assert by_id["status"] == "active"

    events = history(api, card)
    assert [e["type"] for e in card_events(events)][:6] == [
        "Applied",
        "FeeAssessed",
        "Accepted",
        "Produced",
        "PickupNoticeSent",
        "Issued",
    ]
    assert {e["actor"] for e in events} == {"clerk-1 (clerk, 131016)"}  # the token's identity
    assert Counter(e["type"] for e in events)["CertificateIssued"] == 2
    for aggregate in {e["aggregate_id"] for e in events}:
        versions = [e["version"] for e in events if e["aggregate_id"] == aggregate]
        assert versions == list(range(1, len(versions) + 1))


def test_the_same_key_again_answers_the_first_result(served: Served) -> None:
    api = served.clerk
    card = new_card(api)
    key = str(uuid.uuid4())
    first = api.command("suspend", card, key=key, channel="call_centre")
    assert first.status_code == 201, first.text
    assert first.headers[REPLAYED] == "false"
    again = api.command("suspend", card, key=key, channel="call_centre")
    assert again.status_code == 200, again.text
    assert again.headers[REPLAYED] == "true"
    assert again.json()["duplicate"] is True
    assert without_duplicate(again.json()) == without_duplicate(first.json())
    assert again.json()["command_id"] == key

    # The card moves on (lifted); the key still answers the suspension, and records nothing.
    lifted = api.command("lift-suspension", card)
    assert lifted.status_code == 201, lifted.text
    before = history(api, card)
    late = api.command("suspend", card, key=key, channel="call_centre")
    assert late.status_code == 200, late.text
    assert late.headers[REPLAYED] == "true"
    assert without_duplicate(late.json()) == without_duplicate(first.json())
    assert history(api, card) == before
    assert api.get(f"/cards/{card}").json()["status"] == "active"
    mine = [e for e in before if e["command_id"] == key]
    assert [(e["aggregate_id"], e["version"], e["type"]) for e in mine] == [
        (e["aggregate_id"], e["version"], e["type"]) for e in first.json()["events"]
    ]


@pytest.mark.parametrize(
    ("other", "change"),
    [
        ("body", lambda card, other_card: ("suspend", card, {"channel": "online"})),
        ("command", lambda card, other_card: ("report-loss", card, {"lost_at_home": True})),
        ("card", lambda card, other_card: ("suspend", other_card, {"channel": "call_centre"})),
    ],
    ids=["body", "command", "card"],
)
def test_the_same_key_with_another_request_is_409(
    served: Served, other: str, change: Callable[[str, str], tuple[str, str, dict[str, Any]]]
) -> None:
    api = served.clerk
    card, other_card = new_card(api), new_card(api)
    key = str(uuid.uuid4())
    first = api.command("suspend", card, key=key, channel="call_centre")
    assert first.status_code == 201, first.text
    before = {c: history(api, c) for c in (card, other_card)}
    command, target, body = change(card, other_card)
    r = api.command(command, target, key=key, **body)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["type"] == "/problems/conflict"
    assert problem["status"] == 409
    assert problem["field"] == "Idempotency-Key"
    assert "Traceback" not in r.text
    assert {c: history(api, c) for c in (card, other_card)} == before  # nothing recorded
    assert api.get(f"/cards/{other_card}").json()["status"] == "active"


def test_the_admin_token_printed_at_first_start_makes_tokens(served: Served) -> None:
    admin = Api(served.clerk.client, admin_token_of(served.server))
    assert admin.get("/me").json()["role"] == "admin"
    r = admin.post("/tokens", {"name": "auditor-7", "role": "auditor", "office": "131016"})
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["role"] == "auditor"
    auditor = Api(served.clerk.client, made["token"])
    me = auditor.get("/me")
    assert me.status_code == 200, me.text
    assert me.json() == {
        "name": "auditor-7",
        "role": "auditor",
        "office": "131016",
        "token_id": made["token_id"],
    }
    listed = admin.get("/tokens").json()
    assert made["token_id"] in {t["token_id"] for t in listed}
    assert made["token"] not in json.dumps(listed)  # only its hash is kept
    # A clerk may not make tokens; no token, no answer.
    assert served.clerk.post("/tokens", {"name": "x", "role": "admin"}).status_code == 403
    assert Api(served.clerk.client, None).post("/tokens", {"name": "x", "role": "admin"}).status_code == 401


# ----------------------------------------------------------------------------- SIGKILL, restart


@dataclass
class Sent:
    """One command sent by the writers: its key, route and body, and the first answer if any."""

    key: str
    path: str
    body: dict[str, Any]
    answer: dict[str, Any] | None = None  # the 201's body: acknowledged
    refused: int | None = None  # a 4xx status: refused, nothing recorded


@dataclass
class Writers:
    """Threads sending commands until the server dies; what each sent and what it was told."""

    url: str
    token: str
    card: str
    sent: list[Sent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    failures: list[str] = field(default_factory=list)

    def acknowledged(self) -> list[Sent]:
        with self.lock:
            return [s for s in self.sent if s.answer is not None]

    def run(self, worker: int, stop: threading.Event) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, timeout=30, headers=headers) as client:
            for n in range(10_000):
                if stop.is_set():
                    return
                body: dict[str, Any]
                if n % 2:
                    path, body = f"/cards/{self.card}/pay-fee", {"amount_yen": 1}
                else:
                    path = "/applications"
                    body = {
                        "application_id": new_application_id(),
                        "my_number": my_number(10_000 + worker * 1000 + n),
                        "date_of_birth": "1980-10-10",
                        "photo_taken_on": "2026-03-01",
                    }
                sent = Sent(str(uuid.uuid4()), path, body)
                with self.lock:
                    self.sent.append(sent)
                try:
                    r = client.post(path, json=body, headers={"Idempotency-Key": sent.key})
                except httpx.HTTPError:
                    return  # the server is gone: this one is in doubt
                if r.status_code == 201:
                    sent.answer = r.json()
                elif 400 <= r.status_code < 500:
                    sent.refused = r.status_code
                else:
                    self.failures.append(f"{path}: {r.status_code} {r.text}")


def test_a_sigkill_keeps_every_acknowledged_command(tmp_path: Path) -> None:
    settings = service_settings(tmp_path)
    token = make_token(settings, "clerk")
    with live_server(settings) as server, server.client() as client:
        card, setup_keys = fee_card(Api(client, token), 4242)

        writers = Writers(server.url, token, card)
        stop = threading.Event()
        threads = [threading.Thread(target=writers.run, args=(i, stop)) for i in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(writers.acknowledged()) < 40 and time.monotonic() < deadline:
            time.sleep(0.005)
        server.process.send_signal(signal.SIGKILL)  # amid the stream: requests are in flight
        server.process.wait(10)
        stop.set()
        for t in threads:
            t.join(30)
        assert not writers.failures, writers.failures
        acknowledged = writers.acknowledged()
        assert len(acknowledged) >= 40, f"only {len(acknowledged)} commands acknowledged before the kill"
        in_doubt = [s for s in writers.sent if s.answer is None and s.refused is None]

    with live_server(settings) as server, server.client() as client:
        assert "first start" not in server.log.read_text()  # the store's admin token is kept
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        api = Api(client, token)
        # Every acknowledged command is there once: its key answers the first result.
        for sent in acknowledged:
            r = api.post(sent.path, sent.body, key=sent.key)
            assert r.status_code == 200, (sent.path, r.text)
            assert r.headers[REPLAYED] == "true"
            assert without_duplicate(r.json()) == without_duplicate(sent.answer or {})
        # Those in flight took effect once or not at all: sent again, each is there once now.
        for sent in in_doubt:
            r = api.post(sent.path, sent.body, key=sent.key)
            assert r.status_code in (200, 201), (sent.path, r.text)
            sent.answer = r.json()
        recorded = [s for s in writers.sent if s.answer is not None]
        took_effect = sum(1 for s in in_doubt if s.answer and s.answer["duplicate"])
        print(
            f"FIGURES serve-sigkill[{BACKEND}]: acknowledged={len(acknowledged)} in_flight={len(in_doubt)} "
            f"in_flight_recorded_before_the_kill={took_effect}"
        )
        fee_keys = {s.key for s in recorded if s.path.endswith("/pay-fee")}
        status = api.get(f"/cards/{card}").json()
        assert status["fee_paid_yen"] == len(fee_keys)
        paid = [e["command_id"] for e in card_events(history(api, card)) if e["type"] == "FeePaid"]
        assert sorted(paid) == sorted(fee_keys)  # each payment once: none lost, none twice
        for sent in recorded:
            if sent.path == "/applications":
                r = api.get(f"/cards/{sent.body['application_id']}")
                assert r.status_code == 200, r.text
                assert r.json()["status"] == "applied"

    # The store itself: its audit (positions, versions, each command's events once and whole, the
    # command log) and the read models against a fold of the log.
    app = open_write_side(settings)
    try:
        audit = harness.audit_store(app)
        assert audit.problems == []
        logged = {str(k) for k in audit.log}
        assert {s.key for s in recorded} <= logged
        assert logged <= {s.key for s in writers.sent} | setup_keys  # nothing else was recorded
        read = open_read_side(settings, upstream_of(app))
        try:
            read.catch_up()
            assert verify(read, app.events).differences == []
        finally:
            read.close()
    finally:
        app.close()


@pytest.mark.skipif(not POSTGRES, reason="a password is in PostgreSQL URLs only")
def test_serve_does_not_print_the_database_password(tmp_path: Path) -> None:
    settings = service_settings(tmp_path)
    url = str(settings.effective_database_url)
    secret = "not-a-real-secret-7f3a"
    # The test server trusts local connections: the password is sent along, never asked for.
    with_password = url.replace("postgresql://", f"postgresql://root:{secret}@", 1)
    settings = Settings(data_dir=tmp_path, database_url=with_password, now=settings.now)
    with live_server(settings) as server:
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert secret not in server.log.read_text()


# ----------------------------------------------------------------------------- workers


def test_workers_on_sqlite_exit_6_naming_postgresql(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MYNACARD_")}
    env.update(
        MYNACARD_DATA_DIR=str(tmp_path), MYNACARD_DATABASE_URL=f"sqlite:///{tmp_path / 'store.sqlite'}"
    )
    run = subprocess.run(
        [sys.executable, "-m", "mynacard", "serve", "--workers", "2", "--port", str(free_port())],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 6, (run.stdout, run.stderr)
    assert "PostgreSQL" in run.stderr
    assert "first start" not in run.stdout  # refused before anything was made
    assert not (tmp_path / "store.sqlite").exists()


@dataclass
class Workers:
    """``serve --workers 3`` on one store, its metrics directory, and staff tokens."""

    settings: Settings
    server: LiveServer
    metrics_dir: Path
    clerk: str
    admin: str

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.clerk}"}
        return httpx.Client(base_url=self.server.url, timeout=60, headers=headers)

    def pids(self) -> set[str]:
        """The workers that answered a request (each writes its counters to a file named by its pid)."""
        return {p.stem.split("_")[-1] for p in self.metrics_dir.glob("counter_*.db")}

    def requests_by_worker(self, route: str) -> dict[str, float]:
        """``mynacard_http_requests_total`` of ``route``, by the worker that answered."""
        counts: dict[str, float] = {}
        for path in self.metrics_dir.glob("counter_*.db"):
            total = 0.0
            for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):  # type: ignore[no-untyped-call]
                metric, sample, labels, _help = json.loads(key)
                if (
                    metric == "mynacard_http_requests"
                    and sample.endswith("_total")
                    and labels["route"] == route
                ):
                    total += value
            counts[path.stem.split("_")[-1]] = total
        return counts


WORKERS = 3
THREADS = 16


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    data_dir = tmp_path_factory.mktemp("workers")
    settings = service_settings(data_dir)
    clerk, admin = make_token(settings, "clerk"), make_token(settings, "admin")
    metrics_dir = data_dir / "metrics"
    metrics_dir.mkdir()
    with live_server(
        settings, "--workers", str(WORKERS), PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)
    ) as server:
        served = Workers(settings, server, metrics_dir, clerk, admin)
        # Every worker up before the races start: a worker writes its counters' file at its first
        # request, and only a started worker accepts connections.
        deadline = time.monotonic() + 90
        while len(served.pids()) < WORKERS:
            assert time.monotonic() < deadline, (
                f"workers answering: {served.pids()}: {server.log.read_text()}"
            )
            with httpx.Client(base_url=server.url) as fresh:
                fresh.get("/healthz")
            time.sleep(0.05)
        yield served


def at_once(
    count: int, send: Callable[[int, httpx.Client], Any], make: Callable[[], httpx.Client]
) -> list[Any]:
    """``send(i, client)`` from ``count`` threads released together, each on a connection of its
    own (opened before the release, so the requests reach the workers at the same moment)."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            with make() as client:
                client.get("/healthz")  # the connection is open (bound to a worker) before the race
                barrier.wait(30)
                results[i] = send(i, client)
        except BaseException as e:
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return results


@NEEDS_POSTGRES
def test_workers_the_same_key_at_once_records_once(workers: Workers) -> None:
    with workers.client() as client:
        card, _ = fee_card(Api(client, workers.clerk), 31_000)
    for _round in range(4):
        key = str(uuid.uuid4())

        def send(i: int, client: httpx.Client, key: str = key) -> httpx.Response:
            return client.post(
                f"/cards/{card}/pay-fee", json={"amount_yen": 5}, headers={"Idempotency-Key": key}
            )

        answers = at_once(THREADS, send, workers.client)
        statuses = Counter(r.status_code for r in answers)
        assert statuses == {201: 1, 200: THREADS - 1}, [(r.status_code, r.text) for r in answers]
        first = next(r for r in answers if r.status_code == 201)
        assert first.headers[REPLAYED] == "false"
        for r in answers:
            if r.status_code == 200:
                assert r.headers[REPLAYED] == "true"
                assert without_duplicate(r.json()) == without_duplicate(first.json())
        with workers.client() as client:
            events = history(Api(client, workers.clerk), card)
        mine = [(e["aggregate_id"], e["version"], e["type"]) for e in events if e["command_id"] == key]
        assert mine == [(e["aggregate_id"], e["version"], e["type"]) for e in first.json()["events"]]
        assert [t for *_, t in mine] == ["FeePaid"]
    with workers.client() as client:
        assert client.get(f"/cards/{card}").json()["fee_paid_yen"] == 4 * 5


def send_until_answered(client: httpx.Client, path: str, body: dict[str, Any], key: str) -> httpx.Response:
    """What a client does: a conflict (409: the card kept changing) is sent again, same key."""
    for _ in range(20):
        r = client.post(path, json=body, headers={"Idempotency-Key": key})
        if r.status_code != 409 or r.json().get("field") == "Idempotency-Key":
            return r
        time.sleep(0.01)
    return r


@NEEDS_POSTGRES
def test_workers_concurrent_payments_on_one_card_lose_none(workers: Workers) -> None:
    with workers.client() as client:
        card, _ = fee_card(Api(client, workers.clerk), 32_000)
    per_thread = 6

    def send(i: int, client: httpx.Client) -> list[tuple[str, httpx.Response]]:
        answers = []
        for _ in range(per_thread):
            key = str(uuid.uuid4())
            answers.append(
                (key, send_until_answered(client, f"/cards/{card}/pay-fee", {"amount_yen": 1}, key))
            )
        return answers

    answers = [a for thread in at_once(THREADS, send, workers.client) for a in thread]
    statuses = Counter(r.status_code for _, r in answers)
    assert statuses == {201: THREADS * per_thread}, [
        (r.status_code, r.text) for _, r in answers if r.status_code != 201
    ]
    acknowledged = {key for key, r in answers if r.status_code == 201}
    # Every worker reads every payment (read your writes, whoever wrote them).
    for _ in range(WORKERS * 2):
        with workers.client() as client:
            assert client.get(f"/cards/{card}").json()["fee_paid_yen"] == len(acknowledged)
    with workers.client() as client:
        events = card_events(history(Api(client, workers.clerk), card))
    paid = [e["command_id"] for e in events if e["type"] == "FeePaid"]
    assert sorted(paid) == sorted(acknowledged)  # each once: none lost, none twice
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))


@NEEDS_POSTGRES
def test_workers_concurrent_suspensions_and_lifts_alternate(workers: Workers) -> None:
    with workers.client() as client:
        api = Api(client, workers.clerk)
        card = new_card(api)
        before = len(card_events(history(api, card)))
    rounds = 4

    def send(i: int, client: httpx.Client) -> list[tuple[str, str, httpx.Response]]:
        command = "suspend" if i % 2 else "lift-suspension"
        out = []
        for _ in range(rounds):
            key = str(uuid.uuid4())
            out.append((command, key, send_until_answered(client, f"/cards/{card}/{command}", {}, key)))
        return out

    answers = [a for thread in at_once(THREADS, send, workers.client) for a in thread]
    assert {r.status_code for *_, r in answers} <= {201, 422}, [r.text for *_, r in answers]
    refused = [r.json() for *_, r in answers if r.status_code == 422]
    assert {p["rule"] for p in refused} <= {"R49", "R50"}  # already suspended / not suspended
    acknowledged = {key: command for command, key, r in answers if r.status_code == 201}
    assert acknowledged, "no suspension was recorded"
    with workers.client() as client:
        api = Api(client, workers.clerk)
        events = card_events(history(api, card))[before:]
        status = api.get(f"/cards/{card}").json()["status"]
    # Exactly the acknowledged commands, strictly alternating from the active card.
    assert sorted(e["command_id"] for e in events) == sorted(acknowledged)
    types = [e["type"] for e in events]
    assert types == ["Suspended", "SuspensionLifted"] * (len(types) // 2) + ["Suspended"] * (len(types) % 2)
    assert status == ("suspended" if len(types) % 2 else "active")
    # A refused command recorded nothing: refused keys never appear.
    assert not {key for _, key, r in answers if r.status_code == 422} & {e["command_id"] for e in events}


@NEEDS_POSTGRES
def test_workers_metrics_add_up_every_worker(workers: Workers) -> None:
    per_thread = 3

    def send(i: int, client: httpx.Client) -> list[int]:
        return [client.get("/policies").status_code for _ in range(per_thread)]

    statuses = [s for thread in at_once(THREADS, send, lambda: workers.client(workers.admin)) for s in thread]
    assert statuses == [200] * THREADS * per_thread
    by_worker = workers.requests_by_worker("/policies")
    answered = {pid for pid, n in by_worker.items() if n}
    assert len(answered) >= 2, f"one worker answered every connection: {by_worker}"
    assert sum(by_worker.values()) == THREADS * per_thread
    # Whichever worker is scraped, it reports the sum over every worker.
    for _ in range(WORKERS * 2):
        with workers.client(workers.admin) as client:
            r = client.get("/metrics")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain")
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text)
            for s in family.samples
        }
        labels = (("method", "GET"), ("route", "/policies"), ("status", "200"))
        assert samples[("mynacard_http_requests_total", labels)] == THREADS * per_thread
        count = (("method", "GET"), ("route", "/policies"))
        assert samples[("mynacard_http_request_duration_seconds_count", count)] == THREADS * per_thread
    with workers.client(workers.clerk) as client:
        assert client.get("/metrics").status_code == 403  # metrics are an admin's
