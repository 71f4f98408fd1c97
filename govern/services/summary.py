"""The evidence summary per opportunity, kept current inside the transaction that changes the evidence.

Every service that links or unlinks evidence, or changes the steps of a linked insight, calls
`refresh_evidence_summary` before it commits. The summary of the opportunities concerned is recomputed from their links
(work bounded by those opportunities' evidence, never the whole portfolio) and upserted, so ranking and guards read
one row per opportunity instead of aggregating every link each time.
"""

from __future__ import annotations

from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern.model import EvidenceSummary, Insight, Opportunity, Step, insight_step, opportunity_insight
from govern.services.common import dialect_insert

SUMMARY_COLUMNS = ("opportunity_id", "insight_count", "journey_count", "source_count", "unlinked_count",
                   "newest_observed_on")


def summary_query(target) -> sa.Select:
    """The summary rows of the opportunities whose ids `target` (a list or a select of ids; None: all) names."""
    oi = opportunity_insight
    where = (lambda col: col.in_(target)) if target is not None else (lambda col: sa.true())
    has_step = sa.exists().where(insight_step.c.insight_id == Insight.id)
    counts = (
        sa.select(oi.c.opportunity_id.label("opp_id"),
                  sa.func.count().label("insights"),
                  sa.func.count(sa.distinct(sa.func.lower(sa.func.trim(Insight.source)))).label("sources"),
                  sa.func.sum(sa.case((has_step, 0), else_=1)).label("unlinked"),
                  sa.func.max(Insight.observed_on).label("newest"))
        .select_from(oi.join(Insight, Insight.id == oi.c.insight_id))
        .where(where(oi.c.opportunity_id)).group_by(oi.c.opportunity_id).subquery("counts"))
    breadth = (
        sa.select(oi.c.opportunity_id.label("opp_id"), sa.func.count(sa.distinct(Step.journey_id)).label("journeys"))
        .select_from(oi.join(insight_step, insight_step.c.insight_id == oi.c.insight_id)
                     .join(Step, Step.id == insight_step.c.step_id))
        .where(where(oi.c.opportunity_id)).group_by(oi.c.opportunity_id).subquery("breadth"))
    return (
        sa.select(Opportunity.id, sa.func.coalesce(counts.c.insights, 0), sa.func.coalesce(breadth.c.journeys, 0),
                  sa.func.coalesce(counts.c.sources, 0), sa.func.coalesce(counts.c.unlinked, 0), counts.c.newest)
        .outerjoin(counts, counts.c.opp_id == Opportunity.id)
        .outerjoin(breadth, breadth.c.opp_id == Opportunity.id)
        .where(where(Opportunity.id)))


def refresh_evidence_summary(session: Session, *, opportunity_ids: Iterable[int] | None = None,
                             insight_ids: Iterable[int] | None = None, everything: bool = False) -> None:
    """Recompute (upsert) the evidence summary of some opportunities inside the caller's transaction: those named,
    those an insight in `insight_ids` supports, or every one (`everything`, after an import or a bulk load)."""
    if everything:
        target = None
    elif insight_ids is not None:
        target = sa.select(opportunity_insight.c.opportunity_id).where(
            opportunity_insight.c.insight_id.in_(list(insight_ids)))
    else:
        target = list(opportunity_ids or ())
        if not target:
            return
    session.flush()  # the links as the session holds them
    table = EvidenceSummary.__table__
    insert = dialect_insert(session, table).from_select(list(SUMMARY_COLUMNS), summary_query(target))
    session.execute(insert.on_conflict_do_update(
        index_elements=["opportunity_id"], set_={c: insert.excluded[c] for c in SUMMARY_COLUMNS[1:]}))
