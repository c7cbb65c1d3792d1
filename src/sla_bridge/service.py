"""``sla-bridge serve``: the scheduled service (APScheduler).

One poll job per tracker at its configured interval, and one wake-up job per
tracker at its earliest ``next_change_at`` (or retry) in the store, re-armed after
every pass, so a reminder goes out at its instant without a loop over every
ticket. A tracker whose pass failed backs off (30 s doubling to 10 min) without
slowing the others. Passes never
overlap (one worker thread, coalesced jobs). SIGTERM/SIGINT set a stop flag the
sync checks between tickets, so the current ticket is finished and the store
stays consistent; then the scheduler shuts down.

Several replicas may serve one store (``Replica``): each polls the trackers whose
lease it holds, beating on a thread of its own, and helps with the other trackers'
shared work lists (``store.work``) when they have free tickets; see README "Several
replicas".
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import signal
import socket
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.blocking import BlockingScheduler

from .secrets import install_log_scrubbing
from .app import App, build_app
from .logs import JsonFormatter, SyncLog, configure as configure_logging  # noqa: F401 - JsonFormatter: moved
from .config import Config
from .store import Store, StoreError
from .sync import SyncSummary, Syncer

log = logging.getLogger("sla_bridge.service")
WAKE_JOB = "wake"
HELP_JOB = "help"
MIN_WAKE = timedelta(seconds=1)
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(minutes=10)
FORGET_REPLICA = timedelta(days=1)  # a replica silent this long leaves the status


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def holder_id() -> str:
    """A replica's name: host, process, and a random part (a pid is reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Replica:
    """This `serve` among the replicas sharing one store: its heartbeat and its trackers' leases.

    A tracker is polled by the replica holding its lease (the ``leases`` table). Each
    replica beats every third of the lease time: its heartbeat and its leases are renewed;
    it takes free or expired leases up to its fair share (the trackers over the live
    replicas, rounded up) and gives up what it holds beyond that share, so replicas joining
    share the trackers and a dead replica's trackers are taken over within the lease time.
    The lease decides who polls; the tracker's lock (``Store.lock``, held for each pass)
    still keeps two passes of one tracker apart, even when a lease changes hands while a
    pass runs.
    """

    def __init__(self, store: Store, trackers: list[str], lease: timedelta, *,
                 clock: Callable[[], datetime] = utc_now, holder: str | None = None) -> None:
        self.store = store
        self.trackers = list(trackers)
        self.lease = lease
        self.clock = clock
        self.holder = holder or holder_id()

    @property
    def interval(self) -> float:
        """Seconds between two beats."""
        return self.lease.total_seconds() / 3

    def share(self, now: datetime) -> int:
        live = max(1, len(self.store.live_replicas(now)))
        return max(1, math.ceil(len(self.trackers) / live))

    def beat(self) -> list[str]:
        """Renew, take up to the fair share, give up the surplus; the trackers newly taken."""
        now = self.clock()
        self.store.heartbeat(self.holder, now, self.lease)
        self.store.prune_replicas(now - FORGET_REPLICA)
        share = self.share(now)
        held = [t for t in self.store.held_leases(self.holder, now) if t in self.trackers]
        taken: list[str] = []
        for name in self.trackers:
            if len(held) >= share:
                break
            if name not in held and self.store.take_lease(name, self.holder, now, self.lease):
                held.append(name)
                taken.append(name)
        for name in held[share:]:  # a replica joined: leave it its share
            self.store.release_lease(name, self.holder, now)
        return taken

    def claim(self, name: str) -> bool:
        """Hold the tracker's lease for a pass: renewed when held, taken when free and within
        the share; False when another live replica polls it."""
        now = self.clock()
        if name in self.store.held_leases(self.holder, now):
            return self.store.take_lease(name, self.holder, now, self.lease)
        held = [t for t in self.store.held_leases(self.holder, now) if t in self.trackers]
        if len(held) >= self.share(now):
            return False
        return self.store.take_lease(name, self.holder, now, self.lease)

    def leave(self) -> None:
        self.store.leave(self.holder, self.clock())


