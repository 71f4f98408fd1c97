"""Normalisation of every KPI scale to 0-100, trends, targets and the evaluate verdict."""

import datetime as dt

import pytest

from govern.kpis import KpiScale, ScaleError, evaluate, overall_verdict, trend, verdict_words


@pytest.mark.parametrize("scale, value, expected", [
    (KpiScale("nps"), -100, 0.0),
    (KpiScale("nps"), 0, 50.0),
    (KpiScale("nps"), 40, 70.0),
    (KpiScale("csat5"), 3.1, 52.5),
    (KpiScale("csat5"), 5, 100.0),
    (KpiScale("csat_pct"), 82, 82.0),
    (KpiScale("ces"), 4, 50.0),
    (KpiScale("ces", "lower"), 2.5, 75.0),
    (KpiScale("stars"), 4.5, 87.5),
    (KpiScale("percent"), 12.5, 12.5),
    (KpiScale("percent", "lower"), 12.5, 87.5),
    (KpiScale("count", "lower", scale_min=0, scale_max=1000), 420, 58.0),
    (KpiScale("count", "lower", target=200), 180, 100.0),
    (KpiScale("count", "lower", target=200), 300, 50.0),
    (KpiScale("count", "lower", target=200), 420, 0.0),
    (KpiScale("count", "higher", target=50), 20, 40.0),
    (KpiScale("count", "higher", target=50), 80, 100.0),
    (KpiScale("currency", "higher", target=120), 90, 75.0),
    (KpiScale("currency", "higher", scale_min=-50, scale_max=150), 100, 75.0),
    (KpiScale("custom", scale_min=0, scale_max=10), 7, 70.0),
    (KpiScale("custom", "lower", scale_min=0, scale_max=10), 7, 30.0),
    (KpiScale("nps"), 130, 100.0),  # clamped
])
def test_every_scale_normalises_to_0_100_with_100_best(scale, value, expected):
    assert scale.problems() == {}
    assert scale.normalise(value) == pytest.approx(expected)


def test_unbounded_scales_need_bounds_or_a_target():
    assert "target" in KpiScale("count").problems()
    assert "target" in KpiScale("currency", target=-5).problems()
    assert "scale_min" in KpiScale("custom", scale_min=1).problems()
    assert "scale" in KpiScale("likert").problems()
    assert KpiScale("csat5", target=6).problems() == {"target": "must lie within the scale (1..5)"}
    with pytest.raises(ScaleError):
        KpiScale("count").normalise(3)


def test_measurements_off_the_scale_are_refused():
    assert KpiScale("nps").value_problem(120) == "must be at most 100 on a NPS (-100..100)"
    assert KpiScale("csat5").value_problem(0) == "must be at least 1 on a CSAT (1-5)"
    assert KpiScale("count", target=3).value_problem(-1) is not None
    assert KpiScale("currency", target=3).value_problem(-1) is None
    assert KpiScale("stars").value_problem(float("nan")) == "must be a number"


def test_trend_latest_previous_slope_and_target():
    day = dt.datetime(2026, 1, 1)
    points = [(day + dt.timedelta(days=30 * i), v) for i, v in enumerate([3.0, 3.2, 3.4])]
    t = trend(KpiScale("csat5", target=3.5), list(reversed(points)))
    assert (t.latest, t.previous, t.change) == (3.4, 3.2, pytest.approx(0.2))
    assert t.slope_per_30_days == pytest.approx(0.2)
    assert t.direction == "improving" and t.target_met is False and t.points == 3
    assert t.normalised == pytest.approx(60.0)
    tickets = trend(KpiScale("count", "lower", target=200), [(day, 420), (day + dt.timedelta(days=30), 180)])
    assert tickets.direction == "improving" and tickets.target_met is True
    assert trend(KpiScale("nps"), []).direction == "unknown"


def test_evaluate_scenario_numbers():
    csat = evaluate(KpiScale("csat5", target=3.8), 3.1, 3.9)
    assert csat.verdict == "target_met" and csat.target_met is True
    assert csat.change == pytest.approx(0.8) and csat.change_pct == pytest.approx(25.81)
    tickets = evaluate(KpiScale("count", "lower", target=200), 420, 180)
    assert tickets.verdict == "target_met" and tickets.change == -240 and tickets.target_met is True
    assert "420 → 180" in tickets.sentence("porting tickets")


