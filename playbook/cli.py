"""CLI for the playbook (`govern playbook build`)."""

import click


@click.group()
def playbook():
    """Build the onboarding playbook from the live configuration."""
