"""Handlers of the card commands (application, in use, ends): each turns its command model
into domain values and calls on the card; the card holds the rules. A handler returns every
aggregate that changed, to be saved together in one transaction.

Besides domain calls a handler only resolves the command's references: a card that does not
exist (``NotFound``), an application id already used or a previous card of another person
(``InputError``), a lapse date in the future, a first card's handover that leaves out the
通知カード (``InputError`` naming the field, R17). It raises no ``RuleViolation`` of its own.

May import: ``commands.models``, ``commands.errors``, ``commands.consequences``,
``commands.handlers.context``, ``lifecycle``.
"""

from __future__ import annotations

from datetime import date
from uuid import UUID

from eventsourcing.domain import Aggregate

from commands import models as m
from commands import pickup_models as pm
from commands.consequences import CardCertificates
from commands.errors import InputError
from commands.handlers.context import Context, Outcome
from lifecycle.card import INVALIDATION_REASONS, LIVE, Application, Card, Handover, PreviousCard
from lifecycle.holder import Holder
from lifecycle.identifiers import card_id_for, holder_reference, mask_my_number

PERSON_WIDE_REASONS = frozenset(
    {"death", "resident_record_deleted", "resident_code_changed", "my_number_changed"}
)
"""R64: the causes that end every card and application of the person (``stay_expired`` ends the
one card: a stay is per residence card)."""


def _only(card: Card) -> Outcome:
    return Outcome((card,), card)


# ---------------------------------------------------------------------------- application


def submit_application(ctx: Context, c: m.SubmitApplication) -> Outcome:
    number = c.my_number.get_secret_value()
    holder_ref = holder_reference(number, ctx.holder_key)
    if ctx.source.load_card(card_id_for(c.application_id)) is not None:
        raise InputError.single(
            "application_id",
            "an application with this id was already submitted",
            "R02",
            hint="each application form has its own 申請書ID; `mynacard status ID` shows the card",
        )
    previous: PreviousCard | None = None
    if c.previous_card is not None:
        old = ctx.card(c.previous_card, "previous_card")
        if not old.belongs_to(holder_ref):
            raise InputError.single("previous_card", "the previous card belongs to another person")
        previous = PreviousCard(
            card_id=old.id,
            holder_ref=old.holder_ref,
            status=old.status,
            expires_on=old.expires_on,
            expiry_capped_by_stay=old.expiry_capped_by_stay,
        )
    application = Application(
        application_id=c.application_id,
        kind=c.kind,
        channel=c.channel,
        holder_ref=holder_ref,
        my_number_masked=mask_my_number(number),
        date_of_birth=c.date_of_birth,
        photo_taken_on=c.photo_taken_on,
        adult_ward=c.adult_ward,
        residence_status=c.residence_status,
        stay_until=c.stay_until,
        wants_signature_certificate=c.wants_signature_certificate,
        wants_user_certificate=c.wants_user_certificate,
        face_recognition_card=c.face_recognition_card,
        reissue_reason=c.reissue_reason,
        disaster_certificate=c.disaster_certificate,
        form_printed_on=c.form_printed_on,
        facts_changed_on=c.facts_changed_on,
        applicant_present=c.applicant_present,
        legal_representative_present=c.legal_representative_present,
        legal_representative=c.legal_representative.to_domain() if c.legal_representative else None,
        identity_documents=tuple(d.to_domain() for d in c.identity_documents),
        juki_card_collected=c.juki_card_collected,
        fee_paid=c.fee_paid,
    )
    card = Card.submit(application, ctx.stamp, ctx.policies, previous)
    holder = ctx.person(holder_ref)
    standing = ctx.standing(holder.card_ids if holder else ())
    holder = holder or Holder.open(holder_ref, ctx.stamp)
    holder.file_application(card.id, card.kind, standing, ctx.stamp)
    return Outcome((card, holder), card)


def accept_application(ctx: Context, c: m.AcceptApplication) -> Outcome:
    card = ctx.card(c.card)
    card.accept(ctx.stamp)
    return _only(card)


def produce_card(ctx: Context, c: m.ProduceCard) -> Outcome:
    card = ctx.card(c.card)
    card.produce(ctx.stamp, ctx.policies)
    return _only(card)


