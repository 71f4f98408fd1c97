"""KPIs and measurements, scoring inputs and scores, the ranked portfolio, the value/effort matrix and maturity.

Every route delegates to govern.kpis / govern.scoring / govern.maturity; the rules live there.
"""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask import request
from marshmallow import Schema, fields, validate

from govern.http.openapi import Blueprint, if_match_version
from govern.http.request import current_actor, db_session
from govern.api.schemas import Ref, Text, UtcDateTime
from govern.errors import InvalidInput, NotFound
from govern.maturity import maturity_reading
from govern.kpis import (
    evaluate_opportunity, import_measurements_csv, kpi_trend, list_kpis, measurement_dict, opportunity_kpis,
    record_measurement,
)
from govern.model import DIRECTIONS, KPI_KINDS, KPI_SCALES, Opportunity, Person, ScoreInput
from govern.scoring import (
    rank_portfolio, record_score_inputs, score_opportunity, scoring_config, value_effort_matrix,
)
from govern.services.common import OPP_REF, get_opportunity
from govern.services.journeys import define_kpi

blp = Blueprint("metrics", __name__, url_prefix="",
                description="KPIs and measurements, scores and ranking, the value/effort matrix, maturity")


# --- schemas ------------------------------------------------------------------------------------------------------------


class Number(fields.Float):
    """A finite number (NaN and infinity are refused)."""

    def __init__(self, **kwargs):
        super().__init__(allow_nan=False, **kwargs)


class TrendSchema(Schema):
    latest = fields.Float(allow_none=True)
    latest_at = fields.String(allow_none=True)
    previous = fields.Float(allow_none=True)
    change = fields.Float(allow_none=True)
    slope_per_30_days = fields.Float(allow_none=True)
    direction = fields.String(metadata={"description": "improving | worsening | flat | unknown"})
    normalised = fields.Float(allow_none=True, metadata={"description": "latest value on 0-100, 100 best"})
    target = fields.Float(allow_none=True)
    target_met = fields.Boolean(allow_none=True)
    points = fields.Integer()


class KpiSchema(Schema):
    key = fields.String()
    name = fields.String()
    kind = fields.String()
    scale = fields.String()
    scale_text = fields.String()
    bounds = fields.List(fields.Float(allow_none=True))
    unit = fields.String(allow_none=True)
    direction = fields.String()
    target = fields.Float(allow_none=True)
    journey = fields.String(allow_none=True)
    step = fields.String(allow_none=True)
    trend = fields.Nested(TrendSchema)


class KpiCreateSchema(Schema):
    key = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,63}$",
                                                                error="lower-case letters, digits, '-' or '_'"))
    name = Text(200, required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KPI_KINDS))
    scale = fields.String(required=True, validate=validate.OneOf(KPI_SCALES))
    min = Number(allow_none=True)
    max = Number(allow_none=True)
    unit = Text(20, allow_none=True)
    direction = fields.String(load_default="higher", validate=validate.OneOf(DIRECTIONS))
    target = Number(allow_none=True)
    journey = Ref(64, allow_none=True)
    step = Ref(140, allow_none=True, metadata={"description": "journey/step"})


class MeasurementSchema(Schema):
    kpi = fields.String()
    value = fields.Float()
    measured_at = fields.String()
    source = fields.String(allow_none=True)
    normalised = fields.Float(allow_none=True)
    target_met = fields.Boolean(allow_none=True)
    recorded_at = fields.String(allow_none=True)


class KpiTrendSchema(KpiSchema):
    measurements = fields.List(fields.Dict())


class MeasurementCreateSchema(Schema):
    value = Number(required=True)
    measured_at = fields.String(validate=validate.Length(min=1, max=40),
                                metadata={"description": "date (2026-03-31) or ISO time; default now"})
    source = Text(200, allow_none=True)


class TrendQuerySchema(Schema):
    since = fields.String(validate=validate.Length(min=1, max=40), metadata={"description": "from this date on"})


class ImportResultSchema(Schema):
    imported = fields.Integer()
    kpis = fields.Dict(keys=fields.String(), values=fields.Integer())


