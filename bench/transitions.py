"""Benchmark for the lifecycle engine (issue 3, issue 16), printing ratios against baselines measured in the same run.

1. Throughput: N lifecycle transitions on SQLite, one transaction each, through the engine: the caller's rights read
   (`load_actor`, as every entry point does per request), then `workflows.services.request_transition` (the guards'
   facts from the database, the shared machine, history row, notify effect in the outbox, hash-chained audit event).
   Against hand-written SQL doing *the same reads and writes* on a copy of the same database (see `raw_transition`):
   the caller's person row and seats; the settings the decision depends on (applied lifecycle, journey-breadth rule,
   scoring model, vocabulary); the opportunity with its journeys; the guards' facts (evidence summary and nested
   journeys forward; solution counts and scoring inputs back) with the pending-request check and the audit chain's
   head in the same statement; then the versioned state update, the history row, the outbox message (same payload)
   and the audit event chained with the same canonical hashing (`audit.verify` checks both chains). The hand-written
   side knows the lifecycle, its guards and their words as code; the engine reads them from configuration.
   Statements per transition (BEGIN/COMMIT not counted) are printed for both sides. The goal (engine at least half
   of hand-written SQL) is against the same SQL through the same SQLAlchemy engine (same driver, pragmas, BEGIN
   IMMEDIATE); the bare sqlite3 module is printed as the floor.
2. Memory: R opportunities moved through the one shared machine versus a `transitions.Machine` per row (the pattern
   the transitions FAQ warns about), both with the same guards as conditions; time and peak memory via tracemalloc.
   Goal: at least 10x less memory.

The machine is shared: compare CPU ratios when wall time is inflated by other work.
Run: `.venv/bin/python bench/transitions.py [--transitions 10000] [--rows 100000] [--database-url URL]`. The ratios are printed last.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
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

from govern.bootstrap import bootstrap  # noqa: E402
from govern.db import AUDIT_CHAIN_LOCK, Database  # noqa: E402
from govern.model import (  # noqa: E402
    CouncilSeat, Insight, Journey, Opportunity, OpportunityTransition, Person, ScoreInput, Solution, Step,
    insight_step, opportunity_insight, opportunity_journey, utcnow,
)
from govern.services.common import load_actor, put_setting  # noqa: E402
from govern.services.summary import refresh_evidence_summary, refresh_recorded_inputs  # noqa: E402
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
BENCH_DIGEST = resolve_lifecycle(BENCH_LIFECYCLE)["digest"]


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
        refresh_recorded_inputs(s, everything=True)  # and the scoring inputs
        s.commit()


def check_moved(db: Database, count: int) -> None:
    """Both sides did the work: every transition is in the history and the audit chain verifies."""
    from govern import audit

    with db.session_scope() as s:
        assert audit.verify(s).ok
        moved = s.scalar(sa.select(sa.func.count()).select_from(OpportunityTransition)
                         .where(OpportunityTransition.trigger != "create"))
        assert moved == count, (moved, count)


def plan(count: int) -> list[tuple[int, str, str, str]]:
    """(opportunity id, trigger, from, to) for `count` transitions, round-robin over the opportunities."""
    out = []
    for i in range(count):
        oid = i % OPPORTUNITIES + 1
        forward = (i // OPPORTUNITIES) % 2 == 0
        out.append((oid, "prioritise", "research", "prioritise") if forward
                   else (oid, "research_again", "prioritise", "research"))
    return out


ACTOR = "lotte"


def run_engine(db: Database, steps: list[tuple[int, str, str, str]]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, statements) for the steps through the services, one session and transaction each:
    the caller's rights are read in each (as every entry point does per request), then `request_transition`."""
    statements = _StatementCounter(db.engine)
    start, cpu = time.perf_counter(), time.process_time()
    with statements:
        for oid, trigger, _, _ in steps:
            with db.session_scope() as s:
                services.request_transition(s, load_actor(s, ACTOR), oid, trigger)
    return time.perf_counter() - start, time.process_time() - cpu, statements.count


class _StatementCounter:
    """Statements sent to the database while active, transaction control (BEGIN, COMMIT) not counted."""

    def __init__(self, engine: sa.Engine):
        self.engine, self.count = engine, 0

    def _count(self, _conn, _cursor, statement, *_args) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            self.count += 1

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *_exc) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._count)


