"""The command line: outputs, error messages on stderr, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sla_bridge.cli import cli

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "config.example.toml")
SAMPLES = str(ROOT / "src" / "sla_bridge" / "data" / "demo-tickets.json")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_check_config_prints_the_policy() -> None:
    code, out, _ = run("check-config", EXAMPLE)
    assert code == 0
    assert "bloquante" in out and "next_minor_re" in out and "Europe/Paris" in out


def test_bad_config_exits_2_with_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text(Path(EXAMPLE).read_text(encoding="utf-8").replace('acknowledge = "3h"', 'acknowledge = 3', 1),
                   encoding="utf-8")
    code, out, err = run("check-config", str(bad))
    assert code == 2
    assert f"{bad}: severities.bloquante.acknowledge: expected a positive duration" in err
    assert out == ""


def test_calendar_add_and_between() -> None:
    code, out, _ = run("calendar", EXAMPLE, "add", "2025-03-28T17:00", "3h")
    assert (code, out.split()[0]) == (0, "2025-03-31T11:00:00+02:00")
    code, out, _ = run("calendar", EXAMPLE, "add", "2025-05-07T17:00:00+02:00", "2d")
    assert out.split()[0] == "2025-05-12T17:00:00+02:00"  # 8 May is a holiday; Friday 9, Monday 12
    code, out, _ = run("calendar", EXAMPLE, "between", "2025-03-31T11:00", "2025-03-28T17:00")
    assert out.startswith("-180 business minutes")


def test_calendar_bad_duration_is_a_usage_error() -> None:
    code, _, err = run("calendar", EXAMPLE, "add", "2025-03-28T17:00", "3 hours")
    assert code == 2 and "DURATION" in err


def test_evaluate_json_is_machine_readable() -> None:
    code, out, _ = run("evaluate", EXAMPLE, SAMPLES, "--at", "2025-05-12T12:30", "--json")
    assert code == 0
    data = {e["ticket"]: e for e in json.loads(out)}
    demo7 = data["json:DEMO-7"]
    assert demo7["clocks"]["acknowledge"]["state"] == "breached"
    assert demo7["clocks"]["acknowledge"]["deadline"] == "2025-05-12T12:00:00+02:00"
    assert "sla-depasse-prise-en-compte" in demo7["desired"]["labels"]
    assert data["json:DEMO-5"]["desired"]["labels"] == ["sla-hors-perimetre"]
    assert data["json:DEMO-6"]["warnings"][0].startswith("unknown severity 'urgentissime'")


def test_evaluate_tables() -> None:
    code, out, _ = run("evaluate", EXAMPLE, SAMPLES, "--at", "2025-05-12T12:30")
    assert code == 0
    assert "json:DEMO-2" in out and "breached" in out


def test_explain_tells_why() -> None:
    code, out, _ = run("explain", EXAMPLE, SAMPLES, "DEMO-4", "--at", "2025-05-06T12:00")
    assert code == 0
    assert "created out of hours" not in out  # 17:45 is open
    assert "not counted: 2025-05-01 (" in out  # the 1 May holiday is explained
    assert "no fix version" in out


def test_explain_unknown_ticket_exits_2() -> None:
    code, _, err = run("explain", EXAMPLE, SAMPLES, "NOPE-1")
    assert code == 2 and "no ticket with id 'NOPE-1'" in err


@pytest.mark.parametrize(("content", "expected"), [
    ("{not json", "invalid JSON at line 1 column 2"),
    ('[{"id": "A-1", "status": "new", "created": "2025-01-01T10:00"}]', "A-1.created: '2025-01-01T10:00' has no time zone"),
    ('[{"id": "A-1", "status": "new", "created": "2025-01-01T10:00Z", "events": [{"type": "vote", "at": "2025-01-01T10:00Z"}]}]',
     "events[0].type: expected one of status, severity, label, field, comment, got 'vote'"),
])
def test_malformed_tickets_are_reported_with_the_field(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(content, encoding="utf-8")
    code, _, err = run("evaluate", EXAMPLE, str(path))
    assert code == 2
    assert expected in err


def test_bad_at_is_a_usage_error() -> None:
    code, _, err = run("evaluate", EXAMPLE, SAMPLES, "--at", "yesterday")
    assert code == 2 and "--at" in err


def test_demo_runs_the_contract_over_three_weeks() -> None:
    code, out, _ = run("demo")
    assert code == 0
    assert "DEMO-3   alice answered: 'Testing it now, I will confirm tomorrow.'" in out
    assert "Fri 2025-05-09 14:20  DEMO-3   reminder 1 sent to alice" in out  # Thu 8 May is a holiday
    assert "Wed 2025-05-14 14:20  DEMO-3   closed automatically" in out
    assert "Tue 2025-05-20 10:00  DEMO-2   closed automatically" in out
    assert "Mon 2025-05-12 12:00  DEMO-7   acknowledge BREACHED" in out  # created on a Saturday
    assert "4 breaches, 8 reminders sent, 3 automatic closures" in out
    assert "Mon 2025-04-28 08:00  DEMO-8   reminder 3 sent to claire" in out  # older than the first sync: one
    assert "Tue 2025-04-29 09:00  DEMO-8   closed automatically" in out  # a business day after it


def test_help_everywhere() -> None:
    for args in ([], ["calendar", EXAMPLE], ["evaluate"], ["explain"], ["demo"], ["check-config"]):
        code, out, _ = run(*args, "--help")
        assert code == 0 and "Usage" in out
