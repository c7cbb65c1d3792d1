"""A stateful fake Jira (Cloud or Data Center) on ``responses`` callbacks.

It answers the REST API v2 calls the Jira adapter makes with JSON shaped like
Atlassian's documented responses, and keeps state like a real site: issues with
fields, a changelog appended on every change, comments, a workflow with a closing
transition whose screen requires a resolution, and ``updated`` bumped by every
write. People's actions (a customer's comment, an agent's status change, a label a
person adds) go through helper methods, stamped with the fake's clock.

The workflow is Jira Service Management's default shape: from *Waiting for customer*
there is no transition to *Closed*; an issue is resolved first (a screen that requires a
resolution), then closed (``direct_close=True`` adds a global "Close issue" transition,
as simpler workflows have). Users have groups (``GET /user/groups`` on Cloud, ``GET
/user?expand=groups`` on Data Center); issues may carry a Service Management
Organizations field, a select list, components and a "reported at" Date Time Picker;
the configuration lookups (``/project``, ``/priority``, ``/resolution``,
``/mypermissions``, ...) answer like Jira does, read-only.

The two flavours differ where the real ones do:
- Cloud: users have ``accountId``/``accountType``; the change query is ``GET
  /search/jql`` (token paging, ``isLast``, no total) and ``GET /search`` answers 410
  Gone; the embedded changelog is truncated and ``/issue/{key}/changelog`` pages it;
  changelog items carry ``fieldId``; comments carry ``jsdPublic``.
- Data Center: users have ``name``/``key``; the change query is ``GET /search``
  (``startAt``, ``total``) and ``/search/jql`` does not exist (404); the embedded
  changelog is complete and there is no changelog endpoint; items have no
  ``fieldId``; a comment's visibility is its ``sd.public.comment`` property, read with
  ``GET /issue/{key}/comment?expand=properties``.

JQL times are read in the API user's time zone, to the minute, like Jira does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import responses

API = "/rest/api/2"

STATUSES = {  # name: (id, status category key, category name, category id)
    "To Do": ("10000", "new", "To Do", 2),
    "In Progress": ("3", "indeterminate", "In Progress", 4),
    "Waiting for customer": ("10002", "indeterminate", "In Progress", 4),
    "Resolved": ("5", "done", "Done", 3),
    "Closed": ("6", "done", "Done", 3),
}
PRIORITIES = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5", "Trivial": "10100"}
RESOLUTIONS = {"Done": "10000", "Won't Do": "10001", "Duplicate": "10002"}
# id, name, from which statuses (None: a global transition, from any status), target status, and whether
# its screen has a resolution (None: no screen; True: required; False: optional).
OPEN = frozenset({"To Do", "In Progress", "Waiting for customer"})
TRANSITIONS: list[tuple[str, str, frozenset[str] | None, str, bool | None]] = [
    ("11", "Start progress", frozenset({"To Do", "Waiting for customer"}), "In Progress", None),
    ("21", "Wait for customer", frozenset({"To Do", "In Progress"}), "Waiting for customer", None),
    ("31", "Resolve this issue", OPEN, "Resolved", True),
    ("41", "Close", frozenset({"Resolved"}), "Closed", None),
    ("51", "Reopen", frozenset({"Resolved", "Closed"}), "To Do", None)]
DIRECT_CLOSE = ("61", "Close issue", None, "Closed", True)
PERMISSIONS = {"BROWSE_PROJECTS": ("10", "Browse Projects"), "ADD_COMMENTS": ("15", "Add Comments"),
               "EDIT_ISSUES": ("12", "Edit Issues"), "SCHEDULE_ISSUES": ("28", "Schedule Issues"),
               "TRANSITION_ISSUES": ("46", "Transition Issues")}
ORGANIZATIONS = "customfield_10002"


def jira_time(t: datetime, zone: ZoneInfo) -> str:
    t = t.astimezone(zone)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}" + t.strftime("%z")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class FakeIssue:
    id: str
    key: str
    fields: dict[str, Any]
    histories: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    headers: dict[str, str]
    body: Any
    apply: bool  # do the work, then answer with the error (the answer is lost)
    raw: str | None = None  # the body as it is sent (an HTML page, a truncated JSON), instead of `body`
    raises: BaseException | None = None  # no answer at all: the transport raises this


COMMENT_LIMIT = 32767  # Jira's text field limit (Cloud; Data Center's default), as Java counts (UTF-16)


class FakeJira:
    def __init__(self, rsps: responses.RequestsMock, clock: Callable[[], datetime], *, flavour: str = "cloud",
                 url: str = "https://acme.atlassian.net", zone: str = "Europe/Paris",
                 deadline_field: str = "customfield_10050", deadline_name: str = "SLA deadline",
                 severity_field: str | None = None, severity_name: str = "Criticité",
                 changelog_embed_limit: int = 100, comment_embed_limit: int | None = None,
                 allow_silence: bool = True, project: str = "SUP", direct_close: bool = False,
                 groups_visible: bool = True, permissions: frozenset[str] = frozenset(PERMISSIONS),
                 agent_licence: bool = True) -> None:
        assert flavour in ("cloud", "datacenter")
        self.flavour = flavour
        self.cloud = flavour == "cloud"
        self.url = url
        self.zone = ZoneInfo(zone)
        self.clock = clock
        self.project = project
        self.deadline_field, self.deadline_name = deadline_field, deadline_name
        self.severity_field, self.severity_name = severity_field, severity_name
        self.changelog_embed_limit = changelog_embed_limit
        self.comment_embed_limit = comment_embed_limit
        self.allow_silence = allow_silence
        self.transitions = TRANSITIONS + ([DIRECT_CLOSE] if direct_close else [])
        self.groups_visible = groups_visible  # Cloud: the API user has "Browse users and groups"
        self.permissions = permissions
        self.agent_licence = agent_licence
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, list[str]] = {}
        # Custom fields besides the deadline and severity: id -> (name, schema)
        self.custom: dict[str, tuple[str, dict[str, Any]]] = {
            ORGANIZATIONS: ("Organizations", {"type": "array", "items": "sd-customerorganization",
                                              "custom": "com.atlassian.servicedesk:sd-customer-organizations",
                                              "customId": 10002}),
            "customfield_10060": ("Environnement", {"type": "option", "custom": "com.atlassian.jira.plugin.system."
                                                    "customfieldtypes:select", "customId": 10060}),
            "customfield_10061": ("Modules", {"type": "array", "items": "option", "custom": "com.atlassian.jira."
                                              "plugin.system.customfieldtypes:multiselect", "customId": 10061}),
            "customfield_10070": ("Reported at", {"type": "datetime", "custom": "com.atlassian.jira.plugin.system."
                                                  "customfieldtypes:datetime", "customId": 10070}),
        }
        self.issues: dict[str, FakeIssue] = {}
        self.moved: dict[str, str] = {}  # former key: key now (Jira still answers to the former one)
        self.failures: list[Failure] = []
        self.log: list[tuple[str, str, dict[str, list[str]], Any]] = []
        self.writes = 0
        self._ids = 0
        self.api_user = self.add_user("sla", "SLA Bridge", email="sla-bridge@acme.test")
        for method in ("GET", "POST", "PUT"):
            rsps.add_callback(method, re.compile(re.escape(url) + re.escape(API) + r"/.*"), self._dispatch,
                              content_type="application/json")

    # --- users ----------------------------------------------------------------------------

    def add_user(self, handle: str, display: str, *, kind: str = "atlassian", email: str | None = None,
                 groups: tuple[str, ...] = ()) -> dict[str, Any]:
        """A user; ``kind`` is Cloud's accountType: atlassian, customer (JSM portal) or app."""
        self.groups[handle] = list(groups)
        digest = hashlib.md5(handle.encode()).hexdigest()
        if self.cloud:
            account = f"qm:{digest[:8]}-{digest[8:12]}:{digest[12:24]}" if kind == "customer" else digest[:24]
            user = {"self": f"{self.url}{API}/user?accountId={account}", "accountId": account,
                    "avatarUrls": {"48x48": f"https://avatar.example/{digest[:6]}.png"}, "displayName": display,
                    "active": True, "timeZone": str(self.zone), "accountType": kind}
        else:
            user = {"self": f"{self.url}{API}/user?username={handle}", "name": handle,
                    "key": f"JIRAUSER{10100 + len(self.users)}",
                    "avatarUrls": {"48x48": f"{self.url}/secure/useravatar?avatarId=10122"}, "displayName": display,
                    "active": True, "timeZone": str(self.zone)}
        if email:
            user["emailAddress"] = email
        self.users[handle] = user
        return user

    def user_id(self, handle: str) -> str:
        user = self.users[handle]
        return str(user["accountId"] if self.cloud else user["name"])

    def _ref(self, handle: str | None) -> dict[str, Any] | None:
        if handle is None:
            return None
        user = dict(self.users[handle])
        if self.cloud:
            user.pop("emailAddress", None)  # Cloud hides e-mail addresses by default
        return user

    # --- JSON pieces ----------------------------------------------------------------------

    def now(self) -> str:
        return jira_time(self.clock(), self.zone)

    def _status(self, name: str) -> dict[str, Any]:
        sid, key, cat, cid = STATUSES[name]
        return {"self": f"{self.url}{API}/status/{sid}", "description": "", "iconUrl": f"{self.url}/images/icons/"
                "statuses/generic.png", "name": name, "id": sid,
                "statusCategory": {"self": f"{self.url}{API}/statuscategory/{cid}", "id": cid, "key": key,
                                   "colorName": "blue-gray", "name": cat}}

    def _priority(self, name: str) -> dict[str, Any]:
        pid = PRIORITIES[name]
        return {"self": f"{self.url}{API}/priority/{pid}", "iconUrl": f"{self.url}/images/icons/priorities/"
                f"{name.lower()}.svg", "name": name, "id": pid}

    def _resolution(self, name: str) -> dict[str, Any]:
        rid = RESOLUTIONS[name]
        return {"self": f"{self.url}{API}/resolution/{rid}", "id": rid, "description": "", "name": name}

    def _item(self, field: str, fieldtype: str, field_id: str, frm: Any, frm_s: Any, to: Any, to_s: Any
              ) -> dict[str, Any]:
        item = {"field": field, "fieldtype": fieldtype, "fieldId": field_id, "from": frm, "fromString": frm_s,
                "to": to, "toString": to_s}
        if not self.cloud:
            del item["fieldId"]  # Data Center's change items have no field id
        return item

    def _history(self, issue: FakeIssue, author: str | None, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        entry: dict[str, Any] = {"id": str(10000 + sum(len(i.histories) for i in self.issues.values())),
                                 "created": self.now(), "items": items}
        if author is not None:
            entry["author"] = self._ref(author)
        issue.histories.append(entry)

    def _touch(self, issue: FakeIssue) -> None:
        issue.fields["updated"] = self.now()

    # --- people's actions -----------------------------------------------------------------

    def create(self, summary: str, reporter: str, *, priority: str | None = "Highest", issuetype: str = "Bug",
               labels: tuple[str, ...] = (), severity: str | None = None, organisations: tuple[str, ...] = (),
               components: tuple[str, ...] = (), reported_at: datetime | None = None) -> str:
        self._ids += 1
        key = f"{self.project}-{self._ids}"
        fields: dict[str, Any] = {
            "summary": summary, "issuetype": {"self": f"{self.url}{API}/issuetype/10004", "id": "10004",
                                              "description": "", "name": issuetype, "subtask": False},
            "project": {"self": f"{self.url}{API}/project/10000", "id": "10000", "key": self.project,
                        "name": "Support"},
            "status": self._status("To Do"), "priority": self._priority(priority) if priority else None,
            "labels": list(labels), "duedate": None, "fixVersions": [], "resolution": None,
            "reporter": self._ref(reporter), "creator": self._ref(reporter), "assignee": None,
            "created": self.now(), "updated": self.now(), self.deadline_field: None,
            ORGANIZATIONS: [self._organization(o) for o in organisations] or None,
            "components": [self._component(c) for c in components], "customfield_10060": None,
            "customfield_10061": None,
            "customfield_10070": jira_time(reported_at, self.zone) if reported_at else None,
        }
        if self.severity_field:
            fields[self.severity_field] = self._option(severity) if severity else None
        self.issues[key] = FakeIssue(str(10000 + self._ids), key, fields)
        return key

    def _organization(self, name: str) -> dict[str, Any]:
        oid = str(1 + sum(map(ord, name)) % 50)
        return {"id": oid, "name": name, "scimManaged": False,
                "_links": {"self": f"{self.url}/rest/servicedeskapi/organization/{oid}"}}

    def _component(self, name: str) -> dict[str, Any]:
        cid = str(10300 + sum(map(ord, name)) % 97)
        return {"self": f"{self.url}{API}/component/{cid}", "id": cid, "name": name}

    def set_select(self, key: str, field: str, value: str | None, by: str) -> None:
        """A single select list (``customfield_10060``) set by a person."""
        issue = self.issues[key]
        old, new = issue.fields[field], self._option(value) if value else None
        self._history(issue, by, [self._item(self.custom[field][0], "custom", field, old and old["id"],
                                             old and old["value"], new and new["id"], new and new["value"])])
        issue.fields[field] = new
        self._touch(issue)

    def set_multi(self, key: str, field: str, values: list[str], by: str) -> None:
        """A multi-select list (``customfield_10061``): one changelog item listing the values, comma separated."""
        issue = self.issues[key]
        old = issue.fields[field] or []
        new = [self._option(v) for v in values]
        self._history(issue, by, [self._item(
            self.custom[field][0], "custom", field, "[" + ", ".join(o["id"] for o in old) + "]" if old else None,
            ",".join(o["value"] for o in old) or None, "[" + ", ".join(o["id"] for o in new) + "]" if new else None,
            ",".join(o["value"] for o in new) or None)])
        issue.fields[field] = new or None
        self._touch(issue)

    def set_components(self, key: str, names: list[str], by: str) -> None:
        """Components: one changelog item per component added or removed."""
        issue = self.issues[key]
        before = {c["name"]: c for c in issue.fields["components"]}
        after = {n: self._component(n) for n in names}
        items = [self._item("Component", "jira", "components", None, None, c["id"], n)
                 for n, c in after.items() if n not in before]
        items += [self._item("Component", "jira", "components", c["id"], n, None, None)
                  for n, c in before.items() if n not in after]
        self._history(issue, by, items)
        issue.fields["components"] = list(after.values())
        self._touch(issue)

    def _option(self, value: str) -> dict[str, Any]:
        oid = str(10200 + sum(map(ord, value)) % 97)
        return {"self": f"{self.url}{API}/customFieldOption/{oid}", "value": value, "id": oid}

    def comment(self, key: str, author: str, body: str, *, public: bool = True) -> dict[str, Any]:
        issue = self.issues[key]
        comment: dict[str, Any] = {"self": f"{self.url}{API}/issue/{issue.id}/comment/{20000 + self._comment_count()}",
                   "id": str(20000 + self._comment_count()), "author": self._ref(author), "body": body,
                   "updateAuthor": self._ref(author), "created": self.now(), "updated": self.now()}
        if self.cloud:
            comment["jsdPublic"] = public
        comment["_properties"] = [] if public else [{"key": "sd.public.comment", "value": {"internal": True}}]
        issue.comments.append(comment)
        self._touch(issue)
        return comment

    def _comment_count(self) -> int:
        return sum(len(i.comments) for i in self.issues.values())

    def set_status(self, key: str, status: str, by: str, *, resolution: str | None = None) -> None:
        issue = self.issues[key]
        old = issue.fields["status"]
        items = [self._item("status", "jira", "status", old["id"], old["name"], STATUSES[status][0], status)]
        if resolution is not None:
            before = issue.fields["resolution"]
            items.append(self._item("resolution", "jira", "resolution", before and before["id"],
                                    before and before["name"], RESOLUTIONS[resolution], resolution))
            issue.fields["resolution"] = self._resolution(resolution)
        issue.fields["status"] = self._status(status)
        self._history(issue, by, items)
        self._touch(issue)

    def set_priority(self, key: str, priority: str, by: str) -> None:
        issue = self.issues[key]
        old = issue.fields["priority"]
        self._history(issue, by, [self._item("priority", "jira", "priority", old and old["id"], old and old["name"],
                                             PRIORITIES[priority], priority)])
        issue.fields["priority"] = self._priority(priority)
        self._touch(issue)

    def set_labels(self, key: str, labels: list[str], by: str) -> None:
        issue = self.issues[key]
        self._history(issue, by, self._labels_item(issue.fields["labels"], labels))
        issue.fields["labels"] = list(labels)
        self._touch(issue)

    def _labels_item(self, old: list[str], new: list[str]) -> list[dict[str, Any]]:
        if sorted(old) == sorted(new):
            return []
        return [self._item("labels", "jira", "labels", None, " ".join(sorted(old)), None, " ".join(sorted(new)))]

    def move(self, key: str, project: str, by: str) -> str:
        """Move an issue to another project: a new key, the former one still answers."""
        issue = self.issues.pop(key)
        self._ids += 1
        new = f"{project}-{self._ids}"
        old_project = issue.fields["project"]
        issue.fields["project"] = {**old_project, "id": str(10000 + len(project)), "key": project, "name": project}
        self._history(issue, by, [
            self._item("project", "jira", "project", old_project["id"], old_project["name"],
                       issue.fields["project"]["id"], project),
            self._item("Key", "jira", "issuekey", None, key, None, new)])
        issue.key, self.issues[new], self.moved[key] = new, issue, new
        self._touch(issue)
        return new

    def fail_next(self, method: str, path: str, status: int = 200, *, headers: dict[str, str] | None = None,
                  body: Any = None, apply: bool = False, raw: str | None = None,
                  raises: BaseException | None = None, times: int = 1) -> None:
        """The next ``times`` matching requests answer ``status`` (after doing their work when ``apply``):
        with ``body`` as JSON, or ``raw`` as it is (HTML, a truncated body), or no answer at all
        (``raises``: a connection error, a timeout)."""
        for _ in range(times):
            self.failures.append(Failure(method, re.compile(path), status, headers or {}, body, apply, raw, raises))

    # --- what tests look at ---------------------------------------------------------------

    def issue(self, key: str) -> FakeIssue:
        return self.issues[key]

    def calls(self, method: str, path_re: str = ".*") -> list[tuple[str, dict[str, list[str]], Any]]:
        return [(p, q, b) for m, p, q, b in self.log if m == method and re.fullmatch(path_re, p)]

    # --- the REST API ---------------------------------------------------------------------

    def _dispatch(self, request: Any) -> tuple[int, dict[str, str], str]:
        split = urlsplit(request.url)
        path = split.path.removeprefix(API)
        query = parse_qs(split.query, keep_blank_values=True)
        body = json.loads(request.body) if request.body else None
        self.log.append((request.method, path, query, body))
        for failure in list(self.failures):
            if failure.method == request.method and failure.path.fullmatch(path):
                self.failures.remove(failure)
                if failure.apply:
                    self._route(request.method, path, query, body)
                if failure.raises is not None:
                    raise failure.raises
                if failure.raw is not None:
                    return failure.status, failure.headers, failure.raw
                return failure.status, failure.headers, json.dumps(failure.body) if failure.body is not None else ""
        return self._route(request.method, path, query, body)

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any
               ) -> tuple[int, dict[str, str], str]:
        routes: list[tuple[str, str, Callable[..., Any]]] = [
            ("GET", r"/serverInfo", self._server_info), ("GET", r"/myself", self._myself),
            ("GET", r"/field", self._fields), ("GET", r"/search", self._search_dc),
            ("GET", r"/search/jql", self._search_cloud), ("GET", r"/issue/([^/]+)", self._get_issue),
            ("PUT", r"/issue/([^/]+)", self._put_issue), ("GET", r"/issue/([^/]+)/changelog", self._changelog),
            ("GET", r"/issue/([^/]+)/comment", self._get_comments), ("POST", r"/issue/([^/]+)/comment", self._post_comment),
            ("GET", r"/issue/([^/]+)/transitions", self._get_transitions),
            ("POST", r"/issue/([^/]+)/transitions", self._post_transition),
            ("GET", r"/user/groups", self._user_groups), ("GET", r"/user", self._user),
            ("GET", r"/project/([^/]+)", self._project), ("GET", r"/project/([^/]+)/statuses", self._project_statuses),
            ("GET", r"/status", self._statuses), ("GET", r"/priority", self._priorities),
            ("GET", r"/resolution", self._resolutions), ("GET", r"/mypermissions", self._my_permissions),
        ]
        for verb, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                result = handler(*match.groups(), query=query, body=body)
                status, payload = result if isinstance(result, tuple) else (200, result)
                return status, {}, json.dumps(payload) if payload is not None else ""
        return self._no_such_uri(path)

    def _no_such_uri(self, path: str) -> tuple[int, dict[str, str], str]:
        # Jira answers an unknown REST resource like this (Jersey's message).
        return 404, {}, json.dumps({"message": f"null for uri: {self.url}{API}{path}", "status-code": 404})

    @staticmethod
    def _errors(*messages: str, **fields: str) -> dict[str, Any]:
        return {"errorMessages": list(messages), "errors": fields}

    def _server_info(self, query: Any, body: Any) -> dict[str, Any]:
        if self.cloud:
            return {"baseUrl": self.url, "displayUrl": self.url, "version": "1001.0.0-SNAPSHOT",
                    "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud", "buildNumber": 100289,
                    "buildDate": "2025-06-01T00:00:00.000+0000", "serverTime": self.now(),
                    "scmInfo": "6c4e1fdc3f2b1ca2c2e1b1d6f0a4b9d8e7f6a5b4", "serverTitle": "Jira"}
        return {"baseUrl": self.url, "version": "9.12.7", "versionNumbers": [9, 12, 7], "deploymentType": "Server",
                "buildNumber": 9120007, "buildDate": "2024-04-10T00:00:00.000+0000", "databaseBuildNumber": 9120007,
                "serverTime": self.now(), "scmInfo": "b4b2a4a1d7bb3a4b2f0a7c36a0e4c3d3e9b1f2a1",
                "serverTitle": "Jira"}

    def _myself(self, query: Any, body: Any) -> dict[str, Any]:
        me = dict(self.api_user)
        roles = [{"key": "jira-software", "groups": ["jira-software-users"], "name": "Jira Software",
                  "defaultGroups": ["jira-software-users"], "selectedByDefault": False, "defined": True,
                  "numberOfSeats": 10, "remainingSeats": 5, "userCount": 5, "userCountDescription": "5 users",
                  "hasUnlimitedSeats": False, "platform": False}]
        if self.agent_licence:
            roles.append({**roles[0], "key": "jira-servicedesk", "groups": ["jira-servicedesk-users"],
                          "name": "Jira Service Management", "defaultGroups": ["jira-servicedesk-users"]})
        expanded = "applicationRoles" in query.get("expand", [""])[0].split(",")
        me.update({"locale": "en_US", "groups": {"size": 2, "items": []},
                   "applicationRoles": {"size": len(roles), "items": roles if expanded else []},
                   "expand": "groups,applicationRoles"})
        return me

    # -- users and configuration, read-only --

    def _user_by(self, query: dict[str, list[str]]) -> str | None:
        for handle, user in self.users.items():
            if self.cloud and query.get("accountId") == [user["accountId"]]:
                return handle
            if not self.cloud and (query.get("username") == [user["name"]] or query.get("key") == [user["key"]]):
                return handle
        return None

    def _group(self, name: str) -> dict[str, Any]:
        if self.cloud:
            gid = hashlib.md5(name.encode()).hexdigest()
            gid = f"{gid[:8]}-{gid[8:12]}-{gid[12:16]}-{gid[16:20]}-{gid[20:32]}"
            return {"name": name, "groupId": gid, "self": f"{self.url}/rest/api/3/group?groupId={gid}"}
        return {"name": name, "self": f"{self.url}{API}/group?groupname={name}"}

    def _user_groups(self, query: dict[str, list[str]], body: Any) -> Any:
        if not self.cloud:
            return self._no_such_uri("/user/groups")
        if not self.groups_visible:
            return 403, self._errors("You do not have permission to view this user's groups.")
        handle = self._user_by(query)
        if handle is None:
            return 404, self._errors(f"User with accountId '{query.get('accountId', [''])[0]}' does not exist")
        return [self._group(g) for g in self.groups[handle]]

    def _user(self, query: dict[str, list[str]], body: Any) -> Any:
        handle = self._user_by(query)
        if handle is None:
            return 404, self._errors("The user named '{0}' does not exist")
        user = dict(self.users[handle])
        if "groups" in query.get("expand", [""])[0].split(","):
            user["groups"] = {"size": len(self.groups[handle]), "items": [self._group(g) for g in self.groups[handle]]}
        user["expand"] = "groups,applicationRoles"
        return user

    def _project(self, key: str, query: Any, body: Any) -> Any:
        if key != self.project:
            return 404, self._errors(f"No project could be found with key '{key}'.")
        return {"expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
                "self": f"{self.url}{API}/project/10000", "id": "10000", "key": key, "name": "Support",
                "projectTypeKey": "service_desk", "simplified": False, "style": "classic", "isPrivate": False}

    def _project_statuses(self, key: str, query: Any, body: Any) -> Any:
        if key != self.project:
            return 404, self._errors(f"No project could be found with key '{key}'.")
        return [{"self": f"{self.url}{API}/issuetype/10004", "id": "10004", "name": "Bug", "subtask": False,
                 "statuses": [self._status(name) for name in STATUSES]}]

    def _statuses(self, query: Any, body: Any) -> Any:
        return [self._status(name) for name in STATUSES]

    def _priorities(self, query: Any, body: Any) -> Any:
        return [{**self._priority(name), "statusColor": "#d04437", "description": f"{name} priority"}
                for name in PRIORITIES]

    def _resolutions(self, query: Any, body: Any) -> Any:
        return [self._resolution(name) for name in RESOLUTIONS]

    def _my_permissions(self, query: dict[str, list[str]], body: Any) -> Any:
        asked = query.get("permissions", [""])[0].split(",")
        unknown = [p for p in asked if p not in PERMISSIONS]
        if unknown:
            return 400, self._errors(f"Unrecognized permission keys: {', '.join(unknown)}")
        return {"permissions": {key: {"id": PERMISSIONS[key][0], "key": key, "name": PERMISSIONS[key][1],
                                      "type": "PROJECT", "description": f"Ability to {PERMISSIONS[key][1].lower()}.",
                                      "havePermission": key in self.permissions} for key in asked}}

    def _fields(self, query: Any, body: Any) -> list[dict[str, Any]]:
        found = [{"id": "summary", "key": "summary", "name": "Summary", "custom": False},
                 {"id": "duedate", "key": "duedate", "name": "Due date", "custom": False},
                 {"id": self.deadline_field, "key": self.deadline_field, "name": self.deadline_name, "custom": True,
                  "schema": {"type": "datetime", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:"
                             "datetime", "customId": int(self.deadline_field.split("_")[1])}}]
        found.append({"id": "components", "key": "components", "name": "Components", "custom": False,
                      "schema": {"type": "array", "items": "component", "system": "components"}})
        found += [{"id": fid, "key": fid, "name": name, "custom": True, "schema": schema}
                  for fid, (name, schema) in self.custom.items()]
        if self.severity_field:
            found.append({"id": self.severity_field, "key": self.severity_field, "name": self.severity_name,
                          "custom": True, "schema": {"type": "option", "custom": "com.atlassian.jira.plugin.system."
                                                     "customfieldtypes:select",
                                                     "customId": int(self.severity_field.split("_")[1])}})
        return found

    # -- search --

    def _matching(self, jql: str) -> list[FakeIssue]:
        one = re.fullmatch(r'project = "(?P<project>[^"]+)" AND status = "(?P<status>[^"]+)" ORDER BY updated DESC',
                           jql)
        if one:  # the most recently updated issue in a status (check-config --connect)
            rows = [i for i in self.issues.values() if i.key.split("-")[0] == one["project"]
                    and i.fields["status"]["name"] == one["status"]]
            return sorted(rows, key=lambda i: parse(i.fields["updated"]), reverse=True)
        match = re.fullmatch(r'project in \((?P<projects>.*?)\)(?: AND updated >= "(?P<since>[^"]+)")?'
                             r"(?: AND \((?P<extra>.*)\))? ORDER BY updated ASC, key ASC", jql)
        assert match, f"unexpected JQL: {jql}"
        projects = [re.sub(r"\\(.)", r"\1", p) for p in re.findall(r'"((?:[^"\\]|\\.)*)"', match["projects"])]
        since = datetime.strptime(match["since"], "%Y-%m-%d %H:%M").replace(tzinfo=self.zone) \
            if match["since"] else None
        rows = [i for i in self.issues.values() if i.key.split("-")[0] in projects
                and (since is None or parse(i.fields["updated"]) >= since)]
        return sorted(rows, key=lambda i: (parse(i.fields["updated"]), int(i.key.split("-")[1])))

    def _row(self, issue: FakeIssue, fields: list[str]) -> dict[str, Any]:
        return {"expand": "operations,versionedRepresentations,editmeta,changelog,renderedFields",
                "id": issue.id, "self": f"{self.url}{API}/issue/{issue.id}", "key": issue.key,
                "fields": {f: issue.fields.get(f) for f in fields}}

    def _search_dc(self, query: dict[str, list[str]], body: Any) -> Any:
        if self.cloud:
            return 410, self._errors("The requested API has been removed. Please migrate to the /rest/api/3/search/"
                                     "jql API. A full migration guideline is available at "
                                     "https://developer.atlassian.com/changelog/#CHANGE-2046")
        rows = self._matching(query["jql"][0])
        start, size = int(query.get("startAt", ["0"])[0]), min(int(query.get("maxResults", ["50"])[0]), 1000)
        fields = query.get("fields", ["*navigable"])[0].split(",")
        return {"expand": "schema,names", "startAt": start, "maxResults": size, "total": len(rows),
                "issues": [self._row(i, fields) for i in rows[start:start + size]]}

    def _search_cloud(self, query: dict[str, list[str]], body: Any) -> Any:
        if not self.cloud:
            return self._no_such_uri("/search/jql")
        rows = self._matching(query["jql"][0])
        token = query.get("nextPageToken", [None])[0]
        start = int(base64.b64decode(token).decode()) if token else 0
        size = min(int(query.get("maxResults", ["50"])[0]), 5000)
        fields = query.get("fields", ["id"])[0].split(",")
        page = rows[start:start + size]
        result: dict[str, Any] = {"issues": [self._row(i, fields) for i in page]}
        if start + size < len(rows):
            result["nextPageToken"] = base64.b64encode(str(start + size).encode()).decode()
            result["isLast"] = False
        else:
            result["isLast"] = True  # and no nextPageToken key at all (JRACLOUD-92184)
        return result

    # -- one issue --

    def _find(self, key: str) -> FakeIssue | None:
        while key in self.moved:
            key = self.moved[key]
        return self.issues.get(key) or next((i for i in self.issues.values() if i.id == key), None)

    def _missing(self) -> tuple[int, dict[str, Any]]:
        return 404, self._errors("Issue does not exist or you do not have permission to see it.")

    def _public_comment(self, comment: dict[str, Any], properties: bool) -> dict[str, Any]:
        shown = {k: v for k, v in comment.items() if not k.startswith("_")}
        if properties:
            shown["properties"] = comment["_properties"]
        return shown

    def _get_issue(self, key: str, query: dict[str, list[str]], body: Any) -> Any:
        issue = self._find(key)
        if issue is None:
            return self._missing()
        wanted = query.get("fields", ["*all"])[0].split(",")
        fields = dict(issue.fields) if "*all" in wanted else {f: issue.fields.get(f) for f in wanted
                                                              if f != "comment"}
        if "comment" in wanted or "*all" in wanted:
            shown = [self._public_comment(c, False) for c in issue.comments]
            limit = self.comment_embed_limit if self.comment_embed_limit is not None else len(shown)
            fields["comment"] = {"comments": shown[:limit], "self": f"{self.url}{API}/issue/{issue.id}/comment",
                                 "maxResults": limit, "total": len(shown), "startAt": 0}
        result: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue.id, "self": f"{self.url}{API}/issue/{issue.id}", "key": issue.key, "fields": fields}
        if "changelog" in query.get("expand", [""])[0].split(","):
            histories = issue.histories
            if self.cloud and len(histories) > self.changelog_embed_limit:
                histories = histories[-self.changelog_embed_limit:]  # Cloud embeds the latest ones only
            result["changelog"] = {"startAt": 0, "maxResults": len(histories), "total": len(issue.histories),
                                   "histories": histories}
        return result

    def _changelog(self, key: str, query: dict[str, list[str]], body: Any) -> Any:
        if not self.cloud:
            return self._no_such_uri(f"/issue/{key}/changelog")
        issue = self._find(key)
        if issue is None:
            return self._missing()
        start, size = int(query.get("startAt", ["0"])[0]), min(int(query.get("maxResults", ["100"])[0]), 100)
        values = issue.histories[start:start + size]
        result = {"self": f"{self.url}{API}/issue/{key}/changelog?maxResults={size}&startAt={start}",
                  "maxResults": size, "startAt": start, "total": len(issue.histories),
                  "isLast": start + size >= len(issue.histories), "values": values}
        if not result["isLast"]:
            result["nextPage"] = f"{self.url}{API}/issue/{key}/changelog?maxResults={size}&startAt={start + size}"
        return result

    def _get_comments(self, key: str, query: dict[str, list[str]], body: Any) -> Any:
        issue = self._find(key)
        if issue is None:
            return self._missing()
        start, size = int(query.get("startAt", ["0"])[0]), min(int(query.get("maxResults", ["5000"])[0]), 5000)
        properties = "properties" in query.get("expand", [""])[0].split(",")
        shown = [self._public_comment(c, properties) for c in issue.comments]
        return {"startAt": start, "maxResults": size, "total": len(shown), "comments": shown[start:start + size]}

    def _put_issue(self, key: str, query: dict[str, list[str]], body: Any) -> Any:
        issue = self._find(key)
        if issue is None:
            return self._missing()
        if query.get("notifyUsers") == ["false"] and not self.allow_silence:
            return 403, self._errors("To discard the user notification either admin or project admin permissions"
                                     " are required.")
        fields, update = body.get("fields", {}), body.get("update", {})
        editable = {"summary", "duedate", "labels", self.deadline_field}
        unknown = [f for f in [*fields, *update] if f not in editable]
        if unknown:
            return 400, self._errors(**{f: f"Field '{f}' cannot be set. It is not on the appropriate screen, or"
                                           " unknown." for f in unknown})
        items = []
        if "duedate" in fields:
            old, new = issue.fields["duedate"], fields["duedate"]
            if old != new:
                date.fromisoformat(new) if new else None
                items.append(self._item("duedate", "jira", "duedate", old, old and f"{old} 00:00:00.0", new,
                                        new and f"{new} 00:00:00.0"))
                issue.fields["duedate"] = new
        if self.deadline_field in fields:
            old, raw = issue.fields[self.deadline_field], fields[self.deadline_field]
            new = jira_time(parse(raw), self.zone) if raw else None
            if old != new:
                items.append(self._item(self.deadline_name, "custom", self.deadline_field, old,
                                        old and parse(old).strftime("%d/%b/%y %I:%M %p"), new,
                                        new and parse(new).strftime("%d/%b/%y %I:%M %p")))
                issue.fields[self.deadline_field] = new
        labels = list(fields.get("labels", issue.fields["labels"]))
        for op in update.get("labels", []):
            if "add" in op and op["add"] not in labels:
                labels.append(op["add"])
            if "remove" in op and op["remove"] in labels:
                labels.remove(op["remove"])
            if "set" in op:
                labels = list(op["set"])
        items += self._labels_item(issue.fields["labels"], labels)
        issue.fields["labels"] = labels
        if "summary" in fields:
            issue.fields["summary"] = fields["summary"]
        self.writes += 1
        self._history(issue, "sla", items)
        self._touch(issue)
        return 204, None

    def _post_comment(self, key: str, query: dict[str, list[str]], body: Any) -> Any:
        issue = self._find(key)
        if issue is None:
            return self._missing()
        internal = any(p.get("key") == "sd.public.comment" and p.get("value", {}).get("internal")
                       for p in body.get("properties", []))
        if len(body["body"].encode("utf-16-le")) // 2 > COMMENT_LIMIT:
            return 400, self._errors(comment="The entered text is too long. It exceeds the allowed limit of 32,767"
                                     " characters.")
        self.writes += 1
        comment = self.comment(issue.key, "sla", body["body"], public=not internal)
        return 201, self._public_comment(comment, False)

    def _transition_json(self, tid: str, name: str, sources: frozenset[str] | None, to: str, resolution: bool | None,
                         expand: bool) -> dict[str, Any]:
        if self.cloud:
            found: dict[str, Any] = {"id": tid, "name": name, "to": self._status(to), "hasScreen": resolution is not
                                     None, "isGlobal": sources is None, "isInitial": False, "isAvailable": True,
                                     "isConditional": False, "isLooped": False}
        else:
            found = {"id": tid, "name": name, "opsbarSequence": int(tid), "to": self._status(to)}
        if expand:
            found["fields"] = {}
            if resolution is not None:
                meta: dict[str, Any] = {
                    "required": resolution, "schema": {"type": "resolution", "system": "resolution"},
                    "name": "Resolution", "key": "resolution", "operations": ["set"],
                    "allowedValues": [self._resolution(r) for r in RESOLUTIONS]}
                if self.cloud:
                    meta["hasDefaultValue"] = False
                found["fields"]["resolution"] = meta
        return found

    def _get_transitions(self, key: str, query: dict[str, list[str]], body: Any) -> Any:
        issue = self._find(key)
        if issue is None:
            return self._missing()
        expand = "transitions.fields" in query.get("expand", [""])[0].split(",")
        return {"expand": "transitions", "transitions": [self._transition_json(*t, expand=expand)
                                                         for t in self._available(issue)]}

    def _available(self, issue: FakeIssue) -> list[tuple[str, str, frozenset[str] | None, str, bool | None]]:
        current = issue.fields["status"]["name"]
        return [t for t in self.transitions if t[3] != current and (t[2] is None or current in t[2])]

    def _post_transition(self, key: str, query: dict[str, list[str]], body: Any) -> Any:
        issue = self._find(key)
        if issue is None:
            return self._missing()
        tid = str(body["transition"]["id"])
        found = next(((n, to, r) for t, n, _, to, r in self._available(issue) if t == tid), None)
        if found is None:
            return 400, self._errors(f"Transition id '{tid}' is not valid for this issue.")
        _, to, needs = found
        resolution = (body.get("fields") or {}).get("resolution")
        if resolution is not None and needs is None:
            return 400, self._errors(resolution="Field 'resolution' cannot be set. It is not on the appropriate"
                                     " screen, or unknown.")
        if needs and resolution is None:
            return 400, self._errors(resolution="Resolution is required.")
        if resolution is not None and resolution.get("name") not in RESOLUTIONS:
            return 400, self._errors(resolution=f"Resolution '{resolution.get('name')}' is not valid.")
        self.writes += 1
        self.set_status(issue.key, to, "sla", resolution=resolution["name"] if resolution else None)
        return 204, None
