"""The govern.yaml reference and JSON Schema, generated from the schemas and validators that check the file.

The core's sections are marshmallow schemas (`govern.orgfile.schema`), converted here; the sections each capability
validates itself (lifecycle, scoring, rituals, jira, slack) are described next to the vocabulary their validators
use (guard, effect and approval rule names, scoring kinds, agenda sections, notification kinds), so that a new word in
a validator shows up in the schema. The generated files are committed and shipped as package data (`govern/schema/`);
a test fails when they no longer match the code. Regenerate them with:

    python -m govern.orgfile.reference
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from marshmallow import RAISE, Schema, fields, missing, validate

from govern.orgfile import schema as config_schema
from govern.integrations.jira import mapping as jira_mapping
from govern.integrations.slack import config as slack_config
from govern.integrations.slack.delivery import KINDS as NOTIFICATION_KINDS
from govern.model import COUNCIL_ROLES
from govern.queries.states import STATE_KINDS, STATE_WORK
from govern.rituals import config as rituals_config
from govern.services.evidence import EVIDENCE_KEYS, JOURNEY_BREADTH_RULES, KIND_KEY, TAG_KEY
from govern.scoring import BUILTIN_MODELS, COMPUTED_INPUTS, KINDS as SCORING_KINDS
from govern.workflows import approvals, guards
from govern.workflows.definition import STATE_KEYS, TOP_KEYS, TRANSITION_KEYS, shipped_names
from govern.workflows.effects import EFFECTS

SCHEMA_ID = "https://journey-govern.invalid/schema/govern.schema.json"
SCHEMA_FILE = "govern.schema.json"
REFERENCE_FILE = "govern-yaml.md"
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]

# What each key means, by its place in the file ("journeys[].owner"). Types, allowed values and defaults come from the
# schemas themselves; this says what a new organisation needs to know beyond them.
DESCRIPTIONS: dict[str, str] = {
    "": "An organisation's governance as code: who owns which journey, the council, KPIs, the lifecycle, scoring, "
        "rituals and the Jira/Slack mappings. Apply it with `govern apply govern.yaml` (`--dry-run` shows the diff).",
    "version": "Format version of this file.",
    "organisation": "Who you are and how you name your journey levels.",
    "organisation.name": "The organisation's name, shown in the web app and the playbook.",
    "organisation.levels": "Names of the journey levels, highest first (any depth; every journey names one).",
    "organisation.description": "A paragraph about the organisation, printed in the playbook.",
    "organisation.base_url": "Public address of the web app, used in links (overrides nothing in the environment).",
    "terminology": "The glossary: the words your organisation uses, printed in the playbook.",
    "terminology[].term": "The word.",
    "terminology[].definition": "What it means here.",
    "terminology[].category": "A heading to group terms under.",
    "terminology[].labels": "The screen label this term replaces (touchpoint, channel, moment_that_matters, stage, "
                            "step, persona): the journey page then says your term and explains it with the "
                            "definition. A term that is the label's own word (\"Touchpoint\") explains it without this.",
    "words": "Your organisation's words for the product's nouns (opportunity, evidence, journey, …), with plurals; "
             "used in the playbook, the web app, Slack replies and guard messages. `permissions:` under it names "
             "permissions your way (`{evidence.record: share patient feedback}`; default: the permission table's "
             "plain words), in the playbook and in every refusal.",
    "roles": "Council roles of your own, besides lead, manager, coordinator and supporter.",
    "evidence": "Evidence settings: the kinds of insight you record, how long their text is kept, how guards count "
                "journeys, and the tag taxonomy.",
    "map": "How the journey page draws a journey map: stages as columns, steps in order, and lanes under each step.",
    "map.lanes": "The lanes under each step, in this order; a lane left out is hidden (a reader may still show it "
                 "with the page's lane switches). Lanes: `touchpoint` (touchpoint and channel), `emotion` (the "
                 "emotion curve, with a line per persona from their evidence's sentiment), `evidence` (count, "
                 "volume, mean sentiment), `opportunities` (those the step's evidence supports, with state and "
                 "score), `kpis` (KPIs measuring the step: latest value, trend, target).",
    "sources": "Where evidence arrives in bulk: a help desk's ticket export, a survey tool, app reviews. Each source "
               "maps its records' columns (or JSON fields) to an insight, routes them to steps, scrubs personal data "
               "and may feed a signed webhook (`POST /intake/<key>`). Import with `govern evidence import FILE "
               "--source KEY`; a record is identified by (source, external id), so re-importing updates, never "
               "duplicates.",
    "sources[].key": "Unique key, used by `--source`, the API and the webhook's URL.",
    "sources[].name": "Display name.",
    "sources[].description": "What the source is.",
    "sources[].kind": "The kind of insight its records become (one of `evidence.kinds`), unless `columns.kind` says.",
    "sources[].source": "What its insights show as their source (default: the source's name), unless "
                        "`columns.source` says.",
    "sources[].columns": "Which column (or JSON field) of a record holds what. Only `text` is required; without "
                         "`external_id` a record is identified by the hash of its text and date.",
    "sources[].columns.external_id": "The record's id in the source (unique per source): re-importing updates it.",
    "sources[].columns.text": "The evidence itself (a ticket's subject, a verbatim).",
    "sources[].columns.observed_on": "When it was observed, read with `date_format` (default: the day of import).",
    "sources[].columns.url": "A link back to the record.",
    "sources[].columns.tags": "Tags, split on `separator`; tags outside `evidence.tags` are kept as free tags "
                              "unless `evidence.free_tags` is false.",
    "sources[].columns.volume": "How many tickets, responses or people the record stands for (default 1).",
    "sources[].columns.personas": "Personas or segments, split on `separator`: a persona's key or name, or a value "
                                  "mapped under `personas`.",
    "sources[].columns.sentiment": "A sentiment score from -2 to +2.",
    "sources[].columns.kind": "The record's kind of insight (else the source's `kind`).",
    "sources[].columns.source": "The record's source as shown (else the source's `source` or name).",
    "sources[].date_format": "How `observed_on` is written, as Python's strptime format (`%d.%m.%Y`); a timestamp "
                             "format is fine, the date is kept.",
    "sources[].steps": "Step rules, in order; the first that matches routes the record to its step. A record no rule "
                       "matches is stored without steps and waits in triage.",
    "sources[].steps[].step": "The step, written `journey/step`.",
    "sources[].steps[].column": "The column the rule reads (with `equals` or `matches`).",
    "sources[].steps[].equals": "The column's value, compared case-insensitively and trimmed.",
    "sources[].steps[].matches": "A regular expression searched in the column's value.",
    "sources[].steps[].text_matches": "A regular expression searched in the mapped text (`(?i)` for any case).",
    "sources[].steps[].tags": "Tags the rule adds when it matches.",
    "sources[].scrub": "Replace e-mail addresses, phone numbers and card-like numbers in the text before anything "
                       "is stored.",
    "sources[].secret_env": "The environment variable (GOVERN_…_SECRET) holding the webhook's signing secret; "
                            "the webhook is disabled while it is unset. The secret itself is never in this file.",
    "sources[].tags": "Tags added to every record of the source.",
    "sources[].separator": "What separates several tags or personas in one column.",
    "sources[].personas": "Values of the personas column mapped to persona keys (`{\"Private\": consumer}`).",
    "people": "Everyone who takes part. Passwords and tokens are never in this file.",
    "people[].handle": "Short unique name used everywhere else in this file and to sign in.",
    "people[].name": "Full name.",
    "people[].email": "E-mail address (unique).",
    "people[].slack_id": "Slack member id (U…), to mention and DM the person.",
    "people[].title": "Job title.",
    "people[].department": "Department they represent.",
    "people[].admin": "Administers the installation (tokens, users, operations page); not a council role.",
    "council": "Seats on the journey council. A seat with a journey is scoped to that journey and its subtree.",
    "council[].person": "The handle of a person in `people`.",
    "council[].role": "The council role held.",
    "council[].journey": "Key of the journey the seat is scoped to (omit for the whole portfolio).",
    "personas": "Need-based personas; a journey can be seen through several.",
    "personas[].key": "Unique key.",
    "personas[].name": "Display name.",
    "personas[].description": "Who they are.",
    "personas[].needs": "What they need, in their words.",
    "journeys": "The journey framework: any depth of master → macro → micro journeys, each with one owner.",
    "journeys[].key": "Unique key, used in URLs, KPIs (`journey/step`) and Slack commands.",
    "journeys[].name": "Named from the customer's side with an active verb (\"Switching providers\").",
    "journeys[].level": "One of `organisation.levels`.",
    "journeys[].parent": "Key of the journey one level up.",
    "journeys[].details_step": "Key of the parent's step that this journey details.",
    "journeys[].owner": "Handle of the one accountable journey owner (required: a missing owner is an error).",
    "journeys[].description": "What the journey covers.",
    "journeys[].slack_channel": "Where its notifications go (else the parent's, else the council channel).",
    "journeys[].scoring_model": "Scoring model for its opportunities (`rice`, `ice`, `wsjf` or one in `scoring`).",
    "journeys[].personas": "Keys of the personas it is seen through.",
    "journeys[].stages": "Ordered chapters of the journey (before / during / after at least).",
    "journeys[].stages[].key": "Unique within the journey.",
    "journeys[].stages[].name": "Display name.",
    "journeys[].stages[].steps": "Ordered steps: an action, event, touchpoint or channel.",
    "journeys[].stages[].steps[].key": "Unique within the journey; evidence and KPIs attach to it.",
    "journeys[].stages[].steps[].name": "Display name.",
    "journeys[].stages[].steps[].touchpoint": "Where the customer meets you.",
    "journeys[].stages[].steps[].channel": "Through which channel.",
    "journeys[].stages[].steps[].moment_that_matters": "Flags a moment that matters.",
    "journeys[].stages[].steps[].emotion": "Emotion score from -2 (very negative) to 2 (very positive).",
    "kpis": "KPIs per journey or step. Scales differ and are normalised to compare.",
    "kpis[].key": "Unique key (used by `govern kpi record`).",
    "kpis[].name": "Display name.",
    "kpis[].kind": "cx (CSAT, NPS, CES), behavioural (conversion, errors) or business (revenue, churn, tickets).",
    "kpis[].scale": "The measurement scale: nps -100..100, csat5 1..5, csat_pct/percent 0..100, ces 1..7, stars 1..5, "
                    "count and currency from 0, custom with min and max.",
    "kpis[].min": "Lowest value of a custom scale.",
    "kpis[].max": "Highest value of a custom scale.",
    "kpis[].unit": "Unit shown with values (\"tickets/month\", \"EUR\").",
    "kpis[].direction": "Whether higher or lower values are better.",
    "kpis[].target": "The value to reach; evaluate compares the outcome with it.",
    "kpis[].journey": "Key of the journey it belongs to.",
    "kpis[].step": "The step it measures, written `journey/step`.",
    "kpis[].cadence": "How often it is measured: daily, weekly, monthly, quarterly, yearly or a number of days. A KPI "
                      "whose latest measurement is older than that (plus a quarter of it) is flagged stale, and "
                      "does not count as measured in the maturity reading.",
    "kpis[].measure_after_days": "Days after go-live before a measurement counts when an outcome is evaluated "
                                 "(default: the lifecycle's `measure_after_days`).",
    "lifecycle": "How opportunities move: a shipped lifecycle by name, `{name: …}`, `{file: path}` (relative to this "
                 "file) or an inline definition.",
    "scoring": "The prioritisation model: built-in rice, ice and wsjf, or your own weighted or formula models.",
    "scoring.default": "The model used unless a journey names another.",
    "scoring.models": "Models by name.",
    "scoring.inputs": "Your own inputs (for weighted or formula models), by name.",
    "rituals": "Recurring council meetings: their cadence, attendees, agenda and Slack channel.",
    "jira": "How solutions become Jira backlog items and how their status comes back. Credentials come from the "
            "environment (GOVERN_JIRA_*), never from this file.",
    "slack": "The Slack app's command, channels and which notifications go where. Credentials come from the "
             "environment (GOVERN_SLACK_*).",
}


# --- marshmallow → JSON Schema -------------------------------------------------------------------------------------


def _default(field: fields.Field) -> Any:
    value = field.load_default
    if value is missing:
        return missing
    return value() if callable(value) else value


def _apply_validators(out: dict, field: fields.Field, kind: str) -> None:
    for v in field.validators:
        if isinstance(v, validate.OneOf):
            out["enum"] = list(v.choices)
        elif isinstance(v, validate.Equal):
            out["const"] = v.comparable
        elif isinstance(v, validate.Range):
            if v.min is not None:
                out["minimum" if v.min_inclusive else "exclusiveMinimum"] = v.min
            if v.max is not None:
                out["maximum" if v.max_inclusive else "exclusiveMaximum"] = v.max
        elif isinstance(v, validate.Length):
            lo, hi = ("minItems", "maxItems") if kind == "array" else ("minLength", "maxLength")
            if v.equal is not None:
                out[lo] = out[hi] = v.equal
            if v.min is not None:
                out[lo] = v.min
            if v.max is not None:
                out[hi] = v.max
        elif isinstance(v, validate.Regexp):
            out["pattern"] = v.regex.pattern


def field_schema(field: fields.Field, path: str) -> dict:
    """One marshmallow field as JSON Schema (type, allowed values, bounds, default, description)."""
    if isinstance(getattr(field, "json_schema", None), dict):
        out = dict(field.json_schema)
    elif isinstance(field, fields.Nested):
        out = schema_object(field.schema, path)
    elif isinstance(field, fields.List):
        out = {"type": "array", "items": field_schema(field.inner, f"{path}[]")}
    elif isinstance(field, fields.Email):
        out = {"type": "string", "format": "email"}
    elif isinstance(field, fields.Url):
        out = {"type": "string", "format": "uri"}
    elif isinstance(field, fields.Boolean):
        out = {"type": "boolean"}
    elif isinstance(field, fields.Integer):
        out = {"type": "integer"}
    elif isinstance(field, (fields.Float, fields.Number)):
        out = {"type": "number"}
    elif isinstance(field, fields.String):
        out = {"type": "string"}
    elif isinstance(field, fields.Dict):
        out = {"type": "object"}
    else:
        out = {}
    _apply_validators(out, field, out.get("type", ""))
    if field.allow_none and "type" in out:
        out["type"] = [out["type"], "null"]
    default = _default(field)
    if default is not missing and not isinstance(field, fields.Nested):
        out["default"] = default
    if path in DESCRIPTIONS:
        out = {"description": DESCRIPTIONS[path], **out}
    return out


def schema_object(schema: Schema, path: str) -> dict:
    """A marshmallow schema as a JSON Schema object; unknown keys are refused when the schema refuses them."""
    properties = {}
    required = []
    for name, field in schema.fields.items():
        key = field.data_key or name
        properties[key] = field_schema(field, f"{path}.{key}" if path else key)
        if field.required:
            required.append(key)
    out: dict[str, Any] = {"type": "object"}
    if path in DESCRIPTIONS:
        out["description"] = DESCRIPTIONS[path]
    out["properties"] = properties
    if required:
        out["required"] = required
    if schema.unknown == RAISE:
        out["additionalProperties"] = False
    return out


# --- sections validated by the capabilities -------------------------------------------------------------------------


def _string(description: str, **more) -> dict:
    return {"description": description, "type": "string", **more}


def _one_key(name: str, value: dict, description: str) -> dict:
    return {"description": description, "type": "object", "properties": {name: value}, "required": [name],
            "additionalProperties": False}


def _cover(properties: dict, keys) -> dict:
    """Every key the validator accepts is in the schema (described above when known; any value otherwise)."""
    for key in keys:
        properties.setdefault(key, {})
    return properties


def lifecycle_schema() -> tuple[dict, dict]:
    """The `lifecycle` section and the definitions it refers to (guards, approval rules, effects)."""
    guard_variants = []
    for name, spec in guards.GUARDS.items():
        if name == guards.CHECKLIST:
            continue  # what a declared check becomes; it is named by the check, below
        description = spec.describe({})
        guard_variants.append({"const": name, "description": description})
        params = {key: {"description": p.description, "type": "integer", "minimum": p.minimum,
                        "default": p.default} for key, p in spec.params.items()}
        params["title"] = {"description": "What people read for this guard (diagrams, playbook, the transition's "
                                          "conditions); default: " + spec.titled(
                                              {k: p.default for k, p in spec.params.items()}),
                           "type": "string", "minLength": 1, "maxLength": 120}
        guard_variants.append(_one_key(name, {"type": ["object", "null"], "properties": params,
                                              "additionalProperties": False}, description))
    effect_variants = []
    for name, spec in EFFECTS.items():
        params = {key: {} for key in spec.required + spec.optional}
        if "channel" in params:
            params["channel"] = _string("`journey` (each touched journey's channel) or a channel such as "
                                        "`#cx-council`", pattern="^(journey|#.+)$")
        if "after_days" in params:
            params["after_days"] = {"description": "days after the transition", "type": "integer", "minimum": 1}
        if "measure_after_days" in params:
            params["measure_after_days"] = {"description": "days after go-live before a KPI measurement counts "
                                            "(default: the lifecycle's `measure_after_days`)", "type": "integer",
                                            "minimum": 0}
        for key in params:
            params[key].setdefault("type", "string")
        if not spec.required:
            effect_variants.append({"const": name, "description": spec.description})
        body: dict[str, Any] = {"type": "object" if spec.required else ["object", "null"], "properties": params,
                                "additionalProperties": False}
        if spec.required:
            body["required"] = list(spec.required)
        effect_variants.append(_one_key(name, body, spec.description))
    role_key = {"type": "string", "pattern": approvals.ROLE_KEY.pattern}
    approval = {
        "description": "Who must approve: journey owners, a council role, a quorum, a named person, or all of several "
                       "rules. The "
                       "requester never approves their own request.",
        "oneOf": [
            _one_key("owners", {"enum": ["all", "any"]}, "the owner of every (all) or any journey it touches"),
            _one_key("role", role_key, "someone holding this council role (one of "
                     f"{', '.join(f'`{r}`' for r in COUNCIL_ROLES)}, or a role declared under `roles:`)"),
            _one_key("quorum", {"type": "object", "properties": {
                "role": role_key, "n": {"type": "integer", "minimum": 1}},
                "required": ["role", "n"], "additionalProperties": False}, "n people holding the role"),
            _one_key("person", {"type": "string", "pattern": approvals.HANDLE.pattern},
                     "this named person (who must hold a council seat whose role may approve)"),
            _one_key("all_of", {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/approval"}},
                     "every rule listed"),
        ],
    }
    described = {next(iter(v["properties"])) for v in approval["oneOf"]}
    approval["oneOf"] += [_one_key(kind, {}, "") for kind in approvals.RULE_KINDS if kind not in described]
    state_names = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}
    transition = {
        "type": "object", "additionalProperties": False, "required": ["trigger", "source", "dest"],
        "properties": {
            "trigger": {"description": "The verb people use to request it (unique per source state).", **state_names},
            "source": {"description": "The state(s) it leaves.",
                       "oneOf": [state_names, {"type": "array", "items": state_names, "minItems": 1}]},
            "dest": {"description": "The state it enters.", **state_names},
            "guards": {"description": "Conditions checked from the data; unmet guards are told in plain words.",
                       "type": "array", "items": {"oneOf": [*guard_variants, {
                           "type": "string", "pattern": "^[a-z][a-z0-9_]*$", "not": {"enum": list(guards.GUARDS)},
                           "description": "a check declared under `checks:` (ticked by the people it names)"}]}},
            "requires_reason": {"description": "The requester must give a reason.", "type": "boolean",
                                "default": False},
            "approval": {"$ref": "#/$defs/approval"},
            "effects": {"description": "What happens once it is done (through the outbox for Slack and Jira).",
                        "type": "array", "items": {"oneOf": effect_variants}},
            "auto": {"description": "Requested by the system when its guards are met (e.g. every solution done).",
                     "type": "boolean", "default": False},
            "description": {"type": "string"},
            "title": {"description": "What people call it (\"Request clinical safety review\"): buttons, messages and "
                                     "the playbook; without it, the trigger in words.", "type": "string"},
            "requesters": {"description": "Who may request it (council roles and {person: handle}); without it, "
                                          "anyone the permission table lets request transitions.",
                           "type": "array", "minItems": 1, "items": {"oneOf": [
                               role_key, {"type": "object", "additionalProperties": False, "required": ["person"],
                                          "properties": {"person": {"type": "string"}}}]}},
        },
    }
    _cover(transition["properties"], TRANSITION_KEYS)
    definition = {
        "description": "An inline lifecycle definition.",
        "type": "object", "additionalProperties": False, "required": ["name", "initial", "final", "states",
                                                                      "transitions"],
        "properties": {
            "name": {"description": "Lower-case name of the lifecycle.", **state_names},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "initial": {"description": "The state every new opportunity starts in.", **state_names},
            "final": {"description": "The final state(s).",
                      "oneOf": [state_names, {"type": "array", "items": state_names}]},
            "states": {"description": "State name → what happens in it.", "type": "object",
                       "propertyNames": state_names,
                       "additionalProperties": {"type": ["object", "null"], "additionalProperties": False,
                                                "properties": _cover({"description": {
                                                    "description": "What happens in this state, in plain words.",
                                                    "type": "string"},
                                                    "kind": {"description": "What the state is: "
                                                             + "; ".join(f"{k}: {v}" for k, v in STATE_KINDS.items())
                                                             + " (default: final when listed under final, else "
                                                               "active).", "enum": list(STATE_KINDS)},
                                                    "title": {"description": "What people call the state "
                                                              "(default: its name in words).", "type": "string"},
                                                    "allows": {"description": "The work the state allows: "
                                                               + "; ".join(f"{k}: {v}" for k, v in STATE_WORK.items())
                                                               + " (default: all of it, none in a final state).",
                                                               "type": "array",
                                                               "items": {"enum": list(STATE_WORK)}}},
                                                    STATE_KEYS)}},
            "transitions": {"type": "array", "minItems": 1, "items": transition},
            "measure_after_days": {"description": "Days after go-live before a KPI measurement counts when the "
                                                  "outcome is evaluated (a KPI's own `measure_after_days` wins).",
                                   "type": "integer", "minimum": 0, "default": 28},
            "checks": {"description": "Checklist guards: named checks people tick (\"clinical safety case attached\"); "
                                      "a transition lists a check among its guards.",
                       "type": "object", "additionalProperties": {
                           "type": "object", "additionalProperties": False, "required": ["title", "tickers"],
                           "properties": {
                               "title": {"type": "string", "description": "What is checked, in a few words."},
                               "description": {"type": "string"},
                               "tickers": {"description": "Who may tick it (council roles and {person: handle}).",
                                           "type": "array", "minItems": 1, "items": {"oneOf": [
                                               role_key, {"type": "object", "additionalProperties": False,
                                                          "required": ["person"],
                                                          "properties": {"person": {"type": "string"}}}]}},
                               "link": {"enum": ["optional", "required", "none"], "default": "optional",
                                        "description": "Whether a tick carries a link to its evidence."}}}},
        },
    }
    _cover(definition["properties"], TOP_KEYS)
    names = shipped_names()
    section = {
        "description": DESCRIPTIONS["lifecycle"],
        "default": "default",
        "oneOf": [
            {"description": "A shipped lifecycle.", "enum": names},
            _one_key("name", {"enum": names}, "A shipped lifecycle."),
            _one_key("file", {"type": "string"}, "A lifecycle definition in its own YAML file, relative to this file."),
            {"$ref": "#/$defs/lifecycle_definition"},
        ],
    }
    return section, {"approval": approval, "lifecycle_definition": definition}


def scoring_schema() -> dict:
    model = {
        "type": "object", "additionalProperties": False,
        "properties": {
            "kind": {"description": "rice, ice, wsjf (built in), weighted (criteria × weights) or formula.",
                     "enum": list(SCORING_KINDS)},
            "description": {"type": "string"},
            "evidence_weight": {"description": "How much evidence strength adds to the score (0 = none).",
                                "type": "number", "minimum": 0, "default": 0},
            "criteria": {"description": "weighted models: input name → weight (non-zero; negative lowers the "
                                        "score).", "type": "object", "additionalProperties": {"type": "number"}},
            "formula": {"description": "formula models: an arithmetic expression over input names, e.g. "
                                       "`reach * impact / effort`.", "type": "string"},
            "combine": {"description": "ice models: multiply or average the three inputs.",
                        "enum": ["product", "mean"], "default": "product"},
        },
    }
    return {
        "description": DESCRIPTIONS["scoring"], "type": "object", "additionalProperties": False,
        "properties": {
            "default": {"description": DESCRIPTIONS["scoring.default"], "type": "string", "default": "rice"},
            "models": {"description": DESCRIPTIONS["scoring.models"], "type": "object",
                       "additionalProperties": model},
            "inputs": {"description": DESCRIPTIONS["scoring.inputs"] + " Computed inputs available without "
                       f"declaring them: {', '.join(f'`{n}`' for n in COMPUTED_INPUTS)}.", "type": "object",
                       "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                                         "not": {"enum": list(COMPUTED_INPUTS)}},
                       "additionalProperties": {"type": ["object", "null"], "additionalProperties": False,
                                                "properties": {"min": {"type": "number"},
                                                               "max": {"type": "number"},
                                                               "description": {"type": "string"},
                                                               "title": {"description": "What people read for the "
                                                                         "input (default: its name in words).",
                                                                         "type": "string"}}}},
        },
        "x-built-in-models": list(BUILTIN_MODELS),
    }


def rituals_schema() -> dict:
    item = schema_object(rituals_config.RitualSchema(), "rituals[]")
    props = item["properties"]
    props["key"]["description"] = "Unique key (used by `govern rituals` and the calendar feeds)."
    props["purpose"]["description"] = "Why the council meets."
    props["cadence"] = {
        "description": "When it happens: a cron expression, or an RFC 5545 RRULE with its first occurrence.",
        "oneOf": [
            _one_key("cron", {"type": "string", "examples": ["0 10 * * WED"]}, "five-field cron, local time"),
            {"type": "object", "additionalProperties": False, "required": ["rrule"],
             "properties": {"rrule": {"type": "string", "examples": ["FREQ=WEEKLY;BYDAY=WE;BYHOUR=10"]},
                            "dtstart": {"description": "first occurrence, local time (YYYY-MM-DDTHH:MM)",
                                        "type": "string"}}},
        ],
    }
    props["timezone"]["description"] = "IANA time zone the cadence is read in (DST handled)."
    props["duration_minutes"]["description"] = "Length of the meeting."
    props["scope"] = {
        "description": "What it reviews: the whole council, one journey, or a journey and its subtree.",
        "default": "council",
        "oneOf": [{"const": "council"}, _one_key("journey", {"type": "string"}, "one journey"),
                  _one_key("subtree", {"type": "string"}, "a journey and everything below it")],
    }
    props["attendees"]["description"] = "Who attends: council roles (and `owner`: the owners in scope) and people."
    props["attendees"]["properties"]["roles"]["items"]["enum"] = list(rituals_config.ATTENDEE_ROLES)
    props["slack_channel"]["description"] = "Where the agenda is posted."
    props["agenda"]["description"] = "Agenda sections, in order."
    props["agenda"]["items"]["enum"] = list(rituals_config.AGENDA_SECTIONS)
    props["agenda"]["uniqueItems"] = True
    props["agenda_lead_minutes"]["description"] = "How long before the meeting the agenda is posted."
    props["piggyback_on"]["description"] = "The meeting the team already holds that this rides on, if any."
    props["stale_after_days"]["description"] = "An opportunity untouched this long is listed as stale."
    props["grace_minutes"]["description"] = ("How late an agenda may still be posted after downtime (default: the "
                                             "duration).")
    return {"description": DESCRIPTIONS["rituals"], "type": "array", "items": item}


def jira_schema() -> dict:
    names = {"type": "array", "items": {"type": "string"}}
    props = {
        "enabled": {"description": "Switch the sync off without removing the section.", "type": "boolean",
                    "default": True},
        "project": {"description": "Jira project key.", "type": "string", "default": "OPS"},
        "issue_types": {"description": "Issue type per thing pushed.", "type": "object", "additionalProperties": False,
                        "properties": {"solution": {"type": "string", "default": "Epic"},
                                       "opportunity": {"type": "string"}}},
        "solution_issue_type": {"description": "Same as issue_types.solution.", "type": "string"},
        "opportunity_issue_type": {"description": "Same as issue_types.opportunity.", "type": "string"},
        "issue_type": {"description": "Older spelling of solution_issue_type.", "type": "string"},
        "labels": {"description": "Labels added to every item (no spaces), besides govern-sol-<id>.", **names,
                   "items": {"type": "string", "pattern": "^[^ ]+$"}},
        "components": {"description": "Components set on every item.", **names},
        "priority_by_rank": {"description": "Portfolio rank → Jira priority; the last band (without up_to) catches "
                                            "the rest.", "type": "array",
                             "default": [dict(b) for b in jira_mapping.DEFAULT_PRIORITY_BANDS],
                             "items": {"type": "object", "required": ["priority"], "additionalProperties": False,
                                       "properties": {"up_to": {"type": "integer", "minimum": 1},
                                                      "priority": {"type": "string"}}}},
        "due_date": {"description": "A solution's due date becomes Jira's due date.", "type": "boolean",
                     "default": True},
        "extra_fields": {"description": "More fields to set, e.g. `customfield_10011: \"{title}\"` ({title}, {key} and "
                                        "{opportunity} are filled in).", "type": "object"},
        "status_map": {"description": "Jira status category key (or status name) → solution state.",
                       "type": "object", "default": dict(jira_mapping.DEFAULT_STATUS_MAP),
                       "additionalProperties": {"enum": list(jira_mapping.SOLUTION_STATES)}},
        "ranking": {"description": "Order the backlog by our rank where the project allows it.", "type": "boolean",
                    "default": True},
        "timezone": {"description": "The integration user's Jira time zone (JQL dates are read in it).",
                     "type": "string", "default": "UTC"},
        "timeout_seconds": {"description": "HTTP timeout for Jira calls.", "type": "number", "exclusiveMinimum": 0,
                            "default": 10},
        "push_on": {"description": "Reserved.", },
        "webhook": {"description": "Reserved.", },
    }
    return {"description": DESCRIPTIONS["jira"], "type": "object", "additionalProperties": False,
            "properties": props}


def slack_schema() -> dict:
    kinds = {"type": "object", "propertyNames": {"enum": list(NOTIFICATION_KINDS)},
             "additionalProperties": {"type": "boolean"}}
    props = {
        "command": {"description": "The slash command as registered in the Slack app.", "type": "string",
                    "pattern": slack_config.COMMAND.pattern, "default": "/journey"},
        "council_channel": {"description": "Ownership gaps, and journeys without a channel of their own (nor a "
                                           "parent's).", "type": "string", "pattern": slack_config.CHANNEL.pattern},
        "approvals": {"description": "Where approval requests go.", "enum": list(slack_config.APPROVAL_ROUTES),
                      "default": "channel"},
        "notifications": {"description": "Per channel (`*` for every channel), per kind: on or off (default on).",
                          "type": "object", "additionalProperties": kinds},
        "ack_budget_ms": {"description": "Answer a command in the response when ready this fast, else through "
                                         "response_url.", "type": "number", "minimum": 0, "maximum": 2500},
        "evidence_author": {"description": "\"Save as evidence\" names the message's author in the insight's source "
                                           "(default: the author is not stored).", "type": "boolean",
                            "default": False},
    }
    _cover(props, slack_config.KEYS)
    return {"description": DESCRIPTIONS["slack"], "type": "object", "additionalProperties": False,
            "properties": props}


def evidence_schema() -> dict:
    """The `evidence` section (validated by govern.services.evidence.validate_evidence_settings)."""
    props = {
        "kinds": {"description": "The kinds of insight recorded (must include `other`); default: the practice's.",
                  "type": "array", "items": {"type": "string", "pattern": KIND_KEY.pattern}, "minItems": 1},
        "retention_days": {"description": "Erase an insight's text once it was observed this many days ago.",
                           "type": "integer", "minimum": 1},
        "journey_breadth": {"description": "How guards count evidence from several journeys: `independent` counts a "
                                           "nested journey as its parent, `distinct` counts every journey.",
                            "type": "string", "enum": list(JOURNEY_BREADTH_RULES), "default": "independent"},
        "tags": {"description": "The tag taxonomy: the tag keys insights are filed under.", "type": "array",
                 "items": {"type": "string", "pattern": TAG_KEY.pattern}},
        "free_tags": {"description": "Keep tags outside the taxonomy (shown as free tags); false drops them.",
                      "type": "boolean", "default": True},
    }
    return {"description": DESCRIPTIONS["evidence"], "type": "object", "additionalProperties": False,
            "properties": _cover(props, EVIDENCE_KEYS)}


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of govern.yaml, for editors and for `govern schema`."""
    root = schema_object(config_schema.GovernSchema(), "")
    lifecycle, defs = lifecycle_schema()
    root["properties"]["lifecycle"] = lifecycle
    root["properties"]["evidence"] = evidence_schema()
    root["properties"]["scoring"] = scoring_schema()
    root["properties"]["rituals"] = rituals_schema()
    root["properties"]["jira"] = jira_schema()
    root["properties"]["slack"] = slack_schema()
    root["properties"]["runtime"] = {"description": "Seed data for example files (`govern init --example`); ignored "
                                                    "by `govern apply`.", "type": "object"}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
            "title": "govern.yaml", **root, "$defs": defs}


