"""The unit tier: the domain's rules, run once (never per backend). A test that needs an
application gets one kept in memory (``storage.memory``: the library's POPO recorders with the
command log), so the rules run through the real command path without a database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from commands.application import CardLifecycle
from storage.memory import memory_env
from tests.helpers.support import KEY, Clock


@pytest.fixture
def app(clock: Clock) -> Iterator[CardLifecycle]:
    lifecycle = CardLifecycle(env=memory_env(), holder_key=KEY, clock=clock)
    yield lifecycle
    lifecycle.close()
