"""Reading a server-sent-events stream (``GET /events``) line by line, as an ``EventSource``
would: events (``id``, ``event``, ``data`` as JSON) and comments (the heartbeats)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Frame:
    """One SSE event, or a comment (``comment`` set, the rest None)."""

    id: int | None = None
    event: str | None = None
    data: dict[str, Any] | None = None
    comment: str | None = None


def frames(lines: Iterable[str]) -> Iterator[Frame]:
    """The frames of a stream's lines (an event ends at an empty line)."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if fields:
                yield Frame(int(fields["id"]), fields.get("event"), json.loads(fields["data"]))
                fields = {}
            continue
        if line.startswith(":"):
            yield Frame(comment=line[1:].strip())
            continue
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        fields[key] = fields[key] + "\n" + value if key == "data" and key in fields else value
    if fields:
        yield Frame(int(fields["id"]), fields.get("event"), json.loads(fields["data"]))


def events_of(lines: Iterable[str]) -> list[Frame]:
    """The events of a finished stream (comments and signed checkpoints, ``event: checkpoint``
    (issue 13), left out, as an ``EventSource`` listening for event types leaves them)."""
    return [f for f in frames(lines) if f.comment is None and f.event != "checkpoint"]
