"""The state store: schema versions, cursors, snapshots, the journal, retries, the lock, the work list.

Every test taking ``store`` or ``store_location`` runs on both backends: a SQLite file and
a PostgreSQL schema of its own (``conftest.postgres``; skipped without a PostgreSQL, failed
in CI). SQLite's own matters (WAL, the file, the lock files) are in test_store_sqlite.py,
PostgreSQL's in test_store_postgres.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Iterator

import pytest

from sla_bridge import store as store_module
from sla_bridge.actions import Applied
from sla_bridge.model import Ticket
from sla_bridge.store import MIGRATIONS, RETRY_FIRST, RETRY_MAX, Busy, Claimer, PostgresLocation, Store, StoreError
from sla_bridge.identity import Person

ALICE = Person(id="3", login="alice", name="Alice Martin")  # a customer: her name is not her login

T = datetime.fromisoformat
Where = Path | PostgresLocation


def ticket(id: str = "1", updated: str = "2025-06-02T10:00:00+02:00") -> Ticket:
    return Ticket("rm", id, "t", ALICE, T("2025-06-02T09:00:00+02:00"), "New", "Urgent", updated=T(updated))


@pytest.fixture()
def store(store_location: Where) -> Iterator[Store]:
    opened = Store(store_location)
    yield opened
    opened.close()


def set_version(where: Where, number: int) -> None:
    """Write the schema version as a store of another release would have."""
    opened = Store(where)
    opened._dialect.set_version(opened._db, number)
    opened.close()


def columns(store: Store, table: str) -> list[str]:
    if store.backend == "sqlite":
        return [row[1] for row in store._db.execute(f"PRAGMA table_info({table})")]
    return [row[0] for row in store._db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = ?", (table,))]


def tables(store: Store) -> set[str]:
    if store.backend == "sqlite":
        return {row[0] for row in store._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {row[0] for row in store._db.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}


# --- schema versions -------------------------------------------------------------------------------------------

def test_a_new_store_is_migrated_and_reopening_migrates_nothing(store_location: Where) -> None:
    store = Store(store_location)
    assert store.schema_version == len(MIGRATIONS)
    assert {"cursors", "tickets", "journal", "retries", "facts"} <= tables(store)
    store.close()
    again = Store(store_location)
    assert again.schema_version == len(MIGRATIONS)
    again.close()


def test_a_store_from_a_newer_version_is_refused(store_location: Where) -> None:
    Store(store_location).close()
    set_version(store_location, len(MIGRATIONS) + 1)
    with pytest.raises(StoreError, match="newer than this sla-bridge"):
        Store(store_location)


def test_a_failed_migration_rolls_back_and_leaves_the_version(store_location: Where,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    Store(store_location).close()
    broken = "ALTER TABLE tickets ADD COLUMN extra TEXT; CREATE TABLE broken (x"
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, broken))
    with pytest.raises(StoreError, match="the state store failed"):
        Store(store_location)
    monkeypatch.undo()
    store = Store(store_location)
    assert store.schema_version == len(MIGRATIONS)
    assert "extra" not in columns(store, "tickets")
    store.close()


def test_a_migration_of_several_statements_is_applied_whole(store_location: Where,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    Store(store_location).close()
    script = ("CREATE TABLE a (x TEXT DEFAULT ';'); -- the first; of two\n"
              "CREATE TABLE b (y TEXT); CREATE TABLE c (z TEXT)")
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, script))
    store = Store(store_location)
    assert store.schema_version == len(MIGRATIONS) + 1
    assert {"a", "b", "c"} <= tables(store)
    store.close()


def test_opening_a_new_store_from_several_threads_at_once(store_location: Where) -> None:
    """Each opening migrates in one transaction that holds the others off: they find it done."""
    opened: list[Store] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(Store(store_location))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and [s.schema_version for s in opened] == [len(MIGRATIONS)] * 4
    for s in opened:
        s.close()


def test_a_store_from_the_previous_release_gets_the_retries_updated_column(store_location: Where,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    old_v2 = MIGRATIONS[1].replace("updated TEXT,", "")  # migration 2 as cad8063 shipped it
    monkeypatch.setattr(store_module, "MIGRATIONS", (MIGRATIONS[0], old_v2))
    Store(store_location).close()
    monkeypatch.undo()
    store = Store(store_location)
    now = T("2025-06-02T10:00:00+02:00")
    store.defer("rm", "1", now, "boom", updated=now)
    assert store.waiting_retry("rm", "1", now, now)
    store.close()


# --- snapshots, cursors, the journal, facts ---------------------------------------------------------------------

def test_snapshots_round_trip_and_due_tickets_come_in_order(store: Store) -> None:
    applied = Applied(date(2025, 6, 3), T("2025-06-03T11:00:00+02:00"), frozenset({"sla-bloquante"}))
    store.save_ticket("rm", ticket("1"), applied, {"severity": "bloquante"}, T("2025-06-05T10:00:00+02:00"))
    store.save_ticket("rm", ticket("2"), Applied(), {}, T("2025-06-04T10:00:00+02:00"))
    store.save_ticket("rm", ticket("3"), Applied(), {}, None)
    record = store.ticket("rm", "1")
    assert record is not None and record.snapshot == ticket("1") and record.applied == applied
    assert record.evaluation == {"severity": "bloquante"}
    assert store.known_updated("rm", "1") == T("2025-06-02T10:00:00+02:00")
    assert store.ticket("rm", "9") is None and store.known_updated("rm", "9") is None
    assert [r.ticket_id for r in store.due_tickets("rm", T("2025-06-06T00:00:00+02:00"))] == ["2", "1"]
    assert [r.ticket_id for r in store.due_tickets("rm", T("2025-06-04T12:00:00+02:00"))] == ["2"]
    assert store.earliest_change() == T("2025-06-04T10:00:00+02:00")
    assert [(r.adapter, r.ticket_id) for r in store.tickets()] == [("rm", "1"), ("rm", "2"), ("rm", "3")]
    assert [r.ticket_id for r in store.tickets("other")] == []


def test_saving_again_keeps_when_the_snapshot_was_read(store: Store) -> None:
    read = T("2025-06-02T10:00:02+02:00")
    store.save_ticket("rm", ticket("1"), Applied(), {}, None, read_at=read)
    assert store.up_to_date("rm", "1", T("2025-06-02T10:00:00+02:00"), timedelta(seconds=1))
    assert not store.up_to_date("rm", "1", T("2025-06-02T10:00:00+02:00"), timedelta(seconds=3))
    assert not store.up_to_date("rm", "1", T("2025-06-02T10:00:01+02:00"))
    store.save_ticket("rm", ticket("1"), Applied(), {"again": True}, None)  # no read_at: the last one stays
    assert store.up_to_date("rm", "1", T("2025-06-02T10:00:00+02:00"), timedelta(seconds=1))
    store.save_ticket("rm", ticket("2"), Applied(), {}, None)
    assert not store.up_to_date("rm", "2", T("2025-06-02T10:00:00+02:00")), "never read: not proven"


def test_cursor_moves_only_when_given(store: Store) -> None:
    store.sync_started("rm", T("2025-06-02T10:00:00Z"))
    store.sync_finished("rm", T("2025-06-02T10:01:00Z"), T("2025-06-02T09:59:00Z"), {"complete": True})
    store.sync_started("rm", T("2025-06-02T11:00:00Z"))
    store.sync_finished("rm", T("2025-06-02T11:01:00Z"), None, {"complete": False})
    record = store.cursor("rm")
    assert record.cursor == T("2025-06-02T09:59:00Z") and record.last_summary == {"complete": False}
    assert record.last_started == T("2025-06-02T11:00:00Z") and record.last_finished == T("2025-06-02T11:01:00Z")
    store.sync_started("jira", T("2025-06-02T11:00:00Z"))
    assert [c.adapter for c in store.cursors()] == ["jira", "rm"]
    assert store.cursor("zm").cursor is None


def test_the_journal_keeps_one_entry_per_key(store: Store) -> None:
    for _ in range(2):
        store.journal("rm:1/reminder/x/1", "rm", "1", "comment", T("2025-06-02T10:00:00Z"), "reminder")
    store.journal("zm:1/closure/x", "zm", "1", "comment", T("2025-06-02T09:00:00Z"), "100% done; it's 'closed'")
    assert store.journaled("rm:1/reminder/x/1") and not store.journaled("rm:1/reminder/x/2")
    assert len(store.journal_entries("rm")) == 1
    assert [e["key"] for e in store.journal_entries()] == ["zm:1/closure/x", "rm:1/reminder/x/1"]
    assert store.journal_entries("zm")[0]["detail"] == "100% done; it's 'closed'"


def test_facts_are_learnt_and_replaced(store: Store) -> None:
    assert store.fact("rm", "version") is None
    store.learn("rm", "version", "5.0", T("2025-06-02T10:00:00Z"))
    store.learn("rm", "version", "5.1")
    store.learn("jira", "version", "9")
    assert store.fact("rm", "version") == "5.1" and store.fact("jira", "version") == "9"


def test_instants_in_any_offset_compare_as_instants(store: Store) -> None:
    store.save_ticket("rm", ticket(updated="2025-06-02T10:00:00.250+02:00"), Applied(), {},
                      T("2025-06-02T23:30:00-05:00"))  # 04:30 UTC on the 3rd
    assert store.known_updated("rm", "1") == T("2025-06-02T08:00:00.250Z")
    assert [r.ticket_id for r in store.due_tickets("rm", T("2025-06-03T06:29:59+02:00"))] == []
    assert [r.ticket_id for r in store.due_tickets("rm", T("2025-06-03T06:30:00+02:00"))] == ["1"]


def test_save_applied_records_a_new_ticket_due_now_and_keeps_an_old_snapshot(store: Store) -> None:
    applied = Applied(date(2025, 6, 3), T("2025-06-03T11:00:00+02:00"), frozenset({"sla-bloquante"}))
    store.save_applied("rm", ticket("1"), applied)
    record = store.ticket("rm", "1")
    assert record is not None and record.applied == applied and record.snapshot == ticket("1")
    assert record.next_change_at == T("2025-06-02T10:00:00+02:00"), "due at once: read again by the next pass"
    store.save_ticket("rm", ticket("2"), Applied(), {"severity": "x"}, T("2025-06-09T10:00:00+02:00"))
    store.save_applied("rm", ticket("2", updated="2025-06-02T11:00:00+02:00"), applied)
    record = store.ticket("rm", "2")
    assert record is not None and record.applied == applied and record.evaluation == {"severity": "x"}
    assert record.updated == T("2025-06-02T10:00:00+02:00") and record.next_change_at == T("2025-06-09T10:00:00+02:00")


def test_due_tickets_come_in_pages_each_once(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "DUE_PAGE", 3)
    due = T("2025-06-03T11:00:00+02:00")
    for i in range(10):  # several share one instant: the page boundary falls inside a group
        store.save_ticket("rm", ticket(str(i)), Applied(), {}, due + timedelta(seconds=i % 4))
    seen = []
    for record in store.due_tickets("rm", due + timedelta(minutes=1)):
        seen.append(record.ticket_id)
        store.save_ticket("rm", record.snapshot, Applied(), {}, due + timedelta(days=1))  # done: later
    assert sorted(seen) == [str(i) for i in range(10)] and len(seen) == 10


# --- threads ---------------------------------------------------------------------------------------------------

def test_status_reads_while_serve_writes(store_location: Where) -> None:
    """A reader in another connection (``status``) never blocks or fails while a pass commits tickets."""
    writer, reader = Store(store_location), Store(store_location)
    failures: list[BaseException] = []
    done = threading.Event()

    def write() -> None:
        try:
            for i in range(300):
                writer.save_ticket("rm", ticket(str(i)), Applied(), {}, T("2025-06-05T10:00:00+02:00"))
                writer.journal(f"rm:{i}/reminder/x/1", "rm", str(i), "comment", T("2025-06-02T10:00:00Z"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=write)
    thread.start()
    seen = []
    while not done.is_set():
        seen.append(sum(1 for _ in reader.tickets("rm")))
        reader.earliest_change()
    thread.join()
    assert failures == [] and seen == sorted(seen) and sum(1 for _ in reader.tickets("rm")) == 300
    writer.close()
    reader.close()


def test_a_store_opened_on_one_thread_serves_the_scheduler_thread(store: Store) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            store.sync_started("rm", T("2025-06-02T10:00:00Z"))
            store.save_ticket("rm", ticket(), Applied(), {}, None)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert errors == [] and store.ticket("rm", "1") is not None


def test_workers_share_the_store_one_statement_at_a_time(store: Store) -> None:
    """A pass's workers (threads) write and read through one store at once: nothing lost, nothing mixed."""
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(40):
                tid = f"{n}-{i}"
                store.save_ticket("rm", ticket(tid), Applied(), {"n": n}, T("2025-06-05T10:00:00+02:00"))
                store.journal(f"rm:{tid}/reminder/x/1", "rm", tid, "comment", T("2025-06-02T10:00:00Z"))
                record = store.ticket("rm", tid)
                assert record is not None and record.evaluation == {"n": n}
                store.defer("rm", tid, T("2025-06-02T10:00:00Z"), "boom")
                store.retried("rm", tid)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(1 for _ in store.tickets("rm")) == 240 and len(store.journal_entries("rm")) == 240
    assert store.retries() == []


