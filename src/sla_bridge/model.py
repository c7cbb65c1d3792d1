"""The common ticket model every adapter produces and the engine consumes.

A tracker's JSON is turned into these immutable values at the adapter boundary, so
the engine never sees a tracker's quirks. A ticket carries its whole history as
events because every service-level clock is a function of that history: when it
was waiting for the customer, who answered, when the severity changed.

The JSON form (``ticket_to_json`` / ``ticket_from_json``) is documented in the
README; ``sla-bridge evaluate`` reads it and tests use it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterable, Mapping, Union

from .identity import Person


class Role(enum.StrEnum):
    """Who wrote a comment or made a change, as far as the contract cares."""

    CUSTOMER = "customer"
    AGENT = "agent"
    SYSTEM = "system"


@dataclass(frozen=True)
class StatusChange:
    at: datetime
    from_status: str | None
    to_status: str
    by: str | None = None
    by_role: Role | None = None


@dataclass(frozen=True)
class SeverityChange:
    """A change of the tracker's severity value (raw, before mapping)."""

    at: datetime
    from_severity: str | None
    to_severity: str | None
    by: str | None = None


@dataclass(frozen=True)
class LabelChange:
    at: datetime
    label: str
    added: bool
    by: str | None = None


@dataclass(frozen=True)
class Comment:
    """A comment; ``own`` when sla-bridge's own API user wrote it: only then do the
    idempotency markers in it count (a person may paste one into a title or a reply)."""

    at: datetime
    author: str | None
    role: Role
    public: bool
    body: str = ""
    own: bool = False


@dataclass(frozen=True)
class FieldChange:
    """A change of a tracker field the configuration reads (a category, a custom field).

    ``field`` is the name the configuration gives it (``[trackers.<name>.fields]``),
    casefolded; values are the tracker's own.
    """

    at: datetime
    field: str
    old: str | None
    new: str | None
    by: str | None = None


Event = Union[StatusChange, SeverityChange, LabelChange, Comment, FieldChange]


