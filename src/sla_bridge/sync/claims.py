"""A tracker's work list worked on by this process's workers: claimed, and given back when done.

The ``Syncer``'s half that takes tickets from the store's work list (``store.work``): a
pass's own list, a replica helping with another replica's pass, a webhook's tickets on
a list shared by replicas, and the check made before a customer sees a write.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime
from typing import Callable, Iterable, Iterator

from ..adapters.base import Adapter, PermanentError, TransientError
from ..store import Claim, Claimer, DatabaseFailure, Store, store_failure
from .summary import SyncSummary, unprefixed
from .workers import WorkItem

CLAIM_BATCH = 100  # tickets claimed at once from a process's own work list (SQLite)
CLAIM_BATCH_SHARED = 4  # ... from a list shared by replicas: few, so the others get their share
CLAIM_POLL = 0.2  # seconds between two looks at a shared list whose tickets are all in hand
CLAIM_WAIT = 600.0  # seconds a pass waits for tickets in other replicas' hands


class ClaimedWork:
    """A mixin of ``Syncer``: the attributes below are the syncer's."""

    adapter: Adapter
    store: Store
    stop: threading.Event
    workers: int
    clock: Callable[[], datetime]
    _claimer: Claimer | None
    _failed_writes: int
    _local: threading.local

    def _work(self, work: Iterable[WorkItem], now: datetime, summary: SyncSummary) -> None:
        raise NotImplementedError  # the syncer's

    def help(self, now: datetime | None = None) -> SyncSummary:
        """Work on the tracker's shared work list, which another replica's pass filled (it
        holds the tracker's lease): the tickets free on it, until none is. The cursor and
        the pass's record stay that pass's."""
        return self._claimed_run(now, None, "the tickets are left to the tracker's pass")

    def _claimed_run(self, now: datetime | None, ids: list[str] | None, later: str) -> SyncSummary:
        started = self.clock()
        summary = SyncSummary(self.adapter.name, started, now or started, False)
        name = self.adapter.name
        try:
            self._failed_writes = 0
            if ids is not None:
                for ticket_id in ids:
                    self.store.queue(name, ticket_id, None)
            with self.store.claimer() as claimer:
                self._claimer = claimer
                self._work(self._claims(claimer, wait=False, ids=ids), summary.now, summary)
            summary.complete = not self.stop.is_set()
        except (TransientError, PermanentError) as exc:
            summary.errors.append(f"{name}: {unprefixed(exc, name)}; {later}")
        except sqlite3.Error as exc:
            summary.errors.append(f"{name}: stopped: {store_failure(self.store.path, exc)}")
        finally:
            self._claimer = None
        summary.finished = self.clock()
        return summary

    def _claims(self, claimer: Claimer, *, wait: bool, ids: list[str] | None = None) -> Iterator[WorkItem]:
        """The work list's tickets, claimed a few at a time as workers are free.

        With `wait` (a tracker's pass, on a shared list), the end of the list is when it is
        empty: tickets in other replicas' hands are waited for (their outcome is part of
        the pass), or taken over if their replica dies; a pass waits at most
        ``CLAIM_WAIT`` for them, then ends without moving its cursor."""
        name = self.adapter.name
        batch = CLAIM_BATCH_SHARED if self.store.shared_work else CLAIM_BATCH
        waited = 0.0
        while not self.stop.is_set():
            claims = self.store.claim(name, claimer, min(batch, 2 * self.workers), ids)
            if not claims:
                left = self.store.pending(name) if wait else 0
                if not left:
                    return
                if waited >= CLAIM_WAIT:
                    raise TransientError(f"{left} ticket{'s' if left != 1 else ''} of the work list still in"
                                         f" another replica's hands after {CLAIM_WAIT:.0f} s")
                self.stop.wait(CLAIM_POLL)
                waited += CLAIM_POLL
                continue
            waited = 0.0
            for claim in claims:
                snapshot = None
                if claim.due:  # a timed change: from the snapshot, as it is now
                    record = self.store.ticket(name, claim.ticket_id)
                    if record is None:
                        self.store.done(name, claim)
                        continue
                    snapshot = record.snapshot
                yield WorkItem(claim.ticket_id, snapshot, claim.updated, claim)

    def _still_ours(self, ticket_id: str) -> None:
        """Before a customer sees a write: the ticket's claim on a shared work list is still
        this worker's. Claims are lost only with the claimer's session, and then another
        replica may have the ticket: the pass stops instead of writing."""
        claim: Claim | None = getattr(self._local, "claim", None)
        if claim is None or self._claimer is None or not self.store.shared_work:
            return
        self._claimer.check()
        if not self.store.holds(self.adapter.name, claim):
            raise DatabaseFailure(f"{self.store.path}: the claim on {self.adapter.name}:{ticket_id} was lost;"
                                  " another replica syncs it")
