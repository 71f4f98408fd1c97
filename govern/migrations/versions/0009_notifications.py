"""notifications: the outbox messages for Slack become chat-neutral notification events

Producers used to write topic "slack" with Slack-specific kinds and flat payloads (rituals even pre-rendered Block
Kit blocks). They now write topic "notifications" with an event name and {about, audience, facts}
(govern.notifications); each chat adapter renders them. This moves the rows already queued, so nothing waiting is lost
and a decision still finds the message its request was posted as. No schema change.

Revision ID: 0009_notifications
Revises: 0007_ops
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009_notifications"
down_revision = "0007_ops"
branch_labels = None
depends_on = None

outbox = sa.table("outbox_message", sa.column("id", sa.Integer), sa.column("topic", sa.String),
                  sa.column("kind", sa.String), sa.column("payload", sa.JSON))

# old kind (and its aliases) → event
EVENTS = {
    "transition": "opportunity.moved", "transition.notify": "opportunity.moved",
    "approval_request": "approval.requested", "approval.requested": "approval.requested",
    "approval_outcome": "approval.decided", "approval.decided": "approval.decided",
    "agenda": "ritual.agenda", "ritual_agenda": "ritual.agenda",
    "evaluation_due": "evaluation.due", "evaluation.due": "evaluation.due",
    "ownership_gap": "journey.ownership_gap", "ownership.gap": "journey.ownership_gap",
}
KINDS = {"opportunity.moved": "transition", "approval.requested": "approval_request",
         "approval.decided": "approval_outcome", "ritual.agenda": "agenda", "evaluation.due": "evaluation_due",
         "journey.ownership_gap": "ownership_gap"}
ABOUT = {
    "opportunity.moved": ("opportunity", "title", "journeys"),
    "approval.requested": ("request_id", "opportunity", "title", "journeys"),
    "approval.decided": ("request_id", "opportunity", "title", "journeys"),
    "ritual.agenda": ("ritual", "occurrence_id", "scheduled_at"),
    "evaluation.due": ("opportunity", "title", "journeys"),
    "journey.ownership_gap": ("journey", "name"),
}
NOT_FACTS = {"channel", "channels", "blocks", "markdown", "text"}


def _as_notification(event: str, old: dict[str, Any]) -> dict[str, Any]:
    about = {key: old[key] for key in ABOUT[event] if key in old}
    facts = {key: value for key, value in old.items() if key not in about and key not in NOT_FACTS}
    channels = [c for c in [old.get("channel"), *(old.get("channels") or [])] if c]
    if event == "ritual.agenda":
        about["name"] = ((old.get("agenda") or {}).get("ritual") or {}).get("name")
        facts["summary"] = old.get("text")
    if event == "journey.ownership_gap":
        facts["text"] = old.get("text")
    journeys = [] if channels else list(old.get("journeys") or [])
    council = not channels and not journeys and event in ("ritual.agenda", "journey.ownership_gap")
    return {"about": about, "facts": facts,
            "audience": {"journeys": journeys, "channels": channels, "people": [], "council": council}}


def _as_slack(old_kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    flat = {**(payload.get("facts") or {}), **(payload.get("about") or {})}
    audience = payload.get("audience") or {}
    if audience.get("channels"):
        flat["channel"] = audience["channels"][0]
    if audience.get("journeys"):
        flat["journeys"] = audience["journeys"]
    if old_kind == "agenda":
        flat["text"] = flat.pop("summary", None)
    return flat


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(outbox.c.id, outbox.c.kind, outbox.c.payload)
                              .where(outbox.c.topic == "slack")).all()
    for row in rows:
        event = EVENTS.get(row.kind)
        if event is None:
            continue  # not something this version produced: left as it is, visibly
        connection.execute(outbox.update().where(outbox.c.id == row.id).values(
            topic="notifications", kind=event, payload=_as_notification(event, dict(row.payload or {}))))


def downgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(outbox.c.id, outbox.c.kind, outbox.c.payload)
                              .where(outbox.c.topic == "notifications")).all()
    for row in rows:
        kind = KINDS.get(row.kind)
        if kind is None:
            continue
        connection.execute(outbox.update().where(outbox.c.id == row.id).values(
            topic="slack", kind=kind, payload=_as_slack(kind, dict(row.payload or {}))))
