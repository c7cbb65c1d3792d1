"""The Jira adapter against recorded HTTP (``responses``), with JSON shaped like Jira's REST API v2.

Cloud and Data Center: the change query and its paging, the full changelog, comments
and their visibility, roles, missing fields, errors and rate limits, the one-request
write-back, guarded POSTs and the closing transition.
"""

from __future__ import annotations

import base64
import json
import socket
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from sla_bridge.actions import PostComment, SetDueDate, SetLabels
from sla_bridge.adapters.base import OutOfScope, PermanentError, SkippableError, TransientError
from sla_bridge.adapters.jira import JiraAdapter, jira_time, jql_string, parse_time
from sla_bridge.config import TrackerSection
from sla_bridge.demo import builtin_config
from sla_bridge.engine import evaluate
from sla_bridge.errors import ConfigError
from sla_bridge.httpclient import RetryPolicy
from sla_bridge.identity import Person
from sla_bridge.model import Comment, FieldChange, LabelChange, Role, SeverityChange, StatusChange

CLOUD = "https://acme.atlassian.net"
DC = "https://jira.acme.test"
API = "/rest/api/2"
SLEEPS: list[float] = []
T = datetime.fromisoformat

# --- users as Jira shows them -------------------------------------------------------------

ME_CLOUD = {"self": f"{CLOUD}{API}/user?accountId=5b10a2844c20165700ede21g", "accountId": "5b10a2844c20165700ede21g",
            "accountType": "atlassian", "emailAddress": "sla-bridge@acme.test",
            "avatarUrls": {"48x48": "https://avatar.example/a.png"}, "displayName": "SLA Bridge", "active": True,
            "timeZone": "Europe/Paris", "locale": "en_US", "groups": {"size": 1, "items": []},
            "applicationRoles": {"size": 1, "items": []}, "expand": "groups,applicationRoles"}
SAM = {"self": f"{CLOUD}{API}/user?accountId=5b10ac8d82e05b22cc7d4ef5", "accountId": "5b10ac8d82e05b22cc7d4ef5",
       "avatarUrls": {"48x48": "https://avatar.example/s.png"}, "displayName": "Sam Agent", "active": True,
       "timeZone": "Europe/Paris", "accountType": "atlassian"}
ALICE = {"self": f"{CLOUD}{API}/user?accountId=qm:a713c8ea-1075-4e30-9d96-891a7d181739:5ad6d3581db05e2a66fa80b",
         "accountId": "qm:a713c8ea-1075-4e30-9d96-891a7d181739:5ad6d3581db05e2a66fa80b",
         "avatarUrls": {"48x48": "https://avatar.example/c.png"}, "displayName": "Alice Customer", "active": True,
         "timeZone": "Europe/Paris", "accountType": "customer"}
AUTOMATION = {"self": f"{CLOUD}{API}/user?accountId=557058:f58131cb-b67d-43c7-b30d-6b58d40bd077",
              "accountId": "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077", "displayName": "Automation for Jira",
              "active": True, "timeZone": "UTC", "accountType": "app",
              "avatarUrls": {"48x48": "https://avatar.example/auto.png"}}
GONE = {"accountId": "5c4f6bb9a6e4a52e0c2bb8f1"}  # a deleted user: an id and nothing else
ME_DC = {"self": f"{DC}{API}/user?username=sla-bridge", "key": "JIRAUSER10000", "name": "sla-bridge",
         "emailAddress": "sla-bridge@acme.test", "avatarUrls": {"48x48": f"{DC}/secure/useravatar?avatarId=10122"},
         "displayName": "SLA Bridge", "active": True, "deleted": False, "timeZone": "Europe/Paris", "locale": "en_UK",
         "groups": {"size": 1, "items": []}, "applicationRoles": {"size": 1, "items": []},
         "expand": "groups,applicationRoles"}
SAM_DC = {"self": f"{DC}{API}/user?username=sam", "name": "sam", "key": "JIRAUSER10100",
          "emailAddress": "sam@acme.test", "avatarUrls": {"48x48": f"{DC}/secure/useravatar?avatarId=10122"},
          "displayName": "Sam Agent", "active": True, "timeZone": "Europe/Paris"}
ALICE_DC = {"self": f"{DC}{API}/user?username=alice", "name": "alice", "key": "JIRAUSER10101",
            "emailAddress": "alice@customer.test", "avatarUrls": {"48x48": f"{DC}/secure/useravatar?avatarId=10122"},
            "displayName": "Alice Customer", "active": True, "timeZone": "Europe/Paris"}


def status(name: str, sid: str) -> dict[str, Any]:
    return {"self": f"{CLOUD}{API}/status/{sid}", "description": "", "iconUrl": f"{CLOUD}/images/icons/status.png",
            "name": name, "id": sid, "statusCategory": {"self": f"{CLOUD}{API}/statuscategory/4", "id": 4,
                                                       "key": "indeterminate", "colorName": "yellow",
                                                       "name": "In Progress"}}


def item(field: str, frm: Any, frm_s: Any, to: Any, to_s: Any, fieldtype: str = "jira",
         field_id: str | None = None) -> dict[str, Any]:
    found = {"field": field, "fieldtype": fieldtype, "fieldId": field_id or field, "from": frm, "fromString": frm_s,
             "to": to, "toString": to_s}
    if field_id == "":
        del found["fieldId"]  # Data Center
    return found


def cloud_issue(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "summary": "Server down",
        "issuetype": {"self": f"{CLOUD}{API}/issuetype/10004", "id": "10004", "description": "", "name": "Bug",
                      "subtask": False, "hierarchyLevel": 0},
        "project": {"self": f"{CLOUD}{API}/project/10000", "id": "10000", "key": "SUP", "name": "Support",
                    "projectTypeKey": "service_desk", "simplified": False},
        "status": status("Waiting for customer", "10002"),
        "priority": {"self": f"{CLOUD}{API}/priority/1", "iconUrl": f"{CLOUD}/images/icons/priorities/highest.svg",
                     "name": "Highest", "id": "1"},
        "labels": ["sla-bloquante", "vip"], "duedate": "2025-06-02", "customfield_10050": "2025-06-02T13:00:00.000+0200",
        "fixVersions": [{"self": f"{CLOUD}{API}/version/10010", "id": "10010", "name": "2.4.1", "archived": False,
                         "released": False}],
        "resolution": None, "reporter": ALICE, "created": "2025-06-02T10:00:00.000+0200",
        "updated": "2025-06-02T11:00:00.000+0200",
        "comment": {"comments": [], "self": f"{CLOUD}{API}/issue/10001/comment", "maxResults": 0, "total": 0,
                    "startAt": 0},
    }
    data.update(fields)
    return data


HISTORIES = [
    {"id": "10100", "author": SAM, "created": "2025-06-02T10:30:00.000+0200",
     "items": [item("status", "10000", "To Do", "3", "In Progress")]},
    {"id": "10101", "author": SAM, "created": "2025-06-02T10:40:00.000+0200",
     "items": [item("priority", "2", "High", "1", "Highest"),
               item("labels", None, "vip", None, "sla-bloquante vip")]},
    {"id": "10102", "author": AUTOMATION, "created": "2025-06-02T10:45:00.000+0200",
     "items": [item("labels", None, "sla-bloquante stale vip", None, "sla-bloquante vip")]},
    {"id": "10103", "author": SAM, "created": "2025-06-02T11:00:00.000+0200",
     "items": [item("status", "3", "In Progress", "10002", "Waiting for customer"),
               item("resolution", None, None, "10000", "Done")]},
]


def comment(cid: str, author: dict[str, Any] | None, body: str, created: str, **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"self": f"{CLOUD}{API}/issue/10001/comment/{cid}", "id": cid, "body": body,
                             "created": created, "updated": created, **extra}
    if author is not None:
        found["author"] = author
        found["updateAuthor"] = author
    return found


COMMENTS = [
    comment("1", SAM, "Looking into it", "2025-06-02T10:30:00.000+0200", jsdPublic=True),
    comment("2", SAM, "Internal: check logs", "2025-06-02T10:35:00.000+0200", jsdPublic=False),
    comment("3", ME_CLOUD, "Reminder \\[sla-bridge:jr:SUP-1/reminder/x/1\\]", "2025-06-02T10:50:00.000+0200",
            jsdPublic=True),
    comment("4", ALICE, "Testing", "2025-06-02T12:00:00.000+0200", jsdPublic=True),
    comment("5", AUTOMATION, "Your request was received", "2025-06-02T12:01:00.000+0200", jsdPublic=True),
    comment("6", None, "Written by someone since deleted", "2025-06-02T12:02:00.000+0200", jsdPublic=True),
    comment("7", GONE, "accountId only", "2025-06-02T12:03:00.000+0200", jsdPublic=True),
    comment("8", SAM, "Role-restricted", "2025-06-02T12:04:00.000+0200", jsdPublic=True,
            visibility={"type": "role", "value": "Administrators", "identifier": "Administrators"}),
]


def issue_json(key: str = "SUP-1", fields: dict[str, Any] | None = None, histories: list[dict[str, Any]] | None = None,
               total: int | None = None, base: str = CLOUD) -> dict[str, Any]:
    histories = HISTORIES if histories is None else histories
    return {"expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": "10001", "self": f"{base}{API}/issue/10001", "key": key,
            "fields": cloud_issue() if fields is None else fields,
            "changelog": {"startAt": 0, "maxResults": len(histories),
                          "total": len(histories) if total is None else total, "histories": histories}}


# --- the adapter --------------------------------------------------------------------------

