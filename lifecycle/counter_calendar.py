"""The municipality's counter calendar and pickup reservations (R59: configuration, not domain
invariants). The settings live in ``Policies`` (``MYNACARD_POLICIES__…``); this module only
evaluates them, purely, for the card's handover and reservation procedures.

- Closed days: 年末年始 (12-29 to 01-03) when ``counter_closed_new_year``; the day after the 3rd
  Saturday of the month (Niigata's monthly closing, 002) when
  ``counter_closed_day_after_third_saturday``. Both off by default: the service does not assume a
  municipality's calendar.
- Reservations (予約, 002/003): a booked day at most ``pickup_reservation_days_ahead`` days ahead
  (Niigata: 30), and not the day of booking unless ``pickup_reservation_same_day``.

May import: the standard library, ``lifecycle.errors`` and ``lifecycle.decisions``.
"""

from __future__ import annotations

from datetime import date, timedelta

from lifecycle.decisions import Policies
from lifecycle.errors import RuleViolation


def third_saturday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(5 - first.weekday()) % 7 + 14)


def closed_because(day: date, policies: Policies) -> str | None:
    """Why the counter is closed on ``day`` under the configuration, or None if it is open."""
    if policies.counter_closed_new_year and (
        (day.month, day.day) >= (12, 29) or (day.month, day.day) <= (1, 3)
    ):
        return "the New Year holidays (年末年始, 12-29 to 01-03)"
    if policies.counter_closed_day_after_third_saturday and day == third_saturday(
        day.year, day.month
    ) + timedelta(days=1):
        return "the day after the 3rd Saturday (monthly closing)"
    return None


def check_counter_open(day: date, policies: Policies, procedure: str) -> None:
    reason = closed_because(day, policies)
    if reason is not None:
        raise RuleViolation(
            "R59",
            f"the counter is closed on {day.isoformat()} ({reason}): no {procedure} that day",
            hint="choose another day; the closed days are municipal settings (mynacard policies)",
        )


def check_reservation(booked_on: date, reserved_for: date, policies: Policies) -> None:
    """R59 (Niigata 002): booking window and closed days of a pickup reservation."""
    if reserved_for < booked_on:
        raise RuleViolation("R59", "a pickup cannot be reserved for a day that has passed")
    if reserved_for == booked_on and not policies.pickup_reservation_same_day:
        raise RuleViolation(
            "R59", "no same-day reservation (当日予約不可)", hint="reserve from tomorrow, or come without one"
        )
    last = booked_on + timedelta(days=policies.pickup_reservation_days_ahead)
    if reserved_for > last:
        raise RuleViolation(
            "R59",
            f"a pickup is reserved at most {policies.pickup_reservation_days_ahead} days ahead "
            f"(until {last.isoformat()})",
        )
    check_counter_open(reserved_for, policies, "pickup")
