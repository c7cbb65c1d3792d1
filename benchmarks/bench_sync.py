"""Benchmark of one sync pass against a fake Redmine 5 holding N issues (default 10,000).

Run from the repository root (not a test):

    .venv/bin/python benchmarks/bench_sync.py              # 10,000 issues
    .venv/bin/python benchmarks/bench_sync.py -n 2000 --seed 7

The fake Redmine (``benchmarks/fake_redmine.py``) runs in its own process on an
ephemeral port of 127.0.0.1, so the memory figures below are the sync's own. Its
issues are generated with a seeded RNG: priorities Urgent/High/Normal/Low, statuses
New/In Progress/Feedback/Resolved/Closed, 2-10 journals each (status, priority and
custom-field changes, notes by the agent, id 5, or the customer, id 6), created over
the 60 days before a fixed evaluation instant; about a fifth wait in Feedback, some
long enough that reminders (and the auto-close) are due.

The sync is the real one: the example contract plus a ``[trackers.redmine]`` section
(as in tests/live/conftest.py), ``load_config``, ``build_app``, and
``Syncer(...).run(now)`` with ``now`` the fixed evaluation instant and the real clock.

- pass 1 (cold store): tickets/second, HTTP requests per ticket (reads, writes),
  writes by kind, errors, the process's ru_maxrss;
- pass 2 (nothing changed, same ``now``): must write nothing and read only the
  pages of the change query;
- pass 3 (``now`` one business day later): the timed changes (reminders, closures);
- pass 4 (pass 3 again): must write nothing;
- then pass 1 again, cold, on a fresh server, under tracemalloc (peak of the
  Python allocations of the sync alone): tracemalloc makes Python about three times
  slower, so the timed pass never runs under it.

The fake server stamps writes with the real time (like Redmine), so every journal
sla-bridge writes is dated after the fixed evaluation instant (weeks after it, when
run later than October 2026) and the engine reads it as a future event.
``--server-clock frozen`` stamps writes at the evaluation instant instead, to tell
what comes from that.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import resource
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))  # tests.live.conftest: one Redmine config for tests and bench
try:
    import sla_bridge  # noqa: F401
except ImportError:  # not installed: run from a checkout
    sys.path.insert(0, str(ROOT / "src"))

from fake_redmine import PAGE_CAP, ServerProcess

from sla_bridge.app import build_app
from sla_bridge.config import load_config
from sla_bridge.sync import Syncer, SyncSummary

EVALUATION_INSTANT = datetime.fromisoformat("2026-10-14T15:00:00+02:00")  # a Wednesday, Paris
KEY_ENV = "SLA_BRIDGE_REDMINE_KEY"  # the variable the live tests' config names
API_KEY = "bench0123456789abcdef0123456789abcdef0123"
TRACKER = "redmine"
LOOKUPS = ("GET issue_statuses", "GET priorities", "GET users_current")
RSS_GOAL_MIB = 70  # the sync's process, after a 100,000-ticket cold pass and a quiet pass


def config_text(url: str, store: Path) -> str:
    """The example contract plus the Redmine section the live tests use, on the fake server.

    Written by another process: ``tests.live.conftest`` imports pytest (some 13 MiB), which
    the sync's process, whose memory is measured, would otherwise carry."""
    import json
    import subprocess

    env = {"REDMINE_URL": url, "REDMINE_AGENT_ID": "5", "REDMINE_PROJECT": "support",
           "REDMINE_LABELS_FIELD_ID": "1", "REDMINE_DEADLINE_FIELD_ID": "2"}
    code = ("import json, sys; from pathlib import Path; sys.path[:0] = sys.argv[3:];"
            " from tests.live.conftest import live_config_text;"
            " sys.stdout.write(live_config_text(json.loads(sys.argv[1]), Path(sys.argv[2])))")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(env), str(store), str(HERE), str(ROOT),
                           *sys.path], capture_output=True, text=True, check=True)
    return done.stdout


# --- measuring ------------------------------------------------------------------------


