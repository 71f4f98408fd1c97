"""Slack's "Save as evidence" message shortcut end to end: a signed message_action from Slack's side (tests/standins),
views.open of the modal through the real slack_sdk client against the stand-in, the submission recording the insight
through the evidence service with the permalink (chat.getPermalink), personal data scrubbed and the author left out."""

from __future__ import annotations

import sqlalchemy as sa

from govern.integrations.slack.evidence import (
    KIND_ACTION, KIND_BLOCK, SAVE_AS_EVIDENCE, STEPS_ACTION, STEPS_BLOCK, TEXT_ACTION, TEXT_BLOCK, message_text,
)
from govern.model import Insight
from tests.slack.support import said

LOTTE, SAM, STRANGER = "U0LOTTE01", "U0SAM0001", "U0STRANGER"
MESSAGE = ("Customer called again: porting stuck for 9 days, call her back on +31 6 1234 5678 or "
           "mail jan.jansen@example.com <@U0SAM0001> can you check?")


def _saved(example_db):
    with example_db.session_scope() as s:
        return s.scalars(sa.select(Insight).where(Insight.source_key == "slack")).all()


def test_a_message_is_saved_as_evidence_through_the_modal(slack, slack_client, workspace, example_db):
    channel = workspace.channel_id("cx-switching")
    ts = workspace.post_as_user(channel, SAM, MESSAGE)
    status, _, _ = slack.shortcut(slack_client, user_id=LOTTE, channel_id=channel, message_ts=ts,
                                  callback_id=SAVE_AS_EVIDENCE)
    assert status == 200
    opened = workspace.calls_to("views.open")
    assert len(opened) == 1 and opened[0].response["ok"] is True, opened[0].response if opened else None
    view = opened[0].response["view"]
    view = workspace.views[view["id"]]  # as it stands after the suggestions were added (views.update)
    text_block = next(b for b in view["blocks"] if b.get("block_id") == TEXT_BLOCK)
    prefilled = text_block["element"]["initial_value"]
    assert "jan.jansen@example.com" not in prefilled and "1234 5678" not in prefilled and "U0SAM0001" not in prefilled
    assert "porting stuck for 9 days" in prefilled
    assert "Suggested steps (a suggestion" in str(view["blocks"])
    assert _saved(example_db) == []  # nothing recorded until the modal is submitted

    status, answer = slack.submit(slack_client, user_id=LOTTE, view_id=view["id"], values={
        TEXT_BLOCK: {TEXT_ACTION: prefilled}, KIND_BLOCK: {KIND_ACTION: "ticket"},
        STEPS_BLOCK: {STEPS_ACTION: ["switching-providers/port-number"]}})
    assert status == 200 and answer == "", answer  # an empty 200 closes the modal
    (insight,) = _saved(example_db)
    assert insight.text == prefilled and insight.kind == "ticket"
    assert insight.source == "Slack #cx-switching"  # the author is not named (slack.evidence_author is off)
    assert insight.url == f"https://{workspace.team.lower().replace(' ', '-')}.slack.com/archives/{channel}/p" \
                          + ts.replace(".", "")
    assert insight.external_id == f"{channel}/{ts}"
    with example_db.session_scope() as s:
        steps = [f"{st.journey.key}/{st.key}" for st in s.get(Insight, insight.id).steps]
    assert steps == ["switching-providers/port-number"]
    assert workspace.calls_to("chat.getPermalink")[0].response["ok"] is True
    assert any(f"INS-{insight.number}" in e["text"] for e in workspace.ephemeral)

    # The same message again: already saved, no second insight.
    _, _, url = slack.shortcut(slack_client, user_id=LOTTE, channel_id=channel, message_ts=ts,
                               callback_id=SAVE_AS_EVIDENCE)
    note = workspace.wait_for(lambda: workspace.posts_to(url))[0].body
    assert f"already saved as INS-{insight.number}" in said(note)
    assert len(_saved(example_db)) == 1 and len(workspace.calls_to("views.open")) == 1


