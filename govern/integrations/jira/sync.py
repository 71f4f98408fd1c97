"""`govern jira sync`: push what waits and pull what changed, now, with a summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import sqlalchemy as sa

from govern.model import OutboxMessage, Solution, utcnow
from govern.integrations.jira.adapter import JiraAdapter, build
from govern.integrations.jira.pull import PullReport, pull, save_sync_state
from govern.integrations.jira.push import CREATE_KINDS, TOPIC, JiraDeliverer, load_mapping, message_solution_ids, rank_backlog


class JiraNotConfigured(Exception):
    pass


@dataclass
class SyncSummary:
    created: int = 0
    updated: int = 0
    failed: int = 0
    unchanged: int = 0
    waiting: int = 0  # messages still waiting for a retry (e.g. Jira answered 429)
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
             on_pull: Callable[[int], None] | None = None) -> SyncSummary:
    """Push every pending `jira` message now (backoff waived: someone asked), then pull changes since the watermark."""
    from govern.integrations.worker import OutboxWorker

    adapter = adapter_for(runtime)
    summary = SyncSummary()
    db = runtime.db
    with db.session_scope() as session:
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
            for message in messages:
                message.next_attempt_at = utcnow()
            session.commit()
    if not dry_run and messages:
        deliverer = JiraDeliverer(db, adapter, base_url=runtime.config.base_url)
        worker = OutboxWorker(db, [deliverer], name=f"jira-sync-{id(deliverer)}")
        total = len(messages)
        done = 0
        while True:
            counts = worker.run_once([TOPIC])
            if not counts:
                break
            report = deliverer.last_report
            summary.created += report.created + report.adopted
            summary.unchanged += report.unchanged
            done += sum(counts.values())
            summary.waiting = counts.get("pending", 0) + counts.get("retry", 0)
            if on_push:
                on_push(min(done, total), total)
            if counts.keys() <= {"retry"}:
                break  # Jira asked us to wait; the worker will carry on later
        with db.session_scope() as session:
            ids = [m.id for m in messages]
            rows = session.execute(sa.select(OutboxMessage.status, OutboxMessage.last_error, OutboxMessage.id)
                                   .where(OutboxMessage.id.in_(ids))).all()
            summary.failed = sum(1 for status, _, _ in rows if status in ("failed", "dead"))
            summary.waiting = sum(1 for status, _, _ in rows if status in ("pending", "in_flight"))
            summary.errors = [f"outbox #{mid}: {error}" for status, error, mid in rows
                              if status in ("failed", "dead") and error]
    report: PullReport = pull(db, adapter, dry_run=dry_run, progress=on_pull)
    summary.updated = report.updated
    summary.unchanged += report.unchanged
    summary.lifecycle = report.lifecycle
    if rank and not dry_run:
        with db.session_scope() as session:
            mapping = load_mapping(session)
            if mapping.ranking:
                summary.ranking = rank_backlog(adapter, session, mapping)
                save_sync_state(session, ranking=summary.ranking)
                session.commit()
    return summary
