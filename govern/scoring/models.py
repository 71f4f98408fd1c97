"""The scoring models: one class per kind behind one interface (:class:`ScoringModel`).

A kind says which inputs it reads, how it computes its base score (:meth:`ScoringModel.base`), how it explains it
(:meth:`ScoringModel.explain`) and where it sits on the value/effort matrix; the interface adds what every kind shares:
input checks, the evidence factor, missing inputs, and scoring a whole portfolio. Each formula is written once, in its
kind's class; the fast path used when ranking a whole portfolio calls the same function.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable, Mapping

from govern.scoring.formula import Formula, FormulaError
from govern.scoring.inputs import COMPUTED_INPUTS, InputSpec, fmt, is_number

Bounds = Mapping[str, tuple[float, float]]
Terms = list[dict[str, Any]]

RICE_IMPACT_LEVELS = (3.0, 2.0, 1.0, 0.5, 0.25)
RICE_CONFIDENCE_LEVELS = (100.0, 80.0, 50.0)
FIBONACCI_LEVELS = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0)

# Inputs the built-in models record. ICE reuses the names impact and confidence on its own 1-10 scale: an opportunity is
# scored by exactly one model, and that model's spec checks the value.
RICE_INPUTS = (
    InputSpec("reach", "people or events affected per period", minimum=0),
    InputSpec("impact", "3 massive, 2 high, 1 medium, 0.5 low, 0.25 minimal", levels=RICE_IMPACT_LEVELS),
    InputSpec("confidence", "100, 80 or 50 (%)", levels=RICE_CONFIDENCE_LEVELS),
    InputSpec("effort", "person-months", positive=True),
)
ICE_INPUTS = (
    InputSpec("impact", "1-10", minimum=1, maximum=10),
    InputSpec("confidence", "1-10", minimum=1, maximum=10),
    InputSpec("ease", "1-10", minimum=1, maximum=10),
)
WSJF_INPUTS = (
    InputSpec("business_value", "Fibonacci 1-20", levels=FIBONACCI_LEVELS),
    InputSpec("time_criticality", "Fibonacci 1-20", levels=FIBONACCI_LEVELS),
    InputSpec("risk_reduction", "risk reduction / opportunity enablement, Fibonacci 1-20", levels=FIBONACCI_LEVELS),
    InputSpec("job_size", "Fibonacci 1-20", levels=FIBONACCI_LEVELS),
)


@dataclass
class Score:
    """A computed score with its explanation (which inputs and weights produced it)."""

    model: str
    kind: str
    value: float | None
    missing: list[str] = field(default_factory=list)
    inputs: dict[str, float] = field(default_factory=dict)
    terms: list[dict[str, Any]] = field(default_factory=list)
    explanation: str = ""
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "kind": self.kind, "value": self.value, "missing": list(self.missing),
            "inputs": dict(self.inputs), "terms": list(self.terms), "explanation": self.explanation,
            "error": self.error,
        }


@dataclass(frozen=True)
class ScoringModel:
    """One declared model. Use :meth:`score_many` to score a portfolio (weighted criteria need all of it).

    A kind subclasses this and sets `kind`, `rule` and (for the built-in kinds) `own_inputs`, and implements
    :meth:`base` and :meth:`explain`; a kind with options in govern.yaml lists them in `option_keys` and reads them in
    :meth:`parse_options`.
    """

    name: str
    description: str = ""
    evidence_weight: float = 0.0
    input_specs: Mapping[str, InputSpec] = field(default_factory=dict)

    kind: ClassVar[str] = ""
    rule: ClassVar[str] = ""  # the arithmetic in words, for the playbook, API and CLI
    own_inputs: ClassVar[tuple[InputSpec, ...]] = ()  # a built-in kind's inputs and their scales
    option_keys: ClassVar[tuple[str, ...]] = ()  # govern.yaml keys only this kind has
    needs_portfolio: ClassVar[bool] = False  # one opportunity's score depends on the others' inputs

    # -- configuration

    @classmethod
    def parse_options(cls, body: Mapping[str, Any], known_inputs: set[str], problems: dict[str, str]
                      ) -> dict[str, Any]:
        """The kind's own options from its govern.yaml body, as constructor arguments; what is wrong goes into
        `problems` (key: the place under the model, e.g. "criteria.reach")."""
        return {}

    @property
    def criteria(self) -> tuple[tuple[str, float], ...]:
        """(input, weight) pairs; only a weighted model has any."""
        return ()

    @property
    def formula_text(self) -> str | None:
        """Only a formula model has one."""
        return None

    # -- what it needs

    def base_inputs(self) -> list[str]:
        """The input names the base score reads."""
        return [spec.name for spec in self.own_inputs]

    @property
    def inputs(self) -> list[str]:
        """Every input name the model reads (recorded and computed)."""
        names = self.base_inputs()
        if self.evidence_weight and "evidence_strength" not in names:
            names.append("evidence_strength")
        return names

    @property
    def recorded_inputs(self) -> list[str]:
        """The inputs someone must record (the computed evidence inputs are excluded)."""
        return [n for n in self.inputs if n not in COMPUTED_INPUTS]

    def spec(self, name: str) -> InputSpec | None:
        for spec in self.own_inputs:
            if spec.name == name:
                return spec
        return self.input_specs.get(name)

    def missing(self, recorded: Mapping[str, float]) -> list[str]:
        return [n for n in self.recorded_inputs if n not in recorded]

    def check_input(self, name: str, value: Any) -> str | None:
        """Plain words for a value this model cannot use, or None."""
        if name in COMPUTED_INPUTS:
            return "is computed from the evidence and cannot be recorded"
        return (self.spec(name) or InputSpec(name)).problem(value)

    # -- what each kind computes

    def prepare(self, rows: Iterable[Mapping[str, float]]) -> Bounds | None:
        """What scoring one row needs to know about the whole portfolio (None: nothing)."""
        return None

    def base(self, v: Mapping[str, float], bounds: Bounds | None = None) -> float:
        """The score before the evidence factor; raises KeyError, ZeroDivisionError or FormulaError."""
        raise NotImplementedError

    def explain(self, v: Mapping[str, float], bounds: Bounds | None = None) -> tuple[float, Terms, str]:
        """The base score with the terms that produced it and the arithmetic in words."""
        raise NotImplementedError

    def positional(self) -> Callable[..., float] | None:
        """The base score as a function of the recorded inputs in `recorded_inputs` order (None: the kind needs more
        than its own row, or names, to compute it). Used to rank a large portfolio without a mapping per row."""
        return None

    def value_effort(self, v: Mapping[str, float], score: float | None) -> tuple[float | None, float | None]:
        """(value, effort) for the value/effort matrix; (None, None) when an input it reads is missing."""
        try:
            return self.benefit_and_cost(v, score)
        except KeyError:
            return None, None

    def benefit_and_cost(self, v: Mapping[str, float], score: float | None) -> tuple[float | None, float | None]:
        """What the kind calls benefit and cost; by default the score itself against a recorded `effort`."""
        return score, v.get("effort")

    # -- shared by every kind

    def evidence_factor(self, strength: float) -> float:
        """The score is multiplied by (1 + w × evidence strength ÷ 100)."""
        return 1.0 + self.evidence_weight * strength / 100.0

    def score_one(self, values: Mapping[str, float]) -> Score:
        return self.score_many({0: values})[0]

    def score_many(self, rows: Mapping[Any, Mapping[str, float]]) -> dict[Any, Score]:
        """Score every row (key → input values, including the computed evidence inputs); keys are kept."""
        bounds = self.prepare(rows.values())
        return {key: self.score(values, bounds) for key, values in rows.items()}

    def value(self, v: Mapping[str, float], bounds: Bounds | None = None) -> float | None:
        """The score alone, fast (no explanation); None when an input is missing or the formula fails."""
        try:
            base = self.base(v, bounds)
        except (KeyError, ZeroDivisionError, FormulaError):
            return None
        if self.evidence_weight:
            base *= self.evidence_factor(v.get("evidence_strength", 0.0))
        return base

    def fast(self, names: list[str]) -> Callable[[list, float], float | None] | None:
        """A function (recorded inputs in `names` order, evidence strength) → score or None, the same arithmetic as
        :meth:`value` without building a mapping per opportunity; None for kinds without a :meth:`positional` form."""
        formula = self.positional()
        if formula is None or any(n not in names for n in self.recorded_inputs):
            return None
        pick = operator.itemgetter(*[names.index(n) for n in self.recorded_inputs])
        factor = self.evidence_factor

        def score(recorded, strength):
            args = pick(recorded)
            if None in args:
                return None
            try:
                return formula(*args) * factor(strength)
            except ZeroDivisionError:
                return None

        return score

    def score(self, values: Mapping[str, float], bounds: Bounds | None = None) -> Score:
        """The score with its explanation: which inputs and weights produced it."""
        missing = self.missing(values)
        score = Score(self.name, self.kind, None, missing=missing,
                      inputs={n: values[n] for n in self.inputs if n in values})
        if missing:
            score.explanation = "missing inputs: " + ", ".join(missing)
            return score
        try:
            score.value, score.terms, score.explanation = self.explain(values, bounds)
        except FormulaError as exc:
            score.error = str(exc)
            score.explanation = f"formula failed: {exc}"
            return score
        if self.evidence_weight:
            strength = values.get("evidence_strength", 0.0)
            score.value = score.value * self.evidence_factor(strength)
            score.terms.append({"input": "evidence_strength", "value": strength, "weight": self.evidence_weight,
                                "role": "× (1 + w × es/100)"})
            score.explanation += (f"; × (1 + {fmt(self.evidence_weight)} × evidence strength {fmt(strength)}/100)"
                                  f" = {fmt(round(score.value, 4))}")
        return score


def _terms(v: Mapping[str, float], roles: Iterable[tuple[str, str]]) -> Terms:
    return [{"input": name, "value": v[name], "role": role} for name, role in roles]


# --- RICE ---------------------------------------------------------------------------------------------------------------


def rice_benefit(reach: float, impact: float, confidence: float) -> float:
    """RICE's benefit: reach × impact × confidence (a percentage)."""
    return reach * impact * confidence / 100.0


