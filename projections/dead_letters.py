"""Retrying a durable consumer's failing handler, and the dead letters it leaves.

A handler that raises is called again, up to ``Retry.attempts`` deliveries in all, waiting
``backoff``, ``2·backoff``, ``4·backoff`` … seconds (at most ``max_delay``) in between. When the last
attempt fails too, the event is *parked*: a dead letter (consumer, position, event type, the last
error as the exception's type and message, attempts, when) is written together with the
checkpoint's move past the event, in one transaction, and the consumer goes on with the next
event. A parked event stays listed until it is settled: handled on a re-delivery (``delivered``:
``DurableConsumer.retry_parked``, or an acknowledgement of exactly its position) or given up with
a reason (``skipped``).

May import: the standard library and ``storage`` (its interface, records and errors).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from storage.checkpoints import DELIVERED, PARKED, SKIPPED, DeadLetter

__all__ = [
    "DELIVERED",
    "MAX_ERROR",
    "PARKED",
    "SKIPPED",
    "Attempt",
    "DeadLetter",
    "NotParked",
    "Retry",
    "deliver",
    "error_text",
    "now_text",
]

MAX_ERROR = 500
"""Characters of an error kept with a dead letter."""


@dataclass(frozen=True, slots=True)
class Retry:
    """How often a failing handler is called (``attempts`` deliveries in all, ≥ 1) and how long
    to wait between them (``backoff`` seconds, doubled after each failure, at most ``max_delay``)."""

    attempts: int = 5
    backoff: float = 0.5
    max_delay: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"at least one attempt (got {self.attempts})")
        if not 0 <= self.backoff <= self.max_delay:
            raise ValueError(f"a backoff from 0 to {self.max_delay} seconds (got {self.backoff})")

    def delay(self, failed: int) -> float:
        """Seconds to wait after the ``failed``-th failed attempt."""
        return float(min(self.backoff * 2 ** (failed - 1), self.max_delay))


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of delivering one event: handled, or not (``error``: the last failure), after
    ``attempts`` calls; ``stopped`` when a stop was asked for while waiting to retry."""

    handled: bool
    attempts: int
    error: str | None = None
    stopped: bool = False


class NotParked(LookupError):
    """No parked dead letter at the position: none was ever parked there (``letter`` None), or
    it was settled already (``letter`` says how)."""

    def __init__(self, consumer: str, position: int, letter: DeadLetter | None) -> None:
        self.consumer = consumer
        self.position = position
        self.letter = letter
        if letter is None:
            message = f"consumer {consumer!r} has no parked event at position {position}"
        else:
            how = f"{letter.state} at {letter.resolved_at} by {letter.resolved_by}"
            message = f"the parked event at position {position} of consumer {consumer!r} was {how}"
        super().__init__(message)


def error_text(error: BaseException) -> str:
    """What a dead letter keeps of a failure: the exception's type and message, on one line
    (never a traceback, never the event)."""
    message = " ".join(str(error).split())
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _pause(seconds: float, stop: threading.Event | None, sleep: Callable[[float], None] | None) -> bool:
    """Wait before the next attempt; True when ``stop`` was set meanwhile."""
    if sleep is not None:
        sleep(seconds)
    elif stop is not None:
        return stop.wait(seconds)
    elif seconds > 0:
        time.sleep(seconds)
    return stop is not None and stop.is_set()


def deliver(
    handler: Callable[[int, Any], None],
    position: int,
    event: Any,
    retry: Retry,
    *,
    stop: threading.Event | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Attempt:
    """Call ``handler(position, event)`` until it returns, at most ``retry.attempts`` times,
    waiting the backoff in between (``sleep`` replaces the wait, e.g. in tests). An ``Exception``
    is a failure; anything else (``KeyboardInterrupt``, ``SystemExit``) is raised at once."""
    error: str | None = None
    for attempt in range(1, retry.attempts + 1):
        try:
            handler(position, event)
        except Exception as e:
            error = error_text(e)
            if attempt == retry.attempts:
                break
            if _pause(retry.delay(attempt), stop, sleep):
                return Attempt(False, attempt, error, stopped=True)
        else:
            return Attempt(True, attempt)
    return Attempt(False, retry.attempts, error)
