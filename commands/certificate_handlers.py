"""Handlers of the certificate and PIN commands (R34–R48, R54–R58).

The card checks whether it may carry what is asked (it knows its holder, state and PINs);
``commands.policies`` issues and revokes the certificates, all in the command's one save.
"""

from __future__ import annotations

from commands import certificate_models as cm
from commands.handlers import Context, Outcome, handles
from commands.policies import (
    CardCertificates,
    issue_certificate,
    renewal_birthdays,
    revoke,
    revoke_signature,
)
from lifecycle.calendar import renewal_window_opens
from lifecycle.certificate_rules import SMARTPHONE_KINDS, CertificateKind
from lifecycle.errors import RuleViolation

_ORDER = {"AUTH": 0, "SIG": 1}
"""AUTH before SIG: the SIG is capped by the AUTH's expiry (R36)."""


def _certificates(ctx: Context, card_ref: str) -> CardCertificates:
    card = ctx.card(card_ref)
    return CardCertificates(card, ctx.certificates)


def _done(cc: CardCertificates) -> Outcome:
    return Outcome((cc.card,), cc.card, (cc,))


def _kinds(kinds: list[str]) -> list[CertificateKind]:
    return sorted(dict.fromkeys(kinds), key=lambda k: _ORDER[k])  # type: ignore[arg-type]


@handles(cm.IssueCertificates)
def issue_certificates(ctx: Context, c: cm.IssueCertificates) -> Outcome:
    """R34: onto a valid, up-to-date card, free (R10); SIG only for the holder himself (R41),
    never under 15 or for an adult ward (R40) or on a face card (R58)."""
    cc = _certificates(ctx, c.card)
    card, stamp = cc.card, ctx.stamp
    kinds = _kinds(c.kinds)
    card.check_certificate_request(kinds, c.filed_by.to_domain(), c.juki_pin_confirmed, stamp)
    for kind in kinds:
        if cc.live(kind) is not None:
            raise RuleViolation(
                "R34",
                f"the card already carries a valid {kind} certificate",
                hint="renew it (renew-certificates) or revoke it first",
            )
        if kind == "SIG":
            card.require_signature_eligibility(stamp.on)
    card.set_certificate_pins(kinds, c.pins_given(), c.pins_set_by, stamp)
    for kind in kinds:
        issue_certificate(cc, kind, stamp, ctx.policies, via="counter")
    return _done(cc)


@handles(cm.RenewCertificates)
def renew_certificates(ctx: Context, c: cm.RenewCertificates) -> Outcome:
    """R38: from the day after expiry − 3 months, or after expiry, free; R39/D04 inside the
    window; R46: the smartphone certificates are not renewed with them."""
    cc = _certificates(ctx, c.card)
    card, stamp = cc.card, ctx.stamp
    kinds = _kinds(c.kinds)
    card.check_certificate_request(kinds, c.filed_by.to_domain(), True, stamp, renewal=True)
    plan = []
    for kind in kinds:
        cert = cc.current(kind)
        if cert is None or cert.expires_on is None or cert.status == "revoked":
            raise RuleViolation(
                "R38",
                f"there is no {kind} certificate to renew",
                hint="issue one instead (issue-certificates, R34)",
            )
        opens = renewal_window_opens(cert.expires_on)
        if cert.live and stamp.on < opens:
            raise RuleViolation(
                "R38",
                f"the {kind} renewal window opens on {opens.isoformat()}",
                hint="renew on or after that day",
            )
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


@handles(cm.RevokeCertificate)
def revoke_certificate(ctx: Context, c: cm.RevokeCertificate) -> Outcome:
    """R42: a revocation request; revoking the card SIG revokes the SP certificates (R47, D10)."""
    cc = _certificates(ctx, c.card)
    cc.card.check_revocation_request(c.filed_by.to_domain(), ctx.stamp)
    if cc.live(c.kind) is None:
        raise RuleViolation("R42", f"the card has no valid {c.kind} certificate")
    if c.kind == "SIG":
        revoke_signature(cc, "request", "R42", ctx.stamp)
    else:
        revoke(cc, c.kind, "request", "R42", ctx.stamp)
    return _done(cc)


