"""Benchmark: Jira calls made during a two-hour Jira outage by the outbox worker and the Jira reconciler together.

    python bench/jira_outage_calls.py [--hours 2] [--solutions 40]

Simulated time: the worker, the reconciler (its pull's waits included) and the stand-in share a clock that moves in
the reconciler's tick (15 s). Jira is down from the start for `--hours` ("refuse": connections closed unanswered, and
"503" without Retry-After), with `--solutions` backlog items waiting to be created. Prints the calls the stand-in
refused, by who made them (the worker's creates and probes vs the reconciler's pulls), and checks that every item is
created exactly once after Jira is back.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from govern.db import Database  # noqa: E402
from govern.integrations.jira.adapter import JiraAdapter  # noqa: E402
from govern.integrations.jira.push import JiraDeliverer  # noqa: E402
from govern.integrations.jira.reconcile import JiraReconciler  # noqa: E402
from govern.integrations.worker import OutboxWorker  # noqa: E402
from govern.rituals.scheduler import FileLeaderLock  # noqa: E402
from tests.jira.conftest import SimulatedClock, add_opportunity, set_mapping  # noqa: E402
from tests.standins.jira import JiraStandIn  # noqa: E402

TICK = 15.0


def outage_calls(folder: Path, kind: str, hours: float, n: int) -> dict[str, int]:
    db = Database(f"sqlite:///{folder / f'outage-{kind}.db'}")
    db.upgrade()
    clock = SimulatedClock()
    standin = JiraStandIn("Server", clock=clock.now)
    standin.serve()
    try:
        set_mapping(db)
        add_opportunity(db, n)
        clock.catch_up()
        start = clock.now()
        standin.start_outage(kind, until=start + dt.timedelta(hours=hours))
        worker_adapter = JiraAdapter(standin.base_url, standin.user, standin.token, timeout=2.0)
        reconciler_adapter = JiraAdapter(standin.base_url, standin.user, standin.token, timeout=2.0)
        worker = OutboxWorker(db, [JiraDeliverer(db, worker_adapter, clock=clock.now)], name="bench", clock=clock.now)
        reconciler = JiraReconciler(db, reconciler_adapter, lock=FileLeaderLock(folder / f"{kind}.lock"),
                                    clock=clock.now, sleep=clock.advance, tick_seconds=TICK)
        by_reconciler = 0
        end = start + dt.timedelta(hours=hours)
        while clock.now() < end:
            before = standin.calls_refused_by_outage
            reconciler.tick()
            by_reconciler += standin.calls_refused_by_outage - before
            worker.run_once()
            clock.advance(TICK)
        refused = standin.calls_refused_by_outage
        worker.run_until_idle(sleep=clock.advance)
        reconciler.lock.release()
        labels = [label for issue in standin.issues.values() for label in issue.labels if label.startswith("govern-sol-")]
        assert len(labels) == len(set(labels)) == n, (len(labels), len(set(labels)))
        return {"refused": refused, "reconciler": by_reconciler, "worker": refused - by_reconciler}
    finally:
        standin.stop()
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--solutions", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("refuse", "503"):
            calls = outage_calls(Path(tmp), kind, args.hours, args.solutions)
            print(f"{args.hours:g} h outage ({kind}): {calls['refused']} Jira calls "
                  f"(worker {calls['worker']}, reconciler {calls['reconciler']}); every item created once after")


if __name__ == "__main__":
    main()
