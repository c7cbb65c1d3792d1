"""``sla-bridge report``: the options checked, the store read, the report built and rendered.

Usage errors (a bad date, ``--from`` after ``--to``, an unknown tracker or
customer, a separator for another format) are ``click.BadParameter``: exit code 2
with the option named and what was expected. A store that is missing or cannot be
read is a run-time failure (exit code 1).
"""

from __future__ import annotations

import io
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime

import click
from rich.console import Console

from ..config import Config
from ..errors import SlaBridgeError
from ..store import Store, store_failure
from .compute import build_report, customer_names, make_period
from .model import Period, Report
from .source import read_store

FORMATS = ("table", "csv", "json", "html")


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"expected a date like 2025-03-31 (YYYY-MM-DD), got {text!r}",
                                 param_hint=option) from None


@dataclass(frozen=True)
class ReportRequest:
    period: Period
    tracker: str | None
    customer: str | None
    fmt: str
    separator: str
    now: datetime

    @classmethod
    def parse(cls, cfg: Config, first: str, last: str, tracker: str | None, customer: str | None, fmt: str,
              separator: str | None, now: datetime) -> "ReportRequest":
        start, end = _day(first, "--from"), _day(last, "--to")
        if end < start:
            raise click.BadParameter(f"--to {end} is before --from {start}: expected a last day on or after the"
                                     " first", param_hint="--to")
        if separator is not None and fmt != "csv":
            raise click.BadParameter(f"a separator is for --format csv, not {fmt}", param_hint="--separator")
        if separator is not None and (len(separator) != 1 or separator in "\"\r\n"):
            raise click.BadParameter(f'expected one character such as "," or ";", got {separator!r}',
                                     param_hint="--separator")
        if customer is not None:
            known = customer_names(cfg.policy)
            if customer not in known:
                expected = f"one of: {', '.join(known)}" if known else \
                    "a [trackers.<name>.customers.<customer>] section, and the configuration has none"
                raise click.BadParameter(f"unknown customer {customer!r}; expected {expected}",
                                         param_hint="--customer")
        return cls(make_period(start, end, cfg.calendar.zone), tracker, customer, fmt, separator or ",", now)


def build(cfg: Config, request: ReportRequest) -> Report:
    """Read the store of `cfg` and compute the report (the store is only read)."""
    path = cfg.store_path
    if str(path) != ":memory:" and not path.exists():
        raise SlaBridgeError(f"{path}: no state store yet: run `sla-bridge sync {cfg.path}` first"
                             " (or `sla-bridge demo`, whose store and configuration it names)")
    store = Store(path)
    try:
        if request.tracker is not None:
            known = sorted(set(cfg.file.trackers) | {c.adapter for c in store.cursors()})
            if request.tracker not in known:
                raise click.BadParameter(f"unknown tracker {request.tracker!r}; expected one of:"
                                         f" {', '.join(known) or '(none configured)'}", param_hint="--tracker")
        view = read_store(store, cfg, request.tracker)
    except sqlite3.Error as exc:
        raise store_failure(path, exc) from None
    finally:
        store.close()
    return build_report(view.tickets, view.journal, view.trackers, cfg.policy, cfg.calendar, request.period,
                        request.now, contract=cfg.file.contract.name, language=cfg.file.templates.language,
                        tracker=request.tracker, customer=request.customer, notes=view.warnings,
                        contracts=cfg.contracts)


def render(report: Report, fmt: str, separator: str = ",") -> str:
    """The report as text in `fmt` (``table`` without colours, for a file)."""
    if fmt == "json":
        import json

        from .json_form import report_to_json

        return json.dumps(report_to_json(report), indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        from .csv_form import report_to_csv

        return report_to_csv(report, separator)
    if fmt == "html":
        from .html import report_to_html

        return report_to_html(report)
    from .text import print_report

    buffer = io.StringIO()
    print_report(Console(file=buffer, width=140, color_system=None, force_terminal=False, highlight=False), report)
    return buffer.getvalue()
