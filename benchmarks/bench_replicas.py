"""Several `serve` replicas on one PostgreSQL store: the driver of a replica, and a benchmark.

A replica here is ``sla_bridge.service.Service`` with its ``Replica`` (heartbeat,
leases) and its heartbeat thread, exactly as ``sla-bridge serve`` builds them, but
driven by a small loop instead of APScheduler, and judging at an instant read from a
file (the contract's day, as ``sync --at`` does), so a test can walk the contract's
days while replicas are killed::

    python benchmarks/bench_replicas.py replica CONFIG INSTANT_FILE

The benchmark (``python benchmarks/bench_replicas.py [--tickets N] [--trackers T]``)
starts T fake Redmines (each in a process of its own, 100 ms per answer) of N
generated issues each (by default one tracker of 600), and measures how long one
replica, then three, take to make a first complete pass over every tracker (from the
replicas' start: imports, the trackers' lookups and the lease's hand-over included).
One replica holds a tracker's lease and lists its changes; the workers of all three
take its tickets from the shared work list, so one tracker is synced by all three
replicas. The ratio is printed on the last lines.

Needs the live PostgreSQL of ``scripts/postgres-live.sh`` (its env file).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

KEY = "repl0123456789abcdef0123456789abcdef01234"
KEY_ENV = "SLA_BRIDGE_REPLICAS_REDMINE_KEY"
PG_PASSWORD_ENV = "SLA_BRIDGE_TEST_PG_PASSWORD"
PG_ENV_FILE = Path(os.environ.get("SLA_BRIDGE_POSTGRES_ENV", "/tmp/sla-bridge-postgres/env.json"))


def run_replica(config_path: str, instant_file: str) -> None:
    """One replica: beats on its own thread, syncs every tracker whose lease it holds, until SIGTERM."""
    from sla_bridge.app import build_app
    from sla_bridge.config import load_config
    from sla_bridge.service import Replica, Service

    from sla_bridge.logs import configure

    configure(default_level="info", default_format="json")  # in the replica's log file, as `serve` writes
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    config = load_config(config_path)
    app = build_app(config)

    def contract_clock() -> datetime:
        return datetime.fromisoformat(Path(instant_file).read_text(encoding="utf-8").strip())

    replica = Replica(app.store, list(app.adapters), timedelta(seconds=config.file.sync.lease_seconds))
    service = Service(app, clock=contract_clock, replica=replica)
    signal.signal(signal.SIGTERM, lambda *_: service.stop.set())
    print(replica.holder, flush=True)
    beats = service.heartbeats()
    try:
        while not service.stop.is_set():
            service.sync()
            service.stop.wait(0.2)
    finally:
        service.stop.set()
        beats.join(10)
        app.close()


def tracker_text(name: str, url: str, workers: int = 1) -> str:
    from fake_redmine import redmine_section

    return redmine_section(url, KEY_ENV, name=name, workers=workers)


def config_text(store_url: str, trackers: dict[str, str], lease_seconds: int, workers: int = 1) -> str:
    """The example contract, a store on PostgreSQL, and one Redmine tracker per fake."""
    from sla_bridge.demo import example_config_text

    text = example_config_text()
    sync = (f'[sync]\nstore = "{store_url}"\nstore_password = {{ env = "{PG_PASSWORD_ENV}" }}\n'
            f"lease_seconds = {lease_seconds}\n")
    text, n = re.subn(r"^\[sync\][^\n]*\n(store = [^\n]*\n)?", lambda _: sync, text, count=1, flags=re.M)
    assert n == 1, "the example configuration has a [sync] section"
    return text + "".join(tracker_text(name, url, workers) for name, url in trackers.items())


def replica_env() -> dict[str, str]:
    return {**os.environ, KEY_ENV: KEY, "PYTHONPATH": str(ROOT / "src")}


def start_replica(config: Path, instant: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "replica", str(config), str(instant)],
                                stdout=out, stderr=subprocess.STDOUT, env=replica_env(), cwd=config.parent)


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the benchmark --------------------------------------------------------------------------


def _pg() -> tuple[str, str]:
    env: dict[str, str] = json.loads(PG_ENV_FILE.read_text(encoding="utf-8"))
    os.environ[PG_PASSWORD_ENV] = env["SLA_BRIDGE_PG_PASSWORD"]
    return env["SLA_BRIDGE_PG_URL"], env["SLA_BRIDGE_PG_PASSWORD"]


def _owner(url: str, password: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, password=password, autocommit=True) as db:
        db.execute(sql)  # type: ignore[arg-type,unused-ignore]


def measure(replicas: int, trackers: int, tickets: int, latency: float, workers: int, tmp: Path) -> float:
    """Seconds until `replicas` replicas have made a first complete pass over each of `trackers` fake
    Redmines of `tickets` generated issues (each fake in a process of its own, as a tracker is)."""
    from fake_redmine import ServerProcess
    from sla_bridge.secrets import SecretRef
    from sla_bridge.store import PostgresLocation, Store

    url, password = _pg()
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    _owner(url, password, f'CREATE SCHEMA "{schema}"')
    store_url = f"{url}?options=-csearch_path%3D{schema}"
    at = datetime.fromisoformat("2026-10-14T15:00:00+02:00")  # bench_sync's evaluation instant
    servers = {f"redmine{i}": ServerProcess(tickets, 20261014 + i, at, KEY, server_clock="frozen", latency=latency)
               for i in range(trackers)}
    processes: list[subprocess.Popen[bytes]] = []
    store = Store(PostgresLocation(store_url, SecretRef(env=PG_PASSWORD_ENV)))  # migrated before the clock
    try:
        work = tmp / f"run-{replicas}"
        work.mkdir(parents=True)
        config = work / "sla-bridge.toml"
        config.write_text(config_text(store_url, {n: s.url for n, s in servers.items()}, 3, workers),
                          encoding="utf-8")
        instant = work / "instant"
        instant.write_text(at.isoformat(), encoding="utf-8")
        started = time.perf_counter()
        processes = [start_replica(config, instant, work / f"replica-{i}.log") for i in range(replicas)]
        while True:
            done = [c.adapter for c in store.cursors() if c.last_summary.get("complete")]
            if len(done) >= trackers:
                return time.perf_counter() - started
            if time.perf_counter() - started > 900:
                raise RuntimeError(f"{replicas} replicas: {len(done)} of {trackers} trackers synced after 900 s")
            for process in processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a replica exited ({process.returncode}): see {work}")
            time.sleep(0.1)
    finally:
        for process in processes:
            stop(process)
        for server in servers.values():
            server.stop()
        store.close()
        _owner(url, password, f'DROP SCHEMA "{schema}" CASCADE')


def main(argv: list[str]) -> None:
    if argv[:1] == ["replica"]:
        run_replica(argv[1], argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=600, help="issues on each fake Redmine")
    parser.add_argument("--trackers", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per answer of the fake")
    parser.add_argument("--workers", type=int, default=4, help="[trackers.*] workers")
    args = parser.parse_args(argv)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        one = measure(1, args.trackers, args.tickets, args.latency, args.workers, Path(tmp))
        three = measure(3, args.trackers, args.tickets, args.latency, args.workers, Path(tmp))
    total = args.trackers * args.tickets
    print(f"{args.trackers} trackers x {args.tickets} issues (a first pass), {args.latency * 1000:.0f} ms per request,"
          f" {args.workers} workers per tracker")
    print(f"1 replica:  {one:7.1f} s  {total / one:6.1f} tickets/s")
    print(f"3 replicas: {three:7.1f} s  {total / three:6.1f} tickets/s")
    print(f"throughput ratio 3 vs 1: {one / three:.2f}x (goal >= 2.5x)")


if __name__ == "__main__":
    main(sys.argv[1:])
