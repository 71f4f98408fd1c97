"""HTTP surface of rituals: `blp` (REST, mounted under /api/v1) and `calendar_bp` (the iCalendar feeds).

Routes translate and delegate to rituals.services; they hold no rules. Every route documents its answer and its
errors (govern.http.openapi's Blueprint and `errors`), so the OpenAPI document describes what callers really get. The
feed route is authenticated by its unguessable token alone (calendar apps send no credentials); an unknown or revoked
token is a plain 404.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint as FlaskBlueprint
from flask import Response, jsonify, request
from marshmallow import Schema, fields, validate

from govern.http.openapi import Blueprint
from govern.http.request import current_actor, db_session, runtime
from govern.errors import InvalidInput
from govern.model import Person, RitualOccurrence
from govern.rituals import agenda as agenda_mod
from govern.rituals import services
from govern.rituals.cadence import describe
from govern.rituals.config import AGENDA_SECTIONS

blp = Blueprint("rituals", __name__, url_prefix="", description="Rituals: occurrences, agendas, minutes, "
                "decisions, follow-ups and calendar feeds")
calendar_bp = FlaskBlueprint("calendar", __name__)

OCCURRENCE_STATUSES = ["planned", "held", "skipped", "cancelled", "missed"]


# --- request schemas -------------------------------------------------------------------------------------------------


class AtQuery(Schema):
    at = fields.String(metadata={"description": "occurrence start: ISO time; without offset, the ritual's local time"})


class AgendaQuery(AtQuery):
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "md"]))
    fresh = fields.Boolean(load_default=False)


class OccurrencesQuery(Schema):
    status = fields.String(validate=validate.OneOf(OCCURRENCE_STATUSES))
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


class MoveInput(Schema):
    to = fields.String(required=True, metadata={
        "description": "the new start: ISO time; without offset, the ritual's local time. Must be still to come"})
    reason = fields.String(required=True, metadata={"description": "why the meeting moves (shown in calendars)"})


class RitualMoveInput(MoveInput):
    at = fields.String(required=True, metadata={
        "description": "which occurrence: its cadence time (ISO; without offset, the ritual's local time)"})


class AgendaItemInput(Schema):
    text = fields.String(required=True, metadata={"description": "what to discuss (at most 2000 characters)"})


class RitualAgendaItemInput(AgendaItemInput):
    at = fields.String(metadata={"description": "which occurrence (its cadence time); the next one if left out"})


class PublishInput(AtQuery):
    occurrence_id = fields.Integer()


class CalendarTokenInput(Schema):
    ritual = fields.String()
    person = fields.String()


class FollowUpQuery(Schema):
    owner = fields.String()
    ritual = fields.String()


# --- response schemas (the dicts built by rituals.services and rituals.agenda, field for field) ----------------------


def Timestamp(**kwargs) -> fields.String:  # noqa: N802 - reads like a field
    """A UTC time as services.iso writes it (RFC 3339, ending in Z)."""
    return fields.String(metadata={"format": "date-time", **kwargs.pop("metadata", {})}, **kwargs)


def Day(**kwargs) -> fields.String:  # noqa: N802
    return fields.String(metadata={"format": "date", **kwargs.pop("metadata", {})}, **kwargs)


class RitualScopeSchema(Schema):
    kind = fields.String(required=True, metadata={"description": "council, journey or subtree"})
    journey = fields.String(required=True, allow_none=True)
    label = fields.String(required=True)


class RitualAttendeesSchema(Schema):
    roles = fields.List(fields.String(), required=True)
    people = fields.List(fields.String(), required=True)


class UpcomingOccurrenceSchema(Schema):
    scheduled_at = Timestamp(required=True)
    status = fields.String(required=True)
    occurrence_id = fields.Integer(required=True, allow_none=True,
                                   metadata={"description": "null until the occurrence is recorded"})


class RitualSchema(Schema):
    key = fields.String(required=True)
    name = fields.String(required=True)
    purpose = fields.String(required=True, allow_none=True)
    cadence_kind = fields.String(required=True, metadata={"description": "cron or rrule"})
    cadence = fields.String(required=True)
    cadence_text = fields.String(required=True, metadata={"description": "the cadence in words"})
    timezone = fields.String(required=True)
    duration_minutes = fields.Integer(required=True)
    scope = fields.Nested(RitualScopeSchema, required=True)
    attendees = fields.Nested(RitualAttendeesSchema, required=True)
    slack_channel = fields.String(required=True, allow_none=True)
    agenda_sections = fields.List(fields.String(), required=True)
    agenda_lead_minutes = fields.Integer(required=True, allow_none=True)
    piggyback_on = fields.String(required=True, allow_none=True)
    settings = fields.Dict(keys=fields.String(), required=True,
                           metadata={"description": "extra keys from govern.yaml, e.g. stale_after_days"})
    active = fields.Boolean(required=True)
    upcoming = fields.List(fields.Nested(UpcomingOccurrenceSchema), required=True)


class OccurrenceSchema(Schema):
    id = fields.Integer(required=True)
    ritual = fields.String(required=True)
    ritual_name = fields.String(required=True)
    scheduled_at = Timestamp(required=True)
    local_time = fields.String(required=True, metadata={"description": "in the ritual's time zone"})
    status = fields.String(required=True, validate=validate.OneOf(OCCURRENCE_STATUSES))
    agenda_built_at = Timestamp(required=True, allow_none=True)
    agenda_posted_at = Timestamp(required=True, allow_none=True)
    held_at = Timestamp(required=True, allow_none=True)
    fired_by = fields.String(required=True, allow_none=True,
                             metadata={"description": "who posted the agenda: the scheduler or manual:<handle>"})
    moved_to = Timestamp(required=True, allow_none=True, metadata={
        "description": "when a moved occurrence meets instead of scheduled_at (which stays its key)"})
    status_reason = fields.String(required=True, allow_none=True,
                                  metadata={"description": "why it was moved, skipped or cancelled"})


class RitualFollowUpSchema(Schema):
    id = fields.Integer(required=True)
    text = fields.String(required=True)
    owner = fields.String(required=True, allow_none=True)
    due_on = Day(required=True, allow_none=True)
    done_at = Timestamp(required=True, allow_none=True)
    decision = fields.Integer(required=True, allow_none=True)
    occurrence = fields.Integer(required=True, allow_none=True)


class RitualDecisionSchema(Schema):
    id = fields.Integer(required=True)
    text = fields.String(required=True)
    outcome = fields.String(required=True, allow_none=True, metadata={"description": "approved, rejected or noted"})
    opportunity = fields.String(required=True, allow_none=True)
    request = fields.Integer(required=True, allow_none=True)
    decided_by = fields.String(required=True, allow_none=True)
    at = Timestamp(required=True, allow_none=True)
    follow_ups = fields.List(fields.Nested(RitualFollowUpSchema), required=True)


class AttendanceSchema(Schema):
    person = fields.String(required=True)
    present = fields.Boolean(required=True)


class MinutesSchema(Schema):
    occurrence = fields.Nested(OccurrenceSchema, required=True)
    attendance = fields.List(fields.Nested(AttendanceSchema), required=True)
    notes = fields.String(required=True, allow_none=True)
    decisions = fields.List(fields.Nested(RitualDecisionSchema), required=True)
    follow_ups = fields.List(fields.Nested(RitualFollowUpSchema), required=True,
                             metadata={"description": "follow-ups not tied to a decision"})


class AgendaRitualSchema(Schema):
    key = fields.String(required=True)
    name = fields.String(required=True)
    purpose = fields.String(required=True, allow_none=True)
    piggyback_on = fields.String(required=True, allow_none=True)
    slack_channel = fields.String(required=True, allow_none=True)
    duration_minutes = fields.Integer(required=True)
    timezone = fields.String(required=True)


class AgendaSectionSchema(Schema):
    key = fields.String(required=True, validate=validate.OneOf(list(AGENDA_SECTIONS)))
    title = fields.String(required=True)
    items = fields.List(fields.Dict(keys=fields.String(), metadata={
        "description": "one line of the agenda: `text` always, with the section's own fields (ref, ids, …)",
        "properties": {"text": {"type": "string"}}, "required": ["text"]}), required=True)


class AddedAgendaItemSchema(Schema):
    id = fields.Integer(required=True)
    text = fields.String(required=True)
    added_by = fields.String(required=True, allow_none=True, metadata={"description": "the person's name"})
    added_at = Timestamp(required=True)


class MinutesVersionSchema(Schema):
    version = fields.Integer(required=True, metadata={"description": "1 for the first text, then one per edit"})
    notes = fields.String(required=True, allow_none=True)
    recorded_by = fields.String(required=True, allow_none=True, metadata={"description": "handle"})
    recorded_at = Timestamp(required=True)


class AgendaSchema(Schema):
    format = fields.Integer(required=True, metadata={"description": "version of this structure"})
    ritual = fields.Nested(AgendaRitualSchema, required=True)
    occurrence_id = fields.Integer(required=True, allow_none=True)
    scheduled_at = Timestamp(required=True)
    local_time = fields.String(required=True)
    scope = fields.Nested(RitualScopeSchema, required=True)
    since = Timestamp(required=True, allow_none=True, metadata={"description": "the previous occurrence"})
    stale_after_days = fields.Integer(required=True)
    built_at = Timestamp(required=True)
    sections = fields.List(fields.Nested(AgendaSectionSchema), required=True)
    added = fields.List(fields.Nested(AddedAgendaItemSchema), load_default=list, metadata={
        "description": "points people added to this occurrence's agenda before the meeting, in order"})


class PublishedAgendaSchema(Schema):
    occurrence = fields.Nested(OccurrenceSchema, required=True)
    agenda = fields.Nested(AgendaSchema, required=True)


class CalendarTokenSchema(Schema):
    id = fields.Integer(required=True)
    ritual_id = fields.Integer(required=True, allow_none=True)
    person_id = fields.Integer(required=True, allow_none=True)
    created_at = Timestamp(required=True)
    revoked_at = Timestamp(required=True, allow_none=True)


class IssuedCalendarTokenSchema(Schema):
    id = fields.Integer(required=True)
    url = fields.String(required=True, metadata={"description": "the feed link; shown this once"})
    ritual = fields.String(required=True, allow_none=True)
    person = fields.String(required=True, allow_none=True)


class RevokedCalendarTokenSchema(Schema):
    id = fields.Integer(required=True)
    revoked_at = Timestamp(required=True)


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
@blp.response(200, RitualSchema(many=True))
@blp.errors()
def list_rituals():
    """Every active ritual with its next occurrence."""
    session, actor = db_session(), current_actor()
    return [_ritual_dict(session, actor, r) for r in services.list_rituals(session, actor)]


@blp.route("/rituals/<key>")
@blp.response(200, RitualSchema)
@blp.errors(404)
def get_ritual(key: str):
    """One ritual with its next ten occurrences."""
    session, actor = db_session(), current_actor()
    actor.require("read")
    return _ritual_dict(session, actor, services.get_ritual(session, key), upcoming=10)


@blp.route("/rituals/<key>/occurrences")
@blp.arguments(OccurrencesQuery, location="query")
@blp.response(200, OccurrenceSchema(many=True))
@blp.errors(404)
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


def _render(agenda: dict, fmt: str) -> Response:
    """The agenda as asked: JSON (the agenda, as plain data) or Markdown. How a chat tool shows it is its adapter's
    business (the Slack adapter renders the `ritual.agenda` notification). Always a finished response."""
    if fmt == "md":
        return Response(agenda_mod.to_markdown(agenda), mimetype="text/markdown; charset=utf-8")
    return jsonify(AgendaSchema().dump(agenda))


def _agenda_responses(fn):
    """Document an agenda route's answers (JSON or Markdown) and its errors."""
    fn = blp.errors(404, 422)(fn)
    fn = blp.alt_response(200, schema={"type": "string"}, content_type="text/markdown", success=True,
                          description="the agenda as Markdown (format=md)")(fn)
    return blp.response(200, AgendaSchema, description="the agenda as JSON (or as Markdown with format=md)")(fn)


