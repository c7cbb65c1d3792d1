"""The compliance report over a period: tickets, journal and what the store saw -> ``Report``.

The inputs are plain values read from the store at the edge (``source``): each
ticket's last snapshot with its whole history, the journal of what sla-bridge sent,
and per tracker when the store first and last saw it. ``now`` is given, never read.

Coverage (a period the store never saw is said so, never shown as 100 %): a
tracker's first sync reads every ticket it holds with its whole history, so the
store knows a tracker from its earliest record (the first ticket's start, or the
first journal entry) to the end of its last pass. Figures are judged at the
earliest of the period's end, ``now`` and that last pass; a period outside that
span is ``not_seen`` (no figures), one that overlaps its edges is ``partial``.

Pure: no I/O, no clock read.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo

from ..calendar import BusinessCalendar
from ..contracts import Contracts
from ..model import Ticket
from ..policy import Clock, Policy, SeverityPolicy
from .model import (
    AwaitingRelease,
    Breach,
    ClockRow,
    ClockStats,
    Coverage,
    GroupReport,
    JournalFact,
    OutOfContract,
    Period,
    Report,
    TrackerCoverage,
    TrackerView,
    TrendBucket,
    WaitingStats,
)
from .tickets import JUST_BEFORE, TicketFacts, Window, ticket_facts

WEEKLY_UP_TO_DAYS = 92  # a trend per week up to a quarter, per month beyond


def make_period(first_day: date, last_day: date, zone: ZoneInfo) -> Period:
    """Whole local days, ``last_day`` included."""
    if last_day < first_day:
        raise ValueError(f"the period ends ({last_day}) before it starts ({first_day})")
    return Period(first_day, last_day, datetime.combine(first_day, time(0), zone),
                  datetime.combine(last_day + timedelta(days=1), time(0), zone))


def customer_of(ticket: Ticket, policy: Policy, tracker: str) -> tuple[str, str]:
    """``(name, kind)``: the tracker's customer section covering the ticket (§1.3 rules).

    The same rule as ``Policy.rules_for``: a ticket belongs to the first
    ``[trackers.<t>.customers.<name>]`` whose projects or organisations cover it. A
    tracker without customer sections is one customer (``tracker``); a ticket no
    section covers is the tracker's ``other``.
    """
    rules = policy.tracker_rules.get(ticket.tracker)
    if rules is None or not rules.customers:
        return tracker, "tracker"
    customer = rules.customer_for(ticket)
    if customer is not None:
        return customer.name, "customer"
    return f"{tracker} (other)", "other"


def customer_names(policy: Policy) -> list[str]:
    return sorted({c.name for rules in policy.tracker_rules.values() for c in rules.customers})


def _when(t: datetime, zone: ZoneInfo) -> str:
    return t.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def coverage_of(view: TrackerView, period: Period, now: datetime, zone: ZoneInfo) -> TrackerCoverage:
    def said(status: Coverage, note: str, until: datetime | None = None) -> TrackerCoverage:
        return TrackerCoverage(view.name, status, view.first_record, view.last_sync, until, note)

    if view.last_sync is None:
        return said(Coverage.NOT_SEEN, f"tracker {view.name!r} was never synced: the store holds nothing of it")
    until = min(period.end, now, view.last_sync)
    if until <= period.start:
        why = "the period has not started" if now <= period.start else \
            f"the store's last pass of {view.name!r} ended {_when(view.last_sync, zone)}, before the period"
        return said(Coverage.NOT_SEEN, why)
    if view.first_record is not None and view.first_record >= period.end:
        return said(Coverage.NOT_SEEN, f"the store's first record of {view.name!r} is"
                                       f" {_when(view.first_record, zone)}, after the period")
    notes = []
    if view.first_record is not None and view.first_record > period.start:
        notes.append(f"the store's record of {view.name!r} starts {_when(view.first_record, zone)}")
    if until < period.end:
        notes.append(f"figures stop at {_when(until, zone)}"
                     + (" (now)" if until == now else f" (the last sync of {view.name!r})"))
    if not notes:
        return said(Coverage.COMPLETE, "", until)
    return said(Coverage.PARTIAL, "; ".join(notes), until)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The `q` quantile with linear interpolation between ranks (numpy's and Excel's default)."""
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def _hours(minutes: float | None) -> float | None:
    return round(minutes / 60.0, 2) if minutes is not None else None


