"""Business time for many instants at once (numpy), with the scalar calendar's exact answers.

A report over a quarter, or a sync of thousands of tickets, asks the same two
questions many times: "this start plus that much business time" and "business time
between these two instants". The calendar's index (sorted opening intervals as
integer microseconds with a running total of open time) answers both with binary
searches, so numpy's ``searchsorted`` answers a whole array of them in one call.

Instants are integer microseconds since the Unix epoch (``int64``), or numpy
``datetime64`` values read as UTC; results are ``int64`` microseconds (``to_datetime64``
turns them into ``datetime64[us]``, UTC). Every answer equals the scalar
``BusinessCalendar.add`` / ``between`` for the same inputs (a property test holds
them to it). Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .calendar import BusinessCalendar

I64 = npt.NDArray[np.int64]
US_PER_MINUTE = 60_000_000


def as_microseconds(instants: Any) -> I64:
    """``int64`` epoch microseconds from int64 or ``datetime64`` (UTC) values."""
    array = np.asarray(instants)
    if np.issubdtype(array.dtype, np.datetime64):
        return array.astype("datetime64[us]").astype(np.int64)
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"instants must be int64 epoch microseconds or datetime64, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def to_datetime64(microseconds: I64) -> npt.NDArray[np.datetime64]:
    return np.asarray(microseconds, dtype=np.int64).astype("datetime64[us]")


def _minutes_to_us(minutes: Any) -> I64:
    values = np.asarray(minutes, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise ValueError("minutes must be finite")
    if np.any(values < 0):
        raise ValueError("minutes must be >= 0")
    # round-half-to-even, as Python's round() in the scalar add
    return np.rint(values * US_PER_MINUTE).astype(np.int64)


def _open_before(cal_ix: Any, us: I64) -> I64:
    """Open time from the index's window start to each instant (``cum_end`` convention)."""
    starts, ends, cum_end = cal_ix
    i = np.searchsorted(starts, us, side="right") - 1
    safe = np.maximum(i, 0)
    before = cum_end[safe] - np.where(us < ends[safe], ends[safe] - us, 0)
    return np.where(i < 0, 0, before)


def add_many(cal: BusinessCalendar, starts: Any, minutes: Any) -> I64:
    """Each start plus its business minutes: ``cal.add(start, minutes)`` for every pair."""
    us = as_microseconds(starts)
    wanted = np.broadcast_to(_minutes_to_us(minutes), us.shape)
    if us.size == 0:
        return us.copy()
    index = cal._cover(int(us.min()), int(us.max()))
    while True:
        arrays = _arrays(index)
        target = _open_before(arrays, us) + wanted
        short = int(target.max()) - index.total
        if short <= 0:
            break
        index = cal._grow(index, short_us=short)
    _, ends, cum_end = arrays
    # side="left": a target equal to a running total ends on that closing time.
    j = np.searchsorted(cum_end, target, side="left")
    result = ends[np.minimum(j, len(ends) - 1)] - (cum_end[np.minimum(j, len(ends) - 1)] - target)
    return np.where(wanted == 0, us, result)


def between_many(cal: BusinessCalendar, a: Any, b: Any) -> npt.NDArray[np.float64]:
    """Business minutes from each ``a`` to each ``b``: ``cal.between(a, b)`` for every pair."""
    ua, ub = np.broadcast_arrays(as_microseconds(a), as_microseconds(b))
    if ua.size == 0:
        return np.zeros(ua.shape, dtype=np.float64)
    index = cal._cover(int(min(ua.min(), ub.min())), int(max(ua.max(), ub.max())))
    arrays = _arrays(index)
    return (_open_before(arrays, ub) - _open_before(arrays, ua)) / US_PER_MINUTE


def _arrays(index: Any) -> tuple[I64, I64, I64]:
    """The index's boundaries as numpy arrays, made once per index (it is never mutated)."""
    cached = getattr(index, "numpy", None)
    if cached is None:
        cached = (np.asarray(index.starts, dtype=np.int64), np.asarray(index.ends, dtype=np.int64),
                  np.asarray(index.cum_end, dtype=np.int64))
        index.numpy = cached
    return cached
