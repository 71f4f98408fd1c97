"""CLI for KPIs, ranking and the maturity reading."""

import click


@click.group()
def kpi():
    """KPIs and measurements."""


@click.command()
def rank():
    """Rank the opportunity portfolio."""
    raise click.ClickException("ranking is not built yet")


@click.command()
def maturity():
    """Print the organisation's maturity reading."""
    raise click.ClickException("the maturity reading is not built yet")