def test_a_saved_message_without_steps_waits_in_triage_and_bad_submissions_keep_the_modal(
        slack, slack_client, workspace, example_db):
    from govern.queries.triage import triage_page
    from tests.conftest import actor

    channel = workspace.channel_id("cx-billing")
    ts = workspace.post_as_user(channel, SAM, "My invoice doubled after the move")
    slack.shortcut(slack_client, user_id=LOTTE, channel_id=channel, message_ts=ts, callback_id=SAVE_AS_EVIDENCE)
    view_id = workspace.calls_to("views.open")[0].response["view"]["id"]
    status, answer = slack.submit(slack_client, user_id=LOTTE, view_id=view_id, values={
        TEXT_BLOCK: {TEXT_ACTION: "   "}, KIND_BLOCK: {KIND_ACTION: "quote"}})
    assert answer["response_action"] == "errors" and TEXT_BLOCK in answer["errors"]
    status, answer = slack.submit(slack_client, user_id=STRANGER, view_id=view_id, values={
        TEXT_BLOCK: {TEXT_ACTION: "My invoice doubled after the move"}, KIND_BLOCK: {KIND_ACTION: "quote"}})
    assert "could not match your Slack account" in answer["errors"][TEXT_BLOCK]
    assert _saved(example_db) == []
    status, answer = slack.submit(slack_client, user_id=LOTTE, view_id=view_id, values={
        TEXT_BLOCK: {TEXT_ACTION: "My invoice doubled after the move"}, KIND_BLOCK: {KIND_ACTION: "quote"}})
    assert answer == ""
    (insight,) = _saved(example_db)
    with example_db.session_scope() as s:
        waiting = [r.insight.key for r in triage_page(s, actor(s, "femke")).rows]
    assert f"INS-{insight.number}" in waiting


def test_an_unsigned_shortcut_is_refused_before_anything_runs(slack, slack_client, workspace):
    channel = workspace.channel_id("cx-switching")
    ts = workspace.post_as_user(channel, SAM, "anything")
    body, _, _ = slack.message_shortcut_body(user_id=LOTTE, channel_id=channel, message_ts=ts,
                                             callback_id=SAVE_AS_EVIDENCE)
    status, _ = slack.post(slack_client, "/slack/interactions", body, headers={"X-Slack-Signature": "v0=bad",
                                                                              "X-Slack-Request-Timestamp": "1"})
    assert status == 401 and workspace.calls_to("views.open") == []


def test_a_stranger_is_told_they_are_not_matched_and_no_modal_opens(slack, slack_client, workspace):
    channel = workspace.channel_id("cx-switching")
    ts = workspace.post_as_user(channel, SAM, "porting is slow")
    _, _, url = slack.shortcut(slack_client, user_id=STRANGER, channel_id=channel, message_ts=ts,
                               callback_id=SAVE_AS_EVIDENCE)
    assert "could not match your Slack account" in said(workspace.wait_for(lambda: workspace.posts_to(url))[0].body)
    assert workspace.calls_to("views.open") == []


def test_message_text_scrubs_mentions_links_and_personal_data():
    text = message_text("Hi <@U0SAM0001|sam>, see <https://help.example/t/1|ticket 1> and <mailto:a@b.example|a@b> "
                        "in <#C0BILLING|cx-billing>; card 4111 1111 1111 1111 &amp; more")
    assert "U0SAM0001" not in text and "@someone" in text and "ticket 1" in text and "#cx-billing" in text
    assert "a@b.example" not in text and "4111 1111 1111 1111" not in text and "& more" in text


def test_the_standin_get_permalink_follows_the_docs(web_client_for_standin):
    client, standin = web_client_for_standin
    channel = standin.channel_id("general")
    ts = standin.post_as_user(channel, "U0SAM0001", "hello")
    assert client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"].endswith(ts.replace(".", ""))
    from slack_sdk.errors import SlackApiError
    import pytest

    with pytest.raises(SlackApiError) as missing:
        client.chat_getPermalink(channel=channel, message_ts="1.000001")
    assert missing.value.response["error"] == "message_not_found"
    with pytest.raises(SlackApiError) as unknown:
        client.chat_getPermalink(channel="C0NOPE", message_ts=ts)
    assert unknown.value.response["error"] == "channel_not_found"


import pytest  # noqa: E402


@pytest.fixture
def web_client_for_standin(workspace):
    from slack_sdk import WebClient

    return WebClient(token=workspace.token, base_url=workspace.base_url, timeout=5), workspace
