"""Webhooks in: signatures, payloads, the coalescing queue, and the answers of the WSGI app.

The app is called in-process (a WSGI environ, no socket); the queue's clock is a
counter. ``test_web_service.py`` runs the same code behind waitress against a fake
Redmine, end to end.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import threading
import tomllib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from sla_bridge.config import Config, config_from_mapping
from sla_bridge.errors import ConfigError
from sla_bridge.web.metrics import Metrics
from sla_bridge.web.queue import Offer, WebhookQueue, WebhookWorker
from sla_bridge.web.settings import http_settings
from sla_bridge.web.storeview import StoreView
from sla_bridge.web.webhooks import VENDORS, jira_ticket, redmine_ticket, zammad_ticket
from sla_bridge.web.wsgi import WebApp

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 6, 4, 8, 0, tzinfo=timezone.utc)
SECRETS = {"jira": "jira-webhook-secret-0123", "zammad": "zammad-webhook-secret-0123",
           "redmine": "redmine-webhook-secret-0123"}
TRACKER = {"statuses": {"new": ["New"]}, "agents": ["role:Support"]}


def config(tmp_path: Path, http: dict[str, Any] | None = None) -> Config:
    raw = tomllib.loads((ROOT / "config.example.toml").read_text(encoding="utf-8"))
    raw["sync"]["store"] = str(tmp_path / "state.sqlite")
    raw["trackers"] = {
        "jira": {**TRACKER, "adapter": "jira", "options": {"url": "https://acme.atlassian.net", "projects": ["SUP"]}},
        "zammad": {**TRACKER, "adapter": "zammad", "options": {"url": "https://zammad.example", "groups": ["Support"]}},
        "redmine": {**TRACKER, "adapter": "redmine", "options": {"url": "https://redmine.example"}},
        "other": {**TRACKER, "adapter": "memory"},
    }
    raw["http"] = http if http is not None else {
        "enabled": True, "max_body_bytes": 2048,
        "webhooks": {name: {"secret": {"env": f"SLA_BRIDGE_TEST_{name.upper()}_HOOK"}} for name in SECRETS}}
    return config_from_mapping(raw, tmp_path / "sla-bridge.toml")


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, secret in SECRETS.items():
        monkeypatch.setenv(f"SLA_BRIDGE_TEST_{name.upper()}_HOOK", secret)


class Client:
    """Calls a WSGI app in-process."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                query: str = "") -> tuple[int, dict[str, str], bytes]:
        environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
                                   "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
                                   "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "wsgi.url_scheme": "http"}
        for name, value in (headers or {}).items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        answer: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
            answer["status"], answer["headers"] = int(status.split()[0]), dict(response_headers)

        out = b"".join(self.app(environ, start_response))
        return answer["status"], answer["headers"], out


@pytest.fixture
def web(tmp_path: Path, secrets: None) -> tuple[Client, WebhookQueue, Metrics]:
    cfg = config(tmp_path)
    settings = http_settings(cfg)
    assert settings is not None
    queue, metrics = WebhookQueue(settings.queue_size), Metrics()
    app = WebApp(settings, cfg, StoreView(cfg.store_path), metrics, queue, lambda: NOW)
    return Client(app), queue, metrics


def sign(tracker: str, body: bytes) -> dict[str, str]:
    vendor = VENDORS[tracker]
    digest = hmac.new(SECRETS[tracker].encode(), body, vendor.algorithm).hexdigest()
    header = vendor.signature_header.removeprefix("HTTP_").replace("_", "-")
    return {header: f"{vendor.algorithm}={digest}"}


def redmine_payload(issue: int, kind: str = "issue.updated") -> bytes:
    # Redmine 7: app/models/webhook_payload.rb (type, timestamp, data.issue as the API renders it, data.journal).
    return json.dumps({"type": kind, "timestamp": "2025-06-04T10:00:00+02:00",
                       "data": {"issue": {"id": issue, "project": {"id": 1, "name": "Support"},
                                          "subject": "ignored", "status": {"id": 2, "name": "In Progress"}},
                                "journal": {"id": 7, "notes": "Toujours en panne", "user": {"id": 6, "name": "A"},
                                            "details": []}}}).encode()


def jira_payload(key: str, project: str = "SUP", event: str = "comment_created") -> bytes:
    return json.dumps({"timestamp": 1749024000000, "webhookEvent": event,
                       "comment": {"id": "10001", "body": "still broken"},
                       "issue": {"id": "10002", "key": key, "fields": {"project": {"key": project}}}}).encode()


