"""Paged, filtered, sorted lists of opportunities and of evidence (the web app's list views and saved views).

A list is a query object (every filter optional, one sort key, a page) and gives back one page of rows plus the total,
in a bounded number of statements whatever the number of rows: the filters and the sort run in the database, and
only the page's rows are loaded with what the table shows (journeys, steps, owners, evidence counts).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Iterable, Sequence, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, selectinload

from govern.errors import InvalidInput, NotFound
from govern.model import (
    Insight, Journey, Kpi, Opportunity, OpportunityKpi, Person, Persona, Step, insight_step, journey_persona,
    opportunity_insight,
)
from govern.queries.portfolio import PortfolioFilter, filter_clauses, journey_subtree_of
from govern.queries.search import text_clauses

Row = TypeVar("Row")
PAGE_SIZES = (25, 50, 100)


@dataclass(frozen=True)
class Page(Generic[Row]):
    rows: list[Row]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def first(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return min(self.total, self.page * self.per_page)


def _page_number(value: Any) -> int:
    try:
        number = int(value or 1)
    except (TypeError, ValueError):
        raise InvalidInput(f"page must be a whole number, got '{value}'", {"page": "not a number"}) from None
    if number < 1:
        raise InvalidInput("page starts at 1", {"page": "at least 1"})
    return number


def _per_page(value: Any) -> int:
    try:
        number = int(value or PAGE_SIZES[0])
    except (TypeError, ValueError):
        raise InvalidInput(f"per_page must be one of {', '.join(map(str, PAGE_SIZES))}", {"per_page": value}) from None
    if number not in PAGE_SIZES:
        raise InvalidInput(f"per_page must be one of {', '.join(map(str, PAGE_SIZES))}", {"per_page": value})
    return number


def _within(page: int, total: int, per_page: int) -> int:
    """A page past the end shows the last one (a list that shrank since the link was made)."""
    return max(1, min(page, math.ceil(total / per_page)))


def page_of(rows: list[Row], page: int, per_page: int) -> Page[Row]:
    """A page of rows already read (a section of a page that sorts its rows itself), by the lists' rule: a page past
    the end shows the last."""
    page = _within(page, len(rows), per_page)
    return Page(rows[(page - 1) * per_page:page * per_page], len(rows), page, per_page)


def _date(value: Any, name: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{name} must be a date (YYYY-MM-DD), got '{value}'", {name: "not a date"}) from None


def _one_id(session: Session, model, column, value: str, what: str) -> int:
    found = session.scalar(sa.select(model.id).where(column == value))
    if found is None:
        raise NotFound(f"unknown {what} '{value}'", {what: value})
    return found


# --- opportunities ----------------------------------------------------------------------------------------------------

OPPORTUNITY_SORTS = {
    "key": (Opportunity.number, "Key"),
    "title": (sa.func.lower(Opportunity.title), "Statement"),
    "state": (Opportunity.state, "State"),
    "owner": (sa.func.lower(sa.func.coalesce(Person.name, "")), "Owner"),
    "changed": (Opportunity.state_changed_at, "Last state change"),
    "updated": (Opportunity.updated_at, "Last edit"),
}


@dataclass(frozen=True)
class OpportunityList:
    """Filters, sort and page of the opportunities list; every field comes from the URL (the saved view)."""

    text: str = ""
    journey: str = ""
    states: tuple[str, ...] = ()
    owner: str = ""
    persona: str = ""
    kpi: str = ""
    sort: str = "key"
    descending: bool = False
    page: int = 1
    per_page: int = PAGE_SIZES[0]

    @classmethod
    def from_args(cls, args) -> "OpportunityList":
        """From query-string arguments (a MultiDict or a dict of lists); bad values raise InvalidInput naming them."""
        get = args.get
        sort = (get("sort") or "key").strip()
        descending = sort.startswith("-")
        sort = sort.lstrip("-")
        if sort not in OPPORTUNITY_SORTS:
            raise InvalidInput(f"unknown sort '{sort}' (one of {', '.join(OPPORTUNITY_SORTS)})", {"sort": sort})
        states = tuple(s for s in (args.getlist("state") if hasattr(args, "getlist") else args.get("state") or [])
                       if s)
        return cls(text=(get("q") or "").strip(), journey=(get("journey") or "").strip(), states=states,
                   owner=(get("owner") or "").strip(), persona=(get("persona") or "").strip(),
                   kpi=(get("kpi") or "").strip(), sort=sort, descending=descending,
                   page=_page_number(get("page")), per_page=_per_page(get("per_page")))

    def with_page(self, page: int) -> "OpportunityList":
        return replace(self, page=page)

    @property
    def filtered(self) -> bool:
        return bool(self.text or self.journey or self.states or self.owner or self.persona or self.kpi)


def _opportunity_clauses(session: Session, q: OpportunityList) -> list:
    # journey (its subtree), owner, persona and states mean what the one portfolio filter says they mean; the list
    # adds a KPI filter and a search by every word (not only the exact phrase).
    clauses: list = filter_clauses(session, PortfolioFilter(open_only=False, journey=q.journey or None,
                                                            owner=q.owner or None, persona=q.persona or None,
                                                            states=tuple(q.states)))
    if q.kpi:
        kpi_id = _one_id(session, Kpi, Kpi.key, q.kpi, "kpi")
        clauses.append(Opportunity.id.in_(sa.select(OpportunityKpi.opportunity_id)
                                          .where(OpportunityKpi.kpi_id == kpi_id)))
    if q.states:
        clauses.append(Opportunity.state.in_(q.states))
    clauses.extend(text_clauses(Opportunity, q.text))  # every word, in any of its forms (govern.queries.search)
    return clauses


@dataclass
class OpportunityRow:
    opportunity: Opportunity
    evidence: int
    journeys: list[Journey] = field(default_factory=list)


def opportunity_page(session: Session, q: OpportunityList) -> Page[OpportunityRow]:
    """One page of opportunities under the filters, sorted (ties by key), with evidence counts and journeys."""
    clauses = _opportunity_clauses(session, q)
    total = session.scalar(sa.select(sa.func.count(Opportunity.id)).where(*clauses)) or 0
    q = replace(q, page=_within(q.page, total, q.per_page))
    column = OPPORTUNITY_SORTS[q.sort][0]
    order = [column.desc() if q.descending else column.asc(), Opportunity.number.asc()]
    query = (sa.select(Opportunity).outerjoin(Person, Opportunity.owner_id == Person.id).where(*clauses)
             .order_by(*order).limit(q.per_page).offset((q.page - 1) * q.per_page)
             .options(selectinload(Opportunity.journeys), selectinload(Opportunity.owner)))
    opportunities = list(session.scalars(query))
    ids = [o.id for o in opportunities]
    counts = dict(session.execute(sa.select(opportunity_insight.c.opportunity_id, sa.func.count())
                                  .where(opportunity_insight.c.opportunity_id.in_(ids))
                                  .group_by(opportunity_insight.c.opportunity_id)).all()) if ids else {}
    rows = [OpportunityRow(o, counts.get(o.id, 0), sorted(o.journeys, key=lambda j: j.name)) for o in opportunities]
    return Page(rows, total, q.page, q.per_page)


# --- evidence ---------------------------------------------------------------------------------------------------------

EVIDENCE_SORTS = {
    "observed": (Insight.observed_on, "Observed"),
    "key": (Insight.number, "Key"),
    "source": (sa.func.lower(Insight.source), "Source"),
    "kind": (Insight.kind, "Kind"),
}


@dataclass(frozen=True)
class EvidenceList:
    """Filters, sort and page of the evidence list; every field comes from the URL (the saved view)."""

    text: str = ""
    journey: str = ""
    step: str = ""
    kind: str = ""
    source: str = ""
    persona: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    unused: bool = False
    sort: str = "observed"
    descending: bool = True
    page: int = 1
    per_page: int = PAGE_SIZES[0]

    @classmethod
    def from_args(cls, args) -> "EvidenceList":
        get = args.get
        raw = (get("sort") or "-observed").strip()
        descending = raw.startswith("-")
        sort = raw.lstrip("-")
        if sort not in EVIDENCE_SORTS:
            raise InvalidInput(f"unknown sort '{sort}' (one of {', '.join(EVIDENCE_SORTS)})", {"sort": sort})
        since, until = _date(get("since"), "since"), _date(get("until"), "until")
        if since and until and since > until:
            raise InvalidInput("'since' is after 'until'", {"since": "after until"})
        return cls(text=(get("q") or "").strip(), journey=(get("journey") or "").strip(),
                   step=(get("step") or "").strip(), kind=(get("kind") or "").strip(),
                   source=(get("source") or "").strip(), persona=(get("persona") or "").strip(),
                   since=since, until=until, unused=get("unused") in ("1", "on", "true", "yes"),
                   sort=sort, descending=descending, page=_page_number(get("page")),
                   per_page=_per_page(get("per_page")))

    @property
    def filtered(self) -> bool:
        return bool(self.text or self.journey or self.step or self.kind or self.source or self.persona
                    or self.since or self.until or self.unused)


def _on_journeys(journey_ids: Iterable[int]) -> sa.Select:
    return sa.select(insight_step.c.insight_id).join(Step, Step.id == insight_step.c.step_id).where(
        Step.journey_id.in_(journey_ids))


def _evidence_clauses(session: Session, q: EvidenceList) -> list:
    clauses: list = [Insight.merged_into_id.is_(None)]  # a merged duplicate is not listed: its survivor carries it
    if q.journey:
        clauses.append(Insight.id.in_(_on_journeys(journey_subtree_of(session, q.journey))))
    if q.step:
        journey_key, _, step_key = q.step.partition("/")
        step_id = session.scalar(sa.select(Step.id).join(Journey, Journey.id == Step.journey_id)
                                 .where(Journey.key == journey_key, Step.key == step_key))
        if step_id is None:
            raise NotFound(f"unknown step '{q.step}'", {"step": q.step})
        clauses.append(Insight.id.in_(sa.select(insight_step.c.insight_id).where(insight_step.c.step_id == step_id)))
    if q.persona:
        persona_id = _one_id(session, Persona, Persona.key, q.persona, "persona")
        clauses.append(Insight.id.in_(_on_journeys(
            sa.select(journey_persona.c.journey_id).where(journey_persona.c.persona_id == persona_id))))
    if q.kind:
        clauses.append(Insight.kind == q.kind)
    if q.source:
        clauses.append(sa.func.lower(Insight.source).contains(q.source.lower(), autoescape=True))
    if q.since:
        clauses.append(Insight.observed_on >= q.since)
    if q.until:
        clauses.append(Insight.observed_on <= q.until)
    if q.unused:
        clauses.append(~Insight.id.in_(sa.select(opportunity_insight.c.insight_id)))
    clauses.extend(text_clauses(Insight, q.text))
    return clauses


@dataclass
class EvidenceRow:
    insight: Insight
    opportunities: list[Opportunity]


def evidence_page(session: Session, q: EvidenceList) -> Page[EvidenceRow]:
    """One page of evidence under the filters, sorted (ties by key, newest first), with steps and opportunities."""
    clauses = _evidence_clauses(session, q)
    total = session.scalar(sa.select(sa.func.count(Insight.id)).where(*clauses)) or 0
    q = replace(q, page=_within(q.page, total, q.per_page))
    column = EVIDENCE_SORTS[q.sort][0]
    order = [column.desc() if q.descending else column.asc(), Insight.number.desc()]
    insights = list(session.scalars(
        sa.select(Insight).where(*clauses).order_by(*order).limit(q.per_page).offset((q.page - 1) * q.per_page)
        .options(joinedload(Insight.created_by), selectinload(Insight.steps).joinedload(Step.journey))))
    ids = [i.id for i in insights]
    used: dict[int, list[Opportunity]] = {}
    if ids:
        for insight_id, opp in session.execute(
                sa.select(opportunity_insight.c.insight_id, Opportunity)
                .join(Opportunity, Opportunity.id == opportunity_insight.c.opportunity_id)
                .where(opportunity_insight.c.insight_id.in_(ids)).order_by(Opportunity.number)):
            used.setdefault(insight_id, []).append(opp)
    return Page([EvidenceRow(i, used.get(i.id, [])) for i in insights], total, q.page, q.per_page)


def insight_kinds_in_use(session: Session) -> Sequence[str]:
    return list(session.scalars(sa.select(Insight.kind).distinct().order_by(Insight.kind)))
