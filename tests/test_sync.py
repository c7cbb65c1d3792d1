"""The sync path end to end against the in-memory tracker: writes, idempotency, cursor, crashes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import recording_plugins
import responses
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sla_bridge.actions import PostComment
from sla_bridge.adapters.base import (
    ChangedTicket,
    OutOfScope,
    SkippableError,
    TransientError,
    keyset_pages,
)
from sla_bridge.adapters.memory import MemoryAdapter, MemoryTracker
from sla_bridge.adapters.redmine import RedmineAdapter
from sla_bridge.config import TrackerSection
from sla_bridge.demo import builtin_config
from sla_bridge.hookspecs import hookimpl
from sla_bridge.httpclient import RetryPolicy
from sla_bridge.markers import markers_in
from sla_bridge.model import (
    Comment,
    LabelChange,
    Role,
    SeverityChange,
    StatusChange,
    Ticket,
)
from sla_bridge.plugins import build_plugin_manager
from sla_bridge.policy import OnManualChange
from sla_bridge.store import Store
from sla_bridge.sync import Syncer, describe
from sla_bridge.identity import Person

ALICE = Person(id="3", login="alice", name="Alice Martin")  # a customer: her name is not her login

T = datetime.fromisoformat


class Clock:
    def __init__(self, now: str) -> None:
        self.now = T(now)

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: str) -> None:
        self.now = T(now)


def waiting_ticket(id: str = "1", created: str = "2025-06-02T10:00:00+02:00", **kw: Any) -> Ticket:
    """A bloquante ticket, acknowledged, waiting for the customer from Monday 2 June 11:00."""
    return Ticket("demo", id, kw.pop("title", "Server down"), ALICE, T(created), "waiting_for_customer", "bloquante",
                  events=(Comment(T("2025-06-02T10:30:00+02:00"), "sam", Role.AGENT, True, "on it"),
                          StatusChange(T("2025-06-02T11:00:00+02:00"), "new", "waiting_for_customer", "sam",
                                       Role.AGENT)), **kw)


class Harness:
    def __init__(self, *tickets: Ticket, now: str = "2025-06-02T12:00:00+02:00", page_size: int = 100) -> None:
        self.clock = Clock(now)
        self.tracker = MemoryTracker(self.clock, tickets, page_size=page_size)
        self.adapter = MemoryAdapter("demo", self.tracker)
        self.config = builtin_config()
        self.store = Store(":memory:")
        self.seen: list[tuple[str, str]] = []
        self.pm = recording_plugins(self.seen)
        self.syncer = Syncer(self.config, self.store, self.adapter, self.pm, clock=self.clock)
        # One worker: scripted answers and failures reach the ticket the test names
        # (workers at once: test_concurrency, test_crash).
        self.syncer.workers = 1

    def sync(self, at: str | None = None, dry_run: bool = False) -> Any:
        if at:
            self.clock.set(at)
        return self.syncer.run(self.clock(), dry_run=dry_run)

    def comments(self, id: str = "1") -> list[str]:
        return [key for e in self.tracker.tickets[id].events if isinstance(e, Comment) for key in markers_in(e.body)]


def test_first_pass_writes_due_date_and_labels_then_nothing() -> None:
    h = Harness(Ticket("demo", "1", "t", ALICE, T("2025-06-03T10:00:00+02:00"), "new", "majeure"),
                now="2025-06-03T10:30:00+02:00")
    first = h.sync()
    ticket = h.tracker.tickets["1"]
    assert ticket.due_at == T("2025-06-03T13:00:00+02:00")
    assert ticket.due_date.isoformat() == "2025-06-03"
    assert "sla-majeure" in ticket.labels
    assert dict(first.applied) == {"due_date": 1, "labels": 1}
    writes = h.tracker.writes
    second = h.sync()
    assert h.tracker.writes == writes, "a ticket already right costs zero writes"
    assert second.tickets_read == 0 and second.tickets_evaluated == 0


def test_other_labels_are_never_touched() -> None:
    h = Harness(Ticket("demo", "1", "t", ALICE, T("2025-06-03T10:00:00+02:00"), "new", "majeure",
                       labels=frozenset({"customer-vip", "sla-stale"})), now="2025-06-03T10:30:00+02:00")
    h.sync()
    assert h.tracker.tickets["1"].labels == {"customer-vip", "sla-majeure"}


def test_reminders_once_each_then_closure() -> None:
    h = Harness(waiting_ticket())
    h.sync()
    assert h.comments() == []
    h.sync("2025-06-03T11:00:00+02:00")  # 1 business day later: reminder 1
    h.sync("2025-06-03T11:05:00+02:00")
    h.sync("2025-06-03T11:05:00+02:00")
    assert [k.rsplit("/", 1)[-1] for k in h.comments()] == ["1"]
    h.sync("2025-06-04T11:00:00+02:00")
    h.sync("2025-06-05T11:00:00+02:00")
    assert [k.rsplit("/", 1)[-1] for k in h.comments()] == ["1", "2", "3"]
    assert h.tracker.tickets["1"].status == "waiting_for_customer"
    h.sync("2025-06-06T11:00:00+02:00")  # third reminder + 1 business day: closed
    assert h.tracker.tickets["1"].status == "closed"
    assert h.comments()[-1].startswith("demo:1/closure/")
    h.sync("2025-06-10T11:00:00+02:00")
    assert len(h.comments()) == 4
    assert [kind for _, kind in h.seen].count("transition") == 1


def test_reminder_text_is_french_and_the_title_is_text() -> None:
    h = Harness(waiting_ticket(title="Panne {{ 7*7 }} $ticket"))
    h.sync("2025-06-03T11:00:00+02:00")
    body = next(e.body for e in h.tracker.tickets["1"].events if isinstance(e, Comment) and e.author == "sla-bridge")
    assert "« Panne {{ 7*7 }} $ticket »" in body and "relance 1 sur 3" in body


def test_customer_answer_restarts_the_cycle() -> None:
    h = Harness(waiting_ticket())
    h.sync("2025-06-03T11:00:00+02:00")
    h.tracker.record("1", Comment(T("2025-06-03T15:00:00+02:00"), "alice", Role.CUSTOMER, True, "still failing"))
    h.sync("2025-06-04T11:00:00+02:00")  # would have been reminder 2 of the first cycle
    assert len(h.comments()) == 1
    h.sync("2025-06-04T15:00:00+02:00")  # reminder 1 of the new cycle
    keys = h.comments()
    assert len(keys) == 2 and keys[0].rsplit("/", 2)[1] != keys[1].rsplit("/", 2)[1]


def test_timed_changes_need_no_tracker_read_until_a_write() -> None:
    h = Harness(waiting_ticket())
    h.sync()
    reads = h.tracker.reads
    h.sync("2025-06-02T17:00:00+02:00")  # nothing due yet: only the change query
    assert h.tracker.reads == reads + 1


class CrashAfterPost(MemoryAdapter):
    """Posts the comment, then dies before the store can record it."""

    def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
        super().post_comment(ticket, comment)
        raise KeyboardInterrupt("killed")


def test_killed_between_post_and_journal_never_sends_twice() -> None:
    h = Harness(waiting_ticket())
    h.sync()
    h.syncer.adapter = CrashAfterPost("demo", h.tracker)
    h.clock.set("2025-06-03T11:00:00+02:00")
    with pytest.raises(KeyboardInterrupt):
        h.syncer.run(h.clock())
    assert len(h.comments()) == 1
    h.syncer.adapter = h.adapter
    h.sync("2025-06-03T11:10:00+02:00")
    assert len(h.comments()) == 1
    assert h.store.journaled(h.comments()[0]), "the marker found on the tracker is journaled"


class FailOnPost(MemoryAdapter):
    def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
        raise TransientError("503 from the tracker")


def test_a_failed_post_is_not_skipped_but_sent_on_the_next_pass() -> None:
    h = Harness(waiting_ticket())
    h.sync()
    h.syncer.adapter = FailOnPost("demo", h.tracker)
    summary = h.sync("2025-06-03T11:00:00+02:00")
    # The ticket waits for its retry; the pass itself goes on (and ends) normally.
    assert summary.complete and h.comments() == [] and summary.errors[0].startswith("demo:1: deferred:")
    h.syncer.adapter = h.adapter
    h.sync("2025-06-03T11:30:00+02:00")
    assert len(h.comments()) == 1


def test_dry_run_plans_exactly_what_a_real_run_does_and_writes_nothing() -> None:
    h = Harness(waiting_ticket(), waiting_ticket("2"), now="2025-06-03T11:00:00+02:00")
    planned = h.sync(dry_run=True)
    assert h.tracker.writes == 0
    assert h.store.cursor("demo").cursor is None
    h.sync()
    assert sorted((t, a.kind) for t, a in planned.planned) == sorted((f"demo:{t}", k) for t, k in h.seen)


class Unreachable(MemoryAdapter):
    def changed_since(self, cursor: datetime | None) -> Any:
        raise TransientError("demo: list changed tickets: cannot connect")


def test_cursor_advances_only_on_complete_passes_capped_at_the_start() -> None:
    h = Harness(waiting_ticket(), now="2025-06-02T12:00:00+02:00")
    h.sync()
    cursor = h.store.cursor("demo").cursor
    assert cursor is not None and cursor <= T("2025-06-02T12:00:00+02:00")
    h.syncer.adapter = Unreachable("demo", h.tracker)
    h.sync("2025-06-03T11:00:00+02:00")
    assert h.store.cursor("demo").cursor == cursor


def test_paging_sees_every_ticket_once() -> None:
    tickets = [replace(waiting_ticket(str(i)), created=T("2025-06-02T10:00:00+02:00") + timedelta(minutes=i))
               for i in range(1, 26)]
    h = Harness(*tickets, page_size=7)
    summary = h.sync()
    assert summary.tickets_evaluated == 25
    assert len(h.store.journal_entries()) == 0
    assert sum(1 for _ in h.store.tickets()) == 25


def failing_on(ticket_id: str, error: Exception, tracker: MemoryTracker) -> MemoryAdapter:
    """A memory adapter whose read of `ticket_id` raises `error`."""
    class Failing(MemoryAdapter):
        def fetch(self, wanted: str) -> Ticket:
            if wanted == ticket_id:
                raise error
            return super().fetch(wanted)
    return Failing("demo", tracker)


def flaky(tracker: MemoryTracker) -> MemoryAdapter:
    """Ticket 2 cannot be read (403)."""
    return failing_on("2", SkippableError("issue 2: 403 Forbidden"), tracker)


def test_one_bad_ticket_is_reported_the_others_synced() -> None:
    h = Harness(waiting_ticket("1"), waiting_ticket("2"), waiting_ticket("3"))
    h.syncer.adapter = flaky(h.tracker)
    summary = h.sync()
    assert summary.tickets_evaluated == 2
    assert summary.errors == ["demo:2: skipped: issue 2: 403 Forbidden (retried after 2025-06-02 12:05)"]
    assert summary.complete


def test_a_ticket_moved_out_of_the_contract_is_left_alone_not_retried() -> None:
    h = Harness(waiting_ticket("1"), waiting_ticket("2"), waiting_ticket("3"))
    h.sync()
    assert {r.ticket_id for r in h.store.tickets()} == {"1", "2", "3"}
    h.syncer.adapter = failing_on("2", OutOfScope("demo: issue 2 is in project 'Internal', which is not in"
                                                  " options.projects: left alone"), h.tracker)
    shown = h.tracker.tickets["2"]
    summary = h.syncer.run_tickets(["2", "3"])  # a webhook, or ticket 2's timed change came due
    assert summary.left_alone == ["demo:2: issue 2 is in project 'Internal', which is not in options.projects:"
                                  " left alone"]
    assert summary.errors == [] and summary.tickets_evaluated == 1
    # Kept for the reports of the time it was under contract, with no timed change and no clock.
    left = h.store.ticket("demo", "2")
    assert left is not None and left.next_change_at is None and left.snapshot.id == "2"
    assert left.evaluation == {"left_alone": summary.left_alone[0]} and h.store.retries() == []
    assert h.store.earliest_change(["demo"]) == min(r.next_change_at for r in h.store.tickets() if r.next_change_at)
    assert h.tracker.tickets["2"] == shown  # nothing written
    assert summary.to_json()["left_alone"] == summary.left_alone


def test_manual_change_is_reported_when_configured() -> None:
    h = Harness(Ticket("demo", "1", "t", ALICE, T("2025-06-03T10:00:00+02:00"), "new", "majeure"),
                now="2025-06-03T10:30:00+02:00")
    h.syncer.sync = h.config.file.sync.model_copy(update={"on_manual_change": OnManualChange.REPORT})
    h.sync()
    h.clock.set("2025-06-03T10:40:00+02:00")
    h.tracker.record("1", due_date=T("2025-06-20T00:00:00+02:00").date(), due_at=None)
    h.tracker.record("1", Comment(T("2025-06-03T10:40:00+02:00"), "alice", Role.CUSTOMER, True, "hi"))
    summary = h.sync("2025-06-03T10:45:00+02:00")
    assert h.tracker.tickets["1"].due_date.isoformat() == "2025-06-20"
    assert any("due date was changed on the tracker" in c for c in summary.conflicts)


def test_observer_failure_never_breaks_a_sync() -> None:
    class Broken:
        @hookimpl
        def sla_bridge_action_applied(self, ticket: Ticket, action: Any, adapter: str) -> None:
            raise RuntimeError("chat server down")

    h = Harness(waiting_ticket())
    h.syncer.pm = build_plugin_manager([Broken()], load_entry_points=False)
    assert h.sync("2025-06-03T11:00:00+02:00").errors == []
    assert len(h.comments()) == 1


def test_auto_close_also_clears_what_no_longer_applies() -> None:
    h = Harness(replace(waiting_ticket(), severity="mineure"))  # mineure without a fix version
    h.sync()
    assert "sla-version-manquante" in h.tracker.tickets["1"].labels
    summary = h.sync("2025-06-30T11:00:00+02:00")  # reminders 5/10/15 days all due: only the third
    assert [c.rsplit("/", 1)[-1].rstrip("]") for c in h.comments()] == ["3"]
    assert h.tracker.tickets["1"].status == "waiting_for_customer"
    summary = h.sync("2025-07-01T11:00:00+02:00")  # one business day after it: the closure
    ticket = h.tracker.tickets["1"]
    assert ticket.status == "closed" and summary.errors == []
    assert "sla-version-manquante" not in ticket.labels and ticket.due_at is None
    assert h.sync("2025-07-30T11:00:00+02:00").applied == {}


def test_the_cursor_follows_the_trackers_stamps_not_our_clock() -> None:
    h = Harness(waiting_ticket(), now="2025-06-02T12:00:00+02:00")
    h.sync()
    h.clock.set("2025-06-02T13:00:00+02:00")
    h.sync()
    assert h.store.cursor("demo").cursor == T("2025-06-02T12:00:00+02:00")  # our first write, as stamped


# --- review probes: exactly once, lost updates, bad input, dry run, reconcile ------------------------------------

def report_manual_changes(h: Harness) -> None:
    h.syncer.sync = h.config.file.sync.model_copy(update={"on_manual_change": OnManualChange.REPORT})


def drop_markers(h: Harness, id: str = "1", at: str = "2025-06-03T11:30:00+02:00") -> None:
    """A person deletes sla-bridge's comments on the tracker."""
    t = h.tracker.tickets[id]
    kept = tuple(e for e in t.events if not (isinstance(e, Comment) and markers_in(e.body)))
    h.tracker.tickets[id] = replace(t, events=kept, updated=T(at))