def rice(reach: float, impact: float, confidence: float, effort: float) -> float:
    """The RICE score: reach × impact × confidence ÷ effort."""
    return rice_benefit(reach, impact, confidence) / effort


@dataclass(frozen=True)
class RiceModel(ScoringModel):
    kind: ClassVar[str] = "rice"
    rule: ClassVar[str] = "reach × impact (3/2/1/0.5/0.25) × confidence (100/80/50 %) ÷ effort (person-months)"
    own_inputs: ClassVar[tuple[InputSpec, ...]] = RICE_INPUTS

    def positional(self):
        return rice

    def base(self, v, bounds=None):
        return rice(v["reach"], v["impact"], v["confidence"], v["effort"])

    def explain(self, v, bounds=None):
        value = self.base(v)
        terms = _terms(v, (("reach", "×"), ("impact", "×"), ("confidence", "× %"), ("effort", "÷")))
        text = (f"reach {fmt(v['reach'])} × impact {fmt(v['impact'])} × confidence {fmt(v['confidence'])}% "
                f"÷ effort {fmt(v['effort'])} = {fmt(round(value, 4))}")
        return value, terms, text

    def benefit_and_cost(self, v, score):
        return rice_benefit(v["reach"], v["impact"], v["confidence"]), v["effort"]


