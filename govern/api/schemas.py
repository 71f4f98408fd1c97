"""Marshmallow schemas for what the API sends and receives (one place, so the OpenAPI document stays consistent)."""

from __future__ import annotations

import datetime as dt

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from sqlalchemy.orm import object_session

from govern.model import APPROVAL_STATUSES, COUNCIL_ROLES, INSIGHT_KINDS, OUTBOX_STATUSES, SOLUTION_STATES
from govern.queries.reference import reference

KEY_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class UtcDateTime(fields.DateTime):
    """Timestamps are stored as naive UTC; they are sent with their offset (RFC 3339)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return super()._serialize(value, attr, obj, **kwargs)


def Text(max_len: int = 200, *, min_len: int = 0, **kwargs) -> fields.String:  # noqa: N802 - reads like a field
    return fields.String(validate=validate.Length(min=min_len, max=max_len), **kwargs)


def Email() -> fields.String:  # noqa: N802 - reads like a field
    """An e-mail address (the pattern the people service checks), documented so that generated requests match it."""
    return fields.String(allow_none=True, validate=[validate.Length(max=254), validate.Regexp(
        r"^[^@\s]+@[^@\s]+\.[^@\s]+$", error="not an e-mail address")])


def Key(**kwargs) -> fields.String:  # noqa: N802
    return fields.String(validate=validate.Regexp(KEY_PATTERN, error="lower-case letters, digits, '-' or '_'"),
                         **kwargs)


def Ref(max_len: int = 140, **kwargs) -> fields.String:  # noqa: N802 - a reference to something by its key
    return fields.String(validate=validate.Length(min=1, max=max_len), **kwargs)


def owned_journeys(person) -> list[str]:
    """Keys of the journeys `person` owns, from the transaction's reference snapshot (no statement per person)."""
    session = object_session(person)
    if session is None:
        return []
    return sorted(j.key for j in reference(session).journeys if j.owner_id == person.id)


def _seat_journey(seat) -> str | None:
    if seat.journey_id is None:
        return None
    session = object_session(seat)
    found = reference(session).journey(seat.journey_id) if session is not None else None
    return found.key if found is not None else seat.journey.key


def InsightRef(**kwargs) -> fields.String:  # noqa: N802
    return fields.String(validate=validate.Regexp(r"^(?:[Ii][Nn][Ss]-)?\d{1,9}$", error="an insight key like INS-3"),
                         **kwargs)


def OpportunityRef(**kwargs) -> fields.String:  # noqa: N802
    return fields.String(validate=validate.Regexp(r"^(?:[Oo][Pp][Pp]-)?\d{1,9}$",
                                                  error="an opportunity key like OPP-12"), **kwargs)


# --- people, council, identity ------------------------------------------------------------------------------------------


class PersonRefSchema(Schema):
    handle = fields.String()
    name = fields.String()


class SeatSchema(Schema):
    id = fields.Integer()
    person = fields.Function(lambda s: s.person.handle)
    role = fields.String()
    journey = fields.Function(_seat_journey,
                              metadata={"description": "the journey (and its subtree) a scoped seat covers"})


class PersonSchema(Schema):
    handle = fields.String()
    name = fields.String()
    email = fields.String(allow_none=True)
    slack_id = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    department = fields.String(allow_none=True)
    is_admin = fields.Boolean()
    active = fields.Boolean()
    created_at = UtcDateTime()
    seats = fields.List(fields.Nested(SeatSchema))
    owns = fields.Function(lambda p: owned_journeys(p), metadata={"description": "keys of the journeys they own"})


class PersonCreateSchema(Schema):
    handle = fields.String(required=True, validate=[
        validate.Length(min=1, max=64),
        validate.Regexp(r"^[a-z0-9][a-z0-9._-]{0,63}$", error="lower-case letters, digits, '.', '_' or '-', "
                                                               "starting with a letter or digit")])
    name = Text(200, required=True)
    email = Email()
    slack_id = Text(32, allow_none=True)
    title = Text(200, allow_none=True)
    department = Text(200, allow_none=True)
    is_admin = fields.Boolean()


class PersonUpdateSchema(Schema):
    name = Text(200, min_len=1)
    email = Email()
    slack_id = Text(32, allow_none=True)
    title = Text(200, allow_none=True)
    department = Text(200, allow_none=True)
    is_admin = fields.Boolean()
    active = fields.Boolean()


