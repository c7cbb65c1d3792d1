"""The sections of a configuration compiled into what the engine reads: each contract's
policy and calendar, and which tracker or customer is under which contract.

Pure: sections in, frozen values out (the holidays come from the ``holidays`` package).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ..calendar import BusinessCalendar
from ..contracts import DEFAULT as DEFAULT_CONTRACT, Contract, Contracts, Placement
from ..policy import CustomerRules, Labels, Policy, ResolutionKind, SeverityPolicy, StatusMap, Template, \
    TrackerRules, parse_duration
from ..templates import DEFAULT_TEMPLATES
from .sections import (
    CONTRACT_SECTIONS, WEEKDAYS, CalendarSection, ConfigFile, ContractSection, CustomerSection, SeveritySection,
    StatusesSection, TrackerSection, _folded, _pairs,
)


def describe_calendar(section: CalendarSection) -> str:
    """One line a person can check against the contract's calendar clause."""
    days = "; ".join(f"{day[:3]} {' '.join(f'{i.start:%H:%M}-{i.end:%H:%M}' for i in hours) or 'closed'}"
                     for day, hours in section.hours.items())
    holidays = f"public holidays {section.country}" + (f"-{section.subdivision}" if section.subdivision else "") \
        if section.country else "no public holidays"
    extra = []
    if section.closed_dates:
        extra.append(f"closed {', '.join(d.isoformat() for d in section.closed_dates)}")
    if section.open_dates:
        extra.append(f"open {', '.join(d.isoformat() for d in section.open_dates)}")
    if section.date_hours:
        extra.append(f"{len(section.date_hours)} dates with own hours")
    return f"{days}; {section.timezone}; {holidays}" + ("; " + "; ".join(extra) if extra else "")


def build_calendar(section: CalendarSection) -> BusinessCalendar:
    return BusinessCalendar(
        weekly={WEEKDAYS.index(day): tuple(intervals) for day, intervals in section.hours.items()},
        timezone=section.timezone,
        country=section.country or None,
        subdivision=section.subdivision or None,
        closed_dates=section.closed_dates,
        open_dates=section.open_dates,
        date_hours={d: tuple(i) for d, i in section.date_hours.items()},
    )


def _severity_policy(key: str, section: SeveritySection) -> SeverityPolicy:
    kind, resolution = ResolutionKind.TIMED, None
    if section.resolution == ResolutionKind.NEXT_MINOR_RELEASE.value:
        kind = ResolutionKind.NEXT_MINOR_RELEASE
    elif section.resolution not in ("none", "nc"):
        resolution = parse_duration(section.resolution)
    return SeverityPolicy(key, section.name, section.acknowledge, section.workaround, resolution, kind,
                          tuple(section.reminders))


def _status_map(statuses: StatusesSection, severities: Mapping[str, str], where: str) -> StatusMap:
    try:
        roles = statuses.roles()
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    return StatusMap(roles, {value.casefold(): key for value, key in severities.items()})


def _tracker_rules(t: TrackerSection, contract_of: Callable[[str | None], ConfigFile]) -> TrackerRules:
    """A tracker's entitlement and scope, and its customers': the most specific section wins.

    A customer's own section, else (when the customer names a contract) that
    contract's, else the tracker's own, else the tracker's contract's.
    """
    own = contract_of(t.contract)
    entitlement = (t.entitlement or own.entitlement).compile()
    scope = (t.scope or own.scope).compile()
    customers = []
    for name, c in t.customers.items():
        theirs = contract_of(c.contract) if c.contract is not None else None
        base_entitlement = theirs.entitlement.compile() if theirs is not None else entitlement
        base_scope = theirs.scope.compile() if theirs is not None else scope
        customers.append(CustomerRules(name, _folded(c.projects), _folded(c.organisations),
                                       c.entitlement.compile() if c.entitlement else base_entitlement,
                                       c.scope.compile() if c.scope else base_scope))
    return TrackerRules(entitlement, scope, tuple(customers))


def build_policy(file: ConfigFile, tracker_rules: Mapping[str, TrackerRules] | None = None) -> Policy:
    """The policy of the contract `file` describes (``contract_sections`` gives another contract's)."""
    lang = DEFAULT_TEMPLATES[file.templates.language]
    templates = {}
    for kind in ("reminder", "closure"):
        text = getattr(file.templates, kind) or lang[kind]
        try:
            templates[kind] = Template(kind, text)
        except ValueError as exc:
            raise ValueError(f"templates.{kind}: {exc}") from None
    if tracker_rules is None:
        tracker_rules = {name: _tracker_rules(t, lambda key: file) for name, t in file.trackers.items()}
    identity = {key: key for key in file.severities}
    return Policy(
        severities={key: _severity_policy(key, s) for key, s in file.severities.items()},
        paused_by={clock: frozenset(roles) for clock, roles in file.clocks.paused_by.items()},
        acknowledged_by=frozenset(file.clocks.acknowledged_by),
        at_risk_threshold=file.clocks.at_risk_threshold,
        workaround_labels=_folded(file.clocks.workaround_labels),
        definitive_workaround_labels=_folded(file.clocks.definitive_workaround_labels),
        auto_close_after=file.waiting.auto_close_after,
        entitlement=file.entitlement.compile(),
        scope=file.scope.compile(),
        labels=Labels(file.labels.prefix, file.labels.at_risk, dict(file.labels.breached), file.labels.not_entitled,
                      file.labels.out_of_scope, file.labels.unknown_severity, file.labels.missing_fix_version,
                      dict(file.labels.severity)),
        reminder_template=templates["reminder"],
        closure_template=templates["closure"],
        default_statuses=_status_map(file.statuses, identity, "statuses"),
        trackers={name: _status_map(t.statuses, {**identity, **t.severities}, f"trackers.{name}.statuses")
                  for name, t in file.trackers.items()},
        tracker_rules=tracker_rules,
        workaround_fields=_pairs(file.clocks.workaround_fields),
        definitive_workaround_fields=_pairs(file.clocks.definitive_workaround_fields),
        catch_up=file.sync.catch_up,
    )


