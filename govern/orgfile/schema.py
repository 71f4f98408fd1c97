"""The govern.yaml format: marshmallow schemas for its structure, plus the cross-reference checks.

Every error names its place in the file (`journeys[3].owner: unknown person 'ana'`) and all are reported at once.
Sections owned by other capabilities (lifecycle, scoring, rituals, jira, slack) are checked here for shape and by
their own validators (handed in by the caller) for meaning.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from typing import Any, Callable

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from govern.errors import InvalidInput
from govern.yamltext import excerpt, excerpt_path, load_yaml
from govern.model import COUNCIL_ROLES, DIRECTIONS, INSIGHT_KINDS, KPI_CADENCES, KPI_KINDS, KPI_SCALES, kpi_cadence_days

log = logging.getLogger(__name__)

KEY = validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,63}$", error="must be lower-case letters, digits, '-' or '_'")
HANDLE = validate.Regexp(r"^[a-z0-9][a-z0-9._-]{0,63}$", error="must be lower-case letters, digits, '.', '_' or '-'")


class Strict(Schema):
    class Meta:
        unknown = RAISE


class OrganisationSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    levels = fields.List(fields.String(validate=validate.Length(min=1, max=40)),
                         load_default=lambda: ["master", "macro", "micro"], validate=validate.Length(min=1))
    description = fields.String(load_default="")
    base_url = fields.Url(require_tld=False)


class TermSchema(Strict):
    term = fields.String(required=True, validate=validate.Length(min=1, max=100))
    definition = fields.String(required=True, validate=validate.Length(min=1))
    category = fields.String()
    # The screen label this term replaces (govern.queries.glossary.LABELS), e.g. `touchpoint`.
    labels = fields.String(validate=validate.OneOf(("touchpoint", "channel", "moment_that_matters", "stage", "step",
                                                    "persona")))


class PersonSchema(Strict):
    handle = fields.String(required=True, validate=HANDLE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email()
    slack_id = fields.String(validate=validate.Length(max=32))
    title = fields.String()
    department = fields.String()
    admin = fields.Boolean(load_default=False)


class SeatSchema(Strict):
    person = fields.String(required=True)
    # One of the four council roles, or a role the organisation declares under `roles:` (checked with the references).
    role = fields.String(required=True)
    journey = fields.String()


class PersonaSchema(Strict):
    key = fields.String(required=True, validate=KEY)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="")
    needs = fields.List(fields.String(), load_default=list)


class StepSchema(Strict):
    key = fields.String(required=True, validate=KEY)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    touchpoint = fields.String()
    channel = fields.String()
    moment_that_matters = fields.Boolean(load_default=False)
    emotion = fields.Float(validate=validate.Range(-2, 2), allow_nan=False)


class StageSchema(Strict):
    key = fields.String(required=True, validate=KEY)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    steps = fields.List(fields.Nested(StepSchema), load_default=list)


class JourneySchema(Strict):
    key = fields.String(required=True, validate=KEY)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    level = fields.String(required=True)
    parent = fields.String()
    details_step = fields.String()
    owner = fields.String()
    description = fields.String(load_default="")
    slack_channel = fields.String(validate=validate.Regexp(r"^#?[a-z0-9_-]{1,80}$", error="not a Slack channel name"))
    scoring_model = fields.String()
    personas = fields.List(fields.String(), load_default=list)
    stages = fields.List(fields.Nested(StageSchema), load_default=list)


class CadenceField(fields.Field):
    """A KPI's cadence: a name (`monthly`) or a whole number of days; loaded as given, checked here."""

    json_schema = {"oneOf": [{"enum": list(KPI_CADENCES)}, {"type": "integer", "minimum": 1}]}

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            kpi_cadence_days(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        return value


class KpiSchema(Strict):
    key = fields.String(required=True, validate=KEY)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(KPI_KINDS))
    scale = fields.String(required=True, validate=validate.OneOf(KPI_SCALES))
    min = fields.Float(allow_nan=False)
    max = fields.Float(allow_nan=False)
    unit = fields.String()
    direction = fields.String(load_default="higher", validate=validate.OneOf(DIRECTIONS))
    target = fields.Float(allow_nan=False)
    journey = fields.String()
    step = fields.String()
    cadence = CadenceField()
    measure_after_days = fields.Integer(strict=True, validate=validate.Range(min=0, max=3660))


