"""Handlers of the certificate and PIN commands (R34–R48, R54–R58).

The card checks whether it may carry what is asked (it knows its holder, state and PINs);
``lifecycle.certificate_issuance`` checks what its current certificates allow;
``commands.consequences`` issues and revokes the certificates, all in the command's one save.
The handlers only load, call and collect: they raise no ``RuleViolation`` of their own.

May import: ``commands.certificate_models``, ``commands.consequences``,
``commands.handlers.context``, ``lifecycle``.
"""

from __future__ import annotations

from commands import certificate_models as cm
from commands.consequences import (
    CardCertificates,
    issue_certificate,
    renewal_birthdays,
    revoke,
    revoke_signature,
)
from commands.handlers.context import Context, Outcome
from lifecycle.certificate_issuance import (
    require_live,
    require_none_live,
    require_renewable,
    require_smartphone,
    require_valid_signature,
)
from lifecycle.certificate_rules import SMARTPHONE_KINDS, CertificateKind

_ORDER = {"AUTH": 0, "SIG": 1}
"""AUTH before SIG: the SIG is capped by the AUTH's expiry (R36)."""


def _certificates(ctx: Context, card_ref: str) -> CardCertificates:
    card = ctx.card(card_ref)
    return CardCertificates(card, ctx.certificates)


def _done(cc: CardCertificates) -> Outcome:
    return Outcome((cc.card,), cc.card, (cc,))


def _kinds(kinds: list[str]) -> list[CertificateKind]:
    return sorted(dict.fromkeys(kinds), key=lambda k: _ORDER[k])  # type: ignore[arg-type]


def issue_certificates(ctx: Context, c: cm.IssueCertificates) -> Outcome:
    """R34: onto a valid, up-to-date card, free (R10); SIG only for the holder himself (R41),
    never under 15 or for an adult ward (R40) or on a face card (R58)."""
    cc = _certificates(ctx, c.card)
    card, stamp = cc.card, ctx.stamp
    kinds = _kinds(c.kinds)
    filer = c.filed_by.to_domain()
    card.check_certificate_request(
        kinds, filer, c.juki_pin_confirmed, stamp, inquiry_answered=c.inquiry_answered
    )
    for kind in kinds:
        require_none_live(kind, cc.live(kind))
        if kind == "SIG":
            card.require_signature_eligibility(stamp.on)
    card.set_certificate_pins(kinds, c.pins_given(), c.pins_set_by, stamp)
    for kind in kinds:
        issue_certificate(cc, kind, stamp, ctx.policies, via="counter")
    if c.inquiry_answered and filer.role in {"agent", "household_member"}:
        card.close_agent_inquiry("certificates", ",".join(sorted(kinds)), stamp)
    return _done(cc)


def send_agent_inquiry(ctx: Context, c: cm.SendAgentInquiry) -> Outcome:
    card = ctx.card(c.card)
    card.send_agent_inquiry(c.procedure, c.subject, c.filed_by.to_domain(), ctx.stamp)
    return Outcome((card,), card)


def renew_certificates(ctx: Context, c: cm.RenewCertificates) -> Outcome:
    """R38: from the day after expiry − 3 months, or after expiry, free; R39/D04 inside the
    window; R46: the smartphone certificates are not renewed with them."""
    cc = _certificates(ctx, c.card)
    card, stamp = cc.card, ctx.stamp
    kinds = _kinds(c.kinds)
    card.check_certificate_request(kinds, c.filed_by.to_domain(), True, stamp, renewal=True)
    plan = []
    for kind in kinds:
        cert = require_renewable(kind, cc.current(kind), stamp.on)
        plan.append((kind, cert, renewal_birthdays(cert, stamp, ctx.policies)))
    if c.pins_given():
        card.set_certificate_pins(kinds, c.pins_given(), c.pins_set_by, stamp, required=False)
    for kind, cert, birthdays in plan:
        if cert.live:
            cert.revoke("superseded", "R38", stamp)
            cc.touch(cert)
        issue_certificate(cc, kind, stamp, ctx.policies, via="renewal", birthdays=birthdays)
    if any(cc.live(kind) is not None for kind in SMARTPHONE_KINDS):
        card.require_smartphone_renewal(stamp)
    return _done(cc)


