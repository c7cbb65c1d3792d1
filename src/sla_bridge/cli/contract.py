"""Commands about the contract itself, no tracker written: check-config, calendar, evaluate, explain."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..config import describe_calendar, load_config
from ..engine import evaluate
from ..errors import InputError
from ..policy import Unit, parse_duration
from ..report import evaluation_to_json, policy_to_json, print_checks, print_evaluations, print_explanation, \
    print_policy
from ..text import iso, local, minutes_text
from .common import at_option, config_argument, console, echo_json, json_option, load_tickets, now_or_at, \
    parse_instant


@click.command("check-config")
@config_argument
@click.option("--connect", is_flag=True,
              help="Also ask each tracker (read-only) whether what the config names exists there.")
@json_option
def check_config(config: Path, connect: bool, as_json: bool) -> None:
    """Validate CONFIG and everything sync will need; print the effective policy.

    Exit code 2 when anything is missing or wrong.
    """
    from ..checks import check_trackers

    cfg = load_config(config)
    calendar_text = describe_calendar(cfg.file.calendar)
    reports = check_trackers(cfg, connect=connect)
    ok = all(r.ok for r in reports)
    if as_json:
        echo_json({"config": str(config), "ok": ok,
                   "policy": policy_to_json(cfg.policy, calendar_text, cfg.file.contract.name),
                   "trackers": [r.to_json() for r in reports]})
    else:
        out = console()
        print_policy(out, cfg.policy, calendar_text, cfg.file.contract.name)
        print_checks(out, reports)
        click.echo(f"{config}: {'ok' if ok else 'problems found'}")
    if not ok:
        sys.exit(2)


@click.group("calendar")
@config_argument
@click.pass_context
def calendar_group(ctx: click.Context, config: Path) -> None:
    """Business-time what-ifs on the support calendar of CONFIG."""
    ctx.obj = config


@calendar_group.command("add")
@click.argument("start")
@click.argument("duration")
@json_option
@click.pass_obj
def calendar_add(config: Path, start: str, duration: str, as_json: bool) -> None:
    """START plus DURATION of business time ("3h", "90m") or business days ("5d").

    A START without an offset is read in the calendar's time zone.
    """
    cfg = load_config(config)
    begin = parse_instant(start, cfg.calendar.zone, "START")
    try:
        delay = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="DURATION") from None
    if delay.unit is Unit.DAYS:
        result = cfg.calendar.add_days(begin, delay.amount)
    else:
        result = cfg.calendar.add(begin, delay.amount)
    if as_json:
        echo_json({"start": iso(begin, cfg.calendar), "duration": str(delay), "result": iso(result, cfg.calendar),
                   "local": local(result, cfg.calendar)})
    else:
        click.echo(f"{iso(result, cfg.calendar)}  ({local(result, cfg.calendar)})")


@calendar_group.command("between")
@click.argument("a")
@click.argument("b")
@json_option
@click.pass_obj
def calendar_between(config: Path, a: str, b: str, as_json: bool) -> None:
    """Business time from A to B (negative when B is before A)."""
    cfg = load_config(config)
    start, end = parse_instant(a, cfg.calendar.zone, "A"), parse_instant(b, cfg.calendar.zone, "B")
    minutes = cfg.calendar.between(start, end)
    if as_json:
        echo_json({"from": iso(start, cfg.calendar), "to": iso(end, cfg.calendar), "business_minutes": minutes})
    else:
        click.echo(f"{minutes:g} business minutes ({minutes_text(minutes)})")


@click.command("evaluate")
@config_argument
@click.argument("tickets", type=click.Path(dir_okay=False, path_type=Path))
@at_option
@json_option
def evaluate_command(config: Path, tickets: Path, at: str | None, as_json: bool) -> None:
    """Evaluate every ticket of TICKETS (JSON form) against the contract."""
    cfg = load_config(config)
    now = now_or_at(at, cfg)
    evaluations = [evaluate(t, cfg.policy, cfg.calendar, now) for t in load_tickets(tickets)]
    if as_json:
        echo_json([evaluation_to_json(e, cfg.calendar) for e in evaluations])
    else:
        print_evaluations(console(), evaluations, cfg.calendar)


@click.command("explain")
@config_argument
@click.argument("tickets", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("ticket_id")
@at_option
@json_option
def explain_command(config: Path, tickets: Path, ticket_id: str, at: str | None, as_json: bool) -> None:
    """The timeline of one ticket: what counted, what paused, why each deadline is where it is."""
    cfg = load_config(config)
    found = [t for t in load_tickets(tickets) if ticket_id in (t.id, t.key)]
    if not found:
        raise InputError(f"{tickets}: no ticket with id {ticket_id!r}")
    evaluation = evaluate(found[0], cfg.policy, cfg.calendar, now_or_at(at, cfg))
    if as_json:
        out = evaluation_to_json(evaluation, cfg.calendar)
        out["timeline"] = [{"at": iso(when, cfg.calendar), "what": what} for when, what in evaluation.timeline]
        echo_json(out)
    else:
        print_explanation(console(), evaluation, cfg.calendar)


COMMANDS = [check_config, calendar_group, evaluate_command, explain_command]
