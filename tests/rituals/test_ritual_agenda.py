"""Agendas built from crafted data: each section, the ritual's scope, and the Markdown and Slack renderings."""

import datetime as dt

import pytest
import sqlalchemy as sa

from govern.model import (
    ApprovalRequest, Decision, FollowUp, Journey, Kpi, KpiMeasurement, Opportunity, OpportunityKpi, Person, Ritual,
    RitualOccurrence, opportunity_journey,
)
from govern.rituals import agenda as agenda_mod

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
MEETING = dt.datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
LAST_MEETING = dt.datetime(2026, 11, 18, 9, 0)  # naive UTC, as stored


def days_ago(n):
    return (NOW - dt.timedelta(days=n)).replace(tzinfo=None)


@pytest.fixture
def org(session):
    """Scenario-shaped data: a council, a journey tree with two ownership gaps, opportunities in every situation."""
    s = session
    people = {h: Person(handle=h, name=h.title()) for h in ("lea", "marco", "lotte", "olga", "gone")}
    people["gone"].active = False
    s.add_all(people.values())
    s.flush()
    master = Journey(key="being-a-customer", name="Being a customer", level="master", owner_id=people["lea"].id)
    s.add(master)
    s.flush()
    switching = Journey(key="switching", name="Switching providers", level="macro", parent_id=master.id,
                        owner_id=people["olga"].id)
    billing = Journey(key="billing", name="Paying my bill", level="macro", parent_id=master.id,
                      owner_id=people["gone"].id)
    s.add_all([switching, billing])
    s.flush()
    porting = Journey(key="porting", name="Porting my number", level="micro", parent_id=switching.id)
    s.add(porting)
    s.flush()

    def opp(number, state, journeys, changed_days_ago, title=None):
        o = Opportunity(number=number, title=title or f"How might we do thing {number}?", state=state,
                        owner_id=people["lotte"].id, state_changed_at=days_ago(changed_days_ago))
        s.add(o)
        s.flush()
        for j in journeys:
            s.execute(opportunity_journey.insert().values(opportunity_id=o.id, journey_id=j.id))
        return o

    opps = {
        1: opp(1, "research", [porting], 30, "How might we keep switchers informed while their number ports?"),
        2: opp(2, "research", [billing], 3),
        3: opp(3, "parked", [porting], 100),
        4: opp(4, "done", [switching], 100),
        5: opp(5, "evaluate", [switching], 2),
        6: opp(6, "implement", [porting], 5),
        7: opp(7, "implement", [billing], 5),
    }
    s.add_all([
        ApprovalRequest(opportunity_id=opps[1].id, trigger="prioritise", from_state="research", to_state="prioritise",
                        requested_by_id=people["lotte"].id, rule={"role": "lead"}, created_at=days_ago(2)),
        ApprovalRequest(opportunity_id=opps[2].id, trigger="prioritise", from_state="research", to_state="prioritise",
                        requested_by_id=people["lotte"].id, rule={"role": "lead"}, created_at=days_ago(1)),
        ApprovalRequest(opportunity_id=opps[4].id, trigger="finish", from_state="evaluate", to_state="done",
                        requested_by_id=people["lotte"].id, rule={"role": "lead"}, status="approved",
                        created_at=days_ago(40)),
    ])
    csat = Kpi(key="porting-csat", name="Porting CSAT", kind="cx", scale="csat5", direction="higher", target=4.0,
               journey_id=porting.id)
    tickets = Kpi(key="billing-tickets", name="Billing tickets", kind="business", scale="count", direction="lower",
                  target=200, unit="/month", journey_id=billing.id)
    nps = Kpi(key="switching-nps", name="Switching NPS", kind="cx", scale="nps", direction="higher", target=0,
              journey_id=switching.id)
    s.add_all([csat, tickets, nps])
    s.flush()
    for kpi, points in ((csat, [(40, 3.0), (10, 3.1), (2, 3.9)]), (tickets, [(10, 420), (2, 421)]),
                        (nps, [(10, 12), (2, 12)])):
        for ago, value in points:
            s.add(KpiMeasurement(kpi_id=kpi.id, value=value, measured_at=days_ago(ago)))
    s.add(OpportunityKpi(opportunity_id=opps[5].id, kpi_id=nps.id, baseline_value=5, baseline_at=days_ago(60)))

    council = Ritual(key="council", name="Weekly council review", purpose="Decide.", cadence_kind="cron",
                     cadence="0 10 * * WED", timezone="Europe/Amsterdam", scope_kind="council",
                     slack_channel="cx-council", agenda_sections=[], piggyback_on="sprint review",
                     settings={"stale_after_days": 14})
    checkin = Ritual(key="switching-checkin", name="Switching check-in", cadence_kind="cron",
                     cadence="0 10 * * WED", timezone="Europe/Amsterdam", scope_kind="subtree",
                     scope_journey_id=switching.id, agenda_sections=["approvals", "stale", "kpis", "ownership_gaps"])
    s.add_all([council, checkin])
    s.flush()
    older = RitualOccurrence(ritual_id=council.id, scheduled_at=LAST_MEETING - dt.timedelta(days=7), status="held")
    last = RitualOccurrence(ritual_id=council.id, scheduled_at=LAST_MEETING, status="held")
    s.add_all([older, last, RitualOccurrence(ritual_id=checkin.id, scheduled_at=LAST_MEETING, status="held")])
    s.flush()
    s.add(FollowUp(occurrence_id=older.id, text="Ask legal about porting texts", owner_id=people["marco"].id,
                   due_on=dt.date(2026, 11, 20)))
    decision = Decision(occurrence_id=last.id, text="Porting SMS goes to the A/B test", opportunity_id=opps[1].id,
                        decided_by_id=people["lea"].id)
    s.add(decision)
    s.flush()
    s.add_all([
        FollowUp(decision_id=decision.id, occurrence_id=last.id, text="Share the A/B set-up",
                 owner_id=people["lotte"].id, due_on=dt.date(2026, 11, 24), done_at=days_ago(1)),
        FollowUp(decision_id=decision.id, occurrence_id=last.id, text="Book the SMS budget", owner_id=people["olga"].id,
                 due_on=dt.date(2026, 12, 1)),
    ])
    s.commit()
    return {"council": council, "checkin": checkin, "opps": opps}


