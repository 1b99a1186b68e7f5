"""The write side's adapter to the card→certificate consequences (R34, R41, R47–R51, R58).

The rules are pure domain code in ``lifecycle.card_certificates``; the application (and a
handler's context) implement its port, ``CertificateStore``, with their ``load_certificate``
(a repository read). The command handler runs ``react`` after the card acts, on the card's
new events, and saves the card and every certificate they touched in one ``save``.

Formerly ``commands.policies`` (renamed: ``Policies`` are the spec's D-decisions,
``lifecycle.decisions``; the library's "policy" is a process application's, neither of these).

May import: ``lifecycle``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lifecycle.card_certificates import (
    CardCertificates,
    CertificateStore,
    follow_card_events,
    issue_certificate,
    live_at,
    renewal_birthdays,
    revoke,
    revoke_all,
    revoke_signature,
)
from lifecycle.decisions import Policies
from lifecycle.stamp import Stamp

CertificateSource = CertificateStore
"""What loads the card's certificates: the application, or a handler's context."""


def react(cc: CardCertificates, events: Sequence[Any], stamp: Stamp, policies: Policies) -> None:
    """Apply the certificate consequences of the card's new ``events``, in order."""
    follow_card_events(cc, events, stamp, policies)


__all__ = [
    "CardCertificates",
    "CertificateSource",
    "issue_certificate",
    "live_at",
    "react",
    "renewal_birthdays",
    "revoke",
    "revoke_all",
    "revoke_signature",
]
