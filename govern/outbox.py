"""The outbox: effects for the outside world are rows written in the caller's transaction, delivered later."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern.audit import jsonable
from govern.model import OutboxMessage, utcnow


def enqueue(
    session: Session,
    topic: str,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    not_before: dt.datetime | None = None,
) -> OutboxMessage | None:
    """Queue one message; with a dedupe key, a second enqueue of the same effect is a no-op (returns None)."""
    if dedupe_key is not None:
        existing = session.scalar(sa.select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key))
        if existing is not None:
            return None
    message = OutboxMessage(
        topic=topic, kind=kind, payload=jsonable(payload), dedupe_key=dedupe_key,
        status="pending", next_attempt_at=not_before or utcnow(),
    )
    session.add(message)
    session.flush()
    return message


def list_messages(session: Session, *, status: str | None = None, topic: str | None = None,
                  limit: int = 100) -> list[OutboxMessage]:
    query = sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        query = query.where(OutboxMessage.status == status)
    if topic:
        query = query.where(OutboxMessage.topic == topic)
    return list(session.scalars(query))


def counts_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status))
    return {status: n for status, n in rows}