def make_adapter(url: str = CLOUD, *, agents: list[str] | None = None, statuses: dict[str, list[str]] | None = None,
                 fields: dict[str, Any] | None = None, tracker: dict[str, Any] | None = None,
                 **options: Any) -> JiraAdapter:
    cfg = builtin_config()
    credentials = {"email": "sla-bridge@acme.test", "api_token": {"env": "SLA_TEST_JIRA_TOKEN"}} \
        if url == CLOUD else {"token": {"env": "SLA_TEST_JIRA_TOKEN"}}
    section = TrackerSection.model_validate({
        "adapter": "jira", "statuses": statuses or {"new": ["To Do"]}, "closing_status": "Closed",
        "agents": agents if agents is not None else ["id:5b10ac8d82e05b22cc7d4ef5", "login:sam"],
        "fields": fields or {}, **(tracker or {}),
        "options": {"url": url, "projects": ["SUP"], "deadline_field": "customfield_10050",
                    "deployment": "cloud" if url == CLOUD else "datacenter", **credentials, **options}})
    return JiraAdapter("jr", section, cfg, retry=RetryPolicy(attempts=3, sleep=SLEEPS.append))


def no_real_sleep(seconds: float) -> None:
    raise AssertionError(f"a real sleep of {seconds} s: the jira library's own retries are not off")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLA_TEST_JIRA_TOKEN", "t0k3n")
    # ResilientSession sleeps with time.sleep before each of its retries: none may happen.
    monkeypatch.setattr(time, "sleep", no_real_sleep)
    SLEEPS.clear()


BASIC = "Basic " + base64.b64encode(b"sla-bridge@acme.test:t0k3n").decode()
FIELDS = "summary,status,priority,labels,duedate,fixVersions,issuetype,reporter,created,updated,project"


def myself(rsps: Any = responses, base: str = CLOUD, me: dict[str, Any] | None = None) -> None:
    rsps.get(f"{base}{API}/myself", json=me or (ME_CLOUD if base == CLOUD else ME_DC))


# --- reading ------------------------------------------------------------------------------

@responses.activate
def test_cloud_fetch_builds_the_history_from_the_changelog_and_comments() -> None:
    myself()
    fields = cloud_issue(comment={"comments": COMMENTS, "self": f"{CLOUD}{API}/issue/10001/comment",
                                  "maxResults": len(COMMENTS), "total": len(COMMENTS), "startAt": 0})
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(fields=fields), match=[
        matchers.query_param_matcher({"fields": FIELDS + ",comment,customfield_10050", "expand": "changelog"}),
        matchers.header_matcher({"Authorization": BASIC})])
    t = make_adapter().fetch("SUP-1")
    assert (t.id, t.tracker, t.status, t.severity, t.type, t.fix_version, t.project) == \
        ("SUP-1", "jr", "Waiting for customer", "Highest", "Bug", "2.4.1", "SUP")
    assert t.reporter == Person(id=str(ALICE["accountId"]), name="Alice Customer", account_type="customer")
    assert t.labels == {"sla-bloquante", "vip"} and t.due_date == date(2025, 6, 2)
    assert t.due_at == T("2025-06-02T13:00:00+02:00") and t.updated == T("2025-06-02T11:00:00+02:00")
    assert t.initial_status() == "To Do" and t.initial_severity() == "High"
    statuses = [e for e in t.events if isinstance(e, StatusChange)]
    assert [(s.from_status, s.to_status, s.by, s.by_role) for s in statuses] == [
        ("To Do", "In Progress", "Sam Agent", Role.AGENT), ("In Progress", "Waiting for customer", "Sam Agent", Role.AGENT)]
    assert [(e.from_severity, e.to_severity) for e in t.events if isinstance(e, SeverityChange)] == [("High", "Highest")]
    assert [(e.label, e.added, e.by) for e in t.events if isinstance(e, LabelChange)] == [
        ("sla-bloquante", True, "Sam Agent"), ("stale", False, "Automation for Jira")]
    comments = [e for e in t.events if isinstance(e, Comment)]
    assert [(c.author, c.role, c.public) for c in comments] == [
        ("Sam Agent", Role.AGENT, True),
        ("Sam Agent", Role.AGENT, False),                  # jsdPublic false: an internal note
        ("SLA Bridge", Role.AGENT, True),                  # the API user is an agent
        ("Alice Customer", Role.CUSTOMER, True),           # accountType customer
        ("Automation for Jira", Role.SYSTEM, True),        # accountType app
        (None, Role.CUSTOMER, True),                       # author gone: may be the customer's answer
        ("5c4f6bb9a6e4a52e0c2bb8f1", Role.CUSTOMER, True),  # a deleted user shows only an accountId
        ("Sam Agent", Role.AGENT, False)]                  # restricted to a role: not customer-visible
    assert comments[2].body == "Reminder [sla-bridge:jr:SUP-1/reminder/x/1]", "the escaped marker reads back"


@responses.activate
def test_datacenter_fetch_reads_comment_properties_and_names_custom_fields() -> None:
    myself(base=DC)
    dc_histories: list[dict[str, Any]] = [
        {"id": "10100", "author": SAM_DC, "created": "2025-06-02T10:30:00.000+0200",
         "items": [item("status", "1", "Open", "3", "In Progress", field_id=""),
                   item("Criticité", "10201", "Mineure", "10202", "Majeure", fieldtype="custom", field_id="")]},
        {"id": "10101", "created": "2025-06-02T10:45:00.000+0200",  # no author: the system (a post function)
         "items": [item("status", "3", "In Progress", "10002", "Waiting for customer", field_id="")]},
    ]
    fields = cloud_issue(reporter=ALICE_DC, customfield_10042={"self": f"{DC}{API}/customFieldOption/10202",
                                                               "value": "Majeure", "id": "10202"})
    dc_comments = [
        comment("1", SAM_DC, "Looking into it", "2025-06-02T10:30:00.000+0200"),
        comment("2", SAM_DC, "check logs", "2025-06-02T10:35:00.000+0200"),
        comment("3", ALICE_DC, "Testing", "2025-06-02T12:00:00.000+0200")]
    # Data Center embeds comments without their properties: an internal note looks public there.
    fields["comment"] = {"comments": dc_comments, "maxResults": 3, "total": 3, "startAt": 0}
    responses.get(f"{DC}{API}/issue/SUP-1", json=issue_json(fields=fields, histories=dc_histories, base=DC), match=[
        matchers.query_param_matcher({"fields": FIELDS + ",comment,customfield_10042,customfield_10050",
                                      "expand": "changelog"}),
        matchers.header_matcher({"Authorization": "Bearer t0k3n"})])
    responses.get(f"{DC}{API}/field", json=[
        {"id": "customfield_10042", "name": "Criticité", "custom": True, "orderable": True, "navigable": True,
         "searchable": True, "clauseNames": ["cf[10042]", "Criticité"],
         "schema": {"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select",
                    "customId": 10042}}])
    responses.get(f"{DC}{API}/issue/SUP-1/comment", json={"startAt": 0, "maxResults": 100, "total": 3, "comments": [
        comment("1", SAM_DC, "Looking into it", "2025-06-02T10:30:00.000+0200", properties=[]),
        comment("2", SAM_DC, "check logs", "2025-06-02T10:35:00.000+0200",
                properties=[{"key": "sd.public.comment", "value": {"internal": True}}]),
        comment("3", ALICE_DC, "Testing", "2025-06-02T12:00:00.000+0200", properties=[])]},
        match=[matchers.query_param_matcher({"startAt": "0", "maxResults": "100", "orderBy": "created",
                                             "expand": "properties"})])
    t = make_adapter(DC, severity_field="customfield_10042").fetch("SUP-1")
    assert t.severity == "Majeure" and t.initial_severity() == "Mineure"
    assert t.reporter == Person(id="JIRAUSER10101", login="alice", email="alice@customer.test", name="Alice Customer")
    assert [(s.to_status, s.by_role) for s in t.events if isinstance(s, StatusChange)] == [
        ("In Progress", Role.AGENT), ("Waiting for customer", Role.SYSTEM)]
    assert [(c.author, c.role, c.public) for c in t.events if isinstance(c, Comment)] == [
        ("Sam Agent", Role.AGENT, True), ("Sam Agent", Role.AGENT, False), ("Alice Customer", Role.CUSTOMER, True)]


@responses.activate
def test_a_long_cloud_changelog_is_read_page_by_page() -> None:
    myself()
    names = ["In Progress", "Waiting for customer"]
    histories = [{"id": str(20000 + i), "author": SAM, "created": f"2025-06-{2 + i // 60:02d}T"
                  f"{10 + (i % 60) // 10:02d}:{(i % 10) * 5:02d}:00.000+0200",
                  "items": [item("status", None, "To Do" if i == 0 else names[(i - 1) % 2], None, names[i % 2])]}
                  for i in range(150)]
    # expand=changelog holds only part of it on Cloud; the changelog endpoint pages (100 at most).
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(histories=histories[-100:], total=150))
    for start, values in ((0, histories[:100]), (100, histories[100:])):
        responses.get(f"{CLOUD}{API}/issue/SUP-1/changelog", json={
            "self": f"{CLOUD}{API}/issue/SUP-1/changelog?maxResults=100&startAt={start}", "maxResults": 100,
            "startAt": start, "total": 150, "isLast": start == 100, "values": values,
            **({"nextPage": f"{CLOUD}{API}/issue/SUP-1/changelog?maxResults=100&startAt=100"} if start == 0 else {})},
            match=[matchers.query_param_matcher({"startAt": str(start), "maxResults": "100"})])
    t = make_adapter().fetch("SUP-1")
    statuses = [e for e in t.events if isinstance(e, StatusChange)]
    assert len(statuses) == 150 and t.initial_status() == "To Do"


