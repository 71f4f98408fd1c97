"""Minutes and decisions: a decision resolves a pending request through the lifecycle, with the same permissions;
follow-ups stay on the next agenda until done."""

import datetime as dt

import pytest
import sqlalchemy as sa

from govern import audit
from govern.errors import Conflict, InvalidInput, PermissionDenied
from govern.model import ApprovalRequest, ApprovalVote, Decision, FollowUp, Opportunity, Person, RitualOccurrence
from govern.rituals import services
from tests.conftest import actor
from govern.workflows import services as lifecycle

UTC = dt.timezone.utc
MEETING = dt.datetime(2026, 11, 25, 9, 0, tzinfo=UTC)  # Wednesday 10:00 Amsterdam
DURING = MEETING + dt.timedelta(minutes=40)


@pytest.fixture
def review(example_db):
    """The weekly council review of 25 November, with OPP-1's move to prioritise awaiting the lead."""
    with example_db.session_scope() as s:
        result = lifecycle.request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise",
                                              reason="evidence from two journeys")
        assert result.request is not None and not result.moved
        result.request.created_at = (MEETING - dt.timedelta(days=1)).replace(tzinfo=None)  # asked before the meeting
        ritual = services.get_ritual(s, "weekly-council-review")
        occurrence = services.resolve_occurrence(s, ritual, at=MEETING)
        s.commit()
        return {"occurrence": occurrence.id, "request": result.request.id}


def opp(session, key="OPP-1"):
    return session.scalar(sa.select(Opportunity).where(Opportunity.number == int(key.split("-")[1])))


def test_lead_approves_in_the_minutes_and_the_opportunity_moves(example_db, review):
    with example_db.session_scope() as s:
        agenda = services.agenda_for(s, actor(s, "marco"), "weekly-council-review", at=MEETING, now=MEETING)
        approvals = next(x for x in agenda["sections"] if x["key"] == "approvals")["items"]
        assert [i["ref"] for i in approvals] == ["OPP-1"] and approvals[0]["rank"] is not None
        services.hold_ritual(
            s, actor(s, "ana"), review["occurrence"],
            attendance={"ana": True, "marco": True, "lotte": True, "femke": False},
            notes="Porting is the top pain this quarter.",
            decisions=[{"text": "Move the porting opportunity to prioritise", "opportunity": "OPP-1",
                        "outcome": "approve",
                        "follow_ups": [{"text": "Score it with RICE", "owner": "lotte", "due_on": "2026-12-02"}]}],
            now=DURING)
        assert opp(s).state == "prioritise"
        assert s.get(ApprovalRequest, review["request"]).status == "approved"
        [decision] = s.scalars(sa.select(Decision)).all()
        assert (decision.outcome, decision.approval_request_id, decision.opportunity_id) == (
            "approved", review["request"], opp(s).id)
        record = services.minutes(s, actor(s, "lotte"), review["occurrence"])
        assert record["occurrence"]["status"] == "held"
        assert {a["person"]: a["present"] for a in record["attendance"]} == {
            "ana": True, "marco": True, "lotte": True, "femke": False}
        assert record["decisions"][0]["decided_by"] == "ana"
        assert record["decisions"][0]["follow_ups"][0]["text"] == "Score it with RICE"
        actions = [e.action for e in s.scalars(sa.select(audit.AuditEvent).order_by(audit.AuditEvent.id))]
        assert {"ritual.held", "ritual.decision", "ritual.follow_up", "approval.approved"} <= set(actions)
        assert audit.verify(s).ok


def test_a_manager_cannot_approve_what_only_the_lead_may_and_nothing_is_recorded(example_db, review):
    with example_db.session_scope() as s:
        with pytest.raises(PermissionDenied, match="marco"):
            services.hold_ritual(s, actor(s, "marco"), review["occurrence"], notes="tried",
                                 decisions=[{"text": "approve it", "opportunity": "OPP-1", "outcome": "approve"}],
                                 now=DURING)
        assert s.get(RitualOccurrence, review["occurrence"]).status == "planned"
        assert s.get(RitualOccurrence, review["occurrence"]).notes is None
        assert s.scalars(sa.select(Decision)).all() == []
        assert s.get(ApprovalRequest, review["request"]).status == "pending"


