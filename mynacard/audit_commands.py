"""Audit replay (the auditor's view): history, valid-at, and status as known at a recorded time.
Each answer folds one card's and its certificates' events, never the whole log."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from commands.config import Settings
from commands.errors import InputError, NotFound
from lifecycle.calendar import jst_date, start_of_day
from lifecycle.identifiers import format_application_id
from mynacard import output
from mynacard.bootstrap import open_write_side
from mynacard.cli_support import (
    EXIT_OK,
    UnknownCertificate,
    log_integrity,
    option_card_id,
    option_date,
    option_moment,
    subcommand_adder,
)
from mynacard.receipt_commands import add_receipt_options, issue_receipt, print_issued
from projections.audit import (
    card_as_known_at,
    card_history,
    certificates_as_known_at,
    recorded_at_position,
    recorded_at_version,
    valid_at,
)
from projections.certificates import certificate_status
from projections.event_json import event_to_dict
from projections.status import card_status

EXIT_NOT_VALID = 1
"""``valid-at --check``: the certificate was not valid at T (like grep's 1: a negative answer)."""


def audit_moment(ns: argparse.Namespace, app: Any, card_id: Any) -> datetime | None:
    """The recorded time an audit question is answered at: ``--as-known-at``, or the time of log
    position ``--at-position`` (the store as that command left it), or of the card's version
    ``--until-version``; None: as known now."""
    given = [
        o
        for o, v in (
            ("--as-known-at", ns.as_known_at),
            ("--at-position", ns.at_position),
            ("--until-version", getattr(ns, "until_version", None)),
        )
        if v is not None
    ]
    if len(given) > 1:
        raise InputError.single(given[1], f"give one of {', '.join(given)}, not several")
    if ns.at_position is not None:
        if ns.at_position < 1:
            raise InputError.single("--at-position", "log positions start at 1")
        with log_integrity():
            moment = recorded_at_position(app.recorder, app.mapper, ns.at_position)
        if moment is None:
            head = app.recorder.max_notification_id() or 0
            raise NotFound.single(
                "--at-position", f"the log has no event at position {ns.at_position} (head {head})"
            )
        return moment
    if getattr(ns, "until_version", None) is not None:
        with log_integrity():
            moment = recorded_at_version(app.events, card_id, ns.until_version)
        if moment is None:
            raise NotFound.single("--until-version", f"the card has no version {ns.until_version}")
        return moment
    return option_moment("--as-known-at", ns.as_known_at) if ns.as_known_at else None


def audit_label(ns: argparse.Namespace, known_at: datetime) -> str:
    """How an audit answer says what it was answered from."""
    if ns.at_position is not None:
        return f"as of log position {ns.at_position} (recorded {known_at.isoformat()})"
    if getattr(ns, "until_version", None) is not None:
        return f"up to the card's version {ns.until_version} (recorded {known_at.isoformat()})"
    return f"as known at {known_at.isoformat()}"


def status_as_known_at(ns: argparse.Namespace, settings: Settings, card_id: Any) -> int:
    app = open_write_side(settings)
    known_at = audit_moment(ns, app, card_id)
    assert known_at is not None
    with log_integrity():
        card = card_as_known_at(app.events, card_id, known_at)
        if card is None:
            raise NotFound.single("card", f"no card was known at {known_at.isoformat()}")
        today = option_date("--as-of", ns.as_of) if ns.as_of else jst_date(known_at)
        moment = start_of_day(today) if ns.as_of else known_at
        status = card_status(card, today, app.policies)
        certs = [
            certificate_status(c, moment, card) for c in certificates_as_known_at(app.events, card, known_at)
        ]
    if ns.json:
        output.print_json(
            {**status.as_dict(), "as_known_at": known_at, "certificates": [c.as_dict() for c in certs]}
        )
        return EXIT_OK
    print(f"{audit_label(ns, known_at)}: events recorded after it are ignored")
    output.print_card_report(status, certs, moment)
    return EXIT_OK


def run_valid_at(ns: argparse.Namespace, settings: Settings) -> int:
    if ns.receipt is not None:  # issue 13: the answer signed, from the log up to its chain head
        receipt = issue_receipt(ns, settings)
        print_issued(receipt, ns.receipt, ns.json)
        return EXIT_NOT_VALID if ns.check and not receipt["answer"]["valid"] else EXIT_OK
    if ns.force:
        raise InputError.single("--force", "--force only goes with --receipt FILE")
    app = open_write_side(settings)
    at = option_moment("--at", ns.at)
    known_at = option_moment("--as-known-at", ns.as_known_at) if ns.as_known_at else None
    with log_integrity():
        answer = valid_at(app.events, ns.serial.strip().upper(), at, known_at)
    if answer.kind == "?" and answer.reason == "no such certificate":
        raise UnknownCertificate()
    code = EXIT_NOT_VALID if ns.check and not answer.valid else EXIT_OK
    if ns.json:
        output.print_json(answer.as_dict())
        return code
    known = f"as known at {known_at.isoformat()}" if known_at else "as known now"
    verdict = (
        f"VALID (inside its validity period, {answer.rule})"
        if answer.valid
        else f"NOT VALID: {answer.reason} ({answer.rule})"
    )
    print(f"{answer.kind} {answer.serial} at {at.isoformat()}, {known}: {verdict}")
    return code


def run_history(ns: argparse.Namespace, settings: Settings) -> int:
    app = open_write_side(settings)
    card_id = option_card_id(ns.card)
    known_at = audit_moment(ns, app, card_id)
    with log_integrity():
        card = card_as_known_at(app.events, card_id, known_at)
        if card is None:
            raise NotFound.single("card", "no card with this application id or card id")
        events = card_history(app.events, card)
        certificates = certificates_as_known_at(app.events, card, None)
    if known_at is not None:
        events = [e for e in events if e.timestamp <= known_at]
    rows = [event_to_dict(e) for e in events]
    if ns.json:
        output.print_json(rows)
        return EXIT_OK
    labels = {str(card.id): "card"}
    labels.update({str(c.id): f"{c.kind} {c.serial[:8]}…" for c in certificates})
    title = f"History of card {format_application_id(card.application_id)}" + (
        f" {audit_label(ns, known_at)}" if known_at else ""
    )
    output.print_history(title, rows, labels)
    return EXIT_OK


def add_audit_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    add = subcommand_adder(sub, common)

    p = add(
        "history",
        run_history,
        "every event of a card and its certificates, in order",
        "Every event of the card and of its certificates, with effective and recorded time and actor.",
    )
    p.add_argument("card", metavar="CARD", help="application id (23 digits) or card id")
    p.add_argument("--as-known-at", metavar="WHEN", help="only the events recorded up to WHEN")
    p.add_argument(
        "--at-position", type=int, metavar="N", help="only what the log held once position N was committed"
    )
    p.add_argument(
        "--until-version", type=int, metavar="V", help="only what was recorded up to the card's version V"
    )

    p = add(
        "valid-at",
        run_valid_at,
        "was a certificate valid at T, as known now or as known at S?",
        "Audit replay: the certificate's and its card's events (only those recorded up to "
        "--as-known-at) decide whether it was valid at the effective time --at. A 'not valid' "
        "answer names the rule that makes it so; a valid one the rule of the validity period it "
        "falls in (R35 AUTH, R36 SIG, R46 smartphone). With --check the exit status is the answer: "
        "0 valid, 1 not valid.",
    )
    p.add_argument("serial", metavar="SERIAL")
    p.add_argument("--at", required=True, metavar="T", help="effective time, e.g. 2025-01-06T09:00")
    p.add_argument("--as-known-at", metavar="S", help="recorded time: what the service knew then")
    p.add_argument(
        "--check",
        action="store_true",
        help="for scripts: exit 0 if the certificate was valid, 1 if it was not (the answer is "
        "printed either way; errors keep their exit codes, e.g. 4 for an unknown serial)",
    )
    add_receipt_options(p)
