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

Hostile or broken answers (``zammad_parse``): an answer about one ticket that is
not JSON (truncated, an HTML page) or not shaped like Zammad's is that ticket's
``SkippableError``, naming it and what was wrong; only the pass's first request
suggests checking ``options.url`` (a login page or a proxy answering instead of
Zammad). A change-query row with an unreadable ``updated_at`` is yielded with its
``problem``. Paging that makes no progress (a server ignoring the bound, the
offset or the page) ends the pass within a few requests (``Progress``).

The token is registered with ``secrets`` as soon as it is read, with the header
carrying it; error answers are scrubbed of it before any message quotes them (an
error page or a proxy may echo the request), and a failure of ``requests`` other
than a timeout or a refused connection is named by its type only.

Articles are sent as ``text/plain``, stored as sent (no HTML conversion):
``Ticket::Article#check_body`` refuses a body longer than 1,500,000 characters
(``body.length``) with a 422, so ``max_comment_length`` tells the sync to cut
reminders to that.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, NoReturn, cast
from urllib.parse import quote, urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..actions import PostComment, SetDueDate, SetLabels
from ..config import adapter_options
from ..secrets import SecretRef
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
from ..secrets import register, scrub
from .base import (
    ChangedTicket,
    Check,
    PermanentError,
    SkippableError,
    TransientError,
    keyset_pages,
    looks_like_json,
    person_role,
)
from .zammad_check import check_connection
from .zammad_identity import SYSTEM_USER_ID, Directory, person_from_user
from .zammad_parse import (
    FAR_FUTURE,
    Malformed,
    MalformedAnswer,
    Progress,
    Row,
    is_date_only,
    not_json,
    optional_time,
    parse_id,
    parse_time,
    search_rows,
    short,
    text,
    type_name,
)

if TYPE_CHECKING:
    from ..config import Config, TrackerSection
    from ..plugins import AdapterRegistry

log = logging.getLogger(__name__)

SEARCH_LIMIT = 200  # /tickets/search: paginate_with(max: 200); a bigger per_page is cut silently
LIST_LIMIT = 100    # /tickets: paginate_with(max: 100)
ARTICLE_BODY_LIMIT = 1_500_000  # Ticket::Article#check_body: characters, else 422 "body of article is too large"
REPORTED_AT = "reported_at"  # the [trackers.<name>.fields] key read into Ticket.reported_at
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MALFORMED = (Malformed, KeyError, TypeError, ValueError, AttributeError, RecursionError, OverflowError)
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
        try:
            parts = urlsplit(value)
            credentials = parts.username is not None or parts.password is not None
        except ValueError:
            credentials = False
        if credentials:  # requests would send them instead of the token; never echoed: they are a secret
            raise ValueError("expected the Zammad URL without a user name or password (https://user:…@host):"
                             " the token authenticates; give the bare address, e.g. https://support.example.com")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected the Zammad URL, e.g. https://support.example.com, got {value!r}")
        return re.sub(r"/api/v1/?$", "", value.rstrip("/"))

    @field_validator("due_attribute", "type_attribute", "fix_version_attribute")
    @classmethod
    def _attribute_name(cls, value: str | None) -> str | None:
        if value is not None and not _ATTRIBUTE.match(value):
            raise ValueError(f"expected a Zammad attribute name (lower case, digits, _), got {value!r}")
        return value


def _search_time(t: datetime) -> str:
    """UTC to the millisecond, as Zammad writes ``updated_at``."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _deadline_value(t: datetime | None) -> str | None:
    """Whole seconds: a database without fractional seconds could round up to the next minute."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else None


def _text(value: Any) -> str | None:
    """A ticket attribute shown as text (a select's key, a number); a list or object as its JSON."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


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


def _history_values(value: Any) -> tuple[bool, list[str]]:
    """A history ``value_from``/``value_to``: Zammad stores ``value.to_s``, so a multiselect's
    array reads like Ruby's ``["a", "b"]``. Returns (several values?, the values)."""
    if value is None or value == "":
        return False, []
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            items = json.loads(value)
        except (ValueError, RecursionError):
            return False, [value]
        if isinstance(items, list):
            return True, [str(i) for i in items if i not in (None, "")]
    return False, [str(value)]


