"""Property tests of the calendar arithmetic (``lifecycle.calendar``) and of card validity
(``lifecycle.validity``): spec §0 conventions, §1A (Nth birthday after), §1B (renewal window),
D01 (02-29 birthdays), D12 (day counting), R05/R06 (adult line), R19, R21, R22, R23, R26.

Every property is checked against an independent re-statement of the rule, never against the
function's own formula.
"""

from __future__ import annotations

import calendar as cal
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.calendar import (
    add_months,
    age_on,
    birthday_in_year,
    last_day_within,
    nth_birthday_after,
    renewal_window_opens,
    start_of_day,
    validity_ends_at,
)
from lifecycle.decisions import DEFAULT_POLICIES, Policies
from lifecycle.validity import (
    STAY_CAP_EXEMPT_STATUSES,
    adult_line,
    card_validity,
    extended_stay_expiry,
    is_adult,
)
from tests.helpers.support import at, d

PROPERTY = settings(deadline=None, max_examples=200)
"""Local settings (no global profile: other test modules keep theirs)."""

LOW = date(1900, 1, 1)
HIGH = date(2100, 12, 31)
LINE_CHANGE = date(2022, 4, 1)

any_date = st.dates(min_value=LOW, max_value=HIGH)
leap_day = st.integers(1900, 2100).filter(cal.isleap).map(lambda y: date(y, 2, 29))
month_end = st.builds(
    lambda y, m: date(y, m, cal.monthrange(y, m)[1]), st.integers(1900, 2100), st.integers(1, 12)
)
dob_strategy = st.one_of(any_date, leap_day, month_end)
policy_strategy = st.sampled_from(["feb28", "mar1"])


@st.composite
def dob_and_later(draw: st.DrawFn, min_gap: int = 0) -> tuple[date, date]:
    """A date of birth and a date at least ``min_gap`` days later, both within 1900–2100."""
    dob = draw(dob_strategy.filter(lambda x: x <= HIGH - timedelta(days=min_gap)))
    later = draw(st.dates(min_value=dob + timedelta(days=min_gap), max_value=HIGH))
    return dob, later


# ----------------------------------------------------------------------------- independent oracles


def expected_birthday(dob: date, year: int, policy: str) -> date:
    """The birthday in ``year`` as D01 defines it (02-28 or 03-01 for 02-29 in common years)."""
    if (dob.month, dob.day) == (2, 29) and not cal.isleap(year):
        return date(year, 2, 28) if policy == "feb28" else date(year, 3, 1)
    return date(year, dob.month, dob.day)


def birthdays_in(dob: date, low: date, high: date, policy: str) -> list[date]:
    """Birthdays b with low < b <= high."""
    out = []
    for year in range(low.year, high.year + 1):
        b = expected_birthday(dob, year, policy)
        if low < b <= high:
            out.append(b)
    return out


def is_anniversary_for_age(dob: date, day: date) -> bool:
    """The day on which the age goes up (§0: 民法143条; 02-29 people in common years on 03-01)."""
    if (day.month, day.day) == (dob.month, dob.day):
        return True
    return (dob.month, dob.day) == (2, 29) and not cal.isleap(day.year) and (day.month, day.day) == (3, 1)


def window_by_hand(expires_on: date) -> date:
    """§1B: 有効期限3か月前の翌日; a missing day becomes the month's last day, then +1 day."""
    year, month = expires_on.year, expires_on.month - 3
    if month < 1:
        month += 12
        year -= 1
    day = min(expires_on.day, cal.monthrange(year, month)[1])
    return date(year, month, day) + timedelta(days=1)


# ----------------------------------------------------------------------------- §1A, R19, R21 (D01)


@PROPERTY
@given(case=dob_and_later(), n=st.integers(1, 12), policy=policy_strategy)
def test_R19_nth_birthday_after_is_strictly_after_and_is_a_birthday(
    case: tuple[date, date], n: int, policy: str
) -> None:
    dob, after = case
    nth = nth_birthday_after(dob, after, n, policy)  # type: ignore[arg-type]
    assert nth > after
    assert nth == expected_birthday(dob, nth.year, policy)


