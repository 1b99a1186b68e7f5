"""Printing: aligned tables for people (rich), one JSON document for programs (``--json``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from commands.dates import format_wareki
from lifecycle.calendar import to_jst
from lifecycle.identifiers import format_application_id
from projections.event_json import ERASED_JSON, jsonable


def _console(stream: TextIO | None) -> Console:
    stream = stream if stream is not None else sys.stdout
    return Console(file=stream, highlight=False, soft_wrap=False, width=200 if not stream.isatty() else None)


def print_json(data: Any, stream: TextIO | None = None) -> None:
    """To ``stream``, by default the ``sys.stdout`` of the moment (not of import)."""
    stream = stream if stream is not None else sys.stdout
    stream.write(json.dumps(jsonable(data), ensure_ascii=False, indent=2, sort_keys=False) + "\n")


def show(value: Any) -> str:
    """A value as a clerk reads it (dates with their 和暦)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return to_jst(value).isoformat(sep=" ", timespec="seconds")  # 2025-04-01 10:15:30+09:00
    if isinstance(value, date):
        return f"{value.isoformat()} ({format_wareki(value)})"
    if isinstance(value, list | tuple):
        return ", ".join(show(v) for v in value) or "—"
    return str(value)


def print_fields(title: str, rows: Iterable[tuple[str, Any]], stream: TextIO | None = None) -> None:
    table = Table(title=title, show_header=False, title_justify="left", box=None, pad_edge=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in rows:
        table.add_row(key, show(value))
    _console(stream).print(table)


def print_table(
    title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]], stream: TextIO | None = None
) -> None:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(show(v) if not isinstance(v, str) else v for v in row))
    _console(stream).print(table)


def print_error(data: dict[str, Any], as_json: bool, stream: TextIO | None = None) -> None:
    """Write an error to ``stream``, by default the ``sys.stderr`` of the moment (not of import)."""
    stream = stream if stream is not None else sys.stderr
    if as_json:
        stream.write(json.dumps({"error": data}, ensure_ascii=False) + "\n")
        return
    rule = f"[{data['rule']}]" if data.get("rule") else ""
    issues = data.get("issues", []) or []
    # With issues, the message is only their concatenation: name the count, list them below.
    count = f"{len(issues)} field{'s' if len(issues) > 1 else ''}"
    label = {"bad_input": "bad input", "not_found": "not found"}.get(str(data.get("kind")), "bad input")
    headline = f"{label} ({count})" if issues else data.get("message", "")
    stream.write(f"error{rule}: {headline}\n")
    for issue in issues:
        issue_rule = f" ({issue['rule']})" if issue.get("rule") else ""
        stream.write(f"  {issue['field']}: {issue['message']}{issue_rule}\n")
    if data.get("hint"):
        stream.write(f"  what to do: {data['hint']}\n")


def print_certificates(certificates: Sequence[Any], moment: datetime) -> None:
    if not certificates:
        return
    print_table(
        f"Certificates (valid at {moment.isoformat()})",
        (
            "kind",
            "serial",
            "status",
            "valid",
            "issued",
            "usable from",
            "expires",
            "revoked",
            "reason (RFC 5280)",
            "renewal window (R38)",
        ),
        (
            (
                c.kind,
                c.serial,
                c.status,
                "yes" if c.valid_at else f"no: {c.why}",
                c.issued_at,
                c.usable_from,
                c.expires_on,
                c.revoked_at,
                f"{c.revocation_reason} → {c.reason_name} ({c.reason_code})" if c.reason_name else "—",
                window(c.renewal_window),
            )
            for c in certificates
        ),
    )


