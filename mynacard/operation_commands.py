"""Operations (the operator's view): projections and their lag, rebuild, follow, sweep, verify,
policies, rotate-key."""

from __future__ import annotations

import argparse
import sys
from contextlib import suppress
from typing import Any

from commands.config import Settings
from commands.errors import InputError
from commands.person_migration import cards_by_person, migrate_holders
from commands.sweep import sweep
from mynacard import output
from mynacard.bootstrap import open_read_side, open_write_side, rotate_store_key
from mynacard.chain_commands import (
    check_before_rebuild,
    print_chain_report,
    run_verify_chain,
    walk_log_chain,
)
from mynacard.cli_support import (
    EXIT_DIFFERENCES,
    EXIT_OK,
    caught_up,
    option_date,
    progress_bar,
    subcommand_adder,
    today_of,
    views_on_this_log,
)
from mynacard.integrity.chain_check import ACCEPT_FLAG, chain_report_dict
from projections.verify import verify


def run_projections(ns: argparse.Namespace, settings: Settings) -> int:
    read = open_read_side(settings)
    positions = read.positions()
    if ns.json:
        output.print_json(positions)
        return EXIT_OK
    output.print_table(
        "Projections",
        ("projection", "position", "log", "lag", "state"),
        (
            (n, str(p["position"]), str(p["log"]), str(p["lag"]), str(p["state"]))
            for n, p in positions.items()
        ),
    )
    for name, p in positions.items():
        if "problem" in p:
            print(f"{name}: {p['problem']}: run 'mynacard rebuild'", file=sys.stderr)
    return EXIT_OK


def run_rebuild(ns: argparse.Namespace, settings: Settings) -> int:
    chain = check_before_rebuild(ns, settings)
    read = open_read_side(settings)
    names = ns.projection or [p.name for p in read.projections]
    unknown = [n for n in names if n not in {p.name for p in read.projections}]
    if unknown:
        raise InputError.single(
            "--projection",
            f"unknown projection {unknown[0]!r}",
            hint=f"projections: {', '.join(p.name for p in read.projections)}",
        )
    head = read.upstream.recorder.max_notification_id() or 0
    applied: dict[str, int] = {}
    with progress_bar("rebuilding", head * len(names), not ns.json) as advance:
        for name in names:
            seen = [0]

            def progress(_name: str, position: int, _head: int, seen: list[int] = seen) -> None:
                advance(position - seen[0])
                seen[0] = position

            applied.update(read.rebuild([name], progress))
    if ns.json:
        output.print_json({"rebuilt": applied, "positions": read.positions(), "chain": chain})
    else:
        for name, n in applied.items():
            print(f"{name}: rebuilt from position 0, {n} events applied")
    return EXIT_OK


def run_follow_projections(ns: argparse.Namespace, settings: Settings) -> int:
    from projections.runner import Poller

    read = open_read_side(settings)
    print(f"following the log every {ns.interval}s (Ctrl-C to stop)", file=sys.stderr)
    poller = Poller(read.upstream, read.projections, ns.interval)
    with views_on_this_log(), suppress(KeyboardInterrupt):
        poller.run()
    return EXIT_OK


def run_sweep(ns: argparse.Namespace, settings: Settings) -> int:
    app, read = caught_up(settings, ns)
    until = option_date("--until", ns.until) if ns.until else today_of(app)
    if until > today_of(app):
        raise InputError.single(
            "--until", f"{until.isoformat()} lies after today: time has not made it due yet"
        )
    scan = read.sweep_scan(until)
    with progress_bar("sweeping", len(scan.candidates), not ns.json) as advance:
        report = sweep(
            app,
            scan.candidates,
            until,
            ns.actor or settings.default_actor(),
            advance,
            cards_checked=scan.checked,
        )
    with views_on_this_log():
        read.catch_up()
    if ns.json:
        output.print_json(report.as_dict())
        return EXIT_OK
    print(
        f"sweep until {until.isoformat()}: {report.cards_checked} cards checked, "
        f"{report.cards_swept} with something possibly due: {report.commands_run} swept now, "
        f"{report.already_done} already swept; {report.events_recorded} events recorded"
    )
    if report.by_type:
        output.print_table(None, ("event", "count"), ((k, str(v)) for k, v in sorted(report.by_type.items())))
    return EXIT_OK


def run_verify(ns: argparse.Namespace, settings: Settings) -> int:
    if ns.chain:
        return run_verify_chain(ns, settings)
    chain, seconds = walk_log_chain(settings, not ns.json)
    read = open_read_side(settings)
    report = verify(read)
    if ns.json:
        found = {**report.as_dict(), "ok": report.ok and chain.ok, "chain": chain_report_dict(chain)}
        output.print_json(found)
    else:
        at = ", ".join(f"{name} at {position}" for name, position in report.positions.items())
        print(
            f"verified {report.cards} cards, {report.certificates} certificates, "
            f"{report.revocation_entries} revocation entries ({at}; log at {report.log}): "
            f"{len(report.differences)} differences"
        )
        if report.differences:
            output.print_table(
                "Differences",
                ("projection", "subject", "field", "expected", "actual"),
                (
                    (d.projection, d.subject, d.field, str(d.expected), str(d.actual))
                    for d in report.differences
                ),
            )
        print_chain_report(chain, seconds)
    return EXIT_OK if report.ok and chain.ok else EXIT_DIFFERENCES


