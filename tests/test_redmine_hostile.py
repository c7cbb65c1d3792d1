"""A hostile or broken Redmine (issue "Hardening"): the API key never leaks, a broken answer costs
one issue, paging that goes nowhere stops, a bad ``updated_on`` costs its row only, messages name
the tracker once.

The end-to-end tests drive the real ``Syncer`` against ``FakeRedmine`` below (a small Redmine 5
over ``responses``, shaped like the answers in ``test_redmine_adapter``); the property tests
feed the parsers arbitrary and malformed JSON.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import tomllib
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from hypothesis import given, strategies as st
from test_redmine_adapter import (
    GROUP, JOURNALS, MEMBERSHIPS, PRIORITIES, PROJECTS, STATUSES, SUPPORT_ROLE, TRACKERS, URL, USERS, issue, journal,
    make_adapter, user,
)

import hostile_json
from sla_bridge.adapters.base import ChangedTicket, PermanentError, SkippableError, TransientError
from sla_bridge.adapters.redmine import RedmineAdapter
from sla_bridge.adapters.redmine_parse import Progress, issue_rows
from sla_bridge.config import Config
from sla_bridge.demo import builtin_config, example_config_text
from sla_bridge.httpclient import RetryPolicy
from sla_bridge.identity import Person
from sla_bridge.model import Comment, Ticket, ticket_to_json
from sla_bridge.plugins import build_plugin_manager
from sla_bridge.store import Store
from sla_bridge.sync import Syncer

MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
SECRET = "rM7-sla-bridge-K3Y-9d1f0c2b8e7a4f35e0"  # distinctive: found wherever it leaks
ECHO = f"X-Redmine-API-Key: {SECRET} (bare: {SECRET})"
ME = 10  # sla-bot, the API user (not an administrator)

SECTION: dict[str, Any] = {
    "adapter": "redmine", "closing_status": "Closed", "comment_visibility": "public",
    "agents": ["login:agent", "group:Support Team", "role:Support"],
    "severities": {"Immediate": "bloquante", "Urgent": "bloquante", "High": "majeure", "Normal": "mineure",
                   "Low": "mineure"},
    "statuses": {"new": ["New"], "in_progress": ["In Progress"], "waiting_for_customer": ["Feedback"],
                 "resolved": ["Resolved"], "closed": ["Closed", "Rejected"]},
    "options": {"url": URL, "api_key": {"env": "SLA_BRIDGE_REDMINE_KEY"}, "labels_field": 1, "deadline_field": 2},
}


class TooManyListings(BaseException):
    """The fake stops a change query that would never end (a BaseException: nothing catches it)."""


def stamp(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WallClock:
    def __init__(self, now: str) -> None:
        self.now = datetime.fromisoformat(now)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta = SECOND) -> datetime:
        self.now += delta
        return self.now


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    body: Any = None
    text: str | None = None
    error: BaseException | None = None
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)


class FakeRedmine:
    """Redmine 5's REST API as the adapter uses it, over ``responses``: issues listed by
    ``updated_on`` (``>=`` bound, ``sort=updated_on,id``, offset/limit), read with journals or
    allowed statuses, written with ``PUT`` (due date, custom fields, notes, status); the lookups
    of ``test_redmine_adapter`` as a non-admin API user sees them. ``ignores`` makes it ignore
    ``updated_on`` or ``offset``; ``restamp`` shows the current time (a second later at each
    listing) as every issue's ``updated_on``; ``fail`` answers the next matching calls with a failure."""

    def __init__(self, clock: WallClock, key: str) -> None:
        self.clock, self.key = clock, key
        self.issues: dict[int, dict[str, Any]] = {}
        self.failures: list[Failure] = []
        self.calls: list[tuple[str, str, dict[str, list[str]]]] = []
        self.ignores: set[str] = set()
        self.restamp = False  # every issue listed with the current time as its updated_on
        self.slack = False  # Redmine on SQLite: `updated_on > bound - 1 s` on stamps kept with microseconds
        self.listed_as: dict[int, dict[str, Any]] = {}
        self.max_listings = 80

    def install(self, rsps: responses.RequestsMock) -> "FakeRedmine":
        for method in ("GET", "PUT"):
            rsps.add_callback(method, re.compile(re.escape(URL) + r"/.*"), callback=self._dispatch)
        return self

    def fail(self, method: str, path: str, status: int = 200, times: int = 1, **spec: Any) -> None:
        for _ in range(times):
            self.failures.append(Failure(method, re.compile(path), status, **spec))

    def create(self, subject: str, priority: tuple[int, str] = (4, "Urgent")) -> int:
        issue_id = len(self.issues) + 1
        now = stamp(self.clock())
        self.issues[issue_id] = issue(
            id=issue_id, subject=subject, status={"id": 1, "name": "New", "is_closed": False},
            priority={"id": priority[0], "name": priority[1]}, start_date=None, category=None,
            custom_fields=[{"id": 1, "name": "SLA labels", "multiple": True, "value": []},
                           {"id": 2, "name": "SLA deadline", "value": ""}],
            created_on=now, updated_on=now, journals=[])
        return issue_id

    def labels(self, issue_id: int) -> list[str]:
        return list(self.issues[issue_id]["custom_fields"][0]["value"])

    def listings(self) -> int:
        return sum(1 for method, path, _ in self.calls if (method, path) == ("GET", "/issues.json"))

    def _dispatch(self, request: Any) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(request.url)
        path, query, method = parts.path, parse_qs(parts.query), request.method
        self.calls.append((method, path, query))
        assert request.headers.get("X-Redmine-API-Key") == self.key
        failure = next((f for f in self.failures if f.method == method and f.path.search(path)
                        and all(query.get(k) == [v] for k, v in f.query.items())), None)
        if failure is not None:
            self.failures.remove(failure)
            if failure.error is not None:
                raise failure.error
            if failure.text is not None:
                return failure.status, {"Content-Type": "text/html", **failure.headers}, failure.text
            return failure.status, {"Content-Type": "application/json", **failure.headers}, json.dumps(failure.body)
        if method == "GET" and path == "/issues.json":
            return self._list(query)
        found = re.fullmatch(r"/issues/(\d+)\.json", path)
        if found and int(found[1]) not in self.issues:
            return 404, {}, ""
        if found and method == "GET":
            data = copy.deepcopy(self.issues[int(found[1])])
            if "journals" not in query.get("include", [""])[0]:
                del data["journals"]
            if "allowed_statuses" in query.get("include", [""])[0]:
                data["allowed_statuses"] = [s for s in STATUSES["issue_statuses"] if s["id"] != data["status"]["id"]]
            return 200, {"Content-Type": "application/json"}, json.dumps({"issue": data})
        if found and method == "PUT":
            self._put(self.issues[int(found[1])], json.loads(request.body)["issue"])
            return 204, {}, ""
        return self._lookup(path)

    def _list(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], str]:
        if self.listings() > self.max_listings:
            raise TooManyListings(f"{self.listings()} listings: the change query does not end")
        shown = {i: {k: v for k, v in data.items() if k != "journals"} | self.listed_as.get(i, {})
                 for i, data in self.issues.items()}
        if self.restamp:  # a broken server, or a shim in front of it, showing "now" as every issue's stamp
            now = stamp(self.clock.advance())
            shown = {i: row | {"updated_on": now} for i, row in shown.items()}
        rows = sorted(self.issues.values(),
                      key=lambda i: ((shown[i["id"]] if self.restamp else i)["updated_on"], i["id"]))
        # `>=t`, or `><a|b` (a group read by id): Redmine reads them `> t - 1 s`, `> a - 1 s and <= b`;
        # in the short form (`updated_on=>=t`) or the generic one (`f[]`, `op[..]`, `v[..][]`).
        query = dict(query)
        for name in query.get("f[]", []):
            if name in ("updated_on", "issue_id"):
                query[name] = [query.get(f"op[{name}]", [""])[0] + "|".join(query.get(f"v[{name}][]", []))]
        bound, _, upper = query.get("updated_on", [""])[0].removeprefix(">=").removeprefix("><").partition("|")
        if bound and "updated_on" not in self.ignores:
            if self.slack:  # stored 08:00:00.4 is after 08:00:01 - 1 s: shown 08:00:00, listed for 08:00:01
                bound = stamp(datetime.fromisoformat(bound) - SECOND)
            rows = [r for r in rows if bound <= (shown[r["id"]] if self.restamp else r)["updated_on"]
                    and (not upper or (shown[r["id"]] if self.restamp else r)["updated_on"] <= upper)]
        after = query.get("issue_id", [""])[0].removeprefix(">=")
        if after and "issue_id" not in self.ignores:
            rows = [r for r in rows if r["id"] >= int(after)]
        if query.get("sort") == ["id"]:
            rows = sorted(rows, key=lambda r: r["id"])
        offset = 0 if "offset" in self.ignores else int(query.get("offset", ["0"])[0])
        limit = int(query["limit"][0])
        listed = [shown[row["id"]] for row in rows[offset:offset + limit]]
        body = {"issues": listed, "total_count": len(rows), "offset": offset, "limit": limit}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    def _put(self, data: dict[str, Any], fields: dict[str, Any]) -> None:
        now = stamp(self.clock())
        if "due_date" in fields:
            data["due_date"] = fields["due_date"] or None
        for cf in fields.get("custom_fields", []):
            for known in data["custom_fields"]:
                if known["id"] == cf["id"]:
                    known["value"] = [v for v in cf["value"] if v] if isinstance(cf["value"], list) else cf["value"]
        details = []
        if "status_id" in fields:
            status = next(s for s in STATUSES["issue_statuses"] if s["id"] == fields["status_id"])
            details.append({"property": "attr", "name": "status_id", "old_value": str(data["status"]["id"]),
                            "new_value": str(status["id"])})
            data["status"] = status
        if fields.get("notes") or details:
            data["journals"].append(journal(len(data["journals"]) + 100, ME, "SLA Bridge", now, fields.get("notes", ""),
                                            bool(fields.get("private_notes")), details))
        data["updated_on"] = now

    def _lookup(self, path: str) -> tuple[int, dict[str, str], str]:
        users = {f"/users/{uid}.json": user(uid, login, first, last, roles, False, mail, groups)
                 for uid, (login, first, last, roles, mail, groups) in USERS.items()}
        login, first, last, roles, _, _ = USERS[ME]
        answers: dict[str, Any] = {
            "/issue_statuses.json": STATUSES, "/enumerations/issue_priorities.json": PRIORITIES,
            "/trackers.json": TRACKERS,
            "/projects.json": {"projects": PROJECTS, "total_count": 2, "offset": 0, "limit": 100},
            "/users/current.json": {"user": user(ME, login, first, last, roles)["user"] | {"admin": False}},
            "/projects/1/memberships.json": MEMBERSHIPS, "/groups/11.json": GROUP, "/roles/6.json": SUPPORT_ROLE,
            **users}
        if path not in answers:
            return (403 if path == "/custom_fields.json" else 404), {}, ""
        return 200, {"Content-Type": "application/json"}, json.dumps(answers[path])


