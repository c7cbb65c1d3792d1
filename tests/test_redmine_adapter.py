"""The Redmine adapter against recorded HTTP (``responses``).

The JSON is shaped like Redmine 5.0's answers, as captured from the live Debian
Redmine 5.0.4 the live tests use (and as the REST API wiki documents them): a
non-admin API user sees ``login`` but no ``groups`` (and ``mail`` only when the
user shows it), an admin sees both; issues name people as ``{id, name}``.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any, cast

import pytest
import requests
import responses
from responses import matchers

from sla_bridge.actions import PostComment, SetDueDate, SetLabels
from sla_bridge.adapters.base import (
    Check, FieldRefused, OutOfScope, PermanentError, SkippableError, TransientError,
)
from sla_bridge.adapters.redmine import RedmineAdapter
from sla_bridge.config import TrackerSection
from sla_bridge.demo import builtin_config
from sla_bridge.httpclient import RetryPolicy
from sla_bridge.identity import Person
from sla_bridge.model import Comment, FieldChange, LabelChange, Role, SeverityChange, StatusChange

URL = "http://redmine.test"
KEY = "k3y-s3cret-api-key"
STATUSES = {"issue_statuses": [{"id": 1, "name": "New", "is_closed": False},
                               {"id": 2, "name": "In Progress", "is_closed": False},
                               {"id": 3, "name": "Resolved", "is_closed": False},
                               {"id": 4, "name": "Feedback", "is_closed": False},
                               {"id": 5, "name": "Closed", "is_closed": True},
                               {"id": 6, "name": "Rejected", "is_closed": True}]}
PRIORITIES = {"issue_priorities": [{"id": 1, "name": "Low", "is_default": False, "active": True},
                                   {"id": 2, "name": "Normal", "is_default": True, "active": True},
                                   {"id": 3, "name": "High", "is_default": False, "active": True},
                                   {"id": 4, "name": "Urgent", "is_default": False, "active": True}]}
TRACKERS = {"trackers": [{"id": 1, "name": "Bug", "default_status": {"id": 1, "name": "New"}, "description": None},
                         {"id": 2, "name": "Feature", "default_status": {"id": 1, "name": "New"},
                          "description": None}]}
CUSTOM_FIELDS = [{"id": 1, "name": "SLA labels"}, {"id": 2, "name": "SLA deadline"}, {"id": 3, "name": "Workaround"},
                 {"id": 4, "name": "Reported at"}, {"id": 5, "name": "Modules"}]
PROJECTS = [
    {"id": 1, "name": "Support", "identifier": "support", "description": "", "status": 1, "is_public": False,
     "inherit_members": False, "issue_categories": [{"id": 2, "name": "Production"}, {"id": 1, "name": "Training"}],
     "issue_custom_fields": CUSTOM_FIELDS, "created_on": "2025-06-01T10:49:00Z", "updated_on": "2025-06-01T10:49:00Z"},
    {"id": 2, "name": "Internal", "identifier": "internal", "description": "", "status": 1, "is_public": True,
     "inherit_members": False, "issue_categories": [], "issue_custom_fields": CUSTOM_FIELDS[:2],
     "created_on": "2025-06-01T10:49:00Z", "updated_on": "2025-06-01T10:49:00Z"},
]
SUPPORT = {"id": 1, "name": "Support"}


def user(id: int, login: str, first: str, last: str, roles: list[tuple[int, str, bool]], admin_view: bool = False,
         mail: str | None = None, groups: list[tuple[int, str]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    """``GET /users/:id.json?include=groups,memberships`` as Redmine 5.0 answers it."""
    data: dict[str, Any] = {"id": id, "login": login, "firstname": first, "lastname": last,
                            "created_on": "2025-06-01T10:49:00Z", "updated_on": "2025-06-01T10:49:00Z",
                            "last_login_on": None, "passwd_changed_on": "2025-06-01T10:49:00Z"}
    if mail:
        data["mail"] = mail
    if admin_view:  # an admin also sees `admin`, `status`, the API key and the groups
        data.update({"admin": False, "status": 1, "groups": [{"id": g, "name": n} for g, n in groups]})
    data["memberships"] = [{"id": 100 + id, "project": SUPPORT, "roles": [
        {"id": r, "name": n, **({"inherited": True} if inherited else {})} for r, n, inherited in roles]}]
    return {"user": data}


# Logins differ from display names on purpose: identities are never display names.
USERS = {
    5: ("agent", "Sam", "Agent", [(3, "Manager", False)], None, []),
    7: ("cust-admin", "Alice", "Martin", [(5, "Reporter", False)], "alice.martin@example.test", []),
    8: ("jdupont", "Jo", "Dupont", [(4, "Developer", True)], None, [(11, "Support Team")]),
    9: ("mlefebvre", "Marc", "Lefebvre", [(6, "Support", False)], None, []),
    10: ("sla-bot", "SLA", "Bridge", [(6, "Support", False)], None, []),
}
MEMBERSHIPS = {"memberships": [
    {"id": 1, "project": SUPPORT, "user": {"id": 5, "name": "Sam Agent"}, "roles": [{"id": 3, "name": "Manager"}]},
    {"id": 3, "project": SUPPORT, "user": {"id": 7, "name": "Alice Martin"}, "roles": [{"id": 5, "name": "Reporter"}]},
    {"id": 4, "project": SUPPORT, "user": {"id": 9, "name": "Marc Lefebvre"}, "roles": [{"id": 6, "name": "Support"}]},
    {"id": 6, "project": SUPPORT, "group": {"id": 11, "name": "Support Team"},
     "roles": [{"id": 4, "name": "Developer"}]},
    {"id": 7, "project": SUPPORT, "user": {"id": 8, "name": "Jo Dupont"},
     "roles": [{"id": 4, "name": "Developer", "inherited": True}]},
], "total_count": 5, "offset": 0, "limit": 100}
GROUP = {"group": {"id": 11, "name": "Support Team", "users": [{"id": 8, "name": "Jo Dupont"}]}}
SUPPORT_ROLE = {"role": {"id": 6, "name": "Support", "assignable": True, "issues_visibility": "all",
                         "time_entries_visibility": "all", "users_visibility": "all",
                         "permissions": ["view_issues", "add_issues", "edit_issues", "add_issue_notes",
                                         "view_private_notes", "set_notes_private"]}}


def issue(id: int = 7, **extra: Any) -> dict[str, Any]:
    data = {
        "id": id, "project": SUPPORT, "tracker": {"id": 1, "name": "Bug"},
        "status": {"id": 4, "name": "Feedback", "is_closed": False}, "priority": {"id": 4, "name": "Urgent"},
        "author": {"id": 7, "name": "Alice Martin"}, "category": {"id": 1, "name": "Training"},
        "subject": "Server down", "description": "",
        "start_date": "2025-06-02", "due_date": None, "done_ratio": 0, "is_private": False,
        "estimated_hours": None, "total_estimated_hours": None, "spent_hours": 0.0, "total_spent_hours": 0.0,
        "custom_fields": [{"id": 1, "name": "SLA labels", "multiple": True, "value": ["sla-bloquante", "vip"]},
                          {"id": 2, "name": "SLA deadline", "value": "2025-06-02T13:00:00+02:00"},
                          {"id": 3, "name": "Workaround", "value": "provisional"},
                          {"id": 4, "name": "Reported at", "value": None},
                          {"id": 5, "name": "Modules", "multiple": True, "value": ["billing", "export"]}],
        "created_on": "2025-06-02T08:00:00Z", "updated_on": "2025-06-02T09:00:00Z", "closed_on": None,
    }
    data.update(extra)
    return data


def journal(id: int, user_id: int, name: str, at: str, notes: str = "", private: bool = False,
            details: list[dict[str, Any]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    return {"id": id, "user": {"id": user_id, "name": name}, "notes": notes, "created_on": at,
            "private_notes": private, "details": list(details)}


def detail(prop: str, name: str, old: str | None, new: str | None) -> dict[str, Any]:
    return {"property": prop, "name": name, "old_value": old, "new_value": new}


JOURNALS = [
    journal(11, 5, "Sam Agent", "2025-06-02T08:30:00Z", "Looking into it",
            details=[detail("attr", "status_id", "1", "2")]),
    journal(12, 5, "Sam Agent", "2025-06-02T08:40:00Z",
            details=[detail("attr", "priority_id", "3", "4"), detail("cf", "1", None, "sla-bloquante")]),
    journal(13, 8, "Jo Dupont", "2025-06-02T08:45:00Z", "Internal: check logs", private=True),
    journal(14, 9, "Marc Lefebvre", "2025-06-02T09:00:00Z", "Please test",
            details=[detail("attr", "status_id", "2", "4")]),
    journal(15, 7, "Alice Martin", "2025-06-02T10:00:00Z", "Testing"),
]

SLEEPS: list[float] = []


def make_adapter(agents: list[str] | None = None, fields: dict[str, str | int] | None = None,
                 visibility: str = "public", **options: Any) -> RedmineAdapter:
    cfg = builtin_config()
    section = TrackerSection.model_validate({
        "adapter": "redmine", "statuses": {"new": ["New"], "waiting_for_customer": ["Feedback"],
                                           "resolved": ["Resolved"], "closed": ["Closed", "Rejected"]},
        "agents": agents or ["login:agent", "group:Support Team", "role:Support"],
        "closing_status": "Closed", "comment_visibility": visibility, "fields": fields or {},
        "options": {"url": URL, "api_key": {"env": "SLA_TEST_REDMINE_KEY"}, "labels_field": 1, "deadline_field": 2,
                    **options}})
    return RedmineAdapter("rm", section, cfg, retry=RetryPolicy(attempts=3, sleep=SLEEPS.append))


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLA_TEST_REDMINE_KEY", KEY)
    SLEEPS.clear()


def lookups(rsps: responses.RequestsMock, admin: bool = False, me: int = 10) -> None:
    """Every lookup a fetch may make, as a non-admin (default) or an admin API user sees them."""
    rsps.get(f"{URL}/issue_statuses.json", json=STATUSES)
    rsps.get(f"{URL}/enumerations/issue_priorities.json", json=PRIORITIES)
    rsps.get(f"{URL}/trackers.json", json=TRACKERS)
    rsps.get(f"{URL}/projects.json", json={"projects": PROJECTS, "total_count": 2, "offset": 0, "limit": 100})
    login, first, last, roles, _, _ = USERS[me] if me in USERS else ("admin", "Redmine", "Admin", [], None, [])
    current = user(me, login, first, last, roles)["user"] | {"admin": admin, "api_key": KEY}
    rsps.get(f"{URL}/users/current.json", json={"user": current})
    for uid, (login, first, last, roles, mail, groups) in USERS.items():
        rsps.get(f"{URL}/users/{uid}.json", json=user(uid, login, first, last, roles, admin, mail, groups))
    rsps.get(f"{URL}/projects/1/memberships.json", json=MEMBERSHIPS)
    if admin:
        rsps.get(f"{URL}/custom_fields.json", json={"custom_fields": [
            LABELS_DEFINITION | {"id": f["id"], "name": f["name"]} for f in CUSTOM_FIELDS]})
    else:  # admin-only
        rsps.get(f"{URL}/custom_fields.json", status=403)
    rsps.get(f"{URL}/groups/11.json", json=GROUP)
    rsps.get(f"{URL}/roles/6.json", json=SUPPORT_ROLE)


def calls(path: str, method: str = "GET") -> int:
    return sum(1 for c in responses.calls
               if c.request.method == method and str(c.request.url).split("?")[0] == URL + path)


# --- identities -------------------------------------------------------------------------------------------------


@responses.activate
def test_fetch_builds_the_history_from_journals() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(journals=JOURNALS)},
                  match=[matchers.query_param_matcher({"include": "journals"}),
                         matchers.header_matcher({"X-Redmine-API-Key": KEY})])
    t = make_adapter().fetch("7")
    assert (t.id, t.tracker, t.status, t.severity, t.project) == ("7", "rm", "Feedback", "Urgent", "support")
    assert t.labels == {"sla-bloquante", "vip"}
    assert t.due_at == datetime.fromisoformat("2025-06-02T13:00:00+02:00")
    assert t.initial_status() == "New" and t.initial_severity() == "High"
    assert [e.by_role for e in t.events if isinstance(e, StatusChange)] == [Role.AGENT, Role.AGENT]
    assert [e for e in t.events if isinstance(e, SeverityChange)][0].to_severity == "Urgent"
    assert [e for e in t.events if isinstance(e, LabelChange)][0].label == "sla-bloquante"
    comments = [e for e in t.events if isinstance(e, Comment)]
    assert [(c.author, c.role, c.public) for c in comments] == [
        ("Sam Agent", Role.AGENT, True), ("Jo Dupont", Role.AGENT, False), ("Marc Lefebvre", Role.AGENT, True),
        ("Alice Martin", Role.CUSTOMER, True)]
    assert [e.to_status for e in t.events if isinstance(e, StatusChange)] == ["In Progress", "Feedback"]


@responses.activate
def test_the_reporter_is_a_person_with_login_mail_groups_and_project_roles() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(author={"id": 8, "name": "Jo Dupont"})})
    jo = make_adapter().fetch("7").reporter
    # A non-admin API user sees no groups on users: they come from the project's group members.
    assert jo == Person(id="8", login="jdupont", name="Jo Dupont", groups=frozenset({"Support Team"}),
                        roles=frozenset({"Developer"}))
    responses.calls.reset()
    responses.get(f"{URL}/issues/8.json", json={"issue": issue(id=8)})
    alice = make_adapter().fetch("8").reporter
    assert alice == Person(id="7", login="cust-admin", email="alice.martin@example.test", name="Alice Martin",
                           roles=frozenset({"Reporter"}))


@pytest.mark.parametrize(("agents", "author", "role"), [
    (["login:agent"], 5, Role.AGENT),
    (["login:agent"], 9, Role.CUSTOMER),
    (["group:Support Team"], 8, Role.AGENT),      # Jo Dupont, through the group
    (["group:Support Team"], 9, Role.CUSTOMER),
    (["role:Support"], 9, Role.AGENT),            # Marc Lefebvre's role in the issue's project
    (["role:support"], 8, Role.CUSTOMER),         # Jo's role is Developer
    (["email:alice.martin@example.test"], 7, Role.AGENT),
    (["cust-admin"], 7, Role.AGENT),              # a bare login
    (["7"], 7, Role.AGENT),                       # a bare id
    (["login:alice"], 7, Role.CUSTOMER),          # her first name is not her login
    (["login:nobody"], 10, Role.AGENT),           # sla-bridge's own API user is always an agent
])
@responses.activate
def test_agents_are_matched_by_identity_never_by_display_name(agents: list[str], author: int, role: Role) -> None:
    lookups(responses.mock)
    name = " ".join(USERS[author][1:3])
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(journals=[
        journal(1, author, name, "2025-06-02T09:00:00Z", "A note")])})
    [comment] = make_adapter(agents=agents).fetch("7").events
    assert isinstance(comment, Comment) and (comment.author, comment.role) == (name, role)


@responses.activate
def test_an_admin_api_user_reads_groups_from_the_user_itself() -> None:
    lookups(responses.mock, admin=True)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(journals=[
        journal(1, 8, "Jo Dupont", "2025-06-02T09:00:00Z", "On it")])})
    t = make_adapter(agents=["group:Support Team"]).fetch("7")
    assert t.events[0].role is Role.AGENT  # type: ignore[union-attr]
    assert calls("/projects/1/memberships.json") == 0 and calls("/groups/11.json") == 0


@pytest.mark.parametrize("status", [403, 404])
@responses.activate
def test_a_user_the_api_user_may_not_see_is_known_by_id_and_name(status: int) -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/users/42.json", status=status)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(author={"id": 42, "name": "Ghost Writer"}, journals=[
        journal(1, 42, "Ghost Writer", "2025-06-02T09:00:00Z", "Hello")])})
    t = make_adapter(agents=["login:agent"]).fetch("7")
    assert t.reporter == Person(id="42", name="Ghost Writer")
    assert t.events[0].role is Role.CUSTOMER  # type: ignore[union-attr]


@responses.activate
def test_each_user_and_project_is_looked_up_once_per_adapter() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(journals=JOURNALS)})
    responses.get(f"{URL}/issues/8.json", json={"issue": issue(id=8, journals=JOURNALS)})
    adapter = make_adapter()
    adapter.fetch("7")
    adapter.fetch("8")
    assert [calls(f"/users/{u}.json") for u in (5, 7, 8, 9)] == [1, 1, 1, 1]
    assert calls("/users/current.json") == calls("/projects.json") == calls("/projects/1/memberships.json") == 1


@responses.activate
def test_the_project_list_is_paged() -> None:
    lookups(responses.mock)
    responses.replace(responses.GET, f"{URL}/projects.json", json={"projects": PROJECTS[1:], "total_count": 2,
                                                                   "offset": 0, "limit": 1},
                      match=[matchers.query_param_matcher({"offset": "0", "limit": "100",
                                                           "include": "issue_categories,issue_custom_fields"})])
    responses.get(f"{URL}/projects.json", json={"projects": PROJECTS[:1], "total_count": 2, "offset": 1, "limit": 1},
                  match=[matchers.query_param_matcher({"offset": "1", "limit": "100",
                                                       "include": "issue_categories,issue_custom_fields"})])
    responses.get(f"{URL}/issues/7.json", json={"issue": issue()})
    assert make_adapter().fetch("7").project == "support"


# --- fields -----------------------------------------------------------------------------------------------------

FIELDS: dict[str, str | int] = {"domaine": "category", "type_demande": "tracker", "workaround": "Workaround",
                                "modules": 5}


@responses.activate
def test_configured_fields_are_read_into_the_ticket() -> None:
    lookups(responses.mock)  # /custom_fields.json is admin-only: names come from the project list
    responses.get(f"{URL}/issues/7.json", json={"issue": issue()})
    t = make_adapter(fields=FIELDS).fetch("7")
    assert t.fields == {("domaine", "Training"), ("type_demande", "Bug"), ("workaround", "provisional"),
                        ("modules", "billing"), ("modules", "export")}
    assert t.field_values("Modules") == {"billing", "export"}


@responses.activate
def test_field_changes_come_from_journal_details_with_names_not_ids() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(journals=[
        journal(1, 5, "Sam Agent", "2025-06-02T09:00:00Z", details=[
            detail("attr", "category_id", None, "2"), detail("attr", "tracker_id", "2", "1"),
            detail("cf", "3", None, "provisional"), detail("cf", "5", None, "billing")]),
        journal(2, 9, "Marc Lefebvre", "2025-06-02T10:00:00Z", details=[
            detail("attr", "category_id", "2", "1"), detail("cf", "3", "provisional", "definitive"),
            detail("cf", "5", "export", None)]),
        journal(3, 5, "Sam Agent", "2025-06-02T11:00:00Z", details=[detail("attr", "category_id", "1", "99")]),
    ])})
    t = make_adapter(fields={"domaine": "category", "type_demande": "tracker", "workaround": 3, "modules": "5"}
                     ).fetch("7")
    changes = [(e.field, e.old, e.new, e.by) for e in t.events if isinstance(e, FieldChange)]
    assert changes == [
        ("domaine", None, "Production", "Sam Agent"), ("type_demande", "Feature", "Bug", "Sam Agent"),
        ("workaround", None, "provisional", "Sam Agent"), ("modules", None, "billing", "Sam Agent"),
        ("domaine", "Production", "Training", "Marc Lefebvre"),
        ("workaround", "provisional", "definitive", "Marc Lefebvre"), ("modules", "export", None, "Marc Lefebvre"),
        ("domaine", "Training", "#99", "Sam Agent"),  # a deleted category has no name any more
    ]
    assert calls("/projects/1/issue_categories.json") == 0  # needs manage_categories: never asked
    assert calls("/projects.json") == 2  # the unknown category read the list once more, then never again


@responses.activate
def test_an_unknown_custom_field_name_is_a_config_error() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue()})
    with pytest.raises(PermanentError, match=r"trackers.rm.fields.impact: no issue custom field named 'Impact'"):
        make_adapter(fields={"impact": "Impact"}).fetch("7")


@pytest.mark.parametrize(("value", "expected"), [
    ("2025-05-30T16:45:00+02:00", "2025-05-30T16:45:00+02:00"),
    ("2025-05-30T14:45:00Z", "2025-05-30T16:45:00+02:00"),
    ("2025-05-30 16:45", "2025-05-30T16:45:00+02:00"),   # no offset: the calendar's zone
    ("2025-05-30", "2025-05-30T00:00:00+02:00"),         # a date: that day, from its first opening
    (None, None), ("", None),
])
@responses.activate
def test_reported_at_from_a_custom_field(value: str | None, expected: str | None) -> None:
    lookups(responses.mock)
    fields = issue()["custom_fields"]
    fields[3]["value"] = value
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(custom_fields=fields)})
    t = make_adapter(fields={"reported_at": "Reported at"}).fetch("7")
    assert t.reported_at == (datetime.fromisoformat(expected) if expected else None)
    assert t.fields == frozenset()  # reported_at is not a field of the model's fields


@pytest.mark.parametrize("value", ["yesterday", "30/05/2025", "2025-13-01"])
@responses.activate
def test_a_malformed_reported_at_skips_the_ticket_naming_issue_and_field(value: str) -> None:
    lookups(responses.mock)
    fields = issue()["custom_fields"]
    fields[3]["value"] = value
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(custom_fields=fields)})
    with pytest.raises(SkippableError, match=rf"rm: issue 7: custom field 'Reported at' \(reported_at\) holds"
                                             rf" '{value}', not a date or an ISO 8601 instant"):
        make_adapter(fields={"reported_at": "Reported at"}).fetch("7")


@responses.activate
def test_missing_and_null_fields() -> None:
    lookups(responses.mock)
    bare = issue(custom_fields=[], fixed_version=None)
    del bare["priority"], bare["category"]
    responses.get(f"{URL}/issues/7.json", json={"issue": bare})
    t = make_adapter(fields={"domaine": "category", "workaround": 3}).fetch("7")
    assert t.severity is None and t.labels == frozenset() and t.due_at is None and t.events == ()
    assert t.fields == frozenset()


@responses.activate
def test_malformed_issue_is_skippable() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": {"id": 7}})
    with pytest.raises(SkippableError, match="^rm: issue 7: it has no status$"):
        make_adapter().fetch("7")


# --- change query -----------------------------------------------------------------------------------------------


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
def test_several_projects_use_the_filter_syntax_with_project_ids() -> None:
    # `project_id=support,internal` answers 404 on Redmine 5.0: one project only, by id or identifier.
    lookups(responses.mock)
    responses.get(f"{URL}/issues.json", json={"issues": [{"id": 4, "updated_on": "2025-06-02T09:01:00Z"}],
                                              "total_count": 1, "offset": 0, "limit": 100},
                  match=[matchers.query_param_matcher({
                      "set_filter": "1", "f[]": ["status_id", "project_id", "updated_on"], "op[status_id]": "*",
                      "op[project_id]": "=", "v[project_id][]": ["1", "2"], "op[updated_on]": ">=",
                      "v[updated_on][]": "2025-06-02T07:00:00Z", "sort": "updated_on,id", "limit": "100",
                      "offset": "0"})])
    rows = list(make_adapter(projects=["support", "internal"]).changed_since(
        datetime.fromisoformat("2025-06-02T09:00:00+02:00")))
    assert [r.id for r in rows] == ["4"]


@responses.activate
def test_an_issue_outside_the_projects_is_left_alone_when_read_by_id() -> None:
    # Moved to another project since it was synced, or named by a webhook of another project:
    # the change query would never list it, so it is not written to either.
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(project={"id": 2, "name": "Internal"})})
    responses.get(f"{URL}/issues/8.json", json={"issue": issue(8)})
    adapter = make_adapter(projects=["support"])
    with pytest.raises(OutOfScope, match="issue 7 is in project 'Internal', which is not in options.projects:"
                                             " left alone"):
        adapter.fetch("7")
    assert adapter.fetch("8").project == "support"
    # With no projects configured, every project the API user sees is under contract.
    responses.get(f"{URL}/projects/2/memberships.json",
                  json={"memberships": [], "total_count": 0, "offset": 0, "limit": 100})
    assert make_adapter().fetch("7").project == "internal"


@responses.activate
def test_an_unknown_project_is_a_config_error() -> None:
    lookups(responses.mock)
    with pytest.raises(PermanentError, match="project 'sales' .* does not exist or is not visible"):
        list(make_adapter(projects=["support", "sales"]).changed_since(None))


# --- writes -----------------------------------------------------------------------------------------------------


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


# Redmine 5.0.4's exact answer to a due date before the start date (PUT /issues/:id.json).
DUE_BEFORE_START = {"errors": ["Due date must be greater than start date"]}


@responses.activate
def test_a_refused_due_date_does_not_block_the_labels_and_deadline() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(start_date="2025-06-10")})
    first = responses.put(f"{URL}/issues/7.json", status=422, json=DUE_BEFORE_START,
                          match=[matchers.json_params_matcher({"issue": {
                              "due_date": "2025-06-03", "custom_fields": [
                                  {"id": 2, "value": "2025-06-03T11:00:00+02:00"},
                                  {"id": 1, "value": ["sla-a-risque", "vip"]}]}})])
    second = responses.put(f"{URL}/issues/7.json", status=204, match=[matchers.json_params_matcher({"issue": {
        "custom_fields": [{"id": 2, "value": "2025-06-03T11:00:00+02:00"},
                          {"id": 1, "value": ["sla-a-risque", "vip"]}]}})])
    adapter = make_adapter()
    ticket = adapter.fetch("7")
    with pytest.raises(FieldRefused) as refused:
        adapter.apply_fields(ticket, SetDueDate(date(2025, 6, 3),
                                                datetime.fromisoformat("2025-06-03T11:00:00+02:00")),
                             SetLabels(frozenset({"sla-a-risque"}), frozenset({"sla-bloquante"})))
    assert refused.value.field == "due_date"
    assert str(refused.value) == ("rm: issue 7: Redmine refused the due date 2025-06-03 (Due date must be greater"
                                  " than start date; the issue starts on 2025-06-10); the other fields were written")
    assert first.call_count == second.call_count == 1


@responses.activate
def test_a_422_about_something_else_is_reported_as_it_is() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(start_date="2025-06-01")})
    put = responses.put(f"{URL}/issues/7.json", status=422, json={"errors": ["Sla labels is not included in the list"]})
    adapter = make_adapter()
    with pytest.raises(SkippableError, match="HTTP 422: Sla labels is not included in the list"):
        adapter.apply_fields(adapter.fetch("7"), SetDueDate(date(2025, 6, 3), None),
                             SetLabels(frozenset({"sla-inconnu"}), frozenset()))
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
def test_an_internal_note_needs_the_permission_to_set_notes_private() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue()})
    put = responses.put(f"{URL}/issues/7.json", status=204, match=[matchers.json_params_matcher(
        {"issue": {"notes": "internal [sla-bridge:k]", "private_notes": True}})])
    adapter = make_adapter()
    ticket = adapter.fetch("7")
    adapter.post_comment(ticket, PostComment("k", "internal [sla-bridge:k]", False, "reminder"))
    assert put.call_count == 1

    # Without "Set notes as private" Redmine would drop the flag and publish the note: refuse.
    responses.replace(responses.GET, f"{URL}/roles/6.json", json={"role": SUPPORT_ROLE["role"] | {
        "permissions": ["view_issues", "edit_issues", "add_issue_notes"]}})
    adapter = make_adapter()
    with pytest.raises(SkippableError, match="lacks \"Set notes as private\" in project 'support': Redmine would"
                                             " publish this internal note"):
        adapter.post_comment(adapter.fetch("7"), PostComment("k2", "internal", False, "reminder"))
    assert put.call_count == 1


@responses.activate
def test_a_note_needs_the_permission_to_add_notes() -> None:
    # Without "Add notes" Redmine answers 204 and drops the note: it would be taken for sent.
    lookups(responses.mock)
    responses.replace(responses.GET, f"{URL}/roles/6.json", json={"role": SUPPORT_ROLE["role"] | {
        "permissions": ["view_issues", "edit_issues"]}})
    responses.get(f"{URL}/issues/7.json", json={"issue": issue()})
    put = responses.put(f"{URL}/issues/7.json", status=204)
    adapter = make_adapter()
    with pytest.raises(SkippableError, match="lacks \"Add notes\" in project 'support': Redmine would drop"):
        adapter.post_comment(adapter.fetch("7"), PostComment("k", "public", True, "reminder"))
    assert put.call_count == 0


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


@responses.activate
def test_a_transient_failure_of_a_user_lookup_is_not_guessed_around() -> None:
    # Treating an unreadable agent as the customer would restart the waiting cycle: try again later.
    lookups(responses.mock)
    responses.replace(responses.GET, f"{URL}/users/5.json", status=503)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(journals=JOURNALS[:1])})
    with pytest.raises(TransientError, match="read user 5: HTTP 503"):
        make_adapter().fetch("7")


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
    assert KEY not in str(info.value)


@responses.activate
def test_connection_refused_is_transient() -> None:
    responses.get(f"{URL}/issues/7.json", body=requests.ConnectionError("refused"))
    with pytest.raises(TransientError, match="cannot connect"):
        make_adapter().fetch("7")


# --- closure along the workflow ---------------------------------------------------------------------------------


def allowed(status: tuple[int, str], *ids: int, tracker: str = "Bug") -> dict[str, Any]:
    names = {s["id"]: s for s in STATUSES["issue_statuses"]}
    return {"issue": issue(status={"id": status[0], "name": status[1], "is_closed": status[0] in (5, 6)},
                           tracker={"id": 1, "name": tracker},
                           allowed_statuses=[names[i] for i in sorted({*ids, status[0]})])}


def read_allowed(body: dict[str, Any]) -> None:
    responses.get(f"{URL}/issues/7.json", json=body,
                  match=[matchers.query_param_matcher({"include": "allowed_statuses"})])


def status_puts() -> list[int]:
    return [json.loads(cast(bytes, c.request.body))["issue"]["status_id"] for c in responses.calls
            if c.request.method == "PUT"]


@responses.activate
def test_closure_is_direct_when_the_workflow_allows_it() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue()}, match=[matchers.query_param_matcher(
        {"include": "journals"})])
    read_allowed(allowed((4, "Feedback"), 1, 2, 3, 5, 6))
    read_allowed(allowed((5, "Closed"), 1, 2))
    responses.put(f"{URL}/issues/7.json", status=204)
    adapter = make_adapter()
    adapter.transition(adapter.fetch("7"), "Closed")
    assert status_puts() == [5]


@responses.activate
def test_closure_steps_through_a_resolved_status_when_there_is_no_direct_transition() -> None:
    lookups(responses.mock)
    read_allowed(allowed((4, "Feedback"), 1, 2, 3, 6))  # Rejected is closed, but not the closing status
    read_allowed(allowed((3, "Resolved"), 1, 2, 4, 5))
    read_allowed(allowed((5, "Closed"), 1, 2))
    responses.put(f"{URL}/issues/7.json", status=204)
    make_adapter().transition(_ticket(), "Closed")
    assert status_puts() == [3, 5]


@responses.activate
def test_no_path_to_the_closing_status_is_reported_without_writing() -> None:
    lookups(responses.mock)
    read_allowed(allowed((4, "Feedback"), 1, 2, 6, tracker="Feature"))
    with pytest.raises(SkippableError, match=r"rm: issue 7: no workflow path to 'Closed' for the API user from"
                                             r" 'Feedback': the statuses it may set are New, In Progress, Rejected;"
                                             r" .* tracker 'Feature' \(Administration > Workflow\)"):
        make_adapter().transition(_ticket(), "Closed")
    assert status_puts() == []


@responses.activate
def test_a_resolved_status_that_leads_nowhere_is_reported_with_the_step_taken() -> None:
    lookups(responses.mock)
    read_allowed(allowed((4, "Feedback"), 3))
    read_allowed(allowed((3, "Resolved"), 4))
    responses.put(f"{URL}/issues/7.json", status=204)
    with pytest.raises(SkippableError, match=r"from 'Resolved' \(it was moved through Resolved\)"):
        make_adapter().transition(_ticket(), "Closed")
    assert status_puts() == [3]


@responses.activate
def test_a_status_change_the_workflow_ignores_is_reported() -> None:
    lookups(responses.mock)
    read_allowed(allowed((4, "Feedback"), 5))
    read_allowed(allowed((4, "Feedback"), 5))  # Redmine answered 204 and kept the status (e.g. a blocked issue)
    responses.put(f"{URL}/issues/7.json", status=204, match=[matchers.json_params_matcher({"issue": {"status_id": 5}})])
    with pytest.raises(SkippableError, match="Redmine kept status 'Feedback' instead of 'Closed'"):
        make_adapter().transition(_ticket(), "Closed")


@responses.activate
def test_a_redmine_without_allowed_statuses_gets_the_direct_step() -> None:
    lookups(responses.mock)
    before = allowed((4, "Feedback"))
    del before["issue"]["allowed_statuses"]
    read_allowed(before)
    after = allowed((5, "Closed"))
    del after["issue"]["allowed_statuses"]
    read_allowed(after)
    responses.put(f"{URL}/issues/7.json", status=204)
    make_adapter().transition(_ticket(), "Closed")
    assert status_puts() == [5]


@responses.activate
def test_an_unknown_closing_status_is_a_config_error() -> None:
    lookups(responses.mock)
    with pytest.raises(PermanentError, match="no Redmine status named 'Clos' \\(closing_status\\)"):
        make_adapter().transition(_ticket(), "Clos")


def _ticket() -> Any:
    from sla_bridge.model import Ticket
    return Ticket("rm", "7", "Server down", None, datetime.fromisoformat("2025-06-02T08:00:00+00:00"), "Feedback",
                  "Urgent", project="support")


@responses.activate
def test_severity_from_a_custom_field() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(custom_fields=[
        {"id": 1, "name": "SLA labels", "multiple": True, "value": []},
        {"id": 3, "name": "Criticité", "value": "Majeure"}], journals=[
        journal(1, 5, "Sam Agent", "2025-06-02T08:40:00Z", details=[detail("cf", "3", "Mineure", "Majeure")])])})
    t = make_adapter(severity_field="3").fetch("7")
    assert t.severity == "Majeure" and t.initial_severity() == "Mineure"


# --- construction -----------------------------------------------------------------------------------------------


def test_the_constructor_makes_no_http_call() -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        adapter = make_adapter(fields={"reported_at": "Reported at", "domaine": "category"}, projects=["support"])
        assert len(rsps.calls) == 0
    assert KEY not in repr(adapter) and KEY not in repr(adapter.http)


def test_missing_secret_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from sla_bridge.errors import ConfigError

    monkeypatch.delenv("SLA_TEST_REDMINE_KEY")
    with pytest.raises(ConfigError, match="SLA_TEST_REDMINE_KEY is not set"):
        make_adapter()


def test_bad_options_name_the_key() -> None:
    from sla_bridge.errors import ConfigError

    with pytest.raises(ConfigError, match=r"trackers.rm.options.page_size: Input should be less than or equal to 100"):
        make_adapter(page_size=500)


# --- check_connection -------------------------------------------------------------------------------------------

LABELS_DEFINITION = {"id": 1, "name": "SLA labels", "customized_type": "issue", "field_format": "list",
                     "regexp": "", "min_length": None, "max_length": None, "is_required": False, "is_filter": True,
                     "searchable": True, "multiple": True, "default_value": None, "visible": True}


def by_subject(checks: list[Check]) -> dict[tuple[str, str], Check]:
    return {(c.subject, c.name): c for c in checks}


def issues_in(status: int, *rows: dict[str, Any]) -> None:
    responses.get(f"{URL}/issues.json", json={"issues": list(rows), "total_count": len(rows), "offset": 0,
                                              "limit": 100},
                  match=[matchers.query_param_matcher({"v[status_id][]": str(status)}, strict_match=False)])


@responses.activate
def test_check_connection_as_a_non_admin_reads_only_and_says_what_it_could_not_verify() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/roles.json", json={"roles": [{"id": 3, "name": "Manager"}, {"id": 6, "name": "Support"}]})
    bug, feature = issue(id=21), issue(id=22, tracker={"id": 2, "name": "Feature"})
    issues_in(4, bug, feature)
    issues_in(3, issue(id=23, status={"id": 3, "name": "Resolved"}))
    responses.get(f"{URL}/issues.json", json={"issues": [bug], "total_count": 1, "offset": 0, "limit": 1},
                  match=[matchers.query_param_matcher({"op[status_id]": "*", "limit": "1"}, strict_match=False)])
    responses.get(f"{URL}/issues/21.json", json=allowed((4, "Feedback"), 1, 2, 3, 6))
    responses.get(f"{URL}/issues/22.json", json=allowed((4, "Feedback"), 1, 2, 6, tracker="Feature"))
    responses.get(f"{URL}/issues/23.json", json=allowed((3, "Resolved"), 1, 2, 4, 5))
    checks = make_adapter(fields={"workaround": "Workaround", "domaine": "category"}, projects=["support"],
                          visibility="internal").check_connection()
    found = by_subject(checks)
    assert found[("authentication", URL)].detail == "as sla-bot (id 10) (not an administrator)"
    assert found[("project", "support")].ok
    assert all(c.ok for c in checks if c.subject in ("status", "priority")), checks
    assert found[("custom field", "fields.workaround = 'Workaround'")].detail == "id 3, enabled in support"
    assert found[("custom field", "deadline_field = 2")].detail == (
        "not verified: its format (expected string or text): the custom field list is admin-only; id 2, enabled"
        " in support")
    assert found[("field", "fields.domaine")].detail == "Redmine's category; support: Production, Training"
    labels = found[("labels", "labels_field = 1")]
    assert labels.ok and labels.detail.startswith("not verified: its possible values are admin-only")
    assert found[("transition", "Feedback -> Closed (Bug)")] == Check(
        "transition", "Feedback -> Closed (Bug)", True, "through Resolved (issues #21, #23)")
    feature_path = found[("transition", "Feedback -> Closed (Feature)")]
    assert not feature_path.ok and "may set only New, In Progress, Feedback, Rejected" in feature_path.detail
    assert found[("permission", "add notes in support")].ok
    assert found[("permission", "set notes private in support")].ok
    assert found[("identity", "group:Support Team")].detail == "a member of support"
    assert found[("identity", "role:Support")].ok
    assert {c.request.method for c in responses.calls} == {"GET"}
    assert all(KEY not in f"{c.name} {c.detail}" for c in checks)


@responses.activate
def test_check_connection_as_an_admin_checks_formats_and_label_values() -> None:
    lookups(responses.mock, admin=True, me=1)
    values = [{"value": v, "label": v} for v in ["sla-bloquante", "sla-majeure"]]
    responses.replace(responses.GET, f"{URL}/custom_fields.json", json={"custom_fields": [
        LABELS_DEFINITION | {"possible_values": values},
        LABELS_DEFINITION | {"id": 2, "name": "SLA deadline", "field_format": "date", "multiple": False}]})
    responses.get(f"{URL}/groups.json", json={"groups": [{"id": 11, "name": "Support Team"}]})
    responses.get(f"{URL}/roles.json", json={"roles": [{"id": 6, "name": "Support"}]})
    issues_in(4)
    checks = by_subject(make_adapter(agents=["group:Support Team", "group:Ghosts"]).check_connection())
    assert not checks[("labels", "labels_field = 1")].ok
    assert checks[("labels", "labels_field = 1")].detail.startswith("missing possible values: sla-a-risque,")
    assert checks[("custom field", "deadline_field = 2")] == Check(
        "custom field", "deadline_field = 2", False, "id 2 is a date field; expected string or text")
    assert checks[("identity", "group:Ghosts")] == Check("identity", "group:Ghosts", False, "no such group")
    assert checks[("transition", "Feedback -> Closed")].detail.startswith("not verified: Redmine shows workflows")
    assert checks[("permission", "add notes, edit issues")].ok


@responses.activate
def test_check_connection_with_a_bad_key_is_one_failed_check() -> None:
    responses.get(f"{URL}/users/current.json", status=401)
    assert make_adapter().check_connection() == [Check(
        "authentication", URL, False,
        "rm: read the API user: HTTP 401: authentication failed; check the API key/token in the config's secret")]


@responses.activate
def test_check_connection_reports_missing_statuses_priorities_and_membership() -> None:
    lookups(responses.mock)
    responses.replace(responses.GET, f"{URL}/users/current.json", json={"user": user(
        10, "sla-bot", "SLA", "Bridge", [])["user"] | {"memberships": [], "admin": False}})
    responses.get(f"{URL}/issues.json", json={"issues": [], "total_count": 0, "offset": 0, "limit": 1})
    cfg = builtin_config()
    section = TrackerSection.model_validate({
        "adapter": "redmine", "statuses": {"waiting_for_customer": ["En attente"]}, "agents": ["login:agent"],
        "closing_status": "Closed", "severities": {"Urgent": "bloquante", "Critique": "bloquante"},
        "options": {"url": URL, "api_key": {"env": "SLA_TEST_REDMINE_KEY"}, "labels_field": 1,
                    "projects": ["support", "sales"]}})
    checks = by_subject(RedmineAdapter("rm", section, cfg).check_connection())
    assert not checks[("status", "En attente")].ok
    assert checks[("status", "En attente")].detail.startswith("waiting_for_customer: no such status; Redmine has New,")
    assert checks[("priority", "Urgent")].ok and not checks[("priority", "Critique")].ok
    assert not checks[("project", "sales")].ok
    assert checks[("permission", "support")].detail.startswith(
        "not verified: the API user is not a member of this project: it sees it as public")


# --- what is remembered between runs (adapter.facts) ----------------------------------------------------------

def sharing(first: RedmineAdapter, **options: Any) -> RedmineAdapter:
    """Another adapter (another process) given the same facts, as the sync gives the store's."""
    second = make_adapter(**options)
    second.facts = first.facts
    return second