def _field_changes(at: datetime, name: str, old: Any, new: Any, by: str | None) -> list[FieldChange]:
    """One change of a tracked attribute; a multiselect gives one event per value added or removed."""
    old_many, olds = _history_values(old)
    new_many, news = _history_values(new)
    if old_many or new_many:
        return ([FieldChange(at, name, None, v, by) for v in news if v not in olds]
                + [FieldChange(at, name, v, None, by) for v in olds if v not in news])
    return [FieldChange(at, name, olds[0] if olds else None, news[0] if news else None, by)]


def _scrub_error_answer(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """A ``requests`` response hook: an error answer may echo the request (an error page, a
    proxy's debug output); its body is scrubbed of every secret before any message quotes it."""
    if response.status_code >= 400:
        body = response.text
        clean = scrub(body)
        if clean != body:
            response._content = clean.encode("utf-8")
            response.encoding = "utf-8"
    return response


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{what} is {type_name(value)} ({short(value)}), not an object")
    return value


def _member(value: Any, key: str, what: str) -> Any:
    """``value[key]`` of an answer that must be an object holding `key` (``{"tags": [...]}``)."""
    if key not in _object(value, what):
        raise Malformed(f"{what} has no {key!r} ({short(value)})")
    return value[key]


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{what} is {type_name(value)} ({short(value)}), not a list")
    return value


def _login(value: Any) -> str | None:
    """A login or name the JSON gives as text (never a list or an object)."""
    return value if isinstance(value, str) and value else None


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
    max_comment_length = ARTICLE_BODY_LIMIT  # sent as text/plain, stored as is: no HTML escaping to allow for

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
        for form in (secret, quote(secret, safe=""), scheme):  # masked in every text leaving the process
            register(form)
        session = requests.Session()
        session.hooks["response"].append(_scrub_error_answer)
        self.http = HttpClient(f"{self.options.url}/api/v1", {"Authorization": scheme,
                                                              "Content-Type": "application/json"}, name,
                               timeout=self.options.timeout_seconds,
                               retry=retry or RetryPolicy(attempts=self.options.retries), session=session)
        self._me: dict[str, Any] | None = None
        self._me_person: Person | None = None
        self._customer_of: dict[str, str] = {}  # ticket id -> customer id, from fetch
        self.directory = Directory(self._get, name, self.options.user_cache_seconds)
        self._unlisted: set[str] = set()  # users writing as Agent who match no agents pattern (logged once)
        self._answered = False  # an answer was JSON since the pass began: a non-JSON one is no wrong URL
        self._reading: str | None = None  # the ticket being read or written: whose answers they are

    def __repr__(self) -> str:
        return f"ZammadAdapter({self.name!r}, {self.options.url!r})"

    # --- HTTP ------------------------------------------------------------------------

    def _bare(self, exc: BaseException | str) -> str:
        """An error's text without the tracker's name it starts with: a message names it once."""
        return str(exc).removeprefix(f"{self.name}: ")

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
        except requests.RequestException as exc:
            # Timeouts and refused connections are HttpClient's; anything else (a broken chunked
            # answer, a redirect loop) is Zammad unreachable this time. Only the type is named:
            # a library's text may quote the request, headers included.
            raise TransientError(f"{self.name}: {what}: the request failed ({type(exc).__name__})") from None

    def _get(self, path: str, what: str, **params: Any) -> Any:
        return self._json(self._call("GET", path, what, retry=True, params=params or None), what)

    def _json(self, response: requests.Response, what: str) -> Any:
        try:
            data = response.json()
        except (ValueError, RecursionError) as exc:
            self._not_json(response, what, exc)
        self._answered = True
        return data

    def _not_json(self, response: requests.Response, what: str, error: BaseException) -> NoReturn:
        said = f"Zammad answered HTTP {response.status_code} with {not_json(response, error)} instead of JSON"
        if not self._answered and not looks_like_json(response.text):  # likely not Zammad's API at all
            raise PermanentError(f"{self.name}: {what}: {said}: check that trackers.{self.name}.options.url"
                                 f" ({self.options.url}) is Zammad's own address, not a proxy's or a login page's")
        if self._reading is not None:
            raise MalformedAnswer(f"{self.name}: {what}: {said}")
        raise TransientError(f"{self.name}: {what}: {said}; tried again next pass")

    @contextmanager
    def _about(self, ticket_id: str) -> Iterator[None]:
        """Answers received meanwhile are about this ticket: a malformed one skips it."""
        previous, self._reading = self._reading, ticket_id
        try:
            yield
        finally:
            self._reading = previous

    @property
    def me(self) -> dict[str, Any]:
        """sla-bridge's own Zammad user (expanded: role and group names): its articles and changes
        are an agent's, and only its articles' markers count."""
        if self._me is None:
            reading, self._reading = self._reading, None  # not a ticket's answer: every ticket needs it
            try:
                me = self._get("/users/me", "read the API user", expand="true")
                self._me_person = person_from_user(me)
            except SkippableError as exc:  # 403: no credentials taken, or API token access disabled
                raise PermanentError(f"{self.name}: Zammad does not accept this token ({self._bare(exc)}); check"
                                     " that API token access is enabled (Settings > System > API)") from None
            except Malformed as exc:
                raise PermanentError(f"{self.name}: read the API user: {exc}: Zammad's /users/me answered"
                                     f" something else than a user (trackers.{self.name}.options.url:"
                                     f" {self.options.url})") from None
            finally:
                self._reading = reading
            self._me = me
        return self._me

    @property
    def me_person(self) -> Person:
        if self._me_person is None:
            try:
                self._me_person = person_from_user(self.me)
            except Malformed as exc:
                raise PermanentError(f"{self.name}: read the API user: {exc}") from None
        return self._me_person

    # --- reading ---------------------------------------------------------------------

    def changed_since(self, cursor: datetime | None) -> Iterator[ChangedTicket]:
        """Tickets updated at or after ``cursor``, oldest first (keyset paging, see base).

        A row whose ``updated_at`` cannot be read is yielded with ``updated=None`` and its
        ``problem``. Paging that makes no progress ends with a ``TransientError`` (``Progress``).
        """
        self._answered, self._reading = False, None  # the pass begins: its first request is this one
        progress = Progress(self.name, self.options.search)
        try:
            # keyset_pages yields the very rows _search_page returned: Row, with their group.
            rows = cast(Iterator[Row], self._listed(cursor, progress) if self.options.search == "list"
                        else keyset_pages(lambda bound, offset: self._search_page(bound, offset, progress), cursor,
                                          self.options.page_size, resolution=timedelta(milliseconds=1)))
            for row in rows:
                if self._in_scope(row.group) or (row.problem is not None and row.group is None):
                    yield ChangedTicket(row.id, row.updated, row.problem)
        except SkippableError as exc:  # a refused search (403, 422) concerns every ticket
            raise PermanentError(f"{self.name}: cannot list changed tickets: {self._bare(exc)}; the token's user"
                                 " needs the ticket.agent permission and read access to the groups") from None
        except TransientError as exc:
            if str(exc).startswith(f"{self.name}: "):
                raise
            raise TransientError(f"{self.name}: {exc}", exc.retry_after) from None

    def _search_page(self, bound: datetime | None, offset: int, progress: Progress) -> list[Row]:
        size = self.options.page_size
        since = _search_time(bound or EPOCH)
        page = offset // size + 1
        params: dict[str, Any] = {"sort_by": "updated_at,id", "order_by": "asc,asc", "expand": "true",
                                  "page": page, "per_page": size}
        if self.options.search == "elasticsearch":
            params["query"] = f"updated_at:[{since} TO {FAR_FUTURE}]"
        else:
            params["condition[ticket.updated_at][operator]"] = "after (absolute)"  # SQL ">="
            params["condition[ticket.updated_at][value]"] = since
        first = not self._answered
        rows = self._rows(self._get("/tickets/search", "search changed tickets", **params), first,
                          f"updated since {since}, page {page}")
        progress.page((since, page), rows, len(rows) >= size, f"updated since {since}, page {page}")
        return rows

    def _listed(self, cursor: datetime | None, progress: Progress) -> Iterator[Row]:
        """``GET /tickets`` has no filter and no sort but the id: read all, keep the changed."""
        size, page, rows = min(self.options.page_size, LIST_LIMIT), 1, []
        while True:
            first = not self._answered
            batch = self._rows(self._get("/tickets", "list tickets", expand="true", page=page, per_page=size),
                               first, f"page {page}")
            progress.page(page, batch, len(batch) >= size, f"page {page}")
            rows += [r for r in batch if r.updated is None or cursor is None or r.updated >= cursor]
            if len(batch) < size:
                break
            page += 1
        yield from sorted(rows, key=lambda r: (r.updated or EPOCH, int(r.id)))

    def _rows(self, answer: Any, first: bool, where: str) -> list[Row]:
        """One page of the change query; an answer that holds what cannot be a ticket ends the pass."""
        rows, problems = search_rows(answer)
        if not problems:
            return rows
        problem = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        if first:
            raise PermanentError(f"{self.name}: cannot list changed tickets: {problem} ({where}): is"
                                 f" trackers.{self.name}.options.url ({self.options.url}) a Zammad 5 or 6?")
        raise TransientError(f"{self.name}: the change query's answer ({where}) is not a list of tickets: {problem};"
                             " the next pass reads it again")

    def _in_scope(self, group: Any) -> bool:
        return not self.groups or (isinstance(group, str) and group.casefold() in self.groups)

    def fetch(self, ticket_id: str) -> Ticket:
        if parse_id(ticket_id) != ticket_id:  # it goes into URLs
            raise SkippableError(f"{self.name}: {ticket_id!r} is not a Zammad ticket id")
        with self._about(ticket_id):
            try:
                with self._one_ticket(ticket_id):
                    raw = self._get(f"/tickets/{ticket_id}", f"read ticket {ticket_id}", expand="true")
                    if isinstance(raw, dict) and not self._in_scope(raw.get("group")):
                        raise SkippableError(f"{self.name}: ticket {ticket_id} is in group {short(raw.get('group'))},"
                                             f" outside trackers.{self.name}.options.groups")
                    tags = self._get("/tags", f"read the tags of ticket {ticket_id}", object="Ticket", o_id=ticket_id)
                    history = self._get(f"/ticket_history/{ticket_id}", f"read the history of ticket {ticket_id}")
                    articles = self._get(f"/ticket_articles/by_ticket/{ticket_id}",
                                         f"read the articles of ticket {ticket_id}")
                ticket = self.parse(ticket_id, raw, tags, history, articles)
            except MalformedAnswer as exc:
                text = self._bare(exc)
                where = "" if f"ticket {ticket_id}" in text else f"ticket {ticket_id}: "
                raise MalformedAnswer(f"{self.name}: {where}{text}; skipped until the next pass") from None
        customer = parse_id(raw.get("customer_id"))
        if customer is not None:
            self._customer_of[ticket.id] = customer
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

    def parse(self, ticket_id: str, raw: Any, tags: Any, history: Any, articles: Any) -> Ticket:
        """Zammad's four answers about one ticket (``GET /tickets/{id}?expand=true``, ``/tags``,
        ``/ticket_history/{id}``, ``/ticket_articles/by_ticket/{id}``) as a ``Ticket``.

        Anything malformed is this ticket's ``SkippableError``, naming it and what was
        wrong. A configured attribute missing from a well-formed ticket, or holding a date
        without a time, is the admin's to fix for every ticket: ``PermanentError``.
        """
        try:
            return self._parse(ticket_id, raw, tags, history, articles)
        except _MALFORMED as exc:
            detail = str(exc) if isinstance(exc, Malformed) else f"{type(exc).__name__}: {short(str(exc))}"
            raise SkippableError(f"{self.name}: ticket {ticket_id}: unexpected JSON ({detail})") from None

    def _parse(self, ticket_id: str, raw: Any, tags: Any, history: Any, articles: Any) -> Ticket:
        raw = _object(raw, "the ticket")
        if parse_id(raw.get("id")) != ticket_id:
            raise Malformed(f"the ticket's id is {short(raw.get('id'))}, not {ticket_id}")
        created = parse_time(raw.get("created_at"), "the ticket's created_at")
        updated = optional_time(raw.get("updated_at"), "the ticket's updated_at")
        status = text(raw.get("state"), "the ticket's state")
        if status is None:
            raise Malformed("the ticket has no state")
        tag_list = _list(_member(tags, "tags", "the tags"), "the tags")
        if not all(isinstance(t, str) for t in tag_list):
            raise Malformed(f"the tags are not texts ({short(tag_list)})")
        entries = _list(_member(history, "history", "the history"), "the history")
        article_list = _list(articles, "the articles")
        due_at = self._due_at(raw)
        logins = self._known_logins(raw, history, article_list)
        events = self._history_events(ticket_id, entries, logins)
        events += [self._comment(n, a, logins) for n, a in enumerate(article_list, 1)]
        option = self.options
        return Ticket(
            tracker=self.name, id=ticket_id, title=_text(raw.get("title")) or "",
            reporter=self.directory.person(raw.get("customer_id"), _login(raw.get("customer"))),
            created=created, status=status,
            severity=_text(raw.get(option.severity_field)),
            labels=frozenset(tag_list),
            due_date=due_at.astimezone(self.zone).date() if due_at else None, due_at=due_at,
            fix_version=_text(raw.get(option.fix_version_attribute)) if option.fix_version_attribute else None,
            type=_text(raw.get(option.type_attribute)) if option.type_attribute else None,
            updated=updated,
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
        if is_date_only(raw[attribute]):
            raise PermanentError(f"{self.name}: the attribute {attribute!r} holds {raw[attribute]!r}, a date"
                                 f" without a time (trackers.{self.name}.options.due_attribute): it must be a"
                                 " Date & Time attribute, not a Date")
        return optional_time(raw[attribute], f"the attribute {attribute!r}", bounded=False)

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
        if is_date_only(value):
            raise PermanentError(f"{self.name}: the attribute {attribute!r} holds {value!r}, a date without a time"
                                 f" (trackers.{self.name}.fields.{REPORTED_AT}): it must be a Date & Time attribute")
        return optional_time(value, f"the attribute {attribute!r}", bounded=False)

    @staticmethod
    def _known_logins(raw: dict[str, Any], history: dict[str, Any], articles: Sequence[Any]) -> dict[str, str]:
        """User id -> login, from what the ticket's answers already say (used if a user lookup fails)."""
        logins: dict[str, str] = {}
        assets = history.get("assets")
        users = assets.get("User") if isinstance(assets, dict) else None
        for uid, data in (users.items() if isinstance(users, dict) else ()):
            if isinstance(data, dict) and isinstance(data.get("login"), str) and data["login"]:
                logins[str(uid)] = data["login"]
        for article in articles:
            if isinstance(article, dict) and parse_id(article.get("created_by_id")) is not None \
                    and _login(article.get("created_by")):
                logins.setdefault(str(parse_id(article["created_by_id"])), article["created_by"])
        for key in ("customer", "owner", "created_by", "updated_by"):
            uid = parse_id(raw.get(f"{key}_id"))
            if uid is not None and _login(raw.get(key)):
                logins.setdefault(uid, raw[key])
        return logins

    def _history_events(self, ticket_id: str, entries: list[Any], logins: dict[str, str]) -> list[Event]:
        severity_attribute = self.options.severity_field
        tracked: dict[str, list[tuple[str, bool]]] = {}  # history attribute -> (field name, by id?)
        for name, attribute in self.field_attributes.items():
            # HasHistory logs "group_id" as "group", with names in value_* and ids in id_*
            tracked.setdefault(attribute.removesuffix("_id"), []).append((name, attribute.endswith("_id")))
        events: list[Event] = []
        for n, item in enumerate(entries, 1):
            if not isinstance(item, dict):
                raise Malformed(f"history entry {n} is {type_name(item)} ({short(item)}), not an object")
            if item.get("object") != "Ticket" or parse_id(item.get("o_id")) != ticket_id:
                continue  # article, mention, checklist entries: the articles are read on their own
            kind, changed = item.get("type"), item.get("attribute")
            if not isinstance(kind, str) or not isinstance(changed, (str, type(None))):
                raise Malformed(f"history entry {short(item.get('id'))} has type {short(kind)} and attribute"
                                f" {short(changed)}")
            at = parse_time(item.get("created_at"), f"history entry {short(item.get('id'))}")
            user_id = item.get("created_by_id")
            uid = parse_id(user_id)
            if user_id is not None and uid is None:
                raise Malformed(f"history entry {short(item.get('id'))}: created_by_id {short(user_id)} is not an id")
            by = (logins.get(uid) or uid) if uid is not None else None
            old, new = _text(item.get("value_from")), _text(item.get("value_to"))
            if kind == "updated" and changed == "state" and new:
                person, role = self._changed_by(uid, logins, item.get("sourceable_type"))
                events.append(StatusChange(at, old, new, (person.login if person else None) or by, role))
            elif kind == "updated" and changed == severity_attribute:
                events.append(SeverityChange(at, old, new, by))
            elif kind in ("added", "removed") and changed == "tag" and new:
                events.append(LabelChange(at, new, kind == "added", by))
            if kind == "updated" and changed in tracked:
                for name, by_id in tracked[changed]:
                    before, after = ((item.get("id_from"), item.get("id_to")) if by_id
                                     else (item.get("value_from"), item.get("value_to")))
                    events += _field_changes(at, name, before, after, by)
        return events

    def _changed_by(self, user_id: str | None, logins: dict[str, str], source: Any) -> tuple[Person | None, Role]:
        """Who changed a state: automation and Zammad itself are the system; otherwise the person
        decides (``person_role``): sla-bridge and the configured agents are agents, anyone else —
        the ticket's customer, a colleague of theirs, an agent the configuration does not list —
        is the customer."""
        if user_id is None or user_id == SYSTEM_USER_ID:
            return None, Role.SYSTEM
        person = self.directory.person(user_id, logins.get(user_id))
        if source:  # sourceable_type: Trigger, Job (scheduler), PostmasterFilter
            return person, Role.SYSTEM
        return person, person_role(person, self.agents, self.me_person)

    def _comment(self, n: int, article: Any, logins: dict[str, str]) -> Comment:
        if not isinstance(article, dict):
            raise Malformed(f"article {n} is {type_name(article)} ({short(article)}), not an object")
        label = f"article {short(article.get('id'))}"
        at = parse_time(article.get("created_at"), label)
        # origin_by_id: the customer an agent wrote for (a phone call logged with sender Customer)
        author_id = article.get("origin_by_id") or article.get("created_by_id")
        known = logins.get(str(parse_id(author_id)))
        person = self.directory.person(author_id, known)
        sender = (text(article.get("sender"), f"{label}: sender") or "").casefold()
        body = article.get("body")
        if body is not None and not isinstance(body, str):
            raise Malformed(f"{label}: the body is {type_name(body)}, not a text")
        internal = article.get("internal")
        if internal is not None and not isinstance(internal, bool):
            raise Malformed(f"{label}: internal is {short(internal)}, not true or false")
        if sender == "system" or person is None or person.id == SYSTEM_USER_ID:
            role = Role.SYSTEM
        else:
            role = person_role(person, self.agents, self.me_person)
            if sender == "agent" and role is Role.CUSTOMER and person.id not in self._unlisted:
                self._unlisted.add(str(person.id))
                log.warning("%s: %s writes as an agent in Zammad but matches no pattern of trackers.%s.agents:"
                            " their articles and changes count as the customer's", self.name, person, self.name)
        author = (person.login if person is not None and person.login else None) \
            or _login(article.get("created_by")) or _login(article.get("from"))
        return Comment(at, author, role, not internal, body or "", self._own(article, sender))

    def _own(self, article: dict[str, Any], sender: str) -> bool:
        """Whether sla-bridge's own user wrote this article: only then do its markers count.

        Created by that user, as itself (no ``origin_by_id`` of someone else), and not a
        *System* article (a trigger's or an auto-reply's text can quote anyone's)."""
        me = self.me_person.id
        origin = article.get("origin_by_id")
        return (me is not None and parse_id(article.get("created_by_id")) == me and sender != "system"
                and (origin is None or origin == "" or parse_id(origin) == me))

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
        with self._about(ticket.id), self._one_ticket(ticket.id, _NO_GROUP_ADDRESS if email else ""):
            if email:
                article["to"] = self._customer_email(ticket.id)
            self._call("POST", "/ticket_articles", f"add a {article['type']} article to ticket {ticket.id}",
                       retry=False, json=article)

    def _customer_email(self, ticket_id: str) -> str:
        customer_id = self._customer_of.get(ticket_id)
        if customer_id is None:
            raw = self._get(f"/tickets/{ticket_id}", f"read ticket {ticket_id}")
            customer_id = parse_id(raw.get("customer_id")) if isinstance(raw, dict) else None
            if customer_id is None:
                raise SkippableError(f"{self.name}: ticket {ticket_id}: Zammad's answer names no customer"
                                     f" ({short(raw)}), so the reminder cannot be mailed")
        user = self._get(f"/users/{customer_id}", f"read the customer of ticket {ticket_id}")
        if not isinstance(user, dict):
            raise SkippableError(f"{self.name}: ticket {ticket_id}: the customer (user {customer_id}) is"
                                 f" {type_name(user)}, not a user, so the reminder cannot be mailed")
        email = user.get("email")
        if not isinstance(email, str) or not email.strip():
            raise SkippableError(f"{self.name}: ticket {ticket_id}: the customer {_login(user.get('login'))!r} has no"
                                 " email address, so the reminder cannot be mailed (add one, or set"
                                 " reminder_article = \"note\")")
        return email

    def transition(self, ticket: Ticket, to_status: str) -> None:
        """The state, read back from the PUT's own answer: the ticket as saved (Core Workflows included)."""
        what = f"move ticket {ticket.id} to {to_status}"
        with self._about(ticket.id), self._one_ticket(ticket.id):
            try:
                raw = self._json(self._call("PUT", f"/tickets/{ticket.id}", what, retry=True,
                                            params={"expand": "true"}, json={"state": to_status}), what)
            except SkippableError as exc:
                if "No lookup value found" in str(exc):
                    raise PermanentError(f"{self.name}: Zammad has no state named {to_status!r}"
                                         f" (trackers.{self.name}.closing_status)") from None
                raise
        if not isinstance(raw, dict) or not isinstance(raw.get("state"), str):
            raise SkippableError(f"{self.name}: ticket {ticket.id}: Zammad answered the state change with"
                                 f" {type_name(raw)} ({short(raw)}), not the ticket: it is read again next pass")
        shown = raw["state"]
        if shown.casefold() != to_status.casefold():
            raise SkippableError(f"{self.name}: ticket {ticket.id}: Zammad kept state {shown!r} instead of"
                                 f" {to_status!r}: a Core Workflow or the token's permissions refuse this change")


    # --- checking ---------------------------------------------------------------------

    def check_connection(self) -> list[Check]:
        """Read-only: authenticate, then look up what the configuration names (see ``zammad_check``)."""
        return check_connection(self)


@hookimpl
def sla_bridge_register_adapters(registry: AdapterRegistry) -> None:
    registry.add("zammad", ZammadAdapter)
