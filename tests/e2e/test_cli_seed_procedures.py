"""Issue 10 §2: every seed procedure the CLI could not record before is recorded through the
``mynacard`` program (subprocesses, as a clerk types it) and read back with ``history``: an
assisted application (申請補助) mailed by 簡易書留 and returned (返戻), then booked for counter
pickup, its lost notice sent again, handed over at an office; the R59 closed day; an expiry notice
mailed and returned; an agent's PIN reset through an inquiry letter; audit as of a position."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli_papercuts_b import mynacard
from tests.e2e.test_cli_stories import Store
from tests.helpers.support import application_id, my_number

PINS = ["--sig-pin", "AB12CD", "--auth-pin", "1234", "--juki-pin", "1234", "--card-details-pin", "1234"]


def ok(store: Store, *args: str, now: str) -> dict[str, object]:
    done = mynacard(store, *args, "--json", now=now)
    assert done.returncode == 0, (args, done.stderr)
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_seed_procedures_are_recorded_through_the_cli_and_read_back(tmp_path: Path) -> None:
    store = Store.new(tmp_path)
    card = application_id()
    ok(
        store,
        "apply",
        "--application-id",
        card,
        "--my-number",
        my_number(10_200_001),
        "--channel",
        "assisted",
        "--applicant-present",
        "--identity-document",
        "driving_history_certificate:issued=平成27年6月1日",
        "--date-of-birth",
        "1980-10-10",
        "--photo-taken-on",
        "2025-03-20",
        now="2025-04-01T09:00",
    )
    ok(store, "accept", card, now="2025-04-10T09:00")
    ok(store, "produce", card, now="2025-05-01T09:00")
    ok(store, "mail-card", card, now="2025-05-02T09:00")
    ok(store, "arrival-notice", card, now="2025-05-03T15:00")
    ok(store, "mail-returned", card, now="2025-05-20T09:00")
    # After 返戻 the card is not mailed again: counter pickup (R03), exit 3 naming the rule.
    again = mynacard(store, "mail-card", card, "--json", now="2025-05-21T09:00")
    assert again.returncode == 3 and json.loads(again.stderr)["error"]["rule"] == "R03"
    ok(store, "send-notice", card, now="2025-05-21T10:00")
    ok(store, "resend-notice", card, now="2025-05-28T10:00")
    ok(
        store,
        "reserve-pickup",
        card,
        "--reserved-for",
        "令和7年6月3日",
        "--office",
        "chuo",
        now="2025-05-28T11:00",
    )
    ok(
        store,
        "hand-over",
        card,
        "--identity-document",
        "passport",
        "--notification-card",
        "collected",
        "--office",
        "chuo",
        *PINS,
        now="2025-06-03T10:00",
    )
    agent = ["--filed-by", "agent", "--filed-by-letter-of-delegation"]
    ok(
        store,
        "send-inquiry",
        card,
        "--procedure",
        "pin_reset",
        "--subject",
        "auth",
        *agent,
        now="2026-08-01T10:00",
    )
    ok(
        store,
        "reset-pin",
        card,
        "--pin",
        "auth",
        "--new-pin",
        "5678",
        "--inquiry-answered",
        *agent,
        now="2026-08-08T10:00",
    )

    # The card expires on 2034-10-10 (R19): J-LIS mails the notice about 3 months before.
    ok(store, "notice-sent", card, now="2034-07-15T09:00")
    ok(store, "notice-undelivered", card, now="2034-07-30T09:00")

    history = ok(store, "history", card, now="2034-08-09T09:00")
    assert isinstance(history, list)
    types = [e["type"] for e in history]
    for recorded in (
        "CardMailed",
        "ArrivalNoticeLeft",
        "MailReturned",
        "PickupNoticeSent",
        "PickupNoticeResent",
        "PickupReserved",
        "Issued",
        "ExpiryNoticeSent",
        "ExpiryNoticeUndelivered",
        "AgentInquiryLetterSent",
        "PinReset",
        "AgentInquiryAnswered",
    ):
        assert recorded in types, recorded
    data = {e["type"]: e["data"] for e in history}
    assert data["CardMailed"]["service"] == "簡易書留"
    assert data["PickupReserved"] == {"reserved_for": "2025-06-03", "office": "chuo"}
    assert data["Issued"]["office"] == "chuo"

    # Audit as of a log position: the card as it was before the handover.
    log = mynacard(store, "events", now="2034-08-09T09:00")
    assert log.returncode == 0, log.stderr
    position = next(
        e["position"] for e in map(json.loads, log.stdout.splitlines()) if e["type"] == "PickupReserved"
    )
    assert (
        ok(store, "status", card, "--at-position", str(position), now="2034-08-09T09:00")["status"]
        == "produced"
    )
