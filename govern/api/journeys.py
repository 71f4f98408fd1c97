"""Journeys: the hierarchy, with stages, steps and children."""

import sqlalchemy as sa
from flask_smorest import Blueprint

from govern.api.common import current_actor, db_session
from govern.api.schemas import JourneySchema
from govern.model import Journey
from govern.services.common import get_journey

blp = Blueprint("journeys", __name__, url_prefix="/journeys", description="Journeys in their hierarchy")


@blp.route("")
@blp.response(200, JourneySchema(many=True))
def list_journeys():
    """Every journey, parents before children."""
    current_actor().require("read")
    return db_session().scalars(sa.select(Journey).order_by(Journey.parent_id.nulls_first(), Journey.position,
                                                            Journey.id)).all()


@blp.route("/<key>")
@blp.response(200, JourneySchema)
def get_journey_view(key: str):
    current_actor().require("read")
    return get_journey(db_session(), key)
