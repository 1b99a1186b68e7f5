"""The Python consumer API keeps the hash chain (issue 13): a durable consumer opened with
``mynacard.consumers.open_consumer`` recomputes the chain over every event it delivers and checks
each signed checkpoint of the store before handing on the event at its position; resumed after
an acknowledgement, it takes the chain hash at its position from the log; on a log whose event
was deleted and whose chain was recomputed behind the service's back it stops with a
``ChainIntegrityError`` naming the checkpoint's position, having handed on only the events
before it (and its own checkpoint stays before them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mynacard.consumers import open_consumer
from projections.chain_follower import ChainFollower, ChainGuard, ChainIntegrityError
from tests.helpers import backend
from tests.helpers.consumers import some_cards, suspend_and_lift
from tests.integration.test_chain_checkpoints import checkpoint, recompute_chain, sql, store, tables

__all__ = ["store"]  # (the fixture, shared with test_chain_checkpoints)


def two_checkpoints(store_: Any) -> tuple[Path, list[dict[str, Any]]]:
    path, app, clock = store_
    stories = some_cards(app, clock, 9_700_001, n=2)
    made = [checkpoint(path)]
    suspend_and_lift(stories[0], "2021-01-01")
    made.append(checkpoint(path))
    suspend_and_lift(stories[1], "2021-02-01")
    return path, made


def follower_of(consumer: Any) -> ChainFollower:
    guard = consumer.chain
    assert isinstance(guard, ChainGuard)
    return guard.followers[-1]


def test_a_consumer_verifies_every_checkpoint_and_a_resumed_one_goes_on_from_the_log(store: Any) -> None:
    """issue 13: run over the whole log, both checkpoints are verified; a consumer that stopped
    after its first few events resumes with the chain hash the log holds at its checkpoint and
    verifies the checkpoints after it."""
    path, made = two_checkpoints(store)
    settings = backend.settings(path)
    seen: list[int] = []
    with open_consumer(settings, "mailing") as consumer:
        consumer.run(lambda position, _event: seen.append(position))
        follower = follower_of(consumer)
    assert [c.position for c in follower.verified] == [c["position"] for c in made]
    assert seen == list(range(1, seen[-1] + 1))
    with open_consumer(settings, "resumed") as consumer:
        consumer.run(lambda _p, _e: None, limit=3)
    with open_consumer(settings, "resumed") as consumer:
        assert consumer.position == 3
        consumer.run(lambda _p, _e: None)
        follower = follower_of(consumer)
    assert [c.position for c in follower.verified] == [c["position"] for c in made]


def test_a_log_rewritten_below_a_checkpoint_stops_the_consumer_at_the_checkpoint(store: Any) -> None:
    """issue 13: an event deleted below the first checkpoint and the chain recomputed (the chain
    alone holds): the consumer raises ChainIntegrityError at the checkpoint's position, handles
    nothing from there on, and its checkpoint stays before it."""
    path, made = two_checkpoints(store)
    t = tables()
    victim = made[0]["position"] - 4
    assert sql(path, "events", f"DELETE FROM {{table}} WHERE {t['position']} = ?", victim) == 1
    recompute_chain(path)
    seen: list[int] = []
    with open_consumer(backend.settings(path), "mailing") as consumer:
        with pytest.raises(ChainIntegrityError) as caught:
            consumer.run(lambda position, _event: seen.append(position))
        assert caught.value.position == made[0]["position"]
        assert "signed checkpoint" in caught.value.problem
        assert max(seen) < made[0]["position"] and consumer.position == max(seen)
    with open_consumer(backend.settings(path), "unchecked", verify_chain=False) as consumer:
        consumer.run(lambda _p, _e: None)  # (what a consumer without the chain would not notice)
