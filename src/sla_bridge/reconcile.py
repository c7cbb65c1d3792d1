"""Reconciliation: desired state vs what the tracker shows vs what we last applied.

Pure planning (kopf's "what changed" step): it returns the smallest list of frozen
actions; applying them is the adapter's job and recording them the store's. A
ticket that is already right costs zero writes.

When the tracker shows a value different from the one sla-bridge last applied, a
person changed it: ``on_manual_change`` says whether to overwrite it or leave it and
report a conflict. Only labels with the SLA prefix are ever removed.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataclasses import replace
from datetime import date, datetime

from .actions import Action, Applied, PostComment, SetDueDate, SetLabels, Transition
from .engine import CommentKind, Evaluation
from .markers import markers_in, with_marker
from .model import Comment, LabelChange, Role, StatusChange, Ticket
from .policy import OnManualChange, StatusRole


@dataclass(frozen=True)
class Plan:
    actions: tuple[Action, ...]
    conflicts: tuple[str, ...]
    already_done: tuple[str, ...]  # idempotency keys found on the tracker, not yet in the journal

    @property
    def customer_visible(self) -> bool:
        return any(isinstance(a, (PostComment, Transition)) for a in self.actions)


def posted_keys(ticket: Ticket) -> set[str]:
    """Idempotency keys already on the tracker, read from the markers in sla-bridge's own comments.

    A marker a person typed (in a reply, pasted from an e-mail) proves nothing was sent.
    """
    return {key for e in ticket.events if isinstance(e, Comment) and e.own for key in markers_in(e.body)}


def plan(ticket: Ticket, evaluation: Evaluation, applied: Applied, *, label_prefix: str,
         closing_status: str | None, on_manual_change: OnManualChange, shown_role: StatusRole | None = None,
         tracks_due_at: bool = True, comment_public: bool = True, max_comment_length: int | None = None) -> Plan:
    """The actions that bring the tracker to the desired state.

    ``shown_role`` is the role of the status the tracker shows now (which may differ
    from the evaluation's when evaluating at an earlier instant).
    """
    desired = evaluation.desired
    actions: list[Action] = []
    conflicts: list[str] = []

    due = _plan_due(ticket, desired.due_date, desired.due_at if tracks_due_at else None, applied, tracks_due_at,
                    on_manual_change, conflicts)
    if due is not None:
        actions.append(due)
    labels = _plan_labels(ticket, desired.labels, applied, label_prefix, on_manual_change, conflicts)
    if labels is not None:
        actions.append(labels)

    posted = posted_keys(ticket)
    already = tuple(c.key for c in desired.comments if c.key in posted)
    cannot_close = desired.close_key is not None and closing_status is None and shown_role is not StatusRole.CLOSED
    if cannot_close:
        # Telling the customer "closed" about a ticket that stays open would be false.
        conflicts.append("the contract closes this ticket now, but no closing_status is configured:"
                         " neither the closure notice nor the closure is sent")
    for comment in desired.comments:
        if comment.key in posted or (cannot_close and comment.kind is CommentKind.CLOSURE):
            continue
        actions.append(PostComment(comment.key, with_marker(comment.body, comment.key, max_comment_length),
                                   comment_public and comment.public, comment.kind.value))
    if desired.close_key is not None and shown_role is not StatusRole.CLOSED and closing_status is not None:
        actions.append(Transition(desired.close_key, closing_status))
    return Plan(tuple(actions), tuple(conflicts), already)


def _plan_due(ticket: Ticket, due_date: date | None, due_at: datetime | None, applied: Applied,
              tracks_due_at: bool, policy: OnManualChange, conflicts: list[str]) -> SetDueDate | None:
    if due_date is not None and due_date == applied.refused_due_date:
        due_date = ticket.due_date  # refused once and reported: leave the date, still write the deadline
    shown = (ticket.due_date, _minute(ticket.due_at) if tracks_due_at else None)
    if shown == (due_date, _minute(due_at)):
        return None
    last = (applied.due_date, _minute(applied.due_at) if tracks_due_at else None)
    if applied != Applied() and shown != last and policy is OnManualChange.REPORT:
        conflicts.append(f"due date was changed on the tracker to {shown[0]} (sla-bridge last wrote {last[0]});"
                         f" left as is, the contract says {due_date}")
        return None
    return SetDueDate(due_date, due_at)


def _minute(t: datetime | None) -> datetime | None:
    """Trackers keep a deadline to the minute at best: compare what they can hold."""
    return t.replace(second=0, microsecond=0) if t is not None else None


def _plan_labels(ticket: Ticket, desired: frozenset[str], applied: Applied, prefix: str,
                 policy: OnManualChange, conflicts: list[str]) -> SetLabels | None:
    shown = frozenset(label for label in ticket.labels if label.startswith(prefix))
    add, remove = desired - shown, shown - desired
    if applied.labels is not None and policy is OnManualChange.REPORT:
        removed_by_person = (applied.labels - shown) & add
        added_by_person = (shown - applied.labels) & remove
        if removed_by_person or added_by_person:
            conflicts.append(f"SLA labels changed on the tracker (removed {sorted(removed_by_person)},"
                             f" added {sorted(added_by_person)}); left as is")
            add, remove = add - removed_by_person, remove - added_by_person
    if not add and not remove:
        return None
    return SetLabels(frozenset(add), frozenset(remove))


def after_writes(applied: Applied, actions: tuple[Action, ...], shown_labels: frozenset[str],
                 label_prefix: str) -> Applied:
    """What sla-bridge will have written once ``actions`` are applied.

    Labels count from what we wrote before (or, the first time, what the tracker
    showed), not from what it shows now: a label a person removed and we left
    alone stays "removed by a person".
    """
    for action in actions:
        if isinstance(action, SetDueDate):
            applied = replace(applied, due_date=action.due_date, due_at=action.due_at)
        elif isinstance(action, SetLabels):
            base = applied.labels if applied.labels is not None else frozenset(
                label for label in shown_labels if label.startswith(label_prefix))
            applied = replace(applied, labels=(base - action.remove) | action.add)
    return applied


def simulate(ticket: Ticket, actions: tuple[Action, ...], at: datetime, author: str = "sla-bridge") -> Ticket:
    """The ticket as the tracker would show it after ``actions``: what a dry run plans on."""
    labels, events = set(ticket.labels), list(ticket.events)
    due_date, due_at, status = ticket.due_date, ticket.due_at, ticket.status
    for action in actions:
        if isinstance(action, SetDueDate):
            due_date, due_at = action.due_date, action.due_at
        elif isinstance(action, SetLabels):
            labels = (labels - action.remove) | action.add
            events += [LabelChange(at, label, True, author) for label in sorted(action.add)]
            events += [LabelChange(at, label, False, author) for label in sorted(action.remove)]
        elif isinstance(action, PostComment):
            events.append(Comment(at, author, Role.AGENT, action.public, action.body, own=True))
        else:
            events.append(StatusChange(at, status, action.to_status, author, Role.SYSTEM))
            status = action.to_status
    return replace(ticket, labels=frozenset(labels), events=tuple(events), due_date=due_date, due_at=due_at,
                   status=status)


def adopt(applied: Applied, ticket: Ticket, evaluation: Evaluation, label_prefix: str,
          tracks_due_at: bool = True) -> Applied:
    """Values the tracker already shows as desired count as ours.

    A write that landed but whose answer was lost leaves ``applied`` behind; without
    this, the next change of the contract's answer would take our own value for a
    person's.
    """
    desired = evaluation.desired
    shown_due = (ticket.due_date, _minute(ticket.due_at) if tracks_due_at else None)
    if shown_due == (desired.due_date, _minute(desired.due_at) if tracks_due_at else None):
        applied = replace(applied, due_date=desired.due_date, due_at=desired.due_at)
    if frozenset(label for label in ticket.labels if label.startswith(label_prefix)) == desired.labels:
        applied = replace(applied, labels=desired.labels)
    return applied
