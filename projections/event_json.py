"""The JSON shape of a stored event, for history, subscribers and non-Python consumers.

Shape ``mynacard.event/1``::

    {"schema": "mynacard.event/1", "position": 42 | null, "type": "Suspended",
     "topic": "mynacard.Card.Suspended", "aggregate": "card", "aggregate_id": "<uuid>",
     "version": 7, "effective_at": "2025-01-05T03:15:00+09:00",
     "recorded_at": "2025-01-05T03:15:02+09:00", "actor": "callcentre-12",
     "command_id": "<uuid>", "data": {...event-specific fields...}}

Dates are ISO strings; ``data`` holds every field of the event class except the common ones. A
personal field of a person who was forgotten (issue 13) reads ``{"erased": true}``.

The feeds (SSE, ``mynacard events``, the NATS relay) add what a consumer needs to keep the hash
chain (issue 13, ``projections.chain_feed.chained_fields``): ``originator_id``,
``originator_version``, ``payload_sha256``, ``chain_hash``, and ``topic`` is the stored topic.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any
from uuid import UUID

from lifecycle.calendar import to_jst
from lifecycle.erasure import ERASED
from projections.chain_feed import chained_fields

EVENT_SCHEMA = "mynacard.event/1"
_COMMON = {
    "originator_id",
    "originator_version",
    "timestamp",
    "originator_topic",
    "effective_at",
    "actor",
    "command_id",
}


ERASED_JSON = {"erased": True}
"""How a personal field of a forgotten person reads in JSON (issue 13)."""


def jsonable(value: Any) -> Any:
    """Event field values as JSON values (ISO dates, JST times, UUID text; an erased personal
    field as ``{"erased": true}``)."""
    if value is ERASED:
        return dict(ERASED_JSON)
    if isinstance(value, datetime):
        return to_jst(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def aggregate_kind(topic: str) -> str:
    """``mynacard.Card.Suspended`` → ``card``."""
    parts = topic.split(".")
    return parts[1].lower() if len(parts) > 2 else "unknown"


def event_to_dict(event: Any, position: int | None = None) -> dict[str, Any]:
    """One domain event as a ``mynacard.event/1`` object."""
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    topic = getattr(type(event), "TOPIC", type(event).__qualname__)
    effective = fields.get("effective_at")
    return {
        "schema": EVENT_SCHEMA,
        "position": position,
        "type": type(event).__name__,
        "topic": topic,
        "aggregate": aggregate_kind(topic),
        "aggregate_id": str(event.originator_id),
        "version": event.originator_version,
        "effective_at": jsonable(effective) if effective is not None else None,
        "recorded_at": jsonable(event.timestamp),
        "actor": fields.get("actor"),
        "command_id": jsonable(fields.get("command_id")),
        "data": {k: jsonable(v) for k, v in fields.items() if k not in _COMMON},
    }


def feed_event_dict(event: Any, note: Any, chain_hash: bytes | None) -> dict[str, Any]:
    """An event as the feeds deliver it: ``event_to_dict`` with the chain fields of its stored
    form ``note`` (``projections.chain_feed.chained_fields``)."""
    return {**event_to_dict(event, note.id), **chained_fields(note, chain_hash)}
