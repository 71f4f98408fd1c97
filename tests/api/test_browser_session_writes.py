"""A signed-in browser session may read the API, but writes need the session's CSRF token (cookies ride cross-site)."""

import sqlalchemy as sa

from govern.model import Insight, Person

EVIDENCE = {"text": "Porting took 9 days", "source": "tickets", "kind": "ticket",
            "steps": ["switching-providers/port-number"]}


def sign_in(client, db, handle):
    with db.session_scope() as session:
        person_id = session.scalar(sa.select(Person.id).where(Person.handle == handle))
        version = session.scalar(sa.select(Person.session_version).where(Person.handle == handle))
    with client.session_transaction() as web:
        web["person_id"] = person_id
        web["session_version"] = version  # the session version a sign-in would record
        web["_csrf"] = "session-csrf-token"


def count_insights(db):
    with db.session_scope() as session:
        return session.scalar(sa.select(sa.func.count()).select_from(Insight))


def test_cookie_session_reads_but_cannot_write_without_the_csrf_header(example_client, example_db):
    sign_in(example_client, example_db, "lotte")
    assert example_client.get("/api/v1/insights").status_code == 200
    before = count_insights(example_db)
    refused = example_client.post("/api/v1/insights", json=EVIDENCE)
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.json["error"]["message"]
    assert count_insights(example_db) == before


def test_cookie_session_writes_with_the_csrf_header(example_client, example_db):
    sign_in(example_client, example_db, "lotte")
    created = example_client.post("/api/v1/insights", json=EVIDENCE, headers={"X-CSRF-Token": "session-csrf-token"})
    assert created.status_code == 201, created.json
    assert count_insights(example_db) == 31