@responses.activate
def test_a_truncated_changelog_without_its_endpoint_skips_the_ticket_on_datacenter() -> None:
    myself(base=DC)
    fields = cloud_issue()
    del fields["comment"]
    responses.get(f"{DC}{API}/issue/SUP-1", json=issue_json(fields=fields, histories=HISTORIES[:2], total=9, base=DC))
    responses.get(f"{DC}{API}/issue/SUP-1/changelog", status=404,
                  json={"message": f"null for uri: {DC}{API}/issue/SUP-1/changelog", "status-code": 404})
    with pytest.raises(SkippableError, match="returned 2 of 9 history entries"):
        make_adapter(DC).fetch("SUP-1")


@responses.activate
def test_more_comments_than_embedded_are_paged() -> None:
    myself()
    fields = cloud_issue(comment={"comments": COMMENTS[:1], "self": f"{CLOUD}{API}/issue/10001/comment",
                                  "maxResults": 1, "total": 2, "startAt": 0})
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(fields=fields))
    responses.get(f"{CLOUD}{API}/issue/SUP-1/comment", json={"startAt": 0, "maxResults": 100, "total": 2,
                                                             "comments": COMMENTS[:2]},
                  match=[matchers.query_param_matcher({"startAt": "0", "maxResults": "100", "orderBy": "created"})])
    t = make_adapter().fetch("SUP-1")
    assert [c.public for c in t.events if isinstance(c, Comment)] == [True, False]


MOVED = {"id": "10104", "author": SAM, "created": "2025-06-02T11:30:00.000+0200", "items": [
    item("project", "10001", "Triage", "10000", "Support"), item("Key", None, "TRI-7", None, "SUP-1",
                                                                  field_id="issuekey")]}


@responses.activate
def test_markers_written_before_a_move_are_read_under_the_new_key() -> None:
    myself()
    notes = [comment("1", ME_CLOUD, "Bonjour \\[sla-bridge:jr:TRI-7/reminder/c/1\\]", "2025-06-02T11:00:00.000+0200"),
             comment("2", ME_CLOUD, "[sla-bridge:jr:TRI-77/reminder/c/1]", "2025-06-02T11:01:00.000+0200")]
    fields = cloud_issue(comment={"comments": notes, "self": f"{CLOUD}{API}/issue/10001/comment",
                                  "maxResults": 2, "total": 2, "startAt": 0})
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(fields=fields, histories=[*HISTORIES, MOVED]))
    t = make_adapter().fetch("SUP-1")
    assert [c.body for c in t.events if isinstance(c, Comment)] == [
        "Bonjour [sla-bridge:jr:SUP-1/reminder/c/1]", "[sla-bridge:jr:TRI-77/reminder/c/1]"]


@responses.activate
def test_an_issue_moved_out_of_the_projects_is_left_alone() -> None:
    moved = cloud_issue(project={"self": f"{CLOUD}{API}/project/10002", "id": "10002", "key": "DEV",
                                 "name": "Development"})
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(key="DEV-4", fields=moved))
    with pytest.raises(OutOfScope, match="issue SUP-1 is now in project DEV, which is not in options.projects"):
        make_adapter().fetch("SUP-1")


@responses.activate
def test_datacenter_comments_are_read_page_by_page() -> None:
    myself(base=DC)
    fields = cloud_issue()
    del fields["comment"]
    responses.get(f"{DC}{API}/issue/SUP-1", json=issue_json(fields=fields, histories=[], base=DC))
    first = [comment(str(i), SAM_DC, f"note {i}", "2025-06-02T10:30:00.000+0200", properties=[]) for i in range(100)]
    last = comment("100", ALICE_DC, "Testing", "2025-06-02T12:00:00.000+0200", properties=[])
    for start, values in ((0, first), (100, [last])):
        responses.get(f"{DC}{API}/issue/SUP-1/comment", json={"startAt": start, "maxResults": 100, "total": 101,
                                                              "comments": values},
                      match=[matchers.query_param_matcher({"startAt": str(start), "maxResults": "100",
                                                           "orderBy": "created", "expand": "properties"})])
    t = make_adapter(DC).fetch("SUP-1")
    comments = [e for e in t.events if isinstance(e, Comment)]
    assert len(comments) == 101 and (comments[-1].author, comments[-1].role) == ("Alice Customer", Role.CUSTOMER)


@responses.activate
def test_a_history_entry_without_a_time_skips_the_ticket() -> None:
    myself()
    broken = [{**HISTORIES[0], "created": None}]
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(histories=broken))
    with pytest.raises(SkippableError, match="history entry 10100 has no time"):
        make_adapter().fetch("SUP-1")


@responses.activate
def test_missing_and_null_fields() -> None:
    myself()
    bare = cloud_issue(priority=None, duedate=None, customfield_10050=None, fixVersions=[], reporter=None,
                       comment=None)
    for name in ("labels", "issuetype", "resolution"):
        del bare[name]
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(fields=bare, histories=[]))
    # No embedded comments: they are read from their own endpoint rather than assumed absent.
    responses.get(f"{CLOUD}{API}/issue/SUP-1/comment", json={"startAt": 0, "maxResults": 100, "total": 0,
                                                             "comments": []})
    t = make_adapter().fetch("SUP-1")
    assert (t.severity, t.labels, t.due_date, t.due_at, t.fix_version, t.reporter, t.type, t.events) == \
        (None, frozenset(), None, None, None, None, None, ())


@responses.activate
def test_an_unknown_priority_is_passed_through_and_labelled_unknown() -> None:
    myself()
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(fields=cloud_issue(
        priority={"self": f"{CLOUD}{API}/priority/10100", "name": "Trivial", "id": "10100"}), histories=[]))
    cfg = builtin_config()
    t = make_adapter().fetch("SUP-1")
    assert t.severity == "Trivial"
    result = evaluate(t, cfg.policy, cfg.calendar, T("2025-06-02T12:00:00+02:00"))
    assert "sla-criticite-inconnue" in result.desired.labels


@responses.activate
def test_malformed_issue_is_skippable() -> None:
    myself()
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json={"id": "10001", "key": "SUP-1"})
    with pytest.raises(SkippableError, match="^jr: issue SUP-1: Jira's answer has no `fields` object"):
        make_adapter().fetch("SUP-1")


@responses.activate
def test_a_missing_or_forbidden_issue_is_skippable() -> None:
    responses.get(f"{CLOUD}{API}/issue/SUP-9", status=404, json={
        "errorMessages": ["Issue does not exist or you do not have permission to see it."], "errors": {}})
    with pytest.raises(SkippableError, match="HTTP 404: Issue does not exist or you do not have permission"):
        make_adapter().fetch("SUP-9")


# --- the change query ---------------------------------------------------------------------

def row(key: str, updated: str) -> dict[str, Any]:
    return {"expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields", "id": key[4:],
            "self": f"{CLOUD}{API}/issue/{key[4:]}", "key": key, "fields": {"updated": updated}}


@responses.activate
def test_cloud_change_query_pages_with_tokens_in_the_api_users_zone_and_escapes_values() -> None:
    myself(me={**ME_CLOUD, "timeZone": "America/New_York"})
    jql = ('project in ("SUP", "O\\"PS") AND updated >= "2025-06-02 08:59" AND (issuetype != Epic)'
           " ORDER BY updated ASC, key ASC")
    base = {"jql": jql, "maxResults": "2", "fields": "updated"}
    # Page 1, then a short page that is not the last (Cloud may return fewer), then the last page
    # (no nextPageToken at all). All in the query's first minute: the token steps on, no restart.
    responses.get(f"{CLOUD}{API}/search/jql", json={"issues": [row("SUP-1", "2025-06-02T08:59:10.000-0400"),
                                                               row("SUP-2", "2025-06-02T08:59:20.000-0400")],
                                                    "nextPageToken": "CAEaAggD", "isLast": False},
                  match=[matchers.query_param_matcher(base)])
    responses.get(f"{CLOUD}{API}/search/jql", json={"issues": [row("SUP-3", "2025-06-02T08:59:30.000-0400")],
                                                    "nextPageToken": "CAEaAggE", "isLast": False},
                  match=[matchers.query_param_matcher({**base, "nextPageToken": "CAEaAggD"})])
    responses.get(f"{CLOUD}{API}/search/jql", json={"issues": [row("SUP-4", "2025-06-02T08:59:40.000-0400")],
                                                    "isLast": True},
                  match=[matchers.query_param_matcher({**base, "nextPageToken": "CAEaAggE"})])
    adapter = make_adapter(page_size=2, projects=["SUP", 'O"PS'], jql_extra="issuetype != Epic")
    rows = list(adapter.changed_since(T("2025-06-02T15:00:00+02:00")))  # 09:00 in New York
    assert [r.id for r in rows] == ["SUP-1", "SUP-2", "SUP-3", "SUP-4"]
    assert rows[0].updated == T("2025-06-02T12:59:10+00:00")


