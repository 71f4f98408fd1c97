"""Each scoring model against hand-computed numbers, and the validation `govern apply` relies on."""

import datetime as dt

import pytest

from govern.errors import InvalidInput
from govern.scoring import (
    EvidenceSignals, Formula, FormulaError, evidence_strength, load_scoring_config, rank_scores, validate_journey_models,
    validate_scoring_config,
)

TODAY = dt.date(2026, 11, 23)


def model(section, name=None):
    return load_scoring_config(section).model(name)


def test_rice_is_reach_times_impact_times_confidence_over_effort():
    rice = model(None)
    score = rice.score_one({"reach": 2000, "impact": 2, "confidence": 80, "effort": 4})
    # 2000 × 2 × 0.8 ÷ 4 = 800
    assert score.value == pytest.approx(800.0)
    assert "reach 2000 × impact 2 × confidence 80% ÷ effort 4 = 800" in score.explanation


def test_rice_with_evidence_weight_rises_with_evidence_strength():
    rice = model({"default": "rice", "models": {"rice": {"kind": "rice", "evidence_weight": 0.5}}})
    score = rice.score_one({"reach": 500, "impact": 1, "confidence": 50, "effort": 1, "evidence_strength": 60})
    # 500 × 1 × 0.5 ÷ 1 = 250; × (1 + 0.5 × 0.6) = 325
    assert score.value == pytest.approx(325.0)
    assert rice.recorded_inputs == ["reach", "impact", "confidence", "effort"]


def test_rice_refuses_values_off_its_scales():
    rice = model(None)
    assert rice.check_input("impact", 1.5) == "must be one of 3, 2, 1, 0.5, 0.25"
    assert rice.check_input("confidence", 70) == "must be one of 100, 80, 50"
    assert rice.check_input("effort", 0) == "must be greater than 0"
    assert rice.check_input("reach", -1) == "must be at least 0"
    assert rice.check_input("evidence_strength", 50) == "is computed from the evidence and cannot be recorded"
    assert rice.check_input("impact", 0.25) is None


def test_ice_multiplies_and_can_average():
    ice = model(None, "ice")
    assert ice.score_one({"impact": 8, "confidence": 5, "ease": 3}).value == pytest.approx(120.0)
    mean = model({"models": {"ice": {"combine": "mean"}}}, "ice")
    assert mean.score_one({"impact": 8, "confidence": 5, "ease": 3}).value == pytest.approx(16 / 3)
    assert ice.check_input("ease", 11) == "must be at most 10"


def test_wsjf_is_cost_of_delay_over_job_size():
    wsjf = model(None, "wsjf")
    score = wsjf.score_one({"business_value": 8, "time_criticality": 5, "risk_reduction": 3, "job_size": 2})
    assert score.value == pytest.approx(8.0)  # (8 + 5 + 3) ÷ 2
    assert wsjf.check_input("job_size", 4) == "must be one of 1, 2, 3, 5, 8, 13, 20"


def test_weighted_criteria_normalise_across_the_portfolio_and_a_negative_weight_lowers():
    section = {"default": "council", "models": {
        "council": {"kind": "weighted", "criteria": {"reach": 2, "evidence_strength": 1, "effort": -1}}}}
    weighted = model(section)
    rows = {
        "a": {"reach": 100, "evidence_strength": 80, "effort": 1},
        "b": {"reach": 300, "evidence_strength": 20, "effort": 5},
        "c": {"reach": 200, "evidence_strength": 50, "effort": 3},
    }
    scores = weighted.score_many(rows)
    # reach → a 0, b 100, c 50; evidence → a 100, b 0, c 50; effort → a 0, b 100, c 50
    # sums: a 2·0 + 100 − 0 = 100; b 200 + 0 − 100 = 100; c 100 + 50 − 50 = 100; range [-100, 300]
    for key in rows:
        assert scores[key].value == pytest.approx(50.0)
    rows["b"]["effort"] = 1  # now b is as cheap as a: effort → a 0, b 0, c 100
    scores = weighted.score_many(rows)
    assert scores["b"].value == pytest.approx(100 * (200 + 100) / 400)  # 75
    assert scores["c"].value == pytest.approx(100 * (100 + 50 - 100 + 100) / 400)  # 37.5
    assert scores["b"].terms[2] == {"input": "effort", "value": 1, "normalised": 0.0, "weight": -1.0,
                                    "contribution": -0.0}


def test_weighted_single_row_reads_each_criterion_as_midpoint():
    weighted = model({"default": "w", "models": {"w": {"kind": "weighted", "criteria": {"reach": 1}}}})
    assert weighted.score_one({"reach": 7}).value == pytest.approx(50.0)


def test_custom_formula_over_named_inputs():
    section = {"default": "f", "inputs": {"strategic_fit": {"min": 0, "max": 10}},
               "models": {"f": {"kind": "formula", "formula": "reach * impact / effort + 2 * strategic_fit"}}}
    f = model(section)
    assert f.score_one({"reach": 100, "impact": 3, "effort": 2, "strategic_fit": 4}).value == pytest.approx(158.0)
    assert f.check_input("strategic_fit", 11) == "must be at most 10"
    broken = f.score_one({"reach": 100, "impact": 3, "effort": 0, "strategic_fit": 4})
    assert broken.value is None and broken.error == "division by zero"


def test_missing_inputs_are_named_and_leave_no_score():
    score = model(None).score_one({"reach": 10, "impact": 1})
    assert score.value is None
    assert score.missing == ["confidence", "effort"]


