"""What a compliance report says, as frozen values: computed once, rendered many ways.

Every renderer (terminal, CSV, JSON, HTML) reads these and nothing else, so the
numbers a person sees in the HTML are the numbers a machine reads in the JSON.
Pure: no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from ..policy import Clock


class Coverage(enum.StrEnum):
    """How much of the period the store saw for one tracker."""

    COMPLETE = "complete"
    PARTIAL = "partial"      # the store's record starts after the period's start, or stops before its end
    NOT_SEEN = "not_seen"    # nothing of the period: no figures, never "100 %"


class _OnTicket:
    """A row about one ticket: ``key`` names it as the rest of sla-bridge does (``tracker:id``)."""

    tracker: str
    ticket_id: str

    @property
    def key(self) -> str:
        return f"{self.tracker}:{self.ticket_id}"


@dataclass(frozen=True)
class Period:
    """Whole local days ``first_day`` .. ``last_day``: the instants ``[start, end)``."""

    first_day: date
    last_day: date
    start: datetime
    end: datetime


@dataclass(frozen=True)
class TrackerView:
    """What the store knows of one tracker, read at the edge (``source``)."""

    name: str
    configured: bool               # a [trackers.<name>] section exists
    last_sync: datetime | None     # the end of its last pass; None: never synced
    first_record: datetime | None  # the earliest instant the store holds anything about


@dataclass(frozen=True)
class JournalFact:
    """A customer-visible action sla-bridge recorded in its journal."""

    key: str
    adapter: str
    ticket_id: str
    kind: str  # "comment" or "transition"
    at: datetime
    detail: str = ""


@dataclass(frozen=True)
class TrackerCoverage:
    tracker: str
    status: Coverage
    first_record: datetime | None
    last_sync: datetime | None
    evaluated_until: datetime | None  # the instant the tickets were judged at: period end, now or last sync
    note: str


@dataclass(frozen=True)
class ClockRow(_OnTicket):
    """One ticket-clock: decided in the period (met or breached), or undecided at its end."""

    tracker: str
    ticket_id: str
    title: str
    customer: str
    severity: str
    clock: Clock
    target: str
    state: str  # met / breached (decided in the period); running / paused / at_risk (undecided at its end)
    started_at: datetime | None
    deadline: datetime | None
    stopped_at: datetime | None     # within the evaluated part of the period
    decided_at: datetime | None     # when the outcome became final (None: undecided)
    elapsed_minutes: float | None   # business minutes counted by the contract, to the stop (or period end)
    late_minutes: float | None      # breached: business minutes past the deadline, to the stop (or period end)
    remaining_minutes: float | None  # undecided: business minutes left
    breached_under: str | None = None  # the severity in force when it was breached, if since changed

    @property
    def decided(self) -> bool:
        return self.decided_at is not None


@dataclass(frozen=True)
class ClockStats:
    """Counts for one severity (None: all severities) and one clock."""

    severity: str | None
    clock: Clock
    target: str
    met: int
    breached: int
    running: int   # undecided at the period's end: not in the percentage
    stopped: int   # clocks stopped in the period: the population of the times below
    median_hours: float | None
    p90_hours: float | None

    @property
    def ended(self) -> int:
        return self.met + self.breached

    @property
    def compliance(self) -> float | None:
        """met / (met + breached) in percent; None when nothing ended (never shown as 100 %)."""
        return round(100.0 * self.met / self.ended, 1) if self.ended else None


@dataclass(frozen=True)
class WaitingStats:
    reminders: tuple[tuple[int, int], ...]  # (step, reminders sent in the period), steps 1..n
    auto_closed: int
    cycles_started: int
    restarted_by_customer: int


@dataclass(frozen=True)
class GroupReport:
    """The figures of one customer, or of everything (``kind == "overall"``)."""

    name: str
    kind: str  # overall / customer (a [trackers.x.customers.y]) / tracker (a tracker without customers) / other
    tracker: str | None
    clocks: tuple[ClockStats, ...]  # per severity and clock, then per clock over every severity
    waiting: WaitingStats
    tickets: int  # tickets with at least one clock counted or running
    contract: str | None = None  # with several contracts: the keys of those its tickets were judged by


@dataclass(frozen=True)
class Breach:
    row: ClockRow
    still_open: bool  # the clock had not stopped by the period's end
    timeline: tuple[tuple[datetime, str], ...]
    why: tuple[str, ...]


@dataclass(frozen=True)
class OutOfContract(_OnTicket):
    tracker: str
    ticket_id: str
    title: str
    customer: str
    reporter: str
    created: datetime
    reason: str  # not_entitled / out_of_scope


@dataclass(frozen=True)
class AwaitingRelease(_OnTicket):
    """A "next minor release" resolution still owed at the period's end (no time target, no %)."""

    tracker: str
    ticket_id: str
    title: str
    customer: str
    severity: str
    created: datetime
    age_days: int  # calendar days from creation to the period's end
    status: str
    fix_version: str | None  # as the store knows it now (trackers keep no history of it)


@dataclass(frozen=True)
class TrendBucket:
    label: str
    start: date
    end: date  # exclusive
    met: int
    breached: int

    @property
    def compliance(self) -> float | None:
        ended = self.met + self.breached
        return round(100.0 * self.met / ended, 1) if ended else None


@dataclass(frozen=True)
class Report:
    contract: str
    language: str
    zone: str
    period: Period
    generated_at: datetime
    tracker_filter: str | None
    customer_filter: str | None
    coverage: tuple[TrackerCoverage, ...]
    overall: GroupReport
    customers: tuple[GroupReport, ...]
    rows: tuple[ClockRow, ...]
    breaches: tuple[Breach, ...]
    out_of_contract: tuple[OutOfContract, ...]
    awaiting_release: tuple[AwaitingRelease, ...]
    trend: tuple[TrendBucket, ...]
    trend_unit: str  # week / month
    durations: tuple[tuple[str, Clock, float], ...]  # (severity, clock, business minutes) of clocks stopped
    unclassified: tuple[tuple[str, str], ...]  # (ticket key, why it was not counted)
    warnings: tuple[str, ...]

    @property
    def seen(self) -> bool:
        """Some of the period was seen by the store for at least one tracker."""
        return any(c.status is not Coverage.NOT_SEEN for c in self.coverage)
