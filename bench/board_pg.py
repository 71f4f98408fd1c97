"""Benchmark: the board with 10,000 opportunities on PostgreSQL, p95 server time against a bare SELECT of its cards
(issue 16; goal: at most 3x).

- The board: `GET /board` through the Flask app in this process (test client, signed in as the council lead, who may
  act and so also gets each shown card's transitions): the whole server side of the request, rendering included.
- The bare SELECT: one statement reading what the board's cards show, for the same cards: the same filter (none, or
  `--journey`), the same count (at most the board's cap per state column, every state), the same order (best score
  first, ties to the stronger evidence, then the older opportunity) and each column's size, with the columns a card
  shows or its transitions need: key, title, state, version, score, owner's name, evidence count (the maintained
  summary), pending approval requests and journey ids. Its score is RICE written out by hand in plain SQL over the
  maintained recorded inputs and evidence summary (the example's model; not the project's scoring code), so it does
  the work any ranking must do: score every opportunity, then sort. The run checks that it lists the board's cards in
  the board's order.

The two alternate, `--rounds` times each after a warm-up, so a busy machine slows both alike; the ratio of their
p95s is printed last, with the board's SQL statement count. `--profile` adds a cProfile of the board (where the
time goes: top functions by own time and by cumulative time).

    python bench/board_pg.py [--opportunities 10000] [--rounds 30] [--journey switching-providers] [--profile]
    python bench/board_pg.py --database-url postgresql+psycopg://postgres@127.0.0.1/govern_load_board

The database named in --database-url (default govern_load_board on 127.0.0.1) is dropped and created again.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

# bench/transitions.py is named like the `transitions` library: take bench/ off the path so the library is found.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import sqlalchemy as sa  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/govern_load_board"


def bare_cards_query(cap: int, states: int, journey_ids: list[int] | None, evidence_weight: float, today: dt.date
                     ) -> sa.Select:
    """The board's cards in one statement: at most `cap` per state column, best RICE score first, with what a card
    shows. The score is written out by hand as plain SQL (reach × impact × confidence ÷ 100 ÷ effort, times
    1 + w × evidence strength ÷ 100, strength from the evidence summary's counts and PostgreSQL's round), not with
    the project's scoring code; ties: stronger evidence, then the older opportunity."""
    from govern.model import (
        ApprovalRequest, EvidenceSummary, Opportunity, Person, RecordedInputs, opportunity_journey,
    )
    from govern.scoring import FRESH_DAYS, STALE_DAYS

    opp, summary, inputs = Opportunity.__table__, EvidenceSummary.__table__, RecordedInputs.__table__
    age = sa.literal(today, sa.Date) - summary.c.newest_observed_on  # whole days (date - date)
    recency = sa.case((summary.c.newest_observed_on.is_(None), 0.0), (age <= FRESH_DAYS, 20.0),
                      (age >= STALE_DAYS, 0.0),
                      else_=sa.literal(20.0, sa.Float) * (STALE_DAYS - age) / float(STALE_DAYS - FRESH_DAYS))
    n, j, s = (sa.func.coalesce(c, 0) for c in (summary.c.insight_count, summary.c.journey_count,
                                                 summary.c.source_count))
    def f(value: float) -> sa.ColumnElement:  # a double, not a numeric
        return sa.literal(value, sa.Float)

    strength = sa.func.round(sa.cast(sa.case(
        (n <= 0, f(0.0)),
        else_=f(35.0) * sa.func.least(n, 8) / f(8.0) + f(10.0) * sa.func.least(j, 3) + f(3.75) * sa.func.least(s, 4)
        + recency), sa.Numeric), 1)
    evidence = (sa.select(opp.c.id, opp.c.number, opp.c.state, strength.label("strength"), inputs.c.reach,
                          inputs.c.impact, inputs.c.confidence, inputs.c.effort)
                .select_from(opp.outerjoin(summary, summary.c.opportunity_id == opp.c.id)
                             .outerjoin(inputs, inputs.c.opportunity_id == opp.c.id)))
    if journey_ids is not None:
        evidence = evidence.where(opp.c.id.in_(sa.select(opportunity_journey.c.opportunity_id)
                                               .where(opportunity_journey.c.journey_id.in_(journey_ids))))
    evidence = evidence.offset(0).subquery("evidence")  # OFFSET 0: strength computed once a row, not per mention
    e = evidence.c
    score = (e.reach * e.impact * e.confidence / 100.0 / sa.func.nullif(e.effort, 0.0)
             * (1.0 + evidence_weight * sa.cast(e.strength, sa.Float) / 100.0))
    scored = sa.select(e.id, e.number, e.state, e.strength, score.label("score")).offset(0).subquery("scored")
    order = (scored.c.score.desc().nulls_last(), scored.c.strength.desc(), scored.c.number)
    cards = sa.select(scored, sa.func.row_number().over(partition_by=scored.c.state, order_by=order).label("position"),
                      sa.func.count().over(partition_by=scored.c.state).label("in_column")).subquery("cards")
    # At most `cap` per state, so at most cap × states rows: the LIMIT tells PostgreSQL so (it cannot tell how few a
    # row_number() cut keeps, and costing its per-card look-ups for 10,000 rows would JIT-compile the statement).
    cut = (sa.select(cards).where(cards.c.position <= cap).order_by(cards.c.state, cards.c.position)
           .limit(cap * states).subquery("cut"))
    pending = (sa.select(sa.func.count()).where(ApprovalRequest.opportunity_id == cut.c.id,
                                                ApprovalRequest.status == "pending").scalar_subquery())
    journeys = (sa.select(sa.func.array_agg(opportunity_journey.c.journey_id))
                .where(opportunity_journey.c.opportunity_id == cut.c.id).scalar_subquery())
    return (sa.select(cut.c.number, opp.c.title, cut.c.state, opp.c.version, cut.c.in_column, cut.c.score,
                      Person.name.label("owner_name"), EvidenceSummary.insight_count, pending.label("pending"),
                      journeys.label("journeys"))
            .select_from(cut)
            .join(opp, opp.c.id == cut.c.id)
            .outerjoin(Person, Person.id == opp.c.owner_id)
            .outerjoin(EvidenceSummary, EvidenceSummary.opportunity_id == cut.c.id)
            .order_by(cut.c.state, cut.c.position))


