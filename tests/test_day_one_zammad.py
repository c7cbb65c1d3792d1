"""Day one on a Zammad that already holds tickets: one reminder, the closure a business day later."""

from __future__ import annotations

from datetime import timedelta

from test_zammad_sync import Bridge, FakeZammad, WallClock, bridge, clock, keys, waiting, zammad  # noqa: F401, F811


def test_a_first_sync_weeks_late_sends_one_reminder_then_closes_a_day_after(  # noqa: F811
        zammad: FakeZammad, bridge: Bridge, clock: WallClock) -> None:
    cal = bridge.config.calendar
    ticket_id, waiting_since = waiting(zammad, clock, "Export KO")
    first_look = cal.add_days(waiting_since, 10)  # reminders 1, 2, 3 and the closure all long overdue
    summary = bridge.sync(first_look)
    assert summary["errors"] == []
    assert [k.rsplit("/", 1)[-1] for k in keys(zammad, ticket_id)] == ["3"], "one reminder, the latest step"
    assert zammad.state(ticket_id) != "closed"
    assert bridge.sync(first_look + timedelta(hours=2))["applied"].get("transition", 0) == 0
    closing = bridge.sync(cal.add_days(first_look, 1))
    assert closing["errors"] == [] and zammad.state(ticket_id) == "closed"
    assert len(keys(zammad, ticket_id)) == 2, "reminder 3 and the closure notice, each once"
