"""A store written by an earlier version still loads, replays and verifies (issue 9).

``tests/fixtures/store-v1/`` was written on 2026-12-01 by ``tests/fixtures/make_store_v1.py``
with the code of that day (event payloads bound to their rows, a key rotation half way, the store
identity tables), together with what that code answered about it. Today's code must give the
same answers: stored events outlive code moves. This test stays forever; the fixture is never
regenerated to make it pass.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.make_store_v1 import cli, run
from tests.helpers.backend import POSTGRES
from tests.helpers.support import my_number

pytestmark = pytest.mark.skipif(
    POSTGRES, reason="the stored fixture is a SQLite file: this test runs in the SQLite pass"
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "store-v1"
EXPECTED: dict[str, Any] = json.loads((FIXTURE / "answers.json").read_text())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("store-v1")
    for name in ("mynacard.sqlite", "cipher.keys"):
        shutil.copy(FIXTURE / name, data_dir / name)
    return data_dir


PERIOD_RULES = {"AUTH": "R35", "SIG": "R36", "SP-SIG": "R46", "SP-AUTH": "R46"}


def as_answered_then(answer: Any, then: Any) -> Any:
    """``answer`` restricted to the fields answered then: the JSON shapes only grow (README),
    so fields added since (e.g. a certificate's ``renewal_window``, issue 10) are left out;
    every field answered then must be answered with the same value."""
    if isinstance(then, dict) and isinstance(answer, dict):
        return {k: as_answered_then(answer[k], v) if k in answer else "<missing>" for k, v in then.items()}
    if isinstance(then, list) and isinstance(answer, list) and len(then) == len(answer):
        return [as_answered_then(a, t) for a, t in zip(answer, then, strict=True)]
    return answer


def answered_then(status: dict[str, Any]) -> dict[str, Any]:
    """The expected status with the one deliberate change since: a valid certificate cites the rule
    of its validity period (R35 AUTH, R36 SIG, R46 smartphone), no longer R42, which is a
    revocation rule (issue 10 §3)."""
    certificates = [
        {**c, "rule": PERIOD_RULES[c["kind"]]} if c["valid_at"] and c["rule"] == "R42" else c
        for c in status["certificates"]
    ]
    return {**status, "certificates": certificates}


@pytest.mark.parametrize("name", sorted(EXPECTED["cards"]))
def test_every_card_of_the_old_store_answers_as_it_did(store: Path, name: str) -> None:
    card = EXPECTED["cards"][name]
    then = answered_then(EXPECTED["status"][name])
    assert as_answered_then(cli(store, "status", card), then) == then
    history = [[e["type"], e["version"], e["effective_at"]] for e in cli(store, "history", card)]
    assert history == EXPECTED["history"][name]


def test_R14_the_old_stores_handovers_read_with_the_default_office(store: Path) -> None:
    """Issue 13: ``Issued`` was version 1 then (no office); upcast to version 2, each hand-over of
    the old store shows ``(not recorded)`` in its card's history."""
    offices = {
        name: [e["data"]["office"] for e in cli(store, "history", card) if e["type"] == "Issued"]
        for name, card in EXPECTED["cards"].items()
    }
    handed_over = {
        name for name, events in EXPECTED["history"].items() if ["Issued"] in [e[:1] for e in events]
    }
    assert handed_over == {"active", "lost", "suspended"}
    assert offices == {name: ["(not recorded)"] if name in handed_over else [] for name in EXPECTED["cards"]}


def test_validity_counts_revocations_and_verify_of_the_old_store(store: Path) -> None:
    for serial, valid in EXPECTED["valid_at"].items():
        assert cli(store, "valid-at", serial, "--at", "2024-09-01T12:00")["valid"] is valid, serial
    assert cli(store, "counts") == EXPECTED["counts"]
    revocations = cli(store, "revocations", "--all")
    assert revocations["list_number"] == EXPECTED["revocations"]["list_number"]
    assert revocations["entries"] == EXPECTED["revocations"]["entries"]
    # Issue 13: the views still equal the fold of the log, but the log was written before the
    # hash chain, so verify says so (exit 7) until 'chain --init' chained it, once.
    unchained = run(store, "verify")
    assert unchained.returncode == 7, unchained.stderr
    report = json.loads(unchained.stdout)
    assert report["differences"] == []
    assert report["chain"]["unchained"] == 47  # every event of the fixture store
    assert cli(store, "chain", "--init")["chained"] == 47
    assert cli(store, "chain", "--init")["chained"] == 0
    verified = cli(store, "verify")
    assert verified["ok"] is True
    assert verified["chain"]["ok"] is True
    assert (verified["cards"], verified["certificates"]) == (
        EXPECTED["verify"]["cards"],
        EXPECTED["verify"]["certificates"],
    )


def apply_args(seed: int) -> list[str]:
    return [
        "apply",
        "--application-id",
        f"{seed:023d}",
        "--my-number",
        my_number(seed),
        "--date-of-birth",
        "1980-10-10",
        "--photo-taken-on",
        "2026-11-01",
    ]


def test_R62_R65_an_old_store_files_its_cards_under_their_persons_once_then_the_person_rules_hold(
    tmp_path: Path,
) -> None:
    """Stores written before R62–R65 keep working: reads and other writes as before; the commands
    that need a person's whole standing are refused (exit 6, nothing written) until
    ``migrate-holders`` ran; after it, R63 sees the old cards."""
    for name in ("mynacard.sqlite", "cipher.keys"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    counts = cli(tmp_path, "counts")
    refused = run(tmp_path, *apply_args(7_000_001))
    assert refused.returncode == 6, refused.stderr
    assert "migrate-holders" in json.loads(refused.stderr)["error"]["message"]
    assert cli(tmp_path, "counts") == counts
    # Issue 13: a store written before the hash chain refuses every write until 'chain --init'.
    refused = run(tmp_path, "migrate-holders")
    assert refused.returncode == 6, refused.stderr
    assert "chain --init" in json.loads(refused.stderr)["error"]["message"]
    assert cli(tmp_path, "counts") == counts
    assert cli(tmp_path, "chain", "--init")["chained"] == 47

    report = cli(tmp_path, "migrate-holders")
    assert (report["persons"], report["cards"], report["already_filed"]) == (4, 4, 0)
    assert report["by_type"] == {"EarlierCardsFiled": 4, "HolderOpened": 4}

    # R63 now sees the person's card in use (7_000_001) and application in progress (7_000_004).
    for seed in (7_000_001, 7_000_004):
        done = run(tmp_path, *apply_args(seed))
        assert done.returncode == 3, done.stderr
        assert json.loads(done.stderr)["error"]["rule"] == "R63"
    assert cli(tmp_path, *apply_args(7_000_099))["status"] == "applied"

    # Idempotent: the 4 persons filed, and the one who applied since, are all filed already.
    again = cli(tmp_path, "migrate-holders")
    assert (again["persons"], again["already_filed"], again["events_recorded"]) == (5, 5, 0)
