"""Prioritisation: the scoring models declared in govern.yaml (`scoring:`), evidence strength, and portfolio ranking.

A score is always computed from recorded inputs (`ScoreInput` rows) and the evidence behind an opportunity; nobody types
a score in. The models:

- ``rice``     reach × impact × confidence ÷ effort. Impact on the usual scale 3 (massive) / 2 (high) / 1 (medium) /
               0.5 (low) / 0.25 (minimal); confidence 100 / 80 / 50 (%); effort in person-months (> 0).
- ``ice``      impact × confidence × ease, each 1-10 (``combine: mean`` takes their average instead).
- ``wsjf``     (business value + time criticality + risk reduction / opportunity enablement) ÷ job size, each on the
               modified Fibonacci scale 1, 2, 3, 5, 8, 13, 20.
- ``weighted`` named criteria with weights: each input is normalised to 0-100 across the portfolio being scored
               (min-max; all equal → 50), multiplied by its weight and summed; the sum is normalised again to 0-100
               against the lowest and highest sums the weights allow, so a negative weight lowers the score.
- ``formula``  a custom arithmetic formula over named inputs, parsed and evaluated with simpleeval (never ``eval``).

Every model may also set ``evidence_weight`` (w ≥ 0): the score is multiplied by (1 + w × evidence strength ÷ 100), so
an opportunity defined once and backed across journeys rises. ``evidence_strength`` is also an input that weighted
criteria and formulas may name directly (see :func:`evidence_strength` for the rule).

Configuration (govern.yaml)::

    scoring:
      default: rice                 # the organisation's model; a journey may name another (journeys[].scoring_model)
      inputs:                       # optional: custom inputs usable by weighted criteria and formulas
        strategic_fit: {min: 0, max: 10, description: "fit with this year's strategy"}
      models:
        rice: {kind: rice, evidence_weight: 0.5}
        council_view:
          kind: weighted
          criteria: {reach: 2, evidence_strength: 3, strategic_fit: 1, effort: -1}
        quick: {kind: formula, formula: "reach * impact / effort + evidence_strength"}

``rice``, ``ice`` and ``wsjf`` are always available under their own names, declared or not.
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import gc
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import simpleeval
import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern import audit
from govern.errors import InvalidInput
from govern.model import (
    Insight, Journey, Opportunity, Person, ScoreInput, Step, insight_step, journey_persona, opportunity_insight,
    opportunity_journey, utcnow,
)
from govern.policy import Actor
from govern.services.common import (
    get_journey, get_opportunity, get_person, get_persona, get_setting, journey_subtree_ids,
)

# --- inputs -------------------------------------------------------------------------------------------------------------

RICE_IMPACT_LEVELS = (3.0, 2.0, 1.0, 0.5, 0.25)
MAX_INPUT = 1e12  # beyond any real reach or budget; keeps every score a finite JSON number
RICE_CONFIDENCE_LEVELS = (100.0, 80.0, 50.0)
FIBONACCI_LEVELS = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0)


@dataclass(frozen=True)
class InputSpec:
    """What a recorded input may hold."""

    name: str
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    levels: tuple[float, ...] | None = None
    positive: bool = False  # strictly greater than zero (used as a divisor)

    def problem(self, value: Any) -> str | None:
        """Plain words for what is wrong with `value`, or None."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "must be a number"
        if not math.isfinite(value) or abs(value) > MAX_INPUT:
            return f"must be a finite number no larger than {MAX_INPUT:.0e}"
        if self.levels is not None and float(value) not in self.levels:
            return "must be one of " + ", ".join(_fmt(v) for v in self.levels)
        if self.positive and value <= 0:
            return "must be greater than 0"
        if self.minimum is not None and value < self.minimum:
            return f"must be at least {_fmt(self.minimum)}"
        if self.maximum is not None and value > self.maximum:
            return f"must be at most {_fmt(self.maximum)}"
        return None


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
BUILTIN_INPUTS: dict[str, InputSpec] = {}
for _spec in (*RICE_INPUTS, *WSJF_INPUTS, ICE_INPUTS[2]):
    BUILTIN_INPUTS.setdefault(_spec.name, _spec)
del _spec

# Inputs computed from the evidence; never recorded by hand.
COMPUTED_INPUTS = ("evidence_strength", "evidence_count", "evidence_journeys", "evidence_sources", "evidence_age_days")

KINDS = ("rice", "ice", "wsjf", "weighted", "formula")
BUILTIN_MODELS = ("rice", "ice", "wsjf")
FORMULA_FUNCTIONS: dict[str, Any] = {
    "min": min, "max": max, "abs": abs, "round": round, "sqrt": math.sqrt, "log": math.log, "log10": math.log10,
    "exp": math.exp, "clamp": lambda x, lo, hi: max(lo, min(hi, x)),
}
MAX_FORMULA_LENGTH = 500


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"


# --- evidence strength --------------------------------------------------------------------------------------------------

# Evidence strength, 0-100, is the weighted sum of four parts, each saturating at a point past which more of the same
# adds nothing (so a pile of quotes from one journey cannot outrank broad, fresh, varied support):
#   volume     35 × min(insights, 8) / 8
#   breadth    30 × min(journeys the insights are attached to, 3) / 3
#   diversity  15 × min(distinct sources, 4) / 4          (source compared case-insensitively, trimmed)
#   recency    20 × freshness of the newest insight: 1 when at most 30 days old, falling linearly to 0 at 365 days
# No evidence at all is 0. The result is rounded to one decimal.
EVIDENCE_PARTS = {
    "volume": (35.0, 8),
    "breadth": (30.0, 3),
    "diversity": (15.0, 4),
    "recency": (20.0, None),
}
FRESH_DAYS, STALE_DAYS = 30, 365
EVIDENCE_RULE = (
    "evidence strength (0-100) = 35 × min(insights, 8)/8 + 30 × min(journeys, 3)/3 + 15 × min(distinct sources, 4)/4 "
    "+ 20 × freshness of the newest insight (1 up to 30 days old, 0 from 365 days, linear between)"
)


@dataclass(frozen=True)
class EvidenceSignals:
    """What backs an opportunity: counts over its linked insights."""

    insights: int = 0
    journeys: int = 0
    sources: int = 0
    newest: dt.date | None = None

    def age_days(self, today: dt.date) -> int | None:
        return None if self.newest is None else max(0, (today - self.newest).days)