def print_card_report(status: Any, certificates: Sequence[Any], moment: datetime) -> None:
    rows: list[tuple[str, Any]] = [
        ("card", status.application_id),
        ("card id", status.card_id),
        ("holder", status.holder),
        ("kind", status.kind),
        ("status (recorded)", status.status),
        ("status today", f"{status.status_today} ({'usable' if status.usable_today else 'not usable'})"),
        ("as of", status.as_of),
        ("applied on", status.applied_on),
        ("accepted by J-LIS", status.accepted_on),
        ("issue date", status.issue_date),
        ("valid until", status.expires_on),
        ("renewal window opens", status.renewal_window_opens),
        ("days left", status.days_left),
        (
            "fee",
            f"{yen(status.fee_assessed_yen)} assessed, {yen(status.fee_paid_yen)} paid, "
            f"{yen(status.fee_assessed_yen - status.fee_paid_yen)} due",
        ),
    ]
    if status.ended:
        ended = status.ended
        reason = f" — {ended['reason']}" if ended["reason"] else ""
        rows.append(("ended", f"{ended['status']} ({ended['rule']}) at {show(ended['at'])}{reason}"))
    rows.extend((f"deadline {d.rule}", f"{d.what} by {show(d.last_day)}") for d in status.deadlines)
    rows.extend((f"due {d['rule']}", f"{d['what']}: {d['detail']} (not yet recorded)") for d in status.due)
    if status.flags:
        rows.append(("flags", ", ".join(status.flags)))
    if status.superseded_by:
        rows.append(("superseded by", status.superseded_by))
    print_fields(f"Card {status.application_id}", rows)
    print_certificates(certificates, moment)


def print_certificate(status: Any, moment: datetime) -> None:
    print_fields(
        f"{status.kind} certificate {status.serial} ({status.name})",
        [
            ("card id", status.card_id),
            ("status", status.status),
            (
                f"valid at {moment.isoformat()}",
                "yes" if status.valid_at else f"no: {status.why} ({status.rule})",
            ),
            ("issued", status.issued_at),
            ("usable from", status.usable_from),
            ("expires", status.expires_on),
            ("revoked", status.revoked_at),
            (
                "reason",
                f"{status.revocation_reason} → {status.reason_name} ({status.reason_code})"
                if status.reason_name
                else None,
            ),
            ("renewal window (R38)", window(status.renewal_window, note=True)),
            ("device", status.device),
            ("face-verified use only", status.face_only),
        ],
    )


def window(renewal: dict[str, str] | None, note: bool = False) -> str:
    """A certificate's renewal window (R38), as a clerk reads it."""
    if renewal is None:
        return "—"
    later = " (after it: renewed any day, free)" if note else ""
    return f"{renewal['opens_on']} … {renewal['closes_on']}{later}"


def yen(amount: int) -> str:
    return f"¥{amount:,}"


def ending(end: Any) -> str:
    """``rule R28 (late_move_in), effective 2025-05-01 00:00:00+0900``: why and when a card
    ended (a command result's ``ended``)."""
    reason = f" ({end.reason})" if end.reason else ""
    return f"rule {end.rule}{reason}, effective {show(end.at)}"


def result_lines(result: Any) -> list[str]:
    """What a write command's result says besides its events: a card this command ended (first,
    in capitals: a clerk must not miss it), other cards it ended (R62, R64), the fee."""
    lines = []
    ended = result.ended
    if ended is not None and ended.by_this_command:
        lines.append(f"CARD {ended.status.upper()} by this command: {ending(ended)}")
    elif ended is not None:
        lines.append(f"the card had already ended: {ended.status}, {ending(ended)}")
    lines.extend(
        f"CARD {other.application_id} {other.status.upper()} by this command: {ending(other)}"
        for other in result.other_cards_ended
    )
    if result.fee is not None:
        fee = result.fee
        lines.append(
            f"fee: {yen(fee.assessed_yen)} assessed, {yen(fee.paid_yen)} paid, {yen(fee.due_yen)} due"
        )
    return lines


def _details(data: dict[str, Any]) -> str:
    shown = {
        k: "(erased)" if v == ERASED_JSON else v for k, v in data.items() if v not in (None, [], False, "")
    }
    if "holder_ref" in shown:
        shown["holder_ref"] = str(shown["holder_ref"])[:12] + "…"
    if "application_id" in shown:
        shown["application_id"] = format_application_id(str(shown["application_id"]))
    return ", ".join(f"{k}={'+'.join(map(str, v)) if isinstance(v, list) else v}" for k, v in shown.items())


def print_history(title: str, events: Sequence[dict[str, Any]], labels: dict[str, str]) -> None:
    print_table(
        title,
        ("#", "aggregate", "event", "effective (JST)", "recorded (JST)", "actor", "details"),
        (
            (
                str(i),
                f"{labels.get(e['aggregate_id'], e['aggregate'])} v{e['version']}",
                e["type"],
                e["effective_at"] or "—",
                e["recorded_at"],
                e["actor"] or "—",
                _details(e["data"]),
            )
            for i, e in enumerate(events, 1)
        ),
    )
