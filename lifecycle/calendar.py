"""Calendar arithmetic of the rules, as small pure functions.

Every date is a calendar date in Japan Standard Time (D13). Nothing here reads a clock.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Literal

import jpholiday
from dateutil.relativedelta import relativedelta

JST_OFFSET = timedelta(hours=9)
JST = timezone(JST_OFFSET, "JST")
"""D13: every date and time is Japan Standard Time, UTC+09:00 (日本標準時), as a fixed offset.

Not ``ZoneInfo("Asia/Tokyo")``: its history gives local mean time (+09:18:59) before 1888 and
summer time (+10:00) in 1948–1951, so a date of those years would start at another offset than
every other. Stored times carry their offset ("+09:00") and read back as the same instants."""

Feb29Birthday = Literal["feb28", "mar1"]


def to_jst(moment: datetime) -> datetime:
    """The same instant, expressed in JST. Naive datetimes are read as JST (D13). A time already
    at +09:00 (one read back from the store) only takes the JST zone: no conversion through UTC,
    which does not exist before 0001-01-01T09:00 JST."""
    if moment.tzinfo is None or moment.utcoffset() == JST_OFFSET:
        return moment.replace(tzinfo=JST)
    return moment.astimezone(JST)


def start_of_day(day: date) -> datetime:
    """00:00 JST on ``day``."""
    return datetime.combine(day, time(0, 0), tzinfo=JST)


def jst_date(moment: datetime) -> date:
    """The JST calendar date of an instant."""
    return to_jst(moment).date()


def birthday_in_year(dob: date, year: int, feb29: Feb29Birthday = "feb28") -> date:
    """The birthday of a person born on ``dob`` in ``year`` (R21, policy D01 for 02-29)."""
    if dob.month == 2 and dob.day == 29:
        try:
            return date(year, 2, 29)
        except ValueError:
            return date(year, 2, 28) if feb29 == "feb28" else date(year, 3, 1)
    return date(year, dob.month, dob.day)


def nth_birthday_after(dob: date, after: date, n: int, feb29: Feb29Birthday = "feb28") -> date:
    """The ``n``-th birthday strictly after ``after`` (発行日後のN回目の誕生日; spec §1A, R19, R21).

    A birthday falling on ``after`` itself does not count.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    first = birthday_in_year(dob, after.year, feb29)
    first_year = after.year if first > after else after.year + 1
    return birthday_in_year(dob, first_year + n - 1, feb29)


def age_on(dob: date, day: date) -> int:
    """Age in whole years on ``day`` (年齢計算ニ関スル法律, 民法143条).

    A person gains a year at the end of the day before the anniversary, so on the birthday
    itself the new age holds. Someone born on 02-29 gains it at the end of 02-28 in common
    years, i.e. holds it from 03-01: exactly what the (month, day) comparison gives.
    """
    if day < dob:
        return -1
    before_anniversary = (day.month, day.day) < (dob.month, dob.day)
    return day.year - dob.year - (1 if before_anniversary else 0)


def last_day_within(start: date, days: int) -> date:
    """D12: "within N days after D" — the first day is not counted, so D+N is the last good day."""
    return start + timedelta(days=days)


def add_months(day: date, months: int) -> date:
    """Calendar months later, clamped to the month's end (2025-12-31 + 2 months = 2026-02-28)."""
    return day + relativedelta(months=months)


def renewal_window_opens(expires_on: date) -> date:
    """The first day of the 3-month renewal window (spec §1B, R25, R38).

    有効期限3か月前の翌日: ``expiry - 3 months`` (clamped to the month's end) plus one day.
    2025-04-01 → 2025-01-02; 2025-05-30 → 2025-03-01.
    """
    return expires_on - relativedelta(months=3) + timedelta(days=1)


def is_business_day(day: date) -> bool:
    """D08: Monday–Friday, not a national holiday (jpholiday, incl. substitute holidays),
    and not in the year-end break 12-29…01-03."""
    if day.weekday() >= 5:
        return False
    if (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3):
        return False
    return not jpholiday.is_holiday(day)


def next_business_day(after: date) -> date:
    """The first business day strictly after ``after`` (D08)."""
    day = after + timedelta(days=1)
    while not is_business_day(day):
        day += timedelta(days=1)
    return day


def validity_ends_at(last_valid_day: date) -> datetime:
    """Valid through ``last_valid_day`` (23:59:59 JST); invalid from 00:00 JST the next day (spec §0)."""
    return start_of_day(last_valid_day + timedelta(days=1))
