"""Certificate status as a relying party or clerk asks it: state, usable-from, expiry, revocation
time, reason and RFC 5280 code, and validity at a moment."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from lifecycle.card import Card
from lifecycle.certificate import Certificate
from lifecycle.certificate_issuance import renewal_window
from lifecycle.certificate_rules import JAPANESE
from lifecycle.certificate_validity import certificate_validity
from projections.event_json import jsonable


@dataclass(frozen=True, slots=True)
class CertificateStatus:
    serial: str
    kind: str
    name: str
    card_id: str
    status: str
    issued_at: datetime | None
    usable_from: datetime | None
    expires_on: date | None
    revoked_at: datetime | None
    revocation_reason: str | None
    reason_name: str | None
    reason_code: int | None
    device: str | None
    face_only: bool
    at: datetime
    valid_at: bool
    why: str
    rule: str
    renewal_window: dict[str, str] | None = None
    """R38: ``{opens_on, closes_on}`` for a SIG or AUTH that can be renewed; None for a revoked
    or a smartphone certificate (``lifecycle.certificate_issuance.renewal_window``)."""

    def as_dict(self) -> dict[str, Any]:
        return {k: jsonable(v) for k, v in asdict(self).items()}


def certificate_status(cert: Certificate, at: datetime, card: Card | None = None) -> CertificateStatus:
    """The certificate's state and whether it is valid at ``at`` (with its card, when given)."""
    validity = certificate_validity(cert, card, at)
    return CertificateStatus(
        serial=cert.serial,
        kind=cert.kind,
        name=JAPANESE.get(cert.kind, cert.kind),
        card_id=str(cert.card_id),
        status=cert.status,
        issued_at=cert.issued_at,
        usable_from=cert.usable_from,
        expires_on=cert.expires_on,
        revoked_at=cert.revoked_at,
        revocation_reason=cert.revocation_reason,
        reason_name=cert.reason_name,
        reason_code=cert.reason_code,
        device=cert.device,
        face_only=cert.face_only,
        at=at,
        valid_at=validity.valid,
        why=validity.reason,
        rule=validity.rule,
        renewal_window=_renewal_window(cert, card),
    )


def _renewal_window(cert: Certificate, card: Card | None) -> dict[str, str] | None:
    """R38's window, unless the card has ended (nothing on it is renewed any more, R47)."""
    window = renewal_window(cert) if card is None or card.ended is None else None
    return window.as_dict() if window is not None else None
