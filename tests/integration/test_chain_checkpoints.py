"""Signed checkpoints of the hash chain (issue 13): ``mynacard checkpoint`` signs the chain head
(position, chain hash, time, store id) with the store's Ed25519 key; the table keeps them
append-only, one per position, also when makers race; ``verify --chain`` (and ``rebuild``'s check)
verifies each checkpoint's signature first and uses them as pins, so a log cut short at its end
(events and chain rows deleted) or rewritten below a checkpoint (its chain recomputed), which
the chain alone cannot tell from an intact log, is caught: exit 7 naming the position.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from commands.application import CardLifecycle
from mynacard.bootstrap import open_log, open_write_side
from mynacard.integrity.checkpoints import make_checkpoint, open_chain_checkpoints
from mynacard.integrity.signing import load_public_key, open_log_signer
from projections.chain_audit import verify_chain
from storage import chain
from storage.chain_checkpoints import SignedCheckpoint, signature_holds
from storage.interface import CommandLog
from tests.helpers import backend
from tests.helpers.consumers import clean_env, some_cards
from tests.helpers.service import Api, in_process, make_token, service_settings
from tests.helpers.sse import frames
from tests.helpers.support import Clock


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Path, CardLifecycle, Clock]]:
    app = open_write_side(backend.settings(tmp_path))
    clock = Clock("2020-05-01T09:00")
    app.clock = clock
    app.clock_tolerance = None
    yield tmp_path, app, clock
    app.close()


def cli(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mynacard", *args],
        env=clean_env(path),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def checkpoint(path: Path) -> dict[str, Any]:
    done = cli(path, "checkpoint", "--json")
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def tables() -> dict[str, str]:
    if backend.POSTGRES:
        return {
            "events": "mynacard_events",
            "position": "notification_id",
            "chain": "mynacard_event_chain",
            "checkpoints": "mynacard_chain_checkpoints",
        }
    return {
        "events": "stored_events",
        "position": "rowid",
        "chain": "event_chain",
        "checkpoints": "chain_checkpoints",
    }


def sql(path: Path, table: str, statement: str, *params: object) -> int:
    return backend.tamper(backend.settings(path), "mynacard.sqlite", tables()[table], statement, params)


def verify_chain_cli(path: Path) -> tuple[int, dict[str, Any]]:
    done = cli(path, "verify", "--chain", "--json")
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else {"stderr": done.stderr}


def recompute_chain(path: Path) -> None:
    """What an insider with database access does after deleting an event: the chain recomputed
    over what is left, so the chain alone holds again."""
    upstream = open_log(backend.settings(path))
    try:
        log = upstream.recorder
        assert isinstance(log, CommandLog)
        rows = log.chain_rows(0, 100_000)
    finally:
        upstream.close()
    sql(path, "chain", "DELETE FROM {table}")
    previous = chain.GENESIS
    for row in rows:
        if row.state is None:
            continue
        assert row.originator_id is not None and row.topic is not None and row.originator_version is not None
        previous = chain.link(
            previous, row.position, row.originator_id, row.originator_version, row.topic, row.state
        )
        sql(path, "chain", "INSERT INTO {table} VALUES (?, ?)", row.position, previous)


def test_checkpoint_signs_the_chain_head_and_only_once_while_the_log_does_not_grow(store: Any) -> None:
    """issue 13: the printed checkpoint names the head's position and chain hash, verifies with
    the store's public key, and a second run without new events gives the same one back."""
    path, app, clock = store
    some_cards(app, clock, 9_800_001, n=1)
    head = app.command_log.chain_head()
    assert head is not None
    made = checkpoint(path)
    assert made["new"] is True and made["type"] == "checkpoint"
    assert made["position"] == head.position and made["chain_hash"] == head.chain_hash.hex()
    assert made["store_id"] == app.command_log.store_identity().store_id
    signer = open_log_signer(backend.settings(path), app.command_log)
    key = load_public_key(signer.public_key_pem, "test")
    assert signature_holds(SignedCheckpoint.from_dict(made), key)
    again = checkpoint(path)
    assert again["new"] is False and again["signature"] == made["signature"]
    some_cards(app, clock, 9_800_011, n=1)
    newer = checkpoint(path)
    assert newer["new"] is True and newer["position"] > made["position"]
    code, report = verify_chain_cli(path)
    assert code == 0 and report["ok"], report


def test_events_deleted_from_the_end_with_their_chain_rows_are_caught_only_by_the_checkpoint(
    store: Any,
) -> None:
    """issue 13: the chain alone holds (the rest of it is intact); the signed checkpoint at the old
    head says the log reached further: exit 7 naming the position after the log's new end."""
    path, app, clock = store
    some_cards(app, clock, 9_800_101, n=2)
    made = checkpoint(path)
    head = made["position"]
    t = tables()
    assert sql(path, "chain", "DELETE FROM {table} WHERE position > ?", head - 3) == 3
    assert sql(path, "events", f"DELETE FROM {{table}} WHERE {t['position']} > ?", head - 3) == 3
    assert verify_chain(app.command_log).ok, "the chain without its checkpoints does not see it"
    code, report = verify_chain_cli(path)
    assert code == 7, report
    assert report["first_break"]["position"] == head - 2
    assert f"checkpoint at position {head}" in report["first_break"]["problem"]
    refused = cli(path, "rebuild", "--json")
    assert refused.returncode == 7, refused.stdout + refused.stderr


