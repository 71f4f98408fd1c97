"""Benchmark: rank 100,000 opportunities backed by 300,000 evidence links (SQLite), with evidence strength.

Compares `govern.scoring.rank_portfolio` (the whole portfolio scored with RICE × evidence strength, ranked, the top
page explained) with reading the maintained evidence summary table, and with the SQL query of the same inputs
(the summary joined with the recorded scoring inputs), measured in the same run on the same database. The evidence
counts are no longer aggregated over every link at ranking time: the summary is kept current when evidence changes,
and so is the row of recorded inputs per opportunity. A page (top 50) is scored, ordered and cut by the database
(govern.scoring.sql); the whole list ("all") is scored in Python.
Goal (issue 16): under 1 s and within 2× of reading the summary table.

    python bench/ranking.py [--opportunities 100000] [--links 300000] [--repeat 3] [--database URL]

--database runs it on another database (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/bench_ranking): its tables
are dropped and built anew, so name a database kept for benchmarks. Default: a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from govern.bootstrap import bootstrap  # noqa: E402
from govern.db import Database  # noqa: E402
from govern.services.summary import refresh_evidence_summary, refresh_recorded_inputs  # noqa: E402
from govern.model import (  # noqa: E402
    Base, EvidenceSummary, Insight, Journey, Opportunity, Person, ScoreInput, Setting, Step, insight_step, opportunity_insight,
    opportunity_journey,
)
from govern.scoring import (  # noqa: E402
    RICE_CONFIDENCE_LEVELS, RICE_IMPACT_LEVELS, recorded_input_names, portfolio_query, rank_portfolio, scoring_config,
)

TODAY = dt.date(2026, 11, 23)
SOURCES = ["support tickets", "NPS survey", "app reviews", "interviews", "analytics", "call centre", "social"]


def build(db: Database, n_opps: int, n_links: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    Base.metadata.create_all(db.engine)
    n_journeys, steps_per = 40, 12
    n_insights = max(1, n_links // 5)
    with db.engine.begin() as conn:
        conn.execute(sa.insert(Person), [{"id": 1, "handle": "lotte", "name": "Lotte"}])
        conn.execute(sa.insert(Journey), [{"id": j, "key": f"j{j}", "name": f"Journey {j}", "level": "macro",
                                           "owner_id": 1} for j in range(1, n_journeys + 1)])
        conn.execute(sa.insert(Step), [{"id": (j - 1) * steps_per + s, "journey_id": j, "key": f"s{s}",
                                        "name": f"Step {s}", "position": s}
                                       for j in range(1, n_journeys + 1) for s in range(1, steps_per + 1)])
        n_steps = n_journeys * steps_per
        conn.execute(sa.insert(Insight), [{"id": i, "number": i, "text": f"insight {i}", "source": rng.choice(SOURCES),
                                           "kind": "ticket",
                                           "observed_on": TODAY - dt.timedelta(days=rng.randint(0, 500))}
                                          for i in range(1, n_insights + 1)])
        links = set()
        for i in range(1, n_insights + 1):
            for _ in range(rng.choice((1, 1, 2))):
                links.add((i, rng.randint(1, n_steps)))
        conn.execute(sa.insert(insight_step), [{"insight_id": i, "step_id": s} for i, s in links])
        conn.execute(sa.insert(Opportunity), [{"id": o, "number": o, "title": f"How might we {o}?",
                                               "state": rng.choice(("research", "prioritise", "implement")),
                                               "owner_id": 1, "lifecycle": "default"}
                                              for o in range(1, n_opps + 1)])
        conn.execute(sa.insert(opportunity_journey), [{"opportunity_id": o, "journey_id": rng.randint(1, n_journeys)}
                                                      for o in range(1, n_opps + 1)])
        evidence = set()
        while len(evidence) < n_links:
            evidence.add((rng.randint(1, n_opps), rng.randint(1, n_insights)))
        conn.execute(sa.insert(opportunity_insight), [{"opportunity_id": o, "insight_id": i} for o, i in evidence])
        inputs = []
        for o in range(1, n_opps + 1):
            if rng.random() < 0.97:  # a few opportunities are not fully scored yet
                inputs += [{"opportunity_id": o, "name": "reach", "value": float(rng.randint(10, 5000))},
                           {"opportunity_id": o, "name": "impact", "value": rng.choice(RICE_IMPACT_LEVELS)},
                           {"opportunity_id": o, "name": "confidence", "value": rng.choice(RICE_CONFIDENCE_LEVELS)},
                           {"opportunity_id": o, "name": "effort", "value": float(rng.randint(1, 12))}]
        conn.execute(sa.insert(ScoreInput), inputs)
        conn.execute(sa.insert(Setting), [{"key": "scoring", "value": {
            "default": "rice", "models": {"rice": {"kind": "rice", "evidence_weight": 0.5}}}}])
    with db.session_scope() as session:  # links and inputs were bulk-inserted: compute their summaries once
        refresh_evidence_summary(session, everything=True)
        refresh_recorded_inputs(session, everything=True)
        session.commit()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")


def interleaved(fns: dict, repeat: int) -> tuple[dict, dict]:
    """Median time of each function, runs interleaved (a, b, c, a, b, c, …) so that load from other processes on a
    shared machine falls on all of them alike."""
    times: dict = {name: [] for name in fns}
    results: dict = {}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=int, default=100_000)
    parser.add_argument("--links", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", help="a database URL whose tables are dropped and rebuilt (default: temporary "
                                           "SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = bootstrap(Database(args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"))
        if args.database:
            Base.metadata.drop_all(db.engine)
        start = time.perf_counter()
        build(db, args.opportunities, args.links)
        print(f"built {args.opportunities:,} opportunities, {args.links:,} evidence links "
              f"in {time.perf_counter() - start:.1f} s")
        with db.session() as session:
            names = recorded_input_names(scoring_config(session))
            query = portfolio_query(names)
            summary = sa.select(EvidenceSummary.__table__)
            medians, results = interleaved({
                "summary": lambda: session.connection().execute(summary).all(),
                "query": lambda: session.connection().execute(query).all(),
                "top": lambda: rank_portfolio(session, limit=50, today=TODAY),
                "all": lambda: rank_portfolio(session, explain=False, today=TODAY),
            }, args.repeat)
        sql_s, rank_s, full_s = medians["query"], medians["top"], medians["all"]
        rows, ranked, everything = results["query"], results["top"], results["all"]
        assert len(rows) == args.opportunities and len(everything) == args.opportunities
        top = ranked[0]
        print(f"top: {top['key']} score {top['score']} (evidence strength {top['evidence_strength']}): "
              f"{top['explanation']}")
        summary_s = medians["summary"]
        print(f"reading the evidence summary table ({len(results['summary']):,} rows): {summary_s * 1000:8.1f} ms")
        print(f"SQL query of the same inputs (summary + recorded scoring inputs, {len(rows):,} rows): "
              f"{sql_s * 1000:8.1f} ms")
        print(f"rank_portfolio, all scored and ranked, top 50 explained: {rank_s * 1000:8.1f} ms")
        print(f"rank_portfolio, all scored, ranked and returned:         {full_s * 1000:8.1f} ms")
        print(f"(on {db.engine.dialect.name}; medians of {args.repeat} interleaved runs; load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs)")
        print(f"ratio ranking / query: {rank_s / sql_s:.2f}x (top 50 explained), {full_s / sql_s:.2f}x (all rows)")
        print(f"ratio ranking / reading the summary table: {rank_s / summary_s:.2f}x (top 50 explained); "
              f"goal < 1 s and <= 2x: {'met' if rank_s < 1 and rank_s / summary_s <= 2 else 'NOT met'}")
        db.dispose()


if __name__ == "__main__":
    main()
