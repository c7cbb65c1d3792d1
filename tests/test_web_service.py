"""The HTTP face of ``serve`` end to end: waitress on loopback, the service, a fake Redmine.

``benchmarks/fake_redmine.py`` serves a real Redmine-shaped API from a thread; the
service runs with an injected clock (business time does not pass by itself); the
only real waits are bounded polls for a condition. Measures the goal of issue 12:
a customer's answer on the tracker at most 2 s after its webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sys
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests

from sla_bridge import __version__
from sla_bridge.app import build_app
from sla_bridge.config import load_config
from sla_bridge.engine import build as engine_build
from sla_bridge.service import Service
from sla_bridge.web import HttpFace, http_settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from fake_redmine import AGENT, CUSTOMER, FEEDBACK, IN_PROGRESS, ServerThread  # noqa: E402
from test_crash import KEY, KEY_ENV, config_text  # noqa: E402

UTC = timezone.utc
CREATED = datetime(2025, 6, 2, 7, 30, tzinfo=UTC)      # Monday 09:30 in Paris
FIRST_PASS = datetime(2025, 6, 4, 8, 0, tzinfo=UTC)    # Wednesday 10:00: the workaround clock is at risk
WAITING = datetime(2025, 6, 4, 8, 10, tzinfo=UTC)
ANSWER = datetime(2025, 6, 4, 9, 0, tzinfo=UTC)
SECRET = "redmine-webhook-secret-e2e-0123"
TOKEN = "status-page-token-e2e-0123456789"
GOAL = 2.0  # seconds from the webhook to the tracker showing the change


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` until true or `timeout` seconds have passed (a bound, not a sleep)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        if condition():
            return True
        pause.wait(0.005)
    return condition()


class World:
    def __init__(self, server: ServerThread, service: Service, face: HttpFace, issue: int,
                 now: list[datetime]) -> None:
        self.server, self.service, self.face, self.issue, self.now = server, service, face, issue, now

    @property
    def fake(self) -> Any:
        return self.server.app

    def labels(self) -> list[str]:
        with self.fake.lock:
            return list(self.fake.issues[self.issue]["custom_fields"][0]["value"])

    def post(self, body: bytes, signed: bool = True) -> requests.Response:
        headers = {"Content-Type": "application/json", "User-Agent": "Redmine"}
        if signed:
            headers["X-Redmine-Signature-256"] = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        return requests.post(f"{self.face.url}/webhooks/redmine", data=body, headers=headers, timeout=10)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(f"{self.face.url}{path}", timeout=10, **kwargs)


def payload(issue: int) -> bytes:
    """Shaped like Redmine 7's (app/models/webhook_payload.rb): only data.issue.id is read."""
    return json.dumps({"type": "issue.updated", "timestamp": "2025-06-04T11:00:00+02:00",
                       "data": {"issue": {"id": issue, "project": {"id": 1, "name": "Support"}},
                                "journal": {"id": 99, "notes": "Toujours en panne",
                                            "user": {"id": 6, "name": "Alice"}, "details": []}}}).encode()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv("SLA_BRIDGE_E2E_HOOK", SECRET)
    monkeypatch.setenv("SLA_BRIDGE_E2E_TOKEN", TOKEN)
    with ServerThread(KEY, now=CREATED, server_clock="manual") as server:
        fake = server.app
        issue = fake.create_issue("Lenteurs sur la recherche", priority=4)
        fake.set_now(CREATED + timedelta(minutes=30))
        fake.act(issue, AGENT, notes="Nous regardons.", status=IN_PROGRESS)
        path = tmp_path / "sla-bridge.toml"
        path.write_text(config_text(server.url) + """
[http]
enabled = true
listen = "127.0.0.1:8080"
token = { env = "SLA_BRIDGE_E2E_TOKEN" }
ready_within_seconds = 600
[http.webhooks.redmine]
secret = { env = "SLA_BRIDGE_E2E_HOOK" }
""", encoding="utf-8")
        config = load_config(path)
        settings = http_settings(config)
        assert settings is not None
        app = build_app(config)
        now = [FIRST_PASS]
        service = Service(app, clock=lambda: now[0])
        face = HttpFace(replace(settings, port=0), app, service, clock=lambda: now[0])
        face.start()
        try:
            yield World(server, service, face, issue, now)
        finally:
            face.stop()
            app.close()


