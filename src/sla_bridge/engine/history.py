"""A ticket's history read for the contract: status segments, and the events up to `now`.

Every rule is a function of these, computed once per evaluation.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any, Iterable, NamedTuple, Sequence

from ..calendar import BusinessCalendar
from ..model import (
    Comment,
    Event,
    FieldChange,
    LabelChange,
    Role,
    SeverityChange,
    StatusChange,
    Ticket,
)
from ..policy import Policy, StatusRole

_CUSTOMER = Role.CUSTOMER  # read once: an enum member looked up on its class costs a lookup each time


class Segment(NamedTuple):
    start: datetime
    end: datetime | None  # None: still in this status at `now`
    status: str
    role: StatusRole | None


_new_segment = tuple.__new__  # builds a Segment without its generated __new__: one per status change


def status_segments(ticket: Ticket, policy: Policy, now: datetime, changes: Sequence[StatusChange],
                     complete: bool) -> list[Segment]:
    """The ticket's status segments up to `now`; `changes` are its status changes up to `now`
    (``History.statuses``), the first of them telling the status it was created in."""
    roles = policy.status_map(ticket.tracker).roles
    if changes:  # ``ticket.initial_status()``, without scanning the events again
        first = changes[0]
        current = first.from_status if first.from_status is not None else first.to_status
    else:
        current = ticket.initial_status()
    segments: list[Segment] = []
    append = segments.append
    start = ticket.created
    for change in changes:
        at = change.at
        if at < start:  # an event dated before creation (clock skew) counts from creation
            current = change.to_status
            continue
        if change.to_status != current:
            append(_new_segment(Segment, (start, at, current, roles.get(current.casefold()))))
            start, current = at, change.to_status
    if complete and changes and current != ticket.status:
        # The history missed a change (trackers prune); the ticket's own status wins,
        # dated at its last update so that the answer does not move with `now`.
        missed = min(max(ticket.updated or start, start), now)
        if missed > start:
            append(_new_segment(Segment, (start, missed, current, roles.get(current.casefold()))))
        start, current = missed, ticket.status
    append(_new_segment(Segment, (start, None, current, roles.get(current.casefold()))))
    return segments


Interval = tuple[datetime, "datetime | None", str]


def intervals(segments: Iterable[Segment], roles: frozenset[StatusRole]) -> list[Interval]:
    """Merge consecutive segments whose role is in `roles` into intervals."""
    merged: list[Interval] = []
    for start, end, status, role in segments:
        if role in roles:
            if merged and merged[-1][1] == start:
                merged[-1] = (merged[-1][0], end, merged[-1][2])
            else:
                merged.append((start, end, status))
    return merged


class Spans:
    """The intervals of a ticket's status segments for each set of roles asked, each merged once
    (the clocks and the waiting cycles ask for the same waiting periods)."""

    __slots__ = ("_known", "segments")

    def __init__(self, segments: list[Segment]) -> None:
        self.segments = segments
        self._known: dict[frozenset[StatusRole], list[Interval]] = {}

    def __call__(self, roles: frozenset[StatusRole]) -> list[Interval]:
        found = self._known.get(roles)
        if found is None:
            found = self._known[roles] = intervals(self.segments, roles)
        return found


@dataclass(slots=True)
class History:
    """The ticket's events up to `now`, sorted by kind, computed once."""

    statuses: list[StatusChange]
    severities: list[SeverityChange]
    labels: list[LabelChange]
    comments: list[Comment]
    fields: list[FieldChange]
    complete: bool  # no event lies after `now`

    def answers(self) -> list[datetime]:
        """When the customer answered: a customer comment, or a status change they made; sorted."""
        customer = _CUSTOMER
        found = [c.at for c in self.comments if c.role is customer]
        found += [s.at for s in self.statuses if s.by_role is customer]
        found.sort()
        return found

    def comments_since(self, since: datetime) -> list[Comment]:
        """The comments at or after `since` (they are in time order: a bisection, not a scan)."""
        return self.comments[bisect_left(self.comments, since, key=_at):]


def _at(event: Event) -> datetime:
    return event.at


def history_until(ticket: Ticket, now: datetime) -> History:
    events = ticket.events
    # Events are kept in time order (``Ticket``), so those up to `now` are a prefix:
    # all of them when the last one is (a sync, most evaluations), found without a search.
    cut = len(events) if not events or events[-1].at <= now else bisect_right(events, now, key=_at)
    statuses: list[StatusChange] = []
    severities: list[SeverityChange] = []
    labels: list[LabelChange] = []
    comments: list[Comment] = []
    fields: list[FieldChange] = []
    # One dictionary lookup per event instead of a chain of isinstance checks.
    buckets: dict[type, Any] = {StatusChange: statuses.append, SeverityChange: severities.append,
                                LabelChange: labels.append, FieldChange: fields.append, Comment: comments.append}
    try:
        for event in events[:cut] if cut < len(events) else events:
            buckets[event.__class__](event)
    except KeyError:  # a subclass of an event type
        statuses, severities, labels, comments, fields = [], [], [], [], []
        for event in events[:cut]:
            if isinstance(event, StatusChange):
                statuses.append(event)
            elif isinstance(event, SeverityChange):
                severities.append(event)
            elif isinstance(event, LabelChange):
                labels.append(event)
            elif isinstance(event, FieldChange):
                fields.append(event)
            else:
                comments.append(event)
    return History(statuses, severities, labels, comments, fields, cut == len(events))


def current_severity(ticket: Ticket, h: History) -> str | None:
    if h.complete:
        return ticket.severity
    if h.severities:
        return h.severities[-1].to_severity
    return ticket.initial_severity()


def labels_at(ticket: Ticket, h: History, now: datetime) -> frozenset[str]:
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


def first_label(h: History, folded: frozenset[str], labels_now: frozenset[str],
                 fallback: datetime) -> datetime | None:
    """When one of the `folded` (casefolded) labels was first added."""
    if not folded:
        return None
    for event in h.labels:
        if event.added and event.label.casefold() in folded:
            return event.at
    if any(label.casefold() in folded for label in labels_now):
        return fallback  # present with no recorded history: counted from the last update
    return None


def first_field(h: History, wanted: frozenset[tuple[str, str]], ticket: Ticket,
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


def first_stop(candidates: Iterable[tuple[datetime | None, str]]) -> tuple[datetime | None, str]:
    """The earliest candidate; the first listed wins a tie."""
    found = [c for c in candidates if c[0] is not None]
    if len(found) < 2:
        return found[0] if found else (None, "")
    return min(found, key=itemgetter(0))


def comments_of(ticket: Ticket) -> list[Comment]:
    return [e for e in ticket.events if isinstance(e, Comment)]


class Instants:
    """Epoch microseconds of the datetimes of one evaluation, each converted once.

    Keyed by the object's identity: the same datetime objects (an event's instant,
    a segment's start) come back for every clock, and hashing an aware datetime
    would cost as much as converting it.
    """

    __slots__ = ("_cal", "_known")

    def __init__(self, cal: BusinessCalendar) -> None:
        self._cal = cal
        # The datetime is kept beside its value so that its id cannot be reused
        # by another object while the evaluation runs.
        self._known: dict[int, tuple[datetime, int]] = {}

    def __call__(self, t: datetime) -> int:
        known = self._known.get(id(t))
        if known is not None:
            return known[1]
        us = self._cal.instant_us(t)
        self._known[id(t)] = (t, us)
        return us
