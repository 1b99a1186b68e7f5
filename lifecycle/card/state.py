"""The card's state: every field its events write (``lifecycle.card.events``) and the guards,
time (``lifecycle.card.lapses``) and read side read, with the few answers derived from them.

A plain class: the ``Card`` aggregate is this state plus its procedures. Events are typed
against it, so they never import the aggregate.

May import: the standard library, ``lifecycle.calendar``, ``lifecycle.card.vocabulary`` and
``lifecycle.card.rules``.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from lifecycle.calendar import age_on
from lifecycle.card.rules.residence import has_overseas_continued_use
from lifecycle.card.vocabulary import Ending, PendingInquiry


class CardState:
    """What is known of one card; changed only by its events' ``apply_to``."""

    # Added after cards were first stored: class-level defaults, so a card folded from a read
    # model's snapshot written before these existed reads them as "never happened".
    mailed_on: date | None = None
    """When the card was mailed to the holder (R03; 000, 002), if it was."""
    mail_returned: bool = False
    """The mailed card came back to the city undelivered (返戻): counter pickup from then on."""
    pickup_reserved_for: date | None = None
    """The day the holder booked to collect the card (予約, R59), if booked."""
    pickup_office: str | None = None
    """The office the pickup was booked at, if given."""
    moved_in_on: date | None = None
    """The day of the last move-in (転入) recorded on the card (003 Q10: a notice may not arrive)."""
    expiry_notices_sent: tuple[str, ...] = ()
    """R44: ``subject:expires_on`` of the expiry notices J-LIS actually mailed."""
    agent_inquiries: tuple[str, ...] = ()
    """Inquiry letters (照会書) sent for an agent's request, not answered yet: ``procedure:subject@sent_on``
    (R34 certificates, R56 a PIN reset)."""
    expiry_notices_undelivered: tuple[str, ...] = ()
    """R44: ``subject:expires_on`` of the expiry notices that came back undelivered."""

    def __init__(self) -> None:
        self.application_id = ""
        self.kind = "new"
        self.channel = "web"
        self.applied_on = date.min
        self.holder_ref = ""
        self.my_number_masked = ""
        self.date_of_birth = date.min
        self.adult_ward = False
        self.residence_status: str | None = None
        self.stay_until: date | None = None
        self.wants_signature_certificate = True
        self.wants_user_certificate = True
        self.face_recognition_card = False
        self.previous_card_id: UUID | None = None
        self.renews_card_expiring_on: date | None = None
        self.reissue_reason: str | None = None
        self.status: str = "applied"
        self.juki_card_collected = False
        self.fee_assessed_yen = 0
        self.fee_paid_yen = 0
        self.application_fee_reason = ""
        self.application_fee_fault = False
        self.certificate_fee_yen = 0
        self.accepted_on: date | None = None
        self.issue_date: date | None = None
        self.expires_on: date | None = None
        self.age_based_expires_on: date | None = None
        self.adult: bool | None = None
        self.expiry_capped_by_stay = False
        self.pickup_notice_sent_on: date | None = None
        self.pickup_reminder_sent_on: date | None = None
        self.handed_over_on: date | None = None
        self.suspended_at: datetime | None = None
        self.pending_inquiry: PendingInquiry | None = None
        self.awaiting_move_in_since: date | None = None
        self.info_change_due_by: date | None = None
        self.overseas_continued_use_for: date | None = None
        self.overseas_move_out_on: date | None = None
        self.special_extension_used = False
        self.notes_field_full = False
        self.ended: Ending | None = None
        self.superseded_by: UUID | None = None
        self.expiry_notices: list[str] = []
        """``subject:expiry`` of every expiry notice recorded as due (R44)."""
        self.successor_holder_ref: str | None = None
        """After a My Number change (R31): the holder's reference under the new number."""
        self.physically_collected = False
        self.certificates: dict[str, UUID] = {}
        """The latest certificate of each kind issued onto this card (R34)."""
        self.certificate_sequence: dict[str, int] = {}
        self.pins: dict[str, int] = {}
        """PINs set on the card → consecutive wrong entries (-1: locked) (R54, R55)."""
        self.smartphone_device: str | None = None
        self.smartphone_suspended = False

    @property
    def overseas_continued_use(self) -> bool:
        """国外継続利用 (R27): registered for the recorded overseas move-out (Japanese nationals)."""
        return has_overseas_continued_use(
            self.overseas_move_out_on, self.overseas_continued_use_for, self.residence_status
        )

    @property
    def outstanding_fee_yen(self) -> int:
        return self.fee_assessed_yen - self.fee_paid_yen

    def age_on(self, day: date) -> int:
        return age_on(self.date_of_birth, day)

    def belongs_to(self, holder_ref: str) -> bool:
        """The card is this person's: the same holder reference, or the one a My Number change
        (R31) gave them."""
        return holder_ref in {self.holder_ref, self.successor_holder_ref}
