from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from commands.application import CardLifecycle
from tests.helpers.backend import BACKEND, drop_schemas, event_store_env
from tests.helpers.support import KEY, Clock, Story

# CI (HYPOTHESIS_PROFILE=ci in .ci/run) draws examples from a fixed seed, so a landing does not
# depend on the luck of one; a plain `pytest` explores new examples on every run.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(tmp_path: Path, clock: Clock) -> Iterator[CardLifecycle]:
    lifecycle = CardLifecycle(env=event_store_env(tmp_path), holder_key=KEY, clock=clock)
    yield lifecycle
    lifecycle.close()


@pytest.fixture
def story(app: CardLifecycle, clock: Clock) -> Story:
    return Story(app, clock)


def pytest_report_header() -> str:
    return f"mynacard storage backend: {BACKEND} (set MYNACARD_TEST_DATABASE_URL for PostgreSQL)"


def pytest_sessionfinish() -> None:
    drop_schemas()


@pytest.fixture
def only_the_settings_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Settings`` also reads ``MYNACARD_*`` from the environment: none of the caller's."""
    for name in list(os.environ):
        if name.startswith("MYNACARD_") and name != "MYNACARD_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
