"""Replay protection for signed inbound requests (Slack commands and buttons; Jira webhooks keep their own
receipts by delivery identifier, in govern.integrations.jira.webhook).

A signature proves who sent a request, not that it is the first time it arrives: an attacker who saw one (or the
sender retrying) can send it again while it is still fresh. Each request is remembered by a key (Slack: its timestamp
and signature) for as long as a replay could be accepted, and a second arrival is
recognised and not executed.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from govern.model import RequestReceipt, utcnow

# How long a receipt is kept, per source: longer than the sender's own replay window or retry schedule.
KEEP = {"slack": dt.timedelta(minutes=10), "jira": dt.timedelta(days=3)}


def receipt_key(*parts: str) -> str:
    """A fixed-length key for what identifies one request."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def first_arrival(session: Session, source: str, key: str) -> bool:
    """Record that this request arrived; False when it had arrived before (a replay or a retry). Commits."""
    now = utcnow()
    session.execute(sa.delete(RequestReceipt).where(RequestReceipt.source == source,
                                                    RequestReceipt.received_at < now - KEEP.get(source, KEEP["jira"])))
    session.add(RequestReceipt(source=source, key=key, received_at=now))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True