def remembered(adapter: RedmineAdapter, key: str, value: Any, age: float = 0.0) -> None:
    import time

    adapter.facts.put(key, json.dumps({"site": adapter.memory.site, "at": time.time() - age, "value": value}))


LOOKUP_PATHS = ["/issue_statuses.json", "/enumerations/issue_priorities.json", "/trackers.json", "/projects.json",
                "/users/current.json", "/custom_fields.json", "/projects/1/memberships.json", "/groups/11.json",
                "/roles/6.json", "/users/5.json", "/users/7.json", "/users/8.json", "/users/9.json"]


def lookup_calls() -> dict[str, int]:
    return {path: calls(path) for path in LOOKUP_PATHS if calls(path)}


@responses.activate
def test_one_issue_read_costs_one_request_once_the_lookups_are_remembered() -> None:
    """Before: the issue and every lookup it needs, in every process (a non-admin API user: statuses,
    priorities, trackers, projects, the API user, custom fields (403, then the projects), four users, the
    project's members and a group: 12 requests). After, with the facts known: the issue alone."""
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(journals=JOURNALS)})
    fields: dict[str, str | int] = {"category": "category", "tracker": "tracker", "workaround": "Workaround"}
    first = make_adapter(fields=fields)
    t = first.fetch("7")
    before = len(responses.calls)
    assert before == 12 and calls("/issues/7.json") == 1, lookup_calls()
    second = sharing(first, fields=fields)
    again = second.fetch("7")
    assert len(responses.calls) == before + 1 and calls("/issues/7.json") == 2
    assert again.events == t.events and again.reporter == t.reporter and again.fields == t.fields


