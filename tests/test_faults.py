"""Hostile network: every built-in adapter syncs a scripted fortnight with ~20 % of its requests failing.

For each adapter (Redmine against ``benchmarks/fake_redmine.py``, a real HTTP server
on loopback; Jira Cloud and Data Center against ``tests/jira_fake.py``; Zammad
against ``tests/zammad_fake.py``), five tickets live through the same script:

- T1 (bloquante) waits for the customer from Monday 11:00 and never hears back
  (an agent asks "could you test the fix?" on Tuesday, which changes nothing):
  reminders 1, 2, 3 on the next business days, then the auto-close;
- T2 (bloquante) waits too, the customer answers on Wednesday afternoon after the
  second reminder: the cycle restarts (three new reminders, then the auto-close);
- T3 (majeure) waits from Monday 14:00 (an agent's nudge on Wednesday): reminders
  after 3, 6, 9 business days (Whit Monday, 9 June, is a holiday), closed the
  business day after the third;
- T4 (bloquante) is in progress (due date and labels, an acknowledge breach), and
  waits only from Tuesday;
- T5 (bloquante) waits, then an agent takes it back on Wednesday: no reminder
  after that, never closed by sla-bridge.

A simulated service drives the passes (``drive``): people act at their instants,
and a pass runs at each of them, at each timed change and retry the store knows
(``Store.earliest_change``), and a poll after a pass that failed — the injected
clock moves, nothing really sleeps (retry waits go to ``RetryPolicy(sleep=...)``,
which moves the clock; ``time.sleep`` raises). The same script runs once without
faults (the reference) and with the ``FaultInjector`` of ``tests/faults.py``
(~20 %: 429 with Retry-After, 500, 503, resets before the server and after it
applied a write, timeouts after it applied, truncated JSON); at the end the
faults stop and passes go on until nothing is left to retry. Then, by the
idempotency markers on the tracker and its history:

- no marker appears twice (0 duplicates), every reference marker is there and
  no other (0 missing, 0 extra), none posted more than ``LATE`` after the
  reference posted it (a reminder days late is a missed one);
- every closure the reference made was made exactly once by sla-bridge's user,
  and no other ticket was closed;
- the tickets end as in the reference (status, SLA labels, due date), and the
  last pass (no faults) writes nothing;
- no pass loops hot: requests per pass stay within a bound of the reference's,
  and the number of passes stays bounded.

At the end, one lookup of who an agent is fails once, on the day a reminder is due:
a Zammad user lookup answering 500, a Jira group lookup answering a cut body: both
found by these runs (the agent was taken for the customer and a reminder went wrong)
and fixed since: the ticket waits for its retry instead.

``benchmarks/fault_run.py`` runs the same over many seeds.
"""

from __future__ import annotations

import os
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses
from faults import FaultInjector, no_real_sleep

from sla_bridge.demo import builtin_config, example_config_text
from sla_bridge.httpclient import RetryPolicy
from sla_bridge.markers import markers_in
from sla_bridge.plugins import build_plugin_manager
from sla_bridge.store import Store
from sla_bridge.sync import Syncer, SyncSummary

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

T = datetime.fromisoformat
START = T("2025-06-02T09:00:00+02:00")  # Monday
END = T("2025-06-18T12:00:00+02:00")    # past T3's closure (Tuesday 17 June), with margin
ATTEMPTS = 4                            # the adapters' retry policy in these runs
MAX_PASSES = 600                        # a run that needs more loops over passes
POLL = timedelta(minutes=5)             # the service's poll after a pass that failed
HEAL_PASSES = 12                        # passes once the faults stop, to retry what is waiting
# A reminder may be posted later than in the reference by the retries of a ticket that failed
# (5 min doubling to 6 h): a few failures in a row at 20 % faults. Later than this is a miss.
LATE = timedelta(hours=8)


class SimClock:
    """The wall clock of the simulated world: the trackers stamp with it, the syncer reads it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        self.now = max(self.now, now)

    def sleep(self, seconds: float) -> None:
        """A retry's wait: time passes in the simulated world, not in the test."""
        self.now += timedelta(seconds=seconds)


# --- the script -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Step:
    at: datetime
    action: str  # create, acknowledge, wait, answer, take_back
    ticket: str  # T1..T5
    severity: str = "bloquante"