# --- the Markdown reference -----------------------------------------------------------------------------------------


def _type_of(node: dict) -> str:
    if "$ref" in node:
        return node["$ref"].rsplit("/", 1)[-1].replace("_", " ")
    if "const" in node:
        return f"`{node['const']}`"
    if "oneOf" in node:
        return " or ".join(_type_of(v) for v in node["oneOf"])
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type", "any")
    kinds = kind if isinstance(kind, list) else [kind]
    words = []
    for k in kinds:
        if k == "array":
            words.append(f"list of {_type_of(node.get('items', {}))}")
        elif k == "object" and "properties" in node and len(node["properties"]) == 1 and node.get("required"):
            (key, value), = node["properties"].items()
            words.append(f"`{{{key}: …}}` ({_type_of(value)})")
        elif k == "object" and isinstance(node.get("additionalProperties"), dict):
            words.append(f"mapping of name → {_type_of(node['additionalProperties'])}")
        elif k == "object" and "properties" in node:
            words.append("mapping (keys below)")
        elif k == "null":
            words.append("empty")
        else:
            words.append({"string": "text", "integer": "whole number", "number": "number",
                          "boolean": "true/false", "object": "mapping"}.get(k, k))
    return " or ".join(words)


def _constraints(node: dict) -> str:
    parts = []
    for key, word in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
        if key in node:
            parts.append(f"{word} {node[key]:g}" if isinstance(node[key], (int, float)) else f"{word} {node[key]}")
    if "minLength" in node or "maxLength" in node:
        parts.append(f"{node.get('minLength', 0)}–{node.get('maxLength', '∞')} characters")
    if "minItems" in node:
        parts.append(f"at least {node['minItems']} item(s)")
    if "pattern" in node:
        parts.append(f"pattern `{node['pattern']}`")
    if node.get("format"):
        parts.append(node["format"])
    items = node.get("items")
    if isinstance(items, dict) and "enum" in items:
        parts.append("items: " + ", ".join(f"`{v}`" for v in items["enum"]))
    return "; ".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rows(node: dict, path: str, required: set[str], out: list[str]) -> None:
    """One table row per key, then the keys of nested mappings and list items, depth first."""
    for key, child in node.get("properties", {}).items():
        here = f"{path}.{key}" if path else key
        default = child.get("default", "")
        default_text = "" if default == "" else f"`{json.dumps(default, ensure_ascii=False)}`"
        out.append(f"| `{here}` | {_cell(_type_of(child))} | {'yes' if key in required else ''} | "
                   f"{_cell(default_text)} | {_cell(child.get('description', ''))}"
                   f"{_cell(' (' + _constraints(child) + ')') if _constraints(child) else ''} |")
        target = child.get("items") if child.get("type") == "array" else child
        suffix = "[]" if child.get("type") == "array" else ""
        if isinstance(target, dict) and "properties" in target and not (
                len(target["properties"]) == 1 and target.get("required")):
            _rows(target, here + suffix, set(target.get("required", [])), out)


