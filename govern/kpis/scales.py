"""KPI scales: their bounds, normalisation to 0-100 and the checks on a KPI's definition (see govern.kpis)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence



SCALE_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "nps": (-100.0, 100.0),
    "csat5": (1.0, 5.0),
    "csat_pct": (0.0, 100.0),
    "ces": (1.0, 7.0),
    "stars": (1.0, 5.0),
    "percent": (0.0, 100.0),
    "count": (0.0, None),
    "currency": (None, None),
    "custom": (None, None),
}
SCALE_LABELS = {
    "nps": "NPS (-100..100)", "csat5": "CSAT (1-5)", "csat_pct": "CSAT (%)", "ces": "CES (1-7)",
    "stars": "star rating (1-5)", "percent": "percentage (0-100)", "count": "count", "currency": "currency",
    "custom": "custom scale",
}
DIRECTIONS = ("higher", "lower")
TOLERANCE_SHARE = 0.02  # of the scale's span
RELATIVE_TOLERANCE = 0.05  # of the baseline's size


class ScaleError(ValueError):
    pass


@dataclass(frozen=True)
class KpiScale:
    """A KPI's scale as the arithmetic needs it; build it from a Kpi row with :meth:`of`."""

    scale: str
    direction: str = "higher"
    scale_min: float | None = None
    scale_max: float | None = None
    target: float | None = None

    @classmethod
    def of(cls, kpi: Any) -> "KpiScale":
        return cls(kpi.scale, kpi.direction or "higher", kpi.scale_min, kpi.scale_max, kpi.target)

    @property
    def bounds(self) -> tuple[float | None, float | None]:
        lo, hi = SCALE_BOUNDS.get(self.scale, (None, None))
        return (self.scale_min if self.scale_min is not None else lo,
                self.scale_max if self.scale_max is not None else hi)

    @property
    def bounded(self) -> bool:
        lo, hi = self.bounds
        return lo is not None and hi is not None

    @property
    def higher_is_better(self) -> bool:
        return self.direction != "lower"

    def problems(self) -> dict[str, str]:
        """What is wrong with this definition, keyed by field (empty when usable)."""
        errors: dict[str, str] = {}
        if self.scale not in SCALE_BOUNDS:
            errors["scale"] = f"unknown scale '{self.scale}' (expected {', '.join(SCALE_BOUNDS)})"
            return errors
        if self.direction not in DIRECTIONS:
            errors["direction"] = "must be 'higher' or 'lower'"
        lo, hi = self.bounds
        if self.scale == "custom" and (self.scale_min is None or self.scale_max is None):
            errors["scale_min"] = "a custom scale needs min and max"
        elif lo is not None and hi is not None and lo >= hi:
            errors["scale_max"] = "must be greater than min"
        elif self.scale in ("count", "currency") and not self.bounded and self.target is None:
            errors["target"] = (f"a {self.scale} KPI needs min and max, or a target "
                                "(it is then read as progress to target)")
        elif self.scale in ("count", "currency") and not self.bounded and self.target is not None and self.target <= 0:
            errors["target"] = "must be greater than 0 when it is the only reference for a count or currency KPI"
        if self.target is not None and self.bounded and not (lo <= self.target <= hi):
            errors["target"] = f"must lie within the scale ({format_value(lo)}..{format_value(hi)})"
        return errors

    def value_problem(self, value: Any) -> str | None:
        """Plain words for a measurement this KPI cannot hold, or None."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return "must be a number"
        lo, hi = self.bounds
        if lo is not None and value < lo:
            return f"must be at least {format_value(lo)} on a {SCALE_LABELS.get(self.scale, self.scale)}"
        if hi is not None and value > hi:
            return f"must be at most {format_value(hi)} on a {SCALE_LABELS.get(self.scale, self.scale)}"
        return None

    def normalise(self, value: float) -> float:
        """0-100, where 100 is always best (see the module docstring for the rule)."""
        lo, hi = self.bounds
        if lo is not None and hi is not None:
            share = (min(max(value, lo), hi) - lo) / (hi - lo)
            return 100.0 * (share if self.higher_is_better else 1.0 - share)
        if self.target is None or self.target <= 0:
            raise ScaleError(f"a {self.scale} KPI needs min and max or a target to be normalised")
        t = self.target
        if self.higher_is_better:
            return 100.0 * min(max(value / t, 0.0), 1.0)
        if value <= t:
            return 100.0
        return 100.0 * max(0.0, (2 * t - value) / t)

    def tolerance(self, baseline: float) -> float:
        """How far a value may move from `baseline` and still read as no change (see the module docstring)."""
        relative = RELATIVE_TOLERANCE * abs(baseline)
        lo, hi = self.bounds
        if lo is not None and hi is not None:
            span = hi - lo
            return max(min(TOLERANCE_SHARE * span, relative), 0.001 * span)
        return max(relative, 0.01)

    def target_met(self, value: float | None) -> bool | None:
        if self.target is None or value is None:
            return None
        return value >= self.target if self.higher_is_better else value <= self.target

    def describe(self) -> str:
        lo, hi = self.bounds
        bounds = f"{format_value(lo)}..{format_value(hi)}" if lo is not None or hi is not None else "unbounded"
        better = "higher is better" if self.higher_is_better else "lower is better"
        return f"{SCALE_LABELS.get(self.scale, self.scale)}, {bounds}, {better}"


def format_value(value: float | None) -> str:
    if value is None:
        return "–"
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def validate_kpi_definitions(kpis: Sequence[Any]) -> dict[str, str]:
    """For `govern apply`: each `kpis[i]` whose scale cannot be normalised or whose target lies off its scale."""
    errors: dict[str, str] = {}
    names = {"scale_min": "min", "scale_max": "max"}
    for i, kpi in enumerate(kpis or []):
        if not isinstance(kpi, dict):
            continue
        scale = KpiScale(kpi.get("scale", ""), kpi.get("direction") or "higher", kpi.get("min"), kpi.get("max"),
                         kpi.get("target"))
        for field, message in scale.problems().items():
            errors[f"kpis[{i}].{names.get(field, field)}"] = message
    return errors
