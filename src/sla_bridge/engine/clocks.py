"""The three clocks (acknowledge, workaround, resolution) and the one rule for lateness.

Late means business time past the deadline (``overdue``): the annex measures every
delay in opening hours, so a Friday 18:00 deadline is breached just after Monday's
opening, not at 18:01.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Sequence

from ..calendar import BusinessCalendar
from ..model import Role, Ticket
from ..policy import (
    AcknowledgedBy,
    Clock,
    Duration,
    Policy,
    ResolutionKind,
    SeverityPolicy,
    StatusRole,
    Unit,
)
from ..text import local, minutes_text
from .history import History, Interval, Segment, Spans, first_field, first_label, first_stop
from .results import ClockEvaluation, ClockState, Pause
from .running import EPSILON, US_PER_MINUTE, Meter, Walk

__all__ = ["EPSILON", "breach_instant", "clocks_of", "not_applicable", "overdue"]

_JUST_AFTER = timedelta(microseconds=1)
_NEW_ROLES = frozenset({StatusRole.NEW})
_DONE_ROLES = frozenset({StatusRole.RESOLVED, StatusRole.CLOSED})


def overdue(cal: BusinessCalendar, deadline: datetime, t: datetime) -> bool:
    """Whether `t` is late for `deadline`: some business time elapsed between them.

    The one rule behind met, breached, the labels, the breach hook and
    ``next_change_at``: a reply after closing time, or at the next opening, is on
    time for a deadline at the closing time.
    """
    return t > deadline and cal.between(deadline, t) > 0


def breach_instant(cal: BusinessCalendar, deadline: datetime) -> datetime:
    """The first instant at which `deadline` is overdue: just after the next opening."""
    return cal.next_open(deadline) + _JUST_AFTER


def not_applicable(clock: Clock, why: str) -> ClockEvaluation:
    return ClockEvaluation(clock, ClockState.NOT_APPLICABLE, why=(why,))


@lru_cache(maxsize=256)
def _no_target(clock: Clock, severity: str) -> ClockEvaluation:
    """A severity without a target for `clock` (NC): the same immutable answer for every ticket."""
    return not_applicable(clock, f"no {clock} target for {severity} (NC, §1.2)")


class _Clocks:
    """What the clocks of one evaluation share: the calendar, the start, the positions of instants."""

    __slots__ = ("_targets", "cal", "meter", "policy", "start", "start_at")

    def __init__(self, cal: BusinessCalendar, policy: Policy, start: datetime) -> None:
        self.cal, self.policy, self.start = cal, policy, start
        self.meter = Meter(cal, start)
        self.start_at = self.meter(start)
        self._targets: dict[int, float] = {}

    def target_minutes(self, target: Duration) -> float:
        """A target in business minutes; a day target is converted once, from the start (§1.2)."""
        if target.unit is not Unit.DAYS:
            return float(target.amount)
        minutes = self._targets.get(target.amount)
        if minutes is None:
            ruler = self.meter.ruler
            end = self.cal.add_days_us(ruler.anchor, target.amount)
            minutes = self._targets[target.amount] = ruler.position(end) / US_PER_MINUTE
        return minutes

    def overdue(self, deadline: datetime, deadline_at: int, t: datetime) -> bool:
        """``overdue``, for a deadline at position `deadline_at`."""
        return t > deadline and self.meter(t) - deadline_at > 0

    def breach_instant(self, deadline: datetime, deadline_us: int) -> datetime:
        """``breach_instant``, on a deadline already converted."""
        opening = self.cal.next_open_us(deadline_us)
        # next_open gives the deadline itself (in the calendar's zone) when open.
        return (deadline.astimezone(self.cal.zone) if opening == deadline_us
                else self.cal.datetime_at(opening)) + _JUST_AFTER


def _target(sev: SeverityPolicy, clock: Clock) -> Duration | None:
    """``sev.target(clock)`` without building a mapping for each question."""
    if clock is Clock.ACKNOWLEDGE:
        return sev.acknowledge
    return sev.workaround if clock is Clock.WORKAROUND else sev.resolution


def _run_clock(c: _Clocks, clock: Clock, now: datetime, target: Duration, stop: datetime | None, stop_reason: str,
               walk: Walk, why: list[str], explain: bool) -> tuple[ClockEvaluation, int]:
    """The clock at `now`, and its deadline's microseconds."""
    cal, start = c.cal, c.start
    stopped = stop is not None and stop <= now
    end = stop if stop is not None and stopped else now
    target_minutes = c.target_minutes(target)
    if explain:
        if target.unit is Unit.DAYS:
            why.append(f"target {target} = {minutes_text(target_minutes)} of opening hours from"
                       f" {local(cal.next_open(start), cal)}")
        else:
            why.append(f"target {target} of opening hours")

    end_at = c.meter(end)
    resume: datetime | None
    if walk.empty:  # most clocks stop before any pause: counted from the start, straight
        steps, resume, resume_at = 0, start, c.start_at
        elapsed = (end_at - resume_at) / US_PER_MINUTE if start < end else 0.0
    else:
        steps, resume, resume_at, elapsed = walk.run(end, end_at, stopped)
    still_paused = resume is None and not stopped
    pauses: tuple[Pause, ...] = ()
    if steps:
        clipped = []
        for k in range(steps):
            s, p_end, status = walk.starts[k], walk.ends[k], walk.statuses[k]
            # The pause still on at the end counts up to the end.
            minutes = ((end_at if resume is None and k == steps - 1 else walk.ends_at[k]) - walk.starts_at[k]) \
                / US_PER_MINUTE
            clipped.append(Pause(s, p_end, status, minutes))
            if explain:
                why.append(f"paused {local(s, cal)} -> {local(p_end, cal) if p_end else 'now'} ({status}):"
                           f" {minutes_text(minutes)} of business time not counted")
        pauses = tuple(clipped)

    deadline, deadline_us, deadline_at = walk.deadline(steps, resume, resume_at, target_minutes)
    at_risk_at = walk.deadline(steps, resume, resume_at, target_minutes * c.policy.at_risk_threshold)[0]

    remaining = target_minutes - elapsed
    if stop is not None and stopped:
        # Business time past the deadline, not wall time: an answer at 20:00, or
        # at the next opening, to a deadline at 18:00 is on time.
        on_time = not c.overdue(deadline, deadline_at, stop) if deadline is not None \
            else elapsed <= target_minutes + EPSILON
        state = ClockState.MET if on_time else ClockState.BREACHED
        if explain:
            why.append(f"{'met' if state is ClockState.MET else 'breached, stopped late'}: {stop_reason}"
                       f" at {local(stop, cal)}, after {minutes_text(elapsed)} of business time")
        stopped_at: datetime | None = stop
    else:
        stopped_at = None
        if deadline is not None and c.overdue(deadline, deadline_at, now):
            state = ClockState.BREACHED
        elif still_paused:
            state = ClockState.PAUSED
        elif at_risk_at is not None and at_risk_at <= now:
            state = ClockState.AT_RISK
        else:
            state = ClockState.RUNNING
    if explain and deadline is not None:
        skipped = cal.holidays_between(start.astimezone(cal.zone).date(), deadline.astimezone(cal.zone).date())
        for day, name in skipped:
            why.append(f"not counted: {day.isoformat()} ({name})")
        why.append(f"deadline {local(deadline, cal)}" + (" - breached" if state is ClockState.BREACHED
                                                        and stopped_at is None else ""))
    elif explain and still_paused:
        why.append(f"deadline unknown while paused; {minutes_text(remaining)} left")
    return ClockEvaluation(clock, state, target, target_minutes, start, stopped_at, deadline, elapsed,
                           remaining, at_risk_at, pauses, tuple(why), None,
                           c.breach_instant(deadline, deadline_us)
                           if state is ClockState.BREACHED and deadline is not None else None), deadline_us


