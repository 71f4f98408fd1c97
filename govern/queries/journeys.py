"""What the journey page shows, read in a bounded number of statements whatever the number of opportunities.

The page lists the opportunities linked to the journey, newest-numbered first among the first `OPPORTUNITY_CAP`
(the whole list is one click away in the opportunities table, filtered by the journey), with their total; stages,
steps, KPIs with their measurements, the evidence per step are each loaded in one statement; the parent chain, the
owner and the sub-journeys come from the reference snapshot.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from govern.errors import InvalidInput
from govern.model import (
    Insight, Journey, Kpi, Opportunity, Persona, Stage, Step, insight_persona, journey_persona, insight_step, opportunity_insight,
    opportunity_journey, setting_row, utcnow,
)
from govern.orgfile.schema import MAP_LANES
from govern.queries.reference import JourneyRef, PersonaRef, PersonRef, reference

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
    parent_step: Step | None = None  # the parent's step this journey details (read with the steps)


def _ancestors(session: Session, journey: Journey) -> list[JourneyRef]:
    """The parent chain, root first, from the transaction's journey snapshot (no statement of its own)."""
    ref = reference(session)
    chain: list[JourneyRef] = []
    cursor = ref.journey(journey.parent_id)
    while cursor is not None and cursor not in chain:
        chain.insert(0, cursor)
        cursor = ref.journey(cursor.parent_id)
    return chain


def journey_page(session: Session, journey: Journey, *, cap: int = OPPORTUNITY_CAP, evidence: bool = True
                 ) -> JourneyPage:
    """The journey page's reads (see the module docstring): bounded, independent of the number of opportunities.
    `evidence=False` leaves the insights per step out (the map reads their aggregates instead)."""
    read = list(session.scalars(sa.select(Step).where(sa.or_(Step.journey_id == journey.id,
                                                             Step.id == journey.parent_step_id))
                                .order_by(Step.position)))
    steps = [s for s in read if s.journey_id == journey.id]
    parent_step = next((s for s in read if s.id == journey.parent_step_id and s.journey_id != journey.id), None)
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
    # The KPIs with their measurements in one statement (a joined load: one row per measurement).
    kpis = list(session.scalars(
        sa.select(Kpi).where(sa.or_(Kpi.journey_id == journey.id,
                                    Kpi.step_id.in_(sa.select(Step.id).where(Step.journey_id == journey.id))))
        .order_by(Kpi.name).options(joinedload(Kpi.measurements))).unique())
    # The first `cap` opportunities with the total of them all (a window count, in the same statement).
    linked = sa.select(opportunity_journey.c.opportunity_id).where(opportunity_journey.c.journey_id == journey.id)
    rows = session.execute(sa.select(Opportunity, sa.func.count().over().label("total"))
                           .where(Opportunity.id.in_(linked)).order_by(Opportunity.number).limit(cap)).all()
    opportunities = [row[0] for row in rows]
    total = rows[0].total if rows else 0
    by_step: dict[int, list[Insight]] = {}
    step_ids = [s.id for s in steps]
    if step_ids and evidence:
        for step_id, insight in session.execute(
                sa.select(insight_step.c.step_id, Insight).join(Insight, Insight.id == insight_step.c.insight_id)
                .where(insight_step.c.step_id.in_(step_ids)).order_by(Insight.number)):
            by_step.setdefault(step_id, []).append(insight)
    return JourneyPage(stages=stages, details=details, kpis=kpis, opportunities=opportunities,
                       opportunity_total=total, ancestors=_ancestors(session, journey), evidence=by_step,
                       owner=ref.person(journey.owner_id), children=children, parent_step=parent_step)


# --- the journey map (issue 25, part 1) ------------------------------------------------------------------------------

# The lanes the map can draw under each step, in their default order (govern.yaml `map: {lanes: [...]}` orders and
# hides them; a reader may toggle them with `?lanes=set&lane=…`).
LANES = MAP_LANES
LANE_TITLES = {"touchpoint": "Touchpoint and channel", "emotion": "Emotion", "evidence": "Evidence",
               "opportunities": "Opportunities", "kpis": "KPIs"}