class Service:
    def __init__(self, app: App, clock: Callable[[], datetime] = utc_now, *,
                 pass_log: SyncLog | None = None, replica: Replica | None = None) -> None:
        self.app = app
        self.clock = clock
        self.replica = replica
        self.pass_log = pass_log or SyncLog()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.backoff = dict.fromkeys(app.adapters, MIN_WAKE)
        self.scheduler = BlockingScheduler(executors={"default": ThreadPoolExecutor(1)},
                                           job_defaults={"coalesce": True, "max_instances": 1,
                                                         "misfire_grace_time": None},
                                           timezone=timezone.utc)
        self.syncers = {name: Syncer(app.config, app.store, adapter, app.pm, clock=clock, stop=self.stop)
                        for name, adapter in app.adapters.items()}

    def sync(self, names: list[str] | None = None) -> None:
        with self.lock:
            for name in names or list(self.syncers):
                if self.stop.is_set():
                    return
                if self.replica is not None and not self._claimed(name):
                    self._help(name)  # another replica polls it; its work list may want hands
                    continue
                summary = self.syncers[name].run()
                # A tracker that failed is not hammered: its own wake-up backs off.
                self.backoff[name] = MIN_WAKE if summary.complete else min(
                    max(self.backoff[name] * 2, FIRST_BACKOFF), MAX_BACKOFF)
                # Logged once, as an error when it failed (with its reasons), else at info.
                self.pass_log.pass_ended(summary)
                self.arm_wake(name)

    def help(self, name: str) -> None:
        """A help job: work on a tracker's shared list that another replica's pass filled."""
        with self.lock:
            if not self.stop.is_set():
                self._help(name)

    def _help(self, name: str) -> None:
        if self.replica is None:
            return
        store = self.replica.store  # the app's
        try:
            if not store.shared_work or not store.work_waiting([name]):
                return
        except StoreError as exc:
            log.warning("cannot read the work list: %s", exc, extra={"adapter": name})
            return
        summary = self.syncers[name].help()
        if summary.tickets_evaluated or summary.errors:
            level = logging.WARNING if summary.errors else logging.INFO
            log.log(level, "helped with another replica's pass", extra={"adapter": name, "summary": summary.to_json()})

    def _claimed(self, name: str) -> bool:
        assert self.replica is not None
        try:
            return self.replica.claim(name)
        except StoreError as exc:
            log.warning("cannot take the tracker's lease: %s", exc, extra={"adapter": name})
            return False

    def beat(self) -> None:
        """One heartbeat of this replica; a tracker it just took is polled at once."""
        if self.replica is None:
            return
        try:
            taken = self.replica.beat()
        except StoreError as exc:
            log.warning("heartbeat failed: %s", exc)
            return
        for name in taken:
            if name in self.syncers and not self.stop.is_set():
                log.info("lease taken", extra={"adapter": name})
                self.scheduler.add_job(self.sync, "date", run_date=utc_now(), args=[[name]],
                                       id=f"{WAKE_JOB}:{name}", replace_existing=True)
        self._offer_help()

    def _offer_help(self) -> None:
        """A help job for each tracker another replica polls whose shared work list has free
        tickets: one replica's pass over a large tracker is worked on by all of them."""
        if self.replica is None or not self.replica.store.shared_work or self.stop.is_set():
            return
        store = self.replica.store
        try:
            held = set(store.held_leases(self.replica.holder, self.replica.clock()))
            waiting = store.work_waiting([name for name in self.syncers if name not in held])
        except StoreError as exc:
            log.warning("cannot read the work lists: %s", exc)
            return
        for name in waiting:
            if self.scheduler.get_job(f"{HELP_JOB}:{name}") is None:
                self.scheduler.add_job(self.help, "date", run_date=utc_now(), args=[name], id=f"{HELP_JOB}:{name}")

    def heartbeats(self) -> threading.Thread:
        """The replica's heartbeat, on a thread of its own (a long pass never delays it)."""
        def loop() -> None:
            interval = self.replica.interval if self.replica is not None else 1.0
            while not self.stop.is_set():
                self.beat()
                self.stop.wait(interval)
            if self.replica is not None:
                try:
                    self.replica.leave()
                except StoreError as exc:
                    log.warning("cannot give up the leases: %s", exc)

        thread = threading.Thread(target=loop, name="sla-bridge-heartbeat", daemon=True)
        thread.start()
        return thread

    def sync_tickets(self, name: str, ticket_ids: list[str]) -> SyncSummary | None:
        """Sync the tickets a webhook named, now, read fresh; never beside a pass (the lock).

        The cursor is left to the polling passes, which stay the safety net. The
        tracker's wake-up is armed again: the customer's answer moved its next change.
        """
        if name not in self.syncers:
            return None
        with self.lock:
            if self.stop.is_set():
                return None
            summary = self.syncers[name].run_tickets(ticket_ids)
            level = logging.WARNING if summary.errors else logging.INFO
            log.log(level, "webhook sync finished with errors" if summary.errors else "webhook sync finished",
                    extra={"adapter": name, "summary": summary.to_json()})
            self.arm_wake(name)
        return summary

    def next_wakeups(self) -> dict[str, datetime]:
        """When each tracker's next pass is due: its poll or its wake-up, whichever is first."""
        found: dict[str, datetime] = {}
        for job in self.scheduler.get_jobs():
            name = str(job.id).partition(":")[2]
            when = getattr(job, "next_run_time", None)
            if name in self.syncers and isinstance(when, datetime):
                found[name] = min(found.get(name, when), when)
        return found

    def arm_wake(self, name: str) -> None:
        """Schedule the tracker's wake-up at its earliest timed change (or retry)."""
        earliest = self.app.store.earliest_change([name])
        if earliest is None or self.stop.is_set():
            return
        when = max(earliest, self.clock() + self.backoff[name])
        self.scheduler.add_job(self.sync, "date", run_date=when, args=[[name]], id=f"{WAKE_JOB}:{name}",
                               replace_existing=True)

    def install(self) -> None:
        for name, section in self.app.config.file.trackers.items():
            if name in self.syncers:
                self.scheduler.add_job(self.sync, "interval", args=[[name]], id=f"poll:{name}",
                                       seconds=section.poll_interval_seconds, next_run_time=self.clock())

    def run(self) -> None:
        """The scheduler, until ``shutdown``; returns only once no pass is in flight, so the
        store can be closed behind it."""
        try:
            self.scheduler.start()
        except JobLookupError:
            # The scheduler's loop can trip over a job that a shutdown from another thread
            # removed meanwhile: that is a stop, not a failure.
            if not self.stop.is_set():
                raise
        finally:
            with self.lock:  # a pass still running (it saw the stop flag) finishes first
                pass

    def shutdown(self, *_: Any) -> None:
        log.info("stopping: finishing the current ticket")
        self.stop.set()
        threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True).start()