class InputsSchema(Schema):
    inputs = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=64)),
                         values=Number(allow_none=True), required=True,
                         metadata={"description": "input name → value (null removes it), e.g. {\"reach\": 2000}"})


class RecordedInputSchema(Schema):
    name = fields.String()
    value = fields.Float()
    recorded_by = fields.String(allow_none=True)
    recorded_at = UtcDateTime()


class ScoreSchema(Schema):
    opportunity = fields.String()
    model = fields.String()
    kind = fields.String()
    value = fields.Float(allow_none=True, metadata={"description": "the computed score; never typed in"})
    missing = fields.List(fields.String())
    inputs = fields.Dict()
    terms = fields.List(fields.Dict())
    explanation = fields.String()
    error = fields.String(allow_none=True)
    recorded = fields.List(fields.Nested(RecordedInputSchema))


class RankingQuerySchema(Schema):
    journey = Ref(64, metadata={"description": "this journey and every journey below it"})
    state = fields.List(fields.String(validate=validate.Length(min=1, max=64)),
                        metadata={"description": "one or more states (repeat the parameter)"})
    owner = Ref(64, metadata={"description": "the opportunity owner's handle"})
    persona = Ref(64, metadata={"description": "touching a journey seen through this persona"})
    limit = fields.Integer(validate=validate.Range(min=1, max=100_000))
    explain = fields.Boolean(load_default=True)


class RankedSchema(Schema):
    rank = fields.Integer(allow_none=True)
    key = fields.String()
    number = fields.Integer()
    title = fields.String()
    state = fields.String()
    owner = fields.String(allow_none=True)
    model = fields.String()
    score = fields.Float(allow_none=True)
    relative_score = fields.Float(allow_none=True, metadata={"description": "0-100 among opportunities of the "
                                                                            "same model"})
    evidence_strength = fields.Float()
    journeys = fields.List(fields.String())
    inputs = fields.Dict()
    terms = fields.List(fields.Dict())
    explanation = fields.String()
    missing = fields.List(fields.String())
    error = fields.String(allow_none=True)


class MatrixQuerySchema(Schema):
    journey = Ref(64)
    state = fields.List(fields.String(validate=validate.Length(min=1, max=64)))
    owner = Ref(64)
    persona = Ref(64)


class MatrixSchema(Schema):
    points = fields.List(fields.Dict())
    unplaced = fields.List(fields.String())
    value_median = fields.Float()
    effort_median = fields.Float()
    axes = fields.Dict()
    quadrants = fields.List(fields.String())


class OpportunityKpiSchema(Schema):
    kpi = fields.String()
    name = fields.String()
    target = fields.Float(allow_none=True)
    direction = fields.String()
    latest = fields.Float(allow_none=True)
    baseline = fields.Float(allow_none=True)
    baseline_at = fields.String(allow_none=True)
    outcome = fields.Float(allow_none=True)
    outcome_at = fields.String(allow_none=True)
    verdict = fields.String(allow_none=True, metadata={
        "description": "target_met | short_of_target (improved, target not met) | improved (a KPI without a target) "
                       "| no_change | worse"})
    verdict_words = fields.String(allow_none=True, metadata={"description": "the verdict in words"})
    target_met = fields.Boolean(allow_none=True)


class EvaluationSchema(Schema):
    opportunity = fields.String()
    outcomes = fields.List(fields.Dict(), metadata={
        "description": "per KPI: verdict (as in OpportunityKpi), verdict_words, target_met, baseline and baseline_at, "
                       "value and measured_at, window {went_live_at, measure_after_days, counts_from}, text"})
    overall = fields.String(allow_none=True, metadata={
        "description": "worse if any KPI got worse; target_met when every KPI met its target (one without a target "
                       "improved); improved when every KPI improved and none has a target; short_of_target when "
                       "something improved but not every target was met; otherwise no_change"})
    overall_words = fields.String(allow_none=True)


class ScoringSchema(Schema):
    default = fields.String(metadata={"description": "the organisation's model; a journey may name another"})
    evidence_rule = fields.String()
    models = fields.Dict(metadata={"description": "name → kind, inputs, rule, weights or formula"})


