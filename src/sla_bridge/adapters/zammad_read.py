"""The Zammad adapter reading: the change query, and one ticket with its history as a ``Ticket``.

Changed tickets come from ``GET /tickets/search`` with a *condition* on ``updated_at``
(the database, never behind), or its query string (``search = "elasticsearch"``), or every
ticket by id (``search = "list"``). One ticket costs four GETs whatever it holds: the
ticket (``expand=true``), its tags (``GET /tags?object=Ticket&o_id=``, every tag in one
answer), its history and its articles; plus one per user not remembered
(``zammad_identity``). An answer not shaped like Zammad's skips that ticket only.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from ..identity import Person
from ..model import Comment, Event, FieldChange, LabelChange, Role, SeverityChange, StatusChange, Ticket
from .base import (
    ChangedTicket, OutOfScope, PermanentError, SkippableError, TransientError, keyset_pages, person_role,
)
from .zammad_client import ZammadClient
from .zammad_identity import SYSTEM_USER_ID
from .zammad_options import LIST_LIMIT, REPORTED_AT
from .zammad_parse import (
    FAR_FUTURE, Malformed, MalformedAnswer, Progress, Row, is_date_only, optional_time, parse_id, parse_time,
    search_rows, short, text, type_name,
)

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MALFORMED = (Malformed, KeyError, TypeError, ValueError, AttributeError, RecursionError, OverflowError)


def _search_time(t: datetime) -> str:
    """UTC to the millisecond, as Zammad writes ``updated_at``."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(value: Any) -> str | None:
    """A ticket attribute shown as text (a select's key, a number); a list or object as its JSON."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def _values(value: Any) -> list[str]:
    """A ticket attribute's value(s) as text: a select's key, each value of a multiselect,
    a tree select's path (``a::b``), ``true``/``false``, a number."""
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [v for item in value for v in _values(item)]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [str(value)]


def _history_values(value: Any) -> tuple[bool, list[str]]:
    """A history ``value_from``/``value_to``: Zammad stores ``value.to_s``, so a multiselect's
    array reads like Ruby's ``["a", "b"]``. Returns (several values?, the values)."""
    if value is None or value == "":
        return False, []
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            items = json.loads(value)
        except (ValueError, RecursionError):
            return False, [value]
        if isinstance(items, list):
            return True, [str(i) for i in items if i not in (None, "")]
    return False, [str(value)]


def _field_changes(at: datetime, name: str, old: Any, new: Any, by: str | None) -> list[FieldChange]:
    """One change of a tracked attribute; a multiselect gives one event per value added or removed."""
    old_many, olds = _history_values(old)
    new_many, news = _history_values(new)
    if old_many or new_many:
        return ([FieldChange(at, name, None, v, by) for v in news if v not in olds]
                + [FieldChange(at, name, v, None, by) for v in olds if v not in news])
    return [FieldChange(at, name, olds[0] if olds else None, news[0] if news else None, by)]


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Malformed(f"{what} is {type_name(value)} ({short(value)}), not an object")
    return value


def _member(value: Any, key: str, what: str) -> Any:
    """``value[key]`` of an answer that must be an object holding `key` (``{"tags": [...]}``)."""
    if key not in _object(value, what):
        raise Malformed(f"{what} has no {key!r} ({short(value)})")
    return value[key]


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{what} is {type_name(value)} ({short(value)}), not a list")
    return value


def _login(value: Any) -> str | None:
    """A login or name the JSON gives as text (never a list or an object)."""
    return value if isinstance(value, str) and value else None


