"""Benchmark: SQL statements per use case and per page, on the example organisation and on 10,000 opportunities.

Statements are counted with a SQLAlchemy `before_cursor_execute` listener on the engine (`govern.db.StatementCounter`);
transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE) is not counted. A use case is one service call with
an actor already loaded; a page is one whole HTTP request through the Flask test client (signing-in cookie or bearer
token checked, actor loaded, page read and rendered), so it counts everything a server would do. The API rows are a
bearer token's steady state: a warm-up request first takes the token's once-a-minute last-use UPDATE.

The two data sets:
- the example organisation (Telco Nova, 12 opportunities), loaded through the services (`govern init --example`);
- the same plus bulk rows up to 10,000 opportunities: 20,000 insights on random steps, 3 insights per opportunity,
  1–2 journeys each, every scoring input, the "create" history row, and 200 pending approval requests. The bulk rows are
  written with core `INSERT`s (executemany) for volume: they are plain data of the shapes the services write, and the
  measured use cases and pages then run through the real services and HTTP entry points on top of them.

Budgets (issue 16): request_transition <= 10, approve_request <= 12, record_evidence <= 8, board <= 15, opportunity page
<= 20, evidence list <= 15 (a page of 25-100 insights, whatever the total), any API list page <= 6, and the same count
at 10,000 as at 12.

    python bench/queries.py [--opportunities 10000] [--database-url postgresql+psycopg://postgres@127.0.0.1/govern_bench]
    python bench/queries.py --show "board (lead)"     # also print the statements of one row, to see what ran

Without --database-url a temporary SQLite file is used; with one, the database must be empty (it is upgraded).
"""

from __future__ import annotations

import argparse
import os
import datetime as dt
import random
import re
import sys
import tempfile
import time
from pathlib import Path

# bench/transitions.py is named like the `transitions` library: take bench/ off the path so the library is found.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import sqlalchemy as sa  # noqa: E402

from govern.cli.support import DEMO_PASSWORD  # noqa: E402
from govern.settings import Config  # noqa: E402
from govern.bootstrap import bootstrap  # noqa: E402
from govern.db import Database, StatementCounter  # noqa: E402
from govern.model import (  # noqa: E402
    ApprovalRequest, Insight, Journey, Opportunity, OpportunityTransition, Person, ScoreInput, Step, insight_step,
    opportunity_insight, opportunity_journey, utcnow,
)
from govern.policy import Actor  # noqa: E402

BUDGETS = {
    "request_transition (asks approval)": 10, "request_transition (moves now)": 10,
    "approve_request (completes, moves)": 12, "record_evidence (2 steps)": 8,
    "board (lead)": 15, "board (supporter)": 15, "opportunity page": 20, "evidence list": 15,
    "API GET /opportunities": 6, "API GET /insights": 6, "API GET /approvals": 6, "API GET /journeys": 6,
    "API GET /approvals/awaiting": 6,
}
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
PENDING_REQUESTS = 200


# --- data ---------------------------------------------------------------------------------------------------------------


def load_example(db: Database) -> None:
    """The example organisation through the services, with the demo password for every person."""
    from govern.orgfile.load import load_example as load
    from govern.services.people import set_password

    operator = Actor.system_actor("bench")
    with db.session_scope() as s:
        load(s, operator)
        for handle in s.scalars(sa.select(Person.handle)).all():
            set_password(s, operator, handle, DEMO_PASSWORD, commit=False)
        s.commit()


