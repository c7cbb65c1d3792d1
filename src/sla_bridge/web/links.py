"""A ticket's own page on its tracker, from the tracker section's ``options.url``.

Derived here rather than asked of the adapters, so the status page needs no adapter
(nor a network call) to link a ticket: Redmine ``{url}/issues/{id}``, Jira
``{url}/browse/{key}``, Zammad ``{url}/#ticket/zoom/{id}``. Only http(s) URLs are
linked: a ``javascript:`` URL in a configuration must not become a link.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import quote, urlsplit

PATTERNS = {
    "redmine": "{url}/issues/{id}",
    "jira": "{url}/browse/{id}",
    "zammad": "{url}/#ticket/zoom/{id}",
}


def ticket_url(adapter: str, options: Mapping[str, Any], ticket_id: str) -> str | None:
    """The ticket's page on its tracker, or None when the adapter or its URL is unknown."""
    pattern = PATTERNS.get(adapter)
    url = options.get("url")
    if pattern is None or not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        return None
    return pattern.format(url=url.rstrip("/"), id=quote(ticket_id, safe=""))
