"""The outbox worker: claims due messages per topic, delivers them outside any transaction, records the outcomes.

Claiming is a short transaction of its own. On PostgreSQL it selects due rows with `FOR UPDATE SKIP LOCKED`, so any
number of workers (threads, processes, hosts) share the queue without waiting on each other; on SQLite every transaction
already begins IMMEDIATE (govern.db), which serialises claimers just as well for one machine. A claim is a lease:
`status = in_flight`, `claimed_by`, `claimed_until`. A worker that dies (even by SIGKILL) simply lets its lease expire
and another worker picks the messages up again; deliverers are idempotent, so a delivery that landed just before the
crash is recognised rather than repeated.

Outcomes:
- delivered;
- retry (a transient failure: 429, 5xx, no answer): never gives up, however long the outage. The backoff belongs to
  the *topic*, not to the message: a batch that failed as a whole pauses its topic (a circuit breaker kept in
  `outbox_topic_state`, so every worker on every host honours it) for Retry-After when the remote gave one, otherwise
  for an exponential backoff with jitter drawn once per batch. Every message of the batch comes due at the same
  instant, so a failed batch comes back as one batch (per-message jitter used to scatter a batch of 50 into many
  small calls). When the pause ends, the next batch is the probe (half-open); a delivery closes the breaker.
- failed / dead (permanent: the remote refused the message itself, e.g. Jira's 400 with its field errors): the
  message is `dead` with the reason kept, for a person to fix the cause and `govern outbox retry` it.

Time comes from an injected clock (`clock`, a callable answering naive UTC), so that tests and benchmarks can run a
20-minute outage without sleeping through it.
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
from typing import Callable, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session
import argparse

from govern import audit, telemetry
from govern.errors import Conflict, InvalidInput, NotFound
from govern.model import OutboxMessage, OutboxTopicState, utcnow
from govern.policy import Actor
from govern.integrations.delivery import Deliverer, Outcome
from govern.integrations.slack.delivery import SlackDeliverer
from govern.settings import Config
from govern.db import Database, OutageWatch, database_unavailable
from govern.integrations.jira.adapter import build
from govern.integrations.jira.push import JiraDeliverer
from govern.integrations.jira.reconcile import JiraReconciler
from govern.runtime import Runtime

log = logging.getLogger(__name__)

Now = Callable[[], dt.datetime]
RETRYABLE_BY_HAND = ("failed", "dead")


@dataclass(frozen=True)
class RetryPolicy:
    """How long a topic waits after a failed batch. Transient failures never make a message give up."""

    base_seconds: float = 2.0
    # A paused topic costs one probe per step, so a short cap is cheap and Jira's return is noticed within a minute.
    # Measured (bench/jira_outage_calls.py, simulated time): a two-hour outage costs ~140 calls of the worker and ~40
    # of the reconciler, 180 in all (850 before the reconciler backed off too).
    cap_seconds: float = 60.0
    max_retry_after: float = 3600.0

    def delay(self, failures: int, retry_after: float | None, rng: random.Random | None = None) -> float:
        """Seconds to wait after the `failures`-th consecutive failed batch (Retry-After wins when given)."""
        if retry_after is not None:
            return max(0.0, min(float(retry_after), self.max_retry_after))
        # Exponential backoff with jitter: half to all of base * 2^(n-1), capped.
        ceiling = min(self.cap_seconds, self.base_seconds * (2 ** max(0, failures - 1)))
        return ceiling * (rng or random).uniform(0.5, 1.0)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def topic_paused_until(session: Session, topic: str, now: dt.datetime) -> dt.datetime | None:
    """When the topic's pause ends, if it is paused now (its remote failed a whole batch recently)."""
    state = session.get(OutboxTopicState, topic)
    if state is not None and state.paused_until is not None and state.paused_until > now:
        return state.paused_until
    return None


def claim_due(session: Session, topic: str, limit: int, claimer: str, lease_seconds: float,
              now: dt.datetime | None = None) -> list[OutboxMessage]:
    """Claim up to `limit` due messages of a topic in one short transaction; commits and returns them (detached-safe).
    A paused topic has nothing due."""
    now = now or utcnow()
    if topic_paused_until(session, topic, now) is not None:
        session.commit()
        return []
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
        if message.status == "in_flight" and message.claimed_until is not None:
            # Its worker died or hung mid-delivery: what it sent may have landed, by the end of its lease at the latest.
            message.unsure_since = max(message.unsure_since or message.claimed_until, message.claimed_until)
        message.status = "in_flight"
        message.claimed_by = claimer
        message.claimed_until = until
        message.attempts += 1
    session.commit()
    return messages