class EvidenceSchema(Strict):
    """Runtime seed data (only in example files loaded by `govern init --example`)."""

    text = fields.String(required=True)
    source = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(INSIGHT_KINDS))


# An evidence source's mapping: which column (or JSON field) of its records holds what. `text` is required; without
# `external_id` a record's identity is the hash of its text and date (re-importing it still changes nothing).
SOURCE_COLUMNS = ("external_id", "text", "observed_on", "url", "tags", "volume", "personas", "sentiment", "kind",
                  "source")
# The variables a source's webhook secret may be read from (govern.settings reads exactly these; the Jira and Slack
# secrets are never reused).
SECRET_ENV = validate.Regexp(r"^GOVERN_[A-Z0-9_]+_SECRET$", error="must name a GOVERN_…_SECRET environment variable")
RESERVED_SECRET_ENV = ("GOVERN_JIRA_WEBHOOK_SECRET", "GOVERN_SLACK_SIGNING_SECRET")


def _pattern(value: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValidationError(f"not a regular expression: {exc}") from None


def _date_format(value: str) -> None:
    sample = dt.datetime(2024, 1, 31, 13, 45, 30)
    try:
        ok = "%" in value and dt.datetime.strptime(sample.strftime(value), value).date() == sample.date()
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise ValidationError(f"not a date format that reads back a date (e.g. '%d.%m.%Y'): {value!r}")


class SourceColumnsSchema(Strict):
    external_id = fields.String(validate=validate.Length(min=1, max=200))
    text = fields.String(required=True, validate=validate.Length(min=1, max=200))
    observed_on = fields.String(validate=validate.Length(min=1, max=200))
    url = fields.String(validate=validate.Length(min=1, max=200))
    tags = fields.String(validate=validate.Length(min=1, max=200))
    volume = fields.String(validate=validate.Length(min=1, max=200))
    personas = fields.String(validate=validate.Length(min=1, max=200))
    sentiment = fields.String(validate=validate.Length(min=1, max=200))
    kind = fields.String(validate=validate.Length(min=1, max=200))
    source = fields.String(validate=validate.Length(min=1, max=200))


class StepRuleSchema(Strict):
    """One step rule of a source: a column's value (`equals`, case-insensitive, or `matches`, a pattern) or a pattern
    on the mapped text (`text_matches`) → a `journey/step`. The first rule that matches wins."""

    step = fields.String(required=True)
    column = fields.String(validate=validate.Length(min=1, max=200))
    equals = fields.String()
    matches = fields.String(validate=_pattern)
    text_matches = fields.String(validate=_pattern)
    tags = fields.List(fields.String(), load_default=list)

    @validates_schema
    def _one_condition(self, data: dict, **_kwargs) -> None:
        if "text_matches" in data:
            if "column" in data or "equals" in data or "matches" in data:
                raise ValidationError("text_matches stands alone (no column, equals or matches)")
        elif "column" not in data:
            raise ValidationError("a rule needs column with equals or matches, or text_matches")
        elif ("equals" in data) == ("matches" in data):
            raise ValidationError("a column rule needs exactly one of equals or matches")


class SourceSchema(Strict):
    key = fields.String(required=True, validate=KEY)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="")
    # The kind of insight its records become unless `columns.kind` says otherwise (checked against evidence.kinds).
    kind = fields.String(load_default="other")
    # What an insight from it shows as its source (default: the source's name), unless `columns.source` says.
    source = fields.String(validate=validate.Length(min=1, max=200))
    columns = fields.Nested(SourceColumnsSchema, required=True)
    date_format = fields.String(load_default="%Y-%m-%d", validate=_date_format)
    steps = fields.List(fields.Nested(StepRuleSchema), load_default=list)
    # Replace e-mail addresses, phone numbers and card-like numbers before anything is stored.
    scrub = fields.Boolean(load_default=True)
    secret_env = fields.String(validate=[SECRET_ENV, validate.NoneOf(RESERVED_SECRET_ENV,
                                                                      error="is reserved for another integration")])
    # Tags added to every record of the source; list columns (tags, personas) split on `separator`.
    tags = fields.List(fields.String(), load_default=list)
    separator = fields.String(load_default=",", validate=validate.Length(min=1, max=3))
    # Values of the personas column → persona keys (a value that is a persona's key or name needs no entry).
    personas = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)


