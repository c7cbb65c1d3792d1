"""Shared fixtures for the engine tests: the example contract and terse ticket builders.

Instants are always written with an explicit UTC offset (``"2025-03-11T10:00+01:00"``);
Europe/Paris is +01:00 in winter and +02:00 from the last Sunday of March to the
last Sunday of October.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tomllib
import uuid
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Iterator

import pluggy
import pytest

from sla_bridge.config import Config, config_from_mapping
from sla_bridge.demo import builtin_config
from sla_bridge.engine import Evaluation, evaluate
from sla_bridge.hookspecs import hookimpl
from sla_bridge.identity import Person
from sla_bridge.plugins import build_plugin_manager
from sla_bridge.model import Comment, Event, LabelChange, Role, SeverityChange, StatusChange, Ticket
from sla_bridge.secrets import SecretRef
from sla_bridge.store import PostgresLocation


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


# --- a PostgreSQL store ---------------------------------------------------------------------
# `scripts/postgres-live.sh` installs and starts a throwaway PostgreSQL 15 on loopback
# (``.ci/run`` does so in CI) and writes its settings to an env file. Tests needing it
# skip, saying how to start it, when none answers, except in CI, where they fail.

PG_ENV_FILE = Path(os.environ.get("SLA_BRIDGE_POSTGRES_ENV", "/tmp/sla-bridge-postgres/env.json"))
PG_HOW = "bash scripts/postgres-live.sh install && bash scripts/postgres-live.sh start"
PG_PASSWORD_ENV = "SLA_BRIDGE_TEST_PG_PASSWORD"  # the store's store_password = { env = ... } in the tests


def _postgres_settings() -> tuple[dict[str, str] | None, str]:
    """The live PostgreSQL's settings, or why there is none."""
    try:
        env: dict[str, str] = json.loads(PG_ENV_FILE.read_text(encoding="utf-8"))
        url, password = env["SLA_BRIDGE_PG_URL"], env["SLA_BRIDGE_PG_PASSWORD"]
    except FileNotFoundError:
        return None, f"no env file {PG_ENV_FILE}"
    except (OSError, ValueError, KeyError) as exc:
        return None, f"cannot read {PG_ENV_FILE}: {exc!r}"
    try:
        import psycopg
    except ImportError:
        return None, "psycopg is not installed (pip install -e '.[test]')"
    try:
        psycopg.connect(url, password=password, connect_timeout=5).close()
    except psycopg.Error as exc:
        return None, f"{url} does not answer: {' '.join(str(exc).split())}"
    return env, ""


@pytest.fixture(scope="session")
def postgres_server() -> dict[str, str]:
    env, problem = _postgres_settings()
    if env is None:
        if os.environ.get("CI"):
            pytest.fail(f"no PostgreSQL for the store's tests ({problem}); CI must start one: {PG_HOW}")
        pytest.skip(f"no PostgreSQL on this machine ({problem}); start one with: {PG_HOW}")
    # Where the stores' store_password = { env = ... } reads it, for the whole session (and the
    # processes tests start): a test undoing its own monkeypatch does not take it away.
    os.environ[PG_PASSWORD_ENV] = env["SLA_BRIDGE_PG_PASSWORD"]
    return env


def _as_owner(env: dict[str, str], sql: str) -> None:
    import psycopg

    with psycopg.connect(env["SLA_BRIDGE_PG_URL"], password=env["SLA_BRIDGE_PG_PASSWORD"], autocommit=True) as db:
        db.execute(sql)  # type: ignore[arg-type]


@pytest.fixture()
def postgres(postgres_server: dict[str, str]) -> Iterator[PostgresLocation]:
    """A PostgreSQL store of the test's own: a new schema (the URL's search_path), dropped after.

    The password is read as a store's is: ``store_password = { env = PG_PASSWORD_ENV }``."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    _as_owner(postgres_server, f'CREATE SCHEMA "{schema}"')
    try:
        yield PostgresLocation(f"{postgres_server['SLA_BRIDGE_PG_URL']}?options=-csearch_path%3D{schema}",
                               SecretRef(env=PG_PASSWORD_ENV))
    finally:
        _as_owner(postgres_server, f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Path | PostgresLocation:
    """Where a store of each backend goes: a SQLite file, or a PostgreSQL schema of the test's own."""
    if request.param == "sqlite":
        return tmp_path / "s.sqlite"
    location: PostgresLocation = request.getfixturevalue("postgres")
    return location


def memory_config(tmp_path: Path, name: str = "sample", extra: str = "") -> Path:
    """The example contract, its store beside the file, and a memory tracker `name` seeded with the
    demo's tickets; `extra`: more keys for the tracker's section."""
    root = Path(__file__).resolve().parent.parent
    samples = root / "src" / "sla_bridge" / "data" / "demo-tickets.json"
    example = (root / "config.example.toml").read_text(encoding="utf-8")
    text = re.sub(r'(?m)^store = .*$', 'store = "state.sqlite"', example, count=1) + f"""
[trackers.{name}]
adapter = "memory"
closing_status = "closed"
{extra}
agents = ["login:sla-bridge", "group:support"]
statuses = {{ new = ["new"], in_progress = ["in_progress"], waiting_for_customer = ["waiting_for_customer"], \
workaround_delivered = ["workaround_delivered"], resolved = ["resolved"], closed = ["closed"] }}
options = {{ tickets = "{samples}" }}
"""
    path = tmp_path / "sla.toml"
    path.write_text(text, encoding="utf-8")
    return path
