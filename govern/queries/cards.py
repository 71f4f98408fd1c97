"""The opportunities a list shows as cards (the board's), with what their badges and transitions need, in two
statements whatever their number: the opportunities with their evidence summary and pending requests, then their
journey links (named from the reference snapshot by whoever shows them).

A card is a plain frozen value, not an ORM object: the lifecycle engine computes a card's available transitions from
it (`govern.workflows.services.available_transitions_many`) without loading the opportunity again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern.model import ApprovalRequest, EvidenceSummary, Opportunity, opportunity_journey
from govern.queries.requests import PENDING


class EvidenceCounts(NamedTuple):
    """An opportunity's row of the maintained evidence summary (zeros when it has no evidence)."""

    insights: int = 0
    journeys: int = 0
    sources: int = 0
    unlinked: int = 0


@dataclass(frozen=True, slots=True)
class OpportunityCard:
    id: int
    number: int
    state: str
    lifecycle: str | None
    owner_id: int | None
    version: int
    journey_ids: tuple[int, ...]
    evidence: EvidenceCounts
    pending: int  # pending approval requests
    oldest_pending_id: int | None  # the one a transition needing approval is blocked by

    @property
    def key(self) -> str:
        return f"OPP-{self.number}"


def opportunity_cards(session: Session, numbers: Iterable[int]) -> dict[int, OpportunityCard]:
    """{number: card} of the opportunities with these numbers (unknown numbers are left out): two statements."""
    numbers = sorted(set(numbers))
    if not numbers:
        return {}
    pending = (sa.select(ApprovalRequest.opportunity_id.label("opp_id"), sa.func.count().label("n"),
                         sa.func.min(ApprovalRequest.id).label("oldest"))
               .where(ApprovalRequest.status == PENDING,
                      ApprovalRequest.opportunity_id.in_(sa.select(Opportunity.id)
                                                         .where(Opportunity.number.in_(numbers))))
               .group_by(ApprovalRequest.opportunity_id).subquery("pending"))
    summary = EvidenceSummary
    rows = session.execute(
        sa.select(Opportunity.id, Opportunity.number, Opportunity.state, Opportunity.lifecycle, Opportunity.owner_id,
                  Opportunity.version, summary.insight_count, summary.journey_count, summary.source_count,
                  summary.unlinked_count, pending.c.n, pending.c.oldest)
        .outerjoin(summary, summary.opportunity_id == Opportunity.id)
        .outerjoin(pending, pending.c.opp_id == Opportunity.id)
        .where(Opportunity.number.in_(numbers))).all()
    journeys: dict[int, list[int]] = {row.id: [] for row in rows}
    for opp_id, journey_id in session.execute(
            sa.select(opportunity_journey.c.opportunity_id, opportunity_journey.c.journey_id)
            .where(opportunity_journey.c.opportunity_id.in_(list(journeys)))
            .order_by(opportunity_journey.c.journey_id)):
        journeys[opp_id].append(journey_id)
    return {row.number: OpportunityCard(
        row.id, row.number, row.state, row.lifecycle, row.owner_id, row.version, tuple(journeys[row.id]),
        EvidenceCounts(row.insight_count or 0, row.journey_count or 0, row.source_count or 0, row.unlinked_count or 0),
        row.n or 0, row.oldest) for row in rows}


def journey_ids_of(opportunity: Opportunity | OpportunityCard) -> tuple[int, ...]:
    """The journeys an opportunity touches, from a card or from the ORM object (its journeys loaded)."""
    if isinstance(opportunity, OpportunityCard):
        return opportunity.journey_ids
    return tuple(j.id for j in opportunity.journeys)
