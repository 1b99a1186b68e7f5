"""How events are stored: the library's JSON transcoder plus a ``date`` transcoding.

Every application that reads mynacard's events (the service, projections, subscribers) mixes
in ``MynacardTranscodings``; without it a stored ``date`` cannot be read back.
"""

from __future__ import annotations

from datetime import date, datetime

from eventsourcing.persistence import JSONTranscoder, Transcoding

from lifecycle.card import Ending
from lifecycle.card_events import PendingInquiry


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
            "new_date_of_birth": obj.new_date_of_birth.isoformat() if obj.new_date_of_birth else None,
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


class MynacardTranscodings:
    """Mix into every eventsourcing ``Application`` that reads mynacard events."""

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)  # type: ignore[misc]
        transcoder.register(DateAsISO())
        transcoder.register(EndingAsDict())
        transcoder.register(PendingInquiryAsDict())
