"""R63 under concurrency: two clerks (two applications on one store, each with its own cache and
connection) file an application for the same person at the same moment. The person's aggregate
is saved in the same transaction as the card, so one save wins and the other is judged again on
the new log: exactly one application is recorded per person, whatever the interleaving. On the
test storage of the run (SQLite file or PostgreSQL schema)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from commands import models as m
from commands.application import CardLifecycle
from commands.errors import ConcurrencyConflict
from lifecycle.calendar import JST
from lifecycle.errors import RuleViolation
from lifecycle.identifiers import card_id_for, holder_id_for, holder_reference
from tests.helpers.backend import store_env_of
from tests.helpers.support import KEY, application_id, my_number

PERSONS = 8
NOW = datetime(2025, 1, 10, 9, 0, tzinfo=JST)


@pytest.fixture
def clerks(app: CardLifecycle) -> Iterator[list[CardLifecycle]]:
    store = store_env_of(app.env)
    opened = [CardLifecycle(env=store, holder_key=KEY, clock=lambda: NOW) for _ in range(2)]
    yield opened
    for clerk in opened:
        clerk.close()


def application(number: str) -> m.SubmitApplication:
    return m.SubmitApplication.model_validate(
        {
            "application_id": application_id(),
            "my_number": number,
            "date_of_birth": "1980-10-10",
            "photo_taken_on": "2025-01-01",
            "actor": "clerk-race",
        }
    )


def test_R63_spec_example_two_applications_filed_at_once_for_one_person_record_exactly_one(
    clerks: list[CardLifecycle], app: CardLifecycle
) -> None:
    outcomes: Counter[str] = Counter()
    for i in range(PERSONS):
        number = my_number(6_310_000 + i)
        commands = [application(number), application(number)]
        barrier = threading.Barrier(2)
        results: list[Any] = [None, None]

        def file(
            k: int,
            commands: list[m.SubmitApplication] = commands,
            results: list[Any] = results,
            barrier: threading.Barrier = barrier,
        ) -> None:
            barrier.wait()
            try:
                results[k] = clerks[k].execute(commands[k])
            except (RuleViolation, ConcurrencyConflict) as e:
                results[k] = e

        threads = [threading.Thread(target=file, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        accepted = [k for k in range(2) if not isinstance(results[k], Exception)]
        assert len(accepted) == 1, results
        loser = results[1 - accepted[0]]
        assert isinstance(loser, RuleViolation | ConcurrencyConflict), loser
        if isinstance(loser, RuleViolation):
            assert loser.rule == "R63", loser
        outcomes[type(loser).__name__] += 1
        # The store holds exactly the winner's card, filed under the person once.
        winner, other = commands[accepted[0]], commands[1 - accepted[0]]
        assert app.load_card(card_id_for(winner.application_id)) is not None
        assert app.load_card(card_id_for(other.application_id)) is None
        holder = app.load_holder(holder_id_for(holder_reference(number, KEY)))
        assert holder is not None and holder.card_ids == [card_id_for(winner.application_id)]
    print(
        f"\nFIGURES person-race: persons={PERSONS} refused_R63={outcomes['RuleViolation']} "
        f"conflicts={outcomes['ConcurrencyConflict']}"
    )
