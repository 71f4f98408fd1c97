"""Opportunities ("How might we …"), their links to journeys, evidence and KPIs, and their solutions.

State changes are not made here: they belong to the lifecycle engine (workflows.services), which applies guards,
approvals and effects. New opportunities start in the initial state of the organisation's lifecycle.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from govern import audit
import sqlalchemy as sa

from govern.errors import InvalidInput, NotFound, PermissionDenied, PreconditionFailed, RefusedChange
from govern.model import (
    SOLUTION_STATES, ApprovalRequest, Decision, Opportunity, OpportunityKpi, OpportunityTransition, Person, Solution,
    utcnow,
)
from govern.policy import Actor
from govern.queries.states import state_catalog
from govern.services.common import (
    get_insight, get_journey, get_kpi, get_opportunity, get_person, get_setting, next_number, require_text,
)

DEFAULT_LIFECYCLE = {"name": "default", "initial": "research"}


def opportunity_snapshot(o: Opportunity) -> dict:
    return {"key": o.key, "title": o.title, "description": o.description, "state": o.state,
            "owner": o.owner.handle if o.owner else None, "journeys": [j.key for j in o.journeys],
            "insights": [i.key for i in o.insights], "kpis": [link.kpi.key for link in o.kpi_links],
            "version": o.version}


def check_version(opp: Opportunity, expected_version: int | None) -> None:
    """Optimistic locking: a write based on an older version is refused (HTTP 412 / a clear CLI message)."""
    if expected_version is not None and int(expected_version) != opp.version:
        raise PreconditionFailed(
            f"{opp.key} has changed since you loaded it (your version {expected_version}, now {opp.version}); "
            "reload and try again", {"version": opp.version})


def require_after_edit(session: Session, actor: Actor, action: str, journey_ids: list[int]) -> None:
    """The scope check after an edit: the target must still be within the actor's reach, or nothing is saved."""
    if not actor.can(action, journey_ids):
        session.rollback()
        actor.require(action, journey_ids)


_EMPTY_QUESTION = ("", "how might we", "hmw")


def opportunity_title(value) -> str:
    """The "How might we …" statement, required: empty, blank or the bare prompt ("How might we …") is refused."""
    said = "" if value is None else str(value).strip()
    if said.lower().rstrip(" .…?").strip() in _EMPTY_QUESTION:
        raise InvalidInput("the title is empty: finish the question, e.g. \"How might we let customers keep their "
                           "number when they switch?\"", {"title": "required: finish the \"How might we …\" question"})
    return require_text(said, "title", max_len=300)


def opportunity_journey_ids(opp: Opportunity) -> list[int]:
    return [j.id for j in opp.journeys]


def create_opportunity(session: Session, actor: Actor, *, title: str, journeys: list[str],
                       description: str = "", insights: list[str] | None = None, owner: str | None = None,
                       kpis: list[str] | None = None, commit: bool = True) -> Opportunity:
    """Create an opportunity linked to every journey it touches; it starts in the lifecycle's initial state."""
    actor.require("opportunity.create")
    title = opportunity_title(title)
    if not journeys:
        raise InvalidInput("an opportunity is linked to at least one journey", {"journeys": "at least one"})
    lifecycle = get_setting(session, "lifecycle.current", DEFAULT_LIFECYCLE)
    opp = Opportunity(number=next_number(session, Opportunity.number), title=title, description=description,
                      lifecycle=lifecycle["name"], state=lifecycle["initial"], created_by_id=actor.person_id)
    opp.journeys = [get_journey(session, ref) for ref in dict.fromkeys(journeys)]
    opp.insights = [get_insight(session, ref) for ref in dict.fromkeys(insights or [])]
    if owner:
        opp.owner = get_person(session, owner)
    elif actor.person_id:
        opp.owner = session.get(Person, actor.person_id)
    for kpi_ref in dict.fromkeys(kpis or []):
        opp.kpi_links.append(OpportunityKpi(kpi=get_kpi(session, kpi_ref)))
    session.add(opp)
    session.flush()
    session.add(OpportunityTransition(opportunity_id=opp.id, trigger="create", from_state=None, to_state=opp.state,
                                      actor_id=actor.person_id, at=opp.created_at))
    audit.record(session, actor, "opportunity.created", "opportunity", opp.key, after=opportunity_snapshot(opp))
    if commit:
        session.commit()
    return opp