# --- retries (backoff) and earliest_change -----------------------------------------------------------------------

def test_defer_backs_off_from_five_minutes_doubling_to_six_hours(store: Store) -> None:
    now = T("2025-06-02T10:00:00+00:00")
    delays = [store.defer("rm", "1", now, "boom") - now for _ in range(12)]
    assert [int(d.total_seconds() // 60) for d in delays] == [5, 10, 20, 40, 80, 160, 320, 360, 360, 360, 360, 360]
    assert store.retries() == [{"adapter": "rm", "ticket_id": "1", "attempts": 12,
                                "retry_at": "2025-06-02T16:00:00.000000Z", "error": "boom"}]
    for _ in range(100):  # the shift is capped: no overflow however long a ticket keeps failing
        store.defer("rm", "1", now, "boom")
    assert store.retries()[0]["attempts"] == 112 and store.due_retries("rm", now + RETRY_MAX) == ["1"]


def test_due_retries_and_their_clearing(store: Store) -> None:
    now = T("2025-06-02T10:00:00+00:00")
    store.defer("rm", "1", now, "403")
    store.defer("rm", "2", now + timedelta(minutes=1), "404")
    store.defer("other", "1", now, "403")
    assert store.due_retries("rm", now + timedelta(minutes=4, seconds=59)) == []
    assert store.due_retries("rm", now + timedelta(minutes=5)) == ["1"]
    assert store.due_retries("rm", now + timedelta(hours=1)) == ["1", "2"]
    store.retried("rm", "1")
    assert store.due_retries("rm", now + timedelta(hours=1)) == ["2"]
    assert store.due_retries("other", now + timedelta(hours=1)) == ["1"], "per adapter"
    store.save_ticket("rm", ticket("2"), Applied(), {}, None)
    store.forget("rm", "2")
    assert store.ticket("rm", "2") is None and store.due_retries("rm", now + timedelta(hours=1)) == []
    store.defer("rm", "3", now, "x")
    store.retried("rm", "3")
    assert store.defer("rm", "3", now, "x") == now + RETRY_FIRST, "attempts start again after a success"


def test_a_ticket_left_alone_keeps_its_snapshot_and_nothing_else(store: Store) -> None:
    now = T("2025-06-02T10:00:00+00:00")
    store.save_ticket("rm", ticket("1"), Applied(), {"clocks": {"resolution": {"state": "breached"}}},
                      now - timedelta(hours=1))
    store.defer("rm", "1", now, "403")
    store.leave_alone("rm", "1", "rm:1: moved to project 'Internal': left alone")
    left = store.ticket("rm", "1")
    assert left is not None and left.snapshot == ticket("1") and left.next_change_at is None
    assert left.evaluation == {"left_alone": "rm:1: moved to project 'Internal': left alone"}
    assert store.due_retries("rm", now + timedelta(days=1)) == [] and store.earliest_change() is None
    assert [r.ticket_id for r in store.due_tickets("rm", now)] == []
    store.leave_alone("rm", "9", "never stored: nothing to do")
    assert store.ticket("rm", "9") is None


def test_waiting_retry_holds_for_the_stamp_it_failed_at_even_none(store: Store) -> None:
    now = T("2025-06-02T10:00:00+00:00")
    stamp = T("2025-06-02T09:00:00+00:00")
    store.defer("rm", "1", now, "boom", updated=stamp)
    store.defer("rm", "2", now, "unreadable")  # no stamp: None
    assert store.waiting_retry("rm", "1", stamp, now)
    assert not store.waiting_retry("rm", "1", stamp + timedelta(seconds=1), now), "it changed: tried now"
    assert not store.waiting_retry("rm", "1", stamp, now + RETRY_FIRST), "its delay is over"
    assert store.waiting_retry("rm", "2", None, now) and not store.waiting_retry("rm", "2", stamp, now)
    store.defer("rm", "1", now, "again")  # no stamp given: the failed one stays
    assert store.waiting_retry("rm", "1", stamp, now)


def test_a_pending_retry_hides_the_tickets_timed_change(store: Store) -> None:
    now = T("2025-06-02T10:00:00+00:00")
    store.save_ticket("rm", ticket("1"), Applied(), {}, now - timedelta(hours=1))
    store.save_ticket("rm", ticket("2"), Applied(), {}, now + timedelta(hours=2))
    assert [r.ticket_id for r in store.due_tickets("rm", now)] == ["1"]
    assert store.earliest_change() == now - timedelta(hours=1)
    store.defer("rm", "1", now, "403")
    assert [r.ticket_id for r in store.due_tickets("rm", now)] == [], "left to due_retries"
    assert store.earliest_change() == now + RETRY_FIRST, "the retry, not the past timed change"
    assert store.earliest_change(["rm"]) == now + RETRY_FIRST


def test_earliest_change_with_and_without_an_adapter_list(store: Store) -> None:
    now = T("2025-06-02T10:00:00+00:00")
    assert store.earliest_change() is None and store.earliest_change([]) is None
    store.save_ticket("old", ticket("1"), Applied(), {}, now - timedelta(days=1))
    store.save_ticket("rm", ticket("1"), Applied(), {}, now + timedelta(hours=3))
    store.save_ticket("rm", ticket("2"), Applied(), {}, None)
    store.defer("gone", "7", now - timedelta(days=2), "404")
    store.defer("zm", "9", now, "403")
    assert store.earliest_change() == now - timedelta(days=2) + RETRY_FIRST
    assert store.earliest_change(["rm"]) == now + timedelta(hours=3)
    assert store.earliest_change(["zm"]) == now + RETRY_FIRST
    assert store.earliest_change(["rm", "zm"]) == now + RETRY_FIRST
    assert store.earliest_change(["old"]) == now - timedelta(days=1)
    assert store.earliest_change(["nobody"]) is None and store.earliest_change([]) is None
    store.retried("zm", "9")
    assert store.earliest_change(["rm", "zm"]) == now + timedelta(hours=3)


# --- one pass's work list ---------------------------------------------------------------------------------------

def claimed(store: Store, adapter: str, claimer: Claimer, limit: int = 100) -> list[tuple[str, datetime | None]]:
    return [(c.ticket_id, c.updated) for c in store.claim(adapter, claimer, limit)]


def test_the_work_list_keeps_the_listed_order_and_the_later_stamp(store: Store) -> None:
    store.queue_begin("rm")
    early, late = T("2025-06-02T10:00:00Z"), T("2025-06-02T11:00:00Z")
    for i in range(7):
        store.queue("rm", str(10 - i), early)
    store.queue("rm", "9", late)     # listed twice: the later stamp is kept, the place too
    store.queue("rm", "8", None)     # a retry (no stamp) of a listed ticket keeps its stamp
    store.queue("rm", "3", None)     # a retry alone
    store.queue("rm", "4", late)
    store.queue("rm", "4", early)    # the earlier stamp second: the later one stays
    with store.claimer() as claimer:
        assert claimed(store, "rm", claimer, 3) == [("10", early), ("9", late), ("8", early)]
        assert claimed(store, "rm", claimer) == [("7", early), ("6", early), ("5", early), ("4", late), ("3", None)]
        assert claimed(store, "rm", claimer) == [], "each ticket is claimed once"
    store.queue_end("rm", True)


def test_each_tracker_has_its_own_work_list(store: Store) -> None:
    stamp = T("2025-06-02T10:00:00Z")
    store.queue_begin("rm")
    store.queue_begin("zm")
    store.queue("rm", "1", stamp)
    store.queue("zm", "1", stamp)
    store.queue("zm", "2", stamp)
    assert store.pending("rm") == 1 and store.pending("zm") == 2
    with store.claimer() as claimer:
        assert [t for t, _ in claimed(store, "zm", claimer)] == ["1", "2"]
        assert [t for t, _ in claimed(store, "rm", claimer)] == ["1"]
    store.queue_end("rm", True)
    store.queue_end("zm", True)


def test_a_done_ticket_leaves_the_list_unless_listed_again_meanwhile(store: Store) -> None:
    stamp = T("2025-06-02T10:00:00Z")
    store.queue_begin("rm")
    store.queue("rm", "1", stamp)
    store.queue("rm", "2", stamp)
    with store.claimer() as claimer:
        one, two = store.claim("rm", claimer, 2)
        assert store.holds("rm", one) and store.holds("rm", two)
        store.queue("rm", "2", stamp + timedelta(seconds=5))  # a webhook, or an edit, while in hand
        assert store.claim("rm", claimer, 5) == [], "in hand: not claimed twice"
        store.done("rm", one)
        store.done("rm", two)
        assert not store.holds("rm", one) and store.pending("rm") == 1
        again = store.claim("rm", claimer, 5)
        assert [(c.ticket_id, c.updated) for c in again] == [("2", stamp + timedelta(seconds=5))]
        store.done("rm", again[0])
    assert store.pending("rm") == 0
    store.queue_end("rm", True)


def test_timed_changes_join_the_list_unless_listed_or_retrying(store: Store) -> None:
    now = T("2025-06-02T10:00:00Z")
    for i in ("1", "2", "3", "4"):
        store.save_ticket("rm", ticket(i), Applied(), {}, now - timedelta(minutes=1))
    store.save_ticket("rm", ticket("5"), Applied(), {}, now + timedelta(minutes=1))  # not yet
    store.defer("rm", "4", now - timedelta(hours=1), "boom")                      # left to due_retries
    store.queue_begin("rm")
    store.queue("rm", "2", now)
    store.queue_due("rm", now)
    with store.claimer() as claimer:
        claims = store.claim("rm", claimer, 10)
    assert [(c.ticket_id, c.due) for c in claims] == [("2", False), ("1", True), ("3", True)]
    store.queue_end("rm", False)


def test_the_work_list_is_the_process_own_on_sqlite_and_shared_on_postgresql(store_location: Where) -> None:
    """SQLite: a TEMP table, one process's. PostgreSQL: one list for every replica, each ticket
    claimed by one of them, and free again at once when its claimer is gone."""
    one, two = Store(store_location), Store(store_location)
    try:
        one.queue_begin("rm")
        two.queue_begin("rm")
        one.queue("rm", "1", None)
        one.queue("rm", "2", None)
        with one.claimer() as first:
            with two.claimer() as second:
                if not one.shared_work:
                    assert two.claim("rm", second, 10) == [] and two.work() == []
                    return
                assert [c.ticket_id for c in one.claim("rm", first, 1)] == ["1"]
                assert [c.ticket_id for c in two.claim("rm", second, 10)] == ["2"], "not the one in hand"
                assert two.work_waiting(["rm", "zm"]) == []
                assert two.work("rm") == [{"adapter": "rm", "tickets": 2, "claimed": 2}]
        # Both claimers gone (a replica killed): what they held is free for anyone.
        assert two.work_waiting(["rm"]) == ["rm"]
        with two.claimer() as third:
            assert sorted(c.ticket_id for c in two.claim("rm", third, 10)) == ["1", "2"]
        two.queue_end("rm", False)  # a pass that did not complete: the free ones go
        assert two.pending("rm") == 0
    finally:
        one.close()
        two.close()


# --- one pass per tracker at a time -----------------------------------------------------------------------------

def test_the_lock_refuses_a_second_holder_and_is_released_on_an_exception(store_location: Where) -> None:
    one, two = Store(store_location), Store(store_location)
    with one.lock("rm"):
        with pytest.raises(Busy, match="another pass of 'rm' is running on"), two.lock("rm"):
            pass
        with pytest.raises(Busy), one.lock("rm"):  # the same Store, nested: refused too
            pass
        with two.lock("jira"):  # another tracker: its own lock
            pass
    with pytest.raises(RuntimeError), one.lock("rm"):
        raise RuntimeError("the pass failed")
    with two.lock("rm"):
        pass
    with pytest.raises(KeyboardInterrupt), two.lock("rm"):
        raise KeyboardInterrupt
    with one.lock("rm"):
        pass
    one.close()
    two.close()


def test_the_busy_message_names_the_store(store_location: Where) -> None:
    one, two = Store(store_location), Store(store_location)
    with one.lock("rm"), pytest.raises(Busy) as caught, two.lock("rm"):
        pass
    assert str(caught.value) == f"another pass of 'rm' is running on {store_location}"
    one.close()
    two.close()


def test_two_trackers_whose_names_differ_by_punctuation_have_their_own_locks(store_location: Where) -> None:
    with Store(store_location).lock("support.eu"), Store(store_location).lock("support_eu"):
        pass


HOLD_THE_LOCK = """
import sys, time
from sla_bridge.secrets import SecretRef
from sla_bridge.store import PostgresLocation, Store
where, tracker, password_env = sys.argv[1:4]
store = Store(PostgresLocation(where, SecretRef(env=password_env)) if where.startswith("postgresql") else where)
with store.lock(tracker):
    print("locked", flush=True)
    time.sleep(60)
"""


def hold_in_another_process(where: Where, tracker: str) -> subprocess.Popen[str]:
    from conftest import PG_PASSWORD_ENV

    target = where.url if isinstance(where, PostgresLocation) else str(where)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK, target, tracker, PG_PASSWORD_ENV],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_another_process_holding_the_tracker_makes_a_pass_busy_until_it_dies(store_location: Where) -> None:
    """The `serve` of one host and a cron `sync` of another: the second is Busy; a crash (SIGKILL)
    of the holder releases the lock (the kernel closes the file; the server ends the session)."""
    store = Store(store_location)
    holder = hold_in_another_process(store_location, "rm")
    try:
        with pytest.raises(Busy, match="another pass of 'rm' is running"), store.lock("rm"):
            pass
        with store.lock("jira"):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    for _ in range(50):  # the server notices the closed connection at once, or nearly
        try:
            with store.lock("rm"):
                break
        except Busy:
            threading.Event().wait(0.1)
    else:
        pytest.fail("the lock of a killed process was not released")
    store.close()


def test_a_listing_holds_its_tickets_until_it_ends(store: Store) -> None:
    """A pass lists the whole change query before anyone (another replica) writes to a ticket."""
    store.queue_begin("rm")
    with store.claimer() as lister, store.claimer() as other:
        store.queue("rm", "1", None, hold=lister)
        store.queue("rm", "2", None, hold=lister)
        assert store.claim("rm", other, 10) == [], "still being listed"
        store.release("rm", lister)
        assert [c.ticket_id for c in store.claim("rm", other, 10)] == ["1", "2"]
    store.queue_end("rm", False)