def test_the_requester_cannot_approve_their_own_request_in_the_minutes(example_db, review):
    with example_db.session_scope() as s:
        s.get(ApprovalRequest, review["request"]).requested_by_id = actor(s, "ana").person_id
        s.commit()
        with pytest.raises(PermissionDenied, match="separation of duties|requested"):
            services.hold_ritual(s, actor(s, "ana"), review["occurrence"],
                                 decisions=[{"text": "ok", "request": review["request"], "outcome": "approve"}],
                                 now=DURING)


def test_lead_rejects_with_a_reason_through_the_lifecycle(example_db, review):
    with example_db.session_scope() as s:
        with pytest.raises(InvalidInput) as missing:
            services.hold_ritual(s, actor(s, "ana"), review["occurrence"],
                                 decisions=[{"text": "no", "opportunity": "OPP-1", "outcome": "reject"}], now=DURING)
        assert missing.value.details == {"decisions[0].reason": "a rejection needs a reason"}
        services.hold_ritual(s, actor(s, "ana"), review["occurrence"],
                             decisions=[{"text": "Not now", "opportunity": "OPP-1", "outcome": "reject",
                                         "reason": "needs evidence from the porting partner first"}], now=DURING)
        request = s.get(ApprovalRequest, review["request"])
        assert request.status == "rejected"
        assert request.decided_reason == "needs evidence from the porting partner first"
        assert opp(s).state == "research"
        assert s.scalars(sa.select(Decision)).one().outcome == "rejected"


def test_a_request_already_decided_the_other_way_is_refused_before_anything_is_written(example_db, review):
    with example_db.session_scope() as s:
        lifecycle.approve_request(s, actor(s, "ana"), review["request"])
        with pytest.raises(Conflict, match="already approved"):
            services.hold_ritual(s, actor(s, "ana"), review["occurrence"], notes="x",
                                 decisions=[{"text": "reject", "request": review["request"], "outcome": "reject",
                                             "reason": "too late"}],
                                 now=DURING)
        assert s.get(RitualOccurrence, review["occurrence"]).status == "planned"


def test_the_manager_minutes_the_approval_the_lead_gave_in_the_meeting(example_db, review):
    with example_db.session_scope() as s:
        lifecycle.approve_request(s, actor(s, "ana"), review["request"])
        held = services.hold_ritual(s, actor(s, "marco"), review["occurrence"], notes="approved in the room",
                                    decisions=[{"text": "The lead approved", "request": review["request"],
                                                "outcome": "approve"}],
                                    now=DURING)
        assert held.status == "held"
        decision = s.scalar(sa.select(Decision).where(Decision.occurrence_id == held.id))
        assert decision.outcome == "approved"
        assert s.get(Person, decision.decided_by_id).handle == "ana"
        votes = s.scalars(sa.select(ApprovalVote).where(ApprovalVote.request_id == review["request"])).all()
        assert [s.get(Person, v.person_id).handle for v in votes] == ["ana"]


def test_every_problem_in_the_minutes_is_named(example_db, review):
    with example_db.session_scope() as s:
        with pytest.raises(InvalidInput) as caught:
            services.hold_ritual(
                s, actor(s, "marco"), review["occurrence"], attendance=["ana", "nobody"],
                decisions=[{"text": "", "opportunity": "OPP-99", "outcome": "maybe", "colour": "red"},
                           {"text": "approve", "opportunity": "OPP-2", "outcome": "approve"}],
                follow_ups=[{"text": "Do it", "owner": "ghost", "due_on": "soon"}, {"text": "x", "owner": "ana"}],
                now=DURING)
        assert caught.value.details == {
            "attendance.nobody": "unknown person 'nobody'",
            "decisions[0].colour": "unknown field",
            "decisions[0].text": "required",
            "decisions[0].outcome": "must be one of approve, reject, noted",
            "decisions[0].opportunity": "unknown opportunity 'OPP-99'",
            "decisions[1].request": "OPP-2 has no pending request",
            "follow_ups[0].owner": "unknown person 'ghost'",
            "follow_ups[0].due_on": "not a date",
            "follow_ups[1].due_on": "every follow-up needs a due date",
        }