@blp.route("/rituals/<key>/agenda")
@blp.arguments(AgendaQuery, location="query")
@_agenda_responses
def ritual_agenda(args, key: str):
    """The agenda of the next occurrence (or `at`): as posted, or built now from live data (`fresh` rebuilds)."""
    session, actor = db_session(), current_actor()
    agenda = services.agenda_for(session, actor, key, at=args.get("at"), fresh=args["fresh"])
    return _render(agenda, args["format"])


@blp.route("/rituals/<key>/agenda/publish", methods=["POST"])
@blp.arguments(PublishInput)
@blp.response(201, PublishedAgendaSchema)
@blp.errors(403, 404, 409, 422)
def publish_agenda(body, key: str):
    """Build the agenda now and announce it in the ritual's channel (once per occurrence; the scheduler would
    otherwise do it)."""
    session, actor = db_session(), current_actor()
    occurrence = services.publish_agenda(session, actor, key, at=body.get("at"),
                                         occurrence_id=body.get("occurrence_id"))
    return {"occurrence": services.occurrence_dict(occurrence), "agenda": occurrence.agenda}, 201


# --- occurrences: minutes, decisions, skip/cancel ---------------------------------------------------------------------


@blp.route("/occurrences/<id:occurrence_id>")
@blp.response(200, MinutesSchema)
@blp.errors(404)
def get_occurrence(occurrence_id: int):
    """An occurrence with its minutes: attendance, notes, decisions and follow-ups."""
    return services.minutes(db_session(), current_actor(), occurrence_id)


