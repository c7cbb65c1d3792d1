"""The store's logic, one code path for SQLite and PostgreSQL.

Each method is one or two statements in the SQL both backends speak, with ``?``
placeholders; the few words that differ come from the backend's dialect
(``store.dialect``). Each ticket is committed on its own (every statement commits:
autocommit on both), so a process stopped between two tickets loses nothing and
corrupts nothing. The schema is migrated forward at open, in one transaction.
"""

from __future__ import annotations

import importlib
import json
import sqlite3
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

from ..actions import Applied
from ..model import Ticket, ticket_from_json, ticket_to_json
from .dialect import Connection, Dialect
from .errors import StoreError, store_failure
from .location import PostgresLocation, locate
from .records import CursorRecord, TicketRecord, parse_instant as _parse, utc as _utc
from .schema import statements
from .work import Claimer, WorkList

RETRY_FIRST = timedelta(minutes=5)
RETRY_MAX = timedelta(hours=6)
_PACKAGE = __name__.rpartition(".")[0]


def _setting(name: str) -> Any:
    """``MIGRATIONS`` and ``DUE_PAGE`` are read from the package ``sla_bridge.store`` when
    used, so that setting them there (a test does) takes effect, as it did when the
    store was one module."""
    return getattr(importlib.import_module(_PACKAGE), name)


