"""``mynacard consumers``: durable consumers and their dead letters.

- ``consumers``: every consumer with its acknowledged position, its lag behind the log and how
  many of its events are parked.
- ``consumers parked NAME [--all]``: the parked events (with ``--all``, the settled ones too).
- ``consumers retry NAME [POSITION]``: prints the parked events again, as ``events`` prints
  events (one ``mynacard.event/1`` JSON line each), for the downstream to handle; each stays
  parked until the downstream acknowledges exactly its position (``events --consumer NAME --ack
  POSITION`` or ``POST /consumers/NAME/ack``). A Python consumer re-delivers through its
  handler instead: ``DurableConsumer.retry_parked(handler)``.
- ``consumers skip NAME POSITION --reason TEXT``: gives a parked event up, recording the reason
  and who gave it up.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from commands.config import Settings
from commands.errors import InputError, NotFound
from mynacard import output
from mynacard.bootstrap import open_checkpoints, open_log
from mynacard.cli_support import EXIT_OK, subcommand_adder
from mynacard.consumers import consumer_reports, open_consumer
from projections.event_json import event_to_dict, feed_event_dict
from projections.subscriptions import (
    MAX_POSITION,
    DeadLetter,
    NotParked,
    PositionNotInLog,
    check_consumer_name,
    notification_at,
)
from storage.interface import EventChain

MAX_REASON = 500


def _name(name: str) -> str:
    try:
        return check_consumer_name(name)
    except ValueError as e:
        raise InputError.single("NAME", str(e)) from None


def _position(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= MAX_POSITION:
        raise InputError.single("POSITION", f"give a position from 1 to {MAX_POSITION} (got {value})")
    return value


def _not_parked(e: NotParked) -> InputError:
    hint = f"'mynacard consumers parked {e.consumer}' lists its parked events"
    if e.letter is None:
        return NotFound.single("POSITION", str(e), hint=hint)
    return InputError.single("POSITION", str(e), hint=hint)


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def letter_dict(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter as JSON (``--json`` and the HTTP service); the fingerprint stays inside."""
    row = letter.row()
    row.pop("fingerprint")
    return row


# ----------------------------------------------------------------------------- running


def run_list(ns: argparse.Namespace, settings: Settings) -> int:
    log = open_log(settings)
    try:
        reports = consumer_reports(open_checkpoints(settings), log.recorder, log.mapper)
    finally:
        log.close()
    if ns.json:
        output.print_json([r.as_dict() for r in reports])
        return EXIT_OK
    if not reports:
        print("no consumers yet (a consumer is listed once it has acknowledged or parked an event)")
        return EXIT_OK
    output.print_table(
        f"Consumers (the log ends at position {reports[0].log_head})",
        ["consumer", "position", "lag", "parked", "checkpoint in this log"],
        [
            [r.consumer, r.checkpoint, r.lag, r.parked, "yes" if r.on_log else "NO: see events --reset-to"]
            for r in reports
        ],
    )
    return EXIT_OK


def run_parked(ns: argparse.Namespace, settings: Settings) -> int:
    name = _name(ns.name)
    letters = open_checkpoints(settings).dead_letters(name, open_only=not ns.all)
    if ns.json:
        output.print_json([letter_dict(x) for x in letters])
        return EXIT_OK
    if not letters:
        print(f"consumer {name}: no {'dead letters' if ns.all else 'parked events'}")
        return EXIT_OK
    columns = ["position", "type", "attempts", "parked at", "error", "re-delivered"]
    if ns.all:
        columns += ["state", "settled at", "by", "reason"]
    rows = []
    for x in letters:
        row = [x.position, x.event_type, x.attempts, _moment(x.parked_at), x.error, x.redeliveries]
        if ns.all:
            row += [x.state, _moment(x.resolved_at), x.resolved_by, x.reason]
        rows.append(row)
    output.print_table(f"Consumer {name}: {'dead letters' if ns.all else 'parked events'}", columns, rows)
    return EXIT_OK


