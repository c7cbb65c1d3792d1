"""Property tests of the SLA engine over random ticket histories (example contract).

Tickets are created between 2024 and 2030 and carry 0-30 events: status changes
among the mapped statuses (by an agent, the customer or unknown), agent and
customer comments (public or internal), severity changes (including unknown
values) and a few workaround labels. Runs are derandomized so CI is stable.

The instants drawn include events' own instants (events are on whole minutes),
where a pause starts or ends: the answer must already be the one of the second
after.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, given, settings, strategies as st

from dataclasses import replace

from conftest import agent, contract_dates, customer, label, make_ticket, observable, severity, status
from sla_bridge.config import Config
from sla_bridge.demo import builtin_config
from sla_bridge.engine import ClockState, CommentKind, Evaluation, evaluate
from sla_bridge.markers import with_marker
from sla_bridge.model import Comment, Role, Ticket

CFG = builtin_config()  # catch_up = "collapse", the default
CONTRACT = contract_dates()  # every reminder at its contractual date
STATUSES = ["new", "in_progress", "waiting_for_customer", "workaround_delivered", "resolved", "closed"]
SEVERITIES = ["bloquante", "majeure", "mineure"]
ZONES = [timezone.utc, ZoneInfo("Europe/Paris"), timezone(timedelta(hours=-5))]
FIRST = datetime(2024, 1, 1, tzinfo=timezone.utc)
LAST = datetime(2030, 12, 31, tzinfo=timezone.utc)
ONE_S = timedelta(seconds=1)

SETTINGS = settings(derandomize=True, deadline=None, max_examples=300,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def ev(ticket: Ticket, now: datetime, config: Config = CFG) -> Evaluation:
    return evaluate(ticket, config.policy, config.calendar, now)


# --- strategies ---------------------------------------------------------------------------------

delays = st.one_of(
    st.just(0),                                   # several events at the same instant
    st.integers(1, 240),                          # minutes
    st.integers(240, 3 * 24 * 60),                # up to three days
    st.integers(3 * 24 * 60, 25 * 24 * 60),       # long waits: reminder cycles run out
)


@st.composite
def event_specs(draw: Any) -> tuple[str, Any]:
    kind = draw(st.sampled_from(["status"] * 5 + ["comment"] * 4 + ["severity", "label"]))
    if kind == "status":
        to = draw(st.sampled_from(STATUSES + ["waiting_for_customer"] * 3))
        return kind, (to, draw(st.sampled_from([Role.AGENT, Role.CUSTOMER, None])))
    if kind == "comment":
        return kind, (draw(st.sampled_from([Role.AGENT, Role.CUSTOMER])), draw(st.booleans()))
    if kind == "severity":
        return kind, draw(st.sampled_from(SEVERITIES * 3 + ["critique", "Majeure"]))
    return kind, (draw(st.sampled_from(["contournement", "contournement-definitif"])), draw(st.booleans()))


def build_event(kind: str, spec: Any, when: datetime) -> Any:
    if kind == "status":
        return status(when, spec[0], by_role=spec[1])
    if kind == "comment":
        role, public = spec
        return agent(when, public=public) if role is Role.AGENT else customer(when, public=public)
    if kind == "severity":
        return severity(when, spec)
    return label(when, spec[0], added=spec[1])


@st.composite
def histories(draw: Any) -> tuple[datetime, list[Any], dict[str, Any]]:
    """A creation instant, its events in time order, and the ticket's other fields."""
    minutes = draw(st.integers(0, int((LAST - FIRST).total_seconds() // 60)))
    created = (FIRST + timedelta(minutes=minutes)).astimezone(draw(st.sampled_from(ZONES)))
    events, when = [], created
    for kind, spec in draw(st.lists(event_specs(), max_size=30)):
        when = when + timedelta(minutes=draw(delays))
        events.append(build_event(kind, spec, when))
    # Often leave the ticket waiting for the customer, sometimes with answers after that,
    # so that reminder cycles run to their end.
    if draw(st.booleans()):
        when = when + timedelta(minutes=draw(delays))
        events.append(status(when, "waiting_for_customer"))
        for _ in range(draw(st.integers(0, 2))):
            when = when + timedelta(minutes=draw(delays))
            events.append(customer(when, public=draw(st.booleans())))
    fields = dict(
        severity=draw(st.sampled_from(SEVERITIES * 4 + [None, "critique"])),
        initial_status=draw(st.sampled_from(["new"] * 6 + ["in_progress", "waiting_for_customer"])),
        fix_version=draw(st.sampled_from([None, None, "2.4.1"])),
        type=draw(st.sampled_from([None] * 10 + ["Installation"])),
        title=draw(st.sampled_from(["Panne", "{{ 7*7 }} $ticket ${title}"])),
    )
    return created, events, fields


def ticket_at(created: datetime, events: list[Any], fields: dict[str, Any], now: datetime | None = None) -> Ticket:
    """The ticket as the tracker shows it at `now` (its history up to `now`), or complete."""
    return make_ticket(created, *[e for e in events if now is None or e.at <= now], **fields)


def instant(created: datetime, events: list[Any], draw: Any, off_event: bool = True) -> datetime:
    """An instant in the ticket's life, often exactly an event's instant; with `off_event`
    never before the creation, otherwise possibly up to a day before the creation."""
    seconds = draw(st.sampled_from([0, 0, 1, 30, 59]))
    if events and draw(st.booleans()):  # shortly after one of the events
        base = draw(st.sampled_from(events)).at
        return base + timedelta(minutes=draw(st.integers(0, 4 * 24 * 60)), seconds=seconds)
    horizon = (events[-1].at if events else created) - created + timedelta(days=40)
    minutes = draw(st.integers(0 if off_event else -24 * 60, int(horizon.total_seconds() // 60)))
    return created + timedelta(minutes=minutes, seconds=seconds)


def running(evaluation: Evaluation) -> list[Any]:
    return [c for c in evaluation.clocks.values() if c.state in (ClockState.RUNNING, ClockState.AT_RISK)]


# --- properties ---------------------------------------------------------------------------------

@SETTINGS
@given(histories(), st.data())
def test_evaluate_is_deterministic_and_never_raises(history, data):
    created, events, fields = history
    ticket = ticket_at(created, events, fields)
    for now in (instant(created, events, data.draw, off_event=False), created, *(e.at for e in events[:3])):
        first = ev(ticket, now)
        assert ev(ticket, now) == first
        assert first.next_change_at is None or first.next_change_at > now


@SETTINGS
@given(histories(), st.data())
def test_invariants_of_one_evaluation(history, data):
    created, events, fields = history
    ticket = ticket_at(created, events, fields)
    now = instant(created, events, data.draw, off_event=False)
    evaluation = ev(ticket, now)
    assert evaluation.next_change_at is None or evaluation.next_change_at > now
    assert all(name.startswith("sla-") for name in evaluation.desired.labels)
    for clock in running(evaluation):
        assert clock.deadline is None or clock.deadline >= clock.started_at
    keys = [c.key for c in evaluation.desired.comments]
    assert len(keys) == len(set(keys))
    assert all(c.due_at <= now for c in evaluation.desired.comments)
    # cycles starting at different instants never share a key
    seen: dict[str, datetime] = {}
    for cycle in evaluation.cycles:
        for key in [r.key for r in cycle.reminders] + [cycle.closure_key]:
            assert seen.setdefault(key, cycle.started_at) == cycle.started_at
    if evaluation.desired.close:
        assert evaluation.cycles and evaluation.cycles[-1].ended_at is None


@SETTINGS
@given(histories(), st.data())
def test_nothing_changes_before_next_change_at(history, data):
    created, events, fields = history
    config = data.draw(st.sampled_from([CFG, CONTRACT]))
    now = instant(created, events, data.draw)
    ticket = ticket_at(created, events, fields, now)  # no event after `now`: only time passes
    evaluation = ev(ticket, now, config)
    change = evaluation.next_change_at
    event(f"next change: {'none' if change is None else 'timed'}; status {evaluation.status_role}")
    if change is None:
        later = now + timedelta(days=data.draw(st.integers(1, 400)), seconds=data.draw(st.integers(0, 86399)))
        assert observable(ev(ticket, later, config)) == observable(evaluation)
        return
    assert change > now
    before = change - ONE_S
    if before > now:
        assert observable(ev(ticket, before, config)) == observable(evaluation)
        between = now + (before - now) * data.draw(st.floats(0, 1))
        assert observable(ev(ticket, between, config)) == observable(evaluation)
    assert observable(ev(ticket, change, config)) != observable(evaluation)


@SETTINGS
@given(histories(), st.data())
def test_reminder_keys_stay_while_the_cycle_goes_on(history, data):
    created, events, fields = history
    ticket = ticket_at(created, events, fields)  # what-if at two instants of the same history
    t = instant(created, events, data.draw)
    t2 = t + timedelta(minutes=data.draw(st.integers(1, 30 * 24 * 60)))
    early, late = ev(ticket, t, CONTRACT), ev(ticket, t2, CONTRACT)
    if not early.cycles or early.cycles[-1].ended_at is not None:
        event("no ongoing cycle")
        return
    event(f"ongoing cycle, {len(early.desired.comments)} comments due")
    ongoing = early.cycles[-1].started_at
    if late.cycles and late.cycles[-1].started_at == ongoing and late.cycles[-1].ended_at is None:
        early_keys = [c.key for c in early.desired.comments]
        assert [c.key for c in late.desired.comments][:len(early_keys)] == early_keys


@SETTINGS
@given(histories(), st.data())
def test_waiting_ticket_is_reminded_then_closed(history, data):
    """A ticket left waiting with no further event is eventually closed, after all its reminders."""
    created, events, fields = history
    now = instant(created, events, data.draw)
    ticket = ticket_at(created, events, fields, now)
    evaluation = ev(ticket, now, CONTRACT)
    if not evaluation.cycles or evaluation.cycles[-1].ended_at is not None or evaluation.status != "waiting_for_customer":
        return
    cycle = evaluation.cycles[-1]
    event(f"waiting, started by {cycle.started_by}")
    final = ev(ticket, cycle.auto_close_at, CONTRACT)
    assert final.desired.close
    assert [c.key for c in final.desired.comments] == [r.key for r in cycle.reminders] + [cycle.closure_key]
    assert not ev(ticket, cycle.auto_close_at - ONE_S, CONTRACT).desired.close


@SETTINGS
@given(histories(), st.data())
def test_a_sync_that_comes_late_never_floods_and_always_leaves_a_day(history, data):
    """Catch-up "collapse": a sync first looking at a waiting ticket at any instant, then at each
    ``next_change_at``, posts at most one reminder per look, never a step twice, and closes only
    once ``auto_close_after`` (one business day) has passed since the last reminder it posted."""
    created, events, fields = history
    now = instant(created, events, data.draw)
    ticket = ticket_at(created, events, fields, now)
    evaluation = ev(ticket, now)
    if evaluation.status != "waiting_for_customer" or not evaluation.cycles or evaluation.cycles[-1].ended_at:
        return
    posted: list[tuple[str, datetime]] = []
    for _ in range(10):
        new = [c for c in evaluation.desired.comments
               if c.kind is CommentKind.REMINDER and c.key not in {k for k, _ in posted}]
        assert len(new) <= 1, "one look posts at most one reminder"
        if evaluation.desired.close:
            assert posted, "a customer is warned before the closure"
            assert CFG.calendar.between(posted[-1][1], now) >= 9 * 60 - 1e-6  # a business day of 9 h
            return
        for comment in new:
            posted.append((comment.key, now))
            note = Comment(now, "sla-bridge", Role.AGENT, True, with_marker(comment.body, comment.key), own=True)
            ticket = replace(ticket, events=(*ticket.events, note))
        evaluation = ev(ticket, now)
        if not new:
            if evaluation.next_change_at is None:
                return
            now = evaluation.next_change_at
            evaluation = ev(ticket, now)
    numbers = [int(k.rsplit("/", 1)[1]) for k, _ in posted]
    assert numbers == sorted(set(numbers))