class Bridge:
    """``sla-bridge sync --once --at`` against the fake, with one store across runs."""

    def __init__(self, redmine: FakeRedmine, clock: WallClock, **options: Any) -> None:
        raw = tomllib.loads(example_config_text())
        raw["trackers"] = {"rm": {**SECTION, "options": {**SECTION["options"], **options}}}
        self.config: Config = builtin_config(raw)
        self.redmine, self.clock = redmine, clock
        self.store = Store(":memory:")
        self.sleeps: list[float] = []
        self.adapter = self.make()
        self.syncer = Syncer(self.config, self.store, self.adapter, build_plugin_manager(load_entry_points=False),
                             clock=clock)
        # One worker: scripted answers and failures reach the ticket the test names
        # (workers at once: test_concurrency, test_crash).
        self.syncer.workers = 1

    def make(self) -> RedmineAdapter:
        return RedmineAdapter("rm", self.config.file.trackers["rm"], self.config,
                              retry=RetryPolicy(attempts=3, sleep=self.sleeps.append))

    def sync(self, at: datetime | None = None) -> dict[str, Any]:
        summary = self.syncer.run(at or self.clock() + MINUTE).to_json()
        self.clock.advance()
        return summary


@pytest.fixture()
def clock() -> WallClock:
    return WallClock("2025-06-02T10:00:00+02:00")  # Monday


