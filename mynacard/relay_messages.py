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
- **Checkpoints** (issue 13): the store's signed checkpoints, in order among the events (right
  after the event at their position, or after the events published before they were made), on
  ``<prefix>.chain.checkpoint``; payload the ``mynacard.checkpoint/1`` JSON; headers
  ``Mynacard-Kind: checkpoint``, ``Mynacard-Checkpoint`` (its position), ``Mynacard-Position``
  (the last log position published before it: the stream holds every event up to there),
  ``Mynacard-Schema: mynacard.checkpoint/1`` and ``Nats-Msg-Id: checkpoint-<position>``. Event
  messages carry no ``Mynacard-Kind``; a subscriber to ``<prefix>.card.>`` etc. never sees one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import Notification

from projections.event_json import EVENT_SCHEMA, aggregate_kind, feed_event_dict
from storage.chain import ChainLink
from storage.chain_checkpoints import CHECKPOINT_SCHEMA, SignedCheckpoint

HEADER_POSITION = "Mynacard-Position"
HEADER_TYPE = "Mynacard-Event-Type"
HEADER_SCHEMA = "Mynacard-Schema"
HEADER_KIND = "Mynacard-Kind"
HEADER_CHECKPOINT = "Mynacard-Checkpoint"
CHECKPOINT_KIND = "checkpoint"
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


def message_for(
    prefix: str, note: Notification, event: Any, chain_hash: bytes | None
) -> tuple[str, bytes, dict[str, str]]:
    """The subject, payload and headers of the stored event ``note`` (``event`` its domain event,
    ``chain_hash`` the chain hash at its position)."""
    position = note.id
    body = feed_event_dict(event, note, chain_hash)
    headers = {
        "Nats-Msg-Id": str(position),
        HEADER_POSITION: str(position),
        HEADER_TYPE: body["type"],
        HEADER_SCHEMA: EVENT_SCHEMA,
    }
    return subject_for(prefix, body["topic"]), json.dumps(body, ensure_ascii=False).encode(), headers


def checkpoint_message_for(
    prefix: str, checkpoint: SignedCheckpoint, after: int
) -> tuple[str, bytes, dict[str, str]]:
    """The subject, payload and headers of a checkpoint published once the stream holds every
    event up to position ``after``."""
    headers = {
        "Nats-Msg-Id": f"checkpoint-{checkpoint.position}",
        HEADER_KIND: CHECKPOINT_KIND,
        HEADER_CHECKPOINT: str(checkpoint.position),
        HEADER_POSITION: str(after),
        HEADER_SCHEMA: CHECKPOINT_SCHEMA,
    }
    body = json.dumps(checkpoint.as_dict()).encode()
    return f"{prefix}.chain.checkpoint", body, headers


def same_event(published: bytes | None, logged: bytes) -> bool:
    """Whether two payloads are the same stored event (compared on its identity, so a payload
    published before ``mynacard.event/1`` gained a field still matches)."""
    try:
        a, b = json.loads(published or b"null"), json.loads(logged)
        return isinstance(a, dict) and all(a.get(k) == b[k] for k in _IDENTITY)
    except (ValueError, KeyError):
        return False


_IDENTITY = ("position", "aggregate_id", "version", "topic", "recorded_at")


def same_checkpoint(published: bytes | None, chain_at: Callable[[int], ChainLink | None]) -> bool:
    """Whether a published checkpoint is of this log: its chain hash is the log's at its position."""
    try:
        checkpoint = SignedCheckpoint.from_dict(json.loads(published or b"null"))
    except (ValueError, TypeError, AttributeError):
        return False
    held = chain_at(checkpoint.position)
    return held is not None and held.chain_hash.hex() == checkpoint.chain_hash
