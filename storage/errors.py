"""Errors of storage that are not integrity findings (those are in ``storage.integrity``):

- ``ConfigurationError``: a setting cannot be used (the CLI exits 6); the message says which
  setting and what to do. ``storage.keys`` raises it for the key files.
- ``ConsumerBusy``: another process reads the same consumer name (a conflict: the CLI exits 5).

None of them carries a My Number or a PIN. May import: the standard library only.
"""

from __future__ import annotations


class ConfigurationError(Exception):
    """The configuration cannot be used; the message says which setting and what to do."""


class ConsumerBusy(Exception):
    """Another process is reading the same consumer name."""

    kind = "consumer_busy"

    def __init__(self, consumer: str, holder: str | None = None) -> None:
        self.consumer = consumer
        who = f" (process {holder})" if holder else ""
        super().__init__(f"consumer {consumer!r} is being read by another process{who}")

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "message": str(self),
            "hint": f"one reader per consumer name: wait for the other 'mynacard events --consumer "
            f"{self.consumer}' to end (or stop it), or read under another consumer name",
        }
