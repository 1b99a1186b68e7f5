"""The HTTP service through FastAPI's TestClient, on the run's backend: authentication and the
role of every route, problem details naming field and rule, idempotency, access records, the
actor being the authenticated identity, health, readiness and metrics (issue 11)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from mynacard.service.identity import Role
from mynacard.service.roles import IRREVERSIBLE_COMMANDS
from mynacard.service.write_routes import COMMAND_MODELS, route_of
from tests.helpers.service import MY_NUMBER, Api, in_process, make_token, service_settings

pytestmark = pytest.mark.usefixtures("only_the_settings_given")

STAFF = {Role.CLERK, Role.SUPERVISOR, Role.AUDITOR}
ALLOWED: dict[tuple[str, str], set[Role]] = {
    ("GET", "/cards/{card}"): STAFF,
    ("GET", "/cards/{card}/history"): STAFF,
    ("POST", "/persons/lookup"): STAFF,
    ("GET", "/certificates/{serial}"): STAFF,
    ("GET", "/certificates/{serial}/valid-at"): STAFF | {Role.RELYING_PARTY},
    ("POST", "/receipts/valid-at"): STAFF | {Role.RELYING_PARTY},
    ("GET", "/revocations"): STAFF | {Role.RELYING_PARTY},
    ("GET", "/expiring"): STAFF,
    ("GET", "/counts"): STAFF | {Role.ADMIN},
    ("GET", "/policies"): STAFF | {Role.ADMIN},
    ("GET", "/access-records"): {Role.AUDITOR},
    ("GET", "/me"): set(Role),
    ("POST", "/tokens"): {Role.ADMIN},
    ("GET", "/tokens"): {Role.ADMIN},
    ("POST", "/tokens/{token_id}/revoke"): {Role.ADMIN},
    ("GET", "/projections"): {Role.ADMIN},
    ("POST", "/rebuild"): {Role.ADMIN},
    ("POST", "/rotate-key"): {Role.ADMIN},
    ("POST", "/sweep"): {Role.SUPERVISOR},
    ("GET", "/metrics"): {Role.ADMIN},
    ("GET", "/crl"): STAFF | {Role.RELYING_PARTY},
    ("POST", "/ocsp"): STAFF | {Role.RELYING_PARTY},
    ("GET", "/ocsp/{request_b64}"): STAFF | {Role.RELYING_PARTY},
    ("GET", "/certificates/{serial}/status"): STAFF | {Role.RELYING_PARTY},
    ("GET", "/events"): {Role.SUBSCRIBER},
    ("GET", "/consumers/{name}"): {Role.SUBSCRIBER},
    ("POST", "/consumers/{name}/ack"): {Role.SUBSCRIBER},
}
"""Who may call each route (the README's roles table); a command route: clerk and supervisor,
an irreversible one (invalidate, return, lapse) supervisor only; erasure (forget, issue 13)
supervisor and admin."""
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/ca.pem"),
    ("GET", "/checkpoints/latest"),
    ("GET", "/checkpoints/public-key"),
}
"""Routes every caller may use without a token (relying parties need them: issue 12, issue 13)."""

for _model in COMMAND_MODELS:
    ALLOWED[("POST", route_of(_model))] = (
        {Role.SUPERVISOR} if _model.COMMAND in IRREVERSIBLE_COMMANDS else {Role.CLERK, Role.SUPERVISOR}
    )
ALLOWED[("POST", "/persons/forget")] = {Role.SUPERVISOR, Role.ADMIN}


class Staff:
    """A client and one token per role on one in-process service."""

    def __init__(self, client: TestClient, tokens: dict[Role, str]) -> None:
        self.client = client
        self.tokens = tokens

    def as_(self, role: Role) -> Api:
        return Api(self.client, self.tokens[role])

    @property
    def anonymous(self) -> Api:
        return Api(self.client, None)


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return service_settings(tmp_path)


@pytest.fixture
def staff(settings: Any) -> Iterator[Staff]:
    tokens = {role: make_token(settings, role, f"{role.value}-1") for role in Role}
    with in_process(settings) as client:
        yield Staff(client, tokens)


def api_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every operation of the OpenAPI document (the API's routes; the web page's are not in it)."""
    paths = client.get("/openapi.json").json()["paths"]
    return sorted((method.upper(), path) for path, ops in paths.items() for method in ops)


def concrete(path: str) -> str:
    return (
        path.replace("{card}", "12345678901234567890123")
        .replace("{serial}", "0123456789ABCDEF0123")
        .replace("{token_id}", "000000000000")
        .replace("{request_b64}", "MAA=")
        .replace("{name}", "renewal-mailing")
    )


def call(api: Api, method: str, path: str) -> Any:
    if path == "/events":
        return api.get(path, follow="false")  # (the feed streams until the log's end only so)
    if method == "GET":
        return api.get(concrete(path))
    return api.post(concrete(path), {}, key=str(uuid.uuid4()))


# ------------------------------------------------------------------ authentication and roles


def test_every_route_of_the_api_is_in_the_roles_table(staff: Staff) -> None:
    routes = set(api_routes(staff.client))
    assert routes - PUBLIC == set(ALLOWED), "a route without a row in ALLOWED (or a row without a route)"


def test_every_route_refuses_a_request_without_a_token_with_401(staff: Staff) -> None:
    for method, path in ALLOWED:
        r = call(staff.anonymous, method, path)
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_a_revoked_or_made_up_token_is_refused_with_401(staff: Staff) -> None:
    admin = staff.as_(Role.ADMIN)
    made = admin.post("/tokens", {"name": "tanaka", "role": "clerk", "office": "131016"})
    assert made.status_code == 201, made.text
    tanaka = Api(staff.client, made.json()["token"])
    assert tanaka.get("/me").json() == {
        "name": "tanaka",
        "role": "clerk",
        "office": "131016",
        "token_id": made.json()["token_id"],
    }
    assert admin.post(f"/tokens/{made.json()['token_id']}/revoke").status_code == 200
    assert tanaka.get("/me").status_code == 401
    assert Api(staff.client, made.json()["token"][:-2] + "xx").get("/me").status_code == 401
    assert Api(staff.client, "not-a-token").get("/me").status_code == 401
    listed = admin.get("/tokens").json()
    assert all("token" not in t and "token_hash" not in t for t in listed)
    assert {t["name"]: t["revoked_at"] is not None for t in listed}["tanaka"] is True


@pytest.mark.parametrize("role", list(Role))
def test_every_route_answers_403_to_a_role_not_allowed_and_never_to_one_allowed(
    staff: Staff, role: Role
) -> None:
    api = staff.as_(role)
    for (method, path), allowed in sorted(ALLOWED.items()):
        if path == "/rotate-key" or (path == "/rebuild" and role in allowed):
            continue  # exercised by their own tests (they change the store's keys and views)
        r = call(api, method, path)
        if role in allowed:
            assert r.status_code not in (401, 403), (role, method, path, r.text)
        else:
            assert r.status_code == 403, (role, method, path, r.text)
            body = r.json()
            assert body["type"] == "/problems/forbidden" and role.value in body["detail"]


# ------------------------------------------------------------------ commands


def test_the_actor_of_every_recorded_event_is_the_authenticated_identity(staff: Staff) -> None:
    clerk = staff.as_(Role.CLERK)
    card = clerk.issue_card()
    events = clerk.get(f"/cards/{card}/history").json()["events"]
    assert events and {e["actor"] for e in events} == {"clerk-1 (clerk, 131016)"}


def test_the_body_may_not_name_the_actor_or_the_command_id(staff: Staff) -> None:
    clerk = staff.as_(Role.CLERK)
    card = clerk.issue_card()
    r = clerk.command("suspend", card, actor="someone else")
    assert r.status_code == 422 and r.json()["field"] == "actor"
    r = clerk.command("suspend", card, command_id=str(uuid.uuid4()))
    assert r.status_code == 422 and r.json()["field"] == "command_id"
    r = clerk.post(f"/cards/{card}/suspend", {"card": "98765432109876543210987"}, key=str(uuid.uuid4()))
    assert r.status_code == 422 and r.json()["field"] == "card"


def test_a_write_without_an_idempotency_key_is_bad_input_and_records_nothing(staff: Staff) -> None:
    clerk = staff.as_(Role.CLERK)
    card = clerk.issue_card()
    before = len(clerk.get(f"/cards/{card}/history").json()["events"])
    r = clerk.post(f"/cards/{card}/suspend", {})
    assert r.status_code == 422 and r.json()["field"] == "Idempotency-Key"
    r = clerk.post(f"/cards/{card}/suspend", {}, key="not-a-uuid")
    assert r.status_code == 422 and r.json()["field"] == "Idempotency-Key"
    assert len(clerk.get(f"/cards/{card}/history").json()["events"]) == before


def test_a_replayed_key_answers_the_first_result_and_another_body_is_409(staff: Staff) -> None:
    clerk = staff.as_(Role.CLERK)
    card = clerk.issue_card()
    key = str(uuid.uuid4())
    first = clerk.command("suspend", card, key=key)
    again = clerk.command("suspend", card, key=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.headers["Idempotent-Replayed"] == "false" and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["events"] == first.json()["events"] and again.json()["duplicate"] is True
    other = clerk.command("suspend", card, key=key, channel="counter")
    assert other.status_code == 409, other.text
    assert other.json()["type"] == "/problems/conflict" and other.json()["field"] == "Idempotency-Key"
    suspended = [e for e in clerk.get(f"/cards/{card}/history").json()["events"] if e["type"] == "Suspended"]
    assert len(suspended) == 1


def test_R50_a_refusal_by_a_rule_is_a_problem_naming_the_rule_and_records_nothing(staff: Staff) -> None:
    clerk = staff.as_(Role.CLERK)
    card = clerk.issue_card()
    assert clerk.command("suspend", card).status_code == 201
    before = len(clerk.get(f"/cards/{card}/history").json()["events"])
    r = clerk.command(
        "lift-suspension", card, filed_by={"role": "agent", "letter_of_delegation": True}, in_person=True
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert body["type"] == "/problems/rule-violation" and body["rule"] == "R50", body
    assert (
        body["status"] == 422 and body["instance"] == f"/cards/{card}/lift-suspension" and body["request_id"]
    )
    assert len(clerk.get(f"/cards/{card}/history").json()["events"]) == before


def test_R04_bad_input_names_the_field_and_the_rule(staff: Staff) -> None:
    clerk = staff.as_(Role.CLERK)
    r = clerk.command(
        "apply",
        application_id="12345678901234567890123",
        my_number=MY_NUMBER,
        date_of_birth="1980-10-10",
        photo_taken_on="2025-01-01",
    )
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["type"] in ("/problems/bad-input", "/problems/rule-violation")
    assert body.get("rule") == "R04", body
    assert MY_NUMBER not in r.text


def test_an_unknown_card_is_404_and_a_date_in_wareki_is_understood(staff: Staff) -> None:
    clerk = staff.as_(Role.CLERK)
    r = clerk.command("suspend", "98765432109876543210987")
    assert r.status_code == 404 and r.json()["type"] == "/problems/not-found"
    card = clerk.issue_card()
    r = clerk.get(f"/cards/{card}", as_of="令和8年4月2日")
    assert r.status_code == 200 and r.json()["as_of"] == "2026-04-02"
    r = clerk.get(f"/cards/{card}", as_of="2026-13-40")
    assert r.status_code == 422 and r.json()["field"] == "as_of"


def test_the_supervisor_records_an_invalidation_a_clerk_may_not(staff: Staff) -> None:
    card = staff.as_(Role.CLERK).issue_card()
    assert staff.as_(Role.CLERK).command("invalidate", card, reason="death").status_code == 403
    r = staff.as_(Role.SUPERVISOR).command("invalidate", card, reason="death")
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "invalidated"
    assert r.json()["events"][0]["type"]


# ------------------------------------------------------------------ reads and access records


def test_status_as_known_at_replays_what_was_recorded_then(staff: Staff) -> None:
    clerk = staff.as_(Role.CLERK)
    card = clerk.issue_card()
    handed_over = clerk.get(f"/cards/{card}/history").json()["events"][-1]["recorded_at"]
    assert clerk.command("suspend", card).status_code == 201
    assert clerk.get(f"/cards/{card}").json()["status"] == "suspended"
    then = clerk.get(f"/cards/{card}", as_known_at=handed_over).json()
    assert then["status"] == "active" and then["as_known_at"]
    first = clerk.get(f"/cards/{card}/history", at_position=1).json()["events"]
    assert {e["type"] for e in first} == {"Applied", "FeeAssessed"}  # the apply command's events


def test_every_read_of_a_persons_data_is_recorded_and_auditors_query_them(staff: Staff) -> None:
    clerk, auditor = staff.as_(Role.CLERK), staff.as_(Role.AUDITOR)
    card = clerk.issue_card()
    card_id = clerk.get(f"/cards/{card}", purpose="counter enquiry").json()["card_id"]
    clerk.get(f"/cards/{card}/history")
    serial = clerk.get(f"/cards/{card}").json()["certificates"][0]["serial"]
    clerk.get(f"/certificates/{serial}")
    person = clerk.post("/persons/lookup", {"my_number": MY_NUMBER, "purpose": "moving in"})
    assert person.status_code == 200 and person.json()["cards"][0]["holder"] == "XXXX XXXX 9018"
    records = auditor.get("/access-records", name="clerk-1").json()["records"]
    seen = [(r["route"], r["subject_kind"], r["purpose"]) for r in records]
    assert seen == [
        ("/cards/{card}", "card", "counter enquiry"),
        ("/cards/{card}/history", "card", None),
        ("/cards/{card}", "card", None),
        ("/certificates/{serial}", "certificate", None),
        ("/persons/lookup", "person", "moving in"),
    ]
    assert all(r["role"] == "clerk" and r["office"] == "131016" and r["request_id"] for r in records)
    by_card = auditor.get("/access-records", subject=card).json()["records"]
    assert {r["subject"] for r in by_card} == {card_id} and len(by_card) == 3
    assert MY_NUMBER not in str(records)


def test_relying_party_reads_are_counted_not_itemised_and_carry_no_personal_data(staff: Staff) -> None:
    clerk, bank = staff.as_(Role.CLERK), staff.as_(Role.RELYING_PARTY)
    card = clerk.issue_card()
    serial = clerk.get(f"/cards/{card}").json()["certificates"][0]["serial"]
    answer = bank.get(f"/certificates/{serial}/valid-at", at="2026-04-03T10:00")
    assert answer.status_code == 200, answer.text
    assert answer.json()["valid"] is True
    assert not {"card_id", "holder", "holder_ref", "application_id"} & answer.json().keys()
    assert bank.get("/revocations").status_code == 200
    listing = staff.as_(Role.AUDITOR).get("/access-records").json()
    assert not [r for r in listing["records"] if r["role"] == "relying_party"]
    counted = {(c["route"], c["count"]) for c in listing["counted"] if c["role"] == "relying_party"}
    assert counted == {("/certificates/{serial}/valid-at", 1), ("/revocations", 1)}


def test_access_records_cannot_be_altered_in_the_store(staff: Staff, settings: Any) -> None:
    from mynacard.bootstrap import open_staff_registry

    clerk = staff.as_(Role.CLERK)
    clerk.get(f"/cards/{clerk.issue_card()}")
    registry = open_staff_registry(settings)
    try:
        table = getattr(registry, "_prefix", "") + "access_records"
        for statement in (f"DELETE FROM {table}", f"UPDATE {table} SET name = 'x'"):
            with (
                pytest.raises(Exception, match="append-only"),
                registry.datastore.transaction(commit=True) as c,
            ):  # type: ignore[attr-defined]
                c.execute(statement)
        assert len(registry.access_records()) == 1
    finally:
        registry.close()


def test_the_my_number_never_reaches_a_url_a_log_line_or_an_error(
    staff: Staff, caplog: pytest.LogCaptureFixture
) -> None:
    clerk = staff.as_(Role.CLERK)
    with caplog.at_level(logging.DEBUG):
        clerk.post("/persons/lookup", {"my_number": MY_NUMBER})
        bad = clerk.post("/persons/lookup", {"my_number": "123456789019"})
        wrong = clerk.post("/persons/lookup", {"my_number": "12345678901x", "extra": 1})
    assert bad.status_code == 422 and bad.json()["field"] == "my_number" and bad.json()["rule"] == "R01"
    assert wrong.status_code == 422
    for text in (bad.text, wrong.text, caplog.text):
        assert "123456789019" not in text and "12345678901x" not in text and MY_NUMBER not in text
    paths = list(staff.client.get("/openapi.json").json()["paths"])
    assert not [p for p in paths if "my_number" in p]


# ------------------------------------------------------------------ operations


def test_health_readiness_and_metrics(staff: Staff) -> None:
    assert staff.anonymous.get("/healthz").json() == {"status": "ok"}
    ready = staff.anonymous.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    clerk = staff.as_(Role.CLERK)
    card = clerk.issue_card()
    clerk.command("lift-suspension", card, filed_by={"role": "holder"}, in_person=True)
    text = staff.as_(Role.ADMIN).get("/metrics").text
    assert 'mynacard_commands_total{command="hand-over",outcome="recorded"} 1.0' in text
    assert 'mynacard_commands_total{command="lift-suspension",outcome="refused"} 1.0' in text
    assert (
        'mynacard_http_request_duration_seconds_count{method="POST",route="/cards/{card}/produce"} 1.0'
        in text
    )
    assert 'mynacard_projection_lag_events{projection="lifecycle_view"}' in text


def test_sweep_over_http_records_what_time_made_due(staff: Staff) -> None:
    r = staff.as_(Role.SUPERVISOR).post("/sweep", {"until": "2026-04-01"})
    assert r.status_code == 200, r.text
    assert r.json()["until"] == "2026-04-01"
    r = staff.as_(Role.SUPERVISOR).post("/sweep", {"until": "2027-01-01"})
    assert r.status_code == 422 and r.json()["field"] == "until"


def test_unexpected_errors_carry_a_request_id_and_no_traceback(
    staff: Staff, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mynacard.queries import Questions

    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Questions, "counts", boom)
    r = staff.as_(Role.CLERK).get("/counts")
    assert r.status_code == 500
    body = r.json()
    assert body["type"] == "/problems/internal" and body["request_id"] == r.headers["X-Request-Id"]
    assert "secret internals" not in r.text and "Traceback" not in r.text


def test_openapi_documents_every_command_with_its_model_schema(staff: Staff) -> None:
    doc = staff.anonymous.get("/openapi.json").json()
    for model in COMMAND_MODELS:
        op = doc["paths"][route_of(model)]["post"]
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert "actor" not in schema["properties"] and "command_id" not in schema["properties"]
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in op["parameters"])
    assert doc["components"]["securitySchemes"]
    assert staff.anonymous.get("/docs").status_code == 200