@pytest.fixture()
def redmine(clock: WallClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRedmine]:
    monkeypatch.setenv("SLA_BRIDGE_REDMINE_KEY", SECRET)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeRedmine(clock, SECRET).install(rsps)


@pytest.fixture(autouse=True)
def _adapter_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLA_TEST_REDMINE_KEY", "k3y-s3cret-api-key")  # make_adapter's, from test_redmine_adapter


def _texts(exc: BaseException) -> list[str]:
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc))]


# --- 1. the API key ----------------------------------------------------------------------------------------------

FAILURES: list[tuple[str, str, str, dict[str, Any]]] = [
    ("401", "GET", r"^/issues\.json$", {"status": 401, "body": {"errors": [f"Invalid key {SECRET}"]}}),
    ("403 echoing the header", "GET", r"^/issues\.json$", {"status": 403, "body": {"errors": [ECHO]}}),
    ("connection refused", "GET", r"^/issues\.json$", {"status": 0, "error": requests.ConnectionError(ECHO),
                                                        "times": 3}),
    ("timeout", "GET", r"^/issues\.json$", {"status": 0, "error": requests.ReadTimeout(ECHO), "times": 3}),
    ("a header requests refuses", "GET", r"^/issues\.json$", {"status": 0, "error": requests.exceptions.InvalidHeader(
        f"Invalid leading whitespace, reserved character(s), or return character(s) in header value: {SECRET!r}")}),
    ("broken answer", "GET", r"^/issues\.json$", {"status": 0,
                                                   "error": requests.exceptions.ChunkedEncodingError(ECHO)}),
    ("500 HTML page", "GET", r"^/issues\.json$", {"status": 500, "text": f"<html><pre>{ECHO}</pre></html>",
                                                   "times": 3}),
    ("200 login page", "GET", r"^/issues\.json$", {"status": 200,
                                                    "text": f"<html><title>Login</title>{ECHO}</html>"}),
    ("500 HTML on an issue", "GET", r"^/issues/\d+\.json$", {"status": 500, "text": f"<html>{ECHO}</html>",
                                                              "times": 3}),
    ("200 HTML on an issue", "GET", r"^/issues/\d+\.json$", {"status": 200, "text": f"<html>{ECHO}</html>"}),
    ("truncated JSON on an issue", "GET", r"^/issues/\d+\.json$", {"status": 200, "text": f'{{"issue": "{ECHO}'}),
    ("403 on the API user", "GET", r"^/users/current\.json$", {"status": 403, "body": {"errors": [ECHO]}}),
    ("502 on a user", "GET", r"^/users/7\.json$", {"status": 502, "text": f"<html>{ECHO}</html>", "times": 3}),
    ("422 on a write", "PUT", r"^/issues/\d+\.json$", {"status": 422, "body": {"errors": [ECHO]}}),
    ("broken answer to a write", "PUT", r"^/issues/\d+\.json$", {"status": 0, "error": requests.exceptions.
                                                                   ChunkedEncodingError(ECHO)}),
]


def test_the_api_key_is_in_no_error_repr_log_summary_or_store(
        redmine: FakeRedmine, clock: WallClock, caplog: pytest.LogCaptureFixture) -> None:
    """Every failure path, with error answers echoing the request's X-Redmine-API-Key header and
    library errors quoting it: the key is in no exception's text or traceback, no log line (DEBUG
    included), no sync summary, nothing in the store, no repr. Before, an error body was quoted as
    it came (``HTTP 403: X-Redmine-API-Key: …``) and a ``requests`` error other than a timeout or
    a refused connection escaped with its text."""
    caplog.set_level(logging.DEBUG)
    bridge = Bridge(redmine, clock)
    redmine.max_listings = 10_000  # many passes here, each of them short
    seen: list[str] = []

    def run(call: Callable[[], object]) -> None:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - every failure's text is what is checked
            seen.extend(_texts(exc))

    for name, method, path, spec in FAILURES:
        spec = dict(spec)
        times = spec.pop("times", 1)
        for call in ("changed", "fetch", "write", "check", "sync"):
            redmine.failures.clear()
            issue_id = str(redmine.create(f"{name} ({call})"))
            clock.advance()
            redmine.fail(method, path, times=times, **spec)
            adapter = bridge.make()
            if call == "changed":
                run(lambda: list(adapter.changed_since(None)))
            elif call == "fetch":
                run(lambda: list(adapter.changed_since(None)) and adapter.fetch(issue_id))
            elif call == "write":
                run(lambda: adapter.apply_fields(adapter.fetch(issue_id), *_due_and_labels()))
            elif call == "check":
                seen.extend(c.detail for c in adapter.check_connection())
            else:
                seen.append(json.dumps(bridge.sync()))
        seen.append(name)
    seen += [repr(bridge.adapter), repr(bridge.adapter.http), repr(bridge.adapter.options),
             repr(bridge.adapter.http.session), repr(bridge.config.file.trackers["rm"]), caplog.text,
             "\n".join(bridge.store._db.iterdump())]
    assert [text for text in seen if SECRET in text] == []
    assert any("HTTP 401" in text for text in seen) and any("HTTP 500" in text for text in seen)
    assert any("***" in text for text in seen), "the echoed key was there, masked"