def freshness(age_days: int | None) -> float:
    if age_days is None:
        return 0.0
    if age_days <= FRESH_DAYS:
        return 1.0
    if age_days >= STALE_DAYS:
        return 0.0
    return (STALE_DAYS - age_days) / (STALE_DAYS - FRESH_DAYS)


def evidence_strength_of(insights: int, journeys: int, sources: int, age_days: int | None) -> float:
    """Evidence strength from the bare counts (the fast path used when ranking a whole portfolio)."""
    if insights <= 0:
        return 0.0
    if age_days is None or age_days >= STALE_DAYS:
        fresh = 0.0
    elif age_days <= FRESH_DAYS:
        fresh = 1.0
    else:
        fresh = (STALE_DAYS - age_days) / (STALE_DAYS - FRESH_DAYS)
    return round(35.0 * min(insights, 8) / 8 + 10.0 * min(journeys, 3) + 3.75 * min(sources, 4) + 20.0 * fresh, 1)


def evidence_parts(signals: EvidenceSignals, today: dt.date) -> dict[str, float]:
    """The four parts of evidence strength, in points."""
    if signals.insights <= 0:
        return {name: 0.0 for name in EVIDENCE_PARTS}
    return {
        "volume": 35.0 * min(signals.insights, 8) / 8,
        "breadth": 30.0 * min(signals.journeys, 3) / 3,
        "diversity": 15.0 * min(signals.sources, 4) / 4,
        "recency": 20.0 * freshness(signals.age_days(today)),
    }


def evidence_strength(signals: EvidenceSignals, today: dt.date) -> float:
    """0-100 by the documented rule (EVIDENCE_RULE)."""
    return round(sum(evidence_parts(signals, today).values()), 1)


def computed_inputs(signals: EvidenceSignals, today: dt.date) -> dict[str, float]:
    age = signals.age_days(today)
    return {
        "evidence_strength": evidence_strength(signals, today),
        "evidence_count": float(signals.insights),
        "evidence_journeys": float(signals.journeys),
        "evidence_sources": float(signals.sources),
        "evidence_age_days": float(age) if age is not None else float(STALE_DAYS),
    }


# --- formulas -----------------------------------------------------------------------------------------------------------

_ALLOWED_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)
_ALLOWED_UNARY = (ast.UAdd, ast.USub, ast.Not)
_ALLOWED_COMPARE = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


class FormulaError(ValueError):
    pass


@dataclass(frozen=True)
class Formula:
    """A parsed custom formula; the names it uses are checked against the known inputs before it is ever evaluated."""

    text: str
    names: tuple[str, ...]
    tree: Any = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: Any) -> "Formula":
        if not isinstance(text, str) or not text.strip():
            raise FormulaError("invalid formula: must be a non-empty text")
        if len(text) > MAX_FORMULA_LENGTH:
            raise FormulaError(f"invalid formula: longer than {MAX_FORMULA_LENGTH} characters")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise FormulaError(f"invalid formula: {exc.msg} at column {exc.offset}") from None
        names: list[str] = []
        for node in ast.walk(tree.body):
            if isinstance(node, ast.Name):
                if node.id not in names:
                    names.append(node.id)
            elif isinstance(node, ast.Call):
                if not isinstance(node.func, ast.Name) or node.func.id not in FORMULA_FUNCTIONS:
                    called = ast.unparse(node.func)
                    raise FormulaError(
                        f"invalid formula: unknown function '{called}' (allowed: {', '.join(FORMULA_FUNCTIONS)})"
                    )
                if node.keywords:
                    raise FormulaError("invalid formula: keyword arguments are not allowed")
            elif isinstance(node, ast.Constant):
                if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                    raise FormulaError("invalid formula: only numbers may appear as constants")
            elif isinstance(node, ast.BinOp):
                if not isinstance(node.op, _ALLOWED_BINOPS):
                    raise FormulaError(f"invalid formula: operator {type(node.op).__name__} is not allowed")
            elif isinstance(node, ast.UnaryOp):
                if not isinstance(node.op, _ALLOWED_UNARY):
                    raise FormulaError(f"invalid formula: operator {type(node.op).__name__} is not allowed")
            elif isinstance(node, ast.Compare):
                if not all(isinstance(op, _ALLOWED_COMPARE) for op in node.ops):
                    raise FormulaError("invalid formula: that comparison is not allowed")
            elif isinstance(node, (ast.IfExp, ast.BoolOp, ast.And, ast.Or, ast.Load, *_ALLOWED_BINOPS,
                                   *_ALLOWED_UNARY, *_ALLOWED_COMPARE)):
                pass
            else:
                raise FormulaError(f"invalid formula: {type(node).__name__} is not allowed")
        names = [n for n in names if n not in FORMULA_FUNCTIONS]
        return cls(text=text.strip(), names=tuple(names), tree=tree.body)

    def evaluate(self, values: Mapping[str, float]) -> float:
        evaluator = simpleeval.SimpleEval(functions=FORMULA_FUNCTIONS, names=dict(values))
        try:
            result = evaluator.eval(self.text, previously_parsed=self.tree)
        except ZeroDivisionError:
            raise FormulaError("division by zero") from None
        except (ValueError, OverflowError, TypeError, simpleeval.InvalidExpression) as exc:
            raise FormulaError(str(exc)) from None
        if isinstance(result, bool):
            result = float(result)
        if not isinstance(result, (int, float)) or not math.isfinite(result):
            raise FormulaError("the formula did not give a finite number")
        return float(result)


