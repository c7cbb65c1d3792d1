"""One ticket's contribution to a compliance report, recomputed with the pure engine.

Nothing here reads a label, a due date or the evaluation the sync stored: the
engine judges the ticket's history again, at the instants that matter, so a report
on a past period gives the same numbers whenever it is run.

When a clock counts. A clock is counted in the period in which its outcome was
*reached*:

- met: when it stopped in time (acknowledged, worked around, resolved);
- breached: when it became breached, the first instant business time ran past its
  deadline (or the instant of the event, a raised severity, that made it late),
  whether or not it stopped later. A ticket resolved late in April after breaching
  in March is one breach, in March.

The outcome is the engine's answer *at that instant*, and the first one a clock
reached is kept: a severity changed after a clock stopped does not rewrite it, a
severity lowered after a breach does not erase it, and a ticket reopened after its
resolution keeps the outcome of that first resolution. So a report on a past period
reads the same whenever it is run, and consecutive periods add up to the whole.
Clocks still undecided at the end of the period (running, paused, at risk) are
listed apart, out of the percentage.

Pure: no I/O, no clock read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..calendar import BusinessCalendar
from ..engine import ClockEvaluation, ClockState, Evaluation, evaluate
from ..identity import Person
from ..markers import markers_in
from ..model import Comment, SeverityChange, StatusChange, Ticket
from ..policy import Clock, Policy, ResolutionKind, StatusRole
from .model import AwaitingRelease, Breach, ClockRow, OutOfContract, Period

JUST_BEFORE = timedelta(microseconds=1)
DECIDED = frozenset({ClockState.MET, ClockState.BREACHED})
DONE_ROLES = frozenset({StatusRole.RESOLVED, StatusRole.CLOSED})
_REMINDER = re.compile(r"/reminder/[^/]+/(\d+)$")
_CLOSE = re.compile(r"/close/([^/]+)$")
_CLOSURE = re.compile(r"/closure/([^/]+)$")


@dataclass(frozen=True)
class Window:
    """The part of the period judged for one tracker: ``[period.start, cutoff]``."""

    period: Period
    cutoff: datetime  # the last instant judged: just before the period's end, now, or the last sync

    def holds(self, t: datetime | None) -> bool:
        return t is not None and self.period.start <= t <= self.cutoff


@dataclass
class TicketFacts:
    """What one ticket adds to the report."""

    rows: list[ClockRow] = field(default_factory=list)
    stops: list[tuple[str, Clock, float]] = field(default_factory=list)  # (severity, clock, business minutes)
    breaches: list[Breach] = field(default_factory=list)
    out_of_contract: OutOfContract | None = None
    awaiting: AwaitingRelease | None = None
    reminders: list[int] = field(default_factory=list)  # the step of each reminder sent in the period
    auto_closed: int = 0
    cycles_started: int = 0
    restarted_by_customer: int = 0
    unclassified: str | None = None


class _Judge:
    """``evaluate`` of one ticket at any instant, each instant computed once."""

    def __init__(self, ticket: Ticket, policy: Policy, cal: BusinessCalendar) -> None:
        self.ticket, self.policy, self.cal = ticket, policy, cal
        self._seen: dict[tuple[datetime, bool], Evaluation] = {}

    def __call__(self, t: datetime, explain: bool = False) -> Evaluation:
        found = self._seen.get((t, explain))
        if found is None:
            found = evaluate(self.ticket, self.policy, self.cal, t, explain=explain)
            self._seen[(t, explain)] = found
        return found


def reporter_text(person: Person | None) -> str:
    """Who opened a ticket, for a person reading the report: the name and a stable identity."""
    if person is None:
        return "unknown"
    stable = person.login or person.email or (f"id {person.id}" if person.id else None)
    if person.name and stable and stable != person.name:
        return f"{person.name} ({stable})"
    return person.name or stable or "unknown"


def ticket_facts(tracker: str, ticket: Ticket, customer: str, policy: Policy, cal: BusinessCalendar,
                 window: Window, journal: list[tuple[str, str, datetime]]) -> TicketFacts:
    """The report's view of `ticket` over `window`; `journal` holds its ``(key, kind, at)`` entries."""
    facts = TicketFacts()
    if ticket.started > window.cutoff:
        return facts
    judge = _Judge(ticket, policy, cal)
    end = judge(window.cutoff)
    if not end.entitled or not end.in_scope:
        if window.holds(ticket.created):
            facts.out_of_contract = OutOfContract(tracker, ticket.id, ticket.title, customer,
                                                  reporter_text(ticket.reporter), ticket.created,
                                                  "not_entitled" if not end.entitled else "out_of_scope")
        return facts
    _waiting(ticket, end, policy, window, journal, facts)
    if end.severity is None or end.severity not in policy.severities:
        if window.holds(ticket.created) or end.status_role not in DONE_ROLES:
            facts.unclassified = f"unknown severity {ticket.severity!r}"
        return facts
    points = _checkpoints(ticket, policy, window.cutoff)
    for clock in Clock:
        _clock(tracker, ticket, customer, clock, judge, end, window, facts, points)
    return facts