def add_bulk(db: Database, total: int, seed: int = 16) -> None:
    """Core INSERTs up to `total` opportunities (see the module docstring for what is added)."""
    rng = random.Random(seed)
    now = utcnow()
    with db.engine.begin() as conn:
        journeys = list(conn.scalars(sa.select(Journey.id)))
        steps = list(conn.scalars(sa.select(Step.id)))
        people = dict(conn.execute(sa.select(Person.handle, Person.id)).all())
        first_opp = (conn.scalar(sa.select(sa.func.max(Opportunity.number))) or 0) + 1
        first_ins = (conn.scalar(sa.select(sa.func.max(Insight.number))) or 0) + 1
        n_opps = total - first_opp + 1
        if n_opps <= 0:
            return
        n_insights = 2 * n_opps
        owners = [people[h] for h in ("lotte", "femke", "sam", "noah", "marco")]
        conn.execute(sa.insert(Insight), [
            {"number": first_ins + i, "text": f"bulk insight {i}", "source": f"source {i % 7}", "kind": "ticket",
             "observed_on": dt.date(2026, 1, 1) + dt.timedelta(days=i % 300), "created_at": now}
            for i in range(n_insights)])
        insight_ids = list(conn.scalars(sa.select(Insight.id).where(Insight.number >= first_ins)))
        conn.execute(sa.insert(insight_step), [{"insight_id": i, "step_id": rng.choice(steps)} for i in insight_ids])
        conn.execute(sa.insert(Opportunity), [
            {"number": first_opp + n, "title": f"How might we do bulk thing {n}?", "description": "",
             "lifecycle": "default", "state": rng.choice(("research", "research", "prioritise", "implement", "parked")),
             "owner_id": rng.choice(owners), "created_at": now, "updated_at": now, "state_changed_at": now,
             "version": 1} for n in range(n_opps)])
        opp_rows = conn.execute(sa.select(Opportunity.id, Opportunity.state)
                                .where(Opportunity.number >= first_opp)).all()
        links_j, links_i, inputs, history = [], [], [], []
        for oid, state in opp_rows:
            for jid in rng.sample(journeys, rng.choice((1, 2))):
                links_j.append({"opportunity_id": oid, "journey_id": jid})
            for iid in rng.sample(insight_ids, 3):
                links_i.append({"opportunity_id": oid, "insight_id": iid})
            for name, value in (("reach", rng.randint(100, 50000)), ("impact", rng.choice((0.5, 1, 2, 3))),
                                ("confidence", rng.choice((50, 80, 100))), ("effort", rng.randint(1, 8)),
                                ("customer_need", rng.randint(1, 10)), ("business_value", rng.randint(1, 10))):
                inputs.append({"opportunity_id": oid, "name": name, "value": float(value), "recorded_at": now})
            history.append({"opportunity_id": oid, "trigger": "create", "to_state": state, "at": now})
        conn.execute(sa.insert(opportunity_journey), links_j)
        conn.execute(sa.insert(opportunity_insight), links_i)
        conn.execute(sa.insert(ScoreInput), inputs)
        conn.execute(sa.insert(OpportunityTransition), history)
        research = [oid for oid, state in opp_rows if state == "research"][:PENDING_REQUESTS]
        conn.execute(sa.insert(ApprovalRequest), [
            {"opportunity_id": oid, "trigger": "prioritise", "from_state": "research", "to_state": "prioritise",
             "requested_by_id": people["lotte"], "rule": {"role": "lead"}, "status": "pending", "created_at": now,
             "version": 1} for oid in research])
    from govern.services.summary import refresh_evidence_summary, refresh_recorded_inputs

    from govern.workflows.services import approval_contexts, approvers_snapshot

    with db.session_scope() as s:
        refresh_evidence_summary(s, everything=True)  # the links above were bulk-inserted
        refresh_recorded_inputs(s, everything=True)  # and the scoring inputs
        # A request stores the approvers fixed when it is made (as request_transition does).
        requests = s.scalars(sa.select(ApprovalRequest).where(ApprovalRequest.approvers.is_(None))).all()
        for r, ctx in zip(requests, approval_contexts(s, [(r.opportunity, r.requested_by_id, r.rule)
                                                          for r in requests])):
            r.approvers = approvers_snapshot(ctx)
        s.commit()
    if db.is_sqlite:
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    elif db.is_postgres:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


# --- measuring ----------------------------------------------------------------------------------------------------------


class Browser:
    """A signed-in test client (cookie session + CSRF token), as a council member's browser."""

    def __init__(self, app, handle: str):
        self.client = app.test_client()
        page = self.client.get("/login").get_data(as_text=True)
        token = TOKEN.search(page).group(1)
        response = self.client.post("/login", data={"handle": handle, "password": DEMO_PASSWORD, "csrf_token": token})
        assert response.status_code == 302, f"could not sign in as {handle}"
        self.client.get("/evidence?bench-warm=1")

    def get(self, path: str) -> int:
        return self.client.get(path).status_code