@PROPERTY
@given(case=dob_and_later(), n=st.integers(1, 12), policy=policy_strategy)
def test_R19_nth_birthday_after_counts_exactly_n_birthdays(
    case: tuple[date, date], n: int, policy: str
) -> None:
    dob, after = case
    first = nth_birthday_after(dob, after, 1, policy)  # type: ignore[arg-type]
    nth = nth_birthday_after(dob, after, n, policy)  # type: ignore[arg-type]
    # n birthdays in (after, nth]; the first is the earliest of them
    assert birthdays_in(dob, after, nth, policy) == [first, *birthdays_in(dob, first, nth, policy)]
    assert len(birthdays_in(dob, after, nth, policy)) == n
    assert birthdays_in(dob, after, first, policy) == [first]
    # n - 1 birthdays after the first up to and including the nth; n - 2 strictly between
    assert len(birthdays_in(dob, first, nth, policy)) == n - 1
    strictly_between = [b for b in birthdays_in(dob, first, nth, policy) if b < nth]
    assert len(strictly_between) == max(n - 2, 0)


@PROPERTY
@given(case=dob_and_later(), n=st.integers(1, 11), policy=policy_strategy)
def test_R19_nth_birthday_after_increases_with_n_one_year_at_a_time(
    case: tuple[date, date], n: int, policy: str
) -> None:
    dob, after = case
    nth = nth_birthday_after(dob, after, n, policy)  # type: ignore[arg-type]
    following = nth_birthday_after(dob, after, n + 1, policy)  # type: ignore[arg-type]
    assert following > nth
    assert following.year == nth.year + 1


@PROPERTY
@given(dob=dob_strategy.filter(lambda x: x.year < 2090), policy=policy_strategy)
def test_R19_birthday_on_the_date_itself_does_not_count(dob: date, policy: str) -> None:
    birthday = expected_birthday(dob, dob.year + 5, policy)
    assert nth_birthday_after(dob, birthday, 1, policy) == expected_birthday(dob, dob.year + 6, policy)  # type: ignore[arg-type]
    day_before = birthday - timedelta(days=1)
    assert nth_birthday_after(dob, day_before, 1, policy) == birthday  # type: ignore[arg-type]


def test_R19_n_must_be_positive() -> None:
    with pytest.raises(ValueError):
        nth_birthday_after(d("1980-10-10"), d("2020-05-15"), 0)


@PROPERTY
@given(year=st.integers(1900, 2100), policy=policy_strategy)
def test_R21_feb29_birthday_substitute_in_common_years(year: int, policy: str) -> None:
    got = birthday_in_year(d("1988-02-29"), year, policy)  # type: ignore[arg-type]
    if cal.isleap(year):
        assert got == date(year, 2, 29)
    else:
        assert got == (date(year, 2, 28) if policy == "feb28" else date(year, 3, 1))


@pytest.mark.parametrize(
    ("dob", "after", "n", "feb28", "mar1"),
    [
        ("1996-02-29", "2099-03-01", 1, "2100-02-28", "2100-03-01"),  # 2100 is not a leap year
        ("1996-02-29", "2099-03-01", 5, "2104-02-29", "2104-02-29"),
        ("1988-02-29", "2023-02-28", 10, "2033-02-28", "2032-02-29"),  # R21 example
        ("1988-02-29", "2023-03-01", 1, "2024-02-29", "2024-02-29"),  # mar1: 03-01 itself not counted
    ],
)
def test_R21_feb29_examples_around_leap_and_century_years(
    dob: str, after: str, n: int, feb28: str, mar1: str
) -> None:
    assert nth_birthday_after(d(dob), d(after), n, "feb28") == d(feb28)
    assert nth_birthday_after(d(dob), d(after), n, "mar1") == d(mar1)


# ----------------------------------------------------------------------------- §0 age (R05, R06, R40)


@PROPERTY
@given(case=dob_and_later(), gap=st.integers(0, 40_000))
def test_R05_age_is_monotone(case: tuple[date, date], gap: int) -> None:
    dob, a = case
    b = min(a + timedelta(days=gap), HIGH)
    assert 0 <= age_on(dob, a) <= age_on(dob, b)


@PROPERTY
@given(case=dob_and_later(min_gap=1))
def test_R05_age_goes_up_by_one_exactly_on_the_birthday(case: tuple[date, date]) -> None:
    dob, day = case
    step = age_on(dob, day) - age_on(dob, day - timedelta(days=1))
    assert step == (1 if is_anniversary_for_age(dob, day) else 0)


@PROPERTY
@given(dob=dob_strategy, years=st.integers(0, 200))
def test_R05_age_on_the_birthday_is_the_new_age(dob: date, years: int) -> None:
    years = min(years, 2100 - dob.year)
    assert age_on(dob, dob) == 0
    anniversary = expected_birthday(dob, dob.year + years, "mar1")
    assert age_on(dob, anniversary) == years
    if years >= 1:
        assert age_on(dob, anniversary - timedelta(days=1)) == years - 1


