"""What the Jira adapter reads once and remembers (``jira_facts.Memory``, kept in ``adapter.facts``).

| fact (key) | from | kept | learnt again |
| --- | --- | --- | --- |
| ``deployment`` | ``GET /serverInfo`` (``deployment = "auto"`` only) | a day | when the change query's endpoint is refused as the other deployment's (410 on ``/search``, 404 on ``/search/jql``) |
| ``myself`` | ``GET /myself``: the API user's ids, account type and time zone | a day | when older |
| ``notify-users`` | a write refused with ``notifyUsers=false`` | a day | the next day a write tries the flag again |
| ``fields`` | ``GET /field``, for the custom fields the configuration reads by name | an hour | when a configured field is missing from it |
| ``groups:<user>`` | a user's groups (``/user/groups`` or ``/user?expand=groups``) | an hour | when older |

Identities and the deployment change when an administrator moves the site or gives
sla-bridge another account: a changed ``url`` or credential is another site for the facts
(``Memory``'s fingerprint). What an administrator changes inside Jira (field names, group
memberships) is kept an hour at most.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..identity import Person
from .base import PermanentError, SkippableError, TransientError
from .jira_facts import DAY, HOUR
from .jira_transport import API, JiraTransport
from .jira_values import CUSTOM_FIELD, obj, person, shorten, text, user_key

log = logging.getLogger(__name__)

GROUPS_TTL_SECONDS = HOUR  # a long-running service sees a new group membership within the hour
DEPLOYMENT, MYSELF, NOTIFY, FIELDS = "deployment", "myself", "notify-users", "fields"
DEPLOYMENTS = ("cloud", "datacenter")
# What sla-bridge reads of its own user: who it is (to know its own comments), and its time zone.
ME_KEYS = ("accountId", "accountType", "key", "name", "emailAddress", "displayName", "timeZone", "active")


def _deployment(value: Any) -> str:
    if value not in DEPLOYMENTS:
        raise ValueError(f"not a deployment: {value!r}")
    return str(value)


def _user_fact(value: Any) -> dict[str, Any]:
    """The API user as remembered: its identities only; a value without one is not a user."""
    if not isinstance(value, dict):
        raise TypeError("not a user")
    kept = {k: value[k] for k in ME_KEYS if isinstance(value.get(k), (str, bool))}
    if user_key(kept) is None:
        raise ValueError("a user without an id")
    return kept


def _names(value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("not a list of names")
    return frozenset(value)


def _refused(value: Any) -> str:
    if value != "refused":
        raise ValueError(value)
    return "refused"


def _field_info(meta: dict[str, Any]) -> dict[str, Any]:
    return {"name": text(meta.get("name")) or "", "array": obj(meta.get("schema")).get("type") == "array"}


class JiraLookups(JiraTransport):
    """The deployment, the API user, fields and groups: read once, remembered as ``facts``."""

    @property
    def deployment(self) -> str:
        if self.options.deployment != "auto":
            return self.options.deployment
        return self.memory.get(DEPLOYMENT, DAY, self._read_deployment, _deployment)

    def _read_deployment(self) -> str:
        info = self._get("/serverInfo", "read the server info")
        if not isinstance(info, dict):
            raise PermanentError(self._text(f"read the server info: Jira answered {shorten(info)}, not the"
                                            f" server's description; check options.url ({self.base})"))
        return "cloud" if info.get("deploymentType") == "Cloud" else "datacenter"

    def relearn_deployment(self) -> bool:
        """Jira refused an endpoint as the other deployment's: if the deployment was remembered rather
        than asked by this process, forget it (True: worth one more try); else the refusal stands."""
        if self.options.deployment != "auto" or self.memory.learnt_here(DEPLOYMENT):
            return False
        log.info("%s: the remembered deployment looks wrong; asking /serverInfo again", self.name)
        self.memory.forget(DEPLOYMENT)
        return True

    @property
    def me(self) -> dict[str, Any]:
        """sla-bridge's own user: its comments and changes are an agent's whatever the config says."""
        return self.memory.get(MYSELF, DAY, self._read_me, _user_fact)

    def _read_me(self) -> dict[str, Any]:
        found = self._get("/myself", "read the API user")
        if not isinstance(found, dict):
            raise PermanentError(self._text(f"read the API user: Jira answered {shorten(found)}, not a user;"
                                            f" check options.url ({self.base})"))
        try:
            return _user_fact(found)
        except ValueError:
            raise PermanentError(self._text(f"read the API user: Jira answered {shorten(found)}, a user without"
                                            f" an accountId, key or name; check options.url ({self.base})")) from None

    def remember_me(self, found: dict[str, Any]) -> None:
        """The API user as ``check-config --connect`` read it (``/myself?expand=applicationRoles``)."""
        try:
            self.memory.keep(MYSELF, _user_fact(found))
        except (TypeError, ValueError):
            pass  # not a user: nothing to remember, the sync asks again

    @property
    def zone(self) -> ZoneInfo | None:
        """The API user's time zone, in which Jira reads JQL times (None: unknown)."""
        if not self._zone_known:
            self._zone_known = True
            name = self.me.get("timeZone")
            try:
                self._zone = ZoneInfo(name) if isinstance(name, str) and name else None
            except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):
                self._zone = None
            if self._zone is None:
                log.warning("%s: the API user's time zone is unknown (set options.api_user_timezone);"
                            " the change query reads 12 hours more to be safe", self.name)
        return self._zone

    @property
    def cloud(self) -> bool:
        return self.deployment == "cloud"

    @property
    def me_person(self) -> Person | None:
        return person(self.me, self.cloud)

    # --- notifications ---------------------------------------------------------------

    @property
    def _silence(self) -> bool:
        """Whether writes ask Jira not to notify watchers: asked unless it was refused within the day."""
        return not self.options.notify_users and self.memory.peek(NOTIFY, DAY, _refused) is None

    def _silence_refused(self) -> None:
        self.memory.keep(NOTIFY, "refused")

    # --- fields ----------------------------------------------------------------------

    def field_meta(self) -> dict[str, dict[str, Any]]:
        """Every field Jira knows (``GET /field``, read once per process): for ``check-config``."""
        if self._field_meta is None:
            fields = self._get("/field", "list fields")
            if not isinstance(fields, list):
                raise TransientError(self._text(f"list fields: Jira answered {shorten(fields)}, not a list of"
                                                " fields; the next pass tries again"))
            self._field_meta = {str(f["id"]): f for f in fields if isinstance(f, dict) and text(f.get("id"))}
        return self._field_meta

    def _named_fields(self) -> list[str]:
        """The custom fields read by name: Data Center's changelog names them instead of giving their id."""
        severity = self.options.severity_field
        wanted = [severity if severity != "priority" else None, *self.fields.values()]
        return sorted({fid for fid in wanted if fid and CUSTOM_FIELD.match(fid)})

    def _field_infos(self, value: Any) -> dict[str, dict[str, Any] | None]:
        """A remembered ``fields`` fact: each configured custom field's name and whether it is an array."""
        if not isinstance(value, dict):
            raise TypeError("not a map of fields")
        infos: dict[str, dict[str, Any] | None] = {}
        for fid in self._named_fields():
            info = value[fid]  # KeyError: a field configured since
            if info is not None and (not isinstance(info, dict) or not isinstance(info.get("name"), str)
                                     or not isinstance(info.get("array"), bool)):
                raise TypeError(f"not a field: {info!r}")
            infos[fid] = info
        return infos

    def _read_field_infos(self) -> dict[str, dict[str, Any] | None]:
        self._field_meta = None  # this process reads the list afresh
        meta = self.field_meta()
        return {fid: _field_info(meta[fid]) if fid in meta else None for fid in self._named_fields()}

    def field_info(self, fid: str) -> dict[str, Any] | None:
        """A custom field's ``{"name", "array"}`` (None: Jira has no such field).

        The configured ones are remembered an hour; one the remembered list lacks (created
        since) makes the list be read again, once."""
        if fid not in self._named_fields():
            meta = self.field_meta().get(fid)
            return _field_info(meta) if meta is not None else None
        found = self.memory.get(FIELDS, HOUR, self._read_field_infos, self._field_infos).get(fid)
        if found is None and not self.memory.learnt_here(FIELDS):
            self.memory.forget(FIELDS)
            found = self.memory.get(FIELDS, HOUR, self._read_field_infos, self._field_infos).get(fid)
        return found

    def field_name(self, fid: str) -> str | None:
        """A custom field's name: Data Center's changelog names fields, it has no fieldId."""
        found = self.field_info(fid)
        return str(found["name"]) if found else None

    # --- people ----------------------------------------------------------------------

    def _groups(self, user: dict[str, Any]) -> frozenset[str]:
        """A user's group names, looked up once an hour per user; none when Jira will not tell.

        Cloud: ``GET /user/groups?accountId=`` (a list of ``{name, groupId, self}``; it needs the
        *Browse users and groups* global permission). Data Center: ``GET /user?username=&expand=groups``
        (``groups.items`` of ``{name, self}``). A refusal (403) or an unknown user (404) gives no
        groups: the person is matched on the rest, the ticket is read anyway. An answer that cannot
        be read (cut short, not JSON, no list of groups) is no refusal: taking it for "no groups"
        would make an agent named by group a customer, whose comment restarts the waiting cycle.
        It raises a SkippableError: that ticket is reported and read again later, nothing is kept.
        """
        key = user_key(user)
        if key is None:
            return frozenset()
        return self.memory.get(f"groups:{key}", GROUPS_TTL_SECONDS, lambda: self._read_groups(user, key), _names,
                               sorted)

    def _read_groups(self, user: dict[str, Any], key: str) -> frozenset[str]:
        names: list[str] = []
        what = f"read the groups of user {key}"
        try:
            if self.cloud:
                response = self._call("GET", f"{API}/user/groups", what=what, retry=True, params={"accountId": key})
                found = self._lookup(response, what)
                items = found if isinstance(found, list) else None
            else:
                login = text(user.get("name"))
                by = {"username": login} if login else {"key": key}
                response = self._call("GET", f"{API}/user", what=what, retry=True, params={"expand": "groups", **by})
                found = self._lookup(response, what)
                listed = obj(obj(found).get("groups")).get("items")
                items = listed if isinstance(listed, list) else None
            if items is None:
                raise SkippableError(self._text(f"{what}: Jira's answer lists no groups ({shorten(found)})"))
            names = [g["name"] for g in items if isinstance(g, dict) and isinstance(g.get("name"), str) and g["name"]]
        except SkippableError as exc:
            if getattr(exc, "status", None) not in (403, 404):
                raise  # not a refusal: an answer we could not read, or a request Jira found wrong
            log.warning("%s: cannot read the groups of user %s (%s); matching them without groups", self.name,
                        key, self._unnamed(exc))
        return frozenset(names)

    def person(self, user: dict[str, Any] | None, *, groups: bool = False,
               organisations: tuple[str, ...] = ()) -> Person | None:
        if not user:
            return None
        return person(user, self.cloud, self._groups(user) if groups else (), organisations)
