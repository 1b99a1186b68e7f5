"""Completeness for consumers (issue 13), with real processes: ``mynacard events`` (JSON lines)
and ``mynacard serve`` (SSE) deliver each event with its chain inputs and chain hash and the
signed checkpoints in order among them; a consumer that keeps the running chain hash
(``ChainFollower``, and ``mynacard verify-feed`` as a process) verifies every checkpoint; one fed
through a proxy that removes, alters or reorders an event — even one that rewrites the chain
hashes after it — fails at the next checkpoint with exit 7 naming its position; a forged
checkpoint fails; a resumed consumer starts from the chain hash kept at its position.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from commands.application import CardLifecycle
from mynacard.bootstrap import open_log, open_write_side
from mynacard.integrity.signing import load_public_key, open_log_signer
from projections.chain_follower import ChainFollower
from storage import chain
from storage.chain import ChainLink
from tests.e2e.test_relay import Target, _delete, stream_messages
from tests.helpers import backend
from tests.helpers.consumers import clean_env, events_cli, some_cards, suspend_and_lift
from tests.helpers.recorded_store import cli as relay_cli
from tests.helpers.service import Api, live_server, make_token, service_settings
from tests.helpers.sse import frames
from tests.helpers.support import Clock

WAIT = 30.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Path, CardLifecycle, Clock]]:
    app = open_write_side(backend.settings(tmp_path))
    clock = Clock("2020-05-01T09:00")
    app.clock = clock
    app.clock_tolerance = None
    yield tmp_path, app, clock
    app.close()


def cli(path: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mynacard", *args],
        env=clean_env(path),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def public_key_file(path: Path) -> Path:
    """The store's public key as a relying party holds it (a PEM file; no database needed)."""
    log = open_log(backend.settings(path))
    try:
        pem = open_log_signer(backend.settings(path), log.recorder).public_key_pem  # type: ignore[arg-type]
    finally:
        log.close()
    out = path / "checkpoints.pem"
    out.write_text(pem)
    return out


