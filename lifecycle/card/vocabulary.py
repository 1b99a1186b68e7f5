"""The card's vocabulary: its statuses, the choices a clerk picks from, and the value objects
commands take (an application, a handover) or the card keeps (its ending, a pending inquiry).

No behaviour here beyond small derived answers on the value objects.

May import: the standard library and ``lifecycle`` leaf modules (documents, filers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal
from uuid import UUID

from lifecycle.documents import IdentityDocument
from lifecycle.filers import Filer

CardStatus = Literal[
    "applied",
    "accepted",
    "produced",
    "active",
    "suspended",
    "cancelled",
    "voided",
    "abolished",
    "returned",
    "invalidated",
    "expired",
    "superseded",
]
PRE_HANDOVER: frozenset[str] = frozenset({"applied", "accepted", "produced"})
LIVE: frozenset[str] = frozenset({"active", "suspended"})
TERMINAL: frozenset[str] = frozenset(
    {"cancelled", "voided", "abolished", "returned", "invalidated", "expired", "superseded"}
)

APPLICATION_KINDS = ("new", "renewal", "reissue")
APPLICATION_CHANNELS = ("web", "smartphone", "photo_booth", "mail", "counter", "assisted", "outreach")
"""``assisted``: 申請補助サービス, a tablet at the ward office with staff (002); ``outreach``:
出張申請, staff applying on site (002)."""
IN_PERSON_CHANNELS = ("counter", "assisted", "outreach")
"""Channels where the applicant attends in person (R03, R15 apply)."""
MAIL_SERVICES = {"counter": "本人限定受取郵便(特例型)", "assisted": "簡易書留", "outreach": "簡易書留"}
"""The channels whose card is mailed to the holder, and by which postal service (R03; 000, 002)."""
HANDOVER_METHODS = ("counter", "mail")
OFFICE_NOT_RECORDED = "(not recorded)"
"""The office of a handover nobody named (no ``--office``, no ``MYNACARD_OFFICE``), and of every
handover recorded before ``Issued`` version 2 (issue 13: its upcaster)."""
PROXY_REASONS = (
    "illness_or_disability",
    "adult_ward",
    "curatorship_or_assistance",
    "under_15",
    "high_school_student",
    "age_75_or_over",
    "hospital_or_care_facility",
    "pregnancy",
    "work_away_from_home",
    "study_abroad",
    "social_withdrawal",
)
"""R14: the unavoidable reasons for which a proxy may collect the card."""
NOTIFICATION_CARD_OUTCOMES = ("collected", "lost", "number_letter_returned", "not_applicable")
JUKI_CARD_OUTCOMES = ("collected", "not_held", "lost_reported")
CARD_FACTS = ("address", "name", "date_of_birth", "sex", "former_surname")
"""R53 (券面記載事項): the facts on the card, each changed by its own event (R41)."""
FORMER_SURNAME_ACTIONS = ("added", "changed", "deleted")
INVALIDATION_REASONS = {
    "death": "R32",
    "resident_record_deleted": "R31",
    "resident_code_changed": "R31",
    "my_number_changed": "R31",
    "stay_expired": "R31",
}
RETURN_REASONS = ("voluntary", "moving_abroad", "death", "other")
SPECIAL_EXTENSION_EVIDENCE = ("residence_card_stamp", "online_receipt_email")
SUSPENSION_CHANNELS = ("call_centre", "counter", "online")
PHOTO_MAX_AGE_MONTHS = 6
"""R04: the photo was taken within 6 months before the application."""

LapseKind = Literal[
    "expired", "not_collected", "late_move_in", "no_update_90d", "moved_again", "overseas_move_out"
]


@dataclass(frozen=True, slots=True)
class Application:
    """What an application (交付申請) states; input to ``Card.submit``."""

    application_id: str
    kind: str
    channel: str
    holder_ref: str
    my_number_masked: str
    date_of_birth: date
    photo_taken_on: date
    adult_ward: bool = False
    residence_status: str | None = None
    stay_until: date | None = None
    wants_signature_certificate: bool = True
    wants_user_certificate: bool = True
    face_recognition_card: bool = False
    reissue_reason: str | None = None
    disaster_certificate: bool = False
    form_printed_on: date | None = None
    facts_changed_on: date | None = None
    applicant_present: bool = False
    legal_representative_present: bool = False
    legal_representative: Filer | None = None
    identity_documents: Sequence[IdentityDocument] = ()
    juki_card_collected: bool = False
    fee_paid: bool = False


@dataclass(frozen=True, slots=True)
class PreviousCard:
    """The card a renewal or reissue replaces, as the handler read it."""

    card_id: UUID
    holder_ref: str
    status: str
    expires_on: date | None
    expiry_capped_by_stay: bool

    def lapsed_by_stay(self, on: date) -> bool:
        """R09: the card's validity ended (recorded or not yet) because the stay ended."""
        return (
            self.expiry_capped_by_stay
            and self.expires_on is not None
            and (self.status == "expired" or on > self.expires_on)
        )


@dataclass(frozen=True, slots=True)
class Handover:
    """What happens at the counter when the card is handed over (交付); input to ``Card.hand_over``."""

    method: str = "counter"
    recipient: Literal["holder", "proxy"] = "holder"
    proxy_reason: str | None = None
    proxy: Filer | None = None
    identity_documents: Sequence[IdentityDocument] = ()
    proxy_identity_documents: Sequence[IdentityDocument] = ()
    notification_card: str = "not_applicable"
    notification_card_lost_at_home: bool = False
    police_report: bool = False
    juki_card: str = "not_held"
    old_card_brought: bool | None = None
    fee_paid_yen: int = 0
    pins: frozenset[str] = frozenset()
    """Which PINs were set at the counter (R54); never their values."""
    pins_set_by: str = "holder"
    office: str | None = None
    """The office (窓口) that handed the card over (002/003), if given; recorded as
    ``OFFICE_NOT_RECORDED`` when not."""


@dataclass(frozen=True, slots=True)
class Lapse:
    """A time-driven consequence due on a card (R13, R19, R22, R28, R30)."""

    kind: LapseKind
    rule: str
    effective_at: datetime
    detail: str


@dataclass(frozen=True, slots=True)
class Ending:
    """How and when a card ended (its terminal status, the rule, the effective time)."""

    status: str
    rule: str
    at: datetime
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class PendingInquiry:
    """A card-information change waiting for the holder's answer to an inquiry letter (R53)."""

    facts: tuple[str, ...]
    filed_by: str
    new_date_of_birth: date | None
    former_surname_action: str | None
