"""Trends and the evaluate verdict of a KPI against its baseline and its target.

One KPI's verdict (`VERDICTS`, words in `VERDICT_WORDS`):

- ``target_met``: the KPI has a target, the measurement meets it and did not get worse than the baseline (a KPI that
  already met its target and held it counts);
- ``short_of_target``: the KPI has a target, it improved beyond the tolerance, but the measurement misses the target
  ("improved, target not met");
- ``improved``: only for a KPI without a target, improved beyond the tolerance;
- ``no_change``: within the tolerance of the baseline (and, with a target, not meeting it);
- ``worse``: moved the wrong way beyond the tolerance (whether or not it still meets its target).

``target_met`` (the boolean) stays beside the verdict. An opportunity's overall verdict (:func:`overall_verdict`):
``worse`` if any KPI got worse; otherwise ``target_met`` when every KPI met its target (a KPI without a target must
have improved) and at least one had a target; ``improved`` when every KPI improved and none has a target; otherwise
``short_of_target`` when at least one KPI improved or met its target but not all did what was asked;
otherwise ``no_change``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Sequence


from govern.kpis.scales import KpiScale, ScaleError, format_value

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
        target = ""
        if self.target is not None:
            target = f"; target {format_value(self.target)}"
        return (f"{kpi_name} {verdict_words(self.verdict)}: {format_value(self.baseline)} → "
                f"{format_value(self.value)} ({self.change:+.4g}){target}")


VERDICTS = ("target_met", "short_of_target", "improved", "no_change", "worse")
# The verdicts that count as "improved" for `outcome_met` (a held target counts) and as "did what was asked" for
# `targets_met` (a targeted KPI met its target, a KPI without one improved).
IMPROVED_VERDICTS = ("target_met", "short_of_target", "improved")
MET_VERDICTS = ("target_met", "improved")
VERDICT_WORDS = {
    "target_met": "target met",
    "short_of_target": "improved, target not met",
    "improved": "improved",
    "no_change": "no change",
    "worse": "worse",
}
VERDICT_MARKS = {"target_met": "✔", "short_of_target": "▲", "improved": "▲", "no_change": "■", "worse": "▼"}


def outcome_text(name: str, verdict: str | None, baseline: float | None, value: float | None,
                 target: float | None, unit: str | None = None) -> str:
    """One KPI's recorded outcome in a line: "Porting CSAT: 3.1 → 3.9, improved, target not met (target 4)"."""
    if verdict is None or value is None:
        return f"{name}: {verdict_words(None)}"
    unit_text = f" {unit}" if unit else ""
    text = f"{name}: {format_value(baseline)} → {format_value(value)}{unit_text}, {verdict_words(verdict)}"
    if target is not None:
        text += f" (target {format_value(target)}{unit_text})"
    return text


def verdict_words(verdict: str | None) -> str:
    """A verdict in plain words ("improved, target not met"); no verdict reads "not evaluated yet"."""
    if verdict is None:
        return "not evaluated yet"
    return VERDICT_WORDS.get(verdict, verdict.replace("_", " "))


def evaluate(scale: KpiScale, baseline: float, value: float) -> Outcome:
    """Compare a later measurement with the baseline and the target (the verdicts in the module docstring)."""
    change = value - baseline
    gain = change if scale.higher_is_better else -change
    tol = scale.tolerance(baseline)
    moved = "improved" if gain > tol else "worse" if gain < -tol else "no_change"
    met = scale.target_met(value)
    verdict = moved
    if met is not None and moved != "worse":
        verdict = "target_met" if met else "short_of_target" if moved == "improved" else "no_change"
    try:
        before, after = round(scale.normalise(baseline), 2), round(scale.normalise(value), 2)
    except ScaleError:
        before = after = None
    pct = None if baseline == 0 else round(100.0 * change / abs(baseline), 2)
    return Outcome(verdict, baseline, value, round(change, 6), pct, round(tol, 6), scale.target,
                   scale.target_met(value), before, after)


def overall_verdict(verdicts: Sequence[str | None], *, any_target: bool | None = None) -> str | None:
    """One word for an opportunity (the rule in the module docstring). `any_target` says whether any of its KPIs has
    a target; left out, it is read from the verdicts (a no_change says nothing about a target)."""
    known = [v for v in verdicts if v]
    if not known:
        return None
    if "worse" in known:
        return "worse"
    if any_target is None:
        any_target = any(v in ("target_met", "short_of_target") for v in known)
    if all(v in MET_VERDICTS for v in known) and len(known) == len([v for v in verdicts]):
        return "target_met" if any_target else "improved"
    if any(v in IMPROVED_VERDICTS for v in known):
        return "short_of_target" if any_target else "improved"
    return "no_change"
