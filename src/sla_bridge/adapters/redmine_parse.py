"""Redmine's answers read defensively: what the REST API returns, or a clear word on what is wrong.

Everything here is pure (no HTTP): times, ids, values of the issue JSON, the change
query's rows, an answer that is not JSON, and the guard that stops a change query
making no progress.

- A time must carry its zone (Redmine writes UTC with ``Z``); a zoneless or
  unreadable one is ``Malformed``, never a naive ``datetime`` that would fail
  later, far from its cause, when compared with an aware one.
- An id is digits: it goes into URLs (``/issues/{id}.json``, ``/users/{id}.json``),
  so anything else is refused before it is sent.
- ``issue_rows`` never raises: a row whose ``updated_on`` cannot be read is a
  ``ChangedTicket`` with ``problem`` (the sync reports and retries that issue only,
  and paging goes on by the other rows); what cannot be a row at all (not an
  issue, no id) is a problem of the whole answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any


from .answers import identified
from .answers import Malformed as Malformed, MalformedAnswer as MalformedAnswer, parse_id as parse_id  # re-exported
from .answers import not_json as not_json, short as short, type_name as type_name  # re-exported
from .base import ChangedTicket, TransientError

EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
RESTAMP_LIMIT = 5  # one issue listed with that many update times in one pass: its stamp moves as it is read
_ID = re.compile(r"^[0-9]{1,18}$")

def need_id(value: Any, what: str) -> str:
    found = parse_id(value)
    if found is None:
        raise Malformed(f"{what} is {short(value)}, not an id")
    return found


def parse_time(value: Any, what: str) -> datetime:
    """An instant as Redmine writes it (``2025-06-02T08:00:00Z``), in UTC; ``Malformed`` if
    missing, zoneless, not a date and time, or outside 1970-2999 (no stamp Redmine makes, and
    one the calendar arithmetic would overflow on)."""
    if value is None or value == "":
        raise Malformed(f"{what} has no time")
    if not isinstance(value, str):
        raise Malformed(f"{what} is {type_name(value)} ({short(value)}), not a date and time")
    try:
        parsed = datetime.fromisoformat(value.strip())  # 3.11+ reads "Z"
    except ValueError:
        raise Malformed(f"{what} {short(value)} is not a date and time") from None
    if parsed.tzinfo is None:
        raise Malformed(f"{what} {short(value)} has no time zone")
    return in_range(parsed, what, value)


def in_range(parsed: datetime, what: str, value: Any) -> datetime:
    """An aware instant in UTC, if it lies between 1970 and 2999."""
    try:
        parsed = parsed.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        raise Malformed(f"{what} {short(value)} is out of range") from None
    if not EARLIEST <= parsed <= LATEST:
        raise Malformed(f"{what} {short(value)} is out of range (before 1970 or after 2999)")
    return parsed


def optional_time(value: Any, what: str) -> datetime | None:
    return None if value is None or value == "" else parse_time(value, what)


def optional_date(value: Any, what: str) -> date | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Malformed(f"{what} is {type_name(value)} ({short(value)}), not a date")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Malformed(f"{what} {short(value)} is not a date") from None


def text(value: Any, what: str) -> str | None:
    """A scalar as text (``None`` for null or empty); a list or an object is ``Malformed``."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise Malformed(f"{what} is {type_name(value)} ({short(value)}), not a text")


def obj(value: Any, what: str) -> dict[str, Any]:
    """An object, or ``{}`` for null/missing; anything else is ``Malformed``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed(f"{what} is {type_name(value)} ({short(value)}), not an object")
    return value


def items(value: Any, what: str) -> list[Any]:
    """A list, or ``[]`` for null/missing; anything else is ``Malformed``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{what} is {type_name(value)} ({short(value)}), not a list")
    return value


def objects(value: Any, what: str) -> list[dict[str, Any]]:
    """A list of objects (``[]`` for null/missing)."""
    found = items(value, what)
    for n, item in enumerate(found, 1):
        if not isinstance(item, dict):
            raise Malformed(f"{what}: item {n} is {type_name(item)} ({short(item)}), not an object")
    return found


