"""The `scoring:` section of govern.yaml, validated into a :class:`ScoringConfig`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from govern.errors import InvalidInput
from govern.scoring.evidence import EVIDENCE_RULE
from govern.scoring.inputs import COMPUTED_INPUTS, InputSpec, is_number
from govern.scoring.models import BUILTIN_INPUTS, BUILTIN_MODELS, KINDS, MODEL_KINDS, ScoringModel


@dataclass(frozen=True)
class ScoringConfig:
    """The `scoring:` section, validated: the default model, the declared models, custom inputs."""

    default: str
    models: Mapping[str, ScoringModel]
    input_specs: Mapping[str, InputSpec]

    def model(self, name: str | None = None) -> ScoringModel:
        """The named model, or the default when `name` is empty."""
        key = name or self.default
        if key not in self.models:
            raise InvalidInput(f"unknown scoring model '{key}'", {"scoring_model": f"unknown model '{key}'"})
        return self.models[key]

    def known_inputs(self) -> list[str]:
        return sorted(set(BUILTIN_INPUTS) | set(self.input_specs) | set(COMPUTED_INPUTS))

    def describe(self) -> dict[str, Any]:
        """Plain data for the playbook, API and CLI."""
        return {
            "default": self.default,
            "evidence_rule": EVIDENCE_RULE,
            "models": {
                name: {"kind": m.kind, "description": m.description, "inputs": m.inputs,
                       "evidence_weight": m.evidence_weight,
                       "criteria": dict(m.criteria) if m.criteria else None,
                       "formula": m.formula_text,
                       "rule": m.rule}
                for name, m in self.models.items()
            },
        }


DEFAULT_SECTION: dict[str, Any] = {"default": "rice", "models": {"rice": {"kind": "rice"}}}
_OPTION_OWNERS = {key: kind for kind, cls in MODEL_KINDS.items() for key in cls.option_keys}
_MODEL_KEYS = {"kind", "description", "evidence_weight", *_OPTION_OWNERS}
_INPUT_KEYS = {"min", "max", "description", "title"}


def _parse_inputs(inputs: Any, errors: dict[str, str]) -> dict[str, InputSpec]:
    specs: dict[str, InputSpec] = {}
    if not isinstance(inputs, Mapping):
        errors["scoring.inputs"] = "must be a mapping of input name to {min, max, description}"
        return specs
    for name, body in inputs.items():
        path = f"scoring.inputs.{name}"
        if not isinstance(name, str) or not name.isidentifier():
            errors[path] = "an input name must be a plain identifier (letters, digits, _)"
            continue
        if name in COMPUTED_INPUTS:
            errors[path] = "is computed from the evidence and cannot be declared"
            continue
        body = body or {}
        if not isinstance(body, Mapping):
            errors[path] = "must be a mapping with min, max, description"
            continue
        for key in body:
            if key not in _INPUT_KEYS:
                errors[f"{path}.{key}"] = "unknown key (expected min, max, description, title)"
        lo, hi = body.get("min"), body.get("max")
        for key, val in (("min", lo), ("max", hi)):
            if val is not None and not is_number(val):
                errors[f"{path}.{key}"] = "must be a number"
        if is_number(lo) and is_number(hi) and lo >= hi:
            errors[f"{path}.max"] = "must be greater than min"
        title = body.get("title")
        if title is not None and (not isinstance(title, str) or not title.strip()):
            errors[f"{path}.title"] = "must be text: what people read for the input"
        specs[name] = InputSpec(name, str(body.get("description", "")), lo if is_number(lo) else None,
                                hi if is_number(hi) else None,
                                title=title.strip() if isinstance(title, str) and title.strip() else "")
    return specs


def _parse_model(name: Any, body: Any, specs: Mapping[str, InputSpec], known: set[str],
                 errors: dict[str, str]) -> ScoringModel | None:
    path = f"scoring.models.{name}"
    if not isinstance(name, str) or not name.replace("-", "_").isidentifier():
        errors[path] = "a model name must be a plain identifier"
        return None
    body = body or {}
    if not isinstance(body, Mapping):
        errors[path] = "must be a mapping with at least 'kind'"
        return None
    for key in body:
        if key not in _MODEL_KEYS:
            errors[f"{path}.{key}"] = f"unknown key (expected {', '.join(sorted(_MODEL_KEYS))})"
    kind = body.get("kind", name if name in BUILTIN_MODELS else None)
    if kind not in KINDS:
        errors[f"{path}.kind"] = (f"unknown kind '{kind}' (expected {', '.join(KINDS)})" if kind
                                  else f"required (one of {', '.join(KINDS)})")
        return None
    cls = MODEL_KINDS[kind]
    ew = body.get("evidence_weight", 0.0)
    if not is_number(ew) or ew < 0:
        errors[f"{path}.evidence_weight"] = "must be a number ≥ 0"
        ew = 0.0
    for key in body:
        owner = _OPTION_OWNERS.get(key)
        if owner is not None and owner != kind:
            errors[f"{path}.{key}"] = f"only {'an' if owner[0] in 'aeiou' else 'a'} {owner} model has '{key}'"
    problems: dict[str, str] = {}
    options = cls.parse_options(body, known, problems)
    errors.update({f"{path}.{key}": message for key, message in problems.items()})
    return cls(name=name, description=str(body.get("description", "")), evidence_weight=float(ew),
               input_specs=specs, **options)


def _parse(section: Any) -> tuple[ScoringConfig | None, dict[str, str]]:
    errors: dict[str, str] = {}
    if section is None:
        section = DEFAULT_SECTION
    if not isinstance(section, Mapping):
        return None, {"scoring": "must be a mapping with 'default' and 'models'"}
    for key in section:
        if key not in ("default", "models", "inputs"):
            errors[f"scoring.{key}"] = "unknown key (expected default, models, inputs)"

    specs = _parse_inputs(section.get("inputs") or {}, errors)
    known = set(BUILTIN_INPUTS) | set(specs) | set(COMPUTED_INPUTS)
    models: dict[str, ScoringModel] = {}
    declared = section.get("models") or {}
    if not isinstance(declared, Mapping):
        errors["scoring.models"] = "must be a mapping of model name to its definition"
        declared = {}
    for name, body in declared.items():
        model = _parse_model(name, body, specs, known, errors)
        if model is not None:
            models[name] = model
    for builtin in BUILTIN_MODELS:
        models.setdefault(builtin, MODEL_KINDS[builtin](name=builtin, input_specs=specs))

    default = section.get("default", "rice")
    if not isinstance(default, str) or default not in models:
        errors["scoring.default"] = f"unknown model '{default}' (declared: {', '.join(sorted(models))})"
        default = "rice"
    if errors:
        return None, errors
    return ScoringConfig(default=default, models=models, input_specs=specs), {}


def validate_scoring_config(section: Any) -> dict[str, str]:
    """Every problem in a govern.yaml `scoring:` section, keyed by its place (empty when valid). Used by `govern apply`."""
    return _parse(section)[1]


def load_scoring_config(section: Any = None) -> ScoringConfig:
    """The validated configuration (the default — RICE — when `section` is None); InvalidInput names every problem."""
    config, errors = _parse(section)
    if errors:
        raise InvalidInput("the scoring configuration is not valid", errors)
    assert config is not None
    return config


def validate_journey_models(section: Any, journeys: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """For `govern apply`: each (path, scoring_model) pair naming a model the section does not declare."""
    config, _ = _parse(section)
    names = set(config.models) if config else set(BUILTIN_MODELS)
    return {path: f"unknown scoring model '{name}'" for path, name in journeys if name and name not in names}
