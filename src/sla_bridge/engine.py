"""The SLA engine: one ticket, one policy, one calendar, one instant -> an Evaluation.

Pure by construction: no I/O, no clock read, no tracker knowledge. The same inputs
always give the same answer, which is what lets the service sleep until
``next_change_at`` and lets ``sync --at`` answer what-if questions.

Rules (the README lists them with the clauses they come from):
- every clock starts when the ticket is created; business time only counts inside
  opening hours, so a ticket created at night starts at the next opening;
- targets follow the ticket's *current* severity, measured from the creation;
- a clock pauses while the ticket sits in a status whose role pauses it;
- a day target is converted once into business minutes from the start
  (``between(start, add_days(start, n))``), so a pause extends it by exactly the
  business time it lasted;
- late means business time past the deadline (the annex counts every delay "en
  heures et jours ouvrés durant l'ouverture du Support"): a clock is met when no
  business time elapsed between its deadline and its stop, breached only once some
  has (``overdue``: a Friday 18:00 deadline is breached just after Monday's
  opening, a reply on Wednesday 09:00 meets a Tuesday 18:00 deadline); a late stop
  leaves it breached, and so does a later change of severity: a breach is a fact;
- the time a ticket spends resolved or closed before being reopened counts as a
  pause of the resolution clock;
- a waiting cycle starts when the ticket enters a waiting-for-customer status and
  restarts at each customer answer; reminders and the auto-close follow it only
  while the ticket is still waiting.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Mapping, Sequence

from .calendar import BusinessCalendar
from .markers import markers_in
from .model import Comment, FieldChange, LabelChange, Role, SeverityChange, StatusChange, Ticket
from .text import customer_date, local, minutes_text
from .policy import (
    AcknowledgedBy, CatchUp, Clock, Duration, Policy, ResolutionKind, SeverityPolicy, StatusMap, StatusRole, Unit,
)

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


class ClockState(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"
    AT_RISK = "at_risk"
    NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class Pause:
    start: datetime
    end: datetime | None  # None: still paused
    status: str
    business_minutes: float


@dataclass(frozen=True)
class ClockEvaluation:
    clock: Clock
    state: ClockState
    target: Duration | None = None
    target_minutes: float | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    deadline: datetime | None = None
    elapsed_minutes: float = 0.0
    remaining_minutes: float | None = None
    at_risk_at: datetime | None = None
    pauses: tuple[Pause, ...] = ()
    why: tuple[str, ...] = ()
    breached_under: str | None = None  # the severity in force when it was breached, if not the current one
    breached_at: datetime | None = None  # the instant it became breached (stopped late: the deadline's breach)

    @property
    def unmet(self) -> bool:
        """Still owed to the customer: counting, paused or overdue, not stopped."""
        return self.stopped_at is None and self.state not in (ClockState.MET, ClockState.NOT_APPLICABLE)


@dataclass(frozen=True)
class Reminder:
    number: int
    at: datetime  # sent at (found on the tracker), or due at
    key: str
    skipped: bool = False  # collapsed into a later step by the catch-up policy: never sent
    sent: bool = False     # found on the tracker (catch-up "collapse" only looks)
    contract_at: datetime | None = None  # the contract's date, when the catch-up moved it


@dataclass(frozen=True)
class WaitingCycle:
    started_at: datetime
    ended_at: datetime | None
    started_by: str  # "waiting status" or "customer answer"
    reminders: tuple[Reminder, ...]
    auto_close_at: datetime | None
    closure_key: str


class CommentKind(enum.StrEnum):
    REMINDER = "reminder"
    CLOSURE = "closure"


@dataclass(frozen=True)
class DesiredComment:
    key: str
    kind: CommentKind
    due_at: datetime
    body: str
    public: bool = True


@dataclass(frozen=True)
class DesiredState:
    due_at: datetime | None
    due_date: date | None
    labels: frozenset[str]
    comments: tuple[DesiredComment, ...]
    close_key: str | None  # set when the ticket must be closed now: the closure's idempotency key

    @property
    def close(self) -> bool:
        return self.close_key is not None


@dataclass(frozen=True)
class Evaluation:
    ticket_key: str
    now: datetime
    severity: str | None
    status: str
    status_role: StatusRole | None
    entitled: bool
    in_scope: bool
    clocks: Mapping[Clock, ClockEvaluation]
    cycles: tuple[WaitingCycle, ...]
    desired: DesiredState
    next_change_at: datetime | None
    warnings: tuple[str, ...] = ()
    timeline: tuple[tuple[datetime, str], ...] = field(default=())


# --- history as segments ------------------------------------------------------------

@dataclass(frozen=True)
class _Segment:
    start: datetime
    end: datetime | None  # None: still in this status at `now`
    status: str
    role: StatusRole | None


def _status_segments(ticket: Ticket, policy: Policy, now: datetime, changes: Sequence[StatusChange],
                     complete: bool) -> list[_Segment]:
    statuses = policy.status_map(ticket.tracker)
    current = ticket.initial_status()
    segments: list[_Segment] = []
    start = ticket.created
    for change in changes:
        if change.at < start:  # an event dated before creation (clock skew) counts from creation
            current = change.to_status
            continue
        if change.to_status != current:
            segments.append(_Segment(start, change.at, current, statuses.role(current)))
            start, current = change.at, change.to_status
    if complete and changes and current != ticket.status:
        # The history missed a change (trackers prune); the ticket's own status wins,
        # dated at its last update so that the answer does not move with `now`.
        missed = min(max(ticket.updated or start, start), now)
        if missed > start:
            segments.append(_Segment(start, missed, current, statuses.role(current)))
        start, current = missed, ticket.status
    segments.append(_Segment(start, None, current, statuses.role(current)))
    return segments


def _intervals(segments: Iterable[_Segment], roles: frozenset[StatusRole]
               ) -> list[tuple[datetime, datetime | None, str]]:
    """Merge consecutive segments whose role is in `roles` into intervals."""
    merged: list[tuple[datetime, datetime | None, str]] = []
    for seg in segments:
        if seg.role not in roles:
            continue
        if merged and merged[-1][1] == seg.start:
            merged[-1] = (merged[-1][0], seg.end, merged[-1][2])
        else:
            merged.append((seg.start, seg.end, seg.status))
    return merged


# --- one clock ----------------------------------------------------------------------

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
    breached_at = breach_instant(cal, deadline) if deadline is not None else None
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
                           breached_at=breached_at if state is ClockState.BREACHED else None)


# --- the rules ----------------------------------------------------------------------

@dataclass(frozen=True)
class _History:
    """The ticket's events up to `now`, sorted by kind, computed once."""

    statuses: list[StatusChange]
    severities: list[SeverityChange]
    labels: list[LabelChange]
    comments: list[Comment]
    fields: list[FieldChange]
    complete: bool  # no event lies after `now`


