"""Delivers the outbox topic "slack": transition notices, approval requests (with buttons) and their outcomes,
ritual agendas, evaluations due and ownership gaps, each to its channel, each kind switchable per channel.

Called by the outbox worker outside any transaction; it reads what it needs in short sessions of its own and never
holds one open across a call to Slack. Slack's 429 becomes `retry` after its Retry-After; 5xx and network trouble
`retry`; errors that will not heal by waiting (channel_not_found, not_in_channel, invalid_auth, invalid_blocks …)
`failed` with Slack's error code.

Switches live in the `slack` section of govern.yaml:

    slack:
      command: /journey
      council_channel: cx-council          # ownership gaps, and journeys without a channel of their own
      approvals: channel                   # channel | dm | both: where approval requests go
      notifications:                       # per channel (or "*" for every channel): kind -> on/off
        "*": {transition: true}
        cx-council: {transition: false, evaluation_due: false}

Kinds: transition, approval_request, approval_outcome, agenda, evaluation_due, ownership_gap.

Idempotency: a message that goes to several channels records the channels already done in `external_ref`
(`channel=ID@ts,…`) with every outcome, so a retry posts only where it has not landed yet.
"""

from __future__ import annotations

import logging
import socket
import urllib.error
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Sequence

import sqlalchemy as sa
from slack_sdk.errors import SlackApiError

from govern.model import ApprovalRequest, Journey, Opportunity, OutboxMessage, Person
from govern.services.common import get_setting
from govern.integrations.delivery import Outcome, parse_retry_after
from govern.integrations.slack import blocks

log = logging.getLogger(__name__)

TOPIC = "slack"
KINDS = ("transition", "approval_request", "approval_outcome", "agenda", "evaluation_due", "ownership_gap")
# Outbox kinds as written by the lifecycle and rituals packages (and the names docs/architecture.md uses).
KIND_ALIASES = {
    "transition.notify": "transition", "transition": "transition",
    "approval.requested": "approval_request", "approval_request": "approval_request",
    "approval.decided": "approval_outcome", "approval_outcome": "approval_outcome",
    "ritual_agenda": "agenda", "agenda": "agenda",
    "evaluation_due": "evaluation_due", "evaluation.due": "evaluation_due",
    "ownership_gap": "ownership_gap", "ownership.gap": "ownership_gap",
}
PERMANENT_ERRORS = {
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
    "token_revoked", "invalid_blocks", "invalid_blocks_format", "no_text", "msg_too_long", "restricted_action",
    "message_not_found", "cant_update_message", "missing_scope", "user_not_found", "invalid_arguments",
}


class Permanent(Exception):
    pass


