"""Issue 13 on a store written before erasable fields existed (``tests/fixtures/store-v1``, a
copy; the fixture itself is never changed): its personal fields were stored plainly under the
store key, so they stay readable and cannot be erased. ``forget`` still records the erasure and
destroys what it can, and says honestly how many events keep plain personal fields; events
recorded on such a card from now on keep their personal fields erasable."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from commands import models as m
from commands.config import Settings
from commands.person_migration import migrate_holders
from lifecycle.erasure import ERASED
from lifecycle.identifiers import card_id_for
from mynacard.bootstrap import open_log, open_write_side
from projections.chain_audit import init_chain
from storage.erasable import ENVELOPE, is_envelope
from storage.interface import CommandLog
from tests.fixtures.make_store_v1 import HOLDER_KEY_HEX
from tests.helpers.backend import POSTGRES
from tests.helpers.support import Clock, my_number

pytestmark = pytest.mark.skipif(
    POSTGRES, reason="the stored fixture is a SQLite file: this test runs in the SQLite pass"
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "store-v1"
LOST, ACTIVE = "00000000000000000000003", "00000000000000000000001"


def test_issue13_forget_on_a_store_v1_person_says_the_plain_fields_are_not_erasable(tmp_path: Path) -> None:
    for name in ("mynacard.sqlite", "cipher.keys"):
        shutil.copy(FIXTURE / name, tmp_path / name)
    settings = Settings(
        data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'mynacard.sqlite'}", holder_key=HOLDER_KEY_HEX
    )
    log = open_log(settings)
    try:
        assert isinstance(log.recorder, CommandLog)
        assert init_chain(log.recorder) == 47  # the store predates the hash chain (issue 13)
    finally:
        log.close()
    app = open_write_side(settings)
    try:
        app.clock = Clock("2026-12-01T09:00")
        migrate_holders(app, "admin-1")  # the store predates the person (R62–R65)
        app.holders_complete = True
        lost = app.get_card(LOST)
        dob = lost.date_of_birth
        assert isinstance(dob, date)
        result = app.execute(
            m.ForgetPerson.model_validate(
                {"actor": "supervisor-1", "my_number": my_number(7_000_003), "reason": "request"}
            )
        )
        assert result.erasure is not None
        assert result.erasure.keys_destroyed == 0 and result.erasure.plain_events >= 2  # Applied, Issued
        assert app.get_card(LOST).date_of_birth == dob  # readable: stored plainly before issue 13

        # A new event with a personal field on a store-v1 card is kept erasable.
        active = app.get_card(ACTIVE)
        app.clock = Clock("2026-12-01T10:00")
        app.execute(
            m.ChangeCardInformation.model_validate(
                {
                    "actor": "clerk-1",
                    "card": ACTIVE,
                    "facts": ["date_of_birth"],
                    "new_date_of_birth": "1990-01-02",
                    "pin_confirmed": True,
                }
            )
        )
        stored = list(app.recorder.select_events(card_id_for(ACTIVE)))[-1]
        sealed = app.mapper.to_sealed_event(stored)  # type: ignore[attr-defined]
        envelope = vars(sealed)["new_date_of_birth"]
        assert is_envelope(envelope) and envelope[ENVELOPE]["person"] == active.holder_ref
        assert app.get_card(ACTIVE).date_of_birth == date(1990, 1, 2)
        assert ERASED is not app.get_card(ACTIVE).date_of_birth
    finally:
        app.close()
