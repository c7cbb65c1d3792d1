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


class OutOfScope(SkippableError):
    """The ticket read by id is no longer under this tracker's contract (moved to a project
    or group outside the configured ones). The sync forgets it and leaves it as it is:
    no write, and no retry every few hours; were it moved back, the change query lists
    it again like any ticket."""


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
                 page_size: int, resolution: timedelta = timedelta(microseconds=1), *,
                 group: Callable[[datetime, str | None], Sequence[ChangedTicket]] | None = None,
                 group_span: timedelta | None = None) -> Iterator[ChangedTicket]:
    """Page through a change query sorted by ``(updated, id)`` without missing a ticket.

    ``query(bound, offset)`` returns one page of tickets updated at or after
    ``bound``. Offset paging alone skips a ticket whenever one before it is updated
    while we page; so each page restarts from the last ``updated`` seen, and an
    edit can only move a ticket later, where it is read again. Only a full page of
    tickets sharing one ``updated`` (a bulk edit, or sla-bridge's own writes listed
    again) needs more:

    - a tracker that can list one stamp's tickets by id (``group(bound, after_id)``:
      every ticket listed at `bound`, and up to ``group_span`` after it, with an id
      greater than `after_id`, in id order) has that group read once, by id, which an
      edit cannot disturb (a ticket edited meanwhile moves later, where it is read
      again); paging resumes past ``group_span``;
    - otherwise the group is read by offset until two scans in a row list the same
      tickets, and paging resumes one ``resolution`` (the tracker's timestamp
      precision) after it.

    Rows seen twice in a row are dropped; the caller keeps no other state, so memory
    holds a page or two whatever the number of tickets (a group read by offset keeps
    its ids, to compare its scans).
    """
    recent: set[tuple[str, datetime | None]] = set()  # rows of the pages around the bound

    def fresh(page: Sequence[ChangedTicket], after: datetime | None = None) -> list[ChangedTicket]:
        rows = [row for row in page if (row.id, row.updated) not in recent]
        # A group read by id is remembered only past its stamp, the part the query resuming
        # after it can list again: memory stays a page or two even for a group of 100,000.
        recent.update((row.id, row.updated) for row in rows
                      if after is None or row.updated is None or row.updated > after)
        return rows

    def forget_before(bound: datetime) -> None:
        # A row stamped before what the next query asks cannot be listed again.
        floor = bound - resolution - BOUND_SLACK
        stale = [key for key in recent if key[1] is not None and key[1] < floor]
        recent.difference_update(stale)

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
        # A whole page at one stamp, at or past the bound, is that stamp's group: read it by id at
        # once. (A page at a stamp before the bound is the tracker's slack: the bound's group.)
        at_once = group is not None and first == last and (bound is None or last >= bound)
        if (bound is None or last > bound) and not at_once:
            bound = last
            forget_before(bound)
            continue
        if group is not None:
            bound = last if at_once or bound is None else bound
            at = bound
            yield from _id_group(group, bound, page_size, lambda rows: fresh(rows, after=at))
            bound += group_span if group_span is not None else resolution
            forget_before(bound)
            continue
        assert bound is not None  # (None took the branch above: no group without a bound)
        yield from _stable_group(query, bound, page_size, fresh)
        bound += resolution  # past the group: an edit moves a ticket later, never before this
        forget_before(bound)


def _id_order(ticket_id: str) -> tuple[int, int | str]:
    return (0, int(ticket_id)) if ticket_id.isdigit() else (1, ticket_id)


def _id_group(group: Callable[[datetime, str | None], Sequence[ChangedTicket]], bound: datetime, page_size: int,
              fresh: Callable[[Sequence[ChangedTicket]], list[ChangedTicket]]) -> Iterator[ChangedTicket]:
    """Yield the tickets at `bound` by id: each page starts after the last id seen."""
    after: str | None = None
    while True:
        page = group(bound, after)
        if after is not None and page and _id_order(page[0].id) <= _id_order(after):
            # The tracker ignored the id filter: paging on would list the same tickets forever.
            raise TransientError(f"the change query listed ticket {page[0].id} again when asked for ids after"
                                 f" {after} (tickets updated at {bound.isoformat()}); the next pass reads them again")
        yield from fresh(page)
        if len(page) < page_size:
            return
        after = page[-1].id


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


class Facts(Protocol):
    """What an adapter learnt about its tracker and may keep between runs.

    A server's version, the API user's identity, a refused ``notifyUsers=false``: each
    process used to learn them again, one request (or one wasted write) each time. The
    sync gives every adapter the store's facts for its tracker (``adapter.facts``);
    without a store they last for the process. Values are short texts (JSON is fine);
    an adapter that needs them to expire stores the instant beside the value.
    """

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...


class ProcessFacts:
    """Facts kept for this process only: the default until the store's are given."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self._values.get(key)

    def put(self, key: str, value: str) -> None:
        self._values[key] = value


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