def _due_and_labels() -> tuple[Any, Any]:
    from sla_bridge.actions import SetDueDate, SetLabels

    due = datetime.fromisoformat("2025-06-03T18:00:00+02:00")
    return SetDueDate(due.date(), due), SetLabels(frozenset({"sla-bloquante"}), frozenset())


def test_a_library_error_is_named_by_its_type_only(redmine: FakeRedmine, clock: WallClock) -> None:
    redmine.create("Anything")
    redmine.fail("GET", r"^/issues\.json$", 0, error=requests.exceptions.InvalidHeader(
        f"Invalid leading whitespace, reserved character(s), or return character(s) in header value: {SECRET!r}"))
    with pytest.raises(TransientError) as info:
        list(Bridge(redmine, clock).adapter.changed_since(None))
    assert str(info.value) == "rm: list changed issues: the request failed (InvalidHeader)"


def test_a_password_in_the_url_is_never_shown(redmine: FakeRedmine, clock: WallClock) -> None:
    bridge = Bridge(redmine, clock, url="http://bridge:pr0xy-pa55word@redmine.test")
    assert "pr0xy-pa55word" not in repr(bridge.adapter) + repr(bridge.adapter.http)
    redmine.fail("GET", r"^/issues\.json$", 0, error=requests.ConnectionError("refused"), times=3)
    summary = bridge.sync()
    assert "pr0xy-pa55word" not in json.dumps(summary) and "http://redmine.test" in summary["errors"][0]


# --- 2. paging that makes no progress ----------------------------------------------------------------------------

@pytest.mark.parametrize("ignores", [
    {"updated_on"},             # the bound ignored: the same first pages, forever (before: never ended)
    {"updated_on", "offset"},   # the same page whatever is asked
    {"issue_id"},               # a bulk edit larger than a page, read from its first id again and again
    "restamp",                  # the current time shown as every issue's updated_on (before: never ended)
])
def test_paging_that_makes_no_progress_stops_within_a_few_requests(
        redmine: FakeRedmine, clock: WallClock, ignores: set[str] | str) -> None:
    for i in range(7):
        redmine.create(f"Issue {i}", priority=(1, "Low"))
        if ignores != {"issue_id"}:  # else: one bulk edit, every issue at the same second
            clock.advance()
    if ignores == "restamp":
        redmine.restamp = True
    else:
        redmine.ignores = set(ignores)
    bridge = Bridge(redmine, clock, page_size=3)
    with pytest.raises(TransientError) as info:
        list(bridge.adapter.changed_since(None))
    message = str(info.value)
    assert message.startswith("rm: ") and message.count("rm: ") == 1
    assert "next pass" in message
    assert redmine.listings() <= 20, f"{redmine.listings()} requests: bounded to a handful once progress stops"

    summary = bridge.sync()
    assert not summary["complete"] and summary["errors"][0].startswith("rm: tracker unavailable")
    assert bridge.store.cursor("rm").cursor is None, "the cursor does not move past what was not read"


def test_a_server_ignoring_the_bound_is_named_as_such(redmine: FakeRedmine, clock: WallClock) -> None:
    for i in range(7):
        redmine.create(f"Issue {i}", priority=(1, "Low"))
        clock.advance()
    redmine.ignores = {"updated_on"}
    with pytest.raises(TransientError, match=r"^rm: the change query makes no progress: asked for issues updated"
                                             r" since 2025-06-02T08:00:02\+00:00, Redmine answered issue 1, updated"
                                             r" 2025-06-02T08:00:00\+00:00 \(the server, or a proxy in front of it,"
                                             " ignores the updated_on filter\\)"):
        list(Bridge(redmine, clock, page_size=3).adapter.changed_since(None))
    assert redmine.listings() == 2


def test_a_bulk_edit_larger_than_a_page_is_not_taken_for_no_progress(redmine: FakeRedmine, clock: WallClock) -> None:
    ids = [redmine.create(f"Bulk {i}") for i in range(10)]  # one second
    clock.advance()
    later = redmine.create("Later")
    rows = [r.id for r in Bridge(redmine, clock, page_size=3).adapter.changed_since(None)]
    assert rows == [str(i) for i in [*ids, later]]


def test_a_bulk_edit_listed_again_by_redmines_one_second_slack_is_no_stall(redmine: FakeRedmine,
                                                                          clock: WallClock) -> None:
    """Once paging is past a bulk edit's second T, Redmine lists the whole edit again for the bound
    T + 1 s (its filter is ``> bound - 1 s`` on stamps kept with microseconds): pages of issues
    already read, at new requests, which must not be taken for a stuck query."""
    redmine.slack = True
    ids = [redmine.create(f"Bulk {i}") for i in range(10)]  # one second
    clock.advance()
    later = [redmine.create(f"Later {i}") for i in range(4)]
    rows = [r.id for r in Bridge(redmine, clock, page_size=3).adapter.changed_since(None)]
    assert rows == [str(i) for i in [*ids, *later]]


