"""The Slack stand-in answers the real slack_sdk WebClient the way Slack's Web API does."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.webhook import WebhookClient

from govern.integrations.slack import blocks
from govern.integrations.slack.signing import sign, signed_headers, verify
from tests.standins.slack import SlackSide


def error_of(call) -> tuple[int, str]:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value.response.status_code, caught.value.response["error"]


def test_auth_test_answers_the_bot_identity(web_client, slack_standin):
    answer = web_client.auth_test()
    assert answer["ok"] is True
    assert answer["user_id"] == slack_standin.bot_user_id
    assert answer["team_id"] == slack_standin.team_id
    assert slack_standin.calls_to("auth.test")[0].token == slack_standin.token


def test_wrong_or_missing_token_is_refused(slack_standin):
    wrong = WebClient(token="xoxb-wrong", base_url=slack_standin.base_url)
    assert error_of(wrong.auth_test) == (200, "invalid_auth")
    anonymous = WebClient(base_url=slack_standin.base_url)
    assert error_of(anonymous.auth_test) == (200, "not_authed")


def test_base_url_without_trailing_slash_still_reaches_the_api(slack_standin):
    client = WebClient(token=slack_standin.token, base_url=slack_standin.base_url.rstrip("/"))
    assert client.auth_test()["ok"]


def test_post_message_by_channel_id_or_name_and_update_it(web_client, slack_standin):
    channel = slack_standin.add_channel("cx-council")
    posted = web_client.chat_postMessage(channel="#cx-council", text="hello", blocks=[blocks.section("*hello*")])
    assert posted["channel"] == channel and posted["ts"]
    assert posted["message"]["blocks"][0]["text"]["text"] == "*hello*"
    updated = web_client.chat_update(channel=channel, ts=posted["ts"], text="bye", blocks=[blocks.section("bye")])
    assert updated["ts"] == posted["ts"]
    assert slack_standin.message(channel, posted["ts"])["text"] == "bye"


def test_post_message_errors_have_slack_codes(web_client, slack_standin):
    slack_standin.add_channel("general")
    assert error_of(lambda: web_client.chat_postMessage(channel="#nowhere", text="x")) == (200, "channel_not_found")
    with pytest.warns(UserWarning):  # slack_sdk warns about a missing text too
        assert error_of(lambda: web_client.chat_postMessage(channel="#general")) == (200, "no_text")
    too_long_header = [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]
    assert error_of(lambda: web_client.chat_postMessage(channel="#general", text="x", blocks=too_long_header)) == (
        200, "invalid_blocks")
    channel = slack_standin.channel_id("general")
    assert error_of(lambda: web_client.chat_update(channel=channel, ts="1.000001", text="x")) == (
        200, "message_not_found")


def test_post_message_to_a_user_id_opens_a_direct_message(web_client, slack_standin):
    user = slack_standin.add_user("lotte@example.org", "lotte")
    posted = web_client.chat_postMessage(channel=user, text="psst")
    assert posted["channel"].startswith("D")


def test_post_ephemeral_needs_a_member(web_client, slack_standin):
    lotte = slack_standin.add_user("lotte@example.org", "lotte")
    ruben = slack_standin.add_user("ruben@example.org", "ruben")
    channel = slack_standin.add_channel("general", members=(lotte,))
    assert web_client.chat_postEphemeral(channel=channel, user=lotte, text="only you")["message_ts"]
    assert error_of(lambda: web_client.chat_postEphemeral(channel=channel, user=ruben, text="x")) == (
        200, "user_not_in_channel")


def test_users_lookup_by_email(web_client, slack_standin):
    user = slack_standin.add_user("Lotte@Example.org", "lotte", real_name="Lotte de Vries")
    found = web_client.users_lookupByEmail(email="lotte@example.org")
    assert found["user"]["id"] == user
    assert found["user"]["profile"]["email"] == "Lotte@Example.org"
    assert error_of(lambda: web_client.users_lookupByEmail(email="nobody@example.org")) == (200, "users_not_found")


def test_views_open_needs_a_fresh_trigger_id(web_client, slack_standin):
    opp = SimpleNamespace(key="OPP-7", title="How might we keep switchers informed?")
    view = blocks.reject_reason_modal(3, opp, channel_id="C1", message_ts="1.1")
    opened = web_client.views_open(trigger_id=slack_standin.new_trigger_id(), view=view)
    assert opened["view"]["id"].startswith("V")
    assert opened["view"]["private_metadata"] == view["private_metadata"]
    assert error_of(lambda: web_client.views_open(trigger_id="123.456.nope", view=view)) == (
        200, "invalid_trigger_id")
    slack_standin.trigger_ttl = 0.0
    stale = slack_standin.new_trigger_id()
    time.sleep(0.01)
    assert error_of(lambda: web_client.views_open(trigger_id=stale, view=view)) == (200, "expired_trigger_id")


def test_rate_limit_answers_429_with_retry_after(web_client, slack_standin):
    slack_standin.add_channel("general")
    slack_standin.rate_limit("chat.postMessage", times=1, retry_after=7)
    with pytest.raises(SlackApiError) as caught:
        web_client.chat_postMessage(channel="#general", text="x")
    assert caught.value.response.status_code == 429
    assert caught.value.response["error"] == "ratelimited"
    assert caught.value.response.headers["Retry-After"] == "7"
    assert web_client.chat_postMessage(channel="#general", text="x")["ok"]


def test_the_sdk_rate_limit_retry_handler_waits_and_succeeds(slack_standin):
    slack_standin.add_channel("general")
    slack_standin.rate_limit("chat.postMessage", times=1, retry_after=0)
    client = WebClient(token=slack_standin.token, base_url=slack_standin.base_url,
                       retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    assert client.chat_postMessage(channel="#general", text="x")["ok"]
    assert [c.status for c in slack_standin.calls_to("chat.postMessage")] == [429, 200]


def test_server_errors_can_be_injected(web_client, slack_standin):
    slack_standin.fail("auth.test", status=503)
    assert error_of(web_client.auth_test)[0] == 503
    assert web_client.auth_test()["ok"]


def test_response_url_accepts_five_posts_within_thirty_minutes(slack_standin):
    url = slack_standin.new_response_url()
    hook = WebhookClient(url)
    for i in range(5):
        assert hook.send(text=f"update {i}", response_type="ephemeral").status_code == 200
    sixth = hook.send(text="one too many")
    assert sixth.status_code == 404 and "used_url" in sixth.body
    assert len(slack_standin.posts_to(url)) == 6

    late = slack_standin.new_response_url()
    slack_standin.expire_response_url(late)
    expired = WebhookClient(late).send(text="too late")
    assert expired.status_code == 404 and "expired_url" in expired.body
    assert WebhookClient(slack_standin.new_response_url()).send_dict({}).status_code == 400


def test_signed_headers_verify_and_tampering_fails():
    body = b"command=%2Fjourney&text=help"
    headers = signed_headers("secret", body)
    assert verify("secret", body, headers)
    assert not verify("other-secret", body, headers)
    assert not verify("secret", body + b"x", headers)
    stale = signed_headers("secret", body, timestamp=int(time.time()) - 301)
    assert not verify("secret", body, stale)
    assert not verify("secret", body, {})
    assert not verify("secret", body, {**headers, "X-Slack-Request-Timestamp": "not-a-number"})


def test_signature_matches_slacks_documented_example():
    # The worked example in Slack's "Verifying requests from Slack" guide.
    body = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
            b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
            b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRs"
            b"kXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    assert sign("8f742231b10e8888abcd99yyyzzz85a5", body, 1531420618) == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")


def test_slack_side_builds_signed_commands_and_payloads(slack_standin):
    side = SlackSide(slack_standin, "secret")
    user = slack_standin.add_user("lotte@example.org", "lotte")
    body, response_url, trigger_id = side.command_body("status OPP-7", user_id=user)
    assert b"command=%2Fjourney" in body and b"text=status+OPP-7" in body
    assert response_url.startswith(slack_standin.url) and trigger_id
    assert verify("secret", body, side.headers(body))


def test_block_builders_are_accepted_by_slack(web_client, slack_standin):
    slack_standin.add_channel("cx-council")
    owner = SimpleNamespace(name="Lotte", handle="lotte", slack_id="U1")
    journey = SimpleNamespace(name="Switching providers", key="switching", owner=owner)
    insight = SimpleNamespace(key="INS-1", text="Porting took 9 days", source="tickets")
    opp = SimpleNamespace(key="OPP-7", title="How might we keep switchers informed while their number ports?",
                          state="prioritise", state_reason=None, owner=owner, journeys=[journey], insights=[insight],
                          solutions=[], state_changed_at=None)
    request = SimpleNamespace(from_state="prioritise", to_state="implement", requested_by=owner, reason="go",
                              opportunity=opp)
    messages = [
        blocks.help_blocks("/journey", {"help": ("help", "this help")}),
        blocks.usage_blocks("/journey", "status OPP", "show one opportunity", "which opportunity?"),
        blocks.opportunity_status(opp, score=42.5, pending=[request]),
        blocks.opportunity_list("Open", [opp] * 80),
        blocks.approval_list("Awaiting you", [request]),
        blocks.approval_request(3, opp, from_state="prioritise", to_state="implement", requested_by="Lotte",
                                reason="ready", approvers="owner of Moving house"),
        blocks.approval_outcome(3, opp, from_state="prioritise", to_state="implement", outcome="approved",
                                by="Ruben"),
        blocks.owner_blocks(journey),
        blocks.owner_blocks(SimpleNamespace(name="Moving house", key="moving", owner=None)),
        blocks.ownership_gap([journey]),
        blocks.evaluation_due(opp),
        blocks.transition_notice(opp, "research", "prioritise", actor="Lotte", reason="enough evidence"),
        blocks.agenda_blocks({"ritual": {"name": "Weekly council review"}, "scheduled_at": "2026-11-25 10:00",
                              "sections": [{"title": "Awaiting a decision", "items": [{"key": "OPP-7",
                                                                                        "title": "informing"}]},
                                           {"title": "Stale", "items": []}]}),
        blocks.agenda_blocks({"sections": {"Ownership gaps": ["Moving house"]}}),
    ]
    for message in messages:
        assert web_client.chat_postMessage(channel="#cx-council", text="x", blocks=message)["ok"]


def test_private_channels_need_the_bot_as_a_member(web_client, slack_standin):
    slack_standin.add_channel("secret-council", is_private=True, bot_is_member=False)
    slack_standin.add_channel("open-plan", bot_is_member=False)
    assert error_of(lambda: web_client.chat_postMessage(channel="#secret-council", text="x")) == (
        200, "not_in_channel")
    assert web_client.chat_postMessage(channel="#open-plan", text="x")["ok"]  # chat:write.public
