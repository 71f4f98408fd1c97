"""Evidence (insights): recorded once, linked to steps across journeys, never orphaned."""

from __future__ import annotations

from govern.http.openapi import Blueprint, SelectPage, sort_clause
from govern.http.request import current_actor, db_session
from govern.api.schemas import (
    InsightCreateSchema, InsightEditSchema, InsightQuerySchema, InsightSchema, MergeSchema, ReasonQuerySchema,
    RedactionSchema, StepLinksSchema, SuggestionsSchema,
)
from govern.model import Insight
from govern.queries.listings import insight_listing
from govern.queries.triage import likely_duplicates, suggestions_for
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
    """Record an insight (quote, survey, analytics, ticket …) with its source and date, linked to steps. The answer
    names likely duplicates (`likely_duplicates`: the same text, near enough; a suggestion) so a client can merge."""
    session = db_session()
    duplicates = likely_duplicates(session, data.get("text") or "", source=data.get("source"))
    insight = evidence_service.record_evidence(session, current_actor(), **data)
    insight.likely_duplicates = duplicates
    return insight


@blp.route("/<key>")
@blp.response(200, InsightSchema)
@blp.errors(404)
def get_insight_view(key: str):
    current_actor().require("read")
    return get_insight(db_session(), _ref(key))


@blp.route("/<key>", methods=["PATCH"])
@blp.arguments(InsightEditSchema)
@blp.response(200, InsightSchema)
@blp.errors(403, 404, 409, 422)
def edit_insight(data, key: str):
    """Correct an insight (any of text, source, kind, observed_on, url, volume, sentiment, tags, personas). Whoever
    recorded it may; else evidence.curate on its journeys. Setting `sentiment` clears `sentiment_suggested`."""
    return evidence_service.edit_evidence(db_session(), current_actor(), _ref(key), data)


@blp.route("/<key>/merge", methods=["POST"])
@blp.arguments(MergeSchema)
@blp.response(200, InsightSchema)
@blp.errors(403, 404, 409, 422)
def merge_insight(data, key: str):
    """Merge this duplicate into `into`: its steps, opportunity evidence, volume, personas and tags move to the
    survivor, which is returned; the duplicate keeps `merged_into` and is no longer listed or counted."""
    return evidence_service.merge_evidence(db_session(), current_actor(), _ref(key), _ref(data["into"]))


@blp.route("/<key>/suggestions")
@blp.response(200, SuggestionsSchema)
@blp.errors(404)
def insight_suggestions(key: str):
    """Suggestions, computed locally: steps it may belong to, likely duplicates and (when it has none) a sentiment."""
    current_actor().require("read")
    session = db_session()
    return suggestions_for(session, get_insight(session, _ref(key)))


@blp.route("/<key>", methods=["DELETE"])
@blp.arguments(ReasonQuerySchema, location="query")
@blp.response(204)
@blp.errors(403, 404, 409, 422)
def delete_insight(args, key: str):
    """Delete an insight (its recorder, or evidence.curate on its journeys; the audit log keeps its content). Refused
    (409) when it is the last evidence of an opportunity, naming it; else unlinked from the opportunities it supports."""
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
