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
from .history import History, Interval, Segment, Spans, first_field, first_label
from .results import ClockEvaluation, ClockState, Pause
from .running import EPSILON, US_PER_MINUTE, Meter, Walk

__all__ = ["EPSILON", "breach_instant", "clocks_of", "not_applicable", "overdue"]

_JUST_AFTER = timedelta(microseconds=1)
_NEW_ROLES = frozenset({StatusRole.NEW})
_DONE_ROLES = frozenset({StatusRole.RESOLVED, StatusRole.CLOSED})
# Members read in the hot paths: an enum's class attribute costs a lookup each time.
_WORKAROUND_DELIVERED = StatusRole.WORKAROUND_DELIVERED
_DONE_ORDER = (StatusRole.RESOLVED, StatusRole.CLOSED)
_ACKNOWLEDGE, _WORKAROUND, _RESOLUTION = Clock.ACKNOWLEDGE, Clock.WORKAROUND, Clock.RESOLUTION
_MET, _BREACHED, _PAUSED, _AT_RISK, _RUNNING = (ClockState.MET, ClockState.BREACHED, ClockState.PAUSED,
                                                ClockState.AT_RISK, ClockState.RUNNING)
_DAYS = Unit.DAYS
_AGENT = Role.AGENT
_NO_ROLES: frozenset[StatusRole] = frozenset()


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


# Builds a ClockEvaluation without its generated __new__ (every field given, in order):
# the engine makes two or three a ticket.
_new_evaluation = tuple.__new__


class _PolicyFacts:
    """What the clocks read of a policy, in the form they read it, found once per policy
    (a sync evaluates every ticket under the same one)."""

    __slots__ = ("ack_by_comment", "ack_by_status", "paused", "policy")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy  # kept so that the cache's key (its id) cannot be reused
        self.ack_by_comment = AcknowledgedBy.AGENT_PUBLIC_COMMENT in policy.acknowledged_by
        self.ack_by_status = AcknowledgedBy.STATUS_CHANGE in policy.acknowledged_by
        self.paused = tuple(policy.paused_by.get(clock, _NO_ROLES)
                            for clock in (_ACKNOWLEDGE, _WORKAROUND, _RESOLUTION))


_FACTS: dict[int, _PolicyFacts] = {}


def _facts(policy: Policy) -> _PolicyFacts:
    facts = _FACTS.get(id(policy))
    if facts is None or facts.policy is not policy:
        if len(_FACTS) >= 64:  # policies come and go with reloads: keep the cache small
            _FACTS.clear()
        facts = _FACTS[id(policy)] = _PolicyFacts(policy)
    return facts


class _Clocks:
    """What the clocks of one evaluation share: the calendar, the start, the positions of instants."""

    __slots__ = ("_targets", "at", "cal", "meter", "policy", "start", "start_at")

    def __init__(self, cal: BusinessCalendar, policy: Policy, start: datetime) -> None:
        self.cal, self.policy, self.start = cal, policy, start
        self.meter = Meter(cal, start)
        self.at = self.meter.at
        self.start_at = 0  # the start is the meter's origin
        self._targets: dict[int, float] = {}

    def target_minutes(self, target: Duration) -> float:
        """A target in business minutes; a day target is converted once, from the start (§1.2)."""
        if target.unit is not _DAYS:
            return float(target.amount)
        minutes = self._targets.get(target.amount)
        if minutes is None:
            ruler = self.meter.ruler
            end = self.cal.add_days_us(ruler.anchor, target.amount)
            minutes = self._targets[target.amount] = ruler.position(end) / US_PER_MINUTE
        return minutes

    def overdue(self, deadline: datetime, deadline_at: int, t: datetime) -> bool:
        """``overdue``, for a deadline at position `deadline_at`."""
        return t > deadline and self.at(t) - deadline_at > 0

    def breach_instant(self, deadline: datetime, deadline_us: int) -> datetime:
        """``breach_instant``, on a deadline already converted."""
        opening = self.cal.next_open_us(deadline_us)
        # next_open gives the deadline itself (in the calendar's zone) when open.
        return (deadline.astimezone(self.cal.zone) if opening == deadline_us
                else self.cal.datetime_at(opening)) + _JUST_AFTER


