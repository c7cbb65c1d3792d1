"""The Redmine adapter writing: fields in one PUT, notes (checked against the API user's permissions),
and the closing path along the API user's workflow, every step read back."""

from __future__ import annotations

from datetime import date
from typing import Any

from ..actions import PostComment, SetDueDate, SetLabels
from ..model import Ticket
from .base import FieldRefused, SkippableError
from .redmine_parse import Malformed, MalformedAnswer, need_id, obj, objects, optional_date, short, text
from .redmine_read import RedmineReader

MAX_STEPS = 3     # status changes one closure may take (direct, or through resolved statuses)


class RedmineWriter(RedmineReader):
    """Fields, notes and the closing path."""

    # --- writing ---------------------------------------------------------------------

    def _put(self, ticket_id: str, fields: dict[str, Any], what: str, retry: bool) -> None:
        self._call("PUT", f"/issues/{ticket_id}.json", what, retry, json={"issue": fields})

    def apply_fields(self, ticket: Ticket, due: SetDueDate | None, labels: SetLabels | None) -> None:
        """Due date, deadline and SLA labels in one PUT (safe to retry: it sets values).

        Redmine validates the whole issue: a due date before the start date answers
        422 and writes nothing. The labels and the deadline must not wait for a person
        to fix the start date, so they are written without the due date, and the
        refusal is reported once (``FieldRefused``)."""
        fields: dict[str, Any] = {}
        custom: list[dict[str, Any]] = []
        if due is not None:
            fields["due_date"] = due.due_date.isoformat() if due.due_date else ""
            deadline_cf = self.field_id(self.options.deadline_field, "deadline_field")
            if deadline_cf is not None:
                custom.append({"id": deadline_cf, "value": due.due_at.isoformat() if due.due_at else ""})
        if labels is not None:
            values = sorted((ticket.labels - labels.remove) | labels.add)
            custom.append({"id": self.labels_id, "value": values or [""]})  # [""] clears a multi-value field
        if custom:
            fields["custom_fields"] = custom
        if not fields:
            return
        try:
            self._put(ticket.id, fields, f"update issue {ticket.id}", retry=True)
        except SkippableError as refused:
            try:
                start = self._refused_start_date(ticket.id, fields.get("due_date"))
            except SkippableError:
                start = None
            if start is None:
                raise refused from None
            rest = {k: v for k, v in fields.items() if k != "due_date"}
            if rest:
                self._put(ticket.id, rest, f"update issue {ticket.id} without its due date", retry=True)
            reason = str(refused).split(": HTTP 422: ", 1)[-1]
            raise FieldRefused(f"{self.name}: issue {ticket.id}: Redmine refused the due date {fields['due_date']}"
                               f" ({reason}; the issue starts on {start.isoformat()})"
                               + ("; the other fields were written" if rest else ""), "due_date") from None

    def _refused_start_date(self, ticket_id: str, due_text: Any) -> date | None:
        """The issue's start date if it is after the due date we sent: the known cause of a 422.
        Read rather than matched in the message, which Redmine translates to the API user's language."""
        if not due_text:
            return None
        issue = self._get_about(f"/issues/{ticket_id}.json", f"read issue {ticket_id}", expect=("issue", dict))["issue"]
        try:
            start_date = optional_date(issue.get("start_date"), "start_date")
        except Malformed:
            return None
        return start_date if start_date is not None and date.fromisoformat(due_text) < start_date else None

    def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
        self._check_note_permissions(ticket, comment.public)
        # Never retried: a second attempt after a lost answer would add the note twice.
        self._put(ticket.id, {"notes": comment.body, "private_notes": not comment.public},
                  f"add a note to issue {ticket.id}", retry=False)

    def _check_note_permissions(self, ticket: Ticket, public: bool) -> None:
        """Redmine answers 204 yet drops ``notes`` without "Add notes", and drops ``private_notes``
        without "Set notes as private", publishing the note: an internal note must never reach
        the customer so, and a dropped reminder would be taken for sent."""
        if self.directory.me_admin() or ticket.project is None:
            return
        project = self.directory.by_identifier(ticket.project)
        permissions = self.directory.my_permissions(project.id) if project is not None else None
        if permissions is None:
            return  # a role's permissions not readable: Redmine answers as it does
        needed = [("add_issue_notes", "Add notes", "would drop the note")]
        if not public:
            needed.append(("set_notes_private", "Set notes as private", "would publish this internal note"))
        for permission, label, why in needed:
            if permission not in permissions:
                raise SkippableError(f"{self.name}: issue {ticket.id}: the API user lacks \"{label}\" in project"
                                     f" {ticket.project!r}: Redmine {why}; give its role that permission")

    def transition(self, ticket: Ticket, to_status: str) -> None:
        """Move the issue to `to_status` along the API user's workflow: directly when allowed, else
        through a status mapped to ``resolved``; each step read back (Redmine ignores a forbidden one).

        The status ids come from the remembered statuses. The issue shows its status and those
        allowed with their ids and names: when they contradict the remembered list (a status
        created, renamed or recreated since), the statuses are read again, once, before a step
        is chosen."""
        target = self.status_id(to_status, "closing_status")
        issue = self._read_allowed(ticket.id)
        if self._statuses_disagree(issue) and self.relearn("issue_statuses"):
            target = self.status_id(to_status, "closing_status")
        resolved = [sid for sid, name in self.statuses.items()
                    if name.casefold() in {r.casefold() for r in self.section.statuses.resolved}]
        taken: list[str] = []
        for _ in range(MAX_STEPS):
            current = str(issue["status"]["id"])
            if current == target:
                return
            allowed = issue.get("allowed_statuses")
            allowed_ids = [str(s["id"]) for s in allowed] if allowed is not None else None
            if allowed_ids is None or target in allowed_ids:  # before 5.0 Redmine lists none: try, read back
                step: str | None = target
            else:
                step = next((s for s in resolved if s in allowed_ids and s != current and s not in taken), None)
            if step is None:
                names = ", ".join(s["name"] for s in allowed or [] if str(s["id"]) != current) or "none"
                via = f" (it was moved through {', '.join(self.statuses[s] for s in taken)})" if taken else ""
                raise SkippableError(
                    f"{self.name}: issue {ticket.id}: no workflow path to {to_status!r} for the API user from"
                    f" {issue['status']['name']!r}{via}: the statuses it may set are {names}; allow"
                    f" {issue['status']['name']} -> {to_status}, or a step through a resolved status, for the"
                    f" API user's role and tracker {(issue.get('tracker') or {}).get('name')!r}"
                    " (Administration > Workflow)")
            self._put(ticket.id, {"status_id": int(step)}, f"move issue {ticket.id} to {self.statuses[step]}",
                      retry=True)
            issue = self._read_allowed(ticket.id)
            if str(issue["status"]["id"]) != step:
                raise SkippableError(f"{self.name}: issue {ticket.id}: Redmine kept status"
                                     f" {issue['status']['name']!r} instead of {self.statuses[step]!r}: its workflow"
                                     " does not let the API user make this change (Administration > Workflow)")
            taken.append(step)
        if str(issue["status"]["id"]) != target:
            raise SkippableError(f"{self.name}: issue {ticket.id}: still {issue['status']['name']!r} after"
                                 f" {MAX_STEPS} status changes towards {to_status!r}")

    def _statuses_disagree(self, issue: dict[str, Any]) -> bool:
        """Whether the issue names a status by an id the remembered statuses give another name."""
        known = self.statuses
        return any(known.get(s["id"]) != s["name"] for s in [issue["status"], *(issue["allowed_statuses"] or [])])

    def _read_allowed(self, ticket_id: str) -> dict[str, Any]:
        """The issue with its ``allowed_statuses``, checked: ``status`` is ``{id, name}``, and
        ``allowed_statuses`` absent (before 5.0) or a list of ``{id, name}``."""
        with self._about_issue(ticket_id):
            issue: dict[str, Any] = self._get_about(f"/issues/{ticket_id}.json", f"read issue {ticket_id}",
                                                    expect=("issue", dict), include="allowed_statuses")["issue"]
            try:
                def status(value: Any, what: str) -> dict[str, str]:
                    found = obj(value, what)
                    name = text(found.get("name"), f"{what} name")
                    if not found or name is None:
                        raise Malformed(f"{what} {short(value)} is not a status with an id and a name")
                    return {"id": need_id(found.get("id"), f"{what} id"), "name": name}

                allowed = issue.get("allowed_statuses")
                issue = {**issue, "status": status(issue.get("status"), "status"),
                         "tracker": obj(issue.get("tracker"), "tracker"),
                         "allowed_statuses": None if allowed is None else
                         [status(s, "an allowed status") for s in objects(allowed, "allowed_statuses")]}
            except Malformed as exc:
                raise MalformedAnswer(f"{self.name}: issue {ticket_id}: {exc}") from None
        return issue
