"""A hostile or broken Zammad (issue "Hardening"): the token never leaks, a broken answer costs
one ticket, paging that goes nowhere stops, forged markers do not count, long reminders fit.

The end-to-end tests drive the real ``Syncer`` against the fake of ``tests/zammad_fake.py``
with the harness of ``tests/test_zammad_sync.py``; the property tests feed the parsers
arbitrary and malformed JSON.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
import responses
from hypothesis import given, strategies as st
from test_zammad_adapter import ARTICLES, HISTORY, ME, USERS, article, make_adapter, reads, row, ticket
from test_zammad_sync import Bridge, WallClock, keys, waiting
from zammad_fake import ARTICLE_BODY_LIMIT, FakeZammad

import hostile_json
from sla_bridge.actions import SetDueDate
from sla_bridge.adapters.base import PermanentError, SkippableError, TransientError
from sla_bridge.adapters.zammad import ZammadAdapter
from sla_bridge.adapters.zammad_identity import Directory, person_from_user
from sla_bridge.adapters.zammad_parse import Malformed, MalformedAnswer, is_date_only, search_rows
from sla_bridge.identity import Person
from sla_bridge.markers import markers_in
from sla_bridge.model import Comment, Ticket, ticket_to_json

MINUTE = timedelta(minutes=1)
SECRET = "zQ9-sla-bridge-T0KEN-4f9c2e81b7d3a650e1"  # distinctive: found wherever it leaks
ECHO = f"Authorization: Token token={SECRET} (bare: {SECRET})"
API = "http://zammad.test/api/v1"


@pytest.fixture()
def clock() -> WallClock:
    return WallClock("2025-06-02T10:00:00+02:00")  # Monday


@pytest.fixture()
def zammad(clock: WallClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeZammad]:
    monkeypatch.setenv("SLA_BRIDGE_ZAMMAD_TOKEN", SECRET)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeZammad(clock, token=SECRET).install(rsps)


@pytest.fixture(autouse=True)
def _adapter_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLA_TEST_ZAMMAD_TOKEN", "s3cret-t0ken")  # make_adapter's, from test_zammad_adapter


def _texts(exc: BaseException) -> list[str]:
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc))]


# --- 1. the token ------------------------------------------------------------------------------

FAILURES: list[tuple[str, str, dict[str, Any]]] = [
    ("401", r"^/tickets/search$", {"status": 401, "body": {"error": f"Invalid token {SECRET}"}}),
    ("403 echoing the header", r"^/tickets/search$", {"status": 403, "body": {"error": ECHO}}),
    ("connection refused", r"^/tickets/search$", {"status": 0, "error": requests.ConnectionError(ECHO), "times": 3}),
    ("timeout", r"^/tickets/search$", {"status": 0, "error": requests.ReadTimeout(ECHO), "times": 3}),
    ("broken answer", r"^/tickets/search$", {"status": 0, "error": requests.exceptions.ChunkedEncodingError(ECHO)}),
    ("500 HTML page", r"^/tickets/search$", {"status": 500, "text": f"<html><pre>{ECHO}</pre></html>", "times": 3}),
    ("200 login page", r"^/tickets/search$", {"status": 200, "text": f"<html><title>Login</title>{ECHO}</html>"}),
    ("500 HTML on a ticket", r"^/tickets/\d+$", {"status": 500, "text": f"<html>{ECHO}</html>", "times": 3}),
    ("502 on a ticket", r"^/ticket_history/\d+$", {"status": 502, "text": f"<html>{ECHO}</html>", "times": 3}),
    ("403 on the API user", r"^/users/me$", {"status": 403, "body": {"error": ECHO}}),
    ("422 on a write", r"^/tickets/\d+$", {"status": 422, "body": {"error": ECHO}, "method": "PUT"}),
]


def test_the_token_is_in_no_error_repr_log_summary_or_store(
        zammad: FakeZammad, clock: WallClock, caplog: pytest.LogCaptureFixture) -> None:
    """Every failure path, with error answers echoing the request's Authorization header and
    library errors quoting it: the token is in no exception's text or traceback, no log line
    (DEBUG included), no sync summary, nothing in the store, no repr."""
    caplog.set_level(logging.DEBUG)
    bridge = Bridge(zammad, clock)
    zammad.create_ticket("Export broken", priority="3 high")
    seen: list[str] = []

    def run(call: Callable[[], object]) -> None:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - every failure's text is what is checked
            seen.extend(_texts(exc))

    for name, path, spec in FAILURES:
        spec = dict(spec)
        method, times = spec.pop("method", "GET"), spec.pop("times", 1)
        for call in ("changed", "fetch", "write", "check", "sync"):
            zammad.failures.clear()
            ticket_id = str(zammad.create_ticket(f"{name} ({call})", priority="3 high"))
            clock.advance()
            zammad.fail(method, path, times=times, **spec)
            adapter = bridge.make(ZammadAdapter)
            if call == "changed":
                run(lambda: list(adapter.changed_since(None)))
            elif call == "fetch":
                run(lambda: list(adapter.changed_since(None)) and adapter.fetch(ticket_id))
            elif call == "write":
                due = clock() + timedelta(days=2)
                run(lambda: adapter.apply_fields(adapter.fetch(ticket_id), SetDueDate(due.date(), due), None))
            elif call == "check":
                seen.extend(c.detail for c in adapter.check_connection())
            else:
                seen.append(json.dumps(bridge.sync(clock() + MINUTE)))
        seen.append(name)
    seen += [repr(bridge.adapter), repr(bridge.adapter.http), repr(bridge.adapter.options),
             repr(bridge.adapter.http.session), repr(bridge.config.file.trackers["zammad"]), caplog.text,
             "\n".join(bridge.store._db.iterdump())]
    assert not [text for text in seen if SECRET in text]
    assert any("HTTP 401" in text for text in seen) and any("HTTP 500" in text for text in seen)
    assert any("***" in text for text in seen), "the echoed token was there, masked"


def test_a_url_carrying_a_password_is_refused_without_echoing_it() -> None:
    """requests would send the URL's user and password (Basic) instead of the token, and every
    message quoting the URL would carry them."""
    from sla_bridge.errors import ConfigError
    with pytest.raises(ConfigError) as info:
        make_adapter(url="https://sla:hunter2-Pa55@zammad.test")
    assert "trackers.zm.options.url" in str(info.value) and "hunter2" not in str(info.value)


def test_a_library_error_is_named_by_its_type_only(zammad: FakeZammad, clock: WallClock) -> None:
    """Before, a ``requests`` error other than a timeout or a refused connection escaped as is,
    its text quoting whatever the library put there, and ended the pass as an unexpected error."""
    zammad.create_ticket("Anything")
    zammad.fail("GET", r"^/tickets/search$", 0, error=requests.exceptions.ChunkedEncodingError(ECHO))
    with pytest.raises(TransientError) as info:
        list(Bridge(zammad, clock).adapter.changed_since(None))
    assert str(info.value) == "zammad: search changed tickets: the request failed (ChunkedEncodingError)"


# --- 2. paging that makes no progress ----------------------------------------------------------

@pytest.mark.parametrize(("mode", "ignores"), [
    ("condition", {"condition"}),           # the bound ignored: the same first pages, forever
    ("condition", {"condition", "page"}),   # the same page whatever is asked
    ("elasticsearch", {"query"}),
    ("elasticsearch", {"query", "page"}),
    ("list", {"page"}),
])
def test_paging_that_makes_no_progress_stops_within_a_few_requests(
        zammad: FakeZammad, clock: WallClock, mode: str, ignores: set[str]) -> None:
    for i in range(7):
        zammad.create_ticket(f"Ticket {i}", priority="1 low")
        clock.advance()
    bridge = Bridge(zammad, clock, search=mode, page_size=3)
    zammad.ignores = ignores
    zammad.max_listings = 40  # the fake fails the test instead of hanging it
    with pytest.raises(TransientError) as info:
        list(bridge.adapter.changed_since(None))
    message = str(info.value)
    assert message.startswith("zammad: ") and message.count("zammad: ") == 1
    assert "next pass" in message
    listings = sum(1 for c in zammad.calls if c[1] in ("/tickets/search", "/tickets"))
    assert listings <= 15, f"{listings} requests: bounded to a handful once progress stops"

    summary = bridge.sync(clock() + MINUTE)
    assert not summary["complete"] and summary["errors"][0].startswith("zammad: tracker unavailable")
    assert bridge.store.cursor("zammad").cursor is None, "the cursor does not move past what was not read"


@pytest.mark.parametrize("mode", ["condition", "elasticsearch", "list"])
def test_a_bulk_edit_larger_than_a_page_is_not_taken_for_no_progress(
        zammad: FakeZammad, clock: WallClock, mode: str) -> None:
    ids = [zammad.create_ticket(f"Bulk {i}", priority="1 low") for i in range(10)]  # one instant
    rows = [r.id for r in Bridge(zammad, clock, search=mode, page_size=3).adapter.changed_since(None)]
    assert sorted(rows, key=int) == [str(i) for i in ids]


# --- 3. one malformed answer costs one ticket --------------------------------------------------

BROKEN: dict[str, dict[str, Any]] = {
    "truncated": {"text": '{"id": 1, "title": "Cut sho', "headers": {"Content-Type": "application/json"}},
    "html": {"text": "<!DOCTYPE html><html><body><h1>Maintenance</h1></body></html>"},
    "wrong shape": {},  # per answer: WRONG_SHAPE
}
WRONG_SHAPE: dict[str, tuple[Any, str]] = {  # answer -> (JSON of another shape, how the message names it)
    "ticket": (["not", "a", "ticket"], "the ticket is a list"), "tags": ({"tags": "sla-vip"}, "the tags is a string"),
    "history": ([{"id": 1}], "the history is a list"), "articles": ({"articles": []}, "the articles is an object"),
    "user": ([{"id": 10}], "the user is a list")}
ANSWERS = {"ticket": r"^/tickets/\d+$", "tags": r"^/tags$", "history": r"^/ticket_history/",
           "articles": r"^/ticket_articles/by_ticket/", "user": r"^/users/\d+$"}


@pytest.mark.parametrize("answer", list(ANSWERS))
@pytest.mark.parametrize("broken", list(BROKEN))
def test_a_malformed_answer_skips_its_ticket_and_names_it(zammad: FakeZammad, clock: WallClock, answer: str,
                                                          broken: str) -> None:
    """A ticket, its tags, history, articles or a user it names answering 200 with broken JSON:
    that ticket is reported (its id, which answer, what was wrong) and the others are synced.
    Only the pass's first request would suggest checking options.url."""
    ids = [zammad.create_ticket(f"Ticket {i}", priority="3 high") for i in range(3)]
    bridge = Bridge(zammad, clock)
    shape, named = WRONG_SHAPE[answer]
    zammad.fail("GET", ANSWERS[answer], 200, **(BROKEN[broken] or {"body": shape}))  # the first ticket's call
    summary = bridge.sync(clock() + MINUTE)
    assert summary["complete"], summary["errors"]
    [error] = summary["errors"]
    assert error.startswith(f"zammad:{ids[0]}: skipped: ") and f"ticket {ids[0]}" in error
    what = {"truncated": "truncated or invalid JSON", "html": "an HTML page", "wrong shape": named}[broken]
    assert what in error and "options.url" not in error
    assert error.count("zammad: ") == 0 and "retried after" in error
    assert all("sla-bloquante" in zammad.tags[i] for i in ids[1:]), "the other tickets are synced"


