"""What the opportunity page reads about one opportunity, in a fixed number of statements whatever the portfolio holds.

The opportunity comes with its owner and journeys joined, and its evidence (each insight joined with its steps and their
journeys), targeted KPIs, solutions and scoring inputs one statement each, so rendering the page never lazy-loads a row
per related object. The insights offered for linking are the newest ones not yet linked, capped: the form takes any key
typed, the list only suggests. Likewise the evidence picker of the opportunity forms offers the chosen insights and the
newest others, not every insight there is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, selectinload

from govern.model import Insight, Opportunity, OpportunityKpi, Step, opportunity_insight

LINKABLE_SHOWN = 200  # suggestions in the "add evidence" box (newest first); any other key can still be typed
PICKER_SHOWN = 200  # insights offered in the opportunity forms' evidence picker besides the chosen ones
_INSIGHT_KEY = re.compile(r"^(?:INS-)?(\d+)$", re.IGNORECASE)


def opportunity_page_loads() -> tuple:
    """Loader options for `get_opportunity(..., load=..., with_journeys=True)`: everything the opportunity page shows
    of it. Many-to-many links are never `joinedload`ed: SQLite runs that join (an outer join to a nested inner join)
    by materialising every link of the table, about 100 ms per page at 10,000 opportunities; the journeys come with
    `with_journeys` (a plain chain of outer joins) and each insight's steps in a statement of their own."""
    return (joinedload(Opportunity.owner),
            selectinload(Opportunity.insights).selectinload(Insight.steps).joinedload(Step.journey),
            selectinload(Opportunity.kpi_links).joinedload(OpportunityKpi.kpi),
            selectinload(Opportunity.solutions), selectinload(Opportunity.score_inputs))


def linkable_insights(session: Session, opportunity_id: int, limit: int = LINKABLE_SHOWN) -> list[Insight]:
    """The newest insights not linked to the opportunity yet (at most `limit`), newest first: one statement."""
    linked = sa.select(opportunity_insight.c.insight_id).where(opportunity_insight.c.opportunity_id == opportunity_id)
    return list(session.scalars(sa.select(Insight).where(Insight.id.not_in(linked))
                                .order_by(Insight.number.desc()).limit(limit)))


@dataclass(frozen=True)
class InsightChoices:
    """What an evidence picker offers: the chosen insights and the newest others (newest first), and how many there
    are in all (more than offered: the picker says so)."""

    insights: list[Insight]
    total: int


def insight_choices(session: Session, chosen: Iterable[str], limit: int = PICKER_SHOWN) -> InsightChoices:
    """The chosen insights (by key) and the `limit` newest, newest first, with the total: two statements."""
    numbers = [int(m.group(1)) for key in chosen if (m := _INSIGHT_KEY.match(str(key).strip()))]
    newest = sa.select(Insight.id).order_by(Insight.number.desc()).limit(limit)
    offered = sa.or_(Insight.id.in_(newest), Insight.number.in_(numbers)) if numbers else Insight.id.in_(newest)
    insights = list(session.scalars(sa.select(Insight).where(offered).order_by(Insight.number.desc())))
    return InsightChoices(insights, session.scalar(sa.select(sa.func.count(Insight.id))) or 0)
