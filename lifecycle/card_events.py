"""Events of the card (マイナンバーカード) aggregate.

Past tense, one fact per event, explicit stable topics (``mynacard.Card.<Name>``) so modules can
move without orphaning stored events. Every event carries:

- ``effective_at``: when it happened in the world (JST, D13), set by the command;
- ``timestamp``: when the service recorded it (the library's recorded time);
- ``actor``: who recorded it; ``command_id``: the command that caused it.

An event only mutates state; every rule is checked before it is triggered (lifecycle.card),
so replaying old events never depends on today's rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import register_topic

if TYPE_CHECKING:
    from lifecycle.card import Card


@dataclass(frozen=True, slots=True)
class PendingInquiry:
    """A card-information change waiting for the holder's answer to an inquiry letter (R53)."""

    facts: tuple[str, ...]
    filed_by: str
    new_date_of_birth: date | None
    former_surname_action: str | None


class CardEvent(Aggregate.Event):
    """Base of every card event after the first."""

    TOPIC = "mynacard.Card.Event"
    effective_at: datetime
    actor: str
    command_id: UUID

    def apply(self, aggregate: Any) -> None:
        self.apply_to(aggregate)

    def apply_to(self, card: Card) -> None:
        """Mutate the card; most events only add to its history."""


class Applied(Aggregate.Created):
    """申請: an application for a card was submitted (R02–R04, R07)."""

    TOPIC = "mynacard.Card.Applied"
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
        card: Card = aggregate
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

    def apply_to(self, card: Card) -> None:
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

    def apply_to(self, card: Card) -> None:
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

    def apply_to(self, card: Card) -> None:
        card.fee_paid_yen += self.amount_yen


class Accepted(CardEvent):
    """受理: J-LIS accepted the application; its date chooses the adult line (R05)."""

    TOPIC = "mynacard.Card.Accepted"
    accepted_on: date

    def apply_to(self, card: Card) -> None:
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

    def apply_to(self, card: Card) -> None:
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

    def apply_to(self, card: Card) -> None:
        card.pickup_notice_sent_on = self.sent_on


class PickupReminderSent(CardEvent):
    """督促: a reminder to collect the card was sent (R13, D11)."""

    TOPIC = "mynacard.Card.PickupReminderSent"
    sent_on: date

    def apply_to(self, card: Card) -> None:
        card.pickup_reminder_sent_on = self.sent_on


class Issued(CardEvent):
    """交付: the card was handed to the holder or a proxy (R14–R17); it is now active."""

    TOPIC = "mynacard.Card.Issued"
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

    def apply_to(self, card: Card) -> None:
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

    def apply_to(self, card: Card) -> None:
        card.end("cancelled", "R12", self.effective_at)


class ApplicationVoided(CardEvent):
    """申請無効: the application lapsed: the applicant moved out (R11), the card was not
    collected (R13), or the resident record ended before receipt (R31)."""

    TOPIC = "mynacard.Card.ApplicationVoided"
    reason: str
    rule: str

    def apply_to(self, card: Card) -> None:
        card.end("voided", self.rule, self.effective_at, self.reason)


class CardDestroyed(CardEvent):
    """廃棄: an uncollected card was destroyed (R13)."""

    TOPIC = "mynacard.Card.CardDestroyed"
    reason: str


class Suspended(CardEvent):
    """一時停止: the card and its certificates cannot be used (R49); accepted 24/7."""

    TOPIC = "mynacard.Card.Suspended"
    channel: str

    def apply_to(self, card: Card) -> None:
        card.status = "suspended"
        card.suspended_at = self.effective_at


class SuspensionLifted(CardEvent):
    """一時停止解除: lifted by the holder in person (R50)."""

    TOPIC = "mynacard.Card.SuspensionLifted"

    def apply_to(self, card: Card) -> None:
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

    def apply_to(self, card: Card) -> None:
        card.info_change_due_by = None


class NameChanged(CardInformationChanged):
    """氏名変更."""

    TOPIC = "mynacard.Card.NameChanged"
    FACT = "name"


class DateOfBirthChanged(CardInformationChanged):
    """生年月日変更 (a correction of the resident record)."""

    TOPIC = "mynacard.Card.DateOfBirthChanged"
    FACT = "date_of_birth"
    new_date_of_birth: date

    def apply_to(self, card: Card) -> None:
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


class InquiryLetterSent(CardEvent):
    """照会書送付: a card-information change filed by an agent from another household waits for
    the holder's answer; it is not done the same day (R53)."""

    TOPIC = "mynacard.Card.InquiryLetterSent"
    facts: list[str]
    filed_by: str
    new_date_of_birth: date | None
    former_surname_action: str | None

    def apply_to(self, card: Card) -> None:
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

    def apply_to(self, card: Card) -> None:
        card.pending_inquiry = None