@dataclass
class _Group:
    name: str
    kind: str
    trackers: set[str] = field(default_factory=set)
    rows: list[ClockRow] = field(default_factory=list)
    stops: list[tuple[str, Clock, float]] = field(default_factory=list)
    reminders: Counter[int] = field(default_factory=Counter)
    auto_closed: int = 0
    cycles_started: int = 0
    restarted: int = 0
    contracts: dict[str, Policy] = field(default_factory=dict)  # the contracts its tickets were judged by

    def add(self, tracker: str, facts: TicketFacts, contract: str = "", policy: Policy | None = None) -> None:
        self.trackers.add(tracker)
        if policy is not None:
            self.contracts.setdefault(contract, policy)
        self.rows += facts.rows
        self.stops += facts.stops
        self.reminders.update(facts.reminders)
        self.auto_closed += facts.auto_closed
        self.cycles_started += facts.cycles_started
        self.restarted += facts.restarted_by_customer

    def report(self, policy: Policy, named: bool = False) -> GroupReport:
        """Its figures, per severity of the contracts its tickets were judged by (`policy`'s if none);
        `named`: the group says which contracts those were."""
        severities: dict[str, list[SeverityPolicy]] = {}
        for p in (self.contracts or {"": policy}).values():
            for key, sev in p.severities.items():
                severities.setdefault(key, []).append(sev)
        stats: list[ClockStats] = []
        for key, sevs in severities.items():
            for clock in Clock:
                targets = [str(t) for t in dict.fromkeys(s.target(clock) for s in sevs) if t is not None]
                if targets:
                    stats.append(self._stats(key, clock, " / ".join(targets)))
        every = [s for sevs in severities.values() for s in sevs]
        for clock in Clock:
            if any(s.target(clock) for s in every):
                stats.append(self._stats(None, clock, ""))
        steps = max([len(s.reminders) for s in every] + list(self.reminders) + [0])
        waiting = WaitingStats(tuple((n, self.reminders.get(n, 0)) for n in range(1, steps + 1)),
                               self.auto_closed, self.cycles_started, self.restarted)
        tickets = len({r.key for r in self.rows})
        tracker = next(iter(self.trackers)) if len(self.trackers) == 1 else None
        contract = (", ".join(sorted(self.contracts)) or None) if named else None
        return GroupReport(self.name, self.kind, tracker, tuple(stats), waiting, tickets, contract)

    def _stats(self, severity: str | None, clock: Clock, target: str) -> ClockStats:
        rows = [r for r in self.rows if r.clock is clock and (severity is None or r.severity == severity)]
        times = [m for s, c, m in self.stops if c is clock and (severity is None or s == severity)]
        return ClockStats(severity, clock, target, sum(r.state == "met" for r in rows),
                          sum(r.state == "breached" for r in rows), sum(not r.decided for r in rows), len(times),
                          _hours(percentile(times, 0.5)), _hours(percentile(times, 0.9)))


def _trend(rows: Iterable[ClockRow], period: Period, zone: ZoneInfo) -> tuple[tuple[TrendBucket, ...], str]:
    """Met and breached per week (periods up to a quarter) or per month, by the day each was decided."""
    weekly = (period.last_day - period.first_day).days < WEEKLY_UP_TO_DAYS
    bounds: list[tuple[str, date, date]] = []
    day = period.first_day
    while day <= period.last_day:
        if weekly:
            start = day - timedelta(days=day.weekday())
            nxt = start + timedelta(days=7)
            year, week, _ = start.isocalendar()
            label = f"{year}-W{week:02d}"
        else:
            start = day.replace(day=1)
            nxt = (start + timedelta(days=32)).replace(day=1)
            label = f"{start.year}-{start.month:02d}"
        bounds.append((label, max(start, period.first_day), min(nxt, period.last_day + timedelta(days=1))))
        day = nxt
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for row in rows:
        if row.decided_at is None:
            continue
        d = row.decided_at.astimezone(zone).date()
        for i, (_, start, end) in enumerate(bounds):
            if start <= d < end:
                counts[i][row.state] += 1
                break
    buckets = tuple(TrendBucket(label, start, end, counts[i]["met"], counts[i]["breached"])
                    for i, (label, start, end) in enumerate(bounds))
    return buckets, "week" if weekly else "month"


