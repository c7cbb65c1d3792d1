"""What an evaluation says: each clock's state, the waiting cycles, the desired tracker state.

Immutable values only, so an evaluation can be compared, stored and explained.
They are named tuples rather than frozen dataclasses: a sync builds about ten per
ticket, and a frozen dataclass costs six times as much to build (each field goes
through ``object.__setattr__``), a third of the engine's time. Read them by
attribute; ``_replace`` makes a changed copy.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Mapping, NamedTuple

from ..policy import Clock, Duration, StatusRole


class ClockState(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"
    AT_RISK = "at_risk"
    NOT_APPLICABLE = "not_applicable"


# Read as a constant: an enum member looked up on its class costs a lookup each time.
_SETTLED = frozenset({ClockState.MET, ClockState.NOT_APPLICABLE})


class Pause(NamedTuple):
    start: datetime
    end: datetime | None  # None: still paused
    status: str
    business_minutes: float


class ClockEvaluation(NamedTuple):
    clock: Clock
    state: ClockState
    target: Duration | None = None
    target_minutes: float | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    deadline: datetime | None = None
    elapsed_minutes: float = 0.0
    remaining_minutes: float | None = None
    at_risk_at: datetime | None = None
    pauses: tuple[Pause, ...] = ()
    why: tuple[str, ...] = ()
    breached_under: str | None = None  # the severity in force when it was breached, if not the current one
    breached_at: datetime | None = None  # the instant it became breached (stopped late: the deadline's breach)

    @property
    def unmet(self) -> bool:
        """Still owed to the customer: counting, paused or overdue, not stopped."""
        return self.stopped_at is None and self.state not in _SETTLED


class Reminder(NamedTuple):
    number: int
    at: datetime  # sent at (found on the tracker), or due at
    key: str
    skipped: bool = False  # collapsed into a later step by the catch-up policy: never sent
    sent: bool = False     # found on the tracker (catch-up "collapse" only looks)
    contract_at: datetime | None = None  # the contract's date, when the catch-up moved it


class WaitingCycle(NamedTuple):
    started_at: datetime
    ended_at: datetime | None
    started_by: str  # "waiting status" or "customer answer"
    reminders: tuple[Reminder, ...]
    auto_close_at: datetime | None
    closure_key: str


class CommentKind(enum.StrEnum):
    REMINDER = "reminder"
    CLOSURE = "closure"


class DesiredComment(NamedTuple):
    key: str
    kind: CommentKind
    due_at: datetime
    body: str
    public: bool = True


class DesiredState(NamedTuple):
    due_at: datetime | None
    due_date: date | None
    labels: frozenset[str]
    comments: tuple[DesiredComment, ...]
    close_key: str | None  # set when the ticket must be closed now: the closure's idempotency key

    @property
    def close(self) -> bool:
        return self.close_key is not None


class Evaluation(NamedTuple):
    ticket_key: str
    now: datetime
    severity: str | None
    status: str
    status_role: StatusRole | None
    entitled: bool
    in_scope: bool
    clocks: Mapping[Clock, ClockEvaluation]
    cycles: tuple[WaitingCycle, ...]
    desired: DesiredState
    next_change_at: datetime | None
    warnings: tuple[str, ...] = ()
    timeline: tuple[tuple[datetime, str], ...] = ()