def test_only_the_first_request_of_a_pass_suggests_checking_the_url(zammad: FakeZammad, clock: WallClock) -> None:
    zammad.create_ticket("Anything", priority="3 high")
    bridge = Bridge(zammad, clock)
    zammad.fail("GET", r"^/tickets/search$", 200, text="<html><title>Sign in</title></html>")
    summary = bridge.sync(clock() + MINUTE)
    [error] = summary["errors"]
    assert not summary["complete"] and "an HTML page" in error
    assert "trackers.zammad.options.url (http://zammad.test) is Zammad's own address" in error
    summary = bridge.sync(clock() + 2 * MINUTE)
    assert summary["complete"] and summary["errors"] == []


def test_a_malformed_later_page_of_the_change_query_ends_the_pass_without_the_url_hint(
        zammad: FakeZammad, clock: WallClock) -> None:
    for i in range(4):
        zammad.create_ticket(f"Ticket {i}", priority="1 low")
        clock.advance()
    bridge = Bridge(zammad, clock, page_size=2)
    second = {"condition[ticket.updated_at][value]": zammad.tickets[2]["updated_at"]}  # after the first page
    zammad.fail("GET", r"^/tickets/search$", 200, text='[{"id": 3, "upd', query=second,
                headers={"Content-Type": "application/json"})
    adapter = bridge.adapter
    rows = adapter.changed_since(None)
    assert [next(rows).id, next(rows).id] == ["1", "2"]
    with pytest.raises(TransientError) as info:
        list(rows)
    message = str(info.value)
    assert message.startswith("zammad: search changed tickets: ") and "truncated or invalid JSON" in message
    assert "options.url" not in message and message.count("zammad: ") == 1


