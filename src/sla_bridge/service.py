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

from .secrets import install_log_scrubbing, scrub
from .app import App, build_app
from .config import Config
from .sync import Syncer

log = logging.getLogger("sla_bridge.service")
WAKE_JOB = "wake"
MIN_WAKE = timedelta(seconds=1)
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(minutes=10)


class Service:
    def __init__(self, app: App, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.app = app
        self.clock = clock
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
                # A pass with errors is an operator's concern, not an information.
                level = logging.WARNING if summary.errors else logging.INFO
                log.log(level, "sync finished with errors" if summary.errors else "sync finished",
                        extra={"adapter": name, "summary": summary.to_json()})
                self.arm_wake(name)

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


class JsonFormatter(logging.Formatter):
    """One JSON object per line: structured logs for the service's supervisor."""

    def format(self, record: logging.LogRecord) -> str:
        import json

        data: dict[str, Any] = {"at": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
                                "level": record.levelname.lower(), "logger": record.name,
                                "message": record.getMessage()}
        for key in ("adapter", "summary"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["error"] = scrub(record.exc_text or self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False)


def serve(config: Config) -> None:
    install_log_scrubbing()
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    app = build_app(config)
    service = Service(app)
    signal.signal(signal.SIGTERM, service.shutdown)
    signal.signal(signal.SIGINT, service.shutdown)
    service.install()
    log.info("serving", extra={"adapter": ",".join(app.adapters)})
    try:
        service.scheduler.start()
    finally:
        app.close()
        log.info("stopped")
