"""A resolution met on time stays met when the ticket is closed later; a breach stays when
a lowered severity has no target for that clock.

Example contract (annexe 4), calendar Monday-Friday 09:00-18:00 Europe/Paris, French holidays
(2025: Thursday 1 and Thursday 8 May). Instants computed by hand and written literally.
"""

from __future__ import annotations

from conftest import agent, at, make_ticket, severity, status
from sla_bridge.engine import ClockState
from sla_bridge.policy import Clock

RES, WORK = Clock.RESOLUTION, Clock.WORKAROUND


def test_a_resolution_met_on_time_stays_met_once_the_ticket_is_closed_weeks_later(run):
    # bloquante Monday 5 May 2025 09:00; acknowledged 09:30; resolved Tuesday 6 May 09:00
    # (9 business hours, within 5 days); closed Tuesday 20 May. The days spent resolved are
    # not resolution time: the clock stopped at the resolution.
    ticket = make_ticket("2025-05-05T09:00+02:00", agent("2025-05-05T09:30+02:00"),
                         status("2025-05-06T09:00+02:00", "resolved"),
                         status("2025-05-20T10:00+02:00", "closed"))
    res = run(ticket, "2025-05-21T12:00+02:00").clocks[RES]
    assert res.state is ClockState.MET
    assert res.stopped_at == at("2025-05-06T09:00+02:00")
    assert res.elapsed_minutes == 9 * 60


def test_a_reopened_then_closed_ticket_counts_from_its_last_resolution(run):
    # Resolved 6 May 09:00, reopened 7 May 09:00 (resolved spell paused), resolved again on
    # 7 May 12:00 then closed on 9 May: stopped at the second resolution.
    ticket = make_ticket("2025-05-05T09:00+02:00", agent("2025-05-05T09:30+02:00"),
                         status("2025-05-06T09:00+02:00", "resolved"),
                         status("2025-05-07T09:00+02:00", "in_progress"),
                         status("2025-05-07T12:00+02:00", "resolved"),
                         status("2025-05-09T10:00+02:00", "closed"))
    res = run(ticket, "2025-05-12T12:00+02:00").clocks[RES]
    assert res.state is ClockState.MET
    assert res.stopped_at == at("2025-05-07T12:00+02:00")
    assert res.elapsed_minutes == 9 * 60 + 3 * 60


def test_a_workaround_breached_as_bloquante_stays_breached_when_mineure_has_no_workaround_target(run):
    # bloquante Monday 5 May 09:00: workaround due in 24 business hours, Wednesday 7 May 15:00
    # (Thursday 8 May is a holiday). Nothing delivered; on Friday 9 May the severity is lowered
    # to mineure, which has no workaround target (NC): the breach happened and stays.
    ticket = make_ticket("2025-05-05T09:00+02:00", agent("2025-05-05T09:30+02:00"),
                         severity("2025-05-09T10:00+02:00", "mineure"))
    evaluation = run(ticket, "2025-05-09T12:00+02:00")
    work = evaluation.clocks[WORK]
    assert work.state is ClockState.BREACHED and work.breached_under == "bloquante"
    assert "sla-depasse-contournement" in evaluation.desired.labels
