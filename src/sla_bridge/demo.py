"""``sla-bridge demo``: the contract run over sample tickets through simulated weeks.

The simulated tracker is a list of tickets whose scripted history unfolds as
simulated time passes; at each instant where something can change (an event, or
an evaluation's ``next_change_at``) every ticket is evaluated, and the reminders
and closures the engine asks for are applied to the simulated tracker, carrying
their idempotency marker, exactly as a sync would.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from importlib import resources
from pathlib import Path

from rich.console import Console

from .calendar import BusinessCalendar
from .config import Config, config_from_mapping, load_config
from .engine import ClockState, CommentKind, Evaluation, evaluate
from .markers import markers_in, with_marker
from .model import Comment, Role, StatusChange, Ticket, tickets_from_json
from .policy import StatusRole
from .report import local

DEMO_START = datetime.fromisoformat("2025-04-28T08:00:00+02:00")
DEMO_END = datetime.fromisoformat("2025-05-23T19:00:00+02:00")
STATE_WORDS = {ClockState.AT_RISK: "[bold yellow]at risk[/]", ClockState.BREACHED: "[bold red]BREACHED[/]",
               ClockState.MET: "[green]met[/]"}


def builtin_config() -> Config:
    import tomllib

    text = resources.files("sla_bridge").joinpath("data/config.example.toml").read_text(encoding="utf-8")
    return config_from_mapping(tomllib.loads(text), Path("config.example.toml (built-in)"))


def sample_tickets() -> list[Ticket]:
    text = resources.files("sla_bridge").joinpath("data/demo-tickets.json").read_text(encoding="utf-8")
    return tickets_from_json(json.loads(text), "demo-tickets.json")


def _sent_keys(ticket: Ticket) -> set[str]:
    return {key for e in ticket.events if isinstance(e, Comment) for key in markers_in(e.body)}


def _apply(ticket: Ticket, evaluation: Evaluation, now: datetime, closing_status: str) -> tuple[Ticket, list[str]]:
    """What a sync does to the simulated tracker: post missing comments, then close."""
    done: list[str] = []
    sent = _sent_keys(ticket)
    events = list(ticket.events)
    for comment in evaluation.desired.comments:
        if comment.key in sent:
            continue
        events.append(Comment(now, "sla-bridge", Role.AGENT, comment.public, with_marker(comment.body, comment.key)))
        if comment.kind is CommentKind.REMINDER:
            done.append(f"reminder {comment.key.rsplit('/', 1)[-1]} sent to {ticket.reporter}")
    status = ticket.status
    if evaluation.desired.close:
        events.append(StatusChange(now, evaluation.status, closing_status, "sla-bridge", Role.SYSTEM))
        status = closing_status
        done.append("[bold]closed automatically[/] (no answer after the third reminder)")
    if not done:
        return ticket, done
    return replace(ticket, events=tuple(events), status=status), done


def _changes(before: Evaluation | None, after: Evaluation, cal: BusinessCalendar) -> list[str]:
    lines: list[str] = []
    if before is None:
        if not after.entitled:
            lines.append("reporter not entitled: no clocks (§1.3)")
        elif not after.in_scope:
            lines.append("out of scope: no clocks (§1.3)")
        elif after.severity is None:
            lines.append(f"[yellow]{after.warnings[0] if after.warnings else 'unknown severity'}[/]")
        if after.desired.labels:
            lines.append(f"labels {', '.join(sorted(after.desired.labels))}")
        return lines
    for clock, c in after.clocks.items():
        old = before.clocks[clock]
        if c.state is not old.state and c.state in STATE_WORDS:
            when = f" (deadline {local(c.deadline, cal)})" if c.deadline else ""
            lines.append(f"{clock.value} {STATE_WORDS[c.state]}{when}")
    if after.cycles and len(after.cycles) > len(before.cycles) and after.cycles[-1].started_by == "customer answer":
        lines.append("customer answered: the reminder cycle restarts")
    added = after.desired.labels - before.desired.labels
    if added:
        lines.append(f"labels + {', '.join(sorted(added))}")
    return lines



def run_demo(console: Console, config_path: Path | None = None) -> None:
    cfg = load_config(config_path) if config_path else builtin_config()
    tickets = sample_tickets()
    closing = next(iter(sorted(s for s, r in cfg.policy.default_statuses.roles.items() if r is StatusRole.CLOSED)),
                   "closed")
    console.print(f"[bold]sla-bridge demo[/] - {cfg.file.contract.name}, {len(tickets)} sample tickets,"
                  f" {local(DEMO_START, cfg.calendar)} to {local(DEMO_END, cfg.calendar)}", soft_wrap=True)
    previous: dict[str, Evaluation] = {}
    now: datetime | None = DEMO_START
    counts = {"reminders": 0, "closures": 0, "breaches": 0}
    while now is not None and now <= DEMO_END:
        for i, ticket in enumerate(tickets):
            if ticket.created > now:
                continue
            evaluation = evaluate(ticket, cfg.policy, cfg.calendar, now)
            ticket, applied = _apply(ticket, evaluation, now, closing)
            if applied:
                tickets[i] = ticket
                evaluation = evaluate(ticket, cfg.policy, cfg.calendar, now)
            lines = _changes(previous.get(ticket.key), evaluation, cfg.calendar) + applied
            if ticket.key not in previous:
                lines.insert(0, f"created by {ticket.reporter}: {ticket.title!r} ({ticket.severity})")
            counts["reminders"] += sum("reminder" in line for line in applied)
            counts["closures"] += sum("closed" in line for line in applied)
            counts["breaches"] += sum("BREACHED" in line for line in lines)
            for line in lines:
                console.print(f"{local(now, cfg.calendar)}  {ticket.id:7}  {line}", soft_wrap=True)
            previous[ticket.key] = evaluation
        now = _next_instant(tickets, previous, now)
    console.print(f"\n{counts['breaches']} breaches, {counts['reminders']} reminders sent,"
                  f" {counts['closures']} automatic closures.")
    console.print("Try: sla-bridge explain config.example.toml src/sla_bridge/data/demo-tickets.json DEMO-2"
                  " --at 2025-05-21T12:00", soft_wrap=True)


def _next_instant(tickets: list[Ticket], evaluations: dict[str, Evaluation], now: datetime) -> datetime | None:
    """The next instant at which anything can happen: an event, or a timed change."""
    candidates = [t.created for t in tickets if t.created > now]
    candidates += [e.at for t in tickets for e in t.events if e.at > now]
    candidates += [e.next_change_at for e in evaluations.values() if e.next_change_at and e.next_change_at > now]
    return min(candidates) if candidates else None