def ensure_topic_states(db, topics: Iterable[str]) -> None:
    """Create the topics' health rows once (each in its own short transaction; a racing worker may win)."""
    for topic in topics:
        with db.session_scope() as session:
            if session.get(OutboxTopicState, topic) is not None:
                continue
            session.add(OutboxTopicState(topic=topic, failures=0))
            try:
                session.commit()
            except sa.exc.IntegrityError:
                session.rollback()


def _topic_state(session: Session, topic: str) -> OutboxTopicState:
    state = session.get(OutboxTopicState, topic)
    if state is None:  # a topic no worker announced (ensure_topic_states); first writer wins at commit
        state = OutboxTopicState(topic=topic, failures=0)
        session.add(state)
    return state


def record_outcomes(session: Session, outcomes: Iterable[Outcome], claimer: str, policy: RetryPolicy,
                    now: dt.datetime | None = None, topic: str | None = None) -> dict[str, int]:
    """Write each outcome to its message, only while this worker still holds the lease; commits once.

    A batch in which nothing was delivered and something must be retried pauses its topic; one delivery resumes it.
    Every retried message of the batch comes due when the pause ends (the same instant for all of them)."""
    counts: dict[str, int] = {}
    now = now or utcnow()
    outcomes = list(outcomes)
    query = sa.select(OutboxMessage).where(OutboxMessage.id.in_([o.message_id for o in outcomes]))
    if _row_lock(session):
        query = query.with_for_update()
    rows = {m.id: m for m in session.scalars(query)}
    mine = [(o, rows[o.message_id]) for o in outcomes if o.message_id in rows
            and rows[o.message_id].status == "in_flight" and rows[o.message_id].claimed_by == claimer]
    # (A message whose lease ran out belongs to someone else now; their outcome wins.)
    retries = [o for o, _ in mine if o.status == "retry" and not o.waiting]
    delivered_any = any(o.status == "delivered" for o, _ in mine)
    topic = topic or (next(iter(mine))[1].topic if mine else None)
    due_again = now
    if retries and topic is not None:
        state = _topic_state(session, topic)
        waits = [o.retry_after for o in retries if o.retry_after is not None]
        retry_after = max(waits) if waits else None
        if delivered_any:  # the remote works; only part of the batch must come again
            state.failures, state.paused_until = 0, None
            due_again = now + dt.timedelta(seconds=policy.delay(1, retry_after))
        else:  # the whole batch failed: pause the topic (the breaker opens), one backoff for the batch
            state.failures = (state.failures or 0) + 1
            due_again = now + dt.timedelta(seconds=policy.delay(state.failures, retry_after))
            state.paused_until = max(due_again, state.paused_until or due_again)
            due_again = state.paused_until
        state.last_error = retries[0].error
        state.updated_at = now
    elif delivered_any and topic is not None:
        state = session.get(OutboxTopicState, topic)
        if state is not None and (state.failures or state.paused_until):
            state.failures, state.paused_until, state.updated_at = 0, None, now
    for outcome, message in mine:
        status = outcome.status
        if status == "failed":
            status = "dead"  # refused for good by the remote: a person fixes the cause and retries it
        if outcome.error is not None:
            message.last_error = outcome.error
        if status == "delivered":
            message.delivered_at = now
            message.last_error = None
        if status != "retry" or outcome.settled:
            message.unsure_since = None
        elif outcome.unsure_since is not None:
            message.unsure_since = outcome.unsure_since
        if status == "retry":
            message.next_attempt_at = (now + dt.timedelta(seconds=outcome.retry_after or 0.0) if outcome.waiting
                                       else due_again)
            message.status = "pending"
        else:
            message.status = status
        if outcome.external_ref:
            message.external_ref = outcome.external_ref
        message.claimed_by = None
        message.claimed_until = None
        counts[status] = counts.get(status, 0) + 1
    session.commit()
    telemetry.count_deliveries(topic, counts)
    return counts