# --- ICE ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IceModel(ScoringModel):
    combine: str = "product"  # or "mean"

    kind: ClassVar[str] = "ice"
    rule: ClassVar[str] = "impact × confidence × ease, each 1-10 (or their mean)"
    own_inputs: ClassVar[tuple[InputSpec, ...]] = ICE_INPUTS
    option_keys: ClassVar[tuple[str, ...]] = ("combine",)

    @classmethod
    def parse_options(cls, body, known_inputs, problems):
        combine = body.get("combine", "product")
        if combine not in ("product", "mean"):
            problems["combine"] = "must be 'product' or 'mean'"
        return {"combine": combine}

    def positional(self):
        if self.combine == "mean":
            return lambda impact, confidence, ease: (impact + confidence + ease) / 3
        return lambda impact, confidence, ease: impact * confidence * ease

    def base(self, v, bounds=None):
        return self.positional()(v["impact"], v["confidence"], v["ease"])

    def explain(self, v, bounds=None):
        value = self.base(v)
        mean = self.combine == "mean"
        terms = _terms(v, ((n, "mean" if mean else "×") for n in ("impact", "confidence", "ease")))
        if mean:
            text = (f"(impact {fmt(v['impact'])} + confidence {fmt(v['confidence'])} + ease {fmt(v['ease'])}) ÷ 3 "
                    f"= {fmt(round(value, 4))}")
        else:
            text = (f"impact {fmt(v['impact'])} × confidence {fmt(v['confidence'])} × ease {fmt(v['ease'])} "
                    f"= {fmt(value)}")
        return value, terms, text

    def benefit_and_cost(self, v, score):
        return v["impact"] * v["confidence"], 11.0 - v["ease"]


