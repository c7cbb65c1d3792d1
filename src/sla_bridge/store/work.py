"""A tracker's work list: the tickets a pass must look at, claimed one worker at a time.

A pass lists the tickets its change query showed as changed, those whose retry is
due and those whose timed change has come (``queue``, ``queue_due``), then its
workers *claim* them a few at a time (``claim``) and mark each one done (``done``).

- **SQLite** (one host): the list is a TEMP table of the store's connection, so of one
  process, which also holds the tracker's lock for the pass.
- **PostgreSQL**: the list is the shared table ``work_queue``, so the workers of every
  replica on the store can take from one tracker's list. A claim is one ``UPDATE`` of
  rows picked ``FOR UPDATE SKIP LOCKED``: two workers never get one ticket. A claim
  names its claimer's token, an advisory lock held by a session of the claimer's
  (``Claimer``): when that process dies the server ends the session, the lock goes, and
  the ticket is free for another replica at once, without waiting for a lease.

A ticket listed again while claimed (a webhook, an edit) has its generation bumped:
``done`` then gives it back instead of deleting it, so the newer change is not lost.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from .records import parse_instant, utc

if TYPE_CHECKING:
    from .dialect import Connection, Dialect


@dataclass(frozen=True)
class Claim:
    """A ticket of the work list, taken by one worker until ``done``."""

    ticket_id: str
    updated: datetime | None  # the stamp the change query listed; None for a retry or a timed change
    due: bool                 # a timed change: evaluated from its snapshot, read only to write
    gen: int                  # how many times it was listed: a later listing makes ``done`` give it back
    token: int                # the claimer's


class Claimer(Protocol):
    """Who holds claims: a token, alive as long as its process (PostgreSQL: its session)."""

    token: int

    def check(self) -> None:
        """Raise ``StoreError`` when the claims may have been lost (the session is gone): the
        worker must not write to the tracker, another replica may have the ticket."""


class WorkList:
    """The work-list half of ``Store`` (a mixin: it uses the store's session and dialect)."""

    _db: Connection
    _dialect: Dialect
    _seq_lock = threading.Lock()
    _seq = time.time_ns() // 1000  # the listing order, across passes (and, roughly, processes)

    @property
    def shared_work(self) -> bool:
        """Whether other processes take from this store's work lists (PostgreSQL)."""
        return self._dialect.shared_queue

    def _next_seq(self) -> int:
        with self._seq_lock:
            WorkList._seq += 1
            return WorkList._seq

    def _seq_past(self, seq: int) -> None:
        with self._seq_lock:
            WorkList._seq = max(WorkList._seq, seq)

    def queue_begin(self, adapter: str) -> None:
        """Ready the tracker's work list for a pass.

        SQLite: a new, empty list (the TEMP table of this connection). PostgreSQL: what
        is left in the shared list stays: a replica may be working on it, and the pass
        lists again what a dead one left."""
        for statement in self._dialect.queue_ddl:
            self._db.execute(statement)
        if not self.shared_work:
            self._db.execute(f"DELETE FROM {self._dialect.queue} WHERE adapter = ?", (adapter,))

    def queue(self, adapter: str, ticket_id: str, updated: datetime | None, hold: Claimer | None = None) -> None:
        """Add a ticket to the work list, to be read fresh. Listed again, it keeps its place
        and the later stamp, and a claim taken before gives it back when done.

        With `hold`, a new entry is that claimer's until ``release``: a pass lists the whole
        change query before anyone writes (a write moves a ticket in the query's order)."""
        self._db.execute(
            f"INSERT INTO {self._dialect.queue} AS q (adapter, ticket_id, seq, updated, claim) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (adapter, ticket_id) DO UPDATE SET updated = COALESCE("
            f"{self._dialect.greatest}(excluded.updated, q.updated), excluded.updated, q.updated),"
            " due = 0, gen = q.gen + 1",
            (adapter, ticket_id, self._next_seq(), utc(updated), hold.token if hold is not None else None))

    def release(self, adapter: str, claimer: Claimer) -> None:
        """The entries `claimer` holds and has not started: free for any worker."""
        self._db.execute(f"UPDATE {self._dialect.queue} SET claim = NULL WHERE adapter = ? AND claim = ?",
                         (adapter, claimer.token))

    def queue_due(self, adapter: str, now: datetime) -> None:
        """Add the tickets whose timed change has come by `now`, earliest first (one statement,
        an index scan), unless listed already or waiting for a retry (``due_retries``)."""
        base = self._next_seq()
        self._db.execute(
            f"INSERT INTO {self._dialect.queue} (adapter, ticket_id, seq, updated, due)"
            " SELECT adapter, ticket_id, ? + ROW_NUMBER() OVER (ORDER BY next_change_at, ticket_id), NULL, 1"
            " FROM tickets t WHERE adapter = ? AND next_change_at IS NOT NULL AND next_change_at <= ?"
            " AND NOT EXISTS (SELECT 1 FROM retries r WHERE r.adapter = t.adapter AND r.ticket_id = t.ticket_id)"
            " ON CONFLICT (adapter, ticket_id) DO NOTHING", (base, adapter, utc(now)))
        row = self._db.execute(f"SELECT MAX(seq) FROM {self._dialect.queue} WHERE adapter = ?", (adapter,)).fetchone()
        self._seq_past(int(row[0]) if row and row[0] is not None else base)

    def claim(self, adapter: str, claimer: Claimer, limit: int, ids: list[str] | None = None) -> list[Claim]:
        """Take up to `limit` free tickets of the list (or of `ids` only), oldest listed first.

        Free: not claimed, or claimed by a claimer that is gone."""
        only, params = "", ()  # type: tuple[str, tuple[Any, ...]]
        if ids is not None:
            if not ids:
                return []
            only, params = f" AND q.ticket_id IN ({','.join('?' * len(ids))})", tuple(ids)
        rows = self._db.execute(
            f"WITH picked AS MATERIALIZED (SELECT adapter, ticket_id FROM {self._dialect.queue} q"
            f" WHERE q.adapter = ? AND (q.claim IS NULL OR {self._dialect.orphaned}){only}"
            f" ORDER BY q.seq, q.ticket_id LIMIT ?{self._dialect.skip_locked})"
            f" UPDATE {self._dialect.queue} SET claim = ? WHERE (adapter, ticket_id) IN"
            " (SELECT adapter, ticket_id FROM picked) RETURNING ticket_id, updated, due, gen, seq",
            (adapter, *params, limit, claimer.token)).fetchall()
        rows.sort(key=lambda r: (r[4], r[0]))
        return [Claim(str(r[0]), parse_instant(r[1]), bool(r[2]), int(r[3]), claimer.token) for r in rows]

    def done(self, adapter: str, claim: Claim) -> None:
        """The claimed ticket was synced (or failed and awaits its retry): off the list,
        unless it was listed again meanwhile; then it is free to be taken again."""
        gone = self._db.execute(
            f"DELETE FROM {self._dialect.queue} WHERE adapter = ? AND ticket_id = ? AND claim = ? AND gen = ?"
            " RETURNING ticket_id", (adapter, claim.ticket_id, claim.token, claim.gen)).fetchall()
        if not gone:
            self._db.execute(f"UPDATE {self._dialect.queue} SET claim = NULL WHERE adapter = ? AND ticket_id = ?"
                             " AND claim = ?", (adapter, claim.ticket_id, claim.token))

    def holds(self, adapter: str, claim: Claim) -> bool:
        """The claim is still this claimer's (checked before a customer sees a write)."""
        row = self._db.execute(f"SELECT 1 FROM {self._dialect.queue} WHERE adapter = ? AND ticket_id = ?"
                               " AND claim = ?", (adapter, claim.ticket_id, claim.token)).fetchone()
        return row is not None

    def pending(self, adapter: str) -> int:
        """Tickets on the list, free or in a worker's hands."""
        row = self._db.execute(f"SELECT COUNT(*) FROM {self._dialect.queue} WHERE adapter = ?",
                               (adapter,)).fetchone()
        return int(row[0]) if row else 0

    def work_waiting(self, adapters: list[str]) -> list[str]:
        """The trackers among `adapters` whose list has a free ticket: work a replica can help with."""
        if not adapters or not self.shared_work:
            return []
        return [str(r[0]) for r in self._db.execute(
            f"SELECT DISTINCT adapter FROM {self._dialect.queue} q WHERE adapter IN ({','.join('?' * len(adapters))})"
            f" AND (q.claim IS NULL OR {self._dialect.orphaned})", tuple(adapters))]

    def queue_end(self, adapter: str, complete: bool) -> None:
        """After a pass. SQLite: the list goes. PostgreSQL: the list stays while tickets of it
        are in other replicas' hands; after a pass that did not complete (the tracker is
        down), its free tickets go: the next pass lists them again."""
        if not self.shared_work:
            self._db.execute(f"DELETE FROM {self._dialect.queue} WHERE adapter = ?", (adapter,))
        elif not complete:
            self._db.execute(f"DELETE FROM {self._dialect.queue} q WHERE adapter = ?"
                             f" AND (q.claim IS NULL OR {self._dialect.orphaned})", (adapter,))

    def work(self, adapter: str | None = None) -> list[dict[str, Any]]:
        """The work lists as they are (for ``status``): per tracker, tickets free and claimed."""
        if not self.shared_work:
            return []  # SQLite: a pass's list is its own process's, and gone with the pass
        where, params = ("WHERE adapter = ?", (adapter,)) if adapter else ("", ())
        rows = self._db.execute(f"SELECT adapter, COUNT(*), COUNT(claim) FROM {self._dialect.queue} {where}"
                                " GROUP BY adapter ORDER BY adapter", params).fetchall()
        return [{"adapter": str(r[0]), "tickets": int(r[1]), "claimed": int(r[2])} for r in rows]
