"""The Zammad adapter against recorded HTTP (``responses``), with JSON shaped like Zammad's.

The fixtures follow Zammad's API documentation (docs.zammad.org, api/ticket,
api/ticket/articles, api/ticket/tags, api/intro "expand") and its source
(``TicketsController#search``/``#ticket_history``, ``History.list``,
``HasHistory#history_update``, ``TagsController``).
"""

from __future__ import annotations

import copy
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
from sla_bridge.markers import markers_in
from sla_bridge.model import Comment, LabelChange, Role, SeverityChange, StatusChange
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


def user(id: int, login: str, email: str) -> dict[str, Any]:
    return {"id": id, "organization_id": 2, "login": login, "firstname": login.split("@")[0].title(), "lastname": "",
            "email": email, "image": None, "image_source": None, "web": "", "phone": "", "fax": "", "mobile": "",
            "department": "", "street": "", "zip": "", "city": "", "country": "", "address": "", "vip": False,
            "verified": False, "active": True, "note": "", "last_login": None, "source": None, "login_failed": 0,
            "out_of_office": False, "out_of_office_start_at": None, "out_of_office_end_at": None,
            "out_of_office_replacement_id": None, "preferences": {}, "updated_by_id": 1, "created_by_id": 1,
            "created_at": "2025-01-06T08:00:00.000Z", "updated_at": "2025-01-06T08:00:00.000Z", "role_ids": [3],
            "organization_ids": [], "authorization_ids": [], "karma_user_ids": [], "group_ids": {}, "accounts": {}}


ME = user(3, "sla-bridge", "sla-bridge@support.example") | {"role_ids": [2]}


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


HISTORY = {
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
    "assets": {"User": {"3": ME, "4": user(4, "sam@support.example", "sam@support.example") | {"role_ids": [2]},
                        "10": user(10, "alice@customer.example", "alice@customer.example")}},
}


def article(id: int, at: str, by: int, login: str, sender: str, type: str, internal: bool, body: str
            ) -> dict[str, Any]:
    """One article as ``GET /ticket_articles/by_ticket/7`` renders it."""
    return {"id": id, "ticket_id": 7, "type_id": {"email": 1, "phone": 5, "note": 10, "web": 11}[type],
            "sender_id": {"Agent": 1, "Customer": 2, "System": 3}[sender], "from": login, "to": None, "cc": None,
            "subject": None, "reply_to": None, "message_id": None, "message_id_md5": None, "in_reply_to": None,
            "content_type": "text/html", "references": None, "body": body, "internal": internal,
            "preferences": {}, "updated_by_id": by, "created_by_id": by, "origin_by_id": None, "created_at": at,
            "updated_at": at, "attachments": [], "type": type, "sender": sender, "created_by": login,
            "updated_by": login, "time_unit": None}


ARTICLES = [
    article(11, "2025-06-02T08:00:00.000Z", 10, "alice@customer.example", "Customer", "email", False,
            "The server is down."),
    article(12, "2025-06-02T08:30:00.000Z", 4, "sam@support.example", "Agent", "email", False, "Looking into it"),
    article(13, "2025-06-02T08:45:00.000Z", 4, "sam@support.example", "Agent", "note", True, "check the logs"),
    article(14, "2025-06-02T09:00:00.000Z", 4, "sam@support.example", "Agent", "email", False, "Please test"),
    article(15, "2025-06-02T10:00:00.000Z", 10, "alice@customer.example", "Customer", "web", False, "Testing"),
]


def make_adapter(agents: tuple[str, ...] = ("sam@support.example",), **options: Any) -> ZammadAdapter:
    section = TrackerSection(adapter="zammad", statuses=StatusesSection(new=["new"]), agents=list(agents),
                             closing_status="closed",
                             options={"url": URL, "token": {"env": "SLA_TEST_ZAMMAD_TOKEN"},
                                      "due_attribute": "sla_due_at", **options})
    return ZammadAdapter("zm", section, builtin_config(), retry=RetryPolicy(attempts=3, sleep=SLEEPS.append))


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLA_TEST_ZAMMAD_TOKEN", TOKEN)
    SLEEPS.clear()


def reads(rsps: Any, raw: dict[str, Any] | None = None, tags: list[str] | None = None,
          history: dict[str, Any] | None = None, articles: list[dict[str, Any]] | None = None) -> None:
    rsps.get(f"{API}/users/me", json=ME)
    rsps.get(f"{API}/tickets/7", json=raw if raw is not None else ticket(),
             match=[matchers.query_param_matcher({"expand": "true"}),
                    matchers.header_matcher({"Authorization": f"Token token={TOKEN}"})])
    rsps.get(f"{API}/tags", json={"tags": tags if tags is not None else ["sla-bloquante", "vip"]},
             match=[matchers.query_param_matcher({"object": "Ticket", "o_id": "7"})])
    rsps.get(f"{API}/ticket_history/7", json=history if history is not None else HISTORY)
    rsps.get(f"{API}/ticket_articles/by_ticket/7", json=articles if articles is not None else ARTICLES)


