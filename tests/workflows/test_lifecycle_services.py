"""The lifecycle through its services: guards, approvals, refusals, effects, audit and history (scenario 1)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from govern import audit, notifications
from govern.errors import Conflict, GuardsUnmet, InvalidInput, PermissionDenied, PreconditionFailed
from govern.model import ApprovalRequest, AuditEvent, OpportunityKpi, OpportunityTransition, OutboxMessage
from govern.notifications import Notification
from govern.workflows import services
from tests.workflows.conftest import use_lifecycle


def outbox_kinds(session):
    return [(m.topic, m.kind) for m in session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id))]


def test_research_to_prioritise_waits_for_the_lead_and_moves_when_approved(org, session):
    opp = org.opportunity()
    result = services.request_transition(session, org.actor("lotte"), opp.key, "prioritise")
    assert not result.moved and result.request.status == "pending"
    assert result.approval.waiting_for() == ["the lead (Lea)"]
    assert opp.state == "research"
    assert (notifications.TOPIC, notifications.APPROVAL_REQUESTED) in outbox_kinds(session)

    done = services.approve_request(session, org.actor("lea"), result.request.id)
    assert done.moved and opp.state == "prioritise"
    assert result.request.status == "approved"
    row = session.scalars(sa.select(OpportunityTransition).where(
        OpportunityTransition.opportunity_id == opp.id).order_by(OpportunityTransition.id.desc())).first()
    assert (row.from_state, row.to_state, row.approval_request_id) == ("research", "prioritise", result.request.id)
    assert (notifications.TOPIC, notifications.OPPORTUNITY_MOVED) in outbox_kinds(session)


def test_refused_transition_lists_every_unmet_guard(org, session):
    opp = org.opportunity(insights=1)
    with pytest.raises(GuardsUnmet) as caught:
        services.request_transition(session, org.actor("lotte"), opp.key, "prioritise")
    assert caught.value.details["unmet"] == ["needs 2 pieces of evidence, has 1",
                                             "needs evidence from 2 journeys, has evidence from 1"]
    assert session.scalar(sa.select(sa.func.count()).select_from(ApprovalRequest)) == 0


def test_prioritise_to_implement_needs_every_other_owner_and_records_baseline_and_backlog(org, session):
    opp = org.opportunity(state="prioritise")
    result = services.request_transition(session, org.actor("lotte"), opp.key, "implement")
    assert result.approval.waiting_for() == ["the owner of Moving House (Ana)"]
    done = services.approve_request(session, org.actor("ana"), result.request.id)
    assert done.moved and opp.state == "implement"
    link = session.scalar(sa.select(OpportunityKpi).where(OpportunityKpi.opportunity_id == opp.id))
    assert link.baseline_value == 3.1
    kinds = outbox_kinds(session)
    assert kinds.count(("jira", services.KIND_CREATE_BACKLOG_ITEM)) == 2
    notices = session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == notifications.OPPORTUNITY_MOVED)
                              .order_by(OutboxMessage.id)).all()
    notice = Notification.of(notices[-1])
    assert (notice.facts["from"], notice.facts["to"]) == ("prioritise", "implement")
    assert set(notice.audience.journeys) == {"switching-providers", "moving-house"}
    creates = session.scalars(sa.select(OutboxMessage).where(OutboxMessage.topic == "jira")).all()
    assert {m.dedupe_key for m in creates} == {f"jira:create:{s.id}" for s in opp.solutions}


def test_implement_guards_name_what_is_missing(org, session):
    opp = org.opportunity(state="prioritise", owner=None, solutions=0, scored=False)
    with pytest.raises(GuardsUnmet) as caught:
        services.request_transition(session, org.actor("lotte"), opp.key, "implement")
    unmet = caught.value.details["unmet"]
    assert unmet[0].startswith("needs a score: missing scoring inputs")
    assert unmet[1:] == ["needs an owner", "needs 1 solution, has 0"]


def test_owner_cannot_approve_own_request(org, session):
    opp = org.opportunity()
    result = services.request_transition(session, org.actor("lea"), opp.key, "prioritise")
    with pytest.raises(PermissionDenied, match="separation of duties"):
        services.approve_request(session, org.actor("lea"), result.request.id)


def test_supporter_is_told_politely_who_can_approve(org, session):
    opp = org.opportunity()
    result = services.request_transition(session, org.actor("lotte"), opp.key, "prioritise")
    with pytest.raises(PermissionDenied) as caught:
        services.approve_request(session, org.actor("ruben"), result.request.id)
    assert caught.value.message == ("ruben (supporter) may not approve or reject transition requests: that is for "
                                    "lead, manager, owner (of the journeys concerned); this request is waiting for "
                                    "the lead (Lea)")


def test_the_local_operator_cannot_approve(org, session, operator):
    opp = org.opportunity()
    result = services.request_transition(session, operator, opp.key, "prioritise")
    with pytest.raises(PermissionDenied, match="local operator"):
        services.approve_request(session, operator, result.request.id)


def test_a_second_approval_is_told_it_already_happened(org, session):
    opp = org.opportunity()
    request = services.request_transition(session, org.actor("lotte"), opp.key, "prioritise").request
    services.approve_request(session, org.actor("lea"), request.id)
    with pytest.raises(Conflict, match=r"was already approved by Lea"):
        services.approve_request(session, org.actor("lea"), request.id)


def test_quorum_of_managers_in_the_triple_diamond(org, session):
    use_lifecycle(session, "triple_diamond")
    opp = org.opportunity(lifecycle="triple_diamond", state="solution_discovery")
    request = services.request_transition(session, org.actor("lotte"), opp.key, "deliver").request
    first = services.approve_request(session, org.actor("max"), request.id)
    assert not first.moved
    assert first.approval.waiting_for() == ["the owner of Moving House (Ana)", "1 more of 2 managers (Max, Mia, Mo)"]
    with pytest.raises(Conflict, match="already approved"):
        services.approve_request(session, org.actor("max"), request.id)
    assert not services.approve_request(session, org.actor("ana"), request.id).moved
    last = services.approve_request(session, org.actor("mo"), request.id)
    assert last.moved and opp.state == "solution_delivery"
    capacities = [v.capacity for v in request.votes]
    assert capacities == ["quorum:manager", "owner:moving-house", "quorum:manager"]


def test_reject_needs_a_reason_and_closes_the_request(org, session):
    opp = org.opportunity()
    request = services.request_transition(session, org.actor("lotte"), opp.key, "prioritise").request
    with pytest.raises(InvalidInput, match="reason is required"):
        services.reject_request(session, org.actor("lea"), request.id, "  ")
    services.reject_request(session, org.actor("lea"), request.id, "not enough evidence from moving house")
    assert request.status == "rejected" and opp.state == "research"
    with pytest.raises(Conflict, match="already rejected by Lea"):
        services.approve_request(session, org.actor("lea"), request.id)
    with pytest.raises(PermissionDenied):
        request2 = services.request_transition(session, org.actor("lotte"), opp.key, "prioritise").request
        services.reject_request(session, org.actor("lotte"), request2.id, "changed my mind")


def test_withdraw_by_the_requester_and_not_by_others(org, session):
    opp = org.opportunity()
    request = services.request_transition(session, org.actor("lotte"), opp.key, "prioritise").request
    with pytest.raises(PermissionDenied, match="only its requester"):
        services.withdraw_request(session, org.actor("ana"), request.id)
    services.withdraw_request(session, org.actor("lotte"), request.id, "more evidence coming")
    assert request.status == "withdrawn"
    with pytest.raises(Conflict, match="already withdrawn"):
        services.approve_request(session, org.actor("lea"), request.id)
    # A new request can be made once the old one is withdrawn.
    assert services.request_transition(session, org.actor("lotte"), opp.key, "prioritise").request.id != request.id


def test_only_one_pending_request_per_opportunity(org, session):
    opp = org.opportunity()
    services.request_transition(session, org.actor("lotte"), opp.key, "prioritise")
    with pytest.raises(Conflict, match="already has a pending request"):
        services.request_transition(session, org.actor("max"), opp.key, "reject", reason="duplicate")


def test_park_needs_a_reason_and_moves_at_once_superseding_pending_requests(org, session):
    opp = org.opportunity()
    request = services.request_transition(session, org.actor("lotte"), opp.key, "prioritise").request
    with pytest.raises(InvalidInput) as caught:
        services.request_transition(session, org.actor("lotte"), opp.key, "parked")
    assert caught.value.details == {"reason": "required"}
    result = services.request_transition(session, org.actor("lotte"), opp.key, "parked", reason="budget freeze")
    assert result.moved and opp.state == "parked" and opp.state_reason == "budget freeze"
    assert request.status == "superseded"
    assert services.request_transition(session, org.actor("lotte"), opp.key, "resume").moved
    assert opp.state == "research"


def test_evaluate_loops_back_to_research_when_the_outcome_missed(org, session):
    opp = org.opportunity(state="evaluate")
    link = opp.kpi_links[0]
    link.baseline_value, link.outcome_value, link.verdict = 3.1, 3.0, "no_change"
    session.commit()
    with pytest.raises(GuardsUnmet, match="needs every targeted KPI improved|only when"):
        link.verdict = "improved"
        session.commit()
        services.request_transition(session, org.actor("lotte"), opp.key, "research_again", reason="missed")
    link.verdict = "no_change"
    session.commit()
    result = services.request_transition(session, org.actor("lotte"), opp.key, "research", reason="CSAT flat")
    assert result.moved and opp.state == "research"


def test_evaluate_to_done_once_the_outcome_is_recorded(org, session):
    opp = org.opportunity(state="evaluate")
    with pytest.raises(GuardsUnmet, match="needs an outcome for every targeted KPI, 0 of 1 evaluated"):
        services.request_transition(session, org.actor("lotte"), opp.key, "done")
    opp.kpi_links[0].verdict = "improved"
    session.commit()
    assert services.request_transition(session, org.actor("lotte"), opp.key, "done").moved
    assert opp.state == "done"


def test_stale_expected_version_is_a_precondition_failure(org, session):
    opp = org.opportunity()
    seen = opp.version
    services.request_transition(session, org.actor("lotte"), opp.key, "parked", reason="later")
    with pytest.raises(PreconditionFailed):
        services.request_transition(session, org.actor("lotte"), opp.key, "resume", expected_version=seen)


def test_a_person_without_rights_cannot_request(org, session):
    opp = org.opportunity()
    with pytest.raises(PermissionDenied):
        services.request_transition(session, org.actor("ruben"), opp.key, "parked", reason="x")


def test_what_awaits_me(org, session):
    a = org.opportunity()
    b = org.opportunity(state="prioritise")
    services.request_transition(session, org.actor("lotte"), a.key, "prioritise")
    services.request_transition(session, org.actor("lotte"), b.key, "implement")
    assert [(x.request.opportunity.key, x.capacities) for x in services.pending_for(session, org.person("lea").id)] == [
        (a.key, ["role:lead"])]
    assert [(x.request.opportunity.key, x.capacities) for x in services.pending_for(session, org.person("ana").id)] == [
        (b.key, ["owner:moving-house"])]
    assert services.pending_for(session, org.person("lotte").id) == []
    assert services.pending_for(session, org.actor("ana"))[0].to_dict()["waiting_for"] == [
        "the owner of Moving House (Ana)"]


def test_available_transitions_for_the_ui(org, session):
    opp = org.opportunity(insights=1)
    items = {i["trigger"]: i for i in services.available_transitions(session, org.actor("lotte"), opp.key)}
    assert set(items) == {"prioritise", "park", "reject"}
    assert items["prioritise"]["unmet"] == ["needs 2 pieces of evidence, has 1",
                                            "needs evidence from 2 journeys, has evidence from 1"]
    assert items["prioritise"]["approval_text"] == "the lead"
    assert items["park"]["requires_reason"] and items["park"]["may_request"]
    assert not services.available_transitions(session, org.actor("ruben"), opp.key)[0]["may_request"]


def test_history_and_audit_carry_actor_reason_and_guard_results(org, session):
    opp = org.opportunity()
    request = services.request_transition(session, org.actor("lotte"), opp.key, "prioritise", reason="ready").request
    services.approve_request(session, org.actor("lea"), request.id, reason="agreed in the council review")
    services.request_transition(session, org.actor("lotte"), opp.key, "parked", reason="budget")
    history = services.opportunity_history(session, org.actor("ruben"), opp.key)
    assert [h["action"] for h in history] == ["transition.requested", "approval.approved",
                                              "opportunity.transitioned", "opportunity.transitioned"]
    assert history[0]["actor"] == "lotte" and history[0]["reason"] == "ready"
    assert [g["ok"] for g in history[0]["guards"]] == [True, True]
    assert history[1]["actor"] == "lea" and history[1]["reason"] == "agreed in the council review"
    assert (history[2]["from"], history[2]["to"]) == ("research", "prioritise")
    assert history[3]["reason"] == "budget"
    assert audit.verify(session).ok


def test_auto_transition_when_every_solution_is_delivered(org, session, operator):
    opp = org.opportunity(state="implement")
    assert services.request_auto_transitions(session, operator, opp.key) is None
    for s in opp.solutions:
        s.state = "done"
    session.commit()
    result = services.request_auto_transitions(session, operator, opp.key)
    assert result.moved and opp.state == "evaluate"
    assert opp.evaluation_due_at is not None  # the schedule_evaluation effect wrote the date on the opportunity


def test_facts_count_evidence_journeys_sources_and_unlinked_insights(org, session):
    opp = org.opportunity(insights=3)
    facts = services.facts_for(session, opp)
    assert (facts.evidence_count, facts.evidence_journey_count, facts.evidence_source_count,
            facts.unlinked_evidence_count) == (3, 2, 3, 0)
    assert facts.missing_score_inputs == () and facts.solution_count == 2 and facts.targeted_kpi_count == 1


def test_rejections_and_withdrawals_are_audited_with_the_guards_at_that_moment(org, session):
    opp = org.opportunity()
    first = services.request_transition(session, org.actor("lotte"), opp.key, "prioritise").request
    services.withdraw_request(session, org.actor("lotte"), first.id, "waiting for one more interview")
    second = services.request_transition(session, org.actor("lotte"), opp.key, "prioritise").request
    services.reject_request(session, org.actor("lea"), second.id, "not this quarter")
    events = {e.action: e for e in session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))}
    withdrawn, rejected = events["approval.withdrawn"], events["approval.rejected"]
    assert withdrawn.actor == "lotte" and withdrawn.reason == "waiting for one more interview"
    assert rejected.actor == "lea" and rejected.reason == "not this quarter"
    assert [g["guard"] for g in rejected.after["guards"]] == ["has_evidence", "evidence_across_journeys"]
    assert all(g["ok"] for g in withdrawn.after["guards"])


def test_triple_diamond_end_to_end_through_the_services(org, session, operator):
    use_lifecycle(session, "triple_diamond")
    opp = org.opportunity(lifecycle="triple_diamond", insights=3)
    assert opp.state == "problem_discovery"
    lotte = org.actor("lotte")
    request = services.request_transition(session, lotte, opp.key, "solution_discovery").request
    assert services.approve_request(session, org.actor("ana"), request.id).moved
    request = services.request_transition(session, lotte, opp.key, "deliver").request
    for handle in ("ana", "max"):
        assert not services.approve_request(session, org.actor(handle), request.id).moved
    assert services.approve_request(session, org.actor("mia"), request.id).moved
    assert opp.state == "solution_delivery" and opp.kpi_links[0].baseline_value == 3.1
    for s in opp.solutions:
        s.state = "done"
    session.commit()
    assert services.request_auto_transitions(session, operator, opp.key).moved
    assert opp.state == "measure"
    with pytest.raises(GuardsUnmet, match="needs an outcome"):
        services.request_transition(session, lotte, opp.key, "learn")
    opp.kpi_links[0].verdict = "improved"
    session.commit()
    request = services.request_transition(session, lotte, opp.key, "done").request
    assert services.approve_request(session, org.actor("lea"), request.id).moved
    assert opp.state == "done"
    trail = [(t.from_state, t.to_state) for t in services.transitions_of(session, opp)]
    assert trail == [(None, "problem_discovery"), ("problem_discovery", "solution_discovery"),
                     ("solution_discovery", "solution_delivery"), ("solution_delivery", "measure"),
                     ("measure", "done")]
    assert audit.verify(session).ok