def _require_valid_signature(cc: CardCertificates, ctx: Context, sig_pin_confirmed: bool) -> None:
    """R45: smartphone certificates need the card's valid SIG and its PIN."""
    sig = cc.live("SIG")
    if sig is None or not sig.is_valid(ctx.stamp.effective_at):
        raise RuleViolation(
            "R45",
            "smartphone certificates need a valid signature certificate on the card",
            hint="issue a new SIG first (issue-certificates)",
        )
    if not sig_pin_confirmed:
        raise RuleViolation("R45", "the card's signature PIN must be entered")


@handles(cm.IssueSmartphoneCertificates)
def issue_smartphone_certificates(ctx: Context, c: cm.IssueSmartphoneCertificates) -> Outcome:
    """R45: one phone per person: a new phone's certificates revoke the old phone's."""
    cc = _certificates(ctx, c.card)
    card, stamp = cc.card, ctx.stamp
    card.check_smartphone_registration(c.device, any(cc.live(k) for k in SMARTPHONE_KINDS), stamp)
    _require_valid_signature(cc, ctx, c.sig_pin_confirmed)
    for kind in SMARTPHONE_KINDS:
        revoke(cc, kind, "superseded", "R45", stamp)
    card.register_smartphone(c.device, stamp)
    for kind in SMARTPHONE_KINDS:
        issue_certificate(cc, kind, stamp, ctx.policies, via="smartphone", device=c.device)
    return _done(cc)


@handles(cm.SuspendSmartphone)
def suspend_smartphone(ctx: Context, c: cm.SuspendSmartphone) -> Outcome:
    cc = _certificates(ctx, c.card)
    cc.card.suspend_smartphone(any(cc.live(k) for k in SMARTPHONE_KINDS), ctx.stamp)
    return _done(cc)


@handles(cm.LiftSmartphoneSuspension)
def lift_smartphone_suspension(ctx: Context, c: cm.LiftSmartphoneSuspension) -> Outcome:
    cc = _certificates(ctx, c.card)
    cc.card.lift_smartphone_suspension(ctx.stamp)
    return _done(cc)


@handles(cm.RenewSmartphoneCertificates)
def renew_smartphone_certificates(ctx: Context, c: cm.RenewSmartphoneCertificates) -> Outcome:
    """R46: renewed in the app after the card certificates; they follow the new ones."""
    cc = _certificates(ctx, c.card)
    card, stamp = cc.card, ctx.stamp
    if card.smartphone_device is None:
        raise RuleViolation(
            "R46",
            "no phone carries smartphone certificates of this card",
            hint="issue them (issue-smartphone)",
        )
    card.check_smartphone_registration(card.smartphone_device, False, stamp)
    _require_valid_signature(cc, ctx, c.sig_pin_confirmed)
    for kind in SMARTPHONE_KINDS:
        revoke(cc, kind, "superseded", "R46", stamp)
    card.register_smartphone(card.smartphone_device, stamp)
    for kind in SMARTPHONE_KINDS:
        issue_certificate(cc, kind, stamp, ctx.policies, via="smartphone", device=card.smartphone_device)
    return _done(cc)


@handles(cm.SetFaceRecognitionMode)
def set_face_recognition_mode(ctx: Context, c: cm.SetFaceRecognitionMode) -> Outcome:
    cc = _certificates(ctx, c.card)
    auth_live = cc.live("AUTH") is not None
    cc.card.set_face_recognition(c.enabled, c.pins_given(), c.pins_set_by, auth_live, ctx.stamp)
    return _done(cc)


@handles(cm.RecordPinAttempt)
def record_pin_attempt(ctx: Context, c: cm.RecordPinAttempt) -> Outcome:
    card = ctx.card(c.card)
    card.record_pin_attempt(c.pin, c.success, ctx.stamp)
    return Outcome((card,), card)


@handles(cm.ResetPin)
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
    )
    return Outcome((card,), card)


@handles(cm.ChangePin)
def change_pin(ctx: Context, c: cm.ChangePin) -> Outcome:
    card = ctx.card(c.card)
    card.change_pin(c.pin, c.channel, ctx.stamp)
    return Outcome((card,), card)