def build_report(tickets: Iterable[tuple[str, Ticket]], journal: Iterable[JournalFact],
                 trackers: Sequence[TrackerView], policy: Policy, cal: BusinessCalendar, period: Period,
                 now: datetime, *, contract: str = "", language: str = "en", tracker: str | None = None,
                 customer: str | None = None, notes: Sequence[str] = (), contracts: Contracts | None = None
                 ) -> Report:
    """The report over `period` of every stored ticket (of `tracker`, of `customer` when given).

    With `contracts`, each ticket is judged by its own contract's policy and calendar
    (`policy` and `cal` remain the report's: its customers, its period's days);
    with several, the report and each group name the contracts of their tickets.
    """
    coverage = {v.name: coverage_of(v, period, now, cal.zone) for v in trackers if tracker is None or v.name == tracker}
    entries: dict[tuple[str, str], list[tuple[str, str, datetime]]] = defaultdict(list)
    for fact in journal:
        entries[(fact.adapter, fact.ticket_id)].append((fact.key, fact.kind, fact.at))
    overall = _Group("overall", "overall")
    groups: dict[tuple[str, str], _Group] = {}
    breaches: list[Breach] = []
    outside: list[OutOfContract] = []
    awaiting: list[AwaitingRelease] = []
    unclassified: list[tuple[str, str]] = []
    warnings: list[str] = list(notes)
    for adapter, ticket in tickets:
        seen = coverage.get(adapter)
        if seen is None or seen.evaluated_until is None:
            continue
        name, kind = customer_of(ticket, policy, adapter)
        if customer is not None and name != customer:
            continue
        window = Window(period, seen.evaluated_until - JUST_BEFORE)
        judge = contracts.for_ticket(ticket) if contracts is not None else None
        own_policy, own_cal = (judge.policy, judge.calendar) if judge is not None else (policy, cal)
        key = judge.key if judge is not None else ""
        facts = ticket_facts(adapter, ticket, name, own_policy, own_cal, window,
                             entries.get((adapter, ticket.id), []))
        overall.add(adapter, facts, key, own_policy)
        groups.setdefault((kind, name), _Group(name, kind)).add(adapter, facts, key, own_policy)
        breaches += facts.breaches
        outside += [facts.out_of_contract] if facts.out_of_contract else []
        awaiting += [facts.awaiting] if facts.awaiting else []
        if facts.unclassified:
            unclassified.append((ticket.key, facts.unclassified))
    for view in trackers:
        if view.name in coverage and not view.configured:
            warnings.append(f"tracker {view.name!r} is in the store but not in the configuration: its tickets are"
                            " judged with the default [statuses] and rules")
    named = contracts is not None and contracts.several
    if contracts is not None and named:  # the report is about the contracts its tickets were judged by
        contract = "; ".join(contracts.get(key).label for key in sorted(overall.contracts)) or contract
    rows = sorted(overall.rows, key=lambda r: (r.tracker, _natural(r.ticket_id), list(Clock).index(r.clock)))
    trend, unit = _trend(rows, period, cal.zone)
    return Report(
        contract=contract, language=language, zone=cal.zone.key, period=period, generated_at=now,
        tracker_filter=tracker, customer_filter=customer,
        coverage=tuple(coverage[name] for name in sorted(coverage)),
        overall=overall.report(policy, named),
        customers=tuple(groups[k].report(policy, named)
                        for k in sorted(groups, key=lambda k: (k[0] != "customer", k[1]))),
        rows=tuple(rows),
        breaches=tuple(sorted(breaches, key=lambda b: (b.row.decided_at or period.end, b.row.key))),
        out_of_contract=tuple(sorted(outside, key=lambda o: (o.created, o.key))),
        awaiting_release=tuple(sorted(awaiting, key=lambda a: (-a.age_days, a.key))),
        trend=trend, trend_unit=unit, durations=tuple(overall.stops), unclassified=tuple(sorted(unclassified)), warnings=tuple(warnings),
    )


def _natural(ticket_id: str) -> tuple[tuple[int, int, str], ...]:
    """``DEMO-10`` after ``DEMO-9``."""
    parts = re.split(r"(\d+)", ticket_id)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p)
