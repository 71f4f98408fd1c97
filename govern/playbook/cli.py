"""CLI for the playbook (`govern playbook build`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from govern.cli.support import CommandFailed, GovernGroup, get_runtime
from govern.playbook import build as build_mod
from govern.playbook.data import collect


@click.group(cls=GovernGroup)
def playbook():
    """Build the onboarding playbook from the live configuration."""


@playbook.command("build")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the playbook into (created if missing).")
@click.option("--format", "fmt", type=click.Choice(["html", "md", "pdf"]), default="html", show_default=True,
              help="html: a static site; md: Markdown pages for a wiki; pdf: one document (needs the pdf extra).")
@click.option("--as-of", "as_of", default=None, metavar="DATE",
              help="The moment the playbook describes (next rituals, KPI freshness, maturity): a date, a date and "
                   "time (UTC unless it says otherwise) or 'today' (the default). The same data and --as-of give "
                   "byte-identical output.")
@click.option("--base-url", default=None, metavar="URL",
              help="Where the web app runs (e.g. https://govern.example.com), for calendar and API links.")
def build_command(out: Path, fmt: str, as_of: str | None, base_url: str | None):
    """Generate the playbook from govern.yaml as applied and the database."""
    try:
        moment = build_mod.parse_as_of(as_of, lambda: dt.datetime.now(dt.timezone.utc).date())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--as-of") from None
    if fmt == "pdf" and not build_mod.pdf_available():
        raise CommandFailed(build_mod.PDF_INSTALL_HINT)
    runtime = get_runtime()
    with runtime.db.session_scope() as session:
        pb = collect(session, as_of=moment, base_url=base_url)
        try:
            files = build_mod.build(pb, fmt)
        except build_mod.PdfUnavailable as exc:
            raise CommandFailed(str(exc)) from None
    written = build_mod.write(files, out)
    entry = {"html": "index.html", "md": "index.md", "pdf": "playbook.pdf"}[fmt]
    click.echo(f"playbook written: {len(written)} file(s) in {out} (open {out / entry}), as of "
               f"{moment:%Y-%m-%d %H:%M} UTC")
