"""Fixtures for the Slack tests: the Slack stand-in on a free loopback port, and a WebClient pointed at it."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient

from tests.standins.slack import SlackStandin

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture(scope="session")
def running_standin():
    with SlackStandin() as standin:
        yield standin


@pytest.fixture
def slack_standin(running_standin):
    """The Slack stand-in (one server for the session), emptied for each test."""
    running_standin.reset()
    yield running_standin
    running_standin.reset()


@pytest.fixture
def web_client(slack_standin):
    return WebClient(token=slack_standin.token, base_url=slack_standin.base_url, timeout=5)


EXAMPLE_PEOPLE = {
    # handle: (Slack user id as in examples/telecom/govern.yaml, e-mail)
    "ana": ("U0ANA0001", "ana.silva@telconova.example"),
    "marco": ("U0MARCO01", "marco.rossi@telconova.example"),
    "lotte": ("U0LOTTE01", "lotte.devries@telconova.example"),
    "femke": ("U0FEMKE01", "femke.jansen@telconova.example"),
    "sam": ("U0SAM0001", "sam.okafor@telconova.example"),
    "noah": ("U0NOAH001", "noah.visser@telconova.example"),
    "priya": ("U0PRIYA01", "priya.shah@telconova.example"),
    "tom": ("U0TOM0001", "tom.bakker@telconova.example"),
    "iris": ("U0IRIS001", "iris.peeters@telconova.example"),
}
EXAMPLE_CHANNELS = ("cx-council", "cx-switching", "cx-billing", "cx-service", "general")


@pytest.fixture
def workspace(slack_standin):
    """The example organisation's Slack workspace in the stand-in: its people and channels, plus a stranger."""
    for handle, (user_id, email) in EXAMPLE_PEOPLE.items():
        slack_standin.add_user(email, handle, user_id=user_id)
    slack_standin.add_user("stranger@elsewhere.example", "stranger", user_id="U0STRANGER")
    for name in EXAMPLE_CHANNELS:
        slack_standin.add_channel(name, members=tuple(u for u, _ in EXAMPLE_PEOPLE.values()))
    return slack_standin


@pytest.fixture(scope="session")
def shared_slack_app(migrated_db, tmp_path_factory, running_standin):
    """The app (govern.app.create_app) with Slack configured against the stand-in, built once: building it costs
    seconds on a busy machine, and it holds nothing between requests that the per-test reset below does not clear."""
    from govern.app import create_app
    from tests.conftest import make_config

    config = make_config(migrated_db, tmp_path_factory.mktemp("slack-app"), slack_bot_token=running_standin.token,
                         slack_signing_secret=SIGNING_SECRET, slack_api_url=running_standin.base_url)
    app = create_app(config, db=migrated_db)
    yield app
    adapter = app.extensions["govern"].adapters.get("slack")
    if adapter is not None:
        adapter.shutdown()


@pytest.fixture
def slack_app(example_db, shared_slack_app, workspace):
    """The app on a fresh copy of the example organisation, its Slack adapter as new."""
    assert shared_slack_app.extensions["govern"].db is example_db
    adapter = shared_slack_app.extensions["govern"].adapters["slack"]
    adapter.directory.forget()
    # Answer inline however busy the test machine is, so that tests see one answer; the deferred path is tested by
    # setting the budget to 0.
    adapter.inline_budget = 10.0
    yield shared_slack_app
    adapter.wait_idle()  # background work of this test finishes before the next test empties the database


@pytest.fixture
def slack_client(slack_app):
    return slack_app.test_client()


@pytest.fixture
def slack(workspace):
    """Slack's side: signed slash commands and interactions, as Slack sends them."""
    from tests.standins.slack import SlackSide

    return SlackSide(workspace, SIGNING_SECRET, channel_id=workspace.channel_id("general"))
