"""The journey framework: the hierarchy as a tree, and each journey's stages and steps left to right."""

from __future__ import annotations

from flask import render_template, request

from govern.kpis.scales import KpiScale
from govern.kpis.verdicts import trend
from govern.queries.glossary import glossary_labels
from govern.model import utcnow
from govern.queries.freshness import freshness_of
from govern.queries.journeys import LANE_TITLES, LANES, journey_map
from govern.scoring.portfolio import places_in_ranking
from govern.services.common import get_journey
from govern.web import bp
from govern.web.readmodel import STALE_AFTER_DAYS, journey_tree, lifecycle_view
from govern.web.svg import PALETTE, PERSONA_DASHES, emotion_curve, emotion_word
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


def _requested_lanes() -> list[str] | None:
    """The reader's lane switches: `?lanes=set&lane=touchpoint&lane=emotion` (the page's form) or
    `?lanes=touchpoint,emotion`; None without `lanes` (the organisation's lanes)."""
    if "lanes" not in request.args:
        return None
    listed = [part.strip() for value in request.args.getlist("lanes") for part in value.split(",")]
    return [lane for lane in [*listed, *request.args.getlist("lane")] if lane and lane != "set"]


TREND_WORDS = {"improving": "improving", "worsening": "getting worse", "flat": "no change",
               "unknown": "one measurement, no trend yet"}


def _kpi_view(kpi) -> dict:
    """What the map's KPI lane shows for one KPI: latest value, the trend in words with an arrow, the target."""
    t = trend(KpiScale.of(kpi), [(m.measured_at, m.value) for m in kpi.measurements])
    arrow = "" if t.change is None else ("↑" if t.change > 0 else "↓" if t.change < 0 else "→")
    return {"key": kpi.key, "name": kpi.name, "latest": t.latest, "latest_at": t.latest_at, "unit": kpi.unit,
            "arrow": arrow, "trend": TREND_WORDS.get(t.direction, t.direction) if t.points else "not measured",
            "target": kpi.target, "target_met": t.target_met}


@bp.get("/journeys/<key>")
@login_required
def journey(key: str):
    session = db_session()
    j = get_or_404(get_journey, session, key)
    lifecycle = lifecycle_view(session)
    jmap = journey_map(session, j, _requested_lanes())
    page = jmap.page
    me = actor()
    places = places_in_ranking(session, {o.id for opps in jmap.opportunities.values() for o in opps})
    scores = {oid: place.score for oid, place in places.items()}
    kpis = {sid: [_kpi_view(k) for k in ks] for sid, ks in jmap.kpis.items()}
    index = {s.id: i for i, s in enumerate(jmap.steps)}
    curve = None
    if "emotion" in jmap.lanes and jmap.steps:
        curve = emotion_curve([(s.name, s.emotion_score) for s in jmap.steps],
                              [(p.name, {index[sid]: v for sid, v in p.scores.items() if sid in index})
                               for p in jmap.personas])
    freshness = freshness_of(session, page.kpis, utcnow())  # stale KPIs (govern.queries.freshness)
    columns = sum(max(1, len(steps)) for _stage, steps in page.stages)
    labels = glossary_labels(session)  # the glossary's terms where they name a label
    lane_titles = dict(LANE_TITLES, touchpoint=f"{labels['touchpoint'].title} and {labels['channel'].inline}")
    return render_template("journey.html", journey=j, jmap=jmap, columns=columns, stages=page.stages, details=page.details,
                           kpis=page.kpis, opps=page.opportunities, opps_total=page.opportunity_total,
                           lifecycle=lifecycle, ancestors=page.ancestors, owner=page.owner, children=page.children,
                           lanes=jmap.lanes, all_lanes=[*jmap.configured, *(x for x in LANES
                                                                          if x not in jmap.configured)],
                           lane_titles=lane_titles, labels=labels, scores=scores, step_kpis=kpis, curve=curve,
                           emotion_word=emotion_word, dashes=PERSONA_DASHES, palette=PALETTE, freshness=freshness,
                           can_record=me.can("evidence.record"),
                           can_measure={k.key: me.can("kpi.measure", [j.id]) for k in page.kpis})
