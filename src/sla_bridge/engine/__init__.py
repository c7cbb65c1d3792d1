"""The SLA engine: one ticket, one policy, one calendar, one instant -> an Evaluation.

Pure by construction: no I/O, no clock read, no tracker knowledge. The same inputs
always give the same answer, which is what lets the service sleep until
``next_change_at`` and lets ``sync --at`` answer what-if questions.

Rules (the README lists them with the clauses they come from):
- every clock starts when the ticket is created; business time only counts inside
  opening hours, so a ticket created at night starts at the next opening;
- targets follow the ticket's *current* severity, measured from the creation;
- a clock pauses while the ticket sits in a status whose role pauses it;
- a day target is converted once into business minutes from the start
  (``between(start, add_days(start, n))``), so a pause extends it by exactly the
  business time it lasted;
- late means business time past the deadline (the annex counts every delay "en
  heures et jours ouvrés durant l'ouverture du Support"): a clock is met when no
  business time elapsed between its deadline and its stop, breached only once some
  has (``overdue``: a Friday 18:00 deadline is breached just after Monday's
  opening, a reply on Wednesday 09:00 meets a Tuesday 18:00 deadline); a late stop
  leaves it breached, and so does a later change of severity: a breach is a fact;
- the time a ticket spends resolved or closed before being reopened counts as a
  pause of the resolution clock;
- a waiting cycle starts when the ticket enters a waiting-for-customer status and
  restarts at each customer answer; reminders and the auto-close follow it only
  while the ticket is still waiting.
"""

from __future__ import annotations

import sys

from .clocks import EPSILON, breach_instant, overdue
from .evaluate import evaluate
from .results import (
    ClockEvaluation,
    ClockState,
    CommentKind,
    DesiredComment,
    DesiredState,
    Evaluation,
    Pause,
    Reminder,
    WaitingCycle,
)

__all__ = [
    "EPSILON", "ClockEvaluation", "ClockState", "CommentKind", "DesiredComment", "DesiredState", "Evaluation", "Pause",
    "Reminder", "WaitingCycle", "breach_instant", "build", "evaluate", "overdue",
]


def build() -> str:
    """How this install runs the engine: "compiled" (the wheel of ``make wheel``, whose
    modules are C extensions built by mypyc) or "pure Python"."""
    origin = getattr(sys.modules[__name__ + ".clocks"], "__file__", None) or ""
    return "pure Python" if origin.endswith((".py", ".pyc")) else "compiled"
