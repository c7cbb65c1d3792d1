"""A pass's tickets handed to a few threads: never one ticket to two of them.

Tickets come from the store's work list (``store.work``), claimed a few at a time, so a
ticket is in one worker's hands, of one process; on PostgreSQL, of one replica. Within a
process, a ticket known under two ids (a moved Jira issue) is also held by id
(``Workers.holding``), so the work list's other entry for it waits.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, NamedTuple

from ..model import Ticket
from ..store import Claim


class WorkItem(NamedTuple):
    ticket_id: str
    snapshot: Ticket | None      # a timed change: evaluated from it, read fresh only to write
    updated: datetime | None     # the stamp the change query listed
    claim: Claim | None = None   # the work list's entry, done once the ticket is


class Workers:
    """Threads working through a pass's tickets, and the tickets in their hands."""

    def __init__(self, name: str, stop: threading.Event) -> None:
        self.name = name
        self.stop = stop
        self.tally = threading.Lock()  # the pass's counters and the plugins' hooks, one worker at a time
        self._busy_guard = threading.Lock()
        self._busy: dict[str, list[Any]] = {}  # ticket id -> [its lock, workers holding or waiting]

    def run(self, count: int, work: Iterable[WorkItem], task: Callable[[WorkItem], None]) -> None:
        """`task` on each item of `work`, by up to `count` threads.

        At most two items per worker wait in line: memory does not grow with the list,
        and a ticket claimed is soon worked on. The first error that ends a pass (the
        tracker or the store unusable) stops the handing out; the tickets in hand
        finish, then it is raised, as with one worker.
        """
        if count == 1:
            for item in work:
                if self.stop.is_set():
                    break
                task(item)
            return
        ended = threading.Event()
        failures: list[BaseException] = []
        slots = threading.BoundedSemaphore(2 * count)

        def one(item: WorkItem) -> None:
            try:
                if not ended.is_set() and not self.stop.is_set():
                    task(item)
            except BaseException as exc:  # noqa: BLE001 - handed to the pass, as with one worker
                with self.tally:
                    failures.append(exc)
                ended.set()
            finally:
                slots.release()

        with ThreadPoolExecutor(count, thread_name_prefix=f"sync-{self.name}") as pool:
            for item in work:
                slots.acquire()
                if ended.is_set() or self.stop.is_set():
                    slots.release()
                    break
                pool.submit(one, item)
        if failures:
            raise failures[0]

    @contextmanager
    def holding(self, ticket_id: str) -> Iterator[None]:
        """The ticket is this worker's until the block ends: another waits for it."""
        with self._busy_guard:
            entry = self._busy.setdefault(ticket_id, [threading.Lock(), 0])
            entry[1] += 1
        lock: threading.Lock = entry[0]
        lock.acquire()
        try:
            yield
        finally:
            lock.release()
            with self._busy_guard:
                entry[1] -= 1
                if entry[1] == 0:  # only the tickets in hand are kept
                    del self._busy[ticket_id]
