"""The composition root (issue 9): the write side and the read side each open from settings alone.
The read side opens the log itself (its own recorder and mapper) and never the write application:
the two sides share nothing but the log. Runs on both backends."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

import commands.application
from commands.config import Settings
from lifecycle.calendar import JST
from lifecycle.identifiers import card_id_for
from mynacard.bootstrap import open_read_side, open_write_side, upstream_of
from projections.read_side import ReadSide
from storage.errors import ConfigurationError
from storage.keys import CIPHER_KEY_FILE, KEY_FILE
from tests.helpers.backend import settings as settings_for
from tests.helpers.recorded_store import foreign_ring, record_story

pytestmark = pytest.mark.usefixtures("only_the_settings_given")

AT = datetime(2021, 9, 1, 9, 0, tzinfo=JST)


def answers(read: ReadSide, application_ids: list[str]) -> list[object]:
    read.catch_up()
    reports = [read.card_report(card_id_for(a), AT.date(), AT) for a in application_ids]
    return [r.as_dict() if r else None for r in reports] + [read.counts(), read.revocation_list()]


def test_the_read_side_opens_from_settings_alone_and_answers_as_one_following_the_write_side(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = record_story(settings_for(tmp_path / "store"))
    cards = [recorded.holder, recorded.other]
    app = open_write_side(recorded.settings)
    try:
        beside = open_read_side(settings_for(tmp_path / "beside"), upstream_of(app))
        expected = answers(beside, cards)
        beside.close()
    finally:
        app.close()

    def no_write_side(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the read side opened the write application")

    monkeypatch.setattr(commands.application.CardLifecycle, "__init__", no_write_side)
    read = open_read_side(recorded.settings)
    try:
        assert read.upstream.recorder.max_notification_id()
        assert answers(read, cards) == expected
        assert expected[0] is not None and expected[0]["status"] == "abolished"  # type: ignore[index]
    finally:
        read.close()


def test_the_read_side_refuses_a_key_ring_that_is_not_the_stores(tmp_path: Path) -> None:
    recorded = record_story(settings_for(tmp_path))
    other = recorded.settings.model_copy(update={"cipher_keys": SecretStr(foreign_ring())})
    with pytest.raises(ConfigurationError, match=r"key 1 of the key ring .* is not the key 1 this store"):
        open_read_side(other)


def test_the_read_side_of_a_new_store_sets_it_up_as_the_write_side_would(tmp_path: Path) -> None:
    settings: Settings = settings_for(tmp_path / "new")
    read = open_read_side(settings)
    try:
        assert read.upstream.recorder.max_notification_id() in (None, 0)
        assert read.catch_up() == {"lifecycle_view": 0, "revocation_list": 0}
    finally:
        read.close()
    assert (settings.data_dir / KEY_FILE).exists() and (settings.data_dir / CIPHER_KEY_FILE).exists()
    open_write_side(settings).close()  # the keys made for the reader are the store's own