# The journey map's lanes, in their default order (govern.queries.journeys draws them).
MAP_LANES = ("touchpoint", "emotion", "evidence", "opportunities", "kpis")


class MapSchema(Strict):
    lanes = fields.List(fields.String(validate=validate.OneOf(MAP_LANES)), load_default=lambda: list(MAP_LANES),
                        validate=lambda v: len(set(v)) == len(v) or _raise("a lane is named twice"))


def _raise(message: str):
    raise ValidationError(message)


class GovernSchema(Strict):
    version = fields.Integer(load_default=1, validate=validate.Equal(1))
    organisation = fields.Nested(OrganisationSchema, required=True)
    terminology = fields.List(fields.Nested(TermSchema), load_default=list)
    # The organisation's words for the product's nouns (govern.vocabulary) and its own council roles (govern.policy).
    words = fields.Dict(load_default=dict)
    roles = fields.List(fields.Raw(), load_default=list)
    # Evidence settings: the kinds of insight the organisation records and how long their text is kept.
    evidence = fields.Dict(load_default=dict)
    people = fields.List(fields.Nested(PersonSchema), load_default=list)
    council = fields.List(fields.Nested(SeatSchema), load_default=list)
    personas = fields.List(fields.Nested(PersonaSchema), load_default=list)
    journeys = fields.List(fields.Nested(JourneySchema), load_default=list)
    kpis = fields.List(fields.Nested(KpiSchema), load_default=list)
    # Where evidence comes from in bulk: imports and signed webhook feeds (govern.services.intake).
    sources = fields.List(fields.Nested(SourceSchema), load_default=list)
    # Meaning checked by the lifecycle engine: a shipped name ("default", "triple_diamond") or {file: path}.
    lifecycle = fields.Raw(load_default="default")
    scoring = fields.Dict(load_default=dict)
    rituals = fields.List(fields.Dict(), load_default=list)
    map = fields.Nested(MapSchema, load_default=lambda: {"lanes": list(MAP_LANES)})
    jira = fields.Dict(load_default=dict)
    slack = fields.Dict(load_default=dict)


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, str]:
    """marshmallow's nested error dict → {'journeys[3].owner': 'message'}."""
    out: dict[str, str] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == "_schema":
                path = prefix or "(file)"
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            out.update(flatten_errors(value, path))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out[prefix or "(file)"] = "; ".join(_plain(m) for m in messages)
    elif isinstance(messages, list):
        for i, value in enumerate(messages):
            out.update(flatten_errors(value, f"{prefix}[{i}]"))
    else:
        out[prefix or "(file)"] = _plain(str(messages))
    return out


def _plain(message: str) -> str:
    return {"Unknown field.": "unknown field (check the spelling)",
            "Missing data for required field.": "required"}.get(message, message)


def _duplicates(items: list[dict], field: str, section: str, errors: dict[str, str]) -> None:
    seen: dict[Any, int] = {}
    for i, item in enumerate(items):
        value = item.get(field)
        if value in seen:
            errors[f"{section}[{i}].{field}"] = f"duplicate {field} '{value}' (also {section}[{seen[value]}])"
        else:
            seen[value] = i


