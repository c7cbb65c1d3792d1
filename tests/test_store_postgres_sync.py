"""Sync passes on a PostgreSQL store: the same promises as on SQLite.

A pass writes what the contract wants once, the next writes nothing; workers share the
store's session and write each ticket once; another process's pass makes this one
Busy; a session lost mid-pass ends the pass without losing a write or repeating one.
Skipped without a PostgreSQL (``conftest.postgres``), failed in CI.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner

from conftest import PG_PASSWORD_ENV, recording_plugins
from sla_bridge.adapters.memory import MemoryAdapter, MemoryTracker
from sla_bridge.app import build_app
from sla_bridge.cli import cli
from sla_bridge.config import load_config
from sla_bridge.demo import builtin_config
from sla_bridge.hookspecs import hookimpl
from sla_bridge.markers import markers_in
from sla_bridge.sync.budget import SiteBudget
from sla_bridge.model import Comment, Ticket
from sla_bridge.store import PostgresLocation, Store
from sla_bridge.sync import Syncer
from test_store import hold_in_another_process
from test_sync import ALICE, Clock, waiting_ticket

ROOT = Path(__file__).resolve().parents[1]
T = datetime.fromisoformat
UTC = timezone.utc


class PgHarness:
    """The in-memory tracker and the real sync, on a PostgreSQL store."""

    def __init__(self, location: PostgresLocation, *tickets: Ticket, now: str = "2025-06-02T12:00:00+02:00",
                 workers: int = 1, plugins: tuple[Any, ...] = ()) -> None:
        self.clock = Clock(now)
        self.tracker = MemoryTracker(self.clock, tickets)
        self.store = Store(location)
        self.seen: list[tuple[str, str]] = []
        self.pm = recording_plugins(self.seen)
        for plugin in plugins:
            self.pm.register(plugin)
        self.syncer = Syncer(builtin_config(), self.store, MemoryAdapter("demo", self.tracker), self.pm,
                             clock=self.clock)
        self.syncer.workers = workers

    def sync(self, at: str | None = None) -> Any:
        if at:
            self.clock.set(at)
        return self.syncer.run(self.clock())

    def comments(self, id: str = "1") -> list[str]:
        return [key for e in self.tracker.tickets[id].events if isinstance(e, Comment) for key in markers_in(e.body)]


@pytest.fixture()
def harness(postgres: PostgresLocation) -> Iterator[Any]:
    made: list[PgHarness] = []

    def make(*tickets: Ticket, **kwargs: Any) -> PgHarness:
        made.append(PgHarness(postgres, *tickets, **kwargs))
        return made[-1]

    yield make
    for h in made:
        h.store.close()


def test_a_first_pass_writes_the_due_date_and_labels_and_the_second_writes_nothing(harness: Any) -> None:
    h = harness(Ticket("demo", "1", "t", ALICE, T("2025-06-03T10:00:00+02:00"), "new", "majeure"),
                now="2025-06-03T10:30:00+02:00")
    first = h.sync()
    assert first.complete and not first.errors, first.errors
    ticket = h.tracker.tickets["1"]
    assert ticket.due_at == T("2025-06-03T13:00:00+02:00") and "sla-majeure" in ticket.labels
    assert dict(first.applied) == {"due_date": 1, "labels": 1}
    writes = h.tracker.writes
    second = h.sync()
    assert h.tracker.writes == writes, "a ticket already right costs zero writes"
    assert second.complete and second.tickets_read == 0 and second.tickets_evaluated == 0
    assert h.store.cursor("demo").cursor is not None


def test_reminders_go_out_once_each_then_the_closure(harness: Any) -> None:
    h = harness(waiting_ticket())
    h.sync()
    for day in ("03", "03", "04", "05"):
        h.sync(f"2025-06-{day}T11:00:00+02:00")
    assert [k.rsplit("/", 1)[-1] for k in h.comments()] == ["1", "2", "3"]
    h.sync("2025-06-06T11:00:00+02:00")
    h.sync("2025-06-10T11:00:00+02:00")
    assert h.tracker.tickets["1"].status == "closed" and len(h.comments()) == 4
    assert [kind for _, kind in h.seen].count("transition") == 1
    assert len([e for e in h.store.journal_entries("demo") if e["kind"] == "comment"]) == 4


def test_four_workers_write_each_ticket_once(harness: Any) -> None:
    tickets = [waiting_ticket(str(i)) for i in range(40)]
    h = harness(*tickets, workers=4)
    threads: set[str] = set()
    original = h.syncer.adapter.fetch

    def fetch(ticket_id: str) -> Ticket:
        threads.add(threading.current_thread().name)
        return original(ticket_id)

    h.syncer.adapter.fetch = fetch
    first = h.sync("2025-06-03T11:00:00+02:00")  # reminder 1 for each
    assert first.complete and not first.errors, first.errors
    assert first.tickets_evaluated == 40 and len(threads) > 1, "the tickets were shared between workers"
    per_ticket = Counter((ticket_id, kind) for ticket_id, kind in h.seen)
    assert set(per_ticket.values()) == {1}, "each write once"
    assert {ticket_id for ticket_id, _ in per_ticket} == {str(i) for i in range(40)}
    assert all(len(h.comments(str(i))) == 1 for i in range(40))
    writes = h.tracker.writes
    again = h.sync("2025-06-03T11:05:00+02:00")
    assert again.complete and not again.errors and h.tracker.writes == writes


def test_a_pass_of_another_process_makes_this_one_busy(harness: Any, postgres: PostgresLocation) -> None:
    h = harness(waiting_ticket())
    holder = hold_in_another_process(postgres, "demo")
    try:
        summary = h.sync()
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert summary.errors == [f"another pass of 'demo' is running on {postgres.url}; this pass is skipped"]
    assert h.tracker.writes == 0


class CutTheSession:
    """A plugin that ends the store's PostgreSQL session right after the pass's first write."""

    def __init__(self, store: Store, postgres_server: dict[str, str]) -> None:
        self.store, self.server, self.done = store, postgres_server, False

    @hookimpl
    def sla_bridge_action_applied(self, ticket: Ticket, action: Any, adapter: str) -> None:
        if self.done:
            return
        self.done = True
        import psycopg

        session = self.store._db._session  # type: ignore[attr-defined]
        with psycopg.connect(self.server["SLA_BRIDGE_PG_URL"], password=self.server["SLA_BRIDGE_PG_PASSWORD"],
                             autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (session.info.backend_pid,))


def test_a_session_lost_mid_pass_ends_the_pass_and_the_next_one_finishes_the_work(
        harness: Any, postgres_server: dict[str, str]) -> None:
    h = harness(*[waiting_ticket(str(i)) for i in range(5)])
    cut = CutTheSession(h.store, postgres_server)
    h.pm.register(cut)
    broken = h.sync("2025-06-03T11:00:00+02:00")
    assert cut.done and not broken.complete
    assert any("pass stopped" in e and "the connection to the server was lost" in e for e in broken.errors), \
        broken.errors
    assert h.store.cursor("demo").cursor is None, "the cursor stays: the pass did not complete"
    fixed = h.sync("2025-06-03T11:05:00+02:00")
    assert fixed.complete and not fixed.errors, fixed.errors
    assert all(len(h.comments(str(i))) == 1 for i in range(5)), "each reminder once, none lost"
    assert h.sync("2025-06-03T11:10:00+02:00").applied == {}


# --- the real command line and a tracker over HTTP --------------------------------------------------------------

def pg_config_text(text: str, location: PostgresLocation) -> str:
    return re.sub(r'(?m)^store = .*$', f'store = "{location.url}"\nstore_password = {{ env = "{PG_PASSWORD_ENV}" }}',
                  text, count=1)


def test_four_workers_on_the_redmine_fake_through_the_app(postgres: PostgresLocation, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The configuration names the PostgreSQL store; ``build_app`` opens it; four workers each read a
    ticket once and read it back once after writing; the second pass writes nothing."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from fake_redmine import ServerThread
    from test_crash import KEY, KEY_ENV, config_text

    created = datetime(2025, 6, 2, 7, 30, tzinfo=UTC)
    with ServerThread(KEY, now=created, server_clock="manual") as server:
        issues = server.app.acknowledged(16, created)
        path = tmp_path / "sla-bridge.toml"
        path.write_text(pg_config_text(config_text(server.url, workers=4), postgres), encoding="utf-8")
        monkeypatch.setenv(KEY_ENV, KEY)
        app = build_app(load_config(path))
        try:
            assert app.store.backend == "postgresql" and not (tmp_path / "sla-bridge.sqlite").exists()
            adapter = app.adapters["redmine"]
            # Replicas may share this store: the tracker's pauses are told to all of them.
            assert isinstance(adapter.gate.board, SiteBudget)
            seen: Counter[str] = Counter()
            real_fetch = adapter.fetch

            def fetch(ticket_id: str) -> Any:
                seen[ticket_id] += 1
                return real_fetch(ticket_id)

            adapter.fetch = fetch  # type: ignore[method-assign]
            syncer = Syncer(app.config, app.store, adapter, app.pm, clock=lambda: datetime.now(UTC))
            assert syncer.workers == 4
            at = datetime(2025, 6, 3, 9, 0, tzinfo=UTC)  # Tuesday 11:00: reminder 1 for those waiting
            server.app.set_now(at)
            summary = syncer.run(at)
            assert summary.complete and not summary.errors, summary.errors
            assert set(seen) == {str(t) for t in issues} and all(n == 2 for n in seen.values())
            for issue in issues[::2]:
                assert len([n for n in server.app.notes(issue) if "/reminder/" in n]) == 1
            before = server.app.stats()["requests"].get("PUT issue", 0)
            again = syncer.run(at)
            assert again.complete and not again.errors and not again.applied
            assert server.app.stats()["requests"].get("PUT issue", 0) == before
        finally:
            app.close()


def test_sync_then_status_on_the_command_line(postgres: PostgresLocation, tmp_path: Path) -> None:
    example = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    (tmp_path / "tickets.json").write_text(
        (ROOT / "src/sla_bridge/data/demo-tickets.json").read_text(encoding="utf-8"), encoding="utf-8")
    path = tmp_path / "sla.toml"
    path.write_text(pg_config_text(example, postgres) + """
