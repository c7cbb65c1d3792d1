"""Several contracts in one deployment: which one judges a ticket, and the sync on each one's calendar.

Two customers on one tracker: Paris under the French contract (France's public
holidays, 09:00-18:00) and Strasbourg under the Alsace-Moselle one (Good Friday and
26 December are public holidays there too, 08:00-17:00). The same ticket history
gets different deadlines, reminders and closures; every instant below is counted
by hand on those calendars.
"""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import example_mapping, recording_plugins

from sla_bridge.adapters.memory import MemoryAdapter, MemoryTracker
from sla_bridge.config import Config, config_from_mapping
from sla_bridge.contracts import DEFAULT
from sla_bridge.demo import DEMO_TRACKER, builtin_config
from sla_bridge.errors import ConfigError
from sla_bridge.identity import Person
from sla_bridge.markers import markers_in
from sla_bridge.model import Comment, Role, StatusChange, Ticket
from sla_bridge.store import Store
from sla_bridge.sync import Syncer

T = datetime.fromisoformat
WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday")
ALICE = Person(id="3", login="alice", name="Alice Martin")


def two_contracts() -> dict[str, Any]:
    """The example contract (the default), plus "fr" and "alsace"; tracker demo is under "fr",
    its customer strasbourg under "alsace"."""
    raw = example_mapping()
    raw["contracts"] = {
        "fr": {"name": "Annexe 4 - France",
               "calendar": {"timezone": "Europe/Paris", "country": "FR",
                            "hours": {day: ["09:00-18:00"] for day in WEEK}}},
        "alsace": {"name": "Annexe 4 - Alsace-Moselle",
                   "calendar": {"timezone": "Europe/Paris", "country": "FR", "subdivision": "Alsace-Moselle",
                                "hours": {day: ["08:00-17:00"] for day in WEEK}}},
    }
    raw["trackers"] = {"demo": {**copy.deepcopy(DEMO_TRACKER), "contract": "fr", "customers": {
        "paris": {"projects": ["paris"]},
        "strasbourg": {"projects": ["strasbourg"], "organisations": ["Strasbourg SA"], "contract": "alsace"}}}}
    raw["sync"] = {"store": ":memory:"}
    return raw


def load(raw: dict[str, Any]) -> Config:
    return config_from_mapping(raw, Path("contract.toml"))


