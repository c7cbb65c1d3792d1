"""Day one on a tracker that already holds tickets, an outage, a replay: the sync never floods.

Through the real sync path (memory tracker): a first pass, a pass after days of
outage, a what-if at a past instant, a refused field, and the breach hook fired at
the business-time breach only.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from conftest import ActionRecorder
from sla_bridge.actions import SetDueDate, SetLabels
from sla_bridge.adapters.base import FieldRefused
from sla_bridge.adapters.memory import MemoryAdapter
from sla_bridge.cli import cli
from sla_bridge.engine import ClockEvaluation, Evaluation
from sla_bridge.hookspecs import hookimpl
from sla_bridge.model import Ticket
from sla_bridge.plugins import build_plugin_manager
from sla_bridge.store import Store
from sla_bridge.sync import Syncer
from test_sync import ALICE, T, Harness, waiting_ticket

ROOT = Path(__file__).resolve().parent.parent


def reminder_numbers(h: Harness, id: str = "1") -> list[str]:
    return [c.rsplit("/", 1)[-1].rstrip("]") for c in h.comments(id) if "/reminder/" in c]


def test_a_first_sync_weeks_late_sends_one_reminder_and_closes_a_business_day_later() -> None:
    # Waiting since Mon 2 June 11:00 (bloquante: reminders 1, 2, 3 business days, close 1 day
    # after); sla-bridge first connects on Mon 16 June 10:00, everything long overdue.
    h = Harness(waiting_ticket(), now="2025-06-16T10:00:00+02:00")
    first = h.sync()
    assert reminder_numbers(h) == ["3"], "one reminder, the latest step due, not 1, 2 and 3"
    assert h.tracker.tickets["1"].status == "waiting_for_customer", "never closed in the same pass"
    assert first.applied["transition"] == 0
    assert h.sync("2025-06-17T09:59:00+02:00").applied.get("transition", 0) == 0
    h.sync("2025-06-17T10:00:00+02:00")  # one business day after the reminder actually sent
    assert h.tracker.tickets["1"].status == "closed" and reminder_numbers(h) == ["3"]


def test_an_outage_collapses_the_missed_reminders_into_one() -> None:
    h = Harness(waiting_ticket(), now="2025-06-03T11:00:00+02:00")
    h.sync()
    assert reminder_numbers(h) == ["1"]
    h.sync("2025-06-06T09:30:00+02:00")  # down from Tue 11:00 to Fri 09:30: reminders 2 and 3 missed
    assert reminder_numbers(h) == ["1", "3"]
    h.sync("2025-06-10T09:29:00+02:00")  # Mon 9 June is Whit Monday: a business day later is Tue 09:30
    assert h.tracker.tickets["1"].status == "waiting_for_customer"
    h.sync("2025-06-10T09:30:00+02:00")
    assert h.tracker.tickets["1"].status == "closed"


def test_the_dry_run_of_a_first_connection_prints_an_onboarding_summary(tmp_path: Path) -> None:
    samples = tmp_path / "tickets.json"
    samples.write_text('{"tickets": [{"id": "OLD-1", "title": "Export KO", "reporter": "alice",'
                       ' "created": "2025-06-02T10:00:00+02:00", "status": "waiting_for_customer",'
                       ' "severity": "bloquante", "events": [{"type": "status", "at": "2025-06-02T11:00:00+02:00",'
                       ' "from": "new", "to": "waiting_for_customer", "by": "sam", "by_role": "agent"}]}]}',
                       encoding="utf-8")
    config = tmp_path / "sla.toml"
    config.write_text((ROOT / "config.example.toml").read_text(encoding="utf-8") + f"""
