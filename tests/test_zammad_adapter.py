"""The Zammad adapter against recorded HTTP (``responses``), with JSON shaped like Zammad's.

The fixtures follow Zammad's API documentation (docs.zammad.org: api/intro "expand",
api/user, api/ticket, api/ticket/articles, api/ticket/tags, api/ticket/states,
api/ticket/priorities, api/object) and its source (``TicketsController#search`` and
``#ticket_history``, ``History.list``, ``HasHistory#history_update``,
``ApplicationModel::CanAssociations#attributes_with_association_names``,
``HasGroups#group_names_access_map``, ``Ticket::Article::AddsMetadataOriginById``,
``TagsController``). Display names ("Samantha Durand") deliberately differ from
logins: people are matched on identities, never on names.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from sla_bridge.actions import PostComment, SetDueDate, SetLabels
from sla_bridge.adapters import zammad as zammad_module
from sla_bridge.adapters.base import (
    Adapter,
    Check,
    ConnectionCheck,
    OutOfScope,
    PermanentError,
    SkippableError,
    TransientError,
)
from sla_bridge.adapters.zammad import ZammadAdapter
from sla_bridge.config import StatusesSection, TrackerSection
from sla_bridge.demo import builtin_config
from sla_bridge.engine import evaluate
from sla_bridge.errors import ConfigError
from sla_bridge.httpclient import RetryPolicy
from sla_bridge.identity import Person
from sla_bridge.markers import markers_in
from sla_bridge.model import Comment, FieldChange, LabelChange, Role, SeverityChange, StatusChange
from sla_bridge.plugins import BUILTIN_PLUGINS, build_plugin_manager, build_registry

URL = "http://zammad.test"
API = f"{URL}/api/v1"
TOKEN = "s3cret-t0ken"
SLEEPS: list[float] = []


def ticket(id: int = 7, **extra: Any) -> dict[str, Any]:
    """``GET /api/v1/tickets/7?expand=true`` (attributes_with_association_names)."""
    data: dict[str, Any] = {
        "id": id, "group_id": 1, "priority_id": 3, "state_id": 3, "organization_id": 2, "number": f"3100{id}",
        "title": "Server down", "owner_id": 4, "customer_id": 10, "note": None, "first_response_at": None,
        "first_response_escalation_at": None, "first_response_in_min": None, "first_response_diff_in_min": None,
        "close_at": None, "close_escalation_at": None, "close_in_min": None, "close_diff_in_min": None,
        "update_escalation_at": None, "update_in_min": None, "update_diff_in_min": None,
        "last_contact_at": "2025-06-02T08:30:00.000Z", "last_contact_agent_at": "2025-06-02T08:30:00.000Z",
        "last_contact_customer_at": "2025-06-02T10:00:00.000Z", "last_owner_update_at": None,
        "create_article_type_id": 1, "create_article_sender_id": 2, "article_count": 5, "escalation_at": None,
        "pending_time": "2025-06-03T09:00:00.000Z", "type": None, "time_unit": None, "preferences": {},
        "updated_by_id": 10, "created_by_id": 10, "created_at": "2025-06-02T08:00:00.000Z",
        "updated_at": "2025-06-02T10:00:00.000Z", "sla_due_at": "2025-06-02T22:30:00.000Z",
        "article_ids": [15, 14, 13, 12, 11], "ticket_time_accounting_ids": [], "group": "Users",
        "organization": "Customer Inc.", "ticket_time_accounting": [], "state": "pending reminder",
        "priority": "3 high", "owner": "sam@support.example", "customer": "alice@customer.example",
        "created_by": "alice@customer.example", "updated_by": "alice@customer.example",
        "create_article_type": "email", "create_article_sender": "Customer",
    }
    data.update(extra)
    return data


def user(id: int, login: str, email: str, firstname: str = "", lastname: str = "", organization_id: int | None = 2,
         role_ids: Iterable[int] = (3,), group_ids: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """A user as ``GET /users/{id}`` (and the history's assets) render it: associations as ids,
    ``group_ids`` a map of group id -> access list (api/user.rst)."""
    return {"id": id, "organization_id": organization_id, "login": login, "firstname": firstname,
            "lastname": lastname, "email": email, "image": None, "image_source": None, "web": "", "phone": "",
            "fax": "", "mobile": "", "department": "", "street": "", "zip": "", "city": "", "country": "",
            "address": "", "vip": False, "verified": False, "active": True, "note": "", "last_login": None,
            "source": None, "login_failed": 0, "out_of_office": False, "out_of_office_start_at": None,
            "out_of_office_end_at": None, "out_of_office_replacement_id": None, "preferences": {},
            "updated_by_id": 1, "created_by_id": 1, "created_at": "2025-01-06T08:00:00.000Z",
            "updated_at": "2025-01-06T08:00:00.000Z", "role_ids": list(role_ids), "two_factor_preference_ids": [],
            "organization_ids": [], "authorization_ids": [], "overview_sorting_ids": [],
            "group_ids": group_ids or {}}


def expanded(data: dict[str, Any], roles: list[str], organization: str | None, groups: dict[str, list[str]],
             organizations: list[str] | None = None) -> dict[str, Any]:
    """``GET /users/{id}?expand=true``: the same plus names (api/intro.rst "expand", user payload)."""
    return data | {"roles": roles, "two_factor_preferences": [], "organizations": organizations or [],
                   "authorizations": [], "overview_sortings": [], "organization": organization, "groups": groups,
                   "created_by": "-", "updated_by": "-"}


ME_IDS = user(3, "sla-bridge", "sla-bridge@support.example", "SLA", "Bridge", 1, [2], {"1": ["full"], "2": ["full"]})
ME = expanded(ME_IDS, ["Agent"], "Support SARL", {"Users": ["full"], "2nd Level": ["full"]})
SAM_IDS = user(4, "sam@support.example", "sam@support.example", "Samantha", "Durand", 1, [2], {"1": ["full"]})
SAM = expanded(SAM_IDS, ["Agent"], "Support SARL", {"Users": ["full"]})
ALICE_IDS = user(10, "alice@customer.example", "alice@customer.example", "Alice", "Martin")
ALICE = expanded(ALICE_IDS, ["Customer"], "Customer Inc.", {})
USERS = {3: ME, 4: SAM, 10: ALICE}


def entry(id: int, at: str, by: int, kind: str = "updated", attribute: str | None = None, **values: Any
          ) -> dict[str, Any]:
    """One ``History.list`` item as ``ticket_history`` renders it."""
    data: dict[str, Any] = {"id": id, "o_id": 7, "history_attribute_id": None, "related_history_object_id": None,
                            "sourceable_id": None, "sourceable_type": None, "sourceable_name": None,
                            "created_by_id": by, "created_at": at, "object": "Ticket", "type": kind}
    if attribute is not None:
        del data["history_attribute_id"]
        data["attribute"] = attribute
    data.update(values)
    return data


HISTORY: dict[str, Any] = {
    "history": [
        entry(101, "2025-06-02T08:00:00.000Z", 10, "created"),
        {"id": 102, "o_id": 11, "related_o_id": 7, "history_attribute_id": None, "sourceable_id": None,
         "sourceable_type": None, "sourceable_name": None, "created_by_id": 10,
         "created_at": "2025-06-02T08:00:00.000Z", "object": "Ticket::Article", "type": "created",
         "related_object": "Ticket"},
        entry(103, "2025-06-02T08:30:00.000Z", 4, attribute="state", value_from="new", value_to="open",
              id_from=1, id_to=2),
        entry(104, "2025-06-02T08:40:00.000Z", 4, attribute="priority", value_from="2 normal", value_to="3 high",
              id_from=2, id_to=3),
        entry(105, "2025-06-02T08:40:00.000Z", 4, "added", attribute="tag", value_to="contournement"),
        entry(106, "2025-06-02T09:00:00.000Z", 4, attribute="state", value_from="open",
              value_to="pending reminder", id_from=2, id_to=3),
        entry(107, "2025-06-02T09:00:00.000Z", 4, attribute="pending_time", value_from="",
              value_to="2025-06-03 09:00:00 UTC"),
        entry(108, "2025-06-02T09:10:00.000Z", 3, attribute="sla_due_at", value_from="",
              value_to="2025-06-02 22:30:00 UTC"),
        entry(109, "2025-06-02T09:20:00.000Z", 4, "removed", attribute="tag", value_to="contournement"),
    ],
    # History.list's assets: each user with ids only (User#assets), no names
    "assets": {"User": {"3": ME_IDS, "4": SAM_IDS, "10": ALICE_IDS}},
}


def article(id: int, at: str, by: int, login: str, sender: str, type: str, internal: bool, body: str,
            origin_by_id: int | None = None) -> dict[str, Any]:
    """One article as ``GET /ticket_articles/by_ticket/7`` renders it (``from`` is a display name)."""
    name = {3: "SLA Bridge", 4: "Samantha Durand", 10: "Alice Martin"}.get(by, login)
    return {"id": id, "ticket_id": 7, "type_id": {"email": 1, "phone": 5, "note": 10, "web": 11}[type],
            "sender_id": {"Agent": 1, "Customer": 2, "System": 3}[sender], "from": name, "to": None, "cc": None,
            "subject": None, "reply_to": None, "message_id": None, "message_id_md5": None, "in_reply_to": None,
            "content_type": "text/html", "references": None, "body": body, "internal": internal,
            "preferences": {}, "updated_by_id": by, "created_by_id": by, "origin_by_id": origin_by_id,
            "created_at": at, "updated_at": at, "attachments": [], "type": type, "sender": sender,
            "created_by": login, "updated_by": login, "time_unit": None}


ARTICLES = [
    article(11, "2025-06-02T08:00:00.000Z", 10, "alice@customer.example", "Customer", "email", False,
            "The server is down."),
    article(12, "2025-06-02T08:30:00.000Z", 4, "sam@support.example", "Agent", "email", False, "Looking into it"),
    article(13, "2025-06-02T08:45:00.000Z", 4, "sam@support.example", "Agent", "note", True, "check the logs"),
    article(14, "2025-06-02T09:00:00.000Z", 4, "sam@support.example", "Agent", "email", False, "Please test"),
    article(15, "2025-06-02T10:00:00.000Z", 10, "alice@customer.example", "Customer", "web", False, "Testing",
            origin_by_id=10),
]


def make_adapter(agents: tuple[str, ...] = ("sam@support.example",), fields: dict[str, Any] | None = None,
                 statuses: StatusesSection | None = None, severities: dict[str, str] | None = None,
                 closing_status: str | None = "closed", **options: Any) -> ZammadAdapter:
    section = TrackerSection.model_validate({
        "adapter": "zammad", "statuses": statuses or StatusesSection(new=["new"]), "agents": list(agents),
        "closing_status": closing_status, "fields": fields or {}, "severities": severities or {},
        "options": {"url": URL, "token": {"env": "SLA_TEST_ZAMMAD_TOKEN"}, "due_attribute": "sla_due_at", **options}})
    return ZammadAdapter("zm", section, builtin_config(), retry=RetryPolicy(attempts=3, sleep=SLEEPS.append))


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLA_TEST_ZAMMAD_TOKEN", TOKEN)
    SLEEPS.clear()


def users(rsps: Any, known: dict[int, dict[str, Any]] | None = None) -> None:
    """``GET /users/me?expand=true`` and ``GET /users/{id}?expand=true`` for `known` users."""
    rsps.get(f"{API}/users/me", json=ME, match=[matchers.query_param_matcher({"expand": "true"})])
    for uid, data in (USERS if known is None else known).items():
        rsps.get(f"{API}/users/{uid}", json=data, match=[matchers.query_param_matcher({"expand": "true"})])


def reads(rsps: Any, raw: dict[str, Any] | None = None, tags: list[str] | None = None,
          history: dict[str, Any] | None = None, articles: list[dict[str, Any]] | None = None,
          known: dict[int, dict[str, Any]] | None = None) -> None:
    users(rsps, known)
    rsps.get(f"{API}/tickets/7", json=raw if raw is not None else ticket(),
             match=[matchers.query_param_matcher({"expand": "true"}),
                    matchers.header_matcher({"Authorization": f"Token token={TOKEN}"})])
    rsps.get(f"{API}/tags", json={"tags": tags if tags is not None else ["sla-bloquante", "vip"]},
             match=[matchers.query_param_matcher({"object": "Ticket", "o_id": "7"})])
    rsps.get(f"{API}/ticket_history/7", json=history if history is not None else HISTORY)
    rsps.get(f"{API}/ticket_articles/by_ticket/7", json=articles if articles is not None else ARTICLES)


def user_calls(rsps: Any) -> list[str]:
    return [c.request.url.split("?")[0].rsplit("/", 1)[-1] for c in rsps.calls if "/users/" in c.request.url]


# --- reading -------------------------------------------------------------------------

@responses.activate
def test_fetch_builds_the_history_from_ticket_history_and_articles() -> None:
    reads(responses.mock)
    t = make_adapter().fetch("7")
    assert (t.id, t.tracker, t.title, t.status, t.severity, t.project) == (
        "7", "zm", "Server down", "pending reminder", "3 high", "Users")
    assert t.reporter == Person(id="10", login="alice@customer.example", email="alice@customer.example",
                                name="Alice Martin", groups=frozenset(), roles=frozenset({"Customer"}),
                                organisations=frozenset({"Customer Inc."}))
    assert t.labels == {"sla-bloquante", "vip"}
    assert t.created == datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    assert t.updated == datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
    assert t.due_at == datetime(2025, 6, 2, 22, 30, tzinfo=UTC)
    assert t.due_date == date(2025, 6, 3), "the date in the calendar's zone (00:30 in Paris), not in UTC"
    assert t.initial_status() == "new" and t.initial_severity() == "2 normal"
    statuses = [e for e in t.events if isinstance(e, StatusChange)]
    assert [(s.from_status, s.to_status, s.by, s.by_role) for s in statuses] == [
        ("new", "open", "sam@support.example", Role.AGENT),
        ("open", "pending reminder", "sam@support.example", Role.AGENT)]
    assert [(e.from_severity, e.to_severity) for e in t.events if isinstance(e, SeverityChange)] == [
        ("2 normal", "3 high")]
    assert [(e.label, e.added) for e in t.events if isinstance(e, LabelChange)] == [
        ("contournement", True), ("contournement", False)]
    comments = [e for e in t.events if isinstance(e, Comment)]
    assert [(c.author, c.role, c.public, c.body) for c in comments] == [
        ("alice@customer.example", Role.CUSTOMER, True, "The server is down."),
        ("sam@support.example", Role.AGENT, True, "Looking into it"),
        ("sam@support.example", Role.AGENT, False, "check the logs"),
        ("sam@support.example", Role.AGENT, True, "Please test"),
        ("alice@customer.example", Role.CUSTOMER, True, "Testing")]
    assert [e.at for e in t.events] == sorted(e.at for e in t.events)
    assert t.fields == frozenset() and t.reported_at is None


@pytest.mark.parametrize("pattern", ["role:Agent", "role:agent", "group:Users", "login:sam@support.example",
                                     "email:SAM@support.example", "id:4", "4", "org:Support SARL"])
def test_agents_are_matched_on_identities(pattern: str) -> None:
    """The display name "Samantha Durand" is never used; any of Sam's identities can name her."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        reads(rsps)
        t = make_adapter(agents=(pattern,)).fetch("7")
    assert {(c.author, c.role) for c in t.events if isinstance(c, Comment)} == {
        ("alice@customer.example", Role.CUSTOMER), ("sam@support.example", Role.AGENT)}


def test_a_display_name_is_refused_as_an_agent() -> None:
    with pytest.raises(ValueError, match="looks like a display name"):
        make_adapter(agents=("Samantha Durand",))


@responses.activate
def test_each_user_is_looked_up_once_then_kept_for_the_cache_time() -> None:
    reads(responses.mock)
    adapter = make_adapter(agents=("role:Agent",))
    now = [0.0]
    adapter.directory.clock = lambda: now[0]
    adapter.fetch("7")
    assert sorted(user_calls(responses.mock)) == ["10", "4", "me"], "alice, sam and the API user, once each"
    adapter.fetch("7")
    assert len(user_calls(responses.mock)) == 3
    now[0] = 3600.5  # user_cache_seconds later: roles may have changed
    adapter.fetch("7")
    assert sorted(user_calls(responses.mock)) == ["10", "10", "4", "4", "me"]


@responses.activate
def test_the_state_changes_roles_follow_the_configured_identities() -> None:
    history = {"history": [
        entry(1, "2025-06-02T08:10:00.000Z", 10, attribute="state", value_from="pending reminder", value_to="open"),
        entry(2, "2025-06-02T08:20:00.000Z", 12, attribute="state", value_from="open", value_to="new"),
        entry(3, "2025-06-02T08:30:00.000Z", 1, attribute="state", value_from="new", value_to="closed"),
        entry(4, "2025-06-02T08:40:00.000Z", 10, attribute="state", value_from="closed", value_to="open",
              sourceable_type="Trigger", sourceable_id=5, sourceable_name="reopen on answer"),
        entry(5, "2025-06-02T08:50:00.000Z", 3, attribute="state", value_from="open", value_to="pending reminder"),
        entry(6, "2025-06-02T09:00:00.000Z", 4, attribute="state", value_from="pending reminder", value_to="open"),
        entry(7, "2025-06-02T09:10:00.000Z", 13, attribute="state", value_from="open", value_to="new"),
    ], "assets": {"User": {"10": ALICE_IDS, "1": user(1, "-", "", "-", "", None, []),
                           "12": user(12, "max", "max@support.example", "Max", "Weber", 1, [2], {"2": ["full"]})}}}
    max_user = expanded(user(12, "max", "max@support.example", "Max", "Weber", 1, [2], {"2": ["full"]}),
                        ["Agent"], "Support SARL", {"2nd Level": ["full"]})
    reads(responses.mock, history=history, articles=[], known={3: ME, 4: SAM, 10: ALICE, 12: max_user})
    responses.get(f"{API}/users/13", status=404, json={"error": "Couldn't find User with 'id'=13"})
    t = make_adapter(agents=("group:2nd Level",)).fetch("7")
    assert [(s.by, s.by_role) for s in t.events if isinstance(s, StatusChange)] == [
        ("alice@customer.example", Role.CUSTOMER),  # the ticket's customer reopened it
        ("max", Role.AGENT),                        # in a configured group
        ("-", Role.SYSTEM),                         # Zammad itself (pending close reached)
        ("alice@customer.example", Role.SYSTEM),    # a trigger, even one fired by the customer
        ("sla-bridge", Role.AGENT),                 # the token's own user
        ("sam@support.example", Role.CUSTOMER),     # an agent the configuration does not name: per config
        ("13", Role.CUSTOMER)]                      # a user Zammad cannot show: matched on what is known
    assert "1" not in user_calls(responses.mock), "Zammad's own user is never looked up"


@responses.activate
def test_an_agent_article_by_someone_not_in_agents_counts_as_the_customers(caplog: pytest.LogCaptureFixture) -> None:
    reads(responses.mock, articles=ARTICLES[:4])
    with caplog.at_level(logging.WARNING):
        t = make_adapter(agents=("login:someone-else",)).fetch("7")
    assert {c.role for c in t.events if isinstance(c, Comment) and c.author == "sam@support.example"} == {
        Role.CUSTOMER}
    warnings = [r.getMessage() for r in caplog.records if "matches no pattern" in r.getMessage()]
    assert warnings == ["zm: Samantha Durand writes as an agent in Zammad but matches no pattern of"
                        " trackers.zm.agents: their articles and changes count as the customer's"], "once per user"


@responses.activate
def test_system_articles_and_articles_written_for_the_customer() -> None:
    """A trigger's article is the system's whoever fired it; a phone call an agent logs with sender
    Customer carries ``origin_by_id`` (Ticket::Article::AddsMetadataOriginById): it is the customer's."""
    trigger = article(16, "2025-06-02T10:05:00.000Z", 10, "alice@customer.example", "System", "email", False,
                      "Your ticket was received")
    phone = article(17, "2025-06-02T10:10:00.000Z", 4, "sam@support.example", "Customer", "phone", False,
                    "Customer called: still broken", origin_by_id=10)
    reads(responses.mock, articles=[trigger, phone])
    t = make_adapter(agents=("role:Agent",)).fetch("7")
    assert [(c.author, c.role) for c in t.events if isinstance(c, Comment)] == [
        ("alice@customer.example", Role.SYSTEM), ("alice@customer.example", Role.CUSTOMER)]


@responses.activate
def test_a_user_zammad_will_not_show_gives_what_is_known_and_the_ticket_is_still_read() -> None:
    reads(responses.mock, known={10: ALICE})
    responses.get(f"{API}/users/4", status=403, json={"error": "Not authorized", "error_human": "Not authorized"})
    by_login = make_adapter(agents=("login:sam@support.example",))
    t = by_login.fetch("7")
    assert {(c.author, c.role) for c in t.events if isinstance(c, Comment)} >= {("sam@support.example", Role.AGENT)}
    assert by_login.directory.person(4) == Person(id="4", login="sam@support.example"), "remembered, not asked again"
    assert user_calls(responses.mock).count("4") == 1
    by_role = make_adapter(agents=("role:Agent",)).fetch("7")  # the role cannot be known: per config
    assert {c.role for c in by_role.events if isinstance(c, Comment) and c.author == "sam@support.example"} == {
        Role.CUSTOMER}


@responses.activate
def test_a_500_on_a_user_skips_the_ticket_asked_again_later_but_zammad_down_ends_the_pass() -> None:
    # Half-known, an agent would not match `role:Agent` and would count as the customer:
    # the ticket is skipped (and retried), never judged on an id-only person.
    reads(responses.mock, known={4: SAM, 3: ME})
    responses.get(f"{API}/users/10", status=500, json={"error": "Error ID x1: Please contact your administrator."})
    adapter = make_adapter()
    with pytest.raises(SkippableError, match="read user 10: HTTP 500.*read again later"):
        adapter.fetch("7")
    with pytest.raises(SkippableError):
        adapter.fetch("7")
    assert user_calls(responses.mock).count("10") == 6, "3 attempts per read, and not kept"
    responses.replace(responses.GET, f"{API}/users/10", status=502, body="Bad Gateway")
    with pytest.raises(TransientError, match="HTTP 502"):
        make_adapter().fetch("7")


@responses.activate
def test_secondary_organisations_and_entitlement_by_organisation() -> None:
    alice = ALICE | {"organizations": ["Customer Labs"]}
    reads(responses.mock, known={3: ME, 4: SAM, 10: alice})
    t = make_adapter().fetch("7")
    assert t.reporter is not None and t.reporter.organisations == {"Customer Inc.", "Customer Labs"}


@responses.activate
def test_a_reminder_posted_by_sla_bridge_reads_back_with_its_marker() -> None:
    posted = article(16, "2025-06-03T09:01:00.000Z", 3, "sla-bridge", "Agent", "email", False,
                     "Relance 1\n\n[sla-bridge:zm:7/reminder/20250602T0900/1]") | {"content_type": "text/plain"}
    reads(responses.mock, articles=[*ARTICLES, posted])
    last = [e for e in make_adapter().fetch("7").events if isinstance(e, Comment)][-1]
    assert (last.author, last.role, last.public) == ("sla-bridge", Role.AGENT, True)
    assert markers_in(last.body) == {"zm:7/reminder/20250602T0900/1"}


@responses.activate
def test_a_marker_in_an_html_article_is_found_too() -> None:
    """Zammad's HTML sanitizer leaves square brackets alone: a marker quoted or re-posted
    in an HTML article (the web UI's format) still reads as one."""
    html = article(16, "2025-06-03T09:01:00.000Z", 4, "sam@support.example", "Agent", "email", False,
                   "<div>Relance 1</div><div><br></div><div>[sla-bridge:zm:7/reminder/20250602T0900/1]</div>")
    reads(responses.mock, articles=[*ARTICLES, html])
    last = [e for e in make_adapter().fetch("7").events if isinstance(e, Comment)][-1]
    assert markers_in(last.body) == {"zm:7/reminder/20250602T0900/1"}


@responses.activate
def test_missing_and_null_fields() -> None:
    bare = ticket(priority=None, organization=None, sla_due_at=None, title=None, group=None)
    reads(responses.mock, raw=bare, tags=[], history={"history": [], "assets": {}}, articles=[])
    t = make_adapter().fetch("7")
    assert (t.severity, t.due_at, t.due_date, t.title, t.project) == (None, None, None, "", None)
    assert t.labels == frozenset() and t.events == () and t.reporter is not None


# --- fields and reported_at ----------------------------------------------------------

FIELDS = {"category": "category", "Products": "products", "component": "component", "urgent": "urgent",
          "queue": "group_id", "reported_at": "reported_at"}


@responses.activate
def test_fields_read_select_multiselect_tree_boolean_and_id_attributes() -> None:
    raw = ticket(category="hors-contrat", products=["api", "portal"], component="Billing::Invoices", urgent=False,
                 reported_at="2025-06-01T16:30:00.000Z")
    reads(responses.mock, raw=raw, history={"history": [], "assets": {}}, articles=[])
    t = make_adapter(fields=FIELDS).fetch("7")
    assert t.fields == {("category", "hors-contrat"), ("products", "api"), ("products", "portal"),
                        ("component", "Billing::Invoices"), ("urgent", "false"), ("queue", "1")}
    assert t.field_values("Products") == {"api", "portal"}
    assert t.reported_at == datetime(2025, 6, 1, 16, 30, tzinfo=UTC) and t.started == t.reported_at


@responses.activate
def test_field_changes_come_from_the_history() -> None:
    """HasHistory stores ``value.to_s``: a multiselect's array reads like Ruby's ``["a", "b"]``;
    ``group_id`` is logged as ``group`` with names in value_* and ids in id_*."""
    history = {"history": [
        entry(1, "2025-06-02T08:10:00.000Z", 4, attribute="category", value_from="", value_to="standard"),
        entry(2, "2025-06-02T08:20:00.000Z", 4, attribute="category", value_from="standard",
              value_to="hors-contrat"),
        entry(3, "2025-06-02T08:30:00.000Z", 4, attribute="products", value_from='["api"]',
              value_to='["api", "portal"]'),
        entry(4, "2025-06-02T08:40:00.000Z", 4, attribute="products", value_from='["api", "portal"]',
              value_to='["portal"]'),
        entry(5, "2025-06-02T08:50:00.000Z", 4, attribute="group", value_from="2nd Level", value_to="Users",
              id_from=2, id_to=1),
        entry(6, "2025-06-02T09:00:00.000Z", 4, attribute="urgent", value_from="false", value_to="true"),
    ], "assets": {}}
    raw = ticket(category="hors-contrat", products=["portal"], component=None, urgent=True, reported_at=None)
    reads(responses.mock, raw=raw, history=history, articles=[])
    t = make_adapter(fields=FIELDS).fetch("7")
    assert [(e.field, e.old, e.new, e.by) for e in t.events if isinstance(e, FieldChange)] == [
        ("category", None, "standard", "sam@support.example"),
        ("category", "standard", "hors-contrat", "sam@support.example"),
        ("products", None, "portal", "sam@support.example"),
        ("products", "api", None, "sam@support.example"),
        ("queue", "2", "1", "sam@support.example"),
        ("urgent", "false", "true", "sam@support.example")]
    assert t.reported_at is None


@responses.activate
def test_a_missing_field_attribute_or_a_date_reported_at_stops_the_adapter() -> None:
    reads(responses.mock, raw=ticket(), history={"history": [], "assets": {}}, articles=[])
    with pytest.raises(PermanentError, match=r"no attribute 'category' \(trackers.zm.fields.sort\)"):
        make_adapter(fields={"sort": "category"}).fetch("7")
    responses.replace(responses.GET, f"{API}/tickets/7", json=ticket(reported_at="2025-06-01"))
    with pytest.raises(PermanentError, match=r"'reported_at' holds '2025-06-01', a date without a time"
                                             r" \(trackers.zm.fields.reported_at\)"):
        make_adapter(fields={"reported_at": "reported_at"}).fetch("7")


def test_a_field_must_name_an_attribute() -> None:
    with pytest.raises(ConfigError, match=r"trackers.zm.fields.category: expected the name of a Zammad ticket"
                                          r" attribute .* got 12"):
        make_adapter(fields={"category": 12})
    with pytest.raises(ConfigError, match=r"trackers.zm.fields.category: .* got 'Catégorie'"):
        make_adapter(fields={"category": "Catégorie"})


@responses.activate
def test_out_of_scope_by_field_and_entitlement_by_organisation_through_the_engine() -> None:
    """The engine decides from the adapter's identities and fields (org names, select keys)."""
    reads(responses.mock, raw=ticket(category="hors-contrat"), history={"history": [], "assets": {}},
          articles=ARTICLES[:1])
    t = make_adapter(fields={"category": "category"}).fetch("7")
    cfg = builtin_config()
    at = datetime(2025, 6, 2, 12, tzinfo=UTC)
    labels = cfg.policy.labels
    base = evaluate(t, cfg.policy, cfg.calendar, at).desired.labels
    assert labels.out_of_scope not in base and labels.not_entitled not in base
    from dataclasses import replace

    from sla_bridge.identity import parse_pattern
    from sla_bridge.policy import Entitlement, Scope
    scoped = replace(cfg.policy, scope=Scope(out_of_scope_fields=frozenset({("category", "hors-contrat")})))
    assert labels.out_of_scope in evaluate(t, scoped, cfg.calendar, at).desired.labels
    others = replace(cfg.policy, entitlement=Entitlement((parse_pattern("org:Other Corp"),)))
    assert labels.not_entitled in evaluate(t, others, cfg.calendar, at).desired.labels
    ours = replace(cfg.policy, entitlement=Entitlement((parse_pattern("org:customer inc."),)))
    assert labels.not_entitled not in evaluate(t, ours, cfg.calendar, at).desired.labels
@responses.activate
def test_a_missing_due_attribute_stops_the_adapter_with_the_steps() -> None:
    raw = ticket()
    del raw["sla_due_at"]  # Zammad shows every ticket attribute, even empty: this one does not exist
    reads(responses.mock, raw=raw)
    with pytest.raises(PermanentError, match=r"no attribute 'sla_due_at'.*Date & Time.*restart Zammad"):
        make_adapter().fetch("7")


@responses.activate
def test_a_date_attribute_instead_of_date_and_time_stops_the_adapter() -> None:
    reads(responses.mock, raw=ticket(sla_due_at="2025-06-03"))
    with pytest.raises(PermanentError, match=r"'sla_due_at' holds '2025-06-03', a date without a time.*Date & Time"):
        make_adapter().fetch("7")


@responses.activate
def test_malformed_ticket_is_skippable() -> None:
    reads(responses.mock, raw={"id": 7, "sla_due_at": None})
    with pytest.raises(SkippableError, match="ticket 7: unexpected JSON"):
        make_adapter().fetch("7")


@pytest.mark.parametrize("where", ["ticket", "history", "article"])
def test_a_missing_time_skips_the_ticket_instead_of_stopping_the_pass(where: str) -> None:
    """An AssertionError would escape ``Syncer._one`` and end the pass for every ticket."""
    raw, history, articles = ticket(), copy.deepcopy(HISTORY), copy.deepcopy(ARTICLES)
    {"ticket": raw, "history": history["history"][2], "article": articles[1]}[where]["created_at"] = None
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        reads(rsps, raw=raw, history=history, articles=articles)
        with pytest.raises(SkippableError, match="ticket 7: unexpected JSON.*has no time"):
            make_adapter().fetch("7")


@responses.activate
def test_an_unknown_priority_is_kept_and_labelled_by_the_engine() -> None:
    reads(responses.mock, raw=ticket(priority="4 very high", priority_id=4), tags=[], history={"history": []},
          articles=ARTICLES[:1])
    t = make_adapter().fetch("7")
    assert t.severity == "4 very high"
    cfg = builtin_config()
    result = evaluate(t, cfg.policy, cfg.calendar, datetime(2025, 6, 2, 12, tzinfo=UTC))
    assert cfg.policy.labels.unknown_severity in result.desired.labels


@responses.activate
def test_severity_type_and_fix_version_from_attributes() -> None:
    history = {"history": [entry(1, "2025-06-02T08:40:00.000Z", 4, attribute="criticite", value_from="mineure",
                                 value_to="majeure")], "assets": {}}
    reads(responses.mock, raw=ticket(criticite="majeure", type="Incident", fix_version="2.4"), history=history,
          articles=[])
    t = make_adapter(severity_field="criticite", type_attribute="type", fix_version_attribute="fix_version").fetch("7")
    assert (t.severity, t.initial_severity(), t.type, t.fix_version) == ("majeure", "mineure", "Incident", "2.4")


@responses.activate
def test_fetch_refuses_a_ticket_outside_the_configured_groups() -> None:
    reads(responses.mock, raw=ticket(group="2nd Level"))
    with pytest.raises(OutOfScope, match="group '2nd Level', outside trackers.zm.options.groups: left alone"):
        make_adapter(groups=["Users"]).fetch("7")


def search_params(since: str, page: int, per_page: int) -> dict[str, str]:
    return {"condition[ticket.updated_at][operator]": "after (absolute)",
            "condition[ticket.updated_at][value]": since, "sort_by": "updated_at,id", "order_by": "asc,asc",
            "expand": "true", "page": str(page), "per_page": str(per_page)}


def row(id: int, updated: str, group: str = "Users") -> dict[str, Any]:
    return ticket(id, updated_at=updated, group=group)


@responses.activate
def test_change_query_is_a_condition_search_paged_with_keyset() -> None:
    page1 = [row(1, "2025-06-02T09:01:00.000Z"), row(2, "2025-06-02T09:02:00.500Z")]
    page2 = [row(2, "2025-06-02T09:02:00.500Z"), row(3, "2025-06-02T09:05:00.000Z")]
    page3 = [row(3, "2025-06-02T09:05:00.000Z")]
    responses.get(f"{API}/tickets/search", json=page1,
                  match=[matchers.query_param_matcher(search_params("2025-06-02T07:00:00.000Z", 1, 2))])
    responses.get(f"{API}/tickets/search", json=page2,
                  match=[matchers.query_param_matcher(search_params("2025-06-02T09:02:00.500Z", 1, 2))])
    responses.get(f"{API}/tickets/search", json=page3,
                  match=[matchers.query_param_matcher(search_params("2025-06-02T09:05:00.000Z", 1, 2))])
    rows = list(make_adapter(page_size=2).changed_since(datetime.fromisoformat("2025-06-02T09:00:00+02:00")))
    assert [(r.id, r.updated.isoformat()) for r in rows] == [
        ("1", "2025-06-02T09:01:00+00:00"), ("2", "2025-06-02T09:02:00.500000+00:00"),
        ("3", "2025-06-02T09:05:00+00:00")]


@responses.activate
def test_tickets_sharing_one_instant_are_stepped_over_by_page() -> None:
    same = "2025-06-02T09:00:00.000Z"
    responses.get(f"{API}/tickets/search", json=[row(1, same), row(2, same)],
                  match=[matchers.query_param_matcher(search_params(same, 1, 2))])
    responses.get(f"{API}/tickets/search", json=[row(3, same)],
                  match=[matchers.query_param_matcher(search_params(same, 2, 2))])
    responses.get(f"{API}/tickets/search", json=[row(1, same), row(2, same)],
                  match=[matchers.query_param_matcher(search_params("1970-01-01T00:00:00.000Z", 1, 2))])
    # after scanning the bulk twice, paging goes on one millisecond (Zammad's precision) later
    responses.get(f"{API}/tickets/search", json=[],
                  match=[matchers.query_param_matcher(search_params("2025-06-02T09:00:00.001Z", 1, 2))])
    assert [r.id for r in make_adapter(page_size=2).changed_since(None)] == ["1", "2", "3"]


@responses.activate
def test_elasticsearch_mode_sends_a_closed_range_query() -> None:
    query = "updated_at:[2025-06-02T07:00:00.000Z TO 2999-12-31T23:59:59.999Z]"
    responses.get(f"{API}/tickets/search", json=[row(5, "2025-06-02T08:00:00.000Z")],
                  match=[matchers.query_param_matcher({"query": query, "sort_by": "updated_at,id",
                                                       "order_by": "asc,asc", "expand": "true", "page": "1",
                                                       "per_page": "100"})])
    rows = list(make_adapter(search="elasticsearch").changed_since(datetime(2025, 6, 2, 7, tzinfo=UTC)))
    assert [r.id for r in rows] == ["5"]


@responses.activate
def test_list_mode_reads_every_page_and_keeps_the_changed_oldest_first() -> None:
    first = [row(i, f"2025-06-02T0{9 - i % 3}:00:00.000Z") for i in range(1, 101)]
    responses.get(f"{API}/tickets", json=first,
                  match=[matchers.query_param_matcher({"expand": "true", "page": "1", "per_page": "100"})])
    responses.get(f"{API}/tickets", json=[row(101, "2025-06-02T09:30:00.000Z")],
                  match=[matchers.query_param_matcher({"expand": "true", "page": "2", "per_page": "100"})])
    rows = list(make_adapter(search="list", page_size=200).changed_since(
        datetime(2025, 6, 2, 9, tzinfo=UTC)))
    assert [r.id for r in rows] == [str(i) for i in range(3, 101, 3)] + ["101"]


@responses.activate
def test_groups_filter_the_change_query() -> None:
    responses.get(f"{API}/tickets/search", json=[row(1, "2025-06-02T09:00:00.000Z", "Users"),
                                                 row(2, "2025-06-02T09:01:00.000Z", "2nd Level")])
    assert [r.id for r in make_adapter(groups=["users"]).changed_since(None)] == ["1"]


@responses.activate
def test_a_refused_search_stops_the_adapter() -> None:
    responses.get(f"{API}/tickets/search", status=403, json={"error": "Not authorized", "error_human": "Not authorized"})
    with pytest.raises(PermanentError, match="cannot list changed tickets.*ticket.agent"):
        list(make_adapter().changed_since(None))


# --- errors and retries --------------------------------------------------------------

@responses.activate
def test_a_401_says_what_to_check_and_never_shows_the_token() -> None:
    responses.get(f"{API}/tickets/search", status=401,
                  json={"error": "Can't find User for Token", "error_human": "Can't find User for Token"})
    with pytest.raises(PermanentError) as info:
        list(make_adapter().changed_since(None))
    message = str(info.value)
    assert "refused the access token (HTTP 401)" in message and "trackers.zm.options.token" in message
    assert 'auth = "token"' in message and TOKEN not in message and TOKEN not in repr(make_adapter().http)


@responses.activate
def test_bearer_auth_for_oauth_tokens() -> None:
    responses.get(f"{API}/users/me", json=ME, match=[matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"})])
    assert make_adapter(auth="bearer").me["login"] == "sla-bridge"


@responses.activate
def test_a_5xx_then_success_is_retried_with_backoff() -> None:
    reads(responses.mock)
    responses.replace(responses.GET, f"{API}/ticket_history/7", status=502, json={"error": "bad gateway"})
    responses.add(responses.GET, f"{API}/ticket_history/7", json=HISTORY)
    assert make_adapter().fetch("7").status == "pending reminder"
    assert SLEEPS == [1.0]


@responses.activate
def test_a_500_on_one_ticket_skips_it_but_a_502_ends_the_pass() -> None:
    """Zammad's 500 is an exception raised for this request (masked for non-admins); a 502
    comes from the proxy in front of a Zammad that is down."""
    masked = {"error": "Error ID a1B2c3: Please contact your administrator."}
    responses.get(f"{API}/tickets/7", status=500, json=masked)
    with pytest.raises(SkippableError, match="Error ID a1B2c3.*Zammad failed on ticket 7.*production.log"):
        make_adapter().fetch("7")
    assert SLEEPS == [1.0, 2.0], "retried first: a read is safe to repeat"
    responses.replace(responses.GET, f"{API}/tickets/7", status=502, body="Bad Gateway")
    with pytest.raises(TransientError, match="HTTP 502"):
        make_adapter().fetch("7")


@responses.activate
def test_a_429_honours_retry_after() -> None:
    responses.get(f"{API}/users/me", status=429, headers={"Retry-After": "7"})
    responses.get(f"{API}/users/me", json=ME)
    assert make_adapter().me["id"] == 3 and SLEEPS == [7.0]


@responses.activate
def test_connection_refused_is_transient() -> None:
    responses.get(f"{API}/tickets/7", body=requests.ConnectionError("refused"))
    with pytest.raises(TransientError, match="cannot connect"):
        make_adapter().fetch("7")


@responses.activate
def test_a_deleted_ticket_is_skippable() -> None:
    responses.get(f"{API}/tickets/7", status=404, json={"error": "Couldn't find Ticket with 'id'=7",
                                                      "error_human": "Couldn't find Ticket with 'id'=7"})
    with pytest.raises(SkippableError, match="HTTP 404"):
        make_adapter().fetch("7")


# --- writing -------------------------------------------------------------------------

def fetched(adapter: ZammadAdapter) -> Any:
    reads(responses.mock)
    return adapter.fetch("7")


@responses.activate
def test_the_deadline_is_one_put_of_the_attribute_in_whole_seconds() -> None:
    adapter = make_adapter()
    t = fetched(adapter)
    put = responses.put(f"{API}/tickets/7", json=ticket(), match=[matchers.json_params_matcher(
        {"sla_due_at": "2025-06-03T09:00:59Z"})])
    due = datetime.fromisoformat("2025-06-03T11:00:59.900+02:00")
    adapter.apply_fields(t, SetDueDate(due.date(), due), None)
    assert put.call_count == 1


@responses.activate
def test_clearing_the_deadline_sends_null() -> None:
    adapter = make_adapter()
    t = fetched(adapter)
    put = responses.put(f"{API}/tickets/7", json=ticket(), match=[matchers.json_params_matcher({"sla_due_at": None})])
    adapter.apply_fields(t, SetDueDate(None, None), None)
    assert put.call_count == 1


@responses.activate
def test_tags_one_call_each_and_never_an_unprefixed_one() -> None:
    adapter = make_adapter()
    t = fetched(adapter)
    add = responses.post(f"{API}/tags/add", status=201, json=True, match=[matchers.json_params_matcher(
        {"item": "sla-a-risque", "object": "Ticket", "o_id": 7})])
    remove = responses.delete(f"{API}/tags/remove", json=True, match=[matchers.json_params_matcher(
        {"item": "sla-bloquante", "object": "Ticket", "o_id": 7})])
    adapter.apply_fields(t, None, SetLabels(frozenset({"sla-a-risque"}), frozenset({"sla-bloquante", "vip"})))
    assert (add.call_count, remove.call_count) == (1, 1)
    assert not any(c.request.method == "PUT" for c in responses.calls)


@responses.activate
def test_a_tag_agents_may_not_create_says_how_to_fix_it() -> None:
    adapter = make_adapter()
    t = fetched(adapter)
    responses.post(f"{API}/tags/add", status=403, json={"error": "Not authorized", "error_human": "Not authorized"})
    with pytest.raises(SkippableError, match="create 'sla-a-risque' once in Admin > Tags.*change access"):
        adapter.apply_fields(t, None, SetLabels(frozenset({"sla-a-risque"}), frozenset()))


@responses.activate
def test_an_attribute_refusing_past_dates_says_how_to_fix_it() -> None:
    adapter = make_adapter()
    t = fetched(adapter)
    responses.put(f"{API}/tickets/7", status=422, json={"error": "Sla due at does not allow past dates.",
                                                        "error_human": "Sla due at does not allow past dates."})
    with pytest.raises(SkippableError, match="allow both past and future dates"):
        adapter.apply_fields(t, SetDueDate(date(2025, 6, 2), datetime(2025, 6, 2, 9, tzinfo=UTC)), None)


@responses.activate
def test_a_public_reminder_is_an_email_to_the_customer() -> None:
    adapter = make_adapter()
    t = fetched(adapter)
    responses.get(f"{API}/users/10", json=user(10, "alice@customer.example", "alice@customer.example"))
    body = "Relance 1\n\n[sla-bridge:zm:7/reminder/x/1]"
    post = responses.post(f"{API}/ticket_articles", status=201, json=ARTICLES[1], match=[
        matchers.json_params_matcher({"ticket_id": 7, "subject": "Server down", "body": body,
                                      "content_type": "text/plain", "sender": "Agent", "internal": False,
                                      "type": "email", "to": "alice@customer.example"})])
    adapter.post_comment(t, PostComment("zm:7/reminder/x/1", body, True, "reminder"))
    assert post.call_count == 1


@responses.activate
def test_a_public_note_when_configured_and_internal_notes_stay_notes() -> None:
    adapter = make_adapter(reminder_article="note")
    t = fetched(adapter)
    public = responses.post(f"{API}/ticket_articles", status=201, json=ARTICLES[1], match=[
        matchers.json_params_matcher({"ticket_id": 7, "subject": "Server down", "body": "b", "type": "note",
                                      "content_type": "text/plain", "sender": "Agent", "internal": False})])
    internal = responses.post(f"{API}/ticket_articles", status=201, json=ARTICLES[2], match=[
        matchers.json_params_matcher({"ticket_id": 7, "subject": "Server down", "body": "c", "type": "note",
                                      "content_type": "text/plain", "sender": "Agent", "internal": True})])
    adapter.post_comment(t, PostComment("k1", "b", True, "reminder"))
    adapter.post_comment(t, PostComment("k2", "c", False, "reminder"))
    assert (public.call_count, internal.call_count) == (1, 1)


@responses.activate
def test_a_customer_without_email_cannot_be_mailed() -> None:
    adapter = make_adapter()
    t = fetched(adapter)
    responses.get(f"{API}/users/10", json=user(10, "bob", ""))
    with pytest.raises(SkippableError, match="'bob' has no email address"):
        adapter.post_comment(t, PostComment("k", "b", True, "reminder"))
    assert not any(c.request.method == "POST" for c in responses.calls)


@responses.activate
def test_articles_are_never_retried() -> None:
    adapter = make_adapter(reminder_article="note")
    t = fetched(adapter)
    post = responses.post(f"{API}/ticket_articles", status=503)
    with pytest.raises(TransientError):
        adapter.post_comment(t, PostComment("k", "body [sla-bridge:k]", True, "reminder"))
    assert post.call_count == 1 and SLEEPS == []


@responses.activate
def test_an_email_article_zammad_fails_on_is_skipped_with_the_likely_cause() -> None:
    adapter = make_adapter()
    t = fetched(adapter)
    responses.get(f"{API}/users/10", json=user(10, "alice@customer.example", "alice@customer.example"))
    post = responses.post(f"{API}/ticket_articles", status=500,
                          json={"error": "Error ID q9W8e7: Please contact your administrator."})
    with pytest.raises(SkippableError, match="q9W8e7.*group without an email address.*reminder_article"):
        adapter.post_comment(t, PostComment("k", "body [sla-bridge:k]", True, "reminder"))
    assert post.call_count == 1 and SLEEPS == []


@responses.activate
def test_closure_sets_the_state_and_reads_it_back_from_the_answer() -> None:
    adapter = make_adapter()
    t = fetched(adapter)
    put = responses.put(f"{API}/tickets/7", json=ticket(state="closed", state_id=4),
                        match=[matchers.json_params_matcher({"state": "closed"}),
                               matchers.query_param_matcher({"expand": "true"})])
    before = len(responses.calls)
    adapter.transition(t, "closed")
    assert put.call_count == 1 and len(responses.calls) == before + 1, "the PUT's answer is the read-back"


@responses.activate
def test_a_state_change_zammad_does_not_take_is_reported() -> None:
    adapter = make_adapter()
    t = fetched(adapter)
    responses.put(f"{API}/tickets/7", json=ticket())
    with pytest.raises(SkippableError, match="Zammad kept state 'pending reminder' instead of 'closed'"):
        adapter.transition(t, "closed")


@responses.activate
def test_an_unknown_closing_state_is_a_config_problem() -> None:
    adapter = make_adapter()
    t = fetched(adapter)
    responses.put(f"{API}/tickets/7", status=422, json={"error": "No lookup value found for 'state': \"done\"",
                                                        "error_human": "No lookup value found for 'state': \"done\""})
    with pytest.raises(PermanentError, match="no state named 'done'.*closing_status"):
        adapter.transition(t, "done")


# --- configuration and registration --------------------------------------------------

def test_bad_options_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"trackers.zm.options.page_size: Input should be less than or equal to 200"):
        make_adapter(page_size=500)
    with pytest.raises(ConfigError, match=r"trackers.zm.options.reminder_article: Input should be 'email' or 'note'"):
        make_adapter(reminder_article="sms")
    with pytest.raises(ConfigError, match=r"trackers.zm.options.colour: unknown key"):
        make_adapter(colour="blue")
    with pytest.raises(ConfigError, match=r"trackers.zm.options.due_attribute: expected a Zammad attribute name"):
        make_adapter(due_attribute="SLA due")
    with pytest.raises(ConfigError, match=r"trackers.zm.options.url: expected the Zammad URL"):
        make_adapter(url="zammad.test")


def test_a_missing_due_attribute_option_is_a_config_error() -> None:
    section = TrackerSection.model_validate({"adapter": "zammad", "statuses": {"new": ["new"]},
                                             "agents": ["role:Agent"],
                                             "options": {"url": URL, "token": {"env": "SLA_TEST_ZAMMAD_TOKEN"}}})
    with pytest.raises(ConfigError, match=r"trackers.zm.options.due_attribute: required key is missing"):
        ZammadAdapter("zm", section, builtin_config())


def test_missing_secret_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLA_TEST_ZAMMAD_TOKEN")
    with pytest.raises(ConfigError, match="SLA_TEST_ZAMMAD_TOKEN is not set"):
        make_adapter()


@responses.activate
def test_the_url_may_end_with_the_api_path() -> None:
    responses.get(f"{API}/users/me", json=ME)
    assert make_adapter(url=f"{URL}/api/v1/").me["id"] == 3


def test_it_is_an_adapter_registered_as_zammad() -> None:
    assert isinstance(make_adapter(), Adapter)
    wired = zammad_module.__name__ in BUILTIN_PLUGINS  # once plugins.py lists it, it is a built-in
    registry = build_registry(build_plugin_manager([] if wired else [zammad_module], load_entry_points=False))
    assert registry.get("zammad") is ZammadAdapter


def test_fixtures_are_not_mutated_by_reading() -> None:
    before = copy.deepcopy(HISTORY)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        reads(rsps)
        make_adapter().fetch("7")
    assert HISTORY == before


@responses.activate
def test_a_malformed_search_answer_stops_the_adapter_instead_of_crashing_the_sync() -> None:
    """What cannot be a row at all (no id, not a ticket, not a list) is the whole answer's problem;
    a row without a readable ``updated_at`` is that ticket's (see the next tests)."""
    responses.get(f"{API}/tickets/search", json=[{"title": "no id"}])
    with pytest.raises(PermanentError, match="cannot list changed tickets: item 1 has no ticket id"):
        list(make_adapter().changed_since(None))
    responses.replace(responses.GET, f"{API}/tickets/search", json={"tickets": [1], "tickets_count": 1, "assets": {}})
    with pytest.raises(PermanentError, match="expected a list of tickets"):
        list(make_adapter().changed_since(None))


UNREADABLE = {"2025-06-02T09:30:00": "has no time zone", "yesterday": "is not a date and time",
              None: "has no time", 1748856600: "is a number"}


@pytest.mark.parametrize("mode", ["condition", "elasticsearch", "list"])
@pytest.mark.parametrize("updated", list(UNREADABLE))
def test_a_row_with_an_unreadable_updated_at_is_yielded_with_its_problem(mode: str, updated: Any) -> None:
    """The sync reports and retries that ticket only (ChangedTicket.problem); the rows around it
    are paged on. Before, one such row ended the change query for every ticket."""
    rows = [row(1, "2025-06-02T09:00:00.000Z"), row(2, "x") | {"updated_at": updated},
            row(3, "2025-06-02T09:05:00.000Z")]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{API}/tickets/search", json=rows)
        rsps.get(f"{API}/tickets", json=rows)
        found = list(make_adapter(search=mode, page_size=10).changed_since(datetime(2025, 6, 2, 8, tzinfo=UTC)))
    by_id = {r.id: r for r in found}
    assert sorted(by_id) == ["1", "2", "3"]
    assert by_id["2"].updated is None and by_id["2"].problem is not None
    assert by_id["2"].problem.startswith("updated_at") and UNREADABLE[updated] in by_id["2"].problem
    assert by_id["1"].problem is None and by_id["1"].updated == datetime(2025, 6, 2, 9, tzinfo=UTC)


@responses.activate
def test_a_page_of_unreadable_rows_is_paged_on_by_the_rows_around_it() -> None:
    good = row(3, "2025-06-02T09:05:00.000Z")
    responses.get(f"{API}/tickets/search", json=[row(1, "bad"), row(2, "2025-06-02T09:00:00.000Z")],
                  match=[matchers.query_param_matcher(search_params("1970-01-01T00:00:00.000Z", 1, 2))])
    responses.get(f"{API}/tickets/search", json=[row(2, "2025-06-02T09:00:00.000Z"), good],
                  match=[matchers.query_param_matcher(search_params("2025-06-02T09:00:00.000Z", 1, 2))])
    responses.get(f"{API}/tickets/search", json=[good],
                  match=[matchers.query_param_matcher(search_params("2025-06-02T09:05:00.000Z", 1, 2))])
    rows = list(make_adapter(page_size=2).changed_since(None))
    assert [(r.id, r.problem is None) for r in rows] == [("1", False), ("2", True), ("3", True)]


def test_the_documented_config_section_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/zammad.md's block, uncommented after the example contract, loads and builds the adapter."""
    import re
    import tomllib
    from pathlib import Path

    from sla_bridge.demo import example_config_text

    doc = (Path(__file__).resolve().parent.parent / "docs" / "zammad.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(# \[trackers\.zammad\].*?)```", doc, re.DOTALL)
    assert block is not None
    section = "\n".join(line.removeprefix("# ") for line in block[1].splitlines())
    raw = tomllib.loads(example_config_text() + "\n" + section)
    monkeypatch.setenv("ZAMMAD_TOKEN", TOKEN)
    cfg = builtin_config(raw)
    adapter = ZammadAdapter("zammad", cfg.file.trackers["zammad"], cfg)
    assert adapter.options.due_attribute == "sla_due_at" and adapter.options.search == "condition"
    role = cfg.policy.status_map("zammad").role("pending reminder")
    assert role is not None and role.value == "waiting_for_customer"


# --- check-config --connect ----------------------------------------------------------

def state(id: int, name: str, type_id: int, type_name: str, active: bool = True) -> dict[str, Any]:
    """``GET /ticket_states?expand=true``: api/ticket/states.rst plus the names of its relations."""
    return {"id": id, "state_type_id": type_id, "name": name, "next_state_id": None, "ignore_escalation": False,
            "default_create": id == 1, "default_follow_up": id == 2, "note": None, "active": active,
            "updated_by_id": 1, "created_by_id": 1, "created_at": "2021-11-03T11:51:13.504Z",
            "updated_at": "2021-11-03T11:51:13.520Z", "state_type": type_name, "created_by": "-", "updated_by": "-"}


STATES = [state(1, "new", 1, "new"), state(2, "open", 2, "open"), state(3, "pending reminder", 3, "pending reminder"),
          state(4, "closed", 5, "closed"), state(5, "merged", 6, "merged"), state(6, "removed", 7, "removed", False),
          state(7, "pending close", 4, "pending action")]


def priority(id: int, name: str) -> dict[str, Any]:
    """``GET /ticket_priorities`` (api/ticket/priorities.rst)."""
    return {"id": id, "name": name, "default_create": id == 2, "ui_icon": None, "ui_color": None, "note": None,
            "active": True, "updated_by_id": 1, "created_by_id": 1, "created_at": "2021-11-03T11:51:13.559Z",
            "updated_at": "2021-11-03T11:51:13.572Z"}


PRIORITIES = [priority(1, "1 low"), priority(2, "2 normal"), priority(3, "3 high")]


def attribute(id: int, name: str, data_type: str, data_option: dict[str, Any], object: str = "Ticket",
              **extra: Any) -> dict[str, Any]:
    """One row of ``GET /object_manager_attributes`` (api/object.rst)."""
    return {"id": id, "name": name, "display": name.replace("_", " ").title(), "data_type": data_type,
            "data_option": data_option, "data_option_new": {}, "editable": True, "active": True,
            "screens": {"edit": {"ticket.agent": {"shown": True, "required": False}}}, "to_create": False,
            "to_migrate": False, "to_delete": False, "to_config": False, "position": 1550 + id, "created_by_id": 1,
            "updated_by_id": 1, "created_at": "2025-01-06T08:00:00.000Z", "updated_at": "2025-01-06T08:00:00.000Z",
            "object": object, "deletable": True} | extra


ATTRIBUTES = [
    attribute(4, "group_id", "select", {"relation": "Group", "nulloption": True, "multiple": False, "null": False},
              editable=False),
    attribute(8, "priority_id", "select", {"relation": "Ticket::Priority", "nulloption": False, "null": False},
              editable=False),
    attribute(60, "sla_due_at", "datetime", {"future": True, "past": True, "diff": 0, "null": True}),
    attribute(61, "category", "select", {"default": "", "options": {"standard": "Standard",
                                                                    "hors-contrat": "Hors contrat"},
                                         "nulloption": True, "multiple": False, "null": True}),
    attribute(62, "reported_at", "datetime", {"future": False, "past": True, "diff": 0, "null": True}),
    attribute(63, "criticite", "tree_select", {"options": [
        {"name": "Production", "value": "Production", "children": [
            {"name": "bloquante", "value": "Production::bloquante"}]},
        {"name": "majeure", "value": "majeure"}]}),
    attribute(70, "category", "input", {"type": "text", "maxlength": 120}, object="User"),
]

FULL = StatusesSection(new=["new"], in_progress=["open"], waiting_for_customer=["pending reminder"],
                       resolved=["pending close"], closed=["closed", "merged"])
SEVERITIES = {"3 high": "bloquante", "2 normal": "majeure", "1 low": "mineure"}


def connect(rsps: Any, tickets: list[dict[str, Any]] | None = None, **replies: Any) -> None:
    """What check_connection reads; `replies` override one answer (a dict of ``responses`` keywords)."""
    answers: dict[str, Any] = {
        "me": {"json": ME}, "search": {"json": [ticket()] if tickets is None else tickets},
        "history": {"json": HISTORY}, "states": {"json": STATES}, "priorities": {"json": PRIORITIES},
        "attributes": {"json": ATTRIBUTES}} | replies
    rsps.get(f"{API}/users/me", match=[matchers.query_param_matcher({"expand": "true"})], **answers["me"])
    rsps.get(f"{API}/tickets/search", **answers["search"])
    rsps.get(f"{API}/ticket_history/7", **answers["history"])
    rsps.get(f"{API}/ticket_states", match=[matchers.query_param_matcher({"expand": "true"})], **answers["states"])
    rsps.get(f"{API}/ticket_priorities", **answers["priorities"])
    rsps.get(f"{API}/object_manager_attributes", **answers["attributes"])


def checker(**overrides: Any) -> ZammadAdapter:
    settings: dict[str, Any] = {"statuses": FULL, "severities": SEVERITIES, "groups": ["Users"],
                                "fields": {"category": "category", "reported_at": "reported_at"}} | overrides
    return make_adapter(**settings)


def by_name(checks: list[Check]) -> dict[tuple[str, str], Check]:
    return {(c.subject, c.name): c for c in checks}


@responses.activate
def test_the_constructor_makes_no_call() -> None:
    adapter = checker()
    assert len(responses.calls) == 0 and isinstance(adapter, ConnectionCheck)


@responses.activate
def test_check_connection_finds_everything_the_config_names_and_only_reads() -> None:
    connect(responses.mock)
    checks = checker().check_connection()
    failed = [c for c in checks if not c.ok]
    assert failed == []
    found = by_name(checks)
    assert found[("authentication", URL)].detail == "as 'sla-bridge' (SLA Bridge), roles: Agent"
    assert found[("permission", "ticket.agent")].detail == "the token reads tickets and their history (ticket 31007)"
    assert found[("group", "Users")].detail == "full access"
    assert found[("permission", "write articles")].detail == "change access to 2nd Level, Users"
    assert [n for s, n in found if s == "status"] == ["new", "open", "pending reminder", "pending close", "closed",
                                                      "merged"]
    assert found[("closing status", "closed")].detail == "state type 'closed'"
    assert "no workflow between states" in found[("transition", "pending reminder -> closed")].detail
    assert [n for s, n in found if s == "priority"] == ["3 high", "2 normal", "1 low"]
    assert [n for s, n in found if s == "attribute"] == ["sla_due_at", "category", "reported_at"]
    assert found[("attribute", "category")].detail == "Category (select)"
    assert found[("permission", "tags")].detail.startswith("not verified: sla-bridge adds tags starting with 'sla-'")
    assert {c.request.method for c in responses.calls} == {"GET"}
    assert all(TOKEN not in c.detail for c in checks)


@pytest.mark.parametrize(("status", "body", "expected"), [
    (401, {"json": {"error": "Can't find User for Token"}}, "refused the access token (HTTP 401)"),
    (403, {"json": {"error": "Authentication required"}}, "API token access is enabled"),
    (None, {"body": requests.ConnectionError("refused")}, "cannot connect"),
])
def test_a_failed_authentication_is_one_failed_check(status: int | None, body: dict[str, Any], expected: str) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        connect(rsps, me=({"status": status} if status else {}) | body)
        checks = checker().check_connection()
    assert len(checks) == 1
    [only] = checks
    assert (only.subject, only.name, only.ok) == ("authentication", URL, False)
    assert expected in only.detail and TOKEN not in only.detail


@responses.activate
def test_what_zammad_lacks_is_reported_with_the_fix() -> None:
    me = ME | {"groups": {"Users": ["read"]}}
    attributes = [a for a in ATTRIBUTES if a["name"] != "category"] + [
        attribute(64, "sla_due_at", "date", {"diff": 0}), attribute(65, "product", "select", {"options": {}},
                                                                    to_migrate=True)]
    attributes = [a for a in attributes if a["id"] != 60]
    connect(responses.mock, me={"json": me}, attributes={"json": attributes})
    statuses = StatusesSection(new=["new"], waiting_for_customer=["waiting"], closed=["closed"])
    checks = checker(statuses=statuses, closing_status="pending close", severities={"4 urgent": "bloquante"},
                     groups=["Users", "Sales"],
                     fields={"category": "category", "product": "product"}).check_connection()
    failed = {(c.subject, c.name): c.detail for c in checks if not c.ok}
    assert failed == {
        ("group", "Users"): "read access only: sla-bridge needs change (or full) access to add articles, tags and"
                            " states",
        ("group", "Sales"): "not among the groups the API user has access to (Admin > Users > sla-bridge > Group"
                            " permissions); Zammad shows only the access granted to the user itself, not through its"
                            " roles: if a role grants it, ignore this",
        ("permission", "write articles"): "the API user has change access to no group, so it cannot add articles,"
                                          " tags or states: give it the Agent role and change access to the"
                                          " contract's groups; Zammad shows only the access granted to the user"
                                          " itself, not through its roles: if a role grants it, ignore this",
        ("status", "waiting"): "Zammad has no state 'waiting'; states: closed, merged, new, open, pending close,"
                               " pending reminder, removed",
        ("closing status", "pending close"): "its type is 'pending action': the closing state must be of type closed"
                                             " (a pending state needs a pending time)",
        ("priority", "4 urgent"): "Zammad has no priority '4 urgent' (trackers.zm.severities); priorities: 1 low,"
                                  " 2 normal, 3 high",
        ("attribute", "sla_due_at"): "Sla Due At (date) (trackers.zm.options.due_attribute): it must be a Date &"
                                     " Time attribute, not 'date'",
        ("attribute", "category"): "Zammad has no ticket attribute 'category' (trackers.zm.fields.category): create"
                                   " it in Admin > System > Objects > Ticket, update the database and restart Zammad",
        ("attribute", "product"): "'product' is created but the database is not updated: click Update database in"
                                  " Admin > System > Objects, then restart Zammad",
    }
    assert ("transition", "waiting -> pending close") in by_name(checks)


@responses.activate
def test_a_deadline_attribute_refusing_past_dates_and_severity_options() -> None:
    attributes = [a for a in ATTRIBUTES if a["id"] != 60] + [
        attribute(60, "sla_due_at", "datetime", {"future": True, "past": False, "diff": 0})]
    connect(responses.mock, attributes={"json": attributes})
    checks = checker(severity_field="criticite", severities={"Production::bloquante": "bloquante",
                                                             "majeure": "majeure", "mineure": "mineure"},
                     fields={}).check_connection()
    failed = {(c.subject, c.name): c.detail for c in checks if not c.ok}
    assert failed == {
        ("attribute", "sla_due_at"): "Sla Due At (datetime) (trackers.zm.options.due_attribute) must allow both past"
                                     " and future dates (Admin > System > Objects), or writing a passed deadline"
                                     " fails",
        ("attribute", "criticite"): "Criticite (tree_select) has no option 'mineure' named in the severities"
                                    " (options: Production, Production::bloquante, majeure)"}
    assert not any(c.subject == "priority" for c in checks), "the severity is not the priority"


@responses.activate
def test_without_admin_object_attributes_are_looked_for_on_a_ticket() -> None:
    refused = {"status": 403, "json": {"error": "Not authorized (user)!", "error_human": "Not authorized (user)!"}}
    connect(responses.mock, attributes=refused, search={"json": [ticket(category="standard")]})
    checks = by_name(checker(fields={"category": "category", "reported_at": "reported_at"}).check_connection())
    assert checks[("attribute", "sla_due_at")].ok and checks[("attribute", "category")].ok
    assert checks[("attribute", "category")].detail == ("found on ticket 31007; not verified: its type and options"
                                                       " (listing attributes needs admin.object)")
    missing = checks[("attribute", "reported_at")]
    assert not missing.ok and missing.detail.startswith("ticket 31007 has no attribute 'reported_at'")


@responses.activate
def test_with_no_ticket_visible_what_needs_one_is_not_verified() -> None:
    refused = {"status": 403, "json": {"error": "Not authorized (user)!"}}
    connect(responses.mock, tickets=[], attributes=refused)
    checks = by_name(checker().check_connection())
    assert checks[("permission", "ticket.agent")] == Check(
        "permission", "ticket.agent", True, "not verified: no ticket is visible to this token yet")
    assert checks[("attribute", "sla_due_at")].ok
    assert checks[("attribute", "sla_due_at")].detail.startswith("not verified (trackers.zm.options.due_attribute)")


@responses.activate
def test_a_token_without_ticket_agent_is_reported() -> None:
    connect(responses.mock, history={"status": 403, "json": {"error": "Not authorized (token)!"}})
    check = by_name(checker().check_connection())[("permission", "ticket.agent")]
    assert not check.ok and "create a token with the ticket.agent permission" in check.detail


@responses.activate
def test_a_failing_lookup_is_a_failed_check_not_an_exception() -> None:
    connect(responses.mock, states={"status": 502, "body": "Bad Gateway"})
    checks = checker().check_connection()
    statuses = [c for c in checks if c.subject == "status"]
    assert len(statuses) == 1 and not statuses[0].ok and "HTTP 502" in statuses[0].detail
    assert any(c.subject == "priority" and c.ok for c in checks), "the other lookups still run"


def test_the_documented_identity_and_field_examples_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/zammad.md's agents, entitlement, customers and fields examples load on top of its section."""
    import re
    import tomllib
    from pathlib import Path

    from sla_bridge.demo import example_config_text

    def merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    doc = (Path(__file__).resolve().parent.parent / "docs" / "zammad.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(# \[trackers\.zammad\].*?)```", doc, re.DOTALL)
    assert block is not None
    raw = tomllib.loads(example_config_text() + "\n" + "\n".join(
        line.removeprefix("# ") for line in block[1].splitlines()))
    examples = re.findall(r"```toml\n(\[(?:trackers\.zammad|clocks)[^\n]*\n.*?)```", doc, re.DOTALL)
    assert len(examples) == 3
    for example in examples:
        merge(raw, tomllib.loads(example))
    monkeypatch.setenv("ZAMMAD_TOKEN", TOKEN)
    cfg = builtin_config(raw)
    adapter = ZammadAdapter("zammad", cfg.file.trackers["zammad"], cfg)
    assert [str(a) for a in adapter.agents] == ["role:Agent"]
    assert adapter.field_attributes == {"category": "category", "workaround": "sla_workaround"}
    assert adapter.reported_at_attribute == "reported_at"
    assert set(cfg.file.trackers["zammad"].customers) == {"acme", "globex"}
