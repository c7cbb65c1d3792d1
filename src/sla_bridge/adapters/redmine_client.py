"""The Redmine adapter's foundation: options, state, HTTP calls, and what it looks up once.

``RedmineClient`` is built offline (``check-config`` builds adapters to validate options
and secrets). Its lookups (statuses, priorities, trackers, custom field names, and the
``Directory`` of people and projects) are remembered an hour through ``facts`` (the
store's, given by the sync before the first request; ``jira_facts.Memory``): an
administrator's change is seen within the hour, and a lookup that misses something (an
id or a name it does not hold) is read again at once, once per process (``relearn``).

The layers above: ``redmine_read.RedmineReader`` (one issue), ``redmine_write.RedmineWriter``
(fields, notes, the closing path), ``redmine.RedmineAdapter`` (the change query).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, NoReturn
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..config import adapter_options
from ..httpclient import HttpClient, RetryPolicy
from ..identity import Person
from ..secrets import SecretRef, register
from .base import Facts, PermanentError, ProcessFacts, SkippableError, TransientError, looks_like_json
from .jira_facts import HOUR, Memory, fingerprint
from .redmine_parse import Malformed, MalformedAnswer, need_id, not_json, objects, text, type_name
from .redmine_users import Directory

if TYPE_CHECKING:
    from ..config import Config, TrackerSection

PAGE_LIMIT = 100  # Redmine caps `limit` at 100
BUILTIN_FIELDS = {"category": "category_id", "tracker": "tracker_id"}  # field -> journal detail name
REPORTED_AT = "reported_at"
LOOKUPS = {  # fact (and the answer's key) -> (path, what)
    "issue_statuses": ("/issue_statuses.json", "list issue statuses"),
    "issue_priorities": ("/enumerations/issue_priorities.json", "list priorities"),
    "trackers": ("/trackers.json", "list trackers")}


def _names_fact(value: Any) -> dict[str, str]:
    """A remembered ``{id: name}`` list (statuses, priorities, trackers)."""
    if not isinstance(value, dict) or not value or not all(
            isinstance(k, str) and k.isdigit() and isinstance(v, str) for k, v in value.items()):
        raise TypeError("not a list of names by id")
    return dict(value)


def _field_names_fact(value: Any) -> dict[str, set[int]]:
    """Remembered custom field names (casefolded) -> ids."""
    if not isinstance(value, dict) or not all(
            isinstance(ids, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
            for ids in value.values()):
        raise TypeError("not custom field ids by name")
    return {str(name): set(ids) for name, ids in value.items()}


class RedmineOptions(BaseModel):
    """``[trackers.<name>.options]`` for ``adapter = "redmine"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    api_key: SecretRef
    projects: list[str] = []  # project identifiers (subprojects are not implied); empty: every visible project
    severity_field: str = "priority"  # "priority", or a custom field id or name
    labels_field: str | int           # custom field (multi-value list) id or name
    deadline_field: str | int | None = None  # custom field (string) id or name
    page_size: int = Field(default=PAGE_LIMIT, ge=1, le=PAGE_LIMIT)
    timeout_seconds: float = Field(default=30, gt=0)
    retries: int = Field(default=4, ge=1, le=10)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:
            host = None
        if host is None or parts.scheme not in ("http", "https") or any(c.isspace() for c in value):
            # Not echoed: a URL may carry a password (https://user:password@host).
            raise ValueError("expected Redmine's address, like https://redmine.example.com (with its sub-path if"
                             " any)")
        if parts.password:
            register(parts.password)  # never shown in a message, a log line or the store
        return value


@dataclass(frozen=True)
class FieldSource:
    """Where one ``[trackers.<name>.fields]`` entry is read: a built-in field or a custom field."""

    name: str                # the config's name, casefolded
    builtin: str | None      # "category" or "tracker"
    custom_id: int | None
    label: str               # for messages: "custom field 'Reported at' (4)"