SCRIPT: tuple[Step, ...] = (
    *(Step(T("2025-06-02T09:30:00+02:00"), "create", t, "majeure" if t == "T3" else "bloquante")
      for t in ("T1", "T2", "T3", "T4", "T5")),
    *(Step(T("2025-06-02T10:00:00+02:00"), "acknowledge", t) for t in ("T1", "T2", "T3", "T5")),
    *(Step(T("2025-06-02T11:00:00+02:00"), "wait", t) for t in ("T1", "T2", "T5")),
    Step(T("2025-06-02T14:00:00+02:00"), "wait", "T3"),
    Step(T("2025-06-03T10:00:00+02:00"), "wait", "T4"),      # T4's acknowledge (3 h) is breached by then
    Step(T("2025-06-03T10:30:00+02:00"), "nudge", "T1"),     # an agent's public "any news?" while waiting
    Step(T("2025-06-04T10:30:00+02:00"), "nudge", "T3"),
    Step(T("2025-06-04T15:30:00+02:00"), "answer", "T2"),    # after its reminder 2 (Wednesday ~11:00)
    Step(T("2025-06-04T16:00:00+02:00"), "take_back", "T5"),
)


# --- one tracker, scripted ------------------------------------------------------------------------

class World:
    """A tracker fake, an adapter on it, a store and a syncer, on one simulated clock."""

    name: str
    syncer: Syncer
    store: Store

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.ids: dict[str, str] = {}
        self.sleeps: list[float] = []

    def retry(self) -> RetryPolicy:
        def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            self.clock.sleep(seconds)
        return RetryPolicy(attempts=ATTEMPTS, sleep=sleep)

    def make_syncer(self, config: Any, adapter: Any) -> None:
        self.store = Store(":memory:")
        self.syncer = Syncer(config, self.store, adapter, build_plugin_manager(load_entry_points=False),
                             clock=self.clock)
        # One worker: the simulated clock and the seeded faults follow the order of the requests,
        # so a seed replays one run. Workers at once are tested with real processes (test_crash).
        self.syncer.workers = 1

    def do(self, step: Step) -> None:
        if step.action == "create":
            self.ids[step.ticket] = self.create(step.ticket, step.severity)
        else:
            getattr(self, step.action)(self.ids[step.ticket])

    # People's actions (the tracker's own UI, not HTTP through the injector)
    def create(self, title: str, severity: str) -> str: raise NotImplementedError
    def acknowledge(self, ticket: str) -> None: raise NotImplementedError
    def wait(self, ticket: str) -> None: raise NotImplementedError
    def answer(self, ticket: str) -> None: raise NotImplementedError
    def take_back(self, ticket: str) -> None: raise NotImplementedError
    def nudge(self, ticket: str) -> None: raise NotImplementedError

    # What the tracker shows
    def posted(self, ticket: str) -> list[tuple[str, datetime]]: raise NotImplementedError

    def markers(self, ticket: str) -> list[str]:
        return [key for key, _ in self.posted(ticket)]
    def closures(self, ticket: str) -> int: raise NotImplementedError
    def state(self, ticket: str) -> tuple[Any, ...]: raise NotImplementedError


# Redmine: benchmarks/fake_redmine.py, a real HTTP server in a thread, on loopback.

REDMINE_KEY = "faults0123456789abcdef0123456789abcdef01"