def _example(section: str) -> str:
    """The section as the example organisation writes it (first two entries of a list)."""
    text = (resources.files("govern.examples") / "telecom" / "govern.yaml").read_text(encoding="utf-8")
    value = yaml.safe_load(text).get(section)
    if value is None:
        return ""
    if isinstance(value, list):
        value = value[:2]
    if section == "journeys" and value:
        value = [dict(value[0], stages=value[0].get("stages", [])[:1])]
    return yaml.safe_dump({section: value}, sort_keys=False, allow_unicode=True, width=110).rstrip()


LIFECYCLE_EXAMPLE = """lifecycle:                     # or: default | triple_diamond | {file: lifecycles/ours.yaml}
  name: ours
  initial: research
  final: [done, rejected]
  states:
    research: {description: Gather evidence across journeys.}
    decide: {description: The council weighs it.}
    done: {description: Delivered and evaluated.}
    rejected: {description: Not pursued, with a reason.}
  transitions:
    - trigger: propose
      source: research
      dest: decide
      guards: [{has_evidence: {min: 2}}, has_owner]
      approval: {all_of: [{owners: all}, {quorum: {role: manager, n: 2}}]}
      effects: [{notify: {channel: journey}}]
    - {trigger: accept, source: decide, dest: done, approval: {role: lead}, effects: [record_kpi_baseline]}
    - {trigger: reject, source: [research, decide], dest: rejected, requires_reason: true}"""