def test_an_overlap_of_one_second_before_the_bound_is_redmines_own(redmine: FakeRedmine, clock: WallClock) -> None:
    """Redmine filters ``updated_on > bound - 1 s`` on stamps kept with microseconds: a row shown
    one second before the bound is normal, not a server ignoring the filter."""
    first = redmine.create("One")
    clock.advance()
    second = redmine.create("Two")
    bound = clock()
    redmine.issues[first]["updated_on"] = stamp(bound)  # stored 08:00:00.7: after bound - 1 s,
    redmine.listed_as[first] = {"updated_on": stamp(bound - SECOND)}  # shown 08:00:00
    rows = list(Bridge(redmine, clock).adapter.changed_since(bound))
    assert [r.id for r in rows] == [str(first), str(second)]
    progress = Progress("rm")
    progress.page(bound, [ChangedTicket("1", bound - SECOND)])
    with pytest.raises(TransientError, match="ignores the updated_on filter"):
        progress.page(bound, [ChangedTicket("1", bound - 2 * SECOND)])


def test_a_proxy_capping_pages_below_the_page_size_is_not_taken_for_the_end(
        redmine: FakeRedmine, clock: WallClock) -> None:
    for i in range(5):
        redmine.create(f"Issue {i}")
        clock.advance()
    rows = [{"id": i, "updated_on": stamp(clock() + i * SECOND)} for i in (1, 2)]
    redmine.fail("GET", r"^/issues\.json$", 200, body={"issues": rows, "total_count": 5, "offset": 0, "limit": 2})
    with pytest.raises(PermanentError, match=r"^rm: Redmine answered 2 issues of 5 although 100 were asked"
                                             r" \(offset 0\): something in front of it caps pages at 2; set"
                                             r" trackers.rm.options.page_size = 2$"):
        list(Bridge(redmine, clock).adapter.changed_since(None))


# --- 3. one malformed answer costs one issue ---------------------------------------------------------------------

def _broken_journal(data: dict[str, Any], created_on: Any) -> dict[str, Any]:
    return data | {"journals": [journal(1, 5, "Sam Agent", created_on, "On it")]}


BROKEN: dict[str, tuple[dict[str, Any] | Callable[[dict[str, Any]], Any], str]] = {
    # how the answer is broken -> (the answer, or a function of the issue giving its JSON; what the message says)
    "truncated": ({"text": '{"issue": {"id": 1, "subject": "Cut sho', "headers": {"Content-Type":
                                                                                 "application/json"}},
                  "Redmine answered HTTP 200 with truncated or invalid JSON (application/json, 39 bytes)"),
    "html": ({"text": "<!DOCTYPE html><html><body><h1>Maintenance</h1></body></html>"},
             "Redmine answered HTTP 200 with an HTML page (text/html, 61 bytes) instead of JSON"),
    "a list": (lambda data: [data], "Redmine answered a list, not an object with 'issue'"),
    "issue not an object": (lambda data: {"issue": "7"}, "Redmine's answer holds a string under 'issue'"),
    "another issue": (lambda data: {"issue": data | {"id": 999}}, "the answer is about issue 999"),
    "journals not a list": (lambda data: {"issue": data | {"journals": {"id": 1}}},
                            "journals is an object ({'id': 1}), not a list"),
    "a journal without a zone": (lambda data: {"issue": _broken_journal(data, "2025-06-02T10:00:00")},
                                 "journal 1: created_on '2025-06-02T10:00:00' has no time zone"),
    "a journal not dated": (lambda data: {"issue": _broken_journal(data, "yesterday")},
                            "journal 1: created_on 'yesterday' is not a date and time"),
    "a detail not an object": (lambda data: {"issue": data | {"journals": [
        journal(1, 5, "Sam Agent", "2025-06-02T08:30:00Z") | {"details": ["status_id"]}]}},
                               "journal 1: details: item 1 is a string ('status_id'), not an object"),
    "custom fields not a list": (lambda data: {"issue": data | {"custom_fields": "vip"}},
                                 "custom_fields is a string ('vip'), not a list"),
    "no status": (lambda data: {"issue": {k: v for k, v in data.items() if k != "status"}}, "it has no status"),
    "an author not a user": (lambda data: {"issue": data | {"author": {"id": "../users/1", "name": "x"}}},
                             "a user's id is '../users/1', not an id"),
}


@pytest.mark.parametrize("broken", list(BROKEN))
def test_a_malformed_issue_skips_that_issue_and_names_it(redmine: FakeRedmine, clock: WallClock, broken: str) -> None:
    """GET /issues/ID.json answering 200 with broken JSON: that issue is reported (its id, what was
    wrong) and retried later; the others are synced. Only the pass's first request would suggest
    checking options.url."""
    ids = [redmine.create(f"Issue {i}") for i in range(3)]
    bridge = Bridge(redmine, clock)
    spec, said = BROKEN[broken]
    if callable(spec):
        data = copy.deepcopy(redmine.issues[ids[0]])
        spec = {"body": spec(data)}
    redmine.fail("GET", rf"^/issues/{ids[0]}\.json$", 200, **spec)
    summary = bridge.sync()
    assert summary["complete"], summary["errors"]
    [error] = summary["errors"]
    assert error.startswith(f"rm:{ids[0]}: skipped: ") and f"issue {ids[0]}" in error
    assert said in error and "options.url" not in error
    assert error.count("rm: ") == 0 and "retried after" in error
    assert all("sla-bloquante" in redmine.labels(i) for i in ids[1:]), "the other issues are synced"
    assert redmine.labels(ids[0]) == []
    bridge.sync(clock() + 10 * MINUTE)  # retried once its delay is over, the answer fixed
    assert "sla-bloquante" in redmine.labels(ids[0])


