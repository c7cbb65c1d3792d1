"""What the status page and the explain page show, gathered from the store and the engine.

Values for people, ready for the templates: instants in the calendar's zone, each
ticket with its link on the tracker and its ``explain`` page. The breached and
at-risk lists are the store's summaries of the last sync; the next reminders and
closures are computed with the pure engine from the snapshots of the tickets whose
timed change is soonest (a few hundred at most, whatever the store holds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from ..config import Config
from ..engine import Evaluation, evaluate
from ..model import Ticket
from ..sync import as_of
from ..text import local, minutes_text
from .links import ticket_url
from .metrics import last_successful
from .storeview import PassInfo, StoreView

UPCOMING_SCAN = 200  # snapshots evaluated for the next reminders and closures
UPCOMING_SHOWN = 20


@dataclass(frozen=True)
class Row:
    ticket_id: str
    title: str
    severity: str
    clocks: str
    deadline: str
    deadline_iso: str
    url: str | None
    explain: str
    contract: str = ""  # the key of the ticket's contract, when the deployment has several


@dataclass(frozen=True)
class Upcoming:
    when: str
    when_iso: str
    ticket_id: str
    title: str
    what: str
    url: str | None
    explain: str
    contract: str = ""


@dataclass
class TrackerStatus:
    name: str
    adapter: str
    last_pass: PassInfo | None
    last_complete: str
    breached: list[Row] = field(default_factory=list)
    at_risk: list[Row] = field(default_factory=list)
    upcoming: list[Upcoming] = field(default_factory=list)
    retries: list[dict[str, Any]] = field(default_factory=list)
    contracts: list[str] = field(default_factory=list)  # the contracts its tickets are under (several only)
    lease: str = ""  # the `serve` replica polling it, its lease and its last heartbeat (several replicas)


def explain_path(tracker: str, ticket_id: str) -> str:
    return f"/explain/{quote(tracker, safe='')}/{quote(ticket_id, safe='')}"


class Pages:
    def __init__(self, config: Config, view: StoreView) -> None:
        self.config = config
        self.view = view

    def _when(self, t: datetime | None) -> str:
        return local(t, self.config.calendar)

    def _contract_key(self, tracker: str, ticket: Ticket | None) -> str:
        """The key of the ticket's contract (its tracker's when unknown), or "" with one contract."""
        contracts = self.config.contracts
        if not contracts.several:
            return ""
        return (contracts.for_ticket(ticket) if ticket is not None else contracts.for_tracker(tracker)).key

    def _severity(self, severity: str, contract: str) -> str:
        """The severity as the page shows it: with several contracts, the contract it is under."""
        return f"{severity} ({contract})" if contract else severity

    def _url(self, tracker: str, ticket_id: str) -> str | None:
        section = self.config.file.trackers.get(tracker)
        return ticket_url(section.adapter, section.options, ticket_id) if section else None

    def status(self, now: datetime, last_complete: dict[str, datetime]) -> list[TrackerStatus]:
        """Per configured tracker: its last pass, breached and at-risk tickets, what comes next."""
        passes = self.view.passes()
        complete = last_successful(passes, last_complete)
        leases = self.view.leases()
        found = []
        for name, section in self.config.file.trackers.items():
            status = TrackerStatus(name, section.adapter, passes.get(name), self._when(complete.get(name)))
            if self.config.contracts.several:
                status.contracts = [c.label for c in self.config.contracts.on_tracker(name)]
            # A ticket's customer, hence its contract, is in its snapshot: read only where it can differ.
            by_customer = len(self.config.contracts.on_tracker(name)) > 1
            for flagged in self.view.flagged(name):
                clocks = ", ".join(f"{clock} {c['state'].replace('_', ' ')}"
                                   + (f" (as {c['breached_under']})" if c.get("breached_under") else "")
                                   for clock, c in flagged.flagged.items())
                contract = self._contract_key(
                    name, self.view.snapshot(name, flagged.ticket_id) if by_customer else None)
                row = Row(flagged.ticket_id, flagged.title, self._severity(flagged.severity or "?", contract), clocks,
                          self._when(flagged.deadline), flagged.deadline.isoformat() if flagged.deadline else "",
                          self._url(name, flagged.ticket_id), explain_path(name, flagged.ticket_id), contract)
                (status.breached if flagged.breached else status.at_risk).append(row)
            status.upcoming = self._upcoming(name, now)
            status.retries = [{**r, "when": self._when(r["retry_at"])} for r in self.view.retries(name)]
            lease = leases.get(name)
            if lease is not None:
                expired = lease["expires_at"] is None or lease["expires_at"] <= now
                status.lease = (f"polled by replica {lease['holder']}, lease {'expired' if expired else 'until'}"
                                f" {self._when(lease['expires_at'])}, last heartbeat {self._when(lease['heartbeat_at'])}")
            found.append(status)
        return found

    def _upcoming(self, tracker: str, now: datetime) -> list[Upcoming]:
        """The next reminders and automatic closures, soonest first (one due already is listed too)."""
        items: list[tuple[datetime, str, str, str, str]] = []
        for ticket in self.view.upcoming(tracker, UPCOMING_SCAN):
            contract = self.config.contract_for(ticket)  # its customer's, its tracker's, or the default
            evaluation = evaluate(as_of(ticket, now), contract.policy, contract.calendar, now, explain=False)
            cycle = evaluation.cycles[-1] if evaluation.cycles else None
            if cycle is None or cycle.ended_at is not None:
                continue
            count = len(cycle.reminders)
            key = self._contract_key(tracker, ticket)
            for reminder in cycle.reminders:
                if not reminder.sent and not reminder.skipped:
                    items.append((reminder.at, ticket.id, ticket.title, f"reminder {reminder.number} of {count}",
                                  key))
            if cycle.auto_close_at is not None:
                items.append((cycle.auto_close_at, ticket.id, ticket.title, "automatic closure", key))
        items.sort(key=lambda item: (item[0], item[1]))
        return [Upcoming(self._when(at), at.isoformat(), ticket_id, title,
                         what + (f" ({contract})" if contract else ""), self._url(tracker, ticket_id),
                         explain_path(tracker, ticket_id), contract)
                for at, ticket_id, title, what, contract in items[:UPCOMING_SHOWN]]

    def explain(self, tracker: str, ticket_id: str, now: datetime) -> dict[str, Any] | None:
        """One stored ticket's evaluation with its timeline, or None when the store does not know it."""
        if tracker not in self.config.file.trackers:
            return None
        ticket = self.view.snapshot(tracker, ticket_id)
        if ticket is None:
            return None
        contract = self.config.contract_for(ticket)  # its customer's, its tracker's, or the default
        evaluation = evaluate(as_of(ticket, now), contract.policy, contract.calendar, now)
        explained = self._explained(evaluation)
        if self.config.contracts.several:
            explained["severity"] = f"{explained['severity']}, contract {contract.label}"
        return {"tracker": tracker, "ticket": ticket, "url": self._url(tracker, ticket_id),
                "now": self._when(now), "contract": contract.label, **explained}

    def _explained(self, e: Evaluation) -> dict[str, Any]:
        clocks = [{"clock": clock.value, "state": c.state.value.replace("_", " "), "state_class": c.state.value,
                   "deadline": self._when(c.deadline), "remaining": minutes_text(c.remaining_minutes),
                   "why": list(c.why)} for clock, c in e.clocks.items()]
        cycles = [{"from": self._when(cycle.started_at), "by": cycle.started_by,
                   "to": self._when(cycle.ended_at) if cycle.ended_at else "now",
                   "reminders": [{"number": r.number, "at": self._when(r.at),
                                  "note": "sent" if r.sent else "collapsed into a later one" if r.skipped else ""}
                                 for r in cycle.reminders],
                   "auto_close": self._when(cycle.auto_close_at)} for cycle in e.cycles]
        return {"severity": e.severity or "?", "status": e.status, "clocks": clocks, "cycles": cycles,
                "timeline": [(self._when(at), what) for at, what in e.timeline], "warnings": list(e.warnings),
                "due": self._when(e.desired.due_at), "labels": sorted(e.desired.labels)}
