"""End to end against a real Redmine: the CLI syncs, Redmine itself is checked."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from sla_bridge.actions import PostComment
from sla_bridge.adapters.redmine import RedmineAdapter
from sla_bridge.app import build_app
from sla_bridge.markers import markers_in
from sla_bridge.model import Ticket
from sla_bridge.sync import Syncer

from .conftest import MINUTE, Bridge, Redmine, parse

SECOND = timedelta(seconds=1)

pytestmark = pytest.mark.live


def marker_notes(issue: dict[str, Any]) -> list[str]:
    return [key for j in issue.get("journals", []) for key in markers_in(j.get("notes") or "")]


def test_due_date_deadline_and_labels_then_nothing_when_right(redmine: Redmine, bridge: Bridge) -> None:
    created = redmine.create_issue("Login page returns 500")
    cal = bridge.config.calendar
    start = parse(created["created_on"])
    summary = bridge.sync(start + 5 * MINUTE)
    assert summary["errors"] == [] and summary["applied"] == {"due_date": 1, "labels": 1}

    issue = redmine.issue(created["id"])
    deadline = cal.add(start, 180)  # bloquante: acknowledge within 3 business hours
    assert parse(redmine.custom(issue, "REDMINE_DEADLINE_FIELD_ID")) == deadline.replace(microsecond=0)
    assert issue["due_date"] == deadline.astimezone(cal.zone).date().isoformat()
    assert redmine.custom(issue, "REDMINE_LABELS_FIELD_ID") == ["sla-bloquante"]

    # Our write and its read-back fall in the same second of Redmine's whole-second stamp: the
    # next pass reads the issue once more to be sure no edit hid in that second, and writes nothing.
    again = bridge.sync(start + 6 * MINUTE)
    assert again["applied"] == {} and again["tickets_read"] <= 1
    # Once a read falls a second or more after the stamp, the snapshot is known whole.
    stamped = parse(redmine.issue(created["id"])["updated_on"])
    time.sleep(max(0.0, (stamped + timedelta(seconds=1.05) - datetime.now(timezone.utc)).total_seconds()))
    bridge.sync(start + 6 * MINUTE + SECOND)
    third = bridge.sync(start + 7 * MINUTE)
    assert third["applied"] == {} and third["tickets_read"] == 0
    assert redmine.issue(created["id"])["updated_on"] == issue["updated_on"]


def test_breach_label_when_nobody_acknowledges(redmine: Redmine, bridge: Bridge) -> None:
    created = redmine.create_issue("Export broken", priority="HIGH")  # majeure
    start = parse(created["created_on"])
    bridge.sync(start + MINUTE)
    late = bridge.config.calendar.add(start, 181)
    summary = bridge.sync(late)
    assert summary["applied"] == {"labels": 1}
    labels = redmine.custom(redmine.issue(created["id"]), "REDMINE_LABELS_FIELD_ID")
    assert "sla-depasse-prise-en-compte" in labels and "sla-majeure" in labels


def test_reminders_restart_on_customer_answer_then_closure_exactly_once(redmine: Redmine, bridge: Bridge) -> None:
    cal = bridge.config.calendar
    created = redmine.create_issue("Nightly sync stopped")
    redmine.set_status(created["id"], "FEEDBACK", "A fix is ready: please test it.")
    waiting_since = parse(redmine.issue(created["id"])["journals"][-1]["created_on"])

    first = cal.add_days(waiting_since, 1)
    bridge.sync(first + MINUTE)
    bridge.sync(first + 2 * MINUTE)  # twice: still one reminder
    keys = marker_notes(redmine.issue(created["id"]))
    assert len(keys) == 1 and keys[0].endswith("/1")

    # Redmine stamps updated_on to the second, and the sync skips a ticket whose stamp
    # equals its snapshot's: an answer within the second of sla-bridge's last write would
    # only be read at the ticket's next timed change. A customer is never that fast.
    time.sleep(1.1)
    redmine.note(created["id"], "Still testing, sorry.")  # the customer answers: the cycle restarts
    answered = parse(redmine.issue(created["id"])["journals"][-1]["created_on"])
    # Each step a business day after the pass before: a reminder counts from when it was
    # sent (its pass's instant, or Redmine's real stamp when read back later: under --at
    # time travel the two differ, and either way each step below is due).
    t1 = cal.add_days(answered, 1) + MINUTE
    bridge.sync(t1)  # the new cycle's reminder 1
    t2 = cal.add_days(t1, 1) + MINUTE
    assert t2 > cal.add_days(waiting_since, 2)  # the old cycle's reminder 2 would be due by now
    bridge.sync(t2)
    keys = marker_notes(redmine.issue(created["id"]))
    cycles = [k.rsplit("/", 2)[-2] for k in keys]
    # The new cycle's reminder 2; none of the old cycle is sent any more.
    assert [k.rsplit("/", 1)[-1] for k in keys] == ["1", "1", "2"]
    assert cycles[1] == cycles[2] != cycles[0]

    t3 = cal.add_days(t2, 1) + MINUTE
    third = bridge.sync(t3)
    keys = marker_notes(redmine.issue(created["id"]))
    assert [k.rsplit("/", 1)[-1] for k in keys][:4] == ["1", "1", "2", "3"]
    # The auto-close counts from when reminder 3 was sent; with Redmine's real stamp it
    # may already be due in this pass. Either way the closure happens exactly once, a
    # business day on at the latest.
    closing = cal.add_days(t3, 1) + MINUTE
    summary = bridge.sync(closing)
    assert third["errors"] == summary["errors"] == []
    assert third["applied"].get("transition", 0) + summary["applied"].get("transition", 0) == 1
    issue = redmine.issue(created["id"])
    assert issue["status"]["name"] == "Closed"
    assert "/closure/" in marker_notes(issue)[-1]
    notes = [j for j in issue["journals"] if markers_in(j.get("notes") or "")]
    assert all(j["user"]["id"] == int(redmine.env["REDMINE_USER_SLA_BOT_ID"]) and not j["private_notes"]
               for j in notes)
    # sla-bot's role may not go from Feedback to Closed directly: the closure went through Resolved.
    steps = [(d["old_value"], d["new_value"]) for j in issue["journals"] for d in j["details"]
             if d["name"] == "status_id" and j["user"]["id"] == int(redmine.env["REDMINE_USER_SLA_BOT_ID"])]
    ids = {name: redmine.env[f"REDMINE_STATUS_{name}_ID"] for name in ("FEEDBACK", "RESOLVED", "CLOSED")}
    assert steps == [(ids["FEEDBACK"], ids["RESOLVED"]), (ids["RESOLVED"], ids["CLOSED"])]
    assert "relance 1 sur 3" in notes[0]["notes"]

    bridge.sync(closing + 60 * MINUTE)
    assert len(marker_notes(redmine.issue(created["id"]))) == 5


class KilledAfterPost(RedmineAdapter):
    def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
        super().post_comment(ticket, comment)
        raise KeyboardInterrupt("killed between the API call and the store write")


def test_killed_in_the_middle_sends_the_reminder_exactly_once(redmine: Redmine, bridge: Bridge) -> None:
    cal = bridge.config.calendar
    created = redmine.create_issue("Reports unreachable")
    redmine.set_status(created["id"], "FEEDBACK", "Could you send the logs?")
    waiting_since = parse(redmine.issue(created["id"])["journals"][-1]["created_on"])
    bridge.sync(waiting_since + MINUTE)
    due = cal.add_days(waiting_since, 1) + MINUTE

    config = bridge.config
    app = build_app(config)
    killer = KilledAfterPost("redmine", config.file.trackers["redmine"], config)
    with pytest.raises(KeyboardInterrupt):
        Syncer(config, app.store, killer, app.pm, clock=lambda: datetime.now(due.tzinfo)).run(due)
    app.close()
    assert len(marker_notes(redmine.issue(created["id"]))) == 1

    summary = bridge.sync(due + MINUTE)
    assert summary["errors"] == []
    assert len(marker_notes(redmine.issue(created["id"]))) == 1


def test_dry_run_writes_nothing(redmine: Redmine, bridge: Bridge) -> None:
    created = redmine.create_issue("Dry run")
    before = redmine.issue(created["id"])
    summary = bridge.sync(parse(created["created_on"]) + MINUTE, "--dry-run")
    assert [p["action"].split()[0] for p in summary["planned"]] == ["set", "labels"]
    assert redmine.issue(created["id"])["updated_on"] == before["updated_on"]
    real = bridge.sync(parse(created["created_on"]) + MINUTE)
    assert real["applied"] == {"due_date": 1, "labels": 1}


def test_a_person_editing_other_labels_is_left_alone(redmine: Redmine, bridge: Bridge) -> None:
    created = redmine.create_issue("Other labels")
    start = parse(created["created_on"])
    bridge.sync(start + MINUTE)
    field = int(redmine.env["REDMINE_LABELS_FIELD_ID"])
    redmine.call("PUT", f"/issues/{created['id']}.json", json={"issue": {"custom_fields": [
        {"id": field, "value": ["sla-bloquante", "contournement"]}]}})
    bridge.sync(start + 2 * MINUTE)
    labels = redmine.custom(redmine.issue(created["id"]), "REDMINE_LABELS_FIELD_ID")
    assert sorted(labels) == ["contournement", "sla-bloquante"]
