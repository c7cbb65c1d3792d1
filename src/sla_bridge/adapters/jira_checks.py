"""``sla-bridge check-config --connect`` for Jira: what the configuration names, looked up read-only.

One ``Check`` per thing named: the account (``GET /myself``), each project
(``/project/{key}``), each status of ``statuses`` and ``closing_status`` (the projects'
``/project/{key}/statuses``, else ``/status``), each priority of ``severities`` when the
severity is the priority (``/priority``), every custom field the options and ``fields`` name
(``/field``, with the type a Date Time Picker must have), the resolution (``/resolution``),
the API user's permissions in each project (``/mypermissions``), and a way through the
workflow from each waiting status to the closing status.

Jira shows a workflow's transitions to a non-administrator only on an issue, from its
current status (``/issue/{key}/transitions``): the way is checked on the most recently
updated issue in each status it passes through, the same way the adapter closes (a
direct transition, else through a status mapped ``resolved``). When no issue is in a
status to look from, the check says it could not verify. Nothing is written; no secret is
ever part of a check.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from .base import AdapterError, Check
from .jira_values import CUSTOM_FIELD, jql_string, obj, shorten, text
from .jira_workflow import MAX_STEPS, WorkflowMemory, next_steps, target

if TYPE_CHECKING:
    from .jira import JiraAdapter

T = TypeVar("T")
PERMISSIONS = ("BROWSE_PROJECTS", "ADD_COMMENTS", "EDIT_ISSUES", "SCHEDULE_ISSUES", "TRANSITION_ISSUES")
PERMISSION_USE = {"BROWSE_PROJECTS": "read issues, changelogs and comments",
                  "ADD_COMMENTS": "reminders and the closure notice",
                  "EDIT_ISSUES": "SLA labels and the deadline field", "SCHEDULE_ISSUES": "the due date",
                  "TRANSITION_ISSUES": "the closure"}
DATETIME = "com.atlassian.jira.plugin.system.customfieldtypes:datetime"


class _Failed(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# Jira's answer not in the form the REST API documents: one failed check, never a crash.
UNEXPECTED = (KeyError, TypeError, ValueError, AttributeError, IndexError, RecursionError)


def _read(what: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return what(*args, **kwargs)
    except AdapterError as exc:
        # Each check belongs to its tracker's report: its detail does not name the tracker again.
        owner = next((o for o in (getattr(what, "__self__", None), *args) if hasattr(o, "_unnamed")), None)
        raise _Failed(owner._unnamed(exc) if owner is not None else str(exc)) from None


def _guarded(subject: str, name: str, check: Callable[[], list[Check]]) -> list[Check]:
    """One group of checks; an answer it cannot read is one failed check saying so."""
    try:
        return check()
    except UNEXPECTED as exc:
        return [Check(subject, name, False, f"Jira's answer is not in the form its REST API documents"
                      f" ({type(exc).__name__}: {shorten(str(exc), 120)})")]


def check_connection(adapter: "JiraAdapter") -> list[Check]:
    checks: list[Check] = []
    try:
        me = _read(adapter._get, "/myself", "read the API user", expand="applicationRoles")
        if not isinstance(me, dict):
            return [Check("authentication", adapter.base, False, f"read the API user: Jira answered {shorten(me)},"
                          f" not a user; check options.url ({adapter.base})")]
        deployment = _read(lambda: adapter.deployment)
    except _Failed as failed:
        return [Check("authentication", adapter.base, False, failed.detail.removeprefix(f"{adapter.name}: "))]
    adapter.remember_me(me)
    who = text(me.get("displayName")) or text(me.get("accountId")) or text(me.get("name")) or "?"
    ident = text(me.get("accountId")) or text(me.get("name")) or text(me.get("key"))
    kind = "Jira Cloud" if deployment == "cloud" else "Jira Data Center"
    checks.append(Check("authentication", adapter.base, True, f"{kind}, signed in as {who} ({ident})"))

    projects: dict[str, dict[str, Any] | None] = {}
    checks += _guarded("project", ", ".join(adapter.options.projects), lambda: _projects(adapter, projects))
    checks += _guarded("status", "statuses", lambda: _statuses(adapter, [p for p, found in projects.items() if found]))
    checks += _guarded("priority", "priorities", lambda: _priorities(adapter))
    checks += _guarded("field", "fields", lambda: _fields(adapter))
    checks += _guarded("resolution", str(adapter.options.resolution), lambda: _resolution(adapter))
    for key, project in projects.items():
        if project is None:
            continue
        checks += _guarded("permission", f"{key}: permissions", partial(_permissions, adapter, key))
        if project.get("projectTypeKey") == "service_desk":
            checks += _guarded("licence", f"{key}: Jira Service Management agent", partial(_licence, me, key))
        checks += _guarded("workflow", f"{key}: workflow", partial(_ways, adapter, key))
    return checks


def _projects(adapter: "JiraAdapter", found: dict[str, dict[str, Any] | None]) -> list[Check]:
    checks = []
    for key in adapter.options.projects:
        try:
            project = _read(adapter._get, f"/project/{key}", f"read project {key}")
        except _Failed as failed:
            found[key] = None
            checks.append(Check("project", key, False, f"not visible to the API user (Browse projects): {failed.detail}"))
            continue
        found[key] = obj(project) or None
        checks.append(Check("project", key, isinstance(project, dict),
                            f"{project.get('name', key)} ({project.get('projectTypeKey', '?')})"
                            if isinstance(project, dict) else f"Jira answered {shorten(project)}, not a project"))
    return checks


def _configured_statuses(adapter: "JiraAdapter") -> list[tuple[str, str]]:
    """(status name, what it is for), each name once, in the configuration's order."""
    section = adapter.section
    named: dict[str, tuple[str, str]] = {}
    for role in ("new", "in_progress", "waiting_for_customer", "workaround_delivered", "resolved", "closed"):
        for name in getattr(section.statuses, role):
            named.setdefault(name.casefold(), (name, f"statuses.{role}"))
    if section.closing_status:
        name = section.closing_status
        use = named.get(name.casefold(), (name, ""))[1]
        named[name.casefold()] = (name, ", ".join(filter(None, [use, "closing_status"])))
    return list(named.values())


