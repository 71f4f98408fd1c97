"""HTTP surface of rituals: `blp` (REST, mounted under /api/v1) and `calendar_bp` (the iCalendar feeds).

Routes translate and delegate to rituals.services; they hold no rules. The feed route is authenticated by its
unguessable token alone (calendar apps send no credentials); an unknown or revoked token is a plain 404.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint as FlaskBlueprint
from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from govern.api.common import current_actor, db_session, runtime
from govern.errors import InvalidInput
from govern.model import Person, RitualOccurrence
from rituals import agenda as agenda_mod
from rituals import services
from rituals.cadence import describe

blp = Blueprint("rituals", __name__, url_prefix="", description="Rituals: occurrences, agendas, minutes, "
                "decisions, follow-ups and calendar feeds")
calendar_bp = FlaskBlueprint("calendar", __name__)


# --- schemas (request bodies; responses are documented by example in the playbook) --------------------------------


class AtQuery(Schema):
    at = fields.String(metadata={"description": "occurrence start: ISO time; without offset, the ritual's local time"})


class AgendaQuery(AtQuery):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "md", "slack"]))
    fresh = fields.Boolean(load_default=False)


class OccurrencesQuery(Schema):
    status = fields.String(validate=validate.OneOf(["planned", "held", "skipped", "cancelled", "missed"]))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class FollowUpInput(Schema):
    text = fields.String(required=True)
    owner = fields.String(required=True)
    due_on = fields.Date(required=True)


class DecisionInput(Schema):
    text = fields.String(required=True)
    opportunity = fields.String(metadata={"description": "OPP-12"})
    request = fields.Integer(metadata={"description": "approval request id"})
    outcome = fields.String(validate=validate.OneOf(services.DECISION_OUTCOMES))
    reason = fields.String()
    follow_ups = fields.List(fields.Nested(FollowUpInput), load_default=list)


class HoldInput(Schema):
    attendance = fields.Dict(keys=fields.String(), values=fields.Boolean(),
                             metadata={"description": "{handle: present}"})
    notes = fields.String()
    decisions = fields.List(fields.Nested(DecisionInput), load_default=list)
    follow_ups = fields.List(fields.Nested(FollowUpInput), load_default=list)


class ReasonInput(Schema):
    reason = fields.String()


class PublishInput(AtQuery):
    occurrence_id = fields.Integer()


class CalendarTokenInput(Schema):
    ritual = fields.String()
    person = fields.String()


class FollowUpQuery(Schema):
    owner = fields.String()
    ritual = fields.String()


# --- rituals ---------------------------------------------------------------------------------------------------------


def _ritual_dict(session, actor, ritual, upcoming: int = 1) -> dict:
    nxt = services.upcoming(session, actor, ritual=ritual.key, limit=upcoming)
    return {
        "key": ritual.key, "name": ritual.name, "purpose": ritual.purpose, "cadence_kind": ritual.cadence_kind,
        "cadence": ritual.cadence, "cadence_text": describe(ritual.cadence_kind, ritual.cadence, ritual.timezone),
        "timezone": ritual.timezone, "duration_minutes": ritual.duration_minutes,
        "scope": {"kind": ritual.scope_kind, "journey": ritual.scope_journey.key if ritual.scope_journey else None,
                  "label": agenda_mod.scope_label(session, ritual)},
        "attendees": {"roles": list(ritual.attendee_roles or []), "people": list(ritual.attendee_people or [])},
        "slack_channel": ritual.slack_channel, "agenda_sections": agenda_mod.sections_of(ritual),
        "agenda_lead_minutes": ritual.agenda_lead_minutes, "piggyback_on": ritual.piggyback_on,
        "settings": dict(ritual.settings or {}), "active": ritual.active,
        "upcoming": [{"scheduled_at": services.iso(u.scheduled_at), "status": u.status,
                      "occurrence_id": u.occurrence.id if u.occurrence else None} for u in nxt],
    }


@blp.route("/rituals")
def list_rituals():
    """Every active ritual with its next occurrence."""
    session, actor = db_session(), current_actor()
    return [_ritual_dict(session, actor, r) for r in services.list_rituals(session, actor)]


@blp.route("/rituals/<key>")
def get_ritual(key: str):
    """One ritual with its next ten occurrences."""
    session, actor = db_session(), current_actor()
    actor.require("read")
    return _ritual_dict(session, actor, services.get_ritual(session, key), upcoming=10)


@blp.route("/rituals/<key>/occurrences")
@blp.arguments(OccurrencesQuery, location="query")
def list_occurrences(args, key: str):
    """Recorded occurrences, latest first (rows exist up to five weeks ahead)."""
    session, actor = db_session(), current_actor()
    actor.require("read")
    ritual = services.get_ritual(session, key)
    query = (sa.select(RitualOccurrence).where(RitualOccurrence.ritual_id == ritual.id)
             .order_by(RitualOccurrence.scheduled_at.desc()).limit(args["limit"]))
    if args.get("status"):
        query = query.where(RitualOccurrence.status == args["status"])
    return [services.occurrence_dict(o) for o in session.scalars(query)]


def _render(agenda: dict, fmt: str):
    if fmt == "md":
        return Response(agenda_mod.to_markdown(agenda), mimetype="text/markdown; charset=utf-8")
    if fmt == "slack":
        return {"blocks": agenda_mod.to_slack_blocks(agenda), "text": agenda_mod.summary_text(agenda)}
    return agenda


@blp.route("/rituals/<key>/agenda")
@blp.arguments(AgendaQuery, location="query")
def ritual_agenda(args, key: str):
    """The agenda of the next occurrence (or `at`): as posted, or built now from live data (`fresh` rebuilds)."""
    session, actor = db_session(), current_actor()
    agenda = services.agenda_for(session, actor, key, at=args.get("at"), fresh=args["fresh"])
    return _render(agenda, args["format"])


@blp.route("/rituals/<key>/agenda/publish", methods=["POST"])
@blp.arguments(PublishInput)
def publish_agenda(body, key: str):
    """Build the agenda now and queue its Slack post (once per occurrence; the scheduler would otherwise do it)."""
    session, actor = db_session(), current_actor()
    occurrence = services.publish_agenda(session, actor, key, at=body.get("at"),
                                         occurrence_id=body.get("occurrence_id"))
    return {"occurrence": services.occurrence_dict(occurrence), "agenda": occurrence.agenda}, 201


# --- occurrences: minutes, decisions, skip/cancel ---------------------------------------------------------------------


@blp.route("/occurrences/<int:occurrence_id>")
def get_occurrence(occurrence_id: int):
    """An occurrence with its minutes: attendance, notes, decisions and follow-ups."""
    return services.minutes(db_session(), current_actor(), occurrence_id)


@blp.route("/occurrences/<int:occurrence_id>/agenda")
@blp.arguments(AgendaQuery, location="query")
def occurrence_agenda(args, occurrence_id: int):
    session, actor = db_session(), current_actor()
    occurrence = services.get_occurrence(session, occurrence_id)
    agenda = services.agenda_for(session, actor, occurrence.ritual.key, occurrence_id=occurrence_id,
                                 fresh=args["fresh"])
    return _render(agenda, args["format"])


@blp.route("/occurrences/<int:occurrence_id>/hold", methods=["POST"])
@blp.arguments(HoldInput)
def hold(body, occurrence_id: int):
    """Record the occurrence as held with attendance, notes, decisions (which may approve or reject pending
    requests, with the caller's own approval rights) and follow-ups. Call again to add to the minutes."""
    session, actor = db_session(), current_actor()
    services.hold_ritual(session, actor, occurrence_id, attendance=body.get("attendance"), notes=body.get("notes"),
                         decisions=body["decisions"], follow_ups=body["follow_ups"])
    return services.minutes(session, actor, occurrence_id)


@blp.route("/occurrences/<int:occurrence_id>/decisions", methods=["POST"])
@blp.arguments(DecisionInput)
def add_decision(body, occurrence_id: int):
    session, actor = db_session(), current_actor()
    decision = services.record_decision(session, actor, occurrence_id, body)
    return services.decision_dict(session, decision, []), 201


@blp.route("/occurrences/<int:occurrence_id>/follow-ups", methods=["POST"])
@blp.arguments(FollowUpInput)
def add_follow_up(body, occurrence_id: int):
    session, actor = db_session(), current_actor()
    follow_up = services.add_follow_up(session, actor, occurrence_id, text=body["text"], owner=body["owner"],
                                       due_on=body["due_on"])
    return services.follow_up_dict(follow_up), 201


@blp.route("/occurrences/<int:occurrence_id>/skip", methods=["POST"])
@blp.arguments(ReasonInput)
def skip(body, occurrence_id: int):
    session, actor = db_session(), current_actor()
    return services.occurrence_dict(services.skip_occurrence(session, actor, occurrence_id,
                                                             reason=body.get("reason")))


@blp.route("/occurrences/<int:occurrence_id>/cancel", methods=["POST"])
@blp.arguments(ReasonInput)
def cancel(body, occurrence_id: int):
    session, actor = db_session(), current_actor()
    return services.occurrence_dict(services.cancel_occurrence(session, actor, occurrence_id,
                                                               reason=body.get("reason")))


@blp.route("/occurrences/<int:occurrence_id>/reinstate", methods=["POST"])
def reinstate(occurrence_id: int):
    session, actor = db_session(), current_actor()
    return services.occurrence_dict(services.reinstate_occurrence(session, actor, occurrence_id))


# --- follow-ups ------------------------------------------------------------------------------------------------------


@blp.route("/follow-ups")
@blp.arguments(FollowUpQuery, location="query")
def list_follow_ups(args):
    """Open follow-ups (they stay on the next agenda until done)."""
    session, actor = db_session(), current_actor()
    return [services.follow_up_dict(f) for f in services.open_follow_ups(session, actor, owner=args.get("owner"),
                                                                           ritual=args.get("ritual"))]


@blp.route("/follow-ups/<int:follow_up_id>/done", methods=["POST"])
def follow_up_done(follow_up_id: int):
    session, actor = db_session(), current_actor()
    return services.follow_up_dict(services.complete_follow_up(session, actor, follow_up_id))


# --- calendar tokens -------------------------------------------------------------------------------------------------


def _feed_url(path: str) -> str:
    base = runtime().config.base_url or request.host_url
    return f"{base.rstrip('/')}{path}"


@blp.route("/calendar-tokens", methods=["POST"])
@blp.arguments(CalendarTokenInput)
def create_calendar_token(body):
    """A feed link for one ritual or one person's rituals; the link is shown once (only its hash is stored)."""
    if not body.get("ritual") and not body.get("person"):
        actor = current_actor()
        if actor.person_id is None:
            raise InvalidInput("give ritual or person", {"ritual": "ritual or person"})
        body = {"person": db_session().get(Person, actor.person_id).handle}
    issued = services.create_calendar_token(db_session(), current_actor(), ritual=body.get("ritual"),
                                            person=body.get("person"))
    return {"id": issued.token.id, "url": _feed_url(issued.path), "ritual": body.get("ritual"),
            "person": body.get("person")}, 201


@blp.route("/calendar-tokens")
def list_calendar_tokens():
    tokens = services.list_calendar_tokens(db_session(), current_actor())
    return [{"id": t.id, "ritual_id": t.ritual_id, "person_id": t.person_id, "created_at": services.iso(t.created_at),
             "revoked_at": services.iso(t.revoked_at)} for t in tokens]


@blp.route("/calendar-tokens/<int:token_id>", methods=["DELETE"])
def revoke_calendar_token(token_id: int):
    token = services.revoke_calendar_token(db_session(), current_actor(), token_id)
    return {"id": token.id, "revoked_at": services.iso(token.revoked_at)}


# --- the feeds -------------------------------------------------------------------------------------------------------


@calendar_bp.route("/calendar/<token>.ics")
def calendar_feed(token: str):
    """text/calendar for a subscription; 404 for an unknown or revoked token (no hint which)."""
    filename, body = services.calendar_feed(db_session(), token, base_url=runtime().config.base_url)
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": f'inline; filename="{filename}"',
        "Cache-Control": "private, max-age=900",
    })