class RedmineWorld(World):
    name = "redmine"

    def __init__(self, clock: SimClock, stack: ExitStack) -> None:
        super().__init__(clock)
        from fake_redmine import CUSTOMER, ServerThread

        self.server = stack.enter_context(ServerThread(REDMINE_KEY, server_clock=clock))
        self.fake = self.server.app
        self.customer = CUSTOMER
        os.environ["SLA_BRIDGE_FAULTS_REDMINE_KEY"] = REDMINE_KEY
        raw = tomllib.loads(example_config_text())
        raw["trackers"] = {"redmine": {
            "adapter": "redmine", "closing_status": "Closed", "comment_visibility": "public",
            "agents": ["login:agent", "role:Support"],
            "severities": {"Immediate": "bloquante", "Urgent": "bloquante", "High": "majeure", "Normal": "mineure",
                           "Low": "mineure"},
            "statuses": {"new": ["New"], "in_progress": ["In Progress"], "waiting_for_customer": ["Feedback"],
                         "resolved": ["Resolved"], "closed": ["Closed", "Rejected"]},
            "options": {"url": self.server.url, "api_key": {"env": "SLA_BRIDGE_FAULTS_REDMINE_KEY"},
                        "projects": ["support"], "labels_field": 1, "deadline_field": 2}}}
        self.config = builtin_config(raw)
        from sla_bridge.adapters.redmine import RedmineAdapter

        self.adapter = RedmineAdapter("redmine", self.config.file.trackers["redmine"], self.config,
                                      retry=self.retry())
        self.make_syncer(self.config, self.adapter)

    def create(self, title: str, severity: str) -> str:
        return str(self.fake.create_issue(title, priority=4 if severity == "bloquante" else 3))

    def acknowledge(self, ticket: str) -> None:
        from fake_redmine import AGENT, IN_PROGRESS
        self.fake.act(int(ticket), AGENT, notes="Nous regardons.", status=IN_PROGRESS)

    def wait(self, ticket: str) -> None:
        from fake_redmine import AGENT, FEEDBACK
        self.fake.act(int(ticket), AGENT, notes="Un correctif est prêt : merci de tester.", status=FEEDBACK)

    def answer(self, ticket: str) -> None:
        self.fake.act(int(ticket), self.customer, notes="Toujours en panne chez nous.")

    def nudge(self, ticket: str) -> None:
        from fake_redmine import AGENT
        self.fake.act(int(ticket), AGENT, notes="Avez-vous pu tester le correctif ?")

    def take_back(self, ticket: str) -> None:
        from fake_redmine import AGENT, IN_PROGRESS
        self.fake.act(int(ticket), AGENT, notes="Nous reprenons l'analyse.", status=IN_PROGRESS)

    def posted(self, ticket: str) -> list[tuple[str, datetime]]:
        with self.fake.lock:
            journals = list(self.fake.issues[int(ticket)]["journals"])
        return [(k, T(j["created_on"].replace("Z", "+00:00"))) for j in journals for k in markers_in(j["notes"] or "")]

    def closures(self, ticket: str) -> int:
        from fake_redmine import CLOSED
        return sum(1 for _, to in self.fake.status_changes(int(ticket)) if to == CLOSED)

    def state(self, ticket: str) -> tuple[Any, ...]:
        issue = self.fake.issues[int(ticket)]
        return (issue["status"]["name"], tuple(sorted(issue["custom_fields"][0]["value"])), issue["due_date"],
                issue["custom_fields"][1]["value"])


# Jira: tests/jira_fake.py on `responses`, Cloud or Data Center.

JIRA_URLS = {"cloud": "https://acme.atlassian.net", "datacenter": "https://jira.acme.test"}


