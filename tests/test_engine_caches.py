"""What the engine's shortcuts rest on: the values it remembers between evaluations (per
policy, per severity's reminder steps, per day of cycle stamps) and the steps it skips.

Each shortcut must give the answer of the plain computation: the stamp of a waiting cycle
from integer arithmetic, the gaps between reminder steps, the clocks' start at position 0,
a policy's facts when another policy (or a rebuilt one) comes along, and a next change
never later than a clock's breach or its turning at risk.
"""

from __future__ import annotations

import gc
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, strategies as st

from conftest import agent, make_ticket, status
from sla_bridge.engine import ClockState, breach_instant, evaluate
from sla_bridge.engine.running import Meter
from sla_bridge.engine.waiting import _gap, _gaps, _stamp_us, cycle_stamp
from sla_bridge.policy import AcknowledgedBy, Clock, Duration, Unit
from test_engine_properties import CFG, CONTRACT, SETTINGS, histories, instant

ZONES = [timezone.utc, ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York"), timezone(timedelta(hours=5, minutes=30))]


@SETTINGS
@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31)), st.sampled_from(ZONES))
def test_a_cycle_stamp_from_microseconds_is_the_strftime_one(wall: datetime, zone: Any) -> None:
    t = wall.replace(tzinfo=zone)
    assert _stamp_us(CFG.calendar.instant_us(t)) == cycle_stamp(t)


def test_gaps_are_each_steps_gap_whatever_tuple_asks() -> None:
    days, minutes = Unit.DAYS, Unit.MINUTES
    for steps in [(Duration(1, days), Duration(2, days), Duration(3, days)),
                  (Duration(3, days), Duration(6, days), Duration(9, days)),
                  (Duration(2, days), Duration(1, days)),
                  (Duration(90, minutes), Duration(2, days), Duration(3, days))]:
        for _ in range(3):  # a new tuple each time: its id may be an old one's
            delays = tuple(replace(d) for d in steps)
            assert list(_gaps(delays)) == [_gap(delays, k) for k in range(len(delays))]
            del delays
            gc.collect()


@SETTINGS
@given(st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31)), st.sampled_from(ZONES))
def test_the_clocks_start_is_at_position_zero(wall: datetime, zone: Any) -> None:
    start = wall.replace(tzinfo=zone)
    cal = CFG.calendar
    assert Meter(cal, start).at(start) == 0 == cal.ruler(cal.instant_us(start)).position_of(start)


def test_each_policy_is_read_for_itself_even_rebuilt_at_the_same_address() -> None:
    # Acknowledged by the public comment at 10:00 under the example policy; by the status
    # change at 11:00 under a variant that only counts status changes.
    ticket = make_ticket("2025-05-05T09:00+02:00", agent("2025-05-05T10:00+02:00"),
                         status("2025-05-05T11:00+02:00", "in_progress"))
    now = datetime.fromisoformat("2025-05-05T12:00+02:00")
    by_comment = datetime.fromisoformat("2025-05-05T10:00+02:00")
    by_status = datetime.fromisoformat("2025-05-05T11:00+02:00")
    for _ in range(5):
        variant = replace(CFG.policy, acknowledged_by=frozenset({AcknowledgedBy.STATUS_CHANGE}))
        for policy, expected in ((CFG.policy, by_comment), (variant, by_status), (CFG.policy, by_comment)):
            assert evaluate(ticket, policy, CFG.calendar, now, explain=False).clocks[Clock.ACKNOWLEDGE].stopped_at \
                == expected
        del variant
        gc.collect()


@SETTINGS
@given(histories(), st.data())
def test_the_next_change_is_never_after_a_running_clock_turns_at_risk_or_breached(history: Any,
                                                                                 data: st.DataObject) -> None:
    """The engine skips a clock's breach when its turning at risk comes first: never one that comes first."""
    created, events, fields = history
    ticket = make_ticket(created, *events, **fields)
    config = data.draw(st.sampled_from([CFG, CONTRACT]))
    now = instant(created, events, data.draw)
    for explain in (False, True):
        evaluation = evaluate(ticket, config.policy, config.calendar, now, explain=explain)
        for c in evaluation.clocks.values():
            if c.stopped_at is not None or c.state in (ClockState.PAUSED, ClockState.NOT_APPLICABLE):
                continue
            if c.at_risk_at is not None and c.at_risk_at > now:
                assert evaluation.next_change_at is not None and evaluation.next_change_at <= c.at_risk_at
            if c.deadline is not None and c.state is not ClockState.BREACHED:
                breach = breach_instant(config.calendar, c.deadline)
                assert breach > now
                assert evaluation.next_change_at is not None and evaluation.next_change_at <= breach
