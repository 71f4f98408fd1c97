"""Benchmark for the lifecycle engine (issue 3), printing ratios against baselines measured in the same run.

1. Throughput: N lifecycle transitions through `workflows.services.request_transition` (guards evaluated from the
   database, the shared machine, history row, notify effect in the outbox, hash-chained audit event; one transaction
   each) on SQLite, against raw SQL (sqlite3) making the same writes in the same number of transactions on a copy of the
   same database. Goal: the engine reaches at least half of raw.
2. Memory: R opportunities moved through the one shared machine versus a `transitions.Machine` per row (the pattern
   the transitions FAQ warns about), both with the same guards as conditions; time and peak memory via tracemalloc.
   Goal: at least 10x less memory.

Run: `.venv/bin/python bench/transitions.py [--transitions 10000] [--rows 100000]`. The ratios are printed last.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import shutil
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import sqlalchemy as sa

# This file is named like the `transitions` library: take bench/ off the path so `import transitions` finds the library.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from govern.db import Database  # noqa: E402
from govern.model import (  # noqa: E402
    CouncilSeat, Insight, Journey, Opportunity, OpportunityTransition, Person, ScoreInput, Solution, Step,
    insight_step, opportunity_insight, opportunity_journey, utcnow,
)
from govern.services.common import load_actor, put_setting  # noqa: E402
from govern.services.summary import refresh_evidence_summary  # noqa: E402
from govern.workflows import services  # noqa: E402
from govern.workflows.definition import parse_definition, resolve_lifecycle  # noqa: E402
from govern.workflows.engine import Lifecycle  # noqa: E402
from govern.workflows.guards import OpportunityFacts  # noqa: E402

# A two-state loop with guards both ways and a notify effect: every transition evaluates guards and writes an outbox
# message, a history row and an audit event, and needs no approval (approvals are measured by the tests, not here).
BENCH_LIFECYCLE = {
    "name": "bench_loop",
    "initial": "research",
    "final": ["done"],
    "states": {
        "research": {"description": "gather evidence"},
        "prioritise": {"description": "decide"},
        "done": {"description": "finished"},
    },
    "transitions": [
        {"trigger": "prioritise", "source": "research", "dest": "prioritise",
         "guards": [{"has_evidence": {"min": 2}}, {"evidence_across_journeys": {"min": 2}}, "has_owner"],
         "effects": [{"notify": {"channel": "journey"}}]},
        {"trigger": "research_again", "source": "prioritise", "dest": "research",
         "guards": ["has_score", "has_solution"], "effects": [{"notify": {"channel": "journey"}}]},
        {"trigger": "finish", "source": "prioritise", "dest": "done", "guards": ["outcome_recorded"]},
    ],
}
OPPORTUNITIES = 1000


def seed(db: Database) -> None:
    """1,000 opportunities, each backed by 3 insights on steps of 2 journeys, scored, with 2 solutions."""
    with db.session_scope() as s:
        owner = Person(handle="lotte", name="Lotte", email="lotte@example.org")
        s.add(owner)
        s.flush()
        s.add(CouncilSeat(person_id=owner.id, role="manager"))
        journeys = [Journey(key=k, name=k, level="macro", owner_id=owner.id) for k in ("switching", "moving")]
        s.add_all(journeys)
        s.flush()
        steps = [Step(journey_id=j.id, key="port", name="Port my number") for j in journeys]
        s.add_all(steps)
        s.flush()
        insights = [Insight(number=n, text=f"insight {n}", source=f"source {n % 2}", kind="ticket",
                            observed_on=dt.date(2026, 11, 1)) for n in range(1, 4)]
        s.add_all(insights)
        s.flush()
        s.execute(insight_step.insert(), [{"insight_id": i.id, "step_id": steps[n % 2].id}
                                          for n, i in enumerate(insights)])
        now = utcnow()
        s.execute(sa.insert(Opportunity), [
            {"number": n, "title": f"How might we {n}?", "lifecycle": "bench_loop", "state": "research",
             "owner_id": owner.id, "created_at": now, "updated_at": now, "state_changed_at": now, "version": 1}
            for n in range(1, OPPORTUNITIES + 1)])
        ids = list(s.scalars(sa.select(Opportunity.id).order_by(Opportunity.id)))
        s.execute(opportunity_journey.insert(), [{"opportunity_id": o, "journey_id": j.id} for o in ids for j in journeys])
        s.execute(opportunity_insight.insert(), [{"opportunity_id": o, "insight_id": i.id} for o in ids for i in insights])
        s.execute(sa.insert(ScoreInput), [{"opportunity_id": o, "name": name, "value": value, "recorded_at": now}
                                          for o in ids for name, value in
                                          (("reach", 1000), ("impact", 2), ("confidence", 80), ("effort", 2))])
        s.execute(sa.insert(Solution), [{"opportunity_id": o, "title": f"solution {k}", "state": "todo",
                                         "created_at": now, "updated_at": now} for o in ids for k in (1, 2)])
        s.execute(sa.insert(OpportunityTransition), [{"opportunity_id": o, "trigger": "create", "to_state": "research",
                                                      "at": now} for o in ids])
        put_setting(s, "lifecycle.current", resolve_lifecycle(BENCH_LIFECYCLE))
        refresh_evidence_summary(s, everything=True)  # the links above were bulk-inserted
        s.commit()


def plan(count: int) -> list[tuple[int, str, str, str]]:
    """(opportunity id, trigger, from, to) for `count` transitions, round-robin over the opportunities."""
    out = []
    for i in range(count):
        oid = i % OPPORTUNITIES + 1
        forward = (i // OPPORTUNITIES) % 2 == 0
        out.append((oid, "prioritise", "research", "prioritise") if forward
                   else (oid, "research_again", "prioritise", "research"))
    return out


def run_engine(db: Database, steps: list[tuple[int, str, str, str]]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) for the steps through the services, one session and transaction each."""
    with db.session_scope() as s:
        actor = load_actor(s, "lotte")
    start, cpu = time.perf_counter(), time.process_time()
    for oid, trigger, _, _ in steps:
        with db.session_scope() as s:
            services.request_transition(s, actor, oid, trigger)
    return time.perf_counter() - start, time.process_time() - cpu


