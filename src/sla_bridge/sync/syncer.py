"""One sync pass of one adapter: read what changed, evaluate, reconcile, apply, record.

The flow of design.md, with its invariants:
- the cursor is re-read with an overlap window and duplicates are dropped; it moves
  only when the pass completes, and only to a stamp the tracker itself showed;
- the change query is read to its end (ids only) before the first write, since
  every write moves a ticket to the end of a query sorted by ``updated``;
- tickets whose ``next_change_at`` has come are re-evaluated from their snapshot,
  with no tracker read unless something must be written;
- before a customer-visible action the ticket is re-read and its markers looked
  for, so a reminder is never sent twice nor skipped;
- after writing, the ticket is read back: what the tracker did not take (a status
  its workflow refused) is reported, and the stored snapshot matches the tracker,
  so the next pass sees nothing to do;
- one bad ticket is reported and skipped; the others are synced.
"""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from contextlib import ExitStack
from typing import Any, Callable, Iterable

import pluggy

from ..actions import Action, Applied, PostComment, SetDueDate, SetLabels, Transition
from ..adapters.base import Adapter, FieldRefused, OutOfScope, PermanentError, SkippableError, TransientError
from ..config import Config
from ..engine import ClockState, Evaluation, evaluate
from ..markers import markers_in
from ..model import Comment, Event, Ticket, TicketFormatError
from ..plugins import notify
from .summary import SyncSummary, describe, summarize, unprefixed
from ..reconcile import Plan, adopt, after_writes, plan, simulate
from ..secrets import scrub
from ..store import Busy, Claimer, Store, store_failure
from .claims import ClaimedWork
from .workers import WorkItem, Workers

log = logging.getLogger("sla_bridge.sync")
MAX_ROUNDS = 2  # write, read back, write what the first write changed; then report
MAX_FAILED_WRITES = 3  # transient write failures in a row before a pass stops: the tracker is down


class WriteDeferred(SkippableError):
    """A write to one ticket failed transiently: that ticket waits for its retry (and is
    re-read before anything is sent again); the pass goes on with the others."""


def as_of(ticket: Ticket, now: datetime, posted: frozenset[str] | set[str] = frozenset()) -> Ticket:
    """The ticket with what the tracker stamped after `now` counted as happening at `now`.

    A pass judges at one instant, but the tracker stamps our own writes (a closure)
    and people's edits during the pass a little later, or much later for a
    ``--at`` in the past, or with its own clock ahead of ours. Counting them at
    `now` keeps every round of a pass, and its dry run, judged at the same instant.
    Likewise the comments this pass posted (their keys in `posted`) count at `now`
    when `now` is later (a ``--at`` in the future): a reminder sent by this pass
    was sent at the pass's instant, so the auto-close waits its day from there.
    """
    def moved(e: Event) -> bool:
        return e.at > now or (bool(posted) and isinstance(e, Comment) and e.own and e.at < now
                              and not markers_in(e.body).isdisjoint(posted))

    if ticket.created <= now and not any(moved(e) for e in ticket.events):
        return ticket
    return replace(ticket, created=min(ticket.created, now),
                   events=tuple(replace(e, at=now) if moved(e) else e for e in ticket.events))