def run_rotate_key(ns: argparse.Namespace, settings: Settings) -> int:
    """Add a key to the encryption key ring: new events use it, old ones stay readable."""
    key, head = rotate_store_key(settings)
    if ns.json:
        output.print_json({"key_id": key.key_id, "events_before": head})
    else:
        print(
            f"key {key.key_id} now encrypts new events; events up to position {head} keep their keys "
            f"(back up {settings.data_dir / 'cipher.keys'})"
        )
    return EXIT_OK


def run_migrate_holders(ns: argparse.Namespace, settings: Settings) -> int:
    app = open_write_side(settings)
    persons = cards_by_person(app)
    with progress_bar(
        "filing cards under their persons", len(persons), len(persons) > 200 and not ns.json
    ) as advance:
        report = migrate_holders(app, ns.actor or settings.default_actor(), advance, persons)
    if ns.json:
        output.print_json(report.as_dict())
        return EXIT_OK
    print(
        f"filed {report.cards} cards under {report.persons} persons ({report.already_filed} already filed), "
        f"{report.events_recorded} events recorded; persons with two cards in use (recorded before "
        f"R62): {report.persons_with_two_cards_in_use}"
    )
    return EXIT_OK


def run_policies(ns: argparse.Namespace, settings: Settings) -> int:
    policies = settings.policies.as_dict()
    if ns.json:
        output.print_json(policies)
        return EXIT_OK
    output.print_fields("Policies (set with MYNACARD_POLICIES__<NAME>=value)", policies.items())
    return EXIT_OK


def add_operation_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    add = subcommand_adder(sub, common)

    add("projections", run_projections, "each projection's position and lag behind the log")

    p = add(
        "rebuild",
        run_rebuild,
        "rebuild projections from position 0",
        "Walks the log's hash chain first (issue 13): a broken chain (an event deleted, inserted, "
        "reordered, altered or moved) refuses the rebuild with exit 7 and the position, unless "
        f"{ACCEPT_FLAG} --reason TEXT is given, which is recorded on the log with the actor.",
    )
    p.add_argument("--projection", action="append", help="one projection (repeat); default: all")
    p.add_argument(
        ACCEPT_FLAG, action="store_true", help="rebuild even from a broken chain (recorded, with --reason)"
    )
    p.add_argument("--reason", help=f"why the break is accepted (required with {ACCEPT_FLAG})")
    p.add_argument("--actor", help="who accepts it (default: MYNACARD_ACTOR or the login name)")

    p = add("follow", run_follow_projections, "keep the projections up to date (polling the log)")
    p.add_argument("--interval", type=float, default=0.5, help="seconds between polls (default 0.5)")

    p = add(
        "sweep",
        run_sweep,
        "record every time-driven event due up to a day (idempotent)",
        "Records, once, every expiry, lapse (R13, R27, R28, R30) and expiry notice (R44) due by --until; "
        "running it again records nothing new, and an interrupted sweep resumes.",
    )
    p.add_argument("--until", metavar="DATE", help="the day (default: today; never after today)")
    p.add_argument("--actor", help="who records it (default: MYNACARD_ACTOR or the login name)")

    p = add(
        "verify",
        run_verify,
        "check the log's hash chain, and every read-model table against a fold of the log",
        "Walks the log's hash chain (issue 13) and reports its first break; checks the event log "
        "(event types, versions without gaps), then rebuilds each projection from the log in a "
        "scratch copy and compares every row and column of every table of the read models, and "
        "every tracking position, with it; repairs nothing. Prints the differences and exits 7 if "
        "there are any. With --chain, only the chain walk (fast: the whole log, exit 7 with the "
        "position of the first break).",
    )
    p.add_argument("--chain", action="store_true", help="only walk the hash chain")

    add("policies", run_policies, "the policy settings in force (D01–D11)")

    p = add(
        "migrate-holders",
        run_migrate_holders,
        "file the cards of a store written before R62–R65 under their persons (once)",
        "A store written before the rules across one person (R62–R65) refuses apply, hand-over and "
        "person-wide invalidations (exit 6) until its cards are filed under their persons. This reads "
        "the log once and files them; it is idempotent, and an interrupted run is simply run again.",
    )
    p.add_argument("--actor", help="who records it (default: MYNACARD_ACTOR or the login name)")

    add(
        "rotate-key",
        run_rotate_key,
        "add an encryption key: new events use it, old ones stay readable",
        "Adds a key to the key ring (cipher.keys): events recorded from now on are encrypted with it, "
        "earlier ones stay readable with their own keys. Back up the ring file.",
    )
