"""`govern schema`: the JSON Schema and reference of govern.yaml, and checking files against everything apply checks."""

from __future__ import annotations

from pathlib import Path

import click

from govern.cli.support import CommandFailed
from govern.errors import InvalidInput
from govern.orgfile.reference import shipped_reference_text, shipped_schema_text
from govern.orgfile.load import read_config_file


@click.command("schema")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reference", is_flag=True, help="Print the Markdown reference of every section and key instead.")
def schema(files: tuple[Path, ...], reference: bool):
    """Print govern.yaml's JSON Schema; with FILES, check each file as `govern apply` would, without a database.

    Editors validate and complete govern.yaml when its first line names the schema:
    `# yaml-language-server: $schema=./govern.schema.json` (write it with `govern schema > govern.schema.json`).
    """
    if not files:
        click.echo(shipped_reference_text() if reference else shipped_schema_text(), nl=False)
        return
    failed = 0
    for file in files:
        try:
            read_config_file(file)
        except InvalidInput as exc:
            failed += 1
            details = exc.details if isinstance(exc.details, dict) else {}
            click.echo(f"{file}: {exc.message}" if not details else f"{file}: {len(details)} error(s)", err=True)
            for path, message in details.items():
                click.echo(f"  {path}: {message}", err=True)
            continue
        click.echo(f"{file}: valid")
    if failed:
        raise CommandFailed(f"{failed} of {len(files)} file(s) not valid", 2)
