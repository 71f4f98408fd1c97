"""Every guard, with its passing and failing answer in plain words."""

import pytest

from govern.workflows import guards
from govern.workflows.guards import OpportunityFacts


def run(name, facts, **params):
    resolved, problems = guards.validate_params(name, params)
    assert not problems
    return guards.evaluate(name, resolved, facts)


def test_has_evidence_counts_pieces_of_evidence():
    refused = run("has_evidence", OpportunityFacts(evidence_count=1), min=2)
    assert not refused.ok
    assert refused.message == "needs 2 pieces of evidence, has 1"
    assert run("has_evidence", OpportunityFacts(evidence_count=2), min=2).ok


def test_has_evidence_defaults_to_one_piece():
    assert not run("has_evidence", OpportunityFacts()).ok
    assert run("has_evidence", OpportunityFacts(evidence_count=1)).ok


def test_evidence_across_journeys_counts_distinct_journeys_of_linked_steps():
    refused = run("evidence_across_journeys", OpportunityFacts(evidence_journey_count=1), min=2)
    assert refused.message == "needs evidence from 2 journeys, has evidence from 1"
    assert run("evidence_across_journeys", OpportunityFacts(evidence_journey_count=2), min=2).ok


def test_evidence_across_journeys_mentions_evidence_linked_to_no_step():
    facts = OpportunityFacts(evidence_count=3, evidence_journey_count=1, unlinked_evidence_count=2)
    refused = run("evidence_across_journeys", facts, min=2)
    assert "2 insights are not linked to any step" in refused.message


def test_evidence_from_sources():
    assert run("evidence_from_sources", OpportunityFacts(evidence_source_count=1), min=2).message == (
        "needs evidence from 2 distinct sources, has 1")
    assert run("evidence_from_sources", OpportunityFacts(evidence_source_count=2), min=2).ok


def test_has_owner():
    assert run("has_owner", OpportunityFacts()).message == "needs an owner"
    assert run("has_owner", OpportunityFacts(owner_id=7)).ok


def test_has_score_names_the_missing_inputs():
    refused = run("has_score", OpportunityFacts(missing_score_inputs=("reach", "effort")))
    assert refused.message == "needs a score: missing scoring inputs reach, effort"
    assert run("has_score", OpportunityFacts()).ok


def test_has_solution():
    assert run("has_solution", OpportunityFacts()).message == "needs 1 solution, has 0"
    assert run("has_solution", OpportunityFacts(solution_count=1), min=2).message == "needs 2 solutions, has 1"
    assert run("has_solution", OpportunityFacts(solution_count=2)).ok


def test_solutions_delivered_needs_every_backlog_item_done():
    assert run("solutions_delivered", OpportunityFacts(solution_count=3, solutions_done=2)).message == (
        "needs every solution delivered, 2 of 3 done")
    assert not run("solutions_delivered", OpportunityFacts()).ok
    assert run("solutions_delivered", OpportunityFacts(solution_count=2, solutions_done=2)).ok


def test_has_kpi():
    assert run("has_kpi", OpportunityFacts()).message == "needs to target 1 KPI, targets 0"
    assert run("has_kpi", OpportunityFacts(targeted_kpi_count=1)).ok


def test_kpi_baseline_recorded():
    assert not run("kpi_baseline_recorded", OpportunityFacts()).ok
    assert run("kpi_baseline_recorded", OpportunityFacts(targeted_kpi_count=2, baselines_recorded=1)).message == (
        "needs a baseline for every targeted KPI, 1 of 2 recorded")
    assert run("kpi_baseline_recorded", OpportunityFacts(targeted_kpi_count=2, baselines_recorded=2)).ok


def test_outcome_recorded():
    assert run("outcome_recorded", OpportunityFacts(targeted_kpi_count=2, outcomes_recorded=1)).message == (
        "needs an outcome for every targeted KPI, 1 of 2 evaluated")
    assert run("outcome_recorded", OpportunityFacts(targeted_kpi_count=2, outcomes_recorded=2)).ok


def test_targets_met_asks_for_the_targets_where_outcome_met_asks_for_improvement():
    # OPP-13: both KPIs improved, neither reached its target.
    short = OpportunityFacts(targeted_kpi_count=2, outcomes_recorded=2, outcomes_improved=2, outcomes_met=0)
    assert run("outcome_met", short).ok and not run("outcome_missed", short).ok
    assert not run("targets_met", short).ok and run("targets_missed", short).ok
    assert run("targets_met", short).message == (
        "needs every targeted KPI to meet its target (or, without a target, to improve), 2 KPIs did not")
    met = OpportunityFacts(targeted_kpi_count=2, outcomes_recorded=2, outcomes_improved=2, outcomes_met=2)
    assert run("targets_met", met).ok and not run("targets_missed", met).ok
    assert run("targets_missed", met).message == "only when a target was missed: every targeted KPI met its target"
    unrecorded = OpportunityFacts(targeted_kpi_count=1)
    assert not run("targets_met", unrecorded).ok and not run("targets_missed", unrecorded).ok


def test_outcome_missed_and_met_are_opposites_once_recorded():
    missed = OpportunityFacts(targeted_kpi_count=2, outcomes_recorded=2, outcomes_improved=1)
    improved = OpportunityFacts(targeted_kpi_count=2, outcomes_recorded=2, outcomes_improved=2)
    assert run("outcome_missed", missed).ok and not run("outcome_met", missed).ok
    assert run("outcome_met", improved).ok and not run("outcome_missed", improved).ok
    assert run("outcome_missed", improved).message == "only when the outcome missed: every targeted KPI improved"
    unrecorded = OpportunityFacts(targeted_kpi_count=1)
    assert not run("outcome_missed", unrecorded).ok and not run("outcome_met", unrecorded).ok


@pytest.mark.parametrize("params, problem_key", [
    ({"min": 0}, "min"), ({"min": "two"}, "min"), ({"min": True}, "min"), ({"max": 3}, "max"),
])
def test_bad_guard_parameters_are_named(params, problem_key):
    _, problems = guards.validate_params("has_evidence", params)
    assert problem_key in problems


def test_guards_without_parameters_refuse_any():
    _, problems = guards.validate_params("has_owner", {"min": 1})
    assert problems == {"min": "unknown parameter for has_owner (allowed: none)"}


def test_guard_labels_for_diagrams():
    assert guards.GUARDS["has_evidence"].label({"min": 2}) == "has_evidence ≥ 2"
    assert guards.GUARDS["has_owner"].label({}) == "has_owner"