class PasswordSchema(Schema):
    password = fields.String(required=True, validate=validate.Length(max=512), load_only=True)
    current_password = fields.String(validate=validate.Length(max=512), load_only=True, metadata={
        "description": "required when changing your own password"})


class SeatCreateSchema(Schema):
    person = Ref(64, required=True)
    role = fields.String(required=True, validate=validate.OneOf(COUNCIL_ROLES))
    journey = Ref(64, allow_none=True)


class SeatQuerySchema(Schema):
    role = fields.String(validate=validate.OneOf(COUNCIL_ROLES))
    person = Ref(64)
    journey = Ref(64)


class PeopleQuerySchema(Schema):
    q = Text(200, metadata={"description": "text search in handle, name, e-mail, title and department"})
    role = fields.String(validate=validate.OneOf(COUNCIL_ROLES + ("admin", "owner")))
    active = fields.Boolean()
    sort = fields.String(validate=validate.OneOf(["handle", "-handle", "name", "-name", "created_at", "-created_at"]))


class MeSchema(Schema):
    person = fields.Nested(PersonSchema, allow_none=True)
    handle = fields.String()
    roles = fields.List(fields.String())
    scopes = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "for each scoped role, the journeys it covers"})
    may = fields.List(fields.String(), metadata={"description": "actions allowed somewhere (possibly scoped)"})


class TokenSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String(metadata={"description": "the first characters of the secret, to recognise it"})
    created_at = UtcDateTime()
    last_used_at = UtcDateTime(allow_none=True)
    revoked_at = UtcDateTime(allow_none=True)


class IssuedTokenSchema(TokenSchema):
    secret = fields.String(metadata={"description": "shown once: store it now, it cannot be shown again"})


class TokenCreateSchema(Schema):
    name = Text(100, required=True)


# --- the journey framework ----------------------------------------------------------------------------------------------


class StageSchema(Schema):
    key = fields.String()
    name = fields.String()
    position = fields.Integer()


class StepSchema(Schema):
    key = fields.String()
    ref = fields.Function(lambda s: f"{s.journey.key}/{s.key}",
                          metadata={"description": "journey/step, how other resources name this step"})
    name = fields.String()
    stage = fields.Function(lambda s: s.stage.key if s.stage else None)
    position = fields.Integer()
    touchpoint = fields.String(allow_none=True)
    channel = fields.String(allow_none=True)
    moment_that_matters = fields.Boolean()
    emotion_score = fields.Float(allow_none=True)


class JourneySummarySchema(Schema):
    key = fields.String()
    name = fields.String()
    level = fields.String()
    description = fields.String()
    parent = fields.Function(lambda j: j.parent.key if j.parent else None)
    details_step = fields.Function(lambda j: j.parent_step.key if j.parent_step else None)
    owner = fields.Nested(PersonRefSchema, allow_none=True,
                          metadata={"description": "the one accountable journey owner; null is an ownership gap"})
    slack_channel = fields.String(allow_none=True)
    scoring_model = fields.String(allow_none=True)
    children = fields.Function(lambda j: j.child_keys)
    personas = fields.Function(lambda j: j.persona_keys)


class JourneySchema(JourneySummarySchema):
    stages = fields.List(fields.Nested(StageSchema))
    steps = fields.List(fields.Nested(StepSchema))


class JourneyQuerySchema(Schema):
    q = Text(200, metadata={"description": "text search in key, name and description"})
    parent = Ref(64, metadata={"description": "only the direct children of this journey"})
    level = Text(40)
    owner = Ref(64, metadata={"description": "owner's handle"})
    ownerless = fields.Boolean(metadata={"description": "only journeys without an owner (ownership gaps)"})
    sort = fields.String(validate=validate.OneOf(["position", "-position", "key", "-key", "name", "-name", "level",
                                                  "-level", "updated_at", "-updated_at"]))


class JourneyCreateSchema(Schema):
    key = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = Text(200, required=True)
    level = Text(40, required=True)
    owner = Ref(64, allow_none=True)
    parent = Ref(64, allow_none=True)
    details_step = Ref(140, allow_none=True, metadata={"description": "parent-journey/step this journey details"})
    description = Text(5000)
    slack_channel = Text(80, allow_none=True)


class JourneyUpdateSchema(Schema):
    name = Text(200, min_len=1)
    description = Text(5000)
    level = Text(40, min_len=1)
    parent = Ref(64, allow_none=True)
    owner = Ref(64, allow_none=True)
    slack_channel = Text(80, allow_none=True)
    scoring_model = Text(64, allow_none=True)


