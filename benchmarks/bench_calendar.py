"""How fast sla-bridge adds business time, next to pandas and businesstimedelta.

Run from the repository root: ``python benchmarks/bench_calendar.py``. Not a
test: it prints rates and the agreement of the three libraries on the same
cases, so the comparison is like for like.

The calendar is the contract's: Monday-Friday 09:00-18:00, Europe/Paris,
French public holidays from the ``holidays`` package (the same dates are
given to every library). Starts are uniform over 2024-01-01..2031-12-31 in
whole seconds, so nights, weekends and holidays are included.

pandas' CustomBusinessHour only adds whole business hours (``n`` is an int),
so the comparison with the peers draws whole-hour durations for all three
libraries; the headline sla-bridge rate uses minute durations. pandas gets
its fastest path: naive local wall-clock Timestamps (equivalent here, the
clocks change at night, outside opening hours) and one offset object per
hour count built before timing. businesstimedelta gets a set of holidays
rather than a list.
"""

from __future__ import annotations

import gc
import platform
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from datetime import time as wall
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

try:
    from sla_bridge.calendar import BusinessCalendar, Interval
except ImportError:  # not installed: run from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from sla_bridge.calendar import BusinessCalendar, Interval

import businesstimedelta  # type: ignore[import-untyped]
import holidays
import pandas as pd  # type: ignore[import-untyped]
import pytz  # type: ignore[import-untyped]

T = TypeVar("T")

SEED = 20250328
CASES = 100_000
PANDAS_CASES = 5_000
BTD_CASES = 2_000
REPEATS = 5
DAY_MINUTES = 9 * 60
MAX_DAYS = 30
PARIS = ZoneInfo("Europe/Paris")
FIRST, LAST = datetime(2024, 1, 1, tzinfo=PARIS), datetime(2032, 1, 1, tzinfo=PARIS)


def best_rate(calls: Callable[[], list[T]], count: int) -> tuple[float, list[T]]:
    """Calls per second of the best of REPEATS runs, and the results of the last."""
    best = float("inf")
    results: list[T] = []
    for _ in range(REPEATS):
        gc.collect()
        began = time.perf_counter()
        results = calls()
        best = min(best, time.perf_counter() - began)
    return count / best, results


def agreement(
    cal: BusinessCalendar, ours: Sequence[datetime], theirs: Sequence[Any]
) -> tuple[int, int, list[tuple[datetime, Any]]]:
    """Exact matches; matches once a result on a closing time is read as the next opening; the rest."""
    exact = same_position = 0
    others = []
    for mine, other in zip(ours, theirs):
        other = other.to_pydatetime() if isinstance(other, pd.Timestamp) else other
        if other.tzinfo is None:
            other = other.replace(tzinfo=PARIS)
        if mine == other:
            exact += 1
        elif cal.next_open(mine) == cal.next_open(other):
            same_position += 1
        else:
            others.append((mine, other))
    return exact, same_position, others


def report_agreement(name: str, cal: BusinessCalendar, ours: Sequence[datetime], theirs: Sequence[Any]) -> None:
    exact, boundary, others = agreement(cal, ours, theirs)
    print(
        f"  agreement with {name}: {exact}/{len(theirs)} identical, {boundary} differ only by the "
        f"closing-time convention, {len(others)} other differences"
    )
    for mine, other in others[:5]:
        print(f"    sla-bridge {mine.isoformat()}  {name} {other.isoformat()}")