def first_pass_then_waiting(world: World) -> None:
    world.fake.set_now(FIRST_PASS)
    assert world.service.syncers["redmine"].run(FIRST_PASS).complete
    assert "sla-a-risque" in world.labels()
    world.now[0] = WAITING
    world.fake.set_now(WAITING)
    world.fake.act(world.issue, AGENT, notes="Pouvez-vous tester ?", status=FEEDBACK)
    world.service.sync(["redmine"])  # a poll: waiting pauses the clocks, the at-risk label goes
    assert "sla-a-risque" not in world.labels()


def test_a_customer_answer_is_on_the_tracker_within_two_seconds_of_its_webhook(world: World) -> None:
    first_pass_then_waiting(world)
    world.now[0] = ANSWER
    world.fake.set_now(ANSWER)
    world.fake.act(world.issue, CUSTOMER, notes="Toujours en panne.", status=IN_PROGRESS)
    start = time.monotonic()
    answer = world.post(payload(world.issue))
    assert answer.status_code == 202, answer.text
    assert wait_until(lambda: "sla-a-risque" in world.labels(), GOAL), "the answer was not synced in time"
    elapsed = time.monotonic() - start
    print(f"webhook -> labels on the tracker: {elapsed * 1000:.0f} ms")
    assert elapsed <= GOAL
    with world.fake.lock:
        issue = world.fake.issues[world.issue]
        assert issue["due_date"] == "2025-06-04" and issue["custom_fields"][1]["value"]
    assert world.service.app.store.cursor("redmine").cursor is not None  # moved by the polls only
    assert wait_until(lambda: world.face.metrics.webhook_syncs.labels("redmine", "complete")._value.get() == 1, 5)


def test_a_comment_answer_restarts_the_waiting_cycle_at_once(world: World) -> None:
    first_pass_then_waiting(world)
    before = world.service.app.store.ticket("redmine", str(world.issue))
    assert before is not None and before.next_change_at is not None  # reminder 1, a business day after
    world.now[0] = ANSWER
    world.fake.set_now(ANSWER)
    world.fake.act(world.issue, CUSTOMER, notes="Je teste demain.")

    def moved() -> bool:
        after = world.service.app.store.ticket("redmine", str(world.issue))
        return after is not None and after.next_change_at == before.next_change_at + (ANSWER - WAITING)

    assert world.post(payload(world.issue)).status_code == 202
    assert wait_until(moved, GOAL), "the reminder was not moved to a business day after the answer"
    assert wait_until(lambda: world.service.scheduler.get_job("wake:redmine") is not None, 5)


def test_ten_webhooks_before_the_sync_make_one_sync(world: World) -> None:
    first_pass_then_waiting(world)
    syncer = world.service.syncers["redmine"]
    calls: list[list[str]] = []
    real = syncer.run_tickets

    def counted(ids: Any, now: Any = None) -> Any:
        calls.append(list(ids))
        return real(ids, now)

    syncer.run_tickets = counted  # type: ignore[method-assign]
    with world.service.lock:  # a pass is running: the worker waits with its first batch
        assert world.post(payload(world.issue)).status_code == 202
        assert wait_until(lambda: len(world.face.queue) == 0, 5), "the worker took the first delivery"
        for _ in range(10):
            assert world.post(payload(world.issue)).status_code == 202
        assert len(world.face.queue) == 1, "ten deliveries, one ticket waiting"
    assert wait_until(lambda: len(calls) == 2 and len(world.face.queue) == 0, 10)
    assert calls == [[str(world.issue)], [str(world.issue)]], "the one in hand, then the ten as one"


