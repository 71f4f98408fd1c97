"""The Slack endpoints refuse anything not signed by Slack, acknowledge in time, and say when Slack is off."""

from __future__ import annotations

import time
import urllib.parse

import sqlalchemy as sa

from govern.model import Insight
from govern.integrations.slack.signing import sign
from tests.slack.conftest import SIGNING_SECRET
from tests.slack.support import said

LOTTE = "U0LOTTE01"


def insight_count(db) -> int:
    with db.session_scope() as s:
        return s.scalar(sa.select(sa.func.count(Insight.id)))


def evidence_body(slack) -> bytes:
    body, _, _ = slack.command_body('evidence OPP-1 "signed or not"', user_id=LOTTE)
    return body


def test_a_bad_signature_is_refused_and_nothing_runs(slack, slack_client, example_db, workspace):
    body = evidence_body(slack)
    headers = slack.headers(body)
    headers["X-Slack-Signature"] = sign("not-the-secret", body, headers["X-Slack-Request-Timestamp"])
    status, answer = slack.post(slack_client, "/slack/commands", body, headers)
    assert status == 401 and answer["error"]["code"] == "invalid_signature"
    assert insight_count(example_db) == 30
    assert workspace.calls == [] and workspace.response_posts == []


def test_a_tampered_body_is_refused(slack, slack_client, example_db):
    body = evidence_body(slack)
    headers = slack.headers(body)
    status, _ = slack.post(slack_client, "/slack/commands", body.replace(b"signed", b"forged"), headers)
    assert status == 401
    assert insight_count(example_db) == 30


def test_a_replayed_old_request_is_refused(slack, slack_client, example_db):
    body = evidence_body(slack)
    old = int(time.time()) - 6 * 60  # correctly signed, six minutes ago
    status, _ = slack.post(slack_client, "/slack/commands", body, slack.headers(body, timestamp=old))
    assert status == 401
    future = int(time.time()) + 6 * 60
    status, _ = slack.post(slack_client, "/slack/commands", body, slack.headers(body, timestamp=future))
    assert status == 401
    assert insight_count(example_db) == 30


def test_missing_signature_headers_are_refused(slack, slack_client, example_db):
    body = evidence_body(slack)
    headers = slack.headers(body)
    for missing in ("X-Slack-Signature", "X-Slack-Request-Timestamp"):
        partial = {k: v for k, v in headers.items() if k != missing}
        assert slack.post(slack_client, "/slack/commands", body, partial)[0] == 401
    assert slack.post(slack_client, "/slack/commands", body, {"Content-Type": headers["Content-Type"]})[0] == 401
    assert insight_count(example_db) == 30


def test_interactions_are_verified_too(slack, slack_client, workspace):
    body, _, _ = slack.block_action_body(user_id="U0ANA0001", channel_id=workspace.channel_id("cx-council"),
                                         message_ts="1.000001", action_id="approval.approve", value="1")
    headers = slack.headers(body)
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    assert slack.post(slack_client, "/slack/interactions", body, headers)[0] == 401
    old = slack.headers(body, timestamp=int(time.time()) - 301)
    assert slack.post(slack_client, "/slack/interactions", body, old)[0] == 401
    assert workspace.calls == []


def test_a_signed_request_that_is_not_an_interaction_is_a_400(slack, slack_client):
    body = urllib.parse.urlencode({"payload": "not json"}).encode()
    status, answer = slack.post(slack_client, "/slack/interactions", body)
    assert status == 400 and answer["error"]["code"] == "invalid_input"


def test_slow_answers_are_acknowledged_then_sent_to_response_url(slack, slack_client, slack_app, workspace):
    slack_app.extensions["govern"].adapters["slack"].inline_budget = 0.0  # everything counts as slow
    status, ack, response_url = slack.command(slack_client, "status OPP-1", user_id=LOTTE)
    assert status == 200 and ack == ""  # Slack's plain acknowledgement: the answer follows
    post = workspace.wait_for(lambda: workspace.posts_to(response_url))[0]
    assert post.status == 200 and "keep switchers informed" in said(post.body)
    assert post.body["response_type"] == "ephemeral"


