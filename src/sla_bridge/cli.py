"""The ``sla-bridge`` command line (click). Thin: it parses, calls the core, prints.

Exit codes: 0 ok, 1 failure at run time, 2 bad usage or configuration.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

import click
from rich.console import Console

from . import __version__
from .config import Config, describe_calendar, load_config
from .engine import evaluate
from .errors import ConfigError, InputError, SlaBridgeError
from .model import Ticket, TicketFormatError, tickets_from_json
from .policy import Unit, parse_duration
from .secrets import install_log_scrubbing, scrub
from .report import evaluation_to_json, policy_to_json, print_checks, print_evaluations, print_explanation, print_policy
from .text import local, minutes_text

F = TypeVar("F", bound=Callable[..., Any])


def _console() -> Console:
    return Console(highlight=False)


def _parse_instant(text: str, cal_zone: Any, what: str) -> datetime:
    """An ISO instant; one without an offset is read in the calendar's zone, as a person means it."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"expected an ISO 8601 datetime like 2025-03-28T17:00+01:00, got {text!r}",
                                 param_hint=what) from None
    return value.replace(tzinfo=cal_zone) if value.tzinfo is None else value


def _now(at: str | None, cfg: Config) -> datetime:
    return _parse_instant(at, cfg.calendar.zone, "--at") if at else datetime.now(timezone.utc)


def _load_tickets(path: Path) -> list[Ticket]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    try:
        return tickets_from_json(data)
    except (TicketFormatError, ValueError) as exc:
        raise InputError(f"{path}: {exc}") from None


class _Group(click.Group):
    """Turns sla-bridge's own errors into a one-line message on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SlaBridgeError as exc:
            click.echo(f"sla-bridge: error: {scrub(str(exc))}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sla-bridge")
def cli() -> None:
    """Enforce a support contract's service levels on the trackers teams already use."""


config_argument = click.argument("config", type=click.Path(dir_okay=False, path_type=Path))


@cli.command("check-config")
@config_argument
@click.option("--connect", is_flag=True,
              help="Also ask each tracker (read-only) whether what the config names exists there.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def check_config(config: Path, connect: bool, as_json: bool) -> None:
    """Validate CONFIG and everything sync will need; print the effective policy.

    Exit code 2 when anything is missing or wrong.
    """
    from .checks import check_trackers

    cfg = load_config(config)
    calendar_text = describe_calendar(cfg.file.calendar)
    reports = check_trackers(cfg, connect=connect)
    ok = all(r.ok for r in reports)
    if as_json:
        click.echo(json.dumps({"config": str(config), "ok": ok,
                               "policy": policy_to_json(cfg.policy, calendar_text, cfg.file.contract.name),
                               "trackers": [r.to_json() for r in reports]}, indent=2, ensure_ascii=False))
    else:
        console = _console()
        print_policy(console, cfg.policy, calendar_text, cfg.file.contract.name)
        print_checks(console, reports)
        click.echo(f"{config}: {'ok' if ok else 'problems found'}")
    if not ok:
        sys.exit(2)


@cli.group("calendar")
@config_argument
@click.pass_context
def calendar_group(ctx: click.Context, config: Path) -> None:
    """Business-time what-ifs on the support calendar of CONFIG."""
    ctx.obj = config


@calendar_group.command("add")
@click.argument("start")
@click.argument("duration")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def calendar_add(config: Path, start: str, duration: str, as_json: bool) -> None:
    """START plus DURATION of business time ("3h", "90m") or business days ("5d").

    A START without an offset is read in the calendar's time zone.
    """
    cfg = load_config(config)
    begin = _parse_instant(start, cfg.calendar.zone, "START")
    try:
        delay = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="DURATION") from None
    if delay.unit is Unit.DAYS:
        result = cfg.calendar.add_days(begin, delay.amount)
    else:
        result = cfg.calendar.add(begin, delay.amount)
    if as_json:
        click.echo(json.dumps({"start": begin.isoformat(), "duration": str(delay), "result": result.isoformat(),
                               "local": local(result, cfg.calendar)}))
    else:
        click.echo(f"{result.isoformat()}  ({local(result, cfg.calendar)})")