def contract_sections(file: ConfigFile, key: str | None) -> ConfigFile:
    """The file as contract `key` reads it: the sections it gives, the top-level ones for the others."""
    if key is None or key == DEFAULT_CONTRACT:
        return file
    definition = file.contracts[key]
    update: dict[str, Any] = {name: getattr(definition, name) for name in CONTRACT_SECTIONS
                              if getattr(definition, name) is not None}
    update["contract"] = ContractSection(name=definition.name or key, reference=definition.reference)
    # Validated section by section already; the copy only puts them together.
    return file.model_copy(update=update)


def _contract_of(t: TrackerSection, customer: CustomerSection | None = None) -> str:
    return (customer.contract if customer is not None and customer.contract else None) or t.contract \
        or DEFAULT_CONTRACT


def check_contracts(file: ConfigFile) -> None:
    """Every contract named exists; no project or organisation is under two contracts; each
    tracker's severities exist in every contract it serves. Raises ValueError naming the key."""
    known = [DEFAULT_CONTRACT, *file.contracts]
    for name, t in file.trackers.items():
        named = [(f"trackers.{name}.contract", t.contract)] + [
            (f"trackers.{name}.customers.{c}.contract", s.contract) for c, s in t.customers.items()]
        for key, contract in named:
            if contract is not None and contract not in known:
                raise ValueError(f"{key}: unknown contract {contract!r}; defined: {', '.join(known)}"
                                 " (the top-level sections are the contract 'default')")
        _check_overlaps(name, t)
        _check_severities(file, name, t)


def _check_overlaps(name: str, t: TrackerSection) -> None:
    """A project or an organisation belongs to one contract: two customers of a tracker may share one
    only under the same contract (then the first in the file selects, as for the rules)."""
    seen: dict[tuple[str, str], tuple[str, str]] = {}  # (kind, folded value) -> (customer, contract)
    for customer, c in t.customers.items():
        contract = _contract_of(t, c)
        for kind, values in (("projects", c.projects), ("organisations", c.organisations)):
            for value in values:
                other = seen.setdefault((kind, value.casefold()), (customer, contract))
                if other[1] != contract:
                    raise ValueError(
                        f"trackers.{name}.customers.{customer}.{kind}: {kind[:-1]} {value!r} is also in"
                        f" trackers.{name}.customers.{other[0]}.{kind}, under contract {other[1]!r}, while"
                        f" trackers.{name}.customers.{customer} is under contract {contract!r}: a {kind[:-1]}"
                        " belongs to one contract")


def _check_severities(file: ConfigFile, name: str, t: TrackerSection) -> None:
    serving = {_contract_of(t): f"trackers.{name}"} | {
        _contract_of(t, c): f"trackers.{name}.customers.{customer}"
        for customer, c in t.customers.items() if c.contract is not None}
    for contract, where in serving.items():
        known = set(contract_sections(file, contract).severities)
        unknown = sorted(set(t.severities.values()) - known)
        if not unknown:
            continue
        if not file.contracts:
            raise ValueError(f"trackers.{name}.severities maps to unknown severity {unknown[0]!r};"
                             f" defined severities: {sorted(known)}")
        raise ValueError(f"trackers.{name}.severities maps to unknown severity {unknown[0]!r} for contract"
                         f" {contract!r} ({where}); that contract's severities: {sorted(known)}")


def _placements(file: ConfigFile) -> tuple[Placement, ...]:
    found = []
    for name, t in file.trackers.items():
        found.append(Placement(name, _contract_of(t), key=f"trackers.{name}.contract" if t.contract else ""))
        for customer, c in t.customers.items():
            key = f"trackers.{name}.customers.{customer}.contract" if c.contract else \
                f"trackers.{name}.contract" if t.contract else ""
            found.append(Placement(name, _contract_of(t, c), customer, tuple(c.projects), tuple(c.organisations),
                                   key))
    return tuple(found)


def build_contracts(file: ConfigFile) -> Contracts:
    """Every contract of `file` compiled: its policy and its calendar. Raises ValueError naming the key."""
    check_contracts(file)
    sections = {key: contract_sections(file, key) for key in (DEFAULT_CONTRACT, *file.contracts)}
    rules = {name: _tracker_rules(t, lambda key: sections[key or DEFAULT_CONTRACT])
             for name, t in file.trackers.items()}
    built: dict[str, Contract] = {}
    default_calendar: BusinessCalendar | None = None
    for key, view in sections.items():
        where = "" if key == DEFAULT_CONTRACT else f"contracts.{key}."
        if key != DEFAULT_CONTRACT and file.contracts[key].calendar is None and default_calendar is not None:
            calendar = default_calendar  # the top-level calendar: the same one
        else:
            try:
                calendar = build_calendar(view.calendar)
            except ValueError as exc:
                raise ValueError(f"{where}calendar: {exc}") from None
        default_calendar = default_calendar or calendar
        try:
            policy = build_policy(view, rules)
        except ValueError as exc:
            raise ValueError(f"{where}{exc}") from None
        built[key] = Contract(key, view.contract.name, policy, calendar, view.contract.reference,
                              describe_calendar(view.calendar))
    default = built.pop(DEFAULT_CONTRACT)
    return Contracts(default, built, {name: t.contract for name, t in file.trackers.items() if t.contract},
                     {(name, customer): c.contract for name, t in file.trackers.items()
                      for customer, c in t.customers.items() if c.contract},
                     _placements(file))
