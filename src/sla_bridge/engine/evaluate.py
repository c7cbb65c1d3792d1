"""``evaluate(ticket, policy, calendar, now)``: the rules put together for one ticket."""

from __future__ import annotations

from datetime import datetime

from ..calendar import BusinessCalendar
from ..model import Ticket
from ..policy import Clock, Policy, ResolutionKind, SeverityPolicy, StatusMap
from .clocks import clocks_of, not_applicable
from .history import (
    History,
    Segment,
    Spans,
    current_severity,
    history_until,
    labels_at,
    status_segments,
)
from .results import ClockEvaluation, ClockState, DesiredState, Evaluation, WaitingCycle
from .waiting import cycles_of, waiting_actions

# Members read in the hot path: an enum's class attribute costs a lookup each time.
_BREACHED, _AT_RISK = ClockState.BREACHED, ClockState.AT_RISK
_SETTLED = frozenset({ClockState.MET, ClockState.NOT_APPLICABLE})  # ``ClockEvaluation.unmet``
_NEXT_MINOR_RELEASE = ResolutionKind.NEXT_MINOR_RELEASE
_RESOLUTION = Clock.RESOLUTION
_new = tuple.__new__


def _entitlement(ticket: Ticket, policy: Policy, labels_now: frozenset[str]) -> tuple[bool, bool]:
    """Who may open tickets and what is covered (§1.3), by the ticket's customer's rules."""
    entitlement, scope = policy.rules_for(ticket)
    return entitlement.allows(ticket), not scope.excludes(ticket, labels_now)


def _severity_key(raw: str | None, statuses: StatusMap, policy: Policy) -> str | None:
    """The contract's severity for a tracker value (mapped, or already a key)."""
    if raw is None:
        return None
    key = statuses.severity(raw)
    if key is None and raw in policy.severities:
        key = raw
    return key


def _earlier_severities(h: History, statuses: StatusMap, policy: Policy, current: str
                        ) -> list[tuple[SeverityPolicy, datetime]]:
    """Each other severity the ticket had, with the instant it stopped being in force."""
    earlier = []
    for change in h.severities:
        key = _severity_key(change.from_severity, statuses, policy)
        if key is not None and key != current and key in policy.severities:
            earlier.append((policy.severities[key], change.at))
    return earlier


def evaluate(ticket: Ticket, policy: Policy, cal: BusinessCalendar, now: datetime, *,
             explain: bool = True) -> Evaluation:
    """Evaluate one ticket at `now`. Events after `now` are ignored (what-if).

    With ``explain=False`` the texts for people (each clock's ``why``, the
    timeline) are left empty, and waiting cycles other than the ongoing one carry
    no schedule: the sync does not read them, and they cost nearly half of the time. All
    else is the same answer (tests/test_engine_fast_path.py holds them to it).
    """
    if now.tzinfo is None:
        raise ValueError("evaluate: `now` is a naive datetime; a time zone offset is required")
    h = history_until(ticket, now)
    statuses = policy.status_map(ticket.tracker)
    segments = status_segments(ticket, policy, now, h.statuses, h.complete)
    status = segments[-1].status
    role = segments[-1].role
    labels_now = labels_at(ticket, h, now)
    raw_severity = current_severity(ticket, h)
    severity = _severity_key(raw_severity, statuses, policy)
    entitled, in_scope = _entitlement(ticket, policy, labels_now)
    warnings: list[str] = []
    if role is None:
        warnings.append(f"status {status!r} is not mapped to a role for tracker {ticket.tracker!r}")

    labels: set[str] = set()
    clocks: dict[Clock, ClockEvaluation] = {}
    future: list[datetime] = []  # when the answer changes with no new event
    cycles: list[WaitingCycle] = []
    if not entitled:
        labels.add(policy.labels.not_entitled)
        clocks = {c: not_applicable(c, "reporter not entitled to support (§1.3)") for c in Clock}
    elif not in_scope:
        labels.add(policy.labels.out_of_scope)
        clocks = {c: not_applicable(c, "out of scope of support (§1.3)") for c in Clock}
    elif severity is None or severity not in policy.severities:
        labels.add(policy.labels.unknown_severity)
        warnings.append(f"unknown severity {raw_severity!r}: no clock runs until it is mapped")
        clocks = {c: not_applicable(c, f"unknown severity {raw_severity!r}") for c in Clock}
    else:
        sev = policy.severities[severity]
        severity_label = policy.labels.severity.get(severity)
        if severity_label:
            labels.add(severity_label)
        spans = Spans(segments)  # the waiting periods, merged once for the clocks and the cycles
        clocks, future = clocks_of(ticket, policy, cal, now, sev, segments, h, labels_now, explain,
                                   _earlier_severities(h, statuses, policy, severity) if h.severities else (),
                                   spans)
        if sev.resolution_kind is _NEXT_MINOR_RELEASE and clocks[_RESOLUTION].unmet and not ticket.fix_version:
            labels.add(policy.labels.missing_fix_version)
            warnings.append("no fix version: the contract promises the fix in a future minor release")
        cycles = cycles_of(ticket, segments, h, policy, cal, sev.reminders, now, explain, spans=spans)
    due_at: datetime | None = None
    for c in clocks.values():
        state = c.state
        if state is _BREACHED:
            labels.add(policy.labels.breached[c.clock])
        elif state is _AT_RISK:
            labels.add(policy.labels.at_risk)
        # ``unmet``, read in place: the earliest deadline still owed (the first one on a tie)
        if c.stopped_at is None and state not in _SETTLED and c.deadline is not None \
                and (due_at is None or c.deadline < due_at):
            due_at = c.deadline

    comments, close, changes = waiting_actions(ticket, cycles, policy, cal, now, severity, role)
    future += changes
    due_local = due_at.astimezone(cal.zone) if due_at else None
    # Built without their generated __new__, every field given: one of each per ticket.
    return _new(Evaluation, (
        ticket.key, now, severity, status, role, entitled, in_scope, clocks, tuple(cycles),
        _new(DesiredState, (due_local, due_local.date() if due_local else None,
                            frozenset(labels), tuple(comments), close)),
        min(future) if future else None,
        tuple(warnings), _timeline(ticket, segments, h, cycles) if explain else (),
    ))


def _timeline(ticket: Ticket, segments: list[Segment], h: History, cycles: list[WaitingCycle]
              ) -> tuple[tuple[datetime, str], ...]:
    """What happened, in order, for a person reading ``explain``."""
    timeline = [(ticket.created, f"created in status {segments[0].status!r} by {ticket.reporter or 'unknown'}")]
    timeline += [(seg.start, f"status -> {seg.status!r}" + (f" ({seg.role})" if seg.role else ""))
                 for seg in segments[1:]]
    timeline += [(sc.at, f"severity {sc.from_severity!r} -> {sc.to_severity!r}") for sc in h.severities]
    timeline += [(c.at, f"{'public' if c.public else 'internal'} comment by {c.author or '?'} ({c.role})")
                 for c in h.comments]
    timeline += [(lc.at, f"label {'+' if lc.added else '-'}{lc.label}") for lc in h.labels]
    timeline += [(cycle.started_at, f"waiting cycle starts ({cycle.started_by})") for cycle in cycles]
    return tuple(sorted(timeline, key=lambda item: item[0]))
