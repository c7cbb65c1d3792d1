"""The idempotency marker written into every comment sla-bridge posts.

A reminder or closure notice carries its idempotency key in its own text, so the
tracker itself records that it was sent: after a crash between the API call and
the store write, re-reading the ticket finds the marker and nothing is sent twice.
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"\[sla-bridge:([^\]\s]+)\]")


def with_marker(body: str, key: str, limit: int | None = None) -> str:
    """`body` with its marker; cut (never the marker) to fit a tracker's `limit` in characters."""
    marker = f"\n\n[sla-bridge:{key}]"
    if limit is not None and len(body) + len(marker) > limit:
        body = body[:max(0, limit - len(marker) - 1)] + "…"
    return body + marker


def markers_in(text: str) -> set[str]:
    return set(_MARKER.findall(text))
