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
from .results import Pause

EPSILON = 1e-6  # minutes: float sums of business minutes are compared with this slack
US_PER_MINUTE = 60_000_000
_new_pause = tuple.__new__  # builds a Pause without its generated __new__: one per pause walked


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
        # The start is the ruler's anchor: its position is 0 without asking.
        self._known: dict[int, tuple[datetime, int]] = {id(start): (start, 0)}

    def at(self, t: datetime) -> int:
        """The position of `t`. A method rather than ``__call__``: the hot paths bind it once,
        and calling an instance costs twice as much as calling a bound method."""
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
        us, at = self.ruler.instant_at(position + wanted)
        return at, us, position + wanted


class Walk:
    """Running segments and pauses of one clock, from its start, in order.

    Step ``k`` is a running segment from ``cursors[k]`` to ``starts[k]`` (``elapsed[k]``
    business minutes in all by its end, summed in order as the rule always did),
    then a pause ``pauses[k]`` from ``starts[k]`` to its end (None: still on), as a
    clock reports it. A pause over before it begins takes no step. ``*_at`` are
    positions (``Meter``).
    """

    __slots__ = ("_closed", "_cursor", "_cursor_at", "_meter", "_next", "_pauses", "cursors", "cursors_at", "elapsed",
                 "empty", "ends_at", "monotone", "origin", "origin_at", "pauses", "starts", "starts_at")

    def __init__(self, meter: Meter, origin: datetime, pauses: list[Interval]) -> None:
        self._meter, self._pauses = meter, pauses
        self.empty = not pauses  # no pause at all: ``run`` is the plain span from the origin
        self._next = 0        # the first pause not walked yet
        self._closed = False  # a pause with no end was reached: nothing after it counts
        self.origin, self.origin_at = origin, meter.at(origin)
        self._cursor, self._cursor_at = origin, self.origin_at  # where running time resumes, and its position
        self.cursors: list[datetime] = []
        self.cursors_at: list[int] = []
        self.starts: list[datetime] = []
        self.starts_at: list[int] = []
        self.ends_at: list[int] = []  # 0 for a pause still on
        # Made once here rather than by each clock that shares the walk. A pause still
        # on has no length of its own (the clock counts it up to its end): a 0 stands in.
        self.pauses: list[Pause] = []
        self.elapsed: list[float] = []
        # Business time never runs backwards, so `elapsed` is sorted and can be
        # bisected; wall-clock times inside a DST gap could break that, and the
        # search then scans.
        self.monotone = True

    def extend(self, end: datetime) -> None:
        """Walk the pauses that begin by `end`."""
        pauses = self._pauses
        n, count = self._next, len(pauses)
        if self._closed or n >= count:
            return
        meter = self._meter
        at = meter.at
        cursor, cursor_at = self._cursor, self._cursor_at
        elapsed = self.elapsed[-1] if self.elapsed else 0.0
        cursors, cursors_at, starts, starts_at = self.cursors, self.cursors_at, self.starts, self.starts_at
        ends_at, elapsed_, made = self.ends_at, self.elapsed, self.pauses
        while n < count:
            p_start, p_end, status = pauses[n]
            s = cursor if cursor > p_start else p_start  # max(p_start, cursor), without the call
            if s > end:
                break
            n += 1
            if p_end is not None and p_end <= s:
                continue  # over before it began
            s_at = at(s)
            if cursor < s:
                available = (s_at - cursor_at) / US_PER_MINUTE
                if available < 0:
                    self.monotone = False
                elapsed += available
            cursors.append(cursor)
            cursors_at.append(cursor_at)
            starts.append(s)
            starts_at.append(s_at)
            elapsed_.append(elapsed)
            if p_end is None:
                ends_at.append(0)
                made.append(_new_pause(Pause, (s, None, status, 0.0)))
                self._closed = True
                break
            cursor_at = at(p_end)
            cursor = p_end
            ends_at.append(cursor_at)
            made.append(_new_pause(Pause, (s, p_end, status, (cursor_at - s_at) / US_PER_MINUTE)))
        self._next = n
        self._cursor, self._cursor_at = cursor, cursor_at

    def pauses_until(self, steps: int, end_at: int, resume: datetime | None) -> tuple[Pause, ...]:
        """The pauses of a run (``run``) that took `steps` steps, up to its end at position `end_at`:
        the last one, when still on there (`resume` None), counted up to it."""
        if not steps:
            return ()
        if resume is not None:
            return tuple(self.pauses[:steps])
        k = steps - 1
        last = self.pauses[k]
        return (*self.pauses[:k], Pause(last.start, last.end, last.status, (end_at - self.starts_at[k]) / US_PER_MINUTE))

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
            resume, resume_at, before = self.origin, self.origin_at, 0.0
        else:
            last_end = self.pauses[steps - 1].end
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
                start, position = self.cursors[k], self.cursors_at[k]
                minutes = max(0.0, minutes - (elapsed[k - 1] if k else 0.0))
            elif resume is None:
                return None, 0, 0
            else:
                start, position, minutes = resume, resume_at, max(0.0, minutes - elapsed[steps - 1])
        elif resume is None:
            return None, 0, 0
        else:
            start, position, minutes = resume, resume_at, max(0.0, minutes)
        # ``Meter.add``, in place: two deadlines a clock
        wanted_us = round(minutes * US_PER_MINUTE)
        meter = self._meter
        if wanted_us == 0:
            return start.astimezone(meter.cal.zone), meter.cal.instant_us(start), position
        us, at = meter.ruler.instant_at(position + wanted_us)
        return at, us, position + wanted_us
