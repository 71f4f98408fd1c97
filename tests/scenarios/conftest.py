"""Fixtures for the end-to-end scenarios (docs: /work/shared/SCENARIOS.md): the example organisation behind one app
with Slack AND Jira configured against their stand-ins, a bearer-token API client, the outbox worker, and the
scheduler on a hand-set clock. Everything else is reused from the capability suites."""

from __future__ import annotations

import pytest

# The Slack stand-in, its workspace of example people and Slack's signed side, as the Slack suite defines them.
from tests.slack.conftest import SIGNING_SECRET, running_standin, slack, slack_standin, workspace  # noqa: F401
from tests.api.conftest import ApiClient

JIRA_WEBHOOK_SECRET = "scenario-webhook-secret"


@pytest.fixture
def jira_standin():
    """A stand-in Jira Cloud with the OPS project, on a free loopback port."""
    from tests.standins.jira import JiraStandIn

    fake = JiraStandIn("Cloud")
    fake.serve()
    yield fake
    fake.stop()


@pytest.fixture
def scenario_app(example_db, tmp_path, slack_standin, workspace, jira_standin):  # noqa: F811
    """The app (govern.app.create_app) on a fresh Telco Nova, with Slack and Jira both configured."""
    from govern.app import create_app
    from tests.conftest import make_config

    config = make_config(example_db, tmp_path, slack_bot_token=slack_standin.token,
                         slack_signing_secret=SIGNING_SECRET, slack_api_url=slack_standin.base_url,
                         jira_url=jira_standin.base_url, jira_user=jira_standin.user, jira_token=jira_standin.token,
                         jira_webhook_secret=JIRA_WEBHOOK_SECRET)
    app = create_app(config, db=example_db)
    adapter = app.extensions["govern"].adapters["slack"]
    adapter.inline_budget = 10.0  # answer inline however busy the machine is: one answer per request
    yield app
    adapter.wait_idle()
    adapter.shutdown()


@pytest.fixture
def api(scenario_app, example_db) -> ApiClient:
    return ApiClient(scenario_app, example_db)


def deliver(app, topic: str) -> dict[str, int]:
    """The outbox worker, with the deliverers `govern serve` would build, until nothing of `topic` is due."""
    from govern.integrations.worker import OutboxWorker, build_deliverers

    runtime = app.extensions["govern"]
    return OutboxWorker(runtime.db, build_deliverers(runtime), name="scenario", lease_seconds=30).drain([topic])