def update_opportunity(session: Session, actor: Actor, ref: str | int, *, expected_version: int | None = None,
                       commit: bool = True, **changes) -> Opportunity:
    """Edit the statement, description, owner, journeys, evidence or targeted KPIs of an opportunity."""
    opp = get_opportunity(session, ref)
    actor.require("opportunity.edit", opportunity_journey_ids(opp))
    check_version(opp, expected_version)
    before = opportunity_snapshot(opp)
    for field, value in changes.items():
        if field == "title":
            opp.title = opportunity_title(value)
        elif field == "description":
            opp.description = value or ""
        elif field == "owner":
            opp.owner = get_person(session, value) if value else None
        elif field == "journeys":
            if not value:
                raise InvalidInput("an opportunity is linked to at least one journey", {"journeys": "at least one"})
            opp.journeys = [get_journey(session, j) for j in dict.fromkeys(value)]
        elif field == "insights":
            opp.insights = [get_insight(session, i) for i in dict.fromkeys(value)]
        elif field == "kpis":
            wanted = [get_kpi(session, k) for k in dict.fromkeys(value)]
            keep = {link.kpi_id: link for link in opp.kpi_links}
            opp.kpi_links = [keep.get(k.id) or OpportunityKpi(kpi=k) for k in wanted]
        else:
            raise InvalidInput(f"unknown field '{field}'", {field: "unknown field"})
    if "journeys" in changes:
        # Checked after the edit as well as before: a scoped role may not move an opportunity out of its journeys.
        require_after_edit(session, actor, "opportunity.edit", opportunity_journey_ids(opp))
    after = opportunity_snapshot(opp)
    if after != before:
        opp.updated_at = utcnow()
        audit.record(session, actor, "opportunity.updated", "opportunity", opp.key, before=before, after=after)
    if commit:
        session.commit()
    return opp


def link_evidence(session: Session, actor: Actor, ref: str | int, insights: list[str], *,
                  expected_version: int | None = None, commit: bool = True) -> Opportunity:
    """Add evidence to an opportunity (keeping what it already has)."""
    opp = get_opportunity(session, ref)
    actor.require("evidence.link")
    check_version(opp, expected_version)
    before = opportunity_snapshot(opp)
    for insight_ref in insights:
        insight = get_insight(session, insight_ref)
        if insight not in opp.insights:
            opp.insights.append(insight)
    after = opportunity_snapshot(opp)
    if after != before:
        opp.updated_at = utcnow()
        audit.record(session, actor, "opportunity.evidence_linked", "opportunity", opp.key,
                     before={"insights": before["insights"]}, after={"insights": after["insights"]})
    if commit:
        session.commit()
    return opp


def withdrawal_refusal(session: Session, actor: Actor, opp: Opportunity) -> str | None:
    """Why this person may not withdraw the opportunity now (None: they may). Its author may, while it is in its
    lifecycle's first state and nothing was decided or delivered on it."""
    if actor.person_id is None or opp.created_by_id != actor.person_id:
        return f"only the person who created {opp.key} may withdraw it"
    initial = state_catalog(session, opp.lifecycle).initial
    if opp.state != initial:
        return f"{opp.key} has left its first state; it can no longer be withdrawn (ask the council to close it)"
    if session.scalar(sa.select(sa.func.count()).select_from(ApprovalRequest)
                      .where(ApprovalRequest.opportunity_id == opp.id)):
        return f"{opp.key} has had a request to move it; it is the council's now (withdraw the request instead)"
    if session.scalar(sa.select(sa.func.count()).select_from(Decision).where(Decision.opportunity_id == opp.id)):
        return f"a council decision refers to {opp.key}; it can no longer be withdrawn"
    if any(s.external_key for s in opp.solutions):
        return f"{opp.key} has a solution in the backlog; it can no longer be withdrawn"
    return None


def withdraw_opportunity(session: Session, actor: Actor, ref: str | int, *, reason: str | None = None,
                         commit: bool = True) -> str:
    """The author takes back an opportunity of their own while it is in the lifecycle's first state: it is removed
    (its evidence stays, unlinked from it), and the audit log keeps what it said. Answers its key."""
    opp = get_opportunity(session, ref)
    actor.require("read")
    refusal = withdrawal_refusal(session, actor, opp)
    if refusal:
        raise PermissionDenied(refusal) if opp.created_by_id != actor.person_id else RefusedChange(refusal)
    before = opportunity_snapshot(opp)
    key, oid = opp.key, opp.id
    session.execute(sa.delete(OpportunityTransition).where(OpportunityTransition.opportunity_id == oid))
    opp.journeys.clear()
    opp.insights.clear()
    session.delete(opp)
    session.flush()
    audit.record(session, actor, "opportunity.withdrawn", "opportunity", key, before=before,
                 reason=(reason or "").strip() or None)
    if commit:
        session.commit()
    return key


