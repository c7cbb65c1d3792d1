"""The report in a terminal (rich tables).

Text that comes from a tracker (titles, names, statuses, customer names) is put
into ``rich.text.Text`` objects, never into markup strings: a title such as
``[bold red]x[/]`` or ``:fire:`` is printed as written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable
from zoneinfo import ZoneInfo

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..text import minutes_text
from .i18n import percent
from .model import ClockStats, Coverage, GroupReport, Report

STATE_STYLE = {"met": "green", "breached": "bold red", "running": "cyan", "paused": "yellow",
               "at_risk": "bold yellow"}


def _t(value: object, style: str = "") -> Text:
    """Plain text, whatever brackets or colons it holds."""
    return Text(str(value), style=style)


def _when(t: datetime | None, zone: ZoneInfo) -> str:
    return t.astimezone(zone).strftime("%a %d %b %Y %H:%M") if t else "-"


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _table(title: str) -> Table:
    return Table(title=_t(title, "bold"), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                 collapse_padding=True)


def _clock_table(title: str, stats: Iterable[ClockStats]) -> Table:
    table = _table(f"{title} - times in business hours")
    for column in ("severity", "clock", "target", "met", "breached", "%", "running", "median", "p90"):
        table.add_column(column, justify="left" if column in ("severity", "clock") else "right", no_wrap=True)
    shown = list(stats)
    for i, s in enumerate(shown):
        style = "" if s.compliance is None else "green" if s.compliance >= 100 else "bold red" if s.breached else ""
        last_of_severity = i + 1 < len(shown) and shown[i + 1].severity != s.severity
        table.add_row(_t(s.severity or "all"), _t(s.clock.value), _t(s.target or "-"), str(s.met),
                      str(s.breached), _t(percent(s.compliance, "en"), style), str(s.running),
                      _hours(s.median_hours), _hours(s.p90_hours), end_section=last_of_severity)
    return table


def _waiting(console: Console, g: GroupReport) -> None:
    w = g.waiting
    steps = ", ".join(f"#{step}: {n}" for step, n in w.reminders) or "-"
    console.print(Text.assemble(("  waiting for the customer: ", "bold"),
                                f"reminders sent {steps}; {w.auto_closed} closed automatically;"
                                f" {w.cycles_started} waiting cycles started,"
                                f" {w.restarted_by_customer} restarted by a customer answer"))


def print_report(console: Console, report: Report) -> None:
    zone = ZoneInfo(report.zone)
    p = report.period
    console.print(Text.assemble(("Compliance report", "bold"), " - ", report.contract))
    filters = [f"tracker {report.tracker_filter}"] if report.tracker_filter else []
    filters += [f"customer {report.customer_filter}"] if report.customer_filter else []
    console.print(_t(f"period {p.first_day} to {p.last_day} ({report.zone}), whole days"
                     + (f"; {', '.join(filters)}" if filters else "")))
    for c in report.coverage:
        style = {Coverage.COMPLETE: "green", Coverage.PARTIAL: "yellow", Coverage.NOT_SEEN: "bold red"}[c.status]
        console.print(Text.assemble("  ", _t(c.tracker, "bold"), ": ", _t(c.status.value.replace("_", " "), style),
                                    _t(f" - {c.note}" if c.note else "")))
    if not report.seen:
        console.print(_t("The store never saw this period: no figures (see above).", "bold red"))
        return
    _print_groups(console, report)
    _print_breaches(console, report, zone)
    _print_lists(console, report, zone)
    for warning in report.warnings:
        console.print(Text.assemble(("warning: ", "yellow"), warning))


def _print_groups(console: Console, report: Report) -> None:
    console.print()
    console.print(_clock_table("Overall", report.overall.clocks))
    _waiting(console, report.overall)
    if len(report.customers) > 1 or report.customer_filter:
        for g in report.customers:
            console.print()
            contract = f", contract {g.contract}" if g.contract else ""
            console.print(_clock_table(f"Customer {g.name} ({g.kind}, {g.tickets} tickets{contract})", g.clocks))
            _waiting(console, g)


def _print_breaches(console: Console, report: Report, zone: ZoneInfo) -> None:
    console.print()
    if not report.breaches:
        console.print(_t("No breach in the period.", "green"))
        return
    console.print(_t(f"Breaches ({len(report.breaches)})", "bold"))
    for b in report.breaches:
        r = b.row
        under = f" (breached as {r.breached_under})" if r.breached_under else ""
        stopped = "still open at the period's end" if b.still_open else f"stopped {_when(r.stopped_at, zone)}"
        console.print(Text.assemble("  ", _t(r.key, "bold"), " ", _t(r.title), "  [", _t(r.customer), "]"))
        console.print(Text.assemble("    ", _t(f"{r.severity}{under} {r.clock.value}", "bold red"),
                                    f": deadline {_when(r.deadline, zone)}, breached {_when(r.decided_at, zone)},"
                                    f" {minutes_text(r.late_minutes)} of business time late; {stopped}"))
        for at, what in b.timeline:
            console.print(Text.assemble(f"      {_when(at, zone)}  ", _t(what)))
        for line in b.why:
            console.print(Text.assemble("      - ", _t(line)))


def _print_lists(console: Console, report: Report, zone: ZoneInfo) -> None:
    running = [r for r in report.rows if not r.decided]
    console.print()
    if running:
        table = _table(f"Still running at the period's end ({len(running)}, not in the percentages)")
        for column in ("ticket", "severity", "clock", "state", "deadline", "remaining", "title"):
            table.add_column(column, no_wrap=column != "title")
        for r in running:
            table.add_row(_t(r.key), _t(r.severity), _t(r.clock.value), _t(r.state, STATE_STYLE.get(r.state, "")),
                          _when(r.deadline, zone), minutes_text(r.remaining_minutes), _t(r.title))
        console.print(table)
    else:
        console.print(_t("No clock still running at the period's end."))
    if report.awaiting_release:
        table = _table("Waiting for a minor release (no time target, no percentage)")
        for column in ("ticket", "severity", "age (days)", "status", "fix version", "title"):
            table.add_column(column, no_wrap=column != "title")
        for a in report.awaiting_release:
            table.add_row(_t(a.key), _t(a.severity), str(a.age_days), _t(a.status), _t(a.fix_version or "none yet"),
                          _t(a.title))
        console.print(table)
    if report.out_of_contract:
        table = _table("Requests outside the contract")
        for column in ("ticket", "created", "reporter", "reason", "customer", "title"):
            table.add_column(column, no_wrap=column in ("ticket", "created"))
        for o in report.out_of_contract:
            table.add_row(_t(o.key), o.created.astimezone(zone).strftime("%Y-%m-%d"), _t(o.reporter), _t(o.reason.replace("_", " ")),
                          _t(o.customer), _t(o.title))
        console.print(table)
    for key, why in report.unclassified:
        console.print(Text.assemble(("not counted: ", "yellow"), _t(key), " - ", _t(why)))