class RedmineClient:
    """The state every layer shares, one HTTP call, and the lookups."""

    def __init__(self, name: str, section: "TrackerSection", config: "Config", *,
                 retry: RetryPolicy | None = None) -> None:
        # No HTTP here: check-config builds adapters to validate options and secrets.
        self.name = name
        self.section = section
        self.options = adapter_options(RedmineOptions, config, name, section)
        self.agents = tuple(section.agents)
        self.sla_labels = config.policy.labels.all()
        self.zone = config.calendar.zone
        self.http = HttpClient(self.options.url, {"X-Redmine-API-Key": self.options.api_key.reveal(),
                                                  "Content-Type": "application/json"}, name,
                               timeout=self.options.timeout_seconds,
                               retry=retry or RetryPolicy(attempts=self.options.retries))
        self.gate = self.http.gate  # the pauses (and pace) every caller of the tracker keeps to
        # What is learnt about Redmine and kept between runs: the sync gives the store's facts
        # before the first request; read at first use, never here.
        self.facts: Facts = ProcessFacts()
        self.clock: Callable[[], float] = time.time  # the wall clock facts are dated with
        self.memory = Memory(lambda: self.facts, fingerprint(self.options.url, self.options.api_key.reveal()), name,
                             lambda: self.clock())
        self.directory = Directory(self._get, name, about=self._get_about, memory=self.memory)
        self._sources: tuple[list[FieldSource], FieldSource | None] | None = None
        self._sources_from: dict[str, set[int]] | None = None  # the custom field names they were resolved with
        self._relearnt: set[str] = set()  # lookups read again this process after a miss
        self._answered = False  # an answer was JSON since the pass began: a non-JSON one is no wrong URL

    def __repr__(self) -> str:
        return f"RedmineAdapter({self.name!r}, {self.http.shown_url!r})"

    # --- HTTP ------------------------------------------------------------------------

    def _bare(self, exc: BaseException | str) -> str:
        """An error's text without the tracker's name it starts with: a message names it once."""
        return str(exc).removeprefix(f"{self.name}: ")

    def _call(self, method: str, path: str, what: str, retry: bool, **kwargs: Any) -> requests.Response:
        try:
            return self.http.request(method, path, what=what, retry=retry, **kwargs)
        except requests.RequestException as exc:
            # Timeouts and refused connections are HttpClient's; anything else (a broken chunked
            # answer, a redirect loop, a header requests refuses) is named by its type only: a
            # library's text may quote the request, its API key header included.
            raise TransientError(f"{self.name}: {what}: the request failed ({type(exc).__name__})") from None

    def _get(self, path: str, what: str, *, expect: tuple[str, type] | None = None, about: bool = False,
             **params: Any) -> Any:
        """A GET's decoded JSON. `expect` = (key, dict or list): the answer must be an object holding
        that. `about`: the answer concerns one issue (the issue, a user it names): a malformed one
        skips that issue (``MalformedAnswer``) instead of ending the pass."""
        response = self._call("GET", path, what, retry=True, params=params or None)
        try:
            data = response.json()
        except (ValueError, RecursionError) as exc:
            self._wrong_answer(what, f"Redmine answered HTTP {response.status_code} with"
                                     f" {not_json(response, exc)} instead of JSON", about,
                               damaged=looks_like_json(response.text))
        if expect is not None:
            key, kind = expect
            found = data.get(key) if isinstance(data, dict) else None
            if not isinstance(found, kind):
                wanted = "an object" if kind is dict else "a list"
                said = (f"Redmine's answer holds {type_name(found)} under {key!r}, not {wanted}"
                        if isinstance(data, dict)
                        else f"Redmine answered {type_name(data)}, not an object with {key!r}")
                self._wrong_answer(what, said, about)
        self._answered = True
        return data

    def _get_about(self, path: str, what: str, *, expect: tuple[str, type] | None = None, **params: Any) -> Any:
        return self._get(path, what, expect=expect, about=True, **params)

    def _wrong_answer(self, what: str, said: str, about: bool, damaged: bool = False) -> NoReturn:
        if not self._answered and not damaged:  # the pass's first request: likely not Redmine's API at all
            raise PermanentError(f"{self.name}: {what}: {said}: check that trackers.{self.name}.options.url"
                                 f" ({self.http.shown_url}) is Redmine's own address (with its sub-path if any),"
                                 " not a proxy's or a login page's")
        if about:
            raise MalformedAnswer(f"{self.name}: {what}: {said}")
        raise TransientError(f"{self.name}: {what}: {said}")

    def _malformed_lookup(self, what: str, exc: Malformed) -> TransientError:
        return TransientError(f"{self.name}: {what}: {exc}")

    # --- lookups, remembered an hour (``Memory``, in ``facts``) -----------------------------

    def _lookup(self, path: str, key: str, what: str) -> dict[str, str]:
        data = self._get(path, what, expect=(key, list))
        try:
            found: dict[str, str] = {}
            for n, item in enumerate(objects(data[key], key.replace("_", " ")), 1):
                name = text(item.get("name"), f"item {n}'s name")
                if name is None:
                    raise Malformed(f"item {n} has no name")
                found[need_id(item.get("id"), f"item {n}'s id")] = name
            return found
        except Malformed as exc:
            raise self._malformed_lookup(what, exc) from None

    def _remembered(self, key: str, path: str, what: str) -> dict[str, str]:
        """A list of ``{id, name}`` (statuses, priorities, trackers), kept an hour."""
        return self.memory.get(key, HOUR, lambda: self._lookup(path, key, what), _names_fact)

    def relearn(self, key: str) -> bool:
        """A remembered lookup missed something (an id or a name it does not hold, a workflow step
        Redmine did not take): read it again, once per process. True if it was read again."""
        if key in self._relearnt or self.memory.learnt_here(key):
            return False
        self._relearnt.add(key)
        self.memory.forget(key)
        return True

    @property
    def statuses(self) -> dict[str, str]:
        return self._remembered("issue_statuses", *LOOKUPS["issue_statuses"])

    @property
    def priorities(self) -> dict[str, str]:
        return self._remembered("issue_priorities", *LOOKUPS["issue_priorities"])

    @property
    def trackers(self) -> dict[str, str]:
        return self._remembered("trackers", *LOOKUPS["trackers"])

    def _named(self, key: str, value: str | None) -> str | None:
        """A status, priority or tracker id's name; an id the remembered list lacks reads the list again."""
        if value is None:
            return None
        found = self._remembered(key, *LOOKUPS[key]).get(value)
        if found is None and self.relearn(key):
            found = self._remembered(key, *LOOKUPS[key]).get(value)
        return found

    @property
    def me(self) -> Person:
        """sla-bridge's own API user: its notes and changes are an agent's whatever the config says."""
        return Person(id=self.directory.me_id())

    def status_id(self, name: str, what: str) -> str:
        found = next((sid for sid, known in self.statuses.items() if known.casefold() == name.casefold()), None)
        if found is None and self.relearn("issue_statuses"):
            return self.status_id(name, what)
        if found is None:
            raise PermanentError(f"{self.name}: no Redmine status named {name!r} ({what});"
                                 f" known: {', '.join(self.statuses.values())}")
        return found

    def custom_field_names(self) -> dict[str, set[int]]:
        """Issue custom field name (casefolded) -> ids, kept an hour. The full list is admin-only;
        anyone sees the fields enabled in each visible project (``/projects.json?include=issue_custom_fields``)."""
        return self.memory.get("custom_fields", HOUR, self._read_custom_field_names, _field_names_fact,
                               lambda names: {n: sorted(ids) for n, ids in names.items()})

    def _read_custom_field_names(self) -> dict[str, set[int]]:
        names: dict[str, set[int]] = {}
        try:
            data = self._get("/custom_fields.json", "list custom fields", expect=("custom_fields", list))
        except MalformedAnswer:
            raise
        except SkippableError:
            rows = [(n, int(i)) for p in self.directory.projects().values() for i, n in p.custom_fields.items()]
        else:
            try:
                rows = [(text(f.get("name"), "a custom field's name") or "",
                         int(need_id(f.get("id"), "a custom field's id")))
                        for f in objects(data["custom_fields"], "custom fields")
                        if f.get("customized_type") == "issue"]
            except Malformed as exc:
                raise self._malformed_lookup("list custom fields", exc) from None
        for field_name, field_id in rows:
            names.setdefault(str(field_name).casefold(), set()).add(int(field_id))
        return names

    def field_id(self, ref: str | int | None, what: str = "custom field") -> int | None:
        if ref is None:
            return None
        if isinstance(ref, int) or str(ref).strip().isdigit():
            return int(ref)
        ids = self.custom_field_names().get(str(ref).casefold(), set())
        if len(ids) != 1 and self.relearn_fields():  # created or renamed since it was remembered
            ids = self.custom_field_names().get(str(ref).casefold(), set())
        if len(ids) != 1:
            problem = "no issue custom field" if not ids else f"{len(ids)} issue custom fields"
            raise PermanentError(f"{self.name}: {what}: {problem} named {ref!r} visible to the API user;"
                                 " give the field's numeric id instead")
        return next(iter(ids))

    def relearn_fields(self) -> bool:
        """Read the custom field names again (and the projects, where a non-admin finds them), once."""
        if not self.relearn("custom_fields"):
            return False
        if not self.directory.memory.learnt_here("projects"):
            self.directory.memory.forget("projects")
        return True

    @property
    def labels_id(self) -> int:
        return int(self.field_id(self.options.labels_field, "labels_field") or 0)  # labels_field is required

    def field_sources(self) -> tuple[list[FieldSource], FieldSource | None]:
        """The configured fields, resolved once: (fields read into Ticket.fields, the reported_at source)."""
        names = self.custom_field_names() if any(not str(ref).strip().isdigit() and str(ref).strip().casefold()
                                                 not in BUILTIN_FIELDS for ref in self.section.fields.values()) else None
        if self._sources is None or names is not self._sources_from:  # resolved again when the names are
            self._sources_from = names
            sources, reported = [], None
            for name, ref in self.section.fields.items():
                where = f"trackers.{self.name}.fields.{name}"
                builtin = str(ref).strip().casefold() if str(ref).strip().casefold() in BUILTIN_FIELDS else None
                custom = None if builtin else self.field_id(ref, where)
                source = FieldSource(name.casefold(), builtin, custom,
                                     f"Redmine's {builtin}" if builtin else f"custom field {ref!r}")
                if name.casefold() == REPORTED_AT:
                    if builtin:
                        raise PermanentError(f"{self.name}: {where}: reported_at must be a custom field"
                                             " holding a date or an ISO 8601 instant, not the " + builtin)
                    reported = source
                else:
                    sources.append(source)
            self._sources = (sources, reported)
        return self._sources
