"""The Jira adapter: Jira Cloud and Jira Data Center, REST API v2, through the ``jira`` library's session.

Where sla-bridge's fields live in Jira:
- severity: the issue's priority (default) or a custom field (``customfield_NNNNN``,
  a select list or a text field);
- due date: Jira's own ``duedate`` (a date without time);
- the exact deadline: a *Date Time Picker* custom field (``deadline_field``), optional:
  without it the adapter says ``tracks_due_at = False`` and the sync compares dates only;
- SLA labels: Jira's ``labels``, changed with ``update: {labels: [{add}, {remove}]}`` so a
  person's other labels are never touched;
- reminders and the closure notice: comments, public (customer-visible on Jira Service
  Management) or internal (``sd.public.comment`` property);
- closure: along the workflow to ``closing_status``: the transition whose target it is,
  or, when there is none (Jira Service Management goes Waiting for customer -> Resolved ->
  Closed), the shortest way through a ``resolved`` status (``jira_workflow.py``), with the
  resolution each screen asks for.

Who is who: every reporter and author is a ``Person`` with Jira's stable identities
(Cloud: ``accountId``, ``accountType``; Data Center: ``key`` and the username) and, when
the configuration names groups, the user's groups (looked up once per user, cached). The
``agents`` patterns and sla-bridge's own API user are agents; a Cloud ``accountType:
customer`` is always the customer, an ``app`` (automation) not named an agent is the
system; anyone else is the customer. A display name is shown, never matched.

What the ``jira`` library (pycontribs/jira 3.10) does that we keep out of the way:
- ``JIRA(...)`` calls ``/serverInfo`` unless ``get_server_info=False``: we build it with
  that flag and detect the deployment ourselves, lazily (the constructor sends nothing:
  ``check-config`` builds adapters to validate their options and secrets);
- its ``ResilientSession`` retries every method, POSTs included (a double-posted
  reminder), never retries a 503 without Retry-After, doubles Retry-After and caps the
  wait at 60 s with random jitter, sleeping in place: we set ``max_retries=0`` (its loop
  then sends once and never sleeps) and retry ourselves: reads and idempotent writes
  freely, a POST only after a 429 (see ``_guarded_post``);
- ``search_issues`` goes to ``/search/jql`` only when it knows it talks to Cloud, and
  ``enhanced_search_issues`` returns None on Data Center: we call each deployment's
  search endpoint directly (Cloud removed ``/search``: 410 Gone);
- ``issue.update()`` sends a PUT then a GET: we send one raw PUT (``notifyUsers=false``
  when allowed);
- it has no method for the paged changelog (``/issue/{key}/changelog``, Cloud only).

History comes from the changelog (status, priority or the severity field, labels, the
fields named in ``[trackers.<name>.fields]``) and the comments (author role, public or
internal). ``check_connection`` (``jira_checks.py``) verifies, read-only, what the
configuration names.

Any answer may be wrong, and none may stop more than it concerns:
- the credentials are registered with ``secrets`` as soon as they are revealed (the token,
  and the base64 ``email:token`` Basic credential), every message quoting Jira is scrubbed
  before it is cut, and the text of a requests exception is never quoted (its InvalidHeader
  quotes the header's value);
- an answer about one issue that is not the documented JSON (a body cut short, an HTML page,
  a list, a field of the wrong type) skips that issue with its key and what was wrong; the
  "check options.url" message is only for a site whose first answer is not JSON;
- a change-query row whose ``updated`` cannot be read is yielded with its problem, and a
  paged read that brings nothing new ``MAX_IDLE_PAGES`` times in a row is given up (a search
  ends the pass with a TransientError; a changelog or comments page skips that issue);
- only comments written by sla-bridge's own account carry markers (``Comment.own``,
  ``_has_marker``), and comments are kept within ``max_comment_length`` as Jira counts it;
- every message names the tracker once, at its start (``_text``).
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Hashable, Iterable, Iterator, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from ..actions import PostComment, SetDueDate, SetLabels
from ..config import adapter_options
from ..errors import ConfigError
from ..hookspecs import hookimpl
from ..httpclient import RetryPolicy, retry_after_seconds, settle_environment
from ..identity import IdentityKind, IdentityPattern, Person
from ..markers import markers_in
from ..model import Comment, Event, FieldChange, LabelChange, Role, SeverityChange, StatusChange, Ticket
from ..secrets import SecretRef, register, scrub
from .base import AdapterError, ChangedTicket, Check, PermanentError, SkippableError, TransientError, looks_like_json, person_role
from .jira_values import (
    CHANGELOG_NAMES, CUSTOM_FIELD, Malformed, count, deadline_value, field_id, field_values, fit_comment,
    former_keys, is_public, issue_key, jira_time, jql_string, messages, not_json, obj, objects, optional_date,
    optional_time, parse_time, person, required_time, shorten, shown, split_values, text, unwiki, user_key,
    wall_clock,
)
from .jira_workflow import MAX_STEPS, WorkflowMemory, first_takeable, next_steps, offered, target

if TYPE_CHECKING:
    from ..config import Config, TrackerSection
    from ..plugins import AdapterRegistry

__all__ = ["JiraAdapter", "JiraOptions", "jira_time", "jql_string", "parse_time"]

log = logging.getLogger(__name__)

API = "/rest/api/2"
MINUTE = timedelta(minutes=1)
CHANGELOG_PAGE = 100  # /issue/{key}/changelog caps maxResults at 100
COMMENT_PAGE = 100
GROUPS_TTL_SECONDS = 3600.0  # a long-running service sees a new group membership within the hour
REPORTED_AT = "reported_at"  # the [fields] name whose field says when the customer reported the anomaly
# Hourly quotas: waiting inside the pass would stall every other tracker.
QUOTA_REASONS = ("jira-quota-global-based", "jira-quota-tenant-based", "jira-quota-based")
ORDER = " ORDER BY updated ASC, key ASC"
# Pages in a row that bring nothing new (a repeated page token, the same startAt window, the
# same changelog or comments again) before a paged read is given up: a misbehaving server
# must not keep a pass busy for ever.
MAX_IDLE_PAGES = 3
# The longest comment body Jira takes, as Java counts it (UTF-16 code units). Cloud: a
# fixed 32,767 characters. Data Center: its `jira.text.field.character.limit` setting,
# 32,767 by default (an administrator may change it). The sync cuts comments to it, and
# post_comment cuts again if the wiki escaping of the marker pushed one back over it.
MAX_COMMENT_LENGTH = 32767
# What a parser may raise on JSON that is not what the REST API documents; reading one
# ticket turns them into a SkippableError naming the issue.
MALFORMED = (Malformed, KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, RecursionError)


class JiraOptions(BaseModel):
    """``[trackers.<name>.options]`` for ``adapter = "jira"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    deployment: Literal["cloud", "datacenter", "auto"] = "auto"
    email: str | None = None          # Cloud: the account's e-mail, with api_token
    api_token: SecretRef | None = None
    token: SecretRef | None = None    # Data Center: a personal access token (Bearer)
    projects: list[str] = Field(min_length=1)  # project keys; Cloud's search needs a bounded query
    severity_field: str = "priority"  # "priority" or a custom field id ("customfield_10042")
    # A Date Time Picker custom field id for the exact deadline. Without it only Jira's duedate
    # (a date) is written, and the sync compares dates.
    deadline_field: str | None = None
    resolution: str | None = "Done"   # set when a closing (or resolving) transition's screen has a resolution
    # Jira Service Management's "Organizations" field (customfield_NNNNN): its organisations are the
    # reporter's, matched by org: patterns and [trackers.<name>.customers.<c>] organisations.
    organizations_field: str | None = None
    jql_extra: str | None = None      # ANDed to the change query, e.g. 'issuetype != Epic'
    api_user_timezone: str | None = None  # JQL times are read in this zone; default: from /myself
    page_size: int = Field(default=100, ge=1, le=1000)
    notify_users: bool = False        # false: writes send notifyUsers=false where Jira allows it
    timeout_seconds: float = Field(default=30, gt=0)
    retries: int = Field(default=4, ge=1, le=10)
    max_requests_per_second: float | None = Field(default=None, gt=0)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"expected the site's address, like https://example.atlassian.net, got {value!r}")
        return value.rstrip("/")

    @field_validator("severity_field")
    @classmethod
    def _severity(cls, value: str) -> str:
        if value != "priority" and not CUSTOM_FIELD.match(value):
            raise ValueError(f'expected "priority" or a custom field id like "customfield_10042", got {value!r}')
        return value

    @field_validator("deadline_field", "organizations_field")
    @classmethod
    def _custom(cls, value: str | None) -> str | None:
        if value is not None and not CUSTOM_FIELD.match(value):
            raise ValueError(f'expected a custom field id like "customfield_10050", got {value!r}')
        return value

    @field_validator("api_user_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f'unknown IANA time zone {value!r} (e.g. "Europe/Paris")') from None
        return value

    @model_validator(mode="after")
    def _credentials(self) -> "JiraOptions":
        basic = self.email is not None or self.api_token is not None
        if basic and (self.email is None or self.api_token is None):
            raise ValueError("email and api_token go together (Jira Cloud)")
        if basic and self.token is not None:
            raise ValueError("give either email + api_token (Jira Cloud) or token (Data Center), not both")
        if not basic and self.token is None:
            raise ValueError("credentials are missing: email + api_token (Jira Cloud) or token (Data Center"
                             " personal access token)")
        if self.deployment == "cloud" and not basic:
            raise ValueError("Jira Cloud needs email + api_token (an API token from id.atlassian.com)")
        return self


def _configured_fields(config: "Config", name: str, section: "TrackerSection"
                       ) -> tuple[dict[str, str], str | None]:
    """``[trackers.<name>.fields]`` as (casefolded name -> Jira field id), and the ``reported_at`` field."""
    found: dict[str, str] = {}
    reported_at = None
    for key, value in section.fields.items():
        fid = field_id(value)
        if fid is None:
            raise ConfigError(f"{config.path}: trackers.{name}.fields.{key}: expected a Jira field id like"
                              f' "customfield_10060" or "components" (see GET /rest/api/2/field), got {value!r}')
        if key.casefold() == REPORTED_AT:
            if not CUSTOM_FIELD.match(fid):
                raise ConfigError(f"{config.path}: trackers.{name}.fields.{key}: expected a Date Time Picker"
                                  f' custom field id like "customfield_10060", got {value!r}')
            reported_at = fid
        else:
            found[key.casefold()] = fid
    return found, reported_at


def _names_groups(patterns: "tuple[IdentityPattern, ...] | list[IdentityPattern]") -> bool:
    return any(p.kind is IdentityKind.GROUP for p in patterns)


@dataclass(frozen=True)
class _Rows:
    """One page of the change query."""

    rows: list[ChangedTicket]
    last: bool


class _HeaderAuth(requests.auth.AuthBase):
    """The ``Authorization`` header, set on each request; its repr never shows the credential
    (the ``jira`` library keeps Basic credentials as a plain ``(user, token)`` tuple)."""

    def __init__(self, value: str) -> None:
        self._value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._value
        return request

    def __repr__(self) -> str:
        return "<Authorization: ***>"


@dataclass
class _Progress:
    """Whether a paged read still moves: each page must bring something not seen before."""

    idle: int = 0
    pages: int = 0
    seen: set[Hashable] = field(default_factory=set)
    markers: set[Hashable] = field(default_factory=set)

    def page(self, items: Iterable[Hashable], marker: Hashable = None) -> bool:
        """Record one page (its items, and the token or offset it came from); True when
        ``MAX_IDLE_PAGES`` pages in a row brought nothing new."""
        self.pages += 1
        new = {item for item in items if item not in self.seen}
        repeated = marker is not None and marker in self.markers
        if marker is not None:
            self.markers.add(marker)
        self.seen |= new
        self.idle = 0 if new and not repeated else self.idle + 1
        return self.idle >= MAX_IDLE_PAGES


class JiraAdapter:
    adapter_type = "jira"
    max_comment_length = MAX_COMMENT_LENGTH  # read by the sync, which cuts comments to it

    def __init__(self, name: str, section: "TrackerSection", config: "Config", *,
                 retry: RetryPolicy | None = None, session: requests.Session | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        # Offline: options and secrets are validated here, nothing is sent (check-config builds adapters).
        self.name = name
        self.options = adapter_options(JiraOptions, config, name, section)
        self.section = section
        self.agents: tuple[IdentityPattern, ...] = tuple(section.agents)
        self.fields, self.reported_at_field = _configured_fields(config, name, section)
        # Groups are looked up only when a pattern names one: agents for every author, the
        # entitlement (the tracker's, its customers', or the global one) for the reporter.
        self._agent_groups = _names_groups(self.agents)
        entitlements = [section.entitlement or config.file.entitlement,
                        *(c.entitlement for c in section.customers.values() if c.entitlement is not None)]
        self._reporter_groups = any(e.groups or _names_groups(e.reporters) for e in entitlements)
        self.retry = retry or RetryPolicy(attempts=self.options.retries)
        self.base = self.options.url
        self._monotonic = monotonic
        self._last_request: float | None = None
        self.calls: dict[str, int] = {"read": 0, "write": 0}
        self.session = self._session(session)
        self._deployment: str | None = None if self.options.deployment == "auto" else self.options.deployment
        self._me: dict[str, Any] | None = None
        self._zone: ZoneInfo | None = ZoneInfo(self.options.api_user_timezone) if self.options.api_user_timezone \
            else None
        self._zone_known = self._zone is not None
        self._field_meta: dict[str, dict[str, Any]] | None = None
        self._groups_cache: dict[str, tuple[float, frozenset[str]]] = {}
        self.workflow = WorkflowMemory()
        self._silence = not self.options.notify_users
        self._answered = False  # whether this site ever answered JSON (else a non-JSON answer means a wrong url)
        # Without a deadline field the ticket shows a date only: the sync compares dates.
        self.tracks_due_at = self.options.deadline_field is not None

    def __repr__(self) -> str:  # the session holds the secret: never shown
        return f"JiraAdapter({self.name!r}, {self.base!r})"

    def _text(self, message: str) -> str:
        """A message for people: the tracker's name once in front, every secret masked.

        Messages quote Jira's answers (an error page may echo the request's headers), and the
        sync strips one leading ``name: ``: a message that already names the tracker is not
        named again.
        """
        prefix = f"{self.name}: "
        while message.startswith(prefix):
            message = message[len(prefix):]
        return scrub(prefix + message)

    def _unnamed(self, error: BaseException) -> str:
        """An error's message without the tracker's name in front (for log lines that name it)."""
        return str(error).removeprefix(f"{self.name}: ")

    def _session(self, session: requests.Session | None) -> requests.Session:
        o = self.options
        if o.api_token is not None:
            assert o.email is not None
            token = o.api_token.reveal()
            # The token alone and the base64 of "email:token", the Basic credential itself: an
            # error page that echoes the request's headers is masked wherever it is quoted.
            register(token, user=o.email)
            credential = "Basic " + base64.b64encode(f"{o.email}:{token}".encode()).decode("ascii")
            basic: tuple[str, str] | None = (o.email, token)
            bearer = None
        else:
            assert o.token is not None
            bearer = o.token.reveal()
            register(bearer)
            credential, basic = f"Bearer {bearer}", None
        if session is None:
            # Imported here, as in _send: the library takes a tenth of a second to import, and
            # every sla-bridge command loads this plugin whether a Jira is configured or not.
            from jira import JIRA

            # No network here (get_server_info=False), no retries of its own (max_retries=0).
            client = JIRA(server=o.url, basic_auth=basic, token_auth=bearer, get_server_info=False,
                          max_retries=0, timeout=o.timeout_seconds, options={"check_update": False})
            session = client._session
        else:
            session.headers.update({"Accept": "application/json", "Content-Type": "application/json",
                                    "X-Atlassian-Token": "no-check"})
        # The library keeps Basic credentials as a (user, token) tuple, whose repr shows the token.
        session.auth = _HeaderAuth(credential)
        return settle_environment(session, o.url)

    # --- transport: one request, Jira's errors, guarded retries ------------------------

    def _pace(self) -> None:
        rate = self.options.max_requests_per_second
        if rate is None:
            return
        now = self._monotonic()
        if self._last_request is not None:
            wait = self._last_request + 1 / rate - now
            if wait > 0:
                self.retry.sleep(wait)
                now += wait
        self._last_request = now

    def _send(self, method: str, path: str, what: str, params: dict[str, Any] | None,
              body: Any) -> requests.Response:
        from jira.exceptions import JIRAError
        from jira.resilientsession import ResilientSession

        self._pace()
        self.calls["read" if method == "GET" else "write"] += 1
        kwargs: dict[str, Any] = {"params": params}
        if body is not None:
            kwargs["json"] = body
        if not isinstance(self.session, ResilientSession):
            kwargs["timeout"] = self.options.timeout_seconds  # ResilientSession adds its own
        # The text of a requests exception is never quoted: requests' InvalidHeader, say, quotes
        # the header's value. Only its type is named.
        try:
            response = self.session.request(method, f"{self.base}{path}", **kwargs)
        except JIRAError as exc:  # ResilientSession raises on any status >= 400
            if exc.response is None:
                raise TransientError(self._text(f"{what}: no answer from {self.base}")) from None
            response = exc.response
        except requests.Timeout:
            raise TransientError(self._text(f"{what}: no answer within {self.options.timeout_seconds:g} s")
                                 ) from None
        except requests.ConnectionError as exc:
            raise TransientError(self._text(f"{what}: cannot connect to {self.base} ({type(exc).__name__})")
                                 ) from None
        except (requests.RequestException, ValueError) as exc:
            # The request could not even be sent (a header requests refuses, a malformed address).
            raise PermanentError(self._text(f"{what}: the request to {self.base} could not be sent"
                                            f" ({type(exc).__name__}); check options.url and the credentials")
                                 ) from None
        return self._check(response, what)

    def _check(self, response: requests.Response, what: str) -> requests.Response:
        """Jira's answer in sla-bridge's error kinds (as ``httpclient.check``, with Jira's messages)."""
        status = response.status_code
        if status < 400:
            return response
        detail = messages(response)
        where = f"{what}: HTTP {status}"
        if status == 401:
            raise PermanentError(self._text(f"{where}: authentication failed; check the e-mail and API token"
                                            " (Jira Cloud) or the personal access token (Data Center) in the"
                                            " config's secret"))
        denied = response.headers.get("X-Authentication-Denied-Reason")
        if status == 403 and denied:
            # Data Center after failed logins (CAPTCHA): every request fails, not just this issue's.
            raise PermanentError(self._text(f"{where}: login refused ({scrub(denied)[:200]}); an administrator"
                                            " must reset the account's failed login count"))
        if status == 429 or status >= 500:
            reason = scrub(response.headers.get("RateLimit-Reason") or "")[:100]
            error = TransientError(self._text(f"{where}{f' ({reason})' if reason else ''} {detail}".strip()),
                                   retry_after_seconds(response.headers.get("Retry-After")))
            error.status, error.reason = status, reason  # type: ignore[attr-defined]  # read with getattr
            raise error
        error_type = SkippableError if status in (400, 403, 404, 409, 410, 422) else PermanentError
        failure: AdapterError = error_type(self._text(f"{where}: {detail}" if detail else where))
        failure.status = status  # type: ignore[attr-defined]  # read with getattr
        raise failure

    def _retryable(self, error: BaseException) -> bool:
        return isinstance(error, TransientError) and not str(getattr(error, "reason", "")).startswith(QUOTA_REASONS)

    def _wait_for(self, error: BaseException, attempt: int) -> float:
        asked = getattr(error, "retry_after", None)
        wait = asked if asked is not None else self.retry.backoff_seconds * 2 ** (attempt - 1)
        if wait > self.retry.max_wait_seconds:
            raise error  # waiting that long would stall every other tracker: end the pass
        return float(wait)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        assert error is not None
        return self._wait_for(error, state.attempt_number)

    def _call(self, method: str, path: str, *, what: str, retry: bool, params: dict[str, Any] | None = None,
              body: Any = None) -> requests.Response:
        if not retry:
            return self._send(method, path, what, params, body)
        retrying = Retrying(stop=stop_after_attempt(self.retry.attempts), retry=retry_if_exception(self._retryable),
                            wait=self._wait, sleep=self.retry.sleep, reraise=True, before_sleep=self._log)
        return retrying(self._send, method, path, what, params, body)

    def _log(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("%s: retrying after %s (attempt %d)", self.name, self._unnamed(error) if error else "?",
                    state.attempt_number)

    def _get(self, path: str, what: str, **params: Any) -> Any:
        """A read whose answer must be JSON.

        Not JSON on the first request this site answers (serverInfo, myself, or the change
        query) means ``options.url`` is not the REST API (typically a single sign-on page):
        the tracker stops. Later, it is a passing failure: the pass ends, the next retries.
        """
        response = self._call("GET", f"{API}{path}", what=what, retry=True, params=params or None)
        try:
            data = response.json()
        except (ValueError, RecursionError):
            found = not_json(response)
            if not self._answered and not looks_like_json(response.text):
                raise PermanentError(self._text(f"{what}: Jira answered {found}; check options.url ({self.base})"
                                                " and that the API is reachable without a browser login")
                                     ) from None
            raise TransientError(self._text(f"{what}: Jira answered {found}; the next pass tries again")) from None
        self._answered = True
        return data

    def _lookup(self, response: requests.Response, what: str) -> Any:
        """The JSON of a per-user lookup; not JSON is that lookup's failure only (SkippableError)."""
        try:
            return response.json()
        except (ValueError, RecursionError):
            raise SkippableError(self._text(f"{what}: Jira answered {not_json(response)}")) from None

    def _get_issue(self, key: str, path: str, what: str, **params: Any) -> dict[str, Any]:
        """A read about issue ``key`` (the issue, a changelog or comments page, its transitions):
        an answer that is not a JSON object skips that issue only, saying what it was (``what``
        names the issue)."""
        response = self._call("GET", f"{API}{path}", what=what, retry=True, params=params or None)
        try:
            data = response.json()
        except (ValueError, RecursionError):
            raise SkippableError(self._text(f"{what}: Jira answered {not_json(response)}")) from None
        if not isinstance(data, dict):
            raise SkippableError(self._text(f"{what}: Jira answered a JSON {type(data).__name__} where an object"
                                            f" was expected ({shorten(data)})"))
        self._answered = True
        return data

    def _guarded_post(self, path: str, body: Any, what: str, done: Callable[[], bool]) -> None:
        """A POST that is never sent twice.

        A 429 was refused before being processed: it is sent again after the wait. After
        any other failure (a timeout, a lost connection, a 5xx from Jira or its gateway) the
        first request may have been applied, or may still be running: ``done()`` looks for
        its effect once, and when it is not there yet the error goes up. The next pass
        re-reads the issue, and its markers, before sending anything.
        """
        for attempt in range(1, self.retry.attempts + 1):
            try:
                self._call("POST", f"{API}{path}", what=what, retry=False, body=body)
                return
            except TransientError as error:
                if attempt == self.retry.attempts or not self._retryable(error):
                    raise
                self.retry.sleep(self._wait_for(error, attempt))
                if getattr(error, "status", None) == 429:
                    continue
                if done():
                    return
                raise

    # --- lookups, read once per process --------------------------------------------------

    @property
    def deployment(self) -> str:
        if self._deployment is None:
            info = self._get("/serverInfo", "read the server info")
            if not isinstance(info, dict):
                raise PermanentError(self._text(f"read the server info: Jira answered {shorten(info)}, not the"
                                                f" server's description; check options.url ({self.base})"))
            self._deployment = "cloud" if info.get("deploymentType") == "Cloud" else "datacenter"
        return self._deployment

    @property
    def me(self) -> dict[str, Any]:
        """sla-bridge's own user: its comments and changes are an agent's whatever the config says."""
        if self._me is None:
            found = self._get("/myself", "read the API user")
            if not isinstance(found, dict):
                raise PermanentError(self._text(f"read the API user: Jira answered {shorten(found)}, not a user;"
                                                f" check options.url ({self.base})"))
            self._me = found
        return self._me

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

    def field_meta(self) -> dict[str, dict[str, Any]]:
        """Every field Jira knows (``GET /field``, read once): names, and whether a value is an array."""
        if self._field_meta is None:
            fields = self._get("/field", "list fields")
            if not isinstance(fields, list):
                raise TransientError(self._text(f"list fields: Jira answered {shorten(fields)}, not a list of"
                                                " fields; the next pass tries again"))
            self._field_meta = {str(f["id"]): f for f in fields if isinstance(f, dict) and text(f.get("id"))}
        return self._field_meta

    def field_name(self, fid: str) -> str | None:
        """A custom field's name: Data Center's changelog names fields, it has no fieldId."""
        found = self.field_meta().get(fid)
        return (text(found.get("name")) or "") if found else None

    def _groups(self, user: dict[str, Any]) -> frozenset[str]:
        """A user's group names, looked up once (an hour) per user; none when Jira will not tell.

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
        now = self._monotonic()
        cached = self._groups_cache.get(key)
        if cached is not None and now - cached[0] < GROUPS_TTL_SECONDS:
            return cached[1]
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
        groups = frozenset(names)
        self._groups_cache[key] = (now, groups)
        return groups

    def person(self, user: dict[str, Any] | None, *, groups: bool = False,
               organisations: tuple[str, ...] = ()) -> Person | None:
        if not user:
            return None
        return person(user, self.cloud, self._groups(user) if groups else (), organisations)

    # --- the change query --------------------------------------------------------------

    def jql_time(self, t: datetime) -> str:
        """A JQL time (minute precision, the API user's zone), never later than ``t``."""
        zone = self.zone
        if zone is None:
            # Jira reads the literal in a zone between UTC-12 and UTC+14: this one is early enough in all.
            local = t.astimezone(timezone.utc) - timedelta(hours=12)
        else:
            local = wall_clock(t, zone)
        return local.strftime("%Y-%m-%d %H:%M")

    def jql(self, bound: datetime | None) -> str:
        parts = [f"project in ({', '.join(jql_string(p) for p in self.options.projects)})"]
        if bound is not None:
            parts.append(f"updated >= {jql_string(self.jql_time(bound))}")
        if self.options.jql_extra:
            parts.append(f"({self.options.jql_extra})")
        return " AND ".join(parts) + ORDER

    def changed_since(self, cursor: datetime | None) -> Iterator[ChangedTicket]:
        """Issues updated at or after ``cursor``, oldest first.

        JQL compares times to the minute, in the API user's time zone: the query starts
        a minute before the cursor (the sync drops rows it already has). Pages are read
        by keyset: once a page ends in a later minute, the query restarts from there, so
        a ticket updated while we page (it moves to the end) never shifts another one
        out of reach. Within one minute, Cloud's page token or Data Center's startAt
        steps on. Rows seen twice are dropped. A row whose ``updated`` cannot be read is
        yielded with ``updated=None`` and the problem, and paging goes on by the others.
        """
        bound = cursor - MINUTE if cursor is not None else None
        seen: set[tuple[str, datetime | None]] = set()
        while True:
            restart = None
            for page in self._search(bound):
                fresh = False
                for row in page.rows:
                    if (row.id, row.updated) not in seen:
                        seen.add((row.id, row.updated))
                        fresh = True
                        yield row
                if page.last:
                    return
                newest = next((row.updated for row in reversed(page.rows) if row.updated is not None), None)
                # Literals compare as times ("2025-06-02 10:01"): restart only from a later minute.
                if fresh and newest is not None and (bound is None or self.jql_time(newest) > self.jql_time(bound)):
                    restart = newest
                    break
            if restart is None:
                return
            bound = restart

    def _search(self, bound: datetime | None) -> Iterator[_Rows]:
        jql = self.jql(bound)
        try:
            if self.deployment == "cloud":
                yield from self._search_cloud(jql)
            else:
                yield from self._search_datacenter(jql)
        except SkippableError as exc:
            # A refused change query stops this tracker's pass, with the reason.
            status = getattr(exc, "status", None)
            if status == 410:
                raise PermanentError(self._text(f"{exc}. This is Jira Cloud, which removed /rest/api/2/search (410"
                                                ' Gone): set options.deployment = "cloud" (or "auto")')) from None
            if status == 404 and self.deployment == "cloud":
                raise PermanentError(self._text(f"{exc}. This Jira has no /rest/api/2/search/jql (Jira Cloud"
                                                ' only): set options.deployment = "datacenter" (or "auto")')
                                     ) from None
            if status == 400:
                raise PermanentError(self._text(f"{exc} (query: {jql}); check options.projects and"
                                                " options.jql_extra")) from None
            raise PermanentError(self._text(str(exc))) from None

    def _page(self, data: Any, endpoint: str) -> tuple[dict[str, Any], list[Any]]:
        """One page of the change query, checked: an object with a list of issues."""
        issues = data.get("issues", []) if isinstance(data, dict) else None
        if not isinstance(issues, list):
            raise TransientError(self._text(f"list changed issues: {endpoint} answered {shorten(data)}, not a page"
                                            " of issues; the next pass tries again"))
        return data, issues

    def _row(self, issue: Any) -> ChangedTicket | None:
        """One row of the change query: its key and ``updated``, or the problem with them.

        A row without a usable key (none, or one that is not an issue key) names no ticket to
        read or to report: it is left out, with a warning.
        """
        found = obj(issue)
        key = issue_key(found.get("key")) or issue_key(found.get("id"))
        if key is None:
            log.warning("%s: the change query listed an issue without a usable key (%s); it is left out",
                        self.name, shorten(found.get("key") if found else issue))
            return None
        try:
            updated = parse_time(obj(found.get("fields")).get("updated"))
        except ValueError as exc:
            return ChangedTicket(key, None, f"the change query gave an unreadable `updated`: {exc}")
        if updated is None:
            return ChangedTicket(key, None, "the change query gave no `updated` for it")
        return ChangedTicket(key, updated)

    def _rows(self, issues: list[Any]) -> list[ChangedTicket]:
        return [row for row in map(self._row, issues) if row is not None]

    def _stalled(self, endpoint: str, progress: _Progress, what: str) -> TransientError:
        return TransientError(self._text(
            f"the change query made no progress: {endpoint} answered {MAX_IDLE_PAGES} pages in a row with nothing"
            f" new ({what}); stopped after {progress.pages} pages, the next pass tries again"))

    def _search_cloud(self, jql: str) -> Iterator[_Rows]:
        """``GET /search/jql``: token paging, no total; a short page is not the last one.

        A server that keeps answering ``isLast: false`` with a token already used, or with
        rows already seen, is not followed for ever (``MAX_IDLE_PAGES``).
        """
        token: str | None = None
        progress = _Progress()
        while True:
            params: dict[str, Any] = {"jql": jql, "maxResults": self.options.page_size, "fields": "updated"}
            if token:
                params["nextPageToken"] = token
            data, issues = self._page(self._get("/search/jql", "list changed issues", **params), "/search/jql")
            raw_token = data.get("nextPageToken")
            token = raw_token if isinstance(raw_token, str) and raw_token else None
            # The last page may omit nextPageToken instead of sending null (JRACLOUD-92184).
            last = data.get("isLast") is True or token is None
            rows = self._rows(issues)
            yield _Rows(rows, last)
            if last:
                return
            repeated = "the page token was already used, " if ("token", token) in progress.markers else ""
            if progress.page(((r.id, r.updated) for r in rows), ("token", token)):
                raise self._stalled("/search/jql", progress, f"isLast false, {repeated}next page token"
                                    f" {shorten(token, 40)}, rows already seen: {self._keys(rows)}")

    def _search_datacenter(self, jql: str) -> Iterator[_Rows]:
        """``GET /search``: startAt paging with a total (the server may cap maxResults).

        A server that keeps answering the same window (whatever ``startAt`` asked) is not
        followed for ever (``MAX_IDLE_PAGES``).
        """
        start = 0
        progress = _Progress()
        while True:
            data, issues = self._page(self._get("/search", "list changed issues", jql=jql, startAt=start,
                                                maxResults=self.options.page_size, fields="updated"), "/search")
            total = count(data.get("total"), 0)
            asked, start = start, start + len(issues)
            rows = self._rows(issues)
            last = not issues or start >= total
            yield _Rows(rows, last)
            if last:
                return
            if progress.page((r.id, r.updated) for r in rows):
                raise self._stalled("/search", progress, f"startAt {asked} answered startAt"
                                    f" {shorten(data.get('startAt'), 20)} of {total} with rows already seen:"
                                    f" {self._keys(rows)}")

    @staticmethod
    def _keys(rows: list[ChangedTicket]) -> str:
        shown_keys = ", ".join(r.id for r in rows[:5])
        return (shown_keys + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")) or "none"

    # --- reading one issue ---------------------------------------------------------------

    def _fields(self) -> list[str]:
        fields = ["summary", "status", "priority", "labels", "duedate", "fixVersions", "issuetype", "reporter",
                  "created", "updated", "project"]
        if self.deployment == "cloud":
            fields.append("comment")  # Data Center reads comments with their properties instead
        extra = [self.options.severity_field if self.options.severity_field != "priority" else None,
                 self.options.deadline_field, self.options.organizations_field, self.reported_at_field,
                 *self.fields.values()]
        for fid in extra:
            if fid is not None and fid not in fields:
                fields.append(fid)
        return fields

    def fetch(self, ticket_id: str) -> Ticket:
        """One issue with its whole history; a malformed answer skips it, saying what was wrong."""
        if issue_key(ticket_id) is None:
            raise SkippableError(self._text(f"{shorten(ticket_id)} is not a Jira issue key: left alone"))
        issue = self._get_issue(ticket_id, f"/issue/{ticket_id}", f"read issue {ticket_id}", fields=",".join(self._fields()),
                                expand="changelog")
        try:
            fields = issue.get("fields")
            if not isinstance(fields, dict):
                raise Malformed(f"Jira's answer has no `fields` object ({shorten(fields)})")
            self._in_scope(ticket_id, fields.get("project"))
            histories = self._histories(ticket_id, obj(issue.get("changelog")))
            comments = self._comments(ticket_id, fields.get("comment"))
            return self.to_ticket(issue, histories, comments)
        except SkippableError as exc:
            if ticket_id in str(exc):
                raise
            # A lookup made for this ticket (a user's groups) failed: the message names the ticket.
            raise SkippableError(self._text(f"issue {ticket_id}: {self._unnamed(exc)}")) from None
        except MALFORMED as exc:
            what = str(exc) if isinstance(exc, Malformed) else f"unexpected JSON ({type(exc).__name__}: {exc})"
            raise SkippableError(self._text(f"issue {ticket_id}: {what}")) from None

    def _in_scope(self, ticket_id: str, project: Any) -> None:
        """An issue moved to a project outside ``projects`` is no longer under this contract."""
        moved_to = text(obj(project).get("key"))
        if moved_to and moved_to.casefold() not in {p.casefold() for p in self.options.projects}:
            raise SkippableError(self._text(f"issue {ticket_id} is now in project {moved_to[:60]}, which is"
                                            " not in options.projects: left alone"))

    @staticmethod
    def _identity(entry: dict[str, Any]) -> Hashable:
        """What tells one changelog entry or comment from another, to drop one sent twice."""
        return (text(entry.get("id")), text(entry.get("created")))

    def _unique(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``entries`` without those a page sent again (same id and time); one without an id stays."""
        seen: set[Hashable] = set()
        kept = []
        for entry in entries:
            identity = self._identity(entry)
            if text(entry.get("id")) is None or identity not in seen:
                seen.add(identity)
                kept.append(entry)
        return kept

    def _histories(self, key: str, changelog: dict[str, Any]) -> list[dict[str, Any]]:
        """The whole changelog: the embedded one when complete, else every page of it."""
        embedded = objects(changelog.get("histories"), "the embedded changelog's `histories`")
        if count(changelog.get("total"), len(embedded)) <= len(embedded):
            return self._unique(embedded)
        histories: list[dict[str, Any]] = []
        start, progress = 0, _Progress()
        while True:
            try:
                page = self._get_issue(key, f"/issue/{key}/changelog", f"read the changelog of {key}", startAt=start,
                                       maxResults=CHANGELOG_PAGE)
            except SkippableError as exc:
                if getattr(exc, "status", None) == 404 and self.deployment != "cloud":
                    raise SkippableError(self._text(
                        f"issue {key}: Jira returned {len(embedded)} of {shorten(changelog.get('total'), 20)} history"
                        " entries and has no paged changelog endpoint; the ticket's history would be incomplete")
                    ) from None
                raise
            values = objects(page.get("values"), f"the changelog page at startAt {start}: `values`")
            histories += values
            start += len(values)
            if page.get("isLast", True) is not False or not values or start >= count(page.get("total"), 0):
                return self._unique(histories)
            if progress.page(map(self._identity, values)):
                raise Malformed(f"its changelog pages made no progress: {progress.pages} pages, the last"
                                f" {MAX_IDLE_PAGES} with only entries already read (Jira says {shorten(page.get('total'), 20)}"
                                " in all)")

    def _comments(self, key: str, embedded: Any) -> list[dict[str, Any]]:
        """Every comment, oldest first; on Data Center with their properties (public or internal)."""
        if embedded is not None:
            if not isinstance(embedded, dict):
                raise Malformed(f"its `comment` field is not an object ({shorten(embedded)})")
            comments = objects(embedded.get("comments"), "its embedded `comments`")
            if count(embedded.get("total"), len(comments)) <= len(comments):
                return self._unique(comments)
        comments = []
        start, progress = 0, _Progress()
        while True:
            params: dict[str, Any] = {"startAt": start, "maxResults": COMMENT_PAGE, "orderBy": "created"}
            if self.deployment != "cloud":
                params["expand"] = "properties"
            page = self._get_issue(key, f"/issue/{key}/comment", f"read the comments of {key}", **params)
            values = objects(page.get("comments"), f"the comments page at startAt {start}: `comments`")
            comments += values
            start += len(values)
            if not values or start >= count(page.get("total"), 0):
                return self._unique(comments)
            if progress.page(map(self._identity, values)):
                raise Malformed(f"its comments pages made no progress: {progress.pages} pages, the last"
                                f" {MAX_IDLE_PAGES} with only comments already read (Jira says"
                                f" {shorten(page.get('total'), 20)} in all)")

    def _role(self, user: dict[str, Any] | None) -> Role:
        """Who made a change or wrote a comment, for the contract, from the author's identities."""
        if not user:
            return Role.SYSTEM
        if user.get("accountType") == "customer":
            return Role.CUSTOMER  # a Jira Service Management portal customer
        if self._own(user):
            return Role.AGENT  # sla-bridge itself, whatever the patterns say (and no group lookup)
        role = person_role(self.person(user, groups=self._agent_groups), self.agents, self.me_person)
        if role is Role.CUSTOMER and user.get("accountType") == "app":
            return Role.SYSTEM  # automation rules, integrations
        return role

    def _own(self, user: Any) -> bool:
        """Whether ``user`` is sla-bridge's own API user (the account the credentials belong to)."""
        me = self.me_person
        return isinstance(user, dict) and me is not None and me.id is not None and user_key(user) == me.id

    @staticmethod
    def _user(value: Any, what: str) -> dict[str, Any] | None:
        """A user object, or None for nobody; anything else is malformed."""
        if value is None or value == {}:
            return None
        if not isinstance(value, dict):
            raise Malformed(f"{what} is not a user ({shorten(value)})")
        return value

    def _severity_item(self, item: dict[str, Any]) -> bool:
        field = self.options.severity_field
        if field == "priority":
            return item.get("field") == "priority" and item.get("fieldtype") == "jira"
        if item.get("fieldtype") != "custom":
            return False
        if item.get("fieldId"):
            return bool(item["fieldId"] == field)
        return item.get("field") == self.field_name(field)

    def _item_fields(self, item: dict[str, Any]) -> list[tuple[str, str]]:
        """The configured fields (name, id) a changelog item changes: by ``fieldId`` (Cloud), else by
        the name Data Center's changelog gives (a custom field's name, "Component", "Fix Version"...)."""
        if not self.fields:
            return []
        fid = item.get("fieldId")
        if fid:
            return [(name, f) for name, f in self.fields.items() if f == fid]
        found = []
        for name, f in self.fields.items():
            custom = CUSTOM_FIELD.match(f) is not None
            if custom != (item.get("fieldtype") == "custom"):
                continue
            label = self.field_name(f) if custom else CHANGELOG_NAMES.get(f, f)
            if label is not None and item.get("field") == label:
                found.append((name, f))
        return found

    def _multi(self, fid: str) -> str | None:
        """How a changelog item lists a multi-value field's values (None: one value per item)."""
        if fid == "labels":
            return "labels"
        if CUSTOM_FIELD.match(fid):
            schema = obj(obj(self.field_meta().get(fid)).get("schema"))
            return "comma" if schema.get("type") == "array" else None
        return None  # components, versions: one item per value added or removed

    def _field_changes(self, at: datetime, item: dict[str, Any], by: str | None) -> Iterator[FieldChange]:
        for name, fid in self._item_fields(item):
            old, new = text(item.get("fromString")), text(item.get("toString"))
            kind = self._multi(fid)
            if kind is None:
                if old != new:
                    yield FieldChange(at, name, old or None, new or None, by)
                continue
            before, after = split_values(old, kind), split_values(new, kind)
            yield from (FieldChange(at, name, None, value, by) for value in sorted(after - before))
            yield from (FieldChange(at, name, value, None, by) for value in sorted(before - after))

    def to_ticket(self, issue: dict[str, Any], histories: list[dict[str, Any]],
                  comments: list[dict[str, Any]]) -> Ticket:
        """One Jira issue, its changelog and comments in the common model.

        What the contract depends on (the key, creation, status, labels, dates, who wrote
        what and when) must have the form the REST API documents, else ``Malformed`` says
        which part is wrong; what is only shown (a title, a type) is read as text if it can be.
        """
        key = issue_key(issue.get("key"))
        if key is None:
            raise Malformed(f"its key {shorten(issue.get('key'))} is not an issue key")
        f = issue.get("fields")
        if not isinstance(f, dict):
            raise Malformed(f"Jira's answer has no `fields` object ({shorten(f)})")
        status = text(obj(f.get("status")).get("name"))
        if not status:
            raise Malformed(f"its `status` has no name ({shorten(f.get('status'))})")
        labels = f.get("labels")
        if labels is not None and (not isinstance(labels, list) or not all(isinstance(x, str) for x in labels)):
            raise Malformed(f"its `labels` are not a list of labels ({shorten(labels)})")
        deadline = optional_time(f.get(self.options.deadline_field), f"{self.options.deadline_field}"
                                 " (deadline_field)") if self.options.deadline_field else None
        versions = f.get("fixVersions")
        first = versions[0] if isinstance(versions, list) and versions else None
        organisations = tuple(field_values(f.get(self.options.organizations_field))) \
            if self.options.organizations_field else ()
        reporter = self.person(self._user(f.get("reporter"), "its `reporter`"), groups=self._reporter_groups,
                               organisations=organisations)
        values = frozenset((name, value) for name, fid in self.fields.items() for value in field_values(f.get(fid)))
        return Ticket(
            tracker=self.name, id=key, title=text(f.get("summary")) or "",
            reporter=reporter, created=required_time(f.get("created"), "its `created`"),
            status=status, severity=self._severity(f),
            labels=frozenset(labels or []),
            due_date=optional_date(f.get("duedate"), "its `duedate`"),
            due_at=deadline,
            fix_version=text(obj(first).get("name")),
            type=text(obj(f.get("issuetype")).get("name")),
            updated=optional_time(f.get("updated"), "its `updated`"),
            events=tuple(self._history_events(histories))
            + tuple(self._comment_events(comments, former_keys(histories), key)),
            project=text(obj(f.get("project")).get("key")),
            fields=values,
            reported_at=self._reported_at(key, f),
        )

    def _reported_at(self, key: str, fields: dict[str, Any]) -> datetime | None:
        if self.reported_at_field is None:
            return None
        raw = fields.get(self.reported_at_field)
        if raw in (None, ""):
            return None
        try:
            return parse_time(raw)
        except ValueError:
            raise SkippableError(self._text(
                f"issue {key}: {self.reported_at_field} (fields.reported_at) holds {shorten(raw)}, not a date and"
                " time with its offset: it must be a Date Time Picker field")) from None

    def _severity(self, fields: dict[str, Any]) -> str | None:
        if self.options.severity_field == "priority":
            raw = fields.get("priority")
        else:
            raw = fields.get(self.options.severity_field)
        if isinstance(raw, dict):
            return text(raw.get("value")) or text(raw.get("name")) or None
        return text(raw)

    def _history_events(self, histories: list[dict[str, Any]]) -> Iterator[Event]:
        for history in histories:
            what = f"history entry {shorten(history.get('id'), 30).strip(chr(39))}"
            at = required_time(history.get("created"), what)
            author = self._user(history.get("author"), f"the author of {what}")
            by, role = shown(author), self._role(author)
            for item in objects(history.get("items"), f"the items of {what}"):
                field = item.get("field")
                if field == "status" and item.get("fieldtype") == "jira":
                    yield StatusChange(at, text(item.get("fromString")), text(item.get("toString")) or "", by, role)
                elif self._severity_item(item):
                    yield SeverityChange(at, text(item.get("fromString")), text(item.get("toString")), by)
                elif field == "labels" and item.get("fieldtype") == "jira":
                    before = set((text(item.get("fromString")) or "").split())
                    after = set((text(item.get("toString")) or "").split())
                    yield from (LabelChange(at, label, True, by) for label in sorted(after - before))
                    yield from (LabelChange(at, label, False, by) for label in sorted(before - after))
                yield from self._field_changes(at, item, by)

    def _comment_events(self, comments: list[dict[str, Any]], former: set[str], key: str) -> Iterator[Comment]:
        for comment in comments:
            what = f"comment {shorten(comment.get('id'), 30).strip(chr(39))}"
            at = required_time(comment.get("created"), what)
            author = self._user(comment.get("author"), f"the author of {what}")
            # A comment whose author is gone (deleted user) may be the customer's answer:
            # it counts as one rather than letting the ticket close on them.
            role = self._role(author) if author else Role.CUSTOMER
            body = comment.get("body")
            yield Comment(at, shown(author), role, is_public(comment),
                          self._rekey(unwiki(body), former, key) if isinstance(body, str) else "", self._own(author))

    def _rekey(self, body: str, former: set[str], key: str) -> str:
        """Markers written before the issue was moved, read under its key now.

        An idempotency key starts with the ticket's ``tracker:id``; a move gives the issue
        a new key, and a reminder already sent under the old one must not be sent again.
        """
        for old in former:
            body = body.replace(f"[sla-bridge:{self.name}:{old}/", f"[sla-bridge:{self.name}:{key}/")
        return body

    # --- writing -------------------------------------------------------------------------

    def apply_fields(self, ticket: Ticket, due: SetDueDate | None, labels: SetLabels | None) -> None:
        """Due date, exact deadline and SLA labels in one PUT (safe to retry: it sets values)."""
        body: dict[str, Any] = {}
        if due is not None:
            body["fields"] = {"duedate": due.due_date.isoformat() if due.due_date else None}
            if self.options.deadline_field is not None:
                body["fields"][self.options.deadline_field] = deadline_value(due.due_at) if due.due_at else None
        if labels is not None and (labels.add or labels.remove):
            # One operation per SLA label: a person's other labels are never sent, so never lost.
            body["update"] = {"labels": [{"add": label} for label in sorted(labels.add)]
                              + [{"remove": label} for label in sorted(labels.remove)]}
        if not body:
            return
        what = f"update issue {ticket.id}"
        if self._silence:
            try:
                self._call("PUT", f"{API}/issue/{ticket.id}", what=what, retry=True,
                           params={"notifyUsers": "false"}, body=body)
                return
            except SkippableError as exc:
                if getattr(exc, "status", None) not in (400, 403) or "notif" not in str(exc).lower():
                    raise
                # Only Jira and project administrators may silence notifications.
                log.warning("%s: the API user may not disable notifications (%s); writing with them", self.name,
                            self._unnamed(exc))
                self._silence = False
        self._call("PUT", f"{API}/issue/{ticket.id}", what=what, retry=True, body=body)

    def _has_marker(self, key: str, marker: str) -> bool:
        """Whether sla-bridge's own account already wrote the comment carrying ``marker``.

        Only its own comments count: a customer quoting a reminder, or anyone pasting a
        marker, must not make sla-bridge believe it sent what it did not.
        """
        try:
            comments = self._comments(key, None)
        except MALFORMED as exc:
            what = str(exc) if isinstance(exc, Malformed) else f"unexpected JSON ({type(exc).__name__}: {exc})"
            raise SkippableError(self._text(f"issue {key}: cannot tell whether the comment was posted: {what}")
                                 ) from None
        return any(marker in markers_in(unwiki(c["body"])) for c in comments
                   if isinstance(c.get("body"), str) and self._own(c.get("author")))

    def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
        """A comment carrying its marker; re-sent only after checking the issue for that marker.

        The body is escaped for the wiki renderer and kept within ``max_comment_length``
        as Jira counts it (the escaping adds characters the sync's cut did not count).
        """
        body: dict[str, Any] = {"body": fit_comment(comment.body, self.max_comment_length)}
        if not comment.public:
            body["properties"] = [{"key": "sd.public.comment", "value": {"internal": True}}]
        self._guarded_post(f"/issue/{ticket.id}/comment", body, f"add a comment to issue {ticket.id}",
                           lambda: self._has_marker(ticket.id, comment.key))

    def _status_now(self, key: str) -> str:
        issue = self._get_issue(key, f"/issue/{key}", f"read back issue {key}", fields="status")
        status = text(obj(obj(issue.get("fields")).get("status")).get("name"))
        if not status:
            raise SkippableError(self._text(f"read back issue {key}: Jira's answer has no status name"
                                            f" ({shorten(issue.get('fields'))})"))
        return status

    def transitions(self, key: str, current: str | None = None) -> list[dict[str, Any]]:
        """The transitions the API user may take on an issue now, with their screens' fields."""
        data = self._get_issue(key, f"/issue/{key}/transitions", f"list the transitions of issue {key}",
                               expand="transitions.fields")
        return offered(data, current)

    def transition(self, ticket: Ticket, to_status: str) -> None:
        """Move the issue to ``to_status`` along its workflow, supplying the resolution each screen needs.

        The transition whose target is ``to_status`` when there is one; else one step towards it
        (a status mapped ``resolved``, or one seen to lead there; ``jira_workflow.next_steps``), then
        the transitions are read again, at most ``MAX_STEPS`` times. Each POST is guarded: re-sent
        after a 429 only, and after a lost answer Jira is asked whether it was applied.
        """
        goal = to_status.casefold()
        scope = ((ticket.project or "").casefold(), (ticket.type or "").casefold())
        current = ticket.status
        visited = {current.casefold()}
        way: list[str] = []
        for _ in range(MAX_STEPS):
            available = self.transitions(ticket.id, current)
            self.workflow.learn(scope, current, available)
            finals = [t for t in available if target(t).casefold() == goal]
            if finals:
                chosen, fields, problems = first_takeable(finals, self.options.resolution, self.name)
                if chosen is None:
                    raise SkippableError(self._text(f"issue {ticket.id}: cannot move to {to_status!r}"
                                                    f"{self._left_in(current, way)}: {'; '.join(problems)}"))
                self._take(ticket.id, chosen, fields, to_status, to_status)
                return
            steps = next_steps(available, to_status, self.section.statuses.resolved, visited, self.workflow, scope)
            chosen, fields, problems = first_takeable(steps, self.options.resolution, self.name)
            if chosen is None:
                targets = sorted({target(t) for t in available})
                raise SkippableError(self._text(
                    f"issue {ticket.id}: no workflow transition from {current!r} to {to_status!r}"
                    f" (closing_status) is available to the API user{self._left_in(current, way)}; it may go to:"
                    f" {', '.join(targets) or 'nothing'}, and none of these is a status mapped resolved"
                    f" ({', '.join(self.section.statuses.resolved) or 'none'}) or known to lead to {to_status!r}"
                    + (f" ({'; '.join(problems)})" if problems else "")))
            step = target(chosen)
            self._take(ticket.id, chosen, fields, step, to_status)
            now = self._status_now(ticket.id)
            if now.casefold() == goal:
                return  # an automation rule (or a person) closed it meanwhile
            way.append(now)
            visited.add(now.casefold())
            current = now
        raise SkippableError(self._text(f"issue {ticket.id}: no way to {to_status!r} within {MAX_STEPS}"
                                        f" transitions{self._left_in(current, way)}"))

    @staticmethod
    def _left_in(current: str, way: list[str]) -> str:
        return f" (on the way there it went through {' -> '.join(way)}, where it stays)" if way else ""

    def _take(self, key: str, transition: dict[str, Any], fields: dict[str, Any], step: str, goal: str) -> None:
        body: dict[str, Any] = {"transition": {"id": str(transition["id"])}}
        if fields:
            body["fields"] = fields
        reached = {step.casefold(), goal.casefold()}
        self._guarded_post(f"/issue/{key}/transitions", body, f"move issue {key} to {step}",
                           lambda: self._status_now(key).casefold() in reached)

    # --- check-config --connect ------------------------------------------------------------

    def check_connection(self) -> list[Check]:
        """Read-only: authenticate, then look up everything the configuration names (``jira_checks``)."""
        from .jira_checks import check_connection

        return check_connection(self)


@hookimpl
def sla_bridge_register_adapters(registry: "AdapterRegistry") -> None:
    registry.add("jira", JiraAdapter)
