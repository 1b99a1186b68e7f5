"""Validity arithmetic of the card (有効期限): R05, R06, R19–R26.

Pure functions: the aggregate calls them when J-LIS produces the card and stores the result
on the event, so replaying old events never depends on today's policies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lifecycle.calendar import add_months, age_on, nth_birthday_after
from lifecycle.decisions import ADULT_LINE_CHANGE, Policies

STAY_CAP_EXEMPT_STATUSES = frozenset(
    {"permanent_resident", "highly_skilled_professional_2", "special_permanent_resident"}
)
"""R22: residence statuses whose card is not capped by a stay expiry (永住者, 高度専門職2号, 特別永住者)."""

SPECIAL_EXTENSION_MONTHS = 2
"""R24: a pending stay renewal extends the card once by two months."""


def adult_line(accepted_on: date) -> int:
    """R05: the adult/minor line is 18 for applications J-LIS accepted on or after 2022-04-01, else 20."""
    return 18 if accepted_on >= date(*ADULT_LINE_CHANGE) else 20


def is_adult(dob: date, *, accepted_on: date, issue_date: date, policies: Policies) -> bool:
    """R05 chooses the line by the acceptance date; R06 / D02 chooses the day the age is measured."""
    measured_on = issue_date if policies.age_measured_on == "issue_date" else accepted_on
    return age_on(dob, measured_on) >= adult_line(accepted_on)


def stay_cap(residence_status: str | None, stay_until: date | None) -> date | None:
    """R22: the stay-expiry date that caps the card, or None for Japanese nationals and exempt statuses."""
    if residence_status is None or residence_status in STAY_CAP_EXEMPT_STATUSES:
        return None
    return stay_until


@dataclass(frozen=True, slots=True)
class CardValidity:
    """How long a card produced on ``issue_date`` is valid, and why."""

    expires_on: date
    """The last day the card is valid (valid through 23:59:59 JST)."""
    age_based_expires_on: date
    """The 10th (5th) birthday after issue: the expiry before any stay cap; caps R23 extensions."""
    adult: bool
    age_line: int
    birthdays: int
    """How many birthdays after the issue date the card runs (10, 5, or 11/6 under D03)."""
    capped_by_stay: bool


def card_validity(
    dob: date,
    *,
    issue_date: date,
    accepted_on: date,
    residence_status: str | None,
    stay_until: date | None,
    renews_card_expiring_on: date | None,
    policies: Policies,
) -> CardValidity:
    """R19: adult → 10th birthday after the issue date, minor → 5th; R21 (D01) for 02-29;
    R22: capped by the stay expiry; R26 (D03): a renewal produced before the old card
    expires may run one birthday longer under the ``plus_one_birthday`` policy."""
    adult = is_adult(dob, accepted_on=accepted_on, issue_date=issue_date, policies=policies)
    birthdays = 10 if adult else 5
    renewed_in_window = renews_card_expiring_on is not None and issue_date <= renews_card_expiring_on
    if renewed_in_window and policies.renewed_card_validity == "plus_one_birthday":
        birthdays += 1
    age_based = nth_birthday_after(dob, issue_date, birthdays, policies.feb29_birthday)
    cap = stay_cap(residence_status, stay_until)
    capped = cap is not None and cap < age_based
    return CardValidity(
        expires_on=cap if capped and cap is not None else age_based,
        age_based_expires_on=age_based,
        adult=adult,
        age_line=adult_line(accepted_on),
        birthdays=birthdays,
        capped_by_stay=capped,
    )


def extended_stay_expiry(new_stay_until: date, age_based_expires_on: date) -> date:
    """R23: the card runs to the new stay end, capped at the 10th (5th) birthday after the
    original issue date."""
    return min(new_stay_until, age_based_expires_on)


def special_extension_expiry(current_expires_on: date) -> date:
    """R24: current expiry plus two months, clamped to the month's end."""
    return add_months(current_expires_on, SPECIAL_EXTENSION_MONTHS)
