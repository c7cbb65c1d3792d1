"""The sync path end to end against the in-memory tracker: writes, idempotency, cursor, crashes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from sla_bridge.actions import PostComment
from sla_bridge.adapters.base import SkippableError, TransientError
from sla_bridge.adapters.memory import MemoryAdapter, MemoryTracker
from sla_bridge.demo import builtin_config
from sla_bridge.hookspecs import hookimpl
from sla_bridge.markers import markers_in
from sla_bridge.model import Comment, Role, StatusChange, Ticket
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
    assert summary.errors == ["demo:2: skipped: issue 2: 403 Forbidden"]
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


def test_an_idle_tracker_is_not_re_read_past_the_overlap() -> None:
    h = Harness(waiting_ticket(), now="2025-06-02T12:00:00+02:00")
    h.sync()
    h.clock.set("2025-06-02T13:00:00+02:00")
    h.sync()
    assert h.store.cursor("demo").cursor == T("2025-06-02T12:58:00+02:00")  # started - overlap
