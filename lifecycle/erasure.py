"""Erasure (消去, crypto-shredding; issue 13): which fields of the domain are personal, and what a
personal field reads once its person was forgotten.

- ``PERSONAL_FIELDS`` (a class attribute of an event class, or of an aggregate class for its
  snapshots) names the fields that hold personal detail of the card's holder: the date of
  birth, the masked My Number, the kinds of identity documents shown (a disability handbook or a
  residence card tells more about a person than a card needs to keep), a proxy's reason (health,
  pregnancy, …). The event store keeps each of them under a data key of its own person, so
  destroying that key (``mynacard forget``) erases them everywhere they were ever recorded.
  Every other field (dates, statuses, serials, reasons, fees) is a lifecycle fact that answers
  validity and stays readable.
- ``Erased``: the value of a personal field whose person was forgotten. It is a value like
  any other (compared, printed, serialised), never an error: every read still answers, with the
  field shown as erased.

Pure: no I/O. May import: the standard library.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final


class Erased:
    """The value of a personal field of a forgotten person (消去済み). One instance, ``ERASED``;
    it equals only itself and prints as ``(erased)``."""

    __slots__ = ()
    _instance: ClassVar[Erased | None] = None
    TEXT: ClassVar[str] = "(erased)"

    def __new__(cls) -> Erased:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ERASED"

    def __str__(self) -> str:
        return self.TEXT

    def __reduce__(self) -> str:
        return "ERASED"

    def __copy__(self) -> Erased:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Erased:
        return self


ERASED: Final = Erased()
"""The one value of every erased personal field."""


def is_erased(value: object) -> bool:
    return value is ERASED


def personal_fields(cls: type[Any]) -> tuple[str, ...]:
    """The personal fields an event class (or an aggregate class, for its snapshots) declares."""
    fields: tuple[str, ...] = getattr(cls, "PERSONAL_FIELDS", ())
    return fields


def shown(value: object) -> object:
    """A personal field as a clerk's screen shows it: the value, or ``(erased)``."""
    return Erased.TEXT if value is ERASED else value
