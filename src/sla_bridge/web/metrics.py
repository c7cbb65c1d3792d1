"""Prometheus metrics: counters from the plugin hooks, gauges from the store at scrape time.

The counters are gathered by an ordinary plugin (``MetricsPlugin``) the service
registers beside the adapters: a pass ending, an action applied, a breach. What is
true *now* (tickets per clock and state, the last complete pass, the next wake-up)
is read from the store when Prometheus asks, so it is right even for passes made by
a cron ``sync`` beside the service.

Every metric lives in the face's own ``CollectorRegistry``, never the process-wide
one: two services in one test process do not add up. Labels are trackers, kinds
and states, never ticket ids: a label per ticket would make one series per ticket
for ever.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from .. import __version__
from ..config import TrackerSection
from ..contracts import DEFAULT, Contracts
from ..engine import build as engine_build
from ..hookspecs import hookimpl
from .storeview import PassInfo, StoreUnavailable, StoreView

if TYPE_CHECKING:
    from ..actions import Action
    from ..engine import ClockEvaluation, Evaluation
    from ..model import Ticket
    from ..sync import SyncSummary

log = logging.getLogger(__name__)
PASS_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
WEBHOOK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)


def error_kind(message: str) -> str:
    """The kind of a pass's error, from the words ``sync.py`` writes (see README, Failure behaviour)."""
    for marker, kind in ((": deferred: ", "write_deferred"), (": skipped, malformed", "malformed"),
                         (": skipped, unexpected", "unexpected"), (": skipped: ", "skipped"),
                         (": the tracker did not take: ", "not_taken")):
        if marker in message:
            return kind
    return "pass"  # the tracker or the store was unusable, or another pass held the lock


class Metrics:
    """The face's registry and its counters."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.passes = Counter("sla_bridge_passes", "Sync passes ended, by tracker and outcome (complete,"
                              " incomplete).", ["tracker", "outcome"], registry=r)
        self.pass_duration = Histogram("sla_bridge_pass_duration_seconds", "How long a sync pass took.",
                                       ["tracker"], buckets=PASS_BUCKETS, registry=r)
        self.tickets_read = Counter("sla_bridge_tickets_read", "Tickets read from the tracker by sync passes.",
                                    ["tracker"], registry=r)
        self.writes = Counter("sla_bridge_writes", "Actions applied to a tracker, by kind (due_date, labels,"
                              " comment, transition).", ["tracker", "kind"], registry=r)
        self.errors = Counter("sla_bridge_errors", "Errors reported by sync passes, by kind (pass, write_deferred,"
                              " skipped, malformed, unexpected, not_taken).", ["tracker", "kind"], registry=r)
        self.conflicts = Counter("sla_bridge_conflicts", "Fields a person changed after sla-bridge wrote them.",
                                 ["tracker"], registry=r)
        self.breaches = Counter("sla_bridge_breaches", "Clocks that became breached.", ["tracker", "clock"],
                                registry=r)
        self.webhook_requests = Counter("sla_bridge_webhook_requests", "Webhook deliveries received, by tracker"
                                        " and outcome.", ["tracker", "outcome"], registry=r)
        self.webhook_syncs = Counter("sla_bridge_webhook_syncs", "Syncs of tickets named by webhooks, by tracker"
                                     " and outcome.", ["tracker", "outcome"], registry=r)
        self.webhook_latency = Histogram("sla_bridge_webhook_latency_seconds", "From a webhook's arrival to the"
                                         " end of its ticket's sync.", ["tracker"], buckets=WEBHOOK_BUCKETS,
                                         registry=r)
        self.queue_size = Gauge("sla_bridge_webhook_queue_tickets", "Tickets named by webhooks waiting for"
                                " their sync.", registry=r)
        # Which release runs, and whether its engine is the compiled one (``make wheel``).
        Info("sla_bridge_build", "This process's version and how its engine runs (compiled or pure Python).",
             registry=r).info({"version": __version__, "engine": engine_build()})
        self._lock = threading.Lock()
        self.last_complete: dict[str, datetime] = {}  # this process's passes; the store knows the others
        self.plugin = MetricsPlugin(self)

    def pass_ended(self, tracker: str, summary: "SyncSummary") -> None:
        if summary.dry_run:
            return
        self.passes.labels(tracker, "complete" if summary.complete else "incomplete").inc()
        if summary.finished is not None:
            self.pass_duration.labels(tracker).observe(max(0.0, (summary.finished - summary.started).total_seconds()))
            if summary.complete:
                with self._lock:
                    self.last_complete[tracker] = summary.finished
        self.count_summary(tracker, summary)

    def count_summary(self, tracker: str, summary: "SyncSummary") -> None:
        """Reads, errors and conflicts of a pass or of a webhook's sync (writes come one by one)."""
        self.tickets_read.labels(tracker).inc(summary.tickets_read)
        for message in summary.errors:
            self.errors.labels(tracker, error_kind(message)).inc()
        if summary.conflicts:
            self.conflicts.labels(tracker).inc(len(summary.conflicts))


