"""`govern jira sync`: reconcile once, now: queue what should be in Jira and is not, push what waits, pull what changed."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Callable

import sqlalchemy as sa

from govern.model import OutboxMessage, OutboxTopicState, Solution, utcnow
from govern.policy import Actor
from govern.workflows.services import queue_missing_backlog_items
from govern.integrations.jira.adapter import JiraAdapter, Patience, build
from govern.integrations.jira.pull import PullReport, pull, save_sync_state
from govern.integrations.jira.push import CREATE_KINDS, TOPIC, JiraDeliverer, load_mapping, message_solution_ids, rank_backlog
from govern.integrations.worker import OutboxWorker


class JiraNotConfigured(Exception):
    pass


@dataclass
class SyncSummary:
    created: int = 0
    updated: int = 0
    failed: int = 0
    unchanged: int = 0
    waiting: int = 0  # messages still waiting for a retry (e.g. Jira answered 429)
    queued: list[str] = field(default_factory=list)  # solutions found missing from Jira and queued by this sync
    ranking: str | None = None
    lifecycle: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    would_create: list[str] = field(default_factory=list)  # dry run


def adapter_for(runtime) -> JiraAdapter:
    adapter = (getattr(runtime, "adapters", None) or {}).get("jira") or build(runtime.config)
    if adapter is None:
        raise JiraNotConfigured("Jira is not configured: set GOVERN_JIRA_URL, GOVERN_JIRA_USER and GOVERN_JIRA_TOKEN")
    return adapter


def due_jira_messages(session) -> list[OutboxMessage]:
    return list(session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.topic == TOPIC, OutboxMessage.status == "pending").order_by(OutboxMessage.id)))


def sync_now(runtime, *, dry_run: bool = False, rank: bool = False,
             on_push: Callable[[int, int], None] | None = None,
             on_pull: Callable[[int], None] | None = None, patience: Patience | None = None,
             clock: Callable[[], dt.datetime] = utcnow) -> SyncSummary:
    """Reconcile once, now: queue every solution that should be in Jira and is not, push what waits (backoff waived:
    someone asked), then pull changes since the watermark. Transient failures (429/503 with Retry-After, 5xx, no
    answer) are waited out like the worker does, within `patience` (5 minutes by default); what still waits then is
    reported as waiting and the worker carries on with it. (`clock` and `patience.sleep` let tests simulate time.)"""
    adapter = adapter_for(runtime)
    patience = patience or Patience()
    summary = SyncSummary()
    db = runtime.db
    with db.session_scope() as session:
        summary.queued = queue_missing_backlog_items(session, Actor.system_actor("jira"), commit=False)
        messages = due_jira_messages(session)
        if dry_run:
            for message in messages:
                if message.kind not in CREATE_KINDS:
                    continue
                for sid in message_solution_ids(session, message):
                    solution = session.get(Solution, sid)
                    if solution is not None and solution.external_key is None:
                        summary.would_create.append(f"{solution.key} {solution.title}")
                    elif solution is not None:
                        summary.unchanged += 1
            session.rollback()
        else:
            now = clock()
            for message in messages:
                message.next_attempt_at = now
            state = session.get(OutboxTopicState, TOPIC)
            if state is not None:
                state.paused_until = None  # someone asked: try now, whatever the breaker said
            session.commit()
    if not dry_run and messages:
        deliverer = JiraDeliverer(db, adapter, base_url=runtime.config.base_url,
                                  settle_seconds=runtime.config.jira_settle_seconds, clock=clock)
        worker = OutboxWorker(db, [deliverer], name=f"jira-sync-{id(deliverer)}", clock=clock)
        ids = [m.id for m in messages]
        total = len(ids)
        done = 0
        while True:
            counts = worker.run_once([TOPIC])
            if counts:
                report = deliverer.last_report
                summary.created += report.created + report.adopted
                summary.unchanged += report.unchanged
                done += sum(n for status, n in counts.items() if status != "retry")
                if on_push:
                    on_push(min(done, total), total)
            if not _still_open(db, ids):
                break
            if counts and set(counts) != {"retry"}:
                continue
            due = worker.next_due()
            wait = max(0.0, (due - clock()).total_seconds()) if due else 0.0
            if patience.waited + wait > patience.wait_seconds:
                break  # the worker carries on with what waits
            (patience.sleep or time.sleep)(wait)
            patience.waited += wait
        with db.session_scope() as session:
            rows = session.execute(sa.select(OutboxMessage.status, OutboxMessage.last_error, OutboxMessage.id)
                                   .where(OutboxMessage.id.in_(ids))).all()
            summary.failed = sum(1 for status, _, _ in rows if status in ("failed", "dead"))
            summary.waiting = sum(1 for status, _, _ in rows if status in ("pending", "in_flight"))
            summary.errors = [f"outbox #{mid}: {error}" for status, error, mid in rows
                              if status in ("failed", "dead") and error]
    report: PullReport = pull(db, adapter, dry_run=dry_run, progress=on_pull, patience=patience)
    summary.updated = report.updated
    summary.unchanged += report.unchanged
    summary.lifecycle = report.lifecycle
    if rank and not dry_run:
        with db.session_scope() as session:
            mapping = load_mapping(session)
            if mapping.ranking:
                summary.ranking = patience.call(rank_backlog, adapter, session, mapping)
                save_sync_state(session, ranking=summary.ranking)
                session.commit()
    return summary


def _still_open(db, ids: list[int]) -> bool:
    with db.session_scope() as session:
        return bool(session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
            OutboxMessage.id.in_(ids), OutboxMessage.status.in_(("pending", "in_flight")))))