@dataclass(frozen=True)
class Ticket:
    """One ticket as the tracker shows it now, with its history.

    ``status`` and ``severity`` are the tracker's own values; the policy maps them
    to status roles and contract severities, so one model serves every tracker.
    ``due_at`` is the exact deadline last written by sla-bridge (or a person)
    where the tracker can hold one. ``reporter`` is who the tracker says opened
    it, with the identities entitlement is matched on. ``fields`` holds the
    values of the tracker fields the configuration reads, as ``(field, value)``
    pairs (field names casefolded; a multi-value field gives several pairs).
    ``reported_at`` is when the customer reported the anomaly, where an agent
    logged it later (a phone call): the clocks start there.
    """

    tracker: str
    id: str
    title: str
    reporter: Person | None
    created: datetime
    status: str
    severity: str | None
    labels: frozenset[str] = frozenset()
    due_date: date | None = None
    due_at: datetime | None = None
    fix_version: str | None = None
    type: str | None = None
    updated: datetime | None = None
    events: tuple[Event, ...] = field(default=())
    project: str | None = None
    fields: frozenset[tuple[str, str]] = frozenset()
    reported_at: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("created", "updated", "due_at", "reported_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"ticket {self.id}: {name} is a naive datetime; a time zone offset is required")
        for event in self.events:
            if event.at.tzinfo is None:
                raise ValueError(f"ticket {self.id}: event at {event.at.isoformat()} has no time zone offset")
        # Events are kept in time order so every consumer can scan them once.
        ordered = tuple(sorted(self.events, key=lambda e: e.at))
        if ordered != self.events:
            object.__setattr__(self, "events", ordered)
        # A set or list from an adapter plugin becomes the frozenset the engine is typed for
        # (the compiled engine checks it, and a ticket is hashable and immutable throughout).
        for name in ("labels", "fields"):
            if getattr(self, name).__class__ is not frozenset:
                object.__setattr__(self, name, frozenset(getattr(self, name)))

    @property
    def key(self) -> str:
        """The ticket's identity across trackers: ``tracker:id``."""
        return f"{self.tracker}:{self.id}"

    def initial_status(self) -> str:
        """The status the ticket was created in, read back from its first status change."""
        for event in self.events:
            if isinstance(event, StatusChange):
                return event.from_status if event.from_status is not None else event.to_status
        return self.status

    @property
    def started(self) -> datetime:
        """When the contract's clocks start: the report, if logged later than it was made."""
        if self.reported_at is not None and self.reported_at < self.created:
            return self.reported_at
        return self.created

    def field_values(self, name: str) -> frozenset[str]:
        folded = name.casefold()
        return frozenset(value for f, value in self.fields if f == folded)

    def initial_severity(self) -> str | None:
        for event in self.events:
            if isinstance(event, SeverityChange):
                return event.from_severity
        return self.severity


# --- JSON form ---------------------------------------------------------------------

class TicketFormatError(ValueError):
    """A ticket in JSON form is malformed; the message names the field."""


def _parse_datetime(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise TicketFormatError(f"{where}: expected an ISO 8601 datetime string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise TicketFormatError(f"{where}: expected an ISO 8601 datetime, got {value!r}") from None
    if parsed.tzinfo is None:
        raise TicketFormatError(f"{where}: {value!r} has no time zone offset (add 'Z' or '+01:00')")
    return parsed


def _parse_date(value: Any, where: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise TicketFormatError(f"{where}: expected a date YYYY-MM-DD, got {value!r}") from None


def _optional_str(data: Mapping[str, Any], name: str, where: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, (str, int)):
        raise TicketFormatError(f"{where}.{name}: expected a string, got {value!r}")
    return str(value)


def _string_set(data: Mapping[str, Any], name: str, where: str) -> frozenset[str]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TicketFormatError(f"{where}.{name}: expected a list of strings, got {value!r}")
    return frozenset(value)


def _role(value: Any, where: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise TicketFormatError(f"{where}: expected one of {allowed}, got {value!r}") from None


def _event_from_json(data: Any, where: str) -> Event:
    if not isinstance(data, Mapping):
        raise TicketFormatError(f"{where}: expected an object, got {data!r}")
    kind = data.get("type")
    at = _parse_datetime(data.get("at"), f"{where}.at")
    by = _optional_str(data, "by", where)
    if kind == "status":
        to_status = _optional_str(data, "to", where)
        if to_status is None:
            raise TicketFormatError(f"{where}.to: a status change needs the new status")
        role = data.get("by_role")
        return StatusChange(at, _optional_str(data, "from", where), to_status, by,
                            _role(role, f"{where}.by_role") if role is not None else None)
    if kind == "severity":
        return SeverityChange(at, _optional_str(data, "from", where), _optional_str(data, "to", where), by)
    if kind == "label":
        label = _optional_str(data, "label", where)
        if label is None:
            raise TicketFormatError(f"{where}.label: a label change needs the label")
        added = data.get("added", True)
        if not isinstance(added, bool):
            raise TicketFormatError(f"{where}.added: expected true or false, got {added!r}")
        return LabelChange(at, label, added, by)
    if kind == "field":
        name = _optional_str(data, "field", where)
        if name is None:
            raise TicketFormatError(f"{where}.field: a field change needs the field's name")
        return FieldChange(at, name.casefold(), _optional_str(data, "from", where), _optional_str(data, "to", where),
                           by)
    if kind == "comment":
        public = data.get("public", True)
        if not isinstance(public, bool):
            raise TicketFormatError(f"{where}.public: expected true or false, got {public!r}")
        body = data.get("body", "")
        if not isinstance(body, str):
            raise TicketFormatError(f"{where}.body: expected a string, got {body!r}")
        own = data.get("own", False)
        if not isinstance(own, bool):
            raise TicketFormatError(f"{where}.own: expected true or false, got {own!r}")
        return Comment(at, _optional_str(data, "author", where), _role(data.get("role"), f"{where}.role"), public, body,
                       own)
    raise TicketFormatError(f"{where}.type: expected one of status, severity, label, field, comment, got {kind!r}")


def _person_from_json(data: Any, groups: frozenset[str], where: str) -> Person | None:
    """A reporter: a login as text, or an object with its identities."""
    if data is None:
        return Person(groups=groups) if groups else None
    if isinstance(data, (str, int)):
        return Person(login=str(data), groups=groups)
    if not isinstance(data, Mapping):
        raise TicketFormatError(f"{where}: expected a login or an object with id, login, email, name, groups,"
                                f" roles, organisations, account_type; got {data!r}")
    unknown = set(data) - {"id", "login", "email", "name", "groups", "roles", "organisations", "account_type"}
    if unknown:
        raise TicketFormatError(f"{where}: unknown key(s) {sorted(unknown)}")
    return Person(id=_optional_str(data, "id", where), login=_optional_str(data, "login", where),
                  email=_optional_str(data, "email", where), name=_optional_str(data, "name", where),
                  groups=_string_set(data, "groups", where) | groups, roles=_string_set(data, "roles", where),
                  organisations=_string_set(data, "organisations", where),
                  account_type=_optional_str(data, "account_type", where))


def _person_to_json(person: Person | None) -> Any:
    if person is None:
        return None
    if person == Person(login=person.login):
        return person.login
    return person.to_json()


def _fields_from_json(data: Any, where: str) -> frozenset[tuple[str, str]]:
    if data is None:
        return frozenset()
    if not isinstance(data, Mapping):
        raise TicketFormatError(f"{where}: expected an object of field name -> value or list of values")
    pairs: set[tuple[str, str]] = set()
    for name, value in data.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, (str, int)) for v in values):
            raise TicketFormatError(f"{where}.{name}: expected a string or a list of strings, got {value!r}")
        pairs.update((str(name).casefold(), str(v)) for v in values)
    return frozenset(pairs)


def _fields_to_json(fields: frozenset[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in sorted(fields):
        out.setdefault(name, []).append(value)
    return out


def ticket_from_json(data: Any, where: str = "ticket") -> Ticket:
    """Build a ticket from its JSON form; errors name the offending field."""
    if not isinstance(data, Mapping):
        raise TicketFormatError(f"{where}: expected an object, got {type(data).__name__}")
    ticket_id = _optional_str(data, "id", where)
    if ticket_id is None:
        raise TicketFormatError(f"{where}.id: required")
    where = f"{where} {ticket_id}"
    status = _optional_str(data, "status", where)
    if status is None:
        raise TicketFormatError(f"{where}.status: required")
    events_data = data.get("events", [])
    if not isinstance(events_data, list):
        raise TicketFormatError(f"{where}.events: expected a list, got {events_data!r}")
    updated = data.get("updated")
    due_at = data.get("due_at")
    reported_at = data.get("reported_at")
    return Ticket(
        tracker=_optional_str(data, "tracker", where) or "json",
        id=ticket_id,
        title=_optional_str(data, "title", where) or "",
        reporter=_person_from_json(data.get("reporter"), _string_set(data, "reporter_groups", where),
                                   f"{where}.reporter"),
        created=_parse_datetime(data.get("created"), f"{where}.created"),
        status=status,
        severity=_optional_str(data, "severity", where),
        labels=_string_set(data, "labels", where),
        due_date=_parse_date(data.get("due_date"), f"{where}.due_date"),
        due_at=_parse_datetime(due_at, f"{where}.due_at") if due_at is not None else None,
        fix_version=_optional_str(data, "fix_version", where),
        type=_optional_str(data, "type", where),
        updated=_parse_datetime(updated, f"{where}.updated") if updated is not None else None,
        events=tuple(_event_from_json(e, f"{where}.events[{i}]") for i, e in enumerate(events_data)),
        project=_optional_str(data, "project", where),
        fields=_fields_from_json(data.get("fields"), f"{where}.fields"),
        reported_at=_parse_datetime(reported_at, f"{where}.reported_at") if reported_at is not None else None,
    )


def tickets_from_json(data: Any, where: str = "tickets") -> list[Ticket]:
    """Accept either a list of tickets or ``{"tickets": [...]}``."""
    if isinstance(data, Mapping) and "tickets" in data:
        data = data["tickets"]
    if not isinstance(data, list):
        raise TicketFormatError(f"{where}: expected a list of tickets or {{\"tickets\": [...]}}")
    return [ticket_from_json(item, f"{where}[{i}]") for i, item in enumerate(data)]


def _event_to_json(event: Event) -> dict[str, Any]:
    if isinstance(event, StatusChange):
        out: dict[str, Any] = {"type": "status", "at": event.at.isoformat(), "from": event.from_status,
                               "to": event.to_status, "by": event.by}
        if event.by_role is not None:
            out["by_role"] = event.by_role.value
        return out
    if isinstance(event, SeverityChange):
        return {"type": "severity", "at": event.at.isoformat(), "from": event.from_severity,
                "to": event.to_severity, "by": event.by}
    if isinstance(event, LabelChange):
        return {"type": "label", "at": event.at.isoformat(), "label": event.label, "added": event.added,
                "by": event.by}
    if isinstance(event, FieldChange):
        return {"type": "field", "at": event.at.isoformat(), "field": event.field, "from": event.old,
                "to": event.new, "by": event.by}
    out = {"type": "comment", "at": event.at.isoformat(), "author": event.author, "role": event.role.value,
           "public": event.public, "body": event.body}
    if event.own:
        out["own"] = True
    return out


def ticket_to_json(ticket: Ticket) -> dict[str, Any]:
    """The JSON form; ``ticket_from_json(ticket_to_json(t)) == t``."""
    return {
        "tracker": ticket.tracker,
        "id": ticket.id,
        "title": ticket.title,
        "reporter": _person_to_json(ticket.reporter),
        "project": ticket.project,
        "created": ticket.created.isoformat(),
        "updated": ticket.updated.isoformat() if ticket.updated else None,
        "status": ticket.status,
        "severity": ticket.severity,
        "type": ticket.type,
        "labels": sorted(ticket.labels),
        "due_date": ticket.due_date.isoformat() if ticket.due_date else None,
        "due_at": ticket.due_at.isoformat() if ticket.due_at else None,
        "fix_version": ticket.fix_version,
        "fields": _fields_to_json(ticket.fields),
        "reported_at": ticket.reported_at.isoformat() if ticket.reported_at else None,
        "events": [_event_to_json(e) for e in ticket.events],
    }


def tickets_to_json(tickets: Iterable[Ticket]) -> dict[str, Any]:
    return {"tickets": [ticket_to_json(t) for t in tickets]}
