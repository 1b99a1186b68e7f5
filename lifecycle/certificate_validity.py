"""Is a certificate valid at a moment? Its own history (usable-from, holds, revocation, expiry:
``Certificate.validity``) and, on top, its card: when time has already ended the card (R19,
R22, R27, R28, R30) but nobody recorded it yet, nothing on the card is valid (R47); and when the
card's recorded end took effect earlier than the certificate's own revocation (a loss reported
late, backdated before an earlier revocation for another cause), the card's end counts from its
effective time (R47, R51).

May import: ``lifecycle`` (certificate, card.state, card.lapses)."""

from __future__ import annotations

from datetime import datetime

from lifecycle.card.lapses import unrecorded_end
from lifecycle.card.state import CardState
from lifecycle.certificate import Certificate, Validity


def certificate_validity(cert: Certificate, card: CardState | None, at: datetime) -> Validity:
    own = cert.validity(at)
    if not own.valid or card is None:
        return own
    ended = card.ended
    if ended is not None and ended.at <= at:
        return Validity(
            False,
            f"its card was {ended.status} on {ended.at.isoformat()}"
            f"{f' ({ended.reason})' if ended.reason else ''}",
            ended.rule,
        )
    lapse = unrecorded_end(card, at)
    if lapse is not None:
        return Validity(
            False,
            f"its card lost its effect on {lapse.effective_at.isoformat()} "
            f"({lapse.detail}, not recorded yet)",
            lapse.rule,
        )
    return own
