"""The service against its own OpenAPI document (schemathesis 4), as an authenticated clerk, on a
real ``mynacard serve`` process on the run's backend (a store of its own, seeded with cards).

- Every operation of ``/openapi.json`` gets generated requests: the coverage phase's valid
  boundary values (its invalid ones would triple the time), then fuzzed valid and invalid
  requests (``MAX_EXAMPLES`` of each per operation), all from a fixed seed (derandomized). Every
  response must be: no 5xx, a documented status code, a documented content type, a body matching
  the documented schema, documented headers. Each operation is an item of its own.
  Generated requests reach real data: the path's ``card`` is often a seeded card (by application
  id or card id), ``serial`` one of its certificates, the ``Idempotency-Key`` a fresh UUID, the
  times of the query valid ISO or 和暦 times, a command's body sometimes empty (its defaults).
- The happy paths of every role (commands, replays, reads, the auditor's, the supervisor's and the
  admin's operations) and the error classes (401, 403, 404, 409, 422) match the document too:
  generated requests rarely get that far.
- Bugs it found, fixed and kept as tests: a body that is not UTF-8 JSON was answered 400 typed
  not-found (now 422 bad input); a bad body without a token was answered 422 (now 401).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.generation.hypothesis.builder import ApiOperationMark

from commands.config import Settings
from mynacard.service.app import create_app
from tests.helpers.service import Api, LiveServer, in_process, live_server, make_token, service_settings
from tests.helpers.support import my_number

MAX_EXAMPLES = 10
"""Fuzzed requests per operation and generation mode (valid, invalid), besides the coverage phase's."""
SEED = 20261122
schemathesis.serializer.alias("application/ocsp-request", "application/octet-stream")
"""OCSP requests are DER bytes: sent as generated, like any binary body."""
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)


def seed_store(path: Path) -> tuple[Settings, str, dict[str, list[str]]]:
    """A store with cards in it (one active, one suspended, one with a fee due), a clerk token,
    and the values a request may name: application ids, card ids, certificate serials."""
    settings = service_settings(path)
    token = make_token(settings, "clerk")
    known: dict[str, list[str]] = {"card": [], "serial": []}
    with in_process(settings) as client:
        api = Api(client, token)
        active = api.issue_card(my_number=my_number(1))
        suspended = api.issue_card(my_number=my_number(2))
        assert api.command("suspend", suspended).status_code == 201
        lost = api.issue_card(my_number=my_number(3))
        assert api.command("report-loss", lost, lost_at_home=True).status_code == 201
        reissue = api.apply(kind="reissue", reissue_reason="loss", previous_card=lost, my_number=my_number(3))
        for card in (active, suspended, reissue):
            status = api.get(f"/cards/{card}").json()
            known["card"] += [card, status["card_id"]]
            known["serial"] += [c["serial"] for c in status["certificates"]]
    return settings, token, known


def openapi_document() -> dict[str, Any]:
    """``/openapi.json`` as the app builds it (building the app opens no store)."""
    document: dict[str, Any] = create_app(Settings(data_dir=Path("unused"))).openapi()
    return document


known: dict[str, list[str]] = {"card": [], "serial": []}
"""What the seeded store holds (filled by the ``served`` fixture before any request is drawn)."""

schema = schemathesis.openapi.from_dict(
    openapi_document(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "phases": {
                "stateful": {"enabled": False},
                "coverage": {"unexpected-methods": [], "generation": {"mode": "positive"}},
            },
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        }
    ),
)


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    """Most paths name seeded data (the others what was generated)."""
    if not path_parameters:
        return st.just(path_parameters)
    choices = [path_parameters]
    for name in ("card", "serial"):
        if name in path_parameters:
            choices += [{**path_parameters, name: value} for value in known[name]]
    return st.sampled_from(choices)


