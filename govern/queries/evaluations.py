"""Due evaluations: the opportunities whose KPI outcome should be recorded now.

An opportunity is due for evaluation when its outcome is not recorded yet (a targeted KPI without an outcome, or no
targeted KPI at all) and either
- its evaluation date (`Opportunity.evaluation_due_at`, written by the lifecycle's `schedule_evaluation` effect in the
  transition's own transaction) has come, or
- it sits in a state of kind `evaluation` (govern.queries.states) without a scheduled date: nothing asked it to wait.
Parked and final opportunities are never due. The date is domain state: nothing here reads the outbox.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from govern.model import Opportunity, OpportunityKpi, opportunity_journey
from govern.queries.states import state_catalog


def naive_utc(value: dt.datetime) -> dt.datetime:
    """How the database stores times: naive UTC."""
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class DueEvaluation:
    opportunity: Opportunity
    due_at: dt.datetime | None  # None: in an evaluation state with no date scheduled


def outcome_missing() -> sa.ColumnElement[bool]:
    """SQL: the opportunity has no targeted KPI, or one whose outcome is not recorded."""
    targeted = sa.select(OpportunityKpi.opportunity_id).where(OpportunityKpi.opportunity_id == Opportunity.id)
    unrecorded = targeted.where(OpportunityKpi.outcome_value.is_(None))
    return sa.or_(~sa.exists(targeted), sa.exists(unrecorded))


def due_evaluations(session: Session, *, now: dt.datetime, journey_ids: Iterable[int] | sa.Select | None = None
                    ) -> list[DueEvaluation]:
    """The opportunities due for evaluation at `now` (see the module docstring), oldest due first; with
    `journey_ids`, only those touching one of those journeys."""
    catalog = state_catalog(session)
    cutoff = naive_utc(now)
    due_now = sa.and_(Opportunity.evaluation_due_at.is_not(None), Opportunity.evaluation_due_at <= cutoff)
    waiting = sa.and_(Opportunity.evaluation_due_at.is_(None), Opportunity.state.in_(catalog.evaluation_states))
    query = (sa.select(Opportunity)
             .where(Opportunity.state.in_(catalog.open_states), sa.or_(due_now, waiting), outcome_missing())
             .options(selectinload(Opportunity.owner))
             .order_by(Opportunity.evaluation_due_at.is_(None), Opportunity.evaluation_due_at, Opportunity.number))
    if journey_ids is not None:
        query = query.where(Opportunity.id.in_(sa.select(opportunity_journey.c.opportunity_id)
                                               .where(opportunity_journey.c.journey_id.in_(journey_ids))))
    return [DueEvaluation(opp, opp.evaluation_due_at) for opp in session.scalars(query)]


def evaluation_due_at(session: Session, opportunity_id: int) -> dt.datetime | None:
    """When the opportunity's evaluation is due (None: none scheduled)."""
    return session.scalar(sa.select(Opportunity.evaluation_due_at).where(Opportunity.id == opportunity_id))
