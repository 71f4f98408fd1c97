"""Approvals in Slack: the request is posted with buttons, a press decides as that person, the message shows it."""

from __future__ import annotations


import sqlalchemy as sa

from govern.model import ApprovalRequest, ApprovalVote, Opportunity
from govern.integrations.slack.blocks import APPROVE_ACTION, REASON_ACTION, REASON_BLOCK, REJECT_ACTION
from tests.slack.support import buttons, deliver_slack, said

LOTTE, ANA, PRIYA, SAM, STRANGER = "U0LOTTE01", "U0ANA0001", "U0PRIYA01", "U0SAM0001", "U0STRANGER"


def request_posted(slack, slack_client, slack_app, workspace):
    """Lotte asks to move OPP-1 to prioritise (the lead must approve); the outbox posts the request."""
    slack.command(slack_client, "move OPP-1 prioritise ready for the council", user_id=LOTTE)
    assert deliver_slack(slack_app) == {"delivered": 1}
    channel = workspace.channel_id("cx-switching")
    message = workspace.messages[channel][-1]
    return channel, message


def state_of(db, number=1):
    with db.session_scope() as s:
        return s.scalar(sa.select(Opportunity.state).where(Opportunity.number == number))


def request_row(db):
    with db.session_scope() as s:
        request = s.scalar(sa.select(ApprovalRequest).order_by(ApprovalRequest.id.desc()).limit(1))
        votes = s.scalar(sa.select(sa.func.count(ApprovalVote.id)).where(ApprovalVote.request_id == request.id))
        return request.id, request.status, votes


def test_request_is_posted_to_the_journey_channels_with_buttons(slack, slack_client, slack_app, workspace):
    channel, message = request_posted(slack, slack_client, slack_app, workspace)
    assert buttons(message) == [APPROVE_ACTION, REJECT_ACTION]
    text = said(message)
    assert "Approval needed" in text and "OPP-1" in text and "Research → Prioritise" in text
    assert "requested by Lotte de Vries" in text and "ready for the council" in text and "the lead (Ana Silva)" in text
    # OPP-1 also touches "Moving house", which has no channel of its own, nor has its parent: the council's.
    assert buttons(workspace.messages[workspace.channel_id("cx-council")][-1]) == [APPROVE_ACTION, REJECT_ACTION]


def test_approve_button_moves_the_opportunity_and_updates_the_message(slack, slack_client, slack_app, workspace,
                                                                      example_db):
    channel, message = request_posted(slack, slack_client, slack_app, workspace)
    request_id = buttons and message["blocks"][-1]["elements"][0]["value"]
    status, answer, response_url = slack.press(slack_client, user_id=ANA, channel_id=channel,
                                               message_ts=message["ts"], action_id=APPROVE_ACTION, value=request_id)
    assert status == 200
    assert state_of(example_db) == "prioritise"
    updated = workspace.message(channel, message["ts"])
    assert buttons(updated) == []
    assert "approved by Ana Silva" in said(updated) and "now in Prioritise" in said(updated)
    assert workspace.calls_to("chat.update")[-1].args["channel"] == channel
    assert workspace.posts_to(response_url) == []  # nothing to tell the presser: the message says it all


def test_second_press_is_answered_politely_and_changes_nothing(slack, slack_client, slack_app, workspace,
                                                               example_db):
    channel, message = request_posted(slack, slack_client, slack_app, workspace)
    value = message["blocks"][-1]["elements"][0]["value"]
    slack.press(slack_client, user_id=ANA, channel_id=channel, message_ts=message["ts"], action_id=APPROVE_ACTION,
                value=value)
    before = request_row(example_db)
    _, _, response_url = slack.press(slack_client, user_id=ANA, channel_id=channel, message_ts=message["ts"],
                                     action_id=APPROVE_ACTION, value=value)
    note = workspace.wait_for(lambda: workspace.posts_to(response_url))[0].body
    assert note["response_type"] == "ephemeral" and note["replace_original"] is False
    assert "was already approved by Ana Silva" in said(note) and "nothing changed" in said(note)
    assert request_row(example_db) == before and state_of(example_db) == "prioritise"


def test_press_by_someone_not_allowed_changes_nothing(slack, slack_client, slack_app, workspace, example_db):
    channel, message = request_posted(slack, slack_client, slack_app, workspace)
    value = message["blocks"][-1]["elements"][0]["value"]
    updates = len(workspace.calls_to("chat.update"))
    for user in (PRIYA, LOTTE):  # a supporter, and the requester herself
        _, _, url = slack.press(slack_client, user_id=user, channel_id=channel, message_ts=message["ts"],
                                action_id=APPROVE_ACTION, value=value)
        note = said(workspace.wait_for(lambda: workspace.posts_to(url))[0].body)
        assert "the lead (Ana Silva)" in note
    assert request_row(example_db)[1:] == ("pending", 0)
    assert state_of(example_db) == "research"
    assert len(workspace.calls_to("chat.update")) == updates
    assert buttons(workspace.message(channel, message["ts"])) == [APPROVE_ACTION, REJECT_ACTION]


