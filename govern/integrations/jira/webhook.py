"""POST /jira/webhook: Jira's issue events applied to solutions, the same update as the pull.

Authenticity is checked on the raw body BEFORE anything is parsed: Jira (Cloud admin webhooks with a secret, and
Data Center 10+) signs each request with `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body, keyed by the secret>`.
The secret is never accepted in the URL (`?secret=` would land in access logs): Jira versions that cannot sign
cannot use the webhook (the scheduled reconciliation still brings their changes). The signature is compared in
constant time. No secret configured (GOVERN_JIRA_WEBHOOK_SECRET)
means the endpoint refuses everything. A refused request is 401 and changes nothing.

Echoes of our own writes are ignored: an event whose `user` is our integration user (name, key, e-mail, account id)
changes nothing, and an event that carries nothing new (same status, same `updated`) is counted as unchanged.

Order and replays: Jira gives no ordering guarantee and retries deliveries. An event is applied only if its issue's
`updated` is newer than what we hold (an older "In Progress" arriving after "Done" changes nothing), and each delivery
is handled once, by Jira's `X-Atlassian-Webhook-Identifier` header (unique per delivery, unchanged across Jira's
retries), recorded in `jira_webhook_receipt` in the same transaction as the change it caused (kept 30 days).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging

import sqlalchemy as sa

from flask import Blueprint, current_app, jsonify, request

from govern.model import JiraWebhookReceipt, utcnow
from govern.integrations.jira.mapping import JiraMapping
from govern.integrations.jira.pull import PullReport, apply_issue, sync_state, tell_lifecycle
from govern.integrations.jira.push import load_mapping, our_label

log = logging.getLogger(__name__)

bp = Blueprint("jira_webhook", __name__)

HANDLED_EVENTS = ("jira:issue_updated", "jira:issue_created")
IDENTIFIER_HEADER = "X-Atlassian-Webhook-Identifier"
RECEIPTS_KEPT = dt.timedelta(days=30)  # Jira retries a delivery for hours, not weeks


def signature_for(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, headers, secret: str | None) -> bool:
    """True when the request carries a valid signature in its X-Hub-Signature header. A secret in the URL is never
    accepted: URLs end up in access logs and proxies' logs."""
    if not secret:
        return False
    signature = headers.get("X-Hub-Signature")
    return bool(signature) and hmac.compare_digest(signature.strip(), signature_for(body, secret))


def _refuse(message: str):
    response = jsonify({"error": {"code": "unauthenticated", "message": message, "details": None}})
    response.status_code = 401
    return response


def is_echo(payload: dict, identity: set[str]) -> bool:
    user = payload.get("user") or {}
    names = {user.get(k) for k in ("name", "key", "emailAddress", "accountId")} - {None}
    return bool(names & identity)


@bp.post("/jira/webhook")
def receive():
    runtime = current_app.extensions["govern"]
    body = request.get_data(cache=True)  # raw bytes; nothing parsed before the signature is checked
    if "secret" in request.args:
        log.warning("refused a Jira webhook with the secret in its URL")
        return _refuse("the webhook secret is not accepted in the URL (it would be logged); configure Jira to sign "
                       "requests (X-Hub-Signature) with GOVERN_JIRA_WEBHOOK_SECRET")
    if not verify(body, request.headers, runtime.config.jira_webhook_secret):
        log.warning("refused a Jira webhook with a missing or bad signature")
        return _refuse("bad or missing webhook signature")
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested past what the parser follows
        return jsonify({"error": {"code": "invalid_input", "message": "the body is not JSON", "details": None}}), 400
    if not isinstance(payload, dict):
        return jsonify({"error": {"code": "invalid_input", "message": "the body is not a JSON object",
                                  "details": None}}), 400
    event = payload.get("webhookEvent")
    if event not in HANDLED_EVENTS or not isinstance(payload.get("issue"), dict):
        return jsonify({"ignored": f"event {event!r} is not used"}), 202
    adapter = runtime.adapters.get("jira")
    identity = set(getattr(adapter, "identity", set())) | {runtime.config.jira_user} - {None}
    identifier = (request.headers.get(IDENTIFIER_HEADER) or "").strip()[:200] or None
    report = PullReport()
    installation = our_label(runtime.db)  # (its own short transaction, before this one)
    with runtime.db.session_scope() as session:
        identity |= set(sync_state(session).get("identity") or [])
        if is_echo(payload, identity):
            return jsonify({"ignored": "our own change (echo)"}), 200
        if identifier is not None and session.get(JiraWebhookReceipt, identifier) is not None:
            return jsonify({"applied": False, "ignored": "this delivery was already handled (same webhook identifier)"}), 200
        try:
            mapping = load_mapping(session)
        except Exception:  # noqa: BLE001 - a broken mapping should not turn into a 500 for Jira
            mapping = JiraMapping()
        solution = apply_issue(session, mapping, payload["issue"], report, source="webhook",
                               installation=installation)
        if identifier is not None:
            now = utcnow()
            session.add(JiraWebhookReceipt(identifier=identifier, issue_key=str(payload["issue"].get("key"))[:64],
                                           received_at=now))
            session.execute(sa.delete(JiraWebhookReceipt).where(JiraWebhookReceipt.received_at < now - RECEIPTS_KEPT))
        try:
            session.commit()
        except sa.exc.IntegrityError:  # the same delivery, handled a moment ago by another request
            session.rollback()
            return jsonify({"applied": False, "ignored": "this delivery was already handled (same webhook identifier)"}), 200
    if report.delivered_opportunities:
        tell_lifecycle(runtime.db, report.delivered_opportunities, report)
    if report.stale:
        return jsonify({"applied": False, "stale": True,
                        "ignored": "older than what we hold (by the issue's updated time)"}), 200
    return jsonify({"applied": solution is not None and report.updated > 0, "unchanged": report.unchanged > 0,
                    "unknown": report.unknown > 0, "lifecycle": report.lifecycle}), 200
