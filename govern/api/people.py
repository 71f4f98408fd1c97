"""People in the organisation: who they are, their council seats, the journeys they own; their sign-in password."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from govern.http.openapi import Blueprint, SelectPage, like_pattern, sort_clause
from govern.http.request import current_actor, db_session
from govern.api.schemas import (
    PasswordSchema, PeopleQuerySchema, PersonCreateSchema, PersonSchema, PersonUpdateSchema,
)
from govern.model import CouncilSeat, Journey, Person
from govern.services import people as people_service
from govern.services.common import get_person

blp = Blueprint("people", __name__, url_prefix="/people", description="People, their seats and the journeys they own")

SORTS = {"handle": Person.handle, "name": Person.name, "created_at": Person.created_at, "id": Person.id}


@blp.route("")
@blp.arguments(PeopleQuerySchema, location="query")
@blp.response(200, PersonSchema(many=True))
@blp.paginate(SelectPage, page_size=50, max_page_size=200)
@blp.errors()
def list_people(args):
    """Everyone, filtered by text, role or active flag."""
    current_actor().require("read")
    # Everyone's seats in one statement for the page (their journeys' keys come from the reference snapshot).
    query = (sa.select(Person).options(selectinload(Person.seats))
             .order_by(*sort_clause(args.get("sort"), SORTS, "handle")))
    if args.get("q"):
        pattern = like_pattern(args["q"])
        query = query.where(sa.or_(*(sa.func.lower(sa.func.coalesce(col, "")).like(pattern, escape="\\")
                                     for col in (Person.handle, Person.name, Person.email, Person.title,
                                                 Person.department))))
    role = args.get("role")
    if role == "admin":
        query = query.where(Person.is_admin.is_(True))
    elif role == "owner":
        query = query.where(Person.id.in_(sa.select(Journey.owner_id).where(Journey.owner_id.is_not(None))))
    elif role:
        query = query.where(Person.id.in_(sa.select(CouncilSeat.person_id).where(CouncilSeat.role == role)))
    if "active" in args:
        query = query.where(Person.active.is_(args["active"]))
    return query


@blp.route("", methods=["POST"])
@blp.arguments(PersonCreateSchema)
@blp.response(201, PersonSchema)
@blp.errors(403, 409, 422)
def create_person(data):
    """Add a person (needs person.manage)."""
    return people_service.create_person(db_session(), current_actor(), **data)


@blp.route("/<handle>")
@blp.response(200, PersonSchema)
@blp.errors(404)
def get_person_view(handle: str):
    current_actor().require("read")
    return get_person(db_session(), handle)


@blp.route("/<handle>", methods=["PATCH"])
@blp.arguments(PersonUpdateSchema)
@blp.response(200, PersonSchema)
@blp.errors(403, 404, 409, 422)
def update_person(data, handle: str):
    """Change a person's details, admin flag or active flag (needs person.manage)."""
    return people_service.update_person(db_session(), current_actor(), handle, **data)


@blp.route("/<handle>/password", methods=["PUT"])
@blp.arguments(PasswordSchema)
@blp.response(204)
@blp.errors(403, 404, 422)
def set_password(data, handle: str):
    """Set a sign-in password: your own (give `current_password`), or someone else's as an administrator
    (person.set_password: they must choose their own at the next sign-in and are told)."""
    people_service.set_password(db_session(), current_actor(), handle, data["password"],
                                current_password=data.get("current_password"))
    return None
