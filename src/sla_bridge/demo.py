"""``sla-bridge demo``: the real sync path over simulated weeks.

An in-memory tracker is seeded with sample tickets whose scripted history (agents'
work, customers' answers) unfolds as simulated time passes. At each instant where
something can happen — a scripted event, or the earliest ``next_change_at`` in the
store — one sync pass runs: adapter, engine, reconciliation, store, exactly as
``sla-bridge sync`` does against a real tracker. A small observer plugin prints what
the sync did, through the same hooks notification plugins use.

The demo keeps its store and a configuration beside it (``demo_dir()``), so that
``sla-bridge report`` and ``status`` can be tried on what it did.
"""

from __future__ import annotations

import copy
import json
import os
import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from .actions import Action, PostComment, SetDueDate, SetLabels, Transition
from .adapters.memory import MemoryAdapter, MemoryTracker
from .config import Config, config_from_mapping, read_toml
from .engine import ClockEvaluation, Evaluation
from .hookspecs import hookimpl
from .model import Comment, Role, Ticket, tickets_from_json
from .plugins import build_plugin_manager
from .text import local, plural
from .store import Store, StoreError
from .sync import Syncer

DEMO_START = datetime.fromisoformat("2025-04-28T08:00:00+02:00")
DEMO_END = datetime.fromisoformat("2025-05-23T19:00:00+02:00")
DEMO_LAST_PASS = datetime.fromisoformat("2025-05-24T00:00:00+02:00")  # the store has seen every day up to DEMO_END
DEMO_TRACKER = {"adapter": "memory", "closing_status": "closed", "agents": ["login:sla-bridge", "group:support"],
                "statuses": {"new": ["new"], "in_progress": ["in_progress"],
                             "waiting_for_customer": ["waiting_for_customer"],
                             "workaround_delivered": ["workaround_delivered"], "resolved": ["resolved"],
                             "closed": ["closed"]}}
DEMO_DIR_ENV = "SLA_BRIDGE_DEMO_DIR"
DEMO_STORE = "demo.sqlite"
_RAW: list[tuple[Config, dict[str, Any]]] = []  # the mapping each recent built-in config was made from


def example_config_text() -> str:
    return resources.files("sla_bridge").joinpath("data/config.example.toml").read_text(encoding="utf-8")


def builtin_config(raw: dict[str, Any] | None = None, source: Path | None = None) -> Config:
    """The example contract (or `raw`, read from `source`), with the demo's in-memory tracker added.

    Errors name `source`, the file the person gave, with the key path in it."""
    data = raw if raw is not None else tomllib.loads(example_config_text())
    data.setdefault("trackers", {})["demo"] = DEMO_TRACKER
    data.setdefault("sync", {})["store"] = ":memory:"
    config = config_from_mapping(data, source or Path("config.example.toml (built-in)"))
    _RAW[:] = [*_RAW[-7:], (config, copy.deepcopy(data))]
    return config


def demo_config(path: Path) -> Config:
    """``demo --config PATH``: the contract of PATH run with the demo's tracker; any error names PATH."""
    return builtin_config(read_toml(path), path)


def demo_dir() -> Path:
    """Where the demo keeps its store and configuration: ``$SLA_BRIDGE_DEMO_DIR``, else the
    user's cache (``$XDG_CACHE_HOME/sla-bridge/demo``, by default ``~/.cache/sla-bridge/demo``)."""
    chosen = os.environ.get(DEMO_DIR_ENV)
    if chosen:
        return Path(chosen)
    cache = os.environ.get("XDG_CACHE_HOME")
    return (Path(cache) if cache else Path.home() / ".cache") / "sla-bridge" / "demo"


def _demo_store(config: Config, console: Console) -> tuple[Store, Path | None]:
    """A fresh store file in ``demo_dir()`` with the configuration that reads it, or one in
    memory when the directory cannot be written."""
    import tomli_w

    raw = next((r for c, r in _RAW if c is config), None)
    if raw is None:
        raw = tomllib.loads(example_config_text())
        raw.setdefault("trackers", {})["demo"] = DEMO_TRACKER
    raw = copy.deepcopy(raw)
    raw.setdefault("sync", {})["store"] = DEMO_STORE
    where = demo_dir()
    try:
        where.mkdir(parents=True, exist_ok=True)
        for old in [where / DEMO_STORE, *where.glob(f"{DEMO_STORE}-*"), *where.glob(f"{DEMO_STORE}.*.lock")]:
            old.unlink(missing_ok=True)  # every run starts from a tracker sla-bridge has never seen
        (where / "config.toml").write_text(
            "# Written by `sla-bridge demo`: the contract it ran, and where its store is.\n"
            + tomli_w.dumps(raw), encoding="utf-8")
        return Store(where / DEMO_STORE), where
    except (OSError, StoreError) as exc:
        console.print(f"(the demo's store is kept in memory only: cannot write {where}: {exc})", markup=False)
        return Store(":memory:"), None


def sample_tickets() -> list[Ticket]:
    text = resources.files("sla_bridge").joinpath("data/demo-tickets.json").read_text(encoding="utf-8")
    return tickets_from_json(json.loads(text), "demo-tickets.json")


