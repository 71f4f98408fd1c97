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
from sqlalchemy.orm import Session, joinedload, selectinload

from govern.db import from_json_rows, json_rows
from govern.model import (
    ApprovalRequest, ApprovalVote, Insight, Journey, Kpi, Opportunity, OpportunityKpi, Person, Persona, Solution, Step, insight_step, journey_persona,
    opportunity_insight, opportunity_journey,
)
from govern.queries.paging import page_with_total, rows_with_extras
from govern.queries.portfolio import PortfolioFilter, filter_clauses
from govern.queries.reference import reference
from govern.queries.search import text_clauses


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
        rows, total = rows_with_extras(session, Opportunity, self.clauses, self.order, offset, limit,
                                       extras=_opportunity_links(), options=[joinedload(Opportunity.owner)])
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


# --- evidence -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListedInsight:
    """An insight as a list shows it: the row (who recorded it loaded with it) and its steps as 'journey/step' keys,
    by step id like the insight's own relationship. Everything else is the insight's own attribute."""

    insight: Insight
    step_refs: list[str]

    def __getattr__(self, name: str) -> Any:
        if name == "insight":
            raise AttributeError(name)
        return getattr(self.insight, name)


def _insight_steps() -> sa.ScalarSelect:
    return _linked(Step.id, Step.journey_id, Step.key, table=insight_step,
                   joins=[(Step, Step.id == insight_step.c.step_id)], where=insight_step.c.insight_id == Insight.id)


def _steps_matching(journey: str | None = None, step: str | None = None) -> sa.Select:
    steps = sa.select(Step.id).join(Journey, Journey.id == Step.journey_id)
    if step is not None:
        journey, _, step_key = step.partition("/")
        steps = steps.where(Step.key == step_key)
    return sa.select(insight_step.c.insight_id).where(insight_step.c.step_id.in_(steps.where(Journey.key == journey)))


@dataclass(frozen=True)
class InsightListing:
    clauses: tuple[sa.ColumnElement[bool], ...]
    order: tuple[Any, ...]

    def page(self, session: Session, offset: int, limit: int) -> tuple[list[ListedInsight], int]:
        rows, total = rows_with_extras(session, Insight, self.clauses, self.order, offset, limit,
                                       extras=[_insight_steps()],
                                       options=[joinedload(Insight.created_by), selectinload(Insight.personas)])
        ref = reference(session)
        return [ListedInsight(insight, [f"{ref.journey(journey_id).key}/{key}" for _, journey_id, key in _by_id(steps)])
                for insight, steps in rows], total


def insight_listing(order: Sequence[Any], *, text: str | None = None, kind: str | None = None,
                    journey: str | None = None, step: str | None = None,
                    opportunity_number: int | None = None) -> InsightListing:
    """Evidence containing `text` (in its text or source), of a kind, on a journey's steps or one step
    ('journey/step'), or linked to an opportunity (by number); every filter optional. Unknown names match nothing.
    A merged duplicate is not listed (it is read by its key, and its survivor carries its evidence)."""
    clauses: list[sa.ColumnElement[bool]] = [Insight.merged_into_id.is_(None)]
    clauses.extend(text_clauses(Insight, text))  # every word, in any of its forms (govern.queries.search)
    if kind:
        clauses.append(Insight.kind == kind)
    if journey:
        clauses.append(Insight.id.in_(_steps_matching(journey=journey)))
    if step:
        clauses.append(Insight.id.in_(_steps_matching(step=step)))
    if opportunity_number is not None:
        clauses.append(Insight.id.in_(
            sa.select(opportunity_insight.c.insight_id)
            .join(Opportunity, Opportunity.id == opportunity_insight.c.opportunity_id)
            .where(Opportunity.number == opportunity_number)))
    return InsightListing(tuple(clauses), tuple(order))


