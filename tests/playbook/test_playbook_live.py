"""The live /playbook in the web app: for signed-in people only, the same pages, and personal calendar links."""

from __future__ import annotations

import re

import sqlalchemy as sa

from govern.model import CalendarToken, Person


def sign_in(client, db, handle):
    with db.session_scope() as session:
        person_id = session.scalar(sa.select(Person.id).where(Person.handle == handle))
        version = session.scalar(sa.select(Person.session_version).where(Person.handle == handle))
    with client.session_transaction() as web:
        web["person_id"] = person_id
        web["session_version"] = version  # the session version a sign-in would record


def test_the_playbook_needs_a_signed_in_person(example_client):
    response = example_client.get("/playbook/")
    assert response.status_code in (302, 401)


def test_signed_in_people_read_the_live_pages(example_client, example_db):
    sign_in(example_client, example_db, "priya")
    assert example_client.get("/playbook").status_code == 302
    index = example_client.get("/playbook/")
    assert index.status_code == 200 and b"Telco Nova journey management playbook" in index.data
    page = example_client.get("/playbook/people/priya.html")
    assert page.status_code == 200
    assert b"You cannot approve transition requests" in page.data
    assert b'href="../calendar"' in page.data
    assert example_client.get("/playbook/style.css").status_code == 200
    assert example_client.get("/playbook/people/nobody.html").status_code == 404


def test_calendar_link_is_issued_once_for_the_signed_in_person(example_client, example_db):
    sign_in(example_client, example_db, "priya")
    form = example_client.get("/playbook/calendar")
    assert form.status_code == 200
    token = re.search(rb'name="csrf_token" value="([^"]+)"', form.data).group(1).decode()
    assert example_client.post("/playbook/calendar", data={"csrf_token": "forged"}).status_code == 400
    issued = example_client.post("/playbook/calendar", data={"csrf_token": token})
    assert issued.status_code == 200
    link = re.search(rb'webcal://localhost/calendar/([A-Za-z0-9_-]+)\.ics', issued.data)
    assert link, issued.data
    feed = example_client.get(f"/calendar/{link.group(1).decode()}.ics")
    assert feed.status_code == 200
    from govern.rituals.calendar import parse_feed

    summaries = {event.summary for event in parse_feed(feed.data)}
    assert summaries == {"Monthly KPI review", "Quarterly prioritisation", "Switching providers coordinator check-in"}
    with example_db.session_scope() as session:
        priya = session.scalar(sa.select(Person.id).where(Person.handle == "priya"))
        assert session.scalar(sa.select(sa.func.count()).select_from(CalendarToken)
                              .where(CalendarToken.person_id == priya)) == 1
