"""What a pass did, said for people: its summary, a dry run's digest, a ticket's status."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..actions import Action, PostComment, SetDueDate, SetLabels
from ..engine import Evaluation
from ..secrets import ScrubbedTexts


@dataclass
class SyncSummary:
    adapter: str
    started: datetime
    now: datetime
    dry_run: bool
    finished: datetime | None = None
    complete: bool = False
    tickets_read: int = 0
    tickets_evaluated: int = 0
    applied: Counter[str] = field(default_factory=Counter)
    planned: list[tuple[str, Action]] = field(default_factory=list)
    # Texts for people, scrubbed of every secret as they are added: they reach logs,
    # --json, the store and `status`.
    conflicts: list[str] = field(default_factory=ScrubbedTexts)
    errors: list[str] = field(default_factory=ScrubbedTexts)
    not_yet_created: list[str] = field(default_factory=list)  # created after a --at in the past: left alone
    # Read by id but no longer under the contract (moved out of its projects or groups): left alone.
    left_alone: list[str] = field(default_factory=ScrubbedTexts)
    onboarding: bool = False  # the tracker's first pass: nothing synced before

    def to_json(self) -> dict[str, Any]:
        return {
            "adapter": self.adapter, "started": self.started.isoformat(), "now": self.now.isoformat(),
            "finished": self.finished.isoformat() if self.finished else None, "complete": self.complete,
            "dry_run": self.dry_run, "tickets_read": self.tickets_read, "tickets_evaluated": self.tickets_evaluated,
            "applied": dict(self.applied), "conflicts": self.conflicts, "errors": self.errors,
            "not_yet_created": self.not_yet_created, "left_alone": self.left_alone, "onboarding": self.onboarding,
            "planned": [{"ticket": t, "action": describe(a)} for t, a in self.planned],
            "digest": digest(self.planned) if self.dry_run else None,
        }


def describe(action: Action) -> str:
    if isinstance(action, SetDueDate):
        return f"set due date {action.due_date or '-'} (deadline {action.due_at.isoformat() if action.due_at else '-'})"
    if isinstance(action, SetLabels):
        parts = [f"+{label}" for label in sorted(action.add)] + [f"-{label}" for label in sorted(action.remove)]
        return f"labels {' '.join(parts)}"
    if isinstance(action, PostComment):
        return f"post {'public' if action.public else 'internal'} {action.comment_kind} [{action.key}]"
    return f"move to status {action.to_status!r} [{action.key}]"


def unprefixed(exc: object, name: str) -> str:
    """An adapter's message without the tracker's name it already starts with (never "jira: jira: ...")."""
    return str(exc).removeprefix(f"{name}: ")


def digest(planned: list[tuple[str, Action]]) -> dict[str, Any]:
    """How many tickets would get which change: the readable side of a dry run (onboarding)."""
    tickets: dict[str, set[str]] = {}

    def count(what: str, ticket: str) -> None:
        tickets.setdefault(what, set()).add(ticket)

    for ticket, action in planned:
        if isinstance(action, SetDueDate):
            count("due date set" if action.due_date else "due date cleared", ticket)
        elif isinstance(action, SetLabels):
            for label in action.add:
                count(f"label +{label}", ticket)
            for label in action.remove:
                count(f"label -{label}", ticket)
        elif isinstance(action, PostComment) and action.comment_kind == "reminder":
            count(f"reminder {action.key.rsplit('/', 1)[-1]}", ticket)
        elif isinstance(action, PostComment):
            count("closure notice", ticket)
        else:
            count(f"closed (status {action.to_status!r})", ticket)
    return {"tickets": len({t for t, _ in planned}),
            "changes": {what: len(ids) for what, ids in sorted(tickets.items())}}


def summarize(evaluation: Evaluation) -> dict[str, Any]:
    """What ``status`` shows of a ticket, kept beside its snapshot."""
    return {
        "severity": evaluation.severity, "status": evaluation.status,
        "clocks": {c.value: {"state": e.state.value, "deadline": e.deadline.isoformat() if e.deadline else None,
                             "breached_under": e.breached_under}
                   for c, e in evaluation.clocks.items()},
        "due_at": evaluation.desired.due_at.isoformat() if evaluation.desired.due_at else None,
        "next_change_at": evaluation.next_change_at.isoformat() if evaluation.next_change_at else None,
        "warnings": list(evaluation.warnings),
    }