class CrashAfterClosureNotice(MemoryAdapter):
    def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
        super().post_comment(ticket, comment)
        if comment.comment_kind == "closure":
            raise KeyboardInterrupt("killed")


def test_killed_between_closure_notice_and_transition_closes_once_with_one_notice() -> None:
    h = Harness(waiting_ticket())
    for day in ("02T12", "03T11", "04T11", "05T11"):
        h.sync(f"2025-06-{day}:00:00+02:00")
    h.syncer.adapter = CrashAfterClosureNotice("demo", h.tracker)
    h.clock.set("2025-06-06T11:00:00+02:00")
    with pytest.raises(KeyboardInterrupt):
        h.syncer.run(h.clock())
    assert h.tracker.tickets["1"].status == "waiting_for_customer"
    h.syncer.adapter = h.adapter
    h.sync("2025-06-06T11:05:00+02:00")
    assert h.tracker.tickets["1"].status == "closed"
    assert [k for k in h.comments() if "/closure/" in k] == [h.comments()[-1]], "one closure notice"
    h.sync("2025-06-09T11:00:00+02:00")
    assert len(h.comments()) == 4 and [kind for _, kind in h.seen].count("transition") == 1


class LaggingReads(MemoryAdapter):
    """The tracker's reads trail its writes: sla-bridge's own comments show up `lag` reads late."""

    lag = 0

    def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
        super().post_comment(ticket, comment)
        self.lag = 3

    def fetch(self, ticket_id: str) -> Ticket:
        ticket = super().fetch(ticket_id)
        if self.lag <= 0:
            return ticket
        self.lag -= 1
        return replace(ticket, events=tuple(e for e in ticket.events
                                            if not (isinstance(e, Comment) and markers_in(e.body))))


