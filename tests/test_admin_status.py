"""``sla-bridge status`` as an admin uses it: lists, filters, order, limit, and the exit code of a monitoring check."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from sla_bridge.actions import Applied
from sla_bridge.cli import cli
from sla_bridge.identity import Person
from sla_bridge.model import Ticket
from sla_bridge.store import Store

ROOT = Path(__file__).resolve().parent.parent
T = datetime.fromisoformat
CUSTOMER = Person(id="3", login="alice", name="Alice Martin")


def config(tmp_path: Path) -> Path:
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^store = .*$', 'store = "state.sqlite"', example, count=1)
    path = tmp_path / "sla.toml"
    path.write_text(text, encoding="utf-8")
    return path


def clock(state: str, deadline: str | None) -> dict[str, object]:
    return {"state": state, "deadline": deadline, "breached_under": None}


def save(store: Store, adapter: str, ticket_id: str, title: str, severity: str, clocks: dict[str, object],
         next_change: str | None = None) -> None:
    ticket = Ticket(adapter, ticket_id, title, CUSTOMER, T("2025-03-03T10:00:00+01:00"), "in_progress", severity,
                    updated=T("2025-03-03T10:00:00+01:00"))
    due = min((c["deadline"] for c in clocks.values() if c["deadline"]), key=T, default=None)  # type: ignore[index]
    store.save_ticket(adapter, ticket, Applied(), {"severity": severity, "status": "in_progress", "clocks": clocks,
                                                   "due_at": due, "next_change_at": next_change, "warnings": []},
                      T(next_change) if next_change else None)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A store with tickets of two trackers, two deadlines in the hour that happens twice on 26 October."""
    path = config(tmp_path)
    store = Store(tmp_path / "state.sqlite")
    # Breached on acknowledge AND at risk on workaround: listed in both.
    save(store, "rm", "1", "Export [urgent] broken", "bloquante",
         {"acknowledge": clock("breached", "2025-03-03T13:00:00+01:00"),
          "workaround": clock("at_risk", "2025-04-02T10:00:00+02:00")}, "2025-04-01T09:00:00+02:00")
    # As text "02:15+01:00" sorts before "02:30+02:00"; as instants (01:15Z, 00:30Z) it is after.
    save(store, "rm", "2", "Login fails", "majeure",
         {"acknowledge": clock("at_risk", "2025-10-26T02:15:00+01:00")}, "2025-10-26T02:10:00+01:00")
    save(store, "rm", "3", "Slow page", "mineure",
         {"acknowledge": clock("at_risk", "2025-10-26T02:30:00+02:00")}, "2025-10-26T02:20:00+02:00")
    save(store, "jira", "SUP-4", "Crash", "bloquante",
         {"acknowledge": clock("breached", "2025-03-01T10:00:00+01:00")})
    for name in ("rm", "jira"):
        store.sync_started(name, T("2025-03-31T10:00:00+02:00"))
        store.sync_finished(name, T("2025-03-31T10:01:00+02:00"), T("2025-03-31T10:00:00+02:00"),
                            {"complete": True, "applied": {"labels": 2}, "errors": []})
    store.close()
    return path


def status(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["status", *args])
    return result.exit_code, result.stdout, result.stderr