class Syncer(ClaimedWork):
    """Runs passes for one adapter instance against the store."""

    def __init__(self, config: Config, store: Store, adapter: Adapter, pm: pluggy.PluginManager, *,
                 clock: Callable[[], datetime], stop: threading.Event | None = None,
                 progress: Callable[[int], None] | None = None) -> None:
        self.config = config
        self.store = store
        self.adapter = adapter
        self.pm = pm
        self.clock = clock
        self.stop = stop or threading.Event()
        self.progress = progress
        section = config.file.trackers.get(adapter.name)
        self.closing_status = section.closing_status if section else None
        self.comment_public = section.comment_visibility == "public" if section else True
        # A tracker with only a date field (no exact deadline) is compared on the date.
        self.tracks_due_at = bool(getattr(adapter, "tracks_due_at", True))

        self.sync = config.file.sync
        # Tickets worked on at once; an adapter that is not safe to share between threads
        # (``concurrent = False``) gets one.
        wanted = (section.workers if section and section.workers else None) or self.sync.workers
        self.workers = wanted if getattr(adapter, "concurrent", True) else 1
        self._failed_writes = 0  # transient write failures in a row, this pass
        self._pool = Workers(adapter.name, self.stop)
        self._tally = self._pool.tally  # the pass's counters and the plugins' hooks, one worker at a time
        self._local = threading.local()  # the ticket in hand: each worker's own
        self._claimer: Claimer | None = None  # who claims this pass's tickets from the work list

    @property
    def _posted(self) -> set[str]:
        """Keys of the comments this pass posted on the ticket in hand."""
        posted: set[str] | None = getattr(self._local, "posted", None)
        if posted is None:
            posted = self._local.posted = set()
        return posted

    @property
    def _read_at(self) -> datetime | None:
        """When the ticket in hand was read."""
        return getattr(self._local, "read_at", None)

    @_read_at.setter
    def _read_at(self, value: datetime | None) -> None:
        self._local.read_at = value

    def _count(self, summary: SyncSummary, what: str, kind: str | None = None) -> None:
        with self._tally:
            if kind is not None:
                summary.applied[kind] += 1
            else:
                setattr(summary, what, getattr(summary, what) + 1)

    def _notify(self, hook: str, **kwargs: Any) -> None:
        with self._tally:  # plugins see one call at a time, whichever worker makes it
            notify(self.pm, hook, **kwargs)

    @property
    def max_comment_length(self) -> int | None:
        """The longest comment the tracker accepts (Jira: 32,767 characters), if it says."""
        return getattr(self.adapter, "max_comment_length", None)

    @property
    def stamp_precision(self) -> timedelta:
        """How finely the tracker stamps `updated` (Redmine: whole seconds): a snapshot read
        within that much of its stamp may miss an edit bearing the same stamp."""
        return getattr(self.adapter, "stamp_precision", timedelta(0))

    def run(self, now: datetime | None = None, dry_run: bool = False) -> SyncSummary:
        started = self.clock()
        summary = SyncSummary(self.adapter.name, started, now or started, dry_run)
        try:
            if dry_run:  # reads only: no need to wait for, or hold up, a real pass
                self._pass(summary)
                return summary
            with self.store.lock(self.adapter.name):
                self._pass(summary)
        except sqlite3.Error as exc:
            summary.errors.append(f"{self.adapter.name}: pass stopped: {store_failure(self.store.path, exc)}")
        except Busy as exc:
            summary.errors.append(f"{exc}; this pass is skipped")
        except OSError as exc:
            summary.errors.append(f"{self.adapter.name}: cannot take the tracker's lock beside {self.store.path}:"
                                  f" {exc.strerror}; this pass is skipped")
        return summary

    def run_tickets(self, ticket_ids: Iterable[str], now: datetime | None = None) -> SyncSummary:
        """Sync these tickets now, read fresh (a webhook named them): the cursor and the
        last pass's record are left to the polling passes, which stay the safety net."""
        ids = list(dict.fromkeys(ticket_ids))
        if self.store.shared_work:
            # Replicas share the tracker's work list: the tickets go on it, and are worked on
            # here unless a replica has one in hand (it then works on it again, after).
            return self._claimed_run(now, ids, "the tickets are synced by the next pass")
        started = self.clock()
        summary = SyncSummary(self.adapter.name, started, now or started, False)
        name = self.adapter.name
        try:
            with self.store.lock(name):
                self._failed_writes = 0
                self._work((WorkItem(ticket_id, None, None) for ticket_id in ids), summary.now, summary)
                summary.complete = not self.stop.is_set()
        except (TransientError, PermanentError) as exc:
            summary.errors.append(f"{name}: {unprefixed(exc, name)}")
        except sqlite3.Error as exc:
            summary.errors.append(f"{name}: stopped: {store_failure(self.store.path, exc)}")
        except Busy as exc:
            summary.errors.append(f"{exc}; the tickets are synced by the next pass")
        summary.finished = self.clock()
        return summary

    def _pass(self, summary: SyncSummary) -> None:
        name, started, now, dry_run = self.adapter.name, summary.started, summary.now, summary.dry_run
        cursor = self.store.cursor(name).cursor
        summary.onboarding = cursor is None
        if not dry_run:
            self.store.sync_started(name, started)
        since = cursor - timedelta(seconds=self.sync.overlap_seconds) if cursor else None
        newest: datetime | None = None
        self._failed_writes = 0
        held = ExitStack()
        try:
            # Read the whole change query before writing anything: our writes bump
            # `updated` and would reorder the pages under us. Only ids are kept, in the
            # store's work list, not in memory (a dry run, which writes nothing, keeps them).
            # Listed tickets are held by this pass's claimer until the listing ends, so no
            # replica writes either.
            listed: dict[str, datetime | None] = {}
            if not dry_run:
                self._claimer = held.enter_context(self.store.claimer())
                self.store.queue_begin(name)
            for row in self.adapter.changed_since(since):
                if row.updated is None:  # a row the tracker stamped unreadably: that ticket only
                    self._malformed_row(row.id, row.problem or "unreadable `updated`", summary)
                    continue
                newest = max(newest, row.updated) if newest else row.updated
                if self.store.up_to_date(name, row.id, row.updated, self.stamp_precision):
                    continue  # nothing new since our snapshot
                if self.store.waiting_retry(name, row.id, row.updated, now):
                    continue  # failed as it is now; tried again after its delay
                self._list(listed, row.id, row.updated, dry_run)
            # Tickets that failed before are read fresh once their delay is over.
            for ticket_id in self.store.due_retries(name, now):
                self._list(listed, ticket_id, None, dry_run)
            if dry_run:  # then the timed changes of tickets the change query did not list
                self._work(itertools.chain(
                    (WorkItem(ticket_id, None, updated) for ticket_id, updated in listed.items()),
                    (WorkItem(r.ticket_id, r.snapshot, None) for r in self.store.due_tickets(name, now)
                     if r.ticket_id not in listed)), now, summary)
            else:
                with held:
                    assert self._claimer is not None
                    self.store.release(name, self._claimer)
                    self.store.queue_due(name, now)
                    self._work(self._claims(self._claimer, wait=self.store.shared_work), now, summary)
            summary.complete = not self.stop.is_set()
        except TransientError as exc:
            summary.errors.append(f"{name}: tracker unavailable, will retry next pass: {unprefixed(exc, name)}")
        except PermanentError as exc:
            summary.errors.append(f"{name}: {unprefixed(exc, name)}")
        except sqlite3.Error as exc:
            summary.errors.append(f"{name}: pass stopped: {store_failure(self.store.path, exc)}")
        except Exception as exc:  # noqa: BLE001 - one tracker's surprise must not stop the others
            log.exception("%s: unexpected error", name)
            summary.errors.append(f"{name}: unexpected error, pass abandoned: {type(exc).__name__}: {exc}")
        finally:
            self._claimer = None
            try:
                held.close()  # the claimer, when the listing failed
            except sqlite3.Error:
                pass  # its session is gone, and its claims with it
        if not dry_run:
            try:
                self.store.queue_end(name, summary.complete)
            except sqlite3.Error:
                pass  # listed again by the next pass anyway
        summary.finished = self.clock()
        if not dry_run:
            try:
                self._record_pass(summary, newest)
            except sqlite3.Error as exc:
                summary.errors.append(f"{name}: the pass could not be recorded: {store_failure(self.store.path, exc)}")

    def _list(self, listed: dict[str, datetime | None], ticket_id: str, updated: datetime | None,
              dry_run: bool) -> None:
        if not dry_run:
            self.store.queue(self.adapter.name, ticket_id, updated, hold=self._claimer)
        elif ticket_id not in listed or (updated is not None and (listed[ticket_id] or updated) <= updated):
            listed[ticket_id] = updated  # listed twice: the later stamp

    def _work(self, work: Iterable[WorkItem], now: datetime, summary: SyncSummary) -> None:
        """Each ticket of `work` once, by up to ``self.workers`` threads (``Workers``)."""
        self._pool.run(self.workers, work, lambda item: self._one(item, now, summary))

    def _record_pass(self, summary: SyncSummary, newest: datetime | None) -> None:
        # A ticket left for being created after a --at in the past must be read again.
        advanced = self._advance(newest) if summary.complete and not summary.not_yet_created else None
        assert summary.finished is not None
        self.store.sync_finished(self.adapter.name, summary.finished, advanced, summary.to_json())
        self._notify("sla_bridge_sync_finished", adapter=self.adapter.name, summary=summary)

    def _malformed_row(self, ticket_id: str, problem: str, summary: SyncSummary) -> None:
        name = self.adapter.name
        if self.store.waiting_retry(name, ticket_id, None, summary.now):
            return  # reported when it failed; tried again after its delay
        message = scrub(f"skipped, malformed row in the change query: {unprefixed(problem, name)}")
        if not summary.dry_run:
            retry_at = self.store.defer(name, ticket_id, summary.now, message)
            message += f" (retried after {retry_at.astimezone(self.config.calendar.zone):%Y-%m-%d %H:%M})"
        summary.errors.append(f"{name}:{ticket_id}: {message}")

    def _advance(self, newest: datetime | None) -> datetime | None:
        """The next cursor: the newest ``updated`` the change query showed.

        Only the tracker's own stamps move it, never our clock, so a tracker
        whose clock is behind ours loses nothing.
        """
        known = [t for t in (newest, self.store.cursor(self.adapter.name).cursor) if t is not None]
        return max(known) if known else None

    def _one(self, item: WorkItem, now: datetime, summary: SyncSummary) -> None:
        with ExitStack() as held:
            self._local.held, self._local.ids, self._local.claim = held, {item.ticket_id}, item.claim
            held.enter_context(self._pool.holding(item.ticket_id))
            self._one_held(item.ticket_id, item.snapshot, now, summary, item.updated)
            if item.claim is not None:  # synced, or deferred to its retry: off the work list
                self.store.done(self.adapter.name, item.claim)

    def _one_held(self, ticket_id: str, snapshot: Ticket | None, now: datetime, summary: SyncSummary,
                  updated: datetime | None = None) -> None:
        """One ticket; its failure is reported and retried later, never the pass's end.

        Only transient and permanent errors (the tracker is down or unusable) end
        the pass; they propagate.
        """
        name = self.adapter.name
        self._local.posted, self._local.read_at = set(), None
        try:
            self._reconcile(ticket_id, snapshot, now, summary)
            if not summary.dry_run:
                self.store.retried(name, ticket_id)
        except (TransientError, PermanentError, sqlite3.Error):
            raise  # the tracker or the store is unusable: the pass ends
        except OutOfScope as exc:
            # No longer under this contract: left alone (no timed change, no retry every few
            # hours, its fields as last written), its snapshot kept for the reports of the
            # time it was. Said once, not an error.
            message = f"{name}:{ticket_id}: {unprefixed(exc, name)}"
            if not summary.dry_run:
                self.store.leave_alone(name, ticket_id, message)
                log.warning("%s", message)
            summary.left_alone.append(message)
        except Exception as exc:  # noqa: BLE001 - a bad ticket must not stop the others
            if isinstance(exc, WriteDeferred):
                with self._tally:
                    self._failed_writes += 1
                    failed = self._failed_writes
                if failed >= MAX_FAILED_WRITES:  # not one ticket's trouble: the tracker's
                    raise TransientError(f"{MAX_FAILED_WRITES} writes in a row failed, the last:"
                                         f" {unprefixed(exc, name)}") from None
                message = f"deferred: {unprefixed(exc, name)}"
            elif isinstance(exc, SkippableError):
                message = f"skipped: {unprefixed(exc, name)}"
            elif isinstance(exc, (TicketFormatError, ValueError)):
                message = f"skipped, malformed ticket: {exc}"
            else:
                log.exception("%s:%s: unexpected error", name, ticket_id)
                message = f"skipped, unexpected {type(exc).__name__}: {exc}"
            message = scrub(message)
            if not summary.dry_run:
                # Measured on the pass's clock: a replay at --at does not wait for real minutes.
                retry_at = self.store.defer(name, ticket_id, summary.now, message,
                                            updated or (snapshot.updated if snapshot else None))
                message += f" (retried after {retry_at.astimezone(self.config.calendar.zone):%Y-%m-%d %H:%M})"
            summary.errors.append(f"{name}:{ticket_id}: {message}")
        if self.progress:
            with self._tally:
                self.progress(summary.tickets_evaluated)

    def _plan(self, ticket: Ticket, applied: Applied, now: datetime) -> tuple[Evaluation, Plan]:
        ticket = as_of(ticket, now, self._posted)
        contract = self.config.contract_for(ticket)  # its customer's, its tracker's, or the default
        evaluation = evaluate(ticket, contract.policy, contract.calendar, now, explain=False)
        shown = contract.policy.status_map(ticket.tracker).role(ticket.status)
        planned = plan(ticket, evaluation, applied, label_prefix=self.config.policy.labels.prefix,
                       closing_status=self.closing_status, on_manual_change=self.sync.on_manual_change,
                       shown_role=shown, tracks_due_at=self.tracks_due_at, comment_public=self.comment_public,
                       max_comment_length=self.max_comment_length)
        return evaluation, self._withhold_resends(ticket, planned)

    def _settled(self, ticket: Ticket, applied: Applied, now: datetime, todo: Plan) -> Plan:
        """With a closure in the plan, the fields as they will be once it is done.

        A closure ends the clocks: the due date and the SLA labels it leaves are not
        those of the open ticket. Planned on the ticket as it will be after the closure
        (as the dry run sees it), the fields are written once, before the transition,
        instead of once for the open ticket and again after the read-back.
        """
        if not any(isinstance(a, Transition) for a in todo.actions):
            return todo
        prefix = self.config.policy.labels.prefix
        closed = simulate(ticket, todo.actions, now)
        final, _ = self._plan(closed, after_writes(applied, todo.actions, ticket.labels, prefix), now)
        fields = plan(ticket, final, applied, label_prefix=prefix, closing_status=None,
                      on_manual_change=self.sync.on_manual_change, tracks_due_at=self.tracks_due_at).actions
        return replace(todo, actions=tuple(a for a in fields if isinstance(a, (SetDueDate, SetLabels)))
                       + tuple(a for a in todo.actions if not isinstance(a, (SetDueDate, SetLabels))))

    def _withhold_resends(self, ticket: Ticket, planned: Plan) -> Plan:
        """A comment the journal says was sent, yet missing from the tracker, was
        deleted by a person: sending it again would double it. (Dry run sees this too.)"""
        resent = [a for a in planned.actions if isinstance(a, PostComment) and self.store.journaled(a.key)]
        if not resent:
            return planned
        return replace(planned, actions=tuple(a for a in planned.actions if a not in resent),
                       conflicts=planned.conflicts + tuple(
                           f"{a.key} was sent before and is no longer on the tracker; not sent again" for a in resent))

    def _fetch(self, ticket_id: str, summary: SyncSummary) -> Ticket:
        self._count(summary, "tickets_read")
        self._read_at = self.clock()  # before the request: an edit after this instant is not in it
        ticket = self.adapter.fetch(ticket_id)
        ids: set[str] | None = getattr(self._local, "ids", None)
        if ids is not None and ticket.id not in ids:
            # Known under another id (a Jira issue moved to another project): the stored old
            # key and the listed new one are one ticket, worked on by one worker at a time.
            # Held, it is read again: another worker may have written to it meanwhile.
            ids.add(ticket.id)
            self._local.held.enter_context(self._pool.holding(ticket.id))
            self._count(summary, "tickets_read")
            self._read_at = self.clock()
            ticket = self.adapter.fetch(ticket_id)
        return ticket

    def _reconcile(self, ticket_id: str, snapshot: Ticket | None, now: datetime, summary: SyncSummary) -> None:
        name = self.adapter.name
        record = self.store.ticket(name, ticket_id)
        applied = record.applied if record else Applied()
        self._read_at = None
        ticket = snapshot or self._fetch(ticket_id, summary)
        if ticket.created > now and now < summary.started:
            summary.not_yet_created.append(f"{name}:{ticket_id}")  # what-if: it did not exist yet
            return
        evaluation, todo = self._plan(ticket, applied, now)
        if todo.actions and snapshot is not None:
            # Timed change on a stored snapshot: write only from a fresh read.
            ticket = self._fetch(ticket_id, summary)
            evaluation, todo = self._plan(ticket, applied, now)
        todo = self._settled(ticket, applied, now, todo)
        self._count(summary, "tickets_evaluated")
        summary.conflicts += [f"{name}:{ticket_id}: {c}" for c in todo.conflicts]
        if summary.dry_run:
            # What a real run would do, including the follow-up of its own writes,
            # planned on the ticket as the tracker would then show it.
            for _ in range(MAX_ROUNDS):
                if not todo.actions:
                    break
                summary.planned += [(f"{name}:{ticket_id}", a) for a in todo.actions]
                applied = after_writes(applied, todo.actions, ticket.labels, self.config.policy.labels.prefix)
                ticket = simulate(ticket, todo.actions, now)
                previous, (evaluation, todo) = todo, self._plan(ticket, applied, now)
                todo = self._settled(ticket, applied, now, todo)
                if set(todo.actions) & set(previous.actions):
                    break
            return
        for key in todo.already_done:  # posted by an earlier run that died before recording it
            self.store.journal(key, name, ticket_id, "comment", now, "found on the tracker")
        # Writing can change what is desired (a closure ends the clocks: the due date
        # and SLA labels go), so the read-back is planned again, once.
        for _ in range(MAX_ROUNDS):
            if not todo.actions:
                break
            try:
                applied = self._apply(ticket, todo.actions, applied, summary)
            except TransientError as exc:
                raise WriteDeferred(f"{name}: a write failed ({unprefixed(exc, name)});"
                                    " the ticket is read again before anything is sent") from None
            with self._tally:
                self._failed_writes = 0
            ticket = self._fetch(ticket_id, summary)
            previous, (evaluation, todo) = todo, self._plan(ticket, applied, now)
            todo = self._settled(ticket, applied, now, todo)
            summary.conflicts += [f"{name}:{ticket_id}: {c}" for c in todo.conflicts if c not in previous.conflicts]
            if set(todo.actions) & set(previous.actions):
                break
        if todo.actions:
            missing = "; ".join(describe(a) for a in todo.actions)
            summary.errors.append(f"{name}:{ticket_id}: the tracker did not take: {missing}")
        applied = adopt(applied, as_of(ticket, now, self._posted), evaluation, self.config.policy.labels.prefix,
                        self.tracks_due_at)
        self._notify_breaches(ticket, evaluation, record.evaluation if record else {})
        if ticket.id != ticket_id:  # the tracker renamed it (a moved issue): keep one record
            self.store.forget(name, ticket_id)
        self.store.save_ticket(name, ticket, applied, summarize(evaluation), evaluation.next_change_at,
                               read_at=self._read_at)

    def _apply(self, ticket: Ticket, actions: tuple[Action, ...], applied: Applied, summary: SyncSummary) -> Applied:
        name = self.adapter.name
        due = next((a for a in actions if isinstance(a, SetDueDate)), None)
        labels = next((a for a in actions if isinstance(a, SetLabels)), None)
        now = self.clock()
        if due or labels:
            written: tuple[SetDueDate | SetLabels, ...] = tuple(a for a in (due, labels) if a is not None)
            try:
                self.adapter.apply_fields(ticket, due, labels)
            except FieldRefused as exc:
                # The other fields went in; this one is reported now, and not asked again
                # until the contract's answer changes.
                written = tuple(a for a in written if a.kind != exc.field)
                if due is not None and exc.field == "due_date":
                    applied = replace(applied, refused_due_date=due.due_date)
                summary.conflicts.append(f"{name}:{ticket.id}: {unprefixed(exc, name)}; the other fields were written")
            applied = after_writes(applied, written, ticket.labels, self.config.policy.labels.prefix)
            self.store.save_applied(name, ticket, applied)
            for field_action in written:
                if field_action is not None:
                    self._count(summary, "applied", field_action.kind)
                    self._notify("sla_bridge_action_applied", ticket=ticket, action=field_action, adapter=name)
        for action in actions:
            if isinstance(action, (PostComment, Transition)):
                self._still_ours(ticket.id)
            if isinstance(action, PostComment):
                self._posted.add(action.key)
                self.adapter.post_comment(ticket, action)
                self.store.journal(action.key, name, ticket.id, "comment", now, action.comment_kind)
            elif isinstance(action, Transition):
                self.adapter.transition(ticket, action.to_status)
                self.store.journal(action.key, name, ticket.id, "transition", now, action.to_status)
            else:
                continue
            self._count(summary, "applied", action.kind)
            self._notify("sla_bridge_action_applied", ticket=ticket, action=action, adapter=name)
        return applied

    def _notify_breaches(self, ticket: Ticket, evaluation: Evaluation, before: dict[str, Any]) -> None:
        old = before.get("clocks", {})
        for clock, result in evaluation.clocks.items():
            if result.state is ClockState.BREACHED and old.get(clock.value, {}).get("state") != "breached":
                self._notify("sla_bridge_breach", ticket=ticket, clock=result, evaluation=evaluation)
