"""Where the Slack copies of a notification are: `external_ref` holds `channel=ID@ts,…` (or `channel=switched-off`)
for every place a message has landed, so a retry posts only where it has not, and a decision updates each copy of an
approval request once."""

from __future__ import annotations

import sqlalchemy as sa

from govern.model import OutboxMessage
from govern.workflows.services import approval_notice_key


def parse_ref(ref: str | None) -> dict[str, str]:
    """`name=ID@ts,other=switched-off` → {name: "ID@ts", other: "switched-off"}."""
    out: dict[str, str] = {}
    for part in (ref or "").split(","):
        channel, sep, where = part.partition("=")
        if sep and channel:
            out[channel] = where
    return out


def format_ref(done: dict[str, str]) -> str | None:
    text = ",".join(f"{c}={where}" for c, where in done.items())
    return text[:200] or None


def record_outcome_shown(db, request_id: int, channel_id: str, ts: str) -> None:
    """An Approve/Reject press already showed the outcome on this copy of the request (chat.update): the request's
    `approval.decided` notification leaves that copy alone, so each copy is updated once."""
    with db.session_scope() as session:
        message = session.scalar(sa.select(OutboxMessage).where(
            OutboxMessage.dedupe_key == approval_notice_key(request_id, "decided")))
        if message is None or message.status == "delivered":
            return
        done = parse_ref(message.external_ref)
        done.setdefault(channel_id, f"{channel_id}@{ts}")
        message.external_ref = format_ref(done)
        session.commit()
