"""The outbox's Slack messages: delivered to the right channels, switchable per channel and kind, retried after
Slack's Retry-After on 429, failed with Slack's error when waiting will not help."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from govern import notifications, outbox
from govern.model import Journey, OutboxMessage, utcnow
from govern.services.common import put_setting
from tests.conftest import actor
from tests.slack.support import deliver_slack, make_due, said

LOTTE = "U0LOTTE01"


def settings(db, value):
    with db.session_scope() as s:
        put_setting(s, "slack", value)
        s.commit()


def park_opp6(slack, slack_client):
    """A transition with a `notify: journey` effect: OPP-6 touches activating-my-sim and switching-providers."""
    _, answer, _ = slack.command(slack_client, "move OPP-6 parked waiting for eSIM support", user_id=LOTTE)
    assert "moved from Research to Parked" in said(answer)


def message_row(db, kind):
    with db.session_scope() as s:
        return s.scalar(sa.select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id.desc()))


def test_transition_notice_goes_to_the_journey_channel(slack, slack_client, slack_app, workspace, example_db):
    park_opp6(slack, slack_client)
    assert deliver_slack(slack_app) == {"delivered": 1}
    posts = workspace.calls_to("chat.postMessage")
    # activating-my-sim has no channel of its own: its parent switching-providers' channel, posted once.
    assert [c.args["channel"] for c in posts] == ["cx-switching"]
    text = said(workspace.messages[workspace.channel_id("cx-switching")][-1])
    assert "OPP-6" in text and "Research → *Parked* by Lotte de Vries" in text and "waiting for eSIM support" in text
    row = message_row(example_db, notifications.OPPORTUNITY_MOVED)
    assert row.status == "delivered" and row.external_ref.startswith("cx-switching=C")


def test_a_kind_switched_off_for_a_channel_is_not_posted(slack, slack_client, slack_app, workspace, example_db):
    settings(example_db, {"council_channel": "cx-council", "notifications": {"cx-switching": {"transition": False}}})
    park_opp6(slack, slack_client)
    assert deliver_slack(slack_app) == {"delivered": 1}
    assert workspace.calls_to("chat.postMessage") == []
    assert message_row(example_db, notifications.OPPORTUNITY_MOVED).external_ref == "cx-switching=switched-off"


def test_switches_apply_per_channel_and_star_is_every_channel(slack, slack_client, slack_app, workspace, example_db):
    # Off everywhere, back on for the council: OPP-1's request goes to the council only.
    settings(example_db, {"council_channel": "cx-council", "notifications": {
        "*": {"approval_request": False}, "#cx-council": {"approval_request": True}}})
    slack.command(slack_client, "move OPP-1 prioritise", user_id=LOTTE)
    deliver_slack(slack_app)
    assert [c.args["channel"] for c in workspace.calls_to("chat.postMessage")] == ["cx-council"]


def test_approval_requests_can_go_to_the_approvers_directly(slack, slack_client, slack_app, workspace, example_db):
    settings(example_db, {"council_channel": "cx-council", "approvals": "dm"})
    slack.command(slack_client, "move OPP-1 prioritise", user_id=LOTTE)
    deliver_slack(slack_app)
    posts = workspace.calls_to("chat.postMessage")
    assert [c.args["channel"] for c in posts] == ["U0ANA0001"]  # the lead, in a direct message
    assert posts[0].response["channel"].startswith("D")


def test_rate_limited_posts_wait_for_retry_after_then_land_once(slack, slack_client, slack_app, workspace,
                                                                example_db):
    slack.command(slack_client, "move OPP-1 prioritise", user_id=LOTTE)  # goes to cx-switching and cx-council
    workspace.rate_limit("chat.postMessage", times=1, retry_after=30)
    before = utcnow()
    assert deliver_slack(slack_app) == {"retry": 1}
    row = message_row(example_db, notifications.APPROVAL_REQUESTED)
    assert row.status == "pending" and "rate limited" in row.last_error
    waited = (row.next_attempt_at - before).total_seconds()
    assert 29 <= waited <= 32  # Slack's Retry-After, not our own backoff
    assert deliver_slack(slack_app) == {}  # not due yet: nothing is sent early
    make_due(example_db, row.id)
    assert deliver_slack(slack_app) == {"delivered": 1}
    statuses = [c.status for c in workspace.calls_to("chat.postMessage")]
    assert statuses == [429, 200, 200]
    assert len(workspace.messages[workspace.channel_id("cx-switching")]) == 1
    assert len(workspace.messages[workspace.channel_id("cx-council")]) == 1


def test_a_retry_does_not_post_twice_where_it_already_landed(slack, slack_client, slack_app, workspace, example_db):
    slack.command(slack_client, "move OPP-1 prioritise", user_id=LOTTE)
    # The first channel takes it, the second is rate limited.
    workspace.rate_limit("chat.postMessage", times=1, retry_after=1, after=1)
    assert deliver_slack(slack_app) == {"retry": 1}
    row = message_row(example_db, notifications.APPROVAL_REQUESTED)
    assert row.status == "pending" and row.external_ref.count("=C") == 1  # one channel done, remembered
    make_due(example_db, row.id)
    deliver_slack(slack_app)
    assert len(workspace.messages[workspace.channel_id("cx-switching")]) == 1
    assert len(workspace.messages[workspace.channel_id("cx-council")]) == 1
    assert message_row(example_db, notifications.APPROVAL_REQUESTED).status == "delivered"


def test_server_errors_are_retried(slack, slack_client, slack_app, workspace, example_db):
    park_opp6(slack, slack_client)
    workspace.fail("chat.postMessage", status=503)
    assert deliver_slack(slack_app) == {"retry": 1}
    assert "503" in message_row(example_db, notifications.OPPORTUNITY_MOVED).last_error


def test_a_missing_channel_fails_with_slacks_error(slack, slack_client, slack_app, workspace, example_db):
    with example_db.session_scope() as s:
        s.scalar(sa.select(Journey).where(Journey.key == "switching-providers")).slack_channel = "cx-gone"
        s.commit()
    park_opp6(slack, slack_client)
    assert deliver_slack(slack_app) == {"dead": 1}
    row = message_row(example_db, notifications.OPPORTUNITY_MOVED)
    assert row.status == "dead" and "channel_not_found" in row.last_error


def test_a_revoked_token_fails_visibly(slack, slack_client, slack_app, workspace, example_db):
    park_opp6(slack, slack_client)
    workspace.revoke(workspace.token)
    assert deliver_slack(slack_app) == {"dead": 1}
    assert "invalid_auth" in message_row(example_db, notifications.OPPORTUNITY_MOVED).last_error


def test_agendas_are_posted_to_the_rituals_channel(slack_app, workspace, example_db):
    from govern.rituals import services as ritual_services

    with example_db.session_scope() as s:
        ritual_services.publish_agenda(s, actor(s, "marco"), "weekly-council-review")
    assert deliver_slack(slack_app) == {"delivered": 1}
    message = workspace.messages[workspace.channel_id("cx-council")][-1]
    assert message["blocks"][0]["text"]["text"] == "Agenda: Weekly council review"
    assert "Agenda for Weekly council review" in message["text"]


def test_agendas_can_be_switched_off_for_a_channel(slack_app, workspace, example_db):
    from govern.rituals import services as ritual_services

    settings(example_db, {"council_channel": "cx-council", "notifications": {"cx-council": {"agenda": False}}})
    with example_db.session_scope() as s:
        ritual_services.publish_agenda(s, actor(s, "marco"), "weekly-council-review")
    assert deliver_slack(slack_app) == {"delivered": 1}
    assert workspace.calls_to("chat.postMessage") == []


def test_evaluation_due_reaches_the_journey_channels_on_its_date(slack_app, workspace, example_db):
    """The lifecycle's schedule_evaluation effect (OPP-3 implement → evaluate) writes the date on the opportunity; on
    that day the scheduler's reminder says so in the journey's channel (time injected, not slept)."""

    from govern.model import Opportunity
    from govern.policy import Actor
    from govern.rituals import services as ritual_services
    from govern.services.opportunities import set_solution_state
    from govern.workflows.services import request_transition

    with example_db.session_scope() as s:
        opp = s.scalar(sa.select(Opportunity).where(Opportunity.number == 3))
        for solution in opp.solutions:
            set_solution_state(s, actor(s, "femke"), solution.id, "done")
        assert request_transition(s, actor(s, "femke"), "OPP-3", "evaluate").moved
        due = opp.evaluation_due_at.replace(tzinfo=dt.timezone.utc)
        scheduler = Actor.system_actor("scheduler")
        ritual_services.announce_due_evaluations(s, scheduler, now=due - dt.timedelta(days=1))
        deliver_slack(slack_app)
        billing = workspace.channel_id("cx-billing")
        assert not any("Evaluation due for *OPP-3*" in said(m) for m in workspace.messages.get(billing, []))  # not yet
        ritual_services.announce_due_evaluations(s, scheduler, now=due + dt.timedelta(hours=1))
    deliver_slack(slack_app)
    assert any("Evaluation due for *OPP-3*" in said(m) for m in workspace.messages[billing])


def test_ownership_gaps_go_to_the_council(slack_app, workspace, example_db):
    from govern.rituals import services as ritual_services

    settings(example_db, {"council_channel": "cx-council"})
    with example_db.session_scope() as s:
        s.scalar(sa.select(Journey).where(Journey.key == "moving-house")).owner_id = None
        s.commit()
        assert ritual_services.notify_ownership_gaps(s, actor(s, "marco")) >= 1
    deliver_slack(slack_app)
    council = said(workspace.messages[workspace.channel_id("cx-council")][-1])
    assert "Ownership gap" in council and "Moving house" in council


def test_unknown_events_fail_rather_than_vanish(slack_app, example_db):
    with example_db.session_scope() as s:
        outbox.enqueue(s, notifications.TOPIC, "horoscope", {})  # no producer writes this: a corrupt or future row
        s.commit()
    assert deliver_slack(slack_app) == {"dead": 1}
    assert "unknown notification event" in message_row(example_db, "horoscope").last_error


def test_the_deliverer_fits_the_worker_protocol(slack_app):
    from govern.integrations.delivery import Deliverer
    from govern.integrations.slack.delivery import SlackDeliverer
    from govern.integrations.worker import build_deliverers

    runtime = slack_app.extensions["govern"]
    assert isinstance(SlackDeliverer.from_runtime(runtime), Deliverer)
    assert notifications.TOPIC in [d.topic for d in build_deliverers(runtime)]


def test_an_agenda_is_rendered_by_the_slack_adapter_with_every_section(slack_app, workspace, example_db):
    """Rituals hand over the agenda as plain data; the Slack adapter turns it into blocks, one section per part."""
    from govern.integrations.slack.blocks import agenda_blocks
    from govern.rituals import services as ritual_services

    with example_db.session_scope() as s:
        occurrence = ritual_services.publish_agenda(s, actor(s, "marco"), "weekly-council-review")
        agenda = occurrence.agenda
    deliver_slack(slack_app)
    message = workspace.messages[workspace.channel_id("cx-council")][-1]
    texts = said(message)
    for section in agenda["sections"]:
        assert f"*{section['title']}* ({len(section['items'])})" in texts
    rendered = agenda_blocks(agenda, link="https://govern.example/rituals/council")
    assert rendered[0]["text"]["text"] == "Agenda: Weekly council review"
    assert "Open the agenda" in rendered[-1]["elements"][0]["text"]
    assert all(len(b["text"]["text"]) <= 3000 for b in rendered if b["type"] == "section")


def test_an_item_added_before_the_meeting_is_in_the_posted_agenda(slack_app, workspace, example_db):
    """An agenda item (meeting mode) travels with the agenda to Slack, escaped for mrkdwn, with who added it."""
    from govern.rituals import services as ritual_services

    with example_db.session_scope() as s:
        marco = actor(s, "marco")
        nxt = ritual_services.upcoming(s, marco, ritual="weekly-council-review", limit=1)[0].scheduled_at
        ritual_services.add_agenda_item(s, marco, ritual_services.At("weekly-council-review", nxt),
                                        text="Roaming <b>costs</b> & fees")
        ritual_services.publish_agenda(s, marco, "weekly-council-review", at=nxt)
    deliver_slack(slack_app)
    texts = said(workspace.messages[workspace.channel_id("cx-council")][-1])
    assert "*Added to the agenda* (1)" in texts
    assert "Roaming &lt;b&gt;costs&lt;/b&gt; &amp; fees _(Marco Rossi)_" in texts


def test_every_notification_links_back_to_the_web_app(slack, slack_client, slack_app, workspace, example_db):
    base = slack_app.extensions["govern"].config.base_url.rstrip("/")
    park_opp6(slack, slack_client)
    slack.command(slack_client, "move OPP-1 prioritise", user_id=LOTTE)  # an approval request
    deliver_slack(slack_app)
    posts = workspace.calls_to("chat.postMessage")
    assert posts
    for post in posts:
        text = said(post.response["message"]) if "message" in post.response else said(post.args)
        assert f"<{base}/opportunities/OPP-" in text and "in the web app>" in text, text