[trackers.try]
adapter = "memory"
closing_status = "closed"
severities = { bloquante = "bloquante", majeure = "majeure", mineure = "mineure" }
agents = ["login:sla-bridge", "group:support"]
options = { tickets = "tickets.json" }
[trackers.try.statuses]
new = ["new"]
in_progress = ["in_progress"]
waiting_for_customer = ["waiting_for_customer"]
resolved = ["resolved"]
closed = ["closed"]
""", encoding="utf-8")
    synced = CliRunner().invoke(cli, ["sync", str(path), "--at", "2025-05-21T12:00", "--json"])
    assert synced.exit_code == 0, synced.output + synced.stderr
    summary = json.loads(synced.stdout)[0]
    assert summary["complete"] and sum(summary["applied"].values()) > 0
    status = CliRunner().invoke(cli, ["status", str(path), "--json"])
    assert status.exit_code == 0, status.output + status.stderr
    report = json.loads(status.stdout)
    assert report["store"] == postgres.url and report["ok"] and report["tickets"] > 0
    assert not list(tmp_path.glob("*.sqlite*")), "nothing written beside the configuration"


# --- replicas sharing one tracker's work list ----------------------------------------------------------------------

def test_another_replica_helps_with_a_pass_and_each_ticket_is_written_once(harness: Any,
                                                                           postgres: PostgresLocation) -> None:
    """Replica A's pass lists 40 tickets due for reminder 1; replica B (its own store session and
    adapter on the same tracker) helps once A's workers have started: each reminder once, both
    replicas worked, and A's pass ends complete only when the list is empty."""
    a = harness(*[waiting_ticket(str(i)) for i in range(40)])
    a.sync()
    b_store = Store(postgres)
    try:
        b = Syncer(builtin_config(), b_store, MemoryAdapter("demo", a.tracker), a.pm, clock=a.clock)
        helped: list[Any] = []
        fetch = a.syncer.adapter.fetch

        def fetch_then_let_b_help(ticket_id: str) -> Ticket:
            if not helped:  # A's first ticket: B takes what is free, all of it, meanwhile
                helped.append(b.help(a.clock()))
            return fetch(ticket_id)

        a.syncer.adapter.fetch = fetch_then_let_b_help
        first = a.sync("2025-06-03T11:00:00+02:00")
        assert first.complete and not first.errors, first.errors
        assert helped and helped[0].complete and not helped[0].errors, helped[0].errors
        assert helped[0].tickets_evaluated > 0 and first.tickets_evaluated > 0, "both replicas worked"
        assert first.tickets_evaluated + helped[0].tickets_evaluated == 40
        assert all(len(a.comments(str(i))) == 1 for i in range(40)), "each reminder once"
        assert a.store.pending("demo") == 0 and a.store.cursor("demo").cursor is not None
    finally:
        b_store.close()


def test_a_webhook_for_a_ticket_in_another_replicas_hands_syncs_it_again_after(harness: Any,
                                                                               postgres: PostgresLocation) -> None:
    a = harness(waiting_ticket("1"))
    a.sync()
    a.store.queue("demo", "1", None)
    with a.store.claimer() as other:  # another replica has ticket 1 in hand
        (claim,) = a.store.claim("demo", other, 5)
        hooked = a.syncer.run_tickets(["1"], a.clock())
        assert hooked.complete and hooked.tickets_evaluated == 0, "not taken from the other replica"
        a.store.done("demo", claim)  # the other replica finishes: its work predates the webhook
    assert a.store.pending("demo") == 1, "the webhook's change is still to be synced"
    again = a.syncer.help(a.clock())
    assert again.tickets_evaluated == 1 and a.store.pending("demo") == 0