# --- WSJF ---------------------------------------------------------------------------------------------------------------


def wsjf_cost_of_delay(business_value: float, time_criticality: float, risk_reduction: float) -> float:
    """WSJF's cost of delay: business value + time criticality + risk reduction / opportunity enablement."""
    return business_value + time_criticality + risk_reduction


def wsjf(business_value: float, time_criticality: float, risk_reduction: float, job_size: float) -> float:
    """The WSJF score: cost of delay ÷ job size."""
    return wsjf_cost_of_delay(business_value, time_criticality, risk_reduction) / job_size


@dataclass(frozen=True)
class WsjfModel(ScoringModel):
    kind: ClassVar[str] = "wsjf"
    rule: ClassVar[str] = ("(business value + time criticality + risk reduction/opportunity enablement) ÷ job size, "
                           "Fibonacci 1-20")
    own_inputs: ClassVar[tuple[InputSpec, ...]] = WSJF_INPUTS

    def positional(self):
        return wsjf

    def base(self, v, bounds=None):
        return wsjf(v["business_value"], v["time_criticality"], v["risk_reduction"], v["job_size"])

    def explain(self, v, bounds=None):
        value = self.base(v)
        terms = _terms(v, (("business_value", "+"), ("time_criticality", "+"), ("risk_reduction", "+"),
                           ("job_size", "÷")))
        text = (f"(business value {fmt(v['business_value'])} + time criticality {fmt(v['time_criticality'])} "
                f"+ risk reduction {fmt(v['risk_reduction'])}) ÷ job size {fmt(v['job_size'])} "
                f"= {fmt(round(value, 4))}")
        return value, terms, text

    def benefit_and_cost(self, v, score):
        return wsjf_cost_of_delay(v["business_value"], v["time_criticality"], v["risk_reduction"]), v["job_size"]


# --- weighted criteria --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightedModel(ScoringModel):
    weights: tuple[tuple[str, float], ...] = ()

    kind: ClassVar[str] = "weighted"
    needs_portfolio: ClassVar[bool] = True  # each criterion is normalised across the portfolio
    rule: ClassVar[str] = "each criterion normalised 0-100 across the portfolio, × weight, summed, rescaled to 0-100"
    option_keys: ClassVar[tuple[str, ...]] = ("criteria",)

    @classmethod
    def parse_options(cls, body, known_inputs, problems):
        raw = body.get("criteria")
        if not isinstance(raw, Mapping) or not raw:
            problems["criteria"] = "needs at least one criterion: {input name: weight}"
            return {}
        weights = []
        for name, weight in raw.items():
            if name not in known_inputs:
                problems[f"criteria.{name}"] = f"unknown input '{name}'"
            elif not is_number(weight):
                problems[f"criteria.{name}"] = "weight must be a number"
            elif weight == 0:
                problems[f"criteria.{name}"] = "weight must not be 0 (leave the criterion out)"
            else:
                weights.append((name, float(weight)))
        return {"weights": tuple(weights)}

    @property
    def criteria(self):
        return self.weights

    def base_inputs(self):
        return [name for name, _ in self.weights]

    def prepare(self, rows):
        """The range of each criterion across the portfolio (rows missing a criterion are left out)."""
        names = self.base_inputs()
        lows = {n: math.inf for n in names}
        highs = {n: -math.inf for n in names}
        for values in rows:
            if any(n not in values for n in names):
                continue
            for n in names:
                v = values[n]
                if v < lows[n]:
                    lows[n] = v
                if v > highs[n]:
                    highs[n] = v
        return {n: (lows[n], highs[n]) if lows[n] <= highs[n] else (0.0, 0.0) for n in names}

    @property
    def _weight_range(self) -> tuple[float, float]:
        return (sum(w * 100 for _, w in self.weights if w < 0), sum(w * 100 for _, w in self.weights if w > 0))

    def _weighted(self, values: Mapping[str, float], bounds: Bounds
                  ) -> tuple[float, float, list[tuple[str, float, float, float]]]:
        total, parts = 0.0, []
        for name, weight in self.weights:
            value = values[name]  # a missing input is no score (KeyError), never the middle of an empty range
            lo, hi = bounds.get(name, (0.0, 0.0))
            normalised = 50.0 if hi == lo else 100.0 * (min(max(value, lo), hi) - lo) / (hi - lo)
            total += weight * normalised
            parts.append((name, weight, normalised, weight * normalised))
        low, high = self._weight_range
        return (0.0 if high == low else 100.0 * (total - low) / (high - low)), total, parts

    def base(self, v, bounds=None):
        return self._weighted(v, bounds or {})[0]

    def explain(self, v, bounds=None):
        value, total, parts = self._weighted(v, bounds or {})
        terms = [{"input": n, "value": v[n], "normalised": round(norm, 2), "weight": w,
                  "contribution": round(c, 2)} for n, w, norm, c in parts]
        low, high = self._weight_range
        text = (" + ".join(f"{n} {fmt(v[n])}→{norm:.1f} × {fmt(w)}" for n, w, norm, _ in parts)
                + f" = {total:.1f}; rescaled from [{fmt(low)}, {fmt(high)}] to 0-100 = {value:.1f}")
        return value, terms, text


