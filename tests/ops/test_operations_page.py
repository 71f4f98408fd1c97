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
    assert '<tr data-topic="jira"><th scope="row">jira</th><td>1</td>' in page
