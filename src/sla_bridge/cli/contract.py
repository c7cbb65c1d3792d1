"""Commands about the contract itself, no tracker written: check-config, calendar, evaluate, explain."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..calendar import BusinessCalendar
from ..config import load_config
from ..contracts import DEFAULT
from ..engine import evaluate
from ..errors import InputError
from ..policy import Unit, parse_duration
from ..report import contract_to_json, evaluation_to_json, placement_to_json, policy_to_json, print_checks, \
    print_evaluations, print_explanation, print_placements, print_policy
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
    reports = check_trackers(cfg, connect=connect)
    ok = all(r.ok for r in reports)
    if as_json:
        echo_json({"config": str(config), "ok": ok,
                   "policy": policy_to_json(cfg.policy, cfg.contracts.default.calendar_text, cfg.file.contract.name),
                   "contracts": {key: {**policy_to_json(c.policy, c.calendar_text, c.name), "key": key}
                                 for key, c in cfg.contracts.all.items()},
                   "placements": [placement_to_json(p) for p in cfg.contracts.placements],
                   "trackers": [r.to_json() for r in reports]})
    else:
        out = console()
        several = cfg.contracts.several
        for key, c in cfg.contracts.all.items():
            # Trackers' and customers' entitlement (whatever their contract) once, with the default's.
            print_policy(out, c.policy, c.calendar_text, f"contract {c.label}" if several else c.name,
                         trackers=key == DEFAULT)
        print_placements(out, cfg.contracts)
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


contract_option = click.option(
    "--contract", "contract", metavar="KEY", default=DEFAULT, show_default=True,
    help="The calendar of this contract (a [contracts.KEY] section; the top-level sections are 'default').")


def _calendar_of(config: Path, key: str) -> BusinessCalendar:
    cfg = load_config(config)
    if key not in cfg.contracts.all:
        raise click.BadParameter(f"unknown contract {key!r}; expected one of: {', '.join(cfg.contracts.all)}",
                                 param_hint="--contract")
    return cfg.contracts.get(key).calendar


@calendar_group.command("add")
@click.argument("start")
@click.argument("duration")
@contract_option
@json_option
@click.pass_obj
def calendar_add(config: Path, start: str, duration: str, contract: str, as_json: bool) -> None:
    """START plus DURATION of business time ("3h", "90m") or business days ("5d").

    A START without an offset is read in the calendar's time zone.
    """
    cal = _calendar_of(config, contract)
    begin = parse_instant(start, cal.zone, "START")
    try:
        delay = parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="DURATION") from None
    if delay.unit is Unit.DAYS:
        result = cal.add_days(begin, delay.amount)
    else:
        result = cal.add(begin, delay.amount)
    if as_json:
        echo_json({"start": iso(begin, cal), "duration": str(delay), "result": iso(result, cal),
                   "local": local(result, cal)})
    else:
        click.echo(f"{iso(result, cal)}  ({local(result, cal)})")


@calendar_group.command("between")
@click.argument("a")
@click.argument("b")
@contract_option
@json_option
@click.pass_obj
def calendar_between(config: Path, a: str, b: str, contract: str, as_json: bool) -> None:
    """Business time from A to B (negative when B is before A)."""
    cal = _calendar_of(config, contract)
    start, end = parse_instant(a, cal.zone, "A"), parse_instant(b, cal.zone, "B")
    minutes = cal.between(start, end)
    if as_json:
        echo_json({"from": iso(start, cal), "to": iso(end, cal), "business_minutes": minutes})
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
    judged = [(evaluate(t, c.policy, c.calendar, now), c) for t in load_tickets(tickets) for c in [cfg.contract_for(t)]]
    if as_json:
        echo_json([{**evaluation_to_json(e, c.calendar), "contract": contract_to_json(c)} for e, c in judged])
    else:
        print_evaluations(console(), judged, several=cfg.contracts.several)


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
    contract = cfg.contract_for(found[0])  # its customer's, its tracker's, or the default
    cal = contract.calendar
    evaluation = evaluate(found[0], contract.policy, cal, now_or_at(at, cfg))
    if as_json:
        out = evaluation_to_json(evaluation, cal)
        out["contract"] = contract_to_json(contract)
        out["timeline"] = [{"at": iso(when, cal), "what": what} for when, what in evaluation.timeline]
        echo_json(out)
    else:
        print_explanation(console(), evaluation, cal, contract)


COMMANDS = [check_config, calendar_group, evaluate_command, explain_command]
