"""``sla-bridge report``: on the demo's store, every format, usage errors (exit 2), failures (exit 1)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import agent, make_ticket

from sla_bridge.actions import Applied
from sla_bridge.cli import cli
from sla_bridge.store import Store

PERIOD = ["--from", "2025-04-28", "--to", "2025-05-23", "--at", "2025-06-02T09:00"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo run once, its store and configuration kept in a temporary directory."""
    where = tmp_path_factory.mktemp("demo")
    mp = pytest.MonkeyPatch()
    mp.setenv("SLA_BRIDGE_DEMO_DIR", str(where))
    try:
        code, out, _ = run("demo")
    finally:
        mp.undo()
    assert code == 0
    assert f"sla-bridge report {where / 'config.toml'} --from 2025-04-28 --to 2025-05-23" in out
    return where / "config.toml"


def test_the_demo_store_gives_a_real_report(demo: Path) -> None:
    code, out, err = run("report", str(demo), *PERIOD, "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["coverage"] == [{"tracker": "demo", "status": "complete", "first_record": data["coverage"][0]
                                 ["first_record"], "last_sync": "2025-05-24T00:00:00+02:00",
                                 "evaluated_until": "2025-05-24T00:00:00+02:00", "note": ""}]
    ack = next(s for s in data["overall"]["clocks"] if s["severity"] is None and s["clock"] == "acknowledge")
    assert (ack["met"], ack["breached"], ack["compliance"]) == (3, 2, 60.0)
    # the demo said: 4 breaches, 8 reminders sent, 3 automatic closures
    assert len(data["breaches"]) == 4
    assert sum(data["overall"]["waiting"]["reminders"].values()) == 8
    assert data["overall"]["waiting"]["auto_closed"] == 3
    assert [o["id"] for o in data["out_of_contract"]] == ["DEMO-5"]
    assert [a["id"] for a in data["awaiting_release"]] == ["DEMO-4"]


def test_table_is_the_default(demo: Path) -> None:
    code, out, _ = run("report", str(demo), *PERIOD)
    assert code == 0
    assert "Overall - times in business hours" in out and "60.0 %" in out
    assert "demo:DEMO-7" in out and "paused" not in out.split("Breaches")[0]
    assert "Waiting for a minor release" in out and "Requests outside the contract" in out


def test_csv_for_french_excel(demo: Path, tmp_path: Path) -> None:
    target = tmp_path / "r.csv"
    code, _, err = run("report", str(demo), *PERIOD, "--format", "csv", "--separator", ";", "--out", str(target))
    assert code == 0 and f"report written to {target}" in err
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel reads the accents right
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:6] == ["Outil de suivi", "Ticket", "Titre", "Client", "Criticité", "Engagement"]
    late = [r for r in rows[1:] if r[1] == "DEMO-7" and r[5] == "contournement"][0]
    assert late[7] == "dépassé" and late[14] == "2,00"  # decimal comma with ";"
    assert all(len(r) == len(rows[0]) for r in rows)


def test_csv_default_is_a_comma_and_a_point(demo: Path) -> None:
    code, out, _ = run("report", str(demo), *PERIOD, "--format", "csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out.lstrip("\ufeff"))))
    assert any(r[14] == "2.00" for r in rows[1:])


def test_html_is_self_contained(demo: Path, tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    assert run("report", str(demo), *PERIOD, "--format", "html", "--out", str(target))[0] == 0
    page = target.read_text(encoding="utf-8")
    assert page.count("<svg") == 3 and "<script" not in page
    for external in ("http://", "https://", "src=", "<link"):
        assert external not in page.replace("http://www.w3.org/", ""), external
    assert "Respect des engagements de service" in page  # [templates] language = "fr"


@pytest.mark.parametrize("args, option, expected", [
    (["--from", "2025-13-01", "--to", "2025-05-01"], "--from", "YYYY-MM-DD"),
    (["--from", "2025-05-01", "--to", "yesterday"], "--to", "YYYY-MM-DD"),
    (["--from", "2025-05-10", "--to", "2025-05-01"], "--to", "on or after"),
    (["--from", "2025-05-01", "--to", "2025-05-02", "--tracker", "jira"], "--tracker", "expected one of: demo"),
    (["--from", "2025-05-01", "--to", "2025-05-02", "--customer", "acme"], "--customer", "none"),
    (["--from", "2025-05-01", "--to", "2025-05-02", "--separator", ";"], "--separator", "--format csv"),
    (["--from", "2025-05-01", "--to", "2025-05-02", "--format", "csv", "--separator", "ab"], "--separator", "one"),
    (["--from", "2025-05-01", "--to", "2025-05-02", "--format", "pdf"], "--format", "csv"),
])
def test_bad_usage_exits_2_naming_the_option(demo: Path, args: list[str], option: str, expected: str) -> None:
    code, out, err = run("report", str(demo), *args)
    assert code == 2, err
    assert option in err and expected in err
    assert out == ""


def test_missing_store_is_a_runtime_failure(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(Path(__file__).resolve().parent.parent.joinpath("config.example.toml")
                      .read_text(encoding="utf-8"), encoding="utf-8")
    code, _, err = run("report", str(config), "--from", "2025-05-01", "--to", "2025-05-31")
    assert code == 1 and "no state store yet" in err
    assert not (tmp_path / "sla-bridge.sqlite").exists(), "a report never creates a store"


def test_a_period_the_store_never_saw(demo: Path) -> None:
    code, out, _ = run("report", str(demo), "--from", "2024-01-01", "--to", "2024-12-31", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["seen"] is False and data["coverage"][0]["status"] == "not_seen"
    assert all(s["compliance"] is None for s in data["overall"]["clocks"])
    code, out, _ = run("report", str(demo), "--from", "2024-01-01", "--to", "2024-12-31")
    assert "never saw this period" in out and "100" not in out


def test_tracker_text_is_never_rich_markup(tmp_path: Path) -> None:
    """A title or a reporter in markup or emoji codes is printed as written."""
    config = tmp_path / "c.toml"
    text = Path(__file__).resolve().parent.parent.joinpath("config.example.toml").read_text(encoding="utf-8")
    config.write_text(text + '\n[trackers.t]\nadapter = "memory"\nagents = ["login:sam"]\n'
                             '[trackers.t.statuses]\nnew = ["new"]\n', encoding="utf-8")
    store = Store(tmp_path / "sla-bridge.sqlite")
    evil = "[bold red]pwned[/] :fire: [link=http://x]y[/link]"
    ticket = make_ticket("2025-05-05T10:00+02:00", agent("2025-05-05T15:00+02:00"), id="E1", tracker="t",
                         title=evil)
    store.save_ticket("t", ticket, Applied(), {}, None)
    store.sync_started("t", datetime(2025, 6, 1, tzinfo=timezone.utc))
    store.sync_finished("t", datetime(2025, 6, 1, tzinfo=timezone.utc), None, {"complete": True})
    store.close()
    code, out, err = run("report", str(config), "--from", "2025-05-05", "--to", "2025-05-09", "--at", "2025-06-02")
    assert code == 0, err
    assert evil in out.replace("\n", "")
    code, out, _ = run("report", str(config), "--from", "2025-05-05", "--to", "2025-05-09", "--format", "html")
    assert "<script" not in out and "[bold red]pwned[/]" in out


def test_help() -> None:
    code, out, _ = run("report", "--help")
    assert code == 0 and "--separator" in out and "--customer" in out