@pytest.mark.parametrize(
    ("dob", "day", "age"),
    [
        ("2004-02-29", "2022-02-28", 17),  # 02-29 people gain the year at the end of 02-28 ...
        ("2004-02-29", "2022-03-01", 18),  # ... so they hold it from 03-01 in common years
        ("2004-02-29", "2024-02-28", 19),
        ("2004-02-29", "2024-02-29", 20),
        ("2010-05-01", "2025-04-30", 14),  # R40 example
        ("2010-05-01", "2025-05-01", 15),
        ("2003-06-01", "2022-04-20", 18),  # R05 example
        ("2006-05-10", "2024-04-25", 17),  # R06 example
        ("2006-05-10", "2024-05-20", 18),
    ],
)
def test_R05_age_examples(dob: str, day: str, age: int) -> None:
    assert age_on(d(dob), d(day)) == age


# ----------------------------------------------------------------------------- §1B renewal window (R25, R38)


@pytest.mark.parametrize(
    ("expires_on", "opens"),
    [
        ("2025-04-01", "2025-01-02"),
        ("2025-05-30", "2025-03-01"),
        ("2025-05-31", "2025-03-01"),
        ("2024-05-29", "2024-03-01"),
        ("2025-12-31", "2025-10-01"),
        ("2024-10-10", "2024-07-11"),
        ("2029-10-10", "2029-07-11"),
    ],
)
def test_R25_R38_renewal_window_reproduces_the_spec_examples(expires_on: str, opens: str) -> None:
    assert renewal_window_opens(d(expires_on)) == d(opens)


@PROPERTY
@given(expires_on=st.dates(min_value=date(1900, 4, 1), max_value=HIGH))
def test_R25_R38_window_opens_the_day_after_expiry_less_three_months(expires_on: date) -> None:
    opens = renewal_window_opens(expires_on)
    assert opens == window_by_hand(expires_on)
    assert opens < expires_on
    # The window, both ends included, holds 89 to 92 days: (expiry - opens) is 88 to 91.
    assert 89 <= (expires_on - opens).days + 1 <= 92


@PROPERTY
@given(
    a=st.dates(min_value=date(1900, 4, 1), max_value=HIGH),
    b=st.dates(min_value=date(1900, 4, 1), max_value=HIGH),
)
def test_R25_R38_window_start_is_monotone_in_the_expiry(a: date, b: date) -> None:
    a, b = min(a, b), max(a, b)
    assert renewal_window_opens(a) <= renewal_window_opens(b)


def test_R25_R38_the_window_bounds_are_reached() -> None:
    assert (d("2025-05-01") - renewal_window_opens(d("2025-05-01"))).days == 88  # Feb-Apr, common year
    assert (d("2025-12-31") - renewal_window_opens(d("2025-12-31"))).days == 91


# ----------------------------------------------------------------------------- D12 day counting (R28–R30)


@pytest.mark.parametrize(
    ("start", "days", "last"),
    [
        ("2025-03-31", 30, "2025-04-30"),  # R28
        ("2025-04-01", 14, "2025-04-15"),  # R29
        ("2025-03-25", 14, "2025-04-08"),  # R29
        ("2025-04-10", 90, "2025-07-09"),  # R30
    ],
)
def test_R28_R30_D12_last_day_within_examples(start: str, days: int, last: str) -> None:
    assert last_day_within(d(start), days) == d(last)
    assert validity_ends_at(d(last)) == at(last) + timedelta(days=1)


@PROPERTY
@given(start=any_date, days=st.integers(0, 400))
def test_R28_R30_D12_the_first_day_is_not_counted(start: date, days: int) -> None:
    last = last_day_within(start, days)
    counted = [start + timedelta(days=i) for i in range(1, days + 1)]
    assert (counted[-1] if counted else start) == last
    assert len(counted) == days
    assert validity_ends_at(last) == start_of_day(last + timedelta(days=1))


# ----------------------------------------------------------------------------- month arithmetic (R24)


@PROPERTY
@given(day=st.dates(min_value=LOW, max_value=date(2100, 10, 31)), months=st.integers(0, 2))
def test_R24_add_months_clamps_to_the_month_end(day: date, months: int) -> None:
    got = add_months(day, months)
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    assert got == date(year, month, min(day.day, cal.monthrange(year, month)[1]))


