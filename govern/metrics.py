"""KPIs: scales and their normalisation to 0-100, trends, targets, and the evaluate verdict (improved / no_change / worse).

Scales (``Kpi.scale``), with their natural bounds; ``scale_min``/``scale_max`` on a KPI override them:

==========  ============  =====================================================================
scale       bounds        notes
==========  ============  =====================================================================
nps         -100 … 100    Net Promoter Score
csat5       1 … 5         CSAT on a five-point scale
csat_pct    0 … 100       CSAT as the share of satisfied answers
ces         1 … 7         Customer Effort Score (set the direction your question implies)
stars       1 … 5         star ratings
percent     0 … 100       conversion, error rate, …
count       0 … ∞         tickets, clicks to complete a task, … (see below)
currency    -∞ … ∞        revenue per customer, … (see below)
custom      min … max     needs scale_min and scale_max
==========  ============  =====================================================================

Normalising to 0-100 (100 is always best): on a bounded scale, ``100 × (value − min) ÷ (max − min)``, reversed when lower
is better, values outside the bounds clamped. Counts and currency have no natural bounds, so they need either
``scale_min``/``scale_max`` (then the same rule) or a ``target``; with only a target the reading is *progress to target*:
higher is better → ``100 × value ÷ target`` capped at 100 (0 or less reads 0); lower is better → 100 at or below the
target, falling linearly to 0 at twice the target. A count or currency KPI with neither is refused when defined.

Evaluate: the change from baseline to the latest measurement counts in the KPI's direction. It is ``no_change`` when its
size is within the tolerance — 2 % of the scale's span (NPS 4 points, CSAT 1-5 0.08, percent 2 points), or for an
unbounded KPI 2 % of the baseline's size (at least 0.01) — and otherwise ``improved`` or ``worse``. Whether the target is
met is reported beside the verdict.
"""

from __future__ import annotations