class ZammadReader(ZammadClient):
    """The change query and one ticket."""

    # --- reading ---------------------------------------------------------------------

    def changed_since(self, cursor: datetime | None) -> Iterator[ChangedTicket]:
        """Tickets updated at or after ``cursor``, oldest first (keyset paging, see base).

        A row whose ``updated_at`` cannot be read is yielded with ``updated=None`` and its
        ``problem``. Paging that makes no progress ends with a ``TransientError`` (``Progress``).
        """
        self._answered, self._reading = False, None  # the pass begins: its first request is this one
        progress = Progress(self.name, self.options.search)
        try:
            # keyset_pages yields the very rows _search_page returned: Row, with their group.
            rows = cast(Iterator[Row], self._listed(cursor, progress) if self.options.search == "list"
                        else keyset_pages(lambda bound, offset: self._search_page(bound, offset, progress), cursor,
                                          self.options.page_size, resolution=timedelta(milliseconds=1)))
            for row in rows:
                if self._in_scope(row.group) or (row.problem is not None and row.group is None):
                    yield ChangedTicket(row.id, row.updated, row.problem)
        except SkippableError as exc:  # a refused search (403, 422) concerns every ticket
            raise PermanentError(f"{self.name}: cannot list changed tickets: {self._bare(exc)}; the token's user"
                                 " needs the ticket.agent permission and read access to the groups") from None
        except TransientError as exc:
            if str(exc).startswith(f"{self.name}: "):
                raise
            raise TransientError(f"{self.name}: {exc}", exc.retry_after) from None

    def _search_page(self, bound: datetime | None, offset: int, progress: Progress) -> list[Row]:
        size = self.options.page_size
        since = _search_time(bound or EPOCH)
        page = offset // size + 1
        params: dict[str, Any] = {"sort_by": "updated_at,id", "order_by": "asc,asc", "expand": "true",
                                  "page": page, "per_page": size}
        if self.options.search == "elasticsearch":
            params["query"] = f"updated_at:[{since} TO {FAR_FUTURE}]"
        else:
            params["condition[ticket.updated_at][operator]"] = "after (absolute)"  # SQL ">="
            params["condition[ticket.updated_at][value]"] = since
        first = not self._answered
        rows = self._rows(self._get("/tickets/search", "search changed tickets", **params), first,
                          f"updated since {since}, page {page}")
        progress.page((since, page), rows, len(rows) >= size, f"updated since {since}, page {page}")
        return rows

    def _listed(self, cursor: datetime | None, progress: Progress) -> Iterator[Row]:
        """``GET /tickets`` has no filter and no sort but the id: read all, keep the changed."""
        size, page, rows = min(self.options.page_size, LIST_LIMIT), 1, []
        while True:
            first = not self._answered
            batch = self._rows(self._get("/tickets", "list tickets", expand="true", page=page, per_page=size),
                               first, f"page {page}")
            progress.page(page, batch, len(batch) >= size, f"page {page}")
            rows += [r for r in batch if r.updated is None or cursor is None or r.updated >= cursor]
            if len(batch) < size:
                break
            page += 1
        yield from sorted(rows, key=lambda r: (r.updated or EPOCH, int(r.id)))

    def _rows(self, answer: Any, first: bool, where: str) -> list[Row]:
        """One page of the change query; an answer that holds what cannot be a ticket ends the pass."""
        rows, problems = search_rows(answer)
        if not problems:
            return rows
        problem = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
        if first:
            raise PermanentError(f"{self.name}: cannot list changed tickets: {problem} ({where}): is"
                                 f" trackers.{self.name}.options.url ({self.options.url}) a Zammad 5 or 6?")
        raise TransientError(f"{self.name}: the change query's answer ({where}) is not a list of tickets: {problem};"
                             " the next pass reads it again")

    def _in_scope(self, group: Any) -> bool:
        return not self.groups or (isinstance(group, str) and group.casefold() in self.groups)

    def fetch(self, ticket_id: str) -> Ticket:
        if parse_id(ticket_id) != ticket_id:  # it goes into URLs
            raise SkippableError(f"{self.name}: {ticket_id!r} is not a Zammad ticket id")
        with self._about(ticket_id):
            try:
                with self._one_ticket(ticket_id):
                    raw = self._get(f"/tickets/{ticket_id}", f"read ticket {ticket_id}", expand="true")
                    if isinstance(raw, dict) and not self._in_scope(raw.get("group")):
                        raise OutOfScope(f"{self.name}: ticket {ticket_id} is in group {short(raw.get('group'))},"
                                         f" outside trackers.{self.name}.options.groups: left alone")
                    tags = self._get("/tags", f"read the tags of ticket {ticket_id}", object="Ticket", o_id=ticket_id)
                    history = self._get(f"/ticket_history/{ticket_id}", f"read the history of ticket {ticket_id}")
                    articles = self._get(f"/ticket_articles/by_ticket/{ticket_id}",
                                         f"read the articles of ticket {ticket_id}")
                ticket = self.parse(ticket_id, raw, tags, history, articles)
            except MalformedAnswer as exc:
                text = self._bare(exc)
                where = "" if f"ticket {ticket_id}" in text else f"ticket {ticket_id}: "
                raise MalformedAnswer(f"{self.name}: {where}{text}; skipped until the next pass") from None
        customer = parse_id(raw.get("customer_id"))
        if customer is not None:
            self._customer_of[ticket.id] = customer
        return ticket

    def parse(self, ticket_id: str, raw: Any, tags: Any, history: Any, articles: Any) -> Ticket:
        """Zammad's four answers about one ticket (``GET /tickets/{id}?expand=true``, ``/tags``,
        ``/ticket_history/{id}``, ``/ticket_articles/by_ticket/{id}``) as a ``Ticket``.

        Anything malformed is this ticket's ``SkippableError``, naming it and what was
        wrong. A configured attribute missing from a well-formed ticket, or holding a date
        without a time, is the admin's to fix for every ticket: ``PermanentError``.
        """
        try:
            return self._parse(ticket_id, raw, tags, history, articles)
        except _MALFORMED as exc:
            detail = str(exc) if isinstance(exc, Malformed) else f"{type(exc).__name__}: {short(str(exc))}"
            raise SkippableError(f"{self.name}: ticket {ticket_id}: unexpected JSON ({detail})") from None

    def _parse(self, ticket_id: str, raw: Any, tags: Any, history: Any, articles: Any) -> Ticket:
        raw = _object(raw, "the ticket")
        if parse_id(raw.get("id")) != ticket_id:
            raise Malformed(f"the ticket's id is {short(raw.get('id'))}, not {ticket_id}")
        created = parse_time(raw.get("created_at"), "the ticket's created_at")
        updated = optional_time(raw.get("updated_at"), "the ticket's updated_at")
        status = text(raw.get("state"), "the ticket's state")
        if status is None:
            raise Malformed("the ticket has no state")
        tag_list = _list(_member(tags, "tags", "the tags"), "the tags")
        if not all(isinstance(t, str) for t in tag_list):
            raise Malformed(f"the tags are not texts ({short(tag_list)})")
        entries = _list(_member(history, "history", "the history"), "the history")
        article_list = _list(articles, "the articles")
        due_at = self._due_at(raw)
        logins = self._known_logins(raw, history, article_list)
        events = self._history_events(ticket_id, entries, logins)
        events += [self._comment(n, a, logins) for n, a in enumerate(article_list, 1)]
        option = self.options
        return Ticket(
            tracker=self.name, id=ticket_id, title=_text(raw.get("title")) or "",
            reporter=self.directory.person(raw.get("customer_id"), _login(raw.get("customer"))),
            created=created, status=status,
            severity=_text(raw.get(option.severity_field)),
            labels=frozenset(tag_list),
            due_date=due_at.astimezone(self.zone).date() if due_at else None, due_at=due_at,
            fix_version=_text(raw.get(option.fix_version_attribute)) if option.fix_version_attribute else None,
            type=_text(raw.get(option.type_attribute)) if option.type_attribute else None,
            updated=updated,
            events=tuple(events),
            project=_text(raw.get("group")),
            fields=self._fields(raw),
            reported_at=self._reported_at(raw),
        )

    def _attribute(self, raw: dict[str, Any], attribute: str, key: str) -> Any:
        """A configured attribute of the ticket: its absence is the admin's to fix, for every ticket."""
        if attribute not in raw:
            raise PermanentError(f"{self.name}: Zammad tickets have no attribute {attribute!r}"
                                 f" (trackers.{self.name}.{key}): create it as a ticket attribute, then update"
                                 " the database and restart Zammad (see docs/zammad.md), or fix the name")
        return raw[attribute]

    def _due_at(self, raw: dict[str, Any]) -> datetime | None:
        """The deadline attribute; its absence or a date-only value is the admin's to fix, for every ticket."""
        attribute = self.options.due_attribute
        if attribute not in raw:
            raise PermanentError(f"{self.name}: Zammad tickets have no attribute {attribute!r}"
                                 f" (trackers.{self.name}.options.due_attribute): create it as a Date & Time"
                                 " ticket attribute allowing past and future dates, then update the database"
                                 " and restart Zammad (see docs/zammad.md)")
        if is_date_only(raw[attribute]):
            raise PermanentError(f"{self.name}: the attribute {attribute!r} holds {raw[attribute]!r}, a date"
                                 f" without a time (trackers.{self.name}.options.due_attribute): it must be a"
                                 " Date & Time attribute, not a Date")
        return optional_time(raw[attribute], f"the attribute {attribute!r}", bounded=False)

    def _fields(self, raw: dict[str, Any]) -> frozenset[tuple[str, str]]:
        pairs = set()
        for name, attribute in self.field_attributes.items():
            for value in _values(self._attribute(raw, attribute, f"fields.{name}")):
                pairs.add((name, value))
        return frozenset(pairs)

    def _reported_at(self, raw: dict[str, Any]) -> datetime | None:
        attribute = self.reported_at_attribute
        if attribute is None:
            return None
        value = self._attribute(raw, attribute, f"fields.{REPORTED_AT}")
        if is_date_only(value):
            raise PermanentError(f"{self.name}: the attribute {attribute!r} holds {value!r}, a date without a time"
                                 f" (trackers.{self.name}.fields.{REPORTED_AT}): it must be a Date & Time attribute")
        return optional_time(value, f"the attribute {attribute!r}", bounded=False)

    @staticmethod
    def _known_logins(raw: dict[str, Any], history: dict[str, Any], articles: Sequence[Any]) -> dict[str, str]:
        """User id -> login, from what the ticket's answers already say (used if a user lookup fails)."""
        logins: dict[str, str] = {}
        assets = history.get("assets")
        users = assets.get("User") if isinstance(assets, dict) else None
        for uid, data in (users.items() if isinstance(users, dict) else ()):
            if isinstance(data, dict) and isinstance(data.get("login"), str) and data["login"]:
                logins[str(uid)] = data["login"]
        for article in articles:
            if isinstance(article, dict) and parse_id(article.get("created_by_id")) is not None \
                    and _login(article.get("created_by")):
                logins.setdefault(str(parse_id(article["created_by_id"])), article["created_by"])
        for key in ("customer", "owner", "created_by", "updated_by"):
            uid = parse_id(raw.get(f"{key}_id"))
            if uid is not None and _login(raw.get(key)):
                logins.setdefault(uid, raw[key])
        return logins

    def _history_events(self, ticket_id: str, entries: list[Any], logins: dict[str, str]) -> list[Event]:
        severity_attribute = self.options.severity_field
        tracked: dict[str, list[tuple[str, bool]]] = {}  # history attribute -> (field name, by id?)
        for name, attribute in self.field_attributes.items():
            # HasHistory logs "group_id" as "group", with names in value_* and ids in id_*
            tracked.setdefault(attribute.removesuffix("_id"), []).append((name, attribute.endswith("_id")))
        events: list[Event] = []
        for n, item in enumerate(entries, 1):
            if not isinstance(item, dict):
                raise Malformed(f"history entry {n} is {type_name(item)} ({short(item)}), not an object")
            if item.get("object") != "Ticket" or parse_id(item.get("o_id")) != ticket_id:
                continue  # article, mention, checklist entries: the articles are read on their own
            kind, changed = item.get("type"), item.get("attribute")
            if not isinstance(kind, str) or not isinstance(changed, (str, type(None))):
                raise Malformed(f"history entry {short(item.get('id'))} has type {short(kind)} and attribute"
                                f" {short(changed)}")
            at = parse_time(item.get("created_at"), f"history entry {short(item.get('id'))}")
            user_id = item.get("created_by_id")
            uid = parse_id(user_id)
            if user_id is not None and uid is None:
                raise Malformed(f"history entry {short(item.get('id'))}: created_by_id {short(user_id)} is not an id")
            by = (logins.get(uid) or uid) if uid is not None else None
            old, new = _text(item.get("value_from")), _text(item.get("value_to"))
            if kind == "updated" and changed == "state" and new:
                person, role = self._changed_by(uid, logins, item.get("sourceable_type"))
                events.append(StatusChange(at, old, new, (person.login if person else None) or by, role))
            elif kind == "updated" and changed == severity_attribute:
                events.append(SeverityChange(at, old, new, by))
            elif kind in ("added", "removed") and changed == "tag" and new:
                events.append(LabelChange(at, new, kind == "added", by))
            if kind == "updated" and changed in tracked:
                for name, by_id in tracked[changed]:
                    before, after = ((item.get("id_from"), item.get("id_to")) if by_id
                                     else (item.get("value_from"), item.get("value_to")))
                    events += _field_changes(at, name, before, after, by)
        return events

    def _changed_by(self, user_id: str | None, logins: dict[str, str], source: Any) -> tuple[Person | None, Role]:
        """Who changed a state: automation and Zammad itself are the system; otherwise the person
        decides (``person_role``): sla-bridge and the configured agents are agents, anyone else —
        the ticket's customer, a colleague of theirs, an agent the configuration does not list —
        is the customer."""
        if user_id is None or user_id == SYSTEM_USER_ID:
            return None, Role.SYSTEM
        person = self.directory.person(user_id, logins.get(user_id))
        if source:  # sourceable_type: Trigger, Job (scheduler), PostmasterFilter
            return person, Role.SYSTEM
        return person, person_role(person, self.agents, self.me_person)

    def _comment(self, n: int, article: Any, logins: dict[str, str]) -> Comment:
        if not isinstance(article, dict):
            raise Malformed(f"article {n} is {type_name(article)} ({short(article)}), not an object")
        label = f"article {short(article.get('id'))}"
        at = parse_time(article.get("created_at"), label)
        # origin_by_id: the customer an agent wrote for (a phone call logged with sender Customer)
        author_id = article.get("origin_by_id") or article.get("created_by_id")
        known = logins.get(str(parse_id(author_id)))
        person = self.directory.person(author_id, known)
        sender = (text(article.get("sender"), f"{label}: sender") or "").casefold()
        body = article.get("body")
        if body is not None and not isinstance(body, str):
            raise Malformed(f"{label}: the body is {type_name(body)}, not a text")
        internal = article.get("internal")
        if internal is not None and not isinstance(internal, bool):
            raise Malformed(f"{label}: internal is {short(internal)}, not true or false")
        if sender == "system" or person is None or person.id == SYSTEM_USER_ID:
            role = Role.SYSTEM
        else:
            role = person_role(person, self.agents, self.me_person)
            if sender == "agent" and role is Role.CUSTOMER and person.id not in self._unlisted:
                self._unlisted.add(str(person.id))
                log.warning("%s: %s writes as an agent in Zammad but matches no pattern of trackers.%s.agents:"
                            " their articles and changes count as the customer's", self.name, person, self.name)
        author = (person.login if person is not None and person.login else None) \
            or _login(article.get("created_by")) or _login(article.get("from"))
        return Comment(at, author, role, not internal, body or "", self._own(article, sender))

    def _own(self, article: dict[str, Any], sender: str) -> bool:
        """Whether sla-bridge's own user wrote this article: only then do its markers count.

        Created by that user, as itself (no ``origin_by_id`` of someone else), and not a
        *System* article (a trigger's or an auto-reply's text can quote anyone's)."""
        me = self.me_person.id
        origin = article.get("origin_by_id")
        return (me is not None and parse_id(article.get("created_by_id")) == me and sender != "system"
                and (origin is None or origin == "" or parse_id(origin) == me))
