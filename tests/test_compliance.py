"""The compliance report's numbers, against a small period computed by hand.

Period: Monday 5 to Friday 16 May 2025 (Europe/Paris), with the example contract:
bloquante 3h / 24h / 5d, majeure 3h / 72h / 8d, mineure 2d / none / next minor
release; Monday-Friday 09:00-18:00; Thursday 8 May is a public holiday.

- T1 bloquante, created Mon 5 10:00: acknowledged 11:00 (1h), workaround label Tue
  10:00 (8h + 1h = 9h), resolved Wed 7 16:00 (8h + 9h + 7h = 24h): all met.
- T2 bloquante, created Wed 7 09:00, acknowledged 09:30 (0.5h, met). Waits for the
  customer Wed 17:00 -> Fri 9 10:00, across the 8 May holiday (2h of business time
  paused); the customer answers Fri 09:30 while waiting (the cycle restarts).
  Workaround: 8h before the pause, 16h more from Fri 10:00 -> deadline Mon 12 17:00;
  delivered Tue 13 10:00 -> breached, 2h late, 26h counted. Resolution (45h, +2h
  paused): deadline Thu 15 11:00, never resolved -> breached Thu 15 11:00, still
  open, 16h late at the period's end.
- T3 majeure, created Tue 6 15:00: acknowledge deadline Tue 18:00 (a closing time),
  answered Wed 7 09:00 -> met (no business time after the deadline, 3h counted);
  resolved Wed 12:00 -> workaround and resolution met (6h).
- T4 majeure, created Fri 9 15:00: deadline Fri 18:00 (a closing time); answered Mon
  12 09:30 -> breached at Monday's opening, 0.5h late, 3.5h counted; workaround and
  resolution still running at the period's end.
- T5 mineure, created Mon 12 10:00, acknowledged Tue 13 10:00 (9h of 18h: met);
  its fix waits for a minor release (4 days old on 16 May).
- T6 out of scope (type "Formation"), created Tue 6.
- T7 bloquante, created Mon 28 April 09:00: acknowledged at 13:00 (breached in April:
  not May's); resolution target 45h lands on Mon 5 May 18:00 (1 May is a holiday),
  a closing time; resolved Wed 7 09:00 -> breached at Tue 6 09:00 (in May), 9h late,
  54h counted.
- T8 bloquante, created Mon 12 09:00, acknowledged 09:10, waits from 09:15:
  reminders 1 (Tue) and 3 (Thu) found on the tracker, reminder 2 only in the journal
  (a person deleted it), closed automatically Fri 16 09:15 (notice + status, and the
  journal's transition: one closure). Workaround and resolution met (0.25h counted).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest
from conftest import agent, at, customer, label, make_ticket, status

from sla_bridge.compliance import (
    Coverage,
    JournalFact,
    TrackerView,
    build_report,
    coverage_of,
    make_period,
    percentile,
    report_to_json,
)
from sla_bridge.config import Config
from sla_bridge.model import Comment, Role, Ticket
from sla_bridge.policy import Clock

NOW = at("2025-06-02T09:00:00+02:00")
SYNCED = TrackerView("demo", True, at("2025-06-01T12:00:00+02:00"), None)
T8_STAMP = "20250512T071500Z"  # the waiting cycle's start, Mon 12 May 09:15 Paris, in UTC


def own(when: str, key: str) -> Comment:
    return Comment(at(when), "sla-bridge", Role.AGENT, True, f"Relance\n\n[sla-bridge:{key}]", own=True)


def tickets() -> list[Ticket]:
    d = {"tracker": "demo"}
    return [
        make_ticket("2025-05-05T10:00+02:00", agent("2025-05-05T11:00+02:00"),
                    label("2025-05-06T10:00+02:00", "contournement"), status("2025-05-07T16:00+02:00", "resolved"),
                    id="T1", **d),
        make_ticket("2025-05-07T09:00+02:00", agent("2025-05-07T09:30+02:00"),
                    status("2025-05-07T09:30+02:00", "in_progress"),
                    status("2025-05-07T17:00+02:00", "waiting_for_customer"),
                    customer("2025-05-09T09:30+02:00"), status("2025-05-09T10:00+02:00", "in_progress"),
                    status("2025-05-13T10:00+02:00", "workaround_delivered"), id="T2", **d),
        make_ticket("2025-05-06T15:00+02:00", agent("2025-05-07T09:00+02:00"),
                    status("2025-05-07T12:00+02:00", "resolved"), severity="majeure", id="T3", **d),
        make_ticket("2025-05-09T15:00+02:00", agent("2025-05-12T09:30+02:00"),
                    status("2025-05-12T09:30+02:00", "in_progress"), severity="majeure", id="T4", **d),
        make_ticket("2025-05-12T10:00+02:00", agent("2025-05-13T10:00+02:00"),
                    status("2025-05-13T10:00+02:00", "in_progress"), severity="mineure", id="T5", **d),
        make_ticket("2025-05-06T11:00+02:00", severity="majeure", id="T6", type="Formation", **d),
        make_ticket("2025-04-28T09:00+02:00", agent("2025-04-28T13:00+02:00"),
                    label("2025-04-29T10:00+02:00", "contournement"), status("2025-05-07T09:00+02:00", "resolved"),
                    id="T7", **d),
        make_ticket("2025-05-12T09:00+02:00", agent("2025-05-12T09:10+02:00"),
                    status("2025-05-12T09:15+02:00", "waiting_for_customer"),
                    own("2025-05-13T09:15+02:00", f"demo:T8/reminder/{T8_STAMP}/1"),
                    own("2025-05-15T09:15+02:00", f"demo:T8/reminder/{T8_STAMP}/3"),
                    own("2025-05-16T09:15+02:00", f"demo:T8/closure/{T8_STAMP}"),
                    status("2025-05-16T09:15+02:00", "closed", by_role=Role.SYSTEM, by="sla-bridge"),
                    id="T8", **d),
    ]


JOURNAL = [
    JournalFact(f"demo:T8/reminder/{T8_STAMP}/2", "demo", "T8", "comment", at("2025-05-14T09:15+02:00"), "reminder"),
    JournalFact(f"demo:T8/reminder/{T8_STAMP}/3", "demo", "T8", "comment", at("2025-05-15T09:15+02:00"), "reminder"),
    JournalFact(f"demo:T8/close/{T8_STAMP}", "demo", "T8", "transition", at("2025-05-16T09:15+02:00"), "closed"),
]


def report_for(cfg: Config, first: date, last: date, **kw: object) -> dict:
    period = make_period(first, last, cfg.calendar.zone)
    report = build_report([("demo", t) for t in tickets()], JOURNAL, [SYNCED], cfg.policy, cfg.calendar, period,
                          NOW, contract="test", **kw)  # type: ignore[arg-type]
    return report_to_json(report)


@pytest.fixture(scope="module")
def may(cfg: Config) -> dict:
    return report_for(cfg, date(2025, 5, 5), date(2025, 5, 16))


def stats(group: dict, severity: str | None, clock: str) -> dict:
    return next(s for s in group["clocks"] if s["severity"] == severity and s["clock"] == clock)


def test_met_and_breached_per_severity_and_clock(may: dict) -> None:
    o = may["overall"]
    got = {(s["severity"], s["clock"]): (s["met"], s["breached"], s["compliance"], s["running"])
           for s in o["clocks"]}
    assert got == {
        ("bloquante", "acknowledge"): (3, 0, 100.0, 0),   # T1, T2, T8 (T7's breach was April's)
        ("bloquante", "workaround"): (2, 1, 66.7, 0),     # T1, T8 met; T2 breached (pause across 8 May)
        ("bloquante", "resolution"): (2, 2, 50.0, 0),     # T1, T8 met; T2 (still open), T7 (closing time)
        ("majeure", "acknowledge"): (1, 1, 50.0, 0),      # T3 met at the next opening; T4 breached
        ("majeure", "workaround"): (1, 0, 100.0, 1),      # T4 still running: not in the %
        ("majeure", "resolution"): (1, 0, 100.0, 1),
        ("mineure", "acknowledge"): (1, 0, 100.0, 0),     # T5; no resolution %: next minor release
        (None, "acknowledge"): (5, 1, 83.3, 0),
        (None, "workaround"): (3, 1, 75.0, 1),
        (None, "resolution"): (3, 2, 60.0, 1),
    }


def test_median_and_90th_percentile_in_business_hours(may: dict) -> None:
    o = may["overall"]
    # acknowledge, bloquante: T8 10 min, T2 30 min, T1 1h
    assert (stats(o, "bloquante", "acknowledge")["median_hours"], stats(o, "bloquante", "acknowledge")["p90_hours"]) \
        == (0.5, 0.9)
    # workaround, bloquante: T8 0.25h, T1 9h, T2 26h (stopped in the period, late)
    assert (stats(o, "bloquante", "workaround")["median_hours"], stats(o, "bloquante", "workaround")["p90_hours"]) \
        == (9.0, 22.6)
    # resolution, bloquante: T8 0.25h, T1 24h, T7 54h; T2 never stopped: no time
    res = stats(o, "bloquante", "resolution")
    assert (res["stopped"], res["median_hours"], res["p90_hours"]) == (3, 24.0, 48.0)
    assert (stats(o, "majeure", "acknowledge")["median_hours"], stats(o, "majeure", "acknowledge")["p90_hours"]) \
        == (3.25, 3.45)
    assert stats(o, "mineure", "acknowledge")["median_hours"] == 9.0


def test_every_breach_listed_with_deadline_lateness_and_timeline(may: dict) -> None:
    rows = [(b["id"], b["clock"], b["deadline"], b["breached_at"][:16], b["late_business_minutes"], b["still_open"])
            for b in may["breaches"]]
    assert rows == [
        ("T7", "resolution", "2025-05-05T18:00:00+02:00", "2025-05-06T09:00", 540.0, False),  # a closing time
        ("T4", "acknowledge", "2025-05-09T18:00:00+02:00", "2025-05-12T09:00", 30.0, False),  # a closing time
        ("T2", "workaround", "2025-05-12T17:00:00+02:00", "2025-05-12T17:00", 120.0, False),
        ("T2", "resolution", "2025-05-15T11:00:00+02:00", "2025-05-15T11:00", 960.0, True),
    ]
    t2 = may["breaches"][2]
    why = " | ".join(t2["why"])
    assert "paused Wed 2025-05-07 17:00 -> Fri 2025-05-09 10:00 (waiting_for_customer): 2h00" in why
    assert "not counted: 2025-05-08 (public holiday" in why
    assert any("waiting_for_customer" in e["what"] for e in t2["timeline"])
    assert not any(e["what"].startswith("label +sla-") for b in may["breaches"] for e in b["timeline"])


def test_running_release_and_out_of_contract_lists(may: dict) -> None:
    assert [(r["id"], r["clock"], r["state"]) for r in may["running"]] == \
        [("T4", "workaround", "running"), ("T4", "resolution", "running")]
    assert [(a["id"], a["age_days"], a["fix_version"]) for a in may["awaiting_release"]] == [("T5", 4, None)]
    assert [(o["id"], o["reason"], o["reporter"], o["created"]) for o in may["out_of_contract"]] == \
        [("T6", "out_of_scope", "Alice (alice)", "2025-05-06T11:00:00+02:00")]


def test_waiting_for_the_customer(may: dict) -> None:
    w = may["overall"]["waiting"]
    assert w == {"reminders": {"1": 1, "2": 1, "3": 1}, "auto_closed": 1, "cycles_started": 3,
                 "restarted_by_customer": 1}


def test_a_breach_counts_in_the_period_it_happened(cfg: Config) -> None:
    april = report_for(cfg, date(2025, 4, 1), date(2025, 4, 30))
    assert [(b["id"], b["clock"]) for b in april["breaches"]] == [("T7", "acknowledge")]
    assert [(r["id"], r["clock"]) for r in april["running"]] == [("T7", "resolution")]  # breached on 6 May


def test_consecutive_periods_add_up_to_the_whole(cfg: Config) -> None:
    """Every clock is counted once: weeks add up to the month, months to the span."""
    whole = report_for(cfg, date(2025, 4, 28), date(2025, 5, 18))
    parts = [report_for(cfg, date(2025, 4, 28) + timedelta(days=7 * k), date(2025, 5, 4) + timedelta(days=7 * k))
             for k in range(3)]
    for s in whole["overall"]["clocks"]:
        summed = [sum(stats(p["overall"], s["severity"], s["clock"])[f] for p in parts) for f in ("met", "breached")]
        assert summed == [s["met"], s["breached"]], (s["severity"], s["clock"])
    assert sum(len(p["breaches"]) for p in parts) == len(whole["breaches"])


def test_trend_per_week(may: dict) -> None:
    # week of 5 May: T1 x3, T2 ack, T3 x3 met; T7 resolution breached (6 May)
    # week of 12 May: T5, T8 ack, T8 x2 met; T4 ack, T2 workaround and resolution breached
    assert [(b["label"], b["met"], b["breached"]) for b in may["trend"]["buckets"]] == \
        [("2025-W19", 7, 1), ("2025-W20", 4, 3)]
    assert may["trend"]["unit"] == "week"


def test_rows_carry_every_ticket_clock_counted_or_running(may: dict) -> None:
    counted = [r for r in may["rows"] if r["counted"]]
    assert len(counted) == 15
    assert sum(r["state"] == "met" for r in counted) == 11
    assert sum(r["state"] == "breached" for r in counted) == 4
    assert len([r for r in may["rows"] if not r["counted"]]) == 2


def test_period_never_seen_is_said_so_never_100(cfg: Config) -> None:
    never = TrackerView("demo", True, None, None)
    got = report_for_views(cfg, [never])
    assert got["seen"] is False and got["coverage"][0]["status"] == "not_seen"
    assert all(s["compliance"] is None and s["ended"] == 0 for s in got["overall"]["clocks"])
    before = TrackerView("demo", True, at("2025-03-01T10:00+01:00"), None)  # last pass before the period
    assert report_for_views(cfg, [before])["coverage"][0]["status"] == "not_seen"


def report_for_views(cfg: Config, views: list[TrackerView]) -> dict:
    period = make_period(date(2025, 5, 5), date(2025, 5, 16), cfg.calendar.zone)
    return report_to_json(build_report([("demo", t) for t in tickets()], JOURNAL, views, cfg.policy, cfg.calendar,
                                       period, NOW))


def test_coverage_rules(cfg: Config) -> None:
    zone = cfg.calendar.zone
    period = make_period(date(2025, 5, 5), date(2025, 5, 16), zone)
    mid = at("2025-05-10T12:00+02:00")
    assert coverage_of(TrackerView("x", True, None, None), period, NOW, zone).status is Coverage.NOT_SEEN
    assert coverage_of(TrackerView("x", True, NOW, at("2025-05-20T10:00+02:00")), period, NOW, zone).status \
        is Coverage.NOT_SEEN  # the store's first record is after the period
    partial = coverage_of(TrackerView("x", True, mid, at("2025-01-01T10:00+01:00")), period, NOW, zone)
    assert partial.status is Coverage.PARTIAL and partial.evaluated_until == mid
    assert "2025-05-10 12:00" in partial.note
    late_start = coverage_of(TrackerView("x", True, NOW, mid), period, NOW, zone)
    assert late_start.status is Coverage.PARTIAL and "starts 2025-05-10 12:00" in late_start.note
    running = coverage_of(TrackerView("x", True, NOW, None), period, at("2025-05-14T12:00+02:00"), zone)
    assert running.status is Coverage.PARTIAL and running.evaluated_until == at("2025-05-14T12:00+02:00")
    assert coverage_of(TrackerView("x", True, NOW, None), period, NOW, zone).status is Coverage.COMPLETE


def test_the_period_is_judged_at_its_end_not_today(cfg: Config) -> None:
    """Events after the period (a severity raised, a late answer) change nothing in it."""
    base = report_for(cfg, date(2025, 5, 5), date(2025, 5, 16))
    later = tickets()
    t4 = later[3]
    later[3] = make_ticket("2025-05-09T15:00+02:00", agent("2025-05-12T09:30+02:00"),
                           status("2025-05-12T09:30+02:00", "in_progress"), status("2025-06-20T10:00+02:00", "resolved"),
                           severity="majeure", id="T4", tracker="demo")
    assert t4.id == later[3].id
    period = make_period(date(2025, 5, 5), date(2025, 5, 16), cfg.calendar.zone)
    again = report_to_json(build_report([("demo", t) for t in later], JOURNAL,
                                        [TrackerView("demo", True, at("2025-07-01T12:00+02:00"), None)],
                                        cfg.policy, cfg.calendar, period, at("2025-07-02T09:00+02:00"), contract="test"))
    for key in ("overall", "breaches", "running", "rows", "trend", "awaiting_release", "out_of_contract"):
        assert again[key] == base[key], key


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([4.0], 0.9) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([0.0, 10.0], 0.9) == 9.0


def test_customers_follow_the_tracker_customer_sections(cfg: Config) -> None:
    from conftest import config_variant

    def two_customers(raw: dict) -> None:
        raw.setdefault("trackers", {})["rm"] = {
            "adapter": "memory", "agents": ["login:sam"], "statuses": {"new": ["new"], "closed": ["closed"],
                                                                      "in_progress": ["in_progress"]},
            "customers": {"acme": {"projects": ["acme-support"]}, "globex": {"organisations": ["Globex SA"]}}}
    c = config_variant(two_customers)
    from sla_bridge.identity import Person
    acme = make_ticket("2025-05-05T10:00+02:00", agent("2025-05-05T11:00+02:00"), id="A1", tracker="rm",
                       project="acme-support")
    globex = make_ticket("2025-05-05T10:00+02:00", agent("2025-05-05T15:00+02:00"), id="G1", tracker="rm",
                         reporter=Person(login="g", organisations=frozenset({"Globex SA"})))
    other = make_ticket("2025-05-05T10:00+02:00", agent("2025-05-05T12:00+02:00"), id="O1", tracker="rm")
    period = make_period(date(2025, 5, 5), date(2025, 5, 16), c.calendar.zone)
    view = [TrackerView("rm", True, NOW, None)]
    got = report_to_json(build_report([("rm", t) for t in (acme, globex, other)], [], view, c.policy, c.calendar,
                                      period, NOW))
    names = {g["name"]: (g["kind"], stats(g, "bloquante", "acknowledge")["met"],
                         stats(g, "bloquante", "acknowledge")["breached"]) for g in got["customers"]}
    assert names == {"acme": ("customer", 1, 0), "globex": ("customer", 0, 1), "rm (other)": ("other", 1, 0)}
    only = report_to_json(build_report([("rm", t) for t in (acme, globex, other)], [], view, c.policy, c.calendar,
                                       period, NOW, customer="globex"))
    assert stats(only["overall"], "bloquante", "acknowledge")["breached"] == 1
    assert [g["name"] for g in only["customers"]] == ["globex"]


def test_json_is_serialisable_and_stable(may: dict, cfg: Config) -> None:
    assert json.dumps(may) == json.dumps(report_for(cfg, date(2025, 5, 5), date(2025, 5, 16)))
    assert may["period"] == {"from": "2025-05-05", "to": "2025-05-16", "start": "2025-05-05T00:00:00+02:00",
                             "end": "2025-05-17T00:00:00+02:00"}


def test_every_clock_of_the_fixture_is_accounted_for(may: dict) -> None:
    per_clock = {c.value: 0 for c in Clock}
    for r in may["rows"]:
        per_clock[r["clock"]] += 1
    assert per_clock == {"acknowledge": 6, "workaround": 5, "resolution": 6}
    assert datetime.fromisoformat(may["generated_at"]) == NOW


def test_a_resolution_met_then_closed_later_stays_met(cfg: Config) -> None:
    """Resolved in time on 6 May, closed on 20 May: one outcome, met, in the week of the resolution."""
    t = make_ticket("2025-05-05T10:00+02:00", agent("2025-05-05T11:00+02:00"),
                    status("2025-05-06T10:00+02:00", "resolved"), status("2025-05-20T10:00+02:00", "closed"),
                    id="C1", tracker="demo")
    view = [TrackerView("demo", True, at("2025-06-01T12:00+02:00"), None)]

    def resolution(first: date, last: date) -> tuple[int, int]:
        period = make_period(first, last, cfg.calendar.zone)
        got = report_to_json(build_report([("demo", t)], [], view, cfg.policy, cfg.calendar, period, NOW))
        s = stats(got["overall"], "bloquante", "resolution")
        return s["met"], s["breached"]

    assert resolution(date(2025, 5, 5), date(2025, 5, 11)) == (1, 0)
    assert resolution(date(2025, 5, 12), date(2025, 5, 25)) == (0, 0)
    assert resolution(date(2025, 5, 1), date(2025, 5, 31)) == (1, 0)


def test_csv_cells_are_never_formulas(cfg: Config) -> None:
    from sla_bridge.compliance.csv_form import report_to_csv

    t = make_ticket("2025-05-05T10:00+02:00", agent("2025-05-05T11:00+02:00"), id="F1", tracker="demo",
                    title='=HYPERLINK("http://evil","x")')
    period = make_period(date(2025, 5, 5), date(2025, 5, 16), cfg.calendar.zone)
    report = build_report([("demo", t)], [], [SYNCED], cfg.policy, cfg.calendar, period, NOW, language="en")
    text = report_to_csv(report)
    assert text.startswith("\ufeffTracker,Ticket,Title,Customer")
    assert "'=HYPERLINK(" in text and ',"=HYPERLINK' not in text


def test_html_in_english_and_for_a_period_never_seen(cfg: Config) -> None:
    from sla_bridge.compliance.html import report_to_html

    period = make_period(date(2025, 5, 5), date(2025, 5, 16), cfg.calendar.zone)
    seen = build_report([("demo", t) for t in tickets()], JOURNAL, [SYNCED], cfg.policy, cfg.calendar, period, NOW,
                        language="en")
    page = report_to_html(seen)
    assert "<h1>Service level compliance</h1>" in page and page.count("<svg") == 3
    assert 'data-metric="overall.clocks.bloquante.workaround.compliance">66.7 %' in page
    unseen = build_report([("demo", t) for t in tickets()], JOURNAL, [TrackerView("demo", True, None, None)],
                          cfg.policy, cfg.calendar, period, NOW, language="en")
    page = report_to_html(unseen)
    assert "The store never saw this period: no figures." in page and "<svg" not in page
    assert report_to_html(seen) == report_to_html(seen), "deterministic, charts included"