@pytest.mark.parametrize(("answer", "said"), [
    ({"text": "<html>Bad gateway</html>"}, "read user 7: Redmine answered HTTP 200 with an HTML page"),
    ({"body": {"user": {"id": 7, "login": "cust-admin", "memberships": {"project": 1}}}},
     "read user 7: memberships is an object ({'project': 1}), not a list"),
    ({"body": {"user": {"id": 8, "login": "jdupont"}}}, "read user 7: the answer is about user 8"),
])
def test_a_malformed_user_skips_the_issue_naming_both(redmine: FakeRedmine, clock: WallClock,
                                                      answer: dict[str, Any], said: str) -> None:
    """Taken for "not visible" (a 403 or 404), the user would be a customer whatever the config says."""
    ids = [redmine.create(f"Issue {i}") for i in range(2)]
    bridge = Bridge(redmine, clock)
    redmine.fail("GET", r"^/users/7\.json$", 200, **answer)
    summary = bridge.sync()
    assert summary["complete"]
    [error] = summary["errors"]
    assert error.startswith(f"rm:{ids[0]}: skipped: issue {ids[0]}: {said}") and "retried after" in error
    assert "sla-bloquante" in redmine.labels(ids[1])


def test_only_the_first_request_of_a_pass_suggests_checking_the_url(redmine: FakeRedmine, clock: WallClock) -> None:
    redmine.create("Anything")
    bridge = Bridge(redmine, clock)
    redmine.fail("GET", r"^/issues\.json$", 200, text="<html><title>Sign in</title></html>")
    summary = bridge.sync()
    [error] = summary["errors"]
    assert not summary["complete"] and "an HTML page" in error
    assert "check that trackers.rm.options.url (http://redmine.test) is Redmine's own address" in error
    assert error.count("rm: ") == 1
    summary = bridge.sync()
    assert summary["complete"] and summary["errors"] == []


def test_a_malformed_lookup_ends_the_pass_without_the_url_hint(redmine: FakeRedmine, clock: WallClock) -> None:
    redmine.create("Anything")
    bridge = Bridge(redmine, clock)
    redmine.fail("GET", r"^/projects\.json$", 200, body={"projects": [{"id": 1}], "total_count": 1})
    summary = bridge.sync()
    [error] = summary["errors"]
    assert error == "rm: tracker unavailable, will retry next pass: list projects: project 1 has no identifier"
    assert bridge.sync()["errors"] == []


def test_a_malformed_later_page_of_the_change_query_ends_the_pass_without_the_url_hint(
        redmine: FakeRedmine, clock: WallClock) -> None:
    for i in range(4):
        redmine.create(f"Issue {i}", priority=(1, "Low"))
        clock.advance()
    adapter = Bridge(redmine, clock, page_size=2).adapter
    redmine.fail("GET", r"^/issues\.json$", 200, text='{"issues": [{"id": 3, "upd',
                 query={"updated_on": f">={redmine.issues[2]['updated_on']}"},
                 headers={"Content-Type": "application/json"})
    rows = adapter.changed_since(None)
    assert [next(rows).id, next(rows).id] == ["1", "2"]
    with pytest.raises(TransientError) as info:
        list(rows)
    message = str(info.value)
    assert message.startswith("rm: list changed issues: ") and "truncated or invalid JSON" in message
    assert "options.url" not in message and message.count("rm: ") == 1


def test_a_listing_that_is_not_a_list_of_issues_on_a_later_page(redmine: FakeRedmine, clock: WallClock) -> None:
    for i in range(4):
        redmine.create(f"Issue {i}", priority=(1, "Low"))
        clock.advance()
    adapter = Bridge(redmine, clock, page_size=2).adapter
    redmine.fail("GET", r"^/issues\.json$", 200, body={"issues": [{"id": "three"}, "4"], "total_count": 2},
                 query={"updated_on": f">={redmine.issues[2]['updated_on']}"})
    with pytest.raises(TransientError, match=r"^rm: the change query's answer \(offset 0, updated since"
                                             r" 2025-06-02T08:00:01Z\) is not a list of issues: item 1 has no issue id"
                                             r" \(id: 'three'\); item 2 is a string \('4'\), not an issue; the next"
                                             " pass reads it again$"):
        list(adapter.changed_since(None))


def test_check_connection_reports_a_malformed_answer_as_a_failed_check(redmine: FakeRedmine, clock: WallClock) -> None:
    """Before, one answer of another shape ended ``check-config --connect`` with a traceback."""
    redmine.fail("GET", r"^/issue_statuses\.json$", 200, body={"issue_statuses": "New"})
    redmine.fail("GET", r"^/issues\.json$", 200, body={"issues": [["not", "an issue"]]}, times=5)
    checks = Bridge(redmine, clock).adapter.check_connection()
    failed = {c.subject: c.detail for c in checks if not c.ok}
    assert failed["status"] == "rm: list issue statuses: Redmine's answer holds a string under 'issue_statuses', not" \
                               " a list"
    assert failed["labels"] == ("Redmine answered something not shaped like its REST API (Malformed: issues: item 1"
                                " is a list (['not', 'an issue']), not an object)")
    assert ("authentication", True) in {(c.subject, c.ok) for c in checks}


