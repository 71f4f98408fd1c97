"""The operations page: administrators see outbox depth, dead letters (and retry them), the scheduler leader and the
integrations; nobody else sees it."""

from __future__ import annotations

import re

import sqlalchemy as sa

from govern.app import create_app
from govern.model import OutboxMessage, Person
from govern.rituals.scheduler import RitualScheduler
from tests.conftest import make_config
from tests.jira.conftest import adapter, add_opportunity, jira_worker, set_mapping, standin  # noqa: F401 - fixtures


def sign_in(client, db, handle: str) -> None:
    with db.session_scope() as session:
        person_id = session.scalar(sa.select(Person.id).where(Person.handle == handle))
        version = session.scalar(sa.select(Person.session_version).where(Person.handle == handle))
    with client.session_transaction() as web:
        web["person_id"] = person_id
        web["session_version"] = version  # the session version a sign-in would record


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_only_administrators_see_the_operations_page(example_client, example_db):
    sign_in(example_client, example_db, "lotte")
    refused = example_client.get("/operations")
    assert refused.status_code == 403
    assert "for administrators" in refused.get_data(as_text=True)
    assert "Operations</a>" not in example_client.get("/board").get_data(as_text=True)


def test_the_page_shows_the_scheduler_leader_and_disabled_integrations(example_client, example_db, tmp_path):
    sign_in(example_client, example_db, "ana")  # `admin: true` in the example's govern.yaml
    page = example_client.get("/operations").get_data(as_text=True)
    assert 'data-testid="no-leader"' in page  # no scheduler has run yet
    scheduler = RitualScheduler(example_db, instance_path=tmp_path, name="web-1:4242", publish=False)
    scheduler.tick()
    try:
        page = example_client.get("/operations").get_data(as_text=True)
        assert '<strong data-testid="leader">web-1:4242</strong>' in page
        assert "disabled (not configured)" in page
        assert "Operations</a>" in example_client.get("/board").get_data(as_text=True)
    finally:
        scheduler.stop()
    assert 'data-testid="no-leader"' in example_client.get("/operations").get_data(as_text=True)


def test_an_administrator_sees_a_dead_letter_and_sends_it_again(db, standin, jira_worker, tmp_path):  # noqa: F811
    set_mapping(db, project="NOPE")
    add_opportunity(db, 1)
    jira_worker.drain()
    with db.session_scope() as session:
        message = session.scalar(sa.select(OutboxMessage))
        assert message.status == "dead"
        session.add(Person(handle="root", name="Root", is_admin=True))
        session.commit()
    app = create_app(make_config(db, tmp_path), db=db)
    client = app.test_client()
    sign_in(client, db, "root")
    page = client.get("/operations").get_data(as_text=True)
    assert f'data-message="{message.id}"' in page and "Dead letters (1)" in page
    assert "no project" in page and "NOPE" in page
    assert '<tr data-topic="jira"><th scope="row">jira</th><td>0</td>' in page
    answer = client.post(f"/operations/outbox/{message.id}/retry", data={"csrf_token": csrf(page)})
    assert answer.status_code == 302
    with db.session_scope() as session:
        assert session.get(OutboxMessage, message.id).status == "pending"
    page = client.get("/operations").get_data(as_text=True)
    assert "will be delivered again" in page and "Dead letters (0)" in page
    # this app is not configured with Jira (the worker above was), so the waiting message is marked undelivered here
    assert '<tr data-topic="jira"><th scope="row">jira</th><td>1 ' in page


def test_messages_queued_for_a_disabled_integration_are_not_called_healthy(example_client, example_db):
    """Slack is not configured, yet a request notifies (the real producer): its messages wait for ever, and the page
    says so instead of "healthy"."""
    from govern.workflows.services import request_transition
    from tests.conftest import actor

    with example_db.session_scope() as s:
        request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise", reason="evidence is in")
    with example_db.session_scope() as s:
        queued = s.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)
                          .where(OutboxMessage.topic == "notifications", OutboxMessage.status == "pending"))
    assert queued > 0
    sign_in(example_client, example_db, "ana")
    page = example_client.get("/operations").get_data(as_text=True)
    slack = re.search(r'<tr data-integration="slack" data-health="([a-z_]+)">(.*?)</tr>', page, re.S)
    assert slack.group(1) == "queued_while_disabled"
    assert f"not delivered: {queued} message" in slack.group(2) and "healthy" not in slack.group(2)
    assert 'data-testid="undelivered"' in page  # the outbox row says it too
    assert "younger than 15 min" in page  # the threshold is on the page
    jira = re.search(r'<tr data-integration="jira" data-health="([a-z_]+)">', page)
    assert jira.group(1) == "disabled"  # nothing queued for Jira: disabled, nothing to worry about


def test_an_integration_whose_oldest_message_waits_too_long_is_not_healthy(example_db):
    import datetime as dt

    from govern.queries.operations import OLDEST_WAITING_HEALTHY_SECONDS, integration_health, operations_overview
    from govern.workflows.services import request_transition
    from tests.conftest import actor

    with example_db.session_scope() as s:
        request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise", reason="evidence is in")
    with example_db.session_scope() as s:
        now = dt.datetime.now(dt.timezone.utc)
        fresh = integration_health(operations_overview(s, now), {"slack": True}, {"slack": ("notifications",)})
        assert fresh[0].state == "healthy" and fresh[0].healthy
        later = now + dt.timedelta(seconds=OLDEST_WAITING_HEALTHY_SECONDS + 60)
        stale = integration_health(operations_overview(s, later), {"slack": True}, {"slack": ("notifications",)})
        assert stale[0].state == "slow" and not stale[0].healthy and "more than 15 min" in stale[0].text