def test_slack_disabled_answers_503_and_says_why(db, tmp_path):
    from flask import Flask

    from govern.app import build_adapters
    from govern.runtime import Runtime
    from govern.integrations.slack.views import bp
    from tests.conftest import make_config

    config = make_config(db, tmp_path)  # no GOVERN_SLACK_* set
    app = Flask("govern-slack-off")
    app.extensions["govern"] = Runtime(config=config, db=db, adapters=build_adapters(config))
    app.register_blueprint(bp)
    body = b"command=%2Fjourney&text=help&user_id=U1"
    response = app.test_client().post("/slack/commands", data=body,
                                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 503
    assert "GOVERN_SLACK_SIGNING_SECRET" in response.get_json()["error"]["message"]
    assert app.extensions["govern"].adapters["slack"] is None


def test_app_factory_mounts_the_slack_endpoints(example_db, tmp_path, workspace):
    from govern.app import create_app
    from tests.conftest import make_config

    config = make_config(example_db, tmp_path, slack_bot_token=workspace.token, slack_signing_secret=SIGNING_SECRET,
                         slack_api_url=workspace.base_url)
    app = create_app(config, db=example_db)
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert {"/slack/commands", "/slack/interactions"} <= rules
    assert app.test_client().get("/healthz").get_json()["integrations"]["slack"] == "enabled"
    app.extensions["govern"].adapters["slack"].shutdown()


def test_the_answer_to_a_command_is_valid_block_kit(slack, slack_client, workspace):
    """Whatever the command answers, Slack accepts it (the stand-in checks Block Kit's limits on response_url)."""
    from slack_sdk.webhook import WebhookClient

    for text in ("help", "status OPP-1", "list", "list being-a-customer", "owner switching-providers", "bogus",
                 "move OPP-10 prioritise", "status how might we"):
        _, answer, url = slack.command(slack_client, text, user_id=LOTTE)
        assert WebhookClient(url).send_dict(answer).status_code == 200, text


def test_the_answer_budget_comes_from_the_slack_setting(slack, slack_client, slack_app, workspace, example_db):
    from govern.services.common import put_setting

    with example_db.session_scope() as s:
        put_setting(s, "slack", {"command": "/journey", "ack_budget_ms": 0})
        s.commit()
    _, first, _ = slack.command(slack_client, "help", user_id=LOTTE)  # read with this command: applies to the next
    assert "/journey status OPP" in said(first)
    assert slack_app.extensions["govern"].adapters["slack"].inline_budget == 0.0
    status, ack, response_url = slack.command(slack_client, "help", user_id=LOTTE)
    assert status == 200 and ack == ""
    assert "/journey status OPP" in said(workspace.wait_for(lambda: workspace.posts_to(response_url))[0].body)


def test_a_public_answer_sent_later_is_still_public(slack, slack_client, slack_app, workspace):
    slack_app.extensions["govern"].adapters["slack"].inline_budget = 0.0
    _, ack, response_url = slack.command(slack_client, "owner switching-providers --public", user_id=LOTTE)
    post = workspace.wait_for(lambda: workspace.posts_to(response_url))[0]
    assert post.body["response_type"] == "in_channel" and "Lotte de Vries" in said(post.body)


def test_over_real_http_a_burst_is_acknowledged_and_every_answer_arrives(slack, slack_app, workspace):
    """The app behind a real HTTP server: 20 signed commands at once, each acknowledged (inline, or empty with the
    answer following through response_url), none lost. (Timing is bench/slack_ack.py's business, not a test's.)"""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from werkzeug.serving import make_server

    slack_app.extensions["govern"].adapters["slack"].inline_budget = 0.05
    server = make_server("127.0.0.1", 0, slack_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        texts = ["status OPP-1", "list", "owner switching-providers", "help", "list awaiting"] * 4
        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(lambda text: slack.command(base, text, user_id=LOTTE), texts))
        assert all(status == 200 for status, _, _ in results)
        slack_app.extensions["govern"].adapters["slack"].wait_idle()
        for (_, answer, url), text in zip(results, texts):
            if answer == "":
                answer = workspace.wait_for(lambda: workspace.posts_to(url))[0].body
            assert answer["response_type"] == "ephemeral" and said(answer), text
    finally:
        server.shutdown()
        server.server_close()
