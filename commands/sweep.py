"""The time sweep: record, exactly once, every time-driven event due up to a day — card and
certificate expiry (R19, R22, R35–R37, R42), the 90-day card update (R30), missed moves (R27,
R28), uncollected cards (R13 with D11), stay expiry (R22, R31), and expiry notices (R44).

Each card is one ``lapse`` command whose id is derived from (card, day): running the same sweep
again answers every card from the command log and records nothing; an interrupted sweep,
run again, skips what was done and finishes the rest. The card itself decides what is due.
Whoever runs it again (another actor) gets the same no-op (issue 8 item 8): the sweep of a
(card, day) is one fact, whoever asked for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID, uuid5

from commands import models as m
from commands.application import CardLifecycle, CommandResult
from commands.errors import CommandIdReused, InputError
from lifecycle.calendar import jst_date
from lifecycle.identifiers import NAMESPACE


def sweep_command_id(card_id: UUID, until: date) -> UUID:
    return uuid5(NAMESPACE, f"sweep/{card_id}/{until.isoformat()}")


def _already_swept(app: CardLifecycle, command_id: UUID) -> CommandResult | None:
    """The first result of this (card, day)'s sweep, whoever ran it (its digest covers the actor)."""
    entry = app.command_log.select_command(command_id)
    if entry is None or entry.command != m.RecordLapses.COMMAND:
        return None
    return CommandResult.model_validate(entry.result).model_copy(update={"duplicate": True})


def _sweep_card(
    app: CardLifecycle, command_id: UUID, card_id: UUID, until: date, actor: str
) -> CommandResult:
    command = m.RecordLapses(command_id=command_id, actor=actor, card=str(card_id), until=until)
    try:
        return app.execute(command)
    except CommandIdReused:
        # Another actor's sweep of the same (card, day) committed between the check and the run.
        done = _already_swept(app, command_id)
        if done is None:
            raise
        return done


@dataclass
class SweepReport:
    """``cards_checked``: the cards the sweep looked at (every card not ended, when the read side
    chose them); ``cards_swept``: those it ran the card's ``lapse`` on (time may have made
    something due on them), ``commands_run`` now plus ``already_done`` before."""

    until: date
    cards_checked: int = 0
    cards_swept: int = 0
    commands_run: int = 0
    already_done: int = 0
    events_recorded: int = 0
    by_type: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "until": self.until.isoformat(),
            "cards_checked": self.cards_checked,
            "cards_swept": self.cards_swept,
            "commands_run": self.commands_run,
            "already_done": self.already_done,
            "events_recorded": self.events_recorded,
            "by_type": dict(sorted(self.by_type.items())),
        }


def sweep(
    app: CardLifecycle,
    card_ids: Iterable[UUID],
    until: date,
    actor: str,
    progress: Callable[[int], None] | None = None,
    *,
    cards_checked: int | None = None,
) -> SweepReport:
    """Run the ``lapse`` command for each candidate card, in a stable order. ``cards_checked``:
    how many cards were looked at to choose the candidates (default: the candidates alone)."""
    today = jst_date(app.clock())
    if until > today:
        raise InputError.single("until", f"{until.isoformat()} lies after today ({today.isoformat()})")
    chosen = sorted(set(card_ids))
    report = SweepReport(until, cards_checked=len(chosen) if cards_checked is None else cards_checked)
    for card_id in chosen:
        report.cards_swept += 1
        command_id = sweep_command_id(card_id, until)
        result = _already_swept(app, command_id) or _sweep_card(app, command_id, card_id, until, actor)
        if result.duplicate:
            report.already_done += 1
        else:
            report.commands_run += 1
            report.events_recorded += len(result.events)
            for e in result.events:
                report.by_type[e.type] = report.by_type.get(e.type, 0) + 1
        if progress is not None:
            progress(1)
    return report
