"""Approvals in Slack: the approval message (rendered from the request as it stands), Approve/Reject presses,
and the modal that asks for a rejection reason. Decisions go through workflows.services as the pressing person.

Slack calls (chat.update, views.open, response_url) are made after the database session is closed: no network call
ever happens inside a transaction.
"""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace
from typing import Any

from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from govern.errors import GovernError
from govern.model import ApprovalRequest, Person
from govern.queries.states import state_catalog
from govern.workflows.services import approval_status, approve_request, reject_request
from govern.integrations.slack import blocks
from govern.integrations.slack.commands import actor_for, unmapped_text
from govern.integrations.slack.copies import record_outcome_shown

log = logging.getLogger(__name__)


def _names(session: Session, ids) -> str:
    people = [session.get(Person, i) for i in ids]
    return ", ".join(p.name for p in people if p is not None)


def render_request(session: Session, request: ApprovalRequest) -> tuple[str, list[dict[str, Any]]]:
    """The approval message for a request as it stands: buttons while pending, the outcome once decided."""
    opp = request.opportunity
    states = state_catalog(session, opp.lifecycle)
    step = f"{states.title_of(request.from_state)} → {states.title_of(request.to_state)}"
    requested_by = request.requested_by.name if request.requested_by else "the system"
    if request.status == "pending":
        status = approval_status(session, request)
        body = blocks.approval_request(
            request.id, opp, from_state=request.from_state, to_state=request.to_state, requested_by=requested_by,
            reason=request.reason, approvers=", ".join(status.waiting_for()) or None, states=states)
        approved = [v.person.name for v in request.votes if v.decision == "approve"]
        if approved:
            body.insert(1, blocks.context(f"Approved so far by {blocks.escape(', '.join(approved))}"))
        text = f"Approval needed: {opp.key} {step}"
        return text, body
    deciding = "reject" if request.status == "rejected" else "approve"
    by = ", ".join(v.person.name for v in request.votes if v.decision == deciding) or (
        requested_by if request.status == "withdrawn" else "the council")
    body = blocks.approval_outcome(request.id, opp, from_state=request.from_state, to_state=request.to_state,
                                   outcome=request.status, by=by, reason=request.decided_reason,
                                   detail=f"{opp.key} is now in {states.title_of(opp.state)}", states=states)
    return blocks.escape(f"{opp.key} {step}: {request.status} by {by}"), body


def ephemeral(text: str, emoji: str = ":information_source:") -> dict[str, Any]:
    """A note only the presser sees, leaving the approval message as it is."""
    return {"response_type": "ephemeral", "replace_original": False, "text": text,
            "blocks": blocks.notice(text, emoji=emoji)}


def _request_id(action: dict[str, Any]) -> int | None:
    try:
        return int(str(action.get("value", "")).lstrip("#"))
    except ValueError:
        return None


def _where(payload: dict[str, Any]) -> tuple[str | None, str | None]:
    container = payload.get("container") or {}
    channel = container.get("channel_id") or (payload.get("channel") or {}).get("id")
    ts = container.get("message_ts") or (payload.get("message") or {}).get("ts")
    return channel, ts


def update_message(adapter, channel: str | None, ts: str | None, text: str, body: list[dict[str, Any]],
                   response_url: str | None = None) -> bool:
    """Show the new state on the approval message: chat.update, else replace it through response_url."""
    if channel and ts:
        try:
            adapter.client.chat_update(channel=channel, ts=ts, text=text, blocks=body)
            return True
        except SlackApiError as err:
            log.warning("chat.update of the approval message failed: %s", err.response.get("error"))
    if response_url:
        return adapter.respond(response_url, {"replace_original": True, "text": text, "blocks": body})
    return False


def handle_approve(db, adapter, payload: dict[str, Any]) -> None:
    """An Approve press: approve as the presser; update the message; tell the presser when nothing changed."""
    action = payload["actions"][0]
    user_id = payload["user"]["id"]
    response_url = payload.get("response_url")
    request_id = _request_id(action)
    note: tuple[str, str] | None = None
    render = None
    person_id = adapter.directory.person_id_for(db, user_id)
    with db.session_scope() as session:
        person, actor = actor_for(session, person_id, user_id)
        if person is None:
            note = (unmapped_text(user_id), ":bust_in_silhouette:")
        elif request_id is None or session.get(ApprovalRequest, request_id) is None:
            note = ("This approval request no longer exists.", ":mag:")
        else:
            changed = True
            try:
                result = approve_request(session, actor, request_id)
                if not result.moved:
                    note = (result.message[0].upper() + result.message[1:], ":white_check_mark:")
            except GovernError as err:
                changed = False
                note = (err.message, ":lock:" if err.code == "forbidden" else ":information_source:")
            session.expire_all()
            request = session.get(ApprovalRequest, request_id)
            if changed or request.status != "pending":
                render = render_request(session, request)
    if render is not None:
        channel, ts = _where(payload)
        if update_message(adapter, channel, ts, *render, response_url=response_url) and channel and ts:
            record_outcome_shown(db, request_id, channel, ts)
    if note is not None:
        adapter.respond(response_url, ephemeral(*note))