class Store(WorkList):
    """The state store: sync cursors, per-ticket snapshots, next_change_at, the journal.

    ``Store(path)`` opens (or makes) a SQLite file, ``":memory:"`` a store in memory;
    ``Store(PostgresLocation(url, password))`` or ``Store("postgresql://...")`` a
    PostgreSQL store. ``path`` is then the location, whose ``str()`` names the store in
    messages (a URL never holds a password).
    """

    def __init__(self, path: str | Path | PostgresLocation) -> None:
        self.path: Path | PostgresLocation = locate(path)
        self._db: Connection
        self._dialect: Dialect
        if isinstance(self.path, PostgresLocation):
            from .postgres import open_postgres

            self._db, self._dialect = open_postgres(self.path)
        else:
            from .sqlite import open_sqlite

            self._db, self._dialect = open_sqlite(self.path)
        try:
            self._migrate()
        except BaseException as exc:
            self._db.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise store_failure(self.path, exc) from None
            raise

    def _migrate(self) -> None:
        migrations: tuple[str, ...] = _setting("MIGRATIONS")
        with self._db.lock:
            self._dialect.begin_migration(self._db)
            try:
                version = self._dialect.version(self._db)
                if version > len(migrations):
                    raise StoreError(f"{self.path}: store schema version {version} is newer than this sla-bridge"
                                     f" ({len(migrations)}); upgrade sla-bridge")
                for number, script in enumerate(migrations[version:], start=version + 1):
                    for statement in statements(script):
                        self._db.execute(statement)
                    self._dialect.set_version(self._db, number)
                self._db.execute("COMMIT")
            except BaseException:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass  # the connection is gone: so is its transaction
                raise

    @property
    def schema_version(self) -> int:
        return self._dialect.version(self._db)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._dialect.name

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
        skip = (f" AND NOT EXISTS (SELECT 1 FROM {self._dialect.queue} q WHERE q.adapter = t.adapter"
                " AND q.ticket_id = t.ticket_id)") if skip_queued else ""
        page: int = _setting("DUE_PAGE")
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
                " ORDER BY next_change_at, ticket_id LIMIT ?", (adapter, _utc(now), *after, page)).fetchall()
            for row in rows:
                yield self._record(adapter, row[0], row[1:])
            if len(rows) < page:
                return
            after = (rows[-1][5], rows[-1][0])

    def earliest_change(self, adapters: list[str] | None = None) -> datetime | None:
        """The next instant a pass has work with no tracker event: a timed change or a retry."""
        where, params = "", ()  # type: tuple[str, tuple[Any, ...]]
        if adapters is not None:
            if not adapters:
                return None  # no tracker, no work (and `IN ()` is not SQL PostgreSQL takes)
            where = f" AND adapter IN ({','.join('?' * len(adapters))})"
            params = tuple(adapters)
        row = self._db.execute(
            "SELECT MIN(at) FROM (SELECT next_change_at AS at FROM tickets t WHERE next_change_at IS NOT NULL"
            f"{where} AND NOT EXISTS (SELECT 1 FROM retries r WHERE r.adapter = t.adapter"
            " AND r.ticket_id = t.ticket_id)"
            f" UNION ALL SELECT retry_at FROM retries WHERE 1 = 1{where}) AS due", params * 2).fetchone()
        return _parse(row[0])

    def forget(self, adapter: str, ticket_id: str) -> None:
        """A ticket now known under another id (a Jira issue moved to another project)."""
        self._db.execute("DELETE FROM tickets WHERE adapter = ? AND ticket_id = ?", (adapter, ticket_id))
        self.retried(adapter, ticket_id)

    def leave_alone(self, adapter: str, ticket_id: str, reason: str) -> None:
        """A ticket no longer under the contract (moved out of its projects): its snapshot stays,
        for the reports of the time it was, but it has no timed change, no retry, and no clock
        the status counts; the change query lists it again if it comes back."""
        self._db.execute("UPDATE tickets SET next_change_at = NULL, evaluation = ? WHERE adapter = ? AND ticket_id = ?",
                         (json.dumps({"left_alone": reason}), adapter, ticket_id))
        self.retried(adapter, ticket_id)

    def tickets(self, adapter: str | None = None) -> Iterator[TicketRecord]:
        query = "SELECT adapter, ticket_id, updated, snapshot, applied, evaluation, next_change_at FROM tickets"
        params: tuple[Any, ...] = ()
        if adapter is not None:
            query += " WHERE adapter = ?"
            params = (adapter,)
        for row in self._db.execute(query + " ORDER BY adapter, ticket_id", params).fetchall():
            yield self._record(row[0], row[1], row[2:])

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
        row = self._db.execute(f"SELECT 1 FROM retries WHERE adapter = ? AND ticket_id = ? AND updated"
                               f" {self._dialect.same} ? AND retry_at > ?",
                               (adapter, ticket_id, _utc(updated), _utc(now))).fetchone()
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

        SQLite: an OS lock on a file beside the store; PostgreSQL: an advisory lock on a
        session held for the pass. Either is released if the process dies, so a crash
        never leaves a tracker locked. Raises ``Busy`` when another pass holds it.
        """
        with self._dialect.lock(adapter, str(self.path)):
            yield

    # --- several `serve` replicas: heartbeats and leases --------------------------------
    #
    # A lease says which replica polls a tracker; the tracker's lock (``lock``) stays what
    # keeps two passes apart. Both are written with the replica's clock: the replicas'
    # clocks must agree to well within the lease time (NTP does).

    def heartbeat(self, holder: str, now: datetime, lease: timedelta) -> None:
        """The replica is alive until `now` + `lease`; so are the leases it holds."""
        until = _utc(now + lease)
        self._db.execute("INSERT INTO replicas (holder, started_at, heartbeat_at, expires_at) VALUES (?, ?, ?, ?)"
                         " ON CONFLICT (holder) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,"
                         " expires_at = excluded.expires_at", (holder, _utc(now), _utc(now), until))
        self._db.execute("UPDATE leases SET renewed_at = ?, expires_at = ? WHERE holder = ? AND expires_at > ?",
                         (_utc(now), until, holder, _utc(now)))

    def take_lease(self, adapter: str, holder: str, now: datetime, lease: timedelta) -> bool:
        """Take (or renew) the tracker's lease: one atomic upsert, which changes the row only
        when it is free, expired, or already `holder`'s. True when `holder` now holds it."""
        rows = self._db.execute(
            "INSERT INTO leases (adapter, holder, taken_at, renewed_at, expires_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (adapter) DO UPDATE SET holder = excluded.holder, renewed_at = excluded.renewed_at,"
            " expires_at = excluded.expires_at, taken_at = CASE WHEN leases.holder = excluded.holder"
            " AND leases.expires_at > excluded.renewed_at THEN leases.taken_at ELSE excluded.taken_at END"
            " WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.renewed_at"
            " RETURNING holder", (adapter, holder, _utc(now), _utc(now), _utc(now + lease))).fetchall()
        return bool(rows) and rows[0][0] == holder

    def release_lease(self, adapter: str, holder: str, now: datetime) -> None:
        """Give the lease up (expired at once): the next replica to poll takes it."""
        self._db.execute("UPDATE leases SET expires_at = ? WHERE adapter = ? AND holder = ? AND expires_at > ?",
                         (_utc(now), adapter, holder, _utc(now)))

    def leave(self, holder: str, now: datetime) -> None:
        """A replica stopping: its leases are free at once, its heartbeat row goes."""
        self._db.execute("UPDATE leases SET expires_at = ? WHERE holder = ? AND expires_at > ?",
                         (_utc(now), holder, _utc(now)))
        self._db.execute("DELETE FROM replicas WHERE holder = ?", (holder,))

    def live_replicas(self, now: datetime) -> list[str]:
        return [str(r[0]) for r in self._db.execute(
            "SELECT holder FROM replicas WHERE expires_at > ? ORDER BY holder", (_utc(now),))]

    def held_leases(self, holder: str, now: datetime) -> list[str]:
        return [str(r[0]) for r in self._db.execute(
            "SELECT adapter FROM leases WHERE holder = ? AND expires_at > ? ORDER BY adapter", (holder, _utc(now)))]

    def replicas(self, now: datetime) -> list[dict[str, Any]]:
        """Every replica the store heard of (dead ones until pruned) with its live leases."""
        leases: dict[str, list[str]] = {}
        for adapter, holder in self._db.execute("SELECT adapter, holder FROM leases WHERE expires_at > ?"
                                                " ORDER BY adapter", (_utc(now),)):
            leases.setdefault(str(holder), []).append(str(adapter))
        cols = ("holder", "started_at", "heartbeat_at", "expires_at")
        return [dict(zip(cols, row)) | {"alive": str(row[3]) > str(_utc(now)), "leases": leases.get(str(row[0]), [])}
                for row in self._db.execute("SELECT holder, started_at, heartbeat_at, expires_at FROM replicas"
                                            " ORDER BY holder")]

    def leases(self) -> list[dict[str, Any]]:
        cols = ("adapter", "holder", "taken_at", "renewed_at", "expires_at")
        return [dict(zip(cols, row)) for row in self._db.execute(
            "SELECT adapter, holder, taken_at, renewed_at, expires_at FROM leases ORDER BY adapter")]

    def prune_replicas(self, before: datetime) -> None:
        """Forget replicas whose heartbeat stopped before `before` (a day ago, say)."""
        self._db.execute("DELETE FROM replicas WHERE expires_at < ?", (_utc(before),))

    # --- a tracker's work list: store.work ------------------------------------------------

    def claimer(self) -> AbstractContextManager[Claimer]:
        """Who claims a pass's tickets (``store.work``), until the block ends."""
        return self._dialect.claimer()

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
        self._db.execute("INSERT INTO journal (key, adapter, ticket_id, kind, applied_at, detail)"
                         " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                         (key, adapter, ticket_id, kind, _utc(at), detail))

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