def _checkpoints(ticket: Ticket, policy: Policy, cutoff: datetime) -> list[datetime]:
    """The instants just before each event that can take an outcome back, and `cutoff`.

    A clock's outcome, once reached, stays until the severity changes (a lowered one
    may have no target) or the ticket leaves a resolved or closed status (reopened,
    or moved on to closed: the engine dates the resolution at the current spell).
    """
    roles = policy.status_map(ticket.tracker)
    points = {cutoff}
    for e in ticket.events:
        if ticket.started < e.at <= cutoff and (
                isinstance(e, SeverityChange)
                or (isinstance(e, StatusChange) and roles.role(e.from_status) in DONE_ROLES)):
            points.add(e.at - JUST_BEFORE)
    return sorted(points)


def _clock(tracker: str, ticket: Ticket, customer: str, clock: Clock, judge: _Judge, end: Evaluation,
           window: Window, facts: TicketFacts, points: list[datetime]) -> None:
    policy, cal = judge.policy, judge.cal
    c = end.clocks[clock]
    assert end.severity is not None
    sev = policy.severities[end.severity]
    if clock is Clock.RESOLUTION and sev.resolution_kind is ResolutionKind.NEXT_MINOR_RELEASE \
            and end.status_role not in DONE_ROLES:
        zone = cal.zone
        age = (window.cutoff.astimezone(zone).date() - ticket.created.astimezone(zone).date()).days
        facts.awaiting = AwaitingRelease(tracker, ticket.id, ticket.title, customer, end.severity,
                                         ticket.created, age, end.status, ticket.fix_version)
    stop = _first_stop(judge, clock, points)
    if stop is not None and window.holds(stop[0].stopped_at):
        facts.stops.append((stop[1].severity or end.severity, clock, stop[0].elapsed_minutes))
    decision = _first_outcome(judge, ticket, clock, points)
    if decision is None:
        if c.state is not ClockState.NOT_APPLICABLE and c.target is not None:
            facts.rows.append(ClockRow(tracker, ticket.id, ticket.title, customer, end.severity, clock,
                                       str(c.target), c.state.value, c.started_at, c.deadline, None, None,
                                       c.elapsed_minutes, None, c.remaining_minutes))
        return
    decided_at, verdict, judged = decision
    if not window.holds(decided_at):
        return  # decided before the period: counted in an earlier one
    stopped = stop[0] if stop is not None else None
    severity = verdict.breached_under or judged.severity or end.severity
    target = policy.severities.get(severity, sev).target(clock) or verdict.target
    breached = verdict.state is ClockState.BREACHED
    late = None
    stopped_at = stopped.stopped_at if stopped is not None else None
    if breached:
        since = verdict.breached_at or verdict.deadline
        late = max(0.0, cal.between(since, stopped_at or window.cutoff)) if since is not None else None
    row = ClockRow(tracker, ticket.id, ticket.title, customer, severity, clock, str(target), verdict.state.value,
                   verdict.started_at, verdict.deadline, stopped_at, decided_at,
                   (stopped or c).elapsed_minutes, late, None, verdict.breached_under)
    facts.rows.append(row)
    if breached:
        shown = judge(stopped_at or window.cutoff, explain=True)
        if shown.clocks[clock].state is not ClockState.BREACHED:
            shown = judge(decided_at, explain=True)
        own = (f"label +{policy.labels.prefix}", f"label -{policy.labels.prefix}")
        timeline = tuple((at, what) for at, what in shown.timeline if not what.startswith(own))
        facts.breaches.append(Breach(row, stopped_at is None, timeline, shown.clocks[clock].why))


