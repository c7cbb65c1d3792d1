"""The Zammad adapter (Zammad 5/6 REST API, JSON, ``requests``).

Where sla-bridge's fields live in Zammad:
- severity: the ticket's priority (``"3 high"``, default) or a ticket object
  attribute (its stored value, e.g. the key of a select);
- the deadline: a *datetime* ticket object attribute (``sla_due_at``) that the
  admin creates; Zammad has no separate due date, so ``Ticket.due_date`` is read
  back as the calendar-zone date of that instant, which is what the engine wants;
- SLA labels: ticket tags, one ``POST /tags/add`` or ``DELETE /tags/remove`` per
  tag (Zammad has no bulk tag call, and ``PUT /tickets/{id}`` ignores ``tags``);
  tags without the SLA prefix are never touched;
- reminders and the closure notice: articles, an ``email`` to the customer or a
  public ``note`` (``reminder_article``), never retried;
- closure: the ticket's ``state``, read back afterwards (a Core Workflow can refuse it).

History comes from ``GET /ticket_history/{id}`` (state, priority, attribute and tag
changes, each with ``created_by_id``) and the articles. Who did something is a
``Person`` read from Zammad's user (``zammad_identity``): the configured ``agents``
patterns and sla-bridge's own user are agents, anyone else is the customer
(``base.person_role``). An article's ``sender`` is used for one thing only: a
``System`` article (a trigger's, an auto-reply) is the system's. An article whose
sender says ``Agent`` but whose author matches no ``agents`` pattern counts as the
customer's, as the configuration says, and is logged once per user.

``[trackers.<name>.fields]`` names ticket attributes read into ``Ticket.fields``
(select keys, each value of a multiselect, tree paths ``a::b``), with their changes
from the history as ``FieldChange`` events; ``reported_at`` names a Date & Time
attribute read into ``Ticket.reported_at``.

Changed tickets come from ``GET /tickets/search`` with a *condition* on
``updated_at`` and no query text: Zammad then searches its database, with or
without Elasticsearch, and the database is never behind (an Elasticsearch index
is filled asynchronously). ``search = "elasticsearch"`` sends the equivalent
query string instead (Zammad without Elasticsearch answers it with a plain text
search: nothing); ``search = "list"`` pages through ``GET /tickets`` (every
ticket, by id) and filters here, for servers where neither works.

Reading a ticket costs four GETs (ticket, tags, history, articles), whatever it
holds: every tag comes in one ``GET /tags?object=Ticket&o_id=`` (Zammad's documented
call; writing them is one call per tag, Zammad has no bulk tag call), plus one per
user not remembered within ``user_cache_seconds`` (``zammad_identity``). The API user
(``/users/me``) is remembered a day and each user for ``user_cache_seconds``, through
``adapter.facts`` (the store's, across runs, given by the sync). Zammad's
``GET /tickets/{id}?all=true`` (the web app's call, not in the API docs) returns
tags and articles too, but as ``assets`` keyed by id, articles with ``sender_id``
and ``type_id`` only, and it computes the edit screen's Core Workflow on every
call; the history still needs its own call. Two calls instead of four are not
worth depending on an undocumented shape.

Zammad answers 500 to any exception raised while handling a request, and hides
the reason from non-admin tokens (``Error ID …: Please contact your
administrator``). A 500 on a call about one ticket (a group without an email
address when mailing a reminder, a failing trigger or Core Workflow) is that
ticket's problem: it is reported and the ticket skipped, instead of ending the
pass for every ticket behind it.

Hostile or broken answers (``zammad_parse``): an answer about one ticket that is
not JSON (truncated, an HTML page) or not shaped like Zammad's is that ticket's
``SkippableError``, naming it and what was wrong; only the pass's first request
suggests checking ``options.url`` (a login page or a proxy answering instead of
Zammad). A change-query row with an unreadable ``updated_at`` is yielded with its
``problem``. Paging that makes no progress (a server ignoring the bound, the
offset or the page) ends the pass within a few requests (``Progress``).

The token is registered with ``secrets`` as soon as it is read, with the header
carrying it; error answers are scrubbed of it before any message quotes them (an
error page or a proxy may echo the request), and a failure of ``requests`` other
than a timeout or a refused connection is named by its type only.

Articles are sent as ``text/plain``, stored as sent (no HTML conversion):
``Ticket::Article#check_body`` refuses a body longer than 1,500,000 characters
(``body.length``) with a 422, so ``max_comment_length`` tells the sync to cut
reminders to that.

Modules, each layer a subclass of the one before: ``zammad_client`` (state, HTTP, the
API user), ``zammad_read`` (the change query, one ticket), then ``ZammadAdapter`` here
(writing); ``zammad_options``, ``zammad_parse``, ``zammad_identity`` and ``zammad_check``
beside them.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..actions import PostComment, SetDueDate, SetLabels
from ..hookspecs import hookimpl
from ..model import Ticket
from .base import Check, PermanentError, SkippableError
from .zammad_check import check_connection
from .zammad_options import SEARCH_LIMIT, ZammadOptions
from .zammad_parse import parse_id, short, type_name
from .zammad_read import ZammadReader, _login

if TYPE_CHECKING:
    from ..plugins import AdapterRegistry

__all__ = ["SEARCH_LIMIT", "ZammadAdapter", "ZammadOptions"]

log = logging.getLogger(__name__)

ARTICLE_BODY_LIMIT = 1_500_000  # Ticket::Article#check_body: characters, else 422 "body of article is too large"
_NO_GROUP_ADDRESS = ("; for an email article the usual cause is a group without an email address (Admin >"
                     " Channels > Email), or use reminder_article = \"note\"")


def _deadline_value(t: datetime | None) -> str | None:
    """Whole seconds: a database without fractional seconds could round up to the next minute."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else None


