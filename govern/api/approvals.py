"""Transition requests awaiting approval: what awaits me, approve, reject (reason required), withdraw."""

from __future__ import annotations

from govern.http.openapi import Blueprint, SelectPage, if_match_version, sort_clause
from govern.http.request import current_actor, db_session
from govern.api.schemas import ApprovalQuerySchema, ApprovalRequestSchema, DecisionSchema, TransitionResultSchema
from govern.errors import NotFound
from govern.model import ApprovalRequest
from govern.queries.listings import request_listing
from govern.services.common import OPP_REF
from govern.workflows import services as lifecycle

blp = Blueprint("approvals", __name__, url_prefix="/approvals", description="Transition requests and their approval")

SORTS = {"created_at": ApprovalRequest.created_at, "id": ApprovalRequest.id}
IF_MATCH = {"in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
            "description": "the request's version you saw (e.g. \"2\"); a newer one answers 412"}


class _RequestPage(SelectPage):
    """Pages of approval requests, sent in the same shape as everywhere else (with their votes and rule)."""

    @property
    def items(self) -> list:
        return [lifecycle.request_dict(r) for r in super().items]


@blp.route("")
@blp.arguments(ApprovalQuerySchema, location="query")
@blp.response(200, ApprovalRequestSchema(many=True))
@blp.paginate(_RequestPage, page_size=50, max_page_size=500)
@blp.errors()
def list_requests(args):
    """Every transition request, newest first; filter by status or opportunity."""
    current_actor().require("read")
    number = int(OPP_REF.match(args["opportunity"]).group(1)) if args.get("opportunity") else None
    return request_listing(sort_clause(args.get("sort"), SORTS, "-id"), status=args.get("status"),
                           opportunity_number=number)


@blp.route("/awaiting")
@blp.response(200, ApprovalRequestSchema(many=True))
@blp.errors()
def awaiting_me():
    """What awaits me: pending requests I may approve now, oldest first, with what my approval counts for."""
    actor = current_actor()
    actor.require("read")
    return [item.to_dict() for item in lifecycle.pending_for(db_session(), actor)]


@blp.route("/<id:request_id>")
@blp.response(200, ApprovalRequestSchema)
@blp.errors(404)
def get_request(request_id: int):
    current_actor().require("read")
    request = db_session().get(ApprovalRequest, request_id)
    if request is None:
        raise NotFound(f"unknown approval request #{request_id}", {"request": request_id})
    return lifecycle.request_dict(request)


@blp.route("/<id:request_id>/approve", methods=["POST"])
@blp.arguments(DecisionSchema)
@blp.response(200, TransitionResultSchema)
@blp.doc(parameters=[IF_MATCH])
@blp.errors(403, 404, 409, 412, 422)
def approve(data, request_id: int):
    """Approve as yourself; when the approval rule is then met the transition happens at once.

    Separation of duties: the requester never approves (403). Already decided, or a second press: 409.
    """
    result = lifecycle.approve_request(db_session(), current_actor(), request_id, reason=data.get("reason"),
                                       expected_version=if_match_version())
    return result.to_dict()


@blp.route("/<id:request_id>/reject", methods=["POST"])
@blp.arguments(DecisionSchema)
@blp.response(200, ApprovalRequestSchema)
@blp.doc(parameters=[IF_MATCH])
@blp.errors(403, 404, 409, 412, 422)
def reject(data, request_id: int):
    """Reject a pending request; a reason is required."""
    request = lifecycle.reject_request(db_session(), current_actor(), request_id, data.get("reason") or "",
                                       expected_version=if_match_version())
    return lifecycle.request_dict(request)


@blp.route("/<id:request_id>/withdraw", methods=["POST"])
@blp.arguments(DecisionSchema)
@blp.response(200, ApprovalRequestSchema)
@blp.errors(403, 404, 409, 422)
def withdraw(data, request_id: int):
    """Withdraw a pending request: its requester may, and so may the council (admin, lead, manager)."""
    request = lifecycle.withdraw_request(db_session(), current_actor(), request_id, reason=data.get("reason"))
    return lifecycle.request_dict(request)