# --- 4. the change query ------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["condition", "elasticsearch", "list"])
def test_a_row_with_an_unreadable_updated_at_is_reported_and_the_others_synced(
        zammad: FakeZammad, clock: WallClock, mode: str) -> None:
    ids = [zammad.create_ticket(f"Ticket {i}", priority="3 high") for i in range(3)]
    zammad.listed_as[ids[1]] = {"updated_at": "2025-06-02T08:00:00"}  # no zone
    bridge = Bridge(zammad, clock, search=mode)
    summary = bridge.sync(clock() + MINUTE)
    assert summary["complete"]
    [error] = summary["errors"]
    assert error.startswith(f"zammad:{ids[1]}: skipped, malformed row in the change query: updated_at")
    assert "has no time zone" in error
    assert "sla-bloquante" in zammad.tags[ids[0]] and "sla-bloquante" in zammad.tags[ids[2]]
    assert zammad.tags[ids[1]] == []


# --- 5. only sla-bridge's own articles count -------------------------------------------------------

@responses.activate
def test_only_articles_sla_bridge_wrote_as_itself_carry_markers_that_count() -> None:
    marker = "[sla-bridge:zm:7/reminder/20250602T0900/1]"
    ours = article(16, "2025-06-03T09:00:00.000Z", 3, "sla-bridge", "Agent", "email", False, f"Relance\n\n{marker}")
    pasted = article(17, "2025-06-03T09:01:00.000Z", 4, "sam@support.example", "Agent", "note", False, marker)
    trigger = article(18, "2025-06-03T09:02:00.000Z", 3, "sla-bridge", "System", "email", False,
                      f"Auto-reply quoting the customer: {marker}")
    on_behalf = article(19, "2025-06-03T09:03:00.000Z", 3, "sla-bridge", "Customer", "phone", False,
                        f"Customer called: {marker}", origin_by_id=10)
    no_author = article(20, "2025-06-03T09:04:00.000Z", 3, "sla-bridge", "Agent", "note", False, marker) \
        | {"created_by_id": None}
    reads(responses.mock, articles=[ours, pasted, trigger, on_behalf, no_author])
    comments = [e for e in make_adapter().fetch("7").events if isinstance(e, Comment)]
    assert [c.own for c in comments] == [True, False, False, False, False]
    assert all(markers_in(c.body) for c in comments)


