"""What every tracker adapter provides, and the errors it may raise.

An adapter knows its tracker and nothing of SLAs: it lists changed tickets, reads
one ticket with its full history, and applies actions. It translates the tracker's
failures into three kinds the sync understands (after singer-sdk):

- ``TransientError``: try again later (rate limit, 5xx, network); carries the
  tracker's ``Retry-After`` when it gave one;
- ``PermanentError``: this adapter cannot work (bad credentials, bad config): the
  sync of this adapter stops, others go on;
- ``SkippableError``: this ticket only (malformed, forbidden, deleted): reported,
  the others are synced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable, Iterator, Protocol, Sequence, runtime_checkable

from ..actions import PostComment, SetDueDate, SetLabels
from ..errors import SlaBridgeError
from ..identity import IdentityPattern, Person, matches
from ..model import Role, Ticket

if TYPE_CHECKING:
    from ..config import Config, TrackerSection


class AdapterError(SlaBridgeError):
    """A tracker call failed; the subclass says what the sync should do about it."""


class TransientError(AdapterError):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(AdapterError):
    pass


class SkippableError(AdapterError):
    pass


class FieldRefused(AdapterError):
    """The tracker refused one field of a write and took the others (Redmine: a due date
    before the issue's start date answers 422). Raised by ``apply_fields`` *after* the
    other fields were written, so the sync records them and reports the refusal once."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field  # "due_date" or "labels"


def looks_like_json(text: str) -> bool:
    """A body that starts as JSON does (cut short, say): the tracker speaks JSON, this answer
    was damaged on the way; anything else (a login page) means the address is not the API."""
    return text.lstrip()[:1] in ("{", "[")


def person_role(person: Person | None, agents: Sequence[IdentityPattern], me: Person | None = None) -> Role:
    """Who wrote a comment or made a change, for the contract: the configured agents and
    sla-bridge's own API user are agents, anyone else is the customer, nobody is the system."""
    if person is None:
        return Role.SYSTEM
    if me is not None and me.id is not None and person.id == me.id:
        return Role.AGENT
    return Role.AGENT if matches(person, agents) else Role.CUSTOMER


@dataclass(frozen=True)
class Check:
    """One line of ``check-config --connect``: something the config names, found or not."""

    subject: str  # "authentication", "status", "priority", "custom field", "transition", "permission", ...
    name: str     # what the config names, e.g. "Feedback"
    ok: bool
    detail: str = ""  # what was found, or what is missing and how to fix it


@dataclass(frozen=True)
class ChangedTicket:
    """One row of the change query: enough to decide whether to read the ticket.

    A row whose ``updated`` cannot be read (no time zone, not a date) carries
    ``problem`` and no ``updated``: the sync treats that ticket as malformed
    (reported, retried later) and pages on by the rows around it.
    """

    id: str
    updated: datetime | None
    problem: str | None = None


def _last_stamp(page: Sequence[ChangedTicket]) -> datetime | None:
    return next((row.updated for row in reversed(page) if row.updated is not None), None)


MAX_SCANS = 6  # of one bulk edit; past that, the pass ends and the next reads it again
# How much before the bound a well-behaved tracker may still list a ticket: Redmine's filter
# is `updated_on > bound - 1 s` on stamps it keeps finer than the seconds it shows.
BOUND_SLACK = timedelta(seconds=1)


def keyset_pages(query: Callable[[datetime | None, int], Sequence[ChangedTicket]], cursor: datetime | None,
                 page_size: int, resolution: timedelta = timedelta(microseconds=1)) -> Iterator[ChangedTicket]:
    """Page through a change query sorted by ``(updated, id)`` without missing a ticket.

    ``query(bound, offset)`` returns one page of tickets updated at or after
    ``bound``. Offset paging alone skips a ticket whenever one before it is updated
    while we page; so each page restarts from the last ``updated`` seen, and an
    edit can only move a ticket later, where it is read again. Only a full page of
    tickets sharing one ``updated`` (a bulk edit) needs the offset: that group is
    scanned until two scans in a row list the same tickets, and paging resumes one
    ``resolution`` (the tracker's timestamp precision: 1 s for Redmine) after it.
    Rows seen twice are dropped.
    """
    seen: set[tuple[str, datetime | None]] = set()

    def fresh(page: Sequence[ChangedTicket]) -> list[ChangedTicket]:
        rows = [row for row in page if (row.id, row.updated) not in seen]
        seen.update((row.id, row.updated) for row in rows)
        return rows

    bound = cursor
    while True:  # every turn moves `bound` strictly later, so this ends with the tracker's list
        page = query(bound, 0)
        yield from fresh(page)
        if len(page) < page_size:
            return
        last = _last_stamp(page)
        if last is None:
            raise TransientError("a whole page of the change query had no readable `updated`; the next pass"
                                 " reads it again")
        first = next((row.updated for row in page if row.updated is not None), last)
        if bound is not None and first < bound - resolution - BOUND_SLACK:
            # Rows well before the bound asked: the tracker ignores the `updated` filter, and
            # stepping the bound on would never reach the end of its list.
            raise TransientError(f"the change query makes no progress: asked for tickets updated from"
                                 f" {bound.isoformat()}, it listed one updated {first.isoformat()} (does the"
                                 " tracker ignore the `updated` filter?); the next pass tries again")
        if bound is None or last > bound:
            bound = last
            continue
        yield from _stable_group(query, bound, page_size, fresh)
        bound += resolution  # past the group: an edit moves a ticket later, never before this


def _stable_group(query: Callable[[datetime | None, int], Sequence[ChangedTicket]], bound: datetime,
                  page_size: int, fresh: Callable[[Sequence[ChangedTicket]], list[ChangedTicket]]
                  ) -> Iterator[ChangedTicket]:
    """Yield the tickets at `bound`, scanning by offset until two scans agree."""
    previous: list[str] | None = None
    for _ in range(MAX_SCANS):
        ids: list[str] = []
        offset, last_page, repeats = 0, None, 0
        while True:
            page = query(bound, offset)
            yield from fresh(page)
            listed = [row.id for row in page]
            repeats = repeats + 1 if len(page) == page_size and listed == last_page else 0
            if repeats >= 2:
                # The same full page at three offsets in a row: the tracker ignores
                # `offset` (an edit can repeat a page once, not twice).
                raise TransientError(f"the change query returned the same tickets again at offset {offset};"
                                     " the next pass reads them again")
            last_page = listed
            ids += [row.id for row in page if row.updated == bound and row.id not in ids]
            last = _last_stamp(page)
            if len(page) < page_size or last is None or last > bound:
                break
            offset += len(page)
        if ids == previous:
            return
        previous = ids
    raise TransientError(f"the change list kept moving while tickets updated at {bound.isoformat()}"
                         " were read; the next pass reads them again")


@runtime_checkable
class Adapter(Protocol):
    """One configured tracker instance.

    ``changed_since`` is a paged iterator: it holds one page in memory whatever the
    number of tickets. ``fetch`` returns the ticket fresh, with its whole history.
    ``apply_fields`` writes the due date and labels in as few calls as the tracker
    allows (one, where it can). ``post_comment`` must never be retried blindly: a
    retried POST can double-post a reminder.

    An adapter whose tracker can hold only a due *date* (no field for the exact
    deadline) sets ``tracks_due_at = False``; reconciliation then compares dates.
    """

    name: str

    def changed_since(self, cursor: datetime | None) -> Iterator[ChangedTicket]: ...

    def fetch(self, ticket_id: str) -> Ticket: ...

    def apply_fields(self, ticket: Ticket, due: SetDueDate | None, labels: SetLabels | None) -> None: ...

    def post_comment(self, ticket: Ticket, comment: PostComment) -> None: ...

    def transition(self, ticket: Ticket, to_status: str) -> None: ...


@runtime_checkable
class ConnectionCheck(Protocol):
    """An adapter that can check, read-only, what its configuration names.

    ``check_connection`` authenticates, then looks up every status, priority, custom
    field, label field and transition the config names, a path from each waiting
    status to the closing status, and whether the API user may comment publicly. It
    writes nothing. A failure to authenticate is one failed ``Check``, not an
    exception.
    """

    def check_connection(self) -> list[Check]: ...


class AdapterFactory(Protocol):
    """What a plugin registers: usually the adapter class itself.

    It is called with the instance name, its ``[trackers.<name>]`` section (whose
    ``options`` the adapter validates itself) and the whole configuration.
    """

    def __call__(self, name: str, section: "TrackerSection", config: "Config") -> Adapter: ...
