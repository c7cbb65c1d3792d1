"""Zammad's answers read defensively: what the API returns, or a clear word on what is wrong.

Everything here is pure (no HTTP): times, ids, the change query's rows, an answer
that is not JSON, and the guard that stops a change query making no progress.

- A time must carry its zone (Zammad writes UTC with ``Z``); a zoneless or
  unreadable one is ``Malformed``, never a naive ``datetime`` that would fail
  later, far from its cause, when compared with an aware one.
- An id is digits: it goes into URLs (``/tickets/{id}``, ``/users/{id}``), so
  anything else is refused before it is sent.
- ``search_rows`` never raises: a row whose ``updated_at`` cannot be read is a
  ``Row`` with ``problem`` (the sync reports and retries that ticket only, and
  paging goes on by the other rows); what cannot be a row at all (not a ticket,
  no id, not a list) is a problem of the whole answer.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


from .answers import identified
from .answers import Malformed as Malformed, MalformedAnswer as MalformedAnswer, parse_id as parse_id  # re-exported
from .answers import not_json as not_json, short as short, type_name as type_name  # re-exported
from .base import ChangedTicket, TransientError

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)  # the elasticsearch query's upper bound
FAR_FUTURE = "2999-12-31T23:59:59.999Z"  # Zammad strips "*" from search queries: no open range
STALL_LIMIT = 3  # new requests in a row answering only rows already read: the query is not paging
_ID = re.compile(r"^[0-9]{1,18}$")
_DATE_ONLY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

def is_date_only(value: Any) -> bool:
    """A *Date* attribute's value (``2025-06-03``), not a *Date & Time*'s."""
    if not isinstance(value, str) or not _DATE_ONLY.match(value):
        return False
    try:
        datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def parse_time(value: Any, what: str, *, bounded: bool = True) -> datetime:
    """An instant as Zammad writes it, in UTC; ``Malformed`` if missing, zoneless or not a date.

    ``bounded``: a time Zammad itself stamped lies between 1970 and 2999 (the change
    query's upper bound); one outside is not a real stamp and would overflow paging.
    """
    if value is None or value == "":
        raise Malformed(f"{what} has no time")
    if not isinstance(value, str):
        raise Malformed(f"{what} is {type_name(value)} ({short(value)}), not a date and time")
    try:
        parsed = datetime.fromisoformat(value)  # 3.11+ reads "Z"
    except ValueError:
        raise Malformed(f"{what} {short(value)} is not a date and time") from None
    if parsed.tzinfo is None:
        raise Malformed(f"{what} {short(value)} has no time zone")
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise Malformed(f"{what} {short(value)} is out of range") from None
    if bounded and not EARLIEST <= parsed <= LATEST:
        raise Malformed(f"{what} {short(value)} is not a time Zammad stamps (before 1970 or after 2999)")
    return parsed


def optional_time(value: Any, what: str, *, bounded: bool = True) -> datetime | None:
    return None if value is None or value == "" else parse_time(value, what, bounded=bounded)


def text(value: Any, what: str) -> str | None:
    """A scalar as text (``None`` for null or empty); a list or an object is ``Malformed``."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise Malformed(f"{what} is {type_name(value)} ({short(value)}), not a text")


@dataclass(frozen=True)
class Row(ChangedTicket):
    """A change-query row with its group: ``groups`` filters after paging, which counts every row."""

    group: str | None = None


def search_rows(answer: Any) -> tuple[list[Row], list[str]]:
    """The rows of one page of ``GET /tickets/search`` or ``GET /tickets`` (``expand=true``).

    Never raises. A row whose ``updated_at`` is missing, zoneless or not a date is a
    ``Row`` with ``updated=None`` and its ``problem``; what cannot be a row (the answer
    not a list, an item not a ticket or without an id) is returned in ``problems``.
    """
    if not isinstance(answer, list):
        return [], [f"expected a list of tickets (expand=true), got {type_name(answer)}"]
    rows: list[Row] = []
    problems: list[str] = []
    for item, ticket_id in identified(answer, "ticket", problems):
        group = item.get("group") if isinstance(item.get("group"), str) else None
        try:
            rows.append(Row(ticket_id, parse_time(item.get("updated_at"), "updated_at"), group=group))
        except Malformed as exc:
            rows.append(Row(ticket_id, None, str(exc), group=group))
    return rows, problems


class Progress:
    """Stops a change query that makes no progress, within ``STALL_LIMIT`` requests.

    Paging asks new questions (a later bound, a further offset or page); a server (or a
    proxy) that ignores them answers the same rows again, forever. Re-asking the same
    question is legitimate (``keyset_pages`` scans a bulk edit twice) and is not
    counted; a *new* request whose full page holds nothing not already read is, and
    ``STALL_LIMIT`` of them in a row end the pass with a ``TransientError``. A short
    page is the end of the list and never counted.
    """

    def __init__(self, tracker: str, mode: str) -> None:
        self.tracker = tracker
        self.mode = mode
        self.seen: set[tuple[str, datetime | None]] = set()
        self.asked: set[Hashable] = set()
        self.stalled = 0
        self.requests = 0

    def page(self, request: Hashable, rows: Sequence[ChangedTicket], full: bool, where: str) -> None:
        self.requests += 1
        fresh = {(row.id, row.updated) for row in rows} - self.seen
        new_request = request not in self.asked
        self.asked.add(request)
        self.seen |= fresh
        if fresh:
            self.stalled = 0
            return
        if new_request and full:
            self.stalled += 1
            if self.stalled >= STALL_LIMIT:
                raise TransientError(
                    f"{self.tracker}: the change query ({self.mode}) makes no progress: {self.stalled} requests in a"
                    f" row answered only tickets already read (the last: {where}); Zammad, or a proxy in front of"
                    " it, does not page as asked; the next pass reads them again")
