"""The rituals REST API and the iCalendar feeds, over HTTP against the example organisation."""

import datetime as dt
from urllib.parse import urlsplit

import pytest

from govern.services.people import create_token
from govern.rituals import services
from govern.rituals.cadence import occurrences_between
from govern.rituals.calendar import parse_feed
from tests.conftest import actor
from govern.workflows import services as lifecycle


@pytest.fixture
def bearer(example_db):
    """Authorization headers for a person of the example organisation."""
    def make(handle):
        with example_db.session_scope() as s:
            issued = create_token(s, actor(s, handle), "tests")
        return {"Authorization": f"Bearer {issued.secret}"}
    return make


def feed_path(url: str) -> str:
    return urlsplit(url).path


def test_rituals_are_listed_with_their_next_occurrence(example_client, bearer):
    answer = example_client.get("/api/v1/rituals", headers=bearer("lotte"))
    assert answer.status_code == 200
    by_key = {r["key"]: r for r in answer.get_json()}
    assert set(by_key) == {"weekly-council-review", "monthly-kpi-review", "quarterly-prioritisation",
                           "switching-checkin", "billing-checkin"}
    checkin = by_key["switching-checkin"]
    assert checkin["piggyback_on"] == "Mobile squad sprint review"
    assert checkin["scope"] == {"kind": "subtree", "journey": "switching-providers",
                                "label": "Switching providers and the journeys below it"}
    assert len(checkin["upcoming"]) == 1 and checkin["upcoming"][0]["scheduled_at"].endswith("Z")
    one = example_client.get("/api/v1/rituals/weekly-council-review", headers=bearer("lotte")).get_json()
    assert len(one["upcoming"]) == 10


def test_unknown_ritual_and_no_credentials_get_the_error_shape(example_client, bearer):
    missing = example_client.get("/api/v1/rituals/tea-party", headers=bearer("lotte"))
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    assert "unknown ritual 'tea-party'" in missing.get_json()["error"]["message"]
    assert example_client.get("/api/v1/rituals").status_code == 401


def test_agenda_as_json_and_markdown(example_client, bearer, example_db):
    with example_db.session_scope() as s:
        lifecycle.request_transition(s, actor(s, "lotte"), "OPP-1", "prioritise")
    headers = bearer("marco")
    agenda = example_client.get("/api/v1/rituals/weekly-council-review/agenda", headers=headers).get_json()
    approvals = next(x for x in agenda["sections"] if x["key"] == "approvals")
    assert [i["ref"] for i in approvals["items"]] == ["OPP-1"]
    markdown = example_client.get("/api/v1/rituals/weekly-council-review/agenda?format=md", headers=headers)
    assert markdown.mimetype == "text/markdown" and markdown.get_data(as_text=True).startswith("# Weekly council")
    bad = example_client.get("/api/v1/rituals/weekly-council-review/agenda?format=pdf", headers=headers)
    assert bad.status_code == 422


