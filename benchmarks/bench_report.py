"""Benchmark of the compliance report: a year of 10,000 tickets, from a store on disk.

Run from the repository root:

    .venv/bin/python benchmarks/bench_report.py            # 10,000 tickets over 2025
    .venv/bin/python benchmarks/bench_report.py -n 2000

Tickets with plausible histories (acknowledgement, work, waiting cycles with answers
or silence, workarounds, resolutions, reopenings, severity changes, reminders sent by
sla-bridge) are generated with a seeded RNG into a temporary SQLite store, as a
sync would leave them. Then the report over the year is timed as
``sla-bridge report`` runs it: read the store, recompute every ticket with the
engine, render JSON, CSV and HTML (with its charts). The last lines give the total
time and the peak memory (RSS) of the process.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from sla_bridge.actions import Applied  # noqa: E402
from sla_bridge.compliance.command import render  # noqa: E402
from sla_bridge.compliance.compute import build_report, make_period  # noqa: E402
from sla_bridge.compliance.source import read_store  # noqa: E402
from sla_bridge.demo import builtin_config  # noqa: E402
from sla_bridge.model import Comment, Event, LabelChange, Role, SeverityChange, StatusChange, Ticket  # noqa: E402
from sla_bridge.store import Store  # noqa: E402

PARIS = ZoneInfo("Europe/Paris")
SEVERITIES = ["bloquante"] * 15 + ["majeure"] * 35 + ["mineure"] * 50


def make_ticket(rng: random.Random, number: int) -> tuple[Ticket, list[tuple[str, datetime]]]:
    """A ticket of 2025 and the reminders sla-bridge sent for it (key, instant)."""
    created = datetime(2025, 1, 2, 8, tzinfo=PARIS) + timedelta(days=rng.randint(0, 360),
                                                               minutes=rng.randint(0, 11 * 60))
    key = f"demo:R-{number}"
    severity = rng.choice(SEVERITIES)
    status, t = "new", created
    events: list[Event] = []
    sent: list[tuple[str, datetime]] = []

    def move(to: str, role: Role = Role.AGENT) -> None:
        nonlocal status
        events.append(StatusChange(t, status, to, "alice" if role is Role.CUSTOMER else "sam", role))
        status = to

    for _ in range(rng.randint(4, 20)):
        t += timedelta(minutes=rng.choice([rng.randint(5, 120), rng.randint(120, 1440), rng.randint(1440, 8000)]))
        roll = rng.random()
        if status == "new":
            events.append(Comment(t, "sam", Role.AGENT, True, "Nous analysons."))
            move("in_progress")
        elif status == "in_progress":
            if roll < 0.3:
                move("waiting_for_customer")
            elif roll < 0.45:
                events.append(LabelChange(t, "contournement", True, "sam"))
            elif roll < 0.6:
                move("resolved")
            elif roll < 0.65:
                new = rng.choice(["bloquante", "majeure", "mineure"])
                events.append(SeverityChange(t, severity, new, "sam"))
                severity = new
            else:
                events.append(Comment(t, "sam", Role.AGENT, rng.random() < 0.5, "suivi"))
        elif status == "waiting_for_customer":
            if roll < 0.4:
                events.append(Comment(t, "alice", Role.CUSTOMER, True, "Voici."))
            elif roll < 0.6:
                stamp = t.strftime("%Y%m%dT%H%M%SZ")
                events.append(Comment(t, "sla-bridge", Role.AGENT, True,
                                      f"Relance\n\n[sla-bridge:{key}/reminder/{stamp}/1]", own=True))
                sent.append((f"{key}/reminder/{stamp}/1", t))
            elif roll < 0.8:
                move("in_progress", Role.CUSTOMER)
            else:
                move("closed", Role.SYSTEM)
        elif status == "resolved":
            move("closed" if roll < 0.8 else "in_progress")
        else:
            events.append(Comment(t, "alice", Role.CUSTOMER, True, "Merci."))
    ticket = Ticket("demo", f"R-{number}", "Le module d'export échoue", None, created, status, severity,
                    type=rng.choice(["Bug"] * 40 + ["Formation"]), updated=t, events=tuple(events))
    return ticket, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--tickets", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=20250101)
    args = parser.parse_args()
    cfg = builtin_config()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite"
        g0 = time.perf_counter()
        store = Store(path)
        events = 0
        for n in range(args.tickets):
            ticket, sent = make_ticket(rng, n)
            events += len(ticket.events)
            store.save_ticket("demo", ticket, Applied(), {}, None)
            for key, at in sent:
                store.journal(key, "demo", ticket.id, "comment", at, "reminder")
        end = datetime(2026, 1, 2, tzinfo=PARIS)
        store.sync_started("demo", end)
        store.sync_finished("demo", end, end, {"complete": True})
        store.close()
        generation = time.perf_counter() - g0

        t0 = time.perf_counter()
        store = Store(path)
        view = read_store(store, cfg)
        store.close()
        t1 = time.perf_counter()
        period = make_period(date(2025, 1, 1), date(2025, 12, 31), cfg.calendar.zone)
        report = build_report(view.tickets, view.journal, view.trackers, cfg.policy, cfg.calendar, period,
                              datetime(2026, 1, 5, 9, tzinfo=PARIS), contract=cfg.file.contract.name,
                              language=cfg.file.templates.language, notes=view.warnings)
        t2 = time.perf_counter()
        sizes = {fmt: len(render(report, fmt)) for fmt in ("json", "csv", "html")}
        t3 = time.perf_counter()
    overall = {s.clock.value: s for s in report.overall.clocks if s.severity is None}
    print(f"sla-bridge report benchmark: {args.tickets:,} tickets, {events:,} events over 2025, seed {args.seed}")
    print(f"store written (not timed): {generation:.2f} s")
    print(f"read the store: {t1 - t0:.2f} s; recompute ({len(report.rows):,} ticket-clocks,"
          f" {len(report.breaches):,} breaches): {t2 - t1:.2f} s; render json+csv+html: {t3 - t2:.2f} s"
          f" ({sizes['json'] // 1024:,} / {sizes['csv'] // 1024:,} / {sizes['html'] // 1024:,} KiB)")
    print("compliance: " + ", ".join(f"{name} {s.compliance} % ({s.met} met, {s.breached} breached)"
                                     for name, s in overall.items()))
    print(f"time: {t3 - t0:.2f} s for the year report ({(t3 - t0) / args.tickets * 1e3:.2f} ms per ticket)")
    print(f"peak memory (RSS): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
