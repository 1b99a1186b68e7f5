"""The procedures of a card in use (spec §2.6, R53): suspension (一時停止) and its lifting,
card-information changes (券面記載事項変更) and inquiry letters (照会書), a full notes field (追記欄).

May import: the standard library, ``lifecycle`` leaf modules, and ``lifecycle.card`` (events,
rules, lapses, state, vocabulary, procedures.base); never the aggregate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from lifecycle.card import events as ev
from lifecycle.card import rules
from lifecycle.card.procedures.base import Procedures
from lifecycle.filers import Filer
from lifecycle.stamp import Stamp


class InUseProcedures(Procedures):
    """Procedures of a card in use."""

    def suspend(self, channel: str, stamp: Stamp) -> None:
        """一時停止 (R49): accepted 24 hours a day, 365 days a year."""
        self._require_live("R49", "a suspension", stamp.on)
        rules.in_use.check_suspension(self.status, channel)
        self._trigger(ev.Suspended, stamp, channel=channel)

    def lift_suspension(self, filer: Filer, in_person: bool, stamp: Stamp) -> None:
        """一時停止解除 (R50): only by the holder in person; impossible after abolition."""
        rules.in_use.check_lifting_suspension(
            self.ended, self.status, filer, in_person, self.suspended_at, stamp.effective_at
        )
        self._trigger(ev.SuspensionLifted, stamp)

    def change_card_information(
        self,
        facts: Sequence[str],
        filer: Filer,
        pin_confirmed: bool,
        stamp: Stamp,
        new_date_of_birth: date | None = None,
        former_surname_action: str | None = None,
    ) -> None:
        """券面記載事項変更 (R53): by the holder or a household member with the card's 4-digit PIN;
        an agent from another household goes through an inquiry letter (not the same day).
        Each changed fact is its own event (R41 lets the certificates react)."""
        self._require_active("R53", "a card-information change", stamp.on)
        rules.in_use.check_card_information_change(
            facts,
            stamp.on,
            new_date_of_birth,
            former_surname_action,
            pending_inquiry=self.pending_inquiry,
            notes_field_full=self.notes_field_full,
            info_change_due_by=self.info_change_due_by,
            awaiting_move_in_since=self.awaiting_move_in_since,
        )
        if rules.in_use.changes_the_same_day(filer):
            rules.in_use.require_card_pin(pin_confirmed, self.face_recognition_card)
            self._apply_facts(facts, filer.role, stamp, new_date_of_birth, former_surname_action)
            return
        self._trigger(
            ev.InquiryLetterSent,
            stamp,
            facts=list(facts),
            filed_by=filer.role,
            new_date_of_birth=new_date_of_birth,
            former_surname_action=former_surname_action,
        )

    def answer_inquiry(self, pin_confirmed: bool, stamp: Stamp) -> None:
        """照会書回答 (R53): the holder confirms with the PIN; the pending change is made."""
        self._require_active("R53", "answering an inquiry letter", stamp.on)
        pending = rules.in_use.require_pending_inquiry(self.pending_inquiry)
        rules.in_use.require_card_pin(pin_confirmed, self.face_recognition_card)
        self._trigger(ev.InquiryAnswered, stamp)
        self._apply_facts(
            pending.facts, pending.filed_by, stamp, pending.new_date_of_birth, pending.former_surname_action
        )

    def _apply_facts(
        self,
        facts: Sequence[str],
        filed_by: str,
        stamp: Stamp,
        new_dob: date | None,
        former_surname: str | None,
    ) -> None:
        for fact in facts:
            extra: dict[str, Any] = {}
            if fact == "date_of_birth":
                extra["new_date_of_birth"] = new_dob
            if fact == "former_surname":
                extra["action"] = former_surname
            self._trigger(ev.CARD_INFORMATION_EVENTS[fact], stamp, fact=fact, filed_by=filed_by, **extra)

    def record_notes_field_full(self, stamp: Stamp) -> None:
        """追記欄満欄 (R33): the card stays in use until the free reissue (assumption); the holder
        came in, so a pending move-in update no longer lapses (assumption, README)."""
        self._require_live("R33", "recording a full notes field", stamp.on)
        rules.in_use.check_notes_field_not_full(self.notes_field_full)
        self._trigger(ev.AdditionalNotesFieldFull, stamp)
