"""Brute-force business time, to check ``sla_bridge.calendar`` against.

Deliberately naive and independent of the implementation's index: it walks
UTC minutes one by one and asks, for each, whether the local wall-clock time
falls inside ``cal.hours_on(local date)``. Only ``hours_on`` and ``zone`` are
borrowed from the calendar, so holidays and exceptions are shared but all
arithmetic is not. To stay fast it jumps to the next local midnight when the
rest of the day has no opening hours, which cannot skip an open minute.

Valid for minute-aligned instants and calendars whose interval boundaries
are whole minutes outside DST gaps and repeated hours (there the
implementation's documented fold=0 rule and "wall time inside an interval"
differ on purpose).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sla_bridge.calendar import BusinessCalendar

MINUTE = timedelta(minutes=1)
_24H = time(0)


def _open_at(cal: BusinessCalendar, t: datetime) -> bool:
    local = t.astimezone(cal.zone)
    wall = local.time()
    for iv in cal.hours_on(local.date()):
        if iv.start <= wall and (iv.end == _24H or wall < iv.end):
            return True
    return False


def _rest_of_day_closed(cal: BusinessCalendar, t: datetime) -> bool:
    local = t.astimezone(cal.zone)
    wall = local.time()
    return all(iv.end != _24H and iv.end <= wall for iv in cal.hours_on(local.date()))


def _next_midnight(cal: BusinessCalendar, t: datetime) -> datetime:
    local = t.astimezone(cal.zone)
    following = local.date() + timedelta(days=1)
    return datetime(following.year, following.month, following.day, tzinfo=cal.zone).astimezone(UTC)


def _step(cal: BusinessCalendar, t: datetime) -> tuple[datetime, bool]:
    """The next instant to look at after ``t``, and whether ``[t, next)`` was open."""
    if _open_at(cal, t):
        return t + MINUTE, True
    if _rest_of_day_closed(cal, t):
        return _next_midnight(cal, t), False
    return t + MINUTE, False


def _check(t: datetime) -> datetime:
    assert t.tzinfo is not None and t.second == 0 and t.microsecond == 0, t
    return t.astimezone(UTC)


def add_reference(cal: BusinessCalendar, start: datetime, minutes: int) -> datetime:
    """The earliest instant at which ``minutes`` open minutes have elapsed since ``start``."""
    t = _check(start)
    left = minutes
    while left > 0:
        t, was_open = _step(cal, t)
        if was_open:
            left -= 1
    return t.astimezone(cal.zone)


def between_reference(cal: BusinessCalendar, a: datetime, b: datetime) -> int:
    """Open minutes in ``[a, b)``, negative when ``b < a``."""
    a, b = _check(a), _check(b)
    if b < a:
        return -between_reference(cal, b, a)
    t, count = a, 0
    while t < b:
        following, was_open = _step(cal, t)
        if was_open:
            count += 1
        t = min(following, b)
    return count


def is_open_reference(cal: BusinessCalendar, t: datetime) -> bool:
    return _open_at(cal, t)


def add_days_reference(cal: BusinessCalendar, start: datetime, n: int) -> datetime:
    """``add_days`` by walking dates and reading wall times (see the module docstring)."""
    t = _check(start)
    while not _open_at(cal, t):
        t, _ = _step(cal, t)
    local = t.astimezone(cal.zone)
    wall = local.time().replace(fold=0)
    day = local.date()
    for _ in range(n):
        day += timedelta(days=1)
        while not cal.hours_on(day):
            day += timedelta(days=1)
    if n == 0:
        return local
    return _clamped(cal, day, wall)


def _clamped(cal: BusinessCalendar, day: date, wall: time) -> datetime:
    hours = cal.hours_on(day)
    chosen = hours[0].start  # before the first opening: the first opening
    for iv in hours:
        if iv.start <= wall:
            # Inside the interval: the wall time itself; after it: its end
            # (an interval reaching 24:00 always contains a later wall time).
            chosen = wall if iv.end == _24H or wall < iv.end else iv.end
    return datetime.combine(day, chosen, cal.zone).astimezone(UTC).astimezone(cal.zone)
