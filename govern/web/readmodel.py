"""Read-only views of the data for pages (the services hold every rule; these only read and shape)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, selectinload

from govern.errors import GovernError
from govern.model import (
    Journey, Kpi, Opportunity, Step, opportunity_insight,
    utcnow,
)
from govern.policy import Actor
from govern.scoring import StateColumn, places_in_ranking, rank_by_state
from govern.queries.evidence import evidence_tallies
from govern.queries.activity import last_activity_of_journeys
from govern.queries.reference import JourneyRef, reference
from govern.queries.requests import pending_requests_of as pending_requests_by_opportunity
from govern.queries.rights import decision_rights as core_decision_rights
from govern.queries.states import ACTIVE, OPEN_KINDS, state_catalog
from govern.web.svg import KIND_COLOURS, kind_position
from govern.workflows.guards import facts_needed
from govern.workflows.services import (
    approval_status, available_transitions, facts_for_many, lifecycle_of,
)

STALE_AFTER_DAYS = 90


@dataclass
class LifecycleView:
    """The organisation's lifecycle for pages: states in order, what each is (kind) and what people call it (title),
    all from the definition (govern.queries.states)."""

    name: str
    title: str
    states: list[str]
    final: tuple[str, ...]
    descriptions: dict[str, str] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)

    def is_open(self, state: str) -> bool:
        return self.kinds.get(state, ACTIVE) in OPEN_KINDS

    def is_final(self, state: str) -> bool:
        return state in self.final

    def kind_of(self, state: str | None) -> str:
        return self.kinds.get(state or "", ACTIVE)

    def badge_classes(self, state: str | None) -> str:
        """CSS classes of a state badge: its kind and its position among the states of that kind (app.css colours
        them, as svg.KIND_COLOURS does in charts), so any lifecycle's states get sensible colours."""
        kind, position = kind_position(state or "", self.kinds)
        return f"state-kind-{kind} state-nth-{position % len(KIND_COLOURS.get(kind, KIND_COLOURS[ACTIVE]))}"

    def title_of(self, state: str | None) -> str:
        """What people call a state (the definition's title when it gives one)."""
        if not state:
            return ""
        return self.titles.get(state) or state.replace("_", " ").capitalize()


def lifecycle_view(session: Session) -> LifecycleView:
    """The organisation's lifecycle states in order, with their kinds and titles."""
    catalog = state_catalog(session)
    return LifecycleView(catalog.lifecycle, catalog.title, catalog.names, tuple(catalog.final_states),
                         {s.name: s.description for s in catalog}, {s.name: s.title for s in catalog},
                         {s.name: s.kind for s in catalog})


def evidence_counts(session: Session) -> dict[int, int]:
    return dict(session.execute(sa.select(opportunity_insight.c.opportunity_id, sa.func.count())
                                .group_by(opportunity_insight.c.opportunity_id)).all())


def board_columns(session: Session, *, per_state: int | None, journey: str | None = None, owner: str | None = None,
                  persona: str | None = None, text: str | None = None) -> dict[str, StateColumn]:
    """{state: column} of the opportunities the filters allow: each state's count and its best `per_state` cards in
    ranking order (all of them: None), with what a card shows."""
    # Only the cards shown are built: under one positional model the database ranks and cuts each state's column
    # (govern.scoring.rank_by_state), so 10,000 opportunities do not become 10,000 rows here (bench/board_pg.py).
    columns = rank_by_state(session, per_state=per_state, journey=journey or None, owner=owner or None,
                            persona=persona or None, text=text or None)
    names = {p.handle: p.name for p in reference(session).people}  # owners named from the transaction's snapshot
    for column in columns.values():
        for r in column.rows:
            r["evidence"] = r["evidence_count"]
            r["owner_name"] = names.get(r.get("owner")) if r.get("owner") else None
    return columns


def transitions_for(session: Session, actor: Actor, opp: Opportunity, pending_requests: list | None = None
                    ) -> list[dict[str, Any]]:
    try:
        return available_transitions(session, actor, opp, pending_requests=pending_requests)
    except GovernError:
        return []


def pending_requests_of(session: Session, opp: Opportunity) -> list:
    return pending_requests_by_opportunity(session, [opp.id], with_votes=True)[opp.id]


_HANDLE_IN_WORDS = re.compile(r"\(([a-z0-9][a-z0-9_.-]*)\)")


def _with_names(text: str, people: dict[str, str], me: str | None) -> str:
    """'the owner of Moving house (ana)' → '… (Ana Kovač)', or '… (you)' for the one reading it."""
    def name(match: re.Match) -> str:
        handle = match.group(1)
        if handle == me:
            return "(you)"
        return f"({people[handle]})" if handle in people else match.group(0)
    return _HANDLE_IN_WORDS.sub(name, text)


def decision_rights(session: Session, actor: Actor, request, status=None) -> dict[str, Any]:
    """Whether this person may approve / reject / withdraw a request now, and what it still waits for.

    The engine's own rule decides; the words name people instead of handles, and Withdraw is offered to the person
    who asked (the council can still withdraw through the API and CLI, but it is not their button to press here)."""
    rights = core_decision_rights(actor, request, status or approval_status(session, request))
    why = rights.why_not if actor.person_id else "sign in as a person"
    people = _people_names(session)
    waiting = [_with_names(w, people, actor.handle) for w in rights.waiting_for]
    return {"approve": rights.approve, "reject": rights.reject, "waiting_for": waiting,
            "waiting_for_me": any("(you)" in w for w in waiting) or rights.approve,
            "why_not": _with_names(why, people, actor.handle) if why else why,
            "withdraw": rights.withdraw and actor.person_id == request.requested_by_id}