[trackers.old]
adapter = "memory"
closing_status = "closed"
agents = ["login:sam"]
statuses = {{ new = ["new"], waiting_for_customer = ["waiting_for_customer"], resolved = ["resolved"], closed = ["closed"] }}
options = {{ tickets = "{samples}" }}
""", encoding="utf-8")
    result = CliRunner().invoke(cli, ["sync", str(config), "--dry-run", "--at", "2025-06-20T10:00"])
    assert result.exit_code == 0, result.output
    assert "old: first connection: nothing synced before; 1 ticket would change" in result.output
    assert "1 ticket: reminder 3" in result.output
    assert "reminder 1" not in result.output and "closed (status" not in result.output


def test_a_what_if_in_the_past_ignores_tickets_created_after_it() -> None:
    later = Ticket("demo", "2", "t", ALICE, T("2025-06-10T10:00:00+02:00"), "new", "bloquante")
    h = Harness(waiting_ticket(), later, now="2025-06-12T12:00:00+02:00")
    summary = h.syncer.run(T("2025-06-03T09:00:00+02:00"), dry_run=True)
    assert {t for t, _ in summary.planned} == {"demo:1"}
    assert summary.not_yet_created == ["demo:2"]
    real = h.syncer.run(T("2025-06-03T09:00:00+02:00"))
    assert real.not_yet_created == ["demo:2"] and h.store.ticket("demo", "2") is None
    assert h.store.cursor("demo").cursor is None, "the cursor waits for the ticket left alone"


def test_a_failed_tickets_retry_is_timed_on_the_passes_clock() -> None:
    class Broken(MemoryAdapter):
        def fetch(self, ticket_id: str) -> Ticket:
            raise ValueError("bad date in field 'updated'")

    h = Harness(waiting_ticket(), now="2025-06-12T12:00:00+02:00")
    h.syncer.adapter = Broken("demo", h.tracker)
    h.syncer.run(T("2025-06-03T09:00:00+02:00"))
    (retry,) = h.store.retries()
    assert retry["retry_at"].startswith("2025-06-03T07:05"), retry  # 5 min after the replayed instant, UTC


class RefusesDueDates(MemoryAdapter):
    """A tracker refusing every due date, as Redmine does before an issue's start date."""

    refusals = 0

    def apply_fields(self, ticket: Ticket, due: SetDueDate | None, labels: SetLabels | None) -> None:
        super().apply_fields(ticket, replace(due, due_date=ticket.due_date) if due else None, labels)
        if due is not None and due.due_date != ticket.due_date:
            self.refusals += 1
            raise FieldRefused(f"issue {ticket.id}: Due date must be greater than start date", "due_date")


def test_a_refused_due_date_is_reported_once_and_the_other_fields_written() -> None:
    h = Harness(Ticket("demo", "1", "t", ALICE, T("2025-06-03T10:00:00+02:00"), "new", "majeure"),
                now="2025-06-03T12:00:00+02:00")
    adapter = RefusesDueDates("demo", h.tracker)
    h.syncer.adapter = adapter
    first = h.sync()
    ticket = h.tracker.tickets["1"]
    assert "sla-majeure" in ticket.labels and ticket.due_at is not None and ticket.due_date is None
    assert [c for c in first.conflicts if "Due date must be greater" in c]
    assert first.errors == []
    h.clock.set("2025-06-03T12:10:00+02:00")
    again = h.sync()
    assert again.conflicts == [] and again.applied == {} and adapter.refusals == 1


class Breaches:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    @hookimpl
    def sla_bridge_breach(self, ticket: Ticket, clock: ClockEvaluation, evaluation: Evaluation) -> None:
        self.seen.append((ticket.id, clock.clock.value))


def test_the_breach_hook_fires_at_the_business_time_breach_not_over_the_weekend() -> None:
    # bloquante created Fri 6 June 15:00: acknowledge deadline Fri 18:00.
    h = Harness(Ticket("demo", "1", "t", ALICE, T("2025-06-06T15:00:00+02:00"), "new", "bloquante"),
                now="2025-06-06T15:00:00+02:00")
    breaches = Breaches()
    h.syncer.pm = build_plugin_manager([breaches, ActionRecorder([])], load_entry_points=False)
    h.sync()
    for now in ("2025-06-06T18:30:00+02:00", "2025-06-07T12:00:00+02:00", "2025-06-09T09:00:00+02:00"):
        h.sync(now)
        assert breaches.seen == [], now
        assert "sla-depasse-prise-en-compte" not in h.tracker.tickets["1"].labels
    # Whit Monday 9 June 2025 is a French public holiday: the next opening is Tue 10 09:00.
    wake = h.store.earliest_change()
    assert wake is not None and wake - timedelta(microseconds=1) == T("2025-06-10T09:00:00+02:00")
    h.sync("2025-06-10T09:01:00+02:00")
    assert breaches.seen == [("1", "acknowledge")]
    assert "sla-depasse-prise-en-compte" in h.tracker.tickets["1"].labels