# --- journeys -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListedJourney:
    """A journey as a list shows it: the row (parent, the step it details and owner loaded with it), its children's
    keys (from the reference snapshot, by position) and its personas' keys (by id)."""

    journey: Journey
    child_keys: list[str]
    persona_keys: list[str]

    def __getattr__(self, name: str) -> Any:
        if name == "journey":
            raise AttributeError(name)
        return getattr(self.journey, name)


def _journey_personas() -> sa.ScalarSelect:
    return _linked(Persona.id, Persona.key, table=journey_persona,
                   joins=[(Persona, Persona.id == journey_persona.c.persona_id)],
                   where=journey_persona.c.journey_id == Journey.id)


@dataclass(frozen=True)
class JourneyListing:
    clauses: tuple[sa.ColumnElement[bool], ...]
    order: tuple[Any, ...]

    def page(self, session: Session, offset: int, limit: int) -> tuple[list[ListedJourney], int]:
        rows, total = rows_with_extras(session, Journey, self.clauses, self.order, offset, limit,
                                       extras=[_journey_personas()],
                                       options=[joinedload(Journey.parent), joinedload(Journey.parent_step),
                                                joinedload(Journey.owner)])
        ref = reference(session)
        children = ref.children()
        listed = []
        for journey, personas in rows:
            kids = sorted((ref.journey(child_id) for child_id in children.get(journey.id, ())),
                          key=lambda child: (child.position, child.id))
            listed.append(ListedJourney(journey, [child.key for child in kids], [key for _, key in _by_id(personas)]))
        return listed, total


def journey_listing(order: Sequence[Any], *, text: str | None = None, parent: str | None = None,
                    level: str | None = None, owner: str | None = None,
                    ownerless: bool | None = None) -> JourneyListing:
    """Journeys whose key, name or description contain `text`, under a parent (by key), at a level, owned by someone
    (by handle), or with (False) or without (True) an owner; every filter optional. Unknown names match nothing."""
    clauses: list[sa.ColumnElement[bool]] = []
    if text:
        pattern = like_pattern(text)
        clauses.append(sa.or_(*(sa.func.lower(column).like(pattern, escape="\\")
                                for column in (Journey.key, Journey.name, Journey.description))))
    if parent:
        clauses.append(Journey.parent_id.in_(sa.select(Journey.id).where(Journey.key == parent).scalar_subquery()))
    if level:
        clauses.append(Journey.level == level)
    if owner:
        clauses.append(Journey.owner_id.in_(sa.select(Person.id).where(Person.handle == owner)))
    if ownerless is not None:
        clauses.append(Journey.owner_id.is_(None) if ownerless else Journey.owner_id.is_not(None))
    return JourneyListing(tuple(clauses), tuple(order))


def like_pattern(text: str) -> str:
    """A case-insensitive contains-pattern with LIKE's wildcards escaped (use with escape='\\\\')."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --- approval requests --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestListing:
    """Transition requests with their opportunity, requester and votes (with who voted), a page at a time."""

    clauses: tuple[sa.ColumnElement[bool], ...]
    order: tuple[Any, ...]

    def page(self, session: Session, offset: int, limit: int) -> tuple[list[ApprovalRequest], int]:
        query = (sa.select(ApprovalRequest).where(*self.clauses).order_by(*self.order).options(
            joinedload(ApprovalRequest.opportunity), joinedload(ApprovalRequest.requested_by),
            selectinload(ApprovalRequest.votes).joinedload(ApprovalVote.person)))
        return page_with_total(session, query, offset, limit)


def request_listing(order: Sequence[Any], *, status: str | None = None,
                    opportunity_number: int | None = None) -> RequestListing:
    """Requests in a status, or about one opportunity (by number); both optional."""
    clauses: list[sa.ColumnElement[bool]] = []
    if status:
        clauses.append(ApprovalRequest.status == status)
    if opportunity_number is not None:
        clauses.append(ApprovalRequest.opportunity_id.in_(
            sa.select(Opportunity.id).where(Opportunity.number == opportunity_number)))
    return RequestListing(tuple(clauses), tuple(order))
