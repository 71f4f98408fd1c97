"""Loading an example organisation's runtime data (evidence, opportunities, KPI history) through the services."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern import audit
from govern.kpis.scales import KpiScale
from govern.kpis.verdicts import evaluate
from govern.model import KpiMeasurement, Opportunity, OpportunityTransition, ScoreInput
from govern.policy import Actor
from govern.services.common import get_kpi, get_person, load_actor
from govern.services.evidence import record_evidence
from govern.services.opportunities import add_solution, create_opportunity, set_solution_state

# The default lifecycle's main line; example opportunities are replayed along it to their current state.
MAIN_LINE = ["research", "prioritise", "implement", "evaluate", "done"]


def load_runtime(session: Session, operator: Actor, data: dict, *, today: dt.date | None = None) -> dict[str, int]:
    """Record the example's evidence, opportunities, solutions, scores and measurements; one commit at the end."""
    operator.require("config.apply")
    today = today or dt.date.today()
    insights = []
    for item in data.get("insights", []):
        actor = load_actor(session, item["by"])
        insights.append(record_evidence(session, actor, text=item["text"], source=item["source"], kind=item["kind"],
                                        observed_on=item["observed_on"], steps=item["steps"], commit=False))
    for kpi_key, rows in (data.get("measurements") or {}).items():
        kpi = get_kpi(session, kpi_key)
        for day, value in rows:
            at = dt.datetime.combine(_date(day), dt.time(12))
            session.add(KpiMeasurement(kpi=kpi, value=float(value), measured_at=at, source="example data"))
        audit.record(session, operator, "kpi.measurements_imported", "kpi", kpi_key, after={"rows": rows},
                     reason="example data")
    session.flush()
    opportunities = []
    for n, item in enumerate(data.get("opportunities", [])):
        owner = load_actor(session, get_person(session, item["owner"]))
        opp = create_opportunity(session, owner, title=item["title"], journeys=item["journeys"],
                                 insights=[insights[i - 1].key for i in item.get("insights", [])],
                                 owner=item["owner"], kpis=item.get("kpis", []), commit=False)
        created = dt.datetime.combine(today - dt.timedelta(days=120 - 6 * n), dt.time(9))
        opp.created_at = opp.state_changed_at = created
        session.execute(sa.update(OpportunityTransition).where(OpportunityTransition.opportunity_id == opp.id)
                        .values(at=created))
        for name, value in (item.get("scores") or {}).items():
            session.add(ScoreInput(opportunity=opp, name=name, value=float(value), recorded_by_id=owner.person_id))
        for title in item.get("solutions", []):
            solution = add_solution(session, owner, opp.key, title=title, commit=False)
            if item.get("solutions_done"):
                set_solution_state(session, operator, solution.id, "done", commit=False)
        _replay_state(session, operator, opp, item, created)
        opportunities.append(opp)
    session.commit()
    return {"insights": len(insights), "opportunities": len(opportunities)}


def _date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _replay_state(session: Session, operator: Actor, opp: Opportunity, item: dict, created: dt.datetime) -> None:
    target = item.get("state", "research")
    path = MAIN_LINE[: MAIN_LINE.index(target) + 1] if target in MAIN_LINE else ["research", target]
    at = created
    for source, dest in zip(path, path[1:]):
        at += dt.timedelta(days=14)
        session.add(OpportunityTransition(opportunity_id=opp.id, trigger=dest, from_state=source, to_state=dest,
                                          reason=item.get("reason") if dest == target else None, at=at))
        if dest == "implement" and item.get("baselines"):
            for link in opp.kpi_links:
                first = link.kpi.measurements[0] if link.kpi.measurements else None
                if first:
                    link.baseline_value, link.baseline_at = first.value, first.measured_at
        if dest == "done" and item.get("outcome"):
            for link in opp.kpi_links:
                if link.kpi.measurements:
                    last = link.kpi.measurements[-1]
                    link.outcome_value, link.outcome_at = last.value, last.measured_at
                    # The verdict as evaluate gives it (it honours the target: target met, short of target, ...).
                    link.verdict = evaluate(KpiScale.of(link.kpi), link.baseline_value or 0, last.value).verdict
    if target != opp.state:
        before = opp.state
        opp.state, opp.state_changed_at, opp.state_reason = target, at, item.get("reason")
        audit.record(session, operator, "opportunity.state_imported", "opportunity", opp.key,
                     before={"state": before}, after={"state": target}, reason=item.get("reason") or "example data")