@schema.hook
def flatmap_headers(context: Any, headers: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    """Most commands carry a fresh UUID as their key (else the key check answers them all)."""
    if not headers or "Idempotency-Key" not in headers:
        return st.just(headers)
    fresh = st.uuids().map(lambda key: {**headers, "Idempotency-Key": str(key)})
    return st.one_of(st.just(headers), fresh, fresh)


WHEN = {
    "as_of": ["2026-04-01", "令和8年4月1日", "2030-12-31"],
    "as_known_at": ["2026-04-01T09:00", "2026-04-02T00:00"],
    "at": ["2026-04-03T12:00", "2026-04-01"],
    "since": ["2026-01-01"],
    "until": ["2026-12-31T23:59"],
    "from": ["2026-04-01"],
    "to": ["2036-04-01", "令和18年4月1日"],
}
"""Valid times for the query parameters documented as free text (ISO or 和暦)."""


@schema.hook
def flatmap_query(context: Any, query: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    """Often the generated times are replaced by valid ones (else nearly every read is a 422)."""
    if not query or not set(query) & set(WHEN):
        return st.just(query)
    valid = st.fixed_dictionaries(
        {k: st.sampled_from(WHEN[k]) if k in WHEN else st.just(v) for k, v in query.items()}
    )
    return st.one_of(st.just(query), valid, valid)


@schema.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    """Sometimes an empty command body: every field of most commands has a default."""
    if not isinstance(body, dict) or not body:
        return st.just(body)
    return st.one_of(st.just(body), st.just({}))


@dataclass
class Served:
    settings: Settings
    server: LiveServer
    token: str  # the clerk's

    def api(self, client: httpx.Client, role: str | None = "clerk") -> Api:
        """Requests as ``role`` (a token made for it; ``None``: no token)."""
        if role is None:
            return Api(client, None)
        return Api(client, self.token if role == "clerk" else make_token(self.settings, role))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings, token, found = seed_store(tmp_path_factory.mktemp("openapi"))
    for name, values in found.items():
        known[name][:] = values
    with live_server(settings) as server:
        yield Served(settings, server, token)


def test_the_served_document_is_the_one_tested(served: Served) -> None:
    r = httpx.get(f"{served.server.url}/openapi.json")
    assert r.status_code == 200
    assert r.json() == openapi_document()
    assert len(list(schema.get_all_operations())) >= 60


HYPOTHESIS = settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def call_and_validate(case: schemathesis.Case[Any], served: Served) -> None:
    case.call_and_validate(base_url=served.server.url, headers={"Authorization": f"Bearer {served.token}"})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each schemathesis item gets its operation as a parameter. pytest 9 builds an item's node id
    from its function's name and its parameters only, so schemathesis's items (one per operation,
    told apart by their names) would share one node id, and pytest-xdist would run only one of
    them (``test_each_operation_is_an_item_of_its_own`` checks that they do not)."""
    if "operation" in metafunc.fixturenames:
        operation = ApiOperationMark.get(metafunc.definition.obj)
        assert operation is not None, "schemathesis no longer marks its tests with their operation"
        metafunc.parametrize("operation", [operation.label], ids=[operation.label])


@schema.parametrize()
@HYPOTHESIS
def test_every_response_matches_the_openapi_document(
    case: schemathesis.Case[Any], served: Served, operation: str
) -> None:
    assert case.operation.label == operation
    call_and_validate(case, served)


def test_each_operation_is_an_item_of_its_own(request: pytest.FixtureRequest) -> None:
    """Every operation of the document is tested, each by an item with a node id of its own."""
    items = [
        item.nodeid
        for item in request.session.items
        if item.nodeid.split("::")[-1].startswith("test_every_response")
    ]
    assert len(items) == len(set(items)), items
    if not request.config.getoption("keyword") and not request.config.getoption("markexpr"):
        assert len(items) == len(list(schema.get_all_operations())), items  # none deselected


# ----------------------------------------------------------------------------- the happy paths


def documented(response: httpx.Response) -> httpx.Response:
    """``response`` has a documented status code and content type, and its body matches the
    schema documented for them (schemathesis's validation; raises its ``FailureGroup`` if not)."""
    request = response.request
    route = ROUTES.match(request.method, request.url.path)
    operation = schema[route][request.method]
    declared = DOCUMENT["paths"][route][request.method.lower()]["responses"]
    status = str(response.status_code)
    assert status in declared, f"{request.method} {route}: {status} is not documented ({sorted(declared)})"
    media_type = response.headers.get("content-type", "").split(";")[0]
    content = declared[status].get("content")
    if content:
        assert media_type in content, (
            f"{request.method} {route} {status}: {media_type} not in {list(content)}"
        )
    operation.validate_response(response)
    return response


class Routes:
    """Which documented path a request's path is (``/cards/123…/suspend`` → ``/cards/{card}/suspend``)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.patterns: list[tuple[re.Pattern[str], str, set[str]]] = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), path, set(methods))
            for path, methods in document["paths"].items()
        ]

    def match(self, method: str, path: str) -> str:
        for pattern, route, methods in self.patterns:
            if method.lower() in methods and pattern.match(path):
                return route
        raise AssertionError(f"{method} {path} is not in the document")


DOCUMENT = openapi_document()
ROUTES = Routes(DOCUMENT)


def test_the_happy_paths_and_the_error_classes_match_the_document(served: Served) -> None:
    with served.server.client() as client:
        clerk = served.api(client)
        card = clerk.issue_card(my_number=my_number(11))
        assert documented(clerk.last).status_code == 201  # the handover
        status = documented(clerk.get(f"/cards/{card}")).json()
        serial = status["certificates"][0]["serial"]
        key = str(uuid.uuid4())
        first = documented(clerk.command("suspend", card, key=key))
        assert first.status_code == 201
        replay = documented(clerk.command("suspend", card, key=key))
        assert replay.status_code == 200
        assert documented(clerk.command("suspend", card, key=key, channel="online")).status_code == 409
        assert documented(clerk.command("suspend", card)).status_code == 422  # R49: already suspended
        assert documented(clerk.command("lift-suspension", card)).status_code == 201
        change = clerk.command(
            "change-info", card, facts=["address"], filed_by={"role": "holder"}, pin_confirmed=True
        )
        assert documented(change).status_code == 201, change.text
        assert documented(clerk.command("pay-fee", card, amount_yen=1)).status_code == 422  # nothing due
        unknown = str(uuid.uuid4())
        assert documented(clerk.command("suspend", unknown)).status_code == 404
        assert documented(clerk.get(f"/cards/{unknown}")).status_code == 404
        for path, params in (
            (f"/cards/{card}", {"as_of": "令和9年4月1日", "purpose": "窓口での確認"}),
            (f"/cards/{card}", {"as_known_at": "2026-04-01T10:00"}),
            (f"/cards/{card}/history", {}),
            (f"/certificates/{serial}", {"at": "2026-04-03T12:00"}),
            (f"/certificates/{serial}/valid-at", {"at": "2026-04-03T12:00"}),
            ("/expiring", {"to": "2036-04-01"}),
            ("/counts", {}),
            ("/policies", {}),
            ("/revocations", {"all": "true"}),
            ("/me", {}),
            ("/healthz", {}),
            ("/readyz", {}),
        ):
            r = documented(clerk.get(path, **params))
            assert r.status_code == 200, (path, r.text)
        person = documented(
            clerk.post("/persons/lookup", {"my_number": my_number(11), "purpose": "本人確認"})
        )
        assert person.status_code == 200, person.text
        assert documented(clerk.post("/persons/lookup", {"my_number": "123"})).status_code == 422

        # Without a token, with the wrong role.
        assert documented(served.api(client, None).get(f"/cards/{card}")).status_code == 401
        assert documented(clerk.get("/access-records")).status_code == 403
        assert documented(clerk.command("invalidate", card, reason="death")).status_code == 403

        auditor = served.api(client, "auditor")
        records = documented(auditor.get("/access-records", subject=card))
        assert records.status_code == 200
        assert records.json()["records"], "the clerk's reads of the card were not recorded"

        supervisor = served.api(client, "supervisor")
        assert documented(supervisor.post("/sweep", {})).status_code == 200
        lost = supervisor.command("report-loss", card, lost_at_home=True)
        assert documented(lost).status_code == 201, lost.text

        admin = served.api(client, "admin")
        made = documented(admin.post("/tokens", {"name": "rp-1", "role": "relying_party"}))
        assert made.status_code == 201
        relying_party = Api(client, made.json()["token"])
        assert (
            documented(relying_party.get(f"/certificates/{serial}/valid-at", at="2026-04-03")).status_code
            == 200
        )
        assert documented(relying_party.get(f"/cards/{card}")).status_code == 403
        assert documented(admin.get("/tokens")).status_code == 200
        revoked = documented(admin.post(f"/tokens/{made.json()['token_id']}/revoke"))
        assert revoked.status_code == 200
        assert documented(relying_party.get("/revocations")).status_code == 401  # revoked at once
        assert documented(admin.post("/tokens/nosuchtoken/revoke")).status_code == 404
        for path in ("/projections", "/metrics"):
            assert documented(admin.get(path)).status_code == 200, path
        for path in ("/rebuild", "/rotate-key"):
            assert documented(admin.post(path)).status_code == 200, path


# ----------------------------------------------------------------------------- known bugs


@pytest.mark.parametrize(
    ("path", "role"), [("/persons/lookup", "clerk"), ("/tokens", "admin"), ("/sweep", "supervisor")]
)
def test_a_body_that_is_not_utf8_is_bad_input(served: Served, path: str, role: str) -> None:
    with served.server.client() as client:
        api = served.api(client, role)
        r = client.post(path, content=b"\xff", headers={**api.headers(), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "/problems/bad-input"
    documented(r)


@pytest.mark.parametrize("path", ["/persons/lookup", "/tokens", "/sweep"])
def test_without_a_token_a_bad_body_is_still_401(served: Served, path: str) -> None:
    r = httpx.post(f"{served.server.url}{path}", content=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 401, r.text