def send_pickup_notice(ctx: Context, c: m.SendPickupNotice) -> Outcome:
    card = ctx.card(c.card)
    card.send_pickup_notice(ctx.stamp)
    return _only(card)


def reserve_pickup(ctx: Context, c: pm.ReservePickup) -> Outcome:
    card = ctx.card(c.card)
    card.reserve_pickup(c.reserved_for, c.office, ctx.stamp, ctx.policies)
    return _only(card)


def _notice_expiry(ctx: Context, card: Card, subject: str) -> date:
    """The expiry a notice of ``subject`` is about: the card's, or its live SIG's or AUTH's."""
    if subject == "card":
        expires_on = card.expires_on
    else:
        live = CardCertificates(card, ctx.source).live(subject)
        expires_on = live.expires_on if live else None
    if expires_on is None:
        raise InputError.single("subject", f"the card has no {subject} with an expiry to give notice of")
    return expires_on


def record_expiry_notice_sent(ctx: Context, c: pm.RecordExpiryNoticeSent) -> Outcome:
    card = ctx.card(c.card)
    card.record_expiry_notice_sent(c.subject, _notice_expiry(ctx, card, c.subject), ctx.stamp)
    return _only(card)


def record_expiry_notice_undelivered(ctx: Context, c: pm.RecordExpiryNoticeUndelivered) -> Outcome:
    card = ctx.card(c.card)
    sent = [k for k in card.expiry_notices_sent if k.startswith(f"{c.subject}:")]
    if not sent:
        raise InputError.single("subject", f"no expiry notice of the {c.subject} was recorded as mailed")
    card.record_expiry_notice_undelivered(c.subject, date.fromisoformat(sent[-1].split(":", 1)[1]), ctx.stamp)
    return _only(card)


def mail_card(ctx: Context, c: pm.MailCard) -> Outcome:
    card = ctx.card(c.card)
    card.mail_card(c.face_details_current, ctx.stamp)
    return _only(card)


def record_arrival_notice(ctx: Context, c: pm.RecordArrivalNotice) -> Outcome:
    card = ctx.card(c.card)
    card.record_arrival_notice(ctx.stamp)
    return _only(card)


def record_mail_returned(ctx: Context, c: pm.RecordMailReturned) -> Outcome:
    card = ctx.card(c.card)
    card.record_mail_returned(ctx.stamp)
    return _only(card)


def resend_pickup_notice(ctx: Context, c: pm.ResendPickupNotice) -> Outcome:
    card = ctx.card(c.card)
    card.resend_pickup_notice(ctx.stamp)
    return _only(card)


def send_pickup_reminder(ctx: Context, c: m.SendPickupReminder) -> Outcome:
    card = ctx.card(c.card)
    card.send_pickup_reminder(ctx.stamp)
    return _only(card)


def hand_over_card(ctx: Context, c: m.HandOverCard) -> Outcome:
    card = ctx.card(c.card)
    handover = Handover(
        method=c.method,
        recipient=c.recipient,
        proxy_reason=c.proxy_reason,
        proxy=c.proxy.to_domain() if c.proxy else None,
        identity_documents=tuple(d.to_domain() for d in c.identity_documents),
        proxy_identity_documents=tuple(d.to_domain() for d in c.proxy_identity_documents),
        notification_card=c.notification_card or _notification_card_left_out(card),
        notification_card_lost_at_home=c.notification_card_lost_at_home,
        police_report=c.police_report,
        juki_card=c.juki_card,
        old_card_brought=c.old_card_brought,
        fee_paid_yen=c.fee_paid_yen,
        office=c.office or ctx.office,
        pins=c.pins_given(),
        pins_set_by=c.pins_set_by,
    )
    holder = ctx.person(card.holder_ref) or _person_of_legacy_card(card, ctx)
    card.hand_over(handover, ctx.stamp, ctx.policies)
    # R62: the person holds one card in use: every other card still in use (the one this card
    # renews or reissues, and any other) ends at this handover, returned or handled as lost.
    changed: list[Aggregate] = [card]
    replaced: list[UUID] = []
    for old_id in dict.fromkeys(
        [*holder.card_ids, *([card.previous_card_id] if card.previous_card_id else [])]
    ):
        old = ctx.source.load_card(old_id) if old_id != card.id else None
        if old is None or old.status not in LIVE:
            continue
        # Time may already have ended it (an expired card renewed late): record that first.
        old.record_lapses(ctx.stamp, ctx.policies)
        if old.status in LIVE:
            old.end_as_replaced(card.id, c.old_card_brought is not False, ctx.stamp)
            replaced.append(old.id)
        changed.append(old)
    holder.take_into_use(card.id, replaced, c.old_card_brought, ctx.stamp)
    return Outcome((*changed, holder), card)


