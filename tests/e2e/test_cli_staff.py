"""The staff subcommands of the CLI (issue 11): ``token create|list|revoke`` and
``access-records``, as a real process on the test's store; a token made here is the one the
service accepts, and only its hash is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.backend import raw_storage
from tests.helpers.recorded_store import cli
from tests.helpers.service import Api, in_process, new_my_number, service_settings

pytestmark = pytest.mark.usefixtures("only_the_settings_given")


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return service_settings(tmp_path)


def test_a_token_is_printed_once_stored_as_a_hash_and_revoked_at_once(settings: Any) -> None:
    made = cli(settings, "token", "create", "--name", "sato", "--role", "clerk", "--office", "131016").out
    token = made["token"]
    assert token.startswith("myn_") and made["role"] == "clerk"
    assert not any(token.encode() in blob for blob in raw_storage(settings).values())
    listed = cli(settings, "token", "list").out
    assert [(t["name"], t["role"], t["office"], t["revoked_at"]) for t in listed] == [
        ("sato", "clerk", "131016", None)
    ]
    assert all(token not in str(t) for t in listed)
    with in_process(settings) as client:
        assert Api(client, token).get("/me").json()["name"] == "sato"
        revoked = cli(settings, "token", "revoke", made["token_id"]).out
        assert revoked["token_id"] == made["token_id"]
        assert Api(client, token).get("/me").status_code == 401
    again = cli(settings, "token", "revoke", made["token_id"])
    assert again.returncode == 4 and again.error["issues"][0]["field"] == "token_id"


def test_a_token_needs_a_known_role(settings: Any) -> None:
    run = cli(settings, "token", "create", "--name", "x", "--role", "superuser")
    assert run.returncode == 2 and "superuser" in run.stderr


def test_access_records_list_who_read_which_card(settings: Any) -> None:
    clerk_token = cli(settings, "token", "create", "--name", "sato", "--role", "clerk").out["token"]
    with in_process(settings) as client:
        clerk = Api(client, clerk_token)
        card = clerk.issue_card()
        clerk.get(f"/cards/{card}", purpose="窓口での照会")
        other = clerk.issue_card(my_number=new_my_number())
        clerk.get(f"/cards/{other}")
    records = cli(settings, "access-records", "--subject", card).out["records"]
    seen = [(r["name"], r["route"], r["purpose"]) for r in records]
    assert seen == [("sato", "/cards/{card}", "窓口での照会")]
    assert len(cli(settings, "access-records").out["records"]) == 2
    assert cli(settings, "access-records", "--name", "tanaka").out["records"] == []