def open_reject_modal(db, adapter, payload: dict[str, Any]) -> None:
    """A Reject press: check the presser may reject, then ask for the reason in a modal (views.open)."""
    action = payload["actions"][0]
    user_id = payload["user"]["id"]
    response_url = payload.get("response_url")
    request_id = _request_id(action)
    note: tuple[str, str] | None = None
    view = None
    person_id = adapter.directory.person_id_for(db, user_id)
    with db.session_scope() as session:
        person, _ = actor_for(session, person_id, user_id)
        request = session.get(ApprovalRequest, request_id) if request_id is not None else None
        if person is None:
            note = (unmapped_text(user_id), ":bust_in_silhouette:")
        elif request is None:
            note = ("This approval request no longer exists.", ":mag:")
        elif request.status != "pending":
            states = state_catalog(session, request.opportunity.lifecycle)
            note = (f"Request #{request.id} ({request.opportunity.key}, {states.title_of(request.from_state)} → "
                    f"{states.title_of(request.to_state)}) was already "
                    f"{request.status}; nothing changed.", ":information_source:")
        else:
            refusal = approval_status(session, request).refusal(person.id, decision="reject")
            if refusal:
                note = (refusal, ":lock:")
            else:
                channel, ts = _where(payload)
                opp = SimpleNamespace(key=request.opportunity.key, title=request.opportunity.title)
                view = blocks.reject_reason_modal(request.id, opp, channel_id=channel, message_ts=ts,
                                                  response_url=response_url)
    if view is not None:
        try:
            adapter.client.views_open(trigger_id=payload.get("trigger_id"), view=view)
        except SlackApiError as err:
            log.warning("views.open failed: %s", err.response.get("error"))
            key = json.loads(view["private_metadata"])["request_id"]
            note = (f"I could not open the form for a reason (Slack said {err.response.get('error')}). "
                    f"Reject with the command instead: /journey reject OPP-… your reason (request #{key}).",
                    ":warning:")
    if note is not None:
        adapter.respond(response_url, ephemeral(*note))


def handle_reject_submission(db, adapter, payload: dict[str, Any]) -> dict[str, Any] | None:
    """The reason modal was submitted: reject as the submitter. Returns a `response_action: errors` answer to keep
    the modal open with the problem shown, or None to close it (and the approval message is updated)."""
    view = payload.get("view") or {}
    values = (view.get("state") or {}).get("values") or {}
    reason = ((values.get(blocks.REASON_BLOCK) or {}).get(blocks.REASON_ACTION) or {}).get("value") or ""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
        request_id = int(meta["request_id"])
    except (ValueError, KeyError, TypeError):
        return {"response_action": "errors", "errors": {blocks.REASON_BLOCK: "This form is out of date; press "
                                                                             "Reject again."}}
    if not reason.strip():
        return {"response_action": "errors", "errors": {blocks.REASON_BLOCK: "A reason is required to reject."}}
    user_id = payload["user"]["id"]
    person_id = adapter.directory.person_id_for(db, user_id)
    with db.session_scope() as session:
        person, actor = actor_for(session, person_id, user_id)
        if person is None:
            return {"response_action": "errors", "errors": {blocks.REASON_BLOCK: unmapped_text(user_id)[:2000]}}
        try:
            reject_request(session, actor, request_id, reason)
        except GovernError as err:
            return {"response_action": "errors", "errors": {blocks.REASON_BLOCK: err.message[:2000]}}
        session.expire_all()
        render = render_request(session, session.get(ApprovalRequest, request_id))
    channel, ts = meta.get("channel"), meta.get("ts")
    if update_message(adapter, channel, ts, *render, response_url=meta.get("response_url")) and channel and ts:
        record_outcome_shown(db, request_id, channel, ts)
    return None