def test_publish_then_hold_with_a_decision_then_follow_up_done(example_client, bearer, example_db):
    with example_db.session_scope() as s:
        ritual = services.get_ritual(s, "weekly-council-review")
        [previous] = occurrences_between(ritual.cadence_kind, ritual.cadence, ritual.timezone,
                                         dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=7),
                                         dt.datetime.now(dt.timezone.utc))
        occurrence_id = services.resolve_occurrence(s, ritual, at=previous).id
        s.commit()
    marco = bearer("marco")
    published = example_client.post("/api/v1/rituals/weekly-council-review/agenda/publish",
                                    json={"occurrence_id": occurrence_id}, headers=marco)
    assert published.status_code == 201, published.get_json()
    again = example_client.post("/api/v1/rituals/weekly-council-review/agenda/publish",
                                json={"occurrence_id": occurrence_id}, headers=marco)
    assert again.status_code == 409 and "already posted" in again.get_json()["error"]["message"]
    held = example_client.post(f"/api/v1/occurrences/{occurrence_id}/hold", headers=marco, json={
        "attendance": {"marco": True, "ana": False}, "notes": "Short review",
        "decisions": [{"text": "Ask Jira for the porting epics' dates", "opportunity": "OPP-1",
                       "follow_ups": [{"text": "Chase the squad", "owner": "lotte", "due_on": "2030-01-01"}]}]})
    assert held.status_code == 200, held.get_json()
    minutes = held.get_json()
    assert minutes["occurrence"]["status"] == "held"
    follow_up = minutes["decisions"][0]["follow_ups"][0]
    assert follow_up["owner"] == "lotte"
    open_ones = example_client.get("/api/v1/follow-ups?owner=lotte", headers=marco).get_json()
    assert [f["id"] for f in open_ones] == [follow_up["id"]]
    refused = example_client.post(f"/api/v1/follow-ups/{follow_up['id']}/done", headers=bearer("femke"))
    assert refused.status_code == 403
    done = example_client.post(f"/api/v1/follow-ups/{follow_up['id']}/done", headers=bearer("lotte"))
    assert done.status_code == 200 and done.get_json()["done_at"]
    invalid = example_client.post(f"/api/v1/occurrences/{occurrence_id}/hold", headers=marco,
                                  json={"decisions": [{"text": "x", "outcome": "approve"}]})
    assert invalid.status_code == 422
    assert invalid.get_json()["error"]["details"]["decisions[0].request"].startswith("name the request")
    assert example_client.get(f"/api/v1/occurrences/{occurrence_id}", headers=bearer("iris")).status_code == 200


def test_skip_and_cancel_over_http_need_the_council(example_client, bearer, example_db):
    with example_db.session_scope() as s:
        occurrence_id = services.resolve_occurrence(s, services.get_ritual(s, "billing-checkin")).id
        s.commit()
    assert example_client.post(f"/api/v1/occurrences/{occurrence_id}/skip", json={},
                               headers=bearer("femke")).status_code == 403
    skipped = example_client.post(f"/api/v1/occurrences/{occurrence_id}/skip", json={"reason": "sprint planning"},
                                  headers=bearer("marco"))
    assert skipped.get_json()["status"] == "skipped"
    listed = example_client.get("/api/v1/rituals/billing-checkin/occurrences?status=skipped",
                                headers=bearer("femke")).get_json()
    assert [o["id"] for o in listed] == [occurrence_id]


def test_ritual_feed_parses_back_with_the_same_events_and_revoking_kills_it(example_client, bearer, example_db):
    created = example_client.post("/api/v1/calendar-tokens", json={"ritual": "monthly-kpi-review"},
                                  headers=bearer("priya"))
    assert created.status_code == 201
    path = feed_path(created.get_json()["url"])
    assert path.startswith("/calendar/") and path.endswith(".ics") and len(path) > 50
    feed = example_client.get(path)
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    events = parse_feed(feed.data)
    now = dt.datetime.now(dt.timezone.utc)
    with example_db.session_scope() as s:
        ritual = services.get_ritual(s, "monthly-kpi-review")
        expected = occurrences_between(ritual.cadence_kind, ritual.cadence, ritual.timezone,
                                       now - dt.timedelta(days=31), now + dt.timedelta(days=183))
    assert [e.start_utc for e in events] == expected
    assert {e.summary for e in events} == {"Monthly KPI review"}
    assert all(e.end_utc - e.start_utc == dt.timedelta(minutes=90) for e in events)
    assert all(e.tzid == "Europe/Amsterdam" for e in events)
    # Only the token's owner side (here: ritual feeds are managed by the council) may revoke it.
    token_id = created.get_json()["id"]
    assert example_client.delete(f"/api/v1/calendar-tokens/{token_id}", headers=bearer("priya")).status_code == 403
    assert example_client.delete(f"/api/v1/calendar-tokens/{token_id}", headers=bearer("marco")).status_code == 200
    assert example_client.get(path).status_code == 404
    assert example_client.get("/calendar/not-a-real-token.ics").status_code == 404


