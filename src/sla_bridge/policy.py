"""The contract as the engine sees it: plain frozen values, already validated.

``config`` turns a TOML file into a ``Policy``; the engine reads only this module,
so it can be exercised without files, and a policy can be built in a test with a
few lines.
"""

from __future__ import annotations

import enum
import re
import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from .identity import IdentityPattern, matches

if TYPE_CHECKING:
    from .model import Ticket


class Clock(enum.StrEnum):
    ACKNOWLEDGE = "acknowledge"
    WORKAROUND = "workaround"
    RESOLUTION = "resolution"


class StatusRole(enum.StrEnum):
    """What a tracker status means to the contract."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    WAITING_FOR_CUSTOMER = "waiting_for_customer"
    WORKAROUND_DELIVERED = "workaround_delivered"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Unit(enum.StrEnum):
    MINUTES = "minutes"  # business minutes ("3h" and "90m" both end up here)
    DAYS = "days"        # business days


@dataclass(frozen=True)
class Duration:
    """A contractual delay in business time: minutes of opening hours, or business days."""

    amount: int
    unit: Unit

    def __str__(self) -> str:
        if self.unit is Unit.DAYS:
            return f"{self.amount}d"
        if self.amount % 60 == 0:
            return f"{self.amount // 60}h"
        return f"{self.amount}m"


_DURATION = re.compile(r"^\s*(\d+)\s*(h|m|d)\s*$")


def parse_duration(text: str) -> Duration:
    """Parse ``"3h"``, ``"90m"`` (business time) or ``"5d"`` (business days).

    Units are mandatory: a bare number is ambiguous between hours and days, the
    very confusion the contract's table invites.
    """
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f'expected a positive duration with a unit, like "3h", "90m" or "5d", got {text!r}')
    amount, unit = int(match.group(1)), match.group(2)
    if amount <= 0:
        raise ValueError(f"expected a duration greater than zero, got {text!r}")
    if unit == "d":
        return Duration(amount, Unit.DAYS)
    return Duration(amount * 60 if unit == "h" else amount, Unit.MINUTES)


class ResolutionKind(enum.StrEnum):
    TIMED = "timed"
    NEXT_MINOR_RELEASE = "next_minor_release"  # no time target: the ticket needs a fix version


@dataclass(frozen=True)
class SeverityPolicy:
    key: str
    name: str
    acknowledge: Duration | None
    workaround: Duration | None
    resolution: Duration | None
    resolution_kind: ResolutionKind
    reminders: tuple[Duration, ...]

    def target(self, clock: Clock) -> Duration | None:
        return {Clock.ACKNOWLEDGE: self.acknowledge, Clock.WORKAROUND: self.workaround,
                Clock.RESOLUTION: self.resolution}[clock]


class AcknowledgedBy(enum.StrEnum):
    AGENT_PUBLIC_COMMENT = "agent_public_comment"
    STATUS_CHANGE = "status_change"  # the ticket leaves the "new" statuses


@dataclass(frozen=True)
class Labels:
    prefix: str
    at_risk: str
    breached: Mapping[Clock, str]
    not_entitled: str
    out_of_scope: str
    unknown_severity: str
    missing_fix_version: str
    severity: Mapping[str, str]  # severity key -> label; empty mapping = no severity label

    def all(self) -> frozenset[str]:
        return frozenset({self.at_risk, self.not_entitled, self.out_of_scope, self.unknown_severity,
                          self.missing_fix_version, *self.breached.values(), *self.severity.values()})


TEMPLATE_FIELDS: Mapping[str, frozenset[str]] = {
    "reminder": frozenset({"ticket", "title", "reminder", "reminders", "waiting_since", "close_on", "severity"}),
    "closure": frozenset({"ticket", "title", "reminders", "waiting_since", "severity"}),
}


class Template:
    """A comment template with ``$name`` placeholders and nothing else.

    ``string.Template`` substitutes plain names only: no attribute access, no
    indexing, no code, and substituted values are never re-read, so a ticket title
    containing ``{{ ... }}`` or ``$x`` is written as text.
    """

    def __init__(self, kind: str, text: str) -> None:
        self.kind = kind
        self.text = text
        self._template = string.Template(text)
        allowed = TEMPLATE_FIELDS[kind]
        if not self._template.is_valid():
            raise ValueError(f"invalid placeholder in {text!r}: use $name or ${{name}}, and $$ for a dollar sign")
        unknown = set(self._template.get_identifiers()) - allowed
        if unknown:
            raise ValueError(f"unknown placeholder(s) {', '.join('$' + u for u in sorted(unknown))};"
                             f" allowed: {', '.join('$' + a for a in sorted(allowed))}")

    def render(self, **values: str) -> str:
        return self._template.substitute({k: values.get(k, "") for k in TEMPLATE_FIELDS[self.kind]})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and (self.kind, self.text) == (other.kind, other.text)

    def __hash__(self) -> int:
        return hash((self.kind, self.text))

    def __repr__(self) -> str:
        return f"Template({self.kind!r}, {self.text!r})"


@dataclass(frozen=True)
class StatusMap:
    """A tracker's statuses and severity values, mapped to the contract's terms."""

    roles: Mapping[str, StatusRole]  # status name (casefolded) -> role
    severities: Mapping[str, str]    # tracker value (casefolded) -> severity key

    def role(self, status: str | None) -> StatusRole | None:
        return self.roles.get(status.casefold()) if status is not None else None

    def severity(self, value: str | None) -> str | None:
        return self.severities.get(value.casefold()) if value is not None else None


class CatchUp(enum.StrEnum):
    """What to do with reminders whose time passed while nobody sent them (first sync, outage).

    ``collapse`` (default): the due reminders that were never sent become one, the
    latest step due; each later step and the auto-close keep their contractual
    spacing from the reminder *actually* sent before them, so the customer always
    gets the contract's time after the last warning. ``contract``: every reminder
    and the closure at the contract's dates, even if that means all at once.
    """

    COLLAPSE = "collapse"
    CONTRACT = "contract"


@dataclass(frozen=True)
class Entitlement:
    """Who may open tickets (§1.3): no pattern at all means everyone."""

    reporters: tuple[IdentityPattern, ...] = ()

    def allows(self, ticket: "Ticket") -> bool:
        return not self.reporters or matches(ticket.reporter, self.reporters)


@dataclass(frozen=True)
class Scope:
    """What the contract covers (§1.3): the rest is done only on a quote. Values casefolded."""

    out_of_scope_types: frozenset[str] = frozenset()
    out_of_scope_labels: frozenset[str] = frozenset()
    out_of_scope_fields: frozenset[tuple[str, str]] = frozenset()  # (field, value)

    def excludes(self, ticket: "Ticket", labels_now: frozenset[str]) -> bool:
        return ((ticket.type is not None and ticket.type.casefold() in self.out_of_scope_types)
                or any(label.casefold() in self.out_of_scope_labels for label in labels_now)
                or any((f, v.casefold()) in self.out_of_scope_fields for f, v in ticket.fields))


@dataclass(frozen=True)
class CustomerRules:
    """Entitlement and scope of one customer of a tracker that serves several."""

    name: str
    projects: frozenset[str]       # casefolded project identifiers or keys
    organisations: frozenset[str]  # casefolded organisation names
    entitlement: Entitlement
    scope: Scope

    def covers(self, ticket: "Ticket") -> bool:
        if ticket.project is not None and ticket.project.casefold() in self.projects:
            return True
        orgs = ticket.reporter.organisations if ticket.reporter is not None else frozenset()
        return any(o.casefold() in self.organisations for o in orgs)


@dataclass(frozen=True)
class TrackerRules:
    """A tracker's own entitlement and scope (the global sections are the default)."""

    entitlement: Entitlement
    scope: Scope
    customers: tuple[CustomerRules, ...] = ()

    def customer_for(self, ticket: "Ticket") -> CustomerRules | None:
        """The first customer, in the configuration's order, whose projects or organisations cover `ticket`."""
        return next((c for c in self.customers if c.covers(ticket)), None)


