"""``BusinessCalendar``: opening hours, holidays and exceptions, and business-time arithmetic on them.

The conventions of every operation are in the package's docstring.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import holidays as _holidays

from .hours import (
    _NO_DATE_HOURS, _WEEKDAYS, Interval, _check_exceptions, _day_hours, _holiday_source, _plain_date, _weekly_hours,
    _zone,
)
from .index import (
    _EPOCH, _FLOAT_EXACT_US, _MAX_YEAR, _MIN_YEAR, _ONE_US, _US_PER_DAY, _US_PER_MINUTE, _build_index, _Index,
    _local_us, _minutes_to_us, _spans, _to_us,
)
from .ruler import BusinessRuler

_FIRST_WINDOW_YEARS_AFTER: Final = 3
_KEPT_WINDOWS: Final = 4
# Far more minutes than years 2..9997 hold; larger values take the checked path.
_FAST_MINUTES: Final = 2**53 // 60_000_000


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
        _check_exceptions(self._closed, self._open_dates, self._weekly)
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
        ix, end_us = self._advance(ix, us, wanted)
        if ix.exact:
            return datetime.fromtimestamp(end_us / 1e6, self._zone)
        return self._datetime(end_us)

    def add_us(self, start: int, wanted: int) -> int:
        """``add`` in epoch microseconds, for ``wanted >= 0`` microseconds of open time."""
        if wanted <= 0:
            if wanted < 0:
                raise ValueError(f"wanted must be >= 0 microseconds, got {wanted}")
            return start
        return self._advance(self._ix, start, wanted)[1]

    def _advance(self, ix: _Index | None, us: int, wanted: int) -> tuple[_Index, int]:
        """The instant `wanted` (> 0) microseconds of open time after `us`, and the window
        that holds it: ``add``'s search, on the running totals of open time."""
        if ix is None or not ix.lo <= us < ix.hi:
            ix = self._cover(us)
        # ix.segment and the search of the running totals, inlined.
        i = ix.by_day[us // _US_PER_DAY - ix.day0]
        starts = ix.starts_pad
        while starts[i + 1] <= us:
            i += 1
        # Open time from the window start to `us`, plus what we want.
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
        return ix, ix.ends[j] - (cum[j] - target)

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
        ix = self._ix
        if ix is not None:
            # Its local date is its UTC date or one either side: when the index knows one
            # offset for all three, wall-clock arithmetic on the zone's epoch gives the
            # datetime (fold=0 is right away from clock changes) cheaper than zoneinfo.
            wall_off = ix.wall_off
            k = us // _US_PER_DAY - ix.wall_day0
            if 0 < k < len(wall_off) - 1:
                offset = wall_off[k]
                if offset is not None and wall_off[k - 1] == offset == wall_off[k + 1]:
                    return self._local_epoch + _ONE_US * (us + offset)
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
        self._load_holidays(y0, y1)
        return _build_index(y0, y1, self._zone, self._offset_us, self._weekly_spans, self._date_spans,
                            self._closed_ords, self._holiday_names, self._open_ords)

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
