"""What ``mynacard relay`` publishes for each event: its subject, payload and headers (without
the NATS client, so the tests and the documentation can use them cheaply).

- **Subject**: ``<prefix>.<aggregate>.<event>``: the aggregate of the event's topic (``card``,
  ``certificate``, ``holder``) and the topic's last part in snake case: ``mynacard.Card.Suspended``
  → ``mynacard.card.suspended``, ``mynacard.Certificate.Revoked`` →
  ``mynacard.certificate.revoked``, ``mynacard.Holder.Opened`` → ``mynacard.holder.opened``.
  Topics are stable (docs/events.md), so subjects are too.
- **Payload**: the event's JSON line exactly as ``mynacard events`` prints it (``mynacard.event/1``,
  UTF-8, no newline): the holder reference, never a My Number.
- **Headers**: ``Nats-Msg-Id`` (the log position: JetStream's de-duplication key),
  ``Mynacard-Position``, ``Mynacard-Event-Type`` and ``Mynacard-Schema``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from projections.event_json import EVENT_SCHEMA, aggregate_kind, event_to_dict

HEADER_POSITION = "Mynacard-Position"
HEADER_TYPE = "Mynacard-Event-Type"
HEADER_SCHEMA = "Mynacard-Schema"
_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``PutOnHold`` → ``put_on_hold``."""
    return _WORD_BREAK.sub("_", name).lower()


def subject_for(prefix: str, topic: str) -> str:
    """``mynacard.Card.Suspended`` → ``<prefix>.card.suspended``;
    ``mynacard.Certificate.PutOnHold`` → ``<prefix>.certificate.put_on_hold``."""
    return f"{prefix}.{aggregate_kind(topic)}.{snake_case(topic.rsplit('.', 1)[-1])}"


def covers(pattern: str, subject: str) -> bool:
    """Whether the NATS subject ``pattern`` (``*`` a token, ``>`` the rest) covers ``subject``
    (itself a pattern: ``mynacard.>`` is covered by ``>`` and ``mynacard.>``)."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != have[i] and not (token == "*" and have[i] != ">")):
            return False
    return len(want) == len(have)


def message_for(prefix: str, position: int, event: Any) -> tuple[str, bytes, dict[str, str]]:
    """The subject, payload and headers of the event at ``position``."""
    body = event_to_dict(event, position)
    headers = {
        "Nats-Msg-Id": str(position),
        HEADER_POSITION: str(position),
        HEADER_TYPE: body["type"],
        HEADER_SCHEMA: EVENT_SCHEMA,
    }
    return subject_for(prefix, body["topic"]), json.dumps(body, ensure_ascii=False).encode(), headers