class StageCreateSchema(Schema):
    key = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = Text(200, required=True)
    position = fields.Integer(validate=validate.Range(min=0, max=10_000))


class StepUpdateSchema(Schema):
    name = Text(200, min_len=1)
    stage = Ref(64, allow_none=True)
    touchpoint = Text(200, allow_none=True)
    channel = Text(100, allow_none=True)
    moment_that_matters = fields.Boolean()
    emotion_score = fields.Float(allow_none=True, allow_nan=False, validate=validate.Range(min=-2, max=2))
    position = fields.Integer(validate=validate.Range(min=0, max=10_000))


class StepCreateSchema(StepUpdateSchema):
    """A new step: the fields a step can change, plus its key, with a name required."""

    key = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = Text(200, required=True)


class StepDeleteQuerySchema(Schema):
    move_evidence_to = Ref(140, metadata={"description": "journey/step to move the step's evidence to"})


class PersonaSchema(Schema):
    key = fields.String()
    name = fields.String()
    description = fields.String()
    needs = fields.List(fields.String())
    journeys = fields.Function(lambda p: [j.key for j in p.journeys])


class PersonaCreateSchema(Schema):
    key = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = Text(200, required=True)
    description = Text(5000)
    needs = fields.List(Text(300), validate=validate.Length(max=50))
    journeys = fields.List(Ref(64), validate=validate.Length(max=200))


# --- evidence -----------------------------------------------------------------------------------------------------------


class InsightSchema(Schema):
    key = fields.String()
    text = fields.String()
    source = fields.String()
    kind = fields.String()
    observed_on = fields.Date()
    steps = fields.Function(lambda i: i.step_refs)
    journeys = fields.Function(lambda i: sorted({ref.partition("/")[0] for ref in i.step_refs}))
    created_by = fields.Function(lambda i: i.created_by.handle if i.created_by else None)
    created_at = UtcDateTime()
    redacted_at = UtcDateTime(allow_none=True, metadata={"description": "when its personal data was erased"})
    url = fields.String(allow_none=True, metadata={"description": "a link back to the record it came from"})
    volume = fields.Integer(metadata={"description": "how many tickets, responses or people it stands for"})
    sentiment = fields.Float(allow_none=True, metadata={"description": "-2..+2"})
    sentiment_suggested = fields.Boolean(metadata={"description": "the sentiment is a computed suggestion nobody "
                                                                  "confirmed"})
    tags = fields.List(fields.String())
    personas = fields.Function(lambda i: [p.key for p in i.personas])
    merged_into = fields.Function(lambda i: i.merged_into.key if i.merged_into_id and i.merged_into else None,
                                  metadata={"description": "the survivor this duplicate was merged into"})
    likely_duplicates = fields.Function(
        lambda i: [{"key": d.key, "text": d.text, "score": d.score, "label": d.label}
                   for d in getattr(i, "likely_duplicates", None) or []],
        metadata={"description": "on creation: insights this one probably repeats (a suggestion; merge with "
                                 "POST /insights/<key>/merge)"})


class InsightEditSchema(Schema):
    """The fields of an insight a curator may correct (any subset); setting `sentiment` makes it a person's value."""

    text = Text(10_000)
    source = Text(200)
    kind = fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,19}$", error="not a kind of evidence"))
    observed_on = fields.Date()
    url = fields.String(allow_none=True, validate=validate.Length(max=2000))
    volume = fields.Integer(strict=True)
    sentiment = fields.Float(allow_none=True)
    tags = fields.List(Text(64), validate=validate.Length(max=50))
    personas = fields.List(Ref(64), validate=validate.Length(max=50))


class MergeSchema(Schema):
    into = InsightRef(required=True, metadata={"description": "the survivor (e.g. INS-3)"})


class StepSuggestionSchema(Schema):
    step = fields.String()
    name = fields.String()
    journey = fields.String()
    score = fields.Float()
    label = fields.String(metadata={"description": "always 'suggestion'"})


class DuplicateSuggestionSchema(Schema):
    key = fields.String()
    text = fields.String()
    score = fields.Float()
    label = fields.String()


class SuggestionsSchema(Schema):
    label = fields.String()
    steps = fields.List(fields.Nested(StepSuggestionSchema))
    duplicates = fields.List(fields.Nested(DuplicateSuggestionSchema))
    sentiment = fields.Float(allow_none=True, metadata={"description": "VADER's suggestion when it has none"})


