"""The clerks' web page through FastAPI's TestClient, on the test's store (SQLite, or PostgreSQL
with MYNACARD_TEST_DATABASE_URL): signing in and out, the card and person pages, the access
records their reads leave, the "as known at" replay, the procedures' confirmation step, CSRF, the
rule id of a refusal, the roles and the English toggle."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mynacard.bootstrap import open_staff_registry
from mynacard.web.render import actor_parts, wareki
from mynacard.web.session import csrf_value
from tests.helpers.service import MY_NUMBER, PINS, Api, in_process, make_token, service_settings

NUMBER_DIGITS = re.compile(MY_NUMBER)


@dataclass
class Page:
    """A browser-like session on the app: cookies kept by the client."""

    client: Any
    token: str

    def sign_in(self) -> Any:
        form = self.client.get("/signin")
        assert form.status_code == 200, form.text
        r = self.client.post(
            "/signin", data={"token": self.token, "nonce": field(form.text, "nonce"), "next": "/"}
        )
        assert r.status_code == 200 and r.url.path == "/", r.text
        return r

    def csrf(self) -> str:
        return field(self.client.get("/").text, "csrf")

    def procedure(self, card: str, command: str, *, pins: dict[str, str] | None = None, **form: Any) -> Any:
        """Form → confirmation → record, as a clerk clicks through; the last response."""
        page = self.client.get(f"/card/{card}/do/{command}")
        assert page.status_code == 200, page.text
        csrf, command_id = field(page.text, "csrf"), field(page.text, "command_id")
        confirm = self.client.post(
            f"/card/{card}/do/{command}/confirm", data={"csrf": csrf, "command_id": command_id, **form}
        )
        if confirm.status_code != 200:
            return confirm
        data = {"csrf": csrf, "command_id": command_id, "body": field(confirm.text, "body"), **(pins or {})}
        return self.client.post(f"/card/{card}/do/{command}", data=data)


def field(text: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', text)
    assert m, f"no field {name}"
    return html.unescape(m[1])


def main_of(text: str) -> str:
    """The page's main content, its tags removed (what a reader sees)."""
    body = text[text.index("<main") : text.index("</main>")]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return service_settings(tmp_path)


@pytest.fixture
def client(settings: Any) -> Iterator[Any]:
    with in_process(settings) as c:
        yield c


@pytest.fixture
def clerk(settings: Any) -> str:
    return make_token(settings, "clerk", "yamada", "131016")


@pytest.fixture
def api(client: Any, clerk: str) -> Api:
    return Api(client, clerk)


@pytest.fixture
def page(client: Any, clerk: str) -> Page:
    p = Page(client, clerk)
    p.sign_in()
    return p


def events_of(api: Api, card: str) -> list[str]:
    r = api.get(f"/cards/{card}/history")
    assert r.status_code == 200, r.text
    return [e["type"] for e in r.json()["events"]]


def access_records(client: Any, settings: Any, subject: str | None = None) -> list[dict[str, Any]]:
    auditor = Api(client, make_token(settings, "auditor", "audit-1"))
    r = auditor.get("/access-records", **({"subject": subject} if subject else {}))
    assert r.status_code == 200, r.text
    return r.json()["records"]  # type: ignore[no-any-return]


# ---------------------------------------------------------------------- signing in and out


