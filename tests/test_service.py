"""The scheduled service, the status command and the sync command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from click.testing import CliRunner

from conftest import memory_config as shared_memory_config
from sla_bridge.actions import Applied
from sla_bridge.adapters.base import ChangedTicket, PermanentError, TransientError
from sla_bridge.adapters.memory import MemoryAdapter, MemoryTracker
from sla_bridge.adapters.redmine import RedmineAdapter
from sla_bridge.app import App
from sla_bridge.cli import cli
from sla_bridge.config import TrackerSection
from sla_bridge.demo import builtin_config, sample_tickets
from sla_bridge.httpclient import RetryPolicy
from sla_bridge.model import Comment, Role, StatusChange, Ticket
from sla_bridge.plugins import build_plugin_manager
from sla_bridge.service import WAKE_JOB, Service
from sla_bridge.store import Store
from sla_bridge.identity import Person

ALICE = Person(id="3", login="alice", name="Alice Martin")  # a customer: her name is not her login

T = datetime.fromisoformat


def memory_config(tmp_path: Path) -> Path:
    return shared_memory_config(tmp_path, extra="poll_interval_seconds = 60")


def test_wake_job_is_armed_at_the_earliest_timed_change() -> None:
    now = [T("2025-05-06T12:00:00+02:00")]
    cfg = builtin_config()
    tracker = MemoryTracker(lambda: now[0], sample_tickets())
    app = App(cfg, build_plugin_manager(load_entry_points=False), {"demo": MemoryAdapter("demo", tracker)},
              Store(":memory:"))
    service = Service(app, clock=lambda: now[0])
    service.install()
    assert service.scheduler.get_job("poll:demo") is not None
    service.sync()
    earliest = app.store.earliest_change()
    assert earliest is not None and earliest > now[0]
    assert service.scheduler.get_job(f"{WAKE_JOB}:demo").trigger.run_date == earliest
    service.stop.set()
    service.sync()  # a stopping service starts no pass
    assert app.store.cursor("demo").last_started is not None


def test_sync_dry_run_then_real_then_status(tmp_path: Path) -> None:
    config = memory_config(tmp_path)
    runner = CliRunner()
    dry = runner.invoke(cli, ["sync", str(config), "--once", "--dry-run", "--at", "2025-05-21T12:00"])
    assert dry.exit_code == 0, dry.output
    assert "would post public reminder" in dry.stdout
    assert not (tmp_path / "state.sqlite").exists() or json.loads(runner.invoke(
        cli, ["status", str(config), "--json"]).stdout)["tickets"] == 0

    real = runner.invoke(cli, ["sync", str(config), "--once", "--at", "2025-05-21T12:00", "--json"])
    assert real.exit_code == 0, real.output
    summary = json.loads(real.stdout)[0]
    assert summary["tickets_evaluated"] == 8 and summary["applied"]["labels"] == 8

    status = runner.invoke(cli, ["status", str(config), "--json"])
    report = json.loads(status.stdout)
    assert report["tickets"] == 8
    assert {r["ticket"] for r in report["breached"]} >= {"sample:DEMO-7", "sample:DEMO-2"}
    table = runner.invoke(cli, ["status", str(config)])
    assert "Breached" in table.stdout and "sample: last sync" in table.stdout


def test_status_without_a_store_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["status", str(memory_config(tmp_path))])
    assert result.exit_code == 2 and "run `sla-bridge sync" in result.stderr


def test_sync_with_an_unknown_adapter_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["sync", str(memory_config(tmp_path)), "--once", "--adapter", "jira"])
    assert result.exit_code == 2 and "no tracker named 'jira'; configured: sample" in result.stderr


def test_serve_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    config = memory_config(tmp_path)
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "sla_bridge.cli", "serve", str(config)],
                                   stderr=stderr, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            for _ in range(300):  # bounded: 30 s for the first pass to finish
                if ': pass finished: ' in log.read_text():
                    break
                time.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            process.kill()
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    messages = [entry["message"] for entry in entries]
    assert messages[0] == "serving" and messages[-1] == "stopped", messages
    assert not [e for e in entries if e["level"] == "error"], entries
    finished = next(e for e in entries if ": pass finished: " in e["message"])
    assert finished["summary"]["complete"] is True
    store = Store(tmp_path / "state.sqlite")
    assert sum(1 for _ in store.tickets()) == 8
    store.close()


# --- review probes: wake-up, one tracker's failure, clean stop -----------------------------------------------------

def waiting(id: str = "1") -> Ticket:
    """A bloquante ticket waiting for the customer since Monday 2 June 2025, 11:00 (reminder 1: Tuesday 11:00)."""
    return Ticket("demo", id, "Server down", ALICE, T("2025-06-02T10:00:00+02:00"), "waiting_for_customer",
                  "bloquante", events=(Comment(T("2025-06-02T10:30:00+02:00"), "sam", Role.AGENT, True, "on it"),
                                       StatusChange(T("2025-06-02T11:00:00+02:00"), "new", "waiting_for_customer",
                                                    "sam", Role.AGENT)))


def service_with(adapters: dict[str, Any], now: list[datetime], store: Store | None = None) -> tuple[Service, list[datetime]]:
    app = App(builtin_config(), build_plugin_manager(load_entry_points=False), adapters, store or Store(":memory:"))
    service = Service(app, clock=lambda: now[0])
    armed: list[datetime] = []
    service.scheduler.add_job = lambda func, trigger, run_date, **kw: armed.append(run_date)
    return service, armed


def test_the_wake_up_moves_to_the_next_reminder_after_each_pass() -> None:
    now = [T("2025-06-02T12:00:00+02:00")]
    service, armed = service_with({"demo": MemoryAdapter("demo", MemoryTracker(lambda: now[0], [waiting()]))}, now)
    service.sync()
    assert armed == [T("2025-06-03T11:00:00+02:00")]
    now[0] = armed[-1]
    service.sync()
    assert armed[-1] == T("2025-06-04T11:00:00+02:00"), "reminder 2, one business day after reminder 1"


def test_a_deleted_ticket_does_not_make_the_service_spin() -> None:
    now = [T("2025-06-02T12:00:00+02:00")]
    tracker = MemoryTracker(lambda: now[0], [waiting()])
    service, armed = service_with({"demo": MemoryAdapter("demo", tracker)}, now)
    service.sync()
    del tracker.tickets["1"]  # deleted on the tracker
    now[0] = T("2025-06-03T11:00:00+02:00")
    service.sync()
    assert armed[-1] - now[0] > timedelta(minutes=1)


def test_rows_of_a_removed_tracker_do_not_make_the_service_spin() -> None:
    now = [T("2025-06-03T12:00:00+02:00")]
    store = Store(":memory:")
    store.save_ticket("old", waiting(), Applied(), {}, T("2025-06-03T11:00:00+02:00"))
    service, armed = service_with({"demo": MemoryAdapter("demo", MemoryTracker(lambda: now[0]))}, now, store)
    service.sync()
    assert not armed or armed[-1] - now[0] > timedelta(minutes=1)


def test_a_permanent_error_of_one_tracker_does_not_stop_the_others() -> None:
    class BadKey(MemoryAdapter):
        def changed_since(self, cursor: datetime | None) -> Iterator[ChangedTicket]:
            raise PermanentError("a: HTTP 401: authentication failed")

    now = [T("2025-06-02T12:00:00+02:00")]
    service, armed = service_with({"a": BadKey("a", MemoryTracker(lambda: now[0])),
                                   "demo": MemoryAdapter("demo", MemoryTracker(lambda: now[0], [waiting()]))}, now)
    service.sync()
    store = service.app.store
    assert store.cursor("a").last_summary["errors"] == ["a: HTTP 401: authentication failed"]
    assert store.ticket("demo", "1") is not None and armed


@responses.activate
def test_a_tracker_answering_html_does_not_stop_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "http://redmine.test"
    monkeypatch.setenv("SLA_TEST_REDMINE_KEY", "k3y")
    responses.get(f"{url}/issues.json", body="<html><body>Please sign in</body></html>", status=200,
                  content_type="text/html")
    section = TrackerSection.model_validate({"adapter": "redmine", "statuses": {"new": ["New"]},
                                             "closing_status": "Closed", "agents": ["role:Support"], "options": {
                                                 "url": url, "api_key": {"env": "SLA_TEST_REDMINE_KEY"},
                                                 "labels_field": 1}})
    redmine = RedmineAdapter("rm", section, builtin_config(), retry=RetryPolicy(attempts=1, sleep=lambda _: None))
    now = [T("2025-06-02T12:00:00+02:00")]
    service, _ = service_with({"rm": redmine,
                               "demo": MemoryAdapter("demo", MemoryTracker(lambda: now[0], [waiting()]))}, now)
    try:
        service.sync()
    finally:
        store = service.app.store
        assert store.ticket("demo", "1") is not None, "the other tracker is synced"
        assert store.cursor("rm").last_summary.get("errors"), "the failure is recorded for `status`"


def test_serve_closes_the_store_only_after_the_pass_in_flight(tmp_path: Path) -> None:
    """SIGTERM while a tracker call is in flight: the ticket is finished, then the store is closed."""
    real_now = datetime.now(UTC)
    tracker = MemoryTracker(lambda: datetime.now(UTC),
                            [Ticket("demo", str(i), "t", ALICE, real_now - timedelta(minutes=5), "new", "bloquante")
                             for i in (1, 2)])
    inside, release, order = threading.Event(), threading.Event(), []

    class Slow(MemoryAdapter):
        def fetch(self, ticket_id: str) -> Ticket:
            inside.set()
            release.wait(10)
            return super().fetch(ticket_id)

    app = App(builtin_config(), build_plugin_manager(load_entry_points=False), {"demo": Slow("demo", tracker)},
              Store(tmp_path / "state.sqlite"))
    service = Service(app)
    service.scheduler.add_job(service.sync, "date", run_date=datetime.now(UTC))
    service.scheduler.add_job(lambda: None, "interval", seconds=0.1)  # the scheduler's loop keeps waking up
    syncer = service.syncers["demo"]
    run = syncer.run

    def recording_run(*args: Any, **kwargs: Any) -> Any:
        summary = run(*args, **kwargs)
        order.append("pass ended")
        return summary

    syncer.run = recording_run  # type: ignore[method-assign]

    def serve() -> None:  # as `serve` does
        try:
            service.run()
        finally:
            order.append("store closed")
            app.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert inside.wait(10)
        service.shutdown()
        time.sleep(0.3)  # several wake-ups of the scheduler's loop while the call is in flight
    finally:
        release.set()
        thread.join(10)
    assert order == ["pass ended", "store closed"]
    store = Store(tmp_path / "state.sqlite")
    assert [r.ticket_id for r in store.tickets()] == ["1"], "the ticket in flight was finished, the next one not"
    assert store.cursor("demo").last_summary["complete"] is False and store.cursor("demo").cursor is None
    store.close()


# --- review probes: backoff of the wake-up while a tracker fails -----------------------------------------------------

class Down(MemoryAdapter):
    """A tracker that is down: the change query fails with a transient error."""

    down = True

    def changed_since(self, cursor: datetime | None) -> Iterator[ChangedTicket]:
        if self.down:
            raise TransientError("502 Bad Gateway")
        return super().changed_since(cursor)


def test_the_wake_up_backs_off_while_a_tracker_fails_then_resets() -> None:
    now = [T("2025-06-03T12:00:00+02:00")]
    store = Store(":memory:")
    store.save_ticket("demo", waiting(), Applied(), {}, T("2025-06-03T11:00:00+02:00"))  # due: reminder 1
    down = Down("demo", MemoryTracker(lambda: now[0], [waiting()]))
    service, armed = service_with({"demo": down}, now, store)
    delays = []
    for _ in range(8):
        service.sync()
        delays.append(armed[-1] - now[0])
        now[0] = armed[-1]
    assert delays == [timedelta(seconds=s) for s in (30, 60, 120, 240, 480, 600, 600, 600)]
    down.down = False
    service.sync()
    # Reminder 1 went out late, at 12:45:30 after the outage: reminder 2 keeps the contract's
    # one business day after it (catch_up = "collapse"), not its 11:00 contract date.
    assert armed[-1] == T("2025-06-04T12:45:30+02:00"), "back to the next timed change: reminder 2"
    assert store.ticket("demo", "1").applied != Applied()  # type: ignore[union-attr]
    down.down = True
    now[0] = T("2025-06-04T12:45:30+02:00")
    service.sync()
    assert armed[-1] - now[0] == timedelta(seconds=30), "a new failure starts again at 30 s"


def test_a_busy_tracker_backs_off_too(tmp_path: Path) -> None:
    now = [T("2025-06-03T12:00:00+02:00")]
    store = Store(tmp_path / "state.sqlite")
    store.save_ticket("demo", waiting(), Applied(), {}, T("2025-06-03T11:00:00+02:00"))
    service, armed = service_with({"demo": MemoryAdapter("demo", MemoryTracker(lambda: now[0], [waiting()]))},
                                  now, store)
    with Store(tmp_path / "state.sqlite").lock("demo"):  # a cron `sync --once` holds the tracker
        service.sync()
    assert armed[-1] - now[0] == timedelta(seconds=30)
    assert store.ticket("demo", "1").applied == Applied(), "nothing done while the other pass runs"  # type: ignore[union-attr]


def test_one_tracker_down_does_not_make_the_service_spin_when_another_is_healthy() -> None:
    now = [T("2025-06-03T12:00:00+02:00")]
    store = Store(":memory:")
    store.save_ticket("a", replace(waiting(), tracker="a"), Applied(), {}, T("2025-06-03T11:00:00+02:00"))
    service, armed = service_with({"a": Down("a", MemoryTracker(lambda: now[0], [waiting()])),
                                   "demo": MemoryAdapter("demo", MemoryTracker(lambda: now[0], [waiting("2")]))},
                                  now, store)
    service.sync()
    assert armed[-1] - now[0] >= timedelta(seconds=30)
    service.sync(["demo"])  # the healthy tracker's poll job
    assert armed[-1] - now[0] >= timedelta(seconds=30)