def test_an_improvement_that_misses_its_target_reads_short_of_target():
    """OPP-13 in the issue: CSAT 3.1 → 3.9 against target 4.0 is 'improved, target not met', not 'improved'."""
    csat = evaluate(KpiScale("csat5", target=4.0), 3.1, 3.9)
    assert (csat.verdict, csat.target_met) == ("short_of_target", False)
    assert csat.sentence("Porting CSAT") == "Porting CSAT improved, target not met: 3.1 → 3.9 (+0.8); target 4"
    assert verdict_words("short_of_target") == "improved, target not met"


def test_improved_is_only_for_a_kpi_without_a_target():
    assert evaluate(KpiScale("csat5"), 3.1, 3.9).verdict == "improved"
    assert evaluate(KpiScale("csat5", target=4.0), 3.1, 3.9).verdict != "improved"


def test_a_held_target_is_met_and_a_regression_is_worse_even_above_the_target():
    nps = KpiScale("nps", target=30)
    assert evaluate(nps, 60, 61).verdict == "target_met"  # no change, still at target
    assert evaluate(nps, 60, 40).verdict == "worse"  # still above 30, but it got worse
    assert evaluate(nps, 10, 10.3).verdict == "no_change"  # within tolerance (0.5) and short of the target


def test_evaluate_tolerance_and_worse():
    nps = KpiScale("nps")
    assert evaluate(nps, 60, 63).verdict == "no_change"  # tolerance min(2 % of 200, 5 % of 60) = 3
    assert evaluate(nps, 60, 64).verdict == "improved"
    assert evaluate(nps, 20, 19).verdict == "no_change"  # min(4, 1) = 1
    assert evaluate(nps, 20, 18.5).verdict == "worse"
    assert evaluate(nps, 0, 0.1).verdict == "no_change"  # never below 0.1 % of the span (0.2)
    churn = KpiScale("percent", "lower", target=1.2)
    assert evaluate(churn, 1.6, 1.5).verdict == "short_of_target"  # min(2, 0.08) = 0.08
    assert evaluate(churn, 1.6, 1.55).verdict == "no_change"
    assert evaluate(KpiScale("percent", "lower"), 5, 9).verdict == "worse"
    assert evaluate(KpiScale("count", "lower", target=100), 500, 480).verdict == "no_change"  # 5 % of 500 = 25
    assert evaluate(KpiScale("count", "lower", target=100), 500, 470).verdict == "short_of_target"


def test_overall_verdict():
    assert overall_verdict(["improved", "no_change"]) == "improved"
    assert overall_verdict(["improved", "worse"]) == "worse"
    assert overall_verdict(["no_change", None]) == "no_change"
    assert overall_verdict([None]) is None


def test_overall_verdict_honours_the_targets():
    assert overall_verdict(["target_met", "target_met"]) == "target_met"
    assert overall_verdict(["target_met", "improved"]) == "target_met"  # the KPI without a target improved
    assert overall_verdict(["short_of_target", "target_met"]) == "short_of_target"  # OPP-13
    assert overall_verdict(["target_met", "no_change"]) == "short_of_target"
    assert overall_verdict(["target_met", "worse"]) == "worse"
    assert overall_verdict(["improved", "improved"]) == "improved"
    assert overall_verdict(["improved", "no_change"], any_target=True) == "short_of_target"
    assert overall_verdict(["target_met", None]) == "short_of_target"  # one KPI not evaluated


def test_apply_refuses_kpis_that_cannot_be_normalised():
    from govern.kpis import validate_kpi_definitions
    errors = validate_kpi_definitions([
        {"key": "ok", "scale": "csat5", "target": 4.2},
        {"key": "tickets", "scale": "count", "direction": "lower"},
        {"key": "stars", "scale": "stars", "target": 6},
        {"key": "rev", "scale": "currency", "min": 10, "max": 5},
    ])
    assert errors == {
        "kpis[1].target": "a count KPI needs min and max, or a target (it is then read as progress to target)",
        "kpis[2].target": "must lie within the scale (1..5)",
        "kpis[3].max": "must be greater than min",
    }
