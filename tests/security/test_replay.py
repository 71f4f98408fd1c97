"""Findings 8 and 11: replayed signed requests. A Slack request replayed inside its five-minute window ran twice; an
old signed Jira "Done" replayed after "In Progress" won; the Jira secret could travel in the URL (and the log)."""

from __future__ import annotations

import copy

import pytest
import sqlalchemy as sa

from govern.model import Insight, Solution
from tests.jira.conftest import add_opportunity, solutions
from tests.jira.test_pull_and_webhook import SECRET, _app

LOTTE = "U0LOTTE01"
server_only = pytest.mark.parametrize("standin", ["Server"], indirect=True)


def _insights(db, text):
    with db.session_scope() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Insight).where(Insight.text == text))


def test_a_replayed_slack_command_runs_once(slack, slack_client, example_db):
    text = "A quote recorded once"
    body, _, _ = slack.command_body(f'evidence OPP-1 "{text}" tickets', user_id=LOTTE)
    headers = slack.headers(body)
    first = slack_client.post("/slack/commands", data=body, headers=headers)
    assert first.status_code == 200 and _insights(example_db, text) == 1
    replayed = slack_client.post("/slack/commands", data=body, headers=headers)
    assert replayed.status_code == 409 and _insights(example_db, text) == 1


def test_a_slack_retry_is_acknowledged_without_running_again(slack, slack_client, example_db):
    text = "A quote Slack retried"
    body, _, _ = slack.command_body(f'evidence OPP-1 "{text}" tickets', user_id=LOTTE)
    assert slack_client.post("/slack/commands", data=body, headers=slack.headers(body)).status_code == 200
    retry = slack_client.post("/slack/commands", data=body,
                              headers={**slack.headers(body, timestamp=None), "X-Slack-Retry-Num": "1",
                                       "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status_code == 200 and _insights(example_db, text) == 1


@pytest.fixture
def hooked(db, tmp_path, standin, adapter, jira_worker):
    app = _app(db, tmp_path, adapter, jira_url=standin.base_url, jira_user=standin.user, jira_token=standin.token,
               jira_webhook_secret=SECRET)
    add_opportunity(db, 1)
    jira_worker.drain()
    return app, solutions(db)[0].external_key


def _send(app, standin, payload, identifier=None):
    body, headers = standin.webhook_request(payload, SECRET, identifier=identifier)
    return app.test_client().post("/jira/webhook", data=body, headers=headers)


@server_only
def test_an_old_signed_jira_event_replayed_later_changes_nothing(db, standin, hooked):
    app, key = hooked
    done = standin.move_issue(key, "Done", by="alice")
    in_progress = copy.deepcopy(standin.move_issue(key, "In Progress", by="alice"))
    in_progress["issue"]["fields"]["updated"] = "2099-01-01T10:00:00.000+0000"  # certainly later than `done`
    assert _send(app, standin, done).json["applied"] is True
    assert _send(app, standin, in_progress).json["applied"] is True
    replay = _send(app, standin, done, identifier="a-new-identifier-to-dodge-dedupe")
    assert replay.status_code == 200 and replay.json["applied"] is False
    assert solutions(db)[0].state == "in_progress"


@server_only
def test_the_same_jira_delivery_is_applied_once(db, standin, hooked):
    app, key = hooked
    payload = standin.move_issue(key, "Done", by="alice")
    assert _send(app, standin, payload, identifier="delivery-1").json["applied"] is True
    with db.session_scope() as s:
        s.execute(sa.update(Solution).values(state="todo", external_status="To Do"))
        s.commit()  # as if someone had changed it back since: the same delivery must not apply again
    again = _send(app, standin, payload, identifier="delivery-1")
    assert again.status_code == 200 and "already handled" in again.json["ignored"]
    assert solutions(db)[0].state == "todo"


@server_only
def test_the_jira_secret_is_never_accepted_in_the_url(db, standin, hooked):
    app, key = hooked
    payload = standin.move_issue(key, "Done", by="alice")
    body, headers = standin.webhook_request(payload, None)
    answer = app.test_client().post(f"/jira/webhook?secret={SECRET}", data=body, headers=headers)
    assert answer.status_code == 401 and solutions(db)[0].state == "todo"
