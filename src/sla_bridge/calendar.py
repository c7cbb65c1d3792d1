"""Business time: when a support team is open, and deadlines measured in that time.

A support contract promises "first response within 4 business hours" or
"resolution within 5 business days", so every deadline sla-bridge reports is
computed here. The module is pure: it does no I/O and never reads the clock,
so the engine can replay any history and the tests can pin every instant.

Why an index
------------
Deadline engines call ``add`` and ``between`` for every open ticket on every
tick, so stepping through minutes or days is not an option. The calendar
lays the opening intervals of a window of years out as sorted integer
instants (microseconds since the Unix epoch) with a running total of open
time. ``add`` and ``between`` are then two binary searches and some integer
arithmetic, exact to the microsecond. The window is built on demand and
grows (or moves) by itself, so any instant from year 2 to year 9997 works;
public holidays come from the ``holidays`` package for whatever years the
window needs.

Conventions
-----------
* Opening hours are local wall-clock ``Interval``s, half-open
  ``[start, end)``; ``end == time(0, 0)`` means midnight at the end of the
  day (24:00), so ``Interval(time(0), time(0))`` is the whole day.
* A date's hours: ``date_hours`` for that date if given (overrides all),
  else closed if it is in ``closed_dates``, else its weekday's hours unless
  it is a public holiday that is not in ``open_dates``.
* Every operation takes timezone-aware datetimes, in any zone, and returns
  aware datetimes in the calendar's zone. A naive datetime raises
  ``ValueError``.
* ``add(start, m)`` is the earliest instant ``x >= start`` at which ``m``
  open minutes have elapsed since ``start``: a result that lands exactly on
  a closing time stays there (Tuesday 15:00 + 3 h = Tuesday 18:00, not
  Wednesday 09:00); ``add(t, 0) == t`` even when closed; for ``m > 0`` a
  closed start first moves to the next opening.
* ``between(a, b)`` is the open time in ``[a, b)`` in minutes, and
  ``-between(b, a)`` when ``b < a``, so ``between(t, add(t, m)) == m``.
* ``add_days(start, n)`` moves a closed start to ``next_open(start)``, then
  keeps its local wall-clock time ``n`` business days (dates with any
  opening hours) later. When that time is not open on the target date the
  result is clamped back to the end of the date's preceding interval, or
  forward to the date's first opening when it is earlier than that.
* DST: the intervals are wall-clock times, converted to instants through
  ``zoneinfo``; a day of 09:00-18:00 is nine real hours even on the days
  the clocks change (they change at night). A wall time that does not exist
  (spring-forward gap) or occurs twice (fall-back) is read with ``fold=0``,
  zoneinfo's rule: the offset in force before the change. Where that would
  make an interval overlap the previous one it is cut so that no instant is
  counted twice.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as _holidays

__all__ = ["WHOLE_DAY", "BusinessCalendar", "BusinessRuler", "Interval"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US: Final = timedelta(microseconds=1)
_US_PER_MINUTE: Final = 60_000_000
_MIDNIGHT: Final = time(0)
_ONE_DAY: Final = timedelta(days=1)
_US_PER_DAY: Final = 86_400_000_000
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()

# The index covers whole local years and reads the next year's first
# midnight, so it can only be built for years 1..9998; a query needs a year
# of slack on each side (local dates straddle UTC years).
_MIN_YEAR: Final = 1
_MAX_YEAR: Final = 9998
# A query closer than this to the edge of the window triggers a rebuild, so
# that every local date touching the query instant is inside the window.
_EDGE_US: Final = 2 * 86_400 * 1_000_000
# Below 2**32 seconds a float timestamp is within 0.24 us of the exact value,
# so datetime.fromtimestamp (which rounds to the microsecond) is exact and
# cheaper than building a timedelta.
_FLOAT_EXACT_US: Final = 2**32 * 1_000_000
_FIRST_WINDOW_YEARS_AFTER: Final = 3
_KEPT_WINDOWS: Final = 4
# Far more minutes than years 2..9997 hold; larger values take the checked path.
_FAST_MINUTES: Final = 2**53 // 60_000_000
# Past every instant the index holds: stops the forward steps of its lookups.
_SENTINEL: Final = 2**63

_WEEKDAYS: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# The holidays package names Alsace-Moselle differently across versions and
# has no code for the two Alsace departments: accept the department numbers
# people actually write and map them to whatever the installed version knows.
_SUBDIVISION_CANDIDATES: Final[Mapping[tuple[str, str], tuple[str, ...]]] = {
    ("FR", "57"): ("57", "Moselle", "GES"),
    ("FR", "67"): ("6AE", "Alsace", "67", "GES"),
    ("FR", "68"): ("6AE", "Alsace", "68", "GES"),
    ("FR", "ALSACE-MOSELLE"): ("6AE", "Alsace", "GES"),
}

_NO_DATE_HOURS: Final[Mapping[date, Sequence[Interval]]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Interval:
    """An opening interval in local wall-clock time, half-open ``[start, end)``.

    ``end == time(0, 0)`` stands for 24:00 (midnight ending the day), the
    only way to keep a day open until midnight; otherwise ``start < end``.
    Times are naive (the calendar's zone applies) and may carry seconds.
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, time):
                raise TypeError(f"Interval.{name} must be a datetime.time, got {value!r}")
            if value.tzinfo is not None:
                raise ValueError(f"Interval.{name} must be a naive time: the calendar's time zone applies")
            if value.fold:
                # fold only means something on an aware datetime; keep equal
                # intervals equal.
                object.__setattr__(self, name, value.replace(fold=0))
        if self.end != _MIDNIGHT and self.start >= self.end:
            raise ValueError(f"interval {self} must start before it ends")

    @property
    def until_midnight(self) -> bool:
        """True when the interval runs until the end of the day (24:00)."""
        return self.end == _MIDNIGHT

    def contains(self, t: time) -> bool:
        """Whether the wall-clock time ``t`` is inside ``[start, end)``."""
        return self.start <= t and (self.until_midnight or t < self.end)

    def __str__(self) -> str:
        end = "24:00" if self.until_midnight else _format_time(self.end)
        return f"{_format_time(self.start)}-{end}"