@dataclass(frozen=True)
class Policy:
    severities: Mapping[str, SeverityPolicy]
    paused_by: Mapping[Clock, frozenset[StatusRole]]
    acknowledged_by: frozenset[AcknowledgedBy]
    at_risk_threshold: float
    workaround_labels: frozenset[str]  # casefolded
    definitive_workaround_labels: frozenset[str]  # casefolded
    auto_close_after: Duration
    entitlement: Entitlement
    scope: Scope
    labels: Labels
    reminder_template: Template
    closure_template: Template
    default_statuses: StatusMap
    trackers: Mapping[str, StatusMap] = field(default_factory=dict)
    tracker_rules: Mapping[str, TrackerRules] = field(default_factory=dict)
    workaround_fields: frozenset[tuple[str, str]] = frozenset()  # (field, value), casefolded
    definitive_workaround_fields: frozenset[tuple[str, str]] = frozenset()
    catch_up: CatchUp = CatchUp.COLLAPSE

    def status_map(self, tracker: str) -> StatusMap:
        return self.trackers.get(tracker, self.default_statuses)

    def customer_for(self, ticket: "Ticket") -> CustomerRules | None:
        """The customer section of the ticket's tracker that covers it, if any (the first in the file)."""
        rules = self.tracker_rules.get(ticket.tracker)
        return rules.customer_for(ticket) if rules is not None else None

    def rules_for(self, ticket: "Ticket") -> tuple[Entitlement, Scope]:
        """The entitlement and scope that apply to `ticket`: its customer's, its tracker's, or the default."""
        rules = self.tracker_rules.get(ticket.tracker)
        if rules is None:
            return self.entitlement, self.scope
        customer = rules.customer_for(ticket)
        if customer is not None:
            return customer.entitlement, customer.scope
        return rules.entitlement, rules.scope


class OnManualChange(enum.StrEnum):
    """When a person changed a field sla-bridge wrote: write it back, or leave it and report."""

    OVERWRITE = "overwrite"
    REPORT = "report"

