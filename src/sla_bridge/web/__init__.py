"""The HTTP face of ``sla-bridge serve`` (``[http]``, off by default).

Webhooks that name a ticket to sync at once, Prometheus ``/metrics``, ``/healthz``
and ``/readyz`` probes, and a status page with each ticket's ``explain``. One
concept per module: ``settings`` (the section made ready), ``webhooks`` (each
tracker's signature and payload), ``queue`` (coalescing queue and its worker),
``storeview`` (read-only queries), ``metrics``, ``links``, ``pages``,
``templates``, ``wsgi`` (routes) and ``face`` (the server and its threads).
"""

from __future__ import annotations

from .face import HttpFace
from .settings import HttpSettings, WebhookSettings, http_settings

__all__ = ["HttpFace", "HttpSettings", "WebhookSettings", "http_settings"]
