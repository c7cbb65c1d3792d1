"""Benchmark of the SLA engine: evaluate 100,000 generated tickets with the example contract.

Run from the repository root:

    .venv/bin/python benchmarks/bench_engine.py              # 100,000 tickets, pure then compiled
    .venv/bin/python benchmarks/bench_engine.py -n 20000 --engine pure --profile
    .venv/bin/python benchmarks/bench_engine.py --events 1000 10000   # long histories

Tickets are generated with a seeded RNG (the same tickets on every run), 10-30 events
each, following a plausible support workflow: acknowledgement, work, waiting cycles
with customer answers or silence, workarounds, resolutions, reopenings, severity
changes, internal and public comments. Each ticket is evaluated once, mostly shortly
after its last event (a sync) and sometimes in the middle of its history (a what-if).
Only `evaluate` is timed; tickets are generated in batches outside the timer.

By default the benchmark runs twice, in two child processes, on the same tickets:
with the engine as pure Python (the source tree) and with the engine compiled by
mypyc (the platform wheel of ``SLA_BRIDGE_COMPILE=1 pip wheel .``, built once into
``build/compiled-core`` by ``benchmarks/compiled_core.py``), and prints both rates
and their ratio, measured in the same run, on its last lines. ``--engine pure`` or
``--engine compiled`` runs one of them in this process.

Garbage collection stays on while `evaluate` runs, and collects what the evaluations
allocate. What differs from a real sync is the benchmark's own input: 5,000 generated
tickets (about 150,000 objects) alive at once, which every full collection would walk
through. A sync holds a page of tickets at a time, so each batch of inputs is moved out
of the collector's generations (``gc.freeze()``) once generated, outside the timer, and
put back after (``gc.unfreeze()``). Every other batch is evaluated without that, and its
rate is printed too: the difference is the cost of walking the benchmark's inputs.

``--events N ...`` builds a few tickets of N events each (the same workflow, so their
histories span years) and prints the time per event, evaluated at a sync after the
last event and at a what-if in the middle; the calendar is warmed up first (a real
service builds its index once).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import os
import pstats
import random
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

# Which engine this process imports: the source tree's, or the compiled package's
# directory that the parent process names (``--engine both``, the default).
COMPILED_DIR_VARIABLE = "SLA_BRIDGE_BENCH_COMPILED_DIR"
sys.path.insert(0, os.environ.get(COMPILED_DIR_VARIABLE) or str(Path(__file__).resolve().parent.parent / "src"))

from sla_bridge.calendar import BusinessCalendar  # noqa: E402
from sla_bridge.demo import builtin_config  # noqa: E402
from sla_bridge.engine import evaluate  # noqa: E402
from sla_bridge.model import Comment, LabelChange, Role, SeverityChange, StatusChange, Ticket  # noqa: E402
from sla_bridge.policy import Policy  # noqa: E402

PARIS = ZoneInfo("Europe/Paris")
SEVERITIES = ["bloquante"] * 15 + ["majeure"] * 35 + ["mineure"] * 45 + ["critique"] * 3 + [None] * 2
REPORTERS = ["alice", "bruno", "chloe", "david", "emma"]
BATCH = 5_000


def _delay(rng: random.Random, long: bool = False) -> timedelta:
    if long:  # silence from the customer: often days
        return timedelta(minutes=rng.choice([rng.randint(60, 600), rng.randint(600, 6 * 24 * 60),
                                             rng.randint(2 * 24 * 60, 25 * 24 * 60)]))
    return timedelta(minutes=rng.choice([rng.randint(1, 30), rng.randint(30, 240), rng.randint(240, 2 * 24 * 60)]))


def make_ticket(rng: random.Random, number: int, length: int | None = None) -> Ticket:
    created = datetime(2025, 1, 1, tzinfo=PARIS) + timedelta(days=rng.randint(0, 540),
                                                            minutes=rng.choice([rng.randint(8 * 60, 19 * 60),
                                                                                rng.randint(0, 24 * 60 - 1)]))
    severity = rng.choice(SEVERITIES)
    status, t = "new", created
    events: list = []
    labels: set[str] = set()
    wanted = rng.randint(10, 30) if length is None else length

    def move(to: str, by_role: Role | None = Role.AGENT) -> None:
        nonlocal status
        events.append(StatusChange(t, status, to, "sam" if by_role is not Role.CUSTOMER else "alice", by_role))
        status = to

    while len(events) < wanted:
        roll = rng.random()
        t = t + _delay(rng, long=status == "waiting_for_customer")
        if status == "new":
            if roll < 0.6:
                events.append(Comment(t, "sam", Role.AGENT, True, "Nous analysons votre demande."))
                move("in_progress")
            elif roll < 0.8:
                events.append(Comment(t, "sam", Role.AGENT, False, "triage"))
            else:
                events.append(Comment(t, "alice", Role.CUSTOMER, True, "Des nouvelles ?"))
        elif status == "in_progress":
            if roll < 0.30:
                events.append(Comment(t, "sam", Role.AGENT, True, "Pouvez-vous nous envoyer les journaux ?"))
                move("waiting_for_customer")
            elif roll < 0.45:
                events.append(Comment(t, "sam", Role.AGENT, False, "note interne"))
            elif roll < 0.55:
                move("workaround_delivered")
            elif roll < 0.62:
                events.append(LabelChange(t, "contournement", True, "sam"))
                labels.add("contournement")
            elif roll < 0.75:
                move("resolved")
            elif roll < 0.80:
                new = rng.choice(["bloquante", "majeure", "mineure"])
                events.append(SeverityChange(t, severity, new, "sam"))
                severity = new
            else:
                events.append(Comment(t, "alice", Role.CUSTOMER, True, "Merci."))
        elif status == "waiting_for_customer":
            if roll < 0.45:
                events.append(Comment(t, "alice", Role.CUSTOMER, True, "Voici les journaux."))
            elif roll < 0.65:
                move("in_progress", rng.choice([Role.AGENT, Role.CUSTOMER]))
            elif roll < 0.80:
                events.append(Comment(t, "sla-bridge", Role.AGENT, True, "Relance"))
            elif roll < 0.90:
                move("closed", Role.SYSTEM)
            else:
                move("resolved")
        elif status == "workaround_delivered":
            if roll < 0.4:
                move("waiting_for_customer")
            elif roll < 0.7:
                move("resolved")
            elif roll < 0.8:
                events.append(LabelChange(t, "contournement-definitif", True, "sam"))
                labels.add("contournement-definitif")
            else:
                events.append(Comment(t, "sam", Role.AGENT, True, "Contournement livré."))
        elif status == "resolved":
            if roll < 0.5:
                move("closed")
            elif roll < 0.7:
                move("in_progress", Role.CUSTOMER)  # reopened
            else:
                events.append(Comment(t, "alice", Role.CUSTOMER, True, "Testé, en production demain."))
        else:  # closed
            if roll < 0.15:
                move("in_progress", Role.CUSTOMER)
            else:
                events.append(Comment(t, "alice", Role.CUSTOMER, True, "Merci pour la résolution."))
    return Ticket(
        tracker="bench", id=f"B-{number}", title="Le module d'export échoue", reporter=rng.choice(REPORTERS),
        created=created, status=status, severity=severity, labels=frozenset(labels),
        fix_version=rng.choice([None, None, "3.2.0"]), type=rng.choice(["Bug"] * 30 + ["Installation"]),
        updated=t, events=tuple(events),
    )


def evaluation_instant(rng: random.Random, ticket: Ticket) -> datetime:
    if rng.random() < 0.8:  # a sync, shortly after the last event
        return ticket.events[-1].at + timedelta(minutes=rng.randint(1, 5 * 24 * 60))
    middle = ticket.events[rng.randrange(len(ticket.events))].at  # a what-if inside the history
    return middle + timedelta(minutes=rng.randint(0, 600))


TARGET_TICKETS_PER_SECOND = 20_000  # issue 10
TARGET_US_PER_EVENT = 3.0            # issue 10, at 10,000 events per ticket


def long_histories(sizes: list[int], seed: int, policy: Policy, calendar: BusinessCalendar) -> None:
    """Time per event of a few tickets with long histories, for each size."""
    print(f"sla-bridge engine benchmark, long histories: sizes {', '.join(f'{n:,}' for n in sizes)} events,"
          f" seed {seed}, explanations off, GC on, inputs frozen")
    results: list[tuple[int, float]] = []
    for size in sizes:
        rng = random.Random(seed + size)
        tickets = [make_ticket(rng, i, length=size) for i in range(3)]
        cases = [(t, now) for t in tickets
                 for now in (t.events[-1].at + timedelta(hours=2), t.events[len(t.events) // 2].at)]
        for ticket, now in cases:  # warm-up: the calendar's index for the years these span
            evaluate(ticket, policy, calendar, now, explain=False)
        events = sum(len(t.events) for t, _ in cases)
        best = float("inf")
        gc.collect()
        gc.freeze()  # the inputs, as in the main benchmark
        for _ in range(3):
            t0 = time.perf_counter()
            for ticket, now in cases:
                evaluate(ticket, policy, calendar, now, explain=False)
            best = min(best, time.perf_counter() - t0)
        gc.unfreeze()
        span = (tickets[0].events[-1].at - tickets[0].created).days / 365.25
        print(f"  {size:>7,} events/ticket ({len(cases)} evaluations, histories of ~{span:.0f} years):"
              f" {best / events * 1e6:.2f} us/event, {best / len(cases) * 1e3:.1f} ms/evaluation (best of 3)")
        results.append((size, best / events * 1e6))
    for size, per_event in results:
        print(f"{size:,} events: {per_event:.2f} us/event, target <= {TARGET_US_PER_EVENT:.0f} us/event:"
              f" {TARGET_US_PER_EVENT / per_event:.1f}x the target's speed")


def _engine_kind() -> str:
    """What this process imported: compiled modules are extension files, not ``.py``."""
    import sla_bridge.engine.clocks as clocks

    return "pure Python" if clocks.__file__.endswith(".py") else f"compiled ({Path(clocks.__file__).name})"


_RATE = re.compile(r"inputs frozen: [\d,]+ tickets, ([\d,]+) tickets/second")


def both(argv: list[str]) -> int:
    """This benchmark run as pure Python, then compiled, each in a child process; both rates and their ratio."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from compiled_core import CannotCompile, build

    rates: dict[str, float] = {}
    runs: list[tuple[str, dict[str, str]]] = [("pure", {k: v for k, v in os.environ.items()
                                                         if k != COMPILED_DIR_VARIABLE})]
    try:
        compiled = build()
        runs.append(("compiled", {**os.environ, COMPILED_DIR_VARIABLE: str(compiled)}))
    except CannotCompile as e:
        print(f"compiled engine: not built on this machine, only the pure one runs ({e})")
    for name, env in runs:
        print(f"=== engine: {name} ===", flush=True)
        child = subprocess.run([sys.executable, __file__, *argv, "--engine", name], env=env,
                               capture_output=True, text=True, check=False)
        sys.stdout.write(child.stdout)
        sys.stderr.write(child.stderr)
        if child.returncode != 0:
            return child.returncode
        found = _RATE.findall(child.stdout)
        if found:
            rates[name] = float(found[-1].replace(",", ""))
    if rates:
        mode = "on" if "--explain" in argv else "off"
        print(f"=== summary: explanations {mode}, GC on, inputs frozen ===")
    for name, rate in rates.items():
        line = (f"engine, {name}: {rate:,.0f} tickets/second ({1e6 / rate:.0f} us/ticket);"
                f" target {TARGET_TICKETS_PER_SECOND:,}/s: {rate / TARGET_TICKETS_PER_SECOND:.2f}x the target")
        if name == "compiled" and "pure" in rates:
            line += f"; {rate / rates['pure']:.2f}x the pure engine, same run"
        print(line)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("both", "pure", "compiled"), default="both",
                        help="both (default): a child process each, and their ratio; pure or compiled: this process")
    parser.add_argument("-n", "--tickets", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20250501)
    parser.add_argument("--explain", action="store_true",
                        help="also build the explanations for people (what `explain` shows; the sync does not)")
    parser.add_argument("--profile", action="store_true", help="also profile the evaluations and print the top 15 functions")
    parser.add_argument("--events", type=int, nargs="+", metavar="N",
                        help="instead, time a few tickets of N events each and print the time per event")
    args = parser.parse_args()
    if args.engine == "both":
        sys.exit(both(sys.argv[1:]))
    kind = _engine_kind()
    if (args.engine == "compiled") != kind.startswith("compiled"):
        parser.error(f"--engine {args.engine}, but this process imported the engine as {kind}"
                     f" (the compiled one is imported from ${COMPILED_DIR_VARIABLE})")
    print(f"engine: {kind}")

    cfg = builtin_config()
    policy, calendar = cfg.policy, cfg.calendar
    if args.events:
        long_histories(args.events, args.seed, policy, calendar)
        return
    rng = random.Random(args.seed)
    profiler = cProfile.Profile() if args.profile else None
    evaluated = events = reminders = breached = 0
    elapsed = {True: 0.0, False: 0.0}   # inputs frozen or not -> seconds
    counted = {True: 0, False: 0}
    generation = 0.0
    for number, start in enumerate(range(0, args.tickets, BATCH)):
        g0 = time.perf_counter()
        batch = [make_ticket(rng, i) for i in range(start, min(start + BATCH, args.tickets))]
        instants = [evaluation_instant(rng, t) for t in batch]
        frozen = number % 2 == 0
        if frozen:
            gc.collect()
            gc.freeze()
        generation += time.perf_counter() - g0
        if profiler:
            profiler.enable()
        t0 = time.perf_counter()
        results = [evaluate(ticket, policy, calendar, now, explain=args.explain)
                   for ticket, now in zip(batch, instants)]
        elapsed[frozen] += time.perf_counter() - t0
        counted[frozen] += len(results)
        if profiler:
            profiler.disable()
        if frozen:
            gc.unfreeze()
        evaluated += len(results)
        events += sum(len(t.events) for t in batch)
        reminders += sum(len(r.desired.comments) for r in results)
        breached += sum(any(label.startswith("sla-depasse") for label in r.desired.labels) for r in results)
        del results

    print(f"sla-bridge engine benchmark: {evaluated:,} tickets, {events:,} events"
          f" ({events / evaluated:.1f} per ticket), seed {args.seed}")
    print(f"generation (not timed): {generation:.2f} s")
    print(f"outcome: {breached:,} tickets with a breach, {reminders:,} reminder/closure comments desired")
    if profiler:
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(15)
            print(f"--- profile, top 15 by {order} time (timings inflated by cProfile) ---")
            print(out.getvalue().split("\n\n", 1)[-1].strip())
    mode = "on, as in `explain`" if args.explain else "off, as in a sync"
    if counted[False]:
        rate = counted[False] / elapsed[False]
        print(f"evaluate, explanations {mode}, GC walking the benchmark's inputs: {counted[False]:,} tickets,"
              f" {rate:,.0f} tickets/second, {1e6 / rate:.0f} us/ticket")
    rate = counted[True] / elapsed[True]
    print(f"evaluate, explanations {mode}, GC on, inputs frozen: {counted[True]:,} tickets,"
          f" {rate:,.0f} tickets/second, {1e6 / rate:.0f} us/ticket;"
          f" target {TARGET_TICKETS_PER_SECOND:,}/s: {rate / TARGET_TICKETS_PER_SECOND:.2f}x the target")


if __name__ == "__main__":
    main()
