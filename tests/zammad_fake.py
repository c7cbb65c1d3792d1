"""A stateful fake Zammad on ``responses`` callbacks, answering with Zammad's JSON shapes.

It keeps tickets, articles, tags and history, applies what the REST API would
(``PUT /tickets/{id}``, ``POST /ticket_articles``, ``POST /tags/add``, ``DELETE
/tags/remove``), stamps every change with its clock and bumps ``updated_at``, and
writes history entries the way Zammad does (``HasHistory``: attribute without
``_id``, names in ``value_from``/``value_to``, ids in ``id_from``/``id_to``).
The shapes follow Zammad's API documentation and source:
- ``GET /tickets/search``: ``paginate_with(max: 200, default: 50)``; a ``condition``
  without query text is a database search (Elasticsearch or not); ``query`` text
  without Elasticsearch is a LIKE search on title and articles; ``sort_by`` and
  ``order_by`` take comma-separated lists; ``expand=true`` returns a list of
  tickets with names resolved, otherwise ``{tickets, tickets_count, assets}``;
- ``GET /tickets``: ``paginate_with(max: 100)``, ordered by id;
- ``GET /ticket_history/{id}``: ``{history: [...], assets: {...}}``, oldest first;
- unknown ticket attributes in a ``PUT`` are dropped silently (``param_cleanup``);
- a datetime attribute created without "past" refuses a past value (422);
- ``POST /tags/add`` of a tag that does not exist yet is refused (403) when new
  tags are not allowed;
- an ``email`` article in a group without an email address raises in Zammad
  (``Ticket::Article::AddsMetadataEmail``): a 500 whose reason is hidden from
  non-admin tokens (``HandlesErrors#humanize_error``), and no article;
- ``PUT /tickets/{id}?expand=true`` answers the saved ticket with names;
- a bad token is a 401, no credentials a 403 (``Authentication required``);
- ``GET /users/{id}?expand=true`` (and ``/users/me``) adds the names of the user's
  associations (``attributes_with_association_names``): ``roles``, ``organization``,
  ``organizations``, and ``groups`` as a map of group name -> access list, beside
  ``group_ids`` keyed by id (``HasGroups``: filled only for agents);
- ``GET /ticket_states?expand=true`` names each state's ``state_type``; ``GET
  /ticket_priorities``; ``GET /object_manager_attributes`` needs ``admin.object``
  (``admin_object=False``: 403, as for an agent's token);
- a history entry stores ``value.to_s``: an array (multiselect) reads like Ruby's
  ``["a", "b"]``;
- ``Ticket::Article#check_body`` refuses a body longer than 1,500,000 characters
  (422 ``body of article is too large, … chars - only 1500000 allowed``).

``fail`` injects failures: before the server acts (a proxy refusing), or after
(``after=True``: the server acted and the answer was lost on the way back); with
``text`` the answer is that raw text (an HTML page, truncated JSON), with ``error``
the client raises that exception instead of getting an answer (a timeout, a broken
connection). Hostile servers: ``listed_as`` overrides fields of a ticket's row in the
change query only (``GET /tickets/search`` and ``GET /tickets``), and ``ignores``
names query parameters the server ignores (``condition``, ``query``, ``page``), as a
misbehaving proxy or version might. ``max_listings`` fails a test whose paging runs
away instead of hanging it.

People act through helpers (``create_ticket``, ``update``, ``add_article``,
``add_tag``), as they would in Zammad's UI; sla-bridge acts through HTTP as the
token's user.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import responses

STATES = {1: "new", 2: "open", 3: "pending reminder", 4: "closed", 5: "merged", 6: "removed", 7: "pending close"}
# state id -> (state_type_id, state type), as db/seeds/ticket_state_types.rb and ticket_states.rb seed them
STATE_TYPES = {1: (1, "new"), 2: (2, "open"), 3: (3, "pending reminder"), 4: (5, "closed"), 5: (6, "merged"),
               6: (7, "removed"), 7: (4, "pending action")}
PRIORITIES = {1: "1 low", 2: "2 normal", 3: "3 high"}
GROUPS = {1: "Users", 2: "2nd Level", 3: "Phone Only"}
ORGANIZATIONS = {1: "Zammad Foundation", 2: "Customer Inc.", 3: "Support SARL"}
ROLES = {1: "Admin", 2: "Agent", 3: "Customer"}
ARTICLE_TYPES = {"email": 1, "sms": 2, "chat": 3, "fax": 4, "phone": 5, "twitter status": 6, "web": 11, "note": 10}
SENDERS = {"Agent": 1, "Customer": 2, "System": 3}

ARTICLE_BODY_LIMIT = 1_500_000  # Ticket::Article#check_body
SYSTEM, API_USER, AGENT, OTHER_AGENT, CUSTOMER, CUSTOMER_NO_EMAIL, COLLEAGUE, OUTSIDER = 1, 3, 4, 5, 10, 11, 12, 13
ALL_GROUPS = {str(g): ["full"] for g in GROUPS}


def stamp(t: datetime) -> str:
    """How Zammad writes a time: UTC, milliseconds, ``Z``."""
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def user(id: int, login: str, firstname: str, lastname: str, email: str, organization_id: int | None,
         role_ids: list[int], group_ids: dict[str, list[str]] | None = None) -> dict[str, Any]:
    return {
        "id": id, "organization_id": organization_id, "login": login, "firstname": firstname, "lastname": lastname,
        "email": email, "image": None, "image_source": None, "web": "", "phone": "", "fax": "", "mobile": "",
        "department": "", "street": "", "zip": "", "city": "", "country": "", "address": "", "vip": False,
        "verified": False, "active": True, "note": "", "last_login": None, "source": None, "login_failed": 0,
        "out_of_office": False, "out_of_office_start_at": None, "out_of_office_end_at": None,
        "out_of_office_replacement_id": None, "preferences": {}, "updated_by_id": 1, "created_by_id": 1,
        "created_at": "2025-01-06T08:00:00.000Z", "updated_at": "2025-01-06T08:00:00.000Z", "role_ids": role_ids,
        "two_factor_preference_ids": [], "organization_ids": [], "authorization_ids": [], "overview_sorting_ids": [],
        "group_ids": group_ids or {},
    }


def default_users() -> dict[int, dict[str, Any]]:
    """Display names differ from logins on purpose: sla-bridge must match people on identities."""
    return {u["id"]: u for u in (
        user(SYSTEM, "-", "-", "", "", None, []),
        user(API_USER, "sla-bridge", "SLA", "Bridge", "sla-bridge@support.example", 3, [2], dict(ALL_GROUPS)),
        user(AGENT, "sam@support.example", "Samantha", "Durand", "sam@support.example", 3, [2], dict(ALL_GROUPS)),
        user(OTHER_AGENT, "max", "Max", "Weber", "max@support.example", 3, [2], {"1": ["full"]}),
        user(CUSTOMER, "alice@customer.example", "Alice", "Martin", "alice@customer.example", 2, [3]),
        user(CUSTOMER_NO_EMAIL, "bob", "Robert", "Lefèvre", "", 2, [3]),
        user(COLLEAGUE, "carol@customer.example", "Carol", "Nguyen", "carol@customer.example", 2, [3]),
        user(OUTSIDER, "olga@elsewhere.example", "Olga", "Petrova", "olga@elsewhere.example", 1, [3]),
    )}


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    after: bool = False  # the server acts, then the answer is lost
    text: str | None = None  # a raw answer instead of JSON (an HTML page, truncated JSON)
    error: BaseException | None = None  # raised instead of answering (a timeout, a broken connection)
    query: dict[str, str] = field(default_factory=dict)  # only calls with these query parameters


class FakeZammad:
    """The server: state, a clock, call counters. ``install`` wires it into a ``RequestsMock``."""

    def __init__(self, clock: Callable[[], datetime], url: str = "http://zammad.test", token: str = "zammad-t0ken", *,
                 attributes: dict[str, dict[str, Any]] | None = None, elasticsearch: bool = True,
                 tag_new: bool = True, admin_object: bool = False) -> None:
        self.clock = clock
        self.url = url.rstrip("/")
        self.token = token
        # Custom ticket attributes: name -> {"data_type": "datetime", "past": bool, "future": bool},
        # {"data_type": "select", "options": {key: label}}, {"data_type": "multiselect", ...}
        self.attributes = attributes if attributes is not None else {
            "sla_due_at": {"data_type": "datetime", "past": True, "future": True}}
        self.admin_object = admin_object  # the token may list object attributes (admin.object)
        self.elasticsearch = elasticsearch
        self.tag_new = tag_new
        self.known_tags: set[str] = {"vip"}
        self.groups_without_email: set[str] = {"Phone Only"}
        self.users = default_users()
        self.tickets: dict[int, dict[str, Any]] = {}
        self.articles: dict[int, list[dict[str, Any]]] = {}
        self.tags: dict[int, list[str]] = {}
        self.history: dict[int, list[dict[str, Any]]] = {}
        self.failures: list[Failure] = []
        self.listed_as: dict[int, dict[str, Any]] = {}  # ticket id -> fields its change-query row shows instead
        self.ignores: set[str] = set()  # query parameters ignored: "condition", "query", "page"
        self.max_listings = 500  # change-query calls before the fake calls it runaway paging
        self.calls: list[tuple[str, str]] = []
        self.reads = 0
        self.writes = 0
        self._ids = {"ticket": 0, "article": 0, "history": 0}

    # --- wiring ------------------------------------------------------------------------

    def install(self, rsps: responses.RequestsMock) -> FakeZammad:
        pattern = re.compile(re.escape(self.url) + r"/api/v1/.*")
        for method in ("GET", "POST", "PUT", "DELETE"):
            rsps.add_callback(method, pattern, callback=self._dispatch, content_type="application/json")
        return self

    def fail(self, method: str, path: str, status: int, headers: dict[str, str] | None = None,
             body: Any = None, times: int = 1, after: bool = False, text: str | None = None,
             error: BaseException | None = None, query: dict[str, str] | None = None) -> None:
        """The next ``times`` calls matching ``method``, the ``path`` regex (and ``query``) fail with
        ``status`` (``after``: once the server has done what was asked; ``text``: that raw body;
        ``error``: raised by the client instead of an answer)."""
        for _ in range(times):
            self.failures.append(Failure(method, re.compile(path), status, headers or {}, body, after, text, error,
                                         query or {}))

    def _next_id(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def now(self) -> str:
        return stamp(self.clock())

    def _dispatch(self, request: Any) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(request.url)
        path = parts.path.removeprefix("/api/v1")
        method = request.method
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.calls.append((method, path))
        if method == "GET":
            self.reads += 1
        else:
            self.writes += 1
        failure = next((f for f in self.failures if f.method == method and f.path.search(path)
                        and all(query.get(k) == v for k, v in f.query.items())), None)
        if path in ("/tickets/search", "/tickets") and method == "GET":
            listings = sum(1 for c in self.calls if c in (("GET", "/tickets/search"), ("GET", "/tickets")))
            if listings > self.max_listings:
                raise AssertionError(f"runaway paging: {listings} change-query calls")
        if failure is not None:
            self.failures.remove(failure)
            if failure.after:
                self._serve(request, method, path, query)
            if failure.error is not None:
                raise failure.error
            if failure.text is not None:
                return failure.status, {"Content-Type": "text/html; charset=utf-8", **failure.headers}, failure.text
            return failure.status, failure.headers, json.dumps(failure.body if failure.body is not None
                                                               else {"error": "failure injected"})
        return self._serve(request, method, path, query)

    def _serve(self, request: Any, method: str, path: str, query: dict[str, str]
               ) -> tuple[int, dict[str, str], str]:
        auth = request.headers.get("Authorization")
        if auth is None:
            return self._error(403, "Authentication required")
        if auth not in (f"Token token={self.token}", f"Bearer {self.token}"):
            return self._error(401, "Can't find User for Token")
        body = json.loads(request.body) if request.body else {}
        for route, handler in self._routes():
            match = re.fullmatch(route[1], path)
            if match and route[0] == method:
                return handler(*match.groups(), query=query, body=body)
        return self._error(404, f"No route matches [{method}] \"/api/v1{path}\"")

    def _routes(self) -> list[tuple[tuple[str, str], Callable[..., tuple[int, dict[str, str], str]]]]:
        return [
            (("GET", r"/users/me"), self._get_me),
            (("GET", r"/users/(\d+)"), self._get_user),
            (("GET", r"/tickets/search"), self._search),
            (("GET", r"/tickets"), self._index),
            (("GET", r"/tickets/(\d+)"), self._show),
            (("PUT", r"/tickets/(\d+)"), self._update),
            (("GET", r"/tags"), self._tag_list),
            (("POST", r"/tags/add"), self._tag_add),
            (("DELETE", r"/tags/remove"), self._tag_remove),
            (("GET", r"/ticket_history/(\d+)"), self._history),
            (("GET", r"/ticket_articles/by_ticket/(\d+)"), self._articles_by_ticket),
            (("POST", r"/ticket_articles"), self._article_create),
            (("GET", r"/ticket_states"), self._states),
            (("GET", r"/ticket_priorities"), self._priorities),
            (("GET", r"/object_manager_attributes"), self._object_attributes),
        ]

    @staticmethod
    def _ok(data: Any, status: int = 200) -> tuple[int, dict[str, str], str]:
        return status, {}, json.dumps(data)

    @staticmethod
    def _error(status: int, message: str) -> tuple[int, dict[str, str], str]:
        return status, {}, json.dumps({"error": message, "error_human": message})

    # --- JSON shapes -------------------------------------------------------------------

    def user_json(self, user_id: int, expand: bool = False) -> dict[str, Any]:
        data = dict(self.users[user_id])
        if expand:  # attributes_with_association_names
            data.update({
                "roles": [ROLES[r] for r in data["role_ids"]], "two_factor_preferences": [],
                "organizations": [ORGANIZATIONS[o] for o in data["organization_ids"]], "authorizations": [],
                "overview_sortings": [], "organization": ORGANIZATIONS.get(data["organization_id"] or 0),
                "groups": {GROUPS[int(g)]: access for g, access in data["group_ids"].items()},
                "created_by": self._login(data["created_by_id"]), "updated_by": self._login(data["updated_by_id"]),
            })
        return data

    def ticket_json(self, ticket_id: int, expand: bool, ids: bool = False) -> dict[str, Any]:
        t = self.tickets[ticket_id]
        data = {k: v for k, v in t.items()}
        if expand or ids:  # attributes_with_association_ids/_names add the has-many ids
            data["article_ids"] = sorted((a["id"] for a in self.articles[ticket_id]), reverse=True)
            data["ticket_time_accounting_ids"] = []
        if expand:
            data.update({
                "group": GROUPS[t["group_id"]],
                "organization": ORGANIZATIONS.get(t["organization_id"]) if t["organization_id"] else None,
                "ticket_time_accounting": [],
                "state": STATES[t["state_id"]], "priority": PRIORITIES[t["priority_id"]],
                "owner": self._login(t["owner_id"]), "customer": self._login(t["customer_id"]),
                "created_by": self._login(t["created_by_id"]), "updated_by": self._login(t["updated_by_id"]),
                "create_article_type": next(k for k, v in ARTICLE_TYPES.items() if v == t["create_article_type_id"]),
                "create_article_sender": next(k for k, v in SENDERS.items() if v == t["create_article_sender_id"]),
            })
        return data

    def _login(self, user_id: int) -> str | None:
        return self.users[user_id]["login"] if user_id in self.users else None

    def assets(self, ticket_id: int, user_ids: set[int]) -> dict[str, Any]:
        return {"Ticket": {str(ticket_id): self.ticket_json(ticket_id, False)},
                "User": {str(uid): self.user_json(uid) for uid in sorted(user_ids) if uid in self.users}}

    # --- endpoints ---------------------------------------------------------------------

    def _get_me(self, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], str]:
        return self._ok(self.user_json(API_USER, query.get("expand") == "true"))

    def _get_user(self, user_id: str, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], str]:
        if int(user_id) not in self.users:
            return self._error(404, f"Couldn't find User with 'id'={user_id}")
        return self._ok(self.user_json(int(user_id), query.get("expand") == "true"))

    def _states(self, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], str]:
        states = []
        for sid, name in STATES.items():
            type_id, type_name = STATE_TYPES[sid]
            state = {"id": sid, "state_type_id": type_id, "name": name, "next_state_id": 4 if sid == 7 else None,
                     "ignore_escalation": sid not in (1, 2), "default_create": sid == 1, "default_follow_up": sid == 2,
                     "note": None, "active": sid != 6, "updated_by_id": 1, "created_by_id": 1,
                     "created_at": "2025-01-06T08:00:00.000Z", "updated_at": "2025-01-06T08:00:00.000Z"}
            if query.get("expand") == "true":
                state.update({"state_type": type_name, "next_state": "closed" if sid == 7 else None,
                              "created_by": "-", "updated_by": "-"})
            states.append(state)
        return self._ok(states)

    def _priorities(self, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], str]:
        return self._ok([{"id": pid, "name": name, "default_create": pid == 2, "ui_icon": None, "ui_color": None,
                          "note": None, "active": True, "updated_by_id": 1, "created_by_id": 1,
                          "created_at": "2025-01-06T08:00:00.000Z", "updated_at": "2025-01-06T08:00:00.000Z"}
                         for pid, name in PRIORITIES.items()])

    def _object_attributes(self, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], str]:
        if not self.admin_object:
            return self._error(403, "Not authorized (token)!")
        rows = []
        for i, (name, spec) in enumerate(self.attributes.items()):
            option = {k: v for k, v in spec.items() if k not in ("data_type",)}
            option.setdefault("null", True)
            rows.append({"id": 60 + i, "name": name, "display": name.replace("_", " ").capitalize(),
                         "data_type": spec["data_type"], "data_option": option, "data_option_new": {},
                         "editable": True, "active": True,
                         "screens": {"edit": {"ticket.agent": {"shown": True, "required": False}}},
                         "to_create": False, "to_migrate": False, "to_delete": False, "to_config": False,
                         "position": 1550 + i, "created_by_id": 1, "updated_by_id": 1,
                         "created_at": "2025-01-06T08:00:00.000Z", "updated_at": "2025-01-06T08:00:00.000Z",
                         "object": "Ticket", "deletable": True})
        return self._ok(rows)

    def _sorted(self, tickets: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
        sort_by = [s.strip() for s in query.get("sort_by", "updated_at").split(",")]
        order_by = [s.strip() for s in query.get("order_by", "desc").split(",")]
        for column, order in reversed(list(zip(sort_by, order_by))):
            tickets = sorted(tickets, key=lambda t: t[column], reverse=order == "desc")
        return tickets

    def _page(self, items: list[Any], query: dict[str, str], default: int, maximum: int) -> list[Any]:
        limit = min(int(query.get("per_page") or query.get("limit") or default), maximum)
        offset = 0 if "page" in self.ignores else (int(query.get("page") or 1) - 1) * limit
        return items[offset:offset + limit]

    def _listed(self, ticket_id: int) -> dict[str, Any]:
        """A ticket as the change query lists it (``expand=true``), with ``listed_as`` applied."""
        return {**self.ticket_json(ticket_id, True), **self.listed_as.get(ticket_id, {})}

    def _search(self, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], str]:
        found = list(self.tickets.values())
        text = "" if "query" in self.ignores else query.get("query", "").replace("*", "")  # "*" deleted
        operator = None if "condition" in self.ignores else query.get("condition[ticket.updated_at][operator]")
        if operator is not None:
            if operator != "after (absolute)":
                return self._error(422, f"Invalid operator '{operator}'")
            since = parse(query["condition[ticket.updated_at][value]"])
            found = [t for t in found if parse(t["updated_at"]) >= since]  # Selector::Sql: ">="
        elif text and self.elasticsearch:
            match = re.fullmatch(r"updated_at:\[(\S+) TO (\S+)\]", text)
            if match is None:
                return self._error(422, "Elasticsearch: failed to parse query")
            low, high = parse(match[1]), parse(match[2])
            found = [t for t in found if low <= parse(t["updated_at"]) <= high]
        elif text:  # no Elasticsearch: a LIKE on title, number and articles
            found = [t for t in found if text.lower() in t["title"].lower() or text in t["number"]
                     or any(text.lower() in (a["body"] or "").lower() for a in self.articles[t["id"]])]
        page = self._page(self._sorted(found, query), query, 50, 200)
        if query.get("expand") == "true":
            return self._ok([self._listed(t["id"]) for t in page])
        assets: dict[str, Any] = {"Ticket": {}, "User": {}}
        for t in page:
            for kind, values in self.assets(t["id"], {t["customer_id"], t["owner_id"]}).items():
                assets[kind].update(values)
        return self._ok({"tickets": [t["id"] for t in page], "tickets_count": len(page), "assets": assets})

    def _index(self, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], str]:
        page = self._page(sorted(self.tickets), query, 100, 100)
        if query.get("expand") == "true":
            return self._ok([self._listed(i) for i in page])
        return self._ok([self.ticket_json(i, False) for i in page])

    def _show(self, ticket_id: str, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], str]:
        if int(ticket_id) not in self.tickets:
            return self._error(404, f"Couldn't find Ticket with 'id'={ticket_id}")
        return self._ok(self.ticket_json(int(ticket_id), query.get("expand") == "true"))

    def _update(self, ticket_id: str, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], str]:
        if int(ticket_id) not in self.tickets:
            return self._error(404, f"Couldn't find Ticket with 'id'={ticket_id}")
        fields = {k: v for k, v in body.items() if k != "article"}
        if "state" in fields:
            name = fields.pop("state")
            ids = [i for i, n in STATES.items() if n == name]
            if not ids:
                return self._error(422, f"No lookup value found for 'state': {json.dumps(name)}")
            fields["state_id"] = ids[0]
        if "priority" in fields:
            name = fields.pop("priority")
            ids = [i for i, n in PRIORITIES.items() if n == name]
            if not ids:
                return self._error(422, f"No lookup value found for 'priority': {json.dumps(name)}")
            fields["priority_id"] = ids[0]
        for name, spec in self.attributes.items():
            value = fields.get(name)
            if spec.get("data_type") == "datetime" and value:
                when = parse(value)
                if not spec.get("past") and when < self.clock():
                    return self._error(422, f"Validation failed: {name.replace('_', ' ').capitalize()} does not"
                                            " allow past dates.")
                fields[name] = stamp(when)
        self.update(int(ticket_id), API_USER, **fields)
        if body.get("article"):
            self.add_article(int(ticket_id), API_USER, **body["article"])
        return self._ok(self.ticket_json(int(ticket_id), query.get("expand") == "true", ids=True))

    def _tag_list(self, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], str]:
        return self._ok({"tags": list(self.tags.get(int(query["o_id"]), []))})

    def _tag_add(self, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], str]:
        item = str(body["item"]).strip()
        if not self.tag_new and item not in self.known_tags:
            return self._error(403, "Not authorized")
        self.add_tag(int(body["o_id"]), item, API_USER)
        return self._ok(True, 201)

    def _tag_remove(self, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], str]:
        self.remove_tag(int(body["o_id"]), str(body["item"]).strip(), API_USER)
        return self._ok(True)

    def _history(self, ticket_id: str, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], str]:
        tid = int(ticket_id)
        if tid not in self.tickets:
            return self._error(404, f"Couldn't find Ticket with 'id'={ticket_id}")
        items = self.history[tid]
        return self._ok({"history": items, "assets": self.assets(tid, {i["created_by_id"] for i in items})})

    def _articles_by_ticket(self, ticket_id: str, query: dict[str, str], body: Any
                            ) -> tuple[int, dict[str, str], str]:
        if int(ticket_id) not in self.tickets:
            return self._error(404, f"Couldn't find Ticket with 'id'={ticket_id}")
        return self._ok(self.articles[int(ticket_id)])

    def _article_create(self, query: dict[str, str], body: Any) -> tuple[int, dict[str, str], str]:
        if "body" not in body:
            return self._error(422, 'Need at least article: { body: "some text" }')
        if len(body["body"] or "") > ARTICLE_BODY_LIMIT:
            return self._error(422, f"body of article is too large, {len(body['body'])} chars - only"
                                    f" {ARTICLE_BODY_LIMIT} allowed")
        group = GROUPS[self.tickets[int(body["ticket_id"])]["group_id"]]
        if body.get("type") == "email" and group in self.groups_without_email:
            return 500, {}, json.dumps({"error": "Error ID Xy1z2w: Please contact your administrator."})
        fields = {k: v for k, v in body.items() if k != "ticket_id"}
        article = self.add_article(int(body["ticket_id"]), API_USER, **fields)
        return self._ok(article, 201)

    # --- what people do (and what the endpoints do) ------------------------------------

    def _log(self, ticket_id: int, kind: str, by: int, obj: str = "Ticket", o_id: int | None = None,
             **extra: Any) -> None:
        entry: dict[str, Any] = {"id": self._next_id("history"), "o_id": o_id or ticket_id, "history_type_id": None,
                                 "history_object_id": None, "history_attribute_id": None,
                                 "related_history_object_id": None, "value_from": None, "value_to": None,
                                 "id_from": None, "id_to": None, "sourceable_id": None, "sourceable_type": None,
                                 "sourceable_name": None, "created_by_id": by, "created_at": self.now()}
        entry.update(extra)
        # History.list: drop the lookups it resolved, and the empty pairs
        for key in ("history_type_id", "history_object_id", "updated_at"):
            entry.pop(key, None)
        if entry.get("history_attribute_id") is None and "attribute" in entry:
            entry.pop("history_attribute_id")
        if entry.get("related_history_object_id") is None and "related_object" in entry:
            entry.pop("related_history_object_id")
        if entry["id_from"] is None and entry["id_to"] is None:
            del entry["id_from"], entry["id_to"]
        if entry["value_from"] is None and entry["value_to"] is None:
            del entry["value_from"], entry["value_to"]
        entry["object"] = obj
        entry["type"] = kind
        self.history[ticket_id].append(entry)

    def _touch(self, ticket_id: int, by: int) -> None:
        self.tickets[ticket_id]["updated_at"] = self.now()
        self.tickets[ticket_id]["updated_by_id"] = by

    def create_ticket(self, title: str, *, customer: int = CUSTOMER, priority: str = "2 normal", group: str = "Users",
                      state: str = "new", body: str = "It does not work.", article_type: str = "email",
                      tags: tuple[str, ...] = (), by: int | None = None, sender: str | None = None,
                      **attributes: Any) -> int:
        """A customer writes in (an email by default): the ticket and its first article. An agent
        logging a received call passes ``by=AGENT, article_type="phone", sender="Customer"``."""
        ticket_id = self._next_id("ticket")
        author = by if by is not None else customer
        now = self.now()
        self.tickets[ticket_id] = {
            "id": ticket_id, "group_id": next(i for i, n in GROUPS.items() if n == group),
            "priority_id": next(i for i, n in PRIORITIES.items() if n == priority),
            "state_id": next(i for i, n in STATES.items() if n == state),
            "organization_id": self.users[customer]["organization_id"], "number": str(31000 + ticket_id),
            "title": title, "owner_id": 1, "customer_id": customer, "note": None, "first_response_at": None,
            "first_response_escalation_at": None, "first_response_in_min": None, "first_response_diff_in_min": None,
            "close_at": None, "close_escalation_at": None, "close_in_min": None, "close_diff_in_min": None,
            "update_escalation_at": None, "update_in_min": None, "update_diff_in_min": None,
            "last_contact_at": now, "last_contact_agent_at": None, "last_contact_customer_at": now,
            "last_owner_update_at": None, "create_article_type_id": ARTICLE_TYPES[article_type],
            "create_article_sender_id": SENDERS["Customer" if author == customer else "Agent"], "article_count": 0,
            "escalation_at": None, "pending_time": None, "type": None, "time_unit": None, "preferences": {},
            "updated_by_id": author, "created_by_id": author, "created_at": now, "updated_at": now,
        }
        for name in self.attributes:
            self.tickets[ticket_id][name] = None
        self.tickets[ticket_id].update(attributes)
        self.articles[ticket_id], self.tags[ticket_id], self.history[ticket_id] = [], [], []
        self._log(ticket_id, "created", author)
        self.add_article(ticket_id, author, body=body, type=article_type,
                         sender=sender or ("Customer" if author == customer else "Agent"), internal=False)
        for tag in tags:
            self.add_tag(ticket_id, tag, author)
        return ticket_id

    def update(self, ticket_id: int, by: int, source: str | None = None, **fields: Any) -> None:
        """Change ticket fields as ``by`` would (names for state/priority are accepted too)."""
        t = self.tickets[ticket_id]
        for key, table in (("state", STATES), ("priority", PRIORITIES)):
            if key in fields:
                name = fields.pop(key)
                fields[f"{key}_id"] = next(i for i, n in table.items() if n == name)
        names = {"state_id": STATES, "priority_id": PRIORITIES, "group_id": GROUPS}
        changed = False
        for key, value in fields.items():
            if key not in t or key in ("id", "number", "created_at", "updated_at", "created_by_id"):
                continue  # param_cleanup: only the model's attributes, never these
            old = t[key]
            if old == value:
                continue
            t[key] = value
            changed = True
            if key in names:
                self._log(ticket_id, "updated", by, attribute=key.removesuffix("_id"), value_from=names[key][old],
                          value_to=names[key][value], id_from=old, id_to=value,
                          sourceable_type=source, sourceable_name=source and f"{source} 1",
                          sourceable_id=source and 1)
            elif key not in ("updated_by_id", "article_count"):
                self._log(ticket_id, "updated", by, attribute=key, value_from=self._history_value(old),
                          value_to=self._history_value(value))
        if "state_id" in fields and not STATES[t["state_id"]].startswith("pending"):
            t["pending_time"] = None
        if changed:
            self._touch(ticket_id, by)

    @staticmethod
    def _history_value(value: Any) -> str:
        """HasHistory stores ``value.to_s``: a time reads like Ruby's ``Time#to_s``, an array like
        ``Array#inspect`` (``["a", "b"]``), a boolean ``true``/``false``."""
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", value):
            return parse(value).strftime("%Y-%m-%d %H:%M:%S UTC")
        if isinstance(value, list):
            return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in value) + "]"
        if isinstance(value, bool):
            return "true" if value else "false"
        return "" if value is None else str(value)

    def add_article(self, ticket_id: int, by: int, *, body: str, type: str = "note", sender: str | None = None,
                    internal: bool = False, to: str | None = None, subject: str | None = None,
                    content_type: str = "text/html", cc: str | None = None, **ignored: Any) -> dict[str, Any]:
        author = self.users[by]
        sender = sender or ("Customer" if 3 in author["role_ids"] else "Agent")
        origin = None
        if sender == "Customer" and type in ("phone", "note", "web"):
            origin = self.tickets[ticket_id]["customer_id"]  # Ticket::Article::AddsMetadataOriginById
        article = {
            "id": self._next_id("article"), "ticket_id": ticket_id, "type_id": ARTICLE_TYPES[type],
            "sender_id": SENDERS[sender],
            "from": f"{author['firstname']} {author['lastname']}".strip() + (
                f" <{author['email']}>" if type == "email" and author["email"] else ""),
            "to": to, "cc": cc, "subject": subject, "reply_to": None, "message_id": None, "message_id_md5": None,
            "in_reply_to": None, "content_type": content_type, "references": None, "body": body,
            "internal": internal, "preferences": {}, "updated_by_id": by, "created_by_id": by, "origin_by_id": origin,
            "created_at": self.now(), "updated_at": self.now(), "attachments": [], "type": type, "sender": sender,
            "created_by": author["login"], "updated_by": author["login"], "time_unit": None,
        }
        self.articles[ticket_id].append(article)
        self.tickets[ticket_id]["article_count"] += 1
        self._log(ticket_id, "created", by, obj="Ticket::Article", o_id=article["id"], related_o_id=ticket_id,
                  related_object="Ticket")
        self._touch(ticket_id, by)
        return article

    def add_tag(self, ticket_id: int, tag: str, by: int) -> None:
        self.known_tags.add(tag)
        if tag.casefold() in {t.casefold() for t in self.tags[ticket_id]}:
            return  # Tag.tag_add (tags_include?: LOWER(name)): a duplicate is a success, nothing changes
        self.tags[ticket_id].append(tag)
        self._log(ticket_id, "added", by, attribute="tag", value_to=tag)
        self._touch(ticket_id, by)

    def remove_tag(self, ticket_id: int, tag: str, by: int) -> None:
        if tag in self.tags[ticket_id]:
            self.tags[ticket_id].remove(tag)
            self._log(ticket_id, "removed", by, attribute="tag", value_to=tag)
        self._touch(ticket_id, by)  # Tag.tag_remove touches the ticket either way

    # --- what tests look at ------------------------------------------------------------

    def marker_articles(self, ticket_id: int) -> list[dict[str, Any]]:
        return [a for a in self.articles[ticket_id] if "[sla-bridge:" in (a["body"] or "")]

    def state(self, ticket_id: int) -> str:
        return STATES[self.tickets[ticket_id]["state_id"]]
