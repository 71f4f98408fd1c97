"""Opportunities ("How might we …"): statement, links, state, history, pending approvals and solutions.

Optimistic locking is visible over HTTP: every opportunity answer carries `ETag: "<version>"`; send it back as
`If-Match` on a change and a stale write is refused with 412 instead of overwriting someone else's work.
"""

from __future__ import annotations

import sqlalchemy as sa

from govern.http.openapi import Blueprint, SelectPage, etag_for, if_match_version, sort_clause
from govern.http.request import current_actor, db_session
from govern.api.schemas import (
    ApprovalQuerySchema, ApprovalRequestSchema, EvidenceLinksSchema, HistoryEntrySchema, OpportunityCreateSchema,
    OpportunityQuerySchema, OpportunitySchema, OpportunityUpdateSchema, SolutionCreateSchema, SolutionSchema,
    SolutionUpdateSchema, TransitionOptionSchema, TransitionRequestSchema, TransitionResultSchema,
    CheckSchema, TickSchema, UntickQuerySchema, WithdrawalSchema, WithdrawnSchema,
)
from govern.errors import NotFound
from govern.model import ApprovalRequest, Opportunity, Solution
from govern.queries.listings import opportunity_listing
from govern.queries.portfolio import PortfolioFilter
from govern.services import opportunities as opportunity_service
from govern.services.common import OPP_REF, get_opportunity
from govern.workflows import checklist, services as lifecycle

blp = Blueprint("opportunities", __name__, url_prefix="/opportunities",
                description="Opportunities, their lifecycle, approvals and solutions")

SORTS = {"number": Opportunity.number, "title": Opportunity.title, "state": Opportunity.state,
         "updated_at": Opportunity.updated_at, "created_at": Opportunity.created_at,
         "state_changed_at": Opportunity.state_changed_at, "id": Opportunity.id}
ETAG_HEADER = {"ETag": {"description": "the opportunity's version; send it as If-Match to change it safely",
                        "schema": {"type": "string"}}}
IF_MATCH = {"in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
            "description": "the ETag you loaded (e.g. \"3\"); a newer version on the server answers 412"}


def load(key: str) -> Opportunity:
    """An opportunity by key (OPP-12) or number; anything else is not found (never a database error)."""
    match = OPP_REF.match(key.strip())
    if not match or len(match.group(1)) > 9:
        raise NotFound(f"unknown opportunity '{key}' (use its key, e.g. OPP-12)", {"opportunity": key})
    return get_opportunity(db_session(), key)


def _with_etag(opp: Opportunity, status: int = 200):
    return opp, status, {"ETag": etag_for(opp.version)}


@blp.route("")
@blp.arguments(OpportunityQuerySchema, location="query")
@blp.response(200, OpportunitySchema(many=True))
@blp.paginate(SelectPage, page_size=50, max_page_size=500)
@blp.errors(404)
def list_opportunities(args):
    """The portfolio, filtered by journey (that journey and every journey below it), state, owner, persona, text, and
    `open` (only opportunities in an open state: kind active or evaluation); sortable. An unknown journey, owner or
    persona is a 404 naming it."""
    current_actor().require("read")
    flt = PortfolioFilter(open_only=bool(args.get("open")), journey=args.get("journey"), owner=args.get("owner"),
                          persona=args.get("persona"), states=(args["state"],) if args.get("state") else (),
                          text=args.get("q"))
    return opportunity_listing(db_session(), flt, sort_clause(args.get("sort"), SORTS, "number"))


@blp.route("", methods=["POST"])
@blp.arguments(OpportunityCreateSchema)
@blp.response(201, OpportunitySchema, headers=ETAG_HEADER)
@blp.errors(403, 404, 422)
def create_opportunity(data):
    """Create an opportunity linked to every journey it touches; it starts in the lifecycle's initial state."""
    opp = opportunity_service.create_opportunity(db_session(), current_actor(), **data)
    return _with_etag(opp, 201)


@blp.route("/<key>")
@blp.response(200, OpportunitySchema, headers=ETAG_HEADER)
@blp.errors(404)
def get_opportunity_view(key: str):
    current_actor().require("read")
    return _with_etag(load(key))


@blp.route("/<key>", methods=["PATCH"])
@blp.arguments(OpportunityUpdateSchema)
@blp.response(200, OpportunitySchema, headers=ETAG_HEADER)
@blp.doc(parameters=[IF_MATCH])
@blp.errors(403, 404, 412, 422)
def update_opportunity(data, key: str):
    """Edit the statement, description, owner, journeys, evidence or targeted KPIs (needs opportunity.edit)."""
    opp = load(key)
    opp = opportunity_service.update_opportunity(db_session(), current_actor(), opp.id,
                                                 expected_version=if_match_version(), **data)
    return _with_etag(opp)


@blp.route("/<key>/insights", methods=["POST"])
@blp.arguments(EvidenceLinksSchema)
@blp.response(200, OpportunitySchema, headers=ETAG_HEADER)
@blp.doc(parameters=[IF_MATCH])
@blp.errors(403, 404, 412, 422)
def link_evidence(data, key: str):
    """Add evidence to the opportunity, keeping what it has (needs evidence.link)."""
    opp = load(key)
    opp = opportunity_service.link_evidence(db_session(), current_actor(), opp.id, data["insights"],
                                            expected_version=if_match_version())
    return _with_etag(opp)


# --- the lifecycle ------------------------------------------------------------------------------------------------------


