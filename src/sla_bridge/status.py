"""``sla-bridge status``: what the store knows, without asking any tracker.

It doubles as a monitoring check: ``ok`` is false (and the command exits 1) when the
last pass of a tracker failed, i.e. its recorded summary holds errors or says the
pass did not complete. Lists are sorted by deadline as instants (never as text: two
offsets, ``+01:00`` and ``+02:00``, do not sort as text), filtered, and cut to a limit
whose cut is said. Tracker text is escaped before rich sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .calendar import BusinessCalendar
from .config import Config
from .store import CursorRecord, Store, TicketRecord
from .text import iso, iso_text, local, plural, writes_text

FAR = datetime.max  # sorts rows without a deadline last


@dataclass(frozen=True)
class StatusFilter:
    """Which tickets ``status`` lists. Empty sets keep everything; ``limit`` None or 0: no limit."""

    trackers: frozenset[str] = field(default_factory=frozenset)
    states: frozenset[str] = field(default_factory=frozenset)      # clock states: a ticket with one of them
    severities: frozenset[str] = field(default_factory=frozenset)
    limit: int | None = 20

    def keeps(self, record: TicketRecord) -> bool:
        evaluation = record.evaluation
        states = {c.get("state") for c in evaluation.get("clocks", {}).values()}
        return ((not self.trackers or record.adapter in self.trackers)
                and (not self.severities or evaluation.get("severity") in self.severities)
                and (not self.states or bool(states & self.states)))

    def cut(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return rows[:self.limit] if self.limit else rows


def pass_failed(summary: dict[str, Any]) -> bool:
    """A recorded pass failed when it holds errors or did not complete (none recorded: nothing to judge)."""
    return bool(summary) and (bool(summary.get("errors")) or summary.get("complete") is False)


def _sync_row(c: CursorRecord, cal: BusinessCalendar) -> dict[str, Any]:
    s = c.last_summary
    return {"tracker": c.adapter, "adapter": c.adapter, "cursor": iso(c.cursor, cal),
            "last_started": iso(c.last_started, cal), "last_finished": iso(c.last_finished, cal),
            "complete": s.get("complete"), "applied": s.get("applied", {}), "errors": s.get("errors", []),
            "failed": pass_failed(s)}


def _deadline(record: TicketRecord, states: Iterable[str]) -> datetime | None:
    """The earliest deadline among the clocks in `states` (else the due date's instant)."""
    clocks = record.evaluation.get("clocks", {})
    found = [datetime.fromisoformat(c["deadline"]) for c in clocks.values()
             if c.get("state") in states and c.get("deadline")]
    due = record.evaluation.get("due_at")
    return min(found) if found else datetime.fromisoformat(due) if due else None


def _by(when: datetime | None, ticket: str) -> tuple[datetime, str]:
    """Sort key: the instant (as UTC), then the ticket; no deadline last."""
    return (when.astimezone(timezone.utc).replace(tzinfo=None) if when is not None else FAR, ticket)


def collect_status(store: Store, config: Config, filters: StatusFilter = StatusFilter()) -> dict[str, Any]:
    """The report ``status`` prints, and its ``--json``."""
    cal = config.calendar
    syncs = [_sync_row(c, cal) for c in store.cursors() if not filters.trackers or c.adapter in filters.trackers]
    lists: dict[str, list[tuple[tuple[datetime, str], dict[str, Any]]]] = {"breached": [], "at_risk": [],
                                                                            "next_changes": []}
    count = 0
    for record in store.tickets():
        if filters.trackers and record.adapter not in filters.trackers:
            continue
        count += 1
        if not filters.keeps(record):
            continue
        clocks = record.evaluation.get("clocks", {})
        ticket = f"{record.adapter}:{record.ticket_id}"
        row = {"ticket": ticket, "contract": config.contract_for(record.snapshot).key,
               "title": record.snapshot.title, "severity": record.evaluation.get("severity"),
               "status": record.evaluation.get("status"), "due_at": iso_text(record.evaluation.get("due_at"), cal),
               "next_change_at": iso(record.next_change_at, cal)}
        states = {name: c.get("state") for name, c in clocks.items()}
        # Breached and at risk are listed independently: a ticket whose acknowledgement was
        # missed can still be about to miss its workaround too.
        if "breached" in states.values():
            deadline = _deadline(record, ["breached"])
            # A breach under a severity since lowered stays listed, with that severity.
            lists["breached"].append((_by(deadline, ticket), {**row, "deadline": iso(deadline, cal), "clocks": [
                n + (f" (as {clocks[n]['breached_under']})" if clocks[n].get("breached_under") else "")
                for n, s in states.items() if s == "breached"]}))
        if "at_risk" in states.values():
            deadline = _deadline(record, ["at_risk"])
            lists["at_risk"].append((_by(deadline, ticket), {**row, "deadline": iso(deadline, cal),
                                                             "clocks": [n for n, s in states.items() if s == "at_risk"]}))
        if record.next_change_at is not None:
            lists["next_changes"].append((_by(record.next_change_at, ticket), row))
    ordered = {name: [row for _, row in sorted(rows, key=lambda item: item[0])] for name, rows in lists.items()}
    retries = [{**r, "retry_at": iso_text(r["retry_at"], cal)} for r in store.retries()
               if not filters.trackers or r["adapter"] in filters.trackers]
    now = datetime.now(timezone.utc)
    replicas = [{**r, "heartbeat_at": iso_text(r["heartbeat_at"], cal), "expires_at": iso_text(r["expires_at"], cal)}
                for r in store.replicas(now)]
    # PostgreSQL: a pass's tickets still on the shared work list, and how many are in a replica's hands.
    work = [w for w in store.work() if not filters.trackers or w["adapter"] in filters.trackers]
    return {"store": str(store.path), "ok": not any(s["failed"] for s in syncs), "tickets": count,
            "replicas": replicas, "work": work,
            "contracts": {key: c.name for key, c in config.contracts.all.items()},
            "filters": {"trackers": sorted(filters.trackers), "states": sorted(filters.states),
                        "severities": sorted(filters.severities), "limit": filters.limit or None},
            "counts": {name: len(rows) for name, rows in ordered.items()} | {"retries": len(retries)},
            "syncs": syncs, **{name: filters.cut(rows) for name, rows in ordered.items()},
            "retries": filters.cut(retries)}


def _when(text: str | None, cal: BusinessCalendar) -> str:
    return local(datetime.fromisoformat(text), cal) if text else "-"


def _more(console: Console, report: dict[str, Any], name: str) -> None:
    hidden = report["counts"][name] - len(report[name])
    if hidden > 0:
        console.print(f"  ... and {hidden} more (--limit)")


def print_status(console: Console, report: dict[str, Any], cal: BusinessCalendar) -> None:
    """The report for people; with several contracts, each ticket's is named (instants: `cal`'s zone)."""
    several = len(report.get("contracts", {})) > 1
    console.print(f"store {escape(report['store'])}: {plural(report['tickets'], 'ticket')}")
    for s in report["syncs"]:
        if s["last_finished"] is None:
            console.print(f"{escape(s['tracker'])}: no sync finished yet")
            continue
        state = "[bold red]FAILED[/]" if s["failed"] else "ok"
        detail = "complete" if s["complete"] else "incomplete"
        applied = writes_text(s["applied"])
        console.print(f"{escape(s['tracker'])}: last sync {_when(s['last_finished'], cal)} {state} ({detail};"
                      f" {escape(applied)}; {plural(len(s['errors']), 'error')}), cursor {_when(s['cursor'], cal)}")
        for error in s["errors"][:3]:
            console.print(f"  error: {escape(error)}")
        if len(s["errors"]) > 3:
            console.print(f"  ... and {len(s['errors']) - 3} more errors (--json lists them all)")
    for r in report.get("replicas", []):
        leases = ", ".join(r["leases"]) or "no tracker"
        state = "alive" if r["alive"] else "[yellow]silent[/]"
        console.print(f"replica {escape(r['holder'])}: {state}, last heartbeat {_when(r['heartbeat_at'], cal)},"
                      f" polls {escape(leases)}")
    for w in report.get("work", []):
        console.print(f"{escape(w['adapter'])}: {plural(w['tickets'], 'ticket')} on the work list,"
                      f" {w['claimed']} in a replica's hands")
    for name, title in (("breached", "Breached"), ("at_risk", "At risk")):
        rows = report[name]
        if not rows:
            console.print(f"{title}: none")
            continue
        table = Table(title=f"{title} ({report['counts'][name]})", title_justify="left")
        for column in ("ticket", *(["contract"] if several else []), "severity", "clocks", "deadline", "title"):
            table.add_column(column)
        for r in rows:
            table.add_row(escape(r["ticket"]), *([escape(r["contract"])] if several else []),
                          escape(r["severity"] or "?"), escape(", ".join(r["clocks"])),
                          _when(r["deadline"], cal), escape(r["title"] or ""))
        console.print(table)
        _more(console, report, name)
    for r in report["retries"]:
        console.print(f"[yellow]retry[/] {escape(r['adapter'])}:{escape(r['ticket_id'])} at"
                      f" {_when(r['retry_at'], cal)} (attempt {r['attempts']}): {escape(r['error'])}")
    _more(console, report, "retries")
    if report["next_changes"]:
        table = Table(title="Next timed changes", title_justify="left")
        for column in ("when", "ticket", *(["contract"] if several else []), "status", "title"):
            table.add_column(column)
        for r in report["next_changes"]:
            table.add_row(_when(r["next_change_at"], cal), escape(r["ticket"]),
                          *([escape(r["contract"])] if several else []), escape(r["status"] or ""),
                          escape(r["title"] or ""))
        console.print(table)
        _more(console, report, "next_changes")
    if not report["ok"]:
        failed = ", ".join(s["tracker"] for s in report["syncs"] if s["failed"])
        console.print(f"[bold red]the last pass failed on {escape(failed)}[/]")
