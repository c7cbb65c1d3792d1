"""What the Jira adapter remembers between runs (``adapter.facts``), with recorded HTTP.

For each fact: a second adapter sharing the facts (another process, the same store) asks
Jira nothing for it; a stale or corrupt value is learnt again; a refusal that contradicts
it makes the adapter learn it again and try once more. And the requests one issue read
costs, on Cloud and Data Center, once the facts are known.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import responses
from responses import matchers

from sla_bridge.actions import SetLabels
from sla_bridge.adapters.base import Facts, PermanentError, ProcessFacts
from sla_bridge.adapters.jira import JiraAdapter
from sla_bridge.adapters.jira_facts import DAY, HOUR, Memory, fingerprint
from sla_bridge.model import Comment, Role
from test_jira_adapter import (
    ALICE_DC, API, CLOUD, DC, ME_CLOUD, ME_DC, SAM, SAM_DC, comment, groups_json, issue_json, make_adapter,
    myself, with_comments,
)

SERVER_CLOUD = {"baseUrl": CLOUD, "version": "1001.0.0-SNAPSHOT", "versionNumbers": [1001, 0, 0],
                "deploymentType": "Cloud", "buildNumber": 100289, "buildDate": "2025-06-01T00:00:00.000+0000",
                "serverTime": "2025-06-02T10:00:00.000+0000", "scmInfo": "6c4e1fdc", "serverTitle": "Jira"}
SERVER_DC = {"baseUrl": DC, "version": "9.12.7", "versionNumbers": [9, 12, 7], "deploymentType": "Server",
             "buildNumber": 9120007, "buildDate": "2024-04-10T00:00:00.000+0000", "databaseBuildNumber": 9120007,
             "serverTime": "2025-06-02T10:00:00.000+0000", "scmInfo": "b4b2a4a1", "serverTitle": "Jira"}
FIELD_LIST = [
    {"id": "customfield_10042", "name": "Criticité", "custom": True, "orderable": True, "navigable": True,
     "searchable": True, "clauseNames": ["cf[10042]", "Criticité"],
     "schema": {"type": "option", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:select",
                "customId": 10042}},
    {"id": "summary", "name": "Summary", "custom": False, "orderable": True, "navigable": True, "searchable": True,
     "clauseNames": ["summary"], "schema": {"type": "string", "system": "summary"}}]


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLA_TEST_JIRA_TOKEN", "t0k3n")


def calls(path: str) -> int:
    return sum(1 for c in responses.calls if (c.request.url or "").split("?")[0].endswith(path))


def sharing(first: JiraAdapter, url: str = CLOUD, **options: Any) -> JiraAdapter:
    """Another adapter (another process) given the same facts, as the sync gives the store's."""
    second = make_adapter(url, **options)
    second.facts = first.facts
    return second


def stored(facts: Facts, key: str) -> dict[str, Any]:
    raw = facts.get(key)
    assert raw is not None, f"{key} was not remembered"
    data: dict[str, Any] = json.loads(raw)
    return data


# --- the deployment and the API user --------------------------------------------------------

@responses.activate
def test_the_deployment_and_the_api_user_are_asked_once_for_every_process() -> None:
    responses.get(f"{CLOUD}{API}/serverInfo", json=SERVER_CLOUD)
    myself()
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json())  # changes by Sam: is Sam sla-bridge?
    first = make_adapter(deployment="auto")
    first.fetch("SUP-1")
    assert (calls("/serverInfo"), calls("/myself")) == (1, 1)
    second = sharing(first, deployment="auto")
    t = second.fetch("SUP-1")
    assert (calls("/serverInfo"), calls("/myself")) == (1, 1), "the second process asks neither"
    assert second.cloud and second.me_person is not None and second.me_person.id == ME_CLOUD["accountId"]
    assert t.reporter is not None and t.reporter.account_type == "customer"
    assert stored(first.facts, "deployment")["value"] == "cloud"
    assert set(stored(first.facts, "myself")["value"]) <= {"accountId", "accountType", "key", "name",
                                                            "emailAddress", "displayName", "timeZone", "active"}


@responses.activate
def test_facts_older_than_a_day_are_asked_again() -> None:
    responses.get(f"{CLOUD}{API}/serverInfo", json=SERVER_CLOUD)
    myself()
    first = make_adapter(deployment="auto")
    assert first.deployment == "cloud" and first.me["accountId"] == ME_CLOUD["accountId"]
    second = sharing(first, deployment="auto")
    second.clock = lambda: time.time() + DAY + 1
    assert second.deployment == "cloud" and second.me["accountId"] == ME_CLOUD["accountId"]
    assert (calls("/serverInfo"), calls("/myself")) == (2, 2)