@blp.route("/occurrences/<id:occurrence_id>/agenda")
@blp.arguments(AgendaQuery, location="query")
@_agenda_responses
def occurrence_agenda(args, occurrence_id: int):
    """The agenda of this occurrence: as posted, or built now from live data (`fresh` rebuilds)."""
    session, actor = db_session(), current_actor()
    occurrence = services.get_occurrence(session, occurrence_id)
    agenda = services.agenda_for(session, actor, occurrence.ritual.key, occurrence_id=occurrence_id,
                                 fresh=args["fresh"])
    return _render(agenda, args["format"])


@blp.route("/occurrences/<id:occurrence_id>/hold", methods=["POST"])
@blp.arguments(HoldInput)
@blp.response(200, MinutesSchema)
@blp.errors(403, 404, 409, 422)
def hold(body, occurrence_id: int):
    """Record the occurrence as held with attendance, notes, decisions (which may approve or reject pending
    requests, with the caller's own approval rights) and follow-ups. Call again to add to the minutes."""
    session, actor = db_session(), current_actor()
    services.hold_ritual(session, actor, occurrence_id, attendance=body.get("attendance"), notes=body.get("notes"),
                         decisions=body["decisions"], follow_ups=body["follow_ups"])
    return services.minutes(session, actor, occurrence_id)