# --- 6. reminders cut to Zammad's article body limit -----------------------------------------------

def test_a_reminder_longer_than_zammads_body_limit_is_cut_never_its_marker(
        zammad: FakeZammad, clock: WallClock) -> None:
    """Zammad refuses (422) an article body over 1,500,000 characters (Ticket::Article#check_body);
    before, such a reminder was refused on every pass and never sent."""
    bridge = Bridge(zammad, clock, reminder_article="note",
                    top={"templates": {"reminder": "é" * (ARTICLE_BODY_LIMIT + 100_000) + " $ticket"}})
    assert bridge.syncer.max_comment_length == ARTICLE_BODY_LIMIT == ZammadAdapter.max_comment_length
    ticket_id, waiting_since = waiting(zammad, clock, "Long")
    summary = bridge.sync(bridge.config.calendar.add_days(waiting_since, 1) + MINUTE)
    assert summary["errors"] == []
    [note] = zammad.marker_articles(ticket_id)
    assert len(note["body"]) <= ARTICLE_BODY_LIMIT and note["body"].endswith("]")
    assert len(keys(zammad, ticket_id)) == 1
    assert bridge.sync(bridge.config.calendar.add_days(waiting_since, 1) + 2 * MINUTE)["applied"] == {}


# --- 8. messages name the tracker once ------------------------------------------------------------

