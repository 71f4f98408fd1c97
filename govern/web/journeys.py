"""The journey framework: the hierarchy as a tree, and each journey's stages and steps left to right."""

from __future__ import annotations

from flask import render_template

from govern.queries.journeys import journey_page
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
    page = journey_page(session, j)
    me = actor()
    return render_template("journey.html", journey=j, evidence=page.evidence, stages=page.stages,
                           details=page.details, kpis=page.kpis, opps=page.opportunities,
                           opps_total=page.opportunity_total, lifecycle=lifecycle, ancestors=page.ancestors,
                           owner=page.owner, children=page.children,
                           can_record=me.can("evidence.record"),
                           can_measure={k.key: me.can("kpi.measure", [j.id]) for k in page.kpis})
