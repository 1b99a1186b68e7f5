"""The SSE feed and consumer acknowledgements over HTTP (issue 12, "Feeds for downstream
systems"), in process (FastAPI's ``TestClient`` streaming), on the run's backend: one SSE event
per log position with the documented JSON, resume with ``Last-Event-ID``, the type filter,
heartbeats, named consumers acknowledging (forward only, 409 on a log that does not hold their
checkpoint, 422 beyond the log), one stream per consumer name, and the subscriber role."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from commands.config import Settings
from mynacard.bootstrap import open_checkpoints, open_log, open_staff_registry
from mynacard.service import feed_routes
from mynacard.service.identity import Role
from projections.dead_letters import DELIVERED, Retry
from projections.event_json import feed_event_dict
from projections.subscriptions import DurableConsumer
from storage.interface import EventChain
from tests.helpers.backend import POSTGRES
from tests.helpers.service import MY_NUMBER, Api, in_process, make_token, service_settings
from tests.helpers.sse import Frame, frames

pytestmark = pytest.mark.usefixtures("only_the_settings_given")
DOCS = Path(__file__).parents[2] / "docs" / "events.md"


@dataclass
class Feed:
    settings: Settings
    client: TestClient
    clerk: Api
    subscriber: Api
    card: str

    def stream(self, token: str | None = None, **params: Any) -> list[Frame]:
        """A whole stream (it must end: ``follow=false``, ``limit`` or ``until_position``)."""
        headers = {"Authorization": f"Bearer {token or self.subscriber.token}"}
        headers.update(params.pop("headers", {}))
        with self.client.stream("GET", "/events", params=params, headers=headers) as r:
            assert r.status_code == 200, r.read()
            assert r.headers["content-type"].startswith("text/event-stream")
            assert r.headers["cache-control"] == "no-store"
            return list(frames(r.iter_lines()))

    def ids(self, **params: Any) -> list[int]:
        return [f.id for f in self.stream(**params) if f.id is not None]

    def expected(self) -> dict[int, dict[str, Any]]:
        """Every event of the log as ``feed_event_dict`` gives it (through JSON), by position, its
        chain hash the stored one (issue 13: the feed's recomputed hash is the log's)."""
        log = open_log(self.settings)
        try:
            recorder = log.recorder
            assert isinstance(recorder, EventChain)
            return {
                n.id: json.loads(
                    json.dumps(
                        feed_event_dict(
                            log.mapper.to_domain_event(n),
                            n,
                            recorder.chain_link_at(n.id).chain_hash,  # type: ignore[union-attr]
                        )
                    )
                )
                for n in log.recorder.select_notifications(1, 100_000)
            }
        finally:
            log.close()


@pytest.fixture
def feed(tmp_path: Path) -> Iterator[Feed]:
    settings = service_settings(tmp_path, feed_heartbeat=0.1, feed_poll_interval=0.05, feed_batch=3)
    clerk, subscriber = make_token(settings, "clerk"), make_token(settings, "subscriber")
    with in_process(settings) as client:
        clerk_api = Api(client, clerk)
        card = clerk_api.issue_card()
        assert clerk_api.command("suspend", card).status_code == 201
        assert clerk_api.command("report-loss", card, lost_at_home=True).status_code == 201
        yield Feed(settings, client, clerk_api, Api(client, subscriber), card)


def test_every_position_is_one_sse_event_with_the_documented_json(feed: Feed) -> None:
    expected = feed.expected()
    got = feed.stream(follow="false")
    assert [f.id for f in got] == sorted(expected) == list(range(1, len(expected) + 1))
    assert all(f.comment is None for f in got)
    for f in got:
        assert f.data == expected[f.id]
        assert f.event == f.data["type"] and f.data["position"] == f.id
    assert {"Applied", "Issued", "Suspended", "Lost", "CertificateRevoked"} <= {f.event for f in got}
    holders = {f.data["data"].get("holder_ref") for f in got} - {None}
    assert len(holders) == 1, "a person is the holder reference"
    assert MY_NUMBER not in json.dumps([f.data for f in got])
    # Counted (a subscriber's reads are not itemised).
    registry = open_staff_registry(feed.settings)
    try:
        counts = [c for c in registry.access_counts() if c.route == "/events"]
    finally:
        registry.close()
    assert [(c.role, c.count) for c in counts] == [("subscriber", 1)]


def test_last_event_id_resumes_after_it_and_so_does_after(feed: Feed) -> None:
    everything = sorted(feed.expected())
    n = everything[6]
    assert feed.ids(follow="false", headers={"Last-Event-ID": str(n)}) == everything[7:]
    assert feed.ids(follow="false", after=n) == everything[7:]
    # The header (an EventSource's reconnection) wins over the URL's ?after.
    assert feed.ids(follow="false", after=2, headers={"Last-Event-ID": str(n)}) == everything[7:]
    assert feed.ids(follow="false", headers={"Last-Event-ID": str(everything[-1])}) == []
    assert feed.ids(follow="false", after=0) == everything


def test_the_type_filter_sends_only_those_types_with_their_positions(feed: Feed) -> None:
    expected = feed.expected()
    wanted = sorted(p for p, e in expected.items() if e["type"] in {"Suspended", "Lost"})
    assert len(wanted) == 2
    assert feed.ids(follow="false", type="Suspended,Lost") == wanted
    got = feed.stream(follow="false", type=["Lost", "Suspended"])
    assert [(f.id, f.event) for f in got] == [(p, expected[p]["type"]) for p in wanted]
    revoked = [p for p, e in expected.items() if e["type"] == "CertificateRevoked"]
    assert feed.ids(follow="false", type="CertificateRevoked", after=wanted[0]) == [
        p for p in revoked if p > wanted[0]
    ]


def test_limit_and_until_position_end_the_stream(feed: Feed) -> None:
    everything = sorted(feed.expected())
    assert feed.ids(limit=4) == everything[:4]
    assert feed.ids(until_position=everything[8]) == everything[:9]
    assert feed.ids(until_position=everything[8], type="Lost") == []
    assert feed.ids(after=everything[2], limit=2, until_position=everything[9]) == everything[3:5]


def test_heartbeats_while_idle_and_new_events_as_they_are_recorded(feed: Feed) -> None:
    card = feed.clerk.issue_card()  # another card, suspended while the stream waits
    head = max(feed.expected())

    def later() -> None:
        time.sleep(1.0)
        feed.clerk.command("suspend", card)

    writer = threading.Thread(target=later)
    started = time.monotonic()
    writer.start()
    got = feed.stream(after=head, until_position=head + 1)
    writer.join()
    assert time.monotonic() - started >= 1.0
    assert [f.comment for f in got[:-1]] == ["heartbeat"] * (len(got) - 1)
    assert len(got) >= 4, "a heartbeat every 0.1 s while idle"
    assert (got[-1].id, got[-1].event) == (head + 1, "Suspended")


def test_a_named_consumer_starts_after_its_acknowledged_position(feed: Feed) -> None:
    everything = sorted(feed.expected())
    sub = feed.subscriber
    assert feed.ids(consumer="mailing", follow="false") == everything
    n = everything[5]
    r = sub.post("/consumers/mailing/ack", {"position": n})
    assert r.status_code == 200, r.text
    assert r.json() == {
        "consumer": "mailing",
        "requested": n,
        "previous": 0,
        "checkpoint": n,
        "changed": True,
        "settled": False,
        "log_head": everything[-1],
    }
    # Reconnecting starts after the acknowledgement, whatever Last-Event-ID says (at-least-once).
    assert feed.ids(consumer="mailing", follow="false") == everything[6:]
    assert (
        feed.ids(consumer="mailing", follow="false", headers={"Last-Event-ID": str(everything[-1])})
        == (everything[6:])
    )
    # Forward only; beyond the log is bad input; another consumer is independent.
    back = sub.post("/consumers/mailing/ack", {"position": everything[2]}).json()
    assert (back["checkpoint"], back["changed"]) == (n, False)
    beyond = sub.post("/consumers/mailing/ack", {"position": everything[-1] + 1})
    assert beyond.status_code == 422 and beyond.json()["field"] == "position"
    for body in ({"position": -1}, {"position": "x"}, {}, {"position": 1, "extra": 2}):
        assert sub.post("/consumers/mailing/ack", body).status_code == 422, body
    assert sub.post("/consumers/a%20b/ack", {"position": 1}).json()["field"] == "name"
    status = sub.get("/consumers/mailing").json()
    assert (status["checkpoint"], status["lag"], status["parked"]) == (n, everything[-1] - n, 0)
    assert sub.get("/consumers/nobody").json()["checkpoint"] == 0
    assert feed.ids(consumer="crl/push", follow="false") == everything
    r = sub.post("/consumers/crl/push/ack", {"position": everything[-1]})
    assert r.status_code == 200 and r.json()["consumer"] == "crl/push"
    bad = sub.get("/events", consumer="mailing", after=3)
    assert bad.status_code == 422 and bad.json()["field"] == "after"


def test_a_checkpoint_this_log_does_not_hold_is_a_conflict(feed: Feed) -> None:
    head = max(feed.expected())
    open_checkpoints(feed.settings).reset("restored", head + 50, "0" * 64)
    sub = feed.subscriber
    acked = sub.post("/consumers/restored/ack", {"position": 1})
    assert acked.status_code == 409, acked.text
    assert acked.json()["type"] == "/problems/conflict" and "--reset-to" in acked.json()["hint"]
    streamed = sub.get("/events", consumer="restored")
    assert streamed.status_code == 409 and streamed.json()["field"] == "consumer"
    resumed = feed.client.get("/events", headers={**sub.headers(), "Last-Event-ID": str(head + 1)})
    assert resumed.status_code == 409 and resumed.json()["field"] == "Last-Event-ID"
    # The lease was given back: once reset, the consumer streams.
    open_checkpoints(feed.settings).reset("restored", 0, None)
    assert len(feed.ids(consumer="restored", follow="false")) == head


def test_one_stream_per_consumer_name_and_a_closed_stream_gives_its_name_back(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed_routes, "LEASE_WAIT", 0.3)
    headers = feed.subscriber.headers()
    with feed.client.stream("GET", "/events", params={"consumer": "mailing"}, headers=headers) as r:
        assert r.status_code == 200
        first = next(frames(r.iter_lines()))
        assert first.id == 1
        busy = feed.subscriber.get("/events", consumer="mailing")
        assert busy.status_code == 409 and busy.json()["type"] == "/problems/conflict"
        assert feed.ids(consumer="other", limit=1) == [1]
    assert feed.ids(consumer="mailing", limit=2) == [1, 2]


def test_only_the_subscriber_role_reads_the_feed(feed: Feed) -> None:
    anonymous = Api(feed.client, None)
    for path in ("/events?follow=false", "/consumers/mailing"):
        r = anonymous.get(path)
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert anonymous.post("/consumers/mailing/ack", {"position": 1}).status_code == 401
    for role in (Role.CLERK, Role.SUPERVISOR, Role.AUDITOR, Role.RELYING_PARTY, Role.ADMIN):
        api = Api(feed.client, make_token(feed.settings, role, f"{role.value}-feed"))
        for r in (
            api.get("/events", follow="false"),
            api.get("/consumers/mailing"),
            api.post("/consumers/mailing/ack", {"position": 1}),
        ):
            assert r.status_code == 403, (role, r.text)
            assert "subscriber" in r.json()["detail"]


def test_bad_feed_requests_name_the_parameter(feed: Feed) -> None:
    sub = feed.subscriber
    head = max(feed.expected())
    for params, headers, field in (
        ({"type": "Suspended,Nope"}, {}, "type"),
        ({}, {"Last-Event-ID": "abc"}, "Last-Event-ID"),
        ({}, {"Last-Event-ID": "-4"}, "Last-Event-ID"),
        ({"after": str(head + 1)}, {}, "after"),
        ({"after": "-1"}, {}, "after"),
        ({"limit": "0"}, {}, "limit"),
        ({"consumer": "bad name"}, {}, "consumer"),
    ):
        r = feed.client.get("/events", params=params, headers={**sub.headers(), **headers})
        assert r.status_code == 422, (params, headers, r.text)
        assert r.json()["field"] == field, r.json()


def test_a_parked_event_is_listed_and_an_acknowledgement_of_its_position_settles_it(feed: Feed) -> None:
    everything = sorted(feed.expected())
    k = everything[3]
    log = open_log(feed.settings)
    try:
        consumer = DurableConsumer(
            "renewals", open_checkpoints(feed.settings), log.recorder, log.mapper, retry=Retry(attempts=1)
        )

        def handler(position: int, event: Any) -> None:
            if position == k:
                raise RuntimeError("mail server down")

        consumer.run(handler)
    finally:
        log.close()
    status = feed.subscriber.get("/consumers/renewals").json()
    assert (status["checkpoint"], status["parked"]) == (everything[-1], 1)
    [parked] = status["parked_events"]
    assert (parked["position"], parked["error"], parked["attempts"]) == (
        k,
        "RuntimeError: mail server down",
        1,
    )
    r = feed.subscriber.post("/consumers/renewals/ack", {"position": k})
    assert r.json()["settled"] is True and r.json()["changed"] is False
    assert feed.subscriber.get("/consumers/renewals").json()["parked"] == 0
    letter = open_checkpoints(feed.settings).dead_letter("renewals", k)
    assert letter is not None and letter.state == DELIVERED and letter.resolved_by.startswith("subscriber-1")


def test_events_of_a_whole_stream_in_small_batches_are_all_there_in_order(feed: Feed) -> None:
    """``feed_batch`` is 3 here: the stream reads again and again, and nothing is lost."""
    everything = sorted(feed.expected())
    assert len(everything) > 3 * 5
    assert feed.ids(follow="false") == everything


@pytest.mark.skipif(not POSTGRES, reason="PostgreSQL's NOTIFY wakes the feed; SQLite polls")
def test_on_postgresql_a_new_event_wakes_the_stream_at_once(tmp_path: Path) -> None:
    """The poll interval and the heartbeat are 30 s here: only the log's NOTIFY can wake it."""
    settings = service_settings(tmp_path, feed_heartbeat=30, feed_poll_interval=30)
    clerk, subscriber = make_token(settings, "clerk"), make_token(settings, "subscriber")
    with in_process(settings) as client:
        card = Api(client, clerk).issue_card()
        feed = Feed(settings, client, Api(client, clerk), Api(client, subscriber), card)
        head = max(feed.expected())
        writer = threading.Timer(0.5, lambda: feed.clerk.command("suspend", card))
        started = time.monotonic()
        writer.start()
        got = feed.stream(after=head, until_position=head + 1)
        writer.join()
        assert [(f.id, f.event) for f in got] == [(head + 1, "Suspended")]
        assert time.monotonic() - started < 5.0


def test_the_type_filter_knows_every_documented_event_type() -> None:
    documented = set(re.findall(r"^### `(\w+)` — `([\w.]+)`$", DOCS.read_text(), re.MULTILINE))
    assert set(feed_routes.EVENT_TOPICS.items()) == documented


def test_the_feed_is_closed_with_the_app(tmp_path: Path) -> None:
    settings = service_settings(tmp_path)
    subscriber = make_token(settings, "subscriber")
    with in_process(settings) as client:
        assert Api(client, subscriber).get("/events", follow="false").status_code == 200
        feed = client.app.state.feed
        assert isinstance(feed, feed_routes.Feed)
    assert client.app.state.feed is None