# --- models -------------------------------------------------------------------------------------------------------------


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
    """One declared model. Use :meth:`score_many` to score a portfolio (weighted criteria need all of it)."""

    name: str
    kind: str
    description: str = ""
    evidence_weight: float = 0.0
    criteria: tuple[tuple[str, float], ...] = ()  # weighted
    formula: Formula | None = None  # formula
    combine: str = "product"  # ice
    input_specs: Mapping[str, InputSpec] = field(default_factory=dict)

    # -- what it needs

    @property
    def inputs(self) -> list[str]:
        """Every input name the model reads (recorded and computed)."""
        if self.kind == "rice":
            names = [s.name for s in RICE_INPUTS]
        elif self.kind == "ice":
            names = [s.name for s in ICE_INPUTS]
        elif self.kind == "wsjf":
            names = [s.name for s in WSJF_INPUTS]
        elif self.kind == "weighted":
            names = [name for name, _ in self.criteria]
        else:
            names = list(self.formula.names if self.formula else ())
        if self.evidence_weight and "evidence_strength" not in names:
            names.append("evidence_strength")
        return names

    @property
    def recorded_inputs(self) -> list[str]:
        """The inputs someone must record (the computed evidence inputs are excluded)."""
        return [n for n in self.inputs if n not in COMPUTED_INPUTS]

    def spec(self, name: str) -> InputSpec | None:
        own = {"rice": RICE_INPUTS, "ice": ICE_INPUTS, "wsjf": WSJF_INPUTS}.get(self.kind, ())
        for spec in own:
            if spec.name == name:
                return spec
        return self.input_specs.get(name)

    def missing(self, recorded: Mapping[str, float]) -> list[str]:
        return [n for n in self.recorded_inputs if n not in recorded]

    def check_input(self, name: str, value: Any) -> str | None:
        """Plain words for a value this model cannot use, or None."""
        if name in COMPUTED_INPUTS:
            return "is computed from the evidence and cannot be recorded"
        spec = self.spec(name)
        if spec is None:
            spec = InputSpec(name)
        return spec.problem(value)

    # -- scoring

    def score_one(self, values: Mapping[str, float]) -> Score:
        return self.score_many({0: values})[0]

    def score_many(self, rows: Mapping[Any, Mapping[str, float]]) -> dict[Any, Score]:
        """Score every row (key → input values, including the computed evidence inputs); keys are kept."""
        bounds = self.prepare(rows.values())
        return {key: self.score(values, bounds) for key, values in rows.items()}

    def prepare(self, rows: Iterable[Mapping[str, float]]) -> dict[str, tuple[float, float]] | None:
        """What scoring one row needs to know about the whole portfolio: the range of each weighted criterion."""
        if self.kind != "weighted":
            return None
        names = [name for name, _ in self.criteria]
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

    def value(self, v: Mapping[str, float], bounds: Mapping[str, tuple[float, float]] | None = None) -> float | None:
        """The score alone, fast (no explanation); None when an input is missing or the formula fails."""
        try:
            kind = self.kind
            if kind == "rice":
                base = v["reach"] * v["impact"] * v["confidence"] / 100.0 / v["effort"]
            elif kind == "wsjf":
                base = (v["business_value"] + v["time_criticality"] + v["risk_reduction"]) / v["job_size"]
            elif kind == "ice":
                if self.combine == "mean":
                    base = (v["impact"] + v["confidence"] + v["ease"]) / 3
                else:
                    base = v["impact"] * v["confidence"] * v["ease"]
            elif kind == "weighted":
                base = self._weighted(v, bounds or {})[0]
            else:
                assert self.formula is not None
                base = self.formula.evaluate({n: v[n] for n in self.formula.names})
        except (KeyError, ZeroDivisionError, FormulaError):
            return None
        if self.evidence_weight:
            base *= 1.0 + self.evidence_weight * v.get("evidence_strength", 0.0) / 100.0
        return base

    def fast(self, names: list[str]):
        """For the built-in models: a function (recorded inputs in `names` order, evidence strength) → score or None,
        the same arithmetic as :meth:`value` without building a mapping per opportunity. None for other kinds."""
        if self.kind not in BUILTIN_MODELS or any(n not in names for n in self.recorded_inputs):
            return None
        w = self.evidence_weight / 100.0
        idx = [names.index(n) for n in self.recorded_inputs]
        if self.kind == "rice":
            ir, ii, ic, ie = idx

            def score(rec, es):
                r, i, c, e = rec[ir], rec[ii], rec[ic], rec[ie]
                if r is None or i is None or c is None or not e:
                    return None
                return r * i * c / 100.0 / e * (1.0 + w * es)
        elif self.kind == "wsjf":
            ib, it, ik, ij = idx

            def score(rec, es):
                b, t, k, j = rec[ib], rec[it], rec[ik], rec[ij]
                if b is None or t is None or k is None or not j:
                    return None
                return (b + t + k) / j * (1.0 + w * es)
        else:
            i1, i2, i3 = idx
            mean = self.combine == "mean"

            def score(rec, es):
                a, b, c = rec[i1], rec[i2], rec[i3]
                if a is None or b is None or c is None:
                    return None
                return ((a + b + c) / 3 if mean else a * b * c) * (1.0 + w * es)
        return score

    def score(self, values: Mapping[str, float], bounds: Mapping[str, tuple[float, float]] | None = None) -> Score:
        """The score with its explanation: which inputs and weights produced it."""
        missing = self.missing(values)
        score = Score(self.name, self.kind, None, missing=missing,
                      inputs={n: values[n] for n in self.inputs if n in values})
        if missing:
            score.explanation = "missing inputs: " + ", ".join(missing)
            return score
        try:
            if self.kind == "weighted":
                score.value, score.terms, score.explanation = self._explain_weighted(values, bounds or {})
            else:
                score.value, score.terms, score.explanation = self._base(values)
        except FormulaError as exc:
            score.error = str(exc)
            score.explanation = f"formula failed: {exc}"
            return score
        self._apply_evidence(score, values)
        return score

    @property
    def _weight_range(self) -> tuple[float, float]:
        return (sum(w * 100 for _, w in self.criteria if w < 0), sum(w * 100 for _, w in self.criteria if w > 0))

    def _weighted(self, values: Mapping[str, float], bounds: Mapping[str, tuple[float, float]]
                  ) -> tuple[float, float, list[tuple[str, float, float, float]]]:
        total, parts = 0.0, []
        for name, weight in self.criteria:
            lo, hi = bounds.get(name, (0.0, 0.0))
            normalised = 50.0 if hi == lo else 100.0 * (min(max(values[name], lo), hi) - lo) / (hi - lo)
            total += weight * normalised
            parts.append((name, weight, normalised, weight * normalised))
        low, high = self._weight_range
        return (0.0 if high == low else 100.0 * (total - low) / (high - low)), total, parts

    def _explain_weighted(self, values: Mapping[str, float], bounds: Mapping[str, tuple[float, float]]
                          ) -> tuple[float, list[dict[str, Any]], str]:
        value, total, parts = self._weighted(values, bounds)
        terms = [{"input": n, "value": values[n], "normalised": round(norm, 2), "weight": w,
                  "contribution": round(c, 2)} for n, w, norm, c in parts]
        low, high = self._weight_range
        text = (" + ".join(f"{n} {_fmt(values[n])}→{norm:.1f} × {_fmt(w)}" for n, w, norm, _ in parts)
                + f" = {total:.1f}; rescaled from [{_fmt(low)}, {_fmt(high)}] to 0-100 = {value:.1f}")
        return value, terms, text

    def _base(self, v: Mapping[str, float]) -> tuple[float, list[dict[str, Any]], str]:
        if self.kind == "rice":
            value = v["reach"] * v["impact"] * (v["confidence"] / 100.0) / v["effort"]
            terms = [{"input": "reach", "value": v["reach"], "role": "×"},
                     {"input": "impact", "value": v["impact"], "role": "×"},
                     {"input": "confidence", "value": v["confidence"], "role": "× %"},
                     {"input": "effort", "value": v["effort"], "role": "÷"}]
            text = (f"reach {_fmt(v['reach'])} × impact {_fmt(v['impact'])} × confidence {_fmt(v['confidence'])}% "
                    f"÷ effort {_fmt(v['effort'])} = {_fmt(round(value, 4))}")
            return value, terms, text
        if self.kind == "ice":
            parts = [v["impact"], v["confidence"], v["ease"]]
            terms = [{"input": n, "value": v[n], "role": "×" if self.combine == "product" else "mean"}
                     for n in ("impact", "confidence", "ease")]
            if self.combine == "mean":
                value = sum(parts) / 3
                text = (f"(impact {_fmt(parts[0])} + confidence {_fmt(parts[1])} + ease {_fmt(parts[2])}) ÷ 3 "
                        f"= {_fmt(round(value, 4))}")
            else:
                value = parts[0] * parts[1] * parts[2]
                text = (f"impact {_fmt(parts[0])} × confidence {_fmt(parts[1])} × ease {_fmt(parts[2])} "
                        f"= {_fmt(value)}")
            return value, terms, text
        if self.kind == "wsjf":
            cost_of_delay = v["business_value"] + v["time_criticality"] + v["risk_reduction"]
            value = cost_of_delay / v["job_size"]
            terms = [{"input": n, "value": v[n], "role": "+"}
                     for n in ("business_value", "time_criticality", "risk_reduction")]
            terms.append({"input": "job_size", "value": v["job_size"], "role": "÷"})
            text = (f"(business value {_fmt(v['business_value'])} + time criticality {_fmt(v['time_criticality'])} "
                    f"+ risk reduction {_fmt(v['risk_reduction'])}) ÷ job size {_fmt(v['job_size'])} "
                    f"= {_fmt(round(value, 4))}")
            return value, terms, text
        assert self.formula is not None
        value = self.formula.evaluate({n: v[n] for n in self.formula.names})
        terms = [{"input": n, "value": v[n], "role": "formula"} for n in self.formula.names]
        shown = ", ".join(f"{n}={_fmt(v[n])}" for n in self.formula.names)
        return value, terms, f"{self.formula.text} with {shown} = {_fmt(round(value, 4))}"

    def _apply_evidence(self, score: Score, values: Mapping[str, float]) -> None:
        if not self.evidence_weight or score.value is None:
            return
        strength = values.get("evidence_strength", 0.0)
        factor = 1.0 + self.evidence_weight * strength / 100.0
        score.value = score.value * factor
        score.terms.append({"input": "evidence_strength", "value": strength, "weight": self.evidence_weight,
                            "role": "× (1 + w × es/100)"})
        score.explanation += (f"; × (1 + {_fmt(self.evidence_weight)} × evidence strength {_fmt(strength)}/100)"
                              f" = {_fmt(round(score.value, 4))}")


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
                       "formula": m.formula.text if m.formula else None,
                       "rule": MODEL_RULES[m.kind]}
                for name, m in self.models.items()
            },
        }


