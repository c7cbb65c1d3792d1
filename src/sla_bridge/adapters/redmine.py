"""The Redmine adapter (Redmine 5 REST API, JSON, ``requests``).

Where sla-bridge's fields live in Redmine:
- severity: the issue's priority (default) or a custom field;
- due date: Redmine's own ``due_date`` (a date); Redmine refuses one before the
  issue's start date (422), and then the other fields are still written;
- SLA labels: a multi-value *list* custom field (its possible values must hold
  every SLA label of the config);
- the exact deadline: a *string* custom field holding an ISO 8601 instant;
- reminders and the closure notice: journal notes (public or private);
- closure: ``status_id``. Redmine ignores a status change its workflow forbids and
  still answers 204, so the next step is chosen from the issue's
  ``allowed_statuses`` (Redmine 5.0+): the closing status directly, else through a
  *resolved* status; every step is read back.

People are looked up by id (``redmine_users``): the reporter and each journal's
author get their login, e-mail, groups and project roles, and the configured
agents (identity patterns) say who is support staff; sla-bridge's own API user is
always an agent. Fields named in ``[trackers.<name>.fields]`` (category, tracker,
custom fields) are read into ``Ticket.fields``, their journal changes into
``FieldChange`` events. ``check_connection`` lives in ``redmine_checks``.

Hostile or broken answers (``redmine_parse``): an answer about one issue (the issue,
a user it names) that is not JSON (truncated, an HTML page) or not shaped like
Redmine's is that issue's ``SkippableError``, naming it and what was wrong; only the
pass's first request suggests checking ``options.url``. A change-query row with an
unreadable ``updated_on`` is yielded with its ``problem``. Paging that makes no
progress (a server ignoring the bound or the offset, stamps moving as they are read)
ends the pass within a few requests (``keyset_pages`` and ``Progress``). The API key is in no message: an
error body echoing it is masked, a ``requests`` error is named by its type only.

What is looked up once is remembered through ``adapter.facts`` (the store's, across
runs, given by the sync): the API user's id a day; its memberships, statuses,
priorities, trackers, custom field names, projects, each user, each project's group
members and each role's permissions an hour; a lookup missing something is read again
at once, once per process. Reading an issue then costs one request.

Modules, each layer a subclass of the one before: ``redmine_client`` (options, state,
HTTP, lookups), ``redmine_read`` (one issue), ``redmine_write`` (fields, notes, the
closing path), then ``RedmineAdapter`` here (the change query); ``redmine_users``,
``redmine_parse`` and ``redmine_checks`` beside them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterator

from ..hookspecs import hookimpl
from .base import ChangedTicket, Check, PermanentError, SkippableError, TransientError, keyset_pages
from .redmine_client import PAGE_LIMIT, FieldSource, RedmineOptions
from .redmine_parse import Progress, issue_rows
from .redmine_read import parse_reported
from .redmine_write import MAX_STEPS, RedmineWriter

if TYPE_CHECKING:
    from ..plugins import AdapterRegistry

__all__ = ["MAX_STEPS", "PAGE_LIMIT", "FieldSource", "RedmineAdapter", "RedmineOptions", "parse_reported"]

GROUP_SPAN = timedelta(seconds=2)  # a group read by id covers `> bound - 1 s` to `bound + 1 s`: resume past it


def _redmine_time(t: datetime) -> str:
    """Redmine's filter wants UTC with ``Z`` (``+00:00`` is rejected)."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class RedmineAdapter(RedmineWriter):
    adapter_type = "redmine"
    stamp_precision = timedelta(seconds=1)  # `updated_on` keeps whole seconds
    # Redmine 5 sets no limit on a note: ``Journal`` validates no length, and ``journals.notes``
    # is a ``text`` column (SQLite, PostgreSQL: unbounded; MySQL: LONGTEXT, from the
    # 20161010081600 migration's 16 MB, which Rails maps to LONGTEXT). Nothing to cut to.
    max_comment_length: int | None = None

    # --- reading ---------------------------------------------------------------------

    def changed_since(self, cursor: datetime | None) -> Iterator[ChangedTicket]:
        """Issues updated at or after `cursor`, oldest first (keyset paging, see base).

        A row whose ``updated_on`` cannot be read is yielded with ``updated=None`` and its
        ``problem``. Paging that makes no progress ends with a ``TransientError`` naming the
        tracker (``Progress``)."""
        self._answered = False  # the pass begins: its first request is the next one
        progress = Progress(self.name)
        try:
            yield from keyset_pages(lambda bound, offset: self._changed_page(bound, offset, progress), cursor,
                                    self.options.page_size, resolution=timedelta(seconds=1),
                                    group=lambda bound, after: self._changed_page(bound, 0, progress, after,
                                                                                  group=True),
                                    group_span=GROUP_SPAN)
        except SkippableError as exc:  # a refused query (403, 404, 422) concerns every issue
            raise PermanentError(f"{self.name}: cannot list changed issues: {self._bare(exc)}: check"
                                 f" trackers.{self.name}.options.url ({self.http.shown_url}) and options.projects,"
                                 " that the REST API is enabled (Administration > Settings > API) and that the"
                                 " API user may view the issues") from None
        except TransientError as exc:
            if str(exc).startswith(f"{self.name}: "):
                raise
            raise TransientError(f"{self.name}: {exc}", exc.retry_after) from None

    def _changed_page(self, bound: datetime | None, offset: int, progress: Progress, after: str | None = None, *,
                      group: bool = False) -> list[ChangedTicket]:
        """One page of the change query; with `group`, the issues stamped at `bound` by id (see base)."""
        size = self.options.page_size
        params: dict[str, Any] = {"sort": "updated_on,id", "limit": size, "offset": offset}
        # Redmine reads `>= t` as `updated_on > t - 1 s` and `><a|b` as `> a - 1 s and <= b`, on
        # stamps it keeps finer than the seconds it shows: the group of issues shown at `bound`
        # is `><bound|bound + 1 s`, by id; the query resumes at `>= bound + 2 s` (GROUP_SPAN).
        filters: list[tuple[str, str, list[str]]] = []
        if group:
            assert bound is not None
            params["sort"] = "id"
            filters.append(("updated_on", "><", [_redmine_time(bound), _redmine_time(bound + timedelta(seconds=1))]))
            if after is not None:
                filters.append(("issue_id", ">=", [str(int(after) + 1)]))
        elif bound is not None:
            filters.append(("updated_on", ">=", [_redmine_time(bound)]))
        if not self.options.projects:
            params["status_id"] = "*"
            for name, op, values in filters:  # the short form: `updated_on=><a|b`, `issue_id=>=n`
                params[name] = op + "|".join(values)
        else:
            # `project_id=a,b` answers 404 (it names one project, and brings its subprojects):
            # several projects need the generic filter syntax, which takes project ids.
            params.update({"set_filter": 1, "f[]": ["status_id", "project_id"], "op[status_id]": "*",
                           "op[project_id]": "=", "v[project_id][]": self._project_ids()})
            for name, op, values in filters:
                params["f[]"].append(name)
                params.update({f"op[{name}]": op, f"v[{name}][]": values})
        first = not self._answered
        where = f"offset {offset}" + (f", updated since {_redmine_time(bound)}" if bound is not None else "")
        data = self._get("/issues.json", "list changed issues", expect=("issues", list), **params)
        rows, problems = issue_rows(data)
        if problems:
            problem = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
            if first:
                raise PermanentError(f"{self.name}: cannot list changed issues: {problem} ({where}): is"
                                     f" trackers.{self.name}.options.url ({self.http.shown_url}) a Redmine 5?")
            raise TransientError(f"{self.name}: the change query's answer ({where}) is not a list of issues:"
                                 f" {problem}; the next pass reads it again")
        limit, total = data.get("limit"), data.get("total_count")
        if (isinstance(limit, int) and not isinstance(limit, bool) and 0 < limit < size and len(rows) >= limit
                and isinstance(total, int) and total > offset + len(rows)):
            # Taken for the last page, it would end the list here and miss every issue after it.
            raise PermanentError(f"{self.name}: Redmine answered {len(rows)} issues of {total} although {size}"
                                 f" were asked ({where}): something in front of it caps pages at {limit}; set"
                                 f" trackers.{self.name}.options.page_size = {limit}")
        progress.page(bound, rows, by_id=group)
        return rows


    # --- checks ----------------------------------------------------------------------

    def check_connection(self) -> list[Check]:
        """Read-only: what the configuration names, found or not (see ``redmine_checks``)."""
        from .redmine_checks import run_checks

        return run_checks(self)


@hookimpl
def sla_bridge_register_adapters(registry: "AdapterRegistry") -> None:
    registry.add("redmine", RedmineAdapter)
