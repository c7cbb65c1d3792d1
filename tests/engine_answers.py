"""The engine's answers on generated tickets, one digest per evaluation, for comparing builds.

Run by ``tests/test_compiled.py`` once on the pure engine (the source tree) and once
on the compiled one (``SLA_BRIDGE_BENCH_COMPILED_DIR``, read by the benchmark's
module as it is imported); both print the same lines or a build differs. Each
ticket of ``benchmarks/bench_engine.py``'s generator is evaluated at several
instants (before its first event, in the middle of its history, just after its
last event, weeks later), with and without explanations, on the example contract's
calendar and on one with a lunch break, Saturday hours and New York's clock changes;
a few long histories too.

    python tests/engine_answers.py COUNT SEED
"""

from __future__ import annotations

import hashlib
import random
import sys
from datetime import date, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_engine  # noqa: E402  (puts the engine to compare first on the path)
from sla_bridge.calendar import BusinessCalendar, Interval  # noqa: E402
from sla_bridge.demo import builtin_config  # noqa: E402
from sla_bridge.engine import evaluate  # noqa: E402

LONG_HISTORIES = (300, 2_000)  # events per ticket, one ticket each


def calendars() -> list[tuple[str, BusinessCalendar]]:
    example = builtin_config().calendar
    new_york = BusinessCalendar(
        weekly={**{d: (Interval(time(8, 30), time(12, 0)), Interval(time(13, 0), time(17, 30))) for d in range(5)},
                5: (Interval(time(10, 0), time(12, 30)),)},
        timezone="America/New_York", country="US", subdivision="NY",
        closed_dates=[date(2025, 12, 26)], open_dates=[date(2026, 1, 19)])
    return [("example", example), ("new-york", new_york)]


def main(count: int, seed: int) -> None:
    import sla_bridge.engine.clocks as clocks

    print(f"# engine from {Path(clocks.__file__).name}", file=sys.stderr)
    policy = builtin_config().policy
    rng = random.Random(seed)
    tickets = [bench_engine.make_ticket(rng, i) for i in range(count)]
    tickets += [bench_engine.make_ticket(rng, count + i, length=n) for i, n in enumerate(LONG_HISTORIES)]
    for name, cal in calendars():
        for ticket in tickets:
            events = ticket.events
            instants = [ticket.created - timedelta(minutes=1), events[len(events) // 2].at,
                        events[-1].at + timedelta(minutes=rng.randint(1, 600)),
                        events[-1].at + timedelta(days=rng.randint(1, 40), minutes=rng.randint(0, 1440))]
            for now in instants:
                for explain in (False, True):
                    answer = repr(evaluate(ticket, policy, cal, now, explain=explain))
                    print(name, ticket.id, now.isoformat(), explain, hashlib.sha256(answer.encode()).hexdigest()[:20])


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