@blp.route("/occurrences/<id:occurrence_id>/decisions", methods=["POST"])
@blp.arguments(DecisionInput)
@blp.response(201, RitualDecisionSchema)
@blp.errors(403, 404, 409, 422)
def add_decision(body, occurrence_id: int):
    """Add one decision (with its follow-ups) to the minutes, holding the occurrence if it was not yet."""
    session, actor = db_session(), current_actor()
    decision = services.record_decision(session, actor, occurrence_id, body)
    return services.decision_dict(session, decision, []), 201


@blp.route("/occurrences/<id:occurrence_id>/follow-ups", methods=["POST"])
@blp.arguments(FollowUpInput)
@blp.response(201, RitualFollowUpSchema)
@blp.errors(403, 404, 422)
def add_follow_up(body, occurrence_id: int):
    """Add a follow-up (text, owner, due date) to the minutes of an occurrence."""
    session, actor = db_session(), current_actor()
    follow_up = services.add_follow_up(session, actor, occurrence_id, text=body["text"], owner=body["owner"],
                                       due_on=body["due_on"])
    return services.follow_up_dict(follow_up), 201


@blp.route("/occurrences/<id:occurrence_id>/skip", methods=["POST"])
@blp.arguments(ReasonInput)
@blp.response(200, OccurrenceSchema)
@blp.errors(403, 404, 409)
def skip(body, occurrence_id: int):
    """The council decided not to meet this time; no agenda is posted."""
    session, actor = db_session(), current_actor()
    return services.occurrence_dict(services.skip_occurrence(session, actor, occurrence_id,
                                                             reason=body.get("reason")))


@blp.route("/occurrences/<id:occurrence_id>/cancel", methods=["POST"])
@blp.arguments(ReasonInput)
@blp.response(200, OccurrenceSchema)
@blp.errors(403, 404, 409)
def cancel(body, occurrence_id: int):
    """The meeting is called off (a public holiday, an off-site); calendars show it cancelled."""
    session, actor = db_session(), current_actor()
    return services.occurrence_dict(services.cancel_occurrence(session, actor, occurrence_id,
                                                               reason=body.get("reason")))


@blp.route("/occurrences/<id:occurrence_id>/reinstate", methods=["POST"])
@blp.response(200, OccurrenceSchema)
@blp.errors(403, 404, 409)
def reinstate(occurrence_id: int):
    """Undo a skip or cancel (back to planned)."""
    session, actor = db_session(), current_actor()
    return services.occurrence_dict(services.reinstate_occurrence(session, actor, occurrence_id))


@blp.route("/occurrences/<id:occurrence_id>/move", methods=["POST"])
@blp.arguments(MoveInput)
@blp.response(200, OccurrenceSchema)
@blp.errors(403, 404, 409, 422)
def move(body, occurrence_id: int):
    """Meet at another time this once, with a reason; the calendar feeds show the new time and the reason."""
    session, actor = db_session(), current_actor()
    return services.occurrence_dict(services.move_occurrence(session, actor, occurrence_id, to=body["to"],
                                                             reason=body["reason"]))


@blp.route("/rituals/<key>/move", methods=["POST"])
@blp.arguments(RitualMoveInput)
@blp.response(200, OccurrenceSchema)
@blp.errors(403, 404, 409, 422)
def move_at(body, key: str):
    """Move an occurrence named by its cadence time (`at`), recorded by this write if it was not yet."""
    session, actor = db_session(), current_actor()
    occurrence = services.move_occurrence(session, actor, services.At(key, body["at"]), to=body["to"],
                                          reason=body["reason"])
    return services.occurrence_dict(occurrence)


