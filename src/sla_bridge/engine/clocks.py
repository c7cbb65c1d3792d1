"""The three clocks (acknowledge, workaround, resolution) and the one rule for lateness.

Late means business time past the deadline (``overdue``): the annex measures every
delay in opening hours, so a Friday 18:00 deadline is breached just after Monday's
opening, not at 18:01.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
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
from .history import History, Segment, first_field, first_label, first_stop, intervals
from .results import ClockEvaluation, ClockState, Pause

EPSILON = 1e-6  # minutes: float sums of business minutes are compared with this slack


_JUST_AFTER = timedelta(microseconds=1)


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


def _run_clock(clock: Clock, cal: BusinessCalendar, policy: Policy, now: datetime, start: datetime,
               target: Duration, stop: datetime | None, stop_reason: str,
               pauses: list[tuple[datetime, datetime | None, str]], why: list[str], explain: bool
               ) -> ClockEvaluation:
    stopped = stop is not None and stop <= now
    end = stop if stop is not None and stopped else now
    if target.unit is Unit.DAYS:
        target_minutes = cal.between(start, cal.add_days(start, target.amount))
        if explain:
            why.append(f"target {target} = {minutes_text(target_minutes)} of opening hours from"
                       f" {local(cal.next_open(start), cal)}")
    else:
        target_minutes = float(target.amount)
        if explain:
            why.append(f"target {target} of opening hours")

    # Running segments: [start, end) minus the pauses; the last one stays open
    # (None) when the clock is still counting, since the deadline may lie beyond now.
    clipped: list[Pause] = []
    running: list[tuple[datetime, datetime | None]] = []
    cursor = start
    still_paused = reached_end = False
    for p_start, p_end, status in pauses:
        s = max(p_start, cursor)
        if s > end or (s == end and stopped):
            break
        e = end if p_end is None else min(p_end, end)
        beyond = p_end is None or p_end > end  # the pause is still on at `end`
        if e < s or (e == s and not beyond):
            continue
        running.append((cursor, s))
        minutes = cal.between(s, e)
        clipped.append(Pause(s, p_end, status, minutes))
        if explain:
            why.append(f"paused {local(s, cal)} -> {local(p_end, cal) if p_end else 'now'} ({status}):"
                       f" {minutes_text(minutes)} of business time not counted")
        cursor = e
        if beyond:
            still_paused, reached_end = not stopped, True
            break
    if not reached_end:
        running.append((cursor, None))

    elapsed = 0.0
    deadline: datetime | None = None
    at_risk_at: datetime | None = None
    risk_minutes = target_minutes * policy.at_risk_threshold
    for seg_start, seg_end in running:
        seg_stop = end if seg_end is None else min(seg_end, end)
        available = cal.between(seg_start, seg_stop) if seg_start < seg_stop else 0.0
        open_ended = seg_end is None
        if deadline is None and (open_ended or elapsed + available >= target_minutes - EPSILON):
            deadline = cal.add(seg_start, max(0.0, target_minutes - elapsed))
        if at_risk_at is None and (open_ended or elapsed + available >= risk_minutes - EPSILON):
            at_risk_at = cal.add(seg_start, max(0.0, risk_minutes - elapsed))
        elapsed += available

    remaining = target_minutes - elapsed
    if stop is not None and stopped:
        # Business time past the deadline, not wall time: an answer at 20:00, or
        # at the next opening, to a deadline at 18:00 is on time.
        on_time = not overdue(cal, deadline, stop) if deadline is not None else elapsed <= target_minutes + EPSILON
        state = ClockState.MET if on_time else ClockState.BREACHED
        if explain:
            why.append(f"{'met' if state is ClockState.MET else 'breached, stopped late'}: {stop_reason}"
                       f" at {local(stop, cal)}, after {minutes_text(elapsed)} of business time")
        stopped_at = stop
    else:
        stopped_at = None
        if deadline is not None and overdue(cal, deadline, now):
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
                           remaining, at_risk_at, tuple(clipped), tuple(why),
                           breached_at=breach_instant(cal, deadline)
                           if state is ClockState.BREACHED and deadline is not None else None)


def clocks_of(ticket: Ticket, policy: Policy, cal: BusinessCalendar, now: datetime, sev: SeverityPolicy,
            segments: list[Segment], h: History, labels_now: frozenset[str], explain: bool,
            earlier: Sequence[tuple[SeverityPolicy, datetime]] = ()) -> dict[Clock, ClockEvaluation]:
    start = ticket.started
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

    new_roles = frozenset({StatusRole.NEW})
    ack_candidates: list[tuple[datetime | None, str]] = []
    if AcknowledgedBy.AGENT_PUBLIC_COMMENT in policy.acknowledged_by:
        ack_candidates.append((next((c.at for c in h.comments if c.role is Role.AGENT and c.public), None),
                               "first public agent comment"))
    if AcknowledgedBy.STATUS_CHANGE in policy.acknowledged_by:
        ack_candidates.append((next((s.start for s in segments[1:] if s.role not in new_roles), None),
                               "ticket left the new statuses"))
        if segments[0].role not in new_roles and segments[0].role is not None:
            ack_candidates.append((start, "ticket created past the new statuses"))
    done_roles = frozenset({StatusRole.RESOLVED, StatusRole.CLOSED})
    resolved_at = next((s.start for s in segments if s.role in done_roles), None)
    definitive_label = (first_label(h, policy.definitive_workaround_labels, labels_now, fallback),
                        "definitive workaround")
    definitive_field = (first_field(h, policy.definitive_workaround_fields, ticket, fallback),
                        "definitive workaround (field)")
    workaround_at, workaround_why = first_stop([
        (next((s.start for s in segments if s.role is StatusRole.WORKAROUND_DELIVERED), None),
         "workaround delivered (status)"),
        (first_label(h, policy.workaround_labels, labels_now, fallback), "workaround delivered (label)"),
        definitive_label,
        (first_field(h, policy.workaround_fields, ticket, fallback), "workaround delivered (field)"),
        definitive_field,
        (resolved_at, "resolved"),
    ])
    definitive_at, _ = first_stop([definitive_label, definitive_field])
    current_done = segments[-1].role in done_roles
    resolution_stop, resolution_why = first_stop([
        (segments[-1].start if current_done else None, f"resolved ({segments[-1].status})"),
        (definitive_at, "workaround accepted as definitive"),
    ])
    # Earlier resolved/closed spells of a reopened ticket pause its resolution clock.
    reopened = [(s, e, f"{st} (before reopening)") for s, e, st in intervals(segments, done_roles)
                if e is not None]

    plans = {
        Clock.ACKNOWLEDGE: (*first_stop(ack_candidates), []),
        Clock.WORKAROUND: (workaround_at, workaround_why, []),
        Clock.RESOLUTION: (resolution_stop, resolution_why, reopened),
    }
    result: dict[Clock, ClockEvaluation] = {}
    for clock, (stop, stop_why, extra_pauses) in plans.items():
        target = sev.target(clock)
        if target is None:
            if clock is Clock.RESOLUTION and sev.resolution_kind is ResolutionKind.NEXT_MINOR_RELEASE:
                met = ticket.fix_version is not None or current_done
                result[clock] = ClockEvaluation(
                    clock, ClockState.MET if met else ClockState.RUNNING, started_at=start,
                    stopped_at=(stop or now) if met else None,
                    why=(*intro, "no time target: the fix ships in a future minor release (§1.2)",
                         f"fix version {ticket.fix_version}" if ticket.fix_version else "no fix version yet"))
            else:
                result[clock] = not_applicable(clock, f"no {clock} target for {sev.key} (NC, §1.2)")
            continue
        pauses = intervals(segments, policy.paused_by.get(clock, frozenset())) + extra_pauses
        pauses.sort(key=lambda p: p[0])
        result[clock] = _run_clock(clock, cal, policy, now, start, target, stop, stop_why, pauses, list(intro),
                                   explain)
        if result[clock].state is not ClockState.BREACHED:
            result[clock] = _earlier_breach(result[clock], cal, policy, start, stop, stop_why, pauses, earlier,
                                            explain)
    return result


def _earlier_breach(current: ClockEvaluation, cal: BusinessCalendar, policy: Policy, start: datetime,
                    stop: datetime | None, stop_why: str, pauses: list[tuple[datetime, datetime | None, str]],
                    earlier: Sequence[tuple[SeverityPolicy, datetime]], explain: bool) -> ClockEvaluation:
    """A breach under a severity in force at the time stays a breach after a downgrade.

    Otherwise editing one field would erase a missed commitment from the labels and
    the report; the clock keeps counting toward the current severity's deadline.
    """
    for old, until in earlier:
        target = old.target(current.clock)
        if target is None:
            continue
        then = _run_clock(current.clock, cal, policy, until, start, target, stop, stop_why, pauses, [], False)
        if then.state is ClockState.BREACHED:
            why = current.why
            if explain:
                why += (f"breached while the severity was {old.key} (deadline {local(then.deadline, cal)}"
                        f" if then.deadline else ''); the severity changed on {local(until, cal)}: a breach stays",)
            return replace(current, state=ClockState.BREACHED, breached_under=old.key,
                           breached_at=then.breached_at, why=why)
    return current