@responses.activate
def test_lookups_are_read_again_after_an_hour_and_the_api_user_s_id_after_a_day() -> None:
    import time

    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(journals=JOURNALS)})
    first = make_adapter()
    first.fetch("7")
    later = sharing(first)
    later.clock = lambda: time.time() + 3601
    later.fetch("7")
    assert calls("/issue_statuses.json") == 2 and calls("/users/7.json") == 2
    assert later.me.id == "10" and calls("/users/current.json") == 1, "who it is: kept a day"
    assert not later.directory.me_admin() and calls("/users/current.json") == 2, \
        "its memberships and admin flag (what it may do) an hour"


@pytest.mark.parametrize(("key", "value"), [
    ("issue_statuses", {"4": 4}), ("issue_statuses", []), ("issue_statuses", {}), ("projects", [{"id": 1}]),
    ("user:7", {"id": "7", "memberships": {"project": 1}}), ("user:7", "cust-admin"), ("me", {"login": "x"}),
    ("custom_fields", {"sla labels": "1"}), ("role:6", "edit_issues"), ("project-groups:1", ["Support Team"]),
])
@responses.activate
def test_a_corrupt_remembered_lookup_is_read_again(key: str, value: Any) -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(journals=JOURNALS)})
    adapter = make_adapter(labels_field="SLA labels")
    remembered(adapter, key, value)
    t = adapter.fetch("7")
    assert t.status == "Feedback" and t.labels == {"sla-bloquante", "vip"}
    assert [e.by_role for e in t.events if isinstance(e, StatusChange)] == [Role.AGENT, Role.AGENT]
    adapter.facts.put(key, "{not json")
    assert sharing(adapter, labels_field="SLA labels").fetch("7").status == "Feedback"


