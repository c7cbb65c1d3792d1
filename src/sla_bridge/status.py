"""``sla-bridge status``: what the store knows, without asking any tracker."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from .calendar import BusinessCalendar
from .config import Config
from .text import local
from .store import Store


def collect_status(store: Store, config: Config, upcoming: int = 20) -> dict[str, Any]:
    syncs = [{"adapter": c.adapter, "cursor": c.cursor.isoformat() if c.cursor else None,
              "last_started": c.last_started.isoformat() if c.last_started else None,
              "last_finished": c.last_finished.isoformat() if c.last_finished else None,
              "complete": c.last_summary.get("complete"), "applied": c.last_summary.get("applied", {}),
              "errors": c.last_summary.get("errors", [])} for c in store.cursors()]
    at_risk, breached, nexts = [], [], []
    count = 0
    for record in store.tickets():
        count += 1
        clocks = record.evaluation.get("clocks", {})
        row = {"ticket": f"{record.adapter}:{record.ticket_id}", "title": record.snapshot.title,
               "severity": record.evaluation.get("severity"), "status": record.evaluation.get("status"),
               "due_at": record.evaluation.get("due_at"),
               "next_change_at": record.next_change_at.isoformat() if record.next_change_at else None}
        states = {name: c["state"] for name, c in clocks.items()}
        if "breached" in states.values():
            # A breach under a severity since lowered stays listed, with that severity.
            breached.append({**row, "clocks": [n + (f" (as {clocks[n]['breached_under']})"
                                                    if clocks[n].get("breached_under") else "")
                                               for n, s in states.items() if s == "breached"]})
        elif "at_risk" in states.values():
            at_risk.append({**row, "clocks": [n for n, s in states.items() if s == "at_risk"]})
        if record.next_change_at is not None:
            nexts.append(row)
    nexts.sort(key=lambda r: str(r["next_change_at"]))
    return {"store": str(store.path), "tickets": count, "syncs": syncs, "breached": breached,
            "at_risk": at_risk, "next_changes": nexts[:upcoming], "retries": store.retries()}


def _when(text: str | None, cal: BusinessCalendar) -> str:
    return local(datetime.fromisoformat(text), cal) if text else "-"


def print_status(console: Console, report: dict[str, Any], cal: BusinessCalendar) -> None:
    console.print(f"store {report['store']}: {report['tickets']} tickets")
    for s in report["syncs"]:
        state = "complete" if s["complete"] else "INCOMPLETE"
        applied = ", ".join(f"{n} {k}" for k, n in sorted(s["applied"].items())) or "no change"
        console.print(f"{s['adapter']}: last sync {_when(s['last_finished'], cal)} ({state}; {applied};"
                      f" {len(s['errors'])} errors), cursor {_when(s['cursor'], cal)}", soft_wrap=True)
    for title, rows in (("Breached", report["breached"]), ("At risk", report["at_risk"])):
        if not rows:
            console.print(f"{title}: none")
            continue
        table = Table(title=title, title_justify="left")
        for column in ("ticket", "severity", "clocks", "due", "title"):
            table.add_column(column)
        for r in rows:
            table.add_row(r["ticket"], r["severity"] or "?", ", ".join(r["clocks"]), _when(r["due_at"], cal), r["title"])
        console.print(table)
    for r in report["retries"]:
        console.print(f"[yellow]retry[/] {r['adapter']}:{r['ticket_id']} at {_when(r['retry_at'], cal)}"
                      f" (attempt {r['attempts']}): {r['error']}", soft_wrap=True)
    if report["next_changes"]:
        table = Table(title="Next timed changes", title_justify="left")
        for column in ("when", "ticket", "status", "title"):
            table.add_column(column)
        for r in report["next_changes"]:
            table.add_row(_when(r["next_change_at"], cal), r["ticket"], r["status"] or "", r["title"])
        console.print(table)
