"""The sync end to end with the Jira adapter against a stateful fake Jira, Cloud and Data Center.

The same scenarios as the live Redmine tests: due date, exact deadline and labels
written once, then nothing; a breach label; reminders 1-3 exactly once, restarted by
the customer's answer; closure through the workflow transition (with its resolution)
after the closing comment; a reminder sent exactly once when the process dies right
after posting it; dry runs; a person's other labels left alone.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import Any, Callable, Iterator

import pytest
import responses
from conftest import recording_plugins, example_mapping
from jira_fake import ORGANIZATIONS, FakeJira, parse

from sla_bridge.actions import PostComment
from sla_bridge.adapters.jira import JiraAdapter
from sla_bridge.demo import builtin_config
from sla_bridge.httpclient import RetryPolicy
from sla_bridge.markers import markers_in
from sla_bridge.model import Comment, FieldChange, Ticket
from sla_bridge.store import Store
from sla_bridge.sync import Syncer

T = datetime.fromisoformat
MINUTE = timedelta(minutes=1)
URLS = {"cloud": "https://acme.atlassian.net", "datacenter": "https://jira.acme.test"}


class Clock:
    def __init__(self, now: str) -> None:
        self.now = T(now)

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: str | datetime) -> None:
        self.now = T(now) if isinstance(now, str) else now


def jira_section(fake: FakeJira, flavour: str, **options: Any) -> dict[str, Any]:
    credentials: dict[str, Any] = {"email": "sla-bridge@acme.test", "api_token": {"env": "SLA_TEST_JIRA_TOKEN"}} \
        if flavour == "cloud" else {"token": {"env": "SLA_TEST_JIRA_TOKEN"}}
    visibility = options.pop("comment_visibility", "public")
    chosen = {"url": fake.url, "deployment": "auto", **credentials, "projects": ["SUP"],
              "deadline_field": "customfield_10050", **options}
    return {
        "adapter": "jira", "closing_status": "Closed", "comment_visibility": visibility,
        "agents": [fake.user_id("sam")],
        "severities": {"Highest": "bloquante", "High": "majeure", "Medium": "mineure", "Low": "mineure"},
        "statuses": {"new": ["To Do"], "in_progress": ["In Progress"],
                     "waiting_for_customer": ["Waiting for customer"], "resolved": ["Resolved"],
                     "closed": ["Closed"]},
        "options": {k: v for k, v in chosen.items() if v is not None},  # None: the option is left out
    }


class Harness:
    """The real Syncer, the Jira adapter, the fake Jira, the example contract."""

    def __init__(self, rsps: responses.RequestsMock, flavour: str, now: str, comment_visibility: str = "public",
                 options: dict[str, Any] | None = None, tracker: dict[str, Any] | None = None,
                 change: Callable[[dict[str, Any]], None] | None = None, **fake: Any) -> None:
        self.clock = Clock(now)
        self.jira = FakeJira(rsps, self.clock, flavour=flavour, url=URLS[flavour], **fake)
        # Display names differ from logins, and a customer may pick an agent's display name.
        self.jira.add_user("sam", "Sam Agent", groups=("jira-servicedesk-users", "support"))
        self.jira.add_user("alice", "Alice Customer", kind="customer", email="alice@customer.test")
        raw = example_mapping()
        raw["trackers"] = {"jira": {**jira_section(self.jira, flavour, comment_visibility=comment_visibility,
                                                   **(options or {})), **(tracker or {})}}
        if change is not None:
            change(raw)
        self.config = builtin_config(raw)
        self.cal = self.config.calendar
        self.sleeps: list[float] = []
        self.adapter = self.make_adapter(JiraAdapter)
        self.store = Store(":memory:")
        self.seen: list[tuple[str, str]] = []
        self.pm = recording_plugins(self.seen)
        self.syncer = Syncer(self.config, self.store, self.adapter, self.pm, clock=self.clock)
        # One worker: scripted answers and failures reach the ticket the test names
        # (workers at once: test_concurrency, test_crash).
        self.syncer.workers = 1

    def make_adapter(self, cls: type[JiraAdapter]) -> JiraAdapter:
        return cls("jira", self.config.file.trackers["jira"], self.config,
                   retry=RetryPolicy(attempts=3, sleep=self.sleeps.append))

    def at(self, when: str | datetime) -> None:
        self.clock.set(when)

    def sync(self, at: str | datetime | None = None, dry_run: bool = False) -> Any:
        if at is not None:
            self.clock.set(at)
        return self.syncer.run(self.clock(), dry_run=dry_run)

    def markers(self, key: str) -> list[str]:
        return [m for c in self.jira.issue(key).comments for m in markers_in(c["body"].replace("\\[", "[")
                                                                              .replace("\\]", "]"))]

    def marker_comments(self, key: str) -> list[dict[str, Any]]:
        return [c for c in self.jira.issue(key).comments if "sla-bridge:" in c["body"]]


@pytest.fixture(params=["cloud", "datacenter"])
def flavour(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def no_real_sleep(seconds: float) -> None:
    raise AssertionError(f"a real sleep of {seconds} s: the jira library's own retries are not off")


@pytest.fixture()
def rsps(monkeypatch: pytest.MonkeyPatch) -> Iterator[responses.RequestsMock]:
    monkeypatch.setenv("SLA_TEST_JIRA_TOKEN", "t0k3n")
    monkeypatch.setattr(time, "sleep", no_real_sleep)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def waiting_issue(h: Harness) -> str:
    """Highest (bloquante), created Monday 10:00, acknowledged 10:30, waiting for the customer from 11:00."""
    h.at("2025-06-02T10:00:00+02:00")
    key = h.jira.create("Nightly sync stopped", "alice", labels=("vip",))
    h.at("2025-06-02T10:30:00+02:00")
    h.jira.comment(key, "sam", "Looking into it.")
    h.at("2025-06-02T11:00:00+02:00")
    h.jira.set_status(key, "Waiting for customer", "sam")
    h.jira.comment(key, "sam", "A fix is ready: please test it.")
    return key


def test_due_date_deadline_and_labels_then_nothing_when_right(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00")
    key = h.jira.create("Login page returns 500", "alice", labels=("vip",))
    start = parse(h.jira.issue(key).fields["created"])
    summary = h.sync(start + 5 * MINUTE)
    assert summary.errors == [] and dict(summary.applied) == {"due_date": 1, "labels": 1}

    fields = h.jira.issue(key).fields
    deadline = h.cal.add(start, 180)  # bloquante: acknowledge within 3 business hours
    assert parse(fields["customfield_10050"]) == deadline
    assert fields["duedate"] == deadline.astimezone(h.cal.zone).date().isoformat()
    assert sorted(fields["labels"]) == ["sla-bloquante", "vip"]
    assert len(h.jira.calls("PUT")) == 1, "due date, deadline and labels in one request"
    assert h.jira.calls("PUT")[0][1] == {"notifyUsers": ["false"]}

    writes, updated = h.jira.writes, fields["updated"]
    again = h.sync(start + 6 * MINUTE)
    assert dict(again.applied) == {} and again.tickets_read == 0 and again.errors == []
    assert h.jira.writes == writes and h.jira.issue(key).fields["updated"] == updated


def test_without_a_deadline_field_the_due_date_alone_is_kept_right(rsps: responses.RequestsMock,
                                                                   flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00", options={"deadline_field": None})
    assert "deadline_field" not in h.config.file.trackers["jira"].options
    key = h.jira.create("Login page returns 500", "alice", labels=("vip",))
    start = parse(h.jira.issue(key).fields["created"])
    summary = h.sync(start + 5 * MINUTE)
    assert summary.errors == [] and dict(summary.applied) == {"due_date": 1, "labels": 1}
    fields = h.jira.issue(key).fields
    assert fields["duedate"] == h.cal.add(start, 180).astimezone(h.cal.zone).date().isoformat()
    assert fields["customfield_10050"] is None
    first_due = fields["duedate"]
    assert h.jira.calls("PUT")[0][2]["fields"] == {"duedate": first_due}

    writes = h.jira.writes
    for minutes in (6, 60):  # a fresh read (the cursor's overlap) and a timed re-evaluation
        again = h.sync(start + minutes * MINUTE)
        assert dict(again.applied) == {} and again.errors == [] and h.jira.writes == writes
    h.at(start + 61 * MINUTE)
    h.jira.comment(key, "sam", "Looking into it.")  # acknowledged: the next clock's deadline is another day
    assert dict(h.sync(start + 62 * MINUTE).applied) == {"due_date": 1}
    assert h.jira.issue(key).fields["duedate"] > first_due
    writes = h.jira.writes
    assert dict(h.sync(start + 63 * MINUTE).applied) == {} and h.jira.writes == writes


def test_breach_label_when_nobody_acknowledges(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00")
    key = h.jira.create("Export broken", "alice", priority="High")  # majeure
    start = parse(h.jira.issue(key).fields["created"])
    h.sync(start + MINUTE)
    summary = h.sync(h.cal.add(start, 181))
    assert dict(summary.applied) == {"labels": 1}
    labels = h.jira.issue(key).fields["labels"]
    assert "sla-depasse-prise-en-compte" in labels and "sla-majeure" in labels


def test_reminders_restart_on_customer_answer_then_closure_exactly_once(rsps: responses.RequestsMock,
                                                                        flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00")
    key = waiting_issue(h)
    h.sync("2025-06-02T11:05:00+02:00")
    assert h.markers(key) == []

    h.sync("2025-06-03T11:01:00+02:00")  # one business day of waiting: reminder 1
    h.sync("2025-06-03T11:02:00+02:00")  # twice: still one reminder
    keys = h.markers(key)
    assert len(keys) == 1 and keys[0].endswith("/1")

    h.at("2025-06-03T15:00:00+02:00")
    h.jira.comment(key, "alice", "Still testing, sorry.")  # the customer answers: the cycle restarts
    h.sync("2025-06-04T11:01:00+02:00")  # the old cycle's reminder 2 would be due now
    assert len(h.markers(key)) == 1
    h.sync("2025-06-04T15:01:00+02:00")  # reminder 1 of the new cycle
    keys = h.markers(key)
    cycles = [k.rsplit("/", 2)[-2] for k in keys]
    assert [k.rsplit("/", 1)[-1] for k in keys] == ["1", "1"] and cycles[0] != cycles[1]

    h.sync("2025-06-05T15:01:00+02:00")
    h.sync("2025-06-06T15:01:00+02:00")
    assert [k.rsplit("/", 1)[-1] for k in h.markers(key)] == ["1", "1", "2", "3"]
    assert h.jira.issue(key).fields["status"]["name"] == "Waiting for customer"

    summary = h.sync("2025-06-10T15:02:00+02:00")  # third reminder + 1 business day (9 June: Whit Monday)
    assert summary.errors == [] and summary.applied.get("transition") == 1
    issue = h.jira.issue(key)
    assert issue.fields["status"]["name"] == "Closed" and issue.fields["resolution"]["name"] == "Done"
    assert "/closure/" in h.markers(key)[-1]
    posts = [p for m, p, _, _ in h.jira.log if m == "POST"]
    assert posts[-3:] == [f"/issue/{key}/comment", f"/issue/{key}/transitions", f"/issue/{key}/transitions"], \
        "closing comment first"
    # No transition goes from Waiting for customer to Closed (JSM's default workflow): resolved first,
    # with the resolution its screen requires, then closed.
    assert [body for _, _, body in h.jira.calls("POST", r"/issue/.*/transitions")] == [
        {"transition": {"id": "31"}, "fields": {"resolution": {"name": "Done"}}}, {"transition": {"id": "41"}}]
    assert [(i["fromString"], i["toString"]) for hist in issue.histories[-2:] for i in hist["items"]
            if i["field"] == "status"] == [("Waiting for customer", "Resolved"), ("Resolved", "Closed")]

    notes = h.marker_comments(key)
    assert all(c["author"]["displayName"] == "SLA Bridge" for c in notes)
    assert all(c.get("jsdPublic", True) and not c["_properties"] for c in notes)
    assert "relance 1 sur 3" in notes[0]["body"]
    assert re.search(r"(?<!\\)\[sla-bridge:", notes[0]["body"]) is None and "\\[sla-bridge:" in notes[0]["body"], \
        "the marker's brackets are escaped for Jira's wiki renderer"

    h.sync("2025-06-10T16:02:00+02:00")
    assert len(h.markers(key)) == 5
    assert [kind for _, kind in h.seen].count("transition") == 1


def test_an_issue_moved_between_projects_gets_no_reminder_twice(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00", options={"projects": ["SUP", "OPS"]})
    key = waiting_issue(h)
    h.sync("2025-06-02T11:05:00+02:00")
    h.sync("2025-06-03T11:01:00+02:00")  # reminder 1, under SUP-1
    h.at("2025-06-03T14:00:00+02:00")
    moved = h.jira.move(key, "OPS", "sam")
    h.sync("2025-06-03T14:01:00+02:00")
    h.sync("2025-06-04T11:01:00+02:00")  # reminder 2 is due: reminder 1 is not sent again
    assert [k.rsplit("/", 1)[-1] for k in h.markers(moved)] == ["1", "2"]
    assert h.markers(moved)[0].startswith(f"jira:{key}/") and h.markers(moved)[1].startswith(f"jira:{moved}/")


def test_reminders_as_internal_notes_when_configured(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00", comment_visibility="internal")
    key = waiting_issue(h)
    h.sync("2025-06-03T11:01:00+02:00")
    (note,) = h.marker_comments(key)
    assert note["_properties"] == [{"key": "sd.public.comment", "value": {"internal": True}}]
    if flavour == "cloud":
        assert note["jsdPublic"] is False
    # Read back as an internal note: the next pass neither re-sends it nor sees a customer answer.
    assert h.sync("2025-06-03T11:30:00+02:00").applied == {}
    assert len(h.markers(key)) == 1


class KilledAfterPost(JiraAdapter):
    def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
        super().post_comment(ticket, comment)
        raise KeyboardInterrupt("killed between the API call and the store write")


def test_killed_in_the_middle_sends_the_reminder_exactly_once(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00")
    key = waiting_issue(h)
    h.sync("2025-06-02T11:05:00+02:00")
    due = T("2025-06-03T11:01:00+02:00")

    h.syncer.adapter = h.make_adapter(KilledAfterPost)
    h.at(due)
    with pytest.raises(KeyboardInterrupt):
        h.syncer.run(due)
    assert len(h.markers(key)) == 1

    h.syncer.adapter = h.adapter
    summary = h.sync(due + MINUTE)
    assert summary.errors == []
    assert len(h.markers(key)) == 1
    assert h.store.journaled(h.markers(key)[0]), "the marker found on Jira is journaled"


def test_a_lost_answer_to_the_comment_post_is_checked_not_resent(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00")
    key = waiting_issue(h)
    h.sync("2025-06-02T11:05:00+02:00")
    # Jira stores the comment, then the gateway answers 503: the adapter looks before re-sending.
    h.jira.fail_next("POST", rf"/issue/{key}/comment", 503, body={"errorMessages": ["Service Unavailable"]},
                     apply=True)
    summary = h.sync("2025-06-03T11:01:00+02:00")
    assert summary.errors == []
    assert len(h.markers(key)) == 1 and len(h.jira.calls("POST", r"/issue/.*/comment")) == 1
    assert h.sleeps == [1.0]


def test_a_comment_post_that_failed_is_sent_by_the_next_pass_exactly_once(rsps: responses.RequestsMock,
                                                                            flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00")
    key = waiting_issue(h)
    h.sync("2025-06-02T11:05:00+02:00")
    # The gateway answers 502 and Jira stored nothing: not re-sent in this pass (it might still
    # land), the ticket is deferred; its retry reads the issue, finds no marker, and sends it once.
    h.jira.fail_next("POST", rf"/issue/{key}/comment", 502, body={"errorMessages": ["Bad Gateway"]})
    failed = h.sync("2025-06-03T11:01:00+02:00")
    assert failed.errors and "HTTP 502" in failed.errors[0] and "deferred" in failed.errors[0]
    assert h.markers(key) == [] and len(h.jira.calls("POST", r"/issue/.*/comment")) == 1
    summary = h.sync("2025-06-03T11:06:00+02:00")
    assert summary.errors == [] and summary.applied["comment"] == 1
    assert len(h.markers(key)) == 1 and len(h.jira.calls("POST", r"/issue/.*/comment")) == 2
    assert h.sync("2025-06-03T11:11:00+02:00").applied == {}


def test_writes_notify_when_the_account_may_not_silence_them(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00", allow_silence=False)
    first = h.jira.create("No admin rights", "alice")
    summary = h.sync("2025-06-02T10:01:00+02:00")
    assert summary.errors == [] and "sla-bloquante" in h.jira.issue(first).fields["labels"]
    second = h.jira.create("Another one", "alice")
    h.sync("2025-06-02T10:02:00+02:00")
    assert "sla-bloquante" in h.jira.issue(second).fields["labels"]
    silenced = [q for _, q, _ in h.jira.calls("PUT") if q.get("notifyUsers") == ["false"]]
    assert len(silenced) == 1, "refused once, then writes go with notifications"
    assert len(h.jira.calls("PUT")) == 3


def test_dry_run_writes_nothing(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00")
    key = h.jira.create("Dry run", "alice")
    before = h.jira.issue(key).fields["updated"]
    summary = h.sync("2025-06-02T10:01:00+02:00", dry_run=True)
    assert sorted(a.kind for _, a in summary.planned) == ["due_date", "labels"]
    assert h.jira.writes == 0 and h.jira.issue(key).fields["updated"] == before
    real = h.sync("2025-06-02T10:01:00+02:00")
    assert dict(real.applied) == {"due_date": 1, "labels": 1}


def test_a_person_editing_other_labels_is_left_alone(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00")
    key = h.jira.create("Other labels", "alice", labels=("vip",))
    h.sync("2025-06-02T10:01:00+02:00")
    h.at("2025-06-02T10:01:30+02:00")
    h.jira.set_labels(key, ["sla-bloquante", "vip", "contournement", "sla-stale"], "sam")
    h.sync("2025-06-02T10:02:00+02:00")
    assert sorted(h.jira.issue(key).fields["labels"]) == ["contournement", "sla-bloquante", "vip"]
    last_put = h.jira.calls("PUT")[-1][2]
    assert last_put == {"update": {"labels": [{"remove": "sla-stale"}]}}, "only SLA labels are added or removed"


def test_many_issues_over_several_pages_each_synced_once(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00")
    raw = h.config.file.trackers["jira"].options
    h.adapter.options = h.adapter.options.model_copy(update={"page_size": 3})
    assert raw["projects"] == ["SUP"]
    keys = []
    for i in range(8):
        h.at(T("2025-06-02T10:00:00+02:00") + i * 20 * timedelta(seconds=1))  # 3 per minute
        keys.append(h.jira.create(f"Issue {i}", "alice", priority="Medium"))
    summary = h.sync("2025-06-02T10:05:00+02:00")
    assert summary.errors == [] and summary.tickets_evaluated == 8
    assert all("sla-mineure" in h.jira.issue(k).fields["labels"] for k in keys)
    assert h.sync("2025-06-02T10:06:00+02:00").tickets_read == 0


def test_truncated_changelog_and_comments_are_read_in_full_on_cloud(rsps: responses.RequestsMock) -> None:
    h = Harness(rsps, "cloud", "2025-06-02T10:00:00+02:00", changelog_embed_limit=1, comment_embed_limit=1)
    key = waiting_issue(h)
    h.at("2025-06-02T11:01:00+02:00")
    h.jira.set_priority(key, "High", "sam")  # now majeure: reminders after 3 business days
    h.sync("2025-06-02T11:05:00+02:00")
    assert h.jira.calls("GET", rf"/issue/{key}/changelog") and h.jira.calls("GET", rf"/issue/{key}/comment")
    assert "sla-majeure" in h.jira.issue(key).fields["labels"]
    ticket = h.adapter.fetch(key)
    assert ticket.initial_status() == "To Do" and ticket.initial_severity() == "Highest"
    h.sync("2025-06-03T11:01:00+02:00")
    assert h.markers(key) == [], "a bloquante's reminder 1 is not due for a majeure"
    h.sync("2025-06-05T11:01:00+02:00")
    assert [k.rsplit("/", 1)[-1] for k in h.markers(key)] == ["1"]


# --- the way to the closing status -----------------------------------------------------------

def close_due(h: Harness) -> tuple[str, Any]:
    """A waiting issue whose auto-close is due: reminders 1-3 sent, then the closure pass."""
    key = waiting_issue(h)
    for day in ("2025-06-02T11:05", "2025-06-03T11:01", "2025-06-04T11:01", "2025-06-05T11:01"):
        h.sync(f"{day}:00+02:00")
    assert [k.rsplit("/", 1)[-1] for k in h.markers(key)] == ["1", "2", "3"]
    return key, T("2025-06-06T11:02:00+02:00")


def test_a_workflow_with_a_direct_transition_closes_in_one_step(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00", direct_close=True)
    key, due = close_due(h)
    summary = h.sync(due)
    assert summary.errors == [] and h.jira.issue(key).fields["status"]["name"] == "Closed"
    assert [body for _, _, body in h.jira.calls("POST", r"/issue/.*/transitions")] == [
        {"transition": {"id": "61"}, "fields": {"resolution": {"name": "Done"}}}]


def test_a_lost_answer_on_the_way_to_closed_is_checked_not_resent(rsps: responses.RequestsMock,
                                                                  flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00")
    key, due = close_due(h)
    # Jira resolves the issue, then the gateway loses the answer: the adapter asks, finds it
    # resolved, and goes on to close it. Nothing is sent twice.
    h.jira.fail_next("POST", rf"/issue/{key}/transitions", 502, body={"errorMessages": ["Bad Gateway"]}, apply=True)
    summary = h.sync(due)
    assert summary.errors == [] and h.jira.issue(key).fields["status"]["name"] == "Closed"
    assert [body["transition"]["id"] for _, _, body in h.jira.calls("POST", r"/issue/.*/transitions")] == ["31", "41"]
    assert len([m for m in h.markers(key) if "/closure/" in m]) == 1
    assert dict(h.sync(due + MINUTE).applied) == {}


def test_no_way_to_the_closing_status_is_reported_and_the_issue_left_waiting(rsps: responses.RequestsMock,
                                                                            flavour: str) -> None:
    statuses = {"new": ["To Do"], "in_progress": ["In Progress"], "waiting_for_customer": ["Waiting for customer"],
                "closed": ["Closed", "Resolved"]}  # Resolved is not mapped resolved: no step goes through it
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00", tracker={"statuses": statuses})
    key, due = close_due(h)
    summary = h.sync(due)
    assert summary.errors and "no workflow transition from 'Waiting for customer' to 'Closed'" in summary.errors[0]
    assert "none of these is a status mapped resolved" in summary.errors[0]
    assert h.jira.issue(key).fields["status"]["name"] == "Waiting for customer"
    assert h.jira.calls("POST", r"/issue/.*/transitions") == []


# --- identities: agents, entitlement, organisations -------------------------------------------

def test_agents_by_group_and_a_namesake_customer_answer(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00", tracker={"agents": ["group:support"]})
    h.jira.add_user("eve", "Sam Agent", groups=("clients",))  # a customer's account with an agent's display name
    key = waiting_issue(h)
    h.sync("2025-06-02T11:05:00+02:00")
    h.at("2025-06-02T16:00:00+02:00")
    h.jira.comment(key, "eve", "Here are the logs you asked for.")
    h.sync("2025-06-03T11:01:00+02:00")  # the first cycle's reminder would be due: eve's answer restarted it
    assert h.markers(key) == []
    h.sync("2025-06-03T16:01:00+02:00")
    assert [k.rsplit("/", 1)[-1] for k in h.markers(key)] == ["1"]
    ticket = h.adapter.fetch(key)
    assert [(c.author, c.role.value) for c in ticket.events if isinstance(c, Comment)][:3] == [
        ("Sam Agent", "agent"), ("Sam Agent", "agent"), ("Sam Agent", "customer")]
    lookups = h.jira.calls("GET", r"/user/groups" if flavour == "cloud" else r"/user")
    assert len(lookups) == 2, "sam and eve, once each (never sla-bridge, never a portal customer)"


def test_entitlement_by_organisation_and_group(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00", options={"organizations_field": ORGANIZATIONS},
                tracker={"entitlement": {"reporters": ["org:Acme", "group:clients-premium"]}})
    h.jira.add_user("carol", "Carol Premium", groups=("clients-premium",))
    acme = h.jira.create("From an Acme member", "alice", organisations=("Acme",))
    other = h.jira.create("From another organisation", "alice", organisations=("Globex",))
    premium = h.jira.create("From a premium client", "carol")
    summary = h.sync("2025-06-02T10:01:00+02:00")
    assert summary.errors == []
    labels = {key: set(h.jira.issue(key).fields["labels"]) for key in (acme, other, premium)}
    assert labels == {acme: {"sla-bloquante"}, other: {"sla-non-eligible"}, premium: {"sla-bloquante"}}


# --- fields the contract reads -----------------------------------------------------------------

def test_a_field_puts_a_ticket_out_of_scope_with_its_history(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00",
                tracker={"fields": {"environnement": "customfield_10060", "composants": "components"},
                         "scope": {"out_of_scope_fields": {"environnement": ["Recette"]}}})
    key = h.jira.create("Test platform down", "alice", components=("Billing",))
    h.sync("2025-06-02T10:01:00+02:00")
    assert "sla-bloquante" in h.jira.issue(key).fields["labels"]
    h.at("2025-06-02T10:05:00+02:00")
    h.jira.set_select(key, "customfield_10060", "Recette", "sam")
    h.jira.set_components(key, ["API"], "sam")
    h.sync("2025-06-02T10:06:00+02:00")
    assert h.jira.issue(key).fields["labels"] == ["sla-hors-perimetre"]
    ticket = h.adapter.fetch(key)
    assert ticket.fields == {("environnement", "Recette"), ("composants", "API")}
    assert [(e.field, e.old, e.new) for e in ticket.events if isinstance(e, FieldChange)] == [
        ("environnement", None, "Recette"), ("composants", None, "API"), ("composants", "Billing", None)]


def test_multi_select_changes_are_read_value_by_value(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00", tracker={"fields": {"modules": "customfield_10061"}})
    key = h.jira.create("Export broken", "alice")
    h.at("2025-06-02T10:05:00+02:00")
    h.jira.set_multi(key, "customfield_10061", ["Export", "Import, with mapping"], "sam")
    h.at("2025-06-02T10:06:00+02:00")
    h.jira.set_multi(key, "customfield_10061", ["Import, with mapping"], "sam")
    ticket = h.adapter.fetch(key)
    assert ticket.fields == {("modules", "Import, with mapping")}
    assert [(e.field, e.old, e.new) for e in ticket.events if isinstance(e, FieldChange)] == [
        ("modules", None, "Export"), ("modules", None, "Import, with mapping"), ("modules", "Export", None)]


def test_clocks_start_when_the_customer_reported_the_anomaly(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00", tracker={"fields": {"reported_at": "customfield_10070"}})
    # Logged on Monday 10:00 by an agent, after the customer's phone call on Friday at 17:00.
    key = h.jira.create("Reported by phone", "alice", reported_at=T("2025-05-30T17:00:00+02:00"))
    summary = h.sync("2025-06-02T10:01:00+02:00")
    assert summary.errors == []
    # Bloquante: acknowledge within 3 business hours, from Friday 17:00: Monday 11:00.
    assert parse(h.jira.issue(key).fields["customfield_10050"]) == T("2025-06-02T11:00:00+02:00")


# --- check-config --connect ---------------------------------------------------------------------

def test_check_connection_finds_everything_the_config_names(rsps: responses.RequestsMock, flavour: str) -> None:
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00", options={"organizations_field": ORGANIZATIONS},
                tracker={"fields": {"environnement": "customfield_10060", "reported_at": "customfield_10070"}})
    waiting_issue(h)
    resolved = h.jira.create("Fixed", "alice")
    h.jira.set_status(resolved, "Resolved", "sam", resolution="Done")
    checks = h.make_adapter(JiraAdapter).check_connection()
    failed = [c for c in checks if not c.ok]
    assert failed == []
    found = {(c.subject, c.name): c.detail for c in checks}
    assert found[("authentication", h.jira.url)].startswith(
        "Jira Cloud, signed in as SLA Bridge" if flavour == "cloud" else "Jira Data Center, signed in as SLA Bridge")
    assert found[("status", "Closed")] == "statuses.closed, closing_status: in the workflows of SUP"
    assert ("priority", "Highest") in found and ("resolution", "Done") in found
    assert found[("field", "customfield_10070")] == "fields.reported_at: 'Reported at' (" \
        "com.atlassian.jira.plugin.system.customfieldtypes:datetime)"
    assert ("permission", "SUP: Add Comments") in found
    assert found[("workflow", "SUP: Waiting for customer -> Closed")].startswith(
        "Waiting for customer -> Resolved -> Closed (transitions the API user may take, seen on SUP-1, SUP-2)")
    assert h.jira.writes == 0 and not [m for m, *_ in h.jira.log if m != "GET"], "read-only"
    assert "t0k3n" not in repr(checks)


def test_check_connection_reports_what_is_missing(rsps: responses.RequestsMock, flavour: str) -> None:
    statuses = {"new": ["To Do"], "waiting_for_customer": ["Waiting for customer", "Feedback"],
                "resolved": ["Resolved"], "closed": ["Closed"]}
    h = Harness(rsps, flavour, "2025-06-02T10:00:00+02:00", permissions=frozenset({"BROWSE_PROJECTS"}),
                agent_licence=False, options={"resolution": "Fixed", "projects": ["SUP", "OPS"]},
                tracker={"statuses": statuses, "severities": {"Highest": "bloquante", "Urgent": "bloquante"},
                         "fields": {"environnement": "customfield_99999", "reported_at": "customfield_10060"}})
    waiting_issue(h)  # nothing is resolved yet: the way on from Resolved cannot be seen
    checks = h.make_adapter(JiraAdapter).check_connection()
    failed = {(c.subject, c.name): c.detail for c in checks if not c.ok}
    assert set(failed) == {
        ("project", "OPS"), ("status", "Feedback"), ("priority", "Urgent"), ("field", "customfield_99999"),
        ("field", "customfield_10060"), ("resolution", "Fixed"), ("permission", "SUP: Add Comments"),
        ("permission", "SUP: Edit Issues"), ("permission", "SUP: Schedule Issues"),
        ("permission", "SUP: Transition Issues"), ("licence", "SUP: Jira Service Management agent")}
    assert "not a Date Time Picker" in failed[("field", "customfield_10060")]
    assert "Jira has: Done, Duplicate, Won't Do" in failed[("resolution", "Fixed")]
    ways = {c.name: c for c in checks if c.subject == "workflow"}
    assert ways["SUP: Waiting for customer -> Closed"].ok
    assert ways["SUP: Waiting for customer -> Closed"].detail.startswith(
        "not verified: no issue of SUP is in 'Resolved' now to read its transitions from")
    assert ways["SUP: Feedback -> Closed"].detail.startswith("not verified:")