WHOLE_DAY: Final = Interval(_MIDNIGHT, _MIDNIGHT)
"""Open all day, from 00:00 to 24:00 (for 24/7 service levels)."""


def _format_time(t: time) -> str:
    return t.isoformat(timespec="minutes" if not (t.second or t.microsecond) else "auto")


class _Index:
    """Opening intervals of local years ``y0..y1`` as sorted epoch microseconds.

    ``cum_end[j]`` is the open time from the window start to ``ends[j]``;
    ``seg_day[j]`` is the business-day number of segment ``j``, and business
    day ``k`` (date ordinal ``day_ord[k]``) owns segments
    ``day_seg[k]:day_seg[k + 1]``; ``day_off[k]`` is its UTC offset in
    microseconds, or None when the clocks change that day. Queries are fast
    inside ``[lo, hi)``.

    Two tables replace the binary searches of the hot paths (a bisect over
    thousands of segments costs more than the rest of an ``add``):
    ``by_day[d - day0]`` is the last segment starting at or before UTC
    midnight of epoch day ``d``, so the segment holding an instant is a step
    or two away; ``by_open[t // step]`` is the first segment whose running
    total reaches ``t``, with ``step`` the mean segment length, so a target
    of open time is also a step or two away. ``starts_pad`` and ``cum_pad``
    end with a sentinel that stops those forward steps. ``wall_off[k]`` is
    the UTC offset of local day ``wall_day0 + k`` (days since 1970-01-01),
    or None when the clocks change that day: it turns a wall-clock time of
    the calendar's zone into an instant without asking zoneinfo.
    Never mutated once built, so readers on other threads see a consistent
    snapshot.
    """

    __slots__ = (
        "by_day",
        "by_open",
        "cum_end",
        "cum_pad",
        "day0",
        "day_off",
        "day_ord",
        "day_seg",
        "ends",
        "exact",
        "hi",
        "lo",
        "numpy",
        "seg_day",
        "starts",
        "starts_pad",
        "step",
        "total",
        "wall_day0",
        "wall_off",
        "y0",
        "y1",
    )

    def __init__(
        self,
        y0: int,
        y1: int,
        lo: int,
        hi: int,
        starts: list[int],
        ends: list[int],
        cum_end: list[int],
        seg_day: list[int],
        day_ord: list[int],
        day_seg: list[int],
        day_off: list[int | None],
    ) -> None:
        self.y0, self.y1, self.lo, self.hi = y0, y1, lo, hi
        self.starts, self.ends, self.cum_end, self.seg_day = starts, ends, cum_end, seg_day
        self.day_ord, self.day_seg, self.day_off = day_ord, day_seg, day_off
        self.total = cum_end[-1] if cum_end else 0
        self.numpy: object = None  # the boundaries as numpy arrays, made by calendar_batch when asked
        self.wall_day0 = 0
        self.wall_off: list[int | None] = []
        # Every instant of the window within the range where a float timestamp is
        # exact: datetimes are made by ``fromtimestamp`` with no further check.
        self.exact = bool(starts) and -_FLOAT_EXACT_US < starts[0] and ends[-1] < _FLOAT_EXACT_US
        self.starts_pad = [*starts, _SENTINEL]
        self.cum_pad = [*cum_end, _SENTINEL]
        # Both tables are walked once, in step with the sorted segments.
        self.day0 = (lo - _EDGE_US) // _US_PER_DAY
        self.by_day: list[int] = []
        by_day = self.by_day
        i, count = -1, len(starts)
        for midnight in range(self.day0 * _US_PER_DAY, hi + _EDGE_US + _US_PER_DAY, _US_PER_DAY):
            while i + 1 < count and starts[i + 1] <= midnight:
                i += 1
            by_day.append(i)
        self.step = step = max(1, self.total // count) if count else 1
        self.by_open: list[int] = []
        by_open = self.by_open
        j, cum = 0, self.cum_pad
        for threshold in range(0, self.total + 1, step):
            while cum[j] < threshold:
                j += 1
            by_open.append(j)

    def segment(self, us: int) -> int:
        """The last segment starting at or before ``us`` (-1 if none): ``bisect_right(starts, us) - 1``."""
        i = self.by_day[us // _US_PER_DAY - self.day0]
        starts = self.starts_pad
        while starts[i + 1] <= us:
            i += 1
        return i


class BusinessCalendar:
    """Opening hours, public holidays and exceptions of one support team.

    ``weekly`` maps a weekday (0 = Monday .. 6 = Sunday) to its intervals; a
    missing or empty weekday is closed. Public holidays come from the
    ``holidays`` package for ``country``/``subdivision`` (``country=None``
    for none); for France, ``"57"``, ``"67"`` and ``"68"`` (Alsace-Moselle)
    add Good Friday and 26 December. ``closed_dates`` closes extra dates;
    ``open_dates`` keeps public holidays open with their weekday's hours;
    ``date_hours`` sets the hours of single dates, overriding everything
    (an empty sequence closes the date). Invalid settings raise ``ValueError``.
    """

    __slots__ = (
        "_closed",
        "_closed_ords",
        "_date_hours",
        "_date_spans",
        "_holiday_args",
        "_holiday_names",
        "_holiday_years",
        "_ix",
        "_last_open_year",
        "_local_epoch",
        "_lock",
        "_offsets",
        "_open_dates",
        "_open_ords",
        "_weekly",
        "_weekly_spans",
        "_windows",
        "_zone",
    )

    def __init__(
        self,
        *,
        weekly: Mapping[int, Sequence[Interval]],
        timezone: str = "Europe/Paris",
        country: str | None = "FR",
        subdivision: str | None = None,
        closed_dates: Iterable[date] = (),
        open_dates: Iterable[date] = (),
        date_hours: Mapping[date, Sequence[Interval]] = _NO_DATE_HOURS,
    ) -> None:
        self._zone = _zone(timezone)
        # Subtracting two datetimes of the same zone object is a plain
        # wall-clock difference, with no offset lookup (see ``_us``).
        self._local_epoch = datetime(1970, 1, 1, tzinfo=self._zone)
        self._weekly = _weekly_hours(weekly)
        self._date_hours = {_plain_date(d, "date_hours"): _day_hours(ivs, f"{d}") for d, ivs in date_hours.items()}
        self._closed = frozenset(_plain_date(d, "closed_dates") for d in closed_dates)
        self._open_dates = frozenset(_plain_date(d, "open_dates") for d in open_dates)
        self._check_exceptions()
        self._holiday_args = _holiday_source(country, subdivision)
        # The index build walks date ordinals and microseconds of the day:
        # the same settings keyed that way keep it free of date objects.
        self._weekly_spans = tuple(_spans(ivs) for ivs in self._weekly)
        self._date_spans = {d.toordinal(): _spans(ivs) for d, ivs in self._date_hours.items()}
        self._closed_ords = frozenset(d.toordinal() for d in self._closed)
        self._open_ords = frozenset(d.toordinal() for d in self._open_dates)
        self._offsets: dict[timedelta, int] = {}
        self._holiday_names: dict[int, str] = {}
        self._holiday_years: set[int] = set()
        # Without weekly hours all open time is in date_hours: the index
        # must stop growing past it instead of searching up to year 9998.
        open_years = [d.year for d, ivs in self._date_hours.items() if ivs]
        if not any(self._weekly) and not open_years:
            raise ValueError("the calendar is never open: give weekly hours or date_hours")
        self._last_open_year = None if any(self._weekly) else max(open_years)
        self._ix: _Index | None = None
        self._windows: list[_Index] = []  # the current window first, then recent others
        self._lock = threading.RLock()

    def _check_exceptions(self) -> None:
        both = self._closed & self._open_dates
        if both:
            raise ValueError(f"dates both closed and open: {', '.join(map(str, sorted(both)))}")
        for d in sorted(self._open_dates):
            if not self._weekly[d.weekday()]:
                raise ValueError(
                    f"open date {d} is a {_WEEKDAYS[d.weekday()]}, which has no weekly hours: use date_hours to open it"
                )

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone: opening hours are read in it, results are given in it."""
        return self._zone

    def __repr__(self) -> str:
        return f"<BusinessCalendar {self._zone.key} holidays={self._holiday_args[0] if self._holiday_args else None}>"

    # ----------------------------------------------------------------- dates

    def hours_on(self, d: date) -> tuple[Interval, ...]:
        """The opening intervals of local date ``d``, after holidays and exceptions."""
        d = _plain_date(d, "hours_on")
        special = self._date_hours.get(d)
        if special is not None:
            return special
        if d in self._closed:
            return ()
        weekly = self._weekly[d.weekday()]
        if weekly and d not in self._open_dates and self._holiday_name(d) is not None:
            return ()
        return weekly

    def is_business_day(self, d: date) -> bool:
        """Whether local date ``d`` has any opening hours."""
        return bool(self.hours_on(d))

    def closure_reason(self, d: date) -> str | None:
        """Why local date ``d`` is closed, for explanations; ``None`` when it is open.

        One of ``"closed date"`` (``closed_dates`` or an empty ``date_hours``),
        ``"weekend"``, ``"closed on <Weekday>s"`` (a weekday without weekly
        hours) or ``"public holiday: <name>"``. A public holiday that falls on
        a weekend reports ``"weekend"``.
        """
        d = _plain_date(d, "closure_reason")
        special = self._date_hours.get(d)
        if special is not None:
            return None if special else "closed date"
        weekday = d.weekday()
        if not self._weekly[weekday]:
            return "weekend" if weekday >= 5 else f"closed on {_WEEKDAYS[weekday]}s"
        if d not in self._open_dates:
            name = self._holiday_name(d)
            if name is not None:
                return f"public holiday: {name}"
        if d in self._closed:
            return "closed date"
        return None

    def holidays_between(self, a: date, b: date) -> list[tuple[date, str]]:
        """Dates in ``[a, b]`` closed although their weekday has hours, with ``closure_reason``.

        These are the public holidays and closed dates that pushed a deadline
        back; holidays on weekends are left out. Empty when ``b < a``.
        """
        a, b = _plain_date(a, "holidays_between"), _plain_date(b, "holidays_between")
        found: list[tuple[date, str]] = []
        for ordinal in range(a.toordinal(), b.toordinal() + 1):
            d = date.fromordinal(ordinal)
            if self._weekly[d.weekday()] and not self.hours_on(d):
                reason = self.closure_reason(d)
                assert reason is not None  # a closed date always has a reason
                found.append((d, reason))
        return found

    # -------------------------------------------------------------- instants
    #
    # Each question has an integer form (epoch microseconds in and out, the
    # ``*_us`` methods) for callers that ask many questions about the same
    # instants, like the engine: they convert each instant once instead of
    # once per call, and build datetimes only for the answers they keep.

    def instant_us(self, t: datetime) -> int:
        """Epoch microseconds of the aware datetime ``t`` (the integer forms' input)."""
        return self._us(t, "t")

    def _us(self, t: datetime, what: str) -> int:
        # A datetime in the calendar's own zone is read through the index's
        # table of daily offsets: three times cheaper than zoneinfo's lookup.
        ix = self._ix
        if t.__class__ is datetime and t.tzinfo is self._zone and ix is not None:
            wall = t - self._local_epoch
            k = wall.days - ix.wall_day0
            if 0 <= k < len(ix.wall_off):
                offset = ix.wall_off[k]
                if offset is not None:
                    return (wall.days * 86_400 + wall.seconds) * 1_000_000 + wall.microseconds - offset
        return _to_us(t, what)

    def is_open(self, t: datetime) -> bool:
        """Whether the team is open at instant ``t`` (intervals are half-open)."""
        us = self._us(t, "t")
        ix = self._ix
        if ix is None or not ix.lo <= us < ix.hi:
            ix = self._cover(us)
        i = ix.segment(us)
        return i >= 0 and us < ix.ends[i]

    def next_open(self, t: datetime) -> datetime:
        """``t`` itself (in the calendar's zone) if open, else the next opening instant."""
        us = self._us(t, "t")
        found = self.next_open_us(us)
        return t.astimezone(self._zone) if found == us else self._datetime(found)

    def next_open_us(self, us: int) -> int:
        """``next_open`` in epoch microseconds."""
        ix = self._ix
        if ix is None or not ix.lo <= us < ix.hi:
            ix = self._cover(us)
        i = ix.segment(us)
        if i >= 0 and us < ix.ends[i]:
            return us
        while i + 1 >= len(ix.starts):
            ix = self._grow(ix)
        return ix.starts[i + 1]

    def add(self, start: datetime, minutes: float) -> datetime:
        """The earliest instant ``x >= start`` with ``minutes`` open minutes in ``[start, x)``.

        A result on a closing time stays there (15:00 + 3 h = 18:00 the same
        day, not 09:00 the next one). ``add(t, 0) == t`` even when closed;
        for ``minutes > 0`` a closed start first moves to the next opening.
        Minutes may be fractional and are counted to the microsecond.
        Negative minutes raise ``ValueError``.
        """
        ix = self._ix
        # ``_us``, inlined: this is the calendar's hottest path.
        if start.__class__ is datetime and start.tzinfo is self._zone and ix is not None:
            wall = start - self._local_epoch
            days = wall.days
            k = days - ix.wall_day0
            offset = ix.wall_off[k] if 0 <= k < len(ix.wall_off) else None
            us = (days * 86_400 + wall.seconds) * 1_000_000 + wall.microseconds - offset if offset is not None \
                else _to_us(start, "start")
        else:
            us = _to_us(start, "start")
        kind = minutes.__class__
        # One comparison also turns NaN, infinities and negatives away to
        # the checked path.
        if (kind is int or kind is float) and 0 < minutes < _FAST_MINUTES:
            wanted = round(minutes * _US_PER_MINUTE)
        else:
            wanted = _minutes_to_us(minutes)
        if wanted == 0:  # also a float below half a microsecond
            return start.astimezone(self._zone)
        if ix is None or not ix.lo <= us < ix.hi:
            ix = self._cover(us)
        # ix.segment and the search of the running totals, inlined.
        i = ix.by_day[us // _US_PER_DAY - ix.day0]
        starts = ix.starts_pad
        while starts[i + 1] <= us:
            i += 1
        # Open time from the window start to `start`, plus what we want.
        if i < 0:
            target = wanted
        else:
            end = ix.ends[i]
            target = ix.cum_end[i] - (end - us if us < end else 0) + wanted
        while target > ix.total:
            ix = self._grow(ix, short_us=target - ix.total)  # same start: `i` and `target` hold
        # The first running total >= target: a target equal to a segment's
        # running total ends on that segment's closing time, not on the next
        # opening.
        j = ix.by_open[target // ix.step]
        cum = ix.cum_pad
        while cum[j] < target:
            j += 1
        if ix.exact:
            return datetime.fromtimestamp((ix.ends[j] - (cum[j] - target)) / 1e6, self._zone)
        return self._datetime(ix.ends[j] - (cum[j] - target))

    def add_us(self, start: int, wanted: int) -> int:
        """``add`` in epoch microseconds, for ``wanted >= 0`` microseconds of open time."""
        if wanted <= 0:
            if wanted < 0:
                raise ValueError(f"wanted must be >= 0 microseconds, got {wanted}")
            return start
        ix = self._ix
        if ix is None or not ix.lo <= start < ix.hi:
            ix = self._cover(start)
        i = ix.by_day[start // _US_PER_DAY - ix.day0]
        starts = ix.starts_pad
        while starts[i + 1] <= start:
            i += 1
        if i < 0:
            target = wanted
        else:
            end = ix.ends[i]
            target = ix.cum_end[i] - (end - start if start < end else 0) + wanted
        while target > ix.total:
            ix = self._grow(ix, short_us=target - ix.total)  # same start: `i` and `target` hold
        j = ix.by_open[target // ix.step]
        cum = ix.cum_pad
        while cum[j] < target:
            j += 1
        return ix.ends[j] - (cum[j] - target)

    def between(self, a: datetime, b: datetime) -> float:
        """Open minutes in ``[a, b)``; ``-between(b, a)`` when ``b < a``.

        Counted in integer microseconds and divided at the end, so whole
        seconds give exact results (up to float rounding of the division).
        """
        return self.open_us(self._us(a, "a"), self._us(b, "b")) / _US_PER_MINUTE

    def open_us(self, a: int, b: int) -> int:
        """Open microseconds in ``[a, b)`` (``between`` before the division); negative when ``b < a``."""
        ix = self._ix
        if ix is None or not (ix.lo <= a < ix.hi and ix.lo <= b < ix.hi):
            ix = self._cover(a, b)
        # ix.segment for each end, inlined: the engine's most frequent question.
        by_day, day0, starts, ends, cum_end = ix.by_day, ix.day0, ix.starts_pad, ix.ends, ix.cum_end
        i = by_day[a // _US_PER_DAY - day0]
        while starts[i + 1] <= a:
            i += 1
        before_a = 0 if i < 0 else cum_end[i] - (ends[i] - a if a < ends[i] else 0)
        i = by_day[b // _US_PER_DAY - day0]
        while starts[i + 1] <= b:
            i += 1
        before_b = 0 if i < 0 else cum_end[i] - (ends[i] - b if b < ends[i] else 0)
        return before_b - before_a

    def add_days(self, start: datetime, n: int) -> datetime:
        """The same local wall-clock time ``n`` business days after ``next_open(start)``.

        A business day is a date with any opening hours. When that wall time
        is not open on the target date (a shorter day, a lunch break) the
        result is clamped back to the end of the date's preceding interval,
        or to the date's first opening when the wall time is before it.
        ``add_days(t, 0) == next_open(t)``. Negative ``n`` raises ``ValueError``.
        """
        return self._datetime(self.add_days_us(self._us(start, "start"), n))

    def add_days_us(self, us: int, n: int) -> int:
        """``add_days`` in epoch microseconds."""
        if n.__class__ is not int:
            raise TypeError(f"n must be an int, got {n!r}")
        if n < 0:
            raise ValueError(f"n must be >= 0 business days, got {n}")
        ix = self._ix
        if ix is None or not ix.lo <= us < ix.hi:
            ix = self._cover(us)
        i = ix.segment(us)
        if i < 0 or us >= ix.ends[i]:
            while i + 1 >= len(ix.starts):
                ix = self._grow(ix)
            i += 1
            us = ix.starts[i]
        if n == 0:
            return us
        day = ix.seg_day[i]
        target = day + n
        while target >= len(ix.day_ord):
            ix = self._grow(ix, short_days=target + 1 - len(ix.day_ord))
        first, stop = ix.day_seg[target], ix.day_seg[target + 1]
        offset, target_offset = ix.day_off[day], ix.day_off[target]
        if offset is not None and target_offset is not None:
            # Neither day has a clock change: wall time is plain arithmetic.
            wanted = us + offset + (ix.day_ord[target] - ix.day_ord[day]) * _US_PER_DAY - target_offset
        else:
            wall = self._datetime(us).time().replace(fold=0)
            wanted = _local_us(date.fromordinal(ix.day_ord[target]), wall, self._zone)
        if wanted <= ix.starts[first]:
            return ix.starts[first]
        j = bisect_right(ix.starts, wanted, first, stop) - 1
        return min(wanted, ix.ends[j])

    def datetime_at(self, us: int) -> datetime:
        """The instant ``us`` (epoch microseconds) as an aware datetime in the calendar's zone."""
        if -_FLOAT_EXACT_US < us < _FLOAT_EXACT_US:
            return datetime.fromtimestamp(us / 1e6, self._zone)
        return (_EPOCH + timedelta(microseconds=us)).astimezone(self._zone)

    def ruler(self, anchor: int) -> BusinessRuler:
        """Business time measured from the instant ``anchor`` (epoch microseconds)."""
        return BusinessRuler(self, anchor)

    # ----------------------------------------------------------------- index

    def _datetime(self, us: int) -> datetime:
        if -_FLOAT_EXACT_US < us < _FLOAT_EXACT_US:
            return datetime.fromtimestamp(us / 1e6, self._zone)
        return (_EPOCH + timedelta(microseconds=us)).astimezone(self._zone)

    def _cover(self, *points: int) -> _Index:
        """An index whose fast range holds every instant in ``points``."""
        with self._lock:
            ix = self._ix
            if ix is not None and all(ix.lo <= p < ix.hi for p in points):
                return ix
            # A service meets tickets of different eras in turn (a history of years, a
            # what-if far back): recent windows are kept, not rebuilt at each switch.
            for kept in self._windows:
                if all(kept.lo <= p < kept.hi for p in points):
                    self._keep(kept)
                    return kept
            years = [(_EPOCH + timedelta(microseconds=p)).year for p in points]
            need0, need1 = min(years) - 1, max(years) + 1
            if need0 < _MIN_YEAR or need1 > _MAX_YEAR:
                raise ValueError(
                    f"business time is supported for years {_MIN_YEAR + 1}..{_MAX_YEAR - 1}, "
                    f"got an instant in year {min(years) if need0 < _MIN_YEAR else max(years)}"
                )
            if ix is None:
                y0, y1 = need0, need1 + _FIRST_WINDOW_YEARS_AFTER
            else:
                span = ix.y1 - ix.y0 + 1
                if need1 < ix.y0 - span or need0 > ix.y1 + span:
                    # Far from the current window: start a new one rather
                    # than build every year in between.
                    y0, y1 = need0, need1 + _FIRST_WINDOW_YEARS_AFTER
                else:
                    # Near: grow geometrically so a drifting workload
                    # rebuilds O(log n) times.
                    y0 = ix.y0 if need0 >= ix.y0 else min(need0, ix.y0 - span)
                    y1 = ix.y1 if need1 <= ix.y1 else max(need1, ix.y1 + span)
            ix = self._build(max(y0, _MIN_YEAR), min(y1, _MAX_YEAR))
            self._keep(ix)
            return ix

    def _grow(self, ix: _Index, short_us: int = 0, short_days: int = 0) -> _Index:
        """A longer window with the same start as ``ix``.

        Keeping the start keeps every position computed in ``ix`` valid. The
        window grows by the years that the shortfall (open time or business
        days) needs at the density seen so far, so a huge ``add`` builds once.
        """
        with self._lock:
            current = self._ix
            if current is not None and current is not ix and current.y0 == ix.y0 and current.y1 > ix.y1:
                return current  # another thread grew it meanwhile
            if ix.y1 >= _MAX_YEAR:
                raise ValueError(f"not enough business time before year {_MAX_YEAR + 1}")
            if self._last_open_year is not None and ix.y1 >= self._last_open_year:
                raise ValueError(f"the calendar has no opening hours after {self._last_open_year}")
            span = ix.y1 - ix.y0 + 1
            if short_us > 0 and ix.total:
                years = short_us * span // ix.total + 2
            elif short_days > 0 and ix.day_ord:
                years = short_days * span // len(ix.day_ord) + 2
            else:
                years = span
            ix = self._build(ix.y0, min(ix.y1 + years, _MAX_YEAR))
            self._keep(ix)
            return ix

    def _keep(self, ix: _Index) -> None:
        """Make `ix` the current window; keep the few before it whose years it does not cover."""
        self._ix = ix
        others = [w for w in self._windows if w is not ix and (w.y0 < ix.y0 or w.y1 > ix.y1)]
        self._windows = [ix, *others[:_KEPT_WINDOWS - 1]]

    def _build(self, y0: int, y1: int) -> _Index:
        zone = self._zone
        self._load_holidays(y0, y1)
        holiday, closed, opened = self._holiday_names, self._closed_ords, self._open_ords
        weekly, special = self._weekly_spans, self._date_spans
        starts: list[int] = []
        ends: list[int] = []
        cum_end: list[int] = []
        seg_day: list[int] = []
        day_ord: list[int] = []
        day_seg: list[int] = []
        day_off: list[int | None] = []
        total = 0
        last_end = -(2**63)
        first_ordinal, stop_ordinal = date(y0, 1, 1).toordinal(), date(y1 + 1, 1, 1).toordinal()
        # One zoneinfo lookup per day instead of two per interval: when both
        # midnights have the same offset the day has no DST change.
        midnights = [self._offset_us(ordinal) for ordinal in range(first_ordinal, stop_ordinal + 1)]
        for ordinal in range(first_ordinal, stop_ordinal):
            spans = special.get(ordinal)
            if spans is None:
                if ordinal in closed or (ordinal in holiday and ordinal not in opened):
                    continue
                spans = weekly[(ordinal + 6) % 7]  # ordinal 1 is a Monday
            if not spans:
                continue
            offset, next_offset = midnights[ordinal - first_ordinal], midnights[ordinal - first_ordinal + 1]
            steady = offset == next_offset
            if steady:
                base = (ordinal - _EPOCH_ORDINAL) * _US_PER_DAY - offset
                pairs = [(base + s, base + e) for s, e, _ in spans]
            else:
                d = date.fromordinal(ordinal)
                pairs = [
                    (_local_us(d, iv.start, zone), _local_us(d + _ONE_DAY if iv.until_midnight else d, iv.end, zone))
                    for _, _, iv in spans
                ]
            first = len(starts)
            for start, end in pairs:
                # fold=0 can map a wall time in a DST gap before the end of
                # the previous interval: never count an instant twice.
                start = max(start, last_end)
                if end <= start:
                    continue
                starts.append(start)
                ends.append(end)
                total += end - start
                cum_end.append(total)
                seg_day.append(len(day_ord))
                last_end = end
            if len(starts) > first:
                day_ord.append(ordinal)
                day_seg.append(first)
                day_off.append(offset if steady else None)
        day_seg.append(len(starts))
        lo = _local_us(date(y0, 1, 1), _MIDNIGHT, zone) + _EDGE_US
        hi = _local_us(date(y1 + 1, 1, 1), _MIDNIGHT, zone) - _EDGE_US
        ix = _Index(y0, y1, lo, hi, starts, ends, cum_end, seg_day, day_ord, day_seg, day_off)
        ix.wall_day0 = first_ordinal - _EPOCH_ORDINAL
        ix.wall_off = [a if a == b else None for a, b in pairwise(midnights)]
        return ix

    def _offset_us(self, ordinal: int) -> int:
        """UTC offset of local midnight starting date ``ordinal`` (fold=0), in microseconds."""
        offset = self._zone.utcoffset(datetime.fromordinal(ordinal))
        assert offset is not None  # a ZoneInfo always knows its offset
        us = self._offsets.get(offset)
        if us is None:
            us = self._offsets[offset] = offset // _ONE_US
        return us

    # -------------------------------------------------------------- holidays

    def _holiday_name(self, d: date) -> str | None:
        if d.year not in self._holiday_years:
            self._load_holidays(d.year, d.year)
        return self._holiday_names.get(d.toordinal())

    def _load_holidays(self, y0: int, y1: int) -> None:
        if self._holiday_args is None:
            self._holiday_years.update(range(y0, y1 + 1))
            return
        missing = [y for y in range(y0, y1 + 1) if y not in self._holiday_years]
        if not missing:
            return
        first, last = missing[0], missing[-1]
        country, subdivision, language = self._holiday_args
        # Observed days can move across New Year, so ask for a year either
        # side and keep only the dates of the years being loaded.
        years = range(max(first - 1, 1), min(last + 1, 9999) + 1)
        table = _holidays.country_holidays(country, subdiv=subdivision, years=years, language=language)
        wanted = set(missing)
        for d, name in table.items():
            if d.year in wanted:
                self._holiday_names[d.toordinal()] = name
        self._holiday_years.update(missing)


class BusinessRuler:
    """Business time measured from one instant, the anchor, for many questions about it.

    An instant's ``position`` is the open time, in microseconds, from the anchor to
    it (negative before it). The open time between two instants is the difference
    of their positions, and ``instant(p)`` is the earliest instant at position
    ``p``: ``add`` from any instant at position ``q`` is ``instant(q + wanted)``.
    The anchor's own place in the index is looked up once, so each of those is one
    lookup instead of two; positions do not depend on the index's window.
    """

    __slots__ = ("_base", "_cal", "_ix", "anchor")

    def __init__(self, cal: BusinessCalendar, anchor: int) -> None:
        self._cal, self.anchor = cal, anchor
        ix = cal._ix
        self._rebase(ix if ix is not None and ix.lo <= anchor < ix.hi else cal._cover(anchor))

    def _rebase(self, ix: _Index) -> None:
        self._ix = ix
        i = ix.segment(self.anchor)
        self._base = 0 if i < 0 else ix.cum_end[i] - (ix.ends[i] - self.anchor if self.anchor < ix.ends[i] else 0)

    def position_of(self, t: datetime) -> int:
        """``position`` of an aware datetime."""
        return self.position(self._cal._us(t, "t"))

    def position(self, us: int) -> int:
        """The open microseconds from the anchor to ``us`` (``open_us(anchor, us)``)."""
        ix = self._ix
        if not ix.lo <= us < ix.hi:
            self._rebase(self._cal._cover(self.anchor, us))
            ix = self._ix
        i = ix.by_day[us // _US_PER_DAY - ix.day0]
        starts = ix.starts_pad
        while starts[i + 1] <= us:
            i += 1
        if i < 0:
            return -self._base
        end = ix.ends[i]
        return ix.cum_end[i] - (end - us if us < end else 0) - self._base

    def instant(self, position: int) -> int:
        """The earliest instant at ``position``, which must lie after the start of the index's window.

        ``add_us(t, wanted)`` is ``instant(position(t) + wanted)`` for ``wanted > 0``.
        """
        target = self._base + position
        if target <= 0:
            raise ValueError(f"position {position} lies before the calendar's window")
        ix = self._ix
        while target > ix.total:
            # Growing keeps the window's start, so the anchor's place holds.
            ix = self._ix = self._cal._grow(ix, short_us=target - ix.total)
        j = ix.by_open[target // ix.step]
        cum = ix.cum_pad
        while cum[j] < target:
            j += 1
        return ix.ends[j] - (cum[j] - target)


# --------------------------------------------------------------------- helpers


def _to_us(t: datetime, what: str) -> int:
    try:
        return (t - _EPOCH) // _ONE_US
    except TypeError:
        raise _aware_error(t, what) from None


def _aware_error(t: object, what: str) -> Exception:
    if not isinstance(t, datetime):
        return TypeError(f"{what} must be a datetime, got {t!r}")
    return ValueError(f"naive datetime {what}={t.isoformat()}: give a time zone offset")


def _local_us(d: date, t: time, zone: ZoneInfo) -> int:
    """Epoch microseconds of wall time ``t`` on local date ``d`` (fold=0)."""
    return (datetime.combine(d, t, zone) - _EPOCH) // _ONE_US


def _minutes_to_us(minutes: float) -> int:
    """Checked conversion for what the fast path of ``add`` turns away."""
    if isinstance(minutes, bool):
        raise TypeError(f"minutes must be a number, got {minutes!r}")
    try:
        negative = minutes < 0
        us = round(minutes * _US_PER_MINUTE)
    except TypeError:
        raise TypeError(f"minutes must be a number, got {minutes!r}") from None
    except (ValueError, ArithmeticError):  # NaN and infinities, float or Decimal
        raise ValueError(f"minutes must be finite, got {minutes!r}") from None
    if negative:
        raise ValueError(f"minutes must be >= 0, got {minutes!r}")
    return us


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _plain_date(d: object, what: str) -> date:
    # A datetime is a date, but would never equal a date key: refuse it.
    if not isinstance(d, date) or isinstance(d, datetime):
        raise TypeError(f"{what}: expected a datetime.date, got {d!r}")
    return d


def _day_hours(intervals: Sequence[Interval], where: str) -> tuple[Interval, ...]:
    """The intervals of one day, sorted, refusing overlaps (touching is fine)."""
    for iv in intervals:
        if not isinstance(iv, Interval):
            raise TypeError(f"{where}: expected Interval objects, got {iv!r}")
    ordered = tuple(sorted(intervals, key=lambda iv: iv.start))
    for before, after in pairwise(ordered):
        if before.until_midnight or after.start < before.end:
            raise ValueError(f"{where}: overlapping intervals {before} and {after}")
    return ordered


def _spans(intervals: tuple[Interval, ...]) -> tuple[tuple[int, int, Interval], ...]:
    """(start, end, interval) with start and end in microseconds since local midnight."""
    return tuple((_time_us(iv.start), _US_PER_DAY if iv.until_midnight else _time_us(iv.end), iv) for iv in intervals)


def _time_us(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def _weekly_hours(weekly: Mapping[int, Sequence[Interval]]) -> tuple[tuple[Interval, ...], ...]:
    for day in weekly:
        if day.__class__ is not int or not 0 <= day <= 6:
            raise ValueError(f"weekly: weekday must be 0 (Monday) .. 6 (Sunday), got {day!r}")
    return tuple(_day_hours(weekly.get(day, ()), _WEEKDAYS[day]) for day in range(7))


def _holiday_source(country: str | None, subdivision: str | None) -> tuple[str, str | None, str | None] | None:
    """(country, subdivision, language) as the installed holidays package spells them."""
    if country is None:
        if subdivision is not None:
            raise ValueError(f"subdivision {subdivision!r} given without a country")
        return None
    candidates = _SUBDIVISION_CANDIDATES.get((country.upper(), str(subdivision).upper()), (subdivision,))
    problem: Exception | None = None
    for candidate in candidates:
        try:
            probe = _holidays.country_holidays(country, subdiv=candidate, years=())
        except NotImplementedError as error:
            problem = error
            continue
        # Names in English whatever the machine's locale, so that
        # explanations do not depend on where sla-bridge runs.
        language = "en_US" if "en_US" in getattr(probe, "supported_languages", ()) else None
        return country, candidate, language
    raise ValueError(f"no public holidays known for country {country!r} subdivision {subdivision!r}: {problem}")
