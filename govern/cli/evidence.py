"""`govern evidence …`: importing a source's export, triage (what matches no step, with suggested steps), linking,
editing, deleting and merging insights, erasing an insight's personal data and applying the evidence retention of
govern.yaml.

They delegate to `govern.services.intake` (import_records, with the readers of govern.services.intake_readers),
`govern.services.evidence` and `govern.queries.triage`; refusals come back as domain errors that GovernGroup turns
into a message on stderr and an exit code (2 invalid input, 3 not found, 4 not allowed, 5 refused or already erased).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys

import click

from govern.cli.support import (
    CommandFailed,
    GovernGroup,
    as_option,
    get_runtime,
    resolve_actor,
)
from govern.queries.triage import triage_page
from govern.services.common import get_setting
from govern.services.evidence import (
    EVIDENCE_SETTING, apply_retention, delete_evidence, edit_evidence, link_evidence_to_steps, merge_evidence,
    redact_evidence,
)
from govern.services.intake import ImportRefused, RowRejection, import_records
from govern.services.intake_readers import FORMATS, read_file


@click.group(cls=GovernGroup)
def evidence():
    """Evidence (insights): imports from a source, triage, curation, erasure of personal data and retention."""


@evidence.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--source", "source_key", required=True, metavar="KEY", help="The source in govern.yaml (`sources:`).")
@click.option("--format", "file_format", type=click.Choice(FORMATS), default=None,
              help="The file's format (default: from its name: .csv, .xlsx, .json, .ndjson).")
@click.option("--dry-run", is_flag=True, help="Map and count every row; write nothing.")
@click.option("--skip-invalid", is_flag=True, help="Write the valid rows even when some are rejected.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the rejected rows (row, reason and the row's columns) to this CSV file.")
@as_option
def evidence_import(file, source_key, file_format, dry_run, skip_invalid, rejects_path, as_handle):
    """Import a source's export (CSV, XLSX, JSON or NDJSON) as evidence: new rows are added, changed rows update
    their insight, unchanged rows write nothing. All-or-nothing unless --skip-invalid (exit 2 when rows are
    rejected and nothing was written)."""
    runtime = get_runtime()
    table = read_file(file, format=file_format, max_bytes=runtime.config.max_import_bytes)
    with runtime.db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        with click.progressbar(length=max(1, table.total), label=f"importing {click.format_filename(file)}",
                               file=sys.stderr, show_pos=table.unit == "rows") as bar:
            state = {"shown": 0}

            def progress(rows: int) -> None:
                if table.done is None:
                    bar.update(rows)
                else:
                    now = min(table.total, table.done())
                    bar.update(now - state["shown"])
                    state["shown"] = now

            try:
                result = import_records(session, actor, source_key, table.rows, header=table.header,
                                        dry_run=dry_run, skip_invalid=skip_invalid, progress=progress)
            except ImportRefused as refused:
                result = refused.result
                bar.finish()
                _report(result, rejects_path)
                raise CommandFailed(f"{len(result.rejected)} row(s) rejected, nothing imported (fix them or use "
                                    "--skip-invalid)", 2) from None
    _report(result, rejects_path)
    if dry_run:
        click.echo("dry run: nothing written")


def _report(result, rejects_path: str | None) -> None:
    click.echo(result.summary_line())
    for rejection in result.rejected:
        click.echo(rejection.line())
    if result.duplicate_count or result.duplicates_unchecked:
        click.echo(result.duplicates_line() + " (a suggestion: imported anyway; merge them with govern evidence merge)")
        for duplicate in result.duplicates:
            click.echo(f"  {duplicate.line()}")
    if rejects_path:
        _write_rejects(rejects_path, result.rejected)
        click.echo(f"rejected rows written to {rejects_path}")


def _write_rejects(path: str, rejected: list[RowRejection]) -> None:
    columns: list[str] = []
    for r in rejected:
        for key in (r.record or {}) if isinstance(r.record, dict) else ():
            if key not in columns:
                columns.append(str(key))
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", "reason", *columns])
        for r in rejected:
            record = r.record if isinstance(r.record, dict) else {}
            writer.writerow([r.row, r.reason, *[_cell(record.get(c)) for c in columns]])


def _cell(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, default=str)


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


# --- triage and curation (govern.services.evidence, govern.queries.triage) --------------------------------------------


@evidence.command("triage")
@click.option("--page", type=click.IntRange(1, 10**6), default=1, show_default=True)
@click.option("--page-size", type=click.IntRange(1, 200), default=25, show_default=True)
@as_option
def evidence_triage(page, page_size, as_handle):
    """Evidence that matches no step, waiting for you, with suggested steps (link one: govern evidence link KEY STEP)."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        result = triage_page(session, actor, page=page, per_page=page_size)
        click.echo(f"{result.total} insight(s) wait in triage (page {result.page} of {result.pages})")
        for row in result.rows:
            i = row.insight
            text = i.text if len(i.text) <= 100 else i.text[:99] + "…"
            click.echo(f"\n{i.key}  {i.source} · {i.observed_on:%Y-%m-%d}\n  “{text}”")
            for s in row.suggestions:
                click.echo(f"  suggestion: {s.step}  ({s.name}, {s.journey}; similarity {s.score:.2f})")
            if not row.suggestions:
                click.echo("  no step suggested")
            for d in row.duplicates:
                click.echo(f"  suggestion: probably the same as {d.key} (similarity {d.score:.2f})")