def section(agenda, key):
    return next(s for s in agenda["sections"] if s["key"] == key)


def refs(agenda, key):
    return [item.get("ref") for item in section(agenda, key)["items"]]


def test_council_agenda_has_every_section_in_order(session, org):
    agenda = agenda_mod.build_agenda(session, org["council"], MEETING, now=NOW)
    assert [s["key"] for s in agenda["sections"]] == [
        "approvals", "stale", "kpis", "evaluations_due", "ownership_gaps", "follow_ups"]
    assert agenda["local_time"] == "Wednesday 25 November 2026, 10:00 CET"
    assert agenda["since"] == "2026-11-18T09:00:00Z"
    assert agenda["scope"]["label"] == "the whole council"


def test_approvals_awaiting_a_decision_oldest_first_with_their_rule(session, org):
    agenda = agenda_mod.build_agenda(session, org["council"], MEETING, now=NOW)
    assert refs(agenda, "approvals") == ["OPP-1", "OPP-2"]  # the approved request is not listed
    first = section(agenda, "approvals")["items"][0]
    assert first["text"].startswith("OPP-1 How might we keep switchers informed while their number ports?: "
                                    "Research → Prioritise, requested by Lotte on 2026-11-23; needs the lead")
    assert first["request_id"] and first["approvers"] == "the lead"


def test_stale_lists_working_states_idle_beyond_the_threshold_only(session, org):
    # OPP-1 sat 30 days in Research, but a request was made about it 2 days ago: something happened, not stale
    assert refs(agenda_mod.build_agenda(session, org["council"], MEETING, now=NOW), "stale") == []
    org["council"].settings = {"stale_after_days": 4}  # parked and done are never stale; OPP-2 got a request too
    stale = section(agenda_mod.build_agenda(session, org["council"], MEETING, now=NOW), "stale")["items"]
    assert [i["ref"] for i in stale] == ["OPP-6", "OPP-7"]
    assert stale[0]["days"] == 5 and "nothing for 5 days, in Implement" in stale[0]["text"]


def test_stale_counts_days_since_anything_happened_not_days_in_the_state(session, org):
    from govern.model import ApprovalRequest

    for request in session.scalars(sa.select(ApprovalRequest)):
        session.delete(request)
    session.flush()
    agenda = agenda_mod.build_agenda(session, org["council"], MEETING, now=NOW)
    assert refs(agenda, "stale") == ["OPP-1"]  # 30 days idle once its request is gone
    assert section(agenda, "stale")["items"][0]["days"] == 30


