"""The opportunity page's score and rank (scoring.score_and_rank) are what scoring one opportunity and ranking the whole
portfolio give, whether the database ranks (one positional model) or Python does (any other model)."""

import datetime as dt

import sqlalchemy as sa

from govern.model import Opportunity, Setting
from govern.scoring import (
    places_in_ranking, rank_portfolio, record_score_inputs, score_and_rank, score_opportunity,
)
from tests.conftest import actor

TODAY = dt.date(2026, 11, 23)


def _agrees_with_score_and_ranking(s) -> None:
    ranking = rank_portfolio(s, today=TODAY, explain=False)
    ranks = {row["number"]: row["rank"] for row in ranking}
    for opp in s.scalars(sa.select(Opportunity).order_by(Opportunity.number)):
        score, rank, total = score_and_rank(s, opp, today=TODAY)
        assert (score, rank, total) == (score_opportunity(s, opp, today=TODAY), ranks[opp.number], len(ranking)), opp.key


def test_score_and_rank_of_one_opportunity_are_its_score_and_its_place_in_the_whole_ranking(example_db):
    with example_db.session_scope() as s:
        lotte = actor(s, "lotte")
        record_score_inputs(s, lotte, "OPP-1", {"effort": None})  # unscored: missing an input, no rank
        same = {"reach": 1000, "impact": 1, "confidence": 100, "effort": 1}  # ties broken by evidence, then age
        for ref in ("OPP-6", "OPP-10"):
            record_score_inputs(s, lotte, ref, same)
        _agrees_with_score_and_ranking(s)  # RICE: ranked by the database
        assert score_and_rank(s, s.scalar(sa.select(Opportunity).where(Opportunity.number == 1)), today=TODAY)[1] is None
        s.execute(sa.update(Setting).where(Setting.key == "scoring").values(value={
            "default": "council", "models": {"council": {"kind": "weighted", "criteria": {
                "reach": 2, "evidence_strength": 3, "effort": -1}}}}))
        s.commit()
        _agrees_with_score_and_ranking(s)  # a weighted model normalises across the portfolio: ranked in Python


def _places_agree_with_ranking(s) -> None:
    ranking = {row["number"]: row for row in rank_portfolio(s, today=TODAY, explain=False)}
    ids = dict(s.execute(sa.select(Opportunity.id, Opportunity.number)).all())
    some = [oid for oid, number in ids.items() if number % 2 == 0 or number == 1]  # a set of them, not the whole portfolio
    places = places_in_ranking(s, some, today=TODAY)
    assert sorted(places) == sorted(some)
    for oid, place in places.items():
        row = ranking[ids[oid]]
        assert (place.model, place.score, place.rank, place.total) == (
            row["model"], row["score"], row["rank"], len(ranking)), f"OPP-{ids[oid]}"


def test_places_of_a_set_of_opportunities_are_their_scores_and_ranks_in_the_whole_ranking(example_db):
    with example_db.session_scope() as s:
        lotte = actor(s, "lotte")
        record_score_inputs(s, lotte, "OPP-1", {"effort": None})  # unscored: no score, no rank
        same = {"reach": 1000, "impact": 1, "confidence": 100, "effort": 1}  # ties broken by evidence, then age
        for ref in ("OPP-6", "OPP-10"):
            record_score_inputs(s, lotte, ref, same)
        _places_agree_with_ranking(s)  # RICE: the database numbers the portfolio and returns the set's rows
        unscored = s.scalar(sa.select(Opportunity.id).where(Opportunity.number == 1))
        assert places_in_ranking(s, [unscored], today=TODAY)[unscored].rank is None
        assert places_in_ranking(s, [], today=TODAY) == {}
        s.execute(sa.update(Setting).where(Setting.key == "scoring").values(value={
            "default": "council", "models": {"council": {"kind": "weighted", "criteria": {
                "reach": 2, "evidence_strength": 3, "effort": -1}}}}))
        s.commit()
        _places_agree_with_ranking(s)  # a weighted model: the whole portfolio ranked in Python