class JiraWorld(World):
    def __init__(self, clock: SimClock, stack: ExitStack, flavour: str, agents: str = "id") -> None:
        super().__init__(clock)
        from jira_fake import FakeJira

        from sla_bridge.adapters.jira import JiraAdapter

        self.name = f"jira-{flavour}"
        os.environ["SLA_BRIDGE_FAULTS_JIRA_TOKEN"] = "t0k3n"
        rsps = stack.enter_context(responses.RequestsMock(assert_all_requests_are_fired=False))
        self.fake = FakeJira(rsps, clock, flavour=flavour, url=JIRA_URLS[flavour])
        self.fake.add_user("sam", "Sam Agent", groups=("jira-servicedesk-users", "support"))
        self.fake.add_user("alice", "Alice Customer", kind="customer", email="alice@customer.test")
        credentials: dict[str, Any] = (
            {"email": "sla-bridge@acme.test", "api_token": {"env": "SLA_BRIDGE_FAULTS_JIRA_TOKEN"}}
            if flavour == "cloud" else {"token": {"env": "SLA_BRIDGE_FAULTS_JIRA_TOKEN"}})
        raw = tomllib.loads(example_config_text())
        raw["trackers"] = {"jira": {
            "adapter": "jira", "closing_status": "Closed", "comment_visibility": "public",
            "agents": [self.fake.user_id("sam")] if agents == "id" else ["group:support"],
            "severities": {"Highest": "bloquante", "High": "majeure", "Medium": "mineure", "Low": "mineure"},
            "statuses": {"new": ["To Do"], "in_progress": ["In Progress"],
                         "waiting_for_customer": ["Waiting for customer"], "resolved": ["Resolved"],
                         "closed": ["Closed"]},
            "options": {"url": self.fake.url, "deployment": "auto", **credentials, "projects": ["SUP"],
                        "deadline_field": "customfield_10050"}}}
        self.config = builtin_config(raw)
        # The adapter's caches (an hour for a user's groups) age with the simulated clock.
        self.adapter = JiraAdapter("jira", self.config.file.trackers["jira"], self.config, retry=self.retry(),
                                   monotonic=lambda: clock().timestamp())
        self.make_syncer(self.config, self.adapter)

    def create(self, title: str, severity: str) -> str:
        return self.fake.create(title, "alice", priority="Highest" if severity == "bloquante" else "High")

    def acknowledge(self, ticket: str) -> None:
        self.fake.comment(ticket, "sam", "Looking into it.")
        self.fake.set_status(ticket, "In Progress", "sam")

    def wait(self, ticket: str) -> None:
        self.fake.comment(ticket, "sam", "A fix is ready: please test it.")
        self.fake.set_status(ticket, "Waiting for customer", "sam")

    def answer(self, ticket: str) -> None:
        self.fake.comment(ticket, "alice", "Still broken here.")

    def nudge(self, ticket: str) -> None:
        self.fake.comment(ticket, "sam", "Could you test the fix?")

    def take_back(self, ticket: str) -> None:
        self.fake.comment(ticket, "sam", "We are looking again.")
        self.fake.set_status(ticket, "In Progress", "sam")

    def posted(self, ticket: str) -> list[tuple[str, datetime]]:
        from jira_fake import parse
        return [(k, parse(c["created"])) for c in self.fake.issue(ticket).comments
                for k in markers_in(c["body"].replace("\\[", "[").replace("\\]", "]"))]

    def closures(self, ticket: str) -> int:
        me = self.fake.user_id("sla")
        key = "accountId" if self.fake.cloud else "name"
        return sum(1 for h in self.fake.issue(ticket).histories if (h.get("author") or {}).get(key) == me
                   for item in h["items"] if item["field"] == "status" and item["toString"] == "Closed")

    def state(self, ticket: str) -> tuple[Any, ...]:
        fields = self.fake.issue(ticket).fields
        return (fields["status"]["name"], tuple(sorted(fields["labels"])), fields["duedate"],
                fields["customfield_10050"])


# Zammad: tests/zammad_fake.py on `responses`.

