"""The status page in a real browser (headless Chromium over DevTools, tests/browser.py).

The world is the one docs/status.png shows (``scripts/status-screenshot.py``): a fake
Redmine, one sync pass, the HTTP face on loopback. Checks what a person sees: the
page renders, on a phone too; its tables hold what the store holds (compared with
``Store.tickets``, not with the page's own SQL); a title holding HTML stays text;
no console error, no request but the page; each explain link leads to a timeline.
A ticket with a breached clock is listed once, under Breached (its at-risk clocks
in its row).

Without Chromium these tests skip and say so, except in CI (env ``CI``), where they fail.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
from browser import DevTools, launch

ROOT = Path(__file__).resolve().parents[1]


def _script() -> Any:
    spec = importlib.util.spec_from_file_location("status_screenshot", ROOT / "scripts" / "status-screenshot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


SCRIPT = _script()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    built = SCRIPT.build_world(tmp_path_factory.mktemp("status"))
    try:
        yield built
    finally:
        built.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    with launch(tmp_path_factory.mktemp("chromium-profile")) as tools:
        yield tools


def open_page(browser: DevTools, url: str) -> DevTools:
    browser.events.clear()
    browser.send("Page.navigate", url=url)
    browser.wait_for("Page.loadEventFired")
    return browser


@pytest.fixture(scope="module")
def page(browser: DevTools, world: Any) -> DevTools:
    return open_page(browser, world.face.url + "/")


def rows(page: DevTools, kind: str) -> list[str]:
    return list(page.evaluate(f"[...document.querySelectorAll('[data-list=\"{kind}\"] tbody tr')]"
                              ".map(r => r.dataset.ticket)"))


def test_it_renders_for_a_person_and_refreshes_itself(page: DevTools) -> None:
    assert page.evaluate("document.readyState") == "complete"
    assert "sla-bridge" in page.evaluate("document.querySelector('h1').textContent")
    assert page.evaluate("document.querySelector('meta[name=viewport]').content").startswith("width=device-width")
    assert page.evaluate("document.querySelector('meta[http-equiv=refresh]').content") == "60"
    assert page.evaluate("document.querySelectorAll('section.tracker').length") == 1


def test_its_tables_hold_what_the_store_holds(page: DevTools, world: Any) -> None:
    states = {r.ticket_id: {c["state"] for c in r.evaluation["clocks"].values()}
              for r in world.app.store.tickets("redmine")}  # the store's own reading, through store.py
    assert set(rows(page, "breached")) == {t for t, s in states.items() if "breached" in s}
    assert set(rows(page, "at_risk")) == {t for t, s in states.items() if "at_risk" in s and "breached" not in s}
    assert rows(page, "breached") == [str(world.issues["never acknowledged"])]
    assert rows(page, "at_risk") == [str(world.issues["at risk"])]
    waiting = {r.ticket_id for r in world.app.store.tickets("redmine") if r.snapshot.status == "Feedback"}
    upcoming = rows(page, "upcoming")
    assert set(upcoming) == waiting == {str(world.issues["waiting"]), str(world.issues["hostile"])}
    instants = page.evaluate("[...document.querySelectorAll('[data-list=upcoming] tbody tr')].map(r => r.dataset.when)")
    assert instants == sorted(instants) and len(instants) == 7  # 2 + 3 reminders to come, 2 closures
    deadline = page.evaluate("document.querySelector('[data-list=breached] tbody tr').dataset.deadline")
    record = world.app.store.ticket("redmine", str(world.issues["never acknowledged"]))
    assert deadline == record.evaluation["clocks"]["acknowledge"]["deadline"]  # the earliest flagged one


def test_tracker_text_is_shown_as_text_and_nothing_runs(page: DevTools, world: Any) -> None:
    assert page.evaluate("document.scripts.length") == 0
    assert page.evaluate("document.querySelectorAll('td b').length") == 0
    assert SCRIPT.HOSTILE_TITLE in page.evaluate("document.body.innerText")


def test_no_console_error_and_no_request_but_the_page(page: DevTools, world: Any) -> None:
    errors = [e for e in page.events if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] in ("error", "assert"))
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert errors == []
    requests = [e["params"]["request"]["url"] for e in page.events if e.get("method") == "Network.requestWillBeSent"]
    # The browser may ask for its favicon (answered 204): nothing else, and nothing elsewhere.
    assert [r for r in requests if r != world.face.url + "/favicon.ico"] == [world.face.url + "/"]


def test_links_go_to_the_tracker_and_to_explain(page: DevTools, world: Any) -> None:
    issue = world.issues["never acknowledged"]
    links = page.evaluate("[...document.querySelectorAll('[data-list=breached] tbody tr a')].map(a => a.href)")
    assert links == [f"{world.server.url}/issues/{issue}", f"{world.face.url}/explain/redmine/{issue}"]
    explain = open_page(page, links[1])
    assert explain.evaluate("document.querySelector('h1').textContent").startswith(f"redmine:{issue} Export PDF")
    states = explain.evaluate("Object.fromEntries([...document.querySelectorAll('[data-list=clocks] tbody tr')]"
                              ".map(r => [r.dataset.clock, r.dataset.state]))")
    assert states["acknowledge"] == "breached"
    assert explain.evaluate("document.querySelectorAll('[data-list=timeline] tbody tr').length") >= 2
    assert not [e for e in explain.events if e.get("method") == "Runtime.exceptionThrown"]


def test_it_reads_on_a_phone(browser: DevTools, world: Any) -> None:
    browser.send("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=3, mobile=True)
    try:
        phone = open_page(browser, world.face.url + "/")
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert phone.evaluate("getComputedStyle(document.querySelector('thead')).display") == "none"
        label = phone.evaluate("getComputedStyle(document.querySelector('td[data-label]'), '::before').content")
        assert "ticket" in label
    finally:
        browser.send("Emulation.clearDeviceMetricsOverride")