class ZammadAdapter(ZammadReader):
    adapter_type = "zammad"
    tracks_due_at = True  # the datetime attribute holds the exact deadline
    max_comment_length = ARTICLE_BODY_LIMIT  # sent as text/plain, stored as is: no HTML escaping to allow for

    # --- writing ---------------------------------------------------------------------

    def apply_fields(self, ticket: Ticket, due: SetDueDate | None, labels: SetLabels | None) -> None:
        """The deadline in one PUT; SLA tags one call each. Every call sets a value: safe to retry."""
        with self._one_ticket(ticket.id):
            if due is not None:
                self._set_deadline(ticket.id, due.due_at)
            if labels is not None:
                for tag in sorted(labels.add):
                    self._tag("POST", "/tags/add", ticket.id, tag, f"add tag {tag!r} to ticket {ticket.id}")
                for tag in sorted(labels.remove):
                    if tag.startswith(self.label_prefix):  # only SLA tags are ever removed
                        self._tag("DELETE", "/tags/remove", ticket.id, tag,
                                  f"remove tag {tag!r} from ticket {ticket.id}")

    def _set_deadline(self, ticket_id: str, due_at: datetime | None) -> None:
        attribute = self.options.due_attribute
        try:
            self._call("PUT", f"/tickets/{ticket_id}", f"set {attribute} of ticket {ticket_id}", retry=True,
                       json={attribute: _deadline_value(due_at)})
        except SkippableError as exc:
            if "past dates" not in str(exc) and "future dates" not in str(exc):
                raise
            raise SkippableError(f"{exc}; edit the attribute in Admin > Objects to allow both past and future"
                                 " dates") from None

    def _tag(self, method: str, path: str, ticket_id: str, tag: str, what: str) -> None:
        body = {"item": tag, "object": "Ticket", "o_id": int(ticket_id)}
        try:
            self._call(method, path, what, retry=True, json=body)
        except SkippableError as exc:
            if "HTTP 403" not in str(exc):
                raise
            # Zammad answers the same bare 403 for both causes.
            new_tag = (f" either agents may not create new tags (create {tag!r} once in Admin > Tags, or allow new"
                       " tags), or" if method == "POST" else "")
            raise SkippableError(f"{exc}:{new_tag} the token's user lacks change access to this ticket's"
                                 " group") from None

    def post_comment(self, ticket: Ticket, comment: PostComment) -> None:
        """An article, sent once: a retried POST after a lost answer would mail the customer twice."""
        email = comment.public and self.options.reminder_article == "email"
        article: dict[str, Any] = {"ticket_id": int(ticket.id), "subject": ticket.title, "body": comment.body,
                                   "content_type": "text/plain", "type": "email" if email else "note",
                                   "sender": "Agent", "internal": not comment.public}
        with self._about(ticket.id), self._one_ticket(ticket.id, _NO_GROUP_ADDRESS if email else ""):
            if email:
                article["to"] = self._customer_email(ticket.id)
            self._call("POST", "/ticket_articles", f"add a {article['type']} article to ticket {ticket.id}",
                       retry=False, json=article)

    def _customer_email(self, ticket_id: str) -> str:
        customer_id = self._customer_of.get(ticket_id)
        if customer_id is None:
            raw = self._get(f"/tickets/{ticket_id}", f"read ticket {ticket_id}")
            customer_id = parse_id(raw.get("customer_id")) if isinstance(raw, dict) else None
            if customer_id is None:
                raise SkippableError(f"{self.name}: ticket {ticket_id}: Zammad's answer names no customer"
                                     f" ({short(raw)}), so the reminder cannot be mailed")
        user = self._get(f"/users/{customer_id}", f"read the customer of ticket {ticket_id}")
        if not isinstance(user, dict):
            raise SkippableError(f"{self.name}: ticket {ticket_id}: the customer (user {customer_id}) is"
                                 f" {type_name(user)}, not a user, so the reminder cannot be mailed")
        email = user.get("email")
        if not isinstance(email, str) or not email.strip():
            raise SkippableError(f"{self.name}: ticket {ticket_id}: the customer {_login(user.get('login'))!r} has no"
                                 " email address, so the reminder cannot be mailed (add one, or set"
                                 " reminder_article = \"note\")")
        return email

    def transition(self, ticket: Ticket, to_status: str) -> None:
        """The state, read back from the PUT's own answer: the ticket as saved (Core Workflows included)."""
        what = f"move ticket {ticket.id} to {to_status}"
        with self._about(ticket.id), self._one_ticket(ticket.id):
            try:
                raw = self._json(self._call("PUT", f"/tickets/{ticket.id}", what, retry=True,
                                            params={"expand": "true"}, json={"state": to_status}), what)
            except SkippableError as exc:
                if "No lookup value found" in str(exc):
                    raise PermanentError(f"{self.name}: Zammad has no state named {to_status!r}"
                                         f" (trackers.{self.name}.closing_status)") from None
                raise
        if not isinstance(raw, dict) or not isinstance(raw.get("state"), str):
            raise SkippableError(f"{self.name}: ticket {ticket.id}: Zammad answered the state change with"
                                 f" {type_name(raw)} ({short(raw)}), not the ticket: it is read again next pass")
        shown = raw["state"]
        if shown.casefold() != to_status.casefold():
            raise SkippableError(f"{self.name}: ticket {ticket.id}: Zammad kept state {shown!r} instead of"
                                 f" {to_status!r}: a Core Workflow or the token's permissions refuse this change")

    # --- checking ---------------------------------------------------------------------

    def check_connection(self) -> list[Check]:
        """Read-only: authenticate, then look up what the configuration names (see ``zammad_check``)."""
        return check_connection(self)


@hookimpl
def sla_bridge_register_adapters(registry: AdapterRegistry) -> None:
    registry.add("zammad", ZammadAdapter)
