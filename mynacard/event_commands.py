"""``mynacard events``: the event log as JSON lines for downstream systems, optionally as a
durable consumer whose checkpoint moves only when the downstream acknowledges (``--ack N``);
see docs/events.md for the delivery contract. ``mynacard consumers`` (``consumer_commands``)
lists the consumers and their parked events.

Each event line carries its chain fields, and the store's signed checkpoints come in order among
the events as lines of their own (``"type": "checkpoint"``, ``mynacard.checkpoint/1``; issue 13,
``projections.chain_feed``); ``mynacard verify-feed`` checks such a stream."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from typing import Any

from commands.config import Settings
from commands.errors import InputError
from mynacard import output
from mynacard.bootstrap import open_checkpoints, open_write_side
from mynacard.consumer_commands import add_consumer_commands
from mynacard.integrity.checkpoints import open_chain_checkpoints
from projections.chain_feed import Chained, Due, follow_chained
from projections.event_json import feed_event_dict
from projections.subscriptions import (
    MAX_POSITION,
    CheckpointMove,
    CheckpointNotInLog,
    DurableConsumer,
    PositionNotInLog,
    check_consumer_name,
)
from storage.errors import ConfigurationError

EXIT_OK = 0
MIN_INTERVAL, MAX_INTERVAL = 0.01, 3600.0
"""Seconds between polls when following (SQLite; PostgreSQL is woken by NOTIFY)."""

Runner = Callable[[argparse.Namespace, Settings], int]


# ----------------------------------------------------------------------------- checking options


def _position(option: str, value: int) -> int:
    """A log position given on the command line: 0 … 2^63-1."""
    if not 0 <= value <= MAX_POSITION:
        raise InputError.single(option, f"give a position from 0 to {MAX_POSITION} (got {value})")
    return value


def _ack_position(text: str) -> int:
    """``--ack``: a position, or the JSON line of the event (its ``position`` field)."""
    value: Any = text.strip()
    if value.startswith("{"):
        try:
            value = json.loads(value).get("position")
        except (json.JSONDecodeError, AttributeError):
            value = None
        if not isinstance(value, int) or isinstance(value, bool):
            raise InputError.single("--ack", "the JSON line has no integer 'position' field")
        return _position("--ack", value)
    try:
        return _position("--ack", int(value))
    except ValueError:
        raise InputError.single(
            "--ack", f"give a position (an integer) or the event's JSON line, not {text[:40]!r}"
        ) from None


def _consumer_name(name: str) -> str:
    try:
        return check_consumer_name(name)
    except ValueError as e:
        raise InputError.single("--consumer", str(e)) from None


def _check_reading_options(ns: argparse.Namespace) -> None:
    """The options of reading the log (plain or as a consumer), or InputError naming one."""
    if ns.after is not None:
        _position("--after", ns.after)
        if ns.consumer is not None:
            raise InputError.single(
                "--after",
                "a consumer starts after its acknowledged position",
                hint=f"move it with 'mynacard events --consumer {ns.consumer} --reset-to N'",
            )
    if ns.limit is not None and not 1 <= ns.limit <= MAX_POSITION:
        raise InputError.single("--limit", f"give at least 1 event (got {ns.limit})")
    if not (math.isfinite(ns.interval) and MIN_INTERVAL <= ns.interval <= MAX_INTERVAL):
        raise InputError.single(
            "--interval", f"give seconds from {MIN_INTERVAL} to {MAX_INTERVAL:g} (got {ns.interval})"
        )


def _check_checkpoint_options(ns: argparse.Namespace) -> None:
    """``--ack`` and ``--reset-to`` move a consumer's checkpoint and read nothing."""
    option = "--ack" if ns.ack is not None else "--reset-to"
    if ns.consumer is None:
        raise InputError.single(option, "name the consumer: --consumer NAME")
    if ns.ack is not None and ns.reset_to is not None:
        raise InputError.single(option, "give either --ack or --reset-to")
    for other, given in (("--follow", ns.follow), ("--limit", ns.limit), ("--after", ns.after)):
        if given not in (None, False):
            raise InputError.single(option, f"moves the checkpoint only: leave out {other}")


# ----------------------------------------------------------------------------- running


def run_events(ns: argparse.Namespace, settings: Settings) -> int:
    """One JSON object per line (``mynacard.event/1``), in log order, optionally following; or,
    with ``--ack`` / ``--reset-to``, move a consumer's checkpoint."""
    if ns.consumer is not None:
        _consumer_name(ns.consumer)
    if ns.ack is not None or ns.reset_to is not None:
        _check_checkpoint_options(ns)
        return _move_checkpoint(ns, settings)
    _check_reading_options(ns)
    app = open_write_side(settings)
    signed = open_chain_checkpoints(settings)
    stop = threading.Event()
    out = sys.stdout

    def emit(item: Chained | Due) -> None:
        if isinstance(item, Due):
            line = item.checkpoint.as_dict()
        else:
            line = feed_event_dict(app.mapper.to_domain_event(item.note), item.note, item.chain_hash)
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
        out.flush()

    def read(after: int) -> Iterator[list[Chained | Due]]:
        return follow_chained(
            app.recorder, signed, after=after, wait=ns.follow, stop=stop, poll_interval=ns.interval
        )

    try:
        if ns.consumer is not None:
            consumer = DurableConsumer(ns.consumer, open_checkpoints(settings), app.recorder, app.mapper)
            with consumer.lease():
                _emit_all(read(_unacknowledged(consumer)), emit, ns.limit)
        else:
            _emit_all(read(ns.after or 0), emit, ns.limit)
    except KeyboardInterrupt:
        stop.set()
    except BrokenPipeError:
        stop.set()
        _silence_stdout()
    finally:
        signed.close()
    return EXIT_OK


