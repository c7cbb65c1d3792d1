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
