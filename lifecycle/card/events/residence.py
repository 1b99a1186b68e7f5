"""Card events of residence: moving out and in (R11, R27–R30) and the period of stay of a
foreign resident (在留期間, R23, R24).

May import: the standard library and ``lifecycle.card.events.base``, ``lifecycle.card.state``.
"""

from __future__ import annotations

from datetime import date

from lifecycle.card.events.base import CardEvent
from lifecycle.card.state import CardState


class MovedOut(CardEvent):
    """転出: the holder moved (or plans to move) out of the municipality or abroad (R11, R27, R30)."""

    TOPIC = "mynacard.Card.MovedOut"
    planned_move_out_on: date
    overseas: bool

    def apply_to(self, card: CardState) -> None:
        if self.overseas:
            card.overseas_move_out_on = self.planned_move_out_on
        else:
            card.awaiting_move_in_since = self.planned_move_out_on


class MoveInFiled(CardEvent):
    """転入届: filed in the new municipality (R28, R29); the card update is due in 90 days (R30)."""

    TOPIC = "mynacard.Card.MoveInFiled"
    planned_move_out_on: date
    moved_in_on: date
    filed_on: date
    last_day_to_file: date
    info_change_due_by: date
    in_time: bool

    def apply_to(self, card: CardState) -> None:
        card.moved_in_on = self.moved_in_on
        card.awaiting_move_in_since = None
        card.overseas_move_out_on = None
        card.overseas_continued_use_for = None
        if self.in_time:
            card.info_change_due_by = self.info_change_due_by


class OverseasContinuedUseRegistered(CardEvent):
    """国外継続利用: registered by the day before an overseas move-out (R27)."""

    TOPIC = "mynacard.Card.OverseasContinuedUseRegistered"
    planned_move_out_on: date

    def apply_to(self, card: CardState) -> None:
        card.overseas_continued_use_for = self.planned_move_out_on


class StayExtended(CardEvent):
    """在留期間更新に伴う有効期間変更: the card runs to the new stay end, capped (R23)."""

    TOPIC = "mynacard.Card.StayExtended"
    new_stay_until: date
    expires_on: date

    def apply_to(self, card: CardState) -> None:
        card.stay_until = self.new_stay_until
        card.expires_on = self.expires_on
        card.expiry_capped_by_stay = self.expires_on == self.new_stay_until


class SpecialExtensionGranted(CardEvent):
    """特例期間による有効期間延長: +2 months while a stay renewal is pending; once only (R24)."""

    TOPIC = "mynacard.Card.SpecialExtensionGranted"
    evidence: str
    expires_on: date

    def apply_to(self, card: CardState) -> None:
        card.expires_on = self.expires_on
        card.special_extension_used = True
        card.expiry_capped_by_stay = True