class ZammadWorld(World):
    name = "zammad"

    def __init__(self, clock: SimClock, stack: ExitStack) -> None:
        super().__init__(clock)
        from zammad_fake import FakeZammad

        from sla_bridge.adapters.zammad import ZammadAdapter

        os.environ["SLA_BRIDGE_FAULTS_ZAMMAD_TOKEN"] = "zammad-t0ken"
        rsps = stack.enter_context(responses.RequestsMock(assert_all_requests_are_fired=False))
        self.fake = FakeZammad(clock, token="zammad-t0ken").install(rsps)
        raw = tomllib.loads(example_config_text())
        raw["trackers"] = {"zammad": {
            "adapter": "zammad", "closing_status": "closed", "comment_visibility": "public",
            "agents": ["role:Agent"],
            "severities": {"3 high": "bloquante", "2 normal": "majeure", "1 low": "mineure"},
            "statuses": {"new": ["new"], "in_progress": ["open"], "waiting_for_customer": ["pending reminder"],
                         "resolved": ["pending close"], "closed": ["closed", "merged"]},
            "options": {"url": self.fake.url, "token": {"env": "SLA_BRIDGE_FAULTS_ZAMMAD_TOKEN"},
                        "due_attribute": "sla_due_at", "reminder_article": "email", "page_size": 100}}}
        self.config = builtin_config(raw)
        self.adapter = ZammadAdapter("zammad", self.config.file.trackers["zammad"], self.config,
                                     retry=self.retry())
        self.adapter.directory.clock = lambda: clock().timestamp()  # users kept user_cache_seconds, simulated
        self.make_syncer(self.config, self.adapter)

    def create(self, title: str, severity: str) -> str:
        return str(self.fake.create_ticket(title, priority="3 high" if severity == "bloquante" else "2 normal"))

    def acknowledge(self, ticket: str) -> None:
        from zammad_fake import AGENT
        self.fake.add_article(int(ticket), AGENT, body="Looking into it.", type="email",
                              to="alice@customer.example")
        self.fake.update(int(ticket), AGENT, state="open")

    def wait(self, ticket: str) -> None:
        from zammad_fake import AGENT
        self.fake.add_article(int(ticket), AGENT, body="A fix is ready: please test it.", type="email",
                              to="alice@customer.example")
        self.fake.update(int(ticket), AGENT, state="pending reminder", pending_time="2025-07-01T07:00:00.000Z")

    def answer(self, ticket: str) -> None:
        from zammad_fake import CUSTOMER
        self.fake.add_article(int(ticket), CUSTOMER, body="Still broken here.", type="email", sender="Customer")

    def nudge(self, ticket: str) -> None:
        from zammad_fake import AGENT
        self.fake.add_article(int(ticket), AGENT, body="Could you test the fix?", type="email",
                              to="alice@customer.example")

    def take_back(self, ticket: str) -> None:
        from zammad_fake import AGENT
        self.fake.add_article(int(ticket), AGENT, body="We are looking again.", type="note", internal=True)
        self.fake.update(int(ticket), AGENT, state="open")

    def posted(self, ticket: str) -> list[tuple[str, datetime]]:
        return [(k, T(a["created_at"].replace("Z", "+00:00"))) for a in self.fake.articles[int(ticket)]
                if a.get("created_by_id") == self._me() for k in markers_in(a["body"] or "")]

    def _me(self) -> int:
        from zammad_fake import API_USER
        return API_USER

    def closures(self, ticket: str) -> int:
        return sum(1 for h in self.fake.history[int(ticket)] if h.get("attribute") == "state"
                   and h.get("value_to") == "closed" and h.get("created_by_id") == self._me())

    def state(self, ticket: str) -> tuple[Any, ...]:
        t = self.fake.tickets[int(ticket)]
        return (self.fake.state(int(ticket)), tuple(sorted(self.fake.tags[int(ticket)])), t.get("sla_due_at"))


WORLDS: dict[str, Callable[[SimClock, ExitStack], World]] = {
    "redmine": RedmineWorld,
    "jira-cloud": lambda clock, stack: JiraWorld(clock, stack, "cloud"),
    "jira-datacenter": lambda clock, stack: JiraWorld(clock, stack, "datacenter"),
    # Agents named by a Jira group (``group:support``): every author's groups are looked up,
    # an hour at a time, and a lookup that fails must never make an agent a customer.
    "jira-cloud-groups": lambda clock, stack: JiraWorld(clock, stack, "cloud", agents="group"),
    "jira-datacenter-groups": lambda clock, stack: JiraWorld(clock, stack, "datacenter", agents="group"),
    "zammad": ZammadWorld,
}
ALL_WORLDS = WORLDS


# --- the simulated service --------------------------------------------------------------------------

@dataclass(frozen=True)
class Pass:
    at: datetime
    requests: int
    complete: bool
    errors: int
    applied: int


@dataclass
class Run:
    """What one scripted run did, and what the tracker shows at its end."""

    world: str
    seed: int | None
    passes: list[Pass] = field(default_factory=list)
    markers: dict[str, list[str]] = field(default_factory=dict)
    posted: dict[str, dict[str, datetime]] = field(default_factory=dict)
    closures: dict[str, int] = field(default_factory=dict)
    states: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    final: SyncSummary | None = None
    faults: str = ""
    lost_writes: int = 0     # writes the server applied whose answer was lost
    lost_comments: int = 0   # of which reminders and closure notices
    sleeps: float = 0.0
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0
    healing: int = 0  # passes after the faults stopped

    @property
    def max_requests(self) -> int:
        return max(p.requests for p in self.passes)