def markdown_reference() -> str:
    """The govern.yaml reference as Markdown: every section and key with type, allowed values, default and meaning."""
    schema = json_schema()
    lines = [
        "# govern.yaml reference",
        "",
        "<!-- Generated by `python -m govern.orgfile.reference` from the schemas that validate the file; do not edit. -->",
        "",
        schema["properties"] and DESCRIPTIONS[""],
        "",
        "`govern schema` prints the JSON Schema of this file; `govern schema govern.yaml` checks a file without "
        "touching the database and names every mistake with its place (`journeys[3].owner: unknown person 'ana'`). "
        "Editors with YAML language support (VS Code's YAML extension, JetBrains IDEs, Neovim with yaml-language-"
        "server) validate and complete the file when its first line names the schema:",
        "",
        "```yaml",
        "# yaml-language-server: $schema=./govern.schema.json",
        "```",
        "",
        "(write the schema beside the file with `govern schema > govern.schema.json`, or point at "
        "`govern/schema/govern.schema.json` in a checkout of the repository). A key given twice in one mapping is an "
        "error naming both lines; `lifecycle: {file: …}` is read relative to the YAML file.",
        "",
        "Sections: " + ", ".join(f"[`{k}`](#{k})" for k in schema["properties"]) + ".",
        "",
    ]
    for section, node in schema["properties"].items():
        lines += [f'## <a id="{section}"></a>{section}', "", node.get("description", ""), ""]
        lines.append(f"Type: {_type_of(node)}" + (f"; default `{json.dumps(node['default'])}`"
                                                  if "default" in node and node["default"] not in ([], {}) else "")
                     + ".")
        lines.append("")
        target = node.get("items") if node.get("type") == "array" else node
        rows: list[str] = []
        if isinstance(target, dict) and "properties" in target:
            _rows(target, section + ("[]" if node.get("type") == "array" else ""),
                  set(target.get("required", [])), rows)
        if rows:
            lines += ["| key | type | required | default | meaning |", "|---|---|---|---|---|", *rows, ""]
        example = LIFECYCLE_EXAMPLE if section == "lifecycle" else _example(section)
        if example:
            lines += ["Example" + ("" if section == "lifecycle" else " (from the example organisation)") + ":", "",
                      "```yaml", example, "```", ""]
        if section == "lifecycle":
            lines += _lifecycle_vocabulary(schema["$defs"])
    return "\n".join(lines).rstrip() + "\n"