class MaturitySchema(Schema):
    stage = fields.Integer()
    name = fields.String()
    meaning = fields.String()
    signals = fields.Dict()
    held_back = fields.List(fields.Dict())
    counts = fields.Dict()
    rule = fields.List(fields.String())


# --- helpers ------------------------------------------------------------------------------------------------------------


def _opportunity(key: str) -> Opportunity:
    match = OPP_REF.match(key.strip())
    if not match or len(match.group(1)) > 9:
        raise NotFound(f"unknown opportunity '{key}' (use its key, e.g. OPP-12)", {"opportunity": key})
    return get_opportunity(db_session(), key)


def _score_body(opp: Opportunity, score) -> dict:
    session = db_session()
    people = dict(session.execute(sa.select(Person.id, Person.handle)).all())
    recorded = session.scalars(sa.select(ScoreInput).where(ScoreInput.opportunity_id == opp.id)
                               .order_by(ScoreInput.name)).all()
    return {"opportunity": opp.key, **score.as_dict(),
            "recorded": [{"name": si.name, "value": si.value, "recorded_by": people.get(si.recorded_by_id),
                          "recorded_at": si.recorded_at} for si in recorded]}


# --- KPIs and measurements ----------------------------------------------------------------------------------------------


@blp.route("/kpis")
@blp.response(200, KpiSchema(many=True))
def list_kpis_view():
    """Every KPI with its scale, target and where it stands (latest, previous, trend, normalised 0-100)."""
    current_actor().require("read")
    return list_kpis(db_session())


@blp.route("/kpis", methods=["POST"])
@blp.arguments(KpiCreateSchema)
@blp.response(201, KpiTrendSchema)
@blp.errors(403, 404, 409, 422)
def define_kpi_view(data):
    """Define a KPI for a journey or a step (needs kpi.manage). KPIs kept in govern.yaml belong there instead: a KPI
    defined here and missing from the file is reported by the next `govern apply` as a removal."""
    session = db_session()
    define_kpi(session, current_actor(), key=data["key"], name=data["name"], kind=data["kind"], scale=data["scale"],
               direction=data["direction"], target=data.get("target"), journey=data.get("journey"),
               step=data.get("step"), scale_min=data.get("min"), scale_max=data.get("max"), unit=data.get("unit"))
    return kpi_trend(session, data["key"])


@blp.route("/kpis/<key>")
@blp.arguments(TrendQuerySchema, location="query")
@blp.response(200, KpiTrendSchema)
@blp.errors(404, 422)
def kpi_trend_view(args, key: str):
    """One KPI with its measurements over time (each normalised 0-100) and its trend."""
    current_actor().require("read")
    return kpi_trend(db_session(), key, since=args.get("since"))


@blp.route("/kpis/<key>/measurements")
@blp.arguments(TrendQuerySchema, location="query")
@blp.response(200, MeasurementSchema(many=True))
@blp.errors(404, 422)
def list_measurements(args, key: str):
    """A KPI's measurements, oldest first."""
    current_actor().require("read")
    data = kpi_trend(db_session(), key, since=args.get("since"))
    return [{"kpi": key, "source": None, "recorded_at": None, **m} for m in data["measurements"]]


@blp.route("/kpis/<key>/measurements", methods=["POST"])
@blp.arguments(MeasurementCreateSchema)
@blp.response(201, MeasurementSchema)
@blp.errors(403, 404, 409, 422)
def create_measurement(data, key: str):
    """Record one measurement; the value is checked against the KPI's scale (needs kpi.measure)."""
    m = record_measurement(db_session(), current_actor(), key, data["value"], data.get("measured_at"),
                           data.get("source"))
    return measurement_dict(m)


@blp.route("/kpis/measurements/import", methods=["POST"])
@blp.response(200, ImportResultSchema)
@blp.doc(requestBody={"required": True, "content": {
    "text/csv": {"schema": {"type": "string"}, "example": "kpi,value,measured_at,source\nporting-csat,3.9,"
                                                          "2026-12-31,monthly survey\n"},
    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string",
                                                                                 "format": "binary"}}}}}})
