"""The outbox: effects for the outside world are rows written in the caller's transaction, delivered later."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached

from govern.audit import jsonable
from govern.db import core_connection, dialect_insert
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
    """Queue one message; with a dedupe key, a second enqueue of the same effect is a no-op (returns None).

    One INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, written at once (not through the unit of work):
    the answer is the stored message, attached to the session (changing it updates the row)."""
    now = utcnow()
    values = dict(topic=topic, kind=kind, payload=jsonable(payload), dedupe_key=dedupe_key, status="pending",
                  attempts=0, next_attempt_at=not_before or now, created_at=now)
    insert = _insert_statement(session, dedupe_key is not None)
    new_id = core_connection(session, autoflush=False).execute(insert, values).scalar()
    if new_id is None:
        return None
    # The stored row as a persistent object of this session, without reading it back.
    message = OutboxMessage(id=new_id, **values)
    make_transient_to_detached(message)
    session.add(message)
    return message


_INSERTS: dict[tuple[str, bool], Any] = {}


def _insert_statement(session: Session, deduplicated: bool) -> Any:
    """The INSERT … RETURNING id, built once per dialect (values are bound per call): queueing is on every use case's
    path, so the statement is neither rebuilt nor re-keyed for SQLAlchemy's compiled cache each time."""
    key = (session.get_bind().dialect.name, deduplicated)
    if key not in _INSERTS:
        insert = dialect_insert(session, OutboxMessage.__table__)
        if deduplicated:
            insert = insert.on_conflict_do_nothing(index_elements=["dedupe_key"])
        _INSERTS[key] = insert.returning(OutboxMessage.__table__.c.id)
    return _INSERTS[key]


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