@calendar_group.command("between")
@click.argument("a")
@click.argument("b")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def calendar_between(config: Path, a: str, b: str, as_json: bool) -> None:
    """Business time from A to B (negative when B is before A)."""
    cfg = load_config(config)
    start, end = _parse_instant(a, cfg.calendar.zone, "A"), _parse_instant(b, cfg.calendar.zone, "B")
    minutes = cfg.calendar.between(start, end)
    if as_json:
        click.echo(json.dumps({"from": start.isoformat(), "to": end.isoformat(), "business_minutes": minutes}))
    else:
        click.echo(f"{minutes:g} business minutes ({minutes_text(minutes)})")


def _at_option(f: F) -> F:
    return click.option("--at", "at", metavar="ISO",
                        help="Evaluate as if it were this instant (default: now).")(f)


@cli.command("evaluate")
@config_argument
@click.argument("tickets", type=click.Path(dir_okay=False, path_type=Path))
@_at_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def evaluate_command(config: Path, tickets: Path, at: str | None, as_json: bool) -> None:
    """Evaluate every ticket of TICKETS (JSON form) against the contract."""
    cfg = load_config(config)
    now = _now(at, cfg)
    evaluations = [evaluate(t, cfg.policy, cfg.calendar, now) for t in _load_tickets(tickets)]
    if as_json:
        click.echo(json.dumps([evaluation_to_json(e) for e in evaluations], indent=2, ensure_ascii=False))
    else:
        print_evaluations(_console(), evaluations, cfg.calendar)


@cli.command("explain")
@config_argument
@click.argument("tickets", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("ticket_id")
@_at_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the evaluation with its timeline).")
def explain_command(config: Path, tickets: Path, ticket_id: str, at: str | None, as_json: bool) -> None:
    """The timeline of one ticket: what counted, what paused, why each deadline is where it is."""
    cfg = load_config(config)
    found = [t for t in _load_tickets(tickets) if ticket_id in (t.id, t.key)]
    if not found:
        raise InputError(f"{tickets}: no ticket with id {ticket_id!r}")
    evaluation = evaluate(found[0], cfg.policy, cfg.calendar, _now(at, cfg))
    if as_json:
        out = evaluation_to_json(evaluation)
        out["timeline"] = [{"at": when.isoformat(), "what": what} for when, what in evaluation.timeline]
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print_explanation(_console(), evaluation, cfg.calendar)


