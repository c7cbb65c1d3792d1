"""How instants and business durations read for people (explanations, tables, comments)."""

from __future__ import annotations

from datetime import datetime

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