@responses.activate
def test_change_query_restarts_from_the_last_minute_seen() -> None:
    myself()
    first = {"jql": 'project in ("SUP") ORDER BY updated ASC, key ASC', "maxResults": "2", "fields": "updated"}
    later = {**first, "jql": 'project in ("SUP") AND updated >= "2025-06-02 10:01" ORDER BY updated ASC, key ASC'}
    responses.get(f"{CLOUD}{API}/search/jql", json={"issues": [row("SUP-1", "2025-06-02T10:00:10.000+0200"),
                                                               row("SUP-2", "2025-06-02T10:01:20.000+0200")],
                                                    "nextPageToken": "t1", "isLast": False},
                  match=[matchers.query_param_matcher(first)])
    # SUP-1 was edited meanwhile: it moved to the end, and nothing was skipped.
    responses.get(f"{CLOUD}{API}/search/jql", json={"issues": [row("SUP-2", "2025-06-02T10:01:20.000+0200"),
                                                               row("SUP-3", "2025-06-02T10:01:30.000+0200")],
                                                    "nextPageToken": "t2", "isLast": False},
                  match=[matchers.query_param_matcher(later)])
    responses.get(f"{CLOUD}{API}/search/jql", json={"issues": [row("SUP-1", "2025-06-02T10:01:40.000+0200")],
                                                    "isLast": True},
                  match=[matchers.query_param_matcher({**later, "nextPageToken": "t2"})])
    rows = list(make_adapter(page_size=2).changed_since(None))
    assert [r.id for r in rows] == ["SUP-1", "SUP-2", "SUP-3", "SUP-1"]


@responses.activate
def test_datacenter_change_query_pages_with_start_at_until_the_total() -> None:
    myself(base=DC)
    rows = [row(f"SUP-{i}", f"2025-06-02T09:00:{10 * i}.000+0200") for i in range(1, 6)]

    def search(since: str, start: int, total: int, issues: list[dict[str, Any]]) -> None:
        jql = f'project in ("SUP") AND updated >= "2025-06-02 {since}" ORDER BY updated ASC, key ASC'
        responses.get(f"{DC}{API}/search", json={"expand": "schema,names", "startAt": start, "maxResults": 2,
                                                 "total": total, "issues": issues},
                      match=[matchers.query_param_matcher({"jql": jql, "startAt": str(start), "maxResults": "2",
                                                           "fields": "updated"})])

    search("08:59", 0, 5, rows[0:2])
    # The first page ends in a later minute: the query restarts from it (keyset), then steps
    # on with startAt while every row stays in that minute, until the total.
    search("09:00", 0, 5, rows[0:2])
    search("09:00", 2, 5, rows[2:4])
    search("09:00", 4, 5, rows[4:5])
    found = list(make_adapter(DC, page_size=2).changed_since(T("2025-06-02T09:00:00+02:00")))
    assert [r.id for r in found] == ["SUP-1", "SUP-2", "SUP-3", "SUP-4", "SUP-5"]
    assert len(responses.calls) == 5  # /myself for the zone, then four pages


@responses.activate
def test_the_removed_search_endpoint_is_reported_clearly() -> None:
    myself()
    removed = ("The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full"
               " migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046")
    responses.get(f"{CLOUD}{API}/search", status=410, json={"errorMessages": [removed], "errors": {}})
    adapter = make_adapter(deployment="datacenter")
    with pytest.raises(PermanentError, match=r'HTTP 410: The requested API has been removed.*set options.deployment'
                                             r' = "cloud"'):
        list(adapter.changed_since(None))


@responses.activate
def test_search_jql_on_datacenter_is_reported_clearly() -> None:
    myself(base=DC)
    responses.get(f"{DC}{API}/search/jql", status=404,
                  json={"message": f"null for uri: {DC}{API}/search/jql", "status-code": 404})
    with pytest.raises(PermanentError, match=r'no /rest/api/2/search/jql.*"datacenter"'):
        list(make_adapter(DC, deployment="cloud", email="x@acme.test", api_token={"env": "SLA_TEST_JIRA_TOKEN"},
                          token=None).changed_since(None))


@responses.activate
def test_a_bad_extra_jql_stops_the_tracker_with_the_query() -> None:
    myself()
    responses.get(f"{CLOUD}{API}/search/jql", status=400, json={
        "errorMessages": ["Field 'isuetype' does not exist or you do not have permission to view it."],
        "errors": {}})
    with pytest.raises(PermanentError, match="isuetype.*check options.projects and options.jql_extra"):
        list(make_adapter(jql_extra="isuetype != Epic").changed_since(None))


@responses.activate
def test_deployment_is_detected_once_from_server_info() -> None:
    responses.get(f"{CLOUD}{API}/serverInfo", json={
        "baseUrl": CLOUD, "version": "1001.0.0-SNAPSHOT", "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud",
        "buildNumber": 100289, "buildDate": "2025-06-01T00:00:00.000+0000",
        "serverTime": "2025-06-02T10:00:00.000+0000", "scmInfo": "6c4e1fdc", "serverTitle": "Jira"})
    adapter = make_adapter(deployment="auto")
    assert adapter.deployment == "cloud" and adapter.deployment == "cloud"
    assert len(responses.calls) == 1


def test_without_a_known_zone_the_query_starts_early_enough_for_any_zone() -> None:
    adapter = make_adapter()
    adapter.remember_me({**ME_CLOUD, "timeZone": None})
    adapter._zone_known = False
    assert adapter.zone is None
    assert adapter.jql_time(T("2025-06-02T15:00:00+02:00")) == "2025-06-02 01:00"  # 13:00 UTC - 12 h


@pytest.mark.parametrize(("cursor", "literal"), [
    # 26 October 2025 in Paris: 02:00-02:59 happens twice, in summer time (+02:00), then in winter
    # time (+01:00). Jira may read "02:30" as the later one: the summer one is written an hour early.
    ("2025-10-26T02:30:00+02:00", "2025-10-26 01:30"),
    ("2025-10-26T02:30:00+01:00", "2025-10-26 02:30"),
    ("2025-10-26T03:30:00+01:00", "2025-10-26 03:30"),
    ("2025-03-30T03:30:00+02:00", "2025-03-30 03:30"),  # spring: 02:00-02:59 never happens
])
def test_a_jql_time_in_the_repeated_hour_is_never_read_later_than_meant(cursor: str, literal: str) -> None:
    adapter = make_adapter(api_user_timezone="Europe/Paris")
    assert adapter.jql_time(T(cursor)) == literal


def test_the_configured_zone_is_used_without_asking() -> None:
    adapter = make_adapter(api_user_timezone="Asia/Tokyo")
    assert adapter.jql_time(T("2025-06-02T15:00:30+02:00")) == "2025-06-02 22:00"


def test_jira_values() -> None:
    assert parse_time("2025-06-02T16:40:01.123+0200") == T("2025-06-02T16:40:01.123+02:00")
    assert parse_time("2025-06-02T14:40:01.123Z") == T("2025-06-02T16:40:01.123+02:00")
    assert jira_time(T("2025-06-03T11:00:00+02:00")) == "2025-06-03T11:00:00.000+0200"
    assert jira_time(T("2025-06-03T09:00:00.25+00:00")) == "2025-06-03T09:00:00.250+0000"
    assert jql_string('a "b" \\c') == '"a \\"b\\" \\\\c"'


# --- errors, retries, rate limits -----------------------------------------------------------

@responses.activate
def test_a_429_is_waited_out_then_the_read_succeeds() -> None:
    myself()
    responses.get(f"{CLOUD}{API}/issue/SUP-1", status=429, headers={"Retry-After": "7",
                                                                   "RateLimit-Reason": "jira-burst-based"},
                  json={"errorMessages": ["Rate limit exceeded."], "errors": {}})
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(histories=[]))
    assert make_adapter().fetch("SUP-1").id == "SUP-1"
    assert SLEEPS == [7.0]


@responses.activate
def test_a_retry_after_given_as_an_http_date_is_waited_out() -> None:
    myself()
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    responses.get(f"{CLOUD}{API}/issue/SUP-1", status=503, headers={"Retry-After": when}, body="Service Unavailable")
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(histories=[]))
    assert make_adapter().fetch("SUP-1").id == "SUP-1"
    assert SLEEPS == [pytest.approx(30, abs=2)]


@responses.activate
def test_a_503_without_retry_after_is_retried_with_backoff() -> None:
    myself()
    responses.get(f"{CLOUD}{API}/issue/SUP-1", status=503, body="Service Unavailable")
    responses.get(f"{CLOUD}{API}/issue/SUP-1", status=502, body="Bad Gateway")
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(histories=[]))
    assert make_adapter().fetch("SUP-1").id == "SUP-1"
    assert SLEEPS == [1.0, 2.0]


@responses.activate
def test_an_exhausted_hourly_quota_ends_the_pass_without_waiting() -> None:
    responses.get(f"{CLOUD}{API}/issue/SUP-1", status=429, headers={"Retry-After": "120",
                                                                   "RateLimit-Reason": "jira-quota-tenant-based"})
    with pytest.raises(TransientError, match=r"HTTP 429 \(jira-quota-tenant-based\)") as info:
        make_adapter().fetch("SUP-1")
    assert info.value.retry_after == 120.0 and SLEEPS == [] and len(responses.calls) == 1


@responses.activate
def test_a_long_retry_after_ends_the_pass_instead_of_stalling() -> None:
    responses.get(f"{CLOUD}{API}/issue/SUP-1", status=429, headers={"Retry-After": "3600",
                                                                   "RateLimit-Reason": "jira-burst-based"})
    with pytest.raises(TransientError, match="HTTP 429"):
        make_adapter().fetch("SUP-1")
    assert SLEEPS == []


@pytest.mark.parametrize(("status", "body", "error", "message"), [
    (401, "", PermanentError, "authentication failed"),
    (403, {"errorMessages": ["You do not have the permission to see the specified issue."], "errors": {}},
     SkippableError, "HTTP 403: You do not have the permission"),
    (500, {"errorMessages": ["Internal server error"], "errors": {}}, TransientError, "HTTP 500"),
])
@responses.activate
def test_errors_are_translated_without_the_secret(status: int, body: Any, error: type[Exception], message: str) -> None:
    responses.get(f"{CLOUD}{API}/issue/SUP-1", status=status, json=body if body else None)
    adapter = make_adapter()
    with pytest.raises(error, match=message) as info:
        adapter.fetch("SUP-1")
    assert "t0k3n" not in str(info.value) and "t0k3n" not in repr(adapter)


