"""The waiting-for-customer cycle (§1.4.2): reminders, the auto-close, and catching up.

A cycle starts when a ticket enters a waiting status and restarts at each customer
answer. Reminders nobody sent on time (a first sync, an outage) are collapsed into
one under ``catch_up = "collapse"``, and the auto-close waits its day after the
reminder actually sent.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import date, datetime, timezone
from typing import Sequence

from ..calendar import BusinessCalendar
from ..markers import markers_in
from ..model import Comment, Role, Ticket
from ..policy import CatchUp, Duration, Policy, StatusRole, Unit
from ..text import customer_date
from .history import History, Instants, Segment, Spans, comments_of, intervals
from .results import CommentKind, DesiredComment, Reminder, WaitingCycle

_WAITING = frozenset({StatusRole.WAITING_FOR_CUSTOMER})
# Members read in the hot paths: an enum's class attribute costs a lookup each time.
_DAYS = Unit.DAYS
_COLLAPSE = CatchUp.COLLAPSE
_RESOLVED, _CLOSED = StatusRole.RESOLVED, StatusRole.CLOSED
_US_PER_MINUTE = 60_000_000


def cycle_stamp(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


_STAMP_DAYS: dict[int, str] = {}  # days since the epoch -> "YYYYMMDD"
_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal()


def _stamp_us(us: int) -> str:
    """``cycle_stamp`` of the instant at epoch microseconds `us`: integer arithmetic, and the
    date's text (formatted by strftime, as before) remembered, instead of a strftime of each instant."""
    days, second = divmod(us // 1_000_000, 86_400)
    day = _STAMP_DAYS.get(days)
    if day is None:
        if len(_STAMP_DAYS) >= 100_000:  # a bound for a service running for years
            _STAMP_DAYS.clear()
        day = _STAMP_DAYS[days] = date.fromordinal(_EPOCH_ORDINAL + days).strftime("%Y%m%d")
    hour, second = divmod(second, 3_600)
    minute, second = divmod(second, 60)
    return f"{day}T{hour:02d}{minute:02d}{second:02d}Z"


def after(cal: BusinessCalendar, start: datetime, delay: Duration) -> datetime:
    if delay.unit is _DAYS:
        return cal.add_days(start, delay.amount)
    return cal.add(start, delay.amount)


def _after_us(cal: BusinessCalendar, start: int, delay: Duration) -> int:
    """``after``, in epoch microseconds."""
    if delay.unit is _DAYS:
        return cal.add_days_us(start, delay.amount)
    return cal.add_us(start, delay.amount * _US_PER_MINUTE)


_new_cycle = tuple.__new__  # builds a WaitingCycle without its generated __new__: most tickets make several


def cycles_of(ticket: Ticket, segments: list[Segment], h: History, policy: Policy, cal: BusinessCalendar,
            severity_reminders: Sequence[Duration], now: datetime, explain: bool = True,
            inst: Instants | None = None, spans: Spans | None = None) -> list[WaitingCycle]:
    """The waiting cycles. Without `explain`, only the ongoing cycle carries its schedule
    (reminders, auto-close) and only the last one its closure key: what a sync acts on.
    The others are listed with their start, end and cause, which ``explain`` completes."""
    waiting = spans(_WAITING) if spans is not None else intervals(segments, _WAITING)
    if not waiting:
        return []
    key = ticket.key
    answers = h.answers()
    cycles: list[WaitingCycle] = []
    append = cycles.append
    last_n = len(waiting) - 1
    for n, (w_start, w_end, _status) in enumerate(waiting):
        # Each customer answer strictly inside the waiting period starts a new cycle; found
        # by bisection, so that a long history is not scanned once per period.
        inside = answers[bisect_right(answers, w_start):bisect_left(answers, w_end) if w_end is not None else None] \
            if answers else answers
        c_start, started_by = w_start, "waiting status"
        if not explain:
            # Listed only, but for the very last cycle: its closure key, and its schedule if it goes on.
            for answer in inside:
                append(_new_cycle(WaitingCycle, (c_start, answer, started_by, (), None, "")))
                c_start, started_by = answer, "customer answer"
            if n < last_n:
                append(_new_cycle(WaitingCycle, (c_start, w_end, started_by, (), None, "")))
            elif w_end is not None:
                append(_new_cycle(WaitingCycle, (c_start, w_end, started_by, (), None,
                                                 f"{key}/closure/{_stamp_us(cal.instant_us(c_start))}")))
            else:
                inst = inst or Instants(cal)
                append(_scheduled(h, cal, inst, policy, key, c_start, None, started_by, severity_reminders, now))
            continue
        count = len(inside)
        for i in range(count + 1):
            c_end = inside[i] if i < count else w_end
            inst = inst or Instants(cal)
            append(_scheduled(h, cal, inst, policy, key, c_start, c_end, started_by, severity_reminders, now))
            if i < count:
                c_start, started_by = inside[i], "customer answer"
    return cycles


def _scheduled(h: History, cal: BusinessCalendar, inst: Instants, policy: Policy, key: str, c_start: datetime,
               c_end: datetime | None, started_by: str, delays: Sequence[Duration], now: datetime) -> WaitingCycle:
    """A cycle with its reminders and auto-close: caught up while it goes on (catch_up = "collapse"),
    or on the contract's dates."""
    start_us = inst(c_start)
    stamp = _stamp_us(start_us)
    keys = [f"{key}/reminder/{stamp}/{k + 1}" for k in range(len(delays))]
    if c_end is None and policy.catch_up is _COLLAPSE:
        reminders, auto_close = _caught_up(h, cal, inst, policy, c_start, delays, keys, now)
    else:
        reminders, auto_close = _on_contract_dates(cal, start_us, policy, c_end, delays, keys)
    return _new_cycle(WaitingCycle, (c_start, c_end, started_by, reminders, auto_close, f"{key}/closure/{stamp}"))


def _on_contract_dates(cal: BusinessCalendar, start_us: int, policy: Policy, c_end: datetime | None,
                       delays: Sequence[Duration], keys: Sequence[str]
                       ) -> tuple[tuple[Reminder, ...], datetime | None]:
    """Each reminder at the contract's business days from the cycle's start (at `start_us`), then the auto-close."""
    instants: list[datetime] = []
    last_us = 0
    for delay in delays:
        last_us = _after_us(cal, start_us, delay)
        instants.append(cal.datetime_at(last_us))
        if c_end is not None and instants[-1] >= c_end:
            break  # a cycle that ended needs its reminders only up to its end
    complete = len(instants) == len(delays) and (c_end is None or instants[-1] < c_end)
    auto_close = cal.datetime_at(_after_us(cal, last_us, policy.auto_close_after)) if instants and complete \
        else None
    return tuple(Reminder(k + 1, at, keys[k]) for k, at in enumerate(instants)), auto_close


def _caught_up(h: History, cal: BusinessCalendar, inst: Instants, policy: Policy, c_start: datetime,
               delays: Sequence[Duration], keys: Sequence[str], now: datetime
               ) -> tuple[tuple[Reminder, ...], datetime | None]:
    """The ongoing cycle's reminders when some came due while nobody sent them (catch_up = "collapse").

    Reminders due together and never sent become one, the latest step due; each
    later step waits its contractual gap after the reminder actually sent before
    it (found by its marker on the tracker, or planned now), and the auto-close
    waits ``auto_close_after`` after the last one actually sent: the customer
    always has the contract's time after a warning.
    """
    sent = _sent_at(h, keys, c_start)
    start_us = inst(c_start)
    datetime_at = cal.datetime_at
    contract_us = [_after_us(cal, start_us, d) for d in delays]
    contract = [datetime_at(us) for us in contract_us]
    last_sent = max((k for k, key in enumerate(keys) if key in sent), default=-1) if sent else -1
    reminders: list[Reminder] = []
    base: datetime | None = None  # when the previous reminder went (or will go) out
    base_us = 0
    steps = len(keys)
    k = 0
    # Reminders are built without their generated __new__, every field given:
    # (number, at, key, skipped, sent, contract_at).
    while k < steps:
        if keys[k] in sent:
            base = sent[keys[k]]
            base_us = inst(base)
            reminders.append(_new_reminder(Reminder, (k + 1, base, keys[k], False, True, None)))
        elif k < last_sent:
            reminders.append(_new_reminder(Reminder, (k + 1, contract[k], keys[k], True, False, None)))
        else:
            due, due_us = contract[k], contract_us[k]
            if base is not None:
                gap_us = _after_us(cal, base_us, _gaps(delays)[k])
                due = max(due, datetime_at(gap_us))
                due_us = due_us if due is contract[k] else gap_us
            if due <= now:
                latest = k
                for j in range(k + 1, steps):
                    if contract[j] <= now:
                        latest = j
                reminders += [_new_reminder(Reminder, (j + 1, contract[j], keys[j], True, False, None))
                              for j in range(k, latest)]
                k = latest
                due = max(due, contract[k])
            reminders.append(_new_reminder(Reminder, (k + 1, due, keys[k], False, False, contract[k])))
            # sent by this pass, or planned for later
            base, base_us = (now, inst(now)) if due <= now else (due, due_us)
        k += 1
    auto_close = datetime_at(_after_us(cal, base_us, policy.auto_close_after)) if base is not None else None
    return tuple(reminders), auto_close


_new_reminder = tuple.__new__


def _gap(delays: Sequence[Duration], k: int) -> Duration:
    """The contract's spacing between step k and the one before it."""
    if k == 0:
        return delays[0]
    before, here = delays[k - 1], delays[k]
    if before.unit is here.unit and here.amount > before.amount:
        return Duration(here.amount - before.amount, here.unit)
    return here


def _gaps(delays: Sequence[Duration]) -> Sequence[Duration]:
    """Each step's ``_gap``, made once per severity's steps: the same few come back for every
    ticket, and a Duration costs as much to build as the rest of a reminder's schedule.
    Keyed by identity (hashing Durations is as dear), the steps kept so that their id stays theirs."""
    known = _GAPS.get(id(delays))
    if known is None or known[0] is not delays:
        if len(_GAPS) >= 256:  # policies come and go with reloads: keep the cache small
            _GAPS.clear()
        known = _GAPS[id(delays)] = (delays, tuple(_gap(delays, k) for k in range(len(delays))))
    return known[1]


_GAPS: dict[int, tuple[Sequence[Duration], Sequence[Duration]]] = {}


def _sent_at(h: History, keys: Sequence[str], since: datetime) -> dict[str, datetime]:
    """When each reminder of `keys` was posted, from the markers in sla-bridge's own comments."""
    wanted = set(keys)
    found: dict[str, datetime] = {}
    for comment in h.comments_since(since):
        if not comment.own or "[sla-bridge:" not in comment.body:
            continue
        for key in markers_in(comment.body) & wanted:
            found.setdefault(key, comment.at)
    return found


def _closing_half_done(cycle: WaitingCycle, comments: list[Comment]) -> bool:
    """The cycle's closure notice is on the tracker, posted before the cycle ended, unanswered."""
    notice = next((c.at for c in comments if c.own and cycle.closure_key in markers_in(c.body)
                   and (cycle.ended_at is None or c.at <= cycle.ended_at)), None)
    return notice is not None and not any(c.role is Role.CUSTOMER and c.at >= notice for c in comments)


TITLE_LIMIT = 200  # characters of a title quoted in a reminder; the ticket id is always whole


def _short(title: str) -> str:
    """A title as quoted to the customer: one line, a 1 MB title not copied into every reminder,
    and no idempotency marker (a title quoting one would make the next reminders look sent)."""
    line = " ".join(title.split()).replace("[sla-bridge:", "[sla-bridge :")
    return line if len(line) <= TITLE_LIMIT else line[:TITLE_LIMIT - 1] + "…"


def waiting_actions(ticket: Ticket, cycles: list[WaitingCycle], policy: Policy, cal: BusinessCalendar,
                     now: datetime, severity: str | None, role: StatusRole | None
                     ) -> tuple[list[DesiredComment], str | None, list[datetime]]:
    """Comments that should exist by now, whether to close now, and the next timed change."""
    comments: list[DesiredComment] = []
    upcoming: list[datetime] = []
    close: str | None = None
    # Only the ongoing cycle asks for comments: a reminder of a cycle that ended
    # (the customer answered, the ticket moved on) is moot, whatever happened then.
    cycle = cycles[-1] if cycles and cycles[-1].ended_at is None else None
    if cycle is None and cycles and role is _RESOLVED and _closing_half_done(cycles[-1], comments_of(ticket)):
        # The closure notice went out and the walk to the closing status stopped on the
        # way (Waiting -> Resolved -> Closed): finishing it is still owed.
        return comments, cycles[-1].closure_key.replace("/closure/", "/close/"), upcoming
    if cycle is None or role is _CLOSED:
        return comments, close, upcoming
    values: dict[str, str] = {}  # the comments' texts, filled when one is due (most looks post nothing)

    def texts() -> dict[str, str]:
        if not values:
            assert cycle is not None
            values.update(ticket=ticket.id, title=_short(ticket.title), reminders=str(len(cycle.reminders)),
                          severity=severity or "", waiting_since=customer_date(cycle.started_at, cal),
                          close_on=customer_date(cycle.auto_close_at, cal) if cycle.auto_close_at else "")
        return values

    pending: Reminder | None = None  # due, not yet on the tracker: this pass sends it
    for reminder in cycle.reminders:
        if reminder.skipped:
            continue
        if pending is not None:
            # Until it is sent, what follows is timed from the sending, an event; only a
            # later step coming due changes the answer (it replaces the pending one).
            upcoming += [r.contract_at for r in cycle.reminders[reminder.number - 1:]
                         if r.contract_at is not None and r.contract_at > now]
            return comments, close, upcoming
        if reminder.at > now:
            upcoming.append(reminder.at)
            return comments, close, upcoming
        body = policy.reminder_template.render(**texts(), reminder=str(reminder.number))
        comments.append(DesiredComment(reminder.key, CommentKind.REMINDER, reminder.at, body))
        if policy.catch_up is _COLLAPSE and not reminder.sent:
            pending = reminder
    if pending is not None:
        return comments, close, upcoming  # the auto-close counts from the last reminder's sending
    at = cycle.auto_close_at
    if at is not None and at > now:
        upcoming.append(at)
    elif at is not None:
        comments.append(DesiredComment(cycle.closure_key, CommentKind.CLOSURE, at,
                                       policy.closure_template.render(**texts())))
        close = cycle.closure_key.replace("/closure/", "/close/")
    return comments, close, upcoming