GUARDS_JSON = [{"guard": "has_evidence", "ok": True, "message": "has 3 pieces of evidence (needs 2)",
                "params": {"min": 2}}] * 3


def _raw_writes(execute, oid: int, trigger: str, src: str, dest: str) -> None:
    """The statements of one transition written by hand: versioned update, history row, outbox, chained audit."""
    now = utcnow().isoformat(sep=" ")
    version = execute("SELECT version FROM opportunity WHERE id = :id", {"id": oid}).fetchone()[0]
    updated = execute("UPDATE opportunity SET state = :dest, state_reason = NULL, state_changed_at = :now, "
                      "updated_at = :now, version = :new WHERE id = :id AND version = :old",
                      {"dest": dest, "now": now, "new": version + 1, "id": oid, "old": version})
    assert updated.rowcount == 1
    tid = execute("INSERT INTO opportunity_transition (opportunity_id, trigger, from_state, to_state, actor_id, at) "
                  "VALUES (:id, :trigger, :src, :dest, 1, :now)",
                  {"id": oid, "trigger": trigger, "src": src, "dest": dest, "now": now}).lastrowid
    payload = json.dumps({"opportunity": f"OPP-{oid}", "from": src, "to": dest, "trigger": trigger,
                          "actor": "lotte", "journeys": ["switching", "moving"], "transition_id": tid})
    execute("INSERT INTO outbox_message (topic, kind, payload, dedupe_key, status, attempts, next_attempt_at, "
            "created_at) VALUES ('slack', 'transition', :payload, :key, 'pending', 0, :now, :now)",
            {"payload": payload, "key": f"transition:{tid}:notify:journey", "now": now})
    last = execute("SELECT id, hash FROM audit_event ORDER BY id DESC LIMIT 1", {}).fetchone()
    before, after = json.dumps({"state": src}), json.dumps({"state": dest, "guards": GUARDS_JSON})
    prev = last[1] if last else "0" * 64
    digest = hashlib.sha256(json.dumps({"before": before, "after": after, "prev": prev}, sort_keys=True).encode())
    execute("INSERT INTO audit_event (id, at, actor, action, entity_type, entity_id, before, after, reason, prev_hash, "
            "hash) VALUES (:id, :now, 'lotte', 'opportunity.transitioned', 'opportunity', :key, :before, :after, NULL, "
            ":prev, :hash)", {"id": (last[0] + 1) if last else 1, "now": now, "key": f"OPP-{oid}", "before": before,
                              "after": after, "prev": prev, "hash": digest.hexdigest()})


def run_raw_sqlalchemy(db: Database, steps: list[tuple[int, str, str, str]]) -> tuple[float, float]:
    """Raw SQL text through the same engine (same driver, pragmas, BEGIN IMMEDIATE), one transaction each."""
    start, cpu = time.perf_counter(), time.process_time()
    with db.engine.connect() as conn:
        for oid, trigger, src, dest in steps:
            with conn.begin():
                _raw_writes(lambda sql, params: conn.execute(sa.text(sql), params), oid, trigger, src, dest)
    return time.perf_counter() - start, time.process_time() - cpu