def _unacknowledged(consumer: DurableConsumer) -> int:
    """The consumer's acknowledged position, once the log is shown to hold it; a checkpoint the
    log does not hold is a configuration problem (exit 6) that says how to recover."""
    try:
        return consumer.check()
    except CheckpointNotInLog as e:
        raise ConfigurationError(f"{e}; {e.advice()}") from None


def _emit_all(
    batches: Iterable[list[Chained | Due]], emit: Callable[[Chained | Due], None], limit: int | None
) -> None:
    """Every item to ``emit``, at most ``limit`` events (and a checkpoint right after the last)."""
    sent, last = 0, None
    for batch in batches:
        for item in batch:
            if limit is not None and sent >= limit and (isinstance(item, Chained) or item.after != last):
                return
            emit(item)
            if isinstance(item, Chained):
                sent, last = sent + 1, item.position
        if limit is not None and sent >= limit:
            return


def _silence_stdout() -> None:
    """The reader went away: nothing more can be written, and nothing buffered may fail at exit."""
    with suppress(OSError, ValueError):  # (a stdout without a file descriptor: nothing to do)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _move_checkpoint(ns: argparse.Namespace, settings: Settings) -> int:
    """``--ack N`` (forward only) or ``--reset-to N`` (anywhere)."""
    option = "--ack" if ns.ack is not None else "--reset-to"
    position = _ack_position(ns.ack) if ns.ack is not None else _position("--reset-to", ns.reset_to)
    app = open_write_side(settings)
    consumer = DurableConsumer(ns.consumer, open_checkpoints(settings), app.recorder, app.mapper)
    try:
        move = (
            consumer.acknowledge(position, by=settings.default_actor())
            if ns.ack is not None
            else consumer.reset_to(position)
        )
    except PositionNotInLog as e:
        raise InputError.single(
            option, str(e), hint="give a position printed by 'mynacard events' (its 'position' field)"
        ) from None
    except CheckpointNotInLog as e:
        raise ConfigurationError(f"{e}; {e.advice()}") from None
    _print_move(move, option, ns.json)
    return EXIT_OK


def _print_move(move: CheckpointMove, option: str, as_json: bool) -> None:
    if as_json:
        output.print_json(
            {
                "consumer": move.consumer,
                "action": "ack" if option == "--ack" else "reset",
                "requested": move.requested,
                "previous": move.previous,
                "checkpoint": move.checkpoint,
                "changed": move.changed,
                "log_head": move.log_head,
                **({"settled": True} if move.settled else {}),
            }
        )
        return
    name = move.consumer
    if move.settled:
        print(
            f"consumer {name}: the parked event at position {move.requested} is settled (delivered); "
            f"the checkpoint stays at {move.checkpoint}"
        )
        return
    if option == "--reset-to":
        print(
            f"consumer {name}: checkpoint moved from {move.previous} to {move.checkpoint}; "
            "reading resumes after it"
        )
    elif move.changed:
        print(f"consumer {name}: acknowledged through position {move.checkpoint}; reading resumes after it")
    else:
        print(
            f"consumer {name}: position {move.requested} was already acknowledged (checkpoint "
            f"{move.checkpoint}); nothing changed"
        )


def add_event_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    add_consumer_commands(sub, common)

    def add(name: str, run: Runner, help_: str, description: str | None = None) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(
            name, parents=[common], help=help_, description=description or help_ + "."
        )
        p.set_defaults(run=run)
        return p

    p = add(
        "events",
        run_events,
        "print the event log as JSON lines (mynacard.event/1)",
        "One JSON object per line, in log order; --follow waits for new events. --consumer NAME "
        "starts after the consumer's acknowledged position and never moves it: acknowledge what the "
        "downstream handled with --consumer NAME --ack POSITION (at-least-once; the position is the "
        "idempotency key). See docs/events.md.",
    )
    p.add_argument("--after", type=int, metavar="N", help="start after position N (not with --consumer)")
    p.add_argument("--follow", action="store_true", help="keep waiting for new events")
    p.add_argument(
        "--consumer", metavar="NAME", help="a durable consumer: start after its acknowledged position"
    )
    p.add_argument("--limit", type=int, metavar="N", help="stop after N events (N ≥ 1)")
    p.add_argument(
        "--interval",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help=f"seconds between polls when following ({MIN_INTERVAL}–{MAX_INTERVAL:g})",
    )
    p.add_argument(
        "--ack",
        metavar="POSITION",
        help="with --consumer: the downstream handled everything up to POSITION (or give the event's "
        "JSON line); moves the checkpoint forward only",
    )
    p.add_argument(
        "--reset-to",
        type=int,
        metavar="N",
        help="with --consumer: move its checkpoint to N, also backwards (recovery after a restored store)",
    )
