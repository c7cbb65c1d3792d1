"""The Jira adapter writing: due date, deadline and labels in one PUT, comments, transitions.

Fields are set in one ``PUT /issue/{key}`` (safe to retry), with ``notifyUsers=false``
unless ``notify_users``; Jira refuses that flag to an account that is not a project
administrator, and the refusal is remembered for a day (``jira_lookups``), so that each
process does not waste a write learning it again. A comment carries its marker and is
re-sent only after checking the issue for it; the closing transition goes along the
workflow (``jira_workflow``), each POST guarded.
"""

from __future__ import annotations

import logging
from typing import Any

from ..actions import PostComment, SetDueDate, SetLabels
from ..markers import markers_in
from ..model import Ticket
from .base import SkippableError
from .jira_read import MALFORMED, JiraReader
from .jira_transport import API
from .jira_values import Malformed, deadline_value, fit_comment, obj, shorten, text, unwiki
from .jira_workflow import MAX_STEPS, first_takeable, next_steps, offered, target

log = logging.getLogger(__name__)


class JiraWriter(JiraReader):
    """Fields, comments and the closing transition."""

    def apply_fields(self, ticket: Ticket, due: SetDueDate | None, labels: SetLabels | None) -> None:
        """Due date, exact deadline and SLA labels in one PUT (safe to retry: it sets values)."""
        body: dict[str, Any] = {}
        if due is not None:
            body["fields"] = {"duedate": due.due_date.isoformat() if due.due_date else None}
            if self.options.deadline_field is not None:
                body["fields"][self.options.deadline_field] = deadline_value(due.due_at) if due.due_at else None
        if labels is not None and (labels.add or labels.remove):
            # One operation per SLA label: a person's other labels are never sent, so never lost.
            body["update"] = {"labels": [{"add": label} for label in sorted(labels.add)]
                              + [{"remove": label} for label in sorted(labels.remove)]}
        if not body:
            return
        what = f"update issue {ticket.id}"
        if self._silence:
            try:
                self._call("PUT", f"{API}/issue/{ticket.id}", what=what, retry=True,
                           params={"notifyUsers": "false"}, body=body)
                return
            except SkippableError as exc:
                if getattr(exc, "status", None) not in (400, 403) or "notif" not in str(exc).lower():
                    raise
                # Only Jira and project administrators may silence notifications: remembered a
                # day, so that every process does not waste a write learning it again.
                log.warning("%s: the API user may not disable notifications (%s); writing with them (asked again"
                            " in a day)", self.name, self._unnamed(exc))
                self._silence_refused()
        self._call("PUT", f"{API}/issue/{ticket.id}", what=what, retry=True, body=body)

    def _has_marker(self, key: str, marker: str) -> bool:
        """Whether sla-bridge's own account already wrote the comment carrying ``marker``.

        Only its own comments count: a customer quoting a reminder, or anyone pasting a
        marker, must not make sla-bridge believe it sent what it did not.
        """
        try:
            comments = self._comments(key, None)
        except MALFORMED as exc:
            what = str(exc) if isinstance(exc, Malformed) else f"unexpected JSON ({type(exc).__name__}: {exc})"
            raise SkippableError(self._text(f"issue {key}: cannot tell whether the comment was posted: {what}")
                                 ) from None
        return any(marker in markers_in(unwiki(c["body"])) for c in comments
                   if isinstance(c.get("body"), str) and self._own(c.get("author")))

    def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
        """A comment carrying its marker; re-sent only after checking the issue for that marker.

        The body is escaped for the wiki renderer and kept within ``max_comment_length``
        as Jira counts it (the escaping adds characters the sync's cut did not count).
        """
        body: dict[str, Any] = {"body": fit_comment(comment.body, self.max_comment_length)}
        if not comment.public:
            body["properties"] = [{"key": "sd.public.comment", "value": {"internal": True}}]
        self._guarded_post(f"/issue/{ticket.id}/comment", body, f"add a comment to issue {ticket.id}",
                           lambda: self._has_marker(ticket.id, comment.key))

    def _status_now(self, key: str) -> str:
        issue = self._get_issue(key, f"/issue/{key}", f"read back issue {key}", fields="status")
        status = text(obj(obj(issue.get("fields")).get("status")).get("name"))
        if not status:
            raise SkippableError(self._text(f"read back issue {key}: Jira's answer has no status name"
                                            f" ({shorten(issue.get('fields'))})"))
        return status

    def transitions(self, key: str, current: str | None = None) -> list[dict[str, Any]]:
        """The transitions the API user may take on an issue now, with their screens' fields."""
        data = self._get_issue(key, f"/issue/{key}/transitions", f"list the transitions of issue {key}",
                               expand="transitions.fields")
        return offered(data, current)

    def transition(self, ticket: Ticket, to_status: str) -> None:
        """Move the issue to ``to_status`` along its workflow, supplying the resolution each screen needs.

        The transition whose target is ``to_status`` when there is one; else one step towards it
        (a status mapped ``resolved``, or one seen to lead there; ``jira_workflow.next_steps``), then
        the transitions are read again, at most ``MAX_STEPS`` times. Each POST is guarded: re-sent
        after a 429 only, and after a lost answer Jira is asked whether it was applied.
        """
        goal = to_status.casefold()
        scope = ((ticket.project or "").casefold(), (ticket.type or "").casefold())
        current = ticket.status
        visited = {current.casefold()}
        way: list[str] = []
        for _ in range(MAX_STEPS):
            available = self.transitions(ticket.id, current)
            self.workflow.learn(scope, current, available)
            finals = [t for t in available if target(t).casefold() == goal]
            if finals:
                chosen, fields, problems = first_takeable(finals, self.options.resolution, self.name)
                if chosen is None:
                    raise SkippableError(self._text(f"issue {ticket.id}: cannot move to {to_status!r}"
                                                    f"{self._left_in(current, way)}: {'; '.join(problems)}"))
                self._take(ticket.id, chosen, fields, to_status, to_status)
                return
            steps = next_steps(available, to_status, self.section.statuses.resolved, visited, self.workflow, scope)
            chosen, fields, problems = first_takeable(steps, self.options.resolution, self.name)
            if chosen is None:
                targets = sorted({target(t) for t in available})
                raise SkippableError(self._text(
                    f"issue {ticket.id}: no workflow transition from {current!r} to {to_status!r}"
                    f" (closing_status) is available to the API user{self._left_in(current, way)}; it may go to:"
                    f" {', '.join(targets) or 'nothing'}, and none of these is a status mapped resolved"
                    f" ({', '.join(self.section.statuses.resolved) or 'none'}) or known to lead to {to_status!r}"
                    + (f" ({'; '.join(problems)})" if problems else "")))
            step = target(chosen)
            self._take(ticket.id, chosen, fields, step, to_status)
            now = self._status_now(ticket.id)
            if now.casefold() == goal:
                return  # an automation rule (or a person) closed it meanwhile
            way.append(now)
            visited.add(now.casefold())
            current = now
        raise SkippableError(self._text(f"issue {ticket.id}: no way to {to_status!r} within {MAX_STEPS}"
                                        f" transitions{self._left_in(current, way)}"))

    @staticmethod
    def _left_in(current: str, way: list[str]) -> str:
        return f" (on the way there it went through {' -> '.join(way)}, where it stays)" if way else ""

    def _take(self, key: str, transition: dict[str, Any], fields: dict[str, Any], step: str, goal: str) -> None:
        body: dict[str, Any] = {"transition": {"id": str(transition["id"])}}
        if fields:
            body["fields"] = fields
        reached = {step.casefold(), goal.casefold()}
        self._guarded_post(f"/issue/{key}/transitions", body, f"move issue {key} to {step}",
                           lambda: self._status_now(key).casefold() in reached)
