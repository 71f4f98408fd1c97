"""The header's badge (services.awaiting_count) counts exactly the requests pending_for lists: the same rule decides
who may approve (the approvers stored on each request, the approvals so far, never the requester)."""

from __future__ import annotations

import sqlalchemy as sa

from govern.model import ApprovalRequest
from govern.workflows import services
from tests.workflows.conftest import use_lifecycle


def _counts_agree(org, session) -> dict[str, int]:
    counts = {}
    for handle, person in org.people.items():
        counts[handle] = services.awaiting_count(session, person.id)
        assert counts[handle] == len(services.pending_for(session, person.id)), handle
        assert services.awaiting_count(session, org.actor(handle)) == counts[handle], handle
    return counts


def test_the_awaiting_count_is_what_pending_for_lists_for_everyone(org, session):
    use_lifecycle(session, "triple_diamond")
    first = org.opportunity(lifecycle="triple_diamond", state="solution_discovery")
    second = org.opportunity(lifecycle="triple_diamond", state="solution_discovery")
    for opp in (first, second):
        services.request_transition(session, org.actor("lotte"), opp.key, "deliver")
    before = _counts_agree(org, session)
    assert before["max"] == 2 and before["ana"] == 2 and before["lotte"] == 0  # never the requester

    request = session.scalars(sa.select(ApprovalRequest).where(ApprovalRequest.opportunity_id == first.id)).one()
    services.approve_request(session, org.actor("max"), request.id)  # 1 of 2 managers: max is done, mia and mo not
    after = _counts_agree(org, session)
    assert after["max"] == 1 and after["mia"] == 2

    services.approve_request(session, org.actor("mia"), request.id)  # the quorum is met: no manager is needed there
    assert _counts_agree(org, session)["mo"] == 1 and services.awaiting_count(session, None) == 0


def test_a_request_made_before_approvers_were_stored_is_counted_against_the_current_ones(org, session):
    opp = org.opportunity()
    request = services.request_transition(session, org.actor("lotte"), opp.key, "prioritise").request
    session.execute(sa.update(ApprovalRequest).where(ApprovalRequest.id == request.id).values(approvers=None))
    session.commit()
    session.expire_all()
    assert _counts_agree(org, session)["lea"] == 1
