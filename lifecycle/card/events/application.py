"""Card events from the application to the handover (spec §2.1, R02–R18; production R19–R22).

May import: ``eventsourcing.domain``, the standard library, ``lifecycle.card.events.base``,
``lifecycle.card.state``, ``lifecycle.card.vocabulary``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from lifecycle.card.events.base import CardEvent, end
from lifecycle.card.state import CardState
from lifecycle.card.vocabulary import OFFICE_NOT_RECORDED


class Applied(Aggregate.Created):
    """申請: an application for a card was submitted (R02–R04, R07)."""

    TOPIC = "mynacard.Card.Applied"
    PERSONAL_FIELDS: ClassVar[tuple[str, ...]] = ("my_number_masked", "date_of_birth", "identity_documents")
    """Kept under the holder's own data key; erased by ``mynacard forget`` (issue 13)."""
    effective_at: datetime
    actor: str
    command_id: UUID
    application_id: str
    kind: str
    channel: str
    applied_on: date
    holder_ref: str
    my_number_masked: str
    date_of_birth: date
    adult_ward: bool
    residence_status: str | None
    stay_until: date | None
    wants_signature_certificate: bool
    wants_user_certificate: bool
    face_recognition_card: bool
    previous_card_id: UUID | None
    renews_card_expiring_on: date | None
    reissue_reason: str | None
    photo_taken_on: date
    identity_documents: list[str]

    def apply(self, aggregate: Any) -> None:
        card: CardState = aggregate
        card.application_id = self.application_id
        card.kind = self.kind
        card.channel = self.channel
        card.applied_on = self.applied_on
        card.holder_ref = self.holder_ref
        card.my_number_masked = self.my_number_masked
        card.date_of_birth = self.date_of_birth
        card.adult_ward = self.adult_ward
        card.residence_status = self.residence_status
        card.stay_until = self.stay_until
        card.wants_signature_certificate = self.wants_signature_certificate
        card.wants_user_certificate = self.wants_user_certificate
        card.face_recognition_card = self.face_recognition_card
        card.previous_card_id = self.previous_card_id
        card.renews_card_expiring_on = self.renews_card_expiring_on
        card.reissue_reason = self.reissue_reason
        card.status = "applied"


class JukiCardCollected(CardEvent):
    """住基カード回収: the Juki card was collected at the counter application (R17, Nishitokyo)."""

    TOPIC = "mynacard.Card.JukiCardCollected"

    def apply_to(self, card: CardState) -> None:
        card.juki_card_collected = True


class FeeAssessed(CardEvent):
    """手数料決定: the fee of the application, or an extra one at handover (R07–R10)."""

    TOPIC = "mynacard.Card.FeeAssessed"
    amount_yen: int
    card_yen: int
    certificate_yen: int
    fault: bool
    reason: str
    rule: str
    stage: str

    def apply_to(self, card: CardState) -> None:
        card.fee_assessed_yen += self.amount_yen
        if self.stage == "application":
            card.application_fee_reason = self.reason
            card.application_fee_fault = self.fault
            card.certificate_fee_yen = self.certificate_yen


class FeePaid(CardEvent):
    """手数料納付: an assessed fee was paid (R08)."""

    TOPIC = "mynacard.Card.FeePaid"
    amount_yen: int
    stage: str

    def apply_to(self, card: CardState) -> None:
        card.fee_paid_yen += self.amount_yen


class Accepted(CardEvent):
    """受理: J-LIS accepted the application; its date chooses the adult line (R05)."""

    TOPIC = "mynacard.Card.Accepted"
    accepted_on: date

    def apply_to(self, card: CardState) -> None:
        card.accepted_on = self.accepted_on
        card.status = "accepted"


class Produced(CardEvent):
    """作成: J-LIS produced the card; the issue date fixes the expiry (R19–R22, R26)."""

    TOPIC = "mynacard.Card.Produced"
    issue_date: date
    expires_on: date
    age_based_expires_on: date
    adult: bool
    age_line: int
    birthdays: int
    capped_by_stay: bool

    def apply_to(self, card: CardState) -> None:
        card.issue_date = self.issue_date
        card.expires_on = self.expires_on
        card.age_based_expires_on = self.age_based_expires_on
        card.adult = self.adult
        card.expiry_capped_by_stay = self.capped_by_stay
        card.status = "produced"


class PickupNoticeSent(CardEvent):
    """交付通知書発送: the pickup notice was sent (R13 counts from it)."""

    TOPIC = "mynacard.Card.PickupNoticeSent"
    sent_on: date

    def apply_to(self, card: CardState) -> None:
        card.pickup_notice_sent_on = self.sent_on


