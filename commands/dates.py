"""Dates and times as Japanese offices type them: ISO (``2025-04-01``), slashes (``2025/4/1``),
full-width digits, and 和暦 (``令和7年4月1日``, ``令和元年5月1日``, ``R7.4.1``, ``H31/4/30``).

和暦 is read by ``japanera``, which knows the eras and their boundaries, so ``平成31年5月1日``
(a date after the Heisei era ended) is refused instead of silently converted.
A time may follow the date (``2025-04-01T10:15``, ``令和7年4月1日 10:15``); a date alone means
00:00 JST (D13). Times without a zone are JST.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time

from japanera import EraDate

from lifecycle.calendar import JST, to_jst

_ERA_FORMATS = (
    "%-K%-y年%m月%d日",  # 令和7年4月1日
    "%-K%-y.%m.%d",  # 令和7.4.1
    "%-K%-y/%m/%d",  # 令和7/4/1
    "%-K%-y-%m-%d",  # 令和7-4-1
    "%-h%-y.%m.%d",  # R7.4.1
    "%-h%-y/%m/%d",  # R7/4/1
    "%-h%-y-%m-%d",  # R7-4-1
)
_ERA_HEADS = "MTSHR"
_MODERN_ERAS = frozenset({"明治", "大正", "昭和", "平成", "令和"})
_TIME = re.compile(r"^(?P<date>.+?)(?:[T\s]+(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?)?$")
_SLASHED = re.compile(r"^(\d{4})[/.年](\d{1,2})[/.月](\d{1,2})日?$")


class DateFormatError(ValueError):
    """The text is not a date in any accepted form."""


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _era_date(text: str) -> date | None:
    if not text or text[0].isdigit():
        return None
    candidate = text[0].upper() + text[1:] if text[0].upper() in _ERA_HEADS else text
    for fmt in _ERA_FORMATS:
        try:
            found = EraDate.strptime(candidate, fmt)
        except ValueError:
            continue
        modern = [d for d in found if d.era.kanji in _MODERN_ERAS]
        if modern:
            d = modern[0]
            return date(d.year, d.month, d.day)
    raise DateFormatError(
        f"{text!r} is not a valid 和暦 date (era name, year within the era, month, day), "
        "e.g. 令和7年4月1日 or R7.4.1"
    )


def parse_date(text: str) -> date:
    """A calendar date from ISO, slashed or 和暦 text."""
    t = _normalise(text)
    try:
        return date.fromisoformat(t)
    except ValueError:
        pass
    m = _SLASHED.match(t)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError as e:
            raise DateFormatError(f"{text!r} is not a calendar date: {e}") from None
    era = _era_date(t)
    if era is not None:
        return era
    raise DateFormatError(f"{text!r} is not a date: use 2025-04-01, 2025/4/1 or 令和7年4月1日")


def parse_datetime(text: str) -> datetime:
    """An instant from ISO text with an offset, JST text without one, or a date (00:00 JST)."""
    t = _normalise(text)
    try:
        parsed = datetime.fromisoformat(t)
    except ValueError:
        pass
    else:
        try:
            return to_jst(parsed)
        except OverflowError:
            # e.g. 9999-12-31T23:59-12:00: its JST date is past year 9999.
            raise DateFormatError(f"{text!r} falls outside the years 1-9999 in JST") from None
    m = _TIME.match(t)
    if not m:
        raise DateFormatError(f"{text!r} is not a date and time")
    day = parse_date(m["date"])
    if m["h"] is None:
        return datetime.combine(day, time(0, 0), tzinfo=JST)
    try:
        moment = time(int(m["h"]), int(m["m"]), int(m["s"] or 0))
    except ValueError as e:
        raise DateFormatError(f"{text!r}: {e}") from None
    return datetime.combine(day, moment, tzinfo=JST)


def format_wareki(day: date) -> str:
    """``2025-04-01`` → ``令和7年4月1日`` (for display beside ISO)."""
    era = EraDate.from_date(day).era
    year = day.year - era.since.year + 1
    return f"{era.kanji}{'元' if year == 1 else year}年{day.month}月{day.day}日"
