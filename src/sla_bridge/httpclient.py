"""HTTP for adapters: error translation and retries (tenacity) that honour Retry-After.

Only requests marked ``retry=True`` are retried: reads, and writes that set a
value (setting the same due date twice is harmless). Anything that could post
twice (a comment) is sent once; if it fails, the next pass re-reads the ticket and
looks for the comment's marker before trying again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from datetime import datetime, timezone
from typing import Any, Callable, Protocol
from urllib.parse import urlsplit, urlunsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from .adapters.base import PermanentError, SkippableError, TransientError
from .secrets import scrub

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    backoff_seconds: float = 1.0     # 1, 2, 4, ... between attempts
    max_wait_seconds: float = 300.0  # a Retry-After longer than this ends the pass instead
    sleep: Callable[[float], None] = time.sleep


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` is either seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def _summary(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(body, dict) and "errors" in body:
        return "; ".join(map(str, body["errors"])) if isinstance(body["errors"], list) else str(body["errors"])
    return str(body)[:200]


def shown_url(url: str) -> str:
    """`url` for messages: without the user and password it may carry (``https://user:pass@host``)."""
    try:
        parts = urlsplit(url)
        if parts.username is None and parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            netloc += f":{parts.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    except ValueError:
        return "(the configured URL)"


def check(response: requests.Response, what: str, tracker: str) -> requests.Response:
    """Translate an HTTP answer into sla-bridge's error kinds (no secret in any message).

    An error body may echo the request, its auth header included (a proxy's debug page, a
    server quoting what it refused): every registered secret is masked in what is quoted."""
    status = response.status_code
    if status < 400:
        return response
    detail = scrub(_summary(response))
    where = f"{tracker}: {what}: HTTP {status}"
    if status == 401:
        raise PermanentError(f"{where}: authentication failed; check the API key/token in the config's secret")
    if status in (429, 503) or status >= 500:
        raise TransientError(f"{where} {detail}".strip(), retry_after_seconds(response.headers.get("Retry-After")))
    if status in (403, 404, 409, 410, 422):
        raise SkippableError(f"{where}: {detail}" if detail else where)
    raise PermanentError(f"{where}: {detail}")


def settle_environment(session: requests.Session, url: str) -> requests.Session:
    """Read the environment's proxies and CA bundle for `url` once, not on every request.

    With ``trust_env`` on, requests looks the environment up (proxies, NO_PROXY, a CA
    bundle, ~/.netrc) for each request: a sixth of a GET's CPU on loopback. The same
    settings, read once at start, are kept; ~/.netrc is not read (credentials come from
    the configuration only).
    """
    session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False
    return session


class Board(Protocol):
    """Where the processes sharing a tracker (replicas on one store) tell each other what it asked."""

    def publish(self, seconds: float) -> None:
        """The tracker asked this process for a pause of `seconds`: every process waits it out."""

    def look(self) -> tuple[float, int]:
        """Seconds left of a pause the tracker asked of any process (0: none), and how many
        processes share the tracker's budget (its pace is divided between them)."""


class Gate:
    """What a tracker asks of all its callers at once: a pause (``Retry-After``) and a pace.

    A pass's workers share their tracker's client: a 429 answered to one of them holds
    every request until the time the tracker asked, and ``max_requests_per_second``
    spaces the requests of all of them, not of each. With a `board` (replicas sharing a
    tracker), a pause is told to every process, looked for every ``LOOK_EVERY`` seconds,
    and the pace is divided between the processes.
    """

    LOOK_EVERY = 1.0

    def __init__(self, per_second: float | None = None, *, sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic, board: Board | None = None) -> None:
        self.per_second = per_second
        self.interval = 1 / per_second if per_second else 0.0
        self.sleep = sleep
        self.monotonic = monotonic
        self.board = board
        self._lock = threading.Lock()
        self._next = 0.0        # the earliest instant of the next request (pace)
        self._resume = 0.0      # no request before this instant (Retry-After)
        self._looked: float | None = None  # when the board was last read
        self._asked = threading.local()  # the pause this thread was answered, and waits out itself

    def _look(self) -> None:
        board = self.board
        if board is None:
            return
        with self._lock:
            now = self.monotonic()
            if self._looked is not None and now - self._looked < self.LOOK_EVERY:
                return
            self._looked = now
        try:
            pause, sharers = board.look()
        except Exception as exc:  # noqa: BLE001 - the board is advice: a request goes on without it
            log.debug("the tracker's shared budget could not be read: %s", exc)
            return
        with self._lock:
            if pause > 0:
                self._resume = max(self._resume, now + pause)
            if self.per_second:
                self.interval = max(1, sharers) / self.per_second

    def enter(self) -> None:
        """Wait for this request's turn."""
        self._look()
        own = getattr(self._asked, "resume", None)
        self._asked.resume = None
        with self._lock:
            now = self.monotonic()
            if own is not None and own >= self._resume:
                # The caller that was answered the pause has waited it out (its retry's wait):
                # the pause is over for everyone.
                self._resume = 0.0
            start = max(now, self._next, self._resume)
            self._next = start + self.interval
        if start > now:
            self.sleep(start - now)

    def hold(self, seconds: float) -> None:
        """The tracker asked for a pause: every other caller waits it out, in every process."""
        with self._lock:
            self._resume = max(self._resume, self.monotonic() + seconds)
            self._asked.resume = self._resume
        if self.board is not None:
            try:
                self.board.publish(seconds)
            except Exception as exc:  # noqa: BLE001 - the board is advice
                log.debug("the tracker's pause could not be shared: %s", exc)


class HttpClient:
    """A ``requests`` session with a base URL, auth headers, timeouts and guarded retries."""

    def __init__(self, base_url: str, headers: dict[str, str], tracker: str, *, timeout: float = 30.0,
                 retry: RetryPolicy = RetryPolicy(), session: requests.Session | None = None,
                 gate: Gate | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.shown_url = shown_url(self.base_url)
        self.tracker = tracker
        self.timeout = timeout
        self.retry = retry
        self.session = settle_environment(session or requests.Session(), self.base_url)
        self.session.headers.update(headers)
        self.calls: dict[str, int] = {"read": 0, "write": 0}
        self._counting = threading.Lock()
        self.gate = gate or Gate(sleep=retry.sleep)

    def __repr__(self) -> str:  # headers hold the secret: never shown
        return f"HttpClient({self.shown_url!r})"

    def request(self, method: str, path: str, *, what: str, retry: bool, **kwargs: Any) -> requests.Response:
        def once() -> requests.Response:
            self.gate.enter()
            with self._counting:
                self.calls["read" if method == "GET" else "write"] += 1
            try:
                response = self.session.request(method, f"{self.base_url}{path}", timeout=self.timeout, **kwargs)
            except requests.Timeout:
                raise TransientError(f"{self.tracker}: {what}: no answer within {self.timeout:g} s") from None
            except requests.ConnectionError as exc:
                raise TransientError(f"{self.tracker}: {what}: cannot connect to {self.shown_url}"
                                     f" ({type(exc).__name__})") from None
            try:
                return check(response, what, self.tracker)
            except TransientError as exc:
                if exc.retry_after is not None:  # asked of every worker, not only this one
                    self.gate.hold(min(exc.retry_after, self.retry.max_wait_seconds))
                raise

        if not retry:
            return once()
        retrying = Retrying(stop=stop_after_attempt(self.retry.attempts), retry=retry_if_exception_type(TransientError),
                            wait=self._wait, sleep=self.retry.sleep, reraise=True, before_sleep=self._log)
        return retrying(once)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = getattr(error, "retry_after", None)
        wait = asked if asked is not None else self.retry.backoff_seconds * 2 ** (state.attempt_number - 1)
        if wait > self.retry.max_wait_seconds:
            # Waiting that long would stall every other tracker: give up this pass.
            raise error  # type: ignore[misc]
        return float(wait)

    def _log(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        said = str(error).removeprefix(f"{self.tracker}: ") if error is not None else "?"  # named once
        wait = state.upcoming_sleep  # what _wait chose: Retry-After, else the backoff
        log.warning("%s: %s; retrying in %g s (attempt %d of %d)", self.tracker, said, wait, state.attempt_number,
                    self.retry.attempts, extra={"adapter": self.tracker, "wait_seconds": wait,
                                                "attempt": state.attempt_number})
