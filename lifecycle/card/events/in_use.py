"""Card events of a card in use: suspension (R49, R50), card-information changes and inquiry
letters (R41, R53), a full notes field (R33).

May import: the standard library and ``lifecycle.card.events.base``, ``lifecycle.card.state``.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from lifecycle.card.events.base import CardEvent
from lifecycle.card.state import CardState
from lifecycle.card.vocabulary import CARD_FACTS, PendingInquiry


class Suspended(CardEvent):
    """一時停止: the card and its certificates cannot be used (R49); accepted 24/7."""

    TOPIC = "mynacard.Card.Suspended"
    channel: str

    def apply_to(self, card: CardState) -> None:
        card.status = "suspended"
        card.suspended_at = self.effective_at


class SuspensionLifted(CardEvent):
    """一時停止解除: lifted by the holder in person (R50)."""

    TOPIC = "mynacard.Card.SuspensionLifted"

    def apply_to(self, card: CardState) -> None:
        card.status = "active"
        card.suspended_at = None


class CardInformationChanged(CardEvent):
    """券面記載事項変更 (R53): one of the facts on the card changed. Base of the five fact events;
    ``fact`` says which, so the certificates can react (R41)."""

    TOPIC = "mynacard.Card.CardInformationChanged"
    FACT: ClassVar[str] = ""
    fact: str
    filed_by: str


class AddressChanged(CardInformationChanged):
    """住所変更: the address on the card changed; completes a move-in's card update (R30)."""

    TOPIC = "mynacard.Card.AddressChanged"
    FACT = "address"

    def apply_to(self, card: CardState) -> None:
        card.info_change_due_by = None


class NameChanged(CardInformationChanged):
    """氏名変更."""

    TOPIC = "mynacard.Card.NameChanged"
    FACT = "name"


class DateOfBirthChanged(CardInformationChanged):
    """生年月日変更 (a correction of the resident record)."""

    TOPIC = "mynacard.Card.DateOfBirthChanged"
    FACT = "date_of_birth"
    PERSONAL_FIELDS: ClassVar[tuple[str, ...]] = ("new_date_of_birth",)
    """Kept under the holder's own data key; erased by ``mynacard forget`` (issue 13)."""
    new_date_of_birth: date

    def apply_to(self, card: CardState) -> None:
        card.date_of_birth = self.new_date_of_birth


class SexChanged(CardInformationChanged):
    """性別変更."""

    TOPIC = "mynacard.Card.SexChanged"
    FACT = "sex"


class FormerSurnameChanged(CardInformationChanged):
    """旧氏の記載・変更・削除 (R41)."""

    TOPIC = "mynacard.Card.FormerSurnameChanged"
    FACT = "former_surname"
    action: str


CARD_INFORMATION_EVENTS: dict[str, type[CardInformationChanged]] = {
    cls.FACT: cls
    for cls in (AddressChanged, NameChanged, DateOfBirthChanged, SexChanged, FormerSurnameChanged)
}
"""The event of each fact on the card (R53), in the order of ``CARD_FACTS``."""
if tuple(CARD_INFORMATION_EVENTS) != CARD_FACTS:  # pragma: no cover - a wrong edit, caught at import
    raise ImportError("CARD_FACTS and the card-information events disagree")


class InquiryLetterSent(CardEvent):
    """照会書送付: a card-information change filed by an agent from another household waits for
    the holder's answer; it is not done the same day (R53)."""

    TOPIC = "mynacard.Card.InquiryLetterSent"
    PERSONAL_FIELDS: ClassVar[tuple[str, ...]] = ("new_date_of_birth",)
    """Kept under the holder's own data key; erased by ``mynacard forget`` (issue 13)."""
    facts: list[str]
    filed_by: str
    new_date_of_birth: date | None
    former_surname_action: str | None

    def apply_to(self, card: CardState) -> None:
        card.pending_inquiry = PendingInquiry(
            facts=tuple(self.facts),
            filed_by=self.filed_by,
            new_date_of_birth=self.new_date_of_birth,
            former_surname_action=self.former_surname_action,
        )
        card.info_change_due_by = None


class InquiryAnswered(CardEvent):
    """照会書回答: the holder answered the inquiry letter; the change follows (R53)."""

    TOPIC = "mynacard.Card.InquiryAnswered"

    def apply_to(self, card: CardState) -> None:
        card.pending_inquiry = None


class AdditionalNotesFieldFull(CardEvent):
    """追記欄満欄: no room left for changes; a free reissue follows; the card stays usable (R33)."""

    TOPIC = "mynacard.Card.AdditionalNotesFieldFull"

    def apply_to(self, card: CardState) -> None:
        card.notes_field_full = True
        card.info_change_due_by = None