def _statuses(adapter: "JiraAdapter", projects: list[str]) -> list[Check]:
    wanted = _configured_statuses(adapter)
    if not wanted:
        return []
    per_project: dict[str, set[str]] = {}
    problem = ""
    for key in projects:
        try:
            types = _read(adapter._get, f"/project/{key}/statuses", f"list the statuses of {key}")
            per_project[key] = {str(s.get("name", "")).casefold() for t in types or [] for s in t.get("statuses") or []}
        except _Failed as failed:
            problem = failed.detail
    if not per_project:
        try:
            every = _read(adapter._get, "/status", "list statuses")
        except _Failed as failed:
            return [Check("status", name, False, f"cannot list statuses: {problem or failed.detail}")
                    for name, _ in wanted]
        names = {str(s.get("name", "")).casefold() for s in every or []}
        return [Check("status", name, name.casefold() in names,
                      f"{use}: {'a status of this Jira' if name.casefold() in names else 'no such status in this Jira'}")
                for name, use in wanted]
    checks = []
    for name, use in wanted:
        missing = [key for key, names in per_project.items() if name.casefold() not in names]
        where = f"missing in the workflows of {', '.join(missing)}" if missing else \
            f"in the workflows of {', '.join(per_project)}"
        checks.append(Check("status", name, not missing, f"{use}: {where}"))
    return checks


def _priorities(adapter: "JiraAdapter") -> list[Check]:
    if adapter.options.severity_field != "priority" or not adapter.section.severities:
        return []
    try:
        found = _read(adapter._get, "/priority", "list priorities")
    except _Failed as failed:
        return [Check("priority", name, False, f"cannot list priorities: {failed.detail}")
                for name in adapter.section.severities]
    names = {str(p.get("name", "")).casefold(): str(p.get("name")) for p in found or []}
    return [Check("priority", name, name.casefold() in names,
                  f"severity {severity}" if name.casefold() in names
                  else f"no such priority; Jira has: {', '.join(sorted(names.values()))}")
            for name, severity in adapter.section.severities.items()]


def _fields(adapter: "JiraAdapter") -> list[Check]:
    o = adapter.options
    wanted: list[tuple[str, str, bool]] = []  # (field id, what it is for, must be a Date Time Picker)
    if o.severity_field != "priority":
        wanted.append((o.severity_field, "severity_field", False))
    if o.deadline_field:
        wanted.append((o.deadline_field, "deadline_field", True))
    if o.organizations_field:
        wanted.append((o.organizations_field, "organizations_field", False))
    if adapter.reported_at_field:
        wanted.append((adapter.reported_at_field, "fields.reported_at", True))
    wanted += [(fid, f"fields.{name}", False) for name, fid in adapter.fields.items()]
    if not wanted:
        return []
    try:
        meta = _read(adapter.field_meta)
    except _Failed as failed:
        return [Check("field", fid, False, f"{use}: cannot list fields: {failed.detail}") for fid, use, _ in wanted]
    checks = []
    for fid, use, datetime_picker in wanted:
        field = meta.get(fid)
        if field is None:
            hint = " (custom field ids are in GET /rest/api/2/field)" if CUSTOM_FIELD.match(fid) else ""
            checks.append(Check("field", fid, False, f"{use}: no such field{hint}"))
            continue
        schema = field.get("schema") or {}
        kind = schema.get("custom") or schema.get("type") or "?"
        if datetime_picker and schema.get("type") != "datetime":
            checks.append(Check("field", fid, False, f"{use}: {field.get('name')!r} is a {kind} field, not a Date"
                                f" Time Picker ({DATETIME})"))
            continue
        checks.append(Check("field", fid, True, f"{use}: {field.get('name')!r} ({kind})"))
    return checks


def _resolution(adapter: "JiraAdapter") -> list[Check]:
    wanted = adapter.options.resolution
    if not wanted:
        return []
    try:
        found = _read(adapter._get, "/resolution", "list resolutions")
    except _Failed as failed:
        return [Check("resolution", wanted, False, f"cannot list resolutions: {failed.detail}")]
    names = sorted(str(r.get("name")) for r in found or [] if r.get("name"))
    ok = wanted.casefold() in {n.casefold() for n in names}
    return [Check("resolution", wanted, ok, "options.resolution" if ok
                  else f"options.resolution: no such resolution; Jira has: {', '.join(names) or 'none'}")]


