"""Business-time arithmetic: against a brute-force reference, by property, and by example."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from calendar_reference import add_days_reference, add_reference, between_reference, is_open_reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla_bridge.calendar import WHOLE_DAY, BusinessCalendar, Interval

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
US = timedelta(microseconds=1)

# Reproducible runs: the same examples every time, nothing read from or
# written to a local example database.
DETERMINISTIC = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def examples(n: int) -> settings:
    return settings(DETERMINISTIC, max_examples=n)


def hours(*pairs: str) -> list[Interval]:
    """``hours("09:00-12:00", "14:00-24:00")``; 24:00 is written as the end of the day."""
    out = []
    for pair in pairs:
        start, end = pair.split("-")
        out.append(Interval(time.fromisoformat(start), time(0) if end == "24:00" else time.fromisoformat(end)))
    return out


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=PARIS)


CONTRACT = BusinessCalendar(weekly={d: hours("09:00-18:00") for d in range(5)})
LUNCH = BusinessCalendar(
    weekly={**{d: hours("09:00-12:00", "14:00-18:00") for d in range(5)}, 5: hours("10:00-12:30")},
    subdivision="57",
    closed_dates=[date(2025, 5, 2), date(2027, 12, 31)],
    open_dates=[date(2026, 5, 25)],
    date_hours={date(2025, 12, 24): hours("09:00-12:00"), date(2026, 3, 29): hours("10:00-11:00")},
)
NIGHTS = BusinessCalendar(weekly={d: hours("00:00-06:00", "20:00-24:00") for d in range(7)})
ALWAYS_NY = BusinessCalendar(weekly={d: [WHOLE_DAY] for d in range(7)}, timezone="America/New_York", country="US")
CALENDARS = {"contract": CONTRACT, "lunch": LUNCH, "nights": NIGHTS, "always_ny": ALWAYS_NY}

# Instants where bugs live: openings, closings, lunch, midnight, the DST hour.
EDGE_TIMES = [
    time(h, m)
    for h, m in [
        (0, 0),
        (1, 59),
        (2, 30),
        (3, 0),
        (6, 0),
        (8, 59),
        (9, 0),
        (11, 59),
        (12, 0),
        (12, 30),
        (14, 0),
        (17, 59),
        (18, 0),
        (20, 0),
        (23, 59),
    ]
]
EDGE_DATES = [
    date(2025, 3, 28),
    date(2025, 3, 30),
    date(2025, 3, 31),
    date(2025, 10, 26),
    date(2025, 5, 1),
    date(2025, 5, 2),
    date(2025, 5, 8),
    date(2025, 5, 28),
    date(2025, 5, 29),
    date(2025, 6, 9),
    date(2025, 12, 24),
    date(2025, 12, 26),
    date(2026, 3, 8),
    date(2026, 3, 29),
    date(2026, 5, 25),
    date(2027, 12, 31),
    date(2031, 12, 31),
]
INPUT_ZONES = [PARIS, UTC, timezone(timedelta(hours=5, minutes=30)), NEW_YORK]
FIRST, LAST = datetime(2024, 1, 1, tzinfo=UTC), datetime(2031, 12, 31, 23, 59, tzinfo=UTC)


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    """Minute-aligned instants in 2024-2031, often on an edge, in various zones."""
    kind = draw(st.sampled_from(["uniform", "edge_time", "edge_date"]))
    if kind == "uniform":
        t = FIRST + timedelta(minutes=draw(st.integers(0, (LAST - FIRST) // timedelta(minutes=1))))
    else:
        day = draw(st.sampled_from(EDGE_DATES) if kind == "edge_date" else st.dates(FIRST.date(), LAST.date()))
        wall = draw(st.sampled_from(EDGE_TIMES) | st.times().map(lambda t: t.replace(second=0, microsecond=0)))
        t = datetime.combine(day, wall, PARIS).astimezone(UTC)
    return t.astimezone(draw(st.sampled_from(INPUT_ZONES)))


durations = st.integers(1, 3000)
calendars = pytest.mark.parametrize("name", sorted(CALENDARS))


# --------------------------------------------------------------- reference


@calendars
@examples(60)
@given(start=instants(), minutes=durations)
def test_add_matches_reference(name: str, start: datetime, minutes: int) -> None:
    cal = CALENDARS[name]
    assert cal.add(start, minutes) == add_reference(cal, start, minutes)


@calendars
@examples(60)
@given(a=instants(), delta=st.integers(-4000, 4000))
def test_between_matches_reference(name: str, a: datetime, delta: int) -> None:
    cal = CALENDARS[name]
    b = a + timedelta(minutes=delta)
    assert cal.between(a, b) == between_reference(cal, a, b)


@calendars
@examples(60)
@given(start=instants(), n=st.integers(0, 30))
def test_add_days_matches_reference(name: str, start: datetime, n: int) -> None:
    cal = CALENDARS[name]
    assert cal.add_days(start, n) == add_days_reference(cal, start, n)


@calendars
@examples(150)
@given(t=instants())
def test_is_open_matches_reference(name: str, t: datetime) -> None:
    cal = CALENDARS[name]
    assert cal.is_open(t) == is_open_reference(cal, t)


@pytest.mark.parametrize(
    ("start", "minutes"),
    [
        (paris(1990, 6, 1, 17), 120),
        (paris(1990, 12, 24, 16, 30), 900),
        (paris(2090, 5, 24, 17), 120),
        (paris(2090, 12, 22, 11), 2000),
    ],
)
def test_far_years_match_reference(start: datetime, minutes: int) -> None:
    for cal in (CONTRACT, LUNCH):
        assert cal.add(start, minutes) == add_reference(cal, start, minutes)
        end = start + timedelta(days=9)
        assert cal.between(start, end) == between_reference(cal, start, end)


# -------------------------------------------------------------- properties


@calendars
@examples(80)
@given(start=instants(), m1=st.integers(0, 20_000), m2=st.integers(0, 20_000))
def test_add_is_monotonic_in_duration(name: str, start: datetime, m1: int, m2: int) -> None:
    cal = CALENDARS[name]
    low, high = sorted((m1, m2))
    assert start <= cal.add(start, low) <= cal.add(start, high)


@calendars
@examples(80)
@given(start=instants(), minutes=st.integers(0, 50_000))
def test_between_undoes_add(name: str, start: datetime, minutes: int) -> None:
    cal = CALENDARS[name]
    assert cal.between(start, cal.add(start, minutes)) == minutes


@examples(80)
@given(start=instants(), minutes=st.floats(0, 20_000, allow_nan=False), seconds=st.integers(0, 59))
def test_fractional_minutes_are_exact_to_the_microsecond(start: datetime, minutes: float, seconds: int) -> None:
    start += timedelta(seconds=seconds, microseconds=seconds * 1013)
    result = CONTRACT.add(start, minutes)
    wanted_us = round(minutes * 60_000_000)
    assert round(CONTRACT.between(start, result) * 60_000_000) == wanted_us
    # The earliest such instant: one microsecond less is not enough.
    if wanted_us:
        assert round(CONTRACT.between(start, result - US) * 60_000_000) == wanted_us - 1


@calendars
@examples(80)
@given(start=instants(), a=st.integers(1, 10_000), b=st.integers(1, 10_000))
def test_add_is_additive(name: str, start: datetime, a: int, b: int) -> None:
    cal = CALENDARS[name]
    assert cal.add(cal.add(start, a), b) == cal.add(start, a + b)


@calendars
@examples(80)
@given(start=instants(), minutes=st.integers(1, 20_000))
def test_results_are_open_or_on_a_closing_time(name: str, start: datetime, minutes: int) -> None:
    cal = CALENDARS[name]
    result = cal.add(start, minutes)
    assert result.tzinfo is cal.zone
    assert cal.is_open(result - US)  # the last microsecond counted was open
    if not cal.is_open(result):
        local = result.astimezone(cal.zone)
        closings = [iv.end for iv in cal.hours_on(local.date())] + [time(0)]
        assert local.time() in closings


@calendars
@examples(80)
@given(a=instants(), b=instants(), c=instants())
def test_between_is_antisymmetric_and_additive(name: str, a: datetime, b: datetime, c: datetime) -> None:
    cal = CALENDARS[name]
    assert cal.between(a, b) == -cal.between(b, a)
    assert cal.between(a, a) == 0
    assert cal.between(a, b) + cal.between(b, c) == cal.between(a, c)


@calendars
@examples(80)
@given(t=instants())
def test_next_open_is_the_next_open_instant(name: str, t: datetime) -> None:
    cal = CALENDARS[name]
    opening = cal.next_open(t)
    assert opening >= t and cal.is_open(opening) and opening.tzinfo is cal.zone
    assert cal.between(t, opening) == 0
    assert (opening == t) == cal.is_open(t)


@calendars
@examples(60)
@given(start=instants(), n=st.integers(0, 60))
def test_add_days_lands_on_the_nth_business_day(name: str, start: datetime, n: int) -> None:
    cal = CALENDARS[name]
    result = cal.add_days(start, n)
    assert cal.is_open(result) or cal.is_open(result - US)
    first = cal.next_open(start).astimezone(cal.zone).date()
    landed = (result - US if not cal.is_open(result) else result).astimezone(cal.zone).date()
    business_days = [first + timedelta(days=i) for i in range(1, (landed - first).days + 1)]
    assert sum(cal.is_business_day(d) for d in business_days) == n


@examples(40)
@given(start=instants())
def test_zero_is_a_no_op_even_when_closed(start: datetime) -> None:
    for cal in CALENDARS.values():
        result = cal.add(start, 0)
        assert result == start and result.tzinfo is cal.zone
        assert cal.add_days(start, 0) == cal.next_open(start)


# ----------------------------------------------------------- the contract


def test_spring_forward_weekend() -> None:
    friday = paris(2025, 3, 28, 17)
    result = CONTRACT.add(friday, 180)
    assert result == paris(2025, 3, 31, 11)
    assert result.utcoffset() == timedelta(hours=2)
    assert CONTRACT.between(friday, result) == 180
    assert CONTRACT.between(paris(2025, 3, 29), paris(2025, 3, 31)) == 0


def test_fall_back_weekend() -> None:
    friday = paris(2025, 10, 24, 17)
    result = CONTRACT.add(friday, 180)
    assert result == paris(2025, 10, 27, 11)
    assert result.utcoffset() == timedelta(hours=1)
    assert CONTRACT.between(friday, result) == 180


def test_a_dst_change_day_is_as_long_as_the_clock_says() -> None:
    always = BusinessCalendar(weekly={d: [WHOLE_DAY] for d in range(7)}, country=None)
    assert always.between(paris(2025, 3, 30), paris(2025, 3, 31)) == 23 * 60
    assert always.between(paris(2025, 10, 26), paris(2025, 10, 27)) == 25 * 60
    assert always.add(paris(2025, 3, 30, 1, 30), 60) == paris(2025, 3, 30, 3, 30)
    # 09:00-18:00 stays nine real hours on the Monday after the change.
    assert CONTRACT.between(paris(2025, 3, 31), paris(2025, 4, 1)) == 540


def test_wall_times_in_the_dst_gap_use_fold_0() -> None:
    # 02:30 does not exist on 2025-03-30 in Paris; fold=0 reads it with the
    # winter offset, i.e. 03:30 summer time, so 02:30-04:00 lasts 30 minutes.
    sunday = BusinessCalendar(weekly={6: hours("02:30-04:00")}, country=None)
    assert sunday.between(paris(2025, 3, 30), paris(2025, 3, 31)) == 30
    assert not sunday.is_open(paris(2025, 3, 30, 3, 15))
    assert sunday.next_open(paris(2025, 3, 30, 1)) == paris(2025, 3, 30, 3, 30)
    # Read that way, 01:00-02:30 ends after 03:00-04:00 begins: the overlap is
    # counted once.
    split = BusinessCalendar(weekly={6: hours("01:00-02:30", "03:00-04:00")}, country=None)
    assert split.between(paris(2025, 3, 30), paris(2025, 3, 31)) == 120


def test_french_public_holidays_2025() -> None:
    found = CONTRACT.holidays_between(date(2025, 1, 1), date(2025, 12, 31))
    assert [d for d, _ in found] == [
        date(2025, 1, 1),
        date(2025, 4, 21),
        date(2025, 5, 1),
        date(2025, 5, 8),
        date(2025, 5, 29),
        date(2025, 6, 9),
        date(2025, 7, 14),
        date(2025, 8, 15),
        date(2025, 11, 11),
        date(2025, 12, 25),
    ]  # 1 November is a Saturday: no effect, not listed
    assert dict(found)[date(2025, 5, 29)] == "public holiday: Ascension Day"
    assert CONTRACT.closure_reason(date(2025, 11, 1)) == "weekend"
    assert CONTRACT.closure_reason(date(2025, 5, 29)) == "public holiday: Ascension Day"
    assert CONTRACT.closure_reason(date(2025, 5, 30)) is None
    assert not CONTRACT.is_business_day(date(2025, 8, 15))
    assert CONTRACT.hours_on(date(2025, 6, 9)) == ()
    assert CONTRACT.hours_on(date(2025, 6, 10)) == tuple(hours("09:00-18:00"))
    assert CONTRACT.holidays_between(date(2025, 6, 1), date(2025, 5, 1)) == []


def test_holidays_push_deadlines() -> None:
    assert CONTRACT.add(paris(2025, 5, 7, 17), 120) == paris(2025, 5, 9, 10)  # 8 May
    assert CONTRACT.add(paris(2025, 5, 28, 17), 120) == paris(2025, 5, 30, 10)  # Ascension
    assert CONTRACT.add(paris(2025, 8, 14, 17, 30), 60) == paris(2025, 8, 18, 9, 30)  # 15 August, a Friday
    assert CONTRACT.add(paris(2025, 11, 10, 17), 120) == paris(2025, 11, 12, 10)  # 11 November
    assert CONTRACT.add(paris(2025, 7, 11, 17), 120) == paris(2025, 7, 15, 10)  # 14 July
    assert CONTRACT.between(paris(2025, 5, 7, 17), paris(2025, 5, 9, 10)) == 120


def test_add_days_across_ascension() -> None:
    assert CONTRACT.add_days(paris(2025, 5, 28, 10), 1) == paris(2025, 5, 30, 10)
    assert CONTRACT.add_days(paris(2025, 5, 28, 10), 3) == paris(2025, 6, 3, 10)  # and Whit Monday
    # A closed start first moves to the next opening.
    assert CONTRACT.add_days(paris(2025, 5, 28, 19), 1) == paris(2025, 6, 2, 9)
    assert CONTRACT.add_days(paris(2025, 5, 28, 19), 0) == paris(2025, 5, 30, 9)


def test_a_result_on_a_closing_time_stays_there() -> None:
    tuesday = paris(2025, 5, 6, 15)
    assert CONTRACT.add(tuesday, 180) == paris(2025, 5, 6, 18)
    assert CONTRACT.add(tuesday, 181) == paris(2025, 5, 7, 9, 1)
    assert not CONTRACT.is_open(paris(2025, 5, 6, 18))
    assert CONTRACT.is_open(paris(2025, 5, 6, 9)) and not CONTRACT.is_open(paris(2025, 5, 6, 8, 59, 59))


def test_a_closed_start_counts_from_the_next_opening() -> None:
    assert CONTRACT.add(paris(2025, 5, 6, 7), 30) == paris(2025, 5, 6, 9, 30)
    assert CONTRACT.add(paris(2025, 5, 10, 12), 30) == paris(2025, 5, 12, 9, 30)
    assert CONTRACT.next_open(paris(2025, 5, 6, 18)) == paris(2025, 5, 7, 9)
    assert CONTRACT.next_open(paris(2025, 5, 6, 10)) == paris(2025, 5, 6, 10)


def test_lunch_break() -> None:
    monday = date(2025, 6, 2)
    assert LUNCH.add(paris(2025, 6, 2, 11), 120) == paris(2025, 6, 2, 15)
    assert LUNCH.add(paris(2025, 6, 2, 11), 60) == paris(2025, 6, 2, 12)
    assert LUNCH.add(paris(2025, 6, 2, 12, 30), 60) == paris(2025, 6, 2, 15)
    assert LUNCH.between(paris(2025, 6, 2), paris(2025, 6, 3)) == 420
    assert LUNCH.hours_on(monday) == tuple(hours("09:00-12:00", "14:00-18:00"))
    assert LUNCH.add(paris(2025, 6, 6, 17), 120) == paris(2025, 6, 7, 11)  # Saturday 10:00-12:30
    # add_days from a closed lunch time starts from 14:00.
    assert LUNCH.add_days(paris(2025, 6, 2, 13), 1) == paris(2025, 6, 3, 14)
    # Saturday is shorter: 16:00 is clamped back to its closing time.
    assert LUNCH.add_days(paris(2025, 6, 6, 16), 1) == paris(2025, 6, 7, 12, 30)
    assert LUNCH.add_days(paris(2025, 6, 6, 9, 15), 1) == paris(2025, 6, 7, 10)  # before it opens


def test_open_dates_keep_a_public_holiday_open() -> None:
    working_whit_monday = BusinessCalendar(
        weekly={d: hours("09:00-18:00") for d in range(5)}, open_dates=[date(2025, 6, 9)]
    )
    assert working_whit_monday.is_business_day(date(2025, 6, 9))
    assert working_whit_monday.closure_reason(date(2025, 6, 9)) is None
    assert working_whit_monday.add(paris(2025, 6, 6, 17), 120) == paris(2025, 6, 9, 10)
    assert CONTRACT.add(paris(2025, 6, 6, 17), 120) == paris(2025, 6, 10, 10)
    assert LUNCH.closure_reason(date(2026, 5, 25)) is None  # Whit Monday 2026 in LUNCH


def test_closed_dates() -> None:
    assert LUNCH.add(paris(2025, 4, 30, 17), 120) == paris(2025, 5, 3, 11)  # 1 May holiday, 2 May closed
    assert LUNCH.closure_reason(date(2025, 5, 2)) == "closed date"
    assert (date(2025, 5, 2), "closed date") in LUNCH.holidays_between(date(2025, 5, 1), date(2025, 5, 31))


def test_date_hours_override_and_add_days_clamps() -> None:
    christmas_eve = BusinessCalendar(
        weekly={d: hours("09:00-18:00") for d in range(5)}, date_hours={date(2025, 12, 24): hours("09:00-12:00")}
    )
    assert christmas_eve.hours_on(date(2025, 12, 24)) == tuple(hours("09:00-12:00"))
    assert christmas_eve.between(paris(2025, 12, 24), paris(2025, 12, 25)) == 180
    assert christmas_eve.add(paris(2025, 12, 24, 11), 120) == paris(2025, 12, 26, 10)
    assert christmas_eve.add_days(paris(2025, 12, 23, 15), 1) == paris(2025, 12, 24, 12)  # clamped back
    assert christmas_eve.add_days(paris(2025, 12, 23, 11, 30), 1) == paris(2025, 12, 24, 11, 30)
    assert christmas_eve.add_days(paris(2025, 12, 23, 8), 1) == paris(2025, 12, 24, 9)
    assert christmas_eve.add_days(paris(2025, 12, 23, 15), 2) == paris(2025, 12, 26, 15)
    closed = BusinessCalendar(weekly={d: hours("09:00-18:00") for d in range(5)}, date_hours={date(2025, 12, 31): []})
    assert closed.closure_reason(date(2025, 12, 31)) == "closed date"
    assert not closed.is_business_day(date(2025, 12, 31))
    # date_hours can open a weekend day.
    saturday = BusinessCalendar(weekly={0: hours("09:00-18:00")}, date_hours={date(2025, 6, 7): hours("10:00-11:00")})
    assert saturday.closure_reason(date(2025, 6, 7)) is None
    assert saturday.add(paris(2025, 6, 6, 12), 30) == paris(2025, 6, 7, 10, 30)


@pytest.mark.parametrize("subdivision", ["57", "67", "68", "Moselle", "Alsace", "6AE"])
def test_alsace_moselle(subdivision: str) -> None:
    cal = BusinessCalendar(weekly={d: hours("09:00-18:00") for d in range(5)}, subdivision=subdivision)
    assert cal.closure_reason(date(2025, 4, 18)) == "public holiday: Good Friday"
    assert not cal.is_business_day(date(2025, 12, 26))
    assert cal.add(paris(2025, 12, 24, 17), 120) == paris(2025, 12, 29, 10)
    assert CONTRACT.is_business_day(date(2025, 4, 18)) and CONTRACT.is_business_day(date(2025, 12, 26))
    assert CONTRACT.add(paris(2025, 12, 24, 17), 120) == paris(2025, 12, 26, 10)


def test_far_years() -> None:
    assert CONTRACT.add(paris(1990, 6, 1, 17), 120) == paris(1990, 6, 5, 10)  # Whit Monday 1990
    assert CONTRACT.add(paris(2090, 5, 24, 17), 120) == paris(2090, 5, 26, 10)  # Ascension 2090
    assert CONTRACT.closure_reason(date(2090, 12, 25)) == "public holiday: Christmas Day"
    assert CONTRACT.between(paris(1990, 1, 1), paris(2090, 1, 1)) > 0


def test_100000_business_days() -> None:
    cal = BusinessCalendar(weekly={d: hours("09:00-18:00") for d in range(5)})
    start = paris(2025, 1, 6, 9)  # a Monday, open
    end = cal.add(start, 100_000 * 540)
    # Counted by walking the dates: the 100,000th business day, counting the first.
    day, counted = start.date(), 1
    while counted < 100_000:
        day += timedelta(days=1)
        counted += cal.is_business_day(day)
    assert end == datetime.combine(day, time(18), PARIS)
    assert cal.add_days(start, 99_999) == datetime.combine(day, time(9), PARIS)
    assert cal.between(start, end) == 100_000 * 540


def test_windows_moving_around_do_not_change_answers() -> None:
    queries = [
        paris(2025, 5, 7, 17),
        paris(1990, 6, 1, 17),
        paris(2090, 5, 24, 17),
        paris(2024, 1, 1, 3),
        paris(2031, 12, 31, 17),
        paris(2300, 7, 3, 12),
        paris(2025, 5, 7, 17),
    ]
    shared = BusinessCalendar(weekly={d: hours("09:00-18:00") for d in range(5)})
    for t in queries:
        fresh = BusinessCalendar(weekly={d: hours("09:00-18:00") for d in range(5)})
        assert shared.add(t, 5000) == fresh.add(t, 5000)
        assert shared.add_days(t, 7) == fresh.add_days(t, 7)
        assert shared.between(t, t + timedelta(days=40)) == fresh.between(t, t + timedelta(days=40))


def test_answers_are_right_at_every_new_year() -> None:
    # Each new year is, for some fresh calendar, the edge of its first window.
    for first_query in (paris(2025, 6, 1), paris(2031, 6, 1)):
        cal = BusinessCalendar(weekly={d: hours("09:00-18:00") for d in range(5)})
        cal.is_open(first_query)
        for year in range(2020, 2040):
            a, b = paris(year - 1, 12, 29, 12), paris(year, 1, 6, 12)
            assert cal.between(a, b) == between_reference(cal, a, b), year
            for day in range(1, 4):
                t = paris(year, 1, day, 10)
                assert cal.is_open(t) == is_open_reference(cal, t), t


def test_threads_share_a_calendar() -> None:
    cal = BusinessCalendar(weekly={d: hours("09:00-18:00") for d in range(5)})
    starts = [paris(1990 + 7 * i, 3, 1 + i, 10) for i in range(12)]
    expected = [BusinessCalendar(weekly={d: hours("09:00-18:00") for d in range(5)}).add(s, 30_000) for s in starts]
    results: list[list[datetime]] = []

    def work() -> None:
        results.append([cal.add(s, 30_000) for s in starts])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected] * 4


# ----------------------------------------------------------- time zones


def test_a_start_in_utc_gives_a_result_in_the_calendar_zone() -> None:
    start = datetime(2025, 3, 28, 16, tzinfo=UTC)  # 17:00 in Paris
    result = CONTRACT.add(start, 180)
    assert result == paris(2025, 3, 31, 11)
    assert result.tzinfo is PARIS and CONTRACT.zone is PARIS
    assert CONTRACT.add(datetime(2025, 5, 6, 15, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))), 1) == paris(
        2025, 5, 6, 12, 1
    )


def test_microseconds_are_kept() -> None:
    start = datetime(2025, 5, 6, 8, 0, 0, 123_457, tzinfo=UTC)  # 10:00:00.123457 in Paris
    assert CONTRACT.add(start, 0.5) == paris(2025, 5, 6, 10, 0, 30).replace(microsecond=123_457)
    assert CONTRACT.add(start, 1e-6) == start + timedelta(microseconds=60)
    assert CONTRACT.between(start, start + US) == 1 / 60_000_000
    assert CONTRACT.add(paris(2025, 5, 6, 17, 59, 59, 999_999), 1e-6) == paris(2025, 5, 7, 9, 0, 0, 59)


# ----------------------------------------------------------------- errors


def test_minutes_may_be_any_real_number_but_not_a_bool() -> None:
    tuesday = paris(2025, 5, 6, 10)
    assert CONTRACT.add(tuesday, Fraction(1, 3)) == paris(2025, 5, 6, 10, 0, 20)  # type: ignore[arg-type]
    assert CONTRACT.add(tuesday, Decimal("0.25")) == paris(2025, 5, 6, 10, 0, 15)  # type: ignore[arg-type]
    assert CONTRACT.add(tuesday, -0.0) == tuesday
    with pytest.raises(TypeError):
        CONTRACT.add(tuesday, True)
    with pytest.raises(TypeError):
        CONTRACT.add(tuesday, "5")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        CONTRACT.add_days(tuesday, 1.0)  # type: ignore[arg-type]


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2025, 5, 6, 10)
    calls: list[Callable[[], object]] = [
        lambda: CONTRACT.add(naive, 5),
        lambda: CONTRACT.add_days(naive, 1),
        lambda: CONTRACT.between(naive, paris(2025, 5, 6)),
        lambda: CONTRACT.between(paris(2025, 5, 6), naive),
        lambda: CONTRACT.is_open(naive),
        lambda: CONTRACT.next_open(naive),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="naive datetime .*: give a time zone offset"):
            call()
    with pytest.raises(TypeError):
        CONTRACT.add(date(2025, 5, 6), 5)  # type: ignore[arg-type]


def test_unknown_time_zone() -> None:
    with pytest.raises(ValueError, match="Mars/Olympus_Mons"):
        BusinessCalendar(weekly={0: hours("09:00-18:00")}, timezone="Mars/Olympus_Mons")


@pytest.mark.parametrize(
    "make",
    [
        lambda: Interval(time(18), time(9)),
        lambda: Interval(time(9), time(9)),
        lambda: Interval(time(9, tzinfo=UTC), time(18)),
        lambda: BusinessCalendar(weekly={0: hours("09:00-12:00", "11:00-14:00")}),
        lambda: BusinessCalendar(weekly={0: hours("20:00-24:00", "21:00-22:00")}),
        lambda: BusinessCalendar(weekly={7: hours("09:00-18:00")}),
        lambda: BusinessCalendar(weekly={}),
        lambda: BusinessCalendar(weekly={0: hours("09:00-18:00")}, country="XX"),
        lambda: BusinessCalendar(weekly={0: hours("09:00-18:00")}, subdivision="99"),
        lambda: BusinessCalendar(weekly={0: hours("09:00-18:00")}, country=None, subdivision="57"),
        lambda: BusinessCalendar(
            weekly={0: hours("09:00-18:00")}, closed_dates=[date(2025, 6, 9)], open_dates=[date(2025, 6, 9)]
        ),
        lambda: BusinessCalendar(weekly={0: hours("09:00-18:00")}, open_dates=[date(2025, 6, 8)]),  # a Sunday
        lambda: BusinessCalendar(
            weekly={0: hours("09:00-18:00")}, date_hours={date(2025, 1, 1): hours("12:00-13:00", "12:30-14:00")}
        ),
        lambda: CONTRACT.add(paris(2025, 5, 6, 10), -1),
        lambda: CONTRACT.add(paris(2025, 5, 6, 10), float("nan")),
        lambda: CONTRACT.add(paris(2025, 5, 6, 10), float("inf")),
        lambda: CONTRACT.add_days(paris(2025, 5, 6, 10), -1),
        lambda: CONTRACT.add(datetime(1, 1, 1, tzinfo=UTC), 5),
        lambda: CONTRACT.add(datetime(9999, 12, 31, tzinfo=UTC), 5),
        lambda: CONTRACT.add(paris(9997, 1, 1), 10**12),
    ],
)
def test_invalid_input_raises_value_error(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        make()


def test_a_calendar_open_only_on_some_dates_runs_out() -> None:
    once = BusinessCalendar(weekly={}, date_hours={date(2025, 6, 7): hours("10:00-11:00")})
    assert once.add(paris(2025, 1, 1), 60) == paris(2025, 6, 7, 11)
    with pytest.raises(ValueError, match="no opening hours after 2025"):
        once.add(paris(2025, 1, 1), 61)
    with pytest.raises(ValueError):
        once.next_open(paris(2025, 6, 8))
    assert once.closure_reason(date(2025, 6, 9)) == "closed on Mondays"
