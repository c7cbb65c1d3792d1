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

from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping

from ..identity import Person
from .base import ProcessFacts, SkippableError, TransientError
from .jira_facts import DAY, HOUR, Memory
from .redmine_parse import Malformed, MalformedAnswer, need_id, obj, objects, parse_id, short, text

Getter = Callable[..., Any]  # get(path, what, *, expect=(key, type), **params) -> decoded JSON
PAGE = 100
# What is kept of a user: its identities, groups (shown to admins) and memberships (roles).
USER_KEYS = ("id", "login", "mail", "firstname", "lastname", "admin", "groups", "memberships")


@dataclass(frozen=True)
class Project:
    id: str
    identifier: str
    name: str
    categories: Mapping[str, str]     # category id -> name
    custom_fields: Mapping[str, str]  # issue custom field id -> name (the fields enabled in the project)


def _project_fact(project: Project) -> dict[str, Any]:
    return {"id": project.id, "identifier": project.identifier, "name": project.name,
            "categories": dict(project.categories), "custom_fields": dict(project.custom_fields)}


def _text_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise TypeError("not a map of names")
    return dict(value)


def _projects_fact(value: Any) -> dict[str, Project]:
    """Remembered projects; ``TypeError`` if the value is not a list of them."""
    if not isinstance(value, list):
        raise TypeError("not a list of projects")
    projects: dict[str, Project] = {}
    for p in value:
        fields = [p["id"], p["identifier"], p["name"]]
        if not all(isinstance(f, str) for f in fields):
            raise TypeError("not a project")
        projects[p["id"]] = Project(p["id"], p["identifier"], p["name"], _text_map(p["categories"]),
                                    _text_map(p["custom_fields"]))
    return projects


def _user_fact(value: Any) -> dict[str, Any]:
    """A user as kept (its identities, groups and memberships); ``Malformed`` if it is not one."""
    user = obj(value, "the user")
    kept = {k: user[k] for k in USER_KEYS if k in user}
    user_id = need_id(kept.get("id"), "the user's id")
    person_from_user(kept, user_id, "", None)  # every part readable
    return kept


def _visible_user(value: Any) -> dict[str, Any] | None:
    return None if value is None else _user_fact(value)  # None: a user the API user may not see


def _ids_map(value: Any) -> dict[str, frozenset[str]]:
    if not isinstance(value, dict) or not all(isinstance(v, list) and all(isinstance(i, str) for i in v)
                                              for v in value.values()):
        raise TypeError("not a map of user ids")
    return {str(k): frozenset(v) for k, v in value.items()}