STEP_OPPORTUNITY_CAP = 5  # opportunities shown on one step; the rest are counted
STALE_STEP_DAYS = 90
MAP_SETTING = "map"  # a step whose newest evidence is older than this is flagged stale


@dataclass(frozen=True)
class StepEvidence:
    count: int
    volume: int
    sentiment: float | None  # the mean of its insights' sentiment (-2..+2), None when none has one
    newest: dt.date | None


@dataclass(frozen=True)
class MapOpportunity:
    id: int
    key: str
    title: str
    state: str


@dataclass(frozen=True)
class PersonaLine:
    key: str
    name: str
    scores: dict[int, float]  # step id: the mean sentiment of this persona's evidence on the step
    derived: bool  # True: from evidence sentiment (the model keeps no per-persona emotion score)


@dataclass(frozen=True)
class JourneyMap:
    page: JourneyPage
    lanes: list[str]  # the lanes shown, in order
    configured: list[str]  # the organisation's lanes, in its order (the reader's default)
    steps: list[Step]  # every step in map order (stage by stage)
    evidence: dict[int, StepEvidence]
    personas: list[PersonaLine]
    opportunities: dict[int, list[MapOpportunity]]  # step id: the first STEP_OPPORTUNITY_CAP by number
    opportunity_counts: dict[int, int]  # step id: how many opportunities its evidence supports
    kpis: dict[int, list[Kpi]]  # step id: the KPIs measuring it (with their measurements loaded)
    stale: dict[int, int]  # step id: days since its newest evidence (only steps past STALE_STEP_DAYS)
    seen_through: list[PersonaRef]  # the personas the journey is seen through, by name
    unowned_details: dict[int, JourneyRef]  # step id: the sub-journey detailing it, which has no owner


def configured_lanes(session: Session) -> list[str]:
    """The organisation's lanes in its order (govern.yaml `map.lanes`; default: every lane, LANES order)."""
    row = setting_row(session, MAP_SETTING)
    value = (row.value if row is not None else None) or {}
    lanes = value.get("lanes") if isinstance(value, dict) else None
    return [lane for lane in lanes if lane in LANES] if lanes is not None else list(LANES)


def resolve_lanes(configured: list[str], requested: list[str] | None) -> list[str]:
    """The lanes to draw: the reader's choice (None: the organisation's), in the organisation's order, then any
    lane it hides that the reader asked for in LANES order. An unknown lane is refused, naming it."""
    if requested is None:
        return list(configured)
    unknown = [lane for lane in requested if lane not in LANES]
    if unknown:
        raise InvalidInput(f"unknown lane '{unknown[0]}' (lanes: {', '.join(LANES)})", {"lane": unknown[0]})
    order = [*configured, *(lane for lane in LANES if lane not in configured)]
    return [lane for lane in order if lane in set(requested)]