@pytest.mark.parametrize("formula, message", [
    ("reech * impact", "unknown input 'reech'"),
    ("reach *", "invalid formula:"),
    ("__import__('os').system('x')", "invalid formula: unknown function '__import__('os').system'"),
    ("reach.real", "invalid formula: Attribute is not allowed"),
    ("'a' * 3", "invalid formula: only numbers may appear as constants"),
    ("[reach][0]", "invalid formula:"),
    ("max()", "invalid formula:"),
])
def test_bad_formulas_are_rejected_with_their_place(formula, message):
    errors = validate_scoring_config({"default": "custom", "models": {"custom": {"kind": "formula",
                                                                                 "formula": formula}}})
    assert errors["scoring.models.custom.formula"].startswith(message)


def test_config_errors_name_their_place():
    errors = validate_scoring_config({
        "default": "rise",
        "models": {"w": {"kind": "weighted", "criteria": {"reech": 1, "effort": "x"}},
                   "z": {"kind": "magic"}, "r": {"kind": "rice", "evidence_weight": -1, "colour": "red"}},
    })
    assert errors["scoring.default"].startswith("unknown model 'rise'")
    assert errors["scoring.models.w.criteria.reech"] == "unknown input 'reech'"
    assert errors["scoring.models.w.criteria.effort"] == "weight must be a number"
    assert errors["scoring.models.z.kind"].startswith("unknown kind 'magic'")
    assert errors["scoring.models.r.evidence_weight"] == "must be a number ≥ 0"
    assert "scoring.models.r.colour" in errors
    with pytest.raises(InvalidInput) as exc:
        load_scoring_config({"default": "rise"})
    assert "scoring.default" in exc.value.details


def test_valid_config_has_no_errors_and_builtins_are_always_there():
    assert validate_scoring_config(None) == {}
    assert validate_scoring_config({"default": "wsjf"}) == {}
    config = load_scoring_config({"default": "ice"})
    assert set(config.models) >= {"rice", "ice", "wsjf"}
    assert validate_journey_models({"default": "rice"}, [("journeys[2].scoring_model", "kano")]) == {
        "journeys[2].scoring_model": "unknown scoring model 'kano'"}


def test_formula_never_reaches_python_eval():
    with pytest.raises(FormulaError):
        Formula.parse("(lambda: 1)()")
    with pytest.raises(FormulaError):
        Formula.parse("x if y else z for x in y")


def test_evidence_strength_rule():
    # 3 insights, 2 journeys, 2 sources, newest 30 days old:
    # 35·3/8 + 30·2/3 + 15·2/4 + 20·1 = 13.125 + 20 + 7.5 + 20 = 60.6 (rounded to one decimal)
    signals = EvidenceSignals(insights=3, journeys=2, sources=2, newest=TODAY - dt.timedelta(days=30))
    assert evidence_strength(signals, TODAY) == pytest.approx(60.6)
    # saturated counts, evidence exactly 197.5 days old → freshness (365 − 197.5)/335 = 0.5
    old = EvidenceSignals(insights=20, journeys=5, sources=9, newest=TODAY - dt.timedelta(days=197))
    assert evidence_strength(old, TODAY) == pytest.approx(round(35 + 30 + 15 + 20 * (365 - 197) / 335, 1))
    assert evidence_strength(EvidenceSignals(), TODAY) == 0.0
    stale = EvidenceSignals(insights=1, journeys=1, sources=1, newest=TODAY - dt.timedelta(days=400))
    assert evidence_strength(stale, TODAY) == pytest.approx(round(35 / 8 + 10 + 15 / 4, 1))


def test_ranking_is_deterministic_and_puts_unscorable_rows_last():
    rice = model(None)
    rows = {
        7: {"reach": 100, "impact": 1, "confidence": 100, "effort": 1},   # 100
        3: {"reach": 50, "impact": 2, "confidence": 100, "effort": 1},    # 100 (tie)
        9: {"reach": 1000, "impact": 1, "confidence": 50, "effort": 1},   # 500
        4: {"reach": 1},                                                 # missing
    }
    ranked = rank_scores(rice.score_many(rows), tie_break={7: (-10.0, 7), 3: (-40.0, 3)})
    assert [r.key for r in ranked] == [9, 3, 7, 4]
    assert [r.rank for r in ranked] == [1, 2, 3, None]
    assert ranked[0].relative == 100.0 and ranked[1].relative == 0.0
    # without tie-breaks the key decides
    assert [r.key for r in rank_scores(rice.score_many(rows))][:3] == [9, 3, 7]


def test_fast_evidence_strength_matches_the_rule():
    from govern.scoring import evidence_strength_of
    for n, j, src, age in [(3, 2, 2, 30), (20, 5, 9, 197), (1, 1, 1, 400), (0, 0, 0, None), (5, 0, 3, 100)]:
        signals = EvidenceSignals(n, j, src, None if age is None else TODAY - dt.timedelta(days=age))
        assert evidence_strength_of(n, j, src, age) == evidence_strength(signals, TODAY)


def test_fast_path_matches_the_explained_score():
    config = load_scoring_config({"models": {"rice": {"evidence_weight": 0.5}, "ice": {"combine": "mean"},
                                             "wsjf": {"evidence_weight": 1}}})
    names = ["reach", "impact", "confidence", "effort", "ease", "business_value", "time_criticality",
             "risk_reduction", "job_size"]
    values = {"reach": 300, "impact": 2, "confidence": 80, "effort": 3, "ease": 4, "business_value": 5,
              "time_criticality": 3, "risk_reduction": 8, "job_size": 13, "evidence_strength": 42.5}
    recorded = tuple(values[n] for n in names)
    for name in ("rice", "ice", "wsjf"):
        m = config.model(name)
        assert m.fast(names)(recorded, 42.5) == pytest.approx(m.score_one(values).value)
    without_effort = recorded[:3] + (None,) + recorded[4:]
    assert config.model("rice").fast(names)(without_effort, 42.5) is None
