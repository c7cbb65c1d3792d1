"""A tracker's rate budget, kept by every replica on one store at once.

Replicas sharing a tracker (``store.work``) each talk to it. What the tracker asks of
one of them, it asks of the site: a ``Retry-After`` answered to one replica is written
to the store (a fact of the tracker's, ``site.paused_until``) and every replica's
``httpclient.Gate`` reads it within a second, and a configured pace
(``max_requests_per_second``) is divided between the live replicas.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable

from ..store import Store
from ..store.records import parse_instant, utc

PAUSED_UNTIL = "site.paused_until"


def wall_clock() -> datetime:
    return datetime.now(timezone.utc)


class SiteBudget:
    """An ``httpclient.Board`` in the store: one per tracker and process."""

    def __init__(self, store: Store, adapter: str, clock: Callable[[], datetime] = wall_clock) -> None:
        self.store = store
        self.adapter = adapter
        self.clock = clock

    def publish(self, seconds: float) -> None:
        until = self.clock() + timedelta(seconds=seconds)
        known = parse_instant(self.store.fact(self.adapter, PAUSED_UNTIL))
        if known is None or known < until:  # a later pause asked of another replica stands
            self.store.learn(self.adapter, PAUSED_UNTIL, utc(until) or "", self.clock())

    def look(self) -> tuple[float, int]:
        now = self.clock()
        until = parse_instant(self.store.fact(self.adapter, PAUSED_UNTIL))
        pause = max(0.0, (until - now).total_seconds()) if until is not None else 0.0
        return pause, max(1, len(self.store.live_replicas(now)))


__all__ = ["PAUSED_UNTIL", "SiteBudget"]
