"""Workers at once: each ticket once, the change query's groups read by id, pauses shared.

Against ``benchmarks/fake_redmine.py`` served by a thread (a real HTTP server on loopback),
with the real Redmine adapter and sync; the crash test (test_crash) kills such runs.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

import pytest

from sla_bridge.adapters.base import ChangedTicket, TransientError, keyset_pages
from sla_bridge.app import build_app
from sla_bridge.config import load_config
from sla_bridge.httpclient import Gate
from sla_bridge.sync import Syncer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from fake_redmine import ServerThread  # noqa: E402
from test_crash import KEY, KEY_ENV, config_text  # noqa: E402

UTC = timezone.utc
CREATED = datetime(2025, 6, 2, 7, 30, tzinfo=UTC)  # Monday 09:30 in Paris


# --- paging: a group sharing one stamp, read by id --------------------------------------------

class Listing:
    """A tracker's change query over (updated, id) rows, with an id filter for groups."""

    def __init__(self, rows: dict[str, datetime]) -> None:
        self.rows = rows
        self.calls: list[str] = []
        self.edit_at_call: tuple[int, str, datetime] | None = None

    def _maybe_edit(self) -> None:
        if self.edit_at_call and len(self.calls) == self.edit_at_call[0]:
            _, ticket, when = self.edit_at_call
            self.rows[ticket] = when

    def query(self, bound: datetime | None, offset: int) -> Sequence[ChangedTicket]:
        self.calls.append("page")
        self._maybe_edit()
        rows = sorted((t, int(i)) for i, t in self.rows.items() if bound is None or t >= bound)
        return [ChangedTicket(str(i), t) for t, i in rows[offset:offset + 100]]

    def group(self, bound: datetime, after: str | None) -> Sequence[ChangedTicket]:
        self.calls.append("group")
        self._maybe_edit()
        rows = sorted((int(i), t) for i, t in self.rows.items()
                      if bound <= t <= bound and (after is None or int(i) > int(after)))
        return [ChangedTicket(str(i), t) for i, t in rows[:100]]


def test_a_group_larger_than_a_page_is_read_once_by_id() -> None:
    stamp = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    listing = Listing({str(i): stamp for i in range(1, 251)} | {"900": stamp + timedelta(seconds=5)})
    ids = [r.id for r in keyset_pages(listing.query, stamp - timedelta(minutes=2), 100, group=listing.group)]
    assert sorted(ids, key=int) == [str(i) for i in range(1, 251)] + ["900"] and len(ids) == len(set(ids))
    # One page finds the group, three read it by id, one lists what follows.
    assert listing.calls == ["page", "group", "group", "group", "page"]


def test_a_ticket_edited_while_its_group_is_read_is_not_lost_nor_does_it_hide_another() -> None:
    """By offset, a ticket leaving the group shifts the others: one is skipped. By id, none is."""
    stamp = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    listing = Listing({str(i): stamp for i in range(1, 251)})
    listing.edit_at_call = (3, "50", stamp + timedelta(seconds=30))  # read in the group's first page
    ids = set(r.id for r in keyset_pages(listing.query, stamp - timedelta(minutes=2), 100, group=listing.group))
    assert ids == {str(i) for i in range(1, 251)}


def test_a_tracker_ignoring_the_id_filter_ends_the_listing_rather_than_looping() -> None:
    stamp = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
    listing = Listing({str(i): stamp for i in range(1, 251)})
    with pytest.raises(TransientError, match="listed ticket 1 again"):
        list(keyset_pages(listing.query, None, 100, group=lambda bound, after: listing.group(bound, None)))


# --- a tracker's pause, asked of one worker, held by all ----------------------------------------

