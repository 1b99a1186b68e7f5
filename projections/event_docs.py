"""The documentation of every event's JSON shape (``mynacard.event/1``), generated from the event
classes so it cannot drift, and the delivery contract of durable consumers (``events
--consumer``): ``python -m projections.event_docs > docs/events.md``."""

from __future__ import annotations

import dataclasses
import inspect
import sys
from typing import Any

from lifecycle import certificate as cert
from lifecycle.card import events as ev
from lifecycle.erasure import personal_fields
from lifecycle.holder.events import ALL_HOLDER_EVENTS
from lifecycle.store_log import ALL_STORE_LOG_EVENTS
from projections.chain_docs import chain_section
from projections.event_json import _COMMON, EVENT_SCHEMA
from projections.subscriptions import FINGERPRINT_HISTORY, MAX_CONSUMER_NAME

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
    personal = personal_fields(cls)
    return [
        (f.name, _type_name(f.type) + (" — **personal** (erasable)" if f.name in personal else ""))
        for f in dataclasses.fields(cls)
        if f.name not in _COMMON
    ]


def _doc(cls: type[Any]) -> str:
    return " ".join((inspect.getdoc(cls) or "").split())


def _version(cls: type[Any]) -> list[str]:
    """The class version of an event and, from 2 on, its upcasters (issue 13)."""
    version = int(getattr(cls, "class_version", 1))
    lines = [f"Class version {version}.", *([""] if version > 1 else [])]
    for k in range(1, version):
        upcast = getattr(cls, f"upcast_v{k}_v{k + 1}")
        lines.append(f"- `upcast_v{k}_v{k + 1}`: {_doc(upcast)}")
    return [*lines, ""]


def _versions_section() -> list[str]:
    return [
        "## Versions and upcasting",
        "",
        "Every event class has a class version (`class_version`, shown with each event below).",
        "A stored event of an older version is upcast when it is read (`upcast_v1_v2`, then",
        "`upcast_v2_v3`, …), so every reader, `history` and this JSON see the current shape only.",
        "The versions and the fields of each are locked in `lifecycle/event_versions.json` and",
        "checked by a test; how to change an event is [docs/upcasting.md](upcasting.md).",
        "",
    ]


