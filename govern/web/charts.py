"""The charts page: value/effort matrix, KPI trends against target, cumulative flow and the maturity reading."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from flask import render_template, request

from govern.errors import GovernError
from govern.model import Kpi, OpportunityTransition, utcnow
from govern.web import bp, svg
from govern.web.readmodel import lifecycle_view
from govern.web.support import actor, db_session, login_required, optional


def _kpi_charts(session, kpis):
    """Per KPI: the trend chart, and the trend reading from the metrics module when it is there."""
    KpiScale = optional("govern.metrics", "KpiScale")
    trend = optional("govern.metrics", "trend")
    out = []
    for kpi in kpis:
        points = [(m.measured_at, m.value) for m in kpi.measurements]
        reading, bounds = None, (None, None)
        if KpiScale is not None:
            try:
                scale = KpiScale.of(kpi)
                bounds = scale.bounds
                reading = trend(scale, points) if trend is not None else None
            except Exception:  # noqa: BLE001 - a KPI with a scale the metrics module refuses still gets its chart
                reading = None
        chart = svg.kpi_trend(kpi.name, points, kpi.target, kpi.unit, kpi.direction, bounds, label=f"kpi-{kpi.id}")
        out.append({"kpi": kpi, "chart": chart, "trend": reading, "points": points})
    return out


def _maturity(session):
    reading_fn = optional("govern.maturity", "maturity_reading")
    requirements = optional("govern.maturity", "REQUIREMENTS") or {}
    labels = optional("govern.maturity", "SIGNALS") or {}
    if reading_fn is None:
        return None
    try:
        reading = reading_fn(session)
    except GovernError:
        return None
    next_needs = requirements.get(reading.stage + 1, {})
    signals = [{"key": k, "label": labels.get(k, k), "value": v, "required": next_needs.get(k)}
               for k, v in reading.signals.items()]
    return {"reading": reading, "chart": svg.maturity_bars(signals, reading.stage), "signals": signals}


@bp.get("/charts")
@login_required
def charts():
    session = db_session()
    actor().require("read")
    lifecycle = lifecycle_view(session)
    matrix_fn = optional("govern.scoring", "value_effort_matrix")
    journey = request.args.get("journey", "").strip() or None
    matrix = None
    if matrix_fn is not None:
        try:
            data = matrix_fn(session, journey=journey)
        except GovernError:
            data = matrix_fn(session)
        matrix = {"data": data, "chart": svg.value_effort(data["points"], data["value_median"],
                                                          data["effort_median"], lifecycle.states)}
    rows = session.execute(sa.select(OpportunityTransition.opportunity_id, OpportunityTransition.at,
                                     OpportunityTransition.to_state)).all()
    days, counts = svg.flow_series(rows, lifecycle.states, utcnow().date())
    flow = svg.cumulative_flow(days, counts, [s for s in lifecycle.states if s in counts])
    kpis = list(session.scalars(sa.select(Kpi).order_by(Kpi.name)))
    return render_template("charts.html", matrix=matrix, flow=flow, counts=counts, lifecycle=lifecycle,
                           kpi_charts=_kpi_charts(session, kpis), maturity=_maturity(session),
                           today=dt.date.today())