def check_references(doc: dict) -> dict[str, str]:
    """Cross-references: every person, journey, step, persona and level named exists; no cycles; no duplicates."""
    errors: dict[str, str] = {}
    people = {p["handle"] for p in doc["people"]}
    journeys = {j["key"]: j for j in doc["journeys"]}
    personas = {p["key"] for p in doc["personas"]}
    levels = doc["organisation"]["levels"]
    _duplicates(doc["people"], "handle", "people", errors)
    _duplicates([p for p in doc["people"] if p.get("email")], "email", "people", errors)
    _duplicates(doc["personas"], "key", "personas", errors)
    _duplicates(doc["journeys"], "key", "journeys", errors)
    _duplicates(doc["kpis"], "key", "kpis", errors)
    _duplicates([{"t": t["term"].lower()} for t in doc["terminology"]], "t", "terminology", errors)
    steps_of = {j["key"]: {s["key"] for st in j["stages"] for s in st["steps"]} for j in doc["journeys"]}
    for i, j in enumerate(doc["journeys"]):
        here = f"journeys[{i}]"
        if j["level"] not in levels:
            errors[f"{here}.level"] = f"unknown level '{j['level']}' (organisation.levels: {', '.join(levels)})"
        if not j.get("owner"):
            errors[f"{here}.owner"] = "every journey needs exactly one owner"
        elif j["owner"] not in people:
            errors[f"{here}.owner"] = f"unknown person '{j['owner']}'"
        parent = j.get("parent")
        if parent is not None and parent not in journeys:
            errors[f"{here}.parent"] = f"unknown journey '{parent}'"
        if j.get("details_step"):
            if not parent:
                errors[f"{here}.details_step"] = "only a journey with a parent can detail one of its steps"
            elif parent in steps_of and j["details_step"] not in steps_of[parent]:
                errors[f"{here}.details_step"] = f"journey '{parent}' has no step '{j['details_step']}'"
        for k, persona in enumerate(j["personas"]):
            if persona not in personas:
                errors[f"{here}.personas[{k}]"] = f"unknown persona '{persona}'"
        if j.get("scoring_model") and j["scoring_model"] not in {"rice", "ice", "wsjf",
                                                                 *(doc["scoring"].get("models") or {})}:
            errors[f"{here}.scoring_model"] = f"unknown scoring model '{j['scoring_model']}'"
        stage_keys: set[str] = set()
        step_keys: set[str] = set()
        for s_i, stage in enumerate(j["stages"]):
            if stage["key"] in stage_keys:
                errors[f"{here}.stages[{s_i}].key"] = f"duplicate stage '{stage['key']}'"
            stage_keys.add(stage["key"])
            for t_i, step in enumerate(stage["steps"]):
                if step["key"] in step_keys:
                    errors[f"{here}.stages[{s_i}].steps[{t_i}].key"] = f"duplicate step '{step['key']}' in journey"
                step_keys.add(step["key"])
    for i, j in enumerate(doc["journeys"]):  # cycles in the hierarchy
        seen, cursor = {j["key"]}, j.get("parent")
        while cursor in journeys:
            if cursor in seen:
                errors[f"journeys[{i}].parent"] = f"the hierarchy loops back to '{j['key']}'"
                break
            seen.add(cursor)
            cursor = journeys[cursor].get("parent")
    seat_roles = set(COUNCIL_ROLES) | {r.get("key") for r in doc.get("roles") or [] if isinstance(r, dict)}
    for i, seat in enumerate(doc["council"]):
        if seat["role"] not in seat_roles:
            errors[f"council[{i}].role"] = (f"unknown council role '{seat['role']}' (roles: "
                                            f"{', '.join(sorted(seat_roles, key=str))}; declare your own under roles:)")
        if seat["person"] not in people:
            errors[f"council[{i}].person"] = f"unknown person '{seat['person']}'"
        if seat.get("journey") and seat["journey"] not in journeys:
            errors[f"council[{i}].journey"] = f"unknown journey '{seat['journey']}'"
    _duplicates([{"s": (s["person"], s["role"], s.get("journey"))} for s in doc["council"]], "s", "council", errors)
    for i, kpi in enumerate(doc["kpis"]):
        here = f"kpis[{i}]"
        if kpi.get("journey") and kpi["journey"] not in journeys:
            errors[f"{here}.journey"] = f"unknown journey '{kpi['journey']}'"
        if kpi.get("step"):
            journey_key, _, step_key = kpi["step"].partition("/")
            if step_key not in steps_of.get(journey_key, set()):
                errors[f"{here}.step"] = f"unknown step '{kpi['step']}' (write it as journey/step)"
        if kpi["scale"] == "custom" and ("min" not in kpi or "max" not in kpi):
            errors[f"{here}.scale"] = "a custom scale needs min and max"
        if "min" in kpi and "max" in kpi and kpi["min"] >= kpi["max"]:
            errors[f"{here}.max"] = "max must be greater than min"
    _check_sources(doc, steps_of, personas, errors)
    return errors


