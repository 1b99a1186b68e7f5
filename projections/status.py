"""Card status as a clerk asks it: "what is this card's status and until when is it valid?"

Computed from one card's state on a given day: the recorded status, and the status that
holds today when time has made something due that is not recorded yet (validity is computed
from stored dates, spec §3).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from lifecycle.calendar import last_day_within, renewal_window_opens
from lifecycle.card import LIVE, Card
from lifecycle.decisions import MOVE_IN_DAYS_AFTER_PLANNED_MOVE_OUT, Policies
from lifecycle.identifiers import format_application_id
from projections.event_json import jsonable

_LAPSE_STATUS = {"expired": "expired", "not_collected": "voided"}


@dataclass(frozen=True, slots=True)
class Deadline:
    what: str
    rule: str
    last_day: date


@dataclass(frozen=True, slots=True)
class CardStatus:
    card_id: str
    application_id: str
    holder: str
    kind: str
    status: str
    """The recorded status."""
    status_today: str
    """What holds today, counting what time has made due (``due``) but nobody recorded yet."""
    usable_today: bool
    as_of: date
    applied_on: date
    accepted_on: date | None
    issue_date: date | None
    expires_on: date | None
    renewal_window_opens: date | None
    days_left: int | None
    fee_assessed_yen: int
    fee_paid_yen: int
    ended: dict[str, Any] | None
    deadlines: list[Deadline] = field(default_factory=list)
    due: list[dict[str, Any]] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    previous_card_id: str | None = None
    superseded_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: jsonable(v) for k, v in asdict(self).items()}


def card_status(card: Card, today: date, policies: Policies) -> CardStatus:
    """The status of ``card`` on ``today`` (JST)."""
    due = card.due_lapses(today, policies)
    status_today = card.status
    if due:
        status_today = _LAPSE_STATUS.get(due[0].kind, "invalidated")
    deadlines: list[Deadline] = []
    if card.info_change_due_by is not None:
        deadlines.append(
            Deadline("card update after move-in (券面記載事項変更)", "R30", card.info_change_due_by)
        )
    if card.awaiting_move_in_since is not None:
        deadlines.append(
            Deadline(
                "move-in notification (転入届)",
                "R28",
                last_day_within(card.awaiting_move_in_since, MOVE_IN_DAYS_AFTER_PLANNED_MOVE_OUT),
            )
        )
    if card.status == "produced":
        lapse = card.uncollected_lapse_day(policies)
        if lapse is not None:
            deadlines.append(Deadline("collect the card (受取期限)", "R13", lapse))
    flags = [
        name
        for name, on in (
            ("overseas_continued_use", card.overseas_continued_use),
            ("notes_field_full", card.notes_field_full),
            ("special_extension_used", card.special_extension_used),
            ("inquiry_letter_pending", card.pending_inquiry is not None),
            ("face_recognition_card", card.face_recognition_card),
            ("physically_collected", card.physically_collected),
        )
        if on
    ]
    ended = None
    if card.ended is not None:
        ended = {
            "status": card.ended.status,
            "rule": card.ended.rule,
            "at": card.ended.at,
            "reason": card.ended.reason,
        }
    return CardStatus(
        card_id=str(card.id),
        application_id=format_application_id(card.application_id),
        holder=card.my_number_masked,
        kind=card.kind,
        status=card.status,
        status_today=status_today,
        usable_today=status_today == "active" and card.status in LIVE,
        as_of=today,
        applied_on=card.applied_on,
        accepted_on=card.accepted_on,
        issue_date=card.issue_date,
        expires_on=card.expires_on,
        renewal_window_opens=renewal_window_opens(card.expires_on) if card.expires_on else None,
        days_left=(card.expires_on - today).days if card.expires_on and card.ended is None else None,
        fee_assessed_yen=card.fee_assessed_yen,
        fee_paid_yen=card.fee_paid_yen,
        ended=ended,
        deadlines=deadlines,
        due=[{"what": d.kind, "rule": d.rule, "from": d.effective_at, "detail": d.detail} for d in due],
        flags=flags,
        previous_card_id=str(card.previous_card_id) if card.previous_card_id else None,
        superseded_by=str(card.superseded_by) if card.superseded_by else None,
    )
