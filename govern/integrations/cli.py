"""CLI for delivery: the outbox worker, the outbox, and Jira sync."""

from __future__ import annotations

import logging

import click
import sqlalchemy as sa

from govern.cli.support import CommandFailed, as_option, get_runtime, resolve_actor, translate_errors
from govern.integrations.jira.adapter import classify
from govern.integrations.jira.check import check
from govern.integrations.jira.pull import sync_state
from govern.integrations.jira.push import load_mapping
from govern.integrations.jira.sync import JiraNotConfigured, adapter_for, sync_now
from govern.integrations.worker import build_deliverers, parse_since, retry_message, retry_messages, run
from govern.model import OutboxMessage
from govern.outbox import list_messages
from govern.workflows.services import backlog_states_by_lifecycle


@click.command()
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--lease", "lease_seconds", default=120.0, show_default=True, type=float,
              help="Seconds a claimed message is ours before another worker may take it over.")
@click.option("--poll", "poll_seconds", default=1.0, show_default=True, type=float,
              help="Seconds to wait when nothing is due.")
@translate_errors
def worker(once: bool, lease_seconds: float, poll_seconds: float):
    """Run an outbox delivery worker (any number may run at once; on PostgreSQL they share the queue)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = get_runtime()
    deliverers = build_deliverers(runtime)
    if not deliverers:
        click.echo("no integration is enabled (set GOVERN_JIRA_* or GOVERN_SLACK_*); nothing to deliver", err=True)
        if once:
            return
    click.echo(f"outbox worker delivering: {', '.join(d.topic for d in deliverers) or 'nothing'}")
    result = run(runtime, once=once, lease_seconds=lease_seconds, poll_seconds=poll_seconds)
    if once:
        click.echo(f"done ({result.name})")


@click.group()
def jira():
    """Jira backlog sync."""


@jira.command("sync")
@click.option("--dry-run", is_flag=True, help="Show what would be created and what changed in Jira; write nothing.")
@click.option("--rank", is_flag=True, help="Also re-order our open backlog items by our portfolio rank.")
@translate_errors
def jira_sync(dry_run: bool, rank: bool):
    """Reconcile with Jira now: queue every solution that should be in the backlog and is not, push what waits, pull
    status back. Waits out rate limits and outages (up to 5 minutes) like the worker does."""
    runtime = get_runtime()
    bar = {"push": None}
    pulled = {"n": 0}

    def on_push(done: int, total: int):
        if bar["push"] is None:
            bar["push"] = click.progressbar(length=total, label="pushing to Jira", show_pos=True)
            bar["push"].__enter__()
        bar["push"].update(done - bar["push"].pos)

    def on_pull(n: int):
        pulled["n"] += n
        click.echo(f"pulled {pulled['n']} backlog items", err=True)

    try:
        summary = sync_now(runtime, dry_run=dry_run, rank=rank, on_push=on_push, on_pull=on_pull)
    except JiraNotConfigured as exc:
        raise CommandFailed(str(exc), 1) from None
    except Exception as exc:  # noqa: BLE001 - e.g. Jira unreachable: say so plainly
        raise CommandFailed(f"Jira sync stopped: {classify(exc).message}", 1) from None
    finally:
        if bar["push"] is not None:
            bar["push"].__exit__(None, None, None)
    if dry_run:
        click.echo("dry run: nothing was written")
        for line in summary.would_create:
            click.echo(f"  would create: {line}")
    click.echo(f"created: {len(summary.would_create) if dry_run else summary.created}  updated: {summary.updated}  "
               f"failed: {summary.failed}  unchanged: {summary.unchanged}"
               + (f"  waiting: {summary.waiting}" if summary.waiting else ""))
    if summary.queued:
        click.echo(f"  found missing from Jira and queued: {', '.join(summary.queued)}")
    for line in summary.errors:
        click.echo(f"  failed {line}")
    for line in summary.lifecycle:
        click.echo(f"  lifecycle: {line}")
    if summary.ranking:
        click.echo(f"  ranking: {summary.ranking}")


@jira.command("check")
@translate_errors
def jira_check():
    """Check the Jira set-up before the first push: connection and auth mode, project, issue types, required fields."""
    runtime = get_runtime()
    try:
        adapter = adapter_for(runtime)
    except JiraNotConfigured as exc:
        raise CommandFailed(str(exc), 1) from None
    with runtime.db.session_scope() as session:
        mapping = load_mapping(session)
        named = {t for states in backlog_states_by_lifecycle(session).values() for t in states.values() if t}
    report = check(adapter, mapping, issue_types=named)
    for line in report.lines:
        click.echo(line)
    if not report.ok:
        raise CommandFailed(f"Jira is not ready: {len(report.problems)} problem"
                            f"{'s' if len(report.problems) != 1 else ''} (above)", 1)
    click.echo("Jira is ready")


@jira.command("status")
@translate_errors
def jira_status():
    """Show whether Jira is configured, the pull watermark, and what waits in the outbox."""
    runtime = get_runtime()
    config = runtime.config
    click.echo(f"jira: {'enabled, ' + config.jira_url if config.jira_enabled else 'disabled (GOVERN_JIRA_URL/TOKEN unset)'}")
    click.echo(f"webhook: {'signed with a secret' if config.jira_webhook_secret else 'refused (no GOVERN_JIRA_WEBHOOK_SECRET)'}")
    with runtime.db.session_scope() as session:
        state = sync_state(session)
        counts = dict(session.execute(sa.select(OutboxMessage.status, sa.func.count())
                                      .where(OutboxMessage.topic == "jira").group_by(OutboxMessage.status)).all())
    click.echo(f"watermark: {state.get('watermark') or 'none (the next pull reads everything)'}")
    if state.get("ranking"):
        click.echo(f"ranking: {state['ranking']}")
    click.echo("outbox: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "empty"))


@click.group()
def outbox():
    """Inspect and retry outbox deliveries."""


@outbox.command("list")
@click.option("--status", type=click.Choice(["pending", "in_flight", "delivered", "dead"]),
              help="dead: refused for good by the remote (the reason is shown); retry after fixing the cause.")
@click.option("--topic")
@click.option("--limit", default=50, show_default=True, type=int)
@translate_errors
def outbox_list(status: str | None, topic: str | None, limit: int):
    """List outbox messages, newest first, with attempts and the last error."""
    runtime = get_runtime()
    with runtime.db.session_scope() as session:
        messages = list_messages(session, status=status, topic=topic, limit=limit)
        if not messages:
            click.echo("no messages")
            return
        for m in messages:
            line = (f"#{m.id:<6} {m.topic:<6} {m.kind:<24} {m.status:<10} attempts {m.attempts:<3} "
                    f"next {m.next_attempt_at:%Y-%m-%d %H:%M:%S}")
            if m.external_ref:
                line += f"  -> {m.external_ref[:60]}"
            click.echo(line)
            if m.last_error and m.status != "delivered":
                click.echo(f"         error: {m.last_error[:300]}")


@outbox.command("retry")
@click.argument("message_id", type=int, required=False)
@click.option("--all", "all_dead", is_flag=True, help="Every dead message (of every topic), and resume paused topics.")
@click.option("--topic", help="Every dead message of this topic (jira, slack), and resume the topic now.")
@click.option("--since", help="Only messages created since then: an ISO date/time (UTC) or 30m, 2h, 1d.")
@as_option
@translate_errors
def outbox_retry(message_id: int | None, all_dead: bool, topic: str | None, since: str | None,
                 as_handle: str | None):
    """Send dead messages again (after fixing their cause, e.g. the Jira mapping): one ID, or --all/--topic/--since.

    Transient failures (Jira or Slack down, rate limits) never need this: the worker waits them out on its own."""
    if message_id is not None and (all_dead or topic or since):
        raise CommandFailed("give either a message id or --all/--topic/--since, not both", 2)
    if message_id is None and not (all_dead or topic or since):
        raise CommandFailed("say which messages to retry: a message id, --all, --topic TOPIC or --since WHEN", 2)
    runtime = get_runtime()
    with runtime.db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        if message_id is not None:
            message = retry_message(session, actor, message_id)
            click.echo(f"outbox message #{message.id} is pending again; a worker will deliver it")
            return
        ids = retry_messages(session, actor, topic=topic, since=parse_since(since) if since else None)
    scope = " ".join(part for part in (f"of topic {topic}" if topic else "", f"since {since}" if since else "") if part)
    click.echo(f"{len(ids)} dead message{'s' if len(ids) != 1 else ''} {scope + ' ' if scope else ''}"
               f"pending again; a worker will deliver {'them' if len(ids) != 1 else 'it'}")