def test_a_lagging_read_back_never_doubles_a_reminder() -> None:
    h = Harness(waiting_ticket())
    h.sync()
    h.syncer.adapter = LaggingReads("demo", h.tracker)
    first = h.sync("2025-06-03T11:00:00+02:00")
    assert first.applied == {"comment": 1}  # the read-back did not show it: reported, not re-sent
    h.clock.set("2025-06-03T11:10:00+02:00")
    h.tracker.record("1", Comment(T("2025-06-02T11:30:00+02:00"), "sam", Role.AGENT, False, "internal"))
    second = h.sync()  # the ticket changed and the read still lags: the journal holds the line
    assert second.tickets_read >= 1 and any("not sent again" in c for c in second.conflicts)
    h.sync("2025-06-03T12:00:00+02:00")
    assert len(h.comments()) == 1


def test_a_transient_error_mid_pass_retries_the_rest_and_rewrites_nothing() -> None:
    h = Harness(*(Ticket("demo", str(i), "t", ALICE, T("2025-06-03T10:00:00+02:00") + timedelta(minutes=i),
                         "new", "majeure") for i in (1, 2, 3)), now="2025-06-03T10:30:00+02:00")

    class DownAt2(MemoryAdapter):
        def fetch(self, ticket_id: str) -> Ticket:
            if ticket_id == "2":
                raise TransientError("502 Bad Gateway")
            return super().fetch(ticket_id)

    h.syncer.adapter = DownAt2("demo", h.tracker)
    broken = h.sync()
    assert not broken.complete and h.store.cursor("demo").cursor is None
    assert [r.ticket_id for r in h.store.tickets()] == ["1"]
    h.syncer.adapter = h.adapter
    h.seen.clear()
    again = h.sync("2025-06-03T10:35:00+02:00")
    assert again.complete and sorted({t for t, _ in h.seen}) == ["2", "3"], "ticket 1 costs nothing"


def test_a_stopped_pass_keeps_the_cursor_and_the_next_pass_finishes_the_work() -> None:
    h = Harness(*(replace(waiting_ticket(str(i)), created=T("2025-06-02T10:00:00+02:00") + timedelta(minutes=i))
                  for i in (1, 2, 3)))
    calls = []

    def progress(_: int) -> None:
        calls.append(1)
        h.syncer.stop.set()  # SIGTERM while the first ticket is synced

    h.syncer.progress = progress
    stopped = h.sync()
    assert not stopped.complete and stopped.tickets_evaluated == 1
    assert h.store.cursor("demo").cursor is None
    h.syncer.stop.clear()
    h.syncer.progress = None
    h.sync("2025-06-02T12:05:00+02:00")
    assert sorted(r.ticket_id for r in h.store.tickets()) == ["1", "2", "3"]


def test_a_ticket_changed_mid_pass_is_read_by_the_next_pass() -> None:
    h = Harness(waiting_ticket("1"), waiting_ticket("2"))

    class EditsDuringThePass(MemoryAdapter):
        def fetch(self, ticket_id: str) -> Ticket:
            if ticket_id == "2" and h.clock() == T("2025-06-02T12:00:00+02:00"):
                h.clock.set("2025-06-02T12:00:05+02:00")  # ticket 1 is done; now its customer answers
                h.tracker.record("1", Comment(h.clock(), "alice", Role.CUSTOMER, True, "logs attached"))
            return super().fetch(ticket_id)

    h.syncer.adapter = EditsDuringThePass("demo", h.tracker)
    h.sync()
    h.syncer.adapter = h.adapter
    h.sync("2025-06-02T12:10:00+02:00")
    snapshot = h.store.ticket("demo", "1").snapshot  # type: ignore[union-attr]
    assert any(isinstance(e, Comment) and e.role is Role.CUSTOMER for e in snapshot.events)


class DatesOnly(MemoryAdapter):
    """A tracker with only a due date field (tracks_due_at = False)."""

    tracks_due_at = False

    def apply_fields(self, ticket: Ticket, due: Any, labels: Any) -> None:
        super().apply_fields(ticket, due, labels)
        self.tracker.tickets[ticket.id] = replace(self.tracker.tickets[ticket.id], due_at=None)


class MinuteDeadline(MemoryAdapter):
    """A tracker that keeps the deadline to the minute (seconds dropped)."""

    def apply_fields(self, ticket: Ticket, due: Any, labels: Any) -> None:
        super().apply_fields(ticket, due, labels)
        t = self.tracker.tickets[ticket.id]
        if t.due_at is not None:
            self.tracker.tickets[ticket.id] = replace(t, due_at=t.due_at.replace(second=0, microsecond=0))


