"""Opportunities: statement, state, owner and links."""

import sqlalchemy as sa
from flask_smorest import Blueprint

from govern.api.common import current_actor, db_session
from govern.api.schemas import OpportunitySchema
from govern.model import Opportunity
from govern.services.common import get_opportunity

blp = Blueprint("opportunities", __name__, url_prefix="/opportunities", description="Opportunities")


@blp.route("")
@blp.response(200, OpportunitySchema(many=True))
def list_opportunities():
    current_actor().require("read")
    return db_session().scalars(sa.select(Opportunity).order_by(Opportunity.number)).all()


@blp.route("/<key>")
@blp.response(200, OpportunitySchema)
def get_opportunity_view(key: str):
    current_actor().require("read")
    return get_opportunity(db_session(), key)