@responses.activate
def test_messages_start_with_the_tracker_name_once(caplog: pytest.LogCaptureFixture) -> None:
    messages: list[str] = []
    denied = {"error": "Not authorized", "error_human": "Not authorized"}
    responses.get(f"{API}/tickets/search", status=403, json=denied)
    with pytest.raises(PermanentError) as refused:
        list(make_adapter().changed_since(None))
    messages.append(str(refused.value))
    responses.get(f"{API}/users/me", status=403, json=denied)
    with pytest.raises(PermanentError) as me:
        make_adapter().me  # noqa: B018
    messages.append(str(me.value))
    responses.replace(responses.GET, f"{API}/tickets/search", json=[row(1, "2025-06-02T09:00:00.000Z")] * 3)
    with pytest.raises(TransientError) as stalled:
        list(make_adapter(page_size=3).changed_since(None))
    messages.append(str(stalled.value))
    with caplog.at_level(logging.WARNING):
        responses.replace(responses.GET, f"{API}/users/me", json=ME)
        reads(responses.mock, known={3: ME, 10: USERS[10]})
        responses.get(f"{API}/users/4", status=403, json=denied)
        make_adapter().fetch("7")
    messages += [r.getMessage() for r in caplog.records if "user 4" in r.getMessage()]
    assert len(messages) == 4
    assert [m for m in messages if not m.startswith("zm: ") or m.count("zm: ") != 1] == []


# --- 7. property tests: arbitrary and malformed JSON ---------------------------------------------

json_values = hostile_json.json_values([
    "2025-06-02T08:00:00.000Z", "2025-06-02T08:00:00", "2025-06-02", "Ticket", "updated", "state", "tag",
    "System", "Agent", '["a", ["b"]]'
])  # the tracker's own words, often met in hostile answers
TICKET_KEYS = ["id", "created_at", "updated_at", "state", "title", "customer_id", "customer", "group", "priority",
               "sla_due_at", "owner_id"]
ENTRY_KEYS = ["id", "o_id", "object", "type", "attribute", "created_at", "created_by_id", "value_from", "value_to",
              "sourceable_type"]
ARTICLE_KEYS = ["id", "created_at", "created_by_id", "origin_by_id", "sender", "body", "internal", "created_by",
                "from"]


def mutated(base: Any, keys: list[str]) -> st.SearchStrategy[Any]:
    return hostile_json.mutated(base, keys, json_values)


def listed(base: list[Any], keys: list[str]) -> st.SearchStrategy[Any]:
    return hostile_json.listed(base, keys, json_values)