def _history(ticket: Ticket, now: datetime) -> _History:
    h = _History([], [], [], [], [], True)
    for event in ticket.events:
        if event.at > now:
            object.__setattr__(h, "complete", False)
            continue
        if isinstance(event, StatusChange):
            h.statuses.append(event)
        elif isinstance(event, SeverityChange):
            h.severities.append(event)
        elif isinstance(event, LabelChange):
            h.labels.append(event)
        elif isinstance(event, FieldChange):
            h.fields.append(event)
        else:
            h.comments.append(event)
    return h


def _current_severity(ticket: Ticket, h: _History) -> str | None:
    if h.complete:
        return ticket.severity
    if h.severities:
        return h.severities[-1].to_severity
    return ticket.initial_severity()


def _labels_at(ticket: Ticket, h: _History, now: datetime) -> frozenset[str]:
    if h.complete:
        return ticket.labels
    # Undo the label events after `now`, newest first, to get the labels at `now`.
    labels = set(ticket.labels)
    for event in reversed(ticket.events):
        if event.at <= now:
            break
        if isinstance(event, LabelChange):
            (labels.discard if event.added else labels.add)(event.label)
    return frozenset(labels)


def _first_label(h: _History, wanted: frozenset[str], labels_now: frozenset[str],
                 fallback: datetime) -> datetime | None:
    folded = {w.casefold() for w in wanted}
    for event in h.labels:
        if event.added and event.label.casefold() in folded:
            return event.at
    if any(label.casefold() in folded for label in labels_now):
        return fallback  # present with no recorded history: counted from the last update
    return None


