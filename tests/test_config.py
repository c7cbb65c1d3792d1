"""The contract as configuration: the example encodes the annex; bad files fail precisely."""

from __future__ import annotations

import copy
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sla_bridge.config import config_from_mapping, load_config
from sla_bridge.secrets import SecretRef
from sla_bridge.errors import ConfigError
from sla_bridge.policy import Clock, Duration, ResolutionKind, StatusRole, Unit, parse_duration

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


@pytest.fixture()
def raw() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def test_example_encodes_the_contract() -> None:
    policy = load_config(EXAMPLE).policy
    b, ma, mi = (policy.severities[k] for k in ("bloquante", "majeure", "mineure"))
    assert (b.acknowledge, b.workaround, b.resolution) == (Duration(180, Unit.MINUTES), Duration(1440, Unit.MINUTES),
                                                           Duration(5, Unit.DAYS))
    assert (ma.acknowledge, ma.workaround, ma.resolution) == (Duration(180, Unit.MINUTES),
                                                              Duration(4320, Unit.MINUTES), Duration(8, Unit.DAYS))
    assert (mi.acknowledge, mi.workaround, mi.resolution) == (Duration(2, Unit.DAYS), None, None)
    assert mi.resolution_kind is ResolutionKind.NEXT_MINOR_RELEASE
    assert [r.amount for r in b.reminders] == [1, 2, 3]
    assert [r.amount for r in ma.reminders] == [3, 6, 9]
    assert [r.amount for r in mi.reminders] == [5, 10, 15]
    assert policy.auto_close_after == Duration(1, Unit.DAYS)
    assert all(roles == {StatusRole.WAITING_FOR_CUSTOMER} for roles in policy.paused_by.values())
    assert policy.at_risk_threshold == 0.75


def test_example_calendar_is_the_support_calendar() -> None:
    cal = load_config(EXAMPLE).calendar
    assert str(cal.zone) == "Europe/Paris"
    from datetime import date

    assert [len(cal.hours_on(date(2025, 6, d))) for d in range(2, 9)] == [1, 1, 1, 1, 1, 0, 0]
    assert cal.hours_on(date(2025, 5, 1)) == ()  # Fête du Travail
    assert cal.is_business_day(date(2025, 6, 9)) is False  # Whit Monday