def solution_snapshot(s: Solution) -> dict:
    return {"key": s.key, "title": s.title, "state": s.state, "external_key": s.external_key,
            "external_status": s.external_status, "due_on": s.due_on}


def add_solution(session: Session, actor: Actor, ref: str | int, *, title: str, description: str = "",
                 due_on: dt.date | str | None = None, commit: bool = True) -> Solution:
    """Add concrete work to an opportunity; the lifecycle turns it into a backlog item when the time comes."""
    opp = get_opportunity(session, ref)
    actor.require("solution.manage", opportunity_journey_ids(opp))
    state_catalog(session, opp.lifecycle).refuse_unless_allowed(opp.state, "solutions",
                                                                f"no solution can be added to {opp.key}")
    if isinstance(due_on, str):
        try:
            due_on = dt.date.fromisoformat(due_on)
        except ValueError:
            raise InvalidInput(f"due_on must be a date (YYYY-MM-DD), got '{due_on}'", {"due_on": "not a date"}) from None
    solution = Solution(opportunity=opp, title=require_text(title, "title", max_len=300), description=description,
                        due_on=due_on)
    session.add(solution)
    session.flush()
    audit.record(session, actor, "solution.added", "opportunity", opp.key, after=solution_snapshot(solution))
    if commit:
        session.commit()
    return solution


_UNCHANGED: object = object()


def update_solution(session: Session, actor: Actor, solution_id: int, *, title: str | None = None,
                    due_on: dt.date | str | None | object = _UNCHANGED, state: str | None = None,
                    commit: bool = True) -> Solution:
    """Edit a solution's title, due date or progress (by hand; the Jira sync reports progress too)."""
    solution = session.get(Solution, solution_id)
    if solution is None:
        raise NotFound(f"unknown solution {solution_id}", {"solution": solution_id})
    actor.require("solution.manage", opportunity_journey_ids(solution.opportunity))
    opp = solution.opportunity
    state_catalog(session, opp.lifecycle).refuse_unless_allowed(opp.state, "solutions",
                                                                f"the solutions of {opp.key} cannot be changed")
    errors: dict[str, str] = {}
    if state is not None and state not in SOLUTION_STATES:
        errors["state"] = f"one of {', '.join(SOLUTION_STATES)}"
    if isinstance(due_on, str):
        try:
            due_on = dt.date.fromisoformat(due_on) if due_on.strip() else None
        except ValueError:
            errors["due_on"] = "not a date (YYYY-MM-DD)"
    if title is not None and not str(title).strip():
        errors["title"] = "required"
    if errors:
        raise InvalidInput("the solution has " + "; ".join(f"{k}: {v}" for k, v in errors.items()), errors)
    before = solution_snapshot(solution)
    if title is not None:
        solution.title = require_text(title, "title", max_len=300)
    if due_on is not _UNCHANGED:
        solution.due_on = due_on
    if state is not None:
        solution.state = state
    return _recorded_solution_change(session, actor, solution, before, commit=commit)


def _recorded_solution_change(session: Session, actor: Actor, solution: Solution, before: dict, *,
                              commit: bool) -> Solution:
    """Audit what changed on a solution since `before` (nothing when nothing did), then commit if asked."""
    after = solution_snapshot(solution)
    if after != before:
        audit.record(session, actor, "solution.updated", "opportunity", solution.opportunity.key,
                     before=before, after=after)
    if commit:
        session.commit()
    return solution


def set_solution_state(session: Session, actor: Actor, solution_id: int, state: str, *,
                       external_status: str | None = None, commit: bool = True) -> Solution:
    """Record a solution's progress (from the Jira sync, or by hand)."""
    solution = session.get(Solution, solution_id)
    if solution is None:
        raise NotFound(f"unknown solution {solution_id}")
    actor.require("solution.manage", opportunity_journey_ids(solution.opportunity))
    if state not in SOLUTION_STATES:
        raise InvalidInput(f"unknown solution state '{state}' (one of {', '.join(SOLUTION_STATES)})", {"state": state})
    before = solution_snapshot(solution)
    solution.state = state
    if external_status is not None:
        solution.external_status = external_status
    return _recorded_solution_change(session, actor, solution, before, commit=commit)

