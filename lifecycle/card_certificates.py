"""What a card's events do to its certificates (R34, R41, R47–R51, R58): given the card's new
events and the card's certificates, the certificate events that follow — an address or other
card-information change revokes the SIG (D09 says when), a suspension revokes the SIG and puts
the AUTH on hold (D05), a lost, returned, invalidated or superseded card takes every
certificate with it, an expired one expires them, the handover issues them (AUTH before SIG).

Pure domain code. The certificates are loaded through a small port, ``CertificateStore``,
which the write side implements (``commands.consequences``); the caller saves the card and every
certificate in ``CardCertificates.changed`` in one transaction, so a relying party never sees
a card changed without its certificates.

May import: the standard library and ``lifecycle`` (card, certificate, certificate_rules,
calendar, decisions, identifiers, stamp).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol
from uuid import UUID

from lifecycle.calendar import start_of_day
from lifecycle.card import Card
from lifecycle.card import events as ev
from lifecycle.certificate import Certificate
from lifecycle.certificate_rules import (
    CARD_COUNTERPART,
    SMARTPHONE_KINDS,
    CertificateKind,
    birthdays_for,
    certificate_expiry,
    usable_from,
)
from lifecycle.decisions import Policies
from lifecycle.identifiers import certificate_id_for, certificate_serial
from lifecycle.stamp import Stamp


class CertificateStore(Protocol):
    """The port: load a certificate the card names (None when there is none)."""

    def load_certificate(self, certificate_id: UUID) -> Certificate | None: ...


@dataclass
class CardCertificates:
    """One card's current certificates, loaded on demand; remembers every certificate touched."""

    card: Card
    source: CertificateStore
    _loaded: dict[str, Certificate | None] = field(default_factory=dict)
    changed: dict[UUID, Certificate] = field(default_factory=dict)

    def current(self, kind: str) -> Certificate | None:
        if kind not in self._loaded:
            cert_id = self.card.certificates.get(kind)
            self._loaded[kind] = self.source.load_certificate(cert_id) if cert_id else None
        return self._loaded[kind]

    def live(self, kind: str) -> Certificate | None:
        cert = self.current(kind)
        return cert if cert is not None and cert.live else None

    def all_live(self) -> list[Certificate]:
        return [c for kind in ("SIG", "AUTH", "SP-SIG", "SP-AUTH") if (c := self.live(kind)) is not None]

    def touch(self, cert: Certificate) -> Certificate:
        self.changed[cert.id] = cert
        self._loaded[cert.kind] = cert
        return cert


def issue_certificate(
    cc: CardCertificates,
    kind: CertificateKind,
    stamp: Stamp,
    policies: Policies,
    *,
    via: str,
    fee_yen: int = 0,
    device: str | None = None,
    birthdays: int = 5,
) -> Certificate:
    """Issue one certificate onto the card: expiry by R35–R37/R39/R46, usable-from by R43."""
    card = cc.card
    assert card.expires_on is not None
    if kind == "SIG":
        card.require_signature_eligibility(stamp.on)
    previous = cc.current(kind)
    counterpart = None
    if kind in SMARTPHONE_KINDS:
        base = cc.live(CARD_COUNTERPART[kind]) or cc.live("SIG")
        counterpart = base.expires_on if base is not None else None
    auth = cc.live("AUTH")
    expires_on = certificate_expiry(
        kind,
        dob=card.date_of_birth,
        issue_date=stamp.on,
        card_expires_on=card.expires_on,
        auth_expires_on=auth.expires_on if kind == "SIG" and auth is not None else None,
        counterpart_expires_on=counterpart,
        birthdays=birthdays,
        policies=policies,
    )
    serial = certificate_serial(card.id, kind, card.certificate_sequence.get(kind, 0) + 1)
    cert = Certificate.issue(
        kind=kind,
        serial=serial,
        card_id=card.id,
        holder_ref=card.holder_ref,
        expires_on=expires_on,
        usable_from=usable_from(kind, stamp.effective_at),
        via=via,
        stamp=stamp,
        fee_yen=fee_yen,
        face_only=kind == "AUTH" and card.face_recognition_card,
        device=device,
        replaces_serial=previous.serial if previous is not None else None,
    )
    card.add_certificate(kind, serial, certificate_id_for(serial), stamp)
    return cc.touch(cert)


def _still_valid(cc: CardCertificates, cert: Certificate, stamp: Stamp) -> bool:
    """A certificate whose expiry has passed by the effective date is not revoked or held: its
    expiry is recorded instead (R42), and nothing else happens to it."""
    if cert.expires_on is not None and stamp.on > cert.expires_on:
        cert.expire(stamp)
        cc.touch(cert)
        return False
    return True


def live_at(cc: CardCertificates, kind: str, stamp: Stamp) -> Certificate | None:
    """The certificate of ``kind`` that is live at the stamp's effective date, if any."""
    cert = cc.live(kind)
    return cert if cert is not None and _still_valid(cc, cert, stamp) else None


def revoke(cc: CardCertificates, kind: str, reason: str, rule: str, stamp: Stamp) -> Certificate | None:
    """Revoke the live certificate of ``kind``, if any."""
    cert = live_at(cc, kind, stamp)
    if cert is None:
        return None
    cert.revoke(reason, rule, stamp)
    return cc.touch(cert)


def revoke_signature(cc: CardCertificates, reason: str, rule: str, stamp: Stamp) -> None:
    """Revoke the card SIG and, with it, the smartphone certificates (R47, D10)."""
    revoke(cc, "SIG", reason, rule, stamp)
    for kind in SMARTPHONE_KINDS:
        revoke(cc, kind, "signature_certificate_revoked", "R47", stamp)


