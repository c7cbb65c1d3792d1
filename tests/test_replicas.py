"""Several `serve` replicas on one store: leases and heartbeats, on both backends, with an injected clock."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sla_bridge.service import Replica, Service
from sla_bridge.store import PostgresLocation, Store

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
LEASE = timedelta(seconds=30)


class Clock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture()
def store(store_location: Path | PostgresLocation) -> Any:
    s = Store(store_location)
    yield s
    s.close()


def test_a_lease_is_taken_once_renewed_by_its_holder_and_taken_over_only_once_expired(store: Store) -> None:
    assert store.take_lease("jira", "a", T0, LEASE)
    assert not store.take_lease("jira", "b", T0 + timedelta(seconds=29), LEASE)  # a's, alive
    assert store.take_lease("jira", "a", T0 + timedelta(seconds=20), LEASE)  # renewed: until T0 + 50 s
    assert not store.take_lease("jira", "b", T0 + timedelta(seconds=49), LEASE)
    assert store.take_lease("jira", "b", T0 + timedelta(seconds=50), LEASE)  # expired: b takes it over
    assert not store.take_lease("jira", "a", T0 + timedelta(seconds=51), LEASE)
    (lease,) = store.leases()
    assert lease["holder"] == "b" and lease["taken_at"].startswith("2026-01-05T09:00:50")
    # Renewing keeps when it was taken; another tracker's lease is another row.
    assert store.take_lease("jira", "b", T0 + timedelta(seconds=60), LEASE)
    assert store.leases()[0]["taken_at"].startswith("2026-01-05T09:00:50")
    assert store.take_lease("zammad", "a", T0 + timedelta(seconds=60), LEASE)
    assert store.held_leases("a", T0 + timedelta(seconds=61)) == ["zammad"]


def test_a_heartbeat_renews_the_replica_and_its_leases_and_leaving_frees_them_at_once(store: Store) -> None:
    store.heartbeat("a", T0, LEASE)
    assert store.take_lease("jira", "a", T0, LEASE)
    store.heartbeat("a", T0 + timedelta(seconds=25), LEASE)  # both now until T0 + 55 s
    assert not store.take_lease("jira", "b", T0 + timedelta(seconds=54), LEASE)
    assert store.live_replicas(T0 + timedelta(seconds=54)) == ["a"]
    assert store.live_replicas(T0 + timedelta(seconds=55)) == []
    # An expired lease is not brought back by a late heartbeat of its old holder.
    assert store.take_lease("jira", "b", T0 + timedelta(seconds=55), LEASE)
    store.heartbeat("a", T0 + timedelta(seconds=56), LEASE)
    assert store.held_leases("a", T0 + timedelta(seconds=56)) == []
    store.leave("b", T0 + timedelta(seconds=60))
    assert store.take_lease("jira", "c", T0 + timedelta(seconds=60), LEASE)
    rows = store.replicas(T0 + timedelta(seconds=60))
    assert [(r["holder"], r["alive"], r["leases"]) for r in rows] == [("a", True, [])]


def test_replicas_share_the_trackers_and_take_over_a_dead_ones_within_the_lease(store: Store) -> None:
    clock = Clock()
    trackers = ["t1", "t2", "t3"]
    a, b, c = (Replica(store, trackers, LEASE, clock=clock, holder=h) for h in "abc")
    assert a.beat() == trackers  # alone: it polls everything
    b.beat()
    c.beat()
    clock.advance(10)
    for r in (a, b, c):  # a gives up what is beyond its share; b and c take it
        r.beat()
    held = {r.holder: store.held_leases(r.holder, clock()) for r in (a, b, c)}
    assert sorted(t for ts in held.values() for t in ts) == trackers and all(len(ts) == 1 for ts in held.values())
    assert [a.claim(t) for t in trackers].count(True) == 1  # only its own
    # c dies (no more beats): its tracker waits until its lease expires, then is taken at the next beat.
    dead = held["c"][0]
    died = clock()
    for _ in range(12):
        clock.advance(a.interval)
        a.beat()
        b.beat()
        holders = {l["adapter"]: l["holder"] for l in store.leases() if l["expires_at"] > store_time(clock())}
        if holders.get(dead) in ("a", "b"):
            break
    assert holders.get(dead) in ("a", "b")
    assert clock() - died <= LEASE + timedelta(seconds=a.interval)
    assert sorted(holders) == trackers


def store_time(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Syncer:
    def __init__(self, runs: list[str], name: str) -> None:
        self.runs, self.name = runs, name

    def run(self) -> Any:
        from sla_bridge.sync import SyncSummary

        self.runs.append(self.name)
        summary = SyncSummary(self.name, T0, T0, False)
        summary.complete = True
        return summary


def test_the_service_polls_only_the_trackers_whose_lease_its_replica_holds(store: Store) -> None:
    clock = Clock()
    mine = Replica(store, ["t1", "t2"], LEASE, clock=clock, holder="mine")
    other = Replica(store, ["t1", "t2"], LEASE, clock=clock, holder="other")
    assert other.beat() == ["t1", "t2"]  # alone: both
    assert mine.beat() == []             # both held: nothing yet
    assert other.beat() == []            # two replicas: it gives t2 up
    assert mine.beat() == ["t2"]
    service = Service.__new__(Service)  # no scheduler, no adapters: only sync()'s choice is tested
    runs: list[str] = []
    service.replica = mine
    service.stop = threading.Event()
    service.lock = threading.Lock()
    service.syncers = {n: _Syncer(runs, n) for n in ("t1", "t2")}  # type: ignore[misc]
    service.backoff = {"t1": timedelta(seconds=1), "t2": timedelta(seconds=1)}
    service.pass_log = _Quiet()  # type: ignore[assignment]
    service.arm_wake = lambda name: None  # type: ignore[method-assign]
    service.sync()
    assert runs == ["t2"]
    service.replica = other
    service.sync()
    assert runs == ["t2", "t1"]


class _Quiet:
    def pass_ended(self, summary: Any) -> None:
        pass


def test_status_lists_the_replicas_their_leases_and_last_heartbeat(store: Store) -> None:
    from rich.console import Console

    from sla_bridge.demo import builtin_config
    from sla_bridge.status import collect_status, print_status

    now = datetime.now(timezone.utc)
    store.heartbeat("host:1:aa", now, LEASE)
    assert store.take_lease("jira", "host:1:aa", now, LEASE)
    store.heartbeat("host:2:bb", now - timedelta(minutes=5), LEASE)  # silent
    config = builtin_config()
    report = collect_status(store, config)
    assert [(r["holder"], r["alive"], r["leases"]) for r in report["replicas"]] == [
        ("host:1:aa", True, ["jira"]), ("host:2:bb", False, [])]
    console = Console(record=True, width=200)
    print_status(console, report, config.calendar)
    text = console.export_text()
    assert "replica host:1:aa: alive, last heartbeat" in text and "polls jira" in text
    assert "replica host:2:bb: silent" in text


def test_the_status_page_shows_which_replica_polls_each_tracker(store: Store,
                                                                store_location: Path | PostgresLocation) -> None:
    from sla_bridge.demo import builtin_config
    from sla_bridge.web.pages import Pages
    from sla_bridge.web.storeview import StoreView
    from sla_bridge.web.templates import environment

    now = datetime.now(timezone.utc)
    store.heartbeat("host:1:aa", now, LEASE)
    assert store.take_lease("demo", "host:1:aa", now, LEASE)
    view = StoreView(store_location)
    assert [r["holder"] for r in view.replicas()] == ["host:1:aa"]
    config = builtin_config()
    (status,) = Pages(config, view).status(now, {})
    assert status.lease.startswith("polled by replica host:1:aa, lease until ") and "last heartbeat" in status.lease
    html = environment().get_template("status.html").render(
        refresh=30, contract="c", now="now", zone=config.calendar.zone, trackers=[status], store_error=None,
        when=str)
    assert 'data-lease="demo">polled by replica host:1:aa' in html
    (status,) = Pages(config, view).status(now + LEASE, {})
    assert "lease expired" in status.lease


# --- the tracker's budget, the site's -----------------------------------------------------------

def test_a_pause_asked_of_one_replica_holds_every_replica(store_location: Path | PostgresLocation) -> None:
    """A 429 with Retry-After answered to one replica: the others wait it out too, read from the store."""
    from sla_bridge.httpclient import Gate
    from sla_bridge.sync.budget import SiteBudget

    wall, ticks = Clock(), [50.0]
    one, two = Store(store_location), Store(store_location)
    try:
        waits: dict[str, list[float]] = {"one": [], "two": []}
        first = Gate(sleep=waits["one"].append, monotonic=lambda: ticks[0], board=SiteBudget(one, "rm", wall))
        second = Gate(sleep=waits["two"].append, monotonic=lambda: ticks[0], board=SiteBudget(two, "rm", wall))
        second.enter()
        assert waits["two"] == [], "no pause asked yet"
        first.hold(30)  # replica one's 429: Retry-After 30
        ticks[0] += 1.0  # the next look at the board, a second later
        wall.advance(1)
        second.enter()
        assert waits["two"] == [pytest.approx(29.0)], "replica two waits out what remains of it"
        SiteBudget(two, "rm", wall).publish(5)  # a shorter pause asked later: the longer one stands
        assert SiteBudget(one, "rm", wall).look()[0] == pytest.approx(29.0)
        wall.advance(29)
        assert SiteBudget(one, "rm", wall).look()[0] == 0.0
        assert SiteBudget(one, "zm", wall).look() == (0.0, 1), "another tracker's budget is its own"
    finally:
        one.close()
        two.close()


def test_the_pace_is_divided_between_the_live_replicas(store: Store) -> None:
    """max_requests_per_second is the site's: two live replicas each go at half of it."""
    from sla_bridge.httpclient import Gate
    from sla_bridge.sync.budget import SiteBudget

    wall, ticks = Clock(), [0.0]
    for holder in ("a", "b"):
        store.heartbeat(holder, wall(), LEASE)
    waits: list[float] = []
    gate = Gate(per_second=10, sleep=waits.append, monotonic=lambda: ticks[0], board=SiteBudget(store, "rm", wall))
    for _ in range(3):
        gate.enter()
    assert waits == [pytest.approx(0.2), pytest.approx(0.4)]


def test_a_heartbeat_offers_help_with_another_replicas_shared_work_list(store: Store) -> None:
    """PostgreSQL: a tracker polled by another replica, whose list has free tickets, gets a help job."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    clock = Clock()
    other = Replica(store, ["t1", "t2"], LEASE, clock=clock, holder="other")
    mine = Replica(store, ["t1", "t2"], LEASE, clock=clock, holder="mine")
    other.beat()  # alone: it takes both trackers
    store.queue_begin("t1")
    store.queue("t1", "7", None)
    service = Service.__new__(Service)  # only the heartbeat's choice is tested
    service.replica, service.clock, service.stop = mine, clock, threading.Event()
    service.syncers = {"t1": object(), "t2": object()}  # type: ignore[dict-item]
    service.scheduler = BlockingScheduler(timezone=timezone.utc)
    service.beat()
    jobs = sorted(job.id for job in service.scheduler.get_jobs())
    if store.shared_work:
        assert jobs == ["help:t1"], "t1's list has a free ticket; t2's has none"
    else:
        assert jobs == [], "SQLite: a pass's list is its own process's"
    store.queue_end("t1", False)
