"""End to end: the real ``Syncer`` drives the Zammad adapter against a stateful fake Zammad.

The scenarios are those of ``tests/live/test_redmine_live.py``: the fake's clock
plays the wall clock (when people and sla-bridge write), ``sync(at)`` plays
``sla-bridge sync --once --at`` (the instant the contract is evaluated at).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import responses
from zammad_fake import (
    AGENT,
    API_USER,
    COLLEAGUE,
    CUSTOMER,
    CUSTOMER_NO_EMAIL,
    OTHER_AGENT,
    OUTSIDER,
    FakeZammad,
    parse,
)

from sla_bridge.actions import PostComment
from sla_bridge.adapters.zammad import ZammadAdapter
from sla_bridge.config import Config
from sla_bridge.demo import builtin_config, example_config_text
from sla_bridge.engine import evaluate
from sla_bridge.httpclient import RetryPolicy
from sla_bridge.identity import Person
from sla_bridge.markers import markers_in
from sla_bridge.model import Comment, FieldChange, Role, StatusChange, Ticket
from sla_bridge.policy import Clock
from sla_bridge.plugins import build_plugin_manager
from sla_bridge.store import Store
from sla_bridge.sync import Syncer

MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
TOKEN = "zammad-t0ken"

ZAMMAD_SECTION: dict[str, Any] = {
    "adapter": "zammad",
    "closing_status": "closed",
    "comment_visibility": "public",
    "agents": ["role:Agent"],  # every Zammad agent is support staff
    "severities": {"3 high": "bloquante", "2 normal": "majeure", "1 low": "mineure"},
    "statuses": {"new": ["new"], "in_progress": ["open"], "waiting_for_customer": ["pending reminder"],
                 "resolved": ["pending close"], "closed": ["closed", "merged"]},
    "options": {"url": "http://zammad.test", "token": {"env": "SLA_BRIDGE_ZAMMAD_TOKEN"},
                "due_attribute": "sla_due_at", "reminder_article": "email", "page_size": 100},
}


class WallClock:
    def __init__(self, now: str) -> None:
        self.now = datetime.fromisoformat(now)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta = SECOND) -> datetime:
        self.now += delta
        return self.now


class Bridge:
    """``sla-bridge sync --once --at`` against the fake, with one store across runs."""

    def __init__(self, zammad: FakeZammad, clock: WallClock, section: dict[str, Any] | None = None,
                 top: dict[str, Any] | None = None, **options: Any) -> None:
        raw = tomllib.loads(example_config_text())
        tracker = {**ZAMMAD_SECTION, **(section or {}), "options": {**ZAMMAD_SECTION["options"], **options}}
        raw["trackers"] = {"zammad": tracker}
        for key, value in (top or {}).items():  # top-level sections: [sync], [clocks], ...
            raw[key] = {**raw.get(key, {}), **value}
        self.config: Config = builtin_config(raw)
        self.zammad, self.clock = zammad, clock
        self.store = Store(":memory:")
        self.pm = build_plugin_manager(load_entry_points=False)
        self.sleeps: list[float] = []
        self.adapter = self.make(ZammadAdapter)
        self.syncer = Syncer(self.config, self.store, self.adapter, self.pm, clock=clock)
        # One worker: scripted answers and failures reach the ticket the test names
        # (workers at once: test_concurrency, test_crash).
        self.syncer.workers = 1

    def make(self, cls: type[ZammadAdapter]) -> ZammadAdapter:
        return cls("zammad", self.config.file.trackers["zammad"], self.config,
                   retry=RetryPolicy(attempts=3, sleep=self.sleeps.append))

    def sync(self, at: datetime, dry_run: bool = False) -> dict[str, Any]:
        summary = self.syncer.run(at, dry_run=dry_run).to_json()
        self.clock.advance()  # a pass takes time on the wall clock
        return summary


@pytest.fixture()
def clock() -> WallClock:
    return WallClock("2025-06-02T10:00:00+02:00")  # Monday


@pytest.fixture()
def zammad(clock: WallClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeZammad]:
    monkeypatch.setenv("SLA_BRIDGE_ZAMMAD_TOKEN", TOKEN)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeZammad(clock, token=TOKEN).install(rsps)


@pytest.fixture()
def bridge(zammad: FakeZammad, clock: WallClock) -> Bridge:
    return Bridge(zammad, clock)


def keys(zammad: FakeZammad, ticket_id: int) -> list[str]:
    return [k for a in zammad.marker_articles(ticket_id) for k in markers_in(a["body"])]


def waiting(zammad: FakeZammad, clock: WallClock, title: str) -> tuple[int, datetime]:
    """A bloquante ticket an agent answered and set to wait for the customer; when the waiting began."""
    ticket_id = zammad.create_ticket(title, priority="3 high")
    clock.advance(5 * SECOND)
    zammad.add_article(ticket_id, AGENT, body="A fix is ready: please test it.", type="email",
                       to="alice@customer.example")
    zammad.update(ticket_id, AGENT, state="pending reminder", pending_time="2025-06-09T07:00:00.000Z")
    clock.advance(5 * SECOND)
    return ticket_id, parse(zammad.history[ticket_id][-1]["created_at"])


def test_due_attribute_and_tags_then_nothing_when_right(zammad: FakeZammad, bridge: Bridge, clock: WallClock) -> None:
    ticket_id = zammad.create_ticket("Login page returns 500", priority="3 high")
    start = parse(zammad.tickets[ticket_id]["created_at"])
    summary = bridge.sync(start + 5 * MINUTE)
    assert summary["errors"] == [] and summary["applied"] == {"due_date": 1, "labels": 1}

    cal = bridge.config.calendar
    deadline = cal.add(start, 180)  # bloquante: acknowledge within 3 business hours
    assert parse(zammad.tickets[ticket_id]["sla_due_at"]) == deadline.replace(microsecond=0)
    assert zammad.tags[ticket_id] == ["sla-bloquante"]
    assert [(e["attribute"], e["created_by_id"]) for e in zammad.history[ticket_id] if e.get("attribute")] == [
        ("sla_due_at", API_USER), ("tag", API_USER)]

    writes, updated = zammad.writes, zammad.tickets[ticket_id]["updated_at"]
    again = bridge.sync(start + 6 * MINUTE)
    assert again["applied"] == {} and again["tickets_read"] == 0 and again["errors"] == []
    assert zammad.writes == writes, "a ticket already right costs zero writes"
    assert zammad.tickets[ticket_id]["updated_at"] == updated


def test_a_full_reread_of_a_right_ticket_plans_nothing(zammad: FakeZammad, bridge: Bridge) -> None:
    ticket_id = zammad.create_ticket("Due date read back", priority="2 normal")
    start = parse(zammad.tickets[ticket_id]["created_at"])
    bridge.sync(start + MINUTE)
    fresh = Bridge(zammad, bridge.clock)  # an empty store: everything is read again
    writes = zammad.writes
    summary = fresh.sync(start + 2 * MINUTE)
    assert summary["tickets_read"] == 1 and summary["applied"] == {} and zammad.writes == writes
    ticket = fresh.adapter.fetch(str(ticket_id))
    assert ticket.due_at is not None
    assert ticket.due_date == ticket.due_at.astimezone(fresh.config.calendar.zone).date()


def test_breach_tag_when_nobody_acknowledges(zammad: FakeZammad, bridge: Bridge) -> None:
    ticket_id = zammad.create_ticket("Export broken", priority="2 normal")  # majeure
    start = parse(zammad.tickets[ticket_id]["created_at"])
    bridge.sync(start + MINUTE)
    late = bridge.config.calendar.add(start, 181)
    summary = bridge.sync(late)
    assert summary["applied"] == {"labels": 1}
    assert {"sla-depasse-prise-en-compte", "sla-majeure"} <= set(zammad.tags[ticket_id])


def test_reminders_restart_on_customer_answer_then_closure_exactly_once(
        zammad: FakeZammad, clock: WallClock) -> None:
    # Reminders at the contract's dates even when two come due at once ([sync] catch_up).
    bridge = Bridge(zammad, clock, top={"sync": {"catch_up": "contract"}})
    cal = bridge.config.calendar
    ticket_id, waiting_since = waiting(zammad, clock, "Nightly sync stopped")

    first = cal.add_days(waiting_since, 1)
    bridge.sync(first + MINUTE)
    writes = zammad.writes
    bridge.sync(first + 2 * MINUTE)  # twice: still one reminder, and not one write
    assert zammad.writes == writes
    found = keys(zammad, ticket_id)
    assert len(found) == 1 and found[0].endswith("/1")

    zammad.add_article(ticket_id, CUSTOMER, body="Still testing, sorry.", type="web")  # the cycle restarts
    answered = parse(zammad.articles[ticket_id][-1]["created_at"])
    clock.advance()
    bridge.sync(cal.add_days(waiting_since, 2) + MINUTE)  # the old cycle's reminder 2 would be due now
    found = keys(zammad, ticket_id)
    cycles = [k.rsplit("/", 2)[-2] for k in found]
    # The answer came seconds after the waiting started, so reminders 1 and 2 of
    # the new cycle are both due now; none of the old cycle is sent any more.
    assert [k.rsplit("/", 1)[-1] for k in found] == ["1", "1", "2"]
    assert cycles[1] == cycles[2] != cycles[0]

    bridge.sync(cal.add_days(answered, 3) + MINUTE)
    assert [k.rsplit("/", 1)[-1] for k in keys(zammad, ticket_id)] == ["1", "1", "2", "3"]
    assert zammad.state(ticket_id) == "pending reminder"

    closing = cal.add_days(cal.add_days(answered, 3), 1) + MINUTE
    summary = bridge.sync(closing)
    assert summary["applied"].get("transition") == 1 and summary["errors"] == []
    assert zammad.state(ticket_id) == "closed"
    assert "/closure/" in keys(zammad, ticket_id)[-1]
    notes = zammad.marker_articles(ticket_id)
    assert all(a["created_by_id"] == API_USER and not a["internal"] and a["sender"] == "Agent" for a in notes)
    assert all(a["type"] == "email" and a["to"] == "alice@customer.example" for a in notes)
    assert "relance 1 sur 3" in notes[0]["body"]
    closure = notes[-1]["id"]
    history = zammad.history[ticket_id]
    article_at = next(i for i, e in enumerate(history) if e["object"] == "Ticket::Article" and e["o_id"] == closure)
    closed_at = next(i for i, e in enumerate(history) if e.get("attribute") == "state" and e["value_to"] == "closed")
    assert article_at < closed_at, "the closing article is written before the state changes"

    bridge.sync(closing + 60 * MINUTE)
    assert len(keys(zammad, ticket_id)) == 5


class KilledAfterPost(ZammadAdapter):
    def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
        super().post_comment(ticket, comment)
        raise KeyboardInterrupt("killed between the API call and the store write")


def test_killed_in_the_middle_sends_the_reminder_exactly_once(
        zammad: FakeZammad, bridge: Bridge, clock: WallClock) -> None:
    cal = bridge.config.calendar
    ticket_id, waiting_since = waiting(zammad, clock, "Reports unreachable")
    bridge.sync(waiting_since + MINUTE)
    due = cal.add_days(waiting_since, 1) + MINUTE

    killer = bridge.make(KilledAfterPost)
    with pytest.raises(KeyboardInterrupt):
        Syncer(bridge.config, bridge.store, killer, bridge.pm, clock=clock).run(due)
    assert len(keys(zammad, ticket_id)) == 1

    summary = bridge.sync(due + MINUTE)
    assert summary["errors"] == []
    assert len(keys(zammad, ticket_id)) == 1
    assert bridge.store.journaled(keys(zammad, ticket_id)[0]), "the marker found in Zammad is journaled"


def test_a_refused_article_is_not_retried_and_the_next_pass_sends_it(
        zammad: FakeZammad, bridge: Bridge, clock: WallClock) -> None:
    cal = bridge.config.calendar
    ticket_id, waiting_since = waiting(zammad, clock, "Flaky proxy")
    bridge.sync(waiting_since + MINUTE)
    zammad.fail("POST", r"^/ticket_articles$", 502)  # the article is refused by the proxy: nothing written
    summary = bridge.sync(cal.add_days(waiting_since, 1) + MINUTE)
    # The ticket is deferred (re-read before anything is sent again); the pass goes on.
    assert keys(zammad, ticket_id) == [] and summary["complete"] and bridge.sleeps == []
    assert summary["errors"][0].split(": ", 1)[1].startswith("deferred:")
    bridge.sync(cal.add_days(waiting_since, 1) + 30 * MINUTE)
    assert len(keys(zammad, ticket_id)) == 1


def test_a_lost_answer_to_an_article_is_not_resent(zammad: FakeZammad, bridge: Bridge, clock: WallClock) -> None:
    """Zammad created the article (and mailed it), then the answer was lost on the way back."""
    cal = bridge.config.calendar
    ticket_id, waiting_since = waiting(zammad, clock, "Lossy proxy")
    bridge.sync(waiting_since + MINUTE)
    zammad.fail("POST", r"^/ticket_articles$", 504, after=True)
    summary = bridge.sync(cal.add_days(waiting_since, 1) + MINUTE)
    assert "deferred:" in summary["errors"][0] and bridge.sleeps == []
    [key] = keys(zammad, ticket_id)
    posts = zammad.calls.count(("POST", "/ticket_articles"))
    summary = bridge.sync(cal.add_days(waiting_since, 1) + 30 * MINUTE)
    assert summary["errors"] == [] and summary["complete"]
    assert keys(zammad, ticket_id) == [key] and zammad.calls.count(("POST", "/ticket_articles")) == posts
    assert bridge.store.journaled(key), "the marker found in Zammad is journaled"


def test_a_group_without_email_address_skips_its_ticket_not_the_pass(
        zammad: FakeZammad, bridge: Bridge, clock: WallClock) -> None:
    """Zammad fails (a 500, its reason hidden from the agent token) on an email article in a
    group without an address; the other tickets are still reminded."""
    stuck, waiting_since = waiting(zammad, clock, "Phone queue")
    zammad.update(stuck, AGENT, group_id=3)  # "Phone Only": no email address
    mailed, _ = waiting(zammad, clock, "Mailed")
    clock.advance()
    summary = bridge.sync(bridge.config.calendar.add_days(waiting_since, 1) + 5 * MINUTE)
    assert summary["complete"] and len(summary["errors"]) == 1
    assert "group without an email address" in summary["errors"][0]
    assert keys(zammad, stuck) == [] and len(keys(zammad, mailed)) == 1


def test_a_5xx_on_a_read_is_retried_and_the_pass_completes(zammad: FakeZammad, bridge: Bridge) -> None:
    ticket_id = zammad.create_ticket("Gateway hiccup", priority="1 low")
    zammad.fail("GET", r"^/ticket_history/", 503, headers={"Retry-After": "2"})
    summary = bridge.sync(parse(zammad.tickets[ticket_id]["created_at"]) + MINUTE)
    assert summary["errors"] == [] and summary["complete"] and bridge.sleeps == [2.0]
    assert "sla-mineure" in zammad.tags[ticket_id]


def test_dry_run_writes_nothing(zammad: FakeZammad, bridge: Bridge) -> None:
    ticket_id = zammad.create_ticket("Dry run", priority="3 high")
    writes, updated = zammad.writes, zammad.tickets[ticket_id]["updated_at"]
    at = parse(zammad.tickets[ticket_id]["created_at"]) + MINUTE
    summary = bridge.sync(at, dry_run=True)
    assert [p["action"].split()[0] for p in summary["planned"]] == ["set", "labels"]
    assert zammad.writes == writes and zammad.tickets[ticket_id]["updated_at"] == updated
    assert bridge.sync(at)["applied"] == {"due_date": 1, "labels": 1}


def test_a_person_editing_other_tags_is_left_alone(zammad: FakeZammad, bridge: Bridge, clock: WallClock) -> None:
    ticket_id = zammad.create_ticket("Other tags", priority="3 high")
    start = parse(zammad.tickets[ticket_id]["created_at"])
    bridge.sync(start + MINUTE)
    zammad.add_tag(ticket_id, "contournement", AGENT)
    zammad.add_tag(ticket_id, "vip", AGENT)
    clock.advance()
    bridge.sync(start + 2 * MINUTE)
    assert sorted(zammad.tags[ticket_id]) == ["contournement", "sla-bloquante", "vip"]


def test_stale_sla_tags_go_other_tags_stay(zammad: FakeZammad, bridge: Bridge) -> None:
    ticket_id = zammad.create_ticket("Tags", priority="2 normal", tags=("customer-vip", "sla-stale"))
    bridge.sync(parse(zammad.tickets[ticket_id]["created_at"]) + 30 * MINUTE)
    assert sorted(zammad.tags[ticket_id]) == ["customer-vip", "sla-majeure"]


def test_reminders_as_public_notes(zammad: FakeZammad, clock: WallClock) -> None:
    bridge = Bridge(zammad, clock, reminder_article="note")
    ticket_id, waiting_since = waiting(zammad, clock, "Portal only")
    bridge.sync(bridge.config.calendar.add_days(waiting_since, 1) + MINUTE)
    [note] = zammad.marker_articles(ticket_id)
    assert (note["type"], note["internal"], note["to"], note["sender"]) == ("note", False, None, "Agent")


def test_a_customer_without_email_is_reported_and_the_others_synced(zammad: FakeZammad, bridge: Bridge,
                                                                    clock: WallClock) -> None:
    phone = zammad.create_ticket("Called in", priority="3 high", customer=CUSTOMER_NO_EMAIL, article_type="phone",
                                 by=AGENT)
    clock.advance()
    zammad.update(phone, AGENT, state="pending reminder", pending_time="2025-06-09T07:00:00.000Z")
    mailed, waiting_since = waiting(zammad, clock, "Mailed")
    summary = bridge.sync(bridge.config.calendar.add_days(waiting_since, 1) + MINUTE)
    assert any("'bob' has no email address" in e for e in summary["errors"])
    assert len(keys(zammad, mailed)) == 1 and keys(zammad, phone) == []


def test_a_customer_reopening_by_email_stops_the_reminders(zammad: FakeZammad, bridge: Bridge,
                                                           clock: WallClock) -> None:
    ticket_id, waiting_since = waiting(zammad, clock, "Answered by mail")
    zammad.add_article(ticket_id, CUSTOMER, body="Here are the logs.", type="email")
    zammad.update(ticket_id, CUSTOMER, state="open")  # Zammad's follow-up state for a customer email
    clock.advance()
    summary = bridge.sync(bridge.config.calendar.add_days(waiting_since, 3) + MINUTE)
    assert summary["errors"] == [] and keys(zammad, ticket_id) == []
    reopened = [e for e in bridge.adapter.fetch(str(ticket_id)).events if isinstance(e, StatusChange)][-1]
    assert (reopened.to_status, reopened.by_role) == ("open", Role.CUSTOMER)


def test_paging_sees_every_ticket_once(zammad: FakeZammad, clock: WallClock) -> None:
    bridge = Bridge(zammad, clock, page_size=3)
    ids = []
    for i in range(8):
        ids.append(zammad.create_ticket(f"Ticket {i}", priority="1 low", customer=(CUSTOMER, COLLEAGUE)[i % 2]))
        if i % 3:
            clock.advance()  # some share an instant, some do not
    rows = [r.id for r in bridge.adapter.changed_since(None)]
    assert sorted(rows, key=int) == [str(i) for i in ids] and len(set(rows)) == len(rows)
    searches = zammad.calls.count(("GET", "/tickets/search"))
    assert searches >= 3, "8 tickets, 3 per page"
    summary = bridge.sync(clock() + MINUTE)
    assert summary["tickets_evaluated"] == 8 and summary["errors"] == []
    assert all("sla-mineure" in zammad.tags[i] for i in ids)


def test_list_mode_and_elasticsearch_mode_find_the_same_tickets(zammad: FakeZammad, clock: WallClock) -> None:
    for i in range(5):
        zammad.create_ticket(f"Ticket {i}", priority="1 low")
        clock.advance()
    found = {}
    for mode in ("condition", "elasticsearch", "list"):
        adapter = Bridge(zammad, clock, search=mode, page_size=2).adapter
        found[mode] = [r.id for r in adapter.changed_since(None)]
    assert found["condition"] == found["elasticsearch"] == found["list"] == ["1", "2", "3", "4", "5"]


def test_elasticsearch_mode_without_elasticsearch_finds_nothing(zammad: FakeZammad, clock: WallClock) -> None:
    """Why ``search = "condition"`` is the default: Zammad without Elasticsearch answers
    a query string with a text search on titles and articles."""
    zammad.elasticsearch = False
    zammad.create_ticket("Anything", priority="1 low")
    assert list(Bridge(zammad, clock, search="elasticsearch").adapter.changed_since(None)) == []
    assert [r.id for r in Bridge(zammad, clock).adapter.changed_since(None)] == ["1"]


def test_a_refused_new_tag_is_reported_and_nothing_else_breaks(zammad: FakeZammad, bridge: Bridge) -> None:
    zammad.tag_new = False
    ticket_id = zammad.create_ticket("No new tags", priority="3 high")
    summary = bridge.sync(parse(zammad.tickets[ticket_id]["created_at"]) + MINUTE)
    assert any("create 'sla-bloquante' once in Admin > Tags" in e for e in summary["errors"])
    assert zammad.tickets[ticket_id]["sla_due_at"] is not None
    zammad.known_tags.add("sla-bloquante")  # the admin created it
    summary = bridge.sync(parse(zammad.tickets[ticket_id]["created_at"]) + 2 * MINUTE)
    assert summary["errors"] == [] and summary["tickets_evaluated"] == 0, "a failed ticket waits for its retry"
    bridge.clock.advance(6 * MINUTE)
    summary = bridge.sync(parse(zammad.tickets[ticket_id]["created_at"]) + 8 * MINUTE)
    assert summary["errors"] == [] and zammad.tags[ticket_id] == ["sla-bloquante"]


def test_a_bad_token_stops_this_adapter_with_a_clear_message(zammad: FakeZammad, bridge: Bridge) -> None:
    zammad.token = "rotated"
    zammad.create_ticket("Anything")
    summary = bridge.sync(bridge.clock() + MINUTE)
    assert not summary["complete"] and len(summary["errors"]) == 1
    assert "refused the access token (HTTP 401)" in summary["errors"][0] and TOKEN not in summary["errors"][0]


# --- identities, fields, connection check --------------------------------------------

def test_people_are_read_with_their_identities(zammad: FakeZammad, bridge: Bridge, clock: WallClock) -> None:
    ticket_id, _ = waiting(zammad, clock, "Who is who")
    ticket = bridge.adapter.fetch(str(ticket_id))
    assert ticket.reporter == Person(id=str(CUSTOMER), login="alice@customer.example",
                                     email="alice@customer.example", name="Alice Martin",
                                     roles=frozenset({"Customer"}), organisations=frozenset({"Customer Inc."}))
    assert ticket.project == "Users"
    agent = bridge.adapter.directory.person(AGENT)
    assert agent is not None and (agent.login, agent.name, agent.roles) == (
        "sam@support.example", "Samantha Durand", frozenset({"Agent"}))
    assert agent.groups == {"Users", "2nd Level", "Phone Only"} and agent.organisations == {"Support SARL"}
    roles = {(e.author, e.role) for e in ticket.events if isinstance(e, Comment)}
    assert roles == {("alice@customer.example", Role.CUSTOMER), ("sam@support.example", Role.AGENT)}


def test_an_agent_the_configuration_does_not_list_answers_as_the_customer(
        zammad: FakeZammad, clock: WallClock) -> None:
    """agents names people; Max is an agent in Zammad but not in the list, so his reply counts
    as the customer's (the waiting cycle restarts), as docs/zammad.md says."""
    bridge = Bridge(zammad, clock, section={"agents": ["login:sam@support.example"]})
    ticket_id, waiting_since = waiting(zammad, clock, "Unlisted colleague")
    zammad.add_article(ticket_id, OTHER_AGENT, body="Any news?", type="note", internal=False)
    clock.advance()
    ticket = bridge.adapter.fetch(str(ticket_id))
    assert [(c.author, c.role) for c in ticket.events if isinstance(c, Comment)][-1] == ("max", Role.CUSTOMER)
    again = Bridge(zammad, clock).adapter.fetch(str(ticket_id))  # agents = ["role:Agent"]
    assert [c.role for c in again.events if isinstance(c, Comment)][-1] is Role.AGENT


