"""Take docs/status.png: the status page of ``serve`` over a small, realistic store.

A fake Redmine (benchmarks/fake_redmine.py, a real HTTP server on loopback) holds a
few tickets (one never acknowledged, one at risk, two waiting for the customer,
one whose title tries to inject HTML); one sync pass at a fixed instant fills the
store; the HTTP face serves it, and headless Chromium (tests/browser.py) takes the
picture. ``tests/test_web_browser.py`` checks the same page with ``build_world``.

    .venv/bin/python scripts/status-screenshot.py [--out docs/status.png] [--width 1100]
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in ("benchmarks", "tests", "src"):
    if str(ROOT / extra) not in sys.path:
        sys.path.insert(0, str(ROOT / extra))

from fake_redmine import AGENT, FEEDBACK, IN_PROGRESS, ServerThread, redmine_section  # noqa: E402

from sla_bridge.app import App, build_app  # noqa: E402
from sla_bridge.config import load_config  # noqa: E402
from sla_bridge.service import Service  # noqa: E402
from sla_bridge.web import HttpFace, HttpSettings  # noqa: E402

UTC = timezone.utc
MONDAY = datetime(2025, 6, 2, 7, 30, tzinfo=UTC)  # Monday 09:30 in Paris
NOW = datetime(2025, 6, 4, 8, 0, tzinfo=UTC)      # Wednesday 10:00 in Paris
KEY = "status0123456789abcdef0123456789abcdef01"
KEY_ENV = "SLA_BRIDGE_STATUS_REDMINE_KEY"
HOSTILE_TITLE = '<script>alert("x")</script> Import & "accents" <b>cassé</b>'


def config_text(url: str) -> str:
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    return example + redmine_section(url, KEY_ENV, workers=1)


@dataclass
class World:
    server: Any  # fake_redmine.ServerThread
    app: App
    face: HttpFace
    issues: dict[str, int]

    def close(self) -> None:
        self.face.stop()
        self.app.close()
        self.server.stop()


def build_world(where: Path, now: datetime = NOW) -> World:
    """The fake Redmine with its tickets, synced once at `now`, and the HTTP face serving the store."""
    os.environ[KEY_ENV] = KEY
    server = ServerThread(KEY, now=MONDAY, server_clock="manual")
    fake = server.app
    issues = {
        "never acknowledged": fake.create_issue("Export PDF en erreur pour tous les clients", priority=5),
        "at risk": fake.create_issue("Lenteurs sur la recherche", priority=4),
        "waiting": fake.create_issue("Synchronisation nocturne arrêtée", priority=4),
        "hostile": fake.create_issue(HOSTILE_TITLE, priority=3),
        "fine": fake.create_issue("Question sur la facturation", priority=2),
    }
    fake.set_now(MONDAY + timedelta(minutes=30))
    for name in ("at risk", "waiting", "hostile", "fine"):
        fake.act(issues[name], AGENT, notes="Nous regardons.", status=IN_PROGRESS)
    fake.set_now(MONDAY + timedelta(hours=1))
    for name in ("waiting", "hostile"):
        fake.act(issues[name], AGENT, notes="Pouvez-vous tester le correctif ?", status=FEEDBACK)
    fake.set_now(now)
    path = where / "sla-bridge.toml"
    path.write_text(config_text(server.url), encoding="utf-8")
    app = build_app(load_config(path))
    service = Service(app, clock=lambda: now)
    summary = service.syncers["redmine"].run(now)
    assert summary.complete and not summary.errors, summary.errors
    settings = HttpSettings("127.0.0.1", 0, ready_within={"redmine": timedelta(minutes=15)})
    face = HttpFace(settings, app, service, clock=lambda: now)
    face.start()
    return World(server, app, face, issues)


def main() -> None:
    from browser import launch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "status.png")
    parser.add_argument("--width", type=int, default=1100)
    parser.add_argument("--height", type=int, default=1300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        world = build_world(Path(tmp))
        try:
            with launch(Path(tmp) / "profile", f"{args.width},{args.height}") as page:
                page.send("Page.navigate", url=world.face.url + "/")
                page.wait_for("Page.loadEventFired")
                shot = page.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
            args.out.write_bytes(base64.b64decode(shot["data"]))
        finally:
            world.close()
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
