"""The journey council: who holds which seat (lead, manager, coordinator, supporter), scoped to which journey."""

from __future__ import annotations

import sqlalchemy as sa

from govern.http.openapi import Blueprint, SelectPage
from govern.http.request import current_actor, db_session
from govern.api.schemas import SeatCreateSchema, SeatQuerySchema, SeatSchema
from govern.model import COUNCIL_ROLES, CouncilSeat, Journey, Person
from govern.services import people as people_service

blp = Blueprint("council", __name__, url_prefix="/council", description="Council seats")


@blp.route("/seats")
@blp.arguments(SeatQuerySchema, location="query")
@blp.response(200, SeatSchema(many=True))
@blp.paginate(SelectPage, page_size=100, max_page_size=500)
@blp.errors()
def list_seats(args):
    """Every seat, by role order (lead, manager, coordinator, supporter)."""
    current_actor().require("read")
    order = sa.case({role: i for i, role in enumerate(COUNCIL_ROLES)}, value=CouncilSeat.role)
    query = sa.select(CouncilSeat).join(Person, Person.id == CouncilSeat.person_id).order_by(
        order, Person.handle, CouncilSeat.id)
    if args.get("role"):
        query = query.where(CouncilSeat.role == args["role"])
    if args.get("person"):
        query = query.where(Person.handle == args["person"])
    if args.get("journey"):
        query = query.where(CouncilSeat.journey_id.in_(sa.select(Journey.id).where(Journey.key == args["journey"])))
    return query


@blp.route("/seats", methods=["POST"])
@blp.arguments(SeatCreateSchema)
@blp.response(201, SeatSchema)
@blp.errors(403, 404, 409, 422)
def seat_member(data):
    """Seat a person in a role, optionally scoped to a journey and its subtree (needs council.manage)."""
    return people_service.seat_member(db_session(), current_actor(), person=data["person"], role=data["role"],
                                      journey=data.get("journey"))


@blp.route("/seats/<id:seat_id>", methods=["DELETE"])
@blp.response(204)
@blp.errors(403, 404)
def unseat_member(seat_id: int):
    """Remove a seat (needs council.manage)."""
    people_service.unseat_member(db_session(), current_actor(), seat_id)
    return None