@responses.activate
def test_a_datacenter_login_refused_after_failed_logins_stops_the_tracker() -> None:
    responses.get(f"{DC}{API}/issue/SUP-1", status=403, headers={"X-Authentication-Denied-Reason": "CAPTCHA_CHALLENGE;"
                                                                 f" login-url={DC}/login.jsp"}, body="")
    with pytest.raises(PermanentError, match="login refused \\(CAPTCHA_CHALLENGE"):
        make_adapter(DC).fetch("SUP-1")


@responses.activate
def test_a_login_page_instead_of_json_stops_the_tracker() -> None:
    # The first request of a pass (here /myself) answered by a single sign-on page: the url is wrong.
    responses.get(f"{CLOUD}{API}/myself", body="<html><title>Log in</title></html>", content_type="text/html")
    with pytest.raises(PermanentError, match=r"answered text/html instead of JSON \('<html>.*check options.url"):
        _ = make_adapter().me


@responses.activate
def test_connection_refused_is_transient() -> None:
    responses.get(f"{CLOUD}{API}/issue/SUP-1", body=requests.ConnectionError("refused"))
    with pytest.raises(TransientError, match="cannot connect"):
        make_adapter().fetch("SUP-1")
    assert len(responses.calls) == 3, "ours: three attempts; the library's own retries are off"


@responses.activate
def test_constructing_the_adapter_makes_no_request() -> None:
    make_adapter()
    make_adapter(DC)
    assert len(responses.calls) == 0


@responses.activate
def test_requests_can_be_paced() -> None:
    ticks = iter([0.0, 0.1, 1.2])
    cfg = builtin_config()
    section = TrackerSection.model_validate({
        "adapter": "jira", "statuses": {"new": ["To Do"]}, "agents": ["type:atlassian"], "options": {
            "url": CLOUD, "projects": ["SUP"], "deployment": "cloud", "email": "a@b.c",
            "deadline_field": "customfield_1", "api_token": {"env": "SLA_TEST_JIRA_TOKEN"},
            "max_requests_per_second": 2}})
    adapter = JiraAdapter("jr", section, cfg, retry=RetryPolicy(sleep=SLEEPS.append), monotonic=lambda: next(ticks))
    responses.get(f"{CLOUD}{API}/myself", json=ME_CLOUD)
    for _ in range(3):
        adapter._get("/myself", "read the API user")
    assert SLEEPS == [pytest.approx(0.4)]


# --- writing ------------------------------------------------------------------------------

def fetched(adapter: JiraAdapter) -> Any:
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(histories=[]))
    myself()
    return adapter.fetch("SUP-1")


@responses.activate
def test_one_put_for_due_date_deadline_and_labels_keeping_other_labels() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    put = responses.put(f"{CLOUD}{API}/issue/SUP-1", status=204, match=[
        matchers.query_param_matcher({"notifyUsers": "false"}),
        matchers.json_params_matcher({"fields": {"duedate": "2025-06-03", "customfield_10050": "2025-06-03T11:00:00.000+0200"},
                                      "update": {"labels": [{"add": "sla-a-risque"}, {"remove": "sla-bloquante"}]}})])
    adapter.apply_fields(ticket, SetDueDate(date(2025, 6, 3), T("2025-06-03T11:00:00+02:00")),
                         SetLabels(frozenset({"sla-a-risque"}), frozenset({"sla-bloquante"})))
    assert put.call_count == 1 and adapter.calls["write"] == 1


@responses.activate
def test_the_deadline_is_written_to_the_minute() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    # 10:59:59.6 could be stored as 11:00:00 by a database without fractional seconds.
    put = responses.put(f"{CLOUD}{API}/issue/SUP-1", status=204, match=[matchers.json_params_matcher(
        {"fields": {"duedate": "2025-06-03", "customfield_10050": "2025-06-03T10:59:00.000+0200"}})])
    adapter.apply_fields(ticket, SetDueDate(date(2025, 6, 3), T("2025-06-03T10:59:59.600+02:00")), None)
    assert put.call_count == 1


@responses.activate
def test_without_a_deadline_field_only_the_due_date_is_read_and_written() -> None:
    adapter = make_adapter(deadline_field=None)
    assert adapter.tracks_due_at is False
    myself()
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(histories=[]), match=[
        matchers.query_param_matcher({"fields": FIELDS + ",comment", "expand": "changelog"})])
    ticket = adapter.fetch("SUP-1")
    assert ticket.due_date == date(2025, 6, 2) and ticket.due_at is None
    put = responses.put(f"{CLOUD}{API}/issue/SUP-1", status=204, match=[
        matchers.json_params_matcher({"fields": {"duedate": "2025-06-03"}})])
    adapter.apply_fields(ticket, SetDueDate(date(2025, 6, 3), T("2025-06-03T11:00:00+02:00")), None)
    assert put.call_count == 1


@responses.activate
def test_clearing_the_due_date_sends_nulls() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    put = responses.put(f"{CLOUD}{API}/issue/SUP-1", status=204, match=[matchers.json_params_matcher(
        {"fields": {"duedate": None, "customfield_10050": None}})])
    adapter.apply_fields(ticket, SetDueDate(None, None), None)
    assert put.call_count == 1


@responses.activate
def test_writes_notify_when_the_api_user_may_not_silence_them() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    refused = responses.put(f"{CLOUD}{API}/issue/SUP-1", status=403, json={"errorMessages": [
        "To discard the user notification either admin or project admin permissions are required."], "errors": {}},
        match=[matchers.query_param_matcher({"notifyUsers": "false"})])
    plain = responses.put(f"{CLOUD}{API}/issue/SUP-1", status=204, match=[matchers.query_param_matcher({})])
    labels = SetLabels(frozenset({"sla-a-risque"}), frozenset())
    adapter.apply_fields(ticket, None, labels)
    adapter.apply_fields(ticket, None, labels)
    assert refused.call_count == 1 and plain.call_count == 2


@responses.activate
def test_a_field_missing_from_the_edit_screen_skips_the_ticket() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    responses.put(f"{CLOUD}{API}/issue/SUP-1", status=400, json={"errorMessages": [], "errors": {
        "customfield_10050": "Field 'customfield_10050' cannot be set. It is not on the appropriate screen, or unknown."}})
    with pytest.raises(SkippableError, match="customfield_10050: Field 'customfield_10050' cannot be set"):
        adapter.apply_fields(ticket, SetDueDate(date(2025, 6, 3), T("2025-06-03T11:00:00+02:00")), None)


def posts() -> int:
    return sum(1 for c in responses.calls if c.request.method == "POST")


REMINDER = PostComment("jr:SUP-1/reminder/c/1", "Bonjour\n\n[sla-bridge:jr:SUP-1/reminder/c/1]", True, "reminder")


@responses.activate
def test_a_public_comment_escapes_its_marker_for_the_wiki_renderer() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    post = responses.post(f"{CLOUD}{API}/issue/SUP-1/comment", status=201, json=COMMENTS[2], match=[
        matchers.json_params_matcher({"body": "Bonjour\n\n\\[sla-bridge:jr:SUP-1/reminder/c/1\\]"})])
    adapter.post_comment(ticket, REMINDER)
    assert post.call_count == 1


@responses.activate
def test_an_internal_comment_sets_the_service_management_property() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    post = responses.post(f"{CLOUD}{API}/issue/SUP-1/comment", status=201, json=COMMENTS[1], match=[
        matchers.json_params_matcher({"body": "note", "properties": [
            {"key": "sd.public.comment", "value": {"internal": True}}]})])
    adapter.post_comment(ticket, PostComment("k", "note", False, "reminder"))
    assert post.call_count == 1


@responses.activate
def test_a_failed_comment_post_not_found_on_jira_is_left_to_the_next_pass() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    # A 504 from the gateway: Jira may still be storing the comment. Not there yet is no
    # proof it never will be: the error goes up, and the next pass re-reads the issue.
    responses.post(f"{CLOUD}{API}/issue/SUP-1/comment", status=504, body="Gateway Timeout")
    responses.post(f"{CLOUD}{API}/issue/SUP-1/comment", status=201, json=COMMENTS[2])
    check = responses.get(f"{CLOUD}{API}/issue/SUP-1/comment", json={"startAt": 0, "maxResults": 100, "total": 1,
                                                                    "comments": COMMENTS[:1]})
    with pytest.raises(TransientError, match="HTTP 504"):
        adapter.post_comment(ticket, REMINDER)
    assert posts() == 1 and check.call_count == 1 and SLEEPS == [1.0]


@responses.activate
def test_a_comment_post_is_not_resent_when_jira_cannot_be_asked() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    responses.post(f"{CLOUD}{API}/issue/SUP-1/comment", body=requests.ConnectionError("reset by peer"))
    responses.get(f"{CLOUD}{API}/issue/SUP-1/comment", status=503, body="Service Unavailable")
    with pytest.raises(TransientError, match="read the comments of SUP-1: HTTP 503"):
        adapter.post_comment(ticket, REMINDER)
    assert posts() == 1


@responses.activate
def test_a_comment_post_found_on_jira_after_a_timeout_is_not_resent() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    post = responses.post(f"{CLOUD}{API}/issue/SUP-1/comment", body=requests.ReadTimeout("read timed out"))
    responses.get(f"{CLOUD}{API}/issue/SUP-1/comment", json={"startAt": 0, "maxResults": 100, "total": 1, "comments": [
        comment("9", ME_CLOUD, "Bonjour\n\n\\[sla-bridge:jr:SUP-1/reminder/c/1\\]", "2025-06-02T12:00:00.000+0200",
                jsdPublic=True)]})
    adapter.post_comment(ticket, REMINDER)
    assert post.call_count == 1