def zammad_payload(ticket: int, group: str = "Support") -> bytes:
    return json.dumps({"ticket": {"id": ticket, "number": "31001", "group": group, "title": "x"},
                       "article": {"id": 5, "sender": "Customer"}}).encode()


# --- signatures and payloads -----------------------------------------------------------------------

def test_each_vendor_signs_the_raw_body_with_its_own_header_and_algorithm() -> None:
    body = b'{"a": 1}'
    for name, algorithm in (("jira", hashlib.sha256), ("zammad", hashlib.sha1), ("redmine", hashlib.sha256)):
        vendor = VENDORS[name]
        good = f"{vendor.algorithm}={hmac.new(b's3cret', body, algorithm).hexdigest()}"
        assert vendor.signed("s3cret", body, {vendor.signature_header: good}) is True
        assert vendor.signed("s3cret", body, {vendor.signature_header: good.upper()}) is True
        assert vendor.signed("s3cret", body + b" ", {vendor.signature_header: good}) is False
        assert vendor.signed("other", body, {vendor.signature_header: good}) is False
        assert vendor.signed("s3cret", body, {vendor.signature_header: "sha256=é\u00ff"}) is False
        assert vendor.signed("s3cret", body, {}) is None
    assert VENDORS["redmine"].signature_header == "HTTP_X_REDMINE_SIGNATURE_256"
    assert VENDORS["jira"].signature_header == VENDORS["zammad"].signature_header == "HTTP_X_HUB_SIGNATURE"


def test_payloads_name_the_ticket_and_nothing_else_is_taken() -> None:
    assert redmine_ticket(json.loads(redmine_payload(12))).ticket_id == "12"  # type: ignore[union-attr]
    assert redmine_ticket(json.loads(redmine_payload(12, "issue.deleted"))) is None
    assert redmine_ticket({"type": "wiki_page.updated", "data": {"wiki_page": {"id": 3}}}) is None
    assert redmine_ticket({"type": "issue.updated", "data": {"issue": {"id": "12/../1"}}}) is None
    hint = jira_ticket(json.loads(jira_payload("SUP-7")))
    assert hint is not None and (hint.ticket_id, hint.scope) == ("SUP-7", "SUP")
    assert jira_ticket(json.loads(jira_payload("SUP-7", event="jira:issue_deleted"))) is None
    assert jira_ticket({"webhookEvent": "project_created", "project": {"key": "X"}}) is None
    assert jira_ticket({"issue": {"key": "../../rest/api"}}) is None
    hint = zammad_ticket(json.loads(zammad_payload(31)))
    assert hint is not None and (hint.ticket_id, hint.scope) == ("31", "Support")
    assert zammad_ticket({"ticket": {"id": True}}) is None
    assert zammad_ticket([1, 2]) is None


# --- the queue -----------------------------------------------------------------------------------

def test_ten_deliveries_for_one_ticket_before_its_sync_make_one_sync() -> None:
    queue = WebhookQueue(10)
    outcomes = [queue.offer("redmine", "12", f"d{i}") for i in range(10)]
    assert outcomes == [Offer.QUEUED] + [Offer.COALESCED] * 9
    synced: list[tuple[str, list[str]]] = []
    done = threading.Event()
    worker = WebhookWorker(queue, lambda t, ids: synced.append((t, ids)), lambda *_: done.set())
    worker.start()
    assert done.wait(10)
    worker.stop()
    assert synced == [("redmine", ["12"])]


def test_a_delivery_seen_before_is_a_duplicate_and_a_full_queue_refuses_without_remembering() -> None:
    clock = [0.0]
    queue = WebhookQueue(2, monotonic=lambda: clock[0], remember_for=60)
    assert queue.offer("jira", "SUP-1", "abc") is Offer.QUEUED
    assert queue.offer("jira", "SUP-1", "abc") is Offer.DUPLICATE
    assert queue.offer("zammad", "1", "abc") is Offer.QUEUED, "delivery ids are per tracker"
    assert queue.offer("jira", "SUP-2", "def") is Offer.FULL
    assert queue.offer("jira", "SUP-1", "def") is Offer.COALESCED, "a waiting ticket still takes a delivery"
    clock[0] = 61
    assert queue.offer("jira", "SUP-1", "abc") is Offer.COALESCED, "forgotten after remember_for"
    batch = queue.take(timeout=0)
    assert batch is not None and batch.tracker == "jira" and batch.ticket_ids == ["SUP-1"]
    assert queue.offer("jira", "SUP-2", "ghi") is Offer.QUEUED, "room again once taken"


