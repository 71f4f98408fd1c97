"""The attack suite: each finding of issue 14 replayed as an attacker would, against the example organisation.

Every test here was written first and seen to fail against the code before the fix (the attack got through); it
passes when the attack is refused. People of Telco Nova: ana (lead, admin), marco (manager), lotte (coordinator of
switching-providers, owns it), femke (coordinator of paying-my-bill, owns it), noah (coordinator of getting-help,
owns it), priya/tom/iris (supporters).
"""

from __future__ import annotations

import pytest

from govern.policy import Actor
from govern.services.common import put_setting
from govern.services.opportunities import create_opportunity
from govern.workflows.definition import resolve_lifecycle
from tests.api.conftest import ApiClient, assert_error  # noqa: F401 - re-exported for the attack tests
from tests.web.conftest import WebClient

# A lifecycle with one transition that needs every touched journey's owner: the approval-bypass attack's target.
OWNERS_ALL = {
    "name": "owners_all", "title": "Owners approve", "initial": "research", "final": ["done"],
    "states": {"research": {"description": "gather evidence"}, "prioritise": {"description": "decide"},
               "done": {"description": "closed"}},
    "transitions": [
        {"trigger": "prioritise", "source": "research", "dest": "prioritise", "approval": {"owners": "all"}},
        {"trigger": "finish", "source": "prioritise", "dest": "done"},
    ],
}

OPERATOR = Actor.system_actor("attack-setup")


@pytest.fixture
def api(example_app, example_db) -> ApiClient:
    return ApiClient(example_app, example_db)


@pytest.fixture
def owners_all(example_db):
    """The organisation runs the owners-all lifecycle."""
    with example_db.session_scope() as s:
        put_setting(s, "lifecycle.current", resolve_lifecycle(OWNERS_ALL))
        s.commit()


def new_opportunity(db, journeys, *, owner="lotte", title="How might we keep switchers informed?") -> str:
    with db.session_scope() as s:
        return create_opportunity(s, OPERATOR, title=title, journeys=list(journeys), owner=owner).key


def web_sign_in(app, handle: str, password: str, **environ):
    """Sign in through the form (with its CSRF token) on a fresh cookie jar: (WebClient, the POST's response)."""
    web = WebClient(app.test_client())
    web.get("/login")
    extra = {"environ_base": environ} if environ else {}
    return web, web.post("/login", {"handle": handle, "password": password}, **extra)


# The Slack and Jira stand-ins and their fixtures, for the replay attacks (test_replay.py).
from tests.jira.conftest import adapter, jira_worker, standin  # noqa: E402,F401
from tests.slack.conftest import (  # noqa: E402,F401
    running_standin, shared_slack_app, slack, slack_app, slack_client, slack_standin, workspace,
)
