"""Done-when: Jira failing 30% of calls (5xx, 429, 503, timeouts, connections dropped after the write) and worker
processes SIGKILLed again and again still ends with exactly one backlog item per solution, none missing, no duplicates."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from govern.model import OutboxMessage
from govern.integrations.worker import wait_until

from .conftest import add_opportunity, set_mapping, solutions

ROOT = Path(__file__).resolve().parents[2]


def _start_worker(db, standin, log) -> subprocess.Popen:
    env = dict(os.environ, GOVERN_DATABASE_URL=db.url, GOVERN_JIRA_URL=standin.base_url,
               GOVERN_JIRA_USER=standin.user, GOVERN_JIRA_TOKEN=standin.token, GOVERN_JIRA_TIMEOUT="0.5",
               # no search lag here: a lost answer is looked up by label half a second after it was lost
               GOVERN_JIRA_SETTLE_SECONDS="0.5",
               GOVERN_INSTANCE_PATH=str(log.parent), GOVERN_SECRET_KEY="test", PYTHONPATH=str(ROOT))
    env.pop("GOVERN_SLACK_BOT_TOKEN", None)
    return subprocess.Popen([sys.executable, "-m", "govern.integrations.worker", "--lease", "4", "--poll", "0.1",
                             "--backoff-base", "0.1", "--backoff-cap", "0.5", "--batch-size", "4"],
                            cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _open_messages(db) -> int:
    with db.session_scope() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status.in_(("pending", "in_flight"))))


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_exactly_one_backlog_item_per_solution_through_faults_and_sigkills(db, standin, tmp_path):
    set_mapping(db)
    for size in (7, 5, 9, 4, 6, 8, 3, 10, 6, 2):  # 60 solutions over 10 opportunities, one message each
        add_opportunity(db, size)
    standin.set_faults(rate=0.3, kinds=("500", "502", "503", "429", "timeout", "drop"), retry_after=1,
                       timeout_seconds=0.8, seed=7,
                       # and, for certain, some creates that land in Jira while their answer is lost
                       write_script=["drop", "ok", "timeout", "drop"])
    log = tmp_path / "worker.log"
    rng = random.Random(11)
    kills = 0
    # Two workers at once (they share the queue: SKIP LOCKED on PostgreSQL, IMMEDIATE transactions on SQLite);
    # every round one of them is killed with SIGKILL and a fresh one takes its place.
    workers = [_start_worker(db, standin, log) for _ in range(2)]
    try:
        while kills < 6 and _open_messages(db):
            time.sleep(rng.uniform(0.6, 1.6))
            victim = rng.randrange(len(workers))
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait()
            kills += 1
            workers[victim] = _start_worker(db, standin, log)
        assert kills >= 5, "the queue drained before the worker was killed five times; make the run longer"
        assert wait_until(lambda: _open_messages(db) == 0, timeout=60, interval=0.2), log.read_text()[-3000:]
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGKILL)
            worker.wait()
    rows = solutions(db)
    assert len(rows) == 60
    for solution in rows:
        items = standin.issues_with_label(f"govern-sol-{solution.id}")
        assert len(items) == 1, f"{solution.key}: {[i.key for i in items]}"
        assert solution.external_key == items[0].key
    assert len(standin.issues) == 60
    with db.session_scope() as session:
        statuses = set(session.scalars(sa.select(OutboxMessage.status)))
    assert statuses == {"delivered"}
    injected = standin.faults_injected
    # The run really went through every kind of fault, including writes that landed without an answer.
    assert sum(injected.values()) >= 8 and {"drop", "timeout"} <= set(injected), dict(injected)