def _notification_card_left_out(card: Card) -> str:
    """R17: a first card's handover says what became of the 通知カード (the clerk must not be
    able to forget it); a renewal or reissue has none to collect. A card that cannot be handed
    over (not produced) is left to the card's own refusal."""
    if card.kind == "new" and card.status == "produced":
        raise InputError.single(
            "notification_card",
            "required at a first card's handover: what became of the 通知カード",
            "R17",
            hint="give --notification-card collected, lost (lost outside the home: with "
            "--police-report) or number_letter_returned (a 個人番号通知書 shown and handed back)",
        )
    return "not_applicable"


def _person_of_legacy_card(card: Card, ctx: Context) -> Holder:
    """A card whose person was never opened (filed before R62–R65 and not derived): its person,
    opened now with this card."""
    holder = Holder.open(card.holder_ref, ctx.stamp, derived=True)
    holder.derive([card.id], ctx.stamp)
    return holder


def cancel_application(ctx: Context, c: m.CancelApplication) -> Outcome:
    card = ctx.card(c.card)
    card.cancel(c.filed_by.to_domain(), c.channel, ctx.stamp)
    return _only(card)


def pay_fee(ctx: Context, c: m.PayFee) -> Outcome:
    card = ctx.card(c.card)
    card.pay_fee(c.amount_yen, ctx.stamp)
    return _only(card)


# ---------------------------------------------------------------------------- in use


def suspend_card(ctx: Context, c: m.SuspendCard) -> Outcome:
    card = ctx.card(c.card)
    card.suspend(c.channel, ctx.stamp)
    return _only(card)


def lift_suspension(ctx: Context, c: m.LiftSuspension) -> Outcome:
    card = ctx.card(c.card)
    card.lift_suspension(c.filed_by.to_domain(), c.in_person, ctx.stamp)
    return _only(card)


def change_card_information(ctx: Context, c: m.ChangeCardInformation) -> Outcome:
    card = ctx.card(c.card)
    card.change_card_information(
        c.facts,
        c.filed_by.to_domain(),
        c.pin_confirmed,
        ctx.stamp,
        new_date_of_birth=c.new_date_of_birth,
        former_surname_action=c.former_surname_action,
    )
    return _only(card)


def answer_inquiry(ctx: Context, c: m.AnswerInquiry) -> Outcome:
    card = ctx.card(c.card)
    card.answer_inquiry(c.pin_confirmed, ctx.stamp)
    return _only(card)


def record_notes_field_full(ctx: Context, c: m.RecordNotesFieldFull) -> Outcome:
    card = ctx.card(c.card)
    card.record_notes_field_full(ctx.stamp)
    return _only(card)


def record_move_out(ctx: Context, c: m.RecordMoveOut) -> Outcome:
    card = ctx.card(c.card)
    card.move_out(c.planned_move_out_on, c.overseas, ctx.stamp)
    return _only(card)


def file_move_in(ctx: Context, c: m.FileMoveIn) -> Outcome:
    card = ctx.card(c.card)
    card.file_move_in(c.planned_move_out_on, c.moved_in_on, ctx.stamp)
    return _only(card)


def register_overseas_continued_use(ctx: Context, c: m.RegisterOverseasContinuedUse) -> Outcome:
    card = ctx.card(c.card)
    card.register_overseas_continued_use(c.planned_move_out_on, ctx.stamp)
    return _only(card)


