"""Fees (手数料): R07–R10. One function computes the fee of an application from its case.

The fee is assessed when the application is submitted (and again at handover when a no-fault
reissue turns into a charged one because the old card was not brought, R07); when it must be
settled is policy D07 (R08).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lifecycle.errors import UncoveredCase

CARD_REISSUE_FEE_YEN = 800
"""R07: a card reissued for a cause that is the holder's fault."""
CERTIFICATE_REISSUE_FEE_YEN = 200
"""R07, R10: added when that reissue includes electronic certificates."""

ApplicationKind = Literal["new", "renewal", "reissue"]

FAULT_REISSUE_REASONS = frozenset(
    {
        "loss",  # R07, R51: lost or stolen
        "damage",  # R07: broken by the holder
        "voluntary_return",  # R52: the holder's choice counts as fault (松本市)
        "stay_expired",  # R09: validity lapsed with the stay
        "missed_moving_deadline",  # R09: 継続利用できないカード (R28-R30)
    }
)
NO_FAULT_REISSUE_REASONS = frozenset(
    {
        "my_number_changed",  # R07, R31
        "card_defect",  # R07: not the holder's fault
        "notes_field_full",  # R33: always free
        "disaster_noto_2024",  # R07: 能登半島地震, free with a 罹災証明書
    }
)
REISSUE_REASONS = FAULT_REISSUE_REASONS | NO_FAULT_REISSUE_REASONS


@dataclass(frozen=True, slots=True)
class Fee:
    """An assessed fee and the rule that sets it."""

    amount_yen: int
    card_yen: int
    certificate_yen: int
    fault: bool
    reason: str
    rule: str

    def as_dict(self) -> dict[str, object]:
        return {
            "amount_yen": self.amount_yen,
            "card_yen": self.card_yen,
            "certificate_yen": self.certificate_yen,
            "fault": self.fault,
            "reason": self.reason,
            "rule": self.rule,
        }


def _free(reason: str, rule: str) -> Fee:
    return Fee(0, 0, 0, fault=False, reason=reason, rule=rule)


def _charged(reason: str, rule: str, with_certificates: bool) -> Fee:
    cert = CERTIFICATE_REISSUE_FEE_YEN if with_certificates else 0
    return Fee(CARD_REISSUE_FEE_YEN + cert, CARD_REISSUE_FEE_YEN, cert, True, reason, rule)


def assess_application_fee(
    kind: ApplicationKind,
    *,
    reissue_reason: str | None,
    with_certificates: bool,
    previous_card_expired_by_stay: bool = False,
    disaster_certificate: bool = False,
) -> Fee:
    """The fee of an application (R07–R10).

    - a first card is free (R07);
    - a renewal is free, also after expiry (R07), unless the old card lapsed with the
      holder's stay: then it is reissued for a fee (R09);
    - a reissue for a cause that is the holder's fault costs ¥800, plus ¥200 when it
      includes certificates (R07, R10); R09 causes count as fault;
    - a no-fault reissue, an additional-notes-field-full reissue (R33) and a Noto-earthquake
      reissue with a 罹災証明書 are free (R07).
    """
    if kind == "new":
        return _free("first_card", "R07")
    if kind == "renewal":
        if previous_card_expired_by_stay:
            return _charged("stay_expired", "R09", with_certificates)
        return _free("renewal", "R07")
    if reissue_reason is None:
        raise UncoveredCase("R07", "a reissue needs a reason to assess its fee")
    if reissue_reason == "disaster_noto_2024":
        if disaster_certificate:
            return _free(reissue_reason, "R07")
        return _charged("loss", "R07", with_certificates)
    if reissue_reason == "notes_field_full":
        return _free(reissue_reason, "R33")
    if reissue_reason in NO_FAULT_REISSUE_REASONS:
        return _free(reissue_reason, "R07")
    if reissue_reason in {"stay_expired", "missed_moving_deadline"}:
        return _charged(reissue_reason, "R09", with_certificates)
    if reissue_reason in FAULT_REISSUE_REASONS:
        return _charged(reissue_reason, "R07", with_certificates)
    raise UncoveredCase(
        "R07",
        f"no fee rule covers the reissue reason {reissue_reason!r}",
        hint=f"use one of: {', '.join(sorted(REISSUE_REASONS))}",
    )


def assess_handover_fee(
    *, application_fee: Fee, old_card_brought: bool, with_certificates: bool
) -> Fee | None:
    """R07: a no-fault reissue is charged as a fault reissue when the old card is not brought
    at receipt. Returns the additional assessment, or None when nothing changes."""
    if application_fee.fault or old_card_brought:
        return None
    if application_fee.reason in {"card_defect", "my_number_changed"}:
        return _charged("old_card_not_brought", "R07", with_certificates)
    return None
