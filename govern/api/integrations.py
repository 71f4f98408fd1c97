"""Integrations: which are enabled, and a Jira sync on demand (push what waits, pull what changed)."""

from __future__ import annotations

from marshmallow import Schema, fields

from govern.http.errors import ErrorResponseSchema, error_response
from govern.http.openapi import Blueprint
from govern.http.request import current_actor, db_session, runtime
from govern.integrations.jira.adapter import Patience, classify
from govern.integrations.jira.sync import JiraNotConfigured, sync_now

blp = Blueprint("integrations", __name__, url_prefix="/integrations", description="Jira and Slack")


class IntegrationsSchema(Schema):
    jira = fields.String(metadata={"description": "enabled | disabled"})
    slack = fields.String(metadata={"description": "enabled | disabled"})


class SyncRequestSchema(Schema):
    dry_run = fields.Boolean(load_default=False, metadata={"description": "show what would change; write nothing"})


class SyncSummarySchema(Schema):
    dry_run = fields.Boolean()
    created = fields.Integer()
    updated = fields.Integer()
    failed = fields.Integer()
    unchanged = fields.Integer()
    waiting = fields.Integer()
    lifecycle = fields.List(fields.String())
    errors = fields.List(fields.String())
    would_create = fields.List(fields.String())


@blp.route("")
@blp.response(200, IntegrationsSchema)
@blp.errors()
def status():
    """Which integrations this installation has configured (unset ones are disabled, never broken)."""
    current_actor().require("read")
    config = runtime().config
    return {"jira": "enabled" if config.jira_enabled else "disabled",
            "slack": "enabled" if config.slack_enabled else "disabled"}


@blp.route("/jira/sync", methods=["POST"])
@blp.arguments(SyncRequestSchema)
@blp.response(200, SyncSummarySchema)
@blp.alt_response(502, schema=ErrorResponseSchema, description="Jira answered with an error or could not be reached")
@blp.errors(403, 409, 422)
def jira_sync(data):
    """Push the solutions waiting for the backlog and pull status back, now (needs integration.sync).

    409 `integration_disabled` when Jira is not configured.
    """
    # The sync runs on its own sessions and takes no actor; the permission is checked here, at its one HTTP door.
    current_actor().require("integration.sync")
    db_session().rollback()  # end the request's transaction: the sync writes on its own sessions (SQLite: one writer)
    try:
        # An HTTP request waits out a short rate limit, not an outage: the worker and the reconciler carry on.
        summary = sync_now(runtime(), dry_run=data["dry_run"], patience=Patience(wait_seconds=10))
    except JiraNotConfigured as exc:
        return error_response("integration_disabled", str(exc), 409)
    except Exception as exc:  # noqa: BLE001 - Jira down or refusing: say so plainly, as the CLI does
        return error_response("upstream_error", f"Jira sync stopped: {classify(exc).message}", 502)
    return {"dry_run": data["dry_run"], "created": summary.created, "updated": summary.updated,
            "failed": summary.failed, "unchanged": summary.unchanged, "waiting": summary.waiting,
            "lifecycle": list(summary.lifecycle), "errors": list(summary.errors),
            "would_create": list(summary.would_create)}
