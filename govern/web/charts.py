"""The charts page: value/effort matrix, KPI trends against target, cumulative flow and the maturity reading."""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from flask import render_template, request

from govern.errors import GovernError
from govern.maturity import REQUIREMENTS, SIGNALS, maturity_reading
from govern.kpis import KpiScale, trend
from govern.model import Kpi, OpportunityTransition, utcnow
from govern.scoring import value_effort_matrix
from govern.vocabulary import vocabulary_of
from govern.web import bp, svg
from govern.web.readmodel import lifecycle_view
from govern.web.support import actor, db_session, login_required

log = logging.getLogger(__name__)


def _kpi_charts(session, kpis):
    """Per KPI: the trend chart, and the trend reading from the metrics module."""
    out = []
    for kpi in kpis:
        points = [(m.measured_at, m.value) for m in kpi.measurements]
        reading, bounds = None, (None, None)
        try:
            scale = KpiScale.of(kpi)
            bounds = scale.bounds
            reading = trend(scale, points)
        except Exception:  # noqa: BLE001 - a KPI with a scale the metrics module refuses still gets its chart
            log.warning("no trend for KPI %s (%s): its scale is refused", kpi.key, kpi.id, exc_info=True)
            reading = None
        chart = svg.kpi_trend(kpi.name, points, kpi.target, kpi.unit, kpi.direction, bounds, label=f"kpi-{kpi.id}")
        out.append({"kpi": kpi, "chart": chart, "trend": reading, "points": points})
    return out


def _maturity(session):
    reading = maturity_reading(session)
    next_needs = REQUIREMENTS.get(reading.stage + 1, {})
    signals = [{"key": k, "label": reading.words.fill(SIGNALS[k]) if k in SIGNALS else k, "value": v,
                "required": next_needs.get(k)}
               for k, v in reading.signals.items()]
    return {"reading": reading, "chart": svg.maturity_bars(signals, reading.stage), "signals": signals}


@bp.get("/charts")
@login_required
def charts():
    session = db_session()
    actor().require("read")
    lifecycle = lifecycle_view(session)
    journey = request.args.get("journey", "").strip() or None
    try:
        data = value_effort_matrix(session, journey=journey)
    except GovernError:  # an unknown journey in the query string: the whole portfolio
        data = value_effort_matrix(session)
    titles = {state: lifecycle.title_of(state) for state in lifecycle.states}
    matrix = {"data": data, "chart": svg.value_effort(data["points"], data["value_median"], data["effort_median"],
                                                      lifecycle.states, titles, data.get("axes"),
                                                      lifecycle.kinds)}
    rows = session.execute(sa.select(OpportunityTransition.opportunity_id, OpportunityTransition.at,
                                     OpportunityTransition.to_state)).all()
    days, counts = svg.flow_series(rows, lifecycle.states, utcnow().date())
    flow = svg.cumulative_flow(days, counts, [s for s in lifecycle.states if s in counts], titles,
                              lifecycle.kinds, opportunities=vocabulary_of(session).many("opportunity"))
    kpis = list(session.scalars(sa.select(Kpi).options(selectinload(Kpi.measurements)).order_by(Kpi.name)))
    return render_template("charts.html", matrix=matrix, flow=flow, counts=counts, lifecycle=lifecycle,
                           kpi_charts=_kpi_charts(session, kpis), maturity=_maturity(session),
                           today=dt.date.today())
