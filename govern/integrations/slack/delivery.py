"""The Slack adapter's side of notifications: renders the notification events (govern.notifications) queued in the
outbox — transition notices, approval requests (with buttons) and their outcomes, ritual agendas, evaluations due and
ownership gaps — as Slack messages, each to its channel, each kind switchable per channel.

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

Kinds (the switch names for the events): transition, approval_request, approval_outcome, agenda, evaluation_due,
ownership_gap.

An approval request's message is posted once and, when the request is decided, updated in place (every copy, once):
the outcome is never a second post where the request was shown.

Idempotency: a message that goes to several channels records the channels already done in `external_ref`
(`channel=ID@ts,…`) with every outcome, so a retry posts only where it has not landed yet. At most once per event,
also when a worker dies between Slack's answer and its commit:
- the deliverer is handed one outbox message at a time and its outcome is committed as soon as it comes
  (`records_each`), so a killed worker leaves at most the one message it was posting in doubt;
- every post carries the event's id as Slack message metadata (`event_type: govern_event`,
  `event_payload: {outbox_id}`);
- a message in doubt (`unsure_since`: its worker's lease ran out mid-delivery, or a post timed out after sending) first
  reads each target channel's recent history (`conversations.history` with `include_all_metadata`, from the event's
  creation on) and, where its post is there, records that post instead of posting again. Where the history cannot be
  read (a public channel the bot has not joined, a direct message not opened yet), it posts: at least once beats never.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import urllib.error
from urllib.parse import quote
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Sequence

import sqlalchemy as sa
from slack_sdk.errors import SlackApiError

from govern import notifications
from govern.model import ApprovalRequest, Journey, Opportunity, OutboxMessage, Person
from govern.notifications import Notification
from govern.queries.states import state_catalog
from govern.services.common import get_setting
from govern.integrations.delivery import Outcome, parse_retry_after
from govern.integrations.slack import blocks
from govern.integrations.slack.adapter import build as build_adapter
from govern.integrations.slack.approvals import render_request
from govern.integrations.slack.copies import format_ref, parse_ref, record_outcome_shown
from govern.workflows.services import approval_notice_key

log = logging.getLogger(__name__)

TOPIC = notifications.TOPIC
# Each notification event and the name its per-channel switch has in govern.yaml.
SWITCHES = {
    notifications.OPPORTUNITY_MOVED: "transition",
    notifications.APPROVAL_REQUESTED: "approval_request",
    notifications.APPROVAL_DECIDED: "approval_outcome",
    notifications.RITUAL_AGENDA: "agenda",
    notifications.EVALUATION_DUE: "evaluation_due",
    notifications.OWNERSHIP_GAP: "ownership_gap",
}
KINDS = tuple(SWITCHES.values())
# Delivered to the person concerned, never switched off (so not among the KINDS a setting can name).
DIRECT = {notifications.SIGN_IN_CHANGED: "sign_in_changed"}
PERMANENT_ERRORS = {
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
    "token_revoked", "invalid_blocks", "invalid_blocks_format", "no_text", "msg_too_long", "restricted_action",
    "message_not_found", "cant_update_message", "missing_scope", "user_not_found", "invalid_arguments",
}



def _person_named(session, handle: Any) -> str:
    """Who did it, as people read it: the person's name for a handle the facts carry ("someone" when none)."""
    if not handle:
        return "someone"
    handle = str(handle)
    name = session.scalar(sa.select(Person.name).where(Person.handle == handle.removesuffix(" (system)")))
    return name or handle

class Permanent(Exception):
    pass


