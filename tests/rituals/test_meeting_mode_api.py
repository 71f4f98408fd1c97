"""Meeting mode over the rituals REST API: moving an occurrence (with a reason), adding an agenda item (shown in the
agenda's JSON and Markdown), and the versions of the minutes; bad input gets the one error shape, nothing saved."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from govern.model import AuditEvent, Base
from govern.rituals import services
from govern.rituals.cadence import iter_occurrences
from govern.rituals.calendar import occurrence_uid, parse_feed
from govern.services.people import create_token
from tests.api.conftest import assert_error
from tests.conftest import actor

RITUAL = "weekly-council-review"


@pytest.fixture
def bearer(example_db):
    def make(handle):
        with example_db.session_scope() as s:
            issued = create_token(s, actor(s, handle), "tests")
        return {"Authorization": f"Bearer {issued.secret}"}
    return make


def _times(example_db) -> tuple[dt.datetime, dt.datetime]:
    with example_db.session_scope() as s:
        ritual = services.get_ritual(s, RITUAL)
    now = dt.datetime.now(dt.timezone.utc)
    it = iter_occurrences(ritual.cadence_kind, ritual.cadence, ritual.timezone, now - dt.timedelta(days=8))
    times = [next(it) for _ in range(3)]
    return [t for t in times if t <= now][-1], next(t for t in times if t > now)


def _state(example_db) -> dict:
    with example_db.session_scope() as s:
        return {"head": s.scalar(sa.select(sa.func.max(AuditEvent.id))),
                "rows": {t.name: s.scalar(sa.select(sa.func.count()).select_from(t))
                         for t in Base.metadata.sorted_tables}}


def test_moving_the_next_meeting_by_its_time_shows_in_the_occurrence_and_the_feed(example_client, bearer,
                                                                                  example_db):
    _, nxt = _times(example_db)
    marco = bearer("marco")
    to = nxt + dt.timedelta(days=1)
    moved = example_client.post(f"/api/v1/rituals/{RITUAL}/move", headers=marco, json={
        "at": services.iso(nxt), "to": services.iso(to), "reason": "the lead is travelling"})
    assert moved.status_code == 200, moved.get_json()
    body = moved.get_json()
    assert body["scheduled_at"] == services.iso(nxt) and body["moved_to"] == services.iso(to)
    assert body["status_reason"] == "the lead is travelling" and body["status"] == "planned"
    again = example_client.post(f"/api/v1/occurrences/{body['id']}/move", headers=marco, json={
        "to": services.iso(to + dt.timedelta(hours=2)), "reason": "the room is taken at ten"})
    assert again.status_code == 200 and again.get_json()["moved_to"] == services.iso(to + dt.timedelta(hours=2))
    url = example_client.post("/api/v1/calendar-tokens", json={"ritual": RITUAL}, headers=marco).get_json()["url"]
    feed = example_client.get("/calendar/" + url.rsplit("/calendar/", 1)[1])
    event = {e.uid: e for e in parse_feed(feed.data)}[occurrence_uid(RITUAL, nxt)]
    assert event.start_utc == to + dt.timedelta(hours=2)
    assert "the room is taken at ten" in feed.data.decode().replace("\r\n ", "")


def test_a_bad_move_is_refused_with_the_error_shape_and_saves_nothing(example_client, bearer, example_db):
    _, nxt = _times(example_db)
    at, later = services.iso(nxt), services.iso(nxt + dt.timedelta(days=1))
    marco, priya = bearer("marco"), bearer("priya")
    before = _state(example_db)
    no_reason = example_client.post(f"/api/v1/rituals/{RITUAL}/move", headers=marco,
                                    json={"at": at, "to": later, "reason": " "})
    assert "say why the meeting moves" in assert_error(no_reason, 422, "invalid_input")["message"]
    missing = example_client.post(f"/api/v1/rituals/{RITUAL}/move", headers=marco, json={"at": at})
    details = assert_error(missing, 422)["details"]
    assert "to" in str(details) and "reason" in str(details)
    past = example_client.post(f"/api/v1/rituals/{RITUAL}/move", headers=marco,
                               json={"at": at, "to": "2026-01-07T10:00", "reason": "oops"})
    assert "still to come" in assert_error(past, 422)["message"]
    garbled = example_client.post(f"/api/v1/rituals/{RITUAL}/move", headers=marco,
                                  json={"at": at, "to": "soon", "reason": "oops"})
    assert "'soon' is not a time" in assert_error(garbled, 422)["message"]
    not_a_meeting = example_client.post(f"/api/v1/rituals/{RITUAL}/move", headers=marco,
                                        json={"at": services.iso(nxt + dt.timedelta(hours=1)), "to": later,
                                              "reason": "oops"})
    assert "does not meet at" in assert_error(not_a_meeting, 422)["message"]
    supporter = example_client.post(f"/api/v1/rituals/{RITUAL}/move", headers=priya,
                                    json={"at": at, "to": later, "reason": "I would like to"})
    assert_error(supporter, 403, "forbidden")
    assert_error(example_client.post("/api/v1/occurrences/999999/move", headers=marco,
                                     json={"to": later, "reason": "x"}), 404)
    assert _state(example_db) == before


def test_an_agenda_item_is_in_the_agendas_json_and_markdown(example_client, bearer, example_db):
    _, nxt = _times(example_db)
    marco = bearer("marco")
    added = example_client.post(f"/api/v1/rituals/{RITUAL}/agenda-items", headers=marco,
                                json={"text": "Roaming costs *after* Brexit"})
    assert added.status_code == 201, added.get_json()
    item = added.get_json()
    assert item["text"] == "Roaming costs *after* Brexit" and item["added_by"] == "Marco Rossi"
    agenda = example_client.get(f"/api/v1/rituals/{RITUAL}/agenda", headers=bearer("lotte")).get_json()
    assert agenda["scheduled_at"] == services.iso(nxt)
    assert [i["text"] for i in agenda["added"]] == ["Roaming costs *after* Brexit"]
    occurrence_id = agenda["occurrence_id"]
    second = example_client.post(f"/api/v1/occurrences/{occurrence_id}/agenda-items", headers=marco,
                                 json={"text": "Porting week"})
    assert second.status_code == 201
    markdown = example_client.get(f"/api/v1/occurrences/{occurrence_id}/agenda?format=md",
                                  headers=bearer("lotte")).get_data(as_text=True)
    part = markdown.split("## Added to the agenda", 1)[1]
    assert "- Roaming costs \\*after\\* Brexit (added by Marco Rossi)" in part  # Markdown escaped
    assert "- Porting week (added by Marco Rossi)" in part
    # the web page shows them too
    from tests.web.conftest import WebClient

    page = WebClient(example_client).sign_in("lotte").get(f"/occurrences/{occurrence_id}").get_data(as_text=True)
    assert "Roaming costs *after* Brexit" in page and "Porting week" in page


def test_a_bad_agenda_item_is_refused_and_saves_nothing(example_client, bearer, example_db):
    last, nxt = _times(example_db)
    marco, priya = bearer("marco"), bearer("priya")
    before = _state(example_db)
    empty = example_client.post(f"/api/v1/rituals/{RITUAL}/agenda-items", headers=marco,
                                json={"text": "  "})
    assert "say what to discuss" in assert_error(empty, 422)["message"]
    over = example_client.post(f"/api/v1/rituals/{RITUAL}/agenda-items", headers=marco,
                               json={"at": services.iso(last), "text": "too late"})
    assert "is over" in assert_error(over, 409, "conflict")["message"]
    assert_error(example_client.post(f"/api/v1/rituals/{RITUAL}/agenda-items", headers=priya,
                                     json={"text": "mine"}), 403)
    assert _state(example_db) == before


def test_minutes_versions_list_every_text_oldest_first(example_client, bearer, example_db):
    last, _ = _times(example_db)
    marco = bearer("marco")
    with example_db.session_scope() as s:
        occurrence_id = services.hold_ritual(s, actor(s, "marco"), services.At(RITUAL, last),
                                             notes="First text.").id
    edited = example_client.post(f"/api/v1/occurrences/{occurrence_id}/hold", headers=marco,
                                 json={"notes": "Corrected text."})
    assert edited.status_code == 200
    versions = example_client.get(f"/api/v1/occurrences/{occurrence_id}/minutes-versions",
                                  headers=bearer("priya"))
    assert versions.status_code == 200
    assert [(v["version"], v["notes"], v["recorded_by"]) for v in versions.get_json()] == [
        (1, "First text.", "marco"), (2, "Corrected text.", "marco")]
    assert all(v["recorded_at"].endswith("Z") for v in versions.get_json())
    assert_error(example_client.get("/api/v1/occurrences/999999/minutes-versions", headers=marco), 404)