def test_person_feed_lists_only_the_rituals_they_attend(example_client, bearer):
    created = example_client.post("/api/v1/calendar-tokens", json={}, headers=bearer("priya"))
    assert created.status_code == 201 and created.get_json()["person"] == "priya"
    events = parse_feed(example_client.get(feed_path(created.get_json()["url"])).data)
    summaries = {e.summary for e in events}
    # Priya: supporter on Switching providers, and named in the monthly KPI review.
    assert summaries == {"Monthly KPI review", "Quarterly prioritisation", "Switching providers coordinator check-in"}
    other = example_client.post("/api/v1/calendar-tokens", json={"person": "lotte"}, headers=bearer("priya"))
    assert other.status_code == 403
    mine = example_client.get("/api/v1/calendar-tokens", headers=bearer("priya")).get_json()
    assert [t["id"] for t in mine] == [created.get_json()["id"]]


@pytest.fixture
def openapi(example_app):
    """The live OpenAPI document, through which every answer below is checked."""
    import schemathesis

    return schemathesis.openapi.from_wsgi("/api/openapi.json", example_app)


def as_documented(openapi, method: str, route: str, answer, status: int):
    """The answer has the expected status, and its status, content type and body are those the document gives."""
    assert answer.status_code == status, answer.get_data(as_text=True)
    operation = openapi[f"/api/v1{route}"][method]
    responses = operation.definition.raw["responses"]
    assert str(status) in responses, f"{method} {route}: {status} is not documented"
    documented = responses[str(status)].get("content", {})
    if "$ref" not in responses[str(status)]:
        assert answer.mimetype in documented, f"{method} {route}: {answer.mimetype} is not documented"
    operation.validate_response(answer)
    return answer.get_json(silent=True)


