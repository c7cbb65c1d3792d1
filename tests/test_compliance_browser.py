"""The HTML report in a real browser: headless Chromium driven over its DevTools protocol.

Checks what a person opening the file sees: it renders, its three charts are there
with a size, nothing is logged as an error, nothing is fetched from anywhere, and
every number on the page equals the JSON report's.

Chromium comes from Debian (``apt-get install -y chromium``; ``.ci/run`` installs it).
Without it these tests skip and say so, except in CI (env ``CI`` set), where they fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from browser import DevTools, launch
from click.testing import CliRunner

from sla_bridge.cli import cli


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    with launch(tmp_path_factory.mktemp("chromium-profile")) as tools:
        yield tools


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The demo's report as HTML and as JSON."""
    where = tmp_path_factory.mktemp("demo")
    mp = pytest.MonkeyPatch()
    mp.setenv("SLA_BRIDGE_DEMO_DIR", str(where))
    try:
        assert CliRunner().invoke(cli, ["demo"]).exit_code == 0
    finally:
        mp.undo()
    args = ["report", str(where / "config.toml"), "--from", "2025-04-28", "--to", "2025-05-23",
            "--at", "2025-06-02T09:00"]
    html = where / "report.html"
    assert CliRunner().invoke(cli, [*args, "--format", "html", "--out", str(html)]).exit_code == 0
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0
    return html, json.loads(result.stdout)


@pytest.fixture(scope="module")
def page(browser: DevTools, reports: tuple[Path, dict[str, Any]]) -> DevTools:
    browser.events.clear()
    browser.send("Page.navigate", url=reports[0].as_uri())
    browser.wait_for("Page.loadEventFired")
    return browser


def test_it_renders_with_sized_charts(page: DevTools) -> None:
    assert page.evaluate("document.readyState") == "complete"
    assert page.evaluate("document.querySelector('h1').textContent") == "Respect des engagements de service"
    charts = page.evaluate("""[...document.querySelectorAll('figure')].map(f => {
        const s = f.querySelector('svg'); const r = s ? s.getBoundingClientRect() : {width: 0, height: 0};
        return [f.id, r.width, r.height]; })""")
    assert [c[0] for c in charts] == ["chart-compliance", "chart-trend", "chart-acknowledge"]
    for name, width, height in charts:
        assert width > 200 and height > 100, (name, width, height)
    assert page.evaluate("[...document.querySelectorAll('figure svg path')].length") > 50  # drawn, not empty


def test_no_console_error_and_no_request_but_the_file(page: DevTools) -> None:
    errors = [e for e in page.events if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert errors == []
    requests = [e["params"]["request"]["url"] for e in page.events if e.get("method") == "Network.requestWillBeSent"]
    assert len(requests) == 1 and requests[0].startswith("file://")


def _number(text: str) -> float | None:
    text = text.replace("%", "").replace("\u00a0", "").strip().replace(",", ".")
    return None if text in ("n.d.", "n/a", "-", "") else float(text)


def _json_value(data: dict[str, Any], metric: str) -> Any:
    """``overall.clocks.bloquante.acknowledge.met`` -> the JSON report's value."""
    parts = metric.split(".")
    if parts[0] in ("breaches", "running", "awaiting_release", "out_of_contract"):
        return len(data[parts[0]])
    if parts[0] == "period":
        return data["period"][parts[1]]
    if parts[0] == "coverage":
        return next(c["status"] for c in data["coverage"] if c["tracker"] == parts[1])
    group = data["overall"] if parts[0] == "overall" else next(g for g in data["customers"] if g["name"] == parts[1])
    rest = parts[1:] if parts[0] == "overall" else parts[2:]
    if rest[0] == "waiting":
        waiting = group["waiting"]
        return waiting["reminders"][rest[2]] if rest[1] == "reminders" else waiting[rest[1]]
    severity = None if rest[1] == "all" else rest[1]
    stats = next(s for s in group["clocks"] if s["severity"] == severity and s["clock"] == rest[2])
    return stats[rest[3]]


def test_numbers_shown_equal_the_json_report(page: DevTools, reports: tuple[Path, dict[str, Any]]) -> None:
    data = reports[1]
    shown = page.evaluate("""[...document.querySelectorAll('[data-metric]')].map(e =>
        [e.dataset.metric, e.dataset.value !== undefined ? e.dataset.value : e.textContent.trim()])""")
    assert len(shown) > 60
    checked = 0
    for metric, text in shown:
        expected = _json_value(data, metric)
        if isinstance(expected, str):
            assert text == expected, metric
        else:
            assert _number(text) == (None if expected is None else float(expected)), (metric, text, expected)
        checked += 1
    assert checked == len(shown)
    visible = page.evaluate("document.body.innerText")
    for breach in data["breaches"]:
        assert breach["ticket"] in visible
