"""The calendar's shortcuts give zoneinfo's answers exactly, clock changes included.

``datetime_at`` and ``BusinessRuler.instant_at`` build datetimes by wall-clock
arithmetic where the index knows the day's UTC offset, and ``position_of`` reads
that offset itself: each must equal what zoneinfo gives (value, zone and fold),
around the days the clocks change as well as elsewhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, strategies as st

from sla_bridge.calendar import BusinessCalendar
from test_calendar import CALENDARS, calendars, examples, instants

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
# The hours around Paris's and New York's clock changes, to the microsecond.
CHANGES = [datetime(2025, 3, 30, 1, tzinfo=UTC), datetime(2025, 10, 26, 1, tzinfo=UTC),
           datetime(2025, 3, 9, 7, tzinfo=UTC), datetime(2025, 11, 2, 6, tzinfo=UTC)]
near_changes = st.builds(lambda base, offset: base + timedelta(microseconds=offset),
                         st.sampled_from(CHANGES), st.integers(-3 * 86_400_000_000, 3 * 86_400_000_000))


def zoneinfo_datetime(cal: BusinessCalendar, us: int) -> datetime:
    return (EPOCH + us * US).astimezone(cal.zone)


def same(a: datetime, b: datetime) -> bool:
    return a == b and a.tzinfo is b.tzinfo and a.fold == b.fold and a.replace(tzinfo=None) == b.replace(tzinfo=None)


@calendars
@examples(150)
@given(t=instants() | near_changes)
def test_datetime_at_is_zoneinfo_s_answer(name: str, t: datetime) -> None:
    cal = CALENDARS[name]
    cal.is_open(t)  # the index is built: the shortcut applies
    us = (t - EPOCH) // US
    assert same(cal.datetime_at(us), zoneinfo_datetime(cal, us))


@calendars
@examples(150)
@given(anchor=instants(), t=instants() | near_changes, wanted=st.integers(1, 20_000 * 60_000_000))
def test_ruler_instant_at_and_position_of(name: str, anchor: datetime, t: datetime, wanted: int) -> None:
    cal = CALENDARS[name]
    ruler = cal.ruler(cal.instant_us(anchor))
    local = t.astimezone(cal.zone)  # the calendar's own zone: the shortcut of position_of
    expected = ruler.position(cal.instant_us(t))
    assert ruler.position_of(t) == ruler.position_of(local) == expected
    assert ruler.position_of(anchor) == 0
    if expected + wanted > 0:
        us, at = ruler.instant_at(expected + wanted)
        assert us == ruler.instant(expected + wanted) == cal.add_us(cal.instant_us(t), wanted)
        assert same(at, zoneinfo_datetime(cal, us))