def subtree_ids(db, key: str) -> list[int]:
    from govern.model import Journey

    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(Journey.id, Journey.key, Journey.parent_id)).all()
    ids = {r.id for r in rows if r.key == key}
    if not ids:
        raise SystemExit(f"no journey {key!r}")
    while True:
        more = {r.id for r in rows if r.parent_id in ids} - ids
        if not more:
            return sorted(ids)
        ids |= more


def percentile(sorted_values: list[float], p: float) -> float:
    index = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30, help="timed requests of each (default 30)")
    parser.add_argument("--journey", help="filter the board (and the bare SELECT) by this journey's subtree")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of the board request")
    parser.add_argument("--database-url", default=os.environ.get("GOVERN_BOARD_DATABASE_URL", DEFAULT_URL),
                        help=f"PostgreSQL database to drop, create and fill (default {DEFAULT_URL})")
    args = parser.parse_args()

    from bench.load import recreate_database
    from bench.queries import Browser, add_bulk, load_example
    from govern.app import create_app
    from govern.settings import Config
    from govern.bootstrap import bootstrap
    from govern.db import Database, StatementCounter
    from govern.model import utcnow
    from govern.queries.states import state_catalog
    from govern.scoring import rank_by_state, scoring_config
    from govern.web.board import BOARD_CAP

    recreate_database(args.database_url)
    db = bootstrap(Database(args.database_url))
    db.upgrade()
    start = time.perf_counter()
    load_example(db)
    add_bulk(db, args.opportunities)
    print(f"prepared {args.opportunities:,} opportunities in {time.perf_counter() - start:.0f} s")
    with tempfile.TemporaryDirectory() as tmp:
        config = Config(database_url=args.database_url, instance_path=Path(tmp) / "instance", secret_key="bench",
                        testing=True, run_scheduler=False, run_worker=False)
        app = create_app(config, db=db)
        lead = Browser(app, "ana")
        path = "/board" + (f"?journey={args.journey}" if args.journey else "")
        with db.session_scope() as session:
            model = scoring_config(session).model(scoring_config(session).default)
            if model.kind != "rice":
                raise SystemExit(f"the bare SELECT writes out RICE; the example's model is {model.kind}")
            board_cards = [(row["state"], row["number"]) for column in rank_by_state(
                session, per_state=BOARD_CAP, journey=args.journey).values() for row in column.rows]
            states = len(state_catalog(session).names)
        query = bare_cards_query(BOARD_CAP, states, subtree_ids(db, args.journey) if args.journey else None,
                                 model.evidence_weight, utcnow().date())
        with db.engine.connect() as conn:
            bare_cards = [(row.state, row.number) for row in conn.execute(query)]
        by_state = lambda cards: sorted(cards, key=lambda card: card[0])  # noqa: E731 (stable: keeps each order)
        same = by_state(bare_cards) == by_state(board_cards)

        def board() -> None:
            response = lead.client.get(path)
            assert response.status_code == 200, response.status_code

        def bare() -> int:
            with db.engine.connect() as conn:
                return len(conn.execute(query).all())

        for _ in range(3):  # warm-up: connections, template compilation, the lifecycle and scoring configuration
            board()
            cards = bare()
        with StatementCounter(db.engine) as counter:
            board()
        board_times, bare_times = [], []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            board()
            t1 = time.perf_counter()
            bare()
            t2 = time.perf_counter()
            board_times.append((t1 - t0) * 1000)
            bare_times.append((t2 - t1) * 1000)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(3):
                board()
            profiler.disable()
    db.dispose()

    board_times.sort()
    bare_times.sort()
    filtered = f", journey {args.journey}" if args.journey else ""
    print(f"Board on PostgreSQL with {args.opportunities:,} opportunities{filtered}, signed in as the council lead "
          f"({args.rounds} rounds, ms):")
    print(f"  {'':56} {'p50':>8} {'p95':>8} {'max':>8}")
    for label, values in ((f"GET {path} (in-process)", board_times), (f"bare SELECT of the {cards} cards", bare_times)):
        print(f"  {label:56} {percentile(values, 50):8.1f} {percentile(values, 95):8.1f} {values[-1]:8.1f}")
    ratio = percentile(board_times, 95) / percentile(bare_times, 95)
    print(f"  board: {counter.count} SQL statements; bare SELECT: 1; the bare SELECT's cards are the board's "
          f"(same cards, same order): {'yes' if same else 'NO'}")
    print(f"Ratio board p95 / bare SELECT p95: {ratio:.1f}x (goal <= 3x) -> {'ok' if ratio <= 3 else 'OVER'}")
    if args.profile:
        for order, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(25)
            print(f"\ncProfile of 3 board requests, top 25 by {title}:")
            print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))


if __name__ == "__main__":
    main()