def revoke_certificate(ctx: Context, c: cm.RevokeCertificate) -> Outcome:
    """R42: a revocation request; revoking the card SIG revokes the SP certificates (R47, D10)."""
    cc = _certificates(ctx, c.card)
    cc.card.check_revocation_request(c.filed_by.to_domain(), ctx.stamp)
    require_live(c.kind, cc.live(c.kind))
    if c.kind == "SIG":
        revoke_signature(cc, "request", "R42", ctx.stamp)
    else:
        revoke(cc, c.kind, "request", "R42", ctx.stamp)
    return _done(cc)


def issue_smartphone_certificates(ctx: Context, c: cm.IssueSmartphoneCertificates) -> Outcome:
    """R45: one phone per person: a new phone's certificates revoke the old phone's."""
    cc = _certificates(ctx, c.card)
    card, stamp = cc.card, ctx.stamp
    card.check_smartphone_registration(c.device, any(cc.live(k) for k in SMARTPHONE_KINDS), stamp)
    require_valid_signature(cc.live("SIG"), stamp.effective_at, c.sig_pin_confirmed)
    for kind in SMARTPHONE_KINDS:
        revoke(cc, kind, "superseded", "R45", stamp)
    card.register_smartphone(c.device, stamp)
    for kind in SMARTPHONE_KINDS:
        issue_certificate(cc, kind, stamp, ctx.policies, via="smartphone", device=c.device)
    return _done(cc)


def suspend_smartphone(ctx: Context, c: cm.SuspendSmartphone) -> Outcome:
    cc = _certificates(ctx, c.card)
    cc.card.suspend_smartphone(any(cc.live(k) for k in SMARTPHONE_KINDS), ctx.stamp)
    return _done(cc)


def lift_smartphone_suspension(ctx: Context, c: cm.LiftSmartphoneSuspension) -> Outcome:
    cc = _certificates(ctx, c.card)
    cc.card.lift_smartphone_suspension(ctx.stamp)
    return _done(cc)


def renew_smartphone_certificates(ctx: Context, c: cm.RenewSmartphoneCertificates) -> Outcome:
    """R46: renewed in the app after the card certificates; they follow the new ones."""
    cc = _certificates(ctx, c.card)
    card, stamp = cc.card, ctx.stamp
    device = require_smartphone(card.smartphone_device)
    card.check_smartphone_registration(device, False, stamp)
    require_valid_signature(cc.live("SIG"), stamp.effective_at, c.sig_pin_confirmed)
    for kind in SMARTPHONE_KINDS:
        revoke(cc, kind, "superseded", "R46", stamp)
    card.register_smartphone(device, stamp)
    for kind in SMARTPHONE_KINDS:
        issue_certificate(cc, kind, stamp, ctx.policies, via="smartphone", device=device)
    return _done(cc)


def set_face_recognition_mode(ctx: Context, c: cm.SetFaceRecognitionMode) -> Outcome:
    cc = _certificates(ctx, c.card)
    auth_live = cc.live("AUTH") is not None
    cc.card.set_face_recognition(c.enabled, c.pins_given(), c.pins_set_by, auth_live, ctx.stamp)
    return _done(cc)


def record_pin_attempt(ctx: Context, c: cm.RecordPinAttempt) -> Outcome:
    card = ctx.card(c.card)
    card.record_pin_attempt(c.pin, c.success, ctx.stamp)
    return Outcome((card,), card)


def reset_pin(ctx: Context, c: cm.ResetPin) -> Outcome:
    card = ctx.card(c.card)
    card.reset_pin(
        c.pin,
        c.channel,
        ctx.stamp,
        filer=c.filed_by.to_domain(),
        forgotten=c.forgotten,
        additional_id=c.additional_id,
        other_certificate_pin_known=c.other_certificate_pin_known,
        inquiry_answered=c.inquiry_answered,
    )
    return Outcome((card,), card)


def change_pin(ctx: Context, c: cm.ChangePin) -> Outcome:
    card = ctx.card(c.card)
    card.change_pin(c.pin, c.channel, ctx.stamp)
    return Outcome((card,), card)