def test_entitlement_by_organisation(zammad: FakeZammad, clock: WallClock) -> None:
    bridge = Bridge(zammad, clock, section={"entitlement": {"reporters": ["org:Customer Inc."]}})
    ours = zammad.create_ticket("Ours", priority="3 high")
    theirs = zammad.create_ticket("Not under contract", priority="3 high", customer=OUTSIDER)
    summary = bridge.sync(parse(zammad.tickets[theirs]["created_at"]) + MINUTE)
    assert summary["errors"] == []
    not_entitled = bridge.config.policy.labels.not_entitled
    assert not_entitled in zammad.tags[theirs] and zammad.tickets[theirs]["sla_due_at"] is None
    assert not_entitled not in zammad.tags[ours] and zammad.tickets[ours]["sla_due_at"] is not None


def test_scope_workaround_and_reported_at_from_ticket_attributes(zammad: FakeZammad, clock: WallClock) -> None:
    zammad.attributes.update({
        "category": {"data_type": "select", "options": {"standard": "Standard", "hors-contrat": "Hors contrat"}},
        "sla_workaround": {"data_type": "multiselect", "options": {"provisoire": "Provisoire",
                                                                   "definitif": "Définitif"}},
        "reported_at": {"data_type": "datetime", "past": True, "future": False}})
    bridge = Bridge(zammad, clock,
                    section={"fields": {"category": "category", "workaround": "sla_workaround",
                                        "reported_at": "reported_at"},
                             "scope": {"out_of_scope_fields": {"category": ["hors-contrat"]}}},
                    top={"clocks": {"workaround_fields": {"workaround": ["provisoire"]}}})
    cal = bridge.config.calendar
    called = parse("2025-06-02T06:30:00.000Z")  # 08:30 in Paris, logged by the agent at 10:00
    phoned = zammad.create_ticket("Phoned in", priority="3 high", by=AGENT, article_type="phone", sender="Customer",
                                  reported_at="2025-06-02T06:30:00.000Z", sla_workaround=[])
    outside = zammad.create_ticket("Training request", priority="2 normal", category="hors-contrat")
    summary = bridge.sync(clock() + MINUTE)
    assert summary["errors"] == []
    assert parse(zammad.tickets[phoned]["sla_due_at"]) == cal.add(called, 180), \
        "bloquante: acknowledged within 3 business hours of the call (09:00 + 3 h), not of the ticket's creation"
    out_of_scope = bridge.config.policy.labels.out_of_scope
    assert out_of_scope in zammad.tags[outside] and out_of_scope not in zammad.tags[phoned]

    clock.advance(10 * MINUTE)
    zammad.update(phoned, AGENT, sla_workaround=["provisoire"])
    delivered = parse(zammad.history[phoned][-1]["created_at"])
    assert zammad.history[phoned][-1]["value_to"] == '["provisoire"]', "Ruby's Array#to_s"
    ticket = bridge.adapter.fetch(str(phoned))
    assert [(e.field, e.old, e.new) for e in ticket.events if isinstance(e, FieldChange)] == [
        ("workaround", None, "provisoire")]
    assert ticket.fields >= {("workaround", "provisoire")} and ticket.reported_at == called
    first = next(e for e in ticket.events if isinstance(e, Comment))
    assert (first.author, first.role) == ("alice@customer.example", Role.CUSTOMER), "the call, logged for her"
    result = evaluate(ticket, bridge.config.policy, cal, delivered + MINUTE)
    workaround = result.clocks[Clock.WORKAROUND]
    assert workaround.state.value == "met" and workaround.stopped_at == delivered