def extend_stay(ctx: Context, c: m.ExtendStay) -> Outcome:
    card = ctx.card(c.card)
    card.extend_stay(c.new_stay_until, c.filed_by.to_domain(), ctx.stamp, pin_confirmed=c.pin_confirmed)
    return _only(card)


def grant_special_extension(ctx: Context, c: m.GrantSpecialExtension) -> Outcome:
    card = ctx.card(c.card)
    card.grant_special_extension(c.evidence, ctx.stamp)
    return _only(card)


# ---------------------------------------------------------------------------- ends


def report_loss(ctx: Context, c: m.ReportLoss) -> Outcome:
    card = ctx.card(c.card)
    card.report_loss(c.lost_at_home, c.police_report, c.filed_by.to_domain(), ctx.stamp)
    return _only(card)


def return_card(ctx: Context, c: m.ReturnCard) -> Outcome:
    card = ctx.card(c.card)
    card.return_card(c.reason, c.filed_by.to_domain(), ctx.stamp)
    return _only(card)


def invalidate_card(ctx: Context, c: m.InvalidateCard) -> Outcome:
    card = ctx.card(c.card)
    new_ref = (
        holder_reference(c.new_my_number.get_secret_value(), ctx.holder_key) if c.new_my_number else None
    )
    if new_ref is not None and new_ref == card.holder_ref:
        raise InputError.single("new_my_number", "the new My Number is the number the card was issued to")
    if c.reason not in PERSON_WIDE_REASONS:
        card.invalidate(c.reason, ctx.stamp, new_holder_ref=new_ref)
        return _only(card)
    # R64: a person-wide cause ends every card in use and voids every application in progress of
    # the person, with one effective time, in this one save; R65: a new My Number links the person.
    holder = ctx.person(card.holder_ref) or _person_of_legacy_card(card, ctx)
    standing = ctx.standing(holder.card_ids)
    card.invalidate(c.reason, ctx.stamp, new_holder_ref=new_ref)
    changed: list[Aggregate] = [card]
    for entry in (*standing.in_use, *standing.in_progress):
        other = ctx.source.load_card(entry.card_id)
        if other is not None and other.id != card.id:
            other.invalidate(c.reason, ctx.stamp, new_holder_ref=new_ref)
            changed.append(other)
    ended = [x.id for x in changed if isinstance(x, Card) and x.status == "invalidated"]
    voided = [x.id for x in changed if isinstance(x, Card) and x.status == "voided"]
    rule = card.ended.rule if card.ended else INVALIDATION_REASONS[c.reason]
    holder.record_resident_record_change(c.reason, rule, ended, voided, ctx.stamp)
    changed.append(holder)
    if new_ref is not None:
        holder.link(card.holder_ref, new_ref, ctx.stamp)
        successor = ctx.person(new_ref) or Holder.open(new_ref, ctx.stamp)
        successor.link(card.holder_ref, new_ref, ctx.stamp)
        changed.append(successor)
    return Outcome(tuple(changed), card)


def collect_physical_card(ctx: Context, c: m.CollectPhysicalCard) -> Outcome:
    card = ctx.card(c.card)
    card.collect_physical_card(c.reason, ctx.stamp)
    return _only(card)


def record_lapses(ctx: Context, c: m.RecordLapses) -> Outcome:
    """Everything time made due on the card and its certificates by ``until`` (R13, R19–R30,
    R42) and the expiry notices due then (R44). Idempotent: what is recorded is no longer due."""
    until = c.until or ctx.stamp.today
    if until > ctx.stamp.today:
        raise InputError.single(
            "until", f"{until.isoformat()} lies after today: time has not made it due yet"
        )
    card = ctx.card(c.card)
    cc = CardCertificates(card, ctx.source)
    for cert in cc.all_live():
        if cert.due_expiry(until):
            cert.expire(ctx.stamp, until)
            cc.touch(cert)
    card.record_lapses(ctx.stamp, ctx.policies, until)
    expiries = {
        kind: live.expires_on for kind in ("SIG", "AUTH") if (live := cc.live(kind)) and live.expires_on
    }
    card.record_expiry_notices(ctx.stamp, until, expiries)
    return Outcome((card,), card, (cc,))