def main() -> None:
    rng = random.Random(SEED)
    cal = BusinessCalendar(weekly={d: [Interval(wall(9), wall(18))] for d in range(5)})
    span = int((LAST - FIRST).total_seconds())
    base = int(FIRST.timestamp())
    starts = [datetime.fromtimestamp(base + rng.randrange(span), PARIS) for _ in range(CASES)]
    minutes = [rng.randint(1, MAX_DAYS * DAY_MINUTES) for _ in range(CASES)]
    whole_hours = [rng.randint(1, MAX_DAYS * 9) for _ in range(CASES)]
    others = [datetime.fromtimestamp(base + rng.randrange(span), PARIS) for _ in range(CASES)]
    day_counts = [rng.randint(0, MAX_DAYS) for _ in range(CASES)]

    print("sla-bridge business-calendar benchmark")
    print(
        f"python {platform.python_version()} on {platform.machine()}, pandas {pd.__version__}, "
        f"holidays {version('holidays')}, seed {SEED}, best of {REPEATS} runs"
    )
    print(
        "calendar: Mon-Fri 09:00-18:00 Europe/Paris, FR public holidays; starts uniform over "
        "2024-01-01..2031-12-31 (any time of day, whole seconds)"
    )
    print()

    began = time.perf_counter()
    cal.add(starts[0], 1)
    for s in (FIRST, LAST):
        cal.add(s, MAX_DAYS * DAY_MINUTES)
    print(f"lazy index build, first calls (not in the rates below): {(time.perf_counter() - began) * 1000:.1f} ms")

    add = cal.add
    rate, _ = best_rate(lambda: [add(s, m) for s, m in zip(starts, minutes)], CASES)
    print(f"add, {CASES:,} calls, durations 1..{MAX_DAYS * DAY_MINUTES:,} minutes: {rate:,.0f} calls/s")
    # Starts in the calendar's own zone (above) are read through the index's daily
    # offsets; other zones ask zoneinfo. Trackers mostly give fixed offsets or UTC.
    utc_starts = [s.astimezone(timezone.utc) for s in starts]
    rate, _ = best_rate(lambda: [add(s, m) for s, m in zip(utc_starts, minutes)], CASES)
    print(f"add, the same starts in UTC (not the calendar's zone): {rate:,.0f} calls/s")

    # ---------------------------------------------------------------- peers
    print()
    print(f"peers, whole-hour durations 1..{MAX_DAYS * 9} h on the same starts (pandas adds whole business hours only)")
    sla_rate, ours = best_rate(lambda: [add(s, h * 60) for s, h in zip(starts, whole_hours)], CASES)
    print(f"  sla-bridge        {CASES:>7,} calls: {sla_rate:>12,.0f} calls/s")

    holiday_dates = sorted(d for d, _ in holidays.country_holidays("FR", years=range(2023, 2034)).items())
    offsets = {
        n: pd.offsets.CustomBusinessHour(n=n, start="09:00", end="18:00", holidays=holiday_dates)
        for n in sorted(set(whole_hours[:PANDAS_CASES]))
    }
    walls = [pd.Timestamp(s.replace(tzinfo=None)) for s in starts[:PANDAS_CASES]]
    pandas_rate, theirs_pd = best_rate(lambda: [w + offsets[h] for w, h in zip(walls, whole_hours)], PANDAS_CASES)
    print(
        f"  pandas            {PANDAS_CASES:>7,} calls: {pandas_rate:>12,.0f} calls/s   "
        f"sla-bridge is {sla_rate / pandas_rate:,.1f}x faster"
    )

    paris = pytz.timezone("Europe/Paris")
    rules = businesstimedelta.Rules(
        [
            businesstimedelta.WorkDayRule(
                start_time=wall(9),
                end_time=wall(18),
                working_days=[0, 1, 2, 3, 4],
                tz=paris,
            ),
            businesstimedelta.HolidayRule(frozenset(holiday_dates), tz=paris),
        ]
    )
    deltas = {h: businesstimedelta.BusinessTimeDelta(rules, hours=h) for h in set(whole_hours[:BTD_CASES])}
    btd_rate, theirs_btd = best_rate(
        lambda: [s + deltas[h] for s, h in zip(starts[:BTD_CASES], whole_hours)], BTD_CASES
    )
    print(
        f"  businesstimedelta {BTD_CASES:>7,} calls: {btd_rate:>12,.0f} calls/s   "
        f"sla-bridge is {sla_rate / btd_rate:,.1f}x faster"
    )
    # The batch API: numpy arrays of instants and minutes -> instants, one call.
    import numpy as np

    from sla_bridge.calendar_batch import add_many, to_datetime64

    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    start_us = np.array([(s - epoch) // timedelta(microseconds=1) for s in starts], dtype=np.int64)
    hour_minutes = np.array([h * 60 for h in whole_hours], dtype=np.int64)
    batch_rate, batch = best_rate(lambda: add_many(cal, start_us, hour_minutes), CASES)
    print(
        f"  sla-bridge batch  {CASES:>7,} calls: {batch_rate:>12,.0f} calls/s   "
        f"{batch_rate / pandas_rate:,.1f}x pandas (int64 microseconds in and out)"
    )
    dt64_rate, _ = best_rate(lambda: to_datetime64(add_many(cal, start_us.astype("datetime64[us]"), hour_minutes)),
                             CASES)
    print(
        f"  sla-bridge batch  {CASES:>7,} calls: {dt64_rate:>12,.0f} calls/s   "
        f"{dt64_rate / pandas_rate:,.1f}x pandas (datetime64 in and out)"
    )
    same = sum(1 for got, want in zip(batch.tolist(), ours) if got == (want - epoch) // timedelta(microseconds=1))
    print(f"  batch agrees with the scalar add on {same:,} of {CASES:,} cases")
    report_agreement("pandas", cal, ours[:PANDAS_CASES], theirs_pd)
    report_agreement("businesstimedelta", cal, ours[:BTD_CASES], theirs_btd)
    print("  (pandas moves a result that falls exactly on 18:00 to 09:00 the next business day;")
    print("   sla-bridge and businesstimedelta keep 18:00: the same business-time position)")

    # ------------------------------------------------------------- between
    print()
    between = cal.between
    rate, _ = best_rate(lambda: [between(a, b) for a, b in zip(starts, others)], CASES)
    print(f"between, {CASES:,} calls, random pairs over 2024..2031: {rate:,.0f} calls/s")
    add_days = cal.add_days
    rate, _ = best_rate(lambda: [add_days(s, n) for s, n in zip(starts, day_counts)], CASES)
    print(f"add_days, {CASES:,} calls, 0..{MAX_DAYS} business days: {rate:,.0f} calls/s")

    print()
    print("summary (whole-hour durations, same starts, this run)")
    print(f"  scalar add {sla_rate:,.0f} calls/s vs pandas CustomBusinessHour {pandas_rate:,.0f} calls/s:"
          f" {sla_rate / pandas_rate:,.1f}x pandas (issue 10: >= 50x)")
    print(f"  batch add_many {batch_rate:,.0f} calls/s: {batch_rate / pandas_rate:,.1f}x pandas (issue 10: >= 500x);"
          f" equal to the scalar add on {same:,} of {CASES:,} cases")


if __name__ == "__main__":
    main()