def _first_field(h: _History, wanted: frozenset[tuple[str, str]], ticket: Ticket,
                 fallback: datetime) -> datetime | None:
    """When a tracker field first took one of the `wanted` (field, value) pairs."""
    if not wanted:
        return None
    for event in h.fields:
        if event.new is not None and (event.field, event.new.casefold()) in wanted:
            return event.at
    if any((f, v.casefold()) in wanted for f, v in ticket.fields):
        return fallback  # set with no recorded history: counted from the last update
    return None


def _entitlement(ticket: Ticket, policy: Policy, labels_now: frozenset[str]) -> tuple[bool, bool]:
    """Who may open tickets and what is covered (§1.3), by the ticket's customer's rules."""
    entitlement, scope = policy.rules_for(ticket)
    return entitlement.allows(ticket), not scope.excludes(ticket, labels_now)


def _first_stop(candidates: Iterable[tuple[datetime | None, str]]) -> tuple[datetime | None, str]:
    found = [(t, why) for t, why in candidates if t is not None]
    return min(found, key=lambda c: c[0]) if found else (None, "")


def _stamp(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _cycles(ticket: Ticket, segments: list[_Segment], h: _History, policy: Policy, cal: BusinessCalendar,
            severity_reminders: Sequence[Duration], now: datetime, explain: bool = True) -> list[WaitingCycle]:
    """The waiting cycles; without `explain`, those that ended before the last one carry no
    schedule (only ``explain`` shows them: what a sync acts on is the last cycle)."""
    waiting = _intervals(segments, frozenset({StatusRole.WAITING_FOR_CUSTOMER}))
    answers = [c.at for c in h.comments if c.role is Role.CUSTOMER]
    answers += [s.at for s in h.statuses if s.by_role is Role.CUSTOMER]
    answers.sort()
    cycles: list[WaitingCycle] = []
    for n, (w_start, w_end, _status) in enumerate(waiting):
        starts = [(w_start, "waiting status")]
        starts += [(a, "customer answer") for a in answers if w_start < a and (w_end is None or a < w_end)]
        for i, (c_start, started_by) in enumerate(starts):
            c_end = starts[i + 1][0] if i + 1 < len(starts) else w_end
            if not explain and (i + 1 < len(starts) or n + 1 < len(waiting)):
                cycles.append(WaitingCycle(c_start, c_end, started_by, (), None, ""))
                continue
            stamp = _stamp(c_start)
            keys = [f"{ticket.key}/reminder/{stamp}/{k + 1}" for k in range(len(severity_reminders))]
            if c_end is None and policy.catch_up is CatchUp.COLLAPSE:
                reminders, auto_close = _caught_up(h, cal, policy, c_start, severity_reminders, keys, now)
            else:
                reminders, auto_close = _on_contract_dates(cal, policy, c_start, c_end, severity_reminders, keys)
            cycles.append(WaitingCycle(c_start, c_end, started_by, reminders, auto_close,
                                       f"{ticket.key}/closure/{stamp}"))
    return cycles


def _on_contract_dates(cal: BusinessCalendar, policy: Policy, c_start: datetime, c_end: datetime | None,
                       delays: Sequence[Duration], keys: Sequence[str]
                       ) -> tuple[tuple[Reminder, ...], datetime | None]:
    """Each reminder at the contract's business days from the cycle's start, then the auto-close."""
    instants: list[datetime] = []
    for delay in delays:
        instants.append(_after(cal, c_start, delay))
        if c_end is not None and instants[-1] >= c_end:
            break  # a cycle that ended needs its reminders only up to its end
    complete = len(instants) == len(delays) and (c_end is None or instants[-1] < c_end)
    auto_close = _after(cal, instants[-1], policy.auto_close_after) if instants and complete else None
    return tuple(Reminder(k + 1, at, keys[k]) for k, at in enumerate(instants)), auto_close


def _caught_up(h: _History, cal: BusinessCalendar, policy: Policy, c_start: datetime, delays: Sequence[Duration],
               keys: Sequence[str], now: datetime) -> tuple[tuple[Reminder, ...], datetime | None]:
    """The ongoing cycle's reminders when some came due while nobody sent them (catch_up = "collapse").

    Reminders due together and never sent become one, the latest step due; each
    later step waits its contractual gap after the reminder actually sent before
    it (found by its marker on the tracker, or planned now), and the auto-close
    waits ``auto_close_after`` after the last one actually sent: the customer
    always has the contract's time after a warning.
    """
    sent = _sent_at(h, keys, c_start)
    contract = [_after(cal, c_start, d) for d in delays]
    last_sent = max((k for k, key in enumerate(keys) if key in sent), default=-1)
    reminders: list[Reminder] = []
    base: datetime | None = None  # when the previous reminder went (or will go) out
    k = 0
    while k < len(keys):
        if keys[k] in sent:
            base = sent[keys[k]]
            reminders.append(Reminder(k + 1, base, keys[k], sent=True))
        elif k < last_sent:
            reminders.append(Reminder(k + 1, contract[k], keys[k], skipped=True))
        else:
            due = contract[k] if base is None else max(contract[k], _after(cal, base, _gap(delays, k)))
            if due <= now:
                latest = max(j for j in range(k, len(keys)) if j == k or contract[j] <= now)
                reminders += [Reminder(j + 1, contract[j], keys[j], skipped=True) for j in range(k, latest)]
                k = latest
                due = max(due, contract[k])
            reminders.append(Reminder(k + 1, due, keys[k], contract_at=contract[k]))
            base = now if due <= now else due  # sent by this pass, or planned for later
        k += 1
    auto_close = _after(cal, base, policy.auto_close_after) if base is not None else None
    return tuple(reminders), auto_close


def _gap(delays: Sequence[Duration], k: int) -> Duration:
    """The contract's spacing between step k and the one before it."""
    if k == 0:
        return delays[0]
    before, here = delays[k - 1], delays[k]
    if before.unit is here.unit and here.amount > before.amount:
        return Duration(here.amount - before.amount, here.unit)
    return here


def _sent_at(h: _History, keys: Sequence[str], since: datetime) -> dict[str, datetime]:
    """When each reminder of `keys` was posted, from the markers in sla-bridge's own comments."""
    wanted = set(keys)
    found: dict[str, datetime] = {}
    for comment in h.comments:
        if comment.at < since or not comment.own or "[sla-bridge:" not in comment.body:
            continue
        for key in markers_in(comment.body) & wanted:
            found.setdefault(key, comment.at)
    return found


def _after(cal: BusinessCalendar, start: datetime, delay: Duration) -> datetime:
    if delay.unit is Unit.DAYS:
        return cal.add_days(start, delay.amount)
    return cal.add(start, delay.amount)


def _severity_key(raw: str | None, statuses: StatusMap, policy: Policy) -> str | None:
    """The contract's severity for a tracker value (mapped, or already a key)."""
    if raw is None:
        return None
    key = statuses.severity(raw)
    if key is None and raw in policy.severities:
        key = raw
    return key


def _earlier_severities(h: _History, statuses: StatusMap, policy: Policy, current: str
                        ) -> list[tuple[SeverityPolicy, datetime]]:
    """Each other severity the ticket had, with the instant it stopped being in force."""
    earlier = []
    for change in h.severities:
        key = _severity_key(change.from_severity, statuses, policy)
        if key is not None and key != current and key in policy.severities:
            earlier.append((policy.severities[key], change.at))
    return earlier


def _not_applicable(clock: Clock, why: str) -> ClockEvaluation:
    return ClockEvaluation(clock, ClockState.NOT_APPLICABLE, why=(why,))


def evaluate(ticket: Ticket, policy: Policy, cal: BusinessCalendar, now: datetime, *,
             explain: bool = True) -> Evaluation:
    """Evaluate one ticket at `now`. Events after `now` are ignored (what-if).

    With ``explain=False`` the texts for people (each clock's ``why``, the
    timeline) are left empty: the sync does not read them, and they cost a third
    of the time.
    """
    if now.tzinfo is None:
        raise ValueError("evaluate: `now` is a naive datetime; a time zone offset is required")
    h = _history(ticket, now)
    statuses = policy.status_map(ticket.tracker)
    segments = _status_segments(ticket, policy, now, h.statuses, h.complete)
    status = segments[-1].status
    role = segments[-1].role
    labels_now = _labels_at(ticket, h, now)
    raw_severity = _current_severity(ticket, h)
    severity = _severity_key(raw_severity, statuses, policy)
    entitled, in_scope = _entitlement(ticket, policy, labels_now)
    warnings: list[str] = []
    if role is None:
        warnings.append(f"status {status!r} is not mapped to a role for tracker {ticket.tracker!r}")

    labels: set[str] = set()
    clocks: dict[Clock, ClockEvaluation] = {}
    cycles: list[WaitingCycle] = []
    if not entitled:
        labels.add(policy.labels.not_entitled)
        clocks = {c: _not_applicable(c, "reporter not entitled to support (§1.3)") for c in Clock}
    elif not in_scope:
        labels.add(policy.labels.out_of_scope)
        clocks = {c: _not_applicable(c, "out of scope of support (§1.3)") for c in Clock}
    elif severity is None or severity not in policy.severities:
        labels.add(policy.labels.unknown_severity)
        warnings.append(f"unknown severity {raw_severity!r}: no clock runs until it is mapped")
        clocks = {c: _not_applicable(c, f"unknown severity {raw_severity!r}") for c in Clock}
    else:
        sev = policy.severities[severity]
        if policy.labels.severity.get(severity):
            labels.add(policy.labels.severity[severity])
        clocks = _clocks(ticket, policy, cal, now, sev, segments, h, labels_now, explain,
                         _earlier_severities(h, statuses, policy, severity))
        if sev.resolution_kind is ResolutionKind.NEXT_MINOR_RELEASE and clocks[Clock.RESOLUTION].unmet \
                and not ticket.fix_version:
            labels.add(policy.labels.missing_fix_version)
            warnings.append("no fix version: the contract promises the fix in a future minor release")
        cycles = _cycles(ticket, segments, h, policy, cal, sev.reminders, now, explain)
    for c in clocks.values():
        if c.state is ClockState.BREACHED:
            labels.add(policy.labels.breached[c.clock])
        elif c.state is ClockState.AT_RISK:
            labels.add(policy.labels.at_risk)

    comments, close, changes = _waiting_actions(ticket, cycles, policy, cal, now, severity, role)
    deadlines = [c.deadline for c in clocks.values() if c.unmet and c.deadline is not None]
    due_at = min(deadlines) if deadlines else None
    future = [t for c in clocks.values() if c.stopped_at is None and c.state is not ClockState.PAUSED
              for t in (c.at_risk_at, breach_instant(cal, c.deadline) if c.deadline else None)
              if t is not None and t > now]
    future += changes
    return Evaluation(
        ticket_key=ticket.key, now=now, severity=severity, status=status, status_role=role,
        entitled=entitled, in_scope=in_scope, clocks=clocks, cycles=tuple(cycles),
        desired=DesiredState(due_at.astimezone(cal.zone) if due_at else None,
                             due_at.astimezone(cal.zone).date() if due_at else None,
                             frozenset(labels), tuple(comments), close),
        next_change_at=min(future) if future else None,
        warnings=tuple(warnings), timeline=_timeline(ticket, segments, h, cycles) if explain else (),
    )


def _timeline(ticket: Ticket, segments: list[_Segment], h: _History, cycles: list[WaitingCycle]
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


def _clocks(ticket: Ticket, policy: Policy, cal: BusinessCalendar, now: datetime, sev: SeverityPolicy,
            segments: list[_Segment], h: _History, labels_now: frozenset[str], explain: bool,
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
    workaround_at, workaround_why = _first_stop([
        (next((s.start for s in segments if s.role is StatusRole.WORKAROUND_DELIVERED), None),
         "workaround delivered (status)"),
        (_first_label(h, policy.workaround_labels, labels_now, fallback), "workaround delivered (label)"),
        (_first_label(h, policy.definitive_workaround_labels, labels_now, fallback), "definitive workaround"),
        (_first_field(h, policy.workaround_fields, ticket, fallback), "workaround delivered (field)"),
        (_first_field(h, policy.definitive_workaround_fields, ticket, fallback), "definitive workaround (field)"),
        (resolved_at, "resolved"),
    ])
    definitive_at, _ = _first_stop([
        (_first_label(h, policy.definitive_workaround_labels, labels_now, fallback), ""),
        (_first_field(h, policy.definitive_workaround_fields, ticket, fallback), ""),
    ])
    current_done = segments[-1].role in done_roles
    resolution_stop, resolution_why = _first_stop([
        (segments[-1].start if current_done else None, f"resolved ({segments[-1].status})"),
        (definitive_at, "workaround accepted as definitive"),
    ])
    # Earlier resolved/closed spells of a reopened ticket pause its resolution clock.
    reopened = [(s, e, f"{st} (before reopening)") for s, e, st in _intervals(segments, done_roles)
                if e is not None]

    plans = {
        Clock.ACKNOWLEDGE: (*_first_stop(ack_candidates), []),
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
                result[clock] = _not_applicable(clock, f"no {clock} target for {sev.key} (NC, §1.2)")
            continue
        pauses = _intervals(segments, policy.paused_by.get(clock, frozenset())) + extra_pauses
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


def comments_of(ticket: Ticket) -> list[Comment]:
    return [e for e in ticket.events if isinstance(e, Comment)]


def _closing_half_done(cycle: WaitingCycle, comments: list[Comment]) -> bool:
    """The cycle's closure notice is on the tracker, posted before the cycle ended, unanswered."""
    notice = next((c.at for c in comments if c.own and cycle.closure_key in markers_in(c.body)
                   and (cycle.ended_at is None or c.at <= cycle.ended_at)), None)
    return notice is not None and not any(c.role is Role.CUSTOMER and c.at >= notice for c in comments)


TITLE_LIMIT = 200  # characters of a title quoted in a reminder; the ticket id is always whole


def _short(title: str) -> str:
    """A title as quoted to the customer: one line, a 1 MB title not copied into every reminder,
    and no idempotency marker (a title quoting one would make the next reminders look sent)."""
    line = " ".join(title.split()).replace("[sla-bridge:", "[sla-bridge :")
    return line if len(line) <= TITLE_LIMIT else line[:TITLE_LIMIT - 1] + "…"


def _waiting_actions(ticket: Ticket, cycles: list[WaitingCycle], policy: Policy, cal: BusinessCalendar,
                     now: datetime, severity: str | None, role: StatusRole | None
                     ) -> tuple[list[DesiredComment], str | None, list[datetime]]:
    """Comments that should exist by now, whether to close now, and the next timed change."""
    comments: list[DesiredComment] = []
    upcoming: list[datetime] = []
    close: str | None = None
    # Only the ongoing cycle asks for comments: a reminder of a cycle that ended
    # (the customer answered, the ticket moved on) is moot, whatever happened then.
    cycle = cycles[-1] if cycles and cycles[-1].ended_at is None else None
    if cycle is None and cycles and role is StatusRole.RESOLVED and _closing_half_done(cycles[-1], comments_of(ticket)):
        # The closure notice went out and the walk to the closing status stopped on the
        # way (Waiting -> Resolved -> Closed): finishing it is still owed.
        return comments, cycles[-1].closure_key.replace("/closure/", "/close/"), upcoming
    if cycle is None or role is StatusRole.CLOSED:
        return comments, close, upcoming
    values = {"ticket": ticket.id, "title": _short(ticket.title), "reminders": str(len(cycle.reminders)),
              "severity": severity or "", "waiting_since": customer_date(cycle.started_at, cal),
              "close_on": customer_date(cycle.auto_close_at, cal) if cycle.auto_close_at else ""}
    pending: Reminder | None = None  # due, not yet on the tracker: this pass sends it
    for reminder in cycle.reminders:
        if reminder.skipped:
            continue
        if pending is not None:
            # Until it is sent, what follows is timed from the sending, an event; only a
            # later step coming due changes the answer (it replaces the pending one).
            upcoming += [r.contract_at for r in cycle.reminders[reminder.number - 1:]
                         if r.contract_at is not None and r.contract_at > now]
            return comments, close, upcoming
        if reminder.at > now:
            upcoming.append(reminder.at)
            return comments, close, upcoming
        body = policy.reminder_template.render(**values, reminder=str(reminder.number))
        comments.append(DesiredComment(reminder.key, CommentKind.REMINDER, reminder.at, body))
        if policy.catch_up is CatchUp.COLLAPSE and not reminder.sent:
            pending = reminder
    if pending is not None:
        return comments, close, upcoming  # the auto-close counts from the last reminder's sending
    at = cycle.auto_close_at
    if at is not None and at > now:
        upcoming.append(at)
    elif at is not None:
        comments.append(DesiredComment(cycle.closure_key, CommentKind.CLOSURE, at,
                                       policy.closure_template.render(**values)))
        close = cycle.closure_key.replace("/closure/", "/close/")
    return comments, close, upcoming
