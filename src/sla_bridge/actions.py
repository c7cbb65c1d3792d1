"""Changes to a ticket, as frozen values: planned purely by ``reconcile``, applied by an adapter.

Each carries the idempotency key under which the journal records it once applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Union


@dataclass(frozen=True)
class SetDueDate:
    """The due date (a date, where the tracker has only that) and the exact deadline."""

    due_date: date | None
    due_at: datetime | None

    @property
    def kind(self) -> str:
        return "due_date"


@dataclass(frozen=True)
class SetLabels:
    """SLA labels to add and remove; every other label of the ticket stays as it is."""

    add: frozenset[str]
    remove: frozenset[str]

    @property
    def kind(self) -> str:
        return "labels"


@dataclass(frozen=True)
class PostComment:
    """A comment carrying its idempotency key as a marker in its text."""

    key: str
    body: str
    public: bool
    comment_kind: str  # "reminder" or "closure"

    @property
    def kind(self) -> str:
        return "comment"


@dataclass(frozen=True)
class Transition:
    """Move the ticket to the tracker's closing status (from the tracker's config)."""

    key: str
    to_status: str

    @property
    def kind(self) -> str:
        return "transition"



@dataclass(frozen=True)
class Applied:
    """What sla-bridge last wrote to a ticket (kubectl's last-applied, for our fields)."""

    due_date: date | None = None
    due_at: datetime | None = None
    labels: frozenset[str] | None = None  # None: never written
    # A due date the tracker refused (Redmine: before the start date): not asked
    # again, nor reported again, until the contract's answer changes.
    refused_due_date: date | None = None

    def to_json(self) -> dict[str, Any]:
        return {"due_date": _iso(self.due_date), "due_at": _iso(self.due_at),
                "labels": sorted(self.labels) if self.labels is not None else None,
                "refused_due_date": _iso(self.refused_due_date)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Applied":
        labels = data.get("labels")
        return cls(date.fromisoformat(data["due_date"]) if data.get("due_date") else None,
                   datetime.fromisoformat(data["due_at"]) if data.get("due_at") else None,
                   frozenset(labels) if labels is not None else None,
                   date.fromisoformat(data["refused_due_date"]) if data.get("refused_due_date") else None)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


Action = Union[SetDueDate, SetLabels, PostComment, Transition]


def customer_visible(action: Action) -> bool:
    """Actions the customer sees: the ticket is re-read before them, never sent twice."""
    return isinstance(action, (PostComment, Transition))
