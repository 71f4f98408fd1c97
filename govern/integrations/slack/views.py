"""Slack's entry points: `/slack/commands` (slash commands) and `/slack/interactions` (buttons, modals, the "Save as
evidence" message shortcut).

Every request is verified before anything is read from it: a v0 signature over the raw body with the signing secret
and a timestamp within five minutes (slack_sdk's SignatureVerifier); otherwise 401 and nothing runs. With Slack not
configured (GOVERN_SLACK_BOT_TOKEN / GOVERN_SLACK_SIGNING_SECRET unset) both answer 503 saying so.

Slack gives up after 3 seconds. The work runs on the adapter's thread pool; the request waits for it at most
`adapter.inline_budget` seconds (50 ms; `ack_budget_ms` in the `slack` setting). Quick answers go back in the
response; anything slower is acknowledged at once with an empty 200 (Slack's plain acknowledgement) and finished
through the request's `response_url` (valid 30 minutes, at most 5 posts) when it is done. The agenda is always
finished that way, after a "Building the agenda…".
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.parse
from concurrent.futures import Future, TimeoutError as FutureTimeout
from typing import Any, Callable

from flask import Blueprint, Response, current_app, jsonify, request

from govern.integrations.slack import approvals, blocks, evidence
from govern.integrations.slack.commands import DEFERRED, Invocation, run
from govern.integrations.slack.parsing import Malformed, parse
from govern.integrations.slack.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from govern.services.receipts import first_arrival, receipt_key

log = logging.getLogger(__name__)

bp = Blueprint("slack", __name__, url_prefix="/slack")

MAX_BODY_BYTES = 64 * 1024  # Slack's payloads are far smaller; anything bigger is not from Slack
# A modal submission has no response_url: its answer (close, or show the problem) must be in the response, so it may
# use most of Slack's 3 seconds.
VIEW_SUBMISSION_BUDGET = 2.0


def _runtime():
    return current_app.extensions["govern"]


def _error(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": None}})
    response.status_code = status
    return response


def _verified_body() -> tuple[Any, bytes | None, Response | None]:
    """(adapter, raw body, None) for a verified request from Slack, else (…, None, the refusal)."""
    adapter = (_runtime().adapters or {}).get("slack")
    if adapter is None:
        return None, None, _error(503, "slack_disabled", "Slack is not configured on this server "
                                                         "(set GOVERN_SLACK_BOT_TOKEN and GOVERN_SLACK_SIGNING_SECRET)")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return adapter, None, _error(413, "too_large", "request body too large")
    raw = request.get_data(cache=True)
    if len(raw) > MAX_BODY_BYTES:
        return adapter, None, _error(413, "too_large", "request body too large")
    if not verify(adapter.signing_secret, raw, request.headers):
        log.warning("refused a Slack request with a missing, wrong or stale signature")
        return adapter, None, _error(401, "invalid_signature", "the request is not signed by Slack, or is too old")
    if request.headers.get("X-Slack-Retry-Num"):
        # Slack retries what it thinks we missed; the first delivery is being (or was) handled: never twice.
        log.info("acknowledged Slack retry %s without running it again", request.headers.get("X-Slack-Retry-Num"))
        return adapter, None, Response(status=200, headers={"X-Slack-No-Retry": "1"})
    key = receipt_key(request.headers.get(TIMESTAMP_HEADER, ""), request.headers.get(SIGNATURE_HEADER, ""))
    with _runtime().db.session_scope() as session:
        if not first_arrival(session, "slack", key):
            log.warning("refused a replayed Slack request (same timestamp and signature as one already handled)")
            return adapter, None, _error(409, "replayed", "this request was already handled")
    return adapter, raw, None


def _unescape(text: str) -> str:
    """Slack escapes &, < and > in what people type (https://api.slack.com/reference/surfaces/formatting)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _form(raw: bytes) -> dict[str, str]:
    return {k: v[0] for k, v in urllib.parse.parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}


def _within_budget(adapter, work: Callable[[], Any], *, late: Callable[[Any], None] | None,
                   always_late: bool = False, budget: float | None = None) -> tuple[bool, Any]:
    """Run `work` on the pool; (True, result) if it finished within the budget, else (False, None) and `late` gets
    the result when it is ready (in the same pool job, so that the adapter knows when the follow-up is done too)."""
    lock = threading.Lock()
    state = {"late": always_late, "done": False}

    def job():
        try:
            result = work()
        except Exception:  # noqa: BLE001 - never a trace to Slack; the log has it
            log.exception("a Slack request failed")
            result = None
        with lock:
            state["done"] = True
            deliver_late = state["late"]
        if deliver_late and late is not None and result is not None:
            try:
                late(result)
            except Exception:  # noqa: BLE001 - background: log, never raise into the pool
                log.exception("finishing a Slack request in the background failed")
        return result

    future: Future = adapter.submit(job)
    if always_late:
        return False, None
    try:
        return True, future.result(timeout=adapter.inline_budget if budget is None else budget)
    except FutureTimeout:
        with lock:
            if not state["done"]:
                state["late"] = True
                return False, None
        return True, future.result()


@bp.post("/commands")
def commands():
    """A slash command: answer now, or acknowledge and finish through response_url."""
    adapter, raw, refusal = _verified_body()
    if refusal is not None:
        return refusal
    form = _form(raw)
    invocation = Invocation(
        user_id=form.get("user_id", ""), text=_unescape(form.get("text", "")),
        command=form.get("command") or "/journey",
        user_name=form.get("user_name", ""), channel_id=form.get("channel_id", ""),
        response_url=form.get("response_url") or None, trigger_id=form.get("trigger_id") or None)
    if not invocation.user_id:
        return _error(400, "invalid_input", "user_id is missing")
    db = _runtime().db
    try:
        subcommand = parse(invocation.text).subcommand
    except Malformed:
        subcommand = None
    always_late = subcommand in DEFERRED and invocation.response_url is not None

    def late(answer: dict[str, Any]) -> None:
        adapter.respond(invocation.response_url, answer)

    base_url = getattr(adapter, "base_url", None)  # answers link back to the web app
    finished, answer = _within_budget(adapter, lambda: run(db, adapter.directory, invocation, adapter.apply_settings,
                                                           base_url=base_url),
                                      late=late if invocation.response_url else None, always_late=always_late)
    if finished:
        if answer is None:
            text = "Something went wrong on our side; nothing was changed. Please try again in a moment."
            return jsonify(blocks.reply(text, blocks.notice(text, emoji=":warning:")))
        return jsonify(answer)
    if always_late:
        return jsonify(blocks.reply("Building the agenda…", blocks.notice(
            "Building the agenda… it follows here in a moment.", emoji=":hourglass_flowing_sand:")))
    # Over budget: Slack's plain acknowledgement (an empty 200); the answer follows through response_url, so the
    # person sees one answer, a moment later, instead of a "working on it" and then the answer.
    return Response(status=200)


@bp.post("/interactions")
def interactions():
    """Buttons (block_actions), the "Save as evidence" message shortcut (message_action) and modal submissions
    (view_submission)."""
    adapter, raw, refusal = _verified_body()
    if refusal is not None:
        return refusal
    try:
        payload = json.loads(_form(raw).get("payload") or "")
        kind = payload["type"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return _error(400, "invalid_input", "the payload is not a Slack interaction")
    db = _runtime().db
    if kind == "block_actions":
        action = ((payload.get("actions") or [{}])[0] or {}).get("action_id")
        if action == blocks.APPROVE_ACTION:
            _within_budget(adapter, lambda: approvals.handle_approve(db, adapter, payload), late=None)
        elif action == blocks.REJECT_ACTION:
            # The trigger_id for views.open lives 3 seconds: open the modal now, on the request's clock.
            _within_budget(adapter, lambda: approvals.open_reject_modal(db, adapter, payload), late=None)
        return Response(status=200)
    if kind == "message_action" and payload.get("callback_id") == evidence.SAVE_AS_EVIDENCE:
        # "Save as evidence": open the modal now, on the request's clock (the trigger_id lives 3 seconds).
        _within_budget(adapter, lambda: evidence.open_save_modal(db, adapter, payload), late=None)
        return Response(status=200)
    if kind == "view_submission" and (payload.get("view") or {}).get("callback_id") == evidence.SAVE_AS_EVIDENCE:
        finished, answer = _within_budget(adapter, lambda: evidence.handle_save_submission(db, adapter, payload),
                                          late=None, budget=max(adapter.inline_budget, VIEW_SUBMISSION_BUDGET))
        if finished and answer:
            return jsonify(answer)
        return Response(status=200)
    if kind == "view_submission" and (payload.get("view") or {}).get("callback_id") == blocks.REJECT_MODAL:
        finished, answer = _within_budget(adapter, lambda: approvals.handle_reject_submission(db, adapter, payload),
                                          late=None, budget=max(adapter.inline_budget, VIEW_SUBMISSION_BUDGET))
        if finished and answer:
            return jsonify(answer)
        return Response(status=200)
    return Response(status=200)  # other interaction types: acknowledged, nothing to do