def _breached_then(c: _Clocks, until: datetime, target: Duration, stop: datetime | None, walk: Walk
                   ) -> tuple[bool, datetime | None, datetime | None]:
    """Whether the clock was breached at `until` under `target`: (breached, its deadline, when it was breached).

    The same rule as ``_run_clock``, reduced to what a breach needs.
    """
    stopped = stop is not None and stop <= until
    end = stop if stop is not None and stopped else until
    steps, resume, resume_at, elapsed = walk.run(end, c.meter(end), stopped)
    target_minutes = c.target_minutes(target)
    deadline, deadline_us, deadline_at = walk.deadline(steps, resume, resume_at, target_minutes)
    if stop is not None and stopped:
        breached = c.overdue(deadline, deadline_at, stop) if deadline is not None \
            else elapsed > target_minutes + EPSILON
    else:
        breached = deadline is not None and c.overdue(deadline, deadline_at, until)
    breached_at = c.breach_instant(deadline, deadline_us) if breached and deadline is not None else None
    return breached, deadline, breached_at


def clocks_of(ticket: Ticket, policy: Policy, cal: BusinessCalendar, now: datetime, sev: SeverityPolicy,
            segments: list[Segment], h: History, labels_now: frozenset[str], explain: bool,
            earlier: Sequence[tuple[SeverityPolicy, datetime]] = (), spans: Spans | None = None
            ) -> tuple[dict[Clock, ClockEvaluation], list[datetime]]:
    """Each clock at `now`, and the future instants at which one of them changes with no new event
    (it becomes at risk, or breached)."""
    start = ticket.started
    ctx = _Clocks(cal, policy, start)
    spans = spans or Spans(segments)
    fallback = ticket.updated or now
    intro: list[str] = []
    if explain:
        intro.append(f"severity {sev.key} ({sev.name})")
        if h.severities:
            intro.append("severity changed during the ticket's life: targets follow the current severity,"
                         " measured from the creation")
        if start != ticket.created:
            intro.append(f"reported {local(start, cal)}, logged {local(ticket.created, cal)}:"
                         " the clocks start at the report")
        opening = cal.next_open(start)
        if opening != start:
            intro.append(f"created out of hours ({local(start, cal)}): counting from {local(opening, cal)}")

    # What the status history says, in one pass: when the ticket left the new
    # statuses, was first resolved or closed, first had its workaround delivered.
    left_new = resolved_at = delivered_at = None
    first_segment = segments[0]
    for seg in segments:
        role = seg.role
        if left_new is None and role not in _NEW_ROLES and seg is not first_segment:
            left_new = seg.start
        if resolved_at is None and role in _DONE_ROLES:
            resolved_at = seg.start
        if delivered_at is None and role is StatusRole.WORKAROUND_DELIVERED:
            delivered_at = seg.start
    ack_candidates: list[tuple[datetime | None, str]] = []
    if AcknowledgedBy.AGENT_PUBLIC_COMMENT in policy.acknowledged_by:
        ack_candidates.append((next((c.at for c in h.comments if c.role is Role.AGENT and c.public), None),
                               "first public agent comment"))
    if AcknowledgedBy.STATUS_CHANGE in policy.acknowledged_by:
        ack_candidates.append((left_new, "ticket left the new statuses"))
        if segments[0].role not in _NEW_ROLES and segments[0].role is not None:
            ack_candidates.append((start, "ticket created past the new statuses"))
    definitive_label = (first_label(h, policy.definitive_workaround_labels, labels_now, fallback),
                        "definitive workaround")
    definitive_field = (first_field(h, policy.definitive_workaround_fields, ticket, fallback),
                        "definitive workaround (field)")
    workaround_at, workaround_why = first_stop([
        (delivered_at, "workaround delivered (status)"),
        (first_label(h, policy.workaround_labels, labels_now, fallback), "workaround delivered (label)"),
        definitive_label,
        (first_field(h, policy.workaround_fields, ticket, fallback), "workaround delivered (field)"),
        definitive_field,
        (resolved_at, "resolved"),
    ])
    definitive_at, _ = first_stop([definitive_label, definitive_field])
    current_done = segments[-1].role in _DONE_ROLES
    # Resolved, then closed: the resolution is when the ticket entered its last done spell,
    # not the closure weeks later (the time spent resolved is not resolution time).
    last_done = len(segments) - 1
    while current_done and last_done > 0 and segments[last_done - 1].role in _DONE_ROLES:
        last_done -= 1
    resolution_stop, resolution_why = first_stop([
        (segments[last_done].start if current_done else None, f"resolved ({segments[last_done].status})"),
        (definitive_at, "workaround accepted as definitive"),
    ])
    # Earlier resolved/closed spells of a reopened ticket pause its resolution clock.
    reopened: list[Interval] = [(s, e, f"{st} (before reopening)") for s, e, st in spans(_DONE_ROLES)
                                if e is not None] if resolved_at is not None else []

    plans: tuple[tuple[Clock, datetime | None, str, list[Interval]], ...] = (
        (Clock.ACKNOWLEDGE, *first_stop(ack_candidates), []),
        (Clock.WORKAROUND, workaround_at, workaround_why, []),
        (Clock.RESOLUTION, resolution_stop, resolution_why, reopened),
    )
    # The clocks paused by the same statuses share one walk through the pauses.
    walks: dict[frozenset[StatusRole], Walk] = {}
    result: dict[Clock, ClockEvaluation] = {}
    changes: list[datetime] = []
    for clock, stop, stop_why, extra_pauses in plans:
        target = _target(sev, clock)
        if target is None:
            if clock is Clock.RESOLUTION and sev.resolution_kind is ResolutionKind.NEXT_MINOR_RELEASE:
                met = ticket.fix_version is not None or current_done
                result[clock] = ClockEvaluation(
                    clock, ClockState.MET if met else ClockState.RUNNING, started_at=start,
                    stopped_at=(stop or now) if met else None,
                    why=(*intro, "no time target: the fix ships in a future minor release (§1.2)",
                         f"fix version {ticket.fix_version}" if ticket.fix_version else "no fix version yet"))
            else:
                result[clock] = _no_target(clock, sev.key)
            if earlier:
                # No target now, but one under a severity in force before: its breach stays.
                roles = policy.paused_by.get(clock, frozenset())
                walk = Walk(ctx.meter, start, sorted(spans(roles) + extra_pauses, key=lambda p: p[0]))
                result[clock] = _earlier_breach(ctx, result[clock], stop, walk, earlier, explain)
            continue
        roles = policy.paused_by.get(clock, frozenset())
        if extra_pauses:
            walk = Walk(ctx.meter, start, sorted(spans(roles) + extra_pauses, key=lambda p: p[0]))
        else:
            walk = walks.get(roles) or walks.setdefault(roles, Walk(ctx.meter, start, spans(roles)))
        evaluation, deadline_us = _run_clock(ctx, clock, now, target, stop, stop_why, walk, list(intro), explain)
        if earlier and evaluation.state is not ClockState.BREACHED:
            evaluation = _earlier_breach(ctx, evaluation, stop, walk, earlier, explain)
        result[clock] = evaluation
        if evaluation.stopped_at is None and evaluation.state is not ClockState.PAUSED:
            if evaluation.at_risk_at is not None and evaluation.at_risk_at > now:
                changes.append(evaluation.at_risk_at)
            if evaluation.deadline is not None:
                breach = ctx.breach_instant(evaluation.deadline, deadline_us)
                if breach > now:
                    changes.append(breach)
    return result, changes


def _earlier_breach(c: _Clocks, current: ClockEvaluation, stop: datetime | None, walk: Walk,
                    earlier: Sequence[tuple[SeverityPolicy, datetime]], explain: bool) -> ClockEvaluation:
    """A breach under a severity in force at the time stays a breach after a downgrade.

    Otherwise editing one field would erase a missed commitment from the labels and
    the report; the clock keeps counting toward the current severity's deadline.
    """
    for old, until in earlier:
        target = _target(old, current.clock)
        if target is None:
            continue
        breached, deadline, breached_at = _breached_then(c, until, target, stop, walk)
        if breached:
            why = current.why
            if explain:
                why += (f"breached while the severity was {old.key} (deadline {local(deadline, c.cal)});"
                        f" the severity changed on {local(until, c.cal)}: a breach stays",)
            return current._replace(state=ClockState.BREACHED, breached_under=old.key, breached_at=breached_at,
                                    why=why)
    return current
