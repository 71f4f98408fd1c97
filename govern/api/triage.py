"""Triage and themes: evidence that matches no step, waiting with suggested steps, and themes across a pile.

Linking a triage item is one call to the existing link endpoint (`POST /api/v1/insights/<key>/steps`).
"""

from __future__ import annotations

from govern.api.schemas import ThemesQuerySchema, ThemesSchema, TriagePageSchema, TriageQuerySchema
from govern.http.openapi import Blueprint
from govern.http.request import current_actor, db_session
from govern.queries.triage import themes_view, triage_page

blp = Blueprint("evidence_triage", __name__, url_prefix="/evidence",
                description="Triage of evidence that matches no step, and themes (suggestions, computed locally)")


@blp.route("/triage")
@blp.arguments(TriageQuerySchema, location="query")
@blp.response(200, TriagePageSchema)
@blp.errors(422)
def triage(args):
    """Evidence waiting for a step that you sort (by its source's journeys; see the playbook), newest first, each
    with suggested steps and likely duplicates on the page (labelled suggestions). Paged."""
    actor = current_actor()
    actor.require("read")
    return triage_page(db_session(), actor, page=args["page"], per_page=args["page_size"])


@blp.route("/themes")
@blp.arguments(ThemesQuerySchema, location="query")
@blp.response(200, ThemesSchema)
@blp.errors(422)
def themes(args):
    """Themes across your triage (default), all evidence, or one journey's: the most recent insights (at most
    `cap`) clustered, each theme with its size, top words and a suggested step."""
    actor = current_actor()
    actor.require("read")
    scope = "journey" if args.get("journey") else args["scope"]
    return themes_view(db_session(), actor, scope=scope, journey=args.get("journey"))
