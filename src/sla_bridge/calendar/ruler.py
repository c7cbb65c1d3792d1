"""``BusinessRuler``: business time measured from one instant, for many questions about it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from .index import _ONE_US, _US_PER_DAY, _Index, _to_us

if TYPE_CHECKING:
    from .business import BusinessCalendar


class BusinessRuler:
    """Business time measured from one instant, the anchor, for many questions about it.

    An instant's ``position`` is the open time, in microseconds, from the anchor to
    it (negative before it). The open time between two instants is the difference
    of their positions, and ``instant(p)`` is the earliest instant at position
    ``p``: ``add`` from any instant at position ``q`` is ``instant(q + wanted)``.
    The anchor's own place in the index is looked up once, so each of those is one
    lookup instead of two; positions do not depend on the index's window.
    """

    __slots__ = ("_base", "_cal", "_ix", "_local_epoch", "_zone", "anchor")

    def __init__(self, cal: BusinessCalendar, anchor: int) -> None:
        self._cal, self.anchor = cal, anchor
        self._zone, self._local_epoch = cal._zone, cal._local_epoch
        ix = cal._ix
        self._rebase(ix if ix is not None and ix.lo <= anchor < ix.hi else cal._cover(anchor))

    def _rebase(self, ix: _Index) -> None:
        self._ix = ix
        i = ix.segment(self.anchor)
        self._base = 0 if i < 0 else ix.cum_end[i] - (ix.ends[i] - self.anchor if self.anchor < ix.ends[i] else 0)

    def position_of(self, t: datetime) -> int:
        """``position`` of an aware datetime."""
        # The engine's most frequent question: the calendar's ``_us`` in place (the day's
        # UTC offset from the index), since a call costs as much as the arithmetic.
        ix = self._ix
        if t.__class__ is datetime and t.tzinfo is self._zone:
            wall = t - self._local_epoch
            days = wall.days
            k = days - ix.wall_day0
            offset = ix.wall_off[k] if 0 <= k < len(ix.wall_off) else None
            if offset is None:
                us = _to_us(t, "t")
            else:
                us = (days * 86_400 + wall.seconds) * 1_000_000 + wall.microseconds - offset
        else:
            us = _to_us(t, "t")
        return self.position(us)

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
        return self._find(position)[2]

    def _find(self, position: int) -> tuple[_Index, int, int]:
        """The window, the segment and the instant at ``position``."""
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
        return ix, j, ix.ends[j] - (cum[j] - target)

    def instant_at(self, position: int) -> tuple[int, datetime]:
        """``instant(position)`` and the same instant as ``cal.datetime_at`` gives it, in one call."""
        ix, j, us = self._find(position)
        # The instant lies in segment j, on a business day whose UTC offset the index
        # knows unless the clocks change that day: no zoneinfo lookup then. Wall-clock
        # arithmetic on the zone's own epoch is exact, and fold=0 is right on such a day.
        offset = ix.day_off[ix.seg_day[j]]
        if offset is not None:
            return us, self._local_epoch + _ONE_US * (us + offset)
        return us, self._cal.datetime_at(us)