# --- the hand-written baseline ----------------------------------------------------------------------------------------
#
# "The same reads and writes" as `request_transition` needs to make the same decision for this lifecycle, written by
# hand for it (the lifecycle, its guards and their words are code here, not configuration), in one transaction:
#   reads:  the caller's person row and council seats (the rights: may they request transitions on its journeys?);
#           the settings the decision depends on (the applied lifecycle, how journey breadth is counted, the scoring
#           model, the vocabulary); the opportunity with its journeys (state, version, owner, journey owners);
#           the guards' facts in one statement (the evidence summary and the nested-journey count for the evidence
#           guards; solution counts and the recorded scoring inputs for the way back), with the pending-request
#           check and the audit chain's head riding along (PostgreSQL: the chain's advisory lock first);
#   writes: the versioned state update (a concurrent move is refused, not lost), the history row, the notification
#           in the outbox (same payload and dedupe key), the audit event chained on the head (same canonical hashing,
#           so `audit.verify` accepts the chain the baseline wrote).
# Transaction control is not counted as a statement, on either side.

MAY_REQUEST = {"admin", "lead", "manager"}  # unscoped; coordinators and owners on their journeys (policy.py)
SCOPED_MAY_REQUEST = {"coordinator", "owner"}
RICE = ("reach", "impact", "confidence", "effort")
PENDING = "(SELECT id FROM approval_request WHERE opportunity_id = :id AND status = 'pending' ORDER BY id LIMIT 1)"
HEAD = "(SELECT id FROM audit_event ORDER BY id DESC LIMIT 1), (SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1)"
EVIDENCE_FACTS = (
    "SELECT s.insight_count, s.journey_count, s.unlinked_count, (WITH RECURSIVE ancestry(start, up) AS ("
    "SELECT j.id, j.parent_id FROM journey j WHERE j.id IN (SELECT st.journey_id FROM insight_step i "
    "JOIN step st ON st.id = i.step_id WHERE i.insight_id IN (SELECT insight_id FROM opportunity_insight "
    "WHERE opportunity_id = :id)) UNION ALL SELECT a.start, p.parent_id FROM ancestry a JOIN journey p ON p.id = a.up) "
    "SELECT count(DISTINCT start) FROM ancestry WHERE up IN (SELECT st.journey_id FROM insight_step i JOIN step st ON "
    "st.id = i.step_id WHERE i.insight_id IN (SELECT insight_id FROM opportunity_insight WHERE opportunity_id = :id))), "
    f"{PENDING}, {{head}} FROM (SELECT CAST(:id AS INTEGER) AS id) o LEFT JOIN evidence_summary s "
    "ON s.opportunity_id = o.id")
SOLUTION_FACTS = (
    "SELECT (SELECT count(*) FROM solution WHERE opportunity_id = :id), "
    "(SELECT count(*) FROM solution WHERE opportunity_id = :id AND state = 'done'), "
    "(SELECT count(DISTINCT name) FROM score_input WHERE opportunity_id = :id "
    f"AND name IN ('reach', 'impact', 'confidence', 'effort')), {PENDING}, {{head}}")
# SQLite: the write lock is held from BEGIN IMMEDIATE, so the chain's head rides along the facts. PostgreSQL: the head
# is read after the chain's advisory lock, taken after the row's (the versioned UPDATE), as the engine orders them.
FACTS = {(kind, postgres): sql.format(head="NULL, NULL" if postgres else HEAD)
         for kind, sql in (("evidence", EVIDENCE_FACTS), ("solutions", SOLUTION_FACTS)) for postgres in (False, True)}


def _evidence_guards(row, owner_id) -> list[dict]:
    evidence, journeys, unlinked, nested = row[0] or 0, row[1] or 0, row[2] or 0, row[3] or 0
    journeys = max(0, journeys - nested)
    guards = [
        {"guard": "has_evidence", "ok": evidence >= 2, "params": {"min": 2},
         "message": f"has {evidence} pieces of evidence (needs 2)" if evidence >= 2
         else f"needs 2 pieces of evidence, has {evidence}"},
        {"guard": "evidence_across_journeys", "ok": journeys >= 2, "params": {"min": 2},
         "message": f"has evidence from {journeys} journeys (needs 2)" if journeys >= 2
         else f"needs evidence from 2 journeys, has evidence from {journeys}" + (
             f" ({unlinked} insights are not linked to any step yet, so counted for no journey)" if unlinked else "")},
        {"guard": "has_owner", "ok": owner_id is not None, "params": {},
         "message": "has an owner" if owner_id is not None else "needs an owner"}]
    return guards


