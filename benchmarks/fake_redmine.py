"""A fake Redmine 5 REST server for benchmarks: N generated issues in memory, JSON shaped like Redmine's.

Used by ``bench_sync.py``; not a test double for unit tests (those use ``responses``).
What it reproduces of Redmine 5.0 (see /work/shared/notes/redmine-live.md):

- ``X-Redmine-API-Key`` is required (401 otherwise);
- ``GET /issues.json``: open issues only unless ``status_id=*``; ``updated_on=>=...``
  accepts ``YYYY-MM-DDTHH:MM:SSZ`` (or a plain date) and answers 422
  ``{"errors":["Updated is invalid"]}`` to anything else (``+00:00`` included);
  on SQLite the lower bound is effectively one second earlier (``sqlite_slack``);
  ``sort=updated_on,id``; ``offset``; ``limit`` capped at 100 (default 25);
  ``project_id`` (identifier or id, comma-separated);
- ``GET /issues/ID.json[?include=journals]`` (404 for an unknown id);
- ``PUT /issues/ID.json`` with ``{"issue": {...}}``: due_date, custom_fields
  (``[{"id", "value"}]``; a list field's values must be among its possible values,
  422 otherwise; ``[""]`` clears it), notes + private_notes, status_id (an unknown
  status is silently ignored, still 204). A change adds one journal by the API user
  with one detail per attribute, per custom field value added or removed; the issue's
  ``updated_on`` becomes the server's current time to the second. A PUT that changes
  nothing adds no journal and leaves ``updated_on`` alone (Rails skips the save);
- ``GET /issue_statuses.json``, ``/enumerations/issue_priorities.json``,
  ``/users/current.json`` (the API user, id 9, with its project memberships);
- who is who, as the adapter looks people up: ``GET /projects.json`` (the one
  project ``support``, its issue custom fields), ``/users/ID.json`` (login, mail,
  memberships: the agent ``agent`` (5) and the API user have the role Support, the
  customer ``alice`` (6) Reporter), ``/projects/ID/memberships.json`` (no group is a
  member), ``/roles/ID.json``, ``/trackers.json``; ``/custom_fields.json`` is refused
  (403) as it is to a non-admin.

For tests and crash runs (``tests/test_faults.py``, ``tests/test_crash.py``,
``benchmarks/crash_run.py``) the same server starts empty (``n=0``) in a thread of
the caller (:class:`ServerThread`); issues and people's actions are scripted with
:meth:`FakeRedmine.create_issue` and :meth:`FakeRedmine.act`, stamped with a clock
the caller sets (``server_clock="manual"``, :meth:`FakeRedmine.set_now`); and
:meth:`FakeRedmine.kill_after` makes the server SIGKILL a client process right
after it applied the Nth note (or write, or request) and before it answers, so the
client dies between the tracker's write and its own record of it.

Bench-only endpoints under ``/__bench/`` need no key and are not counted:
``stats`` (request counters, per-issue PUT counts unless ``ids=0``, the issues written
since a ``put_seq`` with ``written_after=N``, notes posted by kind, statuses)
and ``rows`` (every issue's ``[id, updated_on, status_id]``).

Run it in its own process with :func:`start_in_process` so that the sync's memory
figures are its own.
"""

from __future__ import annotations

import bisect
import itertools
import json
import multiprocessing
import os
import random
import re
import signal
import socket
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
STATUSES = [  # Redmine's default data (ids as on a fresh install)
    {"id": 1, "name": "New", "is_closed": False},
    {"id": 2, "name": "In Progress", "is_closed": False},
    {"id": 3, "name": "Resolved", "is_closed": False},
    {"id": 4, "name": "Feedback", "is_closed": False},
    {"id": 5, "name": "Closed", "is_closed": True},
    {"id": 6, "name": "Rejected", "is_closed": True},
]
STATUS = {s["id"]: s for s in STATUSES}
NEW, IN_PROGRESS, RESOLVED, FEEDBACK, CLOSED = 1, 2, 3, 4, 5
PRIORITIES = [
    {"id": 1, "name": "Low", "is_default": False, "active": True},
    {"id": 2, "name": "Normal", "is_default": True, "active": True},
    {"id": 3, "name": "High", "is_default": False, "active": True},
    {"id": 4, "name": "Urgent", "is_default": False, "active": True},
    {"id": 5, "name": "Immediate", "is_default": False, "active": True},
]
PRIORITY = {p["id"]: p for p in PRIORITIES}
TRACKERS = [{"id": 1, "name": "Bug"}, {"id": 2, "name": "Feature"}, {"id": 3, "name": "Support"}]
PROJECT = {"id": 1, "name": "Support", "identifier": "support"}
AGENT: dict[str, Any] = {"id": 5, "name": "Sam Agent"}
CUSTOMER: dict[str, Any] = {"id": 6, "name": "Alice Customer"}
API_USER: dict[str, Any] = {"id": 9, "name": "SLA Bridge"}
ROLES: dict[int, dict[str, Any]] = {3: {"id": 3, "name": "Support", "permissions": ["view_issues", "edit_issues", "add_issue_notes",
                                                           "set_notes_private", "view_private_notes"]},
         4: {"id": 4, "name": "Reporter", "permissions": ["view_issues", "add_issues", "add_issue_notes"]}}
