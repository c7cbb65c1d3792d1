"""Who is who on a Redmine: users, groups, project roles, and the project catalog.

An issue names its author and each journal's author only as ``{id, name}``, and a
display name is not an identity (see ``identity.py``). So each user is looked up
once per adapter instance, and described by what the configuration can name:
id, login, e-mail, groups, and the roles of their membership in the issue's project.

What a Redmine 5.0 API user may see (checked on a live Debian Redmine 5.0.4):

- ``GET /users/:id.json`` shows ``login`` to anyone allowed to see the user, ``mail``
  only to admins or when the user does not hide it, project memberships
  (``include=memberships``, with roles inherited from a group) for the projects the
  API user sees, and groups (``include=groups``) **to admins only**. A user the API
  user may not see answers 404 (403 on a locked-down server): the person is then
  known by id and name only, and the ticket is still read.
- A non-admin learns groups from the project instead: ``GET
  /projects/:id/memberships.json`` lists the groups that are members (the
  ``view_members`` permission is public) and ``GET /groups/:id.json?include=users``
  their users. Only groups that are members of the issue's project are seen so.
- ``GET /projects/:id/issue_categories.json`` needs ``manage_categories``, and
  ``/custom_fields.json`` is admin-only; ``GET
  /projects.json?include=issue_categories,issue_custom_fields`` gives every visible
  project's identifier, categories and issue custom fields (id, name) to anyone.
- ``GET /roles/:id.json`` lists a role's permissions to any API user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..identity import Person
from .base import SkippableError

Getter = Callable[..., Any]  # get(path, what, **params) -> decoded JSON
PAGE = 100


@dataclass(frozen=True)
class Project:
    id: str
    identifier: str
    name: str
    categories: Mapping[str, str]     # category id -> name
    custom_fields: Mapping[str, str]  # issue custom field id -> name (the fields enabled in the project)


def _names(items: Any) -> dict[str, str]:
    return {str(item["id"]): str(item["name"]) for item in items or []}


def paged(get: Getter, path: str, key: str, what: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a Redmine list (``offset``/``limit``, ``total_count``)."""
    items: list[dict[str, Any]] = []
    while True:
        data = get(path, what, offset=len(items), limit=PAGE, **params)
        page = data.get(key, [])
        items += page
        if not page or len(items) >= int(data.get("total_count", len(items))):
            return items