def test_the_tracker_waiting_longest_is_served_first() -> None:
    clock = [0.0]
    queue = WebhookQueue(10, monotonic=lambda: clock[0])
    queue.offer("zammad", "1")
    clock[0] = 1
    queue.offer("jira", "SUP-1")
    queue.offer("zammad", "2")
    first, second = queue.take(timeout=0), queue.take(timeout=0)
    assert first is not None and (first.tracker, first.ticket_ids) == ("zammad", ["1", "2"])
    assert second is not None and second.tracker == "jira"
    assert queue.take(timeout=0) is None


# --- the endpoint ------------------------------------------------------------------------------------

def test_a_signed_delivery_is_queued_with_202(web: tuple[Client, WebhookQueue, Metrics]) -> None:
    client, queue, _ = web
    body = redmine_payload(12)
    status, _, out = client.request("POST", "/webhooks/redmine", body, sign("redmine", body))
    assert status == 202 and json.loads(out) == {"status": "queued", "ticket": "12"}
    body = jira_payload("SUP-7")
    status, _, _ = client.request("POST", "/webhooks/jira", body,
                                  {**sign("jira", body), "X-Atlassian-Webhook-Identifier": "w-1"})
    assert status == 202
    body = zammad_payload(31)
    status, _, _ = client.request("POST", "/webhooks/zammad", body, {**sign("zammad", body), "X-Zammad-Delivery": "z"})
    assert status == 202 and len(queue) == 3


def test_unsigned_and_badly_signed_deliveries_are_refused_401(web: tuple[Client, WebhookQueue, Metrics]) -> None:
    client, queue, metrics = web
    body = redmine_payload(12)
    assert client.request("POST", "/webhooks/redmine", body)[0] == 401
    forged = {"X-Redmine-Signature-256": "sha256=" + "0" * 64}
    assert client.request("POST", "/webhooks/redmine", body, forged)[0] == 401
    other = redmine_payload(13)
    assert client.request("POST", "/webhooks/redmine", other, sign("redmine", body))[0] == 401
    # A Jira signature (same header name as Zammad's) does not pass for Zammad.
    zbody = zammad_payload(31)
    assert client.request("POST", "/webhooks/zammad", zbody, sign("jira", zbody))[0] == 401
    assert len(queue) == 0
    assert metrics.webhook_requests.labels("redmine", "unsigned")._value.get() == 1
    assert metrics.webhook_requests.labels("redmine", "bad_signature")._value.get() == 2


def test_a_duplicate_delivery_is_answered_without_work(web: tuple[Client, WebhookQueue, Metrics]) -> None:
    client, queue, _ = web
    body = jira_payload("SUP-7")
    headers = {**sign("jira", body), "X-Atlassian-Webhook-Identifier": "same", "X-Atlassian-Webhook-Retry": "1"}
    assert client.request("POST", "/webhooks/jira", body, headers)[0] == 202
    assert queue.take(timeout=0) is not None
    status, _, out = client.request("POST", "/webhooks/jira", body, headers)
    assert status == 200 and json.loads(out)["status"] == "duplicate"
    assert len(queue) == 0


def test_a_body_over_the_cap_is_refused_413_before_its_signature(web: tuple[Client, WebhookQueue, Metrics]) -> None:
    client, queue, _ = web
    body = json.dumps({"type": "issue.updated", "pad": "x" * 4000}).encode()
    assert client.request("POST", "/webhooks/redmine", body, sign("redmine", body))[0] == 413
    assert len(queue) == 0


def test_bad_json_events_without_a_ticket_and_other_projects(web: tuple[Client, WebhookQueue, Metrics]) -> None:
    client, queue, _ = web
    body = b"{not json"
    assert client.request("POST", "/webhooks/redmine", body, sign("redmine", body))[0] == 400
    body = json.dumps({"type": "news.created", "data": {"news": {"id": 1}}}).encode()
    status, _, out = client.request("POST", "/webhooks/redmine", body, sign("redmine", body))
    assert status == 202 and json.loads(out)["status"] == "ignored"
    body = jira_payload("OPS-3", project="OPS")
    status, _, out = client.request("POST", "/webhooks/jira", body, sign("jira", body))
    assert status == 202 and json.loads(out)["reason"] == "not under contract"
    body = zammad_payload(5, group="Sales")
    assert json.loads(client.request("POST", "/webhooks/zammad", body, sign("zammad", body))[2])["status"] == "ignored"
    assert len(queue) == 0


