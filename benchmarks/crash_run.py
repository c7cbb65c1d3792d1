"""``sla-bridge sync --once`` SIGKILLed again and again against a fake Redmine, then clean runs: what was lost?

Run from the repository root (not a test):

    .venv/bin/python benchmarks/crash_run.py                      # seeds 1 2, 6 waiting tickets
    .venv/bin/python benchmarks/crash_run.py --seeds 1 2 3 4 --tickets 10 --seeded 5

The scenario of ``tests/test_crash.py``, bigger: the fake Redmine
(``benchmarks/fake_redmine.py``) serves on loopback from a thread of this process;
N tickets wait for the customer from Monday 11:00 and one is in progress; the real
command line (a subprocess) runs ``sync --once --at`` on Monday 12:00 and Tuesday to
Friday 11:05 (reminders 1, 2, 3, then the closure notice and the closure). At each
step the run is killed at seeded points (after the Nth request, reads included, or
after a random delay), then once right after *each* write still owed (the server
SIGKILLs the client right after it applied the write, before it answers: for a
note, between the tracker's write and sla-bridge's journal), then one clean run.

Prints, per seed and in total: kills (after a note, after a closing status change,
elsewhere), runs, duplicates and missed reminders/closures on the tracker (by
marker), closures made more or less than once, journal vs tracker, ``PRAGMA
integrity_check``, whether a last run still writes, and the time taken.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE))
try:
    import sla_bridge  # noqa: F401
except ImportError:  # not installed: run from a checkout
    sys.path.insert(0, str(ROOT / "src"))

import test_crash as tc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--tickets", type=int, default=6, help="tickets waiting for the customer (default 6)")
    parser.add_argument("--seeded", type=int, default=3,
                        help="kills at seeded points per step, before the kills after each write (default 3)")
    args = parser.parse_args()
    print(f"crash runs: seeds {args.seeds}, {args.tickets} waiting tickets + 1 in progress, 5 steps"
          f" (Monday fields; reminders 1, 2, 3; closure), {args.seeded} seeded kills per step, then a kill after"
          " each write still owed, then a clean run")
    started = time.perf_counter()
    totals: Counter[str] = Counter()
    ok = True
    for seed in args.seeds:
        with tempfile.TemporaryDirectory(prefix="sla-bridge-crash-") as tmp:
            r = tc.run_scenario(Path(tmp), seed, waiting=args.tickets, seeded=args.seeded)
        final = r["final"]
        duplicates = sum(len(v) for v in final["duplicates"].values())
        missed = sum(len(v) for v in final["missed"].values())
        unexpected = sum(len(v) for v in final["unexpected"].values())
        closures = len(final["closures"])
        kinds = Counter(k["on"] for k in r["server_kills"])
        elsewhere = r["kills"] - r["killed_after_note"] - r["killed_after_status"]
        print(f"\n== seed {seed}: {r['runs']} runs, {r['kills']} killed ({r['kill_attempts']} kills planned; a"
              " planned kill whose point the run never reached lets it finish)")
        print(f"  killed right after the tracker applied: a note (reminder or closure notice)"
              f" {r['killed_after_note']}, a closing status change {r['killed_after_status']};"
              f" elsewhere {elsewhere} (server-side kills by kind: {dict(sorted(kinds.items()))})")
        print(f"  on the tracker: duplicates {duplicates}, missed {missed}, unexpected {unexpected},"
              f" tickets closed other than once {closures}")
        print(f"  after each step's clean run: {'all as owed' if not r['problems'] else r['problems']}")
        print(f"  journal vs tracker: {len(r['journal_missing'])} markers not journaled,"
              f" {len(r['journal_extra'])} journaled but not on the tracker")
        print(f"  PRAGMA integrity_check: {r['integrity']}; a last run wrote: {r['last_run_wrote'] or 'nothing'};"
              f" runs that failed without being killed: {len(r['failed_runs'])}")
        print(f"  time {r['seconds']:.1f} s")
        for k, v in (("kills", r["kills"]), ("after note", r["killed_after_note"]),
                     ("after status", r["killed_after_status"]), ("runs", r["runs"]), ("duplicates", duplicates),
                     ("missed", missed), ("unexpected", unexpected), ("closures", closures)):
            totals[k] += v
        ok &= not (duplicates or missed or unexpected or closures or r["problems"] or r["journal_missing"]
                   or r["journal_extra"] or r["integrity"] != "ok" or r["last_run_wrote"] or r["failed_runs"])
    print(f"\ntotal: {totals['kills']} kills ({totals['after note']} right after a note was applied,"
          f" {totals['after status']} right after a closure), {totals['runs']} runs; duplicates"
          f" {totals['duplicates']}, missed {totals['missed']}, unexpected {totals['unexpected']}, closures other"
          f" than once {totals['closures']}; {time.perf_counter() - started:.1f} s; overall: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
