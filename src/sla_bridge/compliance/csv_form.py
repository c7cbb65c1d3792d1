"""The report as CSV: one row per ticket and commitment (clock), for a spreadsheet.

Choices, for the spreadsheets people open these in:

- UTF-8 with a byte order mark: Excel reads a CSV without one in the machine's
  legacy code page (accents broken); LibreOffice, pandas (``utf-8-sig``) and
  Python's ``csv`` read it fine.
- ``;`` as the separator is what French Excel expects, and with it numbers are
  written with a decimal comma (``12,5``), as that Excel reads them. With ``,``
  (the default) they use a point.
- Instants are local wall-clock times in the calendar's zone (``2025-05-12 14:30``),
  which every spreadsheet reads as a date and time; the headers name the zone.
- Tracker text (titles, customers) that starts with ``=``, ``+``, ``-``, ``@`` is
  prefixed with ``'`` so that no cell is ever run as a formula (CSV injection).
- Headers follow ``[templates] language`` (French or English).

Pure: returns the text; the caller writes it.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

from .i18n import number, texts
from .model import ClockRow, Report

BOM = "\ufeff"
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA) else text


def _when(t: datetime | None, zone: ZoneInfo) -> str:
    return t.astimezone(zone).strftime("%Y-%m-%d %H:%M") if t else ""


def _hours(minutes: float | None, language: str) -> str:
    return number(round(minutes / 60.0, 2), language, 2, na="") if minutes is not None else ""


def headers(report: Report) -> list[str]:
    w = texts(report.language)
    zone = f" ({report.zone})"
    return [w["tracker"], w["ticket"], w["title_col"], w["customer"], w["severity"], w["clock"], w["target"],
            w["outcome"], w["counted"], w["started"] + zone, w["deadline"] + zone, w["stopped_at"] + zone,
            w["decided"] + zone, w["elapsed_h"], w["late_h"], w["remaining_h"], w["breached_under"]]


def row_cells(r: ClockRow, report: Report, decimal_comma: bool) -> list[str]:
    w = texts(report.language)
    zone = ZoneInfo(report.zone)
    lang = "fr" if decimal_comma else "en"
    return [_cell(r.tracker), _cell(r.ticket_id), _cell(r.title), _cell(r.customer), _cell(r.severity),
            w[r.clock.value], r.target, w["state_" + r.state], w["yes"] if r.decided else w["no"],
            _when(r.started_at, zone), _when(r.deadline, zone), _when(r.stopped_at, zone),
            _when(r.decided_at, zone), _hours(r.elapsed_minutes, lang), _hours(r.late_minutes, lang),
            _hours(r.remaining_minutes, lang), _cell(r.breached_under or "")]


def report_to_csv(report: Report, separator: str = ",") -> str:
    """Every ticket-clock the report counts (decided in the period) or lists (running at its end)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(headers(report))
    for row in report.rows:
        writer.writerow(row_cells(row, report, decimal_comma=separator == ";"))
    return BOM + out.getvalue()
