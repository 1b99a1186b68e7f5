"""The card aggregate (マイナンバーカード / 個人番号カード): its whole life from application to
expiry or invalidation.

``Card`` is its state (``lifecycle.card.state``) plus its procedures (``lifecycle.card.procedures``,
one mixin per spec section), on ``eventsourcing``'s ``Aggregate``. Every public method of a
procedure is a command: it checks the rules (``lifecycle.card.rules``, raising
``RuleViolation`` with the rule id before anything is triggered, so a refused command records
nothing), then triggers the events that say what happened. State changes only in the
events' ``apply_to``. What time has made due comes from ``lifecycle.card.lapses``.

States (spec §3): ``applied → accepted → produced → active ⇄ suspended``; the exits
``cancelled``, ``voided``, ``abolished``, ``returned``, ``invalidated``, ``expired`` and
``superseded`` are terminal: a card there refuses every change.

May import: ``eventsourcing.domain``, the standard library, ``lifecycle`` leaf modules and the
other modules of ``lifecycle.card``.
"""

from __future__ import annotations

from datetime import date, datetime

from eventsourcing.domain import Aggregate

from lifecycle.card import events as ev
from lifecycle.card import lapses, rules
from lifecycle.card.procedures.application import ApplicationProcedures
from lifecycle.card.procedures.certificates_and_pins import CertificateAndPinProcedures
from lifecycle.card.procedures.ends import EndProcedures
from lifecycle.card.procedures.in_use import InUseProcedures
from lifecycle.card.procedures.residence import ResidenceProcedures
from lifecycle.card.vocabulary import Application, Lapse, PreviousCard
from lifecycle.decisions import Policies
from lifecycle.identifiers import card_id_for
from lifecycle.stamp import Stamp


class Card(
    ApplicationProcedures,
    InUseProcedures,
    ResidenceProcedures,
    EndProcedures,
    CertificateAndPinProcedures,
    Aggregate,
):
    """マイナンバーカード: one card, from its application to its end."""

    TOPIC = "mynacard.Card"
    PERSONAL_FIELDS = ("my_number_masked", "date_of_birth", "pending_inquiry")
    """The state's personal fields, kept under the holder's data key in snapshots (issue 13)."""

    class Created(Aggregate.Created):
        TOPIC = "mynacard.Card.Created"

    class Event(Aggregate.Event):
        TOPIC = "mynacard.Card.BaseEvent"

    # ------------------------------------------------------------------ the application (§2.1)

    @classmethod
    def submit(
        cls, application: Application, stamp: Stamp, policies: Policies, previous: PreviousCard | None = None
    ) -> Card:
        """交付申請 (R02–R04, R15, R25, R58, fees R07–R10 with D07)."""
        a, on = application, stamp.on
        renews_expiring_on = rules.application.check_application(a, on, previous)
        fee = rules.application.application_fee(a, on, previous, policies.fee_due_by)
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

    # ------------------------------------------------------------------ questions

    def uncollected_lapse_day(self, policies: Policies) -> date | None:
        """R13 / D11: the last day the card can still be collected, or None before the notice."""
        return lapses.last_collection_day(self.pickup_notice_sent_on, self.pickup_reminder_sent_on, policies)

    move_in_deadline = staticmethod(rules.residence.move_in_deadline)

    def due_lapses(self, today: date, policies: Policies) -> list[Lapse]:
        """Time-driven consequences due by ``today`` (R13, R19, R22, R27, R28, R30), earliest
        first; at most one, since it ends the card. ``record_lapses`` records them."""
        return lapses.due_lapses(self, today, policies)

    def unrecorded_end(self, at: datetime) -> Lapse | None:
        """The time-driven end of a card in use that took effect by ``at`` but is not recorded
        yet (R19, R22, R27, R28, R30), if any: from then on nothing on the card is valid."""
        return lapses.unrecorded_end(self, at)

    def due_expiry_notices(
        self, until: date, certificate_expiries: dict[str, date]
    ) -> list[tuple[str, date]]:
        """R44: expiry notices of the card and its certificates due by ``until``, not yet recorded."""
        return lapses.due_expiry_notices(self, until, certificate_expiries)

    def pins_needed_at_handover(self, on: date) -> frozenset[str]:
        """R54: the PINs a handover on ``on`` sets (none on a face-recognition card, R58)."""
        return rules.pins.pins_needed(self._certificate_plan(on)[0], self.face_recognition_card)

    def require_signature_eligibility(self, on: date) -> None:
        """R40, R58: a signature certificate only for a holder of 15 or more on ``on``, not an
        adult ward, on a card that is not a face-recognition card, whatever the path."""
        rules.certificates.require_signature_eligibility(
            self.date_of_birth,
            on,
            adult_ward=self.adult_ward,
            face_recognition_card=self.face_recognition_card,
        )
