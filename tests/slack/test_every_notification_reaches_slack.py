"""The notifications seam end to end: every event the product writes to the outbox is written by its real producer
(a transition, an approval, a password reset, an agenda, the scheduler's reminders) and delivered by the real Slack
deliverer to the stand-in workspace. The static contract (tests/foundation/test_outbox_contract.py) finds producers
by reading the source; this test runs them, so a producer and its consumer cannot disagree on a payload either."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from govern import notifications
from govern.integrations.slack.delivery import SlackDeliverer
from govern.model import Journey, OutboxMessage, Opportunity
from govern.policy import Actor
from govern.rituals import services as ritual_services
from govern.services.common import put_setting
from govern.services.opportunities import set_solution_state
from govern.services.people import set_password
from govern.workflows.services import approve_request, request_transition
from tests.conftest import actor
from tests.slack.support import deliver_slack, said


def test_every_notification_event_is_produced_by_its_use_case_and_posted_to_slack(slack_app, workspace, example_db):
    scheduler = Actor.system_actor("scheduler")
    with example_db.session_scope() as s:
        put_setting(s, "slack", {"council_channel": "cx-council"})
        # approval.requested, then approval.decided and opportunity.moved
        asked = request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise")
        assert asked.request is not None, asked.message
        assert approve_request(s, actor(s, "ana"), asked.request.id).moved
        # person.sign_in_changed: an administrator sets someone else's password
        set_password(s, actor(s, "ana"), "tom", "temporary-password-1")
        # ritual.agenda
        ritual_services.publish_agenda(s, actor(s, "marco"), "weekly-council-review")
        # evaluation.due: OPP-3 enters evaluation (the lifecycle writes the due date), the reminder runs on that day
        opp = s.scalar(sa.select(Opportunity).where(Opportunity.number == 3))
        for solution in opp.solutions:
            set_solution_state(s, actor(s, "femke"), solution.id, "done")
        assert request_transition(s, actor(s, "femke"), "OPP-3", "evaluate").moved
        due = opp.evaluation_due_at.replace(tzinfo=dt.timezone.utc)
        assert ritual_services.announce_due_evaluations(s, scheduler, now=due + dt.timedelta(hours=1)) >= 1
        # journey.ownership_gap
        s.scalar(sa.select(Journey).where(Journey.key == "moving-house")).owner_id = None
        s.commit()
        assert ritual_services.notify_ownership_gaps(s, actor(s, "marco")) >= 1

    deliver_slack(slack_app)

    with example_db.session_scope() as s:
        rows = s.execute(sa.select(OutboxMessage.kind, OutboxMessage.status, OutboxMessage.last_error)
                         .where(OutboxMessage.topic == notifications.TOPIC)).all()
    produced = {kind for kind, _, _ in rows}
    assert produced == set(SlackDeliverer.kinds), "a kind Slack consumes was not produced by the use cases above"
    assert [(kind, error) for kind, status, error in rows if status != "delivered"] == []
    posted = "\n".join(said(m) for messages in workspace.messages.values() for m in messages)
    for words in ("OPP-1", "Evaluation due for *OPP-3*", "Agenda for Weekly council review", "Ownership gap"):
        assert words in posted
