"""How events and snapshots are written and read back: the library's JSON transcoder plus
mynacard's transcodings, and the topic registry. The one module both sides import: the write
side's application and the read side's mapper must decode the same bytes the same way.

- Transcodings: ``date`` as ISO text, a card's ``Ending`` and its ``PendingInquiry`` (in
  snapshots). Every application that reads mynacard's events mixes in ``MynacardTranscodings``
  (or calls ``register_transcodings``); without it a stored ``date`` cannot be read back.
- Topic registry: stored events name their class by a fixed topic (``mynacard.Card.<Name>``,
  ``mynacard.Certificate.<Name>``), registered with ``eventsourcing.utils.register_topic`` when
  ``lifecycle.card`` and ``lifecycle.certificate`` are imported; importing this module imports
  both, so whoever holds a mapper set up here can resolve every stored topic.

Why here and not in ``lifecycle``: transcodings are a persistence concern (``eventsourcing.persistence``
classes, the stored JSON shape), and ``lifecycle`` imports nothing of persistence. No I/O.
May import: ``eventsourcing.persistence``, the standard library and ``lifecycle``.
"""

from __future__ import annotations

from datetime import date, datetime

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Transcoding, UUIDAsHex

import lifecycle.certificate
import lifecycle.holder
import lifecycle.store_log  # noqa: F401  (registers the store log's topics, issue 13)
from lifecycle.card import Ending, PendingInquiry  # importing lifecycle.card registers the card topics
from lifecycle.erasure import ERASED, Erased


class DateAsISO(Transcoding):
    """``datetime.date`` as ISO text; datetimes keep the library's ``datetime_iso``."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class EndingAsDict(Transcoding):
    """A card's ``Ending`` in aggregate snapshots (read models, snapshots)."""

    type = Ending
    name = "mynacard_ending"

    def encode(self, obj: Ending) -> dict[str, str | None]:
        return {"status": obj.status, "rule": obj.rule, "at": obj.at.isoformat(), "reason": obj.reason}

    def decode(self, data: dict[str, str]) -> Ending:
        return Ending(data["status"], data["rule"], datetime.fromisoformat(data["at"]), data["reason"])


class PendingInquiryAsDict(Transcoding):
    """A card's pending inquiry letter (R53) in aggregate snapshots."""

    type = PendingInquiry
    name = "mynacard_pending_inquiry"

    def encode(self, obj: PendingInquiry) -> dict[str, object]:
        return {
            "facts": list(obj.facts),
            "filed_by": obj.filed_by,
            "new_date_of_birth": obj.new_date_of_birth.isoformat()
            if isinstance(obj.new_date_of_birth, date)
            else None,
            "former_surname_action": obj.former_surname_action,
        }

    def decode(self, data: dict[str, object]) -> PendingInquiry:
        dob = data["new_date_of_birth"]
        return PendingInquiry(
            facts=tuple(str(f) for f in data["facts"]),  # type: ignore[attr-defined]
            filed_by=str(data["filed_by"]),
            new_date_of_birth=date.fromisoformat(str(dob)) if dob else None,
            former_surname_action=str(data["former_surname_action"])
            if data["former_surname_action"]
            else None,
        )


class ErasedAsMarker(Transcoding):
    """An erased personal field (issue 13) in a view snapshot of a forgotten person."""

    type = Erased
    name = "mynacard_erased"

    def encode(self, obj: Erased) -> str:  # noqa: ARG002  (one value: nothing to say)
        return ""

    def decode(self, data: str) -> Erased:  # noqa: ARG002
        return ERASED


def register_transcodings(transcoder: JSONTranscoder) -> None:
    """Add mynacard's transcodings to a library transcoder (after the library's own)."""
    transcoder.register(DateAsISO())
    transcoder.register(EndingAsDict())
    transcoder.register(PendingInquiryAsDict())
    transcoder.register(ErasedAsMarker())


class MynacardTranscodings:
    """Mix into every eventsourcing ``Application`` that reads mynacard events."""

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)  # type: ignore[misc]
        register_transcodings(transcoder)


def log_transcoder() -> JSONTranscoder:
    """A transcoder that reads mynacard's log outside an ``Application``: the transcodings an
    eventsourcing ``Application`` registers (UUID, Decimal, datetime), then mynacard's."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    register_transcodings(transcoder)
    return transcoder