def _target(sev: SeverityPolicy, clock: Clock) -> Duration | None:
    """``sev.target(clock)`` without building a mapping for each question."""
    if clock is _ACKNOWLEDGE:
        return sev.acknowledge
    return sev.workaround if clock is _WORKAROUND else sev.resolution


def _run_clock(c: _Clocks, clock: Clock, now: datetime, target: Duration, stop: datetime | None, stop_reason: str,
               walk: Walk | None, why: list[str], explain: bool) -> tuple[ClockEvaluation, int]:
    """The clock at `now`, and its deadline's microseconds. No walk: nothing pauses it."""
    cal, start = c.cal, c.start
    stopped = stop is not None and stop <= now
    end = stop if stop is not None and stopped else now
    target_minutes = c.target_minutes(target) if target.unit is _DAYS else float(target.amount)
    if explain:
        if target.unit is _DAYS:
            why.append(f"target {target} = {minutes_text(target_minutes)} of opening hours from"
                       f" {local(cal.next_open(start), cal)}")
        else:
            why.append(f"target {target} of opening hours")

    end_at = c.at(end)
    resume: datetime | None
    pauses: tuple[Pause, ...] = ()
    at_risk_minutes = target_minutes * c.policy.at_risk_threshold
    deadline: datetime | None
    at_risk_at: datetime | None
    if walk is None:  # counted from the start, straight
        steps, resume = 0, start
        elapsed = end_at / US_PER_MINUTE if start < end else 0.0
        add = c.meter.add
        deadline, deadline_us, deadline_at = add(start, 0, target_minutes)
        at_risk_at = add(start, 0, at_risk_minutes)[0]
    else:
        steps, resume, resume_at, elapsed = walk.run(end, end_at, stopped)
        pauses = walk.pauses_until(steps, end_at, resume)
        if explain:
            for pause in pauses:
                why.append(f"paused {local(pause.start, cal)} -> {local(pause.end, cal) if pause.end else 'now'}"
                           f" ({pause.status}): {minutes_text(pause.business_minutes)} of business time not counted")
        deadline, deadline_us, deadline_at = walk.deadline(steps, resume, resume_at, target_minutes)
        at_risk_at = walk.deadline(steps, resume, resume_at, at_risk_minutes)[0]
    still_paused = resume is None and not stopped

    remaining = target_minutes - elapsed
    if stop is not None and stopped:
        # Business time past the deadline, not wall time: an answer at 20:00, or
        # at the next opening, to a deadline at 18:00 is on time.
        on_time = not (stop > deadline and end_at - deadline_at > 0) if deadline is not None \
            else elapsed <= target_minutes + EPSILON
        state = _MET if on_time else _BREACHED
        if explain:
            why.append(f"{'met' if state is _MET else 'breached, stopped late'}: {stop_reason}"
                       f" at {local(stop, cal)}, after {minutes_text(elapsed)} of business time")
        stopped_at: datetime | None = stop
    else:
        stopped_at = None
        if deadline is not None and now > deadline and end_at - deadline_at > 0:
            state = _BREACHED
        elif still_paused:
            state = _PAUSED
        elif at_risk_at is not None and at_risk_at <= now:
            state = _AT_RISK
        else:
            state = _RUNNING
    if explain and deadline is not None:
        skipped = cal.holidays_between(start.astimezone(cal.zone).date(), deadline.astimezone(cal.zone).date())
        for day, name in skipped:
            why.append(f"not counted: {day.isoformat()} ({name})")
        why.append(f"deadline {local(deadline, cal)}" + (" - breached" if state is _BREACHED
                                                        and stopped_at is None else ""))
    elif explain and still_paused:
        why.append(f"deadline unknown while paused; {minutes_text(remaining)} left")
    return _new_evaluation(ClockEvaluation, (
        clock, state, target, target_minutes, start, stopped_at, deadline, elapsed, remaining, at_risk_at, pauses,
        tuple(why), None, c.breach_instant(deadline, deadline_us) if state is _BREACHED and deadline is not None
        else None)), deadline_us


