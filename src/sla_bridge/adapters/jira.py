"""The Jira adapter: Jira Cloud and Jira Data Center, REST API v2, through the ``jira`` library's session.

Where sla-bridge's fields live in Jira:
- severity: the issue's priority (default) or a custom field (``customfield_NNNNN``,
  a select list or a text field);
- due date: Jira's own ``duedate`` (a date without time);
- the exact deadline: a *Date Time Picker* custom field (``deadline_field``), optional:
  without it the adapter says ``tracks_due_at = False`` and the sync compares dates only;
- SLA labels: Jira's ``labels``, changed with ``update: {labels: [{add}, {remove}]}`` so a
  person's other labels are never touched;
- reminders and the closure notice: comments, public (customer-visible on Jira Service
  Management) or internal (``sd.public.comment`` property);
- closure: along the workflow to ``closing_status``: the transition whose target it is,
  or, when there is none (Jira Service Management goes Waiting for customer -> Resolved ->
  Closed), the shortest way through a ``resolved`` status (``jira_workflow.py``), with the
  resolution each screen asks for.

Who is who: every reporter and author is a ``Person`` with Jira's stable identities
(Cloud: ``accountId``, ``accountType``; Data Center: ``key`` and the username) and, when
the configuration names groups, the user's groups (looked up once per user, cached). The
``agents`` patterns and sla-bridge's own API user are agents; a Cloud ``accountType:
customer`` is always the customer, an ``app`` (automation) not named an agent is the
system; anyone else is the customer. A display name is shown, never matched.

What the ``jira`` library (pycontribs/jira 3.10) does that we keep out of the way:
- ``JIRA(...)`` calls ``/serverInfo`` unless ``get_server_info=False``: we build it with
  that flag and detect the deployment ourselves, lazily (the constructor sends nothing:
  ``check-config`` builds adapters to validate their options and secrets);
- its ``ResilientSession`` retries every method, POSTs included (a double-posted
  reminder), never retries a 503 without Retry-After, doubles Retry-After and caps the
  wait at 60 s with random jitter, sleeping in place: we set ``max_retries=0`` (its loop
  then sends once and never sleeps) and retry ourselves: reads and idempotent writes
  freely, a POST only after a 429 (see ``_guarded_post``);
- ``search_issues`` goes to ``/search/jql`` only when it knows it talks to Cloud, and
  ``enhanced_search_issues`` returns None on Data Center: we call each deployment's
  search endpoint directly (Cloud removed ``/search``: 410 Gone);
- ``issue.update()`` sends a PUT then a GET: we send one raw PUT (``notifyUsers=false``
  when allowed);
- it has no method for the paged changelog (``/issue/{key}/changelog``, Cloud only).

History comes from the changelog (status, priority or the severity field, labels, the
fields named in ``[trackers.<name>.fields]``) and the comments (author role, public or
internal). ``check_connection`` (``jira_checks.py``) verifies, read-only, what the
configuration names.

What is read once is remembered between runs through ``adapter.facts`` (the store's,
given by the sync): the deployment and the API user for a day, a refused
``notifyUsers=false`` for a day, configured custom fields and users' groups for an hour
(``jira_lookups``). Reading an issue costs one request (two on Data Center when it has
comments: their properties), plus a group lookup per user not met within the hour.

The adapter is built in layers, one module each, every layer a subclass of the one
before: ``jira_transport`` (state, session, one request), ``jira_lookups`` (what is
remembered), ``jira_search`` (the change query), ``jira_read`` (one issue),
``jira_write`` (fields, comments, transitions), then ``JiraAdapter`` here. Options are
in ``jira_options``, JSON values in ``jira_values``, the workflow in ``jira_workflow``.

Any answer may be wrong, and none may stop more than it concerns:
- the credentials are registered with ``secrets`` as soon as they are revealed (the token,
  and the base64 ``email:token`` Basic credential), every message quoting Jira is scrubbed
  before it is cut, and the text of a requests exception is never quoted (its InvalidHeader
  quotes the header's value);
- an answer about one issue that is not the documented JSON (a body cut short, an HTML page,
  a list, a field of the wrong type) skips that issue with its key and what was wrong; the
  "check options.url" message is only for a site whose first answer is not JSON;
- a change-query row whose ``updated`` cannot be read is yielded with its problem, and a
  paged read that brings nothing new ``MAX_IDLE_PAGES`` times in a row is given up (a search
  ends the pass with a TransientError; a changelog or comments page skips that issue);
- only comments written by sla-bridge's own account carry markers (``Comment.own``,
  ``_has_marker``), and comments are kept within ``max_comment_length`` as Jira counts it;
- every message names the tracker once, at its start (``_text``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..hookspecs import hookimpl
from .base import Check
from .jira_options import JiraOptions
from .jira_search import MAX_IDLE_PAGES
from .jira_transport import API, MAX_COMMENT_LENGTH
from .jira_values import jira_time, jql_string, parse_time
from .jira_write import JiraWriter

if TYPE_CHECKING:
    from ..plugins import AdapterRegistry

__all__ = ["API", "MAX_COMMENT_LENGTH", "MAX_IDLE_PAGES", "JiraAdapter", "JiraOptions", "jira_time", "jql_string",
           "parse_time"]


class JiraAdapter(JiraWriter):
    """A Jira Cloud site or Data Center instance (see the module's description)."""

    def check_connection(self) -> list[Check]:
        """Read-only: authenticate, then look up everything the configuration names (``jira_checks``)."""
        from .jira_checks import check_connection

        return check_connection(self)


@hookimpl
def sla_bridge_register_adapters(registry: "AdapterRegistry") -> None:
    registry.add("jira", JiraAdapter)
