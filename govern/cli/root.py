"""The root `govern` command group: the engine's own commands (init, apply, db, audit, export, import, serve) and
every capability's command groups."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from alembic import command as alembic_command
import sqlalchemy as sa

from govern import __version__, audit
from govern.cli.auth import token, user
from govern.cli.evidence import evidence
from govern.cli.measurement import kpi, maturity, rank, score
from govern.cli.schema import schema
from govern.cli.support import (
    DEMO_PASSWORD, CommandFailed, GovernGroup, as_option, get_runtime, resolve_actor,
)
from govern.errors import InvalidInput
from govern.policy import Actor
from govern.integrations.cli import jira, outbox, worker
from govern.playbook.cli import playbook
from govern.rituals.cli import rituals, scheduler
from govern.workflows.cli import opp, workflows_group
from govern.orgfile.load import apply_file, load_example
from govern.db import alembic_config
from govern.model import AuditEvent, Person
from govern.services.people import set_password
from govern.services.portability import dump, export_data, import_data
from govern.yamltext import load_json
from govern.serving import ServeOptions, serve_development, serve_production


@click.group(cls=GovernGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="govern")
def cli():
    """Journey ops engine: governance, lifecycles, rituals, Jira and Slack for customer journey management.

    Configuration comes from the environment (GOVERN_DATABASE_URL, GOVERN_SECRET_KEY, GOVERN_JIRA_*, GOVERN_SLACK_*);
    without it, a SQLite database in ./instance is used and integrations are off.
    """


@cli.group(cls=GovernGroup)
def db():
    """Database schema (Alembic)."""


@db.command("upgrade")
def db_upgrade():
    """Create or migrate the schema to the newest revision."""
    runtime = get_runtime()
    runtime.db.upgrade()
    click.echo(f"schema at revision {', '.join(sorted(runtime.db.current_revisions()))}")


@db.command("current")
def db_current():
    """Show the schema revision."""
    click.echo(", ".join(sorted(get_runtime().db.current_revisions())) or "(empty database)")


def _has_data(runtime) -> bool:
    with runtime.db.session_scope() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Person)) > 0


@cli.command()
@click.option("--example", is_flag=True, help="Load the example organisation (Telco Nova) with runtime data.")
@click.option("--reset", is_flag=True, help="Drop everything first (asks for confirmation unless --yes).")
@click.option("--yes", is_flag=True, help="Do not ask before --reset.")
def init(example: bool, reset: bool, yes: bool):
    """Create the database schema and, with --example, load the example organisation."""
    runtime = get_runtime()
    if reset:
        if not yes:
            click.confirm(f"Drop every table in {runtime.db.engine.url.render_as_string(hide_password=True)}?",
                          abort=True)
        alembic_command.downgrade(alembic_config(runtime.db), "base")
    runtime.db.upgrade()
    click.echo(f"database ready: {runtime.db.engine.url.render_as_string(hide_password=True)}")
    if not example:
        return
    if _has_data(runtime):
        click.echo("the database already holds an organisation; left as it is (use --reset to start over)")
        return
    operator = Actor.system_actor("init")
    with runtime.db.session_scope() as session:
        counts = load_example(session, operator)
        for handle in session.scalars(sa.select(Person.handle).order_by(Person.handle)).all():
            set_password(session, operator, handle, DEMO_PASSWORD, commit=False)
        session.commit()
    click.echo(f"loaded the example organisation Telco Nova: {counts['insights']} insights, "
               f"{counts['opportunities']} opportunities")
    click.echo(f"demo sign-in: any person's handle (ana, marco, lotte, femke, sam, noah, priya, tom, iris) "
               f"with password '{DEMO_PASSWORD}'")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@as_option
def apply(file: Path, dry_run: bool, as_handle: str | None):
    """Validate govern.yaml and apply it (idempotent: a second apply changes nothing)."""
    runtime = get_runtime()
    with runtime.db.session_scope() as session:
        actor = resolve_actor(session, as_handle)
        result = apply_file(session, actor, file, dry_run=dry_run)
    if result.empty:
        click.echo("no changes: the database already matches the file")
        return
    for line in result.lines():
        click.echo(line)
    verb = "would change" if dry_run else "applied"
    click.echo(f"{verb}: {len(result.changes)} change(s)" + (" (dry run, nothing written)" if dry_run else ""))


@cli.group(cls=GovernGroup)
def audit_group():
    """The hash-chained audit log."""


@audit_group.command("verify")
def audit_verify():
    """Check the audit chain; name the first broken event."""
    with get_runtime().db.session_scope() as session:
        result = audit.verify(session)
    if result.ok:
        click.echo(f"audit chain intact: {result.checked} events verified")
        return
    raise CommandFailed(f"audit chain broken at event {result.first_broken_id}: {result.problem} "
                        f"({result.checked} events before it verified)", 6)


@audit_group.command("log")
@click.option("--entity", help="entity type and id, e.g. opportunity:OPP-7")
@click.option("--limit", default=30, show_default=True)
def audit_log(entity: str | None, limit: int):
    """Show recent audit events."""
    query = sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if entity:
        kind, _, ident = entity.partition(":")
        query = query.where(AuditEvent.entity_type == kind, AuditEvent.entity_id == ident)
    with get_runtime().db.session_scope() as session:
        for event in reversed(session.scalars(query).all()):
            click.echo(f"{event.id:>6} {event.at:%Y-%m-%d %H:%M} {event.actor:<16} {event.action:<28} "
                       f"{event.entity_type}:{event.entity_id}" + (f" — {event.reason}" if event.reason else ""))


cli.add_command(audit_group, "audit")


@cli.command("export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout).")
@click.option("--without-credentials", is_flag=True,
              help="Leave out password hashes and API/calendar tokens (people set passwords again after an import).")
def export_cmd(out: Path | None, without_credentials: bool):
    """Export everything as JSON (lossless).

    The export holds password hashes and API and calendar token hashes: keep it as secret as the database itself,
    or use --without-credentials.
    """
    with get_runtime().db.session_scope() as session:
        data = export_data(session, Actor.system_actor("cli"), credentials=not without_credentials)
    if out:
        with out.open("w", encoding="utf-8") as handle:
            dump(data, handle)
        click.echo(f"exported {sum(len(rows) for rows in data['tables'].values())} rows to {out}"
                   + (" (without credentials)" if without_credentials else
                      " (it holds password and token hashes: keep it secret)"), err=True)
    else:
        dump(data, sys.stdout)


@cli.command("import")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def import_cmd(file: Path):
    """Import a JSON export into an empty database."""
    runtime = get_runtime()
    runtime.db.upgrade()
    try:
        data = load_json(file.read_bytes(), str(file))  # not UTF-8, not JSON, or nested too deeply: named, exit 2
    except InvalidInput as exc:
        raise CommandFailed(exc.message, 2) from None
    with runtime.db.session_scope() as session:
        counts = import_data(session, Actor.system_actor("cli"), data)
    click.echo(f"imported {sum(counts.values())} rows into {len([c for c in counts.values() if c])} tables")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="GOVERN_HOST")
@click.option("--port", default=5000, show_default=True, type=int, envvar="GOVERN_PORT")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), envvar="GOVERN_WEB_WORKERS",
              help="gunicorn worker processes.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 256), envvar="GOVERN_WEB_THREADS",
              help="Threads per worker process.")
@click.option("--timeout", default=60, show_default=True, type=click.IntRange(5, 3600),
              help="Seconds before gunicorn restarts a worker stuck in one request.")
@click.option("--access-log", is_flag=True, help="Log every request (gunicorn's access log, on stdout).")
@click.option("--dev", is_flag=True, help="Werkzeug's development server in one process instead (never in production).")
@click.option("--no-scheduler", is_flag=True, help="Do not run the ritual scheduler in the web processes.")
@click.option("--no-worker", is_flag=True, help="Do not run an outbox delivery worker in the web processes.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              envvar="GOVERN_LOG_FORMAT", help="json: one JSON object per line (for log collectors).")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
              default="INFO", show_default=True, envvar="GOVERN_LOG_LEVEL")
def serve(host: str, port: int, workers: int, threads: int, timeout: int, access_log: bool, dev: bool,
          no_scheduler: bool, no_worker: bool, log_format: str, log_level: str):
    """Serve the web app and API under gunicorn (the ritual scheduler and an outbox worker run in each process)."""
    runtime = get_runtime()
    runtime.db.upgrade()
    runtime.db.dispose()  # the web processes open their own connections
    options = ServeOptions(host=host, port=port, workers=workers, threads=threads, timeout=timeout,
                           scheduler=not no_scheduler, worker=not no_worker, access_log=access_log,
                           log_format=log_format, log_level=log_level.upper())
    for name, enabled in (("jira", runtime.config.jira_enabled), ("slack", runtime.config.slack_enabled)):
        click.echo(f"  {name}: {'enabled' if enabled else 'disabled (not configured)'}")
    if dev:
        click.echo(f"Serving the journey ops engine on http://{host}:{port} with the development server "
                   f"(Ctrl+C to stop)")
        serve_development(runtime.config, options, say=click.echo)
        return
    click.echo(f"Serving the journey ops engine on http://{host}:{port} with gunicorn "
               f"({workers} worker(s) x {threads} thread(s); Ctrl+C to stop)")
    serve_production(runtime.config, options)


for command in (opp, workflows_group, rituals, scheduler, worker, jira, outbox, playbook, kpi, rank, maturity, score,
                token, user, schema, evidence):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="govern")


if __name__ == "__main__":
    main()
