"""Evidence (insights): recorded once, linked to steps across journeys, never orphaned."""

from __future__ import annotations

from govern.http.openapi import Blueprint, SelectPage, sort_clause
from govern.http.request import current_actor, db_session
from govern.api.schemas import (
    InsightCreateSchema, InsightQuerySchema, InsightSchema, ReasonQuerySchema, RedactionSchema, StepLinksSchema,
)
from govern.model import Insight
from govern.queries.listings import insight_listing
from govern.services import evidence as evidence_service
from govern.services.common import OPP_REF, get_insight

blp = Blueprint("insights", __name__, url_prefix="/insights", description="Evidence: quotes, surveys, analytics, tickets")

SORTS = {"number": Insight.number, "observed_on": Insight.observed_on, "source": Insight.source,
         "created_at": Insight.created_at, "id": Insight.id}


@blp.route("")
@blp.arguments(InsightQuerySchema, location="query")
@blp.response(200, InsightSchema(many=True))
@blp.paginate(SelectPage, page_size=50, max_page_size=500)
@blp.errors()
def list_insights(args):
    """Evidence, filtered by journey, step, kind, opportunity or text."""
    current_actor().require("read")
    number = None
    if args.get("opportunity"):
        match = OPP_REF.match(args["opportunity"].strip())
        number = int(match.group(1)) if match and len(match.group(1)) < 10 else -1
    return insight_listing(sort_clause(args.get("sort"), SORTS, "number"), text=args.get("q"), kind=args.get("kind"),
                           journey=args.get("journey"), step=args.get("step"), opportunity_number=number)


@blp.route("", methods=["POST"])
@blp.arguments(InsightCreateSchema)
@blp.response(201, InsightSchema)
@blp.errors(403, 404, 422)
def record_insight(data):
    """Record an insight (quote, survey, analytics, ticket …) with its source and date, linked to steps."""
    return evidence_service.record_evidence(db_session(), current_actor(), **data)


@blp.route("/<key>")
@blp.response(200, InsightSchema)
@blp.errors(404)
def get_insight_view(key: str):
    current_actor().require("read")
    return get_insight(db_session(), _ref(key))


@blp.route("/<key>", methods=["DELETE"])
@blp.arguments(ReasonQuerySchema, location="query")
@blp.response(204)
@blp.errors(403, 404, 409, 422)
def delete_insight(args, key: str):
    """Delete evidence nothing relies on (needs evidence.delete; the audit log keeps its content)."""
    evidence_service.delete_evidence(db_session(), current_actor(), _ref(key), reason=args["reason"])
    return None


@blp.route("/<key>/redaction", methods=["POST"])
@blp.arguments(RedactionSchema)
@blp.response(200, InsightSchema)
@blp.errors(403, 404, 409, 422)
def redact_insight(data, key: str):
    """Erase the insight's personal data (text, source) here and in the audit log; the insight, its links and the
    audit chain stay (needs evidence.delete)."""
    return evidence_service.redact_evidence(db_session(), current_actor(), _ref(key), reason=data["reason"])


@blp.route("/<key>/steps", methods=["POST"])
@blp.arguments(StepLinksSchema)
@blp.response(200, InsightSchema)
@blp.errors(403, 404, 422)
def link_to_steps(data, key: str):
    """Attach the insight to more steps, possibly in several journeys (needs evidence.link)."""
    return evidence_service.link_evidence_to_steps(db_session(), current_actor(), _ref(key), data["steps"])


@blp.route("/<key>/steps/<journey>/<step>", methods=["DELETE"])
@blp.response(200, InsightSchema)
@blp.errors(403, 404, 409, 422)
def unlink_from_step(key: str, journey: str, step: str):
    """Detach the insight from one step; refused (409) if that would orphan it."""
    return evidence_service.unlink_evidence_from_step(db_session(), current_actor(), _ref(key), f"{journey}/{step}")


def _ref(key: str) -> str:
    """INS-3 or 3; an absurdly long number is simply unknown (never a database error)."""
    digits = key.upper().removeprefix("INS-")
    return key if len(digits) < 10 else "INS-0"
