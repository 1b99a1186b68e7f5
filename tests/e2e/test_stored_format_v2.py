"""Stored events of every version read back in today's shape, and the store written after issue 13
still answers as it did (issue 13: upcasting, tested on stored events of the old shape).

- ``tests/fixtures/store-v2/`` (``make_store_v2``): ``Issued`` version 2, its hand-overs naming
  their office by the command, by ``MYNACARD_OFFICE``, or not at all; today's code gives the
  answers recorded with it (``answers.json``, whatever the generator recorded).
- Every event of ``store-v1`` and ``store-v2``, read through the store's own mapper, has the
  fields of its class today: the upcasters fill in what older versions lacked.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from lifecycle.card import OFFICE_NOT_RECORDED
from mynacard.bootstrap import open_log
from tests.e2e.test_stored_format import as_answered_then
from tests.fixtures.make_store_v1 import cli
from tests.fixtures.make_store_v1 import settings as fixture_settings
from tests.helpers.backend import POSTGRES

pytestmark = pytest.mark.skipif(
    POSTGRES, reason="the stored fixtures are SQLite files: these tests run in the SQLite pass"
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
FIXTURE = FIXTURES / "store-v2"
EXPECTED: dict[str, Any] = json.loads((FIXTURE / "answers.json").read_text())


def copy_of(fixture: Path, data_dir: Path) -> Path:
    """The fixture's files (all but its answers) in a fresh data directory."""
    for path in fixture.iterdir():
        if path.name != "answers.json":
            shutil.copy(path, data_dir / path.name)
    return data_dir


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_of(FIXTURE, tmp_path_factory.mktemp("store-v2"))


@pytest.mark.parametrize("name", sorted(EXPECTED["cards"]))
def test_every_card_of_the_v2_store_answers_as_it_did_with_the_office_of_its_handover(
    store: Path, name: str
) -> None:
    """Issue 13, R14/R59: status and history as recorded, and each hand-over's office as it was
    named (command, ``MYNACARD_OFFICE``, or ``(not recorded)``)."""
    card = EXPECTED["cards"][name]
    then = EXPECTED["status"][name]
    assert as_answered_then(cli(store, "status", card), then) == then
    history = cli(store, "history", card)
    assert [[e["type"], e["version"], e["effective_at"]] for e in history] == EXPECTED["history"][name]
    offices = [e["data"]["office"] for e in history if e["type"] == "Issued"]
    assert offices == EXPECTED["offices"][name]


def test_the_v2_store_records_an_office_each_way() -> None:
    """Issue 13: the fixture holds a hand-over with the command's office, one with the setting's
    and one with none (so the test above exercises all three)."""
    recorded = sorted(o for offices in EXPECTED["offices"].values() for o in offices)
    assert OFFICE_NOT_RECORDED in recorded and len(set(recorded)) == 3, recorded


def test_validity_counts_revocations_and_verify_of_the_v2_store(store: Path) -> None:
    """Issue 13: the read side rebuilt from version-2 events answers as it did."""
    at = EXPECTED["valid_at_time"]
    for serial, valid in EXPECTED["valid_at"].items():
        assert cli(store, "valid-at", serial, "--at", at)["valid"] is valid, serial
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


def has_default(field: dataclasses.Field[Any]) -> bool:
    """A field added with a default before the version lock (e.g. ``Lost.replaced_by``, R62) is
    read from the class when a stored event lacks it."""
    return field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING


@pytest.mark.parametrize("fixture", ["store-v1", "store-v2"])
def test_every_stored_event_of_every_version_reads_back_with_todays_fields(
    fixture: str, tmp_path: Path
) -> None:
    """Issue 13: each event of the fixture stores, read through the store's mapper (key ring,
    row binding, then the library's upcasting by ``class_version``), has every field of its class
    without a default, and no field its class lacks; store-v1's hand-overs (``Issued`` version 1,
    no office) read as ``(not recorded)``."""
    log = open_log(fixture_settings(copy_of(FIXTURES / fixture, tmp_path)))
    try:
        events = [
            log.mapper.to_domain_event(n) for n in log.recorder.select_notifications(start=1, limit=10_000)
        ]
    finally:
        log.close()
    assert events
    for event in events:
        fields = dataclasses.fields(event)
        unknown = set(vars(event)) - {f.name for f in fields}
        missing = {f.name for f in fields if f.name not in vars(event) and not has_default(f)}
        assert (unknown, missing) == (set(), set()), type(event).__name__
    issued = [e.office for e in events if type(e).__name__ == "Issued"]
    if fixture == "store-v1":
        assert issued == [OFFICE_NOT_RECORDED] * 3
    else:
        assert sorted(issued) == sorted(o for offices in EXPECTED["offices"].values() for o in offices)
