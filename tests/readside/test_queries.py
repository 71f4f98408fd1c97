"""The core read layer (govern.queries) on the hospital organisation, whose state names are not the default's."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
import sqlalchemy as sa

from govern.errors import NotFound
from govern.model import Opportunity, utcnow
from govern.queries.evaluations import due_evaluations
from govern.queries.portfolio import PortfolioFilter, portfolio_query
from govern.queries.requests import pending_request, pending_requests, pending_requests_of
from govern.queries.rights import decision_rights
from govern.services.common import get_opportunity, load_actor
from govern.workflows.services import approval_status, available_transitions, available_transitions_many


@contextlib.contextmanager
def counting(engine):
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def keys_of(session, flt: PortfolioFilter) -> set[str]:
    return {o.key for o in session.scalars(portfolio_query(session, flt))}


def test_journey_filter_means_the_journey_and_its_subtree(hospital_db, hospital_keys):
    with hospital_db.session_scope() as s:
        going_home = keys_of(s, PortfolioFilter(open_only=False, journey="going-home"))
        letter = keys_of(s, PortfolioFilter(open_only=False, journey="getting-my-discharge-letter"))
    assert hospital_keys["on_hold"] in letter and hospital_keys["on_hold"] in going_home  # the letter is below
    assert hospital_keys["in_pilot"] in going_home and hospital_keys["in_pilot"] not in letter


def test_open_only_is_decided_by_state_kinds_not_names(hospital_db, hospital_keys):
    with hospital_db.session_scope() as s:
        everything = keys_of(s, PortfolioFilter(open_only=False))
        open_ones = keys_of(s, PortfolioFilter(open_only=True))
    assert everything == set(hospital_keys.values())
    assert open_ones == {hospital_keys[r] for r in ("in_intake", "awaiting_design_approval", "in_pilot",
                                                    "in_outcome_review")}


@pytest.mark.parametrize("field", ["journey", "owner", "persona"])
def test_unknown_names_in_the_portfolio_filter_are_not_found(hospital_db, field):
    with hospital_db.session_scope() as s, pytest.raises(NotFound, match="nobody-here"):
        portfolio_query(s, PortfolioFilter(open_only=False, **{field: "nobody-here"}))


def test_pending_requests_of_one_or_many_opportunities(hospital_db, hospital_keys):
    with hospital_db.session_scope() as s:
        waiting = get_opportunity(s, hospital_keys["awaiting_design_approval"])
        other = get_opportunity(s, hospital_keys["in_pilot"])
        assert pending_request(s, waiting.id).trigger == "approve_design"
        assert pending_request(s, other.id) is None
        many = pending_requests_of(s, [waiting.id, other.id])
        assert [r.trigger for r in many[waiting.id]] == ["approve_design"] and many[other.id] == []
        assert [r.opportunity_id for r in pending_requests(s)] == [waiting.id]
        going_home = sa.select(sa.literal(-1))
        assert pending_requests(s, journey_ids=going_home) == []


def test_decision_rights_follow_the_rule_and_the_permission_table(hospital_db, hospital_keys):
    with hospital_db.session_scope() as s:
        request = pending_request(s, get_opportunity(s, hospital_keys["awaiting_design_approval"]).id)
        status = approval_status(s, request)
        lead = decision_rights(load_actor(s, "hana"), request, status)
        requester = decision_rights(load_actor(s, "omar"), request, status)
        supporter = decision_rights(load_actor(s, "lin"), request, status)
    assert lead.approve and lead.reject and lead.withdraw
    assert not requester.approve and requester.withdraw and "separation of duties" in requester.why_not
    assert not supporter.approve and not supporter.withdraw and "may not approve" in supporter.why_not


def test_an_evaluation_is_due_once_its_date_has_passed(hospital_db, hospital_keys):
    with hospital_db.session_scope() as s:
        reviewed = get_opportunity(s, hospital_keys["in_outcome_review"])
        due_at = reviewed.evaluation_due_at
        assert due_at is not None and due_at > utcnow() + dt.timedelta(days=29)
        assert [d.opportunity.key for d in due_evaluations(s, now=utcnow())] == []
        later = due_evaluations(s, now=due_at + dt.timedelta(minutes=1))
        assert [(d.opportunity.key, d.due_at) for d in later] == [(reviewed.key, due_at)]
        # The closed one had its evaluation recorded and left the state: never due.
        assert hospital_keys["closed"] not in {d.opportunity.key for d in later}


def test_available_transitions_of_many_opportunities_take_a_bounded_number_of_statements(hospital_db):
    from sqlalchemy.orm import selectinload

    with hospital_db.session_scope() as s:
        actor = load_actor(s, "omar")
        opps = list(s.scalars(sa.select(Opportunity).options(selectinload(Opportunity.journeys))
                              .order_by(Opportunity.number)))
        available_transitions_many(s, actor, opps)  # warm the lifecycle cache
        with counting(hospital_db.engine) as statements:
            many = available_transitions_many(s, actor, opps)
        assert len(statements) <= 8  # one per group of facts, the pending requests, the settings: not one per card
        for opp in opps:
            assert many[opp.id] == available_transitions(s, actor, opp)
