"""The board's columns (scoring.rank_by_state: each state's count and its best N in ranking order) are the whole ranking
of rank_portfolio cut by state, whether the database numbers each state's rows (one positional model) or Python ranks
the portfolio (a weighted model, or a journey with a model of its own): same rows, same order, same scores, same counts."""

import datetime as dt

import sqlalchemy as sa

from govern.model import Journey, Setting
from govern.scoring import rank_by_state, rank_portfolio, record_score_inputs
from govern.services.opportunities import create_opportunity
from tests.conftest import actor

TODAY = dt.date(2026, 11, 23)
FILTERS = [{}, {"owner": "lotte"}, {"journey": "switching-providers"}, {"persona": "busy-family"},
           {"text": "bill"}, {"journey": "being-a-customer", "owner": "ana"}]


def _whole_ranking_cut_by_state(s, per_state, **filters) -> dict:
    """{state: (count, rows)} from the whole ranking in Python order; a row's rank is its place in its state."""
    columns: dict = {}
    for row in rank_portfolio(s, today=TODAY, explain=False, **filters):
        count, rows = columns.get(row["state"], (0, []))
        count += 1
        if per_state is None or len(rows) < per_state:
            rows.append({**{k: row[k] for k in ("key", "number", "title", "state", "owner", "model", "score",
                                                "evidence_strength", "evidence_count")},
                         "rank": None if row["score"] is None else count})
        columns[row["state"]] = (count, rows)
    return columns


def _columns_are_the_ranking_cut_by_state(s) -> None:
    for filters in FILTERS:
        for per_state in (0, 1, 2, 3, 8, None):
            got = rank_by_state(s, per_state=per_state, today=TODAY, **filters)
            assert {state: column.state for state, column in got.items()} == {state: state for state in got}
            assert ({state: (column.count, column.rows) for state, column in got.items()}
                    == _whole_ranking_cut_by_state(s, per_state, **filters)), (filters, per_state)


def _mixed_portfolio(s) -> None:
    """The example with more opportunities in one state: equal scores (ties broken by evidence, then age), missing
    inputs (unscored, last), different owners."""
    ana, lotte = actor(s, "ana"), actor(s, "lotte")
    same = {"reach": 1000, "impact": 1, "confidence": 100, "effort": 1}
    for ref in ("OPP-6", "OPP-10", "OPP-12"):
        record_score_inputs(s, lotte, ref, same)
    record_score_inputs(s, lotte, "OPP-1", {"effort": None})
    for n, (journey, owner, inputs) in enumerate([
            ("switching-providers", "lotte", same), ("paying-my-bill", "ana", same),
            ("getting-connected", "lotte", {"reach": 10}), ("moving-house", None, {}),
            ("paying-my-bill", "lotte", {**same, "reach": 3000}), ("switching-providers", "ana", same)]):
        opp = create_opportunity(s, ana, title=f"Mixed {n}: the bill and the switch", journeys=[journey],
                                 owner=owner)
        if inputs:
            record_score_inputs(s, ana, opp.key, inputs)


def test_each_states_best_cards_ranked_by_the_database_are_the_python_ranking_cut_by_state(example_db):
    with example_db.session_scope() as s:
        _mixed_portfolio(s)
        _columns_are_the_ranking_cut_by_state(s)  # RICE alone: the database numbers each state's rows
        research = rank_by_state(s, per_state=3, today=TODAY)["research"]
        assert research.count > 3 and len(research.rows) == 3 and [r["rank"] for r in research.rows] == [1, 2, 3]
        everything = rank_by_state(s, per_state=None, today=TODAY)["research"].rows
        assert everything[-1]["rank"] is None and everything[-1]["score"] is None  # unscored last, no place
        s.execute(sa.update(Setting).where(Setting.key == "scoring").values(value={
            "default": "rice", "models": {"rice": {"kind": "rice", "evidence_weight": 0}}}))
        s.commit()
        _columns_are_the_ranking_cut_by_state(s)  # equal scores whatever the evidence: ties go to the stronger evidence
        tied = [r for r in rank_by_state(s, per_state=None, today=TODAY)["research"].rows if r["score"] == 1000.0]
        assert len({r["evidence_strength"] for r in tied}) > 1


def test_columns_ranked_in_python_for_a_weighted_or_journey_model_are_the_same_cut(example_db):
    with example_db.session_scope() as s:
        _mixed_portfolio(s)
        s.execute(sa.update(Journey).where(Journey.key == "paying-my-bill").values(scoring_model="ice"))
        s.commit()
        _columns_are_the_ranking_cut_by_state(s)  # a journey with its own model: ranked in Python
        s.execute(sa.update(Journey).values(scoring_model=None))
        s.execute(sa.update(Setting).where(Setting.key == "scoring").values(value={
            "default": "council", "models": {"council": {"kind": "weighted", "criteria": {
                "reach": 2, "evidence_strength": 3, "effort": -1}}}}))
        s.commit()
        _columns_are_the_ranking_cut_by_state(s)  # a weighted model normalises across the portfolio
