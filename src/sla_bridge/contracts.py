"""Which contract judges a ticket, in a deployment that serves several.

A support provider runs one sla-bridge for many customers, often on several
trackers, and the customers' annexes differ: the calendar (time zone, the public
holidays of a region, opening hours), severities, reminders, clocks, who may open
tickets and what is covered. The configuration names each contract
(``[contracts.<key>]``; the top-level sections are the contract ``default``) and
maps a tracker, or a customer of a tracker (by project or organisation, as
``[trackers.<t>.customers.<c>]`` already selects tickets), to one of them.

This module holds the result as frozen values and answers, for one ticket, which
contract judges it: its customer's when that customer names one, else its
tracker's, else ``default``. A ticket's customer is found by the same rule as its
entitlement and scope (``Policy.customer_for``: the first customer section, in
the file's order, whose projects or organisations cover it), so the rules and the
contract of a ticket never disagree. The engine is then called with the
contract's policy and calendar, unchanged.

Pure: no I/O, no clock read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping

from .calendar import BusinessCalendar
from .policy import Policy

if TYPE_CHECKING:
    from .model import Ticket

DEFAULT = "default"  # the contract the top-level sections describe


@dataclass(frozen=True)
class Contract:
    """One contract: its key in the configuration, its title, and what the engine needs."""

    key: str      # "default", or the <key> of [contracts.<key>]
    name: str     # its title ([contract] name, or [contracts.<key>] name)
    policy: Policy
    calendar: BusinessCalendar
    reference: str = ""
    calendar_text: str = ""  # the calendar in one line, for people (hours, zone, holidays)

    @property
    def label(self) -> str:
        """``key (title)`` for people, or the key alone when the title is the key."""
        return self.key if self.name in ("", self.key) else f"{self.key} ({self.name})"


@dataclass(frozen=True)
class Placement:
    """Where a contract applies: a whole tracker, or one customer of it (check-config shows these)."""

    tracker: str
    contract: str                     # a contract key
    customer: str | None = None       # None: the tracker's tickets no customer section covers
    projects: tuple[str, ...] = ()
    organisations: tuple[str, ...] = ()
    key: str = ""                     # the configuration key that says so ("" when nothing does: the default)

    def selects(self) -> str:
        """Which tickets, in words."""
        if self.customer is None:
            return "the tickets no customer section covers"
        parts = ([f"projects {', '.join(self.projects)}"] if self.projects else []) + \
            ([f"organisations {', '.join(self.organisations)}"] if self.organisations else [])
        return "; ".join(parts)


@dataclass(frozen=True)
class Contracts:
    """Every contract of a deployment, and which one each tracker and customer is under."""

    default: Contract
    others: Mapping[str, Contract] = field(default_factory=dict)  # by key, without the default
    trackers: Mapping[str, str] = field(default_factory=dict)    # tracker -> contract key, when it names one
    customers: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (tracker, customer) -> key, when named
    placements: tuple[Placement, ...] = ()

    @property
    def several(self) -> bool:
        """More than one contract is defined: outputs name the contract of each ticket."""
        return bool(self.others)

    @property
    def all(self) -> dict[str, Contract]:
        """Every contract by key, the default first."""
        return {DEFAULT: self.default, **self.others}

    def get(self, key: str) -> Contract:
        return self.default if key == DEFAULT else self.others[key]

    def for_tracker(self, tracker: str) -> Contract:
        """The contract of the tracker's tickets that no customer section with its own contract covers."""
        return self.get(self.trackers.get(tracker, DEFAULT))

    def for_ticket(self, ticket: "Ticket") -> Contract:
        """The contract that judges `ticket`: its customer's, else its tracker's, else the default."""
        if not self.others:
            return self.default
        customer = self.default.policy.customer_for(ticket)
        if customer is not None:
            key = self.customers.get((ticket.tracker, customer.name))
            if key is not None:
                return self.get(key)
        return self.for_tracker(ticket.tracker)

    def on_tracker(self, tracker: str) -> list[Contract]:
        """The contracts that apply to some ticket of `tracker`: its own, then its customers'."""
        keys = [self.trackers.get(tracker, DEFAULT)]
        keys += [key for (t, _), key in self.customers.items() if t == tracker and key not in keys]
        return [self.get(key) for key in dict.fromkeys(keys)]
