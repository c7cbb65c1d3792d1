"""What the Zammad adapter remembers between runs (``adapter.facts``), with recorded HTTP.

The API user (``me``, a day) and every user a ticket names (``user:<id>``,
``user_cache_seconds``): a second adapter sharing the facts (another process, the same
store) asks Zammad for none of them; a stale or corrupt value is asked again. And what
one ticket read costs: four requests whatever its tags (one ``GET /tags`` for all).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import responses
from responses import matchers

from sla_bridge.adapters.base import PermanentError
from sla_bridge.adapters.jira_facts import DAY
from sla_bridge.adapters.zammad import ZammadAdapter
from sla_bridge.identity import Person
from sla_bridge.model import Comment, LabelChange, Role
from test_zammad_adapter import ALICE, API, ME, SAM, TOKEN, make_adapter, reads, user_calls


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLA_TEST_ZAMMAD_TOKEN", TOKEN)


def sharing(first: ZammadAdapter, **options: Any) -> ZammadAdapter:
    """Another adapter (another process) given the same facts, as the sync gives the store's."""
    second = make_adapter(**options)
    second.facts = first.facts
    return second


def ticket_calls() -> list[str]:
    return [(c.request.url or "").split("?")[0].removeprefix(API) for c in responses.calls
            if "/users/" not in (c.request.url or "")]


@responses.activate
def test_a_ticket_with_three_tags_costs_four_requests_and_its_users_once_for_every_process() -> None:
    """Before: the ticket, its tags, history and articles, /users/me and one per user, in every
    process (7 here). After, with the facts known: the four, whatever the number of tags."""
    reads(responses.mock, tags=["sla-bloquante", "vip", "contournement"])
    first = make_adapter(agents=("role:Agent",))
    t = first.fetch("7")
    assert t.labels == {"sla-bloquante", "vip", "contournement"}
    assert sorted(user_calls(responses.mock)) == ["10", "4", "me"] and len(responses.calls) == 7
    second = sharing(first, agents=("role:Agent",))
    again = second.fetch("7")
    assert len(responses.calls) == 11 and sorted(user_calls(responses.mock)) == ["10", "4", "me"]
    assert ticket_calls()[-4:] == ["/tickets/7", "/tags", "/ticket_history/7", "/ticket_articles/by_ticket/7"]
    assert [(c.author, c.role, c.own) for c in again.events if isinstance(c, Comment)] == \
        [(c.author, c.role, c.own) for c in t.events if isinstance(c, Comment)], "the same people, remembered"
    assert again.reporter == t.reporter and again.reporter is not None and "Customer" in again.reporter.roles


@responses.activate
def test_users_are_asked_again_after_user_cache_seconds_and_me_after_a_day() -> None:
    reads(responses.mock)
    first = make_adapter(agents=("role:Agent",))
    first.fetch("7")
    later = sharing(first, agents=("role:Agent",))
    later.directory.clock = lambda: time.time() + 3601  # user_cache_seconds: roles may have changed
    later.fetch("7")
    assert sorted(user_calls(responses.mock)) == ["10", "10", "4", "4", "me"]
    tomorrow = sharing(first, agents=("role:Agent",))
    tomorrow.clock = lambda: time.time() + DAY + 1
    tomorrow.me  # noqa: B018
    assert user_calls(responses.mock).count("me") == 2


@pytest.mark.parametrize("value", [
    "{", '{"site": 1, "at": 0, "value": {}}', json.dumps({"at": time.time(), "value": {"id": 4, "roles": "Agent"}}),
    json.dumps({"at": time.time(), "value": ["sam"]}), json.dumps({"at": time.time(), "value": {"login": "sam"}}),
])
@responses.activate
def test_a_corrupt_remembered_user_is_asked_again(value: str) -> None:
    reads(responses.mock)
    adapter = make_adapter(agents=("role:Agent",))
    if value.startswith('{"at"'):
        value = json.dumps({**json.loads(value), "site": adapter.memory.site})  # the right site, a wrong value
    for key in ("user:4", "me"):
        adapter.facts.put(key, value)
    t = adapter.fetch("7")
    assert {c.role for c in t.events if isinstance(c, Comment) and c.author == "sam@support.example"} == {Role.AGENT}
    assert sorted(user_calls(responses.mock)) == ["10", "4", "me"]


@responses.activate
def test_a_user_zammad_refused_is_remembered_by_what_was_known_then_asked_again() -> None:
    reads(responses.mock, known={3: ME, 10: ALICE})
    refused = responses.get(f"{API}/users/4", status=403, json={"error": "Not authorized"})
    first = make_adapter(agents=("login:sam@support.example",))
    first.fetch("7")
    second = sharing(first, agents=("login:sam@support.example",))
    assert second.directory.person(4) == Person(id="4", login="sam@support.example")
    assert refused.call_count == 1
    responses.replace(responses.GET, f"{API}/users/4", json=SAM, match=[matchers.query_param_matcher({"expand": "true"})])
    later = sharing(first, agents=("role:Agent",))
    later.directory.clock = lambda: time.time() + 3601
    assert later.directory.person(4) is not None and "Agent" in later.directory.person(4).roles  # type: ignore[union-attr]


@responses.activate
def test_check_config_reads_the_api_user_now_and_remembers_it() -> None:
    """Authentication is checked by asking: a remembered user proves nothing about the token."""
    reads(responses.mock)
    first = make_adapter()
    first.me  # noqa: B018
    second = sharing(first)
    assert second.read_me()["login"] == "sla-bridge"
    assert user_calls(responses.mock) == ["me", "me"]
    responses.replace(responses.GET, f"{API}/users/me", status=401, json={"error": "authentication failed"})
    with pytest.raises(PermanentError, match="401"):
        sharing(first).read_me()


@responses.activate
def test_another_token_is_another_site_for_the_facts(monkeypatch: pytest.MonkeyPatch) -> None:
    reads(responses.mock)
    first = make_adapter()
    first.me  # noqa: B018
    monkeypatch.setenv("SLA_TEST_ZAMMAD_TOKEN", "another-t0ken")
    other = sharing(first)
    other.me  # noqa: B018
    assert user_calls(responses.mock) == ["me", "me"]
    assert TOKEN not in json.dumps(first.facts.get("me")), "the facts never hold the token"


@responses.activate
def test_tags_are_read_in_one_request_and_changes_from_the_history() -> None:
    history = {"history": [
        {"id": n, "o_id": 7, "history_attribute_id": None, "related_history_object_id": None, "sourceable_id": None,
         "sourceable_type": None, "sourceable_name": None, "created_by_id": 4, "created_at": f"2025-06-02T08:1{n}:00.000Z",
         "object": "Ticket", "type": "added", "attribute": "tag", "value_from": None, "value_to": tag,
         "id_from": None, "id_to": None}
        for n, tag in enumerate(["a", "b", "c"])], "assets": {}}
    reads(responses.mock, tags=["a", "b", "c"], history=history, articles=[])
    t = make_adapter().fetch("7")
    assert [e.label for e in t.events if isinstance(e, LabelChange)] == ["a", "b", "c"]
    assert sum(1 for c in responses.calls if "/tags" in (c.request.url or "")) == 1