# --- 4. the change query -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("updated_on", "problem"), [
    ("2025-06-02T08:00:00", "updated_on '2025-06-02T08:00:00' has no time zone"),
    ("yesterday", "updated_on 'yesterday' is not a date and time"),
    (None, "updated_on has no time"),
    (1748851200, "updated_on is a number (1748851200), not a date and time"),
])
def test_a_row_with_an_unreadable_updated_on_is_reported_and_the_others_synced(
        redmine: FakeRedmine, clock: WallClock, updated_on: Any, problem: str) -> None:
    ids = [redmine.create(f"Issue {i}") for i in range(3)]
    redmine.listed_as[ids[1]] = {"updated_on": updated_on}
    bridge = Bridge(redmine, clock)
    rows = list(bridge.make().changed_since(None))
    assert [r for r in rows if r.updated is None] == [ChangedTicket(str(ids[1]), None, problem)]
    summary = bridge.sync()
    assert summary["complete"]
    [error] = summary["errors"]
    assert error.startswith(f"rm:{ids[1]}: skipped, malformed row in the change query: {problem}")
    assert "sla-bloquante" in redmine.labels(ids[0]) and "sla-bloquante" in redmine.labels(ids[2])
    assert redmine.labels(ids[1]) == []


def test_an_issue_whose_updated_on_has_no_zone_is_skipped_not_read_naive(redmine: FakeRedmine,
                                                                         clock: WallClock) -> None:
    """Before, a zoneless ``updated_on``/``created_on`` made a naive datetime that failed later,
    far from its cause."""
    issue_id = redmine.create("No zone")
    redmine.issues[issue_id]["created_on"] = "2025-06-02T08:00:00"
    with pytest.raises(SkippableError, match=rf"^rm: issue {issue_id}: created_on '2025-06-02T08:00:00' has no time"
                                             " zone$"):
        Bridge(redmine, clock).adapter.fetch(str(issue_id))


# --- 5. note length ---------------------------------------------------------------------------------------------

def test_redmine_sets_no_limit_on_a_note() -> None:
    """Redmine 5.0's Journal model validates no length on ``notes`` and the column is ``text``
    (LONGTEXT on MySQL): the sync cuts nothing (the live test posts a note of a million characters)."""
    assert RedmineAdapter.max_comment_length is None


# --- 7. messages name the tracker once -------------------------------------------------------------------------

