"""A headless Chromium driven over its DevTools protocol, for tests of what a browser shows.

Chromium comes from Debian (``apt-get install -y chromium``; ``.ci/run`` installs it).
Without it the tests that use ``browser`` skip and say so, except in CI (env ``CI``
set), where they fail.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

CHROMIUM = next((p for p in (os.environ.get("CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"))
                 if p), None)
HOW = "install it with `apt-get install -y chromium` (Debian's package), as .ci/run does"
TIMEOUT = 60.0  # seconds: a bound on each wait for the browser, never a sleep


def require_chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium on this machine; CI must have one: {HOW}")
        pytest.skip(f"no Chromium on this machine; {HOW}")
    return CHROMIUM


class DevTools:
    """A minimal Chrome DevTools Protocol client: one page target, commands and events."""

    def __init__(self, url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(url, timeout=TIMEOUT, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        while True:
            answer = json.loads(self.ws.recv())
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise AssertionError(f"{method}: {answer['error']}")
                return dict(answer.get("result", {}))
            self.events.append(answer)

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(json.loads(self.ws.recv()))
        raise AssertionError(f"no {method} within {TIMEOUT} s")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")


@contextmanager
def launch(profile: Path, window: str = "1280,1024") -> Iterator[DevTools]:
    """Chromium with a fresh profile in `profile`, one page attached (Page, Runtime, Log, Network on)."""
    binary = require_chromium()
    process, url = _start(binary, profile, window)
    try:
        tools = DevTools(url)
        target = tools.send("Target.createTarget", url="about:blank")["targetId"]
        tools.session = tools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            tools.send(f"{domain}.enable")
        yield tools
        tools.session = None
        tools.send("Browser.close")
        tools.ws.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


STARTS = 3  # Chromium sometimes quits at start on a loaded machine (its D-Bus probes): it is started again


def _start(binary: str, profile: Path, window: str) -> tuple[subprocess.Popen[str], str]:
    for attempt in range(1, STARTS + 1):
        process = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", f"--window-size={window}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            return process, _devtools_url(process)
        except AssertionError:
            process.kill()
            process.wait()
            if attempt == STARTS or process.returncode not in (0, -9):
                raise
    raise AssertionError("unreachable")


def _devtools_url(process: subprocess.Popen[str]) -> str:
    """The browser's websocket address, from the line Chromium prints when it listens."""
    assert process.stderr is not None
    deadline = time.monotonic() + TIMEOUT
    seen: list[str] = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stderr], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if "DevTools listening on " in line:
            return line.split("DevTools listening on ", 1)[1].strip()
    raise AssertionError(f"Chromium did not start its DevTools endpoint: {''.join(seen[-5:])}")