def journey_map(session: Session, journey: Journey, lanes: list[str] | None = None, *,
                today: dt.date | None = None) -> JourneyMap:
    """The journey map: the journey page's frame plus, per step, evidence aggregates (count, volume, mean sentiment,
    newest), persona sentiment, the opportunities its evidence supports (capped, with their count) and the KPIs
    measuring it (scores and trends are the scoring and KPI packages' to compute: `places_in_ranking`, `trend`). A fixed number of statements whatever the number of insights or opportunities: each lane's
    aggregate is one statement over the journey's steps (the lanes not shown are not read)."""
    configured = configured_lanes(session)
    shown = resolve_lanes(configured, lanes)
    page = journey_page(session, journey, evidence=False)
    steps = [s for _stage, stage_steps in page.stages for s in stage_steps]
    step_ids = [s.id for s in steps]
    today = today or utcnow().date()
    live = sa.and_(Insight.id == insight_step.c.insight_id, Insight.merged_into_id.is_(None))
    evidence: dict[int, StepEvidence] = {}
    by_persona: dict[int, dict[int, float]] = {}
    if step_ids:
        # One statement: per step the evidence aggregates (always read: the stale flag needs the newest evidence
        # even when the evidence lane is hidden), and under it per (step, persona) the mean sentiment.
        per_step = (sa.select(insight_step.c.step_id, sa.null().label("persona_id"), sa.func.count(Insight.id),
                              sa.func.sum(Insight.volume), sa.func.avg(Insight.sentiment),
                              sa.func.max(Insight.observed_on))
                    .join(Insight, live).where(insight_step.c.step_id.in_(step_ids))
                    .group_by(insight_step.c.step_id))
        per_persona = (sa.select(insight_step.c.step_id, insight_persona.c.persona_id, sa.null(), sa.null(),
                                 sa.func.avg(Insight.sentiment), sa.null())
                       .join(Insight, live).join(insight_persona, insight_persona.c.insight_id == Insight.id)
                       .where(insight_step.c.step_id.in_(step_ids), Insight.sentiment.is_not(None))
                       .group_by(insight_step.c.step_id, insight_persona.c.persona_id))
        query = sa.union_all(per_step, per_persona) if "emotion" in shown else per_step
        for step_id, persona_id, count, volume, mean, newest in session.execute(query):
            if persona_id is not None:
                by_persona.setdefault(persona_id, {})[step_id] = round(float(mean), 2)
                continue
            if isinstance(newest, str):  # SQLite returns max() of a date as text
                newest = dt.date.fromisoformat(newest)
            evidence[step_id] = StepEvidence(count, int(volume or 0), None if mean is None else round(float(mean), 2),
                                             newest)
    # Every persona in one statement: the names of the persona lines and the personas the journey is seen through.
    in_journey = sa.exists().where(journey_persona.c.persona_id == Persona.id,
                                   journey_persona.c.journey_id == journey.id)
    personas: list[PersonaLine] = []
    seen_through: list[PersonaRef] = []
    for pid, key, name, linked in session.execute(sa.select(Persona.id, Persona.key, Persona.name, in_journey)
                                                  .order_by(Persona.name, Persona.id)):
        if linked:
            seen_through.append(PersonaRef(pid, key, name))
        if pid in by_persona:
            personas.append(PersonaLine(key, name, by_persona[pid], derived=True))
    opportunities: dict[int, list[MapOpportunity]] = {}
    counts: dict[int, int] = {}
    if step_ids and "opportunities" in shown:
        pairs = (sa.select(insight_step.c.step_id.label("step_id"), Opportunity.id.label("id"))
                 .join(Insight, live).join(opportunity_insight, opportunity_insight.c.insight_id == Insight.id)
                 .join(Opportunity, Opportunity.id == opportunity_insight.c.opportunity_id)
                 .where(insight_step.c.step_id.in_(step_ids)).distinct().subquery("pairs"))
        numbered = (sa.select(pairs.c.step_id, Opportunity.id, Opportunity.number, Opportunity.title,
                              Opportunity.state,
                              sa.func.row_number().over(partition_by=pairs.c.step_id,
                                                        order_by=Opportunity.number).label("position"),
                              sa.func.count().over(partition_by=pairs.c.step_id).label("total"))
                    .join(Opportunity, Opportunity.id == pairs.c.id).subquery("numbered"))
        for r in session.execute(sa.select(numbered).where(numbered.c.position <= STEP_OPPORTUNITY_CAP)
                                 .order_by(numbered.c.step_id, numbered.c.position)):
            counts[r.step_id] = r.total
            opportunities.setdefault(r.step_id, []).append(MapOpportunity(r.id, f"OPP-{r.number}", r.title, r.state))
    kpis: dict[int, list[Kpi]] = {}
    if "kpis" in shown:
        for kpi in page.kpis:
            if kpi.step_id is not None:
                kpis.setdefault(kpi.step_id, []).append(kpi)
    stale = {sid: (today - e.newest).days for sid, e in evidence.items()
             if e.newest is not None and (today - e.newest).days > STALE_STEP_DAYS}
    unowned = {sid: child for sid, child in page.details.items() if child.owner_id is None}
    return JourneyMap(page=page, lanes=shown, configured=configured, steps=steps, evidence=evidence,
                      personas=personas, opportunities=opportunities, opportunity_counts=counts, kpis=kpis,
                      stale=stale, unowned_details=unowned, seen_through=seen_through)
