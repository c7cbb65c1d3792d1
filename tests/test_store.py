"""The state store: schema versions, cursors, snapshots, the journal."""

from __future__ import annotations

import sqlite3
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from sla_bridge import store as store_module
from sla_bridge.actions import Applied
from sla_bridge.model import Ticket
from sla_bridge.store import MIGRATIONS, Store, StoreError

T = datetime.fromisoformat


def ticket(id: str = "1", updated: str = "2025-06-02T10:00:00+02:00") -> Ticket:
    return Ticket("rm", id, "t", "alice", T("2025-06-02T09:00:00+02:00"), "New", "Urgent", updated=T(updated))


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
    with pytest.raises(StoreError, match="cannot open the state store"):
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
    with pytest.raises(StoreError, match="cannot open the state store"):
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