class MovedOut(CardEvent):
    """転出: the holder moved (or plans to move) out of the municipality or abroad (R11, R27, R30)."""

    TOPIC = "mynacard.Card.MovedOut"
    planned_move_out_on: date
    overseas: bool

    def apply_to(self, card: Card) -> None:
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

    def apply_to(self, card: Card) -> None:
        card.awaiting_move_in_since = None
        card.overseas_move_out_on = None
        card.overseas_continued_use_for = None
        if self.in_time:
            card.info_change_due_by = self.info_change_due_by


class OverseasContinuedUseRegistered(CardEvent):
    """国外継続利用: registered by the day before an overseas move-out (R27)."""

    TOPIC = "mynacard.Card.OverseasContinuedUseRegistered"
    planned_move_out_on: date

    def apply_to(self, card: Card) -> None:
        card.overseas_continued_use_for = self.planned_move_out_on


class StayExtended(CardEvent):
    """在留期間更新に伴う有効期間変更: the card runs to the new stay end, capped (R23)."""

    TOPIC = "mynacard.Card.StayExtended"
    new_stay_until: date
    expires_on: date

    def apply_to(self, card: Card) -> None:
        card.stay_until = self.new_stay_until
        card.expires_on = self.expires_on
        card.expiry_capped_by_stay = self.expires_on == self.new_stay_until


class SpecialExtensionGranted(CardEvent):
    """特例期間による有効期間延長: +2 months while a stay renewal is pending; once only (R24)."""

    TOPIC = "mynacard.Card.SpecialExtensionGranted"
    evidence: str
    expires_on: date

    def apply_to(self, card: Card) -> None:
        card.expires_on = self.expires_on
        card.special_extension_used = True
        card.expiry_capped_by_stay = True


class Lost(CardEvent):
    """紛失・廃止届: the card was lost; it is abolished and can never be reactivated (R51).
    ``effective_at`` is when it was lost."""

    TOPIC = "mynacard.Card.Lost"
    lost_at_home: bool
    police_report: bool
    filed_by: str

    def apply_to(self, card: Card) -> None:
        card.end("abolished", "R51", self.effective_at, "lost")


class Returned(CardEvent):
    """返納: the card was returned and abolished permanently (R52, R27)."""

    TOPIC = "mynacard.Card.Returned"
    reason: str
    filed_by: str
    handed_back_as_record: bool

    def apply_to(self, card: Card) -> None:
        card.end("returned", "R52", self.effective_at, self.reason)


class Invalidated(CardEvent):
    """失効: the card lost its effect before expiry (R27–R32); it cannot be revived."""

    TOPIC = "mynacard.Card.Invalidated"
    reason: str
    rule: str
    new_holder_ref: str | None

    def apply_to(self, card: Card) -> None:
        card.end("invalidated", self.rule, self.effective_at, self.reason)
        card.successor_holder_ref = self.new_holder_ref


class AdditionalNotesFieldFull(CardEvent):
    """追記欄満欄: no room left for changes; a free reissue follows; the card stays usable (R33)."""

    TOPIC = "mynacard.Card.AdditionalNotesFieldFull"

    def apply_to(self, card: Card) -> None:
        card.notes_field_full = True
        card.info_change_due_by = None


class Expired(CardEvent):
    """有効期限満了: the day after the last valid day began (R19, R22). ``basis`` is ``age`` or
    ``stay`` (a stay-based lapse makes the next card a fee case, R09)."""

    TOPIC = "mynacard.Card.Expired"
    expired_on: date
    basis: str

    def apply_to(self, card: Card) -> None:
        card.end("expired", "R22" if self.basis == "stay" else "R19", self.effective_at, self.basis)


class Superseded(CardEvent):
    """A newer card of the same holder was handed over; this one ends (renewal, reissue)."""

    TOPIC = "mynacard.Card.Superseded"
    by_card_id: UUID

    def apply_to(self, card: Card) -> None:
        card.end("superseded", "R07", self.effective_at, "replaced")
        card.superseded_by = self.by_card_id


class PhysicalCardCollected(CardEvent):
    """A card already ended was handed in (found after a loss, R51; brought by the family after a
    death, R32). Its status does not change."""

    TOPIC = "mynacard.Card.PhysicalCardCollected"
    reason: str

    def apply_to(self, card: Card) -> None:
        card.physically_collected = True


class ExpiryNoticeDue(CardEvent):
    """有効期限通知書: the expiry notice of the card or of one of its certificates is due, from
    the day its 3-month renewal window opens (R44, R25, R38; informational, for the mailing)."""

    TOPIC = "mynacard.Card.ExpiryNoticeDue"
    subject: str
    """``card``, ``SIG`` or ``AUTH``."""
    expires_on: date

    def apply_to(self, card: Card) -> None:
        card.expiry_notices.append(f"{self.subject}:{self.expires_on.isoformat()}")


class CertificateAdded(CardEvent):
    """A certificate was issued onto this card (R34); the card keeps track of its certificates."""

    TOPIC = "mynacard.Card.CertificateAdded"
    kind: str
    serial: str
    certificate_id: UUID

    def apply_to(self, card: Card) -> None:
        card.certificates[self.kind] = self.certificate_id
        card.certificate_sequence[self.kind] = card.certificate_sequence.get(self.kind, 0) + 1