def _consumer_contract() -> list[str]:
    """How ``mynacard events --consumer NAME`` delivers, and when its checkpoint moves."""
    return [
        "## Durable consumers: the delivery contract",
        "",
        "`mynacard events --consumer NAME` reads the log as a named consumer. Its *checkpoint* is the",
        "last position the downstream system **acknowledged**; it is stored beside the event store",
        "(SQLite: `<store>-consumers.sqlite`; PostgreSQL: the tables `consumers_tracking` and",
        "`consumers_fingerprints` in the store's schema). Delivery is at-least-once and in order:",
        "",
        "- **What, from where.** Every event after the checkpoint, in log order, one JSON line each;",
        "  a new name starts at the beginning of the log. `--follow` then waits for new events;",
        "  `--limit N` stops after N. `--after` does not combine with `--consumer` (use `--reset-to`).",
        "- **Reading never moves the checkpoint.** Lines written into a pipe, buffered, or lost with",
        "  a downstream that died are delivered again by the next `events --consumer NAME`.",
        "- **Only an acknowledgement moves it:** `mynacard events --consumer NAME --ack POSITION`,",
        "  POSITION being the `position` of the last line the downstream has *fully handled* (or",
        '  that JSON line itself: `--ack "$line"`). It acknowledges every event up to and',
        "  including POSITION. Acknowledgements are monotonic: one at or below the checkpoint changes",
        "  nothing and exits 0 (it says *already acknowledged*); one beyond the end of the log, or at",
        "  a position where the log has no event, is bad input (exit 2). `--ack` may run while the",
        "  reader runs (it is how the downstream acknowledges).",
        "- **Positions are the idempotency key.** After a crash of the reader or of the downstream",
        "  the next read starts after the last acknowledgement, so what was handled but not yet",
        "  acknowledged comes again: the downstream treats a position it has already handled as",
        "  done (ideally it records the position in the same transaction as its own effects).",
        "- **One reader per name.** A second `events --consumer NAME` while one runs exits 5",
        "  (`consumer_busy`). The lease (SQLite: a `flock` on `consumer-<hash>.lock` beside the",
        "  checkpoint store; PostgreSQL: an advisory lock) ends with the reader's process, however",
        "  it ends. Other names are independent.",
        f"- **Names**: 1–{MAX_CONSUMER_NAME} letters, digits and `. _ : @ / -`, starting with a letter",
        "  or a digit.",
        "- `--ack` and `--reset-to` print what happened; with `--json`, one object:",
        '  `{"consumer", "action": "ack" | "reset", "requested", "previous", "checkpoint", "changed",',
        '  "log_head"}`.',
        "- In Python, `projections.subscriptions.DurableConsumer.run(handler)` delivers the same way;",
        "  there the handler's return is the acknowledgement (the checkpoint advances after each",
        "  event whose handler returned; an exception leaves it before that event).",
        "",
        "### Acknowledging from a shell pipeline",
        "",
        "```sh",
        "set -o pipefail",
        "mynacard events --consumer crl-push --follow | while IFS= read -r line; do",
        '  position=$(jq -r .position <<<"$line")',
        '  publish-revocation "$line" "$position" || exit 1   # idempotent per position',
        '  mynacard events --consumer crl-push --ack "$position" >/dev/null || exit 1',
        "done",
        "```",
        "",
        "If the loop stops, the reader ends at its next write (a broken pipe, exit 0); run the",
        "pipeline again and it resumes after the last acknowledged line. A downstream that handles",
        "events in batches acknowledges the last line of each batch.",
        "",
        "### After a restored store",
        "",
        "Every acknowledgement stores, in the same transaction, a fingerprint of the acknowledged",
        "event (sha256 over its aggregate id, version, topic and stored bytes). Every read and every",
        "`--ack` first checks that the log still holds that event at the checkpoint. When the log is",
        "shorter than the checkpoint, or holds another event there (an older backup of the event",
        "store was restored, or the checkpoints belong to another store), the command refuses:",
        "exit 6, nothing delivered, nothing moved, and the message names N, the newest acknowledged",
        f"position (of the last {FINGERPRINT_HISTORY} acknowledgements) whose event the log still holds",
        "(0 when none). Then:",
        "",
        "1. tell the downstream that positions above N may now name other events (the events it",
        "   saw there are gone, and new ones will take their positions): it drops what it recorded",
        "   for them;",
        "2. `mynacard events --consumer NAME --reset-to N`;",
        "3. read again: delivery resumes after N.",
        "",
        "`--reset-to N` moves a checkpoint to 0 (replay the whole log) or to any position of the log",
        "that holds an event, also backwards (e.g. to replay for a rebuilt downstream); it needs no",
        "lease, and the running reader, if any, goes on from where it was.",
        "",
    ]


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
        "  consumer sees); resume with `mynacard events --after POSITION`, or read as a durable",
        "  `--consumer` (below). It is the idempotency key of a downstream system.",
        "- `effective_at`: when it happened (JST); `recorded_at`: when the service learned it.",
        "- `type` and `topic` are stable; a change of an event's fields raises `schema` to `/2` and",
        "  this document says what changed. Fields are only ever added in `/1`.",
        "- No event carries a My Number, a name, an address or a PIN value; a person is the",
        "  `holder_ref` (a keyed hash).",
        "- Fields marked **personal** are kept under their person's own data key (issue 13). Once",
        "  the person is forgotten (`mynacard forget`, event `PersonForgotten`) they read",
        '  `{"erased": true}` instead of their value; every other field stays.',
        "",
        *_versions_section(),
        *_consumer_contract(),
        *chain_section(),
    ]
    for title, classes in (
        ("Card events", ev.ALL_CARD_EVENTS),
        ("Certificate events", _CERTIFICATE_EVENTS),
        ("Person events (R62–R65; `aggregate`: `holder`)", ALL_HOLDER_EVENTS),
        ("Store-log events (issue 13: what was done to the log as a whole)", ALL_STORE_LOG_EVENTS),
    ):
        lines += [f"## {title}", ""]
        for cls in classes:
            if cls in (ev.CardEvent,):
                continue
            lines += [f"### `{cls.__name__}` — `{cls.TOPIC}`", "", _doc(cls), "", *_version(cls)]
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
