"""The batch calendar gives exactly the scalar calendar's answers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sla_bridge.calendar_batch import add_many, as_microseconds, between_many, to_datetime64
from sla_bridge.demo import builtin_config

CAL = builtin_config().calendar
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def us(t: datetime) -> int:
    return (t - EPOCH) // timedelta(microseconds=1)


def dt(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(value))


instants = st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2031, 12, 31),
                        timezones=st.just(timezone.utc))
minutes = st.one_of(st.integers(0, 60 * 9 * 40), st.floats(0, 60 * 9 * 40, allow_nan=False),
                    st.sampled_from([0, 60, 180, 540, 1440, 4320]))


@settings(derandomize=True, deadline=None, max_examples=200)
@given(st.lists(st.tuples(instants, minutes), min_size=1, max_size=40))
def test_add_many_equals_add(pairs: list[tuple[datetime, float]]) -> None:
    starts = np.array([us(s) for s, _ in pairs], dtype=np.int64)
    got = add_many(CAL, starts, np.array([m for _, m in pairs], dtype=np.float64))
    assert [dt(v) for v in got] == [CAL.add(s, m) for s, m in pairs]


@settings(derandomize=True, deadline=None, max_examples=200)
@given(st.lists(st.tuples(instants, instants), min_size=1, max_size=40))
def test_between_many_equals_between(pairs: list[tuple[datetime, datetime]]) -> None:
    got = between_many(CAL, [us(a) for a, _ in pairs], [us(b) for _, b in pairs])
    assert list(got) == [CAL.between(a, b) for a, b in pairs]


def test_datetime64_in_and_out() -> None:
    start = np.array(["2025-03-28T16:00"], dtype="datetime64[us]")  # Fri 17:00 Paris
    out = to_datetime64(add_many(CAL, start, [180]))
    assert out[0] == np.datetime64("2025-03-31T09:00")  # Mon 11:00 Paris (two hours on Monday)
    assert as_microseconds(out).dtype == np.int64


def test_bad_minutes_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        add_many(CAL, [0], [-1])
    with pytest.raises(ValueError, match="finite"):
        add_many(CAL, [0], [float("nan")])
