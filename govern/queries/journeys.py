"""What the journey page shows, read in a bounded number of statements whatever the number of opportunities.

The page lists the opportunities linked to the journey, newest-numbered first among the first `OPPORTUNITY_CAP`
(the whole list is one click away in the opportunities table, filtered by the journey), with their total; stages,
steps, KPIs with their measurements, the evidence per step are each loaded in one statement; the parent chain, the
owner and the sub-journeys come from the reference snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from govern.model import Insight, Journey, Kpi, Opportunity, Stage, Step, insight_step, opportunity_journey
from govern.queries.reference import JourneyRef, PersonRef, reference

OPPORTUNITY_CAP = 50


@dataclass(frozen=True)
class JourneyPage:
    stages: list[tuple[Stage | None, list[Step]]]
    details: dict[int, JourneyRef]  # step id: the micro journey detailing it
    kpis: list[Kpi]
    opportunities: list[Opportunity]
    opportunity_total: int
    ancestors: list[JourneyRef]  # root first; the last is the parent
    evidence: dict[int, list[Insight]]
    owner: PersonRef | None  # the journey's owner, named from the snapshot
    children: list[JourneyRef]  # the journeys directly below it, by position


def _ancestors(session: Session, journey: Journey) -> list[JourneyRef]:
    """The parent chain, root first, from the transaction's journey snapshot (no statement of its own)."""
    ref = reference(session)
    chain: list[JourneyRef] = []
    cursor = ref.journey(journey.parent_id)
    while cursor is not None and cursor not in chain:
        chain.insert(0, cursor)
        cursor = ref.journey(cursor.parent_id)
    return chain


def journey_page(session: Session, journey: Journey, *, cap: int = OPPORTUNITY_CAP) -> JourneyPage:
    """The journey page's reads (see the module docstring): bounded, independent of the number of opportunities."""
    steps = list(session.scalars(sa.select(Step).where(Step.journey_id == journey.id).order_by(Step.position)))
    by_stage: dict[int | None, list[Step]] = {}
    for step in steps:
        by_stage.setdefault(step.stage_id, []).append(step)
    stages: list[tuple[Stage | None, list[Step]]] = [
        (stage, by_stage.get(stage.id, []))
        for stage in session.scalars(sa.select(Stage).where(Stage.journey_id == journey.id).order_by(Stage.position))]
    if by_stage.get(None):
        stages.append((None, by_stage[None]))
    ref = reference(session)
    children = sorted((ref.journey(i) for i in ref.children().get(journey.id, [])), key=lambda j: (j.position, j.id))
    details = {c.parent_step_id: c for c in children if c.parent_step_id}
    kpis = list(session.scalars(
        sa.select(Kpi).where(sa.or_(Kpi.journey_id == journey.id,
                                    Kpi.step_id.in_(sa.select(Step.id).where(Step.journey_id == journey.id))))
        .order_by(Kpi.name).options(selectinload(Kpi.measurements))))
    # The first `cap` opportunities with the total of them all (a window count, in the same statement).
    linked = sa.select(opportunity_journey.c.opportunity_id).where(opportunity_journey.c.journey_id == journey.id)
    rows = session.execute(sa.select(Opportunity, sa.func.count().over().label("total"))
                           .where(Opportunity.id.in_(linked)).order_by(Opportunity.number).limit(cap)).all()
    opportunities = [row[0] for row in rows]
    total = rows[0].total if rows else 0
    evidence: dict[int, list[Insight]] = {}
    step_ids = [s.id for s in steps]
    if step_ids:
        for step_id, insight in session.execute(
                sa.select(insight_step.c.step_id, Insight).join(Insight, Insight.id == insight_step.c.insight_id)
                .where(insight_step.c.step_id.in_(step_ids)).order_by(Insight.number)):
            evidence.setdefault(step_id, []).append(insight)
    return JourneyPage(stages=stages, details=details, kpis=kpis, opportunities=opportunities,
                       opportunity_total=total, ancestors=_ancestors(session, journey), evidence=evidence,
                       owner=ref.person(journey.owner_id), children=children)