MODEL_RULES = {
    "rice": "reach × impact (3/2/1/0.5/0.25) × confidence (100/80/50 %) ÷ effort (person-months)",
    "ice": "impact × confidence × ease, each 1-10 (or their mean)",
    "wsjf": "(business value + time criticality + risk reduction/opportunity enablement) ÷ job size, Fibonacci 1-20",
    "weighted": "each criterion normalised 0-100 across the portfolio, × weight, summed, rescaled to 0-100",
    "formula": "a custom formula over named inputs",
}

DEFAULT_SECTION: dict[str, Any] = {"default": "rice", "models": {"rice": {"kind": "rice"}}}
_MODEL_KEYS = {"kind", "description", "evidence_weight", "criteria", "formula", "combine"}
_INPUT_KEYS = {"min", "max", "description"}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse(section: Any) -> tuple[ScoringConfig | None, dict[str, str]]:
    errors: dict[str, str] = {}
    if section is None:
        section = DEFAULT_SECTION
    if not isinstance(section, Mapping):
        return None, {"scoring": "must be a mapping with 'default' and 'models'"}
    for key in section:
        if key not in ("default", "models", "inputs"):
            errors[f"scoring.{key}"] = "unknown key (expected default, models, inputs)"

    specs: dict[str, InputSpec] = {}
    inputs = section.get("inputs") or {}
    if not isinstance(inputs, Mapping):
        errors["scoring.inputs"] = "must be a mapping of input name to {min, max, description}"
        inputs = {}
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
                errors[f"{path}.{key}"] = "unknown key (expected min, max, description)"
        lo, hi = body.get("min"), body.get("max")
        for key, val in (("min", lo), ("max", hi)):
            if val is not None and not _number(val):
                errors[f"{path}.{key}"] = "must be a number"
        if _number(lo) and _number(hi) and lo >= hi:
            errors[f"{path}.max"] = "must be greater than min"
        specs[name] = InputSpec(name, str(body.get("description", "")), lo if _number(lo) else None,
                                hi if _number(hi) else None)

    known = set(BUILTIN_INPUTS) | set(specs) | set(COMPUTED_INPUTS)
    models: dict[str, ScoringModel] = {}
    declared = section.get("models") or {}
    if not isinstance(declared, Mapping):
        errors["scoring.models"] = "must be a mapping of model name to its definition"
        declared = {}
    for name, body in declared.items():
        path = f"scoring.models.{name}"
        if not isinstance(name, str) or not name.replace("-", "_").isidentifier():
            errors[path] = "a model name must be a plain identifier"
            continue
        body = body or {}
        if not isinstance(body, Mapping):
            errors[path] = "must be a mapping with at least 'kind'"
            continue
        for key in body:
            if key not in _MODEL_KEYS:
                errors[f"{path}.{key}"] = f"unknown key (expected {', '.join(sorted(_MODEL_KEYS))})"
        kind = body.get("kind", name if name in BUILTIN_MODELS else None)
        if kind not in KINDS:
            errors[f"{path}.kind"] = (f"unknown kind '{kind}' (expected {', '.join(KINDS)})" if kind
                                      else f"required (one of {', '.join(KINDS)})")
            continue
        ew = body.get("evidence_weight", 0.0)
        if not _number(ew) or ew < 0:
            errors[f"{path}.evidence_weight"] = "must be a number ≥ 0"
            ew = 0.0
        combine = body.get("combine", "product")
        if kind == "ice" and combine not in ("product", "mean"):
            errors[f"{path}.combine"] = "must be 'product' or 'mean'"
        elif kind != "ice" and "combine" in body:
            errors[f"{path}.combine"] = "only an ice model has 'combine'"
        criteria: list[tuple[str, float]] = []
        formula = None
        if kind == "weighted":
            raw = body.get("criteria")
            if not isinstance(raw, Mapping) or not raw:
                errors[f"{path}.criteria"] = "needs at least one criterion: {input name: weight}"
            else:
                for cname, weight in raw.items():
                    if cname not in known:
                        errors[f"{path}.criteria.{cname}"] = f"unknown input '{cname}'"
                    elif not _number(weight):
                        errors[f"{path}.criteria.{cname}"] = "weight must be a number"
                    elif weight == 0:
                        errors[f"{path}.criteria.{cname}"] = "weight must not be 0 (leave the criterion out)"
                    else:
                        criteria.append((cname, float(weight)))
        elif "criteria" in body:
            errors[f"{path}.criteria"] = "only a weighted model has criteria"
        if kind == "formula":
            try:
                formula = Formula.parse(body.get("formula"))
            except FormulaError as exc:
                errors[f"{path}.formula"] = str(exc)
            else:
                unknown = [n for n in formula.names if n not in known]
                if unknown:
                    errors[f"{path}.formula"] = "unknown input " + ", ".join(f"'{n}'" for n in unknown)
                else:
                    try:  # a trial run with every input at 1 catches what parsing cannot (e.g. wrong arity)
                        formula.evaluate({n: 1.0 for n in formula.names})
                    except FormulaError as exc:
                        if str(exc) != "division by zero":
                            errors[f"{path}.formula"] = f"invalid formula: {exc}"
        elif "formula" in body:
            errors[f"{path}.formula"] = "only a formula model has a formula"
        models[name] = ScoringModel(
            name=name, kind=kind, description=str(body.get("description", "")), evidence_weight=float(ew),
            criteria=tuple(criteria), formula=formula, combine=combine if kind == "ice" else "product",
            input_specs=specs,
        )
    for builtin in BUILTIN_MODELS:
        models.setdefault(builtin, ScoringModel(name=builtin, kind=builtin, input_specs=specs))

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


