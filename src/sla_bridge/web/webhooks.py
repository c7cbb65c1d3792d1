"""What each tracker's webhook looks like: its signature, its delivery id, the ticket it names.

A webhook only tells sla-bridge *which ticket* to look at. The ticket is then read
through the tracker's API like any other (``Syncer.run_tickets``); nothing else in
the payload is believed, since a delivery can be late, replayed or out of order.
The one other field read is the project (Jira) or group (Zammad), and only to drop
a delivery about a ticket outside the contract before it costs a read: a filter
can narrow what polling would sync, never widen it.

Signatures are HMACs of the raw body, compared in constant time
(``hmac.compare_digest``), so the time an answer takes says nothing about how
much of a forged signature was right. Sources (see docs/http.md):

- Jira admin webhooks: ``X-Hub-Signature: sha256=<hex>`` (WebSub form), delivery id
  ``X-Atlassian-Webhook-Identifier`` (unchanged across retries); the issue in
  ``issue.key``, its project in ``issue.fields.project.key``.
- Zammad trigger webhooks: ``X-Hub-Signature: sha1=<hex>``, delivery id
  ``X-Zammad-Delivery``; the default payload's ``ticket.id`` and ``ticket.group``.
- Redmine 7 webhooks (``app/models/webhook.rb``, ``webhook_payload.rb``):
  ``X-Redmine-Signature-256: sha256=<hex>``, no delivery id; ``{"type":
  "issue.updated", "data": {"issue": {"id": ...}}}``. Redmine sends a hook only for
  the projects it is attached to, so its project is not filtered here; the adapter
  leaves an issue read outside ``options.projects`` alone.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

_DIGITS = re.compile(r"[1-9][0-9]{0,18}")
_JIRA_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,49}-[1-9][0-9]{0,12}")


class BadPayload(ValueError):
    """The body is not the JSON the tracker sends (400)."""


@dataclass(frozen=True)
class Hint:
    """What a delivery says: the ticket to read again, and where it lives (a filter only)."""

    ticket_id: str
    scope: str | None = None  # Jira project key, Zammad group name; None: not said


@dataclass(frozen=True)
class Vendor:
    name: str
    signature_header: str   # the WSGI environ key, e.g. HTTP_X_HUB_SIGNATURE
    algorithm: str          # hashlib name, also the signature's "sha256=" prefix
    delivery_header: str | None
    ticket: Callable[[Any], Hint | None]
    scope_option: str | None  # the adapter option listing what is under contract (projects, groups)

    def signature(self, secret: str, body: bytes) -> str:
        return f"{self.algorithm}={hmac.new(secret.encode('utf-8'), body, self.algorithm).hexdigest()}"

    def signed(self, secret: str, body: bytes, environ: Mapping[str, Any]) -> bool | None:
        """True when the signature matches, False when it does not, None when there is none."""
        given = environ.get(self.signature_header)
        if not isinstance(given, str) or not given.strip():
            return None
        # Bytes, not str: compare_digest refuses non-ASCII text, and a forged header may hold some.
        # WSGI hands headers over as latin-1 text, so this gives back the bytes sent.
        expected = self.signature(secret, body).encode("ascii")
        return hmac.compare_digest(expected, given.strip().lower().encode("latin-1", "replace"))

    def delivery(self, environ: Mapping[str, Any]) -> str | None:
        value = environ.get(self.delivery_header) if self.delivery_header else None
        return value.strip()[:200] if isinstance(value, str) and value.strip() else None

    def in_scope(self, hint: Hint, options: Mapping[str, Any]) -> bool:
        """False only when the payload names a project or group the configuration does not list."""
        listed = options.get(self.scope_option) if self.scope_option else None
        if not listed or hint.scope is None or not isinstance(listed, list):
            return True
        return hint.scope.casefold() in {str(item).casefold() for item in listed}


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _digits(value: Any) -> str | None:
    text = str(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    return text if _DIGITS.fullmatch(text) else None


def jira_ticket(payload: Any) -> Hint | None:
    issue = _obj(_obj(payload).get("issue"))
    key = issue.get("key")
    if not isinstance(key, str) or not _JIRA_KEY.fullmatch(key):
        return None  # a project, sprint or user event: no issue to read
    if str(_obj(payload).get("webhookEvent", "")).endswith("issue_deleted"):
        return None  # nothing left to read
    project = _obj(_obj(issue.get("fields")).get("project")).get("key")
    return Hint(key.upper(), project if isinstance(project, str) else None)


def zammad_ticket(payload: Any) -> Hint | None:
    ticket = _obj(_obj(payload).get("ticket"))
    ticket_id = _digits(ticket.get("id"))
    if ticket_id is None:
        return None
    group = ticket.get("group")
    name = group if isinstance(group, str) else _obj(group).get("name")
    return Hint(ticket_id, name if isinstance(name, str) else None)


def redmine_ticket(payload: Any) -> Hint | None:
    kind = _obj(payload).get("type")
    if kind not in ("issue.created", "issue.updated"):
        return None  # wiki pages, news, time entries, versions; a deleted issue has nothing to read
    ticket_id = _digits(_obj(_obj(_obj(payload).get("data")).get("issue")).get("id"))
    return Hint(ticket_id) if ticket_id is not None else None


VENDORS: dict[str, Vendor] = {
    "jira": Vendor("jira", "HTTP_X_HUB_SIGNATURE", "sha256", "HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER", jira_ticket,
                   "projects"),
    "zammad": Vendor("zammad", "HTTP_X_HUB_SIGNATURE", "sha1", "HTTP_X_ZAMMAD_DELIVERY", zammad_ticket, "groups"),
    "redmine": Vendor("redmine", "HTTP_X_REDMINE_SIGNATURE_256", "sha256", None, redmine_ticket, None),
}
assert all(v.algorithm in hashlib.algorithms_guaranteed for v in VENDORS.values())
