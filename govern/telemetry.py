"""Prometheus metrics: what the engine counts, and how a scrape reads them (one process or many under gunicorn).

prometheus-client is imported only when a metric is first touched, never at import time: in multi-process mode
(`PROMETHEUS_MULTIPROC_DIR`, set by `govern serve` before gunicorn forks its workers) the library chooses how it stores
values when it is first imported, so that must happen in the processes that count, after the variable is set.

Business events are counted from the audit trail, once their transaction commits: every transition, approval decision
and ritual firing is an audit event, so nothing has to remember to count and a rolled-back change counts nothing.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from govern import audit
from govern.model import AuditEvent

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Audit actions → (counter, labels read from the event).
APPROVAL_DECISIONS = {"approval.approved": "approved", "approval.rejected": "rejected",
                      "approval.withdrawn": "withdrawn"}
RITUAL_FIRINGS = {"ritual.agenda_built": "fired", "ritual.missed": "missed"}


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """Every metric the engine exports (built once per process, on first use)."""

    def __init__(self):
        from prometheus_client import Counter, Gauge, Histogram

        self.request_latency = Histogram(
            "govern_http_request_duration_seconds", "Time to answer an HTTP request, by route and status class.",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS)
        self.requests = Counter("govern_http_requests", "HTTP requests answered, by route and status.",
                                ["method", "route", "status"])
        self.transitions = Counter("govern_transitions", "Opportunities moved from one lifecycle state to another.",
                                   ["from_state", "to_state", "trigger"])
        self.transition_requests = Counter("govern_transition_requests",
                                           "Transitions requested (some wait for approval).", ["trigger"])
        self.approvals = Counter("govern_approval_decisions", "Approval requests decided.", ["decision"])
        self.ritual_firings = Counter("govern_ritual_firings",
                                      "Ritual occurrences whose agenda was built (fired) or that were missed.",
                                      ["outcome"])
        self.deliveries = Counter("govern_outbox_deliveries",
                                  "Outbox messages handled by delivery workers, by topic and result "
                                  "(delivered, pending = will retry, dead = refused for good).", ["topic", "result"])
        self.database_unavailable = Counter(
            "govern_database_unavailable",
            "Times the database could not be reached or used: HTTP requests answered 503, and scheduler or outbox "
            "worker rounds skipped (they wait with backoff and resume).", ["where"])
        self.scheduler_ticks = Counter("govern_scheduler_ticks", "Scheduler rounds run (by every process).")
        self.scheduler_leader = Gauge("govern_scheduler_leader",
                                      "1 while a scheduler in this server holds the leader lock.",
                                      multiprocess_mode="livesum")


_metrics: Metrics | None = None
_metrics_lock = threading.Lock()


def metrics() -> Metrics:
    """This process's metrics, built by the first thread that needs them (registering twice is an error)."""
    global _metrics
    if _metrics is None:
        with _metrics_lock:
            if _metrics is None:
                _metrics = Metrics()
    return _metrics


# --- counting from the audit trail ----------------------------------------------------------------------------------


def _count_audit_events(events: Iterable[AuditEvent]) -> None:
    m = metrics()
    for event in events:
        action = event.action
        if action == "opportunity.transitioned":
            before, after = event.before or {}, event.after or {}
            m.transitions.labels(str(before.get("state", "")), str(after.get("state", "")),
                                 str(after.get("trigger", ""))).inc()
        elif action == "transition.requested":
            m.transition_requests.labels(str((event.after or {}).get("trigger", ""))).inc()
        elif action in APPROVAL_DECISIONS:
            m.approvals.labels(APPROVAL_DECISIONS[action]).inc()
        elif action in RITUAL_FIRINGS:
            m.ritual_firings.labels(RITUAL_FIRINGS[action]).inc()


def _after_commit(session: Session) -> None:
    # The events the transaction appended, as `audit.record` lists them (it writes them at once, not at a flush).
    written = session.info.pop(audit.WRITTEN, None)
    if written:
        _count_audit_events(written[1])


def _after_rollback(session: Session) -> None:
    session.info.pop(audit.WRITTEN, None)


_installed = threading.Lock()
_is_installed = False


