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

from tests.fixtures.make_store_v1 import cli
from tests.helpers.backend import POSTGRES

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


@pytest.mark.parametrize("name", sorted(EXPECTED["cards"]))
def test_every_card_of_the_old_store_answers_as_it_did(store: Path, name: str) -> None:
    card = EXPECTED["cards"][name]
    assert cli(store, "status", card) == EXPECTED["status"][name]
    history = [[e["type"], e["version"], e["effective_at"]] for e in cli(store, "history", card)]
    assert history == EXPECTED["history"][name]


def test_validity_counts_revocations_and_verify_of_the_old_store(store: Path) -> None:
    for serial, valid in EXPECTED["valid_at"].items():
        assert cli(store, "valid-at", serial, "--at", "2024-09-01T12:00")["valid"] is valid, serial
    assert cli(store, "counts") == EXPECTED["counts"]
    revocations = cli(store, "revocations", "--all")
    assert revocations["list_number"] == EXPECTED["revocations"]["list_number"]
    assert revocations["entries"] == EXPECTED["revocations"]["entries"]
    verified = cli(store, "verify")
    assert verified["ok"] is True
    assert (verified["cards"], verified["certificates"]) == (
        EXPECTED["verify"]["cards"],
        EXPECTED["verify"]["certificates"],
    )
