"""A page of the ranking is scored and ordered by the database (govern.scoring.sql): it must be exactly the head of the
whole ranking computed in Python, and its evidence strength exactly Python's, for every count and age."""

import datetime as dt
import itertools

import sqlalchemy as sa

from govern.model import Setting
from govern.scoring import evidence_strength_of, rank_portfolio, record_score_inputs
from govern.scoring.models import IceModel, RiceModel, WsjfModel
from govern.scoring.sql import scored_query
from tests.conftest import actor

TODAY = dt.date(2026, 11, 23)


def _page_equals_head(s, **filters) -> None:
    whole = rank_portfolio(s, today=TODAY, **filters)  # no limit: scored and ordered in Python
    for limit in (1, 3, len(whole), len(whole) + 5):
        assert rank_portfolio(s, today=TODAY, limit=limit, **filters) == whole[:limit]


def test_a_page_ranked_by_the_database_is_the_head_of_the_whole_ranking(example_db):
    with example_db.session_scope() as s:
        lotte = actor(s, "lotte")
        record_score_inputs(s, lotte, "OPP-1", {"effort": None})  # unscored: missing an input
        same = {"reach": 1000, "impact": 1, "confidence": 100, "effort": 1}  # ties broken by evidence, then age
        for ref in ("OPP-6", "OPP-10"):
            record_score_inputs(s, lotte, ref, same)
        _page_equals_head(s)
        _page_equals_head(s, owner="lotte")
        _page_equals_head(s, journey="paying-my-bill")
        _page_equals_head(s, state=["research", "prioritise"], open_only=True)
        rows = rank_portfolio(s, today=TODAY, limit=50)
        assert rows[-1]["key"] == "OPP-1" and rows[-1]["rank"] is None and rows[-1]["missing"] == ["effort"]
        assert rows[0]["relative_score"] == 100 and rows[0]["explanation"].startswith("reach ")


def test_every_positional_model_ranks_a_page_as_python_does(example_db):
    inputs = {"ice": {"impact": 7, "confidence": 5, "ease": 8},
              "wsjf": {"business_value": 8, "time_criticality": 3, "risk_reduction": 1, "job_size": 5}}
    with example_db.session_scope() as s:
        lotte = actor(s, "lotte")
        for body in ({"kind": "ice"}, {"kind": "ice", "combine": "mean", "evidence_weight": 2}, {"kind": "wsjf"},
                     {"kind": "rice", "evidence_weight": 0}):
            s.execute(sa.update(Setting).where(Setting.key == "scoring").values(
                value={"default": "chosen", "models": {"chosen": body}}))
            s.commit()
            for ref in ("OPP-1", "OPP-6", "OPP-10"):  # a few scored, the rest missing inputs
                record_score_inputs(s, lotte, ref, inputs.get(body["kind"], {"reach": 10}))
            _page_equals_head(s)
            assert rank_portfolio(s, today=TODAY, limit=1)[0]["rank"] == 1


def test_evidence_strength_in_sql_is_pythons_for_every_count_and_age(db):
    table = sa.Table("strength_check", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("insights", sa.Integer), sa.Column("journeys", sa.Integer),
                     sa.Column("sources", sa.Integer), sa.Column("newest", sa.Date), sa.Column("x", sa.Float),
                     prefixes=["TEMPORARY"])
    ages = [None, *range(-2, 370, 1)]
    cases = [(n, j, s, age) for n, j, s in itertools.product(range(10), range(5), range(6)) for age in ages]
    with db.engine.connect() as conn:
        table.create(conn)
        conn.execute(sa.insert(table), [
            {"id": i, "insights": n, "journeys": j, "sources": s, "x": 3.0,
             "newest": None if age is None else TODAY - dt.timedelta(days=age)}
            for i, (n, j, s, age) in enumerate(cases)])
        query, _ = scored_query(sa.select(table), today=TODAY, dialect=conn.dialect.name, formula=lambda x: x / 7,
                                evidence_weight=0.5, inputs=["x"])
        got = {r.id: (r.strength, r.score) for r in conn.execute(query)}
        table.drop(conn)
    for i, (n, j, s, age) in enumerate(cases):
        strength = evidence_strength_of(n, j, s, None if age is None else max(0, age))
        assert got[i] == (strength, 3.0 / 7 * (1.0 + 0.5 * strength / 100.0)), (n, j, s, age)


def test_model_formulas_in_sql_give_pythons_floats_and_none_for_a_missing_input(db):
    models = [RiceModel("r", evidence_weight=0.5), IceModel("i"), IceModel("m", combine="mean"), WsjfModel("w")]
    rows = [(2000.0, 2.0, 80.0, 3.0), (7.0, 0.25, 50.0, 13.0), (1.0, 3.0, 1.0, None), (5.0, 8.0, 20.0, 0.0),
            (None, 1.0, 1.0, 1.0)]
    table = sa.Table("formula_check", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("insights", sa.Integer), sa.Column("journeys", sa.Integer),
                     sa.Column("sources", sa.Integer), sa.Column("newest", sa.Date),
                     *[sa.Column(f"in_{k}", sa.Float) for k in range(4)], prefixes=["TEMPORARY"])
    strength = evidence_strength_of(3, 2, 1, 40)
    with db.engine.connect() as conn:
        table.create(conn)
        conn.execute(sa.insert(table), [
            {"id": i, "insights": 3, "journeys": 2, "sources": 1, "newest": TODAY - dt.timedelta(days=40),
             **{f"in_{k}": v for k, v in enumerate(row)}} for i, row in enumerate(rows)])
        for model in models:
            arity = len(model.recorded_inputs)
            query, _ = scored_query(sa.select(table), today=TODAY, dialect=conn.dialect.name,
                                    formula=model.positional(), evidence_weight=model.evidence_weight,
                                    inputs=[f"in_{k}" for k in range(arity)])
            got = {r.id: r.score for r in conn.execute(query)}
            fast = model.fast(model.recorded_inputs)
            assert got == {i: fast(list(row[:arity]), strength) for i, row in enumerate(rows)}, model
        table.drop(conn)