def _breached_then(c: _Clocks, until: datetime, target: Duration, stop: datetime | None, walk: Walk
                   ) -> tuple[bool, datetime | None, datetime | None]:
    """Whether the clock was breached at `until` under `target`: (breached, its deadline, when it was breached).

    The same rule as ``_run_clock``, reduced to what a breach needs.
    """
    stopped = stop is not None and stop <= until
    end = stop if stop is not None and stopped else until
    steps, resume, resume_at, elapsed = walk.run(end, c.at(end), stopped)
    target_minutes = c.target_minutes(target)
    deadline, deadline_us, deadline_at = walk.deadline(steps, resume, resume_at, target_minutes)
    if stop is not None and stopped:
        breached = c.overdue(deadline, deadline_at, stop) if deadline is not None \
            else elapsed > target_minutes + EPSILON
    else:
        breached = deadline is not None and c.overdue(deadline, deadline_at, until)
    breached_at = c.breach_instant(deadline, deadline_us) if breached and deadline is not None else None
    return breached, deadline, breached_at


def _sooner(best: tuple[datetime | None, str], at: datetime | None, why: str) -> tuple[datetime | None, str]:
    """``first_stop`` one candidate at a time: the earlier one; the one already kept wins a tie."""
    if at is not None and (best[0] is None or at < best[0]):
        return at, why
    return best


