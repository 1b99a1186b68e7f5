"""The certificate aggregate (電子証明書): a signature (SIG), user-authentication (AUTH) or
smartphone (SP-SIG, SP-AUTH) certificate, tied to its card.

States: ``active ⇄ on_hold``, then ``revoked`` (reason, RFC 5280 code, effective time) or
``expired``; both terminal. ``is_valid(at)`` answers from the certificate's own history:
false before usable-from, while on hold, at or after revocation, after expiry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import register_topic

from lifecycle.calendar import to_jst, validity_ends_at
from lifecycle.certificate_rules import (
    PERIOD_RULES,
    REVOCATION_REASONS,
    RFC5280_REASON_CODES,
    CertificateKind,
    reason_code,
)
from lifecycle.errors import RuleViolation, TerminalState
from lifecycle.identifiers import certificate_id_for
from lifecycle.stamp import Stamp

LIVE_CERTIFICATE = frozenset({"active", "on_hold"})


@dataclass(frozen=True, slots=True)
class Validity:
    """Whether a certificate is valid at a moment, and why not."""

    valid: bool
    reason: str
    rule: str


class CertificateEvent(Aggregate.Event):
    TOPIC = "mynacard.Certificate.Event"
    effective_at: datetime
    actor: str
    command_id: UUID

    def apply(self, aggregate: Any) -> None:
        self.apply_to(aggregate)

    def apply_to(self, certificate: Certificate) -> None:
        """Mutate the certificate."""


class CertificateIssued(Aggregate.Created):
    """発行: a certificate was issued (R34–R40, R43, R45); ``effective_at`` is the issue time."""

    TOPIC = "mynacard.Certificate.Issued"
    effective_at: datetime
    actor: str
    command_id: UUID
    kind: str
    serial: str
    card_id: UUID
    holder_ref: str
    issue_date: date
    expires_on: date
    usable_from: datetime
    via: str
    fee_yen: int
    face_only: bool
    device: str | None
    replaces_serial: str | None

    def apply(self, aggregate: Any) -> None:
        cert: Certificate = aggregate
        cert.kind = self.kind
        cert.serial = self.serial
        cert.card_id = self.card_id
        cert.holder_ref = self.holder_ref
        cert.issued_at = self.effective_at
        cert.issue_date = self.issue_date
        cert.expires_on = self.expires_on
        cert.usable_from = self.usable_from
        cert.face_only = self.face_only
        cert.device = self.device
        cert.replaces_serial = self.replaces_serial
        cert.status = "active"


class CertificatePutOnHold(CertificateEvent):
    """一時保留: the certificate cannot be used until released (R49 AUTH, R48 SP); RFC 5280
    certificateHold."""

    TOPIC = "mynacard.Certificate.PutOnHold"
    reason: str
    reason_name: str
    reason_code: int

    def apply_to(self, certificate: Certificate) -> None:
        certificate.status = "on_hold"
        certificate.holds.append([self.effective_at, None])


class CertificateReleased(CertificateEvent):
    """保留解除: released from hold (R50, R48); RFC 5280 removeFromCRL."""

    TOPIC = "mynacard.Certificate.Released"
    reason_name: str
    reason_code: int

    def apply_to(self, certificate: Certificate) -> None:
        certificate.status = "active"
        certificate.holds[-1][1] = self.effective_at


class CertificateRevoked(CertificateEvent):
    """失効: revoked with a reason and its RFC 5280 code, from ``effective_at`` on."""

    TOPIC = "mynacard.Certificate.Revoked"
    reason: str
    reason_name: str
    reason_code: int
    rule: str

    def apply_to(self, certificate: Certificate) -> None:
        certificate.status = "revoked"
        certificate.revoked_at = self.effective_at
        certificate.revocation_reason = self.reason
        certificate.reason_name = self.reason_name
        certificate.reason_code = self.reason_code
        certificate.end_rule = self.rule


class CertificateUsageChanged(CertificateEvent):
    """The AUTH certificate's use changed with the card's face-recognition mode (R58): on a
    face-recognition card it is used only with face (or visual) verification."""

    TOPIC = "mynacard.Certificate.UsageChanged"
    face_only: bool

    def apply_to(self, certificate: Certificate) -> None:
        certificate.face_only = self.face_only


class CertificateExpired(CertificateEvent):
    """有効期限満了: the day after the last valid day began (R35–R37, R42)."""

    TOPIC = "mynacard.Certificate.Expired"
    expired_on: date

    def apply_to(self, certificate: Certificate) -> None:
        certificate.status = "expired"
        certificate.end_rule = "R42"


for _cls in (
    CertificateEvent,
    CertificateIssued,
    CertificatePutOnHold,
    CertificateReleased,
    CertificateRevoked,
    CertificateUsageChanged,
    CertificateExpired,
):
    register_topic(_cls.TOPIC, _cls)


class Certificate(Aggregate):
    """電子証明書: one certificate, from issue to revocation or expiry."""

    TOPIC = "mynacard.Certificate"

    class Created(Aggregate.Created):
        TOPIC = "mynacard.Certificate.Created"

    class Event(Aggregate.Event):
        TOPIC = "mynacard.Certificate.BaseEvent"

    def __init__(self) -> None:
        self.kind: str = "SIG"
        self.serial = ""
        self.card_id: UUID | None = None
        self.holder_ref = ""
        self.issued_at: datetime | None = None
        self.issue_date: date | None = None
        self.expires_on: date | None = None
        self.usable_from: datetime | None = None
        self.face_only = False
        self.device: str | None = None
        self.replaces_serial: str | None = None
        self.status = "active"
        self.holds: list[list[datetime | None]] = []
        """[start, end] of each hold (end None while on hold)."""
        self.revoked_at: datetime | None = None
        self.revocation_reason: str | None = None
        self.reason_name: str | None = None
        self.reason_code: int | None = None
        self.end_rule: str | None = None

    @classmethod
    def issue(
        cls,
        *,
        kind: CertificateKind,
        serial: str,
        card_id: UUID,
        holder_ref: str,
        expires_on: date,
        usable_from: datetime,
        via: str,
        stamp: Stamp,
        fee_yen: int = 0,
        face_only: bool = False,
        device: str | None = None,
        replaces_serial: str | None = None,
    ) -> Certificate:
        issue_date = stamp.on
        if expires_on <= issue_date:
            raise RuleViolation(
                "R35",
                f"a {kind} certificate issued on {issue_date.isoformat()} would expire on "
                f"{expires_on.isoformat()}: nothing to issue",
                hint="renew the card first",
            )
        return cls._create(
            CertificateIssued,
            id=certificate_id_for(serial),
            **stamp.event_fields(),
            kind=kind,
            serial=serial,
            card_id=card_id,
            holder_ref=holder_ref,
            issue_date=issue_date,
            expires_on=expires_on,
            usable_from=usable_from,
            via=via,
            fee_yen=fee_yen,
            face_only=face_only,
            device=device,
            replaces_serial=replaces_serial,
        )

    # ------------------------------------------------------------------ questions

    @property
    def live(self) -> bool:
        return self.status in LIVE_CERTIFICATE

    def validity(self, at: datetime) -> Validity:
        """Valid at ``at``? From this certificate's own history (R35–R43, R49)."""
        assert self.usable_from is not None and self.expires_on is not None
        if at < self.usable_from:
            return Validity(False, f"not usable before {to_jst(self.usable_from).isoformat()}", "R43")
        period_rule = PERIOD_RULES.get(self.kind, "R35")
        if at >= validity_ends_at(self.expires_on):
            return Validity(False, f"expired after {self.expires_on.isoformat()}", period_rule)
        if self.revoked_at is not None and at >= self.revoked_at:
            return Validity(
                False, f"revoked ({self.revocation_reason}, {self.reason_name})", self.end_rule or "R42"
            )
        for start, end in self.holds:
            if start is not None and start <= at and (end is None or at < end):
                return Validity(False, "on hold (certificateHold)", "R49")
        return Validity(True, "valid", period_rule)

    def is_valid(self, at: datetime) -> bool:
        return self.validity(at).valid

    # ------------------------------------------------------------------ commands

    def _refuse_if_ended(self, what: str) -> None:
        if not self.live:
            raise TerminalState(
                self.end_rule or "R42",
                f"the {self.kind} certificate {self.serial} is {self.status}: {what} is impossible",
                hint="issue a new certificate",
            )

    def _trigger(self, event_class: type[CertificateEvent], stamp: Stamp, **fields: Any) -> None:
        self.trigger_event(event_class, **stamp.event_fields(), **fields)

    def put_on_hold(self, reason: str, stamp: Stamp) -> None:
        """一時保留 (R49, R48): RFC 5280 certificateHold."""
        self._refuse_if_ended("a hold")
        if self.status == "on_hold":
            raise RuleViolation("R49", f"the {self.kind} certificate is already on hold")
        self._trigger(
            CertificatePutOnHold,
            stamp,
            reason=reason,
            reason_name="certificateHold",
            reason_code=RFC5280_REASON_CODES["certificateHold"],
        )

    def release(self, stamp: Stamp) -> None:
        """保留解除 (R50, R48): RFC 5280 removeFromCRL."""
        self._refuse_if_ended("a release")
        if self.status != "on_hold":
            raise RuleViolation("R50", f"the {self.kind} certificate is not on hold")
        self._trigger(
            CertificateReleased,
            stamp,
            reason_name="removeFromCRL",
            reason_code=RFC5280_REASON_CODES["removeFromCRL"],
        )

    def revoke(self, reason: str, rule: str, stamp: Stamp) -> None:
        """失効 (R41, R42, R47, R49, R51, R58): from ``stamp.effective_at`` on, with its RFC 5280 reason."""
        self._refuse_if_ended("a revocation")
        if reason not in REVOCATION_REASONS:
            raise RuleViolation("R42", f"no revocation reason {reason!r}")
        name, code = reason_code(reason)
        self._trigger(CertificateRevoked, stamp, reason=reason, reason_name=name, reason_code=code, rule=rule)

    def set_face_only(self, face_only: bool, stamp: Stamp) -> None:
        """R58: an AUTH on a face-recognition card is for face-verified use only."""
        self._refuse_if_ended("a change of use")
        if self.kind != "AUTH" or self.face_only == face_only:
            return
        self._trigger(CertificateUsageChanged, stamp, face_only=face_only)

    def due_expiry(self, today: date) -> bool:
        return self.live and self.expires_on is not None and today > self.expires_on

    def expire(self, stamp: Stamp, until: date | None = None) -> None:
        """Record the expiry once its last valid day has passed by ``until`` (default: the
        recorded date) (R42)."""
        assert self.expires_on is not None
        self._refuse_if_ended("an expiry")
        if not self.due_expiry(min(until or stamp.today, stamp.today)):
            raise RuleViolation("R42", f"the certificate is valid until {self.expires_on.isoformat()}")
        ends = validity_ends_at(self.expires_on)
        self._trigger(CertificateExpired, stamp.effective(ends), expired_on=ends.date())