def drive(world: World, injector: FaultInjector, script: tuple[Step, ...] = SCRIPT, end: datetime = END) -> Run:
    """Runs passes as the service would, from the script's start to `end`, then a last pass without faults."""
    clock = world.clock
    steps = sorted(script, key=lambda s: s.at)
    run = Run(world.name, injector.seed if injector.rate else None)
    backoff = timedelta(0)
    started = time.perf_counter()
    while True:
        while steps and steps[0].at <= clock():
            world.do(steps.pop(0))
        before = injector.requests
        summary = world.syncer.run(clock())
        run.passes.append(Pass(clock(), injector.requests - before, summary.complete, len(summary.errors),
                               sum(summary.applied.values())))
        run.errors += summary.errors
        if len(run.passes) > MAX_PASSES:
            raise AssertionError(f"{world.name}: more than {MAX_PASSES} passes: the passes loop; last errors:"
                                 f" {summary.errors[-3:]}")
        wakes = [steps[0].at] if steps else []
        earliest = world.store.earliest_change([world.syncer.adapter.name])
        if earliest is not None:
            wakes.append(earliest)
        if not summary.complete or summary.errors:
            backoff = min(max(backoff * 2, timedelta(seconds=30)), timedelta(minutes=10))
            wakes.append(clock() + min(backoff, POLL))
        else:
            backoff = timedelta(0)
        if not wakes:
            break
        wake = max(min(wakes), clock() + timedelta(seconds=1))  # the service's MIN_WAKE
        if wake > end:
            break
        clock.set(wake)
    # The network heals: passes go on at each retry still waiting (nothing new happens on the
    # tracker) until one finds nothing left to retry and nothing to write.
    injector.enabled = False
    clock.set(end)
    for _ in range(HEAL_PASSES):
        before = injector.requests
        run.final = world.syncer.run(clock())
        run.passes.append(Pass(clock(), injector.requests - before, run.final.complete, len(run.final.errors),
                               sum(run.final.applied.values())))
        run.healing += 1
        retries = [T(r["retry_at"].replace("Z", "+00:00")) for r in world.store.retries()]
        if not retries and run.final.complete and not run.final.errors and not run.final.applied:
            break
        clock.set(max([clock() + timedelta(seconds=1), *retries]))
    run.markers = {t: world.markers(i) for t, i in world.ids.items()}
    run.posted = {t: dict(reversed(world.posted(i))) for t, i in world.ids.items()}  # key -> first posting
    run.closures = {t: world.closures(i) for t, i in world.ids.items()}
    run.states = {t: world.state(i) for t, i in world.ids.items()}
    run.faults = injector.summary()
    run.lost_writes = len(injector.applied_writes_lost())
    run.lost_comments = len(injector.comments_lost())
    run.sleeps = sum(world.sleeps)
    run.wall = time.perf_counter() - started
    return run


@contextmanager
def no_sleep() -> Iterator[None]:
    original = time.sleep
    time.sleep = no_real_sleep  # type: ignore[assignment]
    try:
        yield
    finally:
        time.sleep = original


def scripted_run(world: str, seed: int | None, rate: float = 0.2, script: tuple[Step, ...] = SCRIPT,
                 end: datetime = END, injector: Callable[[SimClock], FaultInjector] | None = None) -> Run:
    """One run of `script` on `world`; ``seed=None``: no faults (the reference). ``injector``
    builds a particular injector from the simulated clock instead of the seeded ~20 % one."""
    with ExitStack() as stack, no_sleep():
        clock = SimClock(START)
        w = ALL_WORLDS[world](clock, stack)
        chosen = injector(clock) if injector else FaultInjector(seed or 0, rate=rate if seed is not None else 0.0)
        stack.enter_context(chosen.installed())
        return drive(w, chosen, script, end)


def compare(run: Run, reference: Run) -> dict[str, Any]:
    """Duplicates, missing and extra markers, closures, end states, against the reference."""
    duplicates = {t: [k for k, n in Counter(keys).items() if n > 1] for t, keys in run.markers.items()}
    missing = {t: sorted(set(reference.markers[t]) - set(keys)) for t, keys in run.markers.items()}
    extra = {t: sorted(set(keys) - set(reference.markers[t])) for t, keys in run.markers.items()}
    return {
        "duplicates": {t: d for t, d in duplicates.items() if d},
        "missing": {t: m for t, m in missing.items() if m},
        "extra": {t: e for t, e in extra.items() if e},
        "closures": {t: (n, reference.closures[t]) for t, n in run.closures.items() if n != reference.closures[t]},
        "states": {t: (s, reference.states[t]) for t, s in run.states.items() if s != reference.states[t]},
        "late": {t: late for t, late in lateness(run, reference).items() if max(late.values()) > LATE},
    }


def lateness(run: Run, reference: Run) -> dict[str, dict[str, timedelta]]:
    """How much later than in the reference each reminder and closure notice was posted."""
    return {t: {k: at - reference.posted[t][k] for k, at in posted.items() if k in reference.posted[t]} or
            {"": timedelta(0)} for t, posted in run.posted.items()}


