"""Evaluations due, end to end: the lifecycle's schedule_evaluation effect (through request_transition) writes the date
on the opportunity; the agenda and the scheduler's reminder (a notification) read it once it has passed. Time is injected."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from govern import notifications
from govern.model import OutboxMessage, Ritual
from govern.notifications import Notification
from govern.policy import Actor
from govern.rituals import agenda as agenda_mod
from govern.rituals import services
from govern.services.common import get_opportunity, load_actor
from govern.workflows.services import request_transition

SCHEDULER = Actor.system_actor("scheduler")


def evaluations_due(session, now):
    ritual = session.scalar(sa.select(Ritual).where(Ritual.key == "weekly-safety-huddle"))
    agenda = agenda_mod.build_agenda(session, ritual, now, now=now)
    return next(s for s in agenda["sections"] if s["key"] == "evaluations_due")["items"]


def test_the_agenda_lists_an_evaluation_once_its_date_passes(hospital_db, hospital_keys):
    with hospital_db.session_scope() as s:
        key = hospital_keys["in_pilot"]
        request_transition(s, load_actor(s, "kofi"), key, "review_outcome")
        due = get_opportunity(s, key).evaluation_due_at
        assert due is not None
        before = due.replace(tzinfo=dt.timezone.utc) - dt.timedelta(days=1)
        after = due.replace(tzinfo=dt.timezone.utc) + dt.timedelta(hours=1)
        assert key not in [i["ref"] for i in evaluations_due(s, before)]
        [item] = [i for i in evaluations_due(s, after) if i["ref"] == key]
        assert item["state"] == "outcome_review"
        assert item["due_on"] == due.date().isoformat() and f"(due {due:%Y-%m-%d})" in item["text"]


def test_an_evaluation_leaves_the_agenda_when_the_opportunity_moves_on(hospital_db, hospital_keys):
    with hospital_db.session_scope() as s:
        key = hospital_keys["in_outcome_review"]
        due = get_opportunity(s, key).evaluation_due_at.replace(tzinfo=dt.timezone.utc)
        later = due + dt.timedelta(days=1)
        assert key in [i["ref"] for i in evaluations_due(s, later)]
        request_transition(s, load_actor(s, "kofi"), key, "back_to_intake", reason="the wait did not change")
        assert get_opportunity(s, key).evaluation_due_at is None
        assert key not in [i["ref"] for i in evaluations_due(s, later)]


def test_the_scheduler_reminds_once_per_evaluation_date(hospital_db, hospital_keys):
    with hospital_db.session_scope() as s:
        opp = get_opportunity(s, hospital_keys["in_outcome_review"])
        due = opp.evaluation_due_at.replace(tzinfo=dt.timezone.utc)
        assert services.announce_due_evaluations(s, SCHEDULER, now=due - dt.timedelta(hours=1)) == 0
        assert services.announce_due_evaluations(s, SCHEDULER, now=due + dt.timedelta(hours=1)) == 1
        assert services.announce_due_evaluations(s, SCHEDULER, now=due + dt.timedelta(days=7)) == 0
        [row] = s.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == notifications.EVALUATION_DUE)).all()
        notice = Notification.of(row)
        assert row.topic == notifications.TOPIC and notice.about["opportunity"] == opp.key
        assert notice.audience.journeys == ("going-home",)