@evidence.command("link")
@click.argument("insight", metavar="INSIGHT")
@click.argument("steps", nargs=-1, required=True, metavar="JOURNEY/STEP...")
@as_option
def evidence_link(insight, steps, as_handle):
    """Link an insight to one or more steps (e.g. a suggestion from the triage list)."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        linked = link_evidence_to_steps(session, actor, insight, list(steps))
        click.echo(f"{linked.key} is linked to {', '.join(linked.step_refs)}")


def _edits(**options) -> dict:
    out = {k: v for k, v in options.items() if v is not None}
    for key in ("tags", "personas"):
        if key in out:
            out[key] = [] if out[key] in ("", "-") else [t.strip() for t in out[key].split(",")]
    if out.get("sentiment") in ("", "-", "none"):
        out["sentiment"] = None
    if out.get("url") in ("", "-"):
        out["url"] = None
    return out


@evidence.command("edit")
@click.argument("insight", metavar="INSIGHT")
@click.option("--text")
@click.option("--source")
@click.option("--kind")
@click.option("--observed-on", "observed_on", metavar="YYYY-MM-DD")
@click.option("--url", help="A link back to the record ('-' removes it).")
@click.option("--volume", help="How many tickets, responses or people it stands for.")
@click.option("--sentiment", help="-2..+2 ('-' removes it); a person's value, no longer a suggestion.")
@click.option("--tags", help="Comma-separated; replaces the tags ('-' for none).")
@click.option("--personas", help="Comma-separated persona keys; replaces them ('-' for none).")
@as_option
def evidence_edit(insight, as_handle, **options):
    """Correct an insight. Whoever recorded it may; else coordinators and owners on its journeys, and the council."""
    changes = _edits(**options)
    if not changes:
        raise CommandFailed("nothing to change: give at least one of --text, --source, --kind, --observed-on, --url, "
                            "--volume, --sentiment, --tags, --personas", 2)
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        edited = edit_evidence(session, actor, insight, changes)
        click.echo(f"{edited.key} updated ({', '.join(sorted(changes))})")


@evidence.command("delete")
@click.argument("insight", metavar="INSIGHT")
@click.option("--reason", required=True, help="Why it is deleted (kept in the audit log).")
@as_option
def evidence_delete(insight, reason, as_handle):
    """Delete an insight; refused when it is the last evidence of an opportunity (merge duplicates instead)."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        delete_evidence(session, actor, insight, reason=reason)
        click.echo(f"deleted {insight.upper()} (the audit log keeps its content)")


@evidence.command("merge")
@click.argument("insight", metavar="DUPLICATE")
@click.option("--into", required=True, metavar="SURVIVOR", help="The insight that stays (e.g. INS-3).")
@as_option
def evidence_merge(insight, into, as_handle):
    """Merge a duplicate into its survivor: steps, opportunity evidence and volume move over."""
    with get_runtime().db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        survivor = merge_evidence(session, actor, insight, into)
        click.echo(f"merged {insight.upper()} into {survivor.key} (volume now {survivor.volume}; steps: "
                   f"{', '.join(survivor.step_refs) or 'none'})")
