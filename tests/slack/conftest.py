"""Fixtures for the Slack tests: the Slack stand-in on a free loopback port, and a WebClient pointed at it."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from integrations.slack.standin import SlackStandin

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture
def slack_standin():
    with SlackStandin() as standin:
        yield standin


@pytest.fixture
def web_client(slack_standin):
    return WebClient(token=slack_standin.token, base_url=slack_standin.base_url, timeout=5)