def _check_sources(doc: dict, steps_of: dict[str, set[str]], personas: set[str], errors: dict[str, str]) -> None:
    """Each source's steps, kind, tags and persona values name things the file declares."""
    sources = doc.get("sources") or []
    _duplicates(sources, "key", "sources", errors)
    evidence = doc.get("evidence") if isinstance(doc.get("evidence"), dict) else {}
    kinds = evidence.get("kinds") if isinstance(evidence.get("kinds"), list) else list(INSIGHT_KINDS)
    taxonomy = evidence.get("tags") if isinstance(evidence.get("tags"), list) else None

    def check_tags(tags: list, where: str) -> None:
        for t_i, tag in enumerate(tags):
            if taxonomy is not None and tag not in taxonomy:
                errors[f"{where}[{t_i}]"] = (f"unknown tag '{tag}' (evidence.tags: {', '.join(map(str, taxonomy))})")

    for i, source in enumerate(sources):
        here = f"sources[{i}]"
        if source["kind"] not in kinds:
            errors[f"{here}.kind"] = f"unknown kind '{source['kind']}' (evidence.kinds: {', '.join(map(str, kinds))})"
        for r_i, rule in enumerate(source["steps"]):
            journey_key, _, step_key = rule["step"].partition("/")
            if step_key not in steps_of.get(journey_key, set()):
                errors[f"{here}.steps[{r_i}].step"] = f"unknown step '{rule['step']}' (write it as journey/step)"
            check_tags(rule.get("tags") or [], f"{here}.steps[{r_i}].tags")
        check_tags(source["tags"], f"{here}.tags")
        for value, persona in source["personas"].items():
            if persona not in personas:
                errors[f"{here}.personas.{value}"] = f"unknown persona '{persona}'"


Validator = Callable[[dict], dict[str, str]]


def load_document(text: str, *, source: str = "govern.yaml",
                  section_validators: list[Validator] | None = None,
                  prepare: Callable[[dict], None] | None = None) -> dict:
    """Parse and validate a govern.yaml text; raise InvalidInput with every error (path → message).

    `prepare` may adjust the parsed mapping before it is checked (the caller resolves file references with it).
    """
    raw = load_yaml(text, source)
    if not isinstance(raw, dict):
        raise InvalidInput(f"{source}: expected a mapping at the top level", {"(file)": "expected a mapping"})
    if prepare is not None:
        prepare(raw)
    raw.pop("runtime", None)  # example seed data, loaded separately
    try:
        doc = GovernSchema().load(raw)
    except ValidationError as exc:
        # Report reference mistakes alongside shape mistakes, so one run shows everything to fix.
        errors = {**_lenient_references(raw), **flatten_errors(exc.messages)}
        raise InvalidInput(f"{source} has {len(errors)} error(s)", _short(errors)) from None
    errors = check_references(doc)
    for validator in section_validators or []:
        errors.update(validator(doc))
    if errors:
        raise InvalidInput(f"{source} has {len(errors)} error(s)", _short(errors))
    return doc


MAX_REPORTED_ERRORS = 200


def _short(errors: dict[str, str]) -> dict[str, str]:
    """Errors in file order, each path and message cut to a short excerpt (a message may quote what was written, and
    what was written may be large), at most MAX_REPORTED_ERRORS of them."""
    ordered = sorted(errors.items(), key=_path_order)
    out = {excerpt_path(path): excerpt(message, 300) for path, message in ordered[:MAX_REPORTED_ERRORS]}
    if len(ordered) > MAX_REPORTED_ERRORS:
        out["(more)"] = f"{len(ordered) - MAX_REPORTED_ERRORS} more error(s) not shown; fix these first"
    return out


def _lenient_references(raw: dict) -> dict[str, str]:
    """Cross-reference checks on a document that failed its shape checks, as far as its shape allows."""
    try:
        doc = {section: list(raw.get(section) or []) for section in
               ("people", "council", "personas", "journeys", "kpis", "terminology")}
        doc["organisation"] = {"levels": ["master", "macro", "micro"], **(raw.get("organisation") or {})}
        doc["scoring"] = raw.get("scoring") or {}
        for j in doc["journeys"]:
            j.setdefault("personas", [])
            j.setdefault("stages", [])
            for stage in j["stages"]:
                stage.setdefault("steps", [])
        return check_references(doc)
    except Exception:  # noqa: BLE001 - the shape errors already explain what is wrong
        log.debug("cross-reference checks skipped on a document of the wrong shape", exc_info=True)
        return {}


def _path_order(item: tuple[str, str]) -> list:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[\[\].]+", item[0]) if p]
