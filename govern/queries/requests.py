"""Pending approval requests: of one opportunity, of many at once, or of a part of the portfolio."""

from __future__ import annotations

from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, selectinload

from govern.model import ApprovalRequest, ApprovalVote, Opportunity, opportunity_journey

PENDING = "pending"


def _pending() -> sa.Select:
    return (sa.select(ApprovalRequest).where(ApprovalRequest.status == PENDING)
            .options(selectinload(ApprovalRequest.votes).selectinload(ApprovalVote.person)))


def pending_request(session: Session, opportunity_id: int) -> ApprovalRequest | None:
    """The pending request of one opportunity (the lifecycle allows one at a time), or None."""
    return session.scalar(sa.select(ApprovalRequest).where(
        ApprovalRequest.opportunity_id == opportunity_id, ApprovalRequest.status == PENDING)
        .order_by(ApprovalRequest.id).limit(1))


def pending_requests_of(session: Session, opportunity_ids: Iterable[int], *, with_votes: bool = False
                        ) -> dict[int, list[ApprovalRequest]]:
    """{opportunity id: its pending requests, oldest first} for many opportunities in one statement; `with_votes`
    joins each request's requester and votes with their voters (what deciding on it and showing it read)."""
    ids = sorted(set(opportunity_ids))
    out: dict[int, list[ApprovalRequest]] = {i: [] for i in ids}
    if not ids:
        return out
    query = (sa.select(ApprovalRequest)
             .where(ApprovalRequest.status == PENDING, ApprovalRequest.opportunity_id.in_(ids))
             .order_by(ApprovalRequest.id))
    if with_votes:
        query = query.options(joinedload(ApprovalRequest.requested_by),
                              joinedload(ApprovalRequest.votes).joinedload(ApprovalVote.person))
    for request in session.scalars(query).unique():
        out[request.opportunity_id].append(request)
    return out


def pending_requests(session: Session, *, journey_ids: Iterable[int] | sa.Select | None = None
                     ) -> list[ApprovalRequest]:
    """Every pending request, oldest first; with `journey_ids`, those on opportunities touching any of them."""
    query = (_pending().join(Opportunity, Opportunity.id == ApprovalRequest.opportunity_id)
             .options(selectinload(ApprovalRequest.opportunity))
             .order_by(ApprovalRequest.created_at, ApprovalRequest.id))
    if journey_ids is not None:
        query = query.where(ApprovalRequest.opportunity_id.in_(
            sa.select(opportunity_journey.c.opportunity_id).where(opportunity_journey.c.journey_id.in_(journey_ids))))
    return list(session.scalars(query))