def refused(raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        load(raw)
    assert info.value.exit_code == 2
    return str(info.value)


class Clock:
    def __init__(self, now: str) -> None:
        self.now = T(now)

    def __call__(self) -> datetime:
        return self.now


class Harness:
    """The memory tracker, a store in memory and the real Syncer, under a given configuration."""

    def __init__(self, config: Config, *tickets: Ticket, now: str) -> None:
        self.clock = Clock(now)
        self.tracker = MemoryTracker(self.clock, tickets)
        self.store = Store(":memory:")
        self.syncer = Syncer(config, self.store, MemoryAdapter("demo", self.tracker), recording_plugins([]),
                             clock=self.clock)
        self.syncer.workers = 1

    def sync(self, at: str) -> None:
        self.clock.now = T(at)
        summary = self.syncer.run(self.clock())
        assert summary.errors == [], summary.errors

    def due(self, ticket_id: str) -> datetime | None:
        return self.tracker.tickets[ticket_id].due_at

    def deadline(self, ticket_id: str, clock: str) -> datetime:
        record = self.store.ticket("demo", ticket_id)
        assert record is not None
        return T(record.evaluation["clocks"][clock]["deadline"])

    def keys(self, ticket_id: str) -> list[str]:
        return [key for e in self.tracker.tickets[ticket_id].events if isinstance(e, Comment) and e.own
                for key in markers_in(e.body)]

    def status(self, ticket_id: str) -> str:
        return self.tracker.tickets[ticket_id].status


def good_friday_ticket(ticket_id: str, project: str | None, reporter: Person = ALICE) -> Ticket:
    """Bloquante, opened Thursday 17 April 2025 16:00, acknowledged by an agent at 16:45."""
    return Ticket("demo", ticket_id, "Server down", reporter, T("2025-04-17T16:00:00+02:00"), "new", "bloquante",
                  project=project,
                  events=(Comment(T("2025-04-17T16:45:00+02:00"), "sam", Role.AGENT, True, "on it"),))


def christmas_ticket(ticket_id: str, project: str) -> Ticket:
    """Bloquante, acknowledged, waiting for the customer from Wednesday 24 December 2025 10:00."""
    return Ticket("demo", ticket_id, "Export fails", ALICE, T("2025-12-24T09:30:00+01:00"), "waiting_for_customer",
                  "bloquante", project=project,
                  events=(Comment(T("2025-12-24T09:45:00+01:00"), "sam", Role.AGENT, True, "on it"),
                          StatusChange(T("2025-12-24T10:00:00+01:00"), "new", "waiting_for_customer", "sam",
                                       Role.AGENT)))


# --- which contract ----------------------------------------------------------------------

def test_only_top_level_sections_are_the_one_default_contract() -> None:
    config = builtin_config()
    assert not config.contracts.several and list(config.contracts.all) == [DEFAULT]
    ticket = good_friday_ticket("1", "anything")
    contract = config.contract_for(ticket)
    assert contract.key == DEFAULT and contract.name == config.file.contract.name
    assert contract.policy is config.policy and contract.calendar is config.calendar


def test_a_ticket_is_under_its_customers_contract_else_its_trackers() -> None:
    config = load(two_contracts())
    of = config.contract_for
    assert of(good_friday_ticket("1", "paris")).key == "fr"            # a customer without its own: the tracker's
    assert of(good_friday_ticket("2", "Strasbourg")).key == "alsace"    # projects are matched case-insensitively
    assert of(good_friday_ticket("3", "lyon")).key == "fr"              # no customer: the tracker's
    by_org = Person(login="bob", organisations=frozenset({"Strasbourg SA"}))
    assert of(good_friday_ticket("4", None, by_org)).key == "alsace"     # by the reporter's organisation
    other = Ticket("json", "5", "t", ALICE, T("2025-04-17T16:00:00+02:00"), "new", "bloquante")
    assert of(other).key == DEFAULT                                     # a tracker the configuration does not map
    assert [c.key for c in config.contracts.on_tracker("demo")] == ["fr", "alsace"]
    assert str(config.contracts.get("alsace").calendar.zone) == "Europe/Paris"


def test_a_contract_takes_the_top_level_sections_it_does_not_give() -> None:
    raw = two_contracts()
    raw["contracts"]["alsace"]["severities"] = {"critique": {"name": "Critique", "acknowledge": "1h",
                                                             "workaround": "8h", "resolution": "2d",
                                                             "reminders": ["1d"]}}
    raw["contracts"]["alsace"]["waiting"] = {"auto_close_after": "2d"}
    raw["trackers"]["demo"]["severities"] = {"P1": "bloquante"}
    raw["trackers"]["demo"]["customers"]["strasbourg"].pop("contract")
    raw["trackers"]["other"] = {**copy.deepcopy(DEMO_TRACKER), "contract": "alsace",
                                "severities": {"P1": "critique"}}
    config = load(raw)
    fr, alsace, default = (config.contracts.get(k) for k in ("fr", "alsace", DEFAULT))
    assert list(fr.policy.severities) == list(default.policy.severities)  # fr gives only its calendar
    assert fr.policy.auto_close_after == default.policy.auto_close_after
    assert list(alsace.policy.severities) == ["critique"] and str(alsace.policy.auto_close_after) == "2d"
    assert alsace.calendar is not default.calendar and fr.policy.labels == default.policy.labels


def test_entitlement_the_most_specific_section_wins() -> None:
    raw = two_contracts()
    raw["contracts"]["fr"]["entitlement"] = {"reporters": ["group:fr-admins"]}
    raw["contracts"]["alsace"]["entitlement"] = {"reporters": ["group:alsace-admins"]}
    raw["trackers"]["demo"]["customers"]["lille"] = {"projects": ["lille"],
                                                     "entitlement": {"reporters": ["login:lille-admin"]}}
    config = load(raw)
    rules = {name: [str(p) for p in entitlement.reporters] for name, entitlement in (
        (p, config.contract_for(good_friday_ticket("1", p)).policy.rules_for(good_friday_ticket("1", p))[0])
        for p in ("paris", "strasbourg", "lille", "lyon"))}
    assert rules == {"paris": ["group:fr-admins"], "strasbourg": ["group:alsace-admins"],
                     "lille": ["login:lille-admin"], "lyon": ["group:fr-admins"]}


# --- what the configuration refuses ------------------------------------------------------

def test_a_project_under_two_contracts_is_refused_naming_file_and_keys() -> None:
    raw = two_contracts()
    raw["trackers"]["demo"]["customers"]["paris"]["projects"] = ["paris", "STRASBOURG"]
    message = refused(raw)
    assert message.startswith("contract.toml: trackers.demo.customers.strasbourg.projects: project 'strasbourg'")
    assert "trackers.demo.customers.paris.projects, under contract 'fr'" in message
    assert "under contract 'alsace'" in message


def test_an_organisation_under_two_contracts_is_refused() -> None:
    raw = two_contracts()
    raw["trackers"]["demo"]["customers"]["paris"]["organisations"] = ["strasbourg sa"]
    message = refused(raw)
    assert "trackers.demo.customers.strasbourg.organisations: organisation 'Strasbourg SA' is also in" \
        " trackers.demo.customers.paris.organisations" in message


def test_a_project_twice_under_one_contract_and_a_tracker_contract_are_no_overlap() -> None:
    raw = two_contracts()
    raw["trackers"]["demo"]["customers"]["lyon"] = {"projects": ["paris"], "contract": "fr"}
    config = load(raw)  # the tracker is under fr, its customer strasbourg under alsace: the customer's wins
    assert config.contract_for(good_friday_ticket("1", "paris")).key == "fr"


@pytest.mark.parametrize("where", ["tracker", "customer"])
def test_an_unknown_contract_is_refused(where: str) -> None:
    raw = two_contracts()
    section = raw["trackers"]["demo"] if where == "tracker" else raw["trackers"]["demo"]["customers"]["paris"]
    section["contract"] = "alsac"
    key = "trackers.demo.contract" if where == "tracker" else "trackers.demo.customers.paris.contract"
    assert refused(raw).startswith(f"contract.toml: {key}: unknown contract 'alsac'; defined: default, fr, alsace")


def test_a_contract_cannot_be_named_default() -> None:
    raw = two_contracts()
    raw["contracts"]["default"] = {}
    assert "contracts.default: the top-level sections are the contract named 'default'" in refused(raw)


def test_a_tracker_severity_every_contract_it_serves_must_define() -> None:
    raw = two_contracts()
    raw["contracts"]["alsace"]["severities"] = {"critique": {"name": "Critique", "acknowledge": "1h",
                                                             "workaround": "none", "resolution": "none",
                                                             "reminders": ["1d"]}}
    raw["trackers"]["demo"]["severities"] = {"P1": "bloquante"}
    message = refused(raw)
    assert "trackers.demo.severities maps to unknown severity 'bloquante' for contract 'alsace'" \
        " (trackers.demo.customers.strasbourg)" in message


def test_a_contracts_own_sections_are_validated_with_their_key() -> None:
    raw = two_contracts()
    raw["contracts"]["alsace"]["calendar"]["hours"]["monday"] = ["17:00-08:00"]
    assert "contracts.alsace.calendar.hours.monday.0: opening hours '17:00-08:00' end" in refused(raw)
    raw = two_contracts()
    raw["contracts"]["alsace"]["labels"] = {"prefix": "x-"}
    assert "contracts.alsace.labels: unknown key" in refused(raw)
    raw = two_contracts()
    raw["contracts"]["alsace"]["calendar"]["subdivision"] = "Atlantis"
    assert "contract.toml: contracts.alsace.calendar: no public holidays known" in refused(raw)


# --- the sync, on each contract's calendar -----------------------------------------------

def test_same_history_different_deadlines_across_good_friday() -> None:
    """Thursday 17 April 2025 16:00, bloquante: 3h to acknowledge, 24h to a workaround, 5 days to resolve.

    Paris (09:00-18:00; Good Friday is worked, Easter Monday 21 April is not):
      acknowledge  Thu 16:00-18:00 = 2h, Fri 18 09:00-10:00 = 1h        -> Fri 18 April 10:00
      workaround   Thu 2h + Fri 9h + Tue 22 9h + Wed 23 09:00-13:00 4h  -> Wed 23 April 13:00
      resolution   Fri 18, Tue 22, Wed 23, Thu 24, Fri 25 (5th day)     -> Fri 25 April 16:00
    Strasbourg (08:00-17:00; Good Friday 18 and Easter Monday 21 are holidays):
      acknowledge  Thu 16:00-17:00 = 1h, Tue 22 08:00-10:00 = 2h        -> Tue 22 April 10:00
      workaround   Thu 1h + Tue 22 9h + Wed 23 9h + Thu 24 08:00-13:00  -> Thu 24 April 13:00
      resolution   Tue 22, Wed 23, Thu 24, Fri 25, Mon 28 (5th day)     -> Mon 28 April 16:00
    """
    h = Harness(load(two_contracts()), good_friday_ticket("1", "paris"), good_friday_ticket("2", "strasbourg"),
                now="2025-04-17T16:30:00+02:00")
    h.sync("2025-04-17T16:30:00+02:00")  # not acknowledged yet: the due date is the acknowledge deadline
    assert h.due("1") == T("2025-04-18T10:00:00+02:00")
    assert h.due("2") == T("2025-04-22T10:00:00+02:00")
    assert h.due("1").date().isoformat() == "2025-04-18" and h.tracker.tickets["2"].due_date.isoformat() == \
        "2025-04-22"
    h.sync("2025-04-17T17:30:00+02:00")  # acknowledged at 16:45 on both: the workaround is due next
    assert h.due("1") == T("2025-04-23T13:00:00+02:00")
    assert h.due("2") == T("2025-04-24T13:00:00+02:00")
    assert h.deadline("1", "resolution") == T("2025-04-25T16:00:00+02:00")
    assert h.deadline("2", "resolution") == T("2025-04-28T16:00:00+02:00")
    assert h.tracker.tickets["1"].labels == h.tracker.tickets["2"].labels == {"sla-bloquante"}
    writes = h.tracker.writes
    h.sync("2025-04-18T12:00:00+02:00")  # nothing changed: zero writes, whatever the contract
    assert h.tracker.writes == writes


def test_same_wait_different_reminders_and_closure_across_26_december() -> None:
    """Waiting from Wednesday 24 December 2025 10:00; bloquante: reminders after 1, 2, 3 business days,
    closure one business day after the third.

    Paris (25 December off, 26 worked):   reminders Fri 26, Mon 29, Tue 30 10:00; closed Wed 31 10:00.
    Strasbourg (25 and 26 off, 1 January off): reminders Mon 29, Tue 30, Wed 31 10:00; closed Fri 2 Jan 10:00.
    """
    h = Harness(load(two_contracts()), christmas_ticket("1", "paris"), christmas_ticket("2", "strasbourg"),
                now="2025-12-24T10:30:00+01:00")
    h.sync("2025-12-24T10:30:00+01:00")
    steps = {"2025-12-26T10:30:00+01:00": (1, 0), "2025-12-29T10:30:00+01:00": (2, 1),
             "2025-12-30T10:30:00+01:00": (3, 2), "2025-12-31T10:30:00+01:00": (3, 3),
             "2026-01-02T10:30:00+01:00": (3, 3)}
    for at, (paris, strasbourg) in steps.items():
        h.sync(at)
        reminders = [[k for k in h.keys(i) if "/reminder/" in k] for i in ("1", "2")]
        assert [len(r) for r in reminders] == [paris, strasbourg], at
    assert h.status("1") == "closed" and h.status("2") == "closed"
    closed_at = {i: next(e.at for e in h.tracker.tickets[i].events if isinstance(e, StatusChange)
                         and e.to_status == "closed") for i in ("1", "2")}
    assert closed_at == {"1": T("2025-12-31T10:30:00+01:00"), "2": T("2026-01-02T10:30:00+01:00")}
    h.sync("2026-01-02T10:30:00+01:00")  # a rerun sends nothing twice
    assert [len(h.keys(i)) for i in ("1", "2")] == [4, 4]  # three reminders and the closure notice each


def test_idempotency_keys_carry_no_contract_name() -> None:
    """A deployment that adds contracts keeps its keys: the default contract's (and every other's) keys
    are those a single-contract deployment writes, so nothing already sent is sent again."""
    single = Harness(builtin_config(), christmas_ticket("1", "paris"), now="2025-12-24T10:30:00+01:00")
    several = Harness(load(two_contracts()), christmas_ticket("1", "paris"), now="2025-12-24T10:30:00+01:00")
    for h in (single, several):
        h.sync("2025-12-24T10:30:00+01:00")
        h.sync("2025-12-26T10:30:00+01:00")
    assert single.keys("1") == several.keys("1") and len(single.keys("1")) == 1
    assert not any(name in key for key in several.keys("1") for name in ("fr", "alsace", DEFAULT))
