"""Read what the report needs from the state store: the edge where the I/O happens.

The store holds each ticket's last snapshot with its whole history, the journal of
what sla-bridge sent, and per tracker the end of its last pass. This module turns
them into the plain values ``compute.build_report`` takes, and nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..config import Config
from ..model import Ticket
from ..store import Store
from .model import JournalFact, TrackerView


@dataclass(frozen=True)
class StoreView:
    tickets: list[tuple[str, Ticket]]
    journal: list[JournalFact]
    trackers: list[TrackerView]
    warnings: list[str]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def read_store(store: Store, config: Config, tracker: str | None = None) -> StoreView:
    """Every stored ticket (of `tracker`), the journal, and what the store saw of each tracker."""
    tickets = [(r.adapter, r.snapshot) for r in store.tickets(tracker)]
    journal = [JournalFact(e["key"], e["adapter"], e["ticket_id"], e["kind"], _instant(e["applied_at"]),
                           e.get("detail", "")) for e in store.journal_entries(tracker)]
    first: dict[str, datetime] = {}
    for adapter, ticket in tickets:
        first[adapter] = min(first.get(adapter, ticket.started), ticket.started)
    for fact in journal:
        first[fact.adapter] = min(first.get(fact.adapter, fact.at), fact.at)
    cursors = {c.adapter: c for c in store.cursors()}
    names = set(config.file.trackers) | set(cursors) | set(first)
    if tracker is not None:
        names &= {tracker}
    views: list[TrackerView] = []
    warnings: list[str] = []
    for name in sorted(names):
        cursor = cursors.get(name)
        last = cursor.last_finished if cursor else None
        views.append(TrackerView(name, name in config.file.trackers, last, first.get(name)))
        if cursor is not None and cursor.last_summary and not cursor.last_summary.get("complete", True):
            warnings.append(f"the last pass of {name!r} did not complete: tickets it did not reach may be"
                            " out of date (run `sla-bridge sync` again)")
    return StoreView(tickets, journal, views, warnings)