# The JSON log lines are shared by every command: logs.py; imported here for those who used it from here.


def serve(config: Config) -> None:
    install_log_scrubbing()
    # JSON lines at info unless the command line chose otherwise (--log-level, --log-format).
    configure_logging(default_level="info", default_format="json")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)

    from .web import HttpFace, http_settings

    http = http_settings(config)  # a bad [http] (a secret not set) stops before the store is opened
    pass_log = SyncLog()  # each write at info, a failed pass as an error
    app = build_app(config, extra_plugins=[pass_log])
    replica = Replica(app.store, list(app.adapters), timedelta(seconds=config.file.sync.lease_seconds))
    service = Service(app, pass_log=pass_log, replica=replica)
    face = HttpFace(http, app, service, service.clock) if http is not None else None
    signal.signal(signal.SIGTERM, service.shutdown)
    signal.signal(signal.SIGINT, service.shutdown)
    service.install()
    log.info("serving", extra={"adapter": ",".join(app.adapters)})
    log.info("replica %s, lease %ss", replica.holder, config.file.sync.lease_seconds)
    heartbeats = service.heartbeats()
    try:
        if face is not None:
            face.start()
        service.run()
    finally:
        service.stop.set()
        heartbeats.join(timeout=10)  # gives its leases up: another replica polls at once
        if face is not None:
            face.stop()
        app.close()
        log.info("stopped")