def with_checkpoints(path: Path, app: CardLifecycle, clock: Clock) -> list[dict[str, Any]]:
    """A store with two checkpoints and events after the last one; its feed as JSON lines."""
    stories = some_cards(app, clock, 9_900_001, n=2)
    assert cli(path, "checkpoint").returncode == 0
    suspend_and_lift(stories[0], "2021-01-01")
    assert cli(path, "checkpoint").returncode == 0
    suspend_and_lift(stories[1], "2021-02-01")
    done = events_cli(path)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def lines(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def verify_feed(
    path: Path, key: Path, records: list[dict[str, Any]], *args: str
) -> tuple[int, dict[str, Any]]:
    done = cli(path, "verify-feed", "--public-key", str(key), "--json", *args, stdin=lines(records))
    found = json.loads(done.stdout) if done.stdout.strip() else json.loads(done.stderr)
    return done.returncode, found.get("error", found)


def rechained(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a proxy that hides its change does: the chain hashes recomputed over what it sends."""
    out, previous = [], chain.GENESIS
    for r in records:
        if r.get("type") == "checkpoint":
            out.append(r)
            continue
        previous = chain.link_digest(
            previous,
            r["position"],
            r["originator_id"],
            r["originator_version"],
            r["topic"],
            bytes.fromhex(r["payload_sha256"]),
        )
        out.append({**r, "chain_hash": previous.hex()})
    return out


def test_json_lines_carry_chain_fields_and_checkpoints_right_after_their_event(store: Any) -> None:
    """issue 13: every line has the chain fields (payload_sha256 is SHA-256 of the stored payload:
    recomputing from them gives each line's chain_hash); each checkpoint line follows the event
    at its position; verify-feed (a process, the public key only) verifies both checkpoints."""
    path, app, clock = store
    records = with_checkpoints(path, app, clock)
    checkpoints = [i for i, r in enumerate(records) if r.get("type") == "checkpoint"]
    assert len(checkpoints) == 2
    for i in checkpoints:
        assert records[i]["schema"] == "mynacard.checkpoint/1"
        assert records[i - 1]["position"] == records[i]["position"] and records[i - 1]["type"] != "checkpoint"
    events = [r for r in records if r.get("type") != "checkpoint"]
    assert [e["position"] for e in events] == list(range(1, len(events) + 1))
    stored = {n.id: n for n in app.recorder.select_notifications(1, 100_000)}
    for e in events:
        assert e["payload_sha256"] == hashlib.sha256(stored[e["position"]].state).hexdigest()
        assert e["topic"] == stored[e["position"]].topic
    assert rechained(records) == records
    key = public_key_file(path)
    code, report = verify_feed(path, key, records)
    assert code == 0, report
    assert report["checkpoints_verified"] == 2 and report["events"] == len(events)
    assert report["unproven_after"] == records[checkpoints[-1]]["position"]


@pytest.mark.parametrize("change", ["remove", "alter", "reorder"])
def test_a_proxy_that_changes_an_event_and_rewrites_the_chain_hashes_fails_at_the_next_checkpoint(
    store: Any, change: str
) -> None:
    """issue 13: the proxy removes an event, changes one's payload digest, or swaps two
    (positions kept increasing), then recomputes every chain hash it sends: no event looks
    wrong by itself, and verify-feed exits 7 at the first checkpoint, naming its position."""
    path, app, clock = store
    records = with_checkpoints(path, app, clock)
    key = public_key_file(path)
    first = next(r for r in records if r.get("type") == "checkpoint")
    victim = next(i for i, r in enumerate(records) if r.get("position") == first["position"] - 5)
    changed = [dict(r) for r in records]
    if change == "remove":
        del changed[victim]
    elif change == "alter":
        changed[victim]["payload_sha256"] = hashlib.sha256(b"another payload").hexdigest()
    else:
        a, b = changed[victim], changed[victim + 1]
        changed[victim] = {**b, "position": a["position"]}
        changed[victim + 1] = {**a, "position": b["position"]}
    code, error = verify_feed(path, key, rechained(changed))
    assert code == 7, error
    assert error["position"] == first["position"], error
    assert "signed checkpoint" in error["problem"]


def test_a_plain_proxy_is_caught_at_the_changed_event_and_a_forged_checkpoint_is_caught(store: Any) -> None:
    """issue 13: an event removed without rewriting the chain hashes fails at the next event (its
    chain hash no longer follows); an event sent twice fails as replayed; a checkpoint whose
    signature is not the store key's fails as forged."""
    path, app, clock = store
    records = with_checkpoints(path, app, clock)
    key = public_key_file(path)
    removed = records[:3] + records[4:]
    code, error = verify_feed(path, key, removed)
    assert code == 7 and error["position"] == records[4]["position"], error
    replayed = [*records[:4], records[3], *records[4:]]
    code, error = verify_feed(path, key, replayed)
    assert code == 7 and "reordered or replayed" in error["problem"], error
    at = next(i for i, r in enumerate(records) if r.get("type") == "checkpoint")
    forged = [dict(r) for r in records]
    forged[at]["signed_at"] = "2099-01-01T00:00:00Z"
    code, error = verify_feed(path, key, forged)
    assert code == 7 and error["position"] == records[at]["position"], error
    assert "not signed by the store's log signing key" in error["problem"]


def test_a_resumed_consumer_starts_from_the_chain_hash_it_kept(store: Any) -> None:
    """issue 13: a consumer resuming after position N with the chain hash it kept there (from the
    event line it handled last) verifies the checkpoints after N; given a wrong hash it fails at
    the first event; without one it anchors on the first event and the checkpoint proves it."""
    path, app, clock = store
    records = with_checkpoints(path, app, clock)
    key = public_key_file(path)
    first = next(r for r in records if r.get("type") == "checkpoint")
    kept = next(
        r for r in records if r.get("position") == first["position"] - 3 and r.get("type") != "checkpoint"
    )
    done = events_cli(path, "--after", str(kept["position"]))
    tail = [json.loads(line) for line in done.stdout.splitlines()]
    code, report = verify_feed(path, key, tail, "--start", f"{kept['position']}:{kept['chain_hash']}")
    assert code == 0 and report["checkpoints_verified"] == 2, report
    code, error = verify_feed(path, key, tail, "--start", f"{kept['position']}:{'00' * 32}")
    assert code == 7 and error["position"] == kept["position"] + 1, error
    code, report = verify_feed(path, key, tail)
    assert code == 0 and report["checkpoints_verified"] == 2, report


def test_the_service_makes_checkpoints_and_its_sse_feed_lets_a_consumer_verify_them(tmp_path: Path) -> None:
    """issue 13: ``serve`` with MYNACARD_CHECKPOINT_INTERVAL=0.3 signs the head once the log grew;
    GET /checkpoints/latest and /checkpoints/public-key need no token; the SSE stream has
    ``event: checkpoint`` frames a ChainFollower with that key verifies, and a stream with one
    event frame dropped fails at the checkpoint. On PostgreSQL two workers make them at once:
    no error, and the feed's checkpoints still verify."""
    settings = service_settings(tmp_path)
    clerk, subscriber = make_token(settings, "clerk"), make_token(settings, "subscriber")
    workers = ("--workers", "2") if backend.POSTGRES else ()  # (makers racing at one head)
    with (
        live_server(settings, *workers, MYNACARD_CHECKPOINT_INTERVAL="0.3") as server,
        server.client() as http,
    ):
        assert http.get("/checkpoints/latest").status_code == 404
        api = Api(http, clerk)  # type: ignore[arg-type]
        card = api.issue_card()
        deadline = time.monotonic() + WAIT
        latest = http.get("/checkpoints/latest")
        while latest.status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
            latest = http.get("/checkpoints/latest")
        assert latest.status_code == 200, latest.text
        assert api.command("suspend", card).status_code == 201
        deadline = time.monotonic() + WAIT
        while http.get("/checkpoints/latest").json()["position"] == latest.json()["position"]:
            assert time.monotonic() < deadline, "no second checkpoint"
            time.sleep(0.1)
        pem = http.get("/checkpoints/public-key")
        assert pem.status_code == 200 and pem.text.startswith("-----BEGIN PUBLIC KEY-----")
        key = load_public_key(pem.text, "GET /checkpoints/public-key")
        r = http.get("/events", params={"follow": "false"}, headers={"Authorization": f"Bearer {subscriber}"})
        assert r.status_code == 200
        log = server.log.read_text()
    assert "checkpoint of the hash chain failed" not in log and "Traceback" not in log, log
    got = list(frames(r.text.splitlines()))
    marks = [f for f in got if f.event == "checkpoint"]
    assert len(marks) >= 2
    follower = ChainFollower(key)
    for f in got:
        if f.data is not None:
            follower.record(f.data)
    assert len(follower.verified) == len(marks)
    dropped = [f for f in got if not (f.event != "checkpoint" and f.id == 3)]
    other = ChainFollower(key, start=ChainLink(0, chain.GENESIS))
    with pytest.raises(Exception, match="position 4"):
        for f in dropped:
            if f.data is not None:
                other.record(f.data)


def test_the_nats_relay_publishes_checkpoints_in_order_and_resumes_after_one(store: Any) -> None:
    """issue 13: ``mynacard relay --once`` (a process, real JetStream) puts each checkpoint right
    after the event at its position on ``<prefix>.chain.checkpoint`` with ``Mynacard-Kind:
    checkpoint``; a ChainFollower over the stream's payloads verifies both; a stream ending on a
    checkpoint is resumed (its header names the position held), publishing only the new events."""
    path, app, clock = store
    records = with_checkpoints(path, app, clock)
    assert cli(path, "checkpoint").returncode == 0  # the stream ends on a checkpoint
    key = load_public_key(public_key_file(path).read_text(), "pem")
    name = uuid4().hex[:12]
    target = Target(stream=f"T_{name.upper()}", prefix=f"t{name}")
    settings = backend.settings(path)
    try:
        first = relay_cli(settings, *target.args("--once")).out
        assert first["checkpoints"] == 3
        messages = stream_messages(target)
        kinds = [m.headers.get("Mynacard-Kind", "event") for m in messages]
        assert kinds.count("checkpoint") == 3 and kinds[-1] == "checkpoint"
        follower = ChainFollower(key)
        for i, m in enumerate(messages):
            if kinds[i] == "checkpoint":
                assert m.subject == f"{target.prefix}.chain.checkpoint"
                assert m.headers["Mynacard-Position"] == m.headers["Mynacard-Checkpoint"]
                assert messages[i - 1].headers["Mynacard-Position"] == m.headers["Mynacard-Checkpoint"]
            follower.record(json.loads(m.data))
        assert len(follower.verified) == 3
        assert follower.events == len([r for r in records if r.get("type") != "checkpoint"])
        again = relay_cli(settings, *target.args("--once")).out
        assert again["published"] == 0 and again["checkpoints"] == 0
        some_cards(app, clock, 9_900_101, n=1)
        more = relay_cli(settings, *target.args("--once")).out
        assert more["published"] > 0 and more["first"] == follower.position + 1
    finally:
        asyncio.run(_delete(target))
