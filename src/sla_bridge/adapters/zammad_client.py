"""The Zammad adapter's foundation: its state, HTTP calls, and its own user.

``ZammadClient`` is built offline (``check-config`` builds adapters to validate options
and secrets). It sends every request through ``HttpClient`` with the token registered as
a secret and error answers scrubbed of it (``_scrub_error_answer``), names the tracker
once in each message, tells a first answer that is not JSON (a wrong ``options.url``)
from one damaged on the way, and turns a 500 on a call about one ticket into that
ticket's ``SkippableError`` (``_one_ticket``).

It remembers, through ``facts`` (the store's, given by the sync before the first
request), its own user for a day (``me``); ``zammad_identity.Directory`` remembers the
other users for ``user_cache_seconds``. The layers above: ``zammad_read.ZammadReader``
(the change query and one ticket), then ``zammad.ZammadAdapter`` (writing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

import requests

from ..config import adapter_options
from ..httpclient import HttpClient, RetryPolicy
from ..identity import Person
from ..secrets import register, scrub
from .base import Facts, PermanentError, ProcessFacts, SkippableError, TransientError, looks_like_json
from .jira_facts import DAY, Memory, fingerprint
from .zammad_identity import Directory, person_from_user
from .zammad_options import ZammadOptions, field_attributes
from .zammad_parse import Malformed, MalformedAnswer, not_json, short, type_name

if TYPE_CHECKING:
    from ..config import Config, TrackerSection

log = logging.getLogger(__name__)

ME = "me"  # the fact: the API user, expanded
# What sla-bridge keeps of its own user: who it is, and the names of its roles and groups.
ME_KEYS = ("id", "login", "email", "firstname", "lastname", "organization", "organizations", "roles", "groups",
           "active")


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


def _me_fact(value: Any) -> dict[str, Any]:
    """The API user as remembered; ``Malformed`` (a ValueError) if it is not a user."""
    if not isinstance(value, dict):
        raise Malformed(f"the user is {type_name(value)} ({short(value)}), not an object")
    kept = {k: value[k] for k in ME_KEYS if k in value}
    person = person_from_user(kept)  # Malformed if it is not a user
    if not person.login or not isinstance(kept.get("roles", []), list) \
            or not isinstance(kept.get("groups", {}), dict):
        raise Malformed(f"the user has no login, or roles and groups of another form ({short(kept)})")
    return kept


class ZammadClient:
    """The state every layer shares, one HTTP call, and sla-bridge's own Zammad user."""

    def __init__(self, name: str, section: TrackerSection, config: Config, *,
                 retry: RetryPolicy | None = None) -> None:
        self.name = name
        self.section = section
        self.options = adapter_options(ZammadOptions, config, name, section)
        self.agents = tuple(section.agents)
        self.field_attributes, self.reported_at_attribute = field_attributes(section, config, name)
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
        self.gate = self.http.gate  # the pauses (and pace) every caller of the tracker keeps to
        # What is learnt about Zammad and kept between runs: the sync gives the store's facts
        # before the first request; read at first use, never here.
        self.facts: Facts = ProcessFacts()
        self.clock: Callable[[], float] = time.time  # the wall clock facts are dated with
        site = fingerprint(self.options.url, scheme)  # a digest: never the token itself
        self.memory = Memory(lambda: self.facts, site, name, lambda: self.clock())
        self._customer_of: dict[str, str] = {}  # ticket id -> customer id, from fetch
        self.directory = Directory(self._get, name, self.options.user_cache_seconds, facts=lambda: self.facts,
                                   site=site)
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
        are an agent's, and only its articles' markers count. Remembered a day (``me``)."""
        return self.memory.get(ME, DAY, self._read_me, _me_fact)

    def read_me(self) -> dict[str, Any]:
        """The API user read now (``check-config --connect`` authenticates with it), and remembered."""
        me = self._read_me()
        self.memory.keep(ME, _me_fact(me))
        return me

    def _read_me(self) -> dict[str, Any]:
        reading, self._reading = self._reading, None  # not a ticket's answer: every ticket needs it
        try:
            me = self._get("/users/me", "read the API user", expand="true")
            person_from_user(me)
            return _me_fact(me)
        except SkippableError as exc:  # 403: no credentials taken, or API token access disabled
            raise PermanentError(f"{self.name}: Zammad does not accept this token ({self._bare(exc)}); check"
                                 " that API token access is enabled (Settings > System > API)") from None
        except Malformed as exc:
            raise PermanentError(f"{self.name}: read the API user: {exc}: Zammad's /users/me answered"
                                 f" something else than a user (trackers.{self.name}.options.url:"
                                 f" {self.options.url})") from None
        finally:
            self._reading = reading

    @property
    def me_person(self) -> Person:
        try:
            return person_from_user(self.me)
        except Malformed as exc:
            raise PermanentError(f"{self.name}: read the API user: {exc}") from None

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
