"""The card aggregate (マイナンバーカード / 個人番号カード): its whole life from application to
expiry or invalidation.

Every public method is a command: it checks the rules (raising ``RuleViolation`` with the
rule id before anything is triggered, so a refused command records nothing), then triggers
the events that say what happened. State changes only in the events' ``apply_to``.

States (spec §3): ``applied → accepted → produced → active ⇄ suspended``; the exits
``cancelled``, ``voided``, ``abolished``, ``returned``, ``invalidated``, ``expired`` and
``superseded`` are terminal: a card there refuses every change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar, Literal
from uuid import UUID

from eventsourcing.domain import Aggregate

from lifecycle import card_events as ev
from lifecycle.calendar import (
    add_months,
    age_on,
    last_day_within,
    renewal_window_opens,
    start_of_day,
    validity_ends_at,
)
from lifecycle.certificate_rules import SIG_MIN_AGE, signature_eligibility
from lifecycle.documents import (
    IdentityDocument,
    check_identity_documents,
    check_proxy_handover_documents,
)
from lifecycle.errors import RuleViolation, TerminalState, UncoveredCase
from lifecycle.fees import Fee, assess_application_fee, assess_handover_fee
from lifecycle.filers import HOLDER, Filer, check_filer, check_legal_representative_authority
from lifecycle.identifiers import card_id_for
from lifecycle.pins import (
    CERTIFICATE_PIN,
    LOCKOUT_AFTER,
    MANDATORY_PINS,
    check_change_channel,
    check_reset_channel,
)
from lifecycle.policies import (
    CARD_INFO_CHANGE_DAYS_AFTER_MOVE_IN,
    MOVE_IN_DAYS_AFTER_MOVING_IN,
    MOVE_IN_DAYS_AFTER_PLANNED_MOVE_OUT,
    Policies,
)
from lifecycle.stamp import Stamp
from lifecycle.validity import (
    STAY_CAP_EXEMPT_STATUSES,
    card_validity,
    extended_stay_expiry,
    special_extension_expiry,
    stay_cap,
)

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
APPLICATION_CHANNELS = ("web", "smartphone", "photo_booth", "mail", "counter")
HANDOVER_METHODS = ("counter", "mail")
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
CARD_FACTS = tuple(ev.CARD_INFORMATION_EVENTS)
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


@dataclass(frozen=True, slots=True)
class Lapse:
    """A time-driven consequence due on a card (R13, R19, R22, R28, R30)."""

    kind: Literal[
        "expired", "not_collected", "late_move_in", "no_update_90d", "moved_again", "overseas_move_out"
    ]
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


class Card(Aggregate):
    """マイナンバーカード: one card, from its application to its end."""

    TOPIC = "mynacard.Card"

    class Created(Aggregate.Created):
        TOPIC = "mynacard.Card.Created"

    class Event(Aggregate.Event):
        TOPIC = "mynacard.Card.BaseEvent"

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
        self.pending_inquiry: ev.PendingInquiry | None = None
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

    # ------------------------------------------------------------------ state helpers

    def end(self, status: str, rule: str, at: datetime, reason: str | None = None) -> None:
        """Called by terminal events only."""
        self.status = status
        self.ended = Ending(status, rule, at, reason)

    @property
    def overseas_continued_use(self) -> bool:
        """国外継続利用 (R27): registered for the recorded overseas move-out (Japanese nationals)."""
        return (
            self.overseas_move_out_on is not None
            and self.overseas_continued_use_for == self.overseas_move_out_on
            and self.residence_status is None
        )

    @property
    def outstanding_fee_yen(self) -> int:
        return self.fee_assessed_yen - self.fee_paid_yen

    def age_on(self, day: date) -> int:
        return age_on(self.date_of_birth, day)

    def _trigger(self, event_class: type[ev.CardEvent], stamp: Stamp, **fields: Any) -> None:
        self.trigger_event(event_class, **stamp.event_fields(), **fields)

    def _refuse_if_ended(self, procedure: str, on: date | None = None, *, ignore: str = "") -> None:
        """Refuse when the card has ended, or (given the effective date ``on``) when time has
        already ended it and nobody recorded the lapse yet: validity follows the stored dates."""
        if self.ended is not None:
            raise TerminalState(
                self.ended.rule,
                f"the card was {self.ended.status} on {self.ended.at.date().isoformat()}"
                f"{f' ({self.ended.reason})' if self.ended.reason else ''}: {procedure} is impossible",
                hint="a card that has ended cannot change; apply for a new card (kind reissue)",
            )
        if on is None or self.status in PRE_HANDOVER:
            return
        for lapse in self._live_lapses(on):
            if lapse.kind != ignore:
                raise RuleViolation(
                    lapse.rule,
                    f"the card lost its effect on {lapse.effective_at.date().isoformat()} ({lapse.detail}): "
                    f"{procedure} is impossible",
                    hint="record the lapse (mynacard lapse CARD); the holder applies for a reissue",
                )

    def _require_live(self, rule: str, procedure: str, on: date | None = None) -> None:
        self._refuse_if_ended(procedure, on)
        if self.status in PRE_HANDOVER:
            raise RuleViolation(
                rule,
                f"the card has not been handed over yet (status {self.status}): {procedure} "
                "applies to a card in use",
            )

    def _require_active(self, rule: str, procedure: str, on: date | None = None) -> None:
        self._require_live(rule, procedure, on)
        if self.status == "suspended":
            raise RuleViolation(
                "R49",
                f"the card is suspended and cannot be used: {procedure} is impossible",
                hint="the holder lifts the suspension in person first (R50)",
            )

    def _check_filer(self, filer: Filer, allowed: Sequence[str], rule: str, procedure: str, on: date) -> None:
        check_filer(
            filer,
            allowed=allowed,  # type: ignore[arg-type]
            rule=rule,
            procedure=procedure,
            holder_under_15=self.age_on(on) < 15,
            holder_adult_ward=self.adult_ward,
        )

    # ------------------------------------------------------------------ application

    @classmethod
    def submit(
        cls,
        application: Application,
        stamp: Stamp,
        policies: Policies,
        previous: PreviousCard | None = None,
    ) -> Card:
        """交付申請 (R02–R04, R15, R25, R58, fees R07–R10 with D07)."""
        a = application
        on = stamp.on
        if a.kind not in APPLICATION_KINDS:
            raise UncoveredCase("R07", f"unknown application kind {a.kind!r}")
        if a.channel not in APPLICATION_CHANNELS:
            raise UncoveredCase("R02", f"unknown application channel {a.channel!r}")
        if a.form_printed_on and a.facts_changed_on and a.facts_changed_on > a.form_printed_on:
            raise RuleViolation(
                "R02",
                "the application form predates a change of name, address, sex, date of birth or "
                "stay limit: its application id cannot be used",
                hint="issue a new application form (new 申請書ID) and apply with it",
            )
        if a.date_of_birth > on:
            raise RuleViolation("R05", "the date of birth lies after the application date")
        if a.photo_taken_on > on or a.photo_taken_on < add_months(on, -PHOTO_MAX_AGE_MONTHS):
            raise RuleViolation(
                "R04",
                f"the photo must be taken within {PHOTO_MAX_AGE_MONTHS} months before the "
                f"application (on or after {add_months(on, -PHOTO_MAX_AGE_MONTHS).isoformat()})",
                hint="take a new photo (4.5×3.5 cm, front-facing, no hat, plain background)",
            )
        under_15 = age_on(a.date_of_birth, on) < 15
        if a.channel == "counter":
            if not a.applicant_present:
                raise RuleViolation("R03", "at a counter application the applicant must attend")
            if (under_15 or a.adult_ward) and not a.legal_representative_present:
                raise RuleViolation(
                    "R03",
                    "an applicant under 15 or an adult ward attends together with the legal representative",
                )
            if a.legal_representative_present:
                check_legal_representative_authority(
                    a.legal_representative or Filer(role="legal_representative"),
                    holder_under_15=under_15,
                    holder_adult_ward=a.adult_ward,
                )
            check_identity_documents(a.identity_documents, on)
        if a.face_recognition_card and a.wants_signature_certificate:
            raise RuleViolation(
                "R58",
                "a face-recognition card carries no signature certificate",
                hint="decline the signature certificate, or apply for a card with PINs",
            )
        if (
            a.residence_status is not None
            and a.residence_status not in STAY_CAP_EXEMPT_STATUSES
            and a.stay_until is None
        ):
            raise RuleViolation(
                "R22", "a foreign resident with a period of stay states when it ends (stay_until)"
            )
        if a.kind == "new" and previous is not None:
            raise UncoveredCase("R07", "a first card (kind new) does not replace another card")
        if a.kind != "new" and previous is None:
            raise RuleViolation("R07", f"a {a.kind} names the card it replaces", hint="give --previous-card")
        renews_expiring_on: date | None = None
        if a.kind == "renewal" and previous is not None:
            renews_expiring_on = cls._check_renewal(previous, on)
        if a.kind == "reissue" and a.reissue_reason is None:
            raise UncoveredCase("R07", "a reissue states its reason (loss, damage, …)")
        fee = assess_application_fee(
            a.kind,  # type: ignore[arg-type]
            reissue_reason=a.reissue_reason,
            with_certificates=a.wants_signature_certificate or a.wants_user_certificate,
            previous_card_expired_by_stay=previous.lapsed_by_stay(on) if previous else False,
            disaster_certificate=a.disaster_certificate,
        )
        if fee.amount_yen and policies.fee_due_by == "application" and not a.fee_paid:
            raise RuleViolation(
                "R08",
                f"the fee of ¥{fee.amount_yen} is collected at application (policy D07)",
                hint="collect the fee and record it as paid with the application",
            )
        card = cls._create(
            ev.Applied,
            id=card_id_for(a.application_id),
            **stamp.event_fields(),
            application_id=a.application_id,
            kind=a.kind,
            channel=a.channel,
            applied_on=on,
            holder_ref=a.holder_ref,
            my_number_masked=a.my_number_masked,
            date_of_birth=a.date_of_birth,
            adult_ward=a.adult_ward,
            residence_status=a.residence_status,
            stay_until=a.stay_until,
            wants_signature_certificate=a.wants_signature_certificate,
            wants_user_certificate=a.wants_user_certificate,
            face_recognition_card=a.face_recognition_card,
            previous_card_id=previous.card_id if previous else None,
            renews_card_expiring_on=renews_expiring_on,
            reissue_reason=a.reissue_reason,
            photo_taken_on=a.photo_taken_on,
            identity_documents=[d.kind for d in a.identity_documents],
        )
        card._assess(fee, "application", stamp)
        if fee.amount_yen and a.fee_paid:
            card._trigger(ev.FeePaid, stamp, amount_yen=fee.amount_yen, stage="application")
        if a.juki_card_collected:
            card._trigger(ev.JukiCardCollected, stamp)
        return card

    @staticmethod
    def _check_renewal(previous: PreviousCard, on: date) -> date:
        """R25: a renewal is possible from the day the remaining validity falls below 3 months,
        and after expiry (R07); a card that ended otherwise is replaced by a reissue."""
        if previous.expires_on is None:
            raise RuleViolation("R25", "the previous card was never produced: nothing to renew")
        if previous.status not in LIVE | {"expired"}:
            raise RuleViolation(
                "R25",
                f"the previous card is {previous.status}: it is replaced by a reissue, not renewed",
                hint="apply with kind reissue",
            )
        opens = renewal_window_opens(previous.expires_on)
        if on < opens:
            raise RuleViolation(
                "R25",
                f"the renewal window opens on {opens.isoformat()} (expiry "
                f"{previous.expires_on.isoformat()} less 3 months, plus a day)",
                hint="apply on or after that day, or apply as a reissue",
            )
        return previous.expires_on

    def _assess(self, fee: Fee, stage: str, stamp: Stamp) -> None:
        self._trigger(
            ev.FeeAssessed,
            stamp,
            amount_yen=fee.amount_yen,
            card_yen=fee.card_yen,
            certificate_yen=fee.certificate_yen,
            fault=fee.fault,
            reason=fee.reason,
            rule=fee.rule,
            stage=stage,
        )

    def pay_fee(self, amount_yen: int, stamp: Stamp) -> None:
        """手数料納付 (R08): settle what was assessed; never more."""
        self._refuse_if_ended("paying a fee")
        if self.outstanding_fee_yen <= 0:
            raise RuleViolation("R08", "no fee is outstanding on this card")
        if amount_yen <= 0 or amount_yen > self.outstanding_fee_yen:
            raise RuleViolation(
                "R08",
                f"¥{self.outstanding_fee_yen} is outstanding; a payment of ¥{amount_yen} does not settle it",
            )
        self._trigger(ev.FeePaid, stamp, amount_yen=amount_yen, stage="counter")

    def accept(self, stamp: Stamp) -> None:
        """J-LIS 受理: the acceptance date chooses the adult line (R05)."""
        self._refuse_if_ended("acceptance")
        if self.status != "applied":
            raise RuleViolation("R05", f"only a submitted application is accepted (status {self.status})")
        if stamp.on < self.applied_on:
            raise RuleViolation("R05", "J-LIS cannot accept an application before it was submitted")
        self._trigger(ev.Accepted, stamp, accepted_on=stamp.on)

    def produce(self, stamp: Stamp, policies: Policies) -> None:
        """J-LIS 作成: the issue date is the production date, not the handover (R20); it fixes
        the expiry (R19, R21, R22, R26 with D01–D03)."""
        self._refuse_if_ended("production")
        if self.status != "accepted" or self.accepted_on is None:
            raise RuleViolation("R20", f"J-LIS produces a card after accepting it (status {self.status})")
        if stamp.on < self.accepted_on:
            raise RuleViolation("R20", "the issue date cannot precede the acceptance date")
        validity = card_validity(
            self.date_of_birth,
            issue_date=stamp.on,
            accepted_on=self.accepted_on,
            residence_status=self.residence_status,
            stay_until=self.stay_until,
            renews_card_expiring_on=self.renews_card_expiring_on,
            policies=policies,
        )
        if validity.expires_on <= stamp.on:
            raise RuleViolation(
                "R22",
                f"the period of stay ends on {validity.expires_on.isoformat()}, on or before the issue date",
                hint="extend the period of stay before producing the card",
            )
        self._trigger(
            ev.Produced,
            stamp,
            issue_date=stamp.on,
            expires_on=validity.expires_on,
            age_based_expires_on=validity.age_based_expires_on,
            adult=validity.adult,
            age_line=validity.age_line,
            birthdays=validity.birthdays,
            capped_by_stay=validity.capped_by_stay,
        )

    def send_pickup_notice(self, stamp: Stamp) -> None:
        """交付通知書: the pickup notice starts the R13 clock."""
        self._refuse_if_ended("a pickup notice")
        if self.status != "produced" or self.issue_date is None:
            raise RuleViolation("R13", f"a pickup notice follows production (status {self.status})")
        if self.pickup_notice_sent_on is not None:
            raise RuleViolation("R13", "the pickup notice was already sent; send a reminder instead")
        if stamp.on < self.issue_date:
            raise RuleViolation("R13", "the pickup notice cannot precede the issue date")
        self._trigger(ev.PickupNoticeSent, stamp, sent_on=stamp.on)

    def send_pickup_reminder(self, stamp: Stamp) -> None:
        """督促: a reminder moves the R13 lapse to 3 months after it, if later (D11)."""
        self._refuse_if_ended("a pickup reminder")
        if self.status != "produced" or self.pickup_notice_sent_on is None:
            raise RuleViolation("R13", "a reminder follows the pickup notice")
        if stamp.on < self.pickup_notice_sent_on:
            raise RuleViolation("R13", "the reminder cannot precede the pickup notice")
        self._trigger(ev.PickupReminderSent, stamp, sent_on=stamp.on)

    def uncollected_lapse_day(self, policies: Policies) -> date | None:
        """R13 / D11: the last day the card can still be collected, or None before the notice."""
        if self.pickup_notice_sent_on is None:
            return None
        last = add_months(self.pickup_notice_sent_on, policies.uncollected_months_after_notice)
        if self.pickup_reminder_sent_on is not None:
            last = max(
                last,
                add_months(self.pickup_reminder_sent_on, policies.uncollected_months_after_reminder),
            )
        return last

    def hand_over(self, handover: Handover, stamp: Stamp, policies: Policies) -> None:
        """交付: R14 (proxy reasons), R15/R16 (identity documents), R17 (notification and Juki
        cards collected), R18 (legal representative), R07/R08 (fee settled by now)."""
        h = handover
        on = stamp.on
        self._refuse_if_ended("handover")
        if self.status != "produced" or self.issue_date is None or self.expires_on is None:
            raise RuleViolation("R20", f"only a produced card can be handed over (status {self.status})")
        if on < self.issue_date:
            raise RuleViolation("R20", "the card cannot be handed over before its issue date")
        if on > self.expires_on:
            raise RuleViolation(
                "R13",
                "the card expired before it was collected: it is destroyed",
                hint="record the lapse; the holder applies again",
            )
        lapse_day = self.uncollected_lapse_day(policies)
        if lapse_day is not None and on > lapse_day:
            raise RuleViolation(
                "R13",
                f"the card could be collected until {lapse_day.isoformat()}",
                hint="record the lapse; the holder applies again",
            )
        if h.method not in HANDOVER_METHODS:
            raise UncoveredCase("R14", f"unknown handover method {h.method!r}")
        if h.method == "mail":
            if self.channel != "counter":
                raise RuleViolation(
                    "R03", "only a card applied for at the counter is mailed (本人限定受取郵便)"
                )
            if h.recipient != "holder":
                raise RuleViolation("R03", "本人限定受取郵便 is delivered to the holder only")
        elif h.recipient == "holder":
            check_identity_documents(h.identity_documents, on)
        else:
            self._check_proxy(h, on)
        self._check_notification_documents(h)
        plan, withheld = self._certificate_plan(on)
        self._check_pins(plan, h.pins, h.pins_set_by, on)
        extra = None
        if self.kind == "reissue" and not self.application_fee_fault and h.old_card_brought is None:
            raise RuleViolation(
                "R07",
                "a no-fault reissue is free only if the old card is brought at receipt: say whether it was",
                hint="pass old_card_brought (--old-card-brought / --no-old-card-brought)",
            )
        if self.kind == "reissue" and h.old_card_brought is not None:
            extra = assess_handover_fee(
                application_fee=Fee(0, 0, 0, self.application_fee_fault, self.application_fee_reason, "R07"),
                old_card_brought=h.old_card_brought,
                with_certificates=self.wants_signature_certificate or self.wants_user_certificate,
            )
        outstanding = self.outstanding_fee_yen + (extra.amount_yen if extra else 0)
        if h.fee_paid_yen < 0 or h.fee_paid_yen > outstanding:
            raise RuleViolation("R08", f"¥{outstanding} is due; ¥{h.fee_paid_yen} is not a settlement")
        if outstanding - h.fee_paid_yen > 0:
            raise RuleViolation(
                "R08",
                f"¥{outstanding} is still due: the fee is settled at the latest at handover (D07)",
                hint="collect the fee and pass it as paid at handover",
            )
        if extra is not None:
            self._assess(extra, "handover", stamp)
        if h.fee_paid_yen:
            self._trigger(ev.FeePaid, stamp, amount_yen=h.fee_paid_yen, stage="handover")
        self._trigger(
            ev.Issued,
            stamp,
            handed_over_on=on,
            method=h.method,
            recipient=h.recipient,
            proxy_reason=h.proxy_reason,
            proxy_role=h.proxy.role if h.proxy else None,
            identity_documents=[d.kind for d in h.identity_documents],
            proxy_identity_documents=[d.kind for d in h.proxy_identity_documents],
            notification_card=h.notification_card,
            juki_card="collected" if self.juki_card_collected else h.juki_card,
            old_card_brought=h.old_card_brought,
            certificates=list(plan),
        )
        if (
            h.recipient == "proxy"
            and h.proxy is not None
            and h.proxy.role not in {"household_member", "legal_representative"}
        ):
            self._trigger(ev.ProxyHandoverNotified, stamp)
        if h.pins:
            self._trigger(ev.PinsSet, stamp, pins=sorted(h.pins), set_by=h.pins_set_by)
        for kind, (rule, why) in withheld.items():
            self._trigger(ev.CertificateWithheld, stamp, kind=kind, rule=rule, why=why)

    def _check_proxy(self, h: Handover, on: date) -> None:
        """R14: a proxy only for an unavoidable reason the facts bear out; R16 documents; R18."""
        if h.proxy is None or h.proxy_reason is None:
            raise RuleViolation("R14", "a proxy handover names the proxy and the reason")
        if h.proxy_reason not in PROXY_REASONS:
            raise RuleViolation(
                "R14",
                f"{h.proxy_reason!r} is not an unavoidable reason for a proxy to collect the card",
                hint=f"reasons: {', '.join(PROXY_REASONS)}; otherwise the holder comes in person",
            )
        age = self.age_on(on)
        if h.proxy_reason == "under_15" and age >= 15:
            raise RuleViolation("R14", f"the holder is {age}, not under 15")
        if h.proxy_reason == "age_75_or_over" and age < 75:
            raise RuleViolation("R14", f"the holder is {age}, not 75 or over")
        if h.proxy_reason == "adult_ward" and not self.adult_ward:
            raise RuleViolation("R14", "the holder is not recorded as an adult ward")
        if h.proxy.role == "holder":
            raise RuleViolation("R14", "a proxy is someone other than the holder")
        if h.proxy.role == "household_member" and not h.proxy.same_household:
            raise RuleViolation("R14", "a household member must be registered in the holder's household")
        if h.proxy.role == "legal_representative":
            check_legal_representative_authority(
                h.proxy, holder_under_15=age < 15, holder_adult_ward=self.adult_ward
            )
        check_proxy_handover_documents(h.identity_documents, h.proxy_identity_documents, on)

    def _check_notification_documents(self, h: Handover) -> None:
        """R17: at the first card's handover the 通知カード is collected (or its loss reported,
        with a police report if lost outside the home); a 個人番号通知書 is shown and handed back;
        a Juki card is collected."""
        if h.notification_card not in NOTIFICATION_CARD_OUTCOMES:
            raise UncoveredCase("R17", f"unknown notification card outcome {h.notification_card!r}")
        if h.juki_card not in JUKI_CARD_OUTCOMES:
            raise UncoveredCase("R17", f"unknown Juki card outcome {h.juki_card!r}")
        if self.kind == "new" and h.notification_card == "not_applicable":
            raise RuleViolation(
                "R17",
                "at the first card's handover the 通知カード is collected, its loss reported, or "
                "the 個人番号通知書 shown",
            )
        if h.notification_card == "lost" and not h.notification_card_lost_at_home and not h.police_report:
            raise RuleViolation(
                "R17",
                "a 通知カード lost outside the home needs a police lost-property report (遺失届) first",
                hint="the holder files a 遺失届 at the police, then the loss is reported here",
            )

    def cancel(self, filer: Filer, channel: Literal["counter", "phone"], stamp: Stamp) -> None:
        """交付申請取消 (R12): only before receipt; by phone only the applicant, or a same-household
        legal representative of an under-15."""
        self._refuse_if_ended("cancellation")
        if self.status not in PRE_HANDOVER:
            raise RuleViolation(
                "R12",
                "an application can be cancelled only before the card is received",
                hint="the holder returns the card instead (返納, R52)",
            )
        under_15 = self.age_on(stamp.on) < 15
        if channel == "phone":
            allowed = filer.role == "holder" or (
                filer.role == "legal_representative" and filer.same_household and under_15
            )
            if not allowed:
                raise RuleViolation(
                    "R12",
                    "by phone only the applicant, or a same-household legal representative of an "
                    "applicant under 15, can cancel",
                    hint="the agent comes to the counter with a letter of delegation (委任状)",
                )
        else:
            self._check_filer(
                filer, ("holder", "legal_representative", "agent"), "R12", "a cancellation", stamp.on
            )
        self._trigger(ev.ApplicationCancelled, stamp, filed_by=filer.role, channel=channel)

    # ------------------------------------------------------------------ in use

    def suspend(self, channel: str, stamp: Stamp) -> None:
        """一時停止 (R49): accepted 24 hours a day, 365 days a year."""
        self._require_live("R49", "a suspension", stamp.on)
        if channel not in SUSPENSION_CHANNELS:
            raise UncoveredCase("R49", f"unknown suspension channel {channel!r}")
        if self.status == "suspended":
            raise RuleViolation("R49", "the card is already suspended")
        self._trigger(ev.Suspended, stamp, channel=channel)

    def lift_suspension(self, filer: Filer, in_person: bool, stamp: Stamp) -> None:
        """一時停止解除 (R50): only by the holder in person; impossible after abolition."""
        if self.ended is not None:
            raise TerminalState(
                "R50",
                f"the card was {self.ended.status}: a suspension cannot be lifted after that",
                hint="apply for a reissue",
            )
        if self.status != "suspended":
            raise RuleViolation("R50", f"the card is not suspended (status {self.status})")
        if filer.role != "holder" or not in_person:
            raise RuleViolation(
                "R50", "only the holder, in person with the card and ID, can lift a suspension"
            )
        if self.suspended_at is not None and stamp.effective_at < self.suspended_at:
            raise RuleViolation("R50", "a suspension cannot be lifted before it began")
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
        self._check_card_information_change(facts, stamp, new_date_of_birth, former_surname_action)
        if filer.role == "holder" or filer.same_household:
            self._require_pin(pin_confirmed)
            self._apply_facts(facts, filer.role, stamp, new_date_of_birth, former_surname_action)
            return
        if filer.role == "household_member":
            raise RuleViolation("R53", "a household member must be registered in the holder's household")
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
        pending = self.pending_inquiry
        if pending is None:
            raise RuleViolation("R53", "no inquiry letter is pending on this card")
        self._require_pin(pin_confirmed)
        self._trigger(ev.InquiryAnswered, stamp)
        self._apply_facts(
            pending.facts, pending.filed_by, stamp, pending.new_date_of_birth, pending.former_surname_action
        )

    def _require_pin(self, pin_confirmed: bool) -> None:
        if not pin_confirmed and not self.face_recognition_card:
            raise RuleViolation(
                "R53",
                "the card's 4-digit PIN must be entered to change its information",
                hint="the holder enters the PIN, or an inquiry letter is sent",
            )

    def _check_card_information_change(
        self,
        facts: Sequence[str],
        stamp: Stamp,
        new_date_of_birth: date | None,
        former_surname_action: str | None,
    ) -> None:
        self._require_active("R53", "a card-information change", stamp.on)
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
        if self.pending_inquiry is not None:
            raise RuleViolation("R53", "an inquiry letter is pending; record the holder's answer first")
        if self.notes_field_full:
            raise RuleViolation(
                "R33",
                "the additional-notes field is full: the card cannot be updated",
                hint="the holder applies for a free reissue (kind reissue, reason notes_field_full)",
            )
        if self.info_change_due_by is not None and stamp.on > self.info_change_due_by:
            raise RuleViolation(
                "R30",
                f"the card update was due by {self.info_change_due_by.isoformat()} (90 days after "
                "the move-in): the card is invalid",
                hint="record the lapse; the holder applies for a reissue (fee, R09)",
            )
        if self.awaiting_move_in_since is not None and "address" in facts:
            raise RuleViolation(
                "R28", "the holder moved out: the move-in (転入届) is filed before the address changes"
            )

    def _apply_facts(
        self,
        facts: Sequence[str],
        filed_by: str,
        stamp: Stamp,
        new_date_of_birth: date | None,
        former_surname_action: str | None,
    ) -> None:
        for fact in facts:
            extra: dict[str, Any] = {}
            if fact == "date_of_birth":
                extra["new_date_of_birth"] = new_date_of_birth
            if fact == "former_surname":
                extra["action"] = former_surname_action
            self._trigger(ev.CARD_INFORMATION_EVENTS[fact], stamp, fact=fact, filed_by=filed_by, **extra)

    def record_notes_field_full(self, stamp: Stamp) -> None:
        """追記欄満欄 (R33): the card stays in use until the free reissue (assumption); the holder
        came in, so a pending move-in update no longer lapses (assumption, README)."""
        self._require_live("R33", "recording a full notes field", stamp.on)
        if self.notes_field_full:
            raise RuleViolation("R33", "the additional-notes field is already recorded as full")
        self._trigger(ev.AdditionalNotesFieldFull, stamp)

    # ------------------------------------------------------------------ moves

    def move_out(self, planned_move_out_on: date, overseas: bool, stamp: Stamp) -> None:
        """転出届. Before receipt the application is void (R11). Abroad, the card ends on the
        move-out date unless overseas continued use is registered by the day before (R27);
        moving again before the card update after a move-in ends it on the move-out date (R30).
        A move-out filed in advance takes effect on its date (recorded by the lapse then)."""
        self._refuse_if_ended("a move-out", stamp.on)
        if self.status in PRE_HANDOVER:
            self._trigger(ev.MovedOut, stamp, planned_move_out_on=planned_move_out_on, overseas=overseas)
            self._trigger(ev.ApplicationVoided, stamp, reason="moved_out", rule="R11")
            return
        if self.awaiting_move_in_since is not None or self.overseas_move_out_on is not None:
            raise RuleViolation("R28", "a move-out is already recorded; the move-in (転入届) comes next")
        self._trigger(ev.MovedOut, stamp, planned_move_out_on=planned_move_out_on, overseas=overseas)
        self._record_due_lapses(stamp, stamp.on)

    @staticmethod
    def move_in_deadline(planned_move_out_on: date, moved_in_on: date) -> tuple[date, str]:
        """R28/R29 with D06, D12: the last good filing day is the earlier of planned move-out + 30
        and moving-in + 14; returns it and the rule that binds."""
        by_move_out = last_day_within(planned_move_out_on, MOVE_IN_DAYS_AFTER_PLANNED_MOVE_OUT)
        by_move_in = last_day_within(moved_in_on, MOVE_IN_DAYS_AFTER_MOVING_IN)
        return (by_move_in, "R29") if by_move_in < by_move_out else (by_move_out, "R28")

    def file_move_in(self, planned_move_out_on: date, moved_in_on: date, stamp: Stamp) -> None:
        """転入届 (R28, R29): filed late, the card is invalid from the day after the deadline;
        in time, the card update is due within 90 days (R30). The 30 days run from the move-out
        recorded on the card, if any; a holder returning from abroad under overseas continued
        use has only the 14 days after moving in (R29: 国内、国外問わず)."""
        self._refuse_if_ended("a move-in", stamp.on, ignore="late_move_in")
        self._require_live("R28", "a move-in")
        filed_on = stamp.on
        if moved_in_on > filed_on:
            raise RuleViolation("R29", "the move-in cannot be filed before the holder moved in")
        if planned_move_out_on > filed_on:
            raise RuleViolation("R28", "the planned move-out date lies after the filing date")
        recorded = self.awaiting_move_in_since
        if recorded is not None and planned_move_out_on != recorded:
            raise RuleViolation(
                "R28",
                f"the move-out recorded on this card was planned for {recorded.isoformat()}, "
                f"not {planned_move_out_on.isoformat()}",
                hint="file the move-in with the planned date on the move-out certificate (転出証明書)",
            )
        if self.overseas_continued_use:
            last_day, rule = last_day_within(moved_in_on, MOVE_IN_DAYS_AFTER_MOVING_IN), "R29"
        else:
            last_day, rule = self.move_in_deadline(planned_move_out_on, moved_in_on)
        in_time = filed_on <= last_day
        self._trigger(
            ev.MoveInFiled,
            stamp,
            planned_move_out_on=planned_move_out_on,
            moved_in_on=moved_in_on,
            filed_on=filed_on,
            last_day_to_file=last_day,
            info_change_due_by=last_day_within(filed_on, CARD_INFO_CHANGE_DAYS_AFTER_MOVE_IN),
            in_time=in_time,
        )
        if not in_time:
            self._trigger(
                ev.Invalidated,
                stamp.effective(validity_ends_at(last_day)),
                reason="late_move_in",
                rule=rule,
                new_holder_ref=None,
            )

    def register_overseas_continued_use(self, planned_move_out_on: date, stamp: Stamp) -> None:
        """国外継続利用 (R27): by the day before the planned move-out; Japanese nationals only."""
        self._require_live("R27", "overseas continued use", stamp.on)
        if self.residence_status is not None:
            raise RuleViolation(
                "R27",
                "a foreign resident moving abroad returns the card (返納)",
                hint="record a return with reason moving_abroad",
            )
        if self.overseas_move_out_on is not None and planned_move_out_on != self.overseas_move_out_on:
            raise RuleViolation(
                "R27",
                f"the overseas move-out is recorded for {self.overseas_move_out_on.isoformat()}",
            )
        if stamp.on >= planned_move_out_on:
            raise RuleViolation(
                "R27",
                "overseas continued use is registered by the day before the planned move-out "
                f"({(planned_move_out_on - timedelta(days=1)).isoformat()})",
                hint="the holder returns the card (返納, R52)",
            )
        self._trigger(ev.OverseasContinuedUseRegistered, stamp, planned_move_out_on=planned_move_out_on)

    # ------------------------------------------------------------------ period of stay

    def _require_stay_capped(self, rule: str) -> date:
        if stay_cap(self.residence_status, self.stay_until) is None or self.expires_on is None:
            raise RuleViolation(rule, "the card is not limited by a period of stay")
        if self.age_based_expires_on is not None and self.expires_on >= self.age_based_expires_on:
            raise RuleViolation(
                rule, "the card already runs to its 10th (5th) birthday limit; the stay does not cap it"
            )
        return self.expires_on

    def extend_stay(self, new_stay_until: date, filer: Filer, stamp: Stamp, *, pin_confirmed: bool) -> None:
        """在留期間更新 (R23): the card runs to the new stay end, capped at the 10th (5th) birthday
        after the original issue date; only before expiry; holder or household member."""
        self._require_live("R23", "a validity change")
        expires_on = self._require_stay_capped("R23")
        if stamp.on > expires_on:
            raise RuleViolation(
                "R23",
                f"the card expired on {expires_on.isoformat()}: it cannot be changed",
                hint="the holder applies for a reissue, for a fee (R09)",
            )
        self._refuse_if_ended("a validity change", stamp.on)
        self._check_filer(filer, ("holder", "household_member"), "R23", "a validity change", stamp.on)
        if not pin_confirmed:
            raise RuleViolation(
                "R23",
                "the card's 4-digit PIN must be entered to change its validity",
                hint="the holder or household member enters the PIN and shows the new residence card",
            )
        if self.stay_until is not None and new_stay_until <= self.stay_until:
            raise RuleViolation("R23", "the new period of stay must end after the current one")
        assert self.age_based_expires_on is not None
        self._trigger(
            ev.StayExtended,
            stamp,
            new_stay_until=new_stay_until,
            expires_on=extended_stay_expiry(new_stay_until, self.age_based_expires_on),
        )

    def grant_special_extension(self, evidence: str, stamp: Stamp) -> None:
        """特例期間 (R24): +2 months while a stay renewal is pending, once only, before expiry.
        Never past the card's 10th (5th) birthday limit (R19), which no stay can extend."""
        self._require_live("R24", "a special extension")
        expires_on = self._require_stay_capped("R24")
        if self.special_extension_used:
            raise RuleViolation("R24", "the special extension is granted once only")
        if stamp.on > expires_on:
            raise RuleViolation("R24", f"the card expired on {expires_on.isoformat()}")
        self._refuse_if_ended("a special extension", stamp.on)
        if evidence not in SPECIAL_EXTENSION_EVIDENCE:
            raise RuleViolation(
                "R24",
                "a pending stay renewal is shown by the residence card stamp "
                "(在留期間更新申請中) or the online receipt email",
            )
        self._trigger(
            ev.SpecialExtensionGranted,
            stamp,
            evidence=evidence,
            expires_on=min(special_extension_expiry(expires_on), self.age_based_expires_on or date.max),
        )

    # ------------------------------------------------------------------ ends

    def report_loss(self, lost_at_home: bool, police_report: bool, filer: Filer, stamp: Stamp) -> None:
        """紛失・廃止届 (R51): needs the police 遺失届 receipt unless lost at home; by the holder,
        a legal representative (R18) or an agent with a 委任状. ``stamp.effective_at`` is when
        the card was lost."""
        self._require_live("R51", "a loss report", stamp.on)
        if not lost_at_home and not police_report:
            raise RuleViolation(
                "R51",
                "a card lost outside the home needs the police 遺失届 receipt",
                hint="the holder files a 遺失届 at the nearest police station first",
            )
        self._check_filer(
            filer, ("holder", "legal_representative", "agent"), "R51", "a loss report", stamp.on
        )
        self._trigger(
            ev.Lost, stamp, lost_at_home=lost_at_home, police_report=police_report, filed_by=filer.role
        )

    def return_card(self, reason: str, filer: Filer, stamp: Stamp) -> None:
        """返納 (R52): voluntary at any time; a card returned for moving abroad is handed back
        marked as a record."""
        self._refuse_if_ended("a return", stamp.on)
        if self.status in PRE_HANDOVER:
            raise RuleViolation(
                "R52", "a card not yet received is not returned: cancel the application (R12)"
            )
        if reason not in RETURN_REASONS:
            raise UncoveredCase("R52", f"unknown return reason {reason!r}")
        self._check_filer(filer, ("holder", "legal_representative", "agent"), "R52", "a return", stamp.on)
        self._trigger(
            ev.Returned,
            stamp,
            reason=reason,
            filed_by=filer.role,
            handed_back_as_record=reason == "moving_abroad",
        )

    def invalidate(self, reason: str, stamp: Stamp, new_holder_ref: str | None = None) -> None:
        """失効 for the causes of R31/R32: death or deletion of the resident record, a new resident
        code, a new My Number, the end of the stay. Before receipt, the application is void."""
        self._refuse_if_ended("an invalidation", stamp.on)
        rule = INVALIDATION_REASONS.get(reason)
        if rule is None:
            raise UncoveredCase(
                "R31",
                f"no rule invalidates a card for {reason!r}",
                hint=f"reasons: {', '.join(INVALIDATION_REASONS)}",
            )
        if reason == "stay_expired" and stay_cap(self.residence_status, self.stay_until) is None:
            raise UncoveredCase(
                "R31", "the card is not limited by a period of stay: a stay expiry does not apply to it"
            )
        if (reason == "my_number_changed") != (new_holder_ref is not None):
            raise RuleViolation("R31", "a My Number change (and only it) gives the new My Number")
        if self.status in PRE_HANDOVER:
            self._trigger(ev.ApplicationVoided, stamp, reason=reason, rule=rule)
            return
        self._trigger(ev.Invalidated, stamp, reason=reason, rule=rule, new_holder_ref=new_holder_ref)

    def supersede(self, by_card_id: UUID, stamp: Stamp) -> None:
        """A new card of the same holder was handed over; this one ends (renewal or reissue)."""
        self._require_live("R07", "superseding", stamp.on)
        self._trigger(ev.Superseded, stamp, by_card_id=by_card_id)

    def collect_physical_card(self, reason: str, stamp: Stamp) -> None:
        """The plastic card of a card that has already ended is handed in (R32, R51)."""
        if self.ended is None:
            raise RuleViolation("R52", "a card still in use is returned with a return (返納)")
        if self.physically_collected:
            raise RuleViolation("R51", "the card was already handed in")
        self._trigger(ev.PhysicalCardCollected, stamp, reason=reason)

    # ------------------------------------------------------------------ certificates and PINs

    def _certificate_plan(self, on: date) -> tuple[list[str], dict[str, tuple[str, str]]]:
        """R34: the certificates issued with the card unless declined, AUTH first (R36);
        R40/R58: a SIG withheld for an under-15, an adult ward or a face-recognition card."""
        plan: list[str] = []
        withheld: dict[str, tuple[str, str]] = {}
        if self.wants_user_certificate:
            plan.append("AUTH")
        if self.wants_signature_certificate:
            eligibility = signature_eligibility(
                self.date_of_birth,
                on,
                adult_ward=self.adult_ward,
                face_recognition_card=self.face_recognition_card,
            )
            if eligibility.allowed:
                plan.append("SIG")
            else:
                withheld["SIG"] = (eligibility.rule, eligibility.why)
        return plan, withheld

    def _check_pins(
        self,
        kinds: Sequence[str],
        pins: frozenset[str],
        set_by: str,
        on: date,
        *,
        with_card_pins: bool = True,
        face: bool | None = None,
    ) -> None:
        """R54: the 住基 and 券面事項 PINs always, a certificate's PIN with its certificate, nothing
        else; R58: a face-recognition card has no PINs; R40: an under-15's PINs are set by the
        legal representative."""
        if self.face_recognition_card if face is None else face:
            if pins:
                raise RuleViolation("R58", "a face-recognition card has no PINs")
            return
        needed = {CERTIFICATE_PIN[k] for k in kinds if k in CERTIFICATE_PIN}
        if with_card_pins:
            needed |= MANDATORY_PINS
        missing, extra = sorted(needed - pins), sorted(pins - needed)
        if missing:
            raise RuleViolation(
                "R54",
                f"these PINs must be set: {', '.join(missing)}",
                hint="the holder enters them at the counter (values are never stored)",
            )
        if extra:
            raise RuleViolation(
                "R54",
                f"no certificate or card function needs these PINs: {', '.join(extra)}",
                hint="a certificate's PIN is set only with that certificate (R40: no SIG under 15)",
            )
        if self.age_on(on) < SIG_MIN_AGE and set_by != "legal_representative":
            raise RuleViolation("R40", "the PINs of a holder under 15 are set by the legal representative")

    def pins_needed_at_handover(self, on: date) -> frozenset[str]:
        """R54: the PINs a handover on ``on`` sets: 住基 and 券面事項 always, and the PIN of each
        certificate issued with the card; none on a face-recognition card (R58)."""
        if self.face_recognition_card:
            return frozenset()
        plan, _ = self._certificate_plan(on)
        return frozenset(MANDATORY_PINS | {CERTIFICATE_PIN[k] for k in plan})

    def require_signature_eligibility(self, on: date) -> None:
        """R40, R58: a signature certificate only for a holder of 15 or more on ``on``, not an
        adult ward, on a card that is not a face-recognition card, whatever the path (issue,
        renewal, handover)."""
        eligibility = signature_eligibility(
            self.date_of_birth,
            on,
            adult_ward=self.adult_ward,
            face_recognition_card=self.face_recognition_card,
        )
        if not eligibility.allowed:
            raise RuleViolation(eligibility.rule, eligibility.why)

    def add_certificate(self, kind: str, serial: str, certificate_id: UUID, stamp: Stamp) -> None:
        """Keep track of a certificate issued onto this card (R34)."""
        self._require_live("R34", "issuing a certificate")
        self._trigger(ev.CertificateAdded, stamp, kind=kind, serial=serial, certificate_id=certificate_id)

    def check_certificate_request(
        self,
        kinds: Sequence[str],
        filer: Filer,
        juki_pin_confirmed: bool,
        stamp: Stamp,
        *,
        renewal: bool = False,
    ) -> None:
        """R34: certificates go onto a valid card whose face details are up to date, with the
        住基 PIN; an agent's request goes through an inquiry letter (not the same day); a SIG is
        applied for by the holder himself (R41), an under-15's AUTH by the legal representative."""
        self._require_active("R34", "issuing certificates", stamp.on)
        if not renewal and (
            self.awaiting_move_in_since is not None
            or self.info_change_due_by is not None
            or self.pending_inquiry is not None
        ):
            raise RuleViolation(
                "R34",
                "the card's face details are not up to date",
                hint="complete the card-information change (券面記載事項変更) first",
            )
        if filer.role in {"agent", "household_member"}:
            raise RuleViolation(
                "R34",
                "a request by someone other than the holder goes through an inquiry letter (照会書) "
                "and is not done the same day",
            )
        if "SIG" in kinds and filer.role != "holder":
            raise RuleViolation("R41", "a signature certificate is applied for by the holder in person")
        if filer.role == "legal_representative":
            check_legal_representative_authority(
                filer, holder_under_15=self.age_on(stamp.on) < SIG_MIN_AGE, holder_adult_ward=self.adult_ward
            )
        if not renewal and not juki_pin_confirmed and not self.face_recognition_card:
            raise RuleViolation("R34", "the 住基 4-digit PIN must be entered to add certificates")

    def set_certificate_pins(
        self, kinds: Sequence[str], pins: frozenset[str], set_by: str, stamp: Stamp, *, required: bool = True
    ) -> None:
        """R54: new certificates come with their PINs (never stored)."""
        self._require_live("R54", "setting PINs", stamp.on)
        if required or pins:
            self._check_pins(kinds, pins, set_by, stamp.on, with_card_pins=False)
        if pins:
            self._trigger(ev.PinsSet, stamp, pins=sorted(pins), set_by=set_by)

    def check_revocation_request(self, filer: Filer, stamp: Stamp) -> None:
        """R42: 失効申請 by the holder, a legal representative (R18) or an agent with a 委任状."""
        self._require_live("R42", "a revocation request", stamp.on)
        self._check_filer(
            filer, ("holder", "legal_representative", "agent"), "R42", "a revocation request", stamp.on
        )

    def check_smartphone_registration(
        self, device: str, device_has_live_certificates: bool, stamp: Stamp
    ) -> None:
        """R45: smartphone certificates go onto one phone of a holder whose card is in use."""
        self._require_active("R45", "smartphone certificates", stamp.on)
        if self.face_recognition_card:
            raise RuleViolation("R58", "a face-recognition card has no signature certificate for a phone")
        if device == self.smartphone_device and device_has_live_certificates:
            raise RuleViolation("R45", "this phone already carries the smartphone certificates")

    def register_smartphone(self, device: str, stamp: Stamp) -> None:
        """R45: the phone now carries this card's smartphone certificates."""
        self._require_active("R45", "registering a phone", stamp.on)
        self._trigger(ev.SmartphoneRegistered, stamp, device=device)

    def suspend_smartphone(self, has_live_certificates: bool, stamp: Stamp) -> None:
        """R48: a lost phone's certificates are suspended (一時利用停止), any time."""
        self._require_live("R48", "suspending smartphone certificates", stamp.on)
        if not has_live_certificates or self.smartphone_device is None:
            raise RuleViolation("R48", "no phone carries valid smartphone certificates of this card")
        if self.smartphone_suspended:
            raise RuleViolation("R48", "the smartphone certificates are already suspended")
        self._trigger(ev.SmartphoneSuspended, stamp)

    def lift_smartphone_suspension(self, stamp: Stamp) -> None:
        """R48: the phone was found: SP-AUTH restored, SP-SIG reissued."""
        self._require_active("R48", "lifting a smartphone suspension", stamp.on)
        if not self.smartphone_suspended:
            raise RuleViolation("R48", "the smartphone certificates are not suspended")
        self._trigger(ev.SmartphoneSuspensionLifted, stamp)

    def require_smartphone_renewal(self, stamp: Stamp) -> None:
        """R46: renewing the card certificates does not renew the smartphone ones."""
        self._require_live("R46", "a smartphone renewal notice", stamp.on)
        self._trigger(ev.SmartphoneRenewalRequired, stamp)

    def set_face_recognition(
        self, enabled: bool, pins: frozenset[str], set_by: str, auth_live: bool, stamp: Stamp
    ) -> None:
        """R58: to a face-recognition card (no PINs, no SIG: the policy revokes it), or back to a
        PIN card, which needs its PINs set again (R54)."""
        self._require_active("R58", "switching the face-recognition mode", stamp.on)
        if enabled == self.face_recognition_card:
            raise RuleViolation(
                "R58", f"the card is {'already' if enabled else 'not'} a face-recognition card"
            )
        if enabled:
            if pins:
                raise RuleViolation("R58", "a face-recognition card has no PINs")
            self._trigger(ev.FaceRecognitionModeSet, stamp, enabled=True)
            return
        self._check_pins(["AUTH"] if auth_live else [], pins, set_by, stamp.on, face=False)
        self._trigger(ev.FaceRecognitionModeSet, stamp, enabled=False)
        self._trigger(ev.PinsSet, stamp, pins=sorted(pins), set_by=set_by)

    def _pin_failures(self, pin: str, rule: str) -> int:
        if self.face_recognition_card:
            raise RuleViolation("R58", "a face-recognition card has no PINs")
        if pin not in self.pins:
            raise RuleViolation(rule, f"the {pin} PIN is not set on this card (R54)")
        return self.pins[pin]

    def record_pin_attempt(self, pin: str, success: bool, stamp: Stamp) -> None:
        """R55: consecutive wrong entries lock the PIN (5 for SIG, 3 for the others); a correct
        entry resets the count; no reset by date or time."""
        self._require_live("R55", "a PIN entry", stamp.on)
        failures = self._pin_failures(pin, "R55")
        if failures < 0:
            raise RuleViolation("R55", f"the {pin} PIN is locked", hint="reset it (reset-pin, R56)")
        if success:
            if failures:
                self._trigger(ev.PinCounterReset, stamp, pin=pin)
            return
        failures += 1
        self._trigger(ev.PinFailed, stamp, pin=pin, failures=failures)
        if failures >= LOCKOUT_AFTER[pin]:
            self._trigger(ev.PinLocked, stamp, pin=pin)

    def reset_pin(
        self,
        pin: str,
        channel: str,
        stamp: Stamp,
        *,
        filer: Filer,
        forgotten: bool,
        additional_id: bool,
        other_certificate_pin_known: bool,
    ) -> None:
        """R56: at the counter with ID (one more for a forgotten PIN), or at a kiosk for a SIG or
        AUTH PIN when the other one is known and not locked; never by phone; an agent goes
        through an inquiry letter."""
        self._require_live("R56", "a PIN reset", stamp.on)
        self._pin_failures(pin, "R56")
        check_reset_channel(
            pin,
            channel,
            other_certificate_pin_known=other_certificate_pin_known,
            additional_id=additional_id,
            forgotten=forgotten,
        )
        if channel == "kiosk":
            other = "auth" if pin == "sig" else "sig"
            if self.pins.get(other, -1) < 0:
                raise RuleViolation(
                    "R56",
                    f"the kiosk needs the {other} PIN, which is not usable",
                    hint="reset it at the municipal counter",
                )
        if filer.role not in {"holder", "legal_representative"}:
            raise RuleViolation("R56", "an agent's PIN reset goes through an inquiry letter (照会書)")
        if filer.role == "legal_representative":
            check_legal_representative_authority(
                filer, holder_under_15=self.age_on(stamp.on) < SIG_MIN_AGE, holder_adult_ward=self.adult_ward
            )
        self._trigger(ev.PinReset, stamp, pin=pin, channel=channel)

    def change_pin(self, pin: str, channel: str, stamp: Stamp) -> None:
        """R57: at the counter every PIN; at home all but the 住基 PIN; a locked PIN is reset."""
        self._require_live("R57", "a PIN change", stamp.on)
        if self._pin_failures(pin, "R57") < 0:
            raise RuleViolation("R56", f"the {pin} PIN is locked: reset it instead")
        check_change_channel(pin, channel)
        self._trigger(ev.PinChanged, stamp, pin=pin, channel=channel)

    # ------------------------------------------------------------------ time-driven

    def _live_lapses(self, today: date) -> list[Lapse]:
        """Consequences time has brought by ``today`` on a card in use, earliest first:
        expiry (R19, R22), moving abroad (R27), no move-in (R28), moving again before the card
        update (R30), no card update within 90 days (R30)."""
        out: list[Lapse] = []
        if self.expires_on is not None:
            rule = "R22" if self.expiry_capped_by_stay else "R19"
            out.append(
                Lapse(
                    "expired",
                    rule,
                    validity_ends_at(self.expires_on),
                    f"valid until {self.expires_on.isoformat()}",
                )
            )
        if self.info_change_due_by is not None:
            out.append(
                Lapse(
                    "no_update_90d",
                    "R30",
                    validity_ends_at(self.info_change_due_by),
                    f"card update due by {self.info_change_due_by.isoformat()}",
                )
            )
        moved_out_on = self.awaiting_move_in_since or self.overseas_move_out_on
        if moved_out_on is not None and self.info_change_due_by is not None:
            out.append(
                Lapse(
                    "moved_again",
                    "R30",
                    start_of_day(moved_out_on),
                    f"moved out on {moved_out_on.isoformat()} before the card update",
                )
            )
        if self.awaiting_move_in_since is not None:
            last = last_day_within(self.awaiting_move_in_since, MOVE_IN_DAYS_AFTER_PLANNED_MOVE_OUT)
            out.append(
                Lapse(
                    "late_move_in", "R28", validity_ends_at(last), f"no move-in filed by {last.isoformat()}"
                )
            )
        if self.overseas_move_out_on is not None and not self.overseas_continued_use:
            out.append(
                Lapse(
                    "overseas_move_out",
                    "R27",
                    start_of_day(self.overseas_move_out_on),
                    f"moved abroad on {self.overseas_move_out_on.isoformat()} without overseas continued use",
                )
            )
        return sorted((x for x in out if x.effective_at.date() <= today), key=lambda x: x.effective_at)[:1]

    def unrecorded_end(self, at: datetime) -> Lapse | None:
        """The time-driven end of a card in use that took effect by ``at`` but is not recorded
        yet (R19, R22, R27, R28, R30), if any: from then on nothing on the card is valid."""
        if self.ended is not None or self.status in PRE_HANDOVER:
            return None
        due = [x for x in self._live_lapses(at.date()) if x.effective_at <= at]
        return due[0] if due else None

    def belongs_to(self, holder_ref: str) -> bool:
        """The card is this person's: the same holder reference, or the one a My Number change
        (R31) gave them."""
        return holder_ref in {self.holder_ref, self.successor_holder_ref}

    def due_lapses(self, today: date, policies: Policies) -> list[Lapse]:
        """Time-driven consequences due by ``today`` (R13, R19, R22, R27, R28, R30), earliest
        first; at most one, since it ends the card.

        Validity is computed from stored dates, so this answers correctly before anything is
        recorded; ``record_lapses`` records them.
        """
        if self.ended is not None:
            return []
        if self.status not in PRE_HANDOVER:
            return self._live_lapses(today)
        lapse_day = self.uncollected_lapse_day(policies)
        if (
            self.status == "produced"
            and self.expires_on is not None
            and (lapse_day is None or self.expires_on < lapse_day)
        ):
            lapse_day = self.expires_on
        if lapse_day is not None and today > lapse_day:
            return [
                Lapse(
                    "not_collected",
                    "R13",
                    validity_ends_at(lapse_day),
                    f"not collected by {lapse_day.isoformat()}",
                )
            ]
        return []

    _INVALIDATION: ClassVar[dict[str, str]] = {
        "no_update_90d": "no_card_update_90_days",
        "late_move_in": "late_move_in",
        "moved_again": "moved_again_before_update",
        "overseas_move_out": "overseas_move_out",
    }

    def _record(self, lapse: Lapse, stamp: Stamp) -> None:
        at = stamp.effective(lapse.effective_at)
        if lapse.kind == "not_collected":
            self._trigger(ev.ApplicationVoided, at, reason="not_collected", rule="R13")
            self._trigger(ev.CardDestroyed, at, reason="not_collected")
        elif lapse.kind == "expired":
            assert self.expires_on is not None
            self._trigger(
                ev.Expired,
                at,
                expired_on=self.expires_on + timedelta(days=1),
                basis="stay" if self.expiry_capped_by_stay else "age",
            )
        else:
            self._trigger(
                ev.Invalidated,
                at,
                reason=self._INVALIDATION[lapse.kind],
                rule=lapse.rule,
                new_holder_ref=None,
            )

    def _record_due_lapses(self, stamp: Stamp, today: date) -> None:
        for lapse in self._live_lapses(today):
            self._record(lapse, stamp)

    def record_lapses(self, stamp: Stamp, policies: Policies, until: date | None = None) -> list[Lapse]:
        """Record the time-driven consequence due by ``until`` (default: the recorded date), if
        any. Idempotent: a card that has ended has nothing more due."""
        due = self.due_lapses(until or stamp.today, policies)
        for lapse in due:
            self._record(lapse, stamp)
        return due

    def due_expiry_notices(
        self, until: date, certificate_expiries: dict[str, date]
    ) -> list[tuple[str, date]]:
        """R44: expiry notices due by ``until`` and not yet recorded: for the card and each of its
        card certificates, from the day its renewal window opens until its expiry. None before a
        stay-based expiry (foreign residents get no notice then)."""
        if self.ended is not None or self.status not in LIVE or self.expires_on is None:
            return []
        subjects: dict[str, date] = {"card": self.expires_on, **certificate_expiries}
        due = []
        for subject, expires_on in subjects.items():
            if self.expiry_capped_by_stay and expires_on >= self.expires_on:
                continue
            if f"{subject}:{expires_on.isoformat()}" in self.expiry_notices:
                continue
            if renewal_window_opens(expires_on) <= until <= expires_on:
                due.append((subject, expires_on))
        return due

    def record_expiry_notices(self, stamp: Stamp, until: date, certificate_expiries: dict[str, date]) -> None:
        for subject, expires_on in self.due_expiry_notices(until, certificate_expiries):
            self._trigger(ev.ExpiryNoticeDue, stamp, subject=subject, expires_on=expires_on)

    def record_expiry_notice_due(self, stamp: Stamp) -> None:
        """R44: the card's 有効期限通知書 is due about three months before expiry."""
        self._require_live("R44", "an expiry notice")
        assert self.expires_on is not None
        self._trigger(ev.ExpiryNoticeDue, stamp, subject="card", expires_on=self.expires_on)


__all__ = [
    "HOLDER",
    "LIVE",
    "PRE_HANDOVER",
    "TERMINAL",
    "Application",
    "Card",
    "CardStatus",
    "Handover",
    "Lapse",
    "PreviousCard",
    "Stamp",
]
