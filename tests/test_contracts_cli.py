"""Several contracts on the command line: check-config shows where each applies and refuses overlaps;
explain, evaluate, status and the report name each ticket's contract.

The configuration is the one of ``test_contracts`` (Paris under "fr", Strasbourg under
"alsace", one memory tracker), written to a file with its tickets.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import tomli_w
from click.testing import CliRunner
from test_contracts import T, good_friday_ticket, two_contracts

from sla_bridge.cli import cli
from sla_bridge.contracts import Contracts
from sla_bridge.model import Ticket, tickets_to_json
from sla_bridge.web.metrics import StoreCollector
from sla_bridge.web.storeview import StoreView


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def tickets() -> list[Ticket]:
    return [good_friday_ticket("P-1", "paris"), good_friday_ticket("S-1", "strasbourg")]


def write(tmp_path: Path, raw: dict[str, Any] | None = None, *extra: Ticket) -> Path:
    raw = raw or two_contracts()
    raw["trackers"]["demo"]["severities"] = {"bloquante": "bloquante", "majeure": "majeure", "mineure": "mineure"}
    raw["trackers"]["demo"]["options"] = {"tickets": "tickets.json"}
    raw["sync"] = {"store": "sla-bridge.sqlite"}
    (tmp_path / "tickets.json").write_text(json.dumps(tickets_to_json([*tickets(), *extra])), encoding="utf-8")
    config = tmp_path / "contract.toml"
    config.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return config


def test_check_config_shows_which_contract_applies_where(tmp_path: Path) -> None:
    config = str(write(tmp_path))
    code, out, err = run("check-config", config)
    assert code == 0, out + err
    assert "contract fr (Annexe 4 - France) - effective policy" in out
    assert "contract alsace (Annexe 4 - Alsace-Moselle) - effective policy" in out
    assert "mon 08:00-17:00" in out and "public holidays FR-Alsace-Moselle" in out
    assert "Contracts by tracker and customer" in out
    lines = [line for line in out.splitlines() if "trackers.demo" in line and "│ demo" in line]
    assert any("strasbourg" in line and "alsace (Annexe 4 - Alsace-Moselle)" in line
               and "trackers.demo.customers.strasbourg.contract" in line for line in lines), lines
    assert any("│ -" in line and "fr (Annexe 4 - France)" in line and "trackers.demo.contract" in line
               for line in lines), lines
    code, out, _ = run("check-config", config, "--json")
    data = json.loads(out)
    assert code == 0 and list(data["contracts"]) == ["default", "fr", "alsace"]
    assert data["contracts"]["alsace"]["calendar"].endswith("Europe/Paris; public holidays FR-Alsace-Moselle")
    assert {(p["customer"], p["contract"]) for p in data["placements"]} == {
        (None, "fr"), ("paris", "fr"), ("strasbourg", "alsace")}
    assert data["policy"]["contract"] == "Annexe 4 - Support et Maintenance"  # the default, as before


def test_check_config_refuses_an_overlap_naming_file_and_keys(tmp_path: Path) -> None:
    raw = two_contracts()
    raw["trackers"]["demo"]["customers"]["paris"]["projects"] = ["paris", "strasbourg"]
    config = write(tmp_path, raw)
    code, out, err = run("check-config", str(config))
    assert code == 2 and out == ""
    assert f"{config}: trackers.demo.customers.strasbourg.projects: project 'strasbourg' is also in" \
           " trackers.demo.customers.paris.projects, under contract 'fr'" in err


def test_explain_names_the_contract_and_counts_on_its_calendar(tmp_path: Path) -> None:
    config = str(write(tmp_path))
    tickets_file = str(tmp_path / "tickets.json")
    code, paris, _ = run("explain", config, tickets_file, "P-1", "--at", "2025-04-17T16:30")
    assert code == 0
    assert "contract fr (Annexe 4 - France)\ncalendar: mon 09:00-18:00" in paris
    assert "deadline Fri 2025-04-18 10:00" in paris and "deadline Wed 2025-04-23 13:00" in paris
    code, strasbourg, _ = run("explain", config, tickets_file, "S-1", "--at", "2025-04-17T16:30")
    assert "contract alsace (Annexe 4 - Alsace-Moselle)\ncalendar: mon 08:00-17:00" in strasbourg
    assert "not counted: 2025-04-18 (public holiday: Good Friday)" in strasbourg
    assert "deadline Tue 2025-04-22 10:00" in strasbourg and "deadline Thu 2025-04-24 13:00" in strasbourg
    code, out, _ = run("explain", config, tickets_file, "S-1", "--at", "2025-04-17T16:30", "--json")
    data = json.loads(out)
    assert data["contract"] == {"key": "alsace", "name": "Annexe 4 - Alsace-Moselle"}
    assert data["clocks"]["acknowledge"]["deadline"] == "2025-04-22T10:00:00+02:00"
    assert data["clocks"]["resolution"]["deadline"] == "2025-04-28T16:00:00+02:00"
    code, out, _ = run("evaluate", config, tickets_file, "--at", "2025-04-17T16:30", "--json")
    assert [(e["ticket"], e["contract"]["key"], e["desired"]["due_at"]) for e in json.loads(out)] == [
        ("demo:P-1", "fr", "2025-04-18T10:00:00+02:00"), ("demo:S-1", "alsace", "2025-04-22T10:00:00+02:00")]
    code, out, _ = run("evaluate", config, tickets_file, "--at", "2025-04-17T16:30")
    assert "contract=fr" in out and "contract=alsace" in out


def test_calendar_of_a_contract(tmp_path: Path) -> None:
    config = str(write(tmp_path))
    assert run("calendar", config, "add", "2025-12-24T10:00", "1d", "--contract", "alsace")[1].split()[0] == \
        "2025-12-29T10:00:00+01:00"
    assert run("calendar", config, "add", "2025-12-24T10:00", "1d")[1].split()[0] == "2025-12-26T10:00:00+01:00"
    code, _, err = run("calendar", config, "add", "2025-12-24T10:00", "1d", "--contract", "nope")
    assert code == 2 and "unknown contract 'nope'; expected one of: default, fr, alsace" in err


def test_status_and_report_name_each_tickets_contract(tmp_path: Path) -> None:
    config = str(write(tmp_path))
    assert run("sync", config, "--at", "2025-04-22T12:00")[0] == 0
    code, out, _ = run("status", config, "--json")
    data = json.loads(out)
    assert data["contracts"] == {"default": "Annexe 4 - Support et Maintenance", "fr": "Annexe 4 - France",
                                 "alsace": "Annexe 4 - Alsace-Moselle"}
    rows = {r["ticket"]: r for r in data["next_changes"]}
    assert {t: r["contract"] for t, r in rows.items()} == {"demo:P-1": "fr", "demo:S-1": "alsace"}
    code, out, _ = run("status", config)
    assert "contract" in out and "alsace" in out
    code, out, err = run("report", config, "--from", "2025-04-14", "--to", "2025-04-30", "--format", "json",
                         "--at", "2025-05-02T12:00")
    assert code == 0, err
    report = json.loads(out)
    assert report["contract"] == "alsace (Annexe 4 - Alsace-Moselle); fr (Annexe 4 - France)"
    assert {g["name"]: g["contract"] for g in report["customers"]} == {"paris": "fr", "strasbourg": "alsace"}
    # Acknowledged on time on both calendars; the Alsace deadline is the later one (Good Friday, Easter Monday).
    deadlines = {r["ticket"]: r["deadline"] for r in report["rows"] if r["clock"] == "acknowledge"}
    assert deadlines == {"demo:P-1": "2025-04-18T10:00:00+02:00", "demo:S-1": "2025-04-22T10:00:00+02:00"}
    code, out, _ = run("report", config, "--from", "2025-04-14", "--to", "2025-04-30", "--at", "2025-05-02T12:00")
    assert "Customer strasbourg (customer, 1 tickets, contract alsace)" in out


def test_metrics_say_which_contracts_a_tracker_serves(tmp_path: Path) -> None:
    from sla_bridge.config import load_config

    cfg = load_config(write(tmp_path))
    assert run("sync", str(tmp_path / "contract.toml"), "--at", "2025-04-22T12:00")[0] == 0
    for collector in (StoreCollector(StoreView(cfg.store_path), cfg.file.trackers, dict, dict),
                      StoreCollector(StoreView(cfg.store_path), ["demo"], dict, dict, cfg.contracts)):
        info = next(m for m in collector.collect() if m.name == "sla_bridge_contract_info")
        assert sorted((s.labels["tracker"], s.labels["contract"]) for s in info.samples) == [
            ("demo", "alsace"), ("demo", "fr")]
    single = Contracts(cfg.contracts.default)
    assert all(m.name != "sla_bridge_contract_info" for m in
               StoreCollector(StoreView(cfg.store_path), ["demo"], dict, dict, single).collect())


def test_explain_page_and_status_page_name_the_contract(tmp_path: Path) -> None:
    from sla_bridge.config import load_config
    from sla_bridge.web.pages import Pages

    never_acknowledged = replace(good_friday_ticket("S-2", "strasbourg"), events=())
    cfg = load_config(write(tmp_path, None, never_acknowledged))
    assert run("sync", str(tmp_path / "contract.toml"), "--at", "2025-04-22T12:00")[0] == 0
    pages = Pages(cfg, StoreView(cfg.store_path))
    found = pages.explain("demo", "S-1", T("2025-04-22T12:00:00+02:00"))
    assert found is not None and found["contract"] == "alsace (Annexe 4 - Alsace-Moselle)"
    assert found["severity"] == "bloquante, contract alsace (Annexe 4 - Alsace-Moselle)"
    (status,) = pages.status(T("2025-04-22T12:00:00+02:00"), {})
    assert status.contracts == ["fr (Annexe 4 - France)", "alsace (Annexe 4 - Alsace-Moselle)"]
    # Its acknowledge deadline, Tuesday 22 April 10:00 on the Alsace-Moselle calendar, is past.
    assert [(r.ticket_id, r.severity, r.contract, r.deadline_iso) for r in status.breached] == [
        ("S-2", "bloquante (alsace)", "alsace", "2025-04-22T10:00:00+02:00")]


def test_the_commented_contracts_section_of_the_example_works(tmp_path: Path, monkeypatch: Any) -> None:
    """Uncommented with the example's Redmine tracker, the example's [contracts.alsace] loads, and the
    Strasbourg customer's tickets are under it."""
    import re

    from sla_bridge.config import load_config

    text = (Path(__file__).resolve().parent.parent / "config.example.toml").read_text(encoding="utf-8")
    uncommented = []
    for pattern in (r"^# \[trackers\.redmine\]\n(?:#.*\n?)*", r"^# \[contracts\.alsace\]\n(?:#.*\n?)*"):
        block = re.search(pattern, text, re.M)
        assert block is not None, pattern
        uncommented += [re.sub(r"^# ?", "", line) for line in block.group(0).splitlines()]
    config = tmp_path / "sla.toml"
    config.write_text(text + "\n" + "\n".join(line for line in uncommented if not line.startswith("#")) + "\n",
                      encoding="utf-8")
    monkeypatch.setenv("REDMINE_API_KEY", "not-a-real-secret")
    cfg = load_config(config)
    assert [c.key for c in cfg.contracts.on_tracker("redmine")] == ["default", "alsace"]
    ticket = replace(good_friday_ticket("1", "strasbourg-support"), tracker="redmine")
    assert cfg.contract_for(ticket).calendar.is_business_day(T("2025-04-18T12:00:00+02:00").date()) is False
    code, out, _ = run("check-config", str(config))
    assert code == 0 and "trackers.redmine.customers.strasbourg.contract" in out
