"""Notifications: what the core, the lifecycle and rituals tell people — as plain data, for any chat tool.

A producer says what happened (`event`), what it is about (`about`: the opportunity, request, ritual or journey, with
the few words a message needs), who should hear of it (`audience`) and the facts of the matter (`facts`). It never
says how a message looks or which chat tool carries it: each chat adapter (the Slack one in
`govern.integrations.slack`) reads the topic below from the outbox and renders the events in its own format, with
its own per-channel switches. The outbox stays the delivery queue, written in the producer's transaction.

Events (`event` → about / facts):

- `opportunity.moved`    about the opportunity; facts from, to, trigger, actor, reason, message (the effect's text)
- `approval.requested`   about the request and its opportunity; facts from, to, trigger, requested_by, reason,
                         approvers (names), waiting_for; audience.people: the handles of those who may approve
- `approval.decided`     about the request and its opportunity; facts status, by, reason, trigger, to. A chat adapter
                         updates the message it posted for the request instead of posting again
- `evaluation.due`       about the opportunity; facts due_at (delivered no earlier than that)
- `ritual.agenda`        about the ritual occurrence; facts agenda (the agenda as built, plain data)
- `journey.ownership_gap` about the journey; facts text
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from sqlalchemy.orm import Session

from govern import outbox
from govern.model import OutboxMessage

TOPIC = "notifications"

OPPORTUNITY_MOVED = "opportunity.moved"
APPROVAL_REQUESTED = "approval.requested"
APPROVAL_DECIDED = "approval.decided"
EVALUATION_DUE = "evaluation.due"
RITUAL_AGENDA = "ritual.agenda"
OWNERSHIP_GAP = "journey.ownership_gap"
SIGN_IN_CHANGED = "person.sign_in_changed"  # someone else set this person's password: tell them directly
EVENTS = (OPPORTUNITY_MOVED, APPROVAL_REQUESTED, APPROVAL_DECIDED, EVALUATION_DUE, RITUAL_AGENDA, OWNERSHIP_GAP,
          SIGN_IN_CHANGED)


@dataclass(frozen=True)
class Audience:
    """Who should hear of an event. A chat adapter maps each part to its own places (channels, direct messages).

    journeys: the people following these journeys (by key); channels: named channels, as configured by the
    organisation (a ritual's or journey's channel, a lifecycle effect's); people: these persons directly (handles);
    council: the council as a whole (its channel)."""

    journeys: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    council: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"journeys": list(self.journeys), "channels": list(self.channels), "people": list(self.people),
                "council": self.council}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "Audience":
        data = data or {}
        return cls(journeys=tuple(data.get("journeys") or ()), channels=tuple(data.get("channels") or ()),
                   people=tuple(data.get("people") or ()), council=bool(data.get("council")))


@dataclass(frozen=True)
class Notification:
    """One event as a chat adapter reads it back from the outbox."""

    event: str
    about: dict[str, Any]
    audience: Audience
    facts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, message: OutboxMessage) -> "Notification":
        payload = message.payload or {}
        return cls(event=message.kind, about=dict(payload.get("about") or {}),
                   audience=Audience.from_dict(payload.get("audience")), facts=dict(payload.get("facts") or {}))


def notify(session: Session, event: str, *, about: Mapping[str, Any], audience: Audience,
           facts: Mapping[str, Any] | None = None, dedupe_key: str | None = None,
           not_before: dt.datetime | None = None) -> OutboxMessage | None:
    """Queue a notification in the caller's transaction (None when `dedupe_key` was queued before)."""
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r} (known: {', '.join(EVENTS)})")
    return outbox.enqueue(session, TOPIC, event,
                          {"about": dict(about), "audience": audience.as_dict(), "facts": dict(facts or {})},
                          dedupe_key=dedupe_key, not_before=not_before)


def journeys_of(keys: Iterable[str]) -> Audience:
    """The audience of something that touches these journeys."""
    return Audience(journeys=tuple(keys))
