"""`govern evidence …`: erasing an insight's personal data and applying the evidence retention of govern.yaml.

Both delegate to `govern.services.evidence` (redact_evidence, apply_retention); refusals come back as domain errors
that GovernGroup turns into a message on stderr and an exit code (2 invalid input, 3 not found, 4 not allowed,
5 already erased).
"""

from __future__ import annotations

import datetime as dt

import click

from govern.cli.support import GovernGroup, as_option, get_runtime, resolve_actor
from govern.services.common import get_setting
from govern.services.evidence import EVIDENCE_SETTING, apply_retention, redact_evidence


@click.group(cls=GovernGroup)
def evidence():
    """Evidence (insights): erasure of personal data and retention."""


@evidence.command("redact")
@click.argument("insight", metavar="INSIGHT")
@click.option("--reason", required=True, help="Why the text is erased (kept in the audit log).")
@as_option
def evidence_redact(insight, reason, as_handle):
    """Erase an insight's text and source, here and in the audit log; the audit chain stays verifiable."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        erased = redact_evidence(session, actor, insight, reason=reason)
        click.echo(f"erased the text and source of {erased.key} (the audit chain still verifies)")


@evidence.command("retention")
@click.option("--dry-run", is_flag=True, help="List what would be erased; change nothing.")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Count the retention period back from this day (default: today).")
@as_option
def evidence_retention(dry_run, today, as_handle):
    """Erase every insight observed longer ago than `evidence.retention_days` in govern.yaml."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        days = (get_setting(session, EVIDENCE_SETTING, {}) or {}).get("retention_days")
        if not days:
            click.echo("no retention is set (evidence.retention_days in govern.yaml): nothing to erase")
            return
        keys = apply_retention(session, actor, today=today.date() if isinstance(today, dt.datetime) else None,
                               dry_run=dry_run)
    verb = "would erase" if dry_run else "erased"
    click.echo(f"{verb} {len(keys)} insight(s) observed more than {days} days ago"
               + (": " + ", ".join(keys) if keys else "") + (" (dry run, nothing written)" if dry_run else ""))
