"""Questions answered from the read models (the clerk's view): status, certificate, person,
expiring, revocations, counts. Never a replay of the log."""

from __future__ import annotations

import argparse
from typing import Any

from pydantic import TypeAdapter, ValidationError

from commands.config import Settings
from commands.errors import InputError, NotFound
from commands.fields import MyNumber
from lifecycle.calendar import start_of_day, to_jst
from lifecycle.identifiers import format_application_id, holder_reference
from mynacard import output
from mynacard.audit_commands import status_as_known_at
from mynacard.cli_support import (
    EXIT_OK,
    UnknownCertificate,
    caught_up,
    option_card_id,
    option_date,
    option_moment,
    subcommand_adder,
    today_of,
    vars_of,
)


def run_status(ns: argparse.Namespace, settings: Settings) -> int:
    card_id = option_card_id(ns.card)
    if ns.as_known_at or ns.at_position is not None:
        return status_as_known_at(ns, settings, card_id)
    app, read = caught_up(settings, ns)
    today = option_date("--as-of", ns.as_of) if ns.as_of else today_of(app)
    moment = start_of_day(today) if ns.as_of else to_jst(app.clock())
    report = read.card_report(card_id, today, moment)
    if report is None:
        raise NotFound.single("card", "no card with this application id or card id")
    if ns.json:
        output.print_json(report.as_dict())
        return EXIT_OK
    output.print_card_report(report.card, report.certificates, moment)
    return EXIT_OK


def run_certificate(ns: argparse.Namespace, settings: Settings) -> int:
    app, read = caught_up(settings, ns)
    moment = option_moment("--at", ns.at) if ns.at else to_jst(app.clock())
    status = read.certificate(ns.serial, moment)
    if status is None:
        raise UnknownCertificate()
    if ns.json:
        output.print_json(status.as_dict())
        return EXIT_OK
    output.print_certificate(status, moment)
    return EXIT_OK


def run_person(ns: argparse.Namespace, settings: Settings) -> int:
    try:
        number = TypeAdapter(MyNumber).validate_python(ns.my_number)
    except ValidationError as e:
        raise InputError.from_validation(e) from None
    app, read = caught_up(settings, ns)
    ref = holder_reference(number.get_secret_value(), app.holder_key)
    cards = read.cards_of_holder(ref, today_of(app))
    if ns.json:
        output.print_json({"holder_ref": ref, "cards": [c.as_dict() for c in cards]})
        return EXIT_OK
    output.print_table(
        f"Cards of {cards[0].holder if cards else 'this person'}",
        ("card", "kind", "status", "today", "issued", "valid until"),
        ((c.application_id, c.kind, c.status, c.status_today, c.issue_date, c.expires_on) for c in cards),
    )
    return EXIT_OK


def notice_text(card: dict[str, object]) -> str:
    """R44: whether a notice goes out, went out, came back, or may not reach the holder (003 Q10)."""
    if not card["notice"]:
        return "no (stay)"
    text = "undelivered" if card["notice_undelivered"] else "sent" if card["notice_sent"] else "yes"
    return text + (" (moved in recently: may not arrive)" if card["notice_may_not_arrive"] else "")


def run_expiring(ns: argparse.Namespace, settings: Settings) -> int:
    app, read = caught_up(settings, ns)
    first = option_date("--from", ns.from_) if ns.from_ else today_of(app)
    last = option_date("--to", ns.to)
    if last < first:
        raise InputError.single("--to", "the range ends before it starts")
    listing = read.expiring(first, last)
    if ns.json:
        output.print_json({"from": first, "to": last, **listing})
        return EXIT_OK
    output.print_table(
        f"Cards expiring {first.isoformat()} … {last.isoformat()}",
        ("card", "status", "expires", "notice (R44)"),
        (
            (
                format_application_id(c["application_id"]),
                c["status"],
                c["expires_on"],
                notice_text(c),
            )
            for c in listing["cards"]
        ),
    )
    output.print_table(
        "Certificates expiring",
        ("serial", "kind", "status", "expires"),
        ((c["serial"], c["kind"], c["status"], c["expires_on"]) for c in listing["certificates"]),
    )
    return EXIT_OK


def run_revocations(ns: argparse.Namespace, settings: Settings) -> int:
    _, read = caught_up(settings, ns)
    number, entries = read.revocation_list(include_removed=ns.all)
    if ns.json:
        output.print_json({"list_number": number, "entries": [vars_of(e) for e in entries]})
        return EXIT_OK
    output.print_table(
        f"Revocation list no. {number}",
        ("serial", "kind", "reason", "code", "effective", "expires", "added in", "removed in"),
        (
            (
                e.serial,
                e.kind,
                e.reason_name,
                str(e.reason_code),
                e.revoked_at,
                e.expires_on,
                str(e.added_in),
                str(e.removed_in or "—"),
            )
            for e in entries
        ),
    )
    return EXIT_OK


def run_counts(ns: argparse.Namespace, settings: Settings) -> int:
    _, read = caught_up(settings, ns)
    counts = read.counts()
    if ns.json:
        output.print_json(vars_of(counts))
        return EXIT_OK
    for title, data in (
        ("Cards by status", counts.cards_by_status),
        ("Cards by kind", counts.cards_by_kind),
        ("Cards issued by month", counts.cards_issued_by_month),
        ("Cards in use expiring by month", counts.cards_expiring_by_month),
    ):
        output.print_table(title, ("", "count"), ((k, str(v)) for k, v in data.items()))
    output.print_table(
        "Certificates by kind and status",
        ("kind", "status", "count"),
        ((k, s, str(n)) for k, by in counts.certificates_by_kind_and_status.items() for s, n in by.items()),
    )
    return EXIT_OK


def add_read_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    add = subcommand_adder(sub, common)

    p = add(
        "status",
        run_status,
        "a card's status today and until when it is valid",
        "The card's recorded status, what holds today, its expiry, renewal window, pending deadlines "
        "and certificates (from the read model; --as-known-at replays only what was recorded by then).",
    )
    p.add_argument("card", metavar="CARD", help="application id (23 digits) or card id")
    p.add_argument("--as-of", help="the day to judge on (default: today)")
    p.add_argument("--as-known-at", metavar="WHEN", help="answer from the events recorded up to WHEN")
    p.add_argument(
        "--at-position",
        type=int,
        metavar="N",
        help="answer from what the log held once position N was committed (audit)",
    )

    p = add("certificate", run_certificate, "a certificate's state and validity at a moment")
    p.add_argument("serial", metavar="SERIAL", help="the certificate's serial number")
    p.add_argument("--at", help="the moment to judge: 2025-01-05T09:00 (JST) or a date (00:00)")

    p = add("person", run_person, "all cards of a person (by the keyed hash of the My Number)")
    p.add_argument("my_number", metavar="MY_NUMBER", help="個人番号 (hashed at once; never stored or shown)")

    p = add("expiring", run_expiring, "cards and certificates expiring in a date range (R44)")
    p.add_argument("--from", dest="from_", metavar="DATE", help="first day (default: today)")
    p.add_argument("--to", required=True, metavar="DATE", help="last day")

    p = add("revocations", run_revocations, "the revocation list (CRL) with its list number")
    p.add_argument("--all", action="store_true", help="include entries removed by a release")

    add("counts", run_counts, "counts by status, kind and month")
