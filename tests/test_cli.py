"""The command line: outputs, error messages on stderr, exit codes 0 / 1 / 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import memory_config
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


# --- issue 12: tracker text as is, plurals, pipes, one form of instants, flags --------------------------------------

MARKUP_TICKETS = """{"tickets": [
 {"id": "MK-1", "title": "Export [urgent] broken", "reporter": "[bob]", "created": "2025-05-06T09:15:00+02:00",
  "status": "waiting_for_customer", "severity": "[p1]",
  "events": [{"type": "label", "at": "2025-05-06T09:20:00+02:00", "label": "[vip]", "added": true, "by": "sam"},
             {"type": "status", "at": "2025-05-06T10:00:00+02:00", "from": "new", "to": "waiting_for_customer",
              "by": "sam", "by_role": "agent"}]},
 {"id": "MK-2", "title": "t", "reporter": "alice", "created": "2025-05-06T09:15:00+02:00",
  "status": "waiting_for_customer", "severity": "bloquante",
  "events": [{"type": "status", "at": "2025-05-06T10:00:00+02:00", "from": "new", "to": "waiting_for_customer",
              "by": "sam", "by_role": "agent"}]}]}"""
INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00$")  # Europe/Paris, to the second


def test_explain_and_evaluate_print_tracker_text_never_as_markup(tmp_path: Path) -> None:
    tickets = tmp_path / "t.json"
    tickets.write_text(MARKUP_TICKETS, encoding="utf-8")
    code, out, _ = run("explain", EXAMPLE, str(tickets), "MK-1", "--at", "2025-05-07T12:00")
    assert code == 0
    assert "by [bob]" in out and "label +[vip]" in out and "unknown severity '[p1]'" in out
    code, out, _ = run("evaluate", EXAMPLE, str(tickets), "--at", "2025-05-07T12:00")
    assert code == 0 and "warning: unknown severity '[p1]'" in out


def test_dry_run_prints_reminder_keys_and_counts_in_good_english(tmp_path: Path) -> None:
    code, out, _ = run("sync", str(memory_config(tmp_path)), "--dry-run", "--at", "2025-05-21T12:00")
    assert code == 0
    assert re.search(r"^would post public reminder \[sample:DEMO-8/reminder/\w+/3\] on sample:DEMO-8$", out, re.M)
    assert re.search(r"^ +1 ticket: label \+sla-hors-perimetre$", out, re.M)
    assert re.search(r"^ +3 tickets: reminder 3$", out, re.M)
    assert "sample: 8 tickets evaluated, 8 read from the tracker; 12 changes planned; 0 errors, 0 conflicts" in out


def test_plural() -> None:
    from sla_bridge.text import plural, writes_text

    assert [plural(n, "ticket") for n in (0, 1, 2)] == ["0 tickets", "1 ticket", "2 tickets"]
    assert plural(1, "entry", "entries") == "1 entry" and plural(3, "entry", "entries") == "3 entries"
    assert writes_text({"comment": 1, "labels": 2, "transition": 1}) == "1 comment, 2 label changes, 1 closure"
    assert writes_text({}) == "no change"


def test_piped_output_is_not_folded_mid_phrase(tmp_path: Path) -> None:
    name = "the-support-team-tracker-with-a-long-name"
    code, out, _ = run("sync", str(memory_config(tmp_path, name)), "--at", "2025-05-21T12:00")
    assert code == 0
    (line,) = [line for line in out.splitlines() if line.startswith(f"{name}: ")]
    assert len(line) > 120 and line.endswith("0 errors, 0 conflicts")
    code, out, _ = run("explain", EXAMPLE, SAMPLES, "DEMO-4", "--at", "2025-05-06T12:00")
    assert all(len(line) <= 160 for line in out.splitlines())
    assert any(len(line) > 80 for line in out.splitlines())  # a long explanation stays on its line


def _instants(data: object) -> list[str]:
    if isinstance(data, dict):
        return [i for v in data.values() for i in _instants(v)]
    if isinstance(data, list):
        return [i for v in data for i in _instants(v)]
    return [data] if isinstance(data, str) and re.match(r"^\d{4}-\d\d-\d\dT", data) else []


def test_every_instant_in_json_has_one_form(tmp_path: Path) -> None:
    config = str(memory_config(tmp_path))
    outputs = [
        run("evaluate", EXAMPLE, SAMPLES, "--at", "2025-05-12T10:30:00Z", "--json"),
        run("explain", EXAMPLE, SAMPLES, "DEMO-7", "--at", "2025-05-16T10:00Z", "--json"),
        run("calendar", EXAMPLE, "add", "2025-03-28T16:00Z", "3h", "--json"),
        run("calendar", EXAMPLE, "between", "2025-03-28T16:00Z", "2025-03-31T09:00:00.5+02:00", "--json"),
        run("sync", config, "--at", "2025-05-21T10:00:00Z", "--json"),
        run("status", config, "--json"),
        run("check-config", EXAMPLE, "--json"),
    ]
    seen = []
    for code, out, err in outputs:
        assert code == 0, err
        seen += _instants(json.loads(out))
    assert len(seen) > 100
    assert [i for i in seen if not INSTANT.match(i)] == []
    explained = json.loads(outputs[1][1])
    assert explained["now"] == "2025-05-16T12:00:00+02:00"  # asked in UTC, written in the calendar's zone
    # "just after the deadline" (a breach begins 1 µs after 12:00) is rounded up: after the deadline
    assert explained["clocks"]["acknowledge"]["breached_at"] == "2025-05-12T12:00:01+02:00"
    assert json.loads(outputs[4][1])[0]["now"] == "2025-05-21T12:00:00+02:00"


def test_sync_tracker_flag_and_the_old_names_still_accepted(tmp_path: Path) -> None:
    config = str(memory_config(tmp_path))
    code, out, err = run("sync", config, "--tracker", "sample", "--dry-run", "--at", "2025-05-21T12:00")
    assert code == 0 and "sample: 8 tickets evaluated" in out and err == ""
    code, _, err = run("sync", config, "--tracker", "jira")
    assert code == 2 and "no tracker named 'jira'; configured: sample" in err
    code, out, err = run("sync", config, "--once", "--adapter", "sample", "--dry-run", "--at", "2025-05-21T12:00")
    assert code == 0 and "sample: 8 tickets evaluated" in out
    assert err == "sla-bridge: warning: --adapter is deprecated: use --tracker NAME\n"
    code, _, err = run("sync", config, "--adapter", "sample", "--tracker", "other")
    assert code == 2 and "name different trackers" in err
    code, out, _ = run("sync", "--help")
    assert "--tracker NAME" in out and "--once" not in out and "--adapter" not in out


def test_demo_config_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "contract.toml"
    bad.write_text(Path(EXAMPLE).read_text(encoding="utf-8").replace('acknowledge = "3h"', 'acknowledge = "-3h"', 1),
                   encoding="utf-8")
    code, out, err = run("demo", "--config", str(bad))
    assert code == 2 and out == ""
    assert err.startswith(f"sla-bridge: error: {bad}: severities.bloquante.acknowledge: expected a positive duration")
    assert "built-in" not in err
    code, _, err = run("demo", "--config", str(tmp_path / "missing.toml"))
    assert code == 2 and f"{tmp_path / 'missing.toml'}: no such configuration file" in err
    broken = tmp_path / "broken.toml"
    broken.write_text("[contract\n", encoding="utf-8")
    code, _, err = run("demo", "--config", str(broken))
    assert code == 2 and f"{broken}: invalid TOML" in err


def test_demo_with_a_good_config_file_runs(tmp_path: Path) -> None:
    good = tmp_path / "contract.toml"
    good.write_text(Path(EXAMPLE).read_text(encoding="utf-8"), encoding="utf-8")
    code, out, _ = run("demo", "--config", str(good))
    assert code == 0 and "4 breaches, 8 reminders sent, 3 automatic closures" in out


def test_help_of_the_new_commands() -> None:
    for args in (["init"], ["plugins"], ["status"], ["sync"], ["serve"]):
        code, out, _ = run(*args, "--help")
        assert code == 0 and "Usage" in out
    code, out, _ = run("--help")
    assert "--log-level" in out and "--log-format" in out