# ----------------------------------------------------------------------------- card validity (R19, R05, R06)


@st.composite
def issue_case(draw: st.DrawFn) -> tuple[date, date, date]:
    dob = draw(dob_strategy.filter(lambda x: x < date(2099, 12, 31)))
    issue = draw(st.dates(min_value=max(dob, date(1950, 1, 1)), max_value=date(2099, 12, 31)))
    accepted = max(dob, issue - timedelta(days=draw(st.integers(0, 60))))
    return dob, issue, accepted


@PROPERTY
@given(case=issue_case(), policy=policy_strategy)
def test_R19_card_runs_10_birthdays_for_adults_and_5_for_minors(
    case: tuple[date, date, date], policy: str
) -> None:
    dob, issue, accepted = case
    policies = Policies(feb29_birthday=policy)  # type: ignore[arg-type]
    v = card_validity(
        dob,
        issue_date=issue,
        accepted_on=accepted,
        residence_status=None,
        stay_until=None,
        renews_card_expiring_on=None,
        policies=policies,
    )
    line = 18 if accepted >= LINE_CHANGE else 20
    adult = age_on(dob, issue) >= line
    assert (v.adult, v.age_line) == (adult, line)
    assert v.birthdays == (10 if adult else 5)
    assert v.expires_on > issue
    assert v.expires_on == v.age_based_expires_on
    assert v.capped_by_stay is False
    assert v.expires_on == expected_birthday(dob, v.expires_on.year, policy)
    assert len(birthdays_in(dob, issue, v.expires_on, policy)) == v.birthdays


@PROPERTY
@given(case=issue_case())
def test_R06_D02_acceptance_date_policy_measures_the_age_on_the_acceptance_date(
    case: tuple[date, date, date],
) -> None:
    dob, issue, accepted = case
    policies = Policies(age_measured_on="acceptance_date")
    expected = age_on(dob, accepted) >= adult_line(accepted)
    assert is_adult(dob, accepted_on=accepted, issue_date=issue, policies=policies) is expected
    assert is_adult(dob, accepted_on=accepted, issue_date=issue, policies=DEFAULT_POLICIES) is (
        age_on(dob, issue) >= adult_line(accepted)
    )


@PROPERTY
@given(accepted=st.dates(min_value=date(2021, 1, 1), max_value=date(2023, 12, 31)))
def test_R05_adult_line_is_18_from_2022_04_01_and_20_before(accepted: date) -> None:
    assert adult_line(accepted) == (18 if accepted >= LINE_CHANGE else 20)


def test_R05_adult_line_boundary() -> None:
    assert adult_line(d("2022-03-31")) == 20
    assert adult_line(d("2022-04-01")) == 18


@pytest.mark.parametrize(
    ("accepted", "adult", "expires_on"),
    [("2022-03-31", False, "2026-06-01"), ("2022-04-01", True, "2031-06-01")],
)
def test_R05_worked_example_around_the_line(accepted: str, adult: bool, expires_on: str) -> None:
    v = card_validity(
        d("2003-06-01"),
        issue_date=d("2022-04-20"),
        accepted_on=d(accepted),
        residence_status=None,
        stay_until=None,
        renews_card_expiring_on=None,
        policies=DEFAULT_POLICIES,
    )
    assert (v.adult, v.expires_on) == (adult, d(expires_on))


@pytest.mark.parametrize(
    ("measured_on", "expires_on"), [("issue_date", "2034-05-10"), ("acceptance_date", "2029-05-10")]
)
def test_R06_worked_example_under_both_D02_policies(measured_on: str, expires_on: str) -> None:
    v = card_validity(
        d("2006-05-10"),
        issue_date=d("2024-05-20"),
        accepted_on=d("2024-04-25"),
        residence_status=None,
        stay_until=None,
        renews_card_expiring_on=None,
        policies=Policies(age_measured_on=measured_on),  # type: ignore[arg-type]
    )
    assert v.expires_on == d(expires_on)