def _first_stop(judge: _Judge, clock: Clock, points: list[datetime]) -> tuple[ClockEvaluation, Evaluation] | None:
    """The clock as it first stopped (acknowledged, worked around, resolved), if it did."""
    for point in points:
        judged = judge(point)
        verdict = judged.clocks[clock]
        if verdict.stopped_at is not None and verdict.target is not None:
            return verdict, judged
    return None


def _first_outcome(judge: _Judge, ticket: Ticket, clock: Clock, points: list[datetime]
                   ) -> tuple[datetime, ClockEvaluation, Evaluation] | None:
    """The first outcome the clock reached: when, and the engine's answer then."""
    for point in points:
        verdict = judge(point).clocks[clock]
        if verdict.state in DECIDED and verdict.target is not None:
            return _decision(judge, ticket, clock, verdict, point)
    return None


def _decision(judge: _Judge, ticket: Ticket, clock: Clock, c: ClockEvaluation, until: datetime
              ) -> tuple[datetime, ClockEvaluation, Evaluation]:
    """When the outcome of a clock decided at `until` became final, and the engine's answer then.

    The first candidate is the breach instant (breached) or the stop (met); when the
    engine did not yet say so then (a severity raised later made the clock late),
    each later event of the ticket is tried, up to `until`.
    """
    first = c.breached_at if c.state is ClockState.BREACHED and c.breached_at else c.stopped_at
    first = min(first, until) if first is not None else until
    candidates = sorted({first, until, *(e.at for e in ticket.events if first < e.at <= until)})
    floor: datetime | None = None  # the last candidate at which the clock was still undecided
    for t in candidates:
        judged = judge(t)
        verdict = judged.clocks[clock]
        if verdict.state in DECIDED and verdict.target is not None:
            return _breached_since(judge, clock, t, verdict, judged, floor)
        floor = t
    judged = judge(until)  # not reached: the clock is decided at `until`
    return until, judged.clocks[clock], judged


def _breached_since(judge: _Judge, clock: Clock, t: datetime, verdict: ClockEvaluation, judged: Evaluation,
                    floor: datetime | None) -> tuple[datetime, ClockEvaluation, Evaluation]:
    """Back to the instant a breach found at `t` was reached, while the engine says so then too
    (the severity in force then may have had an earlier deadline, or none passed yet)."""
    while verdict.state is ClockState.BREACHED and verdict.breached_at is not None and verdict.breached_at < t \
            and (floor is None or verdict.breached_at > floor):
        earlier = judge(verdict.breached_at)
        then = earlier.clocks[clock]
        if then.state not in DECIDED or then.target is None:
            break
        t, verdict, judged = verdict.breached_at, then, earlier
    return t, verdict, judged


def _waiting(ticket: Ticket, end: Evaluation, policy: Policy, window: Window,
             journal: list[tuple[str, str, datetime]], facts: TicketFacts) -> None:
    """Reminders sent, automatic closures, waiting cycles (§1.4.2) in the period.

    What sla-bridge sent is read from its markers in its own comments on the
    tracker (dated by the tracker) and from its journal (a comment a person deleted
    since is still counted), each key once.
    """
    sent: dict[str, datetime] = {}
    closures: dict[str, datetime] = {}
    roles = policy.status_map(ticket.tracker)
    notices: list[tuple[str, datetime]] = []
    for event in ticket.events:
        if isinstance(event, Comment) and event.own and "[sla-bridge:" in event.body:
            for key in markers_in(event.body):
                if _REMINDER.search(key):
                    sent.setdefault(key, event.at)
                elif (m := _CLOSURE.search(key)) is not None:
                    notices.append((m.group(1), event.at))
        elif isinstance(event, StatusChange) and roles.role(event.to_status) is StatusRole.CLOSED:
            # the closure notice, then the move to the closing status: an automatic closure
            for stamp, at in notices:
                closures.setdefault(stamp, event.at)
            notices = []
    for key, kind, at in journal:
        if kind == "comment" and _REMINDER.search(key):
            sent.setdefault(key, at)
        elif kind == "transition" and (m := _CLOSE.search(key)) is not None:
            closures.setdefault(m.group(1), at)
    for key, at in sent.items():
        if window.holds(at):
            m = _REMINDER.search(key)
            assert m is not None
            facts.reminders.append(int(m.group(1)))
    facts.auto_closed = sum(1 for at in closures.values() if window.holds(at))
    for cycle in end.cycles:
        if window.holds(cycle.started_at):
            facts.cycles_started += 1
            facts.restarted_by_customer += cycle.started_by == "customer answer"