class Directory:
    """Lookups that do not change during a pass, each made once per adapter instance."""

    def __init__(self, get: Getter) -> None:
        self._get = get
        self._projects: dict[str, Project] | None = None
        self._users: dict[str, dict[str, Any] | None] = {}
        self._people: dict[tuple[str, str | None], Person] = {}
        self._project_groups: dict[str, dict[str, frozenset[str]]] = {}
        self._permissions: dict[str, frozenset[str] | None] = {}
        self._me: dict[str, Any] | None = None
        self._reloaded: set[str] = set()

    # --- projects ----------------------------------------------------------------------

    def projects(self, reload: bool = False) -> dict[str, Project]:
        """Every project the API user sees, by id."""
        if self._projects is None or reload:
            rows = paged(self._get, "/projects.json", "projects", "list projects",
                         include="issue_categories,issue_custom_fields")
            self._projects = {str(p["id"]): Project(str(p["id"]), str(p["identifier"]), str(p.get("name", "")),
                                                    _names(p.get("issue_categories")),
                                                    _names(p.get("issue_custom_fields")))
                              for p in rows}
        return self._projects

    def _reload_once(self, key: str) -> dict[str, Project]:
        """Read the projects again for something created since (once per unknown thing, not per issue)."""
        if key in self._reloaded:
            return self.projects()
        self._reloaded.add(key)
        return self.projects(reload=True)

    def project(self, project_id: Any) -> Project | None:
        """A project by id; a project created since the list was read is found by reading it again."""
        key = str(project_id)
        found = self.projects().get(key)
        return found if found is not None else self._reload_once(f"project {key}").get(key)

    def by_identifier(self, identifier: str) -> Project | None:
        return next((p for p in self.projects().values() if p.identifier.casefold() == identifier.casefold()), None)

    def category_name(self, project_id: Any, category_id: Any) -> str | None:
        """A category's name; a deleted category keeps its id as ``#id`` (its name is gone)."""
        if category_id in (None, ""):
            return None
        key = str(category_id)
        project = self.project(project_id)
        if project is None or key not in project.categories:
            project = self._reload_once(f"category {key}").get(str(project_id))
        return project.categories[key] if project is not None and key in project.categories else f"#{key}"

    # --- the API user ------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """``/users/current.json`` with memberships: raises on bad credentials."""
        if self._me is None:
            self._me = self._get("/users/current.json", "read the API user", include="memberships,groups")["user"]
            self._users.setdefault(str(self._me["id"]), self._me)
        return self._me

    def me_admin(self) -> bool:
        return bool(self.me().get("admin"))

    def role_permissions(self, role_id: Any) -> frozenset[str] | None:
        key = str(role_id)
        if key not in self._permissions:
            try:
                role = self._get(f"/roles/{key}.json", f"read role {key}")["role"]
                self._permissions[key] = frozenset(role.get("permissions", []))
            except SkippableError:
                self._permissions[key] = None
        return self._permissions[key]

    def my_permissions(self, project_id: Any) -> frozenset[str] | None:
        """The API user's permissions in a project; None when unknown: a role not readable, or no
        membership (a public project then grants the built-in Non member role's, not listed here)."""
        roles = roles_in(self.me(), project_id, ids=True)
        if not roles:
            return None
        found: set[str] = set()
        for role in roles:
            permissions = self.role_permissions(role)
            if permissions is None:
                return None
            found |= permissions
        return frozenset(found)

    # --- people ------------------------------------------------------------------------

    def person(self, user: Mapping[str, Any] | None, project_id: Any) -> Person | None:
        """The person behind an ``{id, name}`` reference, with identities seen from `project_id`."""
        if not user or user.get("id") is None:
            return None
        user_id, project = str(user["id"]), str(project_id) if project_id is not None else None
        key = (user_id, project)
        if key not in self._people:
            self._people[key] = self._build(user_id, str(user.get("name") or ""), project)
        return self._people[key]

    def _user(self, user_id: str) -> dict[str, Any] | None:
        if user_id not in self._users:
            try:
                self._users[user_id] = self._get(f"/users/{user_id}.json", f"read user {user_id}",
                                                 include="groups,memberships")["user"]
            except SkippableError:  # 403/404: not visible to the API user (or deleted)
                self._users[user_id] = None
        return self._users[user_id]

    def _build(self, user_id: str, name: str, project_id: str | None) -> Person:
        raw = self._user(user_id)
        if raw is None:
            return Person(id=user_id, name=name or None, groups=self._groups_from_project(user_id, project_id))
        display = " ".join(part for part in (raw.get("firstname"), raw.get("lastname")) if part) or name
        if "groups" in raw:  # shown to admins only
            groups = frozenset(str(g["name"]) for g in raw["groups"])
        else:
            groups = self._groups_from_project(user_id, project_id)
        return Person(id=user_id, login=raw.get("login") or None, email=raw.get("mail") or None,
                      name=name or display or None, groups=groups,
                      roles=frozenset(roles_in(raw, project_id)) if project_id is not None else frozenset())

    def _groups_from_project(self, user_id: str, project_id: str | None) -> frozenset[str]:
        if project_id is None:
            return frozenset()
        return frozenset(g for g, users in self.project_groups(project_id).items() if user_id in users)

    def project_groups(self, project_id: Any) -> dict[str, frozenset[str]]:
        """The groups that are members of a project: name -> user ids."""
        key = str(project_id)
        if key not in self._project_groups:
            self._project_groups[key] = self._load_project_groups(key)
        return self._project_groups[key]

    def _load_project_groups(self, project_id: str) -> dict[str, frozenset[str]]:
        try:
            members = paged(self._get, f"/projects/{project_id}/memberships.json", "memberships",
                            f"list the members of project {project_id}")
        except SkippableError:
            return {}
        groups: dict[str, frozenset[str]] = {}
        for member in members:
            group = member.get("group")
            if not group:
                continue
            try:
                data = self._get(f"/groups/{group['id']}.json", f"read group {group['id']}", include="users")
            except SkippableError:
                continue
            groups[str(group["name"])] = frozenset(str(u["id"]) for u in data["group"].get("users", []))
        return groups


def roles_in(user: Mapping[str, Any], project_id: Any, ids: bool = False) -> list[str]:
    """The role names (or ids) of a user's membership in one project, inherited ones included."""
    return [str(role["id"] if ids else role["name"])
            for membership in user.get("memberships", []) or []
            if str((membership.get("project") or {}).get("id")) == str(project_id)
            for role in membership.get("roles", [])]
