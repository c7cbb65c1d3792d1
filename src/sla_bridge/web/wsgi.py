"""The HTTP face as one WSGI application: routes, access control, webhooks in, pages out.

- ``POST /webhooks/<tracker>``: body capped (413), signature checked in constant time
  (401), delivery deduplicated, ticket queued; answered 202 at once.
- ``GET /healthz``: the process answers. ``GET /readyz``: the store opens and every
  tracker had a complete pass within its limit; 503 with the reasons otherwise.
- ``GET /metrics``: Prometheus text, from the face's own registry.
- ``GET /``, ``GET /explain/<tracker>/<id>``: the status and explain pages.

With ``[http] token`` set, the pages and ``/metrics`` want it: ``Authorization:
Bearer <token>``, or ``?token=<token>`` once in a browser, which is answered with a
redirect to the same page without it and a cookie (HttpOnly, SameSite=Strict)
holding an HMAC of the token, never the token: the token leaves the address bar and
the history, and no page ever holds it. Probes (``/healthz``, ``/readyz``) and
webhooks (signed by their own secret) do not need it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime
from http import HTTPStatus
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, unquote, urlencode

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..config import Config
from .metrics import Metrics, last_successful
from .pages import Pages
from .queue import Offer, WebhookQueue
from .settings import HttpSettings
from .storeview import StoreUnavailable, StoreView
from .templates import environment
from .webhooks import BadPayload

log = logging.getLogger(__name__)
StartResponse = Callable[..., Any]
COOKIE = "sla_bridge_session"
PAGE_HEADERS = [
    # Nothing but this page's own inline style: no script, no frame, no request elsewhere.
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self';"
                                " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
]


class Response:
    def __init__(self, status: int, body: bytes | str = b"", content_type: str = "text/plain; charset=utf-8",
                 headers: Iterable[tuple[str, str]] = ()) -> None:
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.headers = [("Content-Type", content_type), ("Content-Length", str(len(self.body))), *headers]

    @classmethod
    def json(cls, status: int, data: dict[str, Any], headers: Iterable[tuple[str, str]] = ()) -> "Response":
        return cls(status, json.dumps(data), "application/json", headers)

    def __call__(self, start_response: StartResponse) -> list[bytes]:
        start_response(f"{self.status} {HTTPStatus(self.status).phrase}", self.headers)
        return [self.body]


class WebApp:
    def __init__(self, settings: HttpSettings, config: Config, view: StoreView, metrics: Metrics,
                 queue: WebhookQueue, clock: Callable[[], datetime],
                 next_wakeups: Callable[[], dict[str, datetime]] = dict) -> None:
        self.settings = settings
        self.config = config
        self.view = view
        self.metrics = metrics
        self.queue = queue
        self.clock = clock
        self.next_wakeups = next_wakeups
        self.pages = Pages(config, view)
        self.templates = environment()
        self.session = (hmac.new(settings.token.encode("utf-8"), b"sla-bridge status page", hashlib.sha256)
                        .hexdigest() if settings.token else None)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        try:
            response = self.route(environ)
        except Exception:  # noqa: BLE001 - a bug in a page must not show a traceback to the network
            log.exception("HTTP %s %s failed", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            response = Response(500, "internal error; see the service's log\n")
        return response(start_response)

    def route(self, environ: dict[str, Any]) -> Response:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
        if path.startswith("/webhooks/"):
            if method != "POST":
                return Response(405, "webhooks are POSTed\n", headers=[("Allow", "POST")])
            return self.webhook(unquote(path.removeprefix("/webhooks/")), environ)
        if method not in ("GET", "HEAD"):
            return Response(405, "read-only\n", headers=[("Allow", "GET, HEAD")])
        if path == "/favicon.ico":  # asked by every browser: "none", not an error in its console
            return Response(204, headers=[("Cache-Control", "max-age=86400")])
        if path == "/healthz":
            return Response(200, "ok\n", headers=[("Cache-Control", "no-store")])
        if path == "/readyz":
            reasons = self.not_ready()
            return Response(503 if reasons else 200, "".join(f"{r}\n" for r in reasons) or "ready\n",
                            headers=[("Cache-Control", "no-store")])
        if path not in ("/", "/metrics") and not path.startswith("/explain/"):
            return Response(404, "not found\n")
        denied = self.authorize(environ)
        if denied is not None:
            return denied
        if path == "/metrics":
            return Response(200, generate_latest(self.metrics.registry), CONTENT_TYPE_LATEST)
        if path == "/":
            return self.status_page()
        parts = path.removeprefix("/explain/").split("/")
        if len(parts) != 2:
            return Response(404, "not found\n")
        return self.explain_page(unquote(parts[0]), unquote(parts[1]))

    # --- access --------------------------------------------------------------------------

    def authorize(self, environ: dict[str, Any]) -> Response | None:
        """None when the request may see the page; else the answer to give it."""
        token, session = self.settings.token, self.session
        if token is None or session is None:
            return None
        expected = token.encode("utf-8")
        scheme, _, given = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("latin-1", "replace"), expected):
            return None
        cookies = dict(part.strip().partition("=")[::2] for part in str(environ.get("HTTP_COOKIE", "")).split(";"))
        if hmac.compare_digest(cookies.get(COOKIE, "").encode("latin-1", "replace"), session.encode("ascii")):
            return None
        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        offered = next((v for k, v in query if k == "token"), None)
        if offered is not None and hmac.compare_digest(offered.encode("utf-8"), expected):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            location = environ.get("PATH_INFO", "/") + (f"?{rest}" if rest else "")
            return Response(303, "", headers=[("Location", location), ("Cache-Control", "no-store"),
                                              ("Referrer-Policy", "no-referrer"),
                                              ("Set-Cookie", f"{COOKIE}={session}; Path=/; HttpOnly;"
                                                             " SameSite=Strict")])
        return Response(401, "this page needs the access token ([http] token): send Authorization: Bearer"
                             " <token>, or open it once with ?token=<token>\n",
                        headers=[("WWW-Authenticate", 'Bearer realm="sla-bridge"'), ("Cache-Control", "no-store")])

    # --- probes ----------------------------------------------------------------------------

    def not_ready(self) -> list[str]:
        """Why the service is not ready (empty: ready)."""
        try:
            self.view.check()
            passes = self.view.passes()
        except StoreUnavailable as exc:
            return [f"store: {exc}"]
        now = self.clock()
        complete = last_successful(passes, dict(self.metrics.last_complete))
        reasons = []
        for name, within in self.settings.ready_within.items():
            last = complete.get(name)
            if last is None:
                reasons.append(f"{name}: no complete pass yet")
            elif now - last > within:
                reasons.append(f"{name}: last complete pass ended {last.isoformat()}, more than"
                               f" {int(within.total_seconds())} s ago")
        return reasons

    # --- webhooks ----------------------------------------------------------------------------

    def webhook(self, tracker: str, environ: dict[str, Any]) -> Response:
        hook = self.settings.webhooks.get(tracker)
        if hook is None:
            return Response(404, "no webhook is configured for this tracker\n")
        outcome, response = self._delivery(hook.tracker, hook.vendor, hook.secret, environ)
        self.metrics.webhook_requests.labels(tracker, outcome).inc()
        self.metrics.queue_size.set(len(self.queue))
        if response.status >= 400:
            log.warning("webhook %s refused: %s", tracker, outcome, extra={"adapter": tracker})
        return response

    def _body(self, environ: dict[str, Any]) -> bytes | None:
        """The raw body, or None when it is larger than the cap (read no further than that)."""
        cap = self.settings.max_body_bytes
        try:
            declared = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > cap:
            return None
        body: bytes = environ["wsgi.input"].read(min(declared, cap + 1) if declared else cap + 1)
        return None if len(body) > cap else body

    def _delivery(self, tracker: str, vendor: Any, secret: str | None,
                  environ: dict[str, Any]) -> tuple[str, Response]:
        body = self._body(environ)
        if body is None:
            return "too_large", Response(413, f"larger than [http] max_body_bytes"
                                              f" ({self.settings.max_body_bytes})\n")
        if secret is not None:
            signed = vendor.signed(secret, body, environ)
            if signed is None:
                return "unsigned", Response(401, "unsigned delivery: the tracker must sign it with the secret\n")
            if not signed:
                return "bad_signature", Response(401, "bad signature\n")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return "bad_payload", Response(400, "not JSON\n")
        try:
            hint = vendor.ticket(payload)
        except BadPayload as exc:
            return "bad_payload", Response(400, f"{exc}\n")
        if hint is None:
            return "ignored", Response.json(202, {"status": "ignored", "reason": "no ticket to read in this event"})
        if not vendor.in_scope(hint, self.config.file.trackers[tracker].options):
            return "out_of_scope", Response.json(202, {"status": "ignored", "reason": "not under contract"})
        offer = self.queue.offer(tracker, hint.ticket_id, vendor.delivery(environ))
        if offer is Offer.FULL:
            return str(offer), Response(503, "too many tickets waiting; retry later\n", headers=[("Retry-After", "30")])
        status = 200 if offer is Offer.DUPLICATE else 202
        return str(offer), Response.json(status, {"status": str(offer), "ticket": hint.ticket_id})

    # --- pages -------------------------------------------------------------------------------

    def _page(self, name: str, **context: Any) -> Response:
        html = self.templates.get_template(name).render(refresh=self.settings.refresh_seconds, **context)
        return Response(200, html, "text/html; charset=utf-8", PAGE_HEADERS)

    def _when(self, t: datetime | None) -> str:
        return self.pages._when(t)

    def status_page(self) -> Response:
        now = self.clock()
        store_error, trackers = None, []
        try:
            trackers = self.pages.status(now, dict(self.metrics.last_complete))
        except StoreUnavailable as exc:
            store_error = str(exc)
        return self._page("status.html", contract=self.config.file.contract.name, now=self._when(now),
                          zone=self.config.calendar.zone, trackers=trackers, store_error=store_error,
                          when=self._when)

    def explain_page(self, tracker: str, ticket_id: str) -> Response:
        try:
            found = self.pages.explain(tracker, ticket_id, self.clock())
        except StoreUnavailable as exc:
            return Response(503, f"{exc}\n")
        if found is None:
            return Response(404, "the store knows no such ticket\n")
        return self._page("explain.html", **found)
