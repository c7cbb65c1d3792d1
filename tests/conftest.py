"""Shared fixtures for the engine tests: the example contract and terse ticket builders.

Instants are always written with an explicit UTC offset (``"2025-03-11T10:00+01:00"``);
Europe/Paris is +01:00 in winter and +02:00 from the last Sunday of March to the
last Sunday of October.
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, Callable

import pluggy
import pytest

from sla_bridge.config import Config, config_from_mapping
from sla_bridge.demo import builtin_config
from sla_bridge.engine import Evaluation, evaluate
from sla_bridge.hookspecs import hookimpl
from sla_bridge.identity import Person
from sla_bridge.plugins import build_plugin_manager
from sla_bridge.model import Comment, Event, LabelChange, Role, SeverityChange, StatusChange, Ticket


# --- instants -------------------------------------------------------------------------

def at(text: str | datetime) -> datetime:
    """An aware instant from ISO text; refuses text without an offset (tests must be explicit)."""
    if isinstance(text, datetime):
        return text
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise AssertionError(f"test instant {text!r} has no UTC offset")
    return value


# --- events ---------------------------------------------------------------------------
# Status and severity changes are written with their target only; `make_ticket`
# fills in `from_*` by chaining them, as a tracker's history would.

@dataclass(frozen=True)
class _Status:
    at: datetime
    to: str
    by_role: Role | None = None
    by: str | None = None


@dataclass(frozen=True)
class _Severity:
    at: datetime
    to: str | None


def status(when: str, to: str, by_role: Role | None = None, by: str | None = None) -> _Status:
    return _Status(at(when), to, by_role, by or ("alice" if by_role is Role.CUSTOMER else "sam"))


def severity(when: str, to: str | None) -> _Severity:
    return _Severity(at(when), to)


def agent(when: str, public: bool = True, body: str = "agent comment") -> Comment:
    return Comment(at(when), "sam", Role.AGENT, public, body)


def internal(when: str, body: str = "internal note") -> Comment:
    return Comment(at(when), "sam", Role.AGENT, False, body)


def customer(when: str, public: bool = True, body: str = "customer answer") -> Comment:
    return Comment(at(when), "alice", Role.CUSTOMER, public, body)


def label(when: str, name: str, added: bool = True) -> LabelChange:
    return LabelChange(at(when), name, added, "sam")


def make_ticket(created: str, *events: Any, severity: str | None = "bloquante", initial_status: str = "new",
                status: str | None = None, labels: frozenset[str] | set[str] | None = None,
                id: str = "T-1", tracker: str = "json", title: str = "Le service ne répond plus",
                reporter: str | Person | None = "alice", reporter_groups: frozenset[str] = frozenset(),
                **fields: Any) -> Ticket:
    """A ticket created at `created` in `initial_status` with `severity` (the *initial* one).

    The current status, severity and labels follow the events unless given explicitly.
    """
    built: list[Event] = []
    current_status, current_severity = initial_status, severity
    current_labels = set()
    for event in sorted(events, key=lambda e: e.at):
        if isinstance(event, _Status):
            built.append(StatusChange(event.at, current_status, event.to, event.by, event.by_role))
            current_status = event.to
        elif isinstance(event, _Severity):
            built.append(SeverityChange(event.at, current_severity, event.to, "sam"))
            current_severity = event.to
        elif isinstance(event, LabelChange):
            (current_labels.add if event.added else current_labels.discard)(event.label)
            built.append(event)
        else:
            built.append(event)
    if isinstance(reporter, str):  # a login, as a tracker's user would have
        reporter = Person(login=reporter, name=reporter.title(), groups=frozenset(reporter_groups))
    return Ticket(
        tracker=tracker, id=id, title=title, reporter=reporter, created=at(created),
        status=status if status is not None else current_status,
        severity=current_severity,
        labels=frozenset(labels if labels is not None else current_labels),
        events=tuple(built), **fields,
    )


# --- configurations -------------------------------------------------------------------

def example_mapping() -> dict[str, Any]:
    """A fresh, mutable copy of the built-in example configuration (the contract)."""
    text = resources.files("sla_bridge").joinpath("data/config.example.toml").read_text(encoding="utf-8")
    return copy.deepcopy(tomllib.loads(text))


def config_variant(change: Callable[[dict[str, Any]], None]) -> Config:
    """The example configuration with `change` applied to its TOML mapping."""
    raw = example_mapping()
    change(raw)
    return config_from_mapping(raw)


def contract_dates() -> Config:
    """The example contract with ``catch_up = "contract"``: every reminder at its contractual date,
    whether or not the ones before it were sent (the engine's schedule, seen without a sync)."""
    return config_variant(lambda raw: raw["sync"].update(catch_up="contract"))


@pytest.fixture(scope="session")
def cfg() -> Config:
    return builtin_config()


@pytest.fixture(scope="session")
def run(cfg: Config) -> Callable[..., Evaluation]:
    """``run(ticket, now)`` evaluates with the example contract (or ``config=`` another one)."""
    def _run(ticket: Ticket, now: str | datetime, config: Config | None = None) -> Evaluation:
        c = config or cfg
        return evaluate(ticket, c.policy, c.calendar, at(now))
    return _run


def observable(evaluation: Evaluation) -> tuple[Any, ...]:
    """What a sync acts on: labels, clock states, due instant, comments (by key) and close."""
    return (
        evaluation.desired.labels,
        tuple(sorted((clock.value, c.state.value) for clock, c in evaluation.clocks.items())),
        evaluation.desired.due_at,
        tuple(c.key for c in evaluation.desired.comments),
        evaluation.desired.close,
    )


# --- sync harnesses ---------------------------------------------------------------------

class ActionRecorder:
    """An observer plugin that records each applied action as ``(ticket id, action kind)``."""

    def __init__(self, seen: list[tuple[str, str]]) -> None:
        self.seen = seen

    @hookimpl
    def sla_bridge_action_applied(self, ticket: Ticket, action: Any, adapter: str) -> None:
        self.seen.append((ticket.id, action.kind))


def recording_plugins(seen: list[tuple[str, str]]) -> pluggy.PluginManager:
    """The plugin manager of a test sync: built-in adapters and an ``ActionRecorder``."""
    return build_plugin_manager([ActionRecorder(seen)], load_entry_points=False)


@pytest.fixture(autouse=True)
def _demo_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sla-bridge demo` keeps its store and config in a directory of the user's: never the
    tester's own ~/.cache in a test."""
    monkeypatch.setenv("SLA_BRIDGE_DEMO_DIR", str(tmp_path_factory.mktemp("demo")))