def test_an_event_deleted_and_the_chain_recomputed_is_caught_at_the_checkpoint(store: Any) -> None:
    """issue 13: deleting a card's event below a checkpoint and recomputing the whole chain leaves
    a chain that holds by itself; the checkpoint's signed hash does not: exit 7 at its position."""
    path, app, clock = store
    some_cards(app, clock, 9_800_201, n=2)
    made = checkpoint(path)
    t = tables()
    victim = made["position"] - 4
    assert sql(path, "events", f"DELETE FROM {{table}} WHERE {t['position']} = ?", victim) == 1
    recompute_chain(path)
    assert verify_chain(app.command_log).ok
    code, report = verify_chain_cli(path)
    assert code == 7, report
    assert report["first_break"]["position"] == made["position"]
    assert "signed checkpoint" in report["first_break"]["problem"]


def test_a_checkpoint_with_a_bad_signature_is_itself_tampering(store: Any) -> None:
    """issue 13: a checkpoint row the store's key did not sign (here: inserted with another
    signature) fails verify --chain with exit 7 naming its position, before any walk."""
    path, app, clock = store
    some_cards(app, clock, 9_800_301, n=1)
    made = checkpoint(path)
    forged_at = made["position"] - 2
    link = app.command_log.chain_link_at(forged_at)
    assert link is not None
    statement = "INSERT INTO {table} VALUES (?, ?, ?, ?, ?, ?)"
    values = (
        forged_at,
        link.chain_hash.hex(),
        made["signed_at"],
        made["store_id"],
        made["key_id"],
        made["signature"],
    )
    assert sql(path, "checkpoints", statement, *values) == 1
    code, report = verify_chain_cli(path)
    assert code == 7, report
    assert report["first_break"]["position"] == forged_at
    assert "not signed by the store's log signing key" in report["first_break"]["problem"]


def test_checkpoints_are_append_only(store: Any) -> None:
    """issue 13: the table refuses to change or delete a checkpoint (an insider must drop the
    table's guard first, which is not hidden either)."""
    path, app, clock = store
    some_cards(app, clock, 9_800_401, n=1)
    made = checkpoint(path)
    for statement in ("UPDATE {table} SET chain_hash = 'x'", "DELETE FROM {table}"):
        with pytest.raises(Exception, match="append-only"):
            sql(path, "checkpoints", statement)
    assert checkpoint(path)["signature"] == made["signature"]


def test_makers_racing_at_one_head_store_one_checkpoint_and_all_get_it(store: Any) -> None:
    """issue 13 (serve --workers N): eight makers at once, each with its own connections, at one
    chain head: no error, one row, every maker gets the same checkpoint back."""
    path, app, clock = store
    some_cards(app, clock, 9_800_501, n=1)
    settings = backend.settings(path)
    signer = open_log_signer(settings, app.command_log)
    results: list[Any] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def maker() -> None:
        store_ = open_chain_checkpoints(settings)
        try:
            barrier.wait()
            results.append(make_checkpoint(app.command_log, store_, signer, datetime.now(UTC)))
        except BaseException as e:
            errors.append(e)
        finally:
            store_.close()

    threads = [threading.Thread(target=maker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len({r.checkpoint for r in results}) == 1
    kept = open_chain_checkpoints(settings)
    try:
        assert len(kept.checkpoints()) == 1
    finally:
        kept.close()


def test_the_service_serves_checkpoints_without_a_token_and_puts_them_in_the_sse_feed(tmp_path: Path) -> None:
    """issue 13: GET /checkpoints/latest is a 404 problem before the first checkpoint and then the
    newest one; GET /checkpoints/public-key is the PEM it verifies with (no token for either);
    the SSE feed sends ``event: checkpoint`` right after the event at its position, also with a
    type filter and when ``limit`` ends the stream on that event; a stream resumed after the
    checkpoint's position does not send it again."""
    settings = service_settings(tmp_path, checkpoint_interval=0)
    clerk, subscriber = make_token(settings, "clerk"), make_token(settings, "subscriber")
    with in_process(settings) as client:
        missing = client.get("/checkpoints/latest")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        Api(client, clerk).issue_card()
        made = checkpoint(tmp_path)
        latest = client.get("/checkpoints/latest")
        assert latest.status_code == 200 and latest.json() == {k: v for k, v in made.items() if k != "new"}
        pem = client.get("/checkpoints/public-key")
        assert pem.status_code == 200 and pem.headers["content-type"].startswith("application/x-pem-file")
        assert signature_holds(SignedCheckpoint.from_dict(latest.json()), load_public_key(pem.text, "pem"))
        at = made["position"]

        def stream(**params: Any) -> list[Any]:
            headers = {"Authorization": f"Bearer {subscriber}"}
            with client.stream("GET", "/events", params={"follow": "false", **params}, headers=headers) as r:
                assert r.status_code == 200
                return list(frames(r.iter_lines()))

        got = stream()
        kinds = [(f.id, f.event == "checkpoint") for f in got]
        assert kinds[-1] == (at, True) and kinds[-2] == (at, False)
        assert [f.id for f in got if f.event != "checkpoint"] == list(range(1, at + 1))
        assert got[-1].data == latest.json()
        assert [(f.id, f.event) for f in stream(limit=at)][-1] == (at, "checkpoint")
        filtered = stream(type="Suspended")
        assert [(f.id, f.event) for f in filtered] == [(at, "checkpoint")]
        assert stream(after=at) == []
        assert [f.event for f in stream(after=at - 1)] == [got[-2].event, "checkpoint"]