@pytest.mark.parametrize("value", [
    "not JSON", "[]", '{"site": "x"}', "null",
    json.dumps({"site": "another site", "at": time.time(), "value": "datacenter"}),
    json.dumps({"at": "yesterday", "value": "datacenter"}),
    json.dumps({"at": time.time() + DAY, "value": "datacenter"}),  # from the future: not this clock's
])
@responses.activate
def test_a_corrupt_or_foreign_fact_is_asked_again(value: str) -> None:
    responses.get(f"{CLOUD}{API}/serverInfo", json=SERVER_CLOUD)
    adapter = make_adapter(deployment="auto")
    if '"site"' not in value and value.startswith("{"):
        value = json.dumps({**json.loads(value), "site": adapter.site})  # right site, wrong rest
    adapter.facts.put("deployment", value)
    assert adapter.deployment == "cloud" and calls("/serverInfo") == 1
    assert stored(adapter.facts, "deployment")["value"] == "cloud", "learnt again, and kept"


@responses.activate
def test_a_remembered_value_of_the_wrong_shape_is_asked_again() -> None:
    myself()
    adapter = make_adapter()
    for bad in ("Cloud", {"displayName": "no id"}, ["accountId"]):
        adapter.facts.put("myself", json.dumps({"site": adapter.site, "at": time.time(), "value": bad}))
        fresh = make_adapter()
        fresh.facts = adapter.facts
        assert fresh.me["accountId"] == ME_CLOUD["accountId"]
    assert calls("/myself") == 3


@responses.activate
def test_another_credential_is_another_site_for_the_facts() -> None:
    myself(me=ME_CLOUD)
    first = make_adapter()
    first.me  # noqa: B018
    other = make_adapter(email="someone-else@acme.test")
    other.facts = first.facts
    other.me  # noqa: B018
    assert calls("/myself") == 2 and first.site != other.site
    assert "t0k3n" not in json.dumps([first.facts.get(k) for k in ("myself",)]), "never the secret"


@responses.activate
def test_a_remembered_deployment_refused_by_the_search_is_asked_again() -> None:
    """The site moved to Cloud (or the facts were another site's): /search answers 410 Gone."""
    responses.get(f"{CLOUD}{API}/search", status=410, json={"errorMessages": ["The requested API has been removed."
                                                                              " Please migrate to /search/jql."]})
    responses.get(f"{CLOUD}{API}/serverInfo", json=SERVER_CLOUD)
    jql = responses.get(f"{CLOUD}{API}/search/jql", json={"issues": [
        {"id": "10001", "key": "SUP-1", "fields": {"updated": "2025-06-02T11:00:00.000+0200"}}], "isLast": True})
    myself()
    adapter = make_adapter(deployment="auto")
    adapter.facts.put("deployment", json.dumps({"site": adapter.site, "at": time.time(), "value": "datacenter"}))
    assert [row.id for row in adapter.changed_since(None)] == ["SUP-1"]
    assert calls("/search") == 1 and calls("/serverInfo") == 1 and jql.call_count == 1
    assert stored(adapter.facts, "deployment")["value"] == "cloud"


@responses.activate
def test_a_refusal_of_a_deployment_just_asked_stands() -> None:
    responses.get(f"{DC}{API}/serverInfo", json=SERVER_CLOUD | {"baseUrl": DC})  # says Cloud, is not
    myself(base=DC)
    responses.get(f"{DC}{API}/search/jql", status=404, json={"errorMessages": ["null for uri"]})
    with pytest.raises(PermanentError, match="no /rest/api/2/search/jql"):
        list(make_adapter(DC, deployment="auto").changed_since(None))
    assert calls("/serverInfo") == 1, "asked once: learning it again would say the same"


# --- notifyUsers=false ------------------------------------------------------------------------

REFUSED = {"errorMessages": ["To discard the user notification either admin or project admin permissions are"
                             " required."], "errors": {}}