# --- reading -------------------------------------------------------------------------

@responses.activate
def test_fetch_builds_the_history_from_ticket_history_and_articles() -> None:
    reads(responses.mock)
    t = make_adapter().fetch("7")
    assert (t.id, t.tracker, t.title, t.status, t.severity, t.reporter) == (
        "7", "zm", "Server down", "pending reminder", "3 high", "alice@customer.example")
    assert t.labels == {"sla-bloquante", "vip"} and t.reporter_groups == {"Customer Inc."}
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


@responses.activate
def test_who_changed_the_state_decides_its_role() -> None:
    history = {"history": [
        entry(1, "2025-06-02T08:10:00.000Z", 10, attribute="state", value_from="pending reminder", value_to="open"),
        entry(2, "2025-06-02T08:20:00.000Z", 12, attribute="state", value_from="open", value_to="new"),
        entry(3, "2025-06-02T08:30:00.000Z", 1, attribute="state", value_from="new", value_to="closed"),
        entry(4, "2025-06-02T08:40:00.000Z", 10, attribute="state", value_from="closed", value_to="open",
              sourceable_type="Trigger", sourceable_id=5, sourceable_name="reopen on answer"),
        entry(5, "2025-06-02T08:50:00.000Z", 3, attribute="state", value_from="open", value_to="pending reminder"),
        entry(6, "2025-06-02T09:00:00.000Z", 99, attribute="state", value_from="pending reminder", value_to="open"),
    ], "assets": {"User": {"10": user(10, "alice@customer.example", "alice@customer.example"),
                           "12": user(12, "sam2", "sam2@support.example"), "1": user(1, "-", "")}}}
    reads(responses.mock, history=history, articles=[])
    t = make_adapter(agents=("12",)).fetch("7")
    assert [(s.by, s.by_role) for s in t.events if isinstance(s, StatusChange)] == [
        ("alice@customer.example", Role.CUSTOMER),  # the ticket's customer reopened it
        ("sam2", Role.AGENT),                       # a configured agent (by id)
        ("-", Role.SYSTEM),                         # Zammad itself (pending close reached)
        ("alice@customer.example", Role.SYSTEM),    # a trigger, even one fired by the customer
        ("sla-bridge", Role.AGENT),                 # the token's own user
        ("99", Role.AGENT)]                         # anyone else: an agent


@responses.activate
def test_a_reminder_posted_by_sla_bridge_reads_back_with_its_marker() -> None:
    posted = article(16, "2025-06-03T09:01:00.000Z", 3, "sla-bridge", "Agent", "email", False,
                     "Relance 1\n\n[sla-bridge:zm:7/reminder/20250602T0900/1]") | {"content_type": "text/plain"}
    reads(responses.mock, articles=[*ARTICLES, posted])
    last = [e for e in make_adapter().fetch("7").events if isinstance(e, Comment)][-1]
    assert (last.role, last.public) == (Role.AGENT, True)
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
    bare = ticket(priority=None, organization=None, sla_due_at=None, title=None)
    reads(responses.mock, raw=bare, tags=[], history={"history": [], "assets": {}}, articles=[])
    t = make_adapter().fetch("7")
    assert (t.severity, t.due_at, t.due_date, t.title) == (None, None, None, "")
    assert t.labels == frozenset() and t.reporter_groups == frozenset() and t.events == ()


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
    with pytest.raises(SkippableError, match="group '2nd Level', outside trackers.zm.options.groups"):
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
    section = TrackerSection(adapter="zammad", statuses=StatusesSection(new=["new"]),
                             options={"url": URL, "token": {"env": "SLA_TEST_ZAMMAD_TOKEN"}})
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
    with responses.RequestsMock() as rsps:
        reads(rsps)
        make_adapter().fetch("7")
    assert HISTORY == before


@responses.activate
def test_a_malformed_search_answer_stops_the_adapter_instead_of_crashing_the_sync() -> None:
    responses.get(f"{API}/tickets/search", json=[{"id": 1}])
    with pytest.raises(PermanentError, match="unexpected JSON in the ticket list"):
        list(make_adapter().changed_since(None))
    responses.replace(responses.GET, f"{API}/tickets/search", json={"tickets": [1], "tickets_count": 1, "assets": {}})
    with pytest.raises(PermanentError, match="expected a list of tickets"):
        list(make_adapter().changed_since(None))


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
