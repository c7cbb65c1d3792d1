"""The Jira adapter's foundation: its state, the HTTP session and one request's life.

``JiraTransport`` is built offline (``check-config`` builds adapters to validate options
and secrets): nothing is sent until first use. It sends each request through the
``jira`` library's session with that library's own retries off (they re-send POSTs and
sleep inside the request), turns Jira's answers into sla-bridge's error kinds
(``_check``), retries reads and idempotent writes itself (``_call``), and never sends a
POST twice (``_guarded_post``). Every message names the tracker once and is scrubbed of
the credentials (``_text``).

The layers above it, each a subclass of the one before: ``jira_lookups`` (what is read
once and remembered: the deployment, the API user, fields, groups), ``jira_search`` (the
change query), ``jira_read`` (one issue, its changelog and comments), ``jira_write``
(fields, comments, transitions), and ``jira.JiraAdapter``.
"""

from __future__ import annotations

import base64
import logging
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable
from zoneinfo import ZoneInfo

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from ..config import adapter_options
from ..httpclient import Gate, RetryPolicy, retry_after_seconds, settle_environment
from ..identity import IdentityPattern
from ..secrets import register, scrub
from .base import AdapterError, Facts, PermanentError, ProcessFacts, SkippableError, TransientError, looks_like_json
from .jira_facts import Memory, fingerprint
from .jira_options import JiraOptions, configured_fields, names_groups
from .jira_values import messages, not_json, shorten
from .jira_workflow import WorkflowMemory

if TYPE_CHECKING:
    from ..config import Config, TrackerSection

log = logging.getLogger(__name__)

API = "/rest/api/2"
MINUTE = timedelta(minutes=1)
# Hourly quotas: waiting inside the pass would stall every other tracker.
QUOTA_REASONS = ("jira-quota-global-based", "jira-quota-tenant-based", "jira-quota-based")
# The longest comment body Jira takes, as Java counts it (UTF-16 code units). Cloud: a
# fixed 32,767 characters. Data Center: its `jira.text.field.character.limit` setting,
# 32,767 by default (an administrator may change it). The sync cuts comments to it, and
# post_comment cuts again if the wiki escaping of the marker pushed one back over it.
MAX_COMMENT_LENGTH = 32767


class HeaderAuth(requests.auth.AuthBase):
    """The ``Authorization`` header, set on each request; its repr never shows the credential
    (the ``jira`` library keeps Basic credentials as a plain ``(user, token)`` tuple)."""

    def __init__(self, value: str) -> None:
        self._value = value

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = self._value
        return request

    def __repr__(self) -> str:
        return "<Authorization: ***>"



class JiraTransport:
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
        self.fields, self.reported_at_field = configured_fields(config, name, section)
        # Groups are looked up only when a pattern names one: agents for every author, the
        # entitlement (the tracker's, its customers', or the global one) for the reporter.
        self._agent_groups = names_groups(self.agents)
        entitlements = [section.entitlement or config.file.entitlement,
                        *(c.entitlement for c in section.customers.values() if c.entitlement is not None)]
        self._reporter_groups = any(e.groups or names_groups(e.reporters) for e in entitlements)
        self.retry = retry or RetryPolicy(attempts=self.options.retries)
        self.base = self.options.url
        self._monotonic = monotonic
        # The pace (max_requests_per_second) and the pauses Jira asks (Retry-After), for all
        # the workers of a pass, and with a board for every replica (see httpclient.Gate).
        self.gate = Gate(self.options.max_requests_per_second, sleep=self.retry.sleep, monotonic=monotonic)
        self.calls: dict[str, int] = {"read": 0, "write": 0}
        self.site = ""  # the fingerprint of the site and credential, set by _session
        self.session = self._session(session)
        # What is learnt about the tracker and kept between runs: the sync gives the store's
        # facts before the first request; read at first use, never here.
        self.facts: Facts = ProcessFacts()
        # The wall clock facts are dated with; a clock given for the caches (a simulation) dates them too.
        self.clock: Callable[[], float] = time.time if monotonic is time.monotonic else monotonic
        self.memory = Memory(lambda: self.facts, self.site, name, lambda: self.clock())
        self._zone: ZoneInfo | None = ZoneInfo(self.options.api_user_timezone) if self.options.api_user_timezone \
            else None
        self._zone_known = self._zone is not None
        self._field_meta: dict[str, dict[str, Any]] | None = None
        self.workflow = WorkflowMemory()
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
        self.site = fingerprint(o.url, o.email or "", credential)  # a digest: never the secret itself
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
        session.auth = HeaderAuth(credential)
        return settle_environment(session, o.url)

    # --- transport: one request, Jira's errors, guarded retries ------------------------

    def _send(self, method: str, path: str, what: str, params: dict[str, Any] | None,
              body: Any) -> requests.Response:
        from jira.exceptions import JIRAError
        from jira.resilientsession import ResilientSession

        self.gate.enter()
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
        try:
            return self._check(response, what)
        except TransientError as exc:
            if exc.retry_after is not None:  # asked of every worker, not only this one
                self.gate.hold(min(exc.retry_after, self.retry.max_wait_seconds))
            raise

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
