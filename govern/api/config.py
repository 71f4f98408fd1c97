"""Governance as code over HTTP: check (dry run) or apply a govern.yaml (needs config.apply)."""

from __future__ import annotations

from govern.http.openapi import Blueprint
from govern.http.request import current_actor, db_session
from govern.api.schemas import ConfigApplySchema, PlanSchema
from govern.orgfile.load import apply_text

blp = Blueprint("config", __name__, url_prefix="/config", description="Governance as code")


@blp.route("/apply", methods=["POST"])
@blp.arguments(ConfigApplySchema)
@blp.response(200, PlanSchema)
@blp.errors(403, 409, 422)
def apply(data):
    """Validate a govern.yaml and apply it (or, with dry_run, list the changes it would make).

    Errors name their place in the file (`journeys[3].owner: unknown person 'ana'`); a removal that would orphan
    evidence is refused (409) and nothing changes.
    """
    plan = apply_text(db_session(), current_actor(), data["yaml"], source="request", dry_run=data["dry_run"])
    return {"applied": not data["dry_run"] and not plan.empty, "empty": plan.empty, "changes": plan.lines(),
            "refusals": list(plan.refusals)}
