"""Rules of a card in use: suspension and its lifting (一時停止, R49, R50), card-information
changes (券面記載事項変更, R53 with R41, R28, R30) and inquiry letters (照会書), the full
additional-notes field (追記欄, R33).

May import: the standard library, ``lifecycle`` leaf modules (errors, filers),
``lifecycle.card.vocabulary`` and ``lifecycle.card.rules.status``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from lifecycle.card.rules.status import how_it_ended, what_next
from lifecycle.card.vocabulary import (
    CARD_FACTS,
    FORMER_SURNAME_ACTIONS,
    SUSPENSION_CHANNELS,
    Ending,
    PendingInquiry,
)
from lifecycle.errors import RuleViolation, TerminalState, UncoveredCase
from lifecycle.filers import Filer


def check_suspension(status: str, channel: str) -> None:
    """一時停止 (R49): accepted 24 hours a day, 365 days a year, on a card not yet suspended."""
    if channel not in SUSPENSION_CHANNELS:
        raise UncoveredCase("R49", f"unknown suspension channel {channel!r}")
    if status == "suspended":
        raise RuleViolation("R49", "the card is already suspended")


def check_lifting_suspension(
    ended: Ending | None,
    status: str,
    filer: Filer,
    in_person: bool,
    suspended_at: datetime | None,
    effective_at: datetime,
) -> None:
    """一時停止解除 (R50): only by the holder in person; impossible after abolition."""
    if ended is not None:
        raise TerminalState(
            "R50",
            f"the card {how_it_ended(ended)}: a suspension cannot be lifted after that",
            hint=what_next(ended),
        )
    if status != "suspended":
        raise RuleViolation("R50", f"the card is not suspended (status {status})")
    if filer.role != "holder" or not in_person:
        raise RuleViolation("R50", "only the holder, in person with the card and ID, can lift a suspension")
    if suspended_at is not None and effective_at < suspended_at:
        raise RuleViolation("R50", "a suspension cannot be lifted before it began")


def check_card_information_change(
    facts: Sequence[str],
    on: date,
    new_date_of_birth: date | None,
    former_surname_action: str | None,
    *,
    pending_inquiry: PendingInquiry | None,
    notes_field_full: bool,
    info_change_due_by: date | None,
    awaiting_move_in_since: date | None,
) -> None:
    """R53: distinct facts of the card, each with what it needs (R41: the 旧氏 action); not
    while an inquiry letter is pending, on a full notes field (R33), after the update deadline
    of a move-in (R30) or, for the address, before the move-in (R28)."""
    if not facts:
        raise RuleViolation("R53", "name at least one changed fact")
    unknown = [f for f in facts if f not in CARD_FACTS]
    if unknown or len(set(facts)) != len(facts):
        raise RuleViolation("R53", f"facts must be distinct ones of: {', '.join(CARD_FACTS)}")
    if ("date_of_birth" in facts) != (new_date_of_birth is not None):
        raise RuleViolation("R53", "a date-of-birth change states the new date of birth")
    if ("former_surname" in facts) != (former_surname_action is not None) or (
        former_surname_action is not None and former_surname_action not in FORMER_SURNAME_ACTIONS
    ):
        raise RuleViolation("R41", "a 旧氏 change says whether it was added, changed or deleted")
    if pending_inquiry is not None:
        raise RuleViolation("R53", "an inquiry letter is pending; record the holder's answer first")
    if notes_field_full:
        raise RuleViolation(
            "R33",
            "the additional-notes field is full: the card cannot be updated",
            hint="the holder applies for a free reissue (kind reissue, reason notes_field_full)",
        )
    if info_change_due_by is not None and on > info_change_due_by:
        raise RuleViolation(
            "R30",
            f"the card update was due by {info_change_due_by.isoformat()} (90 days after "
            "the move-in): the card is invalid",
            hint="record the lapse; the holder applies for a reissue (fee, R09)",
        )
    if awaiting_move_in_since is not None and "address" in facts:
        raise RuleViolation(
            "R28", "the holder moved out: the move-in (転入届) is filed before the address changes"
        )


def changes_the_same_day(filer: Filer) -> bool:
    """R53: the holder or a member of the same household changes the card the same day; anyone
    else goes through an inquiry letter (照会書), but a household member must be registered."""
    if filer.role == "holder" or filer.same_household:
        return True
    if filer.role == "household_member":
        raise RuleViolation("R53", "a household member must be registered in the holder's household")
    return False


def require_card_pin(pin_confirmed: bool, face_recognition_card: bool) -> None:
    """R53: the card's 4-digit PIN confirms a change (a face-recognition card has none, R58)."""
    if not pin_confirmed and not face_recognition_card:
        raise RuleViolation(
            "R53",
            "the card's 4-digit PIN must be entered to change its information",
            hint="the holder enters the PIN, or an inquiry letter is sent",
        )


def require_pending_inquiry(pending: PendingInquiry | None) -> PendingInquiry:
    """照会書回答 (R53): the answer needs a pending inquiry letter; answers it."""
    if pending is None:
        raise RuleViolation("R53", "no inquiry letter is pending on this card")
    return pending


def check_notes_field_not_full(notes_field_full: bool) -> None:
    """追記欄満欄 (R33) is recorded once."""
    if notes_field_full:
        raise RuleViolation("R33", "the additional-notes field is already recorded as full")