class Retry(Exception):
    def __init__(self, message: str, retry_after: float | None = None, *, unsure: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.unsure = unsure  # the request went out and no answer came: it may have landed


METADATA_EVENT = "govern_event"  # the event_type of our message metadata; its payload names the outbox message
HISTORY_PAGE = 200  # conversations.history: Slack recommends no more than 200 messages per page
HISTORY_PAGES = 5  # at most this many pages back (1,000 messages) when looking for a post in doubt
HISTORY_WINDOW = dt.timedelta(days=1)  # and at most this far back from the moment it came in doubt


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
    """The Deliverer of the notifications topic for Slack (see integrations.delivery)."""

    topic = TOPIC
    kinds = frozenset(SWITCHES) | frozenset(DIRECT)  # the events it renders (tests/foundation/test_outbox_contract.py)
    batch_size = 20
    records_each = True  # the worker records each message's outcome as it comes, not after the batch

    def __init__(self, db, adapter):
        self.db = db
        self.adapter = adapter
        self.client = adapter.client

    @classmethod
    def from_runtime(cls, runtime) -> "SlackDeliverer":
        adapter = (getattr(runtime, "adapters", None) or {}).get("slack") or build_adapter(runtime.config)
        return cls(runtime.db, adapter)

    # --- the protocol ------------------------------------------------------------------------------------------------

    def deliver(self, messages: Sequence[OutboxMessage]) -> list[Outcome]:
        with self.db.session_scope() as session:
            switches = Switches.from_setting(get_setting(session, "slack", {}))
        return [self._deliver_one(m, switches) for m in messages]

    def _deliver_one(self, message: OutboxMessage, switches: Switches) -> Outcome:
        kind = SWITCHES.get(message.kind) or DIRECT.get(message.kind)
        if kind is None:
            return Outcome.failed(message.id, f"unknown notification event {message.kind!r}")
        notice = Notification.of(message)
        done = parse_ref(message.external_ref)
        try:
            plan = getattr(self, f"_plan_{kind}")(notice, switches)
        except Permanent as err:
            return Outcome.failed(message.id, str(err))
        except Exception as exc:  # noqa: BLE001 - e.g. the database briefly unavailable: try again later
            log.exception("preparing slack message %s failed", message.id)
            return Outcome.retry(message.id, f"{type(exc).__name__}: {exc}")
        link = self.link_for(notice)
        for step in plan:
            channel = step["channel"]
            if channel in done:
                continue
            if step.get("skip"):
                done[channel] = step["skip"]
                continue
            if link and len(step["blocks"]) < 50:  # Block Kit allows 50 blocks in a message
                step = dict(step, blocks=_with_link(step["blocks"], link))
            try:
                found = self._already_posted(message, channel) if message.unsure_since and not step.get(
                    "update_ts") else None
                done[channel] = found or self._send(step, message.id)
                if not found and step.get("shows_decision"):  # rendered after the decision: it shows the outcome
                    channel_id, _, ts = done[channel].partition("@")
                    record_outcome_shown(self.db, step["shows_decision"], channel_id, ts)
            except Retry as err:
                unsure = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) if err.unsure else None
                return Outcome(message.id, "retry", error=str(err), external_ref=format_ref(done),
                               retry_after=err.retry_after, unsure_since=unsure)
            except Permanent as err:
                return Outcome(message.id, "failed", error=str(err), external_ref=format_ref(done))
        return Outcome.delivered(message.id, format_ref(done) or "nothing-to-post")

    def link_for(self, notice: Notification) -> str | None:
        """A link back to the web app (GOVERN_BASE_URL) to what the notification is about, as Slack mrkdwn."""
        base = getattr(self.adapter, "base_url", None)
        if not base:
            return None
        about = notice.about
        if about.get("occurrence_id"):
            path, label = f"/occurrences/{int(about['occurrence_id'])}", f"the agenda of {about.get('name') or 'the ritual'}"
        elif about.get("ritual"):
            path, label = f"/rituals/{quote(str(about['ritual']))}", str(about.get("name") or about["ritual"])
        elif about.get("request_id") and about.get("opportunity"):
            path, label = f"/opportunities/{quote(str(about['opportunity']))}", f"{about['opportunity']} and its request"
        elif about.get("opportunity"):
            path, label = f"/opportunities/{quote(str(about['opportunity']))}", str(about["opportunity"])
        elif about.get("journey"):
            path, label = f"/journeys/{quote(str(about['journey']))}", str(about.get("name") or about["journey"])
        else:
            return None
        return f"<{base}{path}|Open {blocks.escape(label)} in the web app>"

    # --- Slack calls -------------------------------------------------------------------------------------------------

    def _already_posted(self, message: OutboxMessage, channel: str) -> str | None:
        """Our post of this outbox message in the channel's recent history (`channel-id@ts`), or None. Reads from the
        event's creation on (at most HISTORY_WINDOW before it came in doubt), newest first, at most HISTORY_PAGES
        pages. A history that cannot be read is None: the caller posts."""
        since = max(message.created_at - dt.timedelta(minutes=1), message.unsure_since - HISTORY_WINDOW)
        try:
            channel_id = self._channel_id(channel)
        except (Permanent, Retry) as err:
            log.warning("slack message %s: cannot tell which channel %s is (%s); posting it", message.id, channel, err)
            return None
        if channel_id is None:
            log.warning("slack message %s: no channel %s to look in; posting it", message.id, channel)
            return None
        oldest = f"{since.replace(tzinfo=dt.timezone.utc).timestamp():.6f}"
        cursor = None
        try:
            for _ in range(HISTORY_PAGES):
                answer = self._call(self.client.conversations_history, channel=channel_id, oldest=oldest,
                                    limit=HISTORY_PAGE, include_all_metadata=True, cursor=cursor)
                for item in answer.get("messages") or []:
                    metadata = item.get("metadata") or {}
                    if (metadata.get("event_type") == METADATA_EVENT
                            and str((metadata.get("event_payload") or {}).get("outbox_id")) == str(message.id)):
                        log.info("slack message %s was already posted in %s (ts %s): not posting again",
                                 message.id, channel, item.get("ts"))
                        return f"{channel_id}@{item.get('ts')}"
                cursor = (answer.get("response_metadata") or {}).get("next_cursor")
                if not answer.get("has_more") or not cursor:
                    return None
        except Permanent as err:
            log.warning("slack message %s: cannot read the history of %s (%s); posting it", message.id, channel, err)
        return None

    def _channel_id(self, channel: str) -> str | None:
        """The id conversations.history needs for what a step names: a channel id as it is; a person (U…/W…) their
        direct message (conversations.open); a channel name from an earlier delivery's record, else conversations.list."""
        if channel[:1] in ("C", "G", "D") and channel[1:].isalnum() and channel.upper() == channel:
            return channel
        if channel[:1] in ("U", "W") and channel[1:].isalnum() and channel.upper() == channel:
            return self._call(self.client.conversations_open, users=channel)["channel"]["id"]
        with self.db.session_scope() as session:
            refs = session.scalars(sa.select(OutboxMessage.external_ref).where(
                OutboxMessage.topic == TOPIC, OutboxMessage.external_ref.like(f"%{channel}=%"))
                .order_by(OutboxMessage.id.desc()).limit(5))
            for ref in refs:
                where = parse_ref(ref).get(channel, "")
                if "@" in where:
                    return where.partition("@")[0]
        cursor = None
        for _ in range(20):
            answer = self._call(self.client.conversations_list, types="public_channel,private_channel",
                                exclude_archived=True, limit=200, cursor=cursor)
            for item in answer.get("channels") or []:
                if item.get("name") == channel:
                    return item["id"]
            cursor = (answer.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return None

    def _send(self, step: dict[str, Any], outbox_id: int | None = None) -> str:
        """One post or update; returns what to remember (`channel-id@ts`). A post carries the event's id as message
        metadata, so that a retry in doubt can find it in the channel's history."""
        if step.get("update_ts"):
            answer = self._call(self.client.chat_update, channel=step["channel"], ts=step["update_ts"],
                                text=step["text"], blocks=step["blocks"])
        else:
            metadata = ({"event_type": METADATA_EVENT, "event_payload": {"outbox_id": outbox_id}}
                        if outbox_id is not None else None)
            answer = self._call(self.client.chat_postMessage, channel=step["channel"], text=step["text"],
                                blocks=step["blocks"], unfurl_links=False, metadata=metadata)
        return f"{answer.get('channel') or step['channel']}@{answer.get('ts') or step.get('update_ts') or ''}"

    def _call(self, method, **kwargs):
        """A Web API call, its failures sorted into Retry (with Retry-After; `unsure` when it may have landed) and
        Permanent."""
        try:
            return method(**kwargs)
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
            reason = getattr(exc, "reason", exc)
            refused = isinstance(reason, (ConnectionRefusedError, socket.gaierror))
            raise Retry(f"slack unreachable: {type(exc).__name__}", unsure=not refused) from None

    # --- plans: [{channel, text, blocks, update_ts?, skip?}] ---------------------------------------------------------

    def _step(self, channel: str, kind: str, switches: Switches, text: str, body: list[dict[str, Any]],
              **extra) -> dict[str, Any]:
        channel = _bare(channel)
        step = {"channel": channel, "text": text, "blocks": body, **extra}
        if not switches.enabled(channel, kind):
            step["skip"] = "switched-off"
        return step

    def _channels(self, session, audience: notifications.Audience, switches: Switches) -> list[str]:
        """The Slack channels of an audience: named channels as they are; each journey's own channel, else its nearest
        parent's, else the council's; the council's channel for the council."""
        out = [_bare(c) for c in audience.channels if c]
        for key in audience.journeys:
            found = _inherited_channel(session, key) or switches.council_channel
            if found:
                out.append(_bare(found))
        if audience.council and switches.council_channel:
            out.append(_bare(switches.council_channel))
        return list(dict.fromkeys(out))

    def _plan_transition(self, notice: Notification, switches: Switches) -> list[dict[str, Any]]:
        about, facts = notice.about, notice.facts
        opp = SimpleNamespace(key=about.get("opportunity", "?"), title=about.get("title", ""))
        with self.db.session_scope() as session:
            channels = self._channels(session, notice.audience, switches)
            lifecycle = session.scalar(sa.select(Opportunity.lifecycle).where(Opportunity.key == opp.key))
            states = state_catalog(session, lifecycle)
            actor = _person_named(session, facts.get("actor"))
        body = blocks.transition_notice(opp, facts.get("from"), facts.get("to", "?"),
                                        actor=actor, reason=facts.get("reason"), states=states)
        if facts.get("message"):
            body.append(blocks.context(blocks.escape(facts["message"])))
        text = f"{opp.key} moved {states.title_of(facts.get('from') or '—')} → {states.title_of(facts.get('to') or '?')}"
        return [self._step(c, "transition", switches, text, body) for c in channels]

    def _plan_approval_request(self, notice: Notification, switches: Switches) -> list[dict[str, Any]]:
        request_id = int(notice.about.get("request_id", 0))
        with self.db.session_scope() as session:
            request = session.get(ApprovalRequest, request_id)
            if request is None:
                raise Permanent(f"approval request {request_id} does not exist")
            text, body = render_request(session, request)
            channels = self._channels(session, notice.audience, switches)  # the approvers in person: below
            approvers = [(p.slack_id, p.email) for p in session.scalars(
                sa.select(Person).where(Person.handle.in_(notice.audience.people)).order_by(Person.handle))]
            decided = request.status != "pending"
        steps = [self._step(c, "approval_request", switches, text, body) for c in channels]
        if switches.approvals in ("dm", "both") or not channels:
            # Direct messages to the approvers are the request itself, not a channel notification: never switched
            # off. Looked up (users.lookupByEmail where no Slack id is stored) after the session is closed.
            dms = [{"channel": user, "text": text, "blocks": body}
                   for user in dict.fromkeys(self.adapter.directory.slack_ids_for(approvers))]
            steps = (steps if switches.approvals == "both" or not dms else []) + dms
        if decided:  # decided before it was posted: each copy shows the outcome, the decision need not update it
            steps = [dict(step, shows_decision=request_id) for step in steps]
        return steps

    def _plan_approval_outcome(self, notice: Notification, switches: Switches) -> list[dict[str, Any]]:
        """Update every posted copy of the request in place to show the outcome (decided in Slack, the web app or the
        CLI); a copy already updated (by the Approve/Reject press itself) is not updated again. Nothing is posted
        where the request was shown; and while the request's own message is still on its way, it will show the
        outcome itself when it lands."""
        request_id = int(notice.about.get("request_id", 0))
        with self.db.session_scope() as session:
            request = session.get(ApprovalRequest, request_id)
            if request is None:
                raise Permanent(f"approval request {request_id} does not exist")
            text, body = render_request(session, request)
            posted = session.scalar(sa.select(OutboxMessage).where(
                OutboxMessage.dedupe_key == approval_notice_key(request_id, "requested")))
            copies = parse_ref(posted.external_ref) if posted is not None else {}
            unsent = posted is not None and posted.status != "delivered"
            # Copies that already show the outcome (an Approve/Reject press, or posted after the decision), as recorded
            # now (the message handed to us was read when its batch was claimed).
            shown = parse_ref(session.scalar(sa.select(OutboxMessage.external_ref).where(
                OutboxMessage.dedupe_key == approval_notice_key(request_id, "decided"))))
            channels = self._channels(session, notice.audience, switches)
        if unsent:
            return []
        updates = []
        for name, where in copies.items():
            channel_id, at, ts = where.partition("@")
            if at and ts and channel_id not in shown:
                updates.append({"channel": channel_id, "text": text, "blocks": body, "update_ts": ts})
        if copies:
            return updates
        # Never shown anywhere (switched off, or no channel): say it in the journey channels that want outcomes.
        return [self._step(c, "approval_outcome", switches, text, body) for c in channels]

    def _plan_agenda(self, notice: Notification, switches: Switches) -> list[dict[str, Any]]:
        agenda = notice.facts.get("agenda") or {}
        text = blocks.escape(notice.facts.get("summary")
                             or f"Agenda: {notice.about.get('name') or notice.about.get('ritual')}")
        with self.db.session_scope() as session:
            channels = self._channels(session, notice.audience, switches)
        return [self._step(c, "agenda", switches, text, blocks.agenda_blocks(agenda)) for c in channels]

    def _plan_evaluation_due(self, notice: Notification, switches: Switches) -> list[dict[str, Any]]:
        key = str(notice.about.get("opportunity", ""))
        number = key.rsplit("-", 1)[-1]
        with self.db.session_scope() as session:
            opp = session.scalar(sa.select(Opportunity).where(Opportunity.number == int(number))) \
                if number.isdigit() else None
            if opp is None:
                raise Permanent(f"unknown opportunity {key!r}")
            body = blocks.evaluation_due(opp, due=notice.facts.get("due_at"))
            text = f"Evaluation due for {opp.key}"
            channels = self._channels(session, notice.audience, switches)
        return [self._step(c, "evaluation_due", switches, text, body) for c in channels]

    def _plan_ownership_gap(self, notice: Notification, switches: Switches) -> list[dict[str, Any]]:
        key = notice.about.get("journey")
        with self.db.session_scope() as session:
            journey = session.scalar(sa.select(Journey).where(Journey.key == key)) if key else None
            gaps = [SimpleNamespace(name=journey.name, key=journey.key)] if journey and journey.owner_id is None else []
            channels = self._channels(session, notice.audience, switches)
        if not gaps:
            return []  # filled since: nothing to say
        return [self._step(c, "ownership_gap", switches, blocks.escape(f"Ownership gap: {gaps[0].name}"),
                           blocks.ownership_gap(gaps)) for c in channels]

    def _plan_sign_in_changed(self, notice: Notification, switches: Switches) -> list[dict[str, Any]]:
        """A direct message to the person whose password someone else set (never switched off): a takeover cannot go
        unnoticed."""
        with self.db.session_scope() as session:
            people = list(session.scalars(sa.select(Person).where(Person.handle.in_(notice.audience.people))))
            who = [(p.slack_id, p.email) for p in people]
        text = (f"{blocks.escape(notice.facts.get('by') or 'An administrator')} set a new sign-in password for you. "
                "You will be asked to choose your own when you next sign in. If you did not expect this, tell your "
                "administrator.")
        body = [blocks.section(f":closed_lock_with_key: {text}")]
        return [{"channel": user, "text": text, "blocks": body}
                for user in dict.fromkeys(self.adapter.directory.slack_ids_for(who))]


def _with_link(body: list[dict[str, Any]], link: str) -> list[dict[str, Any]]:
    """The message with a context line linking to the web app, above its buttons when it ends with some."""
    line = blocks.context(link)
    if body and body[-1].get("type") == "actions":
        return [*body[:-1], line, body[-1]]
    return [*body, line]


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
