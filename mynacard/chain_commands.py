"""The hash chain from the command line (issue 13): ``mynacard verify --chain`` (the walk),
``mynacard chain --init`` (stores written before the chain), and the check ``rebuild`` makes
before it builds read models from the log (``--accept-broken-chain`` to override, recorded).

See ``storage.chain`` for what is hashed and ``projections.chain_audit`` for the walk.
"""

from __future__ import annotations

import argparse
from typing import Any

from commands.config import Settings
from commands.errors import InputError
from commands.store_log import record_on_store_log
from mynacard import output
from mynacard.bootstrap import open_log, open_write_side
from mynacard.cli_support import EXIT_DIFFERENCES, EXIT_OK, progress_bar, subcommand_adder
from mynacard.feed_verify import add_verify_feed
from mynacard.integrity.chain_check import (
    ACCEPT_FLAG,
    BrokenChain,
    chain_report_dict,
    walk_store_chain,
)
from mynacard.integrity.checkpoints import checkpoint_now
from projections.chain_audit import init_chain
from storage.chain import ChainReport
from storage.interface import CommandLog


def walk_log_chain(settings: Settings, show_progress: bool) -> tuple[ChainReport, float]:
    """``walk_store_chain`` with a progress bar on a terminal."""
    log = open_log(settings, open_events=False)
    try:
        recorder = log.recorder
        assert isinstance(recorder, CommandLog)
        head = recorder.log_max_position()
    finally:
        log.close()
    with progress_bar("verifying the chain", head, show_progress) as advance:
        reached = [0]

        def progress(position: int, _head: int) -> None:
            advance(position - reached[0])
            reached[0] = position

        return walk_store_chain(settings, progress)


def print_chain_report(report: ChainReport, seconds: float) -> None:
    if report.first_break is not None:
        print(
            f"chain BROKEN at position {report.first_break.position}: {report.first_break.problem} "
            f"({report.events} events verified before it)"
        )
    elif report.unchained:
        print(
            f"chain MISSING: {report.unchained} events were written before the hash chain; run "
            "'mynacard chain --init' once"
        )
    else:
        head = report.head
        where = f"position {head.position}, chain hash {head.chain_hash.hex()}" if head else "empty log"
        rate = f", {report.events / seconds:,.0f} events/s" if seconds > 0 and report.events else ""
        print(f"chain intact: {report.events} events ({where}; {seconds:.2f} s{rate})")


def run_verify_chain(ns: argparse.Namespace, settings: Settings) -> int:
    report, seconds = walk_log_chain(settings, not ns.json)
    if ns.json:
        output.print_json(chain_report_dict(report, seconds))
    else:
        print_chain_report(report, seconds)
    return EXIT_OK if report.ok else EXIT_DIFFERENCES


def check_before_rebuild(ns: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    """``rebuild`` builds read models only from an intact chain; ``--accept-broken-chain`` (with a
    reason) rebuilds anyway and records, on the log, who accepted which break and why."""
    if ns.accept_broken_chain and not (ns.reason or "").strip():
        raise InputError.single("--reason", f"{ACCEPT_FLAG} needs --reason TEXT: why the break is accepted")
    report, _ = walk_log_chain(settings, not ns.json)
    if report.ok:
        return {"ok": True}
    if not ns.accept_broken_chain:
        raise BrokenChain(report)
    position = report.first_break.position if report.first_break else 0
    problem = report.first_break.problem if report.first_break else f"{report.unchained} events never chained"
    actor = ns.actor or settings.default_actor()
    app = open_write_side(settings)
    try:
        now = app.clock()
        record_on_store_log(
            app, actor, now, lambda log: log.broken_chain_accepted(actor, position, problem, ns.reason, now)
        )
    finally:
        app.close()
    return {"ok": False, "accepted_by": actor, **chain_report_dict(report)}


def run_chain(ns: argparse.Namespace, settings: Settings) -> int:
    if not ns.init:
        raise InputError.single("--init", "say what to do: 'mynacard chain --init'")
    log = open_log(settings)
    try:
        recorder = log.recorder
        assert isinstance(recorder, CommandLog)
        head = recorder.log_max_position()
        with progress_bar("chaining", head, not ns.json) as advance:
            reached = [0]

            def progress(position: int, _head: int) -> None:
                advance(position - reached[0])
                reached[0] = position

            chained = init_chain(recorder, progress)
        end = recorder.chain_head()
    finally:
        log.close()
    if chained:
        actor = ns.actor or settings.default_actor()
        app = open_write_side(settings)
        try:
            assert end is not None
            now = app.clock()
            record_on_store_log(
                app,
                actor,
                now,
                lambda store_log: store_log.chain_initialised(
                    actor, now, chained, end.position, end.chain_hash.hex()
                ),
            )
        finally:
            app.close()
    found = {"chained": chained, "head": end.as_dict() if end else None}
    if ns.json:
        output.print_json(found)
    elif chained:
        assert end is not None
        print(
            f"chained {chained} events written before the hash chain (up to position {end.position}, "
            f"chain hash {end.chain_hash.hex()}); recorded on the store log"
        )
    else:
        print("the chain was already complete: nothing to do")
    return EXIT_OK


def run_checkpoint(ns: argparse.Namespace, settings: Settings) -> int:
    """``mynacard checkpoint``: a signed checkpoint at the chain head (the latest one when the log
    did not grow since), printed."""
    log = open_log(settings)
    try:
        recorder = log.recorder
        assert isinstance(recorder, CommandLog)
        made = checkpoint_now(settings, recorder)
    finally:
        log.close()
    if made is None:
        if ns.json:
            output.print_json(None)
        else:
            print("the log is empty: there is nothing to sign yet")
        return EXIT_OK
    if ns.json:
        output.print_json(made.as_dict())
    else:
        c = made.checkpoint
        what = "signed" if made.new else "the log did not grow since the latest checkpoint"
        print(
            f"checkpoint at position {c.position} ({what}): chain hash {c.chain_hash}, signed at "
            f"{c.signed_at}, store {c.store_id}, key id {c.key_id}\nsignature {c.signature}"
        )
    return EXIT_OK


def add_chain_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    add = subcommand_adder(sub, common)
    add_verify_feed(add)
    add(
        "checkpoint",
        run_checkpoint,
        "sign a checkpoint of the hash chain at its head",
        "Recompute the chain from the previous checkpoint to the head and sign (position, chain hash, "
        "time) with the log signing key (issue 13; docs/events.md, 'The hash chain and checkpoints'). "
        "When the log did not grow since the latest checkpoint, that one is printed. 'verify --chain' "
        "checks the log against every checkpoint; the service makes them every "
        "MYNACARD_CHECKPOINT_INTERVAL seconds.",
    )
    p = add(
        "chain",
        run_chain,
        "compute the hash chain of a store written before it (once)",
        "A store written before the hash chain (issue 13) refuses writes (exit 6) until its events are "
        "chained: '--init' computes the chain over them in log order, resumably (run it again if it was "
        "interrupted), and records that it did so on the log. Once the chain is complete it refuses to "
        "chain anything more: events without a chain row are then inserted ones (see 'verify --chain').",
    )
    p.add_argument("--init", action="store_true", help="chain the events written before the chain")
    p.add_argument("--actor", help="who does it (default: MYNACARD_ACTOR or the login name)")
