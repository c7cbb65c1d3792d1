"""Render evaluations for people (rich tables, timelines) and for machines (JSON).

Text that comes from a tracker or a configuration (keys, titles, statuses, labels, names,
the engine's explanations quoting them) is escaped before rich sees it: a ``[...]`` in it
is printed, never read as markup. Every instant in JSON has one form (``text.iso``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .calendar import BusinessCalendar
from .contracts import Contract, Contracts, Placement
from .engine import ClockEvaluation, ClockState, Evaluation
from .policy import Clock, Policy
from .text import iso, local, minutes_text

STATE_STYLE = {
    ClockState.MET: "green", ClockState.RUNNING: "cyan", ClockState.PAUSED: "yellow",
    ClockState.AT_RISK: "bold yellow", ClockState.BREACHED: "bold red", ClockState.NOT_APPLICABLE: "dim",
}


def clock_to_json(c: ClockEvaluation, cal: BusinessCalendar) -> dict[str, Any]:
    def _iso(t: datetime | None) -> str | None:
        return iso(t, cal)

    return {
        "state": c.state.value,
        "target": str(c.target) if c.target else None,
        "target_minutes": c.target_minutes,
        "started_at": _iso(c.started_at),
        "stopped_at": _iso(c.stopped_at),
        "deadline": _iso(c.deadline),
        "at_risk_at": _iso(c.at_risk_at),
        "elapsed_minutes": round(c.elapsed_minutes, 3),
        "remaining_minutes": round(c.remaining_minutes, 3) if c.remaining_minutes is not None else None,
        "pauses": [{"start": _iso(p.start), "end": _iso(p.end), "status": p.status,
                    "business_minutes": round(p.business_minutes, 3)} for p in c.pauses],
        "why": list(c.why),
        "breached_at": _iso(c.breached_at),
        "breached_under": c.breached_under,
    }


def evaluation_to_json(e: Evaluation, cal: BusinessCalendar) -> dict[str, Any]:
    """An evaluation for machines; every instant as ``text.iso`` writes it (the calendar's zone)."""
    def _iso(t: datetime | None) -> str | None:
        return iso(t, cal)

    return {
        "ticket": e.ticket_key,
        "now": _iso(e.now),
        "severity": e.severity,
        "status": e.status,
        "status_role": e.status_role.value if e.status_role else None,
        "entitled": e.entitled,
        "in_scope": e.in_scope,
        "clocks": {clock.value: clock_to_json(c, cal) for clock, c in e.clocks.items()},
        "waiting_cycles": [{
            "started_at": _iso(cy.started_at), "ended_at": _iso(cy.ended_at), "started_by": cy.started_by,
            "reminders": [{"number": r.number, "at": _iso(r.at), "key": r.key, "sent": r.sent,
                           "skipped": r.skipped} for r in cy.reminders],
            "auto_close_at": _iso(cy.auto_close_at), "closure_key": cy.closure_key,
        } for cy in e.cycles],
        "desired": {
            "due_at": _iso(e.desired.due_at),
            "due_date": e.desired.due_date.isoformat() if e.desired.due_date else None,
            "labels": sorted(e.desired.labels),
            "comments": [{"key": c.key, "kind": c.kind.value, "due_at": _iso(c.due_at), "public": c.public,
                          "body": c.body} for c in e.desired.comments],
            "close": e.desired.close,
        },
        "next_change_at": _iso(e.next_change_at),
        "warnings": list(e.warnings),
    }


def contract_to_json(contract: Contract) -> dict[str, str]:
    """The contract that judged a ticket: its key in the configuration and its title."""
    return {"key": contract.key, "name": contract.name}


def print_evaluations(console: Console, judged: Iterable[tuple[Evaluation, Contract]], several: bool = False) -> None:
    """Each evaluation with the contract that made it (named when the configuration has several)."""
    for e, contract in judged:
        cal = contract.calendar
        title = escape(f"{e.ticket_key}  severity={e.severity or '?'}  status={e.status}"
                       f" ({e.status_role.value if e.status_role else 'unmapped'})"
                       + (f"  contract={contract.key}" if several else ""))
        table = Table(title=title, title_justify="left", show_lines=False)
        for column in ("clock", "state", "target", "deadline", "elapsed", "remaining"):
            table.add_column(column)
        for clock, c in e.clocks.items():
            style = STATE_STYLE[c.state]
            table.add_row(clock.value, f"[{style}]{c.state.value}[/]", str(c.target) if c.target else "-",
                          local(c.deadline, cal), minutes_text(c.elapsed_minutes if c.target else None),
                          minutes_text(c.remaining_minutes))
        console.print(table)
        if e.cycles and e.cycles[-1].ended_at is None:
            cycle = e.cycles[-1]
            reminders = ", ".join(f"#{r.number} {local(r.at, cal)}" for r in cycle.reminders)
            console.print(f"  waiting since {local(cycle.started_at, cal)} ({escape(str(cycle.started_by))}):"
                          f" reminders {reminders}; auto-close {local(cycle.auto_close_at, cal)}")
        d = e.desired
        console.print(f"  due {local(d.due_at, cal)}; labels {escape(', '.join(sorted(d.labels))) or '-'};"
                      f" comments due {len(d.comments)}; close now: {'yes' if d.close else 'no'};"
                      f" next change {local(e.next_change_at, cal)}")
        for warning in e.warnings:
            console.print(f"  [yellow]warning:[/] {escape(warning)}")
        console.print()


def print_explanation(console: Console, e: Evaluation, cal: BusinessCalendar,
                      contract: Contract | None = None) -> None:
    console.print(f"[bold]{escape(e.ticket_key)}[/] at {local(e.now, cal)} - severity {escape(e.severity or '?')},"
                  f" status {escape(e.status)}")
    if contract is not None:
        console.print(f"contract {escape(contract.label)}")
        console.print(f"calendar: {escape(contract.calendar_text or str(cal.zone))}")
    console.print("[bold]Timeline[/]")
    for at, what in e.timeline:
        console.print(f"  {local(at, cal)}  {escape(what)}")
    for clock, c in e.clocks.items():
        console.print(f"[bold]{clock.value}[/]: [{STATE_STYLE[c.state]}]{c.state.value}[/]")
        for line in c.why:
            console.print(f"  - {escape(line)}")
    for cycle in e.cycles:
        console.print(f"[bold]waiting cycle[/] from {local(cycle.started_at, cal)} ({escape(str(cycle.started_by))})"
                      f" to {local(cycle.ended_at, cal) if cycle.ended_at else 'now'}")
        for r in cycle.reminders:
            note = " (sent)" if r.sent else " (collapsed into a later one: not sent)" if r.skipped else ""
            console.print(f"  - reminder {r.number} at {local(r.at, cal)}{note}")
        console.print(f"  - auto-close at {local(cycle.auto_close_at, cal)}")
    for warning in e.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")


def print_policy(console: Console, policy: Policy, calendar_text: str, name: str, trackers: bool = True) -> None:
    """One contract's effective policy; `trackers`: with each tracker's and customer's entitlement."""
    table = Table(title=f"{escape(name)} - effective policy", title_justify="left")
    for column in ("severity", "acknowledge", "workaround", "resolution", "reminders"):
        table.add_column(column)
    for key, s in policy.severities.items():
        resolution = str(s.resolution) if s.resolution else s.resolution_kind.value
        table.add_row(escape(f"{key} ({s.name})"), str(s.target(Clock.ACKNOWLEDGE) or "NC"),
                      str(s.target(Clock.WORKAROUND) or "NC"), resolution,
                      " / ".join(str(r) for r in s.reminders) + f", close +{policy.auto_close_after}")
    console.print(table)
    console.print(f"calendar: {escape(calendar_text)}")
    paused = "; ".join(f"{clock}: {', '.join(sorted(r.value for r in roles)) or '-'}"
                       for clock, roles in policy.paused_by.items())
    console.print(f"paused by: {paused}")
    console.print(f"acknowledged by: {', '.join(sorted(a.value for a in policy.acknowledged_by))};"
                  f" at risk from {policy.at_risk_threshold:.0%} of a target")
    console.print(f"entitled: {escape(_who(policy.entitlement.reporters))}")
    for tracker, rules in policy.tracker_rules.items() if trackers else ():
        parts = [f"{tracker}: {_who(rules.entitlement.reporters)}"]
        parts += [f"customer {c.name}: {_who(c.entitlement.reporters)}" for c in rules.customers]
        console.print("  " + escape("; ".join(parts)))
    console.print(f"catch-up of reminders nobody sent: {policy.catch_up.value}")
    console.print(escape(f"SLA labels (prefix {policy.labels.prefix!r}): {', '.join(sorted(policy.labels.all()))}"))


def _who(patterns: Iterable[Any]) -> str:
    return ", ".join(str(p) for p in patterns) or "everyone"


def policy_to_json(policy: Policy, calendar_text: str, name: str) -> dict[str, Any]:
    """The effective policy, for ``check-config --json``."""
    return {
        "contract": name,
        "calendar": calendar_text,
        "severities": {key: {"name": s.name, "acknowledge": str(s.acknowledge) if s.acknowledge else None,
                             "workaround": str(s.workaround) if s.workaround else None,
                             "resolution": str(s.resolution) if s.resolution else s.resolution_kind.value,
                             "reminders": [str(r) for r in s.reminders]} for key, s in policy.severities.items()},
        "auto_close_after": str(policy.auto_close_after),
        "catch_up": policy.catch_up.value,
        "entitlement": [str(p) for p in policy.entitlement.reporters],
        "trackers": {name: {"entitlement": [str(p) for p in rules.entitlement.reporters],
                            "customers": {c.name: [str(p) for p in c.entitlement.reporters] for c in rules.customers}}
                     for name, rules in policy.tracker_rules.items()},
        "labels": sorted(policy.labels.all()),
    }


def placement_to_json(p: Placement) -> dict[str, Any]:
    return {"tracker": p.tracker, "customer": p.customer, "projects": list(p.projects),
            "organisations": list(p.organisations), "contract": p.contract, "key": p.key or None}


def print_placements(console: Console, contracts: Contracts) -> None:
    """Which contract applies where (``check-config``): per tracker, then per customer of it."""
    if not contracts.placements:
        return
    if not contracts.several:
        console.print(f"contract: {escape(contracts.default.label)} on every tracker")
        return
    table = Table(title="Contracts by tracker and customer (a customer's contract wins over its tracker's)",
                  title_justify="left")
    for column in ("tracker", "customer", "tickets", "contract", "set by"):
        table.add_column(column)
    for p in contracts.placements:
        table.add_row(escape(p.tracker), escape(p.customer or "-"), escape(p.selects()),
                      escape(contracts.get(p.contract).label), escape(p.key or "(default)"))
    console.print(table)


def print_checks(console: Console, reports: Iterable[Any]) -> None:
    """One table per tracker: what the config needs, found or missing."""
    for report in reports:
        table = Table(title=escape(f"tracker {report.name} ({report.adapter})"), title_justify="left")
        for column in ("", "what", "name", "found / missing"):
            table.add_column(column)
        for c in report.checks:
            mark = ("[yellow]unverified[/]" if c.detail.startswith("not verified") else "[green]ok[/]") if c.ok \
                else "[bold red]missing[/]"
            table.add_row(mark, escape(c.subject), escape(c.name), escape(c.detail))
        console.print(table)
