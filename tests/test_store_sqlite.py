"""The SQLite store's own matters: WAL, the file, its creation, the lock files beside it, migrations' text.

The store's logic, the same on both backends, is tested in test_store.py.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sla_bridge import store as store_module
from sla_bridge.store import MIGRATIONS, Busy, Store, StoreError
from test_store import tables

T = datetime.fromisoformat

def test_a_sqlite_store_is_in_wal_mode(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    assert store.backend == "sqlite" and store.schema_version == len(MIGRATIONS)
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_text("not sqlite at all" * 100)
    with pytest.raises(StoreError, match="the state store failed .file is not a database.: the file is damaged"):
        Store(path)


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
    assert {"a", "b"} <= tables(store)
    store.close()


def test_a_migration_with_two_statements_on_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = migrated_with(tmp_path, monkeypatch, "CREATE TABLE a (x); CREATE TABLE b (y);")
    assert store.schema_version == len(MIGRATIONS) + 1


def test_a_store_of_the_release_that_shipped_migration_2_unedited(tmp_path: Path) -> None:
    """The file as that release left it, written by SQLite itself."""
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