def _permissions(adapter: "JiraAdapter", project: str) -> list[Check]:
    try:
        found = _read(adapter._get, "/mypermissions", f"read the API user's permissions in {project}",
                      projectKey=project, permissions=",".join(PERMISSIONS))
    except _Failed as failed:
        return [Check("permission", f"{project}: permissions", False, failed.detail)]
    granted = found.get("permissions") or {}
    checks = []
    for key in PERMISSIONS:
        entry = granted.get(key) or {}
        ok = entry.get("havePermission") is True
        name = entry.get("name") or key.replace("_", " ").capitalize()
        checks.append(Check("permission", f"{project}: {name}", ok,
                            f"{key}, for {PERMISSION_USE[key]}" + ("" if ok else ": not granted to the API user")))
    return checks


def _licence(me: dict[str, Any], project: str) -> list[Check]:
    return [_agent_licence(me, project)]


def _agent_licence(me: dict[str, Any], project: str) -> Check:
    """Public replies and internal notes on a Service Management project need an agent's licence."""
    roles = (me.get("applicationRoles") or {}).get("items") or []
    keys = {str(r.get("key")) for r in roles if isinstance(r, dict)}
    if not roles:
        return Check("licence", f"{project}: Jira Service Management agent", True,
                     "not verified: Jira did not list the API user's application roles")
    ok = "jira-servicedesk" in keys
    return Check("licence", f"{project}: Jira Service Management agent", ok,
                 "the API user has a Service Management licence" if ok else
                 "the API user has no Service Management licence: its comments cannot be public replies")


# --- the way to the closing status --------------------------------------------------------

def _sample(adapter: "JiraAdapter", project: str, status: str) -> dict[str, Any] | None:
    """The most recently updated issue of ``project`` in ``status`` (None: there is none)."""
    jql = f"project = {jql_string(project)} AND status = {jql_string(status)} ORDER BY updated DESC"
    if adapter.cloud:
        data = adapter._get("/search/jql", f"find an issue in {status!r}", jql=jql, maxResults=1,
                            fields="status,issuetype")
    else:
        data = adapter._get("/search", f"find an issue in {status!r}", jql=jql, startAt=0, maxResults=1,
                            fields="status,issuetype")
    issues = data.get("issues") or []
    return issues[0] if issues else None


def _ways(adapter: "JiraAdapter", project: str) -> list[Check]:
    closing = adapter.section.closing_status
    if not closing:
        return []
    return [_way(adapter, project, waiting, closing) for waiting in adapter.section.statuses.waiting_for_customer]


def _way(adapter: "JiraAdapter", project: str, start: str, goal: str) -> Check:
    """Breadth first, as the adapter closes: a direct transition, else a step to a ``resolved`` status."""
    name = f"{project}: {start} -> {goal}"
    memory = WorkflowMemory()
    queue: list[tuple[str, list[str], list[str]]] = [(start, [start], [])]
    visited = {start.casefold()}
    unverified: list[str] = []
    dead_ends: list[str] = []
    while queue:
        status, path, seen_on = queue.pop(0)
        try:
            issue = _read(_sample, adapter, project, status)
            if issue is None:
                unverified.append(f"no issue of {project} is in {status!r} now to read its transitions from")
                continue
            key = str(issue.get("key"))
            available = _read(adapter.transitions, key, status)
        except _Failed as failed:
            unverified.append(f"cannot read the transitions from {status!r}: {failed.detail}")
            continue
        scope = (project.casefold(), str(((issue.get("fields") or {}).get("issuetype") or {}).get("name", "")).casefold())
        memory.learn(scope, status, available)
        if any(target(t).casefold() == goal.casefold() for t in available):
            way = " -> ".join([*path, goal])
            return Check("workflow", name, True, f"{way} (transitions the API user may take, seen on"
                         f" {', '.join([*seen_on, key])})")
        steps = next_steps(available, goal, adapter.section.statuses.resolved, visited, memory, scope)
        if not steps:
            offered_to = sorted({target(t) for t in available})
            dead_ends.append(f"from {status!r} (seen on {key}) the API user may go to:"
                             f" {', '.join(offered_to) or 'nothing'}")
        for step in steps:
            to = target(step)
            if len(path) < MAX_STEPS and to.casefold() not in visited:
                visited.add(to.casefold())
                queue.append((to, [*path, to], [*seen_on, key]))
    if unverified:
        return Check("workflow", name, True, "not verified: " + "; ".join(unverified + dead_ends)
                     + f". sla-bridge goes from {start!r} to {goal!r} directly or through a status mapped resolved"
                     f" ({', '.join(adapter.section.statuses.resolved) or 'none'})")
    return Check("workflow", name, False, "no way the API user may take: " + "; ".join(dead_ends)
                 + f". Add a transition to {goal!r}, or map the intermediate status as resolved")
