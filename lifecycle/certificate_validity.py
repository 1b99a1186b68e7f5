"""Is a certificate valid at a moment? Its own history (usable-from, holds, revocation, expiry:
``Certificate.validity``) and, on top, its card: when time has already ended the card (R19,
R22, R27, R28, R30) but nobody recorded it yet, nothing on the card is valid (R47)."""

from __future__ import annotations

from datetime import datetime

from lifecycle.card import Card
from lifecycle.certificate import Certificate, Validity


def certificate_validity(cert: Certificate, card: Card | None, at: datetime) -> Validity:
    own = cert.validity(at)
    if not own.valid or card is None:
        return own
    lapse = card.unrecorded_end(at)
    if lapse is not None:
        return Validity(
            False,
            f"its card lost its effect on {lapse.effective_at.isoformat()} "
            f"({lapse.detail}, not recorded yet)",
            lapse.rule,
        )
    return own
