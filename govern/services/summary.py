"""The evidence summary and the recorded inputs per opportunity, kept current inside the transaction that changes them.

Changes made through the ORM (an opportunity's insights, an insight's steps, source or date) are caught after each
flush by a session event (SESSION_HOOKS, registered on the process's Database by `govern.bootstrap.bootstrap`), so
every writer keeps it current without thinking of it; writers that change the link
tables with core statements (moving evidence off a removed step, an import, a bulk load) call
`refresh_evidence_summary`. The summary of the opportunities concerned is recomputed from their links (work bounded by
those opportunities' evidence, never the whole portfolio) and upserted, so ranking and guards read one row per
opportunity instead of aggregating every link each time.

The recorded inputs (`RecordedInputs`: the built-in models' scoring inputs in one row) are kept the same way: any
ScoreInput added, changed or removed through the ORM refreshes its opportunity's row after the flush; a bulk load calls
`refresh_recorded_inputs`.
"""

from __future__ import annotations

from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern.model import (
    RECORDED_INPUT_COLUMNS, EvidenceSummary, Insight, Opportunity, RecordedInputs, ScoreInput, Step, insight_step,
    opportunity_insight, pivoted_inputs, volume_weight_sql,
)
from govern.db import dialect_insert

SUMMARY_COLUMNS = ("opportunity_id", "insight_count", "weighted_count", "journey_count", "source_count",
                   "unlinked_count", "newest_observed_on")


def summary_query(target) -> sa.Select:
    """The summary rows of the opportunities whose ids `target` (a list or a select of ids; None: all) names.
    A merged duplicate (`merged_into_id` set) counts nowhere; each insight counts its volume weight once."""
    oi = opportunity_insight
    where = (lambda col: col.in_(target)) if target is not None else (lambda col: sa.true())
    has_step = sa.exists().where(insight_step.c.insight_id == Insight.id)
    live = Insight.merged_into_id.is_(None)
    counts = (
        sa.select(oi.c.opportunity_id.label("opp_id"),
                  sa.func.count().label("insights"),
                  sa.func.sum(volume_weight_sql(Insight.volume)).label("weighted"),
                  sa.func.count(sa.distinct(sa.func.lower(sa.func.trim(Insight.source)))).label("sources"),
                  sa.func.sum(sa.case((has_step, 0), else_=1)).label("unlinked"),
                  sa.func.max(Insight.observed_on).label("newest"))
        .select_from(oi.join(Insight, Insight.id == oi.c.insight_id))
        .where(where(oi.c.opportunity_id), live).group_by(oi.c.opportunity_id).subquery("counts"))
    breadth = (
        sa.select(oi.c.opportunity_id.label("opp_id"), sa.func.count(sa.distinct(Step.journey_id)).label("journeys"))
        .select_from(oi.join(Insight, Insight.id == oi.c.insight_id)
                     .join(insight_step, insight_step.c.insight_id == oi.c.insight_id)
                     .join(Step, Step.id == insight_step.c.step_id))
        .where(where(oi.c.opportunity_id), live).group_by(oi.c.opportunity_id).subquery("breadth"))
    return (
        sa.select(Opportunity.id, sa.func.coalesce(counts.c.insights, 0), sa.func.coalesce(counts.c.weighted, 0),
                  sa.func.coalesce(breadth.c.journeys, 0),
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
    _upsert(session, session.connection(), target)


def _changed(obj, attribute: str) -> bool:
    history = sa.inspect(obj).attrs[attribute].history
    return bool(history.added or history.deleted)


def recorded_inputs_query(target) -> sa.Select:
    """The RecordedInputs rows of the opportunities `target` (a list or a select of ids; None: all) names: their
    ScoreInput rows pivoted, one column per built-in input (only opportunities with at least one input)."""
    query = (sa.select(ScoreInput.opportunity_id,
                       *[column.label(name) for name, column in zip(RECORDED_INPUT_COLUMNS,
                                                                    pivoted_inputs(RECORDED_INPUT_COLUMNS))])
             .group_by(ScoreInput.opportunity_id))
    return query if target is None else query.where(ScoreInput.opportunity_id.in_(target))


def refresh_recorded_inputs(session: Session, *, opportunity_ids: Iterable[int] | None = None,
                            everything: bool = False) -> None:
    """Recompute the recorded inputs of some opportunities (or of every one, after an import or a bulk load) inside the
    caller's transaction."""
    target = None if everything else sorted(set(opportunity_ids or ()))
    if target is not None and not target:
        return
    session.flush()
    _replace_inputs(session.connection(), target)


def _replace_inputs(connection, target) -> None:
    table = RecordedInputs.__table__
    delete = table.delete()
    connection.execute(delete if target is None else delete.where(table.c.opportunity_id.in_(target)))
    connection.execute(table.insert().from_select(["opportunity_id", *RECORDED_INPUT_COLUMNS],
                                                  recorded_inputs_query(target)))


def _inputs_changed(session: Session) -> set[int]:
    """The opportunities whose ScoreInput rows this flush added, changed or removed."""
    changed: set[int] = set()
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if isinstance(obj, ScoreInput):
            history = sa.inspect(obj).attrs.opportunity_id.history
            changed.update(i for i in (*history.added, *history.deleted, *history.unchanged) if i is not None)
        elif isinstance(obj, Opportunity) and obj.id is not None and obj not in session.new:
            if _changed(obj, "score_inputs"):
                changed.add(obj.id)
    return changed


def _after_flush(session: Session, _context) -> None:
    """Keep the summary current for every change made through the ORM, whoever makes it (services, fixtures, the
    import): after each flush, in the same transaction, recompute the opportunities whose evidence links changed
    and those backed by an insight whose steps, source or date changed; and the recorded inputs of those whose
    scoring inputs changed."""
    inputs_changed = _inputs_changed(session)
    if inputs_changed:
        _replace_inputs(session.connection(), sorted(inputs_changed))
    opportunity_ids: set[int] = set()
    insight_ids: set[int] = set()
    for obj in list(session.new) + list(session.dirty):
        if isinstance(obj, Opportunity) and obj.id is not None:
            if obj in session.new or _changed(obj, "insights"):
                opportunity_ids.add(obj.id)
        elif isinstance(obj, Insight) and obj.id is not None and obj not in session.new:
            if any(_changed(obj, name) for name in ("steps", "source", "observed_on", "volume", "merged_into_id")):
                insight_ids.add(obj.id)
    if not (opportunity_ids or insight_ids):
        return
    linked = sa.select(opportunity_insight.c.opportunity_id).where(
        opportunity_insight.c.insight_id.in_(sorted(insight_ids)))
    target = sa.union(sa.select(Opportunity.id).where(Opportunity.id.in_(sorted(opportunity_ids))), linked)
    _upsert(session, session.connection(), sa.select(target.subquery().c[0]))


def _upsert(session: Session, connection, target) -> None:
    table = EvidenceSummary.__table__
    insert = dialect_insert(session, table).from_select(list(SUMMARY_COLUMNS), summary_query(target))
    connection.execute(insert.on_conflict_do_update(
        index_elements=["opportunity_id"], set_={c: insert.excluded[c] for c in SUMMARY_COLUMNS[1:]}))


# (session event, listener): registered on a Database's sessions by govern.bootstrap, never at import.
SESSION_HOOKS = (("after_flush", _after_flush),)