@responses.activate
def test_a_status_the_remembered_list_lacks_reads_the_statuses_again_once() -> None:
    """A status an administrator created since the list was remembered."""
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(journals=JOURNALS)})
    adapter = make_adapter()
    remembered(adapter, "issue_statuses", {"1": "New", "2": "In Progress", "5": "Closed"})  # no Feedback (4)
    t = adapter.fetch("7")
    assert [e.to_status for e in t.events if isinstance(e, StatusChange)] == ["In Progress", "Feedback"]
    adapter.fetch("7")
    assert calls("/issue_statuses.json") == 1


@responses.activate
def test_a_closure_refused_with_remembered_statuses_reads_them_again_and_tries_once_more() -> None:
    """The closing status was recreated (a new id): the remembered id is not among those allowed."""
    lookups(responses.mock)
    read_allowed(allowed((4, "Feedback"), 1, 2, 3, 5, 6))
    read_allowed(allowed((5, "Closed"), 1, 2))
    responses.put(f"{URL}/issues/7.json", status=204)
    adapter = make_adapter()
    remembered(adapter, "issue_statuses", {"1": "New", "3": "Resolved", "4": "Feedback", "9": "Closed"})
    adapter.transition(_ticket(), "Closed")
    assert status_puts() == [5] and calls("/issue_statuses.json") == 1