class CertificateWithheld(CardEvent):
    """A certificate the application asked for was not issued, and why (R40, R58)."""

    TOPIC = "mynacard.Card.CertificateWithheld"
    kind: str
    rule: str
    why: str


class PinsSet(CardEvent):
    """暗証番号設定: these PINs were set (never their values) (R54); ``set_by`` is the holder or,
    for an under-15, the legal representative (R40)."""

    TOPIC = "mynacard.Card.PinsSet"
    pins: list[str]
    set_by: str

    def apply_to(self, card: Card) -> None:
        for pin in self.pins:
            card.pins[pin] = 0


class PinFailed(CardEvent):
    """A terminal reported a wrong PIN entry (R55); ``failures`` counts consecutive ones."""

    TOPIC = "mynacard.Card.PinFailed"
    pin: str
    failures: int

    def apply_to(self, card: Card) -> None:
        card.pins[self.pin] = self.failures


class PinLocked(CardEvent):
    """The PIN is locked after too many wrong entries (R55: 5 for SIG, 3 for the others)."""

    TOPIC = "mynacard.Card.PinLocked"
    pin: str

    def apply_to(self, card: Card) -> None:
        card.pins[self.pin] = -1


class PinCounterReset(CardEvent):
    """A correct entry reset the count of wrong entries (R55)."""

    TOPIC = "mynacard.Card.PinCounterReset"
    pin: str

    def apply_to(self, card: Card) -> None:
        card.pins[self.pin] = 0


class PinReset(CardEvent):
    """暗証番号再設定・初期化: unlocked and set anew, at the counter or a kiosk (R56)."""

    TOPIC = "mynacard.Card.PinReset"
    pin: str
    channel: str

    def apply_to(self, card: Card) -> None:
        card.pins[self.pin] = 0


class PinChanged(CardEvent):
    """暗証番号変更 at the counter or at home (R57)."""

    TOPIC = "mynacard.Card.PinChanged"
    pin: str
    channel: str


class FaceRecognitionModeSet(CardEvent):
    """顔認証マイナンバーカード: switched to (or back from) a face-recognition card (R58)."""

    TOPIC = "mynacard.Card.FaceRecognitionModeSet"
    enabled: bool

    def apply_to(self, card: Card) -> None:
        card.face_recognition_card = self.enabled
        if self.enabled:
            card.pins = {}


class SmartphoneRegistered(CardEvent):
    """スマホ用電子証明書: the holder's phone received smartphone certificates (R45)."""

    TOPIC = "mynacard.Card.SmartphoneRegistered"
    device: str

    def apply_to(self, card: Card) -> None:
        card.smartphone_device = self.device
        card.smartphone_suspended = False


class SmartphoneSuspended(CardEvent):
    """スマホ用電子証明書の一時利用停止: the phone was lost (R48)."""

    TOPIC = "mynacard.Card.SmartphoneSuspended"

    def apply_to(self, card: Card) -> None:
        card.smartphone_suspended = True


class SmartphoneSuspensionLifted(CardEvent):
    """The phone was found; SP-AUTH is restored and SP-SIG reissued (R48)."""

    TOPIC = "mynacard.Card.SmartphoneSuspensionLifted"

    def apply_to(self, card: Card) -> None:
        card.smartphone_suspended = False


class SmartphoneRenewalRequired(CardEvent):
    """The card certificates were renewed; the smartphone ones are not renewed with them and
    must be renewed in the app (R46)."""

    TOPIC = "mynacard.Card.SmartphoneRenewalRequired"


ALL_CARD_EVENTS: tuple[type[Any], ...] = (
    CardEvent,
    Applied,
    JukiCardCollected,
    FeeAssessed,
    FeePaid,
    Accepted,
    Produced,
    PickupNoticeSent,
    PickupReminderSent,
    Issued,
    ProxyHandoverNotified,
    ApplicationCancelled,
    ApplicationVoided,
    CardDestroyed,
    Suspended,
    SuspensionLifted,
    CardInformationChanged,
    AddressChanged,
    NameChanged,
    DateOfBirthChanged,
    SexChanged,
    FormerSurnameChanged,
    InquiryLetterSent,
    InquiryAnswered,
    MovedOut,
    MoveInFiled,
    OverseasContinuedUseRegistered,
    StayExtended,
    SpecialExtensionGranted,
    Lost,
    Returned,
    Invalidated,
    AdditionalNotesFieldFull,
    Expired,
    Superseded,
    PhysicalCardCollected,
    ExpiryNoticeDue,
    CertificateAdded,
    CertificateWithheld,
    PinsSet,
    PinFailed,
    PinLocked,
    PinCounterReset,
    PinReset,
    PinChanged,
    FaceRecognitionModeSet,
    SmartphoneRegistered,
    SmartphoneSuspended,
    SmartphoneSuspensionLifted,
    SmartphoneRenewalRequired,
)

for _cls in ALL_CARD_EVENTS:
    register_topic(_cls.TOPIC, _cls)