def test_unknown_trackers_and_methods(web: tuple[Client, WebhookQueue, Metrics]) -> None:
    client, _, _ = web
    assert client.request("POST", "/webhooks/other", b"{}")[0] == 404, "memory has no webhook configured"
    assert client.request("GET", "/webhooks/redmine")[0] == 405
    assert client.request("POST", "/metrics")[0] == 405
    assert client.request("GET", "/nowhere")[0] == 404


def test_a_full_queue_answers_503_so_the_tracker_retries(tmp_path: Path, secrets: None) -> None:
    cfg = config(tmp_path, {"enabled": True, "queue_size": 1,
                            "webhooks": {"redmine": {"secret": {"env": "SLA_BRIDGE_TEST_REDMINE_HOOK"}}}})
    settings = http_settings(cfg)
    assert settings is not None
    queue = WebhookQueue(settings.queue_size)
    client = Client(WebApp(settings, cfg, StoreView(cfg.store_path), Metrics(), queue, lambda: NOW))
    first, second = redmine_payload(1), redmine_payload(2)
    assert client.request("POST", "/webhooks/redmine", first, sign("redmine", first))[0] == 202
    status, headers, _ = client.request("POST", "/webhooks/redmine", second, sign("redmine", second))
    assert status == 503 and headers["Retry-After"] == "30"


def test_insecure_unsigned_must_be_said(tmp_path: Path) -> None:
    cfg = config(tmp_path, {"enabled": True, "webhooks": {"redmine": {"insecure_unsigned": True}}})
    settings = http_settings(cfg)
    assert settings is not None and settings.webhooks["redmine"].secret is None
    queue = WebhookQueue(10)
    client = Client(WebApp(settings, cfg, StoreView(cfg.store_path), Metrics(), queue, lambda: NOW))
    assert client.request("POST", "/webhooks/redmine", redmine_payload(3))[0] == 202


# --- configuration ------------------------------------------------------------------------------------

def test_http_is_off_by_default_and_on_loopback(tmp_path: Path) -> None:
    cfg = config(tmp_path, {})
    assert http_settings(cfg) is None
    assert cfg.file.http.listen == "127.0.0.1:8080" and not cfg.file.http.enabled


@pytest.mark.parametrize("http, message", [
    ({"listen": "8080"}, 'http.listen: expected a host and a port like "127.0.0.1:8080"'),
    ({"webhooks": {"redmine": {}}}, "http.webhooks.redmine: a webhook needs secret"),
    ({"webhooks": {"redmine": {"secret": "in-clear"}}}, "http.webhooks.redmine.secret: a secret is never written"),
    ({"max_body_bytes": 10}, "http.max_body_bytes"),
    ({"colour": "red"}, "http.colour: unknown key"),
])
def test_a_bad_http_section_names_the_file_and_key(tmp_path: Path, http: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        config(tmp_path, {"enabled": True, **http})
    assert str(error.value).startswith(str(tmp_path / "sla-bridge.toml")) and message in str(error.value)
    assert error.value.exit_code == 2
    assert "in-clear" not in str(error.value)


@pytest.mark.parametrize("http, message", [
    ({"webhooks": {"nope": {"insecure_unsigned": True}}}, "http.webhooks.nope: no tracker named 'nope'"),
    ({"webhooks": {"other": {"insecure_unsigned": True}}}, "http.webhooks.other: the 'memory' adapter has no webhooks"),
    ({"webhooks": {"redmine": {"secret": {"env": "SLA_BRIDGE_TEST_UNSET"}}}},
     "http.webhooks.redmine.secret: secret: environment variable SLA_BRIDGE_TEST_UNSET is not set"),
    ({"token": {"file": "missing-token"}}, "http.token: secret: cannot read file"),
])
def test_http_settings_refuse_what_cannot_be_served(tmp_path: Path, http: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        http_settings(config(tmp_path, {"enabled": True, **http}))
    assert message in str(error.value) and str(tmp_path / "sla-bridge.toml") in str(error.value)


def test_a_relative_secret_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "hook-secret").write_text("from-a-file-0123\n", encoding="utf-8")
    settings = http_settings(config(tmp_path, {"enabled": True,
                                               "webhooks": {"redmine": {"secret": {"file": "hook-secret"}}}}))
    assert settings is not None and settings.webhooks["redmine"].secret == "from-a-file-0123"
    assert settings.ready_within["redmine"] == timedelta(seconds=3 * 300), "three poll intervals by default"
