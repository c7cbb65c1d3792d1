"""What the commands share: consoles, instants from the command line, ticket files, JSON out."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

import click
from rich.console import Console

from ..config import Config
from ..errors import InputError
from ..model import Ticket, TicketFormatError, tickets_from_json

F = TypeVar("F", bound=Callable[..., Any])
PIPE_WIDTH = 160  # tables written to a pipe or a file: wide enough not to fold most rows


def console(stderr: bool = False) -> Console:
    """A console for people. Piped (not a terminal), lines are never folded at a width
    (soft wrap: a phrase stays on its line for grep, cut, mail) and tables get room."""
    out = Console(highlight=False, stderr=stderr)
    if not out.is_terminal:
        out.soft_wrap = True
        if "COLUMNS" not in os.environ:
            out.width = PIPE_WIDTH
    return out


def parse_instant(text: str, cal_zone: Any, what: str) -> datetime:
    """An ISO instant; one without an offset is read in the calendar's zone, as a person means it."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"expected an ISO 8601 datetime like 2025-03-28T17:00+01:00, got {text!r}",
                                 param_hint=what) from None
    return value.replace(tzinfo=cal_zone) if value.tzinfo is None else value


def now_or_at(at: str | None, cfg: Config) -> datetime:
    return parse_instant(at, cfg.calendar.zone, "--at") if at else datetime.now(timezone.utc)


def load_tickets(path: Path) -> list[Ticket]:
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


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def warn(text: str) -> None:
    """A warning for the person at the terminal (stderr), like errors: ``sla-bridge: warning: ...``."""
    click.echo(f"sla-bridge: warning: {text}", err=True)


config_argument = click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (instants as in the README).")


def at_option(f: F) -> F:
    return click.option("--at", "at", metavar="ISO",
                        help="Evaluate as if it were this instant (default: now).")(f)