def budget(reference: Run) -> int:
    """Requests one pass may make: twice the busiest reference pass (its retries, the lookups a
    pass that failed early makes again, the re-reads before a write), plus a margin."""
    return 2 * reference.max_requests + 20


def pass_budget(reference: Run) -> int:
    """Passes a faulty run may take: the reference's, plus a few per failure-driven retry."""
    return 4 * len(reference.passes) + 20


# --- the tests --------------------------------------------------------------------------------------

def steps(keys: list[str]) -> list[str]:
    """Marker keys as the steps they are: reminder1, reminder2, ..., closure."""
    return [k.split("/")[1] + ("" if "/closure/" in k else k.rsplit("/", 1)[-1]) for k in keys]


_REFERENCES: dict[tuple[str, tuple[Step, ...]], Run] = {}


def reference(world: str, script: tuple[Step, ...] = SCRIPT, end: datetime = END) -> Run:
    if (world, script) not in _REFERENCES:
        _REFERENCES[world, script] = scripted_run(world, None, script=script, end=end)
    return _REFERENCES[world, script]


@pytest.mark.parametrize("world", list(WORLDS))
def test_the_reference_run_does_what_the_contract_says(world: str) -> None:
    ref = reference(world)
    kinds = {t: steps(keys) for t, keys in ref.markers.items()}
    assert kinds["T1"] == ["reminder1", "reminder2", "reminder3", "closure"]
    assert kinds["T2"] == ["reminder1", "reminder2", "reminder1", "reminder2", "reminder3", "closure"]
    assert kinds["T3"] == ["reminder1", "reminder2", "reminder3", "closure"]
    assert kinds["T4"] == ["reminder1", "reminder2", "reminder3", "closure"]
    assert kinds["T5"] == ["reminder1", "reminder2"]
    assert ref.closures == {"T1": 1, "T2": 1, "T3": 1, "T4": 1, "T5": 0}
    assert ref.final is not None and ref.final.errors == [] and not ref.final.applied
    assert ref.errors == [], ref.errors


SEEDS = [int(s) for s in os.environ.get("SLA_BRIDGE_FAULT_SEEDS", "1,2").split(",")]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("world", list(WORLDS))
def test_faults_on_every_fifth_request_change_nothing_the_customer_sees(world: str, seed: int) -> None:
    ref = reference(world)
    run = scripted_run(world, seed)
    report = compare(run, ref)
    where = f"{world} seed {seed}: {run.faults}; {len(run.passes)} passes (reference {len(ref.passes)})"
    assert report["duplicates"] == {}, f"{where}: a reminder or closure notice sent twice: {report['duplicates']}"
    assert report["missing"] == {}, f"{where}: missing: {report['missing']}"
    assert report["extra"] == {}, f"{where}: sent but not in the reference: {report['extra']}"
    assert report["closures"] == {}, f"{where}: closures (this run, reference): {report['closures']}"
    assert report["states"] == {}, f"{where}: end states (this run, reference): {report['states']}"
    assert report["late"] == {}, f"{where}: posted more than {LATE} after the reference: {report['late']}"
    assert run.final is not None and run.final.complete and run.final.errors == [], run.final and run.final.errors
    assert not run.final.applied, f"{where}: the fault-free last pass still wrote {dict(run.final.applied)}"
    limit = budget(ref)
    hot = [p for p in run.passes if p.requests > limit]
    assert not hot, f"{where}: passes over {limit} requests: {hot[:3]}"
    assert len(run.passes) <= pass_budget(ref), f"{where}: {len(run.passes)} passes"


def test_the_injector_is_deterministic_per_seed_and_hits_every_kind() -> None:
    a, b = FaultInjector(7), FaultInjector(7)
    draws_a = [a.draw() for _ in range(2000)]
    assert draws_a == [b.draw() for _ in range(2000)]
    assert draws_a != [FaultInjector(8).draw() for _ in range(2000)]
    share = sum(1 for d in draws_a if d) / len(draws_a)
    assert 0.17 < share < 0.23
    assert {d for d in draws_a if d} == {"429", "500", "503", "reset_before", "reset_after", "timeout", "truncated"}