def run_raw_sqlite3(path: Path, steps: list[tuple[int, str, str, str]]) -> tuple[float, float]:
    """The same statements straight through the sqlite3 module: the floor."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    start, cpu = time.perf_counter(), time.process_time()
    for oid, trigger, src, dest in steps:
        conn.execute("BEGIN IMMEDIATE")
        _raw_writes(conn.execute, oid, trigger, src, dest)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start, time.process_time() - cpu
    conn.close()
    return elapsed


class Row:
    """What a caller holds per opportunity with the shared engine: its state column, nothing else."""

    __slots__ = ("state",)

    def __init__(self, state: str):
        self.state = state


class Model:
    """A plain model for the machine-per-row baseline (transitions binds triggers and callbacks onto it)."""

    def __init__(self, facts: OpportunityFacts):
        self.facts = facts


def memory_shared(lifecycle: Lifecycle, rows: int, facts: OpportunityFacts) -> tuple[float, int]:
    tracemalloc.start()
    start = time.perf_counter()
    held = [Row("research") for _ in range(rows)]
    for row in held:
        row.state = lifecycle.fire(row.state, "prioritise", facts)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert all(r.state == "prioritise" for r in held)
    return elapsed, peak


def memory_per_row(lifecycle: Lifecycle, rows: int, facts: OpportunityFacts) -> tuple[float, int]:
    from transitions import Machine

    from govern.workflows import guards

    d = lifecycle.definition

    def condition(name, params):
        return lambda event: guards.evaluate(name, params, event.model.facts).ok

    specs = [{"trigger": t.trigger, "source": list(t.sources), "dest": t.dest,
              "conditions": [condition(g.name, g.params) for g in t.guards]} for t in d.transitions]
    tracemalloc.start()
    start = time.perf_counter()
    held = []
    for _ in range(rows):
        model = Model(facts)
        held.append(Machine(model=model, states=list(d.states), initial="research", transitions=specs,
                            auto_transitions=False, send_event=True))
        model.prioritise()
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert all(m.model.state == "prioritise" for m in held)
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="govern-bench-"))
    try:
        engine_path, raw_path, floor_path = work / "engine.db", work / "raw.db", work / "floor.db"
        db = Database(f"sqlite:///{engine_path}")
        db.upgrade()
        seed(db)
        db.dispose()
        shutil.copyfile(engine_path, raw_path)
        shutil.copyfile(engine_path, floor_path)
        steps = plan(args.transitions)

        db = Database(f"sqlite:///{engine_path}")
        engine_s, engine_cpu = run_engine(db, steps)
        with db.session_scope() as s:
            from govern import audit

            assert audit.verify(s).ok
            moved = s.scalar(sa.select(sa.func.count()).select_from(OpportunityTransition)
                             .where(OpportunityTransition.trigger != "create"))
            assert moved == args.transitions
        db.dispose()
        raw_db = Database(f"sqlite:///{raw_path}")
        raw_s, raw_cpu = run_raw_sqlalchemy(raw_db, steps)
        raw_db.dispose()
        floor_s, floor_cpu = run_raw_sqlite3(floor_path, steps)
        n = args.transitions
        print(f"transitions on SQLite ({n:,}, one transaction each, {OPPORTUNITIES:,} opportunities):")
        for label, wall, cpu in (
                ("engine: services, guards from the database, shared machine, history, outbox, audit", engine_s,
                 engine_cpu),
                ("raw SQL, the same writes, same transactions, through the same SQLAlchemy engine", raw_s, raw_cpu),
                ("raw SQL, the same writes, same transactions, straight through sqlite3", floor_s, floor_cpu)):
            print(f"  {label}: {wall:7.2f} s wall ({n / wall:6.0f}/s), {cpu:7.2f} s CPU ({n / cpu:6.0f}/s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    lifecycle = Lifecycle(parse_definition(BENCH_LIFECYCLE))
    facts = OpportunityFacts(owner_id=1, evidence_count=3, evidence_journey_count=2, solution_count=2)
    shared_s, shared_peak = memory_shared(lifecycle, args.rows, facts)
    per_row_s, per_row_peak = memory_per_row(lifecycle, args.rows, facts)
    print(f"{args.rows:,} opportunities moved once each (tracemalloc on for both):")
    print(f"  one shared machine:  {shared_s:8.2f} s  peak {shared_peak / 2**20:9.1f} MiB")
    print(f"  a Machine per row:   {per_row_s:8.2f} s  peak {per_row_peak / 2**20:9.1f} MiB")
    print("ratios:")
    print(f"  engine / raw SQL (same engine) throughput: {raw_s / engine_s:.2f} wall, {raw_cpu / engine_cpu:.2f} CPU "
          "(goal >= 0.50)")
    print(f"  engine / raw SQL (sqlite3) throughput:     {floor_s / engine_s:.2f} wall, {floor_cpu / engine_cpu:.2f} CPU")
    print(f"  memory, Machine per row / shared machine: {per_row_peak / shared_peak:.1f}x (goal >= 10x)")
    print(f"  time, Machine per row / shared machine:   {per_row_s / shared_s:.1f}x")

if __name__ == "__main__":
    main()
