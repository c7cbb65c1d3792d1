"""The Redmine adapter (Redmine 5 REST API, JSON, ``requests``).

Where sla-bridge's fields live in Redmine:
- severity: the issue's priority (default) or a custom field;
- due date: Redmine's own ``due_date`` (a date); Redmine refuses one before the
  issue's start date (422), and then the other fields are still written;
- SLA labels: a multi-value *list* custom field (its possible values must hold
  every SLA label of the config);
- the exact deadline: a *string* custom field holding an ISO 8601 instant;
- reminders and the closure notice: journal notes (public or private);
- closure: ``status_id``. Redmine ignores a status change its workflow forbids and
  still answers 204, so the next step is chosen from the issue's
  ``allowed_statuses`` (Redmine 5.0+): the closing status directly, else through a
  *resolved* status; every step is read back.

People are looked up by id (``redmine_users``): the reporter and each journal's
author get their login, e-mail, groups and project roles, and the configured
agents (identity patterns) say who is support staff; sla-bridge's own API user is
always an agent. Fields named in ``[trackers.<name>.fields]`` (category, tracker,
custom fields) are read into ``Ticket.fields``, their journal changes into
``FieldChange`` events. ``check_connection`` lives in ``redmine_checks``.

Hostile or broken answers (``redmine_parse``): an answer about one issue (the issue,
a user it names) that is not JSON (truncated, an HTML page) or not shaped like
Redmine's is that issue's ``SkippableError``, naming it and what was wrong; only the
pass's first request suggests checking ``options.url``. A change-query row with an
unreadable ``updated_on`` is yielded with its ``problem``. Paging that makes no
progress (a server ignoring the bound or the offset, stamps moving as they are read)
ends the pass within a few requests (``keyset_pages`` and ``Progress``). The API key is in no message: an
error body echoing it is masked, a ``requests`` error is named by its type only.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterator, NoReturn
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..actions import PostComment, SetDueDate, SetLabels
from ..config import adapter_options
from ..secrets import SecretRef
from ..hookspecs import hookimpl
from ..httpclient import HttpClient, RetryPolicy
from ..identity import Person
from ..model import Comment, Event, FieldChange, LabelChange, SeverityChange, StatusChange, Ticket
from ..secrets import register
from .base import (
    ChangedTicket, Check, FieldRefused, PermanentError, SkippableError, TransientError, keyset_pages, looks_like_json,
    person_role,
)
from .redmine_parse import (
    Malformed, MalformedAnswer, Progress, in_range, issue_rows, need_id, not_json, obj, objects, optional_date,
    optional_time, parse_id, parse_time, short, text, type_name,
)
from .redmine_users import Directory

if TYPE_CHECKING:
    from ..config import Config, TrackerSection
    from ..plugins import AdapterRegistry

PAGE_LIMIT = 100  # Redmine caps `limit` at 100
GROUP_SPAN = timedelta(seconds=2)  # a group read by id covers `> bound - 1 s` to `bound + 1 s`: resume past it
MAX_STEPS = 3     # status changes one closure may take (direct, or through resolved statuses)
BUILTIN_FIELDS = {"category": "category_id", "tracker": "tracker_id"}  # field -> journal detail name
REPORTED_AT = "reported_at"


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


def _redmine_time(t: datetime) -> str:
    """Redmine's filter wants UTC with ``Z`` (``+00:00`` is rejected)."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_reported(value: str, zone: ZoneInfo) -> datetime:
    """An ISO 8601 instant; a bare date or a datetime without offset is read in the calendar's zone."""
    # A bare date reads as its midnight: the clocks then start at that day's first opening.
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))  # ValueError if malformed
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