def test_unsigned_webhooks_are_refused_and_never_synced(world: World) -> None:
    requests_before = sum(world.fake.stats()["requests"].values())
    assert world.post(payload(world.issue), signed=False).status_code == 401
    assert len(world.face.queue) == 0
    assert sum(world.fake.stats()["requests"].values()) == requests_before


def test_probes_and_metrics(world: World) -> None:
    assert world.get("/healthz").status_code == 200
    ready = world.get("/readyz")
    assert ready.status_code == 503 and "redmine: no complete pass yet" in ready.text
    world.fake.set_now(FIRST_PASS)
    world.service.sync(["redmine"])
    assert world.get("/readyz").status_code == 200
    world.now[0] = FIRST_PASS + timedelta(minutes=11)
    late = world.get("/readyz")
    assert late.status_code == 503 and "more than 600 s ago" in late.text
    world.now[0] = FIRST_PASS
    assert world.get("/metrics").status_code == 401, "the token guards the metrics"
    text = world.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    for line in ('sla_bridge_passes_total{outcome="complete",tracker="redmine"} 1.0',
                 'sla_bridge_writes_total{kind="labels",tracker="redmine"} 1.0',
                 'sla_bridge_writes_total{kind="due_date",tracker="redmine"} 1.0',
                 'sla_bridge_tickets{clock="workaround",state="at_risk",tracker="redmine"} 1.0',
                 'sla_bridge_tickets_known{tracker="redmine"} 1.0',
                 'sla_bridge_store_up 1.0',
                 f'sla_bridge_build_info{{engine="{engine_build()}",version="{__version__}"}} 1.0'):
        assert line in text, line
    last = re.search(r'^sla_bridge_last_successful_pass_timestamp_seconds\{tracker="redmine"\} (\S+)$', text, re.M)
    assert last is not None and float(last.group(1)) == FIRST_PASS.timestamp()
    for name in ("sla_bridge_pass_duration_seconds_bucket", "sla_bridge_tickets_read_total",
                 "sla_bridge_next_timed_change_timestamp_seconds", "sla_bridge_webhook_queue_tickets"):
        assert name in text, name
    names = {m.group(1) for m in re.finditer(r"^([a-z_]+)[{ ]", text, re.M)}
    assert all(n.startswith("sla_bridge_") for n in names), names - {n for n in names if n.startswith("sla_")}
    assert not re.search(r'(ticket|issue)(_id)?="', text), "never a label per ticket"


def test_the_status_page_wants_the_token_and_trades_it_for_a_cookie(world: World) -> None:
    world.fake.set_now(FIRST_PASS)
    world.service.sync(["redmine"])
    assert world.get("/").status_code == 401
    assert world.get("/", params={"token": "wrong"}).status_code == 401
    redirect = world.get("/", params={"token": TOKEN}, allow_redirects=False)
    assert redirect.status_code == 303 and redirect.headers["Location"] == "/"
    cookie = redirect.cookies["sla_bridge_session"]
    assert TOKEN not in cookie and TOKEN not in redirect.headers["Set-Cookie"]
    assert "HttpOnly" in redirect.headers["Set-Cookie"] and "SameSite=Strict" in redirect.headers["Set-Cookie"]
    page = world.get("/", cookies={"sla_bridge_session": cookie})
    assert page.status_code == 200 and "Lenteurs sur la recherche" in page.text
    assert TOKEN not in page.text and SECRET not in page.text and KEY not in page.text
    assert "script-src" not in page.headers["Content-Security-Policy"]  # default-src 'none': no script at all
    explain = world.get(f"/explain/redmine/{world.issue}", headers={"Authorization": f"Bearer {TOKEN}"})
    assert explain.status_code == 200 and "workaround" in explain.text
    assert world.get("/explain/redmine/999", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