# --- ranking ------------------------------------------------------------------------------------------------------------


@dataclass
class Ranked:
    """One opportunity's place in a ranking; `relative` is its score rescaled 0-100 among rows of the same model."""

    key: Any
    model: str
    value: float | None
    relative: float | None = None
    rank: int | None = None


def rank(entries: Iterable[tuple[Any, str, float | None, tuple]], limit: int | None = None) -> list[Ranked]:
    """Order (key, model name, score or None, tie-break tuple) entries best first; the first `limit` when given.

    Scores from different models are not comparable, so each score is first rescaled to 0-100 among the entries of its
    own model (min-max; a lone entry or all-equal entries read 100); with one model this keeps the raw order. Ties are
    broken by the raw score, then by the tie-break tuple (e.g. (−evidence strength, opportunity number)), then by the
    order the entries came in. Entries without a score (missing inputs) come last, unranked, in tie-break order.
    """
    entries = entries if isinstance(entries, list) else list(entries)
    lows: dict[str, float] = {}
    highs: dict[str, float] = {}
    for _, model, value, _ in entries:
        if value is not None:
            if value < lows.get(model, math.inf):
                lows[model] = value
            if value > highs.get(model, -math.inf):
                highs[model] = value
    spans = {m: (lows[m], highs[m] - lows[m]) for m in lows}

    def relative(model: str, value: float) -> float:
        lo, span = spans[model]
        return 100.0 if span == 0 else 100.0 * (value - lo) / span

    if len(spans) <= 1:  # one model: the relative score follows the raw score, so sort on the raw score alone
        def order(entry):
            value = entry[2]
            return (1, 0.0, entry[3]) if value is None else (0, -value, entry[3])
    else:
        def order(entry):
            value = entry[2]
            if value is None:
                return (1, 0.0, 0.0, entry[3])
            lo, span = spans[entry[1]]
            return (0, -100.0 if span == 0 else -100.0 * (value - lo) / span, -value, entry[3])

    ordered = sorted(entries, key=order)
    if limit is not None:
        ordered = ordered[:max(0, int(limit))]
    return [Ranked(key, model, value, None if value is None else relative(model, value),
                   None if value is None else position)
            for position, (key, model, value, _) in enumerate(ordered, start=1)]


def rank_scores(scored: Mapping[Any, Score], tie_break: Mapping[Any, tuple] | None = None) -> list[Ranked]:
    """:func:`rank` over computed Score objects."""
    tie_break = tie_break or {}
    try:
        items = sorted(scored.items(), key=lambda kv: kv[0])  # equal rows fall back to key order
    except TypeError:
        items = list(scored.items())
    return rank([(key, s.model, s.value, tuple(tie_break.get(key, ()))) for key, s in items])