class MetricsPlugin:
    """The built-in observer plugin: the hooks of ``hookspecs.py`` turned into counters."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    @hookimpl
    def sla_bridge_sync_finished(self, adapter: str, summary: "SyncSummary") -> None:
        self.metrics.pass_ended(adapter, summary)

    @hookimpl
    def sla_bridge_action_applied(self, ticket: "Ticket", action: "Action", adapter: str) -> None:
        self.metrics.writes.labels(adapter, action.kind).inc()

    @hookimpl
    def sla_bridge_breach(self, ticket: "Ticket", clock: "ClockEvaluation", evaluation: "Evaluation") -> None:
        self.metrics.breaches.labels(ticket.tracker, clock.clock.value).inc()


class StoreCollector(Collector):
    """Gauges read from the store (and the scheduler) when Prometheus scrapes."""

    def __init__(self, view: StoreView, trackers: Iterable[str], last_complete: Callable[[], dict[str, datetime]],
                 next_wakeups: Callable[[], dict[str, datetime]], contracts: Contracts | None = None) -> None:
        self.view = view
        self.trackers = list(trackers)
        self.last_complete = last_complete
        self.next_wakeups = next_wakeups
        # Which contracts each tracker serves: from `contracts`, else from the tracker sections given.
        self.contracts = _contracts_on(contracts, trackers if isinstance(trackers, Mapping) else self.trackers)

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("sla_bridge_store_up", "1 when the state store could be read for this scrape.")
        try:
            states, counts = self.view.clock_states(), self.view.counts()
            passes, changes = self.view.passes(), self.view.earliest_changes()
        except StoreUnavailable as exc:
            log.warning("metrics: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        tickets = GaugeMetricFamily("sla_bridge_tickets", "Tickets known to the store, by clock and state.",
                                    labels=["tracker", "clock", "state"])
        for tracker, clock, state, n in states:
            tickets.add_metric([tracker, clock, state], n)
        yield tickets
        known = GaugeMetricFamily("sla_bridge_tickets_known", "Tickets known to the store.", labels=["tracker"])
        retrying = GaugeMetricFamily("sla_bridge_tickets_retrying", "Tickets waiting for a retry after a failure.",
                                     labels=["tracker"])
        for tracker in self.trackers:
            known.add_metric([tracker], counts.get(tracker, (0, 0))[0])
            retrying.add_metric([tracker], counts.get(tracker, (0, 0))[1])
        yield known
        yield retrying
        yield self._instants("sla_bridge_last_successful_pass_timestamp_seconds",
                             "When the tracker's last complete pass ended (Unix time).",
                             last_successful(passes, self.last_complete()))
        yield self._instants("sla_bridge_next_wakeup_timestamp_seconds",
                             "When the service next runs a pass of the tracker (Unix time).", self.next_wakeups())
        yield self._instants("sla_bridge_next_timed_change_timestamp_seconds",
                             "The tracker's earliest timed change or retry in the store (Unix time).", changes)
        if self.contracts:
            info = GaugeMetricFamily("sla_bridge_contract_info", "1 for each contract a tracker's tickets are"
                                     " under (its own, its customers').", labels=["tracker", "contract"])
            for tracker, keys in self.contracts.items():
                for key in keys:
                    info.add_metric([tracker, key], 1)
            yield info

    def _instants(self, name: str, documentation: str, values: dict[str, datetime]) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, documentation, labels=["tracker"])
        for tracker in self.trackers:
            if tracker in values:
                family.add_metric([tracker], values[tracker].timestamp())
        return family


def _contracts_on(contracts: Contracts | None, trackers: Iterable[str]) -> dict[str, list[str]]:
    """Per tracker, the keys of the contracts it serves; empty with one contract (no label to add).

    One series per tracker and contract: bounded by the configuration, never by tickets.
    """
    if contracts is not None:
        if not contracts.several:
            return {}
        return {t: [c.key for c in contracts.on_tracker(t)] for t in trackers}
    if not isinstance(trackers, Mapping):
        return {}
    found = {str(name): list(dict.fromkeys([section.contract or DEFAULT] + [
        c.contract for c in section.customers.values() if c.contract]))
        for name, section in trackers.items() if isinstance(section, TrackerSection)}
    return found if any(keys != [DEFAULT] for keys in found.values()) else {}


def last_successful(passes: dict[str, PassInfo], in_process: dict[str, datetime]) -> dict[str, datetime]:
    """The last complete pass per tracker: this process's, or the store's if its last pass completed.

    The store keeps only the last pass; if that one failed, the complete one before it is
    known only to the process that ran it."""
    found = dict(in_process)
    for tracker, info in passes.items():
        if info.complete and info.last_finished is not None:
            found[tracker] = max(found.get(tracker, info.last_finished), info.last_finished)
    return found