# What GET /users/ID.json shows of each person (a non-admin API user: no groups).
USERS: dict[int, dict[str, Any]] = {
    AGENT["id"]: {"login": "agent", "firstname": "Sam", "lastname": "Agent", "mail": "agent@support.example",
                  "role": 3},
    CUSTOMER["id"]: {"login": "alice", "firstname": "Alice", "lastname": "Customer", "mail": "alice@client.example",
                     "role": 4},
    API_USER["id"]: {"login": "sla-bridge", "firstname": "SLA", "lastname": "Bridge", "mail": "sla@support.example",
                     "role": 3},
}
VERSIONS = [{"id": 1, "name": "2.4.0"}, {"id": 2, "name": "2.4.1"}, {"id": 3, "name": "2.5.0"}]
LABELS_FIELD, DEADLINE_FIELD = 1, 2
# The "SLA labels" list field: its possible values hold every SLA label of the
# example contract, plus labels people use.
LABEL_VALUES = frozenset({
    "sla-a-risque", "sla-non-eligible", "sla-hors-perimetre", "sla-criticite-inconnue", "sla-version-manquante",
    "sla-depasse-prise-en-compte", "sla-depasse-contournement", "sla-depasse-resolution",
    "sla-bloquante", "sla-majeure", "sla-mineure", "vip", "contournement", "contournement-definitif",
    "hors-perimetre",
})
PAGE_CAP = 100
_STAMP = r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}Z)?"
_BOUND = re.compile(rf"(>=|><)({_STAMP})(?:\|({_STAMP}))?")
_MARKER_KIND = re.compile(r"\[sla-bridge:[^\]\s]*/(reminder|closure)/")


