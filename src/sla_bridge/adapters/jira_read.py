"""The Jira adapter reading one issue: its fields, whole changelog and comments, as a ``Ticket``.

One ``GET /issue/{key}`` with an explicit field list, ``expand=changelog`` and the
comments embedded; every page of ``/issue/{key}/changelog`` when the embedded changelog is
incomplete (Cloud embeds 100 entries); the comments list when the embedded one is
incomplete, and on Data Center for an issue that has comments: only
``GET /issue/{key}/comment?expand=properties`` shows the ``sd.public.comment`` property that
marks a Service Management internal note there (Cloud embeds ``jsdPublic``). An issue
without comments costs one request on both.

An answer that is not what the REST API documents skips that issue only, naming it and
what was wrong (``Malformed``, ``MALFORMED``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Hashable, Iterator

from ..model import Comment, Event, FieldChange, LabelChange, Role, SeverityChange, StatusChange, Ticket
from .base import OutOfScope, SkippableError, person_role
from .jira_search import MAX_IDLE_PAGES, JiraSearch, Progress
from .jira_values import (
    CHANGELOG_NAMES, CUSTOM_FIELD, Malformed, count, field_values, former_keys, is_public, issue_key, obj, objects,
    optional_date, optional_time, parse_time, required_time, shorten, shown, split_values, text, unwiki, user_key,
)

CHANGELOG_PAGE = 100  # /issue/{key}/changelog caps maxResults at 100
COMMENT_PAGE = 100
# What a parser may raise on JSON that is not what the REST API documents; reading one
# ticket turns them into a SkippableError naming the issue.
MALFORMED = (Malformed, KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, RecursionError)


class JiraReader(JiraSearch):
    """One issue with its whole history."""

    def _fields(self) -> list[str]:
        fields = ["summary", "status", "priority", "labels", "duedate", "fixVersions", "issuetype", "reporter",
                  "created", "updated", "project", "comment"]
        extra = [self.options.severity_field if self.options.severity_field != "priority" else None,
                 self.options.deadline_field, self.options.organizations_field, self.reported_at_field,
                 *self.fields.values()]
        for fid in extra:
            if fid is not None and fid not in fields:
                fields.append(fid)
        return fields

    def fetch(self, ticket_id: str) -> Ticket:
        """One issue with its whole history; a malformed answer skips it, saying what was wrong."""
        if issue_key(ticket_id) is None:
            raise SkippableError(self._text(f"{shorten(ticket_id)} is not a Jira issue key: left alone"))
        issue = self._get_issue(ticket_id, f"/issue/{ticket_id}", f"read issue {ticket_id}", fields=",".join(self._fields()),
                                expand="changelog")
        try:
            fields = issue.get("fields")
            if not isinstance(fields, dict):
                raise Malformed(f"Jira's answer has no `fields` object ({shorten(fields)})")
            self._in_scope(ticket_id, fields.get("project"))
            histories = self._histories(ticket_id, obj(issue.get("changelog")))
            comments = self._comments(ticket_id, fields.get("comment"))
            return self.to_ticket(issue, histories, comments)
        except SkippableError as exc:
            if ticket_id in str(exc):
                raise
            # A lookup made for this ticket (a user's groups) failed: the message names the ticket.
            raise SkippableError(self._text(f"issue {ticket_id}: {self._unnamed(exc)}")) from None
        except MALFORMED as exc:
            what = str(exc) if isinstance(exc, Malformed) else f"unexpected JSON ({type(exc).__name__}: {exc})"
            raise SkippableError(self._text(f"issue {ticket_id}: {what}")) from None

    def _in_scope(self, ticket_id: str, project: Any) -> None:
        """An issue moved to a project outside ``projects`` is no longer under this contract."""
        moved_to = text(obj(project).get("key"))
        if moved_to and moved_to.casefold() not in {p.casefold() for p in self.options.projects}:
            raise OutOfScope(self._text(f"issue {ticket_id} is now in project {moved_to[:60]}, which is"
                                            " not in options.projects: left alone"))

    @staticmethod
    def _identity(entry: dict[str, Any]) -> Hashable:
        """What tells one changelog entry or comment from another, to drop one sent twice."""
        return (text(entry.get("id")), text(entry.get("created")))

    def _unique(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``entries`` without those a page sent again (same id and time); one without an id stays."""
        seen: set[Hashable] = set()
        kept = []
        for entry in entries:
            identity = self._identity(entry)
            if text(entry.get("id")) is None or identity not in seen:
                seen.add(identity)
                kept.append(entry)
        return kept

    def _histories(self, key: str, changelog: dict[str, Any]) -> list[dict[str, Any]]:
        """The whole changelog: the embedded one when complete, else every page of it."""
        embedded = objects(changelog.get("histories"), "the embedded changelog's `histories`")
        if count(changelog.get("total"), len(embedded)) <= len(embedded):
            return self._unique(embedded)
        histories: list[dict[str, Any]] = []
        start, progress = 0, Progress()
        while True:
            try:
                page = self._get_issue(key, f"/issue/{key}/changelog", f"read the changelog of {key}", startAt=start,
                                       maxResults=CHANGELOG_PAGE)
            except SkippableError as exc:
                if getattr(exc, "status", None) == 404 and self.deployment != "cloud":
                    raise SkippableError(self._text(
                        f"issue {key}: Jira returned {len(embedded)} of {shorten(changelog.get('total'), 20)} history"
                        " entries and has no paged changelog endpoint; the ticket's history would be incomplete")
                    ) from None
                raise
            values = objects(page.get("values"), f"the changelog page at startAt {start}: `values`")
            histories += values
            start += len(values)
            if page.get("isLast", True) is not False or not values or start >= count(page.get("total"), 0):
                return self._unique(histories)
            if progress.page(map(self._identity, values)):
                raise Malformed(f"its changelog pages made no progress: {progress.pages} pages, the last"
                                f" {MAX_IDLE_PAGES} with only entries already read (Jira says {shorten(page.get('total'), 20)}"
                                " in all)")

    def _comments(self, key: str, embedded: Any) -> list[dict[str, Any]]:
        """Every comment, oldest first; on Data Center with their properties (public or internal).

        The embedded ones when they are all there (Cloud: with ``jsdPublic``). Data Center embeds
        comments without their properties: an issue with none needs nothing more, one with some
        is read again from the comments list, which alone shows the ``sd.public.comment``
        property of an internal note (an internal note read as public would acknowledge the
        ticket)."""
        if embedded is not None:
            if not isinstance(embedded, dict):
                raise Malformed(f"its `comment` field is not an object ({shorten(embedded)})")
            comments = objects(embedded.get("comments"), "its embedded `comments`")
            total = count(embedded.get("total"), len(comments))
            if total <= len(comments) and (self.deployment == "cloud" or not comments):
                return self._unique(comments)
        comments = []
        start, progress = 0, Progress()
        while True:
            params: dict[str, Any] = {"startAt": start, "maxResults": COMMENT_PAGE, "orderBy": "created"}
            if self.deployment != "cloud":
                params["expand"] = "properties"
            page = self._get_issue(key, f"/issue/{key}/comment", f"read the comments of {key}", **params)
            values = objects(page.get("comments"), f"the comments page at startAt {start}: `comments`")
            comments += values
            start += len(values)
            if not values or start >= count(page.get("total"), 0):
                return self._unique(comments)
            if progress.page(map(self._identity, values)):
                raise Malformed(f"its comments pages made no progress: {progress.pages} pages, the last"
                                f" {MAX_IDLE_PAGES} with only comments already read (Jira says"
                                f" {shorten(page.get('total'), 20)} in all)")

    def _role(self, user: dict[str, Any] | None) -> Role:
        """Who made a change or wrote a comment, for the contract, from the author's identities."""
        if not user:
            return Role.SYSTEM
        if user.get("accountType") == "customer":
            return Role.CUSTOMER  # a Jira Service Management portal customer
        if self._own(user):
            return Role.AGENT  # sla-bridge itself, whatever the patterns say (and no group lookup)
        role = person_role(self.person(user, groups=self._agent_groups), self.agents, self.me_person)
        if role is Role.CUSTOMER and user.get("accountType") == "app":
            return Role.SYSTEM  # automation rules, integrations
        return role

    def _own(self, user: Any) -> bool:
        """Whether ``user`` is sla-bridge's own API user (the account the credentials belong to)."""
        me = self.me_person
        return isinstance(user, dict) and me is not None and me.id is not None and user_key(user) == me.id

    @staticmethod
    def _user(value: Any, what: str) -> dict[str, Any] | None:
        """A user object, or None for nobody; anything else is malformed."""
        if value is None or value == {}:
            return None
        if not isinstance(value, dict):
            raise Malformed(f"{what} is not a user ({shorten(value)})")
        return value

    def _severity_item(self, item: dict[str, Any]) -> bool:
        field = self.options.severity_field
        if field == "priority":
            return item.get("field") == "priority" and item.get("fieldtype") == "jira"
        if item.get("fieldtype") != "custom":
            return False
        if item.get("fieldId"):
            return bool(item["fieldId"] == field)
        return item.get("field") == self.field_name(field)

    def _item_fields(self, item: dict[str, Any]) -> list[tuple[str, str]]:
        """The configured fields (name, id) a changelog item changes: by ``fieldId`` (Cloud), else by
        the name Data Center's changelog gives (a custom field's name, "Component", "Fix Version"...)."""
        if not self.fields:
            return []
        fid = item.get("fieldId")
        if fid:
            return [(name, f) for name, f in self.fields.items() if f == fid]
        found = []
        for name, f in self.fields.items():
            custom = CUSTOM_FIELD.match(f) is not None
            if custom != (item.get("fieldtype") == "custom"):
                continue
            label = self.field_name(f) if custom else CHANGELOG_NAMES.get(f, f)
            if label is not None and item.get("field") == label:
                found.append((name, f))
        return found

    def _multi(self, fid: str) -> str | None:
        """How a changelog item lists a multi-value field's values (None: one value per item)."""
        if fid == "labels":
            return "labels"
        if CUSTOM_FIELD.match(fid):
            info = self.field_info(fid)
            return "comma" if info is not None and info["array"] else None
        return None  # components, versions: one item per value added or removed

    def _field_changes(self, at: datetime, item: dict[str, Any], by: str | None) -> Iterator[FieldChange]:
        for name, fid in self._item_fields(item):
            old, new = text(item.get("fromString")), text(item.get("toString"))
            kind = self._multi(fid)
            if kind is None:
                if old != new:
                    yield FieldChange(at, name, old or None, new or None, by)
                continue
            before, after = split_values(old, kind), split_values(new, kind)
            yield from (FieldChange(at, name, None, value, by) for value in sorted(after - before))
            yield from (FieldChange(at, name, value, None, by) for value in sorted(before - after))

    def to_ticket(self, issue: dict[str, Any], histories: list[dict[str, Any]],
                  comments: list[dict[str, Any]]) -> Ticket:
        """One Jira issue, its changelog and comments in the common model.

        What the contract depends on (the key, creation, status, labels, dates, who wrote
        what and when) must have the form the REST API documents, else ``Malformed`` says
        which part is wrong; what is only shown (a title, a type) is read as text if it can be.
        """
        key = issue_key(issue.get("key"))
        if key is None:
            raise Malformed(f"its key {shorten(issue.get('key'))} is not an issue key")
        f = issue.get("fields")
        if not isinstance(f, dict):
            raise Malformed(f"Jira's answer has no `fields` object ({shorten(f)})")
        status = text(obj(f.get("status")).get("name"))
        if not status:
            raise Malformed(f"its `status` has no name ({shorten(f.get('status'))})")
        labels = f.get("labels")
        if labels is not None and (not isinstance(labels, list) or not all(isinstance(x, str) for x in labels)):
            raise Malformed(f"its `labels` are not a list of labels ({shorten(labels)})")
        deadline = optional_time(f.get(self.options.deadline_field), f"{self.options.deadline_field}"
                                 " (deadline_field)") if self.options.deadline_field else None
        versions = f.get("fixVersions")
        first = versions[0] if isinstance(versions, list) and versions else None
        organisations = tuple(field_values(f.get(self.options.organizations_field))) \
            if self.options.organizations_field else ()
        reporter = self.person(self._user(f.get("reporter"), "its `reporter`"), groups=self._reporter_groups,
                               organisations=organisations)
        values = frozenset((name, value) for name, fid in self.fields.items() for value in field_values(f.get(fid)))
        return Ticket(
            tracker=self.name, id=key, title=text(f.get("summary")) or "",
            reporter=reporter, created=required_time(f.get("created"), "its `created`"),
            status=status, severity=self._severity(f),
            labels=frozenset(labels or []),
            due_date=optional_date(f.get("duedate"), "its `duedate`"),
            due_at=deadline,
            fix_version=text(obj(first).get("name")),
            type=text(obj(f.get("issuetype")).get("name")),
            updated=optional_time(f.get("updated"), "its `updated`"),
            events=tuple(self._history_events(histories))
            + tuple(self._comment_events(comments, former_keys(histories), key)),
            project=text(obj(f.get("project")).get("key")),
            fields=values,
            reported_at=self._reported_at(key, f),
        )

    def _reported_at(self, key: str, fields: dict[str, Any]) -> datetime | None:
        if self.reported_at_field is None:
            return None
        raw = fields.get(self.reported_at_field)
        if raw in (None, ""):
            return None
        try:
            return parse_time(raw)
        except ValueError:
            raise SkippableError(self._text(
                f"issue {key}: {self.reported_at_field} (fields.reported_at) holds {shorten(raw)}, not a date and"
                " time with its offset: it must be a Date Time Picker field")) from None

    def _severity(self, fields: dict[str, Any]) -> str | None:
        if self.options.severity_field == "priority":
            raw = fields.get("priority")
        else:
            raw = fields.get(self.options.severity_field)
        if isinstance(raw, dict):
            return text(raw.get("value")) or text(raw.get("name")) or None
        return text(raw)

    def _history_events(self, histories: list[dict[str, Any]]) -> Iterator[Event]:
        for history in histories:
            what = f"history entry {shorten(history.get('id'), 30).strip(chr(39))}"
            at = required_time(history.get("created"), what)
            author = self._user(history.get("author"), f"the author of {what}")
            by, role = shown(author), self._role(author)
            for item in objects(history.get("items"), f"the items of {what}"):
                field = item.get("field")
                if field == "status" and item.get("fieldtype") == "jira":
                    yield StatusChange(at, text(item.get("fromString")), text(item.get("toString")) or "", by, role)
                elif self._severity_item(item):
                    yield SeverityChange(at, text(item.get("fromString")), text(item.get("toString")), by)
                elif field == "labels" and item.get("fieldtype") == "jira":
                    before = set((text(item.get("fromString")) or "").split())
                    after = set((text(item.get("toString")) or "").split())
                    yield from (LabelChange(at, label, True, by) for label in sorted(after - before))
                    yield from (LabelChange(at, label, False, by) for label in sorted(before - after))
                yield from self._field_changes(at, item, by)

    def _comment_events(self, comments: list[dict[str, Any]], former: set[str], key: str) -> Iterator[Comment]:
        for comment in comments:
            what = f"comment {shorten(comment.get('id'), 30).strip(chr(39))}"
            at = required_time(comment.get("created"), what)
            author = self._user(comment.get("author"), f"the author of {what}")
            # A comment whose author is gone (deleted user) may be the customer's answer:
            # it counts as one rather than letting the ticket close on them.
            role = self._role(author) if author else Role.CUSTOMER
            body = comment.get("body")
            yield Comment(at, shown(author), role, is_public(comment),
                          self._rekey(unwiki(body), former, key) if isinstance(body, str) else "", self._own(author))

    def _rekey(self, body: str, former: set[str], key: str) -> str:
        """Markers written before the issue was moved, read under its key now.

        An idempotency key starts with the ticket's ``tracker:id``; a move gives the issue
        a new key, and a reminder already sent under the old one must not be sent again.
        """
        for old in former:
            body = body.replace(f"[sla-bridge:{self.name}:{old}/", f"[sla-bridge:{self.name}:{key}/")
        return body

