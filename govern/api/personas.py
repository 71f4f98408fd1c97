"""Personas: need-based views that cross journeys."""

from __future__ import annotations

import sqlalchemy as sa

from govern.http.openapi import Blueprint
from govern.http.request import current_actor, db_session
from govern.api.schemas import PersonaCreateSchema, PersonaSchema
from govern.model import Persona
from govern.services import journeys as journey_service
from govern.services.common import get_persona

blp = Blueprint("personas", __name__, url_prefix="/personas", description="Personas")


@blp.route("")
@blp.response(200, PersonaSchema(many=True))
@blp.errors()
def list_personas():
    current_actor().require("read")
    return db_session().scalars(sa.select(Persona).order_by(Persona.key)).all()


@blp.route("", methods=["POST"])
@blp.arguments(PersonaCreateSchema)
@blp.response(201, PersonaSchema)
@blp.errors(403, 404, 409, 422)
def create_persona(data):
    """Create a persona and the journeys it is seen in (needs persona.manage)."""
    return journey_service.create_persona(db_session(), current_actor(), **data)


@blp.route("/<key>")
@blp.response(200, PersonaSchema)
@blp.errors(404)
def get_persona_view(key: str):
    current_actor().require("read")
    return get_persona(db_session(), key)
