"""The Zammad adapter (Zammad 5/6 REST API, JSON, ``requests``).

Where sla-bridge's fields live in Zammad:
- severity: the ticket's priority (``"3 high"``, default) or a ticket object
  attribute (its stored value, e.g. the key of a select);
- the deadline: a *datetime* ticket object attribute (``sla_due_at``) that the
  admin creates; Zammad has no separate due date, so ``Ticket.due_date`` is read
  back as the calendar-zone date of that instant, which is what the engine wants;
- SLA labels: ticket tags, one ``POST /tags/add`` or ``DELETE /tags/remove`` per
  tag (Zammad has no bulk tag call, and ``PUT /tickets/{id}`` ignores ``tags``);
  tags without the SLA prefix are never touched;
- reminders and the closure notice: articles, an ``email`` to the customer or a
  public ``note`` (``reminder_article``), never retried;
- closure: the ticket's ``state``, read back afterwards (a Core Workflow can refuse it).

History comes from ``GET /ticket_history/{id}`` (state, priority, attribute and tag
changes, each with ``created_by_id``) and the articles. Who did something is a
``Person`` read from Zammad's user (``zammad_identity``): the configured ``agents``
patterns and sla-bridge's own user are agents, anyone else is the customer
(``base.person_role``). An article's ``sender`` is used for one thing only: a
``System`` article (a trigger's, an auto-reply) is the system's. An article whose
sender says ``Agent`` but whose author matches no ``agents`` pattern counts as the
customer's, as the configuration says, and is logged once per user.

``[trackers.<name>.fields]`` names ticket attributes read into ``Ticket.fields``
(select keys, each value of a multiselect, tree paths ``a::b``), with their changes
from the history as ``FieldChange`` events; ``reported_at`` names a Date & Time
attribute read into ``Ticket.reported_at``.

Changed tickets come from ``GET /tickets/search`` with a *condition* on
``updated_at`` and no query text: Zammad then searches its database, with or
without Elasticsearch, and the database is never behind (an Elasticsearch index
is filled asynchronously). ``search = "elasticsearch"`` sends the equivalent
query string instead (Zammad without Elasticsearch answers it with a plain text
search: nothing); ``search = "list"`` pages through ``GET /tickets`` (every
ticket, by id) and filters here, for servers where neither works.

Reading a ticket costs four GETs (ticket, tags, history, articles), plus one per
user not met within ``user_cache_seconds`` (``zammad_identity``). Zammad's
``GET /tickets/{id}?all=true`` (the web app's call, not in the API docs) returns
tags and articles too, but as ``assets`` keyed by id, articles with ``sender_id``
and ``type_id`` only, and it computes the edit screen's Core Workflow on every
call; the history still needs its own call. Two calls instead of four are not
worth depending on an undocumented shape.

Zammad answers 500 to any exception raised while handling a request, and hides
the reason from non-admin tokens (``Error ID …: Please contact your
administrator``). A 500 on a call about one ticket (a group without an email
address when mailing a reminder, a failing trigger or Core Workflow) is that
ticket's problem: it is reported and the ticket skipped, instead of ending the
pass for every ticket behind it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..actions import PostComment, SetDueDate, SetLabels
from ..config import SecretRef, adapter_options
from ..errors import ConfigError
from ..hookspecs import hookimpl
from ..httpclient import HttpClient, RetryPolicy
from ..identity import Person
from ..model import (
    Comment,
    Event,
    FieldChange,
    LabelChange,
    Role,
    SeverityChange,
    StatusChange,
    Ticket,
)
from .base import (
    ChangedTicket,
    Check,
    PermanentError,
    SkippableError,
    TransientError,
    keyset_pages,
    person_role,
)
from .zammad_check import check_connection
from .zammad_identity import SYSTEM_USER_ID, Directory, person_from_user

if TYPE_CHECKING:
    import requests

    from ..config import Config, TrackerSection
    from ..plugins import AdapterRegistry

log = logging.getLogger(__name__)

SEARCH_LIMIT = 200  # /tickets/search: paginate_with(max: 200); a bigger per_page is cut silently
LIST_LIMIT = 100    # /tickets: paginate_with(max: 100)
REPORTED_AT = "reported_at"  # the [trackers.<name>.fields] key read into Ticket.reported_at
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = "2999-12-31T23:59:59.999Z"  # Zammad strips "*" from search queries: no open range
_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_]*$")
_NO_GROUP_ADDRESS = ("; for an email article the usual cause is a group without an email address (Admin >"
                     " Channels > Email), or use reminder_article = \"note\"")


class ZammadOptions(BaseModel):
    """``[trackers.<name>.options]`` for ``adapter = "zammad"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str                                   # https://support.example.com (with or without /api/v1)
    token: SecretRef                           # an agent's access token (ticket.agent)
    auth: Literal["token", "bearer"] = "token"  # "bearer" for an OAuth2 access token
    groups: list[str] = []                     # group names; empty: every group the token can read
    severity_field: str = "priority"           # "priority", or a ticket attribute name
    due_attribute: str                         # the datetime ticket attribute, e.g. "sla_due_at"
    type_attribute: str | None = None          # e.g. "type" (Zammad's built-in, inactive by default)
    fix_version_attribute: str | None = None   # a ticket attribute naming the fix version
    reminder_article: Literal["email", "note"] = "email"
    search: Literal["condition", "elasticsearch", "list"] = "condition"
    page_size: int = Field(default=100, ge=1, le=SEARCH_LIMIT)
    timeout_seconds: float = Field(default=30, gt=0)
    retries: int = Field(default=4, ge=1, le=10)
    user_cache_seconds: float = Field(default=3600, ge=0)  # how long a looked-up user is kept

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected the Zammad URL, e.g. https://support.example.com, got {value!r}")
        return re.sub(r"/api/v1/?$", "", value.rstrip("/"))

    @field_validator("due_attribute", "type_attribute", "fix_version_attribute")
    @classmethod
    def _attribute_name(cls, value: str | None) -> str | None:
        if value is not None and not _ATTRIBUTE.match(value):
            raise ValueError(f"expected a Zammad attribute name (lower case, digits, _), got {value!r}")
        return value