def _people_names(session: Session) -> dict[str, str]:
    return {p.handle: p.name for p in reference(session).people}


def request_summaries(session: Session, actor: Actor, requests) -> dict[int, dict[str, Any]]:
    """For each pending request: the guards of its transition now, the score, the evidence count (inbox cards).
    Read for all the requests at once: the guard facts in bulk, the scores and ranks of their opportunities in the
    whole portfolio from the core (one statement under a positional model), not a ranking of every opportunity."""
    requests = list(requests)
    if not requests:
        return {}
    opportunities = {r.opportunity.id: r.opportunity for r in requests}
    lifecycles = {oid: lifecycle_of(session, o) for oid, o in opportunities.items()}
    wanted = facts_needed(g.name for r in requests for t in lifecycles[r.opportunity.id].definition.transitions
                          if t.trigger == r.trigger for g in t.guards)
    facts = facts_for_many(session, list(opportunities.values()), wanted)
    tallies = evidence_tallies(session, opportunities)  # what the card shows is computed, whatever the guards need
    try:
        places = places_in_ranking(session, list(opportunities))
    except GovernError:
        places = {}
    out: dict[int, dict[str, Any]] = {}
    for r in requests:
        opp = r.opportunity
        guards: list = []
        try:
            check = lifecycles[opp.id].check(opp.state, r.trigger, facts[opp.id])
            guards = [g.to_dict() for g in check.guard_results]
        except GovernError:  # the opportunity has moved on: the request no longer leads anywhere from here
            pass
        place = places.get(opp.id)
        out[r.id] = {"guards": guards, "score": place and place.score, "model": place and place.model,
                     "rank": place and place.rank, "ranked": place and place.total,
                     "evidence": tallies[opp.id]}
    return out


# --- journeys ---------------------------------------------------------------------------------------------------------


@dataclass
class JourneyNode:
    journey: Journey
    children: list["JourneyNode"]
    kpis: list[Kpi]
    open_opportunities: list[Opportunity]
    gap: str | None
    stale_days: int | None
    last_activity: dt.datetime | None


def journey_tree(session: Session, lifecycle: LifecycleView) -> tuple[list[JourneyNode], list[JourneyNode]]:
    """The journey framework as a tree (roots first), and a flat list of every node."""
    journeys = list(session.scalars(sa.select(Journey).options(joinedload(Journey.owner))
                                    .order_by(Journey.position, Journey.id)))
    kpis: dict[int, list[Kpi]] = {}
    step_journey = dict(session.execute(sa.select(Step.id, Step.journey_id)).all())
    for kpi in session.scalars(sa.select(Kpi).order_by(Kpi.key)):
        jid = kpi.journey_id or step_journey.get(kpi.step_id)
        if jid:
            kpis.setdefault(jid, []).append(kpi)
    opps: dict[int, list[Opportunity]] = {}
    for opp in session.scalars(sa.select(Opportunity).options(selectinload(Opportunity.journeys))
                               .order_by(Opportunity.number)):
        if lifecycle.is_open(opp.state):
            for j in opp.journeys:
                opps.setdefault(j.id, []).append(opp)
    activity = last_activity(session)
    now = utcnow()
    nodes: dict[int, JourneyNode] = {}
    for j in journeys:
        gap = None
        if j.owner_id is None:
            gap = "no owner"
        elif not j.owner.active:
            gap = f"owner {j.owner.handle} has left"
        last = activity.get(j.id)
        stale = (now - last).days if last is not None else None
        nodes[j.id] = JourneyNode(j, [], kpis.get(j.id, []), opps.get(j.id, []), gap,
                                  stale if (stale is None or stale > STALE_AFTER_DAYS) else None, last)
    roots = []
    for j in journeys:
        node = nodes[j.id]
        if j.parent_id and j.parent_id in nodes:
            nodes[j.parent_id].children.append(node)
        else:
            roots.append(node)
    return roots, list(nodes.values())


def last_activity(session: Session) -> dict[int, dt.datetime]:
    """The latest sign of life per journey, by the one rule (govern.queries.activity)."""
    return last_activity_of_journeys(session, now=utcnow())


def step_choices(session: Session) -> list[tuple[JourneyRef, list[Step]]]:
    """Every step, grouped by journey, for the step pickers in forms: the journeys from the reference snapshot, the
    steps in one statement."""
    journeys = sorted(reference(session).journeys, key=lambda j: (j.position, j.id))
    steps: dict[int, list[Step]] = {}
    for step in session.scalars(sa.select(Step).order_by(Step.journey_id, Step.position, Step.id)):
        steps.setdefault(step.journey_id, []).append(step)
    children: dict[int | None, list[JourneyRef]] = {}
    for j in journeys:
        children.setdefault(j.parent_id, []).append(j)
    out: list[tuple[JourneyRef, list[Step]]] = []
    todo = list(reversed(children.get(None, [])))
    while todo:  # depth first: a journey, then the journeys below it, as in the framework tree
        j = todo.pop()
        if j.id in steps:
            out.append((j, steps[j.id]))
        todo.extend(reversed(children.get(j.id, [])))
    return out
