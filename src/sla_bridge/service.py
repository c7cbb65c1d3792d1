"""``sla-bridge serve``: the scheduled service (APScheduler).

One poll job per tracker at its configured interval, and one wake-up job per
tracker at its earliest ``next_change_at`` (or retry) in the store, re-armed after
every pass, so a reminder goes out at its instant without a loop over every
ticket. A tracker whose pass failed backs off (30 s doubling to 10 min) without
slowing the others. Passes never
overlap (one worker thread, coalesced jobs). SIGTERM/SIGINT set a stop flag the
sync checks between tickets, so the current ticket is finished and the store
stays consistent; then the scheduler shuts down.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from .secrets import install_log_scrubbing
from .app import App, build_app
from .logs import JsonFormatter, SyncLog, configure as configure_logging  # noqa: F401 - JsonFormatter: moved
from .config import Config
from .sync import SyncSummary, Syncer

log = logging.getLogger("sla_bridge.service")
WAKE_JOB = "wake"
MIN_WAKE = timedelta(seconds=1)
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(minutes=10)


class Service:
    def __init__(self, app: App, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc), *,
                 pass_log: SyncLog | None = None) -> None:
        self.app = app
        self.clock = clock
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
                summary = self.syncers[name].run()
                # A tracker that failed is not hammered: its own wake-up backs off.
                self.backoff[name] = MIN_WAKE if summary.complete else min(
                    max(self.backoff[name] * 2, FIRST_BACKOFF), MAX_BACKOFF)
                # Logged once, as an error when it failed (with its reasons), else at info.
                self.pass_log.pass_ended(summary)
                self.arm_wake(name)

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
    service = Service(app, pass_log=pass_log)
    face = HttpFace(http, app, service, service.clock) if http is not None else None
    signal.signal(signal.SIGTERM, service.shutdown)
    signal.signal(signal.SIGINT, service.shutdown)
    service.install()
    log.info("serving", extra={"adapter": ",".join(app.adapters)})
    try:
        if face is not None:
            face.start()
        service.scheduler.start()
    finally:
        if face is not None:
            face.stop()
        app.close()
        log.info("stopped")