def name_of(value: Any, what: str) -> str | None:
    """The ``name`` of an ``{id, name}`` reference (``None`` when the reference is null)."""
    return text(obj(value, what).get("name"), f"{what} name")


def issue_rows(answer: Any) -> tuple[list[ChangedTicket], list[str]]:
    """The rows of one page of ``GET /issues.json``: ``{"issues": [...], "total_count": ...}``.

    Never raises. A row whose ``updated_on`` is missing, zoneless or not a date is a
    ``ChangedTicket`` with ``updated=None`` and its ``problem``; what cannot be a row
    (the answer not an issue list, an item not an issue or without an id) is returned
    in ``problems``.
    """
    if not isinstance(answer, dict):
        return [], [f"expected an object with an issue list, got {type_name(answer)}"]
    listed = answer.get("issues")
    if not isinstance(listed, list):
        return [], [f"its issues are {type_name(listed)}, not a list"]
    rows: list[ChangedTicket] = []
    problems: list[str] = []
    for item, issue_id in identified(listed, "issue", problems):
        try:
            rows.append(ChangedTicket(issue_id, parse_time(item.get("updated_on"), "updated_on")))
        except Malformed as exc:
            rows.append(ChangedTicket(issue_id, None, str(exc)))
    return rows, problems


PRUNE_AT = 2_000  # rows remembered before those behind the bound are let go


class Progress:
    """Stops a change query that makes no progress, within a few requests.

    ``keyset_pages`` (base) asks new questions (a later bound, a further offset) and
    itself stops a server that answers the same full page at three offsets in a row
    (it ignores ``offset``). Two more signs end the pass here, each with a
    ``TransientError`` naming the tracker:

    - rows updated before the bound asked for: the server ignores ``updated_on``.
      Redmine's own filter is ``updated_on > bound - 1 s`` on stamps the database may
      keep with microseconds (SQLite, PostgreSQL), shown truncated to the second: a row
      shown one second before the (whole-second) bound is Redmine's, an older one is not.
      (That slack also lists a whole bulk edit again once its second is passed: rows
      already read, at a new bound, are therefore no sign of a stuck query by themselves.)
    - one issue listed with ``RESTAMP_LIMIT`` different update times: its stamp moves
      each time it is read (a server, or a shim in front of it, showing the current
      time), and paging by it would chase it forever. A person editing an issue while
      the change query is read (seconds) moves it once or twice.
    """

    def __init__(self, tracker: str) -> None:
        self.tracker = tracker
        self.seen: set[tuple[str, datetime | None]] = set()
        self.stamps: dict[str, int] = {}

    def page(self, bound: datetime | None, rows: Sequence[ChangedTicket], *, by_id: bool = False) -> None:
        """Check one page; `by_id`: a page of a group read by id (ids only grow: no restamp to chase)."""
        if bound is not None:
            floor = bound.replace(microsecond=0) - timedelta(seconds=1)
            if len(self.seen) > PRUNE_AT:
                # Rows stamped before what is asked now cannot be listed again: memory stays a
                # few pages whatever the number of issues.
                self.seen = {key for key in self.seen if key[1] is None or key[1] >= floor}
                listed = {issue_id for issue_id, _ in self.seen}
                self.stamps = {i: n for i, n in self.stamps.items() if n > 1 or i in listed}
            early = next((row for row in rows if row.updated is not None and row.updated < floor), None)
            if early is not None and early.updated is not None:
                raise TransientError(
                    f"{self.tracker}: the change query makes no progress: asked for issues updated since"
                    f" {bound.isoformat()}, Redmine answered issue {early.id}, updated {early.updated.isoformat()}"
                    " (the server, or a proxy in front of it, ignores the updated_on filter); the next pass reads"
                    " them again")
        if by_id:
            return
        fresh = {(row.id, row.updated) for row in rows} - self.seen
        self.seen |= fresh
        for issue_id, _ in fresh:
            self.stamps[issue_id] = self.stamps.get(issue_id, 0) + 1
            if self.stamps[issue_id] >= RESTAMP_LIMIT:
                raise TransientError(
                    f"{self.tracker}: the change query makes no progress: issue {issue_id} was listed with"
                    f" {self.stamps[issue_id]} different update times while the change query was read (its"
                    " updated_on moves whenever it is read); the next pass reads them again")
