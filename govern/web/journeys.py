"""The journey framework: the hierarchy as a tree, and each journey's stages and steps left to right."""

from __future__ import annotations

import sqlalchemy as sa
from flask import render_template

from govern.model import Insight, Kpi, Opportunity, Step, insight_step
from govern.services.common import get_journey
from govern.web import bp
from govern.web.readmodel import STALE_AFTER_DAYS, journey_tree, lifecycle_view
from govern.web.support import actor, db_session, get_or_404, login_required


@bp.get("/journeys")
@login_required
def journeys():
    session = db_session()
    lifecycle = lifecycle_view(session)
    roots, nodes = journey_tree(session, lifecycle)
    gaps = [n for n in nodes if n.gap]
    stale = [n for n in nodes if n.stale_days is not None or n.last_activity is None]
    return render_template("journeys.html", roots=roots, gaps=gaps, stale=stale, stale_after=STALE_AFTER_DAYS)


@bp.get("/journeys/<key>")
@login_required
def journey(key: str):
    session = db_session()
    j = get_or_404(get_journey, session, key)
    lifecycle = lifecycle_view(session)
    stages = [(stage, list(stage.steps)) for stage in j.stages]
    loose = [s for s in j.steps if s.stage_id is None]
    if loose:
        stages.append((None, loose))
    details = {c.parent_step_id: c for c in j.children if c.parent_step_id}
    kpis = list(session.scalars(sa.select(Kpi).where(sa.or_(
        Kpi.journey_id == j.id, Kpi.step_id.in_(sa.select(Step.id).where(Step.journey_id == j.id))))
        .order_by(Kpi.name)))
    opps = [o for o in session.scalars(sa.select(Opportunity).order_by(Opportunity.number)) if j in o.journeys]
    ancestors = []
    cursor = j.parent
    while cursor is not None:
        ancestors.insert(0, cursor)
        cursor = cursor.parent
    evidence: dict[int, list[Insight]] = {}
    for step_id, insight in session.execute(
            sa.select(insight_step.c.step_id, Insight).join(Insight, Insight.id == insight_step.c.insight_id)
            .where(insight_step.c.step_id.in_([s.id for s in j.steps])).order_by(Insight.number)):
        evidence.setdefault(step_id, []).append(insight)
    me = actor()
    return render_template("journey.html", journey=j, evidence=evidence, stages=stages, details=details, kpis=kpis,
                           opps=opps,
                           lifecycle=lifecycle, ancestors=ancestors,
                           can_record=me.can("evidence.record"),
                           can_measure={k.key: me.can("kpi.measure", [j.id]) for k in kpis})