import datetime as dt
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
TOLERANCE_SHARE = 0.02
VERDICTS = ("improved", "no_change", "worse")


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
            errors["scale_min"] = "a custom scale needs scale_min and scale_max"
        elif lo is not None and hi is not None and lo >= hi:
            errors["scale_max"] = "must be greater than scale_min"
        elif self.scale in ("count", "currency") and not self.bounded and self.target is None:
            errors["target"] = (f"a {self.scale} KPI needs scale_min and scale_max, or a target "
                                "(it is then read as progress to target)")
        elif self.scale in ("count", "currency") and not self.bounded and self.target is not None and self.target <= 0:
            errors["target"] = "must be greater than 0 when it is the only reference for a count or currency KPI"
        if self.target is not None and self.bounded and not (lo <= self.target <= hi):
            errors["target"] = f"must lie within the scale ({_fmt(lo)}..{_fmt(hi)})"
        return errors

    def value_problem(self, value: Any) -> str | None:
        """Plain words for a measurement this KPI cannot hold, or None."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return "must be a number"
        lo, hi = self.bounds
        if lo is not None and value < lo:
            return f"must be at least {_fmt(lo)} on a {SCALE_LABELS.get(self.scale, self.scale)}"
        if hi is not None and value > hi:
            return f"must be at most {_fmt(hi)} on a {SCALE_LABELS.get(self.scale, self.scale)}"
        return None

    def normalise(self, value: float) -> float:
        """0-100, where 100 is always best (see the module docstring for the rule)."""
        lo, hi = self.bounds
        if lo is not None and hi is not None:
            share = (min(max(value, lo), hi) - lo) / (hi - lo)
            return 100.0 * (share if self.higher_is_better else 1.0 - share)
        if self.target is None or self.target <= 0:
            raise ScaleError(f"a {self.scale} KPI needs scale_min/scale_max or a target to be normalised")
        t = self.target
        if self.higher_is_better:
            return 100.0 * min(max(value / t, 0.0), 1.0)
        if value <= t:
            return 100.0
        return 100.0 * max(0.0, (2 * t - value) / t)

    def tolerance(self, baseline: float) -> float:
        lo, hi = self.bounds
        if lo is not None and hi is not None:
            return TOLERANCE_SHARE * (hi - lo)
        return max(TOLERANCE_SHARE * abs(baseline), 0.01)

    def target_met(self, value: float | None) -> bool | None:
        if self.target is None or value is None:
            return None
        return value >= self.target if self.higher_is_better else value <= self.target

    def describe(self) -> str:
        lo, hi = self.bounds
        bounds = f"{_fmt(lo)}..{_fmt(hi)}" if lo is not None or hi is not None else "unbounded"
        better = "higher is better" if self.higher_is_better else "lower is better"
        return f"{SCALE_LABELS.get(self.scale, self.scale)}, {bounds}, {better}"


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


# --- trend --------------------------------------------------------------------------------------------------------------


@dataclass
class Trend:
    """Where a KPI stands: latest vs previous, the slope per 30 days, and the target."""

    latest: float | None
    latest_at: dt.datetime | None
    previous: float | None
    change: float | None
    slope_per_30_days: float | None
    direction: str  # improving | worsening | flat | unknown
    normalised: float | None
    target: float | None
    target_met: bool | None
    points: int

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["latest_at"] = self.latest_at.isoformat() if self.latest_at else None
        return out


def slope_per_30_days(points: Sequence[tuple[dt.datetime, float]]) -> float | None:
    """Least-squares slope of value against time, per 30 days; None with fewer than two distinct times."""
    if len(points) < 2:
        return None
    t0 = points[0][0]
    xs = [(at - t0).total_seconds() / 86400.0 for at, _ in points]
    ys = [v for _, v in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    return 30.0 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx


def trend(scale: KpiScale, points: Sequence[tuple[dt.datetime, float]]) -> Trend:
    """The trend of a KPI from its measurements (any order)."""
    pts = sorted(points, key=lambda p: p[0])
    if not pts:
        return Trend(None, None, None, None, None, "unknown", None, scale.target, None, 0)
    latest_at, latest = pts[-1]
    previous = pts[-2][1] if len(pts) > 1 else None
    change = None if previous is None else latest - previous
    direction = "unknown"
    if previous is not None:
        gain = change if scale.higher_is_better else -change
        tol = scale.tolerance(previous)
        direction = "improving" if gain > tol else "worsening" if gain < -tol else "flat"
    try:
        normalised = round(scale.normalise(latest), 2)
    except ScaleError:
        normalised = None
    slope = slope_per_30_days(pts)
    return Trend(latest, latest_at, previous, change, None if slope is None else round(slope, 4), direction,
                 normalised, scale.target, scale.target_met(latest), len(pts))


# --- evaluate -----------------------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """The evaluate verdict for one KPI, with the numbers behind it."""

    verdict: str
    baseline: float
    value: float
    change: float
    change_pct: float | None
    tolerance: float
    target: float | None
    target_met: bool | None
    baseline_normalised: float | None
    value_normalised: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def sentence(self, kpi_name: str = "KPI") -> str:
        words = {"improved": "improved", "no_change": "did not change", "worse": "got worse"}[self.verdict]
        target = ""
        if self.target is not None:
            target = f"; target {_fmt(self.target)} {'met' if self.target_met else 'not met'}"
        return f"{kpi_name} {words}: {_fmt(self.baseline)} → {_fmt(self.value)} ({self.change:+.4g}){target}"


def evaluate(scale: KpiScale, baseline: float, value: float) -> Outcome:
    """Compare a later measurement with the baseline (and the target): improved, no_change or worse."""
    change = value - baseline
    gain = change if scale.higher_is_better else -change
    tol = scale.tolerance(baseline)
    verdict = "improved" if gain > tol else "worse" if gain < -tol else "no_change"
    try:
        before, after = round(scale.normalise(baseline), 2), round(scale.normalise(value), 2)
    except ScaleError:
        before = after = None
    pct = None if baseline == 0 else round(100.0 * change / abs(baseline), 2)
    return Outcome(verdict, baseline, value, round(change, 6), pct, round(tol, 6), scale.target,
                   scale.target_met(value), before, after)


def overall_verdict(verdicts: Sequence[str | None]) -> str | None:
    """One word for an opportunity: worse if any KPI got worse, improved if any improved (and none worse)."""
    known = [v for v in verdicts if v]
    if not known:
        return None
    if "worse" in known:
        return "worse"
    if "improved" in known:
        return "improved"
    return "no_change"