@pytest.mark.parametrize("adapter", [DatesOnly, MinuteDeadline])
def test_a_ticket_already_right_costs_zero_writes_whatever_the_deadline_precision(adapter: type) -> None:
    # Created at 10:00:17: the deadline 13:00:17 has seconds the tracker may not keep.
    h = Harness(Ticket("demo", "1", "t", ALICE, T("2025-06-03T10:00:17+02:00"), "new", "majeure"),
                now="2025-06-03T10:30:00+02:00")
    h.syncer = Syncer(h.config, h.store, adapter("demo", h.tracker), h.pm, clock=h.clock)
    first = h.sync()
    assert first.errors == [] and dict(first.applied) == {"due_date": 1, "labels": 1}
    writes = h.tracker.writes
    h.clock.set("2025-06-03T10:40:00+02:00")
    h.tracker.record("1", Comment(h.clock(), "alice", Role.CUSTOMER, True, "hi"))
    second = h.sync("2025-06-03T10:45:00+02:00")
    assert second.tickets_evaluated == 1 and h.tracker.writes == writes + 1  # the customer's comment only


def test_a_deadline_off_by_one_minute_is_rewritten() -> None:
    h = Harness(Ticket("demo", "1", "t", ALICE, T("2025-06-03T10:00:00+02:00"), "new", "majeure"),
                now="2025-06-03T10:30:00+02:00")
    h.sync()
    h.clock.set("2025-06-03T10:40:00+02:00")
    h.tracker.record("1", due_at=T("2025-06-03T13:01:00+02:00"))
    summary = h.sync("2025-06-03T10:45:00+02:00")
    assert summary.applied == {"due_date": 1} and h.tracker.tickets["1"].due_at == T("2025-06-03T13:00:00+02:00")


def test_report_mode_keeps_a_label_a_person_removed_while_other_labels_change() -> None:
    h = Harness(Ticket("demo", "1", "t", ALICE, T("2025-06-03T10:00:00+02:00"), "new", "majeure"),
                now="2025-06-03T10:30:00+02:00")
    report_manual_changes(h)
    h.sync()
    h.clock.set("2025-06-03T10:40:00+02:00")
    h.tracker.record("1", LabelChange(h.clock(), "sla-majeure", False, "sam"), labels=frozenset())
    summary = h.sync("2025-06-03T13:05:00+02:00")  # the acknowledge deadline (13:00) has passed
    assert any("SLA labels changed on the tracker" in c for c in summary.conflicts)
    assert h.tracker.tickets["1"].labels == {"sla-depasse-prise-en-compte"}, "the person's removal is kept"


class FailsOnReadBack(MemoryAdapter):
    """The field write lands, then the tracker fails before the pass can record it."""

    written = False

    def apply_fields(self, ticket: Ticket, due: Any, labels: Any) -> None:
        super().apply_fields(ticket, due, labels)
        self.written = True

    def fetch(self, ticket_id: str) -> Ticket:
        if self.written:
            raise self.failure()
        return super().fetch(ticket_id)

    def failure(self) -> BaseException:
        return TransientError("502 Bad Gateway")


def raised_to_majeure_in_report_mode(adapter: type[MemoryAdapter]) -> Harness:
    """A mineure ticket synced in report mode, then raised to majeure, with `adapter` for the next pass."""
    h = Harness(Ticket("demo", "1", "t", ALICE, T("2025-06-03T10:00:00+02:00"), "new", "mineure"),
                now="2025-06-03T10:30:00+02:00")
    report_manual_changes(h)
    h.sync()
    h.clock.set("2025-06-03T10:40:00+02:00")
    h.tracker.record("1", SeverityChange(h.clock(), "mineure", "majeure", "sam"), severity="majeure")
    h.syncer.adapter = adapter("demo", h.tracker)
    return h


def test_report_mode_never_mistakes_its_own_write_for_a_manual_change() -> None:
    h = raised_to_majeure_in_report_mode(FailsOnReadBack)
    assert not h.sync("2025-06-03T10:45:00+02:00").complete
    h.syncer.adapter = h.adapter
    h.sync("2025-06-03T10:50:00+02:00")
    h.clock.set("2025-06-03T11:00:00+02:00")
    h.tracker.record("1", Comment(h.clock(), "sam", Role.AGENT, True, "on it"))  # acknowledged: new deadline
    summary = h.sync("2025-06-03T11:05:00+02:00")
    assert summary.conflicts == []
    assert h.tracker.tickets["1"].due_at != T("2025-06-03T13:00:00+02:00"), "the due date follows the contract"


class SecondPrecision(MemoryAdapter):
    """Like Redmine: `updated_on` has whole seconds, in the change query and in the issue."""

    stamp_precision = timedelta(seconds=1)

    def _page(self, bound: datetime | None, offset: int) -> list[ChangedTicket]:
        return [ChangedTicket(r.id, r.updated.replace(microsecond=0)) for r in super()._page(bound, offset)]

    def fetch(self, ticket_id: str) -> Ticket:
        ticket = super().fetch(ticket_id)
        return replace(ticket, updated=ticket.updated.replace(microsecond=0) if ticket.updated else None)


def test_an_edit_in_the_same_second_as_our_read_is_not_lost() -> None:
    # A snapshot read in the same second as its whole-second stamp is read again once.
    h = Harness(waiting_ticket(), now="2025-06-02T12:00:00.100+02:00")
    h.syncer.adapter = SecondPrecision("demo", h.tracker)
    h.sync()  # writes the due date and labels at 12:00:00.1 and reads the ticket back
    h.clock.set("2025-06-02T12:00:00.700+02:00")  # an agent resumes work in the same second
    h.tracker.record("1", StatusChange(h.clock(), "waiting_for_customer", "in_progress", "sam", Role.AGENT),
                     status="in_progress")
    h.sync("2025-06-02T12:05:00+02:00")
    assert h.store.ticket("demo", "1").snapshot.status == "in_progress"  # type: ignore[union-attr]


def test_a_tracker_clock_behind_ours_loses_no_update() -> None:
    h = Harness(waiting_ticket(), now="2025-06-02T12:00:00+02:00")
    h.tracker.clock = lambda: h.clock() - timedelta(minutes=10)
    h.sync()
    h.clock.set("2025-06-02T12:00:30+02:00")
    h.tracker.record("1", Comment(h.tracker.clock(), "alice", Role.CUSTOMER, True, "logs attached"))
    summary = h.sync("2025-06-02T12:05:00+02:00")
    assert summary.tickets_read == 1


def test_paging_through_a_bulk_edit_misses_no_ticket_when_one_is_edited_meanwhile() -> None:
    bulk = T("2025-06-02T11:30:00+02:00")
    h = Harness(*(Ticket("demo", str(i), "t", ALICE, bulk, "new", "bloquante") for i in range(1, 6)), page_size=2)

    class EditDuringPaging(MemoryAdapter):
        pages = 0

        def _page(self, bound: datetime | None, offset: int) -> list[ChangedTicket]:
            self.pages += 1
            if self.pages == 3:
                h.tracker.record("1", Comment(h.clock(), "alice", Role.CUSTOMER, True, "any news?"))
            return super()._page(bound, offset)

    h.syncer.adapter = EditDuringPaging("demo", h.tracker)
    h.sync()
    assert sorted(r.ticket_id for r in h.store.tickets()) == ["1", "2", "3", "4", "5"]


