"""The Redmine adapter (Redmine 5 REST API, JSON, ``requests``).

Where sla-bridge's fields live in Redmine:
- severity: the issue's priority (default) or a custom field;
- due date: Redmine's own ``due_date`` (a date);
- SLA labels: a multi-value *list* custom field (its possible values must hold
  every SLA label of the config);
- the exact deadline: a *string* custom field holding an ISO 8601 instant;
- reminders and the closure notice: journal notes (public or private);
- closure: ``status_id``. Redmine ignores a status change its workflow forbids and
  still answers 204, so the status is read back and a refusal reported.

History comes from the issue's journals: status and priority changes, custom field
changes (one detail per label added or removed), notes with their author. The
customer is anyone outside the configured agents (and outside sla-bridge's own API
user).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterator

from pydantic import BaseModel, ConfigDict, Field

from ..actions import PostComment, SetDueDate, SetLabels
from ..config import SecretRef, adapter_options
from ..hookspecs import hookimpl
from ..httpclient import HttpClient, RetryPolicy
from ..model import Comment, Event, LabelChange, Role, SeverityChange, StatusChange, Ticket
from .base import ChangedTicket, PermanentError, SkippableError, keyset_pages

if TYPE_CHECKING:
    from ..config import Config, TrackerSection
    from ..plugins import AdapterRegistry

PAGE_LIMIT = 100  # Redmine caps `limit` at 100


class RedmineOptions(BaseModel):
    """``[trackers.<name>.options]`` for ``adapter = "redmine"``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    api_key: SecretRef
    projects: list[str] = []  # project identifiers; empty: every project the key can see
    severity_field: str = "priority"  # "priority", or a custom field id or name
    labels_field: str | int           # custom field (multi-value list) id or name
    deadline_field: str | int | None = None  # custom field (string) id or name
    page_size: int = Field(default=PAGE_LIMIT, ge=1, le=PAGE_LIMIT)
    timeout_seconds: float = Field(default=30, gt=0)
    retries: int = Field(default=4, ge=1, le=10)


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _required_time(value: Any, what: str) -> datetime:
    parsed = _parse_time(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError(f"{what}: expected a timestamp, got {value!r}")
    return parsed


def _redmine_time(t: datetime) -> str:
    """Redmine's filter wants UTC with ``Z`` (``+00:00`` is rejected)."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class RedmineAdapter:
    adapter_type = "redmine"

    def __init__(self, name: str, section: "TrackerSection", config: "Config", *,
                 retry: RetryPolicy | None = None) -> None:
        self.name = name
        self.options = adapter_options(RedmineOptions, config, name, section)
        self.agents = {a.casefold() for a in section.agents}
        self.label_prefix = config.policy.labels.prefix
        self.http = HttpClient(self.options.url, {"X-Redmine-API-Key": self.options.api_key.reveal(),
                                                  "Content-Type": "application/json"}, name,
                               timeout=self.options.timeout_seconds,
                               retry=retry or RetryPolicy(attempts=self.options.retries))
        self._statuses: dict[str, str] | None = None
        self._priorities: dict[str, str] | None = None
        self._fields: dict[str, int] | None = None
        self._me: str | None = None

    def __repr__(self) -> str:
        return f"RedmineAdapter({self.name!r}, {self.options.url!r})"

    # --- lookups, read once per process ---------------------------------------------

    def _get(self, path: str, what: str, **params: Any) -> Any:
        return self.http.request("GET", path, what=what, retry=True, params=params or None).json()

    @property
    def statuses(self) -> dict[str, str]:
        if self._statuses is None:
            data = self._get("/issue_statuses.json", "list issue statuses")
            self._statuses = {str(s["id"]): s["name"] for s in data.get("issue_statuses", [])}
        return self._statuses

    @property
    def priorities(self) -> dict[str, str]:
        if self._priorities is None:
            data = self._get("/enumerations/issue_priorities.json", "list priorities")
            self._priorities = {str(p["id"]): p["name"] for p in data.get("issue_priorities", [])}
        return self._priorities

    @property
    def me(self) -> str:
        """sla-bridge's own user id: its notes are agent notes whatever the config says."""
        if self._me is None:
            self._me = str(self._get("/users/current.json", "read the API user")["user"]["id"])
        return self._me

    def field_id(self, ref: str | int | None) -> int | None:
        if ref is None:
            return None
        if isinstance(ref, int) or str(ref).isdigit():
            return int(ref)
        if self._fields is None:
            try:
                data = self._get("/custom_fields.json", "list custom fields")
            except SkippableError:
                raise PermanentError(f"{self.name}: cannot list custom fields to find {ref!r} (admin only):"
                                     " give the field's numeric id in the config instead") from None
            self._fields = {f["name"].casefold(): f["id"] for f in data.get("custom_fields", [])
                            if f.get("customized_type") == "issue"}
        try:
            return self._fields[str(ref).casefold()]
        except KeyError:
            raise PermanentError(f"{self.name}: no issue custom field named {ref!r}") from None

    @property
    def labels_id(self) -> int:
        return int(self.field_id(self.options.labels_field) or 0)  # labels_field is required

    # --- reading ---------------------------------------------------------------------

    def changed_since(self, cursor: datetime | None) -> Iterator[ChangedTicket]:
        """Issues updated at or after `cursor`, oldest first (keyset paging, see base)."""
        return keyset_pages(self._changed_page, cursor, self.options.page_size, resolution=timedelta(seconds=1))

    def _changed_page(self, bound: datetime | None, offset: int) -> list[ChangedTicket]:
        params: dict[str, Any] = {"status_id": "*", "sort": "updated_on,id", "limit": self.options.page_size,
                                  "offset": offset}
        if bound is not None:
            params["updated_on"] = f">={_redmine_time(bound)}"
        if self.options.projects:
            params["project_id"] = ",".join(self.options.projects)
        issues = self._get("/issues.json", "list changed issues", **params).get("issues", [])
        return [ChangedTicket(str(i["id"]), _parse_time(i["updated_on"])) for i in issues]  # type: ignore[arg-type]

    def fetch(self, ticket_id: str) -> Ticket:
        data = self._get(f"/issues/{ticket_id}.json", f"read issue {ticket_id}", include="journals")
        try:
            return self.to_ticket(data["issue"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SkippableError(f"{self.name}: issue {ticket_id}: unexpected JSON ({type(exc).__name__}: {exc})"
                                 ) from None

    def _custom(self, issue: dict[str, Any], field_id: int | None) -> Any:
        for field in issue.get("custom_fields", []):
            if field.get("id") == field_id:
                return field.get("value")
        return None

    def _role(self, user: dict[str, Any] | None) -> Role:
        if not user:
            return Role.SYSTEM
        if str(user.get("id")) == self.me or str(user.get("id")) in self.agents \
                or str(user.get("name", "")).casefold() in self.agents:
            return Role.AGENT
        return Role.CUSTOMER

    def to_ticket(self, issue: dict[str, Any]) -> Ticket:
        """One Redmine issue (with journals) in the common model."""
        severity_cf = None if self.options.severity_field == "priority" else self.field_id(self.options.severity_field)
        deadline_cf = self.field_id(self.options.deadline_field)
        events = [event for journal in issue.get("journals", []) for event in self._journal_events(journal, severity_cf)]
        labels = self._custom(issue, self.labels_id) or []
        deadline = self._custom(issue, deadline_cf) if deadline_cf else None
        severity = (issue.get("priority") or {}).get("name") if severity_cf is None \
            else self._custom(issue, severity_cf) or None
        created = _required_time(issue.get("created_on"), "created_on")
        return Ticket(
            tracker=self.name, id=str(issue["id"]), title=issue.get("subject", ""),
            reporter=(issue.get("author") or {}).get("name"), created=created,
            status=issue["status"]["name"], severity=severity,
            labels=frozenset(labels if isinstance(labels, list) else [labels]),
            due_date=date.fromisoformat(issue["due_date"]) if issue.get("due_date") else None,
            due_at=_parse_time(deadline) if deadline else None,
            fix_version=(issue.get("fixed_version") or {}).get("name"),
            type=(issue.get("tracker") or {}).get("name"),
            updated=_parse_time(issue.get("updated_on")),
            events=tuple(events),
        )

    def _journal_events(self, journal: dict[str, Any], severity_cf: int | None) -> list[Event]:
        """One journal: its details (status, priority, custom fields) and its note."""
        at = _required_time(journal.get("created_on"), "journal created_on")
        user = journal.get("user")
        by = user.get("name") if user else None
        role = self._role(user)
        events: list[Event] = []
        labels_cf = str(self.labels_id)
        for d in journal.get("details", []):
            prop, name, old, new = d.get("property"), str(d.get("name")), d.get("old_value"), d.get("new_value")
            if prop == "attr" and name == "status_id":
                events.append(StatusChange(at, self.statuses.get(str(old)) if old else None,
                                           self.statuses.get(str(new), str(new)), by, role))
            elif prop == "attr" and name == "priority_id" and severity_cf is None:
                events.append(SeverityChange(at, self.priorities.get(str(old)), self.priorities.get(str(new)), by))
            elif prop == "cf" and severity_cf is not None and name == str(severity_cf):
                events.append(SeverityChange(at, old, new, by))
            elif prop == "cf" and name == labels_cf:  # one detail per value added or removed
                if new:
                    events.append(LabelChange(at, new, True, by))
                if old:
                    events.append(LabelChange(at, old, False, by))
        if journal.get("notes"):
            events.append(Comment(at, by, role, not journal.get("private_notes", False), journal["notes"]))
        return events

    # --- writing ---------------------------------------------------------------------

    def _put(self, ticket_id: str, fields: dict[str, Any], what: str, retry: bool) -> None:
        self.http.request("PUT", f"/issues/{ticket_id}.json", what=what, retry=retry, json={"issue": fields})

    def apply_fields(self, ticket: Ticket, due: SetDueDate | None, labels: SetLabels | None) -> None:
        """Due date, deadline and SLA labels in one PUT (safe to retry: it sets values)."""
        fields: dict[str, Any] = {}
        custom: list[dict[str, Any]] = []
        if due is not None:
            fields["due_date"] = due.due_date.isoformat() if due.due_date else ""
            deadline_cf = self.field_id(self.options.deadline_field)
            if deadline_cf is not None:
                custom.append({"id": deadline_cf, "value": due.due_at.isoformat() if due.due_at else ""})
        if labels is not None:
            values = sorted((ticket.labels - labels.remove) | labels.add)
            custom.append({"id": self.labels_id, "value": values or [""]})  # [""] clears a multi-value field
        if custom:
            fields["custom_fields"] = custom
        if fields:
            self._put(ticket.id, fields, f"update issue {ticket.id}", retry=True)

    def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
        # Never retried: a second attempt after a lost answer would add the note twice.
        self._put(ticket.id, {"notes": comment.body, "private_notes": not comment.public},
                  f"add a note to issue {ticket.id}", retry=False)

    def transition(self, ticket: Ticket, to_status: str) -> None:
        wanted = next((sid for sid, name in self.statuses.items() if name.casefold() == to_status.casefold()), None)
        if wanted is None:
            raise PermanentError(f"{self.name}: no Redmine status named {to_status!r} (closing_status);"
                                 f" known: {', '.join(self.statuses.values())}")
        self._put(ticket.id, {"status_id": int(wanted)}, f"move issue {ticket.id} to {to_status}", retry=True)
        issue = self._get(f"/issues/{ticket.id}.json", f"read back issue {ticket.id}")["issue"]
        if str(issue["status"]["id"]) != wanted:
            raise SkippableError(f"{self.name}: issue {ticket.id}: Redmine kept status {issue['status']['name']!r}"
                                 f" instead of {to_status!r}: its workflow does not let the API user make this"
                                 " change (Administration > Workflow)")


@hookimpl
def sla_bridge_register_adapters(registry: "AdapterRegistry") -> None:
    registry.add("redmine", RedmineAdapter)
