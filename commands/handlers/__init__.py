"""Command handlers: turn a command model into domain calls and answer what changed.

``HANDLERS`` is the one table from command model class to handler function; the bus
(``commands.bus``) dispatches through it. A new command gets its line here — nothing is
registered by importing a module. Handlers hold no rules: the card, the certificates and the
pure checks of ``lifecycle`` do; a handler resolves references, calls the domain, and collects
the aggregates to save.

- ``context``: ``Context`` (what a handler may use), ``Outcome`` (what it answers),
  ``resolve_card_ref``.
- ``card``: the card commands (application, in use, ends).
- ``certificates``: the certificate and PIN commands.
- ``person``: filing the cards of a store written before R62–R65 under their person.

May import: ``commands.models``, ``commands.certificate_models``, ``commands.errors``,
``commands.consequences``, ``lifecycle``, ``storage.errors``. Never the application, the bus or
storage otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping

from commands import certificate_models as cm
from commands import models as m
from commands import pickup_models as pm
from commands.handlers import card, certificates, person
from commands.handlers.context import CardSource, Context, Handler, Outcome, resolve_card_ref

HANDLERS: Mapping[type[m.Command], Handler] = {
    # application
    m.SubmitApplication: card.submit_application,
    m.AcceptApplication: card.accept_application,
    m.ProduceCard: card.produce_card,
    m.SendPickupNotice: card.send_pickup_notice,
    pm.ResendPickupNotice: card.resend_pickup_notice,
    pm.ReservePickup: card.reserve_pickup,
    pm.MailCard: card.mail_card,
    pm.RecordExpiryNoticeSent: card.record_expiry_notice_sent,
    pm.RecordExpiryNoticeUndelivered: card.record_expiry_notice_undelivered,
    pm.RecordArrivalNotice: card.record_arrival_notice,
    pm.RecordMailReturned: card.record_mail_returned,
    m.SendPickupReminder: card.send_pickup_reminder,
    m.HandOverCard: card.hand_over_card,
    m.CancelApplication: card.cancel_application,
    m.PayFee: card.pay_fee,
    # in use
    m.SuspendCard: card.suspend_card,
    m.LiftSuspension: card.lift_suspension,
    m.ChangeCardInformation: card.change_card_information,
    m.AnswerInquiry: card.answer_inquiry,
    m.RecordNotesFieldFull: card.record_notes_field_full,
    m.RecordMoveOut: card.record_move_out,
    m.FileMoveIn: card.file_move_in,
    m.RegisterOverseasContinuedUse: card.register_overseas_continued_use,
    m.ExtendStay: card.extend_stay,
    m.GrantSpecialExtension: card.grant_special_extension,
    # ends
    m.ReportLoss: card.report_loss,
    m.ReturnCard: card.return_card,
    m.InvalidateCard: card.invalidate_card,
    m.CollectPhysicalCard: card.collect_physical_card,
    m.RecordLapses: card.record_lapses,
    # certificates and PINs
    cm.IssueCertificates: certificates.issue_certificates,
    cm.RenewCertificates: certificates.renew_certificates,
    cm.RevokeCertificate: certificates.revoke_certificate,
    cm.IssueSmartphoneCertificates: certificates.issue_smartphone_certificates,
    cm.SuspendSmartphone: certificates.suspend_smartphone,
    cm.LiftSmartphoneSuspension: certificates.lift_smartphone_suspension,
    cm.RenewSmartphoneCertificates: certificates.renew_smartphone_certificates,
    cm.SetFaceRecognitionMode: certificates.set_face_recognition_mode,
    cm.RecordPinAttempt: certificates.record_pin_attempt,
    cm.SendAgentInquiry: certificates.send_agent_inquiry,
    cm.ResetPin: certificates.reset_pin,
    cm.ChangePin: certificates.change_pin,
    # the person (R62–R65): filing the cards of a store written before
    m.FileCardsUnderPerson: person.file_cards_under_person,
    # erasure (issue 13)
    m.ForgetPerson: person.forget_person,
}

__all__ = ["HANDLERS", "CardSource", "Context", "Handler", "Outcome", "resolve_card_ref"]
