"""Marshmallow schemas for what the API sends and receives."""

from marshmallow import Schema, fields


class PersonRefSchema(Schema):
    handle = fields.String()
    name = fields.String()


class StepSchema(Schema):
    key = fields.String()
    name = fields.String()
    stage = fields.Function(lambda s: s.stage.key if s.stage else None)
    position = fields.Integer()
    touchpoint = fields.String(allow_none=True)
    channel = fields.String(allow_none=True)
    moment_that_matters = fields.Boolean()
    emotion_score = fields.Float(allow_none=True)


class StageSchema(Schema):
    key = fields.String()
    name = fields.String()
    position = fields.Integer()


class JourneySchema(Schema):
    key = fields.String()
    name = fields.String()
    level = fields.String()
    description = fields.String()
    parent = fields.Function(lambda j: j.parent.key if j.parent else None)
    details_step = fields.Function(lambda j: j.parent_step.key if j.parent_step else None)
    owner = fields.Nested(PersonRefSchema, allow_none=True)
    slack_channel = fields.String(allow_none=True)
    children = fields.Function(lambda j: [c.key for c in j.children])
    personas = fields.Function(lambda j: [p.key for p in j.personas])
    stages = fields.List(fields.Nested(StageSchema))
    steps = fields.List(fields.Nested(StepSchema))


class OpportunitySchema(Schema):
    key = fields.String()
    title = fields.String()
    description = fields.String()
    state = fields.String()
    state_reason = fields.String(allow_none=True)
    lifecycle = fields.String()
    owner = fields.Nested(PersonRefSchema, allow_none=True)
    journeys = fields.Function(lambda o: [j.key for j in o.journeys])
    insights = fields.Function(lambda o: [i.key for i in o.insights])
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
