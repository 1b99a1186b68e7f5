"""The spec's decisions (D01–D13, spec §Decisions): the ones marked "policy" as typed settings
(``Policies``), in one place.

Decisions that are not policy (D06, D08, D10, D12, D13) are fixed by the rules and live
beside them; they are listed here as constants so there is one page to read. (Formerly
``policies``: renamed, since the word also named the write side's card→certificate
consequences, now ``commands.consequences``.)

May import: the standard library and ``lifecycle.calendar``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from lifecycle.calendar import Feb29Birthday

AgeMeasuredOn = Literal["issue_date", "acceptance_date"]
RenewedCardValidity = Literal["plain", "plus_one_birthday"]
RenewedCertificateValidity = Literal["fifth", "sixth"]
SuspensionEffect = Literal["revoke_sig_hold_auth", "revoke_both"]
FeeDueBy = Literal["application", "handover"]
SignatureRevocationTiming = Literal["immediate", "next_day"]

MOVE_IN_DAYS_AFTER_MOVING_IN = 14
"""D06 / R29: filing on day +14 after moving in is in time, day +15 is late."""
MOVE_IN_DAYS_AFTER_PLANNED_MOVE_OUT = 30
"""R28: the 転入届 must be filed within 30 days after the planned move-out date."""
CARD_INFO_CHANGE_DAYS_AFTER_MOVE_IN = 90
"""R30: the card-info change must follow the 転入届 within 90 days."""
ADULT_LINE_CHANGE = (2022, 4, 1)
"""R05: applications accepted by J-LIS on or after 2022-04-01 use the age line 18, before it 20."""


MIN_UNCOLLECTED_MONTHS, MAX_UNCOLLECTED_MONTHS = 1, 120
"""D11's range: a period beyond 10 years would outlive the card it applies to."""
MAX_FORGET_AFTER_DAYS = 36_500
"""Issue 13: a retention beyond 100 years would outlive the person."""


@dataclass(frozen=True, slots=True)
class Policies:
    """The service's policy settings, with the spec's defaults (spec §Decisions)."""

    feb29_birthday: Feb29Birthday = "feb28"
    """D01: the birthday of someone born on 02-29 in a common year (R21)."""
    age_measured_on: AgeMeasuredOn = "issue_date"
    """D02: the date on which the age is measured against the adult line (R05, R06)."""
    renewed_card_validity: RenewedCardValidity = "plain"
    """D03: validity of a card renewed inside its 3-month window (R26)."""
    renewed_certificate_validity: RenewedCertificateValidity = "fifth"
    """D04: validity of a certificate renewed inside its window (R39)."""
    suspension_effect: SuspensionEffect = "revoke_sig_hold_auth"
    """D05: what a suspension does to the certificates (R49, R50)."""
    fee_due_by: FeeDueBy = "handover"
    """D07: the latest point at which an assessed reissue fee must be settled (R08)."""
    signature_revocation_timing: SignatureRevocationTiming = "immediate"
    """D09: when a card-information change revokes the signature certificate (R41)."""
    uncollected_months_after_notice: int = 12
    """D11: an uncollected card lapses this many months after the pickup notice (R13) ..."""
    uncollected_months_after_reminder: int = 3
    """D11: ... or this many months after a reminder, whichever is later."""
    counter_closed_new_year: bool = False
    """R59 (municipal): the counter is closed over the New Year holidays (12-29 to 01-03)."""
    counter_closed_day_after_third_saturday: bool = False
    """R59 (municipal, Niigata 002): the counter is closed on the day after the 3rd Saturday."""
    pickup_reservation_days_ahead: int = 30
    """R59 (municipal, Niigata 002): a pickup is reserved at most this many days ahead."""
    pickup_reservation_same_day: bool = False
    """R59 (municipal, Niigata 002): whether a pickup may be reserved for the same day."""
    forget_after_days: int = 90
    """Retention (issue 13, not a spec decision): ``mynacard forget`` (消去) is allowed this many
    days after the person's last card ended, not before. Default 90: an end is an administrative
    disposition the person may contest for 3 months after learning of it (行政不服審査法 §18),
    and a mistaken end (a wrong death record, R64) must still be traceable to the person while it
    can be contested; erasure cannot be undone. An assumption: check the municipality's own
    retention rules (文書管理規程) before shortening or lengthening it."""

    def __post_init__(self) -> None:
        if not 0 <= self.forget_after_days <= MAX_FORGET_AFTER_DAYS:
            raise ValueError(
                f"forget_after_days is a whole number of days from 0 to {MAX_FORGET_AFTER_DAYS} (issue 13)"
            )
        if not 0 <= self.pickup_reservation_days_ahead <= 366:
            raise ValueError("R59: pickup_reservation_days_ahead is a whole number of days from 0 to 366")
        for months in (self.uncollected_months_after_notice, self.uncollected_months_after_reminder):
            if not MIN_UNCOLLECTED_MONTHS <= months <= MAX_UNCOLLECTED_MONTHS:
                raise ValueError(
                    f"D11: the uncollected-card periods are whole months from {MIN_UNCOLLECTED_MONTHS} "
                    f"to {MAX_UNCOLLECTED_MONTHS}"
                )

    def as_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


DEFAULT_POLICIES = Policies()


__all__ = [
    "ADULT_LINE_CHANGE",
    "CARD_INFO_CHANGE_DAYS_AFTER_MOVE_IN",
    "DEFAULT_POLICIES",
    "MAX_UNCOLLECTED_MONTHS",
    "MIN_UNCOLLECTED_MONTHS",
    "MOVE_IN_DAYS_AFTER_MOVING_IN",
    "MOVE_IN_DAYS_AFTER_PLANNED_MOVE_OUT",
    "AgeMeasuredOn",
    "FeeDueBy",
    "Policies",
    "RenewedCardValidity",
    "RenewedCertificateValidity",
    "SignatureRevocationTiming",
    "SuspensionEffect",
]