def test_two_overlapping_passes_on_one_store_send_a_reminder_once(tmp_path: Path) -> None:
    h = Harness(waiting_ticket())
    h.store = Store(tmp_path / "state.sqlite")
    h.syncer = Syncer(h.config, h.store, h.adapter, h.pm, clock=h.clock)
    h.sync()
    manual = Syncer(h.config, Store(tmp_path / "state.sqlite"), MemoryAdapter("demo", h.tracker), h.pm, clock=h.clock)

    class SlowPost(MemoryAdapter):
        def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
            manual.run(h.clock())  # runs while this POST is on the wire
            super().post_comment(ticket, comment)

    h.syncer.adapter = SlowPost("demo", h.tracker)
    h.sync("2025-06-03T11:00:00+02:00")
    assert len(h.comments()) == 1


def test_no_closure_notice_when_the_ticket_cannot_be_closed() -> None:
    h = Harness(waiting_ticket())
    h.syncer.closing_status = None
    for day in ("02T12", "03T11", "04T11", "05T11", "06T11"):
        h.sync(f"2025-06-{day}:00:00+02:00")
    assert h.tracker.tickets["1"].status == "waiting_for_customer"
    assert not [k for k in h.comments() if "/closure/" in k], "the customer is told it is closed, it is not"


def test_a_ticket_skipped_once_is_retried_by_a_later_pass() -> None:
    h = Harness(waiting_ticket("1"), Ticket("demo", "2", "t", ALICE, T("2025-06-02T11:30:00+02:00"), "new",
                                            "bloquante"))
    h.syncer.adapter = flaky(h.tracker)
    assert h.sync().errors == ["demo:2: skipped: issue 2: 403 Forbidden (retried after 2025-06-02 12:05)"]
    h.syncer.adapter = h.adapter
    h.sync("2025-06-02T12:10:00+02:00")
    h.sync("2025-06-02T15:00:00+02:00")  # past ticket 2's acknowledge deadline
    assert "sla-depasse-prise-en-compte" in h.tracker.tickets["2"].labels


def test_dry_run_lists_the_follow_up_of_a_closure() -> None:
    h = Harness(replace(waiting_ticket(), severity="mineure"))
    h.sync()
    h.clock.set("2025-06-30T11:00:00+02:00")
    dry = h.sync(dry_run=True)
    h.seen.clear()
    h.sync()
    assert sorted(a.kind for _, a in dry.planned) == sorted(kind for _, kind in h.seen)


def test_dry_run_does_not_promise_a_reminder_the_journal_withholds() -> None:
    h = Harness(waiting_ticket())
    h.sync("2025-06-03T11:00:00+02:00")
    drop_markers(h)
    h.clock.set("2025-06-03T11:40:00+02:00")
    dry = h.sync(dry_run=True)
    h.seen.clear()
    real = h.sync()
    assert h.seen == [] and real.conflicts
    assert [a.kind for _, a in dry.planned] == [] and dry.conflicts == real.conflicts


def redmine_issue(id: int, journals: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": id, "project": {"id": 1, "name": "Support"}, "tracker": {"id": 1, "name": "Bug"},
            "status": {"id": 1, "name": "New"}, "priority": {"id": 4, "name": "Urgent"},
            "author": {"id": 6, "name": "Alice"}, "subject": "Down", "due_date": None,
            "custom_fields": [{"id": 1, "name": "SLA labels", "multiple": True, "value": []}],
            "created_on": "2025-06-02T08:00:00Z", "updated_on": f"2025-06-02T09:0{id}:00Z", "journals": journals}


@responses.activate
def test_one_malformed_redmine_issue_does_not_stop_the_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "http://redmine.test"
    monkeypatch.setenv("SLA_TEST_REDMINE_KEY", "k3y")
    config = builtin_config()
    section = TrackerSection.model_validate({"adapter": "redmine", "statuses": {"new": ["New"]}, "agents": ["5"],
                                             "closing_status": "Closed", "options": {
                                                 "url": url, "api_key": {"env": "SLA_TEST_REDMINE_KEY"},
                                                 "labels_field": 1}})
    adapter = RedmineAdapter("rm", section, config, retry=RetryPolicy(attempts=1, sleep=lambda _: None))
    responses.get(f"{url}/issue_statuses.json", json={"issue_statuses": [{"id": 1, "name": "New"}]})
    responses.get(f"{url}/users/current.json", json={"user": {"id": 9}})
    responses.get(f"{url}/projects.json", json={"projects": [{"id": 1, "name": "Support", "identifier": "support",
                  "issue_categories": [], "issue_custom_fields": []}], "total_count": 1, "offset": 0, "limit": 100})
    responses.get(f"{url}/users/6.json", json={"user": {"id": 6, "login": "alice", "firstname": "Alice",
                  "lastname": "Martin", "memberships": []}})
    responses.get(f"{url}/projects/1/memberships.json",
                  json={"memberships": [], "total_count": 0, "offset": 0, "limit": 100})
    responses.get(f"{url}/issues.json", json={"issues": [{"id": 1, "updated_on": "2025-06-02T09:01:00Z"},
                                                         {"id": 2, "updated_on": "2025-06-02T09:02:00Z"}]})
    bad = [{"id": 1, "user": {"id": 6, "name": "Alice"}, "notes": "x", "created_on": None, "details": []}]
    responses.get(f"{url}/issues/1.json", json={"issue": redmine_issue(1, bad)})
    responses.get(f"{url}/issues/2.json", json={"issue": redmine_issue(2, [])})
    responses.put(f"{url}/issues/2.json", status=204)
    syncer = Syncer(config, Store(":memory:"), adapter, build_plugin_manager(load_entry_points=False),
                    clock=lambda: T("2025-06-02T12:00:00+02:00"))
    syncer.workers = 1
    summary = syncer.run()
    assert summary.complete and summary.errors and summary.errors[0].startswith("rm:1: skipped")
    assert any(c.request.method == "PUT" and str(c.request.url).endswith("/issues/2.json") for c in responses.calls)


# --- review probes: keyset paging -------------------------------------------------------------------------------

KEY0 = T("2025-06-02T09:00:00+00:00")


class TooManyQueries(AssertionError):
    pass


class SimulatedTable:
    """A change query over a table sorted by (updated, id); between two calls, scripted edits move a row to a
    later `updated` (as a person's edit does)."""

    def __init__(self, stamps: list[int], page_size: int, edits: list[tuple[int, int, int]], max_calls: int) -> None:
        self.rows = {f"{i:02d}": KEY0 + timedelta(seconds=s) for i, s in enumerate(stamps)}
        self.start = dict(self.rows)
        self.page_size, self.edits, self.max_calls = page_size, edits, max_calls
        self.calls = 0
        self.edited: set[str] = set()

    def query(self, bound: datetime | None, offset: int) -> list[ChangedTicket]:
        if self.calls >= self.max_calls:
            raise TooManyQueries(f"{self.calls} queries: keyset_pages does not end")
        for at, which, later in self.edits:
            if at == self.calls and self.rows:
                row = sorted(self.rows)[which % len(self.rows)]
                self.rows[row] += timedelta(seconds=later)
                self.edited.add(row)
        self.calls += 1
        ordered = sorted((u, i) for i, u in self.rows.items() if bound is None or u >= bound)
        return [ChangedTicket(i, u) for u, i in ordered[offset:offset + self.page_size]]

    def check(self, cursor: int | None) -> list[ChangedTicket]:
        since = None if cursor is None else KEY0 + timedelta(seconds=cursor)
        out = list(keyset_pages(self.query, since, self.page_size))
        pairs = [(r.id, r.updated) for r in out]
        assert len(pairs) == len(set(pairs)), "a row yielded twice"
        assert all(since is None or r.updated >= since for r in out)
        missed = sorted(i for i, u in self.start.items()
                        if i not in self.edited and (since is None or u >= since) and i not in {r.id for r in out})
        assert missed == [], f"rows present from the start and never edited were not yielded: {missed}"
        return out


