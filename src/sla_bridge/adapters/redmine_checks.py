"""``check-config --connect`` for Redmine: what the configuration names, found or not.

Read-only: only GETs. What a check can see depends on the API user (Redmine 5.0):

- the custom field list (format, multiple, possible values) is admin-only; anyone
  sees which issue custom fields each project enables (id and name), and an issue's
  ``custom_fields`` says whether a field is multi-value;
- workflows have no REST endpoint at all: the only view of them is an issue's
  ``allowed_statuses`` (5.0+), for the API user, that issue's tracker and status.
  So a path to the closing status is checked on real issues of the configured
  projects, one per tracker, and reported unverified where none is in the status;
- a role's permissions are readable by any API user (``/roles/:id.json``).

A check that cannot be made is reported ``ok`` with a detail starting
"not verified", so that an admin can tell it from a confirmed one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..identity import IdentityKind, IdentityPattern
from .base import AdapterError, Check, SkippableError
from .redmine_parse import Malformed, MalformedAnswer, objects, parse_id, text
from .redmine_users import Project, roles_in

if TYPE_CHECKING:
    from .redmine import RedmineAdapter

NOT_VERIFIED = "not verified: "


def run_checks(adapter: "RedmineAdapter") -> list[Check]:
    try:
        me = adapter.directory.read_me()
    except AdapterError as exc:
        return [Check("authentication", adapter.options.url, False, str(exc))]
    admin = ", an administrator" if me.get("admin") else " (not an administrator)"
    checks = [Check("authentication", adapter.options.url, True, f"as {me.get('login')} (id {me.get('id')}){admin}")]
    steps: list[tuple[str, Callable[["RedmineAdapter"], list[Check]]]] = [
        ("project", _projects), ("status", _statuses), ("priority", _priorities), ("custom field", _fields),
        ("labels", _labels), ("transition", _paths), ("permission", _permissions), ("identity", _identities)]
    for subject, step in steps:
        try:
            checks += step(adapter)
        except AdapterError as exc:  # one failed lookup fails its own check, not the others
            checks.append(Check(subject, "", False, str(exc)))
        except (Malformed, KeyError, TypeError, AttributeError, ValueError) as exc:  # an answer of another shape
            checks.append(Check(subject, "", False, f"Redmine answered something not shaped like its REST API"
                                                    f" ({type(exc).__name__}: {exc})"))
    return checks


def _projects_checked(a: "RedmineAdapter") -> list[Project]:
    """The configured projects that exist, or every visible project when none is configured."""
    if not a.options.projects:
        return list(a.directory.projects().values())
    return [p for p in (a.directory.by_identifier(i) for i in a.options.projects) if p is not None]


def _projects(a: "RedmineAdapter") -> list[Check]:
    if not a.options.projects:
        names = ", ".join(p.identifier for p in a.directory.projects().values())
        return [Check("project", "(every project the API user sees)", bool(names), names or "none visible")]
    out = []
    for identifier in a.options.projects:
        p = a.directory.by_identifier(identifier)
        out.append(Check("project", identifier, p is not None, f"id {p.id}, {p.name!r}" if p else
                         "no such project visible to the API user: check the identifier and its membership"))
    return out


def _statuses(a: "RedmineAdapter") -> list[Check]:
    named = [(role, n) for role, names in a.section.statuses.model_dump().items() for n in names]
    if a.section.closing_status:
        named.append(("closing_status", a.section.closing_status))
    known = {name.casefold(): sid for sid, name in a.statuses.items()}
    return [Check("status", n, n.casefold() in known,
                  f"{role}: id {known[n.casefold()]}" if n.casefold() in known
                  else f"{role}: no such status; Redmine has {', '.join(a.statuses.values())}")
            for role, n in named]


def _priorities(a: "RedmineAdapter") -> list[Check]:
    if a.options.severity_field != "priority":
        return []
    known = {name.casefold(): pid for pid, name in a.priorities.items()}
    return [Check("priority", v, v.casefold() in known,
                  f"severity {s}: id {known[v.casefold()]}" if v.casefold() in known
                  else f"severity {s}: no such priority; Redmine has {', '.join(a.priorities.values())}")
            for v, s in a.section.severities.items()]


def _definitions(a: "RedmineAdapter") -> dict[int, dict[str, Any]] | None:
    """Issue custom field definitions by id, or None when the list is admin-only for this user."""
    try:
        rows = a._get("/custom_fields.json", "list custom fields", expect=("custom_fields", list))["custom_fields"]
    except MalformedAnswer:
        raise
    except SkippableError:
        return None
    return {int(str(parse_id(f.get("id")))): f for f in objects(rows, "custom fields")
            if f.get("customized_type") == "issue" and parse_id(f.get("id"))}


def _field_refs(a: "RedmineAdapter") -> list[tuple[str, str | int, tuple[str, ...]]]:
    """(what the config calls it, its reference, acceptable formats) for every custom field it names."""
    refs: list[tuple[str, str | int, tuple[str, ...]]] = [("labels_field", a.options.labels_field, ("list",))]
    if a.options.deadline_field is not None:
        refs.append(("deadline_field", a.options.deadline_field, ("string", "text")))
    if a.options.severity_field != "priority":
        refs.append(("severity_field", a.options.severity_field, ()))
    for name, ref in a.section.fields.items():
        if str(ref).strip().casefold() not in ("category", "tracker"):
            refs.append((f"fields.{name}", ref, ("string", "date", "text") if name.casefold() == "reported_at" else ()))
    return refs


def _fields(a: "RedmineAdapter") -> list[Check]:
    defs, projects = _definitions(a), _projects_checked(a)
    out = []
    for name, ref in a.section.fields.items():
        builtin = str(ref).strip().casefold()
        if builtin in ("category", "tracker"):
            detail = "Redmine's " + builtin
            if builtin == "category":
                detail += "; " + "; ".join(f"{p.identifier}: {', '.join(sorted(p.categories.values())) or 'none'}"
                                           for p in projects)
            out.append(Check("field", f"fields.{name}", True, detail))
    for what, ref, formats in _field_refs(a):
        try:
            field_id = a.field_id(ref, what)
        except AdapterError as exc:
            out.append(Check("custom field", f"{what} = {ref!r}", False, str(exc)))
            continue
        out.append(_field_check(what, ref, field_id, formats, defs, projects))
    return out


def _field_check(what: str, ref: str | int, field_id: int | None, formats: tuple[str, ...],
                 defs: dict[int, dict[str, Any]] | None, projects: list[Project]) -> Check:
    name = f"{what} = {ref!r}"
    off = [p.identifier for p in projects if str(field_id) not in p.custom_fields]
    if defs is not None:
        definition = defs.get(int(field_id or 0))
        if definition is None:
            return Check("custom field", name, False, f"no issue custom field with id {field_id}")
        if formats and definition.get("field_format") not in formats:
            return Check("custom field", name, False, f"id {field_id} is a {definition.get('field_format')} field;"
                                                      f" expected {' or '.join(formats)}")
    if off:
        return Check("custom field", name, False, f"id {field_id} is not enabled in project(s) {', '.join(off)}:"
                                                  " Redmine ignores its value there (project settings, or"
                                                  " \"For all projects\" on the field)")
    where = ", ".join(p.identifier for p in projects)
    if defs is not None:
        return Check("custom field", name, True, f"id {field_id}, {defs[int(field_id or 0)].get('field_format')},"
                                                 f" enabled in {where}")
    found = f"id {field_id}, enabled in {where}"
    if not formats:
        return Check("custom field", name, True, found)
    return Check("custom field", name, True, NOT_VERIFIED + f"its format (expected {' or '.join(formats)}): the"
                                             f" custom field list is admin-only; {found}")


def _labels(a: "RedmineAdapter") -> list[Check]:
    field_id, defs = a.labels_id, _definitions(a)
    name = f"labels_field = {a.options.labels_field!r}"
    if defs is not None and field_id in defs:
        definition = defs[field_id]
        if definition.get("field_format") != "list" or not definition.get("multiple"):
            return [Check("labels", name, False, "must be a list custom field with \"Multiple values\" checked")]
        values = {str(v.get("value")) for v in definition.get("possible_values", [])}
        missing = sorted(a.sla_labels - values)
        return [Check("labels", name, not missing,
                      f"missing possible values: {', '.join(missing)}" if missing
                      else f"multi-value list holding all {len(a.sla_labels)} SLA labels")]
    sample = _first_issue(a)
    entry = next((f for f in (sample or {}).get("custom_fields", []) if f.get("id") == field_id), None)
    if entry is None:
        return [Check("labels", name, True, NOT_VERIFIED + "no issue of the configured projects shows the field,"
                                            " and its definition is admin-only")]
    seen = f"issue #{sample['id']}" if sample else "an issue"
    if not entry.get("multiple"):
        return [Check("labels", name, False, f"{seen} shows it as a single-value field;"
                                             " check \"Multiple values\" on the field")]
    return [Check("labels", name, True, NOT_VERIFIED + "its possible values are admin-only; they must hold "
                  + ", ".join(sorted(a.sla_labels)) + f" (multi-value, as {seen} shows)")]


def _scope(a: "RedmineAdapter") -> dict[str, Any]:
    ids = [p.id for p in _projects_checked(a)] if a.options.projects else []
    return {"set_filter": 1, "f[]": ["status_id"] + (["project_id"] if ids else []),
            "op[status_id]": "=", **({"op[project_id]": "=", "v[project_id][]": ids} if ids else {})}


def _first_issue(a: "RedmineAdapter") -> dict[str, Any] | None:
    params = {**_scope(a), "op[status_id]": "*", "limit": 1}
    issues = objects(a._get("/issues.json", "look for an issue", expect=("issues", list), **params)["issues"],
                     "issues")
    return issues[0] if issues and parse_id(issues[0].get("id")) else None


def _issues_in(a: "RedmineAdapter", status_id: str) -> dict[str, dict[str, Any]]:
    """One issue in `status_id` per tracker (workflows are per tracker), by tracker name."""
    params = {**_scope(a), "v[status_id][]": [status_id], "limit": 100}
    found: dict[str, dict[str, Any]] = {}
    for issue in objects(a._get("/issues.json", "look for issues in a status", expect=("issues", list),
                                **params)["issues"], "issues"):
        if parse_id(issue.get("id")):
            found.setdefault(str((issue.get("tracker") or {}).get("name")), issue)
    return found


def _allowed(a: "RedmineAdapter", issue_id: Any) -> list[str] | None:
    issue = a._read_allowed(str(issue_id))
    allowed = issue.get("allowed_statuses")
    return None if allowed is None else [str(s["id"]) for s in allowed]


def _paths(a: "RedmineAdapter") -> list[Check]:
    closing = a.section.closing_status
    if not closing:
        return []
    target = a.status_id(closing, "closing_status")
    known = {n.casefold(): sid for sid, n in a.statuses.items()}
    resolved = [known[r.casefold()] for r in a.section.statuses.resolved if r.casefold() in known]
    out = []
    for waiting in a.section.statuses.waiting_for_customer:
        if waiting.casefold() not in known:
            continue  # reported by the status checks
        samples = _issues_in(a, known[waiting.casefold()])
        if not samples:
            out.append(Check("transition", f"{waiting} -> {closing}", True, NOT_VERIFIED + "Redmine shows workflows"
                             f" only through an issue's allowed statuses, and no issue is in {waiting}; run the"
                             " check again once one is"))
        for tracker, issue in samples.items():
            out.append(_path_check(a, f"{waiting} -> {closing} ({tracker})", issue, target, resolved))
    return out


def _path_check(a: "RedmineAdapter", name: str, issue: dict[str, Any], target: str, resolved: list[str]) -> Check:
    allowed = _allowed(a, issue["id"])
    if allowed is None:
        return Check("transition", name, True, NOT_VERIFIED + "this Redmine does not list allowed statuses (5.0+)")
    if target in allowed:
        return Check("transition", name, True, f"direct (issue #{issue['id']})")
    steps = [r for r in resolved if r in allowed]
    if not steps:
        return Check("transition", name, False, f"no path for the API user (issue #{issue['id']}): it may set only"
                     f" {', '.join(a.statuses.get(s, s) for s in allowed)}; allow the step to the closing status or"
                     " to a resolved status (Administration > Workflow)")
    tracker_id = str((issue.get("tracker") or {}).get("id"))
    for step in steps:
        later = next((i for i in _issues_in(a, step).values()
                      if str((i.get("tracker") or {}).get("id")) == tracker_id), None)
        if later is None:
            continue
        after = _allowed(a, later["id"]) or []
        if target in after:
            return Check("transition", name, True, f"through {a.statuses[step]} (issues #{issue['id']},"
                                                   f" #{later['id']})")
        return Check("transition", name, False, f"no path for the API user: {a.statuses[step]} (issue #{later['id']})"
                     f" does not lead to {a.statuses[target]} (Administration > Workflow)")
    return Check("transition", name, True, NOT_VERIFIED + f"the step to {', '.join(a.statuses[s] for s in steps)}"
                 f" is allowed (issue #{issue['id']}), but no issue of this tracker is there to check the next one")


def _permissions(a: "RedmineAdapter") -> list[Check]:
    me = a.directory.me()
    if me.get("admin"):
        return [Check("permission", "add notes, edit issues", True, "an administrator has every permission")]
    projects = _projects_checked(a) if a.options.projects else [
        p for p in a.directory.projects().values() if roles_in(me, p.id)]
    wanted = [("add_issue_notes", "add notes"), ("edit_issues", "edit issues (due date, labels, status)")]
    if a.section.comment_visibility == "internal":
        wanted.append(("set_notes_private", "set notes private"))
    out = []
    for p in projects:
        roles = roles_in(me, p.id)
        if not roles:
            out.append(Check("permission", p.identifier, True, NOT_VERIFIED + "the API user is not a member of this"
                             " project: it sees it as public, with the built-in Non member role's permissions;"
                             " make it a member with a role that may add notes and edit issues"))
            continue
        permissions = a.directory.my_permissions(p.id)
        for key, label in wanted:
            if permissions is None:
                out.append(Check("permission", f"{label} in {p.identifier}", True, NOT_VERIFIED + "roles not readable"))
            else:
                out.append(Check("permission", f"{label} in {p.identifier}", key in permissions,
                                 f"roles {', '.join(roles)}" + ("" if key in permissions else f": missing {key}")))
    return out


def _identities(a: "RedmineAdapter") -> list[Check]:
    patterns: list[IdentityPattern] = list(a.agents)
    if a.section.entitlement is not None:
        patterns += a.section.entitlement.compile().reporters
    out = []
    roles: set[str] | None = None
    for pattern in patterns:
        if pattern.kind is IdentityKind.ROLE:
            if roles is None:
                roles = {(text(r.get("name"), "a role's name") or "").casefold() for r in objects(
                    a._get("/roles.json", "list roles", expect=("roles", list))["roles"], "roles")}
            out.append(Check("identity", str(pattern), pattern.value in roles,
                             "a role" if pattern.value in roles else "no such role"))
        elif pattern.kind is IdentityKind.GROUP:
            out.append(_group_check(a, pattern))
    return out


def _group_check(a: "RedmineAdapter", pattern: IdentityPattern) -> Check:
    if a.directory.me_admin():
        groups = {(text(g.get("name"), "a group's name") or "").casefold() for g in objects(
            a._get("/groups.json", "list groups", expect=("groups", list))["groups"], "groups")}
        return Check("identity", str(pattern), pattern.value in groups, "a group" if pattern.value in groups
                     else "no such group")
    members = [p.identifier for p in _projects_checked(a)
               if pattern.value in {g.casefold() for g in a.directory.project_groups(p.id)}]
    return Check("identity", str(pattern), bool(members),
                 f"a member of {', '.join(members)}" if members else
                 "not a member of the configured projects: a non-admin API user sees only the groups that are"
                 " project members (Redmine shows users' groups to admins only)")