def test_messages_start_with_the_tracker_name_once(redmine: FakeRedmine, clock: WallClock,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    messages: list[str] = []

    def failed(call: Callable[[], object]) -> None:
        with pytest.raises(Exception) as info:  # every kind is checked below
            call()
        assert isinstance(info.value, (TransientError, PermanentError, SkippableError)), info.value
        messages.append(str(info.value))

    for i in range(4):
        redmine.create(f"Issue {i}", priority=(1, "Low"))
    redmine.listed_as.update({i: {"updated_on": "2025-06-02T08:00:00"} for i in range(1, 5)})
    bridge = Bridge(redmine, clock, page_size=2)
    failed(lambda: list(bridge.make().changed_since(None)))  # a whole page without a readable stamp (base.py's)
    redmine.listed_as.clear()
    redmine.fail("GET", r"^/issues\.json$", 403, body={"errors": ["Forbidden"]})
    failed(lambda: list(bridge.make().changed_since(None)))
    redmine.fail("GET", r"^/issues\.json$", 401)
    failed(lambda: list(bridge.make().changed_since(None)))
    redmine.fail("GET", r"^/issues\.json$", 0, error=requests.ConnectionError("refused"), times=3)
    failed(lambda: list(bridge.make().changed_since(None)))
    redmine.fail("GET", r"^/issues\.json$", 200, text="<html>Sign in</html>")
    failed(lambda: list(bridge.make().changed_since(None)))
    redmine.fail("GET", r"^/issues/1\.json$", 200, text="<html>Sign in</html>")
    failed(lambda: bridge.make().fetch("1"))
    adapter = bridge.make()
    list(adapter.changed_since(None))
    redmine.fail("GET", r"^/issues/1\.json$", 200, body={"issue": {"id": 1}})
    failed(lambda: adapter.fetch("1"))
    redmine.fail("GET", r"^/users/7\.json$", 200, text="<html>Sign in</html>")
    failed(lambda: adapter.fetch("2"))
    third = adapter.fetch("3")
    redmine.fail("GET", r"^/issues/3\.json$", 200, body={"issue": {"id": 3, "status": [1]}})
    failed(lambda: adapter.transition(third, "Closed"))
    failed(lambda: adapter.fetch("../3"))
    with caplog.at_level(logging.WARNING):
        redmine.fail("GET", r"^/issues/4\.json$", 503, times=1)
        adapter.fetch("4")
    messages += [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(messages) == 13, messages  # 10 errors, 3 log lines (2 for the refused connection)
    assert [m for m in messages if not m.startswith("rm: ") or m.count("rm: ") != 1] == []


# --- 6. property tests: arbitrary and malformed JSON -------------------------------------------------------------

json_values = hostile_json.json_values([
    "2025-06-02T08:00:00Z", "2025-06-02T08:00:00", "2025-06-02", "5", "10", "status_id", "priority_id",
    "category_id", "tracker_id", "attr", "cf", "Feedback", "sla-bloquante", "../1"
])  # the tracker's own words, often met in hostile answers
ISSUE_KEYS = ["id", "project", "tracker", "status", "priority", "author", "category", "subject", "due_date",
              "custom_fields", "created_on", "updated_on", "fixed_version", "journals"]
JOURNAL_KEYS = ["id", "user", "notes", "created_on", "private_notes", "details"]
DETAIL_KEYS = ["property", "name", "old_value", "new_value"]
USER_KEYS = ["id", "login", "firstname", "lastname", "mail", "memberships", "groups"]
FIELDS: dict[str, str | int] = {"domaine": "category", "type_demande": "tracker", "workaround": "Workaround",
                                "modules": 5, "reported_at": "Reported at"}


def mutated(base: Any, keys: list[str]) -> st.SearchStrategy[Any]:
    return hostile_json.mutated(base, keys, json_values)


def listed(base: list[Any], keys: list[str]) -> st.SearchStrategy[Any]:
    return hostile_json.listed(base, keys, json_values)


def offline_adapter(answers: dict[str, Any] | None = None) -> RedmineAdapter:
    """The adapter with its lookups answered from `answers` (path -> JSON), without HTTP."""
    adapter = make_adapter(fields=FIELDS)
    known: dict[str, Any] = {f"/users/{uid}.json": user(uid, login, first, last, roles, False, mail, groups)
                             for uid, (login, first, last, roles, mail, groups) in USERS.items()}
    login, first, last, roles, _, _ = USERS[ME]
    known |= {"/users/current.json": user(ME, login, first, last, roles),
              "/projects.json": {"projects": PROJECTS, "total_count": 2}, "/projects/1/memberships.json": MEMBERSHIPS,
              "/groups/11.json": GROUP, "/roles/6.json": SUPPORT_ROLE} | (answers or {})

    def call(method: str, path: str, what: str, retry: bool, **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response.status_code, response.url = (200, URL + path) if path in known else (404, URL + path)
        response._content = json.dumps(known.get(path, {"errors": ["Not found"]})).encode()
        response.headers["Content-Type"] = "application/json"
        if response.status_code == 404:
            raise SkippableError(f"rm: {what}: HTTP 404")
        return response

    adapter._call = call  # type: ignore[method-assign]
    adapter.memory.keep("issue_statuses", {str(s["id"]): s["name"] for s in STATUSES["issue_statuses"]})
    adapter.memory.keep("issue_priorities", {str(p["id"]): p["name"] for p in PRIORITIES["issue_priorities"]})
    adapter.memory.keep("trackers", {str(t["id"]): t["name"] for t in TRACKERS["trackers"]})
    adapter._answered = True
    return adapter


def check_parse(adapter: RedmineAdapter, data: Any) -> None:
    try:
        result = adapter.parse("7", data)
    except SkippableError as exc:
        assert str(exc).startswith("rm: issue 7: ") or str(exc).startswith("rm: read user "), exc
        return
    assert isinstance(result, Ticket) and result.id == "7"
    assert isinstance(result.status, str) and all(isinstance(label, str) for label in result.labels)
    assert all(e.at.tzinfo is not None for e in result.events) and result.created.tzinfo is not None
    assert all(isinstance(e.body, str) for e in result.events if isinstance(e, Comment))
    json.dumps(ticket_to_json(result))  # the store can keep it


@hostile_json.SETTINGS
@given(raw=mutated(issue(journals=JOURNALS), ISSUE_KEYS))
def test_any_issue_json_gives_a_ticket_or_a_skippable_error(raw: Any) -> None:
    check_parse(offline_adapter(), {"issue": raw} if isinstance(raw, dict) else raw)


@hostile_json.SETTINGS
@given(journals=listed(JOURNALS, JOURNAL_KEYS))
def test_any_journals_give_a_ticket_or_a_skippable_error(journals: Any) -> None:
    check_parse(offline_adapter(), {"issue": issue(journals=journals)})


@hostile_json.SETTINGS
@given(details=listed(JOURNALS[1]["details"], DETAIL_KEYS), fields=listed(issue()["custom_fields"],
                                                                          ["id", "value", "multiple"]))
def test_any_details_or_custom_fields_give_a_ticket_or_a_skippable_error(details: Any, fields: Any) -> None:
    check_parse(offline_adapter(), {"issue": issue(custom_fields=fields, journals=[JOURNALS[0], JOURNALS[1] | {
        "details": details}])})


@hostile_json.SETTINGS
@given(answer=st.one_of(
    listed([{"id": 1, "updated_on": "2025-06-02T09:00:00Z"}, {"id": 2, "updated_on": "2025-06-02T09:01:00Z"}],
           ["id", "updated_on", "subject"]).map(lambda rows: {"issues": rows, "total_count": 2, "offset": 0,
                                                             "limit": 100}),
    mutated({"issues": [], "total_count": 0, "offset": 0, "limit": 100}, ["issues", "total_count", "limit"]),
    json_values))
def test_any_change_query_answer_gives_rows_or_problems(answer: Any) -> None:
    rows, problems = issue_rows(answer)
    for r in rows:
        assert r.id.isdigit() and r.id == str(int(r.id))
        assert (r.updated is None) == (r.problem is not None)
        assert r.updated is None or r.updated.tzinfo is not None
    assert all(isinstance(p, str) for p in problems)
    adapter = offline_adapter({"/issues.json": answer})
    try:
        page = adapter._changed_page(None, 0, Progress("rm"))
    except (TransientError, PermanentError) as exc:
        assert str(exc).startswith("rm: ")
        return
    assert [(r.id, r.updated, r.problem) for r in page] == [(r.id, r.updated, r.problem) for r in rows]


@hostile_json.SETTINGS
@given(data=st.one_of(mutated(user(7, "cust-admin", "Alice", "Martin", [(5, "Reporter", False)], True,
                                   "alice.martin@example.test", [(11, "Clients")])["user"], USER_KEYS),
                      json_values),
       wrapped=st.booleans())
def test_any_user_json_gives_a_person_or_a_skippable_error(data: Any, wrapped: bool) -> None:
    adapter = offline_adapter({"/users/7.json": {"user": data} if wrapped else data})
    try:
        found = adapter.directory.person({"id": 7, "name": "Alice Martin"}, "1")
    except SkippableError as exc:
        assert str(exc).startswith("rm: read user 7: "), exc
        return
    assert isinstance(found, Person) and found.id == "7"
    assert all(isinstance(g, str) for g in found.groups) and all(isinstance(r, str) for r in found.roles)