def test_check_connection_against_zammad(zammad: FakeZammad, clock: WallClock) -> None:
    zammad.create_ticket("Sample", priority="1 low")
    bridge = Bridge(zammad, clock, groups=["Users", "2nd Level"])
    writes = zammad.writes
    checks = bridge.adapter.check_connection()
    assert [c for c in checks if not c.ok] == [] and zammad.writes == writes
    subjects = {(c.subject, c.name) for c in checks}
    assert {("status", "pending reminder"), ("closing status", "closed"), ("priority", "3 high"),
            ("group", "2nd Level"), ("attribute", "sla_due_at"),
            ("transition", "pending reminder -> closed")} <= subjects
    due = next(c for c in checks if c.name == "sla_due_at")
    assert due.detail.startswith("found on ticket 31001; not verified"), "an agent token cannot list attributes"
    zammad.admin_object = True
    due = next(c for c in bridge.make(ZammadAdapter).check_connection() if c.name == "sla_due_at")
    assert (due.ok, due.detail) == (True, "Sla due at (datetime)")
    zammad.token = "rotated"
    [failed] = bridge.make(ZammadAdapter).check_connection()
    assert not failed.ok and "HTTP 401" in failed.detail and TOKEN not in failed.detail


# --- day one: a tracker that already holds tickets ----------------------------------------------

def test_a_first_sync_weeks_late_sends_one_reminder_then_closes_a_day_after(
        zammad: FakeZammad, bridge: Bridge, clock: WallClock) -> None:
    cal = bridge.config.calendar
    ticket_id, waiting_since = waiting(zammad, clock, "Export KO")
    first_look = cal.add_days(waiting_since, 10)  # reminders 1, 2, 3 and the closure all long overdue
    summary = bridge.sync(first_look)
    assert summary["errors"] == []
    assert [k.rsplit("/", 1)[-1] for k in keys(zammad, ticket_id)] == ["3"], "one reminder, the latest step"
    assert zammad.state(ticket_id) != "closed"
    assert bridge.sync(first_look + timedelta(hours=2))["applied"].get("transition", 0) == 0
    closing = bridge.sync(cal.add_days(first_look, 1))
    assert closing["errors"] == [] and zammad.state(ticket_id) == "closed"
    assert len(keys(zammad, ticket_id)) == 2, "reminder 3 and the closure notice, each once"