def value_effort_point(model: ScoringModel, values: Mapping[str, float]) -> tuple[float | None, float | None]:
    """(value, effort) for the value/effort matrix, read from the model's own inputs.

    value: RICE reach × impact × confidence; ICE impact × confidence; WSJF cost of delay; weighted/formula: the score
    itself. effort: RICE effort, ICE 11 − ease, WSJF job size, otherwise the recorded `effort` input if there is one.
    """
    try:
        if model.kind == "rice":
            return values["reach"] * values["impact"] * values["confidence"] / 100.0, values["effort"]
        if model.kind == "ice":
            return values["impact"] * values["confidence"], 11.0 - values["ease"]
        if model.kind == "wsjf":
            return (values["business_value"] + values["time_criticality"] + values["risk_reduction"],
                    values["job_size"])
    except KeyError:
        return None, None
    return None, values.get("effort")


# --- the database side: recording inputs, scoring and ranking the portfolio --------------------------------------------
# Services follow the house rule: fn(session, actor, ...), permission check, validation, audit, one commit.

SCORING_SETTING = "scoring"


def scoring_config(session: Session) -> ScoringConfig:
    """The organisation's scoring configuration, as applied from govern.yaml (RICE alone when none was applied)."""
    return load_scoring_config(get_setting(session, SCORING_SETTING) or None)


def _journey_models(session: Session, config: ScoringConfig) -> dict[int, str]:
    """Each journey's model: its own, else its nearest ancestor's, else the default. Empty when no journey names one."""
    rows = session.execute(sa.select(Journey.id, Journey.parent_id, Journey.scoring_model)).all()
    own = {r.id: r.scoring_model for r in rows if r.scoring_model and r.scoring_model in config.models}
    if not own:
        return {}
    parent = {r.id: r.parent_id for r in rows}
    out: dict[int, str] = {}
    for jid in parent:
        cursor, seen = jid, set()
        while cursor is not None and cursor not in seen:
            if cursor in own:
                out[jid] = own[cursor]
                break
            seen.add(cursor)
            cursor = parent.get(cursor)
        else:
            out[jid] = config.default
    return out


def _model_name(config: ScoringConfig, journey_ids: Iterable[int], journey_models: Mapping[int, str]) -> str:
    """The model of the journeys an opportunity touches when they all agree, otherwise the organisation's default."""
    if not journey_models:
        return config.default
    names = {journey_models.get(j, config.default) for j in journey_ids}
    return names.pop() if len(names) == 1 else config.default


def model_for_opportunity(session: Session, opportunity: Opportunity, config: ScoringConfig | None = None
                          ) -> ScoringModel:
    """The model that scores this opportunity (see :func:`_model_name` for the rule)."""
    config = config or scoring_config(session)
    return config.model(_model_name(config, [j.id for j in opportunity.journeys], _journey_models(session, config)))


def missing_inputs(session: Session, opportunity: Opportunity | str | int) -> list[str]:
    """The recorded inputs the opportunity's model still needs (empty: it has a score). Used by the has_score guard."""
    if not isinstance(opportunity, Opportunity):
        opportunity = get_opportunity(session, opportunity)
    model = model_for_opportunity(session, opportunity)
    return model.missing({si.name: si.value for si in opportunity.score_inputs})


