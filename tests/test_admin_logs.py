"""Logs as an admin watches them: --log-level / --log-format on every command, each write and each
pass logged by the built-in plugin, retries with their wait, secrets never in a line."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
import requests
import responses
from click.testing import CliRunner

from conftest import memory_config
from sla_bridge import logs
from sla_bridge.actions import PostComment
from sla_bridge.cli import cli
from sla_bridge.httpclient import HttpClient, RetryPolicy
from sla_bridge.model import Ticket
from sla_bridge.secrets import register
from sla_bridge.sync import SyncSummary

AT = "2025-05-21T12:00"


@pytest.fixture(autouse=True)
def reset_logging() -> Iterator[None]:
    yield
    logs.reset()
    assert not [h for h in logging.getLogger().handlers if isinstance(h, logs.StderrHandler)]


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_by_default_a_sync_logs_only_problems(tmp_path: Path) -> None:
    code, out, err = invoke("sync", str(memory_config(tmp_path)), "--at", AT)
    assert code == 0 and "sample: 8 tickets evaluated" in out
    assert err == ""


def test_info_logs_each_write_with_ticket_and_kind_then_the_pass(tmp_path: Path) -> None:
    code, _, err = invoke("--log-level", "info", "sync", str(memory_config(tmp_path)), "--at", AT)
    assert code == 0
    lines = err.splitlines()
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (INFO|WARNING|ERROR) [\w.]+: ", line) for line in lines)
    reminder = [line for line in lines if "sample:DEMO-8: post public reminder" in line]
    assert reminder and "[sample:DEMO-8/reminder/" in reminder[0]  # the key, as is
    assert "INFO sla_bridge.sync: sample: pass finished: 8 tickets evaluated" in err
    assert "3 comments, 1 due date, 8 label changes" in err


def test_log_options_work_after_the_command_and_from_the_environment(tmp_path: Path) -> None:
    config = str(memory_config(tmp_path))
    code, _, err = invoke("sync", config, "--at", AT, "--log-format", "json", "--log-level", "info")
    assert code == 0
    entries = [json.loads(line) for line in err.splitlines()]
    writes = [e for e in entries if "kind" in e]
    assert {e["kind"] for e in writes} == {"labels", "comment", "due_date"}
    comment = next(e for e in writes if e["kind"] == "comment")
    assert comment["ticket"] == "DEMO-8" and comment["adapter"] == "sample" and comment["level"] == "info"
    assert comment["action"].startswith("post public reminder [sample:DEMO-8/reminder/")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", comment["at"])
    code, _, err = invoke("sync", config, "--at", AT,
                          env={"SLA_BRIDGE_LOG_LEVEL": "INFO", "SLA_BRIDGE_LOG_FORMAT": "json"})
    assert code == 0 and json.loads(err.splitlines()[-1])["message"].startswith("sample: pass finished")


def test_the_handler_is_taken_off_when_the_command_ends(tmp_path: Path) -> None:
    level = logging.getLogger().level
    assert invoke("--log-level", "debug", "plugins")[0] == 0
    assert not [h for h in logging.getLogger().handlers if isinstance(h, logs.StderrHandler)]
    assert logging.getLogger().level == level


def test_a_bad_log_level_is_a_usage_error() -> None:
    code, _, err = invoke("--log-level", "verbose", "plugins")
    assert code == 2 and "--log-level" in err


def test_serve_defaults_to_json_at_info_unless_the_command_line_chose() -> None:
    logs.choose(None, None)
    handler = logs.configure(default_level="info", default_format="json")
    assert isinstance(handler.formatter, logs.JsonFormatter) and logging.getLogger().level == logging.INFO
    logs.choose("warning", "text")
    handler = logs.configure(default_level="info", default_format="json")
    assert isinstance(handler.formatter, logs.TextFormatter) and logging.getLogger().level == logging.WARNING
    assert [h for h in logging.getLogger().handlers if isinstance(h, logs.StderrHandler)] == [handler]


def summary(errors: list[str], complete: bool) -> SyncSummary:
    now = datetime(2025, 6, 2, 8, tzinfo=timezone.utc)
    s = SyncSummary("rm", now, now, False, finished=now, complete=complete, tickets_evaluated=1)
    s.errors.extend(errors)
    return s


def test_a_pass_is_logged_once_and_a_failed_one_as_an_error(caplog: pytest.LogCaptureFixture) -> None:
    plugin = logs.SyncLog()
    caplog.set_level(logging.INFO)
    ok, failed = summary([], True), summary(["rm: tracker unavailable, will retry next pass: HTTP 503"], False)
    plugin.sla_bridge_sync_finished("rm", ok)
    plugin.pass_ended(ok)  # the command line's call after the hook's: not twice
    plugin.pass_ended(failed)
    records = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "sla_bridge.sync"]
    assert records == [
        ("INFO", "rm: pass finished: 1 ticket evaluated, 0 read; no change"),
        ("ERROR", "rm: pass failed: rm: tracker unavailable, will retry next pass: HTTP 503")]
    many = summary([f"rm:{i}: skipped: HTTP 403" for i in range(5)], True)
    plugin.pass_ended(many)
    assert caplog.records[-1].getMessage() == ("rm: pass finished with 5 errors: rm:0: skipped: HTTP 403;"
                                               " rm:1: skipped: HTTP 403; rm:2: skipped: HTTP 403 (and 2 more)")
    assert caplog.records[-1].errors == list(many.errors)  # type: ignore[attr-defined]


def test_each_write_is_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    ticket = Ticket("rm", "42", "t", None, datetime(2025, 6, 2, 8, tzinfo=timezone.utc), "new", "bloquante")
    logs.SyncLog().sla_bridge_action_applied(ticket, PostComment("rm:42/reminder/x/1", "body", True, "reminder"),
                                             "rm")
    (record,) = caplog.records
    assert record.getMessage() == "rm:42: post public reminder [rm:42/reminder/x/1]"
    assert (record.levelname, record.ticket, record.kind) == ("INFO", "42", "comment")  # type: ignore[attr-defined]


@responses.activate
def test_a_retry_is_logged_with_its_wait(caplog: pytest.LogCaptureFixture) -> None:
    responses.get("https://rm.example/issues.json", status=503, headers={"Retry-After": "7"}, body="busy")
    responses.get("https://rm.example/issues.json", json={"issues": []})
    slept: list[float] = []
    client = HttpClient("https://rm.example", {}, "rm", retry=RetryPolicy(sleep=slept.append),
                        session=requests.Session())
    with caplog.at_level(logging.WARNING):
        client.request("GET", "/issues.json", what="list issues", retry=True)
    (record,) = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert record.getMessage() == "rm: list issues: HTTP 503 busy; retrying in 7 s (attempt 1 of 4)"
    assert record.wait_seconds == 7 and 7 in slept  # type: ignore[attr-defined]


def test_secrets_never_reach_a_log_line_text_or_json() -> None:
    secret = "tok-9f8e7d6c5b4a"
    register(secret)
    record = logging.LogRecord("sla_bridge.sync", logging.ERROR, __file__, 1, f"failed with {secret}", (), None)
    record.errors = [f"HTTP 401 for Bearer {secret}"]
    record.summary = {"errors": [f"rm: {secret}"]}
    for formatter in (logs.JsonFormatter(), logs.TextFormatter()):
        line = formatter.format(record)
        assert secret not in line and "***" in line
    data = json.loads(logs.JsonFormatter().format(record))
    assert data["errors"] == ["HTTP 401 for Bearer ***"] and data["summary"] == {"errors": ["rm: ***"]}
