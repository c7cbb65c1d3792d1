"""The Jira adapter's change query: the issues updated since the cursor, oldest first.

``JiraSearch`` sends JQL (minute precision, the API user's time zone) to each
deployment's search endpoint (Cloud: ``GET /search/jql`` with page tokens; Data Center:
``GET /search`` with ``startAt``), pages by keyset, and gives up a paged read that
brings nothing new ``MAX_IDLE_PAGES`` times in a row (``Progress``, also used for the
changelog and comments pages).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Hashable, Iterable, Iterator

from .base import ChangedTicket, PermanentError, SkippableError, TransientError
from .jira_lookups import JiraLookups
from .jira_transport import MINUTE
from .jira_values import count, issue_key, jql_string, obj, parse_time, shorten, wall_clock

log = logging.getLogger(__name__)

ORDER = " ORDER BY updated ASC, key ASC"
# Pages in a row that bring nothing new (a repeated page token, the same startAt window, the
# same changelog or comments again) before a paged read is given up: a misbehaving server
# must not keep a pass busy for ever.
MAX_IDLE_PAGES = 3


@dataclass(frozen=True)
class _Rows:
    """One page of the change query."""

    rows: list[ChangedTicket]
    last: bool




@dataclass
class Progress:
    """Whether a paged read still moves: each page must bring something not seen before."""

    idle: int = 0
    pages: int = 0
    seen: set[Hashable] = field(default_factory=set)
    markers: set[Hashable] = field(default_factory=set)

    def page(self, items: Iterable[Hashable], marker: Hashable = None) -> bool:
        """Record one page (its items, and the token or offset it came from); True when
        ``MAX_IDLE_PAGES`` pages in a row brought nothing new."""
        self.pages += 1
        new = {item for item in items if item not in self.seen}
        repeated = marker is not None and marker in self.markers
        if marker is not None:
            self.markers.add(marker)
        self.seen |= new
        self.idle = 0 if new and not repeated else self.idle + 1
        return self.idle >= MAX_IDLE_PAGES


class JiraSearch(JiraLookups):
    """The change query."""

    def jql_time(self, t: datetime) -> str:
        """A JQL time (minute precision, the API user's zone), never later than ``t``."""
        zone = self.zone
        if zone is None:
            # Jira reads the literal in a zone between UTC-12 and UTC+14: this one is early enough in all.
            local = t.astimezone(timezone.utc) - timedelta(hours=12)
        else:
            local = wall_clock(t, zone)
        return local.strftime("%Y-%m-%d %H:%M")

    def jql(self, bound: datetime | None) -> str:
        parts = [f"project in ({', '.join(jql_string(p) for p in self.options.projects)})"]
        if bound is not None:
            parts.append(f"updated >= {jql_string(self.jql_time(bound))}")
        if self.options.jql_extra:
            parts.append(f"({self.options.jql_extra})")
        return " AND ".join(parts) + ORDER

    def changed_since(self, cursor: datetime | None) -> Iterator[ChangedTicket]:
        """Issues updated at or after ``cursor``, oldest first.

        JQL compares times to the minute, in the API user's time zone: the query starts
        a minute before the cursor (the sync drops rows it already has). Pages are read
        by keyset: once a page ends in a later minute, the query restarts from there, so
        a ticket updated while we page (it moves to the end) never shifts another one
        out of reach. Within one minute, Cloud's page token or Data Center's startAt
        steps on. Rows seen twice are dropped. A row whose ``updated`` cannot be read is
        yielded with ``updated=None`` and the problem, and paging goes on by the others.
        """
        bound = cursor - MINUTE if cursor is not None else None
        seen: set[tuple[str, datetime | None]] = set()
        while True:
            restart = None
            for page in self._search(bound):
                fresh = False
                for row in page.rows:
                    if (row.id, row.updated) not in seen:
                        seen.add((row.id, row.updated))
                        fresh = True
                        yield row
                if page.last:
                    return
                newest = next((row.updated for row in reversed(page.rows) if row.updated is not None), None)
                # Literals compare as times ("2025-06-02 10:01"): restart only from a later minute.
                if fresh and newest is not None and (bound is None or self.jql_time(newest) > self.jql_time(bound)):
                    restart = newest
                    break
            if restart is None:
                return
            bound = restart

    def _search(self, bound: datetime | None, retried: bool = False) -> Iterator[_Rows]:
        jql = self.jql(bound)
        pages = 0
        try:
            for page in self._search_cloud(jql) if self.deployment == "cloud" else self._search_datacenter(jql):
                pages += 1
                yield page
        except SkippableError as exc:
            # A refused change query stops this tracker's pass, with the reason.
            status = getattr(exc, "status", None)
            other = status == 410 or (status == 404 and self.deployment == "cloud")
            if other and not pages and not retried and self.relearn_deployment():
                # The endpoint is the other deployment's: the remembered deployment is stale.
                yield from self._search(bound, retried=True)
                return
            if status == 410:
                raise PermanentError(self._text(f"{exc}. This is Jira Cloud, which removed /rest/api/2/search (410"
                                                ' Gone): set options.deployment = "cloud" (or "auto")')) from None
            if status == 404 and self.deployment == "cloud":
                raise PermanentError(self._text(f"{exc}. This Jira has no /rest/api/2/search/jql (Jira Cloud"
                                                ' only): set options.deployment = "datacenter" (or "auto")')
                                     ) from None
            if status == 400:
                raise PermanentError(self._text(f"{exc} (query: {jql}); check options.projects and"
                                                " options.jql_extra")) from None
            raise PermanentError(self._text(str(exc))) from None

    def _page(self, data: Any, endpoint: str) -> tuple[dict[str, Any], list[Any]]:
        """One page of the change query, checked: an object with a list of issues."""
        issues = data.get("issues", []) if isinstance(data, dict) else None
        if not isinstance(issues, list):
            raise TransientError(self._text(f"list changed issues: {endpoint} answered {shorten(data)}, not a page"
                                            " of issues; the next pass tries again"))
        return data, issues

    def _row(self, issue: Any) -> ChangedTicket | None:
        """One row of the change query: its key and ``updated``, or the problem with them.

        A row without a usable key (none, or one that is not an issue key) names no ticket to
        read or to report: it is left out, with a warning.
        """
        found = obj(issue)
        key = issue_key(found.get("key")) or issue_key(found.get("id"))
        if key is None:
            log.warning("%s: the change query listed an issue without a usable key (%s); it is left out",
                        self.name, shorten(found.get("key") if found else issue))
            return None
        try:
            updated = parse_time(obj(found.get("fields")).get("updated"))
        except ValueError as exc:
            return ChangedTicket(key, None, f"the change query gave an unreadable `updated`: {exc}")
        if updated is None:
            return ChangedTicket(key, None, "the change query gave no `updated` for it")
        return ChangedTicket(key, updated)

    def _rows(self, issues: list[Any]) -> list[ChangedTicket]:
        return [row for row in map(self._row, issues) if row is not None]

    def _stalled(self, endpoint: str, progress: Progress, what: str) -> TransientError:
        return TransientError(self._text(
            f"the change query made no progress: {endpoint} answered {MAX_IDLE_PAGES} pages in a row with nothing"
            f" new ({what}); stopped after {progress.pages} pages, the next pass tries again"))

    def _search_cloud(self, jql: str) -> Iterator[_Rows]:
        """``GET /search/jql``: token paging, no total; a short page is not the last one.

        A server that keeps answering ``isLast: false`` with a token already used, or with
        rows already seen, is not followed for ever (``MAX_IDLE_PAGES``).
        """
        token: str | None = None
        progress = Progress()
        while True:
            params: dict[str, Any] = {"jql": jql, "maxResults": self.options.page_size, "fields": "updated"}
            if token:
                params["nextPageToken"] = token
            data, issues = self._page(self._get("/search/jql", "list changed issues", **params), "/search/jql")
            raw_token = data.get("nextPageToken")
            token = raw_token if isinstance(raw_token, str) and raw_token else None
            # The last page may omit nextPageToken instead of sending null (JRACLOUD-92184).
            last = data.get("isLast") is True or token is None
            rows = self._rows(issues)
            yield _Rows(rows, last)
            if last:
                return
            repeated = "the page token was already used, " if ("token", token) in progress.markers else ""
            if progress.page(((r.id, r.updated) for r in rows), ("token", token)):
                raise self._stalled("/search/jql", progress, f"isLast false, {repeated}next page token"
                                    f" {shorten(token, 40)}, rows already seen: {self._keys(rows)}")

    def _search_datacenter(self, jql: str) -> Iterator[_Rows]:
        """``GET /search``: startAt paging with a total (the server may cap maxResults).

        A server that keeps answering the same window (whatever ``startAt`` asked) is not
        followed for ever (``MAX_IDLE_PAGES``).
        """
        start = 0
        progress = Progress()
        while True:
            data, issues = self._page(self._get("/search", "list changed issues", jql=jql, startAt=start,
                                                maxResults=self.options.page_size, fields="updated"), "/search")
            total = count(data.get("total"), 0)
            asked, start = start, start + len(issues)
            rows = self._rows(issues)
            last = not issues or start >= total
            yield _Rows(rows, last)
            if last:
                return
            if progress.page((r.id, r.updated) for r in rows):
                raise self._stalled("/search", progress, f"startAt {asked} answered startAt"
                                    f" {shorten(data.get('startAt'), 20)} of {total} with rows already seen:"
                                    f" {self._keys(rows)}")

    @staticmethod
    def _keys(rows: list[ChangedTicket]) -> str:
        shown_keys = ", ".join(r.id for r in rows[:5])
        return (shown_keys + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")) or "none"