def server_stats(url: str, written_after: int | None = None) -> dict[str, Any]:
    """The fake server's counters, without its per-issue PUT counts (``ids=0``): at 100,000
    issues these were ~14 MiB of Python objects held around the pass, in the process whose
    memory is measured. The issues written since ``written_after`` are counted by the server."""
    params: dict[str, Any] = {"ids": 0}
    if written_after is not None:
        params["written_after"] = written_after
    response = requests.get(f"{url}/__bench/stats", params=params, timeout=60)
    response.raise_for_status()
    stats: dict[str, Any] = response.json()
    return stats


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_mib() -> float | None:
    """The process's resident set now (Linux: VmRSS), beside its high-water mark ru_maxrss."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_text() -> str:
    now = rss_mib()
    return f"ru_maxrss {maxrss_mib():.1f} MiB" + (f" (RSS now {now:.1f} MiB)" if now is not None else "")


def rows_in_query(url: str, since: datetime | None, slack: bool) -> int:
    """How many rows one listing of the change query holds (its pages: ceil(rows / page)), counted
    by the server: the sync's process never holds every row, so its memory figures are its own."""
    low = "" if since is None else (since.replace(microsecond=0) - timedelta(seconds=1 if slack else 0)
                                    ).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    response = requests.get(f"{url}/__bench/count", params={"since": low}, timeout=60)
    response.raise_for_status()
    return int(response.json()["count"])


@dataclass
class PassResult:
    label: str
    now: datetime
    summary: SyncSummary
    wall: float
    client: dict[str, int]
    server: Counter[str]
    put_kinds: Counter[str]
    written_ids: int
    traced_peak: int | None
    rss_after: float
    rows_in_query: int
    pages_expected: int
    rss_now: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def gets(self) -> int:
        return self.client["read"]

    @property
    def puts(self) -> int:
        return self.client["write"]


def run_pass(label: str, syncer: Syncer, adapter: Any, url: str, now: datetime, *, trace: bool,
             since: datetime | None, slack: bool) -> PassResult:
    in_query = rows_in_query(url, since, slack)
    pages = math.ceil(in_query / PAGE_CAP)
    before = server_stats(url)
    client_before = dict(adapter.http.calls)
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    summary = syncer.run(now)
    wall = time.perf_counter() - t0
    peak = None
    if trace:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    after = server_stats(url, written_after=before["put_seq"])
    client = {k: adapter.http.calls[k] - client_before.get(k, 0) for k in adapter.http.calls}
    server = Counter(after["requests"])
    server.subtract(before["requests"])
    put_kinds = Counter(after["put_kinds"])
    put_kinds.subtract(before["put_kinds"])
    written = int(after["written_since"])
    return PassResult(label, now, summary, wall, client, +server, +put_kinds, written, peak, maxrss_mib(),
                      in_query, pages, rss_mib())


# --- reporting ------------------------------------------------------------------------


def per(n: int, d: int) -> str:
    return f"{n / d:.3f}" if d else "-"


def error_kinds(errors: list[str]) -> Counter[str]:
    return Counter(re.sub(r"\b\d+\b", "N", re.sub(r"\d{8}T\d{6}Z", "<stamp>", e)) for e in errors)


