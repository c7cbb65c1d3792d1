"""The Jira adapter against a hostile or broken Jira: every answer may be wrong.

- secrets: a distinctive token through every failure path (401, 403, network errors,
  timeouts, error pages that echo the request's headers, a header requests refuses,
  DEBUG logging) never reaches an exception's text, a log line, the sync summary or
  the store, in any of its forms (the token, base64 of ``email:token``);
- a change query that never ends (a page token that repeats, rows already seen, the
  same ``startAt`` window) stops after a handful of requests with a clear error;
- one malformed ticket (a truncated body, an HTML page, the wrong JSON shape, a broken
  changelog or comments page) is skipped, named, and the pass goes on;
- change-query rows whose ``updated`` cannot be read are reported, paging goes on;
- a marker in somebody else's comment never counts as sent;
- comments fit Jira's 32,767-character limit once escaped;
- property tests: arbitrary and malformed payloads give a Ticket or a SkippableError,
  rows or problems, never another exception;
- every message names the tracker once.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
import time
from datetime import datetime
from typing import Any, Callable, Iterator

import pytest
import requests
import responses
from hypothesis import HealthCheck, event, given, settings, strategies as st
from jira_fake import COMMENT_LIMIT
from test_jira_sync import Harness, waiting_issue

from sla_bridge.actions import PostComment
from sla_bridge.adapters.base import AdapterError, ChangedTicket, PermanentError, SkippableError, TransientError
from sla_bridge.adapters.jira import MAX_IDLE_PAGES, JiraAdapter
from sla_bridge.adapters.jira_values import ISSUE_KEY, fit_comment, java_length, unwiki, wiki
from sla_bridge.config import TrackerSection
from sla_bridge.demo import builtin_config
from sla_bridge.engine import evaluate
from sla_bridge.httpclient import RetryPolicy
from sla_bridge.identity import Person
from sla_bridge.markers import markers_in, with_marker
from sla_bridge.model import Comment, FieldChange, LabelChange, SeverityChange, StatusChange, Ticket

T = datetime.fromisoformat
CLOUD = "https://acme.atlassian.net"
DC = "https://jira.acme.test"
API = "/rest/api/2"
EMAIL = "sla-bridge@acme.test"
TOKEN = "hX7-qQ2w_SECRET-t0ken-9Zk4"  # distinctive: any trace of it is a leak
FORMS = {
    "the token": TOKEN,
    "base64 of email:token (the Basic credential)": base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode(),
    "base64 of the token": base64.b64encode(TOKEN.encode()).decode(),
}
SETTINGS = settings(derandomize=True, deadline=None, max_examples=100, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


def no_real_sleep(seconds: float) -> None:
    raise AssertionError(f"a real sleep of {seconds} s")


@pytest.fixture()
def plain_logging() -> Iterator[None]:
    """Log records as Python makes them: the adapter's lines must be clean by themselves, whether
    or not another test installed sla-bridge's scrubbing record factory in this process."""
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(logging.LogRecord)
    try:
        yield
    finally:
        logging.setLogRecordFactory(previous)


