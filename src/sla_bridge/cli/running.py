"""Commands that run against trackers and the store: sync, serve, status, report."""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click
from rich.console import Console
from rich.markup import escape

from ..config import Config, load_config
from ..engine import ClockState
from ..errors import InputError, SlaBridgeError
from ..text import iso_text, plural, writes_text
from .common import at_option, config_argument, console, echo_json, json_option, now_or_at, parse_instant, warn

if TYPE_CHECKING:
    from ..sync import SyncSummary


def _summary_json(summary: SyncSummary, cfg: Config) -> dict[str, Any]:
    """A pass's summary for machines, its instants in the one documented form."""
    data: dict[str, Any] = summary.to_json()
    for key in ("started", "now", "finished"):
        data[key] = iso_text(data.get(key), cfg.calendar)
    return data


@click.command("sync")
@config_argument
@click.option("--dry-run", is_flag=True, help="Print the changes a real run would make; write nothing.")
@at_option
@click.option("--tracker", "tracker", metavar="NAME", help="Sync only this tracker (its [trackers.NAME] section).")
@click.option("--adapter", "old_tracker", metavar="NAME", hidden=True, help="Deprecated name of --tracker.")
@click.option("--once", is_flag=True, hidden=True, help="Accepted for old scripts: sync always does one pass.")
@json_option
def sync_command(config: Path, dry_run: bool, at: str | None, tracker: str | None, old_tracker: str | None,
                 once: bool, as_json: bool) -> None:
    """One sync pass over every configured tracker (or one with --tracker), then exit (for cron).

    Exit code 1 when a tracker or a ticket failed (the others are still synced).
    """
    from ..app import build_app
    from ..logs import SyncLog
    from ..sync import Syncer

    if old_tracker is not None:
        warn("--adapter is deprecated: use --tracker NAME")
        if tracker is not None and tracker != old_tracker:
            raise click.UsageError(f"--tracker {tracker} and --adapter {old_tracker} name different trackers")
        tracker = old_tracker
    cfg = load_config(config)
    activity = SyncLog()  # logs each write and each pass (--log-level info)
    app = build_app(cfg, tracker, extra_plugins=[activity])
    progress_console = console(stderr=True)
    now = parse_instant(at, cfg.calendar.zone, "--at") if at else None
    summaries = []
    try:
        for name, instance in app.adapters.items():
            with _progress(progress_console, name, as_json) as tick:
                syncer = Syncer(cfg, app.store, instance, app.pm, clock=lambda: datetime.now(timezone.utc),
                                progress=tick)
                summaries.append(syncer.run(now, dry_run=dry_run))
            activity.pass_ended(summaries[-1])
    finally:
        app.close()
    if as_json:
        echo_json([_summary_json(s, cfg) for s in summaries])
    else:
        _print_summaries(console(), summaries, dry_run)
    if any(s.errors for s in summaries):
        sys.exit(1)


def _print_summaries(out: Console, summaries: list[SyncSummary], dry_run: bool) -> None:
    from ..sync import describe, digest

    for s in summaries:
        name = escape(s.adapter)
        if dry_run:
            for ticket, action in s.planned:
                out.print(f"would {escape(describe(action))} on {escape(ticket)}")
            _print_digest(out, s.adapter, s.onboarding, digest(s.planned), s.not_yet_created)
        done = f"{plural(len(s.planned), 'change')} planned" if dry_run else writes_text(dict(s.applied))
        out.print(f"{name}: {plural(s.tickets_evaluated, 'ticket')} evaluated, {s.tickets_read} read from the"
                  f" tracker; {done}; {plural(len(s.errors), 'error')}, {plural(len(s.conflicts), 'conflict')}")
        for line in s.conflicts:
            out.print(f"  conflict: {escape(line)}")
        for line in s.left_alone:
            out.print(f"  left alone: {escape(line)}")
        for line in s.errors:
            click.echo(f"  error: {line}", err=True)


def _print_digest(out: Console, name: str, onboarding: bool, plan: dict[str, Any], later: list[str]) -> None:
    """What a dry run would do, counted per kind of change: the onboarding summary on a first connection."""
    title = "first connection: nothing synced before" if onboarding else "dry run"
    out.print(f"[bold]{escape(name)}[/]: {title}; {plural(plan['tickets'], 'ticket')} would change")
    for what, n in plan["changes"].items():
        out.print(f"  {plural(n, 'ticket'):>13}: {escape(what)}")
    if later:
        out.print(f"  {plural(len(later), 'ticket'):>13}: created after --at, left alone")


