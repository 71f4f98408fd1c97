"""The outbox: what waits to be delivered to Jira and Slack, what failed and why; retry a failed delivery."""

from __future__ import annotations

import sqlalchemy as sa

from govern import outbox as outbox_queue
from govern.http.openapi import Blueprint, SelectPage, sort_clause
from govern.http.request import current_actor, db_session
from govern.api.schemas import OutboxMessageSchema, OutboxQuerySchema, OutboxSummarySchema
from govern.errors import NotFound
from govern.model import OutboxMessage
from govern.integrations.worker import retry_message

blp = Blueprint("outbox", __name__, url_prefix="/outbox", description="Deliveries to Jira and Slack")

SORTS = {"id": OutboxMessage.id, "next_attempt_at": OutboxMessage.next_attempt_at}


@blp.route("/messages")
@blp.arguments(OutboxQuerySchema, location="query")
@blp.response(200, OutboxMessageSchema(many=True))
@blp.paginate(SelectPage, page_size=50, max_page_size=500)
@blp.errors()
def list_messages(args):
    """Messages, newest first; filter by status (pending, in_flight, delivered, failed, dead) and topic."""
    current_actor().require("read")
    query = sa.select(OutboxMessage).order_by(*sort_clause(args.get("sort"), SORTS, "-id"))
    if args.get("status"):
        query = query.where(OutboxMessage.status == args["status"])
    if args.get("topic"):
        query = query.where(OutboxMessage.topic == args["topic"])
    return query


@blp.route("/summary")
@blp.response(200, OutboxSummarySchema)
@blp.errors()
def summary():
    """How many messages are in each status."""
    current_actor().require("read")
    return {"counts": outbox_queue.counts_by_status(db_session())}


@blp.route("/messages/<id:message_id>")
@blp.response(200, OutboxMessageSchema)
@blp.errors(404)
def get_message(message_id: int):
    current_actor().require("read")
    message = db_session().get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(f"no outbox message {message_id}", {"id": message_id})
    return message


@blp.route("/messages/<id:message_id>/retry", methods=["POST"])
@blp.response(200, OutboxMessageSchema)
@blp.errors(403, 404, 409)
def retry(message_id: int):
    """Send a failed or dead message again, now (needs outbox.manage); other statuses answer 409."""
    return retry_message(db_session(), current_actor(), message_id)
