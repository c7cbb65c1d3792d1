"""A clock's running time: its start, minus the pauses, measured in business time.

A clock is evaluated at `now`, and again at each instant a severity it had stopped
being in force (a breach then stays a breach). Each of those runs reads a prefix
of the same walk through the pauses: the pauses that began by its end, the last
one possibly still on. So the walk is made once, pause by pause as far as a run
needs it, and each run finds its prefix and its deadline by bisection: a history
of thousands of pauses and severity changes costs a pass, not a pass per change.

Instants are compared as the datetimes they are (as the rules always did); business
time is counted on their positions (``Meter``): the open microseconds from the
clocks' start, each found once.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import datetime

from ..calendar import BusinessCalendar
from .history import Interval

EPSILON = 1e-6  # minutes: float sums of business minutes are compared with this slack
US_PER_MINUTE = 60_000_000


class Meter:
    """Business-time positions of the datetimes of one evaluation, from the clocks' start.

    The open time between two instants is the difference of their positions, and
    ``cal.add`` from an instant is one lookup from its position (``add``). Keyed by
    the datetime's identity: the same objects (an event's instant, a segment's
    start) come back for every clock, and hashing an aware datetime would cost as
    much as converting it. The datetime is kept beside its position so that its id
    cannot be reused by another object while the evaluation runs.
    """

    __slots__ = ("_known", "cal", "ruler")

    def __init__(self, cal: BusinessCalendar, start: datetime) -> None:
        self.cal = cal
        self.ruler = cal.ruler(cal.instant_us(start))
        self._known: dict[int, tuple[datetime, int]] = {}

    def __call__(self, t: datetime) -> int:
        known = self._known.get(id(t))
        if known is not None:
            return known[1]
        position = self.ruler.position_of(t)
        self._known[id(t)] = (t, position)
        return position

    def add(self, start: datetime, position: int, minutes: float) -> tuple[datetime, int, int]:
        """``cal.add(start, minutes)`` from `start` at `position`: the instant, its microseconds, its position."""
        wanted = round(minutes * US_PER_MINUTE)
        if wanted == 0:
            return start.astimezone(self.cal.zone), self.cal.instant_us(start), position
        us = self.ruler.instant(position + wanted)
        return self.cal.datetime_at(us), us, position + wanted


class Walk:
    """Running segments and pauses of one clock, from its start, in order.

    Step ``k`` is a running segment from ``cursors[k]`` to ``starts[k]`` (``elapsed[k]``
    business minutes in all by its end, summed in order as the rule always did),
    then a pause from ``starts[k]`` to ``ends[k]`` (None: still on). A pause over
    before it begins takes no step. ``*_at`` are positions (``Meter``).
    """

    __slots__ = ("_closed", "_cursor", "_meter", "_next", "_pauses", "cursors", "cursors_at", "elapsed", "empty",
                 "ends", "ends_at", "monotone", "origin", "starts", "starts_at", "statuses")

    def __init__(self, meter: Meter, origin: datetime, pauses: list[Interval]) -> None:
        self._meter, self._pauses = meter, pauses
        self.empty = not pauses  # no pause at all: ``run`` is the plain span from the origin
        self._next = 0        # the first pause not walked yet
        self._closed = False  # a pause with no end was reached: nothing after it counts
        self.origin = origin
        self._cursor = origin  # where running time resumes
        self.cursors: list[datetime] = []
        self.cursors_at: list[int] = []
        self.starts: list[datetime] = []
        self.starts_at: list[int] = []
        self.ends: list[datetime | None] = []
        self.ends_at: list[int] = []  # 0 for a pause still on
        self.statuses: list[str] = []
        self.elapsed: list[float] = []
        # Business time never runs backwards, so `elapsed` is sorted and can be
        # bisected; wall-clock times inside a DST gap could break that, and the
        # search then scans.
        self.monotone = True

    def extend(self, end: datetime) -> None:
        """Walk the pauses that begin by `end`."""
        pauses = self._pauses
        if self._closed or self._next >= len(pauses):
            return
        meter = self._meter
        cursor = self._cursor
        cursor_at = meter(cursor)
        elapsed = self.elapsed[-1] if self.elapsed else 0.0
        while self._next < len(pauses):
            p_start, p_end, status = pauses[self._next]
            s = max(p_start, cursor)
            if s > end:
                break
            self._next += 1
            if p_end is not None and p_end <= s:
                continue  # over before it began
            s_at = meter(s)
            if cursor < s:
                available = (s_at - cursor_at) / US_PER_MINUTE
                if available < 0:
                    self.monotone = False
                elapsed += available
            self.cursors.append(cursor)
            self.cursors_at.append(cursor_at)
            self.starts.append(s)
            self.starts_at.append(s_at)
            self.ends.append(p_end)
            self.statuses.append(status)
            self.elapsed.append(elapsed)
            if p_end is None:
                self.ends_at.append(0)
                self._closed = True
                break
            cursor, cursor_at = p_end, meter(p_end)
            self.ends_at.append(cursor_at)
        self._cursor = cursor

    def run(self, end: datetime, end_at: int, stopped: bool) -> tuple[int, datetime | None, int, float]:
        """The clock counted up to `end` (at position `end_at`): the steps taken by then, where it
        resumed running after them (None: paused at `end`) and its position, the minutes run.

        A pause starting exactly at `end` counts when the clock still runs there
        (it is paused at `end`), not when it stopped there.
        """
        self.extend(end)
        starts = self.starts
        steps = (bisect_left(starts, end) if stopped else bisect_right(starts, end)) if starts else 0
        if steps == 0:
            resume, resume_at, before = self.origin, self._meter(self.origin), 0.0
        else:
            last_end = self.ends[steps - 1]
            before = self.elapsed[steps - 1]
            if last_end is None or last_end > end:
                return steps, None, 0, before
            resume, resume_at = last_end, self.ends_at[steps - 1]
        # After the last pause the clock runs, up to `end` and, for its deadline, beyond.
        return steps, resume, resume_at, before + (end_at - resume_at) / US_PER_MINUTE if resume < end else before

    def deadline(self, steps: int, resume: datetime | None, resume_at: int, minutes: float
                 ) -> tuple[datetime | None, int, int]:
        """When `minutes` of running time are reached in a run (``walk.run``): the instant, its
        microseconds and its position. The instant is None when they are not reached by the
        run's end and the clock is paused there: unknown until it runs again.

        The rule: in the first running segment by whose end they ran (less the
        slack), ``cal.add`` from its start of what is left of them.
        """
        elapsed = self.elapsed
        if steps:
            wanted = minutes - EPSILON
            if self.monotone:
                k = bisect_left(elapsed, wanted, 0, steps)
            else:
                k = next((k for k in range(steps) if elapsed[k] >= wanted), steps)
            if k < steps:
                return self._meter.add(self.cursors[k], self.cursors_at[k],
                                       max(0.0, minutes - (elapsed[k - 1] if k else 0.0)))
        if resume is None:
            return None, 0, 0
        return self._meter.add(resume, resume_at, max(0.0, minutes - (elapsed[steps - 1] if steps else 0.0)))