class _progress:
    """A progress line on long syncs, on stderr and only on a terminal."""

    def __init__(self, out: Console, name: str, quiet: bool) -> None:
        self.console, self.name, self.quiet = out, name, quiet or not out.is_terminal
        self._status: Any = None

    def __enter__(self) -> Callable[[int], None] | None:
        if self.quiet:
            return None
        self._status = self.console.status(f"{escape(self.name)}: syncing")
        self._status.start()
        return lambda n: self._status.update(f"{escape(self.name)}: {plural(n, 'ticket')} evaluated")

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()


def _known(option: str, given: tuple[str, ...], known: list[str]) -> frozenset[str]:
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise click.BadParameter(f"unknown {unknown[0]!r}; known: {', '.join(sorted(known)) or 'none'}",
                                 param_hint=option)
    return frozenset(given)


@click.command("status")
@config_argument
@click.option("--tracker", "trackers", metavar="NAME", multiple=True, help="Only this tracker (repeatable).")
@click.option("--state", "states", multiple=True, type=click.Choice([s.value for s in ClockState]),
              help="Only tickets with a clock in this state (repeatable).")
@click.option("--severity", "severities", metavar="KEY", multiple=True,
              help="Only tickets of this severity, a [severities.KEY] of the contract (repeatable).")
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True,
              help="At most this many rows per list, by deadline (0: all).")
@json_option
def status_command(config: Path, trackers: tuple[str, ...], states: tuple[str, ...], severities: tuple[str, ...],
                   limit: int, as_json: bool) -> None:
    """What the store knows: last pass per tracker, tickets breached or at risk, next timed changes.

    Exit code 1 when the last pass of a tracker failed (errors, or not complete):
    a monitoring check. 2 for a bad option or no store yet.
    """
    from ..status import StatusFilter, collect_status, print_status
    from ..store import Store

    cfg = load_config(config)
    if not cfg.store_path.exists():
        raise InputError(f"{cfg.store_path}: no state store yet; run `sla-bridge sync {config}` first")
    store = Store(cfg.store_path)
    try:
        known = sorted(set(cfg.file.trackers) | {c.adapter for c in store.cursors()})
        keys = sorted({key for c in cfg.contracts.all.values() for key in c.policy.severities})  # every contract's
        filters = StatusFilter(_known("--tracker", trackers, known), frozenset(states),
                               _known("--severity", severities, keys), limit)
        report = collect_status(store, cfg, filters)
    finally:
        store.close()
    if as_json:
        echo_json(report)
    else:
        print_status(console(), report, cfg.calendar)
    if not report["ok"]:
        sys.exit(1)


@click.command("report")
@config_argument
@click.option("--from", "first", required=True, metavar="DATE", help="First day of the period (YYYY-MM-DD).")
@click.option("--to", "last", required=True, metavar="DATE", help="Last day of the period, included (YYYY-MM-DD).")
@click.option("--tracker", metavar="NAME", help="Only this tracker.")
@click.option("--customer", metavar="NAME", help="Only this customer (a [trackers.*.customers.*] section).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "html"]), default="table",
              show_default=True, help="Terminal tables, CSV (one row per ticket and clock), JSON, or a"
              " self-contained HTML file with charts.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file (default: stdout).")
@click.option("--separator", metavar="CHAR", help='CSV only: the column separator (default ","; ";" for French'
              " Excel, which also writes decimals with a comma).")
@at_option
def report_command(config: Path, first: str, last: str, tracker: str | None, customer: str | None, fmt: str,
                   out: Path | None, separator: str | None, at: str | None) -> None:
    """Service levels met and breached over a period, recomputed from the store's tickets.

    Exit code 2 for a bad date, an unknown tracker or customer; 1 when the store cannot be read.
    """
    from ..compliance.command import ReportRequest, build, render
    from ..compliance.text import print_report

    cfg = load_config(config)
    request = ReportRequest.parse(cfg, first, last, tracker, customer, fmt, separator, now_or_at(at, cfg))
    report = build(cfg, request)
    if out is None and fmt == "table":
        print_report(console(), report)
        return
    content = render(report, fmt, request.separator)
    if out is None:
        click.echo(content, nl=False)
        return
    try:
        out.write_text(content, encoding="utf-8", newline="")
    except OSError as exc:
        raise SlaBridgeError(f"{out}: cannot write the report: {exc.strerror or exc}") from None
    click.echo(f"report written to {out}", err=True)


@click.command("serve")
@config_argument
def serve_command(config: Path) -> None:
    """The scheduled service: polls each tracker and wakes at the next timed change. Stops on SIGTERM/SIGINT.

    Logs JSON lines at info on stderr unless --log-format / --log-level say otherwise.
    """
    from ..service import serve

    serve(load_config(config))


COMMANDS = [sync_command, serve_command, status_command, report_command]