class RedmineAdapter:
    adapter_type = "redmine"
    stamp_precision = timedelta(seconds=1)  # `updated_on` keeps whole seconds
    # Redmine 5 sets no limit on a note: ``Journal`` validates no length, and ``journals.notes``
    # is a ``text`` column (SQLite, PostgreSQL: unbounded; MySQL: LONGTEXT, from the
    # 20161010081600 migration's 16 MB, which Rails maps to LONGTEXT). Nothing to cut to.
    max_comment_length: int | None = None

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
        self.directory = Directory(self._get, name, about=self._get_about)
        self._statuses: dict[str, str] | None = None
        self._priorities: dict[str, str] | None = None
        self._trackers: dict[str, str] | None = None
        self._field_names: dict[str, set[int]] | None = None
        self._sources: tuple[list[FieldSource], FieldSource | None] | None = None
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

    # --- lookups, read once per adapter instance --------------------------------------

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

    @property
    def statuses(self) -> dict[str, str]:
        if self._statuses is None:
            self._statuses = self._lookup("/issue_statuses.json", "issue_statuses", "list issue statuses")
        return self._statuses

    @property
    def priorities(self) -> dict[str, str]:
        if self._priorities is None:
            self._priorities = self._lookup("/enumerations/issue_priorities.json", "issue_priorities",
                                            "list priorities")
        return self._priorities

    @property
    def trackers(self) -> dict[str, str]:
        if self._trackers is None:
            self._trackers = self._lookup("/trackers.json", "trackers", "list trackers")
        return self._trackers

    @property
    def me(self) -> Person:
        """sla-bridge's own API user: its notes and changes are an agent's whatever the config says."""
        return Person(id=self.directory.me_id())

    def status_id(self, name: str, what: str) -> str:
        found = next((sid for sid, known in self.statuses.items() if known.casefold() == name.casefold()), None)
        if found is None:
            raise PermanentError(f"{self.name}: no Redmine status named {name!r} ({what});"
                                 f" known: {', '.join(self.statuses.values())}")
        return found

    def custom_field_names(self) -> dict[str, set[int]]:
        """Issue custom field name (casefolded) -> ids. The full list is admin-only; anyone sees the
        fields enabled in each visible project (``/projects.json?include=issue_custom_fields``)."""
        if self._field_names is None:
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
            self._field_names = names
        return self._field_names

    def field_id(self, ref: str | int | None, what: str = "custom field") -> int | None:
        if ref is None:
            return None
        if isinstance(ref, int) or str(ref).strip().isdigit():
            return int(ref)
        ids = self.custom_field_names().get(str(ref).casefold(), set())
        if len(ids) != 1:
            problem = "no issue custom field" if not ids else f"{len(ids)} issue custom fields"
            raise PermanentError(f"{self.name}: {what}: {problem} named {ref!r} visible to the API user;"
                                 " give the field's numeric id instead")
        return next(iter(ids))

    @property
    def labels_id(self) -> int:
        return int(self.field_id(self.options.labels_field, "labels_field") or 0)  # labels_field is required

    def field_sources(self) -> tuple[list[FieldSource], FieldSource | None]:
        """The configured fields, resolved once: (fields read into Ticket.fields, the reported_at source)."""
        if self._sources is None:
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

    # --- reading ---------------------------------------------------------------------

    def changed_since(self, cursor: datetime | None) -> Iterator[ChangedTicket]:
        """Issues updated at or after `cursor`, oldest first (keyset paging, see base).

        A row whose ``updated_on`` cannot be read is yielded with ``updated=None`` and its
        ``problem``. Paging that makes no progress ends with a ``TransientError`` naming the
        tracker (``Progress``)."""
        self._answered = False  # the pass begins: its first request is the next one
        progress = Progress(self.name)
        try:
            yield from keyset_pages(lambda bound, offset: self._changed_page(bound, offset, progress), cursor,
                                    self.options.page_size, resolution=timedelta(seconds=1),
                                    group=lambda bound, after: self._changed_page(bound, 0, progress, after,
                                                                                  group=True),
                                    group_span=GROUP_SPAN)
        except SkippableError as exc:  # a refused query (403, 404, 422) concerns every issue
            raise PermanentError(f"{self.name}: cannot list changed issues: {self._bare(exc)}: check"
                                 f" trackers.{self.name}.options.url ({self.http.shown_url}) and options.projects,"
                                 " that the REST API is enabled (Administration > Settings > API) and that the"
                                 " API user may view the issues") from None
        except TransientError as exc:
            if str(exc).startswith(f"{self.name}: "):
                raise
            raise TransientError(f"{self.name}: {exc}", exc.retry_after) from None

    def _changed_page(self, bound: datetime | None, offset: int, progress: Progress, after: str | None = None, *,
                      group: bool = False) -> list[ChangedTicket]:
        """One page of the change query; with `group`, the issues stamped at `bound` by id (see base)."""
        size = self.options.page_size
        params: dict[str, Any] = {"sort": "updated_on,id", "limit": size, "offset": offset}
        # Redmine reads `>= t` as `updated_on > t - 1 s` and `><a|b` as `> a - 1 s and <= b`, on
        # stamps it keeps finer than the seconds it shows: the group of issues shown at `bound`
        # is `><bound|bound + 1 s`, by id; the query resumes at `>= bound + 2 s` (GROUP_SPAN).
        filters: list[tuple[str, str, list[str]]] = []
        if group:
            assert bound is not None
            params["sort"] = "id"
            filters.append(("updated_on", "><", [_redmine_time(bound), _redmine_time(bound + timedelta(seconds=1))]))
            if after is not None:
                filters.append(("issue_id", ">=", [str(int(after) + 1)]))
        elif bound is not None:
            filters.append(("updated_on", ">=", [_redmine_time(bound)]))
        if not self.options.projects:
            params["status_id"] = "*"
            for name, op, values in filters:  # the short form: `updated_on=><a|b`, `issue_id=>=n`
                params[name] = op + "|".join(values)
        else:
            # `project_id=a,b` answers 404 (it names one project, and brings its subprojects):
            # several projects need the generic filter syntax, which takes project ids.
            params.update({"set_filter": 1, "f[]": ["status_id", "project_id"], "op[status_id]": "*",
                           "op[project_id]": "=", "v[project_id][]": self._project_ids()})
            for name, op, values in filters:
                params["f[]"].append(name)
                params.update({f"op[{name}]": op, f"v[{name}][]": values})
        first = not self._answered
        where = f"offset {offset}" + (f", updated since {_redmine_time(bound)}" if bound is not None else "")
        data = self._get("/issues.json", "list changed issues", expect=("issues", list), **params)
        rows, problems = issue_rows(data)
        if problems:
            problem = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
            if first:
                raise PermanentError(f"{self.name}: cannot list changed issues: {problem} ({where}): is"
                                     f" trackers.{self.name}.options.url ({self.http.shown_url}) a Redmine 5?")
            raise TransientError(f"{self.name}: the change query's answer ({where}) is not a list of issues:"
                                 f" {problem}; the next pass reads it again")
        limit, total = data.get("limit"), data.get("total_count")
        if (isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < size and len(rows) >= limit
                and isinstance(total, int) and total > offset + len(rows)):
            # Taken for the last page, it would end the list here and miss every issue after it.
            raise PermanentError(f"{self.name}: Redmine answered {len(rows)} issues of {total} although {size}"
                                 f" were asked ({where}): something in front of it caps pages at {limit}; set"
                                 f" trackers.{self.name}.options.page_size = {limit}")
        progress.page(bound, rows)
        return rows

    def _project_ids(self) -> list[str]:
        ids = []
        for identifier in self.options.projects:
            project = self.directory.by_identifier(identifier)
            if project is None:
                raise PermanentError(f"{self.name}: project {identifier!r} (options.projects) does not exist"
                                     " or is not visible to the API user")
            ids.append(project.id)
        return ids

    def fetch(self, ticket_id: str) -> Ticket:
        if parse_id(ticket_id) != ticket_id:  # it goes into a URL
            raise SkippableError(f"{self.name}: {short(ticket_id)} is not a Redmine issue id")
        with self._about_issue(ticket_id):
            data = self._get_about(f"/issues/{ticket_id}.json", f"read issue {ticket_id}", expect=("issue", dict),
                                   include="journals")
            return self.parse(ticket_id, data)

    @contextmanager
    def _about_issue(self, ticket_id: str) -> Iterator[None]:
        """A malformed answer about this issue (or a user it names) names the issue, once."""
        try:
            yield
        except MalformedAnswer as exc:
            text_ = self._bare(exc)
            where = "" if f"issue {ticket_id}" in text_ else f"issue {ticket_id}: "
            raise MalformedAnswer(f"{self.name}: {where}{text_}") from None

    def parse(self, ticket_id: str, data: Any) -> Ticket:
        """``GET /issues/:id.json?include=journals``'s answer as a Ticket; ``MalformedAnswer`` naming
        the issue and what is wrong when it is not shaped like Redmine's (never another error)."""
        try:
            issue = obj(data, "the answer").get("issue")
            if not isinstance(issue, dict):
                raise Malformed(f"the answer holds {type_name(issue)} under 'issue', not an issue")
            found = parse_id(issue.get("id"))
            if found != ticket_id:
                raise Malformed(f"the answer is about issue {short(issue.get('id'))}")
            return self.to_ticket(issue)
        except Malformed as exc:
            raise MalformedAnswer(f"{self.name}: issue {ticket_id}: {exc}") from None
        except RecursionError:
            raise MalformedAnswer(f"{self.name}: issue {ticket_id}: the answer is nested too deeply") from None

    def _custom(self, issue: dict[str, Any], field_id: int | None) -> Any:
        if field_id is None:
            return None
        for field in objects(issue.get("custom_fields"), "custom_fields"):
            if parse_id(field.get("id")) == str(field_id):
                return field.get("value")
        return None

    def to_ticket(self, issue: dict[str, Any]) -> Ticket:
        """One Redmine issue (with journals) in the common model; ``Malformed`` if it is not shaped
        like Redmine's."""
        severity_cf = None if self.options.severity_field == "priority" else self.field_id(self.options.severity_field)
        deadline_cf = self.field_id(self.options.deadline_field, "deadline_field")
        ticket_id = need_id(issue.get("id"), "id")
        raw_project = obj(issue.get("project"), "project").get("id")
        project_id = need_id(raw_project, "project id") if raw_project is not None else None
        project = self.directory.project(project_id) if project_id is not None else None
        events = [event for n, journal in enumerate(objects(issue.get("journals"), "journals"), 1)
                  for event in self._journal_events(journal, n, project_id, severity_cf)]
        status = text(obj(issue.get("status"), "status").get("name"), "status name")
        if status is None:
            raise Malformed("it has no status")
        return Ticket(
            tracker=self.name, id=ticket_id, title=text(issue.get("subject"), "subject") or "",
            reporter=self.directory.person(obj(issue.get("author"), "author") or None, project_id),
            created=parse_time(issue.get("created_on"), "created_on"),
            status=status, severity=self._severity(issue, severity_cf),
            labels=frozenset(self._values(self._custom(issue, self.labels_id), "the labels field")),
            due_date=optional_date(issue.get("due_date"), "due_date"),
            due_at=self._deadline(issue, deadline_cf),
            fix_version=text(obj(issue.get("fixed_version"), "fixed_version").get("name"), "fixed_version name"),
            type=text(obj(issue.get("tracker"), "tracker").get("name"), "tracker name"),
            updated=optional_time(issue.get("updated_on"), "updated_on"),
            events=tuple(events),
            project=project.identifier if project is not None else None,
            fields=self._field_values(issue),
            reported_at=self._reported_at(issue),
        )

    @staticmethod
    def _values(value: Any, what: str) -> list[str]:
        """A custom field's value as a list of texts (a multi-value field gives several)."""
        values = value if isinstance(value, list) else [value]
        out = []
        for v in values:
            found = text(v, what)
            if found is not None:
                out.append(found)
        return out

    def _severity(self, issue: dict[str, Any], severity_cf: int | None) -> str | None:
        if severity_cf is None:
            return text(obj(issue.get("priority"), "priority").get("name"), "priority name")
        values = self._values(self._custom(issue, severity_cf), "the severity field")
        return values[0] if values else None

    def _deadline(self, issue: dict[str, Any], deadline_cf: int | None) -> datetime | None:
        """The deadline field, which sla-bridge writes: unreadable (a person typed over it), it is
        taken as empty, and the sync writes it again."""
        if deadline_cf is None:
            return None
        values = self._values(self._custom(issue, deadline_cf), "the deadline field")
        try:
            return parse_time(values[0], "the deadline field") if values else None
        except Malformed:
            return None

    def _field_values(self, issue: dict[str, Any]) -> frozenset[tuple[str, str]]:
        pairs: set[tuple[str, str]] = set()
        for source in self.field_sources()[0]:
            if source.builtin:
                value: Any = obj(issue.get(source.builtin), source.builtin).get("name")
            else:
                value = self._custom(issue, source.custom_id)
            pairs.update((source.name, v) for v in self._values(value, source.label))
        return frozenset(pairs)

    def _reported_at(self, issue: dict[str, Any]) -> datetime | None:
        source = self.field_sources()[1]
        value = self._custom(issue, source.custom_id) if source is not None else None
        if source is None or value in (None, ""):
            return None
        try:
            if not isinstance(value, str):
                raise ValueError
            return in_range(parse_reported(value, self.zone), f"{source.label} (reported_at)", value)
        except ValueError:
            raise MalformedAnswer(f"{self.name}: issue {issue.get('id')}: {source.label} (reported_at) holds"
                                  f" {short(value)}, not a date or an ISO 8601 instant such as"
                                  " 2025-06-02T14:30+02:00") from None

    def _journal_events(self, journal: dict[str, Any], n: int, project_id: str | None,
                        severity_cf: int | None) -> list[Event]:
        """One journal: its details (status, priority, labels, configured fields) and its note."""
        where = f"journal {short(journal.get('id'))}" if parse_id(journal.get("id")) else f"journal {n}"
        at = parse_time(journal.get("created_on"), f"{where}: created_on")
        person = self.directory.person(obj(journal.get("user"), f"{where}: user") or None, project_id)
        by = str(person) if person else None  # shown in explanations only
        role = person_role(person, self.agents, self.me)
        events: list[Event] = []
        labels_cf = str(self.labels_id)
        for d in objects(journal.get("details"), f"{where}: details"):
            prop = text(d.get("property"), f"{where}: a detail's property")
            name = str(text(d.get("name"), f"{where}: a detail's name"))
            old = text(d.get("old_value"), f"{where}: {name}'s old value")
            new = text(d.get("new_value"), f"{where}: {name}'s new value")
            if prop == "attr" and name == "status_id":
                if new is None:
                    raise Malformed(f"{where}: a status change to no status")
                events.append(StatusChange(at, self.statuses.get(old) if old else None, self.statuses.get(new, new),
                                           by, role))
            elif prop == "attr" and name == "priority_id" and severity_cf is None:
                events.append(SeverityChange(at, self.priorities.get(str(old)), self.priorities.get(str(new)), by))
            elif prop == "cf" and severity_cf is not None and name == str(severity_cf):
                events.append(SeverityChange(at, old, new, by))
            elif prop == "cf" and name == labels_cf:  # one detail per value added or removed
                if new:
                    events.append(LabelChange(at, new, True, by))
                if old:
                    events.append(LabelChange(at, old, False, by))
            events += self._field_changes(at, prop, name, old, new, by, project_id)
        notes = text(journal.get("notes"), f"{where}: notes")
        private = journal.get("private_notes", False)
        if not isinstance(private, bool) and private is not None:
            raise Malformed(f"{where}: private_notes is {type_name(private)} ({short(private)}), not a boolean")
        if notes:
            own = person is not None and person.id == self.me.id  # only then do its markers count
            events.append(Comment(at, by, role, not private, notes, own))
        return events

    def _field_changes(self, at: datetime, prop: str | None, name: str, old: str | None, new: str | None,
                       by: str | None, project_id: str | None) -> list[Event]:
        changes: list[Event] = []
        for source in self.field_sources()[0]:
            if source.builtin and prop == "attr" and name == BUILTIN_FIELDS[source.builtin]:
                if source.builtin == "category":  # details carry ids; a deleted category keeps "#id"
                    old, new = (self.directory.category_name(project_id, v) for v in (old, new))
                else:
                    old, new = (self.trackers.get(v, f"#{v}") if v else None for v in (old, new))
                changes.append(FieldChange(at, source.name, old or None, new or None, by))
            elif source.custom_id is not None and prop == "cf" and name == str(source.custom_id):
                changes.append(FieldChange(at, source.name, old or None, new or None, by))
        return changes

    # --- writing ---------------------------------------------------------------------

    def _put(self, ticket_id: str, fields: dict[str, Any], what: str, retry: bool) -> None:
        self._call("PUT", f"/issues/{ticket_id}.json", what, retry, json={"issue": fields})

    def apply_fields(self, ticket: Ticket, due: SetDueDate | None, labels: SetLabels | None) -> None:
        """Due date, deadline and SLA labels in one PUT (safe to retry: it sets values).

        Redmine validates the whole issue: a due date before the start date answers
        422 and writes nothing. The labels and the deadline must not wait for a person
        to fix the start date, so they are written without the due date, and the
        refusal is reported once (``FieldRefused``)."""
        fields: dict[str, Any] = {}
        custom: list[dict[str, Any]] = []
        if due is not None:
            fields["due_date"] = due.due_date.isoformat() if due.due_date else ""
            deadline_cf = self.field_id(self.options.deadline_field, "deadline_field")
            if deadline_cf is not None:
                custom.append({"id": deadline_cf, "value": due.due_at.isoformat() if due.due_at else ""})
        if labels is not None:
            values = sorted((ticket.labels - labels.remove) | labels.add)
            custom.append({"id": self.labels_id, "value": values or [""]})  # [""] clears a multi-value field
        if custom:
            fields["custom_fields"] = custom
        if not fields:
            return
        try:
            self._put(ticket.id, fields, f"update issue {ticket.id}", retry=True)
        except SkippableError as refused:
            try:
                start = self._refused_start_date(ticket.id, fields.get("due_date"))
            except SkippableError:
                start = None
            if start is None:
                raise refused from None
            rest = {k: v for k, v in fields.items() if k != "due_date"}
            if rest:
                self._put(ticket.id, rest, f"update issue {ticket.id} without its due date", retry=True)
            reason = str(refused).split(": HTTP 422: ", 1)[-1]
            raise FieldRefused(f"{self.name}: issue {ticket.id}: Redmine refused the due date {fields['due_date']}"
                               f" ({reason}; the issue starts on {start.isoformat()})"
                               + ("; the other fields were written" if rest else ""), "due_date") from None

    def _refused_start_date(self, ticket_id: str, due_text: Any) -> date | None:
        """The issue's start date if it is after the due date we sent: the known cause of a 422.
        Read rather than matched in the message, which Redmine translates to the API user's language."""
        if not due_text:
            return None
        issue = self._get_about(f"/issues/{ticket_id}.json", f"read issue {ticket_id}", expect=("issue", dict))["issue"]
        try:
            start_date = optional_date(issue.get("start_date"), "start_date")
        except Malformed:
            return None
        return start_date if start_date is not None and date.fromisoformat(due_text) < start_date else None

    def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
        self._check_note_permissions(ticket, comment.public)
        # Never retried: a second attempt after a lost answer would add the note twice.
        self._put(ticket.id, {"notes": comment.body, "private_notes": not comment.public},
                  f"add a note to issue {ticket.id}", retry=False)

    def _check_note_permissions(self, ticket: Ticket, public: bool) -> None:
        """Redmine answers 204 yet drops ``notes`` without "Add notes", and drops ``private_notes``
        without "Set notes as private", publishing the note: an internal note must never reach
        the customer so, and a dropped reminder would be taken for sent."""
        if self.directory.me_admin() or ticket.project is None:
            return
        project = self.directory.by_identifier(ticket.project)
        permissions = self.directory.my_permissions(project.id) if project is not None else None
        if permissions is None:
            return  # a role's permissions not readable: Redmine answers as it does
        needed = [("add_issue_notes", "Add notes", "would drop the note")]
        if not public:
            needed.append(("set_notes_private", "Set notes as private", "would publish this internal note"))
        for permission, label, why in needed:
            if permission not in permissions:
                raise SkippableError(f"{self.name}: issue {ticket.id}: the API user lacks \"{label}\" in project"
                                     f" {ticket.project!r}: Redmine {why}; give its role that permission")

    def transition(self, ticket: Ticket, to_status: str) -> None:
        """Move the issue to `to_status` along the API user's workflow: directly when allowed, else
        through a status mapped to ``resolved``; each step read back (Redmine ignores a forbidden one)."""
        target = self.status_id(to_status, "closing_status")
        resolved = [sid for sid, name in self.statuses.items()
                    if name.casefold() in {r.casefold() for r in self.section.statuses.resolved}]
        issue = self._read_allowed(ticket.id)
        taken: list[str] = []
        for _ in range(MAX_STEPS):
            current = str(issue["status"]["id"])
            if current == target:
                return
            allowed = issue.get("allowed_statuses")
            allowed_ids = [str(s["id"]) for s in allowed] if allowed is not None else None
            if allowed_ids is None or target in allowed_ids:  # before 5.0 Redmine lists none: try, read back
                step: str | None = target
            else:
                step = next((s for s in resolved if s in allowed_ids and s != current and s not in taken), None)
            if step is None:
                names = ", ".join(s["name"] for s in allowed or [] if str(s["id"]) != current) or "none"
                via = f" (it was moved through {', '.join(self.statuses[s] for s in taken)})" if taken else ""
                raise SkippableError(
                    f"{self.name}: issue {ticket.id}: no workflow path to {to_status!r} for the API user from"
                    f" {issue['status']['name']!r}{via}: the statuses it may set are {names}; allow"
                    f" {issue['status']['name']} -> {to_status}, or a step through a resolved status, for the"
                    f" API user's role and tracker {(issue.get('tracker') or {}).get('name')!r}"
                    " (Administration > Workflow)")
            self._put(ticket.id, {"status_id": int(step)}, f"move issue {ticket.id} to {self.statuses[step]}",
                      retry=True)
            issue = self._read_allowed(ticket.id)
            if str(issue["status"]["id"]) != step:
                raise SkippableError(f"{self.name}: issue {ticket.id}: Redmine kept status"
                                     f" {issue['status']['name']!r} instead of {self.statuses[step]!r}: its workflow"
                                     " does not let the API user make this change (Administration > Workflow)")
            taken.append(step)
        if str(issue["status"]["id"]) != target:
            raise SkippableError(f"{self.name}: issue {ticket.id}: still {issue['status']['name']!r} after"
                                 f" {MAX_STEPS} status changes towards {to_status!r}")

    def _read_allowed(self, ticket_id: str) -> dict[str, Any]:
        """The issue with its ``allowed_statuses``, checked: ``status`` is ``{id, name}``, and
        ``allowed_statuses`` absent (before 5.0) or a list of ``{id, name}``."""
        with self._about_issue(ticket_id):
            issue: dict[str, Any] = self._get_about(f"/issues/{ticket_id}.json", f"read issue {ticket_id}",
                                                    expect=("issue", dict), include="allowed_statuses")["issue"]
            try:
                def status(value: Any, what: str) -> dict[str, str]:
                    found = obj(value, what)
                    name = text(found.get("name"), f"{what} name")
                    if not found or name is None:
                        raise Malformed(f"{what} {short(value)} is not a status with an id and a name")
                    return {"id": need_id(found.get("id"), f"{what} id"), "name": name}

                allowed = issue.get("allowed_statuses")
                issue = {**issue, "status": status(issue.get("status"), "status"),
                         "tracker": obj(issue.get("tracker"), "tracker"),
                         "allowed_statuses": None if allowed is None else
                         [status(s, "an allowed status") for s in objects(allowed, "allowed_statuses")]}
            except Malformed as exc:
                raise MalformedAnswer(f"{self.name}: issue {ticket_id}: {exc}") from None
        return issue

    # --- checks ----------------------------------------------------------------------

    def check_connection(self) -> list[Check]:
        """Read-only: what the configuration names, found or not (see ``redmine_checks``)."""
        from .redmine_checks import run_checks

        return run_checks(self)


@hookimpl
def sla_bridge_register_adapters(registry: "AdapterRegistry") -> None:
    registry.add("redmine", RedmineAdapter)
