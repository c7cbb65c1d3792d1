"""The idempotency marker written into every comment sla-bridge posts.

A reminder or closure notice carries its idempotency key in its own text, so the
tracker itself records that it was sent: after a crash between the API call and
the store write, re-reading the ticket finds the marker and nothing is sent twice.
"""

from __future__ import annotations

import re

_MARKER = re.compile(r"\[sla-bridge:([^\]\s]+)\]")


def with_marker(body: str, key: str) -> str:
    return f"{body}\n\n[sla-bridge:{key}]"


def markers_in(text: str) -> set[str]:
    return set(_MARKER.findall(text))