class TriageItemSchema(Schema):
    insight = fields.Nested(InsightSchema)
    suggested_steps = fields.List(fields.Nested(StepSuggestionSchema), attribute="suggestions")
    duplicates = fields.List(fields.Nested(DuplicateSuggestionSchema))


class TriageQuerySchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=10**6))
    page_size = fields.Integer(load_default=25, validate=validate.Range(min=1, max=200))


class TriagePageSchema(Schema):
    items = fields.List(fields.Nested(TriageItemSchema), attribute="rows")
    total = fields.Integer()
    page = fields.Integer()
    page_size = fields.Integer(attribute="per_page")


class ThemeSchema(Schema):
    size = fields.Integer()
    insights = fields.List(fields.String(), attribute="keys")
    top_words = fields.List(fields.String())
    suggested_step = fields.Nested(StepSuggestionSchema, attribute="step", allow_none=True)
    label = fields.String()


class ThemesSchema(Schema):
    themes = fields.List(fields.Nested(ThemeSchema))
    considered = fields.Integer(metadata={"description": "insights clustered (the most recent, at most `cap`)"})
    total = fields.Integer()
    cap = fields.Integer()


class ThemesQuerySchema(Schema):
    scope = fields.String(load_default="triage", validate=validate.OneOf(["triage", "all"]))
    journey = Ref(64)


class InsightQuerySchema(Schema):
    q = Text(200, metadata={"description": "text search in the text and source"})
    journey = Ref(64, metadata={"description": "linked to a step of this journey"})
    step = Ref(140, metadata={"description": "linked to this step (journey/step)"})
    kind = fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,19}$", error="not a kind of evidence"),
                         metadata={"description": "a kind of evidence the organisation records (govern.yaml "
                                                  f"evidence.kinds; by default {', '.join(INSIGHT_KINDS)})"})
    opportunity = OpportunityRef(metadata={"description": "supporting this opportunity (OPP-12)"})
    sort = fields.String(validate=validate.OneOf(["number", "-number", "observed_on", "-observed_on", "source",
                                                  "-source", "created_at", "-created_at"]))


class InsightCreateSchema(Schema):
    text = Text(10_000, required=True)
    source = Text(200, required=True)
    kind = fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]{0,19}$", error="not a kind of evidence"),
                         metadata={"description": "a kind of evidence the organisation records (govern.yaml "
                                                  f"evidence.kinds; by default {', '.join(INSIGHT_KINDS)})"})
    observed_on = fields.Date(allow_none=True)
    steps = fields.List(Ref(140), validate=validate.Length(max=100),
                        metadata={"description": "steps as journey/step"})


class StepLinksSchema(Schema):
    steps = fields.List(Ref(140), required=True, validate=validate.Length(min=1, max=100))


class ReasonQuerySchema(Schema):
    reason = Text(2000, required=True)


class WithdrawalSchema(Schema):
    reason = Text(2000, metadata={"description": "why (optional; kept in the audit log)"})


class WithdrawnSchema(Schema):
    opportunity = fields.String()
    withdrawn = fields.Boolean()


class RedactionSchema(Schema):
    reason = Text(2000, required=True, metadata={"description": "why the personal data is erased (kept in the audit)"})


class CheckSchema(Schema):
    """A check of the lifecycle (a checklist guard) for one opportunity: what it asks and whether it is ticked."""

    check = fields.String()
    title = fields.String()
    description = fields.String()
    tickers = fields.List(fields.String(), metadata={"description": "roles and person:handle who may tick it"})
    who_may_tick = fields.String()
    link_rule = fields.String(metadata={"description": "optional, required or none"})
    ticked = fields.Boolean()
    may_tick = fields.Boolean(metadata={"description": "whether you may tick (or untick) it"})
    ticked_by = fields.String(allow_none=True)
    ticked_at = UtcDateTime(allow_none=True)
    link = fields.String(allow_none=True)
    note = fields.String(allow_none=True)


class TickSchema(Schema):
    link = Text(500, allow_none=True, metadata={"description": "an http(s) link to the check's evidence"})
    note = Text(2000, allow_none=True)


class UntickQuerySchema(Schema):
    reason = Text(2000)


# --- opportunities ------------------------------------------------------------------------------------------------------