@pytest.fixture()
def rsps(monkeypatch: pytest.MonkeyPatch, plain_logging: None) -> Iterator[responses.RequestsMock]:
    monkeypatch.setenv("SLA_TEST_JIRA_TOKEN", TOKEN)
    monkeypatch.setattr(time, "sleep", no_real_sleep)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(params=["cloud", "datacenter"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make_adapter(url: str = CLOUD, *, sleeps: list[float] | None = None, **options: Any) -> JiraAdapter:
    cfg = builtin_config()
    credentials = {"email": EMAIL, "api_token": {"env": "SLA_TEST_JIRA_TOKEN"}} \
        if url == CLOUD else {"token": {"env": "SLA_TEST_JIRA_TOKEN"}}
    tracker = options.pop("tracker", {})
    section = TrackerSection.model_validate({
        "adapter": "jira", "statuses": {"new": ["To Do"], "waiting_for_customer": ["Waiting for customer"],
                                        "resolved": ["Resolved"], "closed": ["Closed"]},
        "closing_status": "Closed", "agents": ["id:5b10ac8d82e05b22cc7d4ef5", "login:sam"], **tracker,
        "options": {"url": url, "projects": ["SUP"], "deadline_field": "customfield_10050",
                    "deployment": "cloud" if url == CLOUD else "datacenter", **credentials, **options}})
    return JiraAdapter("jr", section, cfg, retry=RetryPolicy(attempts=3, sleep=(sleeps if sleeps is not None
                                                                                 else []).append))


ME_CLOUD = {"accountId": "5b10a2844c20165700ede21g", "accountType": "atlassian", "displayName": "SLA Bridge",
            "emailAddress": EMAIL, "timeZone": "Europe/Paris", "active": True}
ME_DC = {"key": "JIRAUSER10000", "name": "sla-bridge", "displayName": "SLA Bridge", "emailAddress": EMAIL,
         "timeZone": "Europe/Paris", "active": True}
ALICE = {"accountId": "qm:a713c8ea-1075-4e30-9d96-891a7d181739:5ad6d3581db05e2a66fa80b", "accountType": "customer",
         "displayName": "Alice Customer", "active": True}


def leaks(text: str) -> list[str]:
    return [name for name, form in FORMS.items() if form in text]


def store_dump(h: Harness) -> str:
    db = h.store._db
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return "\n".join(repr(row) for table in tables for row in db.execute(f"SELECT * FROM {table}"))


def echo_page(flavour: str) -> str:
    """A proxy's error page that shows the request's headers (as some debugging gateways do)."""
    credential = f"Basic&nbsp;{FORMS['base64 of email:token (the Basic credential)']}" if flavour == "cloud" \
        else f"Bearer&nbsp;{TOKEN}"
    return ("<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><table>"
            f"<tr><td>Authorization</td><td>{credential}</td></tr>"
            f"<tr><td>X-Upstream-Auth</td><td>auth={FORMS['base64 of email:token (the Basic credential)']}</td></tr>"
            f"<tr><td>X-Token</td><td>{TOKEN}</td></tr></table></body></html>")


HTML = {"Content-Type": "text/html; charset=utf-8"}


# --- 1. secrets -------------------------------------------------------------------------------

def test_the_token_never_leaves_the_process_whatever_fails(rsps: responses.RequestsMock, flavour: str,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00")
    key = waiting_issue(h)
    other = h.jira.create("Second ticket", "alice")
    search = "/search/jql" if flavour == "cloud" else "/search"
    summaries: list[dict[str, Any]] = []
    errors: list[str] = []

    def sync(when: str) -> None:
        summaries.append(h.sync(when).to_json())

    # Error pages echoing the credentials, on the change query (every retry), then on one issue.
    h.jira.fail_next("GET", search, 502, raw=echo_page(flavour), headers=HTML, times=3)
    sync("2025-06-02T11:05:00+02:00")
    h.jira.fail_next("GET", rf"/issue/{key}", 500, raw=echo_page(flavour), headers=HTML, times=3)
    sync("2025-06-02T11:10:00+02:00")
    # A 200 that is a broken page quoting the token; a 400 whose Jira message quotes it.
    h.jira.fail_next("GET", rf"/issue/{other}", 200, raw=echo_page(flavour)[:150], headers=HTML)
    h.jira.fail_next("GET", rf"/issue/{key}", 400, body={"errorMessages": [f"Invalid token {TOKEN}"], "errors": {}})
    sync("2025-06-03T09:00:00+02:00")
    # Bad credentials: 401 quoting them, a Data Center CAPTCHA 403 with a header echoing them.
    h.jira.fail_next("GET", search, 401, body={"errorMessages": [f"Bad credentials: {TOKEN}"]})
    sync("2025-06-03T09:30:00+02:00")
    h.jira.fail_next("GET", search, 403, body="", headers={"X-Authentication-Denied-Reason":
                                                             f"CAPTCHA_CHALLENGE; token={TOKEN}"})
    sync("2025-06-03T09:40:00+02:00")
    # No answer at all: a network error and a timeout whose texts quote the credentials.
    basic = FORMS["base64 of email:token (the Basic credential)"]
    h.jira.fail_next("GET", search, raises=requests.ConnectionError(f"proxy said: Proxy-Authorization: {basic}"),
                     times=3)
    sync("2025-06-03T09:50:00+02:00")
    h.jira.fail_next("GET", search, raises=requests.ReadTimeout(f"timed out reading {TOKEN}"), times=3)
    sync("2025-06-03T09:55:00+02:00")
    # The reminder's POST answered by the echoing gateway, and Jira cannot be asked afterwards.
    h.jira.fail_next("POST", rf"/issue/{key}/comment", 502, raw=echo_page(flavour), headers=HTML)
    h.jira.fail_next("GET", rf"/issue/{key}/comment", 503, raw=echo_page(flavour), headers=HTML, times=3)
    sync("2025-06-03T11:05:00+02:00")

    # The same failures raised straight from the adapter: their texts and reprs.
    failures: list[dict[str, Any]] = [
        {"status": 500, "raw": echo_page(flavour), "headers": HTML, "times": 3},
        {"status": 200, "raw": echo_page(flavour), "headers": HTML},
        {"status": 401, "body": {"errorMessages": [f"Bad credentials: {TOKEN}"]}},
        {"raises": requests.ConnectionError(f"refused: {TOKEN}"), "times": 3}]
    for failure in failures:
        h.jira.fail_next("GET", rf"/issue/{key}", **failure)
        with pytest.raises(AdapterError) as info:
            h.adapter.fetch(key)
        errors += [str(info.value), repr(info.value)]
    # A header requests refuses: its InvalidHeader quotes the value.
    h.adapter.session.headers["X-Trace"] = f"{TOKEN}\n"
    with pytest.raises(PermanentError, match="could not be sent \\(InvalidHeader\\)") as info:
        h.adapter.fetch(key)
    errors += [str(info.value), repr(info.value)]
    del h.adapter.session.headers["X-Trace"]

    assert any("tracker unavailable" in e for s in summaries for e in s["errors"]), "the failures did happen"
    assert any("authentication failed" in e for s in summaries for e in s["errors"])
    for where, text in [("exceptions", "\n".join(errors)), ("the sync summaries", json.dumps(summaries)),
                        ("the store", store_dump(h)), ("the log", caplog.text),
                        ("the adapter's repr", f"{h.adapter!r} {h.adapter.session.auth!r} {h.adapter.options!r}")]:
        assert leaks(text) == [], f"{where} show {leaks(text)}"
    assert "***" in json.dumps(summaries), "what was echoed is masked, not dropped"


def test_the_basic_credential_and_the_bearer_token_are_registered_when_revealed() -> None:
    from sla_bridge.secrets import scrub

    token = "another-Distinctive-T0ken-55"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLA_TEST_JIRA_TOKEN", token)
        make_adapter()
        basic = base64.b64encode(f"{EMAIL}:{token}".encode()).decode()
        assert scrub(f"auth={basic} raw={token}") == "auth=*** raw=***"
        mp.setenv("SLA_TEST_JIRA_TOKEN", token + "-dc")
        make_adapter(DC)
        assert scrub(f"x {token}-dc y") == "x *** y"


# --- 2. a change query that never ends ----------------------------------------------------------

def row(key: str, updated: Any = "2025-06-02T10:00:10.000+0200", **extra: Any) -> dict[str, Any]:
    return {"id": key.split("-")[-1], "self": f"{CLOUD}{API}/issue/{key}", "key": key,
            "fields": {"updated": updated}, **extra}


def serve(rsps: responses.RequestsMock, base: str, path: str, answer: Callable[[dict[str, list[str]]], Any],
          limit: int = 40) -> list[dict[str, list[str]]]:
    """Answer ``path`` with ``answer(query)``, failing the test (not hanging it) past ``limit`` requests."""
    from urllib.parse import parse_qs, urlsplit

    asked: list[dict[str, list[str]]] = []

    def callback(request: Any) -> tuple[int, dict[str, str], str]:
        query = parse_qs(urlsplit(request.url).query)
        asked.append(query)
        if len(asked) > limit:
            raise RuntimeError(f"the adapter kept asking {path}: {len(asked)} requests")
        return 200, {}, json.dumps(answer(query))

    rsps.add_callback("GET", re.compile(re.escape(f"{base}{API}{path}") + r"(\?.*)?$"), callback,
                      content_type="application/json")
    return asked


@pytest.mark.parametrize("tokens", ["repeated", "fresh each time"])
def test_a_cloud_search_that_never_ends_stops_after_a_handful_of_requests(rsps: responses.RequestsMock,
                                                                          tokens: str) -> None:
    rsps.get(f"{CLOUD}{API}/myself", json=ME_CLOUD)
    turn = iter(range(10_000))

    def page(query: dict[str, list[str]]) -> Any:
        token = "CAEaAggD" if tokens == "repeated" else f"tok-{next(turn)}"
        return {"issues": [row("SUP-1"), row("SUP-2")], "nextPageToken": token, "isLast": False}

    asked = serve(rsps, CLOUD, "/search/jql", page)
    with pytest.raises(TransientError) as info:
        list(make_adapter(page_size=2).changed_since(None))
    message = str(info.value)
    assert message.startswith("jr: the change query made no progress: /search/jql answered")
    assert "SUP-1, SUP-2" in message and "next pass" in message
    assert ("already used" in message) is (tokens == "repeated")
    # The first query, the restart from its last minute, then MAX_IDLE_PAGES pages that bring nothing.
    assert len(asked) <= 2 + MAX_IDLE_PAGES


def test_a_datacenter_search_that_keeps_answering_the_same_window_stops(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{DC}{API}/myself", json=ME_DC)
    asked = serve(rsps, DC, "/search", lambda query: {"startAt": 0, "maxResults": 2, "total": 10**9,
                                                      "issues": [row("SUP-1"), row("SUP-2")]})
    with pytest.raises(TransientError, match=r"^jr: the change query made no progress: /search answered 3 pages"
                                             r" in a row .*startAt \d+ answered startAt 0 of 1000000000 .*SUP-1,"
                                             r" SUP-2"):
        list(make_adapter(DC, page_size=2).changed_since(None))
    assert len(asked) <= 2 + MAX_IDLE_PAGES


def test_a_search_that_never_ends_ends_the_pass_and_the_next_one_retries(rsps: responses.RequestsMock) -> None:
    h = Harness(rsps, "cloud", "2025-06-02T10:00:00+02:00")
    key = h.jira.create("Login page returns 500", "alice")
    stuck = {"issues": [h.jira._row(h.jira.issue(key), ["updated"])], "nextPageToken": "again", "isLast": False}
    asked: list[int] = []

    def search(query: Any, body: Any) -> Any:
        asked.append(1)
        if len(asked) > 40:
            raise RuntimeError("the adapter kept asking /search/jql")
        return stuck

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(h.jira, "_search_cloud", search)
        summary = h.sync("2025-06-02T10:05:00+02:00")
    assert not summary.complete and h.store.cursor("jira").cursor is None
    assert list(summary.errors) == [(
        f"jira: tracker unavailable, will retry next pass: the change query made no progress: /search/jql answered"
        f" {MAX_IDLE_PAGES} pages in a row with nothing new (isLast false, the page token was already used, next"
        f" page token 'again', rows already seen: {key}); stopped after {1 + MAX_IDLE_PAGES} pages, the next pass"
        " tries again")]
    assert len(h.jira.calls("GET", "/search/jql")) <= 2 + MAX_IDLE_PAGES
    summary = h.sync("2025-06-02T10:10:00+02:00")
    assert summary.errors == [] and summary.complete and h.jira.issue(key).fields["duedate"] is not None


# --- 3. one malformed ticket --------------------------------------------------------------------

BROKEN = {
    "truncated JSON": ('{"expand": "renderedFields", "id": "10001", "key": "SUP-1", "fields": {"summ',
                       {"Content-Type": "application/json;charset=UTF-8"}, "a truncated or invalid JSON body"),
    "an HTML page": ("<html><body>Service temporarily in maintenance</body></html>", HTML,
                     "text/html; charset=utf-8 instead of JSON"),
    "a JSON list": ("[1, 2, 3]", {"Content-Type": "application/json"}, "a JSON list where an object was expected"),
    "an empty body": ("", {"Content-Type": "application/json"}, "an empty body"),
}


@pytest.mark.parametrize("broken", list(BROKEN))
@pytest.mark.parametrize("part", ["issue", "changelog", "comments"])
def test_one_malformed_issue_is_skipped_with_what_was_wrong_and_the_pass_goes_on(
        rsps: responses.RequestsMock, flavour: str, part: str, broken: str) -> None:
    if part == "changelog" and flavour == "datacenter":
        pytest.skip("Data Center embeds the whole changelog: it has no changelog endpoint")
    # Cloud embeds one changelog entry and no comment here: the rest is read from the paged endpoints.
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00", changelog_embed_limit=1, comment_embed_limit=0)
    bad = waiting_issue(h)
    h.jira.set_labels(bad, ["vip", "escalated"], "sam")  # a second changelog entry: Cloud pages the changelog
    good = h.jira.create("Second ticket", "alice")
    raw, headers, said = BROKEN[broken]
    path = {"issue": rf"/issue/{bad}", "changelog": rf"/issue/{bad}/changelog", "comments": rf"/issue/{bad}/comment"}
    h.jira.fail_next("GET", path[part], 200, raw=raw, headers=headers)
    summary = h.sync("2025-06-02T11:05:00+02:00")
    assert summary.complete and len(summary.errors) == 1
    error = summary.errors[0]
    what = {"issue": f"read issue {bad}", "changelog": f"read the changelog of {bad}",
            "comments": f"read the comments of {bad}"}[part]
    assert error.startswith(f"jira:{bad}: skipped: {what}: Jira answered {said}"), error
    assert "options.url" not in error
    assert h.store.ticket("jira", good) is not None and h.store.ticket("jira", bad) is None, \
        "the other ticket was synced"
    summary = h.sync("2025-06-02T12:00:00+02:00")  # retried after its delay, read fine this time
    assert summary.errors == [] and h.store.ticket("jira", bad) is not None


@pytest.mark.parametrize("part", ["changelog", "comments"])
def test_a_changelog_or_comments_that_never_end_skip_that_ticket(rsps: responses.RequestsMock, part: str) -> None:
    rsps.get(f"{CLOUD}{API}/myself", json=ME_CLOUD)
    entry = {"id": "10100", "created": "2025-06-02T10:30:00.000+0200", "items": []}
    note = {"id": "1", "created": "2025-06-02T10:30:00.000+0200", "body": "hello", "author": ALICE}
    fields = {"summary": "x", "status": {"name": "To Do"}, "created": "2025-06-02T10:00:00.000+0200",
              "updated": "2025-06-02T11:00:00.000+0200", "project": {"key": "SUP"},
              "comment": {"comments": [], "total": 10**6 if part == "comments" else 0}}
    changelog = {"histories": [entry], "total": 10**6} if part == "changelog" else {}
    rsps.get(f"{CLOUD}{API}/issue/SUP-1", json={"key": "SUP-1", "fields": fields, "changelog": changelog})
    # Whatever startAt asks, the same entry again, and a total never reached.
    if part == "changelog":
        asked = serve(rsps, CLOUD, "/issue/SUP-1/changelog", lambda query: {
            "startAt": 0, "maxResults": 100, "total": 10**6, "isLast": False, "values": [entry]})
    else:
        asked = serve(rsps, CLOUD, "/issue/SUP-1/comment", lambda query: {
            "startAt": 0, "maxResults": 100, "total": 10**6, "comments": [note]})
    with pytest.raises(SkippableError, match=rf"^jr: issue SUP-1: its {part} pages made no progress"):
        make_adapter().fetch("SUP-1")
    assert len(asked) == 1 + MAX_IDLE_PAGES


@pytest.mark.parametrize("answer", ["truncated", "not a list"])
def test_a_group_lookup_that_cannot_be_read_skips_the_ticket_and_is_not_kept(rsps: responses.RequestsMock,
                                                                          answer: str) -> None:
    # An agent named by group: taking an unreadable answer for "no groups" would make them the customer.
    rsps.get(f"{CLOUD}{API}/myself", json=ME_CLOUD)
    sam = user(True, "sam")
    fields = {"summary": "x", "status": {"name": "Waiting for customer"}, "created": "2025-06-02T10:00:00.000+0200",
              "updated": "2025-06-02T11:00:00.000+0200", "project": {"key": "SUP"}, "reporter": ALICE,
              "comment": {"comments": [{"id": "1", "author": sam, "body": "Please test the fix.",
                                        "created": "2025-06-02T10:31:00.000+0200", "jsdPublic": True}], "total": 1}}
    rsps.get(f"{CLOUD}{API}/issue/SUP-1", json={"key": "SUP-1", "fields": fields})
    if answer == "truncated":
        rsps.get(f"{CLOUD}{API}/user/groups", body='[{"name": "supp', content_type="application/json")
    else:
        rsps.get(f"{CLOUD}{API}/user/groups", json={"groups": "support"})
    rsps.get(f"{CLOUD}{API}/user/groups", json=[{"name": "support", "groupId": "g1"}])
    adapter = make_adapter(tracker={"agents": ["group:support"]})
    with pytest.raises(SkippableError, match=rf"^jr: issue SUP-1: read the groups of user {sam['accountId']}:"):
        adapter.fetch("SUP-1")
    ticket = adapter.fetch("SUP-1")  # the next read asks again: nothing wrong was kept
    assert [c.role.value for c in ticket.events if isinstance(c, Comment)] == ["agent"]


@pytest.mark.parametrize(("ticket_id", "message"), [
    ("../myself", r"'\.\./myself' is not a Jira issue key"),
    ("SUP-1?expand=x", r"is not a Jira issue key"),
    ("SUP 1", r"is not a Jira issue key"),
])
def test_an_id_that_is_not_an_issue_key_is_never_put_into_a_path(ticket_id: str, message: str) -> None:
    with responses.RequestsMock() as mock, pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLA_TEST_JIRA_TOKEN", TOKEN)
        with pytest.raises(SkippableError, match=message):
            make_adapter().fetch(ticket_id)
        assert len(mock.calls) == 0


# --- 4. change-query rows whose `updated` cannot be read ----------------------------------------

def test_rows_with_an_unreadable_updated_are_reported_and_paging_goes_on(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{CLOUD}{API}/myself", json=ME_CLOUD)
    pages = {None: {"issues": [row("SUP-1", "2025-06-02T10:00:10.000+0200"),
                               row("SUP-2", "2025-06-02T10:00:20.000"),  # no time zone
                               row("SUP-3", "yesterday"), row("SUP-4", None), row("SUP-5", 1748851220)],
                    "nextPageToken": "p2", "isLast": False},
             "p2": {"issues": [row("SUP-6", "2025-06-02"),  # a date alone
                               {"key": "SUP-7", "fields": "oops"}, row("SUP-8", "2025-06-02T10:00:40.000+0200")],
                    "isLast": True}}
    serve(rsps, CLOUD, "/search/jql", lambda query: pages[query.get("nextPageToken", [None])[0]])
    rows = list(make_adapter(page_size=5).changed_since(T("2025-06-02T10:05:00+02:00")))
    assert [(r.id, r.updated) for r in rows] == [
        ("SUP-1", T("2025-06-02T10:00:10+02:00")), ("SUP-2", None), ("SUP-3", None), ("SUP-4", None),
        ("SUP-5", None), ("SUP-6", None), ("SUP-7", None), ("SUP-8", T("2025-06-02T10:00:40+02:00"))]
    problems = {r.id: r.problem for r in rows}
    assert problems["SUP-1"] is None and problems["SUP-8"] is None
    assert problems["SUP-2"] == ("the change query gave an unreadable `updated`: '2025-06-02T10:00:20.000' has no"
                                 " time zone offset")
    assert problems["SUP-3"] == "the change query gave an unreadable `updated`: 'yesterday' is not a date and time"
    assert problems["SUP-4"] == problems["SUP-7"] == "the change query gave no `updated` for it"
    assert "1748851220 is not a date and time" in str(problems["SUP-5"])
    assert "'2025-06-02' has no time zone offset" in str(problems["SUP-6"])


def test_a_full_page_ending_in_an_unreadable_row_pages_on_by_the_others(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{DC}{API}/myself", json=ME_DC)
    listed = [row("SUP-1", "2025-06-02T09:00:10.000+0200"), row("SUP-2", "2025-06-02T09:00:20"),
              row("SUP-3", "2025-06-02T09:01:30.000+0200")]

    def page(query: dict[str, list[str]]) -> Any:
        start, size = int(query["startAt"][0]), int(query["maxResults"][0])
        return {"startAt": start, "maxResults": size, "total": len(listed), "issues": listed[start:start + size]}

    serve(rsps, DC, "/search", page)
    rows = list(make_adapter(DC, page_size=2).changed_since(T("2025-06-02T09:00:00+02:00")))
    assert [(r.id, r.problem is None) for r in rows] == [("SUP-1", True), ("SUP-2", False), ("SUP-3", True)]


def test_a_malformed_row_is_reported_by_the_sync_and_the_others_are_synced(rsps: responses.RequestsMock) -> None:
    h = Harness(rsps, "cloud", "2025-06-02T10:00:00+02:00")
    bad = h.jira.create("Login page returns 500", "alice")
    good = h.jira.create("Second ticket", "alice")
    shown = h.jira._row

    def row_with_a_zoneless_updated(issue: Any, fields: list[str]) -> dict[str, Any]:
        found = shown(issue, fields)
        if issue.key == bad:
            found["fields"]["updated"] = "2025-06-02T10:00:00.000"
        return found

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(h.jira, "_row", row_with_a_zoneless_updated)
        summary = h.sync("2025-06-02T10:05:00+02:00")
    assert summary.complete and h.store.ticket("jira", good) is not None
    assert [e.split(" (retried after")[0] for e in summary.errors] == [(
        f"jira:{bad}: skipped, malformed row in the change query: the change query gave an unreadable `updated`:"
        " '2025-06-02T10:00:00.000' has no time zone offset")]


# --- 5. only sla-bridge's own comments carry markers -------------------------------------------

def a_ticket() -> Ticket:
    return Ticket(tracker="jr", id="SUP-1", title="x", reporter=None, created=T("2025-06-02T10:00:00+02:00"),
                  status="Waiting for customer", severity="Highest")


def test_a_marker_quoted_by_the_customer_does_not_count_as_sent(rsps: responses.RequestsMock) -> None:
    rsps.get(f"{CLOUD}{API}/myself", json=ME_CLOUD)
    adapter = make_adapter()
    ticket = a_ticket()
    reminder = PostComment("jr:SUP-1/reminder/c/1", "Bonjour\n\n[sla-bridge:jr:SUP-1/reminder/c/1]", True,
                           "reminder")
    post = rsps.post(f"{CLOUD}{API}/issue/SUP-1/comment", body=requests.ReadTimeout("read timed out"))
    # The customer answered by quoting the reminder they received by e-mail, marker included.
    rsps.get(f"{CLOUD}{API}/issue/SUP-1/comment", json={"startAt": 0, "maxResults": 100, "total": 1, "comments": [
        {"id": "9", "author": ALICE, "created": "2025-06-02T12:00:00.000+0200", "jsdPublic": True,
         "body": "> Bonjour\n> \\[sla-bridge:jr:SUP-1/reminder/c/1\\]\nStill broken."}]})
    with pytest.raises(TransientError, match="no answer within"):
        adapter.post_comment(ticket, reminder)
    assert post.call_count == 1, "not sent again, and not taken for sent either: the next pass reads the issue"


# --- 6. comments within Jira's limit once escaped ------------------------------------------------

KEY = "jira:SUP-1/reminder/c/1"


@pytest.mark.parametrize("text", [
    "x" * 40_000,                                  # the sync cuts it to 32,767; the escaped marker adds 2
    "😀" * 20_000,                                  # an emoji is one character here, two for Java
    "[sla-bridge:not/a/real/one] " * 2_000,        # every marker-like text grows by 2 when escaped
])
def test_a_comment_cut_by_the_sync_stays_within_jiras_limit_once_escaped(rsps: responses.RequestsMock,
                                                                         text: str) -> None:
    adapter = make_adapter()
    assert adapter.max_comment_length == 32767
    body = with_marker(text, KEY, adapter.max_comment_length)  # what the sync hands over
    post = rsps.post(f"{CLOUD}{API}/issue/SUP-1/comment", status=201, json={"id": "1"})
    ticket = a_ticket()
    adapter.post_comment(ticket, PostComment(KEY, body, True, "reminder"))
    sent = json.loads(post.calls[0].request.body)["body"]
    assert java_length(sent) <= 32767 and len(sent.encode("utf-16-le")) // 2 <= 32767
    assert sent.endswith(f"\n\n\\[sla-bridge:{KEY}\\]") and KEY in markers_in(unwiki(sent))


def test_a_long_reminder_is_posted_whole_within_the_limit(rsps: responses.RequestsMock, flavour: str) -> None:
    def long_template(raw: dict[str, Any]) -> None:
        raw.setdefault("templates", {})["reminder"] = "Relance $reminder sur $reminders, ticket $ticket. " \
            + "Merci de nous répondre 🙏 " * 2_000

    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00", change=long_template)
    key = waiting_issue(h)
    summary = h.sync("2025-06-03T11:01:00+02:00")
    assert summary.errors == [] and summary.applied.get("comment") == 1
    (note,) = h.marker_comments(key)
    assert java_length(note["body"]) <= COMMENT_LIMIT and note["body"].rstrip().endswith("\\]")
    assert len(h.markers(key)) == 1


@SETTINGS
@given(st.text(max_size=300), st.integers(min_value=60, max_value=400))
def test_fit_comment_keeps_the_marker_within_any_limit(text: str, limit: int) -> None:
    body = with_marker(text, KEY, limit)
    sent = fit_comment(body, limit)
    assert java_length(sent) <= limit
    assert sent.endswith(f"\n\n\\[sla-bridge:{KEY}\\]")
    assert KEY in markers_in(unwiki(sent))
    if java_length(wiki(body)) <= limit:
        assert sent == wiki(body), "nothing is cut when it fits"


# --- 7. property tests: whatever Jira answers ----------------------------------------------------

ODD = st.sampled_from([
    "2025-06-02T10:00:00.000+0200", "2025-06-02T10:00:00.000", "2025-06-02", "2025-13-45T99:99:99+0200",
    "0001-01-01T00:00:00+0000", "9999-12-31T23:59:59.999+1400", "2025-06-02T10:00:00Z", "2025-06-02T10:00:00ZZ",
    "yesterday", "", " ", "2025-06-02T10:00:00+25:00", "١٢٣", "\x00", "[sla-bridge:jr:SUP-1/reminder/c/1]",
    "\\[sla-bridge:jr:SUP-1/closure/c\\]", "[sla-bridge:jr:SUP-1/reminder/c/1] [sla-bridge:jr:SUP-9/closure/x]",
    "Waiting for customer", "Closed", "Highest", "SUP-1", "../myself", "customfield_10050", "sla-bloquante",
    TOKEN]) | st.sampled_from([("x", 100_000), ("é😀", 20_000), ("[sla-bridge:jr:SUP-1/reminder/c/1]", 3_000)]).map(
        lambda repeated: repeated[0] * repeated[1])  # huge strings (mapped: a readable strategy repr)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=20), ODD)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(["name", "key", "id", "value", "accountId", "items", "x"])
                                      | st.text(max_size=8), inner, max_size=4), max_leaves=12)
DELETE = object()


class Raw:
    """A body sent as it is (not JSON-encoded)."""

    def __init__(self, body: str, kind: str) -> None:
        self.body, self.kind = body, kind


RAW = st.builds(Raw, st.sampled_from([raw for raw, _, _ in BROKEN.values()]) | st.text(max_size=50),
                st.sampled_from(["application/json", "text/html", "text/plain"]))


def user(cloud: bool, handle: str, kind: str = "atlassian") -> dict[str, Any]:
    if cloud:
        return {"accountId": f"{handle}-0123456789abcdef", "accountType": kind, "displayName": handle.title(),
                "active": True}
    return {"key": f"JIRAUSER{len(handle)}", "name": handle, "displayName": handle.title(), "active": True}


def valid_issue(cloud: bool) -> dict[str, Any]:
    # A copy: mutations change the document in place, never the API user the other tests are answered.
    me = copy.deepcopy(ME_CLOUD if cloud else ME_DC)
    sam, alice = user(cloud, "sam"), user(cloud, "alice", "customer")
    item = {"field": "status", "fieldtype": "jira", "fromString": "To Do", "toString": "Waiting for customer"}
    if cloud:
        item["fieldId"] = "status"
    histories = [
        {"id": "100", "author": sam, "created": "2025-06-02T10:30:00.000+0200", "items": [item]},
        {"id": "101", "author": sam, "created": "2025-06-02T10:40:00.000+0200", "items": [
            {"field": "labels", "fieldtype": "jira", "fieldId": "labels", "fromString": "vip",
             "toString": "sla-bloquante vip"},
            {"field": "Environnement", "fieldtype": "custom", "fieldId": "customfield_10060", "fromString": None,
             "toString": "Production"},
            {"field": "Modules", "fieldtype": "custom", "fieldId": "customfield_10061", "fromString": "A",
             "toString": "A,B"}]}]
    comments = [
        {"id": "1", "author": sam, "body": "Looking into it", "created": "2025-06-02T10:31:00.000+0200",
         "jsdPublic": True, "properties": []},
        {"id": "2", "author": me, "body": "Relance \\[sla-bridge:jr:SUP-1/reminder/c/1\\]",
         "created": "2025-06-03T10:31:00.000+0200", "jsdPublic": True},
        {"id": "3", "author": alice, "body": "> \\[sla-bridge:jr:SUP-1/closure/c\\]",
         "created": "2025-06-03T11:31:00.000+0200", "jsdPublic": True,
         "properties": [{"key": "sd.public.comment", "value": {"internal": False}}]}]
    fields: dict[str, Any] = {
        "summary": "Server down", "status": {"name": "Waiting for customer", "id": "10002"},
        "priority": {"name": "Highest", "id": "1"}, "labels": ["sla-bloquante", "vip"], "duedate": "2025-06-02",
        "customfield_10050": "2025-06-02T13:00:00.000+0200", "fixVersions": [{"name": "2.4.1"}],
        "issuetype": {"name": "Bug"}, "reporter": alice, "created": "2025-06-02T10:00:00.000+0200",
        "updated": "2025-06-03T11:31:00.000+0200", "project": {"key": "SUP"},
        "customfield_10060": {"value": "Production", "id": "10200"},
        "customfield_10061": [{"value": "A"}, {"value": "B", "child": {"value": "B1"}}],
        "customfield_10070": "2025-06-02T09:00:00.000+0200", "customfield_10002": [{"name": "Client SA"}],
    }
    if cloud:
        fields["comment"] = {"comments": comments, "total": len(comments), "startAt": 0, "maxResults": 3}
    return {"id": "10001", "key": "SUP-1", "fields": fields,
            "changelog": {"histories": histories, "total": len(histories), "startAt": 0, "maxResults": 2},
            "_comments": comments}


PATHS: list[tuple[Any, ...]] = [
    (), ("key",), ("fields",), ("changelog",), ("fields", "summary"), ("fields", "status"), ("fields", "status", "name"),
    ("fields", "priority"), ("fields", "priority", "name"), ("fields", "labels"), ("fields", "labels", 0),
    ("fields", "duedate"), ("fields", "customfield_10050"), ("fields", "fixVersions"), ("fields", "fixVersions", 0),
    ("fields", "issuetype"), ("fields", "reporter"), ("fields", "reporter", "accountId"),
    ("fields", "reporter", "accountType"), ("fields", "reporter", "name"), ("fields", "created"),
    ("fields", "updated"), ("fields", "project"), ("fields", "project", "key"), ("fields", "customfield_10060"),
    ("fields", "customfield_10061"), ("fields", "customfield_10070"), ("fields", "customfield_10002"),
    ("fields", "comment"), ("fields", "comment", "comments"), ("fields", "comment", "total"),
    ("changelog", "histories"), ("changelog", "total"), ("changelog", "histories", 0),
    ("changelog", "histories", 0, "created"), ("changelog", "histories", 0, "author"),
    ("changelog", "histories", 0, "items"), ("changelog", "histories", 0, "items", 0),
    ("changelog", "histories", 0, "items", 0, "field"), ("changelog", "histories", 0, "items", 0, "fromString"),
    ("changelog", "histories", 0, "items", 0, "toString"), ("changelog", "histories", 1, "items", 1, "toString"),
    ("changelog", "histories", 1, "items", 2, "fromString"), ("changelog", "histories", 1, "items", 0, "fieldtype"),
    *[("_comments", *rest) for rest in [(), (0,), (1,), (0, "author"), (1, "author"), (1, "author", "accountId"),
                                         (1, "author", "key"), (0, "created"), (1, "body"), (2, "body"),
                                         (0, "jsdPublic"), (2, "properties"), (2, "properties", 0),
                                         (2, "properties", 0, "value"), (0, "visibility")]],
]


def mutate(document: dict[str, Any], path: tuple[Any, ...], value: Any) -> Any:
    """``document`` with the value at ``path`` replaced (or deleted); a path that does not exist is left alone."""
    if not path:
        return document if value is DELETE else value
    parent: Any = document
    for step in path[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return document
    last = path[-1]
    if isinstance(parent, dict) or (isinstance(parent, list) and isinstance(last, int) and last < len(parent)):
        if value is DELETE:
            parent.pop(last, None) if isinstance(parent, dict) else parent.pop(last)
        else:
            parent[last] = value
    return document


def answer(payload: Any) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    if isinstance(payload, Raw):
        response._content = payload.body.encode("utf-8", "surrogatepass")
        response.headers["Content-Type"] = payload.kind
    else:
        response._content = json.dumps(payload).encode()
        response.headers["Content-Type"] = "application/json"
    response.encoding = "utf-8"
    return response


FIELD_LIST = [{"id": "customfield_10050", "name": "SLA deadline", "schema": {"type": "datetime"}},
              {"id": "customfield_10060", "name": "Environnement", "schema": {"type": "option"}},
              {"id": "customfield_10061", "name": "Modules", "schema": {"type": "array", "items": "option"}},
              {"id": "customfield_10070", "name": "Reported at", "schema": {"type": "datetime"}}]


def hostile_adapter(cloud: bool, routes: dict[str, Any]) -> tuple[JiraAdapter, list[str]]:
    """An adapter whose every request is answered from ``routes`` (path -> payload), counted."""
    adapter = make_adapter(CLOUD if cloud else DC, organizations_field="customfield_10002",
                           tracker={"agents": ["group:support", "login:sam", "id:sam-0123456789abcdef"],
                                    "fields": {"environment": "customfield_10060", "modules": "customfield_10061",
                                               "reported_at": "customfield_10070"}})
    asked: list[str] = []

    def call(method: str, path: str, *, what: str, retry: bool, params: dict[str, Any] | None = None,
             body: Any = None) -> requests.Response:
        asked.append(path)
        if len(asked) > 60:
            raise RuntimeError(f"unbounded: {len(asked)} requests, the last {path}")
        route = next((k for k in routes if re.fullmatch(k, path.removeprefix(API))), None)
        if route is None:
            raise RuntimeError(f"unexpected request {method} {path}")
        return answer(routes[route])

    adapter._call = call  # type: ignore[method-assign]
    return adapter, asked


def check_ticket(ticket: Ticket) -> None:
    """A ticket the engine can use: every value of the type the model says."""
    def aware(t: Any) -> bool:
        return isinstance(t, datetime) and t.utcoffset() is not None

    def optional_text(v: Any) -> bool:
        return v is None or isinstance(v, str)

    assert isinstance(ticket.id, str) and ISSUE_KEY.fullmatch(ticket.id)
    assert isinstance(ticket.status, str) and ticket.status and isinstance(ticket.title, str)
    assert aware(ticket.created) and (ticket.updated is None or aware(ticket.updated))
    assert ticket.due_at is None or aware(ticket.due_at)
    assert ticket.reported_at is None or aware(ticket.reported_at)
    assert all(optional_text(v) for v in (ticket.severity, ticket.fix_version, ticket.type, ticket.project))
    assert all(isinstance(label, str) for label in ticket.labels)
    assert all(isinstance(n, str) and isinstance(v, str) for n, v in ticket.fields)
    if ticket.reporter is not None:
        r = ticket.reporter
        assert isinstance(r, Person) and all(optional_text(v) for v in (r.id, r.login, r.email, r.name,
                                                                          r.account_type))
    for happened in ticket.events:
        assert aware(happened.at), happened
        if isinstance(happened, StatusChange):
            assert optional_text(happened.from_status) and isinstance(happened.to_status, str)
        elif isinstance(happened, SeverityChange):
            assert optional_text(happened.from_severity) and optional_text(happened.to_severity)
        elif isinstance(happened, LabelChange):
            assert isinstance(happened.label, str) and isinstance(happened.added, bool)
        elif isinstance(happened, FieldChange):
            assert optional_text(happened.old) and optional_text(happened.new)
        else:
            assert isinstance(happened, Comment)
            assert isinstance(happened.body, str) and isinstance(happened.public, bool)
            assert isinstance(happened.own, bool) and optional_text(happened.author)
    cfg = builtin_config()
    evaluate(ticket, cfg.policy, cfg.calendar, T("2025-06-10T12:00:00+02:00"))


def named_once(message: str) -> bool:
    return message.startswith("jr: ") and not message.startswith("jr: jr:")


MUTATIONS = st.lists(st.tuples(st.sampled_from(PATHS), st.one_of(JSON, st.just(DELETE))), max_size=4)


@SETTINGS
@given(cloud=st.booleans(), mutations=MUTATIONS, raw=st.none() | RAW,
       changelog=st.none() | JSON | RAW, comments=st.none() | JSON | RAW, groups=JSON | RAW)
def test_any_issue_gives_a_ticket_or_a_skippable_error_naming_it(cloud: bool, mutations: list[tuple[Any, Any]],
                                                                 raw: Raw | None, changelog: Any, comments: Any,
                                                                 groups: Any) -> None:
    document = valid_issue(cloud)
    for path, value in mutations:
        document = mutate(document, path, value)
    embedded = document.pop("_comments", []) if isinstance(document, dict) else []
    listed = obj_or(changelog, {"startAt": 0, "maxResults": 100, "total": 2, "isLast": True,
                                "values": valid_issue(cloud)["changelog"]["histories"]})
    page = obj_or(comments, {"startAt": 0, "maxResults": 100, "total": 3, "comments": embedded})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLA_TEST_JIRA_TOKEN", TOKEN)
        adapter, _ = hostile_adapter(cloud, {
            "/myself": ME_CLOUD if cloud else ME_DC, "/field": FIELD_LIST, "/user/groups": groups, "/user": groups,
            "/issue/SUP-1": raw if raw is not None else document, "/issue/SUP-1/changelog": listed,
            "/issue/SUP-1/comment": page})
        try:
            ticket = adapter.fetch("SUP-1")
        except SkippableError as exc:
            assert named_once(str(exc)) and "SUP-1" in str(exc), str(exc)
            assert TOKEN not in str(exc)
            event("skipped")
            return
    event("a ticket")
    check_ticket(ticket)


def obj_or(value: Any, default: Any) -> Any:
    return default if value is None else value


UPDATED = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.000+0200"))
ROW = st.builds(lambda key, updated, extra: {"key": key, "fields": {"updated": updated}, **extra},
                st.sampled_from(["SUP-1", "SUP-2", "OPS_2-10", "10042"]) | st.sampled_from(["../x", "SUP 1", ""])
                | JSON, UPDATED | ODD | JSON,
                st.dictionaries(st.sampled_from(["id", "self", "fields"]), JSON, max_size=2) | st.just({}))
FINE_ROW = st.builds(lambda key, updated: {"key": key, "fields": {"updated": updated}},
                     st.sampled_from(["SUP-1", "SUP-2", "OPS_2-10", "10042"]), UPDATED | ODD)


@SETTINGS
@given(cloud=st.booleans(), rows=st.lists(st.one_of(FINE_ROW, ROW, JSON), max_size=8))
def test_any_search_rows_give_rows_or_problems_never_an_error(cloud: bool, rows: list[Any]) -> None:
    page = {"issues": rows, "isLast": True} if cloud else {"startAt": 0, "maxResults": 50, "total": len(rows),
                                                             "issues": rows}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLA_TEST_JIRA_TOKEN", TOKEN)
        adapter, _ = hostile_adapter(cloud, {"/myself": ME_CLOUD if cloud else ME_DC, "/search(/jql)?": page})
        found = list(adapter.changed_since(T("2025-06-02T10:00:00+02:00")))
    event(f"{sum(c.problem is None for c in found)} rows, {sum(c.problem is not None for c in found)} problems")
    for changed in found:
        assert isinstance(changed, ChangedTicket) and ISSUE_KEY.fullmatch(changed.id)
        if changed.updated is None:
            assert isinstance(changed.problem, str) and changed.problem and TOKEN not in changed.problem
        else:
            assert changed.updated.utcoffset() is not None and changed.problem is None


PAGE = st.one_of(JSON, RAW, st.fixed_dictionaries(
    {"issues": st.lists(ROW, max_size=4) | JSON},
    optional={"isLast": st.booleans() | JSON, "nextPageToken": st.sampled_from(["t", "u"]) | JSON,
              "total": st.integers(min_value=-1, max_value=10**12) | JSON, "startAt": st.integers() | JSON}))


@SETTINGS
@given(cloud=st.booleans(), page=PAGE)
def test_any_search_page_gives_rows_or_an_adapter_error_after_a_bounded_work(cloud: bool, page: Any) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLA_TEST_JIRA_TOKEN", TOKEN)
        adapter, asked = hostile_adapter(cloud, {"/myself": ME_CLOUD if cloud else ME_DC, "/search(/jql)?": page})
        try:
            for changed in adapter.changed_since(None):
                assert isinstance(changed, ChangedTicket)
            event("the rows")
        except (TransientError, PermanentError) as exc:
            assert named_once(str(exc)), str(exc)
            event(type(exc).__name__)
    assert len(asked) <= 2 + 2 + MAX_IDLE_PAGES


# --- 8. every message names the tracker once ---------------------------------------------------

def test_errors_and_log_lines_name_the_tracker_once(rsps: responses.RequestsMock,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="sla_bridge")
    rsps.get(f"{CLOUD}{API}/myself", json=ME_CLOUD)
    adapter = make_adapter(tracker={"agents": ["group:support"]})
    messages: list[str] = []

    def failing(call: Callable[[], Any]) -> None:
        with pytest.raises(AdapterError) as info:
            call()
        messages.append(str(info.value))

    issue = {"key": "SUP-1", "fields": {"summary": "x", "status": {"name": "To Do"}, "project": {"key": "SUP"},
                                        "created": "2025-06-02T10:00:00.000+0200", "reporter": ALICE,
                                        "comment": {"comments": [{"id": "1", "author": user(True, "sam"),
                                                                  "created": "2025-06-02T10:01:00.000+0200",
                                                                  "body": "hi"}], "total": 1}}}
    rsps.get(f"{CLOUD}{API}/issue/SUP-1", status=503, body="Service Unavailable")  # retried, logged
    rsps.get(f"{CLOUD}{API}/issue/SUP-1", json=issue)
    rsps.get(f"{CLOUD}{API}/user/groups", status=403, json={"errorMessages": ["Browse users and groups"]})
    adapter.fetch("SUP-1")  # a retry and a refused group lookup, both logged
    rsps.put(f"{CLOUD}{API}/issue/SUP-1", status=403, json={"errorMessages": [
        "To discard the user notification either admin or project admin permissions are required."]})
    rsps.put(f"{CLOUD}{API}/issue/SUP-1", status=204)
    from sla_bridge.actions import SetLabels

    adapter.apply_fields(a_ticket(), None, SetLabels(frozenset({"sla-a-risque"}), frozenset()))  # a warning
    rsps.get(f"{CLOUD}{API}/issue/SUP-9", status=404, json={"errorMessages": ["Issue does not exist"]})
    failing(lambda: adapter.fetch("SUP-9"))
    rsps.get(f"{CLOUD}{API}/issue/SUP-8", status=500, json={"errorMessages": ["boom"]})
    failing(lambda: adapter.fetch("SUP-8"))
    rsps.get(f"{CLOUD}{API}/issue/SUP-7", body="{truncated")
    failing(lambda: adapter.fetch("SUP-7"))
    serve(rsps, CLOUD, "/search/jql", lambda query: {"issues": [row("SUP-1")], "nextPageToken": "t", "isLast": False})
    failing(lambda: list(adapter.changed_since(None)))
    rsps.get(f"{CLOUD}{API}/issue/SUP-6/transitions", json={"transitions": []})
    failing(lambda: adapter.transition(Ticket(tracker="jr", id="SUP-6", title="x", reporter=None, severity=None,
                                              created=T("2025-06-02T10:00:00+02:00"), status="To Do"), "Closed"))

    lines = [r.getMessage() for r in caplog.records if r.name.startswith("sla_bridge.adapters.jira")]
    assert len(lines) >= 4 and len(messages) == 5
    for message in messages:
        assert message.startswith("jr: ") and not message.startswith("jr: jr: "), message
    for line in lines:
        assert line.startswith("jr: ") and line.count("jr: ") == 1, line