def test_press_by_an_unmapped_user_is_told_who_they_are_not(slack, slack_client, slack_app, workspace, example_db):
    channel, message = request_posted(slack, slack_client, slack_app, workspace)
    value = message["blocks"][-1]["elements"][0]["value"]
    for action in (APPROVE_ACTION, REJECT_ACTION):
        _, _, url = slack.press(slack_client, user_id=STRANGER, channel_id=channel, message_ts=message["ts"],
                                action_id=action, value=value)
        assert "could not match your Slack account" in said(workspace.wait_for(lambda: workspace.posts_to(url))[0].body)
    assert request_row(example_db)[1:] == ("pending", 0)
    assert workspace.calls_to("views.open") == []


def test_reject_asks_for_a_reason_in_a_modal_then_rejects(slack, slack_client, slack_app, workspace, example_db):
    channel, message = request_posted(slack, slack_client, slack_app, workspace)
    value = message["blocks"][-1]["elements"][0]["value"]
    slack.press(slack_client, user_id=ANA, channel_id=channel, message_ts=message["ts"], action_id=REJECT_ACTION,
                value=value)
    opened = workspace.calls_to("views.open")
    assert len(opened) == 1 and opened[0].response["ok"] is True
    view_id = opened[0].response["view"]["id"]
    assert request_row(example_db)[1] == "pending"  # nothing decided until the reason is given

    status, answer = slack.submit(slack_client, user_id=ANA, view_id=view_id,
                                  values={REASON_BLOCK: {REASON_ACTION: "  "}})
    assert status == 200 and answer["response_action"] == "errors" and REASON_BLOCK in answer["errors"]
    assert request_row(example_db)[1] == "pending"

    status, answer = slack.submit(slack_client, user_id=ANA, view_id=view_id,
                                  values={REASON_BLOCK: {REASON_ACTION: "needs the porting partner's data"}})
    assert status == 200 and answer == ""  # an empty 200 closes the modal
    request_id, status_now, _ = request_row(example_db)
    assert status_now == "rejected" and state_of(example_db) == "research"
    updated = workspace.message(channel, message["ts"])
    assert buttons(updated) == [] and "rejected by Ana Silva" in said(updated)
    assert "needs the porting partner's data" in said(updated)

    # Submitting the same form again: the request is already decided; the modal says so and nothing changes.
    status, answer = slack.submit(slack_client, user_id=ANA, view_id=view_id,
                                  values={REASON_BLOCK: {REASON_ACTION: "again"}})
    assert "already rejected" in answer["errors"][REASON_BLOCK]


def test_reject_press_by_someone_not_allowed_opens_no_modal(slack, slack_client, slack_app, workspace, example_db):
    channel, message = request_posted(slack, slack_client, slack_app, workspace)
    value = message["blocks"][-1]["elements"][0]["value"]
    _, _, url = slack.press(slack_client, user_id=PRIYA, channel_id=channel, message_ts=message["ts"],
                            action_id=REJECT_ACTION, value=value)
    assert "the lead (Ana Silva)" in said(workspace.wait_for(lambda: workspace.posts_to(url))[0].body)
    assert workspace.calls_to("views.open") == []


def test_reject_modal_with_an_expired_trigger_points_to_the_command(slack, slack_client, slack_app, workspace):
    channel, message = request_posted(slack, slack_client, slack_app, workspace)
    value = message["blocks"][-1]["elements"][0]["value"]
    workspace.trigger_ttl = -1.0  # every trigger_id is already too old
    _, _, url = slack.press(slack_client, user_id=ANA, channel_id=channel, message_ts=message["ts"],
                            action_id=REJECT_ACTION, value=value)
    note = said(workspace.wait_for(lambda: workspace.posts_to(url))[0].body)
    assert "expired_trigger_id" in note and "/journey reject" in note


def test_a_decision_updates_each_posted_copy_once_and_never_posts_the_outcome_again(slack, slack_client, slack_app,
                                                                                     workspace, example_db):
    channel, message = request_posted(slack, slack_client, slack_app, workspace)
    council = workspace.channel_id("cx-council")
    council_message = workspace.messages[council][-1]
    request_id = message["blocks"][-1]["elements"][0]["value"]
    slack.press(slack_client, user_id=ANA, channel_id=channel, message_ts=message["ts"], action_id=APPROVE_ACTION,
                value=request_id)
    posts_before = len(workspace.calls_to("chat.postMessage"))
    deliver_slack(slack_app)  # the approval.decided notification and the transition notice
    updated = [(call.args["channel"], call.args["ts"]) for call in workspace.calls_to("chat.update")]
    assert updated.count((channel, message["ts"])) == 1  # by the press itself, not again by the notification
    assert updated.count((council, council_message["ts"])) == 1
    assert "approved by Ana Silva" in said(workspace.message(council, council_message["ts"]))
    new_posts = [call.args for call in workspace.calls_to("chat.postMessage")[posts_before:]]
    assert new_posts and all("approved by" not in said(post) for post in new_posts)


