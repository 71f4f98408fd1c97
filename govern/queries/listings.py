"""The organisation's records as paged lists with the keys of what each links to (the REST API's collections).

A listing is built from its filters and order when asked for, and then reads one page at a time
(`govern.queries.paging.PagedRead`): the page's rows, the list's total and, per row, the keys of its related rows
come in one statement, whatever the number of rows. The related keys are aggregated per row in SQL (`json_rows`)
instead of one extra statement per relation; journeys are named from the transaction's reference snapshot, which
loading the actor has already read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from govern.db import from_json_rows, json_rows
from govern.model import Insight, Kpi, Opportunity, OpportunityKpi, Solution, opportunity_insight, opportunity_journey
from govern.queries.paging import rows_with_total
from govern.queries.portfolio import PortfolioFilter, filter_clauses
from govern.queries.reference import reference


@dataclass(frozen=True)
class ListedOpportunity:
    """An opportunity as a list shows it: the row (its owner loaded with it) and the keys of the journeys, insights,
    KPIs and solutions it links to, each in the order the opportunity's own relationships give them (by id).

    Everything else is the opportunity's own attribute, so it reads like the opportunity (`listed.title`)."""

    opportunity: Opportunity
    journey_keys: list[str]
    insight_keys: list[str]
    kpi_keys: list[str]
    solution_keys: list[str]

    def __getattr__(self, name: str) -> Any:
        if name == "opportunity":  # not yet set (copying, unpickling): never recurse
            raise AttributeError(name)
        return getattr(self.opportunity, name)


def _linked(*columns, where, joins: Sequence[tuple[Any, Any]] = (), table) -> sa.ScalarSelect:
    query = sa.select(json_rows(*columns)).select_from(table)
    for target, on in joins:
        query = query.join(target, on)
    return query.where(where).scalar_subquery()


def _opportunity_links() -> list[sa.ScalarSelect]:
    """Per listed opportunity, [[id, …], …] of its journeys, insights (with number), KPIs (with key), solutions."""
    return [
        _linked(opportunity_journey.c.journey_id, table=opportunity_journey,
                where=opportunity_journey.c.opportunity_id == Opportunity.id),
        _linked(Insight.id, Insight.number, table=opportunity_insight,
                joins=[(Insight, Insight.id == opportunity_insight.c.insight_id)],
                where=opportunity_insight.c.opportunity_id == Opportunity.id),
        _linked(OpportunityKpi.kpi_id, Kpi.key, table=OpportunityKpi,
                joins=[(Kpi, Kpi.id == OpportunityKpi.kpi_id)], where=OpportunityKpi.opportunity_id == Opportunity.id),
        _linked(Solution.id, table=Solution, where=Solution.opportunity_id == Opportunity.id),
    ]


def _by_id(text: str | None) -> list[list]:
    return sorted(from_json_rows(text), key=lambda row: row[0])


@dataclass(frozen=True)
class OpportunityListing:
    """Opportunities under the portfolio's filter, in the order given (a tie-breaker included by the caller)."""

    clauses: tuple[sa.ColumnElement[bool], ...]
    order: tuple[Any, ...]

    def page(self, session: Session, offset: int, limit: int) -> tuple[list[ListedOpportunity], int]:
        query = (sa.select(Opportunity).where(*self.clauses).order_by(*self.order)
                 .options(joinedload(Opportunity.owner)))
        rows, total = rows_with_total(session, query, offset, limit, columns=_opportunity_links())
        ref = reference(session)
        listed = []
        for opportunity, journeys, insights, kpis, solutions in rows:
            listed.append(ListedOpportunity(
                opportunity,
                journey_keys=[ref.journey(journey_id).key for journey_id, in _by_id(journeys)],
                insight_keys=[f"INS-{number}" for _, number in _by_id(insights)],
                kpi_keys=[key for _, key in _by_id(kpis)],
                solution_keys=[f"SOL-{solution_id}" for solution_id, in _by_id(solutions)]))
        return listed, total


def opportunity_listing(session: Session, flt: PortfolioFilter, order: Sequence[Any]) -> OpportunityListing:
    """The listing of the opportunities under `flt` (its names resolved now: NotFound for an unknown one)."""
    return OpportunityListing(tuple(filter_clauses(session, flt)), tuple(order))