# --- custom formula -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormulaModel(ScoringModel):
    formula: Formula | None = None

    kind: ClassVar[str] = "formula"
    rule: ClassVar[str] = "a custom formula over named inputs"
    option_keys: ClassVar[tuple[str, ...]] = ("formula",)

    @classmethod
    def parse_options(cls, body, known_inputs, problems):
        try:
            formula = Formula.parse(body.get("formula"))
        except FormulaError as exc:
            problems["formula"] = str(exc)
            return {}
        unknown = [n for n in formula.names if n not in known_inputs]
        if unknown:
            problems["formula"] = "unknown input " + ", ".join(f"'{n}'" for n in unknown)
            return {}
        try:  # a trial run with every input at 1 catches what parsing cannot (e.g. wrong arity)
            formula.evaluate({n: 1.0 for n in formula.names})
        except FormulaError as exc:
            if str(exc) != "division by zero":
                problems["formula"] = f"invalid formula: {exc}"
        return {"formula": formula}

    @property
    def formula_text(self):
        return self.formula.text if self.formula else None

    def base_inputs(self):
        return list(self.formula.names if self.formula else ())

    def base(self, v, bounds=None):
        assert self.formula is not None
        return self.formula.evaluate({n: v[n] for n in self.formula.names})

    def explain(self, v, bounds=None):
        value = self.base(v)
        names = self.base_inputs()
        terms = _terms(v, ((n, "formula") for n in names))
        shown = ", ".join(f"{n}={fmt(v[n])}" for n in names)
        return value, terms, f"{self.formula_text} with {shown} = {fmt(round(value, 4))}"


# --- the kinds ----------------------------------------------------------------------------------------------------------

MODEL_KINDS: dict[str, type[ScoringModel]] = {cls.kind: cls for cls in (RiceModel, IceModel, WsjfModel, WeightedModel,
                                                                        FormulaModel)}
KINDS = tuple(MODEL_KINDS)
BUILTIN_MODELS = tuple(kind for kind, cls in MODEL_KINDS.items() if cls.own_inputs)
MODEL_RULES = {kind: cls.rule for kind, cls in MODEL_KINDS.items()}

BUILTIN_INPUTS: dict[str, InputSpec] = {}
for _spec in (*RICE_INPUTS, *WSJF_INPUTS, ICE_INPUTS[2]):
    BUILTIN_INPUTS.setdefault(_spec.name, _spec)
del _spec


def value_effort_point(model: ScoringModel, values: Mapping[str, float],
                       score: float | None = None) -> tuple[float | None, float | None]:
    """(value, effort) for the value/effort matrix, read from the model's own inputs.

    value: RICE reach × impact × confidence; ICE impact × confidence; WSJF cost of delay; weighted/formula: the score
    itself. effort: RICE effort, ICE 11 − ease, WSJF job size, otherwise the recorded `effort` input if there is one.
    """
    return model.value_effort(values, score)
