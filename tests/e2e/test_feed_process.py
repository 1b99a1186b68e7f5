"""The SSE feed of a real ``mynacard serve`` process, read with httpx streaming as a downstream
system would (issue 12, "Feeds for downstream systems"), on the run's backend: resume with
``Last-Event-ID`` gives exactly the events after it and then new ones as they are recorded; the
type filter; heartbeats while idle, the server answering other requests meanwhile; a named
consumer acknowledges, disconnects and reconnects after its acknowledgement; the subscriber role
only; no My Number in any payload."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.service import MY_NUMBER, Api, LiveServer, live_server, make_token, service_settings
from tests.helpers.sse import Frame, frames

pytestmark = pytest.mark.usefixtures("only_the_settings_given")

HEARTBEAT = 0.2
READ = httpx.Timeout(10.0, read=5.0)


@dataclass
class Served:
    server: LiveServer
    client: httpx.Client
    clerk: Api
    subscriber: Api
    card: str

    def headers(self, **extra: str) -> dict[str, str]:
        return self.subscriber.headers(**extra)

    def all_ids(self) -> list[int]:
        r = self.client.get("/events", params={"follow": "false"}, headers=self.headers())
        assert r.status_code == 200, r.text
        return [f.id for f in frames(r.text.splitlines()) if f.id is not None]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = service_settings(tmp_path_factory.mktemp("feed"))
    clerk, subscriber = make_token(settings, "clerk"), make_token(settings, "subscriber")
    env = {"MYNACARD_FEED_HEARTBEAT": str(HEARTBEAT), "MYNACARD_FEED_POLL_INTERVAL": "0.05"}
    with live_server(settings, **env) as server, server.client() as client:
        clerk_api = Api(client, clerk)
        card = clerk_api.issue_card()
        assert clerk_api.command("suspend", card).status_code == 201
        yield Served(server, client, clerk_api, Api(client, subscriber), card)


def take(lines: Iterator[str], n: int) -> list[Frame]:
    """The next ``n`` events of a stream (heartbeats skipped)."""
    out: list[Frame] = []
    for frame in frames(lines):
        if frame.comment is None:
            out.append(frame)
            if len(out) == n:
                break
    return out


def test_resume_with_last_event_id_gives_exactly_the_events_after_it_then_new_ones(served: Served) -> None:
    everything = served.all_ids()
    assert everything == list(range(1, len(everything) + 1))
    n = everything[4]
    headers = served.headers(**{"Last-Event-ID": str(n)})
    with (
        httpx.Client(base_url=served.server.url, timeout=READ) as reader,
        reader.stream("GET", "/events", headers=headers) as r,
    ):
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines()
        assert [f.id for f in take(lines, len(everything) - 5)] == everything[5:]
        # Recorded while the stream waits: delivered next, in order, no gap.
        assert served.clerk.command("lift-suspension", served.card).status_code == 201
        new = [p for p in served.all_ids() if p > everything[-1]]
        got = take(lines, len(new))
        assert [f.id for f in got] == new
        assert got[0].event == "SuspensionLifted" and got[0].data is not None
        assert got[0].data["position"] == new[0] and got[0].data["type"] == "SuspensionLifted"


def test_the_type_filter_keeps_positions_as_ids(served: Served) -> None:
    r = served.client.get(
        "/events", params={"follow": "false", "type": "Suspended,Applied"}, headers=served.headers()
    )
    got = [f for f in frames(r.text.splitlines()) if f.comment is None]
    assert {f.event for f in got} == {"Suspended", "Applied"}
    assert all(f.data is not None and f.data["position"] == f.id for f in got)
    assert [f.id for f in got] == sorted(f.id for f in got if f.id is not None)


def test_heartbeats_when_idle_and_other_requests_are_answered_meanwhile(served: Served) -> None:
    head = served.all_ids()[-1]
    with (
        httpx.Client(base_url=served.server.url, timeout=READ) as a,
        httpx.Client(base_url=served.server.url, timeout=READ) as b,
        a.stream("GET", "/events", params={"after": head, "type": "Lost"}, headers=served.headers()) as first,
        b.stream("GET", "/events", params={"after": head}, headers=served.headers()) as second,
    ):
        beats, started = [], time.monotonic()
        for frame in frames(first.iter_lines()):
            assert frame.comment == "heartbeat", frame
            beats.append(time.monotonic() - started)
            if len(beats) == 4:
                break
        gaps = [later - earlier for earlier, later in itertools.pairwise(beats)]
        assert all(0.1 < gap < 2.0 for gap in gaps), gaps
        # Two streams wait: the server still answers at once.
        t = time.monotonic()
        assert served.client.get("/healthz").status_code == 200
        assert served.subscriber.get("/consumers/nobody").status_code == 200
        assert time.monotonic() - t < 1.0
        assert next(frames(second.iter_lines())).comment == "heartbeat"


def test_a_named_consumer_acknowledges_disconnects_and_resumes_after_its_acknowledgement(
    served: Served,
) -> None:
    everything = served.all_ids()
    params = {"consumer": "e2e-mailing"}
    with httpx.Client(base_url=served.server.url, timeout=READ) as reader:
        with reader.stream("GET", "/events", params=params, headers=served.headers()) as r:
            assert r.status_code == 200, r.read()
            got = take(r.iter_lines(), 5)
            assert [f.id for f in got] == everything[:5]
            acked = served.subscriber.post("/consumers/e2e-mailing/ack", {"position": got[2].id})
            assert acked.status_code == 200, acked.text
            assert acked.json()["checkpoint"] == everything[2]
        # The client went away: its stream ended and gave the consumer's name back at once.
        started = time.monotonic()
        with reader.stream("GET", "/events", params=params, headers=served.headers()) as r:
            assert r.status_code == 200, r.read()
            lines = r.iter_lines()
            again = take(lines, len(everything) - 3)
            assert time.monotonic() - started < 2.5
            assert next(frames(lines)).comment == "heartbeat"  # idle: waiting for new events
        # Gone while idle (no event to send): ended as well.
        started = time.monotonic()
        with reader.stream("GET", "/events", params=params, headers=served.headers()) as r:
            assert r.status_code == 200, r.read()
            assert take(r.iter_lines(), 1)[0].id == everything[3]
            assert time.monotonic() - started < 2.5
    # At-least-once: what was received but not acknowledged comes again.
    assert [f.id for f in again] == everything[3:]
    status = served.subscriber.get("/consumers/e2e-mailing").json()
    assert (status["checkpoint"], status["lag"]) == (everything[2], status["log_head"] - everything[2])


def test_only_the_subscriber_role_reads_the_feed(served: Served) -> None:
    r = served.client.get("/events")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    r = served.client.get("/events", params={"follow": "false"}, headers=served.clerk.headers())
    assert r.status_code == 403 and "subscriber" in r.json()["detail"]
    r = served.clerk.post("/consumers/x/ack", {"position": 1})
    assert r.status_code == 403


def test_no_payload_carries_a_my_number(served: Served) -> None:
    r = served.client.get("/events", params={"follow": "false"}, headers=served.headers())
    body = r.text
    assert MY_NUMBER not in body
    payloads: list[Any] = [
        json.loads(line[len("data: ") :]) for line in body.splitlines() if line.startswith("data: ")
    ]
    assert payloads and all(p["schema"] == "mynacard.event/1" for p in payloads)
    refs = {p["data"]["holder_ref"] for p in payloads if "holder_ref" in p["data"]}
    assert len(refs) == 1 and len(next(iter(refs))) == 64
    assert all(MY_NUMBER not in json.dumps(p) for p in payloads)
    log = Path(served.server.log).read_text()
    assert MY_NUMBER not in log
