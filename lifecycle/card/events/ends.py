"""Card events that end a card, or follow its end (R19, R22, R31, R32, R47, R51, R52), and the
expiry notice that precedes it (R44).

May import: the standard library and ``lifecycle.card.events.base``, ``lifecycle.card.state``.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from lifecycle.card.events.base import CardEvent, end
from lifecycle.card.state import CardState


class Lost(CardEvent):
    """紛失・廃止届: the card was lost; it is abolished and can never be reactivated (R51).
    ``effective_at`` is when it was lost."""

    TOPIC = "mynacard.Card.Lost"
    lost_at_home: bool
    police_report: bool
    filed_by: str
    replaced_by: UUID | None = None
    """R62: the new card handed over while this one was not brought: it is handled as lost.
    Absent from events recorded before R62 (read as None)."""

    def apply_to(self, card: CardState) -> None:
        if self.replaced_by is None:
            end(card, "abolished", "R51", self.effective_at, "lost")
        else:
            end(card, "abolished", "R62", self.effective_at, "not_brought")
            card.superseded_by = self.replaced_by


class Returned(CardEvent):
    """返納: the card was returned and abolished permanently (R52, R27)."""

    TOPIC = "mynacard.Card.Returned"
    reason: str
    filed_by: str
    handed_back_as_record: bool
    replaced_by: UUID | None = None
    """R62: the new card at whose handover this one was returned (reason ``replaced``). Absent
    from events recorded before R62 (read as None)."""

    def apply_to(self, card: CardState) -> None:
        end(card, "returned", "R52" if self.replaced_by is None else "R62", self.effective_at, self.reason)
        if self.replaced_by is not None:
            card.superseded_by = self.replaced_by


class Invalidated(CardEvent):
    """失効: the card lost its effect before expiry (R27–R32); it cannot be revived."""

    TOPIC = "mynacard.Card.Invalidated"
    reason: str
    rule: str
    new_holder_ref: str | None

    def apply_to(self, card: CardState) -> None:
        end(card, "invalidated", self.rule, self.effective_at, self.reason)
        card.successor_holder_ref = self.new_holder_ref


class Expired(CardEvent):
    """有効期限満了: the day after the last valid day began (R19, R22). ``basis`` is ``age`` or
    ``stay`` (a stay-based lapse makes the next card a fee case, R09)."""

    TOPIC = "mynacard.Card.Expired"
    expired_on: date
    basis: str

    def apply_to(self, card: CardState) -> None:
        end(card, "expired", "R22" if self.basis == "stay" else "R19", self.effective_at, self.basis)


class Superseded(CardEvent):
    """A newer card of the same holder was handed over; this one ended (renewal, reissue).
    Recorded before R62; since R62 the old card is ``Returned`` (reason ``replaced``) or, when not
    brought, ``Lost`` at the handover. Kept so that stored events still read."""

    TOPIC = "mynacard.Card.Superseded"
    by_card_id: UUID

    def apply_to(self, card: CardState) -> None:
        end(card, "superseded", "R07", self.effective_at, "replaced")
        card.superseded_by = self.by_card_id


class PhysicalCardCollected(CardEvent):
    """A card already ended was handed in (found after a loss, R51; brought by the family after a
    death, R32). Its status does not change."""

    TOPIC = "mynacard.Card.PhysicalCardCollected"
    reason: str

    def apply_to(self, card: CardState) -> None:
        card.physically_collected = True


class ExpiryNoticeSent(CardEvent):
    """有効期限通知書発送: J-LIS mailed the expiry notice of the card or of its SIG/AUTH (R44; 003
    Q10: by ordinary mail, not forwarded, about 3 months before the expiry)."""

    TOPIC = "mynacard.Card.ExpiryNoticeSent"
    subject: str
    expires_on: date

    def apply_to(self, card: CardState) -> None:
        card.expiry_notices_sent = (
            *card.expiry_notices_sent,
            f"{self.subject}:{self.expires_on.isoformat()}",
        )


class ExpiryNoticeUndelivered(CardEvent):
    """The expiry notice came back undelivered (R44; e.g. the holder moved, 003 Q10)."""

    TOPIC = "mynacard.Card.ExpiryNoticeUndelivered"
    subject: str
    expires_on: date

    def apply_to(self, card: CardState) -> None:
        card.expiry_notices_undelivered = (
            *card.expiry_notices_undelivered,
            f"{self.subject}:{self.expires_on.isoformat()}",
        )


class ExpiryNoticeDue(CardEvent):
    """有効期限通知書: the expiry notice of the card or of one of its certificates is due, from
    the day its 3-month renewal window opens (R44, R25, R38; informational, for the mailing)."""

    TOPIC = "mynacard.Card.ExpiryNoticeDue"
    subject: str
    """``card``, ``SIG`` or ``AUTH``."""
    expires_on: date

    def apply_to(self, card: CardState) -> None:
        card.expiry_notices.append(f"{self.subject}:{self.expires_on.isoformat()}")
