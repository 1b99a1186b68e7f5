"""The card's procedures from acceptance to handover (spec §2.1): the fee paid at the counter
(手数料納付), J-LIS acceptance (受理) and production (作成), cancellation (交付申請取消), the
pickup notice and reminder, and the handover (交付). The application itself is ``Card.submit``.

May import: the standard library, ``lifecycle`` leaf modules, and ``lifecycle.card`` (events,
rules, lapses, state, vocabulary, procedures.base); never the aggregate.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from lifecycle.card import events as ev
from lifecycle.card import lapses, rules
from lifecycle.card.procedures.base import Procedures
from lifecycle.card.vocabulary import MAIL_SERVICES, OFFICE_NOT_RECORDED, Handover
from lifecycle.counter_calendar import check_counter_open, check_reservation
from lifecycle.decisions import Policies
from lifecycle.errors import RuleViolation
from lifecycle.fees import Fee
from lifecycle.filers import Filer
from lifecycle.stamp import Stamp
from lifecycle.validity import card_validity


class ApplicationProcedures(Procedures):
    """Procedures of a card not yet in use."""

    def pay_fee(self, amount_yen: int, stamp: Stamp) -> None:
        """手数料納付 (R08): settle what was assessed; never more."""
        self._refuse_if_ended("paying a fee")
        rules.application.check_fee_payment(self.outstanding_fee_yen, amount_yen)
        self._trigger(ev.FeePaid, stamp, amount_yen=amount_yen, stage="counter")

    def accept(self, stamp: Stamp) -> None:
        """J-LIS 受理: the acceptance date chooses the adult line (R05)."""
        self._refuse_if_ended("acceptance")
        rules.application.check_acceptance(self.status, self.applied_on, stamp.on)
        self._trigger(ev.Accepted, stamp, accepted_on=stamp.on)

    def produce(self, stamp: Stamp, policies: Policies) -> None:
        """J-LIS 作成: the issue date is the production date, not the handover (R20); it fixes
        the expiry (R19, R21, R22, R26 with D01–D03)."""
        self._refuse_if_ended("production")
        accepted_on = rules.application.check_production(self.status, self.accepted_on, stamp.on)
        validity = card_validity(
            self.date_of_birth,
            issue_date=stamp.on,
            accepted_on=accepted_on,
            residence_status=self.residence_status,
            stay_until=self.stay_until,
            renews_card_expiring_on=self.renews_card_expiring_on,
            policies=policies,
        )
        rules.application.check_expiry_after_issue(validity.expires_on, stamp.on)
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

    def cancel(self, filer: Filer, channel: Literal["counter", "phone"], stamp: Stamp) -> None:
        """交付申請取消 (R12): only before receipt; by phone only the applicant, or a same-household
        legal representative of an under-15."""
        self._refuse_if_ended("cancellation")
        rules.application.check_cancellation(
            self.status,
            filer,
            channel,
            holder_under_15=self.age_on(stamp.on) < 15,
            holder_adult_ward=self.adult_ward,
        )
        self._trigger(ev.ApplicationCancelled, stamp, filed_by=filer.role, channel=channel)

    # ------------------------------------------------------------------ handover (§2.1)

    def send_pickup_notice(self, stamp: Stamp) -> None:
        """交付通知書: the pickup notice starts the R13 clock."""
        self._refuse_if_ended("a pickup notice")
        rules.handover.check_pickup_notice(self.status, self.issue_date, self.pickup_notice_sent_on, stamp.on)
        self._trigger(ev.PickupNoticeSent, stamp, sent_on=stamp.on)

    def reserve_pickup(
        self, reserved_for: date, office: str | None, stamp: Stamp, policies: Policies
    ) -> None:
        """予約 (R59, municipal rules): the holder books the day to collect a produced card at the
        counter, within the booking window, not on a closed day. Booking again replaces it."""
        self._refuse_if_ended("a pickup reservation")
        if self.status != "produced":
            raise RuleViolation("R59", f"only a produced card is booked for pickup (status {self.status})")
        check_reservation(stamp.on, reserved_for, policies)
        self._trigger(ev.PickupReserved, stamp, reserved_for=reserved_for, office=office)

    def mail_card(self, face_details_current: bool, stamp: Stamp) -> None:
        """郵送交付 (R03; 000, 002): a first card applied for in person is mailed to the holder,
        unless the counter is required (see ``rules.handover.check_mail_delivery``)."""
        self._refuse_if_ended("mailing the card")
        rules.handover.check_mail_delivery(
            self.status,
            self.channel,
            self.kind,
            self.mail_returned,
            face_details_current=face_details_current,
        )
        if self.mailed_on is not None:
            raise RuleViolation("R03", f"the card was already mailed on {self.mailed_on.isoformat()}")
        self._trigger(ev.CardMailed, stamp, mailed_on=stamp.on, service=MAIL_SERVICES[self.channel])

    def record_arrival_notice(self, stamp: Stamp) -> None:
        """到着通知 (000): the post office left the holder an arrival notice."""
        self._refuse_if_ended("an arrival notice")
        self._require_in_the_mail("an arrival notice")
        self._trigger(ev.ArrivalNoticeLeft, stamp, left_on=stamp.on)

    def record_mail_returned(self, stamp: Stamp) -> None:
        """返戻 (002): the mailed card came back undelivered; from now on, counter pickup."""
        self._refuse_if_ended("a returned mailing")
        self._require_in_the_mail("a returned mailing")
        self._trigger(ev.MailReturned, stamp, returned_on=stamp.on)

    def _require_in_the_mail(self, procedure: str) -> None:
        if self.status != "produced" or self.mailed_on is None or self.mail_returned:
            raise RuleViolation("R03", f"{procedure} follows the mailing of a card not yet delivered")

    def resend_pickup_notice(self, stamp: Stamp) -> None:
        """交付通知書の再発行 (003 Q8): the holder lost the notice; it is sent again by ordinary mail
        (not forwarded), after identity questions on the phone. The R13 deadline does not move."""
        self._refuse_if_ended("sending the pickup notice again")
        rules.handover.check_pickup_notice_reissue(self.status, self.pickup_notice_sent_on, stamp.on)
        self._trigger(ev.PickupNoticeResent, stamp, sent_on=stamp.on)

    def send_pickup_reminder(self, stamp: Stamp) -> None:
        """督促: a reminder moves the R13 lapse to 3 months after it, if later (D11)."""
        self._refuse_if_ended("a pickup reminder")
        rules.handover.check_pickup_reminder(self.status, self.pickup_notice_sent_on, stamp.on)
        self._trigger(ev.PickupReminderSent, stamp, sent_on=stamp.on)

    def hand_over(self, handover: Handover, stamp: Stamp, policies: Policies) -> None:
        """交付: R14 (proxy reasons), R15/R16 (identity documents), R17 (notification and Juki
        cards collected), R18 (legal representative), R07/R08 (fee settled by now)."""
        h, on = handover, stamp.on
        self._refuse_if_ended("handover")
        last_day = lapses.last_collection_day(
            self.pickup_notice_sent_on, self.pickup_reminder_sent_on, policies
        )
        rules.handover.check_collectable(self.status, self.issue_date, self.expires_on, last_day, on)
        rules.handover.check_recipient(
            h, self.channel, on, holder_age=self.age_on(on), holder_adult_ward=self.adult_ward
        )
        if h.method == "mail":
            rules.handover.check_mail_delivery(self.status, self.channel, self.kind, self.mail_returned)
        else:
            check_counter_open(on, policies, "handover")
        rules.handover.check_notification_documents(h, self.kind)
        plan, withheld = self._certificate_plan(on)
        self._check_pins(plan, h.pins, h.pins_set_by, on)
        application_fee = Fee(0, 0, 0, self.application_fee_fault, self.application_fee_reason, "R07")
        extra = rules.handover.handover_fee(
            h,
            self.kind,
            application_fee,
            with_certificates=self.wants_signature_certificate or self.wants_user_certificate,
        )
        rules.handover.check_fee_settled(
            self.outstanding_fee_yen + (extra.amount_yen if extra else 0), h.fee_paid_yen
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
            office=h.office or OFFICE_NOT_RECORDED,
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
