"""How instants and business durations read for people (explanations, tables, comments)."""

from __future__ import annotations

from datetime import datetime, timedelta

from .calendar import BusinessCalendar


def local(t: datetime | None, cal: BusinessCalendar) -> str:
    """``Tue 2025-03-11 15:00`` in the calendar's zone, for support staff."""
    return t.astimezone(cal.zone).strftime("%a %Y-%m-%d %H:%M") if t else "-"


def customer_date(t: datetime, cal: BusinessCalendar) -> str:
    """Dates inside customer comments: no weekday names, so no language to get wrong."""
    return t.astimezone(cal.zone).strftime("%d/%m/%Y %H:%M")


def minutes_text(minutes: float | None) -> str:
    """Business minutes as ``3h05`` (``-0h30`` when overdue)."""
    if minutes is None:
        return "-"
    sign = "-" if minutes < 0 else ""
    total = int(round(abs(minutes)))
    return f"{sign}{total // 60}h{total % 60:02d}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 ticket``, ``2 tickets``, ``0 tickets``; `many` for irregular words (``1 entry``, ``2 entries``)."""
    return f"{n} {word if n == 1 else many or word + 's'}"


def iso(t: datetime | None, cal: BusinessCalendar) -> str | None:
    """The one form of an instant in ``--json`` output: ISO 8601 in the calendar's zone with its UTC
    offset, to the second (``2025-05-12T12:00:00+02:00``).

    A fraction of a second is rounded *up*: the engine's "just after the deadline"
    (``12:00:00.000001``, when a breach begins) reads ``12:00:01``, after the deadline, and
    ``--at`` that instant sees the change.
    """
    if t is None:
        return None
    if t.microsecond:
        t = t.replace(microsecond=0) + timedelta(seconds=1)
    return t.astimezone(cal.zone).isoformat(timespec="seconds")


def iso_text(text: str | None, cal: BusinessCalendar) -> str | None:
    """`iso` of an instant already written as ISO text (the store's, a summary's)."""
    return iso(datetime.fromisoformat(text.replace("Z", "+00:00")), cal) if text else None


# How each kind of write reads, counted: (one, several).
WRITE_KINDS = {"due_date": ("due date", "due dates"), "labels": ("label change", "label changes"),
               "comment": ("comment", "comments"), "transition": ("closure", "closures")}


def writes_text(counts: dict[str, int]) -> str:
    """``3 comments, 1 due date, 8 label changes`` (or ``no change``) from counts by action kind."""
    return ", ".join(plural(n, *WRITE_KINDS.get(kind, (kind, kind))) for kind, n in sorted(counts.items())) \
        or "no change"
