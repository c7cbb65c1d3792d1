"""The HTTP face of ``serve``: a waitress server and the webhook worker, started and stopped together.

Waitress is a threaded WSGI server, like the service is threaded (APScheduler with
one worker thread): requests are answered by a small pool of threads that only
read the store (their own read-only connection) or put a ticket in the webhook
queue, so neither a slow client nor a flood of webhooks can hold up the scheduler.
The server runs in a daemon thread; ``stop`` closes its sockets and lets the
webhook worker finish the ticket in hand.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any, Callable, Protocol

import waitress  # type: ignore[import-untyped]  # ships no type information
from waitress import wasyncore
from waitress.server import BaseWSGIServer  # type: ignore[import-untyped]

from ..app import App
from ..errors import SlaBridgeError
from ..sync import SyncSummary
from .metrics import Metrics, StoreCollector
from .queue import Batch, WebhookQueue, WebhookWorker
from .settings import HttpSettings
from .storeview import StoreView
from .wsgi import WebApp

log = logging.getLogger(__name__)
PLUGIN_NAME = "sla_bridge.web.metrics"


class TicketService(Protocol):
    """What the face needs of the service (``service.Service``)."""

    def sync_tickets(self, name: str, ticket_ids: list[str]) -> SyncSummary | None: ...

    def next_wakeups(self) -> dict[str, datetime]: ...


class HttpFace:
    def __init__(self, settings: HttpSettings, app: App, service: TicketService,
                 clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.metrics = Metrics()
        # The counters come from the plugin hooks, like any observer's.
        app.pm.register(self.metrics.plugin, name=PLUGIN_NAME)
        self.view = StoreView(app.config.store_path)
        self.queue = WebhookQueue(settings.queue_size)
        self.metrics.registry.register(StoreCollector(self.view, app.config.file.trackers,
                                                      lambda: dict(self.metrics.last_complete),
                                                      service.next_wakeups))
        self.wsgi = WebApp(settings, app.config, self.view, self.metrics, self.queue, clock, service.next_wakeups)
        self.worker = WebhookWorker(self.queue, service.sync_tickets, self._synced)
        self._map: dict[int, Any] = {}
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        host = self.settings.host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"

    def start(self) -> None:
        try:
            self._server = waitress.create_server(
                self.wsgi, map=self._map, host=self.settings.host, port=self.settings.port,
                threads=self.settings.threads, ident="sla-bridge", max_request_body_size=self.settings.max_body_bytes,
                channel_timeout=30, clear_untrusted_proxy_headers=True, expose_tracebacks=False)
        except OSError as exc:
            raise SlaBridgeError(f"[http] listen: cannot listen on {self.settings.host}:{self.settings.port}:"
                                 f" {exc.strerror or exc}") from None
        self.port = int(self._server.effective_port)
        self._thread = threading.Thread(target=self._server.run, name="sla-bridge-http", daemon=True)
        self._thread.start()
        self.worker.start()
        log.info("HTTP face on %s (webhooks: %s)", self.url, ", ".join(self.settings.webhooks) or "none")

    def stop(self) -> None:
        self.worker.stop()
        if self._server is None:
            return
        # The sockets are closed by the server's own thread (a thunk run by its trigger):
        # closed from here, under its select(), they would fail it. An empty map ends its loop.
        listener = next(d for d in list(self._map.values()) if isinstance(d, BaseWSGIServer))
        listener.trigger.pull_trigger(lambda: wasyncore.close_all(self._map))
        if self._thread is not None:
            self._thread.join(10)
        self._server.task_dispatcher.shutdown()
        self._server = None

    def _synced(self, batch: Batch, result: object, now: float) -> None:
        """A webhook's sync ended: its outcome and how long each delivery waited for it."""
        tracker = batch.tracker
        self.metrics.queue_size.set(len(self.queue))
        if not isinstance(result, SyncSummary):
            self.metrics.webhook_syncs.labels(tracker, "not_run").inc()
            return
        outcome = "complete" if result.complete and not result.errors else "errors"
        self.metrics.webhook_syncs.labels(tracker, outcome).inc()
        self.metrics.count_summary(tracker, result)
        for received in batch.received:
            self.metrics.webhook_latency.labels(tracker).observe(max(0.0, now - received))
