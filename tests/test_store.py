"""The state store: schema versions, cursors, snapshots, the journal."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sla_bridge import store as store_module
from sla_bridge.actions import Applied
from sla_bridge.model import Ticket
from sla_bridge.store import MIGRATIONS, RETRY_FIRST, RETRY_MAX, Busy, Store, StoreError
from sla_bridge.identity import Person

ALICE = Person(id="3", login="alice", name="Alice Martin")  # a customer: her name is not her login

T = datetime.fromisoformat


def ticket(id: str = "1", updated: str = "2025-06-02T10:00:00+02:00") -> Ticket:
    return Ticket("rm", id, "t", ALICE, T("2025-06-02T09:00:00+02:00"), "New", "Urgent", updated=T(updated))


def test_a_new_store_is_migrated_and_in_wal_mode(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    assert store.schema_version == len(MIGRATIONS)
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    assert Store(tmp_path / "s.sqlite").schema_version == len(MIGRATIONS)  # reopening migrates nothing


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer than this sla-bridge"):
        Store(path)


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_text("not sqlite at all" * 100)
    with pytest.raises(StoreError, match="the state store failed .file is not a database.: the file is damaged"):
        Store(path)


def test_snapshots_round_trip_and_due_tickets_come_in_order() -> None:
    store = Store(":memory:")
    applied = Applied(date(2025, 6, 3), T("2025-06-03T11:00:00+02:00"), frozenset({"sla-bloquante"}))
    store.save_ticket("rm", ticket("1"), applied, {"severity": "bloquante"}, T("2025-06-05T10:00:00+02:00"))
    store.save_ticket("rm", ticket("2"), Applied(), {}, T("2025-06-04T10:00:00+02:00"))
    store.save_ticket("rm", ticket("3"), Applied(), {}, None)
    record = store.ticket("rm", "1")
    assert record is not None and record.snapshot == ticket("1") and record.applied == applied
    assert store.known_updated("rm", "1") == T("2025-06-02T10:00:00+02:00")
    assert [r.ticket_id for r in store.due_tickets("rm", T("2025-06-06T00:00:00+02:00"))] == ["2", "1"]
    assert [r.ticket_id for r in store.due_tickets("rm", T("2025-06-04T12:00:00+02:00"))] == ["2"]
    assert store.earliest_change() == T("2025-06-04T10:00:00+02:00")


def test_cursor_moves_only_when_given() -> None:
    store = Store(":memory:")
    store.sync_started("rm", T("2025-06-02T10:00:00Z"))
    store.sync_finished("rm", T("2025-06-02T10:01:00Z"), T("2025-06-02T09:59:00Z"), {"complete": True})
    store.sync_started("rm", T("2025-06-02T11:00:00Z"))
    store.sync_finished("rm", T("2025-06-02T11:01:00Z"), None, {"complete": False})
    record = store.cursor("rm")
    assert record.cursor == T("2025-06-02T09:59:00Z") and record.last_summary == {"complete": False}


def test_the_journal_keeps_one_entry_per_key() -> None:
    store = Store(":memory:")
    for _ in range(2):
        store.journal("rm:1/reminder/x/1", "rm", "1", "comment", T("2025-06-02T10:00:00Z"), "reminder")
    assert store.journaled("rm:1/reminder/x/1") and not store.journaled("rm:1/reminder/x/2")
    assert len(store.journal_entries("rm")) == 1


# --- review probes: migrations, WAL readers, threads -----------------------------------------------------------

def test_a_failed_migration_rolls_back_and_leaves_the_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    broken = "ALTER TABLE tickets ADD COLUMN extra TEXT; CREATE TABLE broken (x"
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, broken))
    with pytest.raises(StoreError, match="the state store failed"):
        Store(path)
    monkeypatch.undo()
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)
    assert "extra" not in [row[1] for row in store._db.execute("PRAGMA table_info(tickets)")]
    store.close()


def test_status_reads_while_serve_writes(tmp_path: Path) -> None:
    """WAL: a reader in another connection (``status``) never blocks or fails while a pass commits tickets."""
    path = tmp_path / "s.sqlite"
    writer, reader = Store(path), Store(path)
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


def test_a_store_opened_on_one_thread_serves_the_scheduler_thread() -> None:
    store = Store(":memory:")
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


def test_instants_in_any_offset_compare_as_instants() -> None:
    store = Store(":memory:")
    store.save_ticket("rm", ticket(updated="2025-06-02T10:00:00.250+02:00"), Applied(), {},
                      T("2025-06-02T23:30:00-05:00"))  # 04:30 UTC on the 3rd
    assert store.known_updated("rm", "1") == T("2025-06-02T08:00:00.250Z")
    assert [r.ticket_id for r in store.due_tickets("rm", T("2025-06-03T06:29:59+02:00"))] == []
    assert [r.ticket_id for r in store.due_tickets("rm", T("2025-06-03T06:30:00+02:00"))] == ["1"]


def test_two_processes_opening_a_new_store_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.sqlite"
    connect = sqlite3.connect

    class OtherProcessFirst:
        """A connection that lets another process open (and migrate) the store just before it begins."""

        def __init__(self, db: sqlite3.Connection) -> None:
            self.db, self.raced = db, False

        def execute(self, sql: str, *args: Any) -> Any:
            if sql == "BEGIN IMMEDIATE" and not self.raced:
                self.raced = True
                monkeypatch.setattr(sqlite3, "connect", connect)
                Store(path).close()
            return self.db.execute(sql, *args)

        def close(self) -> None:
            self.db.close()

    monkeypatch.setattr(sqlite3, "connect", lambda *a, **k: OtherProcessFirst(connect(*a, **k)))
    store = Store(path)
    assert store.schema_version == len(MIGRATIONS)


# --- review probes: retries (backoff), earliest_change, the OS lock -----------------------------------------------

def test_defer_backs_off_from_five_minutes_doubling_to_six_hours() -> None:
    store = Store(":memory:")
    now = T("2025-06-02T10:00:00+00:00")
    delays = [store.defer("rm", "1", now, "boom") - now for _ in range(12)]
    assert [int(d.total_seconds() // 60) for d in delays] == [5, 10, 20, 40, 80, 160, 320, 360, 360, 360, 360, 360]
    assert store.retries() == [{"adapter": "rm", "ticket_id": "1", "attempts": 12,
                                "retry_at": "2025-06-02T16:00:00.000000Z", "error": "boom"}]
    for _ in range(100):  # the shift is capped: no overflow however long a ticket keeps failing
        store.defer("rm", "1", now, "boom")
    assert store.retries()[0]["attempts"] == 112 and store.due_retries("rm", now + RETRY_MAX) == ["1"]


def test_due_retries_and_their_clearing() -> None:
    store = Store(":memory:")
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


def test_a_pending_retry_hides_the_tickets_timed_change() -> None:
    store = Store(":memory:")
    now = T("2025-06-02T10:00:00+00:00")
    store.save_ticket("rm", ticket("1"), Applied(), {}, now - timedelta(hours=1))
    store.save_ticket("rm", ticket("2"), Applied(), {}, now + timedelta(hours=2))
    assert [r.ticket_id for r in store.due_tickets("rm", now)] == ["1"]
    assert store.earliest_change() == now - timedelta(hours=1)
    store.defer("rm", "1", now, "403")
    assert [r.ticket_id for r in store.due_tickets("rm", now)] == [], "left to due_retries"
    assert store.earliest_change() == now + RETRY_FIRST, "the retry, not the past timed change"
    assert store.earliest_change(["rm"]) == now + RETRY_FIRST


def test_earliest_change_with_and_without_an_adapter_list() -> None:
    store = Store(":memory:")
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


def test_save_applied_records_a_new_ticket_due_now_and_keeps_an_old_snapshot() -> None:
    store = Store(":memory:")
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


def test_the_lock_refuses_a_second_holder_and_is_released_on_an_exception(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    one, two = Store(path), Store(path)
    with one.lock("rm"):
        with pytest.raises(Busy, match="another pass of 'rm' is running"), two.lock("rm"):
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


def test_memory_stores_take_no_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store, other = Store(":memory:"), Store(":memory:")
    with store.lock("rm"), store.lock("rm"), other.lock("rm"):
        pass
    assert list(tmp_path.iterdir()) == [], "no lock file (nor a file named ':memory:') is created"


@pytest.mark.parametrize("name", ["a/b", "../x", "sp ace", "tab\there", "é-ü_1", ".", "..", "-dash", "a" * 200])
def test_odd_tracker_names_lock_a_file_beside_the_store(tmp_path: Path, name: str) -> None:
    store = Store(tmp_path / "s.sqlite")
    with store.lock(name):
        files = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".lock"))
        assert len(files) == 1 and files[0].startswith("s.sqlite.") and "/" not in files[0]
        with pytest.raises(Busy), Store(tmp_path / "s.sqlite").lock(name):
            pass
    assert [p for p in tmp_path.rglob("*") if p.parent != tmp_path] == [], "nothing outside the store's folder"
    store.close()


def test_two_trackers_whose_names_differ_by_punctuation_have_their_own_locks(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Store(path).lock("support.eu"), Store(path).lock("support_eu"):
        pass


def migrated_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> Store:
    path = tmp_path / "s.sqlite"
    Store(path).close()
    monkeypatch.setattr(store_module, "MIGRATIONS", (*MIGRATIONS, script))
    return Store(path)


@pytest.mark.parametrize("script", [
    "CREATE TABLE a (x TEXT DEFAULT ';');\nCREATE TABLE b (y);",
    "CREATE TABLE a (x); -- the first; of two\nCREATE TABLE b (y)\n",
    ("CREATE TABLE a (x);\nCREATE TABLE b (y);\nCREATE TRIGGER t AFTER INSERT ON a BEGIN\n"
     "  INSERT INTO b VALUES (1);\n  INSERT INTO b VALUES (2);\nEND;\n"),
])
def test_a_migration_is_split_into_whole_statements(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     script: str) -> None:
    store = migrated_with(tmp_path, monkeypatch, script)
    assert store.schema_version == len(MIGRATIONS) + 1
    tables = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master")}
    assert {"a", "b"} <= tables
    store.close()


def test_a_migration_with_two_statements_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = migrated_with(tmp_path, monkeypatch, "CREATE TABLE a (x); CREATE TABLE b (y);")
    assert store.schema_version == len(MIGRATIONS) + 1


# --- review (HEAD 64e7c7c): migration 2 edited in place ----------------------------------------------------------

def test_a_store_from_the_previous_release_gets_the_retries_updated_column(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    db = sqlite3.connect(path)
    old_v2 = MIGRATIONS[1].replace("updated TEXT,", "")  # migration 2 as cad8063 shipped it
    db.executescript(MIGRATIONS[0] + old_v2)
    db.execute("PRAGMA user_version = 2")
    db.commit()
    db.close()
    store = Store(path)
    now = T("2025-06-02T10:00:00+02:00")
    store.defer("rm", "1", now, "boom", updated=now)
    assert store.waiting_retry("rm", "1", now, now)
