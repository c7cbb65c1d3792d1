"""The fault scenario of ``tests/test_faults.py`` over many seeds, for every built-in adapter.

Run from the repository root (not a test):

    .venv/bin/python benchmarks/fault_run.py                 # seeds 1..100, every adapter
    .venv/bin/python benchmarks/fault_run.py --seeds 500 --rate 0.3 --worlds zammad redmine

Each seed runs the scripted fortnight (five tickets: reminders, a customer's answer,
an agent's nudges, a ticket taken back, closures) with ~20 % of the requests failing
(429 with Retry-After, 500, 503, resets before and after the server applied the
request, timeouts after it applied, truncated JSON), then the network heals and the
passes go on until nothing is left to retry. Every run is compared with the
fault-free reference of the same script: markers twice (duplicates), missing or
extra, closures, end states (status, SLA labels, due date), whether the last pass
still wrote, and requests per pass against the test's budget.

Nothing sleeps; the clock is simulated. Prints one line per adapter and the seeds
that failed, with what was wrong.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE))
try:
    import sla_bridge  # noqa: F401
except ImportError:  # not installed: run from a checkout
    sys.path.insert(0, str(ROOT / "src"))

import test_faults as tf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100, help="seeds 1..N per adapter (default 100)")
    parser.add_argument("--first", type=int, default=1, help="first seed (default 1)")
    parser.add_argument("--rate", type=float, default=0.2, help="share of requests that fail (default 0.2)")
    parser.add_argument("--worlds", nargs="*", default=list(tf.WORLDS), choices=list(tf.WORLDS),
                        help="adapters (default: all; the -groups ones name Jira agents by group)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # retries and deferrals log warnings by the thousand
    worlds = list(dict.fromkeys(args.worlds))
    seeds = range(args.first, args.first + args.seeds)
    print(f"fault runs: {len(seeds)} seeds ({seeds.start}..{seeds.stop - 1}) x {len(worlds)} adapters,"
          f" {args.rate:.0%} of requests failing; the scripted fortnight of tests/test_faults.py")
    started = time.perf_counter()
    ok = True
    for world in worlds:
        t0 = time.perf_counter()
        ref = tf.reference(world)
        limit = tf.budget(ref)
        faults: Counter[str] = Counter()
        totals: Counter[str] = Counter()
        failures: list[str] = []
        most = 0
        passes = 0
        latest, posted, delayed = timedelta(0), 0, 0
        for seed in seeds:
            run = tf.scripted_run(world, seed, rate=args.rate)
            report = tf.compare(run, ref)
            for kind, n in (part.rsplit(" ", 1) for part in
                            run.faults.split("(", 1)[1].rstrip(")").split(", ") if part != "none"):
                faults[kind] += int(n)
            totals["requests"] += int(run.faults.split(" ", 1)[0])
            totals["lost answers of applied writes"] += run.lost_writes
            totals["lost answers of posted comments"] += run.lost_comments
            totals["errors reported"] += len(run.errors)
            for what in ("duplicates", "missing", "extra"):
                totals[what] += sum(len(v) for v in report[what].values())
            totals["closure mismatches"] += len(report["closures"])
            totals["late"] += sum(1 for late in report["late"].values() for d in late.values() if d > tf.LATE)
            delays = [d for late in tf.lateness(run, ref).values() for d in late.values()]
            latest = max([latest, *delays])
            posted += len(delays)
            delayed += sum(1 for d in delays if d > timedelta(0))
            totals["end-state mismatches"] += len(report["states"])
            final = run.final
            last_wrote = bool(final is not None and final.applied)
            totals["last pass wrote"] += last_wrote
            totals["last pass failed"] += bool(final is None or not final.complete or final.errors)
            hot = [p for p in run.passes if p.requests > limit]
            totals["passes over budget"] += len(hot)
            most = max(most, run.max_requests)
            passes = max(passes, len(run.passes))
            wrong = {k: v for k, v in report.items() if v}
            if wrong or last_wrote or hot or len(run.passes) > tf.pass_budget(ref):
                failures.append(f"seed {seed}: {wrong or ''}{' last pass wrote' if last_wrote else ''}"
                                f"{f' {len(hot)} passes over budget' if hot else ''}")
        elapsed = time.perf_counter() - t0
        print(f"\n== {world}: {len(seeds)} runs in {elapsed:.1f} s; {totals['requests']:,} requests,"
              f" {sum(faults.values()):,} faults: {dict(sorted(faults.items()))}")
        print(f"  answers lost after the server applied a write: {totals['lost answers of applied writes']}"
              f" (of which a reminder or closure notice: {totals['lost answers of posted comments']});"
              f" errors reported by the passes: {totals['errors reported']:,}")
        print(f"  reminders and notices posted later than in the reference: {delayed} of {posted},"
              f" the latest by {latest}; more than {tf.LATE} late: {totals['late']}")
        print(f"  duplicates {totals['duplicates']}, missing {totals['missing']}, extra {totals['extra']},"
              f" closure mismatches {totals['closure mismatches']}, end-state mismatches"
              f" {totals['end-state mismatches']}, last pass wrote {totals['last pass wrote']},"
              f" last pass failed {totals['last pass failed']}")
        print(f"  requests per pass: at most {most} (reference {ref.max_requests}, budget {limit});"
              f" passes per run: at most {passes} (reference {len(ref.passes)}, budget {tf.pass_budget(ref)})")
        print(f"  runs with a problem: {len(failures)} of {len(seeds)}")
        for line in failures[:10]:
            print(f"    {line}")
        if len(failures) > 10:
            print(f"    ... and {len(failures) - 10} more")
        ok &= not failures
    print(f"\ntotal {time.perf_counter() - started:.1f} s; overall: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