def test_a_pause_answered_to_one_caller_holds_the_others_until_it_ends() -> None:
    now = [100.0]
    slept: dict[str, list[float]] = {"asker": [], "other": []}
    who = threading.local()

    def sleep(seconds: float) -> None:
        slept[who.name].append(seconds)

    gate = Gate(sleep=sleep, monotonic=lambda: now[0])
    who.name = "asker"
    gate.hold(30)  # the asker's 429: Retry-After 30

    def other() -> None:
        who.name = "other"
        gate.enter()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert slept["other"] == [30.0], "another worker waits the pause out"
    now[0] += 30  # the asker slept its retry's wait
    gate.enter()
    assert slept["asker"] == [], "the asker does not wait twice"


def test_a_pace_spaces_the_requests_of_all_callers() -> None:
    now = [0.0]
    waits: list[float] = []
    gate = Gate(per_second=10, sleep=waits.append, monotonic=lambda: now[0])
    for _ in range(3):
        gate.enter()
    assert waits == [pytest.approx(0.1), pytest.approx(0.2)]


# --- a pass with workers: each ticket once -------------------------------------------------------

@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    with ServerThread(KEY, now=CREATED, server_clock="manual") as server:
        app = server.app
        tickets = app.acknowledged(24, CREATED)
        path = tmp_path / "sla-bridge.toml"
        path.write_text(config_text(server.url, workers=6), encoding="utf-8")
        monkeypatch.setenv(KEY_ENV, KEY)
        monkeypatch.chdir(tmp_path)
        built = build_app(load_config(path))
        try:
            yield server, built, tickets
        finally:
            built.close()


def test_six_workers_write_each_ticket_once_and_a_second_pass_writes_nothing(world: Any) -> None:
    server, app, tickets = world
    adapter = app.adapters["redmine"]
    seen: Counter[str] = Counter()
    threads: set[str] = set()
    real_fetch = adapter.fetch

    def fetch(ticket_id: str) -> Any:
        seen[ticket_id] += 1
        threads.add(threading.current_thread().name)
        return real_fetch(ticket_id)

    adapter.fetch = fetch
    syncer = Syncer(app.config, app.store, adapter, app.pm, clock=lambda: datetime.now(UTC))
    assert syncer.workers == 6
    at = datetime(2025, 6, 3, 9, 0, tzinfo=UTC)  # Tuesday 11:00: reminder 1 for those waiting
    server.app.set_now(at)
    summary = syncer.run(at)
    assert summary.complete and not summary.errors, summary.errors
    assert summary.tickets_evaluated == len(tickets)
    assert set(seen) == {str(t) for t in tickets}
    assert all(n == 2 for n in seen.values()), "each ticket: one read, one read-back after its write"
    assert len(threads) > 1, "the tickets were shared between workers"
    assert summary.applied["comment"] == len(tickets[::2])
    for issue in tickets[::2]:
        reminders = [n for n in server.app.notes(issue) if "/reminder/" in n]
        assert len(reminders) == 1, (issue, reminders)
    before = server.app.stats()["requests"]
    again = syncer.run(at)
    assert again.complete and not again.errors and not again.applied
    assert server.app.stats()["requests"].get("PUT issue", 0) == before.get("PUT issue", 0)


def test_tickets_named_by_a_webhook_are_synced_alone_and_leave_the_cursor(world: Any) -> None:
    server, app, tickets = world
    syncer = Syncer(app.config, app.store, app.adapters["redmine"], app.pm, clock=lambda: datetime.now(UTC))
    at = datetime(2025, 6, 3, 9, 0, tzinfo=UTC)
    server.app.set_now(at)
    named = [str(tickets[0]), str(tickets[2]), str(tickets[0])]  # ten webhooks for one ticket: one sync
    summary = syncer.run_tickets(named, at)
    assert summary.complete and not summary.errors, summary.errors
    assert summary.tickets_evaluated == 2 and summary.applied["comment"] == 2
    assert app.store.cursor("redmine").cursor is None, "the polling pass still reads the change query"
    assert app.store.ticket("redmine", str(tickets[1])) is None
