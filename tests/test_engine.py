"""Table-driven tests of the SLA engine against the example contract (annexe 4).

Calendar (§1.3): Monday-Friday 09:00-18:00 Europe/Paris, French public holidays
excluded (2025: 1 May Thu, 8 May Thu, Ascension 29 May Thu, Whit Monday 9 June).
Targets (§1.2): bloquante 3h / 24h / 5d, majeure 3h / 72h / 8d, mineure 2d / NC /
next minor release. Reminders (§1.4.2) 1/2/3, 3/6/9, 5/10/15 business days, the
auto-close one business day after the third reminder.

Every expected instant below was computed by hand from that calendar and is
written literally. March 2025 has no public holiday; Paris is +01:00 until Sunday
30 March 2025 and +02:00 after. Reference week: Mon 10, Tue 11, Wed 12, Thu 13,
Fri 14 March; Mon 17 .. Fri 21; Mon 24 .. Fri 28.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from conftest import (
    agent, at, config_variant, contract_dates, customer, internal, label, make_ticket, observable, severity, status,
)
from sla_bridge.engine import ClockState, CommentKind, evaluate
from sla_bridge.model import Comment, Role
from sla_bridge.policy import Clock, StatusRole

ACK, WORK, RES = Clock.ACKNOWLEDGE, Clock.WORKAROUND, Clock.RESOLUTION
RUNNING, PAUSED, MET, BREACHED, AT_RISK, NA = (
    ClockState.RUNNING, ClockState.PAUSED, ClockState.MET, ClockState.BREACHED, ClockState.AT_RISK,
    ClockState.NOT_APPLICABLE)

TUE_10 = "2025-03-11T10:00+01:00"  # the default creation instant: Tuesday 11 March 2025, 10:00 Paris


def same(a: datetime | None, b: str | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and a == at(b))


# --- what acknowledges a ticket (§1.2 prise en compte) --------------------------------------------

@pytest.mark.parametrize("events, state, stopped_at", [
    pytest.param([agent("2025-03-11T11:00+01:00")], MET, "2025-03-11T11:00+01:00", id="public-agent-comment"),
    pytest.param([status("2025-03-11T11:30+01:00", "in_progress")], MET, "2025-03-11T11:30+01:00",
                 id="left-new-to-in-progress"),
    pytest.param([status("2025-03-11T11:30+01:00", "waiting_for_customer")], MET, "2025-03-11T11:30+01:00",
                 id="left-new-to-waiting"),
    pytest.param([status("2025-03-11T11:00+01:00", "in_progress"), agent("2025-03-11T12:00+01:00")],
                 MET, "2025-03-11T11:00+01:00", id="earliest-of-both-status"),
    pytest.param([agent("2025-03-11T10:45+01:00"), status("2025-03-11T12:00+01:00", "in_progress")],
                 MET, "2025-03-11T10:45+01:00", id="earliest-of-both-comment"),
    pytest.param([internal("2025-03-11T11:00+01:00")], BREACHED, None, id="internal-agent-comment-does-not"),
    pytest.param([agent("2025-03-11T11:00+01:00", public=False)], BREACHED, None, id="private-agent-comment-does-not"),
    pytest.param([customer("2025-03-11T11:00+01:00")], BREACHED, None, id="customer-comment-does-not"),
    pytest.param([customer("2025-03-11T11:00+01:00", public=False)], BREACHED, None,
                 id="customer-internal-comment-does-not"),
    pytest.param([], BREACHED, None, id="nothing"),
    pytest.param([agent("2025-03-11T14:00+01:00")], BREACHED, "2025-03-11T14:00+01:00", id="late-comment"),
])
def test_what_acknowledges(run, events, state, stopped_at):
    ticket = make_ticket(TUE_10, *events)
    ack = run(ticket, "2025-03-11T16:00+01:00").clocks[ACK]  # deadline 13:00 has passed
    assert ack.state is state
    assert same(ack.stopped_at, stopped_at)
    assert ack.deadline == at("2025-03-11T13:00+01:00")


def test_created_past_the_new_statuses_is_acknowledged_at_creation(run):
    ticket = make_ticket(TUE_10, initial_status="in_progress")
    ack = run(ticket, "2025-03-11T16:00+01:00").clocks[ACK]
    assert ack.state is MET and ack.stopped_at == at(TUE_10)


ONLY_COMMENT = config_variant(lambda raw: raw["clocks"].update(acknowledged_by=["agent_public_comment"]))
ONLY_STATUS = config_variant(lambda raw: raw["clocks"].update(acknowledged_by=["status_change"]))


@pytest.mark.parametrize("config, events, state", [
    pytest.param(ONLY_COMMENT, [agent("2025-03-11T11:00+01:00")], MET, id="comment-only:comment"),
    pytest.param(ONLY_COMMENT, [status("2025-03-11T11:00+01:00", "in_progress")], BREACHED,
                 id="comment-only:status-does-not"),
    pytest.param(ONLY_COMMENT, [status("2025-03-11T11:00+01:00", "in_progress"), agent("2025-03-11T12:30+01:00")],
                 MET, id="comment-only:later-comment-counts"),
    pytest.param(ONLY_STATUS, [status("2025-03-11T11:00+01:00", "in_progress")], MET, id="status-only:status"),
    pytest.param(ONLY_STATUS, [agent("2025-03-11T11:00+01:00")], BREACHED, id="status-only:comment-does-not"),
])
def test_acknowledged_by_restricted_to_one_mechanism(run, config, events, state):
    ticket = make_ticket(TUE_10, *events)
    assert run(ticket, "2025-03-11T16:00+01:00", config).clocks[ACK].state is state


# --- deadlines in business time (§1.2, §1.3) ------------------------------------------------------

@pytest.mark.parametrize("created, sev, clock, deadline", [
    # acknowledge 3 business hours
    pytest.param("2025-03-11T10:00+01:00", "bloquante", ACK, "2025-03-11T13:00+01:00", id="ack-tue-10h"),
    # 15:00 + 3h lands exactly on the 18:00 closing: the deadline stays Tuesday 18:00
    # (calendar convention), not Wednesday 09:00 (both are the same business instant).
    pytest.param("2025-03-11T15:00+01:00", "bloquante", ACK, "2025-03-11T18:00+01:00", id="ack-tue-15h"),
    pytest.param("2025-03-11T16:30+01:00", "bloquante", ACK, "2025-03-12T10:30+01:00", id="ack-tue-16h30-to-wed"),
    pytest.param("2025-03-11T17:00+01:00", "majeure", ACK, "2025-03-12T11:00+01:00", id="ack-majeure-tue-17h"),
    pytest.param("2025-03-14T17:00+01:00", "bloquante", ACK, "2025-03-17T11:00+01:00", id="ack-friday-to-monday"),
    pytest.param("2025-03-15T10:00+01:00", "bloquante", ACK, "2025-03-17T12:00+01:00", id="ack-saturday"),
    pytest.param("2025-03-11T22:30+01:00", "bloquante", ACK, "2025-03-12T12:00+01:00", id="ack-night"),
    pytest.param("2025-03-12T07:00+01:00", "majeure", ACK, "2025-03-12T12:00+01:00", id="ack-early-morning"),
    pytest.param("2025-03-12T06:00Z", "majeure", ACK, "2025-03-12T12:00+01:00", id="ack-created-in-utc"),
    pytest.param("2025-04-30T16:00+02:00", "bloquante", ACK, "2025-05-02T10:00+02:00", id="ack-across-1-may"),
    pytest.param("2025-05-28T17:00+02:00", "bloquante", ACK, "2025-05-30T11:00+02:00", id="ack-across-ascension"),
    # acknowledge 2 business days (mineure)
    pytest.param("2025-03-11T10:00+01:00", "mineure", ACK, "2025-03-13T10:00+01:00", id="ack-mineure-2d"),
    pytest.param("2025-03-13T15:00+01:00", "mineure", ACK, "2025-03-17T15:00+01:00", id="ack-mineure-over-weekend"),
    pytest.param("2025-04-30T10:00+02:00", "mineure", ACK, "2025-05-05T10:00+02:00", id="ack-mineure-across-1-may"),
    # from Monday's opening, two whole business days end on Tuesday's closing time
    pytest.param("2025-03-15T10:00+01:00", "mineure", ACK, "2025-03-18T18:00+01:00", id="ack-mineure-saturday"),
    # workaround 24 / 72 business hours
    pytest.param("2025-03-11T10:00+01:00", "bloquante", WORK, "2025-03-13T16:00+01:00", id="workaround-24h"),
    pytest.param("2025-03-11T10:00+01:00", "majeure", WORK, "2025-03-21T10:00+01:00", id="workaround-72h"),
    pytest.param("2025-05-28T17:00+02:00", "bloquante", WORK, "2025-06-03T14:00+02:00",
                 id="workaround-24h-across-ascension"),
    # resolution 5 / 8 business days
    pytest.param("2025-03-11T10:00+01:00", "bloquante", RES, "2025-03-18T10:00+01:00", id="resolution-5d"),
    pytest.param("2025-03-11T10:00+01:00", "majeure", RES, "2025-03-21T10:00+01:00", id="resolution-8d"),
    pytest.param("2025-03-15T10:00+01:00", "bloquante", RES, "2025-03-21T18:00+01:00", id="resolution-5d-saturday"),
    pytest.param("2025-03-14T20:00+01:00", "bloquante", RES, "2025-03-21T18:00+01:00", id="resolution-5d-fri-night"),
    pytest.param("2025-04-30T10:00+02:00", "bloquante", RES, "2025-05-09T10:00+02:00",
                 id="resolution-5d-across-1-and-8-may"),
    pytest.param("2025-05-28T17:00+02:00", "bloquante", RES, "2025-06-05T17:00+02:00",
                 id="resolution-5d-across-ascension"),
    pytest.param("2025-05-27T10:00+02:00", "majeure", RES, "2025-06-10T10:00+02:00",
                 id="resolution-8d-across-ascension-and-whit-monday"),
    pytest.param("2025-03-27T10:00+01:00", "bloquante", RES, "2025-04-03T10:00+02:00", id="resolution-5d-across-dst"),
])
def test_deadlines(run, created, sev, clock, deadline):
    evaluation = run(make_ticket(created, severity=sev), created)
    c = evaluation.clocks[clock]
    assert c.state is RUNNING
    assert c.deadline == at(deadline)
    assert c.started_at == at(created)


@pytest.mark.parametrize("sev, minutes", [
    pytest.param("bloquante", {ACK: 180, WORK: 24 * 60, RES: 5 * 9 * 60}, id="bloquante"),
    pytest.param("majeure", {ACK: 180, WORK: 72 * 60, RES: 8 * 9 * 60}, id="majeure"),
    pytest.param("mineure", {ACK: 2 * 9 * 60}, id="mineure"),
])
def test_targets_in_business_minutes(run, sev, minutes):
    evaluation = run(make_ticket(TUE_10, severity=sev), TUE_10)
    for clock, expected in minutes.items():
        assert evaluation.clocks[clock].target_minutes == pytest.approx(expected)


# --- met / breached / at risk / running ------------------------------------------------------------
# bloquante created Tue 10:00: acknowledge deadline 13:00, at risk from 12:15 (75 % of 3h).

@pytest.mark.parametrize("events, now, state, labels", [
    pytest.param([], "2025-03-11T11:00+01:00", RUNNING, set(), id="running"),
    pytest.param([], "2025-03-11T12:14:59+01:00", RUNNING, set(), id="running-just-before-75pct"),
    pytest.param([], "2025-03-11T12:15+01:00", AT_RISK, {"sla-a-risque"}, id="at-risk-at-75pct"),
    pytest.param([], "2025-03-11T12:59:59+01:00", AT_RISK, {"sla-a-risque"}, id="at-risk-just-before-deadline"),
    pytest.param([], "2025-03-11T13:00+01:00", AT_RISK, {"sla-a-risque"}, id="not-yet-breached-at-deadline"),
    pytest.param([], "2025-03-11T13:00:01+01:00", BREACHED, {"sla-depasse-prise-en-compte"},
                 id="breached-once-business-time-passed-the-deadline"),
    pytest.param([], "2025-03-12T16:00+01:00", BREACHED, {"sla-depasse-prise-en-compte"}, id="breached-next-day"),
    pytest.param([agent("2025-03-11T12:59+01:00")], "2025-03-11T16:00+01:00", MET, set(), id="met-before-deadline"),
    pytest.param([agent("2025-03-11T13:00+01:00")], "2025-03-11T16:00+01:00", MET, set(), id="met-at-deadline"),
    pytest.param([agent("2025-03-11T12:30+01:00")], "2025-03-11T12:45+01:00", MET, set(),
                 id="met-while-at-risk-drops-at-risk-label"),
    pytest.param([agent("2025-03-11T13:30+01:00")], "2025-03-11T16:00+01:00", BREACHED,
                 {"sla-depasse-prise-en-compte"}, id="met-late-stays-breached"),
    pytest.param([agent("2025-03-12T10:00+01:00")], "2025-03-12T16:00+01:00", BREACHED,
                 {"sla-depasse-prise-en-compte"}, id="met-next-day-stays-breached"),
])
def test_acknowledge_states(run, events, now, state, labels):
    evaluation = run(make_ticket(TUE_10, *events), now)
    assert evaluation.clocks[ACK].state is state
    # the workaround (at risk from Thu 13 10:00) is still running on these dates, so the
    # labels come from the acknowledge clock alone.
    assert evaluation.desired.labels - {"sla-bloquante"} == labels


@pytest.mark.parametrize("stop, state", [
    pytest.param("2025-03-11T18:00+01:00", MET, id="at-closing-time"),
    pytest.param("2025-03-11T18:30+01:00", MET, id="after-closing"),
    pytest.param("2025-03-11T20:00+01:00", MET, id="same-evening"),
    pytest.param("2025-03-12T08:59+01:00", MET, id="next-morning-before-opening"),
    pytest.param("2025-03-12T09:00+01:00", MET, id="at-the-next-opening"),
    pytest.param("2025-03-12T09:00:01+01:00", BREACHED, id="one-business-second-late"),
    pytest.param("2025-03-12T10:00+01:00", BREACHED, id="an-hour-into-the-next-day"),
])
def test_late_means_business_time_past_the_deadline(run, stop, state):
    # Created Tue 15:00: acknowledge deadline Tue 18:00 (see test_deadlines). §1.2 counts
    # delays in business time: no business time between 18:00 and 09:00, so the clock is
    # not breached overnight and a reply before 09:00:00 (exclusive) is on time.
    ticket = make_ticket("2025-03-11T15:00+01:00", agent(stop))
    assert run(ticket, "2025-03-11T17:59+01:00").clocks[ACK].state is AT_RISK
    ack = run(ticket, "2025-03-12T11:00+01:00").clocks[ACK]
    assert ack.deadline == at("2025-03-11T18:00+01:00")
    assert ack.state is state


def test_a_friday_closing_deadline_is_breached_only_after_monday_opening(run):
    # bloquante created Fri 14 15:00: acknowledge deadline Fri 18:00.
    ticket = make_ticket("2025-03-14T15:00+01:00")
    for now in ("2025-03-14T18:01+01:00", "2025-03-15T12:00+01:00", "2025-03-16T23:59+01:00",
                "2025-03-17T09:00+01:00"):
        evaluation = run(ticket, now)
        assert evaluation.clocks[ACK].state is AT_RISK, now
        assert "sla-depasse-prise-en-compte" not in evaluation.desired.labels
        assert evaluation.next_change_at == at("2025-03-17T09:00:00.000001+01:00")
    late = run(ticket, "2025-03-17T09:00:01+01:00")
    assert late.clocks[ACK].state is BREACHED and "sla-depasse-prise-en-compte" in late.desired.labels
    assert late.clocks[ACK].breached_at == at("2025-03-17T09:00:00.000001+01:00")
    # The deadline written to the tracker keeps its closing-time form.
    assert late.clocks[ACK].deadline == at("2025-03-14T18:00+01:00")


def test_a_day_target_resolved_at_the_next_opening_is_on_time(run):
    # majeure created Mon 10 09:00: resolution 8 business days -> Wed 19 18:00 (hand-counted,
    # no holiday in March 2025). Resolved Thu 20 09:00, at the next opening: on time.
    ticket = make_ticket("2025-03-10T09:00+01:00", agent("2025-03-10T09:30+01:00"),
                         status("2025-03-20T09:00+01:00", "resolved"), severity="majeure")
    res = run(ticket, "2025-03-20T12:00+01:00").clocks[RES]
    assert res.deadline == at("2025-03-19T18:00+01:00")
    assert res.state is MET


def test_a_breach_stays_after_the_severity_is_lowered(run):
    # bloquante Tue 10:00: acknowledge due 13:00, missed; at 15:00 the severity goes to
    # mineure (acknowledge 2 business days): the breach happened and stays, named.
    ticket = make_ticket(TUE_10, severity("2025-03-11T15:00+01:00", "mineure"))
    evaluation = run(ticket, "2025-03-11T16:00+01:00")
    ack = evaluation.clocks[ACK]
    assert ack.state is BREACHED and ack.breached_under == "bloquante"
    assert "sla-depasse-prise-en-compte" in evaluation.desired.labels
    assert any("breached while the severity was bloquante" in line for line in ack.why)
    # Lowered before the deadline: no breach.
    early = make_ticket(TUE_10, severity("2025-03-11T12:00+01:00", "mineure"))
    assert run(early, "2025-03-11T16:00+01:00").clocks[ACK].state is RUNNING


def test_breached_label_per_clock(run):
    # Nothing happens for a week: all three bloquante commitments are breached.
    evaluation = run(make_ticket(TUE_10), "2025-03-19T10:00+01:00")
    assert {c: evaluation.clocks[c].state for c in Clock} == {ACK: BREACHED, WORK: BREACHED, RES: BREACHED}
    assert evaluation.desired.labels == {"sla-bloquante", "sla-depasse-prise-en-compte",
                                         "sla-depasse-contournement", "sla-depasse-resolution"}


# --- pauses while waiting for the customer (§1.4.2) -----------------------------------------------
# bloquante Tue 10:00, acknowledged 10:30; waiting Tue 11:00 -> Wed 14:00 (customer answer):
# 7h + 5h = 12 business hours paused. Workaround Thu 16:00 + 12h = Mon 17 10:00;
# resolution Tue 18 10:00 + 12h = Wed 19 13:00.

def paused_ticket(back: str = "2025-03-12T14:00+01:00"):
    return make_ticket(TUE_10, agent("2025-03-11T10:30+01:00"),
                       status("2025-03-11T11:00+01:00", "waiting_for_customer"),
                       status(back, "in_progress", by_role=Role.CUSTOMER))


def test_paused_while_waiting(run):
    evaluation = run(paused_ticket(), "2025-03-12T12:00+01:00")
    for clock in (WORK, RES):
        c = evaluation.clocks[clock]
        assert c.state is PAUSED
        assert c.deadline is None  # unknown while paused
        assert c.elapsed_minutes == pytest.approx(60)  # Tue 10:00-11:00 only
        assert c.pauses[0].start == at("2025-03-11T11:00+01:00") and c.pauses[0].end is None
    assert evaluation.clocks[ACK].state is MET
    assert evaluation.status_role is StatusRole.WAITING_FOR_CUSTOMER


@pytest.mark.parametrize("waiting, back, paused, clock, deadline", [
    pytest.param("2025-03-11T11:00+01:00", "2025-03-12T14:00+01:00", 720, WORK, "2025-03-17T10:00+01:00",
                 id="workaround-12h"),
    pytest.param("2025-03-11T11:00+01:00", "2025-03-12T14:00+01:00", 720, RES, "2025-03-19T13:00+01:00",
                 id="resolution-12h"),
    pytest.param("2025-03-14T17:00+01:00", "2025-03-17T10:00+01:00", 120, RES, "2025-03-18T12:00+01:00",
                 id="resolution-over-weekend-2h"),
    pytest.param("2025-03-15T10:00+01:00", "2025-03-16T20:00+01:00", 0, RES, "2025-03-18T10:00+01:00",
                 id="resolution-weekend-only-0h"),
    pytest.param("2025-03-11T18:30+01:00", "2025-03-12T08:30+01:00", 0, WORK, "2025-03-13T16:00+01:00",
                 id="workaround-overnight-0h"),
])
def test_pause_extends_deadline_by_paused_business_time(run, cfg, waiting, back, paused, clock, deadline):
    ticket = make_ticket(TUE_10, agent("2025-03-11T10:30+01:00"), status(waiting, "waiting_for_customer"),
                         status(back, "in_progress", by_role=Role.CUSTOMER))
    unpaused = run(make_ticket(TUE_10, agent("2025-03-11T10:30+01:00")), TUE_10).clocks[clock]
    c = run(ticket, at(back) + timedelta(minutes=1)).clocks[clock]
    assert c.state in (RUNNING, AT_RISK)
    assert c.deadline == at(deadline)
    assert sum(p.business_minutes for p in c.pauses) == pytest.approx(paused)
    assert c.deadline == cfg.calendar.add(unpaused.deadline, paused)


def test_pause_across_a_holiday(run):
    # bloquante Tue 29 April 10:00: resolution Wed 7 May 10:00 (1 May off). Waiting
    # Wed 30 April 17:00 -> Fri 2 May 10:00 is 1h + 1h: deadline Wed 7 May 12:00.
    ticket = make_ticket("2025-04-29T10:00+02:00", agent("2025-04-29T10:05+02:00"),
                         status("2025-04-30T17:00+02:00", "waiting_for_customer"),
                         customer("2025-05-02T09:30+02:00"),
                         status("2025-05-02T10:00+02:00", "in_progress", by_role=Role.CUSTOMER))
    assert run(ticket, "2025-04-29T12:00+02:00").clocks[RES].deadline == at("2025-05-07T10:00+02:00")
    assert run(ticket, "2025-05-02T12:00+02:00").clocks[RES].deadline == at("2025-05-07T12:00+02:00")


def test_clock_is_paused_at_the_instant_the_waiting_starts(run):
    ticket = make_ticket(TUE_10, agent("2025-03-11T10:30+01:00"),
                         status("2025-03-11T11:00+01:00", "waiting_for_customer"))
    at_start = run(ticket, "2025-03-11T11:00+01:00")
    assert at_start.status_role is StatusRole.WAITING_FOR_CUSTOMER
    assert at_start.clocks[RES].state is PAUSED
    assert observable(at_start) == observable(run(ticket, "2025-03-11T11:00:01+01:00"))


def test_deadline_is_known_at_the_instant_the_waiting_ends(run):
    ticket = paused_ticket()  # the customer answers Wed 12 14:00
    at_end = run(ticket, "2025-03-12T14:00+01:00")
    assert at_end.clocks[WORK].deadline == at("2025-03-17T10:00+01:00")
    assert at_end.clocks[RES].deadline == at("2025-03-19T13:00+01:00")
    assert at_end.desired.due_at == at("2025-03-17T10:00+01:00")
    assert at_end.next_change_at == at("2025-03-14T13:00+01:00")  # workaround at risk


# --- the due date is the earliest unmet deadline ---------------------------------------------------

@pytest.mark.parametrize("events, now, due_at", [
    pytest.param([], "2025-03-11T11:00+01:00", "2025-03-11T13:00+01:00", id="ack-first"),
    pytest.param([], "2025-03-11T15:00+01:00", "2025-03-11T13:00+01:00", id="breached-ack-still-owed"),
    pytest.param([agent("2025-03-11T10:30+01:00")], "2025-03-11T11:00+01:00", "2025-03-13T16:00+01:00",
                 id="ack-met-then-workaround"),
    pytest.param([agent("2025-03-11T10:30+01:00"), status("2025-03-12T10:00+01:00", "workaround_delivered")],
                 "2025-03-12T11:00+01:00", "2025-03-18T10:00+01:00", id="workaround-met-then-resolution"),
    pytest.param([agent("2025-03-11T10:30+01:00"), status("2025-03-12T10:00+01:00", "resolved")],
                 "2025-03-12T11:00+01:00", None, id="resolved-nothing-owed"),
])
def test_due_date_is_earliest_unmet_deadline(run, events, now, due_at):
    desired = run(make_ticket(TUE_10, *events), now).desired
    assert same(desired.due_at, due_at)
    assert desired.due_date == (at(due_at).date() if due_at else None)


def test_due_date_is_local(run):
    # majeure created Tue 17:30 Paris: acknowledge due Wed 11:30 Paris, reported in Paris time.
    desired = run(make_ticket("2025-03-11T16:30Z", severity="majeure"), "2025-03-11T16:30Z").desired
    assert desired.due_at == at("2025-03-12T11:30+01:00")
    assert desired.due_at.utcoffset() == timedelta(hours=1)
    assert str(desired.due_date) == "2025-03-12"


# --- workaround (§1.1 Solution de Contournement) ---------------------------------------------------
# bloquante Tue 10:00, acknowledged 10:30; workaround due Thu 13 16:00; evaluated Fri 14 12:00.

@pytest.mark.parametrize("events, work, work_stop, res, res_stop", [
    pytest.param([status("2025-03-12T10:00+01:00", "workaround_delivered")], MET, "2025-03-12T10:00+01:00",
                 RUNNING, None, id="status-workaround-delivered"),
    pytest.param([label("2025-03-12T10:00+01:00", "contournement")], MET, "2025-03-12T10:00+01:00",
                 RUNNING, None, id="label-contournement"),
    pytest.param([label("2025-03-12T10:00+01:00", "Contournement")], MET, "2025-03-12T10:00+01:00",
                 RUNNING, None, id="label-contournement-any-case"),
    pytest.param([status("2025-03-12T10:00+01:00", "resolved")], MET, "2025-03-12T10:00+01:00",
                 MET, "2025-03-12T10:00+01:00", id="resolution-meets-workaround"),
    pytest.param([status("2025-03-12T10:00+01:00", "closed")], MET, "2025-03-12T10:00+01:00",
                 MET, "2025-03-12T10:00+01:00", id="closed-meets-workaround"),
    pytest.param([label("2025-03-12T10:00+01:00", "contournement-definitif")], MET, "2025-03-12T10:00+01:00",
                 MET, "2025-03-12T10:00+01:00", id="definitive-workaround-stops-resolution"),
    pytest.param([label("2025-03-12T10:00+01:00", "contournement"),
                  label("2025-03-13T10:00+01:00", "contournement-definitif")],
                 MET, "2025-03-12T10:00+01:00", MET, "2025-03-13T10:00+01:00", id="provisional-then-definitive"),
    pytest.param([status("2025-03-13T17:00+01:00", "workaround_delivered")], BREACHED, "2025-03-13T17:00+01:00",
                 RUNNING, None, id="workaround-late"),
    pytest.param([label("2025-03-12T10:00+01:00", "autre-label")], BREACHED, None, RUNNING, None,
                 id="unrelated-label"),
    pytest.param([], BREACHED, None, RUNNING, None, id="none"),
])
def test_workaround(run, events, work, work_stop, res, res_stop):
    ticket = make_ticket(TUE_10, agent("2025-03-11T10:30+01:00"), *events)
    evaluation = run(ticket, "2025-03-14T12:00+01:00")
    w, r = evaluation.clocks[WORK], evaluation.clocks[RES]
    assert (w.state, r.state) == (work, res)
    assert same(w.stopped_at, work_stop) and same(r.stopped_at, res_stop)
    assert ("sla-depasse-contournement" in evaluation.desired.labels) == (work is BREACHED)


def test_workaround_label_without_history_counts_from_last_update(run):
    ticket = make_ticket(TUE_10, agent("2025-03-11T10:30+01:00"), labels={"contournement"},
                         updated=at("2025-03-12T15:00+01:00"))
    w = run(ticket, "2025-03-14T12:00+01:00").clocks[WORK]
    assert w.state is MET and w.stopped_at == at("2025-03-12T15:00+01:00")


def test_mineure_has_no_workaround_target(run):
    evaluation = run(make_ticket(TUE_10, severity="mineure"), "2025-06-11T10:00+02:00")
    assert evaluation.clocks[WORK].state is NA
    assert "sla-depasse-contournement" not in evaluation.desired.labels


# --- severity changes: targets follow the current severity, from the creation ----------------------

@pytest.mark.parametrize("initial, change_at, new, now, expected", [
    pytest.param("mineure", "2025-03-11T14:00+01:00", "bloquante", "2025-03-11T14:30+01:00",
                 {ACK: (BREACHED, "2025-03-11T13:00+01:00"), WORK: (RUNNING, "2025-03-13T16:00+01:00"),
                  RES: (RUNNING, "2025-03-18T10:00+01:00")}, id="mineure-to-bloquante"),
    pytest.param("mineure", "2025-03-11T11:00+01:00", "bloquante", "2025-03-11T11:30+01:00",
                 {ACK: (RUNNING, "2025-03-11T13:00+01:00")}, id="mineure-to-bloquante-in-time"),
    pytest.param("bloquante", "2025-03-11T11:00+01:00", "mineure", "2025-03-11T14:00+01:00",
                 {ACK: (RUNNING, "2025-03-13T10:00+01:00"), WORK: (NA, None), RES: (RUNNING, None)},
                 id="bloquante-to-mineure"),
    pytest.param("majeure", "2025-03-12T11:00+01:00", "bloquante", "2025-03-12T12:00+01:00",
                 {RES: (RUNNING, "2025-03-18T10:00+01:00"), WORK: (RUNNING, "2025-03-13T16:00+01:00")},
                 id="majeure-to-bloquante"),
    pytest.param("bloquante", "2025-03-12T11:00+01:00", "majeure", "2025-03-14T12:00+01:00",
                 {RES: (RUNNING, "2025-03-21T10:00+01:00"), WORK: (RUNNING, "2025-03-21T10:00+01:00")},
                 id="bloquante-to-majeure"),
    pytest.param("mineure", "2025-03-11T11:00+01:00", "Bloquante", "2025-03-11T11:30+01:00",
                 {ACK: (RUNNING, "2025-03-11T13:00+01:00")}, id="tracker-value-any-case"),
])
def test_severity(run, initial, change_at, new, now, expected):
    evaluation = run(make_ticket(TUE_10, severity(change_at, new), severity=initial), now)
    assert evaluation.severity == new.lower()
    assert f"sla-{new.lower()}" in evaluation.desired.labels
    for clock, (state, deadline) in expected.items():
        assert evaluation.clocks[clock].state is state, clock
        assert same(evaluation.clocks[clock].deadline, deadline), clock


# --- reopened tickets ------------------------------------------------------------------------------
# bloquante Tue 10:00; resolved Wed 12 10:00; reopened Fri 14 10:00. The resolved spell is
# 8h + 9h + 1h = 18 business hours: resolution Tue 18 10:00 + 18h = Thu 20 10:00.

def reopened_ticket(*more):
    return make_ticket(TUE_10, agent("2025-03-11T10:30+01:00"), status("2025-03-11T10:30+01:00", "in_progress"),
                       status("2025-03-12T10:00+01:00", "resolved"), status("2025-03-14T10:00+01:00", "in_progress"),
                       *more)


@pytest.mark.parametrize("ticket, now, state, stopped_at, deadline, elapsed", [
    pytest.param(reopened_ticket(), "2025-03-13T12:00+01:00", MET, "2025-03-12T10:00+01:00",
                 "2025-03-18T10:00+01:00", 9 * 60, id="while-resolved"),
    pytest.param(reopened_ticket(), "2025-03-14T12:00+01:00", RUNNING, None, "2025-03-20T10:00+01:00", 11 * 60,
                 id="reopened-resumes"),
    pytest.param(reopened_ticket(status("2025-03-17T10:00+01:00", "resolved")), "2025-03-18T12:00+01:00", MET,
                 "2025-03-17T10:00+01:00", "2025-03-20T10:00+01:00", 18 * 60,
                 id="resolved-again-in-time"),
    pytest.param(reopened_ticket(), "2025-03-20T10:00+01:00", AT_RISK, None, "2025-03-20T10:00+01:00", 45 * 60,
                 id="reopened-due-now"),
    pytest.param(reopened_ticket(), "2025-03-20T10:01+01:00", BREACHED, None, "2025-03-20T10:00+01:00",
                 45 * 60 + 1, id="reopened-then-breached"),
])
def test_reopened_resolution_clock(run, ticket, now, state, stopped_at, deadline, elapsed):
    r = run(ticket, now).clocks[RES]
    assert r.state is state
    assert same(r.stopped_at, stopped_at)
    assert r.deadline == at(deadline)
    assert r.elapsed_minutes == pytest.approx(elapsed)


def test_reopened_after_a_late_resolution_stays_breached(run):
    ticket = make_ticket(TUE_10, agent("2025-03-11T10:30+01:00"), status("2025-03-19T10:00+01:00", "resolved"),
                         status("2025-03-20T10:00+01:00", "in_progress"))
    evaluation = run(ticket, "2025-03-20T11:00+01:00")
    assert evaluation.clocks[RES].state is BREACHED
    assert "sla-depasse-resolution" in evaluation.desired.labels


def test_reopened_keeps_workaround_met(run):
    w = run(reopened_ticket(), "2025-03-17T12:00+01:00").clocks[WORK]
    assert w.state is MET and w.stopped_at == at("2025-03-12T10:00+01:00")


# --- waiting cycles: reminders and auto-close (§1.4.2) ---------------------------------------------

@pytest.mark.parametrize("sev, waiting, reminders, close", [
    pytest.param("bloquante", "2025-03-11T11:00+01:00",
                 ["2025-03-12T11:00+01:00", "2025-03-13T11:00+01:00", "2025-03-14T11:00+01:00"],
                 "2025-03-17T11:00+01:00", id="bloquante-1-2-3"),
    pytest.param("majeure", "2025-03-11T11:00+01:00",
                 ["2025-03-14T11:00+01:00", "2025-03-19T11:00+01:00", "2025-03-24T11:00+01:00"],
                 "2025-03-25T11:00+01:00", id="majeure-3-6-9"),
    pytest.param("mineure", "2025-03-11T11:00+01:00",
                 ["2025-03-18T11:00+01:00", "2025-03-25T11:00+01:00", "2025-04-01T11:00+02:00"],
                 "2025-04-02T11:00+02:00", id="mineure-5-10-15-across-dst"),
    pytest.param("bloquante", "2025-03-14T17:30+01:00",
                 ["2025-03-17T17:30+01:00", "2025-03-18T17:30+01:00", "2025-03-19T17:30+01:00"],
                 "2025-03-20T17:30+01:00", id="bloquante-from-friday"),
    pytest.param("bloquante", "2025-03-14T19:00+01:00",
                 ["2025-03-18T09:00+01:00", "2025-03-19T09:00+01:00", "2025-03-20T09:00+01:00"],
                 "2025-03-21T09:00+01:00", id="bloquante-from-friday-night-counts-from-monday-opening"),
    pytest.param("bloquante", "2025-04-30T15:00+02:00",
                 ["2025-05-02T15:00+02:00", "2025-05-05T15:00+02:00", "2025-05-06T15:00+02:00"],
                 "2025-05-07T15:00+02:00", id="bloquante-across-1-may"),
    pytest.param("bloquante", "2025-05-07T15:00+02:00",
                 ["2025-05-09T15:00+02:00", "2025-05-12T15:00+02:00", "2025-05-13T15:00+02:00"],
                 "2025-05-14T15:00+02:00", id="bloquante-across-8-may"),
    pytest.param("majeure", "2025-05-26T10:00+02:00",
                 ["2025-05-30T10:00+02:00", "2025-06-04T10:00+02:00", "2025-06-10T10:00+02:00"],
                 "2025-06-11T10:00+02:00", id="majeure-across-ascension-and-whit-monday"),
])
def test_reminder_schedule(run, sev, waiting, reminders, close):
    created = "2025-03-11T10:00+01:00" if waiting.startswith("2025-03") else "2025-04-28T10:00+02:00"
    ticket = make_ticket(created, agent(created), status(waiting, "waiting_for_customer"), severity=sev)
    evaluation = run(ticket, waiting)
    (cycle,) = evaluation.cycles
    assert cycle.started_at == at(waiting) and cycle.ended_at is None
    assert [r.at for r in cycle.reminders] == [at(r) for r in reminders]
    assert [r.number for r in cycle.reminders] == [1, 2, 3]
    assert cycle.auto_close_at == at(close)


# bloquante waiting from Tue 11 11:00: reminders Wed 12, Thu 13, Fri 14 11:00, auto-close Mon 17 11:00.
def waiting_ticket(*more, sev="bloquante", title="Le service ne répond plus", **kw):
    return make_ticket(TUE_10, agent("2025-03-11T10:30+01:00"), status("2025-03-11T11:00+01:00",
                       "waiting_for_customer"), *more, severity=sev, title=title, **kw)


KEY = "json:T-1/reminder/20250311T100000Z/"  # the cycle's start in UTC, to the second
# Reminders at the contract's dates whether or not the earlier ones were sent: the schedule
# itself, as these tests read it from evaluations that no sync acted on.
CONTRACT = contract_dates()
CLOSE_KEY = "json:T-1/closure/20250311T100000Z"


@pytest.mark.parametrize("now, keys, close, next_change", [
    pytest.param("2025-03-12T10:59:59+01:00", [], False, "2025-03-12T11:00+01:00", id="before-first"),
    pytest.param("2025-03-12T11:00+01:00", [KEY + "1"], False, "2025-03-13T11:00+01:00", id="first"),
    pytest.param("2025-03-13T11:00+01:00", [KEY + "1", KEY + "2"], False, "2025-03-14T11:00+01:00", id="second"),
    pytest.param("2025-03-14T11:00+01:00", [KEY + "1", KEY + "2", KEY + "3"], False, "2025-03-17T11:00+01:00",
                 id="third"),
    pytest.param("2025-03-17T10:59:59+01:00", [KEY + "1", KEY + "2", KEY + "3"], False, "2025-03-17T11:00+01:00",
                 id="just-before-auto-close"),
    pytest.param("2025-03-17T11:00+01:00", [KEY + "1", KEY + "2", KEY + "3", CLOSE_KEY], True, None,
                 id="auto-close"),
    pytest.param("2025-03-20T11:00+01:00", [KEY + "1", KEY + "2", KEY + "3", CLOSE_KEY], True, None,
                 id="auto-close-still-waiting-later"),
])
def test_reminders_and_auto_close_over_time(run, now, keys, close, next_change):
    evaluation = run(waiting_ticket(), now, CONTRACT)
    assert [c.key for c in evaluation.desired.comments] == keys
    assert [c.kind for c in evaluation.desired.comments] == (
        [CommentKind.REMINDER] * min(len(keys), 3) + [CommentKind.CLOSURE] * (len(keys) == 4))
    assert evaluation.desired.close is close
    assert same(evaluation.next_change_at, next_change)
    assert all(c.public for c in evaluation.desired.comments)
    assert [c.due_at for c in evaluation.desired.comments] == [
        at(t) for t in ["2025-03-12T11:00+01:00", "2025-03-13T11:00+01:00", "2025-03-14T11:00+01:00",
                        "2025-03-17T11:00+01:00"]][:len(keys)]


def test_reminder_keys_are_stable_and_unique(run):
    early = run(waiting_ticket(), "2025-03-12T11:30+01:00", CONTRACT)
    late = run(waiting_ticket(), "2025-03-17T12:00+01:00", CONTRACT)
    early_keys = [c.key for c in early.desired.comments]
    late_keys = [c.key for c in late.desired.comments]
    assert late_keys[:len(early_keys)] == early_keys
    assert len(set(late_keys)) == len(late_keys) == 4


TWO_WAITING = config_variant(lambda raw: (raw["statuses"].update(
    waiting_for_customer=["waiting_for_customer", "en_attente_mise_en_production"]), raw["sync"].update(
    catch_up="contract")))


@pytest.mark.parametrize("answer, config, restarted_at", [
    pytest.param(customer("2025-03-13T10:00+01:00"), CONTRACT, "2025-03-13T10:00+01:00", id="customer-comment"),
    pytest.param(customer("2025-03-13T10:00+01:00", public=False), CONTRACT, "2025-03-13T10:00+01:00",
                 id="customer-internal-comment"),
    pytest.param(status("2025-03-13T10:00+01:00", "en_attente_mise_en_production", by_role=Role.CUSTOMER),
                 TWO_WAITING, "2025-03-13T10:00+01:00", id="customer-status-change"),
    pytest.param(status("2025-03-13T10:00+01:00", "en_attente_mise_en_production", by_role=Role.AGENT),
                 TWO_WAITING, None, id="agent-status-change-does-not"),
    pytest.param(agent("2025-03-13T10:00+01:00"), CONTRACT, None, id="agent-comment-does-not"),
])
def test_customer_answer_restarts_the_cycle(run, answer, config, restarted_at):
    evaluation = run(waiting_ticket(answer), "2025-03-13T12:00+01:00", config)
    cycle = evaluation.cycles[-1]
    if restarted_at is None:
        assert len(evaluation.cycles) == 1
        assert [c.key for c in evaluation.desired.comments] == [KEY + "1", KEY + "2"]
        return
    assert len(evaluation.cycles) == 2
    assert evaluation.cycles[0].ended_at == at(restarted_at)
    assert cycle.started_at == at(restarted_at) and cycle.started_by == "customer answer"
    # restarted from the beginning: 1, 2, 3 business days after the answer, close one day later
    assert [r.at for r in cycle.reminders] == [at("2025-03-14T10:00+01:00"), at("2025-03-17T10:00+01:00"),
                                               at("2025-03-18T10:00+01:00")]
    assert cycle.auto_close_at == at("2025-03-19T10:00+01:00")
    # the old cycle's due reminder is moot; the new cycle's keys differ from the old ones
    assert evaluation.desired.comments == ()
    old = {r.key for r in evaluation.cycles[0].reminders} | {evaluation.cycles[0].closure_key}
    new = {r.key for r in cycle.reminders} | {cycle.closure_key}
    assert not old & new
    later = run(waiting_ticket(answer), "2025-03-14T10:00+01:00", config)
    assert [c.key for c in later.desired.comments] == ["json:T-1/reminder/20250313T090000Z/1"]
    assert evaluation.next_change_at == at("2025-03-14T10:00+01:00")


@pytest.mark.parametrize("more, now", [
    pytest.param([status("2025-03-12T15:00+01:00", "in_progress")], "2025-03-20T12:00+01:00",
                 id="agent-moved-back-to-in-progress"),
    pytest.param([status("2025-03-12T15:00+01:00", "in_progress", by_role=Role.CUSTOMER)], "2025-03-20T12:00+01:00",
                 id="customer-moved-it"),
    pytest.param([status("2025-03-14T15:00+01:00", "resolved")], "2025-03-20T12:00+01:00", id="resolved"),
    pytest.param([status("2025-03-17T11:00+01:00", "closed")], "2025-03-17T11:00+01:00", id="closed-by-auto-close"),
    pytest.param([status("2025-03-17T10:00+01:00", "closed")], "2025-03-17T12:00+01:00",
                 id="closed-before-auto-close"),
])
def test_no_reminder_or_close_once_the_ticket_left_waiting(run, more, now):
    evaluation = run(waiting_ticket(*more), now)
    assert evaluation.desired.comments == ()
    assert evaluation.desired.close is False
    assert evaluation.cycles[-1].ended_at is not None


def test_waiting_again_starts_a_new_cycle(run):
    ticket = waiting_ticket(status("2025-03-12T15:00+01:00", "in_progress"),
                            status("2025-03-13T09:30+01:00", "waiting_for_customer"))
    evaluation = run(ticket, "2025-03-14T09:30+01:00")
    assert [c.started_by for c in evaluation.cycles] == ["waiting status", "waiting status"]
    assert [c.key for c in evaluation.desired.comments] == ["json:T-1/reminder/20250313T083000Z/1"]


@pytest.mark.parametrize("title", [
    pytest.param("Le service ne répond plus", id="plain"),
    pytest.param("Erreur {{ 7*7 }} dans le rapport", id="jinja-like"),
    pytest.param("Variable $ticket et ${title} et $$", id="dollar-placeholders"),
    pytest.param("{0} {title!r} %s %(ticket)s", id="format-strings"),
])
def test_reminder_and_closure_bodies_are_french_and_literal(run, title):
    evaluation = run(waiting_ticket(title=title), "2025-03-17T11:00+01:00", CONTRACT)
    reminders = [c for c in evaluation.desired.comments if c.kind is CommentKind.REMINDER]
    (closure,) = [c for c in evaluation.desired.comments if c.kind is CommentKind.CLOSURE]
    for number, reminder in enumerate(reminders, 1):
        assert f"« {title} »" in reminder.body
        assert "Bonjour" in reminder.body and f"relance {number} sur 3" in reminder.body
        assert "T-1" in reminder.body
        assert "49" not in reminder.body
    assert f"« {title} »" in closure.body and "clôturé automatiquement" in closure.body


def test_english_templates(run):
    english = config_variant(lambda raw: (raw["templates"].update(language="en"),
                                          raw["sync"].update(catch_up="contract")))
    evaluation = run(waiting_ticket(title="Export {{ 7*7 }} $title"), "2025-03-17T11:00+01:00", english)
    first, *_, closure = evaluation.desired.comments
    assert first.body.startswith("Hello,")
    assert 'Ticket T-1 "Export {{ 7*7 }} $title"' in first.body
    assert "This is reminder 1 of 3" in first.body
    assert "closed automatically" in closure.body and "Bonjour" not in closure.body


# --- entitlement and scope (§1.3) -------------------------------------------------------------------

ONLY_ALICE = config_variant(lambda raw: raw["entitlement"].update(reporters=["alice"]))
TRAINED_GROUP = config_variant(lambda raw: raw["entitlement"].update(groups=["admins-formes"]))

NOT_APPLICABLE_CASES = [
    pytest.param(ONLY_ALICE, dict(reporter="bob"), "sla-non-eligible", id="reporter-not-entitled"),
    pytest.param(ONLY_ALICE, dict(reporter=None), "sla-non-eligible", id="no-reporter-not-entitled"),
    pytest.param(TRAINED_GROUP, dict(reporter="bob", reporter_groups=frozenset({"utilisateurs"})),
                 "sla-non-eligible", id="group-not-entitled"),
    pytest.param(None, dict(type="Installation"), "sla-hors-perimetre", id="type-installation"),
    pytest.param(None, dict(type="formation"), "sla-hors-perimetre", id="type-formation-any-case"),
    pytest.param(None, dict(type="Développement spécifique"), "sla-hors-perimetre", id="type-specific-development"),
    pytest.param(None, dict(labels={"hors-perimetre"}), "sla-hors-perimetre", id="label-hors-perimetre"),
    pytest.param(None, dict(labels={"Hors-Perimetre"}), "sla-hors-perimetre", id="label-any-case"),
]


@pytest.mark.parametrize("config, fields, expected_label", NOT_APPLICABLE_CASES)
def test_not_entitled_or_out_of_scope(run, config, fields, expected_label):
    ticket = waiting_ticket(**fields)  # waiting for the customer for weeks
    evaluation = run(ticket, "2025-04-30T12:00+02:00", config)
    assert evaluation.desired.labels == {expected_label}
    assert all(c.state is NA for c in evaluation.clocks.values())
    assert set(evaluation.clocks) == set(Clock)
    assert evaluation.cycles == () and evaluation.desired.comments == ()
    assert evaluation.desired.close is False
    assert evaluation.desired.due_at is None and evaluation.next_change_at is None
    assert evaluation.entitled is (expected_label != "sla-non-eligible")


@pytest.mark.parametrize("config, fields", [
    pytest.param(ONLY_ALICE, dict(reporter="alice"), id="listed-reporter"),
    pytest.param(ONLY_ALICE, dict(reporter="Alice"), id="listed-reporter-any-case"),
    pytest.param(TRAINED_GROUP, dict(reporter="bob", reporter_groups=frozenset({"admins-formes"})),
                 id="member-of-group"),
    pytest.param(None, dict(reporter="anyone"), id="empty-lists-everyone-entitled"),
    pytest.param(None, dict(type="Bug"), id="type-in-scope"),
])
def test_entitled_and_in_scope(run, config, fields):
    evaluation = run(make_ticket(TUE_10, **fields), "2025-03-11T11:00+01:00", config)
    assert evaluation.entitled and evaluation.in_scope
    assert evaluation.desired.labels == {"sla-bloquante"}
    assert evaluation.clocks[ACK].state is RUNNING


@pytest.mark.parametrize("sev", [
    pytest.param(None, id="none"),
    pytest.param("critique", id="unmapped-value"),
    pytest.param("", id="empty"),
])
def test_unknown_severity(run, sev):
    evaluation = run(waiting_ticket(sev=sev), "2025-04-30T12:00+02:00")
    assert evaluation.severity is None  # never a default severity
    assert evaluation.desired.labels == {"sla-criticite-inconnue"}
    assert any("unknown severity" in w for w in evaluation.warnings)
    assert all(c.state is NA for c in evaluation.clocks.values())
    assert evaluation.desired.comments == () and evaluation.desired.close is False


def test_severity_becoming_unknown(run):
    evaluation = run(make_ticket(TUE_10, severity("2025-03-11T11:00+01:00", "inconnue")), "2025-03-11T12:00+01:00")
    assert evaluation.severity is None and evaluation.desired.labels == {"sla-criticite-inconnue"}


# --- mineure resolution: a future minor release, no time target (§1.2) -----------------------------

@pytest.mark.parametrize("fix_version, now, state, labels, warned", [
    pytest.param(None, "2025-03-12T10:00+01:00", RUNNING, {"sla-mineure", "sla-version-manquante"}, True,
                 id="missing-fix-version"),
    pytest.param(None, "2026-03-12T10:00+01:00", RUNNING, {"sla-mineure", "sla-version-manquante"}, True,
                 id="missing-fix-version-a-year-later-no-breach"),
    pytest.param("2.4.0", "2025-03-12T10:00+01:00", MET, {"sla-mineure"}, False, id="with-fix-version"),
])
def test_mineure_resolution(run, fix_version, now, state, labels, warned):
    ticket = make_ticket(TUE_10, agent("2025-03-11T10:30+01:00"), severity="mineure", fix_version=fix_version)
    evaluation = run(ticket, now)
    r = evaluation.clocks[RES]
    assert r.state is state
    assert r.deadline is None and r.target is None
    assert evaluation.desired.labels == labels
    assert any("fix version" in w for w in evaluation.warnings) is warned
    assert not any(label.startswith("sla-depasse") for label in evaluation.desired.labels)


# --- next_change_at --------------------------------------------------------------------------------

NEXT_CHANGE_CASES = [
    pytest.param(make_ticket(TUE_10), "2025-03-11T10:30+01:00", "2025-03-11T12:15+01:00", id="ack-at-risk"),
    pytest.param(make_ticket(TUE_10), "2025-03-11T12:30+01:00", "2025-03-11T13:00:00.000001+01:00",
                 id="ack-breached-just-after-deadline"),
    # workaround at risk after 18h: Tue 8h + Wed 9h + Thu 1h; resolution at risk Fri 16:45 is later
    pytest.param(make_ticket(TUE_10), "2025-03-11T13:30+01:00", "2025-03-13T10:00+01:00", id="workaround-at-risk"),
    pytest.param(make_ticket(TUE_10, agent("2025-03-11T10:30+01:00"), status("2025-03-12T10:00+01:00",
                 "workaround_delivered")), "2025-03-12T11:00+01:00", "2025-03-14T16:45+01:00",
                 id="resolution-at-risk"),
    pytest.param(make_ticket("2025-03-15T10:00+01:00"), "2025-03-15T10:00+01:00", "2025-03-17T11:15+01:00",
                 id="created-saturday"),
    pytest.param(waiting_ticket(), "2025-03-11T12:00+01:00", "2025-03-12T11:00+01:00", id="first-reminder"),
    pytest.param(waiting_ticket(), "2025-03-14T12:00+01:00", "2025-03-17T11:00+01:00", id="auto-close"),
    pytest.param(waiting_ticket(), "2025-03-17T12:00+01:00", None, id="after-auto-close"),
    pytest.param(make_ticket(TUE_10, agent("2025-03-11T10:30+01:00"), severity="mineure", fix_version="2.4"),
                 "2025-03-11T11:00+01:00", None, id="mineure-nothing-timed"),
    pytest.param(make_ticket(TUE_10, agent("2025-03-11T10:30+01:00"), status("2025-03-12T10:00+01:00", "resolved")),
                 "2025-03-12T11:00+01:00", None, id="resolved"),
    pytest.param(make_ticket(TUE_10, type="Installation"), "2025-03-11T11:00+01:00", None, id="out-of-scope"),
]


@pytest.mark.parametrize("ticket, now, expected", NEXT_CHANGE_CASES)
def test_next_change_at(run, ticket, now, expected):
    evaluation = run(ticket, now, CONTRACT)
    assert same(evaluation.next_change_at, expected)
    if expected is None:
        for later in ("2025-03-20T12:00+01:00", "2025-06-20T12:00+02:00"):
            assert observable(run(ticket, later, CONTRACT)) == observable(evaluation)
        return
    change = at(expected)
    before = run(ticket, change - timedelta(seconds=1), CONTRACT)
    assert observable(before) != observable(run(ticket, change, CONTRACT))
    span = change - at(now)
    for k in range(1, 8):  # nothing changes strictly between now and the change
        assert observable(run(ticket, at(now) + span * k / 8, CONTRACT)) == observable(evaluation)
    assert observable(before) == observable(evaluation)


# --- what-if: events after `now` are ignored --------------------------------------------------------

def test_events_after_now_are_ignored(run):
    ticket = make_ticket(TUE_10, severity("2025-03-11T10:20+01:00", "majeure"),
                         agent("2025-03-11T12:00+01:00"), status("2025-03-11T12:00+01:00", "in_progress"),
                         label("2025-03-12T10:00+01:00", "contournement"),
                         status("2025-03-13T10:00+01:00", "resolved"), severity="bloquante")
    early = run(ticket, "2025-03-11T10:10+01:00")
    assert early.severity == "bloquante" and early.status == "new"
    assert early.clocks[ACK].state is RUNNING and early.clocks[ACK].deadline == at("2025-03-11T13:00+01:00")
    middle = run(ticket, "2025-03-12T09:30+01:00")
    assert middle.severity == "majeure" and middle.status == "in_progress"
    assert middle.clocks[ACK].state is MET and middle.clocks[WORK].state is RUNNING
    late = run(ticket, "2025-03-13T11:00+01:00")
    assert late.status == "resolved" and late.clocks[RES].state is MET
    assert late.clocks[WORK].stopped_at == at("2025-03-12T10:00+01:00")


def test_what_if_comment_after_now_does_not_restart_the_cycle(run):
    ticket = waiting_ticket(customer("2025-03-13T10:00+01:00"))
    evaluation = run(ticket, "2025-03-12T12:00+01:00")
    assert len(evaluation.cycles) == 1
    assert [c.key for c in evaluation.desired.comments] == [KEY + "1"]


def test_what_if_out_of_scope_label_added_after_now(run):
    ticket = make_ticket(TUE_10, label("2025-03-12T10:00+01:00", "hors-perimetre"))
    evaluation = run(ticket, "2025-03-11T11:00+01:00")
    assert evaluation.in_scope
    assert evaluation.desired.labels == {"sla-bloquante"}


def test_pruned_history_waiting_cycle_progresses(run):
    # The tracker says waiting_for_customer (last updated Tue 12:00) but its history
    # stops at the move to in_progress at 11:00.
    ticket = make_ticket(TUE_10, agent("2025-03-11T10:30+01:00"), status("2025-03-11T11:00+01:00", "in_progress"),
                         status="waiting_for_customer", updated=at("2025-03-11T12:00+01:00"))
    first = run(ticket, "2025-03-12T12:00+01:00", CONTRACT)
    later = run(ticket, "2025-03-20T12:00+01:00", CONTRACT)
    assert first.cycles[-1].started_at == later.cycles[-1].started_at  # stable keys
    assert later.desired.close  # over a week of business days: reminded thrice and closed


def test_naive_now_raises(run, cfg):
    with pytest.raises(ValueError, match="naive"):
        evaluate(make_ticket(TUE_10), cfg.policy, cfg.calendar, datetime(2025, 3, 11, 12, 0))


def test_evaluation_in_another_zone_is_the_same_instant(run):
    paris = run(waiting_ticket(), "2025-03-13T11:00+01:00")
    utc = run(waiting_ticket(), "2025-03-13T10:00Z")
    assert observable(paris) == observable(utc)


# --- catch-up: reminders nobody sent on time (first sync, outage) -----------------------------------
# waiting_ticket: reminders due Wed 12, Thu 13, Fri 14 11:00; auto-close Mon 17 11:00 on contract dates.

def sent(key_suffix: str, when: str) -> Comment:
    """A reminder as sla-bridge posted it: an agent comment carrying its marker."""
    return Comment(at(when), "sla-bridge", Role.AGENT, True, f"Bonjour...\n\n[sla-bridge:{KEY}{key_suffix}]", own=True)


def test_a_first_sync_long_after_sends_only_the_latest_reminder_then_waits_a_day(run):
    # Nothing was sent; sla-bridge first looks on Thu 20 12:00, three reminders and the closure overdue.
    evaluation = run(waiting_ticket(), "2025-03-20T12:00+01:00")
    assert [c.key for c in evaluation.desired.comments] == [KEY + "3"]  # one message, saying "relance 3 sur 3"
    assert "relance 3 sur 3" in evaluation.desired.comments[0].body
    assert not evaluation.desired.close
    assert [r.skipped for r in evaluation.cycles[-1].reminders] == [True, True, False]
    # Once it is on the tracker (posted Thu 20 12:00), the closure waits one business day from then.
    after = run(waiting_ticket(sent("3", "2025-03-20T12:00+01:00")), "2025-03-20T12:05+01:00")
    assert after.desired.close is False and after.next_change_at == at("2025-03-21T12:00+01:00")
    closing = run(waiting_ticket(sent("3", "2025-03-20T12:00+01:00")), "2025-03-21T12:00+01:00")
    assert closing.desired.close and [c.key for c in closing.desired.comments] == [KEY + "3", CLOSE_KEY]


def test_an_outage_collapses_due_reminders_and_keeps_the_contract_spacing_after(run):
    # Reminder 1 went out on time (Wed 12 11:00); the service was down until Fri 14 15:00, when
    # reminders 2 and 3 were both due: only 3 goes out, and the closure waits a day after it.
    ticket = waiting_ticket(sent("1", "2025-03-12T11:00+01:00"))
    evaluation = run(ticket, "2025-03-14T15:00+01:00")
    assert [c.key for c in evaluation.desired.comments] == [KEY + "1", KEY + "3"]
    assert evaluation.cycles[-1].auto_close_at == at("2025-03-17T15:00+01:00")


def test_a_late_reminder_pushes_the_next_step_by_the_contract_gap(run):
    # Reminder 1 sent late, Thu 13 10:00 (reminder 2 not yet due at 11:00): reminder 2 comes one
    # business day after it (Fri 14 10:00, not Thu 13 11:00), reminder 3 a day later.
    ticket = waiting_ticket(sent("1", "2025-03-13T10:00+01:00"))
    evaluation = run(ticket, "2025-03-13T10:30+01:00")
    assert [r.at for r in evaluation.cycles[-1].reminders] == [
        at("2025-03-13T10:00+01:00"), at("2025-03-14T10:00+01:00"), at("2025-03-17T10:00+01:00")]
    assert evaluation.next_change_at == at("2025-03-14T10:00+01:00")


def test_catch_up_contract_sends_everything_on_the_contract_dates(run):
    evaluation = run(waiting_ticket(), "2025-03-20T12:00+01:00", CONTRACT)
    assert [c.key for c in evaluation.desired.comments] == [KEY + "1", KEY + "2", KEY + "3", CLOSE_KEY]
    assert evaluation.desired.close


def test_steady_state_is_the_contract_schedule(run):
    # Each reminder sent at its time: the collapse policy changes nothing.
    ticket = waiting_ticket(sent("1", "2025-03-12T11:00+01:00"), sent("2", "2025-03-13T11:00+01:00"),
                            sent("3", "2025-03-14T11:00+01:00"))
    evaluation = run(ticket, "2025-03-17T11:00+01:00")
    assert evaluation.desired.close and evaluation.cycles[-1].auto_close_at == at("2025-03-17T11:00+01:00")


def test_a_marker_not_written_by_sla_bridge_does_not_count_as_sent(run):
    # An agent pasting a reminder's text, or a system notification quoting it: not sla-bridge's own.
    pasted = Comment(at("2025-03-11T12:00+01:00"), "sam", Role.AGENT, True, f"[sla-bridge:{KEY}3] [sla-bridge:{CLOSE_KEY}]")
    system = Comment(at("2025-03-11T12:00+01:00"), None, Role.SYSTEM, True, f"[sla-bridge:{KEY}3]")
    evaluation = run(waiting_ticket(pasted, system), "2025-03-14T12:00+01:00")
    assert [c.key for c in evaluation.desired.comments] == [KEY + "3"]
    assert not any(r.sent for r in evaluation.cycles[-1].reminders)


# --- tracker fields and identities ---------------------------------------------------------------

FIELDS = config_variant(lambda raw: (
    raw["clocks"].update(workaround_fields={"workaround": ["provisional"]},
                         definitive_workaround_fields={"workaround": ["definitive"]}),
    raw["scope"].update(out_of_scope_fields={"category": ["Training"]})))


def test_a_tracker_field_marks_the_workaround_and_the_definitive_one(run):
    from sla_bridge.model import FieldChange
    ticket = make_ticket(TUE_10, agent("2025-03-11T10:30+01:00"),
                         FieldChange(at("2025-03-12T10:00+01:00"), "workaround", None, "Provisional", "sam"),
                         FieldChange(at("2025-03-13T10:00+01:00"), "workaround", "Provisional", "Definitive", "sam"),
                         fields=frozenset({("workaround", "Definitive")}))
    evaluation = run(ticket, "2025-03-14T12:00+01:00", FIELDS)
    assert evaluation.clocks[WORK].state is MET and evaluation.clocks[WORK].stopped_at == at("2025-03-12T10:00+01:00")
    assert evaluation.clocks[RES].state is MET and evaluation.clocks[RES].stopped_at == at("2025-03-13T10:00+01:00")


def test_a_tracker_field_puts_a_ticket_out_of_scope(run):
    ticket = make_ticket(TUE_10, fields=frozenset({("category", "training")}))
    evaluation = run(ticket, "2025-03-11T12:00+01:00", FIELDS)
    assert not evaluation.in_scope and evaluation.desired.labels == {"sla-hors-perimetre"}


def test_clocks_start_at_the_report_when_it_was_logged_later(run):
    # Reported by phone Tue 10:00, typed in at 11:30: the acknowledge deadline is 13:00, not 14:30.
    ticket = make_ticket("2025-03-11T11:30+01:00", reported_at=at(TUE_10))
    evaluation = run(ticket, "2025-03-11T12:00+01:00")
    assert evaluation.clocks[ACK].deadline == at("2025-03-11T13:00+01:00")
    assert evaluation.clocks[ACK].started_at == at(TUE_10)


def test_entitlement_matches_identities_never_display_names(run):
    from sla_bridge.identity import Person
    only = config_variant(lambda raw: raw["entitlement"].update(reporters=["login:cust-admin"]))
    admin = Person(id="7", login="cust-admin", name="Alice Martin")
    impostor = Person(id="8", login="amartin", name="cust-admin")
    assert run(make_ticket(TUE_10, reporter=admin), "2025-03-11T12:00+01:00", only).entitled
    assert not run(make_ticket(TUE_10, reporter=impostor), "2025-03-11T12:00+01:00", only).entitled


def test_a_closure_stopped_half_way_on_a_resolved_status_is_still_owed(run):
    # The closure notice went out Mon 17 11:00, the tracker moved the ticket to resolved on the
    # way to closed, and the last step failed: closing is still desired; not after an answer.
    notice = Comment(at("2025-03-17T11:00+01:00"), "sla-bridge", Role.AGENT, True,
                     f"Clôture\n\n[sla-bridge:{CLOSE_KEY}]", own=True)
    half = waiting_ticket(sent("1", "2025-03-12T11:00+01:00"), sent("2", "2025-03-13T11:00+01:00"),
                          sent("3", "2025-03-14T11:00+01:00"), notice,
                          status("2025-03-17T11:00:01+01:00", "resolved", by_role=Role.SYSTEM))
    evaluation = run(half, "2025-03-17T12:00+01:00")
    assert evaluation.desired.close and evaluation.desired.close_key == CLOSE_KEY.replace("/closure/", "/close/")
    assert evaluation.desired.comments == ()
    answered = replace(half, events=half.events + (customer("2025-03-17T11:30+01:00"),))
    assert not run(answered, "2025-03-17T12:00+01:00").desired.close
    resolved_by_agent = waiting_ticket(status("2025-03-14T15:00+01:00", "resolved"))
    assert not run(resolved_by_agent, "2025-03-20T12:00+01:00").desired.close