def _z(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_z(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- generation -----------------------------------------------------------------------


class _Journals:
    def __init__(self) -> None:
        self.next_id = 1

    def make(self, user: dict[str, Any], at: datetime, notes: str = "", private: bool = False,
             details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        journal = {"id": self.next_id, "user": dict(user), "notes": notes, "created_on": _z(at),
                   "updated_on": _z(at), "private_notes": private, "details": details or []}
        self.next_id += 1
        return journal


def _status_detail(old: int, new: int) -> dict[str, Any]:
    return {"property": "attr", "name": "status_id", "old_value": str(old), "new_value": str(new)}


def generate(n: int, seed: int, now: datetime) -> tuple[dict[int, dict[str, Any]], int]:
    """N issues created over the 60 days before `now`, every journal at or before `now`.

    Returns the issues by id and the next free journal id.
    """
    rng = random.Random(seed)
    journals = _Journals()
    issues: dict[int, dict[str, Any]] = {}
    for issue_id in range(1, n + 1):
        issues[issue_id] = _issue(rng, issue_id, now, journals)
    return issues, journals.next_id


def _created(rng: random.Random, now: datetime) -> datetime:
    for _ in range(100):
        day = (now.astimezone(PARIS) - timedelta(days=rng.randint(0, 59))).date()
        if rng.random() < 0.85:  # mostly during office hours
            minute = rng.randint(8 * 60, 19 * 60)
        else:
            minute = rng.randint(0, 24 * 60 - 1)
        created = datetime(day.year, day.month, day.day, tzinfo=PARIS) + timedelta(minutes=minute,
                                                                                 seconds=rng.randint(0, 59))
        if created < now - timedelta(hours=1):
            return created.astimezone(UTC)
    return (now - timedelta(hours=2)).astimezone(UTC)


def _issue(rng: random.Random, issue_id: int, now: datetime, journals: _Journals) -> dict[str, Any]:
    created = _created(rng, now)
    final_status = rng.choices([NEW, IN_PROGRESS, FEEDBACK, RESOLVED, CLOSED], weights=[8, 30, 22, 15, 25])[0]
    priority = rng.choices([4, 3, 2, 1], weights=[12, 28, 40, 20])[0]  # Urgent, High, Normal, Low
    initial_priority = priority if rng.random() < 0.85 else rng.choice([p for p in (4, 3, 2, 1) if p != priority])
    labels: list[str] = ["vip"] if rng.random() < 0.1 else []

    # The structure of the story (status changes in order), then filler around it.
    structure: list[tuple[str, Any]] = []
    if final_status != NEW:
        structure.append(("status", IN_PROGRESS))
        if rng.random() < 0.3:  # a waiting cycle in the past, answered by the customer
            structure += [("status", FEEDBACK), ("customer_note", None), ("status", IN_PROGRESS)]
    if final_status == FEEDBACK:
        structure.append(("status", FEEDBACK))
    elif final_status == RESOLVED:
        structure.append(("status", RESOLVED))
    elif final_status == CLOSED:
        if rng.random() < 0.8:
            structure += [("status", RESOLVED), ("status", CLOSED)]
        else:  # closed after waiting (an earlier auto-close or a person)
            structure += [("status", FEEDBACK), ("status", CLOSED)]
    wanted = rng.randint(2, 10)
    fillers: list[tuple[str, Any]] = []
    if initial_priority != priority:
        fillers.append(("priority", (initial_priority, priority)))
    if final_status in (IN_PROGRESS, FEEDBACK, RESOLVED, CLOSED) and rng.random() < 0.08:
        fillers.append(("label", "contournement"))
    while len(structure) + len(fillers) < wanted:
        fillers.append((rng.choices(["agent_note", "private_note", "customer_note"], weights=[4, 3, 4])[0], None))
    # Interleave: fillers at random places, the structure keeping its order; a
    # waiting issue ends on its move to Feedback (maybe followed by a customer answer).
    steps = list(structure)
    tail: list[tuple[str, Any]] = []
    if final_status == FEEDBACK:
        steps.pop()
        tail = [("status", FEEDBACK)]
        if rng.random() < 0.25:
            tail.append(("customer_note", None))
    fillers = fillers[:max(0, 10 - len(steps) - len(tail))]  # 2-10 journals per issue
    for filler in fillers:
        steps.insert(rng.randint(0, len(steps)), filler)
    steps += tail

    # Times: a waiting issue went to Feedback `wait` ago (some long enough for every
    # reminder and the auto-close to be due); the others' last event lies anywhere.
    span_end: datetime
    if final_status == FEEDBACK:
        wait = rng.choice([timedelta(hours=rng.uniform(1, 72)), timedelta(days=rng.uniform(3, 15)),
                           timedelta(days=rng.uniform(15, 30))])
        span_end = max(now - wait, created + timedelta(minutes=30))
    else:
        span_end = created + (now - created) * rng.uniform(0.1, 1.0)
    span_end = min(span_end, now - timedelta(minutes=1))
    span = max((span_end - created).total_seconds(), float(len(steps) * 60))
    if final_status == FEEDBACK and tail:
        # the tail (Feedback, maybe an answer) sits at the end of the span
        before = sorted(rng.uniform(60, span * 0.9) for _ in range(len(steps) - len(tail)))
        after = [span] if len(tail) == 1 else [span * 0.9, span * (0.9 + 0.1 * rng.uniform(0.2, 1.0))]
        offsets = before + after
    else:
        offsets = sorted(rng.uniform(60, span) for _ in steps)
    times: list[datetime] = []
    for off in offsets:
        t = (created + timedelta(seconds=off)).replace(microsecond=0)
        if times and t <= times[-1]:
            t = times[-1] + timedelta(seconds=1)
        times.append(min(t, now))

    status = NEW
    issue_journals: list[dict[str, Any]] = []
    for (kind, arg), at in zip(steps, times):
        if kind == "status":
            notes = {IN_PROGRESS: rng.choice(["", "Pris en charge, nous regardons.", "Analyse en cours."]),
                     FEEDBACK: "Un correctif est disponible : merci de tester et de nous dire.",
                     RESOLVED: rng.choice(["Corrigé.", "Corrigé dans la prochaine version."]),
                     CLOSED: ""}[arg]
            if status == FEEDBACK and arg == IN_PROGRESS and rng.random() < 0.5:
                notes = ""
            issue_journals.append(journals.make(AGENT, at, notes, False, [_status_detail(status, arg)]))
            status = arg
        elif kind == "priority":
            old, new = arg
            issue_journals.append(journals.make(AGENT, at, "", False, [
                {"property": "attr", "name": "priority_id", "old_value": str(old), "new_value": str(new)}]))
        elif kind == "label":
            labels.append(arg)
            issue_journals.append(journals.make(AGENT, at, "Contournement livré : redémarrer le service.", False, [
                {"property": "cf", "name": str(LABELS_FIELD), "old_value": None, "new_value": arg}]))
        elif kind == "agent_note":
            issue_journals.append(journals.make(AGENT, at, rng.choice(
                ["Nous avons besoin des journaux.", "Toujours en cours d'analyse.", "Reproduit chez nous."])))
        elif kind == "private_note":
            issue_journals.append(journals.make(AGENT, at, "Interne : voir le ticket lié.", True))
        else:
            issue_journals.append(journals.make(CUSTOMER, at, rng.choice(
                ["Toujours bloqué.", "Voici les journaux demandés.", "Des nouvelles ?", "Ça ne marche pas."])))
    assert status == final_status, (issue_id, status, final_status)

    updated = max([created] + [_parse_z(j["created_on"]) for j in issue_journals])
    tracker = rng.choices(TRACKERS, weights=[60, 10, 30])[0]
    version = rng.choice(VERSIONS) if rng.random() < 0.4 else None
    closed = STATUS[final_status]["is_closed"]
    return {
        "id": issue_id, "project": {"id": PROJECT["id"], "name": PROJECT["name"]}, "tracker": dict(tracker),
        "status": dict(STATUS[final_status]), "priority": {"id": priority, "name": PRIORITY[priority]["name"]},
        "author": dict(CUSTOMER), "assigned_to": dict(AGENT) if final_status != NEW else None,
        "fixed_version": dict(version) if version else None,
        "subject": f"Issue {issue_id}: " + rng.choice(["Server down", "Export fails", "Slow search", "Login error",
                                                        "Wrong totals", "Crash on save"]),
        "description": "", "start_date": created.date().isoformat(), "due_date": None, "done_ratio": 0,
        "is_private": False, "estimated_hours": None, "total_estimated_hours": None, "spent_hours": 0.0,
        "total_spent_hours": 0.0,
        "custom_fields": [{"id": LABELS_FIELD, "name": "SLA labels", "multiple": True, "value": labels},
                          {"id": DEADLINE_FIELD, "name": "SLA deadline", "value": ""}],
        "created_on": _z(created), "updated_on": _z(updated),
        "closed_on": _z(updated) if closed else None,
        "journals": issue_journals,
    }


# --- the server -----------------------------------------------------------------------


def redmine_section(url: str, key_env: str, *, name: str = "redmine", project: str = "support",
                    agents: tuple[str, ...] | list[str] = ("login:agent", "role:Support"), labels_field: int | str = 1,
                    deadline_field: int | str = 2, workers: int | None = None) -> str:
    """The ``[trackers.<name>]`` section for this fake, or for the live Redmine set up the same way
    (scripts/redmine-live.sh): its statuses and priorities, the labels and deadline fields."""
    return f"""
[trackers.{name}]
adapter = "redmine"
{f"workers = {workers}" if workers is not None else ""}
closing_status = "Closed"
comment_visibility = "public"
agents = {json.dumps(list(agents))}
severities = {{ Immediate = "bloquante", Urgent = "bloquante", High = "majeure", Normal = "mineure", Low = "mineure" }}
[trackers.{name}.statuses]
new = ["New"]
in_progress = ["In Progress"]
waiting_for_customer = ["Feedback"]
resolved = ["Resolved"]
closed = ["Closed", "Rejected"]
[trackers.{name}.options]
url = "{url}"
api_key = {{ env = "{key_env}" }}
projects = ["{project}"]
labels_field = {labels_field}
deadline_field = {deadline_field}
"""


class FakeRedmine:
    """The issues and the behaviour; the HTTP handler only parses and answers."""

    def __init__(self, n: int, seed: int, now: datetime, api_key: str, *, sqlite_slack: bool = True,
                 server_clock: str | Callable[[], datetime] = "real") -> None:
        self.issues, self._next_journal = generate(n, seed, now)
        self.api_key = api_key
        self.sqlite_slack = sqlite_slack
        # "real": datetime.now(UTC); "frozen": the evaluation instant; "manual": the instant
        # last given to set_now (scripted scenarios); a callable: its answer.
        self.server_clock = server_clock
        self.latency = 0.0  # seconds added to every answer (bench: a tracker across a network)
        self.frozen_now = now.astimezone(UTC).replace(microsecond=0)
        self.lock = threading.RLock()
        self.requests: Counter[str] = Counter()
        self.put_kinds: Counter[str] = Counter()
        self.put_ids: Counter[int] = Counter()
        self.put_seq = 0  # PUTs so far; put_last: the number of each issue's last PUT (written_after)
        self.put_last: dict[int, int] = {}
        self._order: list[tuple[str, int]] | None = None  # (updated_on, id), sorted
        self._windows: dict[tuple[int, int], list[int]] = {}  # sorted ids of a slice of _order
        # Crash tests: SIGKILL a client right after a write was applied (see kill_after).
        self._kill: dict[str, Any] | None = None
        self.kills: list[dict[str, Any]] = []

    def clock(self) -> datetime:
        if callable(self.server_clock):
            return self.server_clock().astimezone(UTC).replace(microsecond=0)
        if self.server_clock in ("frozen", "manual"):
            return self.frozen_now
        return datetime.now(UTC).replace(microsecond=0)

    def set_now(self, now: datetime) -> None:
        """The instant the server stamps changes with (``server_clock`` "manual" or "frozen")."""
        with self.lock:
            self.frozen_now = now.astimezone(UTC).replace(microsecond=0)

    # --- scripted scenarios: issues and people's actions -------------------------------

    def create_issue(self, subject: str, *, priority: int = 4, author: dict[str, Any] = CUSTOMER,
                     status: int = NEW, labels: list[str] | None = None) -> int:
        """A new issue, created now by `author` (the customer by default)."""
        with self.lock:
            now = self.clock()
            issue_id = max(self.issues, default=0) + 1
            self.issues[issue_id] = {
                "id": issue_id, "project": {"id": PROJECT["id"], "name": PROJECT["name"]},
                "tracker": dict(TRACKERS[0]), "status": dict(STATUS[status]),
                "priority": {"id": priority, "name": PRIORITY[priority]["name"]}, "author": dict(author),
                "assigned_to": None, "fixed_version": None, "subject": subject, "description": "",
                "start_date": now.date().isoformat(), "due_date": None, "done_ratio": 0, "is_private": False,
                "estimated_hours": None, "total_estimated_hours": None, "spent_hours": 0.0,
                "total_spent_hours": 0.0,
                "custom_fields": [{"id": LABELS_FIELD, "name": "SLA labels", "multiple": True,
                                   "value": list(labels or [])},
                                  {"id": DEADLINE_FIELD, "name": "SLA deadline", "value": ""}],
                "created_on": _z(now), "updated_on": _z(now), "closed_on": None, "journals": [],
            }
            self._order = None
            return issue_id

    def act(self, issue_id: int, user: dict[str, Any], *, notes: str = "", status: int | None = None,
            private: bool = False) -> None:
        """A person's note and/or status change, as one journal stamped now."""
        with self.lock:
            issue = self.issues[issue_id]
            now = self.clock()
            details = []
            if status is not None and status != issue["status"]["id"]:
                details.append(_status_detail(issue["status"]["id"], status))
                issue["status"] = dict(STATUS[status])
                issue["closed_on"] = _z(now) if STATUS[status]["is_closed"] else issue["closed_on"]
            if not details and not notes:
                return
            issue["journals"].append({"id": self._next_journal, "user": dict(user), "notes": notes,
                                      "created_on": _z(now), "updated_on": _z(now), "private_notes": private,
                                      "details": details})
            self._next_journal += 1
            issue["updated_on"] = _z(now)
            self._order = None

    def acknowledged(self, count: int, created: datetime) -> list[int]:
        """`count` urgent issues created at `created` (the server's clock must be "manual"),
        acknowledged by an agent 30 minutes later; every other one is then waiting for the
        customer (Feedback) from an hour later."""
        self.set_now(created)
        issues = [self.create_issue(f"Panne {i}", priority=4) for i in range(count)]
        self.set_now(created + timedelta(minutes=30))
        for issue in issues:
            self.act(issue, AGENT, notes="Nous regardons.", status=IN_PROGRESS)
        self.set_now(created + timedelta(hours=1, minutes=30))
        for issue in issues[::2]:
            self.act(issue, AGENT, notes="Merci de tester le correctif.", status=FEEDBACK)
        return issues

    def notes(self, issue_id: int) -> list[str]:
        """Every note of an issue, oldest first."""
        with self.lock:
            return [j["notes"] for j in self.issues[issue_id]["journals"] if j["notes"]]

    def status_changes(self, issue_id: int, user: dict[str, Any] = API_USER) -> list[tuple[int, int]]:
        """(from, to) of every status change `user` made on an issue."""
        with self.lock:
            return [(int(d["old_value"]), int(d["new_value"])) for j in self.issues[issue_id]["journals"]
                    if j["user"]["id"] == user["id"] for d in j["details"] if d["name"] == "status_id"]

    # --- crash tests -------------------------------------------------------------------

    def kill_after(self, pid: int, count: int, on: str = "note") -> None:
        """SIGKILL process `pid` right after the server applied the `count`-th matching request
        from now, before answering it: ``on`` is "note" (a PUT adding a note), "write" (any
        PUT that changed the issue, notes included) or "request" (any request, reads included)."""
        assert on in ("note", "write", "request") and count >= 1
        with self.lock:
            self._kill = {"pid": pid, "on": on, "count": count, "seen": 0}

    def disarm(self) -> None:
        with self.lock:
            self._kill = None

    def _should_kill(self, kind: str, detail: dict[str, Any]) -> int | None:
        """Counts a request of `kind` ("note", "write", "request"); the pid to kill if it is the one."""
        kill = self._kill
        if kill is None or not (kill["on"] == kind or (kill["on"] == "write" and kind == "note")):
            return None
        kill["seen"] += 1
        if kill["seen"] < kill["count"]:
            return None
        self._kill = None
        self.kills.append({**detail, "pid": kill["pid"], "on": kill["on"], "count": kill["count"]})
        return int(kill["pid"])

    # --- who is who --------------------------------------------------------------------

    @staticmethod
    def user_json(user_id: int) -> dict[str, Any] | None:
        known = USERS.get(user_id)
        if known is None:
            return None
        role = ROLES[known["role"]]
        return {"id": user_id, "login": known["login"], "admin": False, "firstname": known["firstname"],
                "lastname": known["lastname"], "mail": known["mail"], "created_on": "2025-01-01T00:00:00Z",
                "last_login_on": None,
                "memberships": [{"id": 100 + user_id, "project": {"id": PROJECT["id"], "name": PROJECT["name"]},
                                 "roles": [{"id": role["id"], "name": role["name"]}]}]}

    @staticmethod
    def projects_json() -> dict[str, Any]:
        return {"projects": [{**PROJECT, "description": "", "status": 1, "is_public": False,
                              "issue_categories": [],
                              "issue_custom_fields": [{"id": LABELS_FIELD, "name": "SLA labels"},
                                                      {"id": DEADLINE_FIELD, "name": "SLA deadline"}]}],
                "total_count": 1, "offset": 0, "limit": 100}

    @staticmethod
    def memberships_json() -> dict[str, Any]:
        rows = [{"id": 100 + uid, "project": {"id": PROJECT["id"], "name": PROJECT["name"]},
                 "user": {"id": uid, "name": f"{u['firstname']} {u['lastname']}"},
                 "roles": [{"id": u["role"], "name": ROLES[u["role"]]["name"]}]} for uid, u in USERS.items()]
        return {"memberships": rows, "total_count": len(rows), "offset": 0, "limit": 100}

    # views
    @staticmethod
    def listed(issue: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in issue.items() if k != "journals"}

    def order(self) -> list[tuple[str, int]]:
        if self._order is None:
            self._order = sorted((i["updated_on"], i["id"]) for i in self.issues.values())
            self._windows = {}
        return self._order

    def _id_window(self, start: int, stop: int) -> list[int]:
        """The ids of `order()[start:stop]` sorted, kept until the next write: paging a group
        by id costs a bisection per page, as an index would, not a sort of the group."""
        window = self._windows.get((start, stop))
        if window is None:
            window = self._windows[(start, stop)] = sorted(i for _, i in itertools.islice(self._order or [], start, stop))
        return window

    # endpoints
    def list_issues(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        def one(name: str, default: str | None = None) -> str | None:
            values = query.get(name)
            return values[-1] if values else default

        try:
            offset = max(0, int(one("offset", "0") or 0))
            limit = min(PAGE_CAP, max(1, int(one("limit", "25") or 25)))
        except ValueError:
            return 422, {"errors": ["Invalid offset or limit"]}
        updated, issue_id = one("updated_on"), one("issue_id")
        status = one("status_id", "open") or "open"
        projects = one("project_id")
        if one("set_filter") in ("1", "true"):
            # The generic filter syntax (f[], op[field], v[field][]), which takes several projects by id.
            # Without a status_id filter it lists every status.
            status, projects, updated, issue_id = "*", None, None, None
            for name in query.get("f[]", []):
                op, values = one(f"op[{name}]", "") or "", query.get(f"v[{name}][]", [])
                if name == "status_id":
                    status = {"*": "*", "o": "open", "c": "closed"}.get(op, "|".join(values) if op == "=" else "")
                elif name == "project_id" and op == "=":
                    projects = ",".join(values)
                elif name == "updated_on" and op in (">=", "><") and values:
                    updated = op + "|".join(values)
                elif name == "issue_id" and op == ">=" and values:
                    issue_id = op + values[-1]
                elif name:
                    return 422, {"errors": [f"{name} is invalid"]}
        low: str | None = None
        high: str | None = None
        if updated is not None:
            bounds = self._updated_bounds(updated)
            if bounds is None:
                return 422, {"errors": ["Updated is invalid"]}
            low, high = bounds
        min_id = 0
        if issue_id is not None:
            m = re.fullmatch(r">=(\d+)", issue_id)
            if m is None:
                return 422, {"errors": ["Issue is invalid"]}
            min_id = int(m.group(1))
        sort = one("sort", "id:desc") or "id:desc"
        if sort not in ("updated_on,id", "id", "id:desc"):
            return 422, {"errors": ["Sort is invalid"]}
        with self.lock:
            if projects:
                known = {PROJECT["identifier"], str(PROJECT["id"])}
                if not set(projects.split(",")) & known:
                    return 404, None
            # Lazily, in the order asked: a page costs its rows (and those skipped by its
            # offset), not every issue the query holds; total_count is counted by bisection
            # when no other filter applies, as a database's index would.
            order = self.order()
            start = bisect.bisect_left(order, (low, 0)) if low is not None else 0
            stop = bisect.bisect_right(order, (high, 1 << 62)) if high is not None else len(order)
            if sort == "updated_on,id":
                ids: Any = (i for _, i in itertools.islice(order, start, stop))
            else:
                window = self._id_window(start, stop)
                ids = reversed(window) if sort == "id:desc" else iter(window[bisect.bisect_left(window, min_id):])

            def wanted(issue: dict[str, Any]) -> bool:
                if issue["id"] < min_id:
                    return False
                closed = issue["status"]["is_closed"]
                return (status == "*" or (status == "open" and not closed) or (status == "closed" and closed)
                        or str(issue["status"]["id"]) in set(status.split("|")))

            matching = (self.issues[i] for i in ids if wanted(self.issues[i]))
            page = [self.listed(i) for i in itertools.islice(matching, offset, offset + limit)]
            total = (stop - start if status == "*" and min_id == 0
                     else offset + len(page) + sum(1 for _ in matching))
            return 200, {"issues": page, "total_count": total, "offset": offset, "limit": limit}

    def _updated_bounds(self, updated: str) -> tuple[str | None, str | None] | None:
        """``>=t`` or ``><a|b`` as Redmine reads them: ``> t - 1 s`` and ``> a - 1 s and <= b``."""
        m = _BOUND.fullmatch(updated)
        if m is None:
            return None
        op, first, second = m.group(1), m.group(2), m.group(3)
        if op == "><" and second is None:
            return None

        def moment(text: str, end: bool) -> datetime:
            if "T" in text:
                return _parse_z(text)
            day = datetime.fromisoformat(text + "T00:00:00+00:00")
            return day + timedelta(days=1, seconds=-1) if end else day

        start = moment(first, False)
        if self.sqlite_slack and "T" in first:
            start -= timedelta(seconds=1)  # seen on SQLite: the bound is effectively 1 s earlier
        return _z(start), (_z(moment(second, True)) if second is not None else None)

    @staticmethod
    def _sorted(issues: list[dict[str, Any]], sort: str) -> list[dict[str, Any]] | None:
        keys = []
        for part in sort.split(","):
            name, _, direction = part.partition(":")
            if name not in ("id", "updated_on", "created_on"):
                return None
            keys.append((name, direction == "desc"))
        for name, desc in reversed(keys):
            issues = sorted(issues, key=lambda i: i[name], reverse=desc)
        return issues

    def get_issue(self, issue_id: int, query: dict[str, list[str]]) -> tuple[int, Any]:
        with self.lock:
            issue = self.issues.get(issue_id)
            if issue is None:
                return 404, None
            includes = {x for v in query.get("include", []) for x in v.split(",")}
            body = json.loads(json.dumps(issue if "journals" in includes else self.listed(issue)))
        return 200, {"issue": body}

    def put_issue(self, issue_id: int, payload: Any) -> tuple[int, Any]:
        status, body, _ = self.put_issue_and_kill(issue_id, payload)
        return status, body

    def put_issue_and_kill(self, issue_id: int, payload: Any) -> tuple[int, Any, int | None]:
        """The PUT, and the pid of a client to kill before answering (see kill_after)."""
        kill: list[int | None] = [None]
        status, body = self._put_issue(issue_id, payload, kill)
        return status, body, kill[0]

    def _put_issue(self, issue_id: int, payload: Any, kill: list[int | None]) -> tuple[int, Any]:
        if not isinstance(payload, dict) or not isinstance(payload.get("issue"), dict):
            return 422, {"errors": ["Invalid request"]}
        fields = payload["issue"]
        with self.lock:
            issue = self.issues.get(issue_id)
            if issue is None:
                return 404, None
            details: list[dict[str, Any]] = []
            changes: dict[str, Any] = {}
            if "due_date" in fields:
                value = fields["due_date"] or None
                if value is not None:
                    try:
                        date.fromisoformat(value)
                    except (TypeError, ValueError):
                        return 422, {"errors": ["Due date is not a valid date"]}
                if value != issue["due_date"]:
                    details.append({"property": "attr", "name": "due_date", "old_value": issue["due_date"],
                                    "new_value": value})
                    changes["due_date"] = value
            new_custom: dict[int, Any] = {}
            for cf in fields.get("custom_fields") or []:
                cf_id, value = cf.get("id"), cf.get("value")
                current = next((f for f in issue["custom_fields"] if f["id"] == cf_id), None)
                if current is None:
                    continue  # a field not enabled for the issue is ignored
                if current.get("multiple"):
                    values = [v for v in (value if isinstance(value, list) else [value]) if v not in ("", None)]
                    bad = [v for v in values if v not in LABEL_VALUES]
                    if bad:
                        return 422, {"errors": [f"{current['name']} is not included in the list"]}
                    old = list(current["value"])
                    for v in sorted(set(values) - set(old)):
                        details.append({"property": "cf", "name": str(cf_id), "old_value": None, "new_value": v})
                    for v in sorted(set(old) - set(values)):
                        details.append({"property": "cf", "name": str(cf_id), "old_value": v, "new_value": None})
                    if set(values) != set(old):
                        new_custom[cf_id] = sorted(set(values))
                else:
                    text = "" if value is None else str(value)
                    if len(text) > 255:
                        return 422, {"errors": [f"{current['name']} is too long (maximum is 255 characters)"]}
                    if text != current["value"]:
                        details.append({"property": "cf", "name": str(cf_id), "old_value": current["value"] or None,
                                        "new_value": text or None})
                        new_custom[cf_id] = text
            new_status = None
            if "status_id" in fields:
                try:
                    wanted = int(fields["status_id"])
                except (TypeError, ValueError):
                    wanted = -1
                if wanted in STATUS and wanted != issue["status"]["id"]:  # unknown: silently ignored
                    details.append(_status_detail(issue["status"]["id"], wanted))
                    new_status = wanted
            notes = fields.get("notes") or ""
            if details or notes:
                now = self.clock()
                issue["due_date"] = changes.get("due_date", issue["due_date"])
                for f in issue["custom_fields"]:
                    if f["id"] in new_custom:
                        f["value"] = new_custom[f["id"]]
                if new_status is not None:
                    issue["status"] = dict(STATUS[new_status])
                    issue["closed_on"] = _z(now) if STATUS[new_status]["is_closed"] else issue["closed_on"]
                journal = {"id": self._next_journal, "user": dict(API_USER), "notes": notes, "created_on": _z(now),
                           "updated_on": _z(now), "private_notes": bool(fields.get("private_notes", False)),
                           "details": details}
                self._next_journal += 1
                issue["journals"].append(journal)
                issue["updated_on"] = _z(now)
                self._order = None
            # what the PUT carried, for the report
            self.put_ids[issue_id] += 1
            self.put_seq += 1
            self.put_last[issue_id] = self.put_seq
            if "due_date" in fields or "custom_fields" in fields:
                self.put_kinds["fields"] += 1
            if notes:
                m = _MARKER_KIND.search(notes)
                self.put_kinds[f"note:{m.group(1) if m else 'other'}"] += 1
            if "status_id" in fields:
                self.put_kinds["status"] += 1
            if not (details or notes):
                self.put_kinds["no change"] += 1
            elif self._kill is not None:
                m = _MARKER_KIND.search(notes) if notes else None
                what = {"issue": issue_id, "notes": notes[-120:] if notes else "",
                        "status": fields.get("status_id"), "kind": m.group(1) if m else None}
                kill[0] = self._should_kill("note" if notes else "write", what)
        return 204, None

    def stats(self, ids: bool = True, written_after: int | None = None) -> dict[str, Any]:
        """Counters for the report. ``put_ids`` (PUTs per issue) holds an entry per issue
        written, so it is left out with ``ids=False`` (a benchmark's client would hold
        100,000 entries, twice, around the pass it measures); ``written_after`` (a
        ``put_seq`` read before) adds ``written_since``: the issues PUT since then."""
        with self.lock:
            statuses = Counter(i["status"]["name"] for i in self.issues.values())
            closed = [i for i in self.issues.values() if i["status"]["is_closed"]]
            extra: dict[str, Any] = {"put_ids": {str(k): v for k, v in self.put_ids.items()}} if ids else {}
            if written_after is not None:
                extra["written_since"] = sum(1 for seq in self.put_last.values() if seq > written_after)
            return {"requests": dict(self.requests), "put_kinds": dict(self.put_kinds), **extra,
                    "put_seq": self.put_seq, "statuses": dict(statuses),
                    "issues": len(self.issues),
                    "closed_by_api_user": sum(1 for i in closed if any(
                        j["user"]["id"] == API_USER["id"] and any(d["name"] == "status_id" for d in j["details"])
                        for j in i["journals"])),
                    "closed_with_due_date": sum(1 for i in closed if i["due_date"]),
                    "stale_closed_ids": [i["id"] for i in closed if i["due_date"] or any(
                        v in ("sla-version-manquante", "sla-a-risque") for v in i["custom_fields"][0]["value"])],
                    "closed_with_sla_labels": sum(1 for i in closed if any(
                        v in ("sla-version-manquante", "sla-a-risque") for v in i["custom_fields"][0]["value"]))}

    def rows(self) -> list[list[Any]]:
        with self.lock:
            return [[i["id"], i["updated_on"], i["status"]["id"]] for i in self.issues.values()]

    def count_since(self, bound: str) -> int:
        """Issues updated at or after `bound` (a stamp as the server writes them): by bisection."""
        with self.lock:
            order = self.order()
            return len(order) - bisect.bisect_left(order, (bound, 0))


_ISSUE = re.compile(r"/issues/(\d+)\.json")
_USER = re.compile(r"/users/(\d+)\.json")


def make_handler(app: FakeRedmine) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as puma does

        def setup(self) -> None:
            super().setup()
            # Headers and body go out in separate writes: without this, Nagle's
            # algorithm and the client's delayed ACK stall every keep-alive answer ~40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: Any = None) -> None:
            data = b"" if body is None else json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data:
                self.wfile.write(data)

        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query, keep_blank_values=True)
            path = url.path
            if path.startswith("/__bench/"):
                if method == "GET" and path == "/__bench/stats":
                    after = query.get("written_after", [""])[0]
                    return self._send(200, app.stats(ids=query.get("ids", ["1"])[0] != "0",
                                                     written_after=int(after) if after else None))
                if method == "GET" and path == "/__bench/rows":
                    return self._send(200, app.rows())
                if method == "GET" and path == "/__bench/count":
                    return self._send(200, {"count": app.count_since(query.get("since", [""])[0])})
                return self._send(404)
            if app.latency:  # a tracker across a network: each answer this much later (threads overlap)
                time.sleep(app.latency)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            m = _ISSUE.fullmatch(path)
            user = _USER.fullmatch(path)
            kind = ("issues_list" if path == "/issues.json" else "issue" if m else
                    {"/issue_statuses.json": "issue_statuses", "/enumerations/issue_priorities.json": "priorities",
                     "/users/current.json": "users_current"}.get(path)
                    # who-is-who lookups: counted apart from the benchmark's lookups, as "other ..."
                    or ("other users" if user else "other projects" if path.startswith("/projects") else
                        "other roles" if path.startswith("/roles/") else "other"))
            with app.lock:
                app.requests[f"{method} {kind}"] += 1
            key = self.headers.get("X-Redmine-API-Key") or (query.get("key") or [""])[-1]
            if key != app.api_key:
                with app.lock:
                    app.requests["401"] += 1
                return self._send(401)
            if method == "PUT" and m:
                try:
                    payload = json.loads(raw or b"null")
                except ValueError:
                    return self._send(400, {"errors": ["Invalid JSON"]})
                status, body, victim = app.put_issue_and_kill(int(m.group(1)), payload)
                if victim is None:
                    with app.lock:
                        victim = app._should_kill("request", {"request": f"{method} {self.path}"})
                if victim is not None:
                    return self._kill(victim)
                return self._send(status, body)
            answer = self._answer(method, path, kind, query, m, user)
            with app.lock:
                victim = app._should_kill("request", {"request": f"{method} {self.path}"})
            if victim is not None:
                return self._kill(victim)
            return self._send(*answer)

        def _answer(self, method: str, path: str, kind: str, query: dict[str, list[str]], m: Any,
                    user: Any) -> tuple[int, Any]:
            if method == "GET" and kind == "issues_list":
                return app.list_issues(query)
            if method == "GET" and m:
                return app.get_issue(int(m.group(1)), query)
            if method == "GET" and kind == "issue_statuses":
                return 200, {"issue_statuses": STATUSES}
            if method == "GET" and kind == "priorities":
                return 200, {"issue_priorities": PRIORITIES}
            if method == "GET" and kind == "users_current":
                me = app.user_json(API_USER["id"])
                assert me is not None
                return 200, {"user": {**me, "api_key": app.api_key}}
            if method == "GET" and user:
                found = app.user_json(int(user.group(1)))
                return (200, {"user": found}) if found else (404, None)
            if method == "GET" and path == "/projects.json":
                return 200, app.projects_json()
            if method == "GET" and re.fullmatch(r"/projects/(1|support)/memberships\.json", path):
                return 200, app.memberships_json()
            if method == "GET" and (r := re.fullmatch(r"/roles/(\d+)\.json", path)):
                role = ROLES.get(int(r.group(1)))
                return (200, {"role": {**role, "assignable": True}}) if role else (404, None)
            if method == "GET" and path == "/trackers.json":
                return 200, {"trackers": TRACKERS}
            if method == "GET" and path == "/custom_fields.json":
                return 403, None  # administrators only
            return 404, None

        def _kill(self, pid: int) -> None:
            """The write is applied; its client dies before it hears so (no answer is sent)."""
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.close_connection = True

        def do_GET(self) -> None:
            self._route("GET")

        def do_PUT(self) -> None:
            self._route("PUT")

        def do_POST(self) -> None:
            self._route("POST")

    return Handler


def _serve(conn: Any, n: int, seed: int, now_iso: str, api_key: str, sqlite_slack: bool, server_clock: str,
           latency: float = 0.0) -> None:
    app = FakeRedmine(n, seed, datetime.fromisoformat(now_iso), api_key, sqlite_slack=sqlite_slack,
                      server_clock=server_clock)
    app.latency = latency
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(app))
    server.request_queue_size = 64
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    conn.send(server.server_address[1])
    conn.recv()  # any message: stop
    server.shutdown()
    server.server_close()
    conn.send("stopped")


class ServerProcess:
    """The fake Redmine in its own process (spawned), on an ephemeral port of 127.0.0.1."""

    def __init__(self, n: int, seed: int, now: datetime, api_key: str, *, sqlite_slack: bool = True,
                 server_clock: str = "real", latency: float = 0.0) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, n, seed, now.isoformat(), api_key, sqlite_slack,
                                                        server_clock, latency), daemon=True, name="fake-redmine")
        self.process.start()
        deadline = time.monotonic() + 300
        while not self._conn.poll(0.2):
            if not self.process.is_alive() or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"the fake Redmine did not start (exit code {self.process.exitcode})")
        self.port: int = self._conn.recv()
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.is_alive():
            self._conn.send("stop")
            if self._conn.poll(10):
                self._conn.recv()
            self.process.join(10)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()


class ServerThread:
    """The fake Redmine served by a thread of the caller, on an ephemeral port of 127.0.0.1.

    The caller keeps the :class:`FakeRedmine` (``.app``) to script issues, move its clock,
    read its state and arm a kill. Empty unless ``n`` issues are generated.
    """

    def __init__(self, api_key: str, *, now: datetime | None = None, n: int = 0, seed: int = 0,
                 sqlite_slack: bool = True, server_clock: str | Callable[[], datetime] = "manual") -> None:
        start = now or datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
        self.app = FakeRedmine(n, seed, start, api_key, sqlite_slack=sqlite_slack, server_clock=server_clock)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self.app))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True, name="fake-redmine")
        self.thread.start()
        self.port: int = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def __enter__(self) -> "ServerThread":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
