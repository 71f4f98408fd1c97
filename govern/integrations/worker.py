"""The outbox worker: claims due messages per topic, delivers them outside any transaction, records the outcomes.

Claiming is a short transaction of its own. On PostgreSQL it selects due rows with `FOR UPDATE SKIP LOCKED`, so any
number of workers (threads, processes, hosts) share the queue without waiting on each other; on SQLite every transaction
already begins IMMEDIATE (govern.db), which serialises claimers just as well for one machine. A claim is a lease:
`status = in_flight`, `claimed_by`, `claimed_until`. A worker that dies (even by SIGKILL) simply lets its lease expire
and another worker picks the messages up again; deliverers are idempotent, so a delivery that landed just before the
crash is recognised rather than repeated.

Outcomes: delivered; retry (after Retry-After when the remote gave one, otherwise exponential backoff with jitter);
failed (permanent, with the remote's error text, retryable by hand); dead (after `max_attempts`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
import socket
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern import audit
from govern.errors import Conflict, NotFound
from govern.model import OutboxMessage, utcnow
from govern.policy import Actor
from govern.integrations.delivery import Deliverer, Outcome
from govern.integrations.slack.delivery import SlackDeliverer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait before trying again, and when to give up."""

    max_attempts: int = 10
    base_seconds: float = 2.0
    cap_seconds: float = 900.0
    max_retry_after: float = 3600.0

    def delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(0.0, min(float(retry_after), self.max_retry_after))
        # Exponential backoff with jitter: half to all of base * 2^(n-1), capped.
        ceiling = min(self.cap_seconds, self.base_seconds * (2 ** max(0, attempts - 1)))
        return ceiling * random.uniform(0.5, 1.0)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def claim_due(session: Session, topic: str, limit: int, claimer: str, lease_seconds: float) -> list[OutboxMessage]:
    """Claim up to `limit` due messages of a topic in one short transaction; commits and returns them (detached-safe)."""
    now = utcnow()
    due = sa.or_(
        sa.and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
        # A lease that ran out: its worker died or hung; the message is due again.
        sa.and_(OutboxMessage.status == "in_flight", OutboxMessage.claimed_until < now),
    )
    query = sa.select(OutboxMessage).where(OutboxMessage.topic == topic, due).order_by(OutboxMessage.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    messages = list(session.scalars(query))
    until = now + dt.timedelta(seconds=lease_seconds)
    for message in messages:
        message.status = "in_flight"
        message.claimed_by = claimer
        message.claimed_until = until
        message.attempts += 1
    session.commit()
    return messages


def record_outcomes(session: Session, outcomes: Iterable[Outcome], claimer: str, policy: RetryPolicy) -> dict[str, int]:
    """Write each outcome to its message, only while this worker still holds the lease; commits once."""
    counts: dict[str, int] = {}
    now = utcnow()
    outcomes = list(outcomes)
    query = sa.select(OutboxMessage).where(OutboxMessage.id.in_([o.message_id for o in outcomes]))
    if _row_lock(session):
        query = query.with_for_update()
    rows = {m.id: m for m in session.scalars(query)}
    for outcome in outcomes:
        message = rows.get(outcome.message_id)
        if message is None or message.status != "in_flight" or message.claimed_by != claimer:
            continue  # our lease ran out and someone else owns it now; their outcome wins
        status = outcome.status
        if status == "retry" and message.attempts >= policy.max_attempts:
            status = "dead"
            message.last_error = f"gave up after {message.attempts} attempts: {outcome.error or 'unknown error'}"
        elif outcome.error is not None:
            message.last_error = outcome.error
        if status == "delivered":
            message.delivered_at = now
            message.last_error = None
        if status == "retry":
            message.next_attempt_at = now + dt.timedelta(seconds=policy.delay(message.attempts, outcome.retry_after))
            message.status = "pending"
        else:
            message.status = status
        if outcome.external_ref:
            message.external_ref = outcome.external_ref
        message.claimed_by = None
        message.claimed_until = None
        counts[status] = counts.get(status, 0) + 1
    session.commit()
    return counts


def _row_lock(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def retry_message(session: Session, actor: Actor, message_id: int) -> OutboxMessage:
    """Send a failed or dead message again (after its cause is fixed): pending now, attempts counted afresh."""
    actor.require("outbox.manage")
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(f"no outbox message {message_id}", {"id": "unknown outbox message"})
    if message.status not in ("failed", "dead"):
        raise Conflict(f"outbox message {message_id} is {message.status}; only failed or dead messages are retried",
                       {"status": message.status})
    before = {"status": message.status, "attempts": message.attempts, "last_error": message.last_error}
    message.status = "pending"
    message.attempts = 0
    message.next_attempt_at = utcnow()
    message.claimed_by = None
    message.claimed_until = None
    audit.record(session, actor, "outbox.retry", "outbox_message", message.id, before=before,
                 after={"status": "pending", "attempts": 0})
    session.commit()
    return message


class OutboxWorker:
    """Delivers the outbox for a set of deliverers (one per topic) until stopped."""

    def __init__(self, db, deliverers: Sequence[Deliverer], *, name: str | None = None, lease_seconds: float = 120.0,
                 poll_seconds: float = 1.0, policy: RetryPolicy | None = None):
        self.db = db
        self.deliverers = list(deliverers)
        self.name = name or worker_name()
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.policy = policy or RetryPolicy()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def topics(self) -> list[str]:
        return [d.topic for d in self.deliverers]

    def run_once(self, topics: Iterable[str] | None = None) -> dict[str, int]:
        """One pass over every topic: claim a batch, deliver it, record it. Returns outcome counts."""
        totals: dict[str, int] = {}
        wanted = set(topics) if topics is not None else None
        for deliverer in self.deliverers:
            if wanted is not None and deliverer.topic not in wanted:
                continue
            with self.db.session_scope() as session:
                messages = claim_due(session, deliverer.topic, deliverer.batch_size, self.name, self.lease_seconds)
            if not messages:
                continue
            outcomes = self._deliver(deliverer, messages)
            with self.db.session_scope() as session:
                for status, n in record_outcomes(session, outcomes, self.name, self.policy).items():
                    totals[status] = totals.get(status, 0) + n
        return totals

    def _deliver(self, deliverer: Deliverer, messages: list[OutboxMessage]) -> list[Outcome]:
        try:
            outcomes = list(deliverer.deliver(messages))
        except Exception as exc:  # noqa: BLE001 - a broken adapter must not stop the queue; every message retries
            log.exception("deliverer for %s failed", deliverer.topic)
            return [Outcome.retry(m.id, f"{type(exc).__name__}: {exc}") for m in messages]
        answered = {o.message_id for o in outcomes}
        for message in messages:
            if message.id not in answered:
                outcomes.append(Outcome.retry(message.id, "the deliverer gave no outcome for this message"))
        return outcomes

    def drain(self, topics: Iterable[str] | None = None, *, max_passes: int = 1000) -> dict[str, int]:
        """Deliver until nothing is due right now (used by `govern jira sync` and tests)."""
        totals: dict[str, int] = {}
        for _ in range(max_passes):
            counts = self.run_once(topics)
            if not counts:
                break
            for status, n in counts.items():
                totals[status] = totals.get(status, 0) + n
        return totals

    def run_forever(self) -> None:
        log.info("outbox worker %s delivering %s", self.name, ", ".join(self.topics) or "nothing")
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except Exception:  # noqa: BLE001 - e.g. the database restarting; keep the worker alive
                log.exception("outbox worker pass failed")
                worked = {}
            if not worked:
                self._stop.wait(self.poll_seconds)

    def start(self) -> "OutboxWorker":
        self._thread = threading.Thread(target=self.run_forever, name="outbox-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def build_deliverers(runtime) -> list[Deliverer]:
    """A deliverer for every enabled integration; topics without one simply wait in the outbox, visibly."""
    deliverers: list[Deliverer] = []
    jira_adapter = (getattr(runtime, "adapters", None) or {}).get("jira")
    if jira_adapter is None and runtime.config.jira_enabled:
        from govern.integrations.jira.adapter import build

        jira_adapter = build(runtime.config)
    if jira_adapter is not None:
        from govern.integrations.jira.push import JiraDeliverer

        deliverers.append(JiraDeliverer(runtime.db, jira_adapter, base_url=runtime.config.base_url))
    if runtime.config.slack_enabled:
        deliverers.append(SlackDeliverer.from_runtime(runtime))
    return deliverers


def start_in_background(runtime) -> OutboxWorker | None:
    """Run a worker thread in this process (used by `govern serve`); None when no integration is enabled."""
    deliverers = build_deliverers(runtime)
    if not deliverers:
        log.info("outbox worker not started: no integration is enabled")
        return None
    return OutboxWorker(runtime.db, deliverers).start()


def run(runtime, *, once: bool = False, lease_seconds: float = 120.0, poll_seconds: float = 1.0,
        policy: RetryPolicy | None = None, batch_size: int | None = None) -> OutboxWorker:
    """Run a worker in the foreground until interrupted (`govern worker`)."""
    deliverers = build_deliverers(runtime)
    for deliverer in deliverers:
        if batch_size:
            deliverer.batch_size = min(deliverer.batch_size, batch_size)
    worker = OutboxWorker(runtime.db, deliverers, lease_seconds=lease_seconds, poll_seconds=poll_seconds,
                          policy=policy)
    if once:
        worker.drain()
        return worker
    try:
        worker.run_forever()
    except KeyboardInterrupt:
        pass
    return worker


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05) -> bool:
    """Small helper for tests and CLI: poll until predicate() is true or the time is up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def main(argv: list[str] | None = None) -> None:
    """`python -m integrations.worker`: a bare worker process (what `govern worker` runs), with tunable retries."""
    import argparse

    from govern.config import Config
    from govern.db import Database
    from govern.runtime import Runtime

    parser = argparse.ArgumentParser(prog="python -m integrations.worker")
    parser.add_argument("--lease", type=float, default=120.0)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--max-attempts", type=int, default=RetryPolicy.max_attempts)
    parser.add_argument("--backoff-base", type=float, default=RetryPolicy.base_seconds)
    parser.add_argument("--backoff-cap", type=float, default=RetryPolicy.cap_seconds)
    parser.add_argument("--batch-size", type=int, default=None, help="at most this many messages per delivery")
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = Config.from_env()
    runtime = Runtime(config=config, db=Database(config.database_url))
    policy = RetryPolicy(max_attempts=args.max_attempts, base_seconds=args.backoff_base, cap_seconds=args.backoff_cap)
    try:
        run(runtime, once=args.once, lease_seconds=args.lease, poll_seconds=args.poll, policy=policy,
            batch_size=args.batch_size)
    finally:
        runtime.db.dispose()


if __name__ == "__main__":
    main()