def test_only_the_council_records_minutes_and_not_before_the_meeting(example_db, review):
    with example_db.session_scope() as s:
        with pytest.raises(PermissionDenied, match="lotte"):
            services.hold_ritual(s, actor(s, "lotte"), review["occurrence"], notes="x", now=DURING)
        with pytest.raises(InvalidInput, match="has not happened yet"):
            services.hold_ritual(s, actor(s, "marco"), review["occurrence"], now=MEETING - dt.timedelta(days=3))


def test_follow_ups_stay_on_the_next_agendas_until_done(example_db, review):
    with example_db.session_scope() as s:
        marco = actor(s, "marco")
        services.hold_ritual(s, marco, review["occurrence"], decisions=[
            {"text": "Ask the porting partner for daily status", "opportunity": "OPP-1", "outcome": "noted",
             "follow_ups": [{"text": "Mail the partner", "owner": "lotte", "due_on": "2026-12-01"}]}],
            follow_ups=[{"text": "Book the January off-site", "owner": "marco", "due_on": "2026-12-15"}], now=DURING)

        def follow_up_lines(at):
            agenda = services.agenda_for(s, marco, "weekly-council-review", at=at, fresh=True, now=at)
            items = next(x for x in agenda["sections"] if x["key"] == "follow_ups")["items"]
            return [i["text"] for i in items]

        next_week = MEETING + dt.timedelta(days=7)
        assert follow_up_lines(next_week) == [
            "Decided: OPP-1: Ask the porting partner for daily status [noted] — follow-ups 0/1 done",
            "Book the January off-site (Marco Rossi, due 2026-12-15; open)"]
        mail = s.scalars(sa.select(FollowUp).where(FollowUp.text == "Mail the partner")).one()
        with pytest.raises(PermissionDenied):
            services.complete_follow_up(s, actor(s, "femke"), mail.id)
        services.complete_follow_up(s, actor(s, "lotte"), mail.id)  # its owner may
        with pytest.raises(Conflict, match="already done"):
            services.complete_follow_up(s, actor(s, "lotte"), mail.id)
        assert follow_up_lines(next_week)[0].endswith("follow-ups 1/1 done")
        assert [f.text for f in services.open_follow_ups(s, marco)] == ["Book the January off-site"]
        # Held again next week without new decisions: last week's open follow-up still shows the week after.
        later = services.resolve_occurrence(s, services.get_ritual(s, "weekly-council-review"), at=next_week)
        s.commit()
        services.hold_ritual(s, marco, later.id, notes="quick", now=next_week + dt.timedelta(hours=1))
        assert follow_up_lines(next_week + dt.timedelta(days=7)) == [
            "Book the January off-site (Marco Rossi, due 2026-12-15; open)"]


def test_a_skipped_occurrence_cannot_be_held_but_a_missed_one_can(example_db, review):
    with example_db.session_scope() as s:
        marco = actor(s, "marco")
        services.skip_occurrence(s, marco, review["occurrence"], reason="off-site")
        with pytest.raises(Conflict, match="was skipped"):
            services.hold_ritual(s, marco, review["occurrence"], now=DURING)
        services.reinstate_occurrence(s, marco, review["occurrence"])
        s.get(RitualOccurrence, review["occurrence"]).status = "missed"
        s.commit()
        held = services.hold_ritual(s, marco, review["occurrence"], notes="held without an agenda", now=DURING)
        assert held.status == "held"