@dataclass(frozen=True)
class _Row(ChangedTicket):
    """A change-query row with its group: ``groups`` filters after paging, which counts every row."""

    group: str | None = None


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None  # 3.11+ reads "Z"


def _required_time(value: Any, what: str) -> datetime:
    """A ValueError, not an assert: ``fetch`` turns it into this ticket's SkippableError."""
    parsed = _parse_time(value)
    if parsed is None:
        raise ValueError(f"{what} has no time")
    return parsed


def _search_time(t: datetime) -> str:
    """UTC to the millisecond, as Zammad writes ``updated_at``."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _deadline_value(t: datetime | None) -> str | None:
    """Whole seconds: a database without fractional seconds could round up to the next minute."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "", []) else None


def _values(value: Any) -> list[str]:
    """A ticket attribute's value(s) as text: a select's key, each value of a multiselect,
    a tree select's path (``a::b``), ``true``/``false``, a number."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [v for item in value for v in _values(item)]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


def _history_values(text: Any) -> tuple[bool, list[str]]:
    """A history ``value_from``/``value_to``: Zammad stores ``value.to_s``, so a multiselect's
    array reads like Ruby's ``["a", "b"]``. Returns (several values?, the values)."""
    if text is None or text == "":
        return False, []
    if isinstance(text, str) and text.startswith("[") and text.endswith("]"):
        try:
            items = json.loads(text)
        except ValueError:
            return False, [text]
        if isinstance(items, list):
            return True, [str(i) for i in items if i not in (None, "")]
    return False, [str(text)]


def _field_changes(at: datetime, name: str, old: Any, new: Any, by: str | None) -> list[FieldChange]:
    """One change of a tracked attribute; a multiselect gives one event per value added or removed."""
    old_many, olds = _history_values(old)
    new_many, news = _history_values(new)
    if old_many or new_many:
        return ([FieldChange(at, name, None, v, by) for v in news if v not in olds]
                + [FieldChange(at, name, v, None, by) for v in olds if v not in news])
    return [FieldChange(at, name, olds[0] if olds else None, news[0] if news else None, by)]


