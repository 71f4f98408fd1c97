"""Benchmark: Jira calls and time to push N new solutions and to re-sync an unchanged backlog, beside a naive
one-call-per-item sync measured in the same run against the same stand-in Jira.

    python bench/jira_sync.py [--solutions 1000] [--deployment Server|Cloud]

Goals (issue 7): push ≤ ceil(N/50) + 3 calls; unchanged re-sync ≤ 1 call.
Goal (issue 15): calls to push N after a 90 s outage ≤ 2 × the clean figure (before: 134 calls for 200 solutions, 4
when clean, because per-message jitter scattered each failed batch of 50). The outage runs in simulated time: the
worker and the stand-in share a clock, and the worker's waits advance it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, bench/ comes first on the path, where bench/transitions.py would shadow the `transitions` library.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from govern.bootstrap import bootstrap  # noqa: E402
from govern.db import Database  # noqa: E402
from govern.model import Opportunity, Setting, Solution  # noqa: E402
from govern.outbox import enqueue  # noqa: E402
from govern.integrations.jira.adapter import JiraAdapter  # noqa: E402
from govern.integrations.jira.mapping import JiraMapping  # noqa: E402
from govern.integrations.jira.pull import pull  # noqa: E402
from govern.integrations.jira.push import JiraDeliverer  # noqa: E402
from tests.standins.jira import JiraStandIn  # noqa: E402
from govern.integrations.worker import OutboxWorker  # noqa: E402

MAPPING = {"project": "OPS", "issue_types": {"solution": "Epic"}, "labels": ["customer-journey"]}


def make_database(folder: Path, solutions: int, per_opportunity: int = 10) -> Database:
    db = bootstrap(Database(f"sqlite:///{folder / 'bench.db'}"))
    db.upgrade()
    with db.session_scope() as session:
        session.add(Setting(key="jira", value=MAPPING))
        for n in range(math.ceil(solutions / per_opportunity)):
            opp = Opportunity(number=n + 1, title=f"How might we improve journey step {n + 1}?", state="implement",
                              lifecycle="default")
            session.add(opp)
            session.flush()
            for m in range(min(per_opportunity, solutions - n * per_opportunity)):
                session.add(Solution(opportunity_id=opp.id, title=f"Solution {m + 1} for OPP-{n + 1}",
                                     description="Concrete work for the opportunity"))
        session.flush()
        for sid in session.scalars(sa.select(Solution.id).order_by(Solution.id)):
            enqueue(session, "jira", "create_issue", {"solution_id": sid}, dedupe_key=f"jira:create:{sid}")
        session.commit()
    return db


def ours(db: Database, standin: JiraStandIn) -> dict[str, float]:
    adapter = JiraAdapter(standin.base_url, standin.user, standin.token)
    worker = OutboxWorker(db, [JiraDeliverer(db, adapter)], name="bench")
    standin.reset_calls()
    started = time.perf_counter()
    counts = worker.drain()
    push_time = time.perf_counter() - started
    push_calls = standin.total_calls
    assert counts == {"delivered": len(standin.issues)}, counts
    standin.reset_calls()
    started = time.perf_counter()
    first = pull(db, adapter)
    first_pull_time = time.perf_counter() - started
    first_pull_calls = standin.total_calls
    standin.reset_calls()
    started = time.perf_counter()
    worker.drain()  # nothing waits in the outbox
    again = pull(db, adapter)
    resync_time = time.perf_counter() - started
    resync_calls = standin.total_calls
    assert again.updated == 0, again
    return {"push_calls": push_calls, "push_s": push_time, "first_pull_calls": first_pull_calls,
            "first_pull_s": first_pull_time, "first_pull_unchanged": first.unchanged, "resync_calls": resync_calls,
            "resync_s": resync_time, "resync_unchanged": again.unchanged}


class SimulatedClock:
    def __init__(self):
        from govern.model import utcnow

        self.at = utcnow()

    def now(self):
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += dt.timedelta(seconds=seconds)


def after_outage(folder: Path, n: int, deployment: str, outage_seconds: float, kind: str) -> dict[str, float]:
    """Push N solutions while Jira is down for `outage_seconds` (connections refused, or 503), then up again."""
    db = make_database(folder, n)
    clock = SimulatedClock()
    with JiraStandIn(deployment, clock=clock.now) as standin:
        adapter = JiraAdapter(standin.base_url, standin.user, standin.token)
        worker = OutboxWorker(db, [JiraDeliverer(db, adapter)], name="bench-outage", clock=clock.now)
        started = clock.now()
        back_at = started + dt.timedelta(seconds=outage_seconds)
        standin.start_outage(kind, until=back_at)
        standin.reset_calls()
        real = time.perf_counter()
        counts = worker.run_until_idle(sleep=clock.advance)
        assert counts.get("delivered") == n and len(standin.issues) == n, counts
        labels = [label for issue in standin.issues.values() for label in issue.labels if label.startswith("govern-sol")]
        assert len(labels) == len(set(labels)) == n  # exactly once
        return {"calls": standin.total_calls, "refused": standin.calls_refused_by_outage,
                "recovered_after_s": (clock.now() - back_at).total_seconds(), "real_s": time.perf_counter() - real}


def naive(db: Database, standin: JiraStandIn) -> dict[str, float]:
    """One create per solution, then one read per solution to see whether it changed."""
    mapping = JiraMapping.from_setting(MAPPING)
    standin.reset_calls()
    started = time.perf_counter()
    client = standin.client()
    project = client._get_json("project/OPS", params={"expand": "issueTypes"})
    type_id = next(t["id"] for t in project["issueTypes"] if t["name"] == "Epic")
    keys = []
    with db.session_scope() as session:
        rows = list(session.scalars(sa.select(Solution).order_by(Solution.id)))
        for solution in rows:
            fields = mapping.fields_for(solution, project_id=project["id"], issuetype_id=type_id, rank=None,
                                        link="http://govern.local", cloud=standin.deployment == "Cloud")
            keys.append(client.create_issue(fields=fields, prefetch=False).key)
    push_time = time.perf_counter() - started
    push_calls = standin.total_calls
    standin.reset_calls()
    started = time.perf_counter()
    for key in keys:
        client.issue(key, fields="status,updated")
    resync_time = time.perf_counter() - started
    return {"push_calls": push_calls, "push_s": push_time, "resync_calls": standin.total_calls,
            "resync_s": resync_time}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solutions", type=int, default=1000)
    parser.add_argument("--deployment", choices=["Server", "Cloud"], default="Server")
    parser.add_argument("--outage", type=float, default=90.0, help="seconds Jira is down in the outage run")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="seconds the stand-in waits before each answer (a real Jira's round trip)")
    args = parser.parse_args()
    n = args.solutions
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "ours").mkdir()
        (folder / "naive").mkdir()
        with JiraStandIn(args.deployment) as standin:
            standin.set_faults(slow_seconds=args.latency)
            mine = ours(make_database(folder / "ours", n), standin)
        with JiraStandIn(args.deployment) as standin:
            standin.set_faults(slow_seconds=args.latency)
            base = naive(make_database(folder / "naive", n), standin)
        outages = {}
        for kind in ("refuse", "503"):
            (folder / f"outage-{kind}").mkdir()
            outages[kind] = after_outage(folder / f"outage-{kind}", n, args.deployment, args.outage, kind)
    goal_push = math.ceil(n / 50) + 3
    print(f"Jira sync benchmark: {n} new solutions, stand-in Jira ({args.deployment}, {args.latency * 1000:.0f} ms "
          "added per call), SQLite")
    print(f"{'':28}{'calls':>8}{'seconds':>10}")
    print(f"{'push, govern (bulk)':28}{mine['push_calls']:>8}{mine['push_s']:>10.2f}")
    print(f"{'push, naive (1 per item)':28}{base['push_calls']:>8}{base['push_s']:>10.2f}")
    print(f"{'first pull, govern':28}{mine['first_pull_calls']:>8}{mine['first_pull_s']:>10.2f}"
          "   (once: learns our Jira identity, sets the watermark)")
    print(f"{'unchanged re-sync, govern':28}{mine['resync_calls']:>8}{mine['resync_s']:>10.2f}")
    print(f"{'unchanged re-sync, naive':28}{base['resync_calls']:>8}{base['resync_s']:>10.2f}")
    print(f"push calls: {mine['push_calls']} (goal ≤ ceil(N/50)+3 = {goal_push}: "
          f"{'met' if mine['push_calls'] <= goal_push else 'MISSED'})")
    print(f"unchanged re-sync calls: {mine['resync_calls']} (goal ≤ 1: "
          f"{'met' if mine['resync_calls'] <= 1 else 'MISSED'})")
    print(f"ratio naive/govern, push calls: {base['push_calls'] / max(1, mine['push_calls']):.1f}x, "
          f"push time: {base['push_s'] / max(1e-9, mine['push_s']):.1f}x")
    rtt = 0.1
    if args.latency == 0:
        print(f"modelled at {rtt * 1000:.0f} ms per Jira call (measured time + calls x {rtt} s): push govern "
              f"{mine['push_s'] + mine['push_calls'] * rtt:.1f} s vs naive {base['push_s'] + base['push_calls'] * rtt:.1f}"
              f" s; re-sync govern {mine['resync_s'] + mine['resync_calls'] * rtt:.1f} s vs naive "
              f"{base['resync_s'] + base['resync_calls'] * rtt:.1f} s")
    for kind, figures in outages.items():
        ratio = figures["calls"] / max(1, mine["push_calls"])
        print(f"push after a {args.outage:.0f} s outage ({'connections refused' if kind == 'refuse' else '503'}): "
              f"{figures['calls']} calls ({figures['refused']} refused during the outage), {ratio:.2f}x the clean "
              f"{mine['push_calls']} (goal ≤ 2x: {'met' if ratio <= 2 else 'MISSED'}); done "
              f"{figures['recovered_after_s']:.0f} s (simulated) after Jira came back; every item exactly once")
    print("before (issue 15, per-message jitter): 134 calls for 200 solutions after a 90 s outage, 4 when clean")
    print(f"ratio naive/govern, re-sync calls: {base['resync_calls'] / max(1, mine['resync_calls']):.0f}x, "
          f"re-sync time: {base['resync_s'] / max(1e-9, mine['resync_s']):.1f}x")


if __name__ == "__main__":
    main()
