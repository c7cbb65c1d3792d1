"""The report as one self-contained HTML file: inline CSS, inline SVG charts, no script.

Opened from a disk or an e-mail attachment it needs no network and no other file.
Every value is escaped by Jinja2 (autoescape): a ticket title holding
``<script>`` is shown as text. Each figure also carries a ``data-metric``
attribute naming where it is in the JSON report, so a test can read what a
browser shows and compare it with ``--format json``. Labels follow
``[templates] language``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from ..text import minutes_text
from .charts import acknowledge_chart, compliance_chart, trend_chart
from .html_template import TEMPLATE
from .i18n import number, percent, texts
from .model import Report


def _environment(report: Report) -> jinja2.Environment:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    zone = ZoneInfo(report.zone)
    lang = report.language

    def when(t: datetime | None) -> str:
        return t.astimezone(zone).strftime("%Y-%m-%d %H:%M") if t else "-"

    env.filters.update(
        when=when,
        pct=lambda v: percent(v, lang),
        num=lambda v, decimals=2: number(v, lang, decimals, na="-"),
        dur=minutes_text,
    )
    return env


def report_to_html(report: Report) -> str:
    words = texts(report.language)
    charts: dict[str, Any] = {}
    if report.seen:
        charts = {"compliance": Markup(compliance_chart(report, words)),
                  "trend": Markup(trend_chart(report, words)),
                  "acknowledge": Markup(acknowledge_chart(report, words))}
    template = _environment(report).from_string(TEMPLATE)
    groups = [("overall", words["overall"], report.overall)]
    if len(report.customers) > 1 or report.customer_filter:
        groups += [(f"customers.{g.name}", g.name + (f" ({g.contract})" if g.contract else ""), g)
                   for g in report.customers]
    return template.render(r=report, w=words, charts=charts, groups=groups,
                           running=[row for row in report.rows if not row.decided],
                           unit=words[report.trend_unit])
