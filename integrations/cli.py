"""CLI for delivery: the outbox worker, the outbox, and Jira sync."""

import click


@click.command()
def worker():
    """Run an outbox delivery worker."""
    raise click.ClickException("the outbox worker is not built yet")


@click.group()
def jira():
    """Jira backlog sync."""


@click.group()
def outbox():
    """Inspect and retry outbox deliveries."""