class SolutionSchema(Schema):
    id = fields.Integer()
    key = fields.String()
    opportunity = fields.Function(lambda s: s.opportunity.key)
    title = fields.String()
    description = fields.String()
    state = fields.String()
    due_on = fields.Date(allow_none=True)
    external_key = fields.String(allow_none=True, metadata={"description": "the Jira issue key"})
    external_url = fields.String(allow_none=True)
    external_status = fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class OpportunitySchema(Schema):
    key = fields.String()
    title = fields.String()
    description = fields.String()
    state = fields.String()
    state_reason = fields.String(allow_none=True)
    lifecycle = fields.String()
    owner = fields.Nested(PersonRefSchema, allow_none=True)
    journeys = fields.Function(lambda o: o.journey_keys)
    insights = fields.Function(lambda o: o.insight_keys)
    kpis = fields.Function(lambda o: o.kpi_keys)
    solutions = fields.Function(lambda o: o.solution_keys)
    version = fields.Integer(metadata={"description": "also the ETag; send it back in If-Match to update safely"})
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    state_changed_at = UtcDateTime()


class OpportunityQuerySchema(Schema):
    q = Text(200, metadata={"description": "text search in the statement and description"})
    journey = Ref(64, metadata={"description": "linked to this journey or any journey below it"})
    open = fields.Boolean(metadata={"description": "only opportunities in an open state (kind active or evaluation "
                                                   "in the lifecycle); default: every state"})
    state = fields.String(validate=validate.Length(min=1, max=64))
    owner = Ref(64, metadata={"description": "owner's handle"})
    persona = Ref(64, metadata={"description": "touching a journey seen through this persona"})
    sort = fields.String(validate=validate.OneOf(["number", "-number", "title", "-title", "state", "-state",
                                                  "updated_at", "-updated_at", "created_at", "-created_at",
                                                  "state_changed_at", "-state_changed_at"]))


class OpportunityCreateSchema(Schema):
    title = Text(300, required=True, metadata={"description": "How might we …"})
    description = Text(10_000)
    journeys = fields.List(Ref(64), required=True, validate=validate.Length(min=1, max=100))
    insights = fields.List(InsightRef(), validate=validate.Length(max=500))
    owner = Ref(64, allow_none=True)
    kpis = fields.List(Ref(64), validate=validate.Length(max=100))


class OpportunityUpdateSchema(Schema):
    title = Text(300, min_len=1)
    description = Text(10_000, allow_none=True)
    owner = Ref(64, allow_none=True)
    journeys = fields.List(Ref(64), validate=validate.Length(min=1, max=100))
    insights = fields.List(InsightRef(), validate=validate.Length(max=500))
    kpis = fields.List(Ref(64), validate=validate.Length(max=100))


class EvidenceLinksSchema(Schema):
    insights = fields.List(InsightRef(), required=True, validate=validate.Length(min=1, max=500))


class SolutionCreateSchema(Schema):
    title = Text(300, required=True)
    description = Text(10_000)
    due_on = fields.Date(allow_none=True)


class SolutionUpdateSchema(Schema):
    state = fields.String(required=True, validate=validate.OneOf(SOLUTION_STATES))
    external_status = Text(100, allow_none=True)


class TransitionRequestSchema(Schema):
    to = fields.String(validate=validate.Length(min=1, max=64), metadata={"description": "destination state"})
    trigger = fields.String(validate=validate.Length(min=1, max=64), metadata={"description": "or the trigger"})
    reason = Text(5000, allow_none=True)

    @validates_schema
    def _one_of(self, data, **kwargs):
        if bool(data.get("to")) == bool(data.get("trigger")):
            raise ValidationError("give either 'to' (a state) or 'trigger', not both", "to")


class GuardResultSchema(Schema):
    guard = fields.String()
    ok = fields.Boolean()
    message = fields.String()
    params = fields.Dict()


class TransitionOptionSchema(Schema):
    trigger = fields.String()
    from_ = fields.String(data_key="from", attribute="from")
    to = fields.String()
    ok = fields.Boolean(metadata={"description": "every guard is met"})
    unmet = fields.List(fields.String())
    guards = fields.List(fields.Nested(GuardResultSchema))
    approval = fields.Dict(allow_none=True)
    approval_text = fields.String(allow_none=True)
    requires_reason = fields.Boolean()
    auto = fields.Boolean()
    may_request = fields.Boolean(metadata={"description": "whether you may request it"})
    requesters = fields.List(fields.String(), metadata={
        "description": "who may request it when the lifecycle limits that (roles, person:handle)"})
    blocked_by_request = fields.Integer(allow_none=True)


class VoteSchema(Schema):
    person = fields.String()
    decision = fields.String()
    capacity = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    at = UtcDateTime()


