"""Outcomes that honour the target (issue 24, OPP-13): the real evaluation feeds the lifecycle's guards."""

from __future__ import annotations

import copy

import pytest

from govern.errors import GuardsUnmet, InvalidInput
from govern.kpis import evaluate_opportunity, record_baselines, record_measurement
from govern.model import Opportunity
from govern.queries.states import _shipped_definition
from govern.services.common import get_opportunity, put_setting
from govern.workflows import services
from govern.workflows.definition import parse_definition, resolve_lifecycle
from tests.conftest import actor


@pytest.fixture
def s(example_db):
    with example_db.session_scope() as session:
        yield session


def evaluated_short_of_target(s) -> Opportunity:
    """OPP-1 with CSAT 3.2 → 3.9 (target 4) and tickets 415 → 180 (target 200), measured after the window."""
    marco = actor(s, "marco")
    opp = get_opportunity(s, "OPP-1")
    record_baselines(s, marco, opp)
    opp.state = "evaluate"
    s.commit()
    record_measurement(s, marco, "porting-csat", 3.9, "2026-12-31")
    record_measurement(s, marco, "porting-tickets", 180, "2026-12-31")
    result = evaluate_opportunity(s, marco, "OPP-1")
    assert [o["verdict"] for o in result["outcomes"]] == ["short_of_target", "target_met"]
    return opp


def lifecycle_asking_for_targets(s) -> None:
    data = copy.deepcopy(dict(_shipped_definition("default")))
    for t in data["transitions"]:
        if t["trigger"] == "finish":
            t["guards"] = ["targets_met"]
    put_setting(s, "lifecycle.current", resolve_lifecycle(data))
    s.commit()


def test_an_improvement_short_of_its_target_is_improved_but_not_met_for_the_guards(s):
    opp = evaluated_short_of_target(s)
    facts = services.facts_for(s, opp)
    assert (facts.outcomes_recorded, facts.outcomes_improved, facts.outcomes_met) == (2, 2, 1)


def test_a_lifecycle_asking_for_targets_met_does_not_finish_short_of_target_and_researches_again(s):
    lifecycle_asking_for_targets(s)
    opp = evaluated_short_of_target(s)
    lotte = actor(s, "lotte")
    with pytest.raises(GuardsUnmet) as caught:
        services.request_transition(s, lotte, opp.key, "done")
    assert caught.value.details["unmet"] == [
        "needs every targeted KPI to meet its target (or, without a target, to improve), 1 KPI did not"]
    s.rollback()
    moved = services.request_transition(s, lotte, opp.key, "research_again", reason="CSAT short of 4")
    assert moved.moved and opp.state == "research"


def test_the_shipped_lifecycle_researches_again_when_a_target_is_missed(s):
    opp = evaluated_short_of_target(s)
    result = services.request_transition(s, actor(s, "lotte"), opp.key, "research_again", reason="CSAT short of 4")
    assert result.moved and opp.state == "research"


def test_a_lifecycle_sets_the_measurement_window_and_rejects_a_bad_one():
    data = copy.deepcopy(dict(_shipped_definition("default")))
    data["measure_after_days"] = 42
    assert parse_definition(data).measure_after_days == 42
    data["measure_after_days"] = "soon"
    with pytest.raises(InvalidInput) as caught:
        parse_definition(data)
    assert caught.value.details["measure_after_days"] == "must be a whole number of days ≥ 0, got 'soon'"
    data["measure_after_days"] = 28
    data["transitions"][-1].setdefault("effects", []).append({"record_outcome": {"measure_after_days": -1}})
    with pytest.raises(InvalidInput) as caught:
        parse_definition(data)
    assert any("must be a whole number of days ≥ 0" in v for v in caught.value.details.values())


def test_the_window_comes_from_the_applied_lifecycle(s):
    data = copy.deepcopy(dict(_shipped_definition("default")))
    data["measure_after_days"] = 90  # baseline 2026-10-31, not live yet: counts from 2027-01-29
    put_setting(s, "lifecycle.current", resolve_lifecycle(data))
    s.commit()
    marco = actor(s, "marco")
    opp = get_opportunity(s, "OPP-1")
    record_baselines(s, marco, opp)
    opp.state = "evaluate"
    s.commit()
    record_measurement(s, marco, "porting-csat", 3.9, "2026-12-31")
    record_measurement(s, marco, "porting-tickets", 180, "2026-12-31")
    with pytest.raises(InvalidInput, match="earliest date that counts is 2027-01-29"):
        evaluate_opportunity(s, marco, "OPP-1")


def test_a_kpi_sets_its_own_window_before_the_lifecycle(s):
    from govern.services.common import get_kpi

    get_kpi(s, "porting-csat").measure_after_days = 90  # its survey runs quarterly
    marco = actor(s, "marco")
    opp = get_opportunity(s, "OPP-1")
    record_baselines(s, marco, opp)
    opp.state = "evaluate"
    s.commit()
    record_measurement(s, marco, "porting-csat", 3.9, "2026-12-31")
    record_measurement(s, marco, "porting-tickets", 180, "2026-12-31")
    with pytest.raises(InvalidInput) as caught:
        evaluate_opportunity(s, marco, "OPP-1")
    assert set(caught.value.details) == {"porting-csat"}  # tickets use the lifecycle's 28 days and would count
    assert "at least 90 days" in caught.value.details["porting-csat"]
