"""Benchmark of the SLA engine: evaluate 100,000 generated tickets with the example contract.

Run from the repository root:

    .venv/bin/python benchmarks/bench_engine.py              # 100,000 tickets
    .venv/bin/python benchmarks/bench_engine.py -n 20000 --profile

Tickets are generated with a seeded RNG (the same tickets on every run), 10-30 events
each, following a plausible support workflow: acknowledgement, work, waiting cycles
with customer answers or silence, workarounds, resolutions, reopenings, severity
changes, internal and public comments. Each ticket is evaluated once, mostly shortly
after its last event (a sync) and sometimes in the middle of its history (a what-if).
Only `evaluate` is timed; tickets are generated in batches outside the timer.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from sla_bridge.demo import builtin_config  # noqa: E402
from sla_bridge.engine import evaluate  # noqa: E402
from sla_bridge.model import Comment, LabelChange, Role, SeverityChange, StatusChange, Ticket  # noqa: E402

PARIS = ZoneInfo("Europe/Paris")
SEVERITIES = ["bloquante"] * 15 + ["majeure"] * 35 + ["mineure"] * 45 + ["critique"] * 3 + [None] * 2
REPORTERS = ["alice", "bruno", "chloe", "david", "emma"]
BATCH = 5_000


def _delay(rng: random.Random, long: bool = False) -> timedelta:
    if long:  # silence from the customer: often days
        return timedelta(minutes=rng.choice([rng.randint(60, 600), rng.randint(600, 6 * 24 * 60),
                                             rng.randint(2 * 24 * 60, 25 * 24 * 60)]))
    return timedelta(minutes=rng.choice([rng.randint(1, 30), rng.randint(30, 240), rng.randint(240, 2 * 24 * 60)]))


def make_ticket(rng: random.Random, number: int) -> Ticket:
    created = datetime(2025, 1, 1, tzinfo=PARIS) + timedelta(days=rng.randint(0, 540),
                                                            minutes=rng.choice([rng.randint(8 * 60, 19 * 60),
                                                                                rng.randint(0, 24 * 60 - 1)]))
    severity = rng.choice(SEVERITIES)
    status, t = "new", created
    events: list = []
    labels: set[str] = set()
    wanted = rng.randint(10, 30)

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--tickets", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20250501)
    parser.add_argument("--explain", action="store_true",
                        help="also build the explanations for people (what `explain` shows; the sync does not)")
    parser.add_argument("--profile", action="store_true", help="also profile the evaluations and print the top 15 functions")
    args = parser.parse_args()

    cfg = builtin_config()
    policy, calendar = cfg.policy, cfg.calendar
    rng = random.Random(args.seed)
    profiler = cProfile.Profile() if args.profile else None
    evaluated = events = reminders = breached = 0
    elapsed = 0.0
    generation = 0.0
    for start in range(0, args.tickets, BATCH):
        g0 = time.perf_counter()
        batch = [make_ticket(rng, i) for i in range(start, min(start + BATCH, args.tickets))]
        instants = [evaluation_instant(rng, t) for t in batch]
        generation += time.perf_counter() - g0
        if profiler:
            profiler.enable()
        t0 = time.perf_counter()
        results = [evaluate(ticket, policy, calendar, now, explain=args.explain)
                   for ticket, now in zip(batch, instants)]
        elapsed += time.perf_counter() - t0
        if profiler:
            profiler.disable()
        evaluated += len(results)
        events += sum(len(t.events) for t in batch)
        reminders += sum(len(r.desired.comments) for r in results)
        breached += sum(any(label.startswith("sla-depasse") for label in r.desired.labels) for r in results)

    print(f"sla-bridge engine benchmark: {evaluated:,} tickets, {events:,} events"
          f" ({events / evaluated:.1f} per ticket), seed {args.seed}")
    print(f"generation (not timed): {generation:.2f} s")
    print(f"evaluate (explanations {'on' if args.explain else 'off, as in a sync'}): {elapsed:.2f} s total, {evaluated / elapsed:,.0f} tickets/second,"
          f" {elapsed / evaluated * 1e6:.0f} us/ticket")
    print(f"outcome: {breached:,} tickets with a breach, {reminders:,} reminder/closure comments desired")
    if profiler:
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(15)
            print(f"--- profile, top 15 by {order} time (timings inflated by cProfile) ---")
            print(out.getvalue().split("\n\n", 1)[-1].strip())


if __name__ == "__main__":
    main()