@cli.command("sync")
@config_argument
@click.option("--once", is_flag=True, help="One pass, then exit (the default; for cron).")
@click.option("--dry-run", is_flag=True, help="Print the changes a real run would make; write nothing.")
@_at_option
@click.option("--adapter", "adapter", metavar="NAME", help="Sync only this tracker.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def sync_command(config: Path, once: bool, dry_run: bool, at: str | None, adapter: str | None, as_json: bool) -> None:
    """One sync pass over every configured tracker (or one with --adapter).

    Exit code 1 when a tracker or a ticket failed (the others are still synced).
    """
    from .app import build_app
    from .sync import Syncer, describe, digest

    cfg = load_config(config)
    app = build_app(cfg, adapter)
    console = Console(stderr=True, highlight=False)
    now = _parse_instant(at, cfg.calendar.zone, "--at") if at else None
    summaries = []
    try:
        for name, instance in app.adapters.items():
            with _progress(console, name, as_json) as tick:
                syncer = Syncer(cfg, app.store, instance, app.pm, clock=lambda: datetime.now(timezone.utc),
                                progress=tick)
                summaries.append(syncer.run(now, dry_run=dry_run))
    finally:
        app.close()
    if as_json:
        click.echo(json.dumps([s.to_json() for s in summaries], indent=2, ensure_ascii=False))
    else:
        out = _console()
        for s in summaries:
            if dry_run:
                for ticket, action in s.planned:
                    out.print(f"would {describe(action)} on {ticket}", soft_wrap=True)
                _print_digest(out, s.adapter, s.onboarding, digest(s.planned), s.not_yet_created)
            applied = ", ".join(f"{n} {kind}" for kind, n in sorted(s.applied.items())) or "no change"
            out.print(f"{s.adapter}: {s.tickets_evaluated} tickets evaluated, {s.tickets_read} read from the tracker;"
                      f" {'planned ' + str(len(s.planned)) + ' changes' if dry_run else applied};"
                      f" {len(s.errors)} errors, {len(s.conflicts)} conflicts", soft_wrap=True)
            for line in s.conflicts:
                out.print(f"  conflict: {line}", soft_wrap=True)
            for line in s.errors:
                click.echo(f"  error: {line}", err=True)
    if any(s.errors for s in summaries):
        sys.exit(1)


def _print_digest(out: Console, name: str, onboarding: bool, plan: dict[str, Any], later: list[str]) -> None:
    """What a dry run would do, counted per kind of change: the onboarding summary on a first connection."""
    title = "first connection: nothing synced before" if onboarding else "dry run"
    out.print(f"[bold]{name}[/]: {title}; {plan['tickets']} tickets would change", soft_wrap=True)
    for what, n in plan["changes"].items():
        out.print(f"  {n:6d} tickets: {what}", soft_wrap=True)
    if later:
        out.print(f"  {len(later):6d} tickets created after --at: left alone", soft_wrap=True)


class _progress:
    """A progress line on long syncs, on stderr and only on a terminal."""

    def __init__(self, console: Console, name: str, quiet: bool) -> None:
        self.console, self.name, self.quiet = console, name, quiet or not console.is_terminal
        self._status: Any = None

    def __enter__(self) -> Callable[[int], None] | None:
        if self.quiet:
            return None
        self._status = self.console.status(f"{self.name}: syncing")
        self._status.start()
        return lambda n: self._status.update(f"{self.name}: {n} tickets evaluated")

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()


@cli.command("status")
@config_argument
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_command(config: Path, as_json: bool) -> None:
    """What the store knows: last sync per tracker, tickets at risk or breached, next actions."""
    from .status import collect_status, print_status

    cfg = load_config(config)
    from .store import Store

    if not cfg.store_path.exists():
        raise InputError(f"{cfg.store_path}: no state store yet; run `sla-bridge sync {config} --once` first")
    store = Store(cfg.store_path)
    try:
        report = collect_status(store, cfg)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_status(_console(), report, cfg.calendar)


@cli.command("report")
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
@_at_option
def report_command(config: Path, first: str, last: str, tracker: str | None, customer: str | None, fmt: str,
                   out: Path | None, separator: str | None, at: str | None) -> None:
    """Service levels met and breached over a period, recomputed from the store's tickets.

    Exit code 2 for a bad date, an unknown tracker or customer; 1 when the store cannot be read.
    """
    from .compliance.command import ReportRequest, build, render
    from .compliance.text import print_report

    cfg = load_config(config)
    request = ReportRequest.parse(cfg, first, last, tracker, customer, fmt, separator, _now(at, cfg))
    report = build(cfg, request)
    if out is None and fmt == "table":
        print_report(_console(), report)
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


@cli.command("serve")
@config_argument
def serve_command(config: Path) -> None:
    """The scheduled service: polls each tracker and wakes at the next timed change. Stops on SIGTERM/SIGINT."""
    from .service import serve

    serve(load_config(config))


@cli.command("demo")
@click.option("--config", "config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Contract to run (default: the built-in example contract).")
def demo_command(config: Path | None) -> None:
    """Run the contract over built-in sample tickets through three simulated weeks."""
    from .demo import builtin_config, run_demo

    cfg = None
    if config is not None:
        import tomllib

        try:
            raw = tomllib.loads(config.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{config}: {exc}") from None
        cfg = builtin_config(raw)
    run_demo(_console(), cfg)


def main(argv: list[str] | None = None) -> None:
    install_log_scrubbing()
    cli.main(args=argv, prog_name="sla-bridge")


if __name__ == "__main__":  # pragma: no cover
    main()
