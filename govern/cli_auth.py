"""CLI for people's sign-in: passwords and personal API tokens."""

import click


@click.group()
def token():
    """Personal API tokens."""


@click.group()
def user():
    """Sign-in accounts."""
