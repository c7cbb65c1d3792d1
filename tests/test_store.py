"""The state store: schema versions, cursors, snapshots, the journal."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime
from pathlib import Path

import pytest

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
