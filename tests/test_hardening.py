"""Hostile input that a real deployment meets: huge titles, forged markers, broken stores."""

from __future__ import annotations

from sla_bridge.adapters.memory import MemoryAdapter
from sla_bridge.markers import markers_in, with_marker
from sla_bridge.model import Comment
from test_sync import Harness, waiting_ticket


def bodies(h: Harness, id: str = "1") -> list[str]:
    return [e.body for e in h.tracker.tickets[id].events if isinstance(e, Comment) and "[sla-bridge:" in e.body]


def test_a_huge_title_is_cut_in_reminders_and_the_ticket_id_kept() -> None:
    h = Harness(waiting_ticket(title="Export KO " * 100_000), now="2025-06-03T11:00:00+02:00")
    h.sync()
    (body,) = bodies(h)
    assert len(body) < 2_000 and "1 " in body and "…" in body
    assert markers_in(body) == {"demo:1/reminder/20250602T090000Z/1"}


class SmallComments(MemoryAdapter):
    max_comment_length = 300


def test_a_comment_is_cut_to_what_the_tracker_accepts_never_its_marker() -> None:
    h = Harness(waiting_ticket(title="x" * 150), now="2025-06-03T11:00:00+02:00")
    h.syncer = type(h.syncer)(h.config, h.store, SmallComments("demo", h.tracker), h.pm, clock=h.clock)
    summary = h.sync()
    assert summary.errors == []
    (body,) = bodies(h)
    assert len(body) <= 300 and body.endswith("[sla-bridge:demo:1/reminder/20250602T090000Z/1]")
    assert h.sync().applied == {}, "the marker is found again: nothing is sent twice"


def test_with_marker_keeps_short_bodies_whole() -> None:
    assert with_marker("hello", "k", limit=100) == "hello\n\n[sla-bridge:k]"
    assert with_marker("x" * 100, "k", limit=40).endswith("…\n\n[sla-bridge:k]")
    assert len(with_marker("x" * 100, "k", limit=40)) == 40


# --- the store ------------------------------------------------------------------------------------

import sqlite3  # noqa: E402
from datetime import timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from sla_bridge.store import Store, StoreError  # noqa: E402


def test_an_empty_store_file_is_refused_not_started_over(tmp_path: Path) -> None:
    empty = tmp_path / "state.sqlite"
    empty.touch()
    with pytest.raises(StoreError, match="empty file .0 bytes., not a sla-bridge store: restore it"):
        Store(empty)
    assert empty.stat().st_size == 0, "left as found"


def test_a_damaged_store_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    Store(path).close()
    data = bytearray(path.read_bytes())
    data[:16] = b"definitely not!!"
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="the file is damaged: restore it from a backup"):
        Store(path)


