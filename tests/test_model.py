"""The common model: immutable tickets with ordered history, and a lossless JSON form."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from importlib import resources

import pytest

from sla_bridge.model import (
    Comment, LabelChange, Role, SeverityChange, StatusChange, Ticket, TicketFormatError, ticket_from_json,
    ticket_to_json, tickets_from_json,
)

T0 = datetime(2025, 5, 6, 9, 15, tzinfo=timezone.utc)


def test_json_round_trip_of_the_samples() -> None:
    text = resources.files("sla_bridge").joinpath("data/demo-tickets.json").read_text(encoding="utf-8")
    tickets = tickets_from_json(json.loads(text))
    assert len(tickets) == 8
    for ticket in tickets:
        assert ticket_from_json(json.loads(json.dumps(ticket_to_json(ticket)))) == ticket


def test_events_are_kept_in_time_order() -> None:
    later = Comment(T0.replace(hour=12), "a", Role.AGENT, True, "x")
    earlier = StatusChange(T0.replace(hour=10), "new", "in_progress")
    ticket = Ticket("json", "1", "t", "r", T0, "in_progress", "majeure", events=(later, earlier))
    assert ticket.events == (earlier, later)
    assert ticket.initial_status() == "new"


def test_initial_values_come_from_the_history() -> None:
    ticket = Ticket("json", "1", "t", "r", T0, "closed", "bloquante", events=(
        SeverityChange(T0.replace(hour=10), "mineure", "bloquante"),
        LabelChange(T0.replace(hour=11), "x", True),
        StatusChange(T0.replace(hour=12), "waiting", "closed"),
    ))
    assert ticket.initial_severity() == "mineure"
    assert ticket.initial_status() == "waiting"
    assert ticket.key == "json:1"


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="created is a naive datetime"):
        Ticket("json", "1", "t", "r", datetime(2025, 1, 1), "new", None)
    with pytest.raises(ValueError, match="has no time zone offset"):
        Ticket("json", "1", "t", "r", T0, "new", None, events=(StatusChange(datetime(2025, 1, 2), "a", "b"),))


@pytest.mark.parametrize(("data", "message"), [
    ({"status": "new", "created": "2025-01-01T00:00Z"}, "ticket.id: required"),
    ({"id": 1, "created": "2025-01-01T00:00Z"}, "ticket 1.status: required"),
    ({"id": 1, "status": "new", "created": 5}, "ticket 1.created: expected an ISO 8601 datetime string"),
    ({"id": 1, "status": "new", "created": "2025-01-01T00:00Z", "labels": "a"}, "ticket 1.labels: expected a list"),
    ({"id": 1, "status": "new", "created": "2025-01-01T00:00Z", "due_date": "tomorrow"},
     "ticket 1.due_date: expected a date YYYY-MM-DD"),
    ({"id": 1, "status": "new", "created": "2025-01-01T00:00Z",
      "events": [{"type": "comment", "at": "2025-01-01T00:00Z", "role": "boss"}]},
     "ticket 1.events[0].role: expected one of customer, agent, system, got 'boss'"),
])
def test_malformed_json_names_the_field(data: dict[str, object], message: str) -> None:
    with pytest.raises(TicketFormatError) as info:
        ticket_from_json(data)
    assert message in str(info.value)


def test_identities_fields_and_reports_survive_the_json_form() -> None:
    from datetime import datetime

    from sla_bridge.identity import Person
    from sla_bridge.model import FieldChange, Ticket, ticket_from_json, ticket_to_json
    t0 = datetime.fromisoformat("2025-03-11T10:00+01:00")
    ticket = Ticket("rm", "7", "Export", Person(id="5", login="cust-admin", email="a@b.fr", name="Alice Martin",
                                                groups=frozenset({"admins"}), roles=frozenset({"Reporter"})),
                    t0, "New", "Urgent", project="support", fields=frozenset({("category", "Training")}),
                    reported_at=datetime.fromisoformat("2025-03-11T09:00+01:00"),
                    events=(FieldChange(t0, "category", None, "Training", "sam"),))
    assert ticket_from_json(ticket_to_json(ticket)) == ticket
    plain = Ticket("json", "1", "t", Person(login="alice"), t0, "new", None)
    assert ticket_to_json(plain)["reporter"] == "alice" and ticket_from_json(ticket_to_json(plain)) == plain