def report(p: PassResult) -> None:
    s = p.summary
    n = s.tickets_evaluated
    print(f"\n== {p.label}: now = {p.now.isoformat()}  (complete: {s.complete})")
    rate = n / p.wall if p.wall else float("inf")
    print(f"  tickets: {n} evaluated, {s.tickets_read} tracker reads (fetches + read-backs) in {p.wall:.2f} s"
          f" -> {rate:,.1f} tickets/s")
    print(f"  HTTP (client): {p.gets} GET ({per(p.gets, n)}/ticket), {p.puts} PUT ({per(p.puts, n)}/ticket),"
          f" {p.gets + p.puts} total ({per(p.gets + p.puts, n)}/ticket)")
    srv = p.server
    lookups = sum(srv[k] for k in LOOKUPS)
    print(f"  HTTP (server): GET /issues.json {srv['GET issues_list']}, GET /issues/ID.json {srv['GET issue']},"
          f" GET lookups {lookups}, PUT /issues/ID.json {srv['PUT issue']}"
          + (f", other {sum(v for k, v in srv.items() if 'other' in k or k == '401')}"
             if any('other' in k or k == '401' for k in srv) else ""))
    print(f"  change query: {p.rows_in_query} rows; pages: {srv['GET issues_list']} made, one listing"
          f" ceil(rows/{PAGE_CAP}) = {p.pages_expected}"
          f" (x{srv['GET issues_list'] / p.pages_expected:.3f})" if p.pages_expected else "")
    applied = dict(sorted(s.applied.items()))
    print(f"  writes by kind (summary.applied): {applied or 'none'}")
    print(f"  PUT payloads (server): {dict(sorted(p.put_kinds.items())) or 'none'}; tickets written: {p.written_ids}")
    print(f"  errors: {len(s.errors)}; conflicts: {len(s.conflicts)}")
    for text, count in error_kinds(s.errors).most_common(5):
        print(f"    {count} x {text}")
    for text, count in error_kinds(s.conflicts).most_common(3):
        print(f"    conflict {count} x {text}")
    print(f"  memory: ru_maxrss {p.rss_after:.1f} MiB after the pass"
          + (f" (RSS now {p.rss_now:.1f} MiB)" if p.rss_now is not None else "")
          + " (the sync's process; the server runs in another)")


def design_model(p: PassResult) -> None:
    """What the design says a pass costs, from what the pass did, next to what it cost."""
    s, srv = p.summary, p.server
    fetched = srv["GET issue"]
    transitions = s.applied.get("transition", 0)
    fields_puts = p.put_kinds.get("fields", 0)
    comments = s.applied.get("comment", 0)
    model_get = sum(srv[k] for k in LOOKUPS) + srv["GET issues_list"] + (fetched - p.written_ids - transitions) \
        + p.written_ids
    print(f"  design model: GET = lookups {sum(srv[k] for k in LOOKUPS)} + pages {srv['GET issues_list']}"
          f" + fetches {fetched - p.written_ids - transitions} + 1 read-back per written ticket {p.written_ids}"
          f" = {model_get}; measured {p.gets} (+{p.gets - model_get}: the transition's own read-back,"
          f" {transitions})")
    print(f"                PUT = fields {fields_puts} + notes {comments} + status {transitions}"
          f" = {fields_puts + comments + transitions}; measured {p.puts}")


def check(ok: bool, text: str) -> bool:
    print(f"  {'PASS' if ok else 'FAIL'}: {text}")
    return ok


def quiet_pass_checks(p: PassResult) -> bool:
    srv = p.server
    ok = check(p.puts == 0 and srv["PUT issue"] == 0,
               f"zero writes (client {p.puts} PUT, server {srv['PUT issue']} PUT)")
    only_pages = p.gets == srv["GET issues_list"] and srv["GET issue"] == 0 and sum(srv[k] for k in LOOKUPS) == 0
    # Goal: at most 1.1 x the pages of one listing (+3: the page that finds a group, its last
    # page, the page after it; they matter only for small listings).
    allowed = max(1.1 * p.pages_expected, p.pages_expected + 3)
    ok &= check(only_pages and srv["GET issues_list"] <= allowed,
                f"reads are only change-query pages ({p.gets} GET: {srv['GET issues_list']} pages of /issues.json,"
                f" {srv['GET issue']} issue reads), at most {allowed:.0f} for {p.rows_in_query} rows (one listing:"
                f" {p.pages_expected} pages)")
    return ok


# --- main -----------------------------------------------------------------------------