@blp.route("/<key>/withdraw", methods=["POST"])
@blp.arguments(WithdrawalSchema)
@blp.response(200, WithdrawnSchema)
@blp.errors(403, 404, 409)
def withdraw_opportunity(data, key: str):
    """Its author takes back an opportunity of their own while it is in the lifecycle's first state (the audit log
    keeps it; its evidence stays)."""
    opp = load(key)
    withdrawn = opportunity_service.withdraw_opportunity(db_session(), current_actor(), opp.id,
                                                         reason=data.get("reason"))
    return {"opportunity": withdrawn, "withdrawn": True}


@blp.route("/<key>/transitions")
@blp.response(200, TransitionOptionSchema(many=True))
@blp.errors(404)
def available_transitions(key: str):
    """Every transition from the current state: guards met or not (in plain words), who approves, may you ask."""
    opp = load(key)
    return lifecycle.available_transitions(db_session(), current_actor(), opp)


@blp.route("/<key>/transitions", methods=["POST"])
@blp.arguments(TransitionRequestSchema)
@blp.response(200, TransitionResultSchema, description="moved now", headers=ETAG_HEADER)
@blp.alt_response(202, schema=TransitionResultSchema, description="an approval request now awaits a decision")
@blp.doc(parameters=[IF_MATCH])
@blp.errors(403, 404, 409, 412, 422)
def request_transition(data, key: str):
    """Move the opportunity (`to` a state, or by `trigger`), or request the move when it needs approval.

    Unmet guards answer 409 with every unmet guard in `details.unmet`; a pending request already open answers 409.
    """
    opp = load(key)
    result = lifecycle.request_transition(db_session(), current_actor(), opp.id, data.get("trigger") or data["to"],
                                          reason=data.get("reason"), expected_version=if_match_version())
    return result.to_dict(), 200 if result.moved else 202, {"ETag": etag_for(result.opportunity.version)}


@blp.route("/<key>/checks")
@blp.response(200, CheckSchema(many=True))
@blp.errors(404)
def checks(key: str):
    """The lifecycle's checks (checklist guards) for this opportunity: ticked or not, by whom, may you tick."""
    return checklist.checklist(db_session(), current_actor(), load(key))


@blp.route("/<key>/checks/<check>", methods=["POST"])
@blp.arguments(TickSchema)
@blp.response(201, CheckSchema)
@blp.errors(403, 404, 409, 422)
def tick(data, key: str, check: str):
    """Tick a check (its tickers may), with an optional link to its evidence and a note."""
    opp = load(key)
    checklist.tick_check(db_session(), current_actor(), opp.id, check, link=data.get("link"), note=data.get("note"))
    return next(c for c in checklist.checklist(db_session(), current_actor(), opp) if c["check"] == check)


@blp.route("/<key>/checks/<check>", methods=["DELETE"])
@blp.arguments(UntickQuerySchema, location="query")
@blp.response(204)
@blp.errors(403, 404, 409, 422)
def untick(args, key: str, check: str):
    """Take a tick back (its tickers may); the audit log keeps both."""
    checklist.untick_check(db_session(), current_actor(), load(key).id, check, reason=args.get("reason"))
    return None


@blp.route("/<key>/history")
@blp.response(200, HistoryEntrySchema(many=True))
@blp.errors(404)
def history(key: str):
    """The lifecycle story from the audit log: transitions, requests and decisions, with guard results."""
    opp = load(key)
    return lifecycle.opportunity_history(db_session(), current_actor(), opp.id)


@blp.route("/<key>/approvals")
@blp.arguments(ApprovalQuerySchema, location="query")
@blp.response(200, ApprovalRequestSchema(many=True))
@blp.errors(404)
def approvals(args, key: str):
    """Transition requests for this opportunity (filter `status=pending` for those awaiting a decision)."""
    current_actor().require("read")
    opp = load(key)
    query = sa.select(ApprovalRequest).where(ApprovalRequest.opportunity_id == opp.id).order_by(ApprovalRequest.id)
    if args.get("status"):
        query = query.where(ApprovalRequest.status == args["status"])
    return [lifecycle.request_dict(r) for r in db_session().scalars(query)]


# --- solutions ----------------------------------------------------------------------------------------------------------


@blp.route("/<key>/solutions")
@blp.response(200, SolutionSchema(many=True))
@blp.errors(404)
def list_solutions(key: str):
    current_actor().require("read")
    return load(key).solutions


@blp.route("/<key>/solutions", methods=["POST"])
@blp.arguments(SolutionCreateSchema)
@blp.response(201, SolutionSchema)
@blp.errors(403, 404, 422)
def add_solution(data, key: str):
    """Add concrete work; the lifecycle turns it into a backlog item when the opportunity enters implement."""
    opp = load(key)
    return opportunity_service.add_solution(db_session(), current_actor(), opp.id, **data)


@blp.route("/<key>/solutions/<id:solution_id>", methods=["PATCH"])
@blp.arguments(SolutionUpdateSchema)
@blp.response(200, SolutionSchema)
@blp.errors(403, 404, 422)
def update_solution(data, key: str, solution_id: int):
    """Record a solution's progress by hand (the Jira sync does this too)."""
    opp = load(key)
    solution = db_session().get(Solution, solution_id)
    if solution is None or solution.opportunity_id != opp.id:
        raise NotFound(f"{opp.key} has no solution {solution_id}", {"solution": solution_id})
    # Marking the last solution done lets the lifecycle move on (its `auto` rule), as when Jira reports it.
    solution, _ = lifecycle.record_solution_progress(db_session(), current_actor(), solution_id, data["state"],
                                                     external_status=data.get("external_status"))
    return solution