class _Narrator:
    """An observer plugin: prints each action and breach as the sync reports it."""

    def __init__(self, console: Console, config: Config, clock: list[datetime]) -> None:
        self.console, self.config, self.clock = console, config, clock
        self.counts = {"breaches": 0, "reminders": 0, "closures": 0, "writes": 0}

    def say(self, ticket: str, text: str) -> None:
        # `text` is markup: what comes from the tracker in it is escaped by the caller.
        self.console.print(f"{local(self.clock[0], self.config.calendar)}  {escape(ticket):7}  {text}",
                           soft_wrap=True, emoji=False)

    @hookimpl
    def sla_bridge_action_applied(self, ticket: Ticket, action: Action, adapter: str) -> None:
        self.counts["writes"] += 1
        if isinstance(action, SetDueDate):
            self.say(ticket.id, f"due date -> {local(action.due_at, self.config.calendar) if action.due_at else 'none'}")
        elif isinstance(action, SetLabels):
            changes = [f"+{label}" for label in sorted(action.add)] + [f"-{label}" for label in sorted(action.remove)]
            self.say(ticket.id, f"labels {escape(' '.join(changes))}")
        elif isinstance(action, PostComment) and action.comment_kind == "reminder":
            self.counts["reminders"] += 1
            self.say(ticket.id, f"[bold]reminder {action.key.rsplit('/', 1)[-1]}[/] sent to {escape(str(ticket.reporter))}")
        elif isinstance(action, PostComment):
            self.say(ticket.id, "closure notice sent")
        elif isinstance(action, Transition):
            self.counts["closures"] += 1
            self.say(ticket.id, f"[bold]closed automatically[/] (status {escape(repr(action.to_status))})")

    @hookimpl
    def sla_bridge_breach(self, ticket: Ticket, clock: ClockEvaluation, evaluation: Evaluation) -> None:
        self.counts["breaches"] += 1
        self.say(ticket.id, f"[bold red]{clock.clock.value} BREACHED[/] (deadline"
                            f" {local(clock.deadline, self.config.calendar)})")


def _tracker_news(tracker: MemoryTracker, seen: dict[str, int], narrator: _Narrator) -> None:
    """Print what people did on the tracker since the last pass (creations, answers)."""
    for ticket in tracker.tickets.values():
        start = seen.get(ticket.id)
        if start is None:
            narrator.say(ticket.id, escape(f"created by {ticket.reporter}: {ticket.title!r} ({ticket.severity})"))
            start = 0
        for event in ticket.events[start:]:
            if isinstance(event, Comment) and event.role is Role.CUSTOMER:
                narrator.say(ticket.id, escape(f"{ticket.reporter} answered: {event.body!r}"))
        seen[ticket.id] = len(ticket.events)


def run_demo(console: Console, config: Config | None = None) -> dict[str, int]:
    cfg = config or builtin_config()
    clock = [DEMO_START]
    tracker = MemoryTracker(lambda: clock[0], sample_tickets())
    adapter = MemoryAdapter("demo", tracker)
    narrator = _Narrator(console, cfg, clock)
    pm = build_plugin_manager([narrator], load_entry_points=False)
    store, kept = _demo_store(cfg, console)
    syncer = Syncer(cfg, store, adapter, pm, clock=lambda: clock[0])
    console.print(f"[bold]sla-bridge demo[/] - {escape(cfg.file.contract.name)}: {len(tracker._pending)} scripted"
                  f" tracker events, {local(DEMO_START, cfg.calendar)} to {local(DEMO_END, cfg.calendar)}",
                  soft_wrap=True)
    tracker.reveal()
    existing = len(tracker.tickets)
    if existing:
        console.print(f"The tracker already holds {plural(existing, 'ticket')} when sla-bridge first connects: reminders"
                      f" long overdue are collapsed into one (catch_up = {cfg.policy.catch_up.value!r}), and the"
                      " auto-close waits a business day after it.", soft_wrap=True)
    seen: dict[str, int] = {}
    passes = 0
    while clock[0] <= DEMO_END:
        tracker.reveal()
        _tracker_news(tracker, seen, narrator)
        summary = syncer.run(clock[0])
        passes += 1
        for problem in summary.errors + summary.conflicts:
            narrator.say("", f"[yellow]{escape(problem)}[/]")
        _tracker_news(tracker, seen, narrator)
        upcoming = [t for t in (tracker.next_event_at(), store.earliest_change()) if t is not None and t > clock[0]]
        if not upcoming:
            break
        clock[0] = min(upcoming)
    if clock[0] < DEMO_LAST_PASS:  # a last pass, so that the store has seen every day of the demo
        clock[0] = DEMO_LAST_PASS
        syncer.run(clock[0])
        passes += 1
    c = narrator.counts
    console.print(f"\n{passes} sync passes, {c['writes']} writes: {c['breaches']} breaches,"
                  f" {c['reminders']} reminders sent, {c['closures']} automatic closures.", soft_wrap=True)
    console.print("Try: sla-bridge explain config.example.toml src/sla_bridge/data/demo-tickets.json DEMO-2"
                  " --at 2025-05-21T12:00", soft_wrap=True)
    store.close()
    if kept is not None:
        written = kept / "config.toml"
        console.print(f"The demo's store and configuration are in {kept}; its compliance report:", markup=False)
        console.print(f"  sla-bridge report {written} --from {DEMO_START.date()} --to {DEMO_END.date()}",
                      soft_wrap=True, markup=False)
        console.print(f"  sla-bridge report {written} --from {DEMO_START.date()} --to {DEMO_END.date()}"
                      " --format html --out report.html", soft_wrap=True, markup=False)
    return c