@pytest.mark.parametrize("world", ["redmine", "zammad"])
def test_one_seed_gives_one_run(world: str) -> None:
    first, second = scripted_run(world, 3), scripted_run(world, 3)
    assert first.faults == second.faults and first.markers == second.markers and first.posted == second.posted
    assert [p.requests for p in first.passes] == [p.requests for p in second.passes]
    assert first.faults != scripted_run(world, 4).faults


# --- a person misread for one pass ------------------------------------------------------------------
# One ticket waits from Monday 11:00; an agent asks "could you test the fix?" on Monday
# 15:00 (an agent's comment: the waiting cycle goes on). Reminder 1 on Tuesday 11:00,
# reminder 2 on Wednesday 11:00, reminder 3 on Thursday, the closure on Friday. On
# Wednesday at 11:00 (and only then) the lookup of who the agent is fails the way a
# tracker's answers fail under load. If the adapter then takes the agent for the
# customer, Monday's comment becomes a customer answer and the cycle restarts from it:
# the customer is sent a "reminder 1 of 3" of that made-up cycle, and the real
# reminder 2 is never sent (the next passes see the agent again, and the real cycle
# has moved on to reminder 3).

NUDGED: tuple[Step, ...] = (
    Step(T("2025-06-02T09:30:00+02:00"), "create", "T1"),
    Step(T("2025-06-02T10:00:00+02:00"), "acknowledge", "T1"),
    Step(T("2025-06-02T11:00:00+02:00"), "wait", "T1"),
    Step(T("2025-06-02T15:00:00+02:00"), "nudge", "T1"),
)
NUDGED_END = T("2025-06-06T18:00:00+02:00")
WEDNESDAY = (T("2025-06-04T10:59:00+02:00"), T("2025-06-04T11:30:00+02:00"))


def on_wednesday(path_end: str, kind: str) -> Callable[[SimClock], FaultInjector]:
    """Every request whose path ends with `path_end` fails with `kind`, on Wednesday 11:00 only."""
    def build(clock: SimClock) -> FaultInjector:
        return FaultInjector(0, rate=1.0, kinds={kind: 1.0},
                             only=lambda r: (r.path_url or "").split("?")[0].endswith(path_end)
                             and WEDNESDAY[0] <= clock() < WEDNESDAY[1])
    return build


class Misread(AssertionError):
    """What the customer was sent differs from the fault-free run: the bug the xfail tests show."""


def misread_run(world: str, path_end: str, kind: str) -> None:
    """The nudged ticket with the lookup failing on Wednesday; raises Misread if the customer sees it."""
    ref = reference(world, NUDGED, NUDGED_END)
    run = scripted_run(world, 0, script=NUDGED, end=NUDGED_END, injector=on_wednesday(path_end, kind))
    # The harness did what it says (a plain AssertionError otherwise, not the expected failure):
    assert 1 <= int(run.faults.split()[0]) <= 40 and kind in run.faults, run.faults  # retried, then it heals
    assert run.final is not None and run.final.complete and not run.final.errors
    report = {k: v for k, v in compare(run, ref).items() if v}
    if report:
        raise Misread(f"{world}, {run.faults} on Wednesday 11:00 ({path_end}): {report}")


@pytest.mark.parametrize("world", ["zammad", "jira-cloud-groups", "jira-datacenter-groups"])
def test_the_misread_scenario_without_faults(world: str) -> None:
    ref = reference(world, NUDGED, NUDGED_END)
    assert steps(ref.markers["T1"]) == ["reminder1", "reminder2", "reminder3", "closure"], ref.markers
    assert ref.closures == {"T1": 1}


def test_zammad_an_agent_lookup_answering_500_never_makes_a_customer_answer() -> None:
    """Found by these runs: the lookup now fails the ticket, which is read again later."""
    misread_run("zammad", "/users/4", "500")


@pytest.mark.parametrize("world, path_end", [("jira-cloud-groups", "/user/groups"),
                                             ("jira-datacenter-groups", "/user")])
def test_jira_a_truncated_group_lookup_never_makes_an_agent_a_customer(world: str, path_end: str) -> None:
    """Found by these runs (an unreadable group lookup was cached an hour as "no groups": the agent
    became the customer, a made-up cycle's reminder was sent, the real reminder 2 never was); the
    adapter now skips that ticket until its lookup can be read."""
    misread_run(world, path_end, "truncated")
