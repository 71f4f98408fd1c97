"""Decision rights on a pending transition request: who may approve, reject and withdraw it, and why not.

Two rules decide together, and both are read here so that every entry point (and the services that enforce them)
asks the same question:
- the permission table (`govern.policy.ACTIONS`): `transition.approve` for approving and rejecting,
  `transition.withdraw` for withdrawing a request someone else made (its requester may always withdraw their own);
- the approval rule captured on the request: who it names, separation of duties, what is still missing. Evaluating a
  rule is the lifecycle engine's work (`govern.workflows.approvals`); the core does not import it, so callers pass the
  request's standing in: any object with `refusal(person_id, decision=...)`, `waiting_for()` and `approvers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from govern.model import ApprovalRequest
from govern.policy import Actor, who_may


class ApprovalStanding(Protocol):
    """Where a request stands under its approval rule (govern.workflows.approvals.ApprovalStatus satisfies it)."""

    approvers: Any  # the person ids who have approved so far

    def refusal(self, person_id: int | None, ctx: Any = None, decision: str = "approve") -> str | None: ...

    def waiting_for(self) -> list[str]: ...


@dataclass(frozen=True)
class Refusal:
    """Why a person may not take a decision: `conflict` when it is a repeat (already approved), else a permission."""

    message: str
    conflict: bool = False


def _held(actor: Actor) -> str:
    return ", ".join(sorted(actor.roles - {"viewer"})) or "viewer"


def _journey_ids(request: ApprovalRequest) -> list[int]:
    return [j.id for j in request.opportunity.journeys]


def decision_refusal(actor: Actor, request: ApprovalRequest, standing: ApprovalStanding,
                     decision: str = "approve") -> Refusal | None:
    """Why `actor` may not approve (or reject, `decision="reject"`) the request now; None when they may."""
    if actor.person_id is None:
        return Refusal(standing.refusal(None, decision=decision) or "act as a person who is an approver")
    if not actor.can("transition.approve", _journey_ids(request)):
        # The lifecycle's rule names the approvers; the permission table must agree, so a definition that names a role
        # the table does not trust with approvals cannot grant them (and `govern apply` refuses such a definition).
        return Refusal(f"{actor.handle} ({_held(actor)}) may not approve or reject transition requests: that is for "
                       f"{', '.join(who_may('transition.approve'))}; this request is waiting for "
                       f"{', '.join(standing.waiting_for()) or 'nobody'}")
    refusal = standing.refusal(actor.person_id, decision=decision)
    if refusal is None:
        return None
    if decision == "approve" and actor.person_id in standing.approvers:
        return Refusal(refusal, conflict=True)
    return Refusal(f"{actor.handle} ({_held(actor)}): {refusal}")


def withdraw_refusal(actor: Actor, request: ApprovalRequest) -> str | None:
    """Why `actor` may not withdraw the request; None when they may (its requester, or `transition.withdraw`)."""
    if actor.person_id is not None and actor.person_id == request.requested_by_id:
        return None
    if actor.can("transition.withdraw", _journey_ids(request)):
        return None
    return (f"{actor.handle} did not make request #{request.id}; only its requester or "
            f"{', '.join(who_may('transition.withdraw'))} may withdraw it")


@dataclass(frozen=True)
class DecisionRights:
    approve: bool
    reject: bool
    withdraw: bool
    waiting_for: list[str]
    why_not: str | None  # why this person may not approve, in plain words (None when they may)

    def as_dict(self) -> dict[str, Any]:
        return {"approve": self.approve, "reject": self.reject, "withdraw": self.withdraw,
                "waiting_for": self.waiting_for, "why_not": self.why_not}


def decision_rights(actor: Actor, request: ApprovalRequest, standing: ApprovalStanding) -> DecisionRights:
    """What `actor` may do with a pending request (for pages, Slack buttons and the playbook)."""
    approve = decision_refusal(actor, request, standing, "approve")
    reject = decision_refusal(actor, request, standing, "reject")
    return DecisionRights(approve=approve is None, reject=reject is None,
                          withdraw=withdraw_refusal(actor, request) is None,
                          waiting_for=standing.waiting_for(), why_not=approve.message if approve else None)