def test_check_config_refuses_a_tracker_section_sync_would_refuse(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.delenv("SLA_NO_SUCH_KEY", raising=False)
    config = tmp_path / "sla.toml"
    config.write_text((ROOT / "config.example.toml").read_text(encoding="utf-8") + """
[trackers.rm]
adapter = "redmine"
closing_status = "Closed"
agents = ["role:Support"]
statuses = { new = ["New"], waiting_for_customer = ["Feedback"], resolved = ["Resolved"] }
[trackers.rm.options]
url = "http://127.0.0.1:9"
api_key = { env = "SLA_NO_SUCH_KEY" }
labels_field = 1
[trackers.other]
adapter = "nosuch"
agents = ["login:sam"]
statuses = { new = ["new"] }
""", encoding="utf-8")
    result = CliRunner().invoke(cli, ["check-config", str(config), "--json"])
    assert result.exit_code == 2, result.output
    import json
    report = json.loads(result.stdout)
    rm, other = report["trackers"]
    failed = {(c["subject"], c["name"]) for c in rm["checks"] if not c["ok"]}
    assert ("closing status", "Closed") in failed  # Closed is not mapped to the closed role
    assert ("status role", "closed") in failed
    assert ("options", "trackers.rm.options") in failed
    (options,) = [c for c in rm["checks"] if c["subject"] == "options"]
    assert "SLA_NO_SUCH_KEY" in options["detail"]
    assert not other["ok"] and "unknown adapter 'nosuch'" in json.dumps(other)
    # and sync refuses the same config, for the same reason, before writing anything
    sync = CliRunner().invoke(cli, ["sync", str(config), "--once", "--adapter", "rm"])
    assert sync.exit_code == 2 and "SLA_NO_SUCH_KEY" in sync.output


def test_check_config_json_of_the_example_is_ok() -> None:
    import json
    result = CliRunner().invoke(cli, ["check-config", str(ROOT / "config.example.toml"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["ok"] and data["policy"]["catch_up"] == "collapse" and data["trackers"] == []


def test_a_what_if_in_the_future_counts_its_own_reminder_at_its_instant() -> None:
    # The tracker stamps the reminder with its real clock (2 June), the pass judges at 20 June:
    # the closure waits a business day after 20 June, not after the stamp.
    h = Harness(waiting_ticket(), now="2025-06-02T12:00:00+02:00")
    first = h.syncer.run(T("2025-06-20T10:00:00+02:00"))
    assert first.applied["comment"] == 1 and first.applied.get("transition", 0) == 0
    assert h.tracker.tickets["1"].status == "waiting_for_customer"


def test_an_auto_close_writes_the_fields_once_as_they_will_be_once_closed() -> None:
    class CountingFields(MemoryAdapter):
        field_writes = 0

        def apply_fields(self, ticket: Ticket, due: SetDueDate | None, labels: SetLabels | None) -> None:
            self.field_writes += 1
            super().apply_fields(ticket, due, labels)

    # mineure without a fix version: labelled so while open, not once closed.
    h = Harness(replace(waiting_ticket(), severity="mineure"), now="2025-06-02T12:00:00+02:00")
    h.sync()
    assert "sla-version-manquante" in h.tracker.tickets["1"].labels
    h.sync("2025-06-30T11:00:00+02:00")  # reminder 3 (the others collapsed into it)
    # A new store (the old one moved aside): the first pass both labels the ticket and closes it.
    for label in list(h.tracker.tickets["1"].labels):
        h.tracker.tickets["1"] = replace(h.tracker.tickets["1"], labels=h.tracker.tickets["1"].labels - {label})
    h.store = Store(":memory:")
    counting = CountingFields("demo", h.tracker)
    h.syncer = Syncer(h.config, h.store, counting, h.pm, clock=h.clock)
    closing = h.sync("2025-07-01T11:00:00+02:00")
    assert h.tracker.tickets["1"].status == "closed" and closing.applied["transition"] == 1
    assert counting.field_writes == 1, "one write: the fields as the closed ticket has them, before the transition"
    assert "sla-version-manquante" not in h.tracker.tickets["1"].labels
    assert h.sync("2025-07-01T11:05:00+02:00").applied == {}
