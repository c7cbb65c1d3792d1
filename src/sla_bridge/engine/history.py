"""A ticket's history read for the contract: status segments, and the events up to `now`.

Every rule is a function of these, computed once per evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

from ..model import (
    Comment,
    FieldChange,
    LabelChange,
    SeverityChange,
    StatusChange,
    Ticket,
)
from ..policy import Policy, StatusRole


@dataclass(frozen=True)
class Segment:
    start: datetime
    end: datetime | None  # None: still in this status at `now`
    status: str
    role: StatusRole | None


def status_segments(ticket: Ticket, policy: Policy, now: datetime, changes: Sequence[StatusChange],
                     complete: bool) -> list[Segment]:
    statuses = policy.status_map(ticket.tracker)
    current = ticket.initial_status()
    segments: list[Segment] = []
    start = ticket.created
    for change in changes:
        if change.at < start:  # an event dated before creation (clock skew) counts from creation
            current = change.to_status
            continue
        if change.to_status != current:
            segments.append(Segment(start, change.at, current, statuses.role(current)))
            start, current = change.at, change.to_status
    if complete and changes and current != ticket.status:
        # The history missed a change (trackers prune); the ticket's own status wins,
        # dated at its last update so that the answer does not move with `now`.
        missed = min(max(ticket.updated or start, start), now)
        if missed > start:
            segments.append(Segment(start, missed, current, statuses.role(current)))
        start, current = missed, ticket.status
    segments.append(Segment(start, None, current, statuses.role(current)))
    return segments


def intervals(segments: Iterable[Segment], roles: frozenset[StatusRole]
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


@dataclass(frozen=True)
class History:
    """The ticket's events up to `now`, sorted by kind, computed once."""

    statuses: list[StatusChange]
    severities: list[SeverityChange]
    labels: list[LabelChange]
    comments: list[Comment]
    fields: list[FieldChange]
    complete: bool  # no event lies after `now`


def history_until(ticket: Ticket, now: datetime) -> History:
    h = History([], [], [], [], [], True)
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
    found = [(t, why) for t, why in candidates if t is not None]
    return min(found, key=lambda c: c[0]) if found else (None, "")


def comments_of(ticket: Ticket) -> list[Comment]:
    return [e for e in ticket.events if isinstance(e, Comment)]