def clocks_of(ticket: Ticket, policy: Policy, cal: BusinessCalendar, now: datetime, sev: SeverityPolicy,
            segments: list[Segment], h: History, labels_now: frozenset[str], explain: bool,
            earlier: Sequence[tuple[SeverityPolicy, datetime]] = (), spans: Spans | None = None
            ) -> tuple[dict[Clock, ClockEvaluation], list[datetime]]:
    """Each clock at `now`, and the future instants at which one of them changes with no new event
    (it becomes at risk, or breached)."""
    start = ticket.started
    ctx = _Clocks(cal, policy, start)
    facts = _facts(policy)
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
    # Searched in the list of roles (by ``list.index``, in C) rather than segment by segment.
    roles_seen = [seg.role for seg in segments]
    first_segment = segments[0]
    left_new = None
    for seg in segments[1:]:  # a loop rather than next() on a generator: half the cost
        if seg.role not in _NEW_ROLES:
            left_new = seg.start
            break
    done = [roles_seen.index(role) for role in _DONE_ORDER if role in roles_seen]
    resolved_at = segments[min(done)].start if done else None
    delivered_at = segments[roles_seen.index(_WORKAROUND_DELIVERED)].start \
        if _WORKAROUND_DELIVERED in roles_seen else None
    # The earliest candidate stops a clock, the first listed winning a tie (``first_stop``),
    # compared as they come rather than gathered in lists. A stop is looked for only when
    # its clock has a target, now or under an earlier severity (a Mineure has no workaround).
    ack: tuple[datetime | None, str] = (None, "")
    if sev.acknowledge is not None or earlier:
        if facts.ack_by_comment:
            for comment in h.comments:
                if comment.role is _AGENT and comment.public:
                    ack = (comment.at, "first public agent comment")
                    break
        if facts.ack_by_status:
            if left_new is not None and (ack[0] is None or left_new < ack[0]):
                ack = (left_new, "ticket left the new statuses")
            if first_segment.role not in _NEW_ROLES and first_segment.role is not None:
                ack = _sooner(ack, start, "ticket created past the new statuses")
    # Most policies and tickets have no label or field to look for: no call then.
    any_labels = bool(h.labels or labels_now)
    definitive_label = first_label(h, policy.definitive_workaround_labels, labels_now, fallback) \
        if any_labels and policy.definitive_workaround_labels else None
    definitive_field = first_field(h, policy.definitive_workaround_fields, ticket, fallback) \
        if policy.definitive_workaround_fields else None
    workaround: tuple[datetime | None, str] = (None, "")
    if sev.workaround is not None or earlier:
        workaround = (delivered_at, "workaround delivered (status)")
        if any_labels and policy.workaround_labels:
            workaround = _sooner(workaround, first_label(h, policy.workaround_labels, labels_now, fallback),
                                 "workaround delivered (label)")
        workaround = _sooner(workaround, definitive_label, "definitive workaround")
        if policy.workaround_fields:
            workaround = _sooner(workaround, first_field(h, policy.workaround_fields, ticket, fallback),
                                 "workaround delivered (field)")
        workaround = _sooner(workaround, definitive_field, "definitive workaround (field)")
        workaround = _sooner(workaround, resolved_at, "resolved")
    definitive_at = definitive_label if definitive_field is None \
        else _sooner((definitive_label, ""), definitive_field, "")[0]
    current_done = segments[-1].role in _DONE_ROLES
    resolution: tuple[datetime | None, str] = (None, "")
    if current_done:
        # Resolved, then closed: the resolution is when the ticket entered its last done spell,
        # not the closure weeks later (the time spent resolved is not resolution time).
        last_done = len(segments) - 1
        while last_done > 0 and segments[last_done - 1].role in _DONE_ROLES:
            last_done -= 1
        resolution = (segments[last_done].start, f"resolved ({segments[last_done].status})")
    if definitive_at is not None:
        resolution = _sooner(resolution, definitive_at, "workaround accepted as definitive")
    # Earlier resolved/closed spells of a reopened ticket pause its resolution clock (when it
    # has a target to count toward).
    reopened: list[Interval] = [(s, e, f"{st} (before reopening)") for s, e, st in spans(_DONE_ROLES)
                                if e is not None] \
        if resolved_at is not None and (sev.resolution is not None or earlier) else []

    plans: tuple[tuple[Clock, Duration | None, tuple[datetime | None, str], list[Interval]], ...] = (
        (_ACKNOWLEDGE, sev.acknowledge, ack, []),
        (_WORKAROUND, sev.workaround, workaround, []),
        (_RESOLUTION, sev.resolution, resolution, reopened),
    )
    # The clocks paused by the same statuses share one walk through the pauses; a clock
    # that nothing pauses needs none (``_run_clock`` counts it straight).
    walks: dict[frozenset[StatusRole], Walk | None] = {}
    walk: Walk | None
    result: dict[Clock, ClockEvaluation] = {}
    changes: list[datetime] = []
    for (clock, target, (stop, stop_why), extra_pauses), roles in zip(plans, facts.paused):
        if target is None:
            if clock is _RESOLUTION and sev.resolution_kind is ResolutionKind.NEXT_MINOR_RELEASE:
                met = ticket.fix_version is not None or current_done
                result[clock] = _new_evaluation(ClockEvaluation, (
                    clock, _MET if met else _RUNNING, None, None, start, (stop or now) if met else None, None, 0.0,
                    None, None, (), (*intro, "no time target: the fix ships in a future minor release (§1.2)",
                                     f"fix version {ticket.fix_version}" if ticket.fix_version
                                     else "no fix version yet"), None, None))
            else:
                result[clock] = _no_target(clock, sev.key)
            if earlier:
                # No target now, but one under a severity in force before: its breach stays.
                walk = Walk(ctx.meter, start, sorted(spans(roles) + extra_pauses, key=lambda p: p[0]))
                result[clock] = _earlier_breach(ctx, result[clock], stop, walk, earlier, explain)
            continue
        if extra_pauses:
            walk = Walk(ctx.meter, start, sorted(spans(roles) + extra_pauses, key=lambda p: p[0]))
        elif roles in walks:
            walk = walks[roles]
        else:
            paused = spans(roles)
            walk = walks[roles] = Walk(ctx.meter, start, paused) if paused else None
        evaluation, deadline_us = _run_clock(ctx, clock, now, target, stop, stop_why, walk, list(intro), explain)
        if earlier and evaluation.state is not _BREACHED:
            evaluation = _earlier_breach(ctx, evaluation, stop, walk or Walk(ctx.meter, start, []), earlier, explain)
        result[clock] = evaluation
        if evaluation.stopped_at is None and evaluation.state is not _PAUSED:
            risk, deadline = evaluation.at_risk_at, evaluation.deadline
            if risk is not None and risk > now:
                changes.append(risk)
                if deadline is not None and risk <= deadline:
                    continue  # its breach, after its deadline, cannot be the next change
            if deadline is not None:
                # Breached here (not under an earlier severity): its breach is already known.
                breach = evaluation.breached_at if evaluation.breached_at is not None \
                    and evaluation.breached_under is None else ctx.breach_instant(deadline, deadline_us)
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
