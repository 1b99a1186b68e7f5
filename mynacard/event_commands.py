"""``mynacard events``: the event log as JSON lines for downstream systems, optionally as a
durable consumer with a stored checkpoint (see docs/events.md for the delivery contract)."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from typing import Any

from commands.config import Settings
from commands.service import open_lifecycle
from mynacard.wiring import open_checkpoints
from projections.events import event_to_dict
from projections.subscriptions import DurableConsumer, follow

EXIT_OK = 0

Runner = Callable[[argparse.Namespace, Settings], int]


def run_events(ns: argparse.Namespace, settings: Settings) -> int:
    """One JSON object per line (``mynacard.event/1``), in log order, optionally following."""
    app = open_lifecycle(settings)
    stop = threading.Event()
    out = sys.stdout

    def emit(position: int, event: Any) -> None:
        out.write(json.dumps(event_to_dict(event, position), ensure_ascii=False) + "\n")
        out.flush()

    try:
        if ns.consumer:
            consumer = DurableConsumer(ns.consumer, open_checkpoints(settings), app.recorder, app.mapper)
            consumer.run(emit, wait=ns.follow, stop=stop, limit=ns.limit, poll_interval=ns.interval)
        else:
            for n, (position, event) in enumerate(
                follow(
                    app.recorder,
                    app.mapper,
                    after=ns.after,
                    wait=ns.follow,
                    stop=stop,
                    poll_interval=ns.interval,
                ),
                1,
            ):
                emit(position, event)
                if ns.limit is not None and n >= ns.limit:
                    break
    except (KeyboardInterrupt, BrokenPipeError):
        stop.set()
    return EXIT_OK


def add_event_commands(sub: Any, common: argparse.ArgumentParser) -> None:
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
        "One JSON object per line, in log order. --consumer NAME stores a checkpoint (at-least-once, "
        "resumable); --follow waits for new events.",
    )
    p.add_argument("--after", type=int, default=0, metavar="N", help="start after position N")
    p.add_argument("--follow", action="store_true", help="keep waiting for new events")
    p.add_argument("--consumer", metavar="NAME", help="a durable consumer: resume after its checkpoint")
    p.add_argument("--limit", type=int, metavar="N", help="stop after N events")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between polls when following")
