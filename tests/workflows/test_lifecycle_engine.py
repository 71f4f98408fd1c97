"""The shared machine: checks list every unmet guard, fire goes through the machine, the loops and the triple diamond."""

import tracemalloc

import pytest

from govern.errors import Conflict, GuardsUnmet, InvalidInput
from govern.workflows.engine import get_lifecycle, lifecycle_for
from govern.workflows.definition import load_definition
from govern.workflows.guards import OpportunityFacts

READY_FOR_PRIORITY = OpportunityFacts(evidence_count=3, evidence_journey_count=2, evidence_source_count=2)
READY_FOR_IMPLEMENT = OpportunityFacts(owner_id=1, solution_count=2, targeted_kpi_count=2)
DELIVERED = OpportunityFacts(owner_id=1, solution_count=2, solutions_done=2, targeted_kpi_count=2,
                             baselines_recorded=2)
MISSED = OpportunityFacts(targeted_kpi_count=2, baselines_recorded=2, outcomes_recorded=2, outcomes_improved=1,
                          outcomes_met=1)
# Both improved, neither reached its target (OPP-13: CSAT 3.9 against 4.0, ...): short of target.
IMPROVED = OpportunityFacts(targeted_kpi_count=2, baselines_recorded=2, outcomes_recorded=2, outcomes_improved=2)
TARGETS_MET = OpportunityFacts(targeted_kpi_count=2, baselines_recorded=2, outcomes_recorded=2, outcomes_improved=2,
                               outcomes_met=2)


@pytest.fixture(scope="module")
def default():
    return get_lifecycle("default")


def test_one_machine_per_definition_is_shared(default):
    assert get_lifecycle("default") is default
    assert lifecycle_for(load_definition("default")).machine is default.machine
    assert default.machine.models == []  # opportunities are never added as models
    assert not hasattr(default.machine, "to_research")  # auto_transitions=False


def test_check_lists_every_unmet_guard_not_just_the_first(default):
    check = default.check("research", "prioritise", OpportunityFacts(evidence_count=1, evidence_journey_count=1))
    assert not check.ok
    assert check.unmet == ["needs 2 pieces of evidence, has 1", "needs evidence from 2 journeys, has evidence from 1"]
    assert check.dest == "prioritise"
    assert check.approval == {"role": "lead"}


def test_fire_refuses_with_every_unmet_guard(default):
    with pytest.raises(GuardsUnmet) as caught:
        default.fire("prioritise", "implement", OpportunityFacts())
    assert caught.value.details["unmet"] == ["needs an owner", "needs 1 solution, has 0"]
    assert caught.value.message == "cannot implement (prioritise → implement): needs an owner; needs 1 solution, has 0"


def test_fire_goes_through_the_machine_and_returns_the_new_state(default):
    assert default.fire("research", "prioritise", READY_FOR_PRIORITY) == "prioritise"
    assert default.fire("prioritise", "implement", READY_FOR_IMPLEMENT) == "implement"
    assert default.fire("implement", "evaluate", DELIVERED) == "evaluate"
    assert default.fire("evaluate", "finish", IMPROVED) == "done"


def test_a_transition_can_be_named_by_its_destination(default):
    assert default.resolve("research", "parked").trigger == "park"
    assert default.fire("implement", "parked", OpportunityFacts()) == "parked"


def test_evaluate_loops_back_to_research_only_when_a_target_was_missed(default):
    assert default.fire("evaluate", "research_again", MISSED) == "research"
    # Improved but short of the targets: research again is allowed (it was refused as "every targeted KPI improved").
    assert default.fire("evaluate", "research_again", IMPROVED) == "research"
    with pytest.raises(GuardsUnmet, match="every targeted KPI met its target"):
        default.fire("evaluate", "research", TARGETS_MET)


def test_parked_goes_back_to_research(default):
    assert default.fire("parked", "resume", OpportunityFacts()) == "research"


def test_park_and_reject_need_a_reason_and_reject_needs_the_lead(default):
    for state in ("research", "prioritise", "implement", "evaluate"):
        park = default.check(state, "park", OpportunityFacts())
        reject = default.check(state, "reject", OpportunityFacts())
        assert park.requires_reason and park.dest == "parked"
        assert reject.requires_reason and reject.approval == {"role": "lead"}


def test_entering_implement_has_its_effects(default):
    check = default.check("prioritise", "implement", READY_FOR_IMPLEMENT)
    assert [e.name for e in check.effects] == ["record_kpi_baseline", "create_backlog_items", "notify"]
    assert check.approval == {"owners": "all"}
    evaluate = default.check("implement", "evaluate", DELIVERED)
    assert evaluate.auto and evaluate.ok
    assert [t.trigger for t in default.auto_triggers("implement")] == ["evaluate"]


def test_available_lists_every_transition_with_its_unmet_guards(default):
    checks = {c.trigger: c for c in default.available("research", OpportunityFacts(evidence_count=2))}
    assert set(checks) == {"prioritise", "park", "reject"}
    assert checks["prioritise"].unmet == ["needs evidence from 2 journeys, has evidence from 0"]
    assert checks["park"].ok


def test_unavailable_and_unknown_triggers_are_told_apart(default):
    with pytest.raises(Conflict, match="cannot implement from research"):
        default.fire("research", "implement", OpportunityFacts())
    with pytest.raises(InvalidInput, match="neither a trigger nor a state"):
        default.fire("research", "teleport", OpportunityFacts())
    with pytest.raises(InvalidInput, match="not a state"):
        default.check("limbo", "park", OpportunityFacts())
    with pytest.raises(Conflict, match="it is final"):
        default.fire("done", "park", OpportunityFacts())


def test_triple_diamond_end_to_end():
    lc = get_lifecycle("triple_diamond")
    assert lc.initial == "problem_discovery"
    facts = OpportunityFacts(evidence_count=3, evidence_journey_count=1, evidence_source_count=2, owner_id=1,
                             solution_count=1, targeted_kpi_count=1)
    state = lc.fire(lc.initial, "discover_solutions", facts)
    assert state == "solution_discovery"
    assert lc.fire(state, "back_to_problem", facts) == "problem_discovery"
    state = lc.fire(state, "deliver", facts)
    assert state == "solution_delivery"
    assert lc.check("solution_discovery", "deliver", facts).approval == {
        "all_of": [{"owners": "all"}, {"quorum": {"role": "manager", "n": 2}}]}
    with pytest.raises(GuardsUnmet):
        lc.fire(state, "measure", facts)
    delivered = OpportunityFacts(solution_count=1, solutions_done=1, targeted_kpi_count=1, baselines_recorded=1,
                                 outcomes_recorded=1, outcomes_improved=0)
    state = lc.fire(state, "measure", delivered)
    assert state == "measure"
    assert lc.fire(state, "rediscover", delivered) == "problem_discovery"
    assert lc.fire(state, "learn", delivered) == "done"
    assert lc.is_final("done")


def test_the_shared_machine_holds_no_memory_per_opportunity(default):
    facts = READY_FOR_PRIORITY
    default.fire("research", "prioritise", facts)  # warm up
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for _ in range(2000):
        default.fire("research", "prioritise", facts)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert grown < 200_000  # 2,000 fires retain (almost) nothing
    assert default.machine.models == []