@responses.activate
def test_a_rate_limited_comment_post_is_resent_without_checking() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    responses.post(f"{CLOUD}{API}/issue/SUP-1/comment", status=429,
                   headers={"Retry-After": "2", "RateLimit-Reason": "jira-per-issue-on-write"})
    responses.post(f"{CLOUD}{API}/issue/SUP-1/comment", status=201, json=COMMENTS[2])
    adapter.post_comment(ticket, REMINDER)
    assert posts() == 2 and SLEEPS == [2.0]
    assert not any(c.request.method == "GET" and (c.request.url or "").endswith("/comment") for c in responses.calls)


@responses.activate
def test_a_comment_post_rate_limited_every_time_gives_up_after_the_attempts() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    responses.post(f"{CLOUD}{API}/issue/SUP-1/comment", status=429, headers={"Retry-After": "1"})
    with pytest.raises(TransientError, match="HTTP 429"):
        adapter.post_comment(ticket, REMINDER)
    assert posts() == 3 and SLEEPS == [1.0, 1.0]


@responses.activate
def test_a_comment_post_over_the_hourly_quota_is_not_resent() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    responses.post(f"{CLOUD}{API}/issue/SUP-1/comment", status=429,
                   headers={"Retry-After": "1800", "RateLimit-Reason": "jira-quota-global-based"})
    with pytest.raises(TransientError, match="jira-quota-global-based") as info:
        adapter.post_comment(ticket, REMINDER)
    assert posts() == 1 and SLEEPS == [] and info.value.retry_after == 1800.0


def transitions(*found: dict[str, Any]) -> dict[str, Any]:
    return {"expand": "transitions", "transitions": list(found)}


RESOLUTION_FIELD = {"required": True, "schema": {"type": "resolution", "system": "resolution"}, "name": "Resolution",
                    "key": "resolution", "hasDefaultValue": False, "operations": ["set"], "allowedValues": [
                        {"self": f"{CLOUD}{API}/resolution/10000", "id": "10000", "description": "", "name": "Done"},
                        {"self": f"{CLOUD}{API}/resolution/10001", "id": "10001", "description": "", "name": "Won't Do"}]}


def transition(tid: str, name: str, to: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": tid, "name": name, "to": status(to, {"Closed": "6", "Resolved": "5"}.get(to, "3")),
            "hasScreen": bool(fields), "isGlobal": True, "isInitial": False, "isAvailable": True,
            "isConditional": False, "isLooped": False, "fields": fields or {}}


@responses.activate
def test_closing_picks_the_transition_by_target_status_and_sends_the_required_resolution() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    responses.get(f"{CLOUD}{API}/issue/SUP-1/transitions", json=transitions(
        transition("31", "Closed", "Resolved", {"resolution": RESOLUTION_FIELD}),  # a misleading name
        transition("41", "Archive", "Closed", {"resolution": RESOLUTION_FIELD})),
        match=[matchers.query_param_matcher({"expand": "transitions.fields"})])
    post = responses.post(f"{CLOUD}{API}/issue/SUP-1/transitions", status=204, match=[matchers.json_params_matcher(
        {"transition": {"id": "41"}, "fields": {"resolution": {"name": "Done"}}})])
    adapter.transition(ticket, "closed")
    assert post.call_count == 1


@responses.activate
def test_a_resolution_jira_does_not_offer_is_reported() -> None:
    adapter = make_adapter(resolution="Fixed")
    ticket = fetched(adapter)
    responses.get(f"{CLOUD}{API}/issue/SUP-1/transitions", json=transitions(
        transition("41", "Close", "Closed", {"resolution": RESOLUTION_FIELD})))
    with pytest.raises(SkippableError, match="needs a resolution; options.resolution is 'Fixed', Jira offers: Done,"
                                             " Won't Do"):
        adapter.transition(ticket, "Closed")


@responses.activate
def test_a_transition_refused_by_jira_is_reported_with_its_field() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    responses.get(f"{CLOUD}{API}/issue/SUP-1/transitions", json=transitions(transition("41", "Close", "Closed")))
    responses.post(f"{CLOUD}{API}/issue/SUP-1/transitions", status=400,
                   json={"errorMessages": [], "errors": {"resolution": "Resolution is required."}})
    with pytest.raises(SkippableError, match="HTTP 400: resolution: Resolution is required."):
        adapter.transition(ticket, "Closed")


@responses.activate
def test_a_transition_requiring_a_field_sla_bridge_cannot_fill_is_reported() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    responses.get(f"{CLOUD}{API}/issue/SUP-1/transitions", json=transitions(transition("41", "Close", "Closed", {
        "customfield_10300": {"required": True, "schema": {"type": "string"}, "name": "Root cause",
                              "key": "customfield_10300", "hasDefaultValue": False, "operations": ["set"]}})))
    with pytest.raises(SkippableError, match="requires the field 'Root cause'"):
        adapter.transition(ticket, "Closed")


@responses.activate
def test_no_transition_to_the_closing_status_is_reported() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    responses.get(f"{CLOUD}{API}/issue/SUP-1/transitions", json=transitions(transition("11", "Start", "In Progress")))
    with pytest.raises(SkippableError, match="no workflow transition from 'Waiting for customer' to 'Closed'.*"
                                             "In Progress"):
        adapter.transition(ticket, "Closed")


@responses.activate
def test_a_transition_applied_despite_a_lost_answer_is_not_resent() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    responses.get(f"{CLOUD}{API}/issue/SUP-1/transitions", json=transitions(transition("41", "Close", "Closed", {
        "resolution": RESOLUTION_FIELD})))
    post = responses.post(f"{CLOUD}{API}/issue/SUP-1/transitions", status=502, body="Bad Gateway")
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json={"id": "10001", "key": "SUP-1", "fields": {
        "status": status("Closed", "6")}}, match=[matchers.query_param_matcher({"fields": "status"})])
    adapter.transition(ticket, "Closed")
    assert post.call_count == 1


@responses.activate
def test_a_rate_limited_transition_is_resent_after_the_wait() -> None:
    adapter = make_adapter()
    ticket = fetched(adapter)
    responses.get(f"{CLOUD}{API}/issue/SUP-1/transitions", json=transitions(transition("41", "Close", "Closed", {
        "resolution": RESOLUTION_FIELD})))
    refused = responses.post(f"{CLOUD}{API}/issue/SUP-1/transitions", status=429,
                             headers={"Retry-After": "3", "RateLimit-Reason": "jira-per-issue-on-write"})
    responses.post(f"{CLOUD}{API}/issue/SUP-1/transitions", status=204)
    adapter.transition(ticket, "Closed")
    assert refused.call_count == 1 and posts() == 2 and SLEEPS == [3.0]


# --- configuration --------------------------------------------------------------------------

def test_missing_secret_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLA_TEST_JIRA_TOKEN")
    with pytest.raises(ConfigError, match="SLA_TEST_JIRA_TOKEN is not set"):
        make_adapter()


@pytest.mark.parametrize(("options", "message"), [
    ({"page_size": 5000}, r"options.page_size: Input should be less than or equal to 1000"),
    ({"projects": []}, r"options.projects: List should have at least 1 item"),
    ({"severity_field": "Criticité"}, r'options.severity_field: expected "priority" or a custom field id'),
    ({"deadline_field": "SLA deadline"}, r"options.deadline_field: expected a custom field id"),
    ({"token": {"env": "X"}}, r"options: give either email \+ api_token \(Jira Cloud\) or token"),
    ({"api_user_timezone": "Paris"}, r"options.api_user_timezone: unknown IANA time zone 'Paris'"),
    ({"jql": "x"}, r"options.jql: unknown key"),
    ({"url": "acme.atlassian.net"}, r"options.url: expected the site's address"),
])
def test_bad_options_name_the_key(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=rf"trackers.jr.{message}"):
        make_adapter(**options)


def test_cloud_needs_email_and_api_token() -> None:
    with pytest.raises(ConfigError, match="Jira Cloud needs email \\+ api_token"):
        make_adapter(DC, deployment="cloud")


def test_registered_as_a_plugin() -> None:
    from sla_bridge.adapters import jira
    from sla_bridge.plugins import AdapterRegistry

    registry = AdapterRegistry()
    jira.sla_bridge_register_adapters(registry)
    assert registry.get("jira") is JiraAdapter


@pytest.mark.parametrize(("url", "header"), [(CLOUD, BASIC), (DC, "Bearer t0k3n")])
@responses.activate
def test_a_given_session_gets_the_credentials(url: str, header: str) -> None:
    cfg = builtin_config()
    credentials = {"email": "sla-bridge@acme.test", "api_token": {"env": "SLA_TEST_JIRA_TOKEN"}} \
        if url == CLOUD else {"token": {"env": "SLA_TEST_JIRA_TOKEN"}}
    section = TrackerSection.model_validate({
        "adapter": "jira", "statuses": {"new": ["To Do"]}, "agents": ["group:support"], "options": {
            "url": url, "projects": ["SUP"], "deployment": "cloud" if url == CLOUD else "datacenter",
            "deadline_field": "customfield_10050", **credentials}})
    adapter = JiraAdapter("jr", section, cfg, session=requests.Session())
    responses.get(f"{url}{API}/myself", json=ME_CLOUD if url == CLOUD else ME_DC)
    assert adapter.me["displayName"] == "SLA Bridge"
    assert responses.calls[0].request.headers["Authorization"] == header


# --- who is who: identities, groups, organisations ------------------------------------------

