"""Journeys in their hierarchy, with their stages, steps and children; changes go through the journey services."""

from __future__ import annotations

import sqlalchemy as sa

from govern.http.openapi import Blueprint, SelectPage, sort_clause
from govern.http.request import current_actor, db_session
from govern.api.schemas import (
    InsightSchema, JourneyCreateSchema, JourneyQuerySchema, JourneySchema, JourneySummarySchema, JourneyUpdateSchema,
    StageCreateSchema, StageSchema, StepCreateSchema, StepDeleteQuerySchema, StepSchema, StepUpdateSchema,
)
from govern.model import Insight, Journey, insight_step
from govern.queries.listings import journey_listing
from govern.services import journeys as journey_service
from govern.services.common import get_journey, get_step

blp = Blueprint("journeys", __name__, url_prefix="/journeys", description="Journeys in their hierarchy")

SORTS = {"position": Journey.position, "key": Journey.key, "name": Journey.name, "level": Journey.level,
         "updated_at": Journey.updated_at, "id": Journey.id}


@blp.route("")
@blp.arguments(JourneyQuerySchema, location="query")
@blp.response(200, JourneySummarySchema(many=True))
@blp.paginate(SelectPage, page_size=100, max_page_size=500)
@blp.errors()
def list_journeys(args):
    """Journeys, parents before children by default; filter by parent, level, owner, ownership gap or text."""
    current_actor().require("read")
    if args.get("sort"):
        order = sort_clause(args["sort"], SORTS, "position")
    else:
        order = [Journey.parent_id.is_not(None), Journey.parent_id, Journey.position, Journey.id]
    return journey_listing(order, text=args.get("q"), parent=args.get("parent"), level=args.get("level"),
                           owner=args.get("owner"), ownerless=args.get("ownerless"))


@blp.route("", methods=["POST"])
@blp.arguments(JourneyCreateSchema)
@blp.response(201, JourneySchema)
@blp.errors(403, 404, 409, 422)
def create_journey(data):
    """Create a journey, optionally below a parent and detailing one of its steps (needs journey.manage)."""
    return journey_service.create_journey(db_session(), current_actor(), **data)


@blp.route("/<key>")
@blp.response(200, JourneySchema)
@blp.errors(404)
def get_journey_view(key: str):
    """A journey with its stages and steps."""
    current_actor().require("read")
    return get_journey(db_session(), key)


@blp.route("/<key>", methods=["PATCH"])
@blp.arguments(JourneyUpdateSchema)
@blp.response(200, JourneySchema)
@blp.errors(403, 404, 422)
def update_journey(data, key: str):
    """Change name, description or channel (journey.edit); level, parent or owner (journey.manage)."""
    return journey_service.update_journey(db_session(), current_actor(), key, **data)


@blp.route("/<key>", methods=["DELETE"])
@blp.response(204)
@blp.errors(403, 404, 409)
def delete_journey(key: str):
    """Remove a journey; refused (409) while evidence, opportunities, children or KPIs refer to it."""
    journey_service.delete_journey(db_session(), current_actor(), key)
    return None


@blp.route("/<key>/children")
@blp.response(200, JourneySummarySchema(many=True))
@blp.errors(404)
def list_children(key: str):
    """The journeys directly below this one."""
    current_actor().require("read")
    return get_journey(db_session(), key).children


@blp.route("/<key>/stages")
@blp.response(200, StageSchema(many=True))
@blp.errors(404)
def list_stages(key: str):
    current_actor().require("read")
    return get_journey(db_session(), key).stages


@blp.route("/<key>/stages", methods=["POST"])
@blp.arguments(StageCreateSchema)
@blp.response(201, StageSchema)
@blp.errors(403, 404, 409, 422)
def add_stage(data, key: str):
    """Add a stage (a chapter: before, during, after …) (needs journey.edit on this journey)."""
    return journey_service.add_stage(db_session(), current_actor(), key, **data)


@blp.route("/<key>/steps")
@blp.response(200, StepSchema(many=True))
@blp.errors(404)
def list_steps(key: str):
    current_actor().require("read")
    return get_journey(db_session(), key).steps


@blp.route("/<key>/steps", methods=["POST"])
@blp.arguments(StepCreateSchema)
@blp.response(201, StepSchema)
@blp.errors(403, 404, 409, 422)
def add_step(data, key: str):
    """Add a step, in a stage, with touchpoint, channel, moment-that-matters flag and emotion (-2..2)."""
    return journey_service.add_step(db_session(), current_actor(), key, **data)


@blp.route("/<key>/steps/<step>")
@blp.response(200, StepSchema)
@blp.errors(404, 422)
def get_step_view(key: str, step: str):
    current_actor().require("read")
    return get_step(db_session(), f"{key}/{step}")


@blp.route("/<key>/steps/<step>", methods=["PATCH"])
@blp.arguments(StepUpdateSchema)
@blp.response(200, StepSchema)
@blp.errors(403, 404, 422)
def update_step(data, key: str, step: str):
    return journey_service.update_step(db_session(), current_actor(), f"{key}/{step}", **data)


@blp.route("/<key>/steps/<step>", methods=["DELETE"])
@blp.arguments(StepDeleteQuerySchema, location="query")
@blp.response(204)
@blp.errors(403, 404, 409, 422)
def delete_step(args, key: str, step: str):
    """Remove a step; its evidence moves to `move_evidence_to`, or the removal is refused (409)."""
    journey_service.delete_step(db_session(), current_actor(), f"{key}/{step}",
                                move_evidence_to=args.get("move_evidence_to"))
    return None


@blp.route("/<key>/steps/<step>/insights")
@blp.response(200, InsightSchema(many=True))
@blp.errors(404, 422)
def list_step_insights(key: str, step: str):
    """The evidence attached to one step."""
    current_actor().require("read")
    session = db_session()
    target = get_step(session, f"{key}/{step}")
    return session.scalars(sa.select(Insight).where(Insight.id.in_(
        sa.select(insight_step.c.insight_id).where(insight_step.c.step_id == target.id))).order_by(Insight.number)).all()
