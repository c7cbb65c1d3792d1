"""A seeded fault injector for every tracker adapter: it wraps ``requests.Session.send``.

``Session.send`` is what every adapter's request goes through — the Redmine and
Zammad adapters' ``HttpClient`` and the Jira adapter's ``jira`` ``ResilientSession``
(a ``Session`` subclass that does not override ``send``). Wrapping it at the class
sits *above* ``responses`` (which replaces ``HTTPAdapter.send``, one level below) and
works as well against a real HTTP server on loopback (``benchmarks/fake_redmine.py``).

With probability ``rate`` a request fails, in one of these ways (``KINDS``):

- ``429``: refused before the server sees it, ``Retry-After`` in seconds;
- ``500`` / ``503``: refused before the server sees it (a gateway, an overloaded node);
- ``reset_before``: the connection is reset before the request reaches the server;
- ``reset_after``: the server receives and **applies** the request, then the
  connection is reset: the answer is lost (the hardest case for a write);
- ``timeout``: the server applies the request, the answer does not come in time
  (``requests.ReadTimeout``);
- ``truncated``: the server answers 2xx, and the body arrives cut in the middle (a
  proxy closing early): the JSON does not parse. A body-less answer (204) cannot be
  cut; it is then passed through and counted as ``truncated (no body)``.

The choice is a ``random.Random(seed)`` drawn once per request, in the order the
requests are sent: a single-threaded sync against a deterministic fake makes the
same requests in the same order, so one seed gives one run.

Nothing sleeps: an adapter's waits go through its ``RetryPolicy(sleep=...)``, and a
``Retry-After`` is only a header.
"""

from __future__ import annotations

import http
import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.structures import CaseInsensitiveDict

KINDS: dict[str, float] = {  # kind -> weight
    "429": 1.0,
    "500": 1.0,
    "503": 1.0,
    "reset_before": 1.0,
    "reset_after": 1.5,
    "timeout": 1.0,
    "truncated": 1.0,
}
APPLIED = frozenset({"reset_after", "timeout", "truncated"})  # the server acted on these


@dataclass(frozen=True)
class Sent:
    """One request the injector saw, and what it did to it (``None``: passed through)."""

    number: int
    method: str
    path: str
    fault: str | None
    comment: bool = False  # the request carries an idempotency marker: a reminder or closure notice


@dataclass
class FaultInjector:
    """Install with ``with injector.installed():`` (or ``install()`` / ``uninstall()``).

    ``only(request)`` limits the faults to some requests (default: all but
    ``/__bench/`` control calls); ``enabled = False`` lets everything through (the
    fault-free end of a scenario) while still counting requests.
    """

    seed: int
    rate: float = 0.2
    kinds: dict[str, float] = field(default_factory=lambda: dict(KINDS))
    only: Callable[[requests.PreparedRequest], bool] = lambda r: "/__bench/" not in (r.url or "")
    retry_after: tuple[int, ...] = (1, 2, 5, 30)
    enabled: bool = True

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.sent: list[Sent] = []
        self.faults: Counter[str] = Counter()
        self.requests = 0  # every request seen (faulted or not), for per-pass budgets
        self._original: Any = None

    # --- installing ----------------------------------------------------------------

    def install(self) -> None:
        assert self._original is None, "already installed"
        original = requests.Session.send
        injector = self

        def send(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            return injector._send(original, session, request, **kwargs)

        self._original = original
        requests.Session.send = send  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        if self._original is not None:
            requests.Session.send = self._original  # type: ignore[method-assign]
            self._original = None

    @contextmanager
    def installed(self) -> Iterator[FaultInjector]:
        self.install()
        try:
            yield self
        finally:
            self.uninstall()

    # --- what happened ---------------------------------------------------------------

    def summary(self) -> str:
        total = sum(self.faults.values())
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items()))
        return f"{self.requests} requests, {total} faults ({kinds or 'none'})"

    def applied_writes_lost(self) -> list[Sent]:
        """Writes the server applied whose answer was lost or unreadable."""
        return [s for s in self.sent if s.fault in APPLIED and s.method != "GET"]

    def comments_lost(self) -> list[Sent]:
        """Reminders and closure notices the server posted whose answer was lost: the hardest case."""
        return [s for s in self.applied_writes_lost() if s.comment]

    # --- the fault ------------------------------------------------------------------

    def draw(self) -> str | None:
        """The next fault, or None. Two draws per request whatever the outcome: deterministic."""
        roll, pick = self.rng.random(), self.rng.random()
        if roll >= self.rate:
            return None
        total = sum(self.kinds.values())
        acc = 0.0
        for kind, weight in self.kinds.items():
            acc += weight / total
            if pick < acc:
                return kind
        return next(reversed(self.kinds))

    def _send(self, original: Any, session: requests.Session, request: requests.PreparedRequest,
              **kwargs: Any) -> requests.Response:
        if not self.only(request):
            return original(session, request, **kwargs)  # type: ignore[no-any-return]
        self.requests += 1
        fault = self.draw() if self.enabled else None
        method = request.method or "?"
        path = urlsplit(request.url or "").path
        body = request.body
        comment = (b"sla-bridge:" in body if isinstance(body, bytes)
                   else "sla-bridge:" in body if isinstance(body, str) else False)
        self.sent.append(Sent(self.requests, method, path, fault, comment))
        if fault is None:
            return original(session, request, **kwargs)  # type: ignore[no-any-return]
        if fault == "429":
            self.faults[fault] += 1
            seconds = self.rng.choice(self.retry_after)
            return _response(request, 429, {"Retry-After": str(seconds)},
                             {"errorMessages": ["Rate limit exceeded."], "error": "Too Many Requests"})
        if fault in ("500", "503"):
            self.faults[fault] += 1
            return _response(request, int(fault), {}, {"errors": [f"injected {fault}"]})
        if fault == "reset_before":
            self.faults[fault] += 1
            raise requests.ConnectionError(ConnectionResetError(104, "Connection reset by peer"), request=request)
        response = original(session, request, **kwargs)  # the server acts
        if fault == "reset_after":
            self.faults[fault] += 1
            raise requests.ConnectionError(ConnectionResetError(104, "Connection reset by peer"), request=request)
        if fault == "timeout":
            self.faults[fault] += 1
            raise requests.ReadTimeout("Read timed out. (injected)", request=request)
        assert fault == "truncated"
        content = response.content
        if response.status_code >= 300 or len(content) < 2:
            self.faults["truncated (no body)"] += 1
            return response  # type: ignore[no-any-return]
        self.faults[fault] += 1
        response._content = content[: len(content) // 2]
        response.headers["Content-Length"] = str(len(response._content))
        return response  # type: ignore[no-any-return]


def _response(request: requests.PreparedRequest, status: int, headers: dict[str, str],
              body: Any) -> requests.Response:
    """An answer made up here, as a gateway in front of the tracker would give it."""
    response = requests.Response()
    response.status_code = status
    response.reason = http.HTTPStatus(status).phrase
    response.headers = CaseInsensitiveDict({"Content-Type": "application/json; charset=utf-8", **headers})
    response._content = json.dumps(body).encode()
    response.encoding = "utf-8"
    response.url = request.url or ""
    response.request = request
    return response


class NoRealSleep(AssertionError):
    pass


def no_real_sleep(seconds: float) -> None:
    """Patched over ``time.sleep`` in these tests: a real sleep is a bug of the harness or the adapter."""
    raise NoRealSleep(f"a real sleep of {seconds} s")
