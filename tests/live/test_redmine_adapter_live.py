"""The Redmine adapter against the real Redmine 5.0: identities, fields, refused due
dates, closure along a restricted workflow, and the connection checks.

sla-bridge's API user here is "sla-bot": not an administrator, role "Support", whose
workflow has no Feedback -> Closed (Bug: through Resolved; Feature: no way at all).
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
import requests

from sla_bridge.actions import PostComment, SetDueDate, SetLabels
from sla_bridge.adapters.base import FieldRefused, SkippableError
from sla_bridge.identity import Person
from sla_bridge.model import Comment, FieldChange, Role, StatusChange

from .conftest import AdapterFactory, Redmine

pytestmark = pytest.mark.live

FIELDS: dict[str, str | int] = {"domaine": "category", "workaround": "Workaround", "reported_at": "Reported at"}


def cf(redmine: Redmine, name: str, value: object) -> dict[str, object]:
    return {"id": int(redmine.env[f"REDMINE_{name}_FIELD_ID"]), "value": value}


def conversation(redmine: Redmine) -> int:
    """An issue by Alice Martin (login cust-admin), then notes by staff and customers."""
    created = redmine.create_issue(
        "Training room projector", key=redmine.user_key("cust-admin"),
        category_id=int(redmine.env["REDMINE_CATEGORY_TRAINING_ID"]),
        custom_fields=[cf(redmine, "REPORTED_AT", "2026-03-02T09:30:00+01:00")])
    issue_id = created["id"]
    redmine.note(issue_id, "Looking at it", key=redmine.user_key("jdupont"))  # agent through group Support Team
    redmine.call("PUT", f"/issues/{issue_id}.json", key=redmine.user_key("mlefebvre"), json={"issue": {  # role Support
        "notes": "Workaround: use room B", "category_id": int(redmine.env["REDMINE_CATEGORY_PRODUCTION_ID"]),
        "custom_fields": [cf(redmine, "WORKAROUND", "provisional")]}})
    redmine.note(issue_id, "Thanks, trying", key="REDMINE_CUSTOMER_KEY")  # customer, same project
    redmine.note(issue_id, "Internal: order a new lamp", key="REDMINE_AGENT_KEY")  # login agent
    return int(issue_id)


def test_people_are_identities_not_display_names(redmine: Redmine, live_adapter: AdapterFactory) -> None:
    ticket = live_adapter(fields=FIELDS).fetch(str(conversation(redmine)))
    env = redmine.env
    assert ticket.project == env["REDMINE_PROJECT"]
    # A non-admin API user sees the login, the mail of a user who shows it, the project roles;
    # groups come from the project's group members.
    assert ticket.reporter == Person(id=env["REDMINE_USER_CUST_ADMIN_ID"], login="cust-admin",
                                     email="alice.martin@example.test", name="Alice Martin",
                                     roles=frozenset({"Reporter"}))
    comments = [(c.author, c.role) for c in ticket.events if isinstance(c, Comment)]
    assert comments == [("Jo Dupont", Role.AGENT), ("Marc Lefebvre", Role.AGENT), ("Alice Customer", Role.CUSTOMER),
                        ("Sam Agent", Role.AGENT)]


def test_without_the_group_pattern_the_group_member_is_a_customer(redmine: Redmine,
                                                                 live_adapter: AdapterFactory) -> None:
    ticket = live_adapter(agents=["login:agent", "role:Support"]).fetch(str(conversation(redmine)))
    assert [c.role for c in ticket.events if isinstance(c, Comment) and c.author == "Jo Dupont"] == [Role.CUSTOMER]


def test_an_admin_api_user_sees_groups_on_the_user(redmine: Redmine, live_adapter: AdapterFactory) -> None:
    adapter = live_adapter(key="REDMINE_API_KEY")
    issue_id = conversation(redmine)
    adapter.fetch(str(issue_id))
    jo = adapter.directory.person({"id": int(redmine.env["REDMINE_USER_JDUPONT_ID"]), "name": "Jo Dupont"},
                                  redmine.env["REDMINE_PROJECT_ID"])
    assert jo is not None and jo.groups == {"Support Team"} and jo.roles == {"Developer"}
    assert jo.email == "jo.dupont@example.test"  # an admin sees every address
    # No need to read the project's group members: nothing learnt about them.
    assert not adapter.directory.memory.learnt_here(f"project-groups:{redmine.env['REDMINE_PROJECT_ID']}")


def test_fields_and_their_changes_by_name(redmine: Redmine, live_adapter: AdapterFactory) -> None:
    ticket = live_adapter(fields=FIELDS).fetch(str(conversation(redmine)))
    assert ticket.fields == {("domaine", "Production"), ("workaround", "provisional")}
    changes = [(e.field, e.old, e.new, e.by) for e in ticket.events if isinstance(e, FieldChange)]
    assert changes == [("domaine", "Training", "Production", "Marc Lefebvre"),
                       ("workaround", None, "provisional", "Marc Lefebvre")]
    assert ticket.reported_at == datetime.fromisoformat("2026-03-02T09:30:00+01:00")
    assert ticket.started == ticket.reported_at  # logged later than reported: the clocks start at the report


def test_a_malformed_reported_at_names_issue_and_field(redmine: Redmine, live_adapter: AdapterFactory) -> None:
    created = redmine.create_issue("Phone call", key="REDMINE_AGENT_KEY",
                                   custom_fields=[cf(redmine, "REPORTED_AT", "lundi matin")])
    with pytest.raises(SkippableError, match=rf"issue {created['id']}: custom field 'Reported at' \(reported_at\)"
                                             " holds 'lundi matin'"):
        live_adapter(fields=FIELDS).fetch(str(created["id"]))


def test_a_due_date_before_the_start_date_is_refused_and_the_rest_written(redmine: Redmine,
                                                                         live_adapter: AdapterFactory) -> None:
    created = redmine.create_issue("Planned intervention", key="REDMINE_AGENT_KEY", start_date="2030-06-10")
    adapter = live_adapter()
    ticket = adapter.fetch(str(created["id"]))
    deadline = datetime.fromisoformat("2030-06-03T11:00:00+02:00")
    # What Redmine 5.0 itself answers to such a due date:
    raw = requests.put(f"{redmine.url}/issues/{created['id']}.json", timeout=30, json={"issue": {
        "due_date": "2030-06-03"}}, headers={"X-Redmine-API-Key": redmine.env[redmine.user_key("sla-bot")]})
    assert (raw.status_code, raw.json()) == (422, {"errors": ["Due date must be greater than start date"]})

    with pytest.raises(FieldRefused) as refused:
        adapter.apply_fields(ticket, SetDueDate(date(2030, 6, 3), deadline),
                             SetLabels(frozenset({"sla-bloquante"}), frozenset()))
    assert refused.value.field == "due_date"
    assert str(refused.value) == (f"redmine: issue {created['id']}: Redmine refused the due date 2030-06-03 (Due date"
                                  " must be greater than start date; the issue starts on 2030-06-10); the other"
                                  " fields were written")
    issue = redmine.issue(created["id"])
    assert issue["due_date"] is None
    assert redmine.custom(issue, "REDMINE_LABELS_FIELD_ID") == ["sla-bloquante"]
    assert redmine.custom(issue, "REDMINE_DEADLINE_FIELD_ID") == deadline.isoformat()


def test_closure_goes_through_resolved_when_the_role_may_not_close_directly(redmine: Redmine,
                                                                          live_adapter: AdapterFactory) -> None:
    created = redmine.create_issue("Closed via Resolved")
    redmine.set_status(created["id"], "FEEDBACK", "Please confirm")
    bot = redmine.user_key("sla-bot")
    # Redmine itself ignores the forbidden step and answers 204:
    redmine.set_status(created["id"], "CLOSED", key=bot)
    assert redmine.issue(created["id"])["status"]["name"] == "Feedback"

    adapter = live_adapter()
    adapter.transition(adapter.fetch(str(created["id"])), "Closed")
    ticket = adapter.fetch(str(created["id"]))
    assert ticket.status == "Closed"
    steps = [(e.from_status, e.to_status, e.by) for e in ticket.events if isinstance(e, StatusChange)]
    assert steps[-2:] == [("Feedback", "Resolved", "SLA Bridge"), ("Resolved", "Closed", "SLA Bridge")]


def test_no_path_to_the_closing_status_is_reported_and_nothing_written(redmine: Redmine,
                                                                      live_adapter: AdapterFactory) -> None:
    created = redmine.create_issue("Feature request", tracker="FEATURE")
    redmine.set_status(created["id"], "FEEDBACK", "Which version?")
    before = redmine.issue(created["id"])
    adapter = live_adapter()
    with pytest.raises(SkippableError, match=rf"issue {created['id']}: no workflow path to 'Closed' for the API user"
                                             " from 'Feedback': the statuses it may set are New, In Progress,"
                                             " Rejected; .*tracker 'Feature'"):
        adapter.transition(adapter.fetch(str(created["id"])), "Closed")
    assert redmine.issue(created["id"])["updated_on"] == before["updated_on"]


def test_an_internal_note_stays_internal(redmine: Redmine, live_adapter: AdapterFactory) -> None:
    created = redmine.create_issue("Private note")
    adapter = live_adapter(visibility="internal")
    adapter.post_comment(adapter.fetch(str(created["id"])), PostComment("k", "internal [sla-bridge:k]", False,
                                                                        "reminder"))
    [note] = redmine.issue(created["id"])["journals"]
    assert note["private_notes"] is True
    # Redmine drops the flag for a user without "Set notes as private" and publishes the note:
    redmine.call("PUT", f"/issues/{created['id']}.json", key="REDMINE_CUSTOMER_KEY",
                 json={"issue": {"notes": "meant to be private", "private_notes": True}})
    assert redmine.issue(created["id"])["journals"][-1]["private_notes"] is False


def checks_of(adapter: object) -> dict[tuple[str, str], tuple[bool, str]]:
    return {(c.subject, c.name): (c.ok, c.detail) for c in adapter.check_connection()}  # type: ignore[attr-defined]


def test_check_connection_as_the_non_admin_bot(redmine: Redmine, live_adapter: AdapterFactory) -> None:
    bug = redmine.create_issue("Bug waiting")
    redmine.set_status(bug["id"], "FEEDBACK")
    resolved = redmine.create_issue("Bug resolved")
    redmine.set_status(resolved["id"], "RESOLVED")
    feature = redmine.create_issue("Feature waiting", tracker="FEATURE")
    redmine.set_status(feature["id"], "FEEDBACK")
    before = {i: redmine.issue(i)["updated_on"] for i in (bug["id"], resolved["id"], feature["id"])}

    checks = checks_of(live_adapter(fields=FIELDS, visibility="internal"))
    assert checks[("authentication", redmine.url)] == (True, f"as sla-bot (id {redmine.env['REDMINE_USER_SLA_BOT_ID']})"
                                                              " (not an administrator)")
    assert checks[("transition", "Feedback -> Closed (Bug)")] == (
        True, f"through Resolved (issues #{bug['id']}, #{resolved['id']})")
    ok, detail = checks[("transition", "Feedback -> Closed (Feature)")]
    assert not ok and detail.startswith(f"no path for the API user (issue #{feature['id']})")
    assert checks[("custom field", "fields.workaround = 'Workaround'")][0]
    assert checks[("custom field", "fields.reported_at = 'Reported at'")][0]
    ok, detail = checks[("labels", f"labels_field = {redmine.env['REDMINE_LABELS_FIELD_ID']}")]
    assert ok and detail.startswith("not verified: its possible values are admin-only")
    assert checks[("permission", "set notes private in support")] == (True, "roles Support")
    assert checks[("identity", "group:Support Team")] == (True, "a member of support")
    failed = sorted(name for (subject, name), (ok, _) in checks.items() if not ok)
    assert failed == ["Feedback -> Closed (Feature)"]
    assert {i: redmine.issue(i)["updated_on"] for i in before} == before  # read-only
    assert all(redmine.env[redmine.user_key("sla-bot")] not in d for _, d in checks.values())


def test_check_connection_as_an_admin_sees_formats_and_label_values(redmine: Redmine,
                                                                    live_adapter: AdapterFactory) -> None:
    checks = checks_of(live_adapter(key="REDMINE_API_KEY", fields=FIELDS))
    assert checks[("labels", f"labels_field = {redmine.env['REDMINE_LABELS_FIELD_ID']}")][0]
    assert checks[("custom field", f"deadline_field = {redmine.env['REDMINE_DEADLINE_FIELD_ID']}")] == (
        True, f"id {redmine.env['REDMINE_DEADLINE_FIELD_ID']}, string, enabled in support")
    assert checks[("identity", "group:Support Team")] == (True, "a group")
    assert checks[("transition", "Feedback -> Closed")][1].startswith("not verified")


def test_check_connection_with_a_bad_key(redmine: Redmine, live_adapter: AdapterFactory,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = live_adapter()
    adapter.http.session.headers["X-Redmine-API-Key"] = "0" * 40
    [check] = adapter.check_connection()
    assert (check.subject, check.ok) == ("authentication", False) and "HTTP 401" in check.detail
