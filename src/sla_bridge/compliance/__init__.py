"""The compliance report (``sla-bridge report``): service levels met and breached over a period.

``compute`` (pure) recomputes every ticket of the store with the engine;
``source`` reads the store; ``text``, ``csv_form``, ``json_form`` and ``html``
render the one ``Report`` for a terminal, a spreadsheet, a machine and a browser.
"""

from __future__ import annotations

from .compute import build_report, coverage_of, customer_names, customer_of, make_period, percentile
from .json_form import report_to_json
from .model import (
    AwaitingRelease,
    Breach,
    ClockRow,
    ClockStats,
    Coverage,
    GroupReport,
    JournalFact,
    OutOfContract,
    Period,
    Report,
    TrackerCoverage,
    TrackerView,
    TrendBucket,
    WaitingStats,
)

__all__ = [
    "AwaitingRelease", "Breach", "ClockRow", "ClockStats", "Coverage", "GroupReport", "JournalFact", "OutOfContract",
    "Period", "Report", "TrackerCoverage", "TrackerView", "TrendBucket", "WaitingStats", "build_report",
    "coverage_of", "customer_names", "customer_of", "make_period", "percentile", "report_to_json",
]
