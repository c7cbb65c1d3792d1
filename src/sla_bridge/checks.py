"""``check-config``: what ``sync`` will need, checked before it runs.

Offline, every ``[trackers.*]`` section is built exactly as ``sync`` builds it (the
adapter is known, its options validate, its secrets resolve), and the mapping the
contract needs is there (statuses for each role the rules use, a closing status
that means closed, severities). With ``--connect``, each adapter checks read-only
that what the config names exists on the tracker. So what ``check-config``
accepts, ``sync`` does not refuse for a config reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .adapters.base import Adapter, Check, ConnectionCheck
from .app import build_adapter
from .config import Config, TrackerSection
from .errors import ConfigError, SlaBridgeError
from .plugins import build_plugin_manager, build_registry
from .policy import StatusRole

# Roles the rules cannot do without: a ticket's start, the waiting cycle (§1.4.2), the end.
_NEEDED_ROLES = {
    StatusRole.NEW: "the acknowledge clock stops when a ticket leaves them (§1.2)",
    StatusRole.WAITING_FOR_CUSTOMER: "reminders and the auto-close run while a ticket is in one (§1.4.2)",
    StatusRole.RESOLVED: "the resolution clock stops there (§1.2)",
    StatusRole.CLOSED: "closed tickets are done; the closing status must be one (§1.4.2)",
}


@dataclass
class TrackerReport:
    name: str
    adapter: str
    checks: list[Check] = field(default_factory=list)
    instance: Adapter | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "adapter": self.adapter, "ok": self.ok,
                "checks": [{"subject": c.subject, "name": c.name, "ok": c.ok, "detail": c.detail}
                           for c in self.checks]}


def check_trackers(config: Config, connect: bool = False) -> list[TrackerReport]:
    """One report per configured tracker; never raises for a tracker's problem."""
    registry = build_registry(build_plugin_manager())
    reports = []
    for name, section in config.file.trackers.items():
        report = TrackerReport(name, section.adapter)
        report.checks += _mapping_checks(section)
        if config.contracts.several:
            report.checks += _contract_checks(config, name)
        try:
            factory = registry.get(section.adapter)
        except ConfigError as exc:
            report.checks.append(Check("adapter", section.adapter, False, str(exc)))
            reports.append(report)
            continue
        report.checks.append(Check("adapter", section.adapter, True, "known"))
        try:
            report.instance = build_adapter(factory, name, section, config)
            report.checks.append(Check("options", f"trackers.{name}.options", True, "valid; secrets readable"))
        except SlaBridgeError as exc:
            report.checks.append(Check("options", f"trackers.{name}.options", False, str(exc)))
        if connect and report.instance is not None:
            report.checks += _connection_checks(report.instance)
        reports.append(report)
    return reports


def _mapping_checks(section: TrackerSection) -> list[Check]:
    checks = []
    roles = section.statuses.roles()
    for role, why in _NEEDED_ROLES.items():
        names = [n for n, r in roles.items() if r is role]
        checks.append(Check("status role", role.value, bool(names),
                            ", ".join(names) if names else f"no status mapped: {why}"))
    closing = section.closing_status
    if closing is None:
        checks.append(Check("closing status", "-", False, "closing_status is not set: tickets cannot be closed"
                                                          " automatically (§1.4.2)"))
    else:
        mapped = roles.get(closing.casefold())
        checks.append(Check("closing status", closing, mapped is StatusRole.CLOSED,
                            "mapped to closed" if mapped is StatusRole.CLOSED else
                            f"mapped to {mapped.value if mapped else 'no role'}; add it to statuses.closed"))
    checks.append(Check("severities", "mapping", bool(section.severities),
                        ", ".join(f"{k} -> {v}" for k, v in section.severities.items()) or
                        "empty: only tracker values spelled like the contract's severities would count"))
    checks.append(Check("agents", "identities", True, ", ".join(str(a) for a in section.agents)))
    return checks


def _contract_checks(config: Config, tracker: str) -> list[Check]:
    """Which contract judges the tracker's tickets (overlaps were refused when the file was loaded)."""
    rows = []
    for p in config.contracts.placements:
        if p.tracker == tracker:
            label = config.contracts.get(p.contract).label
            rows.append(Check("contract", f"customer {p.customer}" if p.customer else "tracker", True,
                              f"{label}: {p.selects()}"))
    return rows


def _connection_checks(adapter: Adapter) -> list[Check]:
    if not isinstance(adapter, ConnectionCheck):
        return [Check("connection", adapter.name, False, "this adapter cannot check its connection")]
    try:
        return adapter.check_connection()
    except SlaBridgeError as exc:
        return [Check("connection", adapter.name, False, str(exc))]