@responses.activate
def test_a_refused_closure_with_statuses_just_read_is_not_tried_again() -> None:
    lookups(responses.mock)
    read_allowed(allowed((4, "Feedback"), 1, 2, 6, tracker="Feature"))
    with pytest.raises(SkippableError, match="no workflow path"):
        make_adapter().transition(_ticket(), "Closed")
    assert calls("/issue_statuses.json") == 1 and calls("/issues/7.json") == 1


@responses.activate
def test_a_custom_field_name_the_remembered_list_lacks_is_read_again_once() -> None:
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(journals=JOURNALS)})
    adapter = make_adapter(labels_field="SLA labels", fields={"workaround": "Workaround"})
    remembered(adapter, "custom_fields", {"sla labels": [1]})  # Workaround created since
    remembered(adapter, "projects", [{"id": "1", "identifier": "support", "name": "Support", "categories": {},
                                      "custom_fields": {"1": "SLA labels"}}])
    assert ("workaround", "provisional") in adapter.fetch("7").fields
    assert calls("/custom_fields.json") == 1 and calls("/projects.json") == 1


@responses.activate
def test_a_labels_field_recreated_since_it_was_remembered_is_found_again() -> None:
    """Redmine ignores a custom field id it does not know: a stale id would make labels vanish."""
    lookups(responses.mock)
    responses.get(f"{URL}/issues/7.json", json={"issue": issue(journals=JOURNALS)})
    adapter = make_adapter(labels_field="SLA labels")
    remembered(adapter, "custom_fields", {"sla labels": [99]})
    assert adapter.fetch("7").labels == {"sla-bloquante", "vip"}
    assert adapter.labels_id == 1 and calls("/custom_fields.json") == 1


@responses.activate
def test_check_config_reads_the_api_user_now() -> None:
    """Authentication is checked by asking: a remembered user proves nothing about the key."""
    lookups(responses.mock)
    adapter = make_adapter()
    remembered(adapter, "me", {"id": 10, "login": "sla-bot", "memberships": []})
    assert adapter.directory.read_me()["login"] == "sla-bot" and calls("/users/current.json") == 1


@responses.activate
def test_another_api_key_is_another_site_for_the_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    lookups(responses.mock)
    first = make_adapter()
    assert first.me.id == "10"
    monkeypatch.setenv("SLA_TEST_REDMINE_KEY", "another-k3y")
    assert sharing(first).me.id == "10"
    assert calls("/users/current.json") == 2
    assert KEY not in json.dumps([first.facts.get("me")]), "the facts never hold the key"
