"""What time has made due on a card (期限の到来): expiry (R19, R22), moving abroad without overseas
continued use (R27), no move-in (R28), moving again or no card update after a move-in (R30), a
card never collected (R13), and the expiry notices (R44).

Validity follows the stored dates, so these answer correctly before anything is recorded. They
are asked by the card's guards (a lapsed card refuses every change), by the sweep that records
lapses, and by the read side (a card's status today). Pure functions of a card's state.

May import: the standard library, ``lifecycle.calendar``, ``lifecycle.decisions``,
``lifecycle.card.vocabulary`` and ``lifecycle.card.state``.
"""

from __future__ import annotations

from datetime import date, datetime

from lifecycle.calendar import (
    add_months,
    last_day_within,
    renewal_window_opens,
    start_of_day,
    validity_ends_at,
)
from lifecycle.card.state import CardState
from lifecycle.card.vocabulary import LIVE, PRE_HANDOVER, Lapse, LapseKind
from lifecycle.decisions import MOVE_IN_DAYS_AFTER_PLANNED_MOVE_OUT, Policies

INVALIDATION_REASON: dict[LapseKind, str] = {
    "no_update_90d": "no_card_update_90_days",
    "late_move_in": "late_move_in",
    "moved_again": "moved_again_before_update",
    "overseas_move_out": "overseas_move_out",
}
"""The ``Invalidated`` reason recorded for each lapse that invalidates a card in use."""


def live_lapses(card: CardState, today: date) -> list[Lapse]:
    """Consequences time has brought by ``today`` on a card in use, earliest first (at most one):
    expiry (R19, R22), moving abroad (R27), no move-in (R28), moving again before the card
    update (R30), no card update within 90 days (R30)."""
    out: list[Lapse] = []
    if card.expires_on is not None:
        rule = "R22" if card.expiry_capped_by_stay else "R19"
        out.append(
            Lapse(
                "expired",
                rule,
                validity_ends_at(card.expires_on),
                f"valid until {card.expires_on.isoformat()}",
            )
        )
    if card.info_change_due_by is not None:
        out.append(
            Lapse(
                "no_update_90d",
                "R30",
                validity_ends_at(card.info_change_due_by),
                f"card update due by {card.info_change_due_by.isoformat()}",
            )
        )
    moved_out_on = card.awaiting_move_in_since or card.overseas_move_out_on
    if moved_out_on is not None and card.info_change_due_by is not None:
        out.append(
            Lapse(
                "moved_again",
                "R30",
                start_of_day(moved_out_on),
                f"moved out on {moved_out_on.isoformat()} before the card update",
            )
        )
    if card.awaiting_move_in_since is not None:
        last = last_day_within(card.awaiting_move_in_since, MOVE_IN_DAYS_AFTER_PLANNED_MOVE_OUT)
        out.append(
            Lapse("late_move_in", "R28", validity_ends_at(last), f"no move-in filed by {last.isoformat()}")
        )
    if card.overseas_move_out_on is not None and not card.overseas_continued_use:
        out.append(
            Lapse(
                "overseas_move_out",
                "R27",
                start_of_day(card.overseas_move_out_on),
                f"moved abroad on {card.overseas_move_out_on.isoformat()} without overseas continued use",
            )
        )
    return sorted((x for x in out if x.effective_at.date() <= today), key=lambda x: x.effective_at)[:1]


def last_collection_day(
    pickup_notice_sent_on: date | None, pickup_reminder_sent_on: date | None, policies: Policies
) -> date | None:
    """R13 / D11 (受取期限): the last day the card can still be collected, or None before the
    pickup notice: months after the notice, or after a reminder if that is later."""
    if pickup_notice_sent_on is None:
        return None
    last = add_months(pickup_notice_sent_on, policies.uncollected_months_after_notice)
    if pickup_reminder_sent_on is not None:
        last = max(last, add_months(pickup_reminder_sent_on, policies.uncollected_months_after_reminder))
    return last


def due_lapses(card: CardState, today: date, policies: Policies) -> list[Lapse]:
    """Time-driven consequences due by ``today`` (R13, R19, R22, R27, R28, R30), earliest
    first; at most one, since it ends the card."""
    if card.ended is not None:
        return []
    if card.status not in PRE_HANDOVER:
        return live_lapses(card, today)
    lapse_day = last_collection_day(card.pickup_notice_sent_on, card.pickup_reminder_sent_on, policies)
    if (
        card.status == "produced"
        and card.expires_on is not None
        and (lapse_day is None or card.expires_on < lapse_day)
    ):
        lapse_day = card.expires_on
    if lapse_day is not None and today > lapse_day:
        return [
            Lapse(
                "not_collected",
                "R13",
                validity_ends_at(lapse_day),
                f"not collected by {lapse_day.isoformat()}",
            )
        ]
    return []


def unrecorded_end(card: CardState, at: datetime) -> Lapse | None:
    """The time-driven end of a card in use that took effect by ``at`` but is not recorded
    yet (R19, R22, R27, R28, R30), if any: from then on nothing on the card is valid."""
    if card.ended is not None or card.status in PRE_HANDOVER:
        return None
    due = [x for x in live_lapses(card, at.date()) if x.effective_at <= at]
    return due[0] if due else None


def due_expiry_notices(
    card: CardState, until: date, certificate_expiries: dict[str, date]
) -> list[tuple[str, date]]:
    """R44 (有効期限通知書): notices due by ``until`` and not yet recorded: for the card and each
    of its card certificates, from the day its renewal window opens until its expiry. None
    before a stay-based expiry (foreign residents get no notice then)."""
    if card.ended is not None or card.status not in LIVE or card.expires_on is None:
        return []
    subjects: dict[str, date] = {"card": card.expires_on, **certificate_expiries}
    due = []
    for subject, expires_on in subjects.items():
        if card.expiry_capped_by_stay and expires_on >= card.expires_on:
            continue
        if f"{subject}:{expires_on.isoformat()}" in card.expiry_notices:
            continue
        if renewal_window_opens(expires_on) <= until <= expires_on:
            due.append((subject, expires_on))
    return due