def run_retry(ns: argparse.Namespace, settings: Settings) -> int:
    """The parked events as JSON lines on stdout (like ``events``); a summary on stderr."""
    name, position = _name(ns.name), _position(ns.position)
    out = sys.stdout

    with open_consumer(settings, name) as consumer:
        recorder = consumer.recorder

        def emit(at: int, event: Any) -> None:
            line = event_to_dict(event, at)
            note = notification_at(recorder, at)
            link = recorder.chain_link_at(at) if isinstance(recorder, EventChain) else None
            if note is not None and link is not None:  # (the chain fields, as 'events' prints them)
                line = feed_event_dict(event, note, link.chain_hash)
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            out.flush()

        try:
            letters = consumer.redeliver_parked(emit, position)
        except NotParked as e:
            raise _not_parked(e) from None
        except PositionNotInLog as e:
            raise InputError.single("POSITION", str(e)) from None
    if letters:
        sys.stderr.write(
            f"consumer {name}: re-delivered {len(letters)} parked event(s); each stays parked until "
            f"acknowledged ('mynacard events --consumer {name} --ack POSITION') or skipped\n"
        )
    else:
        sys.stderr.write(f"consumer {name}: no parked events\n")
    return EXIT_OK


def run_skip(ns: argparse.Namespace, settings: Settings) -> int:
    name, position = _name(ns.name), _position(ns.position)
    reason = " ".join((ns.reason or "").split())
    if not reason:
        raise InputError.single("--reason", "say why the event is given up (it is recorded)")
    if len(reason) > MAX_REASON:
        raise InputError.single("--reason", f"at most {MAX_REASON} characters (got {len(reason)})")
    with open_consumer(settings, name) as consumer:
        try:
            letter = consumer.skip(position or 0, reason, settings.default_actor())
        except NotParked as e:
            raise _not_parked(e) from None
    if ns.json:
        output.print_json(letter_dict(letter))
    else:
        print(
            f"consumer {name}: the parked event at position {letter.position} ({letter.event_type}) is "
            f"skipped by {letter.resolved_by}: {letter.reason}"
        )
    return EXIT_OK


def add_consumer_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    add = subcommand_adder(sub, common)
    p = add(
        "consumers",
        run_list,
        "durable consumers: position, lag and parked events; retry or skip parked events",
        "Without an action: every consumer with its acknowledged position, its lag behind the log "
        "and how many of its events are parked (dead letters: events its handler kept failing on, "
        "MYNACARD_CONSUMER_ATTEMPTS deliveries, MYNACARD_CONSUMER_BACKOFF seconds apart, doubling).",
    )
    actions = p.add_subparsers(dest="consumers_action", metavar="ACTION")
    add = subcommand_adder(actions, common)
    parked = add("parked", run_parked, "list a consumer's parked events")
    parked.add_argument("name", metavar="NAME", help="the consumer")
    parked.add_argument("--all", action="store_true", help="also the settled ones (delivered, skipped)")
    retry = add(
        "retry",
        run_retry,
        "print a consumer's parked events again as JSON lines (they stay parked until acknowledged)",
        "Prints the parked events (or the one at POSITION) as 'mynacard events' prints events, one "
        "JSON line each, for the downstream to handle. Each stays parked until the downstream "
        "acknowledges exactly its position: 'mynacard events --consumer NAME --ack POSITION' or "
        "POST /consumers/NAME/ack. The consumer's checkpoint does not move.",
    )
    retry.add_argument("name", metavar="NAME", help="the consumer")
    retry.add_argument("position", metavar="POSITION", type=int, nargs="?", help="only this parked event")
    skip = add("skip", run_skip, "give up a parked event, recording why and who")
    skip.add_argument("name", metavar="NAME", help="the consumer")
    skip.add_argument("position", metavar="POSITION", type=int, help="the parked event's position")
    skip.add_argument("--reason", required=True, metavar="TEXT", help="why it is given up (recorded)")
