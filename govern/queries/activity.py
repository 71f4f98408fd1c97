"""The one rule for "stale": when anything last happened to an opportunity (and so to a journey).

Activity on an opportunity is a change of it (an edit or a state change), evidence linked to it, a request about it
(made, or voted on with a reason), or a decision the council recorded about it. An opportunity is stale when none of
these happened for N days; a journey is stale when neither its opportunities nor evidence on its steps moved. The
ritual agenda (govern.rituals.agenda, `stale_after_days`) and the journey framework page read this module; each says
how many days it allows. Bounded statements: one per question, whatever the number of rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern.model import (
    ApprovalRequest,
    ApprovalVote,
    Decision,
    Insight,
    Opportunity,
    Step,
    insight_step,
    opportunity_insight,
    opportunity_journey,
)


def _naive(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def _events(now: dt.datetime | None) -> sa.Subquery:
    """(opportunity_id, at) for every sign of life up to `now`."""
    parts = [
        sa.select(Opportunity.id.label("opportunity_id"), Opportunity.updated_at.label("at")),
        sa.select(Opportunity.id, Opportunity.state_changed_at),
        sa.select(opportunity_insight.c.opportunity_id, Insight.created_at)
        .join(Insight, Insight.id == opportunity_insight.c.insight_id),
        sa.select(ApprovalRequest.opportunity_id, ApprovalRequest.created_at),
        sa.select(ApprovalRequest.opportunity_id, ApprovalVote.at)
        .join(ApprovalVote, ApprovalVote.request_id == ApprovalRequest.id),
        sa.select(Decision.opportunity_id, Decision.created_at).where(Decision.opportunity_id.is_not(None)),
    ]
    union = sa.union_all(*parts).subquery("activity_events")
    query = sa.select(union.c.opportunity_id, sa.func.max(union.c.at).label("last_at"))
    if now is not None:
        query = query.where(union.c.at <= _naive(now))
    return query.group_by(union.c.opportunity_id).subquery("last_activity")


def last_activity_of_opportunities(session: Session, ids: Iterable[int] | None = None, *,
                                   now: dt.datetime | None = None) -> dict[int, dt.datetime]:
    last = _events(now)
    query = sa.select(last.c.opportunity_id, last.c.last_at)
    if ids is not None:
        query = query.where(last.c.opportunity_id.in_(list(ids)))
    return {opp_id: at for opp_id, at in session.execute(query) if at is not None}


def stale_opportunities(session: Session, query: sa.Select, *, now: dt.datetime,
                        days: int) -> list[tuple[Opportunity, dt.datetime]]:
    """The opportunities `query` selects (already narrowed to open states and a scope) with nothing happening for
    `days` days, idlest first, with their last activity."""
    last = _events(now)
    idle_since = _naive(now) - dt.timedelta(days=days)
    rows = session.execute(
        query.add_columns(last.c.last_at).join(last, last.c.opportunity_id == Opportunity.id)
        .where(last.c.last_at <= idle_since).order_by(None).order_by(last.c.last_at, Opportunity.number))
    return [(opp, at) for opp, at in rows]


def last_activity_of_journeys(session: Session, *, now: dt.datetime | None = None) -> dict[int, dt.datetime]:
    """Per journey: the latest evidence observed on its steps, or the latest activity of its opportunities."""
    out: dict[int, dt.datetime] = {}
    for jid, observed in session.execute(
            sa.select(Step.journey_id, sa.func.max(Insight.observed_on))
            .select_from(insight_step.join(Step, Step.id == insight_step.c.step_id)
                         .join(Insight, Insight.id == insight_step.c.insight_id))
            .group_by(Step.journey_id)):
        if observed is not None:
            when = observed if isinstance(observed, dt.datetime) else dt.datetime.combine(
                dt.date.fromisoformat(str(observed)), dt.time())
            out[jid] = max(out.get(jid, when), when)
    last = _events(now)
    for jid, changed in session.execute(
            sa.select(opportunity_journey.c.journey_id, sa.func.max(last.c.last_at))
            .join(last, last.c.opportunity_id == opportunity_journey.c.opportunity_id)
            .group_by(opportunity_journey.c.journey_id)):
        if changed is not None:
            out[jid] = max(out.get(jid, changed), changed)
    return out
