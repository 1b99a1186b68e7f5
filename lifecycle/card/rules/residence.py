"""Rules of residence: moving out and in (転出・転入, R11, R27–R30 with D06, D12), overseas
continued use (国外継続利用, R27), and the period of stay of a foreign resident (在留期間:
extension R23, special extension R24).

May import: the standard library, ``lifecycle`` leaf modules (calendar, decisions, errors,
validity) and ``lifecycle.card.vocabulary``.
"""

from __future__ import annotations

from datetime import date, timedelta

from lifecycle.calendar import last_day_within
from lifecycle.card.vocabulary import SPECIAL_EXTENSION_EVIDENCE
from lifecycle.decisions import MOVE_IN_DAYS_AFTER_MOVING_IN, MOVE_IN_DAYS_AFTER_PLANNED_MOVE_OUT
from lifecycle.errors import RuleViolation
from lifecycle.validity import stay_cap


def has_overseas_continued_use(
    overseas_move_out_on: date | None, registered_for: date | None, residence_status: str | None
) -> bool:
    """国外継続利用 (R27): registered for the recorded overseas move-out (Japanese nationals)."""
    return (
        overseas_move_out_on is not None
        and registered_for == overseas_move_out_on
        and residence_status is None
    )


def check_move_out(awaiting_move_in_since: date | None, overseas_move_out_on: date | None) -> None:
    """R28: one move-out at a time; the move-in (転入届) comes next."""
    if awaiting_move_in_since is not None or overseas_move_out_on is not None:
        raise RuleViolation("R28", "a move-out is already recorded; the move-in (転入届) comes next")


def move_in_deadline(planned_move_out_on: date, moved_in_on: date) -> tuple[date, str]:
    """R28/R29 with D06, D12: the last good filing day is the earlier of planned move-out + 30
    and moving-in + 14; returns it and the rule that binds."""
    by_move_out = last_day_within(planned_move_out_on, MOVE_IN_DAYS_AFTER_PLANNED_MOVE_OUT)
    by_move_in = last_day_within(moved_in_on, MOVE_IN_DAYS_AFTER_MOVING_IN)
    return (by_move_in, "R29") if by_move_in < by_move_out else (by_move_out, "R28")


def check_move_in(
    planned_move_out_on: date, moved_in_on: date, filed_on: date, recorded_move_out_on: date | None
) -> None:
    """転入届 (R28, R29): filed after moving in, for the move-out recorded on the card."""
    if moved_in_on > filed_on:
        raise RuleViolation("R29", "the move-in cannot be filed before the holder moved in")
    if planned_move_out_on > filed_on:
        raise RuleViolation("R28", "the planned move-out date lies after the filing date")
    if recorded_move_out_on is not None and planned_move_out_on != recorded_move_out_on:
        raise RuleViolation(
            "R28",
            f"the move-out recorded on this card was planned for {recorded_move_out_on.isoformat()}, "
            f"not {planned_move_out_on.isoformat()}",
            hint="file the move-in with the planned date on the move-out certificate (転出証明書)",
        )


def last_move_in_day(
    planned_move_out_on: date, moved_in_on: date, overseas_continued_use: bool
) -> tuple[date, str]:
    """The last good day to file the move-in, and its rule: R28/R29; a holder returning from
    abroad under overseas continued use has only the 14 days after moving in (R29: 国内、国外問わず)."""
    if overseas_continued_use:
        return last_day_within(moved_in_on, MOVE_IN_DAYS_AFTER_MOVING_IN), "R29"
    return move_in_deadline(planned_move_out_on, moved_in_on)


def check_overseas_continued_use(
    residence_status: str | None, overseas_move_out_on: date | None, planned_move_out_on: date, on: date
) -> None:
    """国外継続利用 (R27): by the day before the planned move-out; Japanese nationals only."""
    if residence_status is not None:
        raise RuleViolation(
            "R27",
            "a foreign resident moving abroad returns the card (返納)",
            hint="record a return with reason moving_abroad",
        )
    if overseas_move_out_on is not None and planned_move_out_on != overseas_move_out_on:
        raise RuleViolation(
            "R27", f"the overseas move-out is recorded for {overseas_move_out_on.isoformat()}"
        )
    if on >= planned_move_out_on:
        raise RuleViolation(
            "R27",
            "overseas continued use is registered by the day before the planned move-out "
            f"({(planned_move_out_on - timedelta(days=1)).isoformat()})",
            hint="the holder returns the card (返納, R52)",
        )


def require_stay_capped(
    rule: str,
    residence_status: str | None,
    stay_until: date | None,
    expires_on: date | None,
    age_based_expires_on: date | None,
) -> date:
    """R23, R24: only a card limited by a period of stay (R22) follows the stay; answers its expiry."""
    if stay_cap(residence_status, stay_until) is None or expires_on is None:
        raise RuleViolation(rule, "the card is not limited by a period of stay")
    if age_based_expires_on is not None and expires_on >= age_based_expires_on:
        raise RuleViolation(
            rule, "the card already runs to its 10th (5th) birthday limit; the stay does not cap it"
        )
    return expires_on


def check_not_expired_for_extension(expires_on: date, on: date) -> None:
    """R23: an expired card cannot be changed; it is reissued for a fee (R09)."""
    if on > expires_on:
        raise RuleViolation(
            "R23",
            f"the card expired on {expires_on.isoformat()}: it cannot be changed",
            hint="the holder applies for a reissue, for a fee (R09)",
        )


def check_stay_extension(new_stay_until: date, stay_until: date | None, pin_confirmed: bool) -> None:
    """在留期間更新 (R23): with the card's 4-digit PIN, to a later end of stay."""
    if not pin_confirmed:
        raise RuleViolation(
            "R23",
            "the card's 4-digit PIN must be entered to change its validity",
            hint="the holder or household member enters the PIN and shows the new residence card",
        )
    if stay_until is not None and new_stay_until <= stay_until:
        raise RuleViolation("R23", "the new period of stay must end after the current one")


def check_special_extension_allowed(used: bool, expires_on: date, on: date) -> None:
    """特例期間 (R24): once only, before expiry."""
    if used:
        raise RuleViolation("R24", "the special extension is granted once only")
    if on > expires_on:
        raise RuleViolation("R24", f"the card expired on {expires_on.isoformat()}")


def check_special_extension_evidence(evidence: str) -> None:
    """R24: the pending stay renewal is shown by the residence card stamp or the receipt email."""
    if evidence not in SPECIAL_EXTENSION_EVIDENCE:
        raise RuleViolation(
            "R24",
            "a pending stay renewal is shown by the residence card stamp "
            "(在留期間更新申請中) or the online receipt email",
        )