def _permissions_fact(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise TypeError("not a list of permissions")
    return frozenset(value)


def _names(items: Any, what: str) -> dict[str, str]:
    """``[{id, name}, ...]`` as id -> name."""
    found: dict[str, str] = {}
    for item in objects(items, what):
        found[need_id(item.get("id"), f"{what}: an id")] = text(item.get("name"), f"{what}: a name") or ""
    return found


def paged(get: Getter, path: str, key: str, what: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a Redmine list (``offset``/``limit``, ``total_count``); ``Malformed`` if an
    answer is not such a list, or if a page brings nothing new (the server ignores ``offset``)."""
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    while True:
        data = get(path, what, expect=(key, list), offset=len(items), limit=PAGE, **params)
        page = objects(obj(data, "the answer").get(key), key.replace("_", " "))
        ids = {str(item.get("id")) for item in page}
        if page and ids <= seen:
            raise Malformed(f"the same {key.replace('_', ' ')} came again at offset {len(items)}: the list does"
                            " not page")
        seen |= ids
        items += page
        total = data.get("total_count")
        total = total if isinstance(total, int) and not isinstance(total, bool) else len(items)
        if not page or len(items) >= total:
            return items


class Directory:
    """Lookups that do not change during a pass, remembered an hour (``Memory``: in ``facts``, across runs).

    ``get`` reads lookups that concern every issue (a malformed answer ends the pass);
    ``about`` reads a user an issue names (a malformed answer skips that issue). A user
    answer that is not shaped like Redmine's is a ``MalformedAnswer``, never taken for
    "not visible" (403, 404), which would make an agent a customer.

    Remembered: ``projects`` (with their categories and custom fields), ``me`` (the API user:
    its id for a day, its memberships for an hour), ``user:<id>``, ``project-groups:<id>`` and
    ``role:<id>``, each an hour: an administrator's change (a role, a membership, a new
    project) is seen within the hour, and a project or category not in the remembered list
    is read again at once (once per process).
    """

    def __init__(self, get: Getter, tracker: str = "redmine", about: Getter | None = None,
                 memory: Memory | None = None) -> None:
        self._get = get
        self._about = about or get
        self.tracker = tracker
        own = ProcessFacts()
        self.memory = memory or Memory(lambda: own, "", tracker)
        self._reloaded: set[str] = set()

    def _unreadable(self, what: str, exc: Malformed) -> TransientError:
        return TransientError(f"{self.tracker}: {what}: {exc}")

    # --- projects ----------------------------------------------------------------------

    def projects(self, reload: bool = False) -> dict[str, Project]:
        """Every project the API user sees, by id."""
        if reload:
            self.memory.forget("projects")
        return self.memory.get("projects", HOUR, self._read_projects, _projects_fact,
                               lambda found: [_project_fact(p) for p in found.values()])

    def _read_projects(self) -> dict[str, Project]:
        try:
            rows = paged(self._get, "/projects.json", "projects", "list projects",
                         include="issue_categories,issue_custom_fields")
            projects: dict[str, Project] = {}
            for p in rows:
                project_id = need_id(p.get("id"), "a project's id")
                identifier = text(p.get("identifier"), f"project {project_id}'s identifier")
                if identifier is None:
                    raise Malformed(f"project {project_id} has no identifier")
                projects[project_id] = Project(
                    project_id, identifier, text(p.get("name"), f"project {project_id}'s name") or "",
                    _names(p.get("issue_categories"), f"project {project_id}'s categories"),
                    _names(p.get("issue_custom_fields"), f"project {project_id}'s custom fields"))
        except Malformed as exc:
            raise self._unreadable("list projects", exc) from None
        return projects

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
        """``/users/current.json`` with memberships (remembered an hour): raises on bad credentials."""
        return self.memory.get("me", HOUR, self._read_me, _user_fact)

    def read_me(self) -> dict[str, Any]:
        """The API user read now (``check-config --connect`` authenticates with it), and remembered."""
        me = self._read_me()
        self.memory.keep("me", me)
        return me

    def _read_me(self) -> dict[str, Any]:
        me = self._get("/users/current.json", "read the API user", expect=("user", dict),
                       include="memberships,groups")["user"]
        try:
            kept = _user_fact(me)
            roles_in(me, None)  # its memberships are readable
        except Malformed as exc:
            raise self._unreadable("read the API user", exc) from None
        return kept

    def me_id(self) -> str:
        """The API user's id: who it is changes only with the key, so it is kept a day."""
        known = self.memory.peek("me", DAY, _user_fact)
        return str(parse_id((known[0] if known is not None else self.me()).get("id")))

    def me_admin(self) -> bool:
        return self.me().get("admin") is True

    def role_permissions(self, role_id: Any) -> frozenset[str] | None:
        key = parse_id(role_id)
        if key is None:
            return None
        return self.memory.get(f"role:{key}", HOUR, lambda: self._read_role(key), _permissions_fact,
                               lambda found: None if found is None else sorted(found))

    def _read_role(self, key: str) -> frozenset[str] | None:
        try:
            role = self._get(f"/roles/{key}.json", f"read role {key}", expect=("role", dict))["role"]
        except MalformedAnswer:
            raise
        except SkippableError:
            return None
        permissions = role.get("permissions")
        if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
            raise TransientError(f"{self.tracker}: read role {key}: its permissions are {short(permissions)},"
                                 " not a list of names")
        return frozenset(permissions)

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
        """The person behind an ``{id, name}`` reference, with identities seen from `project_id`;
        ``Malformed`` if the reference is not one."""
        if not user or user.get("id") is None:
            return None
        user_id = need_id(user.get("id"), "a user's id")
        name = text(user.get("name"), f"user {user_id}'s name") or ""
        return self._build(user_id, name, str(project_id) if project_id is not None else None)

    def _user(self, user_id: str) -> dict[str, Any] | None:
        if user_id == self.me_id():
            return self.me()
        return self.memory.get(f"user:{user_id}", HOUR, lambda: self._read_user(user_id), _visible_user)

    def _read_user(self, user_id: str) -> dict[str, Any] | None:
        try:
            raw = self._about(f"/users/{user_id}.json", f"read user {user_id}", expect=("user", dict),
                              include="groups,memberships")["user"]
        except MalformedAnswer:
            raise  # not "not visible": guessing would make an agent a customer
        except SkippableError:  # 403/404: not visible to the API user (or deleted)
            return None
        try:
            kept = _user_fact(raw)
            person_from_user(kept, user_id, "", None)  # about this user, every part readable
            return kept
        except Malformed as exc:  # never kept: the next issue that names this user reads it again
            raise MalformedAnswer(f"{self.tracker}: read user {user_id}: {exc}") from None

    def _build(self, user_id: str, name: str, project_id: str | None) -> Person:
        raw = self._user(user_id)
        if raw is None:
            return Person(id=user_id, name=name or None, groups=self._groups_from_project(user_id, project_id))
        try:
            person, groups = person_from_user(raw, user_id, name, project_id)
        except Malformed as exc:
            raise MalformedAnswer(f"{self.tracker}: read user {user_id}: {exc}") from None
        if groups is None:  # groups are shown to admins only
            groups = self._groups_from_project(user_id, project_id)
        return replace(person, groups=groups)

    def _groups_from_project(self, user_id: str, project_id: str | None) -> frozenset[str]:
        if project_id is None:
            return frozenset()
        return frozenset(g for g, users in self.project_groups(project_id).items() if user_id in users)

    def project_groups(self, project_id: Any) -> dict[str, frozenset[str]]:
        """The groups that are members of a project: name -> user ids."""
        key = str(project_id)
        return self.memory.get(f"project-groups:{key}", HOUR, lambda: self._load_project_groups(key), _ids_map,
                               lambda found: {g: sorted(users) for g, users in found.items()})

    def _load_project_groups(self, project_id: str) -> dict[str, frozenset[str]]:
        if parse_id(project_id) != project_id:
            return {}
        what = f"list the members of project {project_id}"
        try:
            members = paged(self._get, f"/projects/{project_id}/memberships.json", "memberships", what)
        except MalformedAnswer:
            raise
        except SkippableError:
            return {}
        except Malformed as exc:
            raise self._unreadable(what, exc) from None
        groups: dict[str, frozenset[str]] = {}
        for member in members:
            try:
                group = obj(member.get("group"), "a member's group")
                if not group:
                    continue
                group_id = need_id(group.get("id"), "a group's id")
                group_name = text(group.get("name"), f"group {group_id}'s name") or f"#{group_id}"
            except Malformed as exc:
                raise self._unreadable(what, exc) from None
            try:
                data = self._get(f"/groups/{group_id}.json", f"read group {group_id}", expect=("group", dict),
                                 include="users")
            except MalformedAnswer:
                raise
            except SkippableError:
                continue
            try:
                users = objects(data["group"].get("users"), f"group {group_id}'s users")
                groups[group_name] = frozenset(need_id(u.get("id"), "a user's id") for u in users)
            except Malformed as exc:
                raise self._unreadable(f"read group {group_id}", exc) from None
        return groups


def person_from_user(raw: Any, user_id: str, name: str, project_id: str | None
                     ) -> tuple[Person, frozenset[str] | None]:
    """``GET /users/:id.json``'s user as a Person, and its groups (None when not shown: a non-admin
    API user); ``Malformed`` if it is not shaped like Redmine's."""
    user = obj(raw, "the user")
    found = parse_id(user.get("id"))
    if found != user_id:
        raise Malformed(f"the answer is about user {short(user.get('id'))}")
    display = " ".join(part for part in (text(user.get("firstname"), "firstname"),
                                         text(user.get("lastname"), "lastname")) if part) or name
    groups = None
    if "groups" in user:  # shown to admins only
        groups = frozenset(text(g.get("name"), "a group's name") or f"#{g.get('id')}"
                           for g in objects(user.get("groups"), "groups"))
    roles = roles_in(user, project_id)  # also checks every membership
    return Person(id=user_id, login=text(user.get("login"), "login"), email=text(user.get("mail"), "mail"),
                  name=name or display or None,
                  roles=frozenset(roles) if project_id is not None else frozenset()), groups


def roles_in(user: Mapping[str, Any], project_id: Any, ids: bool = False) -> list[str]:
    """The role names (or ids) of a user's membership in one project, inherited ones included;
    ``Malformed`` if the memberships are not shaped like Redmine's."""
    found: list[str] = []
    for membership in objects(user.get("memberships"), "memberships"):
        project = obj(membership.get("project"), "a membership's project")
        roles = objects(membership.get("roles"), "a membership's roles")
        if project_id is None or str(parse_id(project.get("id"))) != str(project_id):
            continue
        for role in roles:
            role_id = need_id(role.get("id"), "a role's id")
            role_name = text(role.get("name"), f"role {role_id}'s name") or f"#{role_id}"
            found.append(role_id if ids else role_name)
    return found
