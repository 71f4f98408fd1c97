"""Benchmark: the board with 10,000 opportunities on PostgreSQL, p95 server time against a bare SELECT of its cards
(issue 16; goal: at most 3x).

- The board: `GET /board` through the Flask app in this process (test client, signed in as the council lead, who may
  act and so also gets each shown card's transitions): the whole server side of the request, rendering included.
- The bare SELECT: one statement reading what the board's cards show, for the same cards: the same filter (none, or
  `--journey`), the same count (at most the board's cap per state column, every state) and each column's size, with
  the columns a card shows: key, title, state, version, owner's name, evidence count (the maintained summary), pending
  approval requests, journey names and the score inputs (the score itself is computed from them by the scoring
  model, which SQL cannot do; the bare SELECT orders a column by number instead of rank).

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


def bare_cards_query(cap: int, journey_ids: list[int] | None) -> sa.Select:
    """The board's cards in one statement: at most `cap` per state column, with what a card shows."""
    from govern.model import (
        ApprovalRequest, EvidenceSummary, Journey, Opportunity, Person, ScoreInput, opportunity_journey,
    )

    opp = Opportunity.__table__
    columns = sa.select(
        opp.c.id, opp.c.number, opp.c.title, opp.c.state, opp.c.version, opp.c.owner_id,
        sa.func.row_number().over(partition_by=opp.c.state, order_by=opp.c.number).label("position"),
        sa.func.count().over(partition_by=opp.c.state).label("in_column"))
    if journey_ids is not None:
        columns = columns.where(opp.c.id.in_(sa.select(opportunity_journey.c.opportunity_id)
                                             .where(opportunity_journey.c.journey_id.in_(journey_ids))))
    cards = columns.subquery("cards")
    pending = (sa.select(sa.func.count()).where(ApprovalRequest.opportunity_id == cards.c.id,
                                                ApprovalRequest.status == "pending").scalar_subquery())
    journeys = (sa.select(sa.func.string_agg(Journey.name, sa.literal(", ")))
                .join(opportunity_journey, opportunity_journey.c.journey_id == Journey.id)
                .where(opportunity_journey.c.opportunity_id == cards.c.id).scalar_subquery())
    inputs = (sa.select(sa.func.json_object_agg(ScoreInput.name, ScoreInput.value))
              .where(ScoreInput.opportunity_id == cards.c.id).scalar_subquery())
    return (sa.select(cards.c.number, cards.c.title, cards.c.state, cards.c.version, cards.c.in_column,
                      Person.name.label("owner_name"), EvidenceSummary.insight_count, pending.label("pending"),
                      journeys.label("journeys"), inputs.label("inputs"))
            .select_from(cards)
            .outerjoin(Person, Person.id == cards.c.owner_id)
            .outerjoin(EvidenceSummary, EvidenceSummary.opportunity_id == cards.c.id)
            .where(cards.c.position <= cap)
            .order_by(cards.c.state, cards.c.position))


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
    from govern.config import Config
    from govern.db import Database, StatementCounter
    from govern.web.board import BOARD_CAP

    recreate_database(args.database_url)
    db = Database(args.database_url)
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
        query = bare_cards_query(BOARD_CAP, subtree_ids(db, args.journey) if args.journey else None)

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
    print(f"  board: {counter.count} SQL statements; bare SELECT: 1")
    print(f"Ratio board p95 / bare SELECT p95: {ratio:.1f}x (goal <= 3x) -> {'ok' if ratio <= 3 else 'OVER'}")
    if args.profile:
        for order, title in (("tottime", "own time"), ("cumulative", "cumulative time")):
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(25)
            print(f"\ncProfile of 3 board requests, top 25 by {title}:")
            print("\n".join(line for line in out.getvalue().splitlines()[6:] if line.strip()))


if __name__ == "__main__":
    main()