def _way_back_guards(execute, oid: int, row) -> list[dict]:
    solutions, missing = row[0] or 0, []
    if row[2] != len(RICE):  # which are missing, for the refusal's words (never in this bench)
        recorded = {name for name, in execute("SELECT name FROM score_input WHERE opportunity_id = :id", {"id": oid})}
        missing = [name for name in RICE if name not in recorded]
    return [
        {"guard": "has_score", "ok": not missing, "params": {},
         "message": "has every scoring input" if not missing
         else "needs a score: missing scoring inputs " + ", ".join(missing)},
        {"guard": "has_solution", "ok": solutions >= 1, "params": {"min": 1},
         "message": f"has {solutions} solutions (needs 1)" if solutions >= 1 else f"needs 1 solution, has {solutions}"}]


def _canonical_hash(body) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
                          ).hexdigest()


def raw_transition(execute, oid: int, trigger: str, handle: str, postgres: bool = False) -> None:
    """One transition by hand: the reads that decide it, then the writes (see the block comment above)."""
    seats = execute("SELECT p.id, p.active, s.role, s.journey_id FROM person p LEFT JOIN council_seat s "
                    "ON s.person_id = p.id WHERE p.handle = :handle", {"handle": handle}).fetchall()
    person_id, active = seats[0][0], seats[0][1]
    settings = {key: (json.loads(value) if isinstance(value, str) else value) for key, value in execute(
        "SELECT key, value FROM setting WHERE key IN ('lifecycle.current', 'evidence', 'scoring', 'words')", {})}
    lifecycle = settings["lifecycle.current"]
    assert lifecycle["name"] == "bench_loop" and lifecycle["digest"] == BENCH_DIGEST, "written for this lifecycle"
    assert (settings.get("evidence") or {}).get("journey_breadth", "independent") == "independent"
    assert not (settings.get("scoring") or {}).get("models"), "written for the default model (RICE)"
    rows = execute("SELECT o.number, o.title, o.state, o.owner_id, o.version, j.id, j.key, j.owner_id, j.scoring_model "
                   "FROM opportunity o LEFT JOIN opportunity_journey oj ON oj.opportunity_id = o.id "
                   "LEFT JOIN journey j ON j.id = oj.journey_id WHERE o.id = :id ORDER BY j.id", {"id": oid}).fetchall()
    number, title, src, owner_id, version = rows[0][:5]
    journeys = [r[6] for r in rows if r[5] is not None]
    assert not any(r[8] for r in rows), "written for the default model (RICE)"
    roles = {role for _, _, role, scope in seats if role and scope is None}
    owns_all = all(r[7] == person_id for r in rows)
    assert active and (roles & MAY_REQUEST or owns_all), f"{handle} may not request transitions here"
    if trigger == "prioritise" and src == "research":
        dest = "prioritise"
        facts = execute(FACTS["evidence", postgres], {"id": oid}).fetchone()
        guards = _evidence_guards(facts, owner_id)
        pending, head_id, head_hash = facts[4], facts[5], facts[6]
    elif trigger == "research_again" and src == "prioritise":
        dest = "research"
        facts = execute(FACTS["solutions", postgres], {"id": oid}).fetchone()
        guards = _way_back_guards(execute, oid, facts)
        pending, head_id, head_hash = facts[3], facts[4], facts[5]
    else:
        raise AssertionError(f"cannot {trigger} from {src}")
    assert all(g["ok"] for g in guards), guards
    now = utcnow()
    at = now if postgres else now.strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores it on SQLite
    updated = execute("UPDATE opportunity SET state = :dest, state_changed_at = :now, updated_at = :now, "
                      "version = :new WHERE id = :id AND version = :old",
                      {"dest": dest, "now": at, "new": version + 1, "id": oid, "old": version})
    assert updated.rowcount == 1, "moved by someone else meanwhile"
    if pending is not None:
        raise AssertionError("the bench lifecycle has no approvals: nothing is ever pending")
    key = f"OPP-{number}"
    tid = execute("INSERT INTO opportunity_transition (opportunity_id, trigger, from_state, to_state, actor_id, at) "
                  "VALUES (:id, :trigger, :src, :dest, :actor, :now) RETURNING id",
                  {"id": oid, "trigger": trigger, "src": src, "dest": dest, "actor": person_id, "now": at}).fetchone()[0]
    payload = {"about": {"opportunity": key, "title": title, "journeys": journeys},
               "audience": {"journeys": journeys, "channels": [], "people": [], "council": False},
               "facts": {"from": src, "to": dest, "trigger": trigger, "actor": handle, "reason": None, "message": None,
                         "transition_id": tid}}
    message_id = execute(
        "INSERT INTO outbox_message (topic, kind, payload, dedupe_key, status, attempts, next_attempt_at, created_at) "
        "VALUES ('notifications', 'opportunity.moved', :payload, :key, 'pending', 0, :now, :now) "
        "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        {"payload": json.dumps(payload), "key": f"transition:{tid}:notify:journey", "now": at}).fetchone()[0]
    before = {"state": src, "version": version}
    after = {"state": dest, "trigger": trigger, "guards": guards, "approval_request": None,
             "effects": [{"effect": "notify", "channel": "journey", "outbox": message_id}], "superseded": []}
    digest = _canonical_hash({"before": before, "after": after, "reason": None})
    if postgres:
        execute("SELECT pg_advisory_xact_lock(:k)", {"k": AUDIT_CHAIN_LOCK})
        head_id, head_hash = execute("SELECT id, hash FROM audit_event ORDER BY id DESC LIMIT 1", {}).fetchone() or (
            None, None)
    event_id, prev = (head_id or 0) + 1, head_hash or "0" * 64
    event_hash = _canonical_hash({"id": event_id, "at": now.isoformat(timespec="microseconds"), "actor": handle,
                                  "action": "opportunity.transitioned", "entity_type": "opportunity",
                                  "entity_id": key, "payload_digest": digest, "prev_hash": prev})
    execute("INSERT INTO audit_event (id, at, actor, action, entity_type, entity_id, before, after, reason, prev_hash, "
            "hash, payload_digest) VALUES (:id, :now, :actor, 'opportunity.transitioned', 'opportunity', :key, "
            ":before, :after, NULL, :prev, :hash, :digest)",
            {"id": event_id, "now": at, "actor": handle, "key": key, "before": json.dumps(before),
             "after": json.dumps(after), "prev": prev, "hash": event_hash, "digest": digest})


class _CountingExecute:
    """Wraps an execute function, counting the statements it sends."""

    def __init__(self, execute):
        self.execute, self.count = execute, 0

    def __call__(self, sql: str, params: dict):
        self.count += 1
        return self.execute(sql, params)


def run_raw_sqlalchemy(db: Database, steps: list[tuple[int, str, str, str]]) -> tuple[float, float, int]:
    """The hand-written SQL as text through the same engine (same driver, pragmas, BEGIN IMMEDIATE), one transaction
    each."""
    postgres = db.engine.dialect.name == "postgresql"
    start, cpu = time.perf_counter(), time.process_time()
    with db.engine.connect() as conn:
        execute = _CountingExecute(lambda sql, params: conn.execute(sa.text(sql), params))
        for oid, trigger, _, _ in steps:
            with conn.begin():
                raw_transition(execute, oid, trigger, ACTOR, postgres)
    return time.perf_counter() - start, time.process_time() - cpu, execute.count


def run_raw_sqlite3(path: Path, steps: list[tuple[int, str, str, str]]) -> tuple[float, float, int]:
    """The same statements straight through the sqlite3 module: the floor."""
    conn = sqlite3.connect(path, isolation_level=None)
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    execute = _CountingExecute(conn.execute)
    start, cpu = time.perf_counter(), time.process_time()
    for oid, trigger, _, _ in steps:
        conn.execute("BEGIN IMMEDIATE")
        raw_transition(execute, oid, trigger, ACTOR)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start, time.process_time() - cpu, execute.count
    conn.close()
    return elapsed


def run_raw_psycopg(url: str, steps: list[tuple[int, str, str, str]]) -> tuple[float, float, int]:
    """The same statements straight through psycopg on PostgreSQL (`:name` parameters as `%(name)s`): the floor."""
    import psycopg

    conn = psycopg.connect(sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                           autocommit=True)
    execute = _CountingExecute(lambda sql, params: conn.execute(_PARAM.sub(r"%(\1)s", sql), params))
    start, cpu = time.perf_counter(), time.process_time()
    for oid, trigger, _, _ in steps:
        with conn.transaction():
            raw_transition(execute, oid, trigger, ACTOR, postgres=True)
    elapsed = time.perf_counter() - start, time.process_time() - cpu, execute.count
    conn.close()
    return elapsed


_PARAM = re.compile(r"(?<![:\w]):(\w+)")


def fresh_postgres(url: str) -> Database:
    """The bench's PostgreSQL database emptied (its public schema dropped), migrated and seeded."""
    db = bootstrap(Database(url))
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    db.upgrade()
    seed(db)
    return db


def run_postgres(url: str, steps: list[tuple[int, str, str, str]]) -> list[tuple[str, float, float, int]]:
    """The three sides on PostgreSQL, each on the database freshly seeded."""
    out = []
    for label, run in (
            ("engine: rights, services, guards from the database, shared machine, history, outbox, audit",
             lambda db: run_engine(db, steps)),
            ("hand-written SQL, the same reads and writes, through the same SQLAlchemy engine",
             lambda db: run_raw_sqlalchemy(db, steps)),
            ("hand-written SQL, the same reads and writes, straight through psycopg",
             lambda db: run_raw_psycopg(url, steps))):
        db = fresh_postgres(url)
        wall, cpu, count = run(db)
        check_moved(db, len(steps))
        db.dispose()
        out.append((label, wall, cpu, count))
    return out


def report(title: str, n: int, sides: list[tuple[str, float, float, int]]) -> None:
    print(f"transitions on {title} ({n:,}, one transaction each, {OPPORTUNITIES:,} opportunities; statements per "
          "transition without BEGIN/COMMIT, half forward (evidence guards), half back (score, solutions)):")
    for label, wall, cpu, count in sides:
        print(f"  {label}:\n    {wall:7.2f} s wall ({n / wall:6.0f}/s), {cpu:7.2f} s CPU ({n / cpu:6.0f}/s), "
              f"{count / n:4.1f} statements per transition")


def ratios(title: str, floor: str, n: int, sides: list[tuple[str, float, float, int]]) -> None:
    (_, engine_s, engine_cpu, engine_n), (_, raw_s, raw_cpu, raw_n), (_, floor_s, floor_cpu, _) = sides
    print(f"  {title}: engine / hand-written SQL (same engine) throughput: {raw_s / engine_s:.2f} wall, "
          f"{raw_cpu / engine_cpu:.2f} CPU (goal >= 0.50); statements {engine_n / n:.1f} vs {raw_n / n:.1f}")
    print(f"  {title}: engine / hand-written SQL ({floor}) throughput: {floor_s / engine_s:.2f} wall, "
          f"{floor_cpu / engine_cpu:.2f} CPU")


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
    parser.add_argument("--database-url", help="also on PostgreSQL, in this database (postgresql+psycopg://...), which "
                        "the bench empties: its public schema is dropped")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="govern-bench-"))
    try:
        engine_path, raw_path, floor_path = work / "engine.db", work / "raw.db", work / "floor.db"
        db = bootstrap(Database(f"sqlite:///{engine_path}"))
        db.upgrade()
        seed(db)
        db.dispose()
        shutil.copyfile(engine_path, raw_path)
        shutil.copyfile(engine_path, floor_path)
        steps = plan(args.transitions)

        db = bootstrap(Database(f"sqlite:///{engine_path}"))
        engine_s, engine_cpu, engine_n = run_engine(db, steps)
        check_moved(db, args.transitions)
        db.dispose()
        raw_db = bootstrap(Database(f"sqlite:///{raw_path}"))
        raw_s, raw_cpu, raw_n = run_raw_sqlalchemy(raw_db, steps)
        check_moved(raw_db, args.transitions)
        raw_db.dispose()
        floor_s, floor_cpu, floor_n = run_raw_sqlite3(floor_path, steps)
        sqlite_sides = [
            ("engine: rights, services, guards from the database, shared machine, history, outbox, audit",
             engine_s, engine_cpu, engine_n),
            ("hand-written SQL, the same reads and writes, through the same SQLAlchemy engine", raw_s, raw_cpu, raw_n),
            ("hand-written SQL, the same reads and writes, straight through sqlite3", floor_s, floor_cpu, floor_n)]
        report("SQLite", args.transitions, sqlite_sides)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    pg_sides = []
    if args.database_url:
        pg_sides = run_postgres(args.database_url, plan(args.transitions))
        report("PostgreSQL", args.transitions, pg_sides)

    lifecycle = Lifecycle(parse_definition(BENCH_LIFECYCLE))
    facts = OpportunityFacts(owner_id=1, evidence_count=3, evidence_journey_count=2, solution_count=2)
    shared_s, shared_peak = memory_shared(lifecycle, args.rows, facts)
    per_row_s, per_row_peak = memory_per_row(lifecycle, args.rows, facts)
    print(f"{args.rows:,} opportunities moved once each (tracemalloc on for both):")
    print(f"  one shared machine:  {shared_s:8.2f} s  peak {shared_peak / 2**20:9.1f} MiB")
    print(f"  a Machine per row:   {per_row_s:8.2f} s  peak {per_row_peak / 2**20:9.1f} MiB")
    print("ratios:")
    ratios("SQLite", "sqlite3", args.transitions, sqlite_sides)
    if pg_sides:
        ratios("PostgreSQL", "psycopg", args.transitions, pg_sides)
    print(f"  memory, Machine per row / shared machine: {per_row_peak / shared_peak:.1f}x (goal >= 10x)")
    print(f"  time, Machine per row / shared machine:   {per_row_s / shared_s:.1f}x")

if __name__ == "__main__":
    main()