def test_signed_out_every_page_goes_to_the_sign_in_page(client: Any) -> None:
    r = client.get("/", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/signin")
    card = "/card/" + str(uuid.uuid4())
    r = client.get(card, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/signin?next=%2Fcard%2F{card[6:]}"
    assert client.post("/person", data={"my_number": MY_NUMBER}, follow_redirects=False).status_code == 303
    r = client.get("/signin")
    assert r.status_code == 200 and "サインイン" in r.text and 'type="password"' in r.text


def test_sign_in_keeps_the_token_in_a_strict_httponly_cookie_and_sign_out_forgets_it(
    client: Any, clerk: str
) -> None:
    form = client.get("/signin?next=/find")
    r = client.post(
        "/signin",
        data={"token": clerk, "nonce": field(form.text, "nonce"), "next": "/find"},
        follow_redirects=False,
    )
    assert (r.status_code, r.headers["location"]) == (303, "/find")
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("mynacard_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http here; https sets it
    for elsewhere in ("//evil.example/", "https://evil.example/", "/\t/evil.example", "/\\evil.example"):
        form = client.get("/signin")
        r = client.post(
            "/signin",
            data={"token": clerk, "nonce": field(form.text, "nonce"), "next": elsewhere},
            follow_redirects=False,
        )
        assert r.headers["location"] == "/", elsewhere
    home = client.get("/")
    assert home.status_code == 200 and "yamada" in home.text and "131016" in home.text

    assert client.post("/signout", data={}).status_code == 403  # no CSRF value: still signed in
    r = client.post("/signout", data={"csrf": field(home.text, "csrf")}, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/signin")
    assert 'mynacard_session=""' in r.headers["set-cookie"]
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_wrong_token_a_missing_form_value_and_a_revoked_token_are_refused(
    client: Any, clerk: str, settings: Any
) -> None:
    form = client.get("/signin")
    r = client.post("/signin", data={"token": "myn_nope_nope", "nonce": field(form.text, "nonce")})
    assert (
        r.status_code == 401
        and "トークンが無効" in r.text
        and "mynacard_session" not in r.headers.get("set-cookie", "")
    )
    r = client.post("/signin", data={"token": clerk, "nonce": "forged"})
    assert r.status_code == 403 and "mynacard_session=" not in r.headers.get("set-cookie", "")

    Page(client, clerk).sign_in()
    registry = open_staff_registry(settings)
    try:
        assert registry.revoke_token(clerk.split("_")[1], datetime.now(UTC).isoformat(), "test")
    finally:
        registry.close()
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin"


def test_a_role_without_personal_data_gets_a_clear_403_page(client: Any, settings: Any) -> None:
    form = client.get("/signin")
    client.post(
        "/signin",
        data={
            "token": make_token(settings, "relying_party", "bank-1", None),
            "nonce": field(form.text, "nonce"),
        },
    )
    r = client.get("/")
    assert r.status_code == 403
    text = main_of(r.text)
    assert "relying_party" in text and "clerk" in text and "read_personal" in text


def test_an_auditor_reads_the_card_page_but_gets_no_procedure_and_a_403_on_a_form(
    client: Any, settings: Any, api: Api
) -> None:
    card = api.issue_card()
    Page(client, make_token(settings, "auditor", "audit-1")).sign_in()
    r = client.get(f"/card/{card}")
    assert r.status_code == 200 and "/do/suspend" not in r.text
    r = client.get(f"/card/{card}/do/suspend")
    assert r.status_code == 403 and "auditor" in main_of(r.text)


def test_the_pages_stay_out_of_the_openapi_document(client: Any) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p in {"/", "/signin", "/signout", "/find", "/person"} or "/card/" in p]


# ---------------------------------------------------------------------- reading


def test_the_card_page_shows_status_validity_in_wareki_fees_certificates_and_the_timeline(
    page: Page, api: Api, client: Any
) -> None:
    card = api.issue_card()
    r = client.get(f"/find?card={card}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/card/")
    r = client.get(r.headers["location"])
    assert r.status_code == 200
    text = main_of(r.text)
    assert "有効" in text and "利用可" in text
    assert "2035-10-10" in text and "令和17年10月10日" in text  # born 1980-10-10, issued 2026-04-01
    assert "2035-07-11" in text and "令和17年7月11日" in text  # the renewal window opens
    assert "XXXX XXXX 9018" in text and MY_NUMBER not in r.text
    assert "署名用電子証明書" in text and "利用者証明用電子証明書" in text and "R43" in text  # usable from
    assert "0円" in text
    # The timeline: events with effective and recorded times, the actor and the office.
    assert "交付申請" in text and "交付" in text and "電子証明書搭載" in text
    assert "yamada" in text and "(clerk)" in text and "131016" in text
    assert "2026-04-01 09:00:00" in text


def test_an_unknown_or_malformed_card_is_a_page_not_a_traceback(page: Page, client: Any) -> None:
    r = client.get(f"/card/{uuid.uuid4()}")
    assert r.status_code == 404 and "見つかりません" in r.text
    r = client.get("/find?card=12345")
    assert r.status_code == 422 and 'value="12345"' in r.text
    r = client.get(f"/card/{uuid.uuid4()}?as_known_at=yesterday-ish")
    assert r.status_code == 422 and "Traceback" not in r.text


def test_a_person_is_found_by_a_posted_my_number_that_never_appears_in_a_url_or_the_page(
    page: Page, api: Api, client: Any, settings: Any
) -> None:
    first = api.issue_card()
    r = client.post("/person", data={"my_number": MY_NUMBER, "csrf": page.csrf(), "purpose": "窓口"})
    assert r.status_code == 200
    assert MY_NUMBER not in r.text and MY_NUMBER not in str(r.url) and "XXXX XXXX 9018" in r.text
    assert not NUMBER_DIGITS.search(str(r.headers))
    card_id = api.get(f"/cards/{first}").json()["card_id"]
    assert f'href="/card/{card_id}?purpose=' in r.text
    records = [a for a in access_records(client, settings) if a["subject_kind"] == "person"]
    assert records and records[-1]["route"] == "/person" and records[-1]["method"] == "POST"
    assert records[-1]["name"] == "yamada" and records[-1]["purpose"] == "窓口"
    assert MY_NUMBER not in str(records)

    r = client.post("/person", data={"my_number": "123456789012", "csrf": page.csrf()})
    assert r.status_code == 422 and "R01" in r.text and "123456789012" not in r.text
    assert client.post("/person", data={"my_number": MY_NUMBER}).status_code == 403  # no CSRF value


def test_every_page_read_of_a_card_leaves_an_access_record_like_the_api(
    page: Page, api: Api, client: Any, settings: Any
) -> None:
    card = api.issue_card()
    card_id = api.get(f"/cards/{card}").json()["card_id"]
    before = access_records(client, settings, card_id)
    assert client.get(f"/card/{card}?purpose=照会対応").status_code == 200
    after = access_records(client, settings, card_id)
    assert len(after) == len(before) + 1
    record = after[-1]
    assert record["route"] == "/card/{card}" and record["method"] == "GET"
    assert (record["name"], record["role"], record["office"]) == ("yamada", "clerk", "131016")
    assert (record["subject_kind"], record["subject"], record["purpose"]) == ("card", card_id, "照会対応")
    # A page that fails (unknown card) records nothing; a form page shows no personal data.
    client.get(f"/card/{uuid.uuid4()}")
    client.get(f"/card/{card}/do/suspend")
    assert len(access_records(client, settings, card_id)) == len(after)


def test_as_known_at_replays_the_card_page_at_an_earlier_recorded_time(
    page: Page, api: Api, client: Any
) -> None:
    card = api.issue_card()
    issued = next(e for e in api.get(f"/cards/{card}/history").json()["events"] if e["type"] == "Issued")
    assert api.command("suspend", card).status_code == 201
    now = main_of(client.get(f"/card/{card}").text)
    assert "一時停止中" in now and "Suspended" in now
    r = client.get(f"/card/{card}", params={"as_known_at": issued["recorded_at"]})
    assert r.status_code == 200
    then = main_of(r.text)
    assert "再現表示" in then and "一時停止中" not in then and "Suspended" not in then and "有効" in then
    assert "/do/" not in r.text  # no procedure on a replay
    r = client.get(
        f"/card/{card}", params={"as_known_at": "2026-04-01T09:00"}
    )  # as a datetime input sends it
    assert r.status_code == 200 and "申請中" in main_of(r.text)


def test_values_are_escaped_in_the_page(page: Page, api: Api, client: Any) -> None:
    card = api.issue_card()
    r = client.get(f"/card/{card}", params={"purpose": "<script>alert(1)</script>"})
    assert r.status_code == 200 and "<script>" not in r.text and "&lt;script&gt;" in r.text


# ---------------------------------------------------------------------- procedures


def test_a_suspension_through_the_form_is_confirmed_then_recorded_once_by_the_signed_in_clerk(
    page: Page, api: Api, client: Any
) -> None:
    card = api.issue_card()
    form = client.get(f"/card/{card}/do/suspend")
    csrf, command_id = field(form.text, "csrf"), field(form.text, "command_id")
    confirm = client.post(
        f"/card/{card}/do/suspend/confirm",
        data={"csrf": csrf, "command_id": command_id, "channel": "counter"},
    )
    assert confirm.status_code == 200
    shown = main_of(confirm.text)
    assert "記録内容の確認" in shown and "窓口" in shown and "yamada (clerk, 131016)" in shown
    assert "Suspended" not in events_of(api, card)  # nothing recorded before the confirmation
    data = {"csrf": csrf, "command_id": command_id, "body": field(confirm.text, "body")}
    r = client.post(f"/card/{card}/do/suspend", data=data, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?done=suspend")
    done = client.get(r.headers["location"])
    assert "一時停止 を記録しました" in done.text and "一時停止中" in main_of(done.text)
    again = client.post(f"/card/{card}/do/suspend", data=data)  # a double submit
    assert again.status_code == 200 and "すでに記録済み" in again.text
    assert events_of(api, card).count("Suspended") == 1
    event = next(e for e in api.get(f"/cards/{card}/history").json()["events"] if e["type"] == "Suspended")
    assert event["actor"] == "yamada (clerk, 131016)" and event["command_id"] == command_id
    assert event["data"]["channel"] == "counter"


def test_the_confirmation_can_go_back_to_the_form_with_its_values(page: Page, api: Api, client: Any) -> None:
    card = api.issue_card()
    form = client.get(f"/card/{card}/do/report-loss")
    csrf, command_id = field(form.text, "csrf"), field(form.text, "command_id")
    confirm = client.post(
        f"/card/{card}/do/report-loss/confirm",
        data={
            "csrf": csrf,
            "command_id": command_id,
            "lost_at_home": "on",
            "filed_by.role": "household_member",
        },
    )
    back = client.post(
        f"/card/{card}/do/report-loss/edit",
        data={"csrf": csrf, "command_id": command_id, "body": field(confirm.text, "body")},
    )
    assert back.status_code == 200 and field(back.text, "command_id") == command_id
    assert re.search(r'name="lost_at_home" checked', back.text)
    assert re.search(r'<option value="household_member" selected>', back.text)
    damaged = {"csrf": csrf, "command_id": command_id, "body": '{"filed_by": "x"}'}
    assert client.post(f"/card/{card}/do/report-loss/edit", data=damaged).status_code == 200
    r = client.post(f"/card/{card}/do/report-loss", data={**damaged, "body": "[1]"})
    assert r.status_code == 422 and "Lost" not in events_of(api, card)


def test_forms_without_the_sessions_csrf_value_are_refused_and_record_nothing(
    page: Page, api: Api, client: Any, settings: Any
) -> None:
    card = api.issue_card()
    command_id = str(uuid.uuid4())
    body = {"command_id": command_id, "body": '{"channel": "counter"}'}
    another_session = csrf_value(make_token(settings, "clerk", "sato"))
    for csrf in (None, "0" * 64, another_session):
        data = body if csrf is None else {**body, "csrf": csrf}
        r = client.post(f"/card/{card}/do/suspend", data=data)
        assert r.status_code == 403 and "有効期限切れ" in r.text
        r = client.post(f"/card/{card}/do/suspend/confirm", data=data)
        assert r.status_code == 403
    assert "Suspended" not in events_of(api, card)


def test_a_refused_procedure_shows_the_rule_id_and_records_nothing(page: Page, api: Api, client: Any) -> None:
    card = api.issue_card()
    assert page.procedure(card, "suspend", channel="call_centre").status_code == 200
    r = page.procedure(card, "report-loss", police_report="on")
    assert r.status_code == 200 and "紛失届 を記録しました" in r.text and "廃止" in main_of(r.text)
    before = events_of(api, card)
    r = page.procedure(card, "lift-suspension", in_person="on")
    assert r.status_code == 422
    text = main_of(r.text)
    assert "記録できませんでした" in text and "規則 R50" in text and "abolished" in text
    assert "何も記録されていません" in text
    assert events_of(api, card) == before


def test_bad_input_is_shown_on_the_form_with_its_field_before_the_confirmation(
    page: Page, api: Api, client: Any
) -> None:
    card = api.issue_card()
    r = page.procedure(card, "change-info")  # no fact ticked
    assert r.status_code == 422
    assert (
        "入力に誤りがあります" in r.text and "facts" in r.text and 'class="field bad kind-checks"' in r.text
    )
    r = page.procedure(
        card, "change-info", facts="address", **{"filed_by.role": "holder"}, pin_confirmed="on"
    )
    assert r.status_code == 200 and "券面記載事項変更 を記録しました" in r.text
    assert "AddressChanged" in events_of(api, card) or "CardInformationChanged" in events_of(api, card)


def test_a_card_is_handed_over_through_the_form_with_pins_typed_at_the_confirmation(
    page: Page, api: Api, client: Any
) -> None:
    card = api.apply()
    for command in ("accept", "produce", "send-notice"):
        assert api.command(command, card).status_code == 201
    form = {"identity_documents": "driving_licence", "notification_card": "collected"}
    r = page.procedure(card, "hand-over", pins=PINS, **form)
    assert r.status_code == 200, main_of(r.text)
    assert "交付 を記録しました" in r.text and "有効" in main_of(r.text)
    assert not any(pin in r.text for pin in ("ABC123",))
    issued = next(e for e in api.get(f"/cards/{card}/history").json()["events"] if e["type"] == "PinsSet")
    assert sorted(issued["data"]["pins"]) == ["auth", "card_details", "juki", "sig"]
    # A PIN of the wrong form is refused with its rule, and never shown back.
    other = api.apply(my_number="987654321018")  # another person (R63: one card in use per person)
    for command in ("accept", "produce", "send-notice"):
        api.command(command, other)
    r = page.procedure(other, "hand-over", pins={**PINS, "auth_pin": "12x4"}, **form)
    assert r.status_code == 422 and "R54" in r.text and "12x4" not in r.text


# ---------------------------------------------------------------------- language and display


def test_english_with_a_toggle_kept_in_a_cookie(page: Page, client: Any) -> None:
    r = client.get("/?lang=en")
    assert r.status_code == 200 and "Find a card" in r.text and '<html lang="en">' in r.text
    assert 'href="/?lang=ja"' in r.text and "日本語" in r.text
    assert "Find a card" in client.get("/").text  # the cookie keeps it
    r = client.get("/?lang=ja")
    assert "カードを探す" in r.text and "カードを探す" in client.get("/").text


def test_days_are_shown_in_wareki_and_actors_are_split() -> None:
    assert wareki("2036-10-10") == "令和18年10月10日"
    assert wareki("2019-05-01") == "令和元年5月1日"
    assert wareki("2019-04-30") == "平成31年4月30日"
    assert wareki("1989-01-07") == "昭和64年1月7日"
    assert wareki("2026-04-01T09:00:00+09:00") == "令和8年4月1日"
    assert wareki(None) == "" and wareki("not a day") == ""
    assert actor_parts("yamada (clerk, 131016)") == {"name": "yamada", "role": "clerk", "office": "131016"}
    assert actor_parts("admin-1 (admin)") == {"name": "admin-1", "role": "admin", "office": ""}
    assert actor_parts("clerk-7") == {"name": "clerk-7", "role": "", "office": ""}