@pytest.mark.parametrize(
    ("dob", "issued", "policy", "expires_on"),
    [
        ("1990-01-31", "2020-01-31", "feb28", "2030-01-31"),  # month end, birthday = issue date
        ("1980-12-31", "2020-12-30", "feb28", "2029-12-31"),  # year end, birthday the next day
        ("1980-12-31", "2020-12-31", "feb28", "2030-12-31"),
        ("1988-02-29", "2024-02-29", "feb28", "2034-02-28"),  # issued on the leap day itself
        ("1988-02-29", "2024-02-29", "mar1", "2034-03-01"),
        ("1988-02-29", "2024-02-28", "feb28", "2033-02-28"),  # the leap day is the first birthday
        ("1988-02-29", "2024-02-28", "mar1", "2033-03-01"),
        ("2016-02-29", "2023-03-01", "feb28", "2028-02-29"),  # minor, 5th birthday a leap day
        ("2016-02-29", "2024-03-01", "feb28", "2029-02-28"),
    ],
)
def test_R19_R21_month_ends_and_leap_years(dob: str, issued: str, policy: str, expires_on: str) -> None:
    v = card_validity(
        d(dob),
        issue_date=d(issued),
        accepted_on=d(issued) - timedelta(days=10),
        residence_status=None,
        stay_until=None,
        renews_card_expiring_on=None,
        policies=Policies(feb29_birthday=policy),  # type: ignore[arg-type]
    )
    assert v.expires_on == d(expires_on)


# ----------------------------------------------------------------------------- stay cap (R22, R23)

capped_status = st.sampled_from(["student", "engineer_humanities_international", "spouse_of_japanese"])
exempt_status = st.sampled_from(sorted(STAY_CAP_EXEMPT_STATUSES))


@PROPERTY
@given(case=issue_case(), stay=any_date, status=capped_status)
def test_R22_stay_cap_takes_the_earlier_date_and_never_extends_validity(
    case: tuple[date, date, date], stay: date, status: str
) -> None:
    dob, issue, accepted = case
    plain = card_validity(
        dob,
        issue_date=issue,
        accepted_on=accepted,
        residence_status=None,
        stay_until=None,
        renews_card_expiring_on=None,
        policies=DEFAULT_POLICIES,
    )
    v = card_validity(
        dob,
        issue_date=issue,
        accepted_on=accepted,
        residence_status=status,
        stay_until=stay,
        renews_card_expiring_on=None,
        policies=DEFAULT_POLICIES,
    )
    assert v.age_based_expires_on == plain.expires_on
    assert v.expires_on == min(stay, plain.expires_on)
    assert v.expires_on <= plain.expires_on
    assert v.capped_by_stay is (stay < plain.expires_on)


@PROPERTY
@given(case=issue_case(), stay=any_date, status=exempt_status)
def test_R22_exempt_statuses_are_never_capped(case: tuple[date, date, date], stay: date, status: str) -> None:
    dob, issue, accepted = case
    v = card_validity(
        dob,
        issue_date=issue,
        accepted_on=accepted,
        residence_status=status,
        stay_until=stay,
        renews_card_expiring_on=None,
        policies=DEFAULT_POLICIES,
    )
    assert v.expires_on == v.age_based_expires_on
    assert v.capped_by_stay is False


@PROPERTY
@given(new_stay=any_date, age_based=any_date)
def test_R23_extension_never_passes_the_age_based_limit(new_stay: date, age_based: date) -> None:
    got = extended_stay_expiry(new_stay, age_based)
    assert got == min(new_stay, age_based)
    assert got <= age_based


# ----------------------------------------------------------------------------- D03 (R26)


@PROPERTY
@given(case=issue_case(), gap=st.integers(-400, 400))
def test_R26_plus_one_birthday_only_for_a_renewal_produced_before_the_old_expiry(
    case: tuple[date, date, date], gap: int
) -> None:
    dob, issue, accepted = case
    old_expiry = issue + timedelta(days=gap)

    def validity(policies: Policies, renews: date | None) -> tuple[date, int]:
        v = card_validity(
            dob,
            issue_date=issue,
            accepted_on=accepted,
            residence_status=None,
            stay_until=None,
            renews_card_expiring_on=renews,
            policies=policies,
        )
        return v.expires_on, v.birthdays

    plain_expiry, plain_birthdays = validity(Policies(renewed_card_validity="plain"), old_expiry)
    first_expiry, first_birthdays = validity(Policies(renewed_card_validity="plain"), None)
    assert (plain_expiry, plain_birthdays) == (first_expiry, first_birthdays)
    plus_expiry, plus_birthdays = validity(Policies(renewed_card_validity="plus_one_birthday"), old_expiry)
    if issue <= old_expiry:
        assert plus_birthdays == plain_birthdays + 1
        assert plus_expiry == nth_birthday_after(dob, issue, plus_birthdays)
        assert plus_expiry.year == plain_expiry.year + 1
    else:
        assert (plus_expiry, plus_birthdays) == (plain_expiry, plain_birthdays)
