"""Recording scoring inputs, the score's explanation, ranking with filters and tie-breaks, the value/effort matrix."""

import datetime as dt

import pytest
import sqlalchemy as sa

from govern.audit import verify
from govern.errors import InvalidInput, PermissionDenied
from govern.model import AuditEvent, Journey, Opportunity, ScoreInput, Setting
from govern.scoring import (
    missing_inputs, rank_portfolio, record_score_inputs, score_opportunity, value_effort_matrix,
)
from govern.services.common import get_opportunity
from tests.conftest import actor


@pytest.fixture
def s(example_db):
    with example_db.session_scope() as session:
        yield session


def test_recording_inputs_is_audited_with_who_and_the_computed_score(s):
    lotte = actor(s, "lotte")
    score = record_score_inputs(s, lotte, "OPP-1", {"reach": "20000", "confidence": 100})
    # 20000 × 2 × 1.0 ÷ 3 = 13333.3, × (1 + 0.5 × evidence strength/100)
    assert score.model == "rice" and score.inputs["reach"] == 20000
    es = score.inputs["evidence_strength"]
    assert score.value == pytest.approx(20000 * 2 * 1.0 / 3 * (1 + 0.5 * es / 100))
    opp = get_opportunity(s, "OPP-1")
    row = s.scalar(sa.select(ScoreInput).where(ScoreInput.opportunity_id == opp.id, ScoreInput.name == "reach"))
    assert row.recorded_by_id == lotte.person_id and row.recorded_at is not None
    event = s.scalars(sa.select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event.action == "opportunity.scored" and event.actor == "lotte"
    assert event.before["inputs"]["reach"] == 18000 and event.after["inputs"]["reach"] == 20000
    assert event.after["score"] == pytest.approx(score.value)
    assert verify(s).ok


def test_bad_inputs_are_refused_with_their_names_and_nothing_changes(s):
    with pytest.raises(InvalidInput) as exc:
        record_score_inputs(s, actor(s, "lotte"), "OPP-1", {"impact": 1.5, "reech": 3, "evidence_strength": 90,
                                                            "effort": "lots"})
    details = exc.value.details
    assert details["inputs.impact"] == "must be one of 3, 2, 1, 0.5, 0.25"
    assert details["inputs.reech"].startswith("unknown input 'reech'")
    assert details["inputs.evidence_strength"] == "is computed from the evidence and cannot be recorded"
    assert details["inputs.effort"] == "must be a number"
    s.rollback()
    assert {si.name: si.value for si in get_opportunity(s, "OPP-1").score_inputs}["impact"] == 2


def test_only_those_allowed_may_score(s):
    with pytest.raises(PermissionDenied):  # a coordinator of another journey
        record_score_inputs(s, actor(s, "femke"), "OPP-1", {"reach": 1})
    with pytest.raises(PermissionDenied):  # supporters feed information; they do not score
        record_score_inputs(s, actor(s, "priya"), "OPP-1", {"reach": 1})


def test_missing_inputs_follow_the_model_and_removing_an_input_unscores(s):
    lotte = actor(s, "lotte")
    assert missing_inputs(s, get_opportunity(s, "OPP-1")) == []
    score = record_score_inputs(s, lotte, "OPP-1", {"effort": None})
    assert score.value is None and score.missing == ["effort"]
    assert missing_inputs(s, "OPP-1") == ["effort"]


def test_a_journey_can_use_another_model(s):
    s.get(Setting, "scoring")  # the example declares rice (default) and cx-weighted
    s.execute(sa.update(Journey).where(Journey.key == "getting-help").values(scoring_model="cx-weighted"))
    s.commit()
    # OPP-12 touches getting-help and switching-providers (rice): they disagree, so the default applies
    assert score_opportunity(s, get_opportunity(s, "OPP-12")).model == "rice"
    # OPP-4 touches reporting-an-outage (below getting-help, inherits) and getting-help: weighted
    score = score_opportunity(s, get_opportunity(s, "OPP-4"))
    assert score.model == "cx-weighted" and 0 <= score.value <= 100
    assert [t["input"] for t in score.terms] == ["customer_need", "business_value", "evidence_strength", "effort"]
    assert "rescaled" in score.explanation


def test_ranking_explains_each_rank_and_orders_by_score(s):
    rows = rank_portfolio(s)
    assert len(rows) == 12
    ranked = [r for r in rows if r["rank"] is not None]
    assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
    assert all(a["score"] >= b["score"] for a, b in zip(ranked, ranked[1:]))
    top = ranked[0]
    assert top["explanation"].startswith("reach ") and "evidence strength" in top["explanation"]
    assert {t["input"] for t in top["terms"]} == {"reach", "impact", "confidence", "effort", "evidence_strength"}
    assert top["journeys"]


def test_ranking_filters_narrow_the_list_not_the_scores(s):
    everything = {r["key"]: r["score"] for r in rank_portfolio(s)}
    bill = rank_portfolio(s, journey="paying-my-bill")  # the subtree: understanding-my-bill, flagging-…, direct debit
    assert {r["key"] for r in bill} == {"OPP-2", "OPP-3", "OPP-5"}
    assert all(everything[r["key"]] == r["score"] for r in bill)
    assert [r["rank"] for r in bill] == [1, 2, 3]
    assert {r["key"] for r in rank_portfolio(s, state="research")} == {
        o.key for o in s.scalars(sa.select(Opportunity).where(Opportunity.state == "research"))}
    assert {r["key"] for r in rank_portfolio(s, owner="sam")} == {"OPP-7", "OPP-8", "OPP-9"}
    assert {r["key"] for r in rank_portfolio(s, persona="budget-watcher")} >= {"OPP-2", "OPP-3"}
    assert rank_portfolio(s, state=["done", "rejected"], limit=1)[0]["rank"] == 1


def test_ties_are_broken_by_evidence_then_age(s):
    lotte = actor(s, "lotte")
    same = {"reach": 1000, "impact": 1, "confidence": 100, "effort": 1}
    for ref in ("OPP-1", "OPP-6", "OPP-10"):
        record_score_inputs(s, lotte, ref, same)
    s.execute(sa.update(Setting).where(Setting.key == "scoring").values(value={"default": "rice"}))
    s.commit()
    rows = [r for r in rank_portfolio(s, owner="lotte") if r["key"] in ("OPP-1", "OPP-6", "OPP-10")]
    strengths = [r["evidence_strength"] for r in rows]
    assert strengths == sorted(strengths, reverse=True)
    assert rank_portfolio(s, owner="lotte") == rank_portfolio(s, owner="lotte")


def test_value_effort_matrix_places_opportunities_in_quadrants(s):
    matrix = value_effort_matrix(s)
    assert len(matrix["points"]) == 12 and matrix["unplaced"] == []
    by_key = {p["key"]: p for p in matrix["points"]}
    assert by_key["OPP-1"]["value"] == pytest.approx(18000 * 2 * 0.8) and by_key["OPP-1"]["effort"] == 3
    assert {p["quadrant"] for p in matrix["points"]} <= {"quick win", "big bet", "fill-in", "money pit"}
    quick = [p for p in matrix["points"] if p["quadrant"] == "quick win"]
    assert all(p["value"] >= matrix["value_median"] and p["effort"] <= matrix["effort_median"] for p in quick)


def test_evidence_strength_counts_journeys_sources_and_recency(s):
    today = dt.date(2026, 10, 1)
    rows = {r["key"]: r for r in rank_portfolio(s, today=today)}
    # OPP-1: insights 1, 2, 3, 4, 28 → 5 insights; steps in switching-providers, moving-house, activating-my-sim;
    # 5 distinct sources; newest 2026-09-25 (6 days old)
    assert rows["OPP-1"]["evidence_strength"] == pytest.approx(round(35 * 5 / 8 + 30 + 15 + 20, 1))