def _lifecycle_vocabulary(defs: dict) -> list[str]:
    lines = ["### Lifecycle definitions", "",
             "Shipped lifecycles: " + ", ".join(f"`{n}`" for n in shipped_names()) + ".", "",
             "| key | type | required | default | meaning |", "|---|---|---|---|---|"]
    rows: list[str] = []
    definition = defs["lifecycle_definition"]
    _rows(definition, "lifecycle", set(definition["required"]), rows)
    lines += rows + ["", "Guards (`guards:` of a transition, a name or `{name: {param: value}}`):", ""]
    for name, spec in guards.GUARDS.items():
        if name == guards.CHECKLIST:
            continue
        params = ", ".join(f"`{k}` (default {p.default}, at least {p.minimum})" for k, p in spec.params.items())
        lines.append(f"- `{name}`: {spec.describe({})}" + (f"; parameters: {params}" if params else ""))
    lines.append("- the name of a check declared under `checks:` (title, description, tickers: who may tick it, "
                 "link: optional, required or none): met once one of its tickers ticked it for the opportunity")
    lines += ["", "Approval rules (`approval:` of a transition, exactly one key):", ""]
    for variant in defs["approval"]["oneOf"]:
        (key, value), = variant["properties"].items()
        lines.append(f"- `{key}`: {variant['description']} ({_type_of(value)})")
    lines += ["", "Effects (`effects:` of a transition, a name or `{name: {param: value}}`):", ""]
    for name, spec in EFFECTS.items():
        params = ", ".join([f"`{k}` (required)" for k in spec.required] + [f"`{k}`" for k in spec.optional])
        lines.append(f"- `{name}`: {spec.description}" + (f"; parameters: {params}" if params else ""))
    lines.append("")
    return lines


# --- the committed copies -------------------------------------------------------------------------------------------


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def generated_files() -> dict[Path, str]:
    """Every committed copy, by repository path: the package data (shipped in the wheel) and docs/."""
    package = REPOSITORY_ROOT / "govern" / "schema"
    reference = markdown_reference()
    return {package / SCHEMA_FILE: schema_text(), package / REFERENCE_FILE: reference,
            REPOSITORY_ROOT / "docs" / REFERENCE_FILE: reference}


def shipped_schema_text() -> str:
    """The JSON Schema as shipped in the package (what `govern schema` prints)."""
    return (resources.files("govern.schema") / SCHEMA_FILE).read_text(encoding="utf-8")


def shipped_reference_text() -> str:
    return (resources.files("govern.schema") / REFERENCE_FILE).read_text(encoding="utf-8")


def main() -> None:
    for path, text in generated_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(REPOSITORY_ROOT)}")


if __name__ == "__main__":
    main()
