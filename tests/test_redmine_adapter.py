"""The Redmine adapter against recorded HTTP (``responses``), with JSON shaped like Redmine 5's."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from sla_bridge.actions import PostComment, SetDueDate, SetLabels
from sla_bridge.adapters.base import PermanentError, SkippableError, TransientError
from sla_bridge.adapters.redmine import RedmineAdapter
from sla_bridge.config import TrackerSection
from sla_bridge.demo import builtin_config
from sla_bridge.httpclient import RetryPolicy
from sla_bridge.model import Comment, LabelChange, Role, SeverityChange, StatusChange

URL = "http://redmine.test"
STATUSES = {"issue_statuses": [{"id": 1, "name": "New", "is_closed": False},
                               {"id": 2, "name": "In Progress", "is_closed": False},
                               {"id": 3, "name": "Resolved", "is_closed": False},
                               {"id": 4, "name": "Feedback", "is_closed": False},
                               {"id": 5, "name": "Closed", "is_closed": True}]}
PRIORITIES = {"issue_priorities": [{"id": 1, "name": "Low", "is_default": False, "active": True},
                                   {"id": 2, "name": "Normal", "is_default": True, "active": True},
                                   {"id": 3, "name": "High", "is_default": False, "active": True},
                                   {"id": 4, "name": "Urgent", "is_default": False, "active": True}]}


def issue(id: int = 7, **extra: Any) -> dict[str, Any]:
    data = {
        "id": id, "project": {"id": 1, "name": "Support"}, "tracker": {"id": 1, "name": "Bug"},
        "status": {"id": 4, "name": "Feedback", "is_closed": False}, "priority": {"id": 4, "name": "Urgent"},
        "author": {"id": 6, "name": "Alice Customer"}, "subject": "Server down", "description": "",
        "start_date": "2025-06-02", "due_date": None, "done_ratio": 0, "is_private": False,
        "estimated_hours": None, "total_estimated_hours": None, "spent_hours": 0.0, "total_spent_hours": 0.0,
        "custom_fields": [{"id": 1, "name": "SLA labels", "multiple": True, "value": ["sla-bloquante", "vip"]},
                          {"id": 2, "name": "SLA deadline", "value": "2025-06-02T13:00:00+02:00"}],
        "created_on": "2025-06-02T08:00:00Z", "updated_on": "2025-06-02T09:00:00Z", "closed_on": None,
    }
    data.update(extra)
    return data


JOURNALS = [
    {"id": 11, "user": {"id": 5, "name": "Sam Agent"}, "notes": "Looking into it", "created_on": "2025-06-02T08:30:00Z",
     "private_notes": False, "details": [{"property": "attr", "name": "status_id", "old_value": "1", "new_value": "2"}]},
    {"id": 12, "user": {"id": 5, "name": "Sam Agent"}, "notes": "", "created_on": "2025-06-02T08:40:00Z",
     "private_notes": False, "details": [{"property": "attr", "name": "priority_id", "old_value": "3", "new_value": "4"},
                                         {"property": "cf", "name": "1", "old_value": None, "new_value": "sla-bloquante"}]},
    {"id": 13, "user": {"id": 5, "name": "Sam Agent"}, "notes": "Internal: check logs", "created_on": "2025-06-02T08:45:00Z",
     "private_notes": True, "details": []},
    {"id": 14, "user": {"id": 5, "name": "Sam Agent"}, "notes": "Please test", "created_on": "2025-06-02T09:00:00Z",
     "private_notes": False, "details": [{"property": "attr", "name": "status_id", "old_value": "2", "new_value": "4"}]},
    {"id": 15, "user": {"id": 6, "name": "Alice Customer"}, "notes": "Testing", "created_on": "2025-06-02T10:00:00Z",
     "private_notes": False, "details": []},
]


def make_adapter(**options: Any) -> RedmineAdapter:
    cfg = builtin_config()
    section = TrackerSection(adapter="redmine", statuses={"new": ["New"]}, agents=["5"], closing_status="Closed",
                             options={"url": URL, "api_key": {"env": "SLA_TEST_REDMINE_KEY"}, "labels_field": 1,
                                      "deadline_field": 2, **options})
    return RedmineAdapter("rm", section, cfg, retry=RetryPolicy(attempts=3, sleep=SLEEPS.append))


SLEEPS: list[float] = []


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLA_TEST_REDMINE_KEY", "k3y")
    SLEEPS.clear()


def lookups(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{URL}/issue_statuses.json", json=STATUSES)
    rsps.get(f"{URL}/enumerations/issue_priorities.json", json=PRIORITIES)
    rsps.get(f"{URL}/users/current.json", json={"user": {"id": 9, "login": "sla", "firstname": "SLA",
                                                         "lastname": "Bridge"}})


@responses.activate
def test_fetch_builds_the_history_from_journals() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(journals=JOURNALS)},
                  match=[matchers.query_param_matcher({"include": "journals"}),
                         matchers.header_matcher({"X-Redmine-API-Key": "k3y"})])
    t = make_adapter().fetch("7")
    assert (t.id, t.tracker, t.status, t.severity, t.reporter) == ("7", "rm", "Feedback", "Urgent", "Alice Customer")
    assert t.labels == {"sla-bloquante", "vip"}
    assert t.due_at == datetime.fromisoformat("2025-06-02T13:00:00+02:00")
    assert t.initial_status() == "New" and t.initial_severity() == "High"
    kinds = [(type(e).__name__, getattr(e, "by_role", None)) for e in t.events]
    assert kinds[0] == ("StatusChange", Role.AGENT)
    assert [e for e in t.events if isinstance(e, SeverityChange)][0].to_severity == "Urgent"
    assert [e for e in t.events if isinstance(e, LabelChange)][0].label == "sla-bloquante"
    comments = [e for e in t.events if isinstance(e, Comment)]
    assert [(c.role, c.public) for c in comments] == [(Role.AGENT, True), (Role.AGENT, False), (Role.AGENT, True),
                                                      (Role.CUSTOMER, True)]
    assert [e.to_status for e in t.events if isinstance(e, StatusChange)] == ["In Progress", "Feedback"]


@responses.activate
def test_missing_and_null_fields() -> None:
    lookups(responses.mock)
    bare = issue(custom_fields=[], fixed_version=None)
    del bare["priority"]
    responses.get(f"{URL}/issues/7.json", json={"issue": bare})
    t = make_adapter().fetch("7")
    assert t.severity is None and t.labels == frozenset() and t.due_at is None and t.events == ()


@responses.activate
def test_malformed_issue_is_skippable() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": {"id": 7}})
    with pytest.raises(SkippableError, match="issue 7: unexpected JSON"):
        make_adapter().fetch("7")


@responses.activate
def test_change_query_pages_with_keyset_and_utc_z() -> None:
    page1 = [{"id": i, "updated_on": f"2025-06-02T09:0{i}:00Z"} for i in range(1, 3)]
    page2 = [{"id": 3, "updated_on": "2025-06-02T09:05:00Z"}]
    responses.get(f"{URL}/issues.json", json={"issues": page1, "total_count": 3, "offset": 0, "limit": 2},
                  match=[matchers.query_param_matcher({"status_id": "*", "sort": "updated_on,id", "limit": "2",
                                                       "offset": "0", "updated_on": ">=2025-06-02T07:00:00Z"})])
    responses.get(f"{URL}/issues.json", json={"issues": [page1[1], *page2], "total_count": 2, "offset": 0,
                                              "limit": 2},
                  match=[matchers.query_param_matcher({"status_id": "*", "sort": "updated_on,id", "limit": "2",
                                                       "offset": "0", "updated_on": ">=2025-06-02T09:02:00Z"})])
    responses.get(f"{URL}/issues.json", json={"issues": [], "total_count": 0, "offset": 0, "limit": 2},
                  match=[matchers.query_param_matcher({"status_id": "*", "sort": "updated_on,id", "limit": "2",
                                                       "offset": "0", "updated_on": ">=2025-06-02T09:05:00Z"})])
    rows = list(make_adapter(page_size=2).changed_since(datetime.fromisoformat("2025-06-02T09:00:00+02:00")))
    assert [r.id for r in rows] == ["1", "2", "3"]


@responses.activate
def test_one_put_for_due_date_deadline_and_labels_keeping_other_values() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue()})
    put = responses.put(f"{URL}/issues/7.json", status=204, match=[matchers.json_params_matcher({"issue": {
        "due_date": "2025-06-03",
        "custom_fields": [{"id": 2, "value": "2025-06-03T11:00:00+02:00"},
                          {"id": 1, "value": ["sla-a-risque", "vip"]}]}})])
    adapter = make_adapter()
    ticket = adapter.fetch("7")
    adapter.apply_fields(ticket, SetDueDate(date(2025, 6, 3), datetime.fromisoformat("2025-06-03T11:00:00+02:00")),
                         SetLabels(frozenset({"sla-a-risque"}), frozenset({"sla-bloquante"})))
    assert put.call_count == 1


@responses.activate
def test_clearing_every_label_sends_an_empty_value() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(custom_fields=[
        {"id": 1, "name": "SLA labels", "multiple": True, "value": ["sla-bloquante"]}])})
    put = responses.put(f"{URL}/issues/7.json", status=204, match=[matchers.json_params_matcher(
        {"issue": {"custom_fields": [{"id": 1, "value": [""]}]}})])
    adapter = make_adapter()
    adapter.apply_fields(adapter.fetch("7"), None, SetLabels(frozenset(), frozenset({"sla-bloquante"})))
    assert put.call_count == 1


@responses.activate
def test_notes_are_never_retried() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue()})
    put = responses.put(f"{URL}/issues/7.json", status=503)
    adapter = make_adapter()
    with pytest.raises(TransientError):
        adapter.post_comment(adapter.fetch("7"), PostComment("k", "body [sla-bridge:k]", True, "reminder"))
    assert put.call_count == 1 and SLEEPS == []


@responses.activate
def test_reads_retry_honouring_retry_after() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", status=429, headers={"Retry-After": "7"})
    responses.get(f"{URL}/issues/7.json", status=502)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue()})
    assert make_adapter().fetch("7").id == "7"
    assert SLEEPS == [7.0, 2.0]


@responses.activate
def test_a_long_retry_after_ends_the_pass_instead_of_stalling() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", status=503, headers={"Retry-After": "3600"})
    with pytest.raises(TransientError, match="HTTP 503"):
        make_adapter().fetch("7")
    assert SLEEPS == []


@pytest.mark.parametrize(("status", "body", "error", "message"), [
    (401, "", PermanentError, "authentication failed"),
    (403, "", SkippableError, "HTTP 403"),
    (404, "", SkippableError, "HTTP 404"),
    (422, {"errors": ["Sla labels is not included in the list"]}, SkippableError, "is not included in the list"),
])
@responses.activate
def test_errors_are_translated(status: int, body: Any, error: type[Exception], message: str) -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", status=status, json=body if body else None)
    with pytest.raises(error, match=message) as info:
        make_adapter().fetch("7")
    assert "k3y" not in str(info.value)


@responses.activate
def test_connection_refused_is_transient() -> None:
    responses.get(f"{URL}/issues/7.json", body=requests.ConnectionError("refused"))
    with pytest.raises(TransientError, match="cannot connect"):
        make_adapter().fetch("7")


@responses.activate
def test_a_status_change_the_workflow_ignores_is_reported() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue()})
    responses.put(f"{URL}/issues/7.json", status=204, match=[matchers.json_params_matcher({"issue": {"status_id": 5}})])
    adapter = make_adapter()
    with pytest.raises(SkippableError, match="Redmine kept status 'Feedback' instead of 'Closed'"):
        adapter.transition(adapter.fetch("7"), "Closed")


@responses.activate
def test_severity_from_a_custom_field() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(custom_fields=[
        {"id": 1, "name": "SLA labels", "multiple": True, "value": []},
        {"id": 3, "name": "Criticité", "value": "Majeure"}], journals=[
        {"id": 1, "user": {"id": 5, "name": "Sam Agent"}, "notes": "", "created_on": "2025-06-02T08:40:00Z",
         "private_notes": False, "details": [{"property": "cf", "name": "3", "old_value": "Mineure",
                                              "new_value": "Majeure"}]}])})
    t = make_adapter(severity_field="3").fetch("7")
    assert t.severity == "Majeure" and t.initial_severity() == "Mineure"


def test_missing_secret_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from sla_bridge.errors import ConfigError

    monkeypatch.delenv("SLA_TEST_REDMINE_KEY")
    with pytest.raises(ConfigError, match="SLA_TEST_REDMINE_KEY is not set"):
        make_adapter()


def test_bad_options_name_the_key() -> None:
    from sla_bridge.errors import ConfigError

    with pytest.raises(ConfigError, match=r"trackers.rm.options.page_size: Input should be less than or equal to 100"):
        make_adapter(page_size=500)
