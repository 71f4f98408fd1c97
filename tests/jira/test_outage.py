"""Done-when: Jira down for 20 minutes (then rate limiting) ends with every epic created exactly once and no manual
step: nothing dies of a transient error, the topic pauses as a whole, and a failed batch comes back as one batch.
Time is simulated (the worker and the stand-in share a clock), so the outage costs no real waiting."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from govern.integrations.jira.adapter import JiraAdapter
from govern.integrations.jira.push import JiraDeliverer
from govern.integrations.worker import OutboxWorker
from govern.model import OutboxMessage, OutboxTopicState
from tests.standins.jira import JiraStandIn

from .conftest import add_opportunity, outbox_rows, set_mapping, solutions


def _standin(clock) -> JiraStandIn:
    standin = JiraStandIn("Server", clock=clock.now)
    standin.serve()
    return standin


def test_a_twenty_minute_outage_ends_with_every_epic_created_exactly_once_without_a_person(db, clock):
    standin = _standin(clock)
    try:
        set_mapping(db)
        for size in (40, 35, 45):  # 120 solutions: three bulk calls when Jira is up
            add_opportunity(db, size)
        clock.catch_up()  # the messages were written a moment ago, in real time
        adapter = JiraAdapter(standin.base_url, standin.user, standin.token, timeout=2.0)
        worker = OutboxWorker(db, [JiraDeliverer(db, adapter)], name="outage", clock=clock.now)
        start = clock.now()
        standin.start_outage("refuse", until=start + dt.timedelta(minutes=15))
        # Worker passes during the outage's first 14 minutes: connections refused.
        worker.run_until_idle(sleep=clock.advance, max_wait_seconds=14 * 60)
        assert {m.status for m in outbox_rows(db)} == {"pending"}
        with db.session_scope() as session:
            state = session.get(OutboxTopicState, "jira")
            assert state.failures >= 5 and state.paused_until > clock.now() - dt.timedelta(minutes=2)
        # Then 503 with Retry-After until minute 20, then Jira is back.
        standin.start_outage("503", until=start + dt.timedelta(minutes=20), retry_after=120)
        worker.run_until_idle(sleep=clock.advance)
        assert clock.now() - start >= dt.timedelta(minutes=20)
        assert standin.calls_refused_by_outage <= 40  # one probe per backoff step, not one call per message
        rows = outbox_rows(db)
        assert {m.status for m in rows} == {"delivered"}
        # A failed batch came back as one batch: every message of the first batch was tried as often as the others.
        assert len({m.attempts for m in rows[:50]}) == 1
        for solution in solutions(db):
            items = standin.issues_with_label(f"govern-sol-{solution.id}")
            assert [i.key for i in items] == [solution.external_key]
        assert len(standin.issues) == 120
        with db.session_scope() as session:
            state = session.get(OutboxTopicState, "jira")
            assert state.failures == 0 and state.paused_until is None
            assert session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                                  .where(OutboxMessage.status == "dead")) == 0
    finally:
        standin.stop()


def test_after_an_outage_a_refusal_is_dead_with_jiras_reason_and_not_retried_forever(db, clock):
    standin = _standin(clock)
    try:
        set_mapping(db)
        add_opportunity(db, 2)
        clock.catch_up()
        standin.require_field("Epic", "customfield_10011", "Epic Name is required.")
        standin.start_outage("502", until=clock.now() + dt.timedelta(minutes=3))
        adapter = JiraAdapter(standin.base_url, standin.user, standin.token, timeout=2.0)
        worker = OutboxWorker(db, [JiraDeliverer(db, adapter)], name="outage", clock=clock.now)
        worker.run_until_idle(sleep=clock.advance)
        rows = outbox_rows(db)
        assert {m.status for m in rows} == {"dead"}
        assert all("customfield_10011: Epic Name is required." in m.last_error for m in rows)
        assert standin.issues == {}
    finally:
        standin.stop()


def test_retrying_a_topic_by_hand_resumes_it_at_once(db, clock):
    from govern.integrations.worker import retry_messages
    from govern.policy import Actor

    standin = _standin(clock)
    try:
        set_mapping(db)
        add_opportunity(db, 2)
        clock.catch_up()
        standin.start_outage("503", retry_after=600)
        adapter = JiraAdapter(standin.base_url, standin.user, standin.token, timeout=2.0)
        worker = OutboxWorker(db, [JiraDeliverer(db, adapter)], name="outage", clock=clock.now)
        worker.drain()
        standin.end_outage()
        assert worker.drain() == {}  # paused for Retry-After's ten minutes
        with db.session_scope() as session:
            assert retry_messages(session, Actor.system_actor("test"), topic="jira", now=clock.now()) == []
            assert session.get(OutboxTopicState, "jira").paused_until is None
        assert worker.drain() == {"delivered": 2}
    finally:
        standin.stop()