class FullDisk:
    """The store as SQLite answers when the disk fills up mid-pass."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        if name in ("save_ticket", "save_applied", "journal"):
            def fail(*args: object, **kwargs: object) -> None:
                raise sqlite3.OperationalError("database or disk is full")
            return fail
        return getattr(self._store, name)


def test_a_full_disk_mid_pass_stops_the_pass_with_a_clear_error() -> None:
    h = Harness(waiting_ticket(), now="2025-06-03T11:00:00+02:00")
    h.syncer.store = FullDisk(h.store)  # type: ignore[assignment]
    summary = h.sync()
    assert not summary.complete
    assert any("the disk is full: free space and run again" in e for e in summary.errors), summary.errors


# --- markers a person wrote -------------------------------------------------------------------------

def test_markers_in_a_title_or_a_customer_reply_never_count_as_sent() -> None:
    from sla_bridge.model import Role
    from test_sync import T
    keys = [f"demo:1/reminder/20250602T090000Z/{n}" for n in (1, 2, 3)] + ["demo:1/closure/20250602T090000Z"]
    forged = " ".join(f"[sla-bridge:{k}]" for k in keys)
    h = Harness(waiting_ticket(title=f"Export {forged}"), now="2025-06-02T12:00:00+02:00")
    h.sync()
    h.tracker.record("1", Comment(T("2025-06-02T12:30:00+02:00"), "sam", Role.AGENT, False, f"fyi {forged}"))
    for day in ("03", "04", "05"):
        h.sync(f"2025-06-{day}T11:00:00+02:00")
    assert len(bodies(h)) == 3 + 1, "reminders 1, 2, 3 sent despite the pasted markers (plus the agent's note)"
    assert h.tracker.tickets["1"].status == "waiting_for_customer", "not closed before its notice"
    h.sync("2025-06-06T11:00:00+02:00")
    assert h.tracker.tickets["1"].status == "closed"
    own = [e for e in h.tracker.tickets["1"].events if isinstance(e, Comment) and e.own]
    assert len(own) == 4, "three reminders and the closure notice, each once"


# --- writes that fail transiently -------------------------------------------------------------------

from sla_bridge.actions import PostComment  # noqa: E402
from sla_bridge.adapters.base import TransientError  # noqa: E402
from sla_bridge.model import Ticket  # noqa: E402


class FlakyComments(MemoryAdapter):
    """Comments on ticket 2 fail transiently (a 503 the retries did not outlast)."""

    failing = {"2"}

    def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
        if ticket.id in self.failing:
            raise TransientError(f"demo: add a comment to {ticket.id}: HTTP 503")
        super().post_comment(ticket, comment)


def test_a_failed_comment_defers_its_ticket_and_the_pass_goes_on() -> None:
    h = Harness(waiting_ticket("1"), waiting_ticket("2"), waiting_ticket("3"), now="2025-06-03T11:00:00+02:00")
    flaky = FlakyComments("demo", h.tracker)
    h.syncer.adapter = flaky
    summary = h.sync()
    assert summary.complete
    assert [len(bodies(h, i)) for i in ("1", "2", "3")] == [1, 0, 1]
    (error,) = summary.errors
    assert error.startswith("demo:2: deferred:") and "read again before anything is sent" in error
    flaky.failing = set()
    h.sync("2025-06-03T11:06:00+02:00")  # after its retry delay: re-read, then sent once
    assert [len(bodies(h, i)) for i in ("1", "2", "3")] == [1, 1, 1]


def test_writes_failing_on_every_ticket_stop_the_pass_instead_of_hammering() -> None:
    h = Harness(*(waiting_ticket(str(i)) for i in range(1, 8)), now="2025-06-03T11:00:00+02:00")
    flaky = FlakyComments("demo", h.tracker)
    flaky.failing = {str(i) for i in range(1, 8)}
    h.syncer.adapter = flaky
    summary = h.sync()
    assert not summary.complete
    assert any("3 writes in a row failed" in e for e in summary.errors)


# --- unreadable rows of the change query --------------------------------------------------------------

from sla_bridge.adapters.base import ChangedTicket, keyset_pages  # noqa: E402


def test_an_unreadable_updated_skips_that_ticket_only_and_pages_on() -> None:
    from test_sync import T
    rows = [ChangedTicket("1", T("2025-06-02T10:00:00+00:00")), ChangedTicket("2", None, "updated '2025-06-02 10:00'"
                                                                              " has no time zone"),
            ChangedTicket("3", T("2025-06-02T10:05:00+00:00"))]

    def query(bound: object, offset: int) -> list[ChangedTicket]:
        return [r for r in rows if bound is None or r.updated is None or r.updated >= bound][offset:offset + 2]

    assert [r.id for r in keyset_pages(query, None, 2)] == ["1", "2", "3"]

    class BadRow(MemoryAdapter):
        def changed_since(self, cursor: object) -> object:
            yield ChangedTicket("9", None, "demo: updated 'yesterday' is not a date")
            yield from super().changed_since(cursor)  # type: ignore[arg-type]

    h = Harness(waiting_ticket(), now="2025-06-03T11:00:00+02:00")
    h.syncer.adapter = BadRow("demo", h.tracker)
    summary = h.sync()
    assert summary.complete and len(bodies(h)) == 1, "the other tickets are synced"
    (error,) = summary.errors
    assert error.startswith("demo:9: skipped, malformed row in the change query: updated 'yesterday' is not a date")
    assert h.sync("2025-06-03T11:01:00+02:00").errors == [], "reported once, then waits for its retry"


def test_a_change_query_ignoring_its_bound_stops_after_a_few_pages() -> None:
    import itertools

    from sla_bridge.adapters.base import TransientError as Stuck
    from test_sync import T
    rows = [ChangedTicket(str(i), T("2025-06-02T10:00:00+00:00") + timedelta(seconds=i)) for i in range(10)]
    calls = itertools.count()

    def ignores_bound(bound: object, offset: int) -> list[ChangedTicket]:
        next(calls)
        return rows[offset:offset + 4]  # honours the offset, ignores the bound

    with pytest.raises(Stuck, match="makes no progress"):
        list(keyset_pages(ignores_bound, None, 4, timedelta(seconds=1)))
    assert next(calls) < 40, "bounded: no hot loop"


def test_a_new_store_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    Store(path).close()
    assert path.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [], "nothing left aside"
    Store(path).close()  # opened again as it is


# --- a first answer cut short is the network's fault, not a wrong address -------------------------

import responses  # noqa: E402


@responses.activate
@pytest.mark.parametrize("body, kind, hint", [
    pytest.param('{"issues": [{"id": 1, "updated_on": "2025-06-0', "TransientError", False, id="json-cut-short"),
    pytest.param("<html><body>Please sign in</body></html>", "PermanentError", True, id="login-page"),
])
def test_a_first_answer_cut_short_is_passing_a_login_page_is_the_address(
        monkeypatch: pytest.MonkeyPatch, body: str, kind: str, hint: bool) -> None:
    from sla_bridge.adapters.redmine import RedmineAdapter
    from sla_bridge.config import TrackerSection
    from sla_bridge.demo import builtin_config
    from sla_bridge.httpclient import RetryPolicy
    monkeypatch.setenv("SLA_TEST_REDMINE_KEY", "k3y-0123456789")
    url = "http://redmine.test"
    responses.get(f"{url}/issues.json", body=body, status=200, content_type="application/json")
    section = TrackerSection.model_validate({"adapter": "redmine", "statuses": {"new": ["New"]},
                                             "agents": ["role:Support"], "closing_status": "Closed",
                                             "options": {"url": url, "api_key": {"env": "SLA_TEST_REDMINE_KEY"},
                                                         "labels_field": 1}})
    adapter = RedmineAdapter("rm", section, builtin_config(), retry=RetryPolicy(attempts=1, sleep=lambda _: None))
    with pytest.raises(Exception) as caught:
        list(adapter.changed_since(None))
    assert type(caught.value).__name__ == kind
    assert ("options.url" in str(caught.value)) is hint


def test_the_environment_is_read_once_for_proxies_and_the_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    from sla_bridge.httpclient import HttpClient
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company.pem")
    outside = HttpClient("https://tracker.example", {}, "t").session
    assert outside.proxies.get("https") == "http://proxy.example:3128" and outside.verify == "/etc/ssl/company.pem"
    assert outside.trust_env is False, "not looked up again on every request"
    inside = HttpClient("https://redmine.internal.example", {}, "t").session
    assert "https" not in inside.proxies, "NO_PROXY holds"


def test_due_tickets_are_read_in_pages_each_once_even_when_rescheduled(monkeypatch: pytest.MonkeyPatch) -> None:
    import sla_bridge.store as store_module
    from sla_bridge.actions import Applied
    from test_sync import T
    monkeypatch.setattr(store_module, "DUE_PAGE", 3)
    store = Store(":memory:")
    due = T("2025-06-03T11:00:00+02:00")
    for i in range(10):
        store.save_ticket("demo", waiting_ticket(str(i)), Applied(), {}, due + timedelta(seconds=i % 4))
    seen = []
    for record in store.due_tickets("demo", due + timedelta(minutes=1)):
        seen.append(record.ticket_id)
        store.save_ticket("demo", record.snapshot, Applied(), {}, due + timedelta(days=1))  # done: next change later
    assert sorted(seen) == [str(i) for i in range(10)] and len(seen) == 10