@responses.activate
def test_a_refused_notify_users_is_learnt_once_for_every_process() -> None:
    myself()
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(histories=[]))
    refused = responses.put(f"{CLOUD}{API}/issue/SUP-1", status=403, json=REFUSED,
                            match=[matchers.query_param_matcher({"notifyUsers": "false"})])
    plain = responses.put(f"{CLOUD}{API}/issue/SUP-1", status=204, match=[matchers.query_param_matcher({})])
    labels = SetLabels(frozenset({"sla-a-risque"}), frozenset())
    first = make_adapter()
    first.apply_fields(first.fetch("SUP-1"), None, labels)
    assert (refused.call_count, plain.call_count) == (1, 1), "refused, then written with notifications"
    second = sharing(first)
    second.apply_fields(second.fetch("SUP-1"), None, labels)
    assert (refused.call_count, plain.call_count) == (1, 2), "no wasted write in the second process"
    tomorrow = sharing(first)
    tomorrow.clock = lambda: time.time() + DAY + 1
    tomorrow.apply_fields(tomorrow.fetch("SUP-1"), None, labels)
    assert (refused.call_count, plain.call_count) == (2, 3), "a day later the flag is tried again"


@responses.activate
def test_notify_users_allowed_again_is_used_again_after_a_day() -> None:
    myself()
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(histories=[]))
    silent = responses.put(f"{CLOUD}{API}/issue/SUP-1", status=204,
                           match=[matchers.query_param_matcher({"notifyUsers": "false"})])
    adapter = make_adapter()
    adapter.facts.put("notify-users", json.dumps({"site": adapter.site, "at": time.time() - DAY - 1,
                                                  "value": "refused"}))
    adapter.apply_fields(adapter.fetch("SUP-1"), None, SetLabels(frozenset({"sla-a-risque"}), frozenset()))
    assert silent.call_count == 1


# --- fields and groups -----------------------------------------------------------------------

def dc_issue() -> dict[str, Any]:
    histories = [{"id": "10100", "author": SAM_DC, "created": "2025-06-02T10:30:00.000+0200", "items": [
        {"field": "Criticité", "fieldtype": "custom", "from": "10201", "fromString": "Mineure", "to": "10202",
         "toString": "Majeure"}]}]
    fields = {**issue_json()["fields"], "reporter": ALICE_DC, "customfield_10042": {"value": "Majeure", "id": "10202"},
              "comment": {"comments": [], "maxResults": 0, "total": 0, "startAt": 0}}
    return issue_json(fields=fields, histories=histories, base=DC)


@responses.activate
def test_the_configured_fields_names_are_read_once_for_every_process() -> None:
    myself(base=DC)
    responses.get(f"{DC}{API}/issue/SUP-1", json=dc_issue())
    listed = responses.get(f"{DC}{API}/field", json=FIELD_LIST)
    first = make_adapter(DC, severity_field="customfield_10042")
    assert first.fetch("SUP-1").initial_severity() == "Mineure"
    second = sharing(first, DC, severity_field="customfield_10042")
    assert second.fetch("SUP-1").initial_severity() == "Mineure"
    assert listed.call_count == 1
    assert stored(first.facts, "fields")["value"] == {"customfield_10042": {"name": "Criticité", "array": False}}
    later = sharing(first, DC, severity_field="customfield_10042")
    later.clock = lambda: time.time() + HOUR + 1
    later.fetch("SUP-1")
    assert listed.call_count == 2, "an hour later: an administrator may have renamed it"


@responses.activate
def test_a_field_missing_from_the_remembered_list_is_read_again_once() -> None:
    """Created after the list was remembered (or the configuration names a new one)."""
    myself(base=DC)
    responses.get(f"{DC}{API}/issue/SUP-1", json=dc_issue())
    listed = responses.get(f"{DC}{API}/field", json=FIELD_LIST)
    adapter = make_adapter(DC, severity_field="customfield_10042")
    adapter.facts.put("fields", json.dumps({"site": adapter.site, "at": time.time(),
                                            "value": {"customfield_10042": None}}))
    assert adapter.fetch("SUP-1").initial_severity() == "Mineure"
    adapter.fetch("SUP-1")
    assert listed.call_count == 1