def test_at_risk_is_shown_even_when_another_clock_of_the_ticket_is_breached(state: Path) -> None:
    code, out, _ = status(str(state), "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] is True
    assert "rm:1" in [r["ticket"] for r in report["breached"]]
    at_risk = {r["ticket"]: r for r in report["at_risk"]}
    assert at_risk["rm:1"]["clocks"] == ["workaround"]
    assert at_risk["rm:1"]["deadline"] == "2025-04-02T10:00:00+02:00"


def test_lists_are_sorted_by_deadline_as_instants_not_as_text(state: Path) -> None:
    report = json.loads(status(str(state), "--json")[1])
    assert [r["ticket"] for r in report["at_risk"]] == ["rm:1", "rm:3", "rm:2"]
    assert [r["ticket"] for r in report["breached"]] == ["jira:SUP-4", "rm:1"]
    assert [r["ticket"] for r in report["next_changes"]] == ["rm:1", "rm:3", "rm:2"]
    # every instant in the calendar's zone with its offset
    assert [r["deadline"] for r in report["at_risk"]][1:] == ["2025-10-26T02:30:00+02:00", "2025-10-26T02:15:00+01:00"]
    assert report["syncs"][0]["last_finished"] == "2025-03-31T10:01:00+02:00"


def test_filters_by_tracker_state_and_severity(state: Path) -> None:
    def tickets(*args: str) -> set[str]:
        report = json.loads(status(str(state), "--json", *args)[1])
        return {r["ticket"] for name in ("breached", "at_risk", "next_changes") for r in report[name]}

    assert tickets("--tracker", "jira") == {"jira:SUP-4"}
    assert tickets("--severity", "mineure", "--severity", "majeure") == {"rm:2", "rm:3"}
    assert tickets("--state", "breached") == {"rm:1", "jira:SUP-4"}
    assert tickets("--tracker", "rm", "--state", "breached") == {"rm:1"}
    report = json.loads(status(str(state), "--json", "--tracker", "jira")[1])
    assert [s["tracker"] for s in report["syncs"]] == ["jira"] and report["tickets"] == 1


def test_unknown_filter_values_are_usage_errors(state: Path) -> None:
    code, _, err = status(str(state), "--tracker", "nope")
    assert code == 2 and "unknown 'nope'; known: jira, rm" in err
    code, _, err = status(str(state), "--severity", "urgent")
    assert code == 2 and "known: bloquante, majeure, mineure" in err
    code, _, err = status(str(state), "--state", "late")
    assert code == 2 and "--state" in err


def test_limit_cuts_each_list_and_says_so(state: Path) -> None:
    report = json.loads(status(str(state), "--json", "--limit", "1")[1])
    assert [r["ticket"] for r in report["at_risk"]] == ["rm:1"] and report["counts"]["at_risk"] == 3
    code, out, _ = status(str(state), "--limit", "1")
    assert code == 0 and "... and 2 more (--limit)" in out
    assert len(json.loads(status(str(state), "--json", "--limit", "0")[1])["at_risk"]) == 3


def test_tracker_text_is_printed_as_is(state: Path) -> None:
    code, out, _ = status(str(state))
    assert "Export [urgent] broken" in out
    assert "store " in out and ": 4 tickets" in out


@pytest.mark.parametrize("summary", [{"complete": False, "errors": ["rm: tracker unavailable, will retry next pass:"
                                                                    " HTTP 503"], "applied": {}},
                                     {"complete": True, "errors": ["rm:7: skipped: HTTP 403"], "applied": {}}])
def test_a_failed_last_pass_makes_status_exit_1(state: Path, summary: dict[str, object]) -> None:
    store = Store(state.parent / "state.sqlite")
    store.sync_started("rm", T("2025-04-01T10:00:00+02:00"))
    store.sync_finished("rm", T("2025-04-01T10:01:00+02:00"), None, summary)
    store.close()
    code, out, _ = status(str(state), "--json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    assert [s["tracker"] for s in report["syncs"] if s["failed"]] == ["rm"]
    code, out, _ = status(str(state))
    assert code == 1 and "FAILED" in out and "the last pass failed on rm" in out
    assert "HTTP 4" in out or "HTTP 5" in out
    # a check on the other tracker alone is fine
    assert status(str(state), "--tracker", "jira")[0] == 0


def test_status_without_a_store_names_the_command_to_run(tmp_path: Path) -> None:
    code, _, err = status(str(config(tmp_path)))
    assert code == 2 and "run `sla-bridge sync " in err and "--once" not in err