def query_budget(stamps: list[int], edits: list[Any]) -> int:
    return (len(stamps) + len(edits) + 2) ** 2 + 10


PAGING = settings(derandomize=True, deadline=None, max_examples=400,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
STAMPS = st.lists(st.integers(0, 3), max_size=14)  # few distinct stamps: many ties, as after a bulk edit
CURSORS = st.one_of(st.none(), st.integers(0, 2))


@PAGING
@given(STAMPS, st.integers(1, 4), CURSORS, st.lists(st.tuples(st.integers(0, 15), st.integers(0, 20),
                                                             st.integers(1, 4)), max_size=1))
def test_keyset_paging_with_at_most_one_concurrent_edit_yields_every_row_once(
        stamps: list[int], page_size: int, cursor: int | None, edits: list[tuple[int, int, int]]) -> None:
    SimulatedTable(stamps, page_size, edits, query_budget(stamps, edits)).check(cursor)


@PAGING
@given(STAMPS, st.integers(1, 4), CURSORS, st.lists(st.tuples(st.integers(0, 15), st.integers(0, 20),
                                                             st.integers(1, 4)), max_size=8))
def test_keyset_paging_ends_and_never_yields_a_row_twice_whatever_the_edits(
        stamps: list[int], page_size: int, cursor: int | None, edits: list[tuple[int, int, int]]) -> None:
    table = SimulatedTable(stamps, page_size, edits, query_budget(stamps, edits))
    try:
        table.check(cursor)
    except TooManyQueries:
        raise
    except AssertionError as exc:
        if "twice" in str(exc):
            raise


@PAGING
@example(stamps=[0] * 7 + [5], page_size=2, cursor=0, edits=[(3, 0, 9), (6, 1, 9), (6, 2, 9)])
@example(stamps=[0, 2, 1, 0, 0, 0, 0, 1], page_size=1, cursor=None, edits=[(0, 0, 1), (0, 0, 1), (7, 2, 1),
                                                                            (11, 3, 2)])
@given(STAMPS, st.integers(1, 4), CURSORS, st.lists(st.tuples(st.integers(0, 15), st.integers(0, 20),
                                                             st.integers(1, 4)), max_size=6))
def test_keyset_paging_misses_no_row_whatever_the_concurrent_edits(
        stamps: list[int], page_size: int, cursor: int | None, edits: list[tuple[int, int, int]]) -> None:
    SimulatedTable(stamps, page_size, edits, query_budget(stamps, edits)).check(cursor)


def test_keyset_paging_misses_an_unedited_ticket_of_a_bulk_edit_when_three_others_are_edited() -> None:
    bulk = KEY0
    rows = {i: bulk for i in "abcdmno"} | {"z": bulk + timedelta(seconds=5)}
    calls = [0]
    later = bulk + timedelta(seconds=9)

    def query(bound: datetime | None, offset: int) -> list[ChangedTicket]:
        calls[0] += 1
        assert calls[0] < 100
        if calls[0] == 4:
            rows["a"] = later  # a person edits a, while the first scan is at offset 4
        if calls[0] == 7:
            rows["b"] = rows["c"] = later  # and two more during the rescan
        ordered = sorted((u, i) for i, u in rows.items() if bound is None or u >= bound)
        return [ChangedTicket(i, u) for u, i in ordered[offset:offset + 2]]

    assert "m" in {r.id for r in keyset_pages(query, bulk, 2)}


@pytest.mark.parametrize("page", [
    [ChangedTicket("1", KEY0), ChangedTicket("2", KEY0)],  # a full page of one bulk stamp, offset ignored
    [ChangedTicket("1", KEY0), ChangedTicket("2", KEY0 + timedelta(seconds=1))],  # the bound ignored too
])
@pytest.mark.parametrize("cursor", [None, KEY0])
def test_keyset_paging_ends_when_the_tracker_keeps_answering_the_same_full_page(
        page: list[ChangedTicket], cursor: datetime | None) -> None:
    """A tracker that ignores `offset` ends the pass (the cursor stays), it does not hold it forever."""
    calls = [0]

    def query(bound: datetime | None, offset: int) -> list[ChangedTicket]:
        calls[0] += 1
        if calls[0] > 1000:
            raise TooManyQueries("still paging after 1000 queries")
        return page

    with pytest.raises(TransientError, match="same tickets again|did not come to an end"):
        list(keyset_pages(query, cursor, 2))


@pytest.mark.parametrize("pages,page_size,expected_calls", [
    ([[]], 3, 1),  # nothing changed
    ([[("1", 0), ("2", 1), ("3", 2)], [("3", 2)]], 3, 2),  # exactly one page: one more query shows the end
    # a bulk edit filling a page: scanned twice by offset, then paging goes on just after its stamp
    ([[("1", 0), ("2", 0)], [("1", 0), ("2", 0)], [("1", 0), ("2", 0)], [], [("1", 0), ("2", 0)], [], []], 2, 7),
])
def test_keyset_paging_on_exact_and_empty_pages(pages: list[list[tuple[str, int]]], page_size: int,
                                                 expected_calls: int) -> None:
    answers = iter(pages)
    asked: list[tuple[datetime | None, int]] = []

    def query(bound: datetime | None, offset: int) -> list[ChangedTicket]:
        asked.append((bound, offset))
        return [ChangedTicket(i, KEY0 + timedelta(seconds=s)) for i, s in next(answers)]

    ids = [r.id for r in keyset_pages(query, KEY0, page_size)]
    assert len(ids) == len(set(ids)) and len(asked) == expected_calls, asked


# --- review probes: retries through the sync ----------------------------------------------------------------------

def test_a_retried_ticket_that_succeeds_is_cleared_and_costs_nothing_after() -> None:
    h = Harness(waiting_ticket("1"), waiting_ticket("2"))
    h.syncer.adapter = flaky(h.tracker)
    h.sync()
    assert [(r["ticket_id"], r["attempts"]) for r in h.store.retries()] == [("2", 1)]
    again = h.sync("2025-06-02T12:05:00+02:00")  # due: read, fails again, waits longer
    assert again.errors == ["demo:2: skipped: issue 2: 403 Forbidden (retried after 2025-06-02 12:15)"]
    h.syncer.adapter = h.adapter
    assert h.sync("2025-06-02T12:15:00+02:00").errors == []
    assert h.store.retries() == [] and h.store.ticket("demo", "2") is not None
    assert h.store.earliest_change(["demo"]) == T("2025-06-03T11:00:00+02:00"), "its reminder, no retry left"
    writes = h.tracker.writes
    assert h.sync("2025-06-02T12:30:00+02:00").tickets_read == 0 and h.tracker.writes == writes


def test_a_dry_run_never_records_a_retry_nor_clears_one() -> None:
    h = Harness(waiting_ticket("1"), waiting_ticket("2"))
    h.syncer.adapter = flaky(h.tracker)
    dry = h.sync(dry_run=True)
    assert dry.errors == ["demo:2: skipped: issue 2: 403 Forbidden"] and h.store.retries() == []
    h.sync()
    before = h.store.retries()
    h.syncer.adapter = h.adapter
    h.sync("2025-06-02T13:00:00+02:00", dry_run=True)  # the retry is due and would now succeed
    assert h.store.retries() == before
    h.syncer.adapter = flaky(h.tracker)
    h.sync("2025-06-02T13:00:00+02:00", dry_run=True)  # due and fails again: not deferred by a dry run
    assert h.store.retries() == before


def test_a_ticket_both_due_and_retried_is_processed_once() -> None:
    h = Harness(waiting_ticket("1"))
    h.sync()  # reminder 1 due on Tuesday 11:00
    h.store.defer("demo", "1", T("2025-06-03T10:00:00+02:00"), "earlier failure")  # retry due at 10:05
    fetched: list[str] = []

    class Counting(MemoryAdapter):
        def fetch(self, ticket_id: str) -> Ticket:
            fetched.append(ticket_id)
            return super().fetch(ticket_id)

    h.syncer.adapter = Counting("demo", h.tracker)
    summary = h.sync("2025-06-03T11:00:00+02:00")
    assert summary.tickets_evaluated == 1 and summary.applied == {"comment": 1}
    assert len(h.comments()) == 1 and h.store.retries() == []
    assert fetched == ["1", "1"], "one read to plan, one read back"


def test_a_pending_retry_not_yet_due_holds_back_the_tickets_timed_change() -> None:
    # Documented trade-off: the failing ticket waits for its retry, its timed change is not tried before.
    h = Harness(waiting_ticket("1"))
    h.sync()
    h.store.defer("demo", "1", T("2025-06-03T10:58:00+02:00"), "earlier failure")  # retry at 11:03
    assert h.sync("2025-06-03T11:00:00+02:00").tickets_evaluated == 0
    assert h.sync("2025-06-03T11:03:00+02:00").applied == {"comment": 1}
    assert h.store.retries() == []


# --- review probes: applied state saved right after a write, then a crash ---------------------------------------

class KilledOnReadBack(FailsOnReadBack):
    """The field write lands and is recorded (save_applied); the process dies before the snapshot is saved."""

    def failure(self) -> BaseException:
        return KeyboardInterrupt("killed")


@pytest.mark.parametrize("precision", [MemoryAdapter, SecondPrecision])
def test_killed_after_save_applied_on_a_new_ticket_the_next_pass_rewrites_nothing(precision: type) -> None:
    h = Harness(Ticket("demo", "1", "t", ALICE, T("2025-06-03T10:00:00+02:00"), "new", "majeure"),
                now="2025-06-03T10:30:00.200+02:00")
    report_manual_changes(h)
    h.syncer.adapter = type("Killed", (KilledOnReadBack, precision), {})("demo", h.tracker)
    with pytest.raises(KeyboardInterrupt):
        h.sync()
    record = h.store.ticket("demo", "1")
    assert record is not None and record.applied.labels == frozenset({"sla-majeure"})
    writes = h.tracker.writes
    h.syncer.adapter = precision("demo", h.tracker)
    summary = h.sync("2025-06-03T10:35:00+02:00")
    assert summary.conflicts == [] and summary.errors == [] and h.tracker.writes == writes
    assert summary.tickets_evaluated == 1, "read again, found right"
    assert h.store.ticket("demo", "1").snapshot.labels == frozenset({"sla-majeure"})  # type: ignore[union-attr]


@pytest.mark.parametrize("precision", [MemoryAdapter, SecondPrecision])
def test_killed_after_save_applied_on_a_known_ticket_no_false_conflict_later(precision: type) -> None:
    h = Harness(Ticket("demo", "1", "t", ALICE, T("2025-06-03T10:00:00+02:00"), "new", "mineure"),
                now="2025-06-03T10:30:00+02:00")
    report_manual_changes(h)
    h.syncer.adapter = precision("demo", h.tracker)
    h.sync()
    h.clock.set("2025-06-03T10:40:00+02:00")
    h.tracker.record("1", SeverityChange(h.clock(), "mineure", "majeure", "sam"), severity="majeure")
    h.syncer.adapter = type("Killed", (KilledOnReadBack, precision), {})("demo", h.tracker)
    with pytest.raises(KeyboardInterrupt):
        h.sync("2025-06-03T10:45:00+02:00")
    writes = h.tracker.writes
    h.syncer.adapter = precision("demo", h.tracker)
    assert h.sync("2025-06-03T10:50:00+02:00").conflicts == [] and h.tracker.writes == writes
    h.clock.set("2025-06-03T11:00:00+02:00")
    h.tracker.record("1", Comment(h.clock(), "sam", Role.AGENT, True, "on it"))  # acknowledged: a new deadline
    summary = h.sync("2025-06-03T11:05:00+02:00")
    assert summary.conflicts == [] and summary.applied == {"due_date": 1}


class AnswerLostAfterWrite(MemoryAdapter):
    """The field write reaches the tracker, the answer is lost (timeout): the adapter raises TransientError."""

    lose = True

    def apply_fields(self, ticket: Ticket, due: Any, labels: Any) -> None:
        super().apply_fields(ticket, due, labels)
        if self.lose:
            self.lose = False
            raise TransientError("read timed out")


def test_report_mode_after_a_write_whose_answer_was_lost() -> None:
    h = raised_to_majeure_in_report_mode(AnswerLostAfterWrite)
    lost = h.sync("2025-06-03T10:45:00+02:00")  # the due date of `majeure` landed, its answer lost
    assert lost.errors and "deferred" in lost.errors[0]
    assert h.sync("2025-06-03T10:50:00+02:00").applied == {}, "found right: nothing written"
    h.clock.set("2025-06-03T11:00:00+02:00")
    h.tracker.record("1", Comment(h.clock(), "sam", Role.AGENT, True, "on it"))  # acknowledged: a new deadline
    summary = h.sync("2025-06-03T11:05:00+02:00")
    assert summary.conflicts == []
    assert h.tracker.tickets["1"].due_at != T("2025-06-03T13:00:00+02:00"), "the due date follows the contract"


def test_a_failing_ticket_is_not_read_by_every_pass_before_its_retry_is_due() -> None:
    h = Harness(waiting_ticket("1"), Ticket("demo", "2", "t", ALICE, T("2025-06-02T12:10:00+02:00"), "new",
                                            "bloquante"))
    h.syncer.adapter = flaky(h.tracker)
    h.sync()  # ticket 1 synced at 12:00; ticket 2 is created at 12:10 and cannot be read (403)
    assert h.sync("2025-06-02T12:11:00+02:00").errors  # first failure: retried after 12:16
    polls = [h.sync(f"2025-06-02T12:1{m}:00+02:00") for m in (2, 3, 4, 5)]  # the service polls every minute
    assert [p.errors for p in polls] == [[], [], [], []]
    assert h.store.retries()[0]["attempts"] == 1


# --- review probes: dry run == real run, and a dry run leaves the store as it was ----------------------------------

def store_dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    tables = [r[0] for r in store._db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {t: sorted(store._db.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}


def recorded(h: Harness) -> list[tuple[str, str]]:
    """Every action a real run applies, as the dry run would print it."""
    applied: list[tuple[str, str]] = []

    class Recorder:
        @hookimpl
        def sla_bridge_action_applied(self, ticket: Ticket, action: Any, adapter: str) -> None:
            applied.append((f"{adapter}:{ticket.id}", describe(action)))

    h.syncer.pm = build_plugin_manager([Recorder()], load_entry_points=False)
    return applied


def first_pass() -> Harness:
    return Harness(waiting_ticket("1"), Ticket("demo", "2", "t", ALICE, T("2025-06-02T11:30:00+02:00"), "new",
                                               "majeure"), Ticket("demo", "3", "t", ALICE,
                                                                  T("2025-06-02T09:00:00+02:00"), "new", "mineure"))


def reminder() -> Harness:
    h = Harness(waiting_ticket("1"), waiting_ticket("2"))
    h.sync()
    h.clock.set("2025-06-03T11:00:00+02:00")
    return h


def closure_with_follow_up() -> Harness:
    h = Harness(replace(waiting_ticket(), severity="mineure"))
    h.sync()
    h.clock.set("2025-06-30T11:00:00+02:00")
    return h


def report_mode_conflict() -> Harness:
    h = Harness(Ticket("demo", "1", "t", ALICE, T("2025-06-03T10:00:00+02:00"), "new", "majeure"),
                now="2025-06-03T10:30:00+02:00")
    report_manual_changes(h)
    h.sync()
    h.clock.set("2025-06-03T10:40:00+02:00")
    h.tracker.record("1", LabelChange(h.clock(), "sla-majeure", False, "sam"), labels=frozenset(),
                     due_date=T("2025-06-20T00:00:00+02:00").date(), due_at=None)
    h.clock.set("2025-06-03T13:05:00+02:00")  # the acknowledge deadline (13:00) has passed
    return h


def retry_and_timed_change_together() -> Harness:
    h = Harness(waiting_ticket("1"), waiting_ticket("2"))
    h.syncer.adapter = flaky(h.tracker)
    h.sync()
    h.syncer.adapter = h.adapter
    h.clock.set("2025-06-03T11:00:00+02:00")  # 2's retry and 1's reminder are both due
    return h


SCENARIOS = [first_pass, reminder, closure_with_follow_up, report_mode_conflict, retry_and_timed_change_together]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_dry_run_plans_exactly_the_real_runs_actions_and_leaves_the_store(scenario: Any) -> None:
    h = scenario()
    before, writes = store_dump(h.store), h.tracker.writes
    dry = h.sync(dry_run=True)
    assert store_dump(h.store) == before, "a dry run changes nothing in the store"
    assert h.tracker.writes == writes
    again = h.sync(dry_run=True)
    assert [(t, describe(a)) for t, a in again.planned] == [(t, describe(a)) for t, a in dry.planned]
    applied = recorded(h)
    real = h.sync()
    assert sorted((t, describe(a)) for t, a in dry.planned) == sorted(applied)
    assert dry.conflicts == real.conflicts and dry.errors == [e.split(" (retried after")[0] for e in real.errors]
    assert applied, "each scenario writes something"


def test_dry_run_on_a_file_store_leaves_every_table_unchanged(tmp_path: Path) -> None:
    h = reminder()
    file_store = Store(tmp_path / "state.sqlite")
    h.syncer.store = h.store = file_store
    h.sync("2025-06-02T12:00:00+02:00")
    h.clock.set("2025-06-03T11:00:00+02:00")
    before = store_dump(file_store)
    mtime = (tmp_path / "state.sqlite").stat().st_mtime_ns
    assert h.sync(dry_run=True).planned
    assert store_dump(Store(tmp_path / "state.sqlite")) == before
    assert (tmp_path / "state.sqlite").stat().st_mtime_ns == mtime


# --- review probes: a ticket is judged no earlier than its last event (_instant) -------------------------------------

def test_dry_run_equals_real_run_when_the_trackers_clock_is_ahead() -> None:
    h = Harness(Ticket("demo", "1", "t", ALICE, T("2025-06-03T10:00:00+02:00"), "new", "majeure"),
                now="2025-06-03T12:57:00+02:00")  # acknowledge deadline 13:00
    h.tracker.clock = lambda: h.clock() + timedelta(minutes=5)
    dry = h.sync(dry_run=True)
    applied = recorded(h)
    h.sync()
    assert sorted((t, describe(a)) for t, a in dry.planned) == sorted(applied)


def test_a_real_run_at_a_past_instant_does_what_its_dry_run_says() -> None:
    h = Harness(waiting_ticket(), now="2025-06-03T11:30:00+02:00")  # reminder 1 was due at 11:00
    at = T("2025-06-02T12:00:00+02:00")
    dry = h.syncer.run(at, dry_run=True)
    applied = recorded(h)
    h.syncer.run(at)
    assert sorted((t, describe(a)) for t, a in dry.planned) == sorted(applied)
    assert h.comments() == [], "at --at no reminder is due"


# --- review probes: one pass per tracker (OS lock) ---------------------------------------------------------------

def test_a_pass_killed_mid_way_releases_its_lock_and_a_busy_pass_changes_nothing(tmp_path: Path) -> None:
    h = Harness(waiting_ticket())
    h.syncer.store = h.store = Store(tmp_path / "state.sqlite")
    h.sync()
    h.syncer.adapter = CrashAfterPost("demo", h.tracker)
    with pytest.raises(KeyboardInterrupt):
        h.sync("2025-06-03T11:00:00+02:00")
    other = Syncer(h.config, Store(tmp_path / "state.sqlite"), h.adapter, h.pm, clock=h.clock)
    assert other.run(h.clock()).complete, "the killed pass's lock is gone"
    before = store_dump(h.store)
    with Store(tmp_path / "state.sqlite").lock("demo"):
        busy = other.run(T("2025-06-04T11:00:00+02:00"))
        dry = other.run(T("2025-06-04T11:00:00+02:00"), dry_run=True)
    assert not busy.complete and busy.errors == [
        f"another pass of 'demo' is running on {tmp_path / 'state.sqlite'}; this pass is skipped"]
    assert dry.complete and dry.planned, "a dry run only reads: it takes no lock and plans as usual"
    assert store_dump(h.store) == before and len(h.comments()) == 1


# --- review (HEAD 64e7c7c): the 6000-page cap on keyset_pages ----------------------------------------------------

def test_keyset_paging_reads_a_long_but_well_behaved_change_list_to_its_end() -> None:
    page_size, count = 2, 6000 * 2 + 10  # with page_size 100 (the default): ~600k tickets
    rows = [ChangedTicket(str(i), KEY0 + timedelta(seconds=i)) for i in range(count)]

    def query(bound: datetime | None, offset: int) -> list[ChangedTicket]:
        start = 0 if bound is None else int((bound - KEY0).total_seconds())  # `updated >= bound`, sorted
        return rows[start + offset:start + offset + page_size]

    assert len({r.id for r in keyset_pages(query, None, page_size)}) == count
