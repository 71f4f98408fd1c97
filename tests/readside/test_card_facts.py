"""A board card's guard facts are the decision's: the facts computed in bulk for the cards a page shows
(`facts_for_many`, from `govern.queries.cards`) equal the facts the lifecycle engine decides on (`facts_for`), so a card
never offers a move the decision then refuses."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from govern.model import Opportunity
from govern.queries.cards import opportunity_cards
from govern.services.common import load_actor
from govern.services.evidence import record_evidence
from govern.services.opportunities import create_opportunity
from govern.workflows.guards import FACT_GROUPS
from govern.workflows.services import available_transitions, available_transitions_many, facts_for, facts_for_many


def test_card_facts_equal_the_decisions_facts_also_for_evidence_from_a_journey_and_one_inside_it(example_db):
    with example_db.session_scope() as s:
        lotte = load_actor(s, "lotte")
        # Switching providers lies inside Being a customer: evidence from both is evidence from one journey.
        nested = record_evidence(s, lotte, text="Porting broke my first bill", source="tickets", kind="ticket",
                                 steps=["switching-providers/port-number", "being-a-customer/join"])
        create_opportunity(s, lotte, title="How might we port numbers without billing surprises?",
                           journeys=["switching-providers"], insights=[nested.key], owner="lotte")
    with example_db.session_scope() as s:
        opportunities = list(s.scalars(sa.select(Opportunity).options(selectinload(Opportunity.journeys))
                                       .order_by(Opportunity.number)))
        cards = opportunity_cards(s, [o.number for o in opportunities])
        from_cards = facts_for_many(s, list(cards.values()), FACT_GROUPS)
        from_objects = facts_for_many(s, opportunities, FACT_GROUPS)
        for opp in opportunities:
            decided = facts_for(s, opp)
            assert from_cards[opp.id] == decided, opp.key
            assert from_objects[opp.id] == decided, opp.key
        newest = opportunities[-1]
        assert from_cards[newest.id].evidence_journey_count == 1

        lead = load_actor(s, "ana")
        moves = available_transitions_many(s, lead, cards.values())
        for opp in opportunities:
            assert moves[opp.id] == available_transitions(s, lead, opp), opp.key
