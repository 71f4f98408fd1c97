"""CLI for rituals (`govern rituals …`) and the scheduler process (`govern scheduler`)."""

import click


@click.group()
def rituals():
    """Rituals: list, next, agenda, hold, skip."""


@click.command()
def scheduler():
    """Run the ritual scheduler alone (leader-elected)."""
    raise click.ClickException("the scheduler is not built yet")
