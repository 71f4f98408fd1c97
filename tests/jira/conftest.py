"""Fixtures for the Jira capability: a stand-in Jira on a free loopback port, in Server or Cloud mode."""

from __future__ import annotations

import pytest

from integrations.jira.standin import JiraStandIn

DEPLOYMENTS = ["Server", "Cloud"]


@pytest.fixture(params=DEPLOYMENTS)
def standin(request):
    """A running stand-in Jira, once per deployment type."""
    fake = JiraStandIn(request.param)
    fake.serve()
    yield fake
    fake.stop()
