"""The Redmine adapter reading one issue: ``GET /issues/:id.json?include=journals`` as a ``Ticket``.

One request per issue; the people it names and the lookups it needs come from what is
remembered (``redmine_client``, ``redmine_users``). An answer not shaped like Redmine's
is that issue's ``MalformedAnswer``, naming it and what was wrong.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from typing import Any, Iterator
from zoneinfo import ZoneInfo

from ..model import Comment, Event, FieldChange, LabelChange, SeverityChange, StatusChange, Ticket
from .base import OutOfScope, PermanentError, SkippableError, person_role
from .redmine_client import BUILTIN_FIELDS, RedmineClient
from .redmine_parse import (
    Malformed, MalformedAnswer, in_range, need_id, obj, objects, optional_date, optional_time, parse_id, parse_time,
    short, text, type_name,
)


def parse_reported(value: str, zone: ZoneInfo) -> datetime:
    """An ISO 8601 instant; a bare date or a datetime without offset is read in the calendar's zone."""
    # A bare date reads as its midnight: the clocks then start at that day's first opening.
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))  # ValueError if malformed
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


class RedmineReader(RedmineClient):
    """One issue with its journals."""

    def fetch(self, ticket_id: str) -> Ticket:
        if parse_id(ticket_id) != ticket_id:  # it goes into a URL
            raise SkippableError(f"{self.name}: {short(ticket_id)} is not a Redmine issue id")
        with self._about_issue(ticket_id):
            data = self._get_about(f"/issues/{ticket_id}.json", f"read issue {ticket_id}", expect=("issue", dict),
                                   include="journals")
            self._in_scope(ticket_id, data["issue"])
            return self.parse(ticket_id, data)

    def _in_scope(self, ticket_id: str, issue: dict[str, Any]) -> None:
        """An issue outside ``options.projects`` is not under this contract: moved to another
        project since it was synced, or named by a webhook of another project. The change
        query never lists one; read by id, it is left alone rather than written to."""
        if not self.options.projects:
            return
        project = issue.get("project")
        raw = project.get("id") if isinstance(project, dict) else None
        if raw is None or isinstance(raw, bool) or str(raw) in self._project_ids():
            return  # no project at all is the parser's to report
        assert isinstance(project, dict)
        raise OutOfScope(f"{self.name}: issue {ticket_id} is in project {short(project.get('name') or raw)},"
                             " which is not in options.projects: left alone")

    def _project_ids(self) -> list[str]:
        """The ids of ``options.projects`` (the change query filters on ids, not identifiers)."""
        ids = []
        for identifier in self.options.projects:
            project = self.directory.by_identifier(identifier)
            if project is None:
                raise PermanentError(f"{self.name}: project {identifier!r} (options.projects) does not exist"
                                     " or is not visible to the API user")
            ids.append(project.id)
        return ids

    @contextmanager
    def _about_issue(self, ticket_id: str) -> Iterator[None]:
        """A malformed answer about this issue (or a user it names) names the issue, once."""
        try:
            yield
        except MalformedAnswer as exc:
            text_ = self._bare(exc)
            where = "" if f"issue {ticket_id}" in text_ else f"issue {ticket_id}: "
            raise MalformedAnswer(f"{self.name}: {where}{text_}") from None

    def parse(self, ticket_id: str, data: Any) -> Ticket:
        """``GET /issues/:id.json?include=journals``'s answer as a Ticket; ``MalformedAnswer`` naming
        the issue and what is wrong when it is not shaped like Redmine's (never another error)."""
        try:
            issue = obj(data, "the answer").get("issue")
            if not isinstance(issue, dict):
                raise Malformed(f"the answer holds {type_name(issue)} under 'issue', not an issue")
            found = parse_id(issue.get("id"))
            if found != ticket_id:
                raise Malformed(f"the answer is about issue {short(issue.get('id'))}")
            return self.to_ticket(issue)
        except Malformed as exc:
            raise MalformedAnswer(f"{self.name}: issue {ticket_id}: {exc}") from None
        except RecursionError:
            raise MalformedAnswer(f"{self.name}: issue {ticket_id}: the answer is nested too deeply") from None

    def _custom(self, issue: dict[str, Any], field_id: int | None) -> Any:
        if field_id is None:
            return None
        for field in objects(issue.get("custom_fields"), "custom_fields"):
            if parse_id(field.get("id")) == str(field_id):
                return field.get("value")
        return None

    def to_ticket(self, issue: dict[str, Any]) -> Ticket:
        """One Redmine issue (with journals) in the common model; ``Malformed`` if it is not shaped
        like Redmine's."""
        self._labels_field_shown(issue)
        severity_cf = None if self.options.severity_field == "priority" else self.field_id(self.options.severity_field)
        deadline_cf = self.field_id(self.options.deadline_field, "deadline_field")
        ticket_id = need_id(issue.get("id"), "id")
        raw_project = obj(issue.get("project"), "project").get("id")
        project_id = need_id(raw_project, "project id") if raw_project is not None else None
        project = self.directory.project(project_id) if project_id is not None else None
        events = [event for n, journal in enumerate(objects(issue.get("journals"), "journals"), 1)
                  for event in self._journal_events(journal, n, project_id, severity_cf)]
        status = text(obj(issue.get("status"), "status").get("name"), "status name")
        if status is None:
            raise Malformed("it has no status")
        return Ticket(
            tracker=self.name, id=ticket_id, title=text(issue.get("subject"), "subject") or "",
            reporter=self.directory.person(obj(issue.get("author"), "author") or None, project_id),
            created=parse_time(issue.get("created_on"), "created_on"),
            status=status, severity=self._severity(issue, severity_cf),
            labels=frozenset(self._values(self._custom(issue, self.labels_id), "the labels field")),
            due_date=optional_date(issue.get("due_date"), "due_date"),
            due_at=self._deadline(issue, deadline_cf),
            fix_version=text(obj(issue.get("fixed_version"), "fixed_version").get("name"), "fixed_version name"),
            type=text(obj(issue.get("tracker"), "tracker").get("name"), "tracker name"),
            updated=optional_time(issue.get("updated_on"), "updated_on"),
            events=tuple(events),
            project=project.identifier if project is not None else None,
            fields=self._field_values(issue),
            reported_at=self._reported_at(issue),
        )

    def _labels_field_shown(self, issue: dict[str, Any]) -> None:
        """A labels field named in the configuration that the issue does not carry: its remembered id
        may be stale (the field deleted and created again), so the names are read again, once per
        process. Redmine ignores a custom field id it does not know in a write: a stale id would
        make every label write vanish until the names are read again."""
        if str(self.options.labels_field).strip().isdigit():
            return
        shown = {parse_id(f.get("id")) for f in objects(issue.get("custom_fields"), "custom_fields")}
        if str(self.labels_id) not in shown:
            self.relearn_fields()

    @staticmethod
    def _values(value: Any, what: str) -> list[str]:
        """A custom field's value as a list of texts (a multi-value field gives several)."""
        values = value if isinstance(value, list) else [value]
        out = []
        for v in values:
            found = text(v, what)
            if found is not None:
                out.append(found)
        return out

    def _severity(self, issue: dict[str, Any], severity_cf: int | None) -> str | None:
        if severity_cf is None:
            return text(obj(issue.get("priority"), "priority").get("name"), "priority name")
        values = self._values(self._custom(issue, severity_cf), "the severity field")
        return values[0] if values else None

    def _deadline(self, issue: dict[str, Any], deadline_cf: int | None) -> datetime | None:
        """The deadline field, which sla-bridge writes: unreadable (a person typed over it), it is
        taken as empty, and the sync writes it again."""
        if deadline_cf is None:
            return None
        values = self._values(self._custom(issue, deadline_cf), "the deadline field")
        try:
            return parse_time(values[0], "the deadline field") if values else None
        except Malformed:
            return None

    def _field_values(self, issue: dict[str, Any]) -> frozenset[tuple[str, str]]:
        pairs: set[tuple[str, str]] = set()
        for source in self.field_sources()[0]:
            if source.builtin:
                value: Any = obj(issue.get(source.builtin), source.builtin).get("name")
            else:
                value = self._custom(issue, source.custom_id)
            pairs.update((source.name, v) for v in self._values(value, source.label))
        return frozenset(pairs)

    def _reported_at(self, issue: dict[str, Any]) -> datetime | None:
        source = self.field_sources()[1]
        value = self._custom(issue, source.custom_id) if source is not None else None
        if source is None or value in (None, ""):
            return None
        try:
            if not isinstance(value, str):
                raise ValueError
            return in_range(parse_reported(value, self.zone), f"{source.label} (reported_at)", value)
        except ValueError:
            raise MalformedAnswer(f"{self.name}: issue {issue.get('id')}: {source.label} (reported_at) holds"
                                  f" {short(value)}, not a date or an ISO 8601 instant such as"
                                  " 2025-06-02T14:30+02:00") from None

    def _journal_events(self, journal: dict[str, Any], n: int, project_id: str | None,
                        severity_cf: int | None) -> list[Event]:
        """One journal: its details (status, priority, labels, configured fields) and its note."""
        where = f"journal {short(journal.get('id'))}" if parse_id(journal.get("id")) else f"journal {n}"
        at = parse_time(journal.get("created_on"), f"{where}: created_on")
        person = self.directory.person(obj(journal.get("user"), f"{where}: user") or None, project_id)
        by = str(person) if person else None  # shown in explanations only
        role = person_role(person, self.agents, self.me)
        events: list[Event] = []
        labels_cf = str(self.labels_id)
        for d in objects(journal.get("details"), f"{where}: details"):
            prop = text(d.get("property"), f"{where}: a detail's property")
            name = str(text(d.get("name"), f"{where}: a detail's name"))
            old = text(d.get("old_value"), f"{where}: {name}'s old value")
            new = text(d.get("new_value"), f"{where}: {name}'s new value")
            if prop == "attr" and name == "status_id":
                if new is None:
                    raise Malformed(f"{where}: a status change to no status")
                events.append(StatusChange(at, self._named("issue_statuses", old) if old else None,
                                           self._named("issue_statuses", new) or new, by, role))
            elif prop == "attr" and name == "priority_id" and severity_cf is None:
                events.append(SeverityChange(at, self._named("issue_priorities", old),
                                             self._named("issue_priorities", new), by))
            elif prop == "cf" and severity_cf is not None and name == str(severity_cf):
                events.append(SeverityChange(at, old, new, by))
            elif prop == "cf" and name == labels_cf:  # one detail per value added or removed
                if new:
                    events.append(LabelChange(at, new, True, by))
                if old:
                    events.append(LabelChange(at, old, False, by))
            events += self._field_changes(at, prop, name, old, new, by, project_id)
        notes = text(journal.get("notes"), f"{where}: notes")
        private = journal.get("private_notes", False)
        if not isinstance(private, bool) and private is not None:
            raise Malformed(f"{where}: private_notes is {type_name(private)} ({short(private)}), not a boolean")
        if notes:
            own = person is not None and person.id == self.me.id  # only then do its markers count
            events.append(Comment(at, by, role, not private, notes, own))
        return events

    def _field_changes(self, at: datetime, prop: str | None, name: str, old: str | None, new: str | None,
                       by: str | None, project_id: str | None) -> list[Event]:
        changes: list[Event] = []
        for source in self.field_sources()[0]:
            if source.builtin and prop == "attr" and name == BUILTIN_FIELDS[source.builtin]:
                if source.builtin == "category":  # details carry ids; a deleted category keeps "#id"
                    old, new = (self.directory.category_name(project_id, v) for v in (old, new))
                else:
                    old, new = ((self._named("trackers", v) or f"#{v}") if v else None for v in (old, new))
                changes.append(FieldChange(at, source.name, old or None, new or None, by))
            elif source.custom_id is not None and prop == "cf" and name == str(source.custom_id):
                changes.append(FieldChange(at, source.name, old or None, new or None, by))
        return changes
