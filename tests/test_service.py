"""The scheduled service, the status command and the sync command line."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from click.testing import CliRunner

from sla_bridge.adapters.memory import MemoryAdapter, MemoryTracker
from sla_bridge.app import App
from sla_bridge.cli import cli
from sla_bridge.demo import builtin_config, sample_tickets
from sla_bridge.plugins import build_plugin_manager
from sla_bridge.service import WAKE_JOB, Service
from sla_bridge.store import Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "src" / "sla_bridge" / "data" / "demo-tickets.json"
T = datetime.fromisoformat


def memory_config(tmp_path: Path) -> Path:
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^store = .*$', 'store = "state.sqlite"', example, count=1) + f"""
[trackers.sample]
adapter = "memory"
closing_status = "closed"
poll_interval_seconds = 60
statuses = {{ new = ["new"], in_progress = ["in_progress"], waiting_for_customer = ["waiting_for_customer"], workaround_delivered = ["workaround_delivered"], resolved = ["resolved"], closed = ["closed"] }}
options = {{ tickets = "{SAMPLES}" }}
"""
    path = tmp_path / "sla.toml"
    path.write_text(text, encoding="utf-8")
    return path


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
    assert service.scheduler.get_job(WAKE_JOB).trigger.run_date == earliest
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
    assert summary["tickets_evaluated"] == 7 and summary["applied"]["labels"] == 7

    status = runner.invoke(cli, ["status", str(config), "--json"])
    report = json.loads(status.stdout)
    assert report["tickets"] == 7
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
                if '"sync finished"' in log.read_text():
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
    finished = next(e for e in entries if e["message"] == "sync finished")
    assert finished["summary"]["complete"] is True
    store = Store(tmp_path / "state.sqlite")
    assert sum(1 for _ in store.tickets()) == 7
    store.close()