def _set(raw: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(raw)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(("path", "value", "expected"), [
    ("severities.bloquante.acknowledge", 3, "severities.bloquante.acknowledge: expected a positive duration"),
    ("severities.bloquante.acknowledge", "-3h", 'severities.bloquante.acknowledge: expected a positive duration'),
    ("severities.bloquante.acknowledge", "0h", "severities.bloquante.acknowledge: expected a duration greater"),
    ("severities.majeure.workaround", "72", "severities.majeure.workaround: expected a positive duration"),
    ("severities.majeure.reminders", [], "severities.majeure.reminders: List should have at least 1 item"),
    ("severities.majeure.resolution", "soon", "severities.majeure.resolution: expected a positive duration"),
    ("severities.majeure.colour", "red", "severities.majeure.colour: unknown key"),
    ("clocks.at_risk_threshold", 1.5, "clocks.at_risk_threshold: Input should be less than 1"),
    ("clocks.at_risk_threshold", "high", "clocks.at_risk_threshold: Input should be a valid number"),
    ("clocks.paused_by.acknowledge", ["on_holiday"], "clocks.paused_by.acknowledge.0: Input should be"),
    ("calendar.timezone", "Europe/Pariss", "calendar.timezone: unknown IANA time zone 'Europe/Pariss'"),
    ("calendar.hours.monday", ["18:00-09:00"], "calendar.hours.monday.0: opening hours '18:00-09:00' end"),
    ("calendar.hours.monday", ["9h-18h"], 'calendar.hours.monday.0: expected opening hours like "09:00-18:00"'),
    ("calendar.hours.funday", ["09:00-18:00"], "calendar.hours.funday"),
    ("calendar.closed_dates", ["2025-02-30"], "calendar.closed_dates.0"),
    ("severities", {}, "severities: Dictionary should have at least 1 item"),
    ("severities", _DELETE, "severities: required key is missing"),
    ("calendar", _DELETE, "calendar: required key is missing"),
    ("labels.at_risk", "at-risk", "every SLA label must start with the prefix 'sla-'"),
    ("labels.severity", {"critique": "sla-critique"}, "labels.severity names unknown severity 'critique'"),
    ("templates.reminder", "Hello {title.__class__}", None),
    ("templates.reminder", "Hello $name", "templates.reminder: unknown placeholder(s) $name"),
    ("templates.language", "de", "templates.language: Input should be 'fr' or 'en'"),
    ("unknown_section", {}, "unknown_section: unknown key"),
])
def test_broken_config_names_file_key_and_expectation(raw: dict[str, Any], path: str, value: Any,
                                                      expected: str | None) -> None:
    data = _set(raw, path, value)
    if expected is None:  # accepted: braces are plain text in a $-template
        config_from_mapping(data, Path("contract.toml"))
        return
    with pytest.raises(ConfigError) as info:
        config_from_mapping(data, Path("contract.toml"))
    message = str(info.value)
    assert message.startswith("contract.toml: "), message
    assert expected in message, message
    assert info.value.exit_code == 2


def test_tracker_mapping_to_unknown_severity_is_refused(raw: dict[str, Any]) -> None:
    raw["trackers"] = {"redmine": {"adapter": "redmine", "statuses": {"new": ["New"]}, "agents": ["role:Support"],
                                   "severities": {"Urgent": "critique"}}}
    with pytest.raises(ConfigError, match="trackers.redmine.severities maps to unknown severity 'critique'"):
        config_from_mapping(raw, Path("c.toml"))


def test_a_status_mapped_to_two_roles_is_refused(raw: dict[str, Any]) -> None:
    raw["statuses"]["closed"] = ["closed", "resolved"]
    with pytest.raises(ConfigError, match="statuses: status 'resolved' is mapped to both"):
        config_from_mapping(raw, Path("c.toml"))


def test_tracker_mapping_is_case_insensitive(raw: dict[str, Any]) -> None:
    raw["trackers"] = {"rm": {"adapter": "redmine", "statuses": {"waiting_for_customer": ["Feedback"]},
                              "agents": ["group:support"], "severities": {"Urgent": "bloquante"}}}
    policy = config_from_mapping(raw).policy
    assert policy.status_map("rm").role("FEEDBACK") is StatusRole.WAITING_FOR_CUSTOMER
    assert policy.status_map("rm").severity("urgent") == "bloquante"
    assert policy.status_map("rm").severity("majeure") == "majeure"  # contract names always map to themselves
    assert policy.status_map("json").role("closed") is StatusRole.CLOSED


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[calendar\ntimezone = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.toml: invalid TOML: .*line 1"):
        load_config(bad)
    with pytest.raises(ConfigError, match="nope.toml: no such configuration file"):
        load_config(tmp_path / "nope.toml")


def test_breached_labels_must_cover_every_clock(raw: dict[str, Any]) -> None:
    del raw["labels"]["breached"]["workaround"]
    with pytest.raises(ConfigError, match=r"missing: \['workaround'\]"):
        config_from_mapping(raw)


@pytest.mark.parametrize(("text", "expected"), [
    ("3h", Duration(180, Unit.MINUTES)), ("90m", Duration(90, Unit.MINUTES)), ("5d", Duration(5, Unit.DAYS)),
    (" 24 h ", Duration(1440, Unit.MINUTES)),
])
def test_durations_need_a_unit(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["3", "3 hours", "-1d", "0m", "1.5h", ""])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_secrets_come_from_env_or_file_and_never_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLA_TEST_TOKEN", "s3cr3t")
    ref = SecretRef(env="SLA_TEST_TOKEN")
    assert ref.reveal() == "s3cr3t"
    assert "s3cr3t" not in repr(ref)
    secret_file = tmp_path / "token"
    secret_file.write_text("from-file\n", encoding="utf-8")
    assert SecretRef(file=secret_file).reveal() == "from-file"
    monkeypatch.delenv("SLA_TEST_TOKEN")
    with pytest.raises(ConfigError, match="environment variable SLA_TEST_TOKEN is not set"):
        ref.reveal()
    with pytest.raises(ValueError, match="exactly one of"):
        SecretRef()


def test_clock_names_are_the_contract_vocabulary() -> None:
    assert [c.value for c in Clock] == ["acknowledge", "workaround", "resolution"]


def test_round_the_clock_hours(raw: dict[str, Any]) -> None:
    from datetime import date

    raw["calendar"]["hours"]["saturday"] = ["00:00-24:00"]
    cal = config_from_mapping(raw).calendar
    assert cal.between(datetime(2025, 6, 7, tzinfo=cal.zone), datetime(2025, 6, 8, tzinfo=cal.zone)) == 1440
    assert cal.is_business_day(date(2025, 6, 7))


# --- identities -------------------------------------------------------------------------------------

def _tracker(**more: Any) -> dict[str, Any]:
    return {"adapter": "redmine", "statuses": {"new": ["New"]}, **more}


def test_a_tracker_without_agents_is_refused(raw: dict[str, Any]) -> None:
    raw["trackers"] = {"rm": _tracker()}
    with pytest.raises(ConfigError, match=r"c.toml: trackers.rm.agents: no agents: name the support staff"):
        config_from_mapping(raw, Path("c.toml"))


@pytest.mark.parametrize("agent, message", [
    pytest.param("Sam Agent", "looks like a display name", id="display-name"),
    pytest.param("nickname:sam", "unknown identity kind 'nickname'", id="unknown-kind"),
    pytest.param("login:", "nothing after login:", id="empty-value"),
])
def test_agents_in_an_invalid_identity_form_are_refused(raw: dict[str, Any], agent: str, message: str) -> None:
    raw["trackers"] = {"rm": _tracker(agents=["login:sam", agent])}
    with pytest.raises(ConfigError, match=rf"trackers.rm.agents.1: .*{message}"):
        config_from_mapping(raw, Path("c.toml"))


def test_entitlement_reporters_are_identity_patterns(raw: dict[str, Any]) -> None:
    raw["entitlement"]["reporters"] = ["Alice Martin"]
    with pytest.raises(ConfigError, match=r"entitlement.reporters.0: 'Alice Martin' looks like a display name"):
        config_from_mapping(raw, Path("c.toml"))


def test_entitlement_and_scope_per_tracker_and_per_customer(raw: dict[str, Any]) -> None:
    from sla_bridge.identity import Person
    from sla_bridge.model import Ticket
    raw["entitlement"]["reporters"] = ["login:global-admin"]
    raw["trackers"] = {"rm": _tracker(
        agents=["role:Support"], entitlement={"reporters": ["login:cust-admin", "email:a@b.fr"]},
        scope={"out_of_scope_fields": {"category": ["Training"]}},
        customers={"acme": {"projects": ["acme-support"], "entitlement": {"groups": ["acme-admins"]}}})}
    policy = config_from_mapping(raw).policy

    def ticket(tracker: str, person: Person, project: str | None = None, **more: Any) -> Ticket:
        return Ticket(tracker, "1", "t", person, datetime.fromisoformat("2025-03-11T10:00+01:00"), "New", None,
                      project=project, **more)

    def entitled(t: Ticket) -> bool:
        return policy.rules_for(t)[0].allows(t)

    assert entitled(ticket("json", Person(login="global-admin")))
    assert not entitled(ticket("json", Person(login="cust-admin")))
    assert entitled(ticket("rm", Person(id="7", login="cust-admin", name="Alice Martin")))
    assert entitled(ticket("rm", Person(login="x", email="A@B.fr")))
    assert not entitled(ticket("rm", Person(login="global-admin", name="cust-admin")))  # names never match
    assert entitled(ticket("rm", Person(login="bob", groups=frozenset({"ACME-admins"})), "acme-support"))
    assert not entitled(ticket("rm", Person(login="cust-admin"), "acme-support"))
    scope = policy.rules_for(ticket("rm", Person(login="x")))[1]
    assert scope.excludes(ticket("rm", Person(login="x"), fields=frozenset({("category", "training")})),
                          frozenset())
    assert not scope.excludes(ticket("rm", Person(login="x"), fields=frozenset({("category", "Bug")})),
                              frozenset())


def test_a_customer_needs_a_selector(raw: dict[str, Any]) -> None:
    raw["trackers"] = {"rm": _tracker(agents=["group:support"], customers={"acme": {}})}
    with pytest.raises(ConfigError, match=r"trackers.rm.customers.acme: a customer needs projects"):
        config_from_mapping(raw, Path("c.toml"))