class Bench:
    """A fresh fake Redmine, config, store and syncer (a cold start)."""

    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        t0 = time.perf_counter()
        self.slack = not args.no_sqlite_slack
        self.server = ServerProcess(args.n, args.seed, EVALUATION_INSTANT, API_KEY, sqlite_slack=self.slack,
                                    server_clock=args.server_clock, latency=args.latency_ms / 1000)
        self.url = self.server.url
        self.started_in = time.perf_counter() - t0
        path = tmp / "sla-bridge.toml"
        path.write_text(config_text(self.url, tmp / "state.sqlite"), encoding="utf-8")
        os.environ[KEY_ENV] = API_KEY
        self.config = load_config(path)
        self.app = build_app(self.config)
        self.adapter = self.app.adapters[TRACKER]
        self.syncer = Syncer(self.config, self.app.store, self.adapter, self.app.pm,
                             clock=lambda: datetime.now(UTC))
        if args.workers:
            self.syncer.workers = args.workers
        self.overlap = timedelta(seconds=self.config.file.sync.overlap_seconds)

    def since(self) -> datetime | None:
        cursor = self.app.store.cursor(TRACKER).cursor
        return cursor - self.overlap if cursor else None

    def run(self, label: str, now: datetime, trace: bool = False) -> PassResult:
        return run_pass(label, self.syncer, self.adapter, self.url, now, trace=trace, since=self.since(),
                        slack=self.slack)

    def close(self) -> None:
        try:
            self.app.close()
        finally:
            self.server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10_000, help="issues on the fake Redmine (default 10,000)")
    parser.add_argument("--seed", type=int, default=20261014)
    parser.add_argument("--no-tracemalloc", action="store_true",
                        help="skip the second, traced cold pass (tracemalloc makes Python ~3x slower, so the"
                             " timed pass 1 never runs under it)")
    parser.add_argument("--server-clock", choices=("real", "frozen"), default="frozen",
                        help="date writes at the evaluation instant (default: as in production, where the"
                             " evaluation instant is the wall clock the tracker also stamps with), or with the"
                             " real time, weeks after the fixed evaluation instant (a sync --at in the past)")
    parser.add_argument("--workers", type=int, default=None,
                        help="tickets worked on at once (default: the config's, [sync] workers)")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="milliseconds the fake server waits before each answer (a tracker across a network)")
    parser.add_argument("--latency-run", action="store_true",
                        help="only the concurrency figure: a cold pass with --latency-ms (default 50) on -n issues"
                             " (default 1,000), with one worker and with the configured workers")
    parser.add_argument("--no-sqlite-slack", action="store_true",
                        help="the fake server honours updated_on>= exactly (real Redmine on SQLite is 1 s early)")
    args = parser.parse_args()
    if args.latency_run:
        return latency_run(args)
    started = time.perf_counter()
    print(f"sla-bridge sync benchmark: {args.n:,} issues on a fake Redmine 5, seed {args.seed},"
          f" evaluation instant {EVALUATION_INSTANT.isoformat()}, server clock {args.server_clock}"
          f"{', SQLite 1 s slack on updated_on' if not args.no_sqlite_slack else ''}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    ok = True
    rss0 = maxrss_mib()
    with tempfile.TemporaryDirectory(prefix="sla-bridge-bench-") as tmp:
        bench = Bench(args, Path(tmp))
        try:
            stats = server_stats(bench.url)
            print(f"fake Redmine at {bench.url} (pid {bench.server.process.pid}), {stats['issues']:,} issues"
                  f" generated in {bench.started_in:.1f} s: {dict(sorted(stats['statuses'].items()))}")
            print(f"ru_maxrss before pass 1: {rss0:.1f} MiB (interpreter, sla_bridge, requests imported);"
                  f" with the config loaded, the plugins, adapter and store built: {rss_text()}")
            rss1 = maxrss_mib()

            p1 = bench.run("pass 1 (cold store)", EVALUATION_INSTANT)
            report(p1)
            design_model(p1)

            p2 = bench.run("pass 2 (nothing changed, same now)", EVALUATION_INSTANT)
            report(p2)
            ok &= quiet_pass_checks(p2)
            print(f"  memory: ru_maxrss {p2.rss_after:.1f} MiB after the cold and the quiet pass; goal at most"
                  f" {RSS_GOAL_MIB} MiB: {'met' if p2.rss_after <= RSS_GOAL_MIB else 'NOT met'}")

            now3 = bench.config.calendar.add_days(EVALUATION_INSTANT, 1)
            p3 = bench.run("pass 3 (one business day later)", now3)
            report(p3)
            design_model(p3)

            p4 = bench.run("pass 4 (pass 3 again)", now3)
            report(p4)
            ok &= check(p4.puts == 0 and p4.server["PUT issue"] == 0,
                        f"zero writes (client {p4.puts} PUT, server {p4.server['PUT issue']} PUT)")
            stats = server_stats(bench.url)
            print(f"\nfake Redmine after the passes: {dict(sorted(stats['statuses'].items()))};"
                  f" closed by sla-bridge {stats['closed_by_api_user']}; closed issues still carrying a due date"
                  f" {stats['closed_with_due_date']}, an at-risk/missing-version label {stats['closed_with_sla_labels']}")
            stale = [bench.app.store.ticket(TRACKER, str(i)) for i in stats["stale_closed_ids"]]
            print(f"  of these {len(stale)} closed issues, the store will revisit"
                  f" {sum(1 for r in stale if r is not None and r.next_change_at is not None)} on its own"
                  " (a next_change_at); the others only if a person edits them")
            print(f"all requests: {dict(sorted(stats['requests'].items()))}")
        finally:
            bench.close()

    if not args.no_tracemalloc:
        with tempfile.TemporaryDirectory(prefix="sla-bridge-bench-") as tmp:
            bench = Bench(args, Path(tmp))
            try:
                traced = bench.run("pass 1 again, cold, under tracemalloc (memory only)", EVALUATION_INSTANT,
                                   trace=True)
            finally:
                bench.close()
        assert traced.traced_peak is not None
        print(f"\n== {traced.label}")
        print(f"  tracemalloc peak {traced.traced_peak / 2**20:.1f} MiB of Python allocations during the sync"
              f" ({traced.summary.tickets_evaluated} tickets, {len(traced.summary.errors)} errors,"
              f" {traced.wall:.1f} s traced vs {p1.wall:.1f} s untraced)")
        print(f"  ru_maxrss of the sync process over the whole run: {maxrss_mib():.1f} MiB"
              f" (before pass 1: {rss0:.1f} MiB, {rss1:.1f} MiB built; after pass 1: {p1.rss_after:.1f} MiB;"
              f" after pass 2: {p2.rss_after:.1f} MiB)")
    print(f"\ntotal {time.perf_counter() - started:.1f} s; overall: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def latency_run(args: argparse.Namespace) -> int:
    """A cold pass against a tracker 50 ms away: one worker, then the configured workers."""
    if args.latency_ms == 0:
        args.latency_ms = 50.0
    if "-n" not in sys.argv:
        args.n = 1_000
    print(f"sla-bridge sync benchmark, latency: {args.n:,} issues on a fake Redmine answering each request"
          f" {args.latency_ms:g} ms late, cold store")
    rates: dict[int, float] = {}
    wanted = args.workers
    for workers in (1, wanted or 0):
        args.workers = workers or None
        with tempfile.TemporaryDirectory(prefix="sla-bridge-bench-") as tmp:
            bench = Bench(args, Path(tmp))
            try:
                p = bench.run(f"cold pass, {bench.syncer.workers} worker(s)", EVALUATION_INSTANT)
            finally:
                bench.close()
        report(p)
        rates[bench.syncer.workers] = p.summary.tickets_evaluated / p.wall
    (_, serial), (many, parallel) = sorted(rates.items())[0], sorted(rates.items())[-1]
    print(f"\n1 worker: {serial:,.1f} tickets/s; {many} workers: {parallel:,.1f} tickets/s;"
          f" {parallel / serial:.2f}x one worker")
    ok = parallel >= 50
    print(f"goal >= 50 tickets/s with {args.latency_ms:g} ms per request: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