def install() -> None:
    """Count business events from committed audit events, in every session of this process (idempotent)."""
    global _is_installed
    with _installed:
        if _is_installed:
            return
        sa.event.listen(Session, "after_commit", _after_commit)
        sa.event.listen(Session, "after_soft_rollback", lambda session, _tx: _after_rollback(session))
        _is_installed = True


# --- counted where they happen ----------------------------------------------------------------------------------------


def count_deliveries(topic: str | None, counts: dict[str, int]) -> None:
    """A delivery worker recorded outcomes: {result: number of messages}."""
    for result, n in counts.items():
        if n:
            metrics().deliveries.labels(topic or "?", result).inc(n)


def database_unavailable(where: str) -> None:
    """The database was unavailable to `where` (http, scheduler, worker)."""
    metrics().database_unavailable.labels(where).inc()


def scheduler_tick(is_leader: bool) -> None:
    m = metrics()
    m.scheduler_ticks.inc()
    m.scheduler_leader.set(1 if is_leader else 0)


def scheduler_stepped_down() -> None:
    if _metrics is not None:  # nothing to reset in a process that never counted
        metrics().scheduler_leader.set(0)


def request_done(method: str, route: str, status: int, seconds: float) -> None:
    m = metrics()
    status_text = str(status)
    m.request_latency.labels(method, route, status_text).observe(seconds)
    m.requests.labels(method, route, status_text).inc()


# --- reading ----------------------------------------------------------------------------------------------------------


class DatabaseCollector:
    """Gauges read from the database at scrape time (the database is the truth; no process keeps these in memory,
    and they are right whichever process did the work: a standalone scheduler or delivery worker included)."""

    def __init__(self, session_factory: Callable[[], Session], now: Callable[[], Any]):
        self.session_factory = session_factory
        self.now = now

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        from govern.queries.operations import metrics_snapshot

        up = GaugeMetricFamily("govern_database_up", "1 when the database answered this scrape.")
        try:
            with self.session_factory() as session:
                snapshot = metrics_snapshot(session, self.now())
        except sa.exc.SQLAlchemyError:
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        depth = GaugeMetricFamily("govern_outbox_messages", "Outbox messages by topic and status.",
                                  labels=["topic", "status"])
        for (topic, status), count in sorted(snapshot.outbox.items()):
            depth.add_metric([topic, status], count)
        age = GaugeMetricFamily("govern_outbox_oldest_waiting_seconds",
                                "Age of the oldest message not yet delivered (pending or in flight), by topic.",
                                labels=["topic"])
        for topic, seconds in sorted(snapshot.oldest_waiting_seconds.items()):
            age.add_metric([topic], seconds)
        rituals = GaugeMetricFamily("govern_ritual_occurrences",
                                    "Ritual occurrences by status (planned, fired, missed, held, ...).",
                                    labels=["status"])
        for status, count in sorted(snapshot.ritual_occurrences.items()):
            rituals.add_metric([status], count)
        schedulers = GaugeMetricFamily("govern_scheduler_processes",
                                       "Scheduler processes by role (silent: no round for 90 s).", labels=["role"])
        for role, count in sorted(snapshot.schedulers.items()):
            schedulers.add_metric([role], count)
        out = [up, depth, age, rituals, schedulers]
        if snapshot.leader_round_age_seconds is not None:
            leader_age = GaugeMetricFamily("govern_scheduler_leader_last_round_seconds",
                                           "Seconds since the leading scheduler's last round.")
            leader_age.add_metric([], snapshot.leader_round_age_seconds)
            out.append(leader_age)
        return out


def exposition(session_factory: Callable[[], Session], now: Callable[[], Any]) -> tuple[bytes, str]:
    """The text a scrape gets: this process's metrics, or every gunicorn worker's in multi-process mode, plus the
    outbox read from the database."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    metrics()  # every metric exists (at zero) before the first event, so dashboards see them from the start
    if multiprocess_dir():
        from prometheus_client import multiprocess

        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    database = CollectorRegistry()
    database.register(DatabaseCollector(session_factory, now))
    return generate_latest(counted) + generate_latest(database), CONTENT_TYPE_LATEST