class Retry(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Switches:
    """The `slack` setting as the deliverer needs it."""

    council_channel: str | None
    approvals: str
    notifications: dict[str, dict[str, bool]]

    @classmethod
    def from_setting(cls, value: Any) -> "Switches":
        value = value if isinstance(value, dict) else {}
        notifications = {}
        for channel, kinds in (value.get("notifications") or {}).items():
            if isinstance(kinds, dict):
                notifications[_bare(str(channel))] = {str(k): bool(v) for k, v in kinds.items()}
        council = value.get("council_channel")
        return cls(council_channel=_bare(council) if council else None,
                   approvals=str(value.get("approvals") or "channel"), notifications=notifications)

    def enabled(self, channel: str, kind: str) -> bool:
        for key in (_bare(channel), "*"):
            setting = self.notifications.get(key, {}).get(kind)
            if setting is not None:
                return setting
        return True


def _bare(channel: str) -> str:
    return channel.strip().lstrip("#")


class SlackDeliverer:
    """The Deliverer for topic "slack" (see integrations.delivery)."""

    topic = TOPIC
    batch_size = 20

    def __init__(self, db, adapter):
        self.db = db
        self.adapter = adapter
        self.client = adapter.client

    @classmethod
    def from_runtime(cls, runtime) -> "SlackDeliverer":
        adapter = (getattr(runtime, "adapters", None) or {}).get("slack")
        if adapter is None:
            from govern.integrations.slack.adapter import build

            adapter = build(runtime.config)
        return cls(runtime.db, adapter)

    # --- the protocol ------------------------------------------------------------------------------------------------

    def deliver(self, messages: Sequence[OutboxMessage]) -> list[Outcome]:
        with self.db.session_scope() as session:
            switches = Switches.from_setting(get_setting(session, "slack", {}))
        return [self._deliver_one(m, switches) for m in messages]

    def _deliver_one(self, message: OutboxMessage, switches: Switches) -> Outcome:
        kind = KIND_ALIASES.get(message.kind)
        if kind is None:
            return Outcome.failed(message.id, f"unknown slack message kind {message.kind!r}")
        done = _parse_ref(message.external_ref)
        try:
            plan = getattr(self, f"_plan_{kind}")(message.payload or {}, switches)
        except Permanent as err:
            return Outcome.failed(message.id, str(err))
        except Exception as exc:  # noqa: BLE001 - e.g. the database briefly unavailable: try again later
            log.exception("preparing slack message %s failed", message.id)
            return Outcome.retry(message.id, f"{type(exc).__name__}: {exc}")
        for step in plan:
            channel = step["channel"]
            if channel in done:
                continue
            if step.get("skip"):
                done[channel] = step["skip"]
                continue
            try:
                done[channel] = self._send(step)
            except Retry as err:
                return Outcome(message.id, "retry", error=str(err), external_ref=_format_ref(done),
                               retry_after=err.retry_after)
            except Permanent as err:
                return Outcome(message.id, "failed", error=str(err), external_ref=_format_ref(done))
        return Outcome.delivered(message.id, _format_ref(done) or "nothing-to-post")

    # --- Slack calls -------------------------------------------------------------------------------------------------

    def _send(self, step: dict[str, Any]) -> str:
        """One post or update; returns what to remember (`channel-id@ts`)."""
        try:
            if step.get("update_ts"):
                answer = self.client.chat_update(channel=step["channel"], ts=step["update_ts"], text=step["text"],
                                                 blocks=step["blocks"])
            else:
                answer = self.client.chat_postMessage(channel=step["channel"], text=step["text"],
                                                      blocks=step["blocks"], unfurl_links=False)
        except SlackApiError as err:
            status = err.response.status_code
            code = err.response.get("error") or f"HTTP {status}"
            if status == 429 or code == "ratelimited":
                raise Retry(f"slack rate limited ({code})",
                            parse_retry_after(err.response.headers.get("Retry-After"))) from None
            if status >= 500:
                raise Retry(f"slack answered {status} ({code})",
                            parse_retry_after(err.response.headers.get("Retry-After"))) from None
            if code in PERMANENT_ERRORS:
                raise Permanent(f"slack refused: {code}") from None
            raise Retry(f"slack error: {code}") from None
        except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError) as exc:
            raise Retry(f"slack unreachable: {type(exc).__name__}") from None
        return f"{answer.get('channel') or step['channel']}@{answer.get('ts') or step.get('update_ts') or ''}"

    # --- plans: [{channel, text, blocks, update_ts?, skip?}] ---------------------------------------------------------

    def _step(self, channel: str, kind: str, switches: Switches, text: str, body: list[dict[str, Any]],
              **extra) -> dict[str, Any]:
        channel = _bare(channel)
        step = {"channel": channel, "text": text, "blocks": body, **extra}
        if not switches.enabled(channel, kind):
            step["skip"] = "switched-off"
        return step

    def _journey_channels(self, session, channels: Sequence[str], switches: Switches) -> list[str]:
        """Channels named by the lifecycle. `journey:KEY` is a journey without a channel of its own: the nearest
        parent journey's channel, else the council's."""
        out: list[str] = []
        for channel in channels:
            if not channel:
                continue
            if channel.startswith("journey:"):
                found = _inherited_channel(session, channel.split(":", 1)[1]) or switches.council_channel
                if found:
                    out.append(_bare(found))
                continue
            out.append(_bare(channel))
        return list(dict.fromkeys(out))

    def _channels_for(self, session, payload: dict[str, Any], switches: Switches) -> list[str]:
        """Where a message about an opportunity goes: a named channel, else each touched journey's channel."""
        if payload.get("channel"):
            return self._journey_channels(session, [payload["channel"]], switches)
        if payload.get("channels"):
            return self._journey_channels(session, payload["channels"], switches)
        return self._journey_channels(session, [f"journey:{key}" for key in payload.get("journeys") or []], switches)

    def _plan_transition(self, payload: dict[str, Any], switches: Switches) -> list[dict[str, Any]]:
        opp = SimpleNamespace(key=payload.get("opportunity", "?"), title=payload.get("title", ""))
        body = blocks.transition_notice(opp, payload.get("from"), payload.get("to", "?"),
                                        actor=str(payload.get("actor") or "someone"), reason=payload.get("reason"))
        if payload.get("message"):
            body.append(blocks.context(blocks.escape(payload["message"])))
        text = f"{opp.key} moved {payload.get('from')} → {payload.get('to')}"
        with self.db.session_scope() as session:
            channels = self._channels_for(session, payload, switches)
        return [self._step(c, "transition", switches, text, body) for c in channels]

    def _plan_approval_request(self, payload: dict[str, Any], switches: Switches) -> list[dict[str, Any]]:
        from govern.integrations.slack.approvals import render_request
        from govern.workflows.services import approval_status

        with self.db.session_scope() as session:
            request = session.get(ApprovalRequest, int(payload.get("request_id", 0)))
            if request is None:
                raise Permanent(f"approval request {payload.get('request_id')} does not exist")
            text, body = render_request(session, request)
            channels = self._channels_for(session, payload, switches)
            approvers = [(p.slack_id, p.email) for p in (session.get(Person, i) for i in
                                                         approval_status(session, request).eligible())
                         if p is not None]
        steps = [self._step(c, "approval_request", switches, text, body) for c in channels]
        if switches.approvals in ("dm", "both") or not channels:
            # Direct messages to the approvers are the request itself, not a channel notification: never switched
            # off. Looked up (users.lookupByEmail where no Slack id is stored) after the session is closed.
            dms = [{"channel": user, "text": text, "blocks": body}
                   for user in dict.fromkeys(self.adapter.directory.slack_ids_for(approvers))]
            steps = (steps if switches.approvals == "both" or not dms else []) + dms
        return steps

    def _plan_approval_outcome(self, payload: dict[str, Any], switches: Switches) -> list[dict[str, Any]]:
        """Update every posted copy of the request to show the outcome (decided in Slack, the web app or the CLI)."""
        from govern.integrations.slack.approvals import render_request

        request_id = int(payload.get("request_id", 0))
        with self.db.session_scope() as session:
            request = session.get(ApprovalRequest, request_id)
            if request is None:
                raise Permanent(f"approval request {request_id} does not exist")
            text, body = render_request(session, request)
            posted = session.scalar(sa.select(OutboxMessage).where(
                OutboxMessage.topic == TOPIC, OutboxMessage.kind.in_(("approval_request", "approval.requested")),
                OutboxMessage.payload["request_id"].as_integer() == request_id).order_by(OutboxMessage.id).limit(1))
            copies = _parse_ref(posted.external_ref) if posted is not None else {}
            original = (posted.payload or {}) if posted is not None else {
                "journeys": [j.key for j in request.opportunity.journeys]}
            channels = self._channels_for(session, original, switches)
        updates = []
        for name, where in copies.items():
            channel_id, at, ts = where.partition("@")
            if at and ts:
                updates.append({"channel": channel_id, "text": text, "blocks": body, "update_ts": ts})
        if updates:
            return updates
        # Never posted (or switched off): say it in the journey channels, if those want outcomes.
        return [self._step(c, "approval_outcome", switches, text, body) for c in channels]

    def _plan_agenda(self, payload: dict[str, Any], switches: Switches) -> list[dict[str, Any]]:
        channel = payload.get("channel") or switches.council_channel
        if not channel:
            return []
        body = payload.get("blocks") or blocks.agenda_blocks(payload.get("agenda") or {})
        text = payload.get("text") or "Agenda"
        return [self._step(channel, "agenda", switches, text, body)]

    def _plan_evaluation_due(self, payload: dict[str, Any], switches: Switches) -> list[dict[str, Any]]:
        key = str(payload.get("opportunity", ""))
        number = key.rsplit("-", 1)[-1]
        with self.db.session_scope() as session:
            opp = session.scalar(sa.select(Opportunity).where(Opportunity.number == int(number))) \
                if number.isdigit() else None
            if opp is None:
                raise Permanent(f"unknown opportunity {key!r}")
            where = payload if payload.get("journeys") or payload.get("channel") else {
                "journeys": [j.key for j in opp.journeys]}
            body = blocks.evaluation_due(opp, due=payload.get("due_at"))
            text = f"Evaluation due for {opp.key}"
            channels = self._channels_for(session, where, switches)
        return [self._step(c, "evaluation_due", switches, text, body) for c in channels]

    def _plan_ownership_gap(self, payload: dict[str, Any], switches: Switches) -> list[dict[str, Any]]:
        keys = payload.get("journeys") or [payload.get("journey")]
        with self.db.session_scope() as session:
            journeys = list(session.scalars(sa.select(Journey).where(Journey.key.in_([k for k in keys if k]))))
            gaps = [SimpleNamespace(name=j.name, key=j.key) for j in journeys if j.owner_id is None]
        if not gaps:
            return []  # filled since: nothing to say
        channel = payload.get("channel") or switches.council_channel
        if not channel:
            return []
        return [self._step(channel, "ownership_gap", switches, f"Ownership gap: {', '.join(g.name for g in gaps)}",
                           blocks.ownership_gap(gaps))]


def _inherited_channel(session, journey_key: str) -> str | None:
    """The journey's own channel, else its nearest parent's."""
    journey = session.scalar(sa.select(Journey).where(Journey.key == journey_key))
    seen: set[int] = set()
    while journey is not None and journey.id not in seen:
        if journey.slack_channel:
            return journey.slack_channel
        seen.add(journey.id)
        journey = journey.parent
    return None


def _parse_ref(ref: str | None) -> dict[str, str]:
    """`name=ID@ts,other=switched-off` → {name: "ID@ts", other: "switched-off"}."""
    out: dict[str, str] = {}
    for part in (ref or "").split(","):
        channel, sep, where = part.partition("=")
        if sep and channel:
            out[channel] = where
    return out


def _format_ref(done: dict[str, str]) -> str | None:
    text = ",".join(f"{c}={where}" for c, where in done.items())
    return text[:200] or None
