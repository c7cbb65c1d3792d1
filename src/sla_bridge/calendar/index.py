"""The calendar's index: opening intervals as sorted integer instants, and the conversions to them.

Instants are integers, microseconds since the Unix epoch; ``_Index`` lays a
window of local years out that way (see the package's docstring, "Why an
index").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Final
from zoneinfo import ZoneInfo

from .hours import _MIDNIGHT, Interval

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US: Final = timedelta(microseconds=1)
_US_PER_MINUTE: Final = 60_000_000
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
# Past every instant the index holds: stops the forward steps of its lookups.
_SENTINEL: Final = 2**63


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


def _build_index(
    y0: int,
    y1: int,
    zone: ZoneInfo,
    offset_us: Callable[[int], int],
    weekly: Sequence[tuple[tuple[int, int, Interval], ...]],
    special: Mapping[int, tuple[tuple[int, int, Interval], ...]],
    closed: AbstractSet[int],
    holiday: Mapping[int, str],
    opened: AbstractSet[int],
) -> _Index:
    """The index of local years ``y0..y1``.

    ``weekly`` and ``special`` are a calendar's hours as ``_spans`` by weekday
    and by date ordinal, ``closed``, ``holiday`` (loaded for those years) and
    ``opened`` its closed dates, public holidays and open dates as ordinals;
    ``offset_us(ordinal)`` is the UTC offset of local midnight starting a date.
    """
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
    midnights = [offset_us(ordinal) for ordinal in range(first_ordinal, stop_ordinal + 1)]
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


def _spans(intervals: tuple[Interval, ...]) -> tuple[tuple[int, int, Interval], ...]:
    """(start, end, interval) with start and end in microseconds since local midnight."""
    return tuple((_time_us(iv.start), _US_PER_DAY if iv.until_midnight else _time_us(iv.end), iv) for iv in intervals)


def _time_us(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond
