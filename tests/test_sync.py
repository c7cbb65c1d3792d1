"""The sync path end to end against the in-memory tracker: writes, idempotency, cursor, crashes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses

from sla_bridge.actions import PostComment
from sla_bridge.adapters.base import ChangedTicket, SkippableError, TransientError
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
from sla_bridge.sync import Syncer

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
    return Ticket("demo", id, kw.pop("title", "Server down"), "alice", T(created), "waiting_for_customer", "bloquante",
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
        harness = self

        class Observer:
            @hookimpl
            def sla_bridge_action_applied(self, ticket: Ticket, action: Any, adapter: str) -> None:
                harness.seen.append((ticket.id, action.kind))

        self.pm = build_plugin_manager([Observer()], load_entry_points=False)
        self.syncer = Syncer(self.config, self.store, self.adapter, self.pm, clock=self.clock)

    def sync(self, at: str | None = None, dry_run: bool = False) -> Any:
        if at:
            self.clock.set(at)
        return self.syncer.run(self.clock(), dry_run=dry_run)

    def comments(self, id: str = "1") -> list[str]:
        return [key for e in self.tracker.tickets[id].events if isinstance(e, Comment) for key in markers_in(e.body)]


def test_first_pass_writes_due_date_and_labels_then_nothing() -> None:
    h = Harness(Ticket("demo", "1", "t", "alice", T("2025-06-03T10:00:00+02:00"), "new", "majeure"),
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
    h = Harness(Ticket("demo", "1", "t", "alice", T("2025-06-03T10:00:00+02:00"), "new", "majeure",
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
    assert not summary.complete and h.comments() == []
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


def test_cursor_advances_only_on_complete_passes_capped_at_the_start() -> None:
    h = Harness(waiting_ticket(), now="2025-06-02T12:00:00+02:00")
    h.sync()
    cursor = h.store.cursor("demo").cursor
    assert cursor is not None and cursor <= T("2025-06-02T12:00:00+02:00")
    h.syncer.adapter = FailOnPost("demo", h.tracker)
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


class Flaky(MemoryAdapter):
    def fetch(self, ticket_id: str) -> Ticket:
        if ticket_id == "2":
            raise SkippableError("issue 2: 403 Forbidden")
        return super().fetch(ticket_id)


def test_one_bad_ticket_is_reported_the_others_synced() -> None:
    h = Harness(waiting_ticket("1"), waiting_ticket("2"), waiting_ticket("3"))
    h.syncer.adapter = Flaky("demo", h.tracker)
    summary = h.sync()
    assert summary.tickets_evaluated == 2
    assert summary.errors == ["demo:2: skipped: issue 2: 403 Forbidden (retried after 2025-06-02 12:05)"]
    assert summary.complete


def test_manual_change_is_reported_when_configured() -> None:
    h = Harness(Ticket("demo", "1", "t", "alice", T("2025-06-03T10:00:00+02:00"), "new", "majeure"),
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
    summary = h.sync("2025-06-30T11:00:00+02:00")  # reminders 5/10/15 days, then the closure
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
    h = Harness(*(Ticket("demo", str(i), "t", "alice", T("2025-06-03T10:00:00+02:00") + timedelta(minutes=i),
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
    h = Harness(Ticket("demo", "1", "t", "alice", T("2025-06-03T10:00:17+02:00"), "new", "majeure"),
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
    h = Harness(Ticket("demo", "1", "t", "alice", T("2025-06-03T10:00:00+02:00"), "new", "majeure"),
                now="2025-06-03T10:30:00+02:00")
    h.sync()
    h.clock.set("2025-06-03T10:40:00+02:00")
    h.tracker.record("1", due_at=T("2025-06-03T13:01:00+02:00"))
    summary = h.sync("2025-06-03T10:45:00+02:00")
    assert summary.applied == {"due_date": 1} and h.tracker.tickets["1"].due_at == T("2025-06-03T13:00:00+02:00")


def test_report_mode_keeps_a_label_a_person_removed_while_other_labels_change() -> None:
    h = Harness(Ticket("demo", "1", "t", "alice", T("2025-06-03T10:00:00+02:00"), "new", "majeure"),
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
            raise TransientError("502 Bad Gateway")
        return super().fetch(ticket_id)


def test_report_mode_never_mistakes_its_own_write_for_a_manual_change() -> None:
    h = Harness(Ticket("demo", "1", "t", "alice", T("2025-06-03T10:00:00+02:00"), "new", "mineure"),
                now="2025-06-03T10:30:00+02:00")
    report_manual_changes(h)
    h.sync()
    h.clock.set("2025-06-03T10:40:00+02:00")
    h.tracker.record("1", SeverityChange(h.clock(), "mineure", "majeure", "sam"), severity="majeure")
    h.syncer.adapter = FailsOnReadBack("demo", h.tracker)
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

    def _page(self, bound: datetime | None, offset: int) -> list[ChangedTicket]:
        return [ChangedTicket(r.id, r.updated.replace(microsecond=0)) for r in super()._page(bound, offset)]

    def fetch(self, ticket_id: str) -> Ticket:
        ticket = super().fetch(ticket_id)
        return replace(ticket, updated=ticket.updated.replace(microsecond=0) if ticket.updated else None)


@pytest.mark.xfail(strict=True, reason="BUG sync.py:127: a ticket whose `updated` equals the snapshot's is skipped;"
                   " on a tracker with second precision (Redmine) an edit made in the same second as, but after,"
                   " sla-bridge's read is never read (the snapshot stays stale until the next edit)")
def test_an_edit_in_the_same_second_as_our_read_is_not_lost() -> None:
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
    h = Harness(*(Ticket("demo", str(i), "t", "alice", bulk, "new", "bloquante") for i in range(1, 6)), page_size=2)

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
    h = Harness(waiting_ticket("1"), Ticket("demo", "2", "t", "alice", T("2025-06-02T11:30:00+02:00"), "new",
                                            "bloquante"))
    h.syncer.adapter = Flaky("demo", h.tracker)
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
    responses.get(f"{url}/issues.json", json={"issues": [{"id": 1, "updated_on": "2025-06-02T09:01:00Z"},
                                                         {"id": 2, "updated_on": "2025-06-02T09:02:00Z"}]})
    bad = [{"id": 1, "user": {"id": 6, "name": "Alice"}, "notes": "x", "created_on": None, "details": []}]
    responses.get(f"{url}/issues/1.json", json={"issue": redmine_issue(1, bad)})
    responses.get(f"{url}/issues/2.json", json={"issue": redmine_issue(2, [])})
    responses.put(f"{url}/issues/2.json", status=204)
    syncer = Syncer(config, Store(":memory:"), adapter, build_plugin_manager(load_entry_points=False),
                    clock=lambda: T("2025-06-02T12:00:00+02:00"))
    summary = syncer.run()
    assert summary.complete and summary.errors and summary.errors[0].startswith("rm:1: skipped")
    assert any(c.request.method == "PUT" and str(c.request.url).endswith("/issues/2.json") for c in responses.calls)