class ApprovalRequestSchema(Schema):
    id = fields.Integer()
    opportunity = fields.Raw()
    title = fields.String()
    trigger = fields.String()
    from_ = fields.String(data_key="from", attribute="from")
    to = fields.String()
    status = fields.String()
    reason = fields.String(allow_none=True)
    requested_by = fields.String(allow_none=True)
    rule = fields.Dict()
    rule_text = fields.String(allow_none=True)
    decided_reason = fields.String(allow_none=True)
    created_at = UtcDateTime()
    decided_at = UtcDateTime(allow_none=True)
    version = fields.Integer()
    votes = fields.List(fields.Nested(VoteSchema))
    capacities = fields.List(fields.String(), metadata={"description": "(awaiting) what your approval counts for"})
    waiting_for = fields.List(fields.String())


class TransitionResultSchema(Schema):
    opportunity = fields.String()
    state = fields.String()
    version = fields.Integer()
    moved = fields.Boolean(metadata={"description": "moved now (true), or a request awaits approval (false)"})
    message = fields.String()
    check = fields.Nested(TransitionOptionSchema)
    request = fields.Nested(ApprovalRequestSchema, allow_none=True)
    approval = fields.Dict(allow_none=True)


class HistoryEntrySchema(Schema):
    at = UtcDateTime()
    actor = fields.String()
    action = fields.String()
    reason = fields.String(allow_none=True)
    from_ = fields.String(data_key="from", attribute="from", allow_none=True)
    to = fields.String(allow_none=True)
    trigger = fields.String(allow_none=True)
    request = fields.Integer(allow_none=True)
    guards = fields.Raw(allow_none=True)
    waiting_for = fields.Raw(allow_none=True)
    audit_id = fields.Integer()


class DecisionSchema(Schema):
    reason = Text(5000, allow_none=True)


class ApprovalQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(APPROVAL_STATUSES))
    opportunity = OpportunityRef()
    sort = fields.String(validate=validate.OneOf(["created_at", "-created_at", "id", "-id"]))


# --- audit and outbox ---------------------------------------------------------------------------------------------------


class AuditEventSchema(Schema):
    id = fields.Integer()
    at = UtcDateTime()
    actor = fields.String()
    action = fields.String()
    entity_type = fields.String()
    entity_id = fields.String()
    before = fields.Raw(allow_none=True)
    after = fields.Raw(allow_none=True)
    reason = fields.String(allow_none=True)
    prev_hash = fields.String()
    hash = fields.String()


class AuditQuerySchema(Schema):
    entity_type = Text(40, metadata={"description": "opportunity, journey, insight, person, …"})
    entity_id = Text(64, metadata={"description": "the entity's key (OPP-3, switching-providers, INS-2, ana)"})
    action = Text(64, metadata={"description": "exact action, or a prefix ending in '.' (approval.)"})
    actor = Text(100)
    since = fields.AwareDateTime(default_timezone=dt.timezone.utc)
    after_id = fields.Integer(validate=validate.Range(min=0, max=2**31 - 1),
                              metadata={"description": "cursor: only events after this id"})
    sort = fields.String(validate=validate.OneOf(["id", "-id"]))


class VerifySchema(Schema):
    ok = fields.Boolean()
    checked = fields.Integer()
    first_broken_id = fields.Integer(allow_none=True)
    problem = fields.String(allow_none=True)


class OutboxMessageSchema(Schema):
    id = fields.Integer()
    topic = fields.String()
    kind = fields.String()
    payload = fields.Dict()
    dedupe_key = fields.String(allow_none=True)
    status = fields.String()
    attempts = fields.Integer()
    next_attempt_at = UtcDateTime()
    last_error = fields.String(allow_none=True)
    external_ref = fields.String(allow_none=True)
    created_at = UtcDateTime()
    delivered_at = UtcDateTime(allow_none=True)


class OutboxQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(OUTBOX_STATUSES))
    topic = Text(20)
    sort = fields.String(validate=validate.OneOf(["id", "-id", "next_attempt_at", "-next_attempt_at"]))


class OutboxSummarySchema(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())


# --- configuration ------------------------------------------------------------------------------------------------------


class ConfigApplySchema(Schema):
    yaml = fields.String(required=True, validate=validate.Length(min=1, max=2_000_000),
                         metadata={"description": "the govern.yaml text"})
    dry_run = fields.Boolean(load_default=False)


class PlanSchema(Schema):
    applied = fields.Boolean()
    empty = fields.Boolean()
    changes = fields.List(fields.String())
    refusals = fields.List(fields.String())
