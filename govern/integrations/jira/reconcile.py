"""The Jira reconciler: a leader-elected background job that makes the backlog converge without anybody watching.

Webhooks and lifecycle effects only make the sync faster; this job is what makes it right. On every tick, the process
that holds the reconciler's leader lock (the ritual scheduler's mechanism: a PostgreSQL advisory lock of its own key,
or a file lock in the instance folder on SQLite; released by the database or the OS when the process dies):
1. every `push_every` seconds queues a backlog item for each solution that should be in Jira and is not
   (`workflows.services.queue_missing_backlog_items`: solutions of an opportunity already in implement, solutions
   added during implement, ...); the outbox worker delivers them;
2. every `pull_every` seconds pulls what changed in Jira since the watermark (so a lost webhook costs minutes, not a
   person), waiting out transient failures as the worker does. While Jira is down it backs off like the worker: one
   probe per step (no patience inside a pull once a pull has failed), Retry-After when Jira gave one, else exponential
   backoff with jitter from 30 s up to the pull cadence. (A two-hour outage cost 850 Jira calls, 740 of them the
   reconciler's retries; with the backoff, see bench/jira_outage_calls.py.)
Any number of processes may run one (every `govern serve` worker process and `govern worker` do); one acts.
Time comes from a clock (a callable answering naive UTC) so that tests drive it without waiting.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import threading
from dataclasses import dataclass, field
from typing import Callable

import sqlalchemy as sa

from govern.model import utcnow
from govern.policy import Actor
from govern.integrations.jira.adapter import JiraAdapter, Patience, classify
from govern.integrations.jira.pull import pull
from govern.integrations.jira.push import load_mapping
from govern.workflows.services import queue_missing_backlog_items
from govern.integrations.jira.check import check
from govern.rituals.scheduler import leader_lock_for

log = logging.getLogger(__name__)

RECONCILER_LOCK_ID = 0x6A697261  # "jira": the advisory lock key of the reconciler leader
DEFAULT_PUSH_EVERY = 60.0
DEFAULT_PULL_EVERY = 300.0


@dataclass
class ReconcileReport:
    leader: bool
    queued: list[str] = field(default_factory=list)
    pulled: bool = False
    updated: int = 0
    error: str | None = None


class JiraReconciler:
    """Queues what should be in Jira and pulls what changed, on a cadence, while it leads."""

    def __init__(self, db, adapter: JiraAdapter, *, lock=None, instance_path=None, name: str | None = None,
                 clock: Callable[[], dt.datetime] | None = None, push_every: float = DEFAULT_PUSH_EVERY,
                 pull_every: float = DEFAULT_PULL_EVERY, tick_seconds: float = 15.0,
                 sleep: Callable[[float], None] | None = None, check_on_lead: bool = True):
        self.db = db
        self.adapter = adapter
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.lock = lock or leader_lock_for(db, instance_path, self.name, role="jira-reconciler",
                                            lock_id=RECONCILER_LOCK_ID)
        self.clock = clock or utcnow
        self.push_every = dt.timedelta(seconds=push_every)
        self.pull_every = dt.timedelta(seconds=pull_every)
        self.tick_seconds = tick_seconds
        self.sleep = sleep
        self.check_on_lead = check_on_lead
        self.actor = Actor.system_actor("jira")
        self.is_leader = False
        self._last_push: dt.datetime | None = None
        self._last_pull: dt.datetime | None = None
        self._pull_retry_at: dt.datetime | None = None
        self._pull_failures = 0  # consecutive failed pulls: Jira is down or refusing
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> ReconcileReport:
        """Lead if possible; if leading, queue what is missing and pull, each when its cadence says so."""
        was_leader = self.is_leader
        self.is_leader = self.lock.still_held() if was_leader else self.lock.try_acquire()
        if self.is_leader != was_leader:
            log.info("jira reconciler %s %s", self.name, "leads" if self.is_leader else "lost the leadership")
        report = ReconcileReport(leader=self.is_leader)
        if not self.is_leader:
            return report
        if not was_leader and self.check_on_lead:
            self._check_setup()
        now = self.clock()
        try:
            with self.db.session_scope() as session:
                if not load_mapping(session).enabled:
                    return report
            if self._last_push is None or now - self._last_push >= self.push_every:
                with self.db.session_scope() as session:
                    report.queued = queue_missing_backlog_items(session, self.actor)
                self._last_push = now
                if report.queued:
                    log.info("jira reconciler queued %d solutions missing from Jira", len(report.queued))
            pull_due = self._last_pull is None or now - self._last_pull >= self.pull_every
            if pull_due and (self._pull_retry_at is None or now >= self._pull_retry_at):
                self._pull(report, now)
        except sa.exc.OperationalError as exc:  # the database went away: next tick
            report.error = f"database unavailable: {exc.orig}"
            log.warning("jira reconciler %s: %s", self.name, report.error)
        return report

    def _check_setup(self) -> None:
        """`govern jira check` once when this process starts leading: a missing Epic Name or issue type is logged
        before the first push fails on it."""
        try:
            with self.db.session_scope() as session:
                mapping = load_mapping(session)
            report = check(self.adapter, mapping, patience=Patience(wait_seconds=0))
        except Exception:  # noqa: BLE001 - a check is advice; the job goes on
            log.exception("jira reconciler: the set-up check failed")
            return
        for problem in report.problems:
            log.warning("Jira set-up: %s", problem)

    def _pull(self, report: ReconcileReport, now: dt.datetime) -> None:
        # A short patience inside the job: a longer outage is simply the next cadence's business.
        # Once a pull has failed, Jira is known to be down: one probe per backoff step, not a minute of retries each.
        patience = Patience(wait_seconds=0.0 if self._pull_failures else min(60.0, self.pull_every.total_seconds() / 2),
                            sleep=self.sleep)
        try:
            result = pull(self.db, self.adapter, patience=patience)
        except Exception as exc:  # noqa: BLE001 - Jira down or refusing: log it, try again on the next cadence
            failure = classify(exc)
            report.error = failure.message
            self._pull_failures += 1
            wait = failure.retry_after if failure.retry_after is not None else self.pull_backoff(self._pull_failures)
            self._pull_retry_at = now + dt.timedelta(seconds=wait)
            log.warning("jira reconciler: pull failed (%s); trying again in %.0f s", failure.message, wait)
            return
        self._last_pull, self._pull_retry_at, self._pull_failures = now, None, 0
        report.pulled, report.updated = True, result.updated

    def pull_backoff(self, failures: int) -> float:
        """Seconds before the next pull after `failures` failed ones in a row: half to all of 30 s * 2^(n-1), capped
        at the pull cadence (and never under 30 s)."""
        ceiling = max(30.0, min(self.pull_every.total_seconds(), 30.0 * 2 ** max(0, failures - 1)))
        return ceiling * random.uniform(0.5, 1.0)

        # running in the background ---------------------------------------------------------------------------------------

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a bad round is logged; the next one comes regardless
                log.exception("jira reconciler %s: tick failed", self.name)
            self._stop.wait(self.tick_seconds)

    def start(self) -> "JiraReconciler":
        self._thread = threading.Thread(target=self.run_forever, name="jira-reconciler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        if self.is_leader:
            log.info("jira reconciler %s steps down", self.name)
        self.lock.release()
        self.is_leader = False
