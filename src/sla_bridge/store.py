"""The state store: sync cursors, per-ticket snapshots, next_change_at, the journal.

SQLite in one file (WAL, so ``status`` can read while ``serve`` writes). The schema
is versioned with ``PRAGMA user_version`` and migrated forward at open. Each ticket
is committed on its own, so a process stopped between two tickets loses nothing and
corrupts nothing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from .actions import Applied
from .errors import SlaBridgeError
from .model import Ticket, ticket_from_json, ticket_to_json

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema
    """
    CREATE TABLE cursors (
        adapter TEXT PRIMARY KEY,
        cursor TEXT,
        last_started TEXT,
        last_finished TEXT,
        last_summary TEXT
    );
    CREATE TABLE tickets (
        adapter TEXT NOT NULL,
        ticket_id TEXT NOT NULL,
        updated TEXT,
        snapshot TEXT NOT NULL,
        applied TEXT NOT NULL DEFAULT '{}',
        evaluation TEXT NOT NULL DEFAULT '{}',
        next_change_at TEXT,
        PRIMARY KEY (adapter, ticket_id)
    );
    CREATE INDEX tickets_next_change ON tickets (next_change_at) WHERE next_change_at IS NOT NULL;
    CREATE TABLE journal (
        key TEXT PRIMARY KEY,
        adapter TEXT NOT NULL,
        ticket_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        applied_at TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    """,
    # 2: tickets that failed, retried with backoff instead of every pass or never
    """
    CREATE TABLE retries (
        adapter TEXT NOT NULL,
        ticket_id TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        retry_at TEXT NOT NULL,
        error TEXT NOT NULL,
        PRIMARY KEY (adapter, ticket_id)
    );
    """,
    # 3: the `updated` a ticket failed at, so an unchanged failed ticket waits for its retry
    """
    ALTER TABLE retries ADD COLUMN updated TEXT;
    """,
    # 4: when the snapshot was read, to tell it from an edit in the same second (Redmine's precision)
    """
    ALTER TABLE tickets ADD COLUMN read_at TEXT;
    """,
    # 5: what adapters learnt about their tracker (server version, API user, refused options)
    """
    CREATE TABLE facts (
        adapter TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        learnt_at TEXT NOT NULL,
        PRIMARY KEY (adapter, key)
    );
    """,
)
RETRY_FIRST = timedelta(minutes=5)
DUE_PAGE = 500  # due tickets read at a time
RETRY_MAX = timedelta(hours=6)


class StoreError(SlaBridgeError):
    pass


class Busy(StoreError):
    """Another pass of the same tracker holds its lock."""


def store_failure(path: Path | str, exc: sqlite3.Error) -> StoreError:
    """A failure of the store itself, said with what the operator should do about it."""
    text = str(exc)
    if "full" in text:
        advice = ("the disk is full: free space and run again; nothing is lost, each ticket is recorded"
                  " right after its own writes")
    elif "malformed" in text or "not a database" in text or "corrupt" in text:
        advice = ("the file is damaged: restore it from a backup, or move it aside to start a new one"
                  " (reminders already posted are found again by their markers on the tracker; the record"
                  " of comments a person deleted is lost)")
    else:
        advice = "check the file's permissions and the disk"
    return StoreError(f"{path}: the state store failed ({text}): {advice}")


def _statements(script: str) -> Iterator[str]:
    """Split a migration into statements where SQLite itself says one is complete
    (a `;` inside a string or a trigger body does not end one)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n\t;"):
                yield pending
            pending = ""
    if pending.strip(" \n\t;"):
        yield pending.rstrip(";")  # incomplete: SQLite reports the error


def _utc(t: datetime | None) -> str | None:
    """UTC ISO strings sort like the instants they name, which the index relies on."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if t else None


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _create(path: Path) -> None:
    """A new store appears whole or not at all: made aside, then linked into place.

    A process killed while SQLite creates the file would otherwise leave an empty
    file, which every later run must refuse (it cannot tell it from a store emptied
    by accident). Linking never replaces a store another process created meanwhile.
    """
    aside = path.with_name(f".{path.name}.{os.getpid()}.new")
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


@dataclass(frozen=True)
class TicketRecord:
    adapter: str
    ticket_id: str
    updated: datetime | None
    snapshot: Ticket
    applied: Applied
    evaluation: dict[str, Any]
    next_change_at: datetime | None


@dataclass(frozen=True)
class CursorRecord:
    adapter: str
    cursor: datetime | None
    last_started: datetime | None
    last_finished: datetime | None
    last_summary: dict[str, Any]


class _Rows:
    """A statement's rows, read while the store's lock was held."""

    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


class _Serialized:
    """One SQLite connection shared by a pass's workers, one statement at a time.

    Every statement runs and is read to its end under one lock, so workers never
    interleave inside a statement; a multi-statement transaction holds the lock
    (``with db.lock:``) from BEGIN to COMMIT."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.lock = threading.RLock()

    def execute(self, sql: str, params: Any = ()) -> _Rows:
        with self.lock:
            return _Rows(self.db.execute(sql, params).fetchall())

    def iterdump(self) -> Iterator[str]:
        with self.lock:
            return iter(list(self.db.iterdump()))

    def close(self) -> None:
        with self.lock:
            self.db.close()


class Store:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size == 0:
                # SQLite would take an empty file for a new store and start over, silently
                # losing what the journal knew (comments a person deleted, sent reminders).
                raise StoreError(f"{self.path}: the state store is an empty file (0 bytes), not a sla-bridge"
                                 " store: restore it from a backup, or delete it to start a new one")
            if not self.path.exists():
                _create(self.path)
        try:
            # A pass's workers share the connection, one statement at a time (_Serialized).
            self._db = _Serialized(sqlite3.connect(str(path), isolation_level=None, timeout=30,
                                                   check_same_thread=False))
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise store_failure(path, exc) from None

    def _migrate(self) -> None:
        # The version is read inside the write lock: a second process opening a new
        # store at the same moment waits, then finds the migrations done.
        with self._db.lock:
            self._migrate_locked()

    def _migrate_locked(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise StoreError(f"{self.path}: store schema version {version} is newer than this sla-bridge"
                                 f" ({len(MIGRATIONS)}); upgrade sla-bridge")
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in _statements(script):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    # --- cursors ------------------------------------------------------------------

    def cursor(self, adapter: str) -> CursorRecord:
        row = self._db.execute("SELECT cursor, last_started, last_finished, last_summary FROM cursors"
                               " WHERE adapter = ?", (adapter,)).fetchone()
        if row is None:
            return CursorRecord(adapter, None, None, None, {})
        return CursorRecord(adapter, _parse(row[0]), _parse(row[1]), _parse(row[2]), json.loads(row[3] or "{}"))

    def cursors(self) -> list[CursorRecord]:
        names = [r[0] for r in self._db.execute("SELECT adapter FROM cursors ORDER BY adapter")]
        return [self.cursor(n) for n in names]

    def sync_started(self, adapter: str, at: datetime) -> None:
        self._db.execute("INSERT INTO cursors (adapter, last_started) VALUES (?, ?) ON CONFLICT (adapter)"
                         " DO UPDATE SET last_started = excluded.last_started", (adapter, _utc(at)))

    def sync_finished(self, adapter: str, at: datetime, cursor: datetime | None, summary: dict[str, Any]) -> None:
        """Record the end of a pass; the cursor moves only when given (a completed pass)."""
        self._db.execute(
            "UPDATE cursors SET last_finished = ?, last_summary = ?, cursor = COALESCE(?, cursor) WHERE adapter = ?",
            (_utc(at), json.dumps(summary), _utc(cursor), adapter))

    # --- tickets ------------------------------------------------------------------

    def ticket(self, adapter: str, ticket_id: str) -> TicketRecord | None:
        row = self._db.execute("SELECT updated, snapshot, applied, evaluation, next_change_at FROM tickets"
                               " WHERE adapter = ? AND ticket_id = ?", (adapter, ticket_id)).fetchone()
        return self._record(adapter, ticket_id, row) if row else None

    def _record(self, adapter: str, ticket_id: str, row: tuple[Any, ...]) -> TicketRecord:
        return TicketRecord(adapter, ticket_id, _parse(row[0]), ticket_from_json(json.loads(row[1])),
                            Applied.from_json(json.loads(row[2])), json.loads(row[3]), _parse(row[4]))

    def known_updated(self, adapter: str, ticket_id: str) -> datetime | None:
        row = self._db.execute("SELECT updated FROM tickets WHERE adapter = ? AND ticket_id = ?",
                               (adapter, ticket_id)).fetchone()
        return _parse(row[0]) if row else None

    def up_to_date(self, adapter: str, ticket_id: str, updated: datetime,
                   precision: timedelta = timedelta(0)) -> bool:
        """The snapshot is the ticket as stamped `updated`, read after that stamp's `precision`.

        A tracker keeping whole seconds (Redmine) gives an edit made in the same second
        as our read the same stamp; only a read at least a second later proves the
        snapshot holds it.
        """
        row = self._db.execute("SELECT updated, read_at FROM tickets WHERE adapter = ? AND ticket_id = ?",
                               (adapter, ticket_id)).fetchone()
        if row is None or _parse(row[0]) != updated:
            return False
        read_at = _parse(row[1])
        if read_at is None:
            return False
        return read_at >= updated + precision

    def save_ticket(self, adapter: str, ticket: Ticket, applied: Applied, evaluation: dict[str, Any],
                    next_change_at: datetime | None, read_at: datetime | None = None) -> None:
        """Record a ticket; `read_at` when this snapshot was just read from the tracker."""
        self._db.execute(
            "INSERT INTO tickets (adapter, ticket_id, updated, snapshot, applied, evaluation, next_change_at, read_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (adapter, ticket_id) DO UPDATE SET"
            " updated = excluded.updated, snapshot = excluded.snapshot, applied = excluded.applied,"
            " evaluation = excluded.evaluation, next_change_at = excluded.next_change_at,"
            " read_at = COALESCE(excluded.read_at, tickets.read_at)",
            (adapter, ticket.id, _utc(ticket.updated), json.dumps(ticket_to_json(ticket)),
             json.dumps(applied.to_json()), json.dumps(evaluation), _utc(next_change_at), _utc(read_at)))

    def save_applied(self, adapter: str, ticket: Ticket, applied: Applied) -> None:
        """What was just written, recorded at once: a failure later in the pass must not
        make the next pass take sla-bridge's own write for a person's change.

        A new ticket is recorded with its pre-write snapshot and due now, so the next
        pass reads it again."""
        self._db.execute(
            "INSERT INTO tickets (adapter, ticket_id, updated, snapshot, applied, next_change_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (adapter, ticket_id) DO UPDATE SET applied = excluded.applied",
            (adapter, ticket.id, _utc(ticket.updated), json.dumps(ticket_to_json(ticket)),
             json.dumps(applied.to_json()), _utc(ticket.updated or ticket.created)))

    def due_tickets(self, adapter: str, now: datetime, *, skip_queued: bool = False) -> Iterator[TicketRecord]:
        """Tickets whose evaluation changes by `now` with no tracker event (index scan).

        A ticket waiting for a retry (it failed) is left to ``due_retries``; with
        `skip_queued`, one on the pass's work list (``queue``) is left to that list.
        """
        skip = (" AND NOT EXISTS (SELECT 1 FROM temp.pass_queue q WHERE q.adapter = t.adapter"
                " AND q.ticket_id = t.ticket_id)") if skip_queued else ""
        # In pages, by (next_change_at, ticket_id): memory stays flat whatever is due, and a
        # ticket the caller re-schedules meanwhile moves past `now` (a next change is always
        # later), so it is not met again.
        after: tuple[str, str] = ("", "")
        while True:
            rows = self._db.execute(
                "SELECT ticket_id, updated, snapshot, applied, evaluation, next_change_at FROM tickets t"
                " WHERE adapter = ? AND next_change_at IS NOT NULL AND next_change_at <= ?"
                " AND (next_change_at, ticket_id) > (?, ?)"
                " AND NOT EXISTS (SELECT 1 FROM retries r WHERE r.adapter = t.adapter AND r.ticket_id = t.ticket_id)"
                f"{skip}"
                " ORDER BY next_change_at, ticket_id LIMIT ?", (adapter, _utc(now), *after, DUE_PAGE)).fetchall()
            for row in rows:
                yield self._record(adapter, row[0], row[1:])
            if len(rows) < DUE_PAGE:
                return
            after = (rows[-1][5], rows[-1][0])

    def earliest_change(self, adapters: list[str] | None = None) -> datetime | None:
        """The next instant a pass has work with no tracker event: a timed change or a retry."""
        where, params = "", ()  # type: tuple[str, tuple[Any, ...]]
        if adapters is not None:
            where = f" AND adapter IN ({','.join('?' * len(adapters))})"
            params = tuple(adapters)
        row = self._db.execute(
            "SELECT MIN(at) FROM (SELECT next_change_at AS at FROM tickets t WHERE next_change_at IS NOT NULL"
            f"{where} AND NOT EXISTS (SELECT 1 FROM retries r WHERE r.adapter = t.adapter"
            " AND r.ticket_id = t.ticket_id)"
            f" UNION ALL SELECT retry_at FROM retries WHERE 1 = 1{where})", params * 2).fetchone()
        return _parse(row[0])

    def forget(self, adapter: str, ticket_id: str) -> None:
        """A ticket now known under another id (a Jira issue moved to another project)."""
        self._db.execute("DELETE FROM tickets WHERE adapter = ? AND ticket_id = ?", (adapter, ticket_id))
        self.retried(adapter, ticket_id)

    # --- retries ------------------------------------------------------------------

    def defer(self, adapter: str, ticket_id: str, now: datetime, error: str,
              updated: datetime | None = None) -> datetime:
        """Record a failure; the ticket is tried again after a growing delay (5 min .. 6 h),
        or as soon as it changes again (its ``updated`` differs from the failed one)."""
        row = self._db.execute("SELECT attempts FROM retries WHERE adapter = ? AND ticket_id = ?",
                               (adapter, ticket_id)).fetchone()
        attempts = int(row[0]) + 1 if row else 1
        retry_at = now + min(RETRY_FIRST * (1 << min(attempts - 1, 16)), RETRY_MAX)
        self._db.execute("INSERT INTO retries (adapter, ticket_id, attempts, retry_at, error, updated)"
                         " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (adapter, ticket_id) DO UPDATE SET"
                         " attempts = excluded.attempts, retry_at = excluded.retry_at, error = excluded.error,"
                         " updated = COALESCE(excluded.updated, retries.updated)",
                         (adapter, ticket_id, attempts, _utc(retry_at), error, _utc(updated)))
        return retry_at

    def waiting_retry(self, adapter: str, ticket_id: str, updated: datetime | None, now: datetime) -> bool:
        """The ticket failed at this very ``updated`` (or unreadable: None) and its delay is not over."""
        row = self._db.execute("SELECT 1 FROM retries WHERE adapter = ? AND ticket_id = ? AND updated IS ?"
                               " AND retry_at > ?", (adapter, ticket_id, _utc(updated), _utc(now))).fetchone()
        return row is not None

    def due_retries(self, adapter: str, now: datetime) -> list[str]:
        return [r[0] for r in self._db.execute(
            "SELECT ticket_id FROM retries WHERE adapter = ? AND retry_at <= ? ORDER BY retry_at",
            (adapter, _utc(now)))]

    def retried(self, adapter: str, ticket_id: str) -> None:
        self._db.execute("DELETE FROM retries WHERE adapter = ? AND ticket_id = ?", (adapter, ticket_id))

    def retries(self) -> list[dict[str, Any]]:
        cols = ("adapter", "ticket_id", "attempts", "retry_at", "error")
        return [dict(zip(cols, row)) for row in self._db.execute(
            "SELECT adapter, ticket_id, attempts, retry_at, error FROM retries ORDER BY retry_at")]

    # --- one pass per tracker at a time ----------------------------------------------

    @contextmanager
    def lock(self, adapter: str) -> Iterator[None]:
        """Hold the tracker's lock for a pass: the service and a cron `sync` never overlap.

        An OS lock on a file beside the store: released by the kernel if the
        process dies, so a crash never leaves a tracker locked.
        """
        if str(self.path) == ":memory:":
            yield
            return
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in adapter)[:64]
        digest = hashlib.sha1(adapter.encode("utf-8")).hexdigest()[:8]  # "a.b" and "a_b" differ
        with open(f"{self.path}.{safe}-{digest}.lock", "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Busy(f"another pass of {adapter!r} is running on {self.path}") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def tickets(self, adapter: str | None = None) -> Iterator[TicketRecord]:
        query = "SELECT adapter, ticket_id, updated, snapshot, applied, evaluation, next_change_at FROM tickets"
        params: tuple[Any, ...] = ()
        if adapter is not None:
            query += " WHERE adapter = ?"
            params = (adapter,)
        for row in self._db.execute(query + " ORDER BY adapter, ticket_id", params).fetchall():
            yield self._record(row[0], row[1], row[2:])

    # --- one pass's work list -----------------------------------------------------------

    def queue_begin(self, adapter: str) -> None:
        """An empty work list for a pass: the tickets its change query listed as changed.

        Kept in a temporary table (this connection's, on disk beyond a small cache), not in
        memory: a first pass over 100,000 tickets holds a page of ids at a time."""
        self._db.execute("CREATE TEMP TABLE IF NOT EXISTS pass_queue (adapter TEXT NOT NULL,"
                         " ticket_id TEXT NOT NULL, updated TEXT, PRIMARY KEY (adapter, ticket_id))")
        self._db.execute("DELETE FROM temp.pass_queue WHERE adapter = ?", (adapter,))

    def queue(self, adapter: str, ticket_id: str, updated: datetime | None) -> None:
        """Add a ticket to the pass's work list (listed twice: the later stamp is kept)."""
        self._db.execute("INSERT INTO temp.pass_queue (adapter, ticket_id, updated) VALUES (?, ?, ?)"
                         " ON CONFLICT (adapter, ticket_id) DO UPDATE SET updated ="
                         " COALESCE(MAX(excluded.updated, pass_queue.updated), excluded.updated, pass_queue.updated)",
                         (adapter, ticket_id, _utc(updated)))

    def queued(self, adapter: str) -> Iterator[tuple[str, datetime | None]]:
        """The pass's work list, read a page at a time (in insertion order)."""
        after = 0
        while True:
            rows = self._db.execute("SELECT rowid, ticket_id, updated FROM temp.pass_queue WHERE adapter = ?"
                                    " AND rowid > ? ORDER BY rowid LIMIT ?", (adapter, after, DUE_PAGE)).fetchall()
            for row in rows:
                yield row[1], _parse(row[2])
            if len(rows) < DUE_PAGE:
                return
            after = rows[-1][0]

    def queue_end(self, adapter: str) -> None:
        self._db.execute("DELETE FROM temp.pass_queue WHERE adapter = ?", (adapter,))

    # --- what adapters learnt about their tracker ----------------------------------------

    def fact(self, adapter: str, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM facts WHERE adapter = ? AND key = ?", (adapter, key)).fetchone()
        return str(row[0]) if row else None

    def learn(self, adapter: str, key: str, value: str, at: datetime | None = None) -> None:
        self._db.execute("INSERT INTO facts (adapter, key, value, learnt_at) VALUES (?, ?, ?, ?)"
                         " ON CONFLICT (adapter, key) DO UPDATE SET value = excluded.value,"
                         " learnt_at = excluded.learnt_at",
                         (adapter, key, value, _utc(at or datetime.now(timezone.utc))))

    # --- journal ------------------------------------------------------------------

    def journaled(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM journal WHERE key = ?", (key,)).fetchone() is not None

    def journal(self, key: str, adapter: str, ticket_id: str, kind: str, at: datetime, detail: str = "") -> None:
        self._db.execute("INSERT OR IGNORE INTO journal (key, adapter, ticket_id, kind, applied_at, detail)"
                         " VALUES (?, ?, ?, ?, ?, ?)", (key, adapter, ticket_id, kind, _utc(at), detail))

    def journal_entries(self, adapter: str | None = None) -> list[dict[str, str]]:
        query = "SELECT key, adapter, ticket_id, kind, applied_at, detail FROM journal"
        params: tuple[Any, ...] = ()
        if adapter:
            query += " WHERE adapter = ?"
            params = (adapter,)
        cols = ("key", "adapter", "ticket_id", "kind", "applied_at", "detail")
        return [dict(zip(cols, row)) for row in self._db.execute(query + " ORDER BY applied_at, key", params)]


class StoreFacts:
    """An adapter's facts (``adapters.base.Facts``) kept in the store, for every later process."""

    def __init__(self, store: Store, adapter: str) -> None:
        self.store = store
        self.adapter = adapter

    def get(self, key: str) -> str | None:
        return self.store.fact(self.adapter, key)

    def put(self, key: str, value: str) -> None:
        self.store.learn(self.adapter, key, value)