def offline_adapter(answers: dict[str, Any] | None = None) -> ZammadAdapter:
    """The adapter with users answered from `answers` (path -> JSON), without HTTP."""
    adapter = make_adapter()
    users = {f"/users/{uid}": data for uid, data in USERS.items()} | (answers or {})

    def get(path: str, what: str, **params: Any) -> Any:
        if path not in users:
            raise SkippableError(f"zm: {what}: HTTP 404: Couldn't find User")
        return users[path]

    adapter.directory = Directory(get, "zm", 3600)
    adapter.memory.keep("me", ME)  # known: remembered from an earlier run
    adapter._answered = True
    return adapter


def check_parse(adapter: ZammadAdapter, raw: Any, tags: Any, history: Any, articles: Any) -> None:
    try:
        result = adapter.parse("7", raw, tags, history, articles)
    except PermanentError as exc:
        assert isinstance(raw, dict) and ("sla_due_at" not in raw or is_date_only(raw["sla_due_at"])), exc
        return
    except SkippableError as exc:
        assert str(exc).startswith("zm: ticket 7: ")
        return
    assert isinstance(result, Ticket) and result.id == "7"
    assert isinstance(result.status, str) and all(isinstance(label, str) for label in result.labels)
    assert all(e.at.tzinfo is not None for e in result.events)
    assert all(isinstance(e.body, str) for e in result.events if isinstance(e, Comment))
    json.dumps(ticket_to_json(result))  # the store can keep it


@hostile_json.SETTINGS
@given(raw=mutated(ticket(), TICKET_KEYS))
def test_any_ticket_json_gives_a_ticket_or_a_skippable_error(raw: Any) -> None:
    check_parse(offline_adapter(), raw, {"tags": ["sla-bloquante"]}, HISTORY, ARTICLES)


@hostile_json.SETTINGS
@given(history=st.one_of(listed(HISTORY["history"], ENTRY_KEYS).map(lambda items: HISTORY | {"history": items}),
                         mutated(HISTORY, ["history", "assets"])),
       tags=mutated({"tags": ["vip"]}, ["tags"]))
def test_any_history_or_tags_give_a_ticket_or_a_skippable_error(history: Any, tags: Any) -> None:
    check_parse(offline_adapter(), ticket(), tags, history, ARTICLES)


@hostile_json.SETTINGS
@given(articles=listed(ARTICLES, ARTICLE_KEYS))
def test_any_articles_give_a_ticket_or_a_skippable_error(articles: Any) -> None:
    check_parse(offline_adapter(), ticket(), {"tags": []}, HISTORY, articles)


@hostile_json.SETTINGS
@given(answer=st.one_of(listed([row(1, "2025-06-02T09:00:00.000Z"), row(2, "2025-06-02T09:01:00.000Z")],
                               ["id", "updated_at", "group"]), json_values))
def test_any_change_query_answer_gives_rows_or_problems(answer: Any) -> None:
    rows, problems = search_rows(answer)
    for r in rows:
        assert r.id.isdigit() and r.id == str(int(r.id))
        assert (r.updated is None) == (r.problem is not None)
        assert r.updated is None or r.updated.tzinfo is not None
    assert all(isinstance(p, str) for p in problems)
    try:
        make_adapter()._rows(answer, first=False, where="page 1")
    except TransientError as exc:
        assert problems and str(exc).startswith("zm: ")


@hostile_json.SETTINGS
@given(data=st.one_of(mutated(USERS[4], ["id", "login", "email", "firstname", "roles", "groups", "organization",
                                         "organizations"]), json_values))
def test_any_user_json_gives_a_person_or_a_skippable_error(data: Any) -> None:
    try:
        person = person_from_user(data)
    except Malformed:
        person = None
    assert person is None or (isinstance(person, Person) and person.id is not None)
    adapter = offline_adapter({"/users/4": data})
    try:
        found = adapter.directory.person(4)
    except MalformedAnswer as exc:
        assert str(exc).startswith("zm: read user 4: ")
        return
    assert found is not None and found.id == "4"