@blp.route("/occurrences/<id:occurrence_id>/agenda-items", methods=["POST"])
@blp.arguments(AgendaItemInput)
@blp.response(201, AddedAgendaItemSchema)
@blp.errors(403, 404, 409, 422)
def add_agenda_item(body, occurrence_id: int):
    """Put a point on this occurrence's agenda before the meeting (it shows in the agenda's `added`)."""
    session, actor = db_session(), current_actor()
    item = services.add_agenda_item(session, actor, occurrence_id, text=body["text"])
    return _added(session, item), 201


@blp.route("/rituals/<key>/agenda-items", methods=["POST"])
@blp.arguments(RitualAgendaItemInput)
@blp.response(201, AddedAgendaItemSchema)
@blp.errors(403, 404, 409, 422)
def add_ritual_agenda_item(body, key: str):
    """Put a point on the agenda of the next occurrence (or the one at `at`), recorded by this write if need be."""
    session, actor = db_session(), current_actor()
    actor.require("read")
    when = body.get("at")
    if not when:
        ritual = services.get_ritual(session, key)
        when = services.iso(services.resolve_occurrence(session, ritual, default="next", record=False).scheduled_at)
    item = services.add_agenda_item(session, actor, services.At(key, when), text=body["text"])
    return _added(session, item), 201


def _added(session, item) -> dict:
    return next(i for i in agenda_mod.added_items(session, item.occurrence_id) if i["id"] == item.id)


@blp.route("/occurrences/<id:occurrence_id>/minutes-versions")
@blp.response(200, MinutesVersionSchema(many=True))
@blp.errors(404)
def minutes_versions(occurrence_id: int):
    """Every text the occurrence's notes have had, oldest first (editing the minutes keeps the earlier text)."""
    session, actor = db_session(), current_actor()
    services.get_occurrence(session, occurrence_id)
    handles = dict(session.execute(sa.select(Person.id, Person.handle)).all())
    return [{"version": v.version, "notes": v.notes, "recorded_by": handles.get(v.recorded_by_id),
             "recorded_at": services.iso(v.recorded_at)}
            for v in services.minutes_versions(session, actor, occurrence_id)]


# --- follow-ups ------------------------------------------------------------------------------------------------------


@blp.route("/follow-ups")
@blp.arguments(FollowUpQuery, location="query")
@blp.response(200, RitualFollowUpSchema(many=True))
@blp.errors(404)
def list_follow_ups(args):
    """Open follow-ups (they stay on the next agenda until done)."""
    session, actor = db_session(), current_actor()
    return [services.follow_up_dict(f) for f in services.open_follow_ups(session, actor, owner=args.get("owner"),
                                                                           ritual=args.get("ritual"))]


@blp.route("/follow-ups/<id:follow_up_id>/done", methods=["POST"])
@blp.response(200, RitualFollowUpSchema)
@blp.errors(403, 404, 409)
def follow_up_done(follow_up_id: int):
    """Mark a follow-up done: its owner may, and so may whoever records rituals."""
    session, actor = db_session(), current_actor()
    return services.follow_up_dict(services.complete_follow_up(session, actor, follow_up_id))


# --- calendar tokens -------------------------------------------------------------------------------------------------


def _feed_url(path: str) -> str:
    base = runtime().config.base_url or request.host_url
    return f"{base.rstrip('/')}{path}"


@blp.route("/calendar-tokens", methods=["POST"])
@blp.arguments(CalendarTokenInput)
@blp.response(201, IssuedCalendarTokenSchema)
@blp.errors(403, 404, 422)
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
@blp.response(200, CalendarTokenSchema(many=True))
@blp.errors()
def list_calendar_tokens():
    """Your own feed tokens, and every ritual's (or person's) feed token if you manage rituals (or people)."""
    tokens = services.list_calendar_tokens(db_session(), current_actor())
    return [{"id": t.id, "ritual_id": t.ritual_id, "person_id": t.person_id, "created_at": services.iso(t.created_at),
             "revoked_at": services.iso(t.revoked_at)} for t in tokens]


@blp.route("/calendar-tokens/<id:token_id>", methods=["DELETE"])
@blp.response(200, RevokedCalendarTokenSchema)
@blp.errors(403, 404, 409)
def revoke_calendar_token(token_id: int):
    """Revoke a feed link: calendars subscribed to it get 404 from now on."""
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
