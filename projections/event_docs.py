"""The documentation of every event's JSON shape (``mynacard.event/1``), generated from the event
classes so it cannot drift: ``python -m projections.event_docs > docs/events.md``."""

from __future__ import annotations

import dataclasses
import inspect
import sys
from typing import Any

from lifecycle import card_events as ev
from lifecycle import certificate as cert
from projections.events import _COMMON, EVENT_SCHEMA

_CERTIFICATE_EVENTS = (
    cert.CertificateIssued,
    cert.CertificatePutOnHold,
    cert.CertificateReleased,
    cert.CertificateRevoked,
    cert.CertificateUsageChanged,
    cert.CertificateExpired,
)


_JSON_TYPES = {
    "str": "string",
    "int": "integer",
    "bool": "boolean",
    "date": "string (date, ISO 8601)",
    "datetime": "string (date-time, ISO 8601, +09:00)",
    "UUID": "string (UUID)",
    "list[str]": "array of strings",
    "dict[str, Any]": "object",
}


def _type_name(annotation: Any) -> str:
    """A Python annotation (as written on the event class) as a JSON type."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    parts = [p.strip() for p in str(text).split("|")]
    names = [_JSON_TYPES.get(p, p) for p in parts if p != "None"]
    return " or ".join(names) + (" or null" if "None" in parts else "")


def _fields(cls: type[Any]) -> list[tuple[str, str]]:
    return [(f.name, _type_name(f.type)) for f in dataclasses.fields(cls) if f.name not in _COMMON]


def _doc(cls: type[Any]) -> str:
    return " ".join((inspect.getdoc(cls) or "").split())


def document() -> str:
    lines = [
        "# Event JSON shapes (`mynacard.event/1`)",
        "",
        "Generated from the event classes by `python -m projections.event_docs`; a test fails when",
        "this file and the code disagree. Every event is one JSON object:",
        "",
        "```json",
        '{"schema": "' + EVENT_SCHEMA + '", "position": 42, "type": "Suspended",',
        ' "topic": "mynacard.Card.Suspended", "aggregate": "card", "aggregate_id": "<uuid>", "version": 7,',
        ' "effective_at": "2025-01-05T03:15:00+09:00", "recorded_at": "2025-01-05T03:15:02+09:00",',
        ' "actor": "callcentre-12", "command_id": "<uuid>", "data": {"channel": "call_centre"}}',
        "```",
        "",
        "- `position`: the event's place in the global log (strictly increasing, no gaps in what a",
        "  consumer sees); resume with `mynacard events --after POSITION` or a durable `--consumer`.",
        "- `effective_at`: when it happened (JST); `recorded_at`: when the service learned it.",
        "- `type` and `topic` are stable; a change of an event's fields raises `schema` to `/2` and",
        "  this document says what changed. Fields are only ever added in `/1`.",
        "- No event carries a My Number, a name, an address or a PIN value; a person is the",
        "  `holder_ref` (a keyed hash).",
        "",
    ]
    for title, classes in (("Card events", ev.ALL_CARD_EVENTS), ("Certificate events", _CERTIFICATE_EVENTS)):
        lines += [f"## {title}", ""]
        for cls in classes:
            if cls in (ev.CardEvent,):
                continue
            lines += [f"### `{cls.__name__}` — `{cls.TOPIC}`", "", _doc(cls), ""]
            fields = _fields(cls)
            if fields:
                lines += ["| field | type |", "|---|---|"]
                lines += [f"| `{name}` | {kind} |" for name, kind in fields]
            else:
                lines.append("`data` is empty.")
            lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(document())