BOB = {"self": f"{CLOUD}{API}/user?accountId=5d53f3cbc6b9320d9ea5bdc2", "accountId": "5d53f3cbc6b9320d9ea5bdc2",
       "avatarUrls": {"48x48": "https://avatar.example/b.png"}, "displayName": "Sam Agent", "active": True,
       "timeZone": "Europe/Paris", "accountType": "atlassian"}  # a licensed user who took an agent's display name


def groups_json(*names: str) -> list[dict[str, Any]]:
    """``GET /rest/api/2/user/groups?accountId=`` (Cloud): a list of groups."""
    return [{"name": name, "groupId": f"276f955c-63d7-42c8-9520-92d01dca06{i:02d}",
             "self": f"{CLOUD}/rest/api/3/group?groupId=276f955c-63d7-42c8-9520-92d01dca06{i:02d}"}
            for i, name in enumerate(names)]


def with_comments(*found: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return cloud_issue(comment={"comments": list(found), "self": f"{CLOUD}{API}/issue/10001/comment",
                                "maxResults": len(found), "total": len(found), "startAt": 0}, **fields)


@responses.activate
def test_cloud_agents_named_by_group_with_groups_read_once_per_user() -> None:
    myself()
    notes = [comment("1", SAM, "On it", "2025-06-02T10:30:00.000+0200", jsdPublic=True),
             comment("2", BOB, "I am support, trust me", "2025-06-02T10:31:00.000+0200", jsdPublic=True),
             comment("3", ME_CLOUD, "Reminder", "2025-06-02T10:32:00.000+0200", jsdPublic=True),
             comment("4", ALICE, "Thanks", "2025-06-02T10:33:00.000+0200", jsdPublic=True)]
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(fields=with_comments(*notes), histories=[]))
    sam = responses.get(f"{CLOUD}{API}/user/groups", json=groups_json("jira-servicedesk-users", "support"),
                        match=[matchers.query_param_matcher({"accountId": SAM["accountId"]})])
    bob = responses.get(f"{CLOUD}{API}/user/groups", json=groups_json("jira-software-users"),
                        match=[matchers.query_param_matcher({"accountId": BOB["accountId"]})])
    adapter = make_adapter(agents=["group:jira-servicedesk-users"])
    for _ in range(2):
        t = adapter.fetch("SUP-1")
        assert [(c.author, c.role) for c in t.events if isinstance(c, Comment)] == [
            ("Sam Agent", Role.AGENT), ("Sam Agent", Role.CUSTOMER),  # the same display name is no identity
            ("SLA Bridge", Role.AGENT), ("Alice Customer", Role.CUSTOMER)]
    # Once per user; none for sla-bridge itself (always an agent) nor for a portal customer.
    assert (sam.call_count, bob.call_count) == (1, 1)
    assert t.reporter is not None and t.reporter.groups == frozenset(), "no reporter pattern names a group"


@responses.activate
def test_cloud_agents_by_account_type_need_no_group_lookup() -> None:
    myself()
    notes = [comment("1", SAM, "On it", "2025-06-02T10:30:00.000+0200"),
             comment("2", ALICE, "Thanks", "2025-06-02T10:33:00.000+0200"),
             comment("3", AUTOMATION, "Auto-reply", "2025-06-02T10:34:00.000+0200")]
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(fields=with_comments(*notes), histories=[]))
    t = make_adapter(agents=["type:atlassian"]).fetch("SUP-1")
    assert [c.role for c in t.events if isinstance(c, Comment)] == [Role.AGENT, Role.CUSTOMER, Role.SYSTEM]
    assert not any("/user/groups" in (c.request.url or "") for c in responses.calls)


@responses.activate
def test_a_refused_group_lookup_gives_no_groups_and_the_ticket_is_read(caplog: pytest.LogCaptureFixture) -> None:
    myself()
    notes = [comment("1", SAM, "On it", "2025-06-02T10:30:00.000+0200")]
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(fields=with_comments(*notes), histories=[]))
    refused = responses.get(f"{CLOUD}{API}/user/groups", status=403, json={
        "errorMessages": ["You do not have permission to view this user's groups."], "errors": {}})
    adapter = make_adapter(agents=["group:support"])
    for _ in range(2):
        t = adapter.fetch("SUP-1")
        assert [c.role for c in t.events if isinstance(c, Comment)] == [Role.CUSTOMER]
    assert refused.call_count == 1 and "cannot read the groups of user" in caplog.text


@responses.activate
def test_datacenter_identities_are_key_and_username_with_groups_from_the_user_resource() -> None:
    myself(base=DC)
    namesake = {**SAM_DC, "self": f"{DC}{API}/user?username=sam.smith", "name": "sam.smith", "key": "JIRAUSER10102",
                "emailAddress": "sam.smith@customer.test", "displayName": "sam"}  # display name = an agent's login
    fields = cloud_issue(reporter=ALICE_DC)
    del fields["comment"]
    responses.get(f"{DC}{API}/issue/SUP-1", json=issue_json(fields=fields, histories=[], base=DC))
    responses.get(f"{DC}{API}/issue/SUP-1/comment", json={"startAt": 0, "maxResults": 100, "total": 2, "comments": [
        comment("1", SAM_DC, "On it", "2025-06-02T10:30:00.000+0200", properties=[]),
        comment("2", namesake, "Me too", "2025-06-02T10:31:00.000+0200", properties=[])]})
    for user, groups in ((SAM_DC, ["jira-servicedesk-users"]), (namesake, ["clients"]), (ALICE_DC, ["clients"])):
        responses.get(f"{DC}{API}/user", json={**user, "groups": {"size": len(groups), "items": [
            {"name": g, "self": f"{DC}{API}/group?groupname={g}"} for g in groups]},
            "applicationRoles": {"size": 1, "items": []}, "expand": "groups,applicationRoles"},
            match=[matchers.query_param_matcher({"username": user["name"], "expand": "groups"})])
    adapter = make_adapter(DC, agents=["group:jira-servicedesk-users"],
                           tracker={"entitlement": {"reporters": ["group:clients"]}})
    t = adapter.fetch("SUP-1")
    assert [(c.author, c.role) for c in t.events if isinstance(c, Comment)] == [
        ("Sam Agent", Role.AGENT), ("sam", Role.CUSTOMER)]
    assert t.reporter == Person(id="JIRAUSER10101", login="alice", email="alice@customer.test", name="Alice Customer",
                                groups=frozenset({"clients"}))
    assert make_adapter(DC, agents=["login:sam"]).agents[0].value == "sam"


def test_agents_named_by_display_name_are_refused() -> None:
    with pytest.raises(ValueError, match="looks like a display name"):
        make_adapter(agents=["Sam Agent"])


@responses.activate
def test_service_management_organisations_are_the_reporters() -> None:
    myself()
    orgs = [{"id": "1", "name": "Charlie Cakes Franchises", "scimManaged": False,
             "_links": {"self": f"{CLOUD}/rest/servicedeskapi/organization/1"}},
            {"id": "2", "name": "Acme", "scimManaged": False, "_links": {"self": f"{CLOUD}/rest/servicedeskapi/organization/2"}}]
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(fields=cloud_issue(customfield_10002=orgs), histories=[]),
                  match=[matchers.query_param_matcher({"fields": FIELDS + ",comment,customfield_10050,customfield_10002",
                                                       "expand": "changelog"})])
    t = make_adapter(organizations_field="customfield_10002").fetch("SUP-1")
    assert t.reporter is not None and t.reporter.organisations == {"Charlie Cakes Franchises", "Acme"}
    assert t.reporter.account_type == "customer"


# --- fields the configuration reads ---------------------------------------------------------

SELECT = {"self": f"{CLOUD}{API}/customFieldOption/10100", "value": "Production", "id": "10100"}
FIELD_LIST = [
    {"id": "components", "key": "components", "name": "Components", "custom": False, "orderable": True,
     "navigable": True, "searchable": True, "clauseNames": ["component"],
     "schema": {"type": "array", "items": "component", "system": "components"}},
    {"id": "customfield_10060", "key": "customfield_10060", "name": "Environnement", "custom": True,
     "clauseNames": ["cf[10060]", "Environnement"],
     "schema": {"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select",
                "customId": 10060}},
    {"id": "customfield_10061", "key": "customfield_10061", "name": "Modules", "custom": True,
     "clauseNames": ["cf[10061]", "Modules"],
     "schema": {"type": "array", "items": "option",
                "custom": "com.atlassian.jira.plugin.system.customfieldtypes:multiselect", "customId": 10061}},
    {"id": "customfield_10070", "key": "customfield_10070", "name": "Reported at", "custom": True,
     "clauseNames": ["cf[10070]", "Reported at"],
     "schema": {"type": "datetime", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:datetime",
                "customId": 10070}},
]
CONFIGURED = {"environnement": "customfield_10060", "composants": "components", "modules": "customfield_10061",
              "reported_at": "customfield_10070"}


def field_history(field_id: str) -> list[dict[str, Any]]:
    """Changelog entries for the configured fields, with or without ``fieldId`` (Data Center)."""
    fid = "cloud" if field_id else ""  # "": the item has no fieldId
    return [
        {"id": "10200", "author": SAM, "created": "2025-06-02T10:10:00.000+0200", "items": [
            item("Environnement", None, None, "10100", "Production", "custom", fid and "customfield_10060"),
            item("Component", None, None, "10300", "Billing", "jira", fid and "components")]},
        {"id": "10201", "author": SAM, "created": "2025-06-02T10:20:00.000+0200", "items": [
            item("Component", None, None, "10301", "API", "jira", fid and "components"),
            item("Component", "10300", "Billing", None, None, "jira", fid and "components"),
            item("Modules", None, None, "[10400, 10401]", "Export,Import, with mapping", "custom",
                 fid and "customfield_10061")]},
        {"id": "10202", "author": SAM, "created": "2025-06-02T10:30:00.000+0200", "items": [
            item("Modules", "[10400, 10401]", "Export,Import, with mapping", "[10401]", "Import, with mapping",
                 "custom", fid and "customfield_10061")]},
    ]


