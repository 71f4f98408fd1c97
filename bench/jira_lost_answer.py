"""Benchmark: duplicated epics after a bulk create whose answer is lost, while Jira's search lags behind its writes.

    python bench/jira_lost_answer.py [--solutions 13]

For each deployment mode (Server, Cloud) and search lag (5 s, 30 s), one bulk create of N solutions lands in the
stand-in Jira and its connection drops before the answer; the worker then runs until idle. "before" is a settle time of
0: the retry searches by label as soon as its backoff is over (what main does), "after" the default settle time (60 s).
Goal (issue 30): 0 duplicates after. Time is simulated: the worker, the deliverer and the stand-in's search lag share a
clock, so the run takes seconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from govern.db import Database  # noqa: E402
from govern.integrations.jira.adapter import JiraAdapter  # noqa: E402
from govern.integrations.jira.push import JiraDeliverer  # noqa: E402
from govern.integrations.worker import OutboxWorker, RetryPolicy  # noqa: E402
from tests.jira.conftest import SimulatedClock, add_opportunity, set_mapping  # noqa: E402
from tests.standins.jira import JiraStandIn  # noqa: E402


def duplicates(folder: Path, deployment: str, lag: float, settle: float, n: int) -> tuple[int, int]:
    db = Database(f"sqlite:///{folder / f'{deployment}-{lag}-{settle}.db'}")
    db.upgrade()
    clock = SimulatedClock()
    standin = JiraStandIn(deployment, clock=clock.now, search_lag_seconds=lag)
    standin.serve()
    try:
        set_mapping(db)
        add_opportunity(db, n)
        clock.catch_up()
        adapter = JiraAdapter(standin.base_url, standin.user, standin.token, timeout=2.0)
        worker = OutboxWorker(db, [JiraDeliverer(db, adapter, clock=clock.now, settle_seconds=settle)],
                              clock=clock.now, policy=RetryPolicy())
        standin.set_faults(write_script=["drop"])
        worker.run_until_idle(sleep=clock.advance)
        labels = [label for issue in standin.issues.values() for label in issue.labels if label.startswith("govern-sol-")]
        return len(labels) - len(set(labels)), len(set(labels))
    finally:
        standin.stop()
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--solutions", type=int, default=13)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'mode':8} {'lag':>5} {'before: duplicates':>20} {'after: duplicates':>19}  (of {args.solutions})")
        for deployment in ("Server", "Cloud"):
            for lag in (5.0, 30.0):
                before, _ = duplicates(Path(tmp), deployment, lag, 0.0, args.solutions)
                after, made = duplicates(Path(tmp), deployment, lag, 60.0, args.solutions)
                assert made == args.solutions
                print(f"{deployment:8} {lag:>4.0f}s {before:>20} {after:>19}")


if __name__ == "__main__":
    main()