@blp.errors(403, 422)
def import_measurements():
    """Import measurements from CSV (header kpi,value,measured_at[,source]): all rows or none; errors name lines."""
    actor = current_actor()
    upload = request.files.get("file")
    if upload is not None:
        stream = io.BytesIO(upload.read())
    elif request.content_length:
        stream = io.BytesIO(request.get_data())
    else:
        raise InvalidInput("send the CSV as the request body (text/csv) or as a 'file' upload",
                           {"body": "a CSV file is required"})
    return import_measurements_csv(db_session(), actor, stream)


# --- scoring ------------------------------------------------------------------------------------------------------------


@blp.route("/scoring")
@blp.response(200, ScoringSchema)
def scoring_view():
    """The organisation's scoring models (default first), their inputs and rules, and the evidence-strength rule."""
    current_actor().require("read")
    return scoring_config(db_session()).describe()


@blp.route("/opportunities/<key>/score")
@blp.response(200, ScoreSchema)
@blp.errors(404)
def get_score(key: str):
    """The opportunity's computed score with its explanation, and the recorded inputs (who and when)."""
    current_actor().require("read")
    opp = _opportunity(key)
    return _score_body(opp, score_opportunity(db_session(), opp))


@blp.route("/opportunities/<key>/score/inputs", methods=["POST"])
@blp.arguments(InputsSchema)
@blp.response(200, ScoreSchema)
@blp.doc(parameters=[{"in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
                      "description": "the opportunity's ETag you loaded; a newer version answers 412"}])
@blp.errors(403, 404, 409, 412, 422)
def record_inputs(data, key: str):
    """Record scoring inputs (merged with those already recorded; null removes one); answers with the new score.

    A new score is a new version of the opportunity (its ETag changes), so approvals decided on the old one are stale.
    """
    opp = _opportunity(key)
    score = record_score_inputs(db_session(), current_actor(), opp.key, data["inputs"],
                                expected_version=if_match_version())
    return _score_body(opp, score)


@blp.route("/ranking")
@blp.arguments(RankingQuerySchema, location="query")
@blp.response(200, RankedSchema(many=True))
@blp.errors(404, 422)
def ranking(args):
    """The portfolio ranked by the scoring model, each rank explained; filters narrow the list, never the scores."""
    current_actor().require("read")
    return rank_portfolio(db_session(), journey=args.get("journey"), state=args.get("state") or None,
                          owner=args.get("owner"), persona=args.get("persona"), limit=args.get("limit"),
                          explain=args.get("explain", True))


@blp.route("/value-effort")
@blp.arguments(MatrixQuerySchema, location="query")
@blp.response(200, MatrixSchema)
@blp.errors(404, 422)
def value_effort(args):
    """Points for the value/effort chart, split into quadrants at the medians."""
    current_actor().require("read")
    return value_effort_matrix(db_session(), journey=args.get("journey"), state=args.get("state") or None,
                               owner=args.get("owner"), persona=args.get("persona"))


# --- evaluate and maturity ----------------------------------------------------------------------------------------------


@blp.route("/opportunities/<key>/kpis")
@blp.response(200, OpportunityKpiSchema(many=True))
@blp.errors(404)
def targeted_kpis(key: str):
    """The KPIs an opportunity targets, with baseline, outcome and verdict."""
    current_actor().require("read")
    return opportunity_kpis(db_session(), _opportunity(key))


@blp.route("/opportunities/<key>/evaluation", methods=["POST"])
@blp.response(200, EvaluationSchema)
@blp.errors(403, 404)
def evaluate(key: str):
    """Evaluate now: each targeted KPI's latest measurement against its baseline and target (improved, no_change,
    worse, with the numbers)."""
    opp = _opportunity(key)
    return evaluate_opportunity(db_session(), current_actor(), opp.key)


@blp.route("/maturity")
@blp.response(200, MaturitySchema)
def maturity():
    """The organisation's maturity stage (1-5), its signals, what holds it back, and the rule."""
    current_actor().require("read")
    return maturity_reading(db_session()).as_dict()