@responses.activate
def test_a_users_groups_are_read_once_an_hour_for_every_process() -> None:
    myself()
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(fields=with_comments(
        comment("1", SAM, "On it", "2025-06-02T10:30:00.000+0200", jsdPublic=True)), histories=[]))
    sam = responses.get(f"{CLOUD}{API}/user/groups", json=groups_json("jira-servicedesk-users"),
                        match=[matchers.query_param_matcher({"accountId": SAM["accountId"]})])
    agents = ["group:jira-servicedesk-users"]
    first = make_adapter(agents=agents)
    second = make_adapter(agents=agents)
    second.facts = first.facts
    for adapter in (first, second):
        t = adapter.fetch("SUP-1")
        assert [c.role for c in t.events if isinstance(c, Comment)] == [Role.AGENT]
    assert sam.call_count == 1
    later = make_adapter(agents=agents)
    later.facts, later.clock = first.facts, (lambda: time.time() + HOUR + 1)
    later.fetch("SUP-1")
    assert sam.call_count == 2, "an hour later: a person may have left the group"
    corrupt = make_adapter(agents=agents)
    corrupt.facts.put(f"groups:{SAM['accountId']}", json.dumps({"site": corrupt.site, "at": time.time(),
                                                               "value": "jira-servicedesk-users"}))
    corrupt.fetch("SUP-1")
    assert sam.call_count == 3


# --- what one issue read costs -----------------------------------------------------------------

@responses.activate
def test_one_issue_read_costs_one_request_once_the_facts_are_known() -> None:
    """Before: serverInfo, myself and the issue (3 requests) in every process. After: the issue."""
    responses.get(f"{CLOUD}{API}/serverInfo", json=SERVER_CLOUD)
    myself()
    responses.get(f"{CLOUD}{API}/issue/SUP-1", json=issue_json(fields=with_comments(
        comment("1", SAM, "On it", "2025-06-02T10:30:00.000+0200", jsdPublic=True))))
    first = make_adapter(deployment="auto")
    first.fetch("SUP-1")
    assert len(responses.calls) == 3
    second = sharing(first, deployment="auto")
    second.fetch("SUP-1")
    assert len(responses.calls) == 4


@pytest.mark.parametrize("with_comments_", [False, True])
@responses.activate
def test_a_data_center_issue_costs_its_comments_only_when_it_has_some(with_comments_: bool) -> None:
    """Data Center embeds comments without their properties: read again (one request) only when there
    are some, as ``sd.public.comment`` alone says an internal note is one."""
    facts = ProcessFacts()
    known = make_adapter(DC, deployment="auto")
    known.facts = facts
    Memory(lambda: facts, known.site, "jr").keep("deployment", "datacenter")
    Memory(lambda: facts, known.site, "jr").keep("myself", {k: ME_DC[k] for k in ("key", "name", "timeZone")})
    notes = [comment("1", SAM_DC, "check logs", "2025-06-02T10:35:00.000+0200")] if with_comments_ else []
    issue = issue_json(fields={**issue_json()["fields"], "reporter": ALICE_DC, "comment": {
        "comments": notes, "maxResults": len(notes), "total": len(notes), "startAt": 0}}, histories=[], base=DC)
    responses.get(f"{DC}{API}/issue/SUP-1", json=issue)
    listed = responses.get(f"{DC}{API}/issue/SUP-1/comment", json={"startAt": 0, "maxResults": 100, "total": 1,
                                                                  "comments": [comment(
        "1", SAM_DC, "check logs", "2025-06-02T10:35:00.000+0200",
        properties=[{"key": "sd.public.comment", "value": {"internal": True}}])]})
    t = known.fetch("SUP-1")
    assert len(responses.calls) == (2 if with_comments_ else 1) and listed.call_count == int(with_comments_)
    assert [c.public for c in t.events if isinstance(c, Comment)] == ([False] if with_comments_ else []), \
        "an internal note is never taken for a public reply"


def test_the_fingerprint_is_no_secret() -> None:
    assert fingerprint("https://a", "t0k3n") != fingerprint("https://b", "t0k3n")
    assert "t0k3n" not in fingerprint("https://a", "t0k3n") and len(fingerprint("x")) == 16


def test_facts_that_cannot_be_read_or_written_are_learnt_again_never_fatal() -> None:
    class Broken:
        def get(self, key: str) -> str | None:
            raise OSError("disk I/O error")

        def put(self, key: str, value: str) -> None:
            raise OSError("database or disk is full")

    asked = []
    memory = Memory(lambda: Broken(), "site", "jr")
    assert memory.get("k", HOUR, lambda: asked.append(1) or "v", str) == "v"
    assert memory.get("k", HOUR, lambda: asked.append(1) or "w", str) == "v", "kept in memory all the same"
    assert asked == [1]
