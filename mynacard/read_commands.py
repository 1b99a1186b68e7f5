"""Read-side and operations subcommands: questions answered from the projections (status,
certificate, person, expiring, revocations, counts), audit replay (valid-at, history and status
as known at a time), and operations (projections, rebuild, follow, sweep, events, verify)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import date, datetime
from typing import Any

from eventsourcing.domain import OriginatorVersionError
from eventsourcing.utils import TopicError
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from commands.application import CardLifecycle
from commands.config import ConfigurationError, Settings
from commands.dates import parse_date, parse_datetime
from commands.errors import InputError, NotFound
from commands.fields import CardRef, MyNumber
from commands.handlers import resolve_card_ref
from commands.service import open_lifecycle, rotate_store_key
from commands.sweep import sweep
from lifecycle.calendar import jst_date, start_of_day, to_jst
from lifecycle.identifiers import holder_reference
from mynacard import output
from mynacard.wiring import open_read_side
from projections.audit import card_as_known_at, certificates_as_known_at, known_events, valid_at
from projections.certificates import certificate_status
from projections.events import event_to_dict
from projections.read_side import ReadSide
from projections.runner import ViewAheadOfLog
from projections.status import card_status
from projections.verify import verify
from storage.integrity import StoreIntegrityError

EXIT_OK, EXIT_DIFFERENCES = 0, 7

Runner = Callable[[argparse.Namespace, Settings], int]


# ----------------------------------------------------------------------------- helpers


def _date(option: str, text: str) -> date:
    try:
        return parse_date(text)
    except ValueError as e:
        raise InputError.single(option, str(e)) from None


def _moment(option: str, text: str) -> datetime:
    try:
        return parse_datetime(text)
    except ValueError as e:
        raise InputError.single(option, str(e)) from None


def _card_id(text: str) -> Any:
    try:
        return resolve_card_ref(str(TypeAdapter(CardRef).validate_python(text)))
    except ValidationError as e:
        raise InputError.from_validation(e) from None


@contextmanager
def _progress(description: str, total: int | None, enabled: bool) -> Iterator[Callable[[int], None]]:
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
def _views_on_this_log() -> Iterator[None]:
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
def _log_integrity() -> Iterator[None]:
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


def _caught_up(settings: Settings, ns: argparse.Namespace) -> tuple[CardLifecycle, ReadSide]:
    """The read side, brought up to the log first (read your writes)."""
    app = open_lifecycle(settings)
    read = open_read_side(settings, app)
    positions = read.positions()
    behind = sum(p["lag"] for p in positions.values())
    last = {name: p["position"] for name, p in positions.items()}
    with (
        _views_on_this_log(),
        _progress("catching up", behind, behind > 2000 and not ns.json) as advance,
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


def _today(app: CardLifecycle) -> date:
    return jst_date(app.clock())


# ----------------------------------------------------------------------------- questions


def run_status(ns: argparse.Namespace, settings: Settings) -> int:
    card_id = _card_id(ns.card)
    if ns.as_known_at:
        return _status_as_known_at(ns, settings, card_id)
    app, read = _caught_up(settings, ns)
    today = _date("--as-of", ns.as_of) if ns.as_of else _today(app)
    moment = start_of_day(today) if ns.as_of else to_jst(app.clock())
    report = read.card_report(card_id, today, moment)
    if report is None:
        raise NotFound.single("card", "no card with this application id or card id")
    if ns.json:
        output.print_json(report.as_dict())
        return EXIT_OK
    output.print_card_report(report.card, report.certificates, moment)
    return EXIT_OK


def _status_as_known_at(ns: argparse.Namespace, settings: Settings, card_id: Any) -> int:
    app = open_lifecycle(settings)
    known_at = _moment("--as-known-at", ns.as_known_at)
    with _log_integrity():
        card = card_as_known_at(app.events, card_id, known_at)
        if card is None:
            raise NotFound.single("card", f"no card was known at {known_at.isoformat()}")
        today = _date("--as-of", ns.as_of) if ns.as_of else jst_date(known_at)
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
    print(f"as known at {known_at.isoformat()} (events recorded after it are ignored)")
    output.print_card_report(status, certs, moment)
    return EXIT_OK


def run_certificate(ns: argparse.Namespace, settings: Settings) -> int:
    app, read = _caught_up(settings, ns)
    moment = _moment("--at", ns.at) if ns.at else to_jst(app.clock())
    status = read.certificate(ns.serial, moment)
    if status is None:
        raise UnknownCertificate()
    if ns.json:
        output.print_json(status.as_dict())
        return EXIT_OK
    output.print_certificate(status, moment)
    return EXIT_OK


def run_valid_at(ns: argparse.Namespace, settings: Settings) -> int:
    app = open_lifecycle(settings)
    at = _moment("--at", ns.at)
    known_at = _moment("--as-known-at", ns.as_known_at) if ns.as_known_at else None
    with _log_integrity():
        answer = valid_at(app.events, ns.serial.strip().upper(), at, known_at)
    if answer.kind == "?" and answer.reason == "no such certificate":
        raise UnknownCertificate()
    if ns.json:
        output.print_json(answer.as_dict())
        return EXIT_OK
    known = f"as known at {known_at.isoformat()}" if known_at else "as known now"
    verdict = "VALID" if answer.valid else f"NOT VALID: {answer.reason} ({answer.rule})"
    print(f"{answer.kind} {answer.serial} at {at.isoformat()}, {known}: {verdict}")
    return EXIT_OK


def run_history(ns: argparse.Namespace, settings: Settings) -> int:
    app = open_lifecycle(settings)
    card_id = _card_id(ns.card)
    known_at = _moment("--as-known-at", ns.as_known_at) if ns.as_known_at else None
    with _log_integrity():
        card = card_as_known_at(app.events, card_id, known_at)
        if card is None:
            raise NotFound.single("card", "no card with this application id or card id")
        events = app.card_history(card)
        certificates = app.card_certificates(card)
    if known_at is not None:
        events = [e for e in events if e.timestamp <= known_at]
    rows = [event_to_dict(e) for e in events]
    if ns.json:
        output.print_json(rows)
        return EXIT_OK
    labels = {str(card.id): "card"}
    labels.update({str(c.id): f"{c.kind} {c.serial[:8]}…" for c in certificates})
    title = f"History of card {card.application_id}" + (
        f" as known at {known_at.isoformat()}" if known_at else ""
    )
    output.print_history(title, rows, labels)
    return EXIT_OK


def run_person(ns: argparse.Namespace, settings: Settings) -> int:
    try:
        number = TypeAdapter(MyNumber).validate_python(ns.my_number)
    except ValidationError as e:
        raise InputError.from_validation(e) from None
    app, read = _caught_up(settings, ns)
    ref = holder_reference(number.get_secret_value(), app.holder_key)
    cards = read.cards_of_holder(ref, _today(app))
    if ns.json:
        output.print_json({"holder_ref": ref, "cards": [c.as_dict() for c in cards]})
        return EXIT_OK
    output.print_table(
        f"Cards of {cards[0].holder if cards else 'this person'}",
        ("card", "kind", "status", "today", "issued", "valid until"),
        ((c.application_id, c.kind, c.status, c.status_today, c.issue_date, c.expires_on) for c in cards),
    )
    return EXIT_OK


def run_expiring(ns: argparse.Namespace, settings: Settings) -> int:
    app, read = _caught_up(settings, ns)
    first = _date("--from", ns.from_) if ns.from_ else _today(app)
    last = _date("--to", ns.to)
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
            (c["application_id"], c["status"], c["expires_on"], "yes" if c["notice"] else "no (stay)")
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
    _, read = _caught_up(settings, ns)
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


def vars_of(obj: Any) -> dict[str, Any]:
    return {k: getattr(obj, k) for k in obj.__dataclass_fields__}


def run_counts(ns: argparse.Namespace, settings: Settings) -> int:
    _, read = _caught_up(settings, ns)
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


# ----------------------------------------------------------------------------- operations


def run_projections(ns: argparse.Namespace, settings: Settings) -> int:
    app = open_lifecycle(settings)
    read = open_read_side(settings, app)
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
    app = open_lifecycle(settings)
    read = open_read_side(settings, app)
    names = ns.projection or [p.name for p in read.projections]
    unknown = [n for n in names if n not in {p.name for p in read.projections}]
    if unknown:
        raise InputError.single(
            "--projection",
            f"unknown projection {unknown[0]!r}",
            hint=f"projections: {', '.join(p.name for p in read.projections)}",
        )
    head = app.recorder.max_notification_id() or 0
    applied: dict[str, int] = {}
    with _progress("rebuilding", head * len(names), not ns.json) as advance:
        for name in names:
            seen = [0]

            def progress(_name: str, position: int, _head: int, seen: list[int] = seen) -> None:
                advance(position - seen[0])
                seen[0] = position

            applied.update(read.rebuild([name], progress))
    if ns.json:
        output.print_json({"rebuilt": applied, "positions": read.positions()})
    else:
        for name, n in applied.items():
            print(f"{name}: rebuilt from position 0, {n} events applied")
    return EXIT_OK


def run_follow_projections(ns: argparse.Namespace, settings: Settings) -> int:
    from projections.runner import Poller

    app = open_lifecycle(settings)
    read = open_read_side(settings, app)
    print(f"following the log every {ns.interval}s (Ctrl-C to stop)", file=sys.stderr)
    poller = Poller(read.upstream, read.projections, ns.interval)
    with _views_on_this_log(), suppress(KeyboardInterrupt):
        poller.run()
    return EXIT_OK


def run_sweep(ns: argparse.Namespace, settings: Settings) -> int:
    app, read = _caught_up(settings, ns)
    until = _date("--until", ns.until) if ns.until else _today(app)
    if until > _today(app):
        raise InputError.single(
            "--until", f"{until.isoformat()} lies after today: time has not made it due yet"
        )
    candidates = read.sweep_candidates(until)
    with _progress("sweeping", len(candidates), not ns.json) as advance:
        report = sweep(app, candidates, until, ns.actor or settings.default_actor(), advance)
    with _views_on_this_log():
        read.catch_up()
    if ns.json:
        output.print_json(report.as_dict())
        return EXIT_OK
    print(
        f"sweep until {until.isoformat()}: {report.cards_checked} cards checked, "
        f"{report.commands_run} swept now, {report.already_done} already swept, "
        f"{report.events_recorded} events recorded"
    )
    if report.by_type:
        output.print_table(None, ("event", "count"), ((k, str(v)) for k, v in sorted(report.by_type.items())))
    return EXIT_OK


def run_verify(ns: argparse.Namespace, settings: Settings) -> int:
    app = open_lifecycle(settings)
    read = open_read_side(settings, app)
    report = verify(read)
    if ns.json:
        output.print_json(report.as_dict())
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
    return EXIT_OK if report.ok else EXIT_DIFFERENCES


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


def run_policies(ns: argparse.Namespace, settings: Settings) -> int:
    policies = settings.policies.as_dict()
    if ns.json:
        output.print_json(policies)
        return EXIT_OK
    output.print_fields("Policies (set with MYNACARD_POLICIES__<NAME>=value)", policies.items())
    return EXIT_OK


# ----------------------------------------------------------------------------- the parsers


def add_read_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    def add(name: str, run: Runner, help_: str, description: str | None = None) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(
            name, parents=[common], help=help_, description=description or help_ + "."
        )
        p.set_defaults(run=run)
        return p

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

    p = add(
        "history",
        run_history,
        "every event of a card and its certificates, in order",
        "Every event of the card and of its certificates, with effective and recorded time and actor.",
    )
    p.add_argument("card", metavar="CARD", help="application id (23 digits) or card id")
    p.add_argument("--as-known-at", metavar="WHEN", help="only the events recorded up to WHEN")

    p = add("certificate", run_certificate, "a certificate's state and validity at a moment")
    p.add_argument("serial", metavar="SERIAL", help="the certificate's serial number")
    p.add_argument("--at", help="the moment to judge: 2025-01-05T09:00 (JST) or a date (00:00)")

    p = add(
        "valid-at",
        run_valid_at,
        "was a certificate valid at T, as known now or as known at S?",
        "Audit replay: the certificate's and its card's events (only those recorded up to "
        "--as-known-at) decide whether it was valid at the effective time --at.",
    )
    p.add_argument("serial", metavar="SERIAL")
    p.add_argument("--at", required=True, metavar="T", help="effective time, e.g. 2025-01-06T09:00")
    p.add_argument("--as-known-at", metavar="S", help="recorded time: what the service knew then")

    p = add("person", run_person, "all cards of a person (by the keyed hash of the My Number)")
    p.add_argument("my_number", metavar="MY_NUMBER", help="個人番号 (hashed at once; never stored or shown)")

    p = add("expiring", run_expiring, "cards and certificates expiring in a date range (R44)")
    p.add_argument("--from", dest="from_", metavar="DATE", help="first day (default: today)")
    p.add_argument("--to", required=True, metavar="DATE", help="last day")

    p = add("revocations", run_revocations, "the revocation list (CRL) with its list number")
    p.add_argument("--all", action="store_true", help="include entries removed by a release")

    add("counts", run_counts, "counts by status, kind and month")
    add("projections", run_projections, "each projection's position and lag behind the log")

    p = add("rebuild", run_rebuild, "rebuild projections from position 0")
    p.add_argument("--projection", action="append", help="one projection (repeat); default: all")

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

    add(
        "verify",
        run_verify,
        "compare every read-model table and tracking position with a fold of the log",
        "Checks the event log (event types, versions without gaps), then rebuilds each projection "
        "from the log in a scratch copy and compares every row and column of every table of the "
        "read models, and every tracking position, with it; repairs nothing. Prints the "
        "differences and exits 7 if there are any.",
    )
    add("policies", run_policies, "the policy settings in force (D01–D11)")
    add(
        "rotate-key",
        run_rotate_key,
        "add an encryption key: new events use it, old ones stay readable",
        "Adds a key to the key ring (cipher.keys): events recorded from now on are encrypted with it, "
        "earlier ones stay readable with their own keys. Back up the ring file.",
    )


__all__ = ["add_read_commands", "known_events"]
