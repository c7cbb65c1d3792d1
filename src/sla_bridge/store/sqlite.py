"""The SQLite backend (the default): one file, WAL, an OS file lock per tracker.

WAL lets ``status`` read while ``serve`` writes. A pass's workers share one
connection, one statement at a time (``_Serialized``). The tracker's lock is an OS
lock on a file beside the store, released by the kernel if the process dies.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import secrets
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from .dialect import Connection, Dialect
from .errors import Busy, StoreError, store_failure
from .records import Rows
from .work import Claimer


@dataclass
class LocalClaimer:
    """A claimer of one process's own work list: nothing to lose but the process."""

    token: int

    def check(self) -> None:
        pass


class _Serialized:
    """One SQLite connection shared by a pass's workers, one statement at a time.

    Every statement runs and is read to its end under one lock, so workers never
    interleave inside a statement; a multi-statement transaction holds the lock
    (``with db.lock:``) from BEGIN to COMMIT."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.lock = threading.RLock()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        with self.lock:
            return Rows(self.db.execute(sql, params).fetchall())

    def iterdump(self) -> Iterator[str]:
        with self.lock:
            return iter(list(self.db.iterdump()))

    def close(self) -> None:
        with self.lock:
            self.db.close()


class SqliteDialect(Dialect):
    name = "sqlite"
    greatest = "MAX"
    same = "IS"
    queue = "temp.pass_queue"
    # Kept on disk beyond a small cache, not in memory: a first pass over 100,000 tickets
    # holds a page of ids at a time. The columns are those of the schema's `work_queue`.
    queue_ddl = ("CREATE TEMP TABLE IF NOT EXISTS pass_queue (adapter TEXT NOT NULL, ticket_id TEXT NOT NULL,"
                 " seq INTEGER NOT NULL, updated TEXT, due INTEGER NOT NULL DEFAULT 0, gen INTEGER NOT NULL DEFAULT 0,"
                 " claim INTEGER, PRIMARY KEY (adapter, ticket_id))",
                 "CREATE INDEX IF NOT EXISTS temp.pass_queue_order ON pass_queue (adapter, seq)")
    shared_queue = False
    skip_locked = ""
    orphaned = "0 = 1"  # the list is this process's: its claimers live as long as it

    def __init__(self, path: Path) -> None:
        self.path = path

    def begin_migration(self, db: Connection) -> None:
        # The version is read inside the write lock: a second process opening a new
        # store at the same moment waits, then finds the migrations done.
        db.execute("BEGIN IMMEDIATE")

    def version(self, db: Connection) -> int:
        return int(db.execute("PRAGMA user_version").fetchone()[0])

    def set_version(self, db: Connection, number: int) -> None:
        db.execute(f"PRAGMA user_version = {int(number)}")

    @contextmanager
    def claimer(self) -> Iterator[Claimer]:
        yield LocalClaimer(secrets.randbelow(2**31 - 1) + 1)

    @contextmanager
    def lock(self, adapter: str, where: str) -> Iterator[None]:
        """An OS lock on a file beside the store: released by the kernel if the process
        dies, so a crash never leaves a tracker locked."""
        if str(self.path) == ":memory:":
            yield
            return
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in adapter)[:64]
        digest = hashlib.sha1(adapter.encode("utf-8")).hexdigest()[:8]  # "a.b" and "a_b" differ
        with open(f"{self.path}.{safe}-{digest}.lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Busy(f"another pass of {adapter!r} is running on {where}") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _create(path: Path) -> None:
    """A new store appears whole or not at all: made aside, then linked into place.

    A process killed while SQLite creates the file would otherwise leave an empty
    file, which every later run must refuse (it cannot tell it from a store emptied
    by accident). Linking never replaces a store another process created meanwhile.
    """
    aside = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.new")  # two threads: two files
    try:
        db = sqlite3.connect(str(aside))
        try:
            db.execute("PRAGMA journal_mode=WAL")  # writes the file's header
        finally:
            db.close()
        os.link(aside, path)
    except FileExistsError:
        pass  # another process made it first: use theirs
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"{path}: cannot create the state store: {exc}") from None
    finally:
        for leftover in (aside, aside.with_name(aside.name + "-wal"), aside.with_name(aside.name + "-shm")):
            leftover.unlink(missing_ok=True)


def open_sqlite(path: Path) -> tuple[_Serialized, SqliteDialect]:
    """The store's file opened (made first when missing), in WAL mode."""
    if str(path) != ":memory:":
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size == 0:
            # SQLite would take an empty file for a new store and start over, silently
            # losing what the journal knew (comments a person deleted, sent reminders).
            raise StoreError(f"{path}: the state store is an empty file (0 bytes), not a sla-bridge"
                             " store: restore it from a backup, or delete it to start a new one")
        if not path.exists():
            _create(path)
    try:
        # A pass's workers share the connection, one statement at a time (_Serialized).
        db = _Serialized(sqlite3.connect(str(path), isolation_level=None, timeout=30, check_same_thread=False))
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.DatabaseError as exc:
        raise store_failure(path, exc) from None
    return db, SqliteDialect(path)