def revoke_all(cc: CardCertificates, reason: str, rule: str, stamp: Stamp) -> None:
    """Every live certificate of the card ends with it (R47)."""
    for cert in cc.all_live():
        if _still_valid(cc, cert, stamp):
            cert.revoke(reason, rule, stamp)
            cc.touch(cert)


def _signature_revocation_stamp(event: ev.CardEvent, stamp: Stamp, policies: Policies) -> Stamp:
    """D09: the 4-info change revokes SIG when the notification is accepted, or the next day."""
    if policies.signature_revocation_timing == "next_day":
        return stamp.effective(start_of_day(event.effective_at.date() + timedelta(days=1)))
    return stamp.effective(event.effective_at)


_END_REASONS = {
    "death": ("death", "R32"),
    "my_number_changed": ("my_number_changed", "R31"),
    "resident_code_changed": ("resident_code_changed", "R31"),
}


def follow_card_events(cc: CardCertificates, events: Sequence[Any], stamp: Stamp, policies: Policies) -> None:
    """The certificate consequences of the card's new ``events``, in order: each touched
    certificate triggers its own events and is remembered in ``cc.changed``."""
    for e in events:
        at = stamp.effective(e.effective_at) if hasattr(e, "effective_at") else stamp
        if isinstance(e, ev.Issued):
            _issue_at_handover(cc, e, at, policies)
        elif isinstance(e, ev.Suspended):
            if policies.suspension_effect == "revoke_both":
                revoke(cc, "AUTH", "suspended", "R49", at)
            elif (auth := live_at(cc, "AUTH", at)) is not None and auth.status == "active":
                auth.put_on_hold("suspended", at)
                cc.touch(auth)
            revoke_signature(cc, "suspended", "R49", at)
        elif isinstance(e, ev.SuspensionLifted):
            auth = live_at(cc, "AUTH", at)
            if auth is not None and auth.status == "on_hold":
                auth.release(at)
                cc.touch(auth)
        elif isinstance(e, ev.CardInformationChanged):
            revoke_signature(
                cc, "card_information_changed", "R41", _signature_revocation_stamp(e, stamp, policies)
            )
        elif isinstance(e, ev.MoveInFiled) or (isinstance(e, ev.MovedOut) and e.overseas):
            revoke_signature(cc, "moved", "R41", _signature_revocation_stamp(e, stamp, policies))
        elif isinstance(e, ev.FaceRecognitionModeSet):
            if e.enabled:
                revoke_signature(cc, "face_recognition_card", "R58", at)
            if (auth := live_at(cc, "AUTH", at)) is not None:
                auth.set_face_only(e.enabled, at)
                cc.touch(auth)
        elif isinstance(e, ev.Lost):
            revoke_all(cc, "lost", "R51" if e.replaced_by is None else "R62", at)
        elif isinstance(e, ev.Superseded):
            revoke_all(cc, "superseded", "R47", at)
        elif isinstance(e, ev.Returned):
            if e.replaced_by is None:
                revoke_all(cc, "card_ended", "R52", at)
            else:
                revoke_all(cc, "superseded", "R62", at)
        elif isinstance(e, ev.Invalidated):
            reason, rule = _END_REASONS.get(e.reason, ("card_ended", "R47"))
            revoke_all(cc, reason, rule, at)
        elif isinstance(e, ev.Expired):
            _expire_with_card(cc, at)
        elif isinstance(e, ev.SmartphoneSuspended):
            for kind in SMARTPHONE_KINDS:
                if (cert := live_at(cc, kind, at)) is not None and cert.status == "active":
                    cert.put_on_hold("phone_lost", at)
                    cc.touch(cert)
        elif isinstance(e, ev.SmartphoneSuspensionLifted):
            if (sp_auth := live_at(cc, "SP-AUTH", at)) is not None and sp_auth.status == "on_hold":
                sp_auth.release(at)
                cc.touch(sp_auth)
            old_sig = revoke(cc, "SP-SIG", "superseded", "R48", at)
            if old_sig is not None:
                issue_certificate(cc, "SP-SIG", at, policies, via="smartphone", device=old_sig.device)


def _issue_at_handover(cc: CardCertificates, e: ev.Issued, stamp: Stamp, policies: Policies) -> None:
    """R34: the certificates are issued with the card unless declined; AUTH first, since SIG
    is capped by it (R36). The certificate part of a fault reissue's fee rides on them (R10)."""
    fee = cc.card.certificate_fee_yen
    for kind in e.certificates:
        issue_certificate(cc, kind, stamp, policies, via="card_issue", fee_yen=fee)  # type: ignore[arg-type]
        fee = 0


def _expire_with_card(cc: CardCertificates, stamp: Stamp) -> None:
    """The card expired: its certificates, which never outlive it, expire too (R47)."""
    for cert in cc.all_live():
        if cert.due_expiry(stamp.today):
            cert.expire(stamp)
        else:
            cert.revoke("card_expired", "R47", stamp)
        cc.touch(cert)


def renewal_birthdays(cert: Certificate | None, stamp: Stamp, policies: Policies) -> int:
    """R39 / D04: a renewal inside the window, before expiry, may run one birthday longer."""
    in_window = cert is not None and cert.live and cert.expires_on is not None and stamp.on <= cert.expires_on
    return birthdays_for(in_window, policies)