def test_kpis_that_moved_since_last_time_or_miss_their_target(session, org):
    items = section(agenda_mod.build_agenda(session, org["council"], MEETING, now=NOW), "kpis")["items"]
    by_ref = {i["ref"]: i for i in items}
    assert set(by_ref) == {"porting-csat", "billing-tickets"}  # NPS did not move and meets its target
    assert by_ref["porting-csat"]["text"] == "Porting CSAT: 3.1 → 3.9, improved, target not met (target 4)"
    assert by_ref["porting-csat"]["verdict"] == "short_of_target"
    assert by_ref["billing-tickets"]["text"] == "Billing tickets: now 421 /month (target 200: missed)"


def test_an_opportunity_in_an_evaluation_state_with_nothing_scheduled_is_due(session, org):
    # OPP-5 sits in evaluate (kind evaluation in the default lifecycle) with no outcome and no evaluation date; dates
    # scheduled by the lifecycle are covered in test_ritual_evaluations_due.py, through the real transition.
    items = section(agenda_mod.build_agenda(session, org["council"], MEETING, now=NOW), "evaluations_due")["items"]
    assert [i["ref"] for i in items] == ["OPP-5"]
    assert items[0]["due_on"] is None and "(due" not in items[0]["text"]


def test_ownership_gaps_name_journeys_without_an_active_owner(session, org):
    items = section(agenda_mod.build_agenda(session, org["council"], MEETING, now=NOW), "ownership_gaps")["items"]
    assert [i["text"] for i in items] == ["Paying my bill (macro) is owned by Gone, who has left",
                                          "Porting my number (micro) has no owner"]


def test_last_decisions_with_their_follow_through_and_every_open_follow_up(session, org):
    items = section(agenda_mod.build_agenda(session, org["council"], MEETING, now=NOW), "follow_ups")["items"]
    decision, older = items
    assert decision["text"] == "Decided: OPP-1: Porting SMS goes to the A/B test — follow-ups 1/2 done"
    assert [f["text"] for f in decision["follow_ups"]] == [
        "Share the A/B set-up (Lotte, due 2026-11-24; done)", "Book the SMS budget (Olga, due 2026-12-01; open)"]
    assert older["text"] == "Ask legal about porting texts (Marco, due 2026-11-20; open)"


def test_a_subtree_ritual_only_sees_its_journeys(session, org):
    agenda = agenda_mod.build_agenda(session, org["checkin"], MEETING, now=NOW)
    assert [s["key"] for s in agenda["sections"]] == ["approvals", "stale", "kpis", "ownership_gaps"]
    assert refs(agenda, "approvals") == ["OPP-1"]  # OPP-2 is about billing
    assert refs(agenda, "kpis") == ["porting-csat"]
    assert refs(agenda, "ownership_gaps") == ["porting"]
    assert agenda["scope"]["label"] == "Switching providers and the journeys below it"


def test_the_markdown_rendering_carries_every_item(session, org):
    agenda = agenda_mod.build_agenda(session, org["council"], MEETING, now=NOW)
    markdown = agenda_mod.to_markdown(agenda)
    assert markdown.startswith("# Weekly council review — Wednesday 25 November 2026, 10:00 CET\n")
    assert "## Requests awaiting a decision" in markdown and "Held during the sprint review." in markdown
    assert "  - Book the SMS budget (Olga, due 2026-12-01; open)" in markdown
    assert agenda_mod.summary_text(agenda).startswith("Agenda for Weekly council review (Wednesday 25 November")


def test_empty_sections_say_nothing(session, org):
    master = session.scalar(sa.select(Journey).where(Journey.key == "being-a-customer"))
    quiet = Ritual(key="quiet", name="Quiet review", cadence_kind="cron", cadence="0 10 * * WED",
                   scope_kind="journey", scope_journey_id=master.id, agenda_sections=["approvals"])
    session.add(quiet)
    session.commit()
    agenda = agenda_mod.build_agenda(session, quiet, MEETING, now=NOW)
    assert section(agenda, "approvals")["items"] == []
    assert "_Nothing._" in agenda_mod.to_markdown(agenda)