class PickupReserved(CardEvent):
    """予約: the holder booked a day (and office) to collect the card (R59, municipal rules)."""

    TOPIC = "mynacard.Card.PickupReserved"
    reserved_for: date
    office: str | None

    def apply_to(self, card: CardState) -> None:
        card.pickup_reserved_for = self.reserved_for
        card.pickup_office = self.office


class CardMailed(CardEvent):
    """郵送交付: the produced card was mailed to the holder's registered address (R03; 000:
    本人限定受取郵便(特例型) for a counter application, 002: 簡易書留 for 申請補助 and 出張申請)."""

    TOPIC = "mynacard.Card.CardMailed"
    mailed_on: date
    service: str

    def apply_to(self, card: CardState) -> None:
        card.mailed_on = self.mailed_on


class ArrivalNoticeLeft(CardEvent):
    """到着通知: the post office left the holder a notice that the card is waiting there (000)."""

    TOPIC = "mynacard.Card.ArrivalNoticeLeft"
    left_on: date


class MailReturned(CardEvent):
    """返戻: the mailed card came back to the city undelivered; it is handed over at the counter
    from now on (002)."""

    TOPIC = "mynacard.Card.MailReturned"
    returned_on: date

    def apply_to(self, card: CardState) -> None:
        card.mail_returned = True


class PickupNoticeResent(CardEvent):
    """交付通知書再発行: a lost pickup notice was sent again (003 Q8); the R13 deadline stays."""

    TOPIC = "mynacard.Card.PickupNoticeResent"
    sent_on: date


class PickupReminderSent(CardEvent):
    """督促: a reminder to collect the card was sent (R13, D11)."""

    TOPIC = "mynacard.Card.PickupReminderSent"
    sent_on: date

    def apply_to(self, card: CardState) -> None:
        card.pickup_reminder_sent_on = self.sent_on


class Issued(CardEvent):
    """交付: the card was handed to the holder or a proxy (R14–R17); it is now active. ``office``:
    the office (窓口) that handed it over, ``(not recorded)`` when nobody named one."""

    TOPIC = "mynacard.Card.Issued"
    class_version = 2
    """2 (issue 13): ``office`` is always recorded (version 1: optional, or absent before it existed)."""
    PERSONAL_FIELDS: ClassVar[tuple[str, ...]] = (
        "identity_documents",
        "proxy_identity_documents",
        "proxy_reason",
    )
    """Kept under the holder's own data key; erased by ``mynacard forget`` (issue 13)."""
    handed_over_on: date
    method: str
    recipient: str
    proxy_reason: str | None
    proxy_role: str | None
    identity_documents: list[str]
    proxy_identity_documents: list[str]
    notification_card: str
    juki_card: str
    old_card_brought: bool | None
    certificates: list[str]
    """The certificates issued with the card, in issue order (R34; AUTH before SIG, R36)."""
    office: str
    """The office (窓口 / 市区町村の事務所) that handed the card over: the command's ``office``,
    else the service's ``MYNACARD_OFFICE``, else ``(not recorded)``."""

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Version 1 → 2: a handover recorded without an office (absent before 2026-12-01, ``null``
        when none was given since) reads as ``(not recorded)``."""
        if state.get("office") is None:
            state["office"] = OFFICE_NOT_RECORDED

    def apply_to(self, card: CardState) -> None:
        card.handed_over_on = self.handed_over_on
        card.status = "active"


class ProxyHandoverNotified(CardEvent):
    """代理人交付の通知: the holder is told their card went to a proxy outside the household (R14)."""

    TOPIC = "mynacard.Card.ProxyHandoverNotified"


class ApplicationCancelled(CardEvent):
    """交付申請取消: the application was cancelled before receipt (R12)."""

    TOPIC = "mynacard.Card.ApplicationCancelled"
    filed_by: str
    channel: str

    def apply_to(self, card: CardState) -> None:
        end(card, "cancelled", "R12", self.effective_at)


class ApplicationVoided(CardEvent):
    """申請無効: the application lapsed: the applicant moved out (R11), the card was not
    collected (R13), or the resident record ended before receipt (R31)."""

    TOPIC = "mynacard.Card.ApplicationVoided"
    reason: str
    rule: str
    new_holder_ref: str | None = None
    """R65: the reference of the applicant's new My Number when it changed (R31); absent from
    events recorded before R65 (read as None)."""

    def apply_to(self, card: CardState) -> None:
        end(card, "voided", self.rule, self.effective_at, self.reason)
        if self.new_holder_ref is not None:
            card.successor_holder_ref = self.new_holder_ref


class CardDestroyed(CardEvent):
    """廃棄: an uncollected card was destroyed (R13)."""

    TOPIC = "mynacard.Card.CardDestroyed"
    reason: str