def test_a_decision_made_elsewhere_updates_the_posted_request(slack, slack_client, slack_app, workspace, example_db):
    from tests.conftest import actor
    from govern.workflows.services import approve_request

    channel, message = request_posted(slack, slack_client, slack_app, workspace)
    council = workspace.channel_id("cx-council")
    council_message = workspace.messages[council][-1]
    with example_db.session_scope() as s:
        request_id = s.scalar(sa.select(ApprovalRequest.id))
        approve_request(s, actor(s, "ana"), request_id)  # in the web app, say
    assert deliver_slack(slack_app) == {"delivered": 2}  # the outcome, and the transition notice
    assert "moved Research → *Prioritise* by Ana Silva" in said(workspace.messages[channel][-1])
    for where, ts in ((channel, message["ts"]), (council, council_message["ts"])):
        updated = workspace.message(where, ts)
        assert buttons(updated) == [] and "approved by Ana Silva" in said(updated)


def test_every_owner_approves_from_the_button_and_the_message_tracks_it(slack, slack_client, slack_app, workspace,
                                                                         example_db):
    """Scenario 1.5: implement needs the owner of every touched journey (OPP-2: femke and lotte)."""
    _, answer, _ = slack.command(slack_client, "move OPP-2 implement", user_id="U0MARCO01")
    assert "waiting for approval by the owner of Managing roaming abroad (Lotte de Vries)" in said(answer)
    deliver_slack(slack_app)
    channel = workspace.channel_id("cx-billing")
    message = workspace.messages[channel][-1]
    value = message["blocks"][-1]["elements"][0]["value"]

    _, _, url = slack.press(slack_client, user_id="U0FEMKE01", channel_id=channel, message_ts=message["ts"],
                            action_id=APPROVE_ACTION, value=value)
    note = said(workspace.wait_for(lambda: workspace.posts_to(url))[0].body)
    assert "still waiting for the owner of Managing roaming abroad (Lotte de Vries)" in note
    halfway = workspace.message(channel, message["ts"])
    assert buttons(halfway) == [APPROVE_ACTION, REJECT_ACTION] and "Approved so far by Femke Jansen" in said(halfway)
    assert state_of(example_db, 2) == "prioritise"

    slack.press(slack_client, user_id=LOTTE, channel_id=channel, message_ts=message["ts"], action_id=APPROVE_ACTION,
                value=value)
    assert state_of(example_db, 2) == "implement"
    done = workspace.message(channel, message["ts"])
    assert buttons(done) == [] and "approved by" in said(done) and "now in Implement" in said(done)


def test_two_presses_at_the_same_moment_count_once(slack, slack_client, slack_app, workspace, example_db):
    """Scenario 3: a double click (two presses within a second): one approval counts, the other is told."""
    import threading

    channel, message = request_posted(slack, slack_client, slack_app, workspace)
    value = message["blocks"][-1]["elements"][0]["value"]
    bodies = [slack.block_action_body(user_id=ANA, channel_id=channel, message_ts=message["ts"],
                                      action_id=APPROVE_ACTION, value=value) for _ in range(2)]
    barrier = threading.Barrier(2)
    statuses = []

    def press(body):
        client = slack_app.test_client()
        barrier.wait()
        statuses.append(slack.post(client, "/slack/interactions", body[0])[0])

    threads = [threading.Thread(target=press, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200, 200]
    slack_app.extensions["govern"].adapters["slack"].wait_idle()
    assert request_row(example_db)[1:] == ("approved", 1)
    assert state_of(example_db) == "prioritise"
    notes = [said(p.body) for b in bodies for p in workspace.posts_to(b[1])]
    assert len(notes) == 1 and "already" in notes[0]


def test_a_decision_before_the_request_was_posted_shows_the_outcome_once(slack, slack_client, slack_app, workspace,
                                                                         example_db):
    """The request and its decision go out in the same batch: the request lands showing the outcome, and nothing
    else is posted about the decision (issue 15: the outcome used to be posted a second time)."""
    from tests.conftest import actor
    from govern.workflows.services import approve_request

    slack.command(slack_client, "move OPP-1 prioritise ready for the council", user_id=LOTTE)
    with example_db.session_scope() as s:  # decided in the web app before the worker ran
        approve_request(s, actor(s, "ana"), s.scalar(sa.select(ApprovalRequest.id)))
    deliver_slack(slack_app)
    deliver_slack(slack_app)
    posts = [call.args for call in workspace.calls_to("chat.postMessage")]
    shown = [said(post) for post in posts if "approved by Ana Silva" in said(post)]
    channels = {post["channel"] for post in posts if "approved by Ana Silva" in said(post)}
    assert shown and len(shown) == len(channels)  # once per channel where the request is shown, never a second post
    assert all(buttons(post) == [] for post in posts)
    assert workspace.calls_to("chat.update") == []