def _field_attributes(section: TrackerSection, config: Config, tracker: str) -> tuple[dict[str, str], str | None]:
    """``[trackers.<name>.fields]``: config name (casefolded) -> attribute, and the ``reported_at`` attribute."""
    fields: dict[str, str] = {}
    reported_at = None
    for key, attribute in section.fields.items():
        if not isinstance(attribute, str) or not _ATTRIBUTE.match(attribute):
            raise ConfigError(f"{config.path}: trackers.{tracker}.fields.{key}: expected the name of a Zammad ticket"
                              f" attribute (lower case, digits, _), e.g. \"category\", got {attribute!r}")
        if key.casefold() == REPORTED_AT:
            reported_at = attribute
        else:
            fields[key.casefold()] = attribute
    return fields, reported_at


class ZammadAdapter:
    adapter_type = "zammad"
    tracks_due_at = True  # the datetime attribute holds the exact deadline

    def __init__(self, name: str, section: TrackerSection, config: Config, *,
                 retry: RetryPolicy | None = None) -> None:
        self.name = name
        self.section = section
        self.options = adapter_options(ZammadOptions, config, name, section)
        self.agents = tuple(section.agents)
        self.field_attributes, self.reported_at_attribute = _field_attributes(section, config, name)
        self.groups = {g.casefold() for g in self.options.groups}
        self.labels = config.policy.labels
        self.label_prefix = config.policy.labels.prefix
        self.zone = config.calendar.zone
        secret = self.options.token.reveal()
        scheme = f"Token token={secret}" if self.options.auth == "token" else f"Bearer {secret}"
        self.http = HttpClient(f"{self.options.url}/api/v1", {"Authorization": scheme,
                                                              "Content-Type": "application/json"}, name,
                               timeout=self.options.timeout_seconds,
                               retry=retry or RetryPolicy(attempts=self.options.retries))
        self._me: dict[str, Any] | None = None
        self._me_person: Person | None = None
        self._customer_of: dict[str, Any] = {}  # ticket id -> customer_id, from fetch
        self.directory = Directory(self._get, name, self.options.user_cache_seconds)
        self._unlisted: set[str] = set()  # users writing as Agent who match no agents pattern (logged once)

    def __repr__(self) -> str:
        return f"ZammadAdapter({self.name!r}, {self.options.url!r})"

    # --- HTTP ------------------------------------------------------------------------

    def _call(self, method: str, path: str, what: str, retry: bool, **kwargs: Any) -> requests.Response:
        try:
            return self.http.request(method, path, what=what, retry=retry, **kwargs)
        except PermanentError as exc:
            if "HTTP 401" not in str(exc):
                raise
            raise PermanentError(
                f"{self.name}: Zammad refused the access token (HTTP 401) when trying to {what}: check that"
                f" trackers.{self.name}.options.token holds a valid, unexpired token, and that auth ="
                f" \"{self.options.auth}\" is right (\"token\" for a personal access token, \"bearer\" for"
                " an OAuth2 token)") from None

    def _get(self, path: str, what: str, **params: Any) -> Any:
        return self._call("GET", path, what, retry=True, params=params or None).json()

    @property
    def me(self) -> dict[str, Any]:
        """sla-bridge's own Zammad user (expanded: role and group names): its articles and changes
        are an agent's."""
        if self._me is None:
            try:
                self._me = self._get("/users/me", "read the API user", expand="true")
            except SkippableError as exc:  # 403: no credentials taken, or API token access disabled
                raise PermanentError(f"{self.name}: Zammad does not accept this token ({exc}); check that"
                                     " API token access is enabled (Settings > System > API)") from None
        return self._me

    @property
    def me_person(self) -> Person:
        if self._me_person is None:
            self._me_person = person_from_user(self.me)
        return self._me_person

    # --- reading ---------------------------------------------------------------------

    def changed_since(self, cursor: datetime | None) -> Iterator[ChangedTicket]:
        """Tickets updated at or after ``cursor``, oldest first (keyset paging, see base)."""
        try:
            # keyset_pages yields the very rows _search_page returned: _Row, with their group.
            rows = cast(Iterator[_Row], self._listed(cursor) if self.options.search == "list"
                        else keyset_pages(self._search_page, cursor, self.options.page_size,
                                          resolution=timedelta(milliseconds=1)))
            for row in rows:
                if self._in_scope(row.group):
                    yield ChangedTicket(row.id, row.updated)
        except SkippableError as exc:  # a refused or malformed search concerns every ticket
            raise PermanentError(f"{self.name}: cannot list changed tickets: {exc}; the token's user needs"
                                 " the ticket.agent permission and read access to the groups") from None

    def _search_page(self, bound: datetime | None, offset: int) -> list[_Row]:
        size = self.options.page_size
        since = _search_time(bound or EPOCH)
        params: dict[str, Any] = {"sort_by": "updated_at,id", "order_by": "asc,asc", "expand": "true",
                                  "page": offset // size + 1, "per_page": size}
        if self.options.search == "elasticsearch":
            params["query"] = f"updated_at:[{since} TO {FAR_FUTURE}]"
        else:
            params["condition[ticket.updated_at][operator]"] = "after (absolute)"  # SQL ">="
            params["condition[ticket.updated_at][value]"] = since
        return self._rows(self._get("/tickets/search", "search changed tickets", **params))

    def _listed(self, cursor: datetime | None) -> Iterator[_Row]:
        """``GET /tickets`` has no filter and no sort but the id: read all, keep the changed."""
        size, page, rows = min(self.options.page_size, LIST_LIMIT), 1, []
        while True:
            batch = self._get("/tickets", "list tickets", expand="true", page=page, per_page=size)
            rows += [r for r in self._rows(batch) if cursor is None or r.updated >= cursor]
            if len(batch) < size:
                break
            page += 1
        yield from sorted(rows, key=lambda r: (r.updated, int(r.id) if r.id.isdigit() else 0))

    def _rows(self, tickets: Any) -> list[_Row]:
        if not isinstance(tickets, list):
            raise SkippableError(f"expected a list of tickets (expand=true), got {type(tickets).__name__}")
        rows = []
        try:
            for t in tickets:
                ticket_id, updated = str(t["id"]), _parse_time(t["updated_at"])
                if updated is None:
                    raise ValueError(f"ticket {ticket_id} has no updated_at")
                rows.append(_Row(ticket_id, updated, t.get("group")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SkippableError(f"unexpected JSON in the ticket list ({type(exc).__name__}: {exc})") from None
        return rows

    def _in_scope(self, group: str | None) -> bool:
        return not self.groups or (group or "").casefold() in self.groups

    def fetch(self, ticket_id: str) -> Ticket:
        with self._one_ticket(ticket_id):
            raw = self._get(f"/tickets/{ticket_id}", f"read ticket {ticket_id}", expand="true")
            if isinstance(raw, dict) and not self._in_scope(raw.get("group")):
                raise SkippableError(f"{self.name}: ticket {ticket_id} is in group {raw.get('group')!r}, outside"
                                     f" trackers.{self.name}.options.groups")
            tags = self._get("/tags", f"read the tags of ticket {ticket_id}", object="Ticket", o_id=ticket_id)
            history = self._get(f"/ticket_history/{ticket_id}", f"read the history of ticket {ticket_id}")
            articles = self._get(f"/ticket_articles/by_ticket/{ticket_id}",
                                 f"read the articles of ticket {ticket_id}")
        self.directory.next_ticket()
        try:
            ticket = self.to_ticket(raw, tags.get("tags") or [], history, articles)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SkippableError(f"{self.name}: ticket {ticket_id}: unexpected JSON ({type(exc).__name__}: {exc})"
                                 ) from None
        self._customer_of[ticket.id] = raw.get("customer_id")
        return ticket

    @contextmanager
    def _one_ticket(self, ticket_id: str, hint: str = "") -> Iterator[None]:
        """A 500 on a call about one ticket skips that ticket (see the module docstring)."""
        try:
            yield
        except TransientError as exc:
            if ": HTTP 500" not in str(exc):
                raise  # 502/503/504, 429, no answer: Zammad itself is unavailable
            raise SkippableError(f"{exc}: Zammad failed on ticket {ticket_id} (its production.log has the cause"
                                 f" under that error id){hint}; skipped until the next pass") from None

    def to_ticket(self, raw: dict[str, Any], tags: list[str], history: dict[str, Any],
                  articles: list[dict[str, Any]]) -> Ticket:
        """One Zammad ticket (``expand=true``), its tags, history and articles in the common model."""
        due_at = self._due_at(raw)
        logins = self._known_logins(raw, history, articles)
        events = self._history_events(raw, history, logins)
        events += [self._comment(a, logins) for a in articles]
        created = _required_time(raw["created_at"], "the ticket")
        option = self.options
        return Ticket(
            tracker=self.name, id=str(raw["id"]), title=raw.get("title") or "",
            reporter=self.directory.person(raw.get("customer_id"), raw.get("customer")),
            created=created, status=raw["state"],
            severity=_text(raw.get(option.severity_field)),
            labels=frozenset(tags),
            due_date=due_at.astimezone(self.zone).date() if due_at else None, due_at=due_at,
            fix_version=_text(raw.get(option.fix_version_attribute)) if option.fix_version_attribute else None,
            type=_text(raw.get(option.type_attribute)) if option.type_attribute else None,
            updated=_parse_time(raw.get("updated_at")),
            events=tuple(events),
            project=_text(raw.get("group")),
            fields=self._fields(raw),
            reported_at=self._reported_at(raw),
        )

    def _attribute(self, raw: dict[str, Any], attribute: str, key: str) -> Any:
        """A configured attribute of the ticket: its absence is the admin's to fix, for every ticket."""
        if attribute not in raw:
            raise PermanentError(f"{self.name}: Zammad tickets have no attribute {attribute!r}"
                                 f" (trackers.{self.name}.{key}): create it as a ticket attribute, then update"
                                 " the database and restart Zammad (see docs/zammad.md), or fix the name")
        return raw[attribute]

    def _due_at(self, raw: dict[str, Any]) -> datetime | None:
        """The deadline attribute; its absence or a date-only value is the admin's to fix, for every ticket."""
        attribute = self.options.due_attribute
        if attribute not in raw:
            raise PermanentError(f"{self.name}: Zammad tickets have no attribute {attribute!r}"
                                 f" (trackers.{self.name}.options.due_attribute): create it as a Date & Time"
                                 " ticket attribute allowing past and future dates, then update the database"
                                 " and restart Zammad (see docs/zammad.md)")
        due_at = _parse_time(raw[attribute])
        if due_at is not None and due_at.tzinfo is None:
            raise PermanentError(f"{self.name}: the attribute {attribute!r} holds {raw[attribute]!r}, a date"
                                 f" without a time (trackers.{self.name}.options.due_attribute): it must be a"
                                 " Date & Time attribute, not a Date")
        return due_at

    def _fields(self, raw: dict[str, Any]) -> frozenset[tuple[str, str]]:
        pairs = set()
        for name, attribute in self.field_attributes.items():
            for value in _values(self._attribute(raw, attribute, f"fields.{name}")):
                pairs.add((name, value))
        return frozenset(pairs)

    def _reported_at(self, raw: dict[str, Any]) -> datetime | None:
        attribute = self.reported_at_attribute
        if attribute is None:
            return None
        value = self._attribute(raw, attribute, f"fields.{REPORTED_AT}")
        reported_at = _parse_time(value)
        if reported_at is not None and reported_at.tzinfo is None:
            raise PermanentError(f"{self.name}: the attribute {attribute!r} holds {value!r}, a date without a time"
                                 f" (trackers.{self.name}.fields.{REPORTED_AT}): it must be a Date & Time attribute")
        return reported_at

    @staticmethod
    def _known_logins(raw: dict[str, Any], history: dict[str, Any], articles: list[dict[str, Any]]) -> dict[str, str]:
        """User id -> login, from what the ticket's answers already say (used if a user lookup fails)."""
        logins: dict[str, str] = {}
        for uid, data in ((history.get("assets") or {}).get("User") or {}).items():
            if isinstance(data, dict) and data.get("login"):
                logins[str(uid)] = str(data["login"])
        for article in articles:
            if article.get("created_by_id") is not None and article.get("created_by"):
                logins.setdefault(str(article["created_by_id"]), str(article["created_by"]))
        for key in ("customer", "owner", "created_by", "updated_by"):
            if raw.get(f"{key}_id") is not None and raw.get(key):
                logins.setdefault(str(raw[f"{key}_id"]), str(raw[key]))
        return logins

    def _history_events(self, raw: dict[str, Any], history: dict[str, Any], logins: dict[str, str]) -> list[Event]:
        severity_attribute = self.options.severity_field
        tracked: dict[str, list[tuple[str, bool]]] = {}  # history attribute -> (field name, by id?)
        for name, attribute in self.field_attributes.items():
            # HasHistory logs "group_id" as "group", with names in value_* and ids in id_*
            tracked.setdefault(attribute.removesuffix("_id"), []).append((name, attribute.endswith("_id")))
        events: list[Event] = []
        for item in history.get("history") or []:
            if item.get("object") != "Ticket" or str(item.get("o_id")) != str(raw["id"]):
                continue  # article, mention, checklist entries: the articles are read on their own
            kind, attribute = item.get("type"), item.get("attribute")
            at = _required_time(item["created_at"], f"history entry {item.get('id')}")
            user_id = item.get("created_by_id")
            uid = str(user_id) if user_id is not None else None
            by = (logins.get(uid) or uid) if uid is not None else None
            old, new = _text(item.get("value_from")), _text(item.get("value_to"))
            if kind == "updated" and attribute == "state" and new:
                person, role = self._changed_by(user_id, logins, item.get("sourceable_type"))
                events.append(StatusChange(at, old, new, (person.login if person else None) or by, role))
            elif kind == "updated" and attribute == severity_attribute:
                events.append(SeverityChange(at, old, new, by))
            elif kind in ("added", "removed") and attribute == "tag" and new:
                events.append(LabelChange(at, new, kind == "added", by))
            if kind == "updated" and attribute in tracked:
                for name, by_id in tracked[attribute]:
                    before, after = ((item.get("id_from"), item.get("id_to")) if by_id
                                     else (item.get("value_from"), item.get("value_to")))
                    events += _field_changes(at, name, before, after, by)
        return events

    def _changed_by(self, user_id: Any, logins: dict[str, str], source: Any) -> tuple[Person | None, Role]:
        """Who changed a state: automation and Zammad itself are the system; otherwise the person
        decides (``person_role``): sla-bridge and the configured agents are agents, anyone else —
        the ticket's customer, a colleague of theirs, an agent the configuration does not list —
        is the customer."""
        if user_id is None or str(user_id) == SYSTEM_USER_ID:
            return None, Role.SYSTEM
        person = self.directory.person(user_id, logins.get(str(user_id)))
        if source:  # sourceable_type: Trigger, Job (scheduler), PostmasterFilter
            return person, Role.SYSTEM
        return person, person_role(person, self.agents, self.me_person)

    def _comment(self, article: dict[str, Any], logins: dict[str, str]) -> Comment:
        at = _required_time(article["created_at"], f"article {article.get('id')}")
        # origin_by_id: the customer an agent wrote for (a phone call logged with sender Customer)
        author_id = article.get("origin_by_id") or article.get("created_by_id")
        known = logins.get(str(author_id)) if author_id is not None else None
        person = self.directory.person(author_id, known)
        sender = str(article.get("sender") or "").casefold()
        if sender == "system" or person is None or person.id == SYSTEM_USER_ID:
            role = Role.SYSTEM
        else:
            role = person_role(person, self.agents, self.me_person)
            if sender == "agent" and role is Role.CUSTOMER and person.id not in self._unlisted:
                self._unlisted.add(str(person.id))
                log.warning("%s: %s writes as an agent in Zammad but matches no pattern of trackers.%s.agents:"
                            " their articles and changes count as the customer's", self.name, person, self.name)
        author = (person.login if person is not None and person.login else None) or article.get("created_by") \
            or article.get("from")
        own = str(article.get("created_by_id")) == str(self.me.get("id"))  # only then do its markers count
        return Comment(at, author, role, not article.get("internal", False), article.get("body") or "", own)

    # --- writing ---------------------------------------------------------------------

    def apply_fields(self, ticket: Ticket, due: SetDueDate | None, labels: SetLabels | None) -> None:
        """The deadline in one PUT; SLA tags one call each. Every call sets a value: safe to retry."""
        with self._one_ticket(ticket.id):
            if due is not None:
                self._set_deadline(ticket.id, due.due_at)
            if labels is not None:
                for tag in sorted(labels.add):
                    self._tag("POST", "/tags/add", ticket.id, tag, f"add tag {tag!r} to ticket {ticket.id}")
                for tag in sorted(labels.remove):
                    if tag.startswith(self.label_prefix):  # only SLA tags are ever removed
                        self._tag("DELETE", "/tags/remove", ticket.id, tag,
                                  f"remove tag {tag!r} from ticket {ticket.id}")

    def _set_deadline(self, ticket_id: str, due_at: datetime | None) -> None:
        attribute = self.options.due_attribute
        try:
            self._call("PUT", f"/tickets/{ticket_id}", f"set {attribute} of ticket {ticket_id}", retry=True,
                       json={attribute: _deadline_value(due_at)})
        except SkippableError as exc:
            if "past dates" not in str(exc) and "future dates" not in str(exc):
                raise
            raise SkippableError(f"{exc}; edit the attribute in Admin > Objects to allow both past and future"
                                 " dates") from None

    def _tag(self, method: str, path: str, ticket_id: str, tag: str, what: str) -> None:
        body = {"item": tag, "object": "Ticket", "o_id": int(ticket_id)}
        try:
            self._call(method, path, what, retry=True, json=body)
        except SkippableError as exc:
            if "HTTP 403" not in str(exc):
                raise
            # Zammad answers the same bare 403 for both causes.
            new_tag = (f" either agents may not create new tags (create {tag!r} once in Admin > Tags, or allow new"
                       " tags), or" if method == "POST" else "")
            raise SkippableError(f"{exc}:{new_tag} the token's user lacks change access to this ticket's"
                                 " group") from None

    def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
        """An article, sent once: a retried POST after a lost answer would mail the customer twice."""
        email = comment.public and self.options.reminder_article == "email"
        article: dict[str, Any] = {"ticket_id": int(ticket.id), "subject": ticket.title, "body": comment.body,
                                   "content_type": "text/plain", "type": "email" if email else "note",
                                   "sender": "Agent", "internal": not comment.public}
        with self._one_ticket(ticket.id, _NO_GROUP_ADDRESS if email else ""):
            if email:
                article["to"] = self._customer_email(ticket.id)
            self._call("POST", "/ticket_articles", f"add a {article['type']} article to ticket {ticket.id}",
                       retry=False, json=article)

    def _customer_email(self, ticket_id: str) -> str:
        customer_id = self._customer_of.get(ticket_id)
        if customer_id is None:
            customer_id = self._get(f"/tickets/{ticket_id}", f"read ticket {ticket_id}")["customer_id"]
        user = self._get(f"/users/{customer_id}", f"read the customer of ticket {ticket_id}")
        if not user.get("email"):
            raise SkippableError(f"{self.name}: ticket {ticket_id}: the customer {user.get('login')!r} has no email"
                                 " address, so the reminder cannot be mailed (add one, or set reminder_article ="
                                 " \"note\")")
        return str(user["email"])

    def transition(self, ticket: Ticket, to_status: str) -> None:
        """The state, read back from the PUT's own answer: the ticket as saved (Core Workflows included)."""
        with self._one_ticket(ticket.id):
            try:
                raw = self._call("PUT", f"/tickets/{ticket.id}", f"move ticket {ticket.id} to {to_status}",
                                 retry=True, params={"expand": "true"}, json={"state": to_status}).json()
            except SkippableError as exc:
                if "No lookup value found" in str(exc):
                    raise PermanentError(f"{self.name}: Zammad has no state named {to_status!r}"
                                         f" (trackers.{self.name}.closing_status)") from None
                raise
        shown = raw.get("state") if isinstance(raw, dict) else None
        if str(shown or "").casefold() != to_status.casefold():
            raise SkippableError(f"{self.name}: ticket {ticket.id}: Zammad kept state {shown!r} instead of"
                                 f" {to_status!r}: a Core Workflow or the token's permissions refuse this change")


    # --- checking ---------------------------------------------------------------------

    def check_connection(self) -> list[Check]:
        """Read-only: authenticate, then look up what the configuration names (see ``zammad_check``)."""
        return check_connection(self)


@hookimpl
def sla_bridge_register_adapters(registry: AdapterRegistry) -> None:
    registry.add("zammad", ZammadAdapter)
