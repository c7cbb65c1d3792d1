"""The calendar's integer forms (epoch microseconds) and its ruler give the datetime forms' answers.

The datetime forms are checked against a brute-force reference in test_calendar.py;
these hold the integer forms, which the engine uses, to them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, strategies as st

from sla_bridge.calendar import BusinessCalendar, Interval
from test_calendar import CALENDARS, calendars, examples, instants

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)


def us(t: datetime) -> int:
    return (t - EPOCH) // US


@calendars
@examples(80)
@given(a=instants(), b=instants(), minutes=st.integers(0, 30_000), n=st.integers(0, 40))
def test_integer_forms_equal_datetime_forms(name: str, a: datetime, b: datetime, minutes: int, n: int) -> None:
    cal = CALENDARS[name]
    ua, ub = cal.instant_us(a), cal.instant_us(b)
    assert (ua, ub) == (us(a), us(b))
    assert cal.open_us(ua, ub) / 60_000_000 == cal.between(a, b)
    assert cal.datetime_at(cal.add_us(ua, minutes * 60_000_000)) == cal.add(a, minutes)
    assert cal.datetime_at(cal.add_days_us(ua, n)) == cal.add_days(a, n)
    assert cal.next_open_us(ua) == us(cal.next_open(a))
    assert cal.datetime_at(ua).tzinfo is cal.zone and cal.datetime_at(ua) == a


@calendars
@examples(80)
@given(anchor=instants(), a=instants(), wanted=st.integers(1, 20_000 * 60_000_000))
def test_ruler_positions_are_open_time_from_the_anchor(name: str, anchor: datetime, a: datetime, wanted: int) -> None:
    cal = CALENDARS[name]
    ruler = cal.ruler(us(anchor))
    position = ruler.position_of(a)
    assert position == ruler.position(us(a)) == cal.open_us(us(anchor), us(a))
    assert ruler.position(us(anchor)) == 0
    if position + wanted > 0:  # an instant after the anchor's: what the engine asks
        assert ruler.instant(position + wanted) == cal.add_us(us(a), wanted)


def test_wall_times_of_the_calendar_s_zone_are_read_like_any_other() -> None:
    """The zone's own datetimes take a shortcut (the index's daily offsets): not on DST days."""
    cal = CALENDARS["contract"]
    paris = ZoneInfo("Europe/Paris")
    for day in (date(2025, 3, 30), date(2025, 10, 26), date(2025, 6, 2)):
        for hour in range(24):
            for fold in (0, 1):
                t = datetime.combine(day, time(hour, 30, fold=fold), paris)
                assert cal.instant_us(t) == us(t)


def test_tickets_of_different_eras_do_not_rebuild_the_index_each_time() -> None:
    cal = BusinessCalendar(weekly={d: [Interval(time(9), time(18))] for d in range(5)})
    eras = [datetime(2025, 3, 3, 10, tzinfo=UTC), datetime(2064, 3, 3, 10, tzinfo=UTC)]
    answers = [cal.add(t, 600) for t in eras]
    windows = {id(cal._ix)}
    for _ in range(3):
        for t, answer in zip(eras, answers):
            assert cal.add(t, 600) == answer
            windows.add(id(cal._ix))
    assert len(windows) == 2


@pytest.mark.parametrize("zone", [UTC, timezone(timedelta(hours=-5)), ZoneInfo("America/New_York")])
def test_integer_forms_of_instants_in_other_zones(zone: object) -> None:
    cal = CALENDARS["contract"]
    t = datetime(2025, 3, 28, 16, 59, 59, 999_999, tzinfo=zone)  # type: ignore[arg-type]
    assert cal.instant_us(t) == us(t)
    assert cal.datetime_at(cal.add_us(cal.instant_us(t), 60_000_000)) == cal.add(t, 1)
