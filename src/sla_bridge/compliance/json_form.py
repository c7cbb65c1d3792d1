"""The report as JSON: English keys, instants in ISO 8601 with the calendar's offset.

What the HTML shows is checked against this form (the browser test reads both).
Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from .model import Breach, ClockRow, ClockStats, GroupReport, Report

FORMAT_VERSION = 1


def _iso(t: datetime | None, zone: ZoneInfo) -> str | None:
    return t.astimezone(zone).isoformat() if t is not None else None


def _minutes(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None


def _hours(value: float | None) -> float | None:
    return round(value / 60.0, 2) if value is not None else None


def stats_to_json(s: ClockStats) -> dict[str, Any]:
    return {"severity": s.severity, "clock": s.clock.value, "target": s.target or None, "ended": s.ended,
            "met": s.met, "breached": s.breached, "compliance": s.compliance, "running": s.running,
            "stopped": s.stopped, "median_hours": s.median_hours, "p90_hours": s.p90_hours}


def group_to_json(g: GroupReport) -> dict[str, Any]:
    return {"name": g.name, "kind": g.kind, "tracker": g.tracker, "tickets": g.tickets, "contract": g.contract,
            "clocks": [stats_to_json(s) for s in g.clocks],
            "waiting": {"reminders": {str(step): n for step, n in g.waiting.reminders},
                        "auto_closed": g.waiting.auto_closed, "cycles_started": g.waiting.cycles_started,
                        "restarted_by_customer": g.waiting.restarted_by_customer}}


def row_to_json(r: ClockRow, zone: ZoneInfo) -> dict[str, Any]:
    return {"ticket": r.key, "tracker": r.tracker, "id": r.ticket_id, "title": r.title, "customer": r.customer,
            "severity": r.severity, "clock": r.clock.value, "target": r.target, "state": r.state,
            "counted": r.decided, "started_at": _iso(r.started_at, zone), "deadline": _iso(r.deadline, zone),
            "stopped_at": _iso(r.stopped_at, zone), "decided_at": _iso(r.decided_at, zone),
            "elapsed_business_minutes": _minutes(r.elapsed_minutes),
            "late_business_minutes": _minutes(r.late_minutes),
            "remaining_business_minutes": _minutes(r.remaining_minutes), "breached_under": r.breached_under}


def breach_to_json(b: Breach, zone: ZoneInfo) -> dict[str, Any]:
    r = b.row
    return {"ticket": r.key, "tracker": r.tracker, "id": r.ticket_id, "title": r.title, "customer": r.customer,
            "severity": r.severity, "clock": r.clock.value, "target": r.target, "deadline": _iso(r.deadline, zone),
            "breached_at": _iso(r.decided_at, zone), "stopped_at": _iso(r.stopped_at, zone),
            "still_open": b.still_open, "late_business_minutes": _minutes(r.late_minutes),
            "late_business_hours": _hours(r.late_minutes), "breached_under": r.breached_under,
            "timeline": [{"at": _iso(at, zone), "what": what} for at, what in b.timeline], "why": list(b.why)}


def report_to_json(report: Report) -> dict[str, Any]:
    zone = ZoneInfo(report.zone)
    p = report.period
    return {
        "report": "compliance",
        "format_version": FORMAT_VERSION,
        "contract": report.contract,
        "language": report.language,
        "time_zone": report.zone,
        "period": {"from": p.first_day.isoformat(), "to": p.last_day.isoformat(), "start": _iso(p.start, zone),
                   "end": _iso(p.end, zone)},
        "generated_at": _iso(report.generated_at, zone),
        "filters": {"tracker": report.tracker_filter, "customer": report.customer_filter},
        "seen": report.seen,
        "coverage": [{"tracker": c.tracker, "status": c.status.value, "first_record": _iso(c.first_record, zone),
                      "last_sync": _iso(c.last_sync, zone), "evaluated_until": _iso(c.evaluated_until, zone),
                      "note": c.note} for c in report.coverage],
        "overall": group_to_json(report.overall),
        "customers": [group_to_json(g) for g in report.customers],
        "breaches": [breach_to_json(b, zone) for b in report.breaches],
        "running": [row_to_json(r, zone) for r in report.rows if not r.decided],
        "awaiting_release": [{"ticket": a.key, "tracker": a.tracker, "id": a.ticket_id, "title": a.title,
                              "customer": a.customer, "severity": a.severity, "created": _iso(a.created, zone),
                              "age_days": a.age_days, "status": a.status, "fix_version": a.fix_version}
                             for a in report.awaiting_release],
        "out_of_contract": [{"ticket": o.key, "tracker": o.tracker, "id": o.ticket_id, "title": o.title,
                             "customer": o.customer, "reporter": o.reporter, "created": _iso(o.created, zone),
                             "reason": o.reason} for o in report.out_of_contract],
        "trend": {"unit": report.trend_unit,
                  "buckets": [{"label": b.label, "start": b.start.isoformat(), "end": b.end.isoformat(),
                               "met": b.met, "breached": b.breached, "compliance": b.compliance}
                              for b in report.trend]},
        "durations": [{"severity": s, "clock": c.value, "business_hours": round(m / 60.0, 2)}
                      for s, c, m in report.durations],
        "rows": [row_to_json(r, zone) for r in report.rows],
        "unclassified": [{"ticket": key, "why": why} for key, why in report.unclassified],
        "warnings": list(report.warnings),
    }
