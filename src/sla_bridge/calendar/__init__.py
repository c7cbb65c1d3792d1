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

from .business import BusinessCalendar
from .hours import WHOLE_DAY, Interval
from .ruler import BusinessRuler

__all__ = ["WHOLE_DAY", "BusinessCalendar", "BusinessRuler", "Interval"]
