"""Operational bookkeeping that is not a governance change: each scheduler process records its rounds, so the
operations page can show who leads and whether they are alive. Not audited (a heartbeat every 30 seconds would
drown the audit trail); the leader lock itself stays in PostgreSQL or the lock file."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern.model import SchedulerInstance

FORGET_AFTER = dt.timedelta(days=1)  # a scheduler silent this long is gone (killed without stopping)


def record_scheduler_round(session: Session, name: str, *, leader: bool, now: dt.datetime) -> None:
    """This scheduler ran a round (as leader or not); the leader also forgets schedulers long gone."""
    row = session.get(SchedulerInstance, name)
    if row is None:
        row = SchedulerInstance(name=name, leader=False, started_at=now, last_tick_at=now)
        session.add(row)
    if leader and not row.leader:
        row.leader_since = now
    row.leader, row.last_tick_at = leader, now
    if not leader:
        row.leader_since = None
    if leader:
        session.execute(sa.delete(SchedulerInstance).where(SchedulerInstance.last_tick_at < now - FORGET_AFTER))
    session.commit()


def scheduler_stopped(session: Session, name: str) -> None:
    """A scheduler stopped cleanly: it no longer runs anywhere."""
    session.execute(sa.delete(SchedulerInstance).where(SchedulerInstance.name == name))
    session.commit()
