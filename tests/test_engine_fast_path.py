"""The sync's evaluation (``explain=False``) gives the same answer as ``explain``'s.

The fast path leaves out only texts for people (each clock's ``why``, the timeline)
and the schedules of waiting cycles that ended: everything a sync acts on, the
states, deadlines, pauses, desired labels, comments and closure, and the next
change, must be equal. Histories are those of the engine's property tests, also
longer (many pauses and severity changes: what the walk through the pauses and the
bisections serve), sometimes with sla-bridge's own reminders already posted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, strategies as st

from conftest import make_ticket
from sla_bridge.config import Config
from sla_bridge.engine import Evaluation, evaluate
from sla_bridge.markers import with_marker
from sla_bridge.model import Comment, Role
from test_engine_properties import CFG, CONTRACT, SETTINGS, build_event, delays, event_specs, histories, instant


def both(ticket: Any, now: datetime, config: Config) -> tuple[Evaluation, Evaluation]:
    return (evaluate(ticket, config.policy, config.calendar, now, explain=True),
            evaluate(ticket, config.policy, config.calendar, now, explain=False))


def assert_same_answer(full: Evaluation, fast: Evaluation) -> None:
    assert fast.timeline == ()
    for clock, c in full.clocks.items():  # everything but the texts for people
        assert fast.clocks[clock] == c._replace(why=fast.clocks[clock].why), clock
    assert fast.desired == full.desired
    assert fast.next_change_at == full.next_change_at
    assert (fast.severity, fast.status, fast.status_role, fast.entitled, fast.in_scope, fast.warnings) == \
        (full.severity, full.status, full.status_role, full.entitled, full.in_scope, full.warnings)
    # Every cycle is listed, with its start, end and cause; the ongoing one with its whole
    # schedule, the last one with its closure key (a closure half done is finished with it).
    assert [(c.started_at, c.ended_at, c.started_by) for c in fast.cycles] == \
        [(c.started_at, c.ended_at, c.started_by) for c in full.cycles]
    if full.cycles:
        assert fast.cycles[-1].closure_key == full.cycles[-1].closure_key
        if full.cycles[-1].ended_at is None:
            assert fast.cycles[-1] == full.cycles[-1]


@SETTINGS
@given(histories(), st.data())
def test_fast_path_gives_explain_s_answer(history: Any, data: st.DataObject) -> None:
    created, events, fields = history
    config = data.draw(st.sampled_from([CFG, CONTRACT]))
    ticket = make_ticket(created, *events, **fields)
    for now in (instant(created, events, data.draw), instant(created, events, data.draw, off_event=False)):
        assert_same_answer(*both(ticket, now, config))


@st.composite
def long_histories(draw: Any) -> tuple[datetime, list[Any], dict[str, Any]]:
    """Up to 150 events: many waiting periods, answers and severity changes."""
    created, events, fields = draw(histories())
    when = events[-1].at if events else created
    for kind, spec in draw(st.lists(event_specs(), min_size=20, max_size=120)):
        when = when + timedelta(minutes=draw(delays))
        events.append(build_event(kind, spec, when))
    return created, events, fields


@SETTINGS
@given(long_histories(), st.data())
def test_fast_path_gives_explain_s_answer_on_long_histories(history: Any, data: st.DataObject) -> None:
    created, events, fields = history
    ticket = make_ticket(created, *events, **fields)
    for now in (instant(created, events, data.draw), events[-1].at + timedelta(hours=1)):
        assert_same_answer(*both(ticket, now, CFG))


@SETTINGS
@given(histories(), st.data())
def test_fast_path_with_reminders_already_posted(history: Any, data: st.DataObject) -> None:
    """Catch-up ("collapse") reads sla-bridge's own reminders on the tracker: post some."""
    created, events, fields = history
    ticket = make_ticket(created, *events, **fields)
    now = instant(created, events, data.draw)
    full = evaluate(ticket, CFG.policy, CFG.calendar, now)
    posted = [Comment(r.at + timedelta(minutes=data.draw(st.sampled_from([0, 1, 90]))), "sla-bridge", Role.AGENT,
                      True, with_marker("Relance", r.key), own=True)
              for cycle in full.cycles for r in cycle.reminders if r.at <= now and data.draw(st.booleans())]
    ticket = make_ticket(created, *sorted(events + posted, key=lambda e: e.at), **fields)
    later = now + timedelta(minutes=data.draw(st.integers(0, 20 * 24 * 60)))
    assert_same_answer(*both(ticket, later, CFG))
