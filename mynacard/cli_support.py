"""What the read, audit and operations subcommands share: option parsing, progress bars, the
read side caught up with the log, and the errors a stale or damaged store becomes."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from eventsourcing.domain import OriginatorVersionError
from eventsourcing.utils import TopicError
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from commands.application import CardLifecycle
from commands.config import Settings
from commands.dates import parse_date, parse_datetime
from commands.errors import InputError, NotFound
from commands.fields import CardRef
from commands.handlers import resolve_card_ref
from lifecycle.calendar import jst_date
from mynacard.bootstrap import open_read_side, open_write_side
from projections.read_side import ReadSide
from projections.runner import ViewAheadOfLog
from storage.errors import ConfigurationError
from storage.integrity import StoreIntegrityError

EXIT_OK, EXIT_DIFFERENCES = 0, 7

Runner = Callable[[argparse.Namespace, Settings], int]


def option_date(option: str, text: str) -> date:
    try:
        return parse_date(text)
    except ValueError as e:
        raise InputError.single(option, str(e)) from None


def option_moment(option: str, text: str) -> datetime:
    try:
        return parse_datetime(text)
    except ValueError as e:
        raise InputError.single(option, str(e)) from None


def option_card_id(text: str) -> Any:
    try:
        return resolve_card_ref(str(TypeAdapter(CardRef).validate_python(text)))
    except ValidationError as e:
        raise InputError.from_validation(e) from None


@contextmanager
def progress_bar(description: str, total: int | None, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for long work (only on a terminal)."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield lambda _n: None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def views_on_this_log() -> Iterator[None]:
    """A view that does not stand on this event store's log (an older store restored under
    newer read models, or another store: ``ViewAheadOfLog``) is a configuration error (exit 6)
    that says to rebuild; nothing is shown from it."""
    try:
        yield
    except ViewAheadOfLog as e:
        raise ConfigurationError(
            f"{e}. The read models show events this log does not hold: run 'mynacard rebuild' "
            "to rebuild them from the event store as it is now (check first that the right store "
            "is configured: MYNACARD_DATABASE_URL)"
        ) from None


@contextmanager
def log_integrity() -> Iterator[None]:
    """Replaying a log with a version gap or an event of unknown type is an integrity error
    (exit 7, naming the aggregate), not a crash."""
    try:
        yield
    except OriginatorVersionError as e:
        raise StoreIntegrityError(
            f"an aggregate's events do not follow one another ({e}): the event log has a version "
            "gap (an event was deleted); run 'mynacard verify' for every finding"
        ) from e
    except TopicError as e:
        raise StoreIntegrityError(
            f"the event log holds an event of unknown type ({e}); run 'mynacard verify' for every finding"
        ) from e


def caught_up(settings: Settings, ns: argparse.Namespace) -> tuple[CardLifecycle, ReadSide]:
    """The read side, brought up to the log first (read your writes)."""
    app = open_write_side(settings)
    read = open_read_side(settings)
    positions = read.positions()
    behind = sum(p["lag"] for p in positions.values())
    last = {name: p["position"] for name, p in positions.items()}
    with (
        views_on_this_log(),
        progress_bar("catching up", behind, behind > 2000 and not ns.json) as advance,
    ):

        def progress(name: str, position: int, _head: int) -> None:
            advance(position - last[name])
            last[name] = position

        read.catch_up(progress)
    return app, read


class UnknownCertificate(NotFound):
    """No certificate has the serial number asked for (exit 4, said as such, not as bad input)."""

    def __init__(self) -> None:
        super().__init__(
            [], hint="check the serial number; 'mynacard status CARD' lists a card's certificates"
        )

    def __str__(self) -> str:
        return "unknown certificate: no certificate has this serial number"

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "message": str(self), "field": "serial", "hint": self.hint}


def today_of(app: CardLifecycle) -> date:
    return jst_date(app.clock())


def vars_of(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in obj.__dataclass_fields__}


def subcommand_adder(sub: Any, common: argparse.ArgumentParser) -> Callable[..., argparse.ArgumentParser]:
    """``add(name, run, help, description=None)``: a subcommand with the common options."""

    def add(name: str, run: Runner, help_: str, description: str | None = None) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(
            name, parents=[common], help=help_, description=description or help_ + "."
        )
        p.set_defaults(run=run)
        return p

    return add
