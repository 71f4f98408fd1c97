"""The audit trail: every change and decision, hash-chained; filter by entity, action, actor or time."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from govern import audit as audit_log
from govern.http.openapi import Blueprint, SelectPage, sort_clause
from govern.http.request import current_actor, db_session
from govern.api.schemas import AuditEventSchema, AuditQuerySchema, VerifySchema
from govern.model import AuditEvent

blp = Blueprint("audit", __name__, url_prefix="/audit", description="The audit trail")

SORTS = {"id": AuditEvent.id}


@blp.route("/events")
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, AuditEventSchema(many=True))
@blp.paginate(SelectPage, page_size=100, max_page_size=1000)
@blp.errors()
def list_events(args):
    """Audit events, oldest first; `after_id` works as a cursor for following the trail."""
    current_actor().require("read")
    query = sa.select(AuditEvent).order_by(*sort_clause(args.get("sort"), SORTS, "id"))
    if args.get("entity_type"):
        query = query.where(AuditEvent.entity_type == args["entity_type"])
    if args.get("entity_id"):
        query = query.where(AuditEvent.entity_id == args["entity_id"])
    action = args.get("action")
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True) if action.endswith(".")
                            else AuditEvent.action == action)
    if args.get("actor"):
        query = query.where(AuditEvent.actor == args["actor"])
    if args.get("since"):
        since = args["since"].astimezone(dt.timezone.utc).replace(tzinfo=None)
        query = query.where(AuditEvent.at >= since)
    if args.get("after_id") is not None:
        query = query.where(AuditEvent.id > args["after_id"])
    return query


@blp.route("/verify")
@blp.response(200, VerifySchema)
@blp.errors()
def verify():
    """Walk the hash chain; name the first event that was edited, removed or inserted."""
    current_actor().require("read")
    result = audit_log.verify(db_session())
    return {"ok": result.ok, "checked": result.checked, "first_broken_id": result.first_broken_id,
            "problem": result.problem}