def measure(db: Database, app, show: str | None = None) -> dict[str, int]:
    """Run every use case and page once, in a fixed order, and count the statements of each."""
    from govern.services.common import load_actor
    from govern.services.evidence import record_evidence
    from govern.services.opportunities import create_opportunity
    from govern.services.people import create_token
    from govern.workflows import services as lifecycle

    counts: dict[str, int] = {}

    def count(label: str, fn):
        wanted = bool(show and label in show)
        with StatementCounter(db.engine, where=wanted) as counter:
            result = fn()
        counts[label] = counter.count
        if wanted:
            width = int(os.environ.get("SQL_WIDTH", "160"))  # how much of each statement to print
            print(f"--- {label}: {counter.count} statements")
            for n, (statement, where) in enumerate(zip(counter.statements, counter.origins), 1):
                print(f"{n:3}. {' '.join(statement.split())[:width]}\n       from {where}")
        return result

    with db.session_scope() as s:
        actors = {h: load_actor(s, h) for h in ("ana", "lotte", "sam", "priya")}
        token = create_token(s, actors["ana"], "bench").secret
        # Fresh opportunities like OPP-1 (backed by evidence from two journeys) and OPP-8, made through the service,
        # so that every round makes the same moves on the same shape of data.
        model = s.scalar(sa.select(Opportunity).where(Opportunity.number == 1))
        opp1 = create_opportunity(s, actors["lotte"], title="How might we bench the request?",
                                  journeys=[j.key for j in model.journeys], insights=[i.key for i in model.insights],
                                  owner="lotte").id
        parkable = create_opportunity(s, actors["sam"], title="How might we bench the move?",
                                      journeys=["moving-house"], owner="sam").id
        # One request that stays pending while the pages are measured, so that the example's pages show an awaiting
        # badge and pending requests as the big data set's do: the columns then differ only in the number of rows.
        waiting = create_opportunity(s, actors["lotte"], title="How might we bench the waiting?",
                                     journeys=[j.key for j in model.journeys], insights=[i.key for i in model.insights],
                                     owner="lotte").id
        assert lifecycle.request_transition(s, actors["lotte"], waiting, "prioritise").request is not None

    with db.session_scope() as s:
        result = count("request_transition (asks approval)",
                       lambda: lifecycle.request_transition(s, actors["lotte"], opp1, "prioritise"))
        assert result.request is not None and not result.moved, result.message
        request_id = result.request.id

    lead, supporter = Browser(app, "ana"), Browser(app, "priya")
    count("approvals inbox (lead)", lambda: lead.get("/approvals"))

    with db.session_scope() as s:
        result = count("approve_request (completes, moves)",
                       lambda: lifecycle.approve_request(s, actors["ana"], request_id))
        assert result.moved, result.message
    with db.session_scope() as s:
        result = count("request_transition (moves now)",
                       lambda: lifecycle.request_transition(s, actors["sam"], parkable, "park", reason="bench"))
        assert result.moved, result.message
    with db.session_scope() as s:
        count("record_evidence (2 steps)", lambda: record_evidence(
            s, actors["lotte"], text="Porting took 9 days", source="bench tickets", kind="ticket",
            steps=["switching-providers/port-number", "moving-house/port-number"]))

    count("board (lead)", lambda: lead.get("/board"))
    count("board (supporter)", lambda: supporter.get("/board"))
    count("opportunity page", lambda: lead.get("/opportunities/OPP-1"))
    count("evidence list", lambda: lead.get("/evidence"))
    count("journey page", lambda: lead.get("/journeys/switching-providers"))
    api = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    # Steady state: a token's first use in a minute also records its last use (an UPDATE), as its first request of
    # the day would; this warm-up request takes that write, so the counts below are those of every further request.
    assert api.get("/api/v1/journeys?page_size=1", headers=headers).status_code == 200
    for path in ("/opportunities", "/insights", "/approvals", "/journeys"):
        count(f"API GET {path}", lambda path=path: api.get(f"/api/v1{path}", headers=headers).status_code)
    count("API GET /approvals/awaiting", lambda: api.get("/api/v1/approvals/awaiting", headers=headers).status_code)
    return counts


def run(url: str, opportunities: int, show: str | None, tmp: Path) -> tuple[dict[str, int], dict[str, int]]:
    from govern.app import create_app

    db = bootstrap(Database(url))
    db.upgrade()
    load_example(db)
    config = Config(database_url=url, instance_path=tmp / "instance", secret_key="bench-secret", testing=True,
                    run_scheduler=False, run_worker=False)
    app = create_app(config, db=db)
    small = measure(db, app, show)
    start = time.perf_counter()
    add_bulk(db, opportunities)
    print(f"(bulk rows up to {opportunities:,} opportunities written with core INSERTs in "
          f"{time.perf_counter() - start:.1f} s)")
    big = measure(db, app, show)
    db.dispose()
    return small, big


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=int, default=10_000)
    parser.add_argument("--database-url", help="an empty database to use instead of a temporary SQLite file")
    parser.add_argument("--show", action="append", help="print the statements of this row (e.g. 'board (lead)'); repeatable")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        start = time.perf_counter()
        small, big = run(url, args.opportunities, args.show, Path(tmp))
        elapsed = time.perf_counter() - start
    dialect = sa.engine.make_url(url).get_backend_name()
    print(f"SQL statements per use case and page on {dialect} (transaction control not counted):")
    print(f"  {'':38} {'example (12)':>13} {f'{args.opportunities:,}':>10} {'budget':>7}  verdict")
    failed = 0
    for label in small:
        budget = BUDGETS.get(label)
        same = small[label] == big[label]
        ok = same and (budget is None or big[label] <= budget)
        failed += not ok
        verdict = ("ok" if ok else "OVER BUDGET" if budget is not None and big[label] > budget
                   else "grows with rows")
        print(f"  {label:38} {small[label]:13} {big[label]:10} {budget if budget is not None else '-':>7}  {verdict}")
    print(f"{len(small) - failed} of {len(small)} within budget and independent of rows ({elapsed:.0f} s in all)")


if __name__ == "__main__":
    main()
