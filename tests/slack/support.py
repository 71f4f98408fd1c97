"""Small helpers for the Slack tests: what a Slack answer says, and delivering the outbox's Slack messages."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from govern.notifications import TOPIC


def said(answer: Any) -> str:
    """Every piece of text in a Slack message body (fallback text and blocks), joined, for assertions."""
    if not isinstance(answer, dict):
        return str(answer)
    parts = [str(answer.get("text", ""))]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                parts.append(node["text"])
            for value in node.values():
                if isinstance(value, (dict, list)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(answer.get("blocks", []))
    return "\n".join(parts)


def buttons(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message.get("blocks", []) if b.get("type") == "actions" for e in b["elements"]]


def deliver_slack(app) -> dict[str, int]:
    """Run the outbox worker over the notifications with the app's Slack deliverer until nothing is due."""
    from govern.integrations.slack.delivery import SlackDeliverer
    from govern.integrations.worker import OutboxWorker

    runtime = app.extensions["govern"]
    worker = OutboxWorker(runtime.db, [SlackDeliverer.from_runtime(runtime)], lease_seconds=30)
    return worker.drain([TOPIC])


def make_due(db, message_id: int) -> None:
    """As if the backoff were over: the message is due and its topic's pause (after a failed batch) has ended."""
    import datetime as dt

    from govern.model import OutboxMessage, OutboxTopicState, utcnow

    past = utcnow() - dt.timedelta(seconds=1)
    with db.session_scope() as s:
        message = s.get(OutboxMessage, message_id)
        message.next_attempt_at = past
        state = s.get(OutboxTopicState, message.topic)
        if state is not None and state.paused_until is not None:
            state.paused_until = past
        s.commit()


def outbox(db, kind: str | None = None):
    from govern.model import OutboxMessage

    with db.session_scope() as s:
        query = sa.select(OutboxMessage).where(OutboxMessage.topic == TOPIC).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        return list(s.scalars(query))