@pytest.mark.parametrize("url", [CLOUD, DC])
@responses.activate
def test_configured_fields_are_read_with_their_history(url: str) -> None:
    myself(base=url)
    fields = cloud_issue(customfield_10060=SELECT, components=[
        {"self": f"{url}{API}/component/10301", "id": "10301", "name": "API"}],
        customfield_10061=[{"self": f"{url}{API}/customFieldOption/10401", "value": "Import, with mapping",
                            "id": "10401"}], customfield_10070="2025-05-30T17:00:00.000+0200")
    # Data Center embeds comments too (without their properties): an issue with none needs no more.
    wanted = "comment,customfield_10050,customfield_10070,customfield_10060,components,customfield_10061"
    responses.get(f"{url}{API}/issue/SUP-1", json=issue_json(fields=fields, histories=field_history(
        "" if url == DC else "yes"), base=url), match=[matchers.query_param_matcher(
            {"fields": f"{FIELDS},{wanted}", "expand": "changelog"})])
    listed = responses.get(f"{url}{API}/field", json=FIELD_LIST)
    adapter = make_adapter(url, fields=CONFIGURED)
    t = adapter.fetch("SUP-1")
    assert t.fields == {("environnement", "Production"), ("composants", "API"), ("modules", "Import, with mapping")}
    assert t.reported_at == T("2025-05-30T17:00:00+02:00") and t.started == t.reported_at
    assert [(e.field, e.old, e.new, e.by) for e in t.events if isinstance(e, FieldChange)] == [
        ("environnement", None, "Production", "Sam Agent"), ("composants", None, "Billing", "Sam Agent"),
        ("composants", None, "API", "Sam Agent"), ("composants", "Billing", None, "Sam Agent"),
        ("modules", None, "Export", "Sam Agent"), ("modules", None, "Import, with mapping", "Sam Agent"),
        ("modules", "Export", None, "Sam Agent")]
    adapter.fetch("SUP-1")
    assert listed.call_count == 1, "the field list is read once"


@responses.activate
def test_a_reported_at_field_that_is_not_a_date_time_picker_skips_the_ticket() -> None:
    myself()
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(fields=cloud_issue(customfield_10070="2025-05-30"),
                                                              histories=[]))
    with pytest.raises(SkippableError, match=r"customfield_10070 \(fields.reported_at\) holds '2025-05-30'.*Date"
                                             " Time Picker"):
        make_adapter(fields={"reported_at": "customfield_10070"}).fetch("SUP-1")


@pytest.mark.parametrize(("fields", "message"), [
    ({"environnement": "Environnement"}, r"trackers.jr.fields.environnement: expected a Jira field id"),
    ({"reported_at": "created"}, r"trackers.jr.fields.reported_at: expected a Date Time Picker custom field id"),
])
def test_a_configured_field_must_be_a_field_id(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make_adapter(fields=fields)


def test_a_field_number_is_a_custom_field() -> None:
    assert make_adapter(fields={"env": 10060}).fields == {"env": "customfield_10060"}


# --- the way to the closing status -----------------------------------------------------------

RESOLVED_STATUSES = {"new": ["To Do"], "waiting_for_customer": ["Waiting for customer"], "resolved": ["Resolved"],
                     "closed": ["Closed"]}


@responses.activate
def test_without_a_direct_transition_the_issue_is_resolved_then_closed() -> None:
    adapter = make_adapter(statuses=RESOLVED_STATUSES)
    ticket = fetched(adapter)
    responses.get(f"{CLOUD}{API}/issue/SUP-1/transitions", json=transitions(
        transition("11", "Start progress", "In Progress"),
        transition("31", "Resolve this issue", "Resolved", {"resolution": RESOLUTION_FIELD})))
    resolve = responses.post(f"{CLOUD}{API}/issue/SUP-1/transitions", status=204, match=[
        matchers.json_params_matcher({"transition": {"id": "31"}, "fields": {"resolution": {"name": "Done"}}})])
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json={"id": "10001", "key": "SUP-1", "fields": {
        "status": status("Resolved", "5")}}, match=[matchers.query_param_matcher({"fields": "status"})])
    responses.get(f"{CLOUD}{API}/issue/SUP-1/transitions", json=transitions(
        transition("41", "Close", "Closed"), transition("51", "Reopen", "To Do")))
    close = responses.post(f"{CLOUD}{API}/issue/SUP-1/transitions", status=204, match=[
        matchers.json_params_matcher({"transition": {"id": "41"}})])
    adapter.transition(ticket, "Closed")
    assert resolve.call_count == 1 and close.call_count == 1
    assert [c.request.method for c in responses.calls][-5:] == ["GET", "POST", "GET", "GET", "POST"]


@responses.activate
def test_a_way_that_ends_short_of_the_closing_status_says_where_the_issue_stays() -> None:
    adapter = make_adapter(statuses=RESOLVED_STATUSES)
    ticket = fetched(adapter)
    responses.get(f"{CLOUD}{API}/issue/SUP-1/transitions", json=transitions(
        transition("31", "Resolve this issue", "Resolved", {"resolution": RESOLUTION_FIELD})))
    responses.post(f"{CLOUD}{API}/issue/SUP-1/transitions", status=204)
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json={"id": "10001", "key": "SUP-1", "fields": {
        "status": status("Resolved", "5")}}, match=[matchers.query_param_matcher({"fields": "status"})])
    responses.get(f"{CLOUD}{API}/issue/SUP-1/transitions", json=transitions(transition("51", "Reopen", "To Do")))
    with pytest.raises(SkippableError, match=r"no workflow transition from 'Resolved' to 'Closed'.*went through"
                                             r" Resolved, where it stays.*it may go to: To Do"):
        adapter.transition(ticket, "Closed")
    assert posts() == 1


@responses.activate
def test_an_intermediate_screen_sla_bridge_cannot_fill_is_not_taken() -> None:
    adapter = make_adapter(statuses=RESOLVED_STATUSES)
    ticket = fetched(adapter)
    responses.get(f"{CLOUD}{API}/issue/SUP-1/transitions", json=transitions(transition(
        "31", "Resolve this issue", "Resolved", {"customfield_10300": {
            "required": True, "schema": {"type": "string"}, "name": "Root cause", "key": "customfield_10300",
            "hasDefaultValue": False, "operations": ["set"]}})))
    with pytest.raises(SkippableError, match="none of these is a status mapped resolved.*requires the field 'Root"
                                             " cause'"):
        adapter.transition(ticket, "Closed")
    assert posts() == 0


@responses.activate
def test_a_status_seen_to_lead_to_the_closing_status_is_a_way_there() -> None:
    """Not mapped resolved, "Pending closure" is taken once the adapter has seen it lead to Closed."""
    adapter = make_adapter(statuses={"new": ["To Do"], "waiting_for_customer": ["Waiting for customer"]})
    ticket = fetched(adapter)
    pending = replace(ticket, status="Pending closure")
    waiting = [transition("71", "Propose closure", "Pending closure"), transition("11", "Start progress", "In Progress")]
    responses.get(f"{CLOUD}{API}/issue/SUP-1/transitions", json=transitions(*waiting))
    with pytest.raises(SkippableError, match="none of these is a status mapped resolved"):
        adapter.transition(ticket, "Closed")
    # Another issue sits in Pending closure: from there, Closed is one transition away.
    responses.get(f"{CLOUD}{API}/issue/SUP-1/transitions", json=transitions(transition("41", "Close", "Closed")))
    responses.post(f"{CLOUD}{API}/issue/SUP-1/transitions", status=204)
    adapter.transition(pending, "Closed")
    # Now the waiting issue's way is known: Pending closure, then Closed.
    responses.get(f"{CLOUD}{API}/issue/SUP-1/transitions", json=transitions(*waiting))
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json={"id": "10001", "key": "SUP-1", "fields": {
        "status": status("Pending closure", "10010")}}, match=[matchers.query_param_matcher({"fields": "status"})])
    responses.get(f"{CLOUD}{API}/issue/SUP-1/transitions", json=transitions(transition("41", "Close", "Closed")))
    adapter.transition(ticket, "Closed")
    sent = [json.loads(c.request.body or b"")["transition"]["id"]  # type: ignore[arg-type]
            for c in responses.calls if c.request.method == "POST"]
    assert sent == ["41", "71", "41"]


# --- check-config --connect ------------------------------------------------------------------

@responses.activate
def test_a_failed_authentication_is_one_failed_check_without_the_token() -> None:
    responses.get(f"{CLOUD}{API}/myself", status=401, body="")
    checks = make_adapter().check_connection()
    assert len(checks) == 1 and checks[0].subject == "authentication" and not checks[0].ok
    assert "authentication failed" in checks[0].detail and "t0k3n" not in repr(checks)


@responses.activate
def test_an_unreachable_site_is_one_failed_check() -> None:
    responses.get(f"{DC}{API}/myself", body=requests.ConnectionError("name or service not known"))
    (check,) = make_adapter(DC).check_connection()
    assert not check.ok and f"cannot connect to {DC}" in check.detail


def test_the_constructor_sends_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """check-config builds every adapter to validate its options and secrets: offline."""
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the constructor opened a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for url in (CLOUD, DC):
            make_adapter(url, deployment="auto", fields=CONFIGURED, organizations_field="customfield_10002",
                         agents=["group:support"])
        assert len(mock.calls) == 0