def test_every_ritual_answer_is_as_the_openapi_document_describes(example_client, bearer, example_db, openapi):
    with example_db.session_scope() as s:
        ritual = services.get_ritual(s, "weekly-council-review")
        [previous] = occurrences_between(ritual.cadence_kind, ritual.cadence, ritual.timezone,
                                         dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=7),
                                         dt.datetime.now(dt.timezone.utc))
        held_id = services.resolve_occurrence(s, ritual, at=previous).id
        planned_id = services.resolve_occurrence(s, services.get_ritual(s, "billing-checkin")).id
        s.commit()
    marco = bearer("marco")

    def check(method, route, status, path=None, **kwargs):
        answer = getattr(example_client, method.lower())(f"/api/v1{path or route}", headers=marco, **kwargs)
        return as_documented(openapi, method, route, answer, status)

    check("GET", "/rituals", 200)
    check("GET", "/rituals/{key}", 200, "/rituals/weekly-council-review")
    check("GET", "/rituals/{key}", 404, "/rituals/tea-party")
    check("GET", "/rituals/{key}/occurrences", 200, "/rituals/weekly-council-review/occurrences")
    for fmt in ("json", "md"):
        check("GET", "/rituals/{key}/agenda", 200, f"/rituals/weekly-council-review/agenda?format={fmt}")
    check("GET", "/rituals/{key}/agenda", 422, "/rituals/weekly-council-review/agenda?format=pdf")
    published = check("POST", "/rituals/{key}/agenda/publish", 201, "/rituals/weekly-council-review/agenda/publish",
                      json={"occurrence_id": held_id})
    assert published["occurrence"]["id"] == held_id and published["agenda"]["sections"]
    check("POST", "/rituals/{key}/agenda/publish", 409, "/rituals/weekly-council-review/agenda/publish",
          json={"occurrence_id": held_id})
    for fmt in ("json", "md"):
        check("GET", "/occurrences/{occurrence_id}/agenda", 200, f"/occurrences/{held_id}/agenda?format={fmt}")

    minutes = check("POST", "/occurrences/{occurrence_id}/hold", 200, f"/occurrences/{held_id}/hold", json={
        "attendance": {"marco": True, "ana": False}, "notes": "Short review",
        "decisions": [{"text": "Ask for the porting epics' dates", "opportunity": "OPP-1",
                       "follow_ups": [{"text": "Chase the squad", "owner": "lotte", "due_on": "2030-01-01"}]}],
        "follow_ups": [{"text": "Book the room", "owner": "marco", "due_on": "2030-01-02"}]})
    assert minutes["decisions"][0]["follow_ups"][0]["owner"] == "lotte" and minutes["follow_ups"]
    check("POST", "/occurrences/{occurrence_id}/hold", 422, f"/occurrences/{held_id}/hold",
          json={"decisions": [{"text": "x", "outcome": "approve"}]})
    check("POST", "/occurrences/{occurrence_id}/decisions", 201, f"/occurrences/{held_id}/decisions",
          json={"text": "Noted the churn dip", "outcome": "noted"})
    follow_up = check("POST", "/occurrences/{occurrence_id}/follow-ups", 201, f"/occurrences/{held_id}/follow-ups",
                      json={"text": "Send the notes", "owner": "marco", "due_on": "2030-02-01"})
    check("GET", "/occurrences/{occurrence_id}", 200, f"/occurrences/{held_id}")
    check("GET", "/follow-ups", 200, "/follow-ups?owner=marco")
    check("GET", "/follow-ups", 404, "/follow-ups?owner=nobody-here")
    check("POST", "/follow-ups/{follow_up_id}/done", 200, f"/follow-ups/{follow_up['id']}/done")
    check("POST", "/follow-ups/{follow_up_id}/done", 409, f"/follow-ups/{follow_up['id']}/done")
    check("POST", "/occurrences/{occurrence_id}/skip", 409, f"/occurrences/{held_id}/skip", json={})

    check("POST", "/occurrences/{occurrence_id}/skip", 200, f"/occurrences/{planned_id}/skip",
          json={"reason": "sprint planning"})
    check("POST", "/occurrences/{occurrence_id}/cancel", 200, f"/occurrences/{planned_id}/cancel", json={})
    check("POST", "/occurrences/{occurrence_id}/reinstate", 200, f"/occurrences/{planned_id}/reinstate")
    check("POST", "/occurrences/{occurrence_id}/reinstate", 409, f"/occurrences/{planned_id}/reinstate")
    refused = example_client.post(f"/api/v1/occurrences/{planned_id}/skip", json={}, headers=bearer("femke"))
    as_documented(openapi, "POST", "/occurrences/{occurrence_id}/skip", refused, 403)

    token = check("POST", "/calendar-tokens", 201, json={"ritual": "monthly-kpi-review"})
    check("POST", "/calendar-tokens", 201, json={})
    check("GET", "/calendar-tokens", 200)
    check("DELETE", "/calendar-tokens/{token_id}", 200, f"/calendar-tokens/{token['id']}")
    check("DELETE", "/calendar-tokens/{token_id}", 409, f"/calendar-tokens/{token['id']}")


@pytest.mark.parametrize("method, route", [
    ("GET", "/occurrences/{}"), ("GET", "/occurrences/{}/agenda"), ("POST", "/occurrences/{}/hold"),
    ("POST", "/occurrences/{}/decisions"), ("POST", "/occurrences/{}/follow-ups"), ("POST", "/occurrences/{}/skip"),
    ("POST", "/occurrences/{}/cancel"), ("POST", "/occurrences/{}/reinstate"), ("POST", "/follow-ups/{}/done"),
    ("DELETE", "/calendar-tokens/{}"),
])
def test_ids_past_what_the_database_holds_are_simply_not_found(example_client, bearer, method, route):
    headers = bearer("marco")
    for huge in (2**31, 10**30):
        answer = example_client.open(f"/api/v1{route.format(huge)}", method=method, headers=headers, json={})
        assert answer.status_code == 404, answer.get_data(as_text=True)
        assert answer.get_json()["error"]["code"] == "not_found"
