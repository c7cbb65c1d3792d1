"""Webhook work: a bounded, coalescing queue of tickets, drained by one worker thread.

The HTTP thread that received a delivery only puts a ticket id here and answers
202 at once; it never reads a tracker nor waits for the service's lock. One worker
thread takes the tickets, a tracker at a time, and syncs them through the service
(``sync_tickets``), which holds the service's lock, so a webhook's sync never runs
beside a polling pass (and the store's per-tracker lock keeps a cron ``sync``
out too).

- **Coalesced**: a ticket already waiting is not queued twice; ten deliveries about
  one ticket before it is synced make one sync. One that arrives while its ticket is
  being synced queues it again: that sync's read may have been before the change.
- **Deduplicated**: trackers deliver at least once and retry; a delivery id seen
  before (Jira's ``X-Atlassian-Webhook-Identifier``, Zammad's ``X-Zammad-Delivery``)
  is answered without work. Ids are remembered in memory, a bounded number for a
  bounded time: after a restart a replay costs one more read, never a wrong write.
- **Bounded**: at most ``capacity`` distinct tickets wait; beyond that a delivery is
  refused (503, the tracker retries later) and not remembered, and polling remains
  the safety net.

Why a thread of its own rather than a job on the service's scheduler: the scheduler
runs one job at a time and drops a job whose previous run is still going
(``max_instances``), so a wake-up added while a drain runs could be lost; a thread
waiting on a condition misses nothing, and the service's lock orders it with the
passes.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)
BATCH = 100  # tickets synced in one go: the service's lock is not held for a whole flood
REMEMBER = 10_000  # delivery ids kept for deduplication
REMEMBER_FOR = 24 * 3600.0  # seconds: Jira and Zammad give up retrying well before


class Offer(enum.StrEnum):
    QUEUED = "queued"
    COALESCED = "coalesced"   # its ticket was already waiting
    DUPLICATE = "duplicate"   # this delivery was accepted before
    FULL = "queue_full"


@dataclass(frozen=True)
class Batch:
    tracker: str
    ticket_ids: list[str]
    received: list[float]  # monotonic instants the deliveries arrived, one per ticket


class WebhookQueue:
    def __init__(self, capacity: int, monotonic: Callable[[], float] = time.monotonic,
                 remember: int = REMEMBER, remember_for: float = REMEMBER_FOR) -> None:
        self.capacity = capacity
        self.monotonic = monotonic
        self.remember = remember
        self.remember_for = remember_for
        self._cond = threading.Condition()
        self._pending: dict[str, dict[str, float]] = {}  # tracker -> ticket id -> first arrival
        self._size = 0
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._closed = False

    def __len__(self) -> int:
        with self._cond:
            return self._size

    def offer(self, tracker: str, ticket_id: str, delivery: str | None = None) -> Offer:
        with self._cond:
            now = self.monotonic()
            self._forget_old(now)
            if delivery is not None and (tracker, delivery) in self._seen:
                return Offer.DUPLICATE
            waiting = self._pending.setdefault(tracker, {})
            if ticket_id in waiting:
                outcome = Offer.COALESCED
            elif self._size >= self.capacity:
                return Offer.FULL  # not remembered: the tracker's retry must be taken
            else:
                waiting[ticket_id] = now
                self._size += 1
                outcome = Offer.QUEUED
                self._cond.notify()
            if delivery is not None:
                self._seen[(tracker, delivery)] = now
                while len(self._seen) > self.remember:
                    self._seen.popitem(last=False)
            return outcome

    def _forget_old(self, now: float) -> None:
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at < self.remember_for:
                return
            del self._seen[key]

    def take(self, timeout: float | None = None) -> Batch | None:
        """The tickets of the tracker waiting longest (up to ``BATCH``); None on timeout or close."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._size > 0 or self._closed, timeout):
                return None
            if self._closed:
                return None
            tracker = min((t for t, w in self._pending.items() if w), key=lambda t: min(self._pending[t].values()))
            waiting = self._pending[tracker]
            ids = list(waiting)[:BATCH]
            received = [waiting.pop(i) for i in ids]
            self._size -= len(ids)
            return Batch(tracker, ids, received)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class WebhookWorker:
    """Drains the queue through ``sync(tracker, ticket_ids)`` until closed."""

    def __init__(self, queue: WebhookQueue, sync: Callable[[str, list[str]], object],
                 done: Callable[[Batch, object, float], None] | None = None) -> None:
        self.queue = queue
        self.sync = sync
        self.done = done
        self.thread = threading.Thread(target=self._run, name="sla-bridge-webhooks", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self.queue.close()
        if self.thread.is_alive():
            self.thread.join(timeout)

    def _run(self) -> None:
        while True:
            batch = self.queue.take()
            if batch is None:
                return
            try:
                result = self.sync(batch.tracker, batch.ticket_ids)
            except Exception:  # noqa: BLE001 - one bad batch must not stop the webhooks
                log.exception("webhook sync of %s failed", batch.tracker)
                result = None
            if self.done is not None:
                try:
                    self.done(batch, result, self.queue.monotonic())
                except Exception:  # noqa: BLE001 - metrics must not stop the webhooks
                    log.exception("recording a webhook sync failed")
