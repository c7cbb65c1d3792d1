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
changes, each with ``created_by_id``) and the articles (``sender`` says who wrote
them: Customer, Agent or System).

Changed tickets come from ``GET /tickets/search`` with a *condition* on
``updated_at`` and no query text: Zammad then searches its database, with or
without Elasticsearch, and the database is never behind (an Elasticsearch index
is filled asynchronously). ``search = "elasticsearch"`` sends the equivalent
query string instead (Zammad without Elasticsearch answers it with a plain text
search: nothing); ``search = "list"`` pages through ``GET /tickets`` (every
ticket, by id) and filters here, for servers where neither works.

Reading a ticket costs four GETs (ticket, tags, history, articles). Zammad's
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

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..actions import PostComment, SetDueDate, SetLabels
from ..config import SecretRef, adapter_options
from ..hookspecs import hookimpl
from ..httpclient import HttpClient, RetryPolicy
from ..model import (
    Comment,
    Event,
    LabelChange,
    Role,
    SeverityChange,
    StatusChange,
    Ticket,
)
from .base import (
    ChangedTicket,
    PermanentError,
    SkippableError,
    TransientError,
    keyset_pages,
)

if TYPE_CHECKING:
    import requests

    from ..config import Config, TrackerSection
    from ..plugins import AdapterRegistry

SEARCH_LIMIT = 200  # /tickets/search: paginate_with(max: 200); a bigger per_page is cut silently
LIST_LIMIT = 100    # /tickets: paginate_with(max: 100)
SYSTEM_USER_ID = "1"  # Zammad's own user "-": schedulers, "pending close", imports
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


class ZammadAdapter:
    adapter_type = "zammad"
    tracks_due_at = True  # the datetime attribute holds the exact deadline

    def __init__(self, name: str, section: TrackerSection, config: Config, *,
                 retry: RetryPolicy | None = None) -> None:
        self.name = name
        self.options = adapter_options(ZammadOptions, config, name, section)
        self.agents = {a.casefold() for a in section.agents}
        self.groups = {g.casefold() for g in self.options.groups}
        self.label_prefix = config.policy.labels.prefix
        self.zone = config.calendar.zone
        secret = self.options.token.reveal()
        scheme = f"Token token={secret}" if self.options.auth == "token" else f"Bearer {secret}"
        self.http = HttpClient(f"{self.options.url}/api/v1", {"Authorization": scheme,
                                                              "Content-Type": "application/json"}, name,
                               timeout=self.options.timeout_seconds,
                               retry=retry or RetryPolicy(attempts=self.options.retries))
        self._me: dict[str, Any] | None = None
        self._customer_of: dict[str, Any] = {}  # ticket id -> customer_id, from fetch

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
        """sla-bridge's own Zammad user: its articles and changes are an agent's."""
        if self._me is None:
            try:
                self._me = self._get("/users/me", "read the API user")
            except SkippableError as exc:  # 403: no credentials taken, or API token access disabled
                raise PermanentError(f"{self.name}: Zammad does not accept this token ({exc}); check that"
                                     " API token access is enabled (Settings > System > API)") from None
        return self._me

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
        severity_attribute = self.options.severity_field
        events = self._history_events(raw, history, severity_attribute)
        events += [self._comment(a) for a in articles]
        created = _required_time(raw["created_at"], "the ticket")
        option = self.options
        return Ticket(
            tracker=self.name, id=str(raw["id"]), title=raw.get("title") or "",
            reporter=raw.get("customer"), created=created, status=raw["state"],
            severity=_text(raw.get(severity_attribute)),
            labels=frozenset(tags),
            due_date=due_at.astimezone(self.zone).date() if due_at else None, due_at=due_at,
            fix_version=_text(raw.get(option.fix_version_attribute)) if option.fix_version_attribute else None,
            type=_text(raw.get(option.type_attribute)) if option.type_attribute else None,
            reporter_groups=frozenset({raw["organization"]}) if raw.get("organization") else frozenset(),
            updated=_parse_time(raw.get("updated_at")),
            events=tuple(events),
        )

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

    def _history_events(self, raw: dict[str, Any], history: dict[str, Any], severity_attribute: str) -> list[Event]:
        users = (history.get("assets") or {}).get("User") or {}
        events: list[Event] = []
        for item in history.get("history") or []:
            if item.get("object") != "Ticket" or str(item.get("o_id")) != str(raw["id"]):
                continue  # article, mention, checklist entries: the articles are read on their own
            kind, attribute = item.get("type"), item.get("attribute")
            at = _required_time(item["created_at"], f"history entry {item.get('id')}")
            user_id = item.get("created_by_id")
            login = (users.get(str(user_id)) or self._known_user(user_id)).get("login")
            by = login or (str(user_id) if user_id is not None else None)
            old, new = _text(item.get("value_from")), _text(item.get("value_to"))
            if kind == "updated" and attribute == "state" and new:
                role = self._role(user_id, login, raw.get("customer_id"), item.get("sourceable_type"))
                events.append(StatusChange(at, old, new, by, role))
            elif kind == "updated" and attribute == severity_attribute:
                events.append(SeverityChange(at, old, new, by))
            elif kind in ("added", "removed") and attribute == "tag" and new:
                events.append(LabelChange(at, new, kind == "added", by))
        return events

    def _known_user(self, user_id: Any) -> dict[str, Any]:
        return self.me if user_id is not None and str(user_id) == str(self.me.get("id")) else {}

    def _comment(self, article: dict[str, Any]) -> Comment:
        at = _required_time(article["created_at"], f"article {article.get('id')}")
        role = {"customer": Role.CUSTOMER, "agent": Role.AGENT}.get(str(article.get("sender")).casefold(),
                                                                     Role.SYSTEM)
        return Comment(at, article.get("created_by") or article.get("from"), role,
                       not article.get("internal", False), article.get("body") or "")

    def _role(self, user_id: Any, login: str | None, customer_id: Any, source: Any) -> Role:
        """Who changed a state: automation and Zammad itself are the system; the ticket's customer
        is the customer; sla-bridge, the configured agents and any other user are agents."""
        if source or user_id is None:  # sourceable_type: Trigger, Job (scheduler), PostmasterFilter
            return Role.SYSTEM
        uid = str(user_id)
        if uid == str(self.me.get("id")) or uid in self.agents or (login or "").casefold() in self.agents:
            return Role.AGENT
        if customer_id is not None and uid == str(customer_id):
            return Role.CUSTOMER
        return Role.SYSTEM if uid == SYSTEM_USER_ID else Role.AGENT

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


@hookimpl
def sla_bridge_register_adapters(registry: AdapterRegistry) -> None:
    registry.add("zammad", ZammadAdapter)
