"""The HTML report's charts, drawn by matplotlib as inline SVG.

matplotlib's object API with the Agg canvas (no pyplot, so no global figure state
and nothing tied to a display), saved as SVG with glyphs as paths: the charts look
the same in every browser, need no font and no network. Ids inside each SVG get a
per-chart prefix, since several SVGs share one HTML document. The output is
deterministic (fixed hash salt, no date), so two runs give the same file.
"""

from __future__ import annotations

import io
import re
from typing import Any, Mapping, Sequence

import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..policy import Clock
from .model import Report

MET, BREACHED = "#2e7d32", "#c62828"
CLOCK_COLOURS = {Clock.ACKNOWLEDGE: "#1565c0", Clock.WORKAROUND: "#ef6c00", Clock.RESOLUTION: "#6a1b9a"}
STYLE: dict[Any, Any] = {"svg.fonttype": "path", "svg.hashsalt": "sla-bridge", "font.family": "DejaVu Sans", "font.size": 9,
         "axes.spines.top": False, "axes.spines.right": False}
_ID = re.compile(r'(id="|href="#|url\(#)')
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


def _svg(figure: Figure, prefix: str) -> str:
    """The figure as an ``<svg>`` element with ids prefixed by `prefix`."""
    FigureCanvasAgg(figure)
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    text = _METADATA.sub("", text[text.index("<svg"):])
    return _ID.sub(lambda m: m.group(1) + prefix, text)


def _no_data(figure: Figure, message: str) -> None:
    ax = figure.add_subplot()
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", color="#666666")


def compliance_chart(report: Report, words: Mapping[str, str]) -> str:
    """Compliance per severity (groups) and clock (bars); no bar where nothing ended."""
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(5.0, 3.2))
        stats = [s for s in report.overall.clocks if s.severity is not None]
        severities = list(dict.fromkeys(s.severity for s in stats))
        if not any(s.ended for s in stats):
            _no_data(figure, words["na"])
            return _svg(figure, "cc-")
        ax = figure.add_subplot()
        width = 0.8 / len(Clock)
        labelled: set[Clock] = set()
        for k, clock in enumerate(Clock):
            for i, severity in enumerate(severities):
                found = next((s for s in stats if s.severity == severity and s.clock is clock), None)
                if found is None:
                    continue
                x = i - 0.4 + width * (k + 0.5)
                value = found.compliance
                if value is None:
                    ax.text(x, 2, words["na"], ha="center", va="bottom", fontsize=7, color="#666666")
                    continue
                ax.bar(x, value, width * 0.9, color=CLOCK_COLOURS[clock],
                       label=None if clock in labelled else words[clock.value])
                labelled.add(clock)
                ax.text(x, value + 1.5, f"{value:.0f}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(severities)), [str(s) for s in severities])
        ax.set_ylim(0, 112)
        ax.set_ylabel("%")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(Clock), fontsize=7, frameon=False)
        return _svg(figure, "cc-")


def trend_chart(report: Report, words: Mapping[str, str]) -> str:
    """Met and breached clocks per week or month, stacked."""
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(5.0, 3.2))
        buckets = report.trend
        if not any(b.met + b.breached for b in buckets):
            _no_data(figure, words["na"])
            return _svg(figure, "tr-")
        ax = figure.add_subplot()
        xs = range(len(buckets))
        met = [b.met for b in buckets]
        ax.bar(xs, met, color=MET, label=words["met"])
        ax.bar(xs, [b.breached for b in buckets], bottom=met, color=BREACHED, label=words["breached"])
        ax.set_xticks(list(xs), [b.label for b in buckets], rotation=45 if len(buckets) > 6 else 0, ha="right"
                      if len(buckets) > 6 else "center")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7, frameon=False)
        return _svg(figure, "tr-")


def acknowledge_chart(report: Report, words: Mapping[str, str]) -> str:
    """How long acknowledging took (business hours), one histogram stacked by severity."""
    with matplotlib.rc_context(STYLE):
        figure = Figure(figsize=(5.0, 3.2))
        per: dict[str, list[float]] = {}
        for severity, clock, minutes in report.durations:
            if clock is Clock.ACKNOWLEDGE:
                per.setdefault(severity, []).append(minutes / 60.0)
        if not per:
            _no_data(figure, words["na"])
            return _svg(figure, "ack-")
        ax = figure.add_subplot()
        values: Sequence[list[float]] = [per[s] for s in sorted(per)]
        top = max(max(v) for v in values)
        bins = _bins(top)
        ax.hist(values, bins=bins, stacked=True, label=sorted(per),
                color=["#1565c0", "#ef6c00", "#6a1b9a", "#00838f", "#9e9d24"][:len(values)])
        ax.set_xlabel(words["hours"])
        ax.set_ylabel(words["tickets"])
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7, frameon=False)
        return _svg(figure, "ack-")


def _bins(top: float) -> list[float]:
    """Readable bin edges: half hours up to a day's opening, then wider."""
    for step in (0.5, 1, 3, 9, 18, 45):
        if top / step <= 24:
            return [i * step for i in range(int(top // step) + 2)]
    return [i * 90.0 for i in range(int(top // 90) + 2)]