def _row_lock(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _make_pending(message: OutboxMessage, now: dt.datetime) -> dict:
    before = {"status": message.status, "attempts": message.attempts, "last_error": message.last_error}
    message.status = "pending"
    message.attempts = 0
    message.next_attempt_at = now
    message.claimed_by = None
    message.claimed_until = None
    return before


def retry_message(session: Session, actor: Actor, message_id: int) -> OutboxMessage:
    """Send a dead message again (after its cause is fixed): pending now, attempts counted afresh."""
    actor.require("outbox.manage")
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(f"no outbox message {message_id}", {"id": "unknown outbox message"})
    if message.status not in RETRYABLE_BY_HAND:
        raise Conflict(f"outbox message {message_id} is {message.status}; only dead messages are retried",
                       {"status": message.status})
    before = _make_pending(message, utcnow())
    audit.record(session, actor, "outbox.retry", "outbox_message", message.id, before=before,
                 after={"status": "pending", "attempts": 0})
    session.commit()
    return message


def retry_messages(session: Session, actor: Actor, *, topic: str | None = None, since: dt.datetime | None = None,
                   now: dt.datetime | None = None) -> list[int]:
    """Send every dead message again (of one topic, and/or created since a time), and resume paused topics now:
    `govern outbox retry --all/--topic/--since`. One audit event for the lot; answers the message ids."""
    actor.require("outbox.manage")
    now = now or utcnow()
    query = sa.select(OutboxMessage).where(OutboxMessage.status.in_(RETRYABLE_BY_HAND)).order_by(OutboxMessage.id)
    if topic is not None:
        query = query.where(OutboxMessage.topic == topic)
    if since is not None:
        query = query.where(OutboxMessage.created_at >= since)
    messages = list(session.scalars(query))
    for message in messages:
        _make_pending(message, now)
    states = sa.select(OutboxTopicState).where(OutboxTopicState.paused_until.is_not(None))
    if topic is not None:
        states = states.where(OutboxTopicState.topic == topic)
    resumed = []
    for state in session.scalars(states):
        state.paused_until, state.failures, state.updated_at = None, 0, now
        resumed.append(state.topic)
    if topic is not None:  # waiting messages of a resumed topic go now too, not when their backoff ends
        session.execute(sa.update(OutboxMessage).where(
            OutboxMessage.topic == topic, OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at > now).values(next_attempt_at=now))
    if messages or resumed:
        audit.record(session, actor, "outbox.retry", "outbox", topic or "*",
                     after={"messages": [m.id for m in messages], "resumed_topics": resumed,
                            "since": since.isoformat() if since else None})
    session.commit()
    return [m.id for m in messages]


def parse_since(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """`--since`: an ISO date or time (UTC), or a duration back from now such as 30m, 2h, 1d."""
    now = now or utcnow()
    value = text.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if len(value) > 1 and value[-1] in units and value[:-1].isdigit():
        return now - dt.timedelta(seconds=int(value[:-1]) * units[value[-1]])
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"--since must be an ISO date/time (UTC) or a duration like 30m, 2h, 1d; got {text!r}",
                           {"since": text}) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return parsed


class OutboxWorker:
    """Delivers the outbox for a set of deliverers (one per topic) until stopped."""

    def __init__(self, db, deliverers: Sequence[Deliverer], *, name: str | None = None, lease_seconds: float = 120.0,
                 poll_seconds: float = 1.0, policy: RetryPolicy | None = None, clock: Now | None = None,
                 outage_wait_cap: float = 30.0):
        self.db = db
        self.deliverers = list(deliverers)
        self.name = name or worker_name()
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.policy = policy or RetryPolicy()
        self.clock: Now = clock or utcnow
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._announced = False
        self._outage = OutageWatch(f"outbox worker {self.name}", log, first=min(1.0, outage_wait_cap),
                                   cap=outage_wait_cap)

    @property
    def topics(self) -> list[str]:
        return [d.topic for d in self.deliverers]

    def run_once(self, topics: Iterable[str] | None = None) -> dict[str, int]:
        """One pass over every topic: claim a batch, deliver it, record it. Returns outcome counts."""
        if not self._announced:
            ensure_topic_states(self.db, self.topics)
            self._announced = True
        totals: dict[str, int] = {}
        wanted = set(topics) if topics is not None else None
        for deliverer in self.deliverers:
            if wanted is not None and deliverer.topic not in wanted:
                continue
            with self.db.session_scope() as session:
                messages = claim_due(session, deliverer.topic, deliverer.batch_size, self.name, self.lease_seconds,
                                     now=self.clock())
            if not messages:
                continue
            if getattr(deliverer, "records_each", False):
                counts = self._deliver_each(deliverer, messages)
            else:
                outcomes = self._deliver(deliverer, messages)
                with self.db.session_scope() as session:
                    counts = record_outcomes(session, outcomes, self.name, self.policy, now=self.clock(),
                                             topic=deliverer.topic)
            for status, n in counts.items():
                totals[status] = totals.get(status, 0) + n
        return totals

    def _deliver_each(self, deliverer: Deliverer, messages: list[OutboxMessage]) -> dict[str, int]:
        """One message at a time, each outcome recorded (committed) as soon as it comes, so that a worker killed
        mid-batch leaves only the message it was delivering in doubt. The first retry (429, 5xx, no answer) ends the
        batch: it and the messages not tried yet are recorded together, which pauses the topic."""
        totals: dict[str, int] = {}
        for index, message in enumerate(messages):
            outcomes = self._deliver(deliverer, [message])
            stop = any(o.status == "retry" for o in outcomes)
            if stop:
                reason = next(o.error for o in outcomes if o.status == "retry")
                outcomes += [Outcome.retry(m.id, f"not tried: the one before it must be retried ({reason})")
                             for m in messages[index + 1:]]
            with self.db.session_scope() as session:
                counts = record_outcomes(session, outcomes, self.name, self.policy, now=self.clock(),
                                         topic=deliverer.topic)
            for status, n in counts.items():
                totals[status] = totals.get(status, 0) + n
            if stop:
                break
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
        """Deliver until nothing is due right now (a paused topic has nothing due), or until a pass achieved nothing
        but retries (the remotes are failing: their backoff decides when to come back). Used by tests and sync."""
        totals: dict[str, int] = {}
        for _ in range(max_passes):
            counts = self.run_once(topics)
            for status, n in counts.items():
                totals[status] = totals.get(status, 0) + n
            if not counts or set(counts) == {"retry"}:
                break
        return totals

    def next_due(self) -> dt.datetime | None:
        """When something of this worker's topics comes due next (pauses included); None when nothing waits."""
        with self.db.session_scope() as session:
            rows = session.execute(sa.select(OutboxMessage.topic, sa.func.min(OutboxMessage.next_attempt_at))
                                   .where(OutboxMessage.topic.in_(self.topics), OutboxMessage.status == "pending")
                                   .group_by(OutboxMessage.topic)).all()
            leases = session.execute(sa.select(OutboxMessage.topic, sa.func.min(OutboxMessage.claimed_until))
                                     .where(OutboxMessage.topic.in_(self.topics),
                                            OutboxMessage.status == "in_flight")
                                     .group_by(OutboxMessage.topic)).all()
            pauses = dict(session.execute(sa.select(OutboxTopicState.topic, OutboxTopicState.paused_until)
                                          .where(OutboxTopicState.topic.in_(self.topics))).all())
        times = []
        for topic, at in [*rows, *leases]:
            if at is None:
                continue
            paused = pauses.get(topic)
            times.append(max(at, paused) if paused else at)
        return min(times) if times else None

    def run_until_idle(self, sleep: Callable[[float], None], *, max_wait_seconds: float = 86400.0,
                       max_passes: int = 100000) -> dict[str, int]:
        """Deliver, waiting out pauses and backoffs with `sleep` (a simulated clock's advance in tests), until nothing
        waits any more or a wait would pass `max_wait_seconds` in total. Answers the outcome counts."""
        totals: dict[str, int] = {}
        waited = 0.0
        for _ in range(max_passes):
            for status, n in self.drain().items():
                totals[status] = totals.get(status, 0) + n
            due = self.next_due()
            if due is None:
                break
            wait = max(0.0, (due - self.clock()).total_seconds())
            if waited + wait > max_wait_seconds:
                break
            sleep(wait + 0.001)
            waited += wait
        return totals

    def run_forever(self) -> None:
        log.info("outbox worker %s delivering %s", self.name, ", ".join(self.topics) or "nothing")
        while not self._stop.is_set():
            try:
                worked = self.run_once()
            except (sa.exc.DBAPIError, sa.exc.DisconnectionError, sa.exc.TimeoutError) as exc:
                if not database_unavailable(exc):
                    log.exception("outbox worker pass failed")
                    worked = {}
                else:  # one warning per outage, then waits doubling up to outage_wait_cap; resumes by itself
                    telemetry.database_unavailable("worker")
                    self._stop.wait(self._outage.failed(exc))
                    continue
            except Exception:  # noqa: BLE001 - a bug in one pass must not stop the worker
                log.exception("outbox worker pass failed")
                worked = {}
            else:
                self._outage.succeeded()
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


def jira_adapter_of(runtime):
    """The process's Jira adapter (built at start-up, or now from the configuration); None when Jira is off."""
    adapter = (getattr(runtime, "adapters", None) or {}).get("jira")
    if adapter is None and runtime.config.jira_enabled:
        adapter = build(runtime.config)
    return adapter


def build_deliverers(runtime) -> list[Deliverer]:
    """A deliverer for every enabled integration; topics without one simply wait in the outbox, visibly."""
    deliverers: list[Deliverer] = []
    jira_adapter = jira_adapter_of(runtime)
    if jira_adapter is not None:
        deliverers.append(JiraDeliverer(runtime.db, jira_adapter, base_url=runtime.config.base_url,
                                        settle_seconds=runtime.config.jira_settle_seconds))
    if runtime.config.slack_enabled:
        deliverers.append(SlackDeliverer.from_runtime(runtime))
    return deliverers


def build_reconciler(runtime):
    """The Jira reconciler beside every delivery worker (leader-elected: one acts); None when Jira is off."""
    adapter = jira_adapter_of(runtime)
    if adapter is None:
        return None
    config = runtime.config
    return JiraReconciler(runtime.db, adapter, instance_path=config.instance_path, push_every=config.jira_push_every,
                          pull_every=config.jira_pull_every)


class BackgroundGroup:
    """Services started together and stopped together (the delivery worker and the Jira reconciler)."""

    def __init__(self, services: list):
        self.services = [s for s in services if s is not None]

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


def start_in_background(runtime) -> BackgroundGroup | None:
    """Run a worker thread (and the Jira reconciler) in this process (`govern serve`); None when nothing is enabled."""
    deliverers = build_deliverers(runtime)
    if not deliverers:
        log.info("outbox worker not started: no integration is enabled")
        return None
    reconciler = build_reconciler(runtime)
    return BackgroundGroup([OutboxWorker(runtime.db, deliverers).start(), reconciler.start() if reconciler else None])


def run(runtime, *, once: bool = False, lease_seconds: float = 120.0, poll_seconds: float = 1.0,
        policy: RetryPolicy | None = None, batch_size: int | None = None, reconcile: bool = True) -> OutboxWorker:
    """Run a worker in the foreground until interrupted (`govern worker`), with the Jira reconciler beside it."""
    deliverers = build_deliverers(runtime)
    for deliverer in deliverers:
        if batch_size:
            deliverer.batch_size = min(deliverer.batch_size, batch_size)
    worker = OutboxWorker(runtime.db, deliverers, lease_seconds=lease_seconds, poll_seconds=poll_seconds,
                          policy=policy)
    if once:
        worker.drain()
        return worker
    reconciler = build_reconciler(runtime) if reconcile else None
    if reconciler is not None:
        reconciler.start()
    try:
        worker.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if reconciler is not None:
            reconciler.stop()
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
    parser = argparse.ArgumentParser(prog="python -m integrations.worker")
    parser.add_argument("--lease", type=float, default=120.0)
    parser.add_argument("--poll", type=float, default=1.0)
    parser.add_argument("--backoff-base", type=float, default=RetryPolicy.base_seconds)
    parser.add_argument("--backoff-cap", type=float, default=RetryPolicy.cap_seconds)
    parser.add_argument("--batch-size", type=int, default=None, help="at most this many messages per delivery")
    parser.add_argument("--once", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = Config.from_env()
    runtime = Runtime(config=config, db=Database(config.database_url))
    policy = RetryPolicy(base_seconds=args.backoff_base, cap_seconds=args.backoff_cap)
    try:
        run(runtime, once=args.once, lease_seconds=args.lease, poll_seconds=args.poll, policy=policy,
            batch_size=args.batch_size)
    finally:
        runtime.db.dispose()


if __name__ == "__main__":
    main()