def _coerce_number(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        try:
            return float(text)
        except ValueError:
            return value
    return value


def record_score_inputs(session: Session, actor: Actor, opp_ref: str | int, values: Mapping[str, Any], *,
                        expected_version: int | None = None, commit: bool = True) -> Score:
    """Record scoring inputs for an opportunity (who and when, audited); `None` removes an input. Returns the new score.

    Every name must be an input some model knows (built-in or declared under scoring.inputs); each value is checked
    against the scale of the model that scores this opportunity. The score itself is computed, never recorded.
    """
    from govern.services.opportunities import check_version  # the opportunity service's optimistic-lock rule

    opp = get_opportunity(session, opp_ref)
    actor.require("opportunity.score", [j.id for j in opp.journeys])
    check_version(opp, expected_version)
    if not isinstance(values, Mapping) or not values:
        raise InvalidInput("give at least one scoring input", {"inputs": "give at least one input, e.g. reach=2000"})
    config = scoring_config(session)
    model = model_for_opportunity(session, opp, config)
    known = set(BUILTIN_INPUTS) | set(config.input_specs)
    errors: dict[str, str] = {}
    clean: dict[str, float | None] = {}
    for name, raw in values.items():
        path = f"inputs.{name}"
        if name in COMPUTED_INPUTS:
            errors[path] = "is computed from the evidence and cannot be recorded"
            continue
        if name not in known:
            errors[path] = (f"unknown input '{name}' (the {model.name} model uses "
                            f"{', '.join(model.recorded_inputs) or 'no recorded inputs'})")
            continue
        if raw is None:
            clean[name] = None
            continue
        value = _coerce_number(raw)
        spec = model.spec(name) or config.input_specs.get(name) or BUILTIN_INPUTS.get(name) or InputSpec(name)
        problem = spec.problem(value)
        if problem:
            errors[path] = problem
        else:
            clean[name] = float(value)
    if errors:
        raise InvalidInput("some scoring inputs are not valid", errors)

    existing = {si.name: si for si in opp.score_inputs}
    before = {n: si.value for n, si in existing.items()}
    now = utcnow()
    for name, value in clean.items():
        row = existing.get(name)
        if value is None:
            if row is not None:
                opp.score_inputs.remove(row)
        elif row is None:
            opp.score_inputs.append(ScoreInput(name=name, value=value, recorded_by_id=actor.person_id,
                                               recorded_at=now))
        elif row.value != value:
            row.value, row.recorded_by_id, row.recorded_at = value, actor.person_id, now
    after = {si.name: si.value for si in opp.score_inputs}
    session.flush()
    score = score_opportunity(session, opp, config=config)
    if after != before:
        opp.updated_at = now  # a new score is a new version: approvals decided on the old one are stale
        audit.record(session, actor, "opportunity.scored", "opportunity", opp.key,
                     before={"inputs": before},
                     after={"inputs": after, "model": model.name, "score": score.value, "missing": score.missing})
    if commit:
        session.commit()
    return score


# -- loading the portfolio in one aggregate query

def _recorded_names(config: ScoringConfig) -> list[str]:
    names: list[str] = []
    for model in config.models.values():
        for n in model.recorded_inputs:
            if n not in names:
                names.append(n)
    return names


def portfolio_query(names: list[str], opportunity_ids: Iterable[int] | None = None) -> sa.Select:
    """One query: every opportunity with its evidence counts (insights, journeys, distinct sources, newest date) and
    its recorded inputs pivoted into columns `in_0 … in_n` (in the order of `names`)."""
    ids = None if opportunity_ids is None else list(opportunity_ids)
    oi = opportunity_insight
    # Two grouped subqueries rather than one over links × steps: each link meets its insight once (count(*) is the
    # number of insights, as (opportunity, insight) is the link's key), and only the journey count needs the steps.
    evidence = (
        sa.select(
            oi.c.opportunity_id.label("opp_id"),
            sa.func.count().label("insights"),
            sa.func.count(sa.distinct(sa.func.lower(sa.func.trim(Insight.source)))).label("sources"),
            sa.func.max(Insight.observed_on).label("newest"),
        )
        .select_from(oi.join(Insight, Insight.id == oi.c.insight_id))
        .group_by(oi.c.opportunity_id)
    )
    breadth = (
        sa.select(oi.c.opportunity_id.label("opp_id"),
                  sa.func.count(sa.distinct(Step.journey_id)).label("journeys"))
        .select_from(oi.join(insight_step, insight_step.c.insight_id == oi.c.insight_id)
                     .join(Step, Step.id == insight_step.c.step_id))
        .group_by(oi.c.opportunity_id)
    )
    inputs = (
        sa.select(ScoreInput.opportunity_id.label("opp_id"),
                  *[sa.func.max(sa.case((ScoreInput.name == n, ScoreInput.value))).label(f"in_{i}")
                    for i, n in enumerate(names)])
        .group_by(ScoreInput.opportunity_id)
    )
    if ids is not None:  # filter inside the aggregates too, so one opportunity costs one opportunity's work
        evidence = evidence.where(oi.c.opportunity_id.in_(ids))
        breadth = breadth.where(oi.c.opportunity_id.in_(ids))
        inputs = inputs.where(ScoreInput.opportunity_id.in_(ids))
    evidence = evidence.subquery("evidence")
    breadth = breadth.subquery("breadth")
    inputs = inputs.subquery("inputs")
    query = (
        sa.select(Opportunity.id, Opportunity.number, Opportunity.title, Opportunity.state, Opportunity.owner_id,
                  evidence.c.insights, breadth.c.journeys, evidence.c.sources, evidence.c.newest,
                  *[inputs.c[f"in_{i}"] for i in range(len(names))])
        .outerjoin(evidence, evidence.c.opp_id == Opportunity.id)
        .outerjoin(breadth, breadth.c.opp_id == Opportunity.id)
        .outerjoin(inputs, inputs.c.opp_id == Opportunity.id)
    )
    if ids is not None:
        query = query.where(Opportunity.id.in_(ids))
    return query


@contextlib.contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while a portfolio is loaded: it holds no cycles, and a collection pass
    every few hundred allocations over 100,000 live rows costs more than the ranking itself."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Row:
    """One opportunity as the ranking reads it: the recorded inputs in `names` order and its evidence counts."""

    __slots__ = ("id", "number", "title", "state", "owner_id", "recorded", "evidence", "strength", "model", "value")

    def __init__(self, id, number, title, state, owner_id, recorded, evidence, strength):
        self.id, self.number, self.title, self.state, self.owner_id = id, number, title, state, owner_id
        self.recorded, self.evidence, self.strength = recorded, evidence, strength
        self.model, self.value = "", None

    def values(self, names: list[str]) -> dict[str, float]:
        """Every input by name: the recorded ones and the computed evidence inputs."""
        out = {name: v for name, v in zip(names, self.recorded) if v is not None}
        n, j, s, age = self.evidence
        out.update(evidence_strength=self.strength, evidence_count=n, evidence_journeys=j, evidence_sources=s,
                   evidence_age_days=STALE_DAYS if age is None else age)
        return out


def _load_portfolio(session: Session, config: ScoringConfig, today: dt.date,
                    opportunity_ids: Iterable[int] | None = None) -> tuple[list[str], list[_Row]]:
    names = _recorded_names(config)
    rows: list[_Row] = []
    append = rows.append
    strength = evidence_strength_of
    # Core execution (not the ORM's row processing): this loop runs once per opportunity in the portfolio.
    result = session.connection().execute(portfolio_query(names, opportunity_ids)).all()
    for oid, number, title, state, owner_id, n, j, s, newest, *recorded in result:
        if newest is None:
            age = None
        else:
            if isinstance(newest, str):  # a bare aggregate over a date column may come back as text
                newest = dt.date.fromisoformat(newest[:10])
            age = (today - newest).days
            if age < 0:
                age = 0
        n, j, s = n or 0, j or 0, s or 0
        append(_Row(oid, number, title, state, owner_id, recorded, (n, j, s, age), strength(n, j, s, age)))
    return names, rows


def _score_rows(session: Session, config: ScoringConfig, names: list[str], rows: list[_Row]) -> dict[str, Any]:
    """Assign each row its model and score; returns the per-model portfolio bounds (for explanations)."""
    journey_models = _journey_models(session, config)
    if journey_models:
        links: dict[int, list[int]] = {}
        for opp_id, journey_id in session.execute(sa.select(opportunity_journey.c.opportunity_id,
                                                            opportunity_journey.c.journey_id)):
            links.setdefault(opp_id, []).append(journey_id)
        for row in rows:
            row.model = _model_name(config, links.get(row.id, ()), journey_models)
    else:
        for row in rows:
            row.model = config.default
    bounds: dict[str, Any] = {}
    for name in sorted({row.model for row in rows}):
        model = config.models[name]
        mine = [row for row in rows if row.model == name]
        fast = model.fast(names)
        if fast is not None:
            bounds[name] = None
            for row in mine:
                row.value = fast(row.recorded, row.strength)
            continue
        table = [row.values(names) for row in mine]
        b = bounds[name] = model.prepare(table)
        for row, values in zip(mine, table):
            row.value = model.value(values, b)
    return bounds


def score_opportunity(session: Session, opportunity: Opportunity, *, config: ScoringConfig | None = None,
                      today: dt.date | None = None) -> Score:
    """The opportunity's score with its explanation (a weighted model reads the whole portfolio for its ranges)."""
    config = config or scoring_config(session)
    today = today or utcnow().date()
    model = model_for_opportunity(session, opportunity, config)
    if model.kind == "weighted":
        names, rows = _load_portfolio(session, config, today)
        bounds = _score_rows(session, config, names, rows)
        row = next(r for r in rows if r.id == opportunity.id)
        return model.score(row.values(names), bounds[model.name])
    names, rows = _load_portfolio(session, config, today, [opportunity.id])
    return model.score(rows[0].values(names))


def _filter_ids(session: Session, *, journey: str | None = None, state: str | Iterable[str] | None = None,
                owner: str | None = None, persona: str | None = None) -> set[int] | None:
    """The opportunity ids the filters allow (None: no filter)."""
    query = sa.select(Opportunity.id)
    filtered = False
    if journey:
        subtree = journey_subtree_ids(session, get_journey(session, journey).id)
        query = query.where(Opportunity.id.in_(
            sa.select(opportunity_journey.c.opportunity_id).where(opportunity_journey.c.journey_id.in_(subtree))))
        filtered = True
    if state:
        states = [state] if isinstance(state, str) else list(state)
        query = query.where(Opportunity.state.in_(states))
        filtered = True
    if owner:
        query = query.where(Opportunity.owner_id == get_person(session, owner).id)
        filtered = True
    if persona:
        persona_id = get_persona(session, persona).id
        query = query.where(Opportunity.id.in_(
            sa.select(opportunity_journey.c.opportunity_id)
            .join(journey_persona, journey_persona.c.journey_id == opportunity_journey.c.journey_id)
            .where(journey_persona.c.persona_id == persona_id)))
        filtered = True
    return set(session.scalars(query)) if filtered else None


def rank_portfolio(session: Session, *, journey: str | None = None, state: str | Iterable[str] | None = None,
                   owner: str | None = None, persona: str | None = None, limit: int | None = None,
                   explain: bool = True, today: dt.date | None = None) -> list[dict[str, Any]]:
    """The opportunity portfolio, best first, with score, rank and explanation (which inputs and weights produced it).

    Filters: `journey` (its whole subtree), `state` (one or several), `owner` (the opportunity's owner, by handle),
    `persona` (opportunities touching a journey seen through that persona). Scores are computed over the whole portfolio
    (a weighted model normalises across all of it), so a filter never changes a score, only which rows are shown; ranks
    are positions in the filtered list. Ties: higher raw score, then stronger evidence, then the older opportunity
    (lower number). Unscorable opportunities (missing inputs) come last with `rank` None and the inputs they lack.
    """
    config = scoring_config(session)
    today = today or utcnow().date()
    allowed = _filter_ids(session, journey=journey, state=state, owner=owner, persona=persona)
    with _gc_paused():
        names, rows = _load_portfolio(session, config, today)
        bounds = _score_rows(session, config, names, rows)
        if allowed is not None:
            rows = [row for row in rows if row.id in allowed]
        ranked = rank([(row, row.model, row.value, (-row.strength, row.number)) for row in rows], limit)
    people = dict(session.execute(sa.select(Person.id, Person.handle)).all())
    journeys = _journey_keys(session, [r.key.id for r in ranked]) if explain else {}
    out = []
    for entry in ranked:
        row = entry.key
        item: dict[str, Any] = {
            "rank": entry.rank, "key": f"OPP-{row.number}", "number": row.number, "title": row.title,
            "state": row.state, "owner": people.get(row.owner_id), "model": row.model,
            "score": None if row.value is None else round(row.value, 4),
            "relative_score": None if entry.relative is None else round(entry.relative, 2),
            "evidence_strength": row.strength,
        }
        if explain:
            score = config.models[row.model].score(row.values(names), bounds[row.model])
            item.update(journeys=journeys.get(row.id, []), inputs=score.inputs, terms=score.terms,
                        explanation=score.explanation, missing=score.missing, error=score.error)
        out.append(item)
    return out


def _journey_keys(session: Session, opp_ids: list[int]) -> dict[int, list[str]]:
    query = (sa.select(opportunity_journey.c.opportunity_id, Journey.key)
             .join(Journey, Journey.id == opportunity_journey.c.journey_id).order_by(Journey.id))
    if len(opp_ids) <= 500:
        query = query.where(opportunity_journey.c.opportunity_id.in_(opp_ids))
    out: dict[int, list[str]] = {}
    for opp_id, key in session.execute(query):
        out.setdefault(opp_id, []).append(key)
    return out


QUADRANTS = {
    (True, False): "quick win",     # high value, low effort
    (True, True): "big bet",        # high value, high effort
    (False, False): "fill-in",      # low value, low effort
    (False, True): "money pit",     # low value, high effort
}


def value_effort_matrix(session: Session, *, journey: str | None = None, state: str | Iterable[str] | None = None,
                        owner: str | None = None, persona: str | None = None,
                        today: dt.date | None = None) -> dict[str, Any]:
    """Data for the value/effort chart: one point per scorable opportunity, split into quadrants at the medians.

    Value and effort come from the model's own inputs (see :func:`value_effort_point`); opportunities without both are
    listed under `unplaced`.
    """
    config = scoring_config(session)
    today = today or utcnow().date()
    allowed = _filter_ids(session, journey=journey, state=state, owner=owner, persona=persona)
    with _gc_paused():
        names, rows = _load_portfolio(session, config, today)
        _score_rows(session, config, names, rows)
    points, unplaced = [], []
    for row in sorted(rows, key=lambda r: r.number):
        if allowed is not None and row.id not in allowed:
            continue
        model = config.models[row.model]
        value, effort = value_effort_point(model, row.values(names))
        if model.kind in ("weighted", "formula"):
            value = row.value
        if value is None or effort is None:
            unplaced.append(f"OPP-{row.number}")
            continue
        points.append({"key": f"OPP-{row.number}", "title": row.title, "state": row.state, "model": row.model,
                       "value": round(value, 4), "effort": round(effort, 4),
                       "score": None if row.value is None else round(row.value, 4),
                       "evidence_strength": row.strength})
    value_mid = _median([p["value"] for p in points])
    effort_mid = _median([p["effort"] for p in points])
    for p in points:
        p["quadrant"] = QUADRANTS[(p["value"] >= value_mid, p["effort"] > effort_mid)]
    return {"points": points, "unplaced": unplaced, "value_median": value_mid, "effort_median": effort_mid,
            "axes": {"value": "value (the model's benefit inputs, or the score)",
                     "effort": "effort (the model's cost input)"},
            "quadrants": sorted(set(QUADRANTS.values()))}


def _median(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
