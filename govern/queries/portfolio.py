"""The portfolio filter: which opportunities a list shows. One meaning, used by every entry point.

- `journey` (a key): the opportunities linked to that journey **or any journey below it** (its subtree);
- `owner` (a handle): the opportunities that person owns;
- `persona` (a key): the opportunities touching a journey seen through that persona;
- `states`: one state or several (the lifecycle's own names);
- `text`: words in the title or description, or an exact key (`OPP-7`);
- `open_only` (required, no default): only opportunities in an open state (kind active or evaluation, see
  govern.queries.states), or every opportunity.

An unknown journey, owner or persona is `NotFound` naming it (never an empty list that looks like "nothing there").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern.errors import NotFound
from govern.model import Opportunity, journey_persona, opportunity_journey
from govern.queries.reference import reference
from govern.queries.search import text_clauses
from govern.queries.states import state_catalog


@dataclass(frozen=True)
class PortfolioFilter:
    """The filters of a portfolio list (see the module docstring for what each one means)."""

    open_only: bool
    journey: str | None = None
    owner: str | None = None
    persona: str | None = None
    states: tuple[str, ...] = ()
    text: str | None = None


def journey_subtree_of(session: Session, key: str) -> list[int]:
    """The ids of the journey called `key` and of every journey below it, from the transaction's reference snapshot
    (NotFound names an unknown key)."""
    ref = reference(session)
    found = next((j.id for j in ref.journeys if j.key == key), None)
    if found is None:
        raise NotFound(f"unknown journey '{key}'", {"journey": key})
    return sorted(ref.subtree(found))


def _person_id(session: Session, handle: str) -> int:
    found = next((p.id for p in reference(session).people if p.handle == handle), None)
    if found is None:
        raise NotFound(f"unknown person '{handle}'", {"owner": handle})
    return found


def _persona_id(session: Session, key: str) -> int:
    found = next((p.id for p in reference(session).personas if p.key == key), None)
    if found is None:
        raise NotFound(f"unknown persona '{key}'", {"persona": key})
    return found


def touching_journeys(journey_ids: sa.Select | Iterable[int]) -> sa.Select:
    """A SELECT of the ids of opportunities linked to any of these journeys."""
    return sa.select(opportunity_journey.c.opportunity_id).where(opportunity_journey.c.journey_id.in_(journey_ids))


def filter_clauses(session: Session, flt: PortfolioFilter) -> list[sa.ColumnElement[bool]]:
    """WHERE clauses on Opportunity for the filter (resolving names first: NotFound for an unknown one)."""
    clauses: list[sa.ColumnElement[bool]] = []
    if flt.journey:
        clauses.append(Opportunity.id.in_(touching_journeys(journey_subtree_of(session, flt.journey))))
    if flt.owner:
        clauses.append(Opportunity.owner_id == _person_id(session, flt.owner))
    if flt.persona:
        seen_through = sa.select(journey_persona.c.journey_id).where(
            journey_persona.c.persona_id == _persona_id(session, flt.persona))
        clauses.append(Opportunity.id.in_(touching_journeys(seen_through)))
    if flt.states:
        clauses.append(Opportunity.state.in_(list(flt.states)))
    if flt.open_only:
        clauses.append(Opportunity.state.in_(state_catalog(session).open_states))
    clauses.extend(text_clauses(Opportunity, flt.text))  # every word, in any of its forms (govern.queries.search)
    return clauses


def portfolio_query(session: Session, flt: PortfolioFilter) -> sa.Select:
    """SELECT Opportunity under the filter, oldest first (callers may re-order it)."""
    return sa.select(Opportunity).where(*filter_clauses(session, flt)).order_by(Opportunity.number)


def portfolio_ids(session: Session, flt: PortfolioFilter) -> set[int]:
    """The ids of the opportunities the filter lets through."""
    return set(session.scalars(sa.select(Opportunity.id).where(*filter_clauses(session, flt))))


def open_opportunities(session: Session, *, journey: str | None = None, owner: str | None = None) -> list[Opportunity]:
    """The open portfolio (optionally of a journey's subtree or of one owner), oldest first."""
    return list(session.scalars(portfolio_query(session, PortfolioFilter(open_only=True, journey=journey,
                                                                         owner=owner))))
