"""A tracker held in memory: the demo's tracker, and a reference adapter for tests.

It behaves like a real one where it matters to a sync: tickets have an ``updated``
stamp set by the tracker's clock on every change, the change query is paged and
sorted by ``(updated, id)``, comments keep their text, labels other than SLA ones
survive. A *script* of future events (new tickets, customer answers, agent work)
is revealed as its clock passes them, so simulated weeks can be run through the
real sync path.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from ..actions import PostComment, SetDueDate, SetLabels
from ..hookspecs import hookimpl
from ..model import Comment, Event, LabelChange, Role, SeverityChange, StatusChange, Ticket
from .base import ChangedTicket, SkippableError, keyset_pages

if TYPE_CHECKING:
    from ..config import Config, TrackerSection
    from ..plugins import AdapterRegistry

AGENT = "sla-bridge"


class MemoryTracker:
    """The tracker itself: tickets, a clock, a script of future events, call counters."""

    def __init__(self, clock: Callable[[], datetime], tickets: Iterable[Ticket] = (), page_size: int = 100) -> None:
        self.clock = clock
        self.page_size = page_size
        self.tickets: dict[str, Ticket] = {}
        self._pending: list[tuple[datetime, int, Ticket | tuple[str, Event]]] = []
        self.reads = 0
        self.writes = 0
        for ticket in tickets:
            self.script(ticket)

    def script(self, ticket: Ticket) -> None:
        """Add a ticket whose creation and each event appear when the clock reaches them."""
        initial = replace(ticket, events=(), status=ticket.initial_status(), severity=ticket.initial_severity(),
                          labels=_initial_labels(ticket), updated=ticket.created)
        self._pending.append((ticket.created, len(self._pending), initial))
        for event in ticket.events:
            self._pending.append((event.at, len(self._pending), (ticket.id, event)))
        self._pending.sort(key=lambda item: (item[0], item[1]))

    def reveal(self) -> None:
        now = self.clock()
        while self._pending and self._pending[0][0] <= now:
            _, _, item = self._pending.pop(0)
            if isinstance(item, Ticket):
                self.tickets[item.id] = item
            else:
                ticket_id, event = item
                self.tickets[ticket_id] = _with_event(self.tickets[ticket_id], event)

    def next_event_at(self) -> datetime | None:
        """When the script next changes the tracker (None: the script is over)."""
        return self._pending[0][0] if self._pending else None

    def changed(self, since: datetime | None, offset: int) -> list[Ticket]:
        self.reveal()
        self.reads += 1
        rows = sorted((t for t in self.tickets.values() if since is None or _updated(t) >= since),
                      key=lambda t: (_updated(t), t.id))
        return rows[offset:offset + self.page_size]

    def get(self, ticket_id: str) -> Ticket:
        self.reveal()
        self.reads += 1
        try:
            return self.tickets[ticket_id]
        except KeyError:
            raise SkippableError(f"ticket {ticket_id} does not exist") from None

    def record(self, ticket_id: str, *events: Event, **fields: object) -> None:
        """A write through the API: new events and fields, stamped with the tracker's clock."""
        self.writes += 1
        ticket = self.get(ticket_id)
        self.reads -= 1  # the read above is the tracker's own, not a client's
        for event in events:
            ticket = _with_event(ticket, event)
        self.tickets[ticket_id] = replace(ticket, **fields, updated=self.clock())  # type: ignore[arg-type]


def _updated(ticket: Ticket) -> datetime:
    return ticket.updated or ticket.created


def _initial_labels(ticket: Ticket) -> frozenset[str]:
    labels = set(ticket.labels)
    for event in reversed(ticket.events):
        if isinstance(event, LabelChange):
            (labels.discard if event.added else labels.add)(event.label)
    return frozenset(labels)


def _with_event(ticket: Ticket, event: Event) -> Ticket:
    """The ticket after one event: status, severity and labels follow it."""
    fields: dict[str, object] = {}
    if isinstance(event, StatusChange):
        fields["status"] = event.to_status
    elif isinstance(event, LabelChange):
        fields["labels"] = ticket.labels | {event.label} if event.added else ticket.labels - {event.label}
    elif isinstance(event, SeverityChange):
        fields["severity"] = event.to_severity
    return replace(ticket, events=(*ticket.events, event), updated=max(event.at, _updated(ticket)),
                   **fields)  # type: ignore[arg-type]


class MemoryAdapter:
    """The adapter for a ``MemoryTracker`` (adapter type ``memory``)."""

    adapter_type = "memory"
    # In-process and instant: nothing to overlap, and the demo's story stays in order.
    concurrent = False

    def __init__(self, name: str, tracker: MemoryTracker) -> None:
        self.name = name
        self.tracker = tracker

    @classmethod
    def from_config(cls, name: str, section: "TrackerSection", config: "Config") -> "MemoryAdapter":
        """``options.tickets``: a JSON file of tickets to seed it with (relative to the config).

        The tracker lives in the process: for trying a contract on sample tickets,
        not for keeping data.
        """
        import json
        from datetime import timezone
        from pathlib import Path

        from ..errors import ConfigError
        from ..model import TicketFormatError, tickets_from_json

        unknown = set(section.options) - {"tickets"}
        if unknown:
            raise ConfigError(f"{config.path}: trackers.{name}.options.{sorted(unknown)[0]}: unknown key")
        tickets: list[Ticket] = []
        if "tickets" in section.options:
            path = config.path.parent / Path(str(section.options["tickets"]))
            try:
                tickets = tickets_from_json(json.loads(path.read_text(encoding="utf-8")), str(path))
            except (OSError, ValueError, TicketFormatError) as exc:
                raise ConfigError(f"{config.path}: trackers.{name}.options.tickets: {exc}") from None
        return cls(name, MemoryTracker(lambda: datetime.now(timezone.utc), tickets))

    def changed_since(self, cursor: datetime | None) -> Iterator[ChangedTicket]:
        return keyset_pages(self._page, cursor, self.tracker.page_size)

    def _page(self, bound: datetime | None, offset: int) -> list[ChangedTicket]:
        return [ChangedTicket(t.id, _updated(t)) for t in self.tracker.changed(bound, offset)]

    def fetch(self, ticket_id: str) -> Ticket:
        return replace(self.tracker.get(ticket_id), tracker=self.name)

    def apply_fields(self, ticket: Ticket, due: SetDueDate | None, labels: SetLabels | None) -> None:
        now = self.tracker.clock()
        fields: dict[str, object] = {}
        events: list[Event] = []
        if due is not None:
            fields.update(due_date=due.due_date, due_at=due.due_at)
        if labels is not None:
            events += [LabelChange(now, label, True, AGENT) for label in sorted(labels.add)]
            events += [LabelChange(now, label, False, AGENT) for label in sorted(labels.remove)]
        self.tracker.record(ticket.id, *events, **fields)

    def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
        self.tracker.record(ticket.id, Comment(self.tracker.clock(), AGENT, Role.AGENT, comment.public, comment.body,
                                                     own=True))

    def transition(self, ticket: Ticket, to_status: str) -> None:
        current = self.tracker.tickets[ticket.id]
        self.tracker.record(ticket.id, StatusChange(self.tracker.clock(), current.status, to_status, AGENT, Role.SYSTEM))


@hookimpl
def sla_bridge_register_adapters(registry: "AdapterRegistry") -> None:
    registry.add("memory", MemoryAdapter.from_config)
